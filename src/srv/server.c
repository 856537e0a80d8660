/*
 * srv/server.c - listener, worker pool, HTTP-over-TLS request loop, signals.
 *
 * Layer: srv (daemon plumbing, not part of libm2msec). Uses tls/tls.h for
 * sockets and sessions and http/http.h for framing; never GnuTLS or SQLite
 * directly. Runtime model and shutdown sequence: docs/design-runtime.md.
 *
 * Threads: one listener (accept with a short timeout so stop is noticed), a
 * fixed pool of workers (one connection each, blocking I/O under deadlines),
 * one housekeeping thread (tick), and the caller of srv_run, which only waits
 * for the stop byte on a self-pipe and then drives the shutdown. Signals are
 * blocked in every thread srv_run starts, so they land on the caller's thread
 * where the handler only sets a flag and writes the pipe.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define SRV_ACCEPT_POLL_MS  200 /* how often the listener looks at the stop flag */
#define SRV_IDLE_SLICE_MS   200 /* same, for a worker waiting on an idle keep-alive connection */
#define SRV_STOP_POLL_MS    1000
#define SRV_ACCEPT_RETRY_MS 100   /* back-off after accept errors such as EMFILE */
#define SRV_READ_CHUNK      16384 /* one maximal TLS record */
#define SRV_RI_MAX          128
#define SRV_PEER_MAX        64
#define SRV_DRAIN_MS        200
#define SRV_DRAIN_BYTES     (256 * 1024)
/* Received, not yet parsed bytes: at most one read beyond a complete pipelined request. */
#define SRV_PENDING_MAX (M2MSEC_HTTP_MAX_HEADER_BYTES + M2MSEC_HTTP_MAX_BODY + 2 * SRV_READ_CHUNK)
#define SRV_HEAD_MAX    4096 /* status line and headers of our own responses */

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "srv_stop needs lock-free atomics (signal safety)");
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "the signal handler reads an atomic pointer");

struct srv_item {
    int fd;
    unsigned long id;
};

struct srv_thread {
    pthread_t tid;
    int started; /* the following are guarded by srv.mu */
    int exited;
    int joined;
};

struct srv_worker {
    struct srv *s;
    unsigned idx;
    struct srv_thread th;
};

struct srv {
    /* Copied from the configuration at srv_new. */
    char *listen;
    unsigned nworkers;
    unsigned backlog;
    unsigned max_queue;
    /* These five may change while running (srv_set_limits, on SIGHUP). */
    atomic_uint handshake_timeout_ms;
    atomic_uint io_timeout_ms;
    atomic_uint idle_timeout_ms;
    atomic_uint shutdown_timeout_ms;
    atomic_uint sweep_interval_s;
    struct srv_handlers h;

    struct m2msec_tls_server *tls;           /* PSK mode */
    struct m2msec_tls_cert_server *cert_tls; /* certificate mode; replaced under mu (reload) */
    int cert_mode;
    int lfd;
    char bound[SRV_PEER_MAX];
    int pipefd[2]; /* self-pipe: srv_stop writes, srv_run polls */
    atomic_int stopping;
    atomic_int reload;
    atomic_ulong next_conn;
    int ran;

    int sync_ready;
    pthread_mutex_t mu;
    pthread_cond_t queue_cv; /* workers: a connection was queued, or stop */
    pthread_cond_t state_cv; /* srv_run: a worker finished init, or a thread exited */
    pthread_cond_t tick_cv;  /* housekeeping: stop */
    struct srv_item *queue;  /* ring of max_queue accepted, not yet handshaked sockets */
    size_t qhead;
    size_t qlen;
    unsigned inited;  /* workers that finished worker_init */
    unsigned init_ok; /* ... successfully */
    struct srv_worker *workers;
    struct srv_thread listener;
    struct srv_thread housekeeper;
};

static _Atomic(struct srv *) sig_srv;

/* ---- small helpers ------------------------------------------------------------------------- */

static void
fd_peer(int fd, char *out, size_t outsz)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN];

    (void)snprintf(out, outsz, "?");
    memset(&ss, 0, sizeof(ss));
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
        return;
    }
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        if (inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)) != NULL) {
            (void)snprintf(out, outsz, "%s:%u", ip, (unsigned)ntohs(sin->sin_port));
        }
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
        if (inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip)) != NULL) {
            (void)snprintf(out, outsz, "[%s]:%u", ip, (unsigned)ntohs(sin6->sin6_port));
        }
    }
}

