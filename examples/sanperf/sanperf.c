/*
 * sanperf.c — latency and bandwidth of a SAN provider (libsanwsp.so) next to kernel TCP, in the
 * spirit of perftest's ib_send_lat / ib_write_bw. See README.md in this directory.
 *
 *   sanperf --provider PATH/libsanwsp.so [--sizes LIST] [--rows LIST] [--quick] [--window N]
 *           [--duration S] [--csv FILE] [--json FILE] [--check]
 *
 * Process layout: the first process is only a coordinator (it never loads the provider). It
 * forks a server and a client for the TCP / provider rows, and later (only for the sw_* rows) a
 * second server/client pair that drives the reference switch, because a switch owns the
 * provider's upcall table and one process can start the provider for one switch only. Every
 * child loads the provider itself with dlopen. Server and client share the test plan (computed
 * from the same arguments before the fork) and talk over a socketpair: the client names each
 * test (row, size, count), the server says "ready" (its receives are posted) and "done". The
 * client measures and writes the numbers into memory shared with the coordinator, which prints
 * the table, writes the CSV/JSON files and checks the targets.
 */
#define _GNU_SOURCE
#include "sanwsp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef SANPERF_HAVE_SWITCH
#include "sw.h"
#endif

#define KIB 1024u
#define MIB (1024u * 1024u)
#define MAX_SIZES 32
#define MAX_WINDOW 64
#define CTL_LEN 256u

/* ---- rows ------------------------------------------------------------------------------------ */
enum {
    R_TCP_LAT, R_WSP_LAT, R_TCP_LAT_SW, R_SW_LAT,
    R_TCP_BW, R_WSP_BW, R_TCP_BW_SW, R_SW_BW,
    R_RDMA_WRITE_BW, R_RDMA_READ_BW,
    NROWS
};

typedef struct row_info {
    const char *name;
    int lat;   /* 1: latency (µs, lower is better); 0: bandwidth (MB/s, higher is better) */
    int phase; /* 0: TCP + provider pair; 1: switch pair */
    int ref;   /* the TCP row it is compared with, -1 for the TCP rows themselves */
    const char *what;
} row_info;

/* The address to run on: SANWSP_TEST_IP (e.g. the soft-RoCE VM's RDMA address), else loopback. */
static in_addr_t test_address(void)
{
    const char *ip = getenv("SANWSP_TEST_IP");
    struct in_addr a;
    if (ip && *ip && inet_pton(AF_INET, ip, &a) == 1)
        return a.s_addr;
    return htonl(INADDR_LOOPBACK);
}

static const row_info ROWS[NROWS] = {
    [R_TCP_LAT] = { "tcp_lat", 1, 0, -1, "kernel TCP ping-pong, TCP_NODELAY" },
    [R_WSP_LAT] = { "wsp_lat", 1, 0, R_TCP_LAT, "WSPSend/WSPRecv ping-pong" },
    [R_TCP_LAT_SW] = { "tcp_lat_sw", 1, 1, -1, "kernel TCP ping-pong again, next to sw_lat" },
    [R_SW_LAT] = { "sw_lat", 1, 1, R_TCP_LAT_SW, "reference switch sw_send/sw_recv ping-pong" },
    [R_TCP_BW] = { "tcp_bw", 0, 0, -1, "kernel TCP streaming" },
    [R_WSP_BW] = { "wsp_bw", 0, 0, R_TCP_BW, "WSPSend streaming, window of sends/receives" },
    [R_TCP_BW_SW] = { "tcp_bw_sw", 0, 1, -1, "kernel TCP streaming again, next to sw_bw" },
    [R_SW_BW] = { "sw_bw", 0, 1, R_TCP_BW_SW, "reference switch sw_send streaming" },
    [R_RDMA_WRITE_BW] = { "rdma_write_bw", 0, 0, R_TCP_BW, "WSPRdmaWrite, window" },
    [R_RDMA_READ_BW] = { "rdma_read_bw", 0, 0, R_TCP_BW, "WSPRdmaRead, window" },
};

/* Execution order inside one size: each provider row right after its TCP reference, so both
 * see the same machine noise. The switch rows run in a later phase (their own process pair),
 * so TCP is measured again there, just before them. */
static const int EXEC_ORDER[NROWS] = { R_TCP_LAT, R_WSP_LAT, R_TCP_LAT_SW, R_SW_LAT, R_TCP_BW,
                                       R_WSP_BW, R_TCP_BW_SW, R_SW_BW, R_RDMA_WRITE_BW,
                                       R_RDMA_READ_BW };

/* ---- results (shared between the coordinator and the clients) ------------------------------ */
typedef struct result {
    int state;      /* 0 not run, 1 measured, 2 failed */
    long iters;     /* latency: timed round trips; bandwidth: messages / operations */
    double med_us, p99_us, p999_us, mean_us, min_us; /* one-way latency */
    double mbps;    /* bandwidth, decimal MB/s */
    double pair;    /* the TCP reference measured interleaved with this row (median µs or MB/s;
                       0 for the TCP rows themselves) */
    double secs;    /* timed seconds */
    char note[120]; /* failure reason or remark */
} result;

typedef struct shared {
    result r[NROWS][MAX_SIZES];
    char sw_path[32];   /* "provider"/"tcp": which path the switch connection took */
    char sw_desc[256];
    int cur;            /* plan index the client is running, -1 while setting up */
    int err_set;        /* first fatal message of a phase's processes */
    char err[160];
} shared;

/* ---- configuration ------------------------------------------------------------------------- */
static struct {
    const char *provider;
    size_t sizes[MAX_SIZES];
    int nsizes;
    int rows[NROWS];   /* selected */
    int quick, check, window;
    int rounds;        /* the whole plan runs this many times; figures are medians */
    int cpu[2];        /* server / client CPU, -1 = not pinned */
    double duration;   /* seconds per bandwidth measurement */
    const char *csv, *json;
    size_t maxsize;
} cfg;

typedef struct test {
    int row, si;
} test;
static test plan[NROWS * MAX_SIZES];
static int nplan, nplan_phase[2];

static shared *SH;
static const char *role = "sanperf";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sanperf %s: %s\n", role, msg);
    /* The first process of a pair to fail names the cause (the other only sees it go away). */
    if (SH && __atomic_exchange_n(&SH->err_set, 1, __ATOMIC_ACQ_REL) == 0)
        snprintf(SH->err, sizeof SH->err, "%s: %.140s", role, msg);
    exit(2);
}

/* Bounded string copy (always terminated). */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *alloc(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap %zu: %s", len, strerror(errno));
    memset(p, 0x5a, len); /* fault every page in now, outside the timed loops */
    return p;
}

static const char *size_str(size_t n, char *buf, size_t cap)
{
    if (n >= MIB && n % MIB == 0)
        snprintf(buf, cap, "%zuM", n / MIB);
    else if (n >= KIB && n % KIB == 0)
        snprintf(buf, cap, "%zuK", n / KIB);
    else
        snprintf(buf, cap, "%zu", n);
    return buf;
}

/* ---- control channel (socketpair between server and client of one phase) ------------------- */
typedef struct cmd {
    int32_t row;       /* -1: end of the plan */
    uint32_t size;
    int64_t count;     /* round trips or messages */
    int64_t warm;      /* untimed round trips first (latency) */
} cmd;

static int ctl_fd = -1;

static void ctl_put(const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(ctl_fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("control channel write: %s", strerror(errno));
        c += w, n -= (size_t)w;
    }
}

static void ctl_get(void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(ctl_fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            die("control channel: peer process went away");
        if (r < 0)
            die("control channel read: %s", strerror(errno));
        c += r, n -= (size_t)r;
    }
}

static void ctl_word(uint32_t w) { ctl_put(&w, sizeof w); }

static uint32_t ctl_expect(uint32_t want)
{
    uint32_t w;
    ctl_get(&w, sizeof w);
    if (want && w != want)
        die("control channel: expected %#x, got %#x", want, w);
    return w;
}

#define CTL_READY 0x52454459u
#define CTL_DONE 0x444f4e45u
#define CTL_FAIL 0x4641494cu

/* ---- blocking byte streams: kernel TCP or the reference switch ------------------------------ */
typedef struct stream {
    ssize_t (*send)(void *h, const void *buf, size_t len);
    ssize_t (*recv)(void *h, void *buf, size_t len);
    void *h;
} stream;

static ssize_t tcp_send(void *h, const void *buf, size_t len)
{
    return send((int)(intptr_t)h, buf, len, MSG_NOSIGNAL);
}

static ssize_t tcp_recv(void *h, void *buf, size_t len)
{
    return recv((int)(intptr_t)h, buf, len, 0);
}

static int send_all(const stream *st, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = st->send(st->h, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n, len -= (size_t)n;
    }
    return 0;
}

static int recv_all(const stream *st, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = st->recv(st->h, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ECONNRESET;
            return -1;
        }
        p += n, len -= (size_t)n;
    }
    return 0;
}

