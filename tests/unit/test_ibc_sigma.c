/*
 * tests/unit/test_ibc_sigma.c - IBC-SIGMA (ECCSI-signed ephemeral ECDH -> Kpsa), in memory.
 *
 * Covers the crypto it is built on (HKDF-SHA-256 against RFC 5869 A.1-A.3,
 * P-256 ECDH agreement and point checks), then the handshake: a full
 * initiator <-> responder run (same Kpsa, same KpsaID, lifetime = earlier
 * expiry, MPK rollover), and every refusal of the acceptance list, each with
 * its reason and with no key produced on either side: expired ID2 (peer and
 * own), mis-issued lifetime, untrusted FQDN, untrusted MPK, MPK outside its
 * validity, unexpected peer ID1 (both directions), clock skew, every byte of
 * M1, M2 and M3 tampered, truncation and trailing bytes, replayed M1
 * (replay cache) and M3 (fresh and same session), replayed M2, wrong SSK,
 * PVT off the curve, X off the curve, wrong message order.
 *
 * Times are fixed (T0, 2030); nothing reads the clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/eccsi.h"
#include "crypto/ecdh.h"
#include "crypto/hkdf.h"
#include "proto/ibc_sigma.h"
#include "proto/id2.h"
#include "util/error.h"
#include "util/secret.h"
#include "vectors.h"

#define T0     INT64_C(1900000000) /* 2030-03-17 */
#define DAY    INT64_C(86400)
#define PERIOD (30 * DAY)
#define FQDN_A "mef-a.example.net"
#define FQDN_B "mef-b.example.net"
#define ID1_A  "/in-cse/Cdevice-a"
#define ID1_B  "/gw-cse"

/* ---- crypto below the protocol ---- */

static void
test_hkdf_rfc5869(void **state)
{
    struct t_vec_file *f = t_vec_load("ibc-hkdf-rfc5869.txt");

    (void)state;
    assert_non_null(f);
    assert_int_equal(f->ncases, 3);
    for (size_t i = 0; i < f->ncases; i++) {
        struct m2msec_error err = { 0 };
        const struct t_vec_case *c = &f->cases[i];
        uint8_t *ikm = NULL, *salt = NULL, *info = NULL, *prk = NULL, *okm = NULL;
        size_t ikm_len = 0, salt_len = 0, info_len = 0, prk_len = 0, okm_len = 0;
        struct m2msec_secret *ik = NULL, *pk = NULL, *ok = NULL;
        struct m2msec_bytes parts[3];
        size_t h = 0;

        assert_int_equal(t_vec_hex(c, "ikm", &ikm, &ikm_len), 0);
        assert_int_equal(t_vec_hex(c, "salt", &salt, &salt_len), 0);
        assert_int_equal(t_vec_hex(c, "info", &info, &info_len), 0);
        assert_int_equal(t_vec_hex(c, "prk", &prk, &prk_len), 0);
        assert_int_equal(t_vec_hex(c, "okm", &okm, &okm_len), 0);
        assert_int_equal(strtoul(t_vec_get(c, "l"), NULL, 10), okm_len);
        ik = m2msec_secret_from(ikm, ikm_len, &err);
        assert_non_null(ik);
        assert_int_equal(m2msec_hkdf_extract(salt_len ? salt : NULL, salt_len, ik, &pk, &err), 0);
        assert_memory_equal(m2msec_secret_bytes(pk), prk, prk_len);
        /* info given in three pieces: the concatenation is what counts. */
        h = info_len / 2;
        parts[0] = (struct m2msec_bytes){ info, h };
        parts[1] = (struct m2msec_bytes){ NULL, 0 };
        parts[2] = (struct m2msec_bytes){ info + h, info_len - h };
        assert_int_equal(m2msec_hkdf_expand(pk, parts, 3, okm_len, &ok, &err), 0);
        assert_int_equal(m2msec_secret_len(ok), okm_len);
        assert_memory_equal(m2msec_secret_bytes(ok), okm, okm_len);
        m2msec_secret_free(ok);
        ok = NULL;
        /* Neighbours: one byte less info changes the output; bad lengths are refused. */
        parts[2].n = info_len - h - (info_len > h ? 1 : 0);
        if (info_len > 0) {
            assert_int_equal(m2msec_hkdf_expand(pk, parts, 3, okm_len, &ok, &err), 0);
            assert_memory_not_equal(m2msec_secret_bytes(ok), okm, okm_len);
            m2msec_secret_free(ok);
            ok = NULL;
        }
        assert_int_equal(m2msec_hkdf_expand(pk, parts, 3, 0, &ok, &err), -1);
        assert_int_equal(m2msec_hkdf_expand(pk, parts, 3, 255 * 32 + 1, &ok, &err), -1);
        assert_null(ok);
        m2msec_secret_free(pk);
        m2msec_secret_free(ik);
        free(ikm);
        free(salt);
        free(info);
        free(prk);
        free(okm);
    }
    t_vec_free(f);
}

