/*
 * test_dlopen.c — loads libsanwsp.so the way a switch does (dlopen + dlsym("WSPStartupEx"))
 * and checks the provider contract through the returned WSPPROC_TABLE, with exact codes and
 * exact upcall counts.
 *
 *   test_dlopen <path/to/libsanwsp.so>              default address configuration
 *   test_dlopen <path/to/libsanwsp.so> restricted   SANWSP_ADDRESSES=127.0.0.0/8
 */
#define _GNU_SOURCE
#include "test_switch.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOERR (-7777) /* lpErrno sentinel: "not written" */

static void *lib;
static LPWSPSTARTUPEX startup_ex;
static WSPPROC_TABLE P;
static WSPUPCALLTABLEEX up;

static const char *const proc_names[30] = {
    "WSPAccept", "WSPAddressToString", "WSPAsyncSelect", "WSPBind", "WSPCancelBlockingCall",
    "WSPCleanup", "WSPCloseSocket", "WSPConnect", "WSPDuplicateSocket", "WSPEnumNetworkEvents",
    "WSPEventSelect", "WSPGetOverlappedResult", "WSPGetPeerName", "WSPGetSockName",
    "WSPGetSockOpt", "WSPGetQOSByName", "WSPIoctl", "WSPJoinLeaf", "WSPListen", "WSPRecv",
    "WSPRecvDisconnect", "WSPRecvFrom", "WSPSelect", "WSPSend", "WSPSendDisconnect",
    "WSPSendTo", "WSPSetSockOpt", "WSPShutdown", "WSPSocket", "WSPStringToAddress",
};

/* ---- helpers ------------------------------------------------------------------------------- */
static SOCKET new_socket(int af)
{
    int err = NOERR;
    SOCKET s = P.lpWSPSocket(af, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, &err);
    CHECK(s != INVALID_SOCKET && s != 0);
    if (s == INVALID_SOCKET)
        fprintf(stderr, "  WSPSocket(%d) failed: %d\n", af, err);
    return s;
}

static void close_socket(SOCKET s)
{
    int err = NOERR;
    CHECK_EQ_INT(P.lpWSPCloseSocket(s, &err), 0);
}

/* Binds s to ip:port; returns 0 or the lpErrno value. */
static int bind4(SOCKET s, const char *ip, unsigned short port)
{
    struct sockaddr_in a = ts_sin(ip, port);
    int err = NOERR;
    int rc = P.lpWSPBind(s, (struct sockaddr *)&a, sizeof a, &err);
    if (rc == 0)
        return 0;
    CHECK_EQ_INT(rc, SOCKET_ERROR);
    return err;
}

static int bind6(SOCKET s, const char *ip, unsigned short port)
{
    struct sockaddr_in6 a = ts_sin6(ip, port);
    int err = NOERR;
    int rc = P.lpWSPBind(s, (struct sockaddr *)&a, sizeof a, &err);
    if (rc == 0)
        return 0;
    CHECK_EQ_INT(rc, SOCKET_ERROR);
    return err;
}

static unsigned short local_port(SOCKET s)
{
    struct sockaddr_in6 a; /* large enough for either family */
    int len = sizeof a, err = NOERR;
    memset(&a, 0, sizeof a);
    if (P.lpWSPGetSockName(s, (struct sockaddr *)&a, &len, &err) != 0)
        return 0;
    return ntohs(a.sin6_port); /* sin_port and sin6_port share offset 2 */
}

static int ioctl_err(SOCKET s, DWORD code, void *in, DWORD cbin, void *out, DWORD cbout,
                     DWORD *bytes)
{
    int err = NOERR;
    int rc = P.lpWSPIoctl(s, code, in, cbin, out, cbout, bytes, NULL, NULL, NULL, &err);
    if (rc == 0)
        return 0;
    CHECK_EQ_INT(rc, SOCKET_ERROR);
    return err;
}

/* The first non-loopback IPv4 address of this host, or 0. */
static int host_ipv4(char *buf, size_t n)
{
    struct ifaddrs *ifs, *i;
    int found = 0;
    if (getifaddrs(&ifs) != 0)
        return 0;
    for (i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        struct sockaddr_in *a = (struct sockaddr_in *)i->ifa_addr;
        if ((ntohl(a->sin_addr.s_addr) >> 24) == 127)
            continue;
        inet_ntop(AF_INET, &a->sin_addr, buf, (socklen_t)n);
        found = 1;
    }
    freeifaddrs(ifs);
    return found;
}

/* SIO_ADDRESS_LIST_QUERY on s into *out (malloc'd); returns the address count or -1. */
static int address_list(SOCKET s, SOCKET_ADDRESS_LIST **out, DWORD *size)
{
    DWORD need = 0;
    *out = NULL;
    int err = ioctl_err(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, NULL, 0, &need);
    CHECK_EQ_INT(err, WSAEFAULT);
    CHECK(need >= sizeof(INT));
    if (err != WSAEFAULT || need < sizeof(INT) || need > 1 << 20)
        return -1;
    char *buf = malloc(need);
    DWORD got = 0;
    if (need > sizeof(INT)) {
        CHECK_EQ_INT(ioctl_err(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, buf, need - 1, &got), WSAEFAULT);
        CHECK_EQ_INT(got, need);
    }
    got = 0;
    err = ioctl_err(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, buf, need, &got);
    CHECK_EQ_INT(err, 0);
    CHECK_EQ_INT(got, need);
    if (err) {
        free(buf);
        return -1;
    }
    *out = (SOCKET_ADDRESS_LIST *)buf;
    *size = need;
    return (*out)->iAddressCount;
}

/* Checks the list's entries lie inside the buffer and have the family's size; returns whether
 * `want` (textual address) is in it. */
static int list_check(SOCKET_ADDRESS_LIST *l, DWORD size, int af, const char *want)
{
    int found = 0, len = af == AF_INET ? 16 : (int)sizeof(struct sockaddr_in6);
    char *lo = (char *)l, *hi = lo + size;
    for (int i = 0; i < l->iAddressCount; i++) {
        SOCKET_ADDRESS *a = &l->Address[i];
        CHECK((char *)&l->Address[i + 1] <= hi);
        CHECK_EQ_INT(a->iSockaddrLength, len);
        CHECK((char *)a->lpSockaddr >= lo && (char *)a->lpSockaddr + len <= hi);
        if (!((char *)a->lpSockaddr >= lo && (char *)a->lpSockaddr + len <= hi))
            continue;
        CHECK_EQ_INT(a->lpSockaddr->sa_family, af);
        char text[64] = "";
        if (af == AF_INET)
            inet_ntop(af, &((struct sockaddr_in *)a->lpSockaddr)->sin_addr, text, sizeof text);
        else
            inet_ntop(af, &((struct sockaddr_in6 *)a->lpSockaddr)->sin6_addr, text, sizeof text);
        printf("  served %s\n", text);
        found |= want && strcmp(text, want) == 0;
    }
    return found;
}

