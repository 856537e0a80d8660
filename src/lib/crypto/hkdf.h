/*
 * crypto/hkdf.h - HKDF-SHA-256 (RFC 5869) and HMAC-SHA-256 keyed by a secret.
 *
 * Layer: crypto (OpenSSL EVP_KDF / EVP_MAC only; util below). Used by the
 * IBC-SIGMA key schedule (proto/ibc_sigma.c): PRK = Extract(salt, Z), then
 * labelled Expand calls for the MAC key and Kpsa. Keys stay in
 * struct m2msec_secret from end to end, so proto/ never sees key bytes.
 */
#ifndef M2MSEC_CRYPTO_HKDF_H
#define M2MSEC_CRYPTO_HKDF_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hash.h"
#include "util/error.h"
#include "util/secret.h"

#define M2MSEC_HKDF_PRK_LEN  32
#define M2MSEC_HKDF_INFO_MAX 1024 /* bound on the concatenated info parts */
#define M2MSEC_HKDF_OUT_MAX  (255 * 32)

/*
 * HKDF-Extract(salt, IKM): *prk receives a new 32-byte secret. salt may be
 * NULL with salt_len 0 (RFC 5869: then a string of 32 zero bytes).
 */
int m2msec_hkdf_extract(const uint8_t *salt, size_t salt_len, const struct m2msec_secret *ikm,
                        struct m2msec_secret **prk, struct m2msec_error *err);
/*
 * HKDF-Expand(PRK, info, L): info is the concatenation of info[0..ninfo)
 * (at most M2MSEC_HKDF_INFO_MAX bytes in all); *out receives a new secret of
 * out_len bytes (1..M2MSEC_HKDF_OUT_MAX). PRK must be at least 32 bytes.
 */
int m2msec_hkdf_expand(const struct m2msec_secret *prk, const struct m2msec_bytes *info,
                       size_t ninfo, size_t out_len, struct m2msec_secret **out,
                       struct m2msec_error *err);
/* HMAC-SHA-256 keyed by a secret over the concatenation of msg[0..nmsg). */
int m2msec_hmac_sha256_secret(const struct m2msec_secret *key, const struct m2msec_bytes *msg,
                              size_t nmsg, uint8_t out[M2MSEC_SHA256_LEN],
                              struct m2msec_error *err);

#endif
