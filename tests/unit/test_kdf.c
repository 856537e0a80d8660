/*
 * tests/unit/test_kdf.c - TS-0003 10.3 derivations, exporter split, SUID encoding, KCV.
 *
 * The expected values come from tests/vectors/ts0003-kdf.txt, produced by
 * gen_ts0003_kdf.py with Python's own hmac/hashlib/unicodedata, and include
 * the SPEC-DIGEST 2.3 illustration vectors.
 *
 * @spec TS-0003 10.3.1 10.3.2 10.3.3 10.3.7
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/kdf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/unicode.h"
#include "vectors.h"

static struct m2msec_secret *
field_secret(const struct t_vec_case *c, const char *name)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *s = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;

    assert_int_equal(t_vec_hex(c, name, &buf, &len), 0);
    s = m2msec_secret_from(buf, len, &err);
    assert_non_null(s);
    free(buf);
    return s;
}

static unsigned
field_uint(const struct t_vec_case *c, const char *name)
{
    const char *v = t_vec_get(c, name);
    char *end = NULL;
    unsigned long n = 0;

    assert_non_null(v);
    n = strtoul(v, &end, 10);
    assert_true(end != v && *end == '\0' && n <= UINT_MAX);
    return (unsigned)n;
}

static void
assert_secret_is(const struct m2msec_secret *s, const uint8_t *want, size_t wantlen)
{
    assert_non_null(s);
    assert_int_equal(m2msec_secret_len(s), wantlen);
    assert_memory_equal(m2msec_secret_bytes(s), want, wantlen);
}

/* One km / kpsa / uc / uc_suid_byte case. */
static void
check_derivation(const struct t_vec_case *c, const char *kind)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *ke = field_secret(c, "ke");
    struct m2msec_secret *got = NULL;
    struct m2msec_secret *other = NULL;
    uint8_t *id = NULL, *id_nfkc = NULL, *want = NULL;
    size_t idlen = 0, nfkclen = 0, wantlen = 0, normlen = 0;
    char *norm = NULL;

    assert_int_equal(t_vec_hex(c, "id", &id, &idlen), 0);
    assert_int_equal(t_vec_hex(c, "id_nfkc", &id_nfkc, &nfkclen), 0);
    assert_int_equal(t_vec_hex(c, "out", &want, &wantlen), 0);
    assert_int_equal(wantlen, M2MSEC_KEY_LEN);

    /* Cross-check: our NFKC gives the bytes Python's unicodedata gave. */
    assert_int_equal(m2msec_nfkc((const char *)id, &norm, &normlen, &err), 0);
    assert_int_equal(normlen, nfkclen);
    assert_memory_equal(norm, id_nfkc, nfkclen);
    m2msec_free(norm);

    if (strcmp(kind, "km") == 0) {
        assert_int_equal(m2msec_derive_km_legacy(ke, (const char *)id, &got, &err), 0);
        assert_secret_is(got, want, wantlen);
        /* Neighbour: the Kpsa label over the same identity gives another key. */
        assert_int_equal(m2msec_derive_kpsa_legacy(ke, (const char *)id, &other, &err), 0);
        assert_int_equal(m2msec_secret_equal(got, other), 0);
    } else if (strcmp(kind, "kpsa") == 0) {
        assert_int_equal(m2msec_derive_kpsa_legacy(ke, (const char *)id, &got, &err), 0);
        assert_secret_is(got, want, wantlen);
        assert_int_equal(m2msec_derive_km_legacy(ke, (const char *)id, &other, &err), 0);
        assert_int_equal(m2msec_secret_equal(got, other), 0);
    } else if (strcmp(kind, "uc") == 0) {
        unsigned suid = field_uint(c, "suid");

        assert_int_equal(m2msec_derive_usage_constrained(ke, suid, (const char *)id, &got, &err),
                         0);
        assert_secret_is(got, want, wantlen);
        /* Neighbour: another SUID gives another key. */
        assert_int_equal(m2msec_derive_usage_constrained(ke, suid == 21 ? 22 : 21, (const char *)id,
                                                         &other, &err),
                         0);
        assert_int_equal(m2msec_secret_equal(got, other), 0);
    } else {
        /* DEFECT-5: the one-byte SUID reading is NOT what we compute. */
        unsigned suid = field_uint(c, "suid");

        assert_string_equal(kind, "uc_suid_byte");
        assert_int_equal(m2msec_derive_usage_constrained(ke, suid, (const char *)id, &got, &err),
                         0);
        assert_non_null(got);
        assert_memory_not_equal(m2msec_secret_bytes(got), want, wantlen);
    }
    m2msec_secret_free(got);
    m2msec_secret_free(other);
    m2msec_secret_free(ke);
    free(id);
    free(id_nfkc);
    free(want);
}

