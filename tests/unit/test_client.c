/*
 * test_client.c - the public client API (include/m2msec.h) without a MEF:
 * configuration validation and freezing, error reporting, and the failure
 * paths of enrol and state. The enrolment itself against a real mefd is in
 * tests/integration/enrol.sh.
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

#include "m2msec.h"
#include "tls/tls.h"

static const uint8_t kpm[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

static void
test_config_validation(void **state)
{
    struct m2msec_config *cfg = m2msec_config_new();

    (void)state;
    assert_non_null(cfg);
    /* MEF address */
    assert_int_equal(m2msec_config_set_mef(cfg, "127.0.0.1:8443"), 0);
    assert_int_equal(m2msec_config_set_mef(cfg, "[::1]:8443"), 0);
    assert_int_equal(m2msec_config_set_mef(cfg, "mef.example.com:1"), 0);
    assert_int_equal(m2msec_config_set_mef(cfg, "127.0.0.1"), -1);
    assert_int_equal(m2msec_config_error_code(cfg), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_config_set_mef(cfg, "127.0.0.1:99999"), -1);
    assert_int_equal(m2msec_config_set_mef(cfg, NULL), -1);
    /* SNI must be an FQDN */
    assert_int_equal(m2msec_config_set_sni(cfg, "mef.example.com"), 0);
    assert_int_equal(m2msec_config_set_sni(cfg, "not_an_fqdn"), -1);
    assert_int_equal(m2msec_config_set_sni(cfg, ""), -1);
    /* Kpm / KpmID */
    assert_int_equal(m2msec_config_set_kpm(cfg, "dev-1", kpm, sizeof(kpm)), 0);
    assert_int_equal(m2msec_config_set_kpm(cfg, "", kpm, sizeof(kpm)), -1);
    assert_int_equal(m2msec_config_set_kpm(cfg, "has space", kpm, sizeof(kpm)), -1);
    assert_int_equal(m2msec_config_set_kpm(cfg, "dev-1", kpm, 0), -1);
    assert_int_equal(m2msec_config_set_kpm(cfg, "dev-1", NULL, 32), -1);
    assert_int_equal(m2msec_config_set_kpm_file(cfg, "dev-1", "/nonexistent/kpm"), -1);
    assert_non_null(strstr(m2msec_config_error(cfg), "/nonexistent/kpm"));
    /* timeouts */
    assert_int_equal(m2msec_config_set_timeout_ms(cfg, 5000), 0);
    assert_int_equal(m2msec_config_set_timeout_ms(cfg, 9), -1);
    assert_int_equal(m2msec_config_set_timeout_ms(cfg, 600001), -1);
    assert_int_equal(m2msec_config_set_indications(cfg, 0, 1, 1), 0);
    m2msec_config_free(cfg);
}

static void
test_config_frozen(void **state)
{
    struct m2msec_config *cfg = m2msec_config_new();
    struct m2msec_client *c = m2msec_client_new();

    (void)state;
    assert_non_null(cfg);
    assert_non_null(c);
    assert_int_equal(m2msec_config_set_mef(cfg, "127.0.0.1:1"), 0);
    assert_int_equal(m2msec_client_configure(c, cfg), 0);
    /* Frozen once in use; freeing it is safe because the client holds a reference. */
    assert_int_equal(m2msec_config_set_mef(cfg, "127.0.0.1:2"), -1);
    assert_int_equal(m2msec_config_error_code(cfg), M2MSEC_ERR_INVALID_STATE);
    assert_int_equal(m2msec_config_set_timeout_ms(cfg, 1000), -1);
    m2msec_config_free(cfg);
    /* Enrol without Kpm or state dir: refused before any network I/O. */
    assert_int_equal(m2msec_client_enrol(c), -1);
    assert_int_equal(m2msec_client_error_code(c), M2MSEC_ERR_INVALID_STATE);
    assert_null(m2msec_client_keid(c));
    assert_int_equal(m2msec_client_ke_expires(c), 0);
    m2msec_client_free(c);
    m2msec_client_free(NULL);
    m2msec_config_free(NULL);
}