/* ---- the provider: a minimal switch ----------------------------------------------------------- */
static WSPPROC_TABLE P;
static LPFN_WSPREGISTERMEMORY reg_mem;
static LPFN_WSPREGISTERRDMAMEMORY reg_rdma;
static LPFN_WSPRDMAWRITE rdma_write;
static LPFN_WSPRDMAREAD rdma_read;
static BOOL (*ev_set)(WSAEVENT);
static BOOL (*ev_reset)(WSAEVENT);
static WSAEVENT (*ev_create)(void);
static BOOL (*ev_close)(WSAEVENT);
static DWORD (*ev_wait)(DWORD, const WSAEVENT *, BOOL, DWORD, BOOL);
static unsigned long next_handle = 0x5000;

static SOCKET WSPAPI up_create_socket_handle(DWORD catalog, DWORD_PTR ctx, LPINT err)
{
    (void)catalog, (void)ctx, (void)err;
    return (SOCKET)__atomic_fetch_add(&next_handle, 1, __ATOMIC_RELAXED);
}

static int WSPAPI up_close_socket_handle(SOCKET s, LPINT err)
{
    (void)s, (void)err;
    return 0;
}

static int WSPAPI up_complete(SOCKET s, LPWSAOVERLAPPED ov, DWORD error, DWORD bytes, LPINT err)
{
    (void)s, (void)error, (void)err;
    ov->InternalHigh = bytes;
    __atomic_store_n(&ov->Internal, (ULONG_PTR)0, __ATOMIC_RELEASE);
    WSAEVENT e = (WSAEVENT)((uintptr_t)ov->hEvent & ~(uintptr_t)1);
    if (e)
        ev_set(e);
    return 0;
}

static BOOL WSPAPI up_set_event(WSAEVENT e, LPINT err)
{
    if (ev_set(e))
        return TRUE;
    *err = WSA_INVALID_HANDLE;
    return FALSE;
}

static BOOL WSPAPI up_reset_event(WSAEVENT e, LPINT err)
{
    if (ev_reset(e))
        return TRUE;
    *err = WSA_INVALID_HANDLE;
    return FALSE;
}

static WSAEVENT WSPAPI up_create_event(LPINT err)
{
    WSAEVENT e = ev_create();
    if (!e)
        *err = WSA_NOT_ENOUGH_MEMORY;
    return e;
}

static BOOL WSPAPI up_close_event(WSAEVENT e, LPINT err)
{
    if (ev_close(e))
        return TRUE;
    *err = WSA_INVALID_HANDLE;
    return FALSE;
}

static void *must_sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p)
        die("%s: %s", name, dlerror());
    return p;
}

static void provider_load(void)
{
    void *lib = dlopen(cfg.provider, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        die("dlopen %s: %s", cfg.provider, dlerror());
    LPWSPSTARTUPEX startup;
    *(void **)&startup = must_sym(lib, "WSPStartupEx");
    *(void **)&ev_set = must_sym(lib, "WSASetEvent");
    *(void **)&ev_reset = must_sym(lib, "WSAResetEvent");
    *(void **)&ev_create = must_sym(lib, "WSACreateEvent");
    *(void **)&ev_close = must_sym(lib, "WSACloseEvent");
    *(void **)&ev_wait = must_sym(lib, "WSAWaitForMultipleEvents");
    static WSPUPCALLTABLEEX up;
    up.lpWPUCreateSocketHandle = up_create_socket_handle;
    up.lpWPUCloseSocketHandle = up_close_socket_handle;
    up.lpWPUCompleteOverlappedRequest = up_complete;
    up.lpWPUSetEvent = up_set_event;
    up.lpWPUResetEvent = up_reset_event;
    up.lpWPUCreateEvent = up_create_event;
    up.lpWPUCloseEvent = up_close_event;
    WSPDATA data;
    WSAPROTOCOL_INFOW info;
    memset(&info, 0, sizeof info);
    int rc = startup(MAKEWORD(2, 2), &data, &info, &up, &P);
    if (rc != 0)
        die("WSPStartupEx: %d", rc);
}

static void *extension(SOCKET s, GUID id, const char *name)
{
    void *fn = NULL;
    DWORD bytes = 0;
    int err = 0;
    if (P.lpWSPIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &fn, sizeof fn,
                     &bytes, NULL, NULL, NULL, &err) != 0 || !fn)
        die("SIO_GET_EXTENSION_FUNCTION_POINTER(%s): %d", name, err);
    return fn;
}

static void load_extensions(SOCKET s)
{
    *(void **)&reg_mem = extension(s, (GUID)WSAID_REGISTERMEMORY, "RegisterMemory");
    *(void **)&reg_rdma = extension(s, (GUID)WSAID_REGISTERRDMAMEMORY, "RegisterRdmaMemory");
    *(void **)&rdma_write = extension(s, (GUID)WSAID_RDMAWRITE, "RdmaWrite");
    *(void **)&rdma_read = extension(s, (GUID)WSAID_RDMAREAD, "RdmaRead");
}

/* Overlapped operations: hEvent bit 0 (no upcall), completed with WSPGetOverlappedResult. */
typedef struct op {
    WSAOVERLAPPED ov;
    WSABUF b;
    WSABUFEX bx;
    DWORD flags;
} op;

static void op_init(op *o, void *buf, size_t len, HANDLE mem)
{
    memset(&o->ov, 0, sizeof o->ov);
    o->ov.hEvent = (HANDLE)(uintptr_t)1;
    o->b.len = o->bx.len = (ULONG)len;
    o->b.buf = o->bx.buf = buf;
    o->bx.handle = mem;
    o->flags = 0;
}

static const char *wsa_name(int e)
{
    switch (e) {
    case WSAEACCES: return "WSAEACCES";
    case WSAEFAULT: return "WSAEFAULT";
    case WSAEINVAL: return "WSAEINVAL";
    case WSAEMSGSIZE: return "WSAEMSGSIZE";
    case WSAECONNABORTED: return "WSAECONNABORTED";
    case WSAECONNRESET: return "WSAECONNRESET";
    case WSAETIMEDOUT: return "WSAETIMEDOUT";
    case WSAENOTSOCK: return "WSAENOTSOCK";
    case WSAENOBUFS: return "WSAENOBUFS";
    case WSA_OPERATION_ABORTED: return "WSA_OPERATION_ABORTED";
    default: return "";
    }
}

static void started(int rc, int err, const char *what)
{
    if (rc != SOCKET_ERROR || err != WSA_IO_PENDING)
        die("%s did not start: returned %d, error %d %s", what, rc, err, wsa_name(err));
}

static void wsp_send(SOCKET s, op *o, void *buf, size_t len)
{
    int err = 0;
    op_init(o, buf, len, NULL);
    int rc = P.lpWSPSend(s, &o->b, 1, NULL, 0, &o->ov, NULL, NULL, &err);
    started(rc, err, "WSPSend");
}

static void wsp_recv(SOCKET s, op *o, void *buf, size_t len)
{
    int err = 0;
    op_init(o, buf, len, NULL);
    int rc = P.lpWSPRecv(s, &o->b, 1, NULL, &o->flags, &o->ov, NULL, NULL, &err);
    started(rc, err, "WSPRecv");
}

static void wsp_rdma(int write, SOCKET s, op *o, void *buf, size_t len, HANDLE mem, void *desc,
                     DWORD desclen, DWORD offset)
{
    int err = 0, rc;
    op_init(o, buf, len, mem);
    if (write)
        rc = rdma_write(s, &o->bx, 1, desc, desclen, offset, NULL, 0, &o->ov, NULL, NULL, &err);
    else
        rc = rdma_read(s, &o->bx, 1, desc, desclen, offset, NULL, 0, &o->ov, NULL, NULL, &err);
    started(rc, err, write ? "WSPRdmaWrite" : "WSPRdmaRead");
}

static DWORD wsp_wait(SOCKET s, op *o, const char *what)
{
    DWORD bytes = 0, flags = 0;
    int err = 0;
    if (!P.lpWSPGetOverlappedResult(s, &o->ov, &bytes, TRUE, &flags, &err))
        die("%s failed: error %d %s", what, err, wsa_name(err));
    return bytes;
}

static void wsp_wait_len(SOCKET s, op *o, size_t want, const char *what)
{
    DWORD n = wsp_wait(s, o, what);
    if (n != want)
        die("%s: %u bytes, expected %zu", what, n, want);
}

/* ---- per-process connection state ----------------------------------------------------------- */
static struct {
    int tcp;                 /* kernel TCP data connection */
    SOCKET ws;               /* provider connection */
    unsigned char *sbuf;     /* maxsize, registered MEM_READ (send / RDMA-write source) */
    unsigned char *rbuf;     /* window * maxsize, registered MEM_WRITE (receives / RDMA-read target) */
    unsigned char *ctl_in, *ctl_out; /* small messages: descriptor, "fin" */
    unsigned char *region;   /* server: window * maxsize, exposed for RDMA */
    HANDLE hs, hr;
    unsigned char desc[64];  /* the server's region descriptor (client) */
    DWORD desclen;
#ifdef SANPERF_HAVE_SWITCH
    sw_socket *sw;
#endif
} C;

