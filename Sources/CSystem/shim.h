/* Linux headers the Glibc module does not cover (eventfd, epoll, interface addresses). */
#ifndef SANWSP_CSYSTEM_SHIM_H
#define SANWSP_CSYSTEM_SHIM_H
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <unistd.h>
#include <fcntl.h>
/* GNU extension, hidden without _GNU_SOURCE. */
int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
#include <stdint.h>
#include <sys/uio.h>
#include <sys/mman.h>

/* WSAOVERLAPPED.Internal is read by other threads (WSPGetOverlappedResult, the switch): the
 * result fields are written first and Internal last with release order; readers acquire. */
static inline void sanwsp_store_release_uptr(uintptr_t *p, uintptr_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline uintptr_t sanwsp_load_acquire_uptr(const uintptr_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Socket type flags spelled once in C: the static-stdlib Glibc module does not surface the
 * __socket_type enum to Swift the way the shared one does. */
static inline int sanwsp_tcp_socket(int family) {
    return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}
static inline int sanwsp_accept_nonblocking(int fd) {
    return accept4(fd, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
#endif
