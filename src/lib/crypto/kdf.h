/*
 * crypto/kdf.h - TS-0003 10.3 key derivations, exporter split, key check values.
 *
 * Layer: crypto (OpenSSL EVP only). All derivations are HMAC-SHA-256 with a
 * 32-byte output. Identity inputs are NFKC-normalised UTF-8; labels are ASCII
 * without terminator; "||" is plain concatenation.
 */
#ifndef M2MSEC_CRYPTO_KDF_H
#define M2MSEC_CRYPTO_KDF_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/secret.h"

#define M2MSEC_KEY_LEN     32
#define M2MSEC_REL_ID_LEN  16
#define M2MSEC_EXPORT_LEN  48
#define M2MSEC_HMAC_LEN    32
#define M2MSEC_KCV_HEX_LEN 17 /* 16 hex digits + NUL */

/* @spec TS-0003 10.3.1 exporter labels */
#define M2MSEC_LABEL_BOOTSTRAP  "EXPORTER-oneM2M-Bootstrap"
#define M2MSEC_LABEL_CONNECTION "EXPORTER-oneM2M-Connection"

/* @spec TS-0003 10.3.2, 10.3.3, 10.3.7 derivation labels */
#define M2MSEC_LABEL_KM   "oneM2M Enrolment Key to Master Credential derivation"
#define M2MSEC_LABEL_KPSA "oneM2M Enrolment Key to Provisioned Secure Connection Key derivation"
#define M2MSEC_LABEL_UC   "oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation"

#define M2MSEC_KCV_LABEL "m2msec key check value"

int m2msec_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
                       uint8_t out[M2MSEC_HMAC_LEN], struct m2msec_error *err);

/*
 * @spec TS-0003 10.3.1 (DEFECT-15: big-endian reading)
 * Split a 48-byte exporter output: bytes 0..15 are the relative identifier
 * (RelativeKeID / KcID), bytes 16..47 the key (Ke / Kc).
 */
int m2msec_export_split(const uint8_t in[M2MSEC_EXPORT_LEN], uint8_t rel_id[M2MSEC_REL_ID_LEN],
                        struct m2msec_secret **key, struct m2msec_error *err);

/* @spec TS-0003 10.3.2 Km = HMAC(Ke, LABEL_KM || MAF-ID) (legacy form) */
int m2msec_derive_km_legacy(const struct m2msec_secret *ke, const char *maf_id,
                            struct m2msec_secret **out, struct m2msec_error *err);
/* @spec TS-0003 10.3.3 Kpsa = HMAC(Ke, LABEL_KPSA || Enrolee-B-ID) (legacy form) */
int m2msec_derive_kpsa_legacy(const struct m2msec_secret *ke, const char *enrolee_b_id,
                              struct m2msec_secret **out, struct m2msec_error *err);
/* @spec TS-0003 10.3.7 K = HMAC(Ke, LABEL_UC || SUID || Enrolment-Target-ID) */
int m2msec_derive_usage_constrained(const struct m2msec_secret *ke, unsigned suid,
                                    const char *target_id, struct m2msec_secret **out,
                                    struct m2msec_error *err);
/*
 * DEFECT-5: the SUID encoding inside the 10.3.7 HMAC input is unspecified. We
 * use the ASCII decimal digits ("21"). This is the only place that decides it.
 * out must hold 4 bytes; returns the number of characters written, or -1.
 */
int m2msec_suid_encode(unsigned suid, char out[4]);

/* Key check value: lowercase hex of the first 8 bytes of HMAC(key, M2MSEC_KCV_LABEL). */
int m2msec_key_check_value(const struct m2msec_secret *key, char out[M2MSEC_KCV_HEX_LEN],
                           struct m2msec_error *err);

#endif
