/*
 * store/mef.c - the MEF's tables: Enrolees, Enrolment Keys, MEF Client Registrations,
 * Enrolment Targets, PKI bootstrap node classes and root credentials (and the schema of the
 * key registry, whose queries are store/keyreg.c's).
 *
 * Layer: store. Depends on util and crypto only. Each public function is one
 * transaction: a write either fully happens or leaves nothing behind. Kpm and
 * Ke are stored only as sealed blobs whose AAD names the row
 * ("kpm:<KpmID>", "ke:<hex RelativeKeID>", "root:<hex rel>" for a root credential); so is the key of a PSK-authenticated
 * Enrolment Target ("target-psk:<target id>"), with its key check value beside it.
 */
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "crypto/kdf.h"
#include "store/store.h"
#include "store/store_int.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

/*
 * Schema migrations. Targets and labels live in child tables with a position
 * column so lists round-trip in order with any characters. Ke and targets
 * follow their Enrolee through ON DELETE CASCADE. Registrations are deleted
 * explicitly with their owner: their kpm_id names a credential, which need not
 * be an Enrolee row.
 */
const char *const m2msec_db_mef_migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE meta ("
    " one INTEGER PRIMARY KEY CHECK (one = 1),"
    " kind TEXT NOT NULL);"
    "INSERT INTO meta (one, kind) VALUES (1, 'mef');"
    "CREATE TABLE enrolee ("
    " kpm_id TEXT PRIMARY KEY NOT NULL,"
    " enrolee_id TEXT NOT NULL,"
    " expiry_s INTEGER NOT NULL CHECK (expiry_s >= 0),"
    " policy_json TEXT,"
    " created INTEGER NOT NULL,"
    " kpm BLOB NOT NULL);"
    "CREATE TABLE enrolee_target ("
    " kpm_id TEXT NOT NULL REFERENCES enrolee (kpm_id) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL,"
    " target TEXT NOT NULL,"
    " PRIMARY KEY (kpm_id, pos));"
    "CREATE TABLE ke ("
    " rel BLOB PRIMARY KEY NOT NULL CHECK (length(rel) = 16),"
    " kpm_id TEXT NOT NULL UNIQUE REFERENCES enrolee (kpm_id) ON DELETE CASCADE,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " ke BLOB NOT NULL);"
    "CREATE INDEX ke_expires ON ke (expires);"
    "CREATE TABLE mefreg ("
    " reg_id TEXT PRIMARY KEY NOT NULL,"
    " kpm_id TEXT NOT NULL,"
    " client_id TEXT NOT NULL,"
    " admin_fqdn TEXT NOT NULL,"
    " expires INTEGER NOT NULL);"
    "CREATE INDEX mefreg_owner ON mefreg (kpm_id, admin_fqdn COLLATE NOCASE);"
    "CREATE INDEX mefreg_expires ON mefreg (expires);"
    "CREATE TABLE mefreg_label ("
    " reg_id TEXT NOT NULL REFERENCES mefreg (reg_id) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL,"
    " label TEXT NOT NULL,"
    " PRIMARY KEY (reg_id, pos));"
    "PRAGMA user_version = 1;",
    /*
     * 2: Enrolment Targets. cert_fqdn carries NOCASE so that both its UNIQUE
     * constraint and every "cert_fqdn = ?" compare host names case-insensitively.
     */
    "CREATE TABLE target ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " cert_fqdn TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " suids TEXT NOT NULL,"
    " legacy INTEGER NOT NULL CHECK (legacy IN (0, 1)),"
    " lifetime_s INTEGER NOT NULL CHECK (lifetime_s >= 0),"
    " created INTEGER NOT NULL);"
    "PRAGMA user_version = 2;",
    /*
     * 3: MEF Key Registrations (TS-0003 8.3.5.2.7), the shared key-registry
     * shape of store/keyreg.c (its text is store_int.h's, as in the MAF's
     * migration 4). A key follows its MEF Client Registration
     * (de-registration, sweeping, Enrolee removal) through ON DELETE CASCADE.
     */
    M2MSEC_DB_KEYREG_DDL("", "mefreg", "", "PRAGMA user_version = 3;"),
    /*
     * 4: PSK-authenticated Enrolment Targets. SQLite cannot drop the NOT NULL
     * of cert_fqdn, so the table is rebuilt: a target has exactly one of a
     * certificate name or a PSK identity; a PSK target has its sealed key and
     * the key's check value (listed without unsealing). psk_id is an octet
     * string compared exactly, as TLS compares psk_identity. No table refers
     * to target, so the rebuild cascades nothing.
     */
    "CREATE TABLE target_v4 ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " cert_fqdn TEXT UNIQUE COLLATE NOCASE,"
    " psk_id TEXT UNIQUE,"
    " psk BLOB,"
    " psk_kcv TEXT,"
    " suids TEXT NOT NULL,"
    " legacy INTEGER NOT NULL CHECK (legacy IN (0, 1)),"
    " lifetime_s INTEGER NOT NULL CHECK (lifetime_s >= 0),"
    " created INTEGER NOT NULL,"
    " CHECK ((cert_fqdn IS NULL) <> (psk_id IS NULL)),"
    " CHECK ((psk_id IS NULL) = (psk IS NULL) AND (psk_id IS NULL) = (psk_kcv IS NULL)));"
    "INSERT INTO target_v4 (id, cert_fqdn, suids, legacy, lifetime_s, created)"
    " SELECT id, cert_fqdn, suids, legacy, lifetime_s, created FROM target;"
    "DROP TABLE target;"
    "ALTER TABLE target_v4 RENAME TO target;"
    "PRAGMA user_version = 4;",
    /*
     * 5: certificate Enrolees (TS-0003 8.3.2.2). The enrolee row stays the
     * owner of Ke, targets and registrations, keyed by the Credential-ID of
     * the certificate identity; its kpm is a zero-length blob (rebuilding
     * enrolee to drop the NOT NULL would cascade into ke and enrolee_target,
     * since migrations run with foreign keys on). enrolee_cert marks the row
     * as a certificate Enrolee; (flavour, cert_id) is unique. Anchor and CRL
     * files are ordered lists per kind.
     */
    "CREATE TABLE enrolee_cert ("
    " kpm_id TEXT PRIMARY KEY NOT NULL REFERENCES enrolee (kpm_id) ON DELETE CASCADE,"
    " flavour TEXT NOT NULL CHECK (flavour IN ('device', 'node-id', 'cse-id', 'ae-id')),"
    " cert_id TEXT NOT NULL,"
    " UNIQUE (flavour, cert_id));"
    "CREATE TABLE enrolee_cert_file ("
    " kpm_id TEXT NOT NULL REFERENCES enrolee_cert (kpm_id) ON DELETE CASCADE,"
    " kind TEXT NOT NULL CHECK (kind IN ('ca', 'crl')),"
    " pos INTEGER NOT NULL,"
    " path TEXT NOT NULL,"
    " PRIMARY KEY (kpm_id, kind, pos));"
    "PRAGMA user_version = 5;",
    /*
     * 6: PKI bootstrap (seed 002). Node classes with their anchor and CRL
     * files, and the root credentials issued to nodes: one live credential
     * per node (UNIQUE node), erased with its class (ON DELETE CASCADE). rel
     * shares the KeID namespace (a random 16 bytes, like a RelativeKeID).
     * IF NOT EXISTS: a file taken back to an older version by hand (tests
     * do) keeps these tables, and must still migrate up again.
     */
    "CREATE TABLE IF NOT EXISTS bootclass ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " flavour TEXT NOT NULL CHECK (flavour IN ('device', 'node-id')),"
    " id_prefix TEXT,"
    " cert_id TEXT,"
    " purpose TEXT NOT NULL,"
    " lifetime_s INTEGER NOT NULL CHECK (lifetime_s > 0),"
    " created INTEGER NOT NULL,"
    " CHECK ((id_prefix IS NULL) <> (cert_id IS NULL)));"
    "CREATE TABLE IF NOT EXISTS bootclass_file ("
    " name TEXT NOT NULL REFERENCES bootclass (name) ON DELETE CASCADE,"
    " kind TEXT NOT NULL CHECK (kind IN ('ca', 'crl')),"
    " pos INTEGER NOT NULL,"
    " path TEXT NOT NULL,"
    " PRIMARY KEY (name, kind, pos));"
    "CREATE TABLE IF NOT EXISTS rootcred ("
    " rel BLOB PRIMARY KEY NOT NULL CHECK (length(rel) = 16),"
    " node TEXT NOT NULL UNIQUE,"
    " class TEXT NOT NULL REFERENCES bootclass (name) ON DELETE CASCADE,"
    " enrolee_id TEXT NOT NULL,"
    " purpose TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " key BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS rootcred_expires ON rootcred (expires);"
    "CREATE INDEX IF NOT EXISTS rootcred_class ON rootcred (class);"
    "PRAGMA user_version = 6;",
    /*
     * 7: the PKG of IBC credentials (seed 000, store/pkg.c): one policy row
     * (key period, MPK lifetime, current version) and one row per MPK version
     * with its KSAK sealed ("pkg-ksak:<version>"), its published validity and
     * the latest expiry of a credential issued under it (kept valid that long
     * after a rotation). The MEF never stores an SSK.
     */
    "CREATE TABLE IF NOT EXISTS pkg ("
    " one INTEGER PRIMARY KEY CHECK (one = 1),"
    " key_period INTEGER NOT NULL CHECK (key_period > 0),"
    " period_offset INTEGER NOT NULL CHECK (period_offset >= 0 AND period_offset < key_period),"
    " mpk_lifetime INTEGER NOT NULL CHECK (mpk_lifetime > 0),"
    " current INTEGER NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS pkg_mpk ("
    " version INTEGER PRIMARY KEY NOT NULL CHECK (version > 0),"
    " kpak BLOB NOT NULL CHECK (length(kpak) = 65),"
    " ksak BLOB NOT NULL,"
    " not_before INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " max_issued INTEGER NOT NULL DEFAULT 0,"
    " retired INTEGER,"
    " created INTEGER NOT NULL);"
    "PRAGMA user_version = 7;",
    NULL,
};

