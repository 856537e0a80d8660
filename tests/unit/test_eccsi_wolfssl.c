/*
 * tests/unit/test_eccsi_wolfssl.c - ECCSI against wolfSSL's independent implementation.
 *
 * wolfSSL (Debian's libwolfssl-dev, WOLFCRYPT_HAVE_ECCSI) is a test-only
 * oracle: nothing of the project links it. Only wolfcrypt headers are used
 * here (no OpenSSL compatibility layer). Each direction runs 100 random
 * identities and messages:
 *   1. a wolfSSL KMS issues (SSK, PVT); we validate and sign; wolfSSL verifies
 *      (and we verify wolfSSL's own signatures);
 *   2. we issue; wolfSSL validates and signs; we verify (and wolfSSL verifies
 *      ours);
 *   3. mixed KPAK ownership: a KSAK made by wolfSSL and loaded by us gives
 *      the same KPAK; a KSAK made by us is imported into wolfSSL; under each
 *      shared KMS one side issues, the other validates and signs, the first
 *      verifies.
 * Each direction also checks a neighbour that must fail in the oracle too
 * (a flipped signature byte, another identity), so a oracle that accepts
 * everything cannot make the test pass.
 *
 * @spec RFC 6507 5.1.1 5.1.2 5.2.1 5.2.2
 */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/eccsi.h>
#include <wolfssl/wolfcrypt/random.h>

#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/eccsi.h"
#include "crypto/rand.h"
#include "util/error.h"
#include "util/secret.h"

#define ROUNDS 100

static WC_RNG wrng;

/* ---- wolfSSL side ---- */

static void
wolf_kms_new(EccsiKey *k)
{
    assert_int_equal(wc_InitEccsiKey(k, NULL, INVALID_DEVID), 0);
    assert_int_equal(wc_MakeEccsiKey(k, &wrng), 0);
}

/*
 * A wolfSSL KMS holding our KSAK. wolfSSL imports a KMS key as KSAK || KPAK
 * (x || y); it does not derive KPAK itself, so the consistency check is that
 * (SSK, PVT) issued by wolfSSL with this KSAK validate under our KPAK.
 */
static void
wolf_kms_from_ours(EccsiKey *k, const uint8_t ksak[32], const uint8_t kpak[65])
{
    uint8_t buf[96];

    memcpy(buf, ksak, 32);
    memcpy(buf + 32, kpak + 1, 64);
    assert_int_equal(wc_InitEccsiKey(k, NULL, INVALID_DEVID), 0);
    assert_int_equal(wc_ImportEccsiKey(k, buf, sizeof(buf)), 0);
    memset(buf, 0, sizeof(buf));
}

static void
wolf_kpak(EccsiKey *k, uint8_t out[65])
{
    word32 sz = 65;

    assert_int_equal(wc_ExportEccsiPublicKey(k, out, &sz, 0), 0);
    assert_int_equal(out[0], 0x04);
}

static void
wolf_ksak(EccsiKey *k, uint8_t out[32])
{
    word32 sz = 32;

    assert_int_equal(wc_ExportEccsiPrivateKey(k, out, &sz), 0);
}

/* A client object knowing only the KPAK. */
static void
wolf_client(EccsiKey *c, const uint8_t kpak[65])
{
    assert_int_equal(wc_InitEccsiKey(c, NULL, INVALID_DEVID), 0);
    assert_int_equal(wc_ImportEccsiPublicKey(c, kpak, 65, 1), 0);
}

/* PVT as 0x04 || x || y (wolfSSL's non-raw form); the raw form is x || y. */
static void
wolf_pvt_encode(EccsiKey *k, ecc_point *pvt, uint8_t out[65])
{
    uint8_t raw[64];
    word32 sz = 65;
    word32 rsz = sizeof(raw);

    assert_int_equal(wc_EncodeEccsiPvt(k, pvt, out, &sz, 0), 0);
    assert_int_equal(out[0], 0x04);
    assert_int_equal(wc_EncodeEccsiPvt(k, pvt, raw, &rsz, 1), 0);
    assert_memory_equal(raw, out + 1, 64);
}

