/*
 * sw_copy — copies a file (or stdin) through the switch and verifies it end to end.
 *
 *   sw_copy serve IP PORT OUTFILE     accept one connection, write what arrives to OUTFILE ("-" =
 *                                     stdout)
 *   sw_copy send  IP PORT INFILE      connect, send INFILE ("-" = stdin)
 *
 * Stream: records [u32 length][bytes] (length ≤ block size, default 1 MiB, SW_COPY_BLOCK), then
 * [u32 0][u64 total][u64 checksum]; the receiver answers [u64 total][u64 checksum][u8 ok].
 * Both sides print one summary line: bytes, seconds, MB/s, path ("provider" / "tcp") and the
 * checksum verdict; exit status 0 only if the checksums match.
 * Environment: SW_PROVIDER (provider library), the SW_* tuning variables of sw.h.
 */
#define _GNU_SOURCE
#include "sw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef SW_DEFAULT_PROVIDER
#define SW_DEFAULT_PROVIDER "libsanwsp.so"
#endif

/* ---- checksum: 64-bit FNV-1a over 8-byte little-endian words, independent of chunking -------- */
typedef struct hasher {
    uint64_t h, total;
    unsigned char carry[8];
    unsigned nc;
} hasher;

static void h_init(hasher *x) { memset(x, 0, sizeof *x); x->h = 0xcbf29ce484222325ull; }
static inline uint64_t h_word(uint64_t h, uint64_t w) { return (h ^ w) * 0x100000001b3ull; }
static void h_update(hasher *x, const unsigned char *p, size_t n)
{
    x->total += n;
    while (x->nc && n) {
        x->carry[x->nc++] = *p++;
        n--;
        if (x->nc == 8) {
            uint64_t w;
            memcpy(&w, x->carry, 8);
            x->h = h_word(x->h, w);
            x->nc = 0;
        }
    }
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        x->h = h_word(x->h, w);
    }
    while (n--)
        x->carry[x->nc++] = *p++;
}
static uint64_t h_final(const hasher *x)
{
    uint64_t h = x->h;
    for (unsigned i = 0; i < x->nc; i++)
        h = (h ^ x->carry[i]) * 0x100000001b3ull;
    return h ^ x->total;
}

/* ---- helpers --------------------------------------------------------------------------------- */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void put_le(unsigned char *p, uint64_t v, int n) { for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint64_t get_le(const unsigned char *p, int n) { uint64_t v = 0; for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i]; return v; }

/* 1 = got all len bytes, 0 = clean end before any byte, -1 = error / truncated */
static int recv_full(sw_socket *s, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = sw_recv(s, (char *)buf + got, len - got);
        if (n < 0) {
            perror("sw_copy: sw_recv");
            return -1;
        }
        if (n == 0) {
            if (got)
                fprintf(stderr, "sw_copy: stream truncated\n");
            return got ? -1 : 0;
        }
        got += (size_t)n;
    }
    return 1;
}

static int write_full(int fd, const void *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, (const char *)buf + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}

