/*
 * crypto/rand.c - randomness from OpenSSL's DRBGs.
 *
 * Layer: crypto. Depends on util only. Keys come from the private DRBG
 * (RAND_priv_bytes) so that a leak of public randomness (nonces, identifiers)
 * says nothing about key material; everything else uses RAND_bytes.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/rand.h>

#include "crypto/rand.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/secret.h"

/* Bytes generated per round in m2msec_rand_hex, so no allocation is needed. */
#define HEX_CHUNK 32

int
m2msec_rand_bytes(uint8_t *buf, size_t n, struct m2msec_error *err)
{
    if (n > INT_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "random request of %zu bytes is too large", n);
    }
    if (n == 0) {
        return 0;
    }
    if (RAND_bytes(buf, (int)n) != 1) {
        return m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "RAND_bytes failed");
    }
    return 0;
}

int
m2msec_rand_priv_bytes(uint8_t *buf, size_t n, struct m2msec_error *err)
{
    if (n > INT_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "random request of %zu bytes is too large", n);
    }
    if (n == 0) {
        return 0;
    }
    if (RAND_priv_bytes(buf, (int)n) != 1) {
        return m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "RAND_priv_bytes failed");
    }
    return 0;
}

int
m2msec_rand_hex(char *out, size_t n, struct m2msec_error *err)
{
    uint8_t chunk[HEX_CHUNK];
    size_t done = 0;
    int rv = -1;

    if (n > (SIZE_MAX - 1) / 2) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "random hex of %zu bytes is too large",
                          n);
        goto out;
    }
    out[0] = '\0';
    while (done < n) {
        size_t take = n - done < sizeof(chunk) ? n - done : sizeof(chunk);

        if (m2msec_rand_bytes(chunk, take, err) == -1) {
            goto out;
        }
        /* Each round writes its NUL right where the next round starts. */
        if (m2msec_hex_encode(chunk, take, out + 2 * done, 2 * take + 1) == -1) {
            m2msec_error_setx(err, M2MSEC_ERR_CRYPTO, "hex encoding failed");
            goto out;
        }
        done += take;
    }
    rv = 0;
out:
    m2msec_wipe(chunk, sizeof(chunk));
    return rv;
}
