/*
 * client/mefkey.c - MEF Key Registration, Retrieval, Update and De-Registration, client side.
 *
 * Layer: client. @spec TS-0003 8.3.5.2.7 - 8.3.5.2.10. Each call runs in its
 * own PPSK session with the configured MEF (the MEF Handshake, 8.3.5.2.2).
 * Messages and rules are the ones the MEF uses (codec/keyreg_msg.h,
 * proto/keyreg.h): the client checks what it sends with the MEF's own rules
 * and verifies responses as the MO-driven client of 8.3.9.9.4 does. A key
 * the device registers is stored sealed in its state directory under the Key
 * Identifier "<RelativeKeyID>@<MEF-FQDN>" (the dev_kc table of the MAF keys,
 * with the MEF's FQDN), its expiry follows an update, and key de-registration
 * erases it. Retrieval hands back metadata and the key check value only.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "client/client_int.h"
#include "codec/json.h"
#include "codec/keyreg_msg.h"
#include "crypto/kdf.h"
#include "proto/keyreg.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define MEFKEY_BASE       "/" M2MSEC_PATH_MEF_BASE
#define MEFKEY_DEFAULT_ET 86400

/* The handle is a client_key (client/keyutil.c), its only member. */
struct m2msec_mef_key {
    struct client_key k;
};

M2MSEC_API const char *
m2msec_mef_key_id(const struct m2msec_mef_key *k)
{
    return k->k.key_id;
}

M2MSEC_API const char *
m2msec_mef_key_source_id(const struct m2msec_mef_key *k)
{
    return k->k.source_id;
}

M2MSEC_API unsigned
m2msec_mef_key_suid(const struct m2msec_mef_key *k)
{
    return k->k.suid;
}

M2MSEC_API int64_t
m2msec_mef_key_expires(const struct m2msec_mef_key *k)
{
    return k->k.expires;
}

M2MSEC_API const char *
m2msec_mef_key_kcv(const struct m2msec_mef_key *k)
{
    return k->k.kcv;
}

M2MSEC_API void
m2msec_mef_key_free(struct m2msec_mef_key *k)
{
    client_key_free((struct client_key *)k);
}

static struct m2msec_mef_key *
mef_key_new(const char *key_id, const char *source_id, unsigned suid, int64_t expires,
            const struct m2msec_secret *key, struct m2msec_error *err)
{
    return (struct m2msec_mef_key *)client_key_new(key_id, source_id, suid, expires, key, err);
}

/* The MEF's FQDN as this client names it (--sni, else the host): the Key Identifier's part. */
static int
session_fqdn(const struct client_session *s, struct m2msec_error *err)
{
    if (!m2msec_fqdn_valid(s->host)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "the MEF's FQDN is needed for Key Identifiers: configure it as "
                                 "the server name (SNI)");
    }
    return 0;
}

/* Parse key_id and check it names the MEF of session s; rel gets the relative part. */
static int
key_id_for_mef(const char *key_id, const struct client_session *s, struct m2msec_keyref *ref,
               struct m2msec_error *err)
{
    if (key_id == NULL || m2msec_keyref_parse(key_id, ref, err) == -1 ||
        !m2msec_keyreg_rel_valid(ref->rel)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Key Identifier must be <RelativeKeyID>@<MEF-FQDN>");
    }
    if (!m2msec_fqdn_equal(ref->fqdn, s->host)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Key Identifier %s does not name the configured MEF", key_id);
    }
    return 0;
}

/* The device state store, opened once per client (created on demand when create). */
static int
state_db(struct m2msec_client *c, int create, struct m2msec_error *err)
{
    if (c->db != NULL) {
        return 0;
    }
    if (c->cfg->state_dir == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "a state directory must be configured");
    }
    c->db = client_state_open(c->cfg->state_dir, create, err);
    return c->db == NULL ? -1 : 0;
}