static ssize_t read_block(int fd, unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static void summary(const char *role, uint64_t bytes, double secs, sw_socket *s, uint64_t sum,
                    int ok)
{
    sw_stats st;
    sw_get_stats(s, &st);
    printf("sw_copy %s: %llu bytes in %.3f s, %.1f MB/s, path %s, checksum %016llx %s",
           role, (unsigned long long)bytes, secs, secs > 0 ? bytes / secs / 1e6 : 0.0, sw_path(s),
           (unsigned long long)sum, ok ? "OK" : "MISMATCH");
    if (!strcmp(sw_path(s), "provider"))
        printf(" (msgs %llu/%llu, rdma reads %llu, rdma writes %llu, large blocks read/write path %llu/%llu, credit waits %llu)",
               (unsigned long long)st.msgs_sent, (unsigned long long)st.msgs_recv,
               (unsigned long long)st.rdma_reads, (unsigned long long)st.rdma_writes,
               (unsigned long long)st.large_sent_read_path,
               (unsigned long long)st.large_sent_write_path,
               (unsigned long long)st.credit_waits);
    printf("\n");
    fflush(stdout);
}

static size_t block_size(void)
{
    const char *v = getenv("SW_COPY_BLOCK");
    long b = v ? strtol(v, NULL, 0) : 1 << 20;
    return b > 0 ? (size_t)b : 1 << 20;
}

/* ---- serve ----------------------------------------------------------------------------------- */
static int serve(const char *ip, unsigned short port, const char *out)
{
    sw_socket *l = sw_listen(ip, port, 16);
    if (!l) {
        perror("sw_copy: sw_listen");
        return 2;
    }
    fprintf(stderr, "sw_copy: listening on %s:%u (%s)\n", ip, sw_port(l), sw_path(l));
    sw_socket *s = sw_accept(l);
    if (!s) {
        perror("sw_copy: sw_accept");
        return 2;
    }
    sw_close(l);
    int fd = strcmp(out, "-") ? open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : 1;
    if (fd < 0) {
        perror(out);
        return 2;
    }
    size_t bs = block_size();
    unsigned char *buf = malloc(bs);
    hasher hx;
    h_init(&hx);
    double t0 = 0;
    int rc = 2;
    unsigned char hdr[16];
    for (;;) {
        if (recv_full(s, hdr, 4) != 1)
            goto done;
        if (!t0)
            t0 = now_s();
        uint32_t len = (uint32_t)get_le(hdr, 4);
        if (len == 0)
            break;
        if (len > bs) {
            unsigned char *nb = realloc(buf, len);
            if (!nb)
                goto done;
            buf = nb;
            bs = len;
        }
        if (recv_full(s, buf, len) != 1)
            goto done;
        h_update(&hx, buf, len);
        if (write_full(fd, buf, len) != 0) {
            perror("sw_copy: write");
            goto done;
        }
    }
    double secs = now_s() - t0;
    if (recv_full(s, hdr, 16) != 1)
        goto done;
    uint64_t total = get_le(hdr, 8), sum = get_le(hdr + 8, 8), mine = h_final(&hx);
    int ok = total == hx.total && sum == mine;
    unsigned char reply[17];
    put_le(reply, hx.total, 8);
    put_le(reply + 8, mine, 8);
    reply[16] = (unsigned char)ok;
    if (sw_send(s, reply, sizeof reply) != (ssize_t)sizeof reply) {
        perror("sw_copy: sw_send");
        goto done;
    }
    summary("serve", hx.total, secs, s, mine, ok);
    if (!ok)
        fprintf(stderr, "sw_copy: sender says %llu bytes / %016llx\n", (unsigned long long)total,
                (unsigned long long)sum);
    rc = ok ? 0 : 1;
done:
    if (fd != 1)
        close(fd);
    if (sw_close(s) != 0)
        fprintf(stderr, "sw_copy: close was not graceful\n");
    free(buf);
    return rc;
}

/* ---- send ------------------------------------------------------------------------------------ */
static int sendfile_(const char *ip, unsigned short port, const char *in)
{
    int fd = strcmp(in, "-") ? open(in, O_RDONLY | O_CLOEXEC) : 0;
    if (fd < 0) {
        perror(in);
        return 2;
    }
    sw_socket *s = NULL;
    double deadline = now_s() + 10;
    while (!(s = sw_connect(ip, port))) {
        if (errno != ECONNREFUSED || now_s() > deadline) {
            perror("sw_copy: sw_connect");
            return 2;
        }
        usleep(50000); /* the server may not be listening yet */
    }
    size_t bs = block_size();
    unsigned char *buf = malloc(bs);
    hasher hx;
    h_init(&hx);
    double t0 = now_s();
    int rc = 2;
    unsigned char hdr[20];
    for (;;) {
        ssize_t n = read_block(fd, buf, bs);
        if (n < 0) {
            perror("sw_copy: read");
            goto done;
        }
        if (n == 0)
            break;
        h_update(&hx, buf, (size_t)n);
        put_le(hdr, (uint64_t)n, 4);
        if (sw_send(s, hdr, 4) != 4 || sw_send(s, buf, (size_t)n) != n) {
            perror("sw_copy: sw_send");
            goto done;
        }
    }
    uint64_t mine = h_final(&hx);
    put_le(hdr, 0, 4);
    put_le(hdr + 4, hx.total, 8);
    put_le(hdr + 12, mine, 8);
    if (sw_send(s, hdr, 20) != 20) {
        perror("sw_copy: sw_send");
        goto done;
    }
    unsigned char reply[17];
    if (recv_full(s, reply, sizeof reply) != 1) {
        fprintf(stderr, "sw_copy: no verdict from the receiver\n");
        goto done;
    }
    double secs = now_s() - t0;
    int ok = get_le(reply, 8) == hx.total && get_le(reply + 8, 8) == mine && reply[16] == 1;
    summary("send", hx.total, secs, s, mine, ok);
    rc = ok ? 0 : 1;
done:
    if (fd != 0)
        close(fd);
    if (sw_close(s) != 0)
        fprintf(stderr, "sw_copy: close was not graceful\n");
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "serve") && strcmp(argv[1], "send"))) {
        fprintf(stderr, "usage: sw_copy serve IP PORT OUTFILE | sw_copy send IP PORT INFILE\n");
        return 2;
    }
    const char *prov = getenv("SW_PROVIDER");
    if (sw_init(prov && *prov ? prov : SW_DEFAULT_PROVIDER) != 0)
        return 2;
    sw_provider_info pi;
    sw_get_provider_info(&pi);
    if (getenv("SW_TRACE"))
        fprintf(stderr, "sw_copy: provider \"%s\", %d served address(es), RDMA read %s\n",
                pi.description, pi.served_count, pi.has_rdma_read ? "yes" : "no");
    unsigned short port = (unsigned short)atoi(argv[3]);
    int rc = !strcmp(argv[1], "serve") ? serve(argv[2], port, argv[4])
                                       : sendfile_(argv[2], port, argv[4]);
    sw_cleanup();
    return rc;
}
