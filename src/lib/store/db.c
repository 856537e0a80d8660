/*
 * store/db.c - opening a store, schema migrations, and the helpers every query uses.
 *
 * Layer: store. Depends on util and crypto (sealing) only; never on proto, tls,
 * codec or http. This file and its siblings are the only code that includes
 * sqlite3.h. Every SQL text here is static and takes bound parameters.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "crypto/seal.h"
#include "store/store.h"
#include "store/store_int.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

/* Admin commands may write while a daemon runs: wait for the writer instead of failing. */
#define BUSY_TIMEOUT_MS 5000

static const char sql_begin[] = "BEGIN IMMEDIATE";
static const char sql_begin_read[] = "BEGIN";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";
static const char sql_user_version[] = "PRAGMA user_version";
static const char sql_journal_wal[] = "PRAGMA journal_mode = WAL";
static const char sql_meta_kind[] = "SELECT kind FROM meta WHERE one = 1";
static const char sql_count_tables[] = "SELECT count(*) FROM sqlite_master";

/*
 * Per-connection settings. synchronous=FULL: a key is on disk before the
 * response that hands it out. secure_delete: erased keys and expired rows are
 * overwritten, not merely unlinked. trusted_schema=OFF: the schema of a file
 * we did not write cannot run functions with side effects.
 */
static const char sql_pragmas[] = "PRAGMA foreign_keys = ON;"
                                  "PRAGMA secure_delete = ON;"
                                  "PRAGMA synchronous = FULL;"
                                  "PRAGMA trusted_schema = OFF;";

int
m2msec_db_sqlerr(struct m2msec_db *db, const char *what, struct m2msec_error *err)
{
    return m2msec_error_setx(err, M2MSEC_ERR_STORE, "%s: %s", what, sqlite3_errmsg(db->sql));
}

int
m2msec_db_str_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int
m2msec_db_stmt(struct m2msec_db *db, const char *sql, sqlite3_stmt **out, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    size_t i;

    *out = NULL;
    for (i = 0; i < db->ncache; i++) {
        if (db->cache[i].sql == sql) {
            *out = db->cache[i].st;
            return 0;
        }
    }
    if (db->ncache == M2MSEC_DB_STMT_CACHE) {
        /* A programming error: raise M2MSEC_DB_STMT_CACHE. */
        return m2msec_error_setx(err, M2MSEC_ERR_STORE, "statement cache full");
    }
    if (sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        return m2msec_db_sqlerr(db, "preparing statement", err);
    }
    db->cache[db->ncache].sql = sql;
    db->cache[db->ncache].st = st;
    db->ncache++;
    *out = st;
    return 0;
}

void
m2msec_db_stmt_done(sqlite3_stmt *st)
{
    if (st == NULL) {
        return;
    }
    /* The step's error was already reported; reset repeats it, so ignore it. */
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
}

