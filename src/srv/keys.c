/*
 * srv/keys.c - Key Registration, Retrieval, Update and De-Registration, for
 * mefd and mafd alike.
 *
 * Layer: srv (daemon plumbing). @spec TS-0003 8.3.5.2.7 - 8.3.5.2.10 and
 * 8.8.2.7 - 8.8.2.10: what the MEF and the MAF do the same way, with the
 * registry's kind choosing the SUIDs and members (proto, codec) and the
 * Client Registration table (store); the daemon's own part comes through
 * struct srv_keys_ops (srv/keys.h). Every key is durable before the
 * response, and never logged (only its key check value).
 */
#include <stdio.h>
#include <string.h>

#include "codec/keyreg_msg.h"
#include "crypto/kdf.h"
#include "crypto/rand.h"
#include "keys.h"
#include "log.h"
#include "proto/ids.h"
#include "proto/keyreg.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

/* Fresh RelativeKeyIDs to try when hex(KcID), then a random one, is taken. */
#define KEY_REL_TRIES 3

/* What the key handlers need of a Client Registration, of either kind. */
struct key_reg {
    struct m2msec_mefreg_rec *mef;
    struct m2msec_mafreg_rec *maf;
    char *reg_id; /* borrowed from mef or maf */
    char *owner;
    char *admin_fqdn;
    int64_t expires;
};

static enum m2msec_reg_peer
key_peer(const struct srv_keys_session *ks)
{
    return ks->ops->kind == M2MSEC_KEYREG_MEF ? M2MSEC_REG_MEF : M2MSEC_REG_MAF;
}

static int
key_reply(const struct srv_keys_session *ks, struct srv_response *resp,
          const struct m2msec_error *err)
{
    if (ks->ops->reply_error != NULL) {
        return ks->ops->reply_error(resp, err);
    }
    return srv_keys_reply_error(resp, err);
}

int
srv_keys_reply_error(struct srv_response *resp, const struct m2msec_error *err)
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
    case M2MSEC_ERR_REFUSED:
        break; /* 4105 */
    default:
        err->rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        break;
    }
}

/* @spec TS-0003 8.8.2.7 NOTE 2: keys are registered on the authenticated source identity. */
static int
key_session_owner(const struct srv_keys_session *ks, struct m2msec_error *err)
{
    if (ks->owner == NULL || ks->owner[0] == '\0') {
        /* A MAF KeID session that has not registered: no client owns what it would register. */
        return m2msec_error_setr(err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                                 "register with the %s before registering keys",
                                 ks->ops->kind == M2MSEC_KEYREG_MEF ? "MEF" : "MAF");
    }
    return 0;
}

static void
key_reg_clear(struct key_reg *r)
{
    m2msec_mefreg_rec_free(r->mef);
    m2msec_mafreg_rec_free(r->maf);
    memset(r, 0, sizeof(*r));
}

/* The live Client Registration reg_id of the registry's kind, whatever its owner. */
static int
key_reg_get(const struct srv_keys_session *ks, const char *reg_id, int64_t now, struct key_reg *r,
            struct m2msec_error *err)
{
    if (ks->ops->kind == M2MSEC_KEYREG_MEF) {
        if (m2msec_mef_reg_get(ks->db, reg_id, now, &r->mef, err) == -1) {
            return -1;
        }
        r->reg_id = r->mef->reg_id;
        r->owner = r->mef->kpm_id;
        r->admin_fqdn = r->mef->admin_fqdn;
        r->expires = r->mef->expires;
        return 0;
    }
    if (m2msec_maf_reg_get(ks->db, reg_id, now, &r->maf, err) == -1) {
        return -1;
    }
    r->reg_id = r->maf->reg_id;
    r->owner = r->maf->kmid_rel;
    r->admin_fqdn = r->maf->admin_fqdn;
    r->expires = r->maf->expires;
    return 0;
}

/* The session's live Client Registration reg_id, or 4004 / 4103. */
static int
key_reg_owned(const struct srv_keys_session *ks, const char *reg_id, int64_t now, struct key_reg *r,
              struct m2msec_error *err)
{
    if (key_reg_get(ks, reg_id, now, r, err) == -1) {
        if (m2msec_error_code(err) == M2MSEC_ERR_NOT_FOUND) {
            return m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                                     "no registration '%s'", reg_id);
        }
        err->rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        return -1;
    }
    if (!m2msec_keyreg_may_modify(r->owner, ks->owner)) {
        key_reg_clear(r);
        if (ks->ops->kind == M2MSEC_KEYREG_MEF) {
            return m2msec_error_setr(err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                                     "registration '%s' belongs to another client", reg_id);
        }
        return m2msec_error_setr(err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                                 "the registration belongs to another client");
    }
    return 0;
}

