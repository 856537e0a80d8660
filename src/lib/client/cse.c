/*
 * client/cse.c - a reference Entity B: TLS 1.2 PSK and certificate endpoint answering
 * oneM2M requests.
 *
 * Layer: client. Composes tls (PSK server, or a certificate server that also
 * takes PSK clients, sockets), http (framing), the resolver
 * (client/resolver.c) as PSK lookup and the app-rule table
 * (client/apprule.c). One listener thread accepts
 * (with a timeout, so stop is prompt) and sweeps expired cache rows; each
 * connection is served by one thread, at most max_conns at once (more are
 * closed on accept). Threads are kept for CSE_THREAD_IDLE_MS after their
 * connection ends and take the next one, so a steady load does not pay a
 * thread creation per handshake. Every handshake, read and write has a deadline;
 * idle keep-alive sessions are closed after idle_ms or at stop.
 *
 * @spec TS-0003 8.2.1: after the handshake Entity B binds the security
 * context to the peer's CSE-ID / AE-ID when the key's source named one, else
 * to the Credential-ID (10.4). A request is accepted only from that
 * originator (the X-M2M-Origin rule of TS-0003 / TS-0004: 4106 otherwise).
 *
 * @spec TS-0003 8.2.2.2 (certificate SAEF): a client certificate is verified
 * in the handshake (8.1.2.5) against the configured client certificate
 * information; a CSE-ID or AE-ID certificate binds the session to that id, a
 * device, Node-ID or raw public key certificate to its Credential-ID
 * (31-, 34-, 30-; 10.4).
 *
 * @spec TS-0003 8.2.1 (the AE-IDs allowed for a Credential-ID, from
 * <serviceSubscribedAppRule>): an AE registration (POST with ty=2, or a body
 * {"m2m:ae": {"api": ...}}) is accepted when its X-M2M-Origin is the CSE-ID /
 * AE-ID the session is bound to, or when an app rule allows that AE-ID and
 * App-ID for the session's Credential-ID (not for CSE-ID / AE-ID certificate
 * sessions, which are bound to their own id: 4106 otherwise). A refusal by the
 * rules is 4126 APP_RULE_VALIDATION_FAILED (TS-0004; HTTP 403 per TS-0009).
 * The accepted AE-ID is then also a valid originator for the rest of the session.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client/apprule.h"
#include "client/client_int.h"
#include "codec/json.h"
#include "codec/mef_msg.h"
#include "http/http.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define CSE_DEFAULT_MAX_CONNS 32u
#define CSE_DEFAULT_IDLE_MS   5000u
#define CSE_DEFAULT_IO_MS     10000u
#define CSE_MAX_CONNS_LIMIT   1024u
#define CSE_BACKLOG           64
#define CSE_ACCEPT_SLICE_MS   200u
#define CSE_IDLE_SLICE_MS     200u
#define CSE_SWEEP_INTERVAL_MS 1000u
#define CSE_THREAD_IDLE_MS    5000u
#define CSE_READ_CHUNK        4096
#define CSE_PENDING_MAX       (M2MSEC_HTTP_MAX_HEADER_BYTES + M2MSEC_HTTP_MAX_BODY + 4096)
#define CSE_RI_MAX            128
#define CSE_ADDR_LEN          64
#define CSE_FILES_MAX         16 /* client trust anchors, and CRLs */
#define CSE_RAWPK_MAX         64 /* trusted raw public key names */
#define CSE_DBG_MAX           320
/* TS-0004 APP_RULE_VALIDATION_FAILED; TS-0009 maps it to HTTP 403. */
#define CSE_RSC_APP_RULE_VALIDATION_FAILED 4126

static char h_rsc[] = M2MSEC_HDR_RSC;
static char h_ri[] = M2MSEC_HDR_RI;
static char h_rvi[] = M2MSEC_HDR_RVI;
static char h_ctype[] = "Content-Type";
static char v_rvi[] = M2MSEC_RVI;
static char v_json[] = "application/json";

struct m2msec_cse {
    struct m2msec_resolver *r; /* not owned */
    struct m2msec_tls_server *tls;
    struct m2msec_tls_cert_server *cert_tls; /* with a certificate: also takes PSK clients */
    char *cert_file;                         /* Entity B's certificate (NULL: raw key) */
    char *key_file;                          /* set: certificate mode */
    char *client_ca[CSE_FILES_MAX];
    size_t nca;
    char *client_crl[CSE_FILES_MAX];
    size_t ncrl;
    char *client_rawpk[CSE_RAWPK_MAX];
    size_t nrawpk;
    enum m2msec_cert_flavour client_flavour; /* UNSET: ANY with anchors, RAW with names */
    struct m2msec_apprule_table *rules;
    int lfd;
    char addr[CSE_ADDR_LEN];
    unsigned max_conns;
    unsigned idle_ms;
    unsigned io_ms;
    pthread_t acceptor;
    int running;
    atomic_int stopping;
    pthread_mutex_t lock;   /* nconns, the hand-over queue, nthreads, nidle */
    pthread_cond_t drained; /* nconns reached 0, or nthreads reached 0 */
    pthread_cond_t work;    /* a connection was queued for an idle thread, or stop */
    unsigned nconns;
    unsigned nthreads;
    unsigned nidle;
    struct cse_conn *queue_head; /* accepted, waiting for an idle thread */
    struct cse_conn *queue_tail;
    _Atomic uint64_t served;
    struct m2msec_error err;
};

