/*
 * tests/unit/test_tls.c - tls module: PSK handshakes over loopback, SNI, exporter,
 * uniform authentication failure, deadlines, records, sockets, host:port parsing.
 *
 * Layer: test. A server thread runs m2msec_tls_accept on 127.0.0.1:0 while the
 * main thread is the client. Independent stacks (the openssl and gnutls-cli
 * binaries) check interoperability and the RFC 5705 exporter; those cases are
 * skipped when the binaries are absent.
 */
#define _GNU_SOURCE /* pipe2, environ */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/kdf.h"
#include "tls/tls.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/secret.h"

#define KEY_HEX     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define BAD_KEY_HEX "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define ID_KNOWN    "C8d3f0a1b2c3d4e5@mef.example.com"
#define ID_UNKNOWN  "C0000000000000000@mef.example.com"
#define SNI_NAME    "mef.example.com"
#define GCM         "TLS_PSK_WITH_AES_128_GCM_SHA256"
#define CCM8        "TLS_PSK_WITH_AES_128_CCM_8"
#define CBC         "TLS_PSK_WITH_AES_128_CBC_SHA256"
#define ECHO_LEN    (100 * 1024)
#define FLOOD_LEN   (64 * 1024 * 1024) /* more than loopback socket buffers can hold */
#define PARALLEL    4
#define CHILD_MS    15000

/* ---- PSK lookup used by every server ---- */

enum lookup_mode { LOOKUP_NORMAL, LOOKUP_FAIL };

struct lookup {
    enum lookup_mode mode;
    int calls;
    void *last_ctx;
};

static pthread_mutex_t lookup_mu = PTHREAD_MUTEX_INITIALIZER; /* servers may run in parallel */

static char long_id[M2MSEC_PSK_IDENTITY_MAX + 1]; /* exactly the maximum length */
static int ctx_marker;

static int
lookup_fn(void *arg, void *ctx, const char *identity, struct m2msec_secret **key)
{
    struct lookup *l = arg;

    pthread_mutex_lock(&lookup_mu);
    l->calls++;
    l->last_ctx = ctx;
    pthread_mutex_unlock(&lookup_mu);
    if (l->mode == LOOKUP_FAIL) {
        return -1;
    }
    if (strcmp(identity, ID_KNOWN) != 0 && strcmp(identity, long_id) != 0) {
        return 1;
    }
    *key = m2msec_secret_from_hex(KEY_HEX, strlen(KEY_HEX), NULL);
    return *key != NULL ? 0 : -1;
}

/* ---- server thread ---- */

enum srv_action {
    ACT_CLOSE,      /* export, send close_notify */
    ACT_WAIT_EOF,   /* export, read until the peer closes (external clients) */
    ACT_ECHO,       /* read ECHO_LEN bytes, send them back, expect EOF */
    ACT_IDLE_READ,  /* read with a short deadline while the client is silent */
    ACT_SEND_SMALL, /* send one 100-byte record, then wait for EOF */
    ACT_FLOOD,      /* write FLOOD_LEN with a short deadline to a client that does not read */
};

struct srv_job {
    struct m2msec_tls_server *srv;
    int lfd;
    unsigned timeout_ms;
    enum srv_action act;
    pthread_t th;
    /* results */
    int accepted;
    struct m2msec_error err;
    char identity[M2MSEC_PSK_IDENTITY_MAX + 1];
    int have_identity;
    char sni[256];
    int have_sni;
    char cipher[64];
    char peer[64];
    uint8_t exp_boot[M2MSEC_EXPORT_LEN];
    uint8_t exp_conn[M2MSEC_EXPORT_LEN];
    int act_ok;
    struct m2msec_error act_err;
    ssize_t idle_read;
    int idle_wait;
};

static int
read_full(struct m2msec_tls_conn *c, uint8_t *buf, size_t n, struct m2msec_error *err)
{
    size_t off = 0;
    ssize_t r;

    while (off < n) {
        r = m2msec_tls_read(c, buf + off, n - off, err);
        if (r <= 0) {
            return -1;
        }
        off += (size_t)r;
    }
    return 0;
}

static void
serve_action(struct srv_job *j, struct m2msec_tls_conn *c)
{
    uint8_t *buf = NULL;
    uint8_t one[16];
    ssize_t r;

    switch (j->act) {
    case ACT_CLOSE:
        j->act_ok = m2msec_tls_close(c) == 0;
        break;
    case ACT_WAIT_EOF:
        do {
            r = m2msec_tls_read(c, one, sizeof(one), &j->act_err);
        } while (r > 0);
        j->act_ok = r == 0;
        (void)m2msec_tls_close(c);
        break;
    case ACT_ECHO:
        buf = malloc(ECHO_LEN);
        if (buf != NULL && read_full(c, buf, ECHO_LEN, &j->act_err) == 0 &&
            m2msec_tls_write_all(c, buf, ECHO_LEN, &j->act_err) == 0) {
            r = m2msec_tls_read(c, one, sizeof(one), &j->act_err);
            j->act_ok = r == 0; /* the client closed after the echo */
        }
        free(buf);
        break;
    case ACT_IDLE_READ:
        j->idle_wait = m2msec_tls_wait_readable(c, 50, &j->act_err);
        m2msec_tls_set_timeout(c, 200);
        j->idle_read = m2msec_tls_read(c, one, sizeof(one), &j->act_err);
        j->act_ok = 1;
        break;
    case ACT_SEND_SMALL:
        memset(one, 0, sizeof(one));
        buf = malloc(100);
        if (buf != NULL) {
            memset(buf, 'x', 100);
            j->act_ok = m2msec_tls_write_all(c, buf, 100, &j->act_err) == 0;
            do {
                r = m2msec_tls_read(c, one, sizeof(one), &j->act_err);
            } while (r > 0);
        }
        free(buf);
        break;
    case ACT_FLOOD:
        buf = calloc(1, FLOOD_LEN);
        if (buf != NULL) {
            m2msec_tls_set_timeout(c, 300);
            j->act_ok = m2msec_tls_write_all(c, buf, FLOOD_LEN, &j->act_err) == -1;
        }
        free(buf);
        break;
    }
}

