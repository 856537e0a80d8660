/*
 * test_resolver.c - Entity B's PSK resolver and cache, the reference CSE
 * endpoint and Entity A's key selection, without a MEF or a MAF.
 *
 * Layer: test. Covers store/cse.c (cache rows, expiry records, sweep),
 * client/resolver.c (configuration checks, identity parsing and dispatch,
 * pre-provisioned KpsaIDs, cache hits, erasure at expiry with no new MAF
 * retrieval, failed retrievals, counters, event lines without keys),
 * client/cse.c and client/connect.c in process: Entity A with a Kc or a
 * Kpsa from its device store against Entity B whose cache holds the same
 * key, the originator rule (4106), wrong and unknown keys, expired and
 * misused local keys. Retrievals against real daemons are in
 * tests/integration/saef.sh and saef_mef.sh.
 */
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

#include "client/client_int.h"
#include "crypto/kdf.h"
#include "crypto/seal.h"
#include "m2msec.h"
#include "store/store.h"
#include "util/encoding.h"
#include "util/secret.h"
#include "util/time.h"

#define MAF_FQDN "maf.test.example"
#define MEF_FQDN "mef.test.example"
#define KPSA_ID  "kp1@issuer.test.example"
#define MAF_KID  "0123456789abcdef0123456789abcdef@" MAF_FQDN
#define MEF_KEID "00112233445566778899aabbccddeeff@" MEF_FQDN

static const uint8_t key_a[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t key_b[32] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa,
                                   0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5,
                                   0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf };

struct fx {
    char dir[64];  /* Entity B's state directory */
    char adir[64]; /* Entity A's state directory */
    char lines[64][512];
    size_t nlines;
};

static void
rm_tree(const char *dir)
{
    char p[512];
    struct dirent *de;
    DIR *d = opendir(dir);

    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
                continue;
            }
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int
setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/m2msec-resolver-XXXXXX");
    snprintf(fx->adir, sizeof(fx->adir), "/tmp/m2msec-entitya-XXXXXX");
    if (mkdtemp(fx->dir) == NULL || mkdtemp(fx->adir) == NULL) {
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

    m2msec_test_clock_offset(0);
    rm_tree(fx->dir);
    rm_tree(fx->adir);
    free(fx);
    return 0;
}

static void
on_event(void *arg, const char *line)
{
    struct fx *fx = arg;

    if (fx->nlines < 64) {
        snprintf(fx->lines[fx->nlines++], sizeof(fx->lines[0]), "%s", line);
    }
}

static int
logged(const struct fx *fx, const char *needle)
{
    size_t i;

    for (i = 0; i < fx->nlines; i++) {
        if (strstr(fx->lines[i], needle) != NULL) {
            return 1;
        }
    }
    return 0;
}

/* The cache of dir, opened beside the resolver's own connection (WAL allows both). */
static struct m2msec_db *
open_cache(const char *dir)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *kek = NULL;
    struct m2msec_db *db = NULL;
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, M2MSEC_STATE_KEK);
    kek = m2msec_kek_load(path, &err);
    assert_non_null(kek);
    snprintf(path, sizeof(path), "%s/cse.db", dir);
    db = m2msec_db_open(path, M2MSEC_SCHEMA_CSE, kek, &err);
    m2msec_secret_free(kek);
    assert_non_null(db);
    return db;
}

static void
put_row(struct m2msec_db *db, const char *id, unsigned source, unsigned suid, const char *peer,
        const uint8_t *key, int64_t created, int64_t expires)
{
    struct m2msec_error err = { 0 };
    struct m2msec_cse_key_rec r = { 0 };
    char cred[600];

    snprintf(cred, sizeof(cred), "12-%s", id);
    r.key_id = (char *)(uintptr_t)id;
    r.source = source;
    r.suid = suid;
    r.peer_id = (char *)(uintptr_t)peer;
    r.cred_id = cred;
    r.created = created;
    r.expires = expires;
    r.key = m2msec_secret_from(key, 32, &err);
    assert_non_null(r.key);
    assert_int_equal(m2msec_cse_key_put(db, &r, &err), 0);
    m2msec_secret_free(r.key);
}

/* A resolver on fx->dir with a MAF and a MEF that do not answer, and one KpsaID. */
static struct m2msec_resolver *
make_resolver(struct fx *fx)
{
    struct m2msec_config *cfg = m2msec_config_new();
    struct m2msec_resolver *r = m2msec_resolver_new();

    assert_non_null(cfg);
    assert_non_null(r);
    assert_int_equal(m2msec_config_set_state_dir(cfg, fx->dir), 0);
    assert_int_equal(m2msec_config_set_maf(cfg, "127.0.0.1:1", MAF_FQDN), 0);
    assert_int_equal(m2msec_config_set_timeout_ms(cfg, 500), 0);
    assert_int_equal(m2msec_resolver_configure(r, cfg), 0);
    m2msec_config_free(cfg);
    assert_int_equal(m2msec_resolver_set_cse_id(r, "/cse-b"), 0);
    assert_int_equal(m2msec_resolver_set_mef(r, "127.0.0.1:1", MEF_FQDN, "/nonexistent/cert.pem",
                                             "/nonexistent/key.pem", "/nonexistent/ca.pem"),
                     0);
    assert_int_equal(m2msec_resolver_add_kpsa(r, KPSA_ID, key_a, sizeof(key_a), "/cse-a", 0), 0);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "old@issuer.test.example", key_a, sizeof(key_a),
                                              "/cse-a", 1000000000),
                     0);
    m2msec_resolver_set_event_cb(r, on_event, fx);
    return r;
}