static void
check_split(const struct t_vec_case *c)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *key = NULL;
    uint8_t *in = NULL, *rel = NULL, *want = NULL;
    size_t inlen = 0, rellen = 0, wantlen = 0;
    uint8_t got_rel[M2MSEC_REL_ID_LEN];

    assert_int_equal(t_vec_hex(c, "in", &in, &inlen), 0);
    assert_int_equal(t_vec_hex(c, "rel", &rel, &rellen), 0);
    assert_int_equal(t_vec_hex(c, "key", &want, &wantlen), 0);
    assert_int_equal(inlen, M2MSEC_EXPORT_LEN);
    assert_int_equal(rellen, M2MSEC_REL_ID_LEN);
    assert_int_equal(m2msec_export_split(in, got_rel, &key, &err), 0);
    assert_memory_equal(got_rel, rel, rellen);
    assert_secret_is(key, want, wantlen);
    m2msec_secret_free(key);
    free(in);
    free(rel);
    free(want);
}

static void
check_kcv(const struct t_vec_case *c)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *key = field_secret(c, "key");
    const char *want = t_vec_get(c, "kcv");
    char kcv[M2MSEC_KCV_HEX_LEN];

    assert_non_null(want);
    memset(kcv, 'X', sizeof(kcv));
    assert_int_equal(m2msec_key_check_value(key, kcv, &err), 0);
    assert_string_equal(kcv, want);
    /* Neighbour: one flipped key bit changes the KCV. */
    m2msec_secret_bytes_mut(key)[0] ^= 0x01;
    assert_int_equal(m2msec_key_check_value(key, kcv, &err), 0);
    assert_string_not_equal(kcv, want);
    m2msec_secret_free(key);
}

static void
test_vectors(void **state)
{
    struct t_vec_file *f = t_vec_load("ts0003-kdf.txt");
    size_t n_km = 0, n_kpsa = 0, n_uc = 0, n_byte = 0, n_split = 0, n_kcv = 0;

    (void)state;
    assert_non_null(f);
    for (size_t i = 0; i < f->ncases; i++) {
        const struct t_vec_case *c = &f->cases[i];
        const char *kind = t_vec_get(c, "kind");

        assert_non_null(kind);
        if (strcmp(kind, "split") == 0) {
            check_split(c);
            n_split++;
        } else if (strcmp(kind, "kcv") == 0) {
            check_kcv(c);
            n_kcv++;
        } else {
            check_derivation(c, kind);
            n_km += strcmp(kind, "km") == 0;
            n_kpsa += strcmp(kind, "kpsa") == 0;
            n_uc += strcmp(kind, "uc") == 0;
            n_byte += strcmp(kind, "uc_suid_byte") == 0;
        }
    }
    /* Every case was recognised, and none of the kinds is missing. */
    assert_int_equal(n_km + n_kpsa + n_uc + n_byte + n_split + n_kcv, f->ncases);
    assert_true(n_km >= 10 && n_kpsa >= 10 && n_uc >= 10);
    assert_int_equal(n_byte, 1);
    assert_true(n_split >= 3 && n_kcv >= 3);
    t_vec_free(f);
}

