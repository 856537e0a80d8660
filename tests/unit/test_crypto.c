/*
 * tests/unit/test_crypto.c - HMAC-SHA-256, AES key wrap, sealing, KEK files, randomness.
 *
 * Known answers from RFC 4231 (all seven HMAC-SHA-256 cases) and RFC 3394
 * (all six wrap vectors), plus the negative neighbours: every single-byte
 * tamper, wrong keys, wrong AAD, truncation, bad lengths, unsafe KEK files.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/kdf.h"
#include "crypto/keywrap.h"
#include "crypto/rand.h"
#include "crypto/seal.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"
#include "vectors.h"

static const char auth_msg[] = "sealed value failed authentication";

static struct m2msec_secret *
secret_hex(const char *hex)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *s = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;

    assert_int_equal(t_vec_unhex(hex, &buf, &len), 0);
    s = m2msec_secret_from(buf, len, &err);
    assert_non_null(s);
    free(buf);
    return s;
}

static struct m2msec_secret *
field_secret(const struct t_vec_case *c, const char *name)
{
    const char *v = t_vec_get(c, name);

    assert_non_null(v);
    return secret_hex(v);
}

/* ---- HMAC-SHA-256 (RFC 4231) ---- */

static void
test_hmac_rfc4231(void **state)
{
    struct t_vec_file *f = t_vec_load("rfc4231.txt");

    (void)state;
    assert_non_null(f);
    assert_int_equal(f->ncases, 7);
    for (size_t i = 0; i < f->ncases; i++) {
        const struct t_vec_case *c = &f->cases[i];
        struct m2msec_error err = { 0 };
        uint8_t *key = NULL, *data = NULL, *want = NULL;
        size_t keylen = 0, datalen = 0, wantlen = 0;
        uint8_t mac[M2MSEC_HMAC_LEN];

        assert_int_equal(t_vec_hex(c, "key", &key, &keylen), 0);
        assert_int_equal(t_vec_hex(c, "data", &data, &datalen), 0);
        assert_int_equal(t_vec_hex(c, "hmac", &want, &wantlen), 0);
        assert_true(wantlen == 16 || wantlen == 32);
        assert_int_equal(m2msec_hmac_sha256(key, keylen, data, datalen, mac, &err), 0);
        assert_memory_equal(mac, want, wantlen);
        /* Neighbour: one flipped data bit gives a different MAC. */
        data[0] ^= 0x01;
        assert_int_equal(m2msec_hmac_sha256(key, keylen, data, datalen, mac, &err), 0);
        assert_memory_not_equal(mac, want, wantlen);
        /* Neighbour: one flipped key bit too. */
        data[0] ^= 0x01;
        key[keylen - 1] ^= 0x80;
        assert_int_equal(m2msec_hmac_sha256(key, keylen, data, datalen, mac, &err), 0);
        assert_memory_not_equal(mac, want, wantlen);
        free(key);
        free(data);
        free(want);
    }
    t_vec_free(f);
}

