/*
 * tests/unit/test_codec.c - unit tests for src/lib/codec (json.c, mef_msg.c).
 *
 * Covers the strict JSON layer (depth, width, duplicates, UTF-8, NUL,
 * trailing bytes, the sticky reader), and for every MEF message (the
 * fetchCredentials response included): struct round
 * trips, canonical bytes (encode(decode(x)) == x), a table of rejected
 * neighbours (missing, wrong type, unknown, oversize, out of range,
 * instruction members of the wrong type...), generic mutations of every valid
 * message (top-level array, trailing garbage, truncation, duplicates, depth 17,
 * invalid UTF-8, NUL), zeroed outputs after failure, encoder refusals and
 * allocation failures.
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

#include "codec/json.h"
#include "codec/mef_msg.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define T2030 1893456000 /* 20300101T000000 */

static void
assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        print_error("\"%s\" does not contain \"%s\"\n", hay, needle);
        fail();
    }
}

/*
 * One entry point per message kind, so tables can name the decoder.
 */
enum kind {
    K_ENROL_REQ,
    K_ENROL_RESP,
    K_REPORT,
    K_MEFREG_REQ,
    K_MEFREG_RESP,
    K_UPDATE_REQ,
    K_UPDATE_RESP,
    K_CFG,
    K_POLICY,
    K_DBG,
    K_FETCH,
};

union any_msg {
    struct m2msec_enrol_req enrol_req;
    struct m2msec_enrol_resp enrol_resp;
    struct m2msec_enrol_report report;
    struct m2msec_mefreg_req mefreg_req;
    struct m2msec_mefreg_resp mefreg_resp;
    struct m2msec_mefreg_update update;
    struct m2msec_mefreg_cfg cfg;
    struct m2msec_enrolee_policy policy;
    char *dbg;
    struct m2msec_fetch_resp fetch;
};

static size_t
kind_size(enum kind k)
{
    switch (k) {
    case K_ENROL_REQ:
        return sizeof(struct m2msec_enrol_req);
    case K_ENROL_RESP:
        return sizeof(struct m2msec_enrol_resp);
    case K_REPORT:
        return sizeof(struct m2msec_enrol_report);
    case K_MEFREG_REQ:
        return sizeof(struct m2msec_mefreg_req);
    case K_MEFREG_RESP:
        return sizeof(struct m2msec_mefreg_resp);
    case K_UPDATE_REQ:
    case K_UPDATE_RESP:
        return sizeof(struct m2msec_mefreg_update);
    case K_CFG:
        return sizeof(struct m2msec_mefreg_cfg);
    case K_POLICY:
        return sizeof(struct m2msec_enrolee_policy);
    case K_DBG:
        return sizeof(char *);
    case K_FETCH:
        return sizeof(struct m2msec_fetch_resp);
    }
    return 0;
}

static int
decode_kind(enum kind k, const char *buf, size_t len, union any_msg *u, struct m2msec_error *err)
{
    const uint8_t *b = (const uint8_t *)buf;

    switch (k) {
    case K_ENROL_REQ:
        return m2msec_enrol_req_decode(b, len, &u->enrol_req, err);
    case K_ENROL_RESP:
        return m2msec_enrol_resp_decode(b, len, &u->enrol_resp, err);
    case K_REPORT:
        return m2msec_enrol_report_decode(b, len, &u->report, err);
    case K_MEFREG_REQ:
        return m2msec_mefreg_req_decode(b, len, &u->mefreg_req, err);
    case K_MEFREG_RESP:
        return m2msec_mefreg_resp_decode(b, len, &u->mefreg_resp, err);
    case K_UPDATE_REQ:
        return m2msec_mefreg_update_decode(b, len, 1, &u->update, err);
    case K_UPDATE_RESP:
        return m2msec_mefreg_update_decode(b, len, 0, &u->update, err);
    case K_CFG:
        return m2msec_mefreg_cfg_decode(b, len, &u->cfg, err);
    case K_POLICY:
        return m2msec_enrolee_policy_decode(b, len, &u->policy, err);
    case K_DBG:
        return m2msec_dbg_decode(b, len, &u->dbg, err);
    case K_FETCH:
        return m2msec_fetch_resp_decode(b, len, &u->fetch, err);
    }
    return -1;
}

static int
encode_kind(enum kind k, const union any_msg *u, struct m2msec_buf *out, struct m2msec_error *err)
{
    switch (k) {
    case K_ENROL_REQ:
        return m2msec_enrol_req_encode(&u->enrol_req, out, err);
    case K_ENROL_RESP:
        return m2msec_enrol_resp_encode(&u->enrol_resp, out, err);
    case K_REPORT:
        return m2msec_enrol_report_encode(&u->report, out, err);
    case K_MEFREG_REQ:
        return m2msec_mefreg_req_encode(&u->mefreg_req, out, err);
    case K_MEFREG_RESP:
        return m2msec_mefreg_resp_encode(&u->mefreg_resp, out, err);
    case K_UPDATE_REQ:
        return m2msec_mefreg_update_encode(&u->update, 1, out, err);
    case K_UPDATE_RESP:
        return m2msec_mefreg_update_encode(&u->update, 0, out, err);
    case K_CFG:
        return m2msec_mefreg_cfg_encode(&u->cfg, out, err);
    case K_POLICY:
        return m2msec_enrolee_policy_encode(&u->policy, out, err);
    case K_DBG:
        return m2msec_dbg_encode(u->dbg, out, err);
    case K_FETCH:
        return m2msec_fetch_resp_encode(&u->fetch, out, err);
    }
    return -1;
}

static void
clear_kind(enum kind k, union any_msg *u)
{
    switch (k) {
    case K_ENROL_REQ:
        memset(&u->enrol_req, 0, sizeof(u->enrol_req));
        break;
    case K_ENROL_RESP:
        m2msec_enrol_resp_clear(&u->enrol_resp);
        break;
    case K_REPORT:
        m2msec_enrol_report_clear(&u->report);
        break;
    case K_MEFREG_REQ:
        m2msec_mefreg_req_clear(&u->mefreg_req);
        break;
    case K_MEFREG_RESP:
        m2msec_mefreg_resp_clear(&u->mefreg_resp);
        break;
    case K_UPDATE_REQ:
    case K_UPDATE_RESP:
        m2msec_mefreg_update_clear(&u->update);
        break;
    case K_CFG:
        m2msec_mefreg_cfg_clear(&u->cfg);
        break;
    case K_POLICY:
        m2msec_enrolee_policy_clear(&u->policy);
        break;
    case K_DBG:
        m2msec_free(u->dbg);
        u->dbg = NULL;
        break;
    case K_FETCH:
        m2msec_fetch_resp_clear(&u->fetch);
        break;
    }
}

/* Decode must fail with rsc 4000 / PROTOCOL, mention want, and leave the output zeroed. */
static void
expect_reject(enum kind k, const char *name, const char *buf, size_t len, const char *want)
{
    struct m2msec_error err = { 0 };
    union any_msg u;
    size_t i;
    int rc;

    memset(&u, 0xa5, sizeof(u));
    rc = decode_kind(k, buf, len, &u, &err);
    if (rc != -1) {
        print_error("case '%s' (kind %d) was accepted: %.*s\n", name, (int)k, (int)len, buf);
        clear_kind(k, &u);
        fail();
    }
    if (err.code != M2MSEC_ERR_PROTOCOL || err.rsc != 4000 || strstr(err.msg, want) == NULL) {
        print_error("case '%s': code %d rsc %d msg \"%s\", want \"%s\"\n", name, (int)err.code,
                    err.rsc, err.msg, want);
        fail();
    }
    for (i = 0; i < kind_size(k); i++) {
        if (((const unsigned char *)&u)[i] != 0) {
            print_error("case '%s': output byte %zu not zeroed\n", name, i);
            fail();
        }
    }
}

static void
expect_accept(enum kind k, const char *name, const char *buf, size_t len)
{
    struct m2msec_error err = { 0 };
    union any_msg u;

    memset(&u, 0, sizeof(u));
    if (decode_kind(k, buf, len, &u, &err) != 0) {
        print_error("case '%s' rejected: %s\n", name, err.msg);
        fail();
    }
    clear_kind(k, &u);
}

/*
 * Valid, canonical messages (sorted keys, compact): encode(decode(x)) == x.
 */
#define V_ENROL_REQ "{\"certEnrolmentInd\":false,\"mafEnrolmentInd\":true,\"remoteMgmtInd\":true}"
#define V_ENROL_RESP_FIRST                                                                        \
    "{\"enroleeID\":\"C-enrolee-1\",\"exchangeID\":\"x1\",\"instruction\":{\"credentialType\":"   \
    "\"symmetricKey\",\"keyRegistrationURI\":\"https://maf.example.com/kr\",\"keyRetrievalURI\":" \
    "\"https://maf.example.com/kt\",\"type\":\"mafEnrolment\"},\"keExpiry\":\"20300101T000000\"," \
    "\"keID\":\"00112233445566778899aabbccddeeff@mef.example.com\",\"step\":1}"
#define V_ENROL_RESP_CERT                                                                \
    "{\"exchangeID\":\"x1\",\"instruction\":{\"type\":\"certificateEnrolment\",\"uri\":" \
    "\"https://ca.example.com/.well-known/est\"},\"step\":2}"
#define V_ENROL_RESP_RM                                                              \
    "{\"exchangeID\":\"x1\",\"instruction\":{\"type\":\"remoteManagement\",\"uri\":" \
    "\"coaps://dm.example.com:5684\"},\"step\":4}"
#define V_PEM "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
#define V_ENROL_RESP_MAF_FULL                                                                     \
    "{\"exchangeID\":\"x1\",\"instruction\":{\"clientRegistrationURI\":"                          \
    "\"https://maf.example.com/reg\",\"credentialType\":\"certificate\",\"keyRegistrationURI\":"  \
    "\"https://maf.example.com/kr\",\"keyRetrievalURI\":\"https://maf.example.com/kt\","          \
    "\"lifetime\":\"20300101T000000\",\"trustAnchors\":\"" V_PEM "\",\"type\":\"mafEnrolment\"}," \
    "\"step\":2}"
#define V_ENROL_RESP_END "{\"end\":true,\"exchangeID\":\"x1\",\"step\":3}"
#define V_REPORT         "{\"reason\":\"ok\",\"result\":\"success\",\"step\":1}"
#define V_REPORT_FAIL    "{\"result\":\"failure\",\"step\":64}"
#define V_MEFREG_REQ                                                                         \
    "{\"adminFQDN\":\"admin.example.com\",\"et\":\"20300101T000000\",\"lbl\":[\"a\",\"b\"]," \
    "\"mefFQDN\":\"mef.example.com\"}"
#define V_MEFREG_RESP                                                           \
    "{\"adminFQDN\":\"admin.example.com\",\"clientID\":\"C-enrolee-1\",\"et\":" \
    "\"20300101T000000\","                                                      \
    "\"regID\":\"reg-1\"}"
#define V_UPDATE_REQ     "{\"et\":\"20300101T000000\",\"mefFQDN\":\"mef.example.com\"}"
#define V_UPDATE_REQ_LBL "{\"lbl\":[],\"mefFQDN\":\"mef.example.com\"}"
#define V_UPDATE_RESP    "{\"lbl\":[\"x\"]}"
#define V_UPDATE_RESP_ET "{\"et\":\"20300101T000000\"}"
#define V_CFG                                                                               \
    "{\"mefClientCfg\":{\"adminFQDN\":\"admin.example.com\",\"enrolmentExpiry\":86400,"     \
    "\"enrolmentTargets\":[\"maf-1\",\"C-enrolee-2\"],\"et\":\"20300101T000000\",\"fqdn\":" \
    "\"mef.example.com\",\"httpPort\":8443}}"
#define V_CFG_EMPTY                                                                                \
    "{\"mefClientCfg\":{\"adminFQDN\":\"a\",\"enrolmentExpiry\":1,\"enrolmentTargets\":[],\"et\":" \
    "\"20300101T000000\",\"fqdn\":\"m\",\"httpPort\":65535,\"lbl\":[\"l\"]}}"
