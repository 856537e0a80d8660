/*
 * crypto/hash.c - SHA-256 over a list of byte ranges.
 *
 * Layer: crypto (OpenSSL EVP digest only; util below, nothing above).
 */
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "crypto/hash.h"
#include "util/error.h"

int
m2msec_sha256_parts(const struct m2msec_bytes *parts, size_t nparts, uint8_t out[M2MSEC_SHA256_LEN],
                    struct m2msec_error *err)
{
    EVP_MD_CTX *ctx = NULL;
    unsigned int outlen = 0;
    int rv = -1;

    if (out == NULL || (parts == NULL && nparts != 0)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "SHA-256: missing input");
        goto out;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "allocating SHA-256 context");
        goto out;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "SHA-256 init");
        goto out;
    }
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].n == 0) {
            continue;
        }
        if (parts[i].p == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "SHA-256: missing part %zu", i);
            goto out;
        }
        if (EVP_DigestUpdate(ctx, parts[i].p, parts[i].n) != 1) {
            m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "SHA-256 update");
            goto out;
        }
    }
    if (EVP_DigestFinal_ex(ctx, out, &outlen) != 1 || outlen != M2MSEC_SHA256_LEN) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "SHA-256 final");
        goto out;
    }
    rv = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rv;
}

int
m2msec_sha256(const void *p, size_t n, uint8_t out[M2MSEC_SHA256_LEN], struct m2msec_error *err)
{
    struct m2msec_bytes part = { p, n };

    return m2msec_sha256_parts(&part, 1, out, err);
}
