/*
 * store/pkg.c - IBC key material at rest: the MEF's PKG (KSAK per MPK version, policy,
 * validity) and the device's IBC credential with its trust store of MPKs.
 *
 * Layer: store. The tables come from the MEF migration 7 and the device
 * migration 6 (store/mef.c, store/device.c). Secrets are sealed under the KEK:
 * a KSAK with AAD "pkg-ksak:<version>", an SSK with "dev-ibc:<ID1>". Design:
 * IBC-DESIGN (shared/docs) 1.2, 3.4, 3.5; docs/PROTOCOL.md 12.4.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

#define PKG_SEAL_KIND   "pkg-ksak"
#define DEV_SEAL_KIND   "dev-ibc"
#define PKG_VERSION_MAX 1000000u

static const char sql_pkg_select[] =
        "SELECT key_period, period_offset, mpk_lifetime, current, created FROM pkg WHERE one = 1";
static const char sql_pkg_insert[] =
        "INSERT INTO pkg (one, key_period, period_offset, mpk_lifetime, current, created)"
        " VALUES (1, ?1, ?2, ?3, ?4, ?5)";
static const char sql_pkg_set_current[] = "UPDATE pkg SET current = ?1 WHERE one = 1";
static const char sql_mpk_insert[] =
        "INSERT INTO pkg_mpk (version, kpak, ksak, not_before, not_after, created)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_mpk_list[] =
        "SELECT version, kpak, not_before, not_after, max_issued, retired, created, ksak"
        " FROM pkg_mpk ORDER BY version";
static const char sql_mpk_select[] =
        "SELECT version, kpak, not_before, not_after, max_issued, retired, created, ksak"
        " FROM pkg_mpk WHERE version = ?1";
static const char sql_mpk_max[] = "SELECT max(version) FROM pkg_mpk";
/* The retired version stays valid while a credential issued under it lives. */
static const char sql_mpk_retire[] =
        "UPDATE pkg_mpk SET retired = ?2,"
        " not_after = min(not_after, max(max_issued, ?2)) WHERE version = ?1";
static const char sql_mpk_note[] = "UPDATE pkg_mpk SET max_issued = max(max_issued, ?2)"
                                   " WHERE version = ?1 AND retired IS NULL AND not_after >= ?2";

static const char sql_ibc_delete[] = "DELETE FROM dev_ibc";
static const char sql_ibc_insert[] =
        "INSERT INTO dev_ibc (one, id2, id1, fqdn, expires, mpk_version, kpak, pvt, mef, created,"
        " ssk) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char sql_ibc_select[] =
        "SELECT id2, id1, fqdn, expires, mpk_version, kpak, pvt, mef, created, ssk FROM dev_ibc"
        " WHERE one = 1";
static const char sql_dmpk_delete[] = "DELETE FROM dev_mpk WHERE fqdn = ?1";
static const char sql_dmpk_insert[] =
        "INSERT INTO dev_mpk (fqdn, version, kpak, not_before, not_after, key_period,"
        " period_offset) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_dmpk_list[] =
        "SELECT fqdn, version, kpak, not_before, not_after, key_period, period_offset"
        " FROM dev_mpk ORDER BY fqdn, version";

static int
kind_is(struct m2msec_db *db, enum m2msec_schema kind, struct m2msec_error *err)
{
    if (db == NULL || db->schema != kind) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s store expected",
                                 kind == M2MSEC_SCHEMA_MEF ? "MEF" : "device");
    }
    return 0;
}

/* A blob column of exactly len bytes into out. */
static int
column_fixed(sqlite3_stmt *st, int col, uint8_t *out, size_t len, struct m2msec_error *err)
{
    const void *p = sqlite3_column_blob(st, col);

    if (p == NULL || (size_t)sqlite3_column_bytes(st, col) != len) {
        return m2msec_error_setx(err, M2MSEC_ERR_STORE, "stored value of column %d is malformed",
                                 col);
    }
    memcpy(out, p, len);
    return 0;
}

void
m2msec_pkg_mpk_rec_clear(struct m2msec_pkg_mpk_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_secret_free(r->ksak);
    memset(r, 0, sizeof(*r));
}

