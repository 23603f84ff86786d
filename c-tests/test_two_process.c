/*
 * test_two_process.c — a listener process and a connector process talking through the provider
 * (soft transport over kernel TCP), each with its own test switch.
 *
 *   test_two_process                              fork: child listens on 127.0.0.1, parent connects;
 *                                                 connect data edge cases, messages up to 1 MiB both
 *                                                 ways, 16 MiB RDMA write and read back
 *   test_two_process --listen IP PORT [PEER_IP]   one connection: connect data both ways, a message
 *   test_two_process --connect IP PORT [LOCAL_IP]  each way (used by test_netns.sh)
 *
 * Both processes print "N passed, N failed"; in the fork mode the parent's line comes last and
 * includes a CHECK of the child's exit status.
 */
#define _GNU_SOURCE
#include "mp_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024u * 1024u)
#define RDMA_LEN (16u * MIB)
#define MSG_MAX (1u * MIB)
#define CTL_LEN 4096u /* control messages: descriptor, "done", status, "bye" */

static const size_t sizes[] = { 1, 48, 4096, 65537, MSG_MAX };
#define NSIZES (sizeof sizes / sizeof sizes[0])

static const char *who = "?";
static pid_t child_pid;
/* --vanish MS (both modes of the netns test): instead of closing, wait for the script to cut the
 * link; a pending receive must then fail WSAETIMEDOUT within MS (SANWSP_DEAD_PEER_MS set low). */
static long vanish_ms;

#define NOTE(...)                                                                                  \
    do {                                                                                           \
        printf("[%s] ", who);                                                                      \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)

/* ---- the condition function ------------------------------------------------------------------ */
typedef struct cf_expect {
    /* what the callee answers */
    size_t callee_len;
    unsigned char callee_tag;
    /* what it saw */
    int calls;
    int caller_data_null;   /* lpCallerData was NULL */
    long caller_len;        /* lpCallerData->len, -1 if NULL */
    unsigned char caller[64];
    int callee_null;        /* lpCalleeData was NULL */
    long callee_room;       /* lpCalleeData->len on entry */
    int caller_family;
    char caller_ip[INET6_ADDRSTRLEN];
    unsigned short caller_port;
} cf_expect;

static int CALLBACK condition(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos,
                              LPWSABUF callee_id, LPWSABUF callee_data, GROUP *g, DWORD_PTR ctx)
{
    (void)sqos, (void)gqos, (void)callee_id, (void)g;
    cf_expect *x = (cf_expect *)ctx;
    x->calls++;
    x->caller_data_null = caller_data == NULL;
    x->caller_len = caller_data ? (long)caller_data->len : -1;
    if (caller_data && caller_data->buf && caller_data->len <= sizeof x->caller)
        memcpy(x->caller, caller_data->buf, caller_data->len);
    if (caller_id && caller_id->buf && caller_id->len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in sin;
        memcpy(&sin, caller_id->buf, sizeof sin);
        x->caller_family = sin.sin_family;
        x->caller_port = ntohs(sin.sin_port);
        inet_ntop(AF_INET, &sin.sin_addr, x->caller_ip, sizeof x->caller_ip);
    }
    x->callee_null = callee_data == NULL;
    x->callee_room = callee_data ? (long)callee_data->len : -1;
    if (callee_data) {
        size_t n = x->callee_len <= callee_data->len ? x->callee_len : callee_data->len;
        mp_connect_data((unsigned char *)callee_data->buf, n, x->callee_tag);
        callee_data->len = (ULONG)n;
    }
    return CF_ACCEPT;
}

static void check_caller(const cf_expect *x, long want_len, unsigned char tag, const char *peer_ip,
                         int line)
{
    const char *f = __FILE__;
    t_check_eq(x->calls, 1, "calls", "1", f, line);
    t_check_eq(x->caller_len < 0 ? 0 : x->caller_len, want_len, "caller data len", "want", f, line);
    if (want_len == 0) /* NULL or len 0: both mean none */
        t_check(x->caller_data_null || x->caller_len == 0, "no caller data", f, line);
    unsigned char want[64];
    mp_connect_data(want, (size_t)want_len, tag);
    if (x->caller_len == want_len)
        t_check(memcmp(x->caller, want, (size_t)want_len) == 0, "caller data bytes", f, line);
    t_check_eq(x->caller_family, AF_INET, "caller family", "AF_INET", f, line);
    t_check(x->caller_port != 0, "caller port != 0", f, line);
    if (peer_ip) {
        t_check(strcmp(x->caller_ip, peer_ip) == 0, "caller ip", f, line);
        if (strcmp(x->caller_ip, peer_ip) != 0)
            fprintf(stderr, "  caller ip %s, expected %s\n", x->caller_ip, peer_ip);
    }
    t_check(!x->callee_null, "lpCalleeData given", f, line);
    t_check(x->callee_room >= 48, "callee room >= 48", f, line);
}

