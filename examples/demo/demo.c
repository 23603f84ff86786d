/*
 * demo.c — two processes talk through libsanwsp.so the way two Winsock switches would.
 *
 * The program forks; each process loads the provider with dlopen, calls WSPStartupEx with a
 * minimal upcall table and gets the SAN extensions with SIO_GET_EXTENSION_FUNCTION_POINTER.
 * The listener accepts on 127.0.0.1 with a condition function (caller's address and connect data
 * in, callee data out); the connector connects with connect data. Then: messages each way,
 * a 64 MiB RDMA write into the listener's memory and a 64 MiB RDMA read back, each timed and
 * verified.
 *
 *   sanwsp_demo [path/to/libsanwsp.so]
 */
#define _GNU_SOURCE
#include "sanwsp.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024u * 1024u)
#define NMSG 64u
#define MSG (256u * 1024u)
#define MSGS (NMSG * MSG) /* 16 MiB of messages each way */
#define RDMA (64u * MIB)
#define CTL 256u

/* ---- a minimal switch ------------------------------------------------------------------------ */
/* The address to run on: SANWSP_TEST_IP (e.g. the soft-RoCE VM's RDMA address), else loopback. */
static in_addr_t test_address(void)
{
    const char *ip = getenv("SANWSP_TEST_IP");
    struct in_addr a;
    if (ip && *ip && inet_pton(AF_INET, ip, &a) == 1)
        return a.s_addr;
    return htonl(INADDR_LOOPBACK);
}

static atomic_long n_create, n_close, n_complete;
static atomic_ulong next_handle = 0x5000;
static BOOL (*set_event)(WSAEVENT);
static BOOL (*reset_event)(WSAEVENT);
static WSAEVENT (*create_event)(void);
static BOOL (*close_event)(WSAEVENT);
static DWORD (*wait_events)(DWORD, const WSAEVENT *, BOOL, DWORD, BOOL);

static SOCKET create_socket_handle(DWORD catalog, DWORD_PTR ctx, LPINT err)
{
    (void)catalog, (void)ctx, (void)err;
    atomic_fetch_add(&n_create, 1);
    return (SOCKET)atomic_fetch_add(&next_handle, 1);
}

static int close_socket_handle(SOCKET s, LPINT err)
{
    (void)s, (void)err;
    atomic_fetch_add(&n_close, 1);
    return 0;
}

static int complete_overlapped(SOCKET s, LPWSAOVERLAPPED ov, DWORD error, DWORD bytes, LPINT err)
{
    (void)s, (void)error, (void)err;
    atomic_fetch_add(&n_complete, 1);
    ov->InternalHigh = bytes;
    __atomic_store_n(&ov->Internal, (ULONG_PTR)0, __ATOMIC_RELEASE);
    WSAEVENT e = (WSAEVENT)((uintptr_t)ov->hEvent & ~(uintptr_t)1);
    if (e)
        set_event(e);
    return 0;
}

static BOOL up_set_event(WSAEVENT e, LPINT err)
{
    if (set_event(e))
        return TRUE;
    *err = WSA_INVALID_HANDLE;
    return FALSE;
}

static BOOL up_reset_event(WSAEVENT e, LPINT err)
{
    if (reset_event(e))
        return TRUE;
    *err = WSA_INVALID_HANDLE;
    return FALSE;
}

static WSAEVENT up_create_event(LPINT err)
{
    WSAEVENT e = create_event();
    if (!e)
        *err = WSA_NOT_ENOUGH_MEMORY;
    return e;
}

static BOOL up_close_event(WSAEVENT e, LPINT err)
{
    if (close_event(e))
        return TRUE;
    *err = WSA_INVALID_HANDLE;
    return FALSE;
}

/* ---- provider access --------------------------------------------------------------------------- */
static WSPPROC_TABLE P;
static LPFN_WSPREGISTERMEMORY reg_mem;
static LPFN_WSPREGISTERRDMAMEMORY reg_rdma;
static LPFN_WSPDEREGISTERRDMAMEMORY dereg_rdma;
static LPFN_WSPRDMAWRITE rdma_write;
static LPFN_WSPRDMAREAD rdma_read;
static const char *role = "?";
static int failed;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "%-9s error: ", role);                                                     \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        failed = 1;                                                                                \
    } while (0)

