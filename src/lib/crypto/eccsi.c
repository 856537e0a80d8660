/*
 * crypto/eccsi.c - ECCSI (RFC 6507) on OpenSSL 3 EC / BIGNUM, P-256 and SHA-256.
 *
 * Layer: crypto (OpenSSL EC, BN and EVP digest; util below, nothing above).
 * The algorithms and their pitfalls are in IBC-DESIGN.md (shared/docs) 1.2-1.7.
 *
 * Side channels. The secrets are KSAK, v (issuance), SSK and j (signing).
 *  - Scalar multiplications by a secret ([v]G, [j]G, [SSK]G) are single
 *    generator multiplications through EC_POINT_mul(grp, R, k, NULL, NULL),
 *    which OpenSSL runs in constant time (the nistz256 table on x86-64, the
 *    Montgomery ladder elsewhere). A secret scalar never goes into a
 *    two-scalar EC_POINT_mul call, whose wNAF code is variable time.
 *  - Every BIGNUM holding a secret is on the secure heap, flagged
 *    BN_FLG_CONSTTIME and freed with BN_clear_free. Products mod q use
 *    Montgomery multiplication on fixed-size operands, sums use
 *    BN_mod_add_quick (masked, no data-dependent branch), and the one
 *    inversion uses Fermat's little theorem, t^(q-2) mod q, through
 *    BN_mod_exp_mont_consttime: plain BN_mod_inverse is not constant time.
 *  - Signing additionally blinds the long-term SSK: with a fresh random k it
 *    computes w = k*HE + r*(k*SSK) = k*(HE + r*SSK) and s = w^-1 * k * j, so
 *    whatever timing the modular arithmetic still has sees only values
 *    masked by k (IBC-DESIGN 1.7 "inv(t*k)*k").
 * Verification handles only public values and uses the fast variable-time
 * double multiplication J = [s*HE]G + [s*r]Y, which equals RFC 6507's
 * [s]([HE]G + [r]Y) because every point has order q.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include "crypto/eccsi.h"
#include "crypto/hash.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

/*
 * Fresh draws of v or j before giving up. A retry needs HS = 0, SSK = 0,
 * r = 0, r >= q or HE + r*SSK = 0 (mod q), each of probability below 2^-127,
 * so a second attempt already means a broken random generator.
 */
#define MAX_TRIES 8

/* @spec RFC 6507 4.1 G of P-256, uncompressed, as it enters HS */
static const uint8_t g_enc[M2MSEC_ECCSI_POINT_LEN] = {
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5,
    0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4,
    0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a,
    0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33,
    0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
};

struct m2msec_eccsi_kms {
    struct m2msec_secret *ksak; /* 32 bytes, big-endian, in [1, q-1] */
    uint8_t kpak[M2MSEC_ECCSI_POINT_LEN];
};

/* Per-call arithmetic context. */
struct ec {
    EC_GROUP *grp;
    BN_CTX *bn;        /* secure: BN_CTX_get hands out secure-heap numbers */
    BN_MONT_CTX *mont; /* Montgomery context modulo q */
    const BIGNUM *q;   /* not owned: the group order */
    BIGNUM *q_minus_2; /* Fermat exponent (public) */
};

static void
ec_clear(struct ec *e)
{
    BN_free(e->q_minus_2);
    BN_MONT_CTX_free(e->mont);
    BN_CTX_free(e->bn);
    EC_GROUP_free(e->grp);
    memset(e, 0, sizeof(*e));
}

static int
ec_init(struct ec *e, struct m2msec_error *err)
{
    int rv = -1;

    memset(e, 0, sizeof(*e));
    e->grp = EC_GROUP_new_by_curve_name_ex(NULL, NULL, NID_X9_62_prime256v1);
    e->bn = BN_CTX_secure_new();
    e->mont = BN_MONT_CTX_new();
    e->q_minus_2 = BN_new();
    if (e->grp == NULL || e->bn == NULL || e->mont == NULL || e->q_minus_2 == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "ECCSI: P-256 context");
        goto out;
    }
    e->q = EC_GROUP_get0_order(e->grp);
    if (e->q == NULL || BN_MONT_CTX_set(e->mont, e->q, e->bn) != 1 ||
        BN_copy(e->q_minus_2, e->q) == NULL || BN_sub_word(e->q_minus_2, 2) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI: P-256 order");
        goto out;
    }
    rv = 0;
out:
    if (rv == -1) {
        ec_clear(e);
    }
    return rv;
}

/* A number for secret values: secure heap, constant-time flag. Free with BN_clear_free. */
static BIGNUM *
bn_secret(void)
{
    BIGNUM *b = BN_secure_new();

    if (b != NULL) {
        BN_set_flags(b, BN_FLG_CONSTTIME);
    }
    return b;
}

