/*
 * tls/tls.c - TLS 1.2 PSK sessions on GnuTLS: handshake, records, exporter.
 *
 * Layer: tls. With tls/x509.c and tls/pki.c the only code that includes GnuTLS.
 * It uses util and crypto (HMAC for the unknown-identity key) and never proto,
 * store, http or codec. Certificate sessions (tls/x509.c) reuse the transport,
 * deadlines, handshake loop, records and exporter here through the internal
 * hooks at the end of this file.
 *
 * Deadlines: each operation (handshake, read, write_all, close) gets an
 * absolute monotonic deadline stored in the connection. The socket is
 * non-blocking and our own push/pull functions poll() until that deadline;
 * when it passes they report EAGAIN and set timed_out, so GnuTLS returns
 * GNUTLS_E_AGAIN with its state intact and we map the result to
 * M2MSEC_ERR_TIMEOUT. Nothing can block longer than the deadline.
 *
 * Threads: a server object is read-only after creation and may be shared by
 * many worker threads; a connection belongs to one thread at a time.
 */

#include <errno.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "crypto/kdf.h"
#include "tls/net.h"
#include "tls/tls.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/time.h"

/*
 * @spec TS-0003 10.2.1 TLS 1.2 exactly (the exporter and PSK binding differ in 1.3).
 * @spec TS-0003 10.2.2 PSK suites: TLS_PSK_WITH_AES_128_GCM_SHA256 (preferred),
 * TLS_PSK_WITH_AES_128_CCM_8 and the mandatory TLS_PSK_WITH_AES_128_CBC_SHA256.
 * "gnutls-cli --priority STRING -l" lists exactly these three. GnuTLS rejects a
 * TLS 1.2 priority without signature algorithms, hence SIGN-ALL (unused by PSK).
 * SERVER_PRECEDENCE makes our order win against clients that prefer CBC.
 * Client and server use the same string.
 */
#define M2MSEC_TLS_PRIORITY                                                                     \
    "NONE:+VERS-TLS1.2:+PSK:+AES-128-GCM:+AES-128-CCM-8:+AES-128-CBC:+AEAD:+SHA256:+COMP-NULL:" \
    "+SIGN-ALL:+CURVE-ALL:%SERVER_PRECEDENCE"

#define DUMMY_SECRET_LEN 32
#define SNI_MAX          255 /* RFC 6066 HostName: a DNS name */

struct m2msec_tls_server {
    gnutls_psk_server_credentials_t cred;
    gnutls_priority_t prio;
    m2msec_psk_lookup_fn fn;
    void *arg;                   /* not owned */
    struct m2msec_secret *dummy; /* keys the unknown identities, see psk_server_cb */
};

struct m2msec_tls_conn {
    gnutls_session_t session;
    gnutls_psk_client_credentials_t ccred; /* client side only */
    const struct m2msec_tls_server *srv;   /* not owned; server side only */
    void *ctx;                             /* not owned */
    int fd;
    unsigned timeout_ms;
    uint64_t deadline; /* absolute monotonic ms of the current operation */
    int timed_out;     /* the transport gave up at the deadline */
    int lookup_failed; /* the application's PSK lookup returned -1 */
    int unknown_identity;
    int have_identity;
    int have_sni;
    int closed;
    int cert;        /* certificate session (tls/x509.c): no PSK meaning in errors */
    int server_side; /* accepted: record SNI after the handshake (certificate sessions) */
    int hs_rc;       /* GnuTLS result of a failed handshake, for tls/x509.c */
    int fail_alert;  /* alert to send when the handshake fails (certificate sessions) */
    int have_fail_alert;
    void *ext; /* tls/x509.c state, released by ext_free after the session */
    m2msec_tls_ext_free_fn ext_free;
    const char *cipher; /* static string owned by GnuTLS */
    char identity[M2MSEC_PSK_IDENTITY_MAX + 1];
    char sni[SNI_MAX + 1];
    char peer[M2MSEC_NET_ADDR_LEN];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_result = GNUTLS_E_INTERNAL_ERROR;

#ifdef M2MSEC_TESTING
static const char *test_client_priority;

void
m2msec_tls_test_client_priority(const char *priority)
{
    test_client_priority = priority;
}
#endif

static void
global_init_once(void)
{
    global_result = gnutls_global_init();
}

int
m2msec_tls_global_init(struct m2msec_error *err)
{
    if (pthread_once(&global_once, global_init_once) != 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_TLS, "pthread_once failed");
    }
    if (global_result < 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_TLS, "gnutls_global_init: %s",
                                 gnutls_strerror(global_result));
    }
    return 0;
}