/*
 * store/cse.c
 */
static void
test_store_cse(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_cse_key_rec *got = NULL;
    struct m2msec_cse_key_rec bad = { 0 };
    struct m2msec_secret *kek = m2msec_secret_random(32, &err);
    struct m2msec_db *db = NULL;
    char path[256];
    int64_t now = m2msec_now();
    int64_t exp = 0;
    size_t n = 0;

    assert_non_null(kek);
    snprintf(path, sizeof(path), "%s/cse.db", fx->dir);
    db = m2msec_db_open(path, M2MSEC_SCHEMA_CSE, kek, &err);
    assert_non_null(db);
    assert_int_equal(m2msec_db_schema_version(db), 1);
    put_row(db, MAF_KID, 1, 32, "/cse-a", key_a, now, now + 100);
    /* Case-insensitive identity (hex and FQDN). */
    assert_int_equal(m2msec_cse_key_get(db, "0123456789ABCDEF0123456789abcdef@MAF.test.example", 1,
                                        &got, &err),
                     0);
    assert_string_equal(got->key_id, MAF_KID);
    assert_string_equal(got->peer_id, "/cse-a");
    assert_string_equal(got->cred_id, "12-" MAF_KID);
    assert_int_equal(got->source, 1);
    assert_int_equal(got->suid, 32);
    assert_int_equal(got->expires, now + 100);
    assert_int_equal(m2msec_secret_len(got->key), 32);
    assert_memory_equal(m2msec_secret_bytes(got->key), key_a, 32);
    m2msec_cse_key_rec_free(got);
    got = NULL;
    /* Replacing keeps one row. */
    put_row(db, MAF_KID, 1, 32, NULL, key_b, now, now + 50);
    assert_int_equal(m2msec_cse_key_count(db, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m2msec_cse_key_get(db, MAF_KID, 0, &got, &err), 0);
    assert_null(got->peer_id);
    assert_null(got->key);
    m2msec_cse_key_rec_free(got);
    got = NULL;
    /* Rejected neighbours of a put. */
    bad.key_id = (char *)(uintptr_t) "x@y.example";
    bad.source = 2;
    bad.cred_id = (char *)(uintptr_t) "12-x@y.example";
    bad.created = now;
    bad.expires = now + 1;
    assert_int_equal(m2msec_cse_key_put(db, &bad, &err), -1); /* no key */
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    bad.key = m2msec_secret_from(key_a, 32, &err);
    bad.source = 0;
    assert_int_equal(m2msec_cse_key_put(db, &bad, &err), -1); /* no source */
    bad.source = 2;
    bad.cred_id = NULL;
    assert_int_equal(m2msec_cse_key_put(db, &bad, &err), -1); /* no Credential-ID */
    bad.cred_id = (char *)(uintptr_t) "12-x@y.example";
    bad.expires = now;
    assert_int_equal(m2msec_cse_key_put(db, &bad, &err), -1); /* expires at creation */
    bad.key_id = (char *)(uintptr_t) "";
    bad.expires = now + 1;
    assert_int_equal(m2msec_cse_key_put(db, &bad, &err), -1); /* empty identity */
    m2msec_secret_free(bad.key);
    assert_int_equal(m2msec_cse_key_get(db, "absent@y.example", 1, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    assert_int_equal(m2msec_cse_key_get(db, "", 1, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    /* Deleting a live row leaves no expiry record; an expired one does. */
    assert_int_equal(m2msec_cse_key_delete(db, MAF_KID, now, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m2msec_cse_expired_get(db, MAF_KID, &exp, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    assert_int_equal(m2msec_cse_key_delete(db, MAF_KID, now, &n, &err), 0);
    assert_int_equal(n, 0);
    put_row(db, MAF_KID, 1, 32, "/cse-a", key_a, now - 10, now - 1);
    assert_int_equal(m2msec_cse_key_get(db, MAF_KID, 1, &got, &err), 0); /* expired: still read */
    m2msec_cse_key_rec_free(got);
    got = NULL;
    assert_int_equal(m2msec_cse_key_delete(db, MAF_KID, now, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m2msec_cse_expired_get(db, MAF_KID, &exp, &err), 0);
    assert_int_equal(exp, now - 1);
    /* A new key under that identity clears the record. */
    put_row(db, MAF_KID, 1, 32, "/cse-a", key_a, now, now + 10);
    assert_int_equal(m2msec_cse_expired_get(db, MAF_KID, &exp, &err), -1);
    /* Sweep: expired rows go (with records), live ones stay; old records are pruned. */
    put_row(db, MEF_KEID, 2, 22, "/cse-m", key_b, now - 10, now - 5);
    assert_int_equal(m2msec_cse_sweep(db, now, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m2msec_cse_key_count(db, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m2msec_cse_expired_get(db, MEF_KEID, &exp, &err), 0);
    assert_int_equal(m2msec_cse_sweep(db, now + 8 * 86400, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m2msec_cse_expired_get(db, MEF_KEID, &exp, &err), -1);
    m2msec_db_close(db);
    /* The file is of kind "cse": opening it as a device store is refused. */
    assert_null(m2msec_db_open(path, M2MSEC_SCHEMA_DEVICE, kek, &err));
    m2msec_secret_free(kek);
}

/*
 * Configuration
 */
static void
test_resolver_config(void **state)
{
    struct fx *fx = *state;
    struct m2msec_config *cfg = m2msec_config_new();
    struct m2msec_resolver *r = m2msec_resolver_new();
    struct m2msec_psk_info *info = m2msec_psk_info_new();
    uint8_t psk[64];
    uint8_t big[65] = { 0 };
    size_t len = 0;
    char path[256];
    FILE *f = NULL;

    assert_non_null(cfg);
    assert_non_null(r);
    assert_non_null(info);
    m2msec_resolver_free(NULL);
    m2msec_psk_info_free(NULL);
    /* configure needs a configuration with a state directory */
    assert_int_equal(m2msec_resolver_configure(r, NULL), -1);
    assert_int_equal(m2msec_resolver_error_code(r), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_resolver_configure(r, cfg), -1);
    assert_int_equal(m2msec_resolver_error_code(r), M2MSEC_ERR_INVALID_ARGUMENT);
    /* resolving before configuration is refused, not a crash */
    assert_int_equal(m2msec_resolver_resolve(r, KPSA_ID, psk, sizeof(psk), &len, info), -1);
    assert_string_equal(m2msec_psk_info_reason(info), "not_configured");
    assert_int_equal(m2msec_resolver_sweep(r, NULL), -1);
    assert_int_equal(m2msec_config_set_state_dir(cfg, fx->dir), 0);
    assert_int_equal(m2msec_resolver_configure(r, cfg), 0);
    assert_int_equal(m2msec_resolver_configure(r, cfg), -1);
    assert_int_equal(m2msec_resolver_error_code(r), M2MSEC_ERR_INVALID_STATE);
    assert_int_equal(m2msec_config_set_timeout_ms(cfg, 1000), -1); /* frozen */
    m2msec_config_free(cfg);
    /* CSE-ID */
    assert_int_equal(m2msec_resolver_set_cse_id(r, "/cse-b"), 0);
    assert_int_equal(m2msec_resolver_set_cse_id(r, "//sp.example/cse-b"), 0);
    assert_int_equal(m2msec_resolver_set_cse_id(r, "cse-b"), -1);
    assert_int_equal(m2msec_resolver_set_cse_id(r, ""), -1);
    assert_int_equal(m2msec_resolver_set_cse_id(r, NULL), -1);
    assert_int_equal(m2msec_resolver_error_code(r), M2MSEC_ERR_INVALID_ARGUMENT);
    /* MEF */
    assert_int_equal(m2msec_resolver_set_mef(r, "127.0.0.1:8444", MEF_FQDN, "c", "k", "ca"), 0);
    assert_int_equal(m2msec_resolver_set_mef(r, "127.0.0.1", MEF_FQDN, "c", "k", "ca"), -1);
    assert_int_equal(m2msec_resolver_set_mef(r, "127.0.0.1:8444", "not_fqdn", "c", "k", "ca"), -1);
    assert_int_equal(m2msec_resolver_set_mef(r, "127.0.0.1:8444", MEF_FQDN, NULL, "k", "ca"), -1);
    assert_int_equal(m2msec_resolver_set_mef(r, "127.0.0.1:8444", MEF_FQDN, "c", "k", NULL), -1);
    /* KpsaIDs */
    assert_int_equal(m2msec_resolver_add_kpsa(r, KPSA_ID, key_a, 32, "/cse-a", 0), 0);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "k16@x.example", key_a, 16, "Cae1", 0), 0);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "k64@x.example", big, 64, "/cse-a", 0), 0);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "k15@x.example", key_a, 15, "/cse-a", 0), -1);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "k65@x.example", big, 65, "/cse-a", 0), -1);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "kn@x.example", NULL, 32, "/cse-a", 0), -1);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "has space", key_a, 32, "/cse-a", 0), -1);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "", key_a, 32, "/cse-a", 0), -1);
    assert_int_equal(m2msec_resolver_add_kpsa(r, NULL, key_a, 32, "/cse-a", 0), -1);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "kp@x.example", key_a, 32, "not an id", 0), -1);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "kp@x.example", key_a, 32, NULL, 0), -1);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "kp@x.example", key_a, 32, "/cse-a", -1), -1);
    /* the same KpsaID twice, also with the FQDN in another case */
    assert_int_equal(m2msec_resolver_add_kpsa(r, "kp1@ISSUER.test.example", key_a, 32, "/cse-a", 0),
                     -1);
    assert_int_equal(m2msec_resolver_error_code(r), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(
            m2msec_resolver_add_kpsa_file(r, "kf@x.example", "/nonexistent/k", "/cse-a", 0), -1);
    snprintf(path, sizeof(path), "%s/k.hex", fx->dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\nb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n", f);
    fclose(f);
    assert_int_equal(m2msec_resolver_add_kpsa_file(r, "kf@x.example", path, "/cse-f", 0), 0);
    /* once resolving has started the configuration is over */
    assert_int_equal(m2msec_resolver_resolve(r, "kf@x.example", psk, sizeof(psk), &len, info), 0);
    assert_int_equal(len, 32);
    assert_memory_equal(psk, key_b, 32);
    assert_int_equal(m2msec_resolver_add_kpsa(r, "late@x.example", key_a, 32, "/cse-a", 0), -1);
    assert_int_equal(m2msec_resolver_error_code(r), M2MSEC_ERR_INVALID_STATE);
    assert_int_equal(m2msec_resolver_set_cse_id(r, "/cse-c"), -1);
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_COUNTER_MAX), 0);
    assert_int_equal(m2msec_resolver_counter(NULL, M2MSEC_RESOLVER_RESOLVED), 0);
    unlink(path);
    m2msec_psk_info_free(info);
    m2msec_resolver_free(r);
}