static void *
srv_thread(void *arg)
{
    struct srv_job *j = arg;
    struct m2msec_tls_conn *c = NULL;
    const char *s;
    int fd;

    fd = m2msec_tcp_accept(j->lfd, CHILD_MS, &j->err);
    if (fd < 0) {
        return NULL;
    }
    c = m2msec_tls_accept(j->srv, fd, &ctx_marker, j->timeout_ms, &j->err);
    if (c == NULL) {
        return NULL;
    }
    j->accepted = 1;
    s = m2msec_tls_psk_identity(c);
    if (s != NULL) {
        j->have_identity = 1;
        (void)m2msec_strlcpy(j->identity, s, sizeof(j->identity));
    }
    s = m2msec_tls_sni(c);
    if (s != NULL) {
        j->have_sni = 1;
        (void)m2msec_strlcpy(j->sni, s, sizeof(j->sni));
    }
    (void)m2msec_strlcpy(j->cipher, m2msec_tls_cipher(c), sizeof(j->cipher));
    (void)m2msec_strlcpy(j->peer, m2msec_tls_peer(c), sizeof(j->peer));
    if (m2msec_tls_export(c, M2MSEC_LABEL_BOOTSTRAP, j->exp_boot, sizeof(j->exp_boot), &j->err) !=
                0 ||
        m2msec_tls_export(c, M2MSEC_LABEL_CONNECTION, j->exp_conn, sizeof(j->exp_conn), &j->err) !=
                0) {
        j->accepted = 0;
    }
    serve_action(j, c);
    m2msec_tls_conn_free(c);
    return NULL;
}

/* ---- fixture: one server object, one listening socket ---- */

struct fx {
    struct lookup lk;
    struct m2msec_tls_server *srv;
    int lfd;
    char bound[64];
    char hostport[64]; /* "127.0.0.1:port" */
    char port[8];
    struct m2msec_secret *key;
    struct m2msec_secret *bad_key;
};

static int
fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct m2msec_error err;
    const char *colon;

    assert_non_null(f);
    memset(long_id, 'a', M2MSEC_PSK_IDENTITY_MAX);
    long_id[M2MSEC_PSK_IDENTITY_MAX] = '\0';
    f->srv = m2msec_tls_server_new_psk(lookup_fn, &f->lk, &err);
    assert_non_null(f->srv);
    f->lfd = m2msec_tcp_listen("127.0.0.1:0", 16, f->bound, sizeof(f->bound), &err);
    assert_true(f->lfd >= 0);
    assert_int_equal(strncmp(f->bound, "127.0.0.1:", 10), 0);
    assert_int_equal(m2msec_strlcpy(f->hostport, f->bound, sizeof(f->hostport)), 0);
    colon = strrchr(f->bound, ':');
    assert_int_equal(m2msec_strlcpy(f->port, colon + 1, sizeof(f->port)), 0);
    f->key = m2msec_secret_from_hex(KEY_HEX, strlen(KEY_HEX), &err);
    f->bad_key = m2msec_secret_from_hex(BAD_KEY_HEX, strlen(BAD_KEY_HEX), &err);
    assert_non_null(f->key);
    assert_non_null(f->bad_key);
    *state = f;
    return 0;
}

static int
fx_teardown(void **state)
{
    struct fx *f = *state;

    close(f->lfd);
    m2msec_tls_server_free(f->srv);
    m2msec_secret_free(f->key);
    m2msec_secret_free(f->bad_key);
    free(f);
    return 0;
}

static void
srv_start(struct fx *f, struct srv_job *j, enum srv_action act, unsigned timeout_ms)
{
    memset(j, 0, sizeof(*j));
    j->srv = f->srv;
    j->lfd = f->lfd;
    j->act = act;
    j->timeout_ms = timeout_ms;
    assert_int_equal(pthread_create(&j->th, NULL, srv_thread, j), 0);
}

static void
srv_join(struct srv_job *j)
{
    assert_int_equal(pthread_join(j->th, NULL), 0);
}

static struct m2msec_tls_conn *
client(const char *hostport, const char *sni, const char *identity, const struct m2msec_secret *key,
       unsigned timeout_ms, struct m2msec_error *err)
{
    struct m2msec_tls_psk_client o = {
        .hostport = hostport,
        .sni = sni,
        .identity = identity,
        .psk = key,
        .timeout_ms = timeout_ms,
    };

    m2msec_error_clear(err);
    return m2msec_tls_connect_psk(&o, err);
}

/* ---- external programs (openssl, gnutls-cli) ---- */

struct child {
    pid_t pid;
    int in_w;  /* write end of the child's stdin: held open so it stays connected */
    int out_r; /* read end of the child's stdout and stderr */
    char out[32768];
    size_t outlen;
};

static int
have_prog(const char *name)
{
    const char *path = getenv("PATH");
    const char *p;
    const char *end;
    char buf[1024];

    if (path == NULL) {
        path = "/usr/bin:/bin";
    }
    for (p = path; *p != '\0'; p = *end == ':' ? end + 1 : end) {
        end = strchr(p, ':');
        if (end == NULL) {
            end = p + strlen(p);
        }
        if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), p, name) < (int)sizeof(buf) &&
            access(buf, X_OK) == 0) {
            return 1;
        }
    }
    return 0;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
