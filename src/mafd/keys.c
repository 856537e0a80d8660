/*
 * mafd/keys.c - MAF Key Registration, Retrieval, Update and De-Registration.
 *
 * Layer: daemon (mafd). @spec TS-0003 8.8.2.7 - 8.8.2.10, on the sessions of
 * serve.c (the MAF Handshake with KmID/Km, or a KeID session once it
 * registered). The handlers are srv/keys.c's, shared with the MEF; what is
 * the MAF's own is here: the session's identity (the relative KmID of its
 * client owns the keys it registers, empty on a KeID session that has not
 * registered; its MAF Client ID is the Source MAF Client ID), the Km expiry
 * as a bound on every key, the targets an operator may have limited a
 * pre-provisioned client to (`mafd client add --target`), the routes and the
 * log lines (maf_key_*). The identity comes from serve.c, never from the
 * payload.
 *
 * Routes (docs/protocol-maf.md section 3): POST /maf/<regID>/keys,
 * GET | PUT | DELETE /maf/keys/<RelativeKeyID>.
 */
#include <string.h>

#include "keys.h"
#include "log.h"
#include "mafd.h"
#include "proto/keyreg.h"
#include "util/time.h"

/* The MAF's log lines. A refused retrieval is the client's answer only. */
static void
maf_key_note(const struct srv_keys_session *ks, const struct srv_keys_note *n)
{
    switch (n->ev) {
    case SRV_KEYS_REGISTERED:
        srv_log_event(SRV_LOG_NOTICE, "maf_key_registered", "key_id", n->key_id, "source_id",
                      n->source_id, "reg_id", n->reg_id, "kc", n->kc, "target", n->target,
                      "expires", n->expires, "kcv", n->kcv, NULL);
        break;
    case SRV_KEYS_REFUSED:
        break;
    case SRV_KEYS_RETRIEVED:
        srv_log_event(SRV_LOG_NOTICE, "maf_key_retrieved", "rel_key_id", n->rel_key_id, "target",
                      n->target, "source_id", n->source_id, NULL);
        break;
    case SRV_KEYS_UPDATED:
        srv_log_event(SRV_LOG_NOTICE, "maf_key_updated", "rel_key_id", n->rel_key_id, "source_id",
                      ks->client_id, "expires", n->expires, "labels", n->labels, "targets",
                      n->targets, NULL);
        break;
    case SRV_KEYS_DEREGISTERED:
        srv_log_event(SRV_LOG_NOTICE, "maf_key_deregistered", "rel_key_id", n->rel_key_id, NULL);
        break;
    }
}

/*
 * @spec TS-0003 8.8.2.7 NOTE 2 (authorisation on the source identity): a
 * client the operator limited to some targetIDs (`mafd client add --target`)
 * names no other, at registration or update. 0 allowed; -1 with rsc 4103, or
 * 5000 on a store failure.
 */
static int
maf_key_targets_allowed(const struct srv_keys_session *ks, char *const *targets, size_t ntargets,
                        struct m2msec_error *err)
{
    struct m2msec_maf_client_rec *r = NULL;
    size_t i, j;
    int rv = -1;

    if (m2msec_maf_client_get(ks->db, ks->owner, m2msec_now(), 0, &r, err) == -1) {
        if (m2msec_error_code(err) == M2MSEC_ERR_NOT_FOUND) {
            m2msec_error_setr(err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                              "the credential of this session was removed");
        } else {
            err->rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        }
        goto out;
    }
    for (i = 0; r->targets != NULL && i < ntargets; i++) {
        for (j = 0; j < r->ntargets; j++) {
            if (strcmp(targets[i], r->targets[j]) == 0 /* public */) {
                break;
            }
        }
        if (j == r->ntargets) {
            m2msec_error_setr(err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                              "target '%s' is not allowed for this client", targets[i]);
            goto out;
        }
    }
    rv = 0;
out:
    m2msec_maf_client_rec_free(r);
    return rv;
}

static const struct srv_keys_ops maf_key_ops = {
    .kind = M2MSEC_KEYREG_MAF,
    .targets_allowed = maf_key_targets_allowed,
    .note = maf_key_note,
    .reply_error = mafd_reply_error,
};

int
mafd_keys_route(char *const *segs, int n)
{
    return n == 3 && (strcmp(segs[1], M2MSEC_PATH_KEYS) == 0 /* public */ ||
                      strcmp(segs[2], M2MSEC_PATH_KEYS) == 0 /* public */);
}

int
mafd_keys_handle(struct mafd_key_session *ks, char *const *segs, int n,
                 const struct m2msec_http_msg *req, struct srv_response *resp)
{
    const struct srv_keys_session s = {
        .ops = &maf_key_ops,
        .db = ks->db,
        .tls = ks->tls,
        .fqdn = ks->fqdn,
        .lifetime_max_s = ks->lifetime_max_s,
        .owner = ks->kmid_rel,
        .client_id = ks->client_id,
        .cred_expires = ks->km_expires,
        .kc_exported = ks->kc_exported,
    };

    return srv_keys_handle(&s, segs, n, req, resp);
}
