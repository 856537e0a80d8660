/*
 * store/device.c - libm2msec's device state: the current enrolment and its sealed Ke, and the
 * root credentials of the PKI bootstrap (seed 002).
 *
 * Layer: store. Depends on util and crypto only. The table holds at most one
 * row; putting a new enrolment erases the previous one (and its Ke) in the
 * same transaction. The Ke is sealed with AAD "dev-ke:<KeID>", a root
 * credential with "dev-root:<id>".
 */
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

/* Schema migrations. The CHECK on `one` keeps the table to a single row. */
const char *const m2msec_db_dev_migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE meta ("
    " one INTEGER PRIMARY KEY CHECK (one = 1),"
    " kind TEXT NOT NULL);"
    "INSERT INTO meta (one, kind) VALUES (1, 'device');"
    "CREATE TABLE enrolment ("
    " one INTEGER PRIMARY KEY CHECK (one = 1),"
    " keid TEXT NOT NULL,"
    " mef TEXT NOT NULL,"
    " kpm_id TEXT NOT NULL,"
    " enrolee_id TEXT,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " exchange_json TEXT,"
    " ke BLOB);"
    "PRAGMA user_version = 1;",
    /* 2: Km/KmID assigned by MAFs (store/maf.c) */
    "CREATE TABLE dev_maf ("
    " maf_fqdn TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,"
    " kmid TEXT NOT NULL,"
    " keid TEXT NOT NULL,"
    " reg_id TEXT,"
    " expires INTEGER NOT NULL,"
    " km BLOB NOT NULL);"
    "PRAGMA user_version = 2;",
    /* 3: the registration's adminFQDN, and Kc of this device's MAF Key Registrations
     * (store/maf.c) */
    "ALTER TABLE dev_maf ADD COLUMN admin_fqdn TEXT;"
    "CREATE TABLE dev_kc ("
    " key_id TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,"
    " maf_fqdn TEXT NOT NULL,"
    " target TEXT NOT NULL,"
    " suid INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " kc BLOB NOT NULL);"
    "PRAGMA user_version = 3;",
    /* 4: pre-provisioned Km (suid 11, keid column = the KmID), the MAF's clientID,
     * and the registration each Kc was made under (store/maf.c) */
    "ALTER TABLE dev_maf ADD COLUMN suid INTEGER NOT NULL DEFAULT 21;"
    "ALTER TABLE dev_maf ADD COLUMN client_id TEXT;"
    "ALTER TABLE dev_kc ADD COLUMN reg_id TEXT;"
    "PRAGMA user_version = 4;",
    /* 5: root credentials from the PKI bootstrap (seed 002), one per purpose */
    "CREATE TABLE dev_root ("
    " id TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,"
    " mef TEXT NOT NULL,"
    " purpose TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " enrolee_id TEXT NOT NULL,"
    " node TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " key BLOB NOT NULL);"
    "PRAGMA user_version = 5;",
    /*
     * 6: the IBC credential (seed 000, store/pkg.c): one row, SSK sealed
     * ("dev-ibc:<ID1>"), and the trust store of MPKs received from the MEF
     * (per FQDN and version, replaced as a set).
     */
    "CREATE TABLE IF NOT EXISTS dev_ibc ("
    " one INTEGER PRIMARY KEY CHECK (one = 1),"
    " id2 BLOB NOT NULL,"
    " id1 TEXT NOT NULL,"
    " fqdn TEXT NOT NULL,"
    " expires INTEGER NOT NULL,"
    " mpk_version INTEGER NOT NULL,"
    " kpak BLOB NOT NULL CHECK (length(kpak) = 65),"
    " pvt BLOB NOT NULL CHECK (length(pvt) = 65),"
    " mef TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " ssk BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS dev_mpk ("
    " fqdn TEXT NOT NULL COLLATE NOCASE,"
    " version INTEGER NOT NULL,"
    " kpak BLOB NOT NULL CHECK (length(kpak) = 65),"
    " not_before INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " key_period INTEGER NOT NULL,"
    " period_offset INTEGER NOT NULL,"
    " PRIMARY KEY (fqdn, version));"
    "PRAGMA user_version = 6;",
    NULL,
};

static const char sql_enr_delete[] = "DELETE FROM enrolment";
static const char sql_enr_insert[] =
        "INSERT INTO enrolment"
        " (one, keid, mef, kpm_id, enrolee_id, created, expires, exchange_json, ke)"
        " VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char sql_enr_select[] =
        "SELECT keid, mef, kpm_id, enrolee_id, created, expires, exchange_json, ke"
        " FROM enrolment WHERE one = 1";
static const char sql_enr_erase_ke[] =
        "UPDATE enrolment SET ke = NULL WHERE one = 1 AND expires <= ?1 AND ke IS NOT NULL";

void
m2msec_enrolment_rec_free(struct m2msec_enrolment_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->keid);
    m2msec_free(r->mef);
    m2msec_free(r->kpm_id);
    m2msec_free(r->enrolee_id);
    m2msec_free(r->exchange_json);
    m2msec_secret_free(r->ke);
    m2msec_free(r);
}