static const char sql_enrolee_exists[] = "SELECT 1 FROM enrolee WHERE kpm_id = ?1";
static const char sql_enrolee_insert[] =
        "INSERT INTO enrolee (kpm_id, enrolee_id, expiry_s, policy_json, created, kpm)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_enrolee_select[] =
        "SELECT kpm_id, enrolee_id, expiry_s, policy_json, created, kpm"
        " FROM enrolee WHERE kpm_id = ?1";
static const char sql_enrolee_list[] =
        "SELECT kpm_id, enrolee_id, expiry_s, policy_json, created, kpm"
        " FROM enrolee ORDER BY kpm_id";
static const char sql_enrolee_delete[] = "DELETE FROM enrolee WHERE kpm_id = ?1";
static const char sql_cert_conflict[] =
        "SELECT 1 FROM enrolee_cert WHERE flavour = ?1 AND cert_id = ?2";
static const char sql_cert_insert[] =
        "INSERT INTO enrolee_cert (kpm_id, flavour, cert_id) VALUES (?1, ?2, ?3)";
static const char sql_cert_select[] = "SELECT flavour, cert_id FROM enrolee_cert WHERE kpm_id = ?1";
static const char sql_cert_by_id[] =
        "SELECT kpm_id FROM enrolee_cert WHERE flavour = ?1 AND cert_id = ?2";
static const char sql_cert_ca_insert[] =
        "INSERT INTO enrolee_cert_file (kpm_id, kind, pos, path) VALUES (?1, 'ca', ?2, ?3)";
static const char sql_cert_crl_insert[] =
        "INSERT INTO enrolee_cert_file (kpm_id, kind, pos, path) VALUES (?1, 'crl', ?2, ?3)";
static const char sql_cert_ca_select[] =
        "SELECT path FROM enrolee_cert_file WHERE kpm_id = ?1 AND kind = 'ca' ORDER BY pos";
static const char sql_cert_crl_select[] =
        "SELECT path FROM enrolee_cert_file WHERE kpm_id = ?1 AND kind = 'crl' ORDER BY pos";
static const char sql_target_insert[] =
        "INSERT INTO enrolee_target (kpm_id, pos, target) VALUES (?1, ?2, ?3)";
static const char sql_target_select[] =
        "SELECT target FROM enrolee_target WHERE kpm_id = ?1 ORDER BY pos";

static const char sql_root_sweep[] = "DELETE FROM rootcred WHERE expires <= ?1";
static const char sql_ke_delete_owner[] = "DELETE FROM ke WHERE kpm_id = ?1";
static const char sql_ke_insert[] =
        "INSERT INTO ke (rel, kpm_id, created, expires, ke) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_ke_by_rel[] = "SELECT rel, kpm_id, created, expires, ke"
                                    " FROM ke WHERE rel = ?1 AND expires > ?2";
static const char sql_ke_by_owner[] = "SELECT rel, kpm_id, created, expires, ke"
                                      " FROM ke WHERE kpm_id = ?1 AND expires > ?2";
static const char sql_ke_sweep[] = "DELETE FROM ke WHERE expires <= ?1";
/* Per-item savepoint of m2msec_mef_ke_put_batch. */
static const char sql_ke_savepoint[] = "SAVEPOINT ke_item";
static const char sql_ke_rollback_to[] = "ROLLBACK TO ke_item";
static const char sql_ke_release[] = "RELEASE ke_item";

static const char sql_reg_conflict[] =
        "SELECT 1 FROM mefreg WHERE kpm_id = ?1 AND admin_fqdn = ?2 COLLATE NOCASE"
        " AND expires > ?3";
static const char sql_reg_purge_id[] = "DELETE FROM mefreg WHERE reg_id = ?1 AND expires <= ?2";
static const char sql_reg_exists[] = "SELECT 1 FROM mefreg WHERE reg_id = ?1";
static const char sql_reg_insert[] =
        "INSERT INTO mefreg (reg_id, kpm_id, client_id, admin_fqdn, expires)"
        " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_reg_select[] = "SELECT kpm_id, client_id, admin_fqdn, expires"
                                     " FROM mefreg WHERE reg_id = ?1 AND expires > ?2";
static const char sql_reg_live[] = "SELECT 1 FROM mefreg WHERE reg_id = ?1 AND expires > ?2";
static const char sql_reg_set_expires[] = "UPDATE mefreg SET expires = ?2 WHERE reg_id = ?1";
static const char sql_reg_delete[] = "DELETE FROM mefreg WHERE reg_id = ?1 AND expires > ?2";
static const char sql_reg_delete_owner[] = "DELETE FROM mefreg WHERE kpm_id = ?1";
static const char sql_reg_sweep[] = "DELETE FROM mefreg WHERE expires <= ?1";
static const char sql_label_insert[] =
        "INSERT INTO mefreg_label (reg_id, pos, label) VALUES (?1, ?2, ?3)";
static const char sql_label_select[] =
        "SELECT label FROM mefreg_label WHERE reg_id = ?1 ORDER BY pos";
static const char sql_label_delete[] = "DELETE FROM mefreg_label WHERE reg_id = ?1";

static const char sql_tgt_conflict[] =
        "SELECT id FROM target WHERE id = ?1 OR cert_fqdn = ?2 OR psk_id = ?3";
static const char sql_tgt_insert[] =
        "INSERT INTO target (id, cert_fqdn, psk_id, psk, psk_kcv, suids, legacy, lifetime_s,"
        " created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
#define TGT_COLUMNS "SELECT id, cert_fqdn, suids, legacy, lifetime_s, created, psk_id, psk_kcv, psk"
static const char sql_tgt_by_id[] = TGT_COLUMNS " FROM target WHERE id = ?1";
static const char sql_tgt_by_cert[] = TGT_COLUMNS " FROM target WHERE cert_fqdn = ?1";
static const char sql_tgt_by_psk[] = TGT_COLUMNS " FROM target WHERE psk_id = ?1";
static const char sql_tgt_list[] = TGT_COLUMNS " FROM target ORDER BY id";
static const char sql_tgt_delete[] = "DELETE FROM target WHERE id = ?1";

/*
 * Shared statement shapes
 */