static void
test_ecdh(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_ecdh *a = m2msec_ecdh_new(&err);
    struct m2msec_ecdh *b = m2msec_ecdh_new(&err);
    struct m2msec_secret *za = NULL, *zb = NULL, *z = NULL;
    uint8_t pa[65], pb[65], bad[65];

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(m2msec_ecdh_public(a, pa, &err), 0);
    assert_int_equal(m2msec_ecdh_public(b, pb, &err), 0);
    assert_int_equal(pa[0], 0x04);
    assert_memory_not_equal(pa, pb, 65);
    assert_int_equal(m2msec_ecdh_derive(a, pb, &za, &err), 0);
    assert_int_equal(m2msec_ecdh_derive(b, pa, &zb, &err), 0);
    assert_int_equal(m2msec_secret_len(za), 32);
    assert_true(m2msec_secret_equal(za, zb));
    /* Off the curve, compressed prefix, the encoding of infinity: refused. */
    memcpy(bad, pb, 65);
    bad[64] ^= 0x01;
    assert_int_equal(m2msec_p256_point_check(bad, &err), -1);
    assert_int_equal(m2msec_ecdh_derive(a, bad, &z, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    memcpy(bad, pb, 65);
    bad[0] = 0x02;
    assert_int_equal(m2msec_ecdh_derive(a, bad, &z, &err), -1);
    memset(bad, 0, sizeof(bad));
    assert_int_equal(m2msec_ecdh_derive(a, bad, &z, &err), -1);
    assert_null(z);
    assert_int_equal(m2msec_p256_point_check(pa, &err), 0);
    m2msec_secret_free(za);
    m2msec_secret_free(zb);
    m2msec_ecdh_free(a);
    m2msec_ecdh_free(b);
}

/* ---- the world: two MEFs (KMSs), a rogue KMS, two enrolees ---- */

struct world {
    struct m2msec_eccsi_kms *kms_a, *kms_b, *rogue;
    struct m2msec_ibc_mpk mpk[2];
    struct m2msec_ibc_policy policy;
    struct m2msec_ibc_cred *cred_a, *cred_b;
    int64_t exp_a, exp_b;
};

/* Issue an ECCSI credential for (fqdn, expiry, id1) and wrap it (validated). */
static struct m2msec_ibc_cred *
make_cred(struct m2msec_eccsi_kms *kms, const char *fqdn, int64_t expiry, const char *id1)
{
    struct m2msec_error err = { 0 };
    uint8_t id2[M2MSEC_ID2_MAX], pvt[65];
    size_t id2_len = 0;
    struct m2msec_secret *ssk = NULL;
    struct m2msec_ibc_cred *c = NULL;

    assert_int_equal(m2msec_id2_encode(fqdn, expiry, id1, id2, sizeof(id2), &id2_len, &err), 0);
    assert_int_equal(m2msec_eccsi_issue(kms, id2, id2_len, &ssk, pvt, &err), 0);
    c = m2msec_ibc_cred_new(id2, id2_len, ssk, pvt, m2msec_eccsi_kms_kpak(kms), &err);
    if (c == NULL) {
        fail_msg("credential: %s", m2msec_error_msg(&err));
    }
    m2msec_secret_free(ssk);
    return c;
}

static void
set_mpk(struct m2msec_ibc_mpk *m, const char *fqdn, const struct m2msec_eccsi_kms *kms)
{
    memset(m, 0, sizeof(*m));
    memcpy(m->fqdn, fqdn, strlen(fqdn) + 1);
    memcpy(m->kpak, m2msec_eccsi_kms_kpak(kms), 65);
}

static int
world_setup(void **state)
{
    struct m2msec_error err = { 0 };
    struct world *w = calloc(1, sizeof(*w));

    assert_non_null(w);
    w->kms_a = m2msec_eccsi_kms_new(&err);
    w->kms_b = m2msec_eccsi_kms_new(&err);
    w->rogue = m2msec_eccsi_kms_new(&err);
    assert_non_null(w->kms_a);
    assert_non_null(w->kms_b);
    assert_non_null(w->rogue);
    set_mpk(&w->mpk[0], FQDN_A, w->kms_a);
    set_mpk(&w->mpk[1], FQDN_B, w->kms_b);
    w->policy = (struct m2msec_ibc_policy){
        .mpk = w->mpk, .nmpk = 2, .skew = 300, .max_lifetime = 90 * DAY, .replay = NULL
    };
    assert_int_equal(m2msec_id2_period_end(T0, PERIOD, 0, &w->exp_a, &err), 0);
    assert_int_equal(m2msec_id2_period_end(T0 + PERIOD, PERIOD, 0, &w->exp_b, &err), 0);
    w->cred_a = make_cred(w->kms_a, FQDN_A, w->exp_a, ID1_A);
    w->cred_b = make_cred(w->kms_b, FQDN_B, w->exp_b, ID1_B);
    *state = w;
    return 0;
}

static int
world_teardown(void **state)
{
    struct world *w = *state;

    m2msec_ibc_cred_free(w->cred_a);
    m2msec_ibc_cred_free(w->cred_b);
    m2msec_eccsi_kms_free(w->kms_a);
    m2msec_eccsi_kms_free(w->kms_b);
    m2msec_eccsi_kms_free(w->rogue);
    free(w);
    return 0;
}

/* ---- one handshake with knobs ---- */

typedef void (*tamper_fn)(int msg, uint8_t *buf, size_t *len, void *arg);

struct opts {
    const struct m2msec_ibc_cred *cred_a, *cred_b;
    const struct m2msec_ibc_policy *pol_a, *pol_b;
    const char *expect_a; /* what A expects of B */
    const char *expect_b; /* what B expects of A */
    int64_t now_a, now_b;
    tamper_fn tamper;
    void *arg;
};

struct run {
    struct m2msec_ibc_sigma *a, *b;
    uint8_t m1[M2MSEC_IBC_MSG_MAX], m2[M2MSEC_IBC_MSG_MAX], m3[M2MSEC_IBC_MSG_MAX];
    size_t m1_len, m2_len, m3_len;
    struct m2msec_error err;
    int failed_at; /* 0: completed; 1 start (A), 2 M1 (B), 3 M2 (A), 4 M3 (B) */
};

static void
opts_default(struct opts *o, const struct world *w)
{
    memset(o, 0, sizeof(*o));
    o->cred_a = w->cred_a;
    o->cred_b = w->cred_b;
    o->pol_a = &w->policy;
    o->pol_b = &w->policy;
    o->expect_a = ID1_B;
    o->expect_b = ID1_A;
    o->now_a = T0;
    o->now_b = T0 + 2; /* clocks a little apart */
}

static void
run_hs(const struct opts *o, struct run *r)
{
    memset(r, 0, sizeof(*r));
    r->a = m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, o->cred_a, o->pol_a, o->expect_a, &r->err);
    r->b = m2msec_ibc_sigma_new(M2MSEC_IBC_RESPONDER, o->cred_b, o->pol_b, o->expect_b, &r->err);
    assert_non_null(r->a);
    assert_non_null(r->b);
    if (m2msec_ibc_sigma_start(r->a, o->now_a, r->m1, sizeof(r->m1), &r->m1_len, &r->err) == -1) {
        r->failed_at = 1;
        return;
    }
    if (o->tamper != NULL) {
        o->tamper(1, r->m1, &r->m1_len, o->arg);
    }
    if (m2msec_ibc_sigma_handle_m1(r->b, o->now_b, r->m1, r->m1_len, r->m2, sizeof(r->m2),
                                   &r->m2_len, &r->err) == -1) {
        r->failed_at = 2;
        return;
    }
    if (o->tamper != NULL) {
        o->tamper(2, r->m2, &r->m2_len, o->arg);
    }
    if (m2msec_ibc_sigma_handle_m2(r->a, o->now_a + 1, r->m2, r->m2_len, r->m3, sizeof(r->m3),
                                   &r->m3_len, &r->err) == -1) {
        r->failed_at = 3;
        return;
    }
    if (o->tamper != NULL) {
        o->tamper(3, r->m3, &r->m3_len, o->arg);
    }
    if (m2msec_ibc_sigma_handle_m3(r->b, r->m3, r->m3_len, &r->err) == -1) {
        r->failed_at = 4;
        return;
    }
}

/* Neither side hands out a key. */
static void
assert_no_key(struct run *r)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = NULL;
    struct m2msec_ibc_session info;

    if (m2msec_ibc_sigma_result(r->b, &k, &info, &err) != -1 || k != NULL) {
        fail_msg("responder produced a key");
    }
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_STATE);
    /* An initiator that completed M2 before B refused M3 does hold a key; B does not. */
    if (r->failed_at != 4) {
        if (m2msec_ibc_sigma_result(r->a, &k, &info, &err) != -1 || k != NULL) {
            fail_msg("initiator produced a key");
        }
    }
}

