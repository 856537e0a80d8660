/*
 * tests/unit/test_maf_msg.c - MAF registration (and its update and
 * configuration), Key Registration and Key Retrieval messages
 * (codec/maf_msg.h) and the MAF / device stores (store/maf.c): clients
 * (remotely and pre-provisioned), registrations and their lifecycle, keys.
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
    assert_int_equal(m2msec_db_schema_version(db), 4);
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

#define KV_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" /* 00..1f */
#define KREQ_HEAD \
    "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\","

static void
test_keyreq_roundtrip(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mafkey_req in = { 0 }, out = { 0 };
    struct m2msec_buf b;
    struct m2msec_secret *kv = key_of(0x5a);
    char maf[] = "maf.example.com", admin[] = "admin.example.com", t1[] = "/cse-b", t2[] = "/cse-c";
    char *targets[] = { t1, t2, NULL };

    (void)state;
    m2msec_buf_init(&b, 65536);
    in.maf_fqdn = maf;
    in.admin_fqdn = admin;
    in.et = 4102444800;
    in.suid = 34;
    in.target_ids = targets;
    in.ntargets = 2;
    in.key_value = kv;
    assert_int_equal(m2msec_mafkey_req_encode(&in, &b, &err), 0);
    assert_int_equal(m2msec_mafkey_req_decode(b.data, b.len, &out, &err), 0);
    assert_int_equal(out.suid, 34);
    assert_int_equal(out.ntargets, 2);
    assert_string_equal(out.target_ids[1], "/cse-c");
    assert_non_null(out.key_value);
    assert_true(m2msec_secret_equal(out.key_value, kv));
    m2msec_mafkey_req_clear(&out);
    /* Without keyValue (exporter case): decodes with key_value NULL. */
    in.key_value = NULL;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mafkey_req_encode(&in, &b, &err), 0);
    assert_int_equal(m2msec_mafkey_req_decode(b.data, b.len, &out, &err), 0);
    assert_null(out.key_value);
    m2msec_mafkey_req_clear(&out);
    /* Rejected neighbours: SUID 32 with two targets, SUID 31, no targets. */
    in.suid = 32;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mafkey_req_encode(&in, &b, &err), -1);
    assert_int_equal(err.rsc, 5000);
    in.suid = 31;
    in.ntargets = 1;
    assert_int_equal(m2msec_mafkey_req_encode(&in, &b, &err), -1);
    in.suid = 35;
    in.target_ids = NULL;
    in.ntargets = 0;
    assert_int_equal(m2msec_mafkey_req_encode(&in, &b, &err), -1);
    m2msec_secret_free(kv);
    m2msec_buf_free(&b);
}

static void
test_keyreq_rejects(void **state)
{
    static const struct {
        const char *json;
        int ok;
    } cases[] = {
        { KREQ_HEAD "\"suid\":32,\"targetIDs\":[\"/b\"]}", 1 },
        { KREQ_HEAD "\"suid\":33,\"targetIDs\":[\"/b\"],\"keyValue\":\"" KV_B64 "\"}", 1 },
        { KREQ_HEAD "\"suid\":35,\"targetIDs\":[\"/b\",\"/c\",\"/d\"]}", 1 },
        { KREQ_HEAD "\"suid\":32,\"targetIDs\":[\"/b\",\"/c\"]}", 0 }, /* one target only */
        { KREQ_HEAD "\"suid\":33,\"targetIDs\":[]}", 0 },              /* no target */
        { KREQ_HEAD "\"suid\":34,\"targetIDs\":[]}", 0 },              /* ESData: >= 1 */
        { KREQ_HEAD "\"suid\":31,\"targetIDs\":[\"/b\"]}", 0 },        /* SUID range */
        { KREQ_HEAD "\"suid\":36,\"targetIDs\":[\"/b\"]}", 0 },
        { KREQ_HEAD "\"suid\":\"32\",\"targetIDs\":[\"/b\"]}", 0 }, /* SUID type */
        { KREQ_HEAD "\"targetIDs\":[\"/b\"]}", 0 },                 /* SUID missing */
        { KREQ_HEAD "\"suid\":32}", 0 },                            /* targets missing */
        { KREQ_HEAD "\"suid\":32,\"targetIDs\":\"/b\"}", 0 },       /* targets type */
        { KREQ_HEAD "\"suid\":32,\"targetIDs\":[\"\"]}", 0 },       /* empty target */
        { KREQ_HEAD "\"suid\":32,\"targetIDs\":[\"/b\"],\"keyValue\":\"AAEC\"}", 0 }, /* short */
        { KREQ_HEAD "\"suid\":32,\"targetIDs\":[\"/b\"],\"keyValue\":\"" KV_B64 "AAAA\"}", 0 },
        { KREQ_HEAD "\"suid\":32,\"targetIDs\":[\"/b\"],\"keyValue\":\"!!\"}", 0 }, /* base64 */
        { KREQ_HEAD "\"suid\":32,\"targetIDs\":[\"/b\"],\"x\":1}", 0 },             /* unknown */
        { "{\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\",\"suid\":32,"
          "\"targetIDs\":[\"/b\"]}",
          0 },                                                 /* mafFQDN missing */
        { KREQ_HEAD "\"suid\":32,\"targetIDs\":[\"/b\"]", 0 }, /* truncated */
    };
    struct m2msec_error err = { 0 };
    struct m2msec_mafkey_req out;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rv = m2msec_mafkey_req_decode((const uint8_t *)cases[i].json, strlen(cases[i].json),
                                          &out, &err);

        if (rv != (cases[i].ok ? 0 : -1)) {
            fail_msg("case %zu: %s", i, cases[i].json);
        }
        if (!cases[i].ok) {
            assert_int_equal(err.rsc, 4000);
            assert_null(out.maf_fqdn);
            assert_null(out.key_value);
        }
        m2msec_mafkey_req_clear(&out);
    }
}