/* Run one of the transaction verbs. */
static int
tx_verb(struct m2msec_db *db, const char *sql, const char *what, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (m2msec_db_stmt(db, sql, &st, err) == -1) {
        goto out;
    }
    if (m2msec_db_step_done(db, st, what, NULL, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

int
m2msec_db_begin(struct m2msec_db *db, struct m2msec_error *err)
{
    /* IMMEDIATE takes the write lock now (waiting up to the busy timeout), so a
     * transaction never fails half-way for want of an upgrade from read to write. */
    return tx_verb(db, sql_begin, "beginning transaction", err);
}

int
m2msec_db_begin_read(struct m2msec_db *db, struct m2msec_error *err)
{
    return tx_verb(db, sql_begin_read, "beginning read transaction", err);
}

int
m2msec_db_commit(struct m2msec_db *db, struct m2msec_error *err)
{
    return tx_verb(db, sql_commit, "committing", err);
}

void
m2msec_db_rollback(struct m2msec_db *db)
{
    struct m2msec_error scratch = { 0 };

    if (db == NULL || db->sql == NULL || sqlite3_get_autocommit(db->sql) != 0) {
        return;
    }
    /* Best effort: if even ROLLBACK fails, SQLite rolls back when the connection closes. */
    (void)tx_verb(db, sql_rollback, "rolling back", &scratch);
}

int
m2msec_db_bind_text(struct m2msec_db *db, sqlite3_stmt *st, int idx, const char *s,
                    struct m2msec_error *err)
{
    if (sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC) != SQLITE_OK) {
        return m2msec_db_sqlerr(db, "binding text", err);
    }
    return 0;
}

int
m2msec_db_bind_int64(struct m2msec_db *db, sqlite3_stmt *st, int idx, int64_t v,
                     struct m2msec_error *err)
{
    if (sqlite3_bind_int64(st, idx, (sqlite3_int64)v) != SQLITE_OK) {
        return m2msec_db_sqlerr(db, "binding integer", err);
    }
    return 0;
}

int
m2msec_db_bind_blob(struct m2msec_db *db, sqlite3_stmt *st, int idx, const uint8_t *p, size_t len,
                    struct m2msec_error *err)
{
    if (len > INT_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "blob of %zu bytes", len);
    }
    if (sqlite3_bind_blob(st, idx, p, (int)len, SQLITE_STATIC) != SQLITE_OK) {
        return m2msec_db_sqlerr(db, "binding blob", err);
    }
    return 0;
}

int
m2msec_db_step_done(struct m2msec_db *db, sqlite3_stmt *st, const char *what, size_t *changes,
                    struct m2msec_error *err)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        return m2msec_error_setx(err, M2MSEC_ERR_STORE, "%s: unexpected row", what);
    }
    if (rc != SQLITE_DONE) {
        return m2msec_db_sqlerr(db, what, err);
    }
    if (changes != NULL) {
        *changes = (size_t)sqlite3_changes(db->sql);
    }
    return 0;
}

int
m2msec_db_step_row(struct m2msec_db *db, sqlite3_stmt *st, const char *what,
                   struct m2msec_error *err)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        return 1;
    }
    if (rc == SQLITE_DONE) {
        return 0;
    }
    return m2msec_db_sqlerr(db, what, err);
}

int
m2msec_db_column_str(sqlite3_stmt *st, int col, int required, char **out, struct m2msec_error *err)
{
    const unsigned char *text = NULL;

    *out = NULL;
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        if (required) {
            return m2msec_error_setx(err, M2MSEC_ERR_STORE, "column %d: unexpected NULL", col);
        }
        return 0;
    }
    text = sqlite3_column_text(st, col);
    if (text == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "reading column %d", col);
    }
    *out = m2msec_strdup((const char *)text);
    if (*out == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "copying column %d", col);
    }
    return 0;
}

void
m2msec_db_list_free(char **list)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; list[i] != NULL; i++) {
        m2msec_free(list[i]);
    }
    m2msec_free(list);
}

int
m2msec_db_list_valid(char *const *list, size_t n, const char *what, struct m2msec_error *err)
{
    size_t i;

    if (n > 0 && list == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: list missing", what);
    }
    for (i = 0; i < n; i++) {
        if (!m2msec_db_str_set(list[i])) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s %zu: empty", what, i);
        }
    }
    return 0;
}

int
m2msec_db_list_load(struct m2msec_db *db, const char *sql_select, const char *owner, char ***out,
                    size_t *n, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    char **list = NULL;
    char **grown = NULL;
    size_t count = 0;
    size_t cap = 4;
    int rc;
    int rv = -1;

    *out = NULL;
    *n = 0;
    list = m2msec_calloc(cap, sizeof(*list));
    if (list == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "loading list");
        goto out;
    }
    if (m2msec_db_stmt(db, sql_select, &st, err) == -1 ||
        m2msec_db_bind_text(db, st, 1, owner, err) == -1) {
        goto out;
    }
    for (;;) {
        rc = m2msec_db_step_row(db, st, "loading list", err);
        if (rc == -1) {
            goto out;
        }
        if (rc == 0) {
            break;
        }
        /* Keep one free slot so the array stays NULL-terminated (and freeable) throughout. */
        if (count + 1 == cap) {
            if (cap > SIZE_MAX / (2 * sizeof(*list))) {
                m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "list too long");
                goto out;
            }
            grown = m2msec_realloc(list, 2 * cap * sizeof(*list));
            if (grown == NULL) {
                m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "loading list");
                goto out;
            }
            list = grown;
            memset(list + cap, 0, cap * sizeof(*list));
            cap *= 2;
        }
        if (m2msec_db_column_str(st, 0, 1, &list[count], err) == -1) {
            goto out;
        }
        count++;
    }
    *out = list;
    *n = count;
    list = NULL;
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_db_list_free(list);
    return rv;
}