static unsigned
effective_timeout(unsigned timeout_ms)
{
    return timeout_ms == 0 ? M2MSEC_TLS_DEFAULT_TIMEOUT_MS : timeout_ms;
}

static void
begin_op(struct m2msec_tls_conn *c)
{
    c->deadline = m2msec_net_deadline(c->timeout_ms);
    c->timed_out = 0;
}

/* Retry GNUTLS_E_AGAIN/INTERRUPTED (and warnings) only while the deadline has not passed. */
static int
may_retry(const struct m2msec_tls_conn *c, int r)
{
    if (c->timed_out || gnutls_error_is_fatal(r) != 0) {
        return 0;
    }
    return m2msec_monotonic_ms() < c->deadline;
}

/*
 * Transport. The socket is non-blocking; we wait with poll() up to the
 * operation's deadline and then report EAGAIN with timed_out set.
 */
static ssize_t
io_push(gnutls_transport_ptr_t p, const void *buf, size_t n)
{
    struct m2msec_tls_conn *c = p;
    ssize_t w;
    int r;

    for (;;) {
        /* MSG_NOSIGNAL: a peer that went away must not kill the daemon with SIGPIPE. */
        w = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (w >= 0) {
            return w;
        }
        if (errno == EINTR) {
            continue;
        }
        if (!m2msec_net_would_block(errno)) {
            gnutls_transport_set_errno(c->session, errno);
            return -1;
        }
        r = m2msec_net_wait(c->fd, POLLOUT, c->deadline);
        if (r == 0) {
            c->timed_out = 1;
            gnutls_transport_set_errno(c->session, EAGAIN);
            return -1;
        }
        if (r < 0) {
            gnutls_transport_set_errno(c->session, errno);
            return -1;
        }
    }
}

static ssize_t
io_pull(gnutls_transport_ptr_t p, void *buf, size_t n)
{
    struct m2msec_tls_conn *c = p;
    ssize_t got;
    int r;

    for (;;) {
        got = recv(c->fd, buf, n, 0);
        if (got >= 0) {
            return got;
        }
        if (errno == EINTR) {
            continue;
        }
        if (!m2msec_net_would_block(errno)) {
            gnutls_transport_set_errno(c->session, errno);
            return -1;
        }
        r = m2msec_net_wait(c->fd, POLLIN, c->deadline);
        if (r == 0) {
            c->timed_out = 1;
            gnutls_transport_set_errno(c->session, EAGAIN);
            return -1;
        }
        if (r < 0) {
            gnutls_transport_set_errno(c->session, errno);
            return -1;
        }
    }
}

/* GnuTLS asks "is data readable within ms?" (handshake timeout): never past our deadline. */
static int
io_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
    struct m2msec_tls_conn *c = p;
    uint64_t deadline = c->deadline;
    uint64_t now = m2msec_monotonic_ms();
    int r;

    if (ms != GNUTLS_INDEFINITE_TIMEOUT && now + ms < deadline) {
        deadline = now + ms;
    }
    r = m2msec_net_wait(c->fd, POLLIN, deadline);
    if (r < 0) {
        gnutls_transport_set_errno(c->session, errno);
        return -1;
    }
    if (r == 0 && m2msec_monotonic_ms() >= c->deadline) {
        c->timed_out = 1;
    }
    return r;
}

static void
record_sni(struct m2msec_tls_conn *c)
{
    size_t len = sizeof(c->sni);
    unsigned type = 0;

    if (c->have_sni) {
        return;
    }
    if (gnutls_server_name_get(c->session, c->sni, &len, &type, 0) == 0 &&
        type == GNUTLS_NAME_DNS && len > 0 && len < sizeof(c->sni) &&
        memchr(c->sni, '\0', len) == NULL) {
        c->sni[len] = '\0';
        c->have_sni = 1;
    } else {
        c->sni[0] = '\0';
    }
}