static void
test_keyresp(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mafkey_resp in = { 0 }, out = { 0 };
    struct m2msec_mafkey_get_resp gin = { 0 }, gout = { 0 };
    struct m2msec_buf b;
    struct m2msec_secret *kv = key_of(0x77);
    char rel[] = REL_A, src[] = "/cse-a", admin[] = "admin.example", t1[] = "/cse-b",
         badrel[] = "a b", l1[] = "x";
    char *targets[] = { t1, NULL };
    char *lbl[] = { l1, NULL };
    static const char nokey[] = "{\"et\":\"21000101T000000\",\"sourceID\":\"/a\","
                                "\"adminFQDN\":\"a.example\",\"suid\":32}";

    (void)state;
    m2msec_buf_init(&b, 65536);
    in.rel_key_id = rel;
    in.et = 4102444800;
    in.source_id = src;
    in.admin_fqdn = admin;
    in.suid = 32;
    in.target_ids = targets;
    in.ntargets = 1;
    in.lbl = lbl;
    in.nlbl = 1;
    in.has_lbl = 1;
    assert_int_equal(m2msec_mafkey_resp_encode(&in, &b, &err), 0);
    assert_int_equal(m2msec_mafkey_resp_decode(b.data, b.len, &out, &err), 0);
    assert_string_equal(out.rel_key_id, REL_A);
    assert_string_equal(out.source_id, src);
    assert_string_equal(out.target_ids[0], t1);
    assert_int_equal(out.nlbl, 1);
    m2msec_mafkey_resp_clear(&out);
    /* A RelativeKeyID outside sec:relKeyID, a missing sourceID: refused. */
    in.rel_key_id = badrel;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mafkey_resp_encode(&in, &b, &err), -1);
    in.rel_key_id = rel;
    in.source_id = NULL;
    assert_int_equal(m2msec_mafkey_resp_encode(&in, &b, &err), -1);
    assert_true(m2msec_mafkey_rel_valid("a.B_c-9"));
    assert_false(m2msec_mafkey_rel_valid(""));
    assert_false(m2msec_mafkey_rel_valid("a/b"));
    assert_false(m2msec_mafkey_rel_valid(
            "0123456789012345678901234567890123456789012345678901234567890123456789"));
    /* Key Retrieval response: the key round-trips, and is required. */
    gin.et = 4102444800;
    gin.source_id = src;
    gin.admin_fqdn = admin;
    gin.suid = 32;
    gin.key_value = kv;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mafkey_get_resp_encode(&gin, &b, &err), 0);
    assert_int_equal(m2msec_mafkey_get_resp_decode(b.data, b.len, &gout, &err), 0);
    assert_true(m2msec_secret_equal(gout.key_value, kv));
    assert_int_equal(gout.suid, 32);
    m2msec_mafkey_get_resp_clear(&gout);
    assert_int_equal(
            m2msec_mafkey_get_resp_decode((const uint8_t *)nokey, strlen(nokey), &gout, &err), -1);
    assert_null(gout.source_id);
    gin.key_value = NULL;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mafkey_get_resp_encode(&gin, &b, &err), -1);
    m2msec_secret_free(kv);
    m2msec_buf_free(&b);
}

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

