/*
 * store/store_int.h - private helpers shared by the store's source files.
 *
 * Layer: store (private). Never included outside src/lib/store: it exposes
 * sqlite3 types. db.c owns the connection, the statement cache, transactions
 * and sealing; mef.c, maf.c and device.c hold the queries and the schema of
 * their kind; reg.c what the MEF and MAF registration stores share.
 */
#ifndef M2MSEC_STORE_STORE_INT_H
#define M2MSEC_STORE_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"
#include "util/error.h"
#include "util/secret.h"

/* Enough for every static statement of one schema kind plus the transaction verbs. */
#define M2MSEC_DB_STMT_CACHE 128

#define M2MSEC_RSC_NOT_FOUND 4004
#define M2MSEC_RSC_CONFLICT  4105

struct m2msec_db_cached {
    const char *sql; /* static text: the cache key is its address */
    sqlite3_stmt *st;
};

struct m2msec_db {
    sqlite3 *sql;
    enum m2msec_schema schema;
    struct m2msec_secret *kek;
    struct m2msec_db_cached cache[M2MSEC_DB_STMT_CACHE];
    size_t ncache;
};

/*
 * Ordered migrations of each schema kind, NULL-terminated. Entry i brings the
 * file from user_version i to i + 1 and ends by setting user_version itself,
 * so no SQL text is ever built at run time.
 */
extern const char *const m2msec_db_mef_migrations[];
extern const char *const m2msec_db_dev_migrations[];
extern const char *const m2msec_db_maf_migrations[];

/*
 * The key registry's tables (queried by store/keyreg.c), one text for the
 * MEF's migration 3 and the MAF's migration 4. What differs is what a key is
 * a child of: owner_ref follows the owner column's type ("" on the MEF, a
 * foreign key to the client on the MAF), reg_table names the Client
 * Registration table, owner_index is an extra index statement (or ""), and
 * rest holds the statements that end the migration. Literals only, pasted at
 * compile time: the migrations stay static text, and since SQLite keeps each
 * CREATE statement as written, the expansion must stay byte for byte what
 * both migrations have always created.
 */
#define M2MSEC_DB_KEYREG_DDL(owner_ref, reg_table, owner_index, rest)                          \
    "CREATE TABLE keyreg ("                                                                    \
    " rel TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,"                                           \
    " owner TEXT NOT NULL" owner_ref ","                                                       \
    " reg_id TEXT NOT NULL REFERENCES " reg_table " (reg_id) ON DELETE CASCADE,"               \
    " source_id TEXT NOT NULL,"                                                                \
    " admin_fqdn TEXT NOT NULL,"                                                               \
    " suid INTEGER NOT NULL,"                                                                  \
    " key BLOB NOT NULL,"                                                                      \
    " expires INTEGER NOT NULL,"                                                               \
    " created INTEGER NOT NULL);" owner_index "CREATE INDEX keyreg_by_reg ON keyreg (reg_id);" \
    "CREATE INDEX keyreg_by_expires ON keyreg (expires);"                                      \
    "CREATE TABLE keyreg_target ("                                                             \
    " rel TEXT NOT NULL COLLATE NOCASE REFERENCES keyreg (rel) ON DELETE CASCADE,"             \
    " pos INTEGER NOT NULL,"                                                                   \
    " value TEXT NOT NULL,"                                                                    \
    " PRIMARY KEY (rel, pos));"                                                                \
    "CREATE TABLE keyreg_label ("                                                              \
    " rel TEXT NOT NULL COLLATE NOCASE REFERENCES keyreg (rel) ON DELETE CASCADE,"             \
    " pos INTEGER NOT NULL,"                                                                   \
    " value TEXT NOT NULL,"                                                                    \
    " PRIMARY KEY (rel, pos));" rest

/* Copy sqlite3_errmsg into err (M2MSEC_ERR_STORE). Call before any other sqlite call. Returns -1. */
int m2msec_db_sqlerr(struct m2msec_db *db, const char *what, struct m2msec_error *err);

/* A prepared (cached) statement for static text sql, ready to bind. Release with _done. */
int m2msec_db_stmt(struct m2msec_db *db, const char *sql, sqlite3_stmt **out,
                   struct m2msec_error *err);