int
m2msec_dev_enrolment_put(struct m2msec_db *db, const struct m2msec_enrolment_rec *r,
                         struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int rv = -1;

    if (db == NULL || r == NULL || !m2msec_db_str_set(r->keid) || !m2msec_db_str_set(r->mef) ||
        !m2msec_db_str_set(r->kpm_id) || r->ke == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "enrolment needs a KeID, a MEF address, a KpmID and a Ke");
        goto out;
    }
    if (r->expires <= r->created) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "enrolment expires before it is created");
        goto out;
    }
    if (m2msec_db_seal(db, "dev-ke", r->keid, r->ke, &blob, &bloblen, err) == -1) {
        goto out;
    }
    /* @spec TS-0003 8.3.2.1 the Enrolee keeps Ke and KeID until Enrolment Expiry; a new
     * enrolment supersedes (and erases) the previous one. */
    if (m2msec_db_begin(db, err) == -1 || m2msec_db_stmt(db, sql_enr_delete, &st, err) == -1 ||
        m2msec_db_step_done(db, st, "erasing previous enrolment", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_stmt(db, sql_enr_insert, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->keid, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->mef, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->kpm_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 4, r->enrolee_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 5, r->created, err) == -1 ||
        m2msec_db_bind_int64(db, st, 6, r->expires, err) == -1 ||
        m2msec_db_bind_text(db, st, 7, r->exchange_json, err) == -1 ||
        m2msec_db_bind_blob(db, st, 8, blob, bloblen, err) == -1 ||
        m2msec_db_step_done(db, st, "storing enrolment", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    m2msec_free(blob);
    return rv;
}

int
m2msec_dev_enrolment_get(struct m2msec_db *db, int with_key, struct m2msec_enrolment_rec **out,
                         struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_enrolment_rec *r = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no store");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_enr_select, &st, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading enrolment", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "not enrolled");
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading enrolment");
        goto out;
    }
    if (m2msec_db_column_str(st, 0, 1, &r->keid, err) == -1 ||
        m2msec_db_column_str(st, 1, 1, &r->mef, err) == -1 ||
        m2msec_db_column_str(st, 2, 1, &r->kpm_id, err) == -1 ||
        m2msec_db_column_str(st, 3, 0, &r->enrolee_id, err) == -1 ||
        m2msec_db_column_str(st, 6, 0, &r->exchange_json, err) == -1) {
        goto out;
    }
    r->created = sqlite3_column_int64(st, 4);
    r->expires = sqlite3_column_int64(st, 5);
    if (with_key) {
        if (sqlite3_column_type(st, 7) == SQLITE_NULL) {
            /* Erased by m2msec_dev_sweep: the device must enrol again. */
            m2msec_error_setx(err, M2MSEC_ERR_EXPIRED, "Ke %s expired and was erased", r->keid);
            goto out;
        }
        if (m2msec_db_unseal(db, "dev-ke", r->keid, sqlite3_column_blob(st, 7),
                             (size_t)sqlite3_column_bytes(st, 7), &r->ke, err) == -1) {
            m2msec_error_wrap(err, "Ke %s", r->keid);
            goto out;
        }
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_enrolment_rec_free(r);
    return rv;
}

int
m2msec_dev_sweep(struct m2msec_db *db, int64_t now, int *erased, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    size_t changes = 0;
    int rv = -1;

    if (erased != NULL) {
        *erased = 0;
    }
    if (db == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no store");
        goto out;
    }
    /* @spec TS-0003 8.3.2.1 after Enrolment Expiry the Ke is no longer used: erase it. */
    if (m2msec_db_begin(db, err) == -1 || m2msec_db_stmt(db, sql_enr_erase_ke, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, now, err) == -1 ||
        m2msec_db_step_done(db, st, "erasing expired Ke", &changes, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (changes > 0) {
        /* Best effort: the WAL still holds the page image with the sealed Ke. */
        (void)sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    if (erased != NULL) {
        *erased = changes > 0;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    return rv;
}

/*
 * Root credentials (PKI bootstrap, seed 002)
 */

static const char sql_root_delete[] = "DELETE FROM dev_root WHERE id = ?1 OR purpose = ?2";
static const char sql_root_insert[] =
        "INSERT INTO dev_root (id, mef, purpose, enrolee_id, node, created, expires, key)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char sql_root_by_id[] =
        "SELECT id, mef, purpose, enrolee_id, node, created, expires, key"
        " FROM dev_root WHERE id = ?1 AND expires > ?2";
static const char sql_root_ids[] =
        "SELECT id FROM dev_root WHERE expires > ?1 ORDER BY purpose, id";
static const char sql_root_by_purpose[] =
        "SELECT id, mef, purpose, enrolee_id, node, created, expires, key"
        " FROM dev_root WHERE purpose = ?1 AND expires > ?2";

void
m2msec_dev_root_rec_free(struct m2msec_dev_root_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->id);
    m2msec_free(r->mef);
    m2msec_free(r->purpose);
    m2msec_free(r->enrolee_id);
    m2msec_free(r->node);
    m2msec_secret_free(r->key);
    m2msec_free(r);
}

/* @spec seed 002 x.1.2.1.2 step 4: the field node keeps the root credential it unwrapped. */
int
m2msec_dev_root_put(struct m2msec_db *db, const struct m2msec_dev_root_rec *r,
                    struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int rv = -1;

    if (db == NULL || r == NULL || !m2msec_db_str_set(r->id) || !m2msec_db_str_set(r->mef) ||
        !m2msec_db_str_set(r->purpose) || !m2msec_db_str_set(r->enrolee_id) ||
        !m2msec_db_str_set(r->node) || r->key == NULL || r->expires <= r->created) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "root credential needs an id, MEF, purpose, EnroleeID, node, key and a "
                          "lifetime");
        goto out;
    }
    if (m2msec_db_seal(db, "dev-root", r->id, r->key, &blob, &bloblen, err) == -1 ||
        m2msec_db_begin(db, err) == -1 || m2msec_db_stmt(db, sql_root_delete, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->id, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->purpose, err) == -1 ||
        m2msec_db_step_done(db, st, "erasing previous root credential", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_stmt(db, sql_root_insert, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->id, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->mef, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->purpose, err) == -1 ||
        m2msec_db_bind_text(db, st, 4, r->enrolee_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 5, r->node, err) == -1 ||
        m2msec_db_bind_int64(db, st, 6, r->created, err) == -1 ||
        m2msec_db_bind_int64(db, st, 7, r->expires, err) == -1 ||
        m2msec_db_bind_blob(db, st, 8, blob, bloblen, err) == -1 ||
        m2msec_db_step_done(db, st, "storing root credential", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    m2msec_free(blob);
    return rv;
}

static int
root_get(struct m2msec_db *db, const char *sql, const char *key, int64_t now, int with_key,
         struct m2msec_dev_root_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_dev_root_rec *r = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL || !m2msec_db_str_set(key)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "root credential key missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql, &st, err) == -1 || m2msec_db_bind_text(db, st, 1, key, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading root credential", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                          "no live root credential %s", key);
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading root credential");
        goto out;
    }
    if (m2msec_db_column_str(st, 0, 1, &r->id, err) == -1 ||
        m2msec_db_column_str(st, 1, 1, &r->mef, err) == -1 ||
        m2msec_db_column_str(st, 2, 1, &r->purpose, err) == -1 ||
        m2msec_db_column_str(st, 3, 1, &r->enrolee_id, err) == -1 ||
        m2msec_db_column_str(st, 4, 1, &r->node, err) == -1) {
        goto out;
    }
    r->created = sqlite3_column_int64(st, 5);
    r->expires = sqlite3_column_int64(st, 6);
    if (with_key && m2msec_db_unseal(db, "dev-root", r->id, sqlite3_column_blob(st, 7),
                                     (size_t)sqlite3_column_bytes(st, 7), &r->key, err) == -1) {
        m2msec_error_wrap(err, "root credential %s", r->id);
        goto out;
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_dev_root_rec_free(r);
    return rv;
}

int
m2msec_dev_root_get(struct m2msec_db *db, const char *id, int64_t now, int with_key,
                    struct m2msec_dev_root_rec **out, struct m2msec_error *err)
{
    return root_get(db, sql_root_by_id, id, now, with_key, out, err);
}

int
m2msec_dev_root_get_by_purpose(struct m2msec_db *db, const char *purpose, int64_t now, int with_key,
                               struct m2msec_dev_root_rec **out, struct m2msec_error *err)
{
    return root_get(db, sql_root_by_purpose, purpose, now, with_key, out, err);
}

void
m2msec_dev_root_ids_free(char **ids, size_t n)
{
    size_t i;

    for (i = 0; ids != NULL && i < n; i++) {
        m2msec_free(ids[i]);
    }
    m2msec_free(ids);
}

int
m2msec_dev_root_ids(struct m2msec_db *db, int64_t now, char ***ids, size_t *n,
                    struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    char **list = NULL;
    size_t len = 0, cap = 0;
    int rc;
    int rv = -1;

    *ids = NULL;
    *n = 0;
    if (m2msec_db_stmt(db, sql_root_ids, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, now, err) == -1) {
        goto out;
    }
    while ((rc = m2msec_db_step_row(db, st, "listing root credentials", err)) == 1) {
        if (len == cap) {
            size_t ncap = cap == 0 ? 4 : cap * 2;
            char **p = m2msec_realloc(list, ncap * sizeof(*p));

            if (p == NULL) {
                m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "listing root credentials");
                goto out;
            }
            list = p;
            cap = ncap;
        }
        list[len] = NULL;
        if (m2msec_db_column_str(st, 0, 1, &list[len], err) == -1) {
            goto out;
        }
        len++;
    }
    if (rc == -1) {
        goto out;
    }
    *ids = list;
    *n = len;
    list = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_dev_root_ids_free(list, len);
    return rv;
}