child_spawn(struct child *ch, const char *const argv[])
{
    posix_spawn_file_actions_t fa;
    char *args[40];
    int in[2];
    int out[2];
    size_t n;
    size_t i;

    /* posix_spawn wants mutable strings; -Wwrite-strings makes literals const, so copy. */
    for (n = 0; argv[n] != NULL; n++) {
        assert_true(n + 1 < sizeof(args) / sizeof(args[0]));
        args[n] = strdup(argv[n]);
        assert_non_null(args[n]);
    }
    args[n] = NULL;
    memset(ch, 0, sizeof(*ch));
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, in[0], 0), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, out[1], 1), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, out[1], 2), 0);
    assert_int_equal(posix_spawnp(&ch->pid, args[0], &fa, NULL, args, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    for (i = 0; i < n; i++) {
        free(args[i]);
    }
    close(in[0]);
    close(out[1]);
    ch->in_w = in[1];
    ch->out_r = out[0];
}

/* Collect output until needle shows up (needle NULL: until EOF). 1 seen, 0 not (EOF/timeout). */
static int
child_read_until(struct child *ch, const char *needle, unsigned ms)
{
    uint64_t deadline = now_ms() + ms;
    struct pollfd p;
    char tmp[4096];
    ssize_t r;
    size_t room;
    uint64_t t;

    for (;;) {
        ch->out[ch->outlen] = '\0';
        if (needle != NULL && strstr(ch->out, needle) != NULL) {
            return 1;
        }
        if (ch->out_r < 0) {
            return needle == NULL;
        }
        t = now_ms();
        if (t >= deadline) {
            return 0;
        }
        p.fd = ch->out_r;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, (int)(deadline - t)) <= 0) {
            continue;
        }
        r = read(ch->out_r, tmp, sizeof(tmp));
        if (r <= 0) {
            close(ch->out_r);
            ch->out_r = -1;
            continue;
        }
        room = sizeof(ch->out) - 1 - ch->outlen;
        if ((size_t)r < room) {
            room = (size_t)r;
        }
        memcpy(ch->out + ch->outlen, tmp, room);
        ch->outlen += room;
    }
}

/* Close its stdin, collect the rest of its output, reap it (killing it if it hangs). */
static void
child_finish(struct child *ch)
{
    int status;

    if (ch->in_w >= 0) {
        close(ch->in_w);
        ch->in_w = -1;
    }
    if (!child_read_until(ch, NULL, CHILD_MS)) {
        kill(ch->pid, SIGKILL);
    }
    if (ch->out_r >= 0) {
        close(ch->out_r);
        ch->out_r = -1;
    }
    assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
}

/* Lowercase hex after "Keying material: " in the output of openssl s_client/s_server. */
static int
parse_keymat(const char *out, char *hex, size_t hexsz)
{
    const char *p = strstr(out, "Keying material: ");
    size_t n = 0;

    if (p == NULL) {
        return -1;
    }
    p += strlen("Keying material: ");
    while (n + 1 < hexsz &&
           ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))) {
        hex[n++] = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        p++;
    }
    hex[n] = '\0';
    return 0;
}

static void
hex_of(const uint8_t *b, size_t n, char *out, size_t outsz)
{
    assert_int_equal(m2msec_hex_encode(b, n, out, outsz), 0);
}

/* ---- 1. handshakes, suites, SNI, identity, exporter ---- */

struct suite_case {
    const char *client_priority; /* NULL: the library default */
    const char *want;
};

static const struct suite_case suite_cases[] = {
    { NULL, GCM }, /* default: GCM preferred */
    { "NONE:+VERS-TLS1.2:+PSK:+AES-128-CCM-8:+AEAD:+COMP-NULL:+SIGN-ALL", CCM8 },
    { "NONE:+VERS-TLS1.2:+PSK:+AES-128-CBC:+SHA256:+COMP-NULL:+SIGN-ALL", CBC },
    /* a client preferring CBC still gets GCM: the server's order wins */
    { "NONE:+VERS-TLS1.2:+PSK:+AES-128-CBC:+AES-128-CCM-8:+AES-128-GCM:+SHA256:+AEAD:+COMP-NULL:"
      "+SIGN-ALL",
      GCM },
};

static void
test_psk_suites(void **state)
{
    struct fx *f = *state;
    struct m2msec_error err;
    struct srv_job j;
    struct m2msec_tls_conn *c;
    uint8_t boot[M2MSEC_EXPORT_LEN];
    uint8_t conn[M2MSEC_EXPORT_LEN];
    uint8_t b;
    size_t i;

    for (i = 0; i < sizeof(suite_cases) / sizeof(suite_cases[0]); i++) {
        m2msec_tls_test_client_priority(suite_cases[i].client_priority);
        f->lk.calls = 0;
        srv_start(f, &j, ACT_CLOSE, 5000);
        c = client(f->hostport, SNI_NAME, ID_KNOWN, f->key, 5000, &err);
        assert_non_null(c);
        assert_string_equal(m2msec_tls_cipher(c), suite_cases[i].want);
        assert_string_equal(m2msec_tls_peer(c), f->hostport);
        assert_null(m2msec_tls_psk_identity(c)); /* server side only */
        assert_int_equal(m2msec_tls_export(c, M2MSEC_LABEL_BOOTSTRAP, boot, sizeof(boot), &err), 0);
        assert_int_equal(m2msec_tls_export(c, M2MSEC_LABEL_CONNECTION, conn, sizeof(conn), &err),
                         0);
        /* the server exports and closes: an orderly close reads as 0 */
        assert_int_equal(m2msec_tls_read(c, &b, 1, &err), 0);
        m2msec_tls_conn_free(c);
        srv_join(&j);

        assert_true(j.accepted);
        assert_true(j.act_ok);
        assert_string_equal(j.cipher, suite_cases[i].want);
        assert_true(j.have_identity);
        assert_string_equal(j.identity, ID_KNOWN);
        assert_true(j.have_sni);
        assert_string_equal(j.sni, SNI_NAME);
        assert_int_equal(strncmp(j.peer, "127.0.0.1:", 10), 0);
        assert_int_equal(f->lk.calls, 1);
        assert_ptr_equal(f->lk.last_ctx, &ctx_marker);
        assert_memory_equal(boot, j.exp_boot, sizeof(boot));
        assert_memory_equal(conn, j.exp_conn, sizeof(conn));
        assert_memory_not_equal(boot, conn, sizeof(boot));
    }
    m2msec_tls_test_client_priority(NULL);
}

