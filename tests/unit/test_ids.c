/*
 * tests/unit/test_ids.c - TS-0003 identifiers: parse, format, validate, compare.
 *
 * Table-driven: every accepted identifier has rejected neighbours (wrong
 * character, missing part, one too long, wrong case where it matters).
 *
 * @spec TS-0003 10.3.4 10.3.5 10.4 10.5 10.6
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto/ids.h"
#include "util/error.h"

/* A string of n copies of c (static buffer per slot so tables can hold several). */
static char longbuf[8][1100];

static const char *
rep(int slot, char c, size_t n, const char *prefix, const char *suffix)
{
    char *b = longbuf[slot];
    size_t p = strlen(prefix);

    assert_true(p + n + strlen(suffix) < sizeof(longbuf[slot]));
    memcpy(b, prefix, p);
    memset(b + p, c, n);
    memcpy(b + p + n, suffix, strlen(suffix) + 1);
    return b;
}

/* "a.a.a..." with total length n (n odd), every label 1 char. */
static const char *
dotted(int slot, size_t n)
{
    char *b = longbuf[slot];

    assert_true(n < sizeof(longbuf[slot]));
    for (size_t i = 0; i < n; i++) {
        b[i] = i % 2 == 0 ? 'a' : '.';
    }
    b[n] = '\0';
    return b;
}

/* ---- FQDN ---- */

