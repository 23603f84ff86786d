/*
 * test_sw_rdma MODE — large transfers through the provider by one RDMA path, both directions.
 *   MODE read:  the peer advertises RDMA read; large blocks go sender-registers / receiver-reads
 *   MODE write: SW_FORCE_WRITE_PATH=1; receiver registers its staging area, sender writes
 * Blocks: 48 MiB in one sw_send, then sizes around the threshold, the staging chunk and odd
 * lengths, received with varying sw_recv sizes and verified byte for byte; then the receiver
 * sends 16 MiB back. Checks the path counters and the absence of protocol errors. On the read
 * path, reads of buffers seen before go straight into them (no staging copy): counted.
 */
#include "test_pair.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SW_DEFAULT_PROVIDER
#define SW_DEFAULT_PROVIDER "libsanwsp.so"
#endif

static const size_t sizes[] = { 48u << 20, 4097, 4096, 1u << 20, (1u << 20) + 1, 3 * (1u << 20) - 7,
                                5000, 100, 12345678, 1 };
#define NSIZES (sizeof sizes / sizeof sizes[0])
#define BACK (16u << 20)

static size_t total_fwd(void)
{
    size_t t = 0;
    for (size_t i = 0; i < NSIZES; i++)
        t += sizes[i];
    return t;
}

static int send_stream(sw_socket *s, size_t total, uint32_t seed, int blocks)
{
    unsigned char *buf = malloc(48u << 20);
    if (!buf)
        return -1;
    uint64_t off = 0;
    for (size_t i = 0; off < total; i++) {
        size_t n = blocks ? sizes[i] : total;
        t_fill(buf, n, off, seed);
        if (sw_send(s, buf, n) != (ssize_t)n) {
            fprintf(stderr, "sw_send(%zu): %s\n", n, strerror(errno));
            free(buf);
            return -1;
        }
        off += n;
    }
    free(buf);
    return 0;
}

/* Receives total bytes with varying read sizes; returns number of bad bytes or -1. */
static long recv_stream(sw_socket *s, size_t total, uint32_t seed)
{
    static const size_t rs[] = { 1 << 20, 7, 65536, 3 << 20, 1000, 4 << 20 };
    unsigned char *buf = malloc(4 << 20);
    uint64_t off = 0;
    long bad = 0;
    for (int k = 0; off < total; k++) {
        size_t want = rs[k % 6];
        if (want > total - off)
            want = total - off;
        ssize_t n = sw_recv(s, buf, want);
        if (n <= 0) {
            fprintf(stderr, "sw_recv -> %zd (%s) at %llu of %zu\n", n, strerror(errno),
                    (unsigned long long)off, total);
            free(buf);
            return -1;
        }
        long b = t_verify(buf, (size_t)n, off, seed);
        if (b >= 0) {
            if (!bad)
                fprintf(stderr, "first bad byte at %llu\n", (unsigned long long)(off + (uint64_t)b));
            bad++;
        }
        off += (uint64_t)n;
    }
    free(buf);
    return bad;
}

static int child(unsigned short port, int ready_fd, void *mode)
{
    int write_mode = *(int *)mode, code;
    sw_socket *s = t_accept_one(port, ready_fd, &code);
    if (!s)
        return code;
    long bad = recv_stream(s, total_fwd(), 11);
    sw_stats st;
    sw_get_stats(s, &st);
    fprintf(stderr, "receiver: bad %ld, rdma reads %llu (%llu bytes, %llu straight into the caller's "
            "buffer), peer read %d, msgsize %llu seq %llu viol %llu\n",
            bad, (unsigned long long)st.rdma_reads, (unsigned long long)st.rdma_read_bytes,
            (unsigned long long)st.zcopy_reads,
            st.peer_rdma_read, (unsigned long long)st.msgsize_errors,
            (unsigned long long)st.seq_errors, (unsigned long long)st.credit_violations);
    int ok = bad == 0 && st.msgsize_errors == 0 && st.seq_errors == 0 && st.credit_violations == 0;
    ok = ok && (write_mode ? st.rdma_reads == 0 : st.rdma_reads > 0);
    /* read path: blocks that start on an empty sw_recv buffer seen before are read into it */
    ok = ok && (write_mode ? st.zcopy_reads == 0
                           : st.zcopy_reads > 0 && st.zcopy_reads < st.rdma_reads);
    if (send_stream(s, BACK, 12, 0) != 0)
        return 14;
    unsigned char b;
    if (sw_recv(s, &b, 1) != 0)
        return 15;
    sw_close(s);
    return ok ? 0 : 16;
}

int main(int argc, char **argv)
{
    int write_mode = argc > 1 && !strcmp(argv[1], "write");
    if (!getenv("SW_PROVIDER"))
        setenv("SW_PROVIDER", SW_DEFAULT_PROVIDER, 1);
    setenv("SW_FORCE_WRITE_PATH", write_mode ? "1" : "0", 1);
    /* The block counts below assume RDMA above 4 KiB (the verbs default; soft reports 64 KiB). */
    setenv("SW_RDMA_THRESHOLD", "4096", 1);
    setenv("SW_ZCOPY_MIN", "16384", 1); /* the default: reads into sw_recv buffers are counted */
    pid_t pid;
    sw_socket *s = t_fork_and_connect(child, &write_mode, &pid);
    if (!s)
        return t_summary();
    sw_provider_info pi;
    sw_get_provider_info(&pi);
    CHECK(pi.loaded);
    CHECK(!strcmp(sw_path(s), "provider"));
    double t0 = t_now();
    CHECK_EQ(send_stream(s, total_fwd(), 11, 1), 0);
    double t1 = t_now();
    long bad = recv_stream(s, BACK, 12);
    double t2 = t_now();
    CHECK_EQ(bad, 0);
    sw_stats st;
    sw_get_stats(s, &st);
    printf("%s path: sent %zu bytes in %.3f s (%.0f MB/s), received %u bytes in %.3f s; "
           "large blocks read/write path %llu/%llu, rdma writes %llu, rdma reads %llu "
           "(%llu straight into the caller's buffer)\n",
           write_mode ? "write" : "read", total_fwd(), t1 - t0, total_fwd() / (t1 - t0) / 1e6, BACK,
           t2 - t1, (unsigned long long)st.large_sent_read_path,
           (unsigned long long)st.large_sent_write_path, (unsigned long long)st.rdma_writes,
           (unsigned long long)st.rdma_reads, (unsigned long long)st.zcopy_reads);
    if (write_mode) {
        CHECK_EQ(st.read_path, 0);
        CHECK_EQ(st.large_sent_write_path, 7); /* every block > 4096 B */
        CHECK_EQ(st.large_sent_read_path, 0);
        CHECK(st.rdma_writes >= 48 + 12);       /* 1 MiB staging chunks */
        CHECK_EQ(st.rdma_reads, 0);
        CHECK_EQ(st.zcopy_reads, 0);
    } else {
        CHECK_EQ(st.peer_rdma_read, pi.has_rdma_read);
        CHECK(pi.has_rdma_read);
        CHECK_EQ(st.read_path, 1);
        CHECK_EQ(st.large_sent_read_path, 7);
        CHECK_EQ(st.large_sent_write_path, 0);
        CHECK_EQ(st.rdma_writes, 0);
        CHECK(st.rdma_reads > 0); /* we read the 16 MiB coming back */
    }
    t_close_pair(s, &st, pid);
    sw_cleanup();
    return t_summary();
}
