/*
 * crypto/rand.h - randomness. Keys use RAND_priv_bytes; identifiers and nonces RAND_bytes.
 */
#ifndef M2MSEC_CRYPTO_RAND_H
#define M2MSEC_CRYPTO_RAND_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

int m2msec_rand_bytes(uint8_t *buf, size_t n, struct m2msec_error *err);
int m2msec_rand_priv_bytes(uint8_t *buf, size_t n, struct m2msec_error *err);
/* n random bytes as lowercase hex into out (2n+1). */
int m2msec_rand_hex(char *out, size_t n, struct m2msec_error *err);

#endif
