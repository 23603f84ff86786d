/*
 * sw_internal.h — shared between the switch's source files: the loaded provider (sw_provider.c),
 * the session protocol (sw_session.c) and the socket API (sw.c).
 */
#ifndef SW_INTERNAL_H
#define SW_INTERNAL_H

#define _GNU_SOURCE
#include "sw.h"
#include "sw_credit.h"
#include "ws2san.h"

#include <pthread.h>
#include <stdint.h>

/* ---- the provider (sw_provider.c) ----------------------------------------------------------- */
typedef struct sw_provider {
    int loaded;
    void *lib;
    WSPPROC_TABLE t;
    WSAPROTOCOL_INFOW tcp_info; /* "the TCP/IP provider's protocol info" we pass to WSPSocket */
    LPFN_WSPREGISTERMEMORY reg;
    LPFN_WSPDEREGISTERMEMORY dereg;
    LPFN_WSPREGISTERRDMAMEMORY reg_rdma;
    LPFN_WSPDEREGISTERRDMAMEMORY dereg_rdma;
    LPFN_WSPRDMAWRITE rdma_write;
    LPFN_WSPRDMAREAD rdma_read; /* NULL when unsupported */
    int rdma_read_error;
    char description[256];
} sw_provider;

extern sw_provider g_prov;

typedef struct sw_config {
    uint32_t n, b, chunk;
    int64_t threshold; /* -1: the provider's SO_RDMA_THRESHOLD_SIZE */
    int force_write_path, no_provider, trace;
    long linger_ms;
    uint32_t zcopy_min; /* inline data pieces this long go from the caller's buffer; 0: never */
} sw_config;
extern sw_config g_cfg;

#define SW_TRACE(...) do { if (g_cfg.trace) sw_trace(__VA_ARGS__); } while (0)
void sw_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Served IPv4 addresses right now (SIO_ADDRESS_LIST_QUERY on a helper socket). Returns count
 * (up to max) or -1. */
int sw_served_addresses(uint32_t *out, int max);
int sw_provider_serves(uint32_t ip_be); /* 1 if ip (network order) is served */

/* Own event objects (eventfd + flag, manual reset), handed to the provider as WSAEVENT. */
typedef struct sw_event sw_event;
sw_event *sw_event_create(void);
void sw_event_close(sw_event *e);
int sw_event_fd(sw_event *e);

/* Switch handles from WPUCreateSocketHandle. The handle created most recently on this thread
 * (a WSPSocket/WSPAccept call makes exactly one); whether a handle has been closed. */
SOCKET sw_last_created_handle(void);
int sw_handle_closed(SOCKET h);

/* Completion "sequence": bumped by every WPUCompleteOverlappedRequest / WPUCloseSocketHandle
 * upcall and by sw_kick; waiters sleep until it moves. Never held across provider calls. */
uint64_t sw_seq(void);
void sw_seq_wait(uint64_t seen, long ms);
void sw_kick(void);

/* errno for a Winsock error code. */
int sw_errno_of(int wsa);

/* ---- the session protocol (sw_session.c) ---------------------------------------------------- */
typedef struct sw_op {
    WSAOVERLAPPED ov;
    int busy;
} sw_op;

typedef struct sw_conn sw_conn; /* provider-path connection state */

/* Takes over a connected provider socket (and its switch handle); posts receives, exchanges
 * HELLO. Returns NULL (errno set) after closing ps on failure. */
sw_conn *sws_start(SOCKET ps, SOCKET handle);
ssize_t sws_send(sw_conn *c, const void *buf, size_t len);
ssize_t sws_recv(sw_conn *c, void *buf, size_t len);
int sws_close(sw_conn *c); /* graceful close + WSPCloseSocket + free */
void sws_stats(sw_conn *c, sw_stats *out);

/* ---- the socket object (sw.c) ---------------------------------------------------------------- */
enum { SW_LISTENER = 1, SW_CONNECTION = 2 };

struct sw_socket {
    int kind;
    int fd;         /* kernel socket: listener, TCP connection, or the provider path's companion */
    int provider;   /* connection over the provider / listener also on the provider */
    unsigned short port;
    SOCKET pl;      /* provider listener */
    sw_event *pev;  /* its FD_ACCEPT event */
    sw_conn *conn;  /* provider-path connection */
};

#endif
