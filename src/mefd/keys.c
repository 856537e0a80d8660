/*
 * mefd/keys.c - MEF Key Registration, Retrieval, Update and De-Registration.
 *
 * @spec TS-0003 8.3.5.2.7 - 8.3.5.2.10, on the PPSK sessions of serve.c (the
 * MEF Handshake of 8.3.5.2.2 with KpmID/Kpm). The rules are proto/keyreg.h's,
 * the messages codec/keyreg_msg.h's and the table store/keyreg.c's, all
 * shared with the MAF. The session's identity (its KpmID and Enrolee-ID)
 * comes from serve.c, never from the payload: the KpmID owns the
 * registrations it makes, the Enrolee-ID is the Source MEF Client ID and
 * what a retrieving target is compared with. Every key is durable before
 * the response, and never logged (only its key check value).
 *
 * Routes (docs/PROTOCOL.md section 4b): POST /mef/<regID>/keys,
 * GET | PUT | DELETE /mef/keys/<RelativeKeyID>.
 */
#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "codec/keyreg_msg.h"
#include "crypto/kdf.h"
#include "crypto/rand.h"
#include "http/http.h"
#include "log.h"
#include "mefd.h"
#include "proto/exchange.h"
#include "proto/ids.h"
#include "proto/keyreg.h"
#include "tls/tls.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

/* Fresh RelativeKeyIDs to try when hex(KcID), then a random one, is taken. */
#define KEY_REL_TRIES 3

static int
key_reply_error(struct srv_response *resp, const struct m2msec_error *err)
{
    int rsc = err->rsc != 0 ? err->rsc : M2MSEC_RSC_INTERNAL_SERVER_ERROR;

    if (rsc >= 5000) {
        srv_log_event(SRV_LOG_ERR, "internal_error", "error", m2msec_error_msg(err), NULL);
        return srv_response_error(resp, rsc, "internal error");
    }
    return srv_response_error(resp, rsc, "%s", m2msec_error_msg(err));
}

/* Store failures: what the client may learn (4004, 4103, 4105) keeps its code, the rest is ours. */
static void
key_store_rsc(struct m2msec_error *err)
{
    switch (m2msec_error_code(err)) {
    case M2MSEC_ERR_NOT_FOUND:
        err->rsc = M2MSEC_RSC_NOT_FOUND;
        break;
    case M2MSEC_ERR_AUTH:
        if (err->rsc != M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE) {
            err->rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR; /* a sealed key failed to open */
        }
        break;
    default:
        err->rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        break;
    }
}

/* The session's live MEF Client Registration reg_id, or 4004 / 4103. */
static int
key_reg_owned(const struct mefd_key_session *ks, const char *reg_id, int64_t now,
              struct m2msec_mefreg_rec **out, struct m2msec_error *err)
{
    if (m2msec_mef_reg_get(ks->db, reg_id, now, out, err) == -1) {
        if (m2msec_error_code(err) == M2MSEC_ERR_NOT_FOUND) {
            return m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                                     "no registration '%s'", reg_id);
        }
        err->rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        return -1;
    }
    if (!m2msec_keyreg_may_modify((*out)->kpm_id, ks->kpm_id)) {
        m2msec_mefreg_rec_free(*out);
        *out = NULL;
        return m2msec_error_setr(err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                                 "registration '%s' belongs to another client", reg_id);
    }
    return 0;
}

/* A live key registration, or 4004. */
static int
key_load(const struct mefd_key_session *ks, const char *rel, int64_t now, int with_key,
         struct m2msec_keyreg_rec **out, struct m2msec_error *err)
{
    if (!m2msec_keyreg_rel_valid(rel)) {
        /* Could never have been assigned: absent, like an unknown id. */
        return m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                                 "no key registration '%s'", rel);
    }
    if (m2msec_keyreg_get(ks->db, M2MSEC_KEYREG_MEF, rel, now, with_key, out, err) == -1) {
        key_store_rsc(err);
        if (err->rsc == M2MSEC_RSC_NOT_FOUND) {
            m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                              "no key registration '%s'", rel);
        }
        return -1;
    }
    return 0;
}

/*
 * @spec TS-0003 10.3.1 and 10.3.5: a key the client did not supply is the
 * session's exporter "EXPORTER-oneM2M-Connection", 48 bytes: the first 16
 * are KcID (its hex the proposed RelativeKeyID), the last 32 the key.
 */
static int
key_export(const struct mefd_key_session *ks, uint8_t kcid[M2MSEC_KEYREG_KCID_LEN],
           struct m2msec_secret **key, struct m2msec_error *err)
{
    uint8_t x[M2MSEC_EXPORT_LEN];
    int rv = -1;