/*
 * @spec TS-0003 10.2.2 server side of the PSK handshake: resolve psk_identity to a key.
 * An identity that is unknown, expired or malformed gets a key derived from a
 * per-server random secret instead of an error, so the handshake runs to the
 * client's Finished and fails there exactly as with a wrong key: the client
 * cannot tell "no such identity" from "wrong key".
 */
static int
psk_server_cb(gnutls_session_t session, const gnutls_datum_t *username, gnutls_datum_t *key)
{
    struct m2msec_tls_conn *c = gnutls_session_get_ptr(session);
    struct m2msec_secret *secret = NULL;
    struct m2msec_error e;
    uint8_t dummy[M2MSEC_HMAC_LEN];
    const uint8_t *kb = NULL;
    size_t klen = 0;
    int r;
    int rv = -1;

    key->data = NULL;
    key->size = 0;
    m2msec_error_clear(&e);
    if (c == NULL || c->srv == NULL) {
        goto out;
    }
    record_sni(c);
    if (username->size == 0 || username->size > M2MSEC_PSK_IDENTITY_MAX ||
        memchr(username->data, '\0', username->size) != NULL) {
        r = 1;
    } else {
        memcpy(c->identity, username->data, username->size);
        c->identity[username->size] = '\0';
        c->have_identity = 1;
        r = c->srv->fn(c->srv->arg, c->ctx, c->identity, &secret);
        if (r == 0 && (secret == NULL || m2msec_secret_len(secret) == 0)) {
            r = -1;
        }
    }
    if (r == 1) {
        c->unknown_identity = 1;
        if (m2msec_hmac_sha256(m2msec_secret_bytes(c->srv->dummy), m2msec_secret_len(c->srv->dummy),
                               username->data, username->size, dummy, &e) != 0) {
            c->lookup_failed = 1;
            goto out;
        }
        kb = dummy;
        klen = sizeof(dummy);
    } else if (r == 0) {
        kb = m2msec_secret_bytes(secret);
        klen = m2msec_secret_len(secret);
    } else {
        c->lookup_failed = 1;
        goto out;
    }
    /* GnuTLS takes the datum and releases it with gnutls_free after wiping it. */
    key->data = gnutls_malloc(klen);
    if (key->data == NULL) {
        c->lookup_failed = 1;
        goto out;
    }
    memcpy(key->data, kb, klen);
    key->size = (unsigned)klen;
    rv = 0;
out:
    m2msec_wipe(dummy, sizeof(dummy));
    m2msec_secret_free(secret);
    return rv;
}

struct m2msec_tls_server *
m2msec_tls_server_new_psk(m2msec_psk_lookup_fn fn, void *arg, struct m2msec_error *err)
{
    struct m2msec_tls_server *s = NULL;
    struct m2msec_tls_server *rv = NULL;
    const char *errpos = NULL;
    int r;

    if (fn == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "PSK lookup function missing");
        goto out;
    }
    if (m2msec_tls_global_init(err) != 0) {
        goto out;
    }
    s = m2msec_calloc(1, sizeof(*s));
    if (s == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    s->fn = fn;
    s->arg = arg;
    s->dummy = m2msec_secret_random(DUMMY_SECRET_LEN, err);
    if (s->dummy == NULL) {
        goto out;
    }
    r = gnutls_psk_allocate_server_credentials(&s->cred);
    if (r < 0) {
        s->cred = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "PSK server credentials: %s", gnutls_strerror(r));
        goto out;
    }
    gnutls_psk_set_server_credentials_function2(s->cred, psk_server_cb);
    r = gnutls_priority_init(&s->prio, M2MSEC_TLS_PRIORITY, &errpos);
    if (r < 0) {
        s->prio = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "TLS priority string at \"%.32s\": %s",
                          errpos != NULL ? errpos : "", gnutls_strerror(r));
        goto out;
    }
    rv = s;
    s = NULL;
out:
    m2msec_tls_server_free(s);
    return rv;
}

void
m2msec_tls_server_free(struct m2msec_tls_server *s)
{
    if (s == NULL) {
        return;
    }
    if (s->prio != NULL) {
        gnutls_priority_deinit(s->prio);
    }
    if (s->cred != NULL) {
        gnutls_psk_free_server_credentials(s->cred);
    }
    m2msec_secret_free(s->dummy);
    m2msec_free(s);
}

