/*
 * util/time.h - wall clock, monotonic clock, oneM2M timestamps.
 *
 * Layer: util. m2msec_now() is the one source of wall-clock time for expiry
 * decisions so tests can move it (M2MSEC_TESTING builds only).
 */
#ifndef M2MSEC_UTIL_TIME_H
#define M2MSEC_UTIL_TIME_H

#include <stdint.h>

#include "util/error.h"

/* "YYYYMMDDThhmmss" + NUL */
#define M2MSEC_TIMESTAMP_LEN 16

/* Seconds since the epoch, UTC. */
int64_t m2msec_now(void);
/* Milliseconds from CLOCK_MONOTONIC. */
uint64_t m2msec_monotonic_ms(void);

/* Format t (UTC) as an m2m:timestamp "YYYYMMDDThhmmss". */
int m2msec_timestamp_format(int64_t t, char out[M2MSEC_TIMESTAMP_LEN]);
/*
 * Parse an m2m:timestamp. Accepts "YYYYMMDDThhmmss" optionally followed by
 * ",ffffff" fractional seconds (ignored) and/or "Z"; rejects everything else and
 * out-of-range fields. Result is UTC seconds since the epoch.
 */
int m2msec_timestamp_parse(const char *s, int64_t *out, struct m2msec_error *err);

#ifdef M2MSEC_TESTING
/* Add offset seconds to every m2msec_now() result (0 restores the real clock). */
void m2msec_test_clock_offset(int64_t offset);
#endif

#endif