/* ---- load ------------------------------------------------------------------------------------ */
static void check_no_swift_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    int bad = 0;
    CHECK(f != NULL);
    while (f && fgets(line, sizeof line, f)) {
        if (strstr(line, "libswift") || strstr(line, "/opt/swift")) {
            fprintf(stderr, "  mapped: %s", line);
            bad++;
        }
    }
    if (f)
        fclose(f);
    CHECK_EQ_INT(bad, 0);
}

static int startup(WORD v, WSPDATA *d)
{
    WSAPROTOCOL_INFOW pi;
    memset(&pi, 0, sizeof pi);
    memset(d, 0xAA, sizeof *d);
    return startup_ex(v, d, &pi, &up, &P);
}

static void expect_not_initialised(int line)
{
    LPWSPSOCKET sock;
    *(void **)&sock = dlsym(lib, "WSPSocket");
    int err = NOERR;
    SOCKET s = sock(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, &err);
    t_check_eq((long long)s, (long long)INVALID_SOCKET, "s", "INVALID_SOCKET", __FILE__, line);
    t_check_eq(err, WSANOTINITIALISED, "err", "WSANOTINITIALISED", __FILE__, line);
}

static void test_before_startup(void)
{
    LPWSPCLEANUP cleanup;
    *(void **)&cleanup = dlsym(lib, "WSPCleanup");
    expect_not_initialised(__LINE__);
    int err = NOERR;
    CHECK_EQ_INT(cleanup(&err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSANOTINITIALISED);
}

static void test_startup_errors(void)
{
    WSPDATA d;
    WSAPROTOCOL_INFOW pi;
    WSPPROC_TABLE t;
    WSPUPCALLTABLEEX bad;
    memset(&pi, 0, sizeof pi);

    CHECK_EQ_INT(startup(MAKEWORD(2, 1), &d), WSAVERNOTSUPPORTED);
    CHECK_EQ_INT(startup(MAKEWORD(1, 1), &d), WSAVERNOTSUPPORTED);
    CHECK_EQ_INT(startup(MAKEWORD(2, 0), &d), WSAVERNOTSUPPORTED);
    CHECK_EQ_INT(startup_ex(MAKEWORD(2, 2), NULL, &pi, &up, &t), WSAEFAULT);
    CHECK_EQ_INT(startup_ex(MAKEWORD(2, 2), &d, &pi, &up, NULL), WSAEFAULT);
    CHECK_EQ_INT(startup_ex(MAKEWORD(2, 2), &d, &pi, NULL, &t), WSAEFAULT);
    bad = up;
    bad.lpWPUCreateSocketHandle = NULL;
    CHECK_EQ_INT(startup_ex(MAKEWORD(2, 2), &d, &pi, &bad, &t), WSAEFAULT);
    bad = up;
    bad.lpWPUCloseSocketHandle = NULL;
    CHECK_EQ_INT(startup_ex(MAKEWORD(2, 2), &d, &pi, &bad, &t), WSAEFAULT);
    bad = up;
    bad.lpWPUCompleteOverlappedRequest = NULL;
    CHECK_EQ_INT(startup_ex(MAKEWORD(2, 2), &d, &pi, &bad, &t), WSAEFAULT);
    /* none of these took a reference */
    expect_not_initialised(__LINE__);
}

static void check_wspdata(const WSPDATA *d)
{
    CHECK_EQ_INT(d->wVersion, 0x0202);
    CHECK_EQ_INT(d->wHighVersion, 0x0202);
    const char *want = "sanwsp";
    for (int i = 0; want[i]; i++)
        CHECK_EQ_INT(d->szDescription[i], want[i]);
    int nul = -1;
    for (int i = 0; i <= WSPDESCRIPTION_LEN && nul < 0; i++)
        if (d->szDescription[i] == 0)
            nul = i;
    CHECK(nul >= 6);
}

static void test_startup_ok(void)
{
    WSPDATA d;
    memset(&P, 0, sizeof P);
    CHECK_EQ_INT(startup(MAKEWORD(2, 2), &d), 0);
    check_wspdata(&d);
    void *slots[30];
    CHECK_EQ_INT(sizeof slots, sizeof P);
    memcpy(slots, &P, sizeof slots);
    for (int i = 0; i < 30; i++) {
        void *want = dlsym(lib, proc_names[i]);
        if (!slots[i] || slots[i] != want)
            fprintf(stderr, "  slot %d (%s): %p, dlsym %p\n", i, proc_names[i], slots[i], want);
        CHECK(slots[i] != NULL);
        CHECK(want != NULL);
        CHECK(slots[i] == want);
    }
}

static int all_slots(void)
{
    void *slots[30];
    memcpy(slots, &P, sizeof slots);
    for (int i = 0; i < 30; i++)
        if (!slots[i])
            return 0;
    return 1;
}

/* ---- WSPSocket ------------------------------------------------------------------------------- */
static void socket_ok(int af, int protocol, WSAPROTOCOL_INFOW *pi, DWORD flags)
{
    ts_counts a, b;
    int err = NOERR;
    ts_get_counts(&a);
    SOCKET s = P.lpWSPSocket(af, SOCK_STREAM, protocol, pi, 0, flags, &err);
    ts_get_counts(&b);
    CHECK(s != INVALID_SOCKET && s != 0);
    CHECK_EQ_INT(b.create_socket_handle - a.create_socket_handle, 1);
    if (s == INVALID_SOCKET) {
        fprintf(stderr, "  WSPSocket(%d, %d, flags %#x) failed: %d\n", af, protocol,
                (unsigned)flags, err);
        return;
    }
    DWORD cat = 0xDEAD;
    DWORD_PTR ctx = 0;
    ts_last_create(&cat, &ctx);
    CHECK_EQ_INT(cat, pi ? pi->dwCatalogEntryId : 0);
    CHECK_EQ_INT(ctx, s);
    SOCKET h = 0;
    int closes = -1;
    CHECK_EQ_INT(ts_find_by_context(s, &h, NULL, &closes), 0);
    CHECK_EQ_INT(closes, 0);
    CHECK_EQ_INT(P.lpWSPCloseSocket(s, &err), 0);
    ts_get_counts(&a);
    CHECK_EQ_INT(a.close_socket_handle - b.close_socket_handle, 1);
    CHECK_EQ_INT(ts_find_by_context(s, &h, NULL, &closes), 0);
    CHECK_EQ_INT(closes, 1);
}

static void socket_fails(int af, int type, int protocol, WSAPROTOCOL_INFOW *pi, GROUP g,
                         DWORD flags, int want, int line)
{
    ts_counts a, b;
    int err = NOERR;
    ts_get_counts(&a);
    SOCKET s = P.lpWSPSocket(af, type, protocol, pi, g, flags, &err);
    ts_get_counts(&b);
    t_check_eq((long long)s, (long long)INVALID_SOCKET, "s", "INVALID_SOCKET", __FILE__, line);
    t_check_eq(err, want, "err", "expected", __FILE__, line);
    t_check_eq(b.create_socket_handle - a.create_socket_handle, 0, "creates", "0", __FILE__,
               line);
    if (s != INVALID_SOCKET)
        P.lpWSPCloseSocket(s, &err);
}

static int cmp_socket(const void *a, const void *b)
{
    SOCKET x = *(const SOCKET *)a, y = *(const SOCKET *)b;
    return x < y ? -1 : x > y;
}

static void test_socket(void)
{
    WSAPROTOCOL_INFOW pi;
    memset(&pi, 0, sizeof pi);
    pi.dwCatalogEntryId = 1234;
    pi.iAddressFamily = AF_INET;
    pi.iSocketType = SOCK_STREAM;
    pi.iProtocol = IPPROTO_TCP;

    socket_ok(AF_INET, IPPROTO_TCP, NULL, WSA_FLAG_OVERLAPPED);
    socket_ok(AF_INET, IPPROTO_TCP, &pi, WSA_FLAG_OVERLAPPED);
    socket_ok(AF_INET, 0, NULL, WSA_FLAG_OVERLAPPED);
    socket_ok(AF_INET, IPPROTO_TCP, NULL, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    socket_ok(AF_INET6, IPPROTO_TCP, NULL, WSA_FLAG_OVERLAPPED);
    socket_ok(AF_INET6, 0, &pi, WSA_FLAG_OVERLAPPED);

    const DWORD ov = WSA_FLAG_OVERLAPPED;
    socket_fails(AF_UNIX, SOCK_STREAM, IPPROTO_TCP, NULL, 0, ov, WSAEAFNOSUPPORT, __LINE__);
    socket_fails(23, SOCK_STREAM, IPPROTO_TCP, NULL, 0, ov, WSAEAFNOSUPPORT, __LINE__);
    socket_fails(0, SOCK_STREAM, IPPROTO_TCP, NULL, 0, ov, WSAEAFNOSUPPORT, __LINE__);
    socket_fails(AF_INET, SOCK_DGRAM, IPPROTO_TCP, NULL, 0, ov, WSAESOCKTNOSUPPORT, __LINE__);
    socket_fails(AF_INET, 3, IPPROTO_TCP, NULL, 0, ov, WSAESOCKTNOSUPPORT, __LINE__);
    socket_fails(AF_INET, SOCK_STREAM, IPPROTO_UDP, NULL, 0, ov, WSAEPROTOTYPE, __LINE__);
    socket_fails(AF_INET, SOCK_STREAM, 99, NULL, 0, ov, WSAEPROTONOSUPPORT, __LINE__);
    socket_fails(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, WSAEINVAL, __LINE__);
    socket_fails(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT,
                 WSAEINVAL, __LINE__);
    socket_fails(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, ov | WSA_FLAG_MULTIPOINT_C_ROOT,
                 WSAEINVAL, __LINE__);
    socket_fails(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, ov | WSA_FLAG_MULTIPOINT_C_LEAF,
                 WSAEINVAL, __LINE__);
    socket_fails(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, ov | WSA_FLAG_MULTIPOINT_D_ROOT,
                 WSAEINVAL, __LINE__);
    socket_fails(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, ov | WSA_FLAG_MULTIPOINT_D_LEAF,
                 WSAEINVAL, __LINE__);
    socket_fails(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 1, ov, WSAEINVAL, __LINE__);
    pi.dwProviderReserved = 7;
    socket_fails(AF_INET, SOCK_STREAM, IPPROTO_TCP, &pi, 0, ov, WSAEINVAL, __LINE__);
    pi.dwProviderReserved = 0;

    /* the switch refuses the handle */
    ts_counts a, b;
    ts_get_counts(&a);
    ts_inject_create_error(WSAEMFILE);
    int err = NOERR;
    SOCKET s = P.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, ov, &err);
    CHECK_EQ_INT(s, INVALID_SOCKET);
    CHECK_EQ_INT(err, WSAEMFILE);
    ts_inject_create_error(0);
    err = NOERR;
    s = P.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, ov, &err);
    CHECK_EQ_INT(s, INVALID_SOCKET);
    CHECK_EQ_INT(err, WSAENOBUFS);
    ts_inject_clear();
    ts_get_counts(&b);
    CHECK_EQ_INT(b.create_socket_handle - a.create_socket_handle, 2);
    CHECK_EQ_INT(b.close_socket_handle - a.close_socket_handle, 0);

    /* 1000 create/close cycles: never the same descriptor twice */
    enum { N = 1000 };
    static SOCKET seen[N];
    int made = 0;
    for (int i = 0; i < N; i++) {
        err = NOERR;
        s = P.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, ov, &err);
        if (s == INVALID_SOCKET)
            continue;
        seen[made++] = s;
        P.lpWSPCloseSocket(s, &err);
    }
    CHECK_EQ_INT(made, N);
    qsort(seen, (size_t)made, sizeof seen[0], cmp_socket);
    int dups = 0;
    for (int i = 1; i < made; i++)
        dups += seen[i] == seen[i - 1];
    CHECK_EQ_INT(dups, 0);
    ts_get_counts(&a);
    CHECK_EQ_INT(a.create_socket_handle - b.create_socket_handle, N);
    CHECK_EQ_INT(a.close_socket_handle - b.close_socket_handle, N);
}