#define V_POLICY                                                               \
    "{\"certificateEnrolmentURI\":\"https://ca.example.com/est\",\"mafURIs\":" \
    "[\"https://maf.example.com\"],\"remoteManagementURI\":\"coaps://dm.example.com\"}"
#define V_DBG  "{\"m2m:dbg\":\"member 'step': out of range\"}"
#define B64_16 "AAECAwQFBgcICQoLDA0ODw=="
#define B64_32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define B64_64                                                                             \
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+" \
    "Pw=="
#define V_FETCH_OK                                                             \
    "{\"Credential\":\"" B64_32 "\",\"EnroleeID\":\"/cse-dev1\",\"Lifetime\":" \
    "\"20300101T000000\",\"Status\":true}"
#define V_FETCH_FAIL  "{\"ErrorString\":\"not authorised\",\"Status\":false}"
#define FETCH_OK_REST "\"EnroleeID\":\"e\",\"Lifetime\":\"20300101T000000\""

static const struct {
    enum kind kind;
    const char *json;
} valid[] = {
    { K_ENROL_REQ, V_ENROL_REQ },
    { K_ENROL_RESP, V_ENROL_RESP_FIRST },
    { K_ENROL_RESP, V_ENROL_RESP_CERT },
    { K_ENROL_RESP, V_ENROL_RESP_RM },
    { K_ENROL_RESP, V_ENROL_RESP_MAF_FULL },
    { K_ENROL_RESP, V_ENROL_RESP_END },
    { K_REPORT, V_REPORT },
    { K_REPORT, V_REPORT_FAIL },
    { K_MEFREG_REQ, V_MEFREG_REQ },
    { K_MEFREG_RESP, V_MEFREG_RESP },
    { K_UPDATE_REQ, V_UPDATE_REQ },
    { K_UPDATE_REQ, V_UPDATE_REQ_LBL },
    { K_UPDATE_RESP, V_UPDATE_RESP },
    { K_UPDATE_RESP, V_UPDATE_RESP_ET },
    { K_UPDATE_RESP, "{}" },
    { K_CFG, V_CFG },
    { K_CFG, V_CFG_EMPTY },
    { K_POLICY, V_POLICY },
    { K_POLICY, "{}" },
    { K_DBG, V_DBG },
    { K_FETCH, V_FETCH_OK },
    { K_FETCH, V_FETCH_FAIL },
};

static void
test_canonical_bytes(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(valid); i++) {
        struct m2msec_error err = { 0 };
        struct m2msec_buf out;
        union any_msg u;

        memset(&u, 0, sizeof(u));
        m2msec_buf_init(&out, 1 << 20);
        if (decode_kind(valid[i].kind, valid[i].json, strlen(valid[i].json), &u, &err) != 0) {
            print_error("valid[%zu] rejected: %s\n", i, err.msg);
            fail();
        }
        if (encode_kind(valid[i].kind, &u, &out, &err) != 0) {
            print_error("valid[%zu] not re-encoded: %s\n", i, err.msg);
            fail();
        }
        if (out.len != strlen(valid[i].json) || memcmp(out.data, valid[i].json, out.len) != 0) {
            print_error("valid[%zu]:\n got  %s\n want %s\n", i, (const char *)out.data,
                        valid[i].json);
            fail();
        }
        clear_kind(valid[i].kind, &u);
        m2msec_buf_free(&out);
    }
}

/* Surrounding whitespace is not garbage; a decoder also accepts any member order. */
static void
test_whitespace_and_order(void **state)
{
    (void)state;
    expect_accept(K_ENROL_REQ, "whitespace",
                  " \n{ \"remoteMgmtInd\" : true ,\"mafEnrolmentInd\":true,"
                  "\"certEnrolmentInd\":false }\r\n\t",
                  strlen(" \n{ \"remoteMgmtInd\" : true ,\"mafEnrolmentInd\":true,"
                         "\"certEnrolmentInd\":false }\r\n\t"));
}

/*
 * Generic mutations of every valid message.
 */

/* "{" inner "}" -> inner (without the braces) */
static char *
inner_of(const char *json)
{
    size_t n = strlen(json);
    char *s;

    assert_true(n >= 2 && json[0] == '{' && json[n - 1] == '}');
    s = malloc(n - 1);
    assert_non_null(s);
    memcpy(s, json + 1, n - 2);
    s[n - 2] = '\0';
    return s;
}

static char *
concat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    size_t lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);

    assert_non_null(s);
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc);
    s[la + lb + lc] = '\0';
    return s;
}

/* n nested objects: {"d":{"d":...{}...}} */
static char *
nest(size_t n)
{
    char *s = malloc(n * 6 + 1);
    size_t i;
    size_t off = 0;

    assert_non_null(s);
    for (i = 0; i + 1 < n; i++) {
        memcpy(s + off, "{\"d\":", 5);
        off += 5;
    }
    s[off++] = '{';
    for (i = 0; i < n; i++) {
        s[off++] = '}';
    }
    s[off] = '\0';
    return s;
}

/* {inner,"zz":<value>} or {"zz":<value>} when inner is empty. */
static char *
with_member(const char *inner, const char *value)
{
    char *tail = concat3(inner[0] != '\0' ? "," : "", "\"zz\":", value);
    char *mid = concat3("{", inner, tail);
    char *s = concat3(mid, "}", "");

    free(tail);
    free(mid);
    return s;
}

static void
test_generic_mutations(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(valid); i++) {
        enum kind k = valid[i].kind;
        const char *v = valid[i].json;
        size_t n = strlen(v);
        char *inner = inner_of(v);
        char *s;
        char *t;

        s = concat3("[", v, "]");
        expect_reject(k, "top-level array", s, strlen(s), "not an object");
        free(s);
        expect_reject(k, "top-level string", "\"x\"", 3, "invalid JSON");
        expect_reject(k, "top-level null", "null", 4, "invalid JSON");
        expect_reject(k, "empty", "", 0, "empty");
        expect_reject(k, "blank", "  ", 2, "invalid JSON");

        s = concat3(v, "x", "");
        expect_reject(k, "trailing garbage", s, strlen(s), "invalid JSON");
        free(s);
        s = concat3(v, "{}", "");
        expect_reject(k, "second object", s, strlen(s), "invalid JSON");
        free(s);
        s = concat3(v, "\n", "");
        expect_accept(k, "trailing newline", s, strlen(s));
        free(s);

        expect_reject(k, "truncated", v, n - 1, "invalid JSON");
        expect_reject(k, "truncated half", v, n / 2, "invalid JSON");
        /* The buffer length is authoritative: a NUL byte inside it is garbage. */
        s = concat3(v, " ", "");
        s[n] = '\0';
        expect_reject(k, "NUL byte", s, n + 1, "invalid JSON");
        free(s);

        if (inner[0] != '\0') {
            t = concat3(inner, ",", inner);
            s = concat3("{", t, "}");
            expect_reject(k, "duplicate members", s, strlen(s), "duplicate");
            free(s);
            free(t);
        }

        t = nest(M2MSEC_JSON_MAX_DEPTH); /* 16 levels below the top: depth 17 */
        s = with_member(inner, t);
        expect_reject(k, "depth 17", s, strlen(s), "deeper");
        free(s);
        free(t);
        t = nest(M2MSEC_JSON_MAX_DEPTH - 1); /* depth 16 parses; "zz" is then unknown */
        s = with_member(inner, t);
        expect_reject(k, "depth 16", s, strlen(s), "member 'zz': unknown");
        free(s);
        free(t);

        s = with_member(inner, "\"\xff\"");
        expect_reject(k, "invalid UTF-8", s, strlen(s), "invalid JSON");
        free(s);
        s = with_member(inner, "\"\xc0\xaf\"");
        expect_reject(k, "overlong UTF-8", s, strlen(s), "invalid JSON");
        free(s);
        s = with_member(inner, "\"\xed\xa0\x80\"");
        expect_reject(k, "surrogate UTF-8", s, strlen(s), "invalid JSON");
        free(s);
        s = with_member(inner, "\"a\\u0000b\"");
        expect_reject(k, "escaped NUL", s, strlen(s), "invalid JSON");
        free(s);
        s = with_member(inner, "1");
        expect_reject(k, "unknown member", s, strlen(s), "member 'zz': unknown");
        free(s);
        s = with_member(inner, "99999999999999999999999");
        expect_reject(k, "integer overflow", s, strlen(s), "invalid JSON");
        free(s);

        free(inner);
    }
}

/*
 * Per-message rejected neighbours. '@' in json is replaced by fill 'a's.
 */
#define L8  "\"t\",\"t\",\"t\",\"t\",\"t\",\"t\",\"t\",\"t\""
#define L16 L8 "," L8

#define RESP_HEAD "{\"exchangeID\":\"x1\",\"step\":2,\"instruction\":"
#define MAF_BASE                                                                            \
    "\"type\":\"mafEnrolment\",\"credentialType\":\"symmetricKey\",\"keyRegistrationURI\":" \
    "\"https://m/kr\",\"keyRetrievalURI\":\"https://m/kt\""
#define REQ_BASE "\"mefFQDN\":\"m\",\"adminFQDN\":\"a\",\"et\":\"20300101T000000\""
#define CFG_BASE                                                                             \
    "\"fqdn\":\"m\",\"adminFQDN\":\"a\",\"et\":\"20300101T000000\",\"enrolmentTargets\":[]," \
    "\"enrolmentExpiry\":60"

