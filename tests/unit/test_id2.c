/*
 * tests/unit/test_id2.c - ID2 = FQDN 0x00 EXPIRY 0x00 ID1 0x00: build, strict parse, times.
 *
 * Table-driven: every accepted ID2 has rejected neighbours (missing NULs,
 * empty fields, upper-case or malformed FQDN, bad or non-canonical times,
 * oversize fields, trailing bytes). Expiry formatting is checked against
 * known dates (epoch, leap days, 9999-12-31) and round-tripped; key-period
 * alignment and the verifier's time checks are checked at their boundaries.
 */
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto/id2.h"
#include "util/error.h"

#define EXP   "2030-01-31T00:00:00Z"
#define EXP_T INT64_C(1896048000)

struct parse_case {
    const char *name;
    const char *bytes; /* NUL separators written as \0 */
    size_t len;
    enum m2msec_err want;
    const char *needle;
};

#define C(name, lit, want, needle)               \
    {                                            \
        name, lit, sizeof(lit) - 1, want, needle \
    }

static const struct parse_case parse_cases[] = {
    C("ok AE-ID stem", "mef.example.com\0" EXP "\0Cae1\0", M2MSEC_ERR_NONE, NULL),
    C("ok SP-relative AE-ID", "mef.example.com\0" EXP "\0/in-cse/Cae1\0", M2MSEC_ERR_NONE, NULL),
    C("ok CSE-ID", "mef.example.com\0" EXP "\0/in-cse\0", M2MSEC_ERR_NONE, NULL),
    C("ok absolute", "k2.mef.example\0" EXP "\0//sp.example/in-cse/Cx\0", M2MSEC_ERR_NONE, NULL),
    C("ok single label", "mef\0" EXP "\0Cae1\0", M2MSEC_ERR_NONE, NULL),
    C("empty", "", M2MSEC_ERR_PROTOCOL, "FQDN missing"),
    C("no NUL at all", "mef.example.com", M2MSEC_ERR_PROTOCOL, "FQDN not NUL-terminated"),
    C("missing last NUL", "mef.example.com\0" EXP "\0Cae1", M2MSEC_ERR_PROTOCOL,
      "ID1 not NUL-terminated"),
    C("missing ID1", "mef.example.com\0" EXP "\0", M2MSEC_ERR_PROTOCOL, "ID1 missing"),
    C("missing expiry NUL", "mef.example.com\0" EXP, M2MSEC_ERR_PROTOCOL,
      "expiry not NUL-terminated"),
    C("empty FQDN", "\0" EXP "\0Cae1\0", M2MSEC_ERR_PROTOCOL, "empty FQDN"),
    C("empty expiry", "mef.example.com\0\0Cae1\0", M2MSEC_ERR_PROTOCOL, "empty expiry"),
    C("empty ID1", "mef.example.com\0" EXP "\0\0", M2MSEC_ERR_PROTOCOL, "empty ID1"),
    C("trailing byte", "mef.example.com\0" EXP "\0Cae1\0x", M2MSEC_ERR_PROTOCOL, "trailing"),
    C("trailing NUL", "mef.example.com\0" EXP "\0Cae1\0\0", M2MSEC_ERR_PROTOCOL, "trailing"),
    C("fields swapped", EXP "\0mef.example.com\0Cae1\0", M2MSEC_ERR_PROTOCOL, "FQDN"),
    C("upper-case FQDN", "MEF.example.com\0" EXP "\0Cae1\0", M2MSEC_ERR_PROTOCOL, "lowercase"),
    C("FQDN trailing dot", "mef.example.com.\0" EXP "\0Cae1\0", M2MSEC_ERR_PROTOCOL, "FQDN"),
    C("FQDN underscore", "mef_1.example\0" EXP "\0Cae1\0", M2MSEC_ERR_PROTOCOL, "FQDN"),
    C("FQDN label starts with -", "-mef.example\0" EXP "\0Cae1\0", M2MSEC_ERR_PROTOCOL, "FQDN"),
    C("FQDN with port", "mef.example:443\0" EXP "\0Cae1\0", M2MSEC_ERR_PROTOCOL, "FQDN"),
    C("expiry lowercase z",
      "mef\0"
      "2030-01-31T00:00:00z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "expiry"),
    C("expiry with offset",
      "mef\0"
      "2030-01-31T00:00:00+00:00\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "expiry"),
    C("expiry with fraction",
      "mef\0"
      "2030-01-31T00:00:00.0Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "expiry"),
    C("expiry no Z",
      "mef\0"
      "2030-01-31T00:00:00\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "expiry"),
    C("expiry space",
      "mef\0"
      "2030-01-31 00:00:00Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "expiry"),
    C("expiry m2m form",
      "mef\0"
      "20300131T000000Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "expiry"),
    C("expiry month 13",
      "mef\0"
      "2030-13-01T00:00:00Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "out of range"),
    C("expiry month 00",
      "mef\0"
      "2030-00-01T00:00:00Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "out of range"),
    C("expiry Feb 29 non-leap",
      "mef\0"
      "2031-02-29T00:00:00Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "out of range"),
    C("expiry Feb 29 1900-style",
      "mef\0"
      "2100-02-29T00:00:00Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "out of range"),
    C("ok Feb 29 2400",
      "mef\0"
      "2400-02-29T00:00:00Z\0Cae1\0",
      M2MSEC_ERR_NONE, NULL),
    C("expiry Apr 31",
      "mef\0"
      "2030-04-31T00:00:00Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "out of range"),
    C("expiry hour 24",
      "mef\0"
      "2030-01-31T24:00:00Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "out of range"),
    C("expiry leap second",
      "mef\0"
      "2030-06-30T23:59:60Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "out of range"),
    C("expiry before 1970",
      "mef\0"
      "1969-12-31T23:59:59Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "out of range"),
    C("expiry sign",
      "mef\0"
      "+030-01-31T00:00:00Z\0Cae1\0",
      M2MSEC_ERR_PROTOCOL, "expiry"),
    C("ID1 not an entity id", "mef\0" EXP "\0ae1\0", M2MSEC_ERR_PROTOCOL, "ID1"),
    C("ID1 with space", "mef\0" EXP "\0Cae 1\0", M2MSEC_ERR_PROTOCOL, "ID1"),
    C("ID1 trailing slash", "mef\0" EXP "\0/in-cse/\0", M2MSEC_ERR_PROTOCOL, "ID1"),
};

static void
test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *c = &parse_cases[i];
        struct m2msec_error err = { 0 };
        struct m2msec_id2 id;
        uint8_t again[M2MSEC_ID2_MAX];
        size_t alen = 0;
        int rc = 0;

        memset(&id, 0x5a, sizeof(id));
        rc = m2msec_id2_parse((const uint8_t *)c->bytes, c->len, &id, &err);
        if (c->want == M2MSEC_ERR_NONE) {
            if (rc != 0) {
                fail_msg("%s: refused: %s", c->name, m2msec_error_msg(&err));
            }
            /* Canonical: encoding the parsed fields gives back the same bytes. */
            assert_int_equal(m2msec_id2_encode(id.fqdn, id.expiry, id.id1, again, sizeof(again),
                                               &alen, &err),
                             0);
            assert_int_equal(alen, c->len);
            assert_memory_equal(again, c->bytes, c->len);
            continue;
        }
        if (rc != -1) {
            fail_msg("%s: accepted", c->name);
        }
        if (m2msec_error_code(&err) != c->want ||
            strstr(m2msec_error_msg(&err), c->needle) == NULL) {
            fail_msg("%s: got %d \"%s\", want %d \"%s\"", c->name, (int)m2msec_error_code(&err),
                     m2msec_error_msg(&err), (int)c->want, c->needle);
        }
        /* Not written on failure. */
        assert_int_equal((unsigned char)id.fqdn[0], 0x5a);
    }
}

static void
test_parse_fields_and_limits(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_id2 id;
    uint8_t buf[M2MSEC_ID2_MAX + 8];
    char fqdn[M2MSEC_FQDN_MAX + 2];
    char id1[M2MSEC_ID2_ID1_MAX + 2];
    size_t len = 0;

    (void)state;
    assert_int_equal(m2msec_id2_parse((const uint8_t *)"mef.example.com\0" EXP "\0/in-cse/Cae1",
                                      sizeof("mef.example.com\0" EXP "\0/in-cse/Cae1"), &id, &err),
                     0);
    assert_string_equal(id.fqdn, "mef.example.com");
    assert_int_equal(id.expiry, EXP_T);
    assert_string_equal(id.id1, "/in-cse/Cae1");

    /* Longest FQDN (253: 63.63.63.61) and longest ID1 (200) are accepted: M2MSEC_ID2_MAX. */
    memset(fqdn, 'a', sizeof(fqdn));
    fqdn[63] = fqdn[127] = fqdn[191] = '.';
    fqdn[M2MSEC_FQDN_MAX] = '\0';
    memset(id1, 'x', sizeof(id1));
    id1[0] = 'C';
    id1[M2MSEC_ID2_ID1_MAX] = '\0';
    assert_int_equal(m2msec_id2_encode(fqdn, EXP_T, id1, buf, sizeof(buf), &len, &err), 0);
    assert_int_equal(len, M2MSEC_ID2_MAX);
    assert_int_equal(m2msec_id2_parse(buf, len, &id, &err), 0);
    assert_string_equal(id.id1, id1);
    /* One octet too small an output buffer. */
    assert_int_equal(m2msec_id2_encode(fqdn, EXP_T, id1, buf, M2MSEC_ID2_MAX - 1, &len, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);

    /* ID1 of 201, FQDN of 254: refused by both encoder and parser. */
    id1[M2MSEC_ID2_ID1_MAX] = 'x';
    id1[M2MSEC_ID2_ID1_MAX + 1] = '\0';
    assert_int_equal(m2msec_id2_encode("mef", EXP_T, id1, buf, sizeof(buf), &len, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    memcpy(buf, "mef\0" EXP "\0", 4 + 21);
    memcpy(buf + 25, id1, M2MSEC_ID2_ID1_MAX + 2);
    assert_int_equal(m2msec_id2_parse(buf, 25 + M2MSEC_ID2_ID1_MAX + 2, &id, &err), -1);
    assert_non_null(strstr(m2msec_error_msg(&err), "ID1 longer"));
    fqdn[M2MSEC_FQDN_MAX] = 'a';
    fqdn[M2MSEC_FQDN_MAX + 1] = '\0';
    assert_int_equal(m2msec_id2_encode(fqdn, EXP_T, "Cae1", buf, sizeof(buf), &len, &err), -1);
    memcpy(buf, fqdn, M2MSEC_FQDN_MAX + 2);
    memcpy(buf + M2MSEC_FQDN_MAX + 2, EXP "\0Cae1", 26);
    assert_int_equal(m2msec_id2_parse(buf, M2MSEC_FQDN_MAX + 2 + 26, &id, &err), -1);
    assert_non_null(strstr(m2msec_error_msg(&err), "FQDN longer"));

    /* Whole input over M2MSEC_ID2_MAX. */
    memset(buf, 'a', sizeof(buf));
    assert_int_equal(m2msec_id2_parse(buf, M2MSEC_ID2_MAX + 1, &id, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);

    /* A NUL inside a would-be field splits it: "mef\0ex" is FQDN "mef", expiry "ex". */
    assert_int_equal(m2msec_id2_parse((const uint8_t *)"mef\0ex\0" EXP "\0Cae1\0",
                                      sizeof("mef\0ex\0" EXP "\0Cae1\0") - 1, &id, &err),
                     -1);

    /* Encoder refuses what the parser refuses. */
    assert_int_equal(m2msec_id2_encode("Mef", EXP_T, "Cae1", buf, sizeof(buf), &len, &err), -1);
    assert_int_equal(m2msec_id2_encode("mef", -1, "Cae1", buf, sizeof(buf), &len, &err), -1);
    assert_int_equal(
            m2msec_id2_encode("mef", M2MSEC_ID2_TIME_MAX + 1, "Cae1", buf, sizeof(buf), &len, &err),
            -1);
    assert_int_equal(m2msec_id2_encode("mef", EXP_T, "", buf, sizeof(buf), &len, &err), -1);
    assert_int_equal(m2msec_id2_encode("", EXP_T, "Cae1", buf, sizeof(buf), &len, &err), -1);
    assert_int_equal(m2msec_id2_encode(NULL, EXP_T, "Cae1", buf, sizeof(buf), &len, &err), -1);
}

static void
test_expiry_format_parse(void **state)
{
    static const struct {
        int64_t t;
        const char *s;
    } known[] = {
        { 0, "1970-01-01T00:00:00Z" },          { 951782400, "2000-02-29T00:00:00Z" },
        { 1709251199, "2024-02-29T23:59:59Z" }, { EXP_T, EXP },
        { 4107542400, "2100-03-01T00:00:00Z" }, { M2MSEC_ID2_TIME_MAX, "9999-12-31T23:59:59Z" },
    };
    struct m2msec_error err = { 0 };
    char out[M2MSEC_ID2_EXPIRY_LEN + 1];
    int64_t t = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        assert_int_equal(m2msec_id2_expiry_format(known[i].t, out, &err), 0);
        assert_string_equal(out, known[i].s);
        assert_int_equal(m2msec_id2_expiry_parse(known[i].s, strlen(known[i].s), &t, &err), 0);
        assert_int_equal(t, known[i].t);
    }
    /* Round trip over a sweep of days and seconds, 1970..9999. */
    for (int64_t x = 0; x <= M2MSEC_ID2_TIME_MAX; x += INT64_C(86400) * 997 + 4321) {
        assert_int_equal(m2msec_id2_expiry_format(x, out, &err), 0);
        assert_int_equal(m2msec_id2_expiry_parse(out, strlen(out), &t, &err), 0);
        assert_int_equal(t, x);
    }
    assert_int_equal(m2msec_id2_expiry_format(-1, out, &err), -1);
    assert_int_equal(m2msec_id2_expiry_format(M2MSEC_ID2_TIME_MAX + 1, out, &err), -1);
    assert_int_equal(m2msec_id2_expiry_parse(EXP, 19, &t, &err), -1);
    assert_int_equal(m2msec_id2_expiry_parse(EXP "Z", 21, &t, &err), -1);
}

static void
test_period_end(void **state)
{
    static const struct {
        int64_t t, period, offset, end;
    } ok[] = {
        { 0, 86400, 0, 86400 },
        { 86399, 86400, 0, 86400 },
        { 86400, 86400, 0, 172800 }, /* a boundary starts the next period */
        { 100, 2592000, 0, 2592000 },
        { 100, 3600, 600, 600 }, /* before the first offset boundary */
        { 600, 3600, 600, 4200 },
        { 1700000000, 2592000, 0, 1700352000 },
    };
    struct m2msec_error err = { 0 };
    int64_t end = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(m2msec_id2_period_end(ok[i].t, ok[i].period, ok[i].offset, &end, &err), 0);
        assert_int_equal(end, ok[i].end);
        assert_true(m2msec_id2_expiry_aligned(end, ok[i].period, ok[i].offset));
        assert_false(m2msec_id2_expiry_aligned(end + 1, ok[i].period, ok[i].offset));
        /* Every time in the same period predicts the same expiry. */
        assert_int_equal(m2msec_id2_period_end(end - 1, ok[i].period, ok[i].offset, &end, &err), 0);
        assert_int_equal(end, ok[i].end);
    }
    assert_int_equal(m2msec_id2_period_end(0, 0, 0, &end, &err), -1);
    assert_int_equal(m2msec_id2_period_end(0, -5, 0, &end, &err), -1);
    assert_int_equal(m2msec_id2_period_end(0, 10, 10, &end, &err), -1);
    assert_int_equal(m2msec_id2_period_end(0, 10, -1, &end, &err), -1);
    assert_int_equal(m2msec_id2_period_end(-1, 10, 0, &end, &err), -1);
    assert_int_equal(m2msec_id2_period_end(M2MSEC_ID2_TIME_MAX, 10, 0, &end, &err), -1);
    assert_false(m2msec_id2_expiry_aligned(10, 0, 0));
}

static void
test_check_times(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_id2 id;
    const int64_t day = 86400;

    (void)state;
    memset(&id, 0, sizeof(id));
    memcpy(id.fqdn, "mef", 4);
    memcpy(id.id1, "Cae1", 5);
    id.expiry = EXP_T;
    /* Accepted: well before, at expiry, at expiry + skew. */
    assert_int_equal(m2msec_id2_check_times(&id, EXP_T - 30 * day, 300, 90 * day, &err), 0);
    assert_int_equal(m2msec_id2_check_times(&id, EXP_T, 300, 90 * day, &err), 0);
    assert_int_equal(m2msec_id2_check_times(&id, EXP_T + 300, 300, 90 * day, &err), 0);
    /* Expired: one second past the skew; no skew. */
    assert_int_equal(m2msec_id2_check_times(&id, EXP_T + 301, 300, 90 * day, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_EXPIRED);
    assert_non_null(strstr(m2msec_error_msg(&err), "expired at " EXP));
    assert_int_equal(m2msec_id2_check_times(&id, EXP_T + 1, 0, 90 * day, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_EXPIRED);
    /* Lifetime: exactly the maximum is accepted, one second more is mis-issued. */
    assert_int_equal(m2msec_id2_check_times(&id, EXP_T - 90 * day, 300, 90 * day, &err), 0);
    assert_int_equal(m2msec_id2_check_times(&id, EXP_T - 90 * day - 1, 300, 90 * day, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    assert_non_null(strstr(m2msec_error_msg(&err), "mis-issued"));
    /* Arguments out of range. */
    assert_int_equal(m2msec_id2_check_times(&id, EXP_T, 301, 90 * day, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_id2_check_times(&id, EXP_T, -1, 90 * day, &err), -1);
    assert_int_equal(m2msec_id2_check_times(&id, EXP_T, 300, 0, &err), -1);
    assert_int_equal(m2msec_id2_check_times(&id, -1, 300, 90 * day, &err), -1);
    assert_int_equal(m2msec_id2_check_times(NULL, EXP_T, 300, 90 * day, &err), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),         cmocka_unit_test(test_parse_fields_and_limits),
        cmocka_unit_test(test_expiry_format_parse), cmocka_unit_test(test_period_end),
        cmocka_unit_test(test_check_times),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
