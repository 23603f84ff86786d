/*
 * test_sw_credit — the session protocol's credit accounting.
 *
 * 1. Unit tests of sw_credit.c (reserve of the last credit, piggy-backed and explicit returns,
 *    violation detection).
 * 2. A randomized two-endpoint model: both sides stream data, applications consume at random
 *    speeds; every message must find a posted receive (no overrun) and all data must arrive
 *    (no credit deadlock).
 * 3. Two processes through the provider with N = 8 small receives: the sender blocks after
 *    N - 2 messages while the receiver sleeps, then streams many small writes to a receiver that
 *    reads 1 byte at a time; no WSAEMSGSIZE, no lost or reordered message, no credit violation.
 */
#include "test_pair.h"
#include "sw_credit.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SW_DEFAULT_PROVIDER
#define SW_DEFAULT_PROVIDER "libsanwsp.so"
#endif

/* ---- 1. unit tests ----------------------------------------------------------------------------- */
static void unit(void)
{
    sw_credit c;
    memset(&c, 0, sizeof c);
    CHECK(!swc_can_send(&c, SWC_MSG)); /* nothing before the peer's HELLO */
    swc_on_repost(&c, 0);              /* the peer's HELLO re-posted */
    swc_init(&c, 8, 8);
    CHECK_EQ(c.credits, 7);
    CHECK_EQ(c.owed, 1); /* kept across init */
    CHECK_EQ(c.threshold, 2);
    for (int i = 0; i < 6; i++) {
        CHECK(swc_can_send(&c, SWC_MSG));
        uint32_t g = swc_on_send(&c, SWC_MSG);
        CHECK_EQ(g, i == 0 ? 1 : 0); /* the owed credit rides on the first message */
    }
    CHECK_EQ(c.credits, 1);
    CHECK(!swc_can_send(&c, SWC_MSG));    /* the last credit is reserved */
    CHECK(!swc_can_send(&c, SWC_UPDATE)); /* ... for updates, and only with something owed */
    swc_on_repost(&c, 1);
    CHECK(swc_can_send(&c, SWC_UPDATE));
    CHECK(!swc_want_update(&c)); /* 1 owed < threshold, peer has plenty */
    c.peer_est = 1;
    CHECK(swc_want_update(&c)); /* urgent: the peer may be blocked */
    CHECK_EQ(swc_on_send(&c, SWC_UPDATE), 1);
    CHECK_EQ(c.credits, 0);
    CHECK(!swc_can_send(&c, SWC_UPDATE));
    CHECK_EQ(c.min_credits, 0);
    CHECK_EQ(swc_on_receive(&c, 3), 0); /* peer_est was 2 after the grant */
    CHECK_EQ(c.credits, 3);
    CHECK_EQ(swc_on_receive(&c, 0), 0);
    CHECK_EQ(swc_on_receive(&c, 0), -1); /* the peer had no credit left */
    CHECK_EQ(c.violations, 1);
    /* pure updates alone never trigger an update while the peer has credits */
    sw_credit d;
    memset(&d, 0, sizeof d);
    swc_init(&d, 32, 32);
    swc_on_repost(&d, 0);
    CHECK(!swc_want_update(&d));
    for (int i = 0; i < 7; i++)
        swc_on_repost(&d, 0);
    CHECK(swc_want_update(&d)); /* threshold 8 */
}

/* ---- 2. randomized model ---------------------------------------------------------------------- */
typedef struct mmsg { int update; uint32_t credits; } mmsg;
typedef struct side {
    sw_credit cr;
    uint32_t n, posted;
    mmsg q[4096]; int qh, qn;  /* messages in flight toward this side */
    int unconsumed;            /* data messages delivered, not yet read by the app */
    long to_send, received;
    int read_speed;            /* 0..100: chance the app reads on a step */
} side;

static unsigned rnd_state = 12345;
static unsigned rnd(void) { rnd_state = rnd_state * 1103515245u + 12345u; return rnd_state >> 8; }

