/*
 * tests/unit/test_keyreg.c - the shared key registry: TS-0003 rules (proto/keyreg.h),
 * messages (codec/keyreg_msg.h) and the store (store/keyreg.c on the MEF schema).
 *
 * @spec TS-0003 8.3.5.2.7 - 8.3.5.2.10 (MEF), 8.8.2.7 - 8.8.2.10 (MAF shapes)
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

#include "codec/keyreg_msg.h"
#include "proto/keyreg.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

#define REL_A  "0123456789abcdef0123456789abcdef"
#define REL_B  "fedcba9876543210fedcba9876543210"
#define REG_1  "11111111111111111111111111111111"
#define REG_2  "22222222222222222222222222222222"
#define NOW    1700000000
#define FUTURE 4102444800 /* 2100-01-01 */
/* base64 of 32 bytes 0x11 and of 31 bytes 0x11 */
#define KV32 "ERERERERERERERERERERERERERERERERERERERERERE="
#define KV31 "EREREREREREREREREREREREREREREREREREREREREQ=="

/* 1 when the buffer holds s. */
static int
contains(const struct m2msec_buf *b, const char *s)
{
    size_t n = strlen(s), i;

    for (i = 0; i + n <= b->len; i++) {
        if (memcmp(b->data + i, s, n) == 0) {
            return 1;
        }
    }
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

/*
 * proto/keyreg: which SUIDs each registry takes, and their target rules.
 */

static void
test_suid_scope(void **state)
{
    static const struct {
        enum m2msec_reg_peer peer;
        unsigned suid;
        enum m2msec_keyreg_scope want;
    } cases[] = {
        { M2MSEC_REG_MEF, 22, M2MSEC_KEYREG_SCOPE_SAEF },
        { M2MSEC_REG_MEF, 23, M2MSEC_KEYREG_SCOPE_ESPRIM },
        { M2MSEC_REG_MEF, 24, M2MSEC_KEYREG_SCOPE_ESDATA },
        { M2MSEC_REG_MEF, 25, M2MSEC_KEYREG_SCOPE_ESDATA },
        { M2MSEC_REG_MEF, 21, M2MSEC_KEYREG_SCOPE_NONE }, /* Km for a MAF: fetchCredentials */
        { M2MSEC_REG_MEF, 26, M2MSEC_KEYREG_SCOPE_NONE },
        { M2MSEC_REG_MEF, 20, M2MSEC_KEYREG_SCOPE_NONE },
        { M2MSEC_REG_MEF, 12, M2MSEC_KEYREG_SCOPE_NONE }, /* pre-provisioned */
        { M2MSEC_REG_MEF, 32, M2MSEC_KEYREG_SCOPE_NONE }, /* the MAF's */
        { M2MSEC_REG_MEF, 42, M2MSEC_KEYREG_SCOPE_NONE }, /* certificates */
        { M2MSEC_REG_MEF, 2, M2MSEC_KEYREG_SCOPE_NONE },
        { M2MSEC_REG_MEF, 222, M2MSEC_KEYREG_SCOPE_NONE },
        { M2MSEC_REG_MAF, 32, M2MSEC_KEYREG_SCOPE_SAEF },
        { M2MSEC_REG_MAF, 33, M2MSEC_KEYREG_SCOPE_ESPRIM },
        { M2MSEC_REG_MAF, 34, M2MSEC_KEYREG_SCOPE_ESDATA },
        { M2MSEC_REG_MAF, 35, M2MSEC_KEYREG_SCOPE_ESDATA },
        { M2MSEC_REG_MAF, 31, M2MSEC_KEYREG_SCOPE_NONE },
        { M2MSEC_REG_MAF, 36, M2MSEC_KEYREG_SCOPE_NONE },
        { M2MSEC_REG_MAF, 22, M2MSEC_KEYREG_SCOPE_NONE },
        { (enum m2msec_reg_peer)7, 22, M2MSEC_KEYREG_SCOPE_NONE },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(m2msec_keyreg_suid_scope(cases[i].peer, cases[i].suid), cases[i].want);
    }
}

static void
test_check_targets(void **state)
{
    char b[] = "/cse-b", c[] = "/cse-c", ae[] = "C-ae1", abs[] = "//sp.example/cse-b";
    char bad[] = "not an id", empty[] = "";
    char *one[] = { b, NULL }, *one_ae[] = { ae, NULL }, *two[] = { b, c, NULL };
    char *dup[] = { b, b, NULL }, *badl[] = { bad, NULL }, *emptyl[] = { empty, NULL };
    char *absl[] = { abs, NULL };
    char *many[M2MSEC_KEYREG_TARGETS_MAX + 2];
    char ids[M2MSEC_KEYREG_TARGETS_MAX + 1][16];
    static const unsigned mef_ok[] = { 22, 23, 24, 25 };
    static const unsigned mef_no[] = { 0, 10, 12, 20, 21, 26, 32, 35, 42, 45 };
    struct m2msec_error err = { 0 };
    size_t i;

    (void)state;
    for (i = 0; i <= M2MSEC_KEYREG_TARGETS_MAX; i++) {
        snprintf(ids[i], sizeof(ids[i]), "/cse-%zu", i);
        many[i] = ids[i];
    }
    many[M2MSEC_KEYREG_TARGETS_MAX + 1] = NULL;
    for (i = 0; i < sizeof(mef_ok) / sizeof(mef_ok[0]); i++) {
        assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, mef_ok[i], one, 1, &err), 0);
        /* The MAF's registry is 32..35: the same number ten higher. */
        assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MAF, mef_ok[i] + 10, one, 1, &err),
                         0);
        assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MAF, mef_ok[i], one, 1, &err), -1);
        assert_int_equal(err.rsc, 4000);
    }
    for (i = 0; i < sizeof(mef_no) / sizeof(mef_no[0]); i++) {
        assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, mef_no[i], one, 1, &err), -1);
        assert_int_equal(err.rsc, 4000);
        assert_non_null(strstr(err.msg, "suid"));
    }
    /* SAEF / ESPrim: exactly one. */
    assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 22, one_ae, 1, &err), 0);
    assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 22, absl, 1, &err), 0);
    assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 22, two, 2, &err), -1);
    assert_non_null(strstr(err.msg, "exactly one"));
    assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 23, two, 2, &err), -1);
    /* ESData: one or more, at most the maximum. */
    assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 24, two, 2, &err), 0);
    assert_int_equal(
            m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 25, many, M2MSEC_KEYREG_TARGETS_MAX, &err),
            0);
    assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 25, many,
                                                 M2MSEC_KEYREG_TARGETS_MAX + 1, &err),
                     -1);
    assert_non_null(strstr(err.msg, "too many"));
    /* Absent or empty: the registrar does not make a list up. */
    assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 24, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "targetIDs"));
    assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 24, one, 0, &err), -1);
    /* Each one a CSE-ID or AE-ID, none twice. */
    assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 22, badl, 1, &err), -1);
    assert_non_null(strstr(err.msg, "CSE-ID or AE-ID"));
    assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 22, emptyl, 1, &err), -1);
    assert_int_equal(m2msec_keyreg_check_targets(M2MSEC_REG_MEF, 24, dup, 2, &err), -1);
    assert_non_null(strstr(err.msg, "repeats"));
    assert_int_equal(err.rsc, 4000);
}