static void
deadline_ts(struct timespec *ts, uint64_t ms_from_now)
{
    (void)clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms_from_now / 1000);
    ts->tv_nsec += (long)(ms_from_now % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int
stopping(struct srv *s)
{
    return atomic_load(&s->stopping);
}

static void
thread_exited(struct srv *s, struct srv_thread *th)
{
    pthread_mutex_lock(&s->mu);
    th->exited = 1;
    pthread_cond_broadcast(&s->state_cv);
    pthread_mutex_unlock(&s->mu);
}

static void
ulong_str(unsigned long v, char *out, size_t outsz)
{
    (void)snprintf(out, outsz, "%lu", v);
}

/* For logs: the PSK identity, or the first name in a verified peer certificate. */
static const char *
conn_identity(const struct m2msec_tls_conn *c)
{
    const char *id = m2msec_tls_psk_identity(c);

    return id != NULL ? id : m2msec_tls_peer_san(c, 0, NULL);
}

/* ---- responses ----------------------------------------------------------------------------- */

int
srv_response_error(struct srv_response *resp, int rsc, const char *fmt, ...)
{
    char msg[M2MSEC_ERROR_MSG_LEN];
    /* {"m2m:dbg":"..."}: every byte of msg escapes to at most 2. */
    char json[2 * M2MSEC_ERROR_MSG_LEN + 32];
    size_t n = 0;
    size_t i = 0;
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    resp->rsc = rsc;
    m2msec_buf_reset(&resp->body);
    memcpy(json, "{\"m2m:dbg\":\"", 12);
    n = 12;
    for (i = 0; msg[i] != '\0'; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if (ch == '"' || ch == '\\') {
            json[n++] = '\\';
            json[n++] = (char)ch;
        } else if (ch >= 0x20 && ch <= 0x7e) {
            json[n++] = (char)ch;
        } else {
            /* Messages may quote network input; keep the body valid JSON and ASCII. */
            json[n++] = '?';
        }
    }
    memcpy(json + n, "\"}", 2);
    n += 2;
    if (m2msec_buf_append(&resp->body, json, n, NULL) != 0) {
        m2msec_buf_reset(&resp->body);
    }
    return 0;
}

static int
send_response(struct srv_conn *c, int rsc, const char *ri, const struct m2msec_buf *body,
              int keep_alive, struct m2msec_error *err)
{
    /* http.h headers are char *, and string literals are const under -Wwrite-strings. */
    char n_rsc[] = M2MSEC_HDR_RSC;
    char n_ri[] = M2MSEC_HDR_RI;
    char n_rvi[] = M2MSEC_HDR_RVI;
    char n_ct[] = "Content-Type";
    char v_rvi[] = M2MSEC_RVI;
    char v_ct[] = "application/json";
    char v_rsc[16];
    char v_ri[SRV_RI_MAX + 1];
    struct m2msec_http_header hdrs[4];
    struct m2msec_buf out;
    size_t nh = 0;
    int rv = -1;

    m2msec_buf_init(&out, SRV_HEAD_MAX + body->len);
    (void)snprintf(v_rsc, sizeof(v_rsc), "%d", rsc);
    hdrs[nh].name = n_rsc;
    hdrs[nh++].value = v_rsc;
    if (ri != NULL && m2msec_strlcpy(v_ri, ri, sizeof(v_ri)) == 0) {
        hdrs[nh].name = n_ri;
        hdrs[nh++].value = v_ri;
    }
    hdrs[nh].name = n_rvi;
    hdrs[nh++].value = v_rvi;
    if (body->len > 0) {
        hdrs[nh].name = n_ct;
        hdrs[nh++].value = v_ct;
    }
    if (m2msec_http_write_response(&out, m2msec_http_status_for_rsc(rsc), hdrs, nh, body->data,
                                   body->len, keep_alive, err) != 0) {
        goto out;
    }
    if (m2msec_tls_write_all(c->tls, out.data, out.len, err) != 0) {
        goto out;
    }
    rv = 0;
out:
    m2msec_buf_free(&out);
    return rv;
}

/*
 * Lingering close after an error answer: the client may still be sending the
 * rest of a rejected request, and closing with unread input makes the kernel
 * send a reset that can destroy our answer before the client reads it.
 */
static void
drain_input(struct srv_conn *c)
{
    uint8_t sink[4096];
    size_t total = 0;
    uint64_t end = m2msec_monotonic_ms() + SRV_DRAIN_MS;
    uint64_t now = 0;
    ssize_t n = 0;
    struct m2msec_error e;

    m2msec_tls_set_timeout(c->tls, SRV_DRAIN_MS);
    while (total < SRV_DRAIN_BYTES) {
        now = m2msec_monotonic_ms();
        if (now >= end) {
            break;
        }
        m2msec_error_clear(&e);
        if (m2msec_tls_wait_readable(c->tls, (unsigned)(end - now), &e) != 1) {
            break;
        }
        n = m2msec_tls_read(c->tls, sink, sizeof(sink), &e);
        if (n <= 0) {
            break;
        }
        total += (size_t)n;
    }
    m2msec_wipe(sink, sizeof(sink));
}

/* ---- one request --------------------------------------------------------------------------- */

/* Returns 1 to keep the connection for another request, 0 to close it. */
static int
handle_request(struct srv *s, struct srv_conn *c, const struct m2msec_http_msg *req,
               const char *peer)
{
    struct srv_response resp;
    struct m2msec_error e;
    const char *origin = NULL;
    const char *ri = NULL;
    int ri_ok = 0;
    int keep = 0;
    uint64_t t0 = m2msec_monotonic_ms();
    char conn_s[24];
    char rsc_s[16];
    char dur_s[24];

    memset(&resp, 0, sizeof(resp));
    m2msec_error_clear(&e);
    resp.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
    m2msec_buf_init(&resp.body, M2MSEC_HTTP_MAX_BODY);

    origin = m2msec_http_header_get(req, M2MSEC_HDR_ORIGIN);
    ri = m2msec_http_header_get(req, M2MSEC_HDR_RI);
    ri_ok = ri != NULL && ri[0] != '\0' && strlen(ri) <= SRV_RI_MAX &&
            m2msec_http_header_value_safe(ri);

    if (origin == NULL || origin[0] == '\0' || !m2msec_http_header_value_safe(origin)) {
        (void)srv_response_error(&resp, M2MSEC_RSC_BAD_REQUEST, "%s",
                                 origin == NULL ? "missing X-M2M-Origin header"
                                                : "invalid X-M2M-Origin header");
    } else if (!ri_ok) {
        (void)srv_response_error(&resp, M2MSEC_RSC_BAD_REQUEST, "%s",
                                 ri == NULL ? "missing X-M2M-RI header"
                                            : "invalid X-M2M-RI header (printable ASCII, "
                                              "1 to 128 characters)");
    } else if (s->h.handle(s->h.arg, c, req, &resp) != 0) {
        /* Handlers answer errors themselves; -1 means they could not even do that. */
        (void)srv_response_error(&resp, M2MSEC_RSC_INTERNAL_SERVER_ERROR, "internal error");
        resp.close = 1;
    }

    keep = req->keep_alive && !resp.close && !c->close_after && !stopping(s);
    if (send_response(c, resp.rsc, ri_ok ? ri : NULL, &resp.body, keep, &e) != 0) {
        ulong_str(c->id, conn_s, sizeof(conn_s));
        srv_log_event(SRV_LOG_INFO, "write_failed", "conn", conn_s, "peer", peer, "reason", e.msg,
                      NULL);
        keep = 0;
    }

    if (srv_log_enabled(SRV_LOG_INFO)) {
        ulong_str(c->id, conn_s, sizeof(conn_s));
        (void)snprintf(rsc_s, sizeof(rsc_s), "%d", resp.rsc);
        (void)snprintf(dur_s, sizeof(dur_s), "%llu",
                       (unsigned long long)(m2msec_monotonic_ms() - t0));
        srv_log_event(SRV_LOG_INFO, "request", "conn", conn_s, "peer", peer, "method",
                      m2msec_http_method_name(req->method), "path", req->target, "rsc", rsc_s,
                      "origin", origin, "ri", ri, "dur_ms", dur_s, NULL);
    }
    m2msec_buf_free(&resp.body);
    return keep;
}

static void
answer_parse_error(struct srv_conn *c, const struct m2msec_error *perr, const char *peer)
{
    struct srv_response resp;
    struct m2msec_error e;
    int rsc = perr->rsc != 0 ? perr->rsc : M2MSEC_RSC_BAD_REQUEST;
    char conn_s[24];
    char rsc_s[16];

    memset(&resp, 0, sizeof(resp));
    m2msec_error_clear(&e);
    m2msec_buf_init(&resp.body, M2MSEC_HTTP_MAX_BODY);
    (void)srv_response_error(&resp, rsc, "%s", perr->msg);
    (void)send_response(c, rsc, NULL, &resp.body, 0, &e);
    m2msec_buf_free(&resp.body);

    ulong_str(c->id, conn_s, sizeof(conn_s));
    (void)snprintf(rsc_s, sizeof(rsc_s), "%d", rsc);
    srv_log_event(SRV_LOG_INFO, "bad_request", "conn", conn_s, "peer", peer, "rsc", rsc_s, "reason",
                  perr->msg, NULL);
    drain_input(c);
}

/* ---- one connection ------------------------------------------------------------------------ */

/*
 * Wait for the first byte of the next request on an idle keep-alive
 * connection, in slices so that a stop is noticed promptly.
 * 1 readable, 0 idle timeout, 2 stopping, -1 error.
 */
static int
wait_next_request(struct srv *s, struct srv_conn *c, struct m2msec_error *err)
{
    uint64_t start = m2msec_monotonic_ms();
    uint64_t elapsed = 0;
    unsigned idle = atomic_load(&s->idle_timeout_ms); /* this wait's, even across a reload */
    unsigned slice = 0;
    int r = 0;

    for (;;) {
        if (stopping(s)) {
            return 2;
        }
        elapsed = m2msec_monotonic_ms() - start;
        if (elapsed >= idle) {
            return 0;
        }
        slice = (unsigned)(idle - elapsed);
        if (slice > SRV_IDLE_SLICE_MS) {
            slice = SRV_IDLE_SLICE_MS;
        }
        r = m2msec_tls_wait_readable(c->tls, slice, err);
        if (r != 0) {
            return r;
        }
    }
}

/* The request loop; returns why the connection ends (a log value). */
static const char *
conn_loop(struct srv *s, struct srv_conn *c, struct m2msec_http_parser *parser,
          struct m2msec_buf *pending, const char *peer, unsigned long *nreq)
{
    uint8_t chunk[SRV_READ_CHUNK];
    struct m2msec_http_msg *msg = NULL;
    struct m2msec_error e;
    const char *why = NULL;
    size_t used = 0;
    ssize_t n = 0;
    uint64_t req_start = 0;
    uint64_t elapsed = 0;
    int mid = 0; /* part of a request has been received */
    int r = 0;

    for (;;) {
        while (pending->len > 0) {
            used = 0;
            m2msec_error_clear(&e);
            r = m2msec_http_parser_feed(parser, pending->data, pending->len, &used, &e);
            if (r < 0) {
                answer_parse_error(c, &e, peer);
                why = "bad_request";
                goto out;
            }
            if (used > pending->len) {
                used = pending->len;
            }
            m2msec_buf_consume(pending, used);
            if (r == 0) {
                if (used == 0) {
                    /* The parser neither progressed nor failed: never spin on it. */
                    why = "parser_stalled";
                    goto out;
                }
                if (!mid) {
                    mid = 1;
                    req_start = m2msec_monotonic_ms();
                }
                continue;
            }
            if (mid) {
                m2msec_tls_set_timeout(c->tls, atomic_load(&s->io_timeout_ms));
            }
            mid = 0;
            msg = m2msec_http_parser_take(parser);
            if (msg == NULL) {
                why = "nomem";
                goto out;
            }
            (*nreq)++;
            r = handle_request(s, c, msg, peer);
            m2msec_http_msg_free(msg);
            msg = NULL;
            if (!r) {
                why = stopping(s) ? "shutdown" : "done";
                goto out;
            }
        }
        if (mid) {
            /*
             * The whole request, not just each read, must arrive within
             * io_timeout_ms: a peer trickling one byte per read deadline would
             * otherwise hold this worker indefinitely.
             */
            unsigned io_ms = atomic_load(&s->io_timeout_ms);

            elapsed = m2msec_monotonic_ms() - req_start;
            if (elapsed >= io_ms) {
                why = "request_timeout";
                goto out;
            }
            m2msec_tls_set_timeout(c->tls, (unsigned)(io_ms - elapsed));
        } else {
            m2msec_error_clear(&e);
            r = wait_next_request(s, c, &e);
            if (r == 2) {
                why = "shutdown";
                goto out;
            }
            if (r == 0) {
                why = "idle";
                goto out;
            }
            if (r < 0) {
                why = "read_error";
                goto out;
            }
        }
        m2msec_error_clear(&e);
        n = m2msec_tls_read(c->tls, chunk, sizeof(chunk), &e);
        if (n == 0) {
            why = mid ? "peer_closed_mid_request" : "peer_closed";
            goto out;
        }
        if (n < 0) {
            /* Mid-request the read deadline is what is left of the request's. */
            why = e.code != M2MSEC_ERR_TIMEOUT ? "read_error"
                  : mid                        ? "request_timeout"
                                               : "io_timeout";
            goto out;
        }
        if (m2msec_buf_append(pending, chunk, (size_t)n, &e) != 0) {
            why = "too_large";
            goto out;
        }
    }
out:
    m2msec_wipe(chunk, sizeof(chunk));
    return why;
}

static void
serve_conn(struct srv *s, void *wctx, const struct srv_item *it)
{
    struct srv_conn c;
    struct m2msec_http_parser *parser = NULL;
    struct m2msec_buf pending;
    struct m2msec_error e;
    const char *why = "error";
    const char *p = NULL;
    unsigned long nreq = 0;
    int opened = 0;
    char peer[SRV_PEER_MAX];
    char conn_s[24];
    char nreq_s[24];

    memset(&c, 0, sizeof(c));
    m2msec_error_clear(&e);
    m2msec_buf_init(&pending, SRV_PENDING_MAX);
    c.id = it->id;
    c.wctx = wctx;
    ulong_str(c.id, conn_s, sizeof(conn_s));
    fd_peer(it->fd, peer, sizeof(peer));

    /* The PSK lookup runs inside and may block; only this worker waits for it. */
    if (s->cert_mode) {
        struct m2msec_tls_cert_server *cs = NULL;

        /* The current credentials; the connection keeps its own reference. */
        pthread_mutex_lock(&s->mu);
        cs = s->cert_tls;
        m2msec_tls_cert_server_ref(cs);
        pthread_mutex_unlock(&s->mu);
        c.tls = m2msec_tls_accept_cert(cs, it->fd, wctx, atomic_load(&s->handshake_timeout_ms), &e);
        m2msec_tls_cert_server_free(cs);
    } else {
        c.tls = m2msec_tls_accept(s->tls, it->fd, wctx, atomic_load(&s->handshake_timeout_ms), &e);
    }
    if (c.tls == NULL) {
        srv_log_event(SRV_LOG_NOTICE, "handshake_failed", "conn", conn_s, "peer", peer, "reason",
                      e.msg, NULL);
        return;
    }
    p = m2msec_tls_peer(c.tls);
    if (p != NULL && p[0] != '\0' && strcmp(p, "?") != 0) {
        (void)m2msec_strlcpy(peer, p, sizeof(peer));
    }
    m2msec_tls_set_timeout(c.tls, atomic_load(&s->io_timeout_ms));

    if (s->h.conn_open != NULL && s->h.conn_open(s->h.arg, &c) != 0) {
        srv_log_event(SRV_LOG_INFO, "conn_refused", "conn", conn_s, "peer", peer, "identity",
                      conn_identity(c.tls), NULL);
        why = "refused";
        goto out;
    }
    opened = 1;
    srv_log_event(SRV_LOG_DEBUG, "conn_open", "conn", conn_s, "peer", peer, "identity",
                  conn_identity(c.tls), "sni", m2msec_tls_sni(c.tls), "cipher",
                  m2msec_tls_cipher(c.tls), NULL);

    parser = m2msec_http_parser_new(1, &e);
    if (parser == NULL) {
        srv_log_event(SRV_LOG_ERR, "internal_error", "conn", conn_s, "reason", e.msg, NULL);
        goto out;
    }
    why = conn_loop(s, &c, parser, &pending, peer, &nreq);
out:
    if (opened && s->h.conn_close != NULL) {
        s->h.conn_close(s->h.arg, &c);
    }
    (void)m2msec_tls_close(c.tls);
    m2msec_tls_conn_free(c.tls);
    m2msec_http_parser_free(parser);
    m2msec_buf_free(&pending);
    ulong_str(nreq, nreq_s, sizeof(nreq_s));
    srv_log_event(SRV_LOG_DEBUG, "conn_close", "conn", conn_s, "peer", peer, "reason", why,
                  "requests", nreq_s, NULL);
}

/* ---- threads ------------------------------------------------------------------------------- */

/* Next queued socket; -1 once the server is stopping. */
static int
queue_pop(struct srv *s, struct srv_item *it)
{
    int rv = -1;

    pthread_mutex_lock(&s->mu);
    while (s->qlen == 0 && !stopping(s)) {
        pthread_cond_wait(&s->queue_cv, &s->mu);
    }
    if (!stopping(s)) {
        *it = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % s->max_queue;
        s->qlen--;
        rv = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return rv;
}

static void *
worker_main(void *arg)
{
    struct srv_worker *w = arg;
    struct srv *s = w->s;
    struct srv_item it;
    void *wctx = NULL;
    int ok = 1;
    char idx_s[16];

    if (s->h.worker_init != NULL) {
        wctx = s->h.worker_init(s->h.arg, w->idx);
        ok = wctx != NULL;
    }
    if (!ok) {
        (void)snprintf(idx_s, sizeof(idx_s), "%u", w->idx);
        srv_log_event(SRV_LOG_ERR, "worker_init_failed", "worker", idx_s, NULL);
    }
    pthread_mutex_lock(&s->mu);
    s->inited++;
    if (ok) {
        s->init_ok++;
    }
    pthread_cond_broadcast(&s->state_cv);
    pthread_mutex_unlock(&s->mu);

    if (ok) {
        while (queue_pop(s, &it) == 0) {
            serve_conn(s, wctx, &it);
        }
        /* On this thread, so per-thread resources (database handles) close where they opened. */
        if (s->h.worker_fini != NULL) {
            s->h.worker_fini(s->h.arg, wctx);
        }
    }
    thread_exited(s, &w->th);
    return NULL;
}

static void *
listener_main(void *arg)
{
    struct srv *s = arg;
    struct m2msec_error e;
    unsigned long id = 0;
    int fd = -1;
    int full = 0;
    char peer[SRV_PEER_MAX];
    char conn_s[24];

    while (!stopping(s)) {
        m2msec_error_clear(&e);
        fd = m2msec_tcp_accept(s->lfd, SRV_ACCEPT_POLL_MS, &e);
        if (fd == -2) {
            continue;
        }
        if (fd < 0) {
            srv_log_event(SRV_LOG_WARNING, "accept_failed", "reason", e.msg, NULL);
            sleep_ms(SRV_ACCEPT_RETRY_MS);
            continue;
        }
        id = atomic_fetch_add(&s->next_conn, 1) + 1;
        full = 0;
        pthread_mutex_lock(&s->mu);
        if (stopping(s)) {
            full = -1;
        } else if (s->qlen >= s->max_queue) {
            full = 1;
        } else {
            s->queue[(s->qhead + s->qlen) % s->max_queue] = (struct srv_item){ fd, id };
            s->qlen++;
            pthread_cond_signal(&s->queue_cv);
        }
        pthread_mutex_unlock(&s->mu);
        if (full == 1) {
            /* Refuse at once rather than let a backlog of handshakes go stale. */
            fd_peer(fd, peer, sizeof(peer));
            ulong_str(id, conn_s, sizeof(conn_s));
            srv_log_event(SRV_LOG_WARNING, "conn_rejected", "conn", conn_s, "peer", peer, "reason",
                          "queue_full", NULL);
        }
        if (full != 0) {
            (void)close(fd);
        }
    }
    /* Stop accepting: new connections are refused by the kernel from here on. */
    (void)close(s->lfd);
    s->lfd = -1;
    thread_exited(s, &s->listener);
    return NULL;
}

static void *
housekeeper_main(void *arg)
{
    struct srv *s = arg;
    struct timespec ts;

    while (!stopping(s)) {
        s->h.tick(s->h.arg);
        deadline_ts(&ts, (uint64_t)atomic_load(&s->sweep_interval_s) * 1000);
        pthread_mutex_lock(&s->mu);
        while (!stopping(s) && pthread_cond_timedwait(&s->tick_cv, &s->mu, &ts) != ETIMEDOUT) {
        }
        pthread_mutex_unlock(&s->mu);
    }
    thread_exited(s, &s->housekeeper);
    return NULL;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static int
cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    int r = 0;

    if (pthread_condattr_init(&attr) != 0) {
        return -1;
    }
    r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (r == 0) {
        r = pthread_cond_init(cv, &attr);
    }
    pthread_condattr_destroy(&attr);
    return r == 0 ? 0 : -1;
}

static int
pipe_setup(int fds[2], struct m2msec_error *err)
{
    int i = 0;

    if (pipe(fds) != 0) {
        fds[0] = -1;
        fds[1] = -1;
        return m2msec_error_set(err, M2MSEC_ERR_IO, "pipe");
    }
    for (i = 0; i < 2; i++) {
        /* Non-blocking: srv_stop runs in signal handlers and must never block on a full pipe. */
        if (fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) != 0 ||
            fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
            return m2msec_error_set(err, M2MSEC_ERR_IO, "fcntl");
        }
    }
    return 0;
}

/* Mutex and condition variables; on failure nothing is left initialised. */
static int
sync_init(struct srv *s)
{
    int have_mu = 0;
    int have_queue = 0;
    int have_state = 0;
    int rv = -1;

    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        goto out;
    }
    have_mu = 1;
    if (pthread_cond_init(&s->queue_cv, NULL) != 0) {
        goto out;
    }
    have_queue = 1;
    if (cond_init_monotonic(&s->state_cv) != 0) {
        goto out;
    }
    have_state = 1;
    if (cond_init_monotonic(&s->tick_cv) != 0) {
        goto out;
    }
    s->sync_ready = 1;
    rv = 0;
out:
    if (rv != 0 && have_state) {
        pthread_cond_destroy(&s->state_cv);
    }
    if (rv != 0 && have_queue) {
        pthread_cond_destroy(&s->queue_cv);
    }
    if (rv != 0 && have_mu) {
        pthread_mutex_destroy(&s->mu);
    }
    return rv;
}