/* ---- WSPCloseSocket -------------------------------------------------------------------------- */
static void expect_notsock(SOCKET s, int line)
{
    struct sockaddr_in a = ts_sin("127.0.0.1", 0);
    char buf[256];
    int len = sizeof a, err = NOERR;
    DWORD bytes = 0, v = 1;
    const char *f = __FILE__;

    t_check_eq(P.lpWSPCloseSocket(s, &err), SOCKET_ERROR, "close", "SOCKET_ERROR", f, line);
    t_check_eq(err, WSAENOTSOCK, "close err", "WSAENOTSOCK", f, line);
    err = NOERR;
    t_check_eq(P.lpWSPBind(s, (struct sockaddr *)&a, sizeof a, &err), SOCKET_ERROR, "bind",
               "SOCKET_ERROR", f, line);
    t_check_eq(err, WSAENOTSOCK, "bind err", "WSAENOTSOCK", f, line);
    err = NOERR;
    t_check_eq(P.lpWSPGetSockName(s, (struct sockaddr *)&a, &len, &err), SOCKET_ERROR,
               "getsockname", "SOCKET_ERROR", f, line);
    t_check_eq(err, WSAENOTSOCK, "getsockname err", "WSAENOTSOCK", f, line);
    err = NOERR;
    len = sizeof buf;
    t_check_eq(P.lpWSPGetSockOpt(s, WS_SOL_SOCKET, WS_SO_TYPE, buf, &len, &err), SOCKET_ERROR,
               "getsockopt", "SOCKET_ERROR", f, line);
    t_check_eq(err, WSAENOTSOCK, "getsockopt err", "WSAENOTSOCK", f, line);
    err = NOERR;
    t_check_eq(P.lpWSPSetSockOpt(s, WS_SOL_SOCKET, WS_SO_KEEPALIVE, (char *)&v, sizeof v, &err),
               SOCKET_ERROR, "setsockopt", "SOCKET_ERROR", f, line);
    t_check_eq(err, WSAENOTSOCK, "setsockopt err", "WSAENOTSOCK", f, line);
    err = NOERR;
    t_check_eq(P.lpWSPIoctl(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, buf, sizeof buf, &bytes, NULL,
                            NULL, NULL, &err),
               SOCKET_ERROR, "ioctl", "SOCKET_ERROR", f, line);
    t_check_eq(err, WSAENOTSOCK, "ioctl err", "WSAENOTSOCK", f, line);
}