/* ---- control messages (small, through one registered buffer per direction) ------------------ */
typedef struct conn {
    SOCKET s;
    unsigned char *tx, *rx; /* MSG_MAX each, registered MEM_READ / MEM_WRITE */
    HANDLE htx, hrx;
} conn;

static int conn_setup(conn *c, SOCKET s)
{
    int err = MP_NOERR;
    c->s = s;
    c->tx = mp_alloc(MSG_MAX);
    c->rx = mp_alloc(MSG_MAX);
    if (!c->tx || !c->rx)
        return WSAENOBUFS;
    c->htx = WSPRegisterMemory(s, c->tx, MSG_MAX, MEM_READ, &err);
    if (!c->htx)
        return err;
    err = MP_NOERR;
    c->hrx = WSPRegisterMemory(s, c->rx, MSG_MAX, MEM_WRITE, &err);
    return c->hrx ? 0 : err;
}

static void conn_teardown(conn *c)
{
    int err = MP_NOERR;
    if (c->htx)
        CHECK_EQ_INT(WSPDeregisterMemory(c->s, c->htx, &err), 0);
    err = MP_NOERR;
    if (c->hrx)
        CHECK_EQ_INT(WSPDeregisterMemory(c->s, c->hrx, &err), 0);
    mp_free(c->tx, MSG_MAX);
    mp_free(c->rx, MSG_MAX);
    c->tx = c->rx = NULL;
    c->htx = c->hrx = NULL;
}

/* Sends a text/binary control message; returns the send's final code. */
static int ctl_send(conn *c, const void *data, size_t len)
{
    memcpy(c->tx, data, len);
    DWORD bytes = 0;
    int rc = mp_send_wait(c->s, c->tx, len, &bytes);
    if (rc == 0 && bytes != len)
        return -2;
    return rc;
}

/* Receives one message into c->rx; returns its code, *len = bytes. */
static int ctl_recv(conn *c, size_t *len)
{
    DWORD bytes = 0;
    int rc = mp_recv_wait(c->s, c->rx, CTL_LEN, &bytes);
    *len = bytes;
    return rc;
}

/* ---- messages both ways ------------------------------------------------------------------------ */
static void messages_connector(conn *c)
{
    int verified = 0;
    for (size_t i = 0; i < NSIZES; i++) {
        mp_op r, w;
        DWORD got = 0, sent = 0;
        memset(c->rx, 0, sizes[i] < MSG_MAX ? sizes[i] + 1 : MSG_MAX);
        CHECK_EQ_INT(mp_recv(c->s, &r, c->rx, MSG_MAX), WSA_IO_PENDING);
        mp_fill(c->tx, sizes[i], 100 + (uint32_t)i);
        CHECK_EQ_INT(mp_send(c->s, &w, c->tx, sizes[i]), WSA_IO_PENDING);
        CHECK_EQ_INT(mp_wait(c->s, &w, &sent), 0);
        CHECK_EQ_INT(sent, sizes[i]);
        CHECK_EQ_INT(mp_wait(c->s, &r, &got), 0);
        CHECK_EQ_INT(got, sizes[i]);
        long bad = mp_verify(c->rx, sizes[i], 200 + (uint32_t)i);
        CHECK_EQ_INT(bad, -1);
        verified += got == sizes[i] && bad == -1;
    }
    NOTE("%zu messages each way (1 B .. 1 MiB): %d replies verified", NSIZES, verified);
}