static void
run_free(struct run *r)
{
    m2msec_ibc_sigma_free(r->a);
    m2msec_ibc_sigma_free(r->b);
    r->a = r->b = NULL;
}

/* Expect a refusal at step `at` with code and reason; then no key anywhere. */
static void
expect_refusal(const struct opts *o, int at, enum m2msec_err code, const char *needle)
{
    struct run r;

    run_hs(o, &r);
    if (r.failed_at != at || m2msec_error_code(&r.err) != code ||
        (needle != NULL && strstr(m2msec_error_msg(&r.err), needle) == NULL)) {
        fail_msg("want step %d code %d \"%s\"; got step %d code %d \"%s\"", at, (int)code,
                 needle != NULL ? needle : "", r.failed_at, (int)m2msec_error_code(&r.err),
                 m2msec_error_msg(&r.err));
    }
    assert_no_key(&r);
    run_free(&r);
}

/* ---- the good run ---- */

static void
check_completed(struct run *r, const struct world *w)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *ka = NULL, *kb = NULL;
    struct m2msec_ibc_session ia, ib;
    char want_suffix[] = "@" FQDN_B;

    if (r->failed_at != 0) {
        fail_msg("handshake failed at step %d: %s", r->failed_at, m2msec_error_msg(&r->err));
    }
    assert_true(m2msec_ibc_sigma_done(r->a));
    assert_true(m2msec_ibc_sigma_done(r->b));
    assert_int_equal(m2msec_ibc_sigma_result(r->a, &ka, &ia, &err), 0);
    assert_int_equal(m2msec_ibc_sigma_result(r->b, &kb, &ib, &err), 0);
    assert_int_equal(m2msec_secret_len(ka), M2MSEC_IBC_KPSA_LEN);
    assert_true(m2msec_secret_equal(ka, kb));
    assert_string_equal(ia.kpsa_id, ib.kpsa_id);
    assert_int_equal(strlen(ia.kpsa_id), 4 + 32 + strlen(want_suffix));
    assert_memory_equal(ia.kpsa_id, "ibc-", 4);
    assert_string_equal(ia.kpsa_id + 36, want_suffix);
    assert_int_equal(ia.expires, w->exp_a < w->exp_b ? w->exp_a : w->exp_b);
    assert_int_equal(ib.expires, ia.expires);
    assert_string_equal(ia.peer.id1, ID1_B);
    assert_string_equal(ia.peer.fqdn, FQDN_B);
    assert_string_equal(ib.peer.id1, ID1_A);
    assert_int_equal(ib.peer.expiry, w->exp_a);
    /* The key is handed out once. */
    m2msec_secret_free(ka);
    ka = NULL;
    assert_int_equal(m2msec_ibc_sigma_result(r->a, &ka, &ia, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_STATE);
    assert_null(ka);
    m2msec_secret_free(kb);
}

static void
test_full_run(void **state)
{
    struct world *w = *state;
    struct opts o;
    struct run r1, r2;
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k1 = NULL, *k2 = NULL;
    struct m2msec_ibc_session i1, i2;

    opts_default(&o, w);
    run_hs(&o, &r1);
    check_completed(&r1, w);
    assert_int_equal(m2msec_ibc_msg_type(r1.m1, r1.m1_len), 1);
    assert_int_equal(m2msec_ibc_msg_type(r1.m2, r1.m2_len), 2);
    assert_int_equal(m2msec_ibc_msg_type(r1.m3, r1.m3_len), 3);
    assert_int_equal(r1.m3_len, M2MSEC_IBC_M3_LEN);
    run_free(&r1);

    /* No expectations either way: still completes. Two runs: different keys and KpsaIDs. */
    o.expect_a = NULL;
    o.expect_b = NULL;
    run_hs(&o, &r1);
    run_hs(&o, &r2);
    assert_int_equal(r1.failed_at, 0);
    assert_int_equal(r2.failed_at, 0);
    assert_int_equal(m2msec_ibc_sigma_result(r1.a, &k1, &i1, &err), 0);
    assert_int_equal(m2msec_ibc_sigma_result(r2.a, &k2, &i2, &err), 0);
    assert_false(m2msec_secret_equal(k1, k2));
    assert_string_not_equal(i1.kpsa_id, i2.kpsa_id);
    m2msec_secret_free(k1);
    m2msec_secret_free(k2);
    run_free(&r1);
    run_free(&r2);
}