static void test_close(void)
{
    ts_counts a, b;
    SOCKET s = new_socket(AF_INET), h = 0;
    int closes = -1, err = NOERR;
    CHECK_EQ_INT(ts_find_by_context(s, &h, NULL, &closes), 0);
    ts_get_counts(&a);
    CHECK_EQ_INT(P.lpWSPCloseSocket(s, &err), 0);
    ts_get_counts(&b);
    CHECK_EQ_INT(b.close_socket_handle - a.close_socket_handle, 1);
    CHECK_EQ_INT(ts_find_by_context(s, &h, NULL, &closes), 0);
    CHECK_EQ_INT(closes, 1);

    expect_notsock(s, __LINE__);
    expect_notsock(INVALID_SOCKET, __LINE__);
    expect_notsock(0, __LINE__);
    expect_notsock((SOCKET)0x12345678, __LINE__);
    ts_get_counts(&a);
    CHECK_EQ_INT(a.close_socket_handle - b.close_socket_handle, 0);

    /* a bound socket closes the same way */
    s = new_socket(AF_INET);
    CHECK_EQ_INT(bind4(s, "127.0.0.1", 0), 0);
    CHECK_EQ_INT(P.lpWSPCloseSocket(s, &err), 0);
    CHECK_EQ_INT(ts_find_by_context(s, &h, NULL, &closes), 0);
    CHECK_EQ_INT(closes, 1);
}