/* A valid MEF request to mutate, case by case. */
struct req_fx {
    char fqdn[32], admin[32], target[16];
    char *targets[2];
    struct m2msec_keyreg_req rq;
};

static void
req_fx_init(struct req_fx *f)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->fqdn, sizeof(f->fqdn), "mef.example.com");
    snprintf(f->admin, sizeof(f->admin), "admin.example.com");
    snprintf(f->target, sizeof(f->target), "/cse-b");
    f->targets[0] = f->target;
    f->rq.fqdn = f->fqdn;
    f->rq.admin_fqdn = f->admin;
    f->rq.et = NOW + 60;
    f->rq.suid = 22;
    f->rq.target_ids = f->targets;
    f->rq.ntargets = 1;
}

static void
test_check_request(void **state)
{
    struct m2msec_error err = { 0 };
    struct req_fx f;
    char upper[] = "MEF.Example.COM", other[] = "mef2.example.com", notfqdn[] = "admin_x";

    (void)state;
    req_fx_init(&f);
    assert_int_equal(m2msec_keyreg_check_request(M2MSEC_REG_MEF, &f.rq, "mef.example.com",
                                                 "admin.example.com", NOW, &err),
                     0);
    /* Registration adminFQDN compared case-insensitively; NULL: not checked. */
    assert_int_equal(m2msec_keyreg_check_request(M2MSEC_REG_MEF, &f.rq, "mef.example.com",
                                                 "ADMIN.example.com", NOW, &err),
                     0);
    assert_int_equal(
            m2msec_keyreg_check_request(M2MSEC_REG_MEF, &f.rq, "mef.example.com", NULL, NOW, &err),
            0);
    assert_int_equal(m2msec_keyreg_check_request(M2MSEC_REG_MEF, &f.rq, "mef.example.com",
                                                 "other.example.com", NOW, &err),
                     -1);
    assert_int_equal(err.rsc, 4000);
    assert_non_null(strstr(err.msg, "adminFQDN"));
    /* The FQDN member names this MEF (any case), not another. */
    f.rq.fqdn = upper;
    assert_int_equal(
            m2msec_keyreg_check_request(M2MSEC_REG_MEF, &f.rq, "mef.example.com", NULL, NOW, &err),
            0);
    f.rq.fqdn = other;
    assert_int_equal(
            m2msec_keyreg_check_request(M2MSEC_REG_MEF, &f.rq, "mef.example.com", NULL, NOW, &err),
            -1);
    assert_non_null(strstr(err.msg, "mefFQDN"));
    assert_int_equal(
            m2msec_keyreg_check_request(M2MSEC_REG_MAF, &f.rq, "mef.example.com", NULL, NOW, &err),
            -1);
    assert_non_null(strstr(err.msg, "mafFQDN"));
    req_fx_init(&f);
    f.rq.admin_fqdn = notfqdn;
    assert_int_equal(
            m2msec_keyreg_check_request(M2MSEC_REG_MEF, &f.rq, "mef.example.com", NULL, NOW, &err),
            -1);
    assert_non_null(strstr(err.msg, "adminFQDN"));
    /* et strictly after now. */
    req_fx_init(&f);
    f.rq.et = NOW + 1;
    assert_int_equal(
            m2msec_keyreg_check_request(M2MSEC_REG_MEF, &f.rq, "mef.example.com", NULL, NOW, &err),
            0);
    f.rq.et = NOW;
    assert_int_equal(
            m2msec_keyreg_check_request(M2MSEC_REG_MEF, &f.rq, "mef.example.com", NULL, NOW, &err),
            -1);
    assert_non_null(strstr(err.msg, "'et'"));
    /* SUID of the other registry, and missing targets. */
    req_fx_init(&f);
    f.rq.suid = 32;
    assert_int_equal(
            m2msec_keyreg_check_request(M2MSEC_REG_MEF, &f.rq, "mef.example.com", NULL, NOW, &err),
            -1);
    assert_int_equal(
            m2msec_keyreg_check_request(M2MSEC_REG_MAF, &f.rq, "mef.example.com", NULL, NOW, &err),
            0);
    req_fx_init(&f);
    f.rq.target_ids = NULL;
    f.rq.ntargets = 0;
    assert_int_equal(
            m2msec_keyreg_check_request(M2MSEC_REG_MEF, &f.rq, "mef.example.com", NULL, NOW, &err),
            -1);
    assert_int_equal(err.rsc, 4000);
}

static void
test_check_update(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_update up = { 0 };
    char fqdn[] = "mef.example.com", b[] = "/cse-b", c[] = "/cse-c", l[] = "x";
    char *one[] = { b, NULL }, *two[] = { b, c, NULL }, *lbl[] = { l, NULL };

    (void)state;
    up.fqdn = fqdn;
    assert_int_equal(m2msec_keyreg_check_update(M2MSEC_REG_MEF, &up, 22, fqdn, NOW, &err), -1);
    assert_non_null(strstr(err.msg, "nothing to update"));
    up.has_lbl = 1;
    up.lbl = lbl;
    up.nlbl = 1;
    assert_int_equal(m2msec_keyreg_check_update(M2MSEC_REG_MEF, &up, 22, fqdn, NOW, &err), 0);
    up.has_et = 1;
    up.et = NOW + 10;
    assert_int_equal(m2msec_keyreg_check_update(M2MSEC_REG_MEF, &up, 22, fqdn, NOW, &err), 0);
    up.et = NOW - 1;
    assert_int_equal(m2msec_keyreg_check_update(M2MSEC_REG_MEF, &up, 22, fqdn, NOW, &err), -1);
    assert_int_equal(err.rsc, 4000);
    up.has_et = 0;
    /* New targets follow the stored SUID's rule. */
    up.has_targets = 1;
    up.target_ids = one;
    up.ntargets = 1;
    assert_int_equal(m2msec_keyreg_check_update(M2MSEC_REG_MEF, &up, 22, fqdn, NOW, &err), 0);
    up.target_ids = two;
    up.ntargets = 2;
    assert_int_equal(m2msec_keyreg_check_update(M2MSEC_REG_MEF, &up, 22, fqdn, NOW, &err), -1);
    assert_int_equal(m2msec_keyreg_check_update(M2MSEC_REG_MEF, &up, 24, fqdn, NOW, &err), 0);
    assert_int_equal(
            m2msec_keyreg_check_update(M2MSEC_REG_MEF, &up, 24, "mef2.example.com", NOW, &err), -1);
    up.fqdn = NULL;
    assert_int_equal(m2msec_keyreg_check_update(M2MSEC_REG_MEF, &up, 24, fqdn, NOW, &err), -1);
}