static void messages_listener(conn *c)
{
    for (size_t i = 0; i < NSIZES; i++) {
        mp_op r, w;
        DWORD got = 0, sent = 0;
        memset(c->rx, 0, sizes[i] < MSG_MAX ? sizes[i] + 1 : MSG_MAX);
        CHECK_EQ_INT(mp_recv(c->s, &r, c->rx, MSG_MAX), WSA_IO_PENDING);
        CHECK_EQ_INT(mp_wait(c->s, &r, &got), 0);
        CHECK_EQ_INT(got, sizes[i]);
        CHECK_EQ_INT(mp_verify(c->rx, sizes[i], 100 + (uint32_t)i), -1);
        if (sizes[i] < MSG_MAX) /* nothing beyond the message was written */
            CHECK_EQ_INT(c->rx[sizes[i]], 0);
        mp_fill(c->tx, sizes[i], 200 + (uint32_t)i);
        CHECK_EQ_INT(mp_send(c->s, &w, c->tx, sizes[i]), WSA_IO_PENDING);
        CHECK_EQ_INT(mp_wait(c->s, &w, &sent), 0);
        CHECK_EQ_INT(sent, sizes[i]);
    }
}

/* ---- RDMA ------------------------------------------------------------------------------------------ */
static void rdma_listener(conn *c)
{
    unsigned char *region = mp_alloc(RDMA_LEN);
    CHECK(region != NULL);
    if (!region)
        return;
    unsigned char desc[64];
    DWORD desclen = sizeof desc;
    int err = MP_NOERR;
    CHECK_EQ_INT(WSPRegisterRdmaMemory(c->s, region, RDMA_LEN, MEM_READWRITE, desc, &desclen, &err),
                 0);
    CHECK_EQ_INT(desclen, 40);
    CHECK_EQ_INT(ctl_send(c, desc, desclen), 0);

    size_t len = 0;
    CHECK_EQ_INT(ctl_recv(c, &len), 0);
    CHECK(len == 4 && memcmp(c->rx, "done", 4) == 0);
    long bad = mp_verify(region, RDMA_LEN, 300);
    CHECK_EQ_INT(bad, -1);
    char status[64];
    snprintf(status, sizeof status, "verified %ld", bad);
    CHECK_EQ_INT(ctl_send(c, status, strlen(status)), 0);

    /* new contents for the parent to read back */
    mp_fill(region, RDMA_LEN, 400);
    CHECK_EQ_INT(ctl_send(c, "reread", 6), 0);

    CHECK_EQ_INT(ctl_recv(c, &len), 0);
    CHECK(len == 3 && memcmp(c->rx, "bye", 3) == 0);
    /* Deregister while the connection is up (after a peer close the provider has already
     * dropped the connection's regions and this fails WSAEINVAL). */
    err = MP_NOERR;
    CHECK_EQ_INT(WSPDeregisterRdmaMemory(c->s, desc, desclen, &err), 0);
    /* The connector now reads the revoked region: its read fails WSAEACCES and the
     * connection ends, so a receive pending here fails with a loss code. */
    mp_op r;
    CHECK_EQ_INT(mp_recv(c->s, &r, c->rx, CTL_LEN), WSA_IO_PENDING);
    CHECK_EQ_INT(ctl_send(c, "revoked", 7), 0);
    int final = mp_wait_ms(c->s, &r, NULL, 10000);
    CHECK_EQ_INT(final, WSAECONNABORTED);
    NOTE("after the peer's access violation a pending receive failed with %d", final);
    memset(region, 0x5A, 4096); /* still ours, untouched by the violation */
    mp_free(region, RDMA_LEN);
}