/* *found = 1 when the query (?1 text, optional ?2 integer) returns a row. */
static int
exists(struct m2msec_db *db, const char *sql, const char *key, int has_num, int64_t num, int *found,
       struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    if (m2msec_db_stmt(db, sql, &st, err) == -1 || m2msec_db_bind_text(db, st, 1, key, err) == -1) {
        goto out;
    }
    if (has_num && m2msec_db_bind_int64(db, st, 2, num, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "looking up", err);
    if (rc == -1) {
        goto out;
    }
    *found = rc;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* Run a write taking ?1 text and optional ?2 integer; *changes = rows touched. */
static int
write_key(struct m2msec_db *db, const char *sql, const char *key, int has_num, int64_t num,
          const char *what, size_t *changes, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql, &st, err) == -1 || m2msec_db_bind_text(db, st, 1, key, err) == -1) {
        goto out;
    }
    if (has_num && m2msec_db_bind_int64(db, st, 2, num, err) == -1) {
        goto out;
    }
    if (m2msec_db_step_done(db, st, what, changes, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* Run a write taking only ?1 integer. */
static int
write_num(struct m2msec_db *db, const char *sql, int64_t num, const char *what, size_t *changes,
          struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, num, err) == -1 ||
        m2msec_db_step_done(db, st, what, changes, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/*
 * Enrolees
 */

void
m2msec_enrolee_rec_free(struct m2msec_enrolee_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->kpm_id);
    m2msec_free(r->enrolee_id);
    m2msec_db_list_free(r->targets);
    m2msec_free(r->policy_json);
    m2msec_secret_free(r->kpm);
    m2msec_free(r->cert_flavour);
    m2msec_free(r->cert_id);
    m2msec_db_list_free(r->cert_cas);
    m2msec_db_list_free(r->cert_crls);
    m2msec_free(r);
}

void
m2msec_enrolee_list_free(struct m2msec_enrolee_rec **list)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; list[i] != NULL; i++) {
        m2msec_enrolee_rec_free(list[i]);
    }
    m2msec_free(list);
}

/* One of the flavours a certificate Enrolee may have (M2MSEC_ENROLEE_CERT_FLAVOURS). */
static int
cert_flavour_valid(const char *f)
{
    return f != NULL && (strcmp(f, "device") == 0 || strcmp(f, "node-id") == 0 ||
                         strcmp(f, "cse-id") == 0 || strcmp(f, "ae-id") == 0);
}

/*
 * The credential of an Enrolee to add: a Kpm (8.3.2.1), or a certificate
 * identity with its trust anchors (8.3.2.2, 8.1.2.4), never both.
 */
static int
enrolee_auth_valid(const struct m2msec_enrolee_rec *r, struct m2msec_error *err)
{
    if ((r->kpm != NULL) == (r->cert_flavour != NULL)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "enrolee needs either a Kpm or a certificate identity");
    }
    if (r->kpm != NULL) {
        if (r->cert_id != NULL || r->ncert_cas != 0 || r->ncert_crls != 0) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "a Kpm enrolee has no certificate information");
        }
        return 0;
    }
    if (!cert_flavour_valid(r->cert_flavour)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "certificate flavour '%s' is not one of %s", r->cert_flavour,
                                 M2MSEC_ENROLEE_CERT_FLAVOURS);
    }
    if (!m2msec_db_str_set(r->cert_id) || r->ncert_cas == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "certificate enrolee needs an identifier and a trust anchor");
    }
    if (m2msec_db_list_valid(r->cert_cas, r->ncert_cas, "trust anchor file", err) == -1 ||
        m2msec_db_list_valid(r->cert_crls, r->ncert_crls, "CRL file", err) == -1) {
        return -1;
    }
    return 0;
}

