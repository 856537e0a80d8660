/*
 * client/bootmsg.c - the PKI bootstrap (seed 002) message codec, purposes and unwrap.
 *
 * Layer: client (I/O-free part; mefd uses it too). Decoders are strict like
 * codec/: unknown, missing, mistyped or oversized members are refused with
 * rsc 4000 and the member's name.
 */
#include <string.h>

#include "client/bootstrap.h"
#include "codec/json.h"
#include "crypto/kdf.h"
#include "crypto/keywrap.h"
#include "proto/ids.h"
#include "util/encoding.h"
#include "util/mem.h"

#define RSC_BAD_REQUEST 4000
#define BOOT_ID_MAX     512
#define BOOT_B64_MAX    64
#define BOOT_ALG_MAX    32
#define ENROLEE_LABEL   "m2msec bootstrap EnroleeID"

void
m2msec_boot_resp_clear(struct m2msec_boot_resp *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->root_id);
    m2msec_free(m->purpose);
    m2msec_free(m->enrolee_id);
    m2msec_free(m->node_id);
    memset(m, 0, sizeof(*m));
}

int
m2msec_boot_purpose_parse(const char *p, unsigned *suid, const char **target)
{
    if (p == NULL || strlen(p) > BOOT_ID_MAX) {
        return -1;
    }
    /* @spec TS-0004 m2m:suid: 21 RSPF-provisioned key for a MAF, 22 for an SAEF. */
    if (strncmp(p, "maf:", 4) == 0 && m2msec_fqdn_valid(p + 4)) {
        *suid = 21;
        *target = p + 4;
        return 0;
    }
    if (strncmp(p, "cse:", 4) == 0 && m2msec_cse_id_valid(p + 4)) {
        *suid = 22;
        *target = p + 4;
        return 0;
    }
    return -1;
}

int
m2msec_boot_enrolee_id(const char *node, char out[M2MSEC_BOOT_ENROLEE_ID_LEN],
                       struct m2msec_error *err)
{
    uint8_t mac[M2MSEC_HMAC_LEN];
    int rv = -1;

    if (node == NULL || node[0] == '\0') {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "node identity missing");
    }
    if (m2msec_hmac_sha256((const uint8_t *)ENROLEE_LABEL, strlen(ENROLEE_LABEL),
                           (const uint8_t *)node, strlen(node), mac, err) == -1) {
        goto out;
    }
    out[0] = 'C';
    (void)m2msec_hex_encode(mac, 16, out + 1, M2MSEC_BOOT_ENROLEE_ID_LEN - 1);
    rv = 0;
out:
    m2msec_wipe(mac, sizeof(mac));
    return rv;
}

static int
boot_resp_from_json(const json_t *v, struct m2msec_boot_resp *out, struct m2msec_error *err)
{
    struct m2msec_jr jr;
    struct m2msec_keid keid;
    struct m2msec_error scratch = { 0 };
    char *b64 = NULL;
    char *alg = NULL;
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    unsigned suid = 0;
    const char *target = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "rootCredID", 1, BOOT_ID_MAX, &out->root_id);
    m2msec_jr_str(&jr, "wrappedRootCred", 1, BOOT_B64_MAX, &b64);
    m2msec_jr_str(&jr, "keyWrapAlg", 1, BOOT_ALG_MAX, &alg);
    m2msec_jr_time(&jr, "lifetime", 1, &out->lifetime, NULL);
    m2msec_jr_str(&jr, "purpose", 1, BOOT_ID_MAX, &out->purpose);
    m2msec_jr_str(&jr, "enroleeID", 1, BOOT_ID_MAX, &out->enrolee_id);
    m2msec_jr_str(&jr, "nodeID", 1, BOOT_ID_MAX, &out->node_id);
    if (!jr.failed && m2msec_keid_parse(out->root_id, &keid, &scratch) == -1) {
        m2msec_jr_fail(&jr, "rootCredID", "not <32 hex>@<MEF-FQDN>");
    }
    if (!jr.failed && strcmp(alg, M2MSEC_ROOT_WRAP_ALG) != 0) {
        m2msec_jr_fail(&jr, "keyWrapAlg", "not " M2MSEC_ROOT_WRAP_ALG);
    }
    if (!jr.failed && m2msec_boot_purpose_parse(out->purpose, &suid, &target) == -1) {
        m2msec_jr_fail(&jr, "purpose", "not maf:<MAF-FQDN> or cse:<CSE-ID>");
    }
    if (!jr.failed && !m2msec_entity_id_valid(out->enrolee_id)) {
        m2msec_jr_fail(&jr, "enroleeID", "not a CSE-ID or AE-ID");
    }
    if (!jr.failed && (m2msec_b64_decode(b64, strlen(b64), &raw, &rawlen, &scratch) == -1 ||
                       rawlen != M2MSEC_ROOT_WRAPPED_LEN)) {
        m2msec_jr_fail(&jr, "wrappedRootCred", "not 40 bytes of canonical base64");
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        goto out;
    }
    memcpy(out->wrapped, raw, sizeof(out->wrapped));
    rv = 0;