/* r = a * b mod q for a, b in [0, q), by Montgomery multiplication on fixed-size operands. */
static int
mul_mod_q(struct ec *e, BIGNUM *r, const BIGNUM *a, const BIGNUM *b)
{
    BIGNUM *am = NULL;
    int ok = 0;

    BN_CTX_start(e->bn);
    am = BN_CTX_get(e->bn);
    if (am != NULL) {
        BN_set_flags(am, BN_FLG_CONSTTIME);
        /* to_montgomery(a) = a*R; then (a*R) * b * R^-1 = a*b. */
        ok = BN_to_montgomery(am, a, e->mont, e->bn) == 1 &&
             BN_mod_mul_montgomery(r, am, b, e->mont, e->bn) == 1;
        BN_zero(am);
    }
    BN_CTX_end(e->bn);
    return ok ? 0 : -1;
}

/* r = a^-1 mod q (a != 0) as a^(q-2): constant-time exponentiation, q prime. */
static int
inv_mod_q(struct ec *e, BIGNUM *r, const BIGNUM *a)
{
    return BN_mod_exp_mont_consttime(r, a, e->q_minus_2, e->q, e->bn, e->mont) == 1 ? 0 : -1;
}

/* k uniform in [1, q-1] from the private DRBG. */
static int
rand_scalar(struct ec *e, BIGNUM *k, struct m2msec_error *err)
{
    for (int i = 0; i < MAX_TRIES; i++) {
        if (BN_priv_rand_range_ex(k, e->q, 0, e->bn) != 1) {
            return m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI: random scalar");
        }
        if (!BN_is_zero(k)) {
            return 0;
        }
    }
    return m2msec_error_setx(err, M2MSEC_ERR_CRYPTO, "ECCSI: random generator returns zeros");
}

/*
 * A 32-byte big-endian scalar into b and check 0 < b < q. The comparison
 * with q runs once per key use and reveals only whether the key is valid.
 */
static int
scalar_load(struct ec *e, const uint8_t *in, size_t len, BIGNUM *b)
{
    if (len != M2MSEC_ECCSI_SCALAR_LEN || BN_bin2bn(in, (int)len, b) == NULL) {
        return -1;
    }
    if (BN_is_zero(b) || BN_cmp(b, e->q) >= 0) {
        return -1;
    }
    return 0;
}

/*
 * Decode a 65-byte uncompressed point. Only 0x04 is accepted (oct2point would
 * also take the hybrid forms 0x06 / 0x07); oct2point checks the point is on
 * the curve; 65 bytes cannot encode the point at infinity, checked anyway.
 * code/what name the failure for the caller's role (a trust anchor is an
 * invalid argument, a peer's PVT an authentication failure).
 */
static EC_POINT *
point_decode(struct ec *e, const uint8_t in[M2MSEC_ECCSI_POINT_LEN], enum m2msec_err code,
             const char *what, struct m2msec_error *err)
{
    EC_POINT *p = NULL;
    EC_POINT *ret = NULL;

    p = EC_POINT_new(e->grp);
    if (p == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "ECCSI: point");
        goto out;
    }
    if (in[0] != POINT_CONVERSION_UNCOMPRESSED) {
        m2msec_error_setx(err, code, "%s is not an uncompressed point", what);
        goto out;
    }
    if (EC_POINT_oct2point(e->grp, p, in, M2MSEC_ECCSI_POINT_LEN, e->bn) != 1 ||
        EC_POINT_is_on_curve(e->grp, p, e->bn) != 1) {
        ERR_clear_error();
        m2msec_error_setx(err, code, "%s is not on the curve", what);
        goto out;
    }
    if (EC_POINT_is_at_infinity(e->grp, p)) {
        m2msec_error_setx(err, code, "%s is the point at infinity", what);
        goto out;
    }
    ret = p;
    p = NULL;
out:
    EC_POINT_free(p);
    return ret;
}

static int
point_encode(struct ec *e, const EC_POINT *p, uint8_t out[M2MSEC_ECCSI_POINT_LEN],
             struct m2msec_error *err)
{
    if (EC_POINT_point2oct(e->grp, p, POINT_CONVERSION_UNCOMPRESSED, out, M2MSEC_ECCSI_POINT_LEN,
                           e->bn) != M2MSEC_ECCSI_POINT_LEN) {
        return m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI: encoding a point");
    }
    return 0;
}

static int
check_id(const uint8_t *id, size_t id_len, struct m2msec_error *err)
{
    if (id == NULL || id_len == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECCSI: identity missing");
    }
    if (id_len > M2MSEC_ECCSI_ID_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "ECCSI: identity longer than %d",
                                 M2MSEC_ECCSI_ID_MAX);
    }
    return 0;
}

