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

/* The live root credentials, with their key check values (the keys are not kept). */
static int
load_roots(struct m2msec_db *db, struct m2msec_state *st, struct m2msec_error *err)
{
    struct m2msec_dev_root_rec *r = NULL;
    char **ids = NULL;
    size_t n = 0, i;
    int rv = -1;

    if (m2msec_dev_root_ids(db, m2msec_now(), &ids, &n, err) == -1) {
        goto out;
    }
    if (n == 0) {
        rv = 0;
        goto out;
    }
    st->roots = m2msec_calloc(n, sizeof(*st->roots));
    if (st->roots == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        struct state_root *sr = &st->roots[st->nroots];

        if (m2msec_dev_root_get(db, ids[i], m2msec_now(), 1, &r, err) == -1) {
            if (m2msec_error_code(err) == M2MSEC_ERR_NOT_FOUND) {
                m2msec_error_clear(err);
                continue; /* expired since the listing */
            }
            goto out;
        }
        sr->purpose = m2msec_strdup(r->purpose);
        sr->id = m2msec_strdup(r->id);
        sr->expires = r->expires;
        st->nroots++;
        if (sr->purpose == NULL || sr->id == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (m2msec_key_check_value(r->key, sr->kcv, err) == -1) {
            goto out;
        }
        m2msec_dev_root_rec_free(r);
        r = NULL;
    }
    rv = 0;
out:
    m2msec_dev_root_rec_free(r);
    m2msec_dev_root_ids_free(ids, n);
    return rv;
}

/* The IBC credential's ID1 and expiry (the SSK is not read). */
static int
load_ibc(struct m2msec_db *db, struct m2msec_state *st, struct m2msec_error *err)
{
    struct m2msec_dev_ibc_rec *r = NULL;

    if (m2msec_dev_ibc_get(db, 0, &r, err) == -1) {
        if (m2msec_error_code(err) == M2MSEC_ERR_NOT_FOUND) {
            m2msec_error_clear(err);
            return 0;
        }
        return -1;
    }
    st->ibc_id1 = m2msec_strdup(r->id1);
    st->ibc_expires = r->expires;
    m2msec_dev_ibc_rec_free(r);
    if (st->ibc_id1 == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    return 0;
}

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
    /* Root and IBC credentials need no enrolment: a bootstrapped node may hold only those. */
    if (load_roots(db, st, &err) == -1 || load_ibc(db, st, &err) == -1) {
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
    size_t i;

    if (st == NULL) {
        return;
    }
    m2msec_secret_free(st->ke);
    m2msec_free(st->keid);
    m2msec_wipe(st->kcv, sizeof(st->kcv));
    for (i = 0; i < st->nroots; i++) {
        m2msec_free(st->roots[i].purpose);
        m2msec_free(st->roots[i].id);
    }
    m2msec_free(st->roots);
    m2msec_free(st->ibc_id1);
    m2msec_free(st);
}

M2MSEC_API size_t
m2msec_state_root_count(const struct m2msec_state *st)
{
    return st != NULL ? st->nroots : 0;
}

M2MSEC_API int
m2msec_state_root(const struct m2msec_state *st, size_t i, const char **purpose, const char **id,
                  int64_t *expires, char kcv[17])
{
    if (st == NULL || i >= st->nroots) {
        return -1;
    }
    if (purpose != NULL) {
        *purpose = st->roots[i].purpose;
    }
    if (id != NULL) {
        *id = st->roots[i].id;
    }
    if (expires != NULL) {
        *expires = st->roots[i].expires;
    }
    if (kcv != NULL) {
        memcpy(kcv, st->roots[i].kcv, sizeof(st->roots[i].kcv));
    }
    return 0;
}

M2MSEC_API const char *
m2msec_state_ibc_id1(const struct m2msec_state *st, int64_t *expires)
{
    if (st == NULL || st->ibc_id1 == NULL) {
        return NULL;
    }
    if (expires != NULL) {
        *expires = st->ibc_expires;
    }
    return st->ibc_id1;
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
