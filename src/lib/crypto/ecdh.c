/*
 * crypto/ecdh.c - ephemeral P-256 ECDH with uncompressed point encodings.
 *
 * Layer: crypto (OpenSSL EVP_PKEY and EC_POINT decoding; util below,
 * nothing above). Keys are generated and used through EVP so that OpenSSL's
 * constant-time P-256 implementation does the private-key arithmetic.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>

#include "crypto/ecdh.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

struct m2msec_ecdh {
    EVP_PKEY *key;
};

struct m2msec_ecdh *
m2msec_ecdh_new(struct m2msec_error *err)
{
    struct m2msec_ecdh *k = NULL;
    struct m2msec_ecdh *ret = NULL;

    k = m2msec_calloc(1, sizeof(*k));
    if (k == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "ECDH: out of memory");
        goto out;
    }
    k->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (k->key == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECDH: generating a P-256 key");
        goto out;
    }
    ret = k;
    k = NULL;
out:
    m2msec_ecdh_free(k);
    return ret;
}

void
m2msec_ecdh_free(struct m2msec_ecdh *k)
{
    if (k == NULL) {
        return;
    }
    EVP_PKEY_free(k->key);
    m2msec_free(k);
}

int
m2msec_ecdh_public(const struct m2msec_ecdh *k, uint8_t out[M2MSEC_P256_POINT_LEN],
                   struct m2msec_error *err)
{
    size_t len = 0;

    if (k == NULL || out == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECDH: missing key");
    }
    /* Keys made by EVP_PKEY_Q_keygen use the uncompressed point format. */
    if (EVP_PKEY_get_octet_string_param(k->key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out,
                                        M2MSEC_P256_POINT_LEN, &len) != 1 ||
        len != M2MSEC_P256_POINT_LEN || out[0] != POINT_CONVERSION_UNCOMPRESSED) {
        return m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECDH: encoding the public key");
    }
    return 0;
}

int
m2msec_p256_point_check(const uint8_t p[M2MSEC_P256_POINT_LEN], struct m2msec_error *err)
{
    EC_GROUP *grp = NULL;
    EC_POINT *pt = NULL;
    int rv = -1;

    if (p == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "P-256 point missing");
        goto out;
    }
    /* oct2point would also take the hybrid forms 0x06/0x07: only 0x04 is allowed on the wire. */
    if (p[0] != POINT_CONVERSION_UNCOMPRESSED) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "P-256 point is not in uncompressed form");
        goto out;
    }
    grp = EC_GROUP_new_by_curve_name_ex(NULL, NULL, NID_X9_62_prime256v1);
    pt = grp != NULL ? EC_POINT_new(grp) : NULL;
    if (pt == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "P-256 group");
        goto out;
    }
    /* oct2point checks the coordinates are < p and the point satisfies the curve equation. */
    if (EC_POINT_oct2point(grp, pt, p, M2MSEC_P256_POINT_LEN, NULL) != 1 ||
        EC_POINT_is_at_infinity(grp, pt) || EC_POINT_is_on_curve(grp, pt, NULL) != 1) {
        ERR_clear_error();
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "P-256 point is not on the curve");
        goto out;
    }
    rv = 0;
out:
    EC_POINT_free(pt);
    EC_GROUP_free(grp);
    return rv;
}

/* An EVP_PKEY holding only the peer's public point. */
static EVP_PKEY *
peer_key(const uint8_t peer[M2MSEC_P256_POINT_LEN], struct m2msec_error *err)
{
    static char group[] = "P-256";
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    EVP_PKEY *ret = NULL;
    OSSL_PARAM params[3];

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECDH: peer key context");
        goto out;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)(uintptr_t)peer,
                                                  M2MSEC_P256_POINT_LEN);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_AUTH, "ECDH: peer point rejected");
        goto out;
    }
    ret = key;
    key = NULL;
out:
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(ctx);
    return ret;
}

/* @spec RFC 5903 9: the shared secret is the x-coordinate of the product point */
int
m2msec_ecdh_derive(const struct m2msec_ecdh *k, const uint8_t peer[M2MSEC_P256_POINT_LEN],
                   struct m2msec_secret **z, struct m2msec_error *err)
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    struct m2msec_secret *s = NULL;
    size_t len = M2MSEC_ECDH_Z_LEN;
    int rv = -1;

    if (k == NULL || z == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ECDH: missing key");
        goto out;
    }
    if (m2msec_p256_point_check(peer, err) == -1) {
        m2msec_error_wrap(err, "ECDH peer");
        goto out;
    }
    pk = peer_key(peer, err);
    if (pk == NULL) {
        goto out;
    }
    s = m2msec_secret_new(M2MSEC_ECDH_Z_LEN, err);
    if (s == NULL) {
        goto out;
    }
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->key, NULL);
    if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, pk) != 1 ||
        EVP_PKEY_derive(ctx, m2msec_secret_bytes_mut(s), &len) != 1 || len != M2MSEC_ECDH_Z_LEN) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "ECDH: derive");
        goto out;
    }
    *z = s;
    s = NULL;
    rv = 0;
out:
    m2msec_secret_free(s);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return rv;
}
