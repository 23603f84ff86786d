/*
 * test_kill_peer.c — the peer process dies (SIGKILL) while operations are pending.
 *
 * The child accepts, exposes a 64 MiB region (sends its descriptor) and then just sleeps. The
 * parent posts 4 receives and a 64 MiB RDMA write into that region, then kills the child at
 * once. Every receive must fail with WSAECONNRESET, WSAECONNABORTED or WSAETIMEDOUT (the RDMA
 * write may also have completed before the kill) within 12 s; the killed process's kernel closes
 * its sockets, so this should take milliseconds. Later sends/receives fail at once with the
 * stored error. A watchdog alarm() ends the test if anything hangs.
 */
#define _GNU_SOURCE
#include "mp_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024u * 1024u)
#define REGION (64u * MIB)
#define NRECV 4
#define LIMIT_MS 12000

static pid_t child_pid;

static void watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "test_kill_peer: watchdog expired (an operation hung)\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    if (child_pid > 0)
        kill(child_pid, SIGKILL);
    _exit(3);
}

/* ---- child: accept, expose, sleep ------------------------------------------------------------ */
static void child(int ready_fd)
{
    alarm(60); /* never outlive a broken parent */
    int err;
    unsigned short report = 0;
    if (mp_startup() != 0)
        goto fail;
    SOCKET l = INVALID_SOCKET;
    unsigned short p = (unsigned short)(12000 + getpid() % 3000); /* mapped ports below the ephemeral range */
    for (int i = 0; i < 50; i++, p++) {
        l = mp_socket(&err);
        if (l == INVALID_SOCKET)
            goto fail;
        err = MP_NOERR;
        if (mp_bind(l, mp_ip(), p) == 0 && WSPListen(l, 5, &err) == 0)
            break;
        WSPCloseSocket(l, &err);
        l = INVALID_SOCKET;
    }
    if (l == INVALID_SOCKET)
        goto fail;
    report = p;
    if (write(ready_fd, &report, sizeof report) != sizeof report)
        _exit(1);
    /* blocking accept: WSPAccept has no event select here, so poll it */
    SOCKET a = INVALID_SOCKET;
    for (int i = 0; i < 10000 && a == INVALID_SOCKET; i++) {
        err = MP_NOERR;
        a = WSPAccept(l, NULL, NULL, NULL, 0, &err);
        if (a == INVALID_SOCKET && err != WSAEWOULDBLOCK)
            _exit(1);
        if (a == INVALID_SOCKET)
            usleep(1000);
    }
    if (a == INVALID_SOCKET)
        _exit(1);
    unsigned char *tx = mp_alloc(4096), *region = mp_alloc(REGION);
    err = MP_NOERR;
    if (!tx || !region || !WSPRegisterMemory(a, tx, 4096, MEM_READ, &err))
        _exit(1);
    DWORD desclen = 64;
    if (WSPRegisterRdmaMemory(a, region, REGION, MEM_READWRITE, tx, &desclen, &err) != 0)
        _exit(1);
    DWORD bytes = 0;
    if (mp_send_wait(a, tx, desclen, &bytes) != 0)
        _exit(1);
    for (;;)
        pause(); /* the parent kills us */
fail:
    if (write(ready_fd, &report, sizeof report) < 0) {
    }
    _exit(1);
}

