/*
 * crypto/hkdf.c - HKDF-SHA-256 (RFC 5869) and HMAC-SHA-256 keyed by a secret.
 *
 * Layer: crypto (OpenSSL EVP_KDF "HKDF" and EVP_MAC "HMAC"; util below,
 * nothing above). Extract and Expand are separate calls (OpenSSL's
 * EXTRACT_ONLY / EXPAND_ONLY modes) because IBC-SIGMA expands one PRK
 * several times with different labels. Outputs are written straight into
 * secure memory; the concatenated info buffer is public (labels and hashes).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "crypto/hkdf.h"
#include "util/error.h"
#include "util/secret.h"

/*
 * One EVP_KDF HKDF derivation in the given mode. key is the IKM (extract) or
 * the PRK (expand); salt only for extract, info only for expand.
 */
static int
hkdf_run(int mode, const struct m2msec_secret *key, const uint8_t *salt, size_t salt_len,
         const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len,
         struct m2msec_error *err)
{
    /* Not const: OSSL_PARAM_construct_utf8_string takes char *. */
    static char digest[] = "SHA256";
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *ctx = NULL;
    OSSL_PARAM params[6];
    size_t n = 0;
    int rv = -1;

    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "fetching HKDF");
        goto out;
    }
    ctx = EVP_KDF_CTX_new(kdf);
    if (ctx == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "allocating HKDF context");
        goto out;
    }
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[n++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    /* OSSL_PARAM wants non-const pointers; OpenSSL copies and never writes them. */
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                    (void *)(uintptr_t)m2msec_secret_bytes(key),
                                                    m2msec_secret_len(key));
    if (salt_len != 0) {
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                        (void *)(uintptr_t)salt, salt_len);
    }
    if (info_len != 0) {
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                        (void *)(uintptr_t)info, info_len);
    }
    params[n] = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(ctx, out, out_len, params) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "HKDF-SHA-256");
        goto out;
    }
    rv = 0;
out:
    /* EVP_KDF_CTX_free cleanses the key copy it holds. */
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rv;
}

/* @spec RFC 5869 2.2 PRK = HMAC-Hash(salt, IKM) */
int
m2msec_hkdf_extract(const uint8_t *salt, size_t salt_len, const struct m2msec_secret *ikm,
                    struct m2msec_secret **prk, struct m2msec_error *err)
{
    struct m2msec_secret *k = NULL;
    int rv = -1;

    if (ikm == NULL || prk == NULL || (salt == NULL && salt_len != 0)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HKDF-Extract: missing input");
        goto out;
    }
    k = m2msec_secret_new(M2MSEC_HKDF_PRK_LEN, err);
    if (k == NULL) {
        goto out;
    }
    if (hkdf_run(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, ikm, salt, salt_len, NULL, 0,
                 m2msec_secret_bytes_mut(k), M2MSEC_HKDF_PRK_LEN, err) == -1) {
        goto out;
    }
    *prk = k;
    k = NULL;
    rv = 0;
out:
    m2msec_secret_free(k);
    return rv;
}

/* @spec RFC 5869 2.3 OKM = T(1) || T(2) || ... truncated to L octets */
int
m2msec_hkdf_expand(const struct m2msec_secret *prk, const struct m2msec_bytes *info, size_t ninfo,
                   size_t out_len, struct m2msec_secret **out, struct m2msec_error *err)
{
    uint8_t buf[M2MSEC_HKDF_INFO_MAX];
    struct m2msec_secret *k = NULL;
    size_t len = 0;
    int rv = -1;

    if (prk == NULL || out == NULL || (info == NULL && ninfo != 0)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HKDF-Expand: missing input");
        goto out;
    }
    if (m2msec_secret_len(prk) < M2MSEC_HKDF_PRK_LEN) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HKDF-Expand: PRK shorter than %d",
                          M2MSEC_HKDF_PRK_LEN);
        goto out;
    }
    if (out_len == 0 || out_len > M2MSEC_HKDF_OUT_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "HKDF-Expand: output length %zu out of range", out_len);
        goto out;
    }
    for (size_t i = 0; i < ninfo; i++) {
        if (info[i].n == 0) {
            continue;
        }
        if (info[i].p == NULL || info[i].n > sizeof(buf) - len) {
            m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "HKDF-Expand: info too long");
            goto out;
        }
        memcpy(buf + len, info[i].p, info[i].n);
        len += info[i].n;
    }
    k = m2msec_secret_new(out_len, err);
    if (k == NULL) {
        goto out;
    }
    if (hkdf_run(EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, NULL, 0, buf, len, m2msec_secret_bytes_mut(k),
                 out_len, err) == -1) {
        goto out;
    }
    *out = k;
    k = NULL;
    rv = 0;
out:
    m2msec_secret_free(k);
    return rv;
}

int
m2msec_hmac_sha256_secret(const struct m2msec_secret *key, const struct m2msec_bytes *msg,
                          size_t nmsg, uint8_t out[M2MSEC_SHA256_LEN], struct m2msec_error *err)
{
    static char digest[] = "SHA256";
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    size_t outlen = 0;
    int rv = -1;

    if (key == NULL || out == NULL || (msg == NULL && nmsg != 0)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HMAC: missing input");
        goto out;
    }
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "fetching HMAC");
        goto out;
    }
    ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "allocating HMAC context");
        goto out;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(ctx, m2msec_secret_bytes(key), m2msec_secret_len(key), params) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "HMAC-SHA-256 init");
        goto out;
    }
    for (size_t i = 0; i < nmsg; i++) {
        if (msg[i].n == 0) {
            continue;
        }
        if (msg[i].p == NULL || EVP_MAC_update(ctx, msg[i].p, msg[i].n) != 1) {
            m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "HMAC-SHA-256 update");
            goto out;
        }
    }
    if (EVP_MAC_final(ctx, out, &outlen, M2MSEC_SHA256_LEN) != 1 || outlen != M2MSEC_SHA256_LEN) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "HMAC-SHA-256 final");
        goto out;
    }
    rv = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rv;
}
