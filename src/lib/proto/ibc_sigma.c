/*
 * proto/ibc_sigma.c - IBC-SIGMA: ECCSI-signed ephemeral ECDH between two enrolees -> Kpsa.
 *
 * Layer: proto (I/O-free; util, crypto and proto/id2, proto/ids below; no
 * clock, no sockets, no OpenSSL headers). Key material stays in
 * struct m2msec_secret and is only handed to crypto/. The protocol and its
 * rationale are in ibc_sigma.h and IBC-DESIGN.md (shared/docs) 4.2:
 *
 *   Z     = x(ECDH)                       PRK  = HKDF-Extract(N_A || N_B, Z)
 *   TH2   = H(M1 || M2 up to vec16(ID2_B))
 *   SIG_B = ECCSI(SSK_B, ID2_B, "oneM2M-IBC v1 responder" 0x00 || TH2)
 *   K_mac = HKDF-Expand(PRK, "oneM2M-IBC v1 mac" || TH2, 32)
 *   MAC_B = HMAC(K_mac, "responder finished" || H(M1 || M2 up to SIG_B))
 *   TH3   = H(M1 || M2 || HDR(3))
 *   SIG_A = ECCSI(SSK_A, ID2_A, "oneM2M-IBC v1 initiator" 0x00 || TH3)
 *   MAC_A = HMAC(K_mac, "initiator finished" || H(M1 || M2 || HDR(3) || SIG_A))
 *   THf   = H(M1 || M2 || M3)
 *   Kpsa  = HKDF-Expand(PRK, "oneM2M-IBC v1 Kpsa" || THf, 32)
 *   KpsaID = "ibc-" hex(H("oneM2M-IBC v1 KpsaID" || THf))[0..31] "@" FQDN(ID2_B)
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crypto/eccsi.h"
#include "crypto/ecdh.h"
#include "crypto/hash.h"
#include "crypto/hkdf.h"
#include "crypto/rand.h"
#include "proto/ibc_sigma.h"
#include "proto/id2.h"
#include "proto/ids.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

/* ---- credentials ---- */

struct m2msec_ibc_cred {
    uint8_t id2[M2MSEC_ID2_MAX];
    size_t id2_len;
    struct m2msec_id2 parsed;
    struct m2msec_secret *ssk;
    uint8_t pvt[M2MSEC_ECCSI_POINT_LEN];
    uint8_t kpak[M2MSEC_ECCSI_POINT_LEN];
};

void
m2msec_ibc_cred_free(struct m2msec_ibc_cred *c)
{
    if (c == NULL) {
        return;
    }
    m2msec_secret_free(c->ssk);
    m2msec_free(c);
}

static struct m2msec_ibc_cred *
cred_make(const uint8_t *id2, size_t id2_len, const struct m2msec_secret *ssk,
          const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN], const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN],
          int validate, struct m2msec_error *err)
{
    struct m2msec_ibc_cred *c = NULL;
    struct m2msec_ibc_cred *ret = NULL;

    if (id2 == NULL || ssk == NULL || pvt == NULL || kpak == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "IBC credential: missing field");
        goto out;
    }
    c = m2msec_calloc(1, sizeof(*c));
    if (c == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "IBC credential: out of memory");
        goto out;
    }
    if (m2msec_id2_parse(id2, id2_len, &c->parsed, err) == -1) {
        m2msec_error_wrap(err, "IBC credential");
        goto out;
    }
    /* @spec RFC 6507 5.1.2 a device validates (SSK, PVT) for its ID before using it */
    if (validate && m2msec_eccsi_validate(kpak, id2, id2_len, ssk, pvt, NULL, err) == -1) {
        m2msec_error_wrap(err, "IBC credential refused");
        goto out;
    }
    c->ssk = m2msec_secret_dup(ssk, err);
    if (c->ssk == NULL) {
        goto out;
    }
    memcpy(c->id2, id2, id2_len);
    c->id2_len = id2_len;
    memcpy(c->pvt, pvt, sizeof(c->pvt));
    memcpy(c->kpak, kpak, sizeof(c->kpak));
    ret = c;
    c = NULL;
out:
    m2msec_ibc_cred_free(c);
    return ret;
}

struct m2msec_ibc_cred *
m2msec_ibc_cred_new(const uint8_t *id2, size_t id2_len, const struct m2msec_secret *ssk,
                    const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN],
                    const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], struct m2msec_error *err)
{
    return cred_make(id2, id2_len, ssk, pvt, kpak, 1, err);
}

#ifdef M2MSEC_TESTING
struct m2msec_ibc_cred *
m2msec_ibc_cred_new_unchecked(const uint8_t *id2, size_t id2_len, const struct m2msec_secret *ssk,
                              const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN],
                              const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], struct m2msec_error *err)
{
    return cred_make(id2, id2_len, ssk, pvt, kpak, 0, err);
}
#endif

const struct m2msec_id2 *
m2msec_ibc_cred_id2(const struct m2msec_ibc_cred *c)
{
    return c != NULL ? &c->parsed : NULL;
}

static struct m2msec_ibc_cred *
cred_dup(const struct m2msec_ibc_cred *c, struct m2msec_error *err)
{
    struct m2msec_ibc_cred *d = m2msec_calloc(1, sizeof(*d));

    if (d == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "IBC credential: out of memory");
        return NULL;
    }
    *d = *c;
    d->ssk = m2msec_secret_dup(c->ssk, err);
    if (d->ssk == NULL) {
        m2msec_free(d);
        return NULL;
    }
    return d;
}

/* ---- in-memory replay cache ---- */

struct replay_entry {
    uint8_t digest[32];
    int64_t keep_until;
};