static size_t rbuf_len(void) { return (size_t)cfg.window * cfg.maxsize; }

static void tcp_nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        die("TCP_NODELAY: %s", strerror(errno));
}

/* The kernel TCP connection of the tcp_* rows: a listener on the test address (its port in
 * *port), then the one connection accepted from it; the client connects to that port. */
static int tcp_listen_any(uint16_t *port)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = test_address();
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
        die("TCP listener: %s", strerror(errno));
    *port = ntohs(a.sin_port);
    return lfd;
}

static int tcp_accept_one(int lfd)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        die("accept: %s", strerror(errno));
    tcp_nodelay(fd);
    close(lfd);
    return fd;
}

static int tcp_connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = test_address();
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("TCP connect: %s", strerror(errno));
    tcp_nodelay(fd);
    return fd;
}

static void wsp_buffers(int server)
{
    int err = 0;
    load_extensions(C.ws);
    C.sbuf = alloc(cfg.maxsize);
    C.rbuf = alloc(rbuf_len());
    C.ctl_in = alloc(CTL_LEN);
    C.ctl_out = alloc(CTL_LEN);
    C.hs = reg_mem(C.ws, C.sbuf, (DWORD)cfg.maxsize, MEM_READ, &err);
    C.hr = reg_mem(C.ws, C.rbuf, (DWORD)rbuf_len(), MEM_WRITE, &err);
    if (!C.hs || !C.hr || !reg_mem(C.ws, C.ctl_in, CTL_LEN, MEM_WRITE, &err) ||
        !reg_mem(C.ws, C.ctl_out, CTL_LEN, MEM_READ, &err))
        die("WSPRegisterMemory: %d", err);
    if (server) {
        C.region = alloc(rbuf_len());
        DWORD len = sizeof C.desc;
        if (reg_rdma(C.ws, C.region, (DWORD)rbuf_len(), MEM_READWRITE, C.desc, &len, &err) != 0)
            die("WSPRegisterRdmaMemory: %d", err);
        C.desclen = len;
    }
}

/* Server of phase 0: kernel TCP listener and provider listener, both on 127.0.0.1. */
static void setup_server0(void)
{
    int err = 0;
    uint16_t tport;
    int lfd = tcp_listen_any(&tport);

    provider_load();
    /* Provider listener: the soft transport listens on kernel port map(P) = P + offset, so try
     * a few application ports until both are free. */
    SOCKET l = INVALID_SOCKET;
    uint16_t wport = 0;
    for (int i = 0; i < 200 && l == INVALID_SOCKET; i++) {
        wport = (uint16_t)(20000 + (getpid() * 7 + i * 131) % 25000);
        l = P.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, &err);
        if (l == INVALID_SOCKET)
            die("WSPSocket: %d", err);
        struct sockaddr_in w = { .sin_family = AF_INET, .sin_port = htons(wport) };
        w.sin_addr.s_addr = test_address();
        if (P.lpWSPBind(l, (struct sockaddr *)&w, sizeof w, &err) != 0 ||
            P.lpWSPListen(l, 4, &err) != 0) {
            P.lpWSPCloseSocket(l, &err);
            l = INVALID_SOCKET;
        }
    }
    if (l == INVALID_SOCKET)
        die("no free port for the provider listener (last error %d)", err);
    WSAEVENT e = ev_create();
    if (P.lpWSPEventSelect(l, e, FD_ACCEPT, &err) != 0)
        die("WSPEventSelect(FD_ACCEPT): %d", err);

    uint16_t ports[2] = { tport, wport };
    ctl_put(ports, sizeof ports);

    C.tcp = tcp_accept_one(lfd);

    C.ws = INVALID_SOCKET;
    double deadline = now() + 20;
    while (C.ws == INVALID_SOCKET) {
        C.ws = P.lpWSPAccept(l, NULL, NULL, NULL, 0, &err);
        if (C.ws != INVALID_SOCKET)
            break;
        if (err != WSAEWOULDBLOCK || now() > deadline)
            die("WSPAccept: %d", err);
        WSANETWORKEVENTS ne;
        ev_wait(1, &e, FALSE, 200, FALSE);
        P.lpWSPEnumNetworkEvents(l, e, &ne, &err);
    }
    P.lpWSPCloseSocket(l, &err);
    ev_close(e);
    wsp_buffers(1);

    /* The region descriptor goes to the client in a message, once its receive is posted. */
    ctl_expect(CTL_READY);
    op o;
    memcpy(C.ctl_out, C.desc, C.desclen);
    wsp_send(C.ws, &o, C.ctl_out, C.desclen);
    wsp_wait(C.ws, &o, "descriptor send");
}

static void setup_client0(void)
{
    int err = 0;
    uint16_t ports[2];
    ctl_get(ports, sizeof ports);

    C.tcp = tcp_connect_to(ports[0]);

    provider_load();
    C.ws = P.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, &err);
    struct sockaddr_in local = { .sin_family = AF_INET };
    local.sin_addr.s_addr = test_address();
    if (C.ws == INVALID_SOCKET || P.lpWSPBind(C.ws, (struct sockaddr *)&local, sizeof local, &err))
        die("WSPSocket/WSPBind: %d", err);
    struct sockaddr_in remote = { .sin_family = AF_INET, .sin_port = htons(ports[1]) };
    remote.sin_addr.s_addr = test_address();
    if (P.lpWSPConnect(C.ws, (struct sockaddr *)&remote, sizeof remote, NULL, NULL, NULL, NULL,
                       &err) != 0)
        die("WSPConnect to 127.0.0.1:%u: %d", ports[1], err);
    wsp_buffers(0);

    op o;
    wsp_recv(C.ws, &o, C.ctl_in, CTL_LEN);
    ctl_word(CTL_READY);
    C.desclen = wsp_wait(C.ws, &o, "descriptor receive");
    if (C.desclen == 0 || C.desclen > sizeof C.desc)
        die("descriptor of %u bytes", C.desclen);
    memcpy(C.desc, C.ctl_in, C.desclen);
}

#ifdef SANPERF_HAVE_SWITCH
static ssize_t sws_send_fn(void *h, const void *buf, size_t len) { return sw_send(h, buf, len); }
static ssize_t sws_recv_fn(void *h, void *buf, size_t len) { return sw_recv(h, buf, len); }

/* The switch pair also carries a kernel TCP connection: the tcp_*_sw rows measure TCP right
 * before the switch rows, in the same processes. */
static void setup_switch(int server)
{
    uint16_t tport;
    if (server) {
        int lfd = tcp_listen_any(&tport);
        ctl_put(&tport, sizeof tport);
        C.tcp = tcp_accept_one(lfd);
    } else {
        ctl_get(&tport, sizeof tport);
        C.tcp = tcp_connect_to(tport);
    }
    if (sw_init(cfg.provider) != 0)
        die("sw_init(%s) failed", cfg.provider);
    C.sbuf = alloc(cfg.maxsize);
    C.rbuf = alloc(cfg.maxsize);
    if (server) {
        sw_socket *l = sw_listen("127.0.0.1", 0, 4);
        if (!l)
            die("sw_listen: %s", strerror(errno));
        uint16_t port = sw_port(l);
        ctl_put(&port, sizeof port);
        C.sw = sw_accept(l);
        if (!C.sw)
            die("sw_accept: %s", strerror(errno));
        sw_close(l);
    } else {
        uint16_t port;
        ctl_get(&port, sizeof port);
        C.sw = sw_connect("127.0.0.1", port);
        if (!C.sw)
            die("sw_connect: %s", strerror(errno));
        copy_str(SH->sw_path, sizeof SH->sw_path, sw_path(C.sw));
        sw_provider_info info;
        sw_get_provider_info(&info);
        copy_str(SH->sw_desc, sizeof SH->sw_desc, info.description);
    }
}
#endif

/* ---- iteration counts ----------------------------------------------------------------------- */
static long lat_iters(size_t size)
{
    long n = size <= 4 * KIB ? 5000 : size <= 32 * KIB ? 3000 : size <= 64 * KIB ? 2000
           : size <= 256 * KIB ? 1000 : size <= MIB ? 300 : 100;
    if (cfg.quick)
        n = n / 10 < 20 ? 20 : n / 10;
    return n;
}

static long lat_warm(size_t size)
{
    long n = lat_iters(size) / 10;
    return n < 10 ? 10 : n;
}

static long clampl(long v, long lo, long hi) { return v < lo ? lo : v > hi ? hi : v; }

/* A latency test stops early (after at least 50 timed round trips) past this many seconds. */
static double lat_cap(void) { return cfg.quick ? 1.0 : 3.0; }