/*
 * Identity parsing and the KpsaID table
 */
static void
test_resolve_local(void **state)
{
    static const struct {
        const char *id;
        int ok;
        const char *reason;
        enum m2msec_err code;
    } cases[] = {
        { KPSA_ID, 1, NULL, M2MSEC_ERR_NONE },
        { "kp1@ISSUER.Test.Example", 1, NULL, M2MSEC_ERR_NONE },      /* FQDN case-insensitive */
        { "KP1@issuer.test.example", 0, "unknown", M2MSEC_ERR_AUTH }, /* relative part exact */
        { "kp2@issuer.test.example", 0, "unknown", M2MSEC_ERR_AUTH },
        { "kp1", 0, "unknown", M2MSEC_ERR_AUTH },
        { "old@issuer.test.example", 0, "expired", M2MSEC_ERR_EXPIRED },
        { "", 0, "malformed", M2MSEC_ERR_AUTH },
        { "kp1 @issuer.test.example", 0, "malformed", M2MSEC_ERR_AUTH },
        { "kp1@issuer.test.example\n", 0, "malformed", M2MSEC_ERR_AUTH },
        /* names our MEF / MAF but is not a KeID / Key Identifier */
        { "nothex@" MEF_FQDN, 0, "malformed", M2MSEC_ERR_AUTH },
        { "0123@" MEF_FQDN, 0, "malformed", M2MSEC_ERR_AUTH },
    };
    struct fx *fx = *state;
    struct m2msec_resolver *r = make_resolver(fx);
    struct m2msec_psk_info *info = m2msec_psk_info_new();
    char longid[1100];
    uint8_t psk[64];
    uint8_t small[16];
    size_t len = 0;
    size_t i;
    unsigned ok = 0, refused = 0;

    assert_non_null(info);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(psk, 0, sizeof(psk));
        len = 99;
        if (cases[i].ok) {
            assert_int_equal(m2msec_resolver_resolve(r, cases[i].id, psk, sizeof(psk), &len, info),
                             0);
            assert_int_equal(len, 32);
            assert_memory_equal(psk, key_a, 32);
            assert_int_equal(m2msec_psk_info_source(info), M2MSEC_PSK_SOURCE_LOCAL);
            assert_string_equal(m2msec_psk_info_peer_id(info), "/cse-a");
            assert_string_equal(m2msec_psk_info_key_id(info), cases[i].id);
            assert_int_equal(strncmp(m2msec_psk_info_credential_id(info), "12-", 3), 0);
            assert_string_equal(m2msec_psk_info_credential_id(info) + 3, cases[i].id);
            assert_int_equal(m2msec_psk_info_suid(info), 12);
            assert_int_equal(m2msec_psk_info_expires(info), 0);
            assert_int_equal(m2msec_psk_info_cache_hit(info), 0);
            assert_null(m2msec_psk_info_reason(info));
            ok++;
        } else {
            assert_int_equal(m2msec_resolver_resolve(r, cases[i].id, psk, sizeof(psk), &len, info),
                             -1);
            assert_int_equal(len, 0);
            assert_int_equal(psk[0], 0); /* nothing written */
            assert_string_equal(m2msec_psk_info_reason(info), cases[i].reason);
            assert_int_equal(m2msec_psk_info_error_code(info), cases[i].code);
            assert_null(m2msec_psk_info_peer_id(info));
            refused++;
        }
    }
    /* an identity longer than the TLS layer's bound */
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(m2msec_resolver_resolve(r, longid, psk, sizeof(psk), &len, info), -1);
    assert_string_equal(m2msec_psk_info_reason(info), "malformed");
    assert_int_equal(m2msec_resolver_resolve(r, NULL, psk, sizeof(psk), &len, info), -1);
    refused += 2;
    /* the caller's buffer must hold the key */
    assert_int_equal(m2msec_resolver_resolve(r, KPSA_ID, small, sizeof(small), &len, info), -1);
    assert_int_equal(m2msec_psk_info_error_code(info), M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(len, 0);
    refused++;
    assert_int_equal(m2msec_resolver_resolve(r, KPSA_ID, NULL, 64, &len, info), -1);
    assert_int_equal(m2msec_resolver_resolve(r, KPSA_ID, psk, sizeof(psk), NULL, info), -1);
    assert_int_equal(m2msec_resolver_resolve(r, KPSA_ID, psk, sizeof(psk), &len, NULL), -1);
    refused += 2; /* the third has nowhere to report and is not counted */
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_RESOLVED), ok);
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_LOCAL), ok + 1);
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_REFUSALS), refused);
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_RETRIEVALS), 0);
    /* events: one per resolution, the odd identity quoted, never a key */
    assert_true(logged(fx, "event=psk_resolved identity=kp1@issuer.test.example source=local "
                           "cache=local peer=/cse-a credential_id=12-kp1@issuer.test.example"));
    assert_true(logged(fx, "event=psk_refused identity=\"kp1 @issuer.test.example\" "
                           "reason=malformed"));
    assert_true(logged(fx, "identity=\"kp1@issuer.test.example\\x0a\""));
    assert_true(logged(fx, "event=psk_refused identity=old@issuer.test.example reason=expired"));
    assert_false(logged(fx, "0102030405"));
    m2msec_psk_info_free(info);
    m2msec_resolver_free(r);
}

