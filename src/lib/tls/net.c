/*
 * tls/net.c - TCP sockets: listen, accept and connect with deadlines, host:port parsing.
 *
 * Layer: tls. Together with tls.c the only code in the library that touches
 * sockets. Every blocking step is bounded: accept by poll(), connect by a
 * non-blocking connect() and poll(). Name resolution (getaddrinfo) is the one
 * step that is not bounded by the deadline; listening addresses must be
 * numeric so servers never resolve at all.
 */
#define _GNU_SOURCE /* SOCK_CLOEXEC, accept4: no fd leaks into exec'd children */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "tls/net.h"
#include "tls/tls.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/time.h"

#define PORT_MAX 65535u

uint64_t
m2msec_net_deadline(unsigned timeout_ms)
{
    return m2msec_monotonic_ms() + timeout_ms;
}

int
m2msec_net_wait(int fd, short events, uint64_t deadline_ms)
{
    struct pollfd p;
    uint64_t now;
    uint64_t left;
    int r;

    for (;;) {
        now = m2msec_monotonic_ms();
        left = now < deadline_ms ? deadline_ms - now : 0;
        if (left > 60000) {
            left = 60000; /* poll takes an int; loop for longer waits */
        }
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        r = poll(&p, 1, (int)left);
        if (r > 0) {
            return 1; /* includes POLLERR/POLLHUP: the next I/O call reports them */
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (r == 0 && m2msec_monotonic_ms() >= deadline_ms) {
            return 0;
        }
    }
}

int
m2msec_net_would_block(int e)
{
#if EAGAIN == EWOULDBLOCK
    return e == EAGAIN;
#else
    return e == EAGAIN || e == EWOULDBLOCK;
#endif
}

int
m2msec_net_set_nonblock(int fd, int on, struct m2msec_error *err)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "fcntl(F_GETFL)");
    }
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (fcntl(fd, F_SETFL, flags) < 0) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "fcntl(F_SETFL)");
    }
    return 0;
}

int
m2msec_net_addr_format(const struct sockaddr *sa, char *out, size_t outsz)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port;
    int n;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;
        if (inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip)) == NULL) {
            return -1;
        }
        port = ntohs(in4->sin_port);
        n = snprintf(out, outsz, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)) == NULL) {
            return -1;
        }
        port = ntohs(in6->sin6_port);
        n = snprintf(out, outsz, "[%s]:%u", ip, port);
    } else {
        return -1;
    }
    if (n < 0 || (size_t)n >= outsz) {
        return -1;
    }
    return 0;
}

void
m2msec_net_peer_format(int fd, char *out, size_t outsz)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    memset(&ss, 0, sizeof(ss));
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0 ||
        m2msec_net_addr_format((const struct sockaddr *)&ss, out, outsz) != 0) {
        (void)m2msec_strlcpy(out, "?", outsz);
    }
}

static int
copy_part(char *dst, size_t dstsz, const char *src, size_t len, const char *what,
          const char *hostport, struct m2msec_error *err)
{
    if (len >= dstsz) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "%s of \"%.64s\" too long", what,
                                 hostport);
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/*
 * "host:port" or "[v6]:port". The port is strict decimal 0..65535 (0 lets a
 * listener pick one); an unbracketed IPv6 literal is ambiguous and rejected.
 */
int
m2msec_hostport_split(const char *hostport, char *host, size_t hostsz, char *port, size_t portsz,
                      struct m2msec_error *err)
{
    const char *h;
    const char *end;
    const char *colon;
    size_t hlen;
    uint64_t pv;

    if (hostport == NULL || host == NULL || port == NULL || hostsz == 0 || portsz == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "missing host:port");
    }
    if (hostport[0] == '[') {
        h = hostport + 1;
        end = strchr(h, ']');
        if (end == NULL || end[1] != ':') {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "\"%.64s\" is not [address]:port", hostport);
        }
        hlen = (size_t)(end - h);
        colon = end + 1;
        if (memchr(h, ':', hlen) == NULL) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "\"%.64s\": brackets are only for IPv6 addresses", hostport);
        }
    } else {
        h = hostport;
        colon = strchr(h, ':');
        if (colon == NULL || strchr(colon + 1, ':') != NULL) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "\"%.64s\" is not host:port (IPv6 needs [brackets])",
                                     hostport);
        }
        hlen = (size_t)(colon - h);
    }
    if (hlen == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "\"%.64s\": empty host",
                                 hostport);
    }
    if (m2msec_parse_u64(colon + 1, strlen(colon + 1), PORT_MAX, &pv) != 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "\"%.64s\": port must be a number 0..65535", hostport);
    }
    if (copy_part(host, hostsz, h, hlen, "host", hostport, err) != 0 ||
        copy_part(port, portsz, colon + 1, strlen(colon + 1), "port", hostport, err) != 0) {
        return -1;
    }
    return 0;
}

