/*
 * store/keyreg.c - the key registry of the MEF and of the MAF (store.h, "Key registries").
 *
 * Layer: store. Depends on util and crypto (sealing, through db.c) only. The
 * table shape is the same in both schemas (the MEF's is created by migration
 * 3 in store/mef.c, the MAF's by migration 4 in store/maf.c), so every
 * statement below serves both kinds; only the Client Registration table the
 * ownership check reads, and the AAD prefix, depend on the kind. Each public
 * function is one transaction.
 */
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

#define RSC_ORIGINATOR_HAS_NO_PRIVILEGE 4103

/* The Client Registration a key is put under: owner and expiry, if live. */
static const char sql_reg_mef[] =
        "SELECT kpm_id, expires FROM mefreg WHERE reg_id = ?1 AND expires > ?2";
static const char sql_reg_maf[] = "SELECT kmid_rel, et FROM maf_reg WHERE reg_id = ?1 AND et > ?2";
/* A live key's stored id and its Client Registration's expiry (update). */
static const char sql_cap_mef[] = "SELECT k.rel, r.expires FROM keyreg k"
                                  " JOIN mefreg r ON r.reg_id = k.reg_id"
                                  " WHERE k.rel = ?1 AND k.expires > ?2";
static const char sql_cap_maf[] = "SELECT k.rel, r.et FROM keyreg k"
                                  " JOIN maf_reg r ON r.reg_id = k.reg_id"
                                  " WHERE k.rel = ?1 AND k.expires > ?2";
static const char sql_purge[] = "DELETE FROM keyreg WHERE rel = ?1 AND expires <= ?2";
static const char sql_taken[] = "SELECT 1 FROM keyreg WHERE rel = ?1";
static const char sql_insert[] =
        "INSERT INTO keyreg (rel, owner, reg_id, source_id, admin_fqdn, suid, key, expires,"
        " created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sql_tgt_insert[] =
        "INSERT INTO keyreg_target (rel, pos, value) VALUES (?1, ?2, ?3)";
static const char sql_lbl_insert[] =
        "INSERT INTO keyreg_label (rel, pos, value) VALUES (?1, ?2, ?3)";
static const char sql_select[] =
        "SELECT rel, owner, reg_id, source_id, admin_fqdn, suid, key, expires, created"
        " FROM keyreg WHERE rel = ?1 AND expires > ?2";
static const char sql_tgt_select[] = "SELECT value FROM keyreg_target WHERE rel = ?1 ORDER BY pos";
static const char sql_lbl_select[] = "SELECT value FROM keyreg_label WHERE rel = ?1 ORDER BY pos";
static const char sql_set_expires[] = "UPDATE keyreg SET expires = ?2 WHERE rel = ?1";
static const char sql_tgt_delete[] = "DELETE FROM keyreg_target WHERE rel = ?1";
static const char sql_lbl_delete[] = "DELETE FROM keyreg_label WHERE rel = ?1";
static const char sql_delete[] = "DELETE FROM keyreg WHERE rel = ?1 AND expires > ?2";
static const char sql_sweep[] = "DELETE FROM keyreg WHERE expires <= ?1";
static const char sql_count[] =
        "SELECT count(*) FROM keyreg WHERE expires > ?1 AND (?2 IS NULL OR reg_id = ?2)";
/* Device schema: the source's copy of a key it registered (store/maf.c writes it). */
static const char sql_dev_erase[] = "DELETE FROM dev_kc WHERE key_id = ?1";

struct kind_info {
    enum m2msec_schema schema;
    const char *aad; /* sealing prefix */
    const char *sql_reg;
    const char *sql_cap;
};

/* The kind's parameters, or INVALID_ARGUMENT when the store holds another schema. */
static int
kind_get(struct m2msec_db *db, enum m2msec_keyreg_kind kind, struct kind_info *ki,
         struct m2msec_error *err)
{
    if (db == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no store");
    }
    memset(ki, 0, sizeof(*ki));
    switch (kind) {
    case M2MSEC_KEYREG_MEF:
        ki->schema = M2MSEC_SCHEMA_MEF;
        ki->aad = "mef-kc";
        ki->sql_reg = sql_reg_mef;
        ki->sql_cap = sql_cap_mef;
        break;
    case M2MSEC_KEYREG_MAF:
        ki->schema = M2MSEC_SCHEMA_MAF;
        ki->aad = "kc";
        ki->sql_reg = sql_reg_maf;
        ki->sql_cap = sql_cap_maf;
        break;
    }
    if (ki->aad == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "unknown key registry %d",
                                 (int)kind);
    }
    if (db->schema != ki->schema) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "this store holds no %s key registry",
                                 kind == M2MSEC_KEYREG_MEF ? "MEF" : "MAF");
    }
    return 0;
}