static void rdma_connector(conn *c)
{
    size_t len = 0;
    unsigned char desc[64];
    CHECK_EQ_INT(ctl_recv(c, &len), 0);
    CHECK_EQ_INT(len, 40);
    DWORD desclen = (DWORD)len;
    memcpy(desc, c->rx, len <= sizeof desc ? len : sizeof desc);

    unsigned char *src = mp_alloc(RDMA_LEN), *dst = mp_alloc(RDMA_LEN), *small = mp_alloc(4096);
    CHECK(src && dst && small);
    if (!src || !dst || !small)
        return;
    mp_fill(src, RDMA_LEN, 300);
    int err = MP_NOERR;
    HANDLE hsrc = WSPRegisterMemory(c->s, src, RDMA_LEN, MEM_READ, &err);
    CHECK(hsrc != NULL);
    err = MP_NOERR;
    HANDLE hdst = WSPRegisterMemory(c->s, dst, RDMA_LEN, MEM_WRITE, &err);
    CHECK(hdst != NULL);
    err = MP_NOERR;
    HANDLE hsmall = WSPRegisterMemory(c->s, small, 4096, MEM_WRITE, &err);
    CHECK(hsmall != NULL);

    /* write 16 MiB into the listener's region */
    mp_op op;
    DWORD bytes = 0;
    double t0 = mp_now_s();
    CHECK_EQ_INT(mp_rdma(1, c->s, &op, src, RDMA_LEN, hsrc, desc, desclen, 0), WSA_IO_PENDING);
    CHECK_EQ_INT(mp_wait(c->s, &op, &bytes), 0);
    double t1 = mp_now_s();
    CHECK_EQ_INT(bytes, RDMA_LEN);
    NOTE("RDMA write %u MiB: %.1f ms, %.0f MB/s", RDMA_LEN / MIB, (t1 - t0) * 1e3,
         RDMA_LEN / 1e6 / (t1 - t0));
    CHECK_EQ_INT(ctl_send(c, "done", 4), 0);
    CHECK_EQ_INT(ctl_recv(c, &len), 0);
    c->rx[len < CTL_LEN ? len : CTL_LEN - 1] = 0;
    CHECK(strcmp((char *)c->rx, "verified -1") == 0);
    if (strcmp((char *)c->rx, "verified -1") != 0)
        fprintf(stderr, "  listener says: %s\n", c->rx);
    CHECK_EQ_INT(ctl_recv(c, &len), 0);
    CHECK(len == 6 && memcmp(c->rx, "reread", 6) == 0);

    /* read the region (now pattern 400) back */
    t0 = mp_now_s();
    CHECK_EQ_INT(mp_rdma(0, c->s, &op, dst, RDMA_LEN, hdst, desc, desclen, 0), WSA_IO_PENDING);
    CHECK_EQ_INT(mp_wait(c->s, &op, &bytes), 0);
    t1 = mp_now_s();
    CHECK_EQ_INT(bytes, RDMA_LEN);
    CHECK_EQ_INT(mp_verify(dst, RDMA_LEN, 400), -1);
    NOTE("RDMA read %u MiB: %.1f ms, %.0f MB/s", RDMA_LEN / MIB, (t1 - t0) * 1e3,
         RDMA_LEN / 1e6 / (t1 - t0));

    /* a small read at an odd offset */
    memset(small, 0, 4096);
    CHECK_EQ_INT(mp_rdma(0, c->s, &op, small, 1000, hsmall, desc, desclen, 12345), WSA_IO_PENDING);
    CHECK_EQ_INT(mp_wait(c->s, &op, &bytes), 0);
    CHECK_EQ_INT(bytes, 1000);
    CHECK(memcmp(small, dst + 12345, 1000) == 0);
    CHECK_EQ_INT(small[1000], 0);

    CHECK_EQ_INT(ctl_send(c, "bye", 3), 0);
    CHECK_EQ_INT(ctl_recv(c, &len), 0);
    CHECK(len == 7 && memcmp(c->rx, "revoked", 7) == 0);

    /* the revoked region: WSAEACCES, then the connection is gone */
    mp_op r;
    CHECK_EQ_INT(mp_recv(c->s, &r, c->rx, CTL_LEN), WSA_IO_PENDING);
    memset(small, 0xC3, 4096);
    CHECK_EQ_INT(mp_rdma(0, c->s, &op, small, 100, hsmall, desc, desclen, 0), WSA_IO_PENDING);
    CHECK_EQ_INT(mp_wait(c->s, &op, &bytes), WSAEACCES);
    CHECK_EQ_INT(small[0], 0xC3); /* nothing placed */
    int final = mp_wait_ms(c->s, &r, NULL, 10000);
    /* The connection is gone: soft reports the listener's close (WSAECONNRESET); over verbs the
     * initiator's own queue pair broke on the access error (WSAECONNABORTED). */
    CHECK(mp_is_loss(final));
    NOTE("RDMA read of the revoked region: WSAEACCES; pending receive then failed with %d", final);
    err = MP_NOERR;
    CHECK_EQ_INT(WSPDeregisterMemory(c->s, hsrc, &err), 0);
    err = MP_NOERR;
    CHECK_EQ_INT(WSPDeregisterMemory(c->s, hdst, &err), 0);
    err = MP_NOERR;
    CHECK_EQ_INT(WSPDeregisterMemory(c->s, hsmall, &err), 0);
    mp_free(src, RDMA_LEN);
    mp_free(dst, RDMA_LEN);
    mp_free(small, 4096);
}

