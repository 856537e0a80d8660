/*
 * client/mefreg.c - MEF Client Registration procedures, client side.
 *
 * Layer: client. @spec TS-0003 8.3.5.2.3 - 8.3.5.2.6. Each call runs in its own
 * PPSK-authenticated session. Responses are verified as the MO-driven client of
 * 8.3.9.9.x would: expirationTime in the future, adminFQDN as sent.
 */
#include <stdio.h>
#include <string.h>

#include "client/client_int.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define REG_TARGET "/" M2MSEC_PATH_MEF_BASE "/" M2MSEC_PATH_REG

M2MSEC_API const char *
m2msec_mef_reg_id(const struct m2msec_mef_reg *r)
{
    return r->reg_id;
}

M2MSEC_API const char *
m2msec_mef_reg_client_id(const struct m2msec_mef_reg *r)
{
    return r->client_id;
}

M2MSEC_API const char *
m2msec_mef_reg_admin_fqdn(const struct m2msec_mef_reg *r)
{
    return r->admin_fqdn;
}

M2MSEC_API int64_t
m2msec_mef_reg_expires(const struct m2msec_mef_reg *r)
{
    return r->expires;
}

M2MSEC_API const char *
m2msec_mef_reg_config_json(const struct m2msec_mef_reg *r)
{
    return r->config_json;
}

M2MSEC_API void
m2msec_mef_reg_free(struct m2msec_mef_reg *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->reg_id);
    m2msec_free(r->client_id);
    m2msec_free(r->admin_fqdn);
    m2msec_free(r->config_json);
    m2msec_free(r);
}

static int
valid_reg_id(const char *reg_id, struct m2msec_error *err)
{
    if (reg_id == NULL || reg_id[0] == '\0' || strlen(reg_id) > 64 ||
        strspn(reg_id, "0123456789abcdefABCDEF") != strlen(reg_id)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "invalid registration id");
    }
    return 0;
}

static int
do_register(struct m2msec_client *c, const char *admin_fqdn, int64_t expires,
            struct m2msec_mef_reg **out, struct m2msec_error *err)
{
    struct client_session s = { 0 };
    struct m2msec_mefreg_req rq = { 0 };
    struct m2msec_mefreg_resp rs = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_mef_reg *r = NULL;
    struct m2msec_buf body;
    char admin[M2MSEC_FQDN_MAX + 1];
    int64_t now = m2msec_now();
    int rv = -1;

    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    if (admin_fqdn == NULL || !m2msec_fqdn_valid(admin_fqdn)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "adminFQDN must be an FQDN");
        goto out;
    }
    if (client_session_open(c, &s, err) == -1) {
        goto out;
    }
    /* mefFQDN: the configured server name, else the host of the MEF address. */
    m2msec_strlcpy(admin, admin_fqdn, sizeof(admin));
    rq.mef_fqdn = s.host;
    rq.et = expires != 0 ? expires : now + 86400;
    rq.admin_fqdn = admin;
    if (m2msec_mefreg_req_encode(&rq, &body, err) == -1 ||
        client_roundtrip(&s, M2MSEC_HTTP_POST, REG_TARGET, &body, M2MSEC_RSC_CREATED, &resp, err) ==
                -1 ||
        m2msec_mefreg_resp_decode(resp->body.data, resp->body.len, &rs, err) == -1) {
        goto out;
    }
    /* 8.3.9.9.x-style verification of what the MEF granted. */
    if (rs.et <= now || !m2msec_fqdn_equal(rs.admin_fqdn, admin_fqdn)) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                          "MEF response fails verification (expirationTime or adminFQDN)");
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL || (r->reg_id = m2msec_strdup(rs.reg_id)) == NULL ||
        (r->client_id = m2msec_strdup(rs.client_id)) == NULL ||
        (r->admin_fqdn = m2msec_strdup(rs.admin_fqdn)) == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    r->expires = rs.et;
    client_step(c, "registered", "MEF client registration %s as %s", r->reg_id, r->client_id);
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_mef_reg_free(r);
    m2msec_mefreg_resp_clear(&rs);
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&body);
    client_session_close(&s);
    return rv;
}

