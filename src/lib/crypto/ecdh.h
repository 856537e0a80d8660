/*
 * crypto/ecdh.h - ephemeral P-256 ECDH with uncompressed point encodings.
 *
 * Layer: crypto (OpenSSL EVP_PKEY only; util below). Used by IBC-SIGMA
 * (proto/ibc_sigma.c) for its ephemeral key exchange: each side makes one
 * key pair per session, sends the 65-byte public point 0x04 || x || y and
 * derives Z = the 32-byte x-coordinate of the shared point. The private key
 * never leaves the opaque object and is freed (cleansed) with it.
 */
#ifndef M2MSEC_CRYPTO_ECDH_H
#define M2MSEC_CRYPTO_ECDH_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/secret.h"

#define M2MSEC_P256_POINT_LEN 65 /* 0x04 || x || y */
#define M2MSEC_ECDH_Z_LEN     32

struct m2msec_ecdh;

/* A fresh ephemeral P-256 key pair. Caller frees with m2msec_ecdh_free. */
struct m2msec_ecdh *m2msec_ecdh_new(struct m2msec_error *err);
void m2msec_ecdh_free(struct m2msec_ecdh *k);
/* The public point, uncompressed (65 bytes). */
int m2msec_ecdh_public(const struct m2msec_ecdh *k, uint8_t out[M2MSEC_P256_POINT_LEN],
                       struct m2msec_error *err);
/*
 * 0 when p is an uncompressed P-256 point on the curve (so not the point at
 * infinity, which has no 65-byte encoding); -1 with M2MSEC_ERR_AUTH otherwise.
 * Cheap (no scalar multiplication): receivers call it while parsing.
 */
int m2msec_p256_point_check(const uint8_t p[M2MSEC_P256_POINT_LEN], struct m2msec_error *err);
/*
 * Z = x-coordinate of [our private key](peer), 32 bytes, into a new secret.
 * The peer point is checked first (M2MSEC_ERR_AUTH when not on the curve).
 */
int m2msec_ecdh_derive(const struct m2msec_ecdh *k, const uint8_t peer[M2MSEC_P256_POINT_LEN],
                       struct m2msec_secret **z, struct m2msec_error *err);

#endif