/* MPK rollover: two KPAKs for one FQDN, the valid one second; and a validity window. */
static void
test_mpk_rollover(void **state)
{
    struct world *w = *state;
    struct m2msec_ibc_mpk mpk[3];
    struct m2msec_ibc_policy pol = w->policy;
    struct opts o;
    struct run r;

    set_mpk(&mpk[0], FQDN_A, w->kms_a);
    set_mpk(&mpk[1], FQDN_B, w->rogue); /* old MPK of B's MEF */
    set_mpk(&mpk[2], FQDN_B, w->kms_b);
    mpk[1].not_after = T0 + 10 * DAY;
    mpk[2].not_before = T0 - DAY;
    pol.mpk = mpk;
    pol.nmpk = 3;
    opts_default(&o, w);
    o.pol_a = &pol;
    run_hs(&o, &r);
    check_completed(&r, w);
    run_free(&r);

    /* The right MPK not valid yet: only the old one is tried, which fails. */
    mpk[2].not_before = T0 + DAY;
    expect_refusal(&o, 3, M2MSEC_ERR_AUTH, "does not verify");
    /* Neither valid: no trusted MPK. */
    mpk[1].not_after = T0 - DAY;
    expect_refusal(&o, 3, M2MSEC_ERR_AUTH, "no trusted MPK");
}

/* ---- refusals of the acceptance list ---- */

static void
test_refuse_expired(void **state)
{
    struct world *w = *state;
    struct opts o;

    opts_default(&o, w);
    /* A's ID2 expired (B's view): after expiry + skew. B's own credential is still good. */
    o.now_a = w->exp_a + 301;
    o.now_b = w->exp_a + 301;
    /* A refuses first: its own credential expired. */
    expect_refusal(&o, 1, M2MSEC_ERR_EXPIRED, "own IBC credential expired");

    /* A with an old credential it still believes in (its clock is behind): B refuses M1. */
    o.now_a = w->exp_a - 10;
    o.now_b = w->exp_a + 301;
    o.expect_b = NULL;
    {
        struct run r;

        run_hs(&o, &r);
        assert_int_equal(r.failed_at, 2);
        assert_int_equal(m2msec_error_code(&r.err), M2MSEC_ERR_EXPIRED);
        assert_non_null(
                strstr(m2msec_error_msg(&r.err), "M1 refused: peer: ID2 of " ID1_A " expired at"));
        assert_no_key(&r);
        run_free(&r);
    }
    /* Within the skew it is still accepted. */
    o.now_a = w->exp_a - 5; /* A's M2 processing at exp_a - 4 is still inside its credential */
    o.now_b = w->exp_a + 100;
    {
        struct run r;

        run_hs(&o, &r);
        assert_int_equal(r.failed_at, 0);
        run_free(&r);
    }

    /* B's ID2 expired (A's view). With a 300 s skew on both sides an honest B whose
     * credential expired more than 300 s ago cannot pass A's clock check either, so A
     * runs with no skew: B (clock 150 s behind) still answers, A refuses on expiry,
     * which it checks before the peer's clock. */
    {
        struct m2msec_ibc_cred *old_b = make_cred(w->kms_b, FQDN_B, T0 - 100, ID1_B);
        struct m2msec_ibc_policy strict = w->policy;

        strict.skew = 0;
        opts_default(&o, w);
        o.cred_b = old_b;
        o.pol_a = &strict;
        o.now_b = T0 - 150;
        o.now_a = T0;
        expect_refusal(&o, 3, M2MSEC_ERR_EXPIRED, "M2 refused: peer: ID2 of " ID1_B " expired");
        m2msec_ibc_cred_free(old_b);
    }
}

static void
test_refuse_lifetime_and_clock(void **state)
{
    struct world *w = *state;
    struct opts o;
    struct m2msec_ibc_cred *long_a = NULL;

    /* Mis-issued: expiry 100 days ahead with a 90-day maximum. */
    long_a = make_cred(w->kms_a, FQDN_A, T0 + 100 * DAY, ID1_A);
    opts_default(&o, w);
    o.cred_a = long_a;
    expect_refusal(&o, 2, M2MSEC_ERR_AUTH, "mis-issued");
    m2msec_ibc_cred_free(long_a);

    /* Clock skew: A's clock 301 s ahead of B's (ID2 times are fine). */
    opts_default(&o, w);
    o.now_a = T0 + 301;
    o.now_b = T0;
    expect_refusal(&o, 2, M2MSEC_ERR_AUTH, "clock is 301 s off");
    o.now_a = T0 - 400;
    expect_refusal(&o, 2, M2MSEC_ERR_AUTH, "clock is -400 s off");
}

static void
test_refuse_untrusted(void **state)
{
    struct world *w = *state;
    struct opts o;
    struct m2msec_ibc_cred *rogue_a = NULL;
    struct m2msec_ibc_mpk only_b;
    struct m2msec_ibc_policy pol = w->policy;

    /* ID2 under an FQDN B does not trust at all. */
    rogue_a = make_cred(w->rogue, "rogue.example", w->exp_a, ID1_A);
    opts_default(&o, w);
    o.cred_a = rogue_a;
    expect_refusal(&o, 2, M2MSEC_ERR_AUTH, "FQDN rogue.example, which has no trusted MPK");
    m2msec_ibc_cred_free(rogue_a);

    /* ID2 under a trusted FQDN but issued by another KMS (untrusted MPK): SIG_A fails. */
    rogue_a = make_cred(w->rogue, FQDN_A, w->exp_a, ID1_A);
    o.cred_a = rogue_a;
    expect_refusal(&o, 4, M2MSEC_ERR_AUTH, "M3 refused: signature of " ID1_A);
    m2msec_ibc_cred_free(rogue_a);

    /* B trusts only its own MEF: A's FQDN is unknown to it. */
    set_mpk(&only_b, FQDN_B, w->kms_b);
    pol.mpk = &only_b;
    pol.nmpk = 1;
    opts_default(&o, w);
    o.pol_b = &pol;
    expect_refusal(&o, 2, M2MSEC_ERR_AUTH, "FQDN " FQDN_A);
}