static void
test_grant_et(void **state)
{
    static const struct {
        int64_t requested;
        uint64_t max_s;
        int64_t cred, reg;
        int64_t want; /* 0: refused */
        int rsc;
    } cases[] = {
        { NOW + 100, 1000, 0, 0, NOW + 100, 0 },          /* as asked */
        { NOW + 5000, 1000, 0, 0, NOW + 1000, 0 },        /* policy maximum */
        { NOW + 5000, 1000, NOW + 500, 0, NOW + 500, 0 }, /* credential (Km) expiry */
        { NOW + 5000, 1000, 0, NOW + 300, NOW + 300, 0 }, /* registration expiry */
        { NOW + 5000, 1000, NOW + 200, NOW + 300, NOW + 200, 0 },
        { NOW + 100, UINT64_MAX, 0, 0, NOW + 100, 0 }, /* no overflow */
        { NOW + 1, 1000, 0, 0, NOW + 1, 0 },
        { NOW, 1000, 0, 0, 0, 4000 }, /* not in the future */
        { NOW - 10, 1000, 0, 0, 0, 4000 },
        { NOW + 100, 1000, NOW, 0, 0, 4004 },     /* credential expired */
        { NOW + 100, 1000, 0, NOW - 1, 0, 4004 }, /* registration expired */
        { NOW + 100, 0, 0, 0, 0, 4004 },          /* a zero policy grants nothing */
    };
    struct m2msec_error err = { 0 };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t g = -7;
        int rv = m2msec_keyreg_grant_et(cases[i].requested, NOW, cases[i].max_s, cases[i].cred,
                                        cases[i].reg, &g, &err);

        if (cases[i].want != 0) {
            assert_int_equal(rv, 0);
            assert_true(g == cases[i].want);
        } else {
            assert_int_equal(rv, -1);
            assert_int_equal(err.rsc, cases[i].rsc);
            assert_true(g == -7); /* out untouched on failure */
        }
    }
}

static void
test_rel_choose(void **state)
{
    uint8_t kcid[16], fresh[16];
    char out[M2MSEC_KEYREG_REL_HEX];

    (void)state;
    memset(kcid, 0xab, sizeof(kcid));
    memset(fresh, 0x01, sizeof(fresh));
    /* DEFECT-3: hex(KcID) first, */
    m2msec_keyreg_rel_choose(kcid, 0, fresh, out);
    assert_string_equal(out, "abababababababababababababababab");
    assert_true(m2msec_keyreg_rel_valid(out));
    /* a fresh value when it is taken, */
    m2msec_keyreg_rel_choose(kcid, 1, fresh, out);
    assert_string_equal(out, "01010101010101010101010101010101");
    /* and a fresh value for a self-generated key. */
    m2msec_keyreg_rel_choose(NULL, 0, fresh, out);
    assert_string_equal(out, "01010101010101010101010101010101");
}

static void
test_authz(void **state)
{
    char b[] = "/cse-b", c[] = "C-ae";
    char *list[] = { b, c, NULL };

    (void)state;
    assert_int_equal(m2msec_keyreg_may_retrieve(list, 2, "/cse-b"), 1);
    assert_int_equal(m2msec_keyreg_may_retrieve(list, 2, "C-ae"), 1);
    assert_int_equal(m2msec_keyreg_may_retrieve(list, 2, "/cse-a"), 0);
    assert_int_equal(m2msec_keyreg_may_retrieve(list, 2, "/CSE-B"), 0); /* exact */
    assert_int_equal(m2msec_keyreg_may_retrieve(list, 2, "/cse-b/"), 0);
    assert_int_equal(m2msec_keyreg_may_retrieve(list, 2, "/cse"), 0);
    assert_int_equal(m2msec_keyreg_may_retrieve(list, 1, "C-ae"), 0); /* only n items count */
    assert_int_equal(m2msec_keyreg_may_retrieve(list, 2, ""), 0);
    assert_int_equal(m2msec_keyreg_may_retrieve(list, 2, NULL), 0);
    assert_int_equal(m2msec_keyreg_may_retrieve(NULL, 0, "/cse-b"), 0);
    assert_int_equal(m2msec_keyreg_may_modify("kpm-a", "kpm-a"), 1);
    assert_int_equal(m2msec_keyreg_may_modify("kpm-a", "kpm-b"), 0);
    assert_int_equal(m2msec_keyreg_may_modify("kpm-a", "KPM-A"), 0);
    assert_int_equal(m2msec_keyreg_may_modify("kpm-a", "kpm-a "), 0);
    assert_int_equal(m2msec_keyreg_may_modify(NULL, "kpm-a"), 0);
    assert_int_equal(m2msec_keyreg_may_modify("", ""), 0);
}

static void
test_verify(void **state)
{
    struct m2msec_error err = { 0 };
    struct req_fx f;
    struct m2msec_keyreg_resp rs = { 0 };
    struct m2msec_keyreg_update uq = { 0 }, us = { 0 };
    char rel[] = REL_A, badrel[] = "a/b", src[] = "/cse-a", admin[] = "ADMIN.example.com";
    char c[] = "/cse-c";
    char *other[] = { c, NULL };

    (void)state;
    req_fx_init(&f);
    rs.rel_key_id = rel;
    rs.et = NOW + 10;
    rs.source_id = src;
    rs.admin_fqdn = admin;
    rs.suid = 22;
    rs.target_ids = f.targets;
    rs.ntargets = 1;
    assert_int_equal(m2msec_keyreg_verify_resp(&f.rq, &rs, "/cse-a", NOW, &err), 0);
    assert_int_equal(m2msec_keyreg_verify_resp(&f.rq, &rs, NULL, NOW, &err), 0);
    assert_int_equal(m2msec_keyreg_verify_resp(&f.rq, &rs, "/cse-x", NOW, &err), -1);
    assert_non_null(strstr(err.msg, "sourceID"));
    rs.et = NOW;
    assert_int_equal(m2msec_keyreg_verify_resp(&f.rq, &rs, "/cse-a", NOW, &err), -1);
    rs.et = NOW + 10;
    rs.suid = 23;
    assert_int_equal(m2msec_keyreg_verify_resp(&f.rq, &rs, "/cse-a", NOW, &err), -1);
    rs.suid = 22;
    rs.target_ids = other;
    assert_int_equal(m2msec_keyreg_verify_resp(&f.rq, &rs, "/cse-a", NOW, &err), -1);
    assert_non_null(strstr(err.msg, "targetIDs"));
    rs.target_ids = f.targets;
    rs.ntargets = 0;
    assert_int_equal(m2msec_keyreg_verify_resp(&f.rq, &rs, "/cse-a", NOW, &err), -1);
    rs.ntargets = 1;
    rs.admin_fqdn = f.fqdn;
    assert_int_equal(m2msec_keyreg_verify_resp(&f.rq, &rs, "/cse-a", NOW, &err), -1);
    rs.admin_fqdn = admin;
    rs.rel_key_id = badrel;
    assert_int_equal(m2msec_keyreg_verify_resp(&f.rq, &rs, "/cse-a", NOW, &err), -1);
    /* Update responses carry exactly what the request did. */
    uq.has_et = 1;
    us.has_et = 1;
    us.et = NOW + 5;
    assert_int_equal(m2msec_keyreg_verify_update(&uq, &us, NOW, &err), 0);
    us.et = NOW;
    assert_int_equal(m2msec_keyreg_verify_update(&uq, &us, NOW, &err), -1);
    us.et = NOW + 5;
    us.has_lbl = 1;
    assert_int_equal(m2msec_keyreg_verify_update(&uq, &us, NOW, &err), -1);
    us.has_lbl = 0;
    us.has_et = 0;
    assert_int_equal(m2msec_keyreg_verify_update(&uq, &us, NOW, &err), -1);
}

/*
 * codec/keyreg_msg: strict decoding, both peers.
 */

