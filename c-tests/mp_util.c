/* mp_util.c — see mp_util.h. */
#define _GNU_SOURCE
#include "mp_util.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* A crash prints where it happened (library offsets: symbolize against the same build with
 * addr2line -e libsanwsp.so), then dies of the same signal. */
static void on_crash(int sig)
{
    static const char head[] = "\n*** crashed; backtrace:\n";
    void *frames[64];
    int n = backtrace(frames, 64);
    (void)!write(2, head, sizeof head - 1);
    backtrace_symbols_fd(frames, n, 2);
    signal(sig, SIG_DFL);
    raise(sig);
}

int mp_startup(void)
{
    static WSPUPCALLTABLEEX up;
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGILL, on_crash);
    signal(SIGABRT, on_crash);
    WSPPROC_TABLE t;
    WSPDATA d;
    WSAPROTOCOL_INFOW pi;
    CHECK_EQ_INT(ts_init(RTLD_DEFAULT), 0);
    ts_upcalls(&up);
    memset(&pi, 0, sizeof pi);
    memset(&t, 0, sizeof t);
    return WSPStartupEx(MAKEWORD(2, 2), &d, &pi, &up, &t);
}

void mp_finish(void)
{
    int err = MP_NOERR;
    CHECK_EQ_INT(WSPCleanup(&err), 0);
    ts_counts c;
    ts_get_counts(&c);
    CHECK_EQ_INT(c.create_socket_handle - c.create_failed, c.close_socket_handle);
    CHECK_EQ_INT(c.close_bad, 0);
    CHECK_EQ_INT(c.double_close, 0);
    CHECK_EQ_INT(c.after_close, 0);
    CHECK_EQ_INT(ts_live_handles(), 0);
}

SOCKET mp_socket(int *err)
{
    *err = MP_NOERR;
    return WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, err);
}

int mp_bind(SOCKET s, const char *ip, unsigned short port)
{
    struct sockaddr_in a = ts_sin(ip, port);
    int err = MP_NOERR;
    return WSPBind(s, (struct sockaddr *)&a, sizeof a, &err) == 0 ? 0 : err;
}

unsigned short mp_local_port(SOCKET s)
{
    struct sockaddr_in a;
    int len = sizeof a, err = MP_NOERR;
    if (WSPGetSockName(s, (struct sockaddr *)&a, &len, &err) != 0)
        return 0;
    return ntohs(a.sin_port);
}

int mp_wait_events(SOCKET s, WSAEVENT e, DWORD ms, WSANETWORKEVENTS *out)
{
    DWORD w = WSAWaitForMultipleEvents(1, &e, FALSE, ms, FALSE);
    if (w == WSA_WAIT_TIMEOUT)
        return WSA_WAIT_TIMEOUT;
    if (w != WSA_WAIT_EVENT_0)
        return WSAGetLastError();
    int err = MP_NOERR;
    memset(out, 0, sizeof *out);
    return WSPEnumNetworkEvents(s, e, out, &err) == 0 ? 0 : err;
}

SOCKET mp_accept(SOCKET l, WSAEVENT e, LPCONDITIONPROC cf, DWORD_PTR ctx, struct sockaddr_in *peer,
                 DWORD ms, int *err)
{
    long long deadline = mp_now_ms() + ms;
    for (;;) {
        struct sockaddr_in a;
        int len = sizeof a;
        *err = MP_NOERR;
        SOCKET s = WSPAccept(l, (struct sockaddr *)&a, &len, cf, ctx, err);
        if (s != INVALID_SOCKET) {
            if (peer)
                *peer = a;
            return s;
        }
        if (*err != WSAEWOULDBLOCK)
            return INVALID_SOCKET;
        long long left = deadline - mp_now_ms();
        if (left <= 0) {
            *err = WSAETIMEDOUT;
            return INVALID_SOCKET;
        }
        WSANETWORKEVENTS ne;
        int rc = mp_wait_events(l, e, (DWORD)left, &ne);
        if (rc == WSA_WAIT_TIMEOUT)
            continue; /* one more try, then the deadline ends it */
        if (rc != 0) {
            *err = rc;
            return INVALID_SOCKET;
        }
        if ((ne.lNetworkEvents & FD_ACCEPT) && ne.iErrorCode[FD_ACCEPT_BIT] != 0) {
            *err = ne.iErrorCode[FD_ACCEPT_BIT];
            return INVALID_SOCKET;
        }
    }
}

/* ---- overlapped ------------------------------------------------------------------------------ */
static void op_init(mp_op *op, void *buf, size_t len)
{
    memset(op, 0, sizeof *op);
    op->ov.hEvent = (HANDLE)(uintptr_t)1;
    op->buf.len = (ULONG)len;
    op->buf.buf = buf;
}

/* SANWSP_EXPECT_TRANSPORT=soft|verbs: every connected socket used for data must be carried by
 * that transport (SO_SANWSP_TRANSPORT), so a run proves which transport it tested. */
void mp_check_transport(SOCKET s)
{
    const char *want = getenv("SANWSP_EXPECT_TRANSPORT");
    if (!want || !*want)
        return;
    DWORD kind = 0;
    int len = sizeof kind, err = MP_NOERR;
    if (WSPGetSockOpt(s, WS_SOL_SOCKET, SO_SANWSP_TRANSPORT, (char *)&kind, &len, &err) != 0)
        return; /* closed or not connected: the caller's own checks report that */
    DWORD expected = strcmp(want, "verbs") == 0 ? SANWSP_TRANSPORT_VERBS : SANWSP_TRANSPORT_SOFT;
    if (kind != 0)
        CHECK_EQ_INT(kind, expected);
}

