/*
 * proto/ibc_sigma.h - IBC-SIGMA: ECCSI-signed ephemeral ECDH between two enrolees -> Kpsa.
 *
 * Layer: proto (I/O-free: bytes in, bytes out; no clock, no sockets; times
 * are parameters). Crypto through crypto/ (ecdh, hkdf, hash, eccsi).
 * Design: IBC-DESIGN.md (shared/docs) 4.2; wire format: docs/PROTOCOL.md
 * "IBC: ID2 and IBC-SIGMA messages".
 *
 *   M1  A->B  HDR(1) N_A T_A X_A vec16(ID2_A) vec16(ID1_B expected or empty)
 *   M2  B->A  HDR(2) N_B T_B X_B vec16(ID2_B) SIG_B MAC_B
 *   M3  A->B  HDR(3) SIG_A MAC_A
 *
 * Both parties end with the same Kpsa (32 bytes) and KpsaID
 * ("ibc-<32 hex>@<FQDN of ID2_B>", TS-0003 10.5 form) for a TLS-PSK session,
 * whose lifetime (including resumption) must not go past
 * min(EXPIRY_A, EXPIRY_B) (struct m2msec_ibc_session.expires).
 *
 * Typical use (initiator A; the responder is symmetric):
 *
 *   cred = m2msec_ibc_cred_new(id2, id2_len, ssk, pvt, kpak, &err);   // once, validated
 *   s = m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, cred, &policy, "/in-cse/Cb", &err);
 *   m2msec_ibc_sigma_start(s, now, m1, sizeof(m1), &m1_len, &err);     -> send M1
 *   m2msec_ibc_sigma_handle_m2(s, now, m2, m2_len, m3, sizeof(m3), &m3_len, &err); -> send M3
 *   m2msec_ibc_sigma_result(s, &kpsa, &info, &err);                    -> TLS-PSK
 *   m2msec_ibc_sigma_free(s);
 *
 *   B: s = m2msec_ibc_sigma_new(M2MSEC_IBC_RESPONDER, cred, &policy, NULL, &err);
 *      m2msec_ibc_sigma_handle_m1(s, now, m1, ..., m2, ...);  -> send M2
 *      m2msec_ibc_sigma_handle_m3(s, m3, m3_len, &err);
 *      m2msec_ibc_sigma_result(s, &kpsa, &info, &err);
 *
 * Refusals. Every handler checks, in this order and before any ECDH or
 * signature work it can avoid: strict framing (exact lengths, magic,
 * version, type, suite) and that the ephemeral point is on P-256
 * (M2MSEC_ERR_PROTOCOL / M2MSEC_ERR_AUTH); its own credential has not
 * expired (M2MSEC_ERR_EXPIRED); the peer's ID2 parses, its FQDN has a
 * trusted MPK valid now, it is not expired (within the skew,
 * M2MSEC_ERR_EXPIRED) and not issued for longer than max_lifetime; the peer
 * ID1 is the expected one; M1's "expected responder" names us; the peer's
 * clock is within the skew; M1 is not a replay (when a replay cache is
 * given). Then the signature and the MAC (M2MSEC_ERR_AUTH). The error
 * message is the reason ("M1 refused: peer ID2 expired at ...", ...). After
 * a refusal the session is dead: no key is produced, every later call fails
 * with M2MSEC_ERR_INVALID_STATE, and the transient keys are wiped.
 *
 * The initiator completes on M2 (it then holds Kpsa); if the responder
 * refuses M3 it holds none, and the TLS-PSK handshake that follows fails.
 *
 * Replay. Freshness comes from both nonces and both ephemeral keys: a
 * replayed M1 cannot be completed (the attacker cannot sign TH3), and a
 * replayed M2 or M3 fails the signature over the victim's own nonce. A
 * responder may also pass a replay cache (struct m2msec_ibc_replay) so that
 * a replayed M1 is refused at once, before any ECDH or signing work.
 *
 * Objects are not thread-safe; one session per handshake. A bench can loop
 * over new / start / handle_* / result / free.
 */
#ifndef M2MSEC_PROTO_IBC_SIGMA_H
#define M2MSEC_PROTO_IBC_SIGMA_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/eccsi.h"
#include "proto/id2.h"
#include "proto/ids.h"
#include "util/error.h"
#include "util/secret.h"

