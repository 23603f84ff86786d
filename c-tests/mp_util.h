/*
 * mp_util.h — helpers for the multi-process C tests (test_two_process, test_kill_peer): provider
 * startup through the test switch, sockets, accept/connect with event objects, overlapped
 * operations polled with WSPGetOverlappedResult, byte patterns and clocks.
 *
 * Every helper returns a WSAE* code (0 = success) rather than asserting, so the caller's CHECKs
 * name the exact line and the exact expected code.
 */
#ifndef SANWSP_MP_UTIL_H
#define SANWSP_MP_UTIL_H

#include "test_switch.h"

#include <stddef.h>
#include <stdint.h>

#define MP_NOERR (-7777) /* a value no call writes: "lpErrno untouched" */

/* ---- provider ------------------------------------------------------------------------------ */
/* The address the tests use: SANWSP_TEST_IP, default 127.0.0.1 (the soft-RoCE VM sets its
 * RDMA address, since loopback is not served by an RDMA device). */
const char *mp_ip(void);
/* ts_init(RTLD_DEFAULT) + WSPStartupEx(2.2); returns WSPStartupEx's result. */
int mp_startup(void);
/* Closes nothing; WSPCleanup, then CHECKs the switch's handle counters balance. */
void mp_finish(void);

SOCKET mp_socket(int *err);
int mp_bind(SOCKET s, const char *ip, unsigned short port);
/* Local port of s (0 on failure). */
unsigned short mp_local_port(SOCKET s);

/* Waits up to ms for e, then WSPEnumNetworkEvents(s, e). Returns 0, WSA_WAIT_TIMEOUT or the
 * enum's error. */
int mp_wait_events(SOCKET s, WSAEVENT e, DWORD ms, WSANETWORKEVENTS *out);

/* WSPAccept on a listener with WSPEventSelect(FD_ACCEPT, e): tries, waits on e, retries until
 * ms elapse. Returns the socket or INVALID_SOCKET with *err (WSAETIMEDOUT when nothing came). */
SOCKET mp_accept(SOCKET l, WSAEVENT e, LPCONDITIONPROC cf, DWORD_PTR ctx, struct sockaddr_in *peer,
                 DWORD ms, int *err);

/* With SANWSP_EXPECT_TRANSPORT=soft|verbs set, CHECKs that connected socket s is carried by that
 * transport (SO_SANWSP_TRANSPORT). mp_send/mp_recv call it on every use. */
void mp_check_transport(SOCKET s);

/* ---- overlapped operations ----------------------------------------------------------------- */
typedef struct mp_op {
    WSAOVERLAPPED ov;
    WSABUF buf;
    WSABUFEX bufx;
    DWORD flags;
} mp_op;

/* Start an operation; hEvent = 1 (no upcall, poll with WSPGetOverlappedResult). Return the
 * error code of the call: WSA_IO_PENDING when it started, 0 if it returned 0. */
int mp_send(SOCKET s, mp_op *op, void *buf, size_t len);
int mp_recv(SOCKET s, mp_op *op, void *buf, size_t len);
int mp_rdma(int write, SOCKET s, mp_op *op, void *buf, size_t len, HANDLE mem, const void *desc,
            DWORD desclen, DWORD offset);
/* WSPGetOverlappedResult(fWait=TRUE): 0 or the operation's error; *bytes set either way. */
int mp_wait(SOCKET s, mp_op *op, DWORD *bytes);
/* Polls (fWait=FALSE) until done or ms elapse: 0, the operation's error, or WSA_IO_INCOMPLETE. */
int mp_wait_ms(SOCKET s, mp_op *op, DWORD *bytes, long ms);
/* Started + completed: WSA_IO_PENDING from the call, then the result. Returns the final code,
 * or the start code if the start did not return WSA_IO_PENDING (the caller CHECKs it). */
int mp_send_wait(SOCKET s, void *buf, size_t len, DWORD *bytes);
int mp_recv_wait(SOCKET s, void *buf, size_t len, DWORD *bytes);

/* Page-aligned, zeroed memory (mmap); mp_free unmaps. */
void *mp_alloc(size_t len);
void mp_free(void *p, size_t len);

/* ---- data ---------------------------------------------------------------------------------- */
void mp_fill(void *buf, size_t len, uint32_t seed);
/* -1 if buf holds mp_fill(seed)'s bytes, else the first differing index. */
long mp_verify(const void *buf, size_t len, uint32_t seed);
/* The 48-byte (or n-byte) connect data pattern for a tag. */
void mp_connect_data(unsigned char *out, size_t n, unsigned char tag);

long long mp_now_ms(void);
double mp_now_s(void);

/* Accepted codes for "the connection is gone". */
int mp_is_loss(int err);

#endif
