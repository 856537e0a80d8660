/*
 * crypto/kdf.c - TS-0003 10.3 key derivations, exporter split, key check values.
 *
 * Layer: crypto (OpenSSL EVP_MAC only; util below, nothing above). Every
 * derivation is one HMAC-SHA-256 keyed with Ke over "label || [SUID] || id",
 * fed to the MAC piece by piece so that no concatenated copy of the input
 * exists. Derived keys are written straight into secure memory.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crypto/kdf.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/unicode.h"

/* Bytes of the HMAC output that make up a key check value. */
#define KCV_BYTES 8

struct part {
    const void *p;
    size_t n;
};

/*
 * HMAC-SHA-256 over the concatenation of parts[0..nparts). out receives
 * exactly M2MSEC_HMAC_LEN bytes.
 */
static int
hmac_parts(const uint8_t *key, size_t keylen, const struct part *parts, size_t nparts, uint8_t *out,
           struct m2msec_error *err)
{
    /* Not const: OSSL_PARAM_construct_utf8_string takes char *. */
    static char digest[] = "SHA256";
    /* EVP_MAC_init treats a NULL key as "keep the previous key"; HMAC allows an empty one. */
    static const uint8_t empty_key[1] = { 0 };
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    size_t outlen = 0;
    int rv = -1;

    if (key == NULL) {
        if (keylen != 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HMAC key missing");
            goto out;
        }
        key = empty_key;
    }
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "fetching HMAC");
        goto out;
    }
    ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL) {
        m2msec_error_openssl(err, M2MSEC_ERR_NOMEM, "allocating HMAC context");
        goto out;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(ctx, key, keylen, params) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "HMAC-SHA-256 init");
        goto out;
    }
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].n == 0) {
            continue;
        }
        if (EVP_MAC_update(ctx, parts[i].p, parts[i].n) != 1) {
            m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "HMAC-SHA-256 update");
            goto out;
        }
    }
    if (EVP_MAC_final(ctx, out, &outlen, M2MSEC_HMAC_LEN) != 1 || outlen != M2MSEC_HMAC_LEN) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "HMAC-SHA-256 final");
        goto out;
    }
    rv = 0;
out:
    /* EVP_MAC_CTX_free cleanses the keyed state. */
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rv;
}

int
m2msec_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
                   uint8_t out[M2MSEC_HMAC_LEN], struct m2msec_error *err)
{
    struct part part = { msg, msglen };

    if (msg == NULL && msglen != 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HMAC message missing");
    }
    return hmac_parts(key, keylen, &part, 1, out, err);
}

/*
 * @spec TS-0003 10.3.1 the 48-byte exporter output holds the relative
 * identifier in its most significant (first) 16 bytes and the key in the
 * least significant (last) 32 (DEFECT-15: octet strings read big-endian).
 */
int
m2msec_export_split(const uint8_t in[M2MSEC_EXPORT_LEN], uint8_t rel_id[M2MSEC_REL_ID_LEN],
                    struct m2msec_secret **key, struct m2msec_error *err)
{
    struct m2msec_secret *k = NULL;

    k = m2msec_secret_from(in + M2MSEC_REL_ID_LEN, M2MSEC_KEY_LEN, err);
    if (k == NULL) {
        return -1;
    }
    memcpy(rel_id, in, M2MSEC_REL_ID_LEN);
    *key = k;
    return 0;
}

/*
 * @spec TS-0003 10.3.7 (DEFECT-5) SUID rendered as the ASCII decimal digits
 * used in the fetch URI, e.g. 21 -> "21". Values above 99 are not two-digit
 * SUIDs and are refused rather than silently given a third digit.
 */
int
m2msec_suid_encode(unsigned suid, char out[4])
{
    if (suid > 99) {
        return -1;
    }
    if (suid < 10) {
        out[0] = (char)('0' + suid);
        out[1] = '\0';
        return 1;
    }
    out[0] = (char)('0' + suid / 10);
    out[1] = (char)('0' + suid % 10);
    out[2] = '\0';
    return 2;
}

/*
 * HMAC(Ke, label || suid || NFKC(id)) into a new 32-byte secret. suid may be
 * NULL (10.3.2, 10.3.3 have none).
 */