static const struct {
    enum kind kind;
    const char *name;
    const char *json;
    size_t fill;
    const char *want; /* NULL: accepted */
} cases[] = {
    /* enrol_req */
    { K_ENROL_REQ, "missing", "{\"certEnrolmentInd\":true,\"mafEnrolmentInd\":true}", 0,
      "member 'remoteMgmtInd': missing" },
    { K_ENROL_REQ, "int for bool",
      "{\"certEnrolmentInd\":0,\"mafEnrolmentInd\":true,\"remoteMgmtInd\":true}", 0,
      "member 'certEnrolmentInd': wrong type" },
    { K_ENROL_REQ, "string for bool",
      "{\"certEnrolmentInd\":true,\"mafEnrolmentInd\":\"true\",\"remoteMgmtInd\":true}", 0,
      "member 'mafEnrolmentInd': wrong type" },
    { K_ENROL_REQ, "null for bool",
      "{\"certEnrolmentInd\":true,\"mafEnrolmentInd\":true,\"remoteMgmtInd\":null}", 0,
      "member 'remoteMgmtInd': wrong type" },
    { K_ENROL_REQ, "unknown",
      "{\"certEnrolmentInd\":true,\"mafEnrolmentInd\":true,\"remoteMgmtInd\":true,\"x\":1}", 0,
      "member 'x': unknown" },
    { K_ENROL_REQ, "member name case",
      "{\"certenrolmentind\":true,\"mafEnrolmentInd\":true,\"remoteMgmtInd\":true}", 0,
      "member 'certEnrolmentInd': missing" },
    { K_ENROL_REQ, "oversize unknown name",
      "{\"certEnrolmentInd\":true,\"mafEnrolmentInd\":true,\"remoteMgmtInd\":true,\"@\":1}", 5000,
      "unknown" },

    /* enrol_resp: top level */
    { K_ENROL_RESP, "no exchangeID", "{\"step\":3,\"end\":true}", 0,
      "member 'exchangeID': missing" },
    { K_ENROL_RESP, "no step", "{\"exchangeID\":\"x\",\"end\":true}", 0, "member 'step': missing" },
    { K_ENROL_RESP, "step 0", "{\"exchangeID\":\"x\",\"step\":0,\"end\":true}", 0,
      "member 'step': out of range" },
    { K_ENROL_RESP, "step 1", "{\"exchangeID\":\"x\",\"step\":1,\"end\":true}", 0, NULL },
    { K_ENROL_RESP, "step 64", "{\"exchangeID\":\"x\",\"step\":64,\"end\":true}", 0, NULL },
    { K_ENROL_RESP, "step 65", "{\"exchangeID\":\"x\",\"step\":65,\"end\":true}", 0,
      "member 'step': out of range" },
    { K_ENROL_RESP, "step -1", "{\"exchangeID\":\"x\",\"step\":-1,\"end\":true}", 0,
      "member 'step': out of range" },
    { K_ENROL_RESP, "step real", "{\"exchangeID\":\"x\",\"step\":1.0,\"end\":true}", 0,
      "member 'step': wrong type" },
    { K_ENROL_RESP, "step exponent", "{\"exchangeID\":\"x\",\"step\":1e0,\"end\":true}", 0,
      "member 'step': wrong type" },
    { K_ENROL_RESP, "step string", "{\"exchangeID\":\"x\",\"step\":\"1\",\"end\":true}", 0,
      "member 'step': wrong type" },
    { K_ENROL_RESP, "step bool", "{\"exchangeID\":\"x\",\"step\":true,\"end\":true}", 0,
      "member 'step': wrong type" },
    { K_ENROL_RESP, "exchangeID 64", "{\"exchangeID\":\"@\",\"step\":1,\"end\":true}", 64, NULL },
    { K_ENROL_RESP, "exchangeID 65", "{\"exchangeID\":\"@\",\"step\":1,\"end\":true}", 65,
      "member 'exchangeID': too long" },
    { K_ENROL_RESP, "exchangeID empty", "{\"exchangeID\":\"\",\"step\":1,\"end\":true}", 0,
      "member 'exchangeID': empty" },
    { K_ENROL_RESP, "exchangeID number", "{\"exchangeID\":7,\"step\":1,\"end\":true}", 0,
      "member 'exchangeID': wrong type" },
    { K_ENROL_RESP, "exchangeID invalid UTF-8",
      "{\"exchangeID\":\"\xc3\x28\",\"step\":1,\"end\":true}", 0, "invalid JSON" },
    { K_ENROL_RESP, "keID without keExpiry",
      "{\"exchangeID\":\"x\",\"step\":1,\"end\":true,\"keID\":\"k@m\"}", 0,
      "member 'keExpiry': missing" },
    { K_ENROL_RESP, "keExpiry without keID",
      "{\"exchangeID\":\"x\",\"step\":1,\"end\":true,\"keExpiry\":\"20300101T000000\"}", 0,
      "member 'keID': missing" },
    { K_ENROL_RESP, "keExpiry not a timestamp",
      "{\"exchangeID\":\"x\",\"step\":1,\"end\":true,\"keID\":\"k@m\",\"keExpiry\":\"2030-01-01\"}",
      0, "member 'keExpiry': not an m2m:timestamp" },
    { K_ENROL_RESP, "keExpiry number",
      "{\"exchangeID\":\"x\",\"step\":1,\"end\":true,\"keID\":\"k@m\",\"keExpiry\":1893456000}", 0,
      "member 'keExpiry': wrong type" },
    { K_ENROL_RESP, "keExpiry month 13",
      "{\"exchangeID\":\"x\",\"step\":1,\"end\":true,\"keID\":\"k@m\","
      "\"keExpiry\":\"20301301T000000\"}",
      0, "member 'keExpiry'" },
    { K_ENROL_RESP, "keID 286",
      "{\"exchangeID\":\"x\",\"step\":1,\"end\":true,\"keID\":\"@\","
      "\"keExpiry\":\"20300101T000000\"}",
      286, NULL },
    { K_ENROL_RESP, "keID 287",
      "{\"exchangeID\":\"x\",\"step\":1,\"end\":true,\"keID\":\"@\","
      "\"keExpiry\":\"20300101T000000\"}",
      287, "member 'keID': too long" },
    { K_ENROL_RESP, "enroleeID 513",
      "{\"exchangeID\":\"x\",\"step\":1,\"end\":true,\"enroleeID\":\"@\"}", 513,
      "member 'enroleeID': too long" },
    { K_ENROL_RESP, "end false", "{\"exchangeID\":\"x\",\"step\":1,\"end\":false}", 0,
      "member 'end': must be true" },
    { K_ENROL_RESP, "end string", "{\"exchangeID\":\"x\",\"step\":1,\"end\":\"true\"}", 0,
      "member 'end': wrong type" },
    { K_ENROL_RESP, "neither end nor instruction", "{\"exchangeID\":\"x\",\"step\":1}", 0,
      "member 'instruction': missing" },
    { K_ENROL_RESP, "end and instruction",
      "{\"exchangeID\":\"x\",\"step\":1,\"end\":true,\"instruction\":{\"type\":"
      "\"remoteManagement\",\"uri\":\"https://d\"}}",
      0, "member 'instruction': not allowed with end" },
    { K_ENROL_RESP, "instruction array", RESP_HEAD "[]}", 0, "member 'instruction': wrong type" },
    { K_ENROL_RESP, "unknown top-level",
      "{\"exchangeID\":\"x\",\"step\":1,\"end\":true,\"uri\":\"https://d\"}", 0,
      "member 'uri': unknown" },

    /* enrol_resp: instructions */
    { K_ENROL_RESP, "no type", RESP_HEAD "{\"uri\":\"https://d\"}}", 0, "member 'type': missing" },
    { K_ENROL_RESP, "unknown type", RESP_HEAD "{\"type\":\"mafenrolment\"}}", 0,
      "member 'type': unknown instruction type" },
    { K_ENROL_RESP, "type number", RESP_HEAD "{\"type\":1}}", 0, "member 'type': wrong type" },
    { K_ENROL_RESP, "cert ok",
      RESP_HEAD "{\"type\":\"certificateEnrolment\",\"uri\":\"http://c\"}}", 0, NULL },
    { K_ENROL_RESP, "cert without uri", RESP_HEAD "{\"type\":\"certificateEnrolment\"}}", 0,
      "member 'instruction': member 'uri': missing" },
    { K_ENROL_RESP, "cert with credentialType",
      RESP_HEAD "{\"type\":\"certificateEnrolment\",\"uri\":\"https://c\","
                "\"credentialType\":\"certificate\"}}",
      0, "member 'credentialType': not allowed in a certificateEnrolment instruction" },
    { K_ENROL_RESP, "cert with keyRetrievalURI",
      RESP_HEAD "{\"type\":\"certificateEnrolment\",\"uri\":\"https://c\","
                "\"keyRetrievalURI\":\"https://m\"}}",
      0, "member 'keyRetrievalURI': not allowed" },
    { K_ENROL_RESP, "rm with lifetime",
      RESP_HEAD "{\"type\":\"remoteManagement\",\"uri\":\"https://c\","
                "\"lifetime\":\"20300101T000000\"}}",
      0, "member 'lifetime': not allowed in a remoteManagement instruction" },
    { K_ENROL_RESP, "rm with trustAnchors",
      RESP_HEAD "{\"type\":\"remoteManagement\",\"uri\":\"https://c\",\"trustAnchors\":\"x\"}}", 0,
      "member 'trustAnchors': not allowed" },
    { K_ENROL_RESP, "rm unknown member",
      RESP_HEAD "{\"type\":\"remoteManagement\",\"uri\":\"https://c\",\"zzz\":1}}", 0,
      "member 'instruction': member 'zzz': unknown" },
    { K_ENROL_RESP, "uri ftp", RESP_HEAD "{\"type\":\"remoteManagement\",\"uri\":\"ftp://c\"}}", 0,
      "member 'uri': not an http" },
    { K_ENROL_RESP, "uri relative", RESP_HEAD "{\"type\":\"remoteManagement\",\"uri\":\"/c\"}}", 0,
      "member 'uri': not an http" },
    { K_ENROL_RESP, "uri scheme only",
      RESP_HEAD "{\"type\":\"remoteManagement\",\"uri\":\"https://\"}}", 0,
      "member 'uri': not an http" },
    { K_ENROL_RESP, "uri with space",
      RESP_HEAD "{\"type\":\"remoteManagement\",\"uri\":\"https://c d\"}}", 0,
      "member 'uri': not an http" },
    { K_ENROL_RESP, "uri with newline",
      RESP_HEAD "{\"type\":\"remoteManagement\",\"uri\":\"https://c\\nd\"}}", 0,
      "member 'uri': not an http" },
    { K_ENROL_RESP, "uri uppercase scheme",
      RESP_HEAD "{\"type\":\"remoteManagement\",\"uri\":\"COAP://c\"}}", 0, NULL },
    { K_ENROL_RESP, "uri 1024", RESP_HEAD "{\"type\":\"remoteManagement\",\"uri\":\"https://@\"}}",
      1024 - 8, NULL },
    { K_ENROL_RESP, "uri 1025", RESP_HEAD "{\"type\":\"remoteManagement\",\"uri\":\"https://@\"}}",
      1025 - 8, "member 'uri': too long" },
    { K_ENROL_RESP, "maf ok", RESP_HEAD "{" MAF_BASE "}}", 0, NULL },
    { K_ENROL_RESP, "maf with uri", RESP_HEAD "{" MAF_BASE ",\"uri\":\"https://m\"}}", 0,
      "member 'uri': not allowed in a mafEnrolment instruction" },
    { K_ENROL_RESP, "maf without keyRetrievalURI",
      RESP_HEAD "{\"type\":\"mafEnrolment\",\"credentialType\":\"symmetricKey\","
                "\"keyRegistrationURI\":\"https://m/kr\"}}",
      0, "member 'keyRetrievalURI': missing" },
    { K_ENROL_RESP, "maf without credentialType",
      RESP_HEAD "{\"type\":\"mafEnrolment\",\"keyRegistrationURI\":\"https://m/kr\","
                "\"keyRetrievalURI\":\"https://m/kt\"}}",
      0, "member 'credentialType': missing" },
    { K_ENROL_RESP, "maf credentialType password",
      RESP_HEAD "{\"type\":\"mafEnrolment\",\"credentialType\":\"password\","
                "\"keyRegistrationURI\":\"https://m/kr\",\"keyRetrievalURI\":\"https://m/kt\"}}",
      0, "member 'credentialType': must be symmetricKey or certificate" },
    { K_ENROL_RESP, "maf bad keyRegistrationURI",
      RESP_HEAD "{\"type\":\"mafEnrolment\",\"credentialType\":\"symmetricKey\","
                "\"keyRegistrationURI\":\"mailto:x\",\"keyRetrievalURI\":\"https://m/kt\"}}",
      0, "member 'keyRegistrationURI': not an http" },
    { K_ENROL_RESP, "maf bad clientRegistrationURI",
      RESP_HEAD "{" MAF_BASE ",\"clientRegistrationURI\":\"\"}}", 0,
      "member 'clientRegistrationURI': empty" },
    { K_ENROL_RESP, "maf lifetime invalid",
      RESP_HEAD "{" MAF_BASE ",\"lifetime\":\"20300101T000000+01\"}}", 0,
      "member 'lifetime': not an m2m:timestamp" },
    { K_ENROL_RESP, "maf trustAnchors not PEM",
      RESP_HEAD "{" MAF_BASE ",\"trustAnchors\":\"MIIB\"}}", 0, "member 'trustAnchors': not PEM" },
    { K_ENROL_RESP, "maf trustAnchors control char",
      RESP_HEAD "{" MAF_BASE ",\"trustAnchors\":\"-----BEGIN X\\u0001\"}}", 0,
      "member 'trustAnchors': not PEM" },
    { K_ENROL_RESP, "maf trustAnchors 16384",
      RESP_HEAD "{" MAF_BASE ",\"trustAnchors\":\"-----BEGIN @\"}}", 16384 - 11, NULL },
    { K_ENROL_RESP, "maf trustAnchors 16385",
      RESP_HEAD "{" MAF_BASE ",\"trustAnchors\":\"-----BEGIN @\"}}", 16385 - 11,
      "member 'trustAnchors': too long" },
    { K_ENROL_RESP, "maf unknown member", RESP_HEAD "{" MAF_BASE ",\"keyID\":\"k\"}}", 0,
      "member 'keyID': unknown" },

    /* enrol_report */
    { K_REPORT, "missing result", "{\"step\":1}", 0, "member 'result': missing" },
    { K_REPORT, "missing step", "{\"result\":\"success\"}", 0, "member 'step': missing" },
    { K_REPORT, "result ok", "{\"step\":1,\"result\":\"ok\"}", 0,
      "member 'result': must be success or failure" },
    { K_REPORT, "result bool", "{\"step\":1,\"result\":true}", 0, "member 'result': wrong type" },
    { K_REPORT, "step 0", "{\"step\":0,\"result\":\"success\"}", 0, "member 'step': out of range" },
    { K_REPORT, "step 65", "{\"step\":65,\"result\":\"success\"}", 0,
      "member 'step': out of range" },
    { K_REPORT, "step huge", "{\"step\":9223372036854775807,\"result\":\"success\"}", 0,
      "member 'step': out of range" },
    { K_REPORT, "reason 256", "{\"step\":1,\"result\":\"failure\",\"reason\":\"@\"}", 256, NULL },
    { K_REPORT, "reason 257", "{\"step\":1,\"result\":\"failure\",\"reason\":\"@\"}", 257,
      "member 'reason': too long" },
    { K_REPORT, "reason object", "{\"step\":1,\"result\":\"failure\",\"reason\":{}}", 0,
      "member 'reason': wrong type" },
    { K_REPORT, "unknown", "{\"step\":1,\"result\":\"failure\",\"Reason\":\"x\"}", 0,
      "member 'Reason': unknown" },

    /* mefreg_req */
    { K_MEFREG_REQ, "minimal", "{" REQ_BASE "}", 0, NULL },
    { K_MEFREG_REQ, "no mefFQDN", "{\"adminFQDN\":\"a\",\"et\":\"20300101T000000\"}", 0,
      "member 'mefFQDN': missing" },
    { K_MEFREG_REQ, "no et", "{\"mefFQDN\":\"m\",\"adminFQDN\":\"a\"}", 0, "member 'et': missing" },
    { K_MEFREG_REQ, "no adminFQDN", "{\"mefFQDN\":\"m\",\"et\":\"20300101T000000\"}", 0,
      "member 'adminFQDN': missing" },
    { K_MEFREG_REQ, "mefFQDN 253",
      "{\"mefFQDN\":\"@\",\"adminFQDN\":\"a\",\"et\":\"20300101T000000\"}", 253, NULL },
    { K_MEFREG_REQ, "mefFQDN 254",
      "{\"mefFQDN\":\"@\",\"adminFQDN\":\"a\",\"et\":\"20300101T000000\"}", 254,
      "member 'mefFQDN': too long" },
    { K_MEFREG_REQ, "adminFQDN with space",
      "{\"mefFQDN\":\"m\",\"adminFQDN\":\"a b\",\"et\":\"20300101T000000\"}", 0,
      "member 'adminFQDN': not a host name" },
    { K_MEFREG_REQ, "et number", "{\"mefFQDN\":\"m\",\"adminFQDN\":\"a\",\"et\":1893456000}", 0,
      "member 'et': wrong type" },
    { K_MEFREG_REQ, "et with fraction",
      "{\"mefFQDN\":\"m\",\"adminFQDN\":\"a\",\"et\":\"20300101T000000,5\"}", 0, NULL },
    { K_MEFREG_REQ, "et 31 February",
      "{\"mefFQDN\":\"m\",\"adminFQDN\":\"a\",\"et\":\"20300231T000000\"}", 0,
      "member 'et': not an m2m:timestamp" },
    { K_MEFREG_REQ, "lbl string", "{" REQ_BASE ",\"lbl\":\"a\"}", 0, "member 'lbl': wrong type" },
    { K_MEFREG_REQ, "lbl 16", "{" REQ_BASE ",\"lbl\":[" L16 "]}", 0, NULL },
    { K_MEFREG_REQ, "lbl 17", "{" REQ_BASE ",\"lbl\":[" L16 ",\"t\"]}", 0,
      "member 'lbl': too many items" },
    { K_MEFREG_REQ, "lbl empty item", "{" REQ_BASE ",\"lbl\":[\"a\",\"\"]}", 0,
      "member 'lbl': item 1: empty" },
    { K_MEFREG_REQ, "lbl number item", "{" REQ_BASE ",\"lbl\":[1]}", 0,
      "member 'lbl': item 0: wrong type" },
    { K_MEFREG_REQ, "lbl 512", "{" REQ_BASE ",\"lbl\":[\"@\"]}", 512, NULL },
    { K_MEFREG_REQ, "lbl 513", "{" REQ_BASE ",\"lbl\":[\"@\"]}", 513,
      "member 'lbl': item 0: too long" },
    { K_MEFREG_REQ, "lbl nested", "{" REQ_BASE ",\"lbl\":[[\"a\"]]}", 0,
      "member 'lbl': item 0: wrong type" },
    { K_MEFREG_REQ, "unknown", "{" REQ_BASE ",\"regID\":\"r\"}", 0, "member 'regID': unknown" },

    /* mefreg_resp */
    { K_MEFREG_RESP, "no regID",
      "{\"adminFQDN\":\"a\",\"clientID\":\"C\",\"et\":\"20300101T000000\"}", 0,
      "member 'regID': missing" },
    { K_MEFREG_RESP, "no clientID",
      "{\"adminFQDN\":\"a\",\"regID\":\"r\",\"et\":\"20300101T000000\"}", 0,
      "member 'clientID': missing" },
    { K_MEFREG_RESP, "regID 65",
      "{\"adminFQDN\":\"a\",\"clientID\":\"C\",\"et\":\"20300101T000000\",\"regID\":\"@\"}", 65,
      "member 'regID': too long" },
    { K_MEFREG_RESP, "clientID 513",
      "{\"adminFQDN\":\"a\",\"clientID\":\"@\",\"et\":\"20300101T000000\",\"regID\":\"r\"}", 513,
      "member 'clientID': too long" },
    { K_MEFREG_RESP, "et array",
      "{\"adminFQDN\":\"a\",\"clientID\":\"C\",\"et\":[],\"regID\":\"r\"}", 0,
      "member 'et': wrong type" },
    { K_MEFREG_RESP, "with lbl",
      "{\"adminFQDN\":\"a\",\"clientID\":\"C\",\"et\":\"20300101T000000\",\"regID\":\"r\","
      "\"lbl\":[\"x\"]}",
      0, NULL },
    { K_MEFREG_RESP, "mefFQDN in response",
      "{\"adminFQDN\":\"a\",\"clientID\":\"C\",\"et\":\"20300101T000000\",\"regID\":\"r\","
      "\"mefFQDN\":\"m\"}",
      0, "member 'mefFQDN': unknown" },

    /* mefreg_update */
    { K_UPDATE_REQ, "nothing to update", "{\"mefFQDN\":\"m\"}", 0, "nothing to update" },
    { K_UPDATE_REQ, "no mefFQDN", "{\"et\":\"20300101T000000\"}", 0, "member 'mefFQDN': missing" },
    { K_UPDATE_REQ, "lbl only", "{\"mefFQDN\":\"m\",\"lbl\":[\"a\"]}", 0, NULL },
    { K_UPDATE_REQ, "et bool", "{\"mefFQDN\":\"m\",\"et\":true}", 0, "member 'et': wrong type" },
    { K_UPDATE_REQ, "lbl 17", "{\"mefFQDN\":\"m\",\"lbl\":[" L16 ",\"t\"]}", 0,
      "member 'lbl': too many items" },
    { K_UPDATE_REQ, "unknown", "{\"mefFQDN\":\"m\",\"et\":\"20300101T000000\",\"regID\":\"r\"}", 0,
      "member 'regID': unknown" },
    { K_UPDATE_RESP, "mefFQDN in response", "{\"mefFQDN\":\"m\",\"et\":\"20300101T000000\"}", 0,
      "member 'mefFQDN': not allowed in a response" },
    { K_UPDATE_RESP, "et invalid", "{\"et\":\"20300101\"}", 0,
      "member 'et': not an m2m:timestamp" },
    { K_UPDATE_RESP, "et 33 chars", "{\"et\":\"20300101T000000,@\"}", 17, "member 'et': too long" },
    { K_UPDATE_RESP, "unknown", "{\"adminFQDN\":\"a\"}", 0, "member 'adminFQDN': unknown" },

    /* mefreg_cfg */
    { K_CFG, "no mefClientCfg", "{}", 0, "member 'mefClientCfg': missing" },
    { K_CFG, "mefClientCfg string", "{\"mefClientCfg\":\"x\"}", 0,
      "member 'mefClientCfg': wrong type" },
    { K_CFG, "unknown outer", "{\"mefClientCfg\":{" CFG_BASE ",\"httpPort\":1},\"x\":1}", 0,
      "member 'x': unknown" },
    { K_CFG, "port 1", "{\"mefClientCfg\":{" CFG_BASE ",\"httpPort\":1}}", 0, NULL },
    { K_CFG, "port 0", "{\"mefClientCfg\":{" CFG_BASE ",\"httpPort\":0}}", 0,
      "member 'mefClientCfg': member 'httpPort': out of range" },
    { K_CFG, "port 65536", "{\"mefClientCfg\":{" CFG_BASE ",\"httpPort\":65536}}", 0,
      "member 'httpPort': out of range" },
    { K_CFG, "port string", "{\"mefClientCfg\":{" CFG_BASE ",\"httpPort\":\"443\"}}", 0,
      "member 'httpPort': wrong type" },
    { K_CFG, "no port", "{\"mefClientCfg\":{" CFG_BASE "}}", 0, "member 'httpPort': missing" },
    { K_CFG, "expiry 0",
      "{\"mefClientCfg\":{\"fqdn\":\"m\",\"adminFQDN\":\"a\",\"et\":\"20300101T000000\","
      "\"enrolmentTargets\":[],\"enrolmentExpiry\":0,\"httpPort\":1}}",
      0, "member 'enrolmentExpiry': out of range" },
    { K_CFG, "expiry 2^32",
      "{\"mefClientCfg\":{\"fqdn\":\"m\",\"adminFQDN\":\"a\",\"et\":\"20300101T000000\","
      "\"enrolmentTargets\":[],\"enrolmentExpiry\":4294967296,\"httpPort\":1}}",
      0, "member 'enrolmentExpiry': out of range" },
    { K_CFG, "no targets",
      "{\"mefClientCfg\":{\"fqdn\":\"m\",\"adminFQDN\":\"a\",\"et\":\"20300101T000000\","
      "\"enrolmentExpiry\":1,\"httpPort\":1}}",
      0, "member 'enrolmentTargets': missing" },
    { K_CFG, "targets 32",
      "{\"mefClientCfg\":{\"fqdn\":\"m\",\"adminFQDN\":\"a\",\"et\":\"20300101T000000\","
      "\"enrolmentExpiry\":1,\"httpPort\":1,\"enrolmentTargets\":[" L16 "," L16 "]}}",
      0, NULL },
    { K_CFG, "targets 33",
      "{\"mefClientCfg\":{\"fqdn\":\"m\",\"adminFQDN\":\"a\",\"et\":\"20300101T000000\","
      "\"enrolmentExpiry\":1,\"httpPort\":1,\"enrolmentTargets\":[" L16 "," L16 ",\"t\"]}}",
      0, "member 'enrolmentTargets': too many items" },
    { K_CFG, "fqdn 254",
      "{\"mefClientCfg\":{\"fqdn\":\"@\",\"adminFQDN\":\"a\",\"et\":\"20300101T000000\","
      "\"enrolmentTargets\":[],\"enrolmentExpiry\":1,\"httpPort\":1}}",
      254, "member 'fqdn': too long" },
    { K_CFG, "unknown inner", "{\"mefClientCfg\":{" CFG_BASE ",\"httpPort\":1,\"zzz\":1}}", 0,
      "member 'mefClientCfg': member 'zzz': unknown" },

    /* enrolee_policy */
    { K_POLICY, "maf only", "{\"mafURIs\":[\"https://a\",\"coap://b\"]}", 0, NULL },
    { K_POLICY, "maf 9",
      "{\"mafURIs\":[\"https://a\",\"https://a\",\"https://a\",\"https://a\",\"https://a\","
      "\"https://a\",\"https://a\",\"https://a\",\"https://a\"]}",
      0, "member 'mafURIs': too many items" },
    { K_POLICY, "maf bad uri", "{\"mafURIs\":[\"https://a\",\"file:///etc/passwd\"]}", 0,
      "member 'mafURIs': item is not an http" },
    { K_POLICY, "maf string", "{\"mafURIs\":\"https://a\"}", 0, "member 'mafURIs': wrong type" },
    { K_POLICY, "cert bad uri", "{\"certificateEnrolmentURI\":\"est.example.com\"}", 0,
      "member 'certificateEnrolmentURI': not an http" },
    { K_POLICY, "rm too long", "{\"remoteManagementURI\":\"coap://@\"}", 1025 - 7,
      "member 'remoteManagementURI': too long" },
    { K_POLICY, "unknown", "{\"mafURI\":\"https://a\"}", 0, "member 'mafURI': unknown" },

    /* dbg */
    { K_DBG, "missing", "{}", 0, "member 'm2m:dbg': missing" },
    { K_DBG, "number", "{\"m2m:dbg\":4000}", 0, "member 'm2m:dbg': wrong type" },
    { K_DBG, "empty", "{\"m2m:dbg\":\"\"}", 0, "member 'm2m:dbg': empty" },
    { K_DBG, "1024", "{\"m2m:dbg\":\"@\"}", 1024, NULL },
    { K_DBG, "1025", "{\"m2m:dbg\":\"@\"}", 1025, "member 'm2m:dbg': too long" },
    { K_DBG, "unknown", "{\"m2m:dbg\":\"x\",\"m2m:rsc\":4000}", 0, "member 'm2m:rsc': unknown" },

    /* fetchCredentials response (TS-0003 tables 8.3.2.1-5 / -6) */
    { K_FETCH, "no Status", "{\"ErrorString\":\"x\"}", 0, "member 'Status': missing" },
    { K_FETCH, "Status string", "{\"Status\":\"false\",\"ErrorString\":\"x\"}", 0,
      "member 'Status': wrong type" },
    { K_FETCH, "Status null", "{\"Status\":null,\"ErrorString\":\"x\"}", 0,
      "member 'Status': wrong type" },
    { K_FETCH, "Status 1", "{\"Status\":1,\"ErrorString\":\"x\"}", 0,
      "member 'Status': wrong type" },
    { K_FETCH, "status lowercase", "{\"status\":false,\"ErrorString\":\"x\"}", 0,
      "member 'Status': missing" },
    { K_FETCH, "failure without ErrorString", "{\"Status\":false}", 0,
      "member 'ErrorString': missing" },
    { K_FETCH, "ErrorString empty", "{\"Status\":false,\"ErrorString\":\"\"}", 0,
      "member 'ErrorString': empty" },
    { K_FETCH, "ErrorString number", "{\"Status\":false,\"ErrorString\":4103}", 0,
      "member 'ErrorString': wrong type" },
    { K_FETCH, "ErrorString 1024", "{\"Status\":false,\"ErrorString\":\"@\"}", 1024, NULL },
    { K_FETCH, "ErrorString 1025", "{\"Status\":false,\"ErrorString\":\"@\"}", 1025,
      "member 'ErrorString': too long" },
    { K_FETCH, "failure with Credential",
      "{\"Status\":false,\"ErrorString\":\"x\",\"Credential\":\"" B64_16 "\"}", 0,
      "member 'Credential': not allowed in a failure response" },
    { K_FETCH, "failure with Lifetime",
      "{\"Status\":false,\"ErrorString\":\"x\",\"Lifetime\":\"20300101T000000\"}", 0,
      "member 'Lifetime': not allowed in a failure response" },
    { K_FETCH, "success with ErrorString",
      "{\"Status\":true,\"Credential\":\"" B64_16 "\"," FETCH_OK_REST ",\"ErrorString\":\"x\"}", 0,
      "member 'ErrorString': not allowed in a success response" },
    { K_FETCH, "success without Credential", "{\"Status\":true," FETCH_OK_REST "}", 0,
      "member 'Credential': missing" },
    { K_FETCH, "success without EnroleeID",
      "{\"Status\":true,\"Credential\":\"" B64_16 "\",\"Lifetime\":\"20300101T000000\"}", 0,
      "member 'EnroleeID': missing" },
    { K_FETCH, "success without Lifetime",
      "{\"Status\":true,\"Credential\":\"" B64_16 "\",\"EnroleeID\":\"e\"}", 0,
      "member 'Lifetime': missing" },
    { K_FETCH, "Lifetime with zone",
      "{\"Status\":true,\"Credential\":\"" B64_16 "\",\"EnroleeID\":\"e\",\"Lifetime\":"
      "\"20300101T000000+01\"}",
      0, "member 'Lifetime'" },
    { K_FETCH, "Lifetime number",
      "{\"Status\":true,\"Credential\":\"" B64_16 "\",\"EnroleeID\":\"e\",\"Lifetime\":1}", 0,
      "member 'Lifetime': wrong type" },
    { K_FETCH, "EnroleeID 512",
      "{\"Status\":true,\"Credential\":\"" B64_16 "\",\"EnroleeID\":"
      "\"@\",\"Lifetime\":\"20300101T000000\"}",
      512, NULL },
    { K_FETCH, "EnroleeID 513",
      "{\"Status\":true,\"Credential\":\"" B64_16 "\",\"EnroleeID\":"
      "\"@\",\"Lifetime\":\"20300101T000000\"}",
      513, "member 'EnroleeID': too long" },
    { K_FETCH, "Credential 16 bytes",
      "{\"Status\":true,\"Credential\":\"" B64_16 "\"," FETCH_OK_REST "}", 0, NULL },
    { K_FETCH, "Credential 64 bytes",
      "{\"Status\":true,\"Credential\":\"" B64_64 "\"," FETCH_OK_REST "}", 0, NULL },
    { K_FETCH, "Credential 15 bytes",
      "{\"Status\":true,\"Credential\":\"AAECAwQFBgcICQoLDA0O\"," FETCH_OK_REST "}", 0,
      "member 'Credential': 15 bytes, expected 16 to 64" },
    { K_FETCH, "Credential 65 bytes",
      "{\"Status\":true,\"Credential\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUm"
      "JygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A=\"," FETCH_OK_REST "}",
      0, "member 'Credential': 65 bytes" },
    { K_FETCH, "Credential 66 bytes", "{\"Status\":true,\"Credential\":\"@\"," FETCH_OK_REST "}",
      88, "member 'Credential': 66 bytes" },
    { K_FETCH, "Credential 63 bytes", "{\"Status\":true,\"Credential\":\"@\"," FETCH_OK_REST "}",
      84, NULL },
    { K_FETCH, "Credential 92 characters",
      "{\"Status\":true,\"Credential\":\"@\"," FETCH_OK_REST "}", 92,
      "member 'Credential': too long" },
    { K_FETCH, "Credential unpadded",
      "{\"Status\":true,\"Credential\":\"AAECAwQFBgcICQoLDA0ODw\"," FETCH_OK_REST "}", 0,
      "member 'Credential': not canonical base64" },
    { K_FETCH, "Credential stray bits",
      "{\"Status\":true,\"Credential\":\"AAECAwQFBgcICQoLDA0ODx==\"," FETCH_OK_REST "}", 0,
      "member 'Credential': not canonical base64" },
    { K_FETCH, "Credential base64url",
      "{\"Status\":true,\"Credential\":\"AAECAwQFBgcICQoLDA0-_w==\"," FETCH_OK_REST "}", 0,
      "member 'Credential': not canonical base64" },
    { K_FETCH, "Credential with space",
      "{\"Status\":true,\"Credential\":\"AAECAwQF gcICQoLDA0ODw==\"," FETCH_OK_REST "}", 0,
      "member 'Credential': not canonical base64" },
    { K_FETCH, "Credential empty", "{\"Status\":true,\"Credential\":\"\"," FETCH_OK_REST "}", 0,
      "member 'Credential': empty" },
    { K_FETCH, "Credential array", "{\"Status\":true,\"Credential\":[1]," FETCH_OK_REST "}", 0,
      "member 'Credential': wrong type" },
    { K_FETCH, "unknown", "{\"Status\":false,\"ErrorString\":\"x\",\"RSC\":4103}", 0,
      "member 'RSC': unknown" },
};

