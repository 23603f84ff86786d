/*
 * test_link.c — links libsanwsp directly (no dlopen) and calls the exported symbols by name:
 * a smoke run of the provider contract.
 */
#define _GNU_SOURCE
#include "test_switch.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define NOERR (-7777)

int main(void)
{
    WSPUPCALLTABLEEX up;
    WSPPROC_TABLE t;
    WSPDATA d;
    WSAPROTOCOL_INFOW pi;
    ts_counts a, b;
    int err;

    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK_EQ_INT(ts_init(RTLD_DEFAULT), 0);
    ts_upcalls(&up);
    memset(&pi, 0, sizeof pi);

    /* not started */
    err = NOERR;
    CHECK_EQ_INT(WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, &err),
                 INVALID_SOCKET);
    CHECK_EQ_INT(err, WSANOTINITIALISED);
    err = NOERR;
    CHECK_EQ_INT(WSPCleanup(&err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSANOTINITIALISED);
    CHECK_EQ_INT(WSPStartupEx(MAKEWORD(2, 1), &d, &pi, &up, &t), WSAVERNOTSUPPORTED);
    CHECK_EQ_INT(WSPStartupEx(MAKEWORD(2, 2), NULL, &pi, &up, &t), WSAEFAULT);

    /* start */
    memset(&t, 0, sizeof t);
    CHECK_EQ_INT(WSPStartupEx(MAKEWORD(2, 2), &d, &pi, &up, &t), 0);
    CHECK_EQ_INT(d.wVersion, 0x0202);
    CHECK_EQ_INT(d.wHighVersion, 0x0202);
    CHECK_EQ_INT(d.szDescription[0], 's');
    CHECK(t.lpWSPSocket == WSPSocket);
    CHECK(t.lpWSPBind == WSPBind);
    CHECK(t.lpWSPCloseSocket == WSPCloseSocket);
    CHECK(t.lpWSPCleanup == WSPCleanup);
    CHECK(t.lpWSPIoctl == WSPIoctl);

    /* socket, bind, getsockname, close */
    ts_get_counts(&a);
    err = NOERR;
    SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, &err);
    CHECK(s != INVALID_SOCKET && s != 0);
    ts_get_counts(&b);
    CHECK_EQ_INT(b.create_socket_handle - a.create_socket_handle, 1);
    struct sockaddr_in sin = ts_sin("127.0.0.1", 0), out;
    int len = sizeof out;
    err = NOERR;
    CHECK_EQ_INT(WSPBind(s, (struct sockaddr *)&sin, sizeof sin, &err), 0);
    memset(&out, 0, sizeof out);
    CHECK_EQ_INT(WSPGetSockName(s, (struct sockaddr *)&out, &len, &err), 0);
    CHECK_EQ_INT(len, 16);
    CHECK(out.sin_port != 0);
    CHECK_EQ_INT(ntohl(out.sin_addr.s_addr), 0x7F000001);
    err = NOERR;
    CHECK_EQ_INT(WSPBind(s, (struct sockaddr *)&sin, sizeof sin, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAEINVAL);
    DWORD v = 0;
    len = sizeof v;
    CHECK_EQ_INT(WSPGetSockOpt(s, WS_SOL_SOCKET, WS_SO_TYPE, (char *)&v, &len, &err), 0);
    CHECK_EQ_INT(v, SOCK_STREAM);
    CHECK_EQ_INT(WSPCloseSocket(s, &err), 0);
    ts_get_counts(&a);
    CHECK_EQ_INT(a.close_socket_handle - b.close_socket_handle, 1);
    err = NOERR;
    CHECK_EQ_INT(WSPCloseSocket(s, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAENOTSOCK);

    /* errors */
    err = NOERR;
    CHECK_EQ_INT(WSPSocket(AF_INET, SOCK_DGRAM, IPPROTO_UDP, NULL, 0, WSA_FLAG_OVERLAPPED, &err),
                 INVALID_SOCKET);
    CHECK_EQ_INT(err, WSAESOCKTNOSUPPORT);
    err = NOERR;
    len = sizeof out;
    CHECK_EQ_INT(WSPGetSockName(s, (struct sockaddr *)&out, &len, &err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSAENOTSOCK);

    /* event objects through the switch's event upcalls */
    WSAEVENT e = WSACreateEvent();
    CHECK(e != NULL);
    err = NOERR;
    CHECK_EQ_INT(up.lpWPUSetEvent(e, &err), TRUE);
    CHECK_EQ_INT(WSAWaitForMultipleEvents(1, &e, FALSE, 0, FALSE), WSA_WAIT_EVENT_0);
    CHECK_EQ_INT(up.lpWPUResetEvent(e, &err), TRUE);
    CHECK_EQ_INT(WSAWaitForMultipleEvents(1, &e, FALSE, 0, FALSE), WSA_WAIT_TIMEOUT);
    CHECK_EQ_INT(WSACloseEvent(e), TRUE);
    err = NOERR;
    CHECK_EQ_INT(up.lpWPUSetEvent(e, &err), FALSE);
    CHECK_EQ_INT(err, WSA_INVALID_HANDLE);

    /* a socket left open is closed by the last cleanup */
    s = WSPSocket(AF_INET6, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED, &err);
    CHECK(s != INVALID_SOCKET);
    ts_get_counts(&b);
    CHECK_EQ_INT(WSPCleanup(&err), 0);
    ts_get_counts(&a);
    CHECK_EQ_INT(a.close_socket_handle - b.close_socket_handle, 1);
    err = NOERR;
    CHECK_EQ_INT(WSPCleanup(&err), SOCKET_ERROR);
    CHECK_EQ_INT(err, WSANOTINITIALISED);
    CHECK_EQ_INT(ts_live_handles(), 0);
    CHECK_EQ_INT(a.double_close + a.close_bad + a.after_close, 0);
    return t_summary();
}