/* ---- parent ------------------------------------------------------------------------------------ */
int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int ready[2];
    if (pipe(ready) != 0)
        return 1;
    pid_t pid = fork(); /* first: no provider started yet */
    if (pid < 0)
        return 1;
    if (pid == 0) {
        close(ready[0]);
        child(ready[1]);
    }
    child_pid = pid;
    close(ready[1]);
    signal(SIGALRM, watchdog);
    alarm(40);

    unsigned short port = 0;
    ssize_t n;
    do
        n = read(ready[0], &port, sizeof port);
    while (n < 0 && errno == EINTR);
    CHECK_EQ_INT(n, (ssize_t)sizeof port);
    CHECK(port != 0);
    if (port == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return t_summary();
    }

    CHECK_EQ_INT(mp_startup(), 0);
    int err;
    SOCKET s = mp_socket(&err);
    CHECK(s != INVALID_SOCKET);
    CHECK_EQ_INT(mp_bind(s, mp_ip(), 0), 0);
    struct sockaddr_in to = ts_sin(mp_ip(), port);
    err = MP_NOERR;
    CHECK_EQ_INT(WSPConnect(s, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err), 0);

    unsigned char *rx = mp_alloc(NRECV * 4096 + 4096), *src = mp_alloc(REGION);
    CHECK(rx && src);
    err = MP_NOERR;
    HANDLE hrx = WSPRegisterMemory(s, rx, NRECV * 4096 + 4096, MEM_WRITE, &err);
    CHECK(hrx != NULL);
    err = MP_NOERR;
    HANDLE hsrc = WSPRegisterMemory(s, src, REGION, MEM_READ, &err);
    CHECK(hsrc != NULL);
    mp_fill(src, REGION, 7);

    /* the child's descriptor */
    DWORD bytes = 0;
    unsigned char *desc = rx + NRECV * 4096;
    CHECK_EQ_INT(mp_recv_wait(s, desc, 4096, &bytes), 0);
    CHECK_EQ_INT(bytes, 40);
    DWORD desclen = bytes;

    /* 4 receives that nothing will satisfy, one 64 MiB RDMA write, then the kill */
    mp_op ops[NRECV + 1];
    int started[NRECV + 1];
    for (int i = 0; i < NRECV; i++) {
        started[i] = mp_recv(s, &ops[i], rx + i * 4096, 4096);
        CHECK_EQ_INT(started[i], WSA_IO_PENDING);
    }
    started[NRECV] = mp_rdma(1, s, &ops[NRECV], src, REGION, hsrc, desc, desclen, 0);
    CHECK_EQ_INT(started[NRECV], WSA_IO_PENDING);
    CHECK_EQ_INT(kill(pid, SIGKILL), 0);
    long long t0 = mp_now_ms();

    int result[NRECV + 1];
    long long done_at[NRECV + 1];
    DWORD got[NRECV + 1];
    int left = 0;
    for (int i = 0; i <= NRECV; i++) {
        result[i] = WSA_IO_INCOMPLETE;
        done_at[i] = -1;
        left += started[i] == WSA_IO_PENDING;
    }
    while (left > 0 && mp_now_ms() - t0 < LIMIT_MS) {
        for (int i = 0; i <= NRECV; i++) {
            if (started[i] != WSA_IO_PENDING || done_at[i] >= 0)
                continue;
            DWORD flags = 0;
            got[i] = 0;
            err = MP_NOERR;
            BOOL ok = WSPGetOverlappedResult(s, &ops[i].ov, &got[i], FALSE, &flags, &err);
            if (!ok && err == WSA_IO_INCOMPLETE)
                continue;
            result[i] = ok ? 0 : err;
            done_at[i] = mp_now_ms() - t0;
            left--;
        }
        usleep(1000);
    }
    long long slowest = 0;
    for (int i = 0; i <= NRECV; i++) {
        if (started[i] != WSA_IO_PENDING)
            continue;
        const char *what = i < NRECV ? "receive" : "RDMA write";
        printf("%s %d: %s after %lld ms (error %d, %u bytes)\n", what, i,
               done_at[i] >= 0 ? "completed" : "STILL PENDING", done_at[i] >= 0 ? done_at[i] : LIMIT_MS,
               result[i], (unsigned)got[i]);
        CHECK(done_at[i] >= 0 && done_at[i] < LIMIT_MS);
        if (done_at[i] > slowest)
            slowest = done_at[i];
        if (i < NRECV) {
            CHECK(mp_is_loss(result[i]));
        } else {
            /* Over verbs the dead process's memory registrations can go before its queue pair:
             * the HCA then reports the write as a remote access error. */
            CHECK(mp_is_loss(result[i]) || result[i] == WSAEACCES ||
                  (result[i] == 0 && got[i] == REGION));
        }
    }
    printf("all pending operations ended %lld ms after SIGKILL\n", slowest);

    int status = 0;
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* the connection is gone: new operations fail at once with a loss code */
    mp_op op;
    int rc = mp_recv(s, &op, rx, 4096);
    CHECK(mp_is_loss(rc));
    if (!mp_is_loss(rc))
        fprintf(stderr, "  WSPRecv after loss: %d\n", rc);
    if (rc == WSA_IO_PENDING)
        mp_wait_ms(s, &op, NULL, 1000);
    rc = mp_send(s, &op, src, 100);
    CHECK(mp_is_loss(rc));
    if (!mp_is_loss(rc))
        fprintf(stderr, "  WSPSend after loss: %d\n", rc);
    if (rc == WSA_IO_PENDING)
        mp_wait_ms(s, &op, NULL, 1000);
    /* the same code the receives saw */
    CHECK_EQ_INT(rc, result[0]);

    err = MP_NOERR;
    CHECK_EQ_INT(WSPCloseSocket(s, &err), 0);
    mp_free(rx, NRECV * 4096 + 4096);
    mp_free(src, REGION);
    mp_finish();
    return t_summary();
}
