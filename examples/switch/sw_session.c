/*
 * sw_session.c — the session protocol of PROTOCOL.md on top of a connected provider socket:
 * pre-posted receives, HELLO negotiation, credit-based flow control, inline data, RDMA read and
 * write paths for large blocks, graceful close.
 *
 * All state of a connection is guarded by c->mu, which is held across provider calls but never
 * while sleeping. Completions arrive through WPUCompleteOverlappedRequest (sw_provider.c), which
 * only marks the WSAOVERLAPPED done and bumps the global completion sequence; whichever thread
 * next runs progress() under c->mu reaps them, in posting order for receives.
 */
#include "sw_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* ---- wire format (PROTOCOL.md §2) ------------------------------------------------------------ */
#define HDR 24u
#define HELLO_MAGIC 0x50485753u /* "SWHP" little-endian */
#define PROTO_VERSION 1u
#define HELLO_F_RDMA_READ 1u
#define MAX_DESC 128u

enum {
    M_HELLO = 1, M_DATA = 2, M_CREDIT = 3, M_RD_AVAIL = 4, M_RD_DONE = 5,
    M_WR_RTS = 6, M_WR_CTS = 7, M_WR_DONE = 8, M_CLOSE = 9,
};

static const char *mname(int t)
{
    static const char *n[] = { "?", "HELLO", "DATA", "CREDIT", "RD_AVAIL", "RD_DONE", "WR_RTS",
                               "WR_CTS", "WR_DONE", "CLOSE" };
    return t >= 1 && t <= 9 ? n[t] : "?";
}

static void put16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const unsigned char *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

/* ---- connection state ------------------------------------------------------------------------ */
typedef struct xop {
    WSAOVERLAPPED ov;
    DWORD bytes, flags;
    int busy;
    WSABUF wb;   /* buffer arrays must stay valid until completion (spec §2.10) */
    WSABUF wbs[2]; /* zero-copy DATA: header in the send slot, payload in the caller's buffer */
    WSABUFEX bx;
    uint32_t zc;   /* zero-copy send of this sws_send call (its number), 0 otherwise */
} xop;

/* Registration cache for zero-copy sends: the caller's buffers, registered (MEM_READ) the second
 * time they are seen, least recently used out. Like the Windows switch's cache, minus its
 * free() hook: a buffer unmapped and mapped again keeps its old registration, which only the
 * provider's own kernel sends read (EFAULT at worst, never a fault in the process). */
#define ZC_SLOTS 8
struct zc_entry {
    uintptr_t base;
    size_t len;     /* 0: free */
    DWORD access;   /* MEM_READ: send sources; MEM_WRITE: RDMA-read targets */
    HANDLE h;       /* NULL: seen once, not registered yet */
    uint64_t used;
};

struct rx_large {
    int active, kind, abort;
    uint64_t total, done;
    uint32_t staged, staged_off, pending_len;
    int pending;     /* RDMA read in flight / CTS outstanding */
    int registered;  /* stage exposed with WSPRegisterRdmaMemory (write path) */
    int direct;      /* the read in flight goes straight into the sws_recv caller's buffer */
    xop op;
    unsigned char desc[MAX_DESC];
    DWORD desclen;
};

struct sw_conn {
    pthread_mutex_t mu;
    SOCKET ps, handle;
    int err;            /* sticky errno: the connection is unusable */
    int rx_dead;        /* receives stopped (error after or without CLOSE) */
    uint32_t n, b, chunk, max_inline;
    uint64_t thr, max_piece;
    uint32_t peer_n, peer_b, peer_chunk;
    int peer_read, use_read_path;

    unsigned char *rx, *tx, *stage;
    size_t rx_len, tx_len, stage_len;
    HANDLE rx_h, tx_h, stage_h;

    xop *rxop;           /* n receive slots */
    uint8_t *rxtype;
    uint32_t *rxlen, *rxoff;
    uint64_t *rxaux;
    uint32_t *postq, post_head, post_cnt;   /* posted, in posting order */
    uint32_t *readyq, ready_head, ready_cnt; /* stream items not yet consumed */

    xop *txop;           /* n send slots */
    uint32_t tx_busy;
    xop wop;             /* RDMA write (sender, write path) */

    struct zc_entry zc[ZC_SLOTS];
    uint64_t zc_clock;
    uint32_t zc_calls;
    unsigned char *dout; /* an sws_recv caller's empty buffer, while it waits (else NULL) */
    size_t dlen;         /* its length */
    unsigned char *dtarget; /* the buffer the last direct read went into: only its caller */
    size_t dgot;            /* takes dgot, the bytes placed there (one such read at a time) */

    sw_credit cr;
    uint32_t tx_seq, rx_seq;
    int hello_rcvd, close_sent, close_rcvd;

    struct rx_large rl;  /* large block being received (head of the ready queue) */
    struct {             /* large block being sent */
        int cts, rdone;
        uint64_t cts_len, rdone_bytes;
        unsigned char desc[MAX_DESC];
        DWORD desclen;
    } tl;
    sw_stats st;
};

static void set_err(sw_conn *c, int e)
{
    if (!c->err) {
        c->err = e ? e : EIO;
        SW_TRACE("conn %#lx: error %s", (unsigned long)c->handle, strerror(c->err));
    }
}

static int op_done(xop *o)
{
    return __atomic_load_n(&o->ov.Internal, __ATOMIC_ACQUIRE) != WSS_OPERATION_IN_PROGRESS;
}

/* 0 or the operation's Winsock error; *bytes set. */
static int op_result(sw_conn *c, xop *o, DWORD *bytes)
{
    DWORD cb = 0, fl = 0;
    int err = 0;
    BOOL ok = g_prov.t.lpWSPGetOverlappedResult(c->ps, &o->ov, &cb, FALSE, &fl, &err);
    if (bytes)
        *bytes = cb;
    if (ok)
        return 0;
    return err ? err : WSAEINVAL;
}

