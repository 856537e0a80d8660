/*
 * util/secret.h - the one type that holds key material.
 *
 * Layer: util. Bytes live on OpenSSL's secure heap when it is initialised
 * (daemons call m2msec_secure_heap_init at start-up) and are always cleansed
 * on free. There is deliberately no accessor returning char *, so a secret
 * cannot be printed with %s by accident. Comparisons are constant time.
 */
#ifndef M2MSEC_UTIL_SECRET_H
#define M2MSEC_UTIL_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define M2MSEC_SECRET_MAX 4096 /* no key we handle is larger */

struct m2msec_secret;

/* Initialise OpenSSL's secure heap (size bytes, power of two). 0, or -1 if unavailable. */
int m2msec_secure_heap_init(size_t size);

/* A zeroed secret of len bytes (1..M2MSEC_SECRET_MAX). */
struct m2msec_secret *m2msec_secret_new(size_t len, struct m2msec_error *err);
struct m2msec_secret *m2msec_secret_from(const uint8_t *buf, size_t len, struct m2msec_error *err);
/* len bytes from RAND_priv_bytes. */
struct m2msec_secret *m2msec_secret_random(size_t len, struct m2msec_error *err);
struct m2msec_secret *m2msec_secret_dup(const struct m2msec_secret *s, struct m2msec_error *err);
/* Parse hex (either case); whitespace (space, tab, CR, LF) is skipped. */
struct m2msec_secret *m2msec_secret_from_hex(const char *hex, size_t len, struct m2msec_error *err);
/* Read a file holding hex text (see above) into a secret. The read buffer is wiped. */
struct m2msec_secret *m2msec_secret_load_hex_file(const char *path, struct m2msec_error *err);
void m2msec_secret_free(struct m2msec_secret *s);

size_t m2msec_secret_len(const struct m2msec_secret *s);
/* Borrowed bytes, for crypto/ and tls/ only. */
const uint8_t *m2msec_secret_bytes(const struct m2msec_secret *s);
uint8_t *m2msec_secret_bytes_mut(struct m2msec_secret *s);
/* 1 when both have the same length and bytes (constant time in the bytes), else 0. */
int m2msec_secret_equal(const struct m2msec_secret *a, const struct m2msec_secret *b);

/* Cleanse memory in a way the compiler cannot elide. */
void m2msec_wipe(void *p, size_t n);
/* Constant-time comparison of n bytes: 0 when equal. */
int m2msec_ct_memcmp(const void *a, const void *b, size_t n);

#endif