/*
 * The cache: hits, erasure at expiry, no new MAF retrieval for an expired Kc,
 * a new fetch attempt for an expired Kpsa, failed retrievals.
 */
static void
test_resolve_cache(void **state)
{
    struct fx *fx = *state;
    struct m2msec_resolver *r = make_resolver(fx);
    struct m2msec_psk_info *info = m2msec_psk_info_new();
    struct m2msec_db *db = open_cache(fx->dir);
    int64_t now = m2msec_now();
    uint8_t psk[64];
    size_t len = 0;
    size_t n = 0;

    assert_non_null(info);
    put_row(db, MAF_KID, 1, 32, "/cse-a", key_a, now, now + 100);
    put_row(db, MEF_KEID, 2, 22, "/cse-m", key_b, now, now + 100);
    assert_int_equal(m2msec_resolver_cached(r, &n), 0);
    assert_int_equal(n, 2);
    /* hits, also with the identity in another case */
    assert_int_equal(m2msec_resolver_resolve(r, MAF_KID, psk, sizeof(psk), &len, info), 0);
    assert_memory_equal(psk, key_a, 32);
    assert_int_equal(m2msec_psk_info_source(info), M2MSEC_PSK_SOURCE_MAF);
    assert_int_equal(m2msec_psk_info_cache_hit(info), 1);
    assert_int_equal(m2msec_psk_info_suid(info), 32);
    assert_int_equal(m2msec_psk_info_expires(info), now + 100);
    assert_string_equal(m2msec_psk_info_peer_id(info), "/cse-a");
    assert_string_equal(m2msec_psk_info_credential_id(info), "12-" MAF_KID);
    assert_int_equal(m2msec_resolver_resolve(r, "0123456789ABCDEF0123456789ABCDEF@MAF.test.example",
                                             psk, sizeof(psk), &len, info),
                     0);
    assert_int_equal(m2msec_resolver_resolve(r, MEF_KEID, psk, sizeof(psk), &len, info), 0);
    assert_memory_equal(psk, key_b, 32);
    assert_int_equal(m2msec_psk_info_source(info), M2MSEC_PSK_SOURCE_MEF);
    assert_string_equal(m2msec_psk_info_peer_id(info), "/cse-m");
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_CACHE_HITS), 3);
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_RETRIEVALS), 0);
    /* cache hits are counted, but reported as events only when asked for */
    assert_false(logged(fx, "cache=hit"));
    m2msec_resolver_set_event_debug(r, 1);
    assert_int_equal(m2msec_resolver_resolve(r, MAF_KID, psk, sizeof(psk), &len, info), 0);
    assert_true(logged(fx, "event=psk_resolved identity=" MAF_KID " source=maf cache=hit"));
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_CACHE_HITS), 4);
    m2msec_resolver_set_event_debug(r, 0);

    /* past the Kc lifetime: refused, erased, and the MAF is not asked again */
    m2msec_test_clock_offset(200);
    assert_int_equal(m2msec_resolver_resolve(r, MAF_KID, psk, sizeof(psk), &len, info), -1);
    assert_int_equal(m2msec_psk_info_error_code(info), M2MSEC_ERR_EXPIRED);
    assert_string_equal(m2msec_psk_info_reason(info), "expired");
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_ERASED), 1);
    assert_true(logged(fx, "event=psk_erased identity=" MAF_KID " reason=expired"));
    assert_int_equal(m2msec_resolver_cached(r, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m2msec_resolver_resolve(r, MAF_KID, psk, sizeof(psk), &len, info), -1);
    assert_string_equal(m2msec_psk_info_reason(info), "expired");
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_RETRIEVALS), 0);
    /* past the Kpsa lifetime: erased, then fetched again (the MEF does not answer here) */
    assert_int_equal(m2msec_resolver_resolve(r, MEF_KEID, psk, sizeof(psk), &len, info), -1);
    assert_string_equal(m2msec_psk_info_reason(info), "retrieval_failed");
    assert_int_equal(m2msec_psk_info_error_code(info), M2MSEC_ERR_AUTH);
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_RETRIEVALS), 1);
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_ERASED), 2);
    assert_true(logged(fx, "event=psk_retrieval identity=" MEF_KEID " source=mef"));
    assert_int_equal(m2msec_resolver_cached(r, &n), 0);
    assert_int_equal(n, 0);
    m2msec_test_clock_offset(0);
    /* an unknown Key Identifier of our MAF: Entity B is not a registered MAF client here */
    assert_int_equal(m2msec_resolver_resolve(r, "ffeeddccbbaa99887766554433221100@" MAF_FQDN, psk,
                                             sizeof(psk), &len, info),
                     -1);
    assert_string_equal(m2msec_psk_info_reason(info), "retrieval_failed");
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_RETRIEVALS), 2);
    /* the sweep erases expired rows nobody asks for */
    put_row(db, "aa@issuer.test.example", 2, 22, "/cse-a", key_a, now - 10, now - 1);
    assert_int_equal(m2msec_resolver_sweep(r, &n), 0);
    assert_int_equal(n, 1);
    assert_true(logged(fx, "event=psk_swept erased=1"));
    assert_int_equal(m2msec_resolver_sweep(r, &n), 0);
    assert_int_equal(n, 0);
    assert_false(logged(fx, "a0a1a2a3"));
    m2msec_db_close(db);
    m2msec_psk_info_free(info);
    m2msec_resolver_free(r);
}