static void op_arm(xop *o)
{
    memset(&o->ov, 0, sizeof o->ov);
    o->ov.Internal = WSS_OPERATION_IN_PROGRESS;
    o->ov.hEvent = NULL; /* bit 0 clear: we want WPUCompleteOverlappedRequest */
    o->bytes = o->flags = 0;
}

/* ---- receives -------------------------------------------------------------------------------- */
static void post_recv(sw_conn *c, uint32_t slot)
{
    if (c->rx_dead)
        return;
    xop *o = &c->rxop[slot];
    op_arm(o);
    o->wb = (WSABUF){ c->b, (char *)c->rx + (size_t)slot * c->b };
    int err = 0;
    int rc = g_prov.t.lpWSPRecv(c->ps, &o->wb, 1, &o->bytes, &o->flags, &o->ov, NULL, NULL, &err);
    if (rc != 0 && err != WSA_IO_PENDING) {
        SW_TRACE("WSPRecv failed: %d", err);
        c->rx_dead = 1;
        set_err(c, sw_errno_of(err));
        return;
    }
    o->busy = 1;
    c->postq[(c->post_head + c->post_cnt) % c->n] = slot;
    c->post_cnt++;
}

static void repost(sw_conn *c, uint32_t slot, int urgent)
{
    post_recv(c, slot);
    if (!c->rx_dead)
        swc_on_repost(&c->cr, urgent);
}

/* ---- sends ----------------------------------------------------------------------------------- */
static int tx_free_slot(sw_conn *c)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (!c->txop[i].busy)
            return (int)i;
    return -1;
}

static int can_send(sw_conn *c, int kind)
{
    return !c->err && swc_can_send(&c->cr, kind) && c->tx_busy < c->n;
}

/* Caller checked can_send (except HELLO). zc_call != 0: the payload is sent from where it is
 * (inside a registration of the zero-copy cache) and the caller waits for the completion
 * before its buffer goes back to the application. */
static int send_msg_ex(sw_conn *c, int type, uint64_t aux, const void *payload, uint32_t plen,
                       uint32_t zc_call)
{
    int slot = tx_free_slot(c);
    if (slot < 0) {
        set_err(c, EPROTO);
        return -1;
    }
    unsigned char *m = c->tx + (size_t)slot * c->b;
    uint32_t credits = type == M_HELLO ? 0 : swc_on_send(&c->cr, type == M_CREDIT ? SWC_UPDATE : SWC_MSG);
    memset(m, 0, HDR);
    m[0] = (unsigned char)type;
    put16(m + 2, (uint16_t)credits);
    put32(m + 4, plen);
    put32(m + 8, c->tx_seq++);
    put64(m + 16, aux);
    xop *o = &c->txop[slot];
    op_arm(o);
    int err = 0, rc;
    if (zc_call) {
        o->wbs[0] = (WSABUF){ HDR, (char *)m };
        o->wbs[1] = (WSABUF){ plen, (char *)payload };
        rc = g_prov.t.lpWSPSend(c->ps, o->wbs, 2, &o->bytes, 0, &o->ov, NULL, NULL, &err);
    } else {
        if (plen)
            memcpy(m + HDR, payload, plen);
        o->wb = (WSABUF){ HDR + plen, (char *)m };
        rc = g_prov.t.lpWSPSend(c->ps, &o->wb, 1, &o->bytes, 0, &o->ov, NULL, NULL, &err);
    }
    if (rc != 0 && err != WSA_IO_PENDING) {
        SW_TRACE("WSPSend failed: %d", err);
        set_err(c, sw_errno_of(err));
        return -1;
    }
    o->busy = 1;
    o->zc = zc_call;
    c->tx_busy++;
    c->st.msgs_sent++;
    if (zc_call)
        c->st.zcopy_sends++;
    if (type == M_DATA)
        c->st.data_msgs_sent++;
    if (type == M_CREDIT)
        c->st.credit_updates_sent++;
    if (type != M_HELLO && c->cr.credits < c->st.min_send_credits)
        c->st.min_send_credits = c->cr.credits;
    if (g_cfg.trace && type != M_DATA)
        SW_TRACE("conn %#lx: send %s aux=%llu len=%u credits=%u (left %d)", (unsigned long)c->handle,
                 mname(type), (unsigned long long)aux, plen, credits, c->cr.credits);
    return 0;
}

static int send_msg(sw_conn *c, int type, uint64_t aux, const void *payload, uint32_t plen)
{
    return send_msg_ex(c, type, aux, payload, plen, 0);
}

/* ---- zero-copy cache ------------------------------------------------------------------------- */
/* The registration covering [p, p + len), or NULL (copy instead): registered on a second sighting
 * of the range, so a buffer used once costs no registration. */
static HANDLE zc_lookup(sw_conn *c, const void *p, size_t len, DWORD access)
{
    const uintptr_t page = 4096;
    uintptr_t lo = (uintptr_t)p & ~(page - 1), hi = ((uintptr_t)p + len + page - 1) & ~(page - 1);
    if (hi - lo > 0xFFFFFFFFu)
        return NULL;
    struct zc_entry *victim = &c->zc[0];
    for (int i = 0; i < ZC_SLOTS; i++) {
        struct zc_entry *e = &c->zc[i];
        if (e->len && e->access == access && e->base <= lo && hi <= e->base + e->len) {
            e->used = ++c->zc_clock;
            if (!e->h) {
                int err = 0;
                e->h = g_prov.reg(c->ps, (void *)e->base, (DWORD)e->len, access, &err);
                if (!e->h) {
                    SW_TRACE("WSPRegisterMemory(application buffer) failed: %d", err);
                    e->len = 0;
                }
            }
            return e->h;
        }
        if (!e->len || (victim->len && e->used < victim->used))
            victim = e;
    }
    if (victim->h) {
        int err = 0;
        /* In use by another thread's send still in flight: keep it, copy this time. */
        if (g_prov.dereg(c->ps, victim->h, &err) != 0)
            return NULL;
    }
    *victim = (struct zc_entry){ lo, hi - lo, access, NULL, ++c->zc_clock };
    return NULL;
}