static void *must(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "demo: %s not exported: %s\n", name, dlerror());
        exit(1);
    }
    return p;
}

static int load(const char *path, int verbose)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "demo: dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    LPWSPSTARTUPEX startup;
    *(void **)&startup = must(lib, "WSPStartupEx");
    *(void **)&set_event = must(lib, "WSASetEvent");
    *(void **)&reset_event = must(lib, "WSAResetEvent");
    *(void **)&create_event = must(lib, "WSACreateEvent");
    *(void **)&close_event = must(lib, "WSACloseEvent");
    *(void **)&wait_events = must(lib, "WSAWaitForMultipleEvents");

    static WSPUPCALLTABLEEX up;
    up.lpWPUCreateSocketHandle = create_socket_handle;
    up.lpWPUCloseSocketHandle = close_socket_handle;
    up.lpWPUCompleteOverlappedRequest = complete_overlapped;
    up.lpWPUSetEvent = up_set_event;
    up.lpWPUResetEvent = up_reset_event;
    up.lpWPUCreateEvent = up_create_event;
    up.lpWPUCloseEvent = up_close_event;
    WSPDATA data;
    WSAPROTOCOL_INFOW tcp;
    memset(&tcp, 0, sizeof tcp);
    int rc = startup(MAKEWORD(2, 2), &data, &tcp, &up, &P);
    if (rc != 0) {
        fprintf(stderr, "demo: WSPStartupEx failed: %d\n", rc);
        return -1;
    }
    if (verbose) {
        char desc[WSPDESCRIPTION_LEN + 1];
        int i;
        for (i = 0; i < WSPDESCRIPTION_LEN && data.szDescription[i]; i++)
            desc[i] = data.szDescription[i] < 0x80 ? (char)data.szDescription[i] : '?';
        desc[i] = 0;
        printf("provider  %s: \"%s\", SPI %d.%d\n", path, desc, LOBYTE(data.wVersion),
               HIBYTE(data.wVersion));
    }
    return 0;
}

static void *extension(SOCKET s, GUID id)
{
    void *fn = NULL;
    DWORD bytes = 0;
    int err = 0;
    if (P.lpWSPIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &fn, sizeof fn,
                     &bytes, NULL, NULL, NULL, &err) != 0 || !fn) {
        FAIL("SIO_GET_EXTENSION_FUNCTION_POINTER: %d", err);
        exit(1);
    }
    return fn;
}

static void load_extensions(SOCKET s)
{
    *(void **)&reg_mem = extension(s, (GUID)WSAID_REGISTERMEMORY);
    *(void **)&reg_rdma = extension(s, (GUID)WSAID_REGISTERRDMAMEMORY);
    *(void **)&dereg_rdma = extension(s, (GUID)WSAID_DEREGISTERRDMAMEMORY);
    *(void **)&rdma_write = extension(s, (GUID)WSAID_RDMAWRITE);
    *(void **)&rdma_read = extension(s, (GUID)WSAID_RDMAREAD);
}

/* ---- overlapped operations (hEvent bit 0: no upcall, poll with WSPGetOverlappedResult) ------- */
typedef struct op {
    WSAOVERLAPPED ov;
    WSABUF b;
    WSABUFEX bx;
    DWORD flags;
} op;

static void op_init(op *o, void *buf, size_t len, HANDLE mem)
{
    memset(o, 0, sizeof *o);
    o->ov.hEvent = (HANDLE)(uintptr_t)1;
    o->b.len = o->bx.len = (ULONG)len;
    o->b.buf = o->bx.buf = buf;
    o->bx.handle = mem;
}

static int started(int rc, int err, const char *what)
{
    if (rc == 0 || err != WSA_IO_PENDING) {
        FAIL("%s: returned %d, error %d (expected WSA_IO_PENDING)", what, rc, err);
        return 0;
    }
    return 1;
}

static int post_send(SOCKET s, op *o, void *buf, size_t len)
{
    op_init(o, buf, len, NULL);
    int err = 0;
    int rc = P.lpWSPSend(s, &o->b, 1, NULL, 0, &o->ov, NULL, NULL, &err);
    return started(rc, err, "WSPSend");
}