/*
 * Y = [HS]PVT + KPAK (public values only). hs is the 32-byte HS, used as an
 * integer reduced mod q (same point: PVT has order q).
 */
static int
compute_y(struct ec *e, const EC_POINT *kpak, const EC_POINT *pvt,
          const uint8_t hs[M2MSEC_ECCSI_HASH_LEN], EC_POINT *y, struct m2msec_error *err)
{
    BIGNUM *h = NULL;
    int rv = -1;

    BN_CTX_start(e->bn);
    h = BN_CTX_get(e->bn);
    if (h == NULL || BN_bin2bn(hs, M2MSEC_ECCSI_HASH_LEN, h) == NULL ||
        BN_nnmod(h, h, e->q, e->bn) != 1 || EC_POINT_mul(e->grp, y, NULL, pvt, h, e->bn) != 1 ||
        EC_POINT_add(e->grp, y, y, kpak, e->bn) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI: computing Y");
        goto out;
    }
    rv = 0;
out:
    BN_CTX_end(e->bn);
    return rv;
}

/* ---- KMS ---- */

static struct m2msec_eccsi_kms *
kms_from_bn(struct ec *e, const BIGNUM *ksak, struct m2msec_error *err)
{
    struct m2msec_eccsi_kms *kms = NULL;
    struct m2msec_eccsi_kms *ret = NULL;
    EC_POINT *p = NULL;

    kms = m2msec_calloc(1, sizeof(*kms));
    p = EC_POINT_new(e->grp);
    if (kms == NULL || p == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "ECCSI KMS: out of memory");
        goto out;
    }
    kms->ksak = m2msec_secret_new(M2MSEC_ECCSI_SCALAR_LEN, err);
    if (kms->ksak == NULL) {
        goto out;
    }
    if (BN_bn2binpad(ksak, m2msec_secret_bytes_mut(kms->ksak), M2MSEC_ECCSI_SCALAR_LEN) !=
        M2MSEC_ECCSI_SCALAR_LEN) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI KMS: KSAK encoding");
        goto out;
    }
    /* @spec RFC 6507 5.1.1 KPAK = [KSAK]G (constant-time generator multiplication) */
    if (EC_POINT_mul(e->grp, p, ksak, NULL, NULL, e->bn) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI KMS: computing KPAK");
        goto out;
    }
    if (point_encode(e, p, kms->kpak, err) == -1) {
        goto out;
    }
    ret = kms;
    kms = NULL;
out:
    EC_POINT_free(p);
    m2msec_eccsi_kms_free(kms);
    return ret;
}

/* @spec RFC 6507 5.1.1 KSAK chosen uniformly at random in [1, q-1] */
struct m2msec_eccsi_kms *
m2msec_eccsi_kms_new(struct m2msec_error *err)
{
    struct ec e;
    BIGNUM *ksak = NULL;
    struct m2msec_eccsi_kms *ret = NULL;

    if (ec_init(&e, err) == -1) {
        return NULL;
    }
    ksak = bn_secret();
    if (ksak == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "ECCSI KMS: out of memory");
        goto out;
    }
    if (rand_scalar(&e, ksak, err) == -1) {
        goto out;
    }
    ret = kms_from_bn(&e, ksak, err);
out:
    BN_clear_free(ksak);
    ec_clear(&e);
    return ret;
}

struct m2msec_eccsi_kms *
m2msec_eccsi_kms_load(const struct m2msec_secret *ksak, struct m2msec_error *err)
{
    struct ec e;
    BIGNUM *k = NULL;
    struct m2msec_eccsi_kms *ret = NULL;

    if (ec_init(&e, err) == -1) {
        return NULL;
    }
    k = bn_secret();
    if (k == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "ECCSI KMS: out of memory");
        goto out;
    }
    if (ksak == NULL ||
        scalar_load(&e, m2msec_secret_bytes(ksak), m2msec_secret_len(ksak), k) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "ECCSI KMS: KSAK must be 32 bytes in [1, q-1]");
        goto out;
    }
    ret = kms_from_bn(&e, k, err);
out:
    BN_clear_free(k);
    ec_clear(&e);
    return ret;
}

void
m2msec_eccsi_kms_free(struct m2msec_eccsi_kms *kms)
{
    if (kms == NULL) {
        return;
    }
    m2msec_secret_free(kms->ksak);
    m2msec_free(kms);
}

const uint8_t *
m2msec_eccsi_kms_kpak(const struct m2msec_eccsi_kms *kms)
{
    return kms != NULL ? kms->kpak : NULL;
}

const struct m2msec_secret *
m2msec_eccsi_kms_ksak(const struct m2msec_eccsi_kms *kms)
{
    return kms != NULL ? kms->ksak : NULL;
}

/* ---- HS ---- */