/* Run a write taking ?1 text and ?2 integer; *changes = rows touched (may be NULL). */
static int
write_rel(struct m2msec_db *db, const char *sql, const char *rel, int64_t num, const char *what,
          size_t *changes, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql, &st, err) == -1 || m2msec_db_bind_text(db, st, 1, rel, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, num, err) == -1 ||
        m2msec_db_step_done(db, st, what, changes, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

void
m2msec_keyreg_rec_free(struct m2msec_keyreg_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->rel_key_id);
    m2msec_free(r->owner);
    m2msec_free(r->reg_id);
    m2msec_free(r->source_id);
    m2msec_free(r->admin_fqdn);
    m2msec_db_list_free(r->targets);
    m2msec_db_list_free(r->labels);
    m2msec_secret_free(r->key);
    m2msec_free(r);
}

/*
 * Within the open transaction: the Client Registration reg_id is live and
 * owned by owner; *reg_expires gets its expiry.
 */
static int
reg_check(struct m2msec_db *db, const struct kind_info *ki, const char *reg_id, const char *owner,
          int64_t now, int64_t *reg_expires, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *o = NULL;
    int rc;
    int rv = -1;

    if (m2msec_db_stmt(db, ki->sql_reg, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, reg_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading client registration", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no registration %s",
                          reg_id);
        goto out;
    }
    o = sqlite3_column_text(st, 0);
    if (o == NULL || strcmp((const char *)o, owner) != 0 /* public */) {
        m2msec_error_setr(err, M2MSEC_ERR_AUTH, RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                          "registration %s belongs to another client", reg_id);
        goto out;
    }
    *reg_expires = sqlite3_column_int64(st, 1);
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* Within the open transaction: REFUSED when a live registration holds rel. */
static int
rel_free(struct m2msec_db *db, const char *rel, int64_t now, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    /* An expired registration gives its id back (the sweeper would erase it anyway). */
    if (write_rel(db, sql_purge, rel, now, "purging expired key registration", NULL, err) == -1 ||
        m2msec_db_stmt(db, sql_taken, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, rel, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "checking key registrations", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 1) {
        m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT,
                          "RelativeKeyID %s is in use", rel);
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

static int
insert_row(struct m2msec_db *db, const struct m2msec_keyreg_rec *r, const uint8_t *blob,
           size_t bloblen, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql_insert, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->rel_key_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->owner, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->reg_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 4, r->source_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 5, r->admin_fqdn, err) == -1 ||
        m2msec_db_bind_int64(db, st, 6, (int64_t)r->suid, err) == -1 ||
        m2msec_db_bind_blob(db, st, 7, blob, bloblen, err) == -1 ||
        m2msec_db_bind_int64(db, st, 8, r->expires, err) == -1 ||
        m2msec_db_bind_int64(db, st, 9, r->created, err) == -1 ||
        m2msec_db_step_done(db, st, "storing key registration", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_list_store(db, sql_tgt_insert, r->rel_key_id, r->targets, r->ntargets, err) ==
                -1 ||
        m2msec_db_list_store(db, sql_lbl_insert, r->rel_key_id, r->labels, r->nlabels, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_keyreg_put(struct m2msec_db *db, enum m2msec_keyreg_kind kind,
                  const struct m2msec_keyreg_rec *r, int64_t now, struct m2msec_error *err)
{
    struct kind_info ki;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int64_t reg_expires = 0;
    int rv = -1;

    if (kind_get(db, kind, &ki, err) == -1) {
        goto out;
    }
    if (r == NULL || !m2msec_db_str_set(r->rel_key_id) || !m2msec_db_str_set(r->owner) ||
        !m2msec_db_str_set(r->reg_id) || !m2msec_db_str_set(r->source_id) ||
        !m2msec_db_str_set(r->admin_fqdn) || r->key == NULL || r->ntargets == 0 ||
        r->expires <= now) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "key registration needs ids, an adminFQDN, a key, targets and a "
                          "future expiry");
        goto out;
    }
    if (m2msec_db_list_valid(r->targets, r->ntargets, "target", err) == -1 ||
        m2msec_db_list_valid(r->labels, r->nlabels, "label", err) == -1 ||
        m2msec_db_seal(db, ki.aad, r->rel_key_id, r->key, &blob, &bloblen, err) == -1) {
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1 ||
        reg_check(db, &ki, r->reg_id, r->owner, now, &reg_expires, err) == -1) {
        goto out;
    }
    /* SPEC-DIGEST 5 rule 2: a key never outlives the registration it was made under. */
    if (r->expires > reg_expires) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "key registration outlives its client registration");
        goto out;
    }
    if (rel_free(db, r->rel_key_id, now, err) == -1 ||
        insert_row(db, r, blob, bloblen, err) == -1 || m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    m2msec_free(blob);
    return rv;
}

static int
read_row(struct m2msec_db *db, const struct kind_info *ki, sqlite3_stmt *st, int with_key,
         struct m2msec_keyreg_rec *r, struct m2msec_error *err)
{
    if (m2msec_db_column_str(st, 0, 1, &r->rel_key_id, err) == -1 ||
        m2msec_db_column_str(st, 1, 1, &r->owner, err) == -1 ||
        m2msec_db_column_str(st, 2, 1, &r->reg_id, err) == -1 ||
        m2msec_db_column_str(st, 3, 1, &r->source_id, err) == -1 ||
        m2msec_db_column_str(st, 4, 1, &r->admin_fqdn, err) == -1) {
        return -1;
    }
    r->suid = (unsigned)sqlite3_column_int64(st, 5);
    r->expires = sqlite3_column_int64(st, 7);
    r->created = sqlite3_column_int64(st, 8);
    if (with_key && m2msec_db_unseal(db, ki->aad, r->rel_key_id, sqlite3_column_blob(st, 6),
                                     (size_t)sqlite3_column_bytes(st, 6), &r->key, err) == -1) {
        m2msec_error_wrap(err, "key of %s", r->rel_key_id);
        return -1;
    }
    return 0;
}

int
m2msec_keyreg_get(struct m2msec_db *db, enum m2msec_keyreg_kind kind, const char *rel_key_id,
                  int64_t now, int with_key, struct m2msec_keyreg_rec **out,
                  struct m2msec_error *err)
{
    struct kind_info ki;
    sqlite3_stmt *st = NULL;
    struct m2msec_keyreg_rec *r = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (kind_get(db, kind, &ki, err) == -1) {
        goto out;
    }
    if (!m2msec_db_str_set(rel_key_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "RelativeKeyID missing");
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading key registration");
        goto out;
    }
    /* One snapshot for the row and its lists. */
    if (m2msec_db_begin_read(db, err) == -1 || m2msec_db_stmt(db, sql_select, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, rel_key_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading key registration", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no key registration %s",
                          rel_key_id);
        goto out;
    }
    if (read_row(db, &ki, st, with_key, r, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_list_load(db, sql_tgt_select, r->rel_key_id, &r->targets, &r->ntargets, err) ==
                -1 ||
        m2msec_db_list_load(db, sql_lbl_select, r->rel_key_id, &r->labels, &r->nlabels, err) ==
                -1 ||
        m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (r->nlabels == 0) {
        /* The header's convention: no labels is a NULL list. */
        m2msec_db_list_free(r->labels);
        r->labels = NULL;
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    m2msec_keyreg_rec_free(r);
    return rv;
}

/* Within the open transaction: the stored id of a live key and its registration's expiry. */
static int
live_key(struct m2msec_db *db, const struct kind_info *ki, const char *rel_key_id, int64_t now,
         char **stored, int64_t *reg_expires, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    if (m2msec_db_stmt(db, ki->sql_cap, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, rel_key_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading key registration", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no key registration %s",
                          rel_key_id);
        goto out;
    }
    if (m2msec_db_column_str(st, 0, 1, stored, err) == -1) {
        goto out;
    }
    *reg_expires = sqlite3_column_int64(st, 1);
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* Within the open transaction: replace one of the key's lists. */
static int
list_replace(struct m2msec_db *db, const char *sql_del, const char *sql_ins, const char *rel,
             char *const *list, size_t n, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql_del, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, rel, err) == -1 ||
        m2msec_db_step_done(db, st, "replacing list", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_list_store(db, sql_ins, rel, list, n, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_keyreg_update(struct m2msec_db *db, enum m2msec_keyreg_kind kind, const char *rel_key_id,
                     int64_t now, int has_et, int64_t expires, int has_lbl, char *const *labels,
                     size_t nlabels, int has_targets, char *const *targets, size_t ntargets,
                     struct m2msec_error *err)
{
    struct kind_info ki;
    char *rel = NULL;
    int64_t reg_expires = 0;
    int rv = -1;

    if (kind_get(db, kind, &ki, err) == -1) {
        goto out;
    }
    if (!m2msec_db_str_set(rel_key_id) || (!has_et && !has_lbl && !has_targets)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "key update needs an id and something to change");
        goto out;
    }
    if ((has_et && expires <= now) || (has_targets && ntargets == 0)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "new expiry already past, or no targets");
        goto out;
    }
    if ((has_lbl && m2msec_db_list_valid(labels, nlabels, "label", err) == -1) ||
        (has_targets && m2msec_db_list_valid(targets, ntargets, "target", err) == -1)) {
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1 ||
        live_key(db, &ki, rel_key_id, now, &rel, &reg_expires, err) == -1) {
        goto out;
    }
    if (has_et && expires > reg_expires) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "key registration would outlive its client registration");
        goto out;
    }
    if (has_et &&
        write_rel(db, sql_set_expires, rel, expires, "updating expiry", NULL, err) == -1) {
        goto out;
    }
    if (has_lbl &&
        list_replace(db, sql_lbl_delete, sql_lbl_insert, rel, labels, nlabels, err) == -1) {
        goto out;
    }
    if (has_targets &&
        list_replace(db, sql_tgt_delete, sql_tgt_insert, rel, targets, ntargets, err) == -1) {
        goto out;
    }
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    m2msec_free(rel);
    return rv;
}

int
m2msec_keyreg_delete(struct m2msec_db *db, enum m2msec_keyreg_kind kind, const char *rel_key_id,
                     int64_t now, struct m2msec_error *err)
{
    struct kind_info ki;
    size_t n = 0;
    int rv = -1;

    if (kind_get(db, kind, &ki, err) == -1) {
        goto out;
    }
    if (!m2msec_db_str_set(rel_key_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "RelativeKeyID missing");
        goto out;
    }
    /* Lists follow by ON DELETE CASCADE; secure_delete overwrites the sealed key. An
     * expired registration counts as absent and is left to the sweeper. */
    if (m2msec_db_begin(db, err) == -1 ||
        write_rel(db, sql_delete, rel_key_id, now, "erasing key registration", &n, err) == -1) {
        goto out;
    }
    if (n == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no key registration %s",
                          rel_key_id);
        goto out;
    }
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    return rv;
}

int
m2msec_keyreg_sweep(struct m2msec_db *db, enum m2msec_keyreg_kind kind, int64_t now, size_t *erased,
                    struct m2msec_error *err)
{
    struct kind_info ki;
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    int rv = -1;

    if (erased != NULL) {
        *erased = 0;
    }
    if (kind_get(db, kind, &ki, err) == -1) {
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1 || m2msec_db_stmt(db, sql_sweep, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, now, err) == -1 ||
        m2msec_db_step_done(db, st, "erasing expired key registrations", &n, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (n > 0) {
        /* Best effort, as m2msec_mef_sweep: the WAL still holds the erased rows' old pages. */
        (void)sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    if (erased != NULL) {
        *erased = n;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    return rv;
}

int
m2msec_keyreg_count(struct m2msec_db *db, enum m2msec_keyreg_kind kind, const char *reg_id,
                    int64_t now, size_t *n, struct m2msec_error *err)
{
    struct kind_info ki;
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    *n = 0;
    if (kind_get(db, kind, &ki, err) == -1) {
        goto out;
    }
    if (m2msec_db_stmt(db, sql_count, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, now, err) == -1 ||
        (reg_id != NULL && m2msec_db_bind_text(db, st, 2, reg_id, err) == -1)) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "counting key registrations", err);
    if (rc != 1) {
        if (rc == 0) {
            m2msec_error_setx(err, M2MSEC_ERR_STORE, "counting key registrations: no row");
        }
        goto out;
    }
    *n = (size_t)sqlite3_column_int64(st, 0);
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* SPEC-DIGEST 5 rule 3: key de-registration erases the source's copy too. */
int
m2msec_keyreg_dev_erase(struct m2msec_db *db, const char *key_id, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (db == NULL || db->schema != M2MSEC_SCHEMA_DEVICE || !m2msec_db_str_set(key_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "device store and Key Identifier");
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1 || m2msec_db_stmt(db, sql_dev_erase, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, key_id, err) == -1 ||
        m2msec_db_step_done(db, st, "erasing stored key", NULL, err) == -1) {
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
    return rv;
}