/* IBC-DESIGN 4.2 framing */
#define M2MSEC_IBC_MAGIC     "OM2MIBC"
#define M2MSEC_IBC_MAGIC_LEN 7
#define M2MSEC_IBC_VERSION   0x01
#define M2MSEC_IBC_SUITE     0x0001 /* P-256 ECDH, ECCSI-P256-SHA256, HKDF-SHA-256 */
#define M2MSEC_IBC_HDR_LEN   11     /* magic 7, version 1, type 1, suite 2 */
#define M2MSEC_IBC_NONCE_LEN 32
#define M2MSEC_IBC_TIME_LEN  8
#define M2MSEC_IBC_POINT_LEN 65
#define M2MSEC_IBC_MAC_LEN   32
#define M2MSEC_IBC_MSG_M1    1
#define M2MSEC_IBC_MSG_M2    2
#define M2MSEC_IBC_MSG_M3    3
#define M2MSEC_IBC_FIXED_LEN \
    (M2MSEC_IBC_HDR_LEN + M2MSEC_IBC_NONCE_LEN + M2MSEC_IBC_TIME_LEN + M2MSEC_IBC_POINT_LEN)
#define M2MSEC_IBC_M1_MAX (M2MSEC_IBC_FIXED_LEN + 2 + M2MSEC_ID2_MAX + 2 + M2MSEC_ID2_ID1_MAX)
#define M2MSEC_IBC_M2_MAX \
    (M2MSEC_IBC_FIXED_LEN + 2 + M2MSEC_ID2_MAX + M2MSEC_ECCSI_SIG_LEN + M2MSEC_IBC_MAC_LEN)
#define M2MSEC_IBC_M3_LEN      (M2MSEC_IBC_HDR_LEN + M2MSEC_ECCSI_SIG_LEN + M2MSEC_IBC_MAC_LEN)
#define M2MSEC_IBC_MSG_MAX     1024 /* every message fits */
#define M2MSEC_IBC_KPSA_LEN    32
#define M2MSEC_IBC_KPSA_ID_MAX (4 + 32 + 1 + M2MSEC_FQDN_MAX)
#define M2MSEC_IBC_MPK_MAX     64 /* trust-store entries per policy */
#define M2MSEC_IBC_KPAK_TRY    2  /* KPAKs tried per FQDN (MPK rollover overlap) */

/* IBC-DESIGN 4.2 labels (ASCII, no terminator unless stated) */
#define M2MSEC_IBC_LABEL_SIG_B   "oneM2M-IBC v1 responder" /* followed by one 0x00 */
#define M2MSEC_IBC_LABEL_SIG_A   "oneM2M-IBC v1 initiator" /* followed by one 0x00 */
#define M2MSEC_IBC_LABEL_MAC     "oneM2M-IBC v1 mac"
#define M2MSEC_IBC_LABEL_FIN_B   "responder finished"
#define M2MSEC_IBC_LABEL_FIN_A   "initiator finished"
#define M2MSEC_IBC_LABEL_KPSA    "oneM2M-IBC v1 Kpsa"
#define M2MSEC_IBC_LABEL_KPSA_ID "oneM2M-IBC v1 KpsaID"
#define M2MSEC_IBC_LABEL_REPLAY  "oneM2M-IBC v1 replay"

enum m2msec_ibc_role {
    M2MSEC_IBC_INITIATOR = 1,
    M2MSEC_IBC_RESPONDER = 2,
};

/* ---- credentials ---- */

/* One's own IBC credential: ID2, SSK (secret), PVT and the issuer's KPAK. */
struct m2msec_ibc_cred;

/*
 * Check and copy a credential as delivered by the MEF (IBC-DESIGN 3.5): ID2
 * must parse (proto/id2.h) and (SSK, PVT) must pass RFC 6507 5.1.2 under
 * kpak for those ID2 bytes (M2MSEC_ERR_AUTH with the reason otherwise).
 * Expiry is not checked here (times are per handshake). Free with _free.
 */
struct m2msec_ibc_cred *m2msec_ibc_cred_new(const uint8_t *id2, size_t id2_len,
                                            const struct m2msec_secret *ssk,
                                            const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN],
                                            const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN],
                                            struct m2msec_error *err);
void m2msec_ibc_cred_free(struct m2msec_ibc_cred *c);
/* Borrowed: the parsed ID2, valid until _free. */
const struct m2msec_id2 *m2msec_ibc_cred_id2(const struct m2msec_ibc_cred *c);
#ifdef M2MSEC_TESTING
/* As _new without the 5.1.2 check, so tests can show a peer refusing a bad SSK. */
struct m2msec_ibc_cred *m2msec_ibc_cred_new_unchecked(const uint8_t *id2, size_t id2_len,
                                                      const struct m2msec_secret *ssk,
                                                      const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN],
                                                      const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN],
                                                      struct m2msec_error *err);
#endif

/* ---- policy ---- */

/* A trusted MPK: the KPAK published for an FQDN, with its validity. */
struct m2msec_ibc_mpk {
    char fqdn[M2MSEC_FQDN_MAX + 1]; /* lowercase, as in ID2 */
    uint8_t kpak[M2MSEC_ECCSI_POINT_LEN];
    int64_t not_before; /* Unix seconds; 0: no lower bound */
    int64_t not_after;  /* Unix seconds; 0: no upper bound */
};

