/*
 * store/maf.c - mafd's store (clients with a remotely provisioned or
 * pre-provisioned Km, MAF Client Registrations, and the schema of its key
 * registry, whose queries are store/keyreg.c's) and the device's record of
 * the Km/KmID a MAF assigned and of the Kc it registered.
 *
 * Layer: store. Depends on util and crypto (through db.c) only. Km is sealed
 * with AAD "km:<kmid_rel>" at the MAF and "dev-km:<KmID>" on the device, so a
 * sealed value moved to another row fails to open. Expired records are absent
 * to every getter; m2msec_maf_sweep erases them.
 */
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "store/maf_cert.h"
#include "store/store.h"
#include "store/store_int.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

const char *const m2msec_db_maf_migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE meta ("
    " one INTEGER PRIMARY KEY CHECK (one = 1),"
    " kind TEXT NOT NULL);"
    "INSERT INTO meta (one, kind) VALUES (1, 'maf');"
    "CREATE TABLE maf_client ("
    " kmid_rel TEXT PRIMARY KEY NOT NULL,"
    " keid TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " client_id TEXT NOT NULL,"
    " km BLOB NOT NULL,"
    " expires INTEGER NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX maf_client_by_id ON maf_client (client_id);"
    "CREATE TABLE maf_reg ("
    " reg_id TEXT PRIMARY KEY NOT NULL,"
    " kmid_rel TEXT NOT NULL REFERENCES maf_client (kmid_rel) ON DELETE CASCADE,"
    " admin_fqdn TEXT NOT NULL,"
    " et INTEGER NOT NULL);"
    "CREATE INDEX maf_reg_by_client ON maf_reg (kmid_rel);"
    "CREATE TABLE maf_reg_label ("
    " reg_id TEXT NOT NULL REFERENCES maf_reg (reg_id) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY (reg_id, pos));"
    "PRAGMA user_version = 1;",
    /* 2: MAF Key Registrations (TS-0003 8.8.2.7) */
    "CREATE TABLE maf_key ("
    " rel_key_id TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,"
    " kmid_rel TEXT NOT NULL REFERENCES maf_client (kmid_rel) ON DELETE CASCADE,"
    " reg_id TEXT NOT NULL,"
    " source_id TEXT NOT NULL,"
    " admin_fqdn TEXT NOT NULL,"
    " suid INTEGER NOT NULL,"
    " kc BLOB NOT NULL,"
    " et INTEGER NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX maf_key_by_client ON maf_key (kmid_rel);"
    "CREATE INDEX maf_key_by_et ON maf_key (et);"
    "CREATE TABLE maf_key_target ("
    " rel_key_id TEXT NOT NULL REFERENCES maf_key (rel_key_id) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY (rel_key_id, pos));"
    "CREATE TABLE maf_key_label ("
    " rel_key_id TEXT NOT NULL REFERENCES maf_key (rel_key_id) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY (rel_key_id, pos));"
    "PRAGMA user_version = 2;",
    /* 3: pre-provisioned clients (suid 11, `mafd client add`) and the targetIDs a
     * client may name; an index for erasing a registration's keys (8.8.2.6). A
     * pre-provisioned client's keid column holds its kmid_rel (no '@', so never
     * a KeID): the column stays NOT NULL UNIQUE without rebuilding the table. */
    "ALTER TABLE maf_client ADD COLUMN suid INTEGER NOT NULL DEFAULT 21;"
    "CREATE TABLE maf_client_target ("
    " kmid_rel TEXT NOT NULL REFERENCES maf_client (kmid_rel) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY (kmid_rel, pos));"
    "CREATE INDEX maf_key_by_reg ON maf_key (reg_id);"
    "PRAGMA user_version = 3;",
    /*
     * 4: the MAF Key Registrations move to the shared key registry of
     * store/keyreg.c (the MEF's table shape and text, migration 3 of
     * store/mef.c). A key is a child of its MAF Client Registration and of
     * its client (ON DELETE CASCADE on both), so de-registering, sweeping or
     * replacing either erases it. The rows are copied within this transaction: the
     * sealed key keeps its AAD "kc:<rel>", the expiry is capped at the
     * registration's (a key never outlives it), and a key whose registration
     * is gone is not copied (it would have outlived it). Then maf_key goes;
     * secure_delete overwrites its pages.
     */
    M2MSEC_DB_KEYREG_DDL(
            " REFERENCES maf_client (kmid_rel) ON DELETE CASCADE", "maf_reg",
            "CREATE INDEX keyreg_by_owner ON keyreg (owner);",
            "INSERT INTO keyreg"
            " (rel, owner, reg_id, source_id, admin_fqdn, suid, key, expires, created)"
            " SELECT k.rel_key_id, k.kmid_rel, k.reg_id, k.source_id, k.admin_fqdn, k.suid, k.kc,"
            " min(k.et, r.et), k.created FROM maf_key k"
            " JOIN maf_reg r ON r.reg_id = k.reg_id AND r.kmid_rel = k.kmid_rel;"
            "INSERT INTO keyreg_target (rel, pos, value)"
            " SELECT t.rel_key_id, t.pos, t.value FROM maf_key_target t"
            " WHERE t.rel_key_id IN (SELECT rel FROM keyreg);"
            "INSERT INTO keyreg_label (rel, pos, value)"
            " SELECT l.rel_key_id, l.pos, l.value FROM maf_key_label l"
            " WHERE l.rel_key_id IN (SELECT rel FROM keyreg);"
            "DROP TABLE maf_key_label;"
            "DROP TABLE maf_key_target;"
            "DROP TABLE maf_key;"
            "PRAGMA user_version = 4;"),
    NULL,
};

