/*
 * test_events.c — sanwsp's event objects (sanwsp.h): handles, eventfds, waits, errors, leaks.
 * Linked against libsanwsp; needs no WSPStartupEx.
 */
#define _GNU_SOURCE
#include "test_switch.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int readable(WSAEVENT e)
{
    int fd = WSAEventGetFd(e);
    if (fd < 0)
        return -1;
    struct pollfd p = { fd, POLLIN, 0 };
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void *set_later(void *arg)
{
    usleep(50 * 1000);
    WSASetEvent((WSAEVENT)arg);
    return NULL;
}

static void expect_invalid(WSAEVENT e, int line)
{
    const char *f = __FILE__;
    WSASetLastError(0);
    t_check_eq(WSASetEvent(e), FALSE, "WSASetEvent", "FALSE", f, line);
    t_check_eq(WSAGetLastError(), WSA_INVALID_HANDLE, "err", "WSA_INVALID_HANDLE", f, line);
    WSASetLastError(0);
    t_check_eq(WSAResetEvent(e), FALSE, "WSAResetEvent", "FALSE", f, line);
    t_check_eq(WSAGetLastError(), WSA_INVALID_HANDLE, "err", "WSA_INVALID_HANDLE", f, line);
    WSASetLastError(0);
    t_check_eq(WSAEventGetFd(e), -1, "WSAEventGetFd", "-1", f, line);
    t_check_eq(WSAGetLastError(), WSA_INVALID_HANDLE, "err", "WSA_INVALID_HANDLE", f, line);
    WSASetLastError(0);
    t_check_eq(WSAWaitForMultipleEvents(1, &e, FALSE, 0, FALSE), WSA_WAIT_FAILED, "wait",
               "WSA_WAIT_FAILED", f, line);
    t_check_eq(WSAGetLastError(), WSA_INVALID_HANDLE, "err", "WSA_INVALID_HANDLE", f, line);
    WSASetLastError(0);
    t_check_eq(WSACloseEvent(e), FALSE, "WSACloseEvent", "FALSE", f, line);
    t_check_eq(WSAGetLastError(), WSA_INVALID_HANDLE, "err", "WSA_INVALID_HANDLE", f, line);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 && rl.rlim_max > rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int baseline = ts_count_fds();

    /* create, set, reset */
    WSAEVENT e = WSACreateEvent();
    CHECK(e != WSA_INVALID_EVENT);
    CHECK_EQ_INT((uintptr_t)e & 1, 0);
    CHECK(WSAEventGetFd(e) >= 0);
    CHECK_EQ_INT(WSAEventGetFd(e), WSAEventGetFd(e));
    CHECK_EQ_INT(readable(e), 0);
    CHECK_EQ_INT(WSASetEvent(e), TRUE);
    CHECK_EQ_INT(readable(e), 1);
    CHECK_EQ_INT(readable(e), 1); /* polling does not consume it */
    CHECK_EQ_INT(WSAResetEvent(e), TRUE);
    CHECK_EQ_INT(readable(e), 0);
    CHECK_EQ_INT(WSASetEvent(e), TRUE);
    CHECK_EQ_INT(WSASetEvent(e), TRUE);
    CHECK_EQ_INT(WSAResetEvent(e), TRUE);
    CHECK_EQ_INT(readable(e), 0);
    CHECK_EQ_INT(WSAResetEvent(e), TRUE);
    CHECK_EQ_INT(readable(e), 0);

    /* waits */
    WSAEVENT ev[3] = { WSACreateEvent(), WSACreateEvent(), WSACreateEvent() };
    for (int i = 0; i < 3; i++)
        CHECK(ev[i] != NULL);
    long long t0 = now_ms();
    CHECK_EQ_INT(WSAWaitForMultipleEvents(3, ev, FALSE, 50, FALSE), WSA_WAIT_TIMEOUT);
    long long took = now_ms() - t0;
    CHECK(took >= 45 && took < 2000);
    CHECK_EQ_INT(WSASetEvent(ev[1]), TRUE);
    CHECK_EQ_INT(WSAWaitForMultipleEvents(3, ev, FALSE, 50, FALSE), WSA_WAIT_EVENT_0 + 1);
    CHECK_EQ_INT(WSAWaitForMultipleEvents(3, ev, FALSE, 0, FALSE), WSA_WAIT_EVENT_0 + 1);
    CHECK_EQ_INT(readable(ev[1]), 1); /* manual reset: still set after the wait */
    CHECK_EQ_INT(WSAWaitForMultipleEvents(3, ev, TRUE, 50, FALSE), WSA_WAIT_TIMEOUT);
    CHECK_EQ_INT(WSASetEvent(ev[2]), TRUE);
    CHECK_EQ_INT(WSAWaitForMultipleEvents(3, ev, FALSE, 0, FALSE), WSA_WAIT_EVENT_0 + 1);
    CHECK_EQ_INT(WSAWaitForMultipleEvents(3, ev, TRUE, 50, FALSE), WSA_WAIT_TIMEOUT);
    CHECK_EQ_INT(WSASetEvent(ev[0]), TRUE);
    CHECK_EQ_INT(WSAWaitForMultipleEvents(3, ev, TRUE, 50, FALSE), WSA_WAIT_EVENT_0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(WSAResetEvent(ev[i]), TRUE);

    pthread_t th;
    pthread_create(&th, NULL, set_later, ev[2]);
    t0 = now_ms();
    CHECK_EQ_INT(WSAWaitForMultipleEvents(3, ev, FALSE, WSA_INFINITE, FALSE), WSA_WAIT_EVENT_0 + 2);
    took = now_ms() - t0;
    CHECK(took >= 30);
    pthread_join(th, NULL);
    CHECK_EQ_INT(WSAResetEvent(ev[2]), TRUE);

    WSASetLastError(0);
    CHECK_EQ_INT(WSAWaitForMultipleEvents(0, ev, FALSE, 0, FALSE), WSA_WAIT_FAILED);
    CHECK_EQ_INT(WSAGetLastError(), WSA_INVALID_PARAMETER);
    WSAEVENT many[65];
    for (int i = 0; i < 65; i++)
        many[i] = ev[i % 3];
    WSASetLastError(0);
    CHECK_EQ_INT(WSAWaitForMultipleEvents(65, many, FALSE, 0, FALSE), WSA_WAIT_FAILED);
    CHECK_EQ_INT(WSAGetLastError(), WSA_INVALID_PARAMETER);
    WSASetLastError(0);
    CHECK_EQ_INT(WSAWaitForMultipleEvents(1, NULL, FALSE, 0, FALSE), WSA_WAIT_FAILED);
    CHECK_EQ_INT(WSAGetLastError(), WSAEFAULT);
    WSASetLastError(12345);
    CHECK_EQ_INT(WSAGetLastError(), 12345);

    /* closed and forged handles */
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(WSACloseEvent(ev[i]), TRUE);
    CHECK_EQ_INT(WSACloseEvent(e), TRUE);
    expect_invalid(e, __LINE__);
    expect_invalid(ev[1], __LINE__);
    expect_invalid((WSAEVENT)0x1234, __LINE__);
    expect_invalid(NULL, __LINE__);
    expect_invalid((WSAEVENT)(uintptr_t)-2, __LINE__);
    CHECK_EQ_INT(ts_count_fds(), baseline);

    /* 1000 events open at once: distinct, even; then all closed: no descriptor left */
    enum { N = 1000 };
    static WSAEVENT open[N];
    int made = 0, odd = 0;
    for (int i = 0; i < N; i++) {
        open[i] = WSACreateEvent();
        made += open[i] != NULL;
        odd += ((uintptr_t)open[i] & 1) != 0;
    }
    CHECK_EQ_INT(made, N);
    CHECK_EQ_INT(odd, 0);
    static WSAEVENT sorted[N];
    for (int i = 0; i < N; i++)
        sorted[i] = open[i];
    qsort(sorted, N, sizeof sorted[0], cmp_ptr);
    int dups = 0;
    for (int i = 1; i < N; i++)
        dups += sorted[i] == sorted[i - 1];
    CHECK_EQ_INT(dups, 0);
    int closed = 0;
    for (int i = 0; i < N; i++)
        closed += open[i] && WSACloseEvent(open[i]) == TRUE;
    CHECK_EQ_INT(closed, made);
    CHECK_EQ_INT(ts_count_fds(), baseline);

    /* 1000 create/close cycles */
    int bad = 0;
    for (int i = 0; i < N; i++) {
        WSAEVENT x = WSACreateEvent();
        bad += x == NULL || WSASetEvent(x) != TRUE || WSACloseEvent(x) != TRUE;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(ts_count_fds(), baseline);
    return t_summary();
}