int
m2msec_db_list_store(struct m2msec_db *db, const char *sql_insert, const char *owner,
                     char *const *list, size_t n, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    size_t i;
    int rv = -1;

    if (m2msec_db_stmt(db, sql_insert, &st, err) == -1) {
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (m2msec_db_bind_text(db, st, 1, owner, err) == -1 ||
            m2msec_db_bind_int64(db, st, 2, (int64_t)i, err) == -1 ||
            m2msec_db_bind_text(db, st, 3, list[i], err) == -1 ||
            m2msec_db_step_done(db, st, "storing list", NULL, err) == -1) {
            goto out;
        }
        m2msec_db_stmt_done(st);
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* AAD "<prefix>:<id>": binds a sealed value to its record kind and id. */
static int
make_aad(const char *prefix, const char *id, uint8_t **out, size_t *outlen,
         struct m2msec_error *err)
{
    size_t plen = strlen(prefix);
    size_t ilen = strlen(id);
    uint8_t *aad = NULL;

    *out = NULL;
    *outlen = 0;
    if (ilen > SIZE_MAX - plen - 1) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "record id too long");
    }
    aad = m2msec_malloc(plen + 1 + ilen);
    if (aad == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "building AAD");
    }
    memcpy(aad, prefix, plen);
    aad[plen] = ':';
    memcpy(aad + plen + 1, id, ilen);
    *out = aad;
    *outlen = plen + 1 + ilen;
    return 0;
}

int
m2msec_db_seal(struct m2msec_db *db, const char *prefix, const char *id,
               const struct m2msec_secret *plain, uint8_t **out, size_t *outlen,
               struct m2msec_error *err)
{
    uint8_t *aad = NULL;
    size_t aadlen = 0;
    int rv = -1;

