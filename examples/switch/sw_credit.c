/* sw_credit.c — see sw_credit.h and PROTOCOL.md §4. */
#include "sw_credit.h"

#include <string.h>

void swc_init(sw_credit *c, uint32_t my_n, uint32_t peer_n)
{
    uint32_t owed = c->owed, urgent = c->owed_urgent; /* re-posts before init stay owed */
    memset(c, 0, sizeof *c);
    c->credits = (int32_t)peer_n - 1;
    c->peer_est = (int32_t)my_n - 1;
    c->threshold = my_n / 4 ? my_n / 4 : 1;
    c->min_credits = c->credits;
    c->owed = owed;
    c->owed_urgent = urgent;
    c->ready = 1;
}

int swc_can_send(const sw_credit *c, int kind)
{
    if (!c->ready)
        return 0;
    if (kind == SWC_UPDATE)
        return c->credits >= 1 && c->owed > 0;
    return c->credits >= 2;
}

uint32_t swc_on_send(sw_credit *c, int kind)
{
    (void)kind;
    uint32_t grant = c->owed;
    c->credits--;
    if (c->credits < c->min_credits)
        c->min_credits = c->credits;
    c->peer_est += (int32_t)grant;
    c->owed = 0;
    c->owed_urgent = 0;
    return grant;
}

int swc_on_receive(sw_credit *c, uint32_t granted)
{
    int rc = 0;
    if (c->peer_est <= 0) {
        c->violations++;
        rc = -1;
    }
    c->peer_est--;
    c->credits += (int32_t)granted;
    return rc;
}

void swc_on_repost(sw_credit *c, int urgent)
{
    c->owed++;
    if (urgent)
        c->owed_urgent++;
}

int swc_want_update(const sw_credit *c)
{
    if (!c->ready || c->owed == 0 || c->credits < 1)
        return 0;
    if (c->owed >= c->threshold)
        return 1;
    return c->owed_urgent > 0 && c->peer_est <= 1;
}