struct cse_conn {
    struct cse_conn *next; /* hand-over queue */
    struct m2msec_cse *s;
    int fd;
    uint64_t id;
    struct m2msec_psk_info *info; /* written by the PSK lookup during the handshake */
    int resolved;
    char peer[CSE_ADDR_LEN];
    /* The binding, set after the handshake (bind_psk / bind_cert). */
    int cert;                              /* a certificate session */
    int cert_entity;                       /* bound by a CSE-ID / AE-ID certificate */
    const char *flavour;                   /* certificate sessions: static flavour name */
    char entity[M2MSEC_CERT_CRED_ID_MAX];  /* CSE-ID / AE-ID bound to, or "" */
    char cred_id[M2MSEC_CERT_CRED_ID_MAX]; /* Credential-ID (10.4), or "" */
    char ae_id[M2MSEC_CERT_CRED_ID_MAX];   /* AE registered on this session, or "" */
};

/*
 * PSK lookup: the resolver decides; any refusal makes the handshake fail as for
 * an unknown identity (tls.c continues with a dummy key).
 */
static int
psk_lookup(void *arg, void *ctx, const char *identity, struct m2msec_secret **key)
{
    struct m2msec_cse *s = arg;
    struct cse_conn *c = ctx;
    struct m2msec_error e = { 0 };
    uint8_t psk[64];
    size_t len = 0;
    int rv = 1;

    if (m2msec_resolver_resolve(s->r, identity, psk, sizeof(psk), &len, c->info) == 0) {
        *key = m2msec_secret_from(psk, len, &e);
        if (*key == NULL) {
            rv = -1;
        } else {
            c->resolved = 1;
            rv = 0;
        }
    }
    m2msec_wipe(psk, sizeof(psk));
    return rv;
}

M2MSEC_API struct m2msec_cse *
m2msec_cse_new(struct m2msec_resolver *r)
{
    struct m2msec_cse *s = NULL;

    if (r == NULL) {
        return NULL;
    }
    s = m2msec_calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        m2msec_free(s);
        return NULL;
    }
    if (pthread_cond_init(&s->drained, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        m2msec_free(s);
        return NULL;
    }
    if (pthread_cond_init(&s->work, NULL) != 0) {
        pthread_cond_destroy(&s->drained);
        pthread_mutex_destroy(&s->lock);
        m2msec_free(s);
        return NULL;
    }
    s->r = r;
    s->lfd = -1;
    s->max_conns = CSE_DEFAULT_MAX_CONNS;
    s->idle_ms = CSE_DEFAULT_IDLE_MS;
    s->io_ms = CSE_DEFAULT_IO_MS;
    return s;
}

M2MSEC_API void
m2msec_cse_free(struct m2msec_cse *s)
{
    if (s == NULL) {
        return;
    }
    m2msec_cse_stop(s);
    m2msec_tls_server_free(s->tls);
    m2msec_tls_cert_server_free(s->cert_tls);
    m2msec_free(s->cert_file);
    m2msec_free(s->key_file);
    for (size_t i = 0; i < s->nca; i++) {
        m2msec_free(s->client_ca[i]);
    }
    for (size_t i = 0; i < s->ncrl; i++) {
        m2msec_free(s->client_crl[i]);
    }
    for (size_t i = 0; i < s->nrawpk; i++) {
        m2msec_free(s->client_rawpk[i]);
    }
    m2msec_apprule_table_free(s->rules);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->drained);
    pthread_mutex_destroy(&s->lock);
    m2msec_free(s);
}

M2MSEC_API const char *
m2msec_cse_error(const struct m2msec_cse *s)
{
    return s->err.msg;
}

M2MSEC_API enum m2msec_err
m2msec_cse_error_code(const struct m2msec_cse *s)
{
    return s->err.code;
}

M2MSEC_API const char *
m2msec_cse_addr(const struct m2msec_cse *s)
{
    return s->running ? s->addr : NULL;
}

M2MSEC_API uint64_t
m2msec_cse_connections(const struct m2msec_cse *s)
{
    return atomic_load(&s->served);
}

M2MSEC_API int
m2msec_cse_set_limits(struct m2msec_cse *s, unsigned max_conns, unsigned idle_ms, unsigned io_ms)
{
    m2msec_error_clear(&s->err);
    if (s->running) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_INVALID_STATE, "server already started");
    }
    if (max_conns > CSE_MAX_CONNS_LIMIT || idle_ms > 3600000u || io_ms > 600000u) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "limits: at most %u connections, 1 h idle, 10 min per operation",
                                 CSE_MAX_CONNS_LIMIT);
    }
    if (max_conns != 0) {
        s->max_conns = max_conns;
    }
    if (idle_ms != 0) {
        s->idle_ms = idle_ms;
    }
    if (io_ms != 0) {
        s->io_ms = io_ms;
    }
    return 0;
}

/*
 * Certificates and app rules (before start)
 */

static int
configurable(struct m2msec_cse *s)
{
    m2msec_error_clear(&s->err);
    if (s->running || s->tls != NULL || s->cert_tls != NULL) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_INVALID_STATE, "server already started");
    }
    return 0;
}

static int
path_ok(struct m2msec_cse *s, const char *path, const char *what)
{
    if (path == NULL || path[0] == '\0' || strlen(path) > 4096) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: no file given", what);
    }
    return 0;
}

/* Append a copy of v to list (max entries). */
static int
list_add(struct m2msec_cse *s, char **list, size_t *n, size_t max, const char *v, const char *what)
{
    if (*n == max) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_TOO_LARGE, "at most %zu %s", max, what);
    }
    list[*n] = m2msec_strdup(v);
    if (list[*n] == NULL) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    (*n)++;
    return 0;
}