/* @spec RFC 6507 5.1.1 step 3: HS = hash(G || KPAK || ID || PVT), points uncompressed */
int
m2msec_eccsi_hs(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id, size_t id_len,
                const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN], uint8_t hs[M2MSEC_ECCSI_HASH_LEN],
                struct m2msec_error *err)
{
    struct m2msec_bytes parts[4];

    if (kpak == NULL || pvt == NULL || hs == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECCSI HS: missing input");
    }
    if (check_id(id, id_len, err) == -1) {
        return -1;
    }
    parts[0] = (struct m2msec_bytes){ g_enc, sizeof(g_enc) };
    parts[1] = (struct m2msec_bytes){ kpak, M2MSEC_ECCSI_POINT_LEN };
    parts[2] = (struct m2msec_bytes){ id, id_len };
    parts[3] = (struct m2msec_bytes){ pvt, M2MSEC_ECCSI_POINT_LEN };
    return m2msec_sha256_parts(parts, 4, hs, err);
}

/* ---- issuance ---- */

/*
 * @spec RFC 6507 5.1.1 PVT = [v]G, HS as above, SSK = (KSAK + HS*v) mod q;
 * start again with a new v when SSK (or HS) is 0. v_fixed (tests only) makes
 * the draw deterministic; a fixed v that would need a retry is an error.
 */
static int
issue(const struct m2msec_eccsi_kms *kms, const uint8_t *id, size_t id_len,
      const struct m2msec_secret *v_fixed, struct m2msec_secret **ssk,
      uint8_t pvt[M2MSEC_ECCSI_POINT_LEN], struct m2msec_error *err)
{
    struct ec e;
    BIGNUM *ksak = NULL, *v = NULL, *sk = NULL, *t = NULL, *h = NULL;
    EC_POINT *p = NULL;
    struct m2msec_secret *out = NULL;
    uint8_t pvt_buf[M2MSEC_ECCSI_POINT_LEN];
    uint8_t hs[M2MSEC_ECCSI_HASH_LEN];
    int tries = 0;
    int rv = -1;

    if (kms == NULL || ssk == NULL || pvt == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECCSI issue: missing input");
    }
    if (check_id(id, id_len, err) == -1) {
        return -1;
    }
    if (ec_init(&e, err) == -1) {
        return -1;
    }
    ksak = bn_secret();
    v = bn_secret();
    sk = bn_secret();
    t = bn_secret();
    h = BN_new();
    p = EC_POINT_new(e.grp);
    if (ksak == NULL || v == NULL || sk == NULL || t == NULL || h == NULL || p == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "ECCSI issue: out of memory");
        goto out;
    }
    if (scalar_load(&e, m2msec_secret_bytes(kms->ksak), m2msec_secret_len(kms->ksak), ksak) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECCSI issue: bad KSAK");
        goto out;
    }
    for (tries = 0;; tries++) {
        if (tries == MAX_TRIES || (v_fixed != NULL && tries > 0)) {
            m2msec_error_setx(err, M2MSEC_ERR_CRYPTO, "ECCSI issue: no usable v found");
            goto out;
        }
        if (v_fixed != NULL) {
            if (scalar_load(&e, m2msec_secret_bytes(v_fixed), m2msec_secret_len(v_fixed), v) ==
                -1) {
                m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                  "ECCSI issue: v must be 32 bytes in [1, q-1]");
                goto out;
            }
        } else if (rand_scalar(&e, v, err) == -1) {
            goto out;
        }
        /* PVT = [v]G: secret scalar, generator only, constant time. */
        if (EC_POINT_mul(e.grp, p, v, NULL, NULL, e.bn) != 1) {
            m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI issue: computing PVT");
            goto out;
        }
        if (point_encode(&e, p, pvt_buf, err) == -1 ||
            m2msec_eccsi_hs(kms->kpak, id, id_len, pvt_buf, hs, err) == -1) {
            goto out;
        }
        /* HS is public; reduced mod q only for the arithmetic (the bytes stay as they are). */
        if (BN_bin2bn(hs, sizeof(hs), h) == NULL || BN_nnmod(h, h, e.q, e.bn) != 1) {
            m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI issue: HS");
            goto out;
        }
        if (BN_is_zero(h)) {
            continue;
        }
        if (mul_mod_q(&e, t, h, v) == -1 || BN_mod_add_quick(sk, ksak, t, e.q) != 1) {
            m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI issue: computing SSK");
            goto out;
        }
        if (!BN_is_zero(sk)) {
            break;
        }
    }
    out = m2msec_secret_new(M2MSEC_ECCSI_SCALAR_LEN, err);
    if (out == NULL) {
        goto out;
    }
    if (BN_bn2binpad(sk, m2msec_secret_bytes_mut(out), M2MSEC_ECCSI_SCALAR_LEN) !=
        M2MSEC_ECCSI_SCALAR_LEN) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI issue: SSK encoding");
        goto out;
    }
    memcpy(pvt, pvt_buf, sizeof(pvt_buf));
    *ssk = out;
    out = NULL;
    rv = 0;