static void
test_hmac_edges(void **state)
{
    /* HMAC-SHA-256 with an empty key over an empty message (Python hmac). */
    static const char empty_hex[] =
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad";
    struct m2msec_error err = { 0 };
    uint8_t mac[M2MSEC_HMAC_LEN];
    uint8_t *want = NULL;
    size_t wantlen = 0;

    (void)state;
    assert_int_equal(t_vec_unhex(empty_hex, &want, &wantlen), 0);
    assert_int_equal(m2msec_hmac_sha256(NULL, 0, NULL, 0, mac, &err), 0);
    assert_memory_equal(mac, want, sizeof(mac));
    /* A missing key or message that claims a length is refused. */
    assert_int_equal(m2msec_hmac_sha256(NULL, 5, NULL, 0, mac, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_hmac_sha256(want, 4, NULL, 3, mac, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    free(want);
}

/* ---- AES key wrap (RFC 3394) ---- */

static void
test_keywrap_rfc3394(void **state)
{
    struct t_vec_file *f = t_vec_load("rfc3394.txt");

    (void)state;
    assert_non_null(f);
    assert_int_equal(f->ncases, 6);
    for (size_t i = 0; i < f->ncases; i++) {
        const struct t_vec_case *c = &f->cases[i];
        struct m2msec_error err = { 0 };
        struct m2msec_secret *kek = field_secret(c, "kek");
        struct m2msec_secret *key = field_secret(c, "key");
        struct m2msec_secret *bad_kek = NULL;
        struct m2msec_secret *got = NULL;
        uint8_t *wrapped = NULL;
        size_t wlen = 0, outlen = 0;
        uint8_t out[64];

        assert_int_equal(t_vec_hex(c, "wrapped", &wrapped, &wlen), 0);
        assert_int_equal(wlen, m2msec_secret_len(key) + 8);

        memset(out, 0xee, sizeof(out));
        assert_int_equal(m2msec_keywrap(kek, key, out, wlen, &outlen, &err), 0);
        assert_int_equal(outlen, wlen);
        assert_memory_equal(out, wrapped, wlen);
        assert_int_equal(out[wlen], 0xee); /* nothing written past the blob */

        assert_int_equal(m2msec_keyunwrap(kek, wrapped, wlen, &got, &err), 0);
        assert_non_null(got);
        assert_int_equal(m2msec_secret_equal(got, key), 1);
        m2msec_secret_free(got);
        got = NULL;

        /* Every single-byte change must fail the integrity check. */
        for (size_t j = 0; j < wlen; j++) {
            wrapped[j] ^= 0x01;
            m2msec_error_clear(&err);
            assert_int_equal(m2msec_keyunwrap(kek, wrapped, wlen, &got, &err), -1);
            assert_null(got);
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
            wrapped[j] ^= 0x01;
        }

        /* Wrong KEK of the same size. */
        bad_kek = m2msec_secret_dup(kek, &err);
        assert_non_null(bad_kek);
        m2msec_secret_bytes_mut(bad_kek)[0] ^= 0x01;
        assert_int_equal(m2msec_keyunwrap(bad_kek, wrapped, wlen, &got, &err), -1);
        assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
        assert_null(got);

        /* Output buffer one byte short. */
        assert_int_equal(m2msec_keywrap(kek, key, out, wlen - 1, &outlen, &err), -1);
        assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);

        m2msec_secret_free(bad_kek);
        m2msec_secret_free(kek);
        m2msec_secret_free(key);
        free(wrapped);
    }
    t_vec_free(f);
}

static void
test_keywrap_lengths(void **state)
{
    static const size_t bad_kek_lens[] = { 1, 8, 15, 17, 20, 31, 33, 64 };
    static const size_t bad_key_lens[] = { 1, 8, 15, 17, 20, 23 };
    static const size_t bad_in_lens[] = { 0, 8, 16, 23, 25, 31 };
    struct m2msec_error err = { 0 };
    struct m2msec_secret *kek = secret_hex("000102030405060708090a0b0c0d0e0f");
    struct m2msec_secret *key = NULL;
    struct m2msec_secret *got = NULL;
    uint8_t buf[64];
    uint8_t out[128];
    size_t outlen = 0;

    (void)state;
    memset(buf, 0x42, sizeof(buf));
    for (size_t i = 0; i < sizeof(bad_kek_lens) / sizeof(bad_kek_lens[0]); i++) {
        struct m2msec_secret *k = m2msec_secret_from(buf, bad_kek_lens[i], &err);

        key = m2msec_secret_from(buf, 16, &err);
        assert_non_null(k);
        assert_int_equal(m2msec_keywrap(k, key, out, sizeof(out), &outlen, &err), -1);
        assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
        assert_int_equal(m2msec_keyunwrap(k, buf, 24, &got, &err), -1);
        assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
        assert_null(got);
        m2msec_secret_free(k);
        m2msec_secret_free(key);
    }
    for (size_t i = 0; i < sizeof(bad_key_lens) / sizeof(bad_key_lens[0]); i++) {
        key = m2msec_secret_from(buf, bad_key_lens[i], &err);
        assert_non_null(key);
        assert_int_equal(m2msec_keywrap(kek, key, out, sizeof(out), &outlen, &err), -1);
        assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
        m2msec_secret_free(key);
    }
    for (size_t i = 0; i < sizeof(bad_in_lens) / sizeof(bad_in_lens[0]); i++) {
        assert_int_equal(m2msec_keyunwrap(kek, buf, bad_in_lens[i], &got, &err), -1);
        assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
        assert_null(got);
    }
    /* Accepted neighbours: 24 and 64 bytes of key data round-trip. */
    for (size_t len = 24; len <= 64; len += 40) {
        key = m2msec_secret_from(buf, len, &err);
        assert_non_null(key);
        assert_int_equal(m2msec_keywrap(kek, key, out, sizeof(out), &outlen, &err), 0);
        assert_int_equal(outlen, len + 8);
        assert_int_equal(m2msec_keyunwrap(kek, out, outlen, &got, &err), 0);
        assert_int_equal(m2msec_secret_equal(got, key), 1);
        m2msec_secret_free(got);
        got = NULL;
        m2msec_secret_free(key);
    }
    /* NULL inputs. */
    assert_int_equal(m2msec_keywrap(NULL, kek, out, sizeof(out), &outlen, &err), -1);
    assert_int_equal(m2msec_keywrap(kek, NULL, out, sizeof(out), &outlen, &err), -1);
    assert_int_equal(m2msec_keyunwrap(kek, NULL, 24, &got, &err), -1);
    m2msec_secret_free(kek);
}

/* ---- Sealing (AES-256-GCM) ---- */

struct sealed {
    struct m2msec_secret *kek;
    struct m2msec_secret *plain;
    uint8_t *blob;
    size_t len;
};

static const uint8_t aad1[] = "ke/404142434445464748494a4b4c4d4e4f";

static void
seal_fixture(struct sealed *s, size_t plen)
{
    struct m2msec_error err = { 0 };

    s->kek = m2msec_secret_random(M2MSEC_KEK_LEN, &err);
    assert_non_null(s->kek);
    s->plain = m2msec_secret_random(plen, &err);
    assert_non_null(s->plain);
    assert_int_equal(m2msec_seal(s->kek, aad1, sizeof(aad1) - 1, s->plain, &s->blob, &s->len, &err),
                     0);
    assert_int_equal(s->len, plen + M2MSEC_SEAL_OVERHEAD);
    assert_int_equal(s->blob[0], 0x01);
}

static void
seal_fixture_free(struct sealed *s)
{
    m2msec_secret_free(s->kek);
    m2msec_secret_free(s->plain);
    m2msec_free(s->blob);
}

static void
expect_auth(const struct m2msec_secret *kek, const uint8_t *aad, size_t aadlen, const uint8_t *in,
            size_t inlen)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *out = NULL;

    assert_int_equal(m2msec_unseal(kek, aad, aadlen, in, inlen, &out, &err), -1);
    assert_null(out);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_AUTH);
    assert_string_equal(m2msec_error_msg(&err), auth_msg);
}