static void zc_release(sw_conn *c)
{
    for (int i = 0; i < ZC_SLOTS; i++) {
        int err = 0;
        if (c->zc[i].h && g_prov.dereg(c->ps, c->zc[i].h, &err) != 0)
            SW_TRACE("WSPDeregisterMemory(send buffer) failed: %d", err);
        c->zc[i] = (struct zc_entry){ 0 };
    }
}

static void progress(sw_conn *c);

/* With c->mu held: waits until the zero-copy sends of call `call` completed (the caller's buffer
 * is then the application's again), driving the connection with WSPGetOverlappedResult. */
static void zc_drain(sw_conn *c, uint32_t call)
{
    for (;;) {
        progress(c);
        xop *o = NULL;
        for (uint32_t i = 0; i < c->n && !o; i++)
            if (c->txop[i].busy && c->txop[i].zc == call)
                o = &c->txop[i];
        if (!o)
            return;
        pthread_mutex_unlock(&c->mu);
        DWORD cb = 0, fl = 0;
        int err = 0;
        if (!op_done(o))
            g_prov.t.lpWSPGetOverlappedResult(c->ps, &o->ov, &cb, TRUE, &fl, &err);
        pthread_mutex_lock(&c->mu);
    }
}

/* ---- incoming messages ----------------------------------------------------------------------- */
static void ready_push(sw_conn *c, uint32_t slot)
{
    c->readyq[(c->ready_head + c->ready_cnt) % c->n] = slot;
    c->ready_cnt++;
}

static void ready_pop_repost(sw_conn *c)
{
    uint32_t slot = c->readyq[c->ready_head];
    c->ready_head = (c->ready_head + 1) % c->n;
    c->ready_cnt--;
    repost(c, slot, 1);
}

static void handle_msg(sw_conn *c, uint32_t slot, DWORD bytes)
{
    const unsigned char *m = c->rx + (size_t)slot * c->b;
    if (bytes < HDR || get32(m + 4) != bytes - HDR) {
        set_err(c, EPROTO);
        c->rx_dead = 1;
        return;
    }
    int type = m[0];
    uint32_t credits = get16(m + 2), len = get32(m + 4), seq = get32(m + 8);
    uint64_t aux = get64(m + 16);
    if (seq != c->rx_seq)
        c->st.seq_errors++;
    c->rx_seq = seq + 1;
    c->st.msgs_recv++;
    if (g_cfg.trace && type != M_DATA)
        SW_TRACE("conn %#lx: recv %s aux=%llu len=%u credits=%u", (unsigned long)c->handle,
                 mname(type), (unsigned long long)aux, len, credits);
    if (type == M_HELLO) {
        const unsigned char *p = m + HDR;
        if (c->hello_rcvd || len < 28 || get32(p) != HELLO_MAGIC || get16(p + 4) != PROTO_VERSION) {
            set_err(c, EPROTO);
            return;
        }
        c->peer_n = get32(p + 8);
        c->peer_b = get32(p + 12);
        c->peer_chunk = get32(p + 16);
        c->peer_read = (get16(p + 6) & HELLO_F_RDMA_READ) != 0;
        if (c->peer_n < 4 || c->peer_b < 256) {
            set_err(c, EPROTO);
            return;
        }
        swc_init(&c->cr, c->n, c->peer_n);
        c->st.min_send_credits = c->cr.credits;
        c->hello_rcvd = 1;
        repost(c, slot, 0);
        return;
    }
    if (!c->hello_rcvd) {
        set_err(c, EPROTO);
        return;
    }
    swc_on_receive(&c->cr, credits);
    c->st.credit_violations = c->cr.violations;
    c->rxtype[slot] = (uint8_t)type;
    c->rxlen[slot] = len;
    c->rxoff[slot] = 0;
    c->rxaux[slot] = aux;
    switch (type) {
    case M_CREDIT:
        c->st.credit_updates_recv++;
        repost(c, slot, 0);
        break;
    case M_RD_DONE:
        c->tl.rdone = 1;
        c->tl.rdone_bytes = aux;
        repost(c, slot, 1);
        break;
    case M_WR_CTS:
        if (len > MAX_DESC) {
            set_err(c, EPROTO);
            return;
        }
        c->tl.cts = 1;
        c->tl.cts_len = aux;
        memcpy(c->tl.desc, m + HDR, len);
        c->tl.desclen = len;
        repost(c, slot, 1);
        break;
    case M_WR_DONE:
        if (!c->rl.active || c->rl.kind != M_WR_RTS || !c->rl.pending || aux != c->rl.pending_len) {
            set_err(c, EPROTO);
            return;
        }
        c->rl.pending = 0;
        c->rl.staged = (uint32_t)aux;
        c->rl.staged_off = c->rl.abort ? c->rl.staged : 0;
        c->rl.done += aux;
        repost(c, slot, 1);
        break;
    case M_DATA:
        c->st.data_msgs_recv++;
        ready_push(c, slot);
        break;
    case M_RD_AVAIL:
    case M_WR_RTS:
        if (len > MAX_DESC) {
            set_err(c, EPROTO);
            return;
        }
        ready_push(c, slot);
        break;
    case M_CLOSE:
        c->close_rcvd = 1;
        ready_push(c, slot);
        break;
    default:
        set_err(c, EPROTO);
    }
}