struct m2msec_ibc_replay_mem {
    size_t cap;
    size_t n;
    struct replay_entry *e;
};

struct m2msec_ibc_replay_mem *
m2msec_ibc_replay_mem_new(size_t capacity, struct m2msec_error *err)
{
    struct m2msec_ibc_replay_mem *r = NULL;

    if (capacity == 0 || capacity > 1000000) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "replay cache: bad capacity %zu",
                          capacity);
        return NULL;
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "replay cache: out of memory");
        return NULL;
    }
    r->e = m2msec_calloc(capacity, sizeof(*r->e));
    if (r->e == NULL) {
        m2msec_free(r);
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "replay cache: out of memory");
        return NULL;
    }
    r->cap = capacity;
    return r;
}

void
m2msec_ibc_replay_mem_free(struct m2msec_ibc_replay_mem *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->e);
    m2msec_free(r);
}

static int
replay_mem_check(void *arg, const uint8_t digest[32], int64_t now, int64_t keep_until,
                 struct m2msec_error *err)
{
    struct m2msec_ibc_replay_mem *r = arg;
    size_t w = 0;

    /* Drop expired entries, compacting in place. */
    for (size_t i = 0; i < r->n; i++) {
        if (r->e[i].keep_until >= now) {
            r->e[w++] = r->e[i];
        }
    }
    r->n = w;
    for (size_t i = 0; i < r->n; i++) {
        if (memcmp(r->e[i].digest, digest, 32) == 0) { /* public */
            return 1;
        }
    }
    if (r->n == r->cap) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "replay cache full (%zu entries)",
                                 r->cap);
    }
    memcpy(r->e[r->n].digest, digest, 32);
    r->e[r->n].keep_until = keep_until;
    r->n++;
    return 0;
}

struct m2msec_ibc_replay
m2msec_ibc_replay_mem_iface(struct m2msec_ibc_replay_mem *r)
{
    struct m2msec_ibc_replay i = { replay_mem_check, r };

    return i;
}

/* ---- sessions ---- */

enum state {
    ST_NEW = 0,
    ST_SENT_M1, /* initiator waiting for M2 */
    ST_SENT_M2, /* responder waiting for M3 */
    ST_DONE,
    ST_TAKEN, /* done, Kpsa handed out */
    ST_FAILED,
};

struct m2msec_ibc_sigma {
    enum m2msec_ibc_role role;
    enum state state;
    struct m2msec_ibc_cred *own;
    struct m2msec_ibc_mpk mpk[M2MSEC_IBC_MPK_MAX];
    size_t nmpk;
    int64_t skew;
    int64_t max_lifetime;
    struct m2msec_ibc_replay replay;
    int have_replay;
    char expected[M2MSEC_ID2_ID1_MAX + 1]; /* "" when any peer will do */

    struct m2msec_ecdh *eph;
    uint8_t m1[M2MSEC_IBC_M1_MAX];
    size_t m1_len;
    uint8_t m2[M2MSEC_IBC_M2_MAX];
    size_t m2_len;
    size_t m2_sig_off; /* offset of SIG_B in m2 = length of the part TH2 covers */

    uint8_t peer_id2[M2MSEC_ID2_MAX];
    size_t peer_id2_len;
    struct m2msec_id2 peer;
    uint8_t peer_kpak[M2MSEC_IBC_KPAK_TRY][M2MSEC_ECCSI_POINT_LEN];
    size_t npeer_kpak;

    struct m2msec_secret *prk;
    struct m2msec_secret *kmac;
    struct m2msec_secret *kpsa;
    struct m2msec_ibc_session info;
};

/* Forget every key and mark the session dead (after any refusal). */
static void
fail(struct m2msec_ibc_sigma *s)
{
    m2msec_ecdh_free(s->eph);
    s->eph = NULL;
    m2msec_secret_free(s->prk);
    s->prk = NULL;
    m2msec_secret_free(s->kmac);
    s->kmac = NULL;
    m2msec_secret_free(s->kpsa);
    s->kpsa = NULL;
    s->state = ST_FAILED;
}

void
m2msec_ibc_sigma_free(struct m2msec_ibc_sigma *s)
{
    if (s == NULL) {
        return;
    }
    fail(s);
    m2msec_ibc_cred_free(s->own);
    m2msec_wipe(s, sizeof(*s));
    m2msec_free(s);
}

struct m2msec_ibc_sigma *
m2msec_ibc_sigma_new(enum m2msec_ibc_role role, const struct m2msec_ibc_cred *own,
                     const struct m2msec_ibc_policy *policy, const char *expected_peer_id1,
                     struct m2msec_error *err)
{
    struct m2msec_ibc_sigma *s = NULL;
    struct m2msec_ibc_sigma *ret = NULL;

