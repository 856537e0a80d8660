/*
 * bench/enrol_server.c - the baseline server: TLS 1.2 PSK handshake + RFC 5705 export, nothing else.
 *
 * Layer: bench (program). Runs as `bench-enrol --psk-server --workers N` in its
 * own process, like mefd, and on the same engine (src/lib/tls over GnuTLS) with
 * the same shape: one listener thread accepting with a short timeout, a queue,
 * and N worker threads each doing accept -> export -> close -> free. Every
 * identity gets the same fixed key, so there is no store, no HTTP and no
 * application protocol: what is left is the handshake cost the enrolment
 * cannot avoid.
 *
 * With --echo N (the floor, (g)), each worker then answers N requests on the
 * session, one after the other: it reads whatever the client sends (at most
 * BENCH_FLOOR_REQ_MAX bytes) and answers BENCH_FLOOR_RESP_LEN fixed bytes. No
 * parsing, no store, no log: the round trips of an enrolment and nothing else.
 *
 * Protocol with the parent: the first stdout line is "listening addr=IP:PORT";
 * after SIGTERM the last line is "served=N failed=M" and the exit status is 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/kdf.h"
#include "enrol.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/mem.h"

#define SRV_QUEUE_MAX      256  /* as mefd's default max_queue */
#define SRV_BACKLOG        128  /* as mefd's default backlog */
#define SRV_ACCEPT_POLL_MS 200  /* as mefd: how often the listener looks at the stop flag */
#define SRV_HANDSHAKE_MS   5000 /* as mefd's default handshake_timeout_ms */
#define SRV_ERRORS_SHOWN   20

/* 32 bytes of 0x42: the baseline needs a key both sides know, not a secret one. */
static const uint8_t fixed_key[BENCH_KPM_LEN] = {
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
};

static volatile sig_atomic_t stop_requested;

struct psk_server {
    struct m2msec_tls_server *tls;
    struct m2msec_tls_cert_server *cert; /* certificate mode: mutual ECDHE-ECDSA instead */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int queue[SRV_QUEUE_MAX];
    size_t head, len;
    int stopping;
    unsigned echo; /* --echo: round trips after the export (the floor, (g)) */
    unsigned long served, failed, dropped;
};

struct m2msec_secret *
bench_psk_fixed_key(struct m2msec_error *err)
{
    return m2msec_secret_from(fixed_key, sizeof(fixed_key), err);
}

static int
lookup_fixed(void *arg, void *ctx, const char *identity, struct m2msec_secret **key)
{
    struct m2msec_error err = { 0 };

    (void)arg;
    (void)ctx;
    (void)identity;
    *key = bench_psk_fixed_key(&err);
    return *key != NULL ? 0 : -1;
}

static void
on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Next queued connection, or -1 when the server stops and the queue is empty. */
static int
queue_pop(struct psk_server *s)
{
    int fd = -1;

    pthread_mutex_lock(&s->mu);
    while (s->len == 0 && !s->stopping) {
        pthread_cond_wait(&s->cv, &s->mu);
    }
    if (s->len > 0) {
        fd = s->queue[s->head];
        s->head = (s->head + 1) % SRV_QUEUE_MAX;
        s->len--;
    }
    pthread_mutex_unlock(&s->mu);
    return fd;
}

static void
count(struct psk_server *s, int ok, const struct m2msec_error *err)
{
    unsigned long n;

    pthread_mutex_lock(&s->mu);
    if (ok) {
        s->served++;
    } else {
        s->failed++;
    }
    n = s->failed;
    pthread_mutex_unlock(&s->mu);
    if (!ok && n <= SRV_ERRORS_SHOWN) {
        fprintf(stderr, "bench-enrol psk-server: %s\n", m2msec_error_msg(err));
    }
}

/* The floor's round trips: read one request, answer fixed bytes, n times. */
static int
echo_rounds(struct m2msec_tls_conn *c, unsigned n, struct m2msec_error *err)
{
    static const uint8_t resp[BENCH_FLOOR_RESP_LEN] = { 0 };
    uint8_t req[BENCH_FLOOR_REQ_MAX];
    unsigned i;

    for (i = 0; i < n; i++) {
        ssize_t got = m2msec_tls_read(c, req, sizeof(req), err);

        if (got <= 0) {
            if (got == 0) {
                m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "echo: the client closed early");
            }
            return -1;
        }
        if (m2msec_tls_write_all(c, resp, sizeof(resp), err) == -1) {
            return -1;
        }
    }
    return 0;
}