static int
dec_req(enum m2msec_reg_peer peer, const char *json, struct m2msec_keyreg_req *out,
        struct m2msec_error *err)
{
    return m2msec_keyreg_req_decode(peer, (const uint8_t *)json, strlen(json), out, err);
}

static void
test_codec_req_roundtrip(void **state)
{
    struct m2msec_error err = { 0 };
    struct req_fx f;
    struct m2msec_keyreg_req out = { 0 };
    struct m2msec_secret *kv = key_of(0x11);
    struct m2msec_buf b;
    char l1[] = "l1";
    char *lbl[] = { l1, NULL };
    static const enum m2msec_reg_peer peers[] = { M2MSEC_REG_MEF, M2MSEC_REG_MAF };
    size_t i;

    (void)state;
    m2msec_buf_init(&b, 65536);
    for (i = 0; i < 2; i++) {
        req_fx_init(&f);
        f.rq.lbl = lbl;
        f.rq.nlbl = 1;
        f.rq.has_lbl = 1;
        f.rq.key_value = kv;
        m2msec_buf_reset(&b);
        assert_int_equal(m2msec_keyreg_req_encode(peers[i], &f.rq, &b, &err), 0);
        assert_true(contains(&b, m2msec_keyreg_fqdn_member(peers[i])));
        assert_true(contains(&b, KV32));
        assert_int_equal(m2msec_keyreg_req_decode(peers[i], b.data, b.len, &out, &err), 0);
        assert_string_equal(out.fqdn, "mef.example.com");
        assert_string_equal(out.admin_fqdn, "admin.example.com");
        assert_true(out.et == f.rq.et);
        assert_int_equal(out.suid, 22);
        assert_int_equal(out.ntargets, 1);
        assert_string_equal(out.target_ids[0], "/cse-b");
        assert_int_equal(out.nlbl, 1);
        assert_true(m2msec_secret_equal(out.key_value, kv));
        m2msec_keyreg_req_clear(&out);
        /* The other peer's member name is unknown. */
        assert_int_equal(m2msec_keyreg_req_decode(peers[1 - i], b.data, b.len, &out, &err), -1);
        assert_int_equal(err.rsc, 4000);
        assert_null(out.fqdn);
    }
    /* Without targets and key: both optional on the wire. */
    req_fx_init(&f);
    f.rq.target_ids = NULL;
    f.rq.ntargets = 0;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_keyreg_req_encode(M2MSEC_REG_MEF, &f.rq, &b, &err), 0);
    assert_int_equal(m2msec_keyreg_req_decode(M2MSEC_REG_MEF, b.data, b.len, &out, &err), 0);
    assert_null(out.target_ids);
    assert_null(out.key_value);
    m2msec_keyreg_req_clear(&out);
    /* Rejected neighbours on the encode side: our bug, rsc 5000. */
    f.rq.admin_fqdn = NULL;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_keyreg_req_encode(M2MSEC_REG_MEF, &f.rq, &b, &err), -1);
    assert_int_equal(err.rsc, 5000);
    req_fx_init(&f);
    f.rq.suid = 46;
    assert_int_equal(m2msec_keyreg_req_encode(M2MSEC_REG_MEF, &f.rq, &b, &err), -1);
    assert_int_equal(m2msec_keyreg_req_encode((enum m2msec_reg_peer)9, &f.rq, &b, &err), -1);
    m2msec_buf_free(&b);
    m2msec_secret_free(kv);
}

#define RQ_HEAD \
    "{\"mefFQDN\":\"mef.example.com\",\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\""

static void
test_codec_req_rejects(void **state)
{
    static const struct {
        const char *json;
        int ok;
    } cases[] = {
        { RQ_HEAD ",\"suid\":22}", 1 },
        { RQ_HEAD ",\"suid\":22,\"targetIDs\":[\"/cse-b\"]}", 1 },
        { RQ_HEAD ",\"suid\":22,\"keyValue\":\"" KV32 "\"}", 1 },
        { RQ_HEAD ",\"suid\":10}", 1 },
        { RQ_HEAD ",\"suid\":45}", 1 },
        { RQ_HEAD ",\"suid\":9}", 0 },
        { RQ_HEAD ",\"suid\":46}", 0 },
        { RQ_HEAD ",\"suid\":\"22\"}", 0 },
        { RQ_HEAD ",\"suid\":22.0}", 0 },
        { RQ_HEAD ",\"suid\":-22}", 0 },
        { RQ_HEAD "}", 0 },                                      /* suid missing */
        { RQ_HEAD ",\"suid\":22,\"targetIDs\":[]}", 0 },         /* empty list */
        { RQ_HEAD ",\"suid\":22,\"targetIDs\":\"/cse-b\"}", 0 }, /* not a list */
        { RQ_HEAD ",\"suid\":22,\"targetIDs\":[\"\"]}", 0 },     /* empty id */
        { RQ_HEAD ",\"suid\":22,\"targetIDs\":[1]}", 0 },
        { RQ_HEAD ",\"suid\":24,\"targetIDs\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\","
                  "\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\"]}",
          1 }, /* 16: syntax only here */
        { RQ_HEAD ",\"suid\":24,\"targetIDs\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\","
                  "\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}",
          0 }, /* 17 */
        { RQ_HEAD ",\"suid\":22,\"keyValue\":\"" KV31 "\"}", 0 },
        { RQ_HEAD ",\"suid\":22,\"keyValue\":\"ERERERERERERERERERERERERERERERERERERERERERE\"}", 0 },
        { RQ_HEAD ",\"suid\":22,\"keyValue\":\"\"}", 0 },
        { RQ_HEAD ",\"suid\":22,\"keyValue\":true}", 0 },
        { RQ_HEAD ",\"suid\":22,\"relativeKeyID\":\"" REL_A "\"}", 0 }, /* response member */
        { RQ_HEAD ",\"suid\":22,\"x\":1}", 0 },
        { RQ_HEAD ",\"suid\":22,\"lbl\":[]}", 1 },
        { RQ_HEAD ",\"suid\":22,\"lbl\":[\"\"]}", 0 },
        { RQ_HEAD ",\"suid\":22,\"suid\":22}", 0 }, /* duplicate member */
        { "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\","
          "\"suid\":22}",
          0 },
        { "{\"mefFQDN\":\"m example\",\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\","
          "\"suid\":22}",
          0 },
        { "{\"mefFQDN\":\"m.example\",\"et\":\"21000101T000000\",\"adminFQDN\":\"a\\u0001\","
          "\"suid\":22}",
          0 },
        { "{\"mefFQDN\":\"m.example\",\"et\":\"2100\",\"adminFQDN\":\"a.example\",\"suid\":22}",
          0 },
        { "{\"mefFQDN\":\"m.example\",\"adminFQDN\":\"a.example\",\"suid\":22}", 0 },
        { RQ_HEAD ",\"suid\":22", 0 }, /* truncated */
        { "[]", 0 },
    };
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_req out;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rv = dec_req(M2MSEC_REG_MEF, cases[i].json, &out, &err);

        if (rv != (cases[i].ok ? 0 : -1)) {
            fail_msg("case %zu: %s -> %d (%s)", i, cases[i].json, rv, err.msg);
        }
        if (!cases[i].ok) {
            assert_int_equal(err.rsc, 4000);
            assert_null(out.fqdn);
            assert_null(out.key_value);
        }
        m2msec_keyreg_req_clear(&out);
    }
}