static void
test_fqdn(void **state)
{
    const struct {
        const char *s;
        int ok;
    } cases[] = {
        { "a", 1 },
        { "mef.example.com", 1 },
        { "MEF.Example.COM", 1 },
        { "xn--bcher-kva.example", 1 },
        { "a-b.c-d.e", 1 },
        { "1.2.3.4", 1 },
        { rep(0, 'a', 63, "", ".example.com"), 1 },
        { rep(1, 'a', 64, "", ".example.com"), 0 },
        { dotted(2, 253), 1 },
        { dotted(3, 255), 0 },
        { "", 0 },
        { ".", 0 },
        { "mef.example.com.", 0 },
        { ".mef.example.com", 0 },
        { "mef..example.com", 0 },
        { "mef_x.example.com", 0 },
        { "-mef.example.com", 0 },
        { "mef-.example.com", 0 },
        { "mef.example.com-", 0 },
        { "mef example.com", 0 },
        { "mef.example.com\n", 0 },
        { "m\xc3\xa9"
          "f.example.com",
          0 },
        { "mef@example.com", 0 },
        { "mef.example.com:443", 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (m2msec_fqdn_valid(cases[i].s) != cases[i].ok) {
            fail_msg("fqdn_valid(\"%s\") != %d", cases[i].s, cases[i].ok);
        }
    }
    assert_int_equal(m2msec_fqdn_valid(NULL), 0);
    /* The accepted dotted name is 253 characters exactly. */
    assert_int_equal(strlen(dotted(2, 253)), 253);

    assert_int_equal(m2msec_fqdn_equal("MEF.Example.com", "mef.example.COM"), 1);
    assert_int_equal(m2msec_fqdn_equal("mef.example.com", "mef.example.com"), 1);
    assert_int_equal(m2msec_fqdn_equal("mef.example.com", "mef.example.co"), 0);
    assert_int_equal(m2msec_fqdn_equal("mef.example.com", "maf.example.com"), 0);
    assert_int_equal(m2msec_fqdn_equal(NULL, "a"), 0);
}

/* ---- KeID ---- */

#define HEX32 "404142434445464748494a4b4c4d4e4f"

static void
test_keid_parse(void **state)
{
    static const uint8_t rel40[16] = { 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
                                       0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f };
    const struct {
        const char *s;
        int ok;
        const char *fqdn;
    } cases[] = {
        { HEX32 "@mef.example.com", 1, "mef.example.com" },
        { "404142434445464748494A4B4C4D4E4F@MEF.example.com", 1, "MEF.example.com" },
        { "404142434445464748494a4B4c4D4e4F@m", 1, "m" },
        { "404142434445464748494a4b4c4d4e4@mef.example.com", 0, NULL },   /* 31 digits */
        { "404142434445464748494a4b4c4d4e4f0@mef.example.com", 0, NULL }, /* 33 digits */
        { "404142434445464748494a4b4c4d4e4g@mef.example.com", 0, NULL },  /* 'g' */
        { "404142434445464748494a4b4c4d4e 4@mef.example.com", 0, NULL },  /* space */
        { "0x4142434445464748494a4b4c4d4e4f@mef.example.com", 0, NULL },
        { HEX32 "mef.example.com", 0, NULL }, /* no '@' */
        { HEX32 "@", 0, NULL },               /* empty FQDN */
        { "@mef.example.com", 0, NULL },      /* empty relative part */
        { HEX32 "@mef_1.example.com", 0, NULL },
        { HEX32 "@mef.example.com.", 0, NULL },
        { rep(0, 'a', 64, HEX32 "@", ".example.com"), 0, NULL },
        { rep(1, 'a', 63, HEX32 "@", ".example.com"), 1, NULL },
        { "a@b@mef.example.com", 0, NULL }, /* last '@': "a@b" is not hex */
        { HEX32 "@mef.example.com@x", 0, NULL },
        { HEX32 "@" HEX32 "@mef.example.com", 0, NULL },
        { "", 0, NULL },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct m2msec_error err = { 0 };
        struct m2msec_keid k;
        int rc = 0;

        memset(&k, 0x5a, sizeof(k));
        rc = m2msec_keid_parse(cases[i].s, &k, &err);
        if (rc != (cases[i].ok ? 0 : -1)) {
            fail_msg("keid_parse(\"%s\") = %d (%s)", cases[i].s, rc, m2msec_error_msg(&err));
        }
        if (cases[i].ok) {
            assert_memory_equal(k.rel, rel40, 16);
            if (cases[i].fqdn != NULL) {
                assert_string_equal(k.fqdn, cases[i].fqdn);
            }
        } else {
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
            assert_int_equal(k.rel[0], 0x5a); /* output untouched on failure */
        }
    }
    {
        struct m2msec_error err = { 0 };
        struct m2msec_keid k;

        assert_int_equal(m2msec_keid_parse(NULL, &k, &err), -1);
    }
}

static void
test_keid_equal_format(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keid a, b, c, d, r;
    char out[M2MSEC_KEID_MAX];

    (void)state;
    assert_int_equal(m2msec_keid_parse(HEX32 "@mef.example.com", &a, &err), 0);
    assert_int_equal(
            m2msec_keid_parse("404142434445464748494A4B4C4D4E4F@MEF.EXAMPLE.COM", &b, &err), 0);
    assert_int_equal(
            m2msec_keid_parse("404142434445464748494a4b4c4d4e40@mef.example.com", &c, &err), 0);
    assert_int_equal(m2msec_keid_parse(HEX32 "@mef2.example.com", &d, &err), 0);
    assert_int_equal(m2msec_keid_equal(&a, &b), 1);
    assert_int_equal(m2msec_keid_equal(&a, &c), 0);
    assert_int_equal(m2msec_keid_equal(&a, &d), 0);
    assert_int_equal(m2msec_keid_equal(&a, NULL), 0);

    /* Emitted lowercase, and parse(format(x)) == x. */
    assert_int_equal(m2msec_keid_format(b.rel, "mef.example.com", out, sizeof(out), &err), 0);
    assert_string_equal(out, HEX32 "@mef.example.com");
    assert_int_equal(m2msec_keid_parse(out, &r, &err), 0);
    assert_int_equal(m2msec_keid_equal(&r, &a), 1);

    /* Exactly big enough, then one byte short. */
    assert_int_equal(m2msec_keid_format(a.rel, "m", out, 32 + 1 + 1 + 1, &err), 0);
    assert_string_equal(out, HEX32 "@m");
    assert_int_equal(m2msec_keid_format(a.rel, "m", out, 32 + 1 + 1, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    /* Bad FQDNs. */
    assert_int_equal(m2msec_keid_format(a.rel, "mef_1.example.com", out, sizeof(out), &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_keid_format(a.rel, "", out, sizeof(out), &err), -1);
    assert_int_equal(m2msec_keid_format(a.rel, NULL, out, sizeof(out), &err), -1);
}

/* ---- KmID / KpsaID / Key Identifier ---- */

static void
test_keyref_parse(void **state)
{
    const struct {
        const char *s;
        int ok;
        const char *rel;
        const char *fqdn;
    } cases[] = {
        { "1he83he@maf.example.com", 1, "1he83he", "maf.example.com" },
        { "my-key_name@maf.example.com", 1, "my-key_name", "maf.example.com" },
        { "firstname.lastname@MAF.example.com", 1, "firstname.lastname", "MAF.example.com" },
        { HEX32 "@maf.example.com", 1, HEX32, "maf.example.com" },
        { "a@b", 1, "a", "b" },
        { rep(0, 'k', 128, "", "@maf.example.com"), 1, NULL, "maf.example.com" },
        { rep(1, 'k', 129, "", "@maf.example.com"), 0, NULL, NULL },
        { "a@b@maf.example.com", 0, NULL, NULL }, /* last '@': "a@b" fails the charset */
        { "@maf.example.com", 0, NULL, NULL },
        { "key@", 0, NULL, NULL },
        { "key", 0, NULL, NULL },
        { "ke y@maf.example.com", 0, NULL, NULL },
        { "ke/y@maf.example.com", 0, NULL, NULL },
        { "ke:y@maf.example.com", 0, NULL, NULL },
        { "ke~y@maf.example.com", 0, NULL, NULL },
        { "k\xc3\xa9y@maf.example.com", 0, NULL, NULL },
        { "key@maf_x.example.com", 0, NULL, NULL },
        { "key@maf.example.com.", 0, NULL, NULL },
        { "", 0, NULL, NULL },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct m2msec_error err = { 0 };
        struct m2msec_keyref k;
        int rc = 0;

        memset(&k, 'Z', sizeof(k));
        rc = m2msec_keyref_parse(cases[i].s, &k, &err);
        if (rc != (cases[i].ok ? 0 : -1)) {
            fail_msg("keyref_parse(\"%s\") = %d (%s)", cases[i].s, rc, m2msec_error_msg(&err));
        }
        if (cases[i].ok) {
            if (cases[i].rel != NULL) {
                assert_string_equal(k.rel, cases[i].rel);
            } else {
                assert_int_equal(strlen(k.rel), 128);
            }
            assert_string_equal(k.fqdn, cases[i].fqdn);
        } else {
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
            assert_int_equal(k.rel[0], 'Z');
        }
    }
}

static void
test_keyref_equal_format(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyref a, b, c, d;
    char out[M2MSEC_KEYREF_MAX];

    (void)state;
    assert_int_equal(m2msec_keyref_parse("Key.1@MAF.example.com", &a, &err), 0);
    assert_int_equal(m2msec_keyref_parse("key.1@maf.EXAMPLE.com", &b, &err), 0);
    assert_int_equal(m2msec_keyref_parse("key.2@maf.example.com", &c, &err), 0);
    assert_int_equal(m2msec_keyref_parse("key.1@maf2.example.com", &d, &err), 0);
    assert_int_equal(m2msec_keyref_equal(&a, &b), 1);
    assert_int_equal(m2msec_keyref_equal(&a, &c), 0);
    assert_int_equal(m2msec_keyref_equal(&a, &d), 0);
    assert_int_equal(m2msec_keyref_equal(NULL, &a), 0);

    assert_int_equal(m2msec_keyref_format("km-7_x.y", "maf.example.com", out, sizeof(out), &err),
                     0);
    assert_string_equal(out, "km-7_x.y@maf.example.com");
    assert_int_equal(m2msec_keyref_parse(out, &a, &err), 0);
    assert_string_equal(a.rel, "km-7_x.y");
    /* Exact size, then one short. */
    assert_int_equal(m2msec_keyref_format("k", "m", out, 4, &err), 0);
    assert_string_equal(out, "k@m");
    assert_int_equal(m2msec_keyref_format("k", "m", out, 3, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    /* Bad relative parts and FQDNs. */
    assert_int_equal(m2msec_keyref_format("a@b", "maf.example.com", out, sizeof(out), &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_keyref_format("", "maf.example.com", out, sizeof(out), &err), -1);
    assert_int_equal(m2msec_keyref_format(rep(0, 'k', 129, "", ""), "maf.example.com", out,
                                          sizeof(out), &err),
                     -1);
    assert_int_equal(m2msec_keyref_format(rep(0, 'k', 128, "", ""), "maf.example.com", out,
                                          sizeof(out), &err),
                     0);
    assert_int_equal(m2msec_keyref_format("k", "maf.example.com.", out, sizeof(out), &err), -1);
    assert_int_equal(m2msec_keyref_format(NULL, "maf.example.com", out, sizeof(out), &err), -1);
}

/* ---- CSE-ID, AE-ID, KpmID ---- */

static void
test_entity_ids(void **state)
{
    const struct {
        const char *s;
        int cse;
        int ae;
    } cases[] = {
        { "/cse-1", 1, 0 },
        { "/CSE1234", 1, 0 },
        { "/cse~1._x", 1, 0 },
        { "//sp.example.com/cse-1", 1, 0 },
        { "Cae1", 0, 1 },
        { "S1", 0, 1 },
        { "Cae-1.x_y~z", 0, 1 },
        { "/cse-1/Cae1", 0, 1 },
        { "/cse-1/S1", 0, 1 },
        { "//sp.com/cse-1/Cae1", 0, 1 },
        { "cse", 0, 0 },
        { "", 0, 0 },
        { "/", 0, 0 },
        { "//", 0, 0 },
        { "///cse-1", 0, 0 },
        { "//sp.example.com", 0, 0 },
        { "//sp.example.com/", 0, 0 },
        { "//sp_x/cse-1", 0, 0 },
        { "//sp.example.com./cse-1", 0, 0 },
        { "/cse-1/", 0, 0 },
        { "/cse 1", 0, 0 },
        { "/cse:1", 0, 0 },
        { "/cse-1//Cae1", 0, 0 },
        { "ae1", 0, 0 },
        { "C", 0, 0 },
        { "S", 0, 0 },
        { "cae1", 0, 0 },
        { "C ae1", 0, 0 },
        { "Cae1 ", 0, 0 },
        { " Cae1", 0, 0 },
        { "Cae/1", 0, 0 },
        { "/cse-1/ae1", 0, 0 },
        { "/cse-1/C", 0, 0 },
        { "/cse-1/Cae1/x", 0, 0 },
        { "//sp.com/cse-1/Cae 1", 0, 0 },
        { "C\xc3\xa9", 0, 0 },
        { rep(0, 'c', 511, "/", ""), 1, 0 },
        { rep(1, 'c', 512, "/", ""), 0, 0 },
        { rep(2, 'a', 511, "C", ""), 0, 1 },
        { rep(3, 'a', 512, "C", ""), 0, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *s = cases[i].s;

        if (m2msec_cse_id_valid(s) != cases[i].cse) {
            fail_msg("cse_id_valid(\"%.40s\") != %d", s, cases[i].cse);
        }
        if (m2msec_ae_id_valid(s) != cases[i].ae) {
            fail_msg("ae_id_valid(\"%.40s\") != %d", s, cases[i].ae);
        }
        if (m2msec_entity_id_valid(s) != (cases[i].cse || cases[i].ae)) {
            fail_msg("entity_id_valid(\"%.40s\")", s);
        }
    }
    assert_int_equal(m2msec_cse_id_valid(NULL), 0);
    assert_int_equal(m2msec_ae_id_valid(NULL), 0);
    assert_int_equal(m2msec_entity_id_valid(NULL), 0);
}

static void
test_kpm_id(void **state)
{
    const struct {
        const char *s;
        int ok;
    } cases[] = {
        { "thiskey", 1 },
        { "a", 1 },
        { "!~", 1 },
        { "kpm-1@mef.example.com", 1 },
        { "ni:///sha-256;abc", 1 },
        { rep(0, 'k', 512, "", ""), 1 },
        { rep(1, 'k', 513, "", ""), 0 },
        { "", 0 },
        { "a b", 0 },
        { "a\tb", 0 },
        { "a\nb", 0 },
        { "\x7f", 0 },
        { "k\xc3\xa9", 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (m2msec_kpm_id_valid(cases[i].s) != cases[i].ok) {
            fail_msg("kpm_id_valid(\"%.40s\") != %d", cases[i].s, cases[i].ok);
        }
    }
    assert_int_equal(m2msec_kpm_id_valid(NULL), 0);
}

/* ---- Credential-ID ---- */

static void
test_credential_id_parse(void **state)
{
    const struct {
        const char *s;
        int ok;
        unsigned type;
        const char *value;
    } cases[] = {
        { "10-thiskey@mymef.com", 1, 10, "thiskey@mymef.com" },
        { "11-km@maf.example.com", 1, 11, "km@maf.example.com" },
        { "12-a-b", 1, 12, "a-b" },
        { "16-x", 1, 16, "x" },
        { "30-ni:///sha-256;abc", 1, 30, "ni:///sha-256;abc" }, /* DEFECT-16: verbatim */
        { "32-//sp.example.com/cse-1", 1, 32, "//sp.example.com/cse-1" },
        { "34-x", 1, 34, "x" },
        { "41-x", 1, 41, "x" },
        { "55-x", 1, 55, "x" },
        { "x-1", 0, 0, NULL },
        { "10", 0, 0, NULL },
        { "10-", 0, 0, NULL },
        { "-x", 0, 0, NULL },
        { "", 0, 0, NULL },
        { "010-x", 0, 0, NULL },
        { "+10-x", 0, 0, NULL },
        { " 10-x", 0, 0, NULL },
        { "9-x", 0, 0, NULL },
        { "17-x", 0, 0, NULL },
        { "20-x", 0, 0, NULL },
        { "29-x", 0, 0, NULL },
        { "35-x", 0, 0, NULL },
        { "40-x", 0, 0, NULL },
        { "46-x", 0, 0, NULL },
        { "50-x", 0, 0, NULL },
        { "56-x", 0, 0, NULL },
        { "100-x", 0, 0, NULL },
        { "4294967306-x", 0, 0, NULL }, /* 2^32 + 10 must not wrap to 10 */
        { "10-a b", 0, 0, NULL },
        { "10-a\tb", 0, 0, NULL },
        { rep(0, 'v', 509, "10-", ""), 1, 10, NULL },
        { rep(1, 'v', 510, "10-", ""), 0, 0, NULL },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct m2msec_error err = { 0 };
        unsigned type = 999;
        const char *value = NULL;
        int rc = m2msec_credential_id_parse(cases[i].s, &type, &value, &err);

        if (rc != (cases[i].ok ? 0 : -1)) {
            fail_msg("credential_id_parse(\"%.40s\") = %d (%s)", cases[i].s, rc,
                     m2msec_error_msg(&err));
        }
        if (cases[i].ok) {
            assert_int_equal(type, cases[i].type);
            assert_ptr_equal(value, cases[i].s + 3); /* points into s */
            if (cases[i].value != NULL) {
                assert_string_equal(value, cases[i].value);
            }
        } else {
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
            assert_int_equal(type, 999);
            assert_null(value);
        }
    }
}

static void
test_credential_id_format(void **state)
{
    struct m2msec_error err = { 0 };
    char out[M2MSEC_ID_MAX + 1];
    unsigned type = 0;
    const char *value = NULL;

    (void)state;
    assert_int_equal(m2msec_credential_id_format(M2MSEC_CRED_KPM, "thiskey@mymef.com", out,
                                                 sizeof(out), &err),
                     0);
    assert_string_equal(out, "10-thiskey@mymef.com");
    assert_int_equal(m2msec_credential_id_parse(out, &type, &value, &err), 0);
    assert_int_equal(type, M2MSEC_CRED_KPM);
    assert_string_equal(value, "thiskey@mymef.com");

    assert_int_equal(m2msec_credential_id_format(M2MSEC_CRED_RAW_PK, "ni:///sha-256;abc", out,
                                                 sizeof(out), &err),
                     0);
    assert_string_equal(out, "30-ni:///sha-256;abc");
    assert_int_equal(m2msec_credential_id_format(M2MSEC_CRED_NODE_CERT, "n", out, 5, &err), 0);
    assert_string_equal(out, "34-n");
    /* One byte short. */
    assert_int_equal(m2msec_credential_id_format(M2MSEC_CRED_NODE_CERT, "n", out, 4, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    /* Undefined types, empty or bad values. */
    assert_int_equal(m2msec_credential_id_format(17, "x", out, sizeof(out), &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_credential_id_format(0, "x", out, sizeof(out), &err), -1);
    assert_int_equal(m2msec_credential_id_format(110, "x", out, sizeof(out), &err), -1);
    assert_int_equal(m2msec_credential_id_format(10, "", out, sizeof(out), &err), -1);
    assert_int_equal(m2msec_credential_id_format(10, "a b", out, sizeof(out), &err), -1);
    assert_int_equal(m2msec_credential_id_format(10, NULL, out, sizeof(out), &err), -1);
    assert_int_equal(
            m2msec_credential_id_format(10, rep(0, 'v', 510, "", ""), out, sizeof(out), &err), -1);
    assert_int_equal(
            m2msec_credential_id_format(10, rep(0, 'v', 509, "", ""), out, sizeof(out), &err), 0);
    assert_int_equal(strlen(out), M2MSEC_ID_MAX);
}

/* ---- SUID ---- */

static void
test_suid_valid(void **state)
{
    static const unsigned defined[] = { 10, 11, 12, 13, 14, 15, 21, 22, 23, 24, 25,
                                        32, 33, 34, 35, 40, 41, 42, 43, 44, 45 };
    static const unsigned undefined[] = { 0,  1,  9,  16, 20,  26,  30,  31,         36,
                                          39, 46, 50, 99, 100, 110, 121, 4294967295u };
    unsigned count = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(defined) / sizeof(defined[0]); i++) {
        if (m2msec_suid_valid(defined[i]) != 1) {
            fail_msg("suid %u should be valid", defined[i]);
        }
    }
    for (size_t i = 0; i < sizeof(undefined) / sizeof(undefined[0]); i++) {
        if (m2msec_suid_valid(undefined[i]) != 0) {
            fail_msg("suid %u should be invalid", undefined[i]);
        }
    }
    /* Nothing else in 0..1000 is defined. */
    for (unsigned s = 0; s <= 1000; s++) {
        count += (unsigned)m2msec_suid_valid(s);
    }
    assert_int_equal(count, sizeof(defined) / sizeof(defined[0]));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fqdn),
        cmocka_unit_test(test_keid_parse),
        cmocka_unit_test(test_keid_equal_format),
        cmocka_unit_test(test_keyref_parse),
        cmocka_unit_test(test_keyref_equal_format),
        cmocka_unit_test(test_entity_ids),
        cmocka_unit_test(test_kpm_id),
        cmocka_unit_test(test_credential_id_parse),
        cmocka_unit_test(test_credential_id_format),
        cmocka_unit_test(test_suid_valid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
