/* test_switch.c — see test_switch.h. */
#define _GNU_SOURCE
#include "test_switch.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- assertions --------------------------------------------------------------------------- */
static atomic_int g_passed, g_failed;

void t_check(int ok, const char *expr, const char *file, int line)
{
    if (ok) {
        atomic_fetch_add(&g_passed, 1);
        return;
    }
    atomic_fetch_add(&g_failed, 1);
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
}

void t_check_eq(long long a, long long b, const char *ea, const char *eb, const char *file,
                int line)
{
    if (a == b) {
        atomic_fetch_add(&g_passed, 1);
        return;
    }
    atomic_fetch_add(&g_failed, 1);
    fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s == %s (%lld vs %lld, 0x%llx vs 0x%llx)\n",
            file, line, ea, eb, a, b, (unsigned long long)a, (unsigned long long)b);
}

int t_failures(void) { return atomic_load(&g_failed); }

int t_summary(void)
{
    int f = atomic_load(&g_failed);
    printf("%d passed, %d failed\n", atomic_load(&g_passed), f);
    fflush(stdout);
    return f ? 1 : 0;
}

/* ---- switch state (all under one mutex) ------------------------------------------------------ */
typedef struct rec {
    DWORD catalog;
    DWORD_PTR ctx;
    int closes;
} rec;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static rec *g_recs;          /* g_recs[i] describes handle TS_HANDLE_BASE + i */
static size_t g_nrecs, g_cap;
static ts_counts g_counts;
static int g_inject_on, g_inject_err;
static DWORD g_last_catalog;
static DWORD_PTR g_last_ctx;

static WSAEVENT (*p_create_event)(void);
static BOOL (*p_close_event)(WSAEVENT);
static BOOL (*p_set_event)(WSAEVENT);
static BOOL (*p_reset_event)(WSAEVENT);
static int (*p_last_error)(void);

static void set_err(LPINT e, int v)
{
    if (e)
        *e = v;
}

/* Returns the record of handle s or NULL; caller holds g_lock. */
static rec *lookup(SOCKET s)
{
    if (s < TS_HANDLE_BASE || s - TS_HANDLE_BASE >= g_nrecs)
        return NULL;
    return &g_recs[s - TS_HANDLE_BASE];
}

static SOCKET WSPAPI ts_create_socket_handle(DWORD catalog, DWORD_PTR ctx, LPINT err)
{
    pthread_mutex_lock(&g_lock);
    g_counts.create_socket_handle++;
    g_last_catalog = catalog;
    g_last_ctx = ctx;
    if (g_inject_on) {
        g_counts.create_failed++;
        set_err(err, g_inject_err);
        pthread_mutex_unlock(&g_lock);
        return INVALID_SOCKET;
    }
    if (g_nrecs == g_cap) {
        size_t cap = g_cap ? g_cap * 2 : 1024;
        rec *n = realloc(g_recs, cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&g_lock);
            set_err(err, WSAENOBUFS);
            return INVALID_SOCKET;
        }
        g_recs = n;
        g_cap = cap;
    }
    g_recs[g_nrecs] = (rec){ catalog, ctx, 0 };
    SOCKET h = TS_HANDLE_BASE + g_nrecs++;
    pthread_mutex_unlock(&g_lock);
    return h;
}

static int WSPAPI ts_close_socket_handle(SOCKET s, LPINT err)
{
    pthread_mutex_lock(&g_lock);
    g_counts.close_socket_handle++;
    rec *r = lookup(s);
    int rc = 0;
    if (!r) {
        g_counts.close_bad++;
        fprintf(stderr, "test switch: WPUCloseSocketHandle(%#lx): never issued\n",
                (unsigned long)s);
        rc = SOCKET_ERROR;
    } else if (r->closes++ > 0) {
        g_counts.double_close++;
        g_counts.after_close++;
        fprintf(stderr, "test switch: WPUCloseSocketHandle(%#lx): double close\n",
                (unsigned long)s);
        rc = SOCKET_ERROR;
    }
    pthread_mutex_unlock(&g_lock);
    if (rc)
        set_err(err, WSAENOTSOCK);
    return rc;
}