static struct m2msec_tls_conn *
conn_new(int fd, unsigned timeout_ms, struct m2msec_error *err)
{
    struct m2msec_tls_conn *c = m2msec_calloc(1, sizeof(*c));

    if (c == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->fd = fd;
    c->timeout_ms = effective_timeout(timeout_ms);
    (void)m2msec_strlcpy(c->peer, "?", sizeof(c->peer));
    return c;
}

/* Session on c->fd with our transport and deadlines; credentials are set by the caller. */
static int
session_setup(struct m2msec_tls_conn *c, unsigned flags, struct m2msec_error *err)
{
    int r;

    if (m2msec_net_set_nonblock(c->fd, 1, err) != 0) {
        return -1;
    }
    r = gnutls_init(&c->session, flags | GNUTLS_NO_SIGNAL);
    if (r < 0) {
        c->session = NULL;
        return m2msec_error_setx(err, M2MSEC_ERR_TLS, "gnutls_init: %s", gnutls_strerror(r));
    }
    gnutls_session_set_ptr(c->session, c);
    gnutls_transport_set_ptr(c->session, c);
    gnutls_transport_set_push_function(c->session, io_push);
    gnutls_transport_set_pull_function(c->session, io_pull);
    gnutls_transport_set_pull_timeout_function(c->session, io_pull_timeout);
    gnutls_handshake_set_timeout(c->session, c->timeout_ms);
    m2msec_net_peer_format(c->fd, c->peer, sizeof(c->peer));
    return 0;
}

/*
 * A failure after the keys were derived from the PSK means the two sides hold
 * different keys: the first encrypted handshake record (Finished) does not
 * decrypt, or the peer says so with an alert. Records before that are in the
 * clear, so no other cause produces these errors during a PSK handshake.
 */
static int
is_psk_failure(const struct m2msec_tls_conn *c, int r)
{
    gnutls_alert_description_t a;

    if (r == GNUTLS_E_DECRYPTION_FAILED || r == GNUTLS_E_ERROR_IN_FINISHED_PACKET ||
        r == GNUTLS_E_MAC_VERIFY_FAILED) {
        return 1;
    }
    if (r != GNUTLS_E_FATAL_ALERT_RECEIVED) {
        return 0;
    }
    a = gnutls_alert_get(c->session);
    return a == GNUTLS_A_BAD_RECORD_MAC || a == GNUTLS_A_DECRYPT_ERROR ||
           a == GNUTLS_A_DECRYPTION_FAILED || a == GNUTLS_A_UNKNOWN_PSK_IDENTITY;
}

/*
 * After we send a fatal alert the peer may still be sending the rest of its
 * flight (a server its Certificate..ServerHelloDone, a client its Certificate,
 * CertificateVerify, Finished). Closing a socket with unread data makes the
 * kernel send RST, which can destroy the alert before the peer reads it: the
 * peer then sees a reset instead of the reason. Half-close and drain briefly
 * so the alert arrives (a lingering close, bounded in time and bytes).
 */
#define LINGER_MS    300
#define LINGER_BYTES 65536

static void
linger_drain(struct m2msec_tls_conn *c)
{
    uint8_t buf[4096];
    uint64_t until = m2msec_monotonic_ms() + LINGER_MS;
    size_t total = 0;

    if (shutdown(c->fd, SHUT_WR) == -1) {
        return;
    }
    while (total < LINGER_BYTES) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        if (n == 0 || (!m2msec_net_would_block(errno) && errno != EINTR)) {
            break;
        }
        if (m2msec_net_wait(c->fd, POLLIN, until) <= 0) {
            break;
        }
    }
}