    if ((role != M2MSEC_IBC_INITIATOR && role != M2MSEC_IBC_RESPONDER) || own == NULL ||
        policy == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "IBC-SIGMA: missing argument");
        goto out;
    }
    if (policy->mpk == NULL || policy->nmpk == 0 || policy->nmpk > M2MSEC_IBC_MPK_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "IBC-SIGMA: trust store must hold 1..%d MPKs", M2MSEC_IBC_MPK_MAX);
        goto out;
    }
    if (policy->skew < 0 || policy->skew > M2MSEC_ID2_SKEW_MAX || policy->max_lifetime <= 0 ||
        policy->max_lifetime > M2MSEC_ID2_TIME_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "IBC-SIGMA: skew must be 0..%d s and max lifetime positive",
                          M2MSEC_ID2_SKEW_MAX);
        goto out;
    }
    if (policy->replay != NULL && policy->replay->check_and_add == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "IBC-SIGMA: replay cache without "
                          "callback");
        goto out;
    }
    for (size_t i = 0; i < policy->nmpk; i++) {
        if (!m2msec_id2_fqdn_valid(policy->mpk[i].fqdn)) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                              "IBC-SIGMA: trust store entry %zu: bad FQDN", i);
            goto out;
        }
    }
    if (expected_peer_id1 != NULL &&
        (strnlen(expected_peer_id1, M2MSEC_ID2_ID1_MAX + 1) > M2MSEC_ID2_ID1_MAX ||
         !m2msec_entity_id_valid(expected_peer_id1))) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "IBC-SIGMA: expected peer is not a CSE-ID or AE-ID");
        goto out;
    }
    s = m2msec_calloc(1, sizeof(*s));
    if (s == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "IBC-SIGMA: out of memory");
        goto out;
    }
    s->role = role;
    s->state = ST_NEW;
    s->own = cred_dup(own, err);
    if (s->own == NULL) {
        goto out;
    }
    memcpy(s->mpk, policy->mpk, policy->nmpk * sizeof(policy->mpk[0]));
    s->nmpk = policy->nmpk;
    s->skew = policy->skew;
    s->max_lifetime = policy->max_lifetime;
    if (policy->replay != NULL) {
        s->replay = *policy->replay;
        s->have_replay = 1;
    }
    if (expected_peer_id1 != NULL) {
        memcpy(s->expected, expected_peer_id1, strlen(expected_peer_id1) + 1);
    }
    ret = s;
    s = NULL;
out:
    m2msec_ibc_sigma_free(s);
    return ret;
}

int
m2msec_ibc_sigma_done(const struct m2msec_ibc_sigma *s)
{
    return s != NULL && (s->state == ST_DONE || s->state == ST_TAKEN);
}

/* ---- framing ---- */

static void
put_hdr(uint8_t *p, uint8_t type)
{
    memcpy(p, M2MSEC_IBC_MAGIC, M2MSEC_IBC_MAGIC_LEN);
    p[7] = M2MSEC_IBC_VERSION;
    p[8] = type;
    p[9] = (uint8_t)(M2MSEC_IBC_SUITE >> 8);
    p[10] = (uint8_t)(M2MSEC_IBC_SUITE & 0xff);
}

static void
put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t
get_u64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

int
m2msec_ibc_msg_type(const uint8_t *msg, size_t len)
{
    if (msg == NULL || len < M2MSEC_IBC_HDR_LEN ||
        memcmp(msg, M2MSEC_IBC_MAGIC, M2MSEC_IBC_MAGIC_LEN) != 0 || /* public */
        msg[7] != M2MSEC_IBC_VERSION || msg[9] != (uint8_t)(M2MSEC_IBC_SUITE >> 8) ||
        msg[10] != (uint8_t)(M2MSEC_IBC_SUITE & 0xff) || msg[8] < M2MSEC_IBC_MSG_M1 ||
        msg[8] > M2MSEC_IBC_MSG_M3) {
        return -1;
    }
    return msg[8];
}

/* A bounds-checked reader: every take fails once the reader has failed. */
struct rd {
    const uint8_t *p;
    size_t len;
    size_t pos;
    const char *bad; /* first field that did not fit, NULL while fine */
};

static const uint8_t *
take(struct rd *r, size_t n, const char *what)
{
    const uint8_t *p = NULL;

    if (r->bad != NULL) {
        return NULL;
    }
    if (n > r->len - r->pos) {
        r->bad = what;
        return NULL;
    }
    p = r->p + r->pos;
    r->pos += n;
    return p;
}

/* vec16: a 2-byte big-endian length (at most max) and that many bytes. */
static const uint8_t *
take_vec16(struct rd *r, size_t max, size_t *n, const char *what)
{
    const uint8_t *l = take(r, 2, what);
    size_t len = 0;

    if (l == NULL) {
        return NULL;
    }
    len = (size_t)l[0] << 8 | l[1];
    if (len > max) {
        r->bad = what;
        return NULL;
    }
    *n = len;
    return take(r, len, what);
}

/* Header of the expected type; the reason on failure. */
static int
check_hdr(const uint8_t *msg, size_t len, uint8_t type, const char *name, struct m2msec_error *err)
{
    if (len < M2MSEC_IBC_HDR_LEN) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "%s refused: truncated header", name);
    }
    if (memcmp(msg, M2MSEC_IBC_MAGIC, M2MSEC_IBC_MAGIC_LEN) != 0) { /* public */
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "%s refused: not an IBC-SIGMA message",
                                 name);
    }
    if (msg[7] != M2MSEC_IBC_VERSION) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "%s refused: unknown version %u", name,
                                 msg[7]);
    }
    if (msg[8] != type) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "%s refused: message type %u where %u was expected", name, msg[8],
                                 type);
    }
    if (msg[9] != (uint8_t)(M2MSEC_IBC_SUITE >> 8) ||
        msg[10] != (uint8_t)(M2MSEC_IBC_SUITE & 0xff)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "%s refused: unknown suite 0x%02x%02x",
                                 name, msg[9], msg[10]);
    }
    return 0;
}

/* ---- identity checks (before any expensive crypto) ---- */

static int
own_not_expired(const struct m2msec_ibc_sigma *s, int64_t now, const char *name,
                struct m2msec_error *err)
{
    char exp[M2MSEC_ID2_EXPIRY_LEN + 1];

    /* IBC-DESIGN 4.2 step 4: no handshake on an expired own credential. */
    if (now > s->own->parsed.expiry) {
        if (m2msec_id2_expiry_format(s->own->parsed.expiry, exp, err) == -1) {
            return -1;
        }
        return m2msec_error_setx(err, M2MSEC_ERR_EXPIRED,
                                 "%s: own IBC credential expired at %s: re-enrol", name, exp);
    }
    return 0;
}