    *out = NULL;
    *outlen = 0;
    if (make_aad(prefix, id, &aad, &aadlen, err) == -1) {
        goto out;
    }
    if (m2msec_seal(db->kek, aad, aadlen, plain, out, outlen, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_free(aad);
    return rv;
}

int
m2msec_db_unseal(struct m2msec_db *db, const char *prefix, const char *id, const void *blob,
                 size_t bloblen, struct m2msec_secret **out, struct m2msec_error *err)
{
    uint8_t *aad = NULL;
    size_t aadlen = 0;
    int rv = -1;

    *out = NULL;
    if (make_aad(prefix, id, &aad, &aadlen, err) == -1) {
        goto out;
    }
    /* An empty, truncated or malformed blob is tampering too: one answer for every kind
     * of it. Only resource and library failures keep their own code. */
    if (blob == NULL || bloblen == 0 ||
        m2msec_unseal(db->kek, aad, aadlen, blob, bloblen, out, err) == -1) {
        if (blob == NULL || bloblen == 0 ||
            (m2msec_error_code(err) != M2MSEC_ERR_NOMEM &&
             m2msec_error_code(err) != M2MSEC_ERR_CRYPTO)) {
            m2msec_error_setx(err, M2MSEC_ERR_AUTH, "sealed value failed authentication");
        }
        goto out;
    }
    rv = 0;
out:
    m2msec_free(aad);
    return rv;
}

static const char *
kind_name(enum m2msec_schema schema)
{
    switch (schema) {
    case M2MSEC_SCHEMA_MEF:
        return "mef";
    case M2MSEC_SCHEMA_DEVICE:
        return "device";
    case M2MSEC_SCHEMA_MAF:
        return "maf";
    case M2MSEC_SCHEMA_CSE:
        return "cse";
    }
    return "?";
}

/* The single integer of a one-row query. */
static int
query_int(struct m2msec_db *db, const char *sql, const char *what, int64_t *out,
          struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    if (m2msec_db_stmt(db, sql, &st, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, what, err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setx(err, M2MSEC_ERR_STORE, "%s: no row", what);
        goto out;
    }
    *out = sqlite3_column_int64(st, 0);
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

static int
configure(struct m2msec_db *db, struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *mode = NULL;
    int on = 0;
    int rc;
    int rv = -1;

    if (sqlite3_busy_timeout(db->sql, BUSY_TIMEOUT_MS) != SQLITE_OK) {
        m2msec_db_sqlerr(db, "setting busy timeout", err);
        goto out;
    }
    /* Defensive: no writable_schema, no journal_mode=OFF, no shadow-table writes. */
    if (sqlite3_db_config(db->sql, SQLITE_DBCONFIG_DEFENSIVE, 1, &on) != SQLITE_OK) {
        m2msec_db_sqlerr(db, "enabling defensive mode", err);
        goto out;
    }
    if (on != 1) {
        m2msec_error_setx(err, M2MSEC_ERR_STORE, "SQLite refused defensive mode");
        goto out;
    }
    if (sqlite3_exec(db->sql, sql_pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        m2msec_db_sqlerr(db, "configuring connection", err);
        goto out;
    }
    /* journal_mode answers with the mode in force: anything but "wal" is a failure. */
    if (m2msec_db_stmt(db, sql_journal_wal, &st, err) == -1) {
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "enabling WAL", err);
    if (rc == -1) {
        goto out;
    }
    mode = rc == 1 ? sqlite3_column_text(st, 0) : NULL;
    if (mode == NULL || strcmp((const char *)mode, "wal") != 0) { /* public */
        m2msec_error_setx(err, M2MSEC_ERR_STORE, "cannot enable WAL journal mode");
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    return rv;
}

/* Entity B's resolver cache (store/cse.c). */
extern const char *const m2msec_db_cse_migrations[];

/*
 * Bring the file to the newest schema of its kind, in one IMMEDIATE
 * transaction so that two processes opening a new file at once do not both
 * create it. A file of the other kind, a foreign SQLite file, or one written
 * by a newer version of this code is refused untouched.
 */
static int
migrate(struct m2msec_db *db, struct m2msec_error *err)
{
    const char *const *steps = db->schema == M2MSEC_SCHEMA_MEF   ? m2msec_db_mef_migrations
                               : db->schema == M2MSEC_SCHEMA_MAF ? m2msec_db_maf_migrations
                               : db->schema == M2MSEC_SCHEMA_CSE ? m2msec_db_cse_migrations
                                                                 : m2msec_db_dev_migrations;
    const char *want = kind_name(db->schema);
    sqlite3_stmt *st = NULL;
    char *kind = NULL;
    int64_t version = 0;
    int64_t ntables = 0;
    size_t known = 0;
    size_t i;
    int rc;
    int rv = -1;

    while (steps[known] != NULL) {
        known++;
    }
    if (m2msec_db_begin(db, err) == -1) {
        goto out;
    }
    if (query_int(db, sql_user_version, "reading schema version", &version, err) == -1) {
        goto out;
    }
    if (version == 0) {
        if (query_int(db, sql_count_tables, "reading schema", &ntables, err) == -1) {
            goto out;
        }
        if (ntables != 0) {
            m2msec_error_setx(err, M2MSEC_ERR_STORE,
                              "not an m2msec database (tables without a schema version)");
            goto out;
        }
    } else {
        if (m2msec_db_stmt(db, sql_meta_kind, &st, err) == -1) {
            m2msec_error_wrap(err, "not an m2msec database");
            goto out;
        }
        rc = m2msec_db_step_row(db, st, "reading schema kind", err);
        if (rc == -1) {
            goto out;
        }
        if (rc == 0 || m2msec_db_column_str(st, 0, 1, &kind, err) == -1) {
            m2msec_error_setx(err, M2MSEC_ERR_STORE, "not an m2msec database (no schema kind)");
            goto out;
        }
        m2msec_db_stmt_done(st);
        st = NULL;
        if (strcmp(kind, want) != 0) { /* public */
            m2msec_error_setx(err, M2MSEC_ERR_STORE, "database holds %s state, expected %s state",
                              kind, want);
            goto out;
        }
    }
    if (version < 0 || (uint64_t)version > known) {
        m2msec_error_setx(err, M2MSEC_ERR_STORE,
                          "database schema version %lld is newer than this program knows "
                          "(%zu): upgrade m2msec",
                          (long long)version, known);
        goto out;
    }
    for (i = (size_t)version; i < known; i++) {
        if (sqlite3_exec(db->sql, steps[i], NULL, NULL, NULL) != SQLITE_OK) {
            m2msec_db_sqlerr(db, "migrating schema", err);
            m2msec_error_wrap(err, "to version %zu", i + 1);
            goto out;
        }
    }
    if (m2msec_db_commit(db, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_db_stmt_done(st);
    m2msec_free(kind);
    if (rv == -1) {
        m2msec_db_rollback(db);
    }
    return rv;
}

struct m2msec_db *
m2msec_db_open(const char *path, enum m2msec_schema schema, const struct m2msec_secret *kek,
               struct m2msec_error *err)
{
    struct m2msec_db *db = NULL;
    struct m2msec_db *ret = NULL;
    int fd = -1;

    if (!m2msec_db_str_set(path)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "store path missing");
        goto out;
    }
    if (schema != M2MSEC_SCHEMA_MEF && schema != M2MSEC_SCHEMA_DEVICE &&
        schema != M2MSEC_SCHEMA_MAF && schema != M2MSEC_SCHEMA_CSE) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "unknown schema kind %d", (int)schema);
        goto out;
    }
    if (kek == NULL || m2msec_secret_len(kek) != M2MSEC_KEK_LEN) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KEK must be %d bytes", M2MSEC_KEK_LEN);
        goto out;
    }
    db = m2msec_calloc(1, sizeof(*db));
    if (db == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "opening store");
        goto out;
    }
    db->schema = schema;
    db->kek = m2msec_secret_dup(kek, err);
    if (db->kek == NULL) {
        goto out;
    }
    /*
     * Create a missing file ourselves so it is 0600 whatever the umask; SQLite
     * gives its -wal and -shm files the mode of the database file.
     *
     * Never open and close an EXISTING database file here: POSIX advisory locks
     * belong to the process, so close() on any descriptor of the file drops the
     * locks every other SQLite connection of this process holds on it, and the
     * next writer can reset the WAL under them and lose committed transactions
     * ("How To Corrupt An SQLite Database File", section 2.2). O_EXCL makes the
     * create-and-close safe: the inode is new, so no connection can hold a lock.
     */
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1 && errno != EEXIST) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "creating %s", path);
        goto out;
    }
    if (fd != -1) {
        (void)close(fd);
    }
    if (sqlite3_open_v2(path, &db->sql,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        if (db->sql == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "opening %s", path);
        } else {
            m2msec_db_sqlerr(db, "opening database", err);
        }
        goto out;
    }
    if (configure(db, err) == -1 || migrate(db, err) == -1) {
        m2msec_error_wrap(err, "%s", path);
        goto out;
    }
    ret = db;
    db = NULL;
out:
    m2msec_db_close(db);
    return ret;
}

