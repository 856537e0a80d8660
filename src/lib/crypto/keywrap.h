/*
 * crypto/keywrap.h - AES key wrap (RFC 3394) with the default IV.
 *
 * Layer: crypto. KEK of 16, 24 or 32 bytes; key data a multiple of 8 bytes,
 * at least 16. Unwrap fails with M2MSEC_ERR_AUTH when the integrity check fails.
 */
#ifndef M2MSEC_CRYPTO_KEYWRAP_H
#define M2MSEC_CRYPTO_KEYWRAP_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/secret.h"

/* out must hold key_len + 8 bytes. */
int m2msec_keywrap(const struct m2msec_secret *kek, const struct m2msec_secret *key, uint8_t *out,
                   size_t outsz, size_t *outlen, struct m2msec_error *err);
int m2msec_keyunwrap(const struct m2msec_secret *kek, const uint8_t *in, size_t inlen,
                     struct m2msec_secret **out, struct m2msec_error *err);

#endif
