/*
 * proto/keyreg.c - Key Registration rules shared by the MEF, the MAF and their clients.
 *
 * Layer: proto (I/O-free). Depends on codec (the message structs), proto/ids
 * and util; never on store, tls or the clock. See proto/keyreg.h for which
 * SUIDs each registry takes and why.
 */
#include <stdint.h>
#include <string.h>

#include "proto/ids.h"
#include "proto/keyreg.h"
#include "util/encoding.h"
#include "util/error.h"

#define KR_RSC_BAD_REQUEST 4000
#define KR_RSC_NOT_FOUND   4004

static int
bad(struct m2msec_error *err, const char *member, const char *why)
{
    return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, KR_RSC_BAD_REQUEST, "member '%s': %s",
                             member, why);
}

/*
 * @spec TS-0004 m2m:suid (SPEC-DIGEST 2.6): first digit = origin of the key
 * (2 RSPF-provisioned: the MEF's registry; 3 MAF-distributed: the MAF's),
 * second digit = the feature it serves.
 */
enum m2msec_keyreg_scope
m2msec_keyreg_suid_scope(enum m2msec_reg_peer peer, unsigned suid)
{
    unsigned origin = peer == M2MSEC_REG_MAF ? 3u : 2u;

    if (peer != M2MSEC_REG_MEF && peer != M2MSEC_REG_MAF) {
        return M2MSEC_KEYREG_SCOPE_NONE;
    }
    if (suid / 10 != origin) {
        return M2MSEC_KEYREG_SCOPE_NONE;
    }
    switch (suid % 10) {
    case 2:
        return M2MSEC_KEYREG_SCOPE_SAEF;
    case 3:
        return M2MSEC_KEYREG_SCOPE_ESPRIM;
    case 4:
    case 5:
        return M2MSEC_KEYREG_SCOPE_ESDATA;
    default:
        return M2MSEC_KEYREG_SCOPE_NONE;
    }
}

int
m2msec_keyreg_check_targets(enum m2msec_reg_peer peer, unsigned suid, char *const *targets,
                            size_t n, struct m2msec_error *err)
{
    enum m2msec_keyreg_scope scope = m2msec_keyreg_suid_scope(peer, suid);
    size_t i, j;

    if (scope == M2MSEC_KEYREG_SCOPE_NONE) {
        return bad(err, "suid",
                   peer == M2MSEC_REG_MAF
                           ? "the MAF registers MAF-distributed keys only (SUID 32..35)"
                           : "the MEF registers RSPF-provisioned keys only (SUID 22..25)");
    }
    if (targets == NULL || n == 0) {
        /* 8.3.5.2.7 lets the registrar make a list up; ours has no stakeholder to ask. */
        return bad(err, "targetIDs", "required: the registrar does not create target lists");
    }
    /* @spec TS-0003 8.3.5.2.7 step 3 / 8.8.2.7: one target for SAEF and ESPrim keys. */
    if ((scope == M2MSEC_KEYREG_SCOPE_SAEF || scope == M2MSEC_KEYREG_SCOPE_ESPRIM) && n != 1) {
        return bad(err, "targetIDs", "SAEF and ESPrim keys take exactly one target");
    }
    if (n > M2MSEC_KEYREG_TARGETS_MAX) {
        return bad(err, "targetIDs", "too many targets");
    }
    for (i = 0; i < n; i++) {
        if (targets[i] == NULL || !m2msec_entity_id_valid(targets[i])) {
            return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, KR_RSC_BAD_REQUEST,
                                     "member 'targetIDs': item %zu is not a CSE-ID or AE-ID", i);
        }
        for (j = 0; j < i; j++) {
            if (strcmp(targets[i], targets[j]) == 0 /* public */) {
                return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, KR_RSC_BAD_REQUEST,
                                         "member 'targetIDs': item %zu repeats item %zu", i, j);
            }
        }
    }
    return 0;
}

static int
check_fqdn(enum m2msec_reg_peer peer, const char *fqdn, const char *own_fqdn,
           struct m2msec_error *err)
{
    const char *member = m2msec_keyreg_fqdn_member(peer);

    if (fqdn == NULL || own_fqdn == NULL || !m2msec_fqdn_equal(fqdn, own_fqdn)) {
        return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, KR_RSC_BAD_REQUEST,
                                 "member '%s': '%s' is not this %s", member,
                                 fqdn != NULL ? fqdn : "", peer == M2MSEC_REG_MAF ? "MAF" : "MEF");
    }
    return 0;
}

/* @spec TS-0003 8.3.5.2.7 / 8.8.2.7: the registrar's checks of table 8.3.5.2.7-1 / 8.8.2.7-1 */
int
m2msec_keyreg_check_request(enum m2msec_reg_peer peer, const struct m2msec_keyreg_req *rq,
                            const char *own_fqdn, const char *reg_admin_fqdn, int64_t now,
                            struct m2msec_error *err)
{
    if (check_fqdn(peer, rq->fqdn, own_fqdn, err) == -1) {
        return -1;
    }
    if (rq->admin_fqdn == NULL || !m2msec_fqdn_valid(rq->admin_fqdn)) {
        return bad(err, "adminFQDN", "not a valid FQDN");
    }
    if (reg_admin_fqdn != NULL && !m2msec_fqdn_equal(rq->admin_fqdn, reg_admin_fqdn)) {
        return bad(err, "adminFQDN", "not the stakeholder of the client registration");
    }
    if (rq->et <= now) {
        return bad(err, "et", "expirationTime is not in the future");
    }
    return m2msec_keyreg_check_targets(peer, rq->suid, rq->target_ids, rq->ntargets, err);
}