/* Re-enrolment replaces remotely provisioned clients only: never a pre-provisioned one. */
static const char sql_client_replace[] =
        "DELETE FROM maf_client WHERE (client_id = ?1 AND suid = 21) OR keid = ?2 COLLATE NOCASE";
static const char sql_client_insert[] =
        "INSERT INTO maf_client (kmid_rel, keid, client_id, km, expires, created, suid)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_client_select[] =
        "SELECT kmid_rel, keid, client_id, km, expires, created, suid FROM maf_client"
        " WHERE kmid_rel = ?1 AND expires > ?2";
static const char sql_client_list[] =
        "SELECT kmid_rel, keid, client_id, km, expires, created, suid FROM maf_client"
        " WHERE expires > ?1 ORDER BY kmid_rel";
static const char sql_client_by_keid[] =
        "SELECT kmid_rel, keid, client_id, km, expires, created, suid FROM maf_client"
        " WHERE keid = ?1 COLLATE NOCASE AND suid = 21 AND expires > ?2";
static const char sql_client_targets[] =
        "SELECT value FROM maf_client_target WHERE kmid_rel = ?1 ORDER BY pos";
static const char sql_client_target_insert[] =
        "INSERT INTO maf_client_target (kmid_rel, pos, value) VALUES (?1, ?2, ?3)";
static const char sql_client_taken[] =
        "SELECT 1 FROM maf_client WHERE (kmid_rel = ?1 OR client_id = ?2) AND expires > ?3";
static const char sql_client_delete[] = "DELETE FROM maf_client WHERE kmid_rel = ?1";
static const char sql_reg_select[] =
        "SELECT kmid_rel, admin_fqdn, et FROM maf_reg WHERE reg_id = ?1 AND et > ?2";
static const char sql_reg_labels[] =
        "SELECT value FROM maf_reg_label WHERE reg_id = ?1 ORDER BY pos";
static const char sql_reg_set_et[] = "UPDATE maf_reg SET et = ?2 WHERE reg_id = ?1";
static const char sql_reg_label_clear[] = "DELETE FROM maf_reg_label WHERE reg_id = ?1";
static const char sql_rekey_regs[] =
        "UPDATE maf_reg SET kmid_rel = ?1, et = min(et, ?3) WHERE kmid_rel = ?2";
/* The statements below that name keyreg reach into the key registry (store/keyreg.c). */
static const char sql_rekey_keys[] =
        "UPDATE keyreg SET owner = ?1, expires = min(expires, ?3) WHERE owner = ?2";
/* A registration's keys never outlive it (SPEC-DIGEST 5 rule 2). */
static const char sql_reg_cap_keys[] =
        "UPDATE keyreg SET expires = min(expires, ?2) WHERE reg_id = ?1";
static const char sql_reg_delete[] = "DELETE FROM maf_reg WHERE reg_id = ?1 AND et > ?2";
/* The de-registration cascade (8.8.2.6), explicit to count the keys it erases. */
static const char sql_reg_keys_delete[] = "DELETE FROM keyreg WHERE reg_id = ?1";
static const char sql_client_live[] =
        "SELECT expires FROM maf_client WHERE kmid_rel = ?1 AND expires > ?2";
static const char sql_reg_conflict[] =
        "SELECT 1 FROM maf_reg WHERE kmid_rel = ?1 AND admin_fqdn = ?2 COLLATE NOCASE"
        " AND et > ?3";
static const char sql_reg_purge[] = "DELETE FROM maf_reg WHERE kmid_rel = ?1 AND et <= ?2";
static const char sql_reg_insert[] =
        "INSERT INTO maf_reg (reg_id, kmid_rel, admin_fqdn, et) VALUES (?1, ?2, ?3, ?4)";
static const char sql_label_insert[] =
        "INSERT INTO maf_reg_label (reg_id, pos, value) VALUES (?1, ?2, ?3)";
static const char sql_reg_count[] = "SELECT count(*) FROM maf_reg WHERE kmid_rel = ?1 AND et > ?2";
static const char sql_sweep_clients[] = "DELETE FROM maf_client WHERE expires <= ?1";
static const char sql_sweep_regs[] = "DELETE FROM maf_reg WHERE et <= ?1";
static const char sql_sweep_keys[] = "DELETE FROM keyreg WHERE expires <= ?1";
static const char sql_dev_kc_put[] =
        "INSERT OR REPLACE INTO dev_kc (key_id, maf_fqdn, target, suid, expires, kc, reg_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_dev_kc_forget[] =
        "DELETE FROM dev_kc WHERE maf_fqdn = ?1 COLLATE NOCASE AND (reg_id = ?2 OR reg_id IS NULL)";
static const char sql_dev_reg_forget[] =
        "UPDATE dev_maf SET reg_id = NULL, admin_fqdn = NULL WHERE maf_fqdn = ?1 AND reg_id = ?2";
static const char sql_dev_kc_get[] =
        "SELECT key_id, maf_fqdn, target, suid, expires, kc FROM dev_kc"
        " WHERE key_id = ?1 AND expires > ?2";

/* A pre-provisioned Km has no KeID: its keid column (NOT NULL) holds the KmID. */
static const char sql_dev_put[] =
        "INSERT OR REPLACE INTO dev_maf"
        " (maf_fqdn, kmid, keid, reg_id, expires, km, admin_fqdn, suid, client_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sql_dev_get[] =
        "SELECT maf_fqdn, kmid, keid, reg_id, expires, km, admin_fqdn, suid, client_id FROM dev_maf"
        " WHERE maf_fqdn = ?1 AND expires > ?2";

