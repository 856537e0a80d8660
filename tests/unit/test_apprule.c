/*
 * test_apprule.c - Entity B's serviceSubscribedAppRule-shaped table
 * (client/apprule.c): pattern syntax and matching, rule specs, rule files
 * (all or nothing), and the allow decision with its rejected neighbours
 * (other credential, App-ID or AE-ID outside the lists, prefix credentials);
 * and Entity B's certificate and app rule configuration (client/cse.c):
 * accepted settings and their rejected neighbours, and the start-up checks
 * (client certificates without Entity B's own, raw keys mixed with anchors).
 * Handshakes and AE registrations end to end: tests/integration/saef_cert.sh.
 *
 * Layer: test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/apprule.h"
#include "m2msec.h"
#include "proto/ids.h"

static void
test_pattern_valid(void **state)
{
    static const struct {
        const char *p;
        int ok;
    } cases[] = {
        { "C*", 1 },  { "*", 1 },    { "Cae1", 1 },        { "Rmyapp*", 1 }, { "/cse-b/Cae1", 1 },
        { "", 0 },    { "C*x", 0 },  { "*C", 0 },          { "C**", 0 },     { "C ae", 0 },
        { "C,D", 0 }, { "C\tx", 0 }, { "caf\xc3\xa9", 0 }, /* non-ASCII */
    };
    char longp[M2MSEC_ID_MAX + 2];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(m2msec_apprule_pattern_valid(cases[i].p), cases[i].ok);
    }
    assert_int_equal(m2msec_apprule_pattern_valid(NULL), 0);
    memset(longp, 'C', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(m2msec_apprule_pattern_valid(longp), 0); /* one over M2MSEC_ID_MAX */
    longp[M2MSEC_ID_MAX] = '\0';
    assert_int_equal(m2msec_apprule_pattern_valid(longp), 1);
}

static void
test_pattern_match(void **state)
{
    static const struct {
        const char *p;
        const char *v;
        int match;
    } cases[] = {
        { "C*", "Cae1", 1 },    { "C*", "C", 1 },       { "C*", "Sae1", 0 },
        { "C*", "cae1", 0 },    { "*", "anything", 1 }, { "*", "", 1 },
        { "Cae1", "Cae1", 1 },  { "Cae1", "Cae12", 0 }, { "Cae1", "Cae", 0 },
        { "Rapp*", "Rapp", 1 }, { "Rapp*", "Rap", 0 },  { "Rapp", "Rapp*", 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(m2msec_apprule_pattern_match(cases[i].p, cases[i].v), cases[i].match);
    }
    assert_int_equal(m2msec_apprule_pattern_match(NULL, "x"), 0);
    assert_int_equal(m2msec_apprule_pattern_match("x", NULL), 0);
}

static void
test_spec_syntax(void **state)
{
    static const struct {
        const char *spec;
        int ok;
    } cases[] = {
        { "31-0.2.481.1.1.2.3:Rapp:C*", 1 },
        { "30-ni:///sha-256;abc_-:Rapp*,Nx:Cae1,S*", 1 }, /* ':' inside the Credential-ID */
        { "12-kp1@issuer.example,11-km@maf.example:*:*", 1 },
        { "31-0.2.481.1.1.2.3:Rapp", 0 }, /* two parts */
        { "Rapp:C*", 0 },                 /* one ':' only */
        { ":Rapp:C*", 0 },                /* empty Credential-ID */
        { "31-x::C*", 0 },                /* empty App-ID list */
        { "31-x:Rapp:", 0 },              /* empty AE-ID list */
        { "31-x:Rapp:C*,", 0 },           /* empty entry */
        { "x-1:Rapp:C*", 0 },             /* type not decimal */
        { "123-x:Rapp:C*", 0 },           /* type of three digits */
        { "31:Rapp:C*", 0 },              /* no '-' */
        { "31-:Rapp:C*", 0 },             /* no value */
        { "31-x*:Rapp:C*", 0 },           /* wildcard credential */
        { "31-x:R*pp:C*", 0 },            /* inner wildcard */
        { "31-x:Rapp:C *", 0 },           /* blank */
    };
    struct m2msec_apprule_table *t = m2msec_apprule_table_new();
    struct m2msec_error err = { 0 };
    size_t want = 0;

    (void)state;
    assert_non_null(t);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        m2msec_error_clear(&err);
        assert_int_equal(m2msec_apprule_add_spec(t, cases[i].spec, &err), cases[i].ok ? 0 : -1);
        if (cases[i].ok) {
            want++;
        } else {
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
            assert_true(strlen(m2msec_error_msg(&err)) > 0);
        }
        assert_int_equal(m2msec_apprule_count(t), want);
    }
    assert_int_equal(m2msec_apprule_add_spec(t, NULL, &err), -1);
    m2msec_apprule_table_free(t);
}