/* The certificate part of a new certificate Enrolee (inside the add transaction). */
static int
cert_store(struct m2msec_db *db, const struct m2msec_enrolee_rec *r, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    if (m2msec_db_stmt(db, sql_cert_conflict, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->cert_flavour, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->cert_id, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "looking up", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 1) {
        m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT,
                          "an enrolee with %s certificate identity %s exists", r->cert_flavour,
                          r->cert_id);
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_stmt(db, sql_cert_insert, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->kpm_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->cert_flavour, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->cert_id, err) == -1 ||
        m2msec_db_step_done(db, st, "adding enrolee certificate", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_list_store(db, sql_cert_ca_insert, r->kpm_id, r->cert_cas, r->ncert_cas, err) ==
                -1 ||
        m2msec_db_list_store(db, sql_cert_crl_insert, r->kpm_id, r->cert_crls, r->ncert_crls,
                             err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/*
 * @spec TS-0003 8.3.2.1 the MEF keeps, per KpmID, the Kpm, Enrolee-ID, targets and expiry;
 * @spec TS-0003 8.3.2.2 or, for a certificate Enrolee, the certificate information of 8.1.2.4.
 */
int
m2msec_mef_enrolee_add(struct m2msec_db *db, const struct m2msec_enrolee_rec *r,
                       struct m2msec_error *err)
{
    /* A certificate Enrolee's kpm: zero-length, non-NULL (see migration 5). */
    static const uint8_t no_kpm[1];
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int found = 0;
    int rv = -1;

    if (db == NULL || r == NULL || !m2msec_db_str_set(r->kpm_id) ||
        !m2msec_db_str_set(r->enrolee_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "enrolee needs a KpmID and an Enrolee-ID");
        goto out;
    }
    if (enrolee_auth_valid(r, err) == -1) {
        goto out;
    }
    if (r->expiry_s > (uint64_t)INT64_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "enrolment expiry out of range");
        goto out;
    }
    if (m2msec_db_list_valid(r->targets, r->ntargets, "enrolment target", err) == -1) {
        goto out;
    }
    if (r->kpm != NULL &&
        m2msec_db_seal(db, "kpm", r->kpm_id, r->kpm, &blob, &bloblen, err) == -1) {
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1) {
        goto out;
    }
    if (exists(db, sql_enrolee_exists, r->kpm_id, 0, 0, &found, err) == -1) {
        goto out;
    }
    if (found) {
        m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT, "enrolee %s exists",
                          r->kpm_id);
        goto out;
    }
    if (m2msec_db_stmt(db, sql_enrolee_insert, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->kpm_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->enrolee_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 3, (int64_t)r->expiry_s, err) == -1 ||
        m2msec_db_bind_text(db, st, 4, r->policy_json, err) == -1 ||
        m2msec_db_bind_int64(db, st, 5, r->created, err) == -1 ||
        m2msec_db_bind_blob(db, st, 6, blob != NULL ? blob : no_kpm, bloblen, err) == -1 ||
        m2msec_db_step_done(db, st, "adding enrolee", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (r->cert_flavour != NULL && cert_store(db, r, err) == -1) {
        goto out;
    }
    if (m2msec_db_list_store(db, sql_target_insert, r->kpm_id, r->targets, r->ntargets, err) ==
                -1 ||
        m2msec_db_commit(db, err) == -1) {
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

/* The certificate part of an enrolee, if it has one (r->kpm_id set). */
static int
read_cert(struct m2msec_db *db, struct m2msec_enrolee_rec *r, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    if (m2msec_db_stmt(db, sql_cert_select, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->kpm_id, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading enrolee certificate", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 1) {
        if (m2msec_db_column_str(st, 0, 1, &r->cert_flavour, err) == -1 ||
            m2msec_db_column_str(st, 1, 1, &r->cert_id, err) == -1) {
            goto out;
        }
        m2msec_db_stmt_done(st);
        st = NULL;
        if (m2msec_db_list_load(db, sql_cert_ca_select, r->kpm_id, &r->cert_cas, &r->ncert_cas,
                                err) == -1 ||
            m2msec_db_list_load(db, sql_cert_crl_select, r->kpm_id, &r->cert_crls, &r->ncert_crls,
                                err) == -1) {
            goto out;
        }
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* One enrolee row (columns of sql_enrolee_select), its certificate part and its targets. */
static int
read_enrolee(struct m2msec_db *db, sqlite3_stmt *st, int with_kpm, struct m2msec_enrolee_rec **out,
             struct m2msec_error *err)
{
    struct m2msec_enrolee_rec *r = NULL;
    const void *blob = NULL;
    int64_t expiry;
    int rv = -1;

    *out = NULL;
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading enrolee");
        goto out;
    }
    if (m2msec_db_column_str(st, 0, 1, &r->kpm_id, err) == -1 ||
        m2msec_db_column_str(st, 1, 1, &r->enrolee_id, err) == -1 ||
        m2msec_db_column_str(st, 3, 0, &r->policy_json, err) == -1) {
        goto out;
    }
    expiry = sqlite3_column_int64(st, 2);
    r->expiry_s = expiry < 0 ? 0 : (uint64_t)expiry;
    r->created = sqlite3_column_int64(st, 4);
    if (read_cert(db, r, err) == -1) {
        goto out;
    }
    if (with_kpm && r->cert_flavour != NULL) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                          "enrolee %s authenticates with a certificate, not a Kpm", r->kpm_id);
        goto out;
    }
    if (with_kpm) {
        blob = sqlite3_column_blob(st, 5);
        if (m2msec_db_unseal(db, "kpm", r->kpm_id, blob, (size_t)sqlite3_column_bytes(st, 5),
                             &r->kpm, err) == -1) {
            m2msec_error_wrap(err, "Kpm of %s", r->kpm_id);
            goto out;
        }
    }
    if (m2msec_db_list_load(db, sql_target_select, r->kpm_id, &r->targets, &r->ntargets, err) ==
        -1) {
        goto out;
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_enrolee_rec_free(r);
    return rv;
}

int
m2msec_mef_enrolee_get(struct m2msec_db *db, const char *kpm_id, int with_kpm,
                       struct m2msec_enrolee_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_enrolee_rec *r = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL || !m2msec_db_str_set(kpm_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KpmID missing");
        goto out;
    }
    if (m2msec_db_begin_read(db, err) == -1) {
        goto out;
    }
    if (m2msec_db_stmt(db, sql_enrolee_select, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, kpm_id, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading enrolee", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no enrolee %s", kpm_id);
        goto out;
    }
    if (read_enrolee(db, st, with_kpm, &r, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_db_rollback(db);
    m2msec_enrolee_rec_free(r);
    return rv;
}

int
m2msec_mef_enrolee_get_by_cert(struct m2msec_db *db, const char *flavour, const char *cert_id,
                               struct m2msec_enrolee_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    char *key = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL || !m2msec_db_str_set(flavour) || !m2msec_db_str_set(cert_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "certificate identity missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_cert_by_id, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, flavour, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, cert_id, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "looking up enrolee certificate", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                          "no enrolee with %s certificate identity %s", flavour, cert_id);
        goto out;
    }
    if (m2msec_db_column_str(st, 0, 1, &key, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    /* Removed in between: NOT_FOUND from the read, as if never there. */
    rv = m2msec_mef_enrolee_get(db, key, 0, out, err);
out:
    m2msec_db_stmt_done(st);
    m2msec_free(key);
    return rv;
}

int
m2msec_mef_enrolee_list(struct m2msec_db *db, struct m2msec_enrolee_rec ***out, size_t *n,
                        struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_enrolee_rec **list = NULL;
    struct m2msec_enrolee_rec **grown = NULL;
    size_t count = 0;
    size_t cap = 8;
    int rc;
    int rv = -1;

    *out = NULL;
    if (n != NULL) {
        *n = 0;
    }
    if (db == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no store");
        goto out;
    }
    list = m2msec_calloc(cap, sizeof(*list));
    if (list == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "listing enrolees");
        goto out;
    }
    if (m2msec_db_begin_read(db, err) == -1 ||
        m2msec_db_stmt(db, sql_enrolee_list, &st, err) == -1) {
        goto out;
    }
    for (;;) {
        rc = m2msec_db_step_row(db, st, "listing enrolees", err);
        if (rc == -1) {
            goto out;
        }
        if (rc == 0) {
            break;
        }
        /* One free slot is kept so the array is always NULL-terminated. */
        if (count + 1 == cap) {
            if (cap > SIZE_MAX / (2 * sizeof(*list))) {
                m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "too many enrolees");
                goto out;
            }
            grown = m2msec_realloc(list, 2 * cap * sizeof(*list));
            if (grown == NULL) {
                m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "listing enrolees");
                goto out;
            }
            list = grown;
            memset(list + cap, 0, cap * sizeof(*list));
            cap *= 2;
        }
        if (read_enrolee(db, st, 0, &list[count], err) == -1) {
            goto out;
        }
        count++;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    *out = list;
    if (n != NULL) {
        *n = count;
    }
    list = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_db_rollback(db);
    m2msec_enrolee_list_free(list);
    return rv;
}

int
m2msec_mef_enrolee_remove(struct m2msec_db *db, const char *kpm_id, struct m2msec_error *err)
{
    size_t changes = 0;
    int rv = -1;

    if (db == NULL || !m2msec_db_str_set(kpm_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KpmID missing");
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1) {
        goto out;
    }
    /* Ke and targets go by ON DELETE CASCADE; secure_delete overwrites them all. */
    if (write_key(db, sql_reg_delete_owner, kpm_id, 0, 0, "removing registrations", NULL, err) ==
                -1 ||
        write_key(db, sql_enrolee_delete, kpm_id, 0, 0, "removing enrolee", &changes, err) == -1) {
        goto out;
    }
    if (changes == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no enrolee %s", kpm_id);
        goto out;
    }
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    if (rv == -1) {
        m2msec_db_rollback(db);
    }
    return rv;
}

/*
 * Enrolment Keys
 */

void
m2msec_ke_rec_free(struct m2msec_ke_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->kpm_id);
    m2msec_secret_free(r->ke);
    m2msec_free(r);
}

/* The AAD id of a Ke: the lowercase hex of its RelativeKeID. */
static void
rel_hex(const uint8_t rel[16], char out[33])
{
    /* 33 bytes always hold 16 bytes of hex: cannot fail. */
    (void)m2msec_hex_encode(rel, 16, out, 33);
}

/* Run a statement without parameters or rows (the savepoint verbs). */
static int
run_verb(struct m2msec_db *db, const char *sql, const char *what, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql, &st, err) == -1 ||
        m2msec_db_step_done(db, st, what, NULL, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* The checks of a Ke put that need no store: done before the write lock is taken. */
static int
ke_put_valid(const struct m2msec_ke_put *it, struct m2msec_error *err)
{
    if (!m2msec_db_str_set(it->kpm_id) || it->ke == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Ke needs a KpmID, an id and a key");
    }
    if (it->expires <= it->created) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Ke expires before it is created");
    }
    return 0;
}

/*
 * One validated item inside the open batch transaction, under its own
 * savepoint so that its failure undoes only its own statements. *lost = 1
 * when the outer transaction itself is gone or in an unknown state (SQLite
 * rolls a whole transaction back on some errors, e.g. I/O or out of memory;
 * or the item could not be undone): then nothing of the batch may be reported
 * as stored.
 */
static int
ke_put_one(struct m2msec_db *db, const struct m2msec_ke_put *it, int *lost,
           struct m2msec_error *err)
{
    struct m2msec_error scratch = { 0 };
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    char hex[33];
    int found = 0;
    int in_savepoint = 0;
    int rv = -1;

    *lost = 0;
    rel_hex(it->rel, hex);
    if (m2msec_db_seal(db, "ke", hex, it->ke, &blob, &bloblen, err) == -1) {
        goto out;
    }
    if (run_verb(db, sql_ke_savepoint, "opening savepoint", err) == -1) {
        goto out;
    }
    in_savepoint = 1;
    if (exists(db, sql_enrolee_exists, it->kpm_id, 0, 0, &found, err) == -1) {
        goto out;
    }
    if (!found) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no enrolee %s",
                          it->kpm_id);
        goto out;
    }
    /* One current Ke per Enrolee: the old one is erased in the same transaction. */
    if (write_key(db, sql_ke_delete_owner, it->kpm_id, 0, 0, "erasing previous Ke", NULL, err) ==
        -1) {
        goto out;
    }
    if (m2msec_db_stmt(db, sql_ke_insert, &st, err) == -1 ||
        m2msec_db_bind_blob(db, st, 1, it->rel, 16, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, it->kpm_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 3, it->created, err) == -1 ||
        m2msec_db_bind_int64(db, st, 4, it->expires, err) == -1 ||
        m2msec_db_bind_blob(db, st, 5, blob, bloblen, err) == -1 ||
        m2msec_db_step_done(db, st, "storing Ke", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (run_verb(db, sql_ke_release, "releasing savepoint", err) == -1) {
        goto out;
    }
    in_savepoint = 0;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1 && in_savepoint && sqlite3_get_autocommit(db->sql) == 0) {
        /* ROLLBACK TO keeps the savepoint open: RELEASE then merges the now empty
         * savepoint into the transaction. */
        if (run_verb(db, sql_ke_rollback_to, "undoing Ke", &scratch) == -1 ||
            run_verb(db, sql_ke_release, "releasing savepoint", &scratch) == -1) {
            *lost = 1;
        }
    }
    if (rv == -1 && sqlite3_get_autocommit(db->sql) != 0) {
        *lost = 1;
    }
    m2msec_free(blob);
    return rv;
}

/*
 * @spec TS-0003 8.3.2.1 the MEF stores Ke and KeID with expiry now + Enrolment Expiry;
 * here for several Enrolees at once, each with the semantics of m2msec_mef_ke_put.
 */
int
m2msec_mef_ke_put_batch(struct m2msec_db *db, struct m2msec_ke_put *items, size_t n,
                        struct m2msec_error *err)
{
    size_t i;
    size_t valid = 0;
    int lost = 0;
    int rv = -1;

    if (db == NULL || (items == NULL && n > 0)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "Ke batch needs a store and items");
        goto out;
    }
    /* Input errors are the item's own and need no write lock. */
    for (i = 0; i < n; i++) {
        m2msec_error_clear(&items[i].err);
        items[i].rv = ke_put_valid(&items[i], &items[i].err);
        valid += items[i].rv == 0;
    }
    if (valid == 0) {
        rv = 0;
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1) {
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (items[i].rv == -1) {
            continue;
        }
        items[i].rv = ke_put_one(db, &items[i], &lost, &items[i].err);
        if (lost) {
            m2msec_error_copy(err, &items[i].err);
            m2msec_error_wrap(err, "Ke batch rolled back");
            goto out;
        }
    }
    /* The one fsync of the batch: every item reported stored is durable after this. */
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    if (rv == -1) {
        if (db != NULL) {
            m2msec_db_rollback(db);
        }
        for (i = 0; items != NULL && i < n; i++) {
            items[i].rv = -1;
            m2msec_error_copy(&items[i].err, err);
        }
    }
    return rv;
}

/* @spec TS-0003 8.3.2.1 the MEF stores Ke and KeID with expiry now + Enrolment Expiry */
int
m2msec_mef_ke_put(struct m2msec_db *db, const char *kpm_id, const uint8_t rel[16],
                  const struct m2msec_secret *ke, int64_t created, int64_t expires,
                  struct m2msec_error *err)
{
    struct m2msec_ke_put it;

    memset(&it, 0, sizeof(it));
    if (rel == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Ke needs a KpmID, an id and a key");
    }
    it.kpm_id = kpm_id;
    memcpy(it.rel, rel, sizeof(it.rel));
    it.ke = ke;
    it.created = created;
    it.expires = expires;
    if (m2msec_mef_ke_put_batch(db, &it, 1, err) == -1) {
        return -1;
    }
    if (it.rv == -1) {
        m2msec_error_copy(err, &it.err);
        return -1;
    }
    return 0;
}

/* Run a Ke query (rel, kpm_id, created, expires, ke) whose parameters are bound. */
static int
ke_read(struct m2msec_db *db, sqlite3_stmt *st, int with_key, struct m2msec_ke_rec **out,
        struct m2msec_error *err)
{
    struct m2msec_ke_rec *r = NULL;
    const void *rel = NULL;
    char hex[33];
    int rc;
    int rv = -1;

    rc = m2msec_db_step_row(db, st, "reading Ke", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no such Ke");
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading Ke");
        goto out;
    }
    rel = sqlite3_column_blob(st, 0);
    if (rel == NULL || sqlite3_column_bytes(st, 0) != (int)sizeof(r->rel)) {
        m2msec_error_setx(err, M2MSEC_ERR_STORE, "Ke row with a malformed RelativeKeID");
        goto out;
    }
    memcpy(r->rel, rel, sizeof(r->rel));
    if (m2msec_db_column_str(st, 1, 1, &r->kpm_id, err) == -1) {
        goto out;
    }
    r->created = sqlite3_column_int64(st, 2);
    r->expires = sqlite3_column_int64(st, 3);
    if (with_key) {
        rel_hex(r->rel, hex);
        if (m2msec_db_unseal(db, "ke", hex, sqlite3_column_blob(st, 4),
                             (size_t)sqlite3_column_bytes(st, 4), &r->ke, err) == -1) {
            m2msec_error_wrap(err, "Ke %s", hex);
            goto out;
        }
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_ke_rec_free(r);
    return rv;
}

int
m2msec_mef_ke_get(struct m2msec_db *db, const uint8_t rel[16], int64_t now, int with_key,
                  struct m2msec_ke_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    *out = NULL;
    if (db == NULL || rel == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "RelativeKeID missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_ke_by_rel, &st, err) == -1 ||
        m2msec_db_bind_blob(db, st, 1, rel, 16, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1 ||
        ke_read(db, st, with_key, out, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_mef_ke_get_by_enrolee(struct m2msec_db *db, const char *kpm_id, int64_t now, int with_key,
                             struct m2msec_ke_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    *out = NULL;
    if (db == NULL || !m2msec_db_str_set(kpm_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KpmID missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_ke_by_owner, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, kpm_id, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1 ||
        ke_read(db, st, with_key, out, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_mef_sweep(struct m2msec_db *db, int64_t now, size_t *erased, struct m2msec_error *err)
{
    size_t nke = 0;
    size_t nreg = 0;
    size_t nroot = 0;
    int rv = -1;

    if (erased != NULL) {
        *erased = 0;
    }
    if (db == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no store");
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1 ||
        write_num(db, sql_ke_sweep, now, "erasing expired Ke", &nke, err) == -1 ||
        write_num(db, sql_reg_sweep, now, "erasing expired registrations", &nreg, err) == -1 ||
        write_num(db, sql_root_sweep, now, "erasing expired root credentials", &nroot, err) == -1 ||
        m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (nke + nreg + nroot > 0) {
        /* Best effort: copy the overwritten pages into the main file and empty the WAL,
         * which still holds the erased rows' old page images. */
        (void)sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    if (erased != NULL) {
        *erased = nke + nreg + nroot;
    }
    rv = 0;
out:
    if (rv == -1) {
        m2msec_db_rollback(db);
    }
    return rv;
}

/*
 * MEF Client Registrations
 */

void
m2msec_mefreg_rec_free(struct m2msec_mefreg_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->kpm_id);
    m2msec_free(r->client_id);
    m2msec_free(r->admin_fqdn);
    m2msec_db_list_free(r->labels);
    m2msec_free(r);
}

/* @spec TS-0003 8.3.5.2.3 MEF Client Registration creates a registration record */
int
m2msec_mef_reg_create(struct m2msec_db *db, const struct m2msec_mefreg_rec *r, int64_t now,
                      struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    int rv = -1;

    if (db == NULL || r == NULL || !m2msec_db_hex32(r->reg_id) || !m2msec_db_str_set(r->kpm_id) ||
        !m2msec_db_str_set(r->client_id) || !m2msec_db_str_set(r->admin_fqdn)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "registration needs a 32-hex-digit id, KpmID, client id and adminFQDN");
        goto out;
    }
    if (r->expires <= now) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "registration already expired");
        goto out;
    }
    if (m2msec_db_list_valid(r->labels, r->nlabels, "label", err) == -1) {
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1) {
        goto out;
    }
    if (m2msec_db_reg_conflict(db, sql_reg_conflict, r->kpm_id, r->admin_fqdn, now, err) == -1) {
        goto out;
    }
    /* An expired record with the same id is dead: drop it rather than collide with it. */
    if (write_key(db, sql_reg_purge_id, r->reg_id, 1, now, "purging expired registration", NULL,
                  err) == -1 ||
        exists(db, sql_reg_exists, r->reg_id, 0, 0, &found, err) == -1) {
        goto out;
    }
    if (found) {
        m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT, "registration id %s in use",
                          r->reg_id);
        goto out;
    }
    if (m2msec_db_stmt(db, sql_reg_insert, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->reg_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->kpm_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->client_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 4, r->admin_fqdn, err) == -1 ||
        m2msec_db_bind_int64(db, st, 5, r->expires, err) == -1 ||
        m2msec_db_step_done(db, st, "storing registration", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_list_store(db, sql_label_insert, r->reg_id, r->labels, r->nlabels, err) == -1 ||
        m2msec_db_commit(db, err) == -1) {
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

/* @spec TS-0003 8.3.5.2.4 - 8.3.5.2.6 pre-condition: the registration exists, not expired */
int
m2msec_mef_reg_get(struct m2msec_db *db, const char *reg_id, int64_t now,
                   struct m2msec_mefreg_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_mefreg_rec *r = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL || !m2msec_db_str_set(reg_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "registration id missing");
        goto out;
    }
    if (!m2msec_db_hex32(reg_id)) {
        /* Could never have been stored: absent, like an unknown id. */
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no registration");
        goto out;
    }
    if (m2msec_db_begin_read(db, err) == -1) {
        goto out;
    }
    if (m2msec_db_stmt(db, sql_reg_select, &st, err) == -1 ||
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
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading registration");
        goto out;
    }
    memcpy(r->reg_id, reg_id, sizeof(r->reg_id));
    if (m2msec_db_column_str(st, 0, 1, &r->kpm_id, err) == -1 ||
        m2msec_db_column_str(st, 1, 1, &r->client_id, err) == -1 ||
        m2msec_db_column_str(st, 2, 1, &r->admin_fqdn, err) == -1) {
        goto out;
    }
    r->expires = sqlite3_column_int64(st, 3);
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_list_load(db, sql_label_select, reg_id, &r->labels, &r->nlabels, err) == -1 ||
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
    m2msec_db_rollback(db);
    m2msec_mefreg_rec_free(r);
    return rv;
}

/* @spec TS-0003 8.3.5.2.5 MEF Client Registration update (expirationTime, labels) */
int
m2msec_mef_reg_update(struct m2msec_db *db, const char *reg_id, int64_t now, int has_et,
                      int64_t expires, int has_lbl, char *const *labels, size_t nlabels,
                      struct m2msec_error *err)
{
    int found = 0;
    int rv = -1;

    if (db == NULL || !m2msec_db_str_set(reg_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "registration id missing");
        goto out;
    }
    if (has_et && expires <= now) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "new expiry already past");
        goto out;
    }
    if (has_lbl && m2msec_db_list_valid(labels, nlabels, "label", err) == -1) {
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1 ||
        exists(db, sql_reg_live, reg_id, 1, now, &found, err) == -1) {
        goto out;
    }
    if (!found) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no registration %s",
                          reg_id);
        goto out;
    }
    if (has_et && write_key(db, sql_reg_set_expires, reg_id, 1, expires, "updating expiry", NULL,
                            err) == -1) {
        goto out;
    }
    if (has_lbl &&
        (write_key(db, sql_label_delete, reg_id, 0, 0, "replacing labels", NULL, err) == -1 ||
         m2msec_db_list_store(db, sql_label_insert, reg_id, labels, nlabels, err) == -1)) {
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

/* @spec TS-0003 8.3.5.2.6 MEF Client Registration deletion */
int
m2msec_mef_reg_delete(struct m2msec_db *db, const char *reg_id, int64_t now,
                      struct m2msec_error *err)
{
    size_t changes = 0;
    int rv = -1;

    if (db == NULL || !m2msec_db_str_set(reg_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "registration id missing");
        goto out;
    }
    /* Labels follow by ON DELETE CASCADE. An expired record counts as absent and is
     * left to the sweeper. */
    if (m2msec_db_begin(db, err) == -1 || write_key(db, sql_reg_delete, reg_id, 1, now,
                                                    "deleting registration", &changes, err) == -1) {
        goto out;
    }
    if (changes == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no registration %s",
                          reg_id);
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

/*
 * Enrolment Targets
 */

void
m2msec_target_rec_free(struct m2msec_target_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->id);
    m2msec_free(r->cert_fqdn);
    m2msec_free(r->suids);
    m2msec_free(r->psk_id);
    m2msec_free(r->psk_kcv);
    m2msec_secret_free(r->psk);
    m2msec_free(r);
}

void
m2msec_target_list_free(struct m2msec_target_rec **list)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; list[i] != NULL; i++) {
        m2msec_target_rec_free(list[i]);
    }
    m2msec_free(list);
}

/* "21", "22,23": one to three digits per item, single commas between items. */
static int
suids_valid(const char *s)
{
    size_t digits = 0;

    for (; *s != '\0'; s++) {
        if (*s >= '0' && *s <= '9') {
            if (++digits > 3) {
                return 0;
            }
        } else if (*s == ',' && digits > 0) {
            digits = 0;
        } else {
            return 0;
        }
    }
    return digits > 0;
}

/* A PSK identity we store: 1..M2MSEC_TARGET_PSK_ID_MAX bytes of printable ASCII, no space. */
static int
psk_id_valid(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (n == M2MSEC_TARGET_PSK_ID_MAX || s[n] < 0x21 || s[n] > 0x7e) {
            return 0;
        }
    }
    return n > 0;
}

/* The credential fields of a target to add: exactly one way to authenticate. */
static int
target_auth_valid(const struct m2msec_target_rec *r, struct m2msec_error *err)
{
    size_t klen = 0;

    if ((r->cert_fqdn != NULL) == (r->psk_id != NULL)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "target needs either a certificate FQDN or a PSK identity");
    }
    if (r->cert_fqdn != NULL) {
        if (!m2msec_db_str_set(r->cert_fqdn) || r->psk != NULL) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "certificate target needs a certificate FQDN and no PSK");
        }
        return 0;
    }
    if (!psk_id_valid(r->psk_id)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "PSK identity must be 1..%d printable ASCII bytes without space",
                                 M2MSEC_TARGET_PSK_ID_MAX);
    }
    klen = m2msec_secret_len(r->psk);
    if (r->psk == NULL || klen < M2MSEC_TARGET_PSK_MIN || klen > M2MSEC_TARGET_PSK_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "target PSK must be %d..%d bytes", M2MSEC_TARGET_PSK_MIN,
                                 M2MSEC_TARGET_PSK_MAX);
    }
    return 0;
}

/* @spec TS-0003 8.3.2.1 the MEF is configured with the Enrolment Targets it serves */
int
m2msec_mef_target_add(struct m2msec_db *db, const struct m2msec_target_rec *r,
                      struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    char kcv[M2MSEC_KCV_HEX_LEN];
    char *taken = NULL;
    int rc;
    int rv = -1;

    if (db == NULL || r == NULL || !m2msec_db_str_set(r->id) || !m2msec_db_str_set(r->suids)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "target needs an id, a certificate FQDN or PSK, and SUIDs");
        goto out;
    }
    if (target_auth_valid(r, err) == -1) {
        goto out;
    }
    if (!suids_valid(r->suids)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "target SUIDs must be decimal numbers separated by ','");
        goto out;
    }
    if (r->lifetime_s > (uint64_t)INT64_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "target lifetime out of range");
        goto out;
    }
    if (r->psk != NULL &&
        (m2msec_key_check_value(r->psk, kcv, err) == -1 ||
         m2msec_db_seal(db, "target-psk", r->id, r->psk, &blob, &bloblen, err) == -1)) {
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1) {
        goto out;
    }
    if (m2msec_db_stmt(db, sql_tgt_conflict, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->id, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->cert_fqdn, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->psk_id, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "checking targets", err);
    if (rc == -1 || (rc == 1 && m2msec_db_column_str(st, 0, 1, &taken, err) == -1)) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (rc == 1) {
        if (strcmp(taken, r->id) == 0) {
            m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT, "target %s exists",
                              r->id);
        } else if (r->cert_fqdn != NULL) {
            m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT,
                              "certificate FQDN %s is already bound to target %s", r->cert_fqdn,
                              taken);
        } else {
            m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT,
                              "PSK identity %s is already bound to target %s", r->psk_id, taken);
        }
        goto out;
    }
    if (m2msec_db_stmt(db, sql_tgt_insert, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->id, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->cert_fqdn, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->psk_id, err) == -1 ||
        (blob != NULL && m2msec_db_bind_blob(db, st, 4, blob, bloblen, err) == -1) ||
        m2msec_db_bind_text(db, st, 5, blob != NULL ? kcv : NULL, err) == -1 ||
        m2msec_db_bind_text(db, st, 6, r->suids, err) == -1 ||
        m2msec_db_bind_int64(db, st, 7, r->legacy ? 1 : 0, err) == -1 ||
        m2msec_db_bind_int64(db, st, 8, (int64_t)r->lifetime_s, err) == -1 ||
        m2msec_db_bind_int64(db, st, 9, r->created, err) == -1 ||
        m2msec_db_step_done(db, st, "adding target", NULL, err) == -1) {
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
    m2msec_free(taken);
    return rv;
}

/* One target row (columns of TGT_COLUMNS); with_key: unseal a PSK target's key. */
static int
read_target(struct m2msec_db *db, sqlite3_stmt *st, int with_key, struct m2msec_target_rec **out,
            struct m2msec_error *err)
{
    struct m2msec_target_rec *r = NULL;
    int64_t lifetime;
    int rv = -1;

    *out = NULL;
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading target");
        goto out;
    }
    if (m2msec_db_column_str(st, 0, 1, &r->id, err) == -1 ||
        m2msec_db_column_str(st, 1, 0, &r->cert_fqdn, err) == -1 ||
        m2msec_db_column_str(st, 2, 1, &r->suids, err) == -1 ||
        m2msec_db_column_str(st, 6, 0, &r->psk_id, err) == -1 ||
        m2msec_db_column_str(st, 7, 0, &r->psk_kcv, err) == -1) {
        goto out;
    }
    r->legacy = sqlite3_column_int64(st, 3) != 0;
    lifetime = sqlite3_column_int64(st, 4);
    r->lifetime_s = lifetime < 0 ? 0 : (uint64_t)lifetime;
    r->created = sqlite3_column_int64(st, 5);
    if (with_key && r->psk_id != NULL &&
        m2msec_db_unseal(db, "target-psk", r->id, sqlite3_column_blob(st, 8),
                         (size_t)sqlite3_column_bytes(st, 8), &r->psk, err) == -1) {
        m2msec_error_wrap(err, "PSK of target %s", r->id);
        goto out;
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_target_rec_free(r);
    return rv;
}

/* The target selected by sql (?1 = key), or NOT_FOUND. */
static int
target_get(struct m2msec_db *db, const char *sql, const char *key, const char *what, int with_key,
           struct m2msec_target_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    *out = NULL;
    if (db == NULL || !m2msec_db_str_set(key)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "target %s missing", what);
        goto out;
    }
    if (m2msec_db_stmt(db, sql, &st, err) == -1 || m2msec_db_bind_text(db, st, 1, key, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading target", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no target with %s %s",
                          what, key);
        goto out;
    }
    if (read_target(db, st, with_key, out, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_mef_target_get(struct m2msec_db *db, const char *id, struct m2msec_target_rec **out,
                      struct m2msec_error *err)
{
    return target_get(db, sql_tgt_by_id, id, "id", 0, out, err);
}

int
m2msec_mef_target_get_by_cert(struct m2msec_db *db, const char *cert_fqdn,
                              struct m2msec_target_rec **out, struct m2msec_error *err)
{
    return target_get(db, sql_tgt_by_cert, cert_fqdn, "certificate FQDN", 0, out, err);
}

int
m2msec_mef_target_get_by_psk(struct m2msec_db *db, const char *psk_id, int with_key,
                             struct m2msec_target_rec **out, struct m2msec_error *err)
{
    return target_get(db, sql_tgt_by_psk, psk_id, "PSK identity", with_key, out, err);
}

int
m2msec_mef_target_list(struct m2msec_db *db, struct m2msec_target_rec ***out, size_t *n,
                       struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_target_rec **list = NULL;
    struct m2msec_target_rec **grown = NULL;
    size_t count = 0;
    size_t cap = 8;
    int rc;
    int rv = -1;

    *out = NULL;
    if (n != NULL) {
        *n = 0;
    }
    if (db == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no store");
        goto out;
    }
    list = m2msec_calloc(cap, sizeof(*list));
    if (list == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "listing targets");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_tgt_list, &st, err) == -1) {
        goto out;
    }
    for (;;) {
        rc = m2msec_db_step_row(db, st, "listing targets", err);
        if (rc == -1) {
            goto out;
        }
        if (rc == 0) {
            break;
        }
        /* One free slot is kept so the array is always NULL-terminated. */
        if (count + 1 == cap) {
            if (cap > SIZE_MAX / (2 * sizeof(*list))) {
                m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "too many targets");
                goto out;
            }
            grown = m2msec_realloc(list, 2 * cap * sizeof(*list));
            if (grown == NULL) {
                m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "listing targets");
                goto out;
            }
            list = grown;
            memset(list + cap, 0, cap * sizeof(*list));
            cap *= 2;
        }
        if (read_target(db, st, 0, &list[count], err) == -1) {
            goto out;
        }
        count++;
    }
    *out = list;
    if (n != NULL) {
        *n = count;
    }
    list = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_target_list_free(list);
    return rv;
}