#define RS_TAIL \
    "\"et\":\"21000101T000000\",\"sourceID\":\"/cse-a\",\"adminFQDN\":\"a.example\",\"suid\":22"

static void
test_codec_resp(void **state)
{
    static const struct {
        const char *json;
        int ok;
    } cases[] = {
        { "{\"relativeKeyID\":\"" REL_A "\"," RS_TAIL ",\"targetIDs\":[\"/cse-b\"]}", 1 },
        { "{\"relativeKeyID\":\"a.b_c-D\"," RS_TAIL ",\"targetIDs\":[\"/cse-b\"]}", 1 },
        { "{\"relativeKeyID\":\"a/b\"," RS_TAIL ",\"targetIDs\":[\"/cse-b\"]}", 0 },
        { "{\"relativeKeyID\":\"a@b\"," RS_TAIL ",\"targetIDs\":[\"/cse-b\"]}", 0 },
        { "{\"relativeKeyID\":\"" REL_A REL_A "\"," RS_TAIL ",\"targetIDs\":[\"/cse-b\"]}", 1 },
        { "{\"relativeKeyID\":\"" REL_A REL_A "0\"," RS_TAIL ",\"targetIDs\":[\"/cse-b\"]}", 0 },
        { "{\"relativeKeyID\":\"" REL_A "\"," RS_TAIL "}", 0 }, /* targetIDs required */
        { "{\"relativeKeyID\":\"" REL_A "\"," RS_TAIL ",\"targetIDs\":[]}", 0 },
        { "{" RS_TAIL ",\"targetIDs\":[\"/cse-b\"]}", 0 },
        { "{\"relativeKeyID\":\"" REL_A "\"," RS_TAIL ",\"targetIDs\":[\"/cse-b\"],"
          "\"keyValue\":\"" KV32 "\"}",
          0 }, /* never echoed to the source */
        { "{\"relativeKeyID\":\"" REL_A "\"," RS_TAIL ",\"targetIDs\":[\"/cse-b\"],"
          "\"mefFQDN\":\"m.example\"}",
          0 },
    };
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_resp in = { 0 }, out = { 0 };
    struct m2msec_buf b;
    char rel[] = REL_A, src[] = "/cse-a", admin[] = "a.example", t[] = "/cse-b";
    char *targets[] = { t, NULL };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rv = m2msec_keyreg_resp_decode(M2MSEC_REG_MEF, (const uint8_t *)cases[i].json,
                                           strlen(cases[i].json), &out, &err);

        if (rv != (cases[i].ok ? 0 : -1)) {
            fail_msg("case %zu: %s -> %d (%s)", i, cases[i].json, rv, err.msg);
        }
        if (!cases[i].ok) {
            assert_null(out.rel_key_id);
        }
        m2msec_keyreg_resp_clear(&out);
    }
    m2msec_buf_init(&b, 65536);
    in.rel_key_id = rel;
    in.et = FUTURE;
    in.source_id = src;
    in.admin_fqdn = admin;
    in.suid = 34;
    in.target_ids = targets;
    in.ntargets = 1;
    assert_int_equal(m2msec_keyreg_resp_encode(M2MSEC_REG_MAF, &in, &b, &err), 0);
    assert_int_equal(m2msec_keyreg_resp_decode(M2MSEC_REG_MAF, b.data, b.len, &out, &err), 0);
    assert_string_equal(out.rel_key_id, REL_A);
    assert_string_equal(out.source_id, src);
    assert_int_equal(out.suid, 34);
    assert_int_equal(out.has_lbl, 0);
    assert_string_equal(out.target_ids[0], t);
    m2msec_keyreg_resp_clear(&out);
    in.target_ids = NULL;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_keyreg_resp_encode(M2MSEC_REG_MAF, &in, &b, &err), -1);
    assert_int_equal(err.rsc, 5000);
    m2msec_buf_free(&b);
}

static void
test_codec_get_resp(void **state)
{
    static const char *const bad[] = {
        "{" RS_TAIL "}", /* keyValue required */
        "{" RS_TAIL ",\"keyValue\":\"" KV31 "\"}",
        "{" RS_TAIL ",\"keyValue\":\"" KV32 "\",\"targetIDs\":[\"/cse-b\"]}",
        "{\"et\":\"21000101T000000\",\"adminFQDN\":\"a.example\",\"suid\":22,"
        "\"keyValue\":\"" KV32 "\"}", /* sourceID */
    };
    static const char good[] = "{" RS_TAIL ",\"keyValue\":\"" KV32 "\"}";
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_get_resp in = { 0 }, out = { 0 };
    struct m2msec_secret *kv = key_of(0x11);
    struct m2msec_buf b;
    char src[] = "/cse-a", admin[] = "a.example", l[] = "lab";
    char *lbl[] = { l, NULL };
    size_t i;

    (void)state;
    assert_int_equal(m2msec_keyreg_get_resp_decode(M2MSEC_REG_MEF, (const uint8_t *)good,
                                                   strlen(good), &out, &err),
                     0);
    assert_true(m2msec_secret_equal(out.key_value, kv));
    m2msec_keyreg_get_resp_clear(&out);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(m2msec_keyreg_get_resp_decode(M2MSEC_REG_MEF, (const uint8_t *)bad[i],
                                                       strlen(bad[i]), &out, &err),
                         -1);
        assert_null(out.key_value);
        assert_null(out.source_id);
    }
    m2msec_buf_init(&b, 65536);
    in.et = FUTURE;
    in.source_id = src;
    in.admin_fqdn = admin;
    in.suid = 23;
    in.lbl = lbl;
    in.nlbl = 1;
    in.has_lbl = 1;
    in.key_value = kv;
    assert_int_equal(m2msec_keyreg_get_resp_encode(M2MSEC_REG_MEF, &in, &b, &err), 0);
    assert_int_equal(m2msec_keyreg_get_resp_decode(M2MSEC_REG_MEF, b.data, b.len, &out, &err), 0);
    assert_true(m2msec_secret_equal(out.key_value, kv));
    assert_int_equal(out.suid, 23);
    assert_string_equal(out.lbl[0], "lab");
    m2msec_keyreg_get_resp_clear(&out);
    in.key_value = NULL;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_keyreg_get_resp_encode(M2MSEC_REG_MEF, &in, &b, &err), -1);
    m2msec_buf_free(&b);
    m2msec_secret_free(kv);
}