/* SPEC-DIGEST 2.3 and 10.3.1: pinned here as literals too, independent of the file. */
static void
test_digest_examples(void **state)
{
    static const char km_hex[] = "3055bf32dd9c95586aaffa2ae2e165dfeffd0803566e16bdd343171457da8a5e";
    static const char uc_hex[] = "f8610e4d1a428f72308e2941f53a1a0fdc1afa7b1dde3ec59fc52381dcbeb66a";
    static const char kpsa_hex[] =
            "7a8938f07bc9661b1577ebe36dcabbc0994260cea9f60ece3abc86f96effc695";
    struct m2msec_error err = { 0 };
    struct m2msec_secret *ke = NULL, *k = NULL;
    uint8_t ke_bytes[32], exp[48], rel[16];
    uint8_t *want = NULL;
    size_t wantlen = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(ke_bytes); i++) {
        ke_bytes[i] = (uint8_t)i;
    }
    ke = m2msec_secret_from(ke_bytes, sizeof(ke_bytes), &err);
    assert_non_null(ke);

    assert_int_equal(t_vec_unhex(km_hex, &want, &wantlen), 0);
    assert_int_equal(m2msec_derive_km_legacy(ke, "maf.example.com", &k, &err), 0);
    assert_secret_is(k, want, wantlen);
    m2msec_secret_free(k);
    free(want);

    assert_int_equal(t_vec_unhex(uc_hex, &want, &wantlen), 0);
    assert_int_equal(m2msec_derive_usage_constrained(ke, 21, "maf.example.com", &k, &err), 0);
    assert_secret_is(k, want, wantlen);
    m2msec_secret_free(k);
    /* NFKC: the fullwidth spelling derives the same key. */
    assert_int_equal(m2msec_derive_usage_constrained(
                             ke, 21, "\xef\xbd\x8d\xef\xbd\x81\xef\xbd\x86.example.com", &k, &err),
                     0);
    assert_secret_is(k, want, wantlen);
    m2msec_secret_free(k);
    free(want);

    assert_int_equal(t_vec_unhex(kpsa_hex, &want, &wantlen), 0);
    assert_int_equal(m2msec_derive_kpsa_legacy(ke, "/CSE1234", &k, &err), 0);
    assert_secret_is(k, want, wantlen);
    m2msec_secret_free(k);
    free(want);

    /* DEFECT-15: exporter 40..6f -> RelativeKeID 40..4f, Ke 50..6f. */
    for (size_t i = 0; i < sizeof(exp); i++) {
        exp[i] = (uint8_t)(0x40 + i);
    }
    assert_int_equal(m2msec_export_split(exp, rel, &k, &err), 0);
    assert_memory_equal(rel, exp, 16);
    assert_secret_is(k, exp + 16, 32);
    /* Not the little-endian reading (key first). */
    assert_memory_not_equal(m2msec_secret_bytes(k), exp, 32);
    m2msec_secret_free(k);
    m2msec_secret_free(ke);
}

static void
test_suid_encode(void **state)
{
    static const unsigned bad[] = { 100, 101, 255, 256, 999, 1000, UINT_MAX };
    char out[4];
    char want[8];

    (void)state;
    for (unsigned s = 0; s <= 99; s++) {
        int n = snprintf(want, sizeof(want), "%u", s);

        memset(out, 'X', sizeof(out));
        assert_int_equal(m2msec_suid_encode(s, out), n);
        assert_string_equal(out, want);
    }
    memset(out, 'X', sizeof(out));
    assert_int_equal(m2msec_suid_encode(21, out), 2);
    assert_string_equal(out, "21");
    /* Above 99 is not a two-digit SUID: refused. */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(m2msec_suid_encode(bad[i], out), -1);
    }
}