/* Whether round trip i (of warm + n) is the client's last; marks the ping accordingly. A chunk
 * past `cap` seconds stops early, after at least 50 timed round trips (or all of a smaller n). */
static int last_round(long i, long warm, long n, double start, double cap)
{
    long least = n < 50 ? n : 50;
    int last = i + 1 == warm + n || (i >= warm + least && now() - start > cap);
    C.sbuf[0] = (unsigned char)last;
    return last;
}

/* ---- the tests: server side ------------------------------------------------------------------- */
/* Ping-pong servers answer until a ping whose first byte is 1 (the client's last round: it may
 * stop before `count` when a test runs past its time cap). */
static void serve_stream_lat(const stream *st, const cmd *c)
{
    ctl_word(CTL_READY);
    for (int last = 0; !last;) {
        if (recv_all(st, C.rbuf, c->size))
            die("ping-pong (%s): %s", ROWS[c->row].name, strerror(errno));
        last = C.rbuf[0] == 1;
        if (send_all(st, C.sbuf, c->size))
            die("ping-pong (%s): %s", ROWS[c->row].name, strerror(errno));
    }
    ctl_word(CTL_DONE);
}

static void serve_stream_bw(const stream *st, const cmd *c)
{
    ctl_word(CTL_READY);
    size_t left = (size_t)c->count * c->size;
    while (left) {
        size_t want = left < c->size ? left : c->size;
        ssize_t n = st->recv(st->h, C.rbuf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("stream receive (%s): %s", ROWS[c->row].name, n ? strerror(errno) : "closed");
        left -= (size_t)n;
    }
    ctl_word(CTL_DONE);
}

static void serve_wsp_lat(const cmd *c)
{
    op r, s;
    wsp_recv(C.ws, &r, C.rbuf, c->size);
    ctl_word(CTL_READY);
    for (int last = 0; !last;) {
        wsp_wait_len(C.ws, &r, c->size, "ping receive");
        last = C.rbuf[0] == 1;
        if (!last)
            wsp_recv(C.ws, &r, C.rbuf, c->size); /* before the pong: the next ping may follow at once */
        wsp_send(C.ws, &s, C.sbuf, c->size);
        wsp_wait(C.ws, &s, "pong send");
    }
    ctl_word(CTL_DONE);
}

static void serve_wsp_bw(const cmd *c)
{
    static op ops[MAX_WINDOW];
    long n = c->count, w = cfg.window;
    for (long i = 0; i < n && i < w; i++)
        wsp_recv(C.ws, &ops[i], C.rbuf + (size_t)i * c->size, c->size);
    ctl_word(CTL_READY);
    for (long i = 0; i < n; i++) {
        op *o = &ops[i % w];
        wsp_wait_len(C.ws, o, c->size, "streaming receive");
        if (i + w < n)
            wsp_recv(C.ws, o, C.rbuf + (size_t)(i % w) * c->size, c->size);
    }
    ctl_word(CTL_DONE);
}

static void serve_rdma(void)
{
    op o;
    wsp_recv(C.ws, &o, C.ctl_in, CTL_LEN);
    ctl_word(CTL_READY);
    wsp_wait(C.ws, &o, "final message");
    ctl_word(CTL_DONE);
}

/* ---- the tests: client side ------------------------------------------------------------------- */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double q)
{
    long i = (long)ceil(q * (double)n) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* rtt[] in seconds -> one-way latency statistics in µs. */
static void lat_result(result *r, double *rtt, long n, double secs)
{
    qsort(rtt, (size_t)n, sizeof *rtt, cmp_double);
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += rtt[i];
    r->iters = n;
    r->min_us = rtt[0] / 2 * 1e6;
    r->med_us = pct(rtt, n, 0.5) / 2 * 1e6;
    r->p99_us = pct(rtt, n, 0.99) / 2 * 1e6;
    r->p999_us = pct(rtt, n, 0.999) / 2 * 1e6;
    r->mean_us = sum / (double)n / 2 * 1e6;
    r->secs = secs;
    r->state = 1;
}

static void send_cmd(int row, size_t size, long count, long warm)
{
    cmd c = { row, (uint32_t)size, count, warm };
    ctl_put(&c, sizeof c);
    ctl_expect(CTL_READY);
}

/* One chunk of a latency test: `warm` untimed round trips, then up to `n` timed ones whose RTTs
 * are appended at rtt[*done]. Returns the seconds the timed part took. */
static double lat_chunk(int row, const stream *st, size_t size, long n, long warm, double cap,
                        double *rtt, long *done)
{
    op rv, s;
    send_cmd(row, size, n, warm);
    double start = now(), timed = 0;
    for (long i = 0, last = 0; !last; i++) {
        last = last_round(i, warm, n, start, cap);
        double t0 = now();
        if (row == R_WSP_LAT) {
            wsp_recv(C.ws, &rv, C.rbuf, size); /* posted before the ping, so the pong has a home */
            wsp_send(C.ws, &s, C.sbuf, size);
            wsp_wait(C.ws, &s, "ping send");
            wsp_wait_len(C.ws, &rv, size, "pong receive");
        } else if (send_all(st, C.sbuf, size) || recv_all(st, C.rbuf, size)) {
            die("ping-pong (%s): %s", ROWS[row].name, strerror(errno));
        }
        double t1 = now();
        if (i >= warm) {
            rtt[(*done)++] = t1 - t0;
            timed += t1 - t0;
        }
    }
    ctl_expect(CTL_DONE);
    return timed;
}

/* Slices per side when a row is measured interleaved with its TCP reference (see client_lat). */
#define PAIR_SLICES 4

/* The side (0 the reference, 1 the row) that runs j-th (j = 0, 1) in slice k: ABBA order
 * (ref,row, row,ref, ref,row, row,ref), so a drift in machine speed that is linear over the
 * test weighs both sides equally. */
static int pair_side(int k, int j) { return k % 2 == 0 ? j : 1 - j; }

/* A latency row. A provider / switch row is measured in PAIR_SLICES chunks interleaved with
 * chunks of its TCP reference workload (over the reference's stream) and the reference's
 * median from those chunks is kept with the row (result.pair): the ratio then compares two
 * medians taken in the same seconds, not minutes apart on a host whose speed wanders. */
static void client_lat(int row, const stream *st, const stream *ref_st, size_t size, result *r)
{
    long n = lat_iters(size), warm = lat_warm(size);
    int ref = ROWS[row].ref;
    double *rtt[2] = { malloc(sizeof(double) * (size_t)n), malloc(sizeof(double) * (size_t)n) };
    long done[2] = { 0, 0 };
    double secs = 0;
    if (!rtt[0] || !rtt[1])
        die("out of memory");
    if (ref < 0) {
        secs = lat_chunk(row, st, size, n, warm, lat_cap(), rtt[1], &done[1]);
    } else {
        long cn = n / PAIR_SLICES, cw = warm / PAIR_SLICES < 10 ? 10 : warm / PAIR_SLICES;
        double cap = lat_cap() / PAIR_SLICES;
        for (int k = 0; k < PAIR_SLICES; k++)
            for (int j = 0; j < 2; j++) {
                int side = pair_side(k, j);
                double t = lat_chunk(side ? row : ref, side ? st : ref_st, size, cn, cw, cap,
                                     rtt[side], &done[side]);
                if (side)
                    secs += t;
            }
        result pr = { 0 };
        lat_result(&pr, rtt[0], done[0], 0);
        r->pair = pr.med_us;
    }
    lat_result(r, rtt[1], done[1], secs);
    free(rtt[0]);
    free(rtt[1]);
}

/* One bandwidth pass of `count` messages/operations; returns seconds. */
static double bw_pass(int row, const stream *st, size_t size, long count)
{
    static op ops[MAX_WINDOW];
    long w = cfg.window;
    send_cmd(row, size, count, 0);
    double t0 = now(), t1;
    switch (row) {
    case R_TCP_BW:
    case R_TCP_BW_SW:
    case R_SW_BW:
        for (long i = 0; i < count; i++)
            if (send_all(st, C.sbuf, size))
                die("stream send (%s): %s", ROWS[row].name, strerror(errno));
        ctl_expect(CTL_DONE);
        t1 = now();
        break;
    case R_WSP_BW:
        for (long i = 0; i < count; i++) {
            if (i >= w)
                wsp_wait(C.ws, &ops[i % w], "streaming send");
            wsp_send(C.ws, &ops[i % w], C.sbuf, size);
        }
        for (long i = count > w ? count - w : 0; i < count; i++)
            wsp_wait(C.ws, &ops[i % w], "streaming send");
        ctl_expect(CTL_DONE);
        t1 = now();
        break;
    default: { /* RDMA write / read */
        int wr = row == R_RDMA_WRITE_BW;
        for (long i = 0; i < count; i++) {
            op *o = &ops[i % w];
            size_t slot = (size_t)(i % w) * size;
            if (i >= w)
                wsp_wait_len(C.ws, o, size, wr ? "RDMA write" : "RDMA read");
            wsp_rdma(wr, C.ws, o, wr ? C.sbuf : C.rbuf + slot, size, wr ? C.hs : C.hr, C.desc,
                     C.desclen, (DWORD)slot);
        }
        for (long i = count > w ? count - w : 0; i < count; i++)
            wsp_wait_len(C.ws, &ops[i % w], size, wr ? "RDMA write" : "RDMA read");
        t1 = now(); /* every write acknowledged as placed / every read's bytes here */
        op f;
        memcpy(C.ctl_out, "fin", 3);
        wsp_send(C.ws, &f, C.ctl_out, 3);
        wsp_wait(C.ws, &f, "final message");
        ctl_expect(CTL_DONE);
        break;
    }
    }
    return t1 - t0;
}

/* Messages for a pass of about `secs` seconds at the rate a `count`-message pass took `t` for. */
static long pass_size(long count, double t, double secs, long at_least)
{
    return clampl((long)((double)count / (t > 0 ? t : 1e-6) * secs), at_least, 20000000);
}

/* Slices per side of a paired bandwidth row: about BW_SLICE_SECS each, at least PAIR_SLICES,
 * an even number (ABBA), at most BW_SLICES_MAX. */
#define BW_SLICE_SECS 0.025
#define BW_SLICES_MAX 200

static int bw_slices(void)
{
    int k = (int)(cfg.duration / BW_SLICE_SECS + 0.5);
    k = k < PAIR_SLICES ? PAIR_SLICES : k > BW_SLICES_MAX ? BW_SLICES_MAX : k;
    return k + (k & 1);
}

/* A bandwidth row. Alone (the TCP rows): a calibration pass (also the warm-up), then a pass of
 * cfg.duration. Paired (provider / switch rows, like client_lat): after a calibration pass of
 * each, bw_slices() slices of the row and of its TCP reference in ABBA order, each about
 * BW_SLICE_SECS; each side's MB/s is its bytes over its time. Why short slices: loopback TCP
 * on a shared VM drops to a third of its rate for 50-150 ms at a time; a quarter-second slice
 * caught such a dip on one side only and moved a round's ratio by up to ±0.3, while 25 ms
 * slices in ABBA order spread every dip over both sides. */
static void client_bw(int row, const stream *st, const stream *ref_st, size_t size, result *r)
{
    long w = cfg.window;
    long n0 = clampl((long)((cfg.quick ? 4 : 16) * MIB / size), 2 * w, cfg.quick ? 2000 : 10000);
    int ref = ROWS[row].ref;
    if (ref < 0) {
        double t = bw_pass(row, st, size, n0);
        long n = pass_size(n0, t, cfg.duration, 2 * w);
        t = bw_pass(row, st, size, n);
        /* A cold first pass (slow start, first-touch page faults) under-estimates the rate, and
         * a pass much shorter than asked measures mostly noise: size it again from this pass. */
        for (int k = 0; k < 3 && t < cfg.duration / 2 && n < 20000000; k++) {
            n = pass_size(n, t, cfg.duration, n + 1);
            t = bw_pass(row, st, size, n);
        }
        r->iters = n;
        r->secs = t;
        r->mbps = (double)n * (double)size / 1e6 / t;
        r->state = 1;
        return;
    }
    const int rows[2] = { ref, row };
    const stream *sts[2] = { ref_st, st };
    int slices = bw_slices();
    double secs[2] = { 0, 0 };
    long n[2], total[2] = { 0, 0 };
    for (int side = 0; side < 2; side++)
        n[side] = pass_size(n0, bw_pass(rows[side], sts[side], size, n0), BW_SLICE_SECS, 2 * w);
    for (int k = 0; k < slices; k++)
        for (int j = 0; j < 2; j++) {
            int side = pair_side(k, j);
            double t = bw_pass(rows[side], sts[side], size, n[side]);
            secs[side] += t;
            total[side] += n[side];
            n[side] = pass_size(n[side], t, BW_SLICE_SECS, 2 * w); /* the next slice from this one's rate */
        }
    r->iters = total[1];
    r->secs = secs[1];
    r->mbps = (double)total[1] * (double)size / 1e6 / secs[1];
    r->pair = (double)total[0] * (double)size / 1e6 / secs[0];
    r->state = 1;
}

/* ---- the two roles ---------------------------------------------------------------------------- */
static void progress(int k, int total, int row, size_t size)
{
    char sz[24];
    fprintf(stderr, "[%d/%d] %s %s...\n", k, total, ROWS[row].name, size_str(size, sz, sizeof sz));
}

/* Connects one side of a phase: kernel TCP plus the provider (0) or plus the switch (1). */
static void open_phase(int server, int phase, stream *tcp, stream *sw)
{
    (void)sw; /* unused when built without the switch */
    if (phase == 0) {
        if (server)
            setup_server0();
        else
            setup_client0();
    } else {
#ifdef SANPERF_HAVE_SWITCH
        setup_switch(server);
        *sw = (stream){ sws_send_fn, sws_recv_fn, C.sw };
        if (!server && strcmp(SH->sw_path, "provider") != 0)
            fprintf(stderr, "sanperf: warning: the switch connection took the %s path\n",
                    SH->sw_path);
#endif
    }
    *tcp = (stream){ tcp_send, tcp_recv, (void *)(intptr_t)C.tcp };
}

#ifdef SANPERF_HAVE_SWITCH
static void close_switch_phase(void)
{
    sw_close(C.sw);
    sw_cleanup();
    close(C.tcp);
}
#endif

static int run_server(int phase)
{
    role = "server";
    stream tcp, sw = { 0 };
    open_phase(1, phase, &tcp, &sw);
    for (;;) {
        cmd c;
        ctl_get(&c, sizeof c);
        if (c.row < 0)
            break;
        if (c.size > cfg.maxsize || c.row >= NROWS)
            die("bad command");
        switch (c.row) {
        case R_TCP_LAT: case R_TCP_LAT_SW: serve_stream_lat(&tcp, &c); break;
        case R_SW_LAT: serve_stream_lat(&sw, &c); break;
        case R_TCP_BW: case R_TCP_BW_SW: serve_stream_bw(&tcp, &c); break;
        case R_SW_BW: serve_stream_bw(&sw, &c); break;
        case R_WSP_LAT: serve_wsp_lat(&c); break;
        case R_WSP_BW: serve_wsp_bw(&c); break;
        default: serve_rdma(); break;
        }
    }
#ifdef SANPERF_HAVE_SWITCH
    if (phase == 1) {
        close_switch_phase();
        return 0;
    }
#endif
    /* Wait for the client's close so no data is lost in flight, then close. */
    ctl_expect(CTL_DONE);
    int err;
    P.lpWSPCloseSocket(C.ws, &err);
    close(C.tcp);
    P.lpWSPCleanup(&err);
    return 0;
}

static int run_client(int phase, int from)
{
    role = "client";
    stream tcp, sw = { 0 };
    open_phase(0, phase, &tcp, &sw);
    for (int i = from; i < nplan; i++) {
        const test *t = &plan[i];
        if (ROWS[t->row].phase != phase)
            continue;
        size_t size = cfg.sizes[t->si];
        result *r = &SH->r[t->row][t->si];
        __atomic_store_n(&SH->cur, i, __ATOMIC_RELEASE);
        progress(i + 1, nplan, t->row, size);
        switch (t->row) {
        case R_SW_LAT: client_lat(t->row, &sw, &tcp, size, r); break;
        case R_SW_BW: client_bw(t->row, &sw, &tcp, size, r); break;
        default:
            if (ROWS[t->row].lat)
                client_lat(t->row, &tcp, &tcp, size, r);
            else
                client_bw(t->row, &tcp, &tcp, size, r);
            break;
        }
    }
    cmd end = { -1, 0, 0, 0 };
    ctl_put(&end, sizeof end);
#ifdef SANPERF_HAVE_SWITCH
    if (phase == 1) {
        close_switch_phase();
        return 0;
    }
#endif
    int err;
    P.lpWSPCloseSocket(C.ws, &err);
    close(C.tcp);
    ctl_word(CTL_DONE);
    P.lpWSPCleanup(&err);
    return 0;
}

/* Runs one phase from plan index `from`: a server and a client process. Returns 0 if both
 * exited cleanly. When one fails, the other is given a few seconds, then killed. */
/* Pins the calling process (and the threads it starts, the provider's engine among them) to
 * one CPU, so TCP and the provider are measured with the same placement: on small virtual
 * machines an unpinned ping-pong flips between same-CPU (fast) and cross-CPU wake-ups. */
static void pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fprintf(stderr, "sanperf: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
}

static int run_phase(int phase, int from)
{
    SH->cur = -1;
    SH->err_set = 0;
    SH->err[0] = 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair: %s", strerror(errno));
    fflush(NULL);
    pid_t ps = fork();
    if (ps < 0)
        die("fork: %s", strerror(errno));
    if (ps == 0) {
        close(sv[0]);
        ctl_fd = sv[1];
        pin(cfg.cpu[0]);
        alarm(cfg.quick ? 120 : 600);
        _exit(run_server(phase));
    }
    pid_t pc = fork();
    if (pc < 0)
        die("fork: %s", strerror(errno));
    if (pc == 0) {
        close(sv[1]);
        ctl_fd = sv[0];
        pin(cfg.cpu[1]);
        alarm(cfg.quick ? 120 : 600);
        int rc = run_client(phase, from);
        fflush(NULL);
        _exit(rc);
    }
    close(sv[0]);
    close(sv[1]);
    int bad = 0, left = 2;
    double kill_at = 0;
    pid_t live[2] = { ps, pc };
    while (left) {
        int status = 0;
        pid_t p = waitpid(-1, &status, kill_at ? WNOHANG : 0);
        if (p < 0 && errno == EINTR)
            continue;
        if (p < 0)
            break;
        if (p == 0) {
            if (now() > kill_at)
                for (int i = 0; i < 2; i++)
                    if (live[i])
                        kill(live[i], SIGKILL);
            usleep(20000);
            continue;
        }
        left--;
        for (int i = 0; i < 2; i++)
            if (live[i] == p)
                live[i] = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            if (!bad && WIFSIGNALED(status) &&
                __atomic_exchange_n(&SH->err_set, 1, __ATOMIC_ACQ_REL) == 0)
                snprintf(SH->err, sizeof SH->err, "%s killed by signal %d",
                         p == ps ? "server" : "client", WTERMSIG(status));
            bad = 1;
            /* The other one normally sees the control channel close and exits too. */
            if (!kill_at)
                kill_at = now() + 5;
        }
    }
    return bad;
}