/* json with '@' replaced by fill copies of 'a'. */
static char *
expand(const char *json, size_t fill)
{
    const char *at = strchr(json, '@');
    size_t n = strlen(json);
    char *s;

    if (fill == 0 || at == NULL) {
        s = strdup(json);
        assert_non_null(s);
        return s;
    }
    s = malloc(n - 1 + fill + 1);
    assert_non_null(s);
    memcpy(s, json, (size_t)(at - json));
    memset(s + (at - json), 'a', fill);
    memcpy(s + (at - json) + fill, at + 1, n - (size_t)(at - json) - 1);
    s[n - 1 + fill] = '\0';
    return s;
}

static void
test_message_cases(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        char *s = expand(cases[i].json, cases[i].fill);

        if (cases[i].want == NULL) {
            expect_accept(cases[i].kind, cases[i].name, s, strlen(s));
        } else {
            expect_reject(cases[i].kind, cases[i].name, s, strlen(s), cases[i].want);
        }
        free(s);
    }
}

/* Error messages quote attacker-chosen member names: only printable ASCII, bounded. */
static void
test_error_message_sanitised(void **state)
{
    static const char json[] =
            "{\"certEnrolmentInd\":true,\"mafEnrolmentInd\":true,\"remoteMgmtInd\":true,"
            "\"a\\nb\\u001b[31m\\u00e9\":1}";
    struct m2msec_error err = { 0 };
    struct m2msec_enrol_req m;
    size_t i;

    (void)state;
    assert_int_equal(m2msec_enrol_req_decode((const uint8_t *)json, sizeof(json) - 1, &m, &err),
                     -1);
    assert_contains(err.msg, "member 'a?b?[31m?"
                             "?': unknown");
    for (i = 0; err.msg[i] != '\0'; i++) {
        assert_true(err.msg[i] >= 0x20 && err.msg[i] <= 0x7e);
    }
}