static int
policy_valid(const struct m2msec_pkg_rec *p, struct m2msec_error *err)
{
    if (p == NULL || p->key_period == 0 || p->key_period > INT32_MAX ||
        p->key_period_offset >= p->key_period || p->mpk_lifetime == 0 ||
        p->mpk_lifetime > INT32_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "PKG policy needs a key period (1..%d s), an offset below it "
                                 "and an MPK lifetime (1..%d s)",
                                 INT32_MAX, INT32_MAX);
    }
    return 0;
}

/* Insert MPK version (inside the caller's transaction). */
static int
mpk_insert(struct m2msec_db *db, unsigned version, const uint8_t kpak[M2MSEC_PKG_KPAK_LEN],
           const struct m2msec_secret *ksak, int64_t now, int64_t lifetime,
           struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    char id[16];
    int rv = -1;

    if (kpak == NULL || kpak[0] != 0x04 || ksak == NULL || m2msec_secret_len(ksak) != 32) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "an MPK needs a 65-byte KPAK and a 32-byte KSAK");
        goto out;
    }
    (void)snprintf(id, sizeof(id), "%u", version);
    if (m2msec_db_seal(db, PKG_SEAL_KIND, id, ksak, &blob, &bloblen, err) == -1 ||
        m2msec_db_stmt(db, sql_mpk_insert, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, version, err) == -1 ||
        m2msec_db_bind_blob(db, st, 2, kpak, M2MSEC_PKG_KPAK_LEN, err) == -1 ||
        m2msec_db_bind_blob(db, st, 3, blob, bloblen, err) == -1 ||
        m2msec_db_bind_int64(db, st, 4, now, err) == -1 ||
        m2msec_db_bind_int64(db, st, 5, now + lifetime, err) == -1 ||
        m2msec_db_bind_int64(db, st, 6, now, err) == -1 ||
        m2msec_db_step_done(db, st, "storing MPK", NULL, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_free(blob);
    return rv;
}

static int
pkg_read(struct m2msec_db *db, struct m2msec_pkg_rec *out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int r, rv = -1;

    memset(out, 0, sizeof(*out));
    if (m2msec_db_stmt(db, sql_pkg_select, &st, err) == -1) {
        goto out;
    }
    r = m2msec_db_step_row(db, st, "reading PKG", err);
    if (r == -1) {
        goto out;
    }
    if (r == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                          "no PKG: run 'mefd pkg init'");
        goto out;
    }
    out->key_period = (uint64_t)sqlite3_column_int64(st, 0);
    out->key_period_offset = (uint64_t)sqlite3_column_int64(st, 1);
    out->mpk_lifetime = (uint64_t)sqlite3_column_int64(st, 2);
    out->current = (unsigned)sqlite3_column_int64(st, 3);
    out->created = sqlite3_column_int64(st, 4);
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_pkg_init(struct m2msec_db *db, const struct m2msec_pkg_rec *policy,
                const uint8_t kpak[M2MSEC_PKG_KPAK_LEN], const struct m2msec_secret *ksak,
                int64_t now, struct m2msec_error *err)
{
    struct m2msec_pkg_rec cur;
    struct m2msec_error e2 = { 0 };
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (kind_is(db, M2MSEC_SCHEMA_MEF, err) == -1 || policy_valid(policy, err) == -1) {
        return -1;
    }
    if (m2msec_db_begin(db, err) == -1) {
        return -1;
    }
    if (pkg_read(db, &cur, &e2) == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_CONFLICT,
                          "the PKG exists already (use 'mefd pkg rotate')");
        goto out;
    }
    if (m2msec_error_code(&e2) != M2MSEC_ERR_NOT_FOUND) {
        m2msec_error_copy(err, &e2);
        goto out;
    }
    if (m2msec_db_stmt(db, sql_pkg_insert, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, (int64_t)policy->key_period, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, (int64_t)policy->key_period_offset, err) == -1 ||
        m2msec_db_bind_int64(db, st, 3, (int64_t)policy->mpk_lifetime, err) == -1 ||
        m2msec_db_bind_int64(db, st, 4, 1, err) == -1 ||
        m2msec_db_bind_int64(db, st, 5, now, err) == -1 ||
        m2msec_db_step_done(db, st, "storing PKG", NULL, err) == -1) {
        goto out;
    }
    if (mpk_insert(db, 1, kpak, ksak, now, (int64_t)policy->mpk_lifetime, err) == -1 ||
        m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1) {
        m2msec_db_rollback(db);
    }
    return rv;
}