static void
test_codec_update(void **state)
{
    static const struct {
        int is_request;
        const char *json;
        int ok;
    } cases[] = {
        { 1, "{\"mefFQDN\":\"m.example\",\"et\":\"21000101T000000\"}", 1 },
        { 1, "{\"mefFQDN\":\"m.example\",\"lbl\":[]}", 1 },
        { 1, "{\"mefFQDN\":\"m.example\",\"targetIDs\":[\"/cse-b\"]}", 1 },
        { 1, "{\"mefFQDN\":\"m.example\"}", 0 },  /* nothing to update */
        { 1, "{\"et\":\"21000101T000000\"}", 0 }, /* FQDN missing */
        { 1, "{\"mefFQDN\":\"m.example\",\"targetIDs\":[]}", 0 },
        { 1, "{\"mefFQDN\":\"m.example\",\"keyValue\":\"" KV32 "\"}", 0 }, /* metadata only */
        { 1, "{\"mefFQDN\":\"m.example\",\"et\":\"21000101T000000\",\"suid\":23}", 0 },
        { 1, "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\"}", 0 },
        { 0, "{\"et\":\"21000101T000000\"}", 1 },
        { 0, "{}", 1 },
        { 0, "{\"mefFQDN\":\"m.example\",\"et\":\"21000101T000000\"}", 0 },
        { 0, "{\"mafFQDN\":\"m.example\",\"et\":\"21000101T000000\"}", 0 },
        { 0, "{\"et\":1}", 0 },
    };
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_update in = { 0 }, out = { 0 };
    struct m2msec_buf b;
    char fqdn[] = "mef.example.com", t[] = "/cse-c";
    char *targets[] = { t, NULL };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rv =
                m2msec_keyreg_update_decode(M2MSEC_REG_MEF, (const uint8_t *)cases[i].json,
                                            strlen(cases[i].json), cases[i].is_request, &out, &err);

        if (rv != (cases[i].ok ? 0 : -1)) {
            fail_msg("case %zu: %s -> %d (%s)", i, cases[i].json, rv, err.msg);
        }
        m2msec_keyreg_update_clear(&out);
    }
    m2msec_buf_init(&b, 65536);
    in.fqdn = fqdn;
    in.has_targets = 1;
    in.target_ids = targets;
    in.ntargets = 1;
    in.has_et = 1;
    in.et = FUTURE;
    assert_int_equal(m2msec_keyreg_update_encode(M2MSEC_REG_MAF, &in, 1, &b, &err), 0);
    assert_int_equal(m2msec_keyreg_update_decode(M2MSEC_REG_MAF, b.data, b.len, 1, &out, &err), 0);
    assert_string_equal(out.fqdn, fqdn);
    assert_int_equal(out.has_targets, 1);
    assert_string_equal(out.target_ids[0], t);
    assert_int_equal(out.has_lbl, 0);
    m2msec_keyreg_update_clear(&out);
    /* A response never names the registrar. */
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_keyreg_update_encode(M2MSEC_REG_MEF, &in, 0, &b, &err), -1);
    in.fqdn = NULL;
    assert_int_equal(m2msec_keyreg_update_encode(M2MSEC_REG_MEF, &in, 0, &b, &err), 0);
    /* A request with nothing to update is not sent. */
    memset(&in, 0, sizeof(in));
    in.fqdn = fqdn;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_keyreg_update_encode(M2MSEC_REG_MEF, &in, 1, &b, &err), -1);
    assert_int_equal(err.rsc, 5000);
    m2msec_buf_free(&b);
}

/*
 * store/keyreg on the MEF schema.
 */

struct fx {
    char dir[64];
    char path[96];
    struct m2msec_secret *kek;
    struct m2msec_db *db;
};

static int
setup(void **state)
{
    struct m2msec_error err = { 0 };
    struct fx *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/m2msec-keyreg-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/s.db", fx->dir);
    fx->kek = m2msec_secret_random(32, &err);
    if (fx->kek == NULL) {
        return -1;
    }
    fx->db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_MEF, fx->kek, &err);
    *state = fx;
    return fx->db == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
    struct fx *fx = *state;
    char p[128];

    m2msec_db_close(fx->db);
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

static int64_t
qint(struct m2msec_db *db, const char *sql)
{
    struct m2msec_error err = { 0 };
    int64_t v = -1;

    assert_int_equal(m2msec_db_test_query_int(db, sql, &v, &err), 0);
    return v;
}

/* A MEF Client Registration reg_id of owner, live until expires. */
static void
make_reg(struct m2msec_db *db, const char *reg_id, const char *owner, int64_t expires)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mefreg_rec r = { 0 };
    char o[32], cid[] = "/cse-a", admin[40];

    snprintf(o, sizeof(o), "%s", owner);
    /* One registration per stakeholder and credential: a stakeholder per registration. */
    snprintf(admin, sizeof(admin), "admin-%.8s.example.com", reg_id);
    memcpy(r.reg_id, reg_id, 33);
    r.kpm_id = o;
    r.client_id = cid;
    r.admin_fqdn = admin;
    r.expires = expires;
    if (m2msec_mef_reg_create(db, &r, NOW, &err) != 0) {
        fail_msg("reg_create: %s", err.msg);
    }
}

/* A record to put (fields point into f). */
struct rec_fx {
    char rel[40], owner[16], reg[40], src[16], admin[32], t1[16], t2[16], l1[8];
    char *targets[3];
    char *labels[2];
    struct m2msec_keyreg_rec r;
};

static void
rec_fx_init(struct rec_fx *f, const char *rel, const char *reg, struct m2msec_secret *key)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->rel, sizeof(f->rel), "%s", rel);
    snprintf(f->owner, sizeof(f->owner), "kpm-a");
    snprintf(f->reg, sizeof(f->reg), "%s", reg);
    snprintf(f->src, sizeof(f->src), "/cse-a");
    snprintf(f->admin, sizeof(f->admin), "admin-%.8s.example.com", reg);
    snprintf(f->t1, sizeof(f->t1), "/cse-b");
    snprintf(f->t2, sizeof(f->t2), "/cse-c");
    snprintf(f->l1, sizeof(f->l1), "lab");
    f->targets[0] = f->t1;
    f->targets[1] = f->t2;
    f->labels[0] = f->l1;
    f->r.rel_key_id = f->rel;
    f->r.owner = f->owner;
    f->r.reg_id = f->reg;
    f->r.source_id = f->src;
    f->r.admin_fqdn = f->admin;
    f->r.suid = 24;
    f->r.targets = f->targets;
    f->r.ntargets = 2;
    f->r.labels = f->labels;
    f->r.nlabels = 1;
    f->r.expires = NOW + 100;
    f->r.created = NOW;
    f->r.key = key;
}