/* ---- listener ------------------------------------------------------------------------------------ */
/* Accepts one connection with expectations x; returns the socket or INVALID_SOCKET. */
static SOCKET accept_one(SOCKET l, WSAEVENT e, cf_expect *x, int line)
{
    int err = MP_NOERR;
    struct sockaddr_in peer;
    SOCKET a = mp_accept(l, e, condition, (DWORD_PTR)x, &peer, 15000, &err);
    t_check(a != INVALID_SOCKET, "accepted", __FILE__, line);
    if (a == INVALID_SOCKET)
        fprintf(stderr, "  WSPAccept error %d\n", err);
    else
        t_check_eq(ntohs(peer.sin_port), x->caller_port, "accept addr port", "cf port", __FILE__,
                   line);
    return a;
}

static void close_ok(SOCKET s, int line)
{
    int err = MP_NOERR;
    t_check_eq(WSPCloseSocket(s, &err), 0, "WSPCloseSocket", "0", __FILE__, line);
}

/* ready_fd >= 0: fork mode (pick a port, report it, run everything); else --listen mode. */
static int run_listener(const char *ip, unsigned short port, int ready_fd, const char *peer_ip)
{
    int full = ready_fd >= 0, err;
    CHECK_EQ_INT(mp_startup(), 0);
    SOCKET l = INVALID_SOCKET;
    unsigned short p = port;
    int rc = -1;
    for (int attempt = 0; attempt < 50; attempt++, p++) {
        l = mp_socket(&err);
        if (l == INVALID_SOCKET)
            break;
        rc = mp_bind(l, ip, p);
        if (rc == 0) {
            err = MP_NOERR;
            rc = WSPListen(l, 5, &err) == 0 ? 0 : err;
        }
        if (rc == 0 || !full || rc != WSAEADDRINUSE)
            break;
        close_ok(l, __LINE__);
        l = INVALID_SOCKET;
    }
    CHECK(l != INVALID_SOCKET);
    CHECK_EQ_INT(rc, 0);
    WSAEVENT e = WSACreateEvent();
    CHECK(e != NULL);
    err = MP_NOERR;
    CHECK_EQ_INT(WSPEventSelect(l, e, FD_ACCEPT, &err), 0);
    if (full) {
        unsigned short report = rc == 0 ? p : 0;
        if (write(ready_fd, &report, sizeof report) != sizeof report)
            CHECK(!"write ready pipe");
        close(ready_fd);
    } else {
        NOTE("listening on %s:%u", ip, p);
    }
    fflush(stdout);
    if (rc != 0)
        goto out;

    if (full) {
        /* A1: no caller data (lpCallerData NULL), callee answers none */
        cf_expect a1 = { 0 };
        SOCKET a = accept_one(l, e, &a1, __LINE__);
        check_caller(&a1, 0, 0, mp_ip(), __LINE__);
        CHECK(a1.caller_data_null || a1.caller_len == 0);
        if (a != INVALID_SOCKET)
            close_ok(a, __LINE__);

        /* A2: caller data {0, buf}, callee answers 5 bytes */
        cf_expect a2 = { .callee_len = 5, .callee_tag = 2 };
        a = accept_one(l, e, &a2, __LINE__);
        check_caller(&a2, 0, 0, mp_ip(), __LINE__);
        if (a != INVALID_SOCKET)
            close_ok(a, __LINE__);

        /* (the connector's 49-byte attempts must never arrive here) */

        /* A3: 10 bytes caller data; callee answers 48 into the caller's 8-byte buffer: the
         * caller fails WSAEFAULT and drops the connection, which we see as WSAECONNRESET. */
        cf_expect a3 = { .callee_len = 48, .callee_tag = 3 };
        a = accept_one(l, e, &a3, __LINE__);
        check_caller(&a3, 10, 13, mp_ip(), __LINE__);
        if (a != INVALID_SOCKET) {
            unsigned char *buf = mp_alloc(4096);
            err = MP_NOERR;
            HANDLE h = WSPRegisterMemory(a, buf, 4096, MEM_WRITE, &err);
            int final;
            if (!h) {
                final = err; /* already lost: the stored error */
            } else {
                mp_op r;
                final = mp_recv(a, &r, buf, 4096);
                if (final == WSA_IO_PENDING)
                    final = mp_wait_ms(a, &r, NULL, 5000);
            }
            CHECK_EQ_INT(final, WSAECONNRESET);
            close_ok(a, __LINE__);
            mp_free(buf, 4096);
        }
    }

    /* the main connection: 48 bytes each way */
    cf_expect m = { .callee_len = 48, .callee_tag = 21 };
    SOCKET a = accept_one(l, e, &m, __LINE__);
    check_caller(&m, 48, 20, full ? mp_ip() : peer_ip, __LINE__);
    if (a != INVALID_SOCKET) {
        NOTE("accepted %s:%u with %ld bytes of caller data", m.caller_ip, m.caller_port,
             m.caller_len);
        conn c = { 0 };
        CHECK_EQ_INT(conn_setup(&c, a), 0);
        if (c.htx && c.hrx) {
            messages_listener(&c);
            if (full) {
                rdma_listener(&c); /* ends with the connection lost */
            } else {
                /* the connector closes: a pending receive fails WSAECONNRESET (or, with
                 * --vanish, the link is cut: WSAETIMEDOUT) */
                mp_op r;
                long long t0 = mp_now_ms();
                int final = mp_recv(a, &r, c.rx, MSG_MAX);
                if (final == WSA_IO_PENDING)
                    final = mp_wait_ms(a, &r, NULL, vanish_ms ? vanish_ms + 20000 : 10000);
                if (vanish_ms) /* this side's interface went down: any loss code */
                    CHECK(mp_is_loss(final));
                else
                    CHECK_EQ_INT(final, WSAECONNRESET);
                if (vanish_ms)
                    NOTE("pending receive failed with %d after %lld ms", final, mp_now_ms() - t0);
            }
        }
        conn_teardown(&c);
        close_ok(a, __LINE__);
    }

    /* nothing else queued (in particular no 49-byte request) */
    err = MP_NOERR;
    CHECK_EQ_INT(WSPAccept(l, NULL, NULL, NULL, 0, &err), INVALID_SOCKET);
    CHECK_EQ_INT(err, WSAEWOULDBLOCK);
out:
    if (l != INVALID_SOCKET)
        close_ok(l, __LINE__);
    if (e)
        CHECK_EQ_INT(WSACloseEvent(e), TRUE);
    mp_finish();
    printf("[%s] ", who);
    return t_summary();
}