static void
test_bad_inputs(void **state)
{
    static const char *bad_ids[] = {
        "",             /* empty identity */
        "\xff",         /* not UTF-8 */
        "maf\xc3",      /* truncated sequence */
        "\xc0\xaf",     /* overlong '/' */
        "\xed\xa0\x80", /* UTF-16 surrogate */
        "maf.\x80.com", /* stray continuation byte */
    };
    struct m2msec_error err = { 0 };
    struct m2msec_secret *ke = m2msec_secret_random(M2MSEC_KEY_LEN, &err);
    struct m2msec_secret *k = NULL;
    struct m2msec_secret *short_ke = m2msec_secret_random(16, &err);
    struct m2msec_secret *long_ke = m2msec_secret_random(33, &err);

    (void)state;
    assert_non_null(ke);
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        m2msec_error_clear(&err);
        assert_int_equal(m2msec_derive_km_legacy(ke, bad_ids[i], &k, &err), -1);
        assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
        assert_int_equal(m2msec_derive_kpsa_legacy(ke, bad_ids[i], &k, &err), -1);
        assert_int_equal(m2msec_derive_usage_constrained(ke, 21, bad_ids[i], &k, &err), -1);
        assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
        assert_null(k);
    }
    /* Accepted neighbour with a valid two-byte sequence. */
    assert_int_equal(m2msec_derive_km_legacy(ke, "maf\xc3\xa9", &k, &err), 0);
    m2msec_secret_free(k);
    k = NULL;
    /* SUID out of range. */
    assert_int_equal(m2msec_derive_usage_constrained(ke, 100, "maf.example.com", &k, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_derive_usage_constrained(ke, 99, "maf.example.com", &k, &err), 0);
    m2msec_secret_free(k);
    k = NULL;
    /* Ke of the wrong size, or missing. */
    assert_int_equal(m2msec_derive_km_legacy(short_ke, "maf.example.com", &k, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_derive_kpsa_legacy(long_ke, "/CSE1", &k, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_derive_usage_constrained(NULL, 21, "maf.example.com", &k, &err), -1);
    assert_int_equal(m2msec_derive_km_legacy(ke, NULL, &k, &err), -1);
    assert_null(k);
    /* KCV of a missing key. */
    {
        char kcv[M2MSEC_KCV_HEX_LEN];

        assert_int_equal(m2msec_key_check_value(NULL, kcv, &err), -1);
        /* Any secret length works for a KCV. */
        assert_int_equal(m2msec_key_check_value(short_ke, kcv, &err), 0);
        assert_int_equal(strlen(kcv), 16);
    }
    m2msec_secret_free(ke);
    m2msec_secret_free(short_ke);
    m2msec_secret_free(long_ke);
}

/* Every allocation failing in turn: a clean NOMEM, no leak, no partial output. */
static void
test_alloc_failures(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *ke = m2msec_secret_random(M2MSEC_KEY_LEN, &err);
    struct m2msec_secret *want = NULL;
    int done = 0;
    int nomem = 0;

    (void)state;
    assert_non_null(ke);
    assert_int_equal(m2msec_derive_usage_constrained(ke, 21,
                                                     "\xef\xbd\x8d"
                                                     "af.example.com",
                                                     &want, &err),
                     0);
    for (unsigned long n = 1; n < 50 && !done; n++) {
        struct m2msec_secret *k = NULL;
        int rc = 0;

        m2msec_error_clear(&err);
        m2msec_test_fail_alloc_at(n);
        rc = m2msec_derive_usage_constrained(ke, 21,
                                             "\xef\xbd\x8d"
                                             "af.example.com",
                                             &k, &err);
        m2msec_test_fail_alloc_at(0);
        if (rc == 0) {
            assert_int_equal(m2msec_secret_equal(k, want), 1);
            m2msec_secret_free(k);
            done = 1;
        } else {
            assert_null(k);
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOMEM);
            nomem++;
        }
    }
    assert_true(done);
    /* The identity copy and the output secret are both allocations. */
    assert_true(nomem >= 2);
    m2msec_secret_free(want);
    m2msec_secret_free(ke);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),        cmocka_unit_test(test_digest_examples),
        cmocka_unit_test(test_suid_encode),    cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_alloc_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
