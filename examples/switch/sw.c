/*
 * sw.c — the switch's socket API: listen on kernel TCP and the provider at once, connect over the
 * provider with TCP fallback (spec §1.4–1.6), and dispatch I/O to the session protocol
 * (sw_session.c) or to the kernel socket.
 */
#include "sw_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct sockaddr_in sin_of(uint32_t ip_be, unsigned short port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = ip_be;
    a.sin_port = htons(port);
    return a;
}

static int parse_ip(const char *ip, uint32_t *out)
{
    struct in_addr a;
    if (!ip || inet_pton(AF_INET, ip, &a) != 1) {
        errno = EINVAL;
        return -1;
    }
    *out = a.s_addr;
    return 0;
}

static sw_socket *new_socket(int kind, int fd)
{
    sw_socket *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->kind = kind;
    s->fd = fd;
    s->pl = INVALID_SOCKET;
    return s;
}

static void tcp_tune(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- listen / accept ------------------------------------------------------------------------- */
static void provider_listen(sw_socket *l, uint32_t ip, int backlog)
{
    if (!g_prov.loaded || !sw_provider_serves(ip))
        return;
    int err = 0;
    SOCKET s = g_prov.t.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, &g_prov.tcp_info, 0,
                                    WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) {
        SW_TRACE("WSPSocket (listener) failed: %d", err);
        return;
    }
    struct sockaddr_in a = sin_of(ip, l->port);
    sw_event *ev = NULL;
    if (g_prov.t.lpWSPBind(s, (struct sockaddr *)&a, sizeof a, &err) != 0) {
        SW_TRACE("WSPBind (listener) failed: %d", err);
        goto fail;
    }
    if (g_prov.t.lpWSPListen(s, backlog, &err) != 0) {
        SW_TRACE("WSPListen failed: %d", err);
        goto fail;
    }
    ev = sw_event_create();
    if (!ev || g_prov.t.lpWSPEventSelect(s, (WSAEVENT)ev, FD_ACCEPT, &err) != 0) {
        SW_TRACE("WSPEventSelect(FD_ACCEPT) failed: %d", err);
        goto fail;
    }
    l->pl = s;
    l->pev = ev;
    l->provider = 1;
    return;
fail:
    g_prov.t.lpWSPCloseSocket(s, &err);
    sw_event_close(ev);
}

sw_socket *sw_listen(const char *ip, unsigned short port, int backlog)
{
    uint32_t a;
    if (parse_ip(ip, &a) != 0)
        return NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = sin_of(a, port);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    sw_socket *l = new_socket(SW_LISTENER, fd);
    if (!l) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    l->port = ntohs(sa.sin_port);
    /* provider first: a peer switch that finds the kernel listener up must find ours too, or it
     * would fall back to TCP */
    provider_listen(l, a, backlog);
    if (listen(fd, backlog) != 0) {
        int e = errno;
        sw_close(l);
        errno = e;
        return NULL;
    }
    SW_TRACE("listening on %s:%u (%s)", ip, l->port, sw_path(l));
    return l;
}

unsigned short sw_port(sw_socket *s) { return s ? s->port : 0; }

/* One WSPAccept attempt: a connection, NULL with errno EAGAIN when none is queued. */
static sw_socket *provider_accept_one(sw_socket *l)
{
    struct sockaddr_in peer;
    int plen = sizeof peer, err = 0;
    SOCKET s = g_prov.t.lpWSPAccept(l->pl, (struct sockaddr *)&peer, &plen, NULL, 0, &err);
    if (s == INVALID_SOCKET) {
        if (err != WSAEWOULDBLOCK)
            SW_TRACE("WSPAccept failed: %d", err);
        errno = err == WSAEWOULDBLOCK ? EAGAIN : sw_errno_of(err);
        return NULL;
    }
    SOCKET h = sw_last_created_handle();
    /* The application-visible socket of the Windows switch is a TCP socket; here the companion
     * kernel socket is only a placeholder (-1): the port is held by our kernel listener. */
    sw_conn *c = sws_start(s, h);
    if (!c)
        return NULL; /* errno from the negotiation; caller keeps accepting */
    sw_socket *cs = new_socket(SW_CONNECTION, -1);
    if (!cs) {
        sws_close(c);
        errno = ENOMEM;
        return NULL;
    }
    cs->provider = 1;
    cs->conn = c;
    cs->port = l->port;
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    SW_TRACE("accepted %s:%u over the provider", ip, ntohs(peer.sin_port));
    return cs;
}