static int post_recv(SOCKET s, op *o, void *buf, size_t len)
{
    op_init(o, buf, len, NULL);
    int err = 0;
    int rc = P.lpWSPRecv(s, &o->b, 1, NULL, &o->flags, &o->ov, NULL, NULL, &err);
    return started(rc, err, "WSPRecv");
}

static int post_rdma(int write, SOCKET s, op *o, void *buf, size_t len, HANDLE mem, void *desc,
                     DWORD desclen)
{
    op_init(o, buf, len, mem);
    int err = 0;
    int rc = write ? rdma_write(s, &o->bx, 1, desc, desclen, 0, NULL, 0, &o->ov, NULL, NULL, &err)
                   : rdma_read(s, &o->bx, 1, desc, desclen, 0, NULL, 0, &o->ov, NULL, NULL, &err);
    return started(rc, err, write ? "WSPRdmaWrite" : "WSPRdmaRead");
}

/* Waits for the operation; returns the bytes transferred or -1 (error printed). */
static long finish(SOCKET s, op *o, const char *what)
{
    DWORD bytes = 0, flags = 0;
    int err = 0;
    if (!P.lpWSPGetOverlappedResult(s, &o->ov, &bytes, TRUE, &flags, &err)) {
        FAIL("%s failed: error %d", what, err);
        return -1;
    }
    return bytes;
}

/* ---- helpers -------------------------------------------------------------------------------------- */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void *alloc(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    memset(p, 0, len); /* touch every page now, not inside a timed step */
    return p;
}

static void fill(unsigned char *p, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

static int same(const unsigned char *p, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        if (p[i] != (unsigned char)x)
            return 0;
    }
    return 1;
}

static void report(const char *what, size_t bytes, double t, int ok)
{
    printf("%-34s %9zu bytes %8.1f ms %7.0f MB/s  %s\n", what, bytes, t * 1e3, bytes / 1e6 / t,
           ok ? "verified" : "MISMATCH");
    if (!ok)
        failed = 1;
}

/* One connection's buffers: control in/out, registered. */
typedef struct conn {
    SOCKET s;
    unsigned char *ctl_in, *ctl_out;
} conn;

static void conn_init(conn *c, SOCKET s)
{
    int err = 0;
    c->s = s;
    c->ctl_in = alloc(CTL);
    c->ctl_out = alloc(CTL);
    if (!reg_mem(s, c->ctl_in, CTL, MEM_WRITE, &err) || !reg_mem(s, c->ctl_out, CTL, MEM_READ, &err))
        FAIL("WSPRegisterMemory: %d", err);
}

static void ctl_send(conn *c, const void *data, size_t len)
{
    op o;
    memcpy(c->ctl_out, data, len);
    if (post_send(c->s, &o, c->ctl_out, len))
        finish(c->s, &o, "control send");
}

static long ctl_recv(conn *c)
{
    op o;
    memset(c->ctl_in, 0, CTL);
    return post_recv(c->s, &o, c->ctl_in, CTL - 1) ? finish(c->s, &o, "control receive") : -1;
}

/* ---- listener ------------------------------------------------------------------------------------- */
static const char callee_text[] = "welcome, connector";
static const char caller_text[] = "hello from the connector";

static int CALLBACK condition(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos,
                              LPWSABUF callee_id, LPWSABUF callee_data, GROUP *g, DWORD_PTR ctx)
{
    (void)sqos, (void)gqos, (void)callee_id, (void)g, (void)ctx;
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (caller_id && caller_id->buf && caller_id->len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in a;
        memcpy(&a, caller_id->buf, sizeof a);
        inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
        port = ntohs(a.sin_port);
    }
    int n = caller_data ? (int)caller_data->len : 0;
    printf("listener  connect request from %s:%u, caller data \"%.*s\" (%d bytes)\n", ip, port, n,
           n ? caller_data->buf : "", n);
    if (n != (int)strlen(caller_text) || memcmp(caller_data->buf, caller_text, (size_t)n) != 0)
        FAIL("unexpected caller data");
    if (callee_data && callee_data->len >= strlen(callee_text)) {
        memcpy(callee_data->buf, callee_text, strlen(callee_text));
        callee_data->len = (ULONG)strlen(callee_text);
    }
    fflush(stdout);
    return CF_ACCEPT;
}