/* Reset and clear the bindings of a cached statement. NULL is accepted. */
void m2msec_db_stmt_done(sqlite3_stmt *st);

/* BEGIN IMMEDIATE: every state change is one write transaction. */
int m2msec_db_begin(struct m2msec_db *db, struct m2msec_error *err);
/* BEGIN (deferred): a consistent snapshot for reads spanning several statements. */
int m2msec_db_begin_read(struct m2msec_db *db, struct m2msec_error *err);
int m2msec_db_commit(struct m2msec_db *db, struct m2msec_error *err);
/* Roll back if a transaction is open; never touches err (the first failure stays reported). */
void m2msec_db_rollback(struct m2msec_db *db);

/* Binders: -1 with err set. Text and blobs are bound SQLITE_STATIC (caller keeps them alive). */
int m2msec_db_bind_text(struct m2msec_db *db, sqlite3_stmt *st, int idx, const char *s,
                        struct m2msec_error *err);
int m2msec_db_bind_int64(struct m2msec_db *db, sqlite3_stmt *st, int idx, int64_t v,
                         struct m2msec_error *err);
int m2msec_db_bind_blob(struct m2msec_db *db, sqlite3_stmt *st, int idx, const uint8_t *p,
                        size_t len, struct m2msec_error *err);

/* Step a statement that returns no row (SQLITE_DONE expected); *changes may be NULL. */
int m2msec_db_step_done(struct m2msec_db *db, sqlite3_stmt *st, const char *what, size_t *changes,
                        struct m2msec_error *err);
/* Step: 1 row, 0 done, -1 error (err set). */
int m2msec_db_step_row(struct m2msec_db *db, sqlite3_stmt *st, const char *what,
                       struct m2msec_error *err);

/* Copy a text column; NULL column gives *out = NULL unless required (then M2MSEC_ERR_STORE). */
int m2msec_db_column_str(sqlite3_stmt *st, int col, int required, char **out,
                         struct m2msec_error *err);

/*
 * Ordered string lists kept in a child table. sql_select takes the owner key
 * as ?1 and returns the values ordered by position; sql_insert takes
 * (owner, position, value). Loaded lists are NULL-terminated; an empty list
 * loads as an array holding only NULL.
 */
int m2msec_db_list_load(struct m2msec_db *db, const char *sql_select, const char *owner,
                        char ***out, size_t *n, struct m2msec_error *err);
int m2msec_db_list_store(struct m2msec_db *db, const char *sql_insert, const char *owner,
                         char *const *list, size_t n, struct m2msec_error *err);
/* Every entry present and non-empty: a list input check shared by the writers. */
int m2msec_db_list_valid(char *const *list, size_t n, const char *what, struct m2msec_error *err);
void m2msec_db_list_free(char **list);

/* Seal plain under the KEK with AAD "<prefix>:<id>". *out is m2msec_malloc'd. */
int m2msec_db_seal(struct m2msec_db *db, const char *prefix, const char *id,
                   const struct m2msec_secret *plain, uint8_t **out, size_t *outlen,
                   struct m2msec_error *err);
/* Unseal; any failure other than NOMEM is M2MSEC_ERR_AUTH, never partial output. */
int m2msec_db_unseal(struct m2msec_db *db, const char *prefix, const char *id, const void *blob,
                     size_t bloblen, struct m2msec_secret **out, struct m2msec_error *err);

/* 1 when s is a non-NULL, non-empty string. */
int m2msec_db_str_set(const char *s);

/* store/reg.c: shared by the MEF and MAF registration stores. */
/* 1 when s is 32 lowercase hex digits (ids made by m2msec_rand_hex(.., 16, ..)). */
int m2msec_db_hex32(const char *s);
/*
 * -1 with M2MSEC_ERR_REFUSED / rsc 4105 when a live registration of owner for
 * admin_fqdn exists. sql_conflict is the caller's static statement taking
 * (owner, admin_fqdn, now) and returning a row for each conflict.
 */
int m2msec_db_reg_conflict(struct m2msec_db *db, const char *sql_conflict, const char *owner,
                           const char *admin_fqdn, int64_t now, struct m2msec_error *err);

#endif