M2MSEC_API int
m2msec_cse_set_cert(struct m2msec_cse *s, const char *cert_file, const char *key_file)
{
    char *c = NULL;
    char *k = NULL;

    if (configurable(s) == -1 || path_ok(s, key_file, "Entity B's key") == -1 ||
        (cert_file != NULL && path_ok(s, cert_file, "Entity B's certificate") == -1)) {
        return -1;
    }
    k = m2msec_strdup(key_file);
    c = cert_file != NULL ? m2msec_strdup(cert_file) : NULL;
    if (k == NULL || (cert_file != NULL && c == NULL)) {
        m2msec_free(k);
        m2msec_free(c);
        return m2msec_error_setx(&s->err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    m2msec_free(s->cert_file);
    m2msec_free(s->key_file);
    s->cert_file = c;
    s->key_file = k;
    return 0;
}

M2MSEC_API int
m2msec_cse_add_client_ca(struct m2msec_cse *s, const char *ca_file)
{
    if (configurable(s) == -1 || path_ok(s, ca_file, "client trust anchor") == -1) {
        return -1;
    }
    return list_add(s, s->client_ca, &s->nca, CSE_FILES_MAX, ca_file, "client trust anchor files");
}

M2MSEC_API int
m2msec_cse_add_client_crl(struct m2msec_cse *s, const char *crl_file)
{
    if (configurable(s) == -1 || path_ok(s, crl_file, "client CRL") == -1) {
        return -1;
    }
    return list_add(s, s->client_crl, &s->ncrl, CSE_FILES_MAX, crl_file, "client CRL files");
}

M2MSEC_API int
m2msec_cse_add_client_rawpk(struct m2msec_cse *s, const char *ni_name)
{
    char canon[M2MSEC_CERT_CRED_ID_MAX];

    if (configurable(s) == -1) {
        return -1;
    }
    /* @spec TS-0003 10.1.2: checked now (an RFC 6920 sha-256 name), not at the first client. */
    if (ni_name == NULL ||
        m2msec_x509_credential_id(M2MSEC_CERT_RAW, ni_name, canon, sizeof(canon), &s->err) == -1) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "'%.80s' is not an RFC 6920 public key identifier "
                                 "(ni:///sha-256;...)",
                                 ni_name != NULL ? ni_name : "");
    }
    return list_add(s, s->client_rawpk, &s->nrawpk, CSE_RAWPK_MAX, ni_name,
                    "raw public key identifiers");
}

static const struct {
    const char *name;
    enum m2msec_cert_flavour f;
} flavour_names[] = {
    { "any", M2MSEC_CERT_ANY },       { "cse-id", M2MSEC_CERT_CSE_ID },
    { "ae-id", M2MSEC_CERT_AE_ID },   { "node-id", M2MSEC_CERT_NODE_ID },
    { "device", M2MSEC_CERT_DEVICE }, { "raw", M2MSEC_CERT_RAW },
    { "fqdn", M2MSEC_CERT_FQDN },
};

/* The flavour called name, or UNSET. */
enum m2msec_cert_flavour
client_cert_flavour(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(flavour_names) / sizeof(flavour_names[0]); i++) {
        if (strcmp(name, flavour_names[i].name) == 0) {
            return flavour_names[i].f;
        }
    }
    return M2MSEC_CERT_UNSET;
}

const char *
client_cert_flavour_name(enum m2msec_cert_flavour f)
{
    for (size_t i = 0; i < sizeof(flavour_names) / sizeof(flavour_names[0]); i++) {
        if (flavour_names[i].f == f) {
            return flavour_names[i].name;
        }
    }
    return "-";
}

M2MSEC_API int
m2msec_cse_set_client_flavour(struct m2msec_cse *s, const char *flavour)
{
    enum m2msec_cert_flavour f = client_cert_flavour(flavour);

    if (configurable(s) == -1) {
        return -1;
    }
    /* FQDN certificates name MEFs and MAFs, never an Entity A (8.1.2.4). */
    if (f == M2MSEC_CERT_UNSET || f == M2MSEC_CERT_FQDN) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "client flavour '%.32s': cse-id, ae-id, device, node-id, raw or "
                                 "any",
                                 flavour != NULL ? flavour : "");
    }
    s->client_flavour = f;
    return 0;
}

static int
rules_table(struct m2msec_cse *s)
{
    if (s->rules == NULL) {
        s->rules = m2msec_apprule_table_new();
        if (s->rules == NULL) {
            return m2msec_error_setx(&s->err, M2MSEC_ERR_NOMEM, "out of memory");
        }
    }
    return 0;
}

M2MSEC_API int
m2msec_cse_add_app_rule(struct m2msec_cse *s, const char *rule)
{
    if (configurable(s) == -1 || rules_table(s) == -1) {
        return -1;
    }
    return m2msec_apprule_add_spec(s->rules, rule, &s->err);
}

M2MSEC_API int
m2msec_cse_load_app_rules(struct m2msec_cse *s, const char *path)
{
    if (configurable(s) == -1 || rules_table(s) == -1) {
        return -1;
    }
    return m2msec_apprule_load_file(s->rules, path, &s->err);
}

M2MSEC_API size_t
m2msec_cse_app_rule_count(const struct m2msec_cse *s)
{
    return m2msec_apprule_count(s->rules);
}

/*
 * Requests
 */

