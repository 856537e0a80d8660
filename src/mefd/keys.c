/*
 * mefd/keys.c - MEF Key Registration, Retrieval, Update and De-Registration.
 *
 * Layer: daemon (mefd). @spec TS-0003 8.3.5.2.7 - 8.3.5.2.10, on the PPSK
 * sessions of serve.c (the MEF Handshake of 8.3.5.2.2 with KpmID/Kpm). The
 * handlers are srv/keys.c's, shared with the MAF; what is the MEF's own is
 * here: the session's identity (its KpmID owns the registrations it makes,
 * its Enrolee-ID is the Source MEF Client ID and what a retrieving target is
 * compared with; both from serve.c, never from the payload), the routes and
 * the log lines (mef_key_*, naming the KpmID).
 *
 * Routes (docs/PROTOCOL.md section 4b): POST /mef/<regID>/keys,
 * GET | PUT | DELETE /mef/keys/<RelativeKeyID>.
 */
#include <string.h>

#include "keys.h"
#include "log.h"
#include "mefd.h"
#include "proto/exchange.h"
#include "proto/keyreg.h"

/* The MEF's log lines: every event names the KpmID that acted. */
static void
mef_key_note(const struct srv_keys_session *ks, const struct srv_keys_note *n)
{
    switch (n->ev) {
    case SRV_KEYS_REGISTERED:
        srv_log_event(SRV_LOG_NOTICE, "mef_key_registered", "key_id", n->key_id, "kpm_id",
                      ks->owner, "source_id", n->source_id, "reg_id", n->reg_id, "kc", n->kc,
                      "suid", n->suid, "target", n->target, "expires", n->expires, "kcv", n->kcv,
                      NULL);
        break;
    case SRV_KEYS_REFUSED:
        srv_log_event(SRV_LOG_NOTICE, "mef_key_refused", "rel_key_id", n->rel_key_id, "client_id",
                      ks->client_id, "reason", n->reason, NULL);
        break;
    case SRV_KEYS_RETRIEVED:
        srv_log_event(SRV_LOG_NOTICE, "mef_key_retrieved", "rel_key_id", n->rel_key_id, "target",
                      n->target, "kpm_id", ks->owner, "source_id", n->source_id, NULL);
        break;
    case SRV_KEYS_UPDATED:
        srv_log_event(SRV_LOG_NOTICE, "mef_key_updated", "rel_key_id", n->rel_key_id, "kpm_id",
                      ks->owner, "expires", n->expires, "labels", n->labels, "targets", n->targets,
                      NULL);
        break;
    case SRV_KEYS_DEREGISTERED:
        srv_log_event(SRV_LOG_NOTICE, "mef_key_deregistered", "rel_key_id", n->rel_key_id, "kpm_id",
                      ks->owner, NULL);
        break;
    }
}

/* A Kpm does not expire and the MEF limits no client's targets beyond the rules. */
static const struct srv_keys_ops mef_key_ops = {
    .kind = M2MSEC_KEYREG_MEF,
    .note = mef_key_note,
};

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
    const struct srv_keys_session s = {
        .ops = &mef_key_ops,
        .db = ks->db,
        .tls = ks->tls,
        .fqdn = ks->fqdn,
        .lifetime_max_s = ks->lifetime_max_s,
        .owner = ks->kpm_id,
        .client_id = ks->client_id,
        .cred_expires = 0,
        .kc_exported = ks->kc_exported,
    };

    return srv_keys_handle(&s, segs, n, req, resp);
}

int
mefd_keys_sweep(struct m2msec_db *db, int64_t now, size_t *erased, struct m2msec_error *err)
{
    return m2msec_keyreg_sweep(db, M2MSEC_KEYREG_MEF, now, erased, err);
}
