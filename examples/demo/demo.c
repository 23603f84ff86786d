/*
 * demo.c — loads libsanwsp.so the way a Winsock switch would and walks through the basics:
 * startup, served addresses, extension functions, one socket, cleanup.
 *
 *   sanwsp_demo [path/to/libsanwsp.so]
 */
#define _GNU_SOURCE
#include "sanwsp.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a minimal switch -------------------------------------------------------------------------- */
static atomic_long n_create, n_close, n_complete, n_event;
static atomic_ulong next_handle = 0x5000;
static BOOL (*set_event)(WSAEVENT);
static BOOL (*reset_event)(WSAEVENT);
static WSAEVENT (*create_event)(void);
static BOOL (*close_event)(WSAEVENT);

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
    if (ov->hEvent)
        set_event((WSAEVENT)((uintptr_t)ov->hEvent & ~(uintptr_t)1));
    return 0;
}

static BOOL up_set_event(WSAEVENT e, LPINT err)
{
    atomic_fetch_add(&n_event, 1);
    if (set_event(e))
        return TRUE;
    *err = WSA_INVALID_HANDLE;
    return FALSE;
}

static BOOL up_reset_event(WSAEVENT e, LPINT err)
{
    atomic_fetch_add(&n_event, 1);
    if (reset_event(e))
        return TRUE;
    *err = WSA_INVALID_HANDLE;
    return FALSE;
}

static WSAEVENT up_create_event(LPINT err)
{
    atomic_fetch_add(&n_event, 1);
    WSAEVENT e = create_event();
    if (!e)
        *err = WSA_NOT_ENOUGH_MEMORY;
    return e;
}

static BOOL up_close_event(WSAEVENT e, LPINT err)
{
    atomic_fetch_add(&n_event, 1);
    if (close_event(e))
        return TRUE;
    *err = WSA_INVALID_HANDLE;
    return FALSE;
}

/* ---- helpers ------------------------------------------------------------------------------- */
static void *must(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "demo: %s not exported: %s\n", name, dlerror());
        exit(1);
    }
    return p;
}