void
m2msec_maf_client_rec_free(struct m2msec_maf_client_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->keid);
    m2msec_free(r->client_id);
    m2msec_db_list_free(r->targets);
    m2msec_secret_free(r->km);
    m2msec_free(r);
}

void
m2msec_maf_client_list_free(struct m2msec_maf_client_rec **list)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; list[i] != NULL; i++) {
        m2msec_maf_client_rec_free(list[i]);
    }
    m2msec_free(list);
}

/* The current row of a client query (columns of sql_client_select). */
static int
client_row(struct m2msec_db *db, sqlite3_stmt *st, int with_km, struct m2msec_maf_client_rec **out,
           struct m2msec_error *err)
{
    struct m2msec_maf_client_rec *r = NULL;
    const unsigned char *rel = sqlite3_column_text(st, 0);
    int rv = -1;

    *out = NULL;
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading MAF client");
        goto out;
    }
    if (rel == NULL || !m2msec_db_hex32((const char *)rel)) {
        m2msec_error_setx(err, M2MSEC_ERR_STORE, "malformed KmID in the store");
        goto out;
    }
    memcpy(r->kmid_rel, rel, sizeof(r->kmid_rel));
    r->suid = (unsigned)sqlite3_column_int64(st, 6);
    /* A pre-provisioned client's keid column only keeps the column unique. */
    if ((r->suid != M2MSEC_MAF_SUID_PREPROV &&
         m2msec_db_column_str(st, 1, 1, &r->keid, err) == -1) ||
        m2msec_db_column_str(st, 2, 1, &r->client_id, err) == -1) {
        goto out;
    }
    r->expires = sqlite3_column_int64(st, 4);
    r->created = sqlite3_column_int64(st, 5);
    if (with_km && m2msec_db_unseal(db, "km", r->kmid_rel, sqlite3_column_blob(st, 3),
                                    (size_t)sqlite3_column_bytes(st, 3), &r->km, err) == -1) {
        m2msec_error_wrap(err, "Km of %s", r->kmid_rel);
        goto out;
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_maf_client_rec_free(r);
    return rv;
}

/* The allowed targets of a loaded client; none configured leaves targets NULL (any). */
static int
client_targets_load(struct m2msec_db *db, struct m2msec_maf_client_rec *r, struct m2msec_error *err)
{
    if (m2msec_db_list_load(db, sql_client_targets, r->kmid_rel, &r->targets, &r->ntargets, err) ==
        -1) {
        return -1;
    }
    if (r->ntargets == 0) {
        m2msec_db_list_free(r->targets);
        r->targets = NULL;
    }
    return 0;
}