void
m2msec_db_close(struct m2msec_db *db)
{
    size_t i;

    if (db == NULL) {
        return;
    }
    for (i = 0; i < db->ncache; i++) {
        sqlite3_finalize(db->cache[i].st);
    }
    /* Every statement is finalized, so close cannot be left pending. */
    (void)sqlite3_close(db->sql);
    m2msec_secret_free(db->kek);
    m2msec_free(db);
}

int
m2msec_db_schema_version(struct m2msec_db *db)
{
    struct m2msec_error scratch = { 0 };
    int64_t version = 0;

    if (db == NULL ||
        query_int(db, sql_user_version, "reading schema version", &version, &scratch) == -1) {
        return -1;
    }
    if (version < 0 || version > INT_MAX) {
        return -1;
    }
    return (int)version;
}

#ifdef M2MSEC_TESTING
int
m2msec_db_test_exec(struct m2msec_db *db, const char *sql, struct m2msec_error *err)
{
    if (sqlite3_exec(db->sql, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return m2msec_db_sqlerr(db, "test exec", err);
    }
    return 0;
}

int
m2msec_db_test_query_int(struct m2msec_db *db, const char *sql, int64_t *out,
                         struct m2msec_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rv = -1;

    if (sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL) != SQLITE_OK) {
        m2msec_db_sqlerr(db, "test query", err);
        goto out;
    }
    rc = m2msec_db_step_row(db, st, "test query", err);
    if (rc == -1) {
        goto out;
    }
    if (rc == 0) {
        m2msec_error_setx(err, M2MSEC_ERR_NOT_FOUND, "test query: no row");
        goto out;
    }
    *out = sqlite3_column_int64(st, 0);
    rv = 0;
out:
    sqlite3_finalize(st);
    return rv;
}
#endif