/* ---- connector ---------------------------------------------------------------------------------- */
static SOCKET bound_socket(const char *local_ip, int line)
{
    int err;
    SOCKET s = mp_socket(&err);
    t_check(s != INVALID_SOCKET, "WSPSocket", __FILE__, line);
    if (s != INVALID_SOCKET)
        t_check_eq(mp_bind(s, local_ip, 0), 0, "bind", "0", __FILE__, line);
    return s;
}

/* Blocking WSPConnect (no WSPEventSelect on s); returns 0 or the error. */
static int connect_blocking(SOCKET s, const char *ip, unsigned short port, WSABUF *caller,
                            WSABUF *callee)
{
    struct sockaddr_in a = ts_sin(ip, port);
    int err = MP_NOERR;
    int rc = WSPConnect(s, (struct sockaddr *)&a, sizeof a, caller, callee, NULL, NULL, &err);
    return rc == 0 ? 0 : err;
}

static void edge_cases(const char *ip, unsigned short port)
{
    unsigned char out[64], in[64];
    WSABUF caller, callee;
    int err;

    /* A1: no caller data, no callee buffer */
    SOCKET s = bound_socket(mp_ip(), __LINE__);
    CHECK_EQ_INT(connect_blocking(s, ip, port, NULL, NULL), 0);
    close_ok(s, __LINE__);

    /* A2: caller data of length 0; callee answers 5 bytes into a 48-byte buffer */
    s = bound_socket(mp_ip(), __LINE__);
    caller.len = 0;
    caller.buf = (char *)out;
    memset(in, 0xEE, sizeof in);
    callee.len = 48;
    callee.buf = (char *)in;
    CHECK_EQ_INT(connect_blocking(s, ip, port, &caller, &callee), 0);
    CHECK_EQ_INT(callee.len, 5);
    unsigned char want[64];
    mp_connect_data(want, 5, 2);
    CHECK(memcmp(in, want, 5) == 0);
    CHECK_EQ_INT(in[5], 0xEE);
    close_ok(s, __LINE__);

    /* 49 bytes of caller data: WSAEFAULT at once, blocking and nonblocking; nothing is sent */
    s = bound_socket(mp_ip(), __LINE__);
    mp_connect_data(out, 49, 9);
    caller.len = 49;
    caller.buf = (char *)out;
    callee.len = 48;
    callee.buf = (char *)in;
    long long t0 = mp_now_ms();
    CHECK_EQ_INT(connect_blocking(s, ip, port, &caller, &callee), WSAEFAULT);
    CHECK(mp_now_ms() - t0 < 500);
    CHECK_EQ_INT(callee.len, 48); /* untouched */
    close_ok(s, __LINE__);

    s = bound_socket(mp_ip(), __LINE__);
    WSAEVENT e = WSACreateEvent();
    err = MP_NOERR;
    CHECK_EQ_INT(WSPEventSelect(s, e, FD_CONNECT, &err), 0);
    t0 = mp_now_ms();
    CHECK_EQ_INT(connect_blocking(s, ip, port, &caller, &callee), WSAEFAULT);
    CHECK(mp_now_ms() - t0 < 500);
    WSANETWORKEVENTS ne;
    CHECK_EQ_INT(mp_wait_events(s, e, 200, &ne), WSA_WAIT_TIMEOUT); /* no FD_CONNECT */
    close_ok(s, __LINE__);
    CHECK_EQ_INT(WSACloseEvent(e), TRUE);

    /* A3: callee data (48) larger than the caller's buffer (8): WSAEFAULT */
    s = bound_socket(mp_ip(), __LINE__);
    mp_connect_data(out, 10, 13);
    caller.len = 10;
    caller.buf = (char *)out;
    callee.len = 8;
    callee.buf = (char *)in;
    CHECK_EQ_INT(connect_blocking(s, ip, port, &caller, &callee), WSAEFAULT);
    close_ok(s, __LINE__);
    NOTE("connect data edge cases done (0 bytes, len-0 buffer, 49 bytes, callee > buffer)");
}