/*
 * Replay cache, supplied by the caller (a responder). check_and_add gets a
 * 32-byte digest naming (ID2_A, N_A) and must answer 1 when it has seen it,
 * or else remember it at least until keep_until (Unix seconds) and answer 0;
 * -1 (with err set) on failure, which refuses the M1 (fail closed).
 */
struct m2msec_ibc_replay {
    int (*check_and_add)(void *arg, const uint8_t digest[32], int64_t now, int64_t keep_until,
                         struct m2msec_error *err);
    void *arg; /* not owned; kept alive by the caller while sessions use it */
};

struct m2msec_ibc_policy {
    const struct m2msec_ibc_mpk *mpk;       /* the trust store, copied by _new */
    size_t nmpk;                            /* 1..M2MSEC_IBC_MPK_MAX */
    int64_t skew;                           /* clock skew allowed, 0..300 s */
    int64_t max_lifetime;                   /* largest EXPIRY - now accepted, > 0 */
    const struct m2msec_ibc_replay *replay; /* optional; copied */
};

/*
 * A bounded in-memory replay cache (for daemons and tests). Entries expire
 * at their keep_until; when all capacity entries are live the cache answers
 * -1 (M2MSEC_ERR_TOO_LARGE) rather than forget one. Not thread-safe.
 */
struct m2msec_ibc_replay_mem;
struct m2msec_ibc_replay_mem *m2msec_ibc_replay_mem_new(size_t capacity, struct m2msec_error *err);
void m2msec_ibc_replay_mem_free(struct m2msec_ibc_replay_mem *r);
/* A struct m2msec_ibc_replay using r. */
struct m2msec_ibc_replay m2msec_ibc_replay_mem_iface(struct m2msec_ibc_replay_mem *r);

/* ---- sessions ---- */

struct m2msec_ibc_sigma;

/*
 * A handshake as initiator or responder with one's own (validated)
 * credential, copied. expected_peer_id1 (may be NULL) is the CSE-ID / AE-ID
 * the peer's ID2 must carry; an initiator also sends it in M1.
 */
struct m2msec_ibc_sigma *m2msec_ibc_sigma_new(enum m2msec_ibc_role role,
                                              const struct m2msec_ibc_cred *own,
                                              const struct m2msec_ibc_policy *policy,
                                              const char *expected_peer_id1,
                                              struct m2msec_error *err);
void m2msec_ibc_sigma_free(struct m2msec_ibc_sigma *s);

/* Initiator: write M1 into out (outsz >= M2MSEC_IBC_M1_MAX always suffices). */
int m2msec_ibc_sigma_start(struct m2msec_ibc_sigma *s, int64_t now, uint8_t *out, size_t outsz,
                           size_t *outlen, struct m2msec_error *err);
/* Responder: check M1, write M2. */
int m2msec_ibc_sigma_handle_m1(struct m2msec_ibc_sigma *s, int64_t now, const uint8_t *m1,
                               size_t m1_len, uint8_t *out, size_t outsz, size_t *outlen,
                               struct m2msec_error *err);
/* Initiator: check M2, write M3; the initiator is done on success. */
int m2msec_ibc_sigma_handle_m2(struct m2msec_ibc_sigma *s, int64_t now, const uint8_t *m2,
                               size_t m2_len, uint8_t *out, size_t outsz, size_t *outlen,
                               struct m2msec_error *err);
/* Responder: check M3; the responder is done on success. */
int m2msec_ibc_sigma_handle_m3(struct m2msec_ibc_sigma *s, const uint8_t *m3, size_t m3_len,
                               struct m2msec_error *err);

/* 1 when the handshake completed, else 0. */
int m2msec_ibc_sigma_done(const struct m2msec_ibc_sigma *s);

/* What a completed handshake established. */
struct m2msec_ibc_session {
    char kpsa_id[M2MSEC_IBC_KPSA_ID_MAX + 1];
    int64_t expires;        /* min(EXPIRY_A, EXPIRY_B): cap of the TLS-PSK session */
    struct m2msec_id2 peer; /* the authenticated peer identity */
};

/*
 * After completion: *kpsa receives the 32-byte Kpsa (the caller owns and
 * frees it; a second call fails) and info the KpsaID, lifetime and peer.
 */
int m2msec_ibc_sigma_result(struct m2msec_ibc_sigma *s, struct m2msec_secret **kpsa,
                            struct m2msec_ibc_session *info, struct m2msec_error *err);

/* The message type (1..3) of a framed IBC-SIGMA message, or -1 if it is not one. */
int m2msec_ibc_msg_type(const uint8_t *msg, size_t len);

#endif
