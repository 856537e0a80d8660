/*
 * proto/id2.h - the IBC identity ID2 = FQDN 0x00 EXPIRY 0x00 ID1 0x00.
 *
 * Layer: proto (I/O-free: no clock, times are parameters). ID2 is the octet
 * string an ECCSI credential is issued for (crypto/eccsi.h takes it as the
 * RFC 6507 "ID", trailing NUL included). IBC-DESIGN.md (shared/docs) 3.4 and
 * docs/PROTOCOL.md "IBC: ID2 and IBC-SIGMA messages":
 *
 *   FQDN    the issuing MEF/PKG, lowercase LDH labels (1..63 each, at most
 *           253 in all, no trailing dot). Selects the trust anchor (MPK).
 *   EXPIRY  RFC 3339 UTC, exactly 20 characters "YYYY-MM-DDThh:mm:ssZ", the
 *           END of the key period (m2msec_id2_period_end), 1970..9999.
 *   ID1     the CSE-ID or AE-ID the MEF authorised (proto/ids.h syntax),
 *           1..200 octets.
 *
 * Every field is non-empty and NUL-free; exactly three NULs, the last one
 * the final octet. The parser is strict: any other shape, an upper-case
 * FQDN, a non-canonical time, or trailing bytes is refused, so that one
 * identity has exactly one encoding (it is signed and hashed as bytes).
 *
 * Usage: the MEF/PKG builds ID2 with m2msec_id2_encode(fqdn,
 * period_end(now), id1) and issues an ECCSI credential for those bytes; a
 * peer parses the ID2 it receives with m2msec_id2_parse and applies
 * m2msec_id2_check_times before trusting it.
 */
#ifndef M2MSEC_PROTO_ID2_H
#define M2MSEC_PROTO_ID2_H

#include <stddef.h>
#include <stdint.h>

#include "proto/ids.h"
#include "util/error.h"

#define M2MSEC_ID2_EXPIRY_LEN 20 /* "YYYY-MM-DDThh:mm:ssZ" */
#define M2MSEC_ID2_ID1_MAX    200
/* FQDN 0x00 EXPIRY 0x00 ID1 0x00 with every field at its maximum: 476 */
#define M2MSEC_ID2_MAX      (M2MSEC_FQDN_MAX + M2MSEC_ID2_EXPIRY_LEN + M2MSEC_ID2_ID1_MAX + 3)
#define M2MSEC_ID2_TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

/* A parsed ID2. */
struct m2msec_id2 {
    char fqdn[M2MSEC_FQDN_MAX + 1];
    int64_t expiry; /* Unix seconds, UTC */
    char id1[M2MSEC_ID2_ID1_MAX + 1];
};

/* 1 when s is a valid ID2 FQDN (lowercase LDH labels, see above). */
int m2msec_id2_fqdn_valid(const char *s);

/*
 * Build ID2 into out (outsz bytes; M2MSEC_ID2_MAX always suffices); *outlen
 * receives its length, trailing NUL included. M2MSEC_ERR_INVALID_ARGUMENT
 * (with the field) for any field the parser would refuse.
 */
int m2msec_id2_encode(const char *fqdn, int64_t expiry, const char *id1, uint8_t *out, size_t outsz,
                      size_t *outlen, struct m2msec_error *err);

/*
 * Strict parse of in[0..len). M2MSEC_ERR_PROTOCOL with the reason
 * ("missing NUL", "empty FQDN", "bad expiry", "trailing bytes", ...);
 * M2MSEC_ERR_TOO_LARGE when len exceeds M2MSEC_ID2_MAX. out is written only
 * on success.
 */
int m2msec_id2_parse(const uint8_t *in, size_t len, struct m2msec_id2 *out,
                     struct m2msec_error *err);

/* t (0..M2MSEC_ID2_TIME_MAX) as "YYYY-MM-DDThh:mm:ssZ" + NUL. */
int m2msec_id2_expiry_format(int64_t t, char out[M2MSEC_ID2_EXPIRY_LEN + 1],
                             struct m2msec_error *err);
/* Strict parse of exactly that form (len must be 20; seconds 00..59, real dates). */
int m2msec_id2_expiry_parse(const char *s, size_t len, int64_t *t, struct m2msec_error *err);

/*
 * Key periods: with period length `period` seconds (> 0) and `offset`
 * (0 <= offset < period), period k covers [offset + k*period,
 * offset + (k+1)*period). *end receives the end of the period holding t,
 * which is the EXPIRY a MEF puts into ID2 issued at time t, so any peer can
 * predict the ID2 of (FQDN, ID1) for a given time.
 */
int m2msec_id2_period_end(int64_t t, int64_t period, int64_t offset, int64_t *end,
                          struct m2msec_error *err);
/* 1 when expiry is a period boundary for (period, offset), else 0 (also for bad arguments). */
int m2msec_id2_expiry_aligned(int64_t expiry, int64_t period, int64_t offset);

/*
 * The time checks a verifier applies (IBC-DESIGN 4.2 step 2):
 *   now <= expiry + skew                 else M2MSEC_ERR_EXPIRED ("expired")
 *   expiry - now <= max_lifetime         else M2MSEC_ERR_AUTH ("mis-issued")
 * skew 0..M2MSEC_ID2_SKEW_MAX, max_lifetime > 0, now 0..M2MSEC_ID2_TIME_MAX
 * (else M2MSEC_ERR_INVALID_ARGUMENT).
 */
#define M2MSEC_ID2_SKEW_MAX 300
int m2msec_id2_check_times(const struct m2msec_id2 *id, int64_t now, int64_t skew,
                           int64_t max_lifetime, struct m2msec_error *err);

#endif