static int
handshake_error(struct m2msec_tls_conn *c, int r, struct m2msec_error *err)
{
    const char *alert = NULL;

    if (c->timed_out || r == GNUTLS_E_TIMEDOUT || r == GNUTLS_E_AGAIN ||
        r == GNUTLS_E_INTERRUPTED) {
        return m2msec_error_setx(err, M2MSEC_ERR_TIMEOUT, "TLS handshake with %s timed out",
                                 c->peer);
    }
    /* Tell the peer why, unless it told us or the transport is gone. */
    if (r != GNUTLS_E_FATAL_ALERT_RECEIVED && r != GNUTLS_E_PUSH_ERROR &&
        r != GNUTLS_E_PULL_ERROR && r != GNUTLS_E_PREMATURE_TERMINATION) {
        if (c->cert && c->have_fail_alert) {
            /* The certificate check chose a precise alert (unknown_ca, certificate_expired...). */
            (void)gnutls_alert_send(c->session, GNUTLS_AL_FATAL,
                                    (gnutls_alert_description_t)c->fail_alert);
        } else if (c->cert && r == GNUTLS_E_NO_CERTIFICATE_FOUND) {
            /* RFC 5246 s.7.4.6: a required client certificate is missing. */
            (void)gnutls_alert_send(c->session, GNUTLS_AL_FATAL, GNUTLS_A_HANDSHAKE_FAILURE);
        } else {
            (void)gnutls_alert_send_appropriate(c->session, r);
        }
        linger_drain(c);
    }
    if (c->lookup_failed) {
        return m2msec_error_setx(err, M2MSEC_ERR_TLS, "PSK lookup failed for %s", c->peer);
    }
    /*
     * A certificate session that also offers PSK (m2msec_tls_conn_enable_psk)
     * fails as a PSK session once the client named an identity.
     */
    if ((!c->cert || c->have_identity || c->unknown_identity) && is_psk_failure(c, r)) {
        /* Deliberately one message for unknown identity and wrong key on the client. */
        if (c->srv != NULL && c->unknown_identity) {
            return m2msec_error_setx(err, M2MSEC_ERR_AUTH,
                                     "PSK handshake failed (unknown identity)");
        }
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH, "PSK handshake failed");
    }
    if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        alert = gnutls_alert_get_name(gnutls_alert_get(c->session));
    }
    return m2msec_error_setx(err, M2MSEC_ERR_TLS, "TLS handshake with %s failed: %s%s%s%s", c->peer,
                             gnutls_strerror(r), alert != NULL ? " (alert: " : "",
                             alert != NULL ? alert : "", alert != NULL ? ")" : "");
}

static int
run_handshake(struct m2msec_tls_conn *c, struct m2msec_error *err)
{
    int r;

    begin_op(c);
    for (;;) {
        r = gnutls_handshake(c->session);
        if (r == GNUTLS_E_SUCCESS) {
            break;
        }
        if (!may_retry(c, r)) {
            c->hs_rc = r;
            return handshake_error(c, r, err);
        }
    }
    c->cipher = gnutls_ciphersuite_get(c->session);
    if (c->cert && c->server_side) {
        record_sni(c);
    }
    if (c->srv != NULL) {
        record_sni(c);
        /*
         * Cannot happen with PSK-only priorities; refuse rather than serve
         * anonymously. A certificate session offering PSK too needs an
         * identity only when PSK was negotiated (tls/x509.c checks the rest).
         */
        if (!c->have_identity && (!c->cert || gnutls_kx_get(c->session) == GNUTLS_KX_PSK)) {
            return m2msec_error_setx(err, M2MSEC_ERR_AUTH, "PSK handshake failed");
        }
    }
    return 0;
}

struct m2msec_tls_conn *
m2msec_tls_accept(struct m2msec_tls_server *s, int fd, void *ctx, unsigned timeout_ms,
                  struct m2msec_error *err)
{
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_tls_conn *rv = NULL;
    int r;

    if (s == NULL || fd < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "TLS accept without server or socket");
        goto out;
    }
    c = conn_new(fd, timeout_ms, err);
    if (c == NULL) {
        goto out;
    }
    fd = -1;
    c->srv = s;
    c->ctx = ctx;
    if (session_setup(c, GNUTLS_SERVER, err) != 0) {
        goto out;
    }
    gnutls_priority_set(c->session, s->prio);
    r = gnutls_credentials_set(c->session, GNUTLS_CRD_PSK, s->cred);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "gnutls_credentials_set: %s", gnutls_strerror(r));
        goto out;
    }
    if (run_handshake(c, err) != 0) {
        goto out;
    }
    rv = c;
    c = NULL;
out:
    if (fd >= 0) {
        close(fd);
    }
    m2msec_tls_conn_free(c);
    return rv;
}