static void
test_store_put_get(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = key_of(0x42);
    struct m2msec_keyreg_rec *got = NULL;
    struct rec_fx f;
    size_t n = 9;

    make_reg(fx->db, REG_1, "kpm-a", NOW + 200);
    make_reg(fx->db, REG_2, "kpm-b", NOW + 200);
    rec_fx_init(&f, REL_A, REG_1, k);
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW, 1, &got, &err), 0);
    assert_true(m2msec_secret_equal(got->key, k));
    assert_string_equal(got->owner, "kpm-a");
    assert_string_equal(got->reg_id, REG_1);
    assert_string_equal(got->source_id, "/cse-a");
    assert_string_equal(got->admin_fqdn, "admin-11111111.example.com");
    assert_int_equal(got->suid, 24);
    assert_int_equal(got->ntargets, 2);
    assert_string_equal(got->targets[0], "/cse-b");
    assert_string_equal(got->targets[1], "/cse-c");
    assert_int_equal(got->nlabels, 1);
    assert_string_equal(got->labels[0], "lab");
    assert_true(got->expires == NOW + 100);
    assert_true(got->created == NOW);
    m2msec_keyreg_rec_free(got);
    /* Without the key; the id case-insensitively. */
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF,
                                       "0123456789ABCDEF0123456789abcdef", NOW, 0, &got, &err),
                     0);
    assert_null(got->key);
    assert_int_equal(got->ntargets, 2);
    m2msec_keyreg_rec_free(got);
    /* The key is sealed: no clear bytes in the row. */
    assert_int_equal(qint(fx->db, "SELECT instr(key, x'4242424242424242') FROM keyreg"), 0);
    /* Same id again (any case): 4105. */
    snprintf(f.rel, sizeof(f.rel), "0123456789ABCDEF0123456789ABCDEF");
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), -1);
    assert_int_equal(err.rsc, 4105);
    /* Another id with no labels: loads as NULL labels. */
    snprintf(f.rel, sizeof(f.rel), REL_B);
    f.r.labels = NULL;
    f.r.nlabels = 0;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF, REL_B, NOW, 0, &got, &err), 0);
    assert_null(got->labels);
    m2msec_keyreg_rec_free(got);
    assert_int_equal(m2msec_keyreg_count(fx->db, M2MSEC_KEYREG_MEF, NULL, NOW, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(m2msec_keyreg_count(fx->db, M2MSEC_KEYREG_MEF, REG_1, NOW, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(m2msec_keyreg_count(fx->db, M2MSEC_KEYREG_MEF, REG_2, NOW, &n, &err), 0);
    assert_int_equal(n, 0);
    /* Unknown id: 4004. */
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF, "nope", NOW, 0, &got, &err), -1);
    assert_int_equal(err.rsc, 4004);
    assert_null(got);
    m2msec_secret_free(k);
}

static void
test_store_put_refusals(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = key_of(0x42);
    struct m2msec_keyreg_rec *got = NULL;
    struct rec_fx f;
    char empty[] = "";
    char *emptyl[] = { empty, NULL };

    make_reg(fx->db, REG_1, "kpm-a", NOW + 200);
    make_reg(fx->db, REG_2, "kpm-b", NOW + 200);
    rec_fx_init(&f, REL_A, REG_2, k);
    /* Another credential's registration: 4103. */
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    assert_int_equal(err.rsc, 4103);
    /* Unknown, or expired, registration: 4004. */
    snprintf(f.reg, sizeof(f.reg), "33333333333333333333333333333333");
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), -1);
    assert_int_equal(err.rsc, 4004);
    snprintf(f.reg, sizeof(f.reg), REG_1);
    f.r.expires = NOW + 250;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW + 200, &err), -1);
    assert_int_equal(err.rsc, 4004);
    /* Outliving the registration, already expired, no targets, an empty target, no key. */
    f.r.expires = NOW + 201;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    f.r.expires = NOW + 200;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW + 200, &err), -1);
    f.r.ntargets = 0;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    f.r.targets = emptyl;
    f.r.ntargets = 1;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), -1);
    f.r.targets = f.targets;
    f.r.ntargets = 2;
    f.r.key = NULL;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), -1);
    f.r.key = k;
    f.r.source_id = NULL;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), -1);
    f.r.source_id = f.src;
    /* The kind must be the store's. */
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MAF, &f.r, NOW, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MAF, REL_A, NOW, 0, &got, &err), -1);
    assert_int_equal(m2msec_keyreg_put(fx->db, (enum m2msec_keyreg_kind)5, &f.r, NOW, &err), -1);
    /* Nothing of the refused puts was stored; the good one still goes in. */
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg"), 0);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg_target"), 0);
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    m2msec_secret_free(k);
}

static void
test_store_update_delete(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = key_of(0x42);
    struct m2msec_keyreg_rec *got = NULL;
    struct rec_fx f;
    char d[] = "/cse-d", l2[] = "two", l3[] = "three";
    char *newt[] = { d, NULL }, *newl[] = { l2, l3, NULL };

    make_reg(fx->db, REG_1, "kpm-a", NOW + 200);
    rec_fx_init(&f, REL_A, REG_1, k);
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    assert_int_equal(m2msec_keyreg_update(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW, 1, NOW + 150, 1,
                                          newl, 2, 1, newt, 1, &err),
                     0);
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW, 1, &got, &err), 0);
    assert_true(got->expires == NOW + 150);
    assert_int_equal(got->nlabels, 2);
    assert_string_equal(got->labels[1], "three");
    assert_int_equal(got->ntargets, 1);
    assert_string_equal(got->targets[0], "/cse-d");
    assert_true(m2msec_secret_equal(got->key, k)); /* the key itself never changes */
    m2msec_keyreg_rec_free(got);
    /* Labels cleared; id in another case. */
    assert_int_equal(m2msec_keyreg_update(fx->db, M2MSEC_KEYREG_MEF,
                                          "0123456789ABCDEF0123456789ABCDEF", NOW, 0, 0, 1, NULL, 0,
                                          0, NULL, 0, &err),
                     0);
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW, 0, &got, &err), 0);
    assert_null(got->labels);
    assert_true(got->expires == NOW + 150);
    m2msec_keyreg_rec_free(got);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg_label"), 0);
    /* Refused: nothing to change, past its registration, already past, no targets. */
    assert_int_equal(m2msec_keyreg_update(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW, 0, 0, 0, NULL, 0,
                                          0, NULL, 0, &err),
                     -1);
    assert_int_equal(m2msec_keyreg_update(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW, 1, NOW + 201, 0,
                                          NULL, 0, 0, NULL, 0, &err),
                     -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_keyreg_update(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW, 1, NOW, 0, NULL, 0,
                                          0, NULL, 0, &err),
                     -1);
    assert_int_equal(m2msec_keyreg_update(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW, 0, 0, 0, NULL, 0,
                                          1, newt, 0, &err),
                     -1);
    /* Unknown or expired: 4004. */
    assert_int_equal(m2msec_keyreg_update(fx->db, M2MSEC_KEYREG_MEF, REL_B, NOW, 1, NOW + 10, 0,
                                          NULL, 0, 0, NULL, 0, &err),
                     -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(m2msec_keyreg_update(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW + 150, 1, NOW + 160,
                                          0, NULL, 0, 0, NULL, 0, &err),
                     -1);
    assert_int_equal(err.rsc, 4004);
    /* De-registration: once. */
    assert_int_equal(m2msec_keyreg_delete(fx->db, M2MSEC_KEYREG_MEF, REL_B, NOW, &err), -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(m2msec_keyreg_delete(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW, &err), 0);
    assert_int_equal(m2msec_keyreg_delete(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW, &err), -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg_target"), 0);
    m2msec_secret_free(k);
}

static void
test_store_expiry(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = key_of(0x42), *k2 = key_of(0x43);
    struct m2msec_keyreg_rec *got = NULL;
    struct rec_fx f;
    size_t n = 0;

    make_reg(fx->db, REG_1, "kpm-a", NOW + 200);
    rec_fx_init(&f, REL_A, REG_1, k);
    f.r.expires = NOW + 10;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    snprintf(f.rel, sizeof(f.rel), REL_B);
    f.r.expires = NOW + 100;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    /* Live one second before, absent at its expiry, to every call. */
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW + 9, 0, &got, &err),
                     0);
    m2msec_keyreg_rec_free(got);
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW + 10, 0, &got, &err),
                     -1);
    assert_int_equal(err.rsc, 4004);
    assert_int_equal(m2msec_keyreg_delete(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW + 10, &err), -1);
    assert_int_equal(m2msec_keyreg_count(fx->db, M2MSEC_KEYREG_MEF, NULL, NOW + 10, &n, &err), 0);
    assert_int_equal(n, 1);
    /* An expired registration gives its id back. */
    snprintf(f.rel, sizeof(f.rel), REL_A);
    f.r.key = k2;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW + 10, &err), 0);
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW + 10, 1, &got, &err),
                     0);
    assert_true(m2msec_secret_equal(got->key, k2));
    m2msec_keyreg_rec_free(got);
    /* The sweep erases exactly the expired rows, lists included. */
    assert_int_equal(m2msec_keyreg_sweep(fx->db, M2MSEC_KEYREG_MEF, NOW + 50, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(m2msec_keyreg_sweep(fx->db, M2MSEC_KEYREG_MEF, NOW + 100, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg"), 0);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg_target"), 0);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg_label"), 0);
    assert_int_equal(m2msec_keyreg_sweep(fx->db, M2MSEC_KEYREG_MAF, NOW, &n, &err), -1);
    m2msec_secret_free(k);
    m2msec_secret_free(k2);
}

/* MEF Client De-Registration, registration expiry and Enrolee removal erase the keys. */
static void
test_store_cascade(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = key_of(0x42), *kpm = key_of(0x01);
    struct m2msec_enrolee_rec e = { 0 };
    struct rec_fx f;
    size_t n = 0;
    char kpm_id[] = "kpm-a", eid[] = "/cse-a";

    make_reg(fx->db, REG_1, "kpm-a", NOW + 200);
    make_reg(fx->db, REG_2, "kpm-a", NOW + 50);
    rec_fx_init(&f, REL_A, REG_1, k);
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    rec_fx_init(&f, REL_B, REG_2, k);
    f.r.expires = NOW + 50;
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    /* De-registering REG_1 erases REL_A only. */
    assert_int_equal(m2msec_mef_reg_delete(fx->db, REG_1, NOW, &err), 0);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg WHERE rel = '" REL_A "'"), 0);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg_target WHERE rel = '" REL_A "'"), 0);
    assert_int_equal(m2msec_keyreg_count(fx->db, M2MSEC_KEYREG_MEF, NULL, NOW, &n, &err), 0);
    assert_int_equal(n, 1);
    /* The MEF sweep of an expired registration takes its keys along. */
    assert_int_equal(m2msec_mef_sweep(fx->db, NOW + 50, NULL, &err), 0);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg"), 0);
    /* Removing the Enrolee removes its registrations and so their keys. */
    e.kpm_id = kpm_id;
    e.enrolee_id = eid;
    e.expiry_s = 3600;
    e.created = NOW;
    e.kpm = kpm;
    assert_int_equal(m2msec_mef_enrolee_add(fx->db, &e, &err), 0);
    make_reg(fx->db, REG_1, "kpm-a", FUTURE);
    rec_fx_init(&f, REL_A, REG_1, k);
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    assert_int_equal(m2msec_mef_enrolee_remove(fx->db, "kpm-a", &err), 0);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg"), 0);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg_target"), 0);
    assert_int_equal(qint(fx->db, "SELECT count(*) FROM keyreg_label"), 0);
    m2msec_secret_free(k);
    m2msec_secret_free(kpm);
}