/* The Enrolee-ID of the stored enrolment (the Source MEF Client ID to expect), or NULL. */
static char *
own_enrolee_id(struct m2msec_client *c)
{
    struct m2msec_error scratch = { 0 };
    struct m2msec_enrolment_rec *rec = NULL;
    char *id = NULL;

    if (c->enrolee_id != NULL) {
        return m2msec_strdup(c->enrolee_id);
    }
    if (c->db != NULL && m2msec_dev_enrolment_get(c->db, 0, &rec, &scratch) == 0 &&
        rec->enrolee_id != NULL) {
        id = m2msec_strdup(rec->enrolee_id);
    }
    m2msec_enrolment_rec_free(rec);
    return id;
}

/* adminFQDN of registration reg_id, read on session s (MEF Client Configuration Retrieval). */
static int
reg_admin(struct client_session *s, const char *reg_id, char *out, size_t outsz,
          struct m2msec_error *err)
{
    struct m2msec_mefreg_cfg cfg = { 0 };
    struct m2msec_http_msg *resp = NULL;
    char target[160];
    int rv = -1;

    (void)snprintf(target, sizeof(target), "%s/%s/%s/%s", MEFKEY_BASE, M2MSEC_PATH_REG, reg_id,
                   M2MSEC_PATH_REG_CFG);
    if (client_roundtrip(s, M2MSEC_HTTP_GET, target, NULL, M2MSEC_RSC_OK, &resp, err) == -1 ||
        m2msec_mefreg_cfg_decode(resp->body.data, resp->body.len, &cfg, err) == -1) {
        goto out;
    }
    if (m2msec_strlcpy(out, cfg.admin_fqdn, outsz) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "adminFQDN too long");
        goto out;
    }
    rv = 0;
out:
    m2msec_mefreg_cfg_clear(&cfg);
    m2msec_http_msg_free(resp);
    return rv;
}

struct keyreg_args {
    const char *reg_id;
    const char *admin_fqdn;
    const char *const *target_ids;
    size_t ntargets;
    unsigned suid;
    uint64_t lifetime_s;
    const char *const *labels;
    size_t nlabels;
    unsigned flags;
};

