/*
 * sw.h — a reference Windows Sockets Direct "switch" for Linux, as a small C library.
 *
 * It loads any SAN provider that exports WSPStartupEx, and offers a blocking stream-socket API
 * that runs over the provider when the provider serves the local address (and the peer runs a
 * switch with a provider listener), and over kernel TCP otherwise. Stream semantics on the
 * provider path come from the session protocol in PROTOCOL.md (pre-posted receives,
 * credit-based flow control, RDMA read/write for large blocks, graceful close).
 *
 * Errors: functions return -1 / NULL and set errno (ECONNREFUSED, ECONNRESET, EPIPE, EIO ...).
 * Threading: one thread may send while another receives on the same socket.
 *
 * Tuning (environment, read by sw_init):
 *   SW_RECV_BUFFERS      receives posted per connection, N (default 16, min 4)
 *   SW_BUFFER_SIZE       size of each receive/send buffer, B (default 65600: 64 KiB of data per message, min 256)
 *   SW_RDMA_CHUNK        receiver staging area for large blocks (default 1 MiB)
 *   SW_RDMA_THRESHOLD    override the sending side's SO_RDMA_THRESHOLD_SIZE: blocks larger than
 *                        it go by RDMA (a huge value keeps everything inline)
 *   SW_FORCE_WRITE_PATH  1 = advertise "no RDMA read" so the peer uses the write path to us, and
 *                        never use the read path ourselves
 *   SW_NO_PROVIDER       1 = never use the provider (pure TCP)
 *   SW_LINGER_MS         how long sw_close waits for the peer's CLOSE (default 10000)
 *   SW_TRACE             1 = trace provider calls and protocol messages on stderr
 */
#ifndef SW_SW_H
#define SW_SW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sw_socket sw_socket;

/* Loads the provider (NULL: $SW_PROVIDER, else "libsanwsp.so"), runs WSPStartupEx, queries the
 * served addresses and the extension functions. Returns 0, or -1 (message on stderr). Calling
 * it again is a no-op. When the provider cannot be loaded, the switch still works over TCP if
 * SW_ALLOW_NO_PROVIDER=1, else fails. */
int sw_init(const char *provider_path);
void sw_cleanup(void);

/* Description of the provider and what the switch learned at startup (for diagnostics). */
typedef struct sw_provider_info {
    int loaded;                 /* provider usable */
    char description[256];      /* WSPDATA.szDescription (ASCII) */
    int served_count;           /* IPv4 addresses served (SIO_ADDRESS_LIST_QUERY) */
    uint32_t served[16];        /* first 16, network byte order */
    int has_rdma_read;          /* SIO_GET_EXTENSION_FUNCTION_POINTER(WSAID_RDMAREAD) succeeded */
    int rdma_read_error;        /* its error code when it did not */
} sw_provider_info;
void sw_get_provider_info(sw_provider_info *out);

/* Listens on ip:port (ip "0.0.0.0" = any; port 0 = ephemeral) on kernel TCP, and also on the
 * provider when it serves ip (or ip is the wildcard and it serves any address). */
sw_socket *sw_listen(const char *ip, unsigned short port, int backlog);
/* Local port of a listener or connection. */
unsigned short sw_port(sw_socket *s);
/* Blocks until a connection arrives on either listener; negotiates the session on the provider
 * path before returning. */
sw_socket *sw_accept(sw_socket *listener);
/* Connects; over the provider when it serves the local address chosen for ip, falling back to
 * kernel TCP unless the provider's answer was final (then NULL + ECONNREFUSED). */
sw_socket *sw_connect(const char *ip, unsigned short port);

/* Blocking stream I/O. sw_send sends all len bytes (returns len) or fails (-1). sw_recv returns
 * 1..len bytes, 0 at the peer's graceful close, -1 on error. */
ssize_t sw_send(sw_socket *s, const void *buf, size_t len);
ssize_t sw_recv(sw_socket *s, void *buf, size_t len);
/* Graceful close (provider: CLOSE handshake, bounded by SW_LINGER_MS) and release. */
int sw_close(sw_socket *s);

/* "provider" or "tcp" (for a listener: "provider+tcp" or "tcp"). */
const char *sw_path(sw_socket *s);

/* Per-connection counters (provider path; zero for TCP). */
typedef struct sw_stats {
    uint64_t msgs_sent, msgs_recv;       /* session messages, all types */
    uint64_t data_msgs_sent, data_msgs_recv;
    uint64_t credit_updates_sent, credit_updates_recv;
    uint64_t credit_waits;               /* times a send had to wait for credits */
    uint64_t rdma_reads, rdma_writes;    /* RDMA operations issued by this side */
    uint64_t rdma_read_bytes, rdma_write_bytes;
    uint64_t large_sent_read_path, large_sent_write_path; /* large blocks sent, by path */
    uint64_t zcopy_sends;                /* DATA messages sent from the caller's buffer */
    uint64_t zcopy_reads;                /* RDMA reads straight into the caller's buffer */
    uint64_t msgsize_errors;             /* receives completed with WSAEMSGSIZE */
    uint64_t seq_errors;                 /* messages lost / out of order (sequence gaps) */
    uint64_t credit_violations;          /* messages the peer sent without a credit */
    uint64_t recv_errors;                /* receives completed with any other error */
    int64_t min_send_credits;            /* lowest credit count seen after a send (never < 0) */
    uint32_t peer_recv_buffers, peer_buffer_size; /* from the peer's HELLO */
    int peer_rdma_read;                  /* the peer advertised RDMA read */
    int read_path;                       /* this side sends large blocks by the read path */
} sw_stats;
int sw_get_stats(sw_socket *s, sw_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* SW_SW_H */