/*
 * Struct round trips: decode(encode(x)) == x.
 */

static void
roundtrip(enum kind k, const union any_msg *in, union any_msg *out)
{
    struct m2msec_error err = { 0 };
    struct m2msec_buf buf;

    m2msec_buf_init(&buf, 1 << 20);
    if (encode_kind(k, in, &buf, &err) != 0) {
        print_error("encode: %s\n", err.msg);
        fail();
    }
    memset(out, 0, sizeof(*out));
    if (decode_kind(k, (const char *)buf.data, buf.len, out, &err) != 0) {
        print_error("decode: %s (%s)\n", err.msg, (const char *)buf.data);
        fail();
    }
    m2msec_buf_free(&buf);
}

static void
assert_str_eq_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        assert_ptr_equal(a, b);
        return;
    }
    assert_string_equal(a, b);
}

static void
assert_list_eq(char **a, size_t na, char **b, size_t nb)
{
    size_t i;

    assert_int_equal(na, nb);
    for (i = 0; i < na; i++) {
        assert_string_equal(a[i], b[i]);
    }
    if (b != NULL) {
        assert_null(b[nb]);
    }
}

static void
test_roundtrip_enrol(void **state)
{
    static char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    static char xid[] = "ex-1";
    static char keid[] = "00112233445566778899aabbccddeeff@mef.example.com";
    static char enrolee[] = "C-enrolee-\xc3\xa9"; /* UTF-8 survives */
    static char ct[] = "symmetricKey";
    static char kr[] = "https://maf.example.com/kr";
    static char kt[] = "https://maf.example.com/kt";
    static char cr[] = "coaps://maf.example.com/reg";
    static char uri[] = "https://ca.example.com/est";
    static char reason[] = "MAF refused: \"quoted\" \\ and\nnewline";
    union any_msg in;
    union any_msg out;
    int f;

    (void)state;
    for (f = 0; f < 8; f++) {
        memset(&in, 0, sizeof(in));
        in.enrol_req.cert_enrolment = (f & 1) != 0;
        in.enrol_req.maf_enrolment = (f & 2) != 0;
        in.enrol_req.remote_mgmt = (f & 4) != 0;
        roundtrip(K_ENROL_REQ, &in, &out);
        assert_memory_equal(&in.enrol_req, &out.enrol_req, sizeof(in.enrol_req));
    }

    /* First response with a full MAF instruction. */
    memset(&in, 0, sizeof(in));
    in.enrol_resp.exchange_id = xid;
    in.enrol_resp.step = 1;
    in.enrol_resp.keid = keid;
    in.enrol_resp.ke_expires = T2030;
    in.enrol_resp.enrolee_id = enrolee;
    in.enrol_resp.instr.type = M2MSEC_INSTR_MAF_ENROLMENT;
    in.enrol_resp.instr.credential_type = ct;
    in.enrol_resp.instr.key_reg_uri = kr;
    in.enrol_resp.instr.key_ret_uri = kt;
    in.enrol_resp.instr.client_reg_uri = cr;
    in.enrol_resp.instr.trust_anchors = pem;
    in.enrol_resp.instr.lifetime = T2030 + 59;
    roundtrip(K_ENROL_RESP, &in, &out);
    assert_string_equal(out.enrol_resp.exchange_id, xid);
    assert_int_equal(out.enrol_resp.step, 1);
    assert_string_equal(out.enrol_resp.keid, keid);
    assert_int_equal(out.enrol_resp.ke_expires, T2030);
    assert_string_equal(out.enrol_resp.enrolee_id, enrolee);
    assert_int_equal(out.enrol_resp.end, 0);
    assert_int_equal(out.enrol_resp.instr.type, M2MSEC_INSTR_MAF_ENROLMENT);
    assert_null(out.enrol_resp.instr.uri);
    assert_string_equal(out.enrol_resp.instr.credential_type, ct);
    assert_string_equal(out.enrol_resp.instr.key_reg_uri, kr);
    assert_string_equal(out.enrol_resp.instr.key_ret_uri, kt);
    assert_string_equal(out.enrol_resp.instr.client_reg_uri, cr);
    assert_string_equal(out.enrol_resp.instr.trust_anchors, pem);
    assert_int_equal(out.enrol_resp.instr.lifetime, T2030 + 59);
    clear_kind(K_ENROL_RESP, &out);

    /* Later responses: certificate, remote management, end. */
    memset(&in, 0, sizeof(in));
    in.enrol_resp.exchange_id = xid;
    in.enrol_resp.step = 2;
    in.enrol_resp.instr.type = M2MSEC_INSTR_CERT_ENROLMENT;
    in.enrol_resp.instr.uri = uri;
    roundtrip(K_ENROL_RESP, &in, &out);
    assert_null(out.enrol_resp.keid);
    assert_int_equal(out.enrol_resp.ke_expires, 0);
    assert_null(out.enrol_resp.enrolee_id);
    assert_int_equal(out.enrol_resp.instr.type, M2MSEC_INSTR_CERT_ENROLMENT);
    assert_string_equal(out.enrol_resp.instr.uri, uri);
    assert_null(out.enrol_resp.instr.key_reg_uri);
    assert_int_equal(out.enrol_resp.instr.lifetime, 0);
    clear_kind(K_ENROL_RESP, &out);

    in.enrol_resp.step = 64;
    in.enrol_resp.instr.type = M2MSEC_INSTR_REMOTE_MGMT;
    roundtrip(K_ENROL_RESP, &in, &out);
    assert_int_equal(out.enrol_resp.step, 64);
    assert_int_equal(out.enrol_resp.instr.type, M2MSEC_INSTR_REMOTE_MGMT);
    assert_string_equal(out.enrol_resp.instr.uri, uri);
    clear_kind(K_ENROL_RESP, &out);

    memset(&in, 0, sizeof(in));
    in.enrol_resp.exchange_id = xid;
    in.enrol_resp.step = 3;
    in.enrol_resp.end = 1;
    roundtrip(K_ENROL_RESP, &in, &out);
    assert_int_equal(out.enrol_resp.end, 1);
    assert_int_equal(out.enrol_resp.step, 3);
    assert_int_equal(out.enrol_resp.instr.type, M2MSEC_INSTR_NONE);
    clear_kind(K_ENROL_RESP, &out);

    /* Reports, with and without a reason that needs escaping. */
    memset(&in, 0, sizeof(in));
    in.report.step = 7;
    in.report.success = 0;
    in.report.reason = reason;
    roundtrip(K_REPORT, &in, &out);
    assert_int_equal(out.report.step, 7);
    assert_int_equal(out.report.success, 0);
    assert_string_equal(out.report.reason, reason);
    clear_kind(K_REPORT, &out);
    in.report.success = 1;
    in.report.reason = NULL;
    roundtrip(K_REPORT, &in, &out);
    assert_int_equal(out.report.success, 1);
    assert_null(out.report.reason);
    clear_kind(K_REPORT, &out);

    assert_string_equal(m2msec_instr_type_name(M2MSEC_INSTR_CERT_ENROLMENT),
                        "certificateEnrolment");
    assert_string_equal(m2msec_instr_type_name(M2MSEC_INSTR_MAF_ENROLMENT), "mafEnrolment");
    assert_string_equal(m2msec_instr_type_name(M2MSEC_INSTR_REMOTE_MGMT), "remoteManagement");
    assert_null(m2msec_instr_type_name(M2MSEC_INSTR_NONE));
}

