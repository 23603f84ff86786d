/*
 * sanwsp.h — what sanwsp adds beyond the SPI: Win32-style event objects a switch can plug into
 * its upcall table (WPUCreateEvent/WPUSetEvent/...), a per-thread last error for them, and a
 * file descriptor per event so a switch can wait for provider events with poll/epoll.
 */
#ifndef SANWSP_SANWSP_H
#define SANWSP_SANWSP_H

#include "ws2san.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSA_MAXIMUM_WAIT_EVENTS 64
#define WSA_INFINITE            0xFFFFFFFFu
#define WSA_WAIT_EVENT_0        0x00000000u
#define WSA_WAIT_IO_COMPLETION  0x000000C0u
#define WSA_WAIT_TIMEOUT        0x00000102u
#define WSA_WAIT_FAILED         0xFFFFFFFFu

/* Manual-reset event objects. Handles are even (bit 0 is free for WSAOVERLAPPED.hEvent's
 * "no completion wanted" flag) and are never reused while open. Errors: WSAGetLastError(). */
WSAEVENT WSAAPI WSACreateEvent(void);
BOOL WSAAPI WSASetEvent(WSAEVENT hEvent);
BOOL WSAAPI WSAResetEvent(WSAEVENT hEvent);
BOOL WSAAPI WSACloseEvent(WSAEVENT hEvent);
DWORD WSAAPI WSAWaitForMultipleEvents(DWORD cEvents, const WSAEVENT FAR *lphEvents,
        BOOL fWaitAll, DWORD dwTimeout, BOOL fAlertable);
/* A descriptor that polls readable exactly while the event is set. Owned by the event: do not
 * read, write or close it. Returns -1 (WSAGetLastError() == WSA_INVALID_HANDLE) for a bad handle. */
int WSAAPI WSAEventGetFd(WSAEVENT hEvent);

/* Level WS_SOL_SOCKET, read-only DWORD: which transport carries the socket's connection —
 * 0 none yet, SANWSP_TRANSPORT_SOFT or SANWSP_TRANSPORT_VERBS. */
#define SO_SANWSP_TRANSPORT      0x7F01
#define SANWSP_TRANSPORT_SOFT    1
#define SANWSP_TRANSPORT_VERBS   2

int WSAAPI WSAGetLastError(void);
void WSAAPI WSASetLastError(int iError);

#ifdef __cplusplus
}
#endif
#endif /* SANWSP_SANWSP_H */
