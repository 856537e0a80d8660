/*
 * crypto/seal.h - AES-256-GCM sealing of secrets at rest, and KEK files.
 *
 * Layer: crypto. Sealed blob = version (1 byte, 0x01) || nonce (12) ||
 * ciphertext || tag (16). The AAD binds the record kind and id so a sealed
 * value cannot be moved to another row. Opening fails with M2MSEC_ERR_AUTH on
 * any tampering or wrong AAD.
 */
#ifndef M2MSEC_CRYPTO_SEAL_H
#define M2MSEC_CRYPTO_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/secret.h"

#define M2MSEC_SEAL_OVERHEAD (1 + 12 + 16)
#define M2MSEC_KEK_LEN       32

int m2msec_seal(const struct m2msec_secret *kek, const uint8_t *aad, size_t aadlen,
                const struct m2msec_secret *plain, uint8_t **out, size_t *outlen,
                struct m2msec_error *err);
int m2msec_unseal(const struct m2msec_secret *kek, const uint8_t *aad, size_t aadlen,
                  const uint8_t *in, size_t inlen, struct m2msec_secret **out,
                  struct m2msec_error *err);

/* Create a new random KEK file (mode 0600, O_EXCL) holding 32 bytes as hex. */
int m2msec_kek_create(const char *path, struct m2msec_error *err);
/* Load a KEK file; refuses files readable by group or others. */
struct m2msec_secret *m2msec_kek_load(const char *path, struct m2msec_error *err);

#endif