/* ---- machine facts ------------------------------------------------------------------------ */
static struct {
    long nproc;
    char cpu[128], kernel[160], load[64];
} M;

static void machine_facts(void)
{
    M.nproc = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(M.cpu, sizeof M.cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                p[strcspn(p, "\n")] = 0;
                copy_str(M.cpu, sizeof M.cpu, p);
            }
            break;
        }
    }
    if (f)
        fclose(f);
    struct utsname u;
    if (uname(&u) == 0) {
        char k[3 * sizeof u.release + 3];
        snprintf(k, sizeof k, "%s %s %s", u.sysname, u.release, u.machine);
        copy_str(M.kernel, sizeof M.kernel, k);
    }
    f = fopen("/proc/loadavg", "r");
    if (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        copy_str(M.load, sizeof M.load, line);
    }
    if (f)
        fclose(f);
}

/* ---- report ------------------------------------------------------------------------------------ */
/* A row's reference figure: the TCP workload measured interleaved with it (result.pair). */
static double ref_value(int row, int si)
{
    if (ROWS[row].ref < 0)
        return NAN;
    const result *r = &SH->r[row][si];
    if (r->state == 1 && r->pair > 0)
        return r->pair;
    r = &SH->r[ROWS[row].ref][si];
    if (r->state != 1)
        return NAN;
    return ROWS[row].lat ? r->med_us : r->mbps;
}