static void
test_enrol_unconfigured(void **state)
{
    struct m2msec_client *c = m2msec_client_new();
    struct m2msec_mef_reg *r = (struct m2msec_mef_reg *)&r;

    (void)state;
    assert_int_equal(m2msec_client_enrol(c), -1);
    assert_int_equal(m2msec_client_error_code(c), M2MSEC_ERR_INVALID_STATE);
    assert_int_equal(m2msec_client_mef_register(c, "sp.example.com", 0, &r), -1);
    assert_null(r);
    assert_int_equal(m2msec_client_configure(c, NULL), -1);
    m2msec_client_free(c);
}

/* A MEF address where nothing listens: a clean I/O error, and nothing stored. */
static void
test_enrol_no_server(void **state)
{
    char dir[] = "/tmp/m2msec-test-client.XXXXXX";
    char hostport[64], bound[64];
    struct m2msec_error err = { 0 };
    struct m2msec_config *cfg = m2msec_config_new();
    struct m2msec_client *c = m2msec_client_new();
    struct m2msec_state *st;
    const char *serr = NULL;
    int lfd;

    (void)state;
    assert_non_null(mkdtemp(dir));
    /* Reserve a port, then close it so the connect is refused. */
    lfd = m2msec_tcp_listen("127.0.0.1:0", 1, bound, sizeof(bound), &err);
    assert_true(lfd >= 0);
    close(lfd);
    snprintf(hostport, sizeof(hostport), "%s", bound);
    assert_int_equal(m2msec_config_set_mef(cfg, hostport), 0);
    assert_int_equal(m2msec_config_set_kpm(cfg, "dev-1", kpm, sizeof(kpm)), 0);
    assert_int_equal(m2msec_config_set_state_dir(cfg, dir), 0);
    assert_int_equal(m2msec_config_set_timeout_ms(cfg, 1000), 0);
    assert_int_equal(m2msec_client_configure(c, cfg), 0);
    assert_int_equal(m2msec_client_enrol(c), -1);
    assert_int_equal(m2msec_client_error_code(c), M2MSEC_ERR_IO);
    assert_true(strlen(m2msec_client_error(c)) > 0);
    assert_null(m2msec_client_keid(c));
    /* The state exists (opened before connecting) but holds no enrolment. */
    st = m2msec_state_open(dir, &serr);
    assert_non_null(st);
    assert_null(m2msec_state_keid(st));
    assert_int_equal(m2msec_state_ke_expired(st), 0);
    {
        char kcv[17];

        assert_int_equal(m2msec_state_ke_kcv(st, kcv), -1);
    }
    m2msec_state_free(st);
    /* A second attempt on the same client reuses its store and fails the same way. */
    assert_int_equal(m2msec_client_enrol(c), -1);
    assert_int_equal(m2msec_client_error_code(c), M2MSEC_ERR_IO);
    m2msec_client_free(c);
    m2msec_config_free(cfg);
    {
        static const char *const files[] = { "state.db", "state.db-wal", "state.db-shm",
                                             "kek.hex" };
        char path[256];
        size_t i;

        for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            (void)unlink(path);
        }
        assert_int_equal(rmdir(dir), 0);
    }
}

static void
test_state_missing(void **state)
{
    const char *serr = NULL;

    (void)state;
    assert_null(m2msec_state_open("/nonexistent/m2msec-state", &serr));
    assert_non_null(serr);
    assert_null(m2msec_state_open(NULL, &serr));
    assert_non_null(serr);
    m2msec_state_free(NULL);
}

static void
test_err_names(void **state)
{
    (void)state;
    assert_string_equal(m2msec_err_name(M2MSEC_ERR_AUTH), "auth");
    assert_string_equal(m2msec_err_name(M2MSEC_ERR_EXPIRED), "expired");
    assert_non_null(m2msec_err_name((enum m2msec_err)999));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_validation),  cmocka_unit_test(test_config_frozen),
        cmocka_unit_test(test_enrol_unconfigured), cmocka_unit_test(test_enrol_no_server),
        cmocka_unit_test(test_state_missing),      cmocka_unit_test(test_err_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