M2MSEC_API int
m2msec_client_mef_register(struct m2msec_client *c, const char *admin_fqdn, int64_t expires,
                           struct m2msec_mef_reg **out)
{
    m2msec_error_clear(&c->err);
    *out = NULL;
    if (c->cfg == NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_STATE, "client not configured");
    }
    return do_register(c, admin_fqdn, expires, out, &c->err);
}

M2MSEC_API int
m2msec_client_mef_config(struct m2msec_client *c, const char *reg_id, struct m2msec_mef_reg **out)
{
    struct client_session s = { 0 };
    struct m2msec_mefreg_cfg cfg = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_mef_reg *r = NULL;
    char target[160];
    int rv = -1;

    m2msec_error_clear(&c->err);
    *out = NULL;
    if (c->cfg == NULL || valid_reg_id(reg_id, &c->err) == -1) {
        return -1;
    }
    snprintf(target, sizeof(target), "%s/%s/%s", REG_TARGET, reg_id, M2MSEC_PATH_REG_CFG);
    if (client_session_open(c, &s, &c->err) == -1 ||
        client_roundtrip(&s, M2MSEC_HTTP_GET, target, NULL, M2MSEC_RSC_OK, &resp, &c->err) == -1 ||
        m2msec_mefreg_cfg_decode(resp->body.data, resp->body.len, &cfg, &c->err) == -1) {
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL || (r->reg_id = m2msec_strdup(reg_id)) == NULL ||
        (r->admin_fqdn = m2msec_strdup(cfg.admin_fqdn)) == NULL ||
        (r->config_json = m2msec_strndup((const char *)resp->body.data, resp->body.len)) == NULL) {
        m2msec_error_setx(&c->err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    r->expires = cfg.et;
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_mef_reg_free(r);
    m2msec_mefreg_cfg_clear(&cfg);
    m2msec_http_msg_free(resp);
    client_session_close(&s);
    return rv;
}

M2MSEC_API int
m2msec_client_mef_update(struct m2msec_client *c, const char *reg_id, int64_t expires,
                         int64_t *granted)
{
    struct client_session s = { 0 };
    struct m2msec_mefreg_update up = { 0 }, got = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_buf body;
    char target[160];
    int rv = -1;

    m2msec_error_clear(&c->err);
    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    if (c->cfg == NULL || valid_reg_id(reg_id, &c->err) == -1) {
        goto out;
    }
    snprintf(target, sizeof(target), "%s/%s", REG_TARGET, reg_id);
    if (client_session_open(c, &s, &c->err) == -1) {
        goto out;
    }
    up.mef_fqdn = s.host;
    up.has_et = 1;
    up.et = expires;
    if (m2msec_mefreg_update_encode(&up, 1, &body, &c->err) == -1 ||
        client_roundtrip(&s, M2MSEC_HTTP_PUT, target, &body, M2MSEC_RSC_UPDATED, &resp, &c->err) ==
                -1 ||
        m2msec_mefreg_update_decode(resp->body.data, resp->body.len, 0, &got, &c->err) == -1) {
        goto out;
    }
    if (!got.has_et || got.et <= m2msec_now()) {
        m2msec_error_setx(&c->err, M2MSEC_ERR_PROTOCOL,
                          "MEF response fails verification (expirationTime)");
        goto out;
    }
    if (granted != NULL) {
        *granted = got.et;
    }
    rv = 0;
out:
    m2msec_mefreg_update_clear(&got);
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&body);
    client_session_close(&s);
    return rv;
}

M2MSEC_API int
m2msec_client_mef_deregister(struct m2msec_client *c, const char *reg_id)
{
    struct client_session s = { 0 };
    struct m2msec_http_msg *resp = NULL;
    char target[160];
    int rv = -1;

    m2msec_error_clear(&c->err);
    if (c->cfg == NULL || valid_reg_id(reg_id, &c->err) == -1) {
        return -1;
    }
    snprintf(target, sizeof(target), "%s/%s", REG_TARGET, reg_id);
    if (client_session_open(c, &s, &c->err) == -1 ||
        client_roundtrip(&s, M2MSEC_HTTP_DELETE, target, NULL, M2MSEC_RSC_DELETED, &resp,
                         &c->err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_http_msg_free(resp);
    client_session_close(&s);
    return rv;
}