static void
test_seal_roundtrip(void **state)
{
    static const size_t lens[] = { 1, 16, 32, 33, M2MSEC_SECRET_MAX };
    struct m2msec_error err = { 0 };

    (void)state;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        struct sealed s = { 0 };
        struct m2msec_secret *got = NULL;
        uint8_t *blob2 = NULL;
        size_t len2 = 0;

        seal_fixture(&s, lens[i]);
        assert_int_equal(m2msec_unseal(s.kek, aad1, sizeof(aad1) - 1, s.blob, s.len, &got, &err),
                         0);
        assert_int_equal(m2msec_secret_equal(got, s.plain), 1);
        /* The plaintext does not appear in the blob. */
        if (lens[i] >= 16) {
            assert_memory_not_equal(s.blob + 13, m2msec_secret_bytes(s.plain), 16);
        }
        /* A fresh nonce each time: sealing again gives a different blob. */
        assert_int_equal(m2msec_seal(s.kek, aad1, sizeof(aad1) - 1, s.plain, &blob2, &len2, &err),
                         0);
        assert_int_equal(len2, s.len);
        assert_memory_not_equal(blob2, s.blob, 13);
        m2msec_free(blob2);
        m2msec_secret_free(got);
        seal_fixture_free(&s);
    }
}

static void
test_seal_empty_aad(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *kek = m2msec_secret_random(M2MSEC_KEK_LEN, &err);
    struct m2msec_secret *plain = secret_hex("00112233");
    struct m2msec_secret *got = NULL;
    uint8_t *blob = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(m2msec_seal(kek, NULL, 0, plain, &blob, &len, &err), 0);
    assert_int_equal(m2msec_unseal(kek, NULL, 0, blob, len, &got, &err), 0);
    assert_int_equal(m2msec_secret_equal(got, plain), 1);
    /* Neighbour: a blob sealed without AAD does not open with some. */
    expect_auth(kek, aad1, 1, blob, len);
    m2msec_secret_free(got);
    m2msec_free(blob);
    m2msec_secret_free(kek);
    m2msec_secret_free(plain);
}