out:
    m2msec_free(b64);
    m2msec_free(alg);
    m2msec_free(raw);
    if (rv == -1) {
        m2msec_boot_resp_clear(out);
    }
    return rv;
}

static int
boot_resp_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_boot_resp tmp;
    int rv = boot_resp_from_json(v, &tmp, err);

    m2msec_boot_resp_clear(&tmp);
    return rv;
}

int
m2msec_boot_resp_encode(const struct m2msec_boot_resp *m, struct m2msec_buf *out,
                        struct m2msec_error *err)
{
    struct m2msec_jw w;
    char *b64 = NULL;
    int rv = -1;

    m2msec_jw_init(&w);
    if (m2msec_b64_encode(m->wrapped, sizeof(m->wrapped), &b64, err) == -1) {
        json_decref(w.obj);
        return -1;
    }
    m2msec_jw_str(&w, "rootCredID", m->root_id);
    m2msec_jw_str(&w, "wrappedRootCred", b64);
    m2msec_jw_str(&w, "keyWrapAlg", M2MSEC_ROOT_WRAP_ALG);
    m2msec_jw_time(&w, "lifetime", m->lifetime);
    m2msec_jw_str(&w, "purpose", m->purpose);
    m2msec_jw_str(&w, "enroleeID", m->enrolee_id);
    m2msec_jw_str(&w, "nodeID", m->node_id);
    rv = m2msec_jw_finish(&w, boot_resp_check, out, err);
    m2msec_free(b64);
    return rv;
}

int
m2msec_boot_resp_decode(const uint8_t *buf, size_t len, struct m2msec_boot_resp *out,
                        struct m2msec_error *err)
{
    json_t *root = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    if (m2msec_json_parse(buf, len, &root, err) == -1) {
        goto out;
    }
    rv = boot_resp_from_json(root, out, err);
out:
    json_decref(root);
    return rv;
}

int
m2msec_boot_req_decode(const uint8_t *buf, size_t len, struct m2msec_error *err)
{
    struct m2msec_jr jr;
    json_t *root = NULL;
    int rv = -1;

    if (len == 0) {
        return 0;
    }
    if (m2msec_json_parse(buf, len, &root, err) == -1) {
        goto out;
    }
    /* No member is defined: the reader refuses any as unknown. */
    m2msec_jr_init(&jr, root);
    rv = m2msec_jr_finish(&jr, err);
out:
    json_decref(root);
    return rv;
}

int
m2msec_boot_unwrap(const struct m2msec_secret *wrap_key, const struct m2msec_boot_resp *m,
                   struct m2msec_secret **key, struct m2msec_error *err)
{
    struct m2msec_secret *k = NULL;

    *key = NULL;
    if (wrap_key == NULL || m2msec_secret_len(wrap_key) != M2MSEC_ROOT_WRAP_KEY_LEN) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "RootCredentialWrapKey must be 32 bytes");
    }
    /* @spec seed 002 x.1.2.1.2 step 4 (RFC 3394 2.2.3: the integrity check). */
    if (m2msec_keyunwrap(wrap_key, m->wrapped, sizeof(m->wrapped), &k, err) == -1) {
        if (m2msec_error_code(err) == M2MSEC_ERR_AUTH) {
            m2msec_error_wrap(err, "root credential fails the key wrap integrity check");
        }
        return -1;
    }
    if (m2msec_secret_len(k) != M2MSEC_ROOT_KEY_LEN) {
        m2msec_secret_free(k);
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "root credential is not 32 bytes");
    }
    *key = k;
    return 0;
}