struct srv *
srv_new(const struct srv_config *cfg, const struct srv_handlers *h, struct m2msec_error *err)
{
    struct srv *s = NULL;
    struct srv *rv = NULL;
    unsigned i = 0;

    if (cfg == NULL || h == NULL || h->handle == NULL ||
        (h->psk_lookup == NULL && h->cert == NULL) || cfg->listen == NULL || cfg->workers == 0 ||
        cfg->max_queue == 0 || cfg->backlog == 0) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                "srv_new: listen, workers, max_queue, backlog, handle and "
                                "psk_lookup (or cert) are required");
        goto out;
    }
    s = m2msec_calloc(1, sizeof(*s));
    if (s == NULL) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    s->lfd = -1;
    s->pipefd[0] = -1;
    s->pipefd[1] = -1;
    atomic_init(&s->stopping, 0);
    atomic_init(&s->reload, 0);
    atomic_init(&s->next_conn, 0);
    if (sync_init(s) != 0) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "cannot initialise thread primitives");
        goto out;
    }
    s->nworkers = cfg->workers;
    s->backlog = cfg->backlog;
    s->max_queue = cfg->max_queue;
    atomic_init(&s->handshake_timeout_ms, 0);
    atomic_init(&s->io_timeout_ms, 0);
    atomic_init(&s->idle_timeout_ms, 0);
    atomic_init(&s->shutdown_timeout_ms, 0);
    atomic_init(&s->sweep_interval_s, 1);
    srv_set_limits(s, cfg);
    s->h = *h;
    /* The options were borrowed for this call only. */
    s->h.cert = NULL;
    s->listen = m2msec_strdup(cfg->listen);
    s->queue = m2msec_calloc(s->max_queue, sizeof(*s->queue));
    s->workers = m2msec_calloc(s->nworkers, sizeof(*s->workers));
    if (s->listen == NULL || s->queue == NULL || s->workers == NULL) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < s->nworkers; i++) {
        s->workers[i].s = s;
        s->workers[i].idx = i;
    }
    if (pipe_setup(s->pipefd, err) != 0) {
        goto out;
    }
    if (m2msec_tls_global_init(err) != 0) {
        goto out;
    }
    if (h->cert != NULL) {
        s->cert_tls = m2msec_tls_cert_server_new(h->cert, err);
        if (s->cert_tls == NULL) {
            goto out;
        }
        s->cert_mode = 1;
    } else {
        s->tls = m2msec_tls_server_new_psk(h->psk_lookup, h->arg, err);
        if (s->tls == NULL) {
            goto out;
        }
    }
    rv = s;
    s = NULL;