static int run_connector(const char *ip, unsigned short port, const char *local_ip, int full)
{
    int err;
    CHECK_EQ_INT(mp_startup(), 0);
    if (full)
        edge_cases(ip, port);

    /* the main connection: nonblocking, 48 bytes each way */
    unsigned char out[48], in[48], want[48];
    mp_connect_data(out, 48, 20);
    mp_connect_data(want, 48, 21);
    WSAEVENT e = WSACreateEvent();
    CHECK(e != NULL);
    SOCKET s = INVALID_SOCKET;
    int rc = -1;
    WSABUF caller = { 48, (char *)out }, callee = { 48, (char *)in };
    WSANETWORKEVENTS ne;
    long long deadline = mp_now_ms() + 15000;
    /* In --connect mode the listener may not be up yet: its absence is WSAEADDRNOTAVAIL. */
    for (;;) {
        s = bound_socket(local_ip, __LINE__);
        err = MP_NOERR;
        CHECK_EQ_INT(WSPEventSelect(s, e, FD_CONNECT, &err), 0);
        memset(in, 0, sizeof in);
        callee.len = 48;
        rc = connect_blocking(s, ip, port, &caller, &callee);
        if (rc == WSAEWOULDBLOCK) {
            rc = mp_wait_events(s, e, 15000, &ne);
            CHECK_EQ_INT(rc, 0);
            if (rc == 0) {
                CHECK_EQ_INT(ne.lNetworkEvents, FD_CONNECT);
                rc = (ne.lNetworkEvents & FD_CONNECT) ? ne.iErrorCode[FD_CONNECT_BIT] : -1;
            }
        } else {
            CHECK_EQ_INT(rc, WSAEWOULDBLOCK); /* after WSPEventSelect(FD_CONNECT) */
        }
        if (rc == WSAEADDRNOTAVAIL && !full && mp_now_ms() < deadline) {
            close_ok(s, __LINE__);
            CHECK_EQ_INT(WSAResetEvent(e), TRUE);
            usleep(100 * 1000);
            continue;
        }
        break;
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(callee.len, 48);
    CHECK(memcmp(in, want, 48) == 0);
    if (rc == 0) {
        struct sockaddr_in peer;
        int len = sizeof peer;
        err = MP_NOERR;
        CHECK_EQ_INT(WSPGetPeerName(s, (struct sockaddr *)&peer, &len, &err), 0);
        CHECK_EQ_INT(ntohs(peer.sin_port), port);
        NOTE("connected to %s:%u, %u bytes of callee data", ip, port, callee.len);
        conn c = { 0 };
        CHECK_EQ_INT(conn_setup(&c, s), 0);
        if (c.htx && c.hrx) {
            messages_connector(&c);
            if (full)
                rdma_connector(&c);
            if (vanish_ms) {
                mp_op r;
                CHECK_EQ_INT(mp_recv(s, &r, c.rx, MSG_MAX), WSA_IO_PENDING);
                NOTE("waiting for the link to go");
                fflush(stdout);
                long long t0 = mp_now_ms();
                int final = mp_wait_ms(s, &r, NULL, vanish_ms + 20000);
                long long took = mp_now_ms() - t0;
                NOTE("pending receive failed with %d after %lld ms", final, took);
                CHECK_EQ_INT(final, WSAETIMEDOUT);
                CHECK(took <= vanish_ms);
                /* the stored error from now on */
                CHECK_EQ_INT(mp_recv(s, &r, c.rx, MSG_MAX), WSAETIMEDOUT);
            }
        }
        conn_teardown(&c);
    }
    close_ok(s, __LINE__);
    CHECK_EQ_INT(WSACloseEvent(e), TRUE);
    mp_finish();
    return 0;
}

/* ---- main ----------------------------------------------------------------------------------------- */
static void watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "test_two_process: watchdog expired\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    if (child_pid > 0)
        kill(child_pid, SIGKILL);
    _exit(3);
}

