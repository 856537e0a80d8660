/*
 * test_client.c - the public client API (include/m2msec.h) without a MEF:
 * configuration validation and freezing, error reporting, and the failure
 * paths of enrol and state. The enrolment itself against a real mefd is in
 * tests/integration/enrol.sh.
 *
 * The PKI bootstrap (seed 002) message: its strict codec, purposes, the
 * EnroleeID rule, and the node's unwrap, with the RFC 3394 4.6 vector (a
 * 256-bit key under a 256-bit KEK, our exact sizes) as known answer and every
 * single-bit change of the blob refused by the integrity check. The exchange
 * against a real mefd is tests/integration/bootstrap.sh.
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

#include "client/bootstrap.h"
#include "m2msec.h"
#include "proto/ids.h"
#include "tls/tls.h"
#include "util/buf.h"
#include "util/mem.h"

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

/* ---- PKI bootstrap (seed 002) ---- */

/* RFC 3394 4.6: 256 bits of key data wrapped with a 256-bit KEK. */
static const char kat_kek[] = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
static const char kat_key[] = "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F";
static const uint8_t kat_wrapped[40] = {
    0x28, 0xC9, 0xF4, 0x04, 0xC4, 0xB8, 0x10, 0xF4, 0xCB, 0xCC, 0xB3, 0x5C, 0xFB, 0x87,
    0xF8, 0x26, 0x3F, 0x57, 0x86, 0xE2, 0xD8, 0x0E, 0xD3, 0x26, 0xCB, 0xC7, 0xF0, 0xE7,
    0x1A, 0x99, 0xF4, 0x3B, 0xFB, 0x98, 0x8B, 0x9B, 0x7A, 0x02, 0xDD, 0x21,
};
/* base64 of kat_wrapped */
#define KAT_B64 "KMn0BMS4EPTLzLNc+4f4Jj9XhuLYDtMmy8fw5xqZ9Dv7mIubegLdIQ=="

