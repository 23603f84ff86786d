/*
 * sw_provider.c — loading a SAN provider the way the Windows switch does: dlopen, WSPStartupEx
 * with our upcall table, served addresses (SIO_ADDRESS_LIST_QUERY) and extension functions
 * (SIO_GET_EXTENSION_FUNCTION_POINTER). Also the upcalls themselves: socket handles, event
 * objects (eventfd based, so any provider works) and overlapped completion.
 */
#include "sw_internal.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

sw_provider g_prov;
sw_config g_cfg;

void sw_trace(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[sw %d] ", (int)getpid());
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void set_err(LPINT e, int v)
{
    if (e)
        *e = v;
}

/* ---- completion sequence ------------------------------------------------------------------- */
static pthread_mutex_t g_seq_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_seq_cv;
static uint64_t g_seq_val;

uint64_t sw_seq(void)
{
    pthread_mutex_lock(&g_seq_mu);
    uint64_t v = g_seq_val;
    pthread_mutex_unlock(&g_seq_mu);
    return v;
}

void sw_kick(void)
{
    pthread_mutex_lock(&g_seq_mu);
    g_seq_val++;
    pthread_cond_broadcast(&g_seq_cv);
    pthread_mutex_unlock(&g_seq_mu);
}

void sw_seq_wait(uint64_t seen, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g_seq_mu);
    while (g_seq_val == seen) {
        if (pthread_cond_timedwait(&g_seq_cv, &g_seq_mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&g_seq_mu);
}

/* ---- socket handles ------------------------------------------------------------------------- */
#define HANDLE_BASE 0x10000u
typedef struct hrec {
    DWORD_PTR ctx;
    int closed;
} hrec;
static pthread_mutex_t g_h_mu = PTHREAD_MUTEX_INITIALIZER;
static hrec *g_h;
static size_t g_hn, g_hcap;
static __thread SOCKET t_last_handle = INVALID_SOCKET;

SOCKET sw_last_created_handle(void) { return t_last_handle; }

static hrec *hlookup(SOCKET s)
{
    if (s < HANDLE_BASE || s - HANDLE_BASE >= g_hn)
        return NULL;
    return &g_h[s - HANDLE_BASE];
}

int sw_handle_closed(SOCKET h)
{
    pthread_mutex_lock(&g_h_mu);
    hrec *r = hlookup(h);
    int c = !r || r->closed;
    pthread_mutex_unlock(&g_h_mu);
    return c;
}

static SOCKET WSPAPI up_create_socket_handle(DWORD catalog, DWORD_PTR ctx, LPINT err)
{
    (void)catalog;
    pthread_mutex_lock(&g_h_mu);
    if (g_hn == g_hcap) {
        size_t cap = g_hcap ? g_hcap * 2 : 256;
        hrec *n = realloc(g_h, cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&g_h_mu);
            set_err(err, WSAENOBUFS);
            return INVALID_SOCKET;
        }
        g_h = n;
        g_hcap = cap;
    }
    g_h[g_hn] = (hrec){ ctx, 0 };
    SOCKET h = HANDLE_BASE + g_hn++;
    pthread_mutex_unlock(&g_h_mu);
    t_last_handle = h;
    SW_TRACE("WPUCreateSocketHandle(ctx=%#lx) -> %#lx", (unsigned long)ctx, (unsigned long)h);
    return h;
}

static int WSPAPI up_close_socket_handle(SOCKET s, LPINT err)
{
    pthread_mutex_lock(&g_h_mu);
    hrec *r = hlookup(s);
    int ok = r && !r->closed;
    if (ok)
        r->closed = 1;
    pthread_mutex_unlock(&g_h_mu);
    SW_TRACE("WPUCloseSocketHandle(%#lx)%s", (unsigned long)s, ok ? "" : " BAD");
    sw_kick();
    if (!ok) {
        set_err(err, WSAENOTSOCK);
        return SOCKET_ERROR;
    }
    return 0;
}

static int WSPAPI up_query_context(SOCKET s, PDWORD_PTR ctx, LPINT err)
{
    pthread_mutex_lock(&g_h_mu);
    hrec *r = hlookup(s);
    int ok = r && !r->closed;
    if (ok && ctx)
        *ctx = r->ctx;
    pthread_mutex_unlock(&g_h_mu);
    if (!ok || !ctx) {
        set_err(err, ok ? WSAEFAULT : WSAENOTSOCK);
        return SOCKET_ERROR;
    }
    return 0;
}

/* ---- events ---------------------------------------------------------------------------------- */
struct sw_event {
    pthread_mutex_t mu;
    int fd;
    int set;
} __attribute__((aligned(16))); /* bit 0 of a WSAEVENT must be free (hEvent convention) */

sw_event *sw_event_create(void)
{
    sw_event *e = aligned_alloc(16, sizeof *e);
    if (!e)
        return NULL;
    e->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->fd < 0) {
        free(e);
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    e->set = 0;
    return e;
}

void sw_event_close(sw_event *e)
{
    if (!e)
        return;
    close(e->fd);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

int sw_event_fd(sw_event *e) { return e->fd; }

static void event_set(sw_event *e)
{
    pthread_mutex_lock(&e->mu);
    if (!e->set) {
        uint64_t one = 1;
        if (write(e->fd, &one, sizeof one) == sizeof one)
            e->set = 1;
    }
    pthread_mutex_unlock(&e->mu);
}

static void event_reset(sw_event *e)
{
    pthread_mutex_lock(&e->mu);
    if (e->set) {
        uint64_t v;
        if (read(e->fd, &v, sizeof v) < 0 && errno != EAGAIN)
            perror("sw: eventfd read");
        e->set = 0;
    }
    pthread_mutex_unlock(&e->mu);
}

static WSAEVENT WSPAPI up_create_event(LPINT err)
{
    sw_event *e = sw_event_create();
    if (!e)
        set_err(err, WSA_NOT_ENOUGH_MEMORY);
    return (WSAEVENT)e;
}

static BOOL WSPAPI up_close_event(WSAEVENT h, LPINT err)
{
    if (!h) {
        set_err(err, WSA_INVALID_HANDLE);
        return FALSE;
    }
    sw_event_close((sw_event *)h);
    return TRUE;
}

static BOOL WSPAPI up_set_event(WSAEVENT h, LPINT err)
{
    if (!h) {
        set_err(err, WSA_INVALID_HANDLE);
        return FALSE;
    }
    event_set((sw_event *)h);
    return TRUE;
}

static BOOL WSPAPI up_reset_event(WSAEVENT h, LPINT err)
{
    if (!h) {
        set_err(err, WSA_INVALID_HANDLE);
        return FALSE;
    }
    event_reset((sw_event *)h);
    return TRUE;
}

/* ---- overlapped completion ------------------------------------------------------------------ */
static int WSPAPI up_complete(SOCKET s, LPWSAOVERLAPPED ov, DWORD dwError, DWORD cb, LPINT err)
{
    (void)dwError; /* the provider stored it in OffsetHigh; WSPGetOverlappedResult reads it */
    pthread_mutex_lock(&g_h_mu);
    hrec *r = hlookup(s);
    int ok = r && !r->closed;
    pthread_mutex_unlock(&g_h_mu);
    if (!ok || !ov) {
        set_err(err, WSAEINVAL);
        return SOCKET_ERROR;
    }
    ov->InternalHigh = cb;
    __atomic_store_n(&ov->Internal, (ULONG_PTR)0, __ATOMIC_RELEASE);
    sw_event *e = (sw_event *)((uintptr_t)ov->hEvent & ~(uintptr_t)1);
    if (e)
        event_set(e);
    sw_kick();
    return 0;
}

/* ---- upcalls a SAN switch does not serve ----------------------------------------------------- */
static int WSPAPI up_fd_is_set(SOCKET s, WS_fd_set *set)
{
    (void)s, (void)set;
    return 0;
}
static int WSPAPI up_get_provider_path(LPGUID id, WCHAR *p, LPINT len, LPINT err)
{
    (void)id, (void)p, (void)len;
    set_err(err, WSAEOPNOTSUPP);
    return SOCKET_ERROR;
}
static SOCKET WSPAPI up_modify_ifs(DWORD cat, SOCKET h, LPINT err)
{
    (void)cat, (void)h;
    set_err(err, WSAEOPNOTSUPP);
    return INVALID_SOCKET;
}
static BOOL WSPAPI up_post_message(HWND w, UINT m, WPARAM wp, LPARAM lp)
{
    (void)w, (void)m, (void)wp, (void)lp;
    return FALSE;
}
static int WSPAPI up_query_blocking(DWORD cat, LPBLOCKINGCALLBACK *cb, PDWORD_PTR ctx, LPINT err)
{
    (void)cat;
    if (cb)
        *cb = NULL; /* no blocking hook: blocking calls are never requested of a SAN provider */
    if (ctx)
        *ctx = 0;
    (void)err;
    return 0;
}
static int WSPAPI up_queue_apc(LPWSATHREADID t, LPWSAUSERAPC fn, DWORD_PTR ctx, LPINT err)
{
    (void)t, (void)fn, (void)ctx;
    set_err(err, WSAEOPNOTSUPP);
    return SOCKET_ERROR;
}
static int WSPAPI up_open_thread(LPWSATHREADID t, LPINT err)
{
    (void)t;
    set_err(err, WSAEOPNOTSUPP);
    return SOCKET_ERROR;
}
static int WSPAPI up_close_thread(LPWSATHREADID t, LPINT err)
{
    (void)t;
    set_err(err, WSAEOPNOTSUPP);
    return SOCKET_ERROR;
}

static WSPUPCALLTABLEEX g_up = {
    .lpWPUCloseEvent = up_close_event,
    .lpWPUCloseSocketHandle = up_close_socket_handle,
    .lpWPUCreateEvent = up_create_event,
    .lpWPUCreateSocketHandle = up_create_socket_handle,
    .lpWPUFDIsSet = up_fd_is_set,
    .lpWPUGetProviderPath = up_get_provider_path,
    .lpWPUModifyIFSHandle = up_modify_ifs,
    .lpWPUPostMessage = up_post_message,
    .lpWPUQueryBlockingCallback = up_query_blocking,
    .lpWPUQuerySocketHandleContext = up_query_context,
    .lpWPUQueueApc = up_queue_apc,
    .lpWPUResetEvent = up_reset_event,
    .lpWPUSetEvent = up_set_event,
    .lpWPUOpenCurrentThread = up_open_thread,
    .lpWPUCloseThread = up_close_thread,
    .lpWPUCompleteOverlappedRequest = up_complete,
};

/* ---- errors ---------------------------------------------------------------------------------- */
int sw_errno_of(int wsa)
{
    switch (wsa) {
    case 0: return 0;
    case WSAECONNREFUSED: return ECONNREFUSED;
    case WSAECONNRESET: return ECONNRESET;
    case WSAECONNABORTED: return ECONNABORTED;
    case WSAEHOSTUNREACH: return EHOSTUNREACH;
    case WSAENETUNREACH: return ENETUNREACH;
    case WSAETIMEDOUT: return ETIMEDOUT;
    case WSAEADDRINUSE: return EADDRINUSE;
    case WSAEADDRNOTAVAIL: return EADDRNOTAVAIL;
    case WSAENOBUFS: return ENOBUFS;
    case WSAEMSGSIZE: return EMSGSIZE;
    case WSAENOTCONN: return ENOTCONN;
    case WSA_OPERATION_ABORTED: return ECANCELED;
    case WSAEACCES: return EACCES;
    default: return EIO;
    }
}

/* ---- served addresses ------------------------------------------------------------------------ */
int sw_served_addresses(uint32_t *out, int max)
{
    if (!g_prov.loaded)
        return 0;
    int err = 0;
    SOCKET s = g_prov.t.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, &g_prov.tcp_info, 0,
                                    WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) {
        SW_TRACE("WSPSocket (address query) failed: %d", err);
        return -1;
    }
    DWORD need = 0;
    char small[1024];
    char *buf = small;
    int n = -1;
    int rc = g_prov.t.lpWSPIoctl(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, buf, sizeof small, &need,
                                 NULL, NULL, NULL, &err);
    if (rc != 0 && err == WSAEFAULT && need > sizeof small) {
        buf = malloc(need);
        if (buf)
            rc = g_prov.t.lpWSPIoctl(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, buf, need, &need, NULL,
                                     NULL, NULL, &err);
    }
    if (buf && rc == 0) {
        SOCKET_ADDRESS_LIST *l = (SOCKET_ADDRESS_LIST *)buf;
        n = 0;
        for (int i = 0; i < l->iAddressCount; i++) {
            struct sockaddr *sa = l->Address[i].lpSockaddr;
            if (!sa || sa->sa_family != AF_INET)
                continue;
            if (n < max)
                out[n] = ((struct sockaddr_in *)sa)->sin_addr.s_addr;
            n++;
        }
        if (n > max)
            n = max;
    } else {
        SW_TRACE("SIO_ADDRESS_LIST_QUERY failed: %d", err);
    }
    if (buf != small)
        free(buf);
    g_prov.t.lpWSPCloseSocket(s, &err);
    return n;
}

int sw_provider_serves(uint32_t ip_be)
{
    uint32_t a[256];
    int n = sw_served_addresses(a, 256);
    for (int i = 0; i < n; i++)
        if (a[i] == ip_be || ip_be == htonl(INADDR_ANY))
            return 1;
    return 0;
}

/* ---- startup --------------------------------------------------------------------------------- */
static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    return strtol(v, NULL, 0);
}

