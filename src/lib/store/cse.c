/*
 * store/cse.c - Entity B's resolver cache: keys it obtained for psk_identities.
 *
 * Layer: store. Depends on util and crypto (sealing) only. Schema kind "cse",
 * a file of its own (cse.db) in Entity B's state directory beside the device
 * store, so Entity B keeps its cache across restarts while its own enrolment
 * and MAF registration stay in the device store. One row per psk_identity
 * (ASCII case-insensitive: hex and FQDN parts of KeIDs and Key Identifiers
 * compare that way). The key is sealed with AAD "cse-key:<key_id>".
 *
 * Unlike the other getters, m2msec_cse_key_get returns an expired row: the
 * resolver must see it to erase it and to tell "expired" from "unknown" in
 * its log (the peer sees no difference).
 */
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

#define CSE_SEAL_KIND "cse-key"

/* Also declared in db.c, which picks the migrations of each schema kind. */
extern const char *const m2msec_db_cse_migrations[];

const char *const m2msec_db_cse_migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE meta ("
    " one INTEGER PRIMARY KEY CHECK (one = 1),"
    " kind TEXT NOT NULL);"
    "INSERT INTO meta (one, kind) VALUES (1, 'cse');"
    "CREATE TABLE cse_key ("
    " key_id TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,"
    " source INTEGER NOT NULL,"
    " suid INTEGER NOT NULL,"
    " peer_id TEXT,"
    " cred_id TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " key BLOB NOT NULL);"
    "CREATE INDEX cse_key_expires ON cse_key (expires);"
    /* Identities whose key was erased at expiry, without the key: a Kc past its
     * expirationTime is refused without asking the MAF again. */
    "CREATE TABLE cse_expired ("
    " key_id TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,"
    " expires INTEGER NOT NULL);"
    "PRAGMA user_version = 1;",
    NULL,
};

static const char sql_key_put[] = "INSERT OR REPLACE INTO cse_key"
                                  " (key_id, source, suid, peer_id, cred_id, created, expires, key)"
                                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char sql_key_get[] =
        "SELECT key_id, source, suid, peer_id, cred_id, created, expires, key"
        " FROM cse_key WHERE key_id = ?1";
static const char sql_key_tomb_one[] =
        "INSERT OR REPLACE INTO cse_expired (key_id, expires)"
        " SELECT key_id, expires FROM cse_key WHERE key_id = ?1 AND expires <= ?2";
static const char sql_key_delete[] = "DELETE FROM cse_key WHERE key_id = ?1";
static const char sql_key_tomb_all[] = "INSERT OR REPLACE INTO cse_expired (key_id, expires)"
                                       " SELECT key_id, expires FROM cse_key WHERE expires <= ?1";
static const char sql_key_sweep[] = "DELETE FROM cse_key WHERE expires <= ?1";
static const char sql_tomb_prune[] = "DELETE FROM cse_expired WHERE expires <= ?1";
static const char sql_tomb_clear[] = "DELETE FROM cse_expired WHERE key_id = ?1";
static const char sql_tomb_get[] = "SELECT expires FROM cse_expired WHERE key_id = ?1";
static const char sql_key_count[] = "SELECT count(*) FROM cse_key";

/* Tombstones are kept this long after the key's expiry, then pruned by the sweep. */
#define TOMB_KEEP_S (7 * 86400)

void
m2msec_cse_key_rec_free(struct m2msec_cse_key_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->key_id);
    m2msec_free(r->peer_id);
    m2msec_free(r->cred_id);
    m2msec_secret_free(r->key);
    m2msec_free(r);
}

