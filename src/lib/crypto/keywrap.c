/*
 * crypto/keywrap.c - AES key wrap (RFC 3394) with the default IV.
 *
 * Layer: crypto (OpenSSL EVP; util below, nothing above). Uses OpenSSL's
 * id-aes*-wrap ciphers, which implement RFC 3394 section 2.2 with the
 * A6A6A6A6A6A6A6A6 initial value when no IV is given. An unwrap whose
 * integrity check fails is an authentication failure, reported as
 * M2MSEC_ERR_AUTH, and leaves no plaintext behind.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/keywrap.h"
#include "util/error.h"
#include "util/secret.h"

#define SEMIBLOCK 8
/* RFC 3394 needs at least two 64-bit blocks of key data. */
#define KEYDATA_MIN (2 * SEMIBLOCK)

static const EVP_CIPHER *
wrap_cipher(const struct m2msec_secret *kek, struct m2msec_error *err)
{
    size_t len = kek != NULL ? m2msec_secret_len(kek) : 0;

    switch (len) {
    case 16:
        return EVP_aes_128_wrap();
    case 24:
        return EVP_aes_192_wrap();
    case 32:
        return EVP_aes_256_wrap();
    default:
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "key wrap: KEK must be 16, 24 or 32 bytes, not %zu", len);
        return NULL;
    }
}

/* Key data a multiple of 8 bytes, at least 16 (RFC 3394 2.2: n >= 2 blocks). */
static int
keydata_len_ok(size_t len)
{
    return len >= KEYDATA_MIN && len % SEMIBLOCK == 0 && len <= M2MSEC_SECRET_MAX;
}

int
m2msec_keywrap(const struct m2msec_secret *kek, const struct m2msec_secret *key, uint8_t *out,
               size_t outsz, size_t *outlen, struct m2msec_error *err)
{
    const EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    size_t keylen = 0;
    int n = 0;
    int fin = 0;
    int rv = -1;

    cipher = wrap_cipher(kek, err);
    if (cipher == NULL) {
        goto out;
    }
    if (key == NULL || out == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key wrap: missing input");
        goto out;
    }
    keylen = m2msec_secret_len(key);
    if (!keydata_len_ok(keylen)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "key wrap: key data must be a multiple of 8 bytes, at least 16, not %zu",
                          keylen);
        goto out;
    }
    if (outsz < keylen + SEMIBLOCK) {
        m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "key wrap: output buffer too small");
        goto out;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "key wrap: allocating cipher context");
        goto out;
    }
    /* OpenSSL refuses the wrap modes through EVP unless this flag says we mean it. */
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_EncryptInit_ex(ctx, cipher, NULL, m2msec_secret_bytes(kek), NULL) != 1 ||
        EVP_EncryptUpdate(ctx, out, &n, m2msec_secret_bytes(key), (int)keylen) != 1 ||
        EVP_EncryptFinal_ex(ctx, out + n, &fin) != 1 ||
        (size_t)n + (size_t)fin != keylen + SEMIBLOCK) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "key wrap: AES key wrap failed");
        goto out;
    }
    *outlen = keylen + SEMIBLOCK;
    rv = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rv;
}

int
m2msec_keyunwrap(const struct m2msec_secret *kek, const uint8_t *in, size_t inlen,
                 struct m2msec_secret **out, struct m2msec_error *err)
{
    const EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    struct m2msec_secret *key = NULL;
    int n = 0;
    int rv = -1;

    cipher = wrap_cipher(kek, err);
    if (cipher == NULL) {
        goto out;
    }
    if (in == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key unwrap: missing input");
        goto out;
    }
    if (inlen < SEMIBLOCK || !keydata_len_ok(inlen - SEMIBLOCK)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "key unwrap: wrapped key must be a multiple of 8 bytes, at least 24, "
                          "not %zu",
                          inlen);
        goto out;
    }
    key = m2msec_secret_new(inlen - SEMIBLOCK, err);
    if (key == NULL) {
        goto out;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "key unwrap: allocating cipher context");
        goto out;
    }
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_DecryptInit_ex(ctx, cipher, NULL, m2msec_secret_bytes(kek), NULL) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "key unwrap: cipher init failed");
        goto out;
    }
    /*
     * @spec RFC 3394 2.2.3 the recovered A must equal the default IV. OpenSSL
     * compares it in constant time and wipes the output when it does not.
     */
    if (EVP_DecryptUpdate(ctx, m2msec_secret_bytes_mut(key), &n, in, (int)inlen) != 1 ||
        (size_t)n != inlen - SEMIBLOCK) {
        ERR_clear_error();
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "wrapped key failed authentication");
        goto out;
    }
    *out = key;
    key = NULL;
    rv = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    m2msec_secret_free(key);
    return rv;
}