/* ---- large block being received: drive it (PROTOCOL.md §5) ----------------------------------- */
static void large_advance(sw_conn *c)
{
    if (!c->ready_cnt)
        return;
    uint32_t slot = c->readyq[c->ready_head];
    int type = c->rxtype[slot];
    if (type != M_RD_AVAIL && type != M_WR_RTS)
        return;
    struct rx_large *rl = &c->rl;
    int err = 0;
    if (!rl->active) {
        memset(rl, 0, offsetof(struct rx_large, op));
        rl->active = 1;
        rl->kind = type;
        rl->total = c->rxaux[slot];
        rl->abort = c->close_sent; /* closing: discard */
        if (type == M_RD_AVAIL) {
            memcpy(rl->desc, c->rx + (size_t)slot * c->b + HDR, c->rxlen[slot]);
            rl->desclen = c->rxlen[slot];
        } else if (!rl->abort) {
            rl->desclen = sizeof rl->desc;
            if (g_prov.reg_rdma(c->ps, c->stage, (DWORD)c->stage_len, MEM_WRITE, rl->desc,
                                &rl->desclen, &err) != 0) {
                SW_TRACE("WSPRegisterRdmaMemory(stage, MEM_WRITE) failed: %d", err);
                set_err(c, ENOBUFS);
                return;
            }
            rl->registered = 1;
        }
    }
    if (rl->abort)
        rl->staged_off = rl->staged;
    /* RDMA read finished? */
    if (rl->kind == M_RD_AVAIL && rl->pending && op_done(&rl->op)) {
        DWORD got = 0;
        int e = op_result(c, &rl->op, &got);
        int direct = rl->direct;
        rl->op.busy = 0;
        rl->pending = 0;
        rl->direct = 0;
        if (e || got != rl->pending_len) {
            SW_TRACE("WSPRdmaRead completed with %d (%u of %u bytes)", e, got, rl->pending_len);
            set_err(c, e ? sw_errno_of(e) : EIO);
            return;
        }
        if (direct) { /* the bytes are in the waiting sws_recv caller's buffer */
            c->dgot += got;
            c->dout = NULL;
        } else {
            rl->staged = got;
            rl->staged_off = rl->abort ? got : 0;
        }
        rl->done += got;
        c->st.rdma_read_bytes += got;
    }
    if (rl->staged_off < rl->staged || rl->pending)
        return; /* the application is copying / an operation is in flight */
    if (rl->done < rl->total && !rl->abort) {
        uint64_t left = rl->total - rl->done;
        uint32_t len = (uint32_t)(left < c->stage_len ? left : c->stage_len);
        if (rl->kind == M_RD_AVAIL) {
            /* An sws_recv caller waits with an empty buffer that the cache has registered: read
             * straight into it (as much as it takes, up to the block), no staging copy. */
            char *to = (char *)c->stage;
            HANDLE h = c->stage_h;
            /* A block's first read waits for an sws_recv caller (instead of being read ahead
             * into the stage), so that it can go straight into that caller's buffer. */
            if (!c->dout && g_cfg.zcopy_min && rl->done == 0)
                return;
            if (c->dout && !c->dgot && g_cfg.zcopy_min) {
                size_t n = c->dlen < left ? c->dlen : (size_t)left;
                HANDLE dh = n >= g_cfg.zcopy_min && n <= 0xFFFFFFFFu
                                ? zc_lookup(c, c->dout, n, MEM_WRITE) : NULL;
                if (dh) {
                    c->dtarget = c->dout;
                    to = (char *)c->dout;
                    h = dh;
                    len = (uint32_t)n;
                    rl->direct = 1;
                    c->st.zcopy_reads++;
                }
            }
            op_arm(&rl->op);
            rl->op.bx = (WSABUFEX){ len, to, h };
            int rc = g_prov.rdma_read(c->ps, &rl->op.bx, 1, rl->desc, rl->desclen, (DWORD)rl->done,
                                      &rl->op.bytes, 0, &rl->op.ov, NULL, NULL, &err);
            if (rc != 0 && err != WSA_IO_PENDING) {
                SW_TRACE("WSPRdmaRead failed: %d", err);
                rl->direct = 0;
                set_err(c, sw_errno_of(err));
                return;
            }
            rl->op.busy = 1;
            rl->pending = 1;
            rl->pending_len = len;
            c->st.rdma_reads++;
        } else {
            if (!can_send(c, SWC_MSG))
                return;
            rl->pending = 1;
            rl->pending_len = len;
            send_msg(c, M_WR_CTS, len, rl->desc, rl->desclen);
        }
        return;
    }
    /* all bytes delivered (or aborted): tell the sender, release, consume the item */
    if (rl->kind == M_RD_AVAIL) {
        if (!can_send(c, SWC_MSG))
            return;
        send_msg(c, M_RD_DONE, rl->done, NULL, 0);
    } else {
        if (rl->done < rl->total) { /* aborted: refuse the rest */
            if (!can_send(c, SWC_MSG))
                return;
            send_msg(c, M_WR_CTS, 0, NULL, 0);
        }
        if (rl->registered &&
            g_prov.dereg_rdma(c->ps, rl->desc, rl->desclen, &err) != 0)
            SW_TRACE("WSPDeregisterRdmaMemory(stage) failed: %d", err);
        rl->registered = 0;
    }
    rl->active = 0;
    ready_pop_repost(c);
}

