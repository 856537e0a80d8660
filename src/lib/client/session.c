/*
 * client/session.c - an authenticated HTTP session with the MEF.
 *
 * Layer: client. One TLS 1.2 connection: PSK with psk_identity = KpmID
 * (PPSK RSPF, TS-0003 8.3.2.1), or mutual certificates (certificate RSPF,
 * 8.3.2.2); requests framed by http/, every response checked for
 * X-M2M-RSC and an echoed X-M2M-RI before its body is looked at.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client/client_int.h"
#include "crypto/rand.h"
#include "tls/x509.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"

#define READ_CHUNK 4096

/* Header names and fixed values as mutable arrays (struct m2msec_http_header is not const). */
static char h_origin[] = M2MSEC_HDR_ORIGIN;
static char h_ri[] = M2MSEC_HDR_RI;
static char h_rvi[] = M2MSEC_HDR_RVI;
static char h_accept[] = "Accept";
static char h_ctype[] = "Content-Type";
static char v_rvi[] = M2MSEC_RVI;
static char v_json[] = "application/json";

void
client_step(struct m2msec_client *c, const char *step, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    if (c->step_cb == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    c->step_cb(c->step_arg, step, detail);
}

static int
is_ip_literal(const char *host)
{
    return strchr(host, ':') != NULL || strspn(host, "0123456789.") == strlen(host);
}

/*
 * @spec TS-0003 8.3.2.2 the certificate Bootstrap Security Handshake: our
 * certificate to the MEF, the MEF's FQDN certificate (8.1.2.1) checked
 * against the configured anchors and the name we expect (8.1.2.5), the
 * 10.2.3 suites. s->host is the MEF name already.
 */
static int
session_open_cert(struct m2msec_client *c, struct client_session *s, struct m2msec_error *err)
{
    const struct m2msec_config *cfg = c->cfg;
    struct m2msec_tls_cert_client o;
    const char *cas[1];
    char key_id[M2MSEC_NI_SHA256_LEN];

    if (cfg->mef_ca == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "the MEF's trust anchors must be configured with the certificate");
    }
    if (is_ip_literal(s->host)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "the MEF's certificate names an FQDN: configure the server name");
    }
    /*
     * @spec TS-0003 10.4: before the MEF tells us our Enrolee-ID we name
     * ourselves by the Credential-ID of our certificate's public key.
     */
    if (m2msec_x509_key_id_file(cfg->cert_file, key_id, sizeof(key_id), err) == -1 ||
        m2msec_credential_id_format(M2MSEC_CRED_RAW_PK, key_id, s->origin, sizeof(s->origin),
                                    err) == -1) {
        return -1;
    }
    memset(&o, 0, sizeof(o));
    cas[0] = cfg->mef_ca;
    o.hostport = cfg->mef;
    o.sni = s->host;
    o.cert_file = cfg->cert_file;
    o.key_file = cfg->key_file;
    o.server.flavour = M2MSEC_CERT_FQDN;
    o.server.id = s->host;
    o.server.ca_files = cas;
    o.server.n_ca_files = 1;
    o.timeout_ms = cfg->timeout_ms;
    client_step(c, "connect", "TLS 1.2 certificate to %s as %s, expecting MEF %s", cfg->mef,
                cfg->cert_file, s->host);
    if (m2msec_tls_global_init(err) == -1) {
        return -1;
    }
    s->tls = m2msec_tls_connect_cert(&o, err);
    if (s->tls == NULL) {
        if (m2msec_error_code(err) == M2MSEC_ERR_AUTH) {
            m2msec_error_wrap(err, "MEF certificate handshake refused");
        }
        return -1;
    }
    client_step(c, "handshake", "established, suite %s", m2msec_tls_cipher(s->tls));
    return 0;
}

int
client_session_open(struct m2msec_client *c, struct client_session *s, struct m2msec_error *err)
{
    const struct m2msec_config *cfg = c->cfg;
    struct m2msec_tls_psk_client o = { 0 };
    char port[16];

    memset(s, 0, sizeof(*s));
    if (cfg->mef != NULL && cfg->cert_file != NULL && cfg->kpm_id == NULL) {
        if (m2msec_hostport_split(cfg->mef, s->host, sizeof(s->host), port, sizeof(port), err) ==
            -1) {
            return -1;
        }
        if (cfg->sni != NULL) {
            m2msec_strlcpy(s->host, cfg->sni, sizeof(s->host));
        }
        return session_open_cert(c, s, err);
    }
    if (cfg->cert_file != NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "configure either a Kpm or a certificate, not both");
    }
    if (cfg->mef == NULL || cfg->kpm_id == NULL || cfg->kpm == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "MEF address and Kpm/KpmID (or a certificate) must be configured");
    }
    if (m2msec_hostport_split(cfg->mef, s->host, sizeof(s->host), port, sizeof(port), err) == -1) {
        return -1;
    }
    if (cfg->sni != NULL) {
        m2msec_strlcpy(s->host, cfg->sni, sizeof(s->host));
    }
    /* @spec TS-0003 10.4: Credential-ID of a Kpm is "10-<KpmID>"; it names us as originator. */
    if (m2msec_credential_id_format(M2MSEC_CRED_KPM, cfg->kpm_id, s->origin, sizeof(s->origin),
                                    err) == -1) {
        return -1;
    }
    o.hostport = cfg->mef;
    o.sni = is_ip_literal(s->host) ? NULL : s->host;
    o.identity = cfg->kpm_id;
    o.psk = cfg->kpm;
    o.timeout_ms = cfg->timeout_ms;
    client_step(c, "connect", "TLS 1.2 PSK to %s as KpmID %s", cfg->mef, cfg->kpm_id);
    if (m2msec_tls_global_init(err) == -1) {
        return -1;
    }
    s->tls = m2msec_tls_connect_psk(&o, err);
    if (s->tls == NULL) {
        if (m2msec_error_code(err) == M2MSEC_ERR_AUTH) {
            m2msec_error_wrap(err, "MEF handshake refused (unknown KpmID or wrong Kpm)");
        }
        return -1;
    }
    client_step(c, "handshake", "established, suite %s", m2msec_tls_cipher(s->tls));
    return 0;
}