static void
test_refuse_unexpected_peer(void **state)
{
    struct world *w = *state;
    struct opts o;

    /* A wants another responder: B sees the M1 field and refuses. */
    opts_default(&o, w);
    o.expect_a = "/other-cse";
    expect_refusal(&o, 2, M2MSEC_ERR_AUTH, "initiator expects another responder than " ID1_B);

    /* B only talks to another initiator. */
    opts_default(&o, w);
    o.expect_b = "/in-cse/Cother";
    expect_refusal(&o, 2, M2MSEC_ERR_AUTH,
                   "M1 refused: peer ID1 is " ID1_A ", expected /in-cse/Cother");
}

/* Drop M1's 8-byte "expected responder" field: as if B ignored it, so A's own check runs. */
static void
strip_expected_gw2(int msg, uint8_t *buf, size_t *len, void *arg)
{
    (void)arg;
    if (msg != 1) {
        return;
    }
    assert_int_equal(buf[*len - 8 - 2], 0);
    assert_int_equal(buf[*len - 8 - 1], 8);
    buf[*len - 8 - 1] = 0;
    *len -= 8;
}

static void
test_refuse_unexpected_peer_initiator_side(void **state)
{
    struct world *w = *state;
    struct opts o;

    opts_default(&o, w);
    o.expect_a = "/gw-cse2";
    o.tamper = strip_expected_gw2;
    expect_refusal(&o, 3, M2MSEC_ERR_AUTH, "M2 refused: peer ID1 is " ID1_B ", expected /gw-cse2");
}

/* ---- tampering ---- */

struct flip {
    int msg;
    size_t pos;
    uint8_t mask;
};

static void
flip_byte(int msg, uint8_t *buf, size_t *len, void *arg)
{
    const struct flip *f = arg;

    if (msg == f->msg && f->pos < *len) {
        buf[f->pos] ^= f->mask;
    }
}

/* Every byte of M1, M2 and M3 flipped: the handshake never completes and B never has a key. */
static void
test_tamper_every_byte(void **state)
{
    struct world *w = *state;
    struct opts o;
    struct run ref;
    size_t lens[4];

    opts_default(&o, w);
    run_hs(&o, &ref);
    assert_int_equal(ref.failed_at, 0);
    lens[1] = ref.m1_len;
    lens[2] = ref.m2_len;
    lens[3] = ref.m3_len;
    run_free(&ref);
    for (int msg = 1; msg <= 3; msg++) {
        for (size_t pos = 0; pos < lens[msg]; pos++) {
            struct flip f = { msg, pos, (uint8_t)(pos % 2 == 0 ? 0x01 : 0x80) };
            struct run r;

            o.tamper = flip_byte;
            o.arg = &f;
            run_hs(&o, &r);
            if (r.failed_at == 0) {
                fail_msg("M%d byte %zu flipped: handshake completed", msg, pos);
            }
            /* Tampering M1 is caught by B or, at the latest, by A at M2; M2 by A; M3 by B. */
            if (r.failed_at < msg + 1) {
                fail_msg("M%d byte %zu: refused at step %d", msg, pos, r.failed_at);
            }
            assert_true(m2msec_error_code(&r.err) == M2MSEC_ERR_AUTH ||
                        m2msec_error_code(&r.err) == M2MSEC_ERR_PROTOCOL ||
                        m2msec_error_code(&r.err) == M2MSEC_ERR_EXPIRED);
            assert_no_key(&r);
            run_free(&r);
        }
    }
}

/* One field of each message tampered, with the reason that must be given. */
struct field_case {
    const char *name;
    int msg;
    size_t pos; /* offset in the message; SIZE_MAX - k: k bytes from the end */
    uint8_t mask;
    int at;
    enum m2msec_err code;
    const char *needle;
};

#define FROM_END(k) ((size_t)-1 - (k))
#define OFF_T       (M2MSEC_IBC_HDR_LEN + M2MSEC_IBC_NONCE_LEN)
#define OFF_X       (OFF_T + M2MSEC_IBC_TIME_LEN)
#define OFF_ID2     (OFF_X + M2MSEC_IBC_POINT_LEN)