/* Append one response with the oneM2M headers; body is JSON or NULL. */
static int
write_response(struct m2msec_tls_conn *tls, int rsc, const char *ri, const struct m2msec_buf *body,
               int keep_alive, struct m2msec_error *err)
{
    struct m2msec_http_header hdrs[4];
    struct m2msec_buf out;
    char rsc_s[8];
    char ri_s[CSE_RI_MAX + 1];
    size_t nh = 0;
    int rv = -1;

    m2msec_buf_init(&out, M2MSEC_HTTP_MAX_HEADER_BYTES + M2MSEC_HTTP_MAX_BODY);
    (void)snprintf(rsc_s, sizeof(rsc_s), "%d", rsc);
    hdrs[nh++] = (struct m2msec_http_header){ h_rsc, rsc_s };
    if (ri != NULL) {
        m2msec_strlcpy(ri_s, ri, sizeof(ri_s));
        hdrs[nh++] = (struct m2msec_http_header){ h_ri, ri_s };
    }
    hdrs[nh++] = (struct m2msec_http_header){ h_rvi, v_rvi };
    if (body != NULL && body->len > 0) {
        hdrs[nh++] = (struct m2msec_http_header){ h_ctype, v_json };
    }
    if (m2msec_http_write_response(
                &out,
                rsc == CSE_RSC_APP_RULE_VALIDATION_FAILED ? 403 : m2msec_http_status_for_rsc(rsc),
                hdrs, nh, body != NULL ? body->data : NULL, body != NULL ? body->len : 0,
                keep_alive, err) == -1 ||
        m2msec_tls_write_all(tls, out.data, out.len, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_buf_free(&out);
    return rv;
}

/*
 * Entity B's view of the session: {"peer", "credentialID", "cse"}, and
 * "suid", "keyID" on PSK sessions or "flavour" on certificate ones; after an
 * AE registration also "aei" and "api".
 */
static int
session_body(const struct m2msec_cse *s, const struct cse_conn *c, const char *bound,
             const char *api, struct m2msec_buf *out, struct m2msec_error *err)
{
    json_t *o = json_object();
    int rv = -1;
    int bad = o == NULL;

    bad = bad || json_object_set_new(o, "peer", json_string(bound)) == -1;
    bad = bad || json_object_set_new(o, "credentialID", json_string(c->cred_id)) == -1;
    if (c->cert) {
        bad = bad || json_object_set_new(o, "flavour", json_string(c->flavour)) == -1;
    } else {
        bad = bad ||
              json_object_set_new(o, "suid",
                                  json_integer((json_int_t)m2msec_psk_info_suid(c->info))) == -1 ||
              json_object_set_new(o, "keyID", json_string(m2msec_psk_info_key_id(c->info))) == -1;
    }
    bad = bad || json_object_set_new(o, "cse", json_string(resolver_cse_id(s->r))) == -1;
    if (api != NULL) {
        bad = bad || json_object_set_new(o, "aei", json_string(c->ae_id)) == -1 ||
              json_object_set_new(o, "api", json_string(api)) == -1;
    }
    if (bad) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "building the response");
        goto out;
    }
    if (m2msec_json_dump(o, out, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    json_decref(o);
    return rv;
}

/* 1 when the originator is an identity of this session (bound id, Credential-ID, AE). */
static int
origin_ok(const struct cse_conn *c, const char *origin)
{
    return (c->entity[0] != '\0' && strcmp(origin, c->entity) == 0 /* public */) ||
           (c->cred_id[0] != '\0' && strcmp(origin, c->cred_id) == 0 /* public */) ||
           (c->ae_id[0] != '\0' && strcmp(origin, c->ae_id) == 0 /* public */);
}

/* 1 when the Content-Type carries the parameter ty=2 (TS-0009: the <AE> resource type). */
static int
content_type_is_ae(const struct m2msec_http_msg *m)
{
    const char *ct = m2msec_http_header_get(m, "Content-Type");
    const char *p = ct != NULL ? strchr(ct, ';') : NULL;

    while (p != NULL) {
        const char *end = NULL;
        size_t n = 0;

        p++;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        end = strchr(p, ';');
        n = end != NULL ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
            n--;
        }
        if (n == 4 && strncmp(p, "ty=2", 4) == 0) {
            return 1;
        }
        p = end;
    }
    return 0;
}

/*
 * Is m an AE registration? 1 with *api (allocated) when it is; 0 when it is
 * not; -1 with dbg set when it claims to be one but is malformed. The
 * mapping is minimal [PROJECT]: a POST whose Content-Type has ty=2 or whose
 * body is an object with the member "m2m:ae"; "api" (App-ID) is the only
 * member read; others are ignored.
 */
static int
ae_registration(const struct m2msec_http_msg *m, char **api, const char **dbg)
{
    struct m2msec_error e = { 0 };
    json_t *o = NULL;
    const json_t *ae = NULL;
    const json_t *v = NULL;
    const char *str = NULL;
    int ty2 = 0;
    int rv = 0;

    *api = NULL;
    if (m->method != M2MSEC_HTTP_POST) {
        return 0;
    }
    ty2 = content_type_is_ae(m);
    if (m->body.len == 0 || m2msec_json_parse(m->body.data, m->body.len, &o, &e) == -1) {
        if (ty2) {
            *dbg = "AE registration (ty=2) without a JSON body";
            rv = -1;
        }
        goto out;
    }
    ae = json_object_get(o, "m2m:ae");
    if (ae == NULL) {
        if (ty2) {
            *dbg = "AE registration (ty=2) without an 'm2m:ae' object";
            rv = -1;
        }
        goto out;
    }
    v = json_is_object(ae) ? json_object_get(ae, "api") : NULL;
    str = json_is_string(v) ? json_string_value(v) : NULL;
    if (str == NULL || !m2msec_apprule_pattern_valid(str) || strchr(str, '*') != NULL) {
        *dbg = "member 'm2m:ae'.'api': an App-ID (printable, no blank, ',' or '*') is required";
        rv = -1;
        goto out;
    }
    *api = m2msec_strdup(str);
    if (*api == NULL) {
        *dbg = "out of memory";
        rv = -1;
        goto out;
    }
    rv = 1;
out:
    json_decref(o);
    return rv;
}

/*
 * @spec TS-0003 8.2.1, 8.2.2.2: may origin register as an AE with App-ID api
 * on this session? 0 (allowed, recorded as the session's AE), or the
 * refusal's status with dbg written.
 */
static int
ae_register(struct m2msec_cse *s, struct cse_conn *c, const char *origin, const char *api,
            char *dbg, size_t dbgsz)
{
    char conn_s[24];
    const char *by = NULL;
    int rsc = 0;

    if (c->entity[0] != '\0' && strcmp(origin, c->entity) == 0 /* public */) {
        by = "bound_id";
    } else if (c->cert_entity) {
        rsc = M2MSEC_RSC_ORIGINATOR_NOT_AUTHENTICATED;
        (void)snprintf(dbg, dbgsz, "this session is bound to %.200s by its %s certificate",
                       c->entity, c->flavour);
    } else if (m2msec_apprule_allows(s->rules, c->cred_id, api, origin)) {
        by = "app_rule";
    } else {
        rsc = CSE_RSC_APP_RULE_VALIDATION_FAILED;
        (void)snprintf(dbg, dbgsz, "no app rule allows AE-ID %.64s with App-ID %.64s for %.100s",
                       origin, api, c->cred_id);
    }
    if (rsc == 0) {
        m2msec_strlcpy(c->ae_id, origin, sizeof(c->ae_id));
    }
    (void)snprintf(conn_s, sizeof(conn_s), "%llu", (unsigned long long)c->id);
    resolver_event(s->r, rsc == 0 ? "ae_registered" : "ae_refused", "conn", conn_s, "origin",
                   origin, "api", api, "credential", c->cred_id, "by", by, "reason",
                   rsc == 0 ? NULL : dbg, NULL);
    return rsc;
}

/*
 * Answer one request. Returns 1 to keep the connection, 0 to close it.
 * @spec TS-0003 8.2.1: the originator must be the identity the session is bound to.
 */
static int
handle_request(struct m2msec_cse *s, struct cse_conn *c, struct m2msec_tls_conn *tls,
               const struct m2msec_http_msg *m)
{
    struct m2msec_buf body;
    struct m2msec_error e = { 0 };
    const char *origin = m2msec_http_header_get(m, M2MSEC_HDR_ORIGIN);
    const char *ri = m2msec_http_header_get(m, M2MSEC_HDR_RI);
    const char *bound =
            c->entity[0] != '\0' ? c->entity : (c->cred_id[0] != '\0' ? c->cred_id : NULL);
    const char *dbg = NULL;
    char *api = NULL;
    char dbgbuf[CSE_DBG_MAX];
    char rsc_s[8];
    int keep = m->keep_alive && !atomic_load(&s->stopping);
    int rsc = M2MSEC_RSC_OK;
    int reg = 0;

    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    if (ri == NULL || strlen(ri) > CSE_RI_MAX || !m2msec_http_header_value_safe(ri)) {
        rsc = M2MSEC_RSC_BAD_REQUEST;
        dbg = "X-M2M-RI missing or longer than 128 characters";
        ri = NULL;
    } else if (origin == NULL) {
        rsc = M2MSEC_RSC_BAD_REQUEST;
        dbg = "X-M2M-Origin missing";
    } else if (bound == NULL) {
        rsc = M2MSEC_RSC_ORIGINATOR_NOT_AUTHENTICATED;
        dbg = "this session is bound to no identity";
    } else if ((reg = ae_registration(m, &api, &dbg)) != 0) {
        if (reg < 0) {
            rsc = M2MSEC_RSC_BAD_REQUEST;
        } else {
            rsc = ae_register(s, c, origin, api, dbgbuf, sizeof(dbgbuf));
            dbg = rsc != 0 ? dbgbuf : NULL;
            rsc = rsc != 0 ? rsc : M2MSEC_RSC_CREATED;
        }
    } else if (!origin_ok(c, origin)) {
        rsc = M2MSEC_RSC_ORIGINATOR_NOT_AUTHENTICATED;
        dbg = "X-M2M-Origin is not the identity this session is bound to";
    } else if (m->method != M2MSEC_HTTP_GET) {
        rsc = M2MSEC_RSC_OPERATION_NOT_ALLOWED;
        dbg = "this reference CSE answers GET and AE registrations only";
    }
    if (dbg != NULL) {
        if (m2msec_dbg_encode(dbg, &body, &e) == -1) {
            m2msec_buf_reset(&body);
        }
    } else if (session_body(s, c, bound, reg > 0 ? api : NULL, &body, &e) == -1) {
        rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        m2msec_buf_reset(&body);
    }
    (void)snprintf(rsc_s, sizeof(rsc_s), "%d", rsc);
    resolver_event(s->r, "request", "peer", c->peer, "method", m2msec_http_method_name(m->method),
                   "target", m->target, "origin", origin, "bound", bound, "rsc", rsc_s, NULL);
    if (write_response(tls, rsc, ri, &body, keep, &e) == -1) {
        keep = 0;
    }
    m2msec_free(api);
    m2msec_buf_free(&body);
    return keep;
}

/* 1 readable, 0 idle timeout or stopping, -1 error. */
static int
wait_request(struct m2msec_cse *s, struct m2msec_tls_conn *tls)
{
    struct m2msec_error e = { 0 };
    uint64_t start = m2msec_monotonic_ms();
    uint64_t elapsed = 0;
    unsigned slice = 0;
    int r = 0;

    for (;;) {
        if (atomic_load(&s->stopping)) {
            return 0;
        }
        elapsed = m2msec_monotonic_ms() - start;
        if (elapsed >= s->idle_ms) {
            return 0;
        }
        slice = (unsigned)(s->idle_ms - elapsed);
        if (slice > CSE_IDLE_SLICE_MS) {
            slice = CSE_IDLE_SLICE_MS;
        }
        r = m2msec_tls_wait_readable(tls, slice, &e);
        if (r != 0) {
            return r;
        }
    }
}

/* The request loop of one session; returns why it ended (a log value). */
static const char *
serve(struct m2msec_cse *s, struct cse_conn *c, struct m2msec_tls_conn *tls)
{
    struct m2msec_http_parser *p = NULL;
    struct m2msec_http_msg *m = NULL;
    struct m2msec_buf pending;
    struct m2msec_error e = { 0 };
    uint8_t chunk[CSE_READ_CHUNK];
    const char *why = "error";
    uint64_t started = 0;
    size_t used = 0;
    ssize_t n = 0;
    int mid = 0;
    int r = 0;

    m2msec_buf_init(&pending, CSE_PENDING_MAX);
    p = m2msec_http_parser_new(1, &e);
    if (p == NULL) {
        why = "nomem";
        goto out;
    }
    for (;;) {
        while (pending.len > 0) {
            used = 0;
            r = m2msec_http_parser_feed(p, pending.data, pending.len, &used, &e);
            if (r < 0) {
                (void)write_response(tls, e.rsc != 0 ? e.rsc : M2MSEC_RSC_BAD_REQUEST, NULL, NULL,
                                     0, &e);
                why = "bad_request";
                goto out;
            }
            m2msec_buf_consume(&pending, used > pending.len ? pending.len : used);
            if (r == 0) {
                if (used == 0) {
                    why = "parser_stalled";
                    goto out;
                }
                continue;
            }
            mid = 0;
            m = m2msec_http_parser_take(p);
            if (m == NULL) {
                why = "nomem";
                goto out;
            }
            r = handle_request(s, c, tls, m);
            m2msec_http_msg_free(m);
            m = NULL;
            if (!r) {
                why = atomic_load(&s->stopping) ? "shutdown" : "done";
                goto out;
            }
        }
        if (mid) {
            /* The whole request must arrive within io_ms, not each read. */
            if (m2msec_monotonic_ms() - started >= s->io_ms) {
                why = "request_timeout";
                goto out;
            }
            m2msec_tls_set_timeout(tls, (unsigned)(s->io_ms - (m2msec_monotonic_ms() - started)));
        } else {
            r = wait_request(s, tls);
            if (r <= 0) {
                why = r == 0 ? (atomic_load(&s->stopping) ? "shutdown" : "idle") : "read_error";
                goto out;
            }
            mid = 1;
            started = m2msec_monotonic_ms();
            m2msec_tls_set_timeout(tls, s->io_ms);
        }
        n = m2msec_tls_read(tls, chunk, sizeof(chunk), &e);
        if (n == 0) {
            why = "peer_closed";
            goto out;
        }
        if (n < 0) {
            why = e.code == M2MSEC_ERR_TIMEOUT ? "io_timeout" : "read_error";
            goto out;
        }
        if (m2msec_buf_append(&pending, chunk, (size_t)n, &e) == -1) {
            why = "too_large";
            goto out;
        }
    }
out:
    m2msec_wipe(chunk, sizeof(chunk));
    m2msec_http_msg_free(m);
    m2msec_http_parser_free(p);
    m2msec_buf_free(&pending);
    return why;
}

static void
conn_done(struct m2msec_cse *s)
{
    pthread_mutex_lock(&s->lock);
    s->nconns--;
    if (s->nconns == 0) {
        pthread_cond_broadcast(&s->drained);
    }
    pthread_mutex_unlock(&s->lock);
}

/* PSK session: bound to the peer id the key's source named, else the Credential-ID. */
static void
bind_psk(struct cse_conn *c)
{
    const char *peer_id = m2msec_psk_info_peer_id(c->info);
    const char *cred_id = m2msec_psk_info_credential_id(c->info);

    if (peer_id != NULL) {
        m2msec_strlcpy(c->entity, peer_id, sizeof(c->entity));
    }
    if (cred_id != NULL) {
        m2msec_strlcpy(c->cred_id, cred_id, sizeof(c->cred_id));
    }
}

/*
 * @spec TS-0003 8.2.2.2 certificate session: CSE-ID / AE-ID certificates bind
 * to their id, device / Node-ID / raw key certificates to their Credential-ID.
 * With flavour ANY the certificate's own kind decides, read in the order
 * AE-ID (a URI with a host and path), CSE-ID (a dNSName), Node-ID (a URN),
 * device (otherName). Returns a reason when the session cannot be bound.
 */
static const char *
bind_cert(struct cse_conn *c, struct m2msec_tls_conn *tls)
{
    static const enum m2msec_cert_flavour order[] = {
        M2MSEC_CERT_AE_ID,
        M2MSEC_CERT_CSE_ID,
        M2MSEC_CERT_NODE_ID,
        M2MSEC_CERT_DEVICE,
    };
    struct m2msec_error e = { 0 };
    enum m2msec_cert_flavour f = M2MSEC_CERT_UNSET;
    const char *id = m2msec_tls_peer_identity(tls, &f);
    char buf[M2MSEC_CERT_CRED_ID_MAX];

    c->cert = 1;
    if (id == NULL) {
        for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && id == NULL; i++) {
            if (m2msec_tls_peer_identity_of(tls, order[i], buf, sizeof(buf), &e) == 0) {
                f = order[i];
                id = buf;
            }
        }
    }
    if (id == NULL) {
        return "the certificate carries no CSE-ID, AE-ID, Node-ID or device identifier";
    }
    c->flavour = client_cert_flavour_name(f);
    if (m2msec_tls_peer_credential_id(tls, f, c->cred_id, sizeof(c->cred_id), &e) == -1) {
        return "no Credential-ID for the certificate";
    }
    if (f == M2MSEC_CERT_CSE_ID || f == M2MSEC_CERT_AE_ID) {
        m2msec_strlcpy(c->entity, id, sizeof(c->entity));
        c->cert_entity = 1;
    }
    return NULL;
}