static void
test_store_keys(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_MAF, fx->kek, &err);
    struct m2msec_secret *km = key_of(0x11), *km2 = key_of(0x22), *kc = key_of(0x44);
    struct m2msec_maf_key_rec k = { 0 };
    struct m2msec_maf_key_rec *got = NULL;
    char rel_id[] = "00112233445566778899aabbccddeeff", rel_a[] = REL_A, reg[] = REG_1;
    char src[] = "/cse-a", admin[] = "admin.example", t1[] = "/cse-b", t2[] = "/cse-c";
    char *targets[] = { t1, t2, NULL };
    char owner[33];
    int64_t now = 1000000, v = 0;
    size_t n = 0;

    assert_non_null(db);
    assert_int_equal(m2msec_db_schema_version(db), 3);
    key_client(db, REL_A, REG_1, "/cse-a", REL_B "@mef.example", km, now);
    assert_int_equal(m2msec_maf_reg_owner(db, REG_1, now, owner, &err), 0);
    assert_string_equal(owner, REL_A);
    assert_int_equal(m2msec_maf_reg_owner(db, REG_2, now, owner, &err), -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(m2msec_maf_reg_owner(db, REG_1, now + 80, owner, &err), -1);
    assert_int_equal(err.rsc, 4004);
    k.rel_key_id = rel_id;
    k.kmid_rel = rel_a;
    k.reg_id = reg;
    k.source_id = src;
    k.admin_fqdn = admin;
    k.suid = 34;
    k.targets = targets;
    k.ntargets = 2;
    k.kc = kc;
    k.expires = now + 60;
    k.created = now;
    assert_int_equal(m2msec_maf_key_put(db, &k, now, &err), 0);
    /* Same id again: 4105 (the caller then picks another id). */
    assert_int_equal(m2msec_maf_key_put(db, &k, now, &err), -1);
    assert_int_equal(err.rsc, 4105);
    assert_int_equal(m2msec_maf_key_get(db, "00112233445566778899AABBCCDDEEFF", now, 1, &got, &err),
                     0);
    assert_true(m2msec_secret_equal(got->kc, kc));
    assert_int_equal(got->ntargets, 2);
    assert_string_equal(got->targets[1], t2);
    assert_string_equal(got->source_id, src);
    assert_string_equal(got->kmid_rel, REL_A);
    assert_int_equal(got->suid, 34);
    assert_int_equal(got->nlabels, 0);
    m2msec_maf_key_rec_free(got);
    /* Expired: absent to the getter and to delete. */
    assert_int_equal(m2msec_maf_key_get(db, rel_id, now + 60, 0, &got, &err), -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(m2msec_maf_key_delete(db, rel_id, now + 60, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    /* An expired registration gives its id back. */
    assert_int_equal(m2msec_maf_key_put(db, &k, now + 60, &err), -1); /* expires <= now */
    k.expires = now + 90;
    assert_int_equal(m2msec_maf_key_put(db, &k, now + 60, &err), 0);
    /* Outliving Km, no targets, no Kc, an unknown client: refused. */
    k.expires = now + 200;
    assert_int_equal(m2msec_maf_key_put(db, &k, now, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    k.expires = now + 50;
    k.ntargets = 0;
    assert_int_equal(m2msec_maf_key_put(db, &k, now, &err), -1);
    k.ntargets = 2;
    k.kc = NULL;
    assert_int_equal(m2msec_maf_key_put(db, &k, now, &err), -1);
    k.kc = kc;
    memcpy(rel_a, REL_B, 33);
    rel_id[0] = 'f';
    assert_int_equal(m2msec_maf_key_put(db, &k, now, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    /* Sealed Kc moved to another id fails to open. */
    assert_int_equal(m2msec_db_test_exec(db,
                                         "PRAGMA foreign_keys = OFF;"
                                         "UPDATE maf_key_target SET rel_key_id = 'zz';"
                                         "UPDATE maf_key SET rel_key_id = 'zz';"
                                         "PRAGMA foreign_keys = ON",
                                         &err),
                     0);
    assert_int_equal(m2msec_maf_key_get(db, "zz", now + 60, 1, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    assert_int_equal(m2msec_maf_key_delete(db, "zz", now + 60, &err), 0);
    assert_int_equal(m2msec_maf_key_delete(db, "zz", now + 60, &err), -1);
    assert_int_equal(m2msec_db_test_query_int(db, "SELECT count(*) FROM maf_key_target", &v, &err),
                     0);
    assert_int_equal(v, 0);
    /* Sweep erases expired key registrations; replacing the client cascades. */
    memcpy(rel_a, REL_A, 33);
    memcpy(rel_id, "00112233445566778899aabbccddeeff", 33);
    k.expires = now + 50;
    assert_int_equal(m2msec_maf_key_put(db, &k, now, &err), 0);
    rel_id[0] = '1';
    k.expires = now + 10;
    assert_int_equal(m2msec_maf_key_put(db, &k, now, &err), 0);
    assert_int_equal(m2msec_maf_sweep(db, now + 10, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m2msec_db_test_query_int(db, "SELECT count(*) FROM maf_key", &v, &err), 0);
    assert_int_equal(v, 1);
    key_client(db, REL_B, REG_2, "/cse-a", REL_A "@mef.example", km2, now);
    assert_int_equal(m2msec_db_test_query_int(db, "SELECT count(*) FROM maf_key", &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(m2msec_db_test_query_int(db, "SELECT count(*) FROM maf_key_target", &v, &err),
                     0);
    assert_int_equal(v, 0);
    m2msec_secret_free(km);
    m2msec_secret_free(km2);
    m2msec_secret_free(kc);
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
        { "{\"lbl\":[\"\"]}", 0, 0 }, /* empty label */
    };
    struct m2msec_error err = { 0 };
    struct m2msec_mafreg_update out;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rv = m2msec_mafreg_update_decode((const uint8_t *)cases[i].json, strlen(cases[i].json),
                                             cases[i].is_request, &out, &err);

        if (rv != (cases[i].ok ? 0 : -1)) {
            fail_msg("case %zu: %s", i, cases[i].json);
        }
        if (!cases[i].ok) {
            assert_int_equal(err.rsc, 4000);
            assert_null(out.maf_fqdn);
            assert_null(out.lbl);
        }
        m2msec_mafreg_update_clear(&out);
    }
}

static void
test_update_roundtrip(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mafreg_update in = { 0 }, out = { 0 };
    struct m2msec_buf b;
    char maf[] = "maf.example.com", l1[] = "x", kmid[] = REL_B "@maf.example.com";
    char *lbl[] = { l1, NULL };

    (void)state;
    m2msec_buf_init(&b, 65536);
    in.maf_fqdn = maf;
    in.has_et = 1;
    in.et = 4102444800;
    in.has_lbl = 1;
    in.lbl = lbl;
    in.nlbl = 1;
    assert_int_equal(m2msec_mafreg_update_encode(&in, 1, &b, &err), 0);
    assert_int_equal(m2msec_mafreg_update_decode(b.data, b.len, 1, &out, &err), 0);
    assert_string_equal(out.maf_fqdn, maf);
    assert_true(out.has_et && out.et == in.et);
    assert_true(out.has_lbl && out.nlbl == 1);
    assert_string_equal(out.lbl[0], "x");
    m2msec_mafreg_update_clear(&out);
    /* The same struct is not a valid response (mafFQDN), until the MAF's name goes. */
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mafreg_update_encode(&in, 0, &b, &err), -1);
    assert_int_equal(err.rsc, 5000);
    in.maf_fqdn = NULL;
    in.has_lbl = 0;
    in.assigned_kmid = kmid;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mafreg_update_encode(&in, 0, &b, &err), 0);
    assert_int_equal(m2msec_mafreg_update_decode(b.data, b.len, 0, &out, &err), 0);
    assert_string_equal(out.assigned_kmid, kmid);
    assert_false(out.has_lbl);
    m2msec_mafreg_update_clear(&out);
    /* A request with nothing to update is never sent. */
    in.maf_fqdn = maf;
    in.assigned_kmid = NULL;
    in.has_et = 0;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mafreg_update_encode(&in, 1, &b, &err), -1);
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
    };
    static const char minimal[] =
            "{\"mafClientCfg\":{\"fqdn\":\"m.example\",\"adminFQDN\":\"a.example\"}}";
    struct m2msec_error err = { 0 };
    struct m2msec_mafreg_cfg in = { 0 }, out = { 0 };
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
    assert_int_equal(m2msec_mafreg_cfg_encode(&in, &b, &err), 0);
    assert_non_null(strstr((const char *)b.data, "\"mafClientCfg\""));
    assert_int_equal(m2msec_mafreg_cfg_decode(b.data, b.len, &out, &err), 0);
    assert_string_equal(out.fqdn, maf);
    assert_string_equal(out.admin_fqdn, admin);
    assert_int_equal(out.http_port, 9443);
    assert_true(out.has_et && out.et == in.et);
    assert_string_equal(out.lbl[0], "a");
    m2msec_mafreg_cfg_clear(&out);
    /* Optional members of sec:clientRegCfg may be absent. */
    assert_int_equal(
            m2msec_mafreg_cfg_decode((const uint8_t *)minimal, strlen(minimal), &out, &err), 0);
    assert_int_equal(out.http_port, 0);
    assert_false(out.has_et);
    m2msec_mafreg_cfg_clear(&out);
    for (i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
        if (m2msec_mafreg_cfg_decode((const uint8_t *)rejects[i], strlen(rejects[i]), &out, &err) !=
            -1) {
            fail_msg("accepted: %s", rejects[i]);
        }
        assert_int_equal(err.rsc, 4000);
        assert_null(out.fqdn);
    }
    in.admin_fqdn = NULL;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mafreg_cfg_encode(&in, &b, &err), -1);
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

/* A key registration of client rel under reg_id. */
static void
life_key(struct m2msec_db *db, const char *id, const char *rel, const char *reg_id,
         struct m2msec_secret *kc, int64_t expires, int64_t now)
{
    struct m2msec_error err = { 0 };
    struct m2msec_maf_key_rec k = { 0 };
    char id_c[40], rel_c[33], reg_c[33], src[] = "/cse-a", admin[] = "admin.example";
    char t1[] = "/cse-b";
    char *targets[] = { t1, NULL };

    snprintf(id_c, sizeof(id_c), "%s", id);
    memcpy(rel_c, rel, 33);
    memcpy(reg_c, reg_id, 33);
    k.rel_key_id = id_c;
    k.kmid_rel = rel_c;
    k.reg_id = reg_c;
    k.source_id = src;
    k.admin_fqdn = admin;
    k.suid = 32;
    k.targets = targets;
    k.ntargets = 1;
    k.kc = kc;
    k.expires = expires;
    k.created = now;
    assert_int_equal(m2msec_maf_key_put(db, &k, now, &err), 0);
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
    int64_t now = 1000000, v = 0;
    size_t n = 0;

    (void)state;
    assert_non_null(db);
    key_client(db, REL_A, REG_1, "/cse-a", REL_B "@mef.example", km, now);
    memcpy(r2.reg_id, REG_2, 33);
    r2.kmid_rel = rel_a;
    r2.admin_fqdn = admin2;
    r2.expires = now + 80;
    assert_int_equal(m2msec_maf_register(db, NULL, &r2, now, &err), 0);
    life_key(db, "k1", REL_A, REG_1, kc, now + 70, now);
    life_key(db, "k2", REL_A, REG_2, kc, now + 70, now);
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
    assert_int_equal(
            m2msec_db_test_query_int(
                    db, "SELECT count(*) FROM maf_key WHERE kmid_rel = '" REL_B "'", &v, &err),
            0);
    assert_int_equal(v, 2);
    /* De-registration erases the registration's keys, not the other registration's. */
    assert_int_equal(m2msec_maf_reg_delete(db, REG_1, now, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m2msec_maf_reg_get(db, REG_1, now, &reg, &err), -1);
    assert_int_equal(m2msec_db_test_query_int(
                             db, "SELECT count(*) FROM maf_key WHERE rel_key_id = 'k1'", &v, &err),
                     0);
    assert_int_equal(v, 0);
    assert_int_equal(m2msec_db_test_query_int(db, "SELECT count(*) FROM maf_key_target", &v, &err),
                     0);
    assert_int_equal(v, 1);
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
        cmocka_unit_test(test_keyreq_roundtrip),
        cmocka_unit_test(test_keyreq_rejects),
        cmocka_unit_test(test_keyresp),
        cmocka_unit_test_setup_teardown(test_store_keys, setup, teardown),
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