out:
    srv_free(s);
    return rv;
}

int
srv_listen(struct srv *s, char *bound, size_t boundsz, struct m2msec_error *err)
{
    if (s == NULL || s->lfd >= 0 || s->ran) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "srv_listen: already listening or already run");
    }
    s->lfd = m2msec_tcp_listen(s->listen, (int)s->backlog, s->bound, sizeof(s->bound), err);
    if (s->lfd < 0) {
        s->lfd = -1;
        m2msec_error_wrap(err, "listen on %s", s->listen);
        return -1;
    }
    if (bound != NULL && m2msec_strlcpy(bound, s->bound, boundsz) != 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "bound address buffer too small");
    }
    return 0;
}

static int
start_thread(struct srv_thread *th, void *(*fn)(void *), void *arg)
{
    if (pthread_create(&th->tid, NULL, fn, arg) != 0) {
        return -1;
    }
    th->started = 1;
    return 0;
}

/* Join th if it has exited (or unconditionally when wait is set). */
static void
join_thread(struct srv *s, struct srv_thread *th, int wait)
{
    int exited = 0;

    if (!th->started || th->joined) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    exited = th->exited;
    pthread_mutex_unlock(&s->mu);
    if (exited || wait) {
        pthread_join(th->tid, NULL);
        th->joined = 1;
    }
}

