/* test_util.h — assertions and helpers shared by the switch's tests. */
#ifndef SW_TEST_UTIL_H
#define SW_TEST_UTIL_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int t_pass, t_fail;

#define CHECK(cond) do { if (cond) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a == _b) t_pass++; \
    else { t_fail++; fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n", \
    __FILE__, __LINE__, #a, #b, _a, _b); } } while (0)

static inline int t_summary(void)
{
    printf("%d passed, %d failed\n", t_pass, t_fail);
    fflush(stdout);
    return t_fail ? 1 : 0;
}

static inline double t_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Deterministic byte stream: byte i of stream `seed`. */
static inline unsigned char t_byte(uint64_t i, uint32_t seed)
{
    uint64_t x = (i >> 3) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 32 | seed);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (unsigned char)(x >> (8 * (i & 7)));
}

static inline void t_fill(unsigned char *p, size_t n, uint64_t off, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = t_byte(off + i, seed);
}

/* -1 if p holds the stream's bytes at off, else the first bad index */
static inline long t_verify(const unsigned char *p, size_t n, uint64_t off, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != t_byte(off + i, seed))
            return (long)i;
    return -1;
}

static inline unsigned short t_port(void)
{
    /* app port P uses kernel port P + 10000 for the provider listener: stay below 55535 */
    /* 12000..21999: the provider's mapped ports (P + 10000) stay below the ephemeral range */
    return (unsigned short)(12000 + (getpid() * 7 + (long)(t_now() * 1000)) % 10000);
}

#endif