/*
 * IBC-DESIGN 4.2 step 2 for the peer's ID2, its timestamp and (for M1) the
 * responder it names. Fills s->peer, s->peer_id2 and the candidate KPAKs.
 */
static int
check_peer(struct m2msec_ibc_sigma *s, int64_t now, const uint8_t *id2, size_t id2_len,
           uint64_t t_peer, const uint8_t *id1_b, size_t id1_b_len, const char *name,
           struct m2msec_error *err)
{
    struct m2msec_id2 peer;
    size_t n = 0;
    int64_t d = 0;

    if (m2msec_id2_parse(id2, id2_len, &peer, err) == -1) {
        m2msec_error_wrap(err, "%s refused: peer", name);
        return -1;
    }
    for (size_t i = 0; i < s->nmpk && n < M2MSEC_IBC_KPAK_TRY; i++) {
        const struct m2msec_ibc_mpk *m = &s->mpk[i];

        if (strcmp(m->fqdn, peer.fqdn) != 0) { /* public */
            continue;
        }
        if ((m->not_before != 0 && now < m->not_before) ||
            (m->not_after != 0 && now > m->not_after)) {
            continue;
        }
        memcpy(s->peer_kpak[n++], m->kpak, M2MSEC_ECCSI_POINT_LEN);
    }
    if (n == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH,
                                 "%s refused: peer ID2 is under FQDN %s, which has no trusted "
                                 "MPK valid now",
                                 name, peer.fqdn);
    }
    if (m2msec_id2_check_times(&peer, now, s->skew, s->max_lifetime, err) == -1) {
        m2msec_error_wrap(err, "%s refused: peer", name);
        return -1;
    }
    if (s->expected[0] != '\0' && strcmp(peer.id1, s->expected) != 0) { /* public */
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH, "%s refused: peer ID1 is %s, expected %s",
                                 name, peer.id1, s->expected);
    }
    if (id1_b_len != 0 && (id1_b_len != strlen(s->own->parsed.id1) ||
                           memcmp(id1_b, s->own->parsed.id1, id1_b_len) != 0)) { /* public */
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH,
                                 "%s refused: initiator expects another responder than %s", name,
                                 s->own->parsed.id1);
    }
    /* Not for replay protection: a peer with a broken clock makes expiry checks meaningless. */
    if (t_peer > (uint64_t)M2MSEC_ID2_TIME_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH, "%s refused: peer time out of range", name);
    }
    d = (int64_t)t_peer - now;
    if (d > s->skew || -d > s->skew) {
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH,
                                 "%s refused: peer clock is %lld s off (skew allowed %lld s)", name,
                                 (long long)d, (long long)s->skew);
    }
    s->peer = peer;
    memcpy(s->peer_id2, id2, id2_len);
    s->peer_id2_len = id2_len;
    s->npeer_kpak = n;
    return 0;
}

/* ECCSI verification of the peer's signature under each candidate KPAK (MPK rollover). */
static int
verify_peer_sig(const struct m2msec_ibc_sigma *s, const uint8_t *msg, size_t msg_len,
                const uint8_t *sig, const char *name, struct m2msec_error *err)
{
    struct m2msec_error e1 = { 0 };

    for (size_t i = 0; i < s->npeer_kpak; i++) {
        if (m2msec_eccsi_verify(s->peer_kpak[i], s->peer_id2, s->peer_id2_len, msg, msg_len, sig,
                                M2MSEC_ECCSI_SIG_LEN, &e1) == 0) {
            return 0;
        }
        if (m2msec_error_code(&e1) != M2MSEC_ERR_AUTH &&
            m2msec_error_code(&e1) != M2MSEC_ERR_INVALID_ARGUMENT) {
            m2msec_error_copy(err, &e1);
            m2msec_error_wrap(err, "%s", name);
            return -1;
        }
    }
    /* Every KPAK failed: report the last reason, always as an authentication failure. */
    m2msec_error_setx(err, M2MSEC_ERR_AUTH, "%s refused: signature of %s under %s: %s", name,
                      s->peer.id1, s->peer.fqdn, m2msec_error_msg(&e1));
    return -1;
}

/* ---- key schedule ---- */

/* sig_input = label 0x00 || th (the 24 + 32 bytes ECCSI signs). */
static size_t
sig_input(uint8_t *out, const char *label, const uint8_t th[M2MSEC_SHA256_LEN])
{
    size_t n = strlen(label);

    memcpy(out, label, n);
    out[n] = 0x00;
    memcpy(out + n + 1, th, M2MSEC_SHA256_LEN);
    return n + 1 + M2MSEC_SHA256_LEN;
}