static int
is_ip_literal(const char *host)
{
    uint8_t buf[16];

    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

struct m2msec_tls_conn *
m2msec_tls_connect_psk(const struct m2msec_tls_psk_client *o, struct m2msec_error *err)
{
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_tls_conn *rv = NULL;
    struct m2msec_secret *kcopy = NULL;
    gnutls_datum_t key;
    char host[256];
    char port[8];
    const char *sni = NULL;
    const char *prio = M2MSEC_TLS_PRIORITY;
    const char *errpos = NULL;
    size_t idlen;
    int fd = o != NULL && o->has_fd ? o->fd : -1; /* owned here until conn_new takes it */
    int r;

    if (o == NULL || o->hostport == NULL || o->identity == NULL || o->psk == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "PSK client options incomplete");
        goto out;
    }
    idlen = strlen(o->identity);
    if (idlen == 0 || idlen > M2MSEC_PSK_IDENTITY_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "psk_identity length %zu not in 1..%d",
                          idlen, M2MSEC_PSK_IDENTITY_MAX);
        goto out;
    }
    if (m2msec_secret_len(o->psk) == 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "empty PSK");
        goto out;
    }
    if (m2msec_hostport_split(o->hostport, host, sizeof(host), port, sizeof(port), err) != 0) {
        goto out;
    }
    /* @spec TS-0003 10.2.1 send SNI (RFC 6066): only DNS names, never address literals. */
    sni = o->sni;
    if (sni == NULL && !is_ip_literal(host)) {
        sni = host;
    }
    if (sni != NULL && (sni[0] == '\0' || strlen(sni) > SNI_MAX)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "server name length not in 1..%d",
                          SNI_MAX);
        goto out;
    }
    if (m2msec_tls_global_init(err) != 0) {
        goto out;
    }
    if (!o->has_fd) {
        fd = m2msec_tcp_connect(o->hostport, effective_timeout(o->timeout_ms), err);
        if (fd < 0) {
            goto out;
        }
    } else if (fd < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no socket to run TLS on");
        goto out;
    }
    c = conn_new(fd, o->timeout_ms, err);
    if (c == NULL) {
        goto out;
    }
    fd = -1; /* the connection owns it */
    if (session_setup(c, GNUTLS_CLIENT, err) != 0) {
        goto out;
    }
    r = gnutls_psk_allocate_client_credentials(&c->ccred);
    if (r < 0) {
        c->ccred = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "PSK client credentials: %s", gnutls_strerror(r));
        goto out;
    }
    /* A private copy gives GnuTLS a non-const pointer without casting away const. */
    kcopy = m2msec_secret_dup(o->psk, err);
    if (kcopy == NULL) {
        goto out;
    }
    key.data = m2msec_secret_bytes_mut(kcopy);
    key.size = (unsigned)m2msec_secret_len(kcopy);
    r = gnutls_psk_set_client_credentials(c->ccred, o->identity, &key, GNUTLS_PSK_KEY_RAW);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "PSK client credentials: %s", gnutls_strerror(r));
        goto out;
    }
    r = gnutls_credentials_set(c->session, GNUTLS_CRD_PSK, c->ccred);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "gnutls_credentials_set: %s", gnutls_strerror(r));
        goto out;
    }
#ifdef M2MSEC_TESTING
    if (test_client_priority != NULL) {
        prio = test_client_priority;
    }
#endif
    r = gnutls_priority_set_direct(c->session, prio, &errpos);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "TLS priority string at \"%.32s\": %s",
                          errpos != NULL ? errpos : "", gnutls_strerror(r));
        goto out;
    }
    if (sni != NULL) {
        r = gnutls_server_name_set(c->session, GNUTLS_NAME_DNS, sni, strlen(sni));
        if (r < 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "server name \"%.64s\": %s", sni,
                              gnutls_strerror(r));
            goto out;
        }
    }
    if (run_handshake(c, err) != 0) {
        goto out;
    }
    rv = c;
    c = NULL;
out:
    m2msec_secret_free(kcopy);
    m2msec_tls_conn_free(c);
    if (fd >= 0) {
        close(fd);
    }
    return rv;
}

