/*
 * test_sw_zcopy [off] — inline data sent from the caller's buffer (the registration cache).
 *
 * The sender streams 64 KiB sw_sends from one buffer that it refills before every call (so a
 * send that still read the buffer after sw_send returned would corrupt the stream), then cycles
 * through six buffers (cached), then through twelve (more than the cache holds: registrations
 * are evicted and dropped), then sends pieces just below, at and above the zero-copy minimum.
 * The receiver process is stopped for the first 300 ms and has many receive buffers (credits),
 * so the sender's kernel socket fills and its sends wait in the provider: sw_send must not
 * return before they left the caller's buffer.
 * Last, 2 MiB blocks (above the soft provider's 1 MiB RDMA threshold: the read path) that the
 * receiver takes with 2 MiB sw_recvs into one buffer: RDMA-read straight into it.
 * The receiver checks every byte. Counted: DATA messages sent from the caller's buffer — all
 * but the first sighting of each cached buffer — and blocks read into the caller's buffer, or
 * none of either with `off` (SW_ZCOPY_MIN=0).
 */
#include "test_pair.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SW_DEFAULT_PROVIDER
#define SW_DEFAULT_PROVIDER "libsanwsp.so"
#endif

#define BLOCK (64u << 10)
#define SAME 2000     /* sends from one buffer */
#define FEW 6         /* buffers cycled through, CYCLES times: they stay cached */
#define NBUF 12       /* then these many (the cache holds 8) */
#define CYCLES 3
#define MIN 16384u    /* SW_ZCOPY_MIN for this test */
#define LARGE (2u << 20)
#define NLARGE 12

static const size_t edge[] = { MIN - 1, MIN, MIN + 1, 3 * MIN + 5 };
#define NEDGE (sizeof edge / sizeof edge[0])

static size_t total_small(void)
{
    size_t t = (size_t)(SAME + (FEW + NBUF) * CYCLES) * BLOCK;
    for (size_t i = 0; i < NEDGE; i++)
        t += edge[i];
    return t;
}

static size_t total(void) { return total_small() + (size_t)NLARGE * LARGE; }

static void *resume_later(void *arg)
{
    usleep(300000);
    kill(*(pid_t *)arg, SIGCONT);
    return NULL;
}

static int send_all(sw_socket *s, const void *buf, size_t n)
{
    if (sw_send(s, buf, n) == (ssize_t)n)
        return 0;
    fprintf(stderr, "sw_send(%zu): %s\n", n, strerror(errno));
    return -1;
}

static int sender(sw_socket *s)
{
    unsigned char *one = malloc(BLOCK), *many[NBUF];
    uint64_t off = 0;
    for (int i = 0; i < SAME; i++, off += BLOCK) {
        t_fill(one, BLOCK, off, 21);
        if (send_all(s, one, BLOCK))
            return -1;
    }
    for (int b = 0; b < NBUF; b++)
        many[b] = malloc(BLOCK);
    for (int nb = FEW; nb <= NBUF; nb += NBUF - FEW)
        for (int k = 0; k < CYCLES; k++)
            for (int b = 0; b < nb; b++, off += BLOCK) {
                t_fill(many[b], BLOCK, off, 21);
                if (send_all(s, many[b], BLOCK))
                    return -1;
            }
    for (size_t i = 0; i < NEDGE; i++) {
        t_fill(one, edge[i], off, 21);
        if (send_all(s, one, edge[i]))
            return -1;
        off += edge[i];
    }
    unsigned char *big = malloc(LARGE);
    for (int i = 0; i < NLARGE; i++, off += LARGE) {
        t_fill(big, LARGE, off, 21);
        if (send_all(s, big, LARGE))
            return -1;
    }
    free(big);
    for (int b = 0; b < NBUF; b++)
        free(many[b]);
    free(one);
    return 0;
}

