/*
 * tests/unit/test_maf_msg.c - MAF registration messages (codec/maf_msg.h),
 * their update and configuration (codec/mef_msg.h with M2MSEC_REG_MAF), and
 * the MAF / device stores (store/maf.c): clients (remotely and
 * pre-provisioned), registrations and their lifecycle, the MAF's key
 * registry (store/keyreg.c) as a child of both, and its schema migration.
 */
/* cmocka needs these four first; the blank line keeps clang-format from reordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/maf_msg.h"
#include "codec/mef_msg.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

#define REL_A "0123456789abcdef0123456789abcdef"
#define REL_B "fedcba9876543210fedcba9876543210"
#define REG_1 "11111111111111111111111111111111"
#define REG_2 "22222222222222222222222222222222"
#define REG_3 "33333333333333333333333333333333"

static int
decode_req(const char *json, struct m2msec_mafreg_req *out)
{
    struct m2msec_error err = { 0 };

    return m2msec_mafreg_req_decode((const uint8_t *)json, strlen(json), out, &err);
}

static void
test_req_roundtrip(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mafreg_req in = { 0 }, out = { 0 };
    struct m2msec_buf b;
    char maf[] = "maf.example.com", admin[] = "admin.example.com", l1[] = "a";
    char *lbl[] = { l1, NULL };

    (void)state;
    m2msec_buf_init(&b, 65536);
    in.maf_fqdn = maf;
    in.admin_fqdn = admin;
    in.et = 4102444800; /* 2100-01-01 */
    in.lbl = lbl;
    in.nlbl = 1;
    in.has_lbl = 1;
    assert_int_equal(m2msec_mafreg_req_encode(&in, &b, &err), 0);
    assert_int_equal(m2msec_mafreg_req_decode(b.data, b.len, &out, &err), 0);
    assert_string_equal(out.maf_fqdn, maf);
    assert_string_equal(out.admin_fqdn, admin);
    assert_true(out.et == in.et);
    assert_int_equal(out.nlbl, 1);
    assert_string_equal(out.lbl[0], "a");
    m2msec_mafreg_req_clear(&out);
    /* Rejected neighbour: a required member missing refuses to encode. */
    in.admin_fqdn = NULL;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mafreg_req_encode(&in, &b, &err), -1);
    assert_int_equal(err.rsc, 5000);
    m2msec_buf_free(&b);
}

static void
test_req_rejects(void **state)
{
    static const struct {
        const char *json;
        int ok;
    } cases[] = {
        { "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\"}", 1 },
        { "{\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\"}", 0 }, /* missing */
        { "{\"mafFQDN\":1,\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\"}", 0 }, /* type */
        { "{\"mafFQDN\":\"m example\",\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\"}", 0 },
        { "{\"mafFQDN\":\"m.example\",\"et\":\"2100\",\"adminFQDN\":\"a.example\"}", 0 }, /* time */
        { "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\","
          "\"x\":1}",
          0 }, /* unknown */
        { "{\"mefFQDN\":\"m.example\",\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\"}", 0 },
        { "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\","
          "\"lbl\":[\"\"]}",
          0 }, /* empty label */
        { "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\"", 0 },
    };
    struct m2msec_mafreg_req out;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rv = decode_req(cases[i].json, &out);

        assert_int_equal(rv, cases[i].ok ? 0 : -1);
        if (!cases[i].ok) {
            assert_null(out.maf_fqdn);
        }
        m2msec_mafreg_req_clear(&out);
    }
}

static void
test_resp_roundtrip(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mafreg_resp in = { 0 }, out = { 0 };
    struct m2msec_buf b;
    char reg[] = REG_1, cid[] = "/cse-1", admin[] = "admin.example.com";
    char kmid[] = REL_A "@maf.example.com", bad[] = "no-at-sign";
    static const char noassign[] =
            "{\"regID\":\"r\",\"et\":\"21000101T000000\",\"clientID\":\"/c\","
            "\"adminFQDN\":\"a.example\"}";

    (void)state;
    m2msec_buf_init(&b, 65536);
    in.reg_id = reg;
    in.client_id = cid;
    in.admin_fqdn = admin;
    in.et = 4102444800;
    in.assigned_kmid = kmid;
    assert_int_equal(m2msec_mafreg_resp_encode(&in, &b, &err), 0);
    assert_int_equal(m2msec_mafreg_resp_decode(b.data, b.len, &out, &err), 0);
    assert_string_equal(out.assigned_kmid, kmid);
    assert_string_equal(out.client_id, cid);
    assert_int_equal(out.has_lbl, 0);
    m2msec_mafreg_resp_clear(&out);
    /* assignedSymmKeyID is optional, but must name a MAF when present. */
    assert_int_equal(
            m2msec_mafreg_resp_decode((const uint8_t *)noassign, strlen(noassign), &out, &err), 0);
    assert_null(out.assigned_kmid);
    m2msec_mafreg_resp_clear(&out);
    in.assigned_kmid = bad;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mafreg_resp_encode(&in, &b, &err), -1);
    m2msec_buf_free(&b);
}

/* Store fixture: a fresh file per test. */
struct fx {
    char dir[64];
    char path[96];
    struct m2msec_secret *kek;
};