static void
test_roundtrip_mefreg(void **state)
{
    static char mef[] = "mef.example.com";
    static char admin[] = "admin.example.com";
    static char l1[] = "label one";
    static char l2[] = "l\xc3\xa9";
    static char *lbl[] = { l1, l2, NULL };
    static char reg[] = "reg-0001";
    static char client[] = "C-enrolee-1";
    static char t1[] = "maf-1";
    static char *targets[] = { t1, NULL };
    union any_msg in;
    union any_msg out;

    (void)state;
    memset(&in, 0, sizeof(in));
    in.mefreg_req.mef_fqdn = mef;
    in.mefreg_req.et = T2030;
    in.mefreg_req.lbl = lbl;
    in.mefreg_req.nlbl = 2;
    in.mefreg_req.has_lbl = 1;
    in.mefreg_req.admin_fqdn = admin;
    roundtrip(K_MEFREG_REQ, &in, &out);
    assert_string_equal(out.mefreg_req.mef_fqdn, mef);
    assert_int_equal(out.mefreg_req.et, T2030);
    assert_int_equal(out.mefreg_req.has_lbl, 1);
    assert_list_eq(lbl, 2, out.mefreg_req.lbl, out.mefreg_req.nlbl);
    assert_string_equal(out.mefreg_req.admin_fqdn, admin);
    clear_kind(K_MEFREG_REQ, &out);
    in.mefreg_req.has_lbl = 0;
    roundtrip(K_MEFREG_REQ, &in, &out);
    assert_int_equal(out.mefreg_req.has_lbl, 0);
    assert_null(out.mefreg_req.lbl);
    clear_kind(K_MEFREG_REQ, &out);

    memset(&in, 0, sizeof(in));
    in.mefreg_resp.reg_id = reg;
    in.mefreg_resp.lbl = lbl;
    in.mefreg_resp.nlbl = 1;
    in.mefreg_resp.has_lbl = 1;
    in.mefreg_resp.et = T2030 + 1;
    in.mefreg_resp.client_id = client;
    in.mefreg_resp.admin_fqdn = admin;
    roundtrip(K_MEFREG_RESP, &in, &out);
    assert_string_equal(out.mefreg_resp.reg_id, reg);
    assert_list_eq(lbl, 1, out.mefreg_resp.lbl, out.mefreg_resp.nlbl);
    assert_int_equal(out.mefreg_resp.et, T2030 + 1);
    assert_string_equal(out.mefreg_resp.client_id, client);
    assert_string_equal(out.mefreg_resp.admin_fqdn, admin);
    clear_kind(K_MEFREG_RESP, &out);

    /* Update request with both members, with labels cleared, and the response. */
    memset(&in, 0, sizeof(in));
    in.update.mef_fqdn = mef;
    in.update.et = T2030;
    in.update.has_et = 1;
    in.update.lbl = lbl;
    in.update.nlbl = 2;
    in.update.has_lbl = 1;
    roundtrip(K_UPDATE_REQ, &in, &out);
    assert_string_equal(out.update.mef_fqdn, mef);
    assert_int_equal(out.update.has_et, 1);
    assert_int_equal(out.update.et, T2030);
    assert_list_eq(lbl, 2, out.update.lbl, out.update.nlbl);
    clear_kind(K_UPDATE_REQ, &out);
    in.update.has_et = 0;
    in.update.lbl = NULL;
    in.update.nlbl = 0;
    roundtrip(K_UPDATE_REQ, &in, &out);
    assert_int_equal(out.update.has_et, 0);
    assert_int_equal(out.update.has_lbl, 1);
    assert_int_equal(out.update.nlbl, 0);
    assert_non_null(out.update.lbl);
    assert_null(out.update.lbl[0]);
    clear_kind(K_UPDATE_REQ, &out);
    in.update.mef_fqdn = NULL;
    in.update.has_lbl = 0;
    in.update.has_et = 1;
    roundtrip(K_UPDATE_RESP, &in, &out);
    assert_null(out.update.mef_fqdn);
    assert_int_equal(out.update.has_et, 1);
    assert_int_equal(out.update.has_lbl, 0);
    clear_kind(K_UPDATE_RESP, &out);

    memset(&in, 0, sizeof(in));
    in.cfg.fqdn = mef;
    in.cfg.admin_fqdn = admin;
    in.cfg.http_port = 443;
    in.cfg.et = T2030;
    in.cfg.lbl = lbl;
    in.cfg.nlbl = 2;
    in.cfg.has_lbl = 1;
    in.cfg.targets = targets;
    in.cfg.ntargets = 1;
    in.cfg.enrolment_expiry = 3600;
    roundtrip(K_CFG, &in, &out);
    assert_string_equal(out.cfg.fqdn, mef);
    assert_string_equal(out.cfg.admin_fqdn, admin);
    assert_int_equal(out.cfg.http_port, 443);
    assert_int_equal(out.cfg.et, T2030);
    assert_list_eq(lbl, 2, out.cfg.lbl, out.cfg.nlbl);
    assert_list_eq(targets, 1, out.cfg.targets, out.cfg.ntargets);
    assert_int_equal(out.cfg.enrolment_expiry, 3600);
    clear_kind(K_CFG, &out);
    /* No targets at all is an empty array on the wire. */
    in.cfg.targets = NULL;
    in.cfg.ntargets = 0;
    roundtrip(K_CFG, &in, &out);
    assert_int_equal(out.cfg.ntargets, 0);
    clear_kind(K_CFG, &out);
}

static void
test_roundtrip_policy_dbg(void **state)
{
    static char cert[] = "https://ca.example.com/est";
    static char m1[] = "https://maf1.example.com";
    static char m2[] = "coaps://maf2.example.com:5684/x";
    static char *mafs[] = { m1, m2, NULL };
    static char rm[] = "http://dm.example.com";
    static char msg[] = "member 'step': out of range \"x\"";
    union any_msg in;
    union any_msg out;

    (void)state;
    memset(&in, 0, sizeof(in));
    in.policy.cert_uri = cert;
    in.policy.maf_uris = mafs;
    in.policy.nmaf = 2;
    in.policy.rm_uri = rm;
    roundtrip(K_POLICY, &in, &out);
    assert_str_eq_null(out.policy.cert_uri, cert);
    assert_list_eq(mafs, 2, out.policy.maf_uris, out.policy.nmaf);
    assert_str_eq_null(out.policy.rm_uri, rm);
    clear_kind(K_POLICY, &out);

    memset(&in, 0, sizeof(in));
    roundtrip(K_POLICY, &in, &out);
    assert_null(out.policy.cert_uri);
    assert_null(out.policy.maf_uris);
    assert_int_equal(out.policy.nmaf, 0);
    assert_null(out.policy.rm_uri);
    clear_kind(K_POLICY, &out);

    in.dbg = msg;
    roundtrip(K_DBG, &in, &out);
    assert_string_equal(out.dbg, msg);
    clear_kind(K_DBG, &out);
}

