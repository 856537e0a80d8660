/*
 * client/bootstrap.c - the PKI-based bootstrap of seed 002, field node side.
 *
 * Layer: client. @spec seed 002 x.1.2.1.2: mutual-certificate TLS 1.2 with
 * the infrastructure node (the MEF), whose FQDN certificate is verified
 * against the configured anchors and name (step 2.1, 2.4.1: the session is
 * the MEF's); RootCredentialWrapKey exported (step 3); the wrapped root
 * credential received (step 4), its RFC 3394 integrity check verified, and
 * the credential stored sealed in the device state. Nothing is stored when
 * any check fails.
 */
#include <stdio.h>
#include <string.h>

#include "client/bootstrap.h"
#include "client/client_int.h"
#include "crypto/kdf.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define BOOT_TARGET "/" M2MSEC_PATH_MEF_BASE "/" M2MSEC_PATH_BOOTSTRAP

struct client_root {
    char *id;
    char *purpose;
    char *enrolee_id;
    char *node;
    char *wrapped_b64;
    int64_t expires;
    char kcv[M2MSEC_KCV_HEX_LEN];
};

void
client_root_free(struct client_root *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->id);
    m2msec_free(r->purpose);
    m2msec_free(r->enrolee_id);
    m2msec_free(r->node);
    m2msec_free(r->wrapped_b64);
    m2msec_free(r);
}

/* The response's checks beyond the decoder's: the identifier names the MEF we verified. */
static int
boot_verify(const struct client_session *s, const struct m2msec_boot_resp *rs,
            struct m2msec_error *err)
{
    struct m2msec_keid id;

    if (m2msec_keid_parse(rs->root_id, &id, err) == -1 || !m2msec_fqdn_equal(id.fqdn, s->host)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "rootCredID '%s' does not name the MEF %s", rs->root_id, s->host);
    }
    if (rs->lifetime <= m2msec_now()) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "the root credential's lifetime is in the past");
    }
    return 0;
}

static int
do_bootstrap(struct m2msec_client *c, struct m2msec_error *err)
{
    const struct m2msec_config *cfg = c->cfg;
    struct client_session s = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_boot_resp rs = { 0 };
    struct m2msec_secret *wrap = NULL;
    struct m2msec_secret *key = NULL;
    struct m2msec_dev_root_rec keep = { 0 };
    struct client_root *r = NULL;
    struct m2msec_buf body;
    uint8_t exported[M2MSEC_ROOT_WRAP_KEY_LEN];
    char mef[320];
    int rv = -1;

    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    if (cfg->cert_file == NULL || cfg->mef == NULL || cfg->state_dir == NULL ||
        cfg->kpm_id != NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                          "the PKI bootstrap needs a certificate (no Kpm), the MEF's anchors, "
                          "the MEF address and a state directory");
        goto out;
    }
    if (c->db == NULL) {
        c->db = client_state_open(cfg->state_dir, 1, err);
        if (c->db == NULL) {
            goto out;
        }
    }
    /* @spec seed 002 x.1.2.1.2 steps 1 and 2 (TLS 1.2, both certificates verified). */
    if (client_session_open(c, &s, err) == -1) {
        goto out;
    }
    /* @spec seed 002 x.1.2.1.2 step 3: RootCredentialWrapKey (label and length: PROTOCOL.md 13). */
    if (m2msec_tls_export(s.tls, M2MSEC_LABEL_ROOT_WRAP, exported, sizeof(exported), err) == -1 ||
        (wrap = m2msec_secret_from(exported, sizeof(exported), err)) == NULL ||
        m2msec_buf_append(&body, "{}", 2, err) == -1) {
        goto out;
    }
    client_step(c, "bootstrap", "POST %s as %s", BOOT_TARGET, s.origin);
    if (client_roundtrip(&s, M2MSEC_HTTP_POST, BOOT_TARGET, &body, M2MSEC_RSC_CREATED, &resp,
                         err) == -1 ||
        m2msec_boot_resp_decode(resp->body.data, resp->body.len, &rs, err) == -1 ||
        boot_verify(&s, &rs, err) == -1) {
        goto out;
    }
    /* @spec seed 002 x.1.2.1.2 step 4: only the exported key opens it (RFC 3394 check). */
    if (m2msec_boot_unwrap(wrap, &rs, &key, err) == -1) {
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL || (r->id = m2msec_strdup(rs.root_id)) == NULL ||
        (r->purpose = m2msec_strdup(rs.purpose)) == NULL ||
        (r->enrolee_id = m2msec_strdup(rs.enrolee_id)) == NULL ||
        (r->node = m2msec_strdup(rs.node_id)) == NULL ||
        m2msec_b64_encode(rs.wrapped, sizeof(rs.wrapped), &r->wrapped_b64, err) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    r->expires = rs.lifetime;
    if (m2msec_key_check_value(key, r->kcv, err) == -1) {
        goto out;
    }
    /* Durable before it is reported. */
    (void)m2msec_strlcpy(mef, cfg->mef, sizeof(mef));
    keep.id = rs.root_id;
    keep.mef = mef;
    keep.purpose = rs.purpose;
    keep.enrolee_id = rs.enrolee_id;
    keep.node = rs.node_id;
    keep.created = m2msec_now();
    keep.expires = rs.lifetime;
    keep.key = key;
    if (keep.created >= keep.expires) {
        keep.created = keep.expires - 1;
    }
    if (m2msec_dev_root_put(c->db, &keep, err) == -1) {
        goto out;
    }
    client_step(c, "stored", "root credential %s for %s, kcv %s", r->id, r->purpose, r->kcv);
    client_root_free(c->root);
    c->root = r;
    r = NULL;
    rv = 0;
out:
    m2msec_wipe(exported, sizeof(exported));
    m2msec_secret_free(wrap);
    m2msec_secret_free(key);
    client_root_free(r);
    m2msec_boot_resp_clear(&rs);
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&body);
    client_session_close(&s);
    return rv;
}

M2MSEC_API int
m2msec_client_bootstrap(struct m2msec_client *c)
{
    return client_ready(c) == -1 ? -1 : do_bootstrap(c, &c->err);
}

M2MSEC_API const char *
m2msec_client_root_id(const struct m2msec_client *c)
{
    return c->root != NULL ? c->root->id : NULL;
}

M2MSEC_API const char *
m2msec_client_root_purpose(const struct m2msec_client *c)
{
    return c->root != NULL ? c->root->purpose : NULL;
}

M2MSEC_API int64_t
m2msec_client_root_expires(const struct m2msec_client *c)
{
    return c->root != NULL ? c->root->expires : 0;
}

M2MSEC_API const char *
m2msec_client_root_enrolee_id(const struct m2msec_client *c)
{
    return c->root != NULL ? c->root->enrolee_id : NULL;
}

M2MSEC_API const char *
m2msec_client_root_node_id(const struct m2msec_client *c)
{
    return c->root != NULL ? c->root->node : NULL;
}

M2MSEC_API const char *
m2msec_client_root_kcv(const struct m2msec_client *c)
{
    return c->root != NULL ? c->root->kcv : NULL;
}

M2MSEC_API const char *
m2msec_client_root_wrapped(const struct m2msec_client *c)
{
    return c->root != NULL ? c->root->wrapped_b64 : NULL;
}