/* Under s->mu: threads started and not yet exited. */
static unsigned
threads_running(struct srv *s)
{
    unsigned n = 0;
    unsigned i = 0;

    for (i = 0; i < s->nworkers; i++) {
        n += s->workers[i].th.started && !s->workers[i].th.exited;
    }
    n += s->listener.started && !s->listener.exited;
    n += s->housekeeper.started && !s->housekeeper.exited;
    return n;
}

static void
close_queued(struct srv *s)
{
    size_t n = 0;
    char n_s[24];

    pthread_mutex_lock(&s->mu);
    while (s->qlen > 0) {
        (void)close(s->queue[s->qhead].fd);
        s->qhead = (s->qhead + 1) % s->max_queue;
        s->qlen--;
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    if (n > 0) {
        (void)snprintf(n_s, sizeof(n_s), "%zu", n);
        srv_log_event(SRV_LOG_NOTICE, "queue_dropped", "count", n_s, "reason", "shutdown", NULL);
    }
}

static void
wake_all(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->queue_cv);
    pthread_cond_broadcast(&s->tick_cv);
    pthread_mutex_unlock(&s->mu);
}

/*
 * Sleep until a stop is requested; run the application's reload hook for each
 * SIGHUP meanwhile (on this thread, outside the signal handler).
 */
