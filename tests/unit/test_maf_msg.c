/*
 * tests/unit/test_maf_msg.c - MAF registration messages (codec/maf_msg.h) and
 * the MAF / device MAF-key store (store/maf.c).
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
    assert_int_equal(m2msec_db_schema_version(db), 2);
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
