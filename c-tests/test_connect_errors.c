/*
 * test_connect_errors.c — what a connecting switch sees from a peer provider in another process,
 * on whichever transport carries 127.0.0.1 / SANWSP_TEST_IP (soft on the host, verbs in the
 * soft-RoCE VM):
 *   - the peer's condition function answers CF_REJECT        -> WSAECONNREFUSED (final)
 *   - the peer's backlog is full                              -> WSAECONNREFUSED (final), and
 *     the queued caller is still accepted afterwards
 *   - a caller whose connection is accepted and closed at once still connects (5 times)
 *   - nobody listens on that port                             -> WSAEADDRNOTAVAIL (fall back)
 * The listener process is told what to do next over a pipe.
 */
#define _GNU_SOURCE
#include "mp_util.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int CALLBACK reject_all(LPWSABUF caller, LPWSABUF data, LPQOS sq, LPQOS gq, LPWSABUF callee,
                               LPWSABUF cdata, GROUP *g, DWORD_PTR ctx)
{
    (void)caller, (void)data, (void)sq, (void)gq, (void)callee, (void)cdata, (void)g, (void)ctx;
    return CF_REJECT;
}

static void listener(int ready_fd, int cmd_fd)
{
    alarm(300);
    int err;
    unsigned short report = 0, p = (unsigned short)(18000 + getpid() % 2000); /* mapped ports below the ephemeral range */
    if (mp_startup() != 0)
        _exit(1);
    SOCKET l = INVALID_SOCKET;
    for (int i = 0; i < 50; i++, p += 2) { /* p + 1 must stay free: the "nobody listens" case */
        l = mp_socket(&err);
        err = MP_NOERR;
        if (mp_bind(l, mp_ip(), p) == 0 && WSPListen(l, 1, &err) == 0)
            break;
        WSPCloseSocket(l, &err);
        l = INVALID_SOCKET;
    }
    WSAEVENT e = WSACreateEvent();
    err = MP_NOERR;
    if (l != INVALID_SOCKET && WSPEventSelect(l, e, FD_ACCEPT, &err) == 0)
        report = p;
    if (write(ready_fd, &report, sizeof report) != sizeof report || report == 0)
        _exit(1);
    char cmd;
    while (read(cmd_fd, &cmd, 1) == 1) {
        SOCKET a = INVALID_SOCKET;
        if (cmd == 'r') { /* reject the next request */
            a = mp_accept(l, e, reject_all, 0, NULL, 60000, &err);
            CHECK(a == INVALID_SOCKET);
            CHECK_EQ_INT(err, WSAECONNREFUSED);
        } else if (cmd == 'a') { /* accept the next request, then close it */
            a = mp_accept(l, e, NULL, 0, NULL, 60000, &err);
            CHECK(a != INVALID_SOCKET);
            if (a != INVALID_SOCKET)
                WSPCloseSocket(a, &err);
        } else {
            break;
        }
        if (write(ready_fd, &cmd, 1) != 1)
            _exit(1);
    }
    WSPCloseSocket(l, &err);
    WSACloseEvent(e);
    mp_finish();
    _exit(t_summary() == 0 ? 0 : 1);
}

/* Nonblocking connect; returns the socket, *result = the FD_CONNECT code once it came. */
static SOCKET start_connect(unsigned short port, WSAEVENT e, int *immediate)
{
    int err;
    SOCKET s = mp_socket(&err);
    CHECK_EQ_INT(mp_bind(s, mp_ip(), 0), 0);
    err = MP_NOERR;
    CHECK_EQ_INT(WSPEventSelect(s, e, FD_CONNECT, &err), 0);
    struct sockaddr_in to = ts_sin(mp_ip(), port);
    err = MP_NOERR;
    *immediate = WSPConnect(s, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err) == 0 ? 0 : err;
    return s;
}

static int finish_connect(SOCKET s, WSAEVENT e, int immediate)
{
    if (immediate != WSAEWOULDBLOCK)
        return immediate;
    WSANETWORKEVENTS ne;
    int rc = mp_wait_events(s, e, 60000, &ne);
    if (rc != 0)
        return rc;
    return (ne.lNetworkEvents & FD_CONNECT) ? ne.iErrorCode[FD_CONNECT_BIT] : -1;
}

/* SIO_ADDRESS_LIST_QUERY lists SANWSP_TEST_IP; in verbs-only mode (the VM) it lists only what
 * an RDMA device serves, so not loopback. */
static void check_address_list(void)
{
    int err;
    SOCKET s = mp_socket(&err);
    union { SOCKET_ADDRESS_LIST list; char bytes[4096]; } out;
    DWORD returned = 0;
    err = MP_NOERR;
    CHECK_EQ_INT(WSPIoctl(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, &out, sizeof out, &returned, NULL, NULL,
                          NULL, &err), 0);
    const char *mode = getenv("SANWSP_TRANSPORT");
    int verbs_only = mode && strcmp(mode, "verbs") == 0, saw_test_ip = 0, saw_loopback = 0;
    printf("served addresses:");
    for (int i = 0; i < out.list.iAddressCount; i++) {
        char text[64];
        struct sockaddr_in *sin = (struct sockaddr_in *)out.list.Address[i].lpSockaddr;
        inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
        printf(" %s", text);
        saw_test_ip |= strcmp(text, mp_ip()) == 0;
        saw_loopback |= strcmp(text, "127.0.0.1") == 0;
    }
    printf("%s\n", verbs_only ? " (verbs only)" : "");
    CHECK(saw_test_ip);
    if (verbs_only && strcmp(mp_ip(), "127.0.0.1") != 0)
        CHECK(!saw_loopback);
    WSPCloseSocket(s, &err);
}