out:
    /* v is erased here (RFC 6507 5.1.1: v must not be kept). */
    m2msec_secret_free(out);
    EC_POINT_clear_free(p);
    BN_free(h);
    BN_clear_free(t);
    BN_clear_free(sk);
    BN_clear_free(v);
    BN_clear_free(ksak);
    ec_clear(&e);
    return rv;
}

int
m2msec_eccsi_issue(const struct m2msec_eccsi_kms *kms, const uint8_t *id, size_t id_len,
                   struct m2msec_secret **ssk, uint8_t pvt[M2MSEC_ECCSI_POINT_LEN],
                   struct m2msec_error *err)
{
    return issue(kms, id, id_len, NULL, ssk, pvt, err);
}

/* ---- validation by the device ---- */

/*
 * @spec RFC 6507 5.1.2 the device checks PVT is a curve point other than the
 * point at infinity, computes HS and accepts only if KPAK = [SSK]G - [HS]PVT.
 * Checked here as [SSK]G = KPAK + [HS]PVT, so that SSK goes only into a
 * constant-time generator multiplication.
 */
int
m2msec_eccsi_validate(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id, size_t id_len,
                      const struct m2msec_secret *ssk, const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN],
                      uint8_t hs[M2MSEC_ECCSI_HASH_LEN], struct m2msec_error *err)
{
    struct ec e;
    EC_POINT *kp = NULL, *pv = NULL, *y = NULL, *s = NULL;
    BIGNUM *sk = NULL;
    uint8_t h[M2MSEC_ECCSI_HASH_LEN];
    int rv = -1;

    if (kpak == NULL || ssk == NULL || pvt == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECCSI validate: missing input");
    }
    if (check_id(id, id_len, err) == -1) {
        return -1;
    }
    if (ec_init(&e, err) == -1) {
        return -1;
    }
    kp = point_decode(&e, kpak, M2MSEC_ERR_INVALID_ARGUMENT, "KPAK", err);
    if (kp == NULL) {
        goto out;
    }
    pv = point_decode(&e, pvt, M2MSEC_ERR_AUTH, "PVT", err);
    if (pv == NULL) {
        goto out;
    }
    sk = bn_secret();
    y = EC_POINT_new(e.grp);
    s = EC_POINT_new(e.grp);
    if (sk == NULL || y == NULL || s == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "ECCSI validate: out of memory");
        goto out;
    }
    if (scalar_load(&e, m2msec_secret_bytes(ssk), m2msec_secret_len(ssk), sk) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "SSK is not 32 bytes in [1, q-1]");
        goto out;
    }
    if (m2msec_eccsi_hs(kpak, id, id_len, pvt, h, err) == -1 ||
        compute_y(&e, kp, pv, h, y, err) == -1) {
        goto out;
    }
    if (EC_POINT_mul(e.grp, s, sk, NULL, NULL, e.bn) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI validate: [SSK]G");
        goto out;
    }
    if (EC_POINT_cmp(e.grp, s, y, e.bn) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "SSK does not match KPAK, ID and PVT");
        goto out;
    }
    if (hs != NULL) {
        memcpy(hs, h, sizeof(h));
    }
    rv = 0;
out:
    BN_clear_free(sk);
    EC_POINT_clear_free(s);
    EC_POINT_free(y);
    EC_POINT_free(pv);
    EC_POINT_free(kp);
    ec_clear(&e);
    return rv;
}

/* ---- signing ---- */

/*
 * @spec RFC 6507 5.2.1 J = [j]G, r = Jx, HE = hash(HS || r || M),
 * s' = ((HE + r*SSK)^-1 * j) mod q, Sig = r || s || PVT; a new j when
 * HE + r*SSK = 0 mod q. s' < q < 2^256 always fits in 32 bytes on P-256, so
 * the RFC's "s = q - s'" case never arises and s = s'. We also draw a new j
 * when r = Jx is 0 or not below q (probability ~2^-128), so every signature
 * passes the verifier's 0 < r < q hardening.
 */
static int
sign(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id, size_t id_len,
     const struct m2msec_secret *ssk, const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN], const uint8_t *msg,
     size_t msg_len, const struct m2msec_secret *j_fixed, uint8_t sig[M2MSEC_ECCSI_SIG_LEN],
     struct m2msec_error *err)
{
    struct ec e;
    EC_POINT *kp = NULL, *pv = NULL, *jp = NULL;
    BIGNUM *sk = NULL, *j = NULL, *k = NULL, *w = NULL, *t = NULL, *s = NULL;
    BIGNUM *x = NULL, *he = NULL;
    uint8_t hs[M2MSEC_ECCSI_HASH_LEN];
    uint8_t hev[M2MSEC_ECCSI_HASH_LEN];
    uint8_t rb[M2MSEC_ECCSI_N];
    struct m2msec_bytes parts[3];
    int tries = 0;
    int rv = -1;