const char *mp_ip(void)
{
    const char *ip = getenv("SANWSP_TEST_IP");
    return ip && *ip ? ip : "127.0.0.1";
}

int mp_send(SOCKET s, mp_op *op, void *buf, size_t len)
{
    mp_check_transport(s);
    op_init(op, buf, len);
    int err = MP_NOERR;
    int rc = WSPSend(s, &op->buf, 1, NULL, 0, &op->ov, NULL, NULL, &err);
    return rc == 0 ? 0 : err;
}

int mp_recv(SOCKET s, mp_op *op, void *buf, size_t len)
{
    mp_check_transport(s);
    op_init(op, buf, len);
    int err = MP_NOERR;
    op->flags = 0;
    int rc = WSPRecv(s, &op->buf, 1, NULL, &op->flags, &op->ov, NULL, NULL, &err);
    return rc == 0 ? 0 : err;
}

int mp_rdma(int write, SOCKET s, mp_op *op, void *buf, size_t len, HANDLE mem, const void *desc,
            DWORD desclen, DWORD offset)
{
    op_init(op, buf, len);
    op->bufx.len = (ULONG)len;
    op->bufx.buf = buf;
    op->bufx.handle = mem;
    unsigned char d[64];
    memcpy(d, desc, desclen <= sizeof d ? desclen : sizeof d);
    int err = MP_NOERR;
    int rc = write ? WSPRdmaWrite(s, &op->bufx, 1, d, desclen, offset, NULL, 0, &op->ov, NULL,
                                  NULL, &err)
                   : WSPRdmaRead(s, &op->bufx, 1, d, desclen, offset, NULL, 0, &op->ov, NULL,
                                 NULL, &err);
    return rc == 0 ? 0 : err;
}

int mp_wait(SOCKET s, mp_op *op, DWORD *bytes)
{
    DWORD b = 0, flags = 0;
    int err = MP_NOERR;
    BOOL ok = WSPGetOverlappedResult(s, &op->ov, &b, TRUE, &flags, &err);
    if (bytes)
        *bytes = b;
    return ok ? 0 : err;
}

int mp_wait_ms(SOCKET s, mp_op *op, DWORD *bytes, long ms)
{
    long long deadline = mp_now_ms() + ms;
    for (;;) {
        DWORD b = 0, flags = 0;
        int err = MP_NOERR;
        BOOL ok = WSPGetOverlappedResult(s, &op->ov, &b, FALSE, &flags, &err);
        if (bytes)
            *bytes = b;
        if (ok)
            return 0;
        if (err != WSA_IO_INCOMPLETE || mp_now_ms() >= deadline)
            return err;
        usleep(2000);
    }
}

int mp_send_wait(SOCKET s, void *buf, size_t len, DWORD *bytes)
{
    mp_op op;
    int rc = mp_send(s, &op, buf, len);
    if (rc != WSA_IO_PENDING)
        return rc == 0 ? -1 : rc; /* 0 would break the "always pending" contract */
    return mp_wait(s, &op, bytes);
}

int mp_recv_wait(SOCKET s, void *buf, size_t len, DWORD *bytes)
{
    mp_op op;
    int rc = mp_recv(s, &op, buf, len);
    if (rc != WSA_IO_PENDING)
        return rc == 0 ? -1 : rc;
    return mp_wait(s, &op, bytes);
}

void *mp_alloc(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void mp_free(void *p, size_t len)
{
    if (p)
        munmap(p, len);
}

/* ---- data ------------------------------------------------------------------------------------ */
static inline uint32_t word(size_t i, uint32_t seed)
{
    uint32_t x = (uint32_t)i * 2654435761u ^ seed * 40503u ^ (uint32_t)(i >> 32);
    x ^= x >> 15;
    x *= 0x2c1b3c6du;
    x ^= x >> 12;
    return x;
}

void mp_fill(void *buf, size_t len, uint32_t seed)
{
    unsigned char *p = buf;
    size_t n = len / 4;
    for (size_t i = 0; i < n; i++) {
        uint32_t w = word(i, seed);
        memcpy(p + 4 * i, &w, 4);
    }
    uint32_t w = word(n, seed);
    memcpy(p + 4 * n, &w, len % 4);
}

long mp_verify(const void *buf, size_t len, uint32_t seed)
{
    const unsigned char *p = buf;
    size_t n = len / 4;
    for (size_t i = 0; i < n; i++) {
        uint32_t w = word(i, seed);
        if (memcmp(p + 4 * i, &w, 4) != 0) {
            for (size_t k = 0; k < 4; k++)
                if (p[4 * i + k] != ((unsigned char *)&w)[k])
                    return (long)(4 * i + k);
        }
    }
    uint32_t w = word(n, seed);
    for (size_t k = 0; k < len % 4; k++)
        if (p[4 * n + k] != ((unsigned char *)&w)[k])
            return (long)(4 * n + k);
    return -1;
}

void mp_connect_data(unsigned char *out, size_t n, unsigned char tag)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(tag * 31 + i * 7 + 1);
}

long long mp_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

double mp_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int mp_is_loss(int err)
{
    return err == WSAECONNRESET || err == WSAECONNABORTED || err == WSAETIMEDOUT;
}