/* Entity A's device store with an enrolment (Ke = key_b) and two Kc. */
static void
make_entity_a(struct fx *fx, int64_t ke_expires)
{
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = client_state_open(fx->adir, 1, &err);
    struct m2msec_enrolment_rec enr = { 0 };
    struct m2msec_dev_kc_rec kc = { 0 };
    int64_t now = m2msec_now();

    assert_non_null(db);
    enr.keid = (char *)(uintptr_t)MEF_KEID;
    enr.mef = (char *)(uintptr_t) "127.0.0.1:1";
    enr.kpm_id = (char *)(uintptr_t) "dev-a";
    enr.enrolee_id = (char *)(uintptr_t) "/cse-a";
    enr.created = now - 100;
    enr.expires = ke_expires;
    enr.ke = m2msec_secret_from(key_b, 32, &err);
    assert_int_equal(m2msec_dev_enrolment_put(db, &enr, &err), 0);
    m2msec_secret_free(enr.ke);
    kc.key_id = (char *)(uintptr_t)MAF_KID;
    kc.maf_fqdn = (char *)(uintptr_t)MAF_FQDN;
    kc.target = (char *)(uintptr_t) "/cse-b";
    kc.suid = 32;
    kc.expires = ke_expires; /* the caller's clock: its assertions compare with this */
    kc.kc = m2msec_secret_from(key_a, 32, &err);
    assert_int_equal(m2msec_dev_kc_put(db, &kc, &err), 0);
    kc.key_id = (char *)(uintptr_t) "11111111111111111111111111111111@" MAF_FQDN;
    kc.suid = 33;
    assert_int_equal(m2msec_dev_kc_put(db, &kc, &err), 0);
    kc.key_id = (char *)(uintptr_t) "22222222222222222222222222222222@" MAF_FQDN;
    kc.suid = 32;
    kc.expires = now - 1;
    assert_int_equal(m2msec_dev_kc_put(db, &kc, &err), 0);
    m2msec_secret_free(kc.kc);
    m2msec_db_close(db);
}