    if (kpak == NULL || ssk == NULL || pvt == NULL || sig == NULL ||
        (msg == NULL && msg_len != 0)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECCSI sign: missing input");
    }
    if (check_id(id, id_len, err) == -1) {
        return -1;
    }
    if (ec_init(&e, err) == -1) {
        return -1;
    }
    kp = point_decode(&e, kpak, M2MSEC_ERR_INVALID_ARGUMENT, "KPAK", err);
    if (kp == NULL) {
        goto out;
    }
    pv = point_decode(&e, pvt, M2MSEC_ERR_INVALID_ARGUMENT, "own PVT", err);
    if (pv == NULL) {
        goto out;
    }
    sk = bn_secret();
    j = bn_secret();
    k = bn_secret();
    w = bn_secret();
    t = bn_secret();
    s = bn_secret();
    x = BN_new();
    he = BN_new();
    jp = EC_POINT_new(e.grp);
    if (sk == NULL || j == NULL || k == NULL || w == NULL || t == NULL || s == NULL || x == NULL ||
        he == NULL || jp == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "ECCSI sign: out of memory");
        goto out;
    }
    if (scalar_load(&e, m2msec_secret_bytes(ssk), m2msec_secret_len(ssk), sk) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "ECCSI sign: SSK is not 32 bytes in [1, q-1]");
        goto out;
    }
    if (m2msec_eccsi_hs(kpak, id, id_len, pvt, hs, err) == -1) {
        goto out;
    }
    for (tries = 0;; tries++) {
        if (tries == MAX_TRIES || (j_fixed != NULL && tries > 0)) {
            m2msec_error_setx(err, M2MSEC_ERR_CRYPTO, "ECCSI sign: no usable j found");
            goto out;
        }
        if (j_fixed != NULL) {
            if (scalar_load(&e, m2msec_secret_bytes(j_fixed), m2msec_secret_len(j_fixed), j) ==
                -1) {
                m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                  "ECCSI sign: j must be 32 bytes in [1, q-1]");
                goto out;
            }
        } else if (rand_scalar(&e, j, err) == -1) {
            goto out;
        }
        /* J = [j]G: secret scalar, generator only, constant time. r = Jx is public. */
        if (EC_POINT_mul(e.grp, jp, j, NULL, NULL, e.bn) != 1 ||
            EC_POINT_get_affine_coordinates(e.grp, jp, x, NULL, e.bn) != 1) {
            m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI sign: computing J");
            goto out;
        }
        if (BN_is_zero(x) || BN_cmp(x, e.q) >= 0) {
            continue;
        }
        /* r enters HE as exactly 32 bytes, leading zeros kept (IBC-DESIGN 1.7). */
        if (BN_bn2binpad(x, rb, sizeof(rb)) != (int)sizeof(rb)) {
            m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI sign: encoding r");
            goto out;
        }
        parts[0] = (struct m2msec_bytes){ hs, sizeof(hs) };
        parts[1] = (struct m2msec_bytes){ rb, sizeof(rb) };
        parts[2] = (struct m2msec_bytes){ msg, msg_len };
        if (m2msec_sha256_parts(parts, 3, hev, err) == -1) {
            goto out;
        }
        if (BN_bin2bn(hev, sizeof(hev), he) == NULL || BN_nnmod(he, he, e.q, e.bn) != 1) {
            m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI sign: HE");
            goto out;
        }
        /* Blinded: w = k*HE + r*(k*SSK) = k*(HE + r*SSK) mod q, with a fresh k. */
        if (rand_scalar(&e, k, err) == -1) {
            goto out;
        }
        if (mul_mod_q(&e, t, k, sk) == -1 || mul_mod_q(&e, w, x, t) == -1 ||
            mul_mod_q(&e, t, k, he) == -1 || BN_mod_add_quick(w, w, t, e.q) != 1) {
            m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI sign: arithmetic");
            goto out;
        }
        /* w = 0 exactly when HE + r*SSK = 0 (k is not 0): the RFC's retry case. */
        if (BN_is_zero(w)) {
            continue;
        }
        /* s = w^-1 * k * j = (HE + r*SSK)^-1 * j. */
        if (inv_mod_q(&e, t, w) == -1 || mul_mod_q(&e, s, t, k) == -1 ||
            mul_mod_q(&e, s, s, j) == -1) {
            m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI sign: arithmetic");
            goto out;
        }
        break;
    }
    memcpy(sig, rb, M2MSEC_ECCSI_N);
    if (BN_bn2binpad(s, sig + M2MSEC_ECCSI_N, M2MSEC_ECCSI_N) != M2MSEC_ECCSI_N) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI sign: encoding s");
        goto out;
    }
    memcpy(sig + 2 * M2MSEC_ECCSI_N, pvt, M2MSEC_ECCSI_POINT_LEN);
    rv = 0;
