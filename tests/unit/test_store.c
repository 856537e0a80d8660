/*
 * tests/unit/test_store.c - unit tests for src/lib/store.
 *
 * Covers opening (file mode, WAL and the other pragmas, reopen, schema kind
 * and version checks, foreign files, migration from version 1), the MEF
 * tables (Enrolees, Ke, registrations, Enrolment Targets, expiry, sweeping,
 * cascades), the PKI bootstrap's node classes and root credentials (MEF and
 * device), the device enrolment, sealing
 * at rest (no key in clear in the file, tampered or moved blobs, wrong KEK)
 * and two connections writing at once. Tests never include sqlite3.h: raw SQL
 * goes through the M2MSEC_TESTING hooks of store.h.
 */
#define _GNU_SOURCE /* memmem */

/* cmocka needs these four first; the blank line keeps clang-format from reordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/kdf.h"
#include "crypto/rand.h"
#include "store/store.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* The newest MEF schema version (store/mef.c migrations). */
#define MEF_SCHEMA_VERSION 7
#define MEF_SCHEMA_NEXT    8 /* one more than this code knows */
#define M2MSEC_STR_(x)     #x
#define M2MSEC_STR(x)      M2MSEC_STR_(x)
/* Drops what migration 5 adds, to rebuild an older file. */
#define DROP_V5 "DROP TABLE enrolee_cert_file; DROP TABLE enrolee_cert;"

/* Per-test state: a fresh temporary directory and KEK. */
struct fx {
    char dir[64];
    char path[128];
    struct m2msec_secret *kek;
};

/*
 * The record structs hold char * (they own what the store returns); tests fill
 * them from literals the store only reads. This drops const without a cast
 * that -Wcast-qual would flag.
 */
static char *
mut(const char *s)
{
    char *p;

    memcpy(&p, &s, sizeof(p));
    return p;
}

static int
setup(void **state)
{
    struct m2msec_error err = { 0 };
    struct fx *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/m2msec-store-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/state.db", fx->dir);
    fx->kek = m2msec_secret_random(32, &err);
    if (fx->kek == NULL) {
        rmdir(fx->dir);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *fx = *state;
    char p[512];
    struct dirent *de;
    DIR *d = opendir(fx->dir);

    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
                continue;
            }
            snprintf(p, sizeof(p), "%s/%s", fx->dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(fx->dir);
    m2msec_secret_free(fx->kek);
    free(fx);
    return 0;
}

static void
assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        print_error("\"%s\" does not contain \"%s\"\n", hay, needle);
        fail();
    }
}

/* rc must be -1 with the given code (and rsc when non-zero). */
static void
assert_fails(int rc, const struct m2msec_error *err, enum m2msec_err code, int rsc)
{
    if (rc != -1 || err->code != code || (rsc != 0 && err->rsc != rsc)) {
        print_error("rc %d code %d rsc %d (%s), wanted -1 code %d rsc %d\n", rc, (int)err->code,
                    err->rsc, err->msg, (int)code, rsc);
        fail();
    }
}

static void
assert_ok(int rc, const struct m2msec_error *err)
{
    if (rc != 0) {
        print_error("unexpected failure: code %d: %s\n", (int)err->code, err->msg);
        fail();
    }
}

static struct m2msec_db *
open_kind(struct fx *fx, enum m2msec_schema kind)
{
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = m2msec_db_open(fx->path, kind, fx->kek, &err);

    if (db == NULL) {
        print_error("open: %s\n", err.msg);
        fail();
    }
    return db;
}

static int64_t
query(struct m2msec_db *db, const char *sql)
{
    struct m2msec_error err = { 0 };
    int64_t v = -1;

    assert_ok(m2msec_db_test_query_int(db, sql, &v, &err), &err);
    return v;
}

static void
exec(struct m2msec_db *db, const char *sql)
{
    struct m2msec_error err = { 0 };

    assert_ok(m2msec_db_test_exec(db, sql, &err), &err);
}

/* Add an Enrolee; the Kpm is returned so the caller can compare (and must free it). */
static struct m2msec_secret *
add_enrolee(struct m2msec_db *db, const char *kpm_id, char **targets, size_t ntargets)
{
    struct m2msec_error err = { 0 };
    struct m2msec_enrolee_rec r = { 0 };

    r.kpm_id = mut(kpm_id);
    r.enrolee_id = mut("C-enrolee");
    r.targets = targets;
    r.ntargets = ntargets;
    r.expiry_s = 3600;
    r.policy_json = mut("{\"maf\":true}");
    r.created = 1000;
    r.kpm = m2msec_secret_random(32, &err);
    assert_non_null(r.kpm);
    assert_ok(m2msec_mef_enrolee_add(db, &r, &err), &err);
    return r.kpm;
}

static void
put_ke(struct m2msec_db *db, const char *kpm_id, uint8_t relbyte, int64_t created, int64_t expires,
       struct m2msec_secret **keout)
{
    struct m2msec_error err = { 0 };
    uint8_t rel[16];
    struct m2msec_secret *ke = m2msec_secret_random(32, &err);

    assert_non_null(ke);
    memset(rel, relbyte, sizeof(rel));
    assert_ok(m2msec_mef_ke_put(db, kpm_id, rel, ke, created, expires, &err), &err);
    if (keout != NULL) {
        *keout = ke;
    } else {
        m2msec_secret_free(ke);
    }
}

static void
make_reg(struct m2msec_mefreg_rec *r, const char *kpm_id, const char *fqdn, int64_t expires,
         char **labels, size_t nlabels)
{
    struct m2msec_error err = { 0 };

    memset(r, 0, sizeof(*r));
    assert_ok(m2msec_rand_hex(r->reg_id, 16, &err), &err);
    r->kpm_id = mut(kpm_id);
    r->client_id = mut("C-client");
    r->admin_fqdn = mut(fqdn);
    r->labels = labels;
    r->nlabels = nlabels;
    r->expires = expires;
}

/* Whole file into memory (tests only). */
static unsigned char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;

    *len = 0;
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/*
 * Opening
 */