static void print_addresses(WSPPROC_TABLE *t, int af)
{
    int err = 0;
    SOCKET s = t->lpWSPSocket(af, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) {
        printf("  %s: no helper socket (error %d)\n", af == AF_INET ? "IPv4" : "IPv6", err);
        return;
    }
    DWORD need = 0;
    /* size probe: WSAEFAULT and the needed size */
    t->lpWSPIoctl(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, NULL, 0, &need, NULL, NULL, NULL, &err);
    SOCKET_ADDRESS_LIST *l = need ? malloc(need) : NULL;
    if (!l || t->lpWSPIoctl(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, l, need, &need, NULL, NULL, NULL,
                            &err) != 0) {
        printf("  %s: SIO_ADDRESS_LIST_QUERY failed (error %d)\n",
               af == AF_INET ? "IPv4" : "IPv6", err);
    } else {
        printf("  %s: %d served address(es)\n", af == AF_INET ? "IPv4" : "IPv6", l->iAddressCount);
        for (int i = 0; i < l->iAddressCount; i++) {
            char text[INET6_ADDRSTRLEN] = "?";
            struct sockaddr *sa = l->Address[i].lpSockaddr;
            if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, text, sizeof text);
            else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof text);
            printf("    %s\n", text);
        }
    }
    free(l);
    t->lpWSPCloseSocket(s, &err);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "libsanwsp.so";
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "demo: dlopen %s: %s\n", path, dlerror());
        return 1;
    }
    printf("loaded %s\n", path);
    LPWSPSTARTUPEX startup;
    *(void **)&startup = must(lib, "WSPStartupEx");
    *(void **)&set_event = must(lib, "WSASetEvent");
    *(void **)&reset_event = must(lib, "WSAResetEvent");
    *(void **)&create_event = must(lib, "WSACreateEvent");
    *(void **)&close_event = must(lib, "WSACloseEvent");

    WSPUPCALLTABLEEX up;
    memset(&up, 0, sizeof up);
    up.lpWPUCreateSocketHandle = create_socket_handle;
    up.lpWPUCloseSocketHandle = close_socket_handle;
    up.lpWPUCompleteOverlappedRequest = complete_overlapped;
    up.lpWPUSetEvent = up_set_event;
    up.lpWPUResetEvent = up_reset_event;
    up.lpWPUCreateEvent = up_create_event;
    up.lpWPUCloseEvent = up_close_event;

    WSPDATA data;
    WSAPROTOCOL_INFOW tcp;
    WSPPROC_TABLE t;
    memset(&tcp, 0, sizeof tcp);
    memset(&t, 0, sizeof t);
    int rc = startup(MAKEWORD(2, 2), &data, &tcp, &up, &t);
    if (rc != 0) {
        fprintf(stderr, "demo: WSPStartupEx failed: %d\n", rc);
        return 1;
    }
    char desc[WSPDESCRIPTION_LEN + 1];
    int i;
    for (i = 0; i < WSPDESCRIPTION_LEN && data.szDescription[i]; i++)
        desc[i] = data.szDescription[i] < 0x80 ? (char)data.szDescription[i] : '?';
    desc[i] = 0;
    printf("WSPStartupEx: version %d.%d (highest %d.%d), \"%s\"\n", LOBYTE(data.wVersion),
           HIBYTE(data.wVersion), LOBYTE(data.wHighVersion), HIBYTE(data.wHighVersion), desc);

    printf("served addresses:\n");
    print_addresses(&t, AF_INET);
    print_addresses(&t, AF_INET6);

    static const struct {
        GUID id;
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
    printf("extension functions:\n");
    for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
        GUID id = ext[k].id;
        void *fn = NULL;
        DWORD bytes = 0;
        int err = 0;
        int r = t.lpWSPIoctl(INVALID_SOCKET, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id,
                             &fn, sizeof fn, &bytes, NULL, NULL, NULL, &err);
        if (r == 0)
            printf("  %-36s available\n", ext[k].name);
        else
            printf("  %-36s not available (error %d)\n", ext[k].name, err);
    }

    int err = 0, failed = 0;
    SOCKET s = t.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) {
        fprintf(stderr, "demo: WSPSocket failed: %d\n", err);
        failed = 1;
    } else {
        struct sockaddr_in a, out;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int len = sizeof out;
        if (t.lpWSPBind(s, (struct sockaddr *)&a, sizeof a, &err) != 0) {
            fprintf(stderr, "demo: WSPBind failed: %d\n", err);
            failed = 1;
        } else if (t.lpWSPGetSockName(s, (struct sockaddr *)&out, &len, &err) != 0) {
            fprintf(stderr, "demo: WSPGetSockName failed: %d\n", err);
            failed = 1;
        } else {
            char text[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &out.sin_addr, text, sizeof text);
            printf("socket %#lx bound to %s:%u\n", (unsigned long)s, text, ntohs(out.sin_port));
        }
        if (t.lpWSPCloseSocket(s, &err) != 0) {
            fprintf(stderr, "demo: WSPCloseSocket failed: %d\n", err);
            failed = 1;
        }
    }

    printf("upcalls: WPUCreateSocketHandle %ld, WPUCloseSocketHandle %ld, "
           "WPUCompleteOverlappedRequest %ld, event upcalls %ld\n",
           atomic_load(&n_create), atomic_load(&n_close), atomic_load(&n_complete),
           atomic_load(&n_event));
    if (atomic_load(&n_create) != atomic_load(&n_close)) {
        fprintf(stderr, "demo: socket handles created and closed differ\n");
        failed = 1;
    }
    if (t.lpWSPCleanup(&err) != 0) {
        fprintf(stderr, "demo: WSPCleanup failed: %d\n", err);
        failed = 1;
    }
    printf(failed ? "demo failed\n" : "demo done\n");
    return failed;
}