static int child(unsigned short port, int ready_fd, void *unused)
{
    (void)unused;
    int code;
    sw_socket *s = t_accept_one(port, ready_fd, &code);
    if (!s)
        return code;
    unsigned char *buf = malloc(LARGE);
    uint64_t off = 0;
    long bad = 0;
    size_t want = total();
    while (off < want) {
        /* 100,000-byte reads, then one 2 MiB read per block (from its start: an empty buffer) */
        size_t n = off < total_small() ? total_small() - off : LARGE - (off - total_small()) % LARGE;
        if (off < total_small() && n > 100000)
            n = 100000;
        ssize_t got = sw_recv(s, buf, n);
        if (got <= 0) {
            fprintf(stderr, "sw_recv -> %zd (%s) at %llu\n", got, strerror(errno),
                    (unsigned long long)off);
            return 14;
        }
        long b = t_verify(buf, (size_t)got, off, 21);
        if (b >= 0 && bad++ == 0)
            fprintf(stderr, "first bad byte at %llu\n", (unsigned long long)(off + (uint64_t)b));
        off += (uint64_t)got;
    }
    free(buf);
    sw_stats st;
    sw_get_stats(s, &st);
    int zc_off = !strcmp(getenv("SW_ZCOPY_MIN"), "0");
    fprintf(stderr, "receiver: %llu of %llu RDMA reads straight into the caller's buffer\n",
            (unsigned long long)st.zcopy_reads, (unsigned long long)st.rdma_reads);
    if (zc_off ? st.zcopy_reads != 0 : st.zcopy_reads < NLARGE - 1)
        return 18;
    if (sw_send(s, "k", 1) != 1)
        return 15;
    unsigned char end;
    if (sw_recv(s, &end, 1) != 0)
        return 16;
    sw_close(s);
    sw_cleanup();
    return bad ? 17 : 0;
}

int main(int argc, char **argv)
{
    int off = argc > 1 && !strcmp(argv[1], "off");
    if (!getenv("SW_PROVIDER"))
        setenv("SW_PROVIDER", SW_DEFAULT_PROVIDER, 1);
    char min[16];
    snprintf(min, sizeof min, "%u", off ? 0 : MIN);
    setenv("SW_ZCOPY_MIN", min, 1);
    setenv("SW_RECV_BUFFERS", "256", 1);
    pid_t pid;
    sw_socket *s = t_fork_and_connect(child, NULL, &pid);
    if (!s)
        return t_summary();
    CHECK(!strcmp(sw_path(s), "provider"));
    pthread_t resumer;
    CHECK_EQ(kill(pid, SIGSTOP), 0);
    CHECK_EQ(pthread_create(&resumer, NULL, resume_later, &pid), 0);
    double t0 = t_now();
    CHECK_EQ(sender(s), 0);
    unsigned char k = 0;
    CHECK_EQ(sw_recv(s, &k, 1), 1); /* the receiver verified everything */
    CHECK_EQ(k, 'k');
    double t1 = t_now();
    pthread_join(resumer, NULL);
    sw_stats st;
    sw_get_stats(s, &st);
    /* One DATA message per send here (64 KiB and the edge pieces fit one message). From the
     * caller's buffer at least: every send of the one buffer but the first, and of the six but
     * their first cycle. The twelve evict one another (copied, but intact). */
    uint64_t expect = off ? 0 : (uint64_t)(SAME - 1 + FEW * (CYCLES - 1));
    printf("zero-copy %s: %zu bytes in %.3f s, %llu of %llu DATA messages from the caller's buffer "
           "(at least %llu expected)\n",
           off ? "off" : "on", total(), t1 - t0, (unsigned long long)st.zcopy_sends,
           (unsigned long long)st.data_msgs_sent, (unsigned long long)expect);
    if (off)
        CHECK_EQ(st.zcopy_sends, 0);
    else
        CHECK(st.zcopy_sends >= expect && st.zcopy_sends < st.data_msgs_sent);
    t_close_pair(s, &st, pid);
    sw_cleanup();
    return t_summary();
}