int
m2msec_maf_client_get(struct m2msec_db *db, const char *kmid_rel, int64_t now, int with_km,
                      struct m2msec_maf_client_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL || kmid_rel == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KmID missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_client_select, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, kmid_rel, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading MAF client", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no MAF client %s",
                          kmid_rel);
        goto out;
    }
    if (client_row(db, st, with_km, out, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (client_targets_load(db, *out, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1) {
        m2msec_maf_client_rec_free(*out);
        *out = NULL;
    }
    return rv;
}

int
m2msec_maf_client_get_by_keid(struct m2msec_db *db, const char *keid, int64_t now, int with_km,
                              struct m2msec_maf_client_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL || !m2msec_db_str_set(keid)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KeID missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_client_by_keid, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, keid, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading MAF client", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                          "no MAF client for KeID %s", keid);
        goto out;
    }
    if (client_row(db, st, with_km, out, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (client_targets_load(db, *out, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1) {
        m2msec_maf_client_rec_free(*out);
        *out = NULL;
    }
    return rv;
}

int
m2msec_maf_client_list(struct m2msec_db *db, int64_t now, int with_km,
                       struct m2msec_maf_client_rec ***out, size_t *n, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_maf_client_rec **list = NULL;
    struct m2msec_maf_client_rec **nl = NULL;
    size_t count = 0;
    int rc;
    int rv = -1;

    *out = NULL;
    *n = 0;
    list = m2msec_calloc(1, sizeof(*list));
    if (db == NULL || list == NULL) {
        m2msec_error_setx(err, db == NULL ? M2MSEC_ERR_INVALID_ARGUMENT : M2MSEC_ERR_NOMEM,
                          "listing MAF clients");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_client_list, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, now, err) == -1) {
        goto out;
    }
    while ((rc = m2msec_db_step_row(db, st, "listing MAF clients", err)) == 1) {
        nl = m2msec_realloc(list, (count + 2) * sizeof(*list));
        if (nl == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "listing MAF clients");
            goto out;
        }
        list = nl;
        list[count + 1] = NULL;
        if (client_row(db, st, with_km, &list[count], err) == -1 ||
            client_targets_load(db, list[count], err) == -1) {
            goto out;
        }
        count++;
    }
    if (rc == -1) {
        goto out;
    }
    *out = list;
    *n = count;
    list = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_maf_client_list_free(list);
    return rv;
}

/* Within the open transaction: replace clients of the same identity, insert this one. */
static int
client_insert(struct m2msec_db *db, const struct m2msec_maf_client_rec *c, const uint8_t *blob,
              size_t bloblen, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    /* Registrations of the replaced client go with it (ON DELETE CASCADE). */
    if (m2msec_db_stmt(db, sql_client_replace, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, c->client_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, c->keid, err) == -1 ||
        m2msec_db_step_done(db, st, "replacing MAF client", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_stmt(db, sql_client_insert, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, c->kmid_rel, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, c->keid, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, c->client_id, err) == -1 ||
        m2msec_db_bind_blob(db, st, 4, blob, bloblen, err) == -1 ||
        m2msec_db_bind_int64(db, st, 5, c->expires, err) == -1 ||
        m2msec_db_bind_int64(db, st, 6, c->created, err) == -1 ||
        m2msec_db_bind_int64(db, st, 7, M2MSEC_MAF_SUID_REMOTE, err) == -1 ||
        m2msec_db_step_done(db, st, "storing MAF client", NULL, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* Within the open transaction: the live client's expiry, NOT_FOUND when none. */
static int
client_expiry(struct m2msec_db *db, const char *kmid_rel, int64_t now, int64_t *expires,
              struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    if (m2msec_db_stmt(db, sql_client_live, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, kmid_rel, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading MAF client", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no MAF client %s",
                          kmid_rel);
        goto out;
    }
    *expires = sqlite3_column_int64(st, 0);
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* Within the open transaction: the registration itself (one per adminFQDN). */
static int
reg_insert(struct m2msec_db *db, const struct m2msec_mafreg_rec *r, int64_t now,
           struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql_reg_purge, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->kmid_rel, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1 ||
        m2msec_db_step_done(db, st, "purging expired registrations", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    /* @spec TS-0003 8.8.2.3: one registration per administrating stakeholder per MAF. */
    if (m2msec_db_reg_conflict(db, sql_reg_conflict, r->kmid_rel, r->admin_fqdn, now, err) == -1) {
        goto out;
    }
    if (m2msec_db_stmt(db, sql_reg_insert, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->reg_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->kmid_rel, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->admin_fqdn, err) == -1 ||
        m2msec_db_bind_int64(db, st, 4, r->expires, err) == -1 ||
        m2msec_db_step_done(db, st, "storing registration", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_list_store(db, sql_label_insert, r->reg_id, r->labels, r->nlabels, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_maf_register(struct m2msec_db *db, const struct m2msec_maf_client_rec *client,
                    const struct m2msec_mafreg_rec *reg, int64_t now, struct m2msec_error *err)
{
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int64_t client_exp = 0;
    int rv = -1;

    if (db == NULL || reg == NULL || !m2msec_db_hex32(reg->reg_id) || reg->kmid_rel == NULL ||
        !m2msec_db_hex32(reg->kmid_rel) || !m2msec_db_str_set(reg->admin_fqdn) ||
        reg->expires <= now) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "registration needs 32-hex-digit ids, an adminFQDN and a future expiry");
        goto out;
    }
    if (m2msec_db_list_valid(reg->labels, reg->nlabels, "label", err) == -1) {
        goto out;
    }
    if (client != NULL) {
        if (!m2msec_db_hex32(client->kmid_rel) || strcmp(client->kmid_rel, reg->kmid_rel) != 0 ||
            !m2msec_db_str_set(client->keid) || !m2msec_db_str_set(client->client_id) ||
            (client->suid != 0 && client->suid != M2MSEC_MAF_SUID_REMOTE) || client->km == NULL ||
            client->expires <= now) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                              "MAF client needs its KmID, KeID, client id, Km and a future expiry");
            goto out;
        }
        if (m2msec_db_seal(db, "km", client->kmid_rel, client->km, &blob, &bloblen, err) == -1) {
            goto out;
        }
    }
    if (m2msec_db_begin(db, err) == -1) {
        goto out;
    }
    if (client != NULL && client_insert(db, client, blob, bloblen, err) == -1) {
        goto out;
    }
    if (client_expiry(db, reg->kmid_rel, now, &client_exp, err) == -1) {
        goto out;
    }
    /* TS-0003 10.7: nothing bound to Km outlives it. */
    if (reg->expires > client_exp) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "registration outlives its Km");
        goto out;
    }
    if (reg_insert(db, reg, now, err) == -1 || m2msec_db_commit(db, err) == -1) {
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

int
m2msec_maf_reg_count(struct m2msec_db *db, const char *kmid_rel, int64_t now, size_t *n,
                     struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    *n = 0;
    if (db == NULL || kmid_rel == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KmID missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_reg_count, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, kmid_rel, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "counting registrations", err);
    if (rc != 1) {
        if (rc == 0) {
            m2msec_error_setx(err, M2MSEC_ERR_STORE, "counting registrations: no row");
        }
        goto out;
    }
    *n = (size_t)sqlite3_column_int64(st, 0);
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_maf_sweep(struct m2msec_db *db, int64_t now, size_t *erased, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    size_t a = 0;
    size_t b = 0;
    size_t k = 0;
    int rv = -1;

    if (erased != NULL) {
        *erased = 0;
    }
    if (db == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no store");
        goto out;
    }
    /* @spec TS-0003 8.8.2.7: Kc lives until the expirationTime the MAF assigned. Keys go
     * first: none outlives its registration, so each expired one is counted here. */
    if (m2msec_db_begin(db, err) == -1 || m2msec_db_stmt(db, sql_sweep_keys, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, now, err) == -1 ||
        m2msec_db_step_done(db, st, "erasing expired key registrations", &k, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_stmt(db, sql_sweep_regs, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, now, err) == -1 ||
        m2msec_db_step_done(db, st, "erasing expired registrations", &b, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    /* @spec TS-0003 10.7: an expired Km, and what was registered under it, is erased. */
    if (m2msec_db_stmt(db, sql_sweep_clients, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, now, err) == -1 ||
        m2msec_db_step_done(db, st, "erasing expired MAF clients", &a, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (a > 0 || b > 0 || k > 0) {
        /* Best effort: the WAL still holds page images with the sealed Km or Kc. */
        (void)sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    if (erased != NULL) {
        *erased = a + b + k;
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
 * Pre-provisioned clients (TS-0003 8.8.3.1 PPSK) and the client lifecycle
 * (8.8.2.4 - 8.8.2.6).
 */

/* Within the open transaction: run a statement taking one id (a KmID or a regID) as ?1. */
static int
exec_one(struct m2msec_db *db, const char *sql, const char *kmid_rel, const char *what,
         size_t *changes, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, kmid_rel, err) == -1 ||
        m2msec_db_step_done(db, st, what, changes, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* Within the open transaction: REFUSED when a live client has this KmID or client id. */
static int
client_free_ids(struct m2msec_db *db, const struct m2msec_maf_client_rec *c, int64_t now,
                struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    if (m2msec_db_stmt(db, sql_client_taken, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, c->kmid_rel, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, c->client_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 3, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "checking MAF clients", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 1) {
        m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT,
                          "a MAF client with KmID %s or client id %s exists", c->kmid_rel,
                          c->client_id);
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* Within the open transaction: insert a client row (any kind) from its sealed Km. */
static int
client_row_insert(struct m2msec_db *db, const struct m2msec_maf_client_rec *c, unsigned suid,
                  const uint8_t *blob, size_t bloblen, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql_client_insert, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, c->kmid_rel, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, suid == M2MSEC_MAF_SUID_PREPROV ? c->kmid_rel : c->keid,
                            err) == -1 ||
        m2msec_db_bind_text(db, st, 3, c->client_id, err) == -1 ||
        m2msec_db_bind_blob(db, st, 4, blob, bloblen, err) == -1 ||
        m2msec_db_bind_int64(db, st, 5, c->expires, err) == -1 ||
        m2msec_db_bind_int64(db, st, 6, c->created, err) == -1 ||
        m2msec_db_bind_int64(db, st, 7, (int64_t)suid, err) == -1 ||
        m2msec_db_step_done(db, st, "storing MAF client", NULL, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_maf_client_add(struct m2msec_db *db, const struct m2msec_maf_client_rec *c, int64_t now,
                      struct m2msec_error *err)
{
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int rv = -1;

    if (db == NULL || c == NULL || !m2msec_db_hex32(c->kmid_rel) ||
        !m2msec_db_str_set(c->client_id) || c->suid != M2MSEC_MAF_SUID_PREPROV || c->km == NULL ||
        c->expires <= now) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "pre-provisioned client needs a 32-hex-digit KmID, a client id, Km, "
                          "SUID 11 and a future expiry");
        goto out;
    }
    if (m2msec_db_list_valid(c->targets, c->ntargets, "target", err) == -1 ||
        m2msec_db_seal(db, "km", c->kmid_rel, c->km, &blob, &bloblen, err) == -1) {
        goto out;
    }
    /* @spec TS-0003 8.8.3.1: Km and KmID provisioned to the MAF (and the client). */
    if (m2msec_db_begin(db, err) == -1 || client_free_ids(db, c, now, err) == -1 ||
        exec_one(db, sql_client_delete, c->kmid_rel, "replacing expired MAF client", NULL, err) ==
                -1 ||
        client_row_insert(db, c, M2MSEC_MAF_SUID_PREPROV, blob, bloblen, err) == -1 ||
        m2msec_db_list_store(db, sql_client_target_insert, c->kmid_rel, c->targets, c->ntargets,
                             err) == -1 ||
        m2msec_db_commit(db, err) == -1) {
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

int
m2msec_maf_client_remove(struct m2msec_db *db, const char *kmid_rel, struct m2msec_error *err)
{
    size_t n = 0;
    int rv = -1;

    if (db == NULL || !m2msec_db_str_set(kmid_rel)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KmID missing");
        goto out;
    }
    /* Registrations, key registrations and targets go with it (ON DELETE CASCADE). */
    if (m2msec_db_begin(db, err) == -1 ||
        exec_one(db, sql_client_delete, kmid_rel, "erasing MAF client", &n, err) == -1) {
        goto out;
    }
    if (n == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no MAF client %s",
                          kmid_rel);
        goto out;
    }
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    /* Best effort: the WAL still holds page images with the sealed Km and Kc. */
    (void)sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    rv = 0;
out:
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    return rv;
}

void
m2msec_mafreg_rec_free(struct m2msec_mafreg_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->kmid_rel);
    m2msec_free(r->admin_fqdn);
    m2msec_db_list_free(r->labels);
    m2msec_free(r);
}

int
m2msec_maf_reg_get(struct m2msec_db *db, const char *reg_id, int64_t now,
                   struct m2msec_mafreg_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_mafreg_rec *r = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL || reg_id == NULL || !m2msec_db_hex32(reg_id)) {
        /* Not an id this MAF hands out: absent. */
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no registration %s",
                          reg_id != NULL ? reg_id : "(null)");
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading registration");
        goto out;
    }
    memcpy(r->reg_id, reg_id, sizeof(r->reg_id));
    /* One snapshot for the row and its labels. */
    if (m2msec_db_begin_read(db, err) == -1 || m2msec_db_stmt(db, sql_reg_select, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, reg_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading registration", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no registration %s",
                          reg_id);
        goto out;
    }
    if (m2msec_db_column_str(st, 0, 1, &r->kmid_rel, err) == -1 ||
        m2msec_db_column_str(st, 1, 1, &r->admin_fqdn, err) == -1) {
        goto out;
    }
    r->expires = sqlite3_column_int64(st, 2);
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_list_load(db, sql_reg_labels, reg_id, &r->labels, &r->nlabels, err) == -1 ||
        m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (r->nlabels == 0) {
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
    m2msec_mafreg_rec_free(r);
    return rv;
}

/* Within the open transaction: run a statement taking (?1 text, ?2 text, ?3 int). */
static int
exec_tti(struct m2msec_db *db, const char *sql, const char *a, const char *b, int64_t c,
         const char *what, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql, &st, err) == -1 || m2msec_db_bind_text(db, st, 1, a, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, b, err) == -1 ||
        m2msec_db_bind_int64(db, st, 3, c, err) == -1 ||
        m2msec_db_step_done(db, st, what, NULL, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/*
 * Within the open transaction: the new Km of a re-enrolled client. The owner
 * must be the remotely provisioned client of the same EnroleeID; its
 * registrations and key registrations move to the new client, then it goes.
 */
static int
reg_rekey(struct m2msec_db *db, const struct m2msec_maf_client_rec *nc, const char *owner_rel,
          int64_t now, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_maf_client_rec *owner = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int rc;
    int rv = -1;

    if (m2msec_db_stmt(db, sql_client_select, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, owner_rel, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading MAF client", err);
    if (rc == -1 || (rc == 1 && client_row(db, st, 0, &owner, err) == -1)) {
        goto out;
    }
    if (rc == 0 || owner->suid == M2MSEC_MAF_SUID_PREPROV ||
        strcmp(owner->client_id, nc->client_id) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "the registration does not belong to a remotely provisioned client %s",
                          nc->client_id);
        goto out;
    }
    if (m2msec_db_seal(db, "km", nc->kmid_rel, nc->km, &blob, &bloblen, err) == -1 ||
        client_row_insert(db, nc, M2MSEC_MAF_SUID_REMOTE, blob, bloblen, err) == -1 ||
        exec_tti(db, sql_rekey_regs, nc->kmid_rel, owner_rel, nc->expires,
                 "moving registrations to the new Km", err) == -1 ||
        exec_tti(db, sql_rekey_keys, nc->kmid_rel, owner_rel, nc->expires,
                 "moving key registrations to the new Km", err) == -1 ||
        exec_one(db, sql_client_delete, owner_rel, "erasing the previous Km", NULL, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_maf_client_rec_free(owner);
    m2msec_free(blob);
    return rv;
}

int
m2msec_maf_reg_update(struct m2msec_db *db, const struct m2msec_maf_client_rec *rekey,
                      const char *reg_id, int64_t now, int has_et, int64_t expires, int has_lbl,
                      char *const *labels, size_t nlabels, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    char *owner = NULL;
    int64_t client_exp = 0;
    int rc, i;
    int rv = -1;

    if (db == NULL || reg_id == NULL || !m2msec_db_hex32(reg_id) || (has_et && expires <= now)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "update needs a registration id and a future expiry");
        goto out;
    }
    if (rekey != NULL &&
        (!m2msec_db_hex32(rekey->kmid_rel) || !m2msec_db_str_set(rekey->keid) ||
         !m2msec_db_str_set(rekey->client_id) || rekey->km == NULL || rekey->expires <= now)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "re-keyed client needs its KmID, KeID, client id, Km and a future "
                          "expiry");
        goto out;
    }
    if (has_lbl && m2msec_db_list_valid(labels, nlabels, "label", err) == -1) {
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1 || m2msec_db_stmt(db, sql_reg_select, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, reg_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading registration", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no registration %s",
                          reg_id);
        goto out;
    }
    if (m2msec_db_column_str(st, 0, 1, &owner, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (rekey != NULL && reg_rekey(db, rekey, owner, now, err) == -1) {
        goto out;
    }
    if (client_expiry(db, rekey != NULL ? rekey->kmid_rel : owner, now, &client_exp, err) == -1) {
        goto out;
    }
    if (has_et) {
        /* TS-0003 10.7: nothing bound to Km outlives it. */
        if (expires > client_exp) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "registration outlives its Km");
            goto out;
        }
        /* Its key registrations are capped at the new et: none outlives it. */
        for (i = 0; i < 2; i++) {
            if (m2msec_db_stmt(db, i == 0 ? sql_reg_set_et : sql_reg_cap_keys, &st, err) == -1 ||
                m2msec_db_bind_text(db, st, 1, reg_id, err) == -1 ||
                m2msec_db_bind_int64(db, st, 2, expires, err) == -1 ||
                m2msec_db_step_done(db, st, "updating registration", NULL, err) == -1) {
                goto out;
            }
            m2msec_db_stmt_done(st);
            st = NULL;
        }
    }
    if (has_lbl &&
        (exec_one(db, sql_reg_label_clear, reg_id, "replacing labels", NULL, err) == -1 ||
         m2msec_db_list_store(db, sql_label_insert, reg_id, labels, nlabels, err) == -1)) {
        goto out;
    }
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (rekey != NULL) {
        /* Best effort: the WAL still holds page images with the previous sealed Km. */
        (void)sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    m2msec_free(owner);
    return rv;
}

int
m2msec_maf_reg_delete(struct m2msec_db *db, const char *reg_id, int64_t now, size_t *nkeys,
                      struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    size_t k = 0;
    int rv = -1;

    if (nkeys != NULL) {
        *nkeys = 0;
    }
    if (db == NULL || reg_id == NULL || !m2msec_db_hex32(reg_id)) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no registration %s",
                          reg_id != NULL ? reg_id : "(null)");
        goto out;
    }
    /* @spec TS-0003 8.8.2.6: everything tied to the record goes, Kc included. The keys go
     * first, to be counted (the cascade would erase them silently); an absent registration
     * rolls it back. */
    if (m2msec_db_begin(db, err) == -1 ||
        exec_one(db, sql_reg_keys_delete, reg_id, "erasing the registration's keys", &k, err) ==
                -1 ||
        m2msec_db_stmt(db, sql_reg_delete, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, reg_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1 ||
        m2msec_db_step_done(db, st, "erasing registration", &n, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (n == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no registration %s",
                          reg_id);
        goto out;
    }
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (k > 0) {
        /* Best effort: the WAL still holds page images with the sealed Kc. */
        (void)sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    if (nkeys != NULL) {
        *nkeys = k;
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
 * Device side.
 */

void
m2msec_dev_maf_rec_free(struct m2msec_dev_maf_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->maf_fqdn);
    m2msec_free(r->kmid);
    m2msec_free(r->keid);
    m2msec_free(r->client_id);
    m2msec_free(r->reg_id);
    m2msec_free(r->admin_fqdn);
    m2msec_secret_free(r->km);
    m2msec_free(r);
}

int
m2msec_dev_maf_put(struct m2msec_db *db, const struct m2msec_dev_maf_rec *r,
                   struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int preprov;
    int rv = -1;

    preprov = r != NULL && r->suid == M2MSEC_MAF_SUID_PREPROV;
    if (db == NULL || r == NULL || !m2msec_db_str_set(r->maf_fqdn) || !m2msec_db_str_set(r->kmid) ||
        (!preprov && !m2msec_db_str_set(r->keid)) ||
        (r->suid != 0 && r->suid != M2MSEC_MAF_SUID_REMOTE && !preprov) || r->km == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "MAF key record needs a MAF FQDN, KmID, Km, SUID 21 or 11 and (SUID 21) "
                          "a KeID");
        goto out;
    }
    if (m2msec_db_seal(db, "dev-km", r->kmid, r->km, &blob, &bloblen, err) == -1) {
        goto out;
    }
    /* @spec TS-0003 8.8.2.3: the client stores assignedSymmKeyID with Km for later handshakes. */
    if (m2msec_db_begin(db, err) == -1 || m2msec_db_stmt(db, sql_dev_put, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->maf_fqdn, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->kmid, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, preprov ? r->kmid : r->keid, err) == -1 ||
        m2msec_db_bind_text(db, st, 4, r->reg_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 5, r->expires, err) == -1 ||
        m2msec_db_bind_blob(db, st, 6, blob, bloblen, err) == -1 ||
        m2msec_db_bind_text(db, st, 7, r->admin_fqdn, err) == -1 ||
        m2msec_db_bind_int64(db, st, 8, preprov ? M2MSEC_MAF_SUID_PREPROV : M2MSEC_MAF_SUID_REMOTE,
                             err) == -1 ||
        m2msec_db_bind_text(db, st, 9, r->client_id, err) == -1 ||
        m2msec_db_step_done(db, st, "storing MAF key", NULL, err) == -1) {
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
m2msec_dev_maf_get(struct m2msec_db *db, const char *maf_fqdn, int64_t now, int with_key,
                   struct m2msec_dev_maf_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_dev_maf_rec *r = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL || !m2msec_db_str_set(maf_fqdn)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "MAF FQDN missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_dev_get, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, maf_fqdn, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading MAF key", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no Km for MAF %s",
                          maf_fqdn);
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading MAF key");
        goto out;
    }
    r->suid = (unsigned)sqlite3_column_int64(st, 7);
    if (m2msec_db_column_str(st, 0, 1, &r->maf_fqdn, err) == -1 ||
        m2msec_db_column_str(st, 1, 1, &r->kmid, err) == -1 ||
        (r->suid != M2MSEC_MAF_SUID_PREPROV &&
         m2msec_db_column_str(st, 2, 1, &r->keid, err) == -1) ||
        m2msec_db_column_str(st, 3, 0, &r->reg_id, err) == -1 ||
        m2msec_db_column_str(st, 6, 0, &r->admin_fqdn, err) == -1 ||
        m2msec_db_column_str(st, 8, 0, &r->client_id, err) == -1) {
        goto out;
    }
    r->expires = sqlite3_column_int64(st, 4);
    if (with_key && m2msec_db_unseal(db, "dev-km", r->kmid, sqlite3_column_blob(st, 5),
                                     (size_t)sqlite3_column_bytes(st, 5), &r->km, err) == -1) {
        m2msec_error_wrap(err, "Km %s", r->kmid);
        goto out;
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_dev_maf_rec_free(r);
    return rv;
}

int
m2msec_dev_maf_forget_reg(struct m2msec_db *db, const char *maf_fqdn, const char *reg_id,
                          size_t *nkc, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    int rv = -1;

    if (nkc != NULL) {
        *nkc = 0;
    }
    if (db == NULL || !m2msec_db_str_set(maf_fqdn) || !m2msec_db_str_set(reg_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "MAF FQDN and registration id needed");
        goto out;
    }
    /* @spec TS-0003 8.8.2.6 (client side, as 8.3.4.2): stop using the registration and
     * delete the credentials tied to it. */
    if (m2msec_db_begin(db, err) == -1 || m2msec_db_stmt(db, sql_dev_kc_forget, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, maf_fqdn, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, reg_id, err) == -1 ||
        m2msec_db_step_done(db, st, "erasing Kc", &n, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_stmt(db, sql_dev_reg_forget, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, maf_fqdn, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, reg_id, err) == -1 ||
        m2msec_db_step_done(db, st, "forgetting registration", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (n > 0) {
        /* Best effort: the WAL still holds page images with the sealed Kc. */
        (void)sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    if (nkc != NULL) {
        *nkc = n;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1 && db != NULL) {
        m2msec_db_rollback(db);
    }
    return rv;
}

void
m2msec_dev_kc_rec_free(struct m2msec_dev_kc_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->key_id);
    m2msec_free(r->maf_fqdn);
    m2msec_free(r->reg_id);
    m2msec_free(r->target);
    m2msec_secret_free(r->kc);
    m2msec_free(r);
}

int
m2msec_dev_kc_put(struct m2msec_db *db, const struct m2msec_dev_kc_rec *r, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int rv = -1;

    if (db == NULL || r == NULL || !m2msec_db_str_set(r->key_id) ||
        !m2msec_db_str_set(r->maf_fqdn) || !m2msec_db_str_set(r->target) || r->kc == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "Kc record needs a Key Identifier, MAF FQDN, target and Kc");
        goto out;
    }
    if (m2msec_db_seal(db, "dev-kc", r->key_id, r->kc, &blob, &bloblen, err) == -1) {
        goto out;
    }
    /* @spec TS-0003 8.8.2.7: the source stores Kc with its Key Identifier. */
    if (m2msec_db_begin(db, err) == -1 || m2msec_db_stmt(db, sql_dev_kc_put, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->key_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->maf_fqdn, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->target, err) == -1 ||
        m2msec_db_bind_int64(db, st, 4, (int64_t)r->suid, err) == -1 ||
        m2msec_db_bind_int64(db, st, 5, r->expires, err) == -1 ||
        m2msec_db_bind_blob(db, st, 6, blob, bloblen, err) == -1 ||
        m2msec_db_bind_text(db, st, 7, r->reg_id, err) == -1 ||
        m2msec_db_step_done(db, st, "storing Kc", NULL, err) == -1) {
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
m2msec_dev_kc_get(struct m2msec_db *db, const char *key_id, int64_t now, int with_key,
                  struct m2msec_dev_kc_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_dev_kc_rec *r = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL || !m2msec_db_str_set(key_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "Key Identifier missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_dev_kc_get, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, key_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading Kc", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no Kc %s", key_id);
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading Kc");
        goto out;
    }
    if (m2msec_db_column_str(st, 0, 1, &r->key_id, err) == -1 ||
        m2msec_db_column_str(st, 1, 1, &r->maf_fqdn, err) == -1 ||
        m2msec_db_column_str(st, 2, 1, &r->target, err) == -1) {
        goto out;
    }
    r->suid = (unsigned)sqlite3_column_int64(st, 3);
    r->expires = sqlite3_column_int64(st, 4);
    if (with_key && m2msec_db_unseal(db, "dev-kc", r->key_id, sqlite3_column_blob(st, 5),
                                     (size_t)sqlite3_column_bytes(st, 5), &r->kc, err) == -1) {
        m2msec_error_wrap(err, "Kc %s", r->key_id);
        goto out;
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_dev_kc_rec_free(r);
    return rv;
}

/*
 * Certificate clients (store/maf_cert.h): the live row of kind
 * M2MSEC_MAF_SUID_CERT for the Credential-ID, else a new one.
 */
static const char sql_cert_client_select[] =
        "SELECT kmid_rel FROM maf_client WHERE keid = ?1 AND suid = 30 AND expires > ?2";
static const char sql_cert_client_purge[] =
        "DELETE FROM maf_client WHERE keid = ?1 AND suid = 30 AND expires <= ?2";

int
m2msec_maf_cert_client(struct m2msec_db *db, const char *cred_id,
                       const struct m2msec_maf_client_rec *fresh, int64_t now, char kmid_rel[33],
                       struct m2msec_error *err)
{
    struct m2msec_maf_client_rec row;
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    char *found = NULL;
    char *keid = NULL;
    size_t bloblen = 0;
    int rc = 0;
    int rv = -1;

    memset(&row, 0, sizeof(row));
    if (db == NULL || !m2msec_db_str_set(cred_id) || fresh == NULL ||
        !m2msec_db_hex32(fresh->kmid_rel) || !m2msec_db_str_set(fresh->client_id) ||
        fresh->km == NULL || fresh->expires <= now) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "certificate client needs a Credential-ID, an owner key, a client id, "
                          "Km and a future expiry");
        return -1;
    }
    keid = m2msec_strdup(cred_id);
    if (keid == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (m2msec_db_begin(db, err) == -1) {
        goto out;
    }
    if (m2msec_db_stmt(db, sql_cert_client_select, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, cred_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading certificate client", err);
    if (rc == -1 || (rc == 1 && m2msec_db_column_str(st, 0, 1, &found, err) == -1)) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (found != NULL) {
        if (m2msec_strlcpy(kmid_rel, found, 33) == -1) {
            m2msec_error_setx(err, M2MSEC_ERR_STORE, "stored owner key malformed");
            goto out;
        }
    } else {
        /* An expired row of the same credential goes first: keid is unique. */
        if (m2msec_db_stmt(db, sql_cert_client_purge, &st, err) == -1 ||
            m2msec_db_bind_text(db, st, 1, cred_id, err) == -1 ||
            m2msec_db_bind_int64(db, st, 2, now, err) == -1 ||
            m2msec_db_step_done(db, st, "erasing expired certificate client", NULL, err) == -1) {
            goto out;
        }
        m2msec_db_stmt_done(st);
        st = NULL;
        if (m2msec_db_seal(db, "km", fresh->kmid_rel, fresh->km, &blob, &bloblen, err) == -1) {
            goto out;
        }
        row = *fresh;
        row.keid = keid;
        if (client_row_insert(db, &row, M2MSEC_MAF_SUID_CERT, blob, bloblen, err) == -1) {
            goto out;
        }
        memcpy(kmid_rel, fresh->kmid_rel, 33);
    }
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1) {
        m2msec_db_rollback(db);
    }
    m2msec_free(blob);
    m2msec_free(found);
    m2msec_free(keid);
    return rv;
}