static void
test_seal_tamper(void **state)
{
    static const uint8_t aad2[] = "ke/404142434445464748494a4b4c4d4e4e";
    struct m2msec_error err = { 0 };
    struct sealed s = { 0 };
    struct m2msec_secret *other = NULL;
    uint8_t *copy = NULL;

    (void)state;
    seal_fixture(&s, 32);
    /* Wrong AAD: another row id, a prefix, none at all. */
    expect_auth(s.kek, aad2, sizeof(aad2) - 1, s.blob, s.len);
    expect_auth(s.kek, aad1, sizeof(aad1) - 2, s.blob, s.len);
    expect_auth(s.kek, NULL, 0, s.blob, s.len);
    /* Every single-byte change, including the version byte and the nonce. */
    copy = malloc(s.len + 1);
    assert_non_null(copy);
    memcpy(copy, s.blob, s.len);
    for (size_t i = 0; i < s.len; i++) {
        copy[i] ^= 0x80;
        expect_auth(s.kek, aad1, sizeof(aad1) - 1, copy, s.len);
        copy[i] ^= 0x80;
    }
    /* Every truncation, and one extra byte. */
    for (size_t n = 0; n < s.len; n++) {
        expect_auth(s.kek, aad1, sizeof(aad1) - 1, copy, n);
    }
    copy[s.len] = 0;
    expect_auth(s.kek, aad1, sizeof(aad1) - 1, copy, s.len + 1);
    /* Unknown versions. */
    copy[0] = 0x02;
    expect_auth(s.kek, aad1, sizeof(aad1) - 1, copy, s.len);
    copy[0] = 0x00;
    expect_auth(s.kek, aad1, sizeof(aad1) - 1, copy, s.len);
    copy[0] = 0x01;
    /* The untouched copy still opens (the loop above restored every byte). */
    {
        struct m2msec_secret *got = NULL;

        assert_int_equal(m2msec_unseal(s.kek, aad1, sizeof(aad1) - 1, copy, s.len, &got, &err), 0);
        m2msec_secret_free(got);
    }
    /* Wrong KEK. */
    other = m2msec_secret_random(M2MSEC_KEK_LEN, &err);
    assert_non_null(other);
    expect_auth(other, aad1, sizeof(aad1) - 1, s.blob, s.len);
    m2msec_secret_free(other);
    free(copy);
    seal_fixture_free(&s);
}