static const struct field_case field_cases[] = {
    { "M1 magic", 1, 0, 0x01, 2, M2MSEC_ERR_PROTOCOL, "not an IBC-SIGMA message" },
    { "M1 version", 1, 7, 0x02, 2, M2MSEC_ERR_PROTOCOL, "unknown version" },
    { "M1 type", 1, 8, 0x03, 2, M2MSEC_ERR_PROTOCOL, "message type 2" },
    { "M1 suite", 1, 10, 0x02, 2, M2MSEC_ERR_PROTOCOL, "unknown suite" },
    { "M1 N_A", 1, 12, 0x01, 3, M2MSEC_ERR_AUTH, "M2 refused: signature" },
    { "M1 T_A low byte", 1, OFF_T + 7, 0x01, 3, M2MSEC_ERR_AUTH, "M2 refused: signature" },
    { "M1 T_A byte 5", 1, OFF_T + 5, 0x01, 2, M2MSEC_ERR_AUTH, "clock" },
    { "M1 T_A high byte", 1, OFF_T, 0x80, 2, M2MSEC_ERR_AUTH, "time out of range" },
    { "M1 X_A", 1, OFF_X + 40, 0x01, 2, M2MSEC_ERR_AUTH, "X_A" },
    { "M1 X_A prefix", 1, OFF_X, 0x01, 2, M2MSEC_ERR_AUTH, "uncompressed" },
    { "M1 ID2_A length", 1, OFF_ID2 + 1, 0x01, 2, M2MSEC_ERR_PROTOCOL, "M1 refused" },
    { "M1 ID2_A FQDN", 1, OFF_ID2 + 2, 0x20, 2, M2MSEC_ERR_PROTOCOL, "lowercase" },
    { "M1 ID2_A expiry", 1, OFF_ID2 + 2 + sizeof(FQDN_A) + 3, 0x01, 2, M2MSEC_ERR_AUTH,
      "mis-issued" },
    { "M1 ID2_A FQDN letter", 1, OFF_ID2 + 2 + 4, 0x02, 2, M2MSEC_ERR_AUTH, "no trusted MPK" },
    { "M1 expected ID1 length", 1, FROM_END(sizeof(ID1_B) - 1 + 1), 0x01, 2, M2MSEC_ERR_PROTOCOL,
      "truncated" },
    { "M1 expected ID1", 1, FROM_END(0), 0x01, 2, M2MSEC_ERR_AUTH, "another responder" },
    { "M2 type", 2, 8, 0x01, 3, M2MSEC_ERR_PROTOCOL, "message type 3" },
    { "M2 N_B", 2, 20, 0x01, 3, M2MSEC_ERR_AUTH, "signature" },
    { "M2 T_B", 2, OFF_T + 7, 0x01, 3, M2MSEC_ERR_AUTH, "signature" },
    { "M2 X_B", 2, OFF_X + 10, 0x01, 3, M2MSEC_ERR_AUTH, "X_B" },
    { "M2 ID2_B ID1", 2, OFF_ID2 + 2 + sizeof(FQDN_B) + 21 + 1, 0x01, 3, M2MSEC_ERR_AUTH,
      "expected " ID1_B },
    { "M2 SIG_B r", 2, FROM_END(32 + 129 - 1), 0x01, 3, M2MSEC_ERR_AUTH, "does not verify" },
    { "M2 SIG_B s", 2, FROM_END(32 + 129 - 40), 0x01, 3, M2MSEC_ERR_AUTH, "does not verify" },
    { "M2 SIG_B PVT", 2, FROM_END(32 + 10), 0x01, 3, M2MSEC_ERR_AUTH, "PVT is not on the curve" },
    { "M2 MAC_B", 2, FROM_END(0), 0x01, 3, M2MSEC_ERR_AUTH, "MAC_B does not verify" },
    { "M3 magic", 3, 3, 0x01, 4, M2MSEC_ERR_PROTOCOL, "not an IBC-SIGMA message" },
    { "M3 type", 3, 8, 0x02, 4, M2MSEC_ERR_PROTOCOL, "message type 1" },
    { "M3 SIG_A r", 3, 11, 0x01, 4, M2MSEC_ERR_AUTH, "does not verify" },
    { "M3 SIG_A PVT", 3, 11 + 64 + 30, 0x01, 4, M2MSEC_ERR_AUTH, "PVT is not on the curve" },
    { "M3 MAC_A", 3, FROM_END(5), 0x01, 4, M2MSEC_ERR_AUTH, "MAC_A does not verify" },
};

struct field_arg {
    const struct field_case *c;
};

static void
flip_field(int msg, uint8_t *buf, size_t *len, void *arg)
{
    const struct field_case *c = ((struct field_arg *)arg)->c;
    size_t pos = c->pos;

    if (msg != c->msg) {
        return;
    }
    if (pos > *len) {
        pos = *len - 1 - ((size_t)-1 - pos);
    }
    buf[pos] ^= c->mask;
}

static void
test_tamper_fields(void **state)
{
    struct world *w = *state;

    for (size_t i = 0; i < sizeof(field_cases) / sizeof(field_cases[0]); i++) {
        const struct field_case *c = &field_cases[i];
        struct field_arg fa = { c };
        struct opts o;
        struct run r;

        opts_default(&o, w);
        o.tamper = flip_field;
        o.arg = &fa;
        run_hs(&o, &r);
        if (r.failed_at != c->at || m2msec_error_code(&r.err) != c->code ||
            strstr(m2msec_error_msg(&r.err), c->needle) == NULL) {
            fail_msg("%s: want step %d code %d \"%s\"; got step %d code %d \"%s\"", c->name, c->at,
                     (int)c->code, c->needle, r.failed_at, (int)m2msec_error_code(&r.err),
                     m2msec_error_msg(&r.err));
        }
        assert_no_key(&r);
        run_free(&r);
    }
}

struct cut {
    int msg;
    int delta; /* bytes removed (< 0) or appended (> 0) */
};

static void
cut_msg(int msg, uint8_t *buf, size_t *len, void *arg)
{
    const struct cut *c = arg;

    if (msg != c->msg) {
        return;
    }
    if (c->delta < 0) {
        *len -= (size_t)-c->delta;
    } else {
        memset(buf + *len, 0, (size_t)c->delta);
        *len += (size_t)c->delta;
    }
}

