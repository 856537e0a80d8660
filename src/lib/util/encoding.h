/*
 * util/encoding.h - hex, base64, strict numbers, bounded strings.
 *
 * Layer: util. Decoders are strict: they reject characters outside the
 * alphabet, odd hex lengths, non-canonical base64 padding, signs and leading
 * '+' in numbers, and anything that does not fit the output.
 */
#ifndef M2MSEC_UTIL_ENCODING_H
#define M2MSEC_UTIL_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Lowercase hex of n bytes into out (2n+1 bytes incl. NUL). -1 if outsz is too small. */
int m2msec_hex_encode(const uint8_t *in, size_t n, char *out, size_t outsz);
/* Hex (either case, even length, no whitespace) into out; *outlen = bytes written. */
int m2msec_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t outsz, size_t *outlen,
                      struct m2msec_error *err);
/* Standard base64 with padding; *out allocated with m2msec_malloc, NUL-terminated. */
int m2msec_b64_encode(const uint8_t *in, size_t n, char **out, struct m2msec_error *err);
/* Standard base64 with padding; *out allocated (m2msec_malloc), caller frees/wipes. */
int m2msec_b64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen,
                      struct m2msec_error *err);

/* Strict unsigned decimal: digits only, no sign, no leading zeros except "0", <= max. */
int m2msec_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);
/* Copy with truncation check: -1 (and dst = "") when src does not fit. */
int m2msec_strlcpy(char *dst, const char *src, size_t dstsz);
/* ASCII case-insensitive equality: 1 equal, 0 not. */
int m2msec_ascii_caseeq(const char *a, const char *b);
int m2msec_ascii_caseeqn(const char *a, const char *b, size_t n);

#endif