static void
wait_stop_request(struct srv *s)
{
    struct pollfd pfd;
    char sink[64];

    while (!stopping(s)) {
        pfd.fd = s->pipefd[0];
        pfd.events = POLLIN;
        pfd.revents = 0;
        /* The timeout is a safety net only; srv_stop and SIGHUP always write the pipe. */
        (void)poll(&pfd, 1, SRV_STOP_POLL_MS);
        while (read(s->pipefd[0], sink, sizeof(sink)) > 0) {
        }
        if (atomic_exchange(&s->reload, 0) && !stopping(s) && s->h.reload != NULL) {
            s->h.reload(s->h.arg);
        }
    }
}

int
srv_run(struct srv *s, struct m2msec_error *err)
{
    sigset_t block;
    sigset_t old;
    struct timespec ts;
    unsigned started = 0;
    unsigned ok = 0;
    unsigned busy = 0;
    unsigned i = 0;
    int masked = 0;
    int failed = 0;
    int rv = -1;
    char n_s[16];

    if (s == NULL || s->lfd < 0 || s->ran) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "srv_run: call srv_listen first, and srv_run once");
    }
    s->ran = 1;

    /* Threads inherit this mask: signals are then delivered to the caller's thread only. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGPIPE);
    masked = pthread_sigmask(SIG_BLOCK, &block, &old) == 0;

    for (i = 0; i < s->nworkers; i++) {
        if (start_thread(&s->workers[i].th, worker_main, &s->workers[i]) != 0) {
            srv_log_event(SRV_LOG_ERR, "thread_failed", "kind", "worker", NULL);
            break;
        }
        started++;
    }
    pthread_mutex_lock(&s->mu);
    while (s->inited < started) {
        pthread_cond_wait(&s->state_cv, &s->mu);
    }
    ok = s->init_ok;
    pthread_mutex_unlock(&s->mu);
    if (ok == 0) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE, "no worker could start");
        failed = 1;
        goto out;
    }
    if (ok < s->nworkers) {
        (void)snprintf(n_s, sizeof(n_s), "%u", ok);
        srv_log_event(SRV_LOG_WARNING, "workers_degraded", "workers", n_s, NULL);
    }
    if (start_thread(&s->listener, listener_main, s) != 0 ||
        (s->h.tick != NULL && start_thread(&s->housekeeper, housekeeper_main, s) != 0)) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "cannot start threads");
        failed = 1;
        goto out;
    }
    if (masked) {
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
        masked = 0;
    }
    (void)snprintf(n_s, sizeof(n_s), "%u", ok);
    srv_log_event(SRV_LOG_NOTICE, "started", "listen", s->bound, "workers", n_s, NULL);
    wait_stop_request(s);
    srv_log_event(SRV_LOG_NOTICE, "stopping", NULL);

out:
    /* Shutdown sequence, also after a failed start (docs/design-runtime.md). */
    srv_stop(s);
    wake_all(s);
    /* The listener notices within one accept poll and closes the listening socket. */
    join_thread(s, &s->listener, 1);
    /* Accepted but never handshaked: nothing is in progress on them, drop them. */
    close_queued(s);

    deadline_ts(&ts, atomic_load(&s->shutdown_timeout_ms));
    pthread_mutex_lock(&s->mu);
    while ((busy = threads_running(s)) > 0) {
        if (pthread_cond_timedwait(&s->state_cv, &s->mu, &ts) == ETIMEDOUT) {
            busy = threads_running(s);
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    for (i = 0; i < s->nworkers; i++) {
        join_thread(s, &s->workers[i].th, 0);
    }
    join_thread(s, &s->housekeeper, 0);
    if (masked) {
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (busy > 0) {
        /* Stragglers are bounded by their I/O deadlines; srv_free joins them. */
        (void)snprintf(n_s, sizeof(n_s), "%u", busy);
        srv_log_event(SRV_LOG_ERR, "shutdown_timeout", "busy_threads", n_s, NULL);
        return m2msec_error_setx(err, M2MSEC_ERR_TIMEOUT,
                                 "shutdown: %u thread(s) still busy after %u ms", busy,
                                 atomic_load(&s->shutdown_timeout_ms));
    }
    if (!failed) {
        srv_log_event(SRV_LOG_NOTICE, "stopped", NULL);
        rv = 0;
    }
    return rv;
}

void
srv_stop(struct srv *s)
{
    int saved_errno = errno;
    char b = 1;
    ssize_t w = 0;

    if (s == NULL) {
        return;
    }
    atomic_store(&s->stopping, 1);
    if (s->pipefd[1] >= 0) {
        /* A full pipe already holds a wake-up; nothing to do on EAGAIN. */
        w = write(s->pipefd[1], &b, 1);
        (void)w;
    }
    errno = saved_errno;
}

static void
on_signal(int sig)
{
    struct srv *s = atomic_load(&sig_srv);

    if (s == NULL) {
        return;
    }
    if (sig == SIGHUP) {
        int saved_errno = errno;
        char b = 'h';
        ssize_t w;

        atomic_store(&s->reload, 1);
        if (s->pipefd[1] >= 0) {
            /* A full pipe already holds a wake-up. */
            w = write(s->pipefd[1], &b, 1);
            (void)w;
        }
        errno = saved_errno;
    } else {
        srv_stop(s);
    }
}

int
srv_install_signals(struct srv *s, struct m2msec_error *err)
{
    struct sigaction sa;
    static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
    size_t i = 0;

    if (s == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "srv_install_signals: NULL");
    }
    atomic_store(&sig_srv, s);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if (sigaction(sigs[i], &sa, NULL) != 0) {
            return m2msec_error_set(err, M2MSEC_ERR_IO, "sigaction");
        }
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) != 0) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "sigaction");
    }
    return 0;
}