/* PRK = HKDF-Extract(N_A || N_B, Z) with Z = x(ECDH(own eph, peer point)). */
static int
derive_prk(struct m2msec_ibc_sigma *s, const uint8_t *peer_x, const uint8_t *n_a,
           const uint8_t *n_b, struct m2msec_error *err)
{
    struct m2msec_secret *z = NULL;
    uint8_t salt[2 * M2MSEC_IBC_NONCE_LEN];
    int rv = -1;

    if (m2msec_ecdh_derive(s->eph, peer_x, &z, err) == -1) {
        goto out;
    }
    memcpy(salt, n_a, M2MSEC_IBC_NONCE_LEN);
    memcpy(salt + M2MSEC_IBC_NONCE_LEN, n_b, M2MSEC_IBC_NONCE_LEN);
    if (m2msec_hkdf_extract(salt, sizeof(salt), z, &s->prk, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_secret_free(z);
    /* The ephemeral private key is not needed any more: forward secrecy starts here. */
    m2msec_ecdh_free(s->eph);
    s->eph = NULL;
    return rv;
}

static int
expand(const struct m2msec_secret *prk, const char *label, const uint8_t th[M2MSEC_SHA256_LEN],
       struct m2msec_secret **out, struct m2msec_error *err)
{
    struct m2msec_bytes info[2] = { { label, strlen(label) }, { th, M2MSEC_SHA256_LEN } };

    return m2msec_hkdf_expand(prk, info, 2, 32, out, err);
}

/* HMAC(K_mac, label || H(transcript parts)). */
static int
finished_mac(const struct m2msec_secret *kmac, const char *label, const struct m2msec_bytes *parts,
             size_t nparts, uint8_t out[M2MSEC_IBC_MAC_LEN], struct m2msec_error *err)
{
    uint8_t h[M2MSEC_SHA256_LEN];
    struct m2msec_bytes msg[2];

    if (m2msec_sha256_parts(parts, nparts, h, err) == -1) {
        return -1;
    }
    msg[0] = (struct m2msec_bytes){ label, strlen(label) };
    msg[1] = (struct m2msec_bytes){ h, sizeof(h) };
    return m2msec_hmac_sha256_secret(kmac, msg, 2, out, err);
}

/* THf, Kpsa, KpsaID and the session lifetime, once M3 is known. */
static int
finish(struct m2msec_ibc_sigma *s, const uint8_t *m3, size_t m3_len, struct m2msec_error *err)
{
    struct m2msec_bytes parts[3] = { { s->m1, s->m1_len }, { s->m2, s->m2_len }, { m3, m3_len } };
    struct m2msec_bytes idp[2];
    uint8_t thf[M2MSEC_SHA256_LEN];
    uint8_t idh[M2MSEC_SHA256_LEN];
    char rel[4 + 32 + 1];
    const char *fqdn_b = NULL;
    int64_t exp_a = 0, exp_b = 0;

    if (m2msec_sha256_parts(parts, 3, thf, err) == -1 ||
        expand(s->prk, M2MSEC_IBC_LABEL_KPSA, thf, &s->kpsa, err) == -1) {
        return -1;
    }
    idp[0] = (struct m2msec_bytes){ M2MSEC_IBC_LABEL_KPSA_ID, strlen(M2MSEC_IBC_LABEL_KPSA_ID) };
    idp[1] = (struct m2msec_bytes){ thf, sizeof(thf) };
    if (m2msec_sha256_parts(idp, 2, idh, err) == -1) {
        return -1;
    }
    memcpy(rel, "ibc-", 4);
    if (m2msec_hex_encode(idh, 16, rel + 4, sizeof(rel) - 4) == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_CRYPTO, "IBC-SIGMA: KpsaID encoding");
    }
    /* @spec TS-0003 10.5 KpsaID = relative part "@" the issuer FQDN (here: B's MEF) */
    fqdn_b = s->role == M2MSEC_IBC_INITIATOR ? s->peer.fqdn : s->own->parsed.fqdn;
    if (m2msec_keyref_format(rel, fqdn_b, s->info.kpsa_id, sizeof(s->info.kpsa_id), err) == -1) {
        return -1;
    }
    exp_a = s->own->parsed.expiry;
    exp_b = s->peer.expiry;
    s->info.expires = exp_a < exp_b ? exp_a : exp_b;
    s->info.peer = s->peer;
    /* The MAC key and PRK have done their job. */
    m2msec_secret_free(s->kmac);
    s->kmac = NULL;
    m2msec_secret_free(s->prk);
    s->prk = NULL;
    s->state = ST_DONE;
    return 0;
}

/* ---- M1 ---- */

static int
state_is(struct m2msec_ibc_sigma *s, enum m2msec_ibc_role role, enum state st, const char *what,
         struct m2msec_error *err)
{
    if (s == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "IBC-SIGMA: no session");
    }
    if (s->role != role || s->state != st) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "IBC-SIGMA: %s not expected now (session %s)", what,
                                 s->state == ST_FAILED ? "has failed" : "is elsewhere");
    }
    return 0;
}

/* IBC-DESIGN 4.2 M1 = HDR(1) N_A T_A X_A vec16(ID2_A) vec16(ID1_B expected) */
int
m2msec_ibc_sigma_start(struct m2msec_ibc_sigma *s, int64_t now, uint8_t *out, size_t outsz,
                       size_t *outlen, struct m2msec_error *err)
{
    size_t exp_len = 0, n = 0;
    uint8_t *p = NULL;

    if (state_is(s, M2MSEC_IBC_INITIATOR, ST_NEW, "M1", err) == -1) {
        return -1;
    }
    if (out == NULL || outlen == NULL || now < 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "IBC-SIGMA M1: bad argument");
    }
    if (own_not_expired(s, now, "M1", err) == -1) {
        goto fail;
    }
    exp_len = strlen(s->expected);
    n = M2MSEC_IBC_FIXED_LEN + 2 + s->own->id2_len + 2 + exp_len;
    if (n > outsz) {
        m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "IBC-SIGMA M1: %zu bytes do not fit", n);
        goto fail;
    }
    s->eph = m2msec_ecdh_new(err);
    if (s->eph == NULL) {
        goto fail;
    }
    p = s->m1;
    put_hdr(p, M2MSEC_IBC_MSG_M1);
    p += M2MSEC_IBC_HDR_LEN;
    if (m2msec_rand_bytes(p, M2MSEC_IBC_NONCE_LEN, err) == -1) {
        goto fail;
    }
    p += M2MSEC_IBC_NONCE_LEN;
    put_u64(p, (uint64_t)now);
    p += M2MSEC_IBC_TIME_LEN;
    if (m2msec_ecdh_public(s->eph, p, err) == -1) {
        goto fail;
    }
    p += M2MSEC_IBC_POINT_LEN;
    p[0] = (uint8_t)(s->own->id2_len >> 8);
    p[1] = (uint8_t)(s->own->id2_len & 0xff);
    memcpy(p + 2, s->own->id2, s->own->id2_len);
    p += 2 + s->own->id2_len;
    p[0] = (uint8_t)(exp_len >> 8);
    p[1] = (uint8_t)(exp_len & 0xff);
    memcpy(p + 2, s->expected, exp_len);
    s->m1_len = n;
    memcpy(out, s->m1, n);
    *outlen = n;
    s->state = ST_SENT_M1;
    return 0;
