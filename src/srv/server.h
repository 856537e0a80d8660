/*
 * srv/server.h - listener, worker pool, HTTP-over-TLS request loop, signals.
 *
 * Runtime model (docs/ARCHITECTURE.md 5): one listener thread accepts into a
 * bounded queue; a fixed pool of workers each owns one connection at a time with
 * blocking I/O and a deadline on every handshake, read and write. A PSK lookup
 * may block without stalling other connections. A server speaks either TLS-PSK
 * or, with srv_handlers.cert, certificate TLS; a daemon needing both runs two
 * servers (only one of them installs the signal handlers). A housekeeping thread calls
 * tick() every sweep interval. SIGTERM/SIGINT: stop accepting, let in-flight
 * requests finish (up to shutdown_timeout_ms), close idle keep-alive
 * connections, return from srv_run with 0. SIGHUP wakes the thread in srv_run,
 * which calls the app's reload hook (outside the signal handler).
 *
 * For each request the server checks what is common to every oneM2M request
 * (framing, bounds, X-M2M-Origin and X-M2M-RI present and safe), answers 4000
 * itself otherwise, then calls handle(). Responses always carry X-M2M-RSC,
 * X-M2M-RI (echoed when the request's is valid), X-M2M-RVI, and
 * Content-Type: application/json when there is a body.
 */
#ifndef M2MSEC_SRV_SERVER_H
#define M2MSEC_SRV_SERVER_H

#include <stddef.h>

#include "config.h"
#include "http/http.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/buf.h"
#include "util/error.h"

struct srv;

/* One accepted, authenticated connection. */
struct srv_conn {
    struct m2msec_tls_conn *tls;
    unsigned long id; /* connection number, for logs */
    void *wctx;       /* the worker's context (worker_init) */
    void *state;      /* the app's per-connection state (conn_open) */
    int close_after;  /* set by a handler: close after this response */
};

struct srv_response {
    int rsc;                /* oneM2M Response Status Code */
    struct m2msec_buf body; /* JSON body, may be empty */
    int close;              /* close the connection after sending */
};

/*
 * Fill resp with rsc and {"m2m:dbg": "<message>"}, replacing any body (which
 * must be initialised; the server does that). Bytes outside printable ASCII in
 * the message become '?'. Returns 0.
 */
int srv_response_error(struct srv_response *resp, int rsc, const char *fmt, ...)
        M2MSEC_PRINTF(3, 4);

struct srv_handlers {
    void *arg;
    /* Per worker thread: e.g. open the worker's database connection. NULL = failure. */
    void *(*worker_init)(void *arg, unsigned idx);
    /*
     * On the worker's own thread as it exits: before srv_run returns, or (after
     * a shutdown timeout) at the latest before srv_free returns.
     */
    void (*worker_fini)(void *arg, void *wctx);
    /* PSK lookup; its ctx argument is the worker's wctx. */
    m2msec_psk_lookup_fn psk_lookup;
    /* After a successful handshake. Return 0, or -1 to drop the connection. */
    int (*conn_open)(void *arg, struct srv_conn *c);
    void (*conn_close)(void *arg, struct srv_conn *c);
    /* One request. resp->rsc preset to 5000; return 0 (errors are answers, not failures). */
    int (*handle)(void *arg, struct srv_conn *c, const struct m2msec_http_msg *req,
                  struct srv_response *resp);
    /* Housekeeping every sweep_interval_s, on its own thread with its own context. */
    void (*tick)(void *arg);
    /*
     * SIGHUP (only on the server that installed the signal handlers): called on
     * the thread running srv_run, e.g. to re-read the configuration and apply
     * what may change while running with srv_set_limits(). NULL: ignored.
     */
    void (*reload)(void *arg);
    /*
     * Certificate mode: when set, connections are TLS 1.2 ECDHE-ECDSA with
     * this server certificate (tls/x509.h), client certificates verified as
     * the options say, and psk_lookup is unused (may be NULL). Read by srv_new
     * only (it loads the files then). NULL: TLS-PSK with psk_lookup.
     */
    const struct m2msec_tls_cert_opts *cert;
};

struct srv *srv_new(const struct srv_config *cfg, const struct srv_handlers *h,
                    struct m2msec_error *err);
/* Bind cfg->listen; bound gets the actual address (useful with port 0). */
int srv_listen(struct srv *s, char *bound, size_t boundsz, struct m2msec_error *err);
/*
 * Serve until stopped; call once, after srv_listen. 0 after a graceful stop.
 * -1 when no worker could initialise, or when threads were still busy
 * shutdown_timeout_ms after the stop (srv_free then waits for them; they are
 * bounded by their I/O deadlines).
 */
int srv_run(struct srv *s, struct m2msec_error *err);
/* Async-signal-safe. */
void srv_stop(struct srv *s);
/* Route SIGTERM/SIGINT to srv_stop(s), SIGHUP to the reload hook; ignore SIGPIPE. */
int srv_install_signals(struct srv *s, struct m2msec_error *err);
/*
 * Apply cfg's timeouts (handshake, I/O, idle, shutdown) and sweep interval.
 * Thread-safe; what is already waiting keeps the deadline it started with.
 */
void srv_set_limits(struct srv *s, const struct srv_config *cfg);
/*
 * Certificate mode: load opts anew (certificate, key, anchors, CRLs: the files
 * are read now) and use them for the connections accepted afterwards. On any
 * error nothing changes and -1 is returned. Connections already open keep the
 * credentials they started with. Thread-safe.
 */
int srv_reload_cert(struct srv *s, const struct m2msec_tls_cert_opts *opts,
                    struct m2msec_error *err);
/*
 * A daemon's SIGHUP reload (docs/design-runtime.md "SIGHUP"): re-read the
 * configuration at path (section), keep run->listen when listen_override (serve
 * --listen), copy the reloadable values into run, and apply them: log level,
 * the limits of each non-NULL server, live. Logs reloaded, reload_failed (then
 * nothing changes) or reload_restart_needed. For the thread in srv_run.
 */
void srv_reload_config(const char *path, const char *section, int listen_override,
                       struct srv_config *run, struct srv_live *live, struct srv *const servers[],
                       size_t nservers);
void srv_free(struct srv *s);

/*
 * Split a request-target path into segments: "/mef/reg/abc" -> {"mef","reg","abc"}.
 * Rejects a query or fragment, empty segments, "." and "..", %-escapes that
 * decode to NUL or '/', and more than max segments. Segments are decoded,
 * NUL-terminated, in storage (size storagesz). Returns the segment count or -1.
 */
int srv_path_split(const char *target, char **segs, size_t max, char *storage, size_t storagesz);

#endif