/* ---- WSPBind / WSPGetSockName ---------------------------------------------------------------- */
static void test_bind(void)
{
    int err;
    SOCKET s = new_socket(AF_INET), s6 = new_socket(AF_INET6);
    struct sockaddr_in a = ts_sin("127.0.0.1", 0);
    struct sockaddr_in6 a6 = ts_sin6("::1", 0);

    err = NOERR;
    CHECK_EQ_INT(P.lpWSPBind(s, NULL, sizeof a, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPBind(s, (struct sockaddr *)&a, 15, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPBind(s, (struct sockaddr *)&a, 0, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPBind(s, (struct sockaddr *)&a6, sizeof a6, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPBind(s6, (struct sockaddr *)&a6, 16, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPBind(s6, (struct sockaddr *)&a6, (int)sizeof a6 - 1, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    union {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } v4big; /* an AF_INET address in a buffer as long as a sockaddr_in6 */
    memset(&v4big, 0, sizeof v4big);
    v4big.in = a;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPBind(s6, (struct sockaddr *)&v4big, sizeof v4big.in6, &err),
                 SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);

    CHECK_EQ_INT(bind4(s, "192.0.2.1", 0), WSAEADDRNOTAVAIL);
    CHECK_EQ_INT(bind6(s6, "2001:db8::1", 0), WSAEADDRNOTAVAIL);

    /* unbound: getsockname fails; getpeername never connected */
    struct sockaddr_in6 out;
    int len = sizeof out;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetSockName(s, (struct sockaddr *)&out, &len, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEINVAL);
    err = NOERR;
    len = sizeof out;
    CHECK_EQ_INT(P.lpWSPGetPeerName(s, (struct sockaddr *)&out, &len, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAENOTCONN);

    /* port 0 picks a port */
    CHECK_EQ_INT(bind4(s, "127.0.0.1", 0), 0);
    unsigned short port = local_port(s);
    CHECK(port != 0);
    CHECK_EQ_INT(bind4(s, "127.0.0.1", 0), WSAEINVAL);

    /* getsockname */
    memset(&out, 0, sizeof out);
    len = sizeof out;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetSockName(s, (struct sockaddr *)&out, &len, &err), 0);
    CHECK_EQ_INT(len, 16);
    struct sockaddr_in *o4 = (struct sockaddr_in *)&out;
    CHECK_EQ_INT(o4->sin_family, AF_INET);
    CHECK_EQ_INT(ntohl(o4->sin_addr.s_addr), 0x7F000001);
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetSockName(s, NULL, &len, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetSockName(s, (struct sockaddr *)&out, NULL, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    len = 15;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetSockName(s, (struct sockaddr *)&out, &len, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    len = sizeof out;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetPeerName(s, (struct sockaddr *)&out, &len, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAENOTCONN);

    /* ::1 on AF_INET6 */
    CHECK_EQ_INT(bind6(s6, "::1", 0), 0);
    CHECK(local_port(s6) != 0);
    memset(&out, 0, sizeof out);
    len = sizeof out;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetSockName(s6, (struct sockaddr *)&out, &len, &err), 0);
    CHECK_EQ_INT(len, (int)sizeof(struct sockaddr_in6));
    CHECK_EQ_INT(out.sin6_family, AF_INET6);
    CHECK(IN6_IS_ADDR_LOOPBACK(&out.sin6_addr));
    len = 16;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetSockName(s6, (struct sockaddr *)&out, &len, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);

    /* same address and port: in use, until the first one closes */
    SOCKET t = new_socket(AF_INET), w = new_socket(AF_INET);
    CHECK_EQ_INT(bind4(t, "127.0.0.1", port), WSAEADDRINUSE);
    CHECK_EQ_INT(bind4(w, "0.0.0.0", port), WSAEADDRINUSE);
    close_socket(s);
    CHECK_EQ_INT(bind4(t, "127.0.0.1", port), 0);
    CHECK_EQ_INT(local_port(t), port);
    close_socket(t);
    close_socket(w);

    /* wildcard first, then the specific address */
    s = new_socket(AF_INET);
    t = new_socket(AF_INET);
    CHECK_EQ_INT(bind4(s, "0.0.0.0", 0), 0);
    port = local_port(s);
    CHECK(port != 0);
    CHECK_EQ_INT(bind4(t, "127.0.0.1", port), WSAEADDRINUSE);
    close_socket(s);
    close_socket(t);

    /* both with SO_REUSEADDR: both bind */
    s = new_socket(AF_INET);
    t = new_socket(AF_INET);
    BOOL on = TRUE;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPSetSockOpt(s, WS_SOL_SOCKET, WS_SO_REUSEADDR, (char *)&on, sizeof on,
                                   &err), 0);
    CHECK_EQ_INT(P.lpWSPSetSockOpt(t, WS_SOL_SOCKET, WS_SO_REUSEADDR, (char *)&on, sizeof on,
                                   &err), 0);
    CHECK_EQ_INT(bind4(s, "127.0.0.1", 0), 0);
    port = local_port(s);
    CHECK_EQ_INT(bind4(t, "127.0.0.1", port), 0);
    close_socket(s);
    close_socket(t);

    /* the host's own interface address is served by default */
    char host[64];
    if (host_ipv4(host, sizeof host)) {
        s = new_socket(AF_INET);
        printf("  host address %s\n", host);
        CHECK_EQ_INT(bind4(s, host, 0), 0);
        close_socket(s);
    }
    close_socket(s6);
}

/* ---- WSPGetSockOpt / WSPSetSockOpt ----------------------------------------------------------- */
struct opt {
    int level, name, size;
    const char *text;
};

static const struct opt get_opts[] = {
    { WS_SOL_SOCKET, WS_SO_MAX_MSG_SIZE, 4, "SO_MAX_MSG_SIZE" },
    { WS_SOL_SOCKET, WS_SO_MAX_RDMA_SIZE, 4, "SO_MAX_RDMA_SIZE" },
    { WS_SOL_SOCKET, WS_SO_RDMA_THRESHOLD_SIZE, 4, "SO_RDMA_THRESHOLD_SIZE" },
    { WS_SOL_SOCKET, WS_SO_PROTOCOL_INFOW, sizeof(WSAPROTOCOL_INFOW), "SO_PROTOCOL_INFOW" },
    { WS_SOL_SOCKET, WS_SO_TYPE, 4, "SO_TYPE" },
    { WS_SOL_SOCKET, WS_SO_ACCEPTCONN, 4, "SO_ACCEPTCONN" },
    { WS_SOL_SOCKET, WS_SO_ERROR, 4, "SO_ERROR" },
    { WS_SOL_SOCKET, WS_SO_DEBUG, 4, "SO_DEBUG" },
    { WS_SOL_SOCKET, WS_SO_KEEPALIVE, 4, "SO_KEEPALIVE" },
    { WS_SOL_SOCKET, WS_SO_REUSEADDR, 4, "SO_REUSEADDR" },
    { WS_SOL_SOCKET, WS_SO_OOBINLINE, 4, "SO_OOBINLINE" },
    { WS_SOL_SOCKET, WS_SO_CONDITIONAL_ACCEPT, 4, "SO_CONDITIONAL_ACCEPT" },
    { WS_SOL_SOCKET, WS_SO_SNDBUF, 4, "SO_SNDBUF" },
    { WS_SOL_SOCKET, WS_SO_RCVBUF, 4, "SO_RCVBUF" },
    { WS_SOL_SOCKET, WS_SO_LINGER, 4, "SO_LINGER" },
    { WS_SOL_SOCKET, WS_SO_SNDTIMEO, 4, "SO_SNDTIMEO" },
    { WS_SOL_SOCKET, WS_SO_RCVTIMEO, 4, "SO_RCVTIMEO" },
    { WS_SOL_SOCKET, WS_SO_GROUP_ID, sizeof(GROUP), "SO_GROUP_ID" },
    { WS_SOL_SOCKET, WS_SO_GROUP_PRIORITY, 4, "SO_GROUP_PRIORITY" },
    { WS_SOL_SOCKET, WS_SO_CONNECT_TIME, 4, "SO_CONNECT_TIME" },
    { IPPROTO_TCP, WS_TCP_NODELAY, 4, "TCP_NODELAY" },
};

static const int read_only[] = {
    WS_SO_MAX_MSG_SIZE, WS_SO_MAX_RDMA_SIZE, WS_SO_PROTOCOL_INFOW, WS_SO_TYPE,
    WS_SO_ACCEPTCONN, WS_SO_ERROR, WS_SO_CONNECT_TIME, WS_SO_GROUP_ID,
};

static DWORD get_dword(SOCKET s, int level, int name, int *perr)
{
    DWORD v = 0xCDCDCDCD;
    int len = sizeof v, err = NOERR;
    int rc = P.lpWSPGetSockOpt(s, level, name, (char *)&v, &len, &err);
    *perr = rc == 0 ? 0 : err;
    return v;
}

static int set_dword(SOCKET s, int level, int name, DWORD v)
{
    int err = NOERR;
    int rc = P.lpWSPSetSockOpt(s, level, name, (const char *)&v, sizeof v, &err);
    return rc == 0 ? 0 : err;
}

static void test_sockopt(int af)
{
    SOCKET s = new_socket(af);
    union {
        WSAPROTOCOL_INFOW pi;
        char raw[sizeof(WSAPROTOCOL_INFOW) + 16];
    } u;
    int err, len;

    for (size_t i = 0; i < sizeof get_opts / sizeof get_opts[0]; i++) {
        const struct opt *o = &get_opts[i];
        memset(&u, 0xCD, sizeof u);
        len = sizeof u;
        err = NOERR;
        int rc = P.lpWSPGetSockOpt(s, o->level, o->name, u.raw, &len, &err);
        if (rc != 0)
            fprintf(stderr, "  getsockopt %s: error %d\n", o->text, err);
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(len, o->size);
        /* too short: WSAEFAULT and the needed size */
        len = o->size - 1;
        err = NOERR;
        CHECK_EQ_INT(P.lpWSPGetSockOpt(s, o->level, o->name, u.raw, &len, &err), SOCKET_ERROR);
        CHECK_EQ_INT(err, WSAEFAULT);
        CHECK_EQ_INT(len, o->size);
        len = o->size;
        err = NOERR;
        CHECK_EQ_INT(P.lpWSPGetSockOpt(s, o->level, o->name, NULL, &len, &err), SOCKET_ERROR);
        CHECK_EQ_INT(err, WSAEFAULT);
        err = NOERR;
        CHECK_EQ_INT(P.lpWSPGetSockOpt(s, o->level, o->name, u.raw, NULL, &err), SOCKET_ERROR);
        CHECK_EQ_INT(err, WSAEFAULT);
    }

    /* values */
    CHECK(get_dword(s, WS_SOL_SOCKET, WS_SO_MAX_MSG_SIZE, &err) != 0);
    CHECK_EQ_INT(err, 0);
    CHECK(get_dword(s, WS_SOL_SOCKET, WS_SO_MAX_RDMA_SIZE, &err) != 0);
    CHECK(get_dword(s, WS_SOL_SOCKET, WS_SO_RDMA_THRESHOLD_SIZE, &err) != 0);
    CHECK_EQ_INT(get_dword(s, WS_SOL_SOCKET, WS_SO_TYPE, &err), SOCK_STREAM);
    CHECK_EQ_INT(get_dword(s, WS_SOL_SOCKET, WS_SO_ACCEPTCONN, &err), FALSE);
    CHECK_EQ_INT(get_dword(s, WS_SOL_SOCKET, WS_SO_ERROR, &err), 0);
    CHECK_EQ_INT(get_dword(s, WS_SOL_SOCKET, WS_SO_GROUP_ID, &err), 0);
    CHECK_EQ_INT(get_dword(s, WS_SOL_SOCKET, WS_SO_CONNECT_TIME, &err), 0xFFFFFFFFu);
    static const int bools[] = { WS_SO_DEBUG, WS_SO_KEEPALIVE, WS_SO_REUSEADDR, WS_SO_OOBINLINE,
                                 WS_SO_CONDITIONAL_ACCEPT };
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++)
        CHECK(get_dword(s, WS_SOL_SOCKET, bools[i], &err) <= 1);
    CHECK(get_dword(s, IPPROTO_TCP, WS_TCP_NODELAY, &err) <= 1);

    memset(&u, 0, sizeof u);
    len = sizeof u.pi;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetSockOpt(s, WS_SOL_SOCKET, WS_SO_PROTOCOL_INFOW, (char *)&u.pi, &len,
                                   &err), 0);
    CHECK_EQ_INT(u.pi.iAddressFamily, af);
    CHECK_EQ_INT(u.pi.iSocketType, 1);
    CHECK_EQ_INT(u.pi.iProtocol, 6);
    const DWORD xp = XP1_GUARANTEED_DELIVERY | XP1_GUARANTEED_ORDER | XP1_MESSAGE_ORIENTED |
                     XP1_GRACEFUL_CLOSE;
    CHECK_EQ_INT(u.pi.dwServiceFlags1 & xp, xp);
    CHECK_EQ_INT(u.pi.dwServiceFlags1 & XP1_IFS_HANDLES, 0);
    CHECK_EQ_INT(u.pi.dwProviderFlags & PFL_HIDDEN, PFL_HIDDEN);
    CHECK_EQ_INT(u.pi.ProtocolChain.ChainLen, 1);
    CHECK_EQ_INT(u.pi.iVersion, 2);

    /* unknown option / level */
    len = sizeof u;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetSockOpt(s, WS_SOL_SOCKET, 0x1234, u.raw, &len, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAENOPROTOOPT);
    len = sizeof u;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetSockOpt(s, IPPROTO_TCP, 0x1234, u.raw, &len, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAENOPROTOOPT);
    len = sizeof u;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPGetSockOpt(s, 99, WS_SO_TYPE, u.raw, &len, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEINVAL);
    CHECK_EQ_INT(set_dword(s, WS_SOL_SOCKET, 0x1234, 1), WSAENOPROTOOPT);
    CHECK_EQ_INT(set_dword(s, IPPROTO_TCP, 0x1234, 1), WSAENOPROTOOPT);
    CHECK_EQ_INT(set_dword(s, 99, WS_SO_KEEPALIVE, 1), WSAEINVAL);

    /* set */
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPSetSockOpt(s, WS_SOL_SOCKET, WS_SO_KEEPALIVE, NULL, 4, &err),
                 SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    DWORD one = 1;
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPSetSockOpt(s, WS_SOL_SOCKET, WS_SO_RDMA_THRESHOLD_SIZE, (char *)&one, 2,
                                   &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPSetSockOpt(s, WS_SOL_SOCKET, WS_SO_KEEPALIVE, (char *)&one, 0, &err),
                 SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEFAULT);
    for (size_t i = 0; i < sizeof read_only / sizeof read_only[0]; i++) {
        memset(&u, 0, sizeof u);
        err = NOERR;
        int rc = P.lpWSPSetSockOpt(s, WS_SOL_SOCKET, read_only[i], u.raw, sizeof u.pi, &err);
        if (rc != SOCKET_ERROR || err != WSAENOPROTOOPT)
            fprintf(stderr, "  setsockopt read-only %#x: rc %d err %d\n", read_only[i], rc, err);
        CHECK_EQ_INT(rc, SOCKET_ERROR);
        CHECK_EQ_INT(err, WSAENOPROTOOPT);
    }
    CHECK_EQ_INT(set_dword(s, WS_SOL_SOCKET, WS_SO_RDMA_THRESHOLD_SIZE, 12345), 0);
    CHECK_EQ_INT(get_dword(s, WS_SOL_SOCKET, WS_SO_RDMA_THRESHOLD_SIZE, &err), 12345);
    CHECK_EQ_INT(set_dword(s, WS_SOL_SOCKET, WS_SO_SNDBUF, (DWORD)-1), WSAEINVAL);
    CHECK_EQ_INT(set_dword(s, WS_SOL_SOCKET, WS_SO_SNDBUF, 65536), 0);
    CHECK_EQ_INT(set_dword(s, WS_SOL_SOCKET, WS_SO_KEEPALIVE, TRUE), 0);
    CHECK_EQ_INT(get_dword(s, WS_SOL_SOCKET, WS_SO_KEEPALIVE, &err), TRUE);
    CHECK_EQ_INT(err, 0);
    CHECK_EQ_INT(set_dword(s, WS_SOL_SOCKET, WS_SO_KEEPALIVE, FALSE), 0);
    CHECK_EQ_INT(get_dword(s, WS_SOL_SOCKET, WS_SO_KEEPALIVE, &err), FALSE);
    CHECK_EQ_INT(set_dword(s, IPPROTO_TCP, WS_TCP_NODELAY, TRUE), 0);
    CHECK_EQ_INT(get_dword(s, IPPROTO_TCP, WS_TCP_NODELAY, &err), TRUE);
    close_socket(s);
}

/* ---- WSPIoctl -------------------------------------------------------------------------------- */
static void test_ioctl(void)
{
    static const struct {
        GUID g;
        const char *name;
    } ext[] = {
        { WSAID_REGISTERMEMORY, "WSPRegisterMemory" },
        { WSAID_DEREGISTERMEMORY, "WSPDeregisterMemory" },
        { WSAID_REGISTERRDMAMEMORY, "WSPRegisterRdmaMemory" },
        { WSAID_DEREGISTERRDMAMEMORY, "WSPDeregisterRdmaMemory" },
        { WSAID_RDMAWRITE, "WSPRdmaWrite" },
        { WSAID_RDMAREAD, "WSPRdmaRead" },
        { WSAID_MEMORYREGISTRATIONCACHECALLBACK, "WSPMemoryRegistrationCacheCallback" },
    };
    const DWORD code = SIO_GET_EXTENSION_FUNCTION_POINTER;
    GUID g = WSAID_RDMAWRITE, unknown = { 0x01234567, 0x89AB, 0xCDEF, { 1, 2, 3, 4, 5, 6, 7, 8 } };
    void *fn = NULL;
    DWORD bytes = 0;

    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        GUID id = ext[i].g;
        fn = NULL;
        bytes = 0;
        int err = ioctl_err(INVALID_SOCKET, code, &id, sizeof id, &fn, sizeof fn, &bytes);
        printf("  extension %-36s %s\n", ext[i].name, err == 0 ? "available" : "not supported");
        if (err == 0) {
            CHECK(fn != NULL);
            CHECK(fn == dlsym(lib, ext[i].name));
            CHECK_EQ_INT(bytes, sizeof(void *));
        } else {
            CHECK_EQ_INT(err, WSAEOPNOTSUPP);
        }
    }
    CHECK_EQ_INT(ioctl_err(INVALID_SOCKET, code, NULL, sizeof g, &fn, sizeof fn, &bytes),
                 WSAEFAULT);
    CHECK_EQ_INT(ioctl_err(INVALID_SOCKET, code, &g, sizeof g - 1, &fn, sizeof fn, &bytes),
                 WSAEFAULT);
    CHECK_EQ_INT(ioctl_err(INVALID_SOCKET, code, &g, sizeof g, NULL, sizeof fn, &bytes),
                 WSAEFAULT);
    CHECK_EQ_INT(ioctl_err(INVALID_SOCKET, code, &g, sizeof g, &fn, sizeof fn - 1, &bytes),
                 WSAEFAULT);
    CHECK_EQ_INT(ioctl_err(INVALID_SOCKET, code, &unknown, sizeof unknown, &fn, sizeof fn, &bytes),
                 WSAEINVAL);

    /* address list */
    SOCKET s = new_socket(AF_INET), s6 = new_socket(AF_INET6);
    char big[4096];
    CHECK_EQ_INT(ioctl_err(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, big, sizeof big, NULL), WSAEFAULT);
    SOCKET_ADDRESS_LIST *l;
    DWORD size;
    int n = address_list(s, &l, &size);
    CHECK(n >= 1);
    if (n >= 0) {
        CHECK(list_check(l, size, AF_INET, "127.0.0.1"));
        free(l);
    }
    n = address_list(s6, &l, &size);
    CHECK(n >= 1);
    if (n >= 0) {
        CHECK(list_check(l, size, AF_INET6, "::1"));
        free(l);
    }
    CHECK_EQ_INT(ioctl_err(s, 0x12345678, NULL, 0, big, sizeof big, &bytes), WSAEINVAL);
    CHECK_EQ_INT(ioctl_err((SOCKET)0x12345678, SIO_ADDRESS_LIST_QUERY, NULL, 0, big, sizeof big,
                           &bytes), WSAENOTSOCK);
    close_socket(s);
    close_socket(s6);
}

/* ---- not implemented ------------------------------------------------------------------------- */
static void test_unimplemented(void)
{
    SOCKET s = new_socket(AF_INET);
    struct sockaddr_in a = ts_sin("127.0.0.1", 1);
    int err, len = sizeof a;
    WCHAR text[64] = { '1', '2', '7', '.', '0', '.', '0', '.', '1', 0 };
    DWORD tlen = 64, n = 0, flags = 0;
    char data[8];
    WSABUF wb = { sizeof data, data };
    WSAPROTOCOL_INFOW pi;
    QOS qos;

#define OPNOTSUPP(call, failval)                                                                   \
    do {                                                                                           \
        err = NOERR;                                                                               \
        CHECK_EQ_INT(call, failval);                                                               \
        CHECK_EQ_INT(err, WSAEOPNOTSUPP);                                                          \
    } while (0)
    OPNOTSUPP(P.lpWSPAddressToString((LPSOCKADDR)&a, sizeof a, NULL, text, &tlen, &err),
              SOCKET_ERROR);
    OPNOTSUPP(P.lpWSPAsyncSelect(s, NULL, 0, FD_READ, &err), SOCKET_ERROR);
    OPNOTSUPP(P.lpWSPCancelBlockingCall(&err), SOCKET_ERROR);
    OPNOTSUPP(P.lpWSPJoinLeaf(s, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, 0, &err),
              INVALID_SOCKET);
    OPNOTSUPP(P.lpWSPRecvDisconnect(s, NULL, &err), SOCKET_ERROR);
    OPNOTSUPP(P.lpWSPRecvFrom(s, &wb, 1, &n, &flags, NULL, NULL, NULL, NULL, NULL, &err),
              SOCKET_ERROR);
    OPNOTSUPP(P.lpWSPSelect(0, NULL, NULL, NULL, NULL, &err), SOCKET_ERROR);
    OPNOTSUPP(P.lpWSPSendDisconnect(s, NULL, &err), SOCKET_ERROR);
    OPNOTSUPP(P.lpWSPSendTo(s, &wb, 1, &n, 0, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL,
                            &err), SOCKET_ERROR);
    OPNOTSUPP(P.lpWSPShutdown(s, SD_BOTH, &err), SOCKET_ERROR);
    OPNOTSUPP(P.lpWSPStringToAddress(text, AF_INET, NULL, (LPSOCKADDR)&a, &len, &err),
              SOCKET_ERROR);
    OPNOTSUPP(P.lpWSPDuplicateSocket(s, (DWORD)getpid(), &pi, &err), SOCKET_ERROR);
    OPNOTSUPP(P.lpWSPGetQOSByName(s, &wb, &qos, &err), FALSE);
#undef OPNOTSUPP
    close_socket(s);
}

/* ---- NULL lpErrno ---------------------------------------------------------------------------- */
static void test_null_errno(void)
{
    struct sockaddr_in a = ts_sin("127.0.0.1", 0);
    char buf[64];
    int len = sizeof buf;
    DWORD bytes;
    CHECK_EQ_INT(P.lpWSPSocket(AF_UNIX, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED, NULL),
                 INVALID_SOCKET);
    CHECK_EQ_INT(P.lpWSPCloseSocket((SOCKET)0x12345678, NULL), SOCKET_ERROR);
    CHECK_EQ_INT(P.lpWSPBind((SOCKET)0x12345678, (struct sockaddr *)&a, sizeof a, NULL),
                 SOCKET_ERROR);
    SOCKET s = P.lpWSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED, NULL);
    CHECK(s != INVALID_SOCKET);
    CHECK_EQ_INT(P.lpWSPBind(s, NULL, 16, NULL), SOCKET_ERROR);
    CHECK_EQ_INT(P.lpWSPGetSockName(s, (struct sockaddr *)buf, &len, NULL), SOCKET_ERROR);
    CHECK_EQ_INT(P.lpWSPGetSockOpt(s, 99, 1, buf, &len, NULL), SOCKET_ERROR);
    CHECK_EQ_INT(P.lpWSPSetSockOpt(s, WS_SOL_SOCKET, WS_SO_TYPE, buf, 4, NULL), SOCKET_ERROR);
    CHECK_EQ_INT(P.lpWSPIoctl(s, 0x12345678, NULL, 0, NULL, 0, &bytes, NULL, NULL, NULL, NULL),
                 SOCKET_ERROR);
    CHECK_EQ_INT(P.lpWSPShutdown(s, SD_BOTH, NULL), SOCKET_ERROR);
    CHECK_EQ_INT(P.lpWSPCloseSocket(s, NULL), 0);
}

/* ---- threads --------------------------------------------------------------------------------- */
static void *worker(void *arg)
{
    long fails = 0;
    (void)arg;
    for (int i = 0; i < 500; i++) {
        int err = 0;
        SOCKET s = P.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                                 WSA_FLAG_OVERLAPPED, &err);
        if (s == INVALID_SOCKET) {
            fails++;
            continue;
        }
        struct sockaddr_in a = ts_sin("127.0.0.1", 0), o;
        int len = sizeof o;
        fails += P.lpWSPBind(s, (struct sockaddr *)&a, sizeof a, &err) != 0;
        fails += P.lpWSPGetSockName(s, (struct sockaddr *)&o, &len, &err) != 0 || o.sin_port == 0;
        fails += P.lpWSPCloseSocket(s, &err) != 0;
    }
    return (void *)fails;
}

static void test_threads(void)
{
    pthread_t t[4];
    ts_counts a, b;
    long fails = 0;
    ts_get_counts(&a);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        fails += (long)r;
    }
    ts_get_counts(&b);
    CHECK_EQ_INT(fails, 0);
    CHECK_EQ_INT(b.create_socket_handle - a.create_socket_handle, 2000);
    CHECK_EQ_INT(b.close_socket_handle - a.close_socket_handle, 2000);
}

/* ---- reference counting and the final cleanup ------------------------------------------------- */
static void test_refcount(void)
{
    WSPDATA d;
    WSAPROTOCOL_INFOW pi;
    WSPUPCALLTABLE plain;
    WSPPROC_TABLE t2;
    LPWSPSTARTUP startup_plain;
    int refs = 1, err;

    CHECK_EQ_INT(startup(MAKEWORD(2, 3), &d), 0);
    check_wspdata(&d);
    refs++;
    CHECK_EQ_INT(startup(MAKEWORD(3, 0), &d), 0);
    check_wspdata(&d);
    refs++;

    *(void **)&startup_plain = dlsym(lib, "WSPStartup");
    CHECK(startup_plain != NULL);
    if (startup_plain) {
        memset(&pi, 0, sizeof pi);
        ts_upcalls_plain(&plain);
        CHECK_EQ_INT(startup_plain(MAKEWORD(2, 1), &d, &pi, plain, &t2), WSAVERNOTSUPPORTED);
        memset(&t2, 0, sizeof t2);
        memset(&d, 0, sizeof d);
        CHECK_EQ_INT(startup_plain(MAKEWORD(2, 2), &d, &pi, plain, &t2), 0);
        check_wspdata(&d);
        CHECK(memcmp(&t2, &P, sizeof P) == 0);
        refs++;
    }

    ts_counts a, b;
    SOCKET open[3];
    for (int i = 0; i < 3; i++)
        open[i] = new_socket(AF_INET);
    CHECK_EQ_INT(bind4(open[0], "127.0.0.1", 0), 0);
    ts_get_counts(&a);
    for (int i = 1; i < refs; i++) {
        err = NOERR;
        CHECK_EQ_INT(P.lpWSPCleanup(&err), 0);
    }
    /* still initialised: sockets alive, no handle closed */
    CHECK(local_port(open[0]) != 0);
    ts_get_counts(&b);
    CHECK_EQ_INT(b.close_socket_handle - a.close_socket_handle, 0);
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPCleanup(&err), 0); /* the last one */
    ts_get_counts(&b);
    CHECK_EQ_INT(b.close_socket_handle - a.close_socket_handle, 3);
    CHECK_EQ_INT(ts_live_handles(), 0);
    for (int i = 0; i < 3; i++) {
        int closes = -1;
        CHECK_EQ_INT(ts_find_by_context(open[i], NULL, NULL, &closes), 0);
        CHECK_EQ_INT(closes, 1);
    }
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPCleanup(&err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSANOTINITIALISED);
    expect_not_initialised(__LINE__);
    CHECK_EQ_INT(P.lpWSPCleanup(NULL), SOCKET_ERROR);

    /* start again after a full cleanup */
    CHECK_EQ_INT(startup(MAKEWORD(2, 2), &d), 0);
    SOCKET s = new_socket(AF_INET);
    CHECK_EQ_INT(bind4(s, "127.0.0.1", 0), 0);
    close_socket(s);
    err = NOERR;
    CHECK_EQ_INT(P.lpWSPCleanup(&err), 0);
    expect_not_initialised(__LINE__);
}