fail:
    fail(s);
    return -1;
}

/* IBC-DESIGN 4.2: B checks M1, then answers M2 = HDR(2) N_B T_B X_B vec16(ID2_B) SIG_B MAC_B */
int
m2msec_ibc_sigma_handle_m1(struct m2msec_ibc_sigma *s, int64_t now, const uint8_t *m1,
                           size_t m1_len, uint8_t *out, size_t outsz, size_t *outlen,
                           struct m2msec_error *err)
{
    struct rd r = { m1, m1_len, 0, NULL };
    const uint8_t *n_a = NULL, *t_a = NULL, *x_a = NULL, *id2_a = NULL, *id1_b = NULL;
    size_t id2_a_len = 0, id1_b_len = 0, n = 0;
    uint8_t th2[M2MSEC_SHA256_LEN];
    uint8_t sin[64];
    uint8_t digest[M2MSEC_SHA256_LEN];
    uint8_t lenb[2];
    struct m2msec_bytes parts[4];
    uint8_t *p = NULL;
    int seen = 0;

    if (state_is(s, M2MSEC_IBC_RESPONDER, ST_NEW, "M1", err) == -1) {
        return -1;
    }
    if (m1 == NULL || out == NULL || outlen == NULL || now < 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "IBC-SIGMA M1: bad argument");
    }
    /* 1. Strict framing, X_A on the curve. */
    if (m1_len > M2MSEC_IBC_M1_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "M1 refused: %zu bytes is too long", m1_len);
        goto fail;
    }
    if (check_hdr(m1, m1_len, M2MSEC_IBC_MSG_M1, "M1", err) == -1) {
        goto fail;
    }
    r.pos = M2MSEC_IBC_HDR_LEN;
    n_a = take(&r, M2MSEC_IBC_NONCE_LEN, "N_A");
    t_a = take(&r, M2MSEC_IBC_TIME_LEN, "T_A");
    x_a = take(&r, M2MSEC_IBC_POINT_LEN, "X_A");
    id2_a = take_vec16(&r, M2MSEC_ID2_MAX, &id2_a_len, "ID2_A");
    id1_b = take_vec16(&r, M2MSEC_ID2_ID1_MAX, &id1_b_len, "expected responder ID1");
    if (r.bad != NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "M1 refused: %s truncated or too long", r.bad);
        goto fail;
    }
    if (r.pos != m1_len) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "M1 refused: %zu trailing bytes",
                          m1_len - r.pos);
        goto fail;
    }
    if (m2msec_p256_point_check(x_a, err) == -1) {
        m2msec_error_wrap(err, "M1 refused: X_A");
        goto fail;
    }
    /* 2. Identity checks, own credential first. */
    if (own_not_expired(s, now, "M1", err) == -1 ||
        check_peer(s, now, id2_a, id2_a_len, get_u64(t_a), id1_b, id1_b_len, "M1", err) == -1) {
        goto fail;
    }
    /* 3. Replay cache: (ID2_A, N_A), kept while T_A is still inside the skew window. */
    if (s->have_replay) {
        lenb[0] = (uint8_t)(id2_a_len >> 8);
        lenb[1] = (uint8_t)(id2_a_len & 0xff);
        parts[0] =
                (struct m2msec_bytes){ M2MSEC_IBC_LABEL_REPLAY, strlen(M2MSEC_IBC_LABEL_REPLAY) };
        parts[1] = (struct m2msec_bytes){ lenb, 2 };
        parts[2] = (struct m2msec_bytes){ id2_a, id2_a_len };
        parts[3] = (struct m2msec_bytes){ n_a, M2MSEC_IBC_NONCE_LEN };
        if (m2msec_sha256_parts(parts, 4, digest, err) == -1) {
            goto fail;
        }
        seen = s->replay.check_and_add(s->replay.arg, digest, now, (int64_t)get_u64(t_a) + s->skew,
                                       err);
        if (seen == -1) {
            m2msec_error_wrap(err, "M1 refused: replay cache");
            goto fail;
        }
        if (seen == 1) {
            m2msec_error_setx(err, M2MSEC_ERR_AUTH,
                              "M1 refused: replayed M1 (nonce already seen from %s)", s->peer.id1);
            goto fail;
        }
    }
    /* Now the crypto. */
    n = M2MSEC_IBC_FIXED_LEN + 2 + s->own->id2_len + M2MSEC_ECCSI_SIG_LEN + M2MSEC_IBC_MAC_LEN;
    if (n > outsz) {
        m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "IBC-SIGMA M2: %zu bytes do not fit", n);
        goto fail;
    }
    memcpy(s->m1, m1, m1_len);
    s->m1_len = m1_len;
    s->eph = m2msec_ecdh_new(err);
    if (s->eph == NULL) {
        goto fail;
    }
    p = s->m2;
    put_hdr(p, M2MSEC_IBC_MSG_M2);
    p += M2MSEC_IBC_HDR_LEN;
    if (m2msec_rand_bytes(p, M2MSEC_IBC_NONCE_LEN, err) == -1) {
        goto fail;
    }
    p += M2MSEC_IBC_NONCE_LEN;
    put_u64(p, (uint64_t)now);
    p += M2MSEC_IBC_TIME_LEN;
    if (m2msec_ecdh_public(s->eph, p, err) == -1) {
        goto fail;
    }
    p += M2MSEC_IBC_POINT_LEN;
    p[0] = (uint8_t)(s->own->id2_len >> 8);
    p[1] = (uint8_t)(s->own->id2_len & 0xff);
    memcpy(p + 2, s->own->id2, s->own->id2_len);
    p += 2 + s->own->id2_len;
    s->m2_sig_off = (size_t)(p - s->m2);
    if (derive_prk(s, x_a, n_a, s->m2 + M2MSEC_IBC_HDR_LEN, err) == -1) {
        goto fail;
    }
    parts[0] = (struct m2msec_bytes){ s->m1, s->m1_len };
    parts[1] = (struct m2msec_bytes){ s->m2, s->m2_sig_off };
    if (m2msec_sha256_parts(parts, 2, th2, err) == -1) {
        goto fail;
    }
    if (m2msec_eccsi_sign(s->own->kpak, s->own->id2, s->own->id2_len, s->own->ssk, s->own->pvt, sin,
                          sig_input(sin, M2MSEC_IBC_LABEL_SIG_B, th2), p, err) == -1) {
        goto fail;
    }
    p += M2MSEC_ECCSI_SIG_LEN;
    if (expand(s->prk, M2MSEC_IBC_LABEL_MAC, th2, &s->kmac, err) == -1) {
        goto fail;
    }
    parts[1] = (struct m2msec_bytes){ s->m2, (size_t)(p - s->m2) };
    if (finished_mac(s->kmac, M2MSEC_IBC_LABEL_FIN_B, parts, 2, p, err) == -1) {
        goto fail;
    }
    s->m2_len = n;
    memcpy(out, s->m2, n);
    *outlen = n;
    s->state = ST_SENT_M2;
    return 0;
