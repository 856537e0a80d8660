/*
 * crypto/eccsi.h - ECCSI (RFC 6507) identity-based signatures on P-256 / SHA-256.
 *
 * Layer: crypto (OpenSSL EC / BIGNUM / EVP digest only; util below). This is
 * the signature scheme of the IBC credentials (IBC-DESIGN.md (shared/docs) section 1):
 *
 *   KMS (the MEF's PKG)   KSAK (secret, "MSK") -> KPAK = [KSAK]G (public, "MPK")
 *   issuance for an ID    (SSK secret, PVT public) = m2msec_eccsi_issue(kms, ID)
 *   device on receipt     m2msec_eccsi_validate(KPAK, ID, SSK, PVT)  (RFC 6507 5.1.2)
 *   device signs          m2msec_eccsi_sign(KPAK, ID, SSK, PVT, M) -> Sig (129 bytes)
 *   anyone verifies       m2msec_eccsi_verify(KPAK, ID, M, Sig)
 *
 * Encodings are exactly RFC 6507's: scalars are 32-byte big-endian (SSK,
 * KSAK), points are 65-byte uncompressed 0x04 || x || y (KPAK, PVT), and a
 * signature is r (32) || s (32) || PVT (65). ID is an opaque octet string,
 * hashed exactly as given (for oneM2M: the ID2 bytes of proto/id2.h,
 * including the trailing NUL).
 *
 * Errors: a credential or signature that fails a check is M2MSEC_ERR_AUTH
 * with a reason ("PVT is not on the curve", "signature does not verify",
 * ...); a malformed argument from the caller (a KPAK that is not a point,
 * NULL pointers) is M2MSEC_ERR_INVALID_ARGUMENT; OpenSSL failures are
 * M2MSEC_ERR_CRYPTO / M2MSEC_ERR_NOMEM.
 *
 * Every function is self-contained (no global state) and safe to call from
 * several threads; a bench can call sign / verify in a loop. The PKG knows
 * every SSK it issues (key escrow is inherent to IBC): see IBC-DESIGN 1.7.
 */
#ifndef M2MSEC_CRYPTO_ECCSI_H
#define M2MSEC_CRYPTO_ECCSI_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/secret.h"

#define M2MSEC_ECCSI_N          32   /* octets of p and q (P-256) */
#define M2MSEC_ECCSI_POINT_LEN  65   /* 0x04 || x || y */
#define M2MSEC_ECCSI_SCALAR_LEN 32   /* KSAK, SSK */
#define M2MSEC_ECCSI_HASH_LEN   32   /* HS, HE (SHA-256) */
#define M2MSEC_ECCSI_SIG_LEN    129  /* r || s || PVT */
#define M2MSEC_ECCSI_ID_MAX     4096 /* bound on identities, far above any ID2 */

/* A KMS: its KSAK (secret) and KPAK. Opaque; not thread-safe to free while in use. */
struct m2msec_eccsi_kms;

/* A new KMS with KSAK drawn uniformly from [1, q-1] (RAND_priv). */
struct m2msec_eccsi_kms *m2msec_eccsi_kms_new(struct m2msec_error *err);
/*
 * A KMS from a stored KSAK: 32 bytes big-endian in [1, q-1], otherwise
 * M2MSEC_ERR_INVALID_ARGUMENT. The secret is copied.
 */
struct m2msec_eccsi_kms *m2msec_eccsi_kms_load(const struct m2msec_secret *ksak,
                                               struct m2msec_error *err);
void m2msec_eccsi_kms_free(struct m2msec_eccsi_kms *kms);
/* Borrowed: the KPAK (65 bytes), valid until m2msec_eccsi_kms_free. */
const uint8_t *m2msec_eccsi_kms_kpak(const struct m2msec_eccsi_kms *kms);
/* Borrowed: the KSAK (32 bytes), for sealing it at rest; valid until _free. */
const struct m2msec_secret *m2msec_eccsi_kms_ksak(const struct m2msec_eccsi_kms *kms);