static void
test_list_limits(void **state)
{
    struct m2msec_apprule_table *t = m2msec_apprule_table_new();
    struct m2msec_error err = { 0 };
    const char *cred[1] = { "31-x" };
    const char *app[M2MSEC_APPRULE_LIST_MAX + 1];
    const char *ae[1] = { "C*" };
    char spec[64];

    (void)state;
    assert_non_null(t);
    for (size_t i = 0; i <= M2MSEC_APPRULE_LIST_MAX; i++) {
        app[i] = "Rapp";
    }
    assert_int_equal(m2msec_apprule_add(t, cred, 1, app, M2MSEC_APPRULE_LIST_MAX, ae, 1, &err), 0);
    assert_int_equal(m2msec_apprule_add(t, cred, 1, app, M2MSEC_APPRULE_LIST_MAX + 1, ae, 1, &err),
                     -1);
    assert_int_equal(m2msec_apprule_add(t, cred, 0, app, 1, ae, 1, &err), -1);
    assert_int_equal(m2msec_apprule_add(t, cred, 1, app, 1, NULL, 0, &err), -1);
    assert_int_equal(m2msec_apprule_count(t), 1);
    /* The table is full at M2MSEC_APPRULE_MAX; one more is TOO_LARGE. */
    for (size_t i = 1; i < M2MSEC_APPRULE_MAX; i++) {
        snprintf(spec, sizeof(spec), "31-dev%zu:Rapp:C*", i);
        assert_int_equal(m2msec_apprule_add_spec(t, spec, &err), 0);
    }
    assert_int_equal(m2msec_apprule_add_spec(t, "31-extra:Rapp:C*", &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(m2msec_apprule_count(t), M2MSEC_APPRULE_MAX);
    assert_int_equal(m2msec_apprule_allows(t, "31-dev255", "Rapp", "Cx"), 1);
    assert_int_equal(m2msec_apprule_allows(t, "31-extra", "Rapp", "Cx"), 0);
    m2msec_apprule_table_free(t);
}

static void
test_allows(void **state)
{
    static const char *const rules[] = {
        "31-0.2.481.1.1.2.3:Rlight*:C*",
        "30-ni:///sha-256;AAAA:Rmeter:Cmeter1,Cmeter2",
        "12-kp1@issuer.example,11-km@maf.example:*:S*",
    };
    static const struct {
        const char *cred;
        const char *api;
        const char *aei;
        int allowed;
    } cases[] = {
        { "31-0.2.481.1.1.2.3", "Rlight", "Cae1", 1 },
        { "31-0.2.481.1.1.2.3", "Rlight-v2", "C", 1 },
        { "31-0.2.481.1.1.2.3", "Rheater", "Cae1", 0 },  /* App-ID not allowed */
        { "31-0.2.481.1.1.2.3", "Rlight", "Sae1", 0 },   /* AE-ID not allowed */
        { "31-0.2.481.1.1.2.4", "Rlight", "Cae1", 0 },   /* another device */
        { "31-0.2.481.1.1.2", "Rlight", "Cae1", 0 },     /* prefix of the credential */
        { "31-0.2.481.1.1.2.3.4", "Rlight", "Cae1", 0 }, /* credential extends it */
        { "30-ni:///sha-256;AAAA", "Rmeter", "Cmeter2", 1 },
        { "30-ni:///sha-256;AAAA", "Rmeter", "Cmeter3", 0 }, /* not in the exact list */
        { "30-ni:///sha-256;AAAA", "Rmeter2", "Cmeter1", 0 },
        { "30-ni:///sha-256;aaaa", "Rmeter", "Cmeter1", 0 }, /* case matters in digests */
        { "11-km@maf.example", "Nanything", "Sx", 1 },
        { "12-kp1@issuer.example", "Rapp", "S", 1 },
        { "12-kp1@issuer.example", "Rapp", "Cx", 0 },
        { "12-kp2@issuer.example", "Rapp", "Sx", 0 },
    };
    struct m2msec_apprule_table *t = m2msec_apprule_table_new();
    struct m2msec_error err = { 0 };

    (void)state;
    assert_non_null(t);
    assert_int_equal(m2msec_apprule_allows(t, "31-0.2.481.1.1.2.3", "Rlight", "Cae1"), 0);
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        assert_int_equal(m2msec_apprule_add_spec(t, rules[i], &err), 0);
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(m2msec_apprule_allows(t, cases[i].cred, cases[i].api, cases[i].aei),
                         cases[i].allowed);
    }
    assert_int_equal(m2msec_apprule_allows(t, NULL, "Rlight", "Cae1"), 0);
    assert_int_equal(m2msec_apprule_allows(t, "31-0.2.481.1.1.2.3", NULL, "Cae1"), 0);
    assert_int_equal(m2msec_apprule_allows(t, "31-0.2.481.1.1.2.3", "Rlight", NULL), 0);
    assert_int_equal(m2msec_apprule_allows(NULL, "31-0.2.481.1.1.2.3", "Rlight", "Cae1"), 0);
    m2msec_apprule_table_free(t);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void
test_file(void **state)
{
    char path[] = "/tmp/m2msec-apprule-XXXXXX";
    struct m2msec_apprule_table *t = m2msec_apprule_table_new();
    struct m2msec_error err = { 0 };
    int fd = mkstemp(path);

    (void)state;
    assert_non_null(t);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "# rules\n\n  31-dev1:Rapp:C*  \r\n\t32-x:*:Cx\n");
    assert_int_equal(m2msec_apprule_load_file(t, path, &err), 0);
    assert_int_equal(m2msec_apprule_count(t), 2);
    assert_int_equal(m2msec_apprule_allows(t, "31-dev1", "Rapp", "Cz"), 1);
    assert_int_equal(m2msec_apprule_allows(t, "32-x", "Rq", "Cx"), 1);
    /* A bad line anywhere: error names the line, nothing of that file is kept. */
    write_file(path, "31-dev2:Rapp:C*\n31-dev3:Rapp\n");
    assert_int_equal(m2msec_apprule_load_file(t, path, &err), -1);
    assert_non_null(strstr(m2msec_error_msg(&err), ":2"));
    assert_int_equal(m2msec_apprule_count(t), 2);
    assert_int_equal(m2msec_apprule_allows(t, "31-dev2", "Rapp", "Cz"), 0);
    unlink(path);
    assert_int_equal(m2msec_apprule_load_file(t, path, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_IO);
    m2msec_apprule_table_free(t);
}

#define NI_OK "ni:///sha-256;gS7trE1OS6ZDGxo3a_no8j4PK3UAb8-AIHOE7K2y0Sc"

static void
test_cse_config(void **state)
{
    struct m2msec_resolver *r = m2msec_resolver_new();
    struct m2msec_cse *s = NULL;

    (void)state;
    assert_non_null(r);
    assert_int_equal(m2msec_resolver_set_cse_id(r, "/cse-b"), 0);
    s = m2msec_cse_new(r);
    assert_non_null(s);
    /* flavours: the Entity A kinds and any; never fqdn, nothing unknown */
    assert_int_equal(m2msec_cse_set_client_flavour(s, "cse-id"), 0);
    assert_int_equal(m2msec_cse_set_client_flavour(s, "any"), 0);
    assert_int_equal(m2msec_cse_set_client_flavour(s, "fqdn"), -1);
    assert_int_equal(m2msec_cse_error_code(s), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_cse_set_client_flavour(s, "CSE-ID"), -1);
    assert_int_equal(m2msec_cse_set_client_flavour(s, NULL), -1);
    /* raw keys: RFC 6920 names only */
    assert_int_equal(m2msec_cse_add_client_rawpk(s, NI_OK), 0);
    assert_int_equal(m2msec_cse_add_client_rawpk(s, "ni:///sha-1;abc"), -1);
    assert_int_equal(m2msec_cse_add_client_rawpk(s, NI_OK "x"), -1);
    assert_int_equal(m2msec_cse_add_client_rawpk(s, NULL), -1);
    /* files */
    assert_int_equal(m2msec_cse_add_client_ca(s, NULL), -1);
    assert_int_equal(m2msec_cse_add_client_ca(s, ""), -1);
    assert_int_equal(m2msec_cse_add_client_crl(s, NULL), -1);
    assert_int_equal(m2msec_cse_set_cert(s, "b.pem", NULL), -1);
    /* app rules: a bad one is not kept */
    assert_int_equal(m2msec_cse_add_app_rule(s, "31-dev:Rapp:C*"), 0);
    assert_int_equal(m2msec_cse_add_app_rule(s, "31-dev:Rapp"), -1);
    assert_int_equal(m2msec_cse_error_code(s), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_cse_app_rule_count(s), 1);
    assert_int_equal(m2msec_cse_load_app_rules(s, "/nonexistent/m2msec-rules"), -1);
    assert_int_equal(m2msec_cse_error_code(s), M2MSEC_ERR_IO);
    /* client certificate information without Entity B's own certificate: refused at start */
    assert_int_equal(m2msec_cse_start(s, "127.0.0.1:0"), -1);
    assert_int_equal(m2msec_cse_error_code(s), M2MSEC_ERR_INVALID_STATE);
    assert_non_null(strstr(m2msec_cse_error(s), "own certificate"));
    assert_null(m2msec_cse_addr(s));
    /* raw key names mixed with anchors (and a named flavour): refused before any file is read */
    assert_int_equal(m2msec_cse_set_cert(s, "/nonexistent/b.pem", "/nonexistent/b.key"), 0);
    assert_int_equal(m2msec_cse_add_client_ca(s, "/nonexistent/ca.pem"), 0);
    assert_int_equal(m2msec_cse_start(s, "127.0.0.1:0"), -1);
    assert_int_equal(m2msec_cse_error_code(s), M2MSEC_ERR_INVALID_STATE);
    assert_non_null(strstr(m2msec_cse_error(s), "trust anchors"));
    m2msec_cse_free(s);
    /* well formed but unreadable files: the TLS layer's error, still no listener */
    s = m2msec_cse_new(r);
    assert_non_null(s);
    assert_int_equal(m2msec_cse_set_cert(s, "/nonexistent/b.pem", "/nonexistent/b.key"), 0);
    assert_int_equal(m2msec_cse_add_client_ca(s, "/nonexistent/ca.pem"), 0);
    assert_int_equal(m2msec_cse_start(s, "127.0.0.1:0"), -1);
    assert_int_not_equal(m2msec_cse_error_code(s), M2MSEC_ERR_NONE);
    assert_null(m2msec_cse_addr(s));
    m2msec_cse_free(s);
    m2msec_resolver_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_valid), cmocka_unit_test(test_pattern_match),
        cmocka_unit_test(test_spec_syntax),   cmocka_unit_test(test_list_limits),
        cmocka_unit_test(test_allows),        cmocka_unit_test(test_file),
        cmocka_unit_test(test_cse_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