/* Neighbours: versions and suites outside the pinned set never complete. */
static const char *const refused_priorities[] = {
    "NONE:+VERS-TLS1.3:+PSK:+AES-128-GCM:+AEAD:+SHA256:+COMP-NULL:+SIGN-ALL:+GROUP-ALL",
    "NONE:+VERS-TLS1.2:+PSK:+AES-256-GCM:+AEAD:+COMP-NULL:+SIGN-ALL",
    "NONE:+VERS-TLS1.2:+DHE-PSK:+AES-128-GCM:+AEAD:+COMP-NULL:+SIGN-ALL:+GROUP-ALL",
    "NONE:+VERS-TLS1.1:+PSK:+AES-128-CBC:+SHA1:+COMP-NULL:+SIGN-ALL",
};

static void
test_refused_versions_and_suites(void **state)
{
    struct fx *f = *state;
    struct m2msec_error err;
    struct srv_job j;
    struct m2msec_tls_conn *c;
    size_t i;

    for (i = 0; i < sizeof(refused_priorities) / sizeof(refused_priorities[0]); i++) {
        m2msec_tls_test_client_priority(refused_priorities[i]);
        srv_start(f, &j, ACT_CLOSE, 5000);
        c = client(f->hostport, SNI_NAME, ID_KNOWN, f->key, 5000, &err);
        srv_join(&j);
        assert_null(c);
        assert_int_equal(err.code, M2MSEC_ERR_TLS);
        assert_false(j.accepted);
        assert_int_equal(j.err.code, M2MSEC_ERR_TLS); /* not AUTH: nothing about the key */
    }
    m2msec_tls_test_client_priority(NULL);
}