static void *
worker_main(void *arg)
{
    struct psk_server *s = arg;
    uint8_t out[M2MSEC_EXPORT_LEN];
    int fd;

    while ((fd = queue_pop(s)) >= 0) {
        struct m2msec_error err = { 0 };
        struct m2msec_tls_conn *c =
                s->cert != NULL ? m2msec_tls_accept_cert(s->cert, fd, NULL, SRV_HANDSHAKE_MS, &err)
                                : m2msec_tls_accept(s->tls, fd, NULL, SRV_HANDSHAKE_MS, &err);
        int ok = 0;

        if (c != NULL &&
            m2msec_tls_export(c, M2MSEC_LABEL_BOOTSTRAP, out, sizeof(out), &err) == 0 &&
            echo_rounds(c, s->echo, &err) == 0) {
            ok = 1;
        }
        m2msec_wipe(out, sizeof(out));
        if (c != NULL) {
            (void)m2msec_tls_close(c);
            m2msec_tls_conn_free(c);
        }
        count(s, ok, &err);
    }
    return NULL;
}

/* Queue an accepted connection; a full queue closes it at once, as mefd does. */
static void
queue_push(struct psk_server *s, int fd)
{
    pthread_mutex_lock(&s->mu);
    if (s->len == SRV_QUEUE_MAX) {
        s->dropped++;
        pthread_mutex_unlock(&s->mu);
        close(fd);
        return;
    }
    s->queue[(s->head + s->len) % SRV_QUEUE_MAX] = fd;
    s->len++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/*
 * Certificate mode (cert != NULL): the server presents cert/key, requires a
 * client certificate and verifies it under the anchors in ca (any end entity,
 * as mefd's Enrolee listener does before it binds the identity).
 */
static struct m2msec_tls_cert_server *
cert_server_new(const char *cert, const char *key, const char *ca, struct m2msec_error *err)
{
    struct m2msec_tls_cert_opts o;
    const char *cas[1];

    memset(&o, 0, sizeof(o));
    cas[0] = ca;
    o.cert_file = cert;
    o.key_file = key;
    o.require_client_cert = 1;
    o.client.flavour = M2MSEC_CERT_ANY;
    o.client.ca_files = cas;
    o.client.n_ca_files = 1;
    return m2msec_tls_cert_server_new(&o, err);
}

int
bench_psk_server_main(unsigned workers, const char *cert, const char *key, const char *ca,
                      unsigned echo)
{
    struct m2msec_error err = { 0 };
    struct psk_server s = { 0 };
    struct sigaction sa;
    sigset_t block, old;
    pthread_t th[256];
    char bound[128];
    unsigned i, started = 0;
    int lfd = -1, rv = 1;

    s.echo = echo;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    if (workers == 0 || workers > sizeof(th) / sizeof(th[0])) {
        fprintf(stderr, "bench-enrol psk-server: workers must be 1..256\n");
        goto out;
    }
    if (m2msec_tls_global_init(&err) == -1 ||
        (cert == NULL && (s.tls = m2msec_tls_server_new_psk(lookup_fixed, NULL, &err)) == NULL) ||
        (cert != NULL && (s.cert = cert_server_new(cert, key, ca, &err)) == NULL) ||
        (lfd = m2msec_tcp_listen("127.0.0.1:0", SRV_BACKLOG, bound, sizeof(bound), &err)) < 0) {
        fprintf(stderr, "bench-enrol psk-server: %s\n", m2msec_error_msg(&err));
        goto out;
    }
    /* Workers never take the signal: it must interrupt the listener's poll. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (i = 0; i < workers; i++) {
        if (pthread_create(&th[i], NULL, worker_main, &s) != 0) {
            break;
        }
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started < workers) {
        fprintf(stderr, "bench-enrol psk-server: cannot start worker threads\n");
    } else {
        printf("listening addr=%s workers=%u\n", bound, workers);
        fflush(stdout);
        while (!stop_requested) {
            int fd = m2msec_tcp_accept(lfd, SRV_ACCEPT_POLL_MS, &err);

            if (fd >= 0) {
                queue_push(&s, fd);
            } else if (fd == -1) {
                /* e.g. EMFILE: back off instead of spinning, as mefd does. */
                const struct timespec backoff = { 0, 100 * 1000 * 1000 };

                fprintf(stderr, "bench-enrol psk-server: %s\n", m2msec_error_msg(&err));
                nanosleep(&backoff, NULL);
            }
        }
        rv = 0;
    }
    pthread_mutex_lock(&s.mu);
    s.stopping = 1;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    for (i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
    }
    printf("served=%lu failed=%lu dropped=%lu\n", s.served, s.failed, s.dropped);
    fflush(stdout);
out:
    if (lfd >= 0) {
        close(lfd);
    }
    m2msec_tls_server_free(s.tls);
    m2msec_tls_cert_server_free(s.cert);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
    return rv;
}