int
m2msec_pkg_get(struct m2msec_db *db, struct m2msec_pkg_rec *out, struct m2msec_error *err)
{
    if (kind_is(db, M2MSEC_SCHEMA_MEF, err) == -1) {
        return -1;
    }
    return pkg_read(db, out, err);
}

/* One pkg_mpk row (columns of sql_mpk_select) into out. */
static int
mpk_row(struct m2msec_db *db, sqlite3_stmt *st, int with_key, struct m2msec_pkg_mpk_rec *out,
        struct m2msec_error *err)
{
    char id[16];

    memset(out, 0, sizeof(*out));
    out->version = (unsigned)sqlite3_column_int64(st, 0);
    if (column_fixed(st, 1, out->kpak, sizeof(out->kpak), err) == -1) {
        return -1;
    }
    out->not_before = sqlite3_column_int64(st, 2);
    out->not_after = sqlite3_column_int64(st, 3);
    out->max_issued = sqlite3_column_int64(st, 4);
    out->retired = sqlite3_column_int64(st, 5); /* NULL reads as 0 */
    out->created = sqlite3_column_int64(st, 6);
    (void)snprintf(id, sizeof(id), "%u", out->version);
    if (with_key && m2msec_db_unseal(db, PKG_SEAL_KIND, id, sqlite3_column_blob(st, 7),
                                     (size_t)sqlite3_column_bytes(st, 7), &out->ksak, err) == -1) {
        m2msec_error_wrap(err, "KSAK of MPK version %u", out->version);
        return -1;
    }
    return 0;
}

int
m2msec_pkg_mpk_list(struct m2msec_db *db, struct m2msec_pkg_mpk_rec **out, size_t *n,
                    struct m2msec_error *err)
{
    struct m2msec_pkg_mpk_rec *list = NULL, *grown;
    sqlite3_stmt *st = NULL;
    size_t count = 0;
    int r, rv = -1;

    *out = NULL;
    *n = 0;
    if (kind_is(db, M2MSEC_SCHEMA_MEF, err) == -1 ||
        m2msec_db_stmt(db, sql_mpk_list, &st, err) == -1) {
        goto out;
    }
    while ((r = m2msec_db_step_row(db, st, "listing MPKs", err)) == 1) {
        grown = m2msec_realloc(list, (count + 1) * sizeof(*list));
        if (grown == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
            goto out;
        }
        list = grown;
        if (mpk_row(db, st, 0, &list[count], err) == -1) {
            goto out;
        }
        count++;
    }
    if (r == -1) {
        goto out;
    }
    *out = list;
    *n = count;
    list = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_free(list);
    return rv;
}

