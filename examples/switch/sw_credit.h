/*
 * sw_credit.h — credit accounting of the session protocol (PROTOCOL.md §4), kept free of I/O so
 * it can be unit-tested. One sw_credit per connection, owned by the connection's lock.
 */
#ifndef SW_CREDIT_H
#define SW_CREDIT_H

#include <stdint.h>

enum { SWC_MSG = 0, SWC_UPDATE = 1 };

typedef struct sw_credit {
    int32_t credits;      /* messages we may still send = peer receives known to be free */
    uint32_t owed;        /* our receives re-posted but not yet reported to the peer */
    uint32_t owed_urgent; /* ... of which held something other than a pure credit update */
    int32_t peer_est;     /* upper bound of the peer's credits toward us */
    uint32_t threshold;   /* send an explicit update once this many are owed */
    int32_t min_credits;  /* lowest value of credits after a send */
    uint64_t violations;  /* messages that arrived while the peer could have had no credit */
    int ready;            /* swc_init done (peer's HELLO seen) */
} sw_credit;

/* my_n: receives we posted; peer_n: receives the peer posted (from its HELLO). Each side's HELLO
 * already used one of the other's receives, so both start at n - 1. */
void swc_init(sw_credit *c, uint32_t my_n, uint32_t peer_n);
/* A message of this kind may be sent now. SWC_MSG needs 2 credits (the last one is reserved for
 * credit updates); SWC_UPDATE needs 1 credit and something owed. */
int swc_can_send(const sw_credit *c, int kind);
/* Account for sending one message; returns the credit count to put in its header. */
uint32_t swc_on_send(sw_credit *c, int kind);
/* A message (other than HELLO) arrived carrying `granted` credits. Returns 0, or -1 if the peer
 * had no credit for it (protocol violation, also counted). */
int swc_on_receive(sw_credit *c, uint32_t granted);
/* We re-posted one receive; urgent = it did not hold a pure credit update. */
void swc_on_repost(sw_credit *c, int urgent);
/* An explicit credit update should be sent now. */
int swc_want_update(const sw_credit *c);

#endif