fail:
    fail(s);
    return -1;
}

/* IBC-DESIGN 4.2 A checks M2 (identity, SIG_B, MAC_B), then sends M3 = HDR(3) SIG_A MAC_A */
int
m2msec_ibc_sigma_handle_m2(struct m2msec_ibc_sigma *s, int64_t now, const uint8_t *m2,
                           size_t m2_len, uint8_t *out, size_t outsz, size_t *outlen,
                           struct m2msec_error *err)
{
    struct rd r = { m2, m2_len, 0, NULL };
    const uint8_t *n_b = NULL, *t_b = NULL, *x_b = NULL, *id2_b = NULL, *sig_b = NULL;
    const uint8_t *mac_b = NULL;
    size_t id2_b_len = 0, sig_off = 0;
    uint8_t th[M2MSEC_SHA256_LEN];
    uint8_t sin[64];
    uint8_t mac[M2MSEC_IBC_MAC_LEN];
    uint8_t m3[M2MSEC_IBC_M3_LEN];
    struct m2msec_bytes parts[4];

    if (state_is(s, M2MSEC_IBC_INITIATOR, ST_SENT_M1, "M2", err) == -1) {
        return -1;
    }
    if (m2 == NULL || out == NULL || outlen == NULL || now < 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "IBC-SIGMA M2: bad argument");
    }
    if (outsz < M2MSEC_IBC_M3_LEN) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "IBC-SIGMA M3: buffer too small");
    }
    /* 1. Strict framing, X_B on the curve. */
    if (m2_len > M2MSEC_IBC_M2_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "M2 refused: %zu bytes is too long", m2_len);
        goto fail;
    }
    if (check_hdr(m2, m2_len, M2MSEC_IBC_MSG_M2, "M2", err) == -1) {
        goto fail;
    }
    r.pos = M2MSEC_IBC_HDR_LEN;
    n_b = take(&r, M2MSEC_IBC_NONCE_LEN, "N_B");
    t_b = take(&r, M2MSEC_IBC_TIME_LEN, "T_B");
    x_b = take(&r, M2MSEC_IBC_POINT_LEN, "X_B");
    id2_b = take_vec16(&r, M2MSEC_ID2_MAX, &id2_b_len, "ID2_B");
    sig_off = r.pos;
    sig_b = take(&r, M2MSEC_ECCSI_SIG_LEN, "SIG_B");
    mac_b = take(&r, M2MSEC_IBC_MAC_LEN, "MAC_B");
    if (r.bad != NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "M2 refused: %s truncated or too long", r.bad);
        goto fail;
    }
    if (r.pos != m2_len) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "M2 refused: %zu trailing bytes",
                          m2_len - r.pos);
        goto fail;
    }
    if (m2msec_p256_point_check(x_b, err) == -1) {
        m2msec_error_wrap(err, "M2 refused: X_B");
        goto fail;
    }
    /* 2. Identity checks. */
    if (own_not_expired(s, now, "M2", err) == -1 ||
        check_peer(s, now, id2_b, id2_b_len, get_u64(t_b), NULL, 0, "M2", err) == -1) {
        goto fail;
    }
    /* 3. Keys, then SIG_B over TH2, then MAC_B. */
    memcpy(s->m2, m2, m2_len);
    s->m2_len = m2_len;
    s->m2_sig_off = sig_off;
    if (derive_prk(s, x_b, s->m1 + M2MSEC_IBC_HDR_LEN, n_b, err) == -1) {
        goto fail;
    }
    parts[0] = (struct m2msec_bytes){ s->m1, s->m1_len };
    parts[1] = (struct m2msec_bytes){ s->m2, sig_off };
    if (m2msec_sha256_parts(parts, 2, th, err) == -1) {
        goto fail;
    }
    if (verify_peer_sig(s, sin, sig_input(sin, M2MSEC_IBC_LABEL_SIG_B, th), sig_b, "M2", err) ==
        -1) {
        goto fail;
    }
    if (expand(s->prk, M2MSEC_IBC_LABEL_MAC, th, &s->kmac, err) == -1) {
        goto fail;
    }
    parts[1] = (struct m2msec_bytes){ s->m2, sig_off + M2MSEC_ECCSI_SIG_LEN };
    if (finished_mac(s->kmac, M2MSEC_IBC_LABEL_FIN_B, parts, 2, mac, err) == -1) {
        goto fail;
    }
    if (m2msec_ct_memcmp(mac, mac_b, sizeof(mac)) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "M2 refused: MAC_B does not verify");
        goto fail;
    }
    /* M3: TH3 = H(M1 || M2 || HDR(3)). */
    put_hdr(m3, M2MSEC_IBC_MSG_M3);
    parts[1] = (struct m2msec_bytes){ s->m2, s->m2_len };
    parts[2] = (struct m2msec_bytes){ m3, M2MSEC_IBC_HDR_LEN };
    if (m2msec_sha256_parts(parts, 3, th, err) == -1) {
        goto fail;
    }
    if (m2msec_eccsi_sign(s->own->kpak, s->own->id2, s->own->id2_len, s->own->ssk, s->own->pvt, sin,
                          sig_input(sin, M2MSEC_IBC_LABEL_SIG_A, th), m3 + M2MSEC_IBC_HDR_LEN,
                          err) == -1) {
        goto fail;
    }
    parts[2] = (struct m2msec_bytes){ m3, M2MSEC_IBC_HDR_LEN + M2MSEC_ECCSI_SIG_LEN };
    if (finished_mac(s->kmac, M2MSEC_IBC_LABEL_FIN_A, parts, 3,
                     m3 + M2MSEC_IBC_HDR_LEN + M2MSEC_ECCSI_SIG_LEN, err) == -1) {
        goto fail;
    }
    if (finish(s, m3, sizeof(m3), err) == -1) {
        goto fail;
    }
    memcpy(out, m3, sizeof(m3));
    *outlen = sizeof(m3);
    m2msec_wipe(mac, sizeof(mac));
    return 0;
