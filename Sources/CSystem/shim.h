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
#endif