/* ---- progress -------------------------------------------------------------------------------- */
static void progress(sw_conn *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        xop *o = &c->txop[i];
        if (o->busy && op_done(o)) {
            int e = op_result(c, o, NULL);
            o->busy = 0;
            o->zc = 0;
            c->tx_busy--;
            if (e) {
                SW_TRACE("WSPSend completed with %d", e);
                set_err(c, sw_errno_of(e));
            }
        }
    }
    for (;;) {
        while (c->post_cnt > 0 && !c->rx_dead) {
            uint32_t slot = c->postq[c->post_head];
            xop *o = &c->rxop[slot];
            if (!op_done(o))
                break;
            c->post_head = (c->post_head + 1) % c->n;
            c->post_cnt--;
            o->busy = 0;
            DWORD bytes = 0;
            int e = op_result(c, o, &bytes);
            if (e) {
                if (e == WSAEMSGSIZE)
                    c->st.msgsize_errors++;
                else if (!c->close_rcvd)
                    c->st.recv_errors++;
                SW_TRACE("WSPRecv completed with %d", e);
                c->rx_dead = 1;
                if (!c->close_rcvd || e == WSAEMSGSIZE)
                    set_err(c, e == WSAEMSGSIZE ? EPROTO : sw_errno_of(e));
                break;
            }
            handle_msg(c, slot, bytes);
        }
        int before = c->ready_cnt + c->rl.active * 2 + c->rl.pending;
        large_advance(c);
        int after = c->ready_cnt + c->rl.active * 2 + c->rl.pending;
        if (before == after)
            break;
    }
    if (!c->err && swc_want_update(&c->cr) && c->tx_busy < c->n)
        send_msg(c, M_CREDIT, 0, NULL, 0);
}

/* With c->mu held: waits (lock released) until the oldest posted receive completes, i.e. the
 * next message arrived. Waiting on that operation itself, with WSPGetOverlappedResult, lets a
 * provider whose waiting threads drive the connection complete it (and make our completion
 * upcall) on this thread: no thread hand-off per message. Returns 0 when there is no such
 * receive to wait on (the caller waits for the next completion instead). */
static int wait_next_message(sw_conn *c)
{
    if (c->post_cnt == 0 || c->rx_dead)
        return 0;
    xop *o = &c->rxop[c->postq[c->post_head]];
    pthread_mutex_unlock(&c->mu);
    if (!op_done(o)) {
        DWORD cb = 0, fl = 0;
        int err = 0;
        g_prov.t.lpWSPGetOverlappedResult(c->ps, &o->ov, &cb, TRUE, &fl, &err);
    }
    pthread_mutex_lock(&c->mu);
    return 1;
}

typedef int (*pred_fn)(sw_conn *c, void *arg);
static int p_can_msg(sw_conn *c, void *a);
static int p_rdone(sw_conn *c, void *a);
static int p_cts(sw_conn *c, void *a);
static int p_peer_closed(sw_conn *c, void *a);

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* With c->mu held: run progress until p holds (0), the connection fails (-1, errno) or
 * timeout_ms pass (-1, ETIMEDOUT; < 0 = no limit). */