/* AAD "mef-kc:<rel>": a sealed key moved to another row does not open. */
static void
test_store_sealed_binding(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = key_of(0x42);
    struct m2msec_keyreg_rec *got = NULL;
    struct rec_fx f;

    make_reg(fx->db, REG_1, "kpm-a", NOW + 200);
    rec_fx_init(&f, REL_A, REG_1, k);
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    snprintf(f.rel, sizeof(f.rel), REL_B);
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    assert_int_equal(m2msec_db_test_exec(fx->db,
                                         "UPDATE keyreg SET key = (SELECT key FROM keyreg WHERE"
                                         " rel = '" REL_A "') WHERE rel = '" REL_B "'",
                                         &err),
                     0);
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF, REL_B, NOW, 1, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    assert_null(got);
    /* Without the key the metadata still reads; the original row still opens. */
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF, REL_B, NOW, 0, &got, &err), 0);
    m2msec_keyreg_rec_free(got);
    assert_int_equal(m2msec_keyreg_get(fx->db, M2MSEC_KEYREG_MEF, REL_A, NOW, 1, &got, &err), 0);
    m2msec_keyreg_rec_free(got);
    m2msec_secret_free(k);
}

/* Schema 2 -> 3 adds the registry and keeps what was there. */
static void
test_store_migration(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = key_of(0x42);
    struct m2msec_mefreg_rec *reg = NULL;
    struct rec_fx f;
    int newest = m2msec_db_schema_version(fx->db);

    /*
     * The registry came with version 3; later migrations run again on the way
     * back up (5 and later create their tables only if they are missing).
     */
    assert_true(newest >= 6);
    make_reg(fx->db, REG_1, "kpm-a", FUTURE);
    /*
     * Back to what version 2 had: undo 5 (certificate Enrolees), 4 (the target
     * table rebuilt for PSK targets) and 3 (the registry).
     */
    assert_int_equal(m2msec_db_test_exec(fx->db,
                                         "DROP TABLE enrolee_cert_file; DROP TABLE enrolee_cert;"
                                         " DROP TABLE target;"
                                         " CREATE TABLE target ("
                                         "  id TEXT PRIMARY KEY NOT NULL,"
                                         "  cert_fqdn TEXT NOT NULL UNIQUE COLLATE NOCASE,"
                                         "  suids TEXT NOT NULL,"
                                         "  legacy INTEGER NOT NULL CHECK (legacy IN (0, 1)),"
                                         "  lifetime_s INTEGER NOT NULL CHECK (lifetime_s >= 0),"
                                         "  created INTEGER NOT NULL);"
                                         " DROP TABLE keyreg_label; DROP TABLE keyreg_target;"
                                         " DROP TABLE keyreg; PRAGMA user_version = 2",
                                         &err),
                     0);
    m2msec_db_close(fx->db);
    fx->db = m2msec_db_open(fx->path, M2MSEC_SCHEMA_MEF, fx->kek, &err);
    assert_non_null(fx->db);
    assert_int_equal(m2msec_db_schema_version(fx->db), newest);
    assert_int_equal(m2msec_mef_reg_get(fx->db, REG_1, NOW, &reg, &err), 0);
    m2msec_mefreg_rec_free(reg);
    rec_fx_init(&f, REL_A, REG_1, k);
    assert_int_equal(m2msec_keyreg_put(fx->db, M2MSEC_KEYREG_MEF, &f.r, NOW, &err), 0);
    m2msec_secret_free(k);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suid_scope),
        cmocka_unit_test(test_check_targets),
        cmocka_unit_test(test_check_request),
        cmocka_unit_test(test_check_update),
        cmocka_unit_test(test_grant_et),
        cmocka_unit_test(test_rel_choose),
        cmocka_unit_test(test_authz),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_codec_req_roundtrip),
        cmocka_unit_test(test_codec_req_rejects),
        cmocka_unit_test(test_codec_resp),
        cmocka_unit_test(test_codec_get_resp),
        cmocka_unit_test(test_codec_update),
        cmocka_unit_test_setup_teardown(test_store_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_put_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_update_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_sealed_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_migration, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