/*
 * RFC 6507 5.1.1: issue (SSK, PVT) for identity id[0..id_len) (1..ECCSI_ID_MAX
 * bytes). A fresh v is drawn for each call (and redrawn in the negligible
 * cases HS = 0 or SSK = 0). *ssk receives a new 32-byte secret; pvt the
 * 65-byte PVT. Send both to the device over a confidential, authenticated
 * channel (the MEF's TLS-PSK session).
 */
int m2msec_eccsi_issue(const struct m2msec_eccsi_kms *kms, const uint8_t *id, size_t id_len,
                       struct m2msec_secret **ssk, uint8_t pvt[M2MSEC_ECCSI_POINT_LEN],
                       struct m2msec_error *err);

/*
 * HS = SHA-256(G || KPAK || ID || PVT) with all points uncompressed. KPAK and
 * PVT are hashed as given (only their length is checked here).
 */
int m2msec_eccsi_hs(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id, size_t id_len,
                    const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN], uint8_t hs[M2MSEC_ECCSI_HASH_LEN],
                    struct m2msec_error *err);

/*
 * RFC 6507 5.1.2: a device checks a received (SSK, PVT) before storing it:
 * PVT on the curve (so not the point at infinity), 0 < SSK < q, and
 * [SSK]G = KPAK + [HS]PVT. -1 with M2MSEC_ERR_AUTH and the failing check
 * otherwise. hs may be NULL; else it receives HS (RFC: store it with SSK).
 */
int m2msec_eccsi_validate(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id,
                          size_t id_len, const struct m2msec_secret *ssk,
                          const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN],
                          uint8_t hs[M2MSEC_ECCSI_HASH_LEN], struct m2msec_error *err);

/*
 * RFC 6507 5.2.1: sign msg[0..msg_len) as identity id with (SSK, PVT) issued
 * under KPAK. j is fresh for every signature (RAND_priv). sig receives
 * r || s || PVT (129 bytes). The credential is not re-validated here
 * (validate once on receipt); a wrong SSK gives signatures that do not verify.
 */
int m2msec_eccsi_sign(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id, size_t id_len,
                      const struct m2msec_secret *ssk, const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN],
                      const uint8_t *msg, size_t msg_len, uint8_t sig[M2MSEC_ECCSI_SIG_LEN],
                      struct m2msec_error *err);

/*
 * RFC 6507 5.2.2, with hardening: sig_len must be 129, 0 < r < q and
 * 0 < s < q, PVT uncompressed and on the curve, then J = [s]([HE]G + [r]Y)
 * with Y = [HS]PVT + KPAK must not be the point at infinity and its x must
 * equal r. 0 when the signature is valid; -1 with M2MSEC_ERR_AUTH and the
 * failing check otherwise. All inputs are public; the final comparison is
 * constant time anyway. ECCSI signatures are malleable ((r, q - s) also
 * verifies): never use signature bytes as a replay-cache key.
 */
int m2msec_eccsi_verify(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id,
                        size_t id_len, const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                        size_t sig_len, struct m2msec_error *err);

/*
 * Y = KPAK + [HS]PVT, the signer's ordinary P-256 public key (Y = [SSK]G).
 * A verifier may cache it per peer; tests compare it with RFC 6507's value.
 */
int m2msec_eccsi_public_y(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id,
                          size_t id_len, const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN],
                          uint8_t y[M2MSEC_ECCSI_POINT_LEN], struct m2msec_error *err);

#ifdef M2MSEC_TESTING
/*
 * Known-answer variants: the ephemeral v (issuance) or j (signing) is given
 * (32 bytes in [1, q-1]) instead of drawn. Never for real keys: a repeated j
 * reveals SSK. Compiled only in M2MSEC_TESTING builds.
 */
int m2msec_eccsi_issue_fixed(const struct m2msec_eccsi_kms *kms, const uint8_t *id, size_t id_len,
                             const struct m2msec_secret *v, struct m2msec_secret **ssk,
                             uint8_t pvt[M2MSEC_ECCSI_POINT_LEN], struct m2msec_error *err);
int m2msec_eccsi_sign_fixed(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id,
                            size_t id_len, const struct m2msec_secret *ssk,
                            const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN], const uint8_t *msg,
                            size_t msg_len, const struct m2msec_secret *j,
                            uint8_t sig[M2MSEC_ECCSI_SIG_LEN], struct m2msec_error *err);
#endif

#endif