static double value(int row, int si)
{
    const result *r = &SH->r[row][si];
    if (r->state != 1)
        return NAN;
    return ROWS[row].lat ? r->med_us : r->mbps;
}

/* Ratios are taken per round (row against the reference slices interleaved with it) and the
 * median over the rounds is reported. */
#define MAX_ROUNDS 9
static result rounds[MAX_ROUNDS][NROWS][MAX_SIZES];
static int nrounds_done;
static double round_ratio(int k, int row, int si)
{
    const result *r = &rounds[k][row][si];
    if (ROWS[row].ref < 0 || r->state != 1 || !(r->pair > 0))
        return NAN;
    return ROWS[row].lat ? r->med_us / r->pair : r->mbps / r->pair;
}

static double median_of(double *v, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            v[m++] = v[i];
    if (m == 0)
        return NAN;
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
}

static double ratio(int row, int si)
{
    if (nrounds_done <= 1)
        return value(row, si) / ref_value(row, si);
    double v[MAX_ROUNDS];
    for (int k = 0; k < nrounds_done; k++)
        v[k] = round_ratio(k, row, si);
    return median_of(v, nrounds_done);
}

/* The reported figures: per-field medians over the rounds (a failed round does not count). */
static void combine_rounds(void)
{
    for (int row = 0; row < NROWS; row++)
        for (int si = 0; si < cfg.nsizes; si++) {
            result *out = &SH->r[row][si];
            double med[MAX_ROUNDS], p99[MAX_ROUNDS], p999[MAX_ROUNDS], mbps[MAX_ROUNDS];
            double pair[MAX_ROUNDS];
            int ok = 0;
            for (int k = 0; k < nrounds_done; k++) {
                const result *r = &rounds[k][row][si];
                med[k] = r->state == 1 ? r->med_us : NAN;
                p99[k] = r->state == 1 ? r->p99_us : NAN;
                p999[k] = r->state == 1 ? r->p999_us : NAN;
                mbps[k] = r->state == 1 ? r->mbps : NAN;
                pair[k] = r->state == 1 && r->pair > 0 ? r->pair : NAN;
                ok += r->state == 1;
                if (r->state != 0 && out->state == 0)
                    *out = *r;
                if (r->state == 2)
                    *out = *r; /* keep a failure's note visible */
            }
            if (ok > 0) {
                out->state = 1;
                out->med_us = median_of(med, nrounds_done);
                out->p99_us = median_of(p99, nrounds_done);
                out->p999_us = median_of(p999, nrounds_done);
                out->mbps = median_of(mbps, nrounds_done);
                out->pair = median_of(pair, nrounds_done);
                if (isnan(out->pair))
                    out->pair = 0;
            }
        }
}

static int size_index(size_t size)
{
    for (int i = 0; i < cfg.nsizes; i++)
        if (cfg.sizes[i] == size)
            return i;
    return -1;
}

static void print_table(void)
{
    char sz[24];
    printf("\nsanperf: %s\n", cfg.provider);
    printf("machine: %ld CPUs, %s, %s; load average at start %s\n", M.nproc, M.cpu, M.kernel,
           M.load);
    if (SH->sw_path[0])
        printf("switch:  connection over %s (provider \"%s\")\n", SH->sw_path, SH->sw_desc);
    printf("\n'tcp' columns: the row's TCP reference workload measured interleaved with the row "
           "(ABBA order;\nlatency %d chunks each, bandwidth %d slices of about %.0f ms each), so both "
           "see the same machine;\nthe tcp_* rows are separate runs.\n", PAIR_SLICES, bw_slices(),
           BW_SLICE_SECS * 1000);
    printf("\nLatency (one-way = RTT/2, us; ratio = median / tcp_lat median, lower is better)\n");
    printf("%-14s %7s %7s %10s %10s %10s %10s %8s\n", "row", "size", "iters", "median", "p99",
           "p99.9", "tcp med", "ratio");
    for (int row = 0; row < NROWS; row++) {
        if (!ROWS[row].lat || !cfg.rows[row])
            continue;
        for (int si = 0; si < cfg.nsizes; si++) {
            const result *r = &SH->r[row][si];
            printf("%-14s %7s ", ROWS[row].name, size_str(cfg.sizes[si], sz, sizeof sz));
            if (r->state != 1) {
                printf("%7s  %s\n", "-", r->state == 2 ? r->note : "not run");
                continue;
            }
            printf("%7ld %10.2f %10.2f %10.2f", r->iters, r->med_us, r->p99_us, r->p999_us);
            double ref = ref_value(row, si);
            if (!isnan(ref))
                printf(" %10.2f %8.2f", ref, ratio(row, si));
            printf("\n");
        }
    }
    printf("\nBandwidth (MB/s, 1 MB = 10^6 bytes; ratio = row / tcp_bw, higher is better)\n");
    printf("%-14s %7s %9s %8s %10s %10s %8s\n", "row", "size", "msgs", "secs", "MB/s", "tcp MB/s",
           "ratio");
    for (int row = 0; row < NROWS; row++) {
        if (ROWS[row].lat || !cfg.rows[row])
            continue;
        for (int si = 0; si < cfg.nsizes; si++) {
            const result *r = &SH->r[row][si];
            printf("%-14s %7s ", ROWS[row].name, size_str(cfg.sizes[si], sz, sizeof sz));
            if (r->state != 1) {
                printf("%9s  %s\n", "-", r->state == 2 ? r->note : "not run");
                continue;
            }
            printf("%9ld %8.3f %10.1f", r->iters, r->secs, r->mbps);
            double ref = ref_value(row, si);
            if (!isnan(ref))
                printf(" %10.1f %8.2f", ref, ratio(row, si));
            printf("\n");
        }
    }
}

/* ---- targets ---------------------------------------------------------------------------------- */
typedef struct check {
    char name[64];
    int row;
    size_t size;
    double value, ref, limit; /* limit = the factor */
    double ratio;             /* median over the rounds of value / ref */
    int state;                /* 1 pass, 0 fail, -1 skipped */
    char why[80];
} check;
static check checks[64];
static int nchecks;

