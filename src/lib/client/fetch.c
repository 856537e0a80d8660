/*
 * client/fetch.c - the Enrolment Target's fetchCredentials client.
 *
 * Layer: client. Composes tls (certificate or PSK client sessions), http,
 * codec (m2msec_fetch_resp) and the bounded response reader of session.c.
 * Used by mafd (Km, SUID 21) and by Entity B's resolver (Kpsa, SUID 22), so
 * both fetch the same way: one request per connection, the RI echo checked,
 * the body decoded strictly, the read buffer wiped (it held a key).
 *
 * @spec TS-0003 8.3.2.1 "Use of Remotely Provisioned Credential": the target
 * authenticates to the MEF with its own credentials. m2msec offers mutual TLS
 * with the target's FQDN certificate (TS-0003 10.2.3 suites) or TLS 1.2 PSK
 * with a key configured for the target at the MEF (10.2.2 suites).
 */
#include <stdio.h>
#include <string.h>

#include "client/client_int.h"
#include "client/fetch.h"
#include "codec/mef_msg.h"
#include "crypto/rand.h"
#include "http/http.h"
#include "proto/ids.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"

/* @spec TS-0003 8.3.2.1 the target URI of the fetch request, as the clause names it */
#define FETCH_TARGET "/fetchCredentials/"
#define SUID_MAX     999u

static char h_origin[] = M2MSEC_HDR_ORIGIN;
static char h_ri[] = M2MSEC_HDR_RI;
static char h_rvi[] = M2MSEC_HDR_RVI;
static char v_rvi[] = M2MSEC_RVI;

/* Open the session with whichever credential the options carry. */
static struct m2msec_tls_conn *
fetch_connect(const struct client_fetch_opts *o, struct m2msec_error *err)
{
    const char *anchors[1] = { o->ca_file };
    struct m2msec_tls_cert_client co;
    struct m2msec_tls_psk_client po;

    if (o->psk != NULL) {
        memset(&po, 0, sizeof(po));
        po.hostport = o->hostport;
        po.sni = o->mef_fqdn;
        po.identity = o->psk_id;
        po.psk = o->psk;
        po.timeout_ms = o->timeout_ms;
        return m2msec_tls_connect_psk(&po, err);
    }
    memset(&co, 0, sizeof(co));
    co.hostport = o->hostport;
    co.sni = o->mef_fqdn;
    co.cert_file = o->cert_file;
    co.key_file = o->key_file;
    co.server.flavour = M2MSEC_CERT_FQDN;
    co.server.id = o->mef_fqdn;
    co.server.ca_files = anchors;
    co.server.n_ca_files = 1;
    co.timeout_ms = o->timeout_ms;
    return m2msec_tls_connect_cert(&co, err);
}

static int
opts_valid(const struct client_fetch_opts *o, const char *keid, unsigned suid,
           struct m2msec_error *err)
{
    if (o == NULL || o->hostport == NULL || o->mef_fqdn == NULL || o->origin == NULL ||
        keid == NULL || strlen(keid) > M2MSEC_KEID_MAX || suid > SUID_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "fetchCredentials needs the MEF, its FQDN, our id and a KeID");
    }
    if (o->psk != NULL ? o->psk_id == NULL || o->cert_file != NULL
                       : o->cert_file == NULL || o->key_file == NULL || o->ca_file == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "fetchCredentials needs a certificate, its key and the MEF's "
                                 "trust anchor, or a PSK identity and key");
    }
    return 0;
}

int
client_fetch_credentials(const struct client_fetch_opts *o, const char *keid, unsigned suid,
                         struct m2msec_fetch_resp *out, struct m2msec_error *err)
{
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_http_header hdrs[3];
    struct m2msec_buf req;
    char target[sizeof(FETCH_TARGET) + M2MSEC_KEID_MAX + 8];
    char origin[M2MSEC_ID_MAX + 1];
    char ri[33];
    const char *ri_s = NULL;
    const char *rsc_s = NULL;
    uint64_t rsc = 0;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    m2msec_buf_init(&req, M2MSEC_HTTP_MAX_HEADER_BYTES);
    if (opts_valid(o, keid, suid, err) == -1) {
        goto out;
    }
    (void)snprintf(target, sizeof(target), "%s%s/%u", FETCH_TARGET, keid, suid);
    if (m2msec_strlcpy(origin, o->origin, sizeof(origin)) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "target id longer than %d bytes",
                          M2MSEC_ID_MAX);
        goto out;
    }
    if (m2msec_rand_hex(ri, 16, err) == -1 || m2msec_tls_global_init(err) == -1) {
        goto out;
    }
    hdrs[0] = (struct m2msec_http_header){ .name = h_origin, .value = origin };
    hdrs[1] = (struct m2msec_http_header){ .name = h_ri, .value = ri };
    hdrs[2] = (struct m2msec_http_header){ .name = h_rvi, .value = v_rvi };
    c = fetch_connect(o, err);
    if (c == NULL ||
        m2msec_http_write_request(&req, M2MSEC_HTTP_GET, target, o->mef_fqdn, hdrs, 3, NULL, 0,
                                  err) == -1 ||
        m2msec_tls_write_all(c, req.data, req.len, err) == -1 ||
        client_read_response(c, &resp, err) == -1) {
        goto out;
    }
    ri_s = m2msec_http_header_get(resp, M2MSEC_HDR_RI);
    if (ri_s == NULL || strcmp(ri_s, ri) != 0 /* public */) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "MEF response X-M2M-RI does not echo ours");
        goto out;
    }
    rsc_s = m2msec_http_header_get(resp, M2MSEC_HDR_RSC);
    if (rsc_s == NULL || m2msec_parse_u64(rsc_s, strlen(rsc_s), 9999, &rsc) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "MEF response without a valid X-M2M-RSC");
        goto out;
    }
    if (m2msec_fetch_resp_decode(resp->body.data, resp->body.len, out, err) == -1) {
        /*
         * A refusal whose body is not table 8.3.2.1-6 (e.g. a 4000 of the
         * server's own checks) is still the MEF's refusal; a 2000 we cannot
         * decode is a protocol error.
         */
        if (rsc != M2MSEC_RSC_OK) {
            m2msec_error_setr(err, M2MSEC_ERR_REFUSED, (int)rsc, "MEF answered %d", (int)rsc);
        } else {
            m2msec_error_wrap(err, "MEF answered %d", (int)rsc);
        }
        goto out;
    }
    if (rsc != M2MSEC_RSC_OK || !out->status) {
        m2msec_error_setr(err, M2MSEC_ERR_REFUSED, (int)rsc, "MEF answered %d: %s", (int)rsc,
                          out->error_string != NULL ? out->error_string : "(no detail)");
        goto out;
    }
    rv = 0;
out:
    if (rv == -1) {
        m2msec_fetch_resp_clear(out);
    }
    if (resp != NULL) {
        m2msec_wipe(resp->body.data, resp->body.len);
    }
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&req);
    if (c != NULL) {
        (void)m2msec_tls_close(c);
        m2msec_tls_conn_free(c);
    }
    return rv;
}