/* ---- SANWSP_ADDRESSES=127.0.0.0/8 ------------------------------------------------------------ */
static void test_restricted(void)
{
    WSPDATA d;
    memset(&P, 0, sizeof P);
    CHECK_EQ_INT(startup(MAKEWORD(2, 2), &d), 0);
    if (!all_slots())
        return;
    SOCKET s = new_socket(AF_INET), s6 = new_socket(AF_INET6);
    CHECK_EQ_INT(bind6(s6, "::1", 0), WSAEADDRNOTAVAIL);
    char host[64];
    if (host_ipv4(host, sizeof host)) {
        printf("  host address %s (not served)\n", host);
        CHECK_EQ_INT(bind4(s, host, 0), WSAEADDRNOTAVAIL);
    }

    union {
        SOCKET_ADDRESS_LIST l;
        char raw[4096];
    } u;
    DWORD bytes = 0;
    memset(&u, 0xCD, sizeof u);
    CHECK_EQ_INT(ioctl_err(s6, SIO_ADDRESS_LIST_QUERY, NULL, 0, u.raw, sizeof u, &bytes), 0);
    CHECK_EQ_INT(u.l.iAddressCount, 0);
    CHECK(bytes >= sizeof(INT) && bytes <= sizeof u);

    SOCKET_ADDRESS_LIST *l;
    DWORD size;
    int n = address_list(s, &l, &size);
    CHECK(n >= 1);
    if (n >= 1) {
        CHECK(list_check(l, size, AF_INET, "127.0.0.1"));
        for (int i = 0; i < n; i++) {
            struct sockaddr_in *a = (struct sockaddr_in *)l->Address[i].lpSockaddr;
            CHECK_EQ_INT(ntohl(a->sin_addr.s_addr) >> 24, 127);
        }
        free(l);
    }
    CHECK_EQ_INT(bind4(s, "127.0.0.1", 0), 0);
    close_socket(s);
    close_socket(s6);
    int err = NOERR;
    CHECK_EQ_INT(P.lpWSPCleanup(&err), 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s path/to/libsanwsp.so [restricted]\n", argv[0]);
        return 2;
    }
    int restricted = argc > 2 && strcmp(argv[2], "restricted") == 0;
    if (restricted)
        setenv("SANWSP_ADDRESSES", "127.0.0.0/8", 1);
    else
        unsetenv("SANWSP_ADDRESSES");
    setvbuf(stdout, NULL, _IOLBF, 0);

    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        CHECK(lib != NULL);
        return t_summary();
    }
    check_no_swift_mapped();
    *(void **)&startup_ex = dlsym(lib, "WSPStartupEx");
    CHECK(startup_ex != NULL);
    CHECK_EQ_INT(ts_init(lib), 0);
    if (!startup_ex)
        return t_summary();
    ts_upcalls(&up);

    if (restricted) {
        test_restricted();
    } else {
        test_before_startup();
        test_startup_errors();
        test_startup_ok();
        if (all_slots()) {
            test_socket();
            test_close();
            test_bind();
            test_sockopt(AF_INET);
            test_sockopt(AF_INET6);
            test_ioctl();
            test_unimplemented();
            test_null_errno();
            test_threads();
            test_refcount();
        }
    }

    ts_counts c;
    ts_get_counts(&c);
    printf("upcalls: create %ld close %ld (bad %ld, double %ld, after close %ld) complete %ld\n",
           c.create_socket_handle, c.close_socket_handle, c.close_bad, c.double_close,
           c.after_close, c.complete_overlapped);
    CHECK_EQ_INT(c.close_bad, 0);
    CHECK_EQ_INT(c.double_close, 0);
    CHECK_EQ_INT(c.after_close, 0);
    CHECK_EQ_INT(c.create_socket_handle - c.create_failed, c.close_socket_handle);
    return t_summary();
}