out:
    /* j and the blinding factor are erased here (RFC 6507 5.2.1). */
    BN_free(he);
    BN_free(x);
    BN_clear_free(s);
    BN_clear_free(t);
    BN_clear_free(w);
    BN_clear_free(k);
    BN_clear_free(j);
    BN_clear_free(sk);
    EC_POINT_clear_free(jp);
    EC_POINT_free(pv);
    EC_POINT_free(kp);
    ec_clear(&e);
    if (rv == -1 && sig != NULL) {
        m2msec_wipe(sig, M2MSEC_ECCSI_SIG_LEN);
    }
    return rv;
}

int
m2msec_eccsi_sign(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id, size_t id_len,
                  const struct m2msec_secret *ssk, const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN],
                  const uint8_t *msg, size_t msg_len, uint8_t sig[M2MSEC_ECCSI_SIG_LEN],
                  struct m2msec_error *err)
{
    return sign(kpak, id, id_len, ssk, pvt, msg, msg_len, NULL, sig, err);
}

/* ---- verification ---- */

/* 0 < b < q for a public 32-byte value. */
static int
in_range(struct ec *e, const uint8_t *in, BIGNUM *b)
{
    return BN_bin2bn(in, M2MSEC_ECCSI_N, b) != NULL && !BN_is_zero(b) && BN_cmp(b, e->q) < 0;
}

/*
 * @spec RFC 6507 5.2.2 PVT on the curve; HS = hash(G || KPAK || ID || PVT);
 * HE = hash(HS || r || M); Y = [HS]PVT + KPAK; J = [s]([HE]G + [r]Y);
 * accept iff Jx = r mod p and Jx mod p != 0. Added hardening (IBC-DESIGN 1.7):
 * 0 < r < q, 0 < s < q and J not the point at infinity.
 */
int
m2msec_eccsi_verify(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id, size_t id_len,
                    const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len,
                    struct m2msec_error *err)
{
    struct ec e;
    EC_POINT *kp = NULL, *pv = NULL, *y = NULL, *jp = NULL;
    BIGNUM *r = NULL, *s = NULL, *he = NULL, *a = NULL, *b = NULL, *x = NULL;
    uint8_t hs[M2MSEC_ECCSI_HASH_LEN];
    uint8_t hev[M2MSEC_ECCSI_HASH_LEN];
    uint8_t xb[M2MSEC_ECCSI_N];
    struct m2msec_bytes parts[3];
    int rv = -1;

    if (kpak == NULL || (msg == NULL && msg_len != 0)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECCSI verify: missing input");
    }
    if (check_id(id, id_len, err) == -1) {
        return -1;
    }
    if (sig == NULL || sig_len != M2MSEC_ECCSI_SIG_LEN) {
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH, "ECCSI signature is not %d bytes",
                                 M2MSEC_ECCSI_SIG_LEN);
    }
    if (ec_init(&e, err) == -1) {
        return -1;
    }
    r = BN_new();
    s = BN_new();
    he = BN_new();
    a = BN_new();
    b = BN_new();
    x = BN_new();
    y = EC_POINT_new(e.grp);
    jp = EC_POINT_new(e.grp);
    if (r == NULL || s == NULL || he == NULL || a == NULL || b == NULL || x == NULL || y == NULL ||
        jp == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "ECCSI verify: out of memory");
        goto out;
    }
    if (!in_range(&e, sig, r)) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "ECCSI signature: r is not in [1, q-1]");
        goto out;
    }
    if (!in_range(&e, sig + M2MSEC_ECCSI_N, s)) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "ECCSI signature: s is not in [1, q-1]");
        goto out;
    }
    kp = point_decode(&e, kpak, M2MSEC_ERR_INVALID_ARGUMENT, "KPAK", err);
    if (kp == NULL) {
        goto out;
    }
    pv = point_decode(&e, sig + 2 * M2MSEC_ECCSI_N, M2MSEC_ERR_AUTH, "ECCSI signature: PVT", err);
    if (pv == NULL) {
        goto out;
    }
    if (m2msec_eccsi_hs(kpak, id, id_len, sig + 2 * M2MSEC_ECCSI_N, hs, err) == -1) {
        goto out;
    }
    parts[0] = (struct m2msec_bytes){ hs, sizeof(hs) };
    parts[1] = (struct m2msec_bytes){ sig, M2MSEC_ECCSI_N };
    parts[2] = (struct m2msec_bytes){ msg, msg_len };
    if (m2msec_sha256_parts(parts, 3, hev, err) == -1) {
        goto out;
    }
    if (compute_y(&e, kp, pv, hs, y, err) == -1) {
        goto out;
    }
    if (EC_POINT_is_at_infinity(e.grp, y)) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "ECCSI signature does not verify (Y = O)");
        goto out;
    }
    /* J = [s*HE mod q]G + [s*r mod q]Y: one double multiplication, public values only. */
    if (BN_bin2bn(hev, sizeof(hev), he) == NULL || BN_mod_mul(a, s, he, e.q, e.bn) != 1 ||
        BN_mod_mul(b, s, r, e.q, e.bn) != 1 || EC_POINT_mul(e.grp, jp, a, y, b, e.bn) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI verify: computing J");
        goto out;
    }
    if (EC_POINT_is_at_infinity(e.grp, jp)) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "ECCSI signature does not verify (J = O)");
        goto out;
    }
    if (EC_POINT_get_affine_coordinates(e.grp, jp, x, NULL, e.bn) != 1 ||
        BN_bn2binpad(x, xb, sizeof(xb)) != (int)sizeof(xb)) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECCSI verify: Jx");
        goto out;
    }
    /* Jx < p and 0 < r < q < p: "Jx = r mod p" is byte equality; r != 0 gives Jx != 0. */
    if (CRYPTO_memcmp(xb, sig, sizeof(xb)) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "ECCSI signature does not verify");
        goto out;
    }
    rv = 0;
