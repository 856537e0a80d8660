/*
 * client/state.c - struct m2msec_state: read-only view of an enrolled device.
 *
 * Layer: client. Opening the state also erases a Ke whose lifetime has ended
 * (TS-0003 10.7; SPEC-DIGEST 5 rule 3): an expired key is reported as absent
 * and must be re-provisioned, not retried.
 */
#include <string.h>

#include "client/client_int.h"
#include "crypto/kdf.h"
#include "proto/ids.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

M2MSEC_API struct m2msec_state *
m2msec_state_open(const char *dir, const char **err_out)
{
    static _Thread_local char msg[M2MSEC_ERROR_MSG_LEN];
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_enrolment_rec *rec = NULL;
    struct m2msec_state *st = NULL;
    int erased = 0;

    if (err_out != NULL) {
        *err_out = NULL;
    }
    if (dir == NULL) {
        m2msec_error_setx(&err, M2MSEC_ERR_INVALID_ARGUMENT, "no state directory");
        goto fail;
    }
    db = client_state_open(dir, 0, &err);
    if (db == NULL || m2msec_dev_sweep(db, m2msec_now(), &erased, &err) == -1) {
        goto fail;
    }
    st = m2msec_calloc(1, sizeof(*st));
    if (st == NULL) {
        m2msec_error_setx(&err, M2MSEC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* The record first: after expiry its Ke is gone and only the metadata remains. */
    if (m2msec_dev_enrolment_get(db, 0, &rec, &err) == -1) {
        if (m2msec_error_code(&err) != M2MSEC_ERR_NOT_FOUND) {
            goto fail;
        }
        m2msec_db_close(db);
        return st; /* never enrolled */
    }
    st->expires = rec->expires;
    if (rec->expires <= m2msec_now()) {
        st->expired = 1;
    } else {
        m2msec_enrolment_rec_free(rec);
        rec = NULL;
        if (m2msec_dev_enrolment_get(db, 1, &rec, &err) == -1) {
            goto fail;
        }
        st->keid = m2msec_strdup(rec->keid);
        if (st->keid == NULL || m2msec_key_check_value(rec->ke, st->kcv, &err) == -1) {
            goto fail;
        }
        st->has_kcv = 1;
        st->ke = rec->ke;
        rec->ke = NULL;
    }
    m2msec_enrolment_rec_free(rec);
    m2msec_db_close(db);
    return st;
fail:
    m2msec_strlcpy(msg, m2msec_error_msg(&err), sizeof(msg));
    if (err_out != NULL) {
        *err_out = msg;
    }
    m2msec_enrolment_rec_free(rec);
    m2msec_state_free(st);
    m2msec_db_close(db);
    return NULL;
}

M2MSEC_API void
m2msec_state_free(struct m2msec_state *st)
{
    if (st == NULL) {
        return;
    }
    m2msec_secret_free(st->ke);
    m2msec_free(st->keid);
    m2msec_wipe(st->kcv, sizeof(st->kcv));
    m2msec_free(st);
}

M2MSEC_API const char *
m2msec_state_keid(const struct m2msec_state *st)
{
    return st->keid;
}

M2MSEC_API int64_t
m2msec_state_ke_expires(const struct m2msec_state *st)
{
    return st->expires;
}

M2MSEC_API int
m2msec_state_ke_expired(const struct m2msec_state *st)
{
    return st->expired;
}

M2MSEC_API int
m2msec_state_ke_kcv(const struct m2msec_state *st, char out[17])
{
    if (!st->has_kcv) {
        return -1;
    }
    memcpy(out, st->kcv, 17);
    return 0;
}

/* @spec TS-0003 10.3.2, 10.3.3, 10.3.7: the same derivations the MEF applies for a target. */
M2MSEC_API int
m2msec_state_derived_kcv(const struct m2msec_state *st, unsigned suid, const char *target_id,
                         int legacy, char out[17])
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = NULL;
    int rv = -1;

    if (st == NULL || st->ke == NULL || target_id == NULL || !m2msec_suid_valid(suid)) {
        return -1;
    }
    if (legacy && suid == 21) {
        rv = m2msec_derive_km_legacy(st->ke, target_id, &k, &err);
    } else if (legacy && suid == 22) {
        rv = m2msec_derive_kpsa_legacy(st->ke, target_id, &k, &err);
    } else if (legacy) {
        return -1; /* the legacy forms exist for Km and Kpsa only */
    } else {
        rv = m2msec_derive_usage_constrained(st->ke, suid, target_id, &k, &err);
    }
    if (rv == 0) {
        rv = m2msec_key_check_value(k, out, &err);
    }
    m2msec_secret_free(k);
    return rv;
}