static void
serve_conn(struct cse_conn *c)
{
    struct m2msec_cse *s = c->s;
    struct m2msec_tls_conn *tls = NULL;
    struct m2msec_error e = { 0 };
    const char *why = NULL;
    const char *identity = NULL;
    char conn_s[24];

    (void)snprintf(conn_s, sizeof(conn_s), "%llu", (unsigned long long)c->id);
    if (s->cert_tls != NULL) {
        tls = m2msec_tls_accept_cert(s->cert_tls, c->fd, c, s->io_ms, &e);
    } else {
        tls = m2msec_tls_accept(s->tls, c->fd, c, s->io_ms, &e);
    }
    c->fd = -1; /* owned by the TLS layer from here on */
    if (tls == NULL) {
        identity = m2msec_psk_info_key_id(c->info);
        resolver_event(s->r, "handshake_failed", "conn", conn_s, "peer", c->peer, "identity",
                       identity != NULL && identity[0] != '\0' ? identity : NULL, "error", e.msg,
                       NULL);
        goto out;
    }
    m2msec_strlcpy(c->peer, m2msec_tls_peer(tls), sizeof(c->peer));
    identity = m2msec_tls_psk_identity(tls);
    if (identity != NULL) {
        if (!c->resolved) {
            /* Cannot happen: a refused identity fails the handshake. */
            why = "unbound";
            goto out;
        }
        bind_psk(c);
    } else {
        why = bind_cert(c, tls);
        if (why != NULL) {
            resolver_event(s->r, "session_refused", "conn", conn_s, "peer", c->peer, "reason", why,
                           NULL);
            goto out;
        }
        identity = m2msec_tls_peer_identity(tls, NULL);
    }
    resolver_event(s->r, "session", "conn", conn_s, "peer", c->peer, "identity", identity, "sni",
                   m2msec_tls_sni(tls), "bound", c->entity[0] != '\0' ? c->entity : c->cred_id,
                   "suite", m2msec_tls_cipher(tls), "credential", c->cred_id, "flavour",
                   c->cert ? c->flavour : "psk", NULL);
    why = serve(s, c, tls);
    if (resolver_debug_events(s->r)) {
        resolver_event(s->r, "session_closed", "conn", conn_s, "reason", why, NULL);
    }
out:
    if (tls != NULL) {
        (void)m2msec_tls_close(tls);
        m2msec_tls_conn_free(tls);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    m2msec_psk_info_free(c->info);
    m2msec_free(c);
    conn_done(s);
}

/*
 * A connection thread: serves its first connection, then whatever the
 * acceptor queues for it, until it has been idle CSE_THREAD_IDLE_MS or the
 * server stops. Its last touch of s is under s->lock.
 */
static void *
worker_main(void *arg)
{
    struct cse_conn *c = arg;
    struct m2msec_cse *s = c->s;

    for (;;) {
        struct timespec until;
        int rc = 0;

        serve_conn(c);
        c = NULL;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += CSE_THREAD_IDLE_MS / 1000u;
        pthread_mutex_lock(&s->lock);
        s->nidle++;
        while (s->queue_head == NULL && !atomic_load(&s->stopping) && rc == 0) {
            rc = pthread_cond_timedwait(&s->work, &s->lock, &until);
        }
        /* A queued connection was counted out of nidle by the acceptor; leaving is not. */
        if (s->queue_head != NULL) {
            c = s->queue_head;
            s->queue_head = c->next;
            if (s->queue_head == NULL) {
                s->queue_tail = NULL;
            }
            c->next = NULL;
        }
        if (c == NULL) {
            s->nidle--;
            s->nthreads--;
            if (s->nthreads == 0) {
                pthread_cond_broadcast(&s->drained);
            }
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
        pthread_mutex_unlock(&s->lock);
    }
}

/* Hand an accepted socket to a new thread, or close it when over the cap. */
static void
dispatch(struct m2msec_cse *s, int fd, uint64_t id)
{
    struct cse_conn *c = NULL;
    pthread_attr_t attr;
    pthread_t t;
    int admitted = 0;

    pthread_mutex_lock(&s->lock);
    if (s->nconns < s->max_conns) {
        s->nconns++;
        admitted = 1;
    }
    pthread_mutex_unlock(&s->lock);
    if (!admitted) {
        resolver_event(s->r, "conn_refused", "reason", "too_many_connections", NULL);
        close(fd);
        return;
    }
    c = m2msec_calloc(1, sizeof(*c));
    if (c == NULL || (c->info = m2msec_psk_info_new()) == NULL) {
        m2msec_free(c);
        close(fd);
        conn_done(s);
        return;
    }
    c->s = s;
    c->fd = fd;
    c->id = id;
    m2msec_strlcpy(c->peer, "?", sizeof(c->peer));
    if (pthread_attr_init(&attr) != 0) {
        m2msec_psk_info_free(c->info);
        m2msec_free(c);
        close(fd);
        conn_done(s);
        return;
    }
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&s->lock);
    if (s->nidle > 0) {
        /* An idle thread takes it (each idle thread waits for exactly one). */
        if (s->queue_tail != NULL) {
            s->queue_tail->next = c;
        } else {
            s->queue_head = c;
        }
        s->queue_tail = c;
        s->nidle--;
        pthread_cond_signal(&s->work);
        c = NULL;
    } else {
        s->nthreads++;
    }
    pthread_mutex_unlock(&s->lock);
    if (c != NULL && pthread_create(&t, &attr, worker_main, c) != 0) {
        pthread_mutex_lock(&s->lock);
        s->nthreads--;
        pthread_mutex_unlock(&s->lock);
        m2msec_psk_info_free(c->info);
        m2msec_free(c);
        close(fd);
        conn_done(s);
    }
    pthread_attr_destroy(&attr);
}

static void *
accept_main(void *arg)
{
    struct m2msec_cse *s = arg;
    struct m2msec_error e = { 0 };
    struct timespec backoff = { 0, 50000000L }; /* after a failed accept (EMFILE...) */
    uint64_t last_sweep = m2msec_monotonic_ms();
    uint64_t id = 0;
    int fd = -1;

    while (!atomic_load(&s->stopping)) {
        if (m2msec_monotonic_ms() - last_sweep >= CSE_SWEEP_INTERVAL_MS) {
            /* Expired keys are erased even when nobody presents them again. */
            (void)m2msec_resolver_sweep(s->r, NULL);
            last_sweep = m2msec_monotonic_ms();
        }
        m2msec_error_clear(&e);
        fd = m2msec_tcp_accept(s->lfd, CSE_ACCEPT_SLICE_MS, &e);
        if (fd == -2) {
            continue;
        }
        if (fd < 0) {
            resolver_event(s->r, "accept_failed", "error", e.msg, NULL);
            (void)nanosleep(&backoff, NULL);
            continue;
        }
        atomic_fetch_add(&s->served, 1);
        dispatch(s, fd, ++id);
    }
    return NULL;
}

/*
 * The TLS server: PSK only, or with a certificate (or raw key) of Entity B a
 * certificate server requiring client certificates verified against the
 * configured client information, which also takes PSK clients through the
 * same resolver (TS-0003 8.2.2.1 / 8.2.2.3 beside 8.2.2.2).
 */
static int
make_tls(struct m2msec_cse *s)
{
    struct m2msec_tls_cert_opts o;
    enum m2msec_cert_flavour f = s->client_flavour;

    if (s->key_file == NULL) {
        if (s->nca > 0 || s->nrawpk > 0 || s->ncrl > 0 || f != M2MSEC_CERT_UNSET) {
            return m2msec_error_setx(&s->err, M2MSEC_ERR_INVALID_STATE,
                                     "client certificates need Entity B's own certificate and "
                                     "key (m2msec_cse_set_cert)");
        }
        s->tls = m2msec_tls_server_new_psk(psk_lookup, s, &s->err);
        return s->tls != NULL ? 0 : -1;
    }
    if (f == M2MSEC_CERT_UNSET) {
        f = s->nrawpk > 0 ? M2MSEC_CERT_RAW : M2MSEC_CERT_ANY;
    }
    /* One flavour per server (x509.h): raw keys are not mixed with anchors. */
    if (f == M2MSEC_CERT_RAW ? (s->nrawpk == 0 || s->nca > 0 || s->ncrl > 0)
                             : (s->nca == 0 || s->nrawpk > 0)) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_INVALID_STATE,
                                 "certificate clients need trust anchors (client CAs), or for raw "
                                 "public keys their identifiers and nothing else");
    }
    memset(&o, 0, sizeof(o));
    o.cert_file = s->cert_file;
    o.key_file = s->key_file;
    o.require_client_cert = 1;
    o.client.flavour = f;
    o.client.ca_files = (const char *const *)s->client_ca;
    o.client.n_ca_files = s->nca;
    o.client.crl_files = (const char *const *)s->client_crl;
    o.client.n_crl_files = s->ncrl;
    if (f == M2MSEC_CERT_RAW) {
        o.client.id = s->client_rawpk[0];
        o.client.ids = (const char *const *)&s->client_rawpk[1];
        o.client.n_ids = s->nrawpk - 1;
    }
    o.psk_lookup = psk_lookup;
    o.psk_arg = s;
    s->cert_tls = m2msec_tls_cert_server_new(&o, &s->err);
    return s->cert_tls != NULL ? 0 : -1;
}

