/*
 * test_hot_path_alloc.c — the data path allocates nothing per operation.
 *
 * This executable defines malloc and its relatives (counting, then calling glibc's own), so the
 * provider's allocations — Swift's runtime included, which is linked into libsanwsp.so — come
 * through here. One process holds both ends of a soft connection. After a warm-up, it counts the
 * allocations made while it streams messages (64 B and 64 KiB) and RDMA writes and reads
 * (64 KiB) with a window of outstanding operations, completed with WSPGetOverlappedResult.
 * Allowed: a few per second for the engine's hand-back timer (docs/DECISIONS.md), nothing per
 * operation; the limit is one allocation per 50 operations.
 */
#define _GNU_SOURCE
#include "mp_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* ---- counting allocator ------------------------------------------------------------------- */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_int counting;
static atomic_long allocations;

static void count(void)
{
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t k, size_t n) { count(); return __libc_calloc(k, n); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
void free(void *p) { __libc_free(p); }
int posix_memalign(void **out, size_t a, size_t n)
{
    count();
    void *p = __libc_memalign(a, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

/* ---- the pair -------------------------------------------------------------------------------- */
#define BIG 65536u
#define SMALL 64u
#define WINDOW 8

struct acceptor {
    SOCKET l, a;
    WSAEVENT e;
};

static void *accept_one(void *arg)
{
    struct acceptor *x = arg;
    int err = 0;
    x->a = mp_accept(x->l, x->e, NULL, 0, NULL, 20000, &err);
    return NULL;
}

static struct {
    SOCKET c, s;
    unsigned char *src, *dst, *region;
    HANDLE hsrc, hdst;
    unsigned char desc[64];
    DWORD desclen;
} P;

/* `rounds` windows of each workload; returns the number of operations. */
static long workload(int rounds)
{
    mp_op r[WINDOW], w[WINDOW];
    DWORD bytes = 0;
    long ops = 0;
    for (int k = 0; k < rounds; k++) {
        for (int big = 0; big < 2; big++) {
            size_t len = big ? BIG : SMALL;
            for (int i = 0; i < WINDOW; i++)
                CHECK_EQ_INT(mp_recv(P.s, &r[i], P.dst + (size_t)i * BIG, len), WSA_IO_PENDING);
            for (int i = 0; i < WINDOW; i++)
                CHECK_EQ_INT(mp_send(P.c, &w[i], P.src + (size_t)i * BIG, len), WSA_IO_PENDING);
            for (int i = 0; i < WINDOW; i++) {
                CHECK_EQ_INT(mp_wait(P.s, &r[i], &bytes), 0);
                CHECK_EQ_INT(bytes, len);
                CHECK_EQ_INT(mp_wait(P.c, &w[i], &bytes), 0);
            }
            ops += 2 * WINDOW;
        }
        for (int write = 1; write >= 0; write--) {
            for (int i = 0; i < WINDOW; i++)
                CHECK_EQ_INT(mp_rdma(write, P.c, &w[i], (write ? P.src : P.dst) + (size_t)i * BIG, BIG,
                                     write ? P.hsrc : P.hdst, P.desc, P.desclen, (DWORD)(i * BIG)),
                             WSA_IO_PENDING);
            for (int i = 0; i < WINDOW; i++) {
                CHECK_EQ_INT(mp_wait(P.c, &w[i], &bytes), 0);
                CHECK_EQ_INT(bytes, BIG);
            }
            ops += WINDOW;
        }
    }
    return ops;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK_EQ_INT(mp_startup(), 0);
    int err = 0;
    struct acceptor x = { mp_socket(&err), INVALID_SOCKET, WSACreateEvent() };
    CHECK_EQ_INT(mp_bind(x.l, mp_ip(), 0), 0);
    CHECK_EQ_INT(WSPListen(x.l, 5, &err), 0);
    CHECK_EQ_INT(WSPEventSelect(x.l, x.e, FD_ACCEPT, &err), 0);
    pthread_t t;
    CHECK_EQ_INT(pthread_create(&t, NULL, accept_one, &x), 0);
    P.c = mp_socket(&err);
    CHECK_EQ_INT(mp_bind(P.c, mp_ip(), 0), 0);
    struct sockaddr_in to = ts_sin(mp_ip(), mp_local_port(x.l));
    CHECK_EQ_INT(WSPConnect(P.c, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err), 0);
    pthread_join(t, NULL);
    P.s = x.a;
    CHECK(P.s != INVALID_SOCKET);
    if (P.s == INVALID_SOCKET)
        return t_summary();

    size_t span = (size_t)WINDOW * BIG;
    P.src = mp_alloc(span);
    P.dst = mp_alloc(span);
    P.region = mp_alloc(span);
    mp_fill(P.src, span, 7);
    P.hsrc = WSPRegisterMemory(P.c, P.src, (DWORD)span, MEM_READ, &err);
    P.hdst = WSPRegisterMemory(P.c, P.dst, (DWORD)span, MEM_WRITE, &err);
    CHECK(P.hsrc != NULL && P.hdst != NULL);
    CHECK(WSPRegisterMemory(P.s, P.dst, (DWORD)span, MEM_WRITE, &err) != NULL);
    P.desclen = sizeof P.desc;
    CHECK_EQ_INT(WSPRegisterRdmaMemory(P.s, P.region, (DWORD)span, MEM_READWRITE, P.desc, &P.desclen, &err), 0);

    workload(20); /* warm-up: first-use allocations (queues, tables) happen here */
    atomic_store(&allocations, 0);
    atomic_store(&counting, 1);
    long long t0 = mp_now_ms();
    long ops = workload(200);
    long long ms = mp_now_ms() - t0;
    atomic_store(&counting, 0);
    long n = atomic_load(&allocations);
    printf("%ld operations in %lld ms: %ld allocations (%.4f per operation)\n", ops, ms, n,
           (double)n / (double)ops);
    CHECK(n * 50 <= ops);
    CHECK_EQ_INT(mp_verify(P.region, span, 7), -1); /* the RDMA writes placed the source bytes */

    WSPCloseSocket(P.c, &err);
    WSPCloseSocket(P.s, &err);
    WSPCloseSocket(x.l, &err);
    mp_finish();
    return t_summary();
}