static int listener(const char *path, int ready_fd)
{
    role = "listener";
    if (load(path, 0) != 0)
        return 1;
    int err = 0;
    unsigned short port = (unsigned short)(22000 + getpid() % 8000);
    SOCKET l = INVALID_SOCKET;
    for (int i = 0; i < 50 && l == INVALID_SOCKET; i++, port++) {
        l = P.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, &err);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
        a.sin_addr.s_addr = test_address();
        if (P.lpWSPBind(l, (struct sockaddr *)&a, sizeof a, &err) != 0 ||
            P.lpWSPListen(l, 5, &err) != 0) {
            P.lpWSPCloseSocket(l, &err);
            l = INVALID_SOCKET;
        }
    }
    port--;
    WSAEVENT e = create_event();
    if (l == INVALID_SOCKET || P.lpWSPEventSelect(l, e, FD_ACCEPT, &err) != 0) {
        FAIL("listen: %d", err);
        port = 0;
    }
    if (write(ready_fd, &port, sizeof port) != sizeof port || port == 0)
        return 1;
    close(ready_fd);

    SOCKET s = INVALID_SOCKET;
    for (int tries = 0; s == INVALID_SOCKET && tries < 100; tries++) {
        s = P.lpWSPAccept(l, NULL, NULL, condition, 0, &err);
        if (s == INVALID_SOCKET && err != WSAEWOULDBLOCK)
            break;
        if (s == INVALID_SOCKET) {
            WSANETWORKEVENTS ne;
            wait_events(1, &e, FALSE, 100, FALSE);
            P.lpWSPEnumNetworkEvents(l, e, &ne, &err);
        }
    }
    if (s == INVALID_SOCKET) {
        FAIL("WSPAccept: %d", err);
        return 1;
    }
    load_extensions(s);
    conn c;
    conn_init(&c, s);

    /* messages in: NMSG receives posted at once, then tell the connector */
    unsigned char *in = alloc(MSGS), *out = alloc(MSGS), *region = alloc(RDMA);
    HANDLE hin = reg_mem(s, in, MSGS, MEM_WRITE, &err), hout = reg_mem(s, out, MSGS, MEM_READ, &err);
    if (!hin || !hout)
        FAIL("WSPRegisterMemory: %d", err);
    fill(out, MSGS, 2); /* what goes back later: prepared outside the timed steps */
    static op ops[NMSG];
    for (unsigned i = 0; i < NMSG; i++)
        post_recv(s, &ops[i], in + (size_t)i * MSG, MSG);
    ctl_send(&c, "posted", 6);
    size_t got = 0;
    for (unsigned i = 0; i < NMSG; i++) {
        long n = finish(s, &ops[i], "receive");
        got += n > 0 ? (size_t)n : 0;
    }
    ctl_send(&c, "received", 8);
    char status[CTL];
    snprintf(status, sizeof status, "%s", got == MSGS && same(in, MSGS, 1) ? "ok" : "bad");
    ctl_send(&c, status, strlen(status));

    /* messages out, once the connector has posted its receives */
    ctl_recv(&c);
    for (unsigned i = 0; i < NMSG; i++)
        post_send(s, &ops[i], out + (size_t)i * MSG, MSG);
    for (unsigned i = 0; i < NMSG; i++)
        finish(s, &ops[i], "send");

    /* RDMA: expose the region, let the connector write, check, refill, let it read */
    unsigned char desc[64];
    DWORD desclen = sizeof desc;
    if (reg_rdma(s, region, RDMA, MEM_READWRITE, desc, &desclen, &err) != 0)
        FAIL("WSPRegisterRdmaMemory: %d", err);
    ctl_send(&c, desc, desclen);
    ctl_recv(&c); /* "written" */
    snprintf(status, sizeof status, "%s", same(region, RDMA, 3) ? "ok" : "bad");
    fill(region, RDMA, 4);
    ctl_send(&c, status, strlen(status));
    ctl_recv(&c); /* "bye" */
    if (dereg_rdma(s, desc, desclen, &err) != 0)
        FAIL("WSPDeregisterRdmaMemory: %d", err);
    op last; /* pending when the connector closes: fails WSAECONNRESET */
    int posted = post_recv(s, &last, c.ctl_in, CTL);
    ctl_send(&c, "closing", 7); /* deregistered while connected; now the connector closes */
    if (posted) {
        DWORD bytes = 0, flags = 0;
        if (P.lpWSPGetOverlappedResult(s, &last.ov, &bytes, TRUE, &flags, &err) ||
            err != WSAECONNRESET)
            FAIL("receive after the connector's close: expected WSAECONNRESET, got %d", err);
    }
    P.lpWSPCloseSocket(s, &err);
    P.lpWSPCloseSocket(l, &err);
    close_event(e);
    P.lpWSPCleanup(&err);
    if (atomic_load(&n_create) != atomic_load(&n_close))
        FAIL("socket handles: %ld created, %ld closed", atomic_load(&n_create),
             atomic_load(&n_close));
    return failed;
}