fail:
    m2msec_wipe(mac, sizeof(mac));
    fail(s);
    return -1;
}

/* IBC-DESIGN 4.2 B checks M3: SIG_A over TH3, then MAC_A; both now hold Kpsa */
int
m2msec_ibc_sigma_handle_m3(struct m2msec_ibc_sigma *s, const uint8_t *m3, size_t m3_len,
                           struct m2msec_error *err)
{
    uint8_t th[M2MSEC_SHA256_LEN];
    uint8_t sin[64];
    uint8_t mac[M2MSEC_IBC_MAC_LEN];
    struct m2msec_bytes parts[3];

    if (state_is(s, M2MSEC_IBC_RESPONDER, ST_SENT_M2, "M3", err) == -1) {
        return -1;
    }
    if (m3 == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "IBC-SIGMA M3: missing");
    }
    if (check_hdr(m3, m3_len, M2MSEC_IBC_MSG_M3, "M3", err) == -1) {
        goto fail;
    }
    if (m3_len != M2MSEC_IBC_M3_LEN) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "M3 refused: %zu bytes, not %d", m3_len,
                          M2MSEC_IBC_M3_LEN);
        goto fail;
    }
    parts[0] = (struct m2msec_bytes){ s->m1, s->m1_len };
    parts[1] = (struct m2msec_bytes){ s->m2, s->m2_len };
    parts[2] = (struct m2msec_bytes){ m3, M2MSEC_IBC_HDR_LEN };
    if (m2msec_sha256_parts(parts, 3, th, err) == -1) {
        goto fail;
    }
    if (verify_peer_sig(s, sin, sig_input(sin, M2MSEC_IBC_LABEL_SIG_A, th), m3 + M2MSEC_IBC_HDR_LEN,
                        "M3", err) == -1) {
        goto fail;
    }
    parts[2] = (struct m2msec_bytes){ m3, M2MSEC_IBC_HDR_LEN + M2MSEC_ECCSI_SIG_LEN };
    if (finished_mac(s->kmac, M2MSEC_IBC_LABEL_FIN_A, parts, 3, mac, err) == -1) {
        goto fail;
    }
    if (m2msec_ct_memcmp(mac, m3 + M2MSEC_IBC_HDR_LEN + M2MSEC_ECCSI_SIG_LEN, sizeof(mac)) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "M3 refused: MAC_A does not verify");
        goto fail;
    }
    if (finish(s, m3, m3_len, err) == -1) {
        goto fail;
    }
    m2msec_wipe(mac, sizeof(mac));
    return 0;
fail:
    m2msec_wipe(mac, sizeof(mac));
    fail(s);
    return -1;
}

int
m2msec_ibc_sigma_result(struct m2msec_ibc_sigma *s, struct m2msec_secret **kpsa,
                        struct m2msec_ibc_session *info, struct m2msec_error *err)
{
    if (s == NULL || kpsa == NULL || info == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "IBC-SIGMA: missing argument");
    }
    if (s->state != ST_DONE || s->kpsa == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE, "IBC-SIGMA: no key (handshake %s)",
                                 s->state == ST_TAKEN    ? "result already taken"
                                 : s->state == ST_FAILED ? "failed"
                                                         : "not complete");
    }
    *kpsa = s->kpsa;
    s->kpsa = NULL;
    *info = s->info;
    s->state = ST_TAKEN;
    return 0;
}
