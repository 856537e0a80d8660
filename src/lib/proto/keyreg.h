/*
 * proto/keyreg.h - the rules of Key Registration, Retrieval, Update and
 * De-Registration, shared by the MEF (TS-0003 8.3.5.2.7 - 8.3.5.2.10), the MAF
 * (8.8.2.7 - 8.8.2.10) and the clients of both.
 *
 * Layer: proto (I/O-free: no clock, no randomness, no store). Callers pass
 * the time, the random bytes and what they looked up. Refusals are
 * M2MSEC_ERR_PROTOCOL with rsc 4000 (BAD_REQUEST) and a message naming the
 * member, unless stated otherwise.
 *
 * Which SUIDs each registry distributes (TS-0004 m2m:suid, SPEC-DIGEST 2.6):
 * the first digit of a SUID says where the key comes from. Keys registered
 * with the MEF are "RSPF-provisioned symmetric keys" (first digit 2) and
 * keys registered with the MAF "MAF-distributed symmetric keys" (3). Of
 * these, only the end-to-end uses can be registered: SAEF (x2), ESPrim (x3),
 * ESData encryption (x4) and signature (x5). So the MEF accepts 22..25 and
 * the MAF 32..35. SUID 21 (a key for use with a MAF) is not registered: a
 * MAF obtains it with fetchCredentials (8.3.2.1, 10.3.7), and a MAF FQDN is
 * not the AE-ID or CSE-ID that 8.3.5.2.7 requires of a target.
 */
#ifndef M2MSEC_PROTO_KEYREG_H
#define M2MSEC_PROTO_KEYREG_H

#include <stddef.h>
#include <stdint.h>

#include "codec/keyreg_msg.h"
#include "codec/mef_msg.h"
#include "util/error.h"

/* Path segment of the key resources (docs/PROTOCOL.md section 4b, protocol-maf.md section 3). */
#define M2MSEC_PATH_KEYS "keys"

#define M2MSEC_KEYREG_KCID_LEN 16 /* KcID: the first 16 exporter bytes (10.3.1) */
#define M2MSEC_KEYREG_REL_HEX  (2 * M2MSEC_KEYREG_KCID_LEN + 1)

/* The security feature a SUID's second digit names, and so its target-list rule. */
enum m2msec_keyreg_scope {
    M2MSEC_KEYREG_SCOPE_NONE = 0, /* not a SUID this registry distributes */
    M2MSEC_KEYREG_SCOPE_SAEF,     /* x2: exactly one target */
    M2MSEC_KEYREG_SCOPE_ESPRIM,   /* x3: exactly one target */
    M2MSEC_KEYREG_SCOPE_ESDATA,   /* x4, x5: one or more targets */
};

/* The scope of suid in the registry of peer; NONE when that registry does not take it. */
enum m2msec_keyreg_scope m2msec_keyreg_suid_scope(enum m2msec_reg_peer peer, unsigned suid);

/*
 * @spec TS-0003 8.3.5.2.7 / 8.8.2.7 (target list rule; also 8.3.5.2.9 /
 * 8.8.2.9): suid must belong to the registry, the list must be present
 * (the registrars do not make lists up), hold exactly one id for SAEF and
 * ESPrim and 1..M2MSEC_KEYREG_TARGETS_MAX for ESData, each a CSE-ID or
 * AE-ID, none twice.
 */
int m2msec_keyreg_check_targets(enum m2msec_reg_peer peer, unsigned suid, char *const *targets,
                                size_t n, struct m2msec_error *err);

/*
 * A Key Registration request as the registrar receives it: the FQDN member
 * names own_fqdn (case-insensitively), adminFQDN is an FQDN and, when
 * reg_admin_fqdn is not NULL, the adminFQDN of the Client Registration the
 * key is registered under (8.3.5.2.7 pre-condition: registered for that
 * stakeholder), et is after now, and the SUID and targets pass
 * m2msec_keyreg_check_targets.
 */
int m2msec_keyreg_check_request(enum m2msec_reg_peer peer, const struct m2msec_keyreg_req *rq,
                                const char *own_fqdn, const char *reg_admin_fqdn, int64_t now,
                                struct m2msec_error *err);

/*
 * A Key Registration Update request against the stored registration's SUID:
 * the FQDN member names own_fqdn, a new et is after now, new targets pass
 * m2msec_keyreg_check_targets for stored_suid.
 */
int m2msec_keyreg_check_update(enum m2msec_reg_peer peer, const struct m2msec_keyreg_update *up,
                               unsigned stored_suid, const char *own_fqdn, int64_t now,
                               struct m2msec_error *err);

/*
 * The expirationTime the registrar grants (the Kc lifetime, 8.2.2.3 NOTE 4):
 * min(requested, now + policy_max_s, cred_expires, reg_expires), where
 * cred_expires is the expiry of the credential that authenticated the
 * source (Km on a MAF) and reg_expires that of the Client Registration;
 * 0 means "does not expire". requested <= now: rsc 4000. A bound at or
 * before now (a credential or registration that just expired): rsc 4004.
 */
int m2msec_keyreg_grant_et(int64_t requested, int64_t now, uint64_t policy_max_s,
                           int64_t cred_expires, int64_t reg_expires, int64_t *granted,
                           struct m2msec_error *err);

/*
 * @spec TS-0003 10.3.5 and 8.3.5.2.7 / 8.8.2.7 (DEFECT-3): the RelativeKeyID
 * of a new registration. An exported key (kcid not NULL) proposes
 * hex(KcID), unless kcid_in_use; a self-generated key, or a KcID in use,
 * gets hex(fresh), 16 random bytes the caller drew. out: 32 lowercase hex.
 */
void m2msec_keyreg_rel_choose(const uint8_t *kcid, int kcid_in_use,
                              const uint8_t fresh[M2MSEC_KEYREG_KCID_LEN],
                              char out[M2MSEC_KEYREG_REL_HEX]);

/*
 * @spec TS-0003 8.3.5.2.8 / 8.8.2.8: 1 when the authenticated identity of
 * the session (its CSE-ID or AE-ID) is one of the authorised targets,
 * compared exactly. The source itself is no target unless listed.
 */
int m2msec_keyreg_may_retrieve(char *const *targets, size_t n, const char *session_id);
/* Update and De-Registration: 1 when the session's credential owns the registration. */
int m2msec_keyreg_may_modify(const char *owner, const char *session_owner);

/*
 * Client side, @spec TS-0003 8.3.9.9.4 / 8.3.9.9.5: a Key Registration
 * response is accepted only with et after now, sourceID = self_id, and
 * adminFQDN, SUID and targetIDs as sent (DEFECT-27). M2MSEC_ERR_PROTOCOL
 * (no rsc) otherwise.
 */
int m2msec_keyreg_verify_resp(const struct m2msec_keyreg_req *rq,
                              const struct m2msec_keyreg_resp *rs, const char *self_id, int64_t now,
                              struct m2msec_error *err);
/* Update response: exactly the members the request had, et (if any) after now. */
int m2msec_keyreg_verify_update(const struct m2msec_keyreg_update *rq,
                                const struct m2msec_keyreg_update *rs, int64_t now,
                                struct m2msec_error *err);

#endif