/* @spec TS-0003 8.3.5.2.7 MEF Key Registration, as the Source MEF Client */
static int
do_keyreg(struct m2msec_client *c, const struct keyreg_args *a, struct m2msec_mef_key **out,
          struct m2msec_error *err)
{
    struct client_session s = { 0 };
    struct m2msec_keyreg_req rq = { 0 };
    struct m2msec_keyreg_resp rs = { 0 };
    struct m2msec_dev_kc_rec keep = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_secret *key = NULL;
    struct m2msec_buf body;
    uint8_t x[M2MSEC_EXPORT_LEN];
    uint8_t kcid[M2MSEC_KEYREG_KCID_LEN];
    char admin[M2MSEC_FQDN_MAX + 1];
    char regbuf[80];
    char target[160];
    char keyid[M2MSEC_KEYREF_MAX];
    char *self_id = NULL;
    int64_t now = m2msec_now();
    int rv = -1;

    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    memset(x, 0, sizeof(x));
    memset(kcid, 0, sizeof(kcid));
    if (client_reg_id_valid(a->reg_id, err) == -1) {
        goto out;
    }
    if (a->lifetime_s > UINT32_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "lifetime too long");
        goto out;
    }
    if (a->admin_fqdn != NULL && !m2msec_fqdn_valid(a->admin_fqdn)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "adminFQDN must be an FQDN");
        goto out;
    }
    rq.target_ids = client_strlist_dup(a->target_ids, a->ntargets, "target", err);
    if (rq.target_ids == NULL) {
        goto out;
    }
    rq.ntargets = a->ntargets;
    /* Never send what the MEF's rules refuse (SUID 22..25, one target for 22 and 23). */
    if (m2msec_keyreg_check_targets(M2MSEC_REG_MEF, a->suid, rq.target_ids, rq.ntargets, err) ==
        -1) {
        err->code = M2MSEC_ERR_INVALID_ARGUMENT;
        err->rsc = 0;
        goto out;
    }
    rq.suid = a->suid;
    if (a->nlabels > 0 || a->labels != NULL) {
        rq.lbl = client_strlist_dup(a->labels, a->nlabels, "label", err);
        if (rq.lbl == NULL) {
            goto out;
        }
        rq.nlbl = a->nlabels;
        rq.has_lbl = 1;
    }
    if (state_db(c, 1, err) == -1 || client_session_open(c, &s, err) == -1 ||
        session_fqdn(&s, err) == -1) {
        goto out;
    }
    if (a->admin_fqdn != NULL) {
        m2msec_strlcpy(admin, a->admin_fqdn, sizeof(admin));
    } else if (reg_admin(&s, a->reg_id, admin, sizeof(admin), err) == -1) {
        goto out;
    }
    if (a->flags & M2MSEC_MEF_KEY_SELF_GENERATED) {
        /* The second option of 8.3.5.2.7 step 2: a key independent of the session. */
        key = m2msec_secret_random(M2MSEC_KEYREG_KEY_LEN, err);
        if (key == NULL) {
            goto out;
        }
        rq.key_value = key;
    } else if (m2msec_tls_export(s.tls, M2MSEC_LABEL_CONNECTION, x, sizeof(x), err) == -1 ||
               m2msec_export_split(x, kcid, &key, err) == -1) {
        /* @spec TS-0003 10.3.1: 48 bytes, the first 16 KcID, the last 32 the key. */
        goto out;
    }
    rq.fqdn = s.host;
    rq.admin_fqdn = admin;
    rq.et = now + (int64_t)(a->lifetime_s != 0 ? a->lifetime_s : MEFKEY_DEFAULT_ET);
    m2msec_strlcpy(regbuf, a->reg_id, sizeof(regbuf));
    (void)snprintf(target, sizeof(target), "%s/%s/%s", MEFKEY_BASE, regbuf, M2MSEC_PATH_KEYS);
    rv = m2msec_keyreg_req_encode(M2MSEC_REG_MEF, &rq, &body, err);
    rq.key_value = NULL; /* still owned by key */
    rq.fqdn = NULL;
    rq.admin_fqdn = NULL;
    if (rv == -1) {
        goto out;
    }
    rv = -1;
    client_step(c, "key_registration", "SUID %u for %s (%s key)", a->suid, rq.target_ids[0],
                (a->flags & M2MSEC_MEF_KEY_SELF_GENERATED) ? "self-generated" : "exported");
    if (client_roundtrip(&s, M2MSEC_HTTP_POST, target, &body, M2MSEC_RSC_CREATED, &resp, err) ==
                -1 ||
        m2msec_keyreg_resp_decode(M2MSEC_REG_MEF, resp->body.data, resp->body.len, &rs, err) ==
                -1) {
        goto out;
    }
    /* @spec TS-0003 8.3.9.9.4: accept only what echoes the request; adopt its RelativeKeyID. */
    self_id = own_enrolee_id(c);
    rq.admin_fqdn = admin;
    rv = m2msec_keyreg_verify_resp(&rq, &rs, self_id, now, err);
    rq.admin_fqdn = NULL;
    if (rv == -1 || m2msec_keyref_format(rs.rel_key_id, s.host, keyid, sizeof(keyid), err) == -1) {
        rv = -1;
        goto out;
    }
    rv = -1;
    /* @spec TS-0003 8.3.5.2.7: the source stores the key under its Key Identifier. */
    keep.key_id = keyid;
    keep.maf_fqdn = s.host;
    keep.reg_id = regbuf;
    keep.target = rq.target_ids[0];
    keep.suid = a->suid;
    keep.expires = rs.et;
    keep.kc = key;
    if (m2msec_dev_kc_put(c->db, &keep, err) == -1) {
        goto out;
    }
    *out = mef_key_new(keyid, rs.source_id, rs.suid, rs.et, key, err);
    if (*out == NULL) {
        goto out;
    }
    client_step(c, "key_registered", "Key Identifier %s", keyid);
    rv = 0;