static int
derive(const struct m2msec_secret *ke, const char *label, const char *suid, const char *id,
       const char *what, struct m2msec_secret **out, struct m2msec_error *err)
{
    struct m2msec_secret *k = NULL;
    char *norm = NULL;
    size_t normlen = 0;
    struct part parts[3];
    int rv = -1;

    if (ke == NULL || id == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: missing key or identity", what);
        goto out;
    }
    /* 10.3.1 makes Ke 32 bytes; any other length means the caller passed the wrong key. */
    if (m2msec_secret_len(ke) != M2MSEC_KEY_LEN) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: Ke must be %d bytes, not %zu",
                          what, M2MSEC_KEY_LEN, m2msec_secret_len(ke));
        goto out;
    }
    /* @spec TS-0003 10.3.2 identity inputs are NFKC-normalised UTF-8 */
    if (m2msec_nfkc(id, &norm, &normlen, err) == -1) {
        m2msec_error_wrap(err, "%s: identity", what);
        goto out;
    }
    if (normlen == 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: empty identity", what);
        goto out;
    }
    k = m2msec_secret_new(M2MSEC_KEY_LEN, err);
    if (k == NULL) {
        goto out;
    }
    parts[0].p = label;
    parts[0].n = strlen(label);
    parts[1].p = suid;
    parts[1].n = suid != NULL ? strlen(suid) : 0;
    parts[2].p = norm;
    parts[2].n = normlen;
    if (hmac_parts(m2msec_secret_bytes(ke), m2msec_secret_len(ke), parts, 3,
                   m2msec_secret_bytes_mut(k), err) == -1) {
        m2msec_error_wrap(err, "%s", what);
        goto out;
    }
    *out = k;
    k = NULL;
    rv = 0;
out:
    m2msec_secret_free(k);
    if (norm != NULL) {
        m2msec_wipe(norm, normlen);
        m2msec_free(norm);
    }
    return rv;
}

/* @spec TS-0003 10.3.2 Km keyed with Ke over the Km label and the MAF-ID */
int
m2msec_derive_km_legacy(const struct m2msec_secret *ke, const char *maf_id,
                        struct m2msec_secret **out, struct m2msec_error *err)
{
    return derive(ke, M2MSEC_LABEL_KM, NULL, maf_id, "deriving Km", out, err);
}

/* @spec TS-0003 10.3.3 Kpsa keyed with Ke over the Kpsa label and Enrolee B's id */
int
m2msec_derive_kpsa_legacy(const struct m2msec_secret *ke, const char *enrolee_b_id,
                          struct m2msec_secret **out, struct m2msec_error *err)
{
    return derive(ke, M2MSEC_LABEL_KPSA, NULL, enrolee_b_id, "deriving Kpsa", out, err);
}

/* @spec TS-0003 10.3.7 usage-constrained key over the label, the SUID and the target id */
int
m2msec_derive_usage_constrained(const struct m2msec_secret *ke, unsigned suid,
                                const char *target_id, struct m2msec_secret **out,
                                struct m2msec_error *err)
{
    char suid_txt[4];

    if (m2msec_suid_encode(suid, suid_txt) == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "deriving usage-constrained key: SUID %u out of range", suid);
    }
    return derive(ke, M2MSEC_LABEL_UC, suid_txt, target_id, "deriving usage-constrained key", out,
                  err);
}

int
m2msec_key_check_value(const struct m2msec_secret *key, char out[M2MSEC_KCV_HEX_LEN],
                       struct m2msec_error *err)
{
    uint8_t mac[M2MSEC_HMAC_LEN];
    struct part part = { M2MSEC_KCV_LABEL, sizeof(M2MSEC_KCV_LABEL) - 1 };
    int rv = -1;

    if (key == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key check value: missing key");
        goto out;
    }
    if (hmac_parts(m2msec_secret_bytes(key), m2msec_secret_len(key), &part, 1, mac, err) == -1) {
        m2msec_error_wrap(err, "key check value");
        goto out;
    }
    if (m2msec_hex_encode(mac, KCV_BYTES, out, M2MSEC_KCV_HEX_LEN) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_CRYPTO, "key check value: hex encoding failed");
        goto out;
    }
    rv = 0;
out:
    m2msec_wipe(mac, sizeof(mac));
    return rv;
}
