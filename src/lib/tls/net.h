/*
 * tls/net.h - socket helpers shared by tls/net.c and tls/tls.c.
 *
 * Layer: tls (internal to the module; nothing outside src/lib/tls includes it).
 * Must not depend on proto, store, http or codec.
 */
#ifndef M2MSEC_TLS_NET_H
#define M2MSEC_TLS_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/error.h"

/* "ip:port" for IPv4, "[v6]:port" for IPv6 (INET6_ADDRSTRLEN + brackets + port). */
#define M2MSEC_NET_ADDR_LEN 56

/* Format a socket address. 0, or -1 for other families or a too small buffer. */
int m2msec_net_addr_format(const struct sockaddr *sa, char *out, size_t outsz);
/* Format the peer (getpeername) of a connected socket; "?" when unknown. */
void m2msec_net_peer_format(int fd, char *out, size_t outsz);
/* 1 when errno value e means "would block" (EAGAIN, EWOULDBLOCK). */
int m2msec_net_would_block(int e);
/* Set or clear O_NONBLOCK. */
int m2msec_net_set_nonblock(int fd, int on, struct m2msec_error *err);
/*
 * Wait until fd has events or the absolute monotonic deadline (ms) passes,
 * restarting after EINTR: 1 ready, 0 deadline passed, -1 poll failed (errno).
 */
int m2msec_net_wait(int fd, short events, uint64_t deadline_ms);
/* Absolute monotonic deadline timeout_ms from now. */
uint64_t m2msec_net_deadline(unsigned timeout_ms);

#endif