static int
setup(void **state)
{
    struct m2msec_error err = { 0 };
    struct fx *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/m2msec-maf-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/s.db", fx->dir);
    fx->kek = m2msec_secret_random(32, &err);
    *state = fx;
    return fx->kek == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
    struct fx *fx = *state;
    char p[128];

    snprintf(p, sizeof(p), "%s-wal", fx->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", fx->path);
    unlink(p);
    unlink(fx->path);
    rmdir(fx->dir);
    m2msec_secret_free(fx->kek);
    free(fx);
    return 0;
}

static struct m2msec_secret *
key_of(uint8_t b)
{
    struct m2msec_error err = { 0 };
    uint8_t k[32];

    memset(k, b, sizeof(k));
    return m2msec_secret_from(k, sizeof(k), &err);
}

static void
test_store_register(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_MAF, fx->kek, &err);
    struct m2msec_secret *km = key_of(0x11), *km2 = key_of(0x22);
    struct m2msec_maf_client_rec c = { 0 }, c2 = { 0 };
    struct m2msec_maf_client_rec *got = NULL;
    struct m2msec_maf_client_rec **list = NULL;
    struct m2msec_mafreg_rec r = { 0 };
    char keid1[] = REL_B "@mef.example", keid2[] = REL_A "@mef.example", cid[] = "/cse-1";
    char admin[] = "admin.example", admin_uc[] = "ADMIN.example", admin2[] = "b.example";
    char rel_a[] = REL_A, rel_b[] = REL_B;
    int64_t now = 1000000;
    size_t n = 0;

    (void)state;
    assert_non_null(db);
    memcpy(c.kmid_rel, REL_A, 33);
    c.keid = keid1;
    c.client_id = cid;
    c.km = km;
    c.expires = now + 100;
    c.created = now;
    memcpy(r.reg_id, REG_1, 33);
    r.kmid_rel = rel_a;
    r.admin_fqdn = admin;
    r.expires = now + 50;
    assert_int_equal(m2msec_maf_register(db, &c, &r, now, &err), 0);
    assert_int_equal(m2msec_maf_client_get(db, REL_A, now, 1, &got, &err), 0);
    assert_true(m2msec_secret_equal(got->km, km));
    assert_string_equal(got->client_id, cid);
    m2msec_maf_client_rec_free(got);
    /* Same adminFQDN (any case) again: 4105; another adminFQDN: accepted. */
    memcpy(r.reg_id, REG_2, 33);
    r.admin_fqdn = admin_uc;
    assert_int_equal(m2msec_maf_register(db, NULL, &r, now, &err), -1);
    assert_int_equal(err.rsc, 4105);
    r.admin_fqdn = admin2;
    assert_int_equal(m2msec_maf_register(db, NULL, &r, now, &err), 0);
    assert_int_equal(m2msec_maf_reg_count(db, REL_A, now, &n, &err), 0);
    assert_int_equal(n, 2);
    /* A registration outliving Km, an unknown client, a malformed id: refused. */
    memcpy(r.reg_id, REG_3, 33);
    r.admin_fqdn = admin;
    r.expires = now + 500;
    assert_int_equal(m2msec_maf_register(db, NULL, &r, now, &err), -1);
    r.expires = now + 50;
    r.kmid_rel = rel_b;
    assert_int_equal(m2msec_maf_register(db, NULL, &r, now, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    r.reg_id[0] = 'X';
    assert_int_equal(m2msec_maf_register(db, NULL, &r, now, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    /* Re-enrolment: a new KeID for the same client id replaces the client and its registrations. */
    memcpy(c2.kmid_rel, REL_B, 33);
    c2.keid = keid2;
    c2.client_id = cid;
    c2.km = km2;
    c2.expires = now + 100;
    c2.created = now;
    memcpy(r.reg_id, REG_3, 33);
    r.admin_fqdn = admin;
    assert_int_equal(m2msec_maf_register(db, &c2, &r, now, &err), 0);
    assert_int_equal(m2msec_maf_client_get(db, REL_A, now, 0, &got, &err), -1);
    assert_int_equal(m2msec_maf_client_list(db, now, 1, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0]->kmid_rel, REL_B);
    assert_true(m2msec_secret_equal(list[0]->km, km2));
    m2msec_maf_client_list_free(list);
    /* Expired: absent to the getter, erased by the sweep. */
    assert_int_equal(m2msec_maf_client_get(db, REL_B, now + 100, 0, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    assert_int_equal(m2msec_maf_sweep(db, now + 100, &n, &err), 0);
    assert_true(n >= 1);
    assert_int_equal(m2msec_maf_client_get(db, REL_B, now, 0, &got, &err), -1);
    m2msec_secret_free(km);
    m2msec_secret_free(km2);
    m2msec_db_close(db);
}

static void
test_store_kinds(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_MAF, fx->kek, &err);

    assert_non_null(db);
    m2msec_db_close(db);
    /* A MAF store is not a MEF or device store, and vice versa. */
    assert_null(m2msec_db_open(fx->path, M2MSEC_SCHEMA_MEF, fx->kek, &err));
    assert_null(m2msec_db_open(fx->path, M2MSEC_SCHEMA_DEVICE, fx->kek, &err));
}

static void
test_dev_maf(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_DEVICE, fx->kek, &err);
    struct m2msec_secret *km = key_of(0x33);
    struct m2msec_dev_maf_rec r = { 0 };
    struct m2msec_dev_maf_rec *got = NULL;
    char fqdn[] = "maf.example", kmid[] = REL_A "@maf.example", keid[] = REL_B "@mef.example";

    assert_non_null(db);
    /* v4 brought what this test uses (pre-provisioned Km, client ids); later versions add tables. */
    assert_true(m2msec_db_schema_version(db) >= 4);
    r.maf_fqdn = fqdn;
    r.kmid = kmid;
    r.keid = keid;
    r.expires = 2000;
    r.km = km;
    assert_int_equal(m2msec_dev_maf_put(db, &r, &err), 0);
    assert_int_equal(m2msec_dev_maf_get(db, "MAF.example", 1000, 1, &got, &err), 0);
    assert_true(m2msec_secret_equal(got->km, km));
    assert_string_equal(got->kmid, kmid);
    assert_null(got->reg_id);
    m2msec_dev_maf_rec_free(got);
    assert_int_equal(m2msec_dev_maf_get(db, "maf.example", 2000, 0, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    assert_int_equal(m2msec_dev_maf_get(db, "other.example", 1000, 0, &got, &err), -1);
    /* A sealed Km moved to another KmID fails to open. */
    assert_int_equal(m2msec_db_test_exec(db, "UPDATE dev_maf SET kmid = 'x@maf.example'", &err), 0);
    assert_int_equal(m2msec_dev_maf_get(db, "maf.example", 1000, 1, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    r.km = NULL;
    assert_int_equal(m2msec_dev_maf_put(db, &r, &err), -1);
    m2msec_secret_free(km);
    m2msec_db_close(db);
}

/*
 * MAF Key Registration / Retrieval messages.
 */

/* A client with one registration, for the key store tests. */
static void
key_client(struct m2msec_db *db, const char *rel, const char *reg_id, const char *cid,
           const char *keid, struct m2msec_secret *km, int64_t now)
{
    struct m2msec_error err = { 0 };
    struct m2msec_maf_client_rec c = { 0 };
    struct m2msec_mafreg_rec r = { 0 };
    char rel_copy[33], keid_copy[80], cid_copy[32], admin[] = "admin.example";

    memcpy(rel_copy, rel, 33);
    snprintf(keid_copy, sizeof(keid_copy), "%s", keid);
    snprintf(cid_copy, sizeof(cid_copy), "%s", cid);
    memcpy(c.kmid_rel, rel, 33);
    c.keid = keid_copy;
    c.client_id = cid_copy;
    c.km = km;
    c.expires = now + 100;
    c.created = now;
    memcpy(r.reg_id, reg_id, 33);
    r.kmid_rel = rel_copy;
    r.admin_fqdn = admin;
    r.expires = now + 80;
    assert_int_equal(m2msec_maf_register(db, &c, &r, now, &err), 0);
}

/* A key registration of client rel under reg_id in the MAF's key registry (store/keyreg.c). */
static int
maf_key_put(struct m2msec_db *db, const char *id, const char *rel, const char *reg_id,
            struct m2msec_secret *kc, int64_t expires, int64_t now, struct m2msec_error *err)
{
    struct m2msec_keyreg_rec k = { 0 };
    char id_c[40], rel_c[33], reg_c[33], src[] = "/cse-a", admin[] = "admin.example";
    char t1[] = "/cse-b", t2[] = "/cse-c", l1[] = "lab";
    char *targets[] = { t1, t2, NULL }, *labels[] = { l1, NULL };

    snprintf(id_c, sizeof(id_c), "%s", id);
    memcpy(rel_c, rel, 33);
    memcpy(reg_c, reg_id, 33);
    k.rel_key_id = id_c;
    k.owner = rel_c;
    k.reg_id = reg_c;
    k.source_id = src;
    k.admin_fqdn = admin;
    k.suid = 34;
    k.targets = targets;
    k.ntargets = 2;
    k.labels = labels;
    k.nlabels = 1;
    k.key = kc;
    k.expires = expires;
    k.created = now;
    return m2msec_keyreg_put(db, M2MSEC_KEYREG_MAF, &k, now, err);
}

static int64_t
qint(struct m2msec_db *db, const char *sql)
{
    struct m2msec_error err = { 0 };
    int64_t v = -1;

    if (m2msec_db_test_query_int(db, sql, &v, &err) != 0) {
        fail_msg("%s: %s", sql, err.msg);
    }
    return v;
}

/*
 * The MAF's key registry is store/keyreg.c's (its own tests are in
 * test_keyreg.c); here what is the MAF's: keys are children of the
 * registration and of the client, and the MAF's sweep, de-registration,
 * client removal and re-registration erase them.
 */
static void
test_store_keys(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_MAF, fx->kek, &err);
    struct m2msec_secret *km = key_of(0x11), *km2 = key_of(0x22), *kc = key_of(0x44);
    struct m2msec_keyreg_rec *got = NULL;
    int64_t now = 1000000;
    size_t n = 0;

    assert_non_null(db);
    assert_int_equal(m2msec_db_schema_version(db), 4);
    key_client(db, REL_A, REG_1, "/cse-a", REL_B "@mef.example", km, now); /* reg et now + 80 */
    assert_int_equal(maf_key_put(db, "k1", REL_A, REG_1, kc, now + 60, now, &err), 0);
    assert_int_equal(m2msec_keyreg_get(db, M2MSEC_KEYREG_MAF, "K1", now, 1, &got, &err), 0);
    assert_true(m2msec_secret_equal(got->key, kc));
    assert_string_equal(got->owner, REL_A);
    assert_string_equal(got->reg_id, REG_1);
    assert_int_equal(got->ntargets, 2);
    assert_string_equal(got->labels[0], "lab");
    m2msec_keyreg_rec_free(got);
    /* Sealed with AAD "kc:<rel>", no clear Kc in the row. */
    assert_int_equal(qint(db, "SELECT instr(key, x'4444444444444444') FROM keyreg"), 0);
    /* Another client's registration (4103), an unknown one (4004), outliving it: refused. */
    assert_int_equal(maf_key_put(db, "k2", REL_B, REG_1, kc, now + 60, now, &err), -1);
    assert_int_equal(err.rsc, 4103);
    assert_int_equal(maf_key_put(db, "k2", REL_A, REG_2, kc, now + 60, now, &err), -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(maf_key_put(db, "k2", REL_A, REG_1, kc, now + 81, now, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(maf_key_put(db, "k1", REL_A, REG_1, kc, now + 60, now, &err), -1);
    assert_int_equal(err.rsc, 4105);
    /* This store holds the MAF's registry, not the MEF's. */
    assert_int_equal(m2msec_keyreg_get(db, M2MSEC_KEYREG_MEF, "k1", now, 0, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    /* The MAF's sweep erases expired keys (and counts them), lists included. */
    assert_int_equal(maf_key_put(db, "k2", REL_A, REG_1, kc, now + 10, now, &err), 0);
    assert_int_equal(m2msec_maf_sweep(db, now + 9, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(m2msec_maf_sweep(db, now + 10, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg"), 1);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg_target WHERE rel = 'k2'"), 0);
    /* ... and at the registration's expiry the key (capped at it) and the registration. */
    assert_int_equal(m2msec_maf_sweep(db, now + 80, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg"), 0);
    /* Replacing the client (re-enrolment: same client id) erases its keys. */
    key_client(db, REL_A, REG_1, "/cse-a", REL_B "@mef.example", km, now);
    assert_int_equal(maf_key_put(db, "k1", REL_A, REG_1, kc, now + 60, now, &err), 0);
    key_client(db, REL_B, REG_2, "/cse-a", REL_A "@mef.example", km2, now);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg"), 0);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg_target"), 0);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg_label"), 0);
    /* `mafd client remove` erases the client's keys. */
    assert_int_equal(maf_key_put(db, "k3", REL_B, REG_2, kc, now + 60, now, &err), 0);
    assert_int_equal(m2msec_maf_client_remove(db, REL_B, &err), 0);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg"), 0);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg_target"), 0);
    m2msec_secret_free(km);
    m2msec_secret_free(km2);
    m2msec_secret_free(kc);
    m2msec_db_close(db);
}

/*
 * Schema 3 -> 4: the maf_key rows of a populated store move to the key
 * registry in the migration's transaction, sealed keys untouched; a key is
 * capped at its registration's expiry, one whose registration is gone is
 * dropped, and maf_key goes.
 */
static void
test_store_migration(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_MAF, fx->kek, &err);
    struct m2msec_secret *km = key_of(0x11), *kc = key_of(0x44), *kc2 = key_of(0x55);
    struct m2msec_keyreg_rec *got = NULL;
    int64_t now = 1000000;

    assert_non_null(db);
    key_client(db, REL_A, REG_1, "/cse-a", REL_B "@mef.example", km, now); /* reg et now + 80 */
    assert_int_equal(maf_key_put(db, "k1", REL_A, REG_1, kc, now + 60, now, &err), 0);
    assert_int_equal(maf_key_put(db, "k2", REL_A, REG_1, kc2, now + 70, now, &err), 0);
    /* Back to schema 3: keyreg's rows (sealed as maf_key's were, "kc:<rel>") in maf_key. */
    assert_int_equal(
            m2msec_db_test_exec(
                    db,
                    "CREATE TABLE maf_key ("
                    " rel_key_id TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,"
                    " kmid_rel TEXT NOT NULL REFERENCES maf_client (kmid_rel) ON DELETE CASCADE,"
                    " reg_id TEXT NOT NULL, source_id TEXT NOT NULL, admin_fqdn TEXT NOT NULL,"
                    " suid INTEGER NOT NULL, kc BLOB NOT NULL, et INTEGER NOT NULL,"
                    " created INTEGER NOT NULL);"
                    "CREATE TABLE maf_key_target ("
                    " rel_key_id TEXT NOT NULL REFERENCES maf_key (rel_key_id) ON DELETE CASCADE,"
                    " pos INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (rel_key_id, pos));"
                    "CREATE TABLE maf_key_label ("
                    " rel_key_id TEXT NOT NULL REFERENCES maf_key (rel_key_id) ON DELETE CASCADE,"
                    " pos INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (rel_key_id, pos));"
                    "INSERT INTO maf_key SELECT rel, owner, reg_id, source_id, admin_fqdn, suid,"
                    " key, expires, created FROM keyreg;"
                    "INSERT INTO maf_key_target SELECT rel, pos, value FROM keyreg_target;"
                    "INSERT INTO maf_key_label SELECT rel, pos, value FROM keyreg_label;"
                    /* Before schema 4 a key could outlive its registration, or be left
                     * without one: k2 past the registration, k3 an orphan. */
                    "UPDATE maf_key SET et = 1000090 WHERE rel_key_id = 'k2';"
                    "INSERT INTO maf_key SELECT 'k3', kmid_rel, '" REG_3
                    "', source_id, admin_fqdn, suid, kc, et, created FROM maf_key"
                    " WHERE rel_key_id = 'k1';"
                    "INSERT INTO maf_key_target VALUES ('k3', 0, '/cse-b');"
                    "DROP TABLE keyreg_label; DROP TABLE keyreg_target; DROP TABLE keyreg;"
                    "PRAGMA user_version = 3",
                    &err),
            0);
    m2msec_db_close(db);
    db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_MAF, fx->kek, &err);
    assert_non_null(db);
    assert_int_equal(m2msec_db_schema_version(db), 4);
    assert_int_equal(qint(db, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'maf_key%'"), 0);
    /* k1 as it was: its Kc opens under the new table (same AAD), lists kept. */
    assert_int_equal(m2msec_keyreg_get(db, M2MSEC_KEYREG_MAF, "k1", now, 1, &got, &err), 0);
    assert_true(m2msec_secret_equal(got->key, kc));
    assert_string_equal(got->owner, REL_A);
    assert_string_equal(got->reg_id, REG_1);
    assert_string_equal(got->source_id, "/cse-a");
    assert_int_equal(got->suid, 34);
    assert_true(got->expires == now + 60);
    assert_int_equal(got->ntargets, 2);
    assert_string_equal(got->targets[1], "/cse-c");
    assert_int_equal(got->nlabels, 1);
    m2msec_keyreg_rec_free(got);
    /* k2 capped at the registration's expiry; k3 dropped with its targets. */
    assert_int_equal(m2msec_keyreg_get(db, M2MSEC_KEYREG_MAF, "k2", now, 1, &got, &err), 0);
    assert_true(m2msec_secret_equal(got->key, kc2));
    assert_true(got->expires == now + 80);
    m2msec_keyreg_rec_free(got);
    assert_int_equal(m2msec_keyreg_get(db, M2MSEC_KEYREG_MAF, "k3", now, 0, &got, &err), -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg_target WHERE rel = 'k3'"), 0);
    /* The migrated keys follow their registration from now on. */
    assert_int_equal(m2msec_maf_reg_delete(db, REG_1, now, NULL, &err), 0);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg"), 0);
    m2msec_secret_free(km);
    m2msec_secret_free(kc);
    m2msec_secret_free(kc2);
    m2msec_db_close(db);
}

static void
test_dev_kc(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_DEVICE, fx->kek, &err);
    struct m2msec_secret *kc = key_of(0x66);
    struct m2msec_dev_kc_rec r = { 0 };
    struct m2msec_dev_kc_rec *got = NULL;
    char id[] = REL_A "@maf.example", fqdn[] = "maf.example", t[] = "/cse-b";

    assert_non_null(db);
    r.key_id = id;
    r.maf_fqdn = fqdn;
    r.target = t;
    r.suid = 32;
    r.expires = 2000;
    r.kc = kc;
    assert_int_equal(m2msec_dev_kc_put(db, &r, &err), 0);
    assert_int_equal(m2msec_dev_kc_get(db, id, 1000, 1, &got, &err), 0);
    assert_true(m2msec_secret_equal(got->kc, kc));
    assert_int_equal(got->suid, 32);
    assert_string_equal(got->target, t);
    m2msec_dev_kc_rec_free(got);
    assert_int_equal(m2msec_dev_kc_get(db, id, 2000, 0, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    assert_int_equal(m2msec_db_test_exec(db, "UPDATE dev_kc SET key_id = 'x@maf.example'", &err),
                     0);
    assert_int_equal(m2msec_dev_kc_get(db, "x@maf.example", 1000, 1, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    r.target = NULL;
    assert_int_equal(m2msec_dev_kc_put(db, &r, &err), -1);
    m2msec_secret_free(kc);
    m2msec_db_close(db);
}

/*
 * Registration Update and Configuration Retrieval messages (8.8.2.4, 8.8.2.5).
 */

static void
test_update_codec(void **state)
{
    static const struct {
        const char *json;
        int is_request;
        int ok;
    } cases[] = {
        { "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\"}", 1, 1 },
        { "{\"mafFQDN\":\"m.example\",\"lbl\":[\"a\",\"b\"]}", 1, 1 },
        { "{\"mafFQDN\":\"m.example\"}", 1, 0 },                            /* nothing to update */
        { "{\"et\":\"21000101T000000\"}", 1, 0 },                           /* mafFQDN missing */
        { "{\"mafFQDN\":\"m example\",\"et\":\"21000101T000000\"}", 1, 0 }, /* not a host */
        { "{\"mafFQDN\":\"m.example\",\"et\":1}", 1, 0 },                   /* wrong type */
        { "{\"mafFQDN\":\"m.example\",\"et\":\"2100\"}", 1, 0 },            /* not a timestamp */
        { "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\",\"x\":1}", 1, 0 }, /* unknown */
        { "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\","
          "\"assignedSymmKeyID\":\"a@m.example\"}",
          1, 0 }, /* response-only member */
        { "{\"et\":\"21000101T000000\"}", 0, 1 },
        { "{\"et\":\"21000101T000000\",\"assignedSymmKeyID\":\"" REL_A "@m.example\"}", 0, 1 },
        { "{}", 0, 1 }, /* only what the request carried: may be nothing */
        { "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\"}", 0, 0 }, /* request-only */
        { "{\"et\":\"21000101T000000\",\"assignedSymmKeyID\":\"no-at-sign\"}", 0, 0 },
        { "{\"lbl\":[\"\"]}", 0, 0 },                                       /* empty label */
        { "{\"mefFQDN\":\"m.example\",\"et\":\"21000101T000000\"}", 1, 0 }, /* the MEF's */
    };
    static const struct {
        const char *json;
        int is_request;
        int ok;
    } mef_cases[] = {
        { "{\"mefFQDN\":\"m.example\",\"et\":\"21000101T000000\"}", 1, 1 },
        { "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\"}", 1, 0 },
        { "{\"et\":\"21000101T000000\"}", 0, 1 },
        { "{\"et\":\"21000101T000000\",\"assignedSymmKeyID\":\"" REL_A "@m.example\"}", 0, 0 },
        { "{\"mefFQDN\":\"m.example\",\"et\":\"21000101T000000\"}", 0, 0 },
    };
    struct m2msec_error err = { 0 };
    struct m2msec_mefreg_update out;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rv = m2msec_reg_update_decode(M2MSEC_REG_MAF, (const uint8_t *)cases[i].json,
                                          strlen(cases[i].json), cases[i].is_request, &out, &err);

        if (rv != (cases[i].ok ? 0 : -1)) {
            fail_msg("case %zu: %s", i, cases[i].json);
        }
        if (!cases[i].ok) {
            assert_int_equal(err.rsc, 4000);
            assert_null(out.mef_fqdn);
            assert_null(out.lbl);
        }
        m2msec_mefreg_update_clear(&out);
    }
    /* The MEF's variant of the same messages: its own FQDN member, no assignedSymmKeyID. */
    for (i = 0; i < sizeof(mef_cases) / sizeof(mef_cases[0]); i++) {
        int rv = m2msec_reg_update_decode(M2MSEC_REG_MEF, (const uint8_t *)mef_cases[i].json,
                                          strlen(mef_cases[i].json), mef_cases[i].is_request, &out,
                                          &err);

        if (rv != (mef_cases[i].ok ? 0 : -1)) {
            fail_msg("MEF case %zu: %s", i, mef_cases[i].json);
        }
        m2msec_mefreg_update_clear(&out);
    }
}

static void
test_update_roundtrip(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mefreg_update in = { 0 }, out = { 0 };
    struct m2msec_buf b;
    char maf[] = "maf.example.com", l1[] = "x", kmid[] = REL_B "@maf.example.com";
    char *lbl[] = { l1, NULL };

    (void)state;
    m2msec_buf_init(&b, 65536);
    in.mef_fqdn = maf;
    in.has_et = 1;
    in.et = 4102444800;
    in.has_lbl = 1;
    in.lbl = lbl;
    in.nlbl = 1;
    assert_int_equal(m2msec_reg_update_encode(M2MSEC_REG_MAF, &in, 1, &b, &err), 0);
    assert_int_equal(m2msec_reg_update_decode(M2MSEC_REG_MAF, b.data, b.len, 1, &out, &err), 0);
    assert_string_equal(out.mef_fqdn, maf);
    assert_true(out.has_et && out.et == in.et);
    assert_true(out.has_lbl && out.nlbl == 1);
    assert_string_equal(out.lbl[0], "x");
    m2msec_mefreg_update_clear(&out);
    /* The same struct is not a valid response (mafFQDN), until the MAF's name goes. */
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_reg_update_encode(M2MSEC_REG_MAF, &in, 0, &b, &err), -1);
    assert_int_equal(err.rsc, 5000);
    in.mef_fqdn = NULL;
    in.has_lbl = 0;
    in.assigned_kmid = kmid;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_reg_update_encode(M2MSEC_REG_MAF, &in, 0, &b, &err), 0);
    assert_int_equal(m2msec_reg_update_decode(M2MSEC_REG_MAF, b.data, b.len, 0, &out, &err), 0);
    assert_string_equal(out.assigned_kmid, kmid);
    assert_false(out.has_lbl);
    m2msec_mefreg_update_clear(&out);
    /* The MEF never assigns a KmID. */
    in.mef_fqdn = NULL;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_reg_update_encode(M2MSEC_REG_MEF, &in, 0, &b, &err), -1);
    /* A request with nothing to update is never sent. */
    in.mef_fqdn = maf;
    in.assigned_kmid = NULL;
    in.has_et = 0;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_reg_update_encode(M2MSEC_REG_MAF, &in, 1, &b, &err), -1);
    m2msec_buf_free(&b);
}

static void
test_cfg_codec(void **state)
{
    static const char *const rejects[] = {
        "{}",
        "{\"mefClientCfg\":{\"fqdn\":\"m.example\",\"adminFQDN\":\"a.example\"}}",
        "{\"mafClientCfg\":{\"adminFQDN\":\"a.example\"}}",
        "{\"mafClientCfg\":{\"fqdn\":\"m.example\",\"adminFQDN\":\"a.example\",\"httpPort\":0}}",
        "{\"mafClientCfg\":{\"fqdn\":\"m.example\",\"adminFQDN\":\"a.example\","
        "\"httpPort\":65536}}",
        "{\"mafClientCfg\":{\"fqdn\":\"m.example\",\"adminFQDN\":\"a.example\",\"x\":1}}",
        "{\"mafClientCfg\":{\"fqdn\":\"m.example\",\"adminFQDN\":\"a example\"}}",
        "{\"mafClientCfg\":\"m.example\"}",
        "{\"mafClientCfg\":{\"fqdn\":\"m.example\",\"adminFQDN\":\"a.example\","
        "\"enrolmentExpiry\":60}}",
    };
    static const char minimal[] =
            "{\"mafClientCfg\":{\"fqdn\":\"m.example\",\"adminFQDN\":\"a.example\"}}";
    struct m2msec_error err = { 0 };
    struct m2msec_mefreg_cfg in = { 0 }, out = { 0 };
    struct m2msec_buf b;
    char maf[] = "maf.example.com", admin[] = "admin.example.com", l1[] = "a";
    char *lbl[] = { l1, NULL };
    size_t i;

    (void)state;
    m2msec_buf_init(&b, 65536);
    in.fqdn = maf;
    in.admin_fqdn = admin;
    in.http_port = 9443;
    in.has_et = 1;
    in.et = 4102444800;
    in.has_lbl = 1;
    in.lbl = lbl;
    in.nlbl = 1;
    assert_int_equal(m2msec_reg_cfg_encode(M2MSEC_REG_MAF, &in, &b, &err), 0);
    assert_non_null(strstr((const char *)b.data, "\"mafClientCfg\""));
    assert_int_equal(m2msec_reg_cfg_decode(M2MSEC_REG_MAF, b.data, b.len, &out, &err), 0);
    assert_string_equal(out.fqdn, maf);
    assert_string_equal(out.admin_fqdn, admin);
    assert_int_equal(out.http_port, 9443);
    assert_true(out.has_et && out.et == in.et);
    assert_string_equal(out.lbl[0], "a");
    m2msec_mefreg_cfg_clear(&out);
    /* Optional members of sec:clientRegCfg may be absent. */
    assert_int_equal(m2msec_reg_cfg_decode(M2MSEC_REG_MAF, (const uint8_t *)minimal,
                                           strlen(minimal), &out, &err),
                     0);
    assert_int_equal(out.http_port, 0);
    assert_false(out.has_et);
    m2msec_mefreg_cfg_clear(&out);
    for (i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
        if (m2msec_reg_cfg_decode(M2MSEC_REG_MAF, (const uint8_t *)rejects[i], strlen(rejects[i]),
                                  &out, &err) != -1) {
            fail_msg("accepted: %s", rejects[i]);
        }
        assert_int_equal(err.rsc, 4000);
        assert_null(out.fqdn);
    }
    /* The MEF's members are not the MAF's: written only to be refused. */
    in.enrolment_expiry = 3600;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_reg_cfg_encode(M2MSEC_REG_MAF, &in, &b, &err), -1);
    in.enrolment_expiry = 0;
    in.admin_fqdn = NULL;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_reg_cfg_encode(M2MSEC_REG_MAF, &in, &b, &err), -1);
    m2msec_buf_free(&b);
}

/* A pre-provisioned client (suid 11). */
static int
preprov_add(struct m2msec_db *db, const char *rel, const char *cid, char **targets, size_t n,
            struct m2msec_secret *km, int64_t expires, int64_t now, struct m2msec_error *err)
{
    struct m2msec_maf_client_rec c = { 0 };
    char cid_copy[64];

    snprintf(cid_copy, sizeof(cid_copy), "%s", cid);
    snprintf(c.kmid_rel, sizeof(c.kmid_rel), "%s", rel);
    c.client_id = cid_copy;
    c.suid = 11;
    c.targets = targets;
    c.ntargets = n;
    c.km = km;
    c.expires = expires;
    c.created = now;
    return m2msec_maf_client_add(db, &c, now, err);
}

static void
test_store_preprov(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_MAF, fx->kek, &err);
    struct m2msec_secret *km = key_of(0x11), *km2 = key_of(0x22);
    struct m2msec_maf_client_rec *got = NULL;
    struct m2msec_maf_client_rec **list = NULL;
    struct m2msec_maf_client_rec c = { 0 };
    struct m2msec_mafreg_rec r = { 0 };
    char t1[] = "/cse-b", t2[] = "Cae-x", empty[] = "";
    char *targets[] = { t1, t2, NULL }, *bad_targets[] = { t1, empty, NULL };
    char rel_a[] = REL_A, admin[] = "admin.example", keid[] = REL_B "@mef.example";
    char cid[] = "/cse-p";
    int64_t now = 1000000, v = 0;
    size_t n = 0;

    (void)state;
    assert_non_null(db);
    assert_int_equal(preprov_add(db, REL_A, "/cse-p", targets, 2, km, now + 100, now, &err), 0);
    assert_int_equal(m2msec_maf_client_get(db, REL_A, now, 1, &got, &err), 0);
    assert_int_equal(got->suid, 11);
    assert_null(got->keid);
    assert_string_equal(got->client_id, "/cse-p");
    assert_true(m2msec_secret_equal(got->km, km));
    assert_int_equal(got->ntargets, 2);
    assert_string_equal(got->targets[1], t2);
    m2msec_maf_client_rec_free(got);
    /* Taken KmID or client id: 4105. Malformed: refused. */
    assert_int_equal(preprov_add(db, REL_A, "/cse-q", NULL, 0, km2, now + 100, now, &err), -1);
    assert_int_equal(err.rsc, 4105);
    assert_int_equal(preprov_add(db, REL_B, "/cse-p", NULL, 0, km2, now + 100, now, &err), -1);
    assert_int_equal(err.rsc, 4105);
    assert_int_equal(preprov_add(db, "0123", "/cse-q", NULL, 0, km2, now + 100, now, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(preprov_add(db, REL_B, "/cse-q", bad_targets, 2, km2, now + 100, now, &err),
                     -1);
    assert_int_equal(preprov_add(db, REL_B, "/cse-q", NULL, 0, NULL, now + 100, now, &err), -1);
    assert_int_equal(preprov_add(db, REL_B, "/cse-q", NULL, 0, km2, now, now, &err), -1);
    /* Not found by KeID: its keid column only keeps the row unique. */
    assert_int_equal(m2msec_maf_client_get_by_keid(db, REL_A, now, 0, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    /* It registers like any client; a KeID client with the same id does not replace it. */
    memcpy(r.reg_id, REG_1, 33);
    r.kmid_rel = rel_a;
    r.admin_fqdn = admin;
    r.expires = now + 50;
    assert_int_equal(m2msec_maf_register(db, NULL, &r, now, &err), 0);
    memcpy(c.kmid_rel, REL_B, 33);
    c.keid = keid;
    c.client_id = cid;
    c.km = km2;
    c.expires = now + 100;
    c.created = now;
    r.kmid_rel = c.kmid_rel;
    memcpy(r.reg_id, REG_2, 33);
    assert_int_equal(m2msec_maf_register(db, &c, &r, now, &err), 0);
    assert_int_equal(m2msec_maf_client_list(db, now, 0, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0]->suid, 11);
    assert_int_equal(list[1]->suid, 21);
    assert_string_equal(list[1]->keid, keid);
    assert_null(list[1]->targets);
    m2msec_maf_client_list_free(list);
    assert_int_equal(m2msec_maf_client_get_by_keid(db, REL_B "@MEF.example", now, 1, &got, &err),
                     0);
    assert_string_equal(got->kmid_rel, REL_B);
    assert_true(m2msec_secret_equal(got->km, km2));
    m2msec_maf_client_rec_free(got);
    /* Remove: the client, its registrations and targets go; the other client stays. */
    assert_int_equal(m2msec_maf_client_remove(db, REL_A, &err), 0);
    assert_int_equal(m2msec_maf_client_get(db, REL_A, now, 0, &got, &err), -1);
    assert_int_equal(m2msec_db_test_query_int(db, "SELECT count(*) FROM maf_reg", &v, &err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(
            m2msec_db_test_query_int(db, "SELECT count(*) FROM maf_client_target", &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(m2msec_maf_client_remove(db, REL_A, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    /* An expired client gives its KmID back. */
    assert_int_equal(preprov_add(db, REL_A, "/cse-r", NULL, 0, km, now + 10, now, &err), 0);
    assert_int_equal(preprov_add(db, REL_A, "/cse-r", NULL, 0, km2, now + 100, now, &err), -1);
    assert_int_equal(preprov_add(db, REL_A, "/cse-r", NULL, 0, km2, now + 100, now + 10, &err), 0);
    assert_int_equal(m2msec_maf_client_get(db, REL_A, now + 10, 1, &got, &err), 0);
    assert_true(m2msec_secret_equal(got->km, km2));
    assert_null(got->targets);
    m2msec_maf_client_rec_free(got);
    m2msec_secret_free(km);
    m2msec_secret_free(km2);
    m2msec_db_close(db);
}

static void
test_store_lifecycle(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_MAF, fx->kek, &err);
    struct m2msec_secret *km = key_of(0x11), *km2 = key_of(0x22), *kc = key_of(0x44);
    struct m2msec_mafreg_rec *reg = NULL;
    struct m2msec_maf_client_rec *got = NULL;
    struct m2msec_maf_client_rec nc = { 0 };
    struct m2msec_mafreg_rec r2 = { 0 };
    char l1[] = "one", l2[] = "two", rel_a[] = REL_A, admin2[] = "b.example";
    char *labels[] = { l1, l2, NULL };
    char keid2[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@mef.example", cid[] = "/cse-a";
    char other[] = "/cse-z";
    int64_t now = 1000000;
    size_t n = 0;

    (void)state;
    assert_non_null(db);
    key_client(db, REL_A, REG_1, "/cse-a", REL_B "@mef.example", km, now);
    memcpy(r2.reg_id, REG_2, 33);
    r2.kmid_rel = rel_a;
    r2.admin_fqdn = admin2;
    r2.expires = now + 80;
    assert_int_equal(m2msec_maf_register(db, NULL, &r2, now, &err), 0);
    assert_int_equal(maf_key_put(db, "k1", REL_A, REG_1, kc, now + 70, now, &err), 0);
    assert_int_equal(maf_key_put(db, "k2", REL_A, REG_2, kc, now + 70, now, &err), 0);
    /* Get: the live record; unknown, malformed and expired ids are 4004. */
    assert_int_equal(m2msec_maf_reg_get(db, REG_1, now, &reg, &err), 0);
    assert_string_equal(reg->kmid_rel, REL_A);
    assert_string_equal(reg->admin_fqdn, "admin.example");
    assert_true(reg->expires == now + 80);
    assert_null(reg->labels);
    m2msec_mafreg_rec_free(reg);
    assert_int_equal(m2msec_maf_reg_get(db, REG_3, now, &reg, &err), -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(m2msec_maf_reg_get(db, "keys", now, &reg, &err), -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(m2msec_maf_reg_get(db, REG_1, now + 80, &reg, &err), -1);
    assert_int_equal(err.rsc, 4004);
    /* Update: et and labels; an et past Km or not after now is refused. */
    assert_int_equal(m2msec_maf_reg_update(db, NULL, REG_1, now, 1, now + 90, 1, labels, 2, &err),
                     0);
    assert_int_equal(m2msec_maf_reg_get(db, REG_1, now, &reg, &err), 0);
    assert_true(reg->expires == now + 90);
    assert_int_equal(reg->nlabels, 2);
    assert_string_equal(reg->labels[1], "two");
    m2msec_mafreg_rec_free(reg);
    assert_int_equal(m2msec_maf_reg_update(db, NULL, REG_1, now, 0, 0, 1, NULL, 0, &err), 0);
    assert_int_equal(m2msec_maf_reg_get(db, REG_1, now, &reg, &err), 0);
    assert_null(reg->labels);
    assert_true(reg->expires == now + 90);
    m2msec_mafreg_rec_free(reg);
    assert_int_equal(m2msec_maf_reg_update(db, NULL, REG_1, now, 1, now + 101, 0, NULL, 0, &err),
                     -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_maf_reg_update(db, NULL, REG_1, now, 1, now, 0, NULL, 0, &err), -1);
    assert_int_equal(m2msec_maf_reg_update(db, NULL, REG_3, now, 1, now + 5, 0, NULL, 0, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    /* Re-keying: only for the same EnroleeID; a refused one changes nothing. */
    memcpy(nc.kmid_rel, REL_B, 33);
    nc.keid = keid2;
    nc.client_id = other;
    nc.km = km2;
    nc.expires = now + 85;
    nc.created = now;
    assert_int_equal(m2msec_maf_reg_update(db, &nc, REG_1, now, 0, 0, 1, labels, 1, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_maf_client_get(db, REL_B, now, 0, &got, &err), -1);
    nc.client_id = cid;
    assert_int_equal(m2msec_maf_reg_update(db, &nc, REG_1, now, 0, 0, 1, labels, 1, &err), 0);
    assert_int_equal(m2msec_maf_client_get(db, REL_A, now, 0, &got, &err), -1);
    assert_int_equal(m2msec_maf_client_get(db, REL_B, now, 1, &got, &err), 0);
    assert_true(m2msec_secret_equal(got->km, km2));
    assert_string_equal(got->keid, keid2);
    m2msec_maf_client_rec_free(got);
    /* Both registrations and both keys moved; expiries capped at the new Km's. */
    assert_int_equal(m2msec_maf_reg_get(db, REG_2, now, &reg, &err), 0);
    assert_string_equal(reg->kmid_rel, REL_B);
    assert_true(reg->expires == now + 80);
    m2msec_mafreg_rec_free(reg);
    assert_int_equal(m2msec_maf_reg_get(db, REG_1, now, &reg, &err), 0);
    assert_true(reg->expires == now + 85);
    assert_int_equal(reg->nlabels, 1);
    m2msec_mafreg_rec_free(reg);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg WHERE owner = '" REL_B "'"), 2);
    /* Shortening a registration caps its keys (they never outlive it), not the others'. */
    assert_int_equal(m2msec_maf_reg_update(db, NULL, REG_1, now, 1, now + 40, 0, NULL, 0, &err), 0);
    assert_int_equal(qint(db, "SELECT expires FROM keyreg WHERE rel = 'k1'"), now + 40);
    assert_int_equal(qint(db, "SELECT expires FROM keyreg WHERE rel = 'k2'"), now + 70);
    /* De-registration erases the registration's keys, not the other registration's. */
    assert_int_equal(m2msec_maf_reg_delete(db, REG_1, now, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m2msec_maf_reg_get(db, REG_1, now, &reg, &err), -1);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg WHERE rel = 'k1'"), 0);
    assert_int_equal(qint(db, "SELECT count(*) FROM keyreg_target"), 2); /* k2's */
    assert_int_equal(m2msec_maf_reg_delete(db, REG_1, now, &n, &err), -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(m2msec_maf_reg_delete(db, REG_2, now + 80, &n, &err), -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(m2msec_maf_reg_delete(db, REG_2, now, &n, &err), 0);
    assert_int_equal(n, 1);
    /* The client and its Km stay. */
    assert_int_equal(m2msec_maf_client_get(db, REL_B, now, 0, &got, &err), 0);
    m2msec_maf_client_rec_free(got);
    m2msec_secret_free(km);
    m2msec_secret_free(km2);
    m2msec_secret_free(kc);
    m2msec_db_close(db);
}

static void
test_dev_preprov_forget(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_DEVICE, fx->kek, &err);
    struct m2msec_secret *km = key_of(0x33), *kc = key_of(0x66);
    struct m2msec_dev_maf_rec r = { 0 };
    struct m2msec_dev_maf_rec *got = NULL;
    struct m2msec_dev_kc_rec k = { 0 };
    char fqdn[] = "maf.example", kmid[] = REL_A "@maf.example", cid[] = "/cse-p";
    char reg1[] = REG_1, reg2[] = REG_2, other[] = "other.example", t[] = "/cse-b";
    char id[64];
    int64_t v = 0;
    size_t n = 0;
    int i;

    (void)state;
    assert_non_null(db);
    r.maf_fqdn = fqdn;
    r.kmid = kmid;
    r.suid = 11;
    r.client_id = cid;
    r.reg_id = reg1;
    r.expires = 2000;
    r.km = km;
    assert_int_equal(m2msec_dev_maf_put(db, &r, &err), 0);
    assert_int_equal(m2msec_dev_maf_get(db, fqdn, 1000, 1, &got, &err), 0);
    assert_int_equal(got->suid, 11);
    assert_null(got->keid);
    assert_string_equal(got->client_id, cid);
    assert_true(m2msec_secret_equal(got->km, km));
    m2msec_dev_maf_rec_free(got);
    /* A remotely provisioned Km needs its KeID; an unknown SUID is refused. */
    r.suid = 21;
    assert_int_equal(m2msec_dev_maf_put(db, &r, &err), -1);
    r.suid = 12;
    assert_int_equal(m2msec_dev_maf_put(db, &r, &err), -1);
    /* Kc under reg1, under reg2, without a registration (older store), at another MAF. */
    k.maf_fqdn = fqdn;
    k.target = t;
    k.suid = 32;
    k.expires = 2000;
    k.kc = kc;
    k.key_id = id;
    for (i = 0; i < 4; i++) {
        snprintf(id, sizeof(id), "k%d@maf.example", i);
        k.reg_id = i == 0 ? reg1 : i == 1 ? reg2 : NULL;
        k.maf_fqdn = i == 3 ? other : fqdn;
        assert_int_equal(m2msec_dev_kc_put(db, &k, &err), 0);
    }
    /* Forgetting reg2 (not the stored one) keeps the stored registration. */
    assert_int_equal(m2msec_dev_maf_forget_reg(db, "MAF.example", REG_2, &n, &err), 0);
    assert_int_equal(n, 2); /* k1 and k2 */
    assert_int_equal(m2msec_dev_maf_get(db, fqdn, 1000, 0, &got, &err), 0);
    assert_string_equal(got->reg_id, REG_1);
    m2msec_dev_maf_rec_free(got);
    assert_int_equal(m2msec_dev_maf_forget_reg(db, fqdn, REG_1, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m2msec_dev_maf_get(db, fqdn, 1000, 1, &got, &err), 0);
    assert_null(got->reg_id);
    assert_null(got->admin_fqdn);
    assert_true(m2msec_secret_equal(got->km, km));
    m2msec_dev_maf_rec_free(got);
    assert_int_equal(m2msec_db_test_query_int(db, "SELECT count(*) FROM dev_kc", &v, &err), 0);
    assert_int_equal(v, 1); /* the other MAF's */
    assert_int_equal(m2msec_dev_maf_forget_reg(db, fqdn, NULL, &n, &err), -1);
    m2msec_secret_free(km);
    m2msec_secret_free(kc);
    m2msec_db_close(db);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_roundtrip),
        cmocka_unit_test(test_req_rejects),
        cmocka_unit_test(test_resp_roundtrip),
        cmocka_unit_test_setup_teardown(test_store_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dev_maf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dev_kc, setup, teardown),
        cmocka_unit_test(test_update_codec),
        cmocka_unit_test(test_update_roundtrip),
        cmocka_unit_test(test_cfg_codec),
        cmocka_unit_test_setup_teardown(test_store_preprov, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dev_preprov_forget, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