static int
set_nodelay(int fd, struct m2msec_error *err)
{
    int one = 1;

    /* Requests and responses are small and written whole: Nagle only adds latency. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "setsockopt(TCP_NODELAY)");
    }
    return 0;
}

int
m2msec_tcp_listen(const char *addr, int backlog, char *bound, size_t boundsz,
                  struct m2msec_error *err)
{
    char host[INET6_ADDRSTRLEN + 1];
    char port[8];
    struct addrinfo hints;
    struct addrinfo *ai = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    int fd = -1;
    int one = 1;
    int r;
    int rv = -1;

    if (m2msec_hostport_split(addr, host, sizeof(host), port, sizeof(port), err) != 0) {
        goto out;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    r = getaddrinfo(host, port, &hints, &ai);
    if (r != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "listen address \"%s\" is not a numeric ip:port: %s", addr,
                          gai_strerror(r));
        goto out;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "socket");
        goto out;
    }
    /* Restart without waiting for TIME_WAIT connections of the previous run. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "setsockopt(SO_REUSEADDR)");
        goto out;
    }
    /* "[::]:p" means IPv6 only, so an IPv4 listener on the same port can coexist. */
    if (ai->ai_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "setsockopt(IPV6_V6ONLY)");
        goto out;
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "bind %s", addr);
        goto out;
    }
    if (listen(fd, backlog > 0 ? backlog : 64) != 0) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "listen %s", addr);
        goto out;
    }
    /*
     * Non-blocking so that accept() after poll() cannot hang when the client
     * reset the connection in between; accepted sockets do not inherit it.
     */
    if (m2msec_net_set_nonblock(fd, 1, err) != 0) {
        goto out;
    }
    if (bound != NULL) {
        memset(&ss, 0, sizeof(ss));
        if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
            m2msec_error_set(err, M2MSEC_ERR_IO, "getsockname");
            goto out;
        }
        if (m2msec_net_addr_format((const struct sockaddr *)&ss, bound, boundsz) != 0) {
            m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "bound address buffer too small");
            goto out;
        }
    }
    rv = fd;
    fd = -1;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (ai != NULL) {
        freeaddrinfo(ai);
    }
    return rv;
}

int
m2msec_tcp_accept(int lfd, unsigned timeout_ms, struct m2msec_error *err)
{
    uint64_t deadline = m2msec_net_deadline(timeout_ms);
    int fd;
    int r;

    for (;;) {
        r = m2msec_net_wait(lfd, POLLIN, deadline);
        if (r == 0) {
            m2msec_error_setx(err, M2MSEC_ERR_TIMEOUT, "no connection within %u ms", timeout_ms);
            return -2;
        }
        if (r < 0) {
            return m2msec_error_set(err, M2MSEC_ERR_IO, "poll on listening socket");
        }
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            break;
        }
        /*
         * Another thread took the connection, or the client reset it between
         * poll() and accept(): keep waiting until the deadline.
         */
        if (!m2msec_net_would_block(errno) && errno != ECONNABORTED && errno != EINTR &&
            errno != EPROTO) {
            return m2msec_error_set(err, M2MSEC_ERR_IO, "accept");
        }
    }
    if (set_nodelay(fd, err) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One connect attempt to one address, bounded by deadline. 0 connected, -1 (err set). */
static int
connect_one(int fd, const struct addrinfo *ai, uint64_t deadline, const char *hostport,
            struct m2msec_error *err)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    int r;

    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        return 0;
    }
    if (errno != EINPROGRESS && errno != EINTR) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "connect to %s", hostport);
    }
    r = m2msec_net_wait(fd, POLLOUT, deadline);
    if (r == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_TIMEOUT, "connect to %s timed out", hostport);
    }
    if (r < 0) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "poll while connecting to %s", hostport);
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "getsockopt(SO_ERROR)");
    }
    if (soerr != 0) {
        errno = soerr;
        return m2msec_error_set(err, M2MSEC_ERR_IO, "connect to %s", hostport);
    }
    return 0;
}