/* A live key registration, or 4004. */
static int
key_load(const struct srv_keys_session *ks, const char *rel, int64_t now, int with_key,
         struct m2msec_keyreg_rec **out, struct m2msec_error *err)
{
    if (!m2msec_keyreg_rel_valid(rel)) {
        /* Could never have been assigned: absent, like an unknown id. */
        return m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                                 "no key registration '%s'", rel);
    }
    if (m2msec_keyreg_get(ks->db, ks->ops->kind, rel, now, with_key, out, err) == -1) {
        key_store_rsc(err);
        if (err->rsc == M2MSEC_RSC_NOT_FOUND) {
            m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                              "no key registration '%s'", rel);
        }
        return -1;
    }
    return 0;
}

/* Update and De-Registration: the key of the session's credential only (4103). */
static int
key_owned(const struct srv_keys_session *ks, const struct m2msec_keyreg_rec *k,
          struct m2msec_error *err)
{
    if (!m2msec_keyreg_may_modify(k->owner, ks->owner)) {
        return m2msec_error_setr(err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                                 "the key registration belongs to another client");
    }
    return 0;
}

/* The daemon's further limit on the targets the session's client names, if it has one. */
static int
key_targets_allowed(const struct srv_keys_session *ks, char *const *targets, size_t n,
                    struct m2msec_error *err)
{
    if (ks->ops->targets_allowed == NULL) {
        return 0;
    }
    return ks->ops->targets_allowed(ks, targets, n, err);
}

/*
 * @spec TS-0003 10.3.1 and 10.3.5: a key the client did not supply is the
 * session's exporter "EXPORTER-oneM2M-Connection", 48 bytes: the first 16
 * are KcID (its hex the proposed RelativeKeyID), the last 32 the key.
 */