static int wait_for(sw_conn *c, pred_fn p, void *arg, long timeout_ms)
{
    long long end = timeout_ms < 0 ? 0 : now_ms() + timeout_ms;
    for (;;) {
        uint64_t seq = sw_seq();
        progress(c);
        if (p(c, arg))
            return 0;
        if (c->err) {
            errno = c->err;
            return -1;
        }
        long wait = 1000;
        if (timeout_ms >= 0) {
            long long left = end - now_ms();
            if (left <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            if (left < wait)
                wait = (long)left;
        }
        /* Conditions only an incoming message can make true (credits when a send slot is
         * free, RD_DONE, CTS, CLOSE): the next message lands in the oldest posted receive, so
         * wait on that operation (see sws_recv). */
        int by_message = p == p_rdone || p == p_cts || p == p_peer_closed ||
                         (p == p_can_msg && c->tx_busy < c->n && c->cr.ready && c->cr.credits < 2);
        if (by_message && timeout_ms < 0 && wait_next_message(c))
            continue;
        pthread_mutex_unlock(&c->mu);
        sw_seq_wait(seq, wait);
        pthread_mutex_lock(&c->mu);
    }
}

static int p_hello(sw_conn *c, void *a) { (void)a; return c->hello_rcvd; }
static int p_can_msg(sw_conn *c, void *a)
{
    (void)a;
    return can_send(c, SWC_MSG);
}
static int p_rdone(sw_conn *c, void *a) { (void)a; return c->tl.rdone; }
static int p_cts(sw_conn *c, void *a) { (void)a; return c->tl.cts; }
static int p_op(sw_conn *c, void *a) { (void)c; return op_done((xop *)a); }
static int p_tx_idle(sw_conn *c, void *a) { (void)a; return c->tx_busy == 0; }

/* Wait until a non-update message may be sent; counts credit waits. */
static int wait_send(sw_conn *c)
{
    if (can_send(c, SWC_MSG))
        return 0;
    progress(c);
    if (can_send(c, SWC_MSG))
        return 0;
    if (!swc_can_send(&c->cr, SWC_MSG))
        c->st.credit_waits++;
    return wait_for(c, p_can_msg, NULL, -1);
}

/* ---- start ----------------------------------------------------------------------------------- */
static uint32_t getopt_u32(SOCKET s, int opt, uint32_t def)
{
    uint32_t v = 0;
    int len = sizeof v, err = 0;
    if (g_prov.t.lpWSPGetSockOpt(s, WS_SOL_SOCKET, opt, (char *)&v, &len, &err) != 0) {
        SW_TRACE("WSPGetSockOpt(%#x) failed: %d", opt, err);
        return def;
    }
    return v;
}

static void *map_region(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void conn_free(sw_conn *c)
{
    if (c->rx)
        munmap(c->rx, c->rx_len);
    if (c->tx)
        munmap(c->tx, c->tx_len);
    if (c->stage)
        munmap(c->stage, c->stage_len);
    free(c->rxop);
    free(c->rxtype);
    free(c->rxlen);
    free(c->rxoff);
    free(c->rxaux);
    free(c->postq);
    free(c->readyq);
    free(c->txop);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Close the provider socket and free c once the provider's last upcall for it is done. */
static void conn_release(sw_conn *c)
{
    int err = 0;
    zc_release(c);
    if (c->tx_h && g_prov.dereg(c->ps, c->tx_h, &err) != 0)
        SW_TRACE("WSPDeregisterMemory(tx) failed: %d", err);
    if (c->stage_h && !c->rl.registered && !c->rl.pending &&
        g_prov.dereg(c->ps, c->stage_h, &err) != 0)
        SW_TRACE("WSPDeregisterMemory(stage) failed: %d", err);
    if (g_prov.t.lpWSPCloseSocket(c->ps, &err) != 0)
        SW_TRACE("WSPCloseSocket failed: %d", err);
    long long end = now_ms() + 5000;
    while (!sw_handle_closed(c->handle)) {
        if (now_ms() > end) {
            fprintf(stderr, "sw: provider never called WPUCloseSocketHandle(%#lx); leaking its buffers\n",
                    (unsigned long)c->handle);
            return;
        }
        uint64_t s = sw_seq();
        if (sw_handle_closed(c->handle))
            break;
        sw_seq_wait(s, 100);
    }
    conn_free(c);
}

sw_conn *sws_start(SOCKET ps, SOCKET handle)
{
    sw_conn *c = calloc(1, sizeof *c);
    if (!c) {
        int err;
        g_prov.t.lpWSPCloseSocket(ps, &err);
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->ps = ps;
    c->handle = handle;
    uint32_t max_msg = getopt_u32(ps, WS_SO_MAX_MSG_SIZE, 0xFFFFFFFFu);
    uint32_t max_rdma = getopt_u32(ps, WS_SO_MAX_RDMA_SIZE, 0xFFFFFFFFu);
    uint32_t pthr = getopt_u32(ps, WS_SO_RDMA_THRESHOLD_SIZE, 4096);
    c->n = g_cfg.n;
    c->b = g_cfg.b < max_msg ? g_cfg.b : max_msg;
    c->thr = g_cfg.threshold >= 0 ? (uint64_t)g_cfg.threshold : pthr;
    c->stage_len = g_cfg.chunk < max_rdma ? g_cfg.chunk : max_rdma;
    c->max_piece = max_rdma < (1u << 30) ? max_rdma : (1u << 30);
    c->rx_len = c->tx_len = (size_t)c->n * c->b;
    c->rx = map_region(c->rx_len);
    c->tx = map_region(c->tx_len);
    c->stage = map_region(c->stage_len);
    c->rxop = calloc(c->n, sizeof *c->rxop);
    c->rxtype = calloc(c->n, 1);
    c->rxlen = calloc(c->n, sizeof *c->rxlen);
    c->rxoff = calloc(c->n, sizeof *c->rxoff);
    c->rxaux = calloc(c->n, sizeof *c->rxaux);
    c->postq = calloc(c->n, sizeof *c->postq);
    c->readyq = calloc(c->n, sizeof *c->readyq);
    c->txop = calloc(c->n, sizeof *c->txop);
    int err = 0;
    if (!c->rx || !c->tx || !c->stage || !c->rxop || !c->rxtype || !c->rxlen || !c->rxoff ||
        !c->rxaux || !c->postq || !c->readyq || !c->txop) {
        errno = ENOMEM;
        goto fail;
    }
    c->rx_h = g_prov.reg(ps, c->rx, (DWORD)c->rx_len, MEM_WRITE, &err);
    if (!c->rx_h)
        goto fail_reg;
    c->tx_h = g_prov.reg(ps, c->tx, (DWORD)c->tx_len, MEM_READ, &err);
    if (!c->tx_h)
        goto fail_reg;
    c->stage_h = g_prov.reg(ps, c->stage, (DWORD)c->stage_len, MEM_WRITE, &err);
    if (!c->stage_h)
        goto fail_reg;

    pthread_mutex_lock(&c->mu);
    for (uint32_t i = 0; i < c->n; i++)
        post_recv(c, i);
    unsigned char hello[28];
    memset(hello, 0, sizeof hello);
    put32(hello, HELLO_MAGIC);
    put16(hello + 4, PROTO_VERSION);
    put16(hello + 6, g_prov.rdma_read && !g_cfg.force_write_path ? HELLO_F_RDMA_READ : 0);
    put32(hello + 8, c->n);
    put32(hello + 12, c->b);
    put32(hello + 16, (uint32_t)c->stage_len);
    put32(hello + 20, (uint32_t)(c->thr > 0xFFFFFFFFu ? 0xFFFFFFFFu : c->thr));
    put32(hello + 24, max_rdma);
    if (!c->err)
        send_msg(c, M_HELLO, 0, hello, sizeof hello);
    int rc = wait_for(c, p_hello, NULL, 15000);
    if (rc == 0) {
        c->max_inline = (c->b < c->peer_b ? c->b : c->peer_b) - HDR;
        c->use_read_path = c->peer_read && !g_cfg.force_write_path;
        SW_TRACE("conn %#lx: session up: N=%u B=%u peer N=%u B=%u thr=%llu read_path=%d",
                 (unsigned long)handle, c->n, c->b, c->peer_n, c->peer_b,
                 (unsigned long long)c->thr, c->use_read_path);
    }
    pthread_mutex_unlock(&c->mu);
    if (rc != 0) {
        int e = errno;
        SW_TRACE("session negotiation failed: %s", strerror(e));
        conn_release(c);
        errno = e;
        return NULL;
    }
    return c;

fail_reg:
    SW_TRACE("WSPRegisterMemory failed: %d", err);
    errno = ENOBUFS;
fail:;
    int e = errno;
    c->tx_h = NULL;
    c->stage_h = NULL;
    conn_release(c);
    errno = e;
    return NULL;
}

/* ---- send ------------------------------------------------------------------------------------ */
static int send_large(sw_conn *c, const unsigned char *p, uint64_t piece)
{
    int err = 0;
    if (c->use_read_path) {
        unsigned char desc[MAX_DESC];
        DWORD dl = sizeof desc;
        if (g_prov.reg_rdma(c->ps, (void *)p, (DWORD)piece, MEM_READ, desc, &dl, &err) != 0) {
            SW_TRACE("WSPRegisterRdmaMemory(MEM_READ) failed: %d", err);
            errno = ENOBUFS;
            return -1;
        }
        int rc = wait_send(c);
        if (rc == 0) {
            c->tl.rdone = 0;
            rc = send_msg(c, M_RD_AVAIL, piece, desc, dl);
        }
        if (rc == 0)
            rc = wait_for(c, p_rdone, NULL, -1);
        int e = errno;
        if (g_prov.dereg_rdma(c->ps, desc, dl, &err) != 0)
            SW_TRACE("WSPDeregisterRdmaMemory failed: %d", err);
        if (rc != 0) {
            errno = e;
            return -1;
        }
        c->tl.rdone = 0;
        if (c->tl.rdone_bytes != piece) {
            errno = EPIPE;
            return -1;
        }
        c->st.large_sent_read_path++;
        return 0;
    }
    HANDLE h = g_prov.reg(c->ps, (void *)p, (DWORD)piece, MEM_READ, &err);
    if (!h) {
        SW_TRACE("WSPRegisterMemory(source) failed: %d", err);
        errno = ENOBUFS;
        return -1;
    }
    int rc = wait_send(c);
    if (rc == 0) {
        c->tl.cts = 0;
        rc = send_msg(c, M_WR_RTS, piece, NULL, 0);
    }
    uint64_t off = 0;
    while (rc == 0 && off < piece) {
        rc = wait_for(c, p_cts, NULL, -1);
        if (rc)
            break;
        c->tl.cts = 0;
        uint64_t len = c->tl.cts_len;
        if (len == 0 || len > piece - off) {
            errno = EPIPE;
            rc = -1;
            break;
        }
        op_arm(&c->wop);
        c->wop.bx = (WSABUFEX){ (ULONG)len, (char *)p + off, h };
        int r = g_prov.rdma_write(c->ps, &c->wop.bx, 1, c->tl.desc, c->tl.desclen, 0, &c->wop.bytes, 0,
                                  &c->wop.ov, NULL, NULL, &err);
        if (r != 0 && err != WSA_IO_PENDING) {
            SW_TRACE("WSPRdmaWrite failed: %d", err);
            set_err(c, sw_errno_of(err));
            errno = c->err;
            rc = -1;
            break;
        }
        c->wop.busy = 1;
        c->st.rdma_writes++;
        rc = wait_for(c, p_op, &c->wop, -1);
        if (rc)
            break; /* the op is still pending: the handle stays registered (leak, conn dead) */
        c->wop.busy = 0;
        DWORD got = 0;
        int e = op_result(c, &c->wop, &got);
        if (e || got != len) {
            SW_TRACE("WSPRdmaWrite completed with %d (%u of %llu)", e, got, (unsigned long long)len);
            set_err(c, e ? sw_errno_of(e) : EIO);
            errno = c->err;
            rc = -1;
            break;
        }
        c->st.rdma_write_bytes += got;
        rc = wait_send(c);
        if (rc == 0)
            rc = send_msg(c, M_WR_DONE, len, NULL, 0);
        off += len;
    }
    int e = errno;
    if (!c->wop.busy && g_prov.dereg(c->ps, h, &err) != 0)
        SW_TRACE("WSPDeregisterMemory(source) failed: %d", err);
    if (rc)
        errno = e;
    else
        c->st.large_sent_write_path++;
    return rc;
}

ssize_t sws_send(sw_conn *c, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t off = 0;
    pthread_mutex_lock(&c->mu);
    progress(c);
    /* Inline pieces at least zcopy_min long go from the caller's buffer when it is cached. */
    uint32_t call = 0;
    HANDLE zh = NULL;
    if (g_cfg.zcopy_min && len >= g_cfg.zcopy_min && len <= c->thr) {
        zh = zc_lookup(c, buf, len, MEM_READ);
        if (zh && !(call = ++c->zc_calls))
            call = ++c->zc_calls; /* 0 means "not zero-copy" */
    }
    while (off < len) {
        if (c->err) {
            errno = c->err;
            goto fail;
        }
        if (c->close_rcvd || c->close_sent) {
            errno = EPIPE;
            goto fail;
        }
        size_t rem = len - off;
        if (rem > c->thr) {
            uint64_t piece = rem < c->max_piece ? rem : c->max_piece;
            if (send_large(c, p + off, piece) != 0)
                goto fail;
            off += piece;
            continue;
        }
        if (wait_send(c) != 0)
            goto fail;
        uint32_t piece = rem < c->max_inline ? (uint32_t)rem : c->max_inline;
        uint32_t zc = zh && piece >= g_cfg.zcopy_min ? call : 0;
        if (send_msg_ex(c, M_DATA, 0, p + off, piece, zc) != 0) {
            errno = c->err;
            goto fail;
        }
        off += piece;
    }
    if (call)
        zc_drain(c, call);
    pthread_mutex_unlock(&c->mu);
    sw_kick();
    return (ssize_t)len;
fail:;
    int e = errno;
    if (call)
        zc_drain(c, call); /* the buffer is the application's again only after this */
    pthread_mutex_unlock(&c->mu);
    sw_kick();
    errno = e;
    return -1;
}

/* ---- receive --------------------------------------------------------------------------------- */
/* Bytes a finished direct read placed in this caller's buffer (another sws_recv thread may have
 * reaped the completion) become its own. */
static void take_direct(sw_conn *c, unsigned char *out, size_t *got)
{
    if (c->dgot && c->dtarget == out) {
        *got += c->dgot;
        c->dgot = 0;
        c->dtarget = NULL;
    }
}

ssize_t sws_recv(sw_conn *c, void *buf, size_t len)
{
    unsigned char *out = buf;
    size_t got = 0;
    if (len == 0)
        return 0;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        uint64_t seq = sw_seq();
        /* While our buffer is empty, an RDMA-read block may be read straight into it. */
        if (!c->rl.direct) {
            c->dout = got ? NULL : out;
            c->dlen = len;
        }
        progress(c);
        take_direct(c, out, &got);
        if (c->rl.direct) { /* such a read is in flight: our buffer is its target, wait for it */
            xop *o = &c->rl.op;
            pthread_mutex_unlock(&c->mu);
            if (!op_done(o)) {
                DWORD cb = 0, fl = 0;
                int err = 0;
                g_prov.t.lpWSPGetOverlappedResult(c->ps, &o->ov, &cb, TRUE, &fl, &err);
            }
            pthread_mutex_lock(&c->mu);
            continue;
        }
        while (c->ready_cnt && got < len) {
            if (got)
                c->dout = NULL; /* direct reads only into an empty buffer */
            uint32_t slot = c->readyq[c->ready_head];
            int type = c->rxtype[slot];
            if (type == M_DATA) {
                uint32_t avail = c->rxlen[slot] - c->rxoff[slot];
                size_t n = len - got < avail ? len - got : avail;
                memcpy(out + got, c->rx + (size_t)slot * c->b + HDR + c->rxoff[slot], n);
                c->rxoff[slot] += (uint32_t)n;
                got += n;
                if (c->rxoff[slot] == c->rxlen[slot])
                    ready_pop_repost(c);
                continue;
            }
            if (type == M_RD_AVAIL || type == M_WR_RTS) {
                if (c->rl.active && c->rl.staged_off < c->rl.staged) {
                    uint32_t avail = c->rl.staged - c->rl.staged_off;
                    size_t n = len - got < avail ? len - got : avail;
                    memcpy(out + got, c->stage + c->rl.staged_off, n);
                    c->rl.staged_off += (uint32_t)n;
                    got += n;
                    c->dout = NULL;
                    large_advance(c); /* next chunk / RD_DONE as early as possible */
                    continue;
                }
                uint32_t before = c->ready_cnt;
                large_advance(c);
                take_direct(c, out, &got); /* a direct read it found finished */
                if (c->rl.direct)
                    break;      /* it started one into our buffer: wait for it */
                if (c->ready_cnt != before)
                    continue; /* item finished */
            }
            break; /* CLOSE, or a large block with nothing staged yet */
        }
        if (c->rl.direct)
            continue;
        if (got > 0)
            break;
        if (c->ready_cnt && c->rxtype[c->readyq[c->ready_head]] == M_CLOSE)
            break; /* 0: graceful end */
        if (c->err) {
            int e = c->err;
            c->dout = NULL;
            pthread_mutex_unlock(&c->mu);
            errno = e;
            return -1;
        }
        /* Nothing to read until a message arrives. */
        if (c->ready_cnt == 0 && wait_next_message(c))
            continue;
        pthread_mutex_unlock(&c->mu);
        sw_seq_wait(seq, 1000);
        pthread_mutex_lock(&c->mu);
    }
    c->dout = NULL; /* no direct read is in flight here: the buffer is the application's again */
    progress(c);    /* return credits promptly */
    pthread_mutex_unlock(&c->mu);
    sw_kick();
    return (ssize_t)got;
}

/* ---- close ----------------------------------------------------------------------------------- */
static int p_peer_closed(sw_conn *c, void *a)
{
    (void)a;
    /* discard what the application did not read; large blocks are aborted by large_advance */
    while (c->ready_cnt) {
        uint32_t slot = c->readyq[c->ready_head];
        int type = c->rxtype[slot];
        if (type == M_CLOSE)
            return 1;
        if (type == M_DATA) {
            ready_pop_repost(c);
            continue;
        }
        c->rl.abort = 1;
        uint32_t before = c->ready_cnt;
        large_advance(c);
        if (c->ready_cnt == before)
            return 0;
    }
    return c->rx_dead;
}

int sws_close(sw_conn *c)
{
    pthread_mutex_lock(&c->mu);
    long linger = g_cfg.linger_ms;
    int rc = 0;
    if (!c->err && !c->close_sent) {
        if (wait_for(c, p_can_msg, NULL, linger) == 0 && send_msg(c, M_CLOSE, 0, NULL, 0) == 0)
            c->close_sent = 1;
        else
            rc = -1;
    }
    if (!c->err && c->close_sent) {
        if (wait_for(c, p_peer_closed, NULL, linger) != 0)
            rc = -1;
        wait_for(c, p_tx_idle, NULL, linger);
    }
    SW_TRACE("conn %#lx: closing (sent %llu msgs, recv %llu msgs)", (unsigned long)c->handle,
             (unsigned long long)c->st.msgs_sent, (unsigned long long)c->st.msgs_recv);
    pthread_mutex_unlock(&c->mu);
    conn_release(c);
    return rc;
}

void sws_stats(sw_conn *c, sw_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    out->peer_recv_buffers = c->peer_n;
    out->peer_buffer_size = c->peer_b;
    out->peer_rdma_read = c->peer_read;
    out->read_path = c->use_read_path;
    out->credit_violations = c->cr.violations;
    pthread_mutex_unlock(&c->mu);
}