int
m2msec_tcp_connect(const char *hostport, unsigned timeout_ms, struct m2msec_error *err)
{
    char host[256];
    char port[8];
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    const struct addrinfo *ai;
    struct m2msec_error e;
    uint64_t deadline;
    int fd = -1;
    int r;
    int rv = -1;

    m2msec_error_clear(&e);
    if (m2msec_hostport_split(hostport, host, sizeof(host), port, sizeof(port), &e) != 0) {
        goto out;
    }
    if (timeout_ms == 0) {
        timeout_ms = M2MSEC_TLS_DEFAULT_TIMEOUT_MS;
    }
    deadline = m2msec_net_deadline(timeout_ms);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    r = getaddrinfo(host, port, &hints, &res);
    if (r != 0) {
        m2msec_error_setx(&e, M2MSEC_ERR_IO, "cannot resolve %s: %s", host, gai_strerror(r));
        goto out;
    }
    m2msec_error_setx(&e, M2MSEC_ERR_IO, "no address for %s", host);
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            m2msec_error_set(&e, M2MSEC_ERR_IO, "socket");
            continue;
        }
        if (connect_one(fd, ai, deadline, hostport, &e) == 0) {
            break;
        }
        close(fd);
        fd = -1;
        if (e.code == M2MSEC_ERR_TIMEOUT) {
            goto out; /* the deadline covers all addresses together */
        }
    }
    if (fd < 0) {
        goto out;
    }
    if (m2msec_net_set_nonblock(fd, 0, &e) != 0 || set_nodelay(fd, &e) != 0) {
        goto out;
    }
    rv = fd;
    fd = -1;
out:
    if (rv < 0 && err != NULL) {
        m2msec_error_copy(err, &e);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (res != NULL) {
        freeaddrinfo(res);
    }
    return rv;
}

/* Wait for events on fd before deadline, as the error to report when not ready. */
static int
tcp_wait(int fd, short events, uint64_t deadline, const char *what, struct m2msec_error *err)
{
    int r = m2msec_net_wait(fd, events, deadline);

    if (r == 1) {
        return 0;
    }
    if (r == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_TIMEOUT, "%s: peer too slow", what);
    }
    return m2msec_error_set(err, M2MSEC_ERR_IO, "%s: poll", what);
}

int
m2msec_tcp_write_all(int fd, const void *p, size_t n, unsigned timeout_ms, const char *what,
                     struct m2msec_error *err)
{
    const uint8_t *b = p;
    uint64_t deadline = m2msec_net_deadline(timeout_ms);
    ssize_t w;

    while (n > 0) {
        if (tcp_wait(fd, POLLOUT, deadline, what, err) == -1) {
            return -1;
        }
        w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR || m2msec_net_would_block(errno)) {
                continue;
            }
            return m2msec_error_set(err, M2MSEC_ERR_IO, "%s: write to the peer", what);
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int
m2msec_tcp_read_exact(int fd, void *p, size_t n, unsigned timeout_ms, const char *what,
                      struct m2msec_error *err)
{
    uint8_t *b = p;
    uint64_t deadline = m2msec_net_deadline(timeout_ms);
    ssize_t r;

    while (n > 0) {
        if (tcp_wait(fd, POLLIN, deadline, what, err) == -1) {
            return -1;
        }
        r = recv(fd, b, n, 0);
        if (r < 0) {
            if (errno == EINTR || m2msec_net_would_block(errno)) {
                continue;
            }
            return m2msec_error_set(err, M2MSEC_ERR_IO, "%s: read from the peer", what);
        }
        if (r == 0) {
            return m2msec_error_setx(err, M2MSEC_ERR_IO, "%s: the peer closed the connection",
                                     what);
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

void
m2msec_tcp_close(int fd)
{
    if (fd >= 0) {
        (void)close(fd);
    }
}