out:
    m2msec_wipe(x, sizeof(x));
    m2msec_wipe(kcid, sizeof(kcid));
    m2msec_secret_free(key);
    m2msec_free(self_id);
    m2msec_keyreg_req_clear(&rq);
    m2msec_keyreg_resp_clear(&rs);
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&body);
    client_session_close(&s);
    return rv;
}

M2MSEC_API int
m2msec_client_mef_keyreg(struct m2msec_client *c, const char *reg_id, const char *admin_fqdn,
                         const char *const *target_ids, size_t ntargets, unsigned suid,
                         uint64_t lifetime_s, const char *const *labels, size_t nlabels,
                         unsigned flags, struct m2msec_mef_key **out)
{
    const struct keyreg_args a = {
        .reg_id = reg_id,
        .admin_fqdn = admin_fqdn,
        .target_ids = target_ids,
        .ntargets = ntargets,
        .suid = suid,
        .lifetime_s = lifetime_s,
        .labels = labels,
        .nlabels = nlabels,
        .flags = flags,
    };

    *out = NULL;
    if (client_ready(c) == -1) {
        return -1;
    }
    if ((flags & ~M2MSEC_MEF_KEY_SELF_GENERATED) != 0) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_ARGUMENT, "unknown flags");
    }
    return do_keyreg(c, &a, out, &c->err);
}

int
client_mef_key_retrieve(struct m2msec_client *c, const char *key_id,
                        struct m2msec_keyreg_get_resp *rs, struct m2msec_error *err)
{
    struct client_session s = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_keyref ref;
    char target[M2MSEC_KEYREF_MAX + 16];
    int rv = -1;

    memset(rs, 0, sizeof(*rs));
    if (client_session_open(c, &s, err) == -1 || key_id_for_mef(key_id, &s, &ref, err) == -1) {
        goto out;
    }
    (void)snprintf(target, sizeof(target), "%s/%s/%s", MEFKEY_BASE, M2MSEC_PATH_KEYS, ref.rel);
    client_step(c, "key_retrieval", "%s", key_id);
    if (client_roundtrip(&s, M2MSEC_HTTP_GET, target, NULL, M2MSEC_RSC_OK, &resp, err) == -1 ||
        m2msec_keyreg_get_resp_decode(M2MSEC_REG_MEF, resp->body.data, resp->body.len, rs, err) ==
                -1) {
        goto out;
    }
    if (rs->et <= m2msec_now()) {
        m2msec_keyreg_get_resp_clear(rs);
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "the MEF returned an expired key");
        goto out;
    }
    rv = 0;
out:
    m2msec_http_msg_free(resp);
    client_session_close(&s);
    return rv;
}

/* @spec TS-0003 8.3.5.2.8 MEF Key Retrieval, as a Target MEF Client */
M2MSEC_API int
m2msec_client_mef_keyget(struct m2msec_client *c, const char *key_id, struct m2msec_mef_key **out)
{
    *out = NULL;
    if (client_ready(c) == -1) {
        return -1;
    }
    *out = (struct m2msec_mef_key *)client_key_get(c, key_id, client_mef_key_retrieve, &c->err);
    return *out == NULL ? -1 : 0;
}

/* After an update of et: the stored key, if this device registered it, follows. */
static void
dev_key_expiry(struct m2msec_client *c, const char *key_id, int64_t expires)
{
    struct m2msec_error scratch = { 0 };
    struct m2msec_dev_kc_rec *r = NULL;

    if (c->db == NULL && (c->cfg->state_dir == NULL || state_db(c, 0, &scratch) == -1)) {
        return;
    }
    if (m2msec_dev_kc_get(c->db, key_id, m2msec_now(), 1, &r, &scratch) == 0) {
        r->expires = expires;
        (void)m2msec_dev_kc_put(c->db, r, &scratch);
    }
    m2msec_dev_kc_rec_free(r);
}