static int model_run(uint32_t na, uint32_t nb, long amount, int speed_a, int speed_b)
{
    static side s[2];
    memset(s, 0, sizeof s);
    s[0].n = s[0].posted = na;
    s[1].n = s[1].posted = nb;
    s[0].to_send = s[1].to_send = amount;
    s[0].read_speed = speed_a;
    s[1].read_speed = speed_b;
    /* HELLOs: each uses one of the other's receives, which is re-posted when processed */
    for (int i = 0; i < 2; i++) {
        side *me = &s[i];
        me->posted--; /* consumed by the peer's HELLO ... */
        me->posted++; /* ... and re-posted */
        swc_on_repost(&me->cr, 0);
        swc_init(&me->cr, me->n, s[1 - i].n);
    }
    long steps = 0, idle = 0;
    while (s[0].received < amount || s[1].received < amount) {
        if (++steps > 50000000)
            return -2;
        int i = rnd() & 1;
        side *me = &s[i], *peer = &s[1 - i];
        int acted = 0;
        switch (rnd() % 4) {
        case 0: /* deliver a message to me */
            if (me->qn) {
                mmsg m = me->q[me->qh];
                me->qh = (me->qh + 1) % 4096;
                me->qn--;
                if (me->posted == 0)
                    return -1; /* overrun */
                me->posted--;
                swc_on_receive(&me->cr, m.credits);
                if (m.update) {
                    me->posted++;
                    swc_on_repost(&me->cr, 0);
                } else {
                    me->unconsumed++;
                }
                acted = 1;
            }
            break;
        case 1: /* my app reads one message */
            if (me->unconsumed && (int)(rnd() % 100) < me->read_speed) {
                me->unconsumed--;
                me->received++;
                me->posted++;
                swc_on_repost(&me->cr, 1);
                acted = 1;
            }
            break;
        case 2: /* my app sends */
            if (me->to_send && swc_can_send(&me->cr, SWC_MSG)) {
                uint32_t g = swc_on_send(&me->cr, SWC_MSG);
                peer->q[(peer->qh + peer->qn) % 4096] = (mmsg){ 0, g };
                peer->qn++;
                me->to_send--;
                acted = 1;
            }
            break;
        case 3: /* my switch's update rule */
            if (swc_want_update(&me->cr)) {
                uint32_t g = swc_on_send(&me->cr, SWC_UPDATE);
                peer->q[(peer->qh + peer->qn) % 4096] = (mmsg){ 1, g };
                peer->qn++;
                acted = 1;
            }
            break;
        }
        if (me->cr.credits < 0 || peer->cr.credits < 0)
            return -1;
        idle = acted ? 0 : idle + 1;
        if (idle > 10000)
            return -3; /* nothing can happen: deadlock */
    }
    if (s[0].cr.violations || s[1].cr.violations)
        return -4;
    return 0;
}