void
client_session_close(struct client_session *s)
{
    if (s->tls != NULL) {
        m2msec_tls_close(s->tls);
        m2msec_tls_conn_free(s->tls);
    }
    memset(s, 0, sizeof(*s));
}

int
client_read_response(struct m2msec_tls_conn *c, struct m2msec_http_msg **out,
                     struct m2msec_error *err)
{
    struct m2msec_http_parser *p = NULL;
    uint8_t buf[READ_CHUNK];
    int rv = -1, done = 0;

    *out = NULL;
    p = m2msec_http_parser_new(0, err);
    if (p == NULL) {
        return -1;
    }
    while (!done) {
        ssize_t n = m2msec_tls_read(c, buf, sizeof(buf), err);
        size_t used = 0;

        if (n < 0) {
            goto out;
        }
        if (n == 0) {
            done = m2msec_http_parser_finish(p, err);
            if (done != 1) {
                if (done == 0) {
                    m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                      "server closed the connection without a response");
                }
                goto out;
            }
            break;
        }
        done = m2msec_http_parser_feed(p, buf, (size_t)n, &used, err);
        if (done == -1) {
            m2msec_error_wrap(err, "malformed response");
            goto out;
        }
    }
    *out = m2msec_http_parser_take(p);
    if (*out == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    rv = 0;
out:
    m2msec_wipe(buf, sizeof(buf));
    m2msec_http_parser_free(p);
    return rv;
}

int
client_roundtrip(struct client_session *s, enum m2msec_http_method method, const char *target,
                 const struct m2msec_buf *body, int expect_rsc, struct m2msec_http_msg **resp,
                 struct m2msec_error *err)
{
    struct m2msec_buf req;
    struct m2msec_http_msg *m = NULL;
    struct m2msec_http_header hdrs[5];
    char ri[33];
    const char *rsc_s, *ri_s;
    uint64_t rsc = 0;
    size_t nh = 0;
    int rv = -1;

    *resp = NULL;
    m2msec_buf_init(&req, M2MSEC_HTTP_MAX_HEADER_BYTES + M2MSEC_HTTP_MAX_BODY);
    if (m2msec_rand_hex(ri, 16, err) == -1) {
        goto out;
    }
    hdrs[nh++] = (struct m2msec_http_header){ h_origin, s->origin };
    hdrs[nh++] = (struct m2msec_http_header){ h_ri, ri };
    hdrs[nh++] = (struct m2msec_http_header){ h_rvi, v_rvi };
    hdrs[nh++] = (struct m2msec_http_header){ h_accept, v_json };
    if (body != NULL && body->len > 0) {
        hdrs[nh++] = (struct m2msec_http_header){ h_ctype, v_json };
    }
    if (m2msec_http_write_request(&req, method, target, s->host, hdrs, nh,
                                  body != NULL ? body->data : NULL, body != NULL ? body->len : 0,
                                  err) == -1 ||
        m2msec_tls_write_all(s->tls, req.data, req.len, err) == -1 ||
        client_read_response(s->tls, &m, err) == -1) {
        goto out;
    }
    rsc_s = m2msec_http_header_get(m, M2MSEC_HDR_RSC);
    ri_s = m2msec_http_header_get(m, M2MSEC_HDR_RI);
    if (rsc_s == NULL || m2msec_parse_u64(rsc_s, strlen(rsc_s), 9999, &rsc) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "response without a valid X-M2M-RSC");
        goto out;
    }
    if (ri_s == NULL || strcmp(ri_s, ri) != 0 /* public */) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "response X-M2M-RI does not echo the request");
        goto out;
    }
    if ((int)rsc != expect_rsc) {
        char *dbg = NULL;

        if (m->body.len > 0) {
            struct m2msec_error derr = { 0 };

            (void)m2msec_dbg_decode(m->body.data, m->body.len, &dbg, &derr);
        }
        m2msec_error_setr(err, M2MSEC_ERR_REFUSED, (int)rsc, "%s %s answered %d: %s",
                          m2msec_http_method_name(method), target, (int)rsc,
                          dbg != NULL ? dbg : "(no detail)");
        m2msec_free(dbg);
        goto out;
    }
    *resp = m;
    m = NULL;
    rv = 0;
out:
    m2msec_http_msg_free(m);
    m2msec_buf_free(&req);
    return rv;
}