/* @spec TS-0003 8.3.5.2.9 MEF Key Registration Update, as the Source MEF Client */
M2MSEC_API int
m2msec_client_mef_keyupdate(struct m2msec_client *c, const char *key_id, uint64_t lifetime_s,
                            const char *const *target_ids, size_t ntargets,
                            const char *const *labels, size_t nlabels, unsigned flags,
                            int64_t *granted)
{
    struct client_session s = { 0 };
    struct m2msec_keyreg_update up = { 0 }, got = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_keyref ref;
    struct m2msec_buf body;
    char target[M2MSEC_KEYREF_MAX + 16];
    int rv = -1;

    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    if (granted != NULL) {
        *granted = 0;
    }
    /* The mefFQDN member is the session's host, set below. */
    if (client_ready(c) == -1 ||
        client_keyupdate_req(NULL, lifetime_s, target_ids, ntargets, labels, nlabels, flags,
                             M2MSEC_MEF_KEY_SET_LABELS, &up, &c->err) == -1 ||
        client_session_open(c, &s, &c->err) == -1 ||
        key_id_for_mef(key_id, &s, &ref, &c->err) == -1) {
        goto out;
    }
    (void)snprintf(target, sizeof(target), "%s/%s/%s", MEFKEY_BASE, M2MSEC_PATH_KEYS, ref.rel);
    up.fqdn = s.host;
    rv = m2msec_keyreg_update_encode(M2MSEC_REG_MEF, &up, 1, &body, &c->err);
    up.fqdn = NULL;
    if (rv == -1) {
        goto out;
    }
    rv = -1;
    client_step(c, "key_update", "%s", key_id);
    if (client_roundtrip(&s, M2MSEC_HTTP_PUT, target, &body, M2MSEC_RSC_UPDATED, &resp, &c->err) ==
                -1 ||
        m2msec_keyreg_update_decode(M2MSEC_REG_MEF, resp->body.data, resp->body.len, 0, &got,
                                    &c->err) == -1 ||
        m2msec_keyreg_verify_update(&up, &got, m2msec_now(), &c->err) == -1) {
        goto out;
    }
    if (got.has_et) {
        dev_key_expiry(c, key_id, got.et);
        if (granted != NULL) {
            *granted = got.et;
        }
    }
    rv = 0;
out:
    m2msec_keyreg_update_clear(&up);
    m2msec_keyreg_update_clear(&got);
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&body);
    client_session_close(&s);
    return rv;
}

/* @spec TS-0003 8.3.5.2.10 MEF Key De-Registration, as the Source MEF Client */
M2MSEC_API int
m2msec_client_mef_keydel(struct m2msec_client *c, const char *key_id)
{
    struct m2msec_error scratch = { 0 };
    struct client_session s = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_keyref ref;
    char target[M2MSEC_KEYREF_MAX + 16];
    int rv = -1;

    if (client_ready(c) == -1) {
        return -1;
    }
    if (client_session_open(c, &s, &c->err) == -1 ||
        key_id_for_mef(key_id, &s, &ref, &c->err) == -1) {
        goto out;
    }
    (void)snprintf(target, sizeof(target), "%s/%s/%s", MEFKEY_BASE, M2MSEC_PATH_KEYS, ref.rel);
    client_step(c, "key_deregistration", "%s", key_id);
    if (client_roundtrip(&s, M2MSEC_HTTP_DELETE, target, NULL, M2MSEC_RSC_DELETED, &resp,
                         &c->err) == -1) {
        goto out;
    }
    /* SPEC-DIGEST 5 rule 3: the source erases the key it no longer distributes. */
    if (c->cfg->state_dir != NULL && state_db(c, 0, &scratch) == 0) {
        (void)m2msec_keyreg_dev_erase(c->db, key_id, &scratch);
    }
    rv = 0;
out:
    m2msec_http_msg_free(resp);
    client_session_close(&s);
    return rv;
}