int
m2msec_mef_target_remove(struct m2msec_db *db, const char *id, struct m2msec_error *err)
{
    size_t changes = 0;
    int rv = -1;

    if (db == NULL || !m2msec_db_str_set(id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "target id missing");
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1 ||
        write_key(db, sql_tgt_delete, id, 0, 0, "removing target", &changes, err) == -1) {
        goto out;
    }
    if (changes == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no target %s", id);
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

/*
 * PKI bootstrap (seed 002): node classes and the root credentials issued to nodes
 */

static const char sql_bc_exists[] = "SELECT 1 FROM bootclass WHERE name = ?1";
static const char sql_bc_insert[] =
        "INSERT INTO bootclass (name, flavour, id_prefix, cert_id, purpose, lifetime_s, created)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_bc_list[] =
        "SELECT name, flavour, id_prefix, cert_id, purpose, lifetime_s, created"
        " FROM bootclass ORDER BY name";
static const char sql_bc_delete[] = "DELETE FROM bootclass WHERE name = ?1";
static const char sql_bc_ca_insert[] =
        "INSERT INTO bootclass_file (name, kind, pos, path) VALUES (?1, 'ca', ?2, ?3)";
static const char sql_bc_crl_insert[] =
        "INSERT INTO bootclass_file (name, kind, pos, path) VALUES (?1, 'crl', ?2, ?3)";
static const char sql_bc_ca_select[] =
        "SELECT path FROM bootclass_file WHERE name = ?1 AND kind = 'ca' ORDER BY pos";
static const char sql_bc_crl_select[] =
        "SELECT path FROM bootclass_file WHERE name = ?1 AND kind = 'crl' ORDER BY pos";
static const char sql_root_delete_node[] = "DELETE FROM rootcred WHERE node = ?1";
static const char sql_root_insert[] =
        "INSERT INTO rootcred (rel, node, class, enrolee_id, purpose, created, expires, key)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
#define ROOT_COLUMNS "SELECT rel, node, class, enrolee_id, purpose, created, expires, key"
static const char sql_root_by_rel[] = ROOT_COLUMNS " FROM rootcred WHERE rel = ?1 AND expires > ?2";
static const char sql_root_by_node[] =
        ROOT_COLUMNS " FROM rootcred WHERE node = ?1 AND expires > ?2";

void
m2msec_bootclass_rec_free(struct m2msec_bootclass_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->name);
    m2msec_free(r->flavour);
    m2msec_free(r->id_prefix);
    m2msec_free(r->cert_id);
    m2msec_free(r->purpose);
    m2msec_db_list_free(r->cert_cas);
    m2msec_db_list_free(r->cert_crls);
    m2msec_free(r);
}

void
m2msec_bootclass_list_free(struct m2msec_bootclass_rec **list)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; list[i] != NULL; i++) {
        m2msec_bootclass_rec_free(list[i]);
    }
    m2msec_free(list);
}

