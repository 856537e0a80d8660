/*
 * mafd/fetch.c - the MAF as Enrolment Target: fetchCredentials from a MEF.
 *
 * Layer: daemon (mafd). Runs inside the PSK lookup of a client's handshake
 * (the worker blocks; other connections are served by other workers). One
 * request per connection: mutual TLS with the MAF's FQDN certificate, the
 * MEF verified against mef_ca with its FQDN, then GET
 * /fetchCredentials/<KeID>/21 with X-M2M-Origin = the MAF FQDN (the target id
 * the MEF is configured with).
 */
#include <stdio.h>
#include <string.h>

#include "client/client_int.h"
#include "codec/mef_msg.h"
#include "crypto/rand.h"
#include "http/http.h"
#include "mafd.h"
#include "proto/ids.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"

#define FETCH_SUID   "21"
#define FETCH_TARGET "/fetchCredentials/"

static char h_origin[] = M2MSEC_HDR_ORIGIN;
static char h_ri[] = M2MSEC_HDR_RI;
static char h_rvi[] = M2MSEC_HDR_RVI;
static char v_rvi[] = M2MSEC_RVI;

void
mafd_fetched_clear(struct mafd_fetched *f)
{
    m2msec_secret_free(f->km);
    m2msec_free(f->enrolee_id);
    memset(f, 0, sizeof(*f));
}

int
mafd_fetch_km(const struct mafd_dir *d, const struct mafd_mef *mef, const char *keid,
              struct mafd_fetched *out, struct m2msec_error *err)
{
    const char *anchors[1] = { d->mef_ca };
    struct m2msec_tls_cert_client o;
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_fetch_resp fr = { 0 };
    struct m2msec_http_header hdrs[3];
    struct m2msec_buf req;
    char target[sizeof(FETCH_TARGET) + M2MSEC_KEID_MAX + 4];
    char origin[M2MSEC_FQDN_MAX + 1];
    char ri[33];
    const char *ri_s = NULL;
    const char *rsc_s = NULL;
    uint64_t rsc = 0;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    memset(&o, 0, sizeof(o));
    m2msec_buf_init(&req, M2MSEC_HTTP_MAX_HEADER_BYTES);
    snprintf(target, sizeof(target), "%s%s/%s", FETCH_TARGET, keid, FETCH_SUID);
    m2msec_strlcpy(origin, d->cfg.fqdn, sizeof(origin));
    if (m2msec_rand_hex(ri, 16, err) == -1) {
        goto out;
    }
    /* @spec TS-0003 8.3.2.1: the target authenticates to the MEF with its certificate. */
    o.hostport = mef->hostport;
    o.sni = mef->fqdn;
    o.cert_file = d->cfg.cert_path;
    o.key_file = d->cfg.key_path;
    o.server.flavour = M2MSEC_CERT_FQDN;
    o.server.id = mef->fqdn;
    o.server.ca_files = anchors;
    o.server.n_ca_files = 1;
    o.timeout_ms = d->cfg.io_timeout_ms;
    hdrs[0] = (struct m2msec_http_header){ .name = h_origin, .value = origin };
    hdrs[1] = (struct m2msec_http_header){ .name = h_ri, .value = ri };
    hdrs[2] = (struct m2msec_http_header){ .name = h_rvi, .value = v_rvi };
    c = m2msec_tls_connect_cert(&o, err);
    if (c == NULL ||
        m2msec_http_write_request(&req, M2MSEC_HTTP_GET, target, mef->fqdn, hdrs, 3, NULL, 0,
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
    if (m2msec_fetch_resp_decode(resp->body.data, resp->body.len, &fr, err) == -1) {
        m2msec_error_wrap(err, "MEF answered %d", (int)rsc);
        goto out;
    }
    if (rsc != M2MSEC_RSC_OK || !fr.status) {
        m2msec_error_setr(err, M2MSEC_ERR_REFUSED, (int)rsc, "MEF answered %d: %s", (int)rsc,
                          fr.error_string != NULL ? fr.error_string : "(no detail)");
        goto out;
    }
    out->km = fr.credential;
    fr.credential = NULL;
    out->enrolee_id = fr.enrolee_id;
    fr.enrolee_id = NULL;
    out->lifetime = fr.lifetime;
    rv = 0;
out:
    m2msec_fetch_resp_clear(&fr);
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