static int usage(void)
{
    fprintf(stderr, "usage: test_two_process [--listen IP PORT [PEER_IP [--vanish MS]] | "
                    "--connect IP PORT [LOCAL_IP [--vanish MS]]]\n");
    return 2;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, watchdog);
    if (argc == 7 && strcmp(argv[5], "--vanish") == 0)
        vanish_ms = atol(argv[6]);
    else if (argc > 5)
        return usage();
    if (argc >= 4 && strcmp(argv[1], "--listen") == 0) {
        who = "listener";
        alarm(60);
        return run_listener(argv[2], (unsigned short)atoi(argv[3]), -1, argc > 4 ? argv[4] : NULL);
    }
    if (argc >= 4 && strcmp(argv[1], "--connect") == 0) {
        who = "connector";
        alarm(60);
        run_connector(argv[2], (unsigned short)atoi(argv[3]), argc > 4 ? argv[4] : "0.0.0.0", 0);
        printf("[%s] ", who);
        return t_summary();
    }
    if (argc != 1)
        return usage();

    /* fork first: neither process has started a provider */
    int ready[2];
    if (pipe(ready) != 0) {
        perror("pipe");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        close(ready[0]);
        who = "listener";
        alarm(90);
        unsigned short base = (unsigned short)(12000 + getpid() % 8000); /* mapped ports below the ephemeral range */
        exit(run_listener(mp_ip(), base, ready[1], NULL));
    }
    child_pid = pid;
    close(ready[1]);
    who = "connector";
    alarm(100);
    long long t0 = mp_now_ms();
    unsigned short port = 0;
    ssize_t n;
    do
        n = read(ready[0], &port, sizeof port);
    while (n < 0 && errno == EINTR);
    close(ready[0]);
    CHECK_EQ_INT(n, (ssize_t)sizeof port);
    CHECK(port != 0);
    if (n == sizeof port && port != 0) {
        NOTE("listener ready on 127.0.0.1:%u", port);
        run_connector(mp_ip(), port, mp_ip(), 1);
    } else {
        kill(pid, SIGKILL);
    }
    int status = 0;
    pid_t w;
    do
        w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    CHECK_EQ_INT(w, pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), 0);
    NOTE("listener exited with status %d; %lld ms in all",
         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), mp_now_ms() - t0);
    printf("[%s] ", who);
    return t_summary();
}