sw_socket *sw_accept(sw_socket *l)
{
    if (!l || l->kind != SW_LISTENER) {
        errno = EINVAL;
        return NULL;
    }
    for (;;) {
        if (l->provider) {
            sw_socket *cs = provider_accept_one(l);
            if (cs)
                return cs;
            if (errno != EAGAIN)
                SW_TRACE("provider accept: %s", strerror(errno));
        }
        struct pollfd p[2] = { { l->fd, POLLIN, 0 }, { -1, POLLIN, 0 } };
        if (l->provider)
            p[1].fd = sw_event_fd(l->pev);
        int r = poll(p, l->provider ? 2 : 1, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (l->provider && (p[1].revents & POLLIN)) {
            WSANETWORKEVENTS ne;
            memset(&ne, 0, sizeof ne);
            int err = 0;
            if (g_prov.t.lpWSPEnumNetworkEvents(l->pl, (WSAEVENT)l->pev, &ne, &err) != 0)
                SW_TRACE("WSPEnumNetworkEvents failed: %d", err);
            else if ((ne.lNetworkEvents & FD_ACCEPT) && ne.iErrorCode[FD_ACCEPT_BIT])
                SW_TRACE("FD_ACCEPT with error %d", ne.iErrorCode[FD_ACCEPT_BIT]);
            continue; /* WSPAccept at the top of the loop */
        }
        if (p[0].revents & POLLIN) {
            int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                    continue;
                return NULL;
            }
            tcp_tune(fd);
            sw_socket *cs = new_socket(SW_CONNECTION, fd);
            if (!cs) {
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            cs->port = l->port;
            SW_TRACE("accepted a kernel TCP connection");
            return cs;
        }
    }
}

/* ---- connect --------------------------------------------------------------------------------- */
/* The local address the kernel would use toward dst (UDP connect + getsockname). */
static int local_addr_for(uint32_t dst, uint32_t *out)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = sin_of(dst, 9);
    socklen_t l = sizeof a;
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc == 0)
        rc = getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    if (rc == 0)
        *out = a.sin_addr.s_addr;
    return rc;
}

static int is_final(int wsa)
{
    return wsa == WSAECONNREFUSED || wsa == WSAECONNRESET || wsa == WSAEHOSTUNREACH ||
           wsa == WSAEADDRINUSE;
}

/* Tries the provider. Returns 1 with *out set, 0 to fall back to TCP, -1 for a final failure
 * (errno set). fd is the companion kernel socket, already bound to local:port. */
static int provider_connect(uint32_t local, unsigned short lport, uint32_t dst,
                            unsigned short port, sw_conn **out)
{
    int err = 0;
    SOCKET s = g_prov.t.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, &g_prov.tcp_info, 0,
                                    WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) {
        SW_TRACE("WSPSocket failed: %d -> TCP", err);
        return 0;
    }
    SOCKET h = sw_last_created_handle();
    sw_event *ev = sw_event_create();
    struct sockaddr_in la = sin_of(local, lport), ra = sin_of(dst, port);
    int result = WSAEINVAL;
    if (!ev) {
        SW_TRACE("no event -> TCP");
        goto fallback;
    }
    if (g_prov.t.lpWSPBind(s, (struct sockaddr *)&la, sizeof la, &err) != 0) {
        SW_TRACE("WSPBind failed: %d -> TCP", err);
        goto fallback;
    }
    if (g_prov.t.lpWSPEventSelect(s, (WSAEVENT)ev, FD_CONNECT, &err) != 0) {
        SW_TRACE("WSPEventSelect(FD_CONNECT) failed: %d -> TCP", err);
        goto fallback;
    }
    if (g_prov.t.lpWSPConnect(s, (struct sockaddr *)&ra, sizeof ra, NULL, NULL, NULL, NULL,
                              &err) == 0) {
        result = 0;
    } else if (err != WSAEWOULDBLOCK) {
        result = err;
    } else {
        for (;;) {
            struct pollfd p = { sw_event_fd(ev), POLLIN, 0 };
            int r = poll(&p, 1, 60000);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                SW_TRACE("no FD_CONNECT within 60 s");
                result = WSAETIMEDOUT;
                break;
            }
            WSANETWORKEVENTS ne;
            memset(&ne, 0, sizeof ne);
            if (g_prov.t.lpWSPEnumNetworkEvents(s, (WSAEVENT)ev, &ne, &err) != 0) {
                SW_TRACE("WSPEnumNetworkEvents failed: %d", err);
                result = err;
                break;
            }
            if (ne.lNetworkEvents & FD_CONNECT) {
                result = ne.iErrorCode[FD_CONNECT_BIT];
                break;
            }
        }
    }
    if (result != 0) {
        SW_TRACE("WSPConnect: %d (%s)", result, is_final(result) ? "final" : "falls back to TCP");
        goto fallback;
    }
    g_prov.t.lpWSPEventSelect(s, NULL, 0, &err); /* done with the event */
    sw_event_close(ev);
    *out = sws_start(s, h);
    if (!*out) {
        /* established, then negotiation failed: no fallback once established (spec §1.4) */
        return -1;
    }
    return 1;