/* SANWSP_TEST_UNREACHABLE: an address nobody answers at; the connect must fail with a code
 * that lets the switch fall back to TCP. */
static void check_unreachable(WSAEVENT e)
{
    const char *ip = getenv("SANWSP_TEST_UNREACHABLE");
    if (!ip || !*ip)
        return;
    int err, imm;
    SOCKET s = mp_socket(&err);
    CHECK_EQ_INT(mp_bind(s, mp_ip(), 0), 0);
    err = MP_NOERR;
    CHECK_EQ_INT(WSPEventSelect(s, e, FD_CONNECT, &err), 0);
    struct sockaddr_in to = ts_sin(ip, 5000);
    err = MP_NOERR;
    imm = WSPConnect(s, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err) == 0 ? 0 : err;
    int rc = imm;
    if (imm == WSAEWOULDBLOCK) {
        WSANETWORKEVENTS ne;
        rc = mp_wait_events(s, e, 60000, &ne);
        if (rc == 0)
            rc = ne.iErrorCode[FD_CONNECT_BIT];
    }
    printf("unreachable %-16s -> %d (expected a fall-back code)\n", ip, rc);
    CHECK(rc == WSAETIMEDOUT || rc == WSAENETUNREACH || rc == WSAEADDRNOTAVAIL);
    WSPCloseSocket(s, &err);
}

static void command(int cmd_fd, int done_fd, char c)
{
    CHECK_EQ_INT(write(cmd_fd, &c, 1), 1);
    if (c != 'q') {
        char ack = 0;
        CHECK_EQ_INT(read(done_fd, &ack, 1), 1);
        CHECK_EQ_INT(ack, c);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int up[2], down[2];
    if (pipe(up) != 0 || pipe(down) != 0)
        return 1;
    pid_t pid = fork(); /* first: no provider started yet */
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        listener(up[1], down[0]);
    }
    close(up[1]);
    close(down[0]);
    alarm(300);
    unsigned short port = 0;
    CHECK_EQ_INT(read(up[0], &port, sizeof port), (ssize_t)sizeof port);
    CHECK(port != 0);
    if (port != 0) {
        CHECK_EQ_INT(mp_startup(), 0);
        int err, imm;
        WSAEVENT e1 = WSACreateEvent(), e2 = WSACreateEvent();
        check_address_list();
        check_unreachable(e1);

        /* CF_REJECT */
        SOCKET s = start_connect(port, e1, &imm);
        command(down[1], up[0], 'r');
        int rc = finish_connect(s, e1, imm);
        printf("condition function rejects   -> %d (expected WSAECONNREFUSED %d)\n", rc, WSAECONNREFUSED);
        CHECK_EQ_INT(rc, WSAECONNREFUSED);
        WSPCloseSocket(s, &err);

        /* backlog 1: the first caller waits in the queue, the second is refused at once */
        SOCKET q = start_connect(port, e1, &imm);
        int q_imm = imm;
        usleep(300000); /* let the first request reach the queue */
        SOCKET s2 = start_connect(port, e2, &imm);
        rc = finish_connect(s2, e2, imm);
        printf("backlog full                 -> %d (expected WSAECONNREFUSED %d)\n", rc, WSAECONNREFUSED);
        CHECK_EQ_INT(rc, WSAECONNREFUSED);
        WSPCloseSocket(s2, &err);
        command(down[1], up[0], 'a');
        rc = finish_connect(q, e1, q_imm);
        printf("queued caller accepted       -> %d (expected 0)\n", rc);
        CHECK_EQ_INT(rc, 0);
        mp_check_transport(q);
        WSPCloseSocket(q, &err);

        /* accepted and closed at once: the caller's connect still succeeds (over verbs the close
         * comes before the caller's RTU, and must not tear down the handshake it is completing) */
        int fine = 0;
        for (int i = 0; i < 5; i++) {
            SOCKET c = start_connect(port, e1, &imm);
            command(down[1], up[0], 'a');
            rc = finish_connect(c, e1, imm);
            CHECK_EQ_INT(rc, 0);
            fine += rc == 0;
            WSPCloseSocket(c, &err);
        }
        printf("accepted, closed at once     -> %d of 5 connected (expected 5)\n", fine);

        /* nobody listens on port + 1 */
        s = start_connect((unsigned short)(port + 1), e1, &imm);
        rc = finish_connect(s, e1, imm);
        printf("no listener on the port      -> %d (expected WSAEADDRNOTAVAIL %d: fall back to TCP)\n",
               rc, WSAEADDRNOTAVAIL);
        CHECK_EQ_INT(rc, WSAEADDRNOTAVAIL);
        WSPCloseSocket(s, &err);

        command(down[1], up[0], 'q');
        WSACloseEvent(e1);
        WSACloseEvent(e2);
        mp_finish();
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_EQ_INT(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), 0);
    return t_summary();
}
