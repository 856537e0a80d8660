/*
 * util/unicode.h - NFKC normalisation of identity inputs.
 *
 * Layer: util. TS-0003 10.3.x: identity inputs to derivations are UTF-8 after
 * NFKC normalisation. Invalid UTF-8 and embedded NUL are rejected.
 */
#ifndef M2MSEC_UTIL_UNICODE_H
#define M2MSEC_UTIL_UNICODE_H

#include <stddef.h>

#include "util/error.h"

/* 1 when s[0..len) is valid UTF-8 without NUL, else 0. */
int m2msec_utf8_valid(const char *s, size_t len);
/* NFKC of s (NUL-terminated); *out allocated with m2msec_malloc, NUL-terminated. */
int m2msec_nfkc(const char *s, char **out, size_t *outlen, struct m2msec_error *err);

#endif