static int
key_export(const struct srv_keys_session *ks, uint8_t kcid[M2MSEC_KEYREG_KCID_LEN],
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

/*
 * Store k under an unused RelativeKeyID, written to rel (DEFECT-3: hex(KcID)
 * when exported and free, else a fresh random value). Durable on return.
 */
static int
key_put(const struct srv_keys_session *ks, struct m2msec_keyreg_rec *k, const uint8_t *kcid,
        char rel[M2MSEC_KEYREG_REL_HEX], int64_t now, struct m2msec_error *err)
{
    uint8_t fresh[M2MSEC_KEYREG_KCID_LEN];
    int tries;
    int rv = -1;

    k->rel_key_id = rel;
    for (tries = 0; tries < KEY_REL_TRIES; tries++) {
        if (m2msec_rand_bytes(fresh, sizeof(fresh), err) == -1) {
            err->rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
            goto out;
        }
        m2msec_keyreg_rel_choose(kcid, tries > 0, fresh, rel);
        if (m2msec_keyreg_put(ks->db, ks->ops->kind, k, now, err) == 0) {
            rv = 0;
            goto out;
        }
        if (m2msec_error_code(err) != M2MSEC_ERR_REFUSED || tries + 1 == KEY_REL_TRIES) {
            key_store_rsc(err);
            goto out;
        }
        m2msec_error_clear(err);
    }
out:
    m2msec_wipe(fresh, sizeof(fresh));
    return rv;
}

/* Log a registration: its Key Identifier and key check value, never the key. */
static void
key_note_registered(const struct srv_keys_session *ks, const struct m2msec_keyreg_rec *k,
                    int exported)
{
    struct m2msec_error scratch = { 0 };
    struct srv_keys_note n = { 0 };
    char keyid[M2MSEC_KEYREF_MAX];
    char kcv[M2MSEC_KCV_HEX_LEN];
    char ts[M2MSEC_TIMESTAMP_LEN], suid[12];

    (void)m2msec_timestamp_format(k->expires, ts);
    (void)snprintf(suid, sizeof(suid), "%u", k->suid);
    if (m2msec_keyref_format(k->rel_key_id, ks->fqdn, keyid, sizeof(keyid), &scratch) == -1 ||
        m2msec_key_check_value(k->key, kcv, &scratch) == -1) {
        m2msec_strlcpy(keyid, k->rel_key_id, sizeof(keyid));
        m2msec_strlcpy(kcv, "-", sizeof(kcv));
    }
    n.ev = SRV_KEYS_REGISTERED;
    n.rel_key_id = k->rel_key_id;
    n.key_id = keyid;
    n.reg_id = k->reg_id;
    n.kc = exported ? "exported" : "supplied";
    n.suid = suid;
    n.target = k->targets[0];
    n.source_id = k->source_id;
    n.expires = ts;
    n.kcv = kcv;
    ks->ops->note(ks, &n);
}

/* @spec TS-0003 8.3.5.2.7 / 8.8.2.7 Key Registration (tables 8.3.5.2.7-1, -2 / 8.8.2.7-1, -2) */
static int
h_key_register(const struct srv_keys_session *ks, const char *reg_id,
               const struct m2msec_http_msg *req, struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_req rq = { 0 };
    struct m2msec_keyreg_resp rs = { 0 };
    struct m2msec_keyreg_rec k = { 0 };
    struct key_reg reg = { 0 };
    struct m2msec_secret *key = NULL;
    uint8_t kcid[M2MSEC_KEYREG_KCID_LEN];
    char rel[M2MSEC_KEYREG_REL_HEX];
    enum m2msec_reg_peer peer = key_peer(ks);
    int64_t now = m2msec_now();
    int exported = 0;
    int rv = -1;

    memset(kcid, 0, sizeof(kcid));
    if (key_session_owner(ks, &err) == -1 || key_reg_owned(ks, reg_id, now, &reg, &err) == -1 ||
        m2msec_keyreg_req_decode(peer, req->body.data, req->body.len, &rq, &err) == -1 ||
        m2msec_keyreg_check_request(peer, &rq, ks->fqdn, reg.admin_fqdn, now, &err) == -1 ||
        key_targets_allowed(ks, rq.target_ids, rq.ntargets, &err) == -1) {
        goto out;
    }
    /*
     * The Kc lifetime (8.2.2.3 NOTE 4): never past the registration, the
     * owner credential (Km on a MAF; a Kpm does not expire) or the policy.
     */
    if (m2msec_keyreg_grant_et(rq.et, now, ks->lifetime_max_s, ks->cred_expires, reg.expires,
                               &k.expires, &err) == -1) {
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
    k.owner = ks->owner;
    k.reg_id = reg.reg_id;
    k.source_id = ks->client_id;
    k.admin_fqdn = rq.admin_fqdn;
    k.suid = rq.suid;
    k.targets = rq.target_ids;
    k.ntargets = rq.ntargets;
    k.labels = rq.lbl;
    k.nlabels = rq.nlbl;
    k.key = key;
    k.created = now;
    if (key_put(ks, &k, exported ? kcid : NULL, rel, now, &err) == -1) {
        goto out;
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
    if (m2msec_keyreg_resp_encode(peer, &rs, &resp->body, &err) == -1) {
        goto out;
    }
    resp->rsc = M2MSEC_RSC_CREATED;
    key_note_registered(ks, &k, exported);
    rv = 0;
out:
    m2msec_wipe(kcid, sizeof(kcid));
    m2msec_secret_free(key);
    key_reg_clear(&reg);
    m2msec_keyreg_req_clear(&rq);
    return rv == 0 ? 0 : key_reply(ks, resp, &err);
}

/* @spec TS-0003 8.3.5.2.8 / 8.8.2.8 Key Retrieval (tables 8.3.5.2.8-1, -2 / 8.8.2.8-1, -2) */
static int
h_key_retrieve(const struct srv_keys_session *ks, const char *rel, struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_rec *k = NULL;
    struct m2msec_keyreg_get_resp rs = { 0 };
    struct srv_keys_note n = { 0 };
    int rv = -1;

    if (key_load(ks, rel, m2msec_now(), 1, &k, &err) == -1) {
        goto out;
    }
    n.rel_key_id = k->rel_key_id;
    /* Only an authorised target, by the session's authenticated id, reads the key. */
    if (!m2msec_keyreg_may_retrieve(k->targets, k->ntargets, ks->client_id)) {
        m2msec_error_setr(&err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                          "not a target of this key registration");
        n.ev = SRV_KEYS_REFUSED;
        n.reason = "not a target";
        ks->ops->note(ks, &n);
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
    if (m2msec_keyreg_get_resp_encode(key_peer(ks), &rs, &resp->body, &err) == -1) {
        goto out;
    }
    resp->rsc = M2MSEC_RSC_OK;
    n.ev = SRV_KEYS_RETRIEVED;
    n.target = ks->client_id;
    n.source_id = k->source_id;
    ks->ops->note(ks, &n);
    rv = 0;
out:
    m2msec_keyreg_rec_free(k);
    return rv == 0 ? 0 : key_reply(ks, resp, &err);
}

/*
 * @spec TS-0003 8.3.5.2.9 / 8.8.2.9 Key Registration Update: metadata only
 * (et, lbl, targetIDs), by the owning client, with the registration's rules.
 */
static int
h_key_update(const struct srv_keys_session *ks, const char *rel, const struct m2msec_http_msg *req,
             struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_update up = { 0 }, out = { 0 };
    struct m2msec_keyreg_rec *k = NULL;
    struct key_reg reg = { 0 };
    struct srv_keys_note n = { 0 };
    char ts[M2MSEC_TIMESTAMP_LEN];
    enum m2msec_reg_peer peer = key_peer(ks);
    int64_t now = m2msec_now(), granted = 0;
    int rv = -1;

    if (key_session_owner(ks, &err) == -1 ||
        m2msec_keyreg_update_decode(peer, req->body.data, req->body.len, 1, &up, &err) == -1 ||
        key_load(ks, rel, now, 0, &k, &err) == -1 || key_owned(ks, k, &err) == -1 ||
        m2msec_keyreg_check_update(peer, &up, k->suid, ks->fqdn, now, &err) == -1) {
        goto out;
    }
    if (up.has_targets && key_targets_allowed(ks, up.target_ids, up.ntargets, &err) == -1) {
        goto out;
    }
    if (up.has_et) {
        /* As at registration: never past the registration, the credential or the policy. */
        if (key_reg_owned(ks, k->reg_id, now, &reg, &err) == -1 ||
            m2msec_keyreg_grant_et(up.et, now, ks->lifetime_max_s, ks->cred_expires, reg.expires,
                                   &granted, &err) == -1) {
            goto out;
        }
    }
    if (m2msec_keyreg_update(ks->db, ks->ops->kind, k->rel_key_id, now, up.has_et, granted,
                             up.has_lbl, up.lbl, up.nlbl, up.has_targets, up.target_ids,
                             up.ntargets, &err) == -1) {
        key_store_rsc(&err);
        goto out;
    }
    /* Tables 8.3.5.2.9-2 / 8.8.2.9-2: only the members present in the request come back. */
    out.has_et = up.has_et;
    out.et = granted;
    out.has_lbl = up.has_lbl;
    out.lbl = up.lbl;
    out.nlbl = up.nlbl;
    out.has_targets = up.has_targets;
    out.target_ids = up.target_ids;
    out.ntargets = up.ntargets;
    if (m2msec_keyreg_update_encode(peer, &out, 0, &resp->body, &err) == -1) {
        goto out;
    }
    resp->rsc = M2MSEC_RSC_UPDATED;
    (void)m2msec_timestamp_format(up.has_et ? granted : k->expires, ts);
    n.ev = SRV_KEYS_UPDATED;
    n.rel_key_id = k->rel_key_id;
    n.expires = ts;
    n.labels = up.has_lbl ? "replaced" : "kept";
    n.targets = up.has_targets ? "replaced" : "kept";
    ks->ops->note(ks, &n);
    rv = 0;
out:
    key_reg_clear(&reg);
    m2msec_keyreg_rec_free(k);
    m2msec_keyreg_update_clear(&up);
    return rv == 0 ? 0 : key_reply(ks, resp, &err);
}

/* @spec TS-0003 8.3.5.2.10 / 8.8.2.10 Key De-Registration: the owning client only. */
static int
h_key_deregister(const struct srv_keys_session *ks, const char *rel, struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_rec *k = NULL;
    struct srv_keys_note n = { 0 };
    int64_t now = m2msec_now();
    int rv = -1;

    if (key_session_owner(ks, &err) == -1 || key_load(ks, rel, now, 0, &k, &err) == -1 ||
        key_owned(ks, k, &err) == -1) {
        goto out;
    }
    /* secure_delete overwrites the sealed key; its targets and labels follow. */
    if (m2msec_keyreg_delete(ks->db, ks->ops->kind, k->rel_key_id, now, &err) == -1) {
        key_store_rsc(&err);
        goto out;
    }
    resp->rsc = M2MSEC_RSC_DELETED;
    n.ev = SRV_KEYS_DEREGISTERED;
    n.rel_key_id = k->rel_key_id;
    ks->ops->note(ks, &n);
    rv = 0;
out:
    m2msec_keyreg_rec_free(k);
    return rv == 0 ? 0 : key_reply(ks, resp, &err);
}

int
srv_keys_handle(const struct srv_keys_session *ks, char *const *segs, int n,
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