static void
test_sni(void **state)
{
    struct fx *f = *state;
    struct m2msec_error err;
    struct srv_job j;
    struct m2msec_tls_conn *c;
    char hp[64];
    char big[300];

    /* a host name is sent as SNI when none is given */
    assert_true(snprintf(hp, sizeof(hp), "localhost:%s", f->port) < (int)sizeof(hp));
    srv_start(f, &j, ACT_CLOSE, 5000);
    c = client(hp, NULL, ID_KNOWN, f->key, 5000, &err);
    assert_non_null(c);
    m2msec_tls_conn_free(c);
    srv_join(&j);
    assert_true(j.have_sni);
    assert_string_equal(j.sni, "localhost");

    /* an address literal never is */
    srv_start(f, &j, ACT_CLOSE, 5000);
    c = client(f->hostport, NULL, ID_KNOWN, f->key, 5000, &err);
    assert_non_null(c);
    m2msec_tls_conn_free(c);
    srv_join(&j);
    assert_true(j.accepted);
    assert_false(j.have_sni);

    /* malformed names are refused before connecting */
    assert_null(client(f->hostport, "", ID_KNOWN, f->key, 5000, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_null(client(f->hostport, big, ID_KNOWN, f->key, 5000, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
}

/* A socket the caller already connected (e.g. after IBC-SIGMA): TLS runs on it. */
static void
test_connect_on_fd(void **state)
{
    struct fx *f = *state;
    struct m2msec_error err;
    struct srv_job j;
    struct m2msec_tls_conn *c;
    struct m2msec_tls_psk_client o;
    int fd;

    srv_start(f, &j, ACT_CLOSE, 5000);
    m2msec_error_clear(&err);
    fd = m2msec_tcp_connect(f->hostport, 5000, &err);
    assert_true(fd >= 0);
    memset(&o, 0, sizeof(o));
    o.hostport = f->hostport;
    o.identity = ID_KNOWN;
    o.psk = f->key;
    o.timeout_ms = 5000;
    o.has_fd = 1;
    o.fd = fd;
    c = m2msec_tls_connect_psk(&o, &err);
    if (c == NULL) {
        fail_msg("TLS on a connected socket: %s", err.msg);
    }
    m2msec_tls_conn_free(c); /* closes fd */
    srv_join(&j);
    assert_true(j.accepted);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* the connection owned and closed it */

    /* no socket: refused, nothing to close */
    o.fd = -1;
    m2msec_error_clear(&err);
    assert_null(m2msec_tls_connect_psk(&o, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    /* refused before the handshake: the socket is closed all the same */
    fd = m2msec_tcp_connect(f->hostport, 5000, &err);
    assert_true(fd >= 0);
    o.fd = fd;
    o.identity = "";
    assert_null(m2msec_tls_connect_psk(&o, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    /* the listener took that connection: let a server job drain it */
    srv_start(f, &j, ACT_CLOSE, 1000);
    srv_join(&j);
}

/* ---- 2. uniform authentication failure ---- */

static void
test_auth_failures(void **state)
{
    struct fx *f = *state;
    struct m2msec_error err;
    struct m2msec_error wrong_key;
    struct srv_job j;

    /* wrong key */
    srv_start(f, &j, ACT_CLOSE, 5000);
    assert_null(client(f->hostport, SNI_NAME, ID_KNOWN, f->bad_key, 5000, &wrong_key));
    srv_join(&j);
    assert_int_equal(wrong_key.code, M2MSEC_ERR_AUTH);
    assert_false(j.accepted);
    assert_int_equal(j.err.code, M2MSEC_ERR_AUTH);

    /* unknown identity: the client sees exactly the same error */
    f->lk.calls = 0;
    srv_start(f, &j, ACT_CLOSE, 5000);
    assert_null(client(f->hostport, SNI_NAME, ID_UNKNOWN, f->key, 5000, &err));
    srv_join(&j);
    assert_int_equal(err.code, M2MSEC_ERR_AUTH);
    assert_string_equal(err.msg, wrong_key.msg);
    assert_int_equal(f->lk.calls, 1);
    assert_false(j.accepted);
    assert_int_equal(j.err.code, M2MSEC_ERR_AUTH);

    /* the lookup fails internally: the handshake fails, reported as such on the server */
    f->lk.mode = LOOKUP_FAIL;
    srv_start(f, &j, ACT_CLOSE, 5000);
    assert_null(client(f->hostport, SNI_NAME, ID_KNOWN, f->key, 5000, &err));
    srv_join(&j);
    f->lk.mode = LOOKUP_NORMAL;
    assert_int_not_equal(err.code, M2MSEC_ERR_NONE);
    assert_false(j.accepted);
    assert_int_equal(j.err.code, M2MSEC_ERR_TLS);
    assert_non_null(strstr(j.err.msg, "lookup"));

    /* and the right key still works afterwards (control) */
    srv_start(f, &j, ACT_CLOSE, 5000);
    {
        struct m2msec_tls_conn *c = client(f->hostport, SNI_NAME, ID_KNOWN, f->key, 5000, &err);
        assert_non_null(c);
        m2msec_tls_conn_free(c);
    }
    srv_join(&j);
    assert_true(j.accepted);
}

/* ---- 4 (part). identity bounds ---- */

static void
test_identity_limits(void **state)
{
    struct fx *f = *state;
    struct m2msec_error err;
    struct srv_job j;
    struct m2msec_tls_conn *c;
    char too_long[M2MSEC_PSK_IDENTITY_MAX + 2];

    /* exactly the maximum goes through and arrives intact */
    srv_start(f, &j, ACT_CLOSE, 5000);
    c = client(f->hostport, SNI_NAME, long_id, f->key, 5000, &err);
    assert_non_null(c);
    m2msec_tls_conn_free(c);
    srv_join(&j);
    assert_true(j.accepted);
    assert_string_equal(j.identity, long_id);

    /* one more is refused before any connection; so is an empty identity */
    memset(too_long, 'a', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    assert_null(client(f->hostport, SNI_NAME, too_long, f->key, 5000, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(client(f->hostport, SNI_NAME, "", f->key, 5000, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(client(f->hostport, SNI_NAME, NULL, f->key, 5000, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(client("127.0.0.1", SNI_NAME, ID_KNOWN, f->key, 5000, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
}

/* A peer sending an identity longer than the maximum fails like an unknown one. */
static void
test_identity_too_long_from_peer(void **state)
{
    struct fx *f = *state;
    static char user[M2MSEC_PSK_IDENTITY_MAX + 100];
    struct srv_job j;
    struct child ch;

    if (!have_prog("gnutls-cli")) {
        skip();
    }
    memset(user, 'b', sizeof(user) - 1);
    user[sizeof(user) - 1] = '\0';
    {
        const char *const argv[] = {
            "gnutls-cli",
            "-p",
            f->port,
            "--pskusername",
            user,
            "--pskkey",
            KEY_HEX,
            "--priority",
            "NONE:+VERS-TLS1.2:+PSK:+AES-128-GCM:+AEAD:+COMP-NULL:+SIGN-ALL",
            "127.0.0.1",
            NULL
        };
        f->lk.calls = 0;
        srv_start(f, &j, ACT_WAIT_EOF, 5000);
        child_spawn(&ch, argv);
        srv_join(&j);
        child_finish(&ch);
    }
    assert_false(j.accepted);
    assert_int_equal(j.err.code, M2MSEC_ERR_AUTH);
    assert_int_equal(f->lk.calls, 0); /* never reaches the application */
}

/* ---- 3. other stacks offering TLS 1.3 or certificate suites are refused ---- */

static void
run_refused_client(struct fx *f, const char *const argv[])
{
    struct srv_job j;
    struct child ch;

    srv_start(f, &j, ACT_WAIT_EOF, 5000);
    child_spawn(&ch, argv);
    srv_join(&j);
    child_finish(&ch);
    assert_false(j.accepted);
    assert_int_equal(j.err.code, M2MSEC_ERR_TLS);
    assert_null(strstr(ch.out, "Keying material: "));
}

static void
test_openssl_refused(void **state)
{
    struct fx *f = *state;

    if (!have_prog("openssl")) {
        skip();
    }
    {
        const char *const tls13[] = { "openssl", "s_client", "-connect", f->hostport,
                                      "-tls1_3", "-psk",     KEY_HEX,    "-psk_identity",
                                      ID_KNOWN,  NULL };
        const char *const cert[] = { "openssl",
                                     "s_client",
                                     "-connect",
                                     f->hostport,
                                     "-tls1_2",
                                     "-cipher",
                                     "ECDHE-ECDSA-AES128-SHA256",
                                     NULL };
        const char *const psk256[] = { "openssl",
                                       "s_client",
                                       "-connect",
                                       f->hostport,
                                       "-tls1_2",
                                       "-cipher",
                                       "PSK-AES256-GCM-SHA384",
                                       "-psk",
                                       KEY_HEX,
                                       "-psk_identity",
                                       ID_KNOWN,
                                       NULL };
        run_refused_client(f, tls13);
        run_refused_client(f, cert);
        run_refused_client(f, psk256);
    }
}

static void
test_gnutls_cli_tls13_refused(void **state)
{
    struct fx *f = *state;

    if (!have_prog("gnutls-cli")) {
        skip();
    }
    {
        const char *const argv[] = {
            "gnutls-cli",    "-p",         f->port,
            "--pskusername", ID_KNOWN,     "--pskkey",
            KEY_HEX,         "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3:+PSK:+ECDHE-PSK:+DHE-PSK",
            "127.0.0.1",     NULL
        };
        run_refused_client(f, argv);
    }
}

/* ---- 4. the exporter agrees with OpenSSL's -keymatexport (RFC 5705, no context) ---- */

static const char *const openssl_suites[][2] = {
    { "PSK-AES128-GCM-SHA256", GCM },
    { "PSK-AES128-CCM8", CCM8 },
    { "PSK-AES128-CBC-SHA256", CBC },
};

static void
test_export_vs_openssl_client(void **state)
{
    struct fx *f = *state;
    struct srv_job j;
    struct child ch;
    char want[2 * M2MSEC_EXPORT_LEN + 1];
    char got[2 * M2MSEC_EXPORT_LEN + 8];
    size_t i;

    if (!have_prog("openssl")) {
        skip();
    }
    for (i = 0; i < sizeof(openssl_suites) / sizeof(openssl_suites[0]); i++) {
        const char *const argv[] = { "openssl",
                                     "s_client",
                                     "-connect",
                                     f->hostport,
                                     "-tls1_2",
                                     "-cipher",
                                     openssl_suites[i][0],
                                     "-psk",
                                     KEY_HEX,
                                     "-psk_identity",
                                     ID_KNOWN,
                                     "-servername",
                                     SNI_NAME,
                                     "-keymatexport",
                                     M2MSEC_LABEL_BOOTSTRAP,
                                     "-keymatexportlen",
                                     "48",
                                     NULL };
        srv_start(f, &j, ACT_WAIT_EOF, 5000);
        child_spawn(&ch, argv);
        /* s_client stays connected until its stdin closes; close it once it printed */
        (void)child_read_until(&ch, "Keying material: ", CHILD_MS);
        child_finish(&ch);
        srv_join(&j);
        assert_true(j.accepted);
        assert_true(j.act_ok); /* the client's close reads as 0 */
        assert_string_equal(j.cipher, openssl_suites[i][1]);
        assert_string_equal(j.identity, ID_KNOWN);
        assert_string_equal(j.sni, SNI_NAME);
        assert_int_equal(parse_keymat(ch.out, got, sizeof(got)), 0);
        hex_of(j.exp_boot, sizeof(j.exp_boot), want, sizeof(want));
        assert_string_equal(got, want);
        /* the other label differs, so the comparison above is not vacuous */
        hex_of(j.exp_conn, sizeof(j.exp_conn), want, sizeof(want));
        assert_string_not_equal(got, want);
    }
}

static void
test_export_vs_openssl_server(void **state)
{
    struct fx *f = *state;
    struct m2msec_error err;
    struct m2msec_tls_conn *c = NULL;
    struct child ch;
    char bound[64];
    char accept_at[64];
    char want[2 * M2MSEC_EXPORT_LEN + 1];
    char got[2 * M2MSEC_EXPORT_LEN + 8];
    uint8_t boot[M2MSEC_EXPORT_LEN];
    int tries;
    int fd;
    int up = 0;

    (void)f;
    if (!have_prog("openssl")) {
        skip();
    }
    for (tries = 0; tries < 5 && !up; tries++) {
        /* pick a free port, release it, let s_server take it (retry on a lost race) */
        fd = m2msec_tcp_listen("127.0.0.1:0", 1, bound, sizeof(bound), &err);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(m2msec_strlcpy(accept_at, bound, sizeof(accept_at)), 0);
        {
            const char *const argv[] = { "openssl",
                                         "s_server",
                                         "-accept",
                                         accept_at,
                                         "-nocert",
                                         "-tls1_2",
                                         "-psk",
                                         KEY_HEX,
                                         "-psk_identity",
                                         ID_KNOWN,
                                         "-keymatexport",
                                         M2MSEC_LABEL_BOOTSTRAP,
                                         "-keymatexportlen",
                                         "48",
                                         "-naccept",
                                         "1",
                                         NULL };
            child_spawn(&ch, argv);
        }
        up = child_read_until(&ch, "ACCEPT", CHILD_MS);
        if (!up) {
            child_finish(&ch);
        }
    }
    assert_true(up);
    c = client(accept_at, SNI_NAME, ID_KNOWN, f->key, 5000, &err);
    assert_non_null(c);
    assert_string_equal(m2msec_tls_cipher(c), GCM);
    assert_int_equal(m2msec_tls_export(c, M2MSEC_LABEL_BOOTSTRAP, boot, sizeof(boot), &err), 0);
    (void)child_read_until(&ch, "Keying material: ", CHILD_MS);
    assert_int_equal(m2msec_tls_close(c), 0);
    m2msec_tls_conn_free(c);
    child_finish(&ch);
    assert_int_equal(parse_keymat(ch.out, got, sizeof(got)), 0);
    hex_of(boot, sizeof(boot), want, sizeof(want));
    assert_string_equal(got, want);
}

/* ---- 5. deadlines ---- */

static void
test_timeouts(void **state)
{
    struct fx *f = *state;
    struct m2msec_error err;
    struct m2msec_tls_conn *c;
    struct srv_job j;
    char bound[64];
    int cfd;
    int sfd;
    int lfd2;

    /* nothing to accept */
    assert_int_equal(m2msec_tcp_accept(f->lfd, 50, &err), -2);
    assert_int_equal(err.code, M2MSEC_ERR_TIMEOUT);

    /* a client that connects and says nothing: the TLS accept gives up at its deadline */
    cfd = m2msec_tcp_connect(f->hostport, 1000, &err);
    assert_true(cfd >= 0);
    sfd = m2msec_tcp_accept(f->lfd, 1000, &err);
    assert_true(sfd >= 0);
    m2msec_error_clear(&err);
    assert_null(m2msec_tls_accept(f->srv, sfd, NULL, 300, &err)); /* closes sfd */
    assert_int_equal(err.code, M2MSEC_ERR_TIMEOUT);
    close(cfd);

    /* a server that accepts TCP but never answers: the client handshake gives up */
    lfd2 = m2msec_tcp_listen("127.0.0.1:0", 4, bound, sizeof(bound), &err);
    assert_true(lfd2 >= 0);
    assert_null(client(bound, SNI_NAME, ID_KNOWN, f->key, 300, &err));
    assert_int_equal(err.code, M2MSEC_ERR_TIMEOUT);
    close(lfd2);

    /* nobody listening at all: an I/O error, not a timeout */
    assert_int_equal(m2msec_tcp_connect(bound, 1000, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_IO);

    /* an established session where the client stays silent: reads time out */
    srv_start(f, &j, ACT_IDLE_READ, 5000);
    c = client(f->hostport, SNI_NAME, ID_KNOWN, f->key, 5000, &err);
    assert_non_null(c);
    srv_join(&j);
    m2msec_tls_conn_free(c);
    assert_true(j.act_ok);
    assert_int_equal(j.idle_wait, 0);
    assert_int_equal(j.idle_read, -1);
    assert_int_equal(j.act_err.code, M2MSEC_ERR_TIMEOUT);

    /* writing to a client that does not read: write_all gives up at its deadline */
    srv_start(f, &j, ACT_FLOOD, 5000);
    c = client(f->hostport, SNI_NAME, ID_KNOWN, f->key, 5000, &err);
    assert_non_null(c);
    srv_join(&j);
    m2msec_tls_conn_free(c);
    assert_true(j.act_ok);
    assert_int_equal(j.act_err.code, M2MSEC_ERR_TIMEOUT);
}

/* ---- one server object shared by several worker threads ---- */

struct cli_job {
    const struct fx *f;
    pthread_t th;
    int ok;
    uint8_t exp[M2MSEC_EXPORT_LEN];
};

static void *
cli_thread(void *arg)
{
    struct cli_job *cj = arg;
    struct m2msec_error err;
    struct m2msec_tls_conn *c;
    uint8_t b;

    c = client(cj->f->hostport, SNI_NAME, ID_KNOWN, cj->f->key, 5000, &err);
    if (c == NULL) {
        return NULL;
    }
    cj->ok = m2msec_tls_export(c, M2MSEC_LABEL_BOOTSTRAP, cj->exp, sizeof(cj->exp), &err) == 0 &&
             m2msec_tls_read(c, &b, 1, &err) == 0;
    m2msec_tls_conn_free(c);
    return NULL;
}

static void
test_parallel(void **state)
{
    struct fx *f = *state;
    struct srv_job sj[PARALLEL];
    struct cli_job cj[PARALLEL];
    int i;
    int k;
    int matched;

    f->lk.calls = 0;
    for (i = 0; i < PARALLEL; i++) {
        srv_start(f, &sj[i], ACT_CLOSE, 5000);
    }
    for (i = 0; i < PARALLEL; i++) {
        memset(&cj[i], 0, sizeof(cj[i]));
        cj[i].f = f;
        assert_int_equal(pthread_create(&cj[i].th, NULL, cli_thread, &cj[i]), 0);
    }
    for (i = 0; i < PARALLEL; i++) {
        assert_int_equal(pthread_join(cj[i].th, NULL), 0);
        srv_join(&sj[i]);
    }
    assert_int_equal(f->lk.calls, PARALLEL);
    /* every client session pairs with exactly one server session, and all keys differ */
    for (i = 0; i < PARALLEL; i++) {
        assert_true(cj[i].ok);
        assert_true(sj[i].accepted);
        matched = 0;
        for (k = 0; k < PARALLEL; k++) {
            matched += memcmp(cj[i].exp, sj[k].exp_boot, M2MSEC_EXPORT_LEN) == 0;
        }
        assert_int_equal(matched, 1);
    }
}

/* ---- 6. records ---- */

static void
test_records(void **state)
{
    struct fx *f = *state;
    struct m2msec_error err;
    struct m2msec_tls_conn *c;
    struct srv_job j;
    uint8_t *out;
    uint8_t *in;
    uint8_t small[100];
    uint8_t b;
    size_t i;

    out = malloc(ECHO_LEN);
    in = malloc(ECHO_LEN);
    assert_non_null(out);
    assert_non_null(in);
    for (i = 0; i < ECHO_LEN; i++) {
        out[i] = (uint8_t)(i * 7 + (i >> 8));
    }
    srv_start(f, &j, ACT_ECHO, 5000);
    c = client(f->hostport, SNI_NAME, ID_KNOWN, f->key, 5000, &err);
    assert_non_null(c);
    assert_int_equal(m2msec_tls_write_all(c, out, ECHO_LEN, &err), 0);
    assert_int_equal(read_full(c, in, ECHO_LEN, &err), 0);
    assert_memory_equal(in, out, ECHO_LEN);
    assert_int_equal(m2msec_tls_close(c), 0);
    assert_int_equal(m2msec_tls_close(c), 0); /* idempotent */
    srv_join(&j);
    assert_true(j.act_ok); /* the server read 0 after our close_notify */
    assert_int_equal(m2msec_tls_read(c, &b, 1, &err), 0);
    m2msec_tls_conn_free(c);
    free(out);
    free(in);

    /* data buffered inside the TLS layer counts as readable */
    srv_start(f, &j, ACT_SEND_SMALL, 5000);
    c = client(f->hostport, SNI_NAME, ID_KNOWN, f->key, 5000, &err);
    assert_non_null(c);
    assert_int_equal(m2msec_tls_wait_readable(c, 5000, &err), 1);
    assert_int_equal(m2msec_tls_read(c, small, 10, &err), 10);
    assert_int_equal(m2msec_tls_wait_readable(c, 0, &err), 1);
    assert_int_equal(read_full(c, small + 10, 90, &err), 0);
    for (i = 0; i < sizeof(small); i++) {
        assert_int_equal(small[i], 'x');
    }
    assert_int_equal(m2msec_tls_wait_readable(c, 50, &err), 0);
    /* argument neighbours */
    assert_int_equal(m2msec_tls_read(c, small, 0, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_tls_export(c, "", small, 48, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_tls_export(c, M2MSEC_LABEL_BOOTSTRAP, small, 0, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_tls_close(c), 0);
    srv_join(&j);
    assert_true(j.act_ok);
    m2msec_tls_conn_free(c);
}

/* ---- 7. sockets and host:port ---- */

struct split_case {
    const char *in;
    const char *host; /* NULL: rejected */
    const char *port;
};

static const struct split_case split_cases[] = {
    { "127.0.0.1:443", "127.0.0.1", "443" },
    { "[::1]:8443", "::1", "8443" },
    { "host.example.com:1", "host.example.com", "1" },
    { "h:0", "h", "0" },
    { "h:65535", "h", "65535" },
    { "[fe80::1%eth0]:80", "fe80::1%eth0", "80" },
    { "127.0.0.1", NULL, NULL },
    { "127.0.0.1:", NULL, NULL },
    { "[::1]", NULL, NULL },
    { "[::1]:", NULL, NULL },
    { "[::1]8443", NULL, NULL },
    { "[::1:8443", NULL, NULL },
    { "::1:8443", NULL, NULL },
    { "h:65536", NULL, NULL },
    { "h:99999", NULL, NULL },
    { "h:123456", NULL, NULL },
    { "h:abc", NULL, NULL },
    { "h:-1", NULL, NULL },
    { "h:+80", NULL, NULL },
    { "h:080", NULL, NULL },
    { "h:80 ", NULL, NULL },
    { ":80", NULL, NULL },
    { "[]:80", NULL, NULL },
    { "[host]:80", NULL, NULL },
    { "", NULL, NULL },
};

static void
test_hostport_split(void **state)
{
    struct m2msec_error err;
    char host[64];
    char port[8];
    char tiny[4];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
        const struct split_case *t = &split_cases[i];
        int r = m2msec_hostport_split(t->in, host, sizeof(host), port, sizeof(port), &err);
        if (t->host != NULL) {
            assert_int_equal(r, 0);
            assert_string_equal(host, t->host);
            assert_string_equal(port, t->port);
        } else {
            assert_int_equal(r, -1);
            assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
        }
    }
    assert_int_equal(m2msec_hostport_split(NULL, host, sizeof(host), port, sizeof(port), &err), -1);
    /* output buffers too small */
    assert_int_equal(m2msec_hostport_split("abcd:1", tiny, sizeof(tiny), port, sizeof(port), &err),
                     -1);
    assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(m2msec_hostport_split("abc:1", tiny, sizeof(tiny), port, sizeof(port), &err),
                     0);
    assert_int_equal(m2msec_hostport_split("a:443", host, sizeof(host), tiny, 3, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
}

static void
test_listen(void **state)
{
    struct fx *f = *state;
    struct m2msec_error err;
    struct srv_job j;
    struct m2msec_tls_conn *c;
    char bound[64];
    char small[8];
    int lfd;
    int saved;

    /* IPv6 loopback, and the peer string of a TLS session over it */
    lfd = m2msec_tcp_listen("[::1]:0", 4, bound, sizeof(bound), &err);
    if (lfd >= 0) {
        assert_int_equal(strncmp(bound, "[::1]:", 6), 0);
        saved = f->lfd;
        f->lfd = lfd;
        srv_start(f, &j, ACT_CLOSE, 5000);
        c = client(bound, SNI_NAME, ID_KNOWN, f->key, 5000, &err);
        assert_non_null(c);
        assert_string_equal(m2msec_tls_peer(c), bound);
        m2msec_tls_conn_free(c);
        srv_join(&j);
        f->lfd = saved;
        assert_true(j.accepted);
        assert_int_equal(strncmp(j.peer, "[::1]:", 6), 0);
        close(lfd);
    } else {
        /* no IPv6 on this host: only an I/O error is acceptable */
        assert_int_equal(err.code, M2MSEC_ERR_IO);
    }

    /* listeners take numeric addresses only */
    assert_int_equal(m2msec_tcp_listen("localhost:0", 4, bound, sizeof(bound), &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_tcp_listen("127.0.0.1:65536", 4, bound, sizeof(bound), &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_tcp_listen("::1:0", 4, bound, sizeof(bound), &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    /* the bound address must fit */
    assert_int_equal(m2msec_tcp_listen("127.0.0.1:0", 4, small, sizeof(small), &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
    /* the port is taken */
    assert_int_equal(m2msec_tcp_listen(f->bound, 4, NULL, 0, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_IO);
    /* listening sockets are close-on-exec */
    lfd = m2msec_tcp_listen("127.0.0.1:0", 4, NULL, 0, &err);
    assert_true(lfd >= 0);
    assert_true((fcntl(lfd, F_GETFD) & FD_CLOEXEC) != 0);
    close(lfd);
}

static void
test_server_args(void **state)
{
    struct m2msec_error err;

    (void)state;
    assert_null(m2msec_tls_server_new_psk(NULL, NULL, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(m2msec_tls_accept(NULL, -1, NULL, 100, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_tls_global_init(&err), 0);
    assert_int_equal(m2msec_tls_global_init(&err), 0);
    m2msec_tls_server_free(NULL);
    m2msec_tls_conn_free(NULL);
    assert_null(m2msec_tls_cipher(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_psk_suites, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refused_versions_and_suites, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_connect_on_fd, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sni, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_auth_failures, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_identity_limits, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_identity_too_long_from_peer, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_openssl_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_gnutls_cli_tls13_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_export_vs_openssl_client, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_export_vs_openssl_server, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_timeouts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_records, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_parallel, fx_setup, fx_teardown),
        cmocka_unit_test(test_hostport_split),
        cmocka_unit_test_setup_teardown(test_listen, fx_setup, fx_teardown),
        cmocka_unit_test(test_server_args),
    };

    /* SIGPIPE stays at its default: a send without MSG_NOSIGNAL would kill the test */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