static void
test_boot_unwrap(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *kek = m2msec_secret_from_hex(kat_kek, strlen(kat_kek), &err);
    struct m2msec_secret *want = m2msec_secret_from_hex(kat_key, strlen(kat_key), &err);
    struct m2msec_secret *short_kek = m2msec_secret_from_hex(kat_kek, 32, &err);
    struct m2msec_secret *other = NULL;
    struct m2msec_secret *got = NULL;
    struct m2msec_boot_resp m = { 0 };

    (void)state;
    assert_non_null(kek);
    assert_non_null(want);
    assert_non_null(short_kek);
    memcpy(m.wrapped, kat_wrapped, sizeof(m.wrapped));
    assert_int_equal(m2msec_boot_unwrap(kek, &m, &got, &err), 0);
    assert_int_equal(m2msec_secret_equal(got, want), 1);
    m2msec_secret_free(got);
    got = NULL;
    /* Every one of the 320 single-bit flips fails the integrity check, with no output. */
    for (size_t bit = 0; bit < 8 * sizeof(m.wrapped); bit++) {
        m.wrapped[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        m2msec_error_clear(&err);
        assert_int_equal(m2msec_boot_unwrap(kek, &m, &got, &err), -1);
        assert_null(got);
        assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
        m.wrapped[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* Blocks swapped: refused too. */
    memcpy(m.wrapped + 8, kat_wrapped + 16, 8);
    memcpy(m.wrapped + 16, kat_wrapped + 8, 8);
    assert_int_equal(m2msec_boot_unwrap(kek, &m, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    memcpy(m.wrapped, kat_wrapped, sizeof(m.wrapped));
    /* Any other wrap key (one bit off), and a wrap key of the wrong size. */
    other = m2msec_secret_dup(kek, &err);
    assert_non_null(other);
    m2msec_secret_bytes_mut(other)[31] ^= 0x80;
    assert_int_equal(m2msec_boot_unwrap(other, &m, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    assert_int_equal(m2msec_boot_unwrap(short_kek, &m, &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_boot_unwrap(NULL, &m, &got, &err), -1);
    assert_null(got);
    m2msec_secret_free(other);
    m2msec_secret_free(short_kek);
    m2msec_secret_free(want);
    m2msec_secret_free(kek);
}

#define RESP_OK                                                                 \
    "{\"rootCredID\":\"00112233445566778899aabbccddeeff@mef.example.com\","     \
    "\"wrappedRootCred\":\"" KAT_B64 "\",\"keyWrapAlg\":\"aes256-kw-rfc3394\"," \
    "\"lifetime\":\"20300101T000000\",\"purpose\":\"maf:maf.example.com\","     \
    "\"enroleeID\":\"C0123\",\"nodeID\":\"31-0.2.481.1.7.8.1\"}"

static void
test_boot_resp_codec(void **state)
{
    /* Each rejected neighbour of RESP_OK changes one thing. */
    static const char *const bad[] = {
        /* missing member */
        "{\"rootCredID\":\"00112233445566778899aabbccddeeff@mef.example.com\","
        "\"wrappedRootCred\":\"" KAT_B64 "\",\"keyWrapAlg\":\"aes256-kw-rfc3394\","
        "\"lifetime\":\"20300101T000000\",\"purpose\":\"maf:maf.example.com\","
        "\"enroleeID\":\"C0123\"}",
        /* unknown member */
        "{\"rootCredID\":\"00112233445566778899aabbccddeeff@mef.example.com\","
        "\"wrappedRootCred\":\"" KAT_B64 "\",\"keyWrapAlg\":\"aes256-kw-rfc3394\","
        "\"lifetime\":\"20300101T000000\",\"purpose\":\"maf:maf.example.com\","
        "\"enroleeID\":\"C0123\",\"nodeID\":\"31-0.2.481.1.7.8.1\",\"key\":\"x\"}",
        /* wrong type */
        "{\"rootCredID\":\"00112233445566778899aabbccddeeff@mef.example.com\","
        "\"wrappedRootCred\":\"" KAT_B64 "\",\"keyWrapAlg\":\"aes256-kw-rfc3394\","
        "\"lifetime\":20300101,\"purpose\":\"maf:maf.example.com\","
        "\"enroleeID\":\"C0123\",\"nodeID\":\"31-0.2.481.1.7.8.1\"}",
        /* identifier not in the KeID form */
        "{\"rootCredID\":\"0011@mef.example.com\","
        "\"wrappedRootCred\":\"" KAT_B64 "\",\"keyWrapAlg\":\"aes256-kw-rfc3394\","
        "\"lifetime\":\"20300101T000000\",\"purpose\":\"maf:maf.example.com\","
        "\"enroleeID\":\"C0123\",\"nodeID\":\"31-0.2.481.1.7.8.1\"}",
        /* blob truncated by one byte (39) */
        "{\"rootCredID\":\"00112233445566778899aabbccddeeff@mef.example.com\","
        "\"wrappedRootCred\":\"KMn0BMS4EPTLzLNc+4f4Jj9XhuLYDtMmy8fw5xqZ9Dv7mIubegLd\","
        "\"keyWrapAlg\":\"aes256-kw-rfc3394\","
        "\"lifetime\":\"20300101T000000\",\"purpose\":\"maf:maf.example.com\","
        "\"enroleeID\":\"C0123\",\"nodeID\":\"31-0.2.481.1.7.8.1\"}",
        /* blob not base64 */
        "{\"rootCredID\":\"00112233445566778899aabbccddeeff@mef.example.com\","
        "\"wrappedRootCred\":\"!!\",\"keyWrapAlg\":\"aes256-kw-rfc3394\","
        "\"lifetime\":\"20300101T000000\",\"purpose\":\"maf:maf.example.com\","
        "\"enroleeID\":\"C0123\",\"nodeID\":\"31-0.2.481.1.7.8.1\"}",
        /* another algorithm */
        "{\"rootCredID\":\"00112233445566778899aabbccddeeff@mef.example.com\","
        "\"wrappedRootCred\":\"" KAT_B64 "\",\"keyWrapAlg\":\"aes128-kw\","
        "\"lifetime\":\"20300101T000000\",\"purpose\":\"maf:maf.example.com\","
        "\"enroleeID\":\"C0123\",\"nodeID\":\"31-0.2.481.1.7.8.1\"}",
        /* purpose of no known kind */
        "{\"rootCredID\":\"00112233445566778899aabbccddeeff@mef.example.com\","
        "\"wrappedRootCred\":\"" KAT_B64 "\",\"keyWrapAlg\":\"aes256-kw-rfc3394\","
        "\"lifetime\":\"20300101T000000\",\"purpose\":\"kpm:x\","
        "\"enroleeID\":\"C0123\",\"nodeID\":\"31-0.2.481.1.7.8.1\"}",
        /* EnroleeID that is no CSE-ID or AE-ID */
        "{\"rootCredID\":\"00112233445566778899aabbccddeeff@mef.example.com\","
        "\"wrappedRootCred\":\"" KAT_B64 "\",\"keyWrapAlg\":\"aes256-kw-rfc3394\","
        "\"lifetime\":\"20300101T000000\",\"purpose\":\"maf:maf.example.com\","
        "\"enroleeID\":\"x0123\",\"nodeID\":\"31-0.2.481.1.7.8.1\"}",
        /* not an object */
        "[]",
    };
    struct m2msec_error err = { 0 };
    struct m2msec_boot_resp m = { 0 };
    struct m2msec_boot_resp m2 = { 0 };
    struct m2msec_buf b;

    (void)state;
    assert_int_equal(m2msec_boot_resp_decode((const uint8_t *)RESP_OK, strlen(RESP_OK), &m, &err),
                     0);
    assert_string_equal(m.root_id, "00112233445566778899aabbccddeeff@mef.example.com");
    assert_memory_equal(m.wrapped, kat_wrapped, sizeof(kat_wrapped));
    assert_string_equal(m.purpose, "maf:maf.example.com");
    assert_string_equal(m.enrolee_id, "C0123");
    assert_string_equal(m.node_id, "31-0.2.481.1.7.8.1");
    assert_true(m.lifetime > 1800000000);
    /* Round trip through the encoder. */
    m2msec_buf_init(&b, 4096);
    assert_int_equal(m2msec_boot_resp_encode(&m, &b, &err), 0);
    assert_int_equal(m2msec_boot_resp_decode(b.data, b.len, &m2, &err), 0);
    assert_string_equal(m2.root_id, m.root_id);
    assert_memory_equal(m2.wrapped, m.wrapped, sizeof(m.wrapped));
    assert_int_equal(m2.lifetime, m.lifetime);
    m2msec_boot_resp_clear(&m2);
    /* The encoder refuses what the decoder would. */
    m2msec_free(m.purpose);
    m.purpose = m2msec_strdup("maf:");
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_boot_resp_encode(&m, &b, &err), -1);
    m2msec_buf_free(&b);
    m2msec_boot_resp_clear(&m);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m2msec_error_clear(&err);
        if (m2msec_boot_resp_decode((const uint8_t *)bad[i], strlen(bad[i]), &m, &err) != -1) {
            print_error("bad[%zu] accepted\n", i);
            fail();
        }
        assert_int_equal(err.rsc, 4000);
        assert_null(m.root_id);
    }
    /* The request: empty or {}; nothing else. */
    assert_int_equal(m2msec_boot_req_decode((const uint8_t *)"", 0, &err), 0);
    assert_int_equal(m2msec_boot_req_decode((const uint8_t *)"{}", 2, &err), 0);
    assert_int_equal(m2msec_boot_req_decode((const uint8_t *)"{\"a\":1}", 7, &err), -1);
    assert_int_equal(err.rsc, 4000);
    assert_int_equal(m2msec_boot_req_decode((const uint8_t *)"[]", 2, &err), -1);
    assert_int_equal(m2msec_boot_req_decode((const uint8_t *)"{", 1, &err), -1);
}

static void
test_boot_purpose_and_enrolee_id(void **state)
{
    static const char *const bad[] = {
        "maf:",        "maf:/cse-x",      "cse:cse-x", "cse:", "MAF:maf.example.com",
        "kpsa:/cse-x", "maf.example.com", "",
    };
    struct m2msec_error err = { 0 };
    const char *target = NULL;
    unsigned suid = 0;
    char a[M2MSEC_BOOT_ENROLEE_ID_LEN], b[M2MSEC_BOOT_ENROLEE_ID_LEN];
    char a2[M2MSEC_BOOT_ENROLEE_ID_LEN];

    (void)state;
    assert_int_equal(m2msec_boot_purpose_parse("maf:maf.example.com", &suid, &target), 0);
    assert_int_equal(suid, 21);
    assert_string_equal(target, "maf.example.com");
    assert_int_equal(m2msec_boot_purpose_parse("cse:/cse-b", &suid, &target), 0);
    assert_int_equal(suid, 22);
    assert_string_equal(target, "/cse-b");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(m2msec_boot_purpose_parse(bad[i], &suid, &target), -1);
    }
    assert_int_equal(m2msec_boot_purpose_parse(NULL, &suid, &target), -1);
    /* EnroleeID: an AE-ID-Stem, stable per identity, different across identities. */
    assert_int_equal(m2msec_boot_enrolee_id("31-0.2.481.1.7.8.1", a, &err), 0);
    assert_int_equal(m2msec_boot_enrolee_id("31-0.2.481.1.7.8.1", a2, &err), 0);
    assert_int_equal(m2msec_boot_enrolee_id("31-0.2.481.1.7.8.2", b, &err), 0);
    assert_int_equal(strlen(a), 33);
    assert_int_equal(a[0], 'C');
    assert_true(m2msec_ae_id_valid(a));
    assert_string_equal(a, a2);
    assert_string_not_equal(a, b);
    assert_int_equal(m2msec_boot_enrolee_id("", a, &err), -1);
    assert_int_equal(m2msec_boot_enrolee_id(NULL, a, &err), -1);
}

static void
test_bootstrap_unconfigured(void **state)
{
    struct m2msec_client *c = m2msec_client_new();
    struct m2msec_config *cfg = m2msec_config_new();

    (void)state;
    assert_non_null(c);
    assert_non_null(cfg);
    /* No configuration at all. */
    assert_int_equal(m2msec_client_bootstrap(c), -1);
    assert_int_equal(m2msec_client_error_code(c), M2MSEC_ERR_INVALID_STATE);
    /* A Kpm configuration: the bootstrap needs a certificate. */
    assert_int_equal(m2msec_config_set_mef(cfg, "127.0.0.1:1"), 0);
    assert_int_equal(m2msec_config_set_kpm(cfg, "dev-1", kpm, sizeof(kpm)), 0);
    assert_int_equal(m2msec_config_set_state_dir(cfg, "/tmp"), 0);
    assert_int_equal(m2msec_client_configure(c, cfg), 0);
    assert_int_equal(m2msec_client_bootstrap(c), -1);
    assert_int_equal(m2msec_client_error_code(c), M2MSEC_ERR_INVALID_STATE);
    assert_non_null(strstr(m2msec_client_error(c), "certificate"));
    assert_null(m2msec_client_root_id(c));
    assert_null(m2msec_client_root_purpose(c));
    assert_null(m2msec_client_root_kcv(c));
    assert_null(m2msec_client_root_wrapped(c));
    assert_null(m2msec_client_root_enrolee_id(c));
    assert_null(m2msec_client_root_node_id(c));
    assert_int_equal(m2msec_client_root_expires(c), 0);
    m2msec_config_free(cfg);
    m2msec_client_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_validation),
        cmocka_unit_test(test_config_frozen),
        cmocka_unit_test(test_enrol_unconfigured),
        cmocka_unit_test(test_enrol_no_server),
        cmocka_unit_test(test_state_missing),
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_boot_unwrap),
        cmocka_unit_test(test_boot_resp_codec),
        cmocka_unit_test(test_boot_purpose_and_enrolee_id),
        cmocka_unit_test(test_bootstrap_unconfigured),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