fallback:
    g_prov.t.lpWSPCloseSocket(s, &err);
    sw_event_close(ev);
    if (is_final(result)) {
        errno = result == WSAEADDRINUSE ? EADDRINUSE : ECONNREFUSED;
        return -1;
    }
    return 0;
}

sw_socket *sw_connect(const char *ip, unsigned short port)
{
    uint32_t dst, local = 0;
    if (parse_ip(ip, &dst) != 0)
        return NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int use_provider = g_prov.loaded && local_addr_for(dst, &local) == 0 &&
                       local != htonl(INADDR_ANY) && sw_provider_serves(local);
    unsigned short lport = 0;
    if (use_provider) {
        /* the application-visible (kernel) socket is bound first; the companion uses its port */
        struct sockaddr_in la = sin_of(local, 0);
        socklen_t l = sizeof la;
        if (bind(fd, (struct sockaddr *)&la, sizeof la) != 0 ||
            getsockname(fd, (struct sockaddr *)&la, &l) != 0) {
            SW_TRACE("bind companion: %s -> TCP", strerror(errno));
            use_provider = 0;
        } else {
            lport = ntohs(la.sin_port);
        }
    } else {
        SW_TRACE("provider does not serve the local address for %s -> TCP", ip);
    }
    if (use_provider) {
        sw_conn *c = NULL;
        int r = provider_connect(local, lport, dst, port, &c);
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return NULL;
        }
        if (r > 0) {
            sw_socket *s = new_socket(SW_CONNECTION, fd);
            if (!s) {
                sws_close(c);
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            s->provider = 1;
            s->conn = c;
            s->port = lport;
            return s;
        }
    }
    struct sockaddr_in ra = sin_of(dst, port);
    while (connect(fd, (struct sockaddr *)&ra, sizeof ra) != 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    tcp_tune(fd);
    sw_socket *s = new_socket(SW_CONNECTION, fd);
    if (!s) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    struct sockaddr_in la;
    socklen_t l = sizeof la;
    if (getsockname(fd, (struct sockaddr *)&la, &l) == 0)
        s->port = ntohs(la.sin_port);
    return s;
}

/* ---- I/O ------------------------------------------------------------------------------------- */
ssize_t sw_send(sw_socket *s, const void *buf, size_t len)
{
    if (!s || s->kind != SW_CONNECTION) {
        errno = EINVAL;
        return -1;
    }
    if (s->provider)
        return sws_send(s->conn, buf, len);
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(s->fd, (const char *)buf + off, len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)n;
    }
    return (ssize_t)len;
}

ssize_t sw_recv(sw_socket *s, void *buf, size_t len)
{
    if (!s || s->kind != SW_CONNECTION) {
        errno = EINVAL;
        return -1;
    }
    if (s->provider)
        return sws_recv(s->conn, buf, len);
    for (;;) {
        ssize_t n = recv(s->fd, buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}

int sw_close(sw_socket *s)
{
    if (!s)
        return 0;
    int rc = 0;
    if (s->kind == SW_LISTENER && s->pl != INVALID_SOCKET) {
        int err = 0;
        g_prov.t.lpWSPCloseSocket(s->pl, &err);
        sw_event_close(s->pev);
    }
    if (s->conn)
        rc = sws_close(s->conn);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
    return rc;
}

const char *sw_path(sw_socket *s)
{
    if (!s)
        return "none";
    if (s->kind == SW_LISTENER)
        return s->provider ? "provider+tcp" : "tcp";
    return s->provider ? "provider" : "tcp";
}

int sw_get_stats(sw_socket *s, sw_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s || s->kind != SW_CONNECTION) {
        errno = EINVAL;
        return -1;
    }
    if (s->conn)
        sws_stats(s->conn, out);
    return 0;
}