out:
    BN_free(x);
    BN_free(b);
    BN_free(a);
    BN_free(he);
    BN_free(s);
    BN_free(r);
    EC_POINT_free(jp);
    EC_POINT_free(y);
    EC_POINT_free(pv);
    EC_POINT_free(kp);
    ec_clear(&e);
    return rv;
}

int
m2msec_eccsi_public_y(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id, size_t id_len,
                      const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN], uint8_t y[M2MSEC_ECCSI_POINT_LEN],
                      struct m2msec_error *err)
{
    struct ec e;
    EC_POINT *kp = NULL, *pv = NULL, *yp = NULL;
    uint8_t hs[M2MSEC_ECCSI_HASH_LEN];
    int rv = -1;

    if (kpak == NULL || pvt == NULL || y == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECCSI Y: missing input");
    }
    if (check_id(id, id_len, err) == -1) {
        return -1;
    }
    if (ec_init(&e, err) == -1) {
        return -1;
    }
    kp = point_decode(&e, kpak, M2MSEC_ERR_INVALID_ARGUMENT, "KPAK", err);
    if (kp == NULL) {
        goto out;
    }
    pv = point_decode(&e, pvt, M2MSEC_ERR_AUTH, "PVT", err);
    if (pv == NULL) {
        goto out;
    }
    yp = EC_POINT_new(e.grp);
    if (yp == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "ECCSI Y: out of memory");
        goto out;
    }
    if (m2msec_eccsi_hs(kpak, id, id_len, pvt, hs, err) == -1 ||
        compute_y(&e, kp, pv, hs, yp, err) == -1) {
        goto out;
    }
    if (EC_POINT_is_at_infinity(e.grp, yp)) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "ECCSI: Y is the point at infinity");
        goto out;
    }
    if (point_encode(&e, yp, y, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    EC_POINT_free(yp);
    EC_POINT_free(pv);
    EC_POINT_free(kp);
    ec_clear(&e);
    return rv;
}

#ifdef M2MSEC_TESTING
int
m2msec_eccsi_issue_fixed(const struct m2msec_eccsi_kms *kms, const uint8_t *id, size_t id_len,
                         const struct m2msec_secret *v, struct m2msec_secret **ssk,
                         uint8_t pvt[M2MSEC_ECCSI_POINT_LEN], struct m2msec_error *err)
{
    if (v == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECCSI issue: v missing");
    }
    return issue(kms, id, id_len, v, ssk, pvt, err);
}

int
m2msec_eccsi_sign_fixed(const uint8_t kpak[M2MSEC_ECCSI_POINT_LEN], const uint8_t *id,
                        size_t id_len, const struct m2msec_secret *ssk,
                        const uint8_t pvt[M2MSEC_ECCSI_POINT_LEN], const uint8_t *msg,
                        size_t msg_len, const struct m2msec_secret *j,
                        uint8_t sig[M2MSEC_ECCSI_SIG_LEN], struct m2msec_error *err)
{
    if (j == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECCSI sign: j missing");
    }
    return sign(kpak, id, id_len, ssk, pvt, msg, msg_len, j, sig, err);
}
#endif