static struct m2msec_client *
make_client(const char *state_dir)
{
    struct m2msec_config *cfg = m2msec_config_new();
    struct m2msec_client *c = m2msec_client_new();

    assert_non_null(cfg);
    assert_non_null(c);
    if (state_dir != NULL) {
        assert_int_equal(m2msec_config_set_state_dir(cfg, state_dir), 0);
    }
    assert_int_equal(m2msec_config_set_timeout_ms(cfg, 3000), 0);
    assert_int_equal(m2msec_client_configure(c, cfg), 0);
    m2msec_config_free(cfg);
    return c;
}

/*
 * Entity A and Entity B in process: Kc (MAF SAEF), Kpsa from Ke (PSK SAEF via
 * the MEF) and a KpsaID, with B's cache holding what its sources would give.
 */
static void
test_cse_connect(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_resolver *r = make_resolver(fx);
    struct m2msec_db *db = open_cache(fx->dir);
    struct m2msec_secret *ke = m2msec_secret_from(key_b, 32, &err);
    struct m2msec_secret *kpsa = NULL;
    struct m2msec_cse *s = m2msec_cse_new(r);
    struct m2msec_client *a = NULL;
    struct m2msec_saef *sa = NULL;
    int64_t now = m2msec_now();
    const char *addr = NULL;

    assert_non_null(s);
    assert_null(m2msec_cse_new(NULL));
    assert_null(m2msec_cse_addr(s));
    assert_int_equal(m2msec_cse_set_limits(s, 2000, 0, 0), -1);
    assert_int_equal(m2msec_cse_error_code(s), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_cse_set_limits(s, 8, 1000, 3000), 0);
    assert_int_equal(m2msec_cse_start(s, "127.0.0.1"), -1);
    assert_int_equal(m2msec_cse_start(s, NULL), -1);
    assert_int_equal(m2msec_cse_start(s, "127.0.0.1:0"), 0);
    assert_int_equal(m2msec_cse_start(s, "127.0.0.1:0"), -1);
    assert_int_equal(m2msec_cse_error_code(s), M2MSEC_ERR_INVALID_STATE);
    addr = m2msec_cse_addr(s);
    assert_non_null(addr);

    /* B's cache: the Kc of MAF_KID, and the Kpsa the MEF derives for /cse-b from A's Ke */
    put_row(db, MAF_KID, 1, 32, "/cse-a", key_a, now, now + 100);
    assert_int_equal(m2msec_derive_usage_constrained(ke, 22, "/cse-b", &kpsa, &err), 0);
    put_row(db, MEF_KEID, 2, 22, "/cse-a", m2msec_secret_bytes(kpsa), now, now + 100);
    make_entity_a(fx, now + 100);
    a = make_client(fx->adir);

    /* MAF SAEF: the Kc registered under the Key Identifier */
    assert_int_equal(m2msec_client_connect(a, addr, MAF_KID, NULL, NULL, &sa), 0);
    assert_string_equal(m2msec_saef_peer(sa), "/cse-a");
    assert_string_equal(m2msec_saef_credential_id(sa), "12-" MAF_KID);
    assert_int_equal(m2msec_saef_peer_suid(sa), 32);
    assert_string_equal(m2msec_saef_cse(sa), "/cse-b");
    assert_string_equal(m2msec_saef_key_id(sa), MAF_KID);
    assert_string_equal(m2msec_saef_origin(sa), "/cse-a"); /* the Enrolee-ID by default */
    assert_int_equal(m2msec_saef_source(sa), M2MSEC_PSK_SOURCE_MAF);
    assert_int_equal(m2msec_saef_suid(sa), 32);
    assert_int_equal(m2msec_saef_key_expires(sa), now + 100);
    assert_non_null(m2msec_saef_cipher(sa));
    assert_non_null(strstr(m2msec_saef_body(sa), "\"peer\":\"/cse-a\""));
    m2msec_saef_free(sa);
    sa = NULL;
    /* the Credential-ID is an accepted originator too; anything else is 4106 */
    assert_int_equal(m2msec_client_connect(a, addr, MAF_KID, NULL, "12-" MAF_KID, &sa), 0);
    m2msec_saef_free(sa);
    sa = NULL;
    assert_int_equal(m2msec_client_connect(a, addr, MAF_KID, NULL, "/cse-z", &sa), -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_REFUSED);
    assert_int_equal(m2msec_client_error_rsc(a), 4106);
    assert_null(sa);

    /* PSK SAEF via the MEF: Kpsa = 10.3.7(Ke, 22, IdB) */
    assert_int_equal(m2msec_client_connect(a, addr, MEF_KEID, "/cse-b", NULL, &sa), 0);
    assert_int_equal(m2msec_saef_source(sa), M2MSEC_PSK_SOURCE_MEF);
    assert_int_equal(m2msec_saef_peer_suid(sa), 22);
    assert_string_equal(m2msec_saef_credential_id(sa), "12-" MEF_KEID);
    m2msec_saef_free(sa);
    sa = NULL;
    /* derived for another IdB: not the key B holds */
    assert_int_equal(m2msec_client_connect(a, addr, MEF_KEID, "/cse-q", NULL, &sa), -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_AUTH);
    assert_non_null(strstr(m2msec_client_error(a), "refused the handshake"));
    /* no IdB */
    assert_int_equal(m2msec_client_connect(a, addr, MEF_KEID, NULL, NULL, &sa), -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_INVALID_ARGUMENT);
    /* local refusals: SUID 33 Kc, expired Kc, unknown id, bad arguments */
    assert_int_equal(m2msec_client_connect(a, addr, "11111111111111111111111111111111@" MAF_FQDN,
                                           NULL, NULL, &sa),
                     -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(m2msec_client_error(a), "SUID 33"));
    assert_int_equal(m2msec_client_connect(a, addr, "22222222222222222222222222222222@" MAF_FQDN,
                                           NULL, NULL, &sa),
                     -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_EXPIRED);
    assert_non_null(strstr(m2msec_client_error(a), "re-provision"));
    assert_int_equal(m2msec_client_connect(a, addr, "nobody@x.example", NULL, NULL, &sa), -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_NOT_FOUND);
    assert_int_equal(m2msec_client_connect(a, NULL, MAF_KID, NULL, NULL, &sa), -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_client_connect(a, addr, "sp ace", NULL, NULL, &sa), -1);
    assert_int_equal(m2msec_client_connect(a, addr, MAF_KID, NULL, NULL, NULL), -1);
    m2msec_client_free(a);

    /* pre-provisioned KpsaID, no state directory */
    a = make_client(NULL);
    assert_int_equal(m2msec_client_connect_psk(a, addr, KPSA_ID, key_a, 32, "/cse-a", &sa), 0);
    assert_int_equal(m2msec_saef_source(sa), M2MSEC_PSK_SOURCE_LOCAL);
    assert_int_equal(m2msec_saef_peer_suid(sa), 12);
    m2msec_saef_free(sa);
    sa = NULL;
    assert_int_equal(m2msec_client_connect_psk(a, addr, KPSA_ID, key_b, 32, "/cse-a", &sa), -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_AUTH);
    assert_int_equal(
            m2msec_client_connect_psk(a, addr, "nobody@x.example", key_a, 32, "/cse-a", &sa), -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_AUTH);
    assert_int_equal(m2msec_client_connect_psk(a, addr, KPSA_ID, key_a, 15, "/cse-a", &sa), -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_client_connect_psk(a, addr, KPSA_ID, key_a, 32, NULL, &sa), -1);
    assert_int_equal(m2msec_client_connect(a, addr, MAF_KID, NULL, NULL, &sa), -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_INVALID_STATE); /* no state dir */
    m2msec_client_free(a);

    /* Entity A's Ke has expired: re-provision, and no connection is made */
    rm_tree(fx->adir);
    assert_int_equal(mkdir(fx->adir, 0700), 0);
    make_entity_a(fx, now - 1);
    a = make_client(fx->adir);
    assert_int_equal(m2msec_client_connect(a, addr, MEF_KEID, "/cse-b", NULL, &sa), -1);
    assert_int_equal(m2msec_client_error_code(a), M2MSEC_ERR_EXPIRED);
    assert_non_null(strstr(m2msec_client_error(a), "enrol again"));
    m2msec_client_free(a);

    assert_true(m2msec_cse_connections(s) >= 8);
    assert_true(logged(fx, "event=request"));
    assert_true(logged(fx, "rsc=4106"));
    m2msec_cse_stop(s);
    assert_null(m2msec_cse_addr(s));
    m2msec_cse_stop(s); /* idempotent */
    m2msec_cse_free(s);
    m2msec_cse_free(NULL);
    m2msec_secret_free(kpsa);
    m2msec_secret_free(ke);
    m2msec_db_close(db);
    m2msec_resolver_free(r);
}