static void
test_truncated_and_trailing(void **state)
{
    struct world *w = *state;
    static const struct {
        struct cut c;
        int at;
        const char *needle;
    } cases[] = {
        { { 1, -1 }, 2, "truncated" },       { { 1, 1 }, 2, "trailing" },
        { { 1, -150 }, 2, "N_A truncated" }, { { 2, -1 }, 3, "truncated" },
        { { 2, 1 }, 3, "trailing" },         { { 3, -1 }, 4, "bytes, not" },
        { { 3, 1 }, 4, "bytes, not" },       { { 3, -170 }, 4, "truncated header" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct opts o;
        struct cut c = cases[i].c;

        opts_default(&o, w);
        o.tamper = cut_msg;
        o.arg = &c;
        expect_refusal(&o, cases[i].at, M2MSEC_ERR_PROTOCOL, cases[i].needle);
    }
}

/* ---- replays ---- */

static void
test_replays(void **state)
{
    struct world *w = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_ibc_replay_mem *cache = m2msec_ibc_replay_mem_new(16, &err);
    struct m2msec_ibc_replay iface;
    struct m2msec_ibc_policy pol = w->policy;
    struct opts o;
    struct run r1;
    struct m2msec_ibc_sigma *b2 = NULL, *a2 = NULL;
    uint8_t m2[M2MSEC_IBC_MSG_MAX], m1[M2MSEC_IBC_MSG_MAX], m3[M2MSEC_IBC_MSG_MAX];
    size_t m2_len = 0, m1_len = 0, m3_len = 0;

    assert_non_null(cache);
    iface = m2msec_ibc_replay_mem_iface(cache);
    pol.replay = &iface;
    opts_default(&o, w);
    o.pol_b = &pol;
    run_hs(&o, &r1);
    assert_int_equal(r1.failed_at, 0);

    /* Replayed M1 to a new responder with the cache: refused at once. */
    b2 = m2msec_ibc_sigma_new(M2MSEC_IBC_RESPONDER, w->cred_b, &pol, NULL, &err);
    assert_non_null(b2);
    assert_int_equal(m2msec_ibc_sigma_handle_m1(b2, T0 + 60, r1.m1, r1.m1_len, m2, sizeof(m2),
                                                &m2_len, &err),
                     -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    assert_non_null(strstr(m2msec_error_msg(&err), "replayed M1"));
    m2msec_ibc_sigma_free(b2);

    /* Without the cache B answers, but the recorded M3 does not complete it (replayed M3). */
    b2 = m2msec_ibc_sigma_new(M2MSEC_IBC_RESPONDER, w->cred_b, &w->policy, NULL, &err);
    assert_int_equal(m2msec_ibc_sigma_handle_m1(b2, T0 + 60, r1.m1, r1.m1_len, m2, sizeof(m2),
                                                &m2_len, &err),
                     0);
    assert_int_equal(m2msec_ibc_sigma_handle_m3(b2, r1.m3, r1.m3_len, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    assert_non_null(strstr(m2msec_error_msg(&err), "M3 refused: signature"));
    assert_false(m2msec_ibc_sigma_done(b2));
    m2msec_ibc_sigma_free(b2);

    /* Replayed M3 to the responder that already completed: not expected any more. */
    assert_int_equal(m2msec_ibc_sigma_handle_m3(r1.b, r1.m3, r1.m3_len, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_STATE);

    /* Replayed M2 to a new initiator (its own N_A differs): refused. */
    a2 = m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, w->cred_a, &w->policy, NULL, &err);
    assert_int_equal(m2msec_ibc_sigma_start(a2, T0 + 60, m1, sizeof(m1), &m1_len, &err), 0);
    assert_int_equal(m2msec_ibc_sigma_handle_m2(a2, T0 + 60, r1.m2, r1.m2_len, m3, sizeof(m3),
                                                &m3_len, &err),
                     -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    assert_non_null(strstr(m2msec_error_msg(&err), "M2 refused: signature"));
    m2msec_ibc_sigma_free(a2);

    /* After the skew window the cache forgets, and T_A is then out of the window anyway. */
    b2 = m2msec_ibc_sigma_new(M2MSEC_IBC_RESPONDER, w->cred_b, &pol, NULL, &err);
    assert_int_equal(m2msec_ibc_sigma_handle_m1(b2, T0 + 400, r1.m1, r1.m1_len, m2, sizeof(m2),
                                                &m2_len, &err),
                     -1);
    assert_non_null(strstr(m2msec_error_msg(&err), "clock"));
    m2msec_ibc_sigma_free(b2);

    run_free(&r1);
    m2msec_ibc_replay_mem_free(cache);
}

static void
test_replay_cache_bounds(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_ibc_replay_mem *c = m2msec_ibc_replay_mem_new(2, &err);
    struct m2msec_ibc_replay i;
    uint8_t d1[32] = { 1 }, d2[32] = { 2 }, d3[32] = { 3 };

    (void)state;
    assert_non_null(c);
    i = m2msec_ibc_replay_mem_iface(c);
    assert_int_equal(i.check_and_add(i.arg, d1, 100, 200, &err), 0);
    assert_int_equal(i.check_and_add(i.arg, d1, 101, 200, &err), 1);
    assert_int_equal(i.check_and_add(i.arg, d2, 102, 150, &err), 0);
    /* Full with live entries: refuses rather than forgetting. */
    assert_int_equal(i.check_and_add(i.arg, d3, 103, 200, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    /* d2 expires at 150: room again; d1 still remembered. */
    assert_int_equal(i.check_and_add(i.arg, d3, 151, 200, &err), 0);
    assert_int_equal(i.check_and_add(i.arg, d1, 152, 200, &err), 1);
    assert_int_equal(i.check_and_add(i.arg, d2, 152, 200, &err), -1);
    m2msec_ibc_replay_mem_free(c);
    assert_null(m2msec_ibc_replay_mem_new(0, &err));
}

/* ---- bad credentials ---- */

static void
test_wrong_ssk_and_pvt(void **state)
{
    struct world *w = *state;
    struct m2msec_error err = { 0 };
    uint8_t id2[M2MSEC_ID2_MAX], pvt[65], other_pvt[65];
    size_t id2_len = 0;
    struct m2msec_secret *ssk = NULL, *other = NULL;
    struct m2msec_ibc_cred *bad = NULL;
    struct opts o;

    assert_int_equal(m2msec_id2_encode(FQDN_A, w->exp_a, ID1_A, id2, sizeof(id2), &id2_len, &err),
                     0);
    assert_int_equal(m2msec_eccsi_issue(w->kms_a, id2, id2_len, &ssk, pvt, &err), 0);
    /* Another identity's SSK (same KMS): refused when the credential is loaded. */
    assert_int_equal(m2msec_eccsi_issue(w->kms_a, (const uint8_t *)"x", 1, &other, other_pvt, &err),
                     0);
    assert_null(
            m2msec_ibc_cred_new(id2, id2_len, other, pvt, m2msec_eccsi_kms_kpak(w->kms_a), &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    assert_non_null(strstr(m2msec_error_msg(&err), "SSK does not match"));
    /* PVT off the curve: refused when loaded. */
    pvt[64] ^= 0x01;
    assert_null(m2msec_ibc_cred_new(id2, id2_len, ssk, pvt, m2msec_eccsi_kms_kpak(w->kms_a), &err));
    assert_non_null(strstr(m2msec_error_msg(&err), "PVT is not on the curve"));
    pvt[64] ^= 0x01;
    /* A bad ID2 is refused when loaded. */
    assert_null(
            m2msec_ibc_cred_new(id2, id2_len - 1, ssk, pvt, m2msec_eccsi_kms_kpak(w->kms_a), &err));
    /* The good one loads. */
    bad = m2msec_ibc_cred_new(id2, id2_len, ssk, pvt, m2msec_eccsi_kms_kpak(w->kms_a), &err);
    assert_non_null(bad);
    m2msec_ibc_cred_free(bad);

    /* An initiator holding a wrong SSK anyway (unchecked): B refuses its signature in M3. */
    bad = m2msec_ibc_cred_new_unchecked(id2, id2_len, other, pvt, m2msec_eccsi_kms_kpak(w->kms_a),
                                        &err);
    assert_non_null(bad);
    opts_default(&o, w);
    o.cred_a = bad;
    expect_refusal(&o, 4, M2MSEC_ERR_AUTH, "M3 refused: signature of " ID1_A);
    m2msec_ibc_cred_free(bad);
    /* A responder holding a wrong SSK: A refuses M2. */
    bad = m2msec_ibc_cred_new_unchecked(id2, id2_len, other, pvt, m2msec_eccsi_kms_kpak(w->kms_a),
                                        &err);
    opts_default(&o, w);
    o.cred_b = bad;
    o.expect_a = ID1_A;
    o.expect_b = NULL;
    expect_refusal(&o, 3, M2MSEC_ERR_AUTH, "M2 refused: signature of " ID1_A);
    m2msec_ibc_cred_free(bad);

    m2msec_secret_free(other);
    m2msec_secret_free(ssk);
}

/* ---- API misuse ---- */

static void
test_states_and_policy(void **state)
{
    struct world *w = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_ibc_policy pol = w->policy;
    struct m2msec_ibc_mpk badmpk = w->mpk[0];
    struct m2msec_ibc_sigma *a = NULL, *b = NULL;
    uint8_t buf[M2MSEC_IBC_MSG_MAX], out[M2MSEC_IBC_MSG_MAX];
    size_t len = 0, olen = 0;

    (void)state;
    pol.skew = 301;
    assert_null(m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, w->cred_a, &pol, NULL, &err));
    pol.skew = 300;
    pol.max_lifetime = 0;
    assert_null(m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, w->cred_a, &pol, NULL, &err));
    pol = w->policy;
    pol.nmpk = 0;
    assert_null(m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, w->cred_a, &pol, NULL, &err));
    badmpk.fqdn[0] = 'M';
    pol = w->policy;
    pol.mpk = &badmpk;
    pol.nmpk = 1;
    assert_null(m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, w->cred_a, &pol, NULL, &err));
    assert_null(
            m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, w->cred_a, &w->policy, "not an id", &err));
    assert_null(m2msec_ibc_sigma_new((enum m2msec_ibc_role)3, w->cred_a, &w->policy, NULL, &err));

    a = m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, w->cred_a, &w->policy, NULL, &err);
    b = m2msec_ibc_sigma_new(M2MSEC_IBC_RESPONDER, w->cred_b, &w->policy, NULL, &err);
    assert_non_null(a);
    assert_non_null(b);
    /* Wrong role / order. */
    assert_int_equal(m2msec_ibc_sigma_start(b, T0, buf, sizeof(buf), &len, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_STATE);
    assert_int_equal(m2msec_ibc_sigma_handle_m2(a, T0, buf, 20, out, sizeof(out), &olen, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_STATE);
    /* M1 output buffer one byte short: refused, and the session is dead. */
    assert_int_equal(m2msec_ibc_sigma_start(a, T0, buf, 100, &len, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(m2msec_ibc_sigma_start(a, T0, buf, sizeof(buf), &len, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_STATE);
    assert_non_null(strstr(m2msec_error_msg(&err), "has failed"));
    /* An M1 fed to a responder twice: the second is out of order. */
    m2msec_ibc_sigma_free(a);
    a = m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, w->cred_a, &w->policy, NULL, &err);
    assert_int_equal(m2msec_ibc_sigma_start(a, T0, buf, sizeof(buf), &len, &err), 0);
    assert_int_equal(m2msec_ibc_msg_type(buf, len), 1);
    assert_int_equal(m2msec_ibc_msg_type(buf, 10), -1);
    assert_int_equal(m2msec_ibc_sigma_handle_m1(b, T0, buf, len, out, sizeof(out), &olen, &err), 0);
    assert_int_equal(m2msec_ibc_sigma_handle_m1(b, T0, buf, len, out, sizeof(out), &olen, &err),
                     -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_STATE);
    /* M2 fed back to the initiator as if it were M3's predecessor is fine; M1 as M2 is not. */
    assert_int_equal(m2msec_ibc_sigma_handle_m2(a, T0, buf, len, out, sizeof(out), &olen, &err),
                     -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_PROTOCOL);
    m2msec_ibc_sigma_free(a);
    m2msec_ibc_sigma_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hkdf_rfc5869),
        cmocka_unit_test(test_ecdh),
        cmocka_unit_test(test_replay_cache_bounds),
        cmocka_unit_test(test_full_run),
        cmocka_unit_test(test_mpk_rollover),
        cmocka_unit_test(test_refuse_expired),
        cmocka_unit_test(test_refuse_lifetime_and_clock),
        cmocka_unit_test(test_refuse_untrusted),
        cmocka_unit_test(test_refuse_unexpected_peer),
        cmocka_unit_test(test_refuse_unexpected_peer_initiator_side),
        cmocka_unit_test(test_tamper_fields),
        cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_tamper_every_byte),
        cmocka_unit_test(test_replays),
        cmocka_unit_test(test_wrong_ssk_and_pvt),
        cmocka_unit_test(test_states_and_policy),
    };

    return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