M2MSEC_API int
m2msec_cse_start(struct m2msec_cse *s, const char *addr)
{
    int rv = -1;

    m2msec_error_clear(&s->err);
    if (s->running) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_INVALID_STATE, "server already started");
    }
    if (addr == NULL) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_INVALID_ARGUMENT, "no listen address");
    }
    if (resolver_cse_id(s->r) == NULL) {
        return m2msec_error_setx(&s->err, M2MSEC_ERR_INVALID_STATE,
                                 "the resolver has no CSE-ID (m2msec_resolver_set_cse_id)");
    }
    if (m2msec_tls_global_init(&s->err) == -1) {
        goto out;
    }
    if (s->tls == NULL && s->cert_tls == NULL && make_tls(s) == -1) {
        goto out;
    }
    s->lfd = m2msec_tcp_listen(addr, CSE_BACKLOG, s->addr, sizeof(s->addr), &s->err);
    if (s->lfd < 0) {
        s->lfd = -1;
        goto out;
    }
    atomic_store(&s->stopping, 0);
    if (pthread_create(&s->acceptor, NULL, accept_main, s) != 0) {
        m2msec_error_setx(&s->err, M2MSEC_ERR_NOMEM, "cannot start the listener thread");
        close(s->lfd);
        s->lfd = -1;
        goto out;
    }
    s->running = 1;
    resolver_event(s->r, "listening", "addr", s->addr, "cse", resolver_cse_id(s->r), NULL);
    rv = 0;
out:
    return rv;
}

M2MSEC_API void
m2msec_cse_stop(struct m2msec_cse *s)
{
    if (s == NULL || !s->running) {
        return;
    }
    atomic_store(&s->stopping, 1);
    (void)pthread_join(s->acceptor, NULL);
    close(s->lfd);
    s->lfd = -1;
    /* Sessions notice within one idle slice; a handshake within its deadline. */
    pthread_mutex_lock(&s->lock);
    while (s->nconns > 0) {
        pthread_cond_wait(&s->drained, &s->lock);
    }
    /* Then the idle threads: woken by stopping, they leave. */
    pthread_cond_broadcast(&s->work);
    while (s->nthreads > 0) {
        pthread_cond_wait(&s->drained, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    s->running = 0;
    resolver_event(s->r, "stopped", "addr", s->addr, NULL);
}