/* Many handshake threads resolving at once: one cache, one set of counters. */
#define RACE_THREADS 8
#define RACE_ROUNDS  24

static void *
race_main(void *arg)
{
    struct m2msec_resolver *r = arg;
    struct m2msec_psk_info *info = m2msec_psk_info_new();
    uint8_t psk[64];
    size_t len = 0;
    long bad = 0;
    int i;

    for (i = 0; info != NULL && i < RACE_ROUNDS; i++) {
        if (m2msec_resolver_resolve(r, (i & 1) != 0 ? MAF_KID : KPSA_ID, psk, sizeof(psk), &len,
                                    info) != 0 ||
            len != 32 || memcmp(psk, (i & 1) != 0 ? key_b : key_a, 32) != 0) {
            bad++;
        }
        if (m2msec_resolver_resolve(r, "nobody@x.example", psk, sizeof(psk), &len, info) != -1) {
            bad++;
        }
    }
    m2msec_psk_info_free(info);
    return (void *)bad;
}

static void
test_resolve_threads(void **state)
{
    struct fx *fx = *state;
    struct m2msec_resolver *r = make_resolver(fx);
    struct m2msec_db *db = open_cache(fx->dir);
    pthread_t t[RACE_THREADS];
    void *bad = NULL;
    int64_t now = m2msec_now();
    size_t i;

    m2msec_resolver_set_event_cb(r, NULL, NULL);
    put_row(db, MAF_KID, 1, 32, "/cse-a", key_b, now, now + 100);
    for (i = 0; i < RACE_THREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, race_main, r), 0);
    }
    for (i = 0; i < RACE_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_null(bad);
    }
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_RESOLVED),
                     RACE_THREADS * RACE_ROUNDS);
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_CACHE_HITS),
                     RACE_THREADS * RACE_ROUNDS / 2);
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_REFUSALS),
                     RACE_THREADS * RACE_ROUNDS);
    assert_int_equal(m2msec_resolver_counter(r, M2MSEC_RESOLVER_RETRIEVALS), 0);
    m2msec_db_close(db);
    m2msec_resolver_free(r);
}

/* A resolver without a CSE-ID cannot serve. */
static void
test_cse_needs_id(void **state)
{
    struct fx *fx = *state;
    struct m2msec_config *cfg = m2msec_config_new();
    struct m2msec_resolver *r = m2msec_resolver_new();
    struct m2msec_cse *s = NULL;

    assert_int_equal(m2msec_config_set_state_dir(cfg, fx->dir), 0);
    assert_int_equal(m2msec_resolver_configure(r, cfg), 0);
    m2msec_config_free(cfg);
    s = m2msec_cse_new(r);
    assert_int_equal(m2msec_cse_start(s, "127.0.0.1:0"), -1);
    assert_int_equal(m2msec_cse_error_code(s), M2MSEC_ERR_INVALID_STATE);
    assert_string_equal(m2msec_psk_source_name(M2MSEC_PSK_SOURCE_MEF), "mef");
    assert_string_equal(m2msec_psk_source_name((enum m2msec_psk_source)42), "none");
    m2msec_cse_free(s);
    m2msec_resolver_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_cse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolver_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_local, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cse_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cse_needs_id, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