static int
bootclass_valid(const struct m2msec_bootclass_rec *r, struct m2msec_error *err)
{
    if (r == NULL || !m2msec_db_str_set(r->name) || !m2msec_db_str_set(r->purpose)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "node class needs a name and a purpose");
    }
    if (r->flavour == NULL ||
        (strcmp(r->flavour, "device") != 0 && strcmp(r->flavour, "node-id") != 0)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "node class flavour must be one of %s", M2MSEC_BOOTCLASS_FLAVOURS);
    }
    if (m2msec_db_str_set(r->id_prefix) == m2msec_db_str_set(r->cert_id) ||
        (r->id_prefix != NULL && r->cert_id != NULL)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "node class needs exactly one of an identity prefix and an "
                                 "exact identity");
    }
    if (r->lifetime_s == 0 || r->lifetime_s > (uint64_t)INT64_MAX / 2) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "root credential lifetime out of range");
    }
    if (r->ncert_cas == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "node class needs a trust anchor");
    }
    if (m2msec_db_list_valid(r->cert_cas, r->ncert_cas, "trust anchor file", err) == -1 ||
        m2msec_db_list_valid(r->cert_crls, r->ncert_crls, "CRL file", err) == -1) {
        return -1;
    }
    return 0;
}

/* @spec seed 002 x.1.2.1.2 pre-condition 2: the field-node roots the infrastructure node trusts. */
int
m2msec_mef_bootclass_add(struct m2msec_db *db, const struct m2msec_bootclass_rec *r,
                         struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    int rv = -1;

    if (db == NULL || bootclass_valid(r, err) == -1) {
        if (db == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no store");
        }
        goto out;
    }
    if (m2msec_db_begin(db, err) == -1 ||
        exists(db, sql_bc_exists, r->name, 0, 0, &found, err) == -1) {
        goto out;
    }
    if (found) {
        m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT, "node class %s exists",
                          r->name);
        goto out;
    }
    if (m2msec_db_stmt(db, sql_bc_insert, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, r->name, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->flavour, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->id_prefix, err) == -1 ||
        m2msec_db_bind_text(db, st, 4, r->cert_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 5, r->purpose, err) == -1 ||
        m2msec_db_bind_int64(db, st, 6, (int64_t)r->lifetime_s, err) == -1 ||
        m2msec_db_bind_int64(db, st, 7, r->created, err) == -1 ||
        m2msec_db_step_done(db, st, "adding node class", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_list_store(db, sql_bc_ca_insert, r->name, r->cert_cas, r->ncert_cas, err) == -1 ||
        m2msec_db_list_store(db, sql_bc_crl_insert, r->name, r->cert_crls, r->ncert_crls, err) ==
                -1 ||
        m2msec_db_commit(db, err) == -1) {
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

/* One class row (columns of sql_bc_list); its files are loaded by the caller. */
static int
bootclass_read(sqlite3_stmt *st, struct m2msec_bootclass_rec **out, struct m2msec_error *err)
{
    struct m2msec_bootclass_rec *r = m2msec_calloc(1, sizeof(*r));
    int rv = -1;

    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading node class");
        goto out;
    }
    if (m2msec_db_column_str(st, 0, 1, &r->name, err) == -1 ||
        m2msec_db_column_str(st, 1, 1, &r->flavour, err) == -1 ||
        m2msec_db_column_str(st, 2, 0, &r->id_prefix, err) == -1 ||
        m2msec_db_column_str(st, 3, 0, &r->cert_id, err) == -1 ||
        m2msec_db_column_str(st, 4, 1, &r->purpose, err) == -1) {
        goto out;
    }
    r->lifetime_s = (uint64_t)sqlite3_column_int64(st, 5);
    r->created = sqlite3_column_int64(st, 6);
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_bootclass_rec_free(r);
    return rv;
}

int
m2msec_mef_bootclass_list(struct m2msec_db *db, struct m2msec_bootclass_rec ***out, size_t *n,
                          struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    struct m2msec_bootclass_rec **list = NULL;
    struct m2msec_bootclass_rec **grown = NULL;
    size_t count = 0;
    size_t cap = 8;
    size_t i;
    int rc;
    int rv = -1;

    *out = NULL;
    if (n != NULL) {
        *n = 0;
    }
    if (db == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no store");
        goto out;
    }
    list = m2msec_calloc(cap, sizeof(*list));
    if (list == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "listing node classes");
        goto out;
    }
    if (m2msec_db_begin_read(db, err) == -1 || m2msec_db_stmt(db, sql_bc_list, &st, err) == -1) {
        goto out;
    }
    for (;;) {
        rc = m2msec_db_step_row(db, st, "listing node classes", err);
        if (rc == -1) {
            goto out;
        }
        if (rc == 0) {
            break;
        }
        /* One free slot is kept so the array is always NULL-terminated. */
        if (count + 1 == cap) {
            if (cap > SIZE_MAX / (2 * sizeof(*list))) {
                m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "too many node classes");
                goto out;
            }
            grown = m2msec_realloc(list, 2 * cap * sizeof(*list));
            if (grown == NULL) {
                m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "listing node classes");
                goto out;
            }
            list = grown;
            memset(list + cap, 0, cap * sizeof(*list));
            cap *= 2;
        }
        if (bootclass_read(st, &list[count], err) == -1) {
            goto out;
        }
        count++;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    /* The files after the rows: one statement at a time on the cached statements. */
    for (i = 0; i < count; i++) {
        if (m2msec_db_list_load(db, sql_bc_ca_select, list[i]->name, &list[i]->cert_cas,
                                &list[i]->ncert_cas, err) == -1 ||
            m2msec_db_list_load(db, sql_bc_crl_select, list[i]->name, &list[i]->cert_crls,
                                &list[i]->ncert_crls, err) == -1) {
            goto out;
        }
    }
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    *out = list;
    if (n != NULL) {
        *n = count;
    }
    list = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_db_rollback(db);
    m2msec_bootclass_list_free(list);
    return rv;
}

