/*
 * client/keyutil.c - what the MEF and MAF key-registry clients share.
 *
 * Layer: client (internal to client/mefkey.c and client/maf.c). The two
 * registries speak the same messages (codec/keyreg_msg.h) under the same
 * rules (proto/keyreg.h), so their clients take the same arguments and hand
 * back the same kind of key handle: this file holds the handle behind both
 * m2msec_mef_key and m2msec_maf_key (and its making from a Key Retrieval),
 * the checks and copies of the caller's arguments and the Key Registration
 * Update request built from them.
 */
#include <stdint.h>
#include <string.h>

#include "client/client_int.h"
#include "codec/json.h"
#include "codec/keyreg_msg.h"
#include "crypto/kdf.h"
#include "util/mem.h"
#include "util/time.h"

int
client_ready(struct m2msec_client *c)
{
    m2msec_error_clear(&c->err);
    if (c->cfg == NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_STATE, "client not configured");
    }
    return 0;
}

struct client_key *
client_key_new(const char *key_id, const char *source_id, unsigned suid, int64_t expires,
               const struct m2msec_secret *key, struct m2msec_error *err)
{
    struct client_key *k = m2msec_calloc(1, sizeof(*k));

    if (k == NULL || (k->key_id = m2msec_strdup(key_id)) == NULL ||
        (k->source_id = m2msec_strdup(source_id)) == NULL) {
        client_key_free(k);
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    k->suid = suid;
    k->expires = expires;
    /* The handle keeps the key check value only: the key stays in the device state. */
    if (m2msec_key_check_value(key, k->kcv, err) == -1) {
        client_key_free(k);
        return NULL;
    }
    return k;
}

void
client_key_free(struct client_key *k)
{
    if (k == NULL) {
        return;
    }
    m2msec_free(k->key_id);
    m2msec_free(k->source_id);
    m2msec_free(k);
}

struct client_key *
client_key_get(struct m2msec_client *c, const char *key_id, client_key_retrieve_fn retrieve,
               struct m2msec_error *err)
{
    struct m2msec_keyreg_get_resp rs = { 0 };
    struct client_key *k = NULL;

    if (retrieve(c, key_id, &rs, err) == 0) {
        /* DEFECT-23: the caller compares the SUID with the usage it saw the identifier in. */
        k = client_key_new(key_id, rs.source_id, rs.suid, rs.et, rs.key_value, err);
    }
    m2msec_keyreg_get_resp_clear(&rs);
    return k;
}

int
client_reg_id_valid(const char *reg_id, struct m2msec_error *err)
{
    if (reg_id == NULL || reg_id[0] == '\0' || strlen(reg_id) > 64 ||
        strspn(reg_id, "0123456789abcdefABCDEF") != strlen(reg_id)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "invalid registration id");
    }
    return 0;
}

char **
client_strlist_dup(const char *const *items, size_t n, const char *what, struct m2msec_error *err)
{
    char **list = m2msec_calloc(n + 1, sizeof(*list));
    size_t i;

    if (list == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (items == NULL || items[i] == NULL) {
            m2msec_strlist_free(list);
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s %zu missing", what, i);
            return NULL;
        }
        list[i] = m2msec_strdup(items[i]);
        if (list[i] == NULL) {
            m2msec_strlist_free(list);
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
            return NULL;
        }
    }
    return list;
}

/*
 * @spec TS-0003 8.3.5.2.9 / 8.8.2.9 (tables 8.3.5.2.9-1 / 8.8.2.9-1): the
 * request has at least one of et, targetIDs and lbl; a lifetime becomes an
 * et from now, and labels are replaced (or cleared) only when asked for.
 */
int
client_keyupdate_req(const char *fqdn, uint64_t lifetime_s, const char *const *target_ids,
                     size_t ntargets, const char *const *labels, size_t nlabels, unsigned flags,
                     unsigned set_labels, struct m2msec_keyreg_update *up, struct m2msec_error *err)
{
    if ((flags & ~set_labels) != 0 || lifetime_s > UINT32_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "unknown flags or lifetime");
    }
    if (lifetime_s != 0) {
        up->has_et = 1;
        up->et = m2msec_now() + (int64_t)lifetime_s;
    }
    if (ntargets > 0) {
        up->target_ids = client_strlist_dup(target_ids, ntargets, "target", err);
        if (up->target_ids == NULL) {
            return -1;
        }
        up->ntargets = ntargets;
        up->has_targets = 1;
    }
    if (flags & set_labels) {
        up->lbl = client_strlist_dup(labels, nlabels, "label", err);
        if (up->lbl == NULL) {
            return -1;
        }
        up->nlbl = nlabels;
        up->has_lbl = 1;
    }
    if (!up->has_et && !up->has_targets && !up->has_lbl) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "nothing to update: give a lifetime, targets or labels");
    }
    if (fqdn != NULL) {
        up->fqdn = m2msec_strdup(fqdn);
        if (up->fqdn == NULL) {
            return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        }
    }
    return 0;
}