/* The WAL still holds the page image of an erased row: fold it back (best effort). */
static void
truncate_wal(struct m2msec_db *db)
{
    (void)sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

int
m2msec_cse_key_put(struct m2msec_db *db, const struct m2msec_cse_key_rec *r,
                   struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int rv = -1;

    if (db == NULL || r == NULL || !m2msec_db_str_set(r->key_id) ||
        !m2msec_db_str_set(r->cred_id) || r->key == NULL || r->source == 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "cached key needs an identity, a source, a Credential-ID and a key");
        goto out;
    }
    if (r->expires <= r->created) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "cached key %s expires before it is stored", r->key_id);
        goto out;
    }
    if (m2msec_db_seal(db, CSE_SEAL_KIND, r->key_id, r->key, &blob, &bloblen, err) == -1) {
        goto out;
    }
    /* Durable before the handshake it serves completes: a restart keeps the key. */
    if (m2msec_db_begin(db, err) == -1 || m2msec_db_stmt(db, sql_key_put, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->key_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, (int64_t)r->source, err) == -1 ||
        m2msec_db_bind_int64(db, st, 3, (int64_t)r->suid, err) == -1 ||
        m2msec_db_bind_text(db, st, 4, r->peer_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 5, r->cred_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 6, r->created, err) == -1 ||
        m2msec_db_bind_int64(db, st, 7, r->expires, err) == -1 ||
        m2msec_db_bind_blob(db, st, 8, blob, bloblen, err) == -1 ||
        m2msec_db_step_done(db, st, "storing cached key", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_stmt(db, sql_tomb_clear, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->key_id, err) == -1 ||
        m2msec_db_step_done(db, st, "clearing expiry record", NULL, err) == -1) {
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
m2msec_cse_key_get(struct m2msec_db *db, const char *key_id, int with_key,
                   struct m2msec_cse_key_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_cse_key_rec *r = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL || !m2msec_db_str_set(key_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "identity missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_key_get, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, key_id, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading cached key", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no cached key %s",
                          key_id);
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading cached key");
        goto out;
    }
    if (m2msec_db_column_str(st, 0, 1, &r->key_id, err) == -1 ||
        m2msec_db_column_str(st, 3, 0, &r->peer_id, err) == -1 ||
        m2msec_db_column_str(st, 4, 1, &r->cred_id, err) == -1) {
        goto out;
    }
    r->source = (unsigned)sqlite3_column_int64(st, 1);
    r->suid = (unsigned)sqlite3_column_int64(st, 2);
    r->created = sqlite3_column_int64(st, 5);
    r->expires = sqlite3_column_int64(st, 6);
    if (with_key && m2msec_db_unseal(db, CSE_SEAL_KIND, r->key_id, sqlite3_column_blob(st, 7),
                                     (size_t)sqlite3_column_bytes(st, 7), &r->key, err) == -1) {
        m2msec_error_wrap(err, "cached key %s", r->key_id);
        goto out;
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_cse_key_rec_free(r);
    return rv;
}

/* Run sql with (?1 = text or int64, ?2 = int64) in the open transaction. */
static int
exec_step(struct m2msec_db *db, const char *sql, const char *text, int64_t a, int64_t b,
          size_t *changes, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql, &st, err) == -1) {
        goto out;
    }
    if (text != NULL ? m2msec_db_bind_text(db, st, 1, text, err) == -1
                     : m2msec_db_bind_int64(db, st, 1, a, err) == -1) {
        goto out;
    }
    if (sqlite3_bind_parameter_count(st) >= 2 && m2msec_db_bind_int64(db, st, 2, b, err) == -1) {
        goto out;
    }
    if (m2msec_db_step_done(db, st, "erasing cached keys", changes, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_cse_key_delete(struct m2msec_db *db, const char *key_id, int64_t now, size_t *erased,
                      struct m2msec_error *err)
{
    size_t changes = 0;
    int rv = -1;

    if (erased != NULL) {
        *erased = 0;
    }
    if (db == NULL || !m2msec_db_str_set(key_id)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "identity missing");
    }
    /* @spec TS-0003 8.2.2.3 (last step) and 10.7: an expired key is erased, not kept. */
    if (m2msec_db_begin(db, err) == -1 ||
        exec_step(db, sql_key_tomb_one, key_id, 0, now, NULL, err) == -1 ||
        exec_step(db, sql_key_delete, key_id, 0, 0, &changes, err) == -1 ||
        m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (changes > 0) {
        truncate_wal(db);
    }
    if (erased != NULL) {
        *erased = changes;
    }
    rv = 0;
out:
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    return rv;
}

int
m2msec_cse_sweep(struct m2msec_db *db, int64_t now, size_t *erased, struct m2msec_error *err)
{
    size_t changes = 0;
    int rv = -1;

    if (erased != NULL) {
        *erased = 0;
    }
    if (db == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no store");
    }
    if (m2msec_db_begin(db, err) == -1 ||
        exec_step(db, sql_key_tomb_all, NULL, now, 0, NULL, err) == -1 ||
        exec_step(db, sql_key_sweep, NULL, now, 0, &changes, err) == -1 ||
        exec_step(db, sql_tomb_prune, NULL, now - TOMB_KEEP_S, 0, NULL, err) == -1 ||
        m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (changes > 0) {
        truncate_wal(db);
    }
    if (erased != NULL) {
        *erased = changes;
    }
    rv = 0;
out:
    if (rv == -1) {
        m2msec_db_rollback(db);
    }
    return rv;
}

int
m2msec_cse_expired_get(struct m2msec_db *db, const char *key_id, int64_t *expires,
                       struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    *expires = 0;
    if (db == NULL || !m2msec_db_str_set(key_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "identity missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_tomb_get, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, key_id, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading expiry record", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                          "no expiry record for %s", key_id);
        goto out;
    }
    *expires = sqlite3_column_int64(st, 0);
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_cse_key_count(struct m2msec_db *db, size_t *n, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    *n = 0;
    if (db == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no store");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_key_count, &st, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "counting cached keys", err);
    if (rc != 1) {
        if (rc == 0) {
            m2msec_error_setx(err, M2MSEC_ERR_STORE, "counting cached keys: no row");
        }
        goto out;
    }
    *n = (size_t)sqlite3_column_int64(st, 0);
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}