static void
wolf_issue(EccsiKey *k, const uint8_t *id, size_t id_len, uint8_t ssk[32], uint8_t pvt[65])
{
    mp_int s;
    ecc_point *p = wc_ecc_new_point();
    word32 sz = 32;

    assert_non_null(p);
    assert_int_equal(mp_init(&s), 0);
    assert_int_equal(wc_MakeEccsiPair(k, &wrng, WC_HASH_TYPE_SHA256, id, (word32)id_len, &s, p), 0);
    memset(ssk, 0, 32);
    assert_int_equal(wc_EncodeEccsiSsk(k, &s, ssk, &sz), 0);
    wolf_pvt_encode(k, p, pvt);
    mp_forcezero(&s);
    mp_free(&s);
    wc_ecc_del_point(p);
}

/* 1 valid, 0 not (wolfSSL's 5.1.2 check). */
static int
wolf_validate(EccsiKey *c, const uint8_t *id, size_t id_len, const uint8_t ssk[32],
              const uint8_t pvt[65])
{
    mp_int s;
    ecc_point *p = wc_ecc_new_point();
    int valid = 0;

    assert_non_null(p);
    assert_int_equal(mp_init(&s), 0);
    assert_int_equal(wc_DecodeEccsiSsk(c, ssk, 32, &s), 0);
    assert_int_equal(wc_DecodeEccsiPvt(c, pvt + 1, 64, p), 0);
    assert_int_equal(
            wc_ValidateEccsiPair(c, WC_HASH_TYPE_SHA256, id, (word32)id_len, &s, p, &valid), 0);
    mp_forcezero(&s);
    mp_free(&s);
    wc_ecc_del_point(p);
    return valid;
}

static void
wolf_sign(EccsiKey *c, const uint8_t *id, size_t id_len, const uint8_t ssk[32],
          const uint8_t pvt[65], const uint8_t *msg, size_t msg_len, uint8_t sig[129])
{
    mp_int s;
    ecc_point *p = wc_ecc_new_point();
    byte hash[WC_MAX_DIGEST_SIZE];
    byte hash_sz = sizeof(hash);
    word32 sig_sz = 129;

    assert_non_null(p);
    assert_int_equal(mp_init(&s), 0);
    assert_int_equal(wc_DecodeEccsiSsk(c, ssk, 32, &s), 0);
    assert_int_equal(wc_DecodeEccsiPvt(c, pvt + 1, 64, p), 0);
    assert_int_equal(wc_SetEccsiPair(c, &s, p), 0);
    assert_int_equal(wc_HashEccsiId(c, WC_HASH_TYPE_SHA256, id, (word32)id_len, p, hash, &hash_sz),
                     0);
    assert_int_equal(hash_sz, 32);
    assert_int_equal(wc_SetEccsiHash(c, hash, hash_sz), 0);
    assert_int_equal(
            wc_SignEccsiHash(c, &wrng, WC_HASH_TYPE_SHA256, msg, (word32)msg_len, sig, &sig_sz), 0);
    mp_forcezero(&s);
    mp_free(&s);
    wc_ecc_del_point(p);
}

/* 1 verified, 0 not. */
static int
wolf_verify(EccsiKey *c, const uint8_t *id, size_t id_len, const uint8_t *msg, size_t msg_len,
            const uint8_t sig[129])
{
    ecc_point *p = wc_ecc_new_point();
    byte hash[WC_MAX_DIGEST_SIZE];
    byte hash_sz = sizeof(hash);
    int verified = 0;
    int rc = 0;

    assert_non_null(p);
    rc = wc_DecodeEccsiPvtFromSig(c, sig, 129, p);
    if (rc == 0) {
        rc = wc_HashEccsiId(c, WC_HASH_TYPE_SHA256, id, (word32)id_len, p, hash, &hash_sz);
    }
    if (rc == 0) {
        rc = wc_SetEccsiHash(c, hash, hash_sz);
    }
    if (rc == 0) {
        rc = wc_VerifyEccsiHash(c, WC_HASH_TYPE_SHA256, msg, (word32)msg_len, sig, 129, &verified);
    }
    wc_ecc_del_point(p);
    return rc == 0 && verified == 1;
}

/* ---- helpers ---- */

struct sample {
    uint8_t id[240];
    size_t id_len;
    uint8_t msg[160];
    size_t msg_len;
};

static void
sample_new(struct sample *s)
{
    struct m2msec_error err = { 0 };
    uint8_t lens[2];

    assert_int_equal(m2msec_rand_bytes(lens, sizeof(lens), &err), 0);
    s->id_len = 1 + lens[0] % (sizeof(s->id) - 1);
    s->msg_len = lens[1] % (sizeof(s->msg) - 1);
    assert_int_equal(m2msec_rand_bytes(s->id, sizeof(s->id), &err), 0);
    assert_int_equal(m2msec_rand_bytes(s->msg, sizeof(s->msg), &err), 0);
}