static int WSPAPI ts_query_context(SOCKET s, PDWORD_PTR ctx, LPINT err)
{
    pthread_mutex_lock(&g_lock);
    g_counts.query_context++;
    rec *r = lookup(s);
    int ok = r && r->closes == 0;
    if (r && !ok)
        g_counts.after_close++;
    if (ok && ctx)
        *ctx = r->ctx;
    pthread_mutex_unlock(&g_lock);
    if (!ok || !ctx) {
        set_err(err, ok ? WSAEFAULT : WSAENOTSOCK);
        return SOCKET_ERROR;
    }
    return 0;
}

static int WSPAPI ts_complete_overlapped(SOCKET s, LPWSAOVERLAPPED ov, DWORD dwError,
                                         DWORD cb, LPINT err)
{
    (void)dwError; /* the provider already stored it in OffsetHigh */
    pthread_mutex_lock(&g_lock);
    g_counts.complete_overlapped++;
    rec *r = lookup(s);
    int ok = r && r->closes == 0;
    if (r && !ok)
        g_counts.after_close++;
    pthread_mutex_unlock(&g_lock);
    if (!ok || !ov) {
        set_err(err, WSAEINVAL);
        return SOCKET_ERROR;
    }
    ov->InternalHigh = cb;
    __atomic_store_n(&ov->Internal, (ULONG_PTR)0, __ATOMIC_RELEASE);
    WSAEVENT ev = (WSAEVENT)((uintptr_t)ov->hEvent & ~(uintptr_t)1);
    if (ev && p_set_event)
        p_set_event(ev);
    return 0;
}

static void count_event(long *c)
{
    pthread_mutex_lock(&g_lock);
    (*c)++;
    pthread_mutex_unlock(&g_lock);
}

static int last_error(void) { return p_last_error ? p_last_error() : WSA_INVALID_HANDLE; }

static WSAEVENT WSPAPI ts_create_event(LPINT err)
{
    count_event(&g_counts.create_event);
    WSAEVENT e = p_create_event ? p_create_event() : NULL;
    if (!e)
        set_err(err, p_create_event ? last_error() : WSAEOPNOTSUPP);
    return e;
}

static BOOL forward(BOOL (*fn)(WSAEVENT), WSAEVENT e, LPINT err)
{
    if (!fn) {
        set_err(err, WSAEOPNOTSUPP);
        return FALSE;
    }
    BOOL ok = fn(e);
    if (!ok)
        set_err(err, last_error());
    return ok;
}

static BOOL WSPAPI ts_close_event(WSAEVENT e, LPINT err)
{
    count_event(&g_counts.close_event);
    return forward(p_close_event, e, err);
}

static BOOL WSPAPI ts_set_event(WSAEVENT e, LPINT err)
{
    count_event(&g_counts.set_event);
    return forward(p_set_event, e, err);
}

static BOOL WSPAPI ts_reset_event(WSAEVENT e, LPINT err)
{
    count_event(&g_counts.reset_event);
    return forward(p_reset_event, e, err);
}

/* ---- slots a SAN switch does not serve ------------------------------------------------------- */
static int unsupported(LPINT err)
{
    count_event(&g_counts.unsupported);
    set_err(err, WSAEOPNOTSUPP);
    return SOCKET_ERROR;
}

static int WSPAPI ts_fd_is_set(SOCKET s, WS_fd_set *set)
{
    (void)s, (void)set;
    count_event(&g_counts.unsupported);
    return 0;
}

static int WSPAPI ts_get_provider_path(LPGUID id, WCHAR *path, LPINT len, LPINT err)
{
    (void)id, (void)path, (void)len;
    return unsupported(err);
}

static SOCKET WSPAPI ts_modify_ifs_handle(DWORD cat, SOCKET h, LPINT err)
{
    (void)cat, (void)h;
    unsupported(err);
    return INVALID_SOCKET;
}

static BOOL WSPAPI ts_post_message(HWND w, UINT m, WPARAM wp, LPARAM lp)
{
    (void)w, (void)m, (void)wp, (void)lp;
    count_event(&g_counts.unsupported);
    return FALSE;
}

static int WSPAPI ts_query_blocking_callback(DWORD cat, LPBLOCKINGCALLBACK *cb, PDWORD_PTR ctx,
                                             LPINT err)
{
    (void)cat, (void)cb, (void)ctx;
    return unsupported(err);
}