    if (m2msec_tls_export(ks->tls, M2MSEC_LABEL_CONNECTION, x, sizeof(x), err) == -1 ||
        m2msec_export_split(x, kcid, key, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_wipe(x, sizeof(x));
    return rv;
}

/* @spec TS-0003 8.3.5.2.7 MEF Key Registration (tables 8.3.5.2.7-1 and -2) */
static int
h_key_register(struct mefd_key_session *ks, const char *reg_id, const struct m2msec_http_msg *req,
               struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_req rq = { 0 };
    struct m2msec_keyreg_resp rs = { 0 };
    struct m2msec_keyreg_rec k = { 0 };
    struct m2msec_mefreg_rec *reg = NULL;
    struct m2msec_secret *key = NULL;
    uint8_t kcid[M2MSEC_KEYREG_KCID_LEN], fresh[M2MSEC_KEYREG_KCID_LEN];
    char rel[M2MSEC_KEYREG_REL_HEX];
    char keyid[M2MSEC_KEYREF_MAX];
    char kcv[M2MSEC_KCV_HEX_LEN];
    char ts[M2MSEC_TIMESTAMP_LEN], suid[8];
    int64_t now = m2msec_now();
    int exported = 0;
    int tries;
    int rv = -1;

    memset(kcid, 0, sizeof(kcid));
    memset(fresh, 0, sizeof(fresh));
    if (key_reg_owned(ks, reg_id, now, &reg, &err) == -1 ||
        m2msec_keyreg_req_decode(M2MSEC_REG_MEF, req->body.data, req->body.len, &rq, &err) == -1 ||
        m2msec_keyreg_check_request(M2MSEC_REG_MEF, &rq, ks->fqdn, reg->admin_fqdn, now, &err) ==
                -1) {
        goto out;
    }
    /* The Kc lifetime: never past the registration (nor the policy maximum); Kpm does not expire. */
    if (m2msec_keyreg_grant_et(rq.et, now, ks->lifetime_max_s, 0, reg->expires, &k.expires, &err) ==
        -1) {
        goto out;
    }
    if (rq.key_value != NULL) {
        key = rq.key_value;
        rq.key_value = NULL;
    } else {
        /* One exporter value per session (DEFECT-24): a second key would be the same key. */
        if (*ks->kc_exported) {
            m2msec_error_setr(&err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT,
                              "this session already registered its exported key");
            goto out;
        }
        if (key_export(ks, kcid, &key, &err) == -1) {
            err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
            goto out;
        }
        exported = 1;
    }
    k.rel_key_id = rel;
    k.owner = ks->kpm_id;
    k.reg_id = reg->reg_id;
    k.source_id = ks->client_id;
    k.admin_fqdn = rq.admin_fqdn;
    k.suid = rq.suid;
    k.targets = rq.target_ids;
    k.ntargets = rq.ntargets;
    k.labels = rq.lbl;
    k.nlabels = rq.nlbl;
    k.key = key;
    k.created = now;
    /* DEFECT-3: hex(KcID) when exported and free, else an unused random value. Durable here. */
    for (tries = 0; tries < KEY_REL_TRIES; tries++) {
        if (m2msec_rand_bytes(fresh, sizeof(fresh), &err) == -1) {
            err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
            goto out;
        }
        m2msec_keyreg_rel_choose(exported ? kcid : NULL, tries > 0, fresh, rel);
        if (m2msec_keyreg_put(ks->db, M2MSEC_KEYREG_MEF, &k, now, &err) == 0) {
            break;
        }
        if (m2msec_error_code(&err) != M2MSEC_ERR_REFUSED || tries + 1 == KEY_REL_TRIES) {
            key_store_rsc(&err);
            goto out;
        }
        m2msec_error_clear(&err);
    }
    if (exported) {
        *ks->kc_exported = 1;
    }
    rs.rel_key_id = rel;
    rs.et = k.expires;
    rs.source_id = ks->client_id;
    rs.lbl = rq.lbl;
    rs.nlbl = rq.nlbl;
    rs.has_lbl = rq.has_lbl;
    rs.admin_fqdn = rq.admin_fqdn;
    rs.suid = rq.suid;
    rs.target_ids = rq.target_ids;
    rs.ntargets = rq.ntargets;
    if (m2msec_keyreg_resp_encode(M2MSEC_REG_MEF, &rs, &resp->body, &err) == -1) {
        goto out;
    }
    resp->rsc = M2MSEC_RSC_CREATED;
    (void)m2msec_timestamp_format(k.expires, ts);
    (void)snprintf(suid, sizeof(suid), "%u", rq.suid);
    if (m2msec_keyref_format(rel, ks->fqdn, keyid, sizeof(keyid), &err) == -1 ||
        m2msec_key_check_value(key, kcv, &err) == -1) {
        m2msec_strlcpy(keyid, rel, sizeof(keyid));
        m2msec_strlcpy(kcv, "-", sizeof(kcv));
    }
    srv_log_event(SRV_LOG_NOTICE, "mef_key_registered", "key_id", keyid, "kpm_id", ks->kpm_id,
                  "source_id", ks->client_id, "reg_id", reg->reg_id, "kc",
                  exported ? "exported" : "supplied", "suid", suid, "target", rq.target_ids[0],
                  "expires", ts, "kcv", kcv, NULL);
    rv = 0;
out:
    m2msec_wipe(kcid, sizeof(kcid));
    m2msec_secret_free(key);
    m2msec_mefreg_rec_free(reg);
    m2msec_keyreg_req_clear(&rq);
    return rv == 0 ? 0 : key_reply_error(resp, &err);
}

/* @spec TS-0003 8.3.5.2.8 MEF Key Retrieval (tables 8.3.5.2.8-1 and -2) */
static int
h_key_retrieve(struct mefd_key_session *ks, const char *rel, struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_rec *k = NULL;
    struct m2msec_keyreg_get_resp rs = { 0 };
    int rv = -1;

    if (key_load(ks, rel, m2msec_now(), 1, &k, &err) == -1) {
        goto out;
    }
    /* Only an authorised target, by the session's authenticated id, reads the key. */
    if (!m2msec_keyreg_may_retrieve(k->targets, k->ntargets, ks->client_id)) {
        m2msec_error_setr(&err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                          "not a target of this key registration");
        srv_log_event(SRV_LOG_NOTICE, "mef_key_refused", "rel_key_id", k->rel_key_id, "client_id",
                      ks->client_id, "reason", "not a target", NULL);
        goto out;
    }
    rs.et = k->expires;
    rs.source_id = k->source_id;
    rs.lbl = k->labels;
    rs.nlbl = k->nlabels;
    rs.has_lbl = k->labels != NULL;
    rs.admin_fqdn = k->admin_fqdn;
    rs.suid = k->suid;
    rs.key_value = k->key;
    if (m2msec_keyreg_get_resp_encode(M2MSEC_REG_MEF, &rs, &resp->body, &err) == -1) {
        goto out;
    }
    resp->rsc = M2MSEC_RSC_OK;
    srv_log_event(SRV_LOG_NOTICE, "mef_key_retrieved", "rel_key_id", k->rel_key_id, "target",
                  ks->client_id, "kpm_id", ks->kpm_id, "source_id", k->source_id, NULL);
    rv = 0;
out:
    m2msec_keyreg_rec_free(k);
    return rv == 0 ? 0 : key_reply_error(resp, &err);
}

/* @spec TS-0003 8.3.5.2.9 MEF Key Registration Update (tables 8.3.5.2.9-1 and -2) */
static int
h_key_update(struct mefd_key_session *ks, const char *rel, const struct m2msec_http_msg *req,
             struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_update up = { 0 }, out = { 0 };
    struct m2msec_keyreg_rec *k = NULL;
    struct m2msec_mefreg_rec *reg = NULL;
    char ts[M2MSEC_TIMESTAMP_LEN];
    int64_t now = m2msec_now(), granted = 0;
    int rv = -1;

    if (m2msec_keyreg_update_decode(M2MSEC_REG_MEF, req->body.data, req->body.len, 1, &up, &err) ==
                -1 ||
        key_load(ks, rel, now, 0, &k, &err) == -1) {
        goto out;
    }
    if (!m2msec_keyreg_may_modify(k->owner, ks->kpm_id)) {
        m2msec_error_setr(&err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                          "the key registration belongs to another client");
        goto out;
    }
    if (m2msec_keyreg_check_update(M2MSEC_REG_MEF, &up, k->suid, ks->fqdn, now, &err) == -1) {
        goto out;
    }
    if (up.has_et) {
        /* The same bound as at registration: the registration's own expiry. */
        if (key_reg_owned(ks, k->reg_id, now, &reg, &err) == -1 ||
            m2msec_keyreg_grant_et(up.et, now, ks->lifetime_max_s, 0, reg->expires, &granted,
                                   &err) == -1) {
            goto out;
        }
    }
    if (m2msec_keyreg_update(ks->db, M2MSEC_KEYREG_MEF, k->rel_key_id, now, up.has_et, granted,
                             up.has_lbl, up.lbl, up.nlbl, up.has_targets, up.target_ids,
                             up.ntargets, &err) == -1) {
        key_store_rsc(&err);
        goto out;
    }
    /* Table 8.3.5.2.9-2: only the members present in the request come back. */
    out.has_et = up.has_et;
    out.et = granted;
    out.has_lbl = up.has_lbl;
    out.lbl = up.lbl;
    out.nlbl = up.nlbl;
    out.has_targets = up.has_targets;
    out.target_ids = up.target_ids;
    out.ntargets = up.ntargets;
    if (m2msec_keyreg_update_encode(M2MSEC_REG_MEF, &out, 0, &resp->body, &err) == -1) {
        goto out;
    }
    resp->rsc = M2MSEC_RSC_UPDATED;
    (void)m2msec_timestamp_format(up.has_et ? granted : k->expires, ts);
    srv_log_event(SRV_LOG_NOTICE, "mef_key_updated", "rel_key_id", k->rel_key_id, "kpm_id",
                  ks->kpm_id, "expires", ts, "labels", up.has_lbl ? "replaced" : "kept", "targets",
                  up.has_targets ? "replaced" : "kept", NULL);
    rv = 0;
out:
    m2msec_mefreg_rec_free(reg);
    m2msec_keyreg_rec_free(k);
    m2msec_keyreg_update_clear(&up);
    return rv == 0 ? 0 : key_reply_error(resp, &err);
}

/* @spec TS-0003 8.3.5.2.10 MEF Key De-Registration: the owning client only. */
static int
h_key_deregister(struct mefd_key_session *ks, const char *rel, struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_rec *k = NULL;
    int64_t now = m2msec_now();
    int rv = -1;

    if (key_load(ks, rel, now, 0, &k, &err) == -1) {
        goto out;
    }
    if (!m2msec_keyreg_may_modify(k->owner, ks->kpm_id)) {
        m2msec_error_setr(&err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                          "the key registration belongs to another client");
        goto out;
    }
    if (m2msec_keyreg_delete(ks->db, M2MSEC_KEYREG_MEF, k->rel_key_id, now, &err) == -1) {
        key_store_rsc(&err);
        goto out;
    }
    resp->rsc = M2MSEC_RSC_DELETED;
    srv_log_event(SRV_LOG_NOTICE, "mef_key_deregistered", "rel_key_id", k->rel_key_id, "kpm_id",
                  ks->kpm_id, NULL);
    rv = 0;
out:
    m2msec_keyreg_rec_free(k);
    return rv == 0 ? 0 : key_reply_error(resp, &err);
}

int
mefd_keys_route(char *const *segs, int n)
{
    if (n != 3) {
        return 0;
    }
    /* /mef/reg/keys stays a (nonexistent) registration id of the registration routes. */
    return strcmp(segs[1], M2MSEC_PATH_KEYS) == 0 /* public */ ||
           (strcmp(segs[2], M2MSEC_PATH_KEYS) == 0 /* public */ &&
            strcmp(segs[1], M2MSEC_PATH_REG) != 0 /* public */);
}

int
mefd_keys_handle(struct mefd_key_session *ks, char *const *segs, int n,
                 const struct m2msec_http_msg *req, struct srv_response *resp)
{
    if (n == 3 && strcmp(segs[1], M2MSEC_PATH_KEYS) == 0 /* public */) {
        switch (req->method) {
        case M2MSEC_HTTP_GET:
            return h_key_retrieve(ks, segs[2], resp);
        case M2MSEC_HTTP_PUT:
            return h_key_update(ks, segs[2], req, resp);
        case M2MSEC_HTTP_DELETE:
            return h_key_deregister(ks, segs[2], resp);
        case M2MSEC_HTTP_POST:
            break;
        }
    } else if (n == 3 && strcmp(segs[2], M2MSEC_PATH_KEYS) == 0 /* public */ &&
               req->method == M2MSEC_HTTP_POST) {
        return h_key_register(ks, segs[1], req, resp);
    } else if (n != 3 || strcmp(segs[2], M2MSEC_PATH_KEYS) != 0 /* public */) {
        return srv_response_error(resp, M2MSEC_RSC_NOT_FOUND, "no such resource");
    }
    return srv_response_error(resp, M2MSEC_RSC_OPERATION_NOT_ALLOWED, "%s is not allowed on %s",
                              m2msec_http_method_name(req->method), req->target);
}

int
mefd_keys_sweep(struct m2msec_db *db, int64_t now, size_t *erased, struct m2msec_error *err)
{
    return m2msec_keyreg_sweep(db, M2MSEC_KEYREG_MEF, now, erased, err);
}