static void add_check(int row, size_t size, double factor)
{
    check *c = &checks[nchecks++];
    char sz[24];
    memset(c, 0, sizeof *c);
    c->row = row;
    c->size = size;
    c->limit = factor;
    snprintf(c->name, sizeof c->name, "%s %s", ROWS[row].name, size_str(size, sz, sizeof sz));
    int si = size_index(size);
    c->state = -1;
    c->value = c->ref = NAN;
    if (!cfg.rows[row])
        snprintf(c->why, sizeof c->why, "row not selected");
    else if (si < 0)
        snprintf(c->why, sizeof c->why, "size not measured");
    else {
        c->value = value(row, si);
        c->ref = ref_value(row, si);
        if (isnan(c->value))
            snprintf(c->why, sizeof c->why, "no measurement");
        else if (isnan(c->ref))
            snprintf(c->why, sizeof c->why, "no %s measurement", ROWS[ROWS[row].ref].name);
        else {
            /* The same median-of-per-round ratios as the table. */
            c->ratio = ratio(row, si);
            c->state = ROWS[row].lat ? c->ratio <= factor : c->ratio >= factor;
        }
    }
}

static int run_checks(void)
{
    nchecks = 0;
    for (int si = 0; si < cfg.nsizes; si++)
        if (cfg.sizes[si] <= 4 * KIB) {
            add_check(R_WSP_LAT, cfg.sizes[si], 1.15);
        }
    add_check(R_WSP_BW, 64 * KIB, 0.85);
    add_check(R_RDMA_WRITE_BW, MIB, 0.85);
#ifdef SANPERF_HAVE_SWITCH
    for (int si = 0; si < cfg.nsizes; si++)
        if (cfg.sizes[si] <= 4 * KIB)
            add_check(R_SW_LAT, cfg.sizes[si], 1.15);
    add_check(R_SW_BW, 64 * KIB, 0.85);
#endif
    int misses = 0;
    printf("\nTargets (informational unless --check)\n");
    for (int i = 0; i < nchecks; i++) {
        check *c = &checks[i];
        const char *unit = ROWS[c->row].lat ? "us" : "MB/s";
        const char *ref = ROWS[ROWS[c->row].ref].name;
        if (c->state < 0) {
            printf("SKIP %-18s (%s)\n", c->name, c->why);
            continue;
        }
        misses += c->state == 0;
        printf("%s %-18s %.2f %s %s %.2f x %s (%.2f %s): ratio %.2f", c->state ? "PASS" : "FAIL",
               c->name, c->value, unit, ROWS[c->row].lat ? "<=" : ">=", c->limit, ref,
               c->ref, unit, c->ratio);
        /* Each round's ratio too: how far from the limit the spread reaches. */
        int si = size_index(c->size);
        for (int k = 0; nrounds_done > 1 && k < nrounds_done; k++)
            printf("%s%.2f", k ? " " : " (rounds ", round_ratio(k, c->row, si));
        printf("%s\n", nrounds_done > 1 ? ")" : "");
    }
    return misses;
}

/* ---- CSV / JSON ------------------------------------------------------------------------------- */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isnan(v) || isinf(v))
        fprintf(f, "null");
    else
        fprintf(f, "%.4f", v);
}

static void csv_num(FILE *f, double v)
{
    if (!isnan(v) && !isinf(v))
        fprintf(f, "%.4f", v);
}

static void csv_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void write_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "sanperf: %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "row,kind,size,iters,median_us,p99_us,p999_us,mean_us,min_us,mbps,secs,ref_row,"
               "ref_value,ratio,status,nproc,cpu_model,kernel,loadavg\n");
    for (int row = 0; row < NROWS; row++) {
        if (!cfg.rows[row])
            continue;
        for (int si = 0; si < cfg.nsizes; si++) {
            const result *r = &SH->r[row][si];
            int ok = r->state == 1, lat = ROWS[row].lat;
            fprintf(f, "%s,%s,%zu,%ld,", ROWS[row].name, lat ? "latency" : "bandwidth",
                    cfg.sizes[si], ok ? r->iters : 0);
            if (ok && lat) {
                csv_num(f, r->med_us), fputc(',', f), csv_num(f, r->p99_us), fputc(',', f);
                csv_num(f, r->p999_us), fputc(',', f), csv_num(f, r->mean_us), fputc(',', f);
                csv_num(f, r->min_us), fputc(',', f);
            } else
                fputs(",,,,,", f);
            if (ok && !lat)
                csv_num(f, r->mbps);
            fputc(',', f);
            if (ok)
                csv_num(f, r->secs);
            fprintf(f, ",%s,", ROWS[row].ref >= 0 ? ROWS[ROWS[row].ref].name : "");
            csv_num(f, ref_value(row, si)), fputc(',', f);
            csv_num(f, ratio(row, si));
            fputc(',', f);
            csv_str(f, ok ? "ok" : r->state == 2 ? r->note : "not run");
            fprintf(f, ",%ld,", M.nproc);
            csv_str(f, M.cpu), fputc(',', f), csv_str(f, M.kernel), fputc(',', f);
            csv_str(f, M.load), fputc('\n', f);
        }
    }
    fclose(f);
}

static void write_json(const char *path, double elapsed, int misses)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "sanperf: %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "{\n  \"tool\": \"sanperf\",\n  \"provider\": ");
    json_str(f, cfg.provider);
    fprintf(f, ",\n  \"machine\": {\"nproc\": %ld, \"cpu_model\": ", M.nproc);
    json_str(f, M.cpu);
    fprintf(f, ", \"kernel\": ");
    json_str(f, M.kernel);
    fprintf(f, ", \"loadavg_at_start\": ");
    json_str(f, M.load);
    fprintf(f, "},\n  \"config\": {\"quick\": %s, \"window\": %d, \"bw_duration_s\": %.3f, "
               "\"sizes\": [",
            cfg.quick ? "true" : "false", cfg.window, cfg.duration);
    for (int i = 0; i < cfg.nsizes; i++)
        fprintf(f, "%s%zu", i ? ", " : "", cfg.sizes[i]);
    fprintf(f, "]},\n");
    if (SH->sw_path[0]) {
        fprintf(f, "  \"switch_path\": ");
        json_str(f, SH->sw_path);
        fprintf(f, ",\n");
    }
    fprintf(f, "  \"elapsed_s\": %.2f,\n  \"results\": [", elapsed);
    int first = 1;
    for (int row = 0; row < NROWS; row++) {
        if (!cfg.rows[row])
            continue;
        for (int si = 0; si < cfg.nsizes; si++) {
            const result *r = &SH->r[row][si];
            int ok = r->state == 1, lat = ROWS[row].lat;
            fprintf(f, "%s\n    {\"row\": \"%s\", \"kind\": \"%s\", \"size\": %zu, \"status\": ",
                    first ? "" : ",", ROWS[row].name, lat ? "latency" : "bandwidth",
                    cfg.sizes[si]);
            first = 0;
            json_str(f, ok ? "ok" : r->state == 2 ? r->note : "not run");
            if (ok) {
                fprintf(f, ", \"iters\": %ld, \"secs\": ", r->iters);
                json_num(f, r->secs);
                if (lat) {
                    fprintf(f, ", \"median_us\": "), json_num(f, r->med_us);
                    fprintf(f, ", \"p99_us\": "), json_num(f, r->p99_us);
                    fprintf(f, ", \"p999_us\": "), json_num(f, r->p999_us);
                    fprintf(f, ", \"mean_us\": "), json_num(f, r->mean_us);
                    fprintf(f, ", \"min_us\": "), json_num(f, r->min_us);
                } else {
                    fprintf(f, ", \"mbps\": "), json_num(f, r->mbps);
                }
            }
            if (ROWS[row].ref >= 0) {
                fprintf(f, ", \"ref_row\": \"%s\", \"ref_value\": ", ROWS[ROWS[row].ref].name);
                json_num(f, ref_value(row, si));
                fprintf(f, ", \"ratio\": ");
                json_num(f, ratio(row, si));
                /* Each round's ratio (the reported one is their median). */
                fprintf(f, ", \"round_ratios\": [");
                for (int k = 0; k < nrounds_done; k++) {
                    fprintf(f, "%s", k ? ", " : "");
                    json_num(f, nrounds_done > 1 ? round_ratio(k, row, si) : ratio(row, si));
                }
                fprintf(f, "]");
            }
            fprintf(f, "}");
        }
    }
    fprintf(f, "\n  ],\n  \"checks\": [");
    for (int i = 0; i < nchecks; i++) {
        const check *c = &checks[i];
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        json_str(f, c->name);
        fprintf(f, ", \"result\": \"%s\", \"value\": ",
                c->state < 0 ? "skip" : c->state ? "pass" : "fail");
        json_num(f, c->value);
        fprintf(f, ", \"ref\": ");
        json_num(f, c->ref);
        fprintf(f, ", \"factor\": %.2f}", c->limit);
    }
    fprintf(f, "\n  ],\n  \"misses\": %d\n}\n", misses);
    fclose(f);
}