static void
test_seal_bad_args(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *kek16 = m2msec_secret_random(16, &err);
    struct m2msec_secret *plain = secret_hex("00112233");
    struct m2msec_secret *got = NULL;
    uint8_t blob[64] = { 0x01 };
    uint8_t *out = NULL;
    size_t len = 0;

    (void)state;
    /* A KEK must be exactly 32 bytes. */
    assert_int_equal(m2msec_seal(kek16, NULL, 0, plain, &out, &len, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(out);
    assert_int_equal(m2msec_unseal(kek16, NULL, 0, blob, sizeof(blob), &got, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(got);
    assert_int_equal(m2msec_seal(NULL, NULL, 0, plain, &out, &len, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    m2msec_secret_free(kek16);
    m2msec_secret_free(plain);
}

/* ---- KEK files ---- */

static char tmpdir[64];

static int
kek_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/m2msec-test-crypto-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static void
path_in_tmp(char *out, size_t outsz, const char *name)
{
    int n = snprintf(out, outsz, "%s/%s", tmpdir, name);

    assert_true(n > 0 && (size_t)n < outsz);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static int
kek_teardown(void **state)
{
    static const char *names[] = { "kek",    "kek2", "loose", "short", "long",
                                   "nothex", "big",  "empty", "spaced" };
    char path[128];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/dir", tmpdir);
    rmdir(path);
    return rmdir(tmpdir);
}

static void
expect_load_fails(const char *path, enum m2msec_err code, const char *in_msg)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = m2msec_kek_load(path, &err);

    assert_null(k);
    assert_int_equal(m2msec_error_code(&err), code);
    if (in_msg != NULL && strstr(m2msec_error_msg(&err), in_msg) == NULL) {
        fail_msg("message \"%s\" lacks \"%s\"", m2msec_error_msg(&err), in_msg);
    }
}

static void
test_kek_create_load(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k1 = NULL, *k2 = NULL, *plain = NULL, *got = NULL;
    char path[128], path2[128];
    char text[80];
    struct stat st;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    ssize_t n = 0;
    int fd = -1;

    (void)state;
    path_in_tmp(path, sizeof(path), "kek");
    path_in_tmp(path2, sizeof(path2), "kek2");
    assert_int_equal(m2msec_kek_create(path, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_true(S_ISREG(st.st_mode));
    /* 64 lowercase hex digits and a newline, nothing else. */
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    n = read(fd, text, sizeof(text));
    close(fd);
    assert_int_equal(n, 65);
    assert_int_equal(text[64], '\n');
    for (size_t i = 0; i < 64; i++) {
        assert_non_null(strchr("0123456789abcdef", text[i]));
    }

    k1 = m2msec_kek_load(path, &err);
    assert_non_null(k1);
    assert_int_equal(m2msec_secret_len(k1), M2MSEC_KEK_LEN);

    /* Refuse to replace an existing KEK; the old one stays intact. */
    assert_int_equal(m2msec_kek_create(path, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_IO);
    k2 = m2msec_kek_load(path, &err);
    assert_non_null(k2);
    assert_int_equal(m2msec_secret_equal(k1, k2), 1);
    m2msec_secret_free(k2);

    /* A second file gets a different key. */
    assert_int_equal(m2msec_kek_create(path2, &err), 0);
    k2 = m2msec_kek_load(path2, &err);
    assert_non_null(k2);
    assert_int_equal(m2msec_secret_equal(k1, k2), 0);

    /* The loaded KEK seals and opens; the other one cannot open it. */
    plain = secret_hex("0001020304050607");
    assert_int_equal(m2msec_seal(k1, aad1, 3, plain, &blob, &bloblen, &err), 0);
    assert_int_equal(m2msec_unseal(k1, aad1, 3, blob, bloblen, &got, &err), 0);
    assert_int_equal(m2msec_secret_equal(got, plain), 1);
    expect_auth(k2, aad1, 3, blob, bloblen);

    m2msec_free(blob);
    m2msec_secret_free(got);
    m2msec_secret_free(plain);
    m2msec_secret_free(k1);
    m2msec_secret_free(k2);
}

static void
test_kek_load_refusals(void **state)
{
    static const char hex64[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = NULL;
    char path[128];
    char big[400];

    (void)state;
    /* Group/other access: 0644, 0640, 0604 refused with a clear message; 0600 and 0400 fine. */
    path_in_tmp(path, sizeof(path), "loose");
    write_file(path, hex64, 0644);
    expect_load_fails(path, M2MSEC_ERR_INVALID_ARGUMENT, "must not be accessible");
    assert_int_equal(chmod(path, 0640), 0);
    expect_load_fails(path, M2MSEC_ERR_INVALID_ARGUMENT, "0640");
    assert_int_equal(chmod(path, 0604), 0);
    expect_load_fails(path, M2MSEC_ERR_INVALID_ARGUMENT, "mode");
    assert_int_equal(chmod(path, 0400), 0);
    k = m2msec_kek_load(path, &err);
    assert_non_null(k);
    m2msec_secret_free(k);
    assert_int_equal(chmod(path, 0600), 0);
    k = m2msec_kek_load(path, &err);
    assert_non_null(k);
    m2msec_secret_free(k);

    /* Whitespace around the hex is tolerated. */
    path_in_tmp(path, sizeof(path), "spaced");
    write_file(path, "  000102030405060708090a0b0c0d0e0f\n101112131415161718191a1b1c1d1e1f\n\n",
               0600);
    k = m2msec_kek_load(path, &err);
    assert_non_null(k);
    m2msec_secret_free(k);

    /* Wrong lengths: 31 and 33 bytes. */
    path_in_tmp(path, sizeof(path), "short");
    write_file(path, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n", 0600);
    expect_load_fails(path, M2MSEC_ERR_INVALID_ARGUMENT, "31 bytes");
    path_in_tmp(path, sizeof(path), "long");
    write_file(path, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\n", 0600);
    expect_load_fails(path, M2MSEC_ERR_INVALID_ARGUMENT, "33 bytes");
    /* Not hex, empty, oversized. */
    path_in_tmp(path, sizeof(path), "nothex");
    write_file(path, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n", 0600);
    expect_load_fails(path, M2MSEC_ERR_INVALID_ARGUMENT, NULL);
    path_in_tmp(path, sizeof(path), "empty");
    write_file(path, "", 0600);
    expect_load_fails(path, M2MSEC_ERR_INVALID_ARGUMENT, NULL);
    path_in_tmp(path, sizeof(path), "big");
    memset(big, ' ', sizeof(big) - 1);
    memcpy(big, hex64, 64);
    big[sizeof(big) - 1] = '\0';
    write_file(path, big, 0600);
    expect_load_fails(path, M2MSEC_ERR_INVALID_ARGUMENT, "too large");
    /* Missing file, a directory, no path. */
    path_in_tmp(path, sizeof(path), "missing");
    expect_load_fails(path, M2MSEC_ERR_NOT_FOUND, NULL);
    path_in_tmp(path, sizeof(path), "dir");
    assert_int_equal(mkdir(path, 0700), 0);
    expect_load_fails(path, M2MSEC_ERR_INVALID_ARGUMENT, "regular");
    expect_load_fails(NULL, M2MSEC_ERR_INVALID_ARGUMENT, NULL);
    /* Creating inside a missing directory fails cleanly. */
    path_in_tmp(path, sizeof(path), "missing/kek");
    assert_int_equal(m2msec_kek_create(path, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_IO);
}

/* ---- Randomness ---- */

static void
test_rand(void **state)
{
    static const size_t lens[] = { 0, 1, 16, 31, 32, 33, 100 };
    struct m2msec_error err = { 0 };
    uint8_t a[64], b[64];
    char hex1[256], hex2[256];

    (void)state;
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    assert_int_equal(m2msec_rand_bytes(a, sizeof(a), &err), 0);
    assert_int_equal(m2msec_rand_bytes(b, sizeof(b), &err), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(m2msec_rand_priv_bytes(a, sizeof(a), &err), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(m2msec_rand_bytes(a, 0, &err), 0);
    assert_int_equal(m2msec_rand_priv_bytes(a, 0, &err), 0);

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = lens[i];

        memset(hex1, 'X', sizeof(hex1));
        memset(hex2, 'X', sizeof(hex2));
        assert_int_equal(m2msec_rand_hex(hex1, n, &err), 0);
        assert_int_equal(m2msec_rand_hex(hex2, n, &err), 0);
        assert_int_equal(strlen(hex1), 2 * n);
        assert_int_equal(hex1[2 * n + 1], 'X'); /* exactly 2n+1 bytes written */
        for (size_t j = 0; j < 2 * n; j++) {
            assert_non_null(strchr("0123456789abcdef", hex1[j]));
        }
        if (n >= 16) {
            assert_string_not_equal(hex1, hex2);
        }
    }
}

/* Every allocation failing in turn: a clean NOMEM, no leak, no partial output. */
static void
test_alloc_failures(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *kek = m2msec_secret_random(M2MSEC_KEK_LEN, &err);
    struct m2msec_secret *plain = secret_hex("000102030405060708090a0b0c0d0e0f");
    uint8_t wrapped[24];
    uint8_t *sealed = NULL;
    size_t wlen = 0, slen = 0;
    int seal_done = 0, unseal_done = 0, unwrap_done = 0;
    int seal_nomem = 0, unseal_nomem = 0, unwrap_nomem = 0;

    (void)state;
    assert_int_equal(m2msec_keywrap(kek, plain, wrapped, sizeof(wrapped), &wlen, &err), 0);
    assert_int_equal(m2msec_seal(kek, aad1, 4, plain, &sealed, &slen, &err), 0);
    for (unsigned long n = 1; n < 20; n++) {
        struct m2msec_secret *got = NULL;
        uint8_t *blob = NULL;
        size_t len = 0;
        int rc = 0;

        m2msec_error_clear(&err);
        m2msec_test_fail_alloc_at(n);
        rc = m2msec_seal(kek, aad1, 4, plain, &blob, &len, &err);
        m2msec_test_fail_alloc_at(0);
        if (rc == -1) {
            assert_null(blob);
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOMEM);
            seal_nomem++;
        } else {
            seal_done = 1;
        }
        m2msec_free(blob);

        m2msec_error_clear(&err);
        m2msec_test_fail_alloc_at(n);
        rc = m2msec_unseal(kek, aad1, 4, sealed, slen, &got, &err);
        m2msec_test_fail_alloc_at(0);
        if (rc == -1) {
            assert_null(got);
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOMEM);
            unseal_nomem++;
        } else {
            assert_int_equal(m2msec_secret_equal(got, plain), 1);
            unseal_done = 1;
        }
        m2msec_secret_free(got);
        got = NULL;

        m2msec_error_clear(&err);
        m2msec_test_fail_alloc_at(n);
        rc = m2msec_keyunwrap(kek, wrapped, wlen, &got, &err);
        m2msec_test_fail_alloc_at(0);
        if (rc == -1) {
            assert_null(got);
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOMEM);
            unwrap_nomem++;
        } else {
            assert_int_equal(m2msec_secret_equal(got, plain), 1);
            unwrap_done = 1;
        }
        m2msec_secret_free(got);
    }
    /* Each operation both failed cleanly and, with the hook past its allocations, succeeded. */
    assert_true(seal_done && unseal_done && unwrap_done);
    assert_true(seal_nomem > 0 && unseal_nomem > 0 && unwrap_nomem > 0);
    m2msec_free(sealed);
    m2msec_secret_free(kek);
    m2msec_secret_free(plain);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_hmac_edges),
        cmocka_unit_test(test_keywrap_rfc3394),
        cmocka_unit_test(test_keywrap_lengths),
        cmocka_unit_test(test_seal_roundtrip),
        cmocka_unit_test(test_seal_empty_aad),
        cmocka_unit_test(test_seal_tamper),
        cmocka_unit_test(test_seal_bad_args),
        cmocka_unit_test_setup_teardown(test_kek_create_load, kek_setup, kek_teardown),
        cmocka_unit_test_setup_teardown(test_kek_load_refusals, kek_setup, kek_teardown),
        cmocka_unit_test(test_rand),
        cmocka_unit_test(test_alloc_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