/* ---- connector ---------------------------------------------------------------------------------- */
static int connector(const char *path, unsigned short port)
{
    role = "connector";
    if (load(path, 1) != 0)
        return 1;
    int err = 0;
    SOCKET s = P.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, &err);
    struct sockaddr_in local = { .sin_family = AF_INET }, remote = local;
    local.sin_addr.s_addr = remote.sin_addr.s_addr = test_address();
    remote.sin_port = htons(port);
    const char *off = getenv("SANWSP_SOFT_PORT_OFFSET");
    long offset = off && *off ? atol(off) : 10000;
    printf("listener  on 127.0.0.1:%u (soft transport: kernel TCP port %ld)\n", port,
           ((port - 1 + offset) % 65535) + 1);
    fflush(stdout);
    if (s == INVALID_SOCKET || P.lpWSPBind(s, (struct sockaddr *)&local, sizeof local, &err) != 0) {
        FAIL("socket/bind: %d", err);
        return 1;
    }
    char callee[48];
    WSABUF caller_buf = { (ULONG)strlen(caller_text), (char *)caller_text };
    WSABUF callee_buf = { sizeof callee, callee };
    WSAEVENT e = create_event();
    P.lpWSPEventSelect(s, e, FD_CONNECT, &err);
    double t0 = now();
    int rc = P.lpWSPConnect(s, (struct sockaddr *)&remote, sizeof remote, &caller_buf, &callee_buf,
                            NULL, NULL, &err);
    WSANETWORKEVENTS ne = { 0 };
    if (rc == SOCKET_ERROR && err == WSAEWOULDBLOCK &&
        wait_events(1, &e, FALSE, 10000, FALSE) == WSA_WAIT_EVENT_0)
        P.lpWSPEnumNetworkEvents(s, e, &ne, &err);
    if (!(ne.lNetworkEvents & FD_CONNECT) || ne.iErrorCode[FD_CONNECT_BIT] != 0) {
        FAIL("connect: %d / FD_CONNECT error %d", err, ne.iErrorCode[FD_CONNECT_BIT]);
        return 1;
    }
    printf("connector connected in %.1f ms, callee data \"%.*s\" (%u bytes)\n", (now() - t0) * 1e3,
           (int)callee_buf.len, callee, callee_buf.len);
    if (callee_buf.len != strlen(callee_text) || memcmp(callee, callee_text, callee_buf.len) != 0)
        FAIL("unexpected callee data");
    load_extensions(s);
    conn c;
    conn_init(&c, s);

    unsigned char *out = alloc(MSGS), *in = alloc(MSGS), *src = alloc(RDMA), *dst = alloc(RDMA);
    HANDLE hout = reg_mem(s, out, MSGS, MEM_READ, &err), hin = reg_mem(s, in, MSGS, MEM_WRITE, &err);
    HANDLE hsrc = reg_mem(s, src, RDMA, MEM_READ, &err), hdst = reg_mem(s, dst, RDMA, MEM_WRITE, &err);
    if (!hout || !hin || !hsrc || !hdst)
        FAIL("WSPRegisterMemory: %d", err);
    static op ops[NMSG];
    char label[64];

    /* messages connector -> listener */
    fill(out, MSGS, 1);
    ctl_recv(&c); /* "posted" */
    t0 = now();
    for (unsigned i = 0; i < NMSG; i++)
        post_send(s, &ops[i], out + (size_t)i * MSG, MSG);
    for (unsigned i = 0; i < NMSG; i++)
        finish(s, &ops[i], "send");
    ctl_recv(&c); /* "received" */
    double t = now() - t0;
    ctl_recv(&c); /* "ok" */
    snprintf(label, sizeof label, "send %u x %u KiB  -> listener", NMSG, MSG / 1024);
    report(label, MSGS, t, strcmp((char *)c.ctl_in, "ok") == 0);

    /* messages listener -> connector */
    size_t got = 0;
    for (unsigned i = 0; i < NMSG; i++)
        post_recv(s, &ops[i], in + (size_t)i * MSG, MSG);
    t0 = now();
    ctl_send(&c, "go", 2);
    for (unsigned i = 0; i < NMSG; i++) {
        long n = finish(s, &ops[i], "receive");
        got += n > 0 ? (size_t)n : 0;
    }
    t = now() - t0;
    snprintf(label, sizeof label, "recv %u x %u KiB <-  listener", NMSG, MSG / 1024);
    report(label, got, t, got == MSGS && same(in, MSGS, 2));

    /* RDMA write into the listener's region */
    long dl = ctl_recv(&c);
    unsigned char desc[64];
    DWORD desclen = dl > 0 && dl <= 64 ? (DWORD)dl : 0;
    memcpy(desc, c.ctl_in, desclen);
    fill(src, RDMA, 3);
    op o;
    long n = -1;
    t0 = now();
    if (post_rdma(1, s, &o, src, RDMA, hsrc, desc, desclen))
        n = finish(s, &o, "RDMA write");
    t = now() - t0;
    ctl_send(&c, "written", 7);
    ctl_recv(&c); /* the listener's check */
    snprintf(label, sizeof label, "RDMA write %u MiB -> listener", RDMA / MIB);
    report(label, n > 0 ? (size_t)n : 0, t, n == (long)RDMA && strcmp((char *)c.ctl_in, "ok") == 0);

    /* RDMA read of the region (refilled by the listener) */
    n = -1;
    t0 = now();
    if (post_rdma(0, s, &o, dst, RDMA, hdst, desc, desclen))
        n = finish(s, &o, "RDMA read");
    t = now() - t0;
    snprintf(label, sizeof label, "RDMA read  %u MiB <- listener", RDMA / MIB);
    report(label, n > 0 ? (size_t)n : 0, t, n == (long)RDMA && same(dst, RDMA, 4));

    ctl_send(&c, "bye", 3);
    ctl_recv(&c); /* "closing" */
    P.lpWSPCloseSocket(s, &err);
    close_event(e);
    P.lpWSPCleanup(&err);
    printf("connector upcalls: %ld socket handles created, %ld closed, %ld completion upcalls "
           "(the demo polls)\n",
           atomic_load(&n_create), atomic_load(&n_close), atomic_load(&n_complete));
    if (atomic_load(&n_create) != atomic_load(&n_close))
        FAIL("socket handles created and closed differ");
    return failed;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "libsanwsp.so";
    setvbuf(stdout, NULL, _IOLBF, 0);
    int ready[2];
    if (pipe(ready) != 0)
        return 1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        close(ready[0]);
        alarm(60);
        exit(listener(path, ready[1]));
    }
    close(ready[1]);
    alarm(90); /* a hang ends the demo */
    unsigned short port = 0;
    ssize_t r;
    do
        r = read(ready[0], &port, sizeof port);
    while (r < 0 && errno == EINTR);
    int rc = r == sizeof port && port ? connector(path, port) : 1;
    if (rc != 0)
        kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "demo: listener process failed (status %#x)\n", status);
        rc = 1;
    }
    printf(rc ? "demo failed\n" : "demo done\n");
    return rc;
}