int
m2msec_mef_bootclass_remove(struct m2msec_db *db, const char *name, struct m2msec_error *err)
{
    size_t changes = 0;
    int rv = -1;

    if (db == NULL || !m2msec_db_str_set(name)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "node class name missing");
        goto out;
    }
    /* Files and issued root credentials go by ON DELETE CASCADE (secure_delete overwrites). */
    if (m2msec_db_begin(db, err) == -1 ||
        write_key(db, sql_bc_delete, name, 0, 0, "removing node class", &changes, err) == -1) {
        goto out;
    }
    if (changes == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no node class %s",
                          name);
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

void
m2msec_rootcred_rec_free(struct m2msec_rootcred_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->node);
    m2msec_free(r->class_name);
    m2msec_free(r->enrolee_id);
    m2msec_free(r->purpose);
    m2msec_secret_free(r->key);
    m2msec_free(r);
}

/*
 * @spec seed 002 x.1.2.1.2 step 4: the infrastructure node keeps the root
 * credential it sends; durable before the response that carries it.
 */
int
m2msec_mef_rootcred_put(struct m2msec_db *db, const struct m2msec_rootcred_rec *r,
                        struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    char hex[33];
    int found = 0;
    int rv = -1;

    if (db == NULL || r == NULL || !m2msec_db_str_set(r->node) ||
        !m2msec_db_str_set(r->class_name) || !m2msec_db_str_set(r->enrolee_id) ||
        !m2msec_db_str_set(r->purpose) || r->key == NULL || r->expires <= r->created) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "root credential needs a node, class, EnroleeID, purpose, key and a "
                          "lifetime");
        goto out;
    }
    rel_hex(r->rel, hex);
    if (m2msec_db_seal(db, "root", hex, r->key, &blob, &bloblen, err) == -1 ||
        m2msec_db_begin(db, err) == -1 ||
        exists(db, sql_bc_exists, r->class_name, 0, 0, &found, err) == -1) {
        goto out;
    }
    if (!found) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no node class %s",
                          r->class_name);
        goto out;
    }
    /* One credential per node: re-bootstrap replaces (and erases) the previous one. */
    if (write_key(db, sql_root_delete_node, r->node, 0, 0, "erasing previous root credential", NULL,
                  err) == -1 ||
        m2msec_db_stmt(db, sql_root_insert, &st, err) == -1 ||
        m2msec_db_bind_blob(db, st, 1, r->rel, sizeof(r->rel), err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->node, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->class_name, err) == -1 ||
        m2msec_db_bind_text(db, st, 4, r->enrolee_id, err) == -1 ||
        m2msec_db_bind_text(db, st, 5, r->purpose, err) == -1 ||
        m2msec_db_bind_int64(db, st, 6, r->created, err) == -1 ||
        m2msec_db_bind_int64(db, st, 7, r->expires, err) == -1 ||
        m2msec_db_bind_blob(db, st, 8, blob, bloblen, err) == -1) {
        goto out;
    }
    if (m2msec_db_step_done(db, st, "storing root credential", NULL, err) == -1) {
        if (m2msec_error_code(err) == M2MSEC_ERR_STORE &&
            sqlite3_extended_errcode(db->sql) == SQLITE_CONSTRAINT_PRIMARYKEY) {
            m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT,
                              "root credential %s exists", hex);
        }
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