static struct m2msec_secret *
secret_of(const uint8_t *p, size_t n)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *s = m2msec_secret_from(p, n, &err);

    assert_non_null(s);
    return s;
}

static int
setup(void **state)
{
    (void)state;
    return wc_InitRng(&wrng) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    wc_FreeRng(&wrng);
    return 0;
}

/* ---- 1. wolfSSL issues, we validate and sign, wolfSSL verifies ---- */

static void
test_wolf_issues_we_sign(void **state)
{
    EccsiKey kms;
    EccsiKey client;
    uint8_t kpak[65];

    (void)state;
    wolf_kms_new(&kms);
    wolf_kpak(&kms, kpak);
    wolf_client(&client, kpak);
    for (int i = 0; i < ROUNDS; i++) {
        struct m2msec_error err = { 0 };
        struct sample s;
        uint8_t ssk_b[32], pvt[65], sig[129], wsig[129];
        struct m2msec_secret *ssk = NULL;

        sample_new(&s);
        wolf_issue(&kms, s.id, s.id_len, ssk_b, pvt);
        ssk = secret_of(ssk_b, 32);
        assert_int_equal(m2msec_eccsi_validate(kpak, s.id, s.id_len, ssk, pvt, NULL, &err), 0);
        assert_int_equal(
                m2msec_eccsi_sign(kpak, s.id, s.id_len, ssk, pvt, s.msg, s.msg_len, sig, &err), 0);
        assert_true(wolf_verify(&client, s.id, s.id_len, s.msg, s.msg_len, sig));
        /* wolfSSL's own signature with the same credential verifies with us. */
        wolf_sign(&client, s.id, s.id_len, ssk_b, pvt, s.msg, s.msg_len, wsig);
        assert_int_equal(
                m2msec_eccsi_verify(kpak, s.id, s.id_len, s.msg, s.msg_len, wsig, 129, &err), 0);
        /* Neighbours refused by both. */
        sig[i % 64] ^= 0x01;
        assert_false(wolf_verify(&client, s.id, s.id_len, s.msg, s.msg_len, sig));
        assert_int_equal(
                m2msec_eccsi_verify(kpak, s.id, s.id_len, s.msg, s.msg_len, sig, 129, &err), -1);
        wsig[64 + 1 + i % 64] ^= 0x01;
        assert_int_equal(
                m2msec_eccsi_verify(kpak, s.id, s.id_len, s.msg, s.msg_len, wsig, 129, &err), -1);
        ssk_b[31] ^= 0x01;
        m2msec_secret_free(ssk);
        ssk = secret_of(ssk_b, 32);
        assert_int_equal(m2msec_eccsi_validate(kpak, s.id, s.id_len, ssk, pvt, NULL, &err), -1);
        assert_false(wolf_validate(&client, s.id, s.id_len, ssk_b, pvt));
        m2msec_secret_free(ssk);
    }
    wc_FreeEccsiKey(&client);
    wc_FreeEccsiKey(&kms);
}

/* ---- 2. we issue, wolfSSL validates and signs, we verify ---- */

static void
test_we_issue_wolf_signs(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_eccsi_kms *kms = NULL;
    EccsiKey client;
    uint8_t kpak[65];

    (void)state;
    kms = m2msec_eccsi_kms_new(&err);
    assert_non_null(kms);
    memcpy(kpak, m2msec_eccsi_kms_kpak(kms), 65);
    wolf_client(&client, kpak);
    for (int i = 0; i < ROUNDS; i++) {
        struct sample s;
        struct m2msec_secret *ssk = NULL;
        uint8_t pvt[65], sig[129], osig[129];

        sample_new(&s);
        assert_int_equal(m2msec_eccsi_issue(kms, s.id, s.id_len, &ssk, pvt, &err), 0);
        assert_true(wolf_validate(&client, s.id, s.id_len, m2msec_secret_bytes(ssk), pvt));
        wolf_sign(&client, s.id, s.id_len, m2msec_secret_bytes(ssk), pvt, s.msg, s.msg_len, sig);
        assert_int_equal(
                m2msec_eccsi_verify(kpak, s.id, s.id_len, s.msg, s.msg_len, sig, 129, &err), 0);
        assert_int_equal(
                m2msec_eccsi_sign(kpak, s.id, s.id_len, ssk, pvt, s.msg, s.msg_len, osig, &err), 0);
        assert_true(wolf_verify(&client, s.id, s.id_len, s.msg, s.msg_len, osig));
        /* Another identity: wolfSSL refuses the credential, we refuse the signature. */
        s.id[0] ^= 0x01;
        assert_false(wolf_validate(&client, s.id, s.id_len, m2msec_secret_bytes(ssk), pvt));
        assert_int_equal(
                m2msec_eccsi_verify(kpak, s.id, s.id_len, s.msg, s.msg_len, sig, 129, &err), -1);
        assert_false(wolf_verify(&client, s.id, s.id_len, s.msg, s.msg_len, osig));
        m2msec_secret_free(ssk);
    }
    wc_FreeEccsiKey(&client);
    m2msec_eccsi_kms_free(kms);
}