void
srv_set_limits(struct srv *s, const struct srv_config *cfg)
{
    if (s == NULL || cfg == NULL) {
        return;
    }
    atomic_store(&s->handshake_timeout_ms, cfg->handshake_timeout_ms);
    atomic_store(&s->io_timeout_ms, cfg->io_timeout_ms);
    atomic_store(&s->idle_timeout_ms, cfg->idle_timeout_ms);
    atomic_store(&s->shutdown_timeout_ms, cfg->shutdown_timeout_ms);
    atomic_store(&s->sweep_interval_s, cfg->sweep_interval_s > 0 ? cfg->sweep_interval_s : 1);
}

void
srv_free(struct srv *s)
{
    struct srv *expected = s;
    unsigned i = 0;

    if (s == NULL) {
        return;
    }
    (void)atomic_compare_exchange_strong(&sig_srv, &expected, NULL);
    if (s->sync_ready) {
        /* After a shutdown timeout some threads may still be finishing their last I/O. */
        srv_stop(s);
        wake_all(s);
        for (i = 0; s->workers != NULL && i < s->nworkers; i++) {
            join_thread(s, &s->workers[i].th, 1);
        }
        join_thread(s, &s->listener, 1);
        join_thread(s, &s->housekeeper, 1);
        if (s->queue != NULL) {
            close_queued(s);
        }
        pthread_cond_destroy(&s->tick_cv);
        pthread_cond_destroy(&s->state_cv);
        pthread_cond_destroy(&s->queue_cv);
        pthread_mutex_destroy(&s->mu);
    }
    if (s->lfd >= 0) {
        (void)close(s->lfd);
    }
    for (i = 0; i < 2; i++) {
        if (s->pipefd[i] >= 0) {
            (void)close(s->pipefd[i]);
        }
    }
    m2msec_tls_server_free(s->tls);
    m2msec_tls_cert_server_free(s->cert_tls);
    m2msec_free(s->queue);
    m2msec_free(s->workers);
    m2msec_free(s->listen);
    m2msec_free(s);
}