static int WSPAPI ts_queue_apc(LPWSATHREADID t, LPWSAUSERAPC fn, DWORD_PTR ctx, LPINT err)
{
    (void)t, (void)fn, (void)ctx;
    return unsupported(err);
}

static int WSPAPI ts_open_current_thread(LPWSATHREADID t, LPINT err)
{
    (void)t;
    return unsupported(err);
}

static int WSPAPI ts_close_thread(LPWSATHREADID t, LPINT err)
{
    (void)t;
    return unsupported(err);
}

/* ---- public ---------------------------------------------------------------------------------- */
int ts_init(void *lib)
{
    *(void **)&p_create_event = dlsym(lib, "WSACreateEvent");
    *(void **)&p_close_event = dlsym(lib, "WSACloseEvent");
    *(void **)&p_set_event = dlsym(lib, "WSASetEvent");
    *(void **)&p_reset_event = dlsym(lib, "WSAResetEvent");
    *(void **)&p_last_error = dlsym(lib, "WSAGetLastError");
    return p_create_event && p_close_event && p_set_event && p_reset_event ? 0 : -1;
}

void ts_upcalls(WSPUPCALLTABLEEX *t)
{
    memset(t, 0, sizeof *t);
    t->lpWPUCloseEvent = ts_close_event;
    t->lpWPUCloseSocketHandle = ts_close_socket_handle;
    t->lpWPUCreateEvent = ts_create_event;
    t->lpWPUCreateSocketHandle = ts_create_socket_handle;
    t->lpWPUFDIsSet = ts_fd_is_set;
    t->lpWPUGetProviderPath = ts_get_provider_path;
    t->lpWPUModifyIFSHandle = ts_modify_ifs_handle;
    t->lpWPUPostMessage = ts_post_message;
    t->lpWPUQueryBlockingCallback = ts_query_blocking_callback;
    t->lpWPUQuerySocketHandleContext = ts_query_context;
    t->lpWPUQueueApc = ts_queue_apc;
    t->lpWPUResetEvent = ts_reset_event;
    t->lpWPUSetEvent = ts_set_event;
    t->lpWPUOpenCurrentThread = ts_open_current_thread;
    t->lpWPUCloseThread = ts_close_thread;
    t->lpWPUCompleteOverlappedRequest = ts_complete_overlapped;
}

void ts_upcalls_plain(WSPUPCALLTABLE *t)
{
    WSPUPCALLTABLEEX ex;
    ts_upcalls(&ex);
    memcpy(t, &ex, sizeof *t); /* identical prefix */
}

void ts_get_counts(ts_counts *out)
{
    pthread_mutex_lock(&g_lock);
    *out = g_counts;
    pthread_mutex_unlock(&g_lock);
}

void ts_inject_create_error(int err)
{
    pthread_mutex_lock(&g_lock);
    g_inject_on = 1;
    g_inject_err = err;
    pthread_mutex_unlock(&g_lock);
}

void ts_inject_clear(void)
{
    pthread_mutex_lock(&g_lock);
    g_inject_on = 0;
    pthread_mutex_unlock(&g_lock);
}

int ts_find_by_context(DWORD_PTR ctx, SOCKET *handle, DWORD *catalog, int *closes)
{
    int found = -1;
    pthread_mutex_lock(&g_lock);
    for (size_t i = g_nrecs; i-- > 0;) {
        if (g_recs[i].ctx == ctx) {
            if (handle)
                *handle = TS_HANDLE_BASE + i;
            if (catalog)
                *catalog = g_recs[i].catalog;
            if (closes)
                *closes = g_recs[i].closes;
            found = 0;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return found;
}

long ts_live_handles(void)
{
    long n = 0;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_nrecs; i++)
        n += g_recs[i].closes == 0;
    pthread_mutex_unlock(&g_lock);
    return n;
}

void ts_last_create(DWORD *catalog, DWORD_PTR *ctx)
{
    pthread_mutex_lock(&g_lock);
    *catalog = g_last_catalog;
    *ctx = g_last_ctx;
    pthread_mutex_unlock(&g_lock);
}

struct sockaddr_in ts_sin(const char *ip, unsigned short port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

struct sockaddr_in6 ts_sin6(const char *ip, unsigned short port)
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

int ts_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}