/* ---- arguments ---------------------------------------------------------------------------------- */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: sanperf --provider PATH/libsanwsp.so [options]\n"
            "  --sizes LIST     message sizes, e.g. 8,64,4K,1M (default "
            "8,64,512,4K,32K,64K,256K,1M,4M)\n"
            "  --rows LIST      rows to run (default all): tcp_lat,wsp_lat,sw_lat,tcp_bw,wsp_bw,"
            "sw_bw,rdma_write_bw,rdma_read_bw\n"
            "  --quick          fewer iterations, shorter bandwidth passes, one round\n"
            "  --rounds N       run everything N times, report medians (default 3, quick 1)\n"
            "  --cpus A,B       pin the server to CPU A and the client to CPU B (default 0,1 with\n"
            "                   2+ CPUs; 'none' leaves placement to the scheduler)\n"
            "  --window N       outstanding operations in the bandwidth rows (default 16)\n"
            "  --duration S     timed seconds per bandwidth row and side: a provider/switch row\n"
            "                   and its interleaved TCP reference get this much each\n"
            "                   (default 0.5, quick 0.1)\n"
            "  --csv FILE       write the results as CSV\n"
            "  --json FILE      write the results as JSON\n"
            "  --check          exit 1 when a target is missed\n");
}

static size_t parse_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': v *= KIB, end++; break;
    case 'M': v *= MIB, end++; break;
    default: break;
    }
    if (toupper((unsigned char)*end) == 'I')
        end++;
    if (toupper((unsigned char)*end) == 'B')
        end++;
    if (*end)
        return 0;
    return (size_t)v;
}

static void parse_args(int argc, char **argv)
{
    static const size_t defaults[] = { 8, 64, 512, 4 * KIB, 32 * KIB, 64 * KIB, 256 * KIB, MIB,
                                       4 * MIB };
    const char *sizes = NULL, *rows = NULL;
    double duration = 0;
    int rounds = 0;
    const char *cpus = NULL;
    cfg.window = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && next && (i++, 1))
        if (ARG("--provider"))
            cfg.provider = next;
        else if (ARG("--sizes"))
            sizes = next;
        else if (ARG("--rows"))
            rows = next;
        else if (ARG("--csv"))
            cfg.csv = next;
        else if (ARG("--json"))
            cfg.json = next;
        else if (ARG("--window"))
            cfg.window = atoi(next);
        else if (ARG("--duration"))
            duration = atof(next);
        else if (ARG("--rounds"))
            rounds = atoi(next);
        else if (ARG("--cpus"))
            cpus = next;
        else if (strcmp(a, "--quick") == 0)
            cfg.quick = 1;
        else if (strcmp(a, "--check") == 0)
            cfg.check = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "sanperf: bad argument %s\n", a);
            usage(stderr);
            exit(2);
        }
#undef ARG
    }
    if (!cfg.provider)
        cfg.provider = getenv("SANWSP_PROVIDER") ? getenv("SANWSP_PROVIDER") : "libsanwsp.so";
    if (cfg.window < 1 || cfg.window > MAX_WINDOW)
        die("--window must be 1..%d", MAX_WINDOW);
    cfg.duration = duration > 0 ? duration : cfg.quick ? 0.1 : 0.5;
    cfg.cpu[0] = cfg.cpu[1] = -1;
    if (cpus && strcmp(cpus, "none") != 0)
        sscanf(cpus, "%d,%d", &cfg.cpu[0], &cfg.cpu[1]);
    else if (!cpus && sysconf(_SC_NPROCESSORS_ONLN) >= 2)
        cfg.cpu[0] = 0, cfg.cpu[1] = 1;
    cfg.rounds = rounds > 0 ? (rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds) : cfg.quick ? 1 : 3;
    if (sizes) {
        char *copy = strdup(sizes), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            size_t v = parse_size(t);
            if (v == 0 || v > 64 * MIB)
                die("bad size %s (1 byte .. 64M)", t);
            if (cfg.nsizes == MAX_SIZES)
                die("at most %d sizes", MAX_SIZES);
            if (size_index(v) < 0)
                cfg.sizes[cfg.nsizes++] = v;
        }
        free(copy);
    } else {
        for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++)
            cfg.sizes[cfg.nsizes++] = defaults[i];
    }
    if (cfg.nsizes == 0)
        die("no sizes");
    for (int i = 0; i < cfg.nsizes; i++)
        if (cfg.sizes[i] > cfg.maxsize)
            cfg.maxsize = cfg.sizes[i];
    if (cfg.maxsize < CTL_LEN)
        cfg.maxsize = CTL_LEN;
    if ((size_t)cfg.window * cfg.maxsize > 0xFFFFFFFFu)
        die("window x largest size must stay below 4 GiB");
    if (rows) {
        char *copy = strdup(rows), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int found = 0;
            for (int r = 0; r < NROWS; r++)
                if (strcmp(t, ROWS[r].name) == 0)
                    cfg.rows[r] = found = 1;
            if (!found)
                die("unknown row %s", t);
        }
        free(copy);
    } else {
        for (int r = 0; r < NROWS; r++)
            cfg.rows[r] = 1;
    }
#ifndef SANPERF_HAVE_SWITCH
    if (rows && (cfg.rows[R_SW_LAT] || cfg.rows[R_SW_BW]))
        fprintf(stderr, "sanperf: sw_* rows skipped: built without the reference switch\n");
    cfg.rows[R_SW_LAT] = cfg.rows[R_SW_BW] = 0;
    cfg.rows[R_TCP_LAT_SW] = cfg.rows[R_TCP_BW_SW] = 0;
#endif
    /* A row's ratio needs its TCP reference: selecting the row selects that too. */
    for (int r = 0; r < NROWS; r++)
        if (cfg.rows[r] && ROWS[r].ref >= 0)
            cfg.rows[ROWS[r].ref] = 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    parse_args(argc, argv);
    machine_facts();

    /* The plan: size by size, phase 0 rows first (in EXEC_ORDER), then the switch rows. */
    for (int phase = 0; phase < 2; phase++)
        for (int si = 0; si < cfg.nsizes; si++)
            for (int k = 0; k < NROWS; k++) {
                int row = EXEC_ORDER[k];
                if (cfg.rows[row] && ROWS[row].phase == phase) {
                    plan[nplan++] = (test){ row, si };
                    nplan_phase[phase]++;
                }
            }

    SH = mmap(NULL, sizeof *SH, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (SH == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    memset(SH, 0, sizeof *SH);

    double t0 = now();
    int failures = 0;
    for (int round = 0; round < cfg.rounds; round++) {
    if (cfg.rounds > 1)
        fprintf(stderr, "sanperf: round %d of %d\n", round + 1, cfg.rounds);
    memset(SH->r, 0, sizeof SH->r);
    for (int phase = 0; phase < 2; phase++) {
        int from = phase ? nplan_phase[0] : 0, end = from + nplan_phase[phase];
        while (from < end) {
            if (run_phase(phase, from) == 0)
                break;
            failures++;
            /* A failed test costs that test only: a fresh pair resumes after it. A failure
             * while setting up ends the phase. */
            int cur = SH->cur;
            const char *why = SH->err[0] ? SH->err : "a process failed";
            if (cur < from) {
                fprintf(stderr, "sanperf: phase %d setup failed: %s\n", phase, why);
                for (int i = from; i < end; i++) {
                    result *r = &SH->r[plan[i].row][plan[i].si];
                    r->state = 2;
                    snprintf(r->note, sizeof r->note, "setup failed: %.100s", why);
                }
                break;
            }
            result *r = &SH->r[plan[cur].row][plan[cur].si];
            r->state = 2;
            snprintf(r->note, sizeof r->note, "FAILED: %.100s", why);
            fprintf(stderr, "sanperf: %s %zu failed (%s); restarting the pair\n",
                    ROWS[plan[cur].row].name, cfg.sizes[plan[cur].si], why);
            from = cur + 1;
        }
    }
    memcpy(rounds[round], SH->r, sizeof SH->r);
    nrounds_done = round + 1;
    }
    if (nrounds_done > 1) {
        memset(SH->r, 0, sizeof SH->r);
        combine_rounds();
    }
    double elapsed = now() - t0;
    int failed = failures > 0;
    print_table();
    int misses = run_checks();
    printf("\n%d tests x %d round%s in %.1f s (figures and ratios: medians over the rounds)%s\n",
           nplan, nrounds_done, nrounds_done == 1 ? "" : "s", elapsed,
           failed ? " (some tests FAILED: see the rows above)" : "");
    if (cfg.csv)
        write_csv(cfg.csv);
    if (cfg.json)
        write_json(cfg.json, elapsed, misses);
    if (cfg.check && (misses || failed))
        return 1;
    return 0;
}