int
m2msec_pkg_mpk_get(struct m2msec_db *db, unsigned version, int with_key,
                   struct m2msec_pkg_mpk_rec *out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int r, rv = -1;

    memset(out, 0, sizeof(*out));
    if (kind_is(db, M2MSEC_SCHEMA_MEF, err) == -1 ||
        m2msec_db_stmt(db, sql_mpk_select, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, version, err) == -1) {
        goto out;
    }
    r = m2msec_db_step_row(db, st, "reading MPK", err);
    if (r == -1) {
        goto out;
    }
    if (r == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND, "no MPK version %u",
                          version);
        goto out;
    }
    if (mpk_row(db, st, with_key, out, err) == -1) {
        m2msec_pkg_mpk_rec_clear(out);
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_pkg_rotate(struct m2msec_db *db, const uint8_t kpak[M2MSEC_PKG_KPAK_LEN],
                  const struct m2msec_secret *ksak, int64_t now, unsigned *version,
                  struct m2msec_error *err)
{
    struct m2msec_pkg_rec p;
    sqlite3_stmt *st = NULL;
    int64_t max = 0;
    unsigned next;
    int rv = -1;

    if (kind_is(db, M2MSEC_SCHEMA_MEF, err) == -1 || m2msec_db_begin(db, err) == -1) {
        return -1;
    }
    if (pkg_read(db, &p, err) == -1 || m2msec_db_stmt(db, sql_mpk_max, &st, err) == -1 ||
        m2msec_db_step_row(db, st, "reading MPK versions", err) != 1) {
        goto out;
    }
    max = sqlite3_column_int64(st, 0);
    m2msec_db_stmt_done(st);
    st = NULL;
    if (max < 1 || max >= (int64_t)PKG_VERSION_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_STORE, "MPK versions exhausted or missing");
        goto out;
    }
    next = (unsigned)max + 1;
    /* @spec IBC-DESIGN 3.5 MPK rollover: the old KPAK stays valid for its credentials. */
    if (m2msec_db_stmt(db, sql_mpk_retire, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, p.current, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, now, err) == -1 ||
        m2msec_db_step_done(db, st, "retiring MPK", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (mpk_insert(db, next, kpak, ksak, now, (int64_t)p.mpk_lifetime, err) == -1 ||
        m2msec_db_stmt(db, sql_pkg_set_current, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, next, err) == -1 ||
        m2msec_db_step_done(db, st, "switching MPK", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    if (version != NULL) {
        *version = next;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1) {
        m2msec_db_rollback(db);
    }
    return rv;
}

int
m2msec_pkg_note_issued(struct m2msec_db *db, unsigned version, int64_t expires,
                       struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    size_t changes = 0;
    int rv = -1;

    if (kind_is(db, M2MSEC_SCHEMA_MEF, err) == -1 || m2msec_db_begin(db, err) == -1) {
        return -1;
    }
    if (m2msec_db_stmt(db, sql_mpk_note, &st, err) == -1 ||
        m2msec_db_bind_int64(db, st, 1, version, err) == -1 ||
        m2msec_db_bind_int64(db, st, 2, expires, err) == -1 ||
        m2msec_db_step_done(db, st, "recording an issued credential", &changes, err) == -1) {
        goto out;
    }
    if (changes != 1) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                          "MPK version %u is no longer current or ends before the credential",
                          version);
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
    if (rv == -1) {
        m2msec_db_rollback(db);
    }
    return rv;
}

/*
 * Device side.
 */

void
m2msec_dev_ibc_rec_free(struct m2msec_dev_ibc_rec *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->id1);
    m2msec_free(r->fqdn);
    m2msec_free(r->mef);
    m2msec_secret_free(r->ssk);
    m2msec_free(r);
}

/* Replace the MPKs of fqdn (inside the caller's transaction). */
static int
dev_mpk_store(struct m2msec_db *db, const char *fqdn, const struct m2msec_dev_mpk_rec *mpks,
              size_t n, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    size_t i;
    int rv = -1;

    for (i = 0; i < n; i++) {
        if (!m2msec_ascii_caseeq(mpks[i].fqdn, fqdn) || mpks[i].kpak[0] != 0x04 ||
            mpks[i].version == 0 || mpks[i].not_after <= mpks[i].not_before ||
            mpks[i].key_period == 0 || mpks[i].key_period > INT32_MAX) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "MPK %zu of %s is malformed",
                                     i, fqdn);
        }
    }
    if (m2msec_db_stmt(db, sql_dmpk_delete, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, fqdn, err) == -1 ||
        m2msec_db_step_done(db, st, "replacing MPKs", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    for (i = 0; i < n; i++) {
        if (m2msec_db_stmt(db, sql_dmpk_insert, &st, err) == -1 ||
            m2msec_db_bind_text(db, st, 1, mpks[i].fqdn, err) == -1 ||
            m2msec_db_bind_int64(db, st, 2, mpks[i].version, err) == -1 ||
            m2msec_db_bind_blob(db, st, 3, mpks[i].kpak, M2MSEC_PKG_KPAK_LEN, err) == -1 ||
            m2msec_db_bind_int64(db, st, 4, mpks[i].not_before, err) == -1 ||
            m2msec_db_bind_int64(db, st, 5, mpks[i].not_after, err) == -1 ||
            m2msec_db_bind_int64(db, st, 6, (int64_t)mpks[i].key_period, err) == -1 ||
            m2msec_db_bind_int64(db, st, 7, (int64_t)mpks[i].key_period_offset, err) == -1 ||
            m2msec_db_step_done(db, st, "storing MPK", NULL, err) == -1) {
            goto out;
        }
        m2msec_db_stmt_done(st);
        st = NULL;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_dev_ibc_put(struct m2msec_db *db, const struct m2msec_dev_ibc_rec *r,
                   const struct m2msec_dev_mpk_rec *mpks, size_t nmpk, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    int rv = -1;

    if (kind_is(db, M2MSEC_SCHEMA_DEVICE, err) == -1) {
        return -1;
    }
    if (r == NULL || r->id2_len == 0 || r->id2_len > sizeof(r->id2) || !m2msec_db_str_set(r->id1) ||
        !m2msec_db_str_set(r->fqdn) || !m2msec_db_str_set(r->mef) || r->ssk == NULL ||
        r->kpak[0] != 0x04 || r->pvt[0] != 0x04 || r->mpk_version == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "IBC credential needs ID2, ID1, FQDN, MEF, SSK, PVT and KPAK");
    }
    if (m2msec_db_seal(db, DEV_SEAL_KIND, r->id1, r->ssk, &blob, &bloblen, err) == -1 ||
        m2msec_db_begin(db, err) == -1) {
        goto out;
    }
    if (m2msec_db_stmt(db, sql_ibc_delete, &st, err) == -1 ||
        m2msec_db_step_done(db, st, "erasing previous IBC credential", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if (m2msec_db_stmt(db, sql_ibc_insert, &st, err) == -1 ||
        m2msec_db_bind_blob(db, st, 1, r->id2, r->id2_len, err) == -1 ||
        m2msec_db_bind_text(db, st, 2, r->id1, err) == -1 ||
        m2msec_db_bind_text(db, st, 3, r->fqdn, err) == -1 ||
        m2msec_db_bind_int64(db, st, 4, r->expires, err) == -1 ||
        m2msec_db_bind_int64(db, st, 5, r->mpk_version, err) == -1 ||
        m2msec_db_bind_blob(db, st, 6, r->kpak, sizeof(r->kpak), err) == -1 ||
        m2msec_db_bind_blob(db, st, 7, r->pvt, sizeof(r->pvt), err) == -1 ||
        m2msec_db_bind_text(db, st, 8, r->mef, err) == -1 ||
        m2msec_db_bind_int64(db, st, 9, r->created, err) == -1 ||
        m2msec_db_bind_blob(db, st, 10, blob, bloblen, err) == -1 ||
        m2msec_db_step_done(db, st, "storing IBC credential", NULL, err) == -1) {
        goto out;
    }
    m2msec_db_stmt_done(st);
    st = NULL;
    if ((nmpk > 0 && dev_mpk_store(db, r->fqdn, mpks, nmpk, err) == -1) ||
        m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    if (rv == -1) {
        m2msec_db_rollback(db);
    }
    m2msec_free(blob);
    return rv;
}

int
m2msec_dev_ibc_get(struct m2msec_db *db, int with_key, struct m2msec_dev_ibc_rec **out,
                   struct m2msec_error *err)
{
    struct m2msec_dev_ibc_rec *r = NULL;
    sqlite3_stmt *st = NULL;
    const void *p;
    size_t len;
    int rc, rv = -1;

    *out = NULL;
    if (kind_is(db, M2MSEC_SCHEMA_DEVICE, err) == -1 ||
        m2msec_db_stmt(db, sql_ibc_select, &st, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "reading IBC credential", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setx(err, M2MSEC_ERR_NOT_FOUND,
                          "no IBC credential: enrol with 'm2msec enrol --ibc'");
        goto out;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    p = sqlite3_column_blob(st, 0);
    len = (size_t)sqlite3_column_bytes(st, 0);
    if (p == NULL || len == 0 || len > sizeof(r->id2)) {
        m2msec_error_setx(err, M2MSEC_ERR_STORE, "stored ID2 is malformed");
        goto out;
    }
    memcpy(r->id2, p, len);
    r->id2_len = len;
    if (m2msec_db_column_str(st, 1, 1, &r->id1, err) == -1 ||
        m2msec_db_column_str(st, 2, 1, &r->fqdn, err) == -1 ||
        column_fixed(st, 5, r->kpak, sizeof(r->kpak), err) == -1 ||
        column_fixed(st, 6, r->pvt, sizeof(r->pvt), err) == -1 ||
        m2msec_db_column_str(st, 7, 1, &r->mef, err) == -1) {
        goto out;
    }
    r->expires = sqlite3_column_int64(st, 3);
    r->mpk_version = (unsigned)sqlite3_column_int64(st, 4);
    r->created = sqlite3_column_int64(st, 8);
    if (with_key && m2msec_db_unseal(db, DEV_SEAL_KIND, r->id1, sqlite3_column_blob(st, 9),
                                     (size_t)sqlite3_column_bytes(st, 9), &r->ssk, err) == -1) {
        m2msec_error_wrap(err, "SSK of %s", r->id1);
        goto out;
    }
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_dev_ibc_rec_free(r);
    return rv;
}

int
m2msec_dev_mpk_replace(struct m2msec_db *db, const char *fqdn,
                       const struct m2msec_dev_mpk_rec *mpks, size_t n, struct m2msec_error *err)
{
    int rv = -1;

    if (kind_is(db, M2MSEC_SCHEMA_DEVICE, err) == -1) {
        return -1;
    }
    if (!m2msec_db_str_set(fqdn) || mpks == NULL || n == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no MPKs to store");
    }
    if (m2msec_db_begin(db, err) == -1) {
        return -1;
    }
    if (dev_mpk_store(db, fqdn, mpks, n, err) == -1 || m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    if (rv == -1) {
        m2msec_db_rollback(db);
    }
    return rv;
}

int
m2msec_dev_mpk_list(struct m2msec_db *db, struct m2msec_dev_mpk_rec **out, size_t *n,
                    struct m2msec_error *err)
{
    struct m2msec_dev_mpk_rec *list = NULL, *grown, *e;
    sqlite3_stmt *st = NULL;
    const unsigned char *fqdn;
    size_t count = 0;
    int r, rv = -1;

    *out = NULL;
    *n = 0;
    if (kind_is(db, M2MSEC_SCHEMA_DEVICE, err) == -1 ||
        m2msec_db_stmt(db, sql_dmpk_list, &st, err) == -1) {
        goto out;
    }
    while ((r = m2msec_db_step_row(db, st, "listing MPKs", err)) == 1) {
        grown = m2msec_realloc(list, (count + 1) * sizeof(*list));
        if (grown == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
            goto out;
        }
        list = grown;
        e = &list[count];
        memset(e, 0, sizeof(*e));
        fqdn = sqlite3_column_text(st, 0);
        if (fqdn == NULL || m2msec_strlcpy(e->fqdn, (const char *)fqdn, sizeof(e->fqdn)) == -1 ||
            column_fixed(st, 2, e->kpak, sizeof(e->kpak), err) == -1) {
            if (m2msec_error_code(err) == M2MSEC_ERR_NONE) {
                m2msec_error_setx(err, M2MSEC_ERR_STORE, "stored MPK FQDN is malformed");
            }
            goto out;
        }
        e->version = (unsigned)sqlite3_column_int64(st, 1);
        e->not_before = sqlite3_column_int64(st, 3);
        e->not_after = sqlite3_column_int64(st, 4);
        e->key_period = (uint64_t)sqlite3_column_int64(st, 5);
        e->key_period_offset = (uint64_t)sqlite3_column_int64(st, 6);
        count++;
    }
    if (r == -1) {
        goto out;
    }
    *out = list;
    *n = count;
    list = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_free(list);
    return rv;
}
