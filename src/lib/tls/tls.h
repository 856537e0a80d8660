/*
 * tls/tls.h - TLS 1.2 sessions and sockets (GnuTLS).
 *
 * Layer: tls. The only code that includes <gnutls/gnutls.h> or touches sockets.
 * Versions are pinned to TLS 1.2 in the priority string (TS-0003 10.2.1): under
 * TLS 1.3 the exporter and PSK mechanics differ. PSK suites (TS-0003 10.2.2):
 * TLS_PSK_WITH_AES_128_CBC_SHA256 (mandatory), TLS_PSK_WITH_AES_128_GCM_SHA256
 * and TLS_PSK_WITH_AES_128_CCM_8.
 *
 * Every blocking operation has a deadline (milliseconds). Errors are reported
 * as M2MSEC_ERR_TLS / M2MSEC_ERR_IO / M2MSEC_ERR_TIMEOUT; a failed PSK
 * handshake is M2MSEC_ERR_AUTH.
 */
#ifndef M2MSEC_TLS_TLS_H
#define M2MSEC_TLS_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/secret.h"

#define M2MSEC_PSK_IDENTITY_MAX 1024
/*
 * Deadline used where a timeout_ms of 0 is passed (connect, handshake, read,
 * write). m2msec_tcp_accept and m2msec_tls_wait_readable take 0 as "do not wait".
 */
#define M2MSEC_TLS_DEFAULT_TIMEOUT_MS 10000u

/* Initialise GnuTLS once per process (thread-safe, idempotent). */
int m2msec_tls_global_init(struct m2msec_error *err);

/*
 * PSK lookup for servers. Called during the handshake, possibly blocking
 * (database, or a fetch from another server). Return 0 and set *key (ownership
 * passes to the TLS layer) when the identity is known; 1 when it is unknown,
 * removed or expired; -1 on an internal failure. For 1 the TLS layer continues
 * with a per-server pseudo-random key derived from the identity, so an unknown
 * identity fails exactly like a wrong key (same alert, same timing class).
 * ctx is the connection's user pointer (see m2msec_tls_accept).
 */
typedef int (*m2msec_psk_lookup_fn)(void *arg, void *ctx, const char *identity,
                                    struct m2msec_secret **key);

struct m2msec_tls_server;
struct m2msec_tls_server *m2msec_tls_server_new_psk(m2msec_psk_lookup_fn fn, void *arg,
                                                    struct m2msec_error *err);
void m2msec_tls_server_free(struct m2msec_tls_server *s);

struct m2msec_tls_conn;

/*
 * Server handshake on an accepted socket. Takes ownership of fd (closed by
 * m2msec_tls_conn_free, or here on failure). ctx is passed to the PSK lookup.
 */
struct m2msec_tls_conn *m2msec_tls_accept(struct m2msec_tls_server *s, int fd, void *ctx,
                                          unsigned timeout_ms, struct m2msec_error *err);

struct m2msec_tls_psk_client {
    const char *hostport; /* "host:port", "[v6]:port" */
    const char *sni;      /* server name to send (RFC 6066); NULL: host if it is a name */
    const char *identity; /* psk_identity */
    const struct m2msec_secret *psk;
    unsigned timeout_ms; /* connect, handshake, and default per-operation deadline */
    /*
     * has_fd: run the handshake on fd, a socket already connected to hostport
     * (e.g. after a key agreement on the same connection), instead of
     * connecting. Ownership of fd passes to the call: it is closed by
     * m2msec_tls_conn_free, or here on any failure.
     */
    int has_fd;
    int fd;
};
struct m2msec_tls_conn *m2msec_tls_connect_psk(const struct m2msec_tls_psk_client *o,
                                               struct m2msec_error *err);

/* Read up to n bytes. Returns bytes read, 0 on orderly close by the peer, -1 on error/timeout. */
ssize_t m2msec_tls_read(struct m2msec_tls_conn *c, void *buf, size_t n, struct m2msec_error *err);
int m2msec_tls_write_all(struct m2msec_tls_conn *c, const void *buf, size_t n,
                         struct m2msec_error *err);
/* Wait up to timeout_ms for readable data (buffered or on the socket): 1 ready, 0 timeout, -1. */
int m2msec_tls_wait_readable(struct m2msec_tls_conn *c, unsigned timeout_ms,
                             struct m2msec_error *err);
/* Per-operation deadline for later reads and writes. */
void m2msec_tls_set_timeout(struct m2msec_tls_conn *c, unsigned timeout_ms);

/* @spec TS-0003 10.3.1: RFC 5705 exporter, no context. */
int m2msec_tls_export(struct m2msec_tls_conn *c, const char *label, uint8_t *out, size_t outlen,
                      struct m2msec_error *err);