static int g_inited;
static pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;

static void *ext_fn(SOCKET s, GUID id, int *err)
{
    void *fn = NULL;
    DWORD bytes = 0;
    *err = 0;
    if (g_prov.t.lpWSPIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &fn,
                            sizeof fn, &bytes, NULL, NULL, NULL, err) != 0)
        return NULL;
    return fn;
}

static int load_provider(const char *path)
{
    g_prov.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!g_prov.lib) {
        fprintf(stderr, "sw: dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    LPWSPSTARTUPEX startup;
    *(void **)&startup = dlsym(g_prov.lib, "WSPStartupEx");
    if (!startup) {
        fprintf(stderr, "sw: %s does not export WSPStartupEx\n", path);
        return -1;
    }
    /* The TCP/IP provider's protocol info: what the Windows switch passes (§1.2). */
    WSAPROTOCOL_INFOW *pi = &g_prov.tcp_info;
    memset(pi, 0, sizeof *pi);
    pi->dwServiceFlags1 = XP1_GUARANTEED_DELIVERY | XP1_GUARANTEED_ORDER | XP1_GRACEFUL_CLOSE |
                          XP1_EXPEDITED_DATA | XP1_IFS_HANDLES;
    pi->ProtocolChain.ChainLen = BASE_PROTOCOL;
    pi->iVersion = 2;
    pi->iAddressFamily = AF_INET;
    pi->iMaxSockAddr = pi->iMinSockAddr = sizeof(struct sockaddr_in);
    pi->iSocketType = SOCK_STREAM;
    pi->iProtocol = IPPROTO_TCP;
    pi->iNetworkByteOrder = BIGENDIAN;
    const char *name = "MSAFD Tcpip [TCP/IP]";
    for (int i = 0; name[i]; i++)
        pi->szProtocol[i] = (WCHAR)name[i];

    WSPDATA data;
    memset(&data, 0, sizeof data);
    int rc = startup(MAKEWORD(2, 2), &data, pi, &g_up, &g_prov.t);
    if (rc != 0) {
        fprintf(stderr, "sw: WSPStartupEx failed: %d\n", rc);
        return -1;
    }
    int i;
    for (i = 0; i < (int)sizeof g_prov.description - 1 && data.szDescription[i]; i++)
        g_prov.description[i] = data.szDescription[i] < 0x80 ? (char)data.szDescription[i] : '?';
    g_prov.description[i] = 0;

    int err = 0;
    SOCKET s = g_prov.t.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, pi, 0,
                                    WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) {
        fprintf(stderr, "sw: WSPSocket (helper) failed: %d\n", err);
        return -1;
    }
    static const GUID g_reg = WSAID_REGISTERMEMORY, g_dereg = WSAID_DEREGISTERMEMORY,
                      g_regr = WSAID_REGISTERRDMAMEMORY, g_deregr = WSAID_DEREGISTERRDMAMEMORY,
                      g_w = WSAID_RDMAWRITE, g_r = WSAID_RDMAREAD;
    int e1, e2, e3, e4, e5;
    *(void **)&g_prov.reg = ext_fn(s, g_reg, &e1);
    *(void **)&g_prov.dereg = ext_fn(s, g_dereg, &e2);
    *(void **)&g_prov.reg_rdma = ext_fn(s, g_regr, &e3);
    *(void **)&g_prov.dereg_rdma = ext_fn(s, g_deregr, &e4);
    *(void **)&g_prov.rdma_write = ext_fn(s, g_w, &e5);
    *(void **)&g_prov.rdma_read = ext_fn(s, g_r, &g_prov.rdma_read_error);
    g_prov.t.lpWSPCloseSocket(s, &err);
    if (!g_prov.reg || !g_prov.dereg || !g_prov.reg_rdma || !g_prov.dereg_rdma ||
        !g_prov.rdma_write) {
        fprintf(stderr, "sw: mandatory extension function missing (errors %d %d %d %d %d)\n", e1,
                e2, e3, e4, e5);
        return -1;
    }
    if (!g_prov.rdma_read && g_prov.rdma_read_error != WSAEOPNOTSUPP)
        fprintf(stderr, "sw: WSAID_RDMAREAD answered %d (spec: WSAEOPNOTSUPP when unsupported)\n",
                g_prov.rdma_read_error);
    g_prov.loaded = 1;
    return 0;
}