ssize_t
m2msec_tls_read(struct m2msec_tls_conn *c, void *buf, size_t n, struct m2msec_error *err)
{
    ssize_t r;

    if (c == NULL || buf == NULL || n == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "TLS read without buffer");
    }
    begin_op(c);
    for (;;) {
        r = gnutls_record_recv(c->session, buf, n);
        if (r >= 0) {
            return r; /* 0: close_notify */
        }
        /*
         * EOF without close_notify. The layers above frame their messages
         * (Content-Length), so a truncation is detected there; here it reads
         * as an orderly end, as most peers (and OpenSSL s_client) do it.
         */
        if (r == GNUTLS_E_PREMATURE_TERMINATION) {
            return 0;
        }
        if (!may_retry(c, (int)r)) {
            break;
        }
    }
    if (c->timed_out || r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
        return m2msec_error_setx(err, M2MSEC_ERR_TIMEOUT, "TLS read from %s timed out after %u ms",
                                 c->peer, c->timeout_ms);
    }
    if (r == GNUTLS_E_REHANDSHAKE) {
        return m2msec_error_setx(err, M2MSEC_ERR_TLS, "TLS renegotiation from %s refused", c->peer);
    }
    return m2msec_error_setx(err, M2MSEC_ERR_TLS, "TLS read from %s failed: %s", c->peer,
                             gnutls_strerror((int)r));
}

int
m2msec_tls_write_all(struct m2msec_tls_conn *c, const void *buf, size_t n, struct m2msec_error *err)
{
    const uint8_t *p = buf;
    size_t off = 0;
    ssize_t r;

    if (c == NULL || (buf == NULL && n > 0)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "TLS write without buffer");
    }
    begin_op(c);
    while (off < n) {
        /* After GNUTLS_E_AGAIN the same data must be passed again: it is already queued. */
        r = gnutls_record_send(c->session, p + off, n - off);
        if (r > 0) {
            off += (size_t)r;
            continue;
        }
        if (r < 0 && may_retry(c, (int)r)) {
            continue;
        }
        if (c->timed_out || r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
            return m2msec_error_setx(err, M2MSEC_ERR_TIMEOUT,
                                     "TLS write to %s timed out after %u ms", c->peer,
                                     c->timeout_ms);
        }
        return m2msec_error_setx(err, M2MSEC_ERR_TLS, "TLS write to %s failed: %s", c->peer,
                                 gnutls_strerror((int)r));
    }
    return 0;
}

int
m2msec_tls_wait_readable(struct m2msec_tls_conn *c, unsigned timeout_ms, struct m2msec_error *err)
{
    int r;

    if (c == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no TLS connection");
    }
    /* Decrypted bytes already buffered in GnuTLS never show up in poll(). */
    if (gnutls_record_check_pending(c->session) > 0) {
        return 1;
    }
    r = m2msec_net_wait(c->fd, POLLIN, m2msec_net_deadline(timeout_ms));
    if (r < 0) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "poll on connection from %s", c->peer);
    }
    return r;
}

void
m2msec_tls_set_timeout(struct m2msec_tls_conn *c, unsigned timeout_ms)
{
    if (c != NULL) {
        c->timeout_ms = effective_timeout(timeout_ms);
    }
}

/*
 * @spec TS-0003 10.3.1 keying material from the TLS session: RFC 5705 with no
 * context. For TLS 1.2 GnuTLS passes context NULL through as "no context"
 * (PRF(master_secret, label, client_random || server_random)), which is what
 * OpenSSL's -keymatexport computes; the unit test checks both agree.
 */
int
m2msec_tls_export(struct m2msec_tls_conn *c, const char *label, uint8_t *out, size_t outlen,
                  struct m2msec_error *err)
{
    int r;

    if (c == NULL || label == NULL || label[0] == '\0' || out == NULL || outlen == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "TLS export arguments");
    }
    r = gnutls_prf_rfc5705(c->session, strlen(label), label, 0, NULL, outlen, (char *)out);
    if (r < 0) {
        m2msec_wipe(out, outlen);
        return m2msec_error_setx(err, M2MSEC_ERR_TLS, "TLS exporter \"%.64s\": %s", label,
                                 gnutls_strerror(r));
    }
    return 0;
}

const char *
m2msec_tls_psk_identity(const struct m2msec_tls_conn *c)
{
    return c != NULL && c->have_identity ? c->identity : NULL;
}

const char *
m2msec_tls_sni(const struct m2msec_tls_conn *c)
{
    return c != NULL && c->have_sni ? c->sni : NULL;
}