/* Borrowed, valid for the connection's life. */
const char *m2msec_tls_psk_identity(const struct m2msec_tls_conn *c); /* server side */
const char *m2msec_tls_sni(const struct m2msec_tls_conn *c);          /* server side, or NULL */
const char *m2msec_tls_peer(const struct m2msec_tls_conn *c);         /* "ip:port" */
const char *m2msec_tls_cipher(const struct m2msec_tls_conn *c);       /* suite name */

/* Send close_notify (bounded by the deadline); the socket stays open until free. */
int m2msec_tls_close(struct m2msec_tls_conn *c);
void m2msec_tls_conn_free(struct m2msec_tls_conn *c);

/*
 * Sockets. addr is "ip:port" / "[v6]:port"; port 0 picks an ephemeral port.
 * bound receives the actual "ip:port". Listening sockets are CLOEXEC with
 * SO_REUSEADDR.
 */
int m2msec_tcp_listen(const char *addr, int backlog, char *bound, size_t boundsz,
                      struct m2msec_error *err);
/*
 * Plain (not TLS) bytes on a connected socket, for framing that precedes a TLS
 * session on the same connection (the IBC-SIGMA messages): all of p[0..n),
 * under one deadline of timeout_ms. A peer that closes early is M2MSEC_ERR_IO,
 * a deadline passed M2MSEC_ERR_TIMEOUT; what is a "peer" is named by what.
 */
int m2msec_tcp_write_all(int fd, const void *p, size_t n, unsigned timeout_ms, const char *what,
                         struct m2msec_error *err);
int m2msec_tcp_read_exact(int fd, void *p, size_t n, unsigned timeout_ms, const char *what,
                          struct m2msec_error *err);
/* Close a plain socket (-1 is ignored). */
void m2msec_tcp_close(int fd);
/* Accept with a timeout (for a stoppable loop): fd, -2 on timeout, -1 on error. */
int m2msec_tcp_accept(int lfd, unsigned timeout_ms, struct m2msec_error *err);
int m2msec_tcp_connect(const char *hostport, unsigned timeout_ms, struct m2msec_error *err);
/* Split "host:port" / "[v6]:port". */
int m2msec_hostport_split(const char *hostport, char *host, size_t hostsz, char *port,
                          size_t portsz, struct m2msec_error *err);

/*
 * Internal to src/lib/tls: the hooks through which tls/x509.c (certificate
 * sessions) reuses the transport, deadlines, handshake loop, records and
 * exporter of tls.c. Nothing outside src/lib/tls calls them. struct
 * gnutls_session_int is what GnuTLS's gnutls_session_t points to; naming it
 * here keeps GnuTLS headers out of this file.
 */
struct gnutls_session_int;
typedef void (*m2msec_tls_ext_free_fn)(void *ext);
/*
 * A connection on fd with our transport and deadlines but no credentials yet.
 * Takes ownership of fd and of ext (released with ext_free after the session,
 * or here on failure). server: 1 accepted socket, 0 client.
 */
struct m2msec_tls_conn *m2msec_tls_conn_new_ext(int fd, unsigned timeout_ms, int server, void *ext,
                                                m2msec_tls_ext_free_fn ext_free,
                                                struct m2msec_error *err);
struct gnutls_session_int *m2msec_tls_conn_session(struct m2msec_tls_conn *c);
/* The state attached by m2msec_tls_conn_new_ext when owner is its ext_free, else NULL. */
void *m2msec_tls_conn_ext(const struct m2msec_tls_conn *c, m2msec_tls_ext_free_fn owner);
/* The alert (a gnutls_alert_description_t) to send if the handshake then fails. */
void m2msec_tls_conn_set_fail_alert(struct m2msec_tls_conn *c, int alert);
/*
 * Also accept TLS-PSK on an accepted certificate session (tls/x509.c, for a
 * server whose priorities allow PSK suites too): sets s's PSK credentials on
 * the session, whose lookup then runs as for m2msec_tls_accept with ctx.
 * s is borrowed and must outlive the connection.
 */
int m2msec_tls_conn_enable_psk(struct m2msec_tls_conn *c, const struct m2msec_tls_server *s,
                               void *ctx, struct m2msec_error *err);
/*
 * Run the handshake under the connection's deadline. On failure err is set as
 * for PSK sessions (minus the PSK interpretation) and *tls_rc gets the GnuTLS code.
 */
int m2msec_tls_conn_handshake(struct m2msec_tls_conn *c, int *tls_rc, struct m2msec_error *err);

#ifdef M2MSEC_TESTING
/*
 * Test hook: GnuTLS priority string for later client connections, to force
 * one suite or protocol version; NULL restores the pinned default. The string
 * is borrowed (keep it alive). Not thread-safe: set it before connecting.
 */
void m2msec_tls_test_client_priority(const char *priority);
#endif

#endif