static void
test_roundtrip_fetch(void **state)
{
    static char eid[] = "//sp.example/cse-1/Cae-1";
    static char msg[] = "unknown or expired KeID";
    union any_msg in;
    union any_msg out;
    uint8_t raw[64];
    size_t len;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(raw); i++) {
        raw[i] = (uint8_t)(0xff - i);
    }
    /* Every accepted key length survives the trip byte for byte. */
    for (len = M2MSEC_FETCH_CRED_MIN; len <= M2MSEC_FETCH_CRED_MAX; len++) {
        memset(&in, 0, sizeof(in));
        in.fetch.status = 1;
        in.fetch.credential = m2msec_secret_from(raw, len, NULL);
        assert_non_null(in.fetch.credential);
        in.fetch.enrolee_id = eid;
        in.fetch.lifetime = T2030 + 59;
        roundtrip(K_FETCH, &in, &out);
        assert_int_equal(out.fetch.status, 1);
        assert_true(m2msec_secret_equal(out.fetch.credential, in.fetch.credential));
        assert_string_equal(out.fetch.enrolee_id, eid);
        assert_int_equal(out.fetch.lifetime, T2030 + 59);
        assert_null(out.fetch.error_string);
        m2msec_secret_free(in.fetch.credential);
        clear_kind(K_FETCH, &out);
        assert_null(out.fetch.credential);
    }

    memset(&in, 0, sizeof(in));
    in.fetch.error_string = msg;
    roundtrip(K_FETCH, &in, &out);
    assert_int_equal(out.fetch.status, 0);
    assert_string_equal(out.fetch.error_string, msg);
    assert_null(out.fetch.credential);
    assert_null(out.fetch.enrolee_id);
    assert_int_equal(out.fetch.lifetime, 0);
    clear_kind(K_FETCH, &out);
    /* A failure ignores success members the caller left set: only ErrorString goes out. */
    in.fetch.enrolee_id = eid;
    in.fetch.lifetime = T2030;
    roundtrip(K_FETCH, &in, &out);
    assert_null(out.fetch.enrolee_id);
    clear_kind(K_FETCH, &out);
    m2msec_fetch_resp_clear(NULL);
}

/* What the decoder would refuse, the encoder refuses too, leaving out untouched. */
static void
test_encode_refusals(void **state)
{
    static char xid[] = "x";
    static char keid[] = "k@m";
    static char uri[] = "https://c";
    static char bad_uri[] = "ftp://c";
    static char mef[] = "m";
    static char admin[] = "a";
    static char bad_utf8[] = "a\xff";
    static char empty[] = "";
    static char *bad_lbl[] = { bad_utf8, NULL };
    struct m2msec_buf out;
    union any_msg u;
    size_t i;
    struct {
        enum kind kind;
        const char *name;
        const char *want;
    } refusals[24];
    union any_msg msgs[24];
    size_t n = 0;
    struct m2msec_secret *short_key = m2msec_secret_random(15, NULL);
    struct m2msec_secret *long_key = m2msec_secret_random(65, NULL);
    struct m2msec_secret *key = m2msec_secret_random(32, NULL);

    (void)state;
    assert_non_null(short_key);
    assert_non_null(long_key);
    assert_non_null(key);
    memset(msgs, 0, sizeof(msgs));
#define REFUSE(k, nm, w)         \
    do {                         \
        refusals[n].kind = (k);  \
        refusals[n].name = (nm); \
        refusals[n].want = (w);  \
        n++;                     \
    } while (0)

    msgs[n].enrol_resp.exchange_id = xid;
    msgs[n].enrol_resp.end = 1;
    REFUSE(K_ENROL_RESP, "step 0", "member 'step': out of range");
    msgs[n].enrol_resp.exchange_id = xid;
    msgs[n].enrol_resp.step = 1;
    REFUSE(K_ENROL_RESP, "no instruction type", "member 'type'");
    msgs[n].enrol_resp.exchange_id = xid;
    msgs[n].enrol_resp.step = 1;
    msgs[n].enrol_resp.instr.type = M2MSEC_INSTR_MAF_ENROLMENT;
    msgs[n].enrol_resp.instr.uri = uri;
    REFUSE(K_ENROL_RESP, "maf with uri", "member 'uri': not allowed");
    msgs[n].enrol_resp.exchange_id = xid;
    msgs[n].enrol_resp.step = 1;
    msgs[n].enrol_resp.end = 1;
    msgs[n].enrol_resp.ke_expires = T2030;
    REFUSE(K_ENROL_RESP, "expiry without keID", "member 'keID': missing");
    msgs[n].enrol_resp.exchange_id = xid;
    msgs[n].enrol_resp.step = 1;
    msgs[n].enrol_resp.keid = keid;
    msgs[n].enrol_resp.ke_expires = INT64_MAX;
    msgs[n].enrol_resp.end = 1;
    REFUSE(K_ENROL_RESP, "expiry unrepresentable", "member 'keExpiry'");
    msgs[n].enrol_resp.exchange_id = xid;
    msgs[n].enrol_resp.step = 1;
    msgs[n].enrol_resp.instr.type = M2MSEC_INSTR_REMOTE_MGMT;
    msgs[n].enrol_resp.instr.uri = bad_uri;
    REFUSE(K_ENROL_RESP, "bad uri", "member 'uri': not an http");
    msgs[n].report.step = 65;
    REFUSE(K_REPORT, "step 65", "member 'step': out of range");
    msgs[n].mefreg_req.mef_fqdn = mef;
    msgs[n].mefreg_req.et = T2030;
    REFUSE(K_MEFREG_REQ, "no adminFQDN", "member 'adminFQDN': missing");
    msgs[n].mefreg_req.mef_fqdn = mef;
    msgs[n].mefreg_req.admin_fqdn = admin;
    msgs[n].mefreg_req.et = T2030;
    msgs[n].mefreg_req.lbl = bad_lbl;
    msgs[n].mefreg_req.nlbl = 1;
    msgs[n].mefreg_req.has_lbl = 1;
    REFUSE(K_MEFREG_REQ, "invalid UTF-8 label", "member 'lbl': not valid UTF-8");
    msgs[n].mefreg_req.mef_fqdn = mef;
    msgs[n].mefreg_req.admin_fqdn = admin;
    msgs[n].mefreg_req.et = T2030;
    msgs[n].mefreg_req.nlbl = 1;
    msgs[n].mefreg_req.has_lbl = 1;
    REFUSE(K_MEFREG_REQ, "NULL label list", "member 'lbl'");
    msgs[n].update.mef_fqdn = mef;
    REFUSE(K_UPDATE_REQ, "nothing to update", "nothing to update");
    msgs[n].update.mef_fqdn = mef;
    msgs[n].update.has_et = 1;
    msgs[n].update.et = T2030;
    REFUSE(K_UPDATE_RESP, "mefFQDN in response", "member 'mefFQDN': not allowed");
    msgs[n].cfg.fqdn = mef;
    msgs[n].cfg.admin_fqdn = admin;
    msgs[n].cfg.et = T2030;
    msgs[n].cfg.enrolment_expiry = 1;
    REFUSE(K_CFG, "port 0", "member 'httpPort': out of range");
    msgs[n].policy.rm_uri = bad_uri;
    REFUSE(K_POLICY, "bad rm uri", "member 'remoteManagementURI'");
    msgs[n].dbg = empty;
    REFUSE(K_DBG, "empty dbg", "member 'm2m:dbg': empty");
    REFUSE(K_DBG, "NULL dbg", "member 'm2m:dbg': missing");
    msgs[n].fetch.status = 1;
    msgs[n].fetch.enrolee_id = admin;
    msgs[n].fetch.lifetime = T2030;
    REFUSE(K_FETCH, "success without credential", "member 'Credential': missing");
    msgs[n].fetch.status = 1;
    msgs[n].fetch.credential = short_key;
    msgs[n].fetch.enrolee_id = admin;
    msgs[n].fetch.lifetime = T2030;
    REFUSE(K_FETCH, "credential 15 bytes", "member 'Credential': 15 bytes");
    msgs[n].fetch.status = 1;
    msgs[n].fetch.credential = long_key;
    msgs[n].fetch.enrolee_id = admin;
    msgs[n].fetch.lifetime = T2030;
    REFUSE(K_FETCH, "credential 65 bytes", "member 'Credential': 65 bytes");
    msgs[n].fetch.status = 1;
    msgs[n].fetch.credential = key;
    msgs[n].fetch.lifetime = T2030;
    REFUSE(K_FETCH, "success without EnroleeID", "member 'EnroleeID': missing");
    msgs[n].fetch.status = 1;
    msgs[n].fetch.credential = key;
    msgs[n].fetch.enrolee_id = admin;
    msgs[n].fetch.lifetime = INT64_MAX;
    REFUSE(K_FETCH, "lifetime unrepresentable", "member 'Lifetime'");
    msgs[n].fetch.status = 1;
    msgs[n].fetch.credential = key;
    msgs[n].fetch.enrolee_id = bad_utf8;
    msgs[n].fetch.lifetime = T2030;
    REFUSE(K_FETCH, "EnroleeID not UTF-8", "member 'EnroleeID': not valid UTF-8");
    REFUSE(K_FETCH, "failure without ErrorString", "member 'ErrorString': missing");
    msgs[n].fetch.error_string = empty;
    REFUSE(K_FETCH, "empty ErrorString", "member 'ErrorString': empty");
#undef REFUSE

    m2msec_buf_init(&out, 1 << 20);
    for (i = 0; i < n; i++) {
        struct m2msec_error err = { 0 };

        if (encode_kind(refusals[i].kind, &msgs[i], &out, &err) != -1) {
            print_error("encoder accepted '%s': %s\n", refusals[i].name, (const char *)out.data);
            fail();
        }
        if (err.code != M2MSEC_ERR_INVALID_ARGUMENT || strstr(err.msg, refusals[i].want) == NULL) {
            print_error("'%s': code %d msg \"%s\"\n", refusals[i].name, (int)err.code, err.msg);
            fail();
        }
        assert_int_equal(out.len, 0);
    }
    m2msec_buf_free(&out);
    m2msec_secret_free(short_key);
    m2msec_secret_free(long_key);
    m2msec_secret_free(key);

    /* The encoder's output buffer limit is honoured. */
    memset(&u, 0, sizeof(u));
    u.enrol_req.maf_enrolment = 1;
    m2msec_buf_init(&out, 10);
    {
        struct m2msec_error err = { 0 };

        assert_int_equal(m2msec_enrol_req_encode(&u.enrol_req, &out, &err), -1);
        assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
    }
    m2msec_buf_free(&out);
}

/*
 * The JSON layer itself.
 */