static void
test_open_creates_0600_wal(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db;
    struct m2msec_secret *kpm;
    struct stat stb;
    char wal[160];
    mode_t old = umask(0); /* a permissive umask must not widen the mode */

    db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    umask(old);
    assert_int_equal(stat(fx->path, &stb), 0);
    assert_int_equal(stb.st_mode & 0777, 0600);
    assert_int_equal(m2msec_db_schema_version(db), MEF_SCHEMA_VERSION);
    assert_int_equal(
            query(db, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
    assert_int_equal(query(db, "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(query(db, "PRAGMA secure_delete"), 1);
    assert_int_equal(query(db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(query(db, "PRAGMA busy_timeout"), 5000);
    /* Defensive mode: even with writable_schema the schema table stays read-only. */
    exec(db, "PRAGMA writable_schema = ON");
    assert_fails(m2msec_db_test_exec(db, "UPDATE sqlite_master SET name = name", &err), &err,
                 M2MSEC_ERR_STORE, 0);
    exec(db, "PRAGMA writable_schema = OFF");

    kpm = add_enrolee(db, "kpm-a", NULL, 0);
    snprintf(wal, sizeof(wal), "%s-wal", fx->path);
    assert_int_equal(stat(wal, &stb), 0);
    assert_int_equal(stb.st_mode & 0777, 0600);
    m2msec_secret_free(kpm);
    m2msec_db_close(db);
    m2msec_db_close(NULL);
}

static void
test_open_rejects(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_secret *short_kek = m2msec_secret_random(16, &err);
    char junk[160];
    FILE *f;
    static const struct {
        const char *name;
        int bad_path;
        int bad_kind;
        int bad_kek;
    } cases[] = {
        { "no path", 1, 0, 0 },
        { "unknown schema kind", 0, 1, 0 },
        { "KEK too short", 0, 0, 1 },
    };
    size_t i;

    assert_non_null(short_kek);
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        memset(&err, 0, sizeof(err));
        assert_null(m2msec_db_open(cases[i].bad_path ? NULL : fx->path,
                                   cases[i].bad_kind ? (enum m2msec_schema)99 : M2MSEC_SCHEMA_MEF,
                                   cases[i].bad_kek ? short_kek : fx->kek, &err));
        assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    }
    assert_null(m2msec_db_open(fx->path, M2MSEC_SCHEMA_MEF, NULL, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(m2msec_db_open("", M2MSEC_SCHEMA_MEF, fx->kek, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    /* A directory, a missing parent directory, and a file that is not a database at all. */
    assert_null(m2msec_db_open(fx->dir, M2MSEC_SCHEMA_MEF, fx->kek, &err));
    assert_int_equal(err.code, M2MSEC_ERR_STORE);
    snprintf(junk, sizeof(junk), "%s/missing/state.db", fx->dir);
    assert_null(m2msec_db_open(junk, M2MSEC_SCHEMA_MEF, fx->kek, &err));
    assert_int_equal(err.code, M2MSEC_ERR_IO);
    snprintf(junk, sizeof(junk), "%s/junk.db", fx->dir);
    f = fopen(junk, "wb");
    assert_non_null(f);
    for (i = 0; i < 64; i++) {
        fputs("this is not an sqlite database, just text.\n", f);
    }
    fclose(f);
    assert_null(m2msec_db_open(junk, M2MSEC_SCHEMA_MEF, fx->kek, &err));
    assert_int_equal(err.code, M2MSEC_ERR_STORE);
    m2msec_secret_free(short_kek);
}

static void
test_reopen_keeps_data(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_enrolee_rec *r = NULL;
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm = add_enrolee(db, "kpm-a", NULL, 0);

    m2msec_db_close(db);
    db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    assert_int_equal(m2msec_db_schema_version(db), MEF_SCHEMA_VERSION);
    assert_ok(m2msec_mef_enrolee_get(db, "kpm-a", 1, &r, &err), &err);
    assert_true(m2msec_secret_equal(r->kpm, kpm));
    m2msec_enrolee_rec_free(r);
    m2msec_secret_free(kpm);
    m2msec_db_close(db);
}

static void
test_schema_kind_mismatch(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    char devpath[160];

    m2msec_db_close(db);
    assert_null(m2msec_db_open(fx->path, M2MSEC_SCHEMA_DEVICE, fx->kek, &err));
    assert_int_equal(err.code, M2MSEC_ERR_STORE);
    assert_contains(err.msg, "mef state");

    /* The other way round. */
    snprintf(devpath, sizeof(devpath), "%s/dev.db", fx->dir);
    db = m2msec_db_open(devpath, M2MSEC_SCHEMA_DEVICE, fx->kek, &err);
    assert_non_null(db);
    m2msec_db_close(db);
    assert_null(m2msec_db_open(devpath, M2MSEC_SCHEMA_MEF, fx->kek, &err));
    assert_int_equal(err.code, M2MSEC_ERR_STORE);
    assert_contains(err.msg, "device state");
    /* The right kind still opens. */
    db = m2msec_db_open(devpath, M2MSEC_SCHEMA_DEVICE, fx->kek, &err);
    assert_non_null(db);
    m2msec_db_close(db);
}

static void
test_future_version_refused(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);

    /* The version this code knows reopens; one more is refused. */
    exec(db, "PRAGMA user_version = " M2MSEC_STR(MEF_SCHEMA_VERSION));
    m2msec_db_close(db);
    db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    exec(db, "PRAGMA user_version = " M2MSEC_STR(MEF_SCHEMA_NEXT));
    m2msec_db_close(db);
    assert_null(m2msec_db_open(fx->path, M2MSEC_SCHEMA_MEF, fx->kek, &err));
    assert_int_equal(err.code, M2MSEC_ERR_STORE);
    assert_contains(err.msg, "newer");
}

static void
test_foreign_database_refused(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);

    /* Tables but no schema version: someone else's SQLite file. */
    exec(db, "PRAGMA user_version = 0");
    m2msec_db_close(db);
    assert_null(m2msec_db_open(fx->path, M2MSEC_SCHEMA_MEF, fx->kek, &err));
    assert_int_equal(err.code, M2MSEC_ERR_STORE);
    assert_contains(err.msg, "not an m2msec database");
}

/*
 * Enrolees
 */

static void
test_enrolee_crud(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    char *targets[] = { mut("maf-3"), mut("maf-1"), mut("C-b\nx"), NULL };
    struct m2msec_enrolee_rec *r = NULL;
    struct m2msec_enrolee_rec **list = NULL;
    struct m2msec_secret *kpm_b = add_enrolee(db, "kpm-b", NULL, 0);
    struct m2msec_secret *kpm_a = add_enrolee(db, "kpm-a", targets, 3);
    size_t n = 99;

    assert_ok(m2msec_mef_enrolee_get(db, "kpm-a", 1, &r, &err), &err);
    assert_string_equal(r->kpm_id, "kpm-a");
    assert_string_equal(r->enrolee_id, "C-enrolee");
    assert_string_equal(r->policy_json, "{\"maf\":true}");
    assert_int_equal(r->expiry_s, 3600);
    assert_int_equal(r->created, 1000);
    assert_int_equal(r->ntargets, 3);
    assert_string_equal(r->targets[0], "maf-3");
    assert_string_equal(r->targets[1], "maf-1");
    assert_string_equal(r->targets[2], "C-b\nx");
    assert_null(r->targets[3]);
    assert_non_null(r->kpm);
    assert_true(m2msec_secret_equal(r->kpm, kpm_a));
    assert_false(m2msec_secret_equal(r->kpm, kpm_b));
    m2msec_enrolee_rec_free(r);
    r = NULL;

    /* Without with_kpm no key is unsealed; an empty target list is an empty array. */
    assert_ok(m2msec_mef_enrolee_get(db, "kpm-b", 0, &r, &err), &err);
    assert_null(r->kpm);
    assert_int_equal(r->ntargets, 0);
    assert_non_null(r->targets);
    assert_null(r->targets[0]);
    m2msec_enrolee_rec_free(r);
    r = NULL;

    /* List: ordered by KpmID, without keys. */
    assert_ok(m2msec_mef_enrolee_list(db, &list, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_string_equal(list[0]->kpm_id, "kpm-a");
    assert_string_equal(list[1]->kpm_id, "kpm-b");
    assert_null(list[2]);
    assert_null(list[0]->kpm);
    assert_int_equal(list[0]->ntargets, 3);
    assert_string_equal(list[0]->targets[1], "maf-1");
    m2msec_enrolee_list_free(list);
    list = NULL;

    /* Unknown: NOT_FOUND 4004 (and *out stays NULL). */
    assert_fails(m2msec_mef_enrolee_get(db, "kpm-zz", 1, &r, &err), &err, M2MSEC_ERR_NOT_FOUND,
                 4004);
    assert_null(r);

    /* Remove; then it is gone and a second remove is NOT_FOUND. */
    assert_ok(m2msec_mef_enrolee_remove(db, "kpm-a", &err), &err);
    assert_fails(m2msec_mef_enrolee_get(db, "kpm-a", 0, &r, &err), &err, M2MSEC_ERR_NOT_FOUND,
                 4004);
    assert_fails(m2msec_mef_enrolee_remove(db, "kpm-a", &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee_target"), 0);
    assert_ok(m2msec_mef_enrolee_list(db, &list, &n, &err), &err);
    assert_int_equal(n, 1);
    m2msec_enrolee_list_free(list);
    m2msec_enrolee_list_free(NULL);
    m2msec_enrolee_rec_free(NULL);

    m2msec_secret_free(kpm_a);
    m2msec_secret_free(kpm_b);
    m2msec_db_close(db);
}

static void
test_enrolee_add_rejects(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm = add_enrolee(db, "kpm-a", NULL, 0);
    char *null_target[] = { mut("maf-1"), NULL };
    char *empty_target[] = { mut("maf-1"), mut(""), NULL };
    struct m2msec_enrolee_rec r;
    static const struct {
        const char *name;
        int what; /* which field to break */
        enum m2msec_err code;
        int rsc;
    } cases[] = {
        { "duplicate KpmID", 0, M2MSEC_ERR_REFUSED, 4105 },
        { "no KpmID", 1, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "empty KpmID", 2, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "no Enrolee-ID", 3, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "no Kpm", 4, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "NULL target inside count", 5, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "empty target", 6, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "expiry beyond INT64_MAX", 7, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "targets count without list", 8, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
    };
    size_t i;

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        memset(&r, 0, sizeof(r));
        r.kpm_id = mut("kpm-a");
        r.enrolee_id = mut("C-x");
        r.kpm = kpm;
        r.expiry_s = 60;
        switch (cases[i].what) {
        case 1:
            r.kpm_id = NULL;
            break;
        case 2:
            r.kpm_id = mut("");
            break;
        case 3:
            r.kpm_id = mut("kpm-new");
            r.enrolee_id = NULL;
            break;
        case 4:
            r.kpm_id = mut("kpm-new");
            r.kpm = NULL;
            break;
        case 5:
            r.kpm_id = mut("kpm-new");
            r.targets = null_target;
            r.ntargets = 2;
            break;
        case 6:
            r.kpm_id = mut("kpm-new");
            r.targets = empty_target;
            r.ntargets = 2;
            break;
        case 7:
            r.kpm_id = mut("kpm-new");
            r.expiry_s = (uint64_t)INT64_MAX + 1;
            break;
        case 8:
            r.kpm_id = mut("kpm-new");
            r.ntargets = 1;
            break;
        default:
            break;
        }
        memset(&err, 0, sizeof(err));
        if (m2msec_mef_enrolee_add(db, &r, &err) != -1 || err.code != cases[i].code ||
            (cases[i].rsc != 0 && err.rsc != cases[i].rsc)) {
            print_error("case %s: code %d rsc %d %s\n", cases[i].name, (int)err.code, err.rsc,
                        err.msg);
            fail();
        }
    }
    /* Nothing half-written survived any of them. */
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee"), 1);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee_target"), 0);
    /* The accepted neighbour: the same record under a new KpmID. */
    memset(&r, 0, sizeof(r));
    r.kpm_id = mut("kpm-new");
    r.enrolee_id = mut("C-x");
    r.kpm = kpm;
    r.expiry_s = (uint64_t)INT64_MAX;
    assert_ok(m2msec_mef_enrolee_add(db, &r, &err), &err);
    m2msec_secret_free(kpm);
    m2msec_db_close(db);
}

/*
 * Certificate Enrolees (schema v5, TS-0003 8.3.2.2)
 */

#define DEV_CRED "31-0.2.481.1.7.8.9"
#define DEV_HWID "0.2.481.1.7.8.9"

/* A certificate Enrolee record over borrowed literals (nothing to free). */
static void
make_cert_enrolee(struct m2msec_enrolee_rec *r, const char *key, const char *flavour,
                  const char *id, char **cas, size_t ncas, char **crls, size_t ncrls)
{
    memset(r, 0, sizeof(*r));
    r->kpm_id = mut(key);
    r->enrolee_id = mut("C-device");
    r->expiry_s = 600;
    r->created = 2000;
    r->cert_flavour = mut(flavour);
    r->cert_id = mut(id);
    r->cert_cas = cas;
    r->ncert_cas = ncas;
    r->cert_crls = crls;
    r->ncert_crls = ncrls;
}

static void
test_cert_enrolee_crud(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm = add_enrolee(db, "kpm-a", NULL, 0);
    struct m2msec_secret *ke = NULL;
    struct m2msec_enrolee_rec in;
    struct m2msec_enrolee_rec *r = NULL;
    struct m2msec_enrolee_rec **list = NULL;
    struct m2msec_ke_rec *k = NULL;
    char *cas[] = { mut("/pki/root-a.pem"), mut("/pki/root-b.pem"), NULL };
    char *crls[] = { mut("/pki/root-a.crl"), NULL };
    char *targets[] = { mut("maf.example.com"), NULL };
    uint8_t rel[16] = { 0x31 };
    size_t n = 0;

    make_cert_enrolee(&in, DEV_CRED, "device", DEV_HWID, cas, 2, crls, 1);
    in.targets = targets;
    in.ntargets = 1;
    assert_ok(m2msec_mef_enrolee_add(db, &in, &err), &err);
    make_cert_enrolee(&in, "34-urn:oid:1.2.3", "node-id", "urn:oid:1.2.3", cas, 1, NULL, 0);
    assert_ok(m2msec_mef_enrolee_add(db, &in, &err), &err);
    /* No Kpm row content: a zero-length blob, never something that unseals. */
    assert_int_equal(query(db, "SELECT length(kpm) FROM enrolee WHERE kpm_id = '" DEV_CRED "'"), 0);

    assert_ok(m2msec_mef_enrolee_get(db, DEV_CRED, 0, &r, &err), &err);
    assert_string_equal(r->cert_flavour, "device");
    assert_string_equal(r->cert_id, DEV_HWID);
    assert_int_equal(r->ncert_cas, 2);
    assert_string_equal(r->cert_cas[0], "/pki/root-a.pem");
    assert_string_equal(r->cert_cas[1], "/pki/root-b.pem");
    assert_null(r->cert_cas[2]);
    assert_int_equal(r->ncert_crls, 1);
    assert_string_equal(r->cert_crls[0], "/pki/root-a.crl");
    assert_int_equal(r->ntargets, 1);
    assert_string_equal(r->targets[0], "maf.example.com");
    assert_int_equal(r->expiry_s, 600);
    assert_null(r->kpm);
    m2msec_enrolee_rec_free(r);
    r = NULL;
    /* A PSK lookup (with_kpm) never authenticates a certificate Enrolee. */
    assert_fails(m2msec_mef_enrolee_get(db, DEV_CRED, 1, &r, &err), &err, M2MSEC_ERR_NOT_FOUND,
                 4004);
    assert_null(r);
    /* A Kpm Enrolee has no certificate part. */
    assert_ok(m2msec_mef_enrolee_get(db, "kpm-a", 1, &r, &err), &err);
    assert_null(r->cert_flavour);
    assert_null(r->cert_id);
    assert_int_equal(r->ncert_cas, 0);
    m2msec_enrolee_rec_free(r);
    r = NULL;

    /* By certificate identity: flavour and identifier must both match, exactly. */
    assert_ok(m2msec_mef_enrolee_get_by_cert(db, "device", DEV_HWID, &r, &err), &err);
    assert_string_equal(r->kpm_id, DEV_CRED);
    m2msec_enrolee_rec_free(r);
    r = NULL;
    assert_fails(m2msec_mef_enrolee_get_by_cert(db, "node-id", DEV_HWID, &r, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_enrolee_get_by_cert(db, "device", "0.2.481.1.7.8.99", &r, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_enrolee_get_by_cert(db, "device", "", &r, &err), &err,
                 M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_enrolee_get_by_cert(db, NULL, DEV_HWID, &r, &err), &err,
                 M2MSEC_ERR_INVALID_ARGUMENT, 0);
    /* The Kpm Enrolee is not found by certificate. */
    assert_fails(m2msec_mef_enrolee_get_by_cert(db, "device", "kpm-a", &r, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);

    /* Both kinds list together, ordered by key, each with its own part. */
    assert_ok(m2msec_mef_enrolee_list(db, &list, &n, &err), &err);
    assert_int_equal(n, 3);
    assert_string_equal(list[0]->kpm_id, DEV_CRED);
    assert_string_equal(list[0]->cert_flavour, "device");
    assert_string_equal(list[1]->kpm_id, "34-urn:oid:1.2.3");
    assert_int_equal(list[1]->ncert_crls, 0);
    assert_non_null(list[1]->cert_crls);
    assert_string_equal(list[2]->kpm_id, "kpm-a");
    assert_null(list[2]->cert_flavour);
    m2msec_enrolee_list_free(list);

    /* A certificate Enrolee owns a Ke like any other; removal erases everything. */
    ke = m2msec_secret_random(32, &err);
    assert_non_null(ke);
    assert_ok(m2msec_mef_ke_put(db, DEV_CRED, rel, ke, 10, 1000, &err), &err);
    assert_ok(m2msec_mef_ke_get_by_enrolee(db, DEV_CRED, 20, 1, &k, &err), &err);
    assert_true(m2msec_secret_equal(k->ke, ke));
    m2msec_ke_rec_free(k);
    assert_ok(m2msec_mef_enrolee_remove(db, DEV_CRED, &err), &err);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee_cert"), 1);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee_cert_file"), 1);
    assert_int_equal(query(db, "SELECT count(*) FROM ke"), 0);
    assert_fails(m2msec_mef_enrolee_get_by_cert(db, "device", DEV_HWID, &r, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    /* The identity is free again. */
    make_cert_enrolee(&in, DEV_CRED, "device", DEV_HWID, cas, 1, NULL, 0);
    assert_ok(m2msec_mef_enrolee_add(db, &in, &err), &err);
    m2msec_secret_free(ke);
    m2msec_secret_free(kpm);
    m2msec_db_close(db);
}

static void
test_cert_enrolee_add_rejects(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm = add_enrolee(db, "kpm-a", NULL, 0);
    char *cas[] = { mut("/pki/root.pem"), NULL };
    char *empty[] = { mut(""), NULL };
    char *crls[] = { mut("/pki/root.crl"), NULL };
    struct m2msec_enrolee_rec r;
    static const struct {
        const char *name;
        int what; /* which field to break */
        enum m2msec_err code;
        int rsc;
    } cases[] = {
        { "same flavour and identifier under another key", 0, M2MSEC_ERR_REFUSED, 4105 },
        { "key of an existing Kpm Enrolee", 1, M2MSEC_ERR_REFUSED, 4105 },
        { "both a Kpm and a certificate", 2, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "flavour raw", 3, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "flavour fqdn", 4, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "flavour empty", 5, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "no identifier", 6, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "empty identifier", 7, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "no trust anchor", 8, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "empty trust anchor path", 9, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "empty CRL path", 10, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "CRL count without list", 11, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "Kpm Enrolee with anchors", 12, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "Kpm Enrolee with an identifier", 13, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
    };
    size_t i;

    make_cert_enrolee(&r, DEV_CRED, "device", DEV_HWID, cas, 1, crls, 1);
    assert_ok(m2msec_mef_enrolee_add(db, &r, &err), &err);
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        make_cert_enrolee(&r, "31-0.2.481.1.7.8.10", "device", "0.2.481.1.7.8.10", cas, 1, crls, 1);
        switch (cases[i].what) {
        case 0:
            r.cert_id = mut(DEV_HWID);
            break;
        case 1:
            r.kpm_id = mut("kpm-a");
            break;
        case 2:
            r.kpm = kpm;
            break;
        case 3:
            r.cert_flavour = mut("raw");
            break;
        case 4:
            r.cert_flavour = mut("fqdn");
            break;
        case 5:
            r.cert_flavour = mut("");
            break;
        case 6:
            r.cert_id = NULL;
            break;
        case 7:
            r.cert_id = mut("");
            break;
        case 8:
            r.cert_cas = NULL;
            r.ncert_cas = 0;
            break;
        case 9:
            r.cert_cas = empty;
            break;
        case 10:
            r.cert_crls = empty;
            break;
        case 11:
            r.cert_crls = NULL;
            break;
        case 12:
            r.cert_flavour = NULL;
            r.cert_id = NULL;
            r.kpm = kpm;
            break;
        case 13:
            r.cert_flavour = NULL;
            r.cert_cas = NULL;
            r.ncert_cas = 0;
            r.cert_crls = NULL;
            r.ncert_crls = 0;
            r.kpm = kpm;
            break;
        default:
            break;
        }
        memset(&err, 0, sizeof(err));
        if (m2msec_mef_enrolee_add(db, &r, &err) != -1 || err.code != cases[i].code ||
            (cases[i].rsc != 0 && err.rsc != cases[i].rsc)) {
            print_error("case %s: code %d rsc %d %s\n", cases[i].name, (int)err.code, err.rsc,
                        err.msg);
            fail();
        }
    }
    /* Nothing half-written survived any of them. */
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee"), 2);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee_cert"), 1);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee_cert_file"), 2);
    /* The schema refuses a flavour the code would not write. */
    assert_fails(m2msec_db_test_exec(db,
                                     "INSERT INTO enrolee_cert (kpm_id, flavour, cert_id)"
                                     " VALUES ('kpm-a', 'raw', 'x')",
                                     &err),
                 &err, M2MSEC_ERR_STORE, 0);
    /* The accepted neighbours: a new identity; the same identifier as another flavour. */
    make_cert_enrolee(&r, "31-0.2.481.1.7.8.10", "device", "0.2.481.1.7.8.10", cas, 1, NULL, 0);
    assert_ok(m2msec_mef_enrolee_add(db, &r, &err), &err);
    make_cert_enrolee(&r, "34-" DEV_HWID, "node-id", DEV_HWID, cas, 1, NULL, 0);
    assert_ok(m2msec_mef_enrolee_add(db, &r, &err), &err);
    m2msec_secret_free(kpm);
    m2msec_db_close(db);
}

/* A version 4 file gains the certificate tables and keeps its Enrolees and Ke. */
static void
test_migration_from_v4(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm = add_enrolee(db, "kpm-a", NULL, 0);
    struct m2msec_secret *ke = m2msec_secret_random(32, &err);
    struct m2msec_enrolee_rec *r = NULL;
    struct m2msec_enrolee_rec in;
    struct m2msec_ke_rec *k = NULL;
    char *cas[] = { mut("/pki/root.pem"), NULL };
    uint8_t rel[16] = { 0x44 };

    assert_non_null(ke);
    assert_ok(m2msec_mef_ke_put(db, "kpm-a", rel, ke, 10, 1000, &err), &err);
    exec(db, DROP_V5 " PRAGMA user_version = 4");
    m2msec_db_close(db);

    db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    assert_int_equal(m2msec_db_schema_version(db), MEF_SCHEMA_VERSION);
    assert_ok(m2msec_mef_enrolee_get(db, "kpm-a", 1, &r, &err), &err);
    assert_true(m2msec_secret_equal(r->kpm, kpm));
    assert_null(r->cert_flavour);
    assert_ok(m2msec_mef_ke_get_by_enrolee(db, "kpm-a", 20, 1, &k, &err), &err);
    assert_true(m2msec_secret_equal(k->ke, ke));
    make_cert_enrolee(&in, DEV_CRED, "device", DEV_HWID, cas, 1, NULL, 0);
    assert_ok(m2msec_mef_enrolee_add(db, &in, &err), &err);
    m2msec_ke_rec_free(k);
    m2msec_enrolee_rec_free(r);
    m2msec_secret_free(ke);
    m2msec_secret_free(kpm);
    m2msec_db_close(db);
}

/*
 * Sealing at rest
 */

static void
test_kpm_not_in_clear(void **state)
{
    struct fx *fx = *state;
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm = add_enrolee(db, "kpm-visible-id", NULL, 0);
    struct m2msec_secret *ke = NULL;
    const char *suffix[] = { "", "-wal" };
    char p[160];
    unsigned char *buf;
    size_t len;
    size_t i;
    int seen_id = 0;

    put_ke(db, "kpm-visible-id", 0x42, 1000, 5000, &ke);
    assert_non_null(ke);
    /*
     * Look at the WAL while open (it holds the new pages), then at both files
     * after close (checkpointed). The main file is not opened while the
     * connection is: closing any descriptor of it would drop SQLite's POSIX locks.
     */
    for (int round = 0; round < 2; round++) {
        for (i = round == 0 ? 1 : 0; i < ARRAY_LEN(suffix); i++) {
            snprintf(p, sizeof(p), "%s%s", fx->path, suffix[i]);
            buf = slurp(p, &len);
            if (buf == NULL) {
                continue;
            }
            assert_null(memmem(buf, len, m2msec_secret_bytes(kpm), m2msec_secret_len(kpm)));
            assert_null(memmem(buf, len, m2msec_secret_bytes(ke), m2msec_secret_len(ke)));
            /* Control: the scan does find what is stored in clear. */
            if (memmem(buf, len, "kpm-visible-id", strlen("kpm-visible-id")) != NULL) {
                seen_id = 1;
            }
            free(buf);
        }
        if (round == 0) {
            m2msec_db_close(db);
            db = NULL;
        }
    }
    assert_true(seen_id);
    m2msec_secret_free(kpm);
    m2msec_secret_free(ke);
}

static void
test_tampered_kpm_auth(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_enrolee_rec *r = NULL;
    static const char *const tamper[] = {
        /* flip a bit of the last byte (the tag) */
        "UPDATE enrolee SET kpm = CAST(substr(kpm, 1, length(kpm) - 1) ||"
        " CASE WHEN substr(kpm, -1) = X'00' THEN X'01' ELSE X'00' END AS BLOB)"
        " WHERE kpm_id = 'kpm-a'",
        /* change a ciphertext byte (after version and nonce) */
        "UPDATE enrolee SET kpm = CAST(substr(kpm, 1, 14) ||"
        " CASE WHEN substr(kpm, 15, 1) = X'00' THEN X'01' ELSE X'00' END ||"
        " substr(kpm, 16) AS BLOB) WHERE kpm_id = 'kpm-a'",
        /* truncated */
        "UPDATE enrolee SET kpm = substr(kpm, 1, 10) WHERE kpm_id = 'kpm-a'",
        /* empty */
        "UPDATE enrolee SET kpm = X'' WHERE kpm_id = 'kpm-a'",
        /* not a blob at all */
        "UPDATE enrolee SET kpm = 'garbage' WHERE kpm_id = 'kpm-a'",
    };
    size_t i;

    for (i = 0; i < ARRAY_LEN(tamper); i++) {
        struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
        struct m2msec_secret *kpm = add_enrolee(db, "kpm-a", NULL, 0);
        int64_t before = query(db, "SELECT length(kpm) FROM enrolee WHERE kpm_id = 'kpm-a'");

        /* Untampered neighbour first. */
        assert_ok(m2msec_mef_enrolee_get(db, "kpm-a", 1, &r, &err), &err);
        m2msec_enrolee_rec_free(r);
        r = NULL;
        exec(db, tamper[i]);
        if (i < 2) {
            assert_int_equal(query(db, "SELECT length(kpm) FROM enrolee WHERE kpm_id = 'kpm-a'"),
                             before);
        }
        assert_fails(m2msec_mef_enrolee_get(db, "kpm-a", 1, &r, &err), &err, M2MSEC_ERR_AUTH, 0);
        assert_null(r);
        assert_contains(err.msg, "sealed value failed authentication");
        /* The record is still readable without its key. */
        assert_ok(m2msec_mef_enrolee_get(db, "kpm-a", 0, &r, &err), &err);
        m2msec_enrolee_rec_free(r);
        r = NULL;
        assert_ok(m2msec_mef_enrolee_remove(db, "kpm-a", &err), &err);
        m2msec_secret_free(kpm);
        m2msec_db_close(db);
    }
}

static void
test_moved_blob_auth(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm_a = add_enrolee(db, "kpm-a", NULL, 0);
    struct m2msec_secret *kpm_b = add_enrolee(db, "kpm-b", NULL, 0);
    struct m2msec_enrolee_rec *r = NULL;
    struct m2msec_ke_rec *k = NULL;
    uint8_t rel2[16];

    exec(db, "UPDATE enrolee SET kpm = (SELECT kpm FROM enrolee WHERE kpm_id = 'kpm-a')"
             " WHERE kpm_id = 'kpm-b'");
    assert_fails(m2msec_mef_enrolee_get(db, "kpm-b", 1, &r, &err), &err, M2MSEC_ERR_AUTH, 0);
    assert_ok(m2msec_mef_enrolee_get(db, "kpm-a", 1, &r, &err), &err);
    assert_true(m2msec_secret_equal(r->kpm, kpm_a));
    m2msec_enrolee_rec_free(r);

    /* The same for Ke rows, bound to their RelativeKeID. */
    put_ke(db, "kpm-a", 0x01, 1000, 5000, NULL);
    put_ke(db, "kpm-b", 0x02, 1000, 5000, NULL);
    exec(db, "UPDATE ke SET ke = (SELECT ke FROM ke WHERE kpm_id = 'kpm-a')"
             " WHERE kpm_id = 'kpm-b'");
    memset(rel2, 0x02, sizeof(rel2));
    assert_fails(m2msec_mef_ke_get(db, rel2, 2000, 1, &k, &err), &err, M2MSEC_ERR_AUTH, 0);
    assert_null(k);
    assert_ok(m2msec_mef_ke_get(db, rel2, 2000, 0, &k, &err), &err);
    m2msec_ke_rec_free(k);
    m2msec_secret_free(kpm_a);
    m2msec_secret_free(kpm_b);
    m2msec_db_close(db);
}

static void
test_wrong_kek(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm = add_enrolee(db, "kpm-a", NULL, 0);
    struct m2msec_secret *other = m2msec_secret_random(32, &err);
    struct m2msec_enrolee_rec *r = NULL;

    assert_non_null(other);
    m2msec_db_close(db);
    db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_MEF, other, &err);
    assert_non_null(db);
    assert_fails(m2msec_mef_enrolee_get(db, "kpm-a", 1, &r, &err), &err, M2MSEC_ERR_AUTH, 0);
    assert_ok(m2msec_mef_enrolee_get(db, "kpm-a", 0, &r, &err), &err);
    m2msec_enrolee_rec_free(r);
    r = NULL;
    m2msec_db_close(db);
    /* The right KEK still works. */
    db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    assert_ok(m2msec_mef_enrolee_get(db, "kpm-a", 1, &r, &err), &err);
    assert_true(m2msec_secret_equal(r->kpm, kpm));
    m2msec_enrolee_rec_free(r);
    m2msec_db_close(db);
    m2msec_secret_free(other);
    m2msec_secret_free(kpm);
}

/*
 * Enrolment Keys
 */

static void
test_ke(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm = add_enrolee(db, "kpm-a", NULL, 0);
    struct m2msec_secret *ke1 = NULL;
    struct m2msec_secret *ke2 = NULL;
    struct m2msec_ke_rec *k = NULL;
    uint8_t rel1[16];
    uint8_t rel2[16];

    memset(rel1, 0x11, sizeof(rel1));
    memset(rel2, 0x22, sizeof(rel2));
    put_ke(db, "kpm-a", 0x11, 100, 200, &ke1);

    assert_ok(m2msec_mef_ke_get(db, rel1, 150, 1, &k, &err), &err);
    assert_memory_equal(k->rel, rel1, 16);
    assert_string_equal(k->kpm_id, "kpm-a");
    assert_int_equal(k->created, 100);
    assert_int_equal(k->expires, 200);
    assert_true(m2msec_secret_equal(k->ke, ke1));
    m2msec_ke_rec_free(k);
    k = NULL;
    assert_ok(m2msec_mef_ke_get(db, rel1, 150, 0, &k, &err), &err);
    assert_null(k->ke);
    m2msec_ke_rec_free(k);
    k = NULL;
    assert_ok(m2msec_mef_ke_get_by_enrolee(db, "kpm-a", 199, 1, &k, &err), &err);
    assert_memory_equal(k->rel, rel1, 16);
    assert_true(m2msec_secret_equal(k->ke, ke1));
    m2msec_ke_rec_free(k);
    k = NULL;

    /* Expiry: expires <= now is absent. */
    assert_fails(m2msec_mef_ke_get(db, rel1, 200, 1, &k, &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_ke_get_by_enrolee(db, "kpm-a", 201, 0, &k, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_null(k);
    /* Unknown ids. */
    assert_fails(m2msec_mef_ke_get(db, rel2, 150, 0, &k, &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_ke_get_by_enrolee(db, "kpm-zz", 150, 0, &k, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);

    /* Re-put replaces: the old RelativeKeID is gone and only one row remains. */
    put_ke(db, "kpm-a", 0x22, 300, 400, &ke2);
    assert_fails(m2msec_mef_ke_get(db, rel1, 150, 0, &k, &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_int_equal(query(db, "SELECT count(*) FROM ke WHERE kpm_id = 'kpm-a'"), 1);
    assert_ok(m2msec_mef_ke_get_by_enrolee(db, "kpm-a", 350, 1, &k, &err), &err);
    assert_memory_equal(k->rel, rel2, 16);
    assert_true(m2msec_secret_equal(k->ke, ke2));
    m2msec_ke_rec_free(k);
    m2msec_ke_rec_free(NULL);

    /* Rejected puts leave the current Ke in place. */
    assert_fails(m2msec_mef_ke_put(db, "kpm-zz", rel1, ke1, 100, 200, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_ke_put(db, "kpm-a", rel1, ke1, 200, 200, &err), &err,
                 M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_ke_put(db, "kpm-a", rel1, NULL, 100, 200, &err), &err,
                 M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_ke_put(db, "", rel1, ke1, 100, 200, &err), &err,
                 M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_int_equal(query(db, "SELECT count(*) FROM ke"), 1);
    assert_int_equal(
            query(db, "SELECT count(*) FROM ke WHERE rel = X'22222222222222222222222222222222'"),
            1);

    /* A tampered Ke is AUTH. */
    exec(db, "UPDATE ke SET ke = CAST(substr(ke, 1, length(ke) - 1) ||"
             " CASE WHEN substr(ke, -1) = X'00' THEN X'01' ELSE X'00' END AS BLOB)");
    assert_fails(m2msec_mef_ke_get(db, rel2, 350, 1, &k, &err), &err, M2MSEC_ERR_AUTH, 0);

    m2msec_secret_free(ke1);
    m2msec_secret_free(ke2);
    m2msec_secret_free(kpm);
    m2msec_db_close(db);
}

static void
test_sweep(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *k1 = add_enrolee(db, "kpm-1", NULL, 0);
    struct m2msec_secret *k2 = add_enrolee(db, "kpm-2", NULL, 0);
    struct m2msec_secret *k3 = add_enrolee(db, "kpm-3", NULL, 0);
    char *labels[] = { mut("l1"), NULL };
    struct m2msec_mefreg_rec reg;
    struct m2msec_ke_rec *k = NULL;
    size_t erased = 99;

    put_ke(db, "kpm-1", 0x01, 0, 100, NULL);
    put_ke(db, "kpm-2", 0x02, 0, 200, NULL);
    put_ke(db, "kpm-3", 0x03, 0, 300, NULL);
    make_reg(&reg, "kpm-1", "adm1.example", 150, labels, 1);
    assert_ok(m2msec_mef_reg_create(db, &reg, 0, &err), &err);
    make_reg(&reg, "kpm-1", "adm2.example", 250, labels, 1);
    assert_ok(m2msec_mef_reg_create(db, &reg, 0, &err), &err);

    /* Nothing expired yet. */
    assert_ok(m2msec_mef_sweep(db, 99, &erased, &err), &err);
    assert_int_equal(erased, 0);
    /* At 200: Ke 100 and 200 (expires <= now) and the registration at 150. */
    assert_ok(m2msec_mef_sweep(db, 200, &erased, &err), &err);
    assert_int_equal(erased, 3);
    assert_int_equal(query(db, "SELECT count(*) FROM ke"), 1);
    assert_int_equal(query(db, "SELECT count(*) FROM mefreg"), 1);
    assert_int_equal(query(db, "SELECT count(*) FROM mefreg_label"), 1);
    assert_ok(m2msec_mef_ke_get_by_enrolee(db, "kpm-3", 200, 0, &k, &err), &err);
    m2msec_ke_rec_free(k);
    /* The Enrolees themselves stay. */
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee"), 3);
    assert_ok(m2msec_mef_sweep(db, 200, &erased, &err), &err);
    assert_int_equal(erased, 0);
    assert_ok(m2msec_mef_sweep(db, 1000, NULL, &err), &err);
    assert_int_equal(query(db, "SELECT count(*) FROM ke"), 0);

    m2msec_secret_free(k1);
    m2msec_secret_free(k2);
    m2msec_secret_free(k3);
    m2msec_db_close(db);
}

static void
test_enrolee_remove_cascades(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    char *targets[] = { mut("maf-1"), mut("maf-2"), NULL };
    char *labels[] = { mut("l1"), mut("l2"), NULL };
    struct m2msec_secret *ka = add_enrolee(db, "kpm-a", targets, 2);
    struct m2msec_secret *kb = add_enrolee(db, "kpm-b", targets, 2);
    struct m2msec_mefreg_rec reg;
    struct m2msec_mefreg_rec *got = NULL;
    char keep[33];

    put_ke(db, "kpm-a", 0x0a, 0, 1000, NULL);
    put_ke(db, "kpm-b", 0x0b, 0, 1000, NULL);
    make_reg(&reg, "kpm-a", "adm1.example", 1000, labels, 2);
    assert_ok(m2msec_mef_reg_create(db, &reg, 0, &err), &err);
    make_reg(&reg, "kpm-a", "adm2.example", 1000, labels, 2);
    assert_ok(m2msec_mef_reg_create(db, &reg, 0, &err), &err);
    make_reg(&reg, "kpm-b", "adm1.example", 1000, labels, 2);
    assert_ok(m2msec_mef_reg_create(db, &reg, 0, &err), &err);
    memcpy(keep, reg.reg_id, sizeof(keep));

    assert_ok(m2msec_mef_enrolee_remove(db, "kpm-a", &err), &err);
    assert_int_equal(query(db, "SELECT count(*) FROM ke WHERE kpm_id = 'kpm-a'"), 0);
    assert_int_equal(query(db, "SELECT count(*) FROM mefreg WHERE kpm_id = 'kpm-a'"), 0);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee_target WHERE kpm_id = 'kpm-a'"), 0);
    /* Only kpm-b's registration's labels remain. */
    assert_int_equal(query(db, "SELECT count(*) FROM mefreg_label"), 2);
    /* The neighbour is untouched. */
    assert_int_equal(query(db, "SELECT count(*) FROM ke WHERE kpm_id = 'kpm-b'"), 1);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee_target WHERE kpm_id = 'kpm-b'"), 2);
    assert_ok(m2msec_mef_reg_get(db, keep, 0, &got, &err), &err);
    m2msec_mefreg_rec_free(got);
    m2msec_secret_free(ka);
    m2msec_secret_free(kb);
    m2msec_db_close(db);
}

/*
 * MEF Client Registrations
 */

static void
test_reg_lifecycle(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    char *labels[] = { mut("zeta"), mut("alpha"), mut("m i d"), NULL };
    char *labels2[] = { mut("new"), NULL };
    struct m2msec_mefreg_rec reg;
    struct m2msec_mefreg_rec *got = NULL;
    char id[33];

    make_reg(&reg, "kpm-a", "adm.example", 1000, labels, 3);
    memcpy(id, reg.reg_id, sizeof(id));
    assert_int_equal(strlen(id), 32);
    assert_ok(m2msec_mef_reg_create(db, &reg, 100, &err), &err);

    assert_ok(m2msec_mef_reg_get(db, id, 100, &got, &err), &err);
    assert_string_equal(got->reg_id, id);
    assert_string_equal(got->kpm_id, "kpm-a");
    assert_string_equal(got->client_id, "C-client");
    assert_string_equal(got->admin_fqdn, "adm.example");
    assert_int_equal(got->expires, 1000);
    assert_int_equal(got->nlabels, 3);
    assert_string_equal(got->labels[0], "zeta");
    assert_string_equal(got->labels[1], "alpha");
    assert_string_equal(got->labels[2], "m i d");
    assert_null(got->labels[3]);
    m2msec_mefreg_rec_free(got);
    got = NULL;

    /* Update expirationTime only: labels unchanged. */
    assert_ok(m2msec_mef_reg_update(db, id, 100, 1, 2000, 0, NULL, 0, &err), &err);
    assert_ok(m2msec_mef_reg_get(db, id, 100, &got, &err), &err);
    assert_int_equal(got->expires, 2000);
    assert_int_equal(got->nlabels, 3);
    assert_string_equal(got->labels[0], "zeta");
    m2msec_mefreg_rec_free(got);
    got = NULL;
    /* Labels only: expiry unchanged. */
    assert_ok(m2msec_mef_reg_update(db, id, 100, 0, 0, 1, labels2, 1, &err), &err);
    assert_ok(m2msec_mef_reg_get(db, id, 100, &got, &err), &err);
    assert_int_equal(got->expires, 2000);
    assert_int_equal(got->nlabels, 1);
    assert_string_equal(got->labels[0], "new");
    assert_null(got->labels[1]);
    m2msec_mefreg_rec_free(got);
    got = NULL;
    /* An empty label list clears them. */
    assert_ok(m2msec_mef_reg_update(db, id, 100, 0, 0, 1, NULL, 0, &err), &err);
    assert_ok(m2msec_mef_reg_get(db, id, 100, &got, &err), &err);
    assert_int_equal(got->nlabels, 0);
    assert_null(got->labels);
    m2msec_mefreg_rec_free(got);
    got = NULL;
    m2msec_mefreg_rec_free(NULL);

    /* Rejected updates change nothing. */
    assert_fails(m2msec_mef_reg_update(db, id, 100, 1, 100, 0, NULL, 0, &err), &err,
                 M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_reg_update(db, id, 100, 0, 0, 1, labels2, 2, &err), &err,
                 M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_reg_update(db, "00000000000000000000000000000000", 100, 1, 3000, 0,
                                       NULL, 0, &err),
                 &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_int_equal(query(db, "SELECT expires FROM mefreg"), 2000);

    /* Expired: absent for get, update and delete. */
    assert_ok(m2msec_mef_reg_get(db, id, 1999, &got, &err), &err);
    m2msec_mefreg_rec_free(got);
    got = NULL;
    assert_fails(m2msec_mef_reg_get(db, id, 2000, &got, &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_null(got);
    assert_fails(m2msec_mef_reg_update(db, id, 2000, 1, 5000, 0, NULL, 0, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_reg_delete(db, id, 2000, &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);

    /* Live delete; then gone. */
    assert_ok(m2msec_mef_reg_delete(db, id, 1999, &err), &err);
    assert_fails(m2msec_mef_reg_get(db, id, 100, &got, &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_reg_delete(db, id, 100, &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_int_equal(query(db, "SELECT count(*) FROM mefreg_label"), 0);
    /* Malformed ids are simply unknown. */
    assert_fails(m2msec_mef_reg_get(db, "nope", 100, &got, &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    m2msec_db_close(db);
}

static void
test_reg_conflict_and_rejects(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    char *bad_labels[] = { mut("ok"), mut(""), NULL };
    struct m2msec_mefreg_rec reg;
    char first[33];
    size_t i;
    static const struct {
        const char *name;
        const char *reg_id; /* NULL: a fresh random id */
        const char *kpm_id;
        const char *fqdn;
        int64_t expires;
        int bad_labels;
        enum m2msec_err code;
        int rsc;
    } cases[] = {
        { "same owner and adminFQDN", NULL, "kpm-a", "adm.example", 900, 0, M2MSEC_ERR_REFUSED,
          4105 },
        { "adminFQDN differs only in case", NULL, "kpm-a", "ADM.Example", 900, 0,
          M2MSEC_ERR_REFUSED, 4105 },
        { "uppercase hex id", "0123456789ABCDEF0123456789abcdef", "kpm-a", "o.example", 900, 0,
          M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "short id", "0123456789abcdef0123456789abcde", "kpm-a", "o.example", 900, 0,
          M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "non-hex id", "0123456789abcdef0123456789abcdeg", "kpm-a", "o.example", 900, 0,
          M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "already expired", NULL, "kpm-a", "o.example", 100, 0, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "no adminFQDN", NULL, "kpm-a", "", 900, 0, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "no owner", NULL, NULL, "o.example", 900, 0, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
        { "empty label", NULL, "kpm-a", "o.example", 900, 1, M2MSEC_ERR_INVALID_ARGUMENT, 0 },
    };

    make_reg(&reg, "kpm-a", "adm.example", 1000, NULL, 0);
    memcpy(first, reg.reg_id, sizeof(first));
    assert_ok(m2msec_mef_reg_create(db, &reg, 100, &err), &err);

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        make_reg(&reg, cases[i].kpm_id, cases[i].fqdn, cases[i].expires,
                 cases[i].bad_labels ? bad_labels : NULL, cases[i].bad_labels ? 2 : 0);
        if (cases[i].reg_id != NULL) {
            memcpy(reg.reg_id, cases[i].reg_id, strlen(cases[i].reg_id) + 1);
        }
        memset(&err, 0, sizeof(err));
        if (m2msec_mef_reg_create(db, &reg, 100, &err) != -1 || err.code != cases[i].code ||
            (cases[i].rsc != 0 && err.rsc != cases[i].rsc)) {
            print_error("case %s: code %d rsc %d %s\n", cases[i].name, (int)err.code, err.rsc,
                        err.msg);
            fail();
        }
    }
    /* Same id again, live: refused. */
    make_reg(&reg, "kpm-b", "x.example", 1000, NULL, 0);
    memcpy(reg.reg_id, first, sizeof(first));
    assert_fails(m2msec_mef_reg_create(db, &reg, 100, &err), &err, M2MSEC_ERR_REFUSED, 4105);
    assert_int_equal(query(db, "SELECT count(*) FROM mefreg"), 1);

    /* Accepted neighbours: another adminFQDN; the same adminFQDN for another owner. */
    make_reg(&reg, "kpm-a", "other.example", 1000, NULL, 0);
    assert_ok(m2msec_mef_reg_create(db, &reg, 100, &err), &err);
    make_reg(&reg, "kpm-b", "adm.example", 1000, NULL, 0);
    assert_ok(m2msec_mef_reg_create(db, &reg, 100, &err), &err);
    /* Once the first has expired, its owner may register for that stakeholder again,
     * even under the dead record's id. */
    make_reg(&reg, "kpm-a", "adm.example", 5000, NULL, 0);
    memcpy(reg.reg_id, first, sizeof(first));
    assert_ok(m2msec_mef_reg_create(db, &reg, 1000, &err), &err);
    assert_int_equal(query(db, "SELECT count(*) FROM mefreg"), 3);
    m2msec_db_close(db);
}

/*
 * Device state
 */

static void
test_device_enrolment(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_DEVICE);
    struct m2msec_enrolment_rec in = { 0 };
    struct m2msec_enrolment_rec *got = NULL;
    struct m2msec_secret *ke1 = m2msec_secret_random(32, &err);
    struct m2msec_secret *ke2 = m2msec_secret_random(32, &err);
    int erased = 99;

    assert_non_null(ke1);
    assert_non_null(ke2);
    assert_fails(m2msec_dev_enrolment_get(db, 0, &got, &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);

    in.keid = mut("00112233445566778899aabbccddeeff@mef.example");
    in.mef = mut("mef.example:8443");
    in.kpm_id = mut("kpm-dev");
    in.enrolee_id = mut("C-dev");
    in.created = 100;
    in.expires = 500;
    in.exchange_json = mut("[{\"type\":\"mafEnrolment\"}]");
    in.ke = ke1;
    assert_ok(m2msec_dev_enrolment_put(db, &in, &err), &err);
    assert_ok(m2msec_dev_enrolment_get(db, 1, &got, &err), &err);
    assert_string_equal(got->keid, in.keid);
    assert_string_equal(got->mef, in.mef);
    assert_string_equal(got->kpm_id, "kpm-dev");
    assert_string_equal(got->enrolee_id, "C-dev");
    assert_string_equal(got->exchange_json, in.exchange_json);
    assert_int_equal(got->created, 100);
    assert_int_equal(got->expires, 500);
    assert_true(m2msec_secret_equal(got->ke, ke1));
    m2msec_enrolment_rec_free(got);
    got = NULL;

    /* Replace: optional fields NULL, a new key; one row only. */
    in.keid = mut("ffeeddccbbaa99887766554433221100@mef.example");
    in.enrolee_id = NULL;
    in.exchange_json = NULL;
    in.created = 200;
    in.expires = 600;
    in.ke = ke2;
    assert_ok(m2msec_dev_enrolment_put(db, &in, &err), &err);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolment"), 1);
    assert_ok(m2msec_dev_enrolment_get(db, 1, &got, &err), &err);
    assert_string_equal(got->keid, in.keid);
    assert_null(got->enrolee_id);
    assert_null(got->exchange_json);
    assert_true(m2msec_secret_equal(got->ke, ke2));
    m2msec_enrolment_rec_free(got);
    got = NULL;
    m2msec_enrolment_rec_free(NULL);

    /* Rejected puts keep the current enrolment. */
    in.kpm_id = NULL;
    assert_fails(m2msec_dev_enrolment_put(db, &in, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    in.kpm_id = mut("kpm-dev");
    in.ke = NULL;
    assert_fails(m2msec_dev_enrolment_put(db, &in, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    in.ke = ke2;
    in.expires = in.created;
    assert_fails(m2msec_dev_enrolment_put(db, &in, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolment WHERE expires = 600"), 1);

    /* Sweep: not yet expired (599), then expired (600 = expires). */
    assert_ok(m2msec_dev_sweep(db, 599, &erased, &err), &err);
    assert_int_equal(erased, 0);
    assert_ok(m2msec_dev_enrolment_get(db, 1, &got, &err), &err);
    m2msec_enrolment_rec_free(got);
    got = NULL;
    assert_ok(m2msec_dev_sweep(db, 600, &erased, &err), &err);
    assert_int_equal(erased, 1);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolment WHERE ke IS NULL"), 1);
    /* Documented: with_key now fails EXPIRED; the record itself is kept. */
    assert_fails(m2msec_dev_enrolment_get(db, 1, &got, &err), &err, M2MSEC_ERR_EXPIRED, 0);
    assert_null(got);
    assert_ok(m2msec_dev_enrolment_get(db, 0, &got, &err), &err);
    assert_null(got->ke);
    assert_string_equal(got->keid, in.keid);
    m2msec_enrolment_rec_free(got);
    got = NULL;
    assert_ok(m2msec_dev_sweep(db, 10000, &erased, &err), &err);
    assert_int_equal(erased, 0);

    m2msec_secret_free(ke1);
    m2msec_secret_free(ke2);
    m2msec_db_close(db);
}

static void
test_device_wrong_kek_and_tamper(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_DEVICE);
    struct m2msec_enrolment_rec in = { 0 };
    struct m2msec_enrolment_rec *got = NULL;
    struct m2msec_secret *ke = m2msec_secret_random(32, &err);
    struct m2msec_secret *other = m2msec_secret_random(32, &err);

    assert_non_null(ke);
    assert_non_null(other);
    in.keid = mut("00112233445566778899aabbccddeeff@mef.example");
    in.mef = mut("mef.example:8443");
    in.kpm_id = mut("kpm-dev");
    in.created = 100;
    in.expires = 500;
    in.ke = ke;
    assert_ok(m2msec_dev_enrolment_put(db, &in, &err), &err);
    m2msec_db_close(db);

    db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_DEVICE, other, &err);
    assert_non_null(db);
    assert_fails(m2msec_dev_enrolment_get(db, 1, &got, &err), &err, M2MSEC_ERR_AUTH, 0);
    assert_null(got);
    assert_ok(m2msec_dev_enrolment_get(db, 0, &got, &err), &err);
    m2msec_enrolment_rec_free(got);
    got = NULL;
    m2msec_db_close(db);

    /* Right KEK, but the row's KeID changed: the AAD no longer matches. */
    db = open_kind(fx, M2MSEC_SCHEMA_DEVICE);
    assert_ok(m2msec_dev_enrolment_get(db, 1, &got, &err), &err);
    assert_true(m2msec_secret_equal(got->ke, ke));
    m2msec_enrolment_rec_free(got);
    got = NULL;
    exec(db, "UPDATE enrolment SET keid = 'aa112233445566778899aabbccddeeff@mef.example'");
    assert_fails(m2msec_dev_enrolment_get(db, 1, &got, &err), &err, M2MSEC_ERR_AUTH, 0);
    m2msec_db_close(db);
    m2msec_secret_free(ke);
    m2msec_secret_free(other);
}

/*
 * A statement failing inside a transaction (forced with a trigger) rolls back
 * everything before it, and the SQLite message reaches the error.
 */
static void
test_failure_rolls_back(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    char *boom_targets[] = { mut("maf-1"), mut("boom"), NULL };
    char *boom_labels[] = { mut("ok"), mut("boom"), NULL };
    char *labels[] = { mut("keep"), NULL };
    struct m2msec_secret *kpm = add_enrolee(db, "kpm-a", NULL, 0);
    struct m2msec_secret *ke = NULL;
    struct m2msec_enrolee_rec r = { 0 };
    struct m2msec_mefreg_rec reg;
    struct m2msec_ke_rec *k = NULL;
    struct m2msec_enrolment_rec in = { 0 };
    struct m2msec_enrolment_rec *got = NULL;
    char devpath[160];
    uint8_t rel[16];

    exec(db, "CREATE TRIGGER t_target BEFORE INSERT ON enrolee_target"
             " WHEN NEW.target = 'boom' BEGIN SELECT RAISE(ABORT, 'boom target'); END;"
             "CREATE TRIGGER t_ke BEFORE INSERT ON ke"
             " WHEN NEW.created = 666 BEGIN SELECT RAISE(ABORT, 'boom ke'); END;"
             "CREATE TRIGGER t_label BEFORE INSERT ON mefreg_label"
             " WHEN NEW.label = 'boom' BEGIN SELECT RAISE(ABORT, 'boom label'); END;");

    /* Enrolee row inserted, second target fails: no enrolee, no targets. */
    r.kpm_id = mut("kpm-b");
    r.enrolee_id = mut("C-b");
    r.kpm = kpm;
    r.targets = boom_targets;
    r.ntargets = 2;
    assert_fails(m2msec_mef_enrolee_add(db, &r, &err), &err, M2MSEC_ERR_STORE, 0);
    assert_contains(err.msg, "boom target");
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee WHERE kpm_id = 'kpm-b'"), 0);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee_target"), 0);

    /* Old Ke deleted, new insert fails: the old Ke is back. */
    put_ke(db, "kpm-a", 0x01, 100, 1000, &ke);
    memset(rel, 0x02, sizeof(rel));
    assert_fails(m2msec_mef_ke_put(db, "kpm-a", rel, ke, 666, 1000, &err), &err, M2MSEC_ERR_STORE,
                 0);
    assert_contains(err.msg, "boom ke");
    assert_ok(m2msec_mef_ke_get_by_enrolee(db, "kpm-a", 200, 1, &k, &err), &err);
    assert_int_equal(k->rel[0], 0x01);
    assert_true(m2msec_secret_equal(k->ke, ke));
    m2msec_ke_rec_free(k);

    /* Registration with a failing label: absent; label replacement failing: old labels kept. */
    make_reg(&reg, "kpm-a", "adm.example", 1000, boom_labels, 2);
    assert_fails(m2msec_mef_reg_create(db, &reg, 10, &err), &err, M2MSEC_ERR_STORE, 0);
    assert_contains(err.msg, "boom label");
    assert_int_equal(query(db, "SELECT count(*) FROM mefreg"), 0);
    make_reg(&reg, "kpm-a", "adm.example", 1000, labels, 1);
    assert_ok(m2msec_mef_reg_create(db, &reg, 10, &err), &err);
    assert_fails(m2msec_mef_reg_update(db, reg.reg_id, 10, 1, 5000, 1, boom_labels, 2, &err), &err,
                 M2MSEC_ERR_STORE, 0);
    assert_int_equal(query(db, "SELECT count(*) FROM mefreg_label WHERE label = 'keep'"), 1);
    assert_int_equal(query(db, "SELECT expires FROM mefreg"), 1000);
    /* The connection is usable afterwards (no transaction left open). */
    assert_ok(m2msec_mef_reg_update(db, reg.reg_id, 10, 1, 5000, 0, NULL, 0, &err), &err);
    m2msec_db_close(db);

    /* Device: previous enrolment survives a failing replacement. */
    snprintf(devpath, sizeof(devpath), "%s/dev.db", fx->dir);
    db = m2msec_db_open(devpath, M2MSEC_SCHEMA_DEVICE, fx->kek, &err);
    assert_non_null(db);
    exec(db, "CREATE TRIGGER t_enr BEFORE INSERT ON enrolment"
             " WHEN NEW.kpm_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom enrolment'); END;");
    in.keid = mut("00112233445566778899aabbccddeeff@mef.example");
    in.mef = mut("mef.example:8443");
    in.kpm_id = mut("kpm-dev");
    in.created = 1;
    in.expires = 100;
    in.ke = ke;
    assert_ok(m2msec_dev_enrolment_put(db, &in, &err), &err);
    in.kpm_id = mut("boom");
    assert_fails(m2msec_dev_enrolment_put(db, &in, &err), &err, M2MSEC_ERR_STORE, 0);
    assert_contains(err.msg, "boom enrolment");
    assert_ok(m2msec_dev_enrolment_get(db, 1, &got, &err), &err);
    assert_string_equal(got->kpm_id, "kpm-dev");
    assert_true(m2msec_secret_equal(got->ke, ke));
    m2msec_enrolment_rec_free(got);
    m2msec_db_close(db);
    m2msec_secret_free(ke);
    m2msec_secret_free(kpm);
}

/*
 * Enrolment Targets
 */

static void
make_target(struct m2msec_target_rec *r, const char *id, const char *cert, const char *suids)
{
    memset(r, 0, sizeof(*r));
    r->id = mut(id);
    r->cert_fqdn = mut(cert);
    r->suids = mut(suids);
    r->created = 1234;
}

static void
test_target_crud(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_target_rec in;
    struct m2msec_target_rec *got = NULL;
    struct m2msec_target_rec **list = NULL;
    size_t n = 99;

    /* Empty list: a NULL-terminated array of nothing. */
    assert_ok(m2msec_mef_target_list(db, &list, &n, &err), &err);
    assert_int_equal(n, 0);
    assert_non_null(list);
    assert_null(list[0]);
    m2msec_target_list_free(list);
    list = NULL;

    make_target(&in, "maf.example.com", "maf.example.com", "21");
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);
    make_target(&in, "/cse-b", "cse-b.example.com", "22,23");
    in.legacy = 1;
    in.lifetime_s = 600;
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);

    assert_ok(m2msec_mef_target_get(db, "/cse-b", &got, &err), &err);
    assert_string_equal(got->id, "/cse-b");
    assert_string_equal(got->cert_fqdn, "cse-b.example.com");
    assert_string_equal(got->suids, "22,23");
    assert_int_equal(got->legacy, 1);
    assert_int_equal(got->lifetime_s, 600);
    assert_int_equal(got->created, 1234);
    m2msec_target_rec_free(got);
    got = NULL;

    /* By certificate name, whatever its case; the id is compared exactly. */
    assert_ok(m2msec_mef_target_get_by_cert(db, "MAF.Example.COM", &got, &err), &err);
    assert_string_equal(got->id, "maf.example.com");
    assert_int_equal(got->legacy, 0);
    assert_int_equal(got->lifetime_s, 0);
    m2msec_target_rec_free(got);
    got = NULL;
    assert_fails(m2msec_mef_target_get(db, "MAF.example.com", &got, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_null(got);
    assert_fails(m2msec_mef_target_get_by_cert(db, "maf.example.co", &got, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_target_get_by_cert(db, "/cse-b", &got, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_null(got);

    /* Ordered by id. */
    assert_ok(m2msec_mef_target_list(db, &list, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_string_equal(list[0]->id, "/cse-b");
    assert_string_equal(list[1]->id, "maf.example.com");
    assert_null(list[2]);
    m2msec_target_list_free(list);
    list = NULL;

    assert_ok(m2msec_mef_target_remove(db, "/cse-b", &err), &err);
    assert_fails(m2msec_mef_target_remove(db, "/cse-b", &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_target_get(db, "/cse-b", &got, &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_target_get_by_cert(db, "cse-b.example.com", &got, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_int_equal(query(db, "SELECT count(*) FROM target"), 1);

    /* Many targets: the list grows past its first allocation. */
    {
        char id[32];
        char cert[32];
        int i;

        for (i = 0; i < 20; i++) {
            snprintf(id, sizeof(id), "maf%02d.example", i);
            snprintf(cert, sizeof(cert), "c%02d.example", i);
            make_target(&in, id, cert, "21");
            assert_ok(m2msec_mef_target_add(db, &in, &err), &err);
        }
    }
    assert_ok(m2msec_mef_target_list(db, &list, NULL, &err), &err);
    for (n = 0; list[n] != NULL; n++) {
    }
    assert_int_equal(n, 21);
    m2msec_target_list_free(list);
    m2msec_target_list_free(NULL);
    m2msec_target_rec_free(NULL);
    m2msec_db_close(db);

    /* Targets persist. */
    db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    assert_ok(m2msec_mef_target_get(db, "maf.example.com", &got, &err), &err);
    m2msec_target_rec_free(got);
    m2msec_db_close(db);
}

static void
test_target_duplicates(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_target_rec in;

    make_target(&in, "maf.example.com", "maf.example.com", "21");
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);

    /* Same id, another certificate. */
    make_target(&in, "maf.example.com", "other.example.com", "21");
    assert_fails(m2msec_mef_target_add(db, &in, &err), &err, M2MSEC_ERR_REFUSED, 4105);
    assert_contains(err.msg, "target maf.example.com exists");
    /* Another id, the same certificate name in another case. */
    make_target(&in, "/cse-b", "MAF.EXAMPLE.com", "22");
    assert_fails(m2msec_mef_target_add(db, &in, &err), &err, M2MSEC_ERR_REFUSED, 4105);
    assert_contains(err.msg, "already bound to target maf.example.com");
    /* The id is exact: a differently cased id with a free certificate name is stored. */
    make_target(&in, "MAF.example.com", "maf2.example.com", "21");
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);
    assert_int_equal(query(db, "SELECT count(*) FROM target"), 2);
    /* The connection is usable after the refusals (no transaction left open). */
    make_target(&in, "/cse-c", "cse-c.example.com", "22");
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);
    m2msec_db_close(db);
}

static void
test_target_add_rejects(void **state)
{
    static const struct {
        const char *id;
        const char *cert;
        const char *suids;
        int ok;
    } cases[] = {
        { "t1", "c1.example", "21", 1 }, { "t2", "c2.example", "22,23,24,25", 1 },
        { "t3", "c3.example", "0", 1 },  { "t4", "c4.example", "999", 1 },
        { NULL, "c.example", "21", 0 },  { "", "c.example", "21", 0 },
        { "t", NULL, "21", 0 },          { "t", "", "21", 0 },
        { "t", "c.example", NULL, 0 },   { "t", "c.example", "", 0 },
        { "t", "c.example", "1000", 0 }, { "t", "c.example", "21,", 0 },
        { "t", "c.example", ",21", 0 },  { "t", "c.example", "21,,22", 0 },
        { "t", "c.example", "21 ", 0 },  { "t", "c.example", "-21", 0 },
        { "t", "c.example", "2a", 0 },   { "t", "c.example", "21;22", 0 },
    };
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_target_rec in;
    struct m2msec_target_rec *got = NULL;
    struct m2msec_target_rec **list = NULL;
    size_t i;
    int rc;

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        memset(&in, 0, sizeof(in));
        in.id = mut(cases[i].id);
        in.cert_fqdn = mut(cases[i].cert);
        in.suids = mut(cases[i].suids);
        memset(&err, 0, sizeof(err));
        rc = m2msec_mef_target_add(db, &in, &err);
        if (cases[i].ok) {
            assert_ok(rc, &err);
        } else {
            assert_fails(rc, &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
        }
    }
    assert_int_equal(query(db, "SELECT count(*) FROM target"), 4);
    /* Lifetime beyond int64 and a NULL record or store. */
    make_target(&in, "t9", "c9.example", "21");
    in.lifetime_s = (uint64_t)INT64_MAX + 1;
    assert_fails(m2msec_mef_target_add(db, &in, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    in.lifetime_s = (uint64_t)INT64_MAX;
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);
    assert_fails(m2msec_mef_target_add(db, NULL, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_target_add(NULL, &in, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_target_get(db, NULL, &got, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_target_get(db, "", &got, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_target_get_by_cert(NULL, "c", &got, &err), &err,
                 M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_null(got);
    assert_fails(m2msec_mef_target_list(NULL, &list, NULL, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT,
                 0);
    assert_null(list);
    assert_fails(m2msec_mef_target_remove(db, "", &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_target_remove(NULL, "t1", &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    /* Constraints hold even for rows written behind the API's back; the control row passes. */
    {
        static const char *const raw[] = {
            "(id, cert_fqdn, suids, legacy, lifetime_s, created)"
            " VALUES ('x', 'x.example', '21', 2, 0, 0)",
            "(id, cert_fqdn, suids, legacy, lifetime_s, created)"
            " VALUES ('x', 'x.example', '21', 0, -1, 0)",
            /* neither a certificate name nor a PSK identity */
            "(id, suids, legacy, lifetime_s, created) VALUES ('x', '21', 0, 0, 0)",
            /* both */
            "(id, cert_fqdn, psk_id, psk, psk_kcv, suids, legacy, lifetime_s, created)"
            " VALUES ('x', 'x.example', 'p', x'01', 'kcv', '21', 0, 0, 0)",
            /* a PSK identity without its sealed key, or without its check value */
            "(id, psk_id, psk_kcv, suids, legacy, lifetime_s, created)"
            " VALUES ('x', 'p', 'kcv', '21', 0, 0, 0)",
            "(id, psk_id, psk, suids, legacy, lifetime_s, created)"
            " VALUES ('x', 'p', x'01', '21', 0, 0, 0)",
            /* a key on a certificate target */
            "(id, cert_fqdn, psk, suids, legacy, lifetime_s, created)"
            " VALUES ('x', 'x.example', x'01', '21', 0, 0, 0)",
            /* control: well formed, so the statements above failed for their fault */
            "(id, psk_id, psk, psk_kcv, suids, legacy, lifetime_s, created)"
            " VALUES ('x', 'p', x'01', 'kcv', '21', 0, 0, 0)",
        };
        char sql[512];

        for (i = 0; i < ARRAY_LEN(raw); i++) {
            snprintf(sql, sizeof(sql), "INSERT INTO target %s", raw[i]);
            if (i + 1 < ARRAY_LEN(raw)) {
                assert_fails(m2msec_db_test_exec(db, sql, &err), &err, M2MSEC_ERR_STORE, 0);
            } else {
                exec(db, sql);
            }
        }
    }
    m2msec_db_close(db);
}

/* A PSK target's record: id, PSK identity, a fresh key of klen bytes (the caller frees it). */
static struct m2msec_secret *
make_psk_target(struct m2msec_target_rec *r, const char *id, const char *psk_id, const char *suids,
                size_t klen)
{
    struct m2msec_error err = { 0 };

    memset(r, 0, sizeof(*r));
    r->id = mut(id);
    r->psk_id = mut(psk_id);
    r->suids = mut(suids);
    r->created = 4321;
    r->psk = m2msec_secret_random(klen, &err);
    assert_non_null(r->psk);
    return r->psk;
}

static void
test_target_psk(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_target_rec in;
    struct m2msec_target_rec *got = NULL;
    struct m2msec_target_rec **list = NULL;
    struct m2msec_secret *k1 = NULL;
    struct m2msec_secret *k2 = NULL;
    struct m2msec_secret *k3 = NULL;
    const char *suffix[] = { "", "-wal" };
    char kcv[M2MSEC_KCV_HEX_LEN];
    char p[160];
    unsigned char *buf = NULL;
    size_t len = 0;
    size_t n = 0;
    size_t i;
    int seen_id = 0;

    make_target(&in, "maf.example.com", "maf.example.com", "21");
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);
    k1 = make_psk_target(&in, "maf2.example.com", "maf2-psk", "21", 32);
    in.lifetime_s = 60;
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);
    k2 = make_psk_target(&in, "/cse-b", "cse-b@mef.example.com", "22,23", 16);
    in.legacy = 0;
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);

    /* By PSK identity with its key, which matches its check value. */
    assert_ok(m2msec_mef_target_get_by_psk(db, "maf2-psk", 1, &got, &err), &err);
    assert_string_equal(got->id, "maf2.example.com");
    assert_null(got->cert_fqdn);
    assert_string_equal(got->psk_id, "maf2-psk");
    assert_string_equal(got->suids, "21");
    assert_int_equal(got->lifetime_s, 60);
    assert_int_equal(got->created, 4321);
    assert_non_null(got->psk);
    assert_true(m2msec_secret_equal(got->psk, k1));
    assert_ok(m2msec_key_check_value(k1, kcv, &err), &err);
    assert_string_equal(got->psk_kcv, kcv);
    m2msec_target_rec_free(got);
    got = NULL;
    /* ... without it; by id and in the list never with it. */
    assert_ok(m2msec_mef_target_get_by_psk(db, "cse-b@mef.example.com", 0, &got, &err), &err);
    assert_string_equal(got->id, "/cse-b");
    assert_null(got->psk);
    assert_non_null(got->psk_kcv);
    m2msec_target_rec_free(got);
    got = NULL;
    assert_ok(m2msec_mef_target_get(db, "maf2.example.com", &got, &err), &err);
    assert_string_equal(got->psk_id, "maf2-psk");
    assert_string_equal(got->psk_kcv, kcv);
    assert_null(got->psk);
    m2msec_target_rec_free(got);
    got = NULL;
    assert_ok(m2msec_mef_target_list(db, &list, &n, &err), &err);
    assert_int_equal(n, 3);
    assert_string_equal(list[0]->id, "/cse-b");
    assert_string_equal(list[1]->id, "maf.example.com");
    assert_null(list[1]->psk_id);
    assert_null(list[1]->psk_kcv);
    assert_string_equal(list[1]->cert_fqdn, "maf.example.com");
    assert_string_equal(list[2]->psk_kcv, kcv);
    for (i = 0; i < n; i++) {
        assert_null(list[i]->psk);
    }
    m2msec_target_list_free(list);
    list = NULL;

    /* The identity is exact; a certificate name is not a PSK identity, nor the reverse. */
    assert_fails(m2msec_mef_target_get_by_psk(db, "MAF2-PSK", 1, &got, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_target_get_by_psk(db, "maf.example.com", 1, &got, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_target_get_by_cert(db, "maf2-psk", &got, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_fails(m2msec_mef_target_get_by_psk(db, "", 1, &got, &err), &err,
                 M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_target_get_by_psk(NULL, "maf2-psk", 1, &got, &err), &err,
                 M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_null(got);

    /* A PSK identity is bound to one target; another case is another identity. */
    k3 = make_psk_target(&in, "maf3.example.com", "maf2-psk", "21", 32);
    assert_fails(m2msec_mef_target_add(db, &in, &err), &err, M2MSEC_ERR_REFUSED, 4105);
    assert_contains(err.msg, "PSK identity maf2-psk is already bound to target maf2.example.com");
    in.psk_id = mut("Maf2-PSK");
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);
    in.id = mut("maf2.example.com");
    in.psk_id = mut("fresh-id");
    assert_fails(m2msec_mef_target_add(db, &in, &err), &err, M2MSEC_ERR_REFUSED, 4105);
    assert_contains(err.msg, "target maf2.example.com exists");

    /* The key is sealed: not in the files in clear (the identity is, as a control). */
    for (int round = 0; round < 2; round++) {
        for (i = round == 0 ? 1 : 0; i < ARRAY_LEN(suffix); i++) {
            snprintf(p, sizeof(p), "%s%s", fx->path, suffix[i]);
            buf = slurp(p, &len);
            if (buf == NULL) {
                continue;
            }
            assert_null(memmem(buf, len, m2msec_secret_bytes(k1), m2msec_secret_len(k1)));
            assert_null(memmem(buf, len, m2msec_secret_bytes(k2), m2msec_secret_len(k2)));
            if (memmem(buf, len, "cse-b@mef.example.com", 21) != NULL) {
                seen_id = 1;
            }
            free(buf);
        }
        if (round == 0) {
            m2msec_db_close(db);
            db = NULL;
        }
    }
    assert_true(seen_id);

    /* A sealed key moved to another target's row does not open there. */
    db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    exec(db, "UPDATE target SET psk = (SELECT psk FROM target WHERE id = 'maf2.example.com')"
             " WHERE id = '/cse-b'");
    assert_fails(m2msec_mef_target_get_by_psk(db, "cse-b@mef.example.com", 1, &got, &err), &err,
                 M2MSEC_ERR_AUTH, 0);
    assert_null(got);
    assert_ok(m2msec_mef_target_get_by_psk(db, "cse-b@mef.example.com", 0, &got, &err), &err);
    m2msec_target_rec_free(got);
    got = NULL;
    assert_ok(m2msec_mef_target_get_by_psk(db, "maf2-psk", 1, &got, &err), &err);
    assert_true(m2msec_secret_equal(got->psk, k1));
    m2msec_target_rec_free(got);
    got = NULL;

    /* Removal takes the key with it. */
    assert_ok(m2msec_mef_target_remove(db, "maf2.example.com", &err), &err);
    assert_fails(m2msec_mef_target_get_by_psk(db, "maf2-psk", 1, &got, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    assert_int_equal(query(db, "SELECT count(*) FROM target WHERE psk IS NOT NULL"), 2);
    m2msec_secret_free(k1);
    m2msec_secret_free(k2);
    m2msec_secret_free(k3);
    m2msec_db_close(db);
}

static void
test_target_psk_rejects(void **state)
{
    char long_id[M2MSEC_TARGET_PSK_ID_MAX + 2];
    static const struct {
        const char *psk_id; /* "LONG": M2MSEC_TARGET_PSK_ID_MAX + 1 bytes, "MAX": exactly */
        size_t klen;        /* 0: no key */
        int with_cert;
        int ok;
    } cases[] = {
        { "p1", 16, 0, 1 }, { "MAX", 64, 0, 1 }, { "p!~", 32, 0, 1 },  { "LONG", 32, 0, 0 },
        { "", 32, 0, 0 },   { "a b", 32, 0, 0 }, { "a\tb", 32, 0, 0 }, { "caf\xc3\xa9", 32, 0, 0 },
        { "p2", 15, 0, 0 }, { "p3", 65, 0, 0 },  { "p4", 0, 0, 0 },    { "p5", 32, 1, 0 },
        { NULL, 32, 1, 0 }, { NULL, 0, 0, 0 },
    };
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_target_rec in;
    char id[16];
    size_t i;
    int rc;

    memset(long_id, 'a', M2MSEC_TARGET_PSK_ID_MAX + 1);
    long_id[M2MSEC_TARGET_PSK_ID_MAX + 1] = '\0';
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        memset(&in, 0, sizeof(in));
        snprintf(id, sizeof(id), "t%zu", i);
        in.id = id;
        in.suids = mut("21");
        if (cases[i].psk_id != NULL && strcmp(cases[i].psk_id, "LONG") == 0) {
            in.psk_id = long_id;
        } else if (cases[i].psk_id != NULL && strcmp(cases[i].psk_id, "MAX") == 0) {
            in.psk_id = long_id + 1;
        } else {
            in.psk_id = mut(cases[i].psk_id);
        }
        if (cases[i].with_cert) {
            in.cert_fqdn = mut("c.example");
        }
        if (cases[i].klen > 0) {
            in.psk = m2msec_secret_random(cases[i].klen, &err);
            assert_non_null(in.psk);
        }
        memset(&err, 0, sizeof(err));
        rc = m2msec_mef_target_add(db, &in, &err);
        if (cases[i].ok) {
            assert_ok(rc, &err);
        } else {
            assert_fails(rc, &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
        }
        m2msec_secret_free(in.psk);
    }
    assert_int_equal(query(db, "SELECT count(*) FROM target"), 3);
    m2msec_db_close(db);
}

/* A version 3 file (certificate targets only) keeps its targets and gains PSK targets. */
static void
test_migration_from_v3(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_target_rec in;
    struct m2msec_target_rec *got = NULL;
    struct m2msec_secret *k = NULL;

    /* The target table as versions 2 and 3 wrote it, with two rows. */
    exec(db, DROP_V5);
    exec(db, "DROP TABLE target;"
             "CREATE TABLE target ("
             " id TEXT PRIMARY KEY NOT NULL,"
             " cert_fqdn TEXT NOT NULL UNIQUE COLLATE NOCASE,"
             " suids TEXT NOT NULL,"
             " legacy INTEGER NOT NULL CHECK (legacy IN (0, 1)),"
             " lifetime_s INTEGER NOT NULL CHECK (lifetime_s >= 0),"
             " created INTEGER NOT NULL);"
             "INSERT INTO target VALUES ('maf.example.com', 'maf.example.com', '21', 1, 30, 7);"
             "INSERT INTO target VALUES ('/cse-b', 'cse-b.example.com', '22,23', 0, 0, 8);"
             "PRAGMA user_version = 3");
    m2msec_db_close(db);

    db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    assert_int_equal(m2msec_db_schema_version(db), MEF_SCHEMA_VERSION);
    assert_ok(m2msec_mef_target_get_by_cert(db, "MAF.example.com", &got, &err), &err);
    assert_string_equal(got->id, "maf.example.com");
    assert_string_equal(got->suids, "21");
    assert_int_equal(got->legacy, 1);
    assert_int_equal(got->lifetime_s, 30);
    assert_int_equal(got->created, 7);
    assert_null(got->psk_id);
    assert_null(got->psk_kcv);
    m2msec_target_rec_free(got);
    got = NULL;
    assert_ok(m2msec_mef_target_get(db, "/cse-b", &got, &err), &err);
    assert_string_equal(got->cert_fqdn, "cse-b.example.com");
    m2msec_target_rec_free(got);
    got = NULL;
    /* The certificate name stays unique and case-insensitive after the rebuild. */
    make_target(&in, "/cse-c", "CSE-B.example.com", "22");
    assert_fails(m2msec_mef_target_add(db, &in, &err), &err, M2MSEC_ERR_REFUSED, 4105);
    assert_fails(m2msec_db_test_exec(db,
                                     "INSERT INTO target (id, cert_fqdn, suids, legacy,"
                                     " lifetime_s, created) VALUES ('x', 'CSE-B.EXAMPLE.COM',"
                                     " '22', 0, 0, 0)",
                                     &err),
                 &err, M2MSEC_ERR_STORE, 0);
    k = make_psk_target(&in, "/cse-d", "cse-d-psk", "22", 32);
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);
    assert_ok(m2msec_mef_target_get_by_psk(db, "cse-d-psk", 1, &got, &err), &err);
    assert_true(m2msec_secret_equal(got->psk, k));
    m2msec_target_rec_free(got);
    assert_int_equal(query(db, "SELECT count(*) FROM sqlite_master WHERE name = 'target_v4'"), 0);
    m2msec_secret_free(k);
    m2msec_db_close(db);
}

/* A file at schema version 1 (milestone 1) gains the target table and keeps its data. */
static void
test_migration_from_v1(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm = NULL;
    struct m2msec_enrolee_rec *r = NULL;
    struct m2msec_target_rec in;

    assert_int_equal(m2msec_db_schema_version(db), MEF_SCHEMA_VERSION);
    assert_int_equal(query(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                               " AND name = 'target'"),
                     1);
    kpm = add_enrolee(db, "kpm-a", NULL, 0);
    /* Back to what milestone 1 wrote. */
    exec(db, DROP_V5);
    exec(db, "DROP TABLE keyreg_label; DROP TABLE keyreg_target; DROP TABLE keyreg;"
             " DROP TABLE target; PRAGMA user_version = 1");
    m2msec_db_close(db);

    db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    assert_int_equal(m2msec_db_schema_version(db), MEF_SCHEMA_VERSION);
    assert_ok(m2msec_mef_enrolee_get(db, "kpm-a", 1, &r, &err), &err);
    assert_true(m2msec_secret_equal(r->kpm, kpm));
    make_target(&in, "maf.example.com", "maf.example.com", "21");
    assert_ok(m2msec_mef_target_add(db, &in, &err), &err);
    m2msec_db_close(db);

    /* A version 1 file whose target table already exists cannot migrate: refused, untouched. */
    db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    exec(db, "PRAGMA user_version = 1");
    m2msec_db_close(db);
    assert_null(m2msec_db_open(fx->path, M2MSEC_SCHEMA_MEF, fx->kek, &err));
    assert_int_equal(err.code, M2MSEC_ERR_STORE);
    assert_contains(err.msg, "to version 2");
    m2msec_enrolee_rec_free(r);
    m2msec_secret_free(kpm);
}

/*
 * Two connections writing at once
 */

#define CONC_ROWS 200

struct writer {
    const char *path;
    const struct m2msec_secret *kek;
    int id;
    int failures;
    struct m2msec_error err;
};

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    struct m2msec_db *db = m2msec_db_open(w->path, M2MSEC_SCHEMA_MEF, w->kek, &w->err);
    struct m2msec_secret *kpm = NULL;
    struct m2msec_secret *ke = NULL;
    struct m2msec_enrolee_rec r = { 0 };
    char kpm_id[32];
    uint8_t rel[16];
    int i;

    if (db == NULL) {
        w->failures = CONC_ROWS;
        return NULL;
    }
    kpm = m2msec_secret_random(32, &w->err);
    ke = m2msec_secret_random(32, &w->err);
    if (kpm == NULL || ke == NULL) {
        w->failures = CONC_ROWS;
        goto out;
    }
    for (i = 0; i < CONC_ROWS; i++) {
        snprintf(kpm_id, sizeof(kpm_id), "kpm-%d-%03d", w->id, i);
        memset(rel, 0, sizeof(rel));
        rel[0] = (uint8_t)w->id;
        rel[1] = (uint8_t)(i >> 8);
        rel[2] = (uint8_t)i;
        r.kpm_id = kpm_id;
        r.enrolee_id = mut("C-conc");
        r.kpm = kpm;
        r.expiry_s = 60;
        if (m2msec_mef_enrolee_add(db, &r, &w->err) == -1 ||
            m2msec_mef_ke_put(db, kpm_id, rel, ke, 0, 1000, &w->err) == -1) {
            w->failures++;
        }
    }
out:
    m2msec_secret_free(kpm);
    m2msec_secret_free(ke);
    m2msec_db_close(db);
    return NULL;
}

static void
test_two_connections(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct writer w[2];
    pthread_t th[2];
    struct m2msec_ke_rec *k = NULL;
    uint8_t rel[16];
    int i;
    int started = 0;
    int rc = 0;

    for (i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].path = fx->path;
        w[i].kek = fx->kek;
        w[i].id = i + 1;
    }
    for (i = 0; i < 2 && rc == 0; i++) {
        rc = pthread_create(&th[i], NULL, writer_main, &w[i]);
        started += rc == 0;
    }
    /* Join every started thread before any assertion can leave this function. */
    for (i = 0; i < started; i++) {
        (void)pthread_join(th[i], NULL);
    }
    assert_int_equal(rc, 0);
    for (i = 0; i < 2; i++) {
        if (w[i].failures != 0) {
            print_error("writer %d: %d failures, last: %s\n", i + 1, w[i].failures, w[i].err.msg);
            fail();
        }
    }
    assert_int_equal(query(db, "SELECT count(*) FROM ke"), 2 * CONC_ROWS);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee"), 2 * CONC_ROWS);
    /* Spot-check one row of each writer through the API. */
    memset(rel, 0, sizeof(rel));
    rel[0] = 2;
    rel[2] = CONC_ROWS - 1;
    assert_ok(m2msec_mef_ke_get(db, rel, 10, 1, &k, &err), &err);
    assert_string_equal(k->kpm_id, "kpm-2-199");
    m2msec_ke_rec_free(k);
    k = NULL;
    assert_ok(m2msec_mef_ke_get_by_enrolee(db, "kpm-1-000", 10, 1, &k, &err), &err);
    m2msec_ke_rec_free(k);
    m2msec_db_close(db);
}

/*
 * Allocation failures: every NOMEM path fails cleanly and leaves nothing half-written
 */

struct tctx {
    struct m2msec_secret *key;
    char reg_id[33];
};

static int
op_enrolee_add(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    char *targets[] = { mut("maf-1"), mut("maf-2"), NULL };
    struct m2msec_enrolee_rec r = { 0 };

    r.kpm_id = mut("kpm-t");
    r.enrolee_id = mut("C-t");
    r.targets = targets;
    r.ntargets = 2;
    r.policy_json = mut("{}");
    r.kpm = t->key;
    return m2msec_mef_enrolee_add(db, &r, err);
}

static int
op_enrolee_get(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    struct m2msec_enrolee_rec *r = NULL;
    int rc = m2msec_mef_enrolee_get(db, "kpm-t", 1, &r, err);

    (void)t;
    m2msec_enrolee_rec_free(r);
    return rc;
}

static int
op_enrolee_list(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    struct m2msec_enrolee_rec **list = NULL;
    size_t n = 0;
    int rc = m2msec_mef_enrolee_list(db, &list, &n, err);

    (void)t;
    m2msec_enrolee_list_free(list);
    return rc;
}

static int
op_ke_put(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    uint8_t rel[16];

    memset(rel, 0x77, sizeof(rel));
    return m2msec_mef_ke_put(db, "kpm-t", rel, t->key, 0, 1000, err);
}

static int
op_ke_get(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    struct m2msec_ke_rec *k = NULL;
    int rc = m2msec_mef_ke_get_by_enrolee(db, "kpm-t", 10, 1, &k, err);

    (void)t;
    m2msec_ke_rec_free(k);
    return rc;
}

static int
op_reg_create(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    char *labels[] = { mut("a"), mut("b"), NULL };
    struct m2msec_mefreg_rec r;

    make_reg(&r, "kpm-t", "adm.example", 1000, labels, 2);
    memcpy(r.reg_id, t->reg_id, sizeof(r.reg_id));
    return m2msec_mef_reg_create(db, &r, 10, err);
}

static int
op_reg_get(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    struct m2msec_mefreg_rec *r = NULL;
    int rc = m2msec_mef_reg_get(db, t->reg_id, 10, &r, err);

    m2msec_mefreg_rec_free(r);
    return rc;
}

static int
op_reg_update(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    char *labels[] = { mut("c"), NULL };

    return m2msec_mef_reg_update(db, t->reg_id, 10, 1, 2000, 1, labels, 1, err);
}

static int
op_dev_put(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    struct m2msec_enrolment_rec r = { 0 };

    r.keid = mut("00112233445566778899aabbccddeeff@mef.example");
    r.mef = mut("mef.example:8443");
    r.kpm_id = mut("kpm-dev");
    r.enrolee_id = mut("C-dev");
    r.exchange_json = mut("[]");
    r.created = 1;
    r.expires = 100;
    r.ke = t->key;
    return m2msec_dev_enrolment_put(db, &r, err);
}

static int
op_dev_get(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    struct m2msec_enrolment_rec *r = NULL;
    int rc = m2msec_dev_enrolment_get(db, 1, &r, err);

    (void)t;
    m2msec_enrolment_rec_free(r);
    return rc;
}

static int
op_target_add(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    struct m2msec_target_rec r;

    (void)t;
    make_target(&r, "maf.example.com", "maf.example.com", "21");
    return m2msec_mef_target_add(db, &r, err);
}

static int
op_target_get(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    struct m2msec_target_rec *r = NULL;
    int rc = m2msec_mef_target_get_by_cert(db, "maf.example.com", &r, err);

    (void)t;
    m2msec_target_rec_free(r);
    return rc;
}

static int
op_target_list(struct m2msec_db *db, struct tctx *t, struct m2msec_error *err)
{
    struct m2msec_target_rec **list = NULL;
    int rc = m2msec_mef_target_list(db, &list, NULL, err);

    (void)t;
    m2msec_target_list_free(list);
    return rc;
}

/*
 * Fail allocation n = 1, 2, ... of op until it succeeds. Each failure must be
 * NOMEM and leave the state query `check` (when set) at its value before.
 * allocates: op is known to allocate (so at least one failure must be seen).
 */
static void
torture(struct m2msec_db *db, const char *name,
        int (*op)(struct m2msec_db *, struct tctx *, struct m2msec_error *), struct tctx *t,
        const char *check, int allocates)
{
    struct m2msec_error err;
    int64_t before = check != NULL ? query(db, check) : 0;
    unsigned long n;
    int rc = -1;

    for (n = 1; n < 1000 && rc != 0; n++) {
        memset(&err, 0, sizeof(err));
        m2msec_test_fail_alloc_at(n);
        rc = op(db, t, &err);
        m2msec_test_fail_alloc_at(0);
        if (rc != 0 && err.code != M2MSEC_ERR_NOMEM) {
            print_error("%s, allocation %lu failing: code %d: %s\n", name, n, (int)err.code,
                        err.msg);
            fail();
        }
        if (rc != 0 && check != NULL && query(db, check) != before) {
            print_error("%s, allocation %lu failing: state changed\n", name, n);
            fail();
        }
    }
    if (rc != 0) {
        print_error("%s never succeeded\n", name);
        fail();
    }
    /* The run is only meaningful if some allocation was actually failed. */
    if (allocates && n <= 2) {
        print_error("%s makes no allocation to fail\n", name);
        fail();
    }
}

static void
test_alloc_failures(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct tctx t;
    char devpath[160];

    memset(&t, 0, sizeof(t));
    t.key = m2msec_secret_random(32, &err);
    assert_non_null(t.key);
    assert_ok(m2msec_rand_hex(t.reg_id, 16, &err), &err);

    torture(db, "enrolee_add", op_enrolee_add, &t,
            "SELECT (SELECT count(*) FROM enrolee) + (SELECT count(*) FROM enrolee_target)", 1);
    torture(db, "enrolee_get", op_enrolee_get, &t, NULL, 1);
    torture(db, "enrolee_list", op_enrolee_list, &t, NULL, 1);
    torture(db, "ke_put", op_ke_put, &t, "SELECT count(*) FROM ke", 1);
    torture(db, "ke_get", op_ke_get, &t, NULL, 1);
    torture(db, "reg_create", op_reg_create, &t,
            "SELECT (SELECT count(*) FROM mefreg) + (SELECT count(*) FROM mefreg_label)", 0);
    torture(db, "reg_get", op_reg_get, &t, NULL, 1);
    torture(db, "reg_update", op_reg_update, &t,
            "SELECT count(*) FROM mefreg_label WHERE label = 'c'", 0);
    torture(db, "target_add", op_target_add, &t, "SELECT count(*) FROM target", 0);
    torture(db, "target_get", op_target_get, &t, NULL, 1);
    torture(db, "target_list", op_target_list, &t, NULL, 1);
    m2msec_db_close(db);

    snprintf(devpath, sizeof(devpath), "%s/dev.db", fx->dir);
    db = m2msec_db_open(devpath, M2MSEC_SCHEMA_DEVICE, fx->kek, &err);
    assert_non_null(db);
    torture(db, "dev_put", op_dev_put, &t, "SELECT count(*) FROM enrolment", 1);
    torture(db, "dev_get", op_dev_get, &t, NULL, 1);
    m2msec_db_close(db);
    m2msec_secret_free(t.key);
}

/*
 * Group commit of Ke (m2msec_mef_ke_put_batch)
 */

static void
ke_item(struct m2msec_ke_put *it, const char *kpm_id, uint8_t relbyte,
        const struct m2msec_secret *ke, int64_t created, int64_t expires)
{
    memset(it, 0, sizeof(*it));
    it->kpm_id = kpm_id;
    memset(it->rel, relbyte, sizeof(it->rel));
    it->ke = ke;
    it->created = created;
    it->expires = expires;
    /* The store must set these: start them at values it never leaves behind. */
    it->rv = 42;
    it->err.code = M2MSEC_ERR_NOMEM;
}

/* The current Ke of kpm_id has RelativeKeID relbyte x 16 and key ke. */
static void
assert_ke_is(struct m2msec_db *db, const char *kpm_id, uint8_t relbyte,
             const struct m2msec_secret *ke)
{
    struct m2msec_error err = { 0 };
    struct m2msec_ke_rec *k = NULL;
    uint8_t rel[16];

    memset(rel, relbyte, sizeof(rel));
    assert_ok(m2msec_mef_ke_get_by_enrolee(db, kpm_id, 10, 1, &k, &err), &err);
    assert_memory_equal(k->rel, rel, sizeof(rel));
    assert_true(m2msec_secret_equal(k->ke, ke));
    m2msec_ke_rec_free(k);
}

static struct m2msec_secret *
new_key(void)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = m2msec_secret_random(32, &err);

    assert_non_null(k);
    return k;
}

/* One failing item is rolled back alone; the others commit. */
static void
test_ke_batch_partial(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *k1 = add_enrolee(db, "kpm-1", NULL, 0);
    struct m2msec_secret *k3 = add_enrolee(db, "kpm-3", NULL, 0);
    struct m2msec_secret *ke[4] = { new_key(), new_key(), new_key(), new_key() };
    struct m2msec_ke_put it[4];
    size_t i;

    /* The middle item's Enrolee does not exist. */
    ke_item(&it[0], "kpm-1", 0x01, ke[0], 0, 1000);
    ke_item(&it[1], "kpm-2", 0x02, ke[1], 0, 1000);
    ke_item(&it[2], "kpm-3", 0x03, ke[2], 0, 1000);
    assert_ok(m2msec_mef_ke_put_batch(db, it, 3, &err), &err);
    assert_ok(it[0].rv, &it[0].err);
    assert_fails(it[1].rv, &it[1].err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_contains(it[1].err.msg, "kpm-2");
    assert_ok(it[2].rv, &it[2].err);
    assert_int_equal(it[0].err.code, M2MSEC_ERR_NONE);
    assert_int_equal(it[2].err.code, M2MSEC_ERR_NONE);
    assert_int_equal(query(db, "SELECT count(*) FROM ke"), 2);
    assert_int_equal(query(db, "SELECT count(*) FROM ke WHERE kpm_id = 'kpm-2'"), 0);
    assert_int_equal(
            query(db, "SELECT count(*) FROM ke WHERE rel = X'02020202020202020202020202020202'"),
            0);
    assert_int_equal(query(db, "SELECT count(*) FROM enrolee WHERE kpm_id = 'kpm-2'"), 0);
    assert_ke_is(db, "kpm-1", 0x01, ke[0]);
    assert_ke_is(db, "kpm-3", 0x03, ke[2]);

    /* A statement failing after the old Ke was erased: that item's Ke is back, the
     * neighbours of the same transaction are stored. */
    exec(db, "CREATE TRIGGER t_ke BEFORE INSERT ON ke"
             " WHEN NEW.created = 666 BEGIN SELECT RAISE(ABORT, 'boom ke'); END;");
    ke_item(&it[0], "kpm-1", 0x11, ke[1], 0, 1000);
    ke_item(&it[1], "kpm-3", 0x33, ke[3], 666, 1000);
    assert_ok(m2msec_mef_ke_put_batch(db, it, 2, &err), &err);
    assert_ok(it[0].rv, &it[0].err);
    assert_fails(it[1].rv, &it[1].err, M2MSEC_ERR_STORE, 0);
    assert_contains(it[1].err.msg, "boom ke");
    assert_ke_is(db, "kpm-1", 0x11, ke[1]);
    assert_ke_is(db, "kpm-3", 0x03, ke[2]);
    assert_int_equal(query(db, "SELECT count(*) FROM ke"), 2);

    /* Invalid items are refused without touching the others. */
    ke_item(&it[0], "kpm-1", 0x21, ke[0], 100, 100); /* expires == created */
    ke_item(&it[1], "kpm-3", 0x23, NULL, 0, 1000);   /* no key */
    ke_item(&it[2], "", 0x24, ke[0], 0, 1000);       /* no KpmID */
    ke_item(&it[3], "kpm-3", 0x25, ke[3], 99, 100);  /* the neighbour that is accepted */
    assert_ok(m2msec_mef_ke_put_batch(db, it, 4, &err), &err);
    assert_fails(it[0].rv, &it[0].err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(it[1].rv, &it[1].err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(it[2].rv, &it[2].err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_ok(it[3].rv, &it[3].err);
    assert_ke_is(db, "kpm-1", 0x11, ke[1]);
    assert_ke_is(db, "kpm-3", 0x25, ke[3]);

    /* Nothing valid: 0, every item refused. n = 0: a no-op. */
    ke_item(&it[0], NULL, 0x31, ke[0], 0, 1000);
    assert_ok(m2msec_mef_ke_put_batch(db, it, 1, &err), &err);
    assert_fails(it[0].rv, &it[0].err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_ok(m2msec_mef_ke_put_batch(db, NULL, 0, &err), &err);
    assert_ok(m2msec_mef_ke_put_batch(db, it, 0, &err), &err);
    /* Bad arguments fail the whole call and every item. */
    ke_item(&it[0], "kpm-1", 0x41, ke[0], 0, 1000);
    assert_fails(m2msec_mef_ke_put_batch(NULL, it, 1, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(it[0].rv, &it[0].err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_fails(m2msec_mef_ke_put_batch(db, NULL, 1, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_ke_is(db, "kpm-1", 0x11, ke[1]);
    assert_int_equal(query(db, "SELECT count(*) FROM ke"), 2);

    m2msec_secret_free(k1);
    m2msec_secret_free(k3);
    for (i = 0; i < ARRAY_LEN(ke); i++) {
        m2msec_secret_free(ke[i]);
    }
    m2msec_db_close(db);
}

/* Two items for one KpmID in one batch: the later one wins, one row. */
static void
test_ke_batch_same_kpm(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm = add_enrolee(db, "kpm-a", NULL, 0);
    struct m2msec_secret *kb = add_enrolee(db, "kpm-b", NULL, 0);
    struct m2msec_secret *ke[3] = { new_key(), new_key(), new_key() };
    struct m2msec_ke_put it[3];
    size_t i;

    put_ke(db, "kpm-a", 0x01, 0, 1000, NULL);
    ke_item(&it[0], "kpm-a", 0x0a, ke[0], 10, 1000);
    ke_item(&it[1], "kpm-b", 0x0b, ke[1], 10, 1000);
    ke_item(&it[2], "kpm-a", 0x0c, ke[2], 20, 2000);
    assert_ok(m2msec_mef_ke_put_batch(db, it, 3, &err), &err);
    assert_ok(it[0].rv, &it[0].err);
    assert_ok(it[1].rv, &it[1].err);
    assert_ok(it[2].rv, &it[2].err);
    assert_int_equal(query(db, "SELECT count(*) FROM ke WHERE kpm_id = 'kpm-a'"), 1);
    assert_int_equal(query(db, "SELECT expires FROM ke WHERE kpm_id = 'kpm-a'"), 2000);
    assert_ke_is(db, "kpm-a", 0x0c, ke[2]);
    assert_ke_is(db, "kpm-b", 0x0b, ke[1]);
    /* Neither the earlier item's nor the replaced Ke is findable by its id. */
    assert_int_equal(
            query(db, "SELECT count(*) FROM ke WHERE rel IN (X'0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a',"
                      " X'01010101010101010101010101010101')"),
            0);
    assert_int_equal(query(db, "SELECT count(*) FROM ke"), 2);

    m2msec_secret_free(kpm);
    m2msec_secret_free(kb);
    for (i = 0; i < ARRAY_LEN(ke); i++) {
        m2msec_secret_free(ke[i]);
    }
    m2msec_db_close(db);
}

/*
 * The Enrolee is removed (by another connection, as `mefd enrolee remove` does
 * while mefd runs) between its handshake and the batch: its item fails, the rest
 * commit. Then BEGIN and COMMIT failures fail every item and store nothing.
 */
static void
test_ke_batch_after_remove(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_db *admin = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *ka = add_enrolee(db, "kpm-a", NULL, 0);
    struct m2msec_secret *kb = add_enrolee(db, "kpm-b", NULL, 0);
    struct m2msec_secret *ke[3] = { new_key(), new_key(), new_key() };
    struct m2msec_enrolee_rec rc = { 0 };
    struct m2msec_ke_put it[3];
    size_t i;

    put_ke(db, "kpm-a", 0x01, 0, 1000, NULL);
    put_ke(db, "kpm-b", 0x02, 0, 1000, NULL);
    assert_ok(m2msec_mef_enrolee_remove(admin, "kpm-a", &err), &err);
    ke_item(&it[0], "kpm-a", 0x0a, ke[0], 10, 1000);
    ke_item(&it[1], "kpm-b", 0x0b, ke[1], 10, 1000);
    assert_ok(m2msec_mef_ke_put_batch(db, it, 2, &err), &err);
    assert_fails(it[0].rv, &it[0].err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_ok(it[1].rv, &it[1].err);
    assert_int_equal(query(db, "SELECT count(*) FROM ke WHERE kpm_id = 'kpm-a'"), 0);
    assert_int_equal(query(admin, "SELECT count(*) FROM ke"), 1);
    assert_ke_is(admin, "kpm-b", 0x0b, ke[1]);
    /* The single-item form reports the same. */
    assert_fails(m2msec_mef_ke_put(db, "kpm-a", it[0].rel, ke[0], 10, 1000, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);

    /* BEGIN fails (a transaction is already open on the connection): every item fails
     * with that error, the invalid one included, and nothing is stored. */
    exec(db, "BEGIN");
    ke_item(&it[0], "kpm-b", 0x1b, ke[0], 10, 1000);
    ke_item(&it[1], "kpm-b", 0x2b, NULL, 10, 1000);
    assert_fails(m2msec_mef_ke_put_batch(db, it, 2, &err), &err, M2MSEC_ERR_STORE, 0);
    assert_contains(err.msg, "transaction");
    for (i = 0; i < 2; i++) {
        assert_fails(it[i].rv, &it[i].err, M2MSEC_ERR_STORE, 0);
        assert_string_equal(it[i].err.msg, err.msg);
    }
    assert_ke_is(db, "kpm-b", 0x0b, ke[1]);

    /* COMMIT fails (a deferred foreign key a trigger violates): items that were fine
     * fail too, and the transaction is rolled back. */
    rc.kpm_id = mut("kpm-c");
    rc.enrolee_id = mut("C-c");
    rc.expiry_s = 60;
    rc.kpm = ka;
    assert_ok(m2msec_mef_enrolee_add(db, &rc, &err), &err);
    exec(db, "CREATE TABLE dfk (k TEXT REFERENCES enrolee (kpm_id) DEFERRABLE INITIALLY DEFERRED);"
             "CREATE TRIGGER t_dfk AFTER INSERT ON ke WHEN NEW.created = 777"
             " BEGIN INSERT INTO dfk VALUES ('nobody'); END;");
    ke_item(&it[0], "kpm-b", 0x3b, ke[0], 10, 1000);
    ke_item(&it[1], "kpm-c", 0x3c, ke[1], 777, 1000);
    ke_item(&it[2], "kpm-a", 0x3a, ke[2], 10, 1000);
    assert_fails(m2msec_mef_ke_put_batch(db, it, 3, &err), &err, M2MSEC_ERR_STORE, 0);
    assert_contains(err.msg, "FOREIGN KEY");
    for (i = 0; i < 3; i++) {
        assert_fails(it[i].rv, &it[i].err, M2MSEC_ERR_STORE, 0);
        assert_string_equal(it[i].err.msg, err.msg);
    }
    assert_ke_is(admin, "kpm-b", 0x0b, ke[1]);
    assert_int_equal(query(admin, "SELECT count(*) FROM ke"), 1);
    assert_int_equal(query(admin, "SELECT count(*) FROM dfk"), 0);
    /* The connection is usable afterwards (no transaction left open). */
    ke_item(&it[0], "kpm-c", 0x4c, ke[2], 10, 1000);
    assert_ok(m2msec_mef_ke_put_batch(db, it, 1, &err), &err);
    assert_ok(it[0].rv, &it[0].err);
    assert_ke_is(admin, "kpm-c", 0x4c, ke[2]);

    m2msec_secret_free(ka);
    m2msec_secret_free(kb);
    for (i = 0; i < ARRAY_LEN(ke); i++) {
        m2msec_secret_free(ke[i]);
    }
    m2msec_db_close(admin);
    m2msec_db_close(db);
}

/*
 * Allocation n of a batch of three fails, n = 1, 2, ...: each item either is
 * stored (its new RelativeKeID is current) or failed with NOMEM and left its
 * Enrolee's Ke as it was; a failed batch fails every item and stores nothing.
 */
static void
test_ke_batch_alloc_failures(void **state)
{
    static const char *const ids[] = { "kpm-x", "kpm-y", "kpm-z" };
    struct fx *fx = *state;
    struct m2msec_error err;
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_secret *kpm[3];
    struct m2msec_secret *ke = new_key();
    struct m2msec_ke_put it[3];
    struct m2msec_ke_rec *k = NULL;
    uint8_t cur[3];
    unsigned long n;
    size_t i, stored = 0;
    int failures = 0;
    int rc;

    for (i = 0; i < 3; i++) {
        kpm[i] = add_enrolee(db, ids[i], NULL, 0);
        cur[i] = (uint8_t)(0xf0 + i);
        put_ke(db, ids[i], cur[i], 0, 1000, NULL);
    }
    for (n = 1; n < 1000 && stored < 3; n++) {
        memset(&err, 0, sizeof(err));
        for (i = 0; i < 3; i++) {
            /* A RelativeKeID unique to this round and item. */
            ke_item(&it[i], ids[i], (uint8_t)(n * 3 + i), ke, 0, 1000);
        }
        m2msec_test_fail_alloc_at(n);
        rc = m2msec_mef_ke_put_batch(db, it, 3, &err);
        m2msec_test_fail_alloc_at(0);
        if (rc == -1) {
            assert_int_equal(err.code, M2MSEC_ERR_NOMEM);
        }
        stored = 0;
        for (i = 0; i < 3; i++) {
            assert_true(it[i].rv == 0 || it[i].rv == -1);
            if (it[i].rv == 0) {
                assert_int_equal(rc, 0);
                stored++;
                cur[i] = it[i].rel[0];
            } else {
                if (it[i].err.code != M2MSEC_ERR_NOMEM) {
                    print_error("allocation %lu failing: item %zu: code %d: %s\n", n, i,
                                (int)it[i].err.code, it[i].err.msg);
                    fail();
                }
                failures++;
            }
            memset(&err, 0, sizeof(err));
            assert_ok(m2msec_mef_ke_get_by_enrolee(db, ids[i], 10, 1, &k, &err), &err);
            if (k->rel[0] != cur[i]) {
                print_error("allocation %lu failing: item %zu: Ke %02x, expected %02x\n", n, i,
                            k->rel[0], cur[i]);
                fail();
            }
            m2msec_ke_rec_free(k);
            k = NULL;
        }
        assert_int_equal(query(db, "SELECT count(*) FROM ke"), 3);
    }
    assert_int_equal(stored, 3);
    /* Meaningful only if some allocation inside the batch was actually failed. */
    assert_true(failures > 0);
    for (i = 0; i < 3; i++) {
        m2msec_secret_free(kpm[i]);
    }
    m2msec_secret_free(ke);
    m2msec_db_close(db);
}

/* ---- PKI bootstrap (seed 002): node classes and root credentials ---- */

static void
make_class(struct m2msec_bootclass_rec *k, const char *name, char **cas, size_t ncas)
{
    memset(k, 0, sizeof(*k));
    k->name = mut(name);
    k->flavour = mut("device");
    k->id_prefix = mut("0.2.481.1.7.8.");
    k->purpose = mut("maf:maf.example.com");
    k->lifetime_s = 3600;
    k->created = 1000;
    k->cert_cas = cas;
    k->ncert_cas = ncas;
}

static void
test_bootclass(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_bootclass_rec k;
    struct m2msec_bootclass_rec **list = NULL;
    char *cas[] = { mut("/pki/b.pem"), mut("/pki/a.pem"), NULL };
    char *crls[] = { mut("/pki/a.crl"), NULL };
    char *empty[] = { mut(""), NULL };
    size_t n = 0;

    make_class(&k, "mfr", cas, 2);
    k.cert_crls = crls;
    k.ncert_crls = 1;
    assert_ok(m2msec_mef_bootclass_add(db, &k, &err), &err);
    make_class(&k, "ent", cas + 1, 1);
    k.flavour = mut("node-id");
    k.id_prefix = NULL;
    k.cert_id = mut("1.3.6.1.4.1.59999.9");
    k.purpose = mut("cse:/cse-b");
    assert_ok(m2msec_mef_bootclass_add(db, &k, &err), &err);
    /* Ordered by name, files in their order, exactly one of prefix and id. */
    assert_ok(m2msec_mef_bootclass_list(db, &list, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_string_equal(list[0]->name, "ent");
    assert_null(list[0]->id_prefix);
    assert_string_equal(list[0]->cert_id, "1.3.6.1.4.1.59999.9");
    assert_int_equal(list[0]->ncert_crls, 0);
    assert_string_equal(list[1]->name, "mfr");
    assert_string_equal(list[1]->id_prefix, "0.2.481.1.7.8.");
    assert_int_equal(list[1]->ncert_cas, 2);
    assert_string_equal(list[1]->cert_cas[0], "/pki/b.pem");
    assert_string_equal(list[1]->cert_cas[1], "/pki/a.pem");
    assert_string_equal(list[1]->cert_crls[0], "/pki/a.crl");
    assert_int_equal(list[1]->lifetime_s, 3600);
    m2msec_bootclass_list_free(list);
    list = NULL;

    /* Rejected neighbours: nothing is added. */
    make_class(&k, "mfr", cas, 1);
    assert_fails(m2msec_mef_bootclass_add(db, &k, &err), &err, M2MSEC_ERR_REFUSED, 4105);
    make_class(&k, "x", cas, 1);
    k.cert_id = mut("0.2.481.1.7.8.1"); /* both prefix and id */
    assert_fails(m2msec_mef_bootclass_add(db, &k, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    make_class(&k, "x", cas, 1);
    k.id_prefix = NULL; /* neither */
    assert_fails(m2msec_mef_bootclass_add(db, &k, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    make_class(&k, "x", cas, 1);
    k.flavour = mut("cse-id");
    assert_fails(m2msec_mef_bootclass_add(db, &k, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    make_class(&k, "x", cas, 0);
    assert_fails(m2msec_mef_bootclass_add(db, &k, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    make_class(&k, "x", empty, 1);
    assert_fails(m2msec_mef_bootclass_add(db, &k, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    make_class(&k, "x", cas, 1);
    k.lifetime_s = 0;
    assert_fails(m2msec_mef_bootclass_add(db, &k, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    make_class(&k, "x", cas, 1);
    k.purpose = mut("");
    assert_fails(m2msec_mef_bootclass_add(db, &k, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    make_class(&k, "", cas, 1);
    assert_fails(m2msec_mef_bootclass_add(db, &k, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_int_equal(query(db, "SELECT count(*) FROM bootclass"), 2);
    assert_int_equal(query(db, "SELECT count(*) FROM bootclass_file"), 4);

    assert_ok(m2msec_mef_bootclass_remove(db, "mfr", &err), &err);
    assert_fails(m2msec_mef_bootclass_remove(db, "mfr", &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_int_equal(query(db, "SELECT count(*) FROM bootclass_file"), 1);
    m2msec_db_close(db);
}

static void
make_root(struct m2msec_rootcred_rec *r, uint8_t relbyte, const char *node, const char *cls,
          struct m2msec_secret *key)
{
    memset(r, 0, sizeof(*r));
    memset(r->rel, relbyte, sizeof(r->rel));
    r->node = mut(node);
    r->class_name = mut(cls);
    r->enrolee_id = mut("C0123");
    r->purpose = mut("maf:maf.example.com");
    r->created = 1000;
    r->expires = 2000;
    r->key = key;
}

static void
test_rootcred(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_MEF);
    struct m2msec_bootclass_rec k;
    struct m2msec_rootcred_rec r;
    struct m2msec_rootcred_rec *got = NULL;
    struct m2msec_secret *k1 = m2msec_secret_random(32, &err);
    struct m2msec_secret *k2 = m2msec_secret_random(32, &err);
    char *cas[] = { mut("/pki/a.pem"), NULL };
    uint8_t rel1[16], rel2[16], rel3[16];
    size_t erased = 0;

    memset(rel1, 0x11, sizeof(rel1));
    memset(rel2, 0x22, sizeof(rel2));
    memset(rel3, 0x33, sizeof(rel3));
    make_class(&k, "mfr", cas, 1);
    assert_ok(m2msec_mef_bootclass_add(db, &k, &err), &err);
    make_root(&r, 0x11, "31-0.2.481.1.7.8.1", "mfr", k1);
    assert_ok(m2msec_mef_rootcred_put(db, &r, &err), &err);
    /* By identifier, with the key; the key is sealed (not in clear in the row). */
    assert_ok(m2msec_mef_rootcred_get(db, rel1, 1500, 1, &got, &err), &err);
    assert_true(m2msec_secret_equal(got->key, k1));
    assert_string_equal(got->node, "31-0.2.481.1.7.8.1");
    assert_string_equal(got->class_name, "mfr");
    assert_string_equal(got->enrolee_id, "C0123");
    assert_string_equal(got->purpose, "maf:maf.example.com");
    assert_int_equal(got->expires, 2000);
    m2msec_rootcred_rec_free(got);
    got = NULL;
    assert_int_equal(query(db, "SELECT count(*) FROM rootcred WHERE length(key) > 32"), 1);
    /* Expired and unknown are absent alike. */
    assert_fails(m2msec_mef_rootcred_get(db, rel1, 2000, 1, &got, &err), &err, M2MSEC_ERR_NOT_FOUND,
                 4004);
    assert_fails(m2msec_mef_rootcred_get(db, rel3, 1500, 0, &got, &err), &err, M2MSEC_ERR_NOT_FOUND,
                 4004);
    assert_ok(m2msec_mef_rootcred_get_by_node(db, "31-0.2.481.1.7.8.1", 1500, 0, &got, &err), &err);
    assert_null(got->key);
    m2msec_rootcred_rec_free(got);
    got = NULL;

    /* Re-bootstrap of the same node replaces (and erases) the previous credential. */
    make_root(&r, 0x22, "31-0.2.481.1.7.8.1", "mfr", k2);
    assert_ok(m2msec_mef_rootcred_put(db, &r, &err), &err);
    assert_fails(m2msec_mef_rootcred_get(db, rel1, 1500, 0, &got, &err), &err, M2MSEC_ERR_NOT_FOUND,
                 4004);
    assert_ok(m2msec_mef_rootcred_get(db, rel2, 1500, 1, &got, &err), &err);
    assert_true(m2msec_secret_equal(got->key, k2));
    m2msec_rootcred_rec_free(got);
    got = NULL;
    assert_int_equal(query(db, "SELECT count(*) FROM rootcred"), 1);

    /* Rejected neighbours: unknown class, same rel for another node, no key, no lifetime. */
    make_root(&r, 0x33, "31-0.2.481.1.7.8.2", "nope", k1);
    assert_fails(m2msec_mef_rootcred_put(db, &r, &err), &err, M2MSEC_ERR_NOT_FOUND, 4004);
    make_root(&r, 0x22, "31-0.2.481.1.7.8.2", "mfr", k1);
    assert_int_equal(m2msec_mef_rootcred_put(db, &r, &err), -1);
    make_root(&r, 0x33, "31-0.2.481.1.7.8.2", "mfr", NULL);
    assert_fails(m2msec_mef_rootcred_put(db, &r, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    make_root(&r, 0x33, "31-0.2.481.1.7.8.2", "mfr", k1);
    r.expires = r.created;
    assert_fails(m2msec_mef_rootcred_put(db, &r, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    make_root(&r, 0x33, "", "mfr", k1);
    assert_fails(m2msec_mef_rootcred_put(db, &r, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_int_equal(query(db, "SELECT count(*) FROM rootcred"), 1);

    /* A sealed key moved to another identifier fails to open (AAD "root:<hex rel>"). */
    exec(db, "UPDATE rootcred SET rel = x'33333333333333333333333333333333'");
    assert_fails(m2msec_mef_rootcred_get(db, rel3, 1500, 1, &got, &err), &err, M2MSEC_ERR_AUTH, 0);
    assert_null(got);

    /* The sweep erases expired credentials; removing a class erases the rest. */
    make_root(&r, 0x44, "34-1.2.3", "mfr", k1);
    r.expires = 1200;
    assert_ok(m2msec_mef_rootcred_put(db, &r, &err), &err);
    assert_ok(m2msec_mef_sweep(db, 1300, &erased, &err), &err);
    assert_int_equal(erased, 1);
    assert_int_equal(query(db, "SELECT count(*) FROM rootcred"), 1);
    assert_ok(m2msec_mef_bootclass_remove(db, "mfr", &err), &err);
    assert_int_equal(query(db, "SELECT count(*) FROM rootcred"), 0);
    m2msec_secret_free(k1);
    m2msec_secret_free(k2);
    m2msec_db_close(db);
}

static void
test_dev_root(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = open_kind(fx, M2MSEC_SCHEMA_DEVICE);
    struct m2msec_dev_root_rec r = { 0 };
    struct m2msec_dev_root_rec *got = NULL;
    struct m2msec_secret *k1 = m2msec_secret_random(32, &err);
    struct m2msec_secret *k2 = m2msec_secret_random(32, &err);

    r.id = mut("00112233445566778899aabbccddeeff@mef.example.com");
    r.mef = mut("127.0.0.1:1");
    r.purpose = mut("maf:maf.example.com");
    r.enrolee_id = mut("C0123");
    r.node = mut("31-0.2.481.1.7.8.1");
    r.created = 1000;
    r.expires = 2000;
    r.key = k1;
    assert_ok(m2msec_dev_root_put(db, &r, &err), &err);
    /* By identifier (case-insensitive) and by purpose (case-insensitive). */
    assert_ok(m2msec_dev_root_get(db, "00112233445566778899AABBCCDDEEFF@MEF.example.com", 1500, 1,
                                  &got, &err),
              &err);
    assert_true(m2msec_secret_equal(got->key, k1));
    assert_string_equal(got->enrolee_id, "C0123");
    assert_string_equal(got->node, "31-0.2.481.1.7.8.1");
    m2msec_dev_root_rec_free(got);
    got = NULL;
    assert_ok(m2msec_dev_root_get_by_purpose(db, "maf:MAF.example.com", 1500, 0, &got, &err), &err);
    assert_null(got->key);
    m2msec_dev_root_rec_free(got);
    got = NULL;
    assert_fails(m2msec_dev_root_get(db, r.id, 2000, 0, &got, &err), &err, M2MSEC_ERR_NOT_FOUND,
                 4004);
    assert_fails(m2msec_dev_root_get_by_purpose(db, "cse:/cse-b", 1500, 0, &got, &err), &err,
                 M2MSEC_ERR_NOT_FOUND, 4004);
    /* A new credential for the same purpose replaces the old one. */
    r.id = mut("ffeeddccbbaa99887766554433221100@mef.example.com");
    r.key = k2;
    assert_ok(m2msec_dev_root_put(db, &r, &err), &err);
    assert_fails(m2msec_dev_root_get(db, "00112233445566778899aabbccddeeff@mef.example.com", 1500,
                                     0, &got, &err),
                 &err, M2MSEC_ERR_NOT_FOUND, 4004);
    assert_ok(m2msec_dev_root_get_by_purpose(db, "maf:maf.example.com", 1500, 1, &got, &err), &err);
    assert_true(m2msec_secret_equal(got->key, k2));
    m2msec_dev_root_rec_free(got);
    got = NULL;
    /* The live ids, ordered by purpose: a second purpose sorts first; expired ones are left out. */
    {
        char **ids = NULL;
        size_t n = 0;

        r.id = mut("0123456789abcdef0123456789abcdef@mef.example.com");
        r.purpose = mut("cse:/cse-b");
        r.expires = 1600;
        assert_ok(m2msec_dev_root_put(db, &r, &err), &err);
        assert_ok(m2msec_dev_root_ids(db, 1500, &ids, &n, &err), &err);
        assert_int_equal(n, 2);
        assert_string_equal(ids[0], "0123456789abcdef0123456789abcdef@mef.example.com");
        assert_string_equal(ids[1], "ffeeddccbbaa99887766554433221100@mef.example.com");
        m2msec_dev_root_ids_free(ids, n);
        assert_ok(m2msec_dev_root_ids(db, 1600, &ids, &n, &err), &err);
        assert_int_equal(n, 1);
        assert_string_equal(ids[0], "ffeeddccbbaa99887766554433221100@mef.example.com");
        m2msec_dev_root_ids_free(ids, n);
        assert_ok(m2msec_dev_root_ids(db, 2000, &ids, &n, &err), &err);
        assert_int_equal(n, 0);
        assert_null(ids);
        exec(db, "DELETE FROM dev_root WHERE purpose = 'cse:/cse-b'");
        r.id = mut("ffeeddccbbaa99887766554433221100@mef.example.com");
        r.expires = 2000;
    }
    /* Rejected: no key, no purpose, a lifetime that ends before it starts; a moved blob. */
    r.key = NULL;
    assert_fails(m2msec_dev_root_put(db, &r, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    r.key = k1;
    r.purpose = NULL;
    assert_fails(m2msec_dev_root_put(db, &r, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    r.purpose = mut("cse:/cse-b");
    r.expires = 900;
    assert_fails(m2msec_dev_root_put(db, &r, &err), &err, M2MSEC_ERR_INVALID_ARGUMENT, 0);
    assert_int_equal(query(db, "SELECT count(*) FROM dev_root"), 1);
    exec(db, "UPDATE dev_root SET id = 'aa@mef.example.com'");
    assert_fails(m2msec_dev_root_get(db, "aa@mef.example.com", 1500, 1, &got, &err), &err,
                 M2MSEC_ERR_AUTH, 0);
    m2msec_secret_free(k1);
    m2msec_secret_free(k2);
    m2msec_db_close(db);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_0600_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_kind_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_future_version_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_database_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enrolee_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enrolee_add_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kpm_not_in_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_kpm_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_blob_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_kek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enrolee_remove_cascades, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reg_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reg_conflict_and_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_enrolment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_wrong_kek_and_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_add_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_psk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_psk_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_enrolee_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_enrolee_add_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ke_batch_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ke_batch_same_kpm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ke_batch_after_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ke_batch_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootclass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rootcred, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dev_root, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