/* @spec TS-0003 8.3.5.2.9 / 8.8.2.9: the target list rule holds for an update too. */
int
m2msec_keyreg_check_update(enum m2msec_reg_peer peer, const struct m2msec_keyreg_update *up,
                           unsigned stored_suid, const char *own_fqdn, int64_t now,
                           struct m2msec_error *err)
{
    if (check_fqdn(peer, up->fqdn, own_fqdn, err) == -1) {
        return -1;
    }
    if (!up->has_et && !up->has_lbl && !up->has_targets) {
        return bad(err, "et/lbl/targetIDs", "nothing to update");
    }
    if (up->has_et && up->et <= now) {
        return bad(err, "et", "expirationTime is not in the future");
    }
    if (up->has_targets &&
        m2msec_keyreg_check_targets(peer, stored_suid, up->target_ids, up->ntargets, err) == -1) {
        return -1;
    }
    return 0;
}

/* SPEC-DIGEST 5 rule 2: nothing registered outlives what authorised it. */
int
m2msec_keyreg_grant_et(int64_t requested, int64_t now, uint64_t policy_max_s, int64_t cred_expires,
                       int64_t reg_expires, int64_t *granted, struct m2msec_error *err)
{
    int64_t g = requested;

    if (requested <= now) {
        return bad(err, "et", "expirationTime is not in the future");
    }
    if (policy_max_s < (uint64_t)(INT64_MAX - (now > 0 ? now : 0)) &&
        now + (int64_t)policy_max_s < g) {
        g = now + (int64_t)policy_max_s;
    }
    if (cred_expires != 0 && cred_expires < g) {
        g = cred_expires;
    }
    if (reg_expires != 0 && reg_expires < g) {
        g = reg_expires;
    }
    if (g <= now) {
        return m2msec_error_setr(err, M2MSEC_ERR_EXPIRED, KR_RSC_NOT_FOUND,
                                 "the credential or registration has expired");
    }
    *granted = g;
    return 0;
}

void
m2msec_keyreg_rel_choose(const uint8_t *kcid, int kcid_in_use,
                         const uint8_t fresh[M2MSEC_KEYREG_KCID_LEN],
                         char out[M2MSEC_KEYREG_REL_HEX])
{
    const uint8_t *src = kcid != NULL && !kcid_in_use ? kcid : fresh;

    (void)m2msec_hex_encode(src, M2MSEC_KEYREG_KCID_LEN, out, M2MSEC_KEYREG_REL_HEX);
}

int
m2msec_keyreg_may_retrieve(char *const *targets, size_t n, const char *session_id)
{
    size_t i;

    if (targets == NULL || session_id == NULL || session_id[0] == '\0') {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (targets[i] != NULL && strcmp(targets[i], session_id) == 0 /* public */) {
            return 1;
        }
    }
    return 0;
}

int
m2msec_keyreg_may_modify(const char *owner, const char *session_owner)
{
    return owner != NULL && session_owner != NULL && owner[0] != '\0' &&
           strcmp(owner, session_owner) == 0 /* public */;
}

static int
lists_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
    size_t i;

    if (na != nb || (na > 0 && (a == NULL || b == NULL))) {
        return 0;
    }
    for (i = 0; i < na; i++) {
        if (a[i] == NULL || b[i] == NULL || strcmp(a[i], b[i]) != 0 /* public */) {
            return 0;
        }
    }
    return 1;
}

int
m2msec_keyreg_verify_resp(const struct m2msec_keyreg_req *rq, const struct m2msec_keyreg_resp *rs,
                          const char *self_id, int64_t now, struct m2msec_error *err)
{
    if (rs->et <= now) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "key registration response: expirationTime is not in the future");
    }
    if (self_id != NULL &&
        (rs->source_id == NULL || strcmp(rs->source_id, self_id) != 0 /* public */)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "key registration response: sourceID is not this client");
    }
    if (rs->admin_fqdn == NULL || rq->admin_fqdn == NULL ||
        !m2msec_fqdn_equal(rs->admin_fqdn, rq->admin_fqdn) || rs->suid != rq->suid) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "key registration response: adminFQDN or SUID changed");
    }
    if (!lists_equal(rs->target_ids, rs->ntargets, rq->target_ids, rq->ntargets)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "key registration response: targetIDs changed");
    }
    if (!m2msec_keyreg_rel_valid(rs->rel_key_id)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "key registration response: invalid RelativeKeyID");
    }
    return 0;
}

int
m2msec_keyreg_verify_update(const struct m2msec_keyreg_update *rq,
                            const struct m2msec_keyreg_update *rs, int64_t now,
                            struct m2msec_error *err)
{
    if (rs->has_et != rq->has_et || rs->has_lbl != rq->has_lbl ||
        rs->has_targets != rq->has_targets) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "key update response: members differ from the request");
    }
    if (rs->has_et && rs->et <= now) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "key update response: expirationTime is not in the future");
    }
    return 0;
}