int sw_init(const char *provider_path)
{
    pthread_mutex_lock(&g_init_mu);
    if (g_inited) {
        pthread_mutex_unlock(&g_init_mu);
        return 0;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_seq_cv, &ca);

    g_cfg.n = (uint32_t)env_long("SW_RECV_BUFFERS", 16);
    if (g_cfg.n < 4)
        g_cfg.n = 4;
    if (g_cfg.n > 4096)
        g_cfg.n = 4096;
    g_cfg.b = (uint32_t)env_long("SW_BUFFER_SIZE", 65600);
    if (g_cfg.b < 256)
        g_cfg.b = 256;
    if (g_cfg.b > (1u << 24))
        g_cfg.b = 1u << 24;
    g_cfg.chunk = (uint32_t)env_long("SW_RDMA_CHUNK", 1 << 20);
    if (g_cfg.chunk < 4096)
        g_cfg.chunk = 4096;
    g_cfg.threshold = env_long("SW_RDMA_THRESHOLD", -1);
    g_cfg.force_write_path = env_long("SW_FORCE_WRITE_PATH", 0) != 0;
    g_cfg.no_provider = env_long("SW_NO_PROVIDER", 0) != 0;
    g_cfg.trace = env_long("SW_TRACE", 0) != 0;
    g_cfg.linger_ms = env_long("SW_LINGER_MS", 10000);
    long zc = env_long("SW_ZCOPY_MIN", 16384);
    g_cfg.zcopy_min = zc <= 0 ? 0 : zc > (1L << 30) ? 1u << 30 : (uint32_t)zc;

    int rc = 0;
    if (!g_cfg.no_provider) {
        const char *path = provider_path ? provider_path : getenv("SW_PROVIDER");
        if (!path || !*path)
            path = "libsanwsp.so";
        if (load_provider(path) != 0) {
            memset(&g_prov, 0, sizeof g_prov);
            rc = env_long("SW_ALLOW_NO_PROVIDER", 0) ? 0 : -1;
        }
    }
    g_inited = rc == 0;
    pthread_mutex_unlock(&g_init_mu);
    return rc;
}

void sw_cleanup(void)
{
    pthread_mutex_lock(&g_init_mu);
    if (g_inited && g_prov.loaded) {
        int err = 0;
        g_prov.t.lpWSPCleanup(&err);
        /* the provider may keep threads that call back into us: leave it loaded */
        memset(&g_prov, 0, sizeof g_prov);
    }
    g_inited = 0;
    pthread_mutex_unlock(&g_init_mu);
}

void sw_get_provider_info(sw_provider_info *out)
{
    memset(out, 0, sizeof *out);
    out->loaded = g_prov.loaded;
    if (!g_prov.loaded)
        return;
    snprintf(out->description, sizeof out->description, "%s", g_prov.description);
    int n = sw_served_addresses(out->served, 16);
    out->served_count = n < 0 ? 0 : n;
    out->has_rdma_read = g_prov.rdma_read != NULL;
    out->rdma_read_error = g_prov.rdma_read ? 0 : g_prov.rdma_read_error;
}