static void model(void)
{
    static const uint32_t ns[] = { 4, 5, 8, 32 };
    int bad = 0;
    for (int k = 0; k < 200; k++) {
        uint32_t na = ns[rnd() % 4], nb = ns[rnd() % 4];
        int sa = 1 + (int)(rnd() % 100), sb = 1 + (int)(rnd() % 100);
        int r = model_run(na, nb, 3000, sa, sb);
        if (r) {
            fprintf(stderr, "model: N=%u/%u speeds %d/%d -> %d\n", na, nb, sa, sb, r);
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
}

/* ---- 3. two processes --------------------------------------------------------------------------- */
#define FAST_SENDS 6 /* N - 2 with N = 8 */
#define SMALL_WRITES 8000

static size_t write_size(int i) { return 1 + (size_t)((i * 7919u) % 300); } /* up to 300 B > inline */

static long stream_total(void)
{
    long t = FAST_SENDS + 1;
    for (int i = 0; i < SMALL_WRITES; i++)
        t += (long)write_size(i);
    return t;
}

static int child(unsigned short port, int ready_fd, void *unused)
{
    (void)unused;
    int code;
    sw_socket *s = t_accept_one(port, ready_fd, &code);
    if (!s)
        return code;
    sleep(1); /* the sender must run out of credits meanwhile */
    long total = stream_total(), got = 0, bad = 0;
    unsigned char b;
    while (got < total) {
        ssize_t n = sw_recv(s, &b, 1); /* one byte at a time */
        if (n != 1) {
            fprintf(stderr, "child: sw_recv -> %zd (%s) after %ld bytes\n", n, strerror(errno), got);
            return 14;
        }
        if (b != t_byte((uint64_t)got, 7))
            bad++;
        got++;
    }
    sw_stats st;
    sw_get_stats(s, &st);
    int ok = bad == 0 && st.msgsize_errors == 0 && st.seq_errors == 0 &&
             st.credit_violations == 0 && st.recv_errors == 0 && !strcmp(sw_path(s), "provider");
    fprintf(stderr, "child: %ld bytes, %ld bad, msgs recv %llu, updates sent %llu, msgsize %llu, seq %llu, violations %llu\n",
            got, bad, (unsigned long long)st.msgs_recv, (unsigned long long)st.credit_updates_sent,
            (unsigned long long)st.msgsize_errors, (unsigned long long)st.seq_errors,
            (unsigned long long)st.credit_violations);
    unsigned char verdict = (unsigned char)ok;
    if (sw_send(s, &verdict, 1) != 1)
        return 15;
    if (sw_recv(s, &b, 1) != 0) /* the sender's close */
        return 16;
    sw_close(s);
    return ok ? 0 : 17;
}

static void two_process(void)
{
    setenv("SW_RECV_BUFFERS", "8", 1);
    setenv("SW_BUFFER_SIZE", "256", 1);
    setenv("SW_RDMA_THRESHOLD", "1000000", 1); /* everything inline */
    pid_t pid;
    sw_socket *s = t_fork_and_connect(child, NULL, &pid);
    if (!s)
        return;
    CHECK(!strcmp(sw_path(s), "provider"));
    sw_stats st;
    sw_get_stats(s, &st);
    CHECK_EQ(st.peer_recv_buffers, 8);
    uint64_t off = 0;
    unsigned char buf[400];
    double t0 = t_now(), t_fast = 0, t_block = 0;
    for (int i = 0; i <= FAST_SENDS; i++) {
        t_fill(buf, 1, off, 7);
        CHECK_EQ(sw_send(s, buf, 1), 1);
        off++;
        if (i == FAST_SENDS - 1)
            t_fast = t_now() - t0;
    }
    t_block = t_now() - t0;
    printf("first %d sends took %.3f s; send %d returned after %.3f s (receiver sleeps 1 s)\n",
           FAST_SENDS, t_fast, FAST_SENDS + 1, t_block);
    CHECK(t_fast < 0.5);
    CHECK(t_block > 0.7); /* blocked for lack of credits until the receiver read */
    sw_get_stats(s, &st);
    CHECK(st.credit_waits >= 1);
    for (int i = 0; i < SMALL_WRITES; i++) {
        size_t n = write_size(i);
        t_fill(buf, n, off, 7);
        if (sw_send(s, buf, n) != (ssize_t)n) {
            CHECK(0);
            break;
        }
        off += n;
    }
    CHECK_EQ((long)off, stream_total());
    unsigned char verdict = 0;
    CHECK_EQ(sw_recv(s, &verdict, 1), 1);
    CHECK_EQ(verdict, 1);
    sw_get_stats(s, &st);
    printf("sender: %llu data msgs, %llu credit waits, lowest credits after a send %lld, "
           "%llu updates received, msgsize errors %llu, seq errors %llu, violations %llu\n",
           (unsigned long long)st.data_msgs_sent, (unsigned long long)st.credit_waits,
           (long long)st.min_send_credits, (unsigned long long)st.credit_updates_recv,
           (unsigned long long)st.msgsize_errors, (unsigned long long)st.seq_errors,
           (unsigned long long)st.credit_violations);
    CHECK(st.credit_waits > 1);
    CHECK(st.min_send_credits >= 0);
    CHECK(st.data_msgs_sent > SMALL_WRITES); /* writes > 232 B took two messages */
    CHECK_EQ(st.recv_errors, 0);
    t_close_pair(s, &st, pid);
}

int main(void)
{
    if (!getenv("SW_PROVIDER"))
        setenv("SW_PROVIDER", SW_DEFAULT_PROVIDER, 1);
    unit();
    model();
    two_process();
    sw_cleanup();
    return t_summary();
}