void
srv_reload_config(const char *path, const char *section, int listen_override,
                  struct srv_config *run, struct srv_live *live, struct srv *const servers[],
                  size_t nservers)
{
    struct m2msec_error err = { 0 };
    struct srv_config next;
    char fixed[SRV_CONFIG_KEYS_MAX], changed[SRV_CONFIG_KEYS_MAX];
    size_t i;

    if (srv_config_load(path, section, &next, &err) == -1) {
        srv_log_event(SRV_LOG_ERR, "reload_failed", "config", path, "error", m2msec_error_msg(&err),
                      "effect", "nothing changed", NULL);
        return;
    }
    if (listen_override) {
        /* serve --listen outranks the file, before and after a reload */
        char *l = m2msec_strdup(run->listen);

        if (l == NULL) {
            srv_config_clear(&next);
            srv_log_event(SRV_LOG_ERR, "reload_failed", "config", path, "error", "out of memory",
                          "effect", "nothing changed", NULL);
            return;
        }
        m2msec_free(next.listen);
        next.listen = l;
    }
    srv_config_reload(run, &next, fixed, changed);
    srv_config_clear(&next);
    srv_log_set_level(run->log_level);
    for (i = 0; i < nservers; i++) {
        srv_set_limits(servers[i], run);
    }
    srv_live_set(live, run);
    if (fixed[0] != '\0') {
        srv_log_event(SRV_LOG_WARNING, "reload_restart_needed", "keys", fixed, "effect",
                      "running values kept until a restart", NULL);
    }
    srv_log_event(SRV_LOG_NOTICE, "reloaded", "config", path, "changed",
                  changed[0] != '\0' ? changed : "none", NULL);
}

int
srv_reload_cert(struct srv *s, const struct m2msec_tls_cert_opts *opts, struct m2msec_error *err)
{
    struct m2msec_tls_cert_server *next = NULL;
    struct m2msec_tls_cert_server *old = NULL;

    if (s == NULL || opts == NULL || !s->cert_mode) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "not a certificate server: nothing to reload");
    }
    /* Everything is read and checked before anything changes. */
    next = m2msec_tls_cert_server_new(opts, err);
    if (next == NULL) {
        return -1;
    }
    pthread_mutex_lock(&s->mu);
    old = s->cert_tls;
    s->cert_tls = next;
    pthread_mutex_unlock(&s->mu);
    /* Connections accepted with it hold references: freed by the last of them. */
    m2msec_tls_cert_server_free(old);
    return 0;
}