const char *
m2msec_tls_peer(const struct m2msec_tls_conn *c)
{
    return c != NULL ? c->peer : NULL;
}

const char *
m2msec_tls_cipher(const struct m2msec_tls_conn *c)
{
    return c != NULL ? c->cipher : NULL;
}

int
m2msec_tls_close(struct m2msec_tls_conn *c)
{
    int r;

    if (c == NULL || c->session == NULL) {
        return -1;
    }
    if (c->closed) {
        return 0;
    }
    c->closed = 1;
    begin_op(c);
    /* SHUT_WR: send close_notify without waiting for the peer's (it may never come). */
    do {
        r = gnutls_bye(c->session, GNUTLS_SHUT_WR);
    } while (r < 0 && may_retry(c, r));
    return r == GNUTLS_E_SUCCESS ? 0 : -1;
}

void
m2msec_tls_conn_free(struct m2msec_tls_conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->session != NULL) {
        gnutls_deinit(c->session);
    }
    if (c->ccred != NULL) {
        gnutls_psk_free_client_credentials(c->ccred);
    }
    /* After gnutls_deinit: the extension may own credentials the session used. */
    if (c->ext != NULL && c->ext_free != NULL) {
        c->ext_free(c->ext);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    m2msec_free(c);
}

/* ---- internal hooks for tls/x509.c (declared at the end of tls/tls.h) ---- */

struct m2msec_tls_conn *
m2msec_tls_conn_new_ext(int fd, unsigned timeout_ms, int server, void *ext,
                        m2msec_tls_ext_free_fn ext_free, struct m2msec_error *err)
{
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_tls_conn *rv = NULL;

    if (fd < 0 || ext == NULL || ext_free == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "TLS session without socket or state");
        goto out;
    }
    c = conn_new(fd, timeout_ms, err);
    if (c == NULL) {
        goto out;
    }
    fd = -1;
    c->ext = ext;
    c->ext_free = ext_free;
    ext = NULL;
    c->cert = 1;
    c->server_side = server != 0;
    /* RFC 7250 raw public keys are negotiable on certificate sessions (tls/x509.c). */
    if (session_setup(c, (server != 0 ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_ENABLE_RAWPK,
                      err) != 0) {
        goto out;
    }
    rv = c;
    c = NULL;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (ext != NULL && ext_free != NULL) {
        ext_free(ext);
    }
    m2msec_tls_conn_free(c);
    return rv;
}

struct gnutls_session_int *
m2msec_tls_conn_session(struct m2msec_tls_conn *c)
{
    return c != NULL ? c->session : NULL;
}

void *
m2msec_tls_conn_ext(const struct m2msec_tls_conn *c, m2msec_tls_ext_free_fn owner)
{
    /* The free function doubles as the owner's tag: nobody reads another's state. */
    if (c == NULL || c->ext_free != owner) {
        return NULL;
    }
    return c->ext;
}

void
m2msec_tls_conn_set_fail_alert(struct m2msec_tls_conn *c, int alert)
{
    if (c != NULL) {
        c->fail_alert = alert;
        c->have_fail_alert = 1;
    }
}

int
m2msec_tls_conn_enable_psk(struct m2msec_tls_conn *c, const struct m2msec_tls_server *s, void *ctx,
                           struct m2msec_error *err)
{
    int r;

    if (c == NULL || c->session == NULL || !c->cert || !c->server_side || s == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "PSK needs an accepted certificate session and a PSK server");
    }
    /* psk_server_cb finds the lookup, its argument and the unknown-identity key here. */
    c->srv = s;
    c->ctx = ctx;
    r = gnutls_credentials_set(c->session, GNUTLS_CRD_PSK, s->cred);
    if (r < 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_TLS, "gnutls_credentials_set: %s",
                                 gnutls_strerror(r));
    }
    return 0;
}

int
m2msec_tls_conn_handshake(struct m2msec_tls_conn *c, int *tls_rc, struct m2msec_error *err)
{
    int r;

    if (tls_rc != NULL) {
        *tls_rc = 0;
    }
    if (c == NULL || c->session == NULL || !c->cert) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no certificate session");
    }
    r = run_handshake(c, err);
    if (r != 0 && tls_rc != NULL) {
        *tls_rc = c->hs_rc;
    }
    return r;
}