/* ---- 3. mixed KPAK ownership ---- */

static void
test_mixed_kpak_ownership(void **state)
{
    (void)state;
    for (int i = 0; i < ROUNDS; i++) {
        struct m2msec_error err = { 0 };
        struct m2msec_eccsi_kms *ours = NULL;
        struct m2msec_secret *ksak = NULL;
        struct m2msec_secret *ssk = NULL;
        EccsiKey wkms;
        EccsiKey client;
        struct sample s;
        uint8_t ksak_b[32], kpak_w[65], ssk_b[32], pvt[65], sig[129];

        sample_new(&s);
        if (i % 2 == 0) {
            /* wolfSSL made the KSAK; we load it and must derive the same KPAK. */
            wolf_kms_new(&wkms);
            wolf_ksak(&wkms, ksak_b);
            ksak = secret_of(ksak_b, 32);
            ours = m2msec_eccsi_kms_load(ksak, &err);
        } else {
            /* We made the KSAK; wolfSSL imports it. */
            ours = m2msec_eccsi_kms_new(&err);
            assert_non_null(ours);
            memcpy(ksak_b, m2msec_secret_bytes(m2msec_eccsi_kms_ksak(ours)), 32);
            wolf_kms_from_ours(&wkms, ksak_b, m2msec_eccsi_kms_kpak(ours));
        }
        assert_non_null(ours);
        wolf_kpak(&wkms, kpak_w);
        assert_memory_equal(kpak_w, m2msec_eccsi_kms_kpak(ours), 65);
        wolf_client(&client, kpak_w);

        /* wolfSSL's KMS issues, we validate and sign, our KPAK copy verifies. */
        wolf_issue(&wkms, s.id, s.id_len, ssk_b, pvt);
        ssk = secret_of(ssk_b, 32);
        assert_int_equal(m2msec_eccsi_validate(m2msec_eccsi_kms_kpak(ours), s.id, s.id_len, ssk,
                                               pvt, NULL, &err),
                         0);
        assert_int_equal(
                m2msec_eccsi_sign(kpak_w, s.id, s.id_len, ssk, pvt, s.msg, s.msg_len, sig, &err),
                0);
        assert_true(wolf_verify(&client, s.id, s.id_len, s.msg, s.msg_len, sig));
        m2msec_secret_free(ssk);
        ssk = NULL;

        /* Our KMS issues under the same KSAK, wolfSSL's client validates and signs. */
        assert_int_equal(m2msec_eccsi_issue(ours, s.id, s.id_len, &ssk, pvt, &err), 0);
        assert_true(wolf_validate(&client, s.id, s.id_len, m2msec_secret_bytes(ssk), pvt));
        wolf_sign(&client, s.id, s.id_len, m2msec_secret_bytes(ssk), pvt, s.msg, s.msg_len, sig);
        assert_int_equal(m2msec_eccsi_verify(m2msec_eccsi_kms_kpak(ours), s.id, s.id_len, s.msg,
                                             s.msg_len, sig, 129, &err),
                         0);
        s.msg[s.msg_len] ^= 0x5a;
        assert_int_equal(m2msec_eccsi_verify(m2msec_eccsi_kms_kpak(ours), s.id, s.id_len, s.msg,
                                             s.msg_len + 1, sig, 129, &err),
                         -1);
        assert_false(wolf_verify(&client, s.id, s.id_len, s.msg, s.msg_len + 1, sig));

        m2msec_secret_free(ssk);
        m2msec_secret_free(ksak);
        m2msec_eccsi_kms_free(ours);
        wc_FreeEccsiKey(&client);
        wc_FreeEccsiKey(&wkms);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wolf_issues_we_sign),
        cmocka_unit_test(test_we_issue_wolf_signs),
        cmocka_unit_test(test_mixed_kpak_ownership),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