static void
test_json_parse_limits(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_buf b;
    json_t *v = NULL;
    char *s;
    size_t i;

    (void)state;
    /* Depth counts containers: {} is 1; arrays count too. */
    s = nest(M2MSEC_JSON_MAX_DEPTH);
    assert_int_equal(m2msec_json_parse((const uint8_t *)s, strlen(s), &v, &err), 0);
    json_decref(v);
    free(s);
    s = nest(M2MSEC_JSON_MAX_DEPTH + 1);
    assert_int_equal(m2msec_json_parse((const uint8_t *)s, strlen(s), &v, &err), -1);
    assert_null(v);
    assert_int_equal(err.code, M2MSEC_ERR_PROTOCOL);
    assert_int_equal(err.rsc, 4000);
    free(s);
    s = nest(3000); /* beyond jansson's own limit too */
    assert_int_equal(m2msec_json_parse((const uint8_t *)s, strlen(s), &v, &err), -1);
    free(s);
    {
        static const char arr16[] = "{\"a\":[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}";
        static const char arr17[] = "{\"a\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}";

        assert_int_equal(m2msec_json_parse((const uint8_t *)arr16, strlen(arr16), &v, &err), 0);
        json_decref(v);
        assert_int_equal(m2msec_json_parse((const uint8_t *)arr17, strlen(arr17), &v, &err), -1);
    }

    /* Width: 32 members and 64 list items pass, one more does not. */
    m2msec_buf_init(&b, 1 << 16);
    for (i = 0; i <= M2MSEC_JSON_MAX_MEMBERS; i++) {
        m2msec_buf_reset(&b);
        assert_int_equal(m2msec_buf_append_str(&b, "{", &err), 0);
        for (size_t j = 0; j < i; j++) {
            assert_int_equal(m2msec_buf_appendf(&b, &err, "%s\"m%zu\":1", j ? "," : "", j), 0);
        }
        assert_int_equal(m2msec_buf_append_str(&b, "}", &err), 0);
        assert_int_equal(m2msec_json_parse(b.data, b.len, &v, &err), 0);
        json_decref(v);
    }
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_buf_append_str(&b, "{", &err), 0);
    for (i = 0; i <= M2MSEC_JSON_MAX_MEMBERS; i++) {
        assert_int_equal(m2msec_buf_appendf(&b, &err, "%s\"m%zu\":1", i ? "," : "", i), 0);
    }
    assert_int_equal(m2msec_buf_append_str(&b, "}", &err), 0);
    assert_int_equal(m2msec_json_parse(b.data, b.len, &v, &err), -1);
    assert_contains(err.msg, "members");

    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_buf_append_str(&b, "{\"a\":[0", &err), 0);
    for (i = 1; i < M2MSEC_JSON_MAX_LIST; i++) {
        assert_int_equal(m2msec_buf_append_str(&b, ",0", &err), 0);
    }
    assert_int_equal(m2msec_buf_append_str(&b, "]}", &err), 0);
    assert_int_equal(m2msec_json_parse(b.data, b.len, &v, &err), 0);
    json_decref(v);
    b.len -= 2;
    assert_int_equal(m2msec_buf_append_str(&b, ",0]}", &err), 0);
    assert_int_equal(m2msec_json_parse(b.data, b.len, &v, &err), -1);
    assert_contains(err.msg, "items");
    m2msec_buf_free(&b);

    assert_int_equal(m2msec_json_parse(NULL, 0, &v, &err), -1);
    assert_int_equal(m2msec_json_parse((const uint8_t *)"[]", 2, &v, &err), -1);
    assert_contains(err.msg, "not an object");
    assert_int_equal(m2msec_json_parse((const uint8_t *)"{} ", 3, &v, &err), 0);
    json_decref(v);
    assert_int_equal(m2msec_json_parse((const uint8_t *)"{}]", 3, &v, &err), -1);
    assert_int_equal(m2msec_json_parse((const uint8_t *)"{\"a\":1,\"a\":1}", 13, &v, &err), -1);
    assert_int_equal(m2msec_json_parse((const uint8_t *)"{\"a\":NaN}", 9, &v, &err), -1);
    assert_int_equal(m2msec_json_parse((const uint8_t *)"{'a':1}", 7, &v, &err), -1);
    assert_int_equal(m2msec_json_parse((const uint8_t *)"{\"a\":1,}", 8, &v, &err), -1);
    assert_int_equal(m2msec_json_parse((const uint8_t *)"{\"a\":01}", 8, &v, &err), -1);
    /* Error text quoting the input keeps printable ASCII only. */
    assert_int_equal(m2msec_json_parse((const uint8_t *)"{\"a\":\x01}", 7, &v, &err), -1);
    for (i = 0; err.msg[i] != '\0'; i++) {
        assert_true(err.msg[i] >= 0x20 && err.msg[i] <= 0x7e);
    }
}

static void
test_json_dump(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_buf b;
    json_t *v = json_pack("{s:i, s:s, s:[b, n], s:{s:s}}", "zeta", 1, "alpha", "caf\xc3\xa9/x",
                          "mid", 1, "obj", "k", "v");
    static const char want[] =
            "{\"alpha\":\"caf\xc3\xa9/x\",\"mid\":[true,null],\"obj\":{\"k\":\"v\"},\"zeta\":1}";

    (void)state;
    assert_non_null(v);
    m2msec_buf_init(&b, 1024);
    assert_int_equal(m2msec_buf_append_str(&b, ">", &err), 0);
    assert_int_equal(m2msec_json_dump(v, &b, &err), 0);
    assert_int_equal(b.len, 1 + sizeof(want) - 1);
    assert_memory_equal(b.data + 1, want, sizeof(want) - 1);
    json_decref(v);
    v = json_integer(3);
    assert_int_equal(m2msec_json_dump(v, &b, &err), -1);
    json_decref(v);
    assert_int_equal(m2msec_json_dump(NULL, &b, &err), -1);
    m2msec_buf_free(&b);
}

static void
test_json_reader(void **state)
{
    static const char doc[] = "{\"s\":\"abc\",\"b\":false,\"n\":42,\"t\":\"20300101T000000\","
                              "\"l\":[\"x\",\"y\"],\"o\":{\"i\":1},\"r\":1.5,\"neg\":-1}";
    struct m2msec_error err = { 0 };
    struct m2msec_jr jr;
    json_t *v = NULL;
    const json_t *o = NULL;
    char *s = NULL;
    char **l = NULL;
    size_t nl = 0;
    uint64_t n = 0;
    int64_t t = 0;
    int b = 1;
    int present = 0;

    (void)state;
    assert_int_equal(m2msec_json_parse((const uint8_t *)doc, sizeof(doc) - 1, &v, &err), 0);

    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "s", 1, 3, &s);
    m2msec_jr_bool(&jr, "b", 1, &b, &present);
    assert_int_equal(b, 0);
    assert_int_equal(present, 1);
    m2msec_jr_u64(&jr, "n", 1, 42, 42, &n, NULL);
    m2msec_jr_time(&jr, "t", 1, &t, NULL);
    m2msec_jr_strlist(&jr, "l", 1, 2, 1, &l, &nl, NULL);
    m2msec_jr_object(&jr, "o", 1, &o);
    m2msec_jr_bool(&jr, "absent", 0, &b, &present);
    assert_int_equal(present, 0);
    /* r and neg are not consulted: finish reports the first as unknown. */
    assert_int_equal(m2msec_jr_finish(&jr, &err), -1);
    assert_contains(err.msg, "unknown");
    assert_string_equal(s, "abc");
    assert_int_equal(n, 42);
    assert_int_equal(t, T2030);
    assert_int_equal(nl, 2);
    assert_string_equal(l[1], "y");
    assert_null(l[2]);
    assert_non_null(o);
    m2msec_free(s);
    s = NULL;
    m2msec_strlist_free(l);
    l = NULL;

    /* Sticky: the first failure is reported, later calls do nothing. */
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "s", 1, 2, &s);
    m2msec_jr_u64(&jr, "r", 1, 0, 10, &n, NULL);
    assert_null(s);
    assert_int_equal(m2msec_jr_finish(&jr, &err), -1);
    assert_string_equal(err.msg, "member 's': too long");

    m2msec_jr_init(&jr, v);
    m2msec_jr_u64(&jr, "r", 1, 0, 10, &n, NULL);
    assert_int_equal(m2msec_jr_finish(&jr, &err), -1);
    assert_string_equal(err.msg, "member 'r': wrong type (want integer)");

    m2msec_jr_init(&jr, v);
    m2msec_jr_u64(&jr, "neg", 1, 0, 10, &n, NULL);
    assert_int_equal(m2msec_jr_finish(&jr, &err), -1);
    assert_string_equal(err.msg, "member 'neg': out of range");

    m2msec_jr_init(&jr, v);
    m2msec_jr_u64(&jr, "n", 1, 43, 100, &n, NULL);
    assert_int_equal(m2msec_jr_finish(&jr, &err), -1);
    assert_string_equal(err.msg, "member 'n': out of range");

    m2msec_jr_init(&jr, v);
    m2msec_jr_strlist(&jr, "l", 1, 1, 10, &l, &nl, NULL);
    assert_null(l);
    assert_int_equal(m2msec_jr_finish(&jr, &err), -1);
    assert_string_equal(err.msg, "member 'l': too many items");

    m2msec_jr_init(&jr, v);
    m2msec_jr_object(&jr, "s", 1, &o);
    assert_int_equal(m2msec_jr_finish(&jr, &err), -1);
    assert_contains(err.msg, "wrong type");

    m2msec_jr_init(&jr, v);
    m2msec_jr_time(&jr, "s", 1, &t, NULL);
    assert_int_equal(m2msec_jr_finish(&jr, &err), -1);
    assert_string_equal(err.msg, "member 's': not an m2m:timestamp");

    m2msec_jr_init(&jr, v);
    m2msec_jr_fail(&jr, "x\ny", "custom");
    assert_int_equal(m2msec_jr_finish(&jr, &err), -1);
    assert_string_equal(err.msg, "member 'x?y': custom");
    assert_int_equal(err.rsc, 4000);
    assert_int_equal(err.code, M2MSEC_ERR_PROTOCOL);

    /* A reader on a non-object fails. */
    m2msec_jr_init(&jr, json_object_get(v, "s"));
    assert_int_equal(m2msec_jr_finish(&jr, &err), -1);
    json_decref(v);

    /* Strings built in memory may hold NUL; the reader refuses them. */
    v = json_pack("{s:s%}", "s", "a\0b", (size_t)3);
    assert_non_null(v);
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "s", 1, 10, &s);
    assert_int_equal(m2msec_jr_finish(&jr, &err), -1);
    assert_string_equal(err.msg, "member 's': contains NUL");
    json_decref(v);
}

static void
test_strlist(void **state)
{
    static char a[] = "a";
    static char b[] = "bb";
    static char *in[] = { a, b, NULL };
    static char *holey[] = { a, NULL, b };
    struct m2msec_error err = { 0 };
    char **l;

    (void)state;
    l = m2msec_strlist_dup(in, 2, &err);
    assert_non_null(l);
    assert_string_equal(l[0], "a");
    assert_string_equal(l[1], "bb");
    assert_null(l[2]);
    assert_ptr_not_equal(l[0], a);
    m2msec_strlist_free(l);
    l = m2msec_strlist_dup(NULL, 0, &err);
    assert_non_null(l);
    assert_null(l[0]);
    m2msec_strlist_free(l);
    assert_null(m2msec_strlist_dup(NULL, 1, &err));
    assert_null(m2msec_strlist_dup(holey, 3, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    m2msec_strlist_free(NULL);
}

#ifdef M2MSEC_TESTING
/* Every library allocation fails in turn: clean NOMEM, zeroed output, no leak. */
static void
test_alloc_failures(void **state)
{
    static const struct {
        enum kind kind;
        const char *json;
    } inputs[] = {
        { K_ENROL_RESP, V_ENROL_RESP_FIRST },
        { K_ENROL_RESP, V_ENROL_RESP_MAF_FULL },
        { K_CFG, V_CFG },
        { K_MEFREG_REQ, V_MEFREG_REQ },
        { K_POLICY, V_POLICY },
        { K_DBG, V_DBG },
        { K_FETCH, V_FETCH_OK },
        { K_FETCH, V_FETCH_FAIL },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(inputs); i++) {
        unsigned long n;
        int saw_nomem = 0;

        for (n = 1; n < 40; n++) {
            struct m2msec_error err = { 0 };
            struct m2msec_buf out;
            union any_msg u;
            int rc;

            memset(&u, 0, sizeof(u));
            m2msec_buf_init(&out, 1 << 16);
            m2msec_test_fail_alloc_at(n);
            rc = decode_kind(inputs[i].kind, inputs[i].json, strlen(inputs[i].json), &u, &err);
            if (rc == 0) {
                rc = encode_kind(inputs[i].kind, &u, &out, &err);
            } else {
                size_t j;

                for (j = 0; j < kind_size(inputs[i].kind); j++) {
                    assert_int_equal(((const unsigned char *)&u)[j], 0);
                }
            }
            m2msec_test_fail_alloc_at(0);
            if (rc != 0) {
                if (err.code != M2MSEC_ERR_NOMEM) {
                    print_error("input %zu alloc %lu: %s\n", i, n, err.msg);
                }
                assert_int_equal(err.code, M2MSEC_ERR_NOMEM);
                saw_nomem = 1;
            }
            clear_kind(inputs[i].kind, &u);
            m2msec_buf_free(&out);
        }
        assert_true(saw_nomem);
    }
}
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_bytes),
        cmocka_unit_test(test_whitespace_and_order),
        cmocka_unit_test(test_generic_mutations),
        cmocka_unit_test(test_message_cases),
        cmocka_unit_test(test_error_message_sanitised),
        cmocka_unit_test(test_roundtrip_enrol),
        cmocka_unit_test(test_roundtrip_mefreg),
        cmocka_unit_test(test_roundtrip_policy_dbg),
        cmocka_unit_test(test_roundtrip_fetch),
        cmocka_unit_test(test_encode_refusals),
        cmocka_unit_test(test_json_parse_limits),
        cmocka_unit_test(test_json_dump),
        cmocka_unit_test(test_json_reader),
        cmocka_unit_test(test_strlist),
#ifdef M2MSEC_TESTING
        cmocka_unit_test(test_alloc_failures),
#endif
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