/* Run a root credential query (ROOT_COLUMNS) whose parameters are bound. */
static int
root_read(struct m2msec_db *db, sqlite3_stmt *st, int with_key, struct m2msec_rootcred_rec **out,
          struct m2msec_error *err)
{
    struct m2msec_rootcred_rec *r = NULL;
    const void *rel = NULL;
    char hex[33];
    int rc;
    int rv = -1;

    rc = m2msec_db_step_row(db, st, "reading root credential", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                          "no such root credential");
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading root credential");
        goto out;
    }
    rel = sqlite3_column_blob(st, 0);
    if (rel == NULL || sqlite3_column_bytes(st, 0) != (int)sizeof(r->rel)) {
        m2msec_error_setx(err, M2MSEC_ERR_STORE, "root credential with a malformed identifier");
        goto out;
    }
    memcpy(r->rel, rel, sizeof(r->rel));
    if (m2msec_db_column_str(st, 1, 1, &r->node, err) == -1 ||
        m2msec_db_column_str(st, 2, 1, &r->class_name, err) == -1 ||
        m2msec_db_column_str(st, 3, 1, &r->enrolee_id, err) == -1 ||
        m2msec_db_column_str(st, 4, 1, &r->purpose, err) == -1) {
        goto out;
    }
    r->created = sqlite3_column_int64(st, 5);
    r->expires = sqlite3_column_int64(st, 6);
    if (with_key) {
        rel_hex(r->rel, hex);
        if (m2msec_db_unseal(db, "root", hex, sqlite3_column_blob(st, 7),
                             (size_t)sqlite3_column_bytes(st, 7), &r->key, err) == -1) {
            m2msec_error_wrap(err, "root credential %s", hex);
            goto out;
        }
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_rootcred_rec_free(r);
    return rv;
}

int
m2msec_mef_rootcred_get(struct m2msec_db *db, const uint8_t rel[16], int64_t now, int with_key,
                        struct m2msec_rootcred_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    *out = NULL;
    if (db == NULL || rel == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "root credential id missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_root_by_rel, &st, err) == -1 ||
        m2msec_db_bind_blob(db, st, 1, rel, 16, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1 ||
        root_read(db, st, with_key, out, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_mef_rootcred_get_by_node(struct m2msec_db *db, const char *node, int64_t now, int with_key,
                                struct m2msec_rootcred_rec **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    *out = NULL;
    if (db == NULL || !m2msec_db_str_set(node)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "node identity missing");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_root_by_node, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, node, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1 ||
        root_read(db, st, with_key, out, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}
