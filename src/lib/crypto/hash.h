/*
 * crypto/hash.h - SHA-256 over a list of byte ranges.
 *
 * Layer: crypto (OpenSSL EVP only; util below). Transcript hashes in proto/
 * (IBC-SIGMA) and identifier digests are SHA-256 over concatenations of
 * message pieces; taking the pieces as a list means no concatenated copy is
 * ever built. The inputs here are public; keys go through crypto/hkdf.h.
 */
#ifndef M2MSEC_CRYPTO_HASH_H
#define M2MSEC_CRYPTO_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define M2MSEC_SHA256_LEN 32

/* One byte range; p may be NULL only when n is 0. */
struct m2msec_bytes {
    const void *p;
    size_t n;
};

/* SHA-256 of parts[0] || parts[1] || ... || parts[nparts-1] into out. */
int m2msec_sha256_parts(const struct m2msec_bytes *parts, size_t nparts,
                        uint8_t out[M2MSEC_SHA256_LEN], struct m2msec_error *err);
/* SHA-256 of one buffer. */
int m2msec_sha256(const void *p, size_t n, uint8_t out[M2MSEC_SHA256_LEN],
                  struct m2msec_error *err);

#endif
