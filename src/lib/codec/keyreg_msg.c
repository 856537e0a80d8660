/*
 * codec/keyreg_msg.c - Key Registration, Retrieval and Update messages, MEF and MAF.
 *
 * Layer: codec. Depends on codec/json.h and util only. One implementation for
 * both registrars (codec/keyreg_msg.h): the peer picks the FQDN member name.
 * Encoders use the shared writer of codec/json.h, which runs the decoder over
 * the object before serialising it, so m2msec never sends what it would refuse.
 */
#include <string.h>

#include "codec/json.h"
#include "codec/keyreg_msg.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/secret.h"

#define KR_FQDN_MAX 253
#define KR_B64_MAX  (4 * ((M2MSEC_KEYREG_KEY_LEN + 2) / 3))
#define KR_RSC_BAD  4000 /* BAD_REQUEST; http/ sits above codec */

const char *
m2msec_keyreg_fqdn_member(enum m2msec_reg_peer peer)
{
    return peer == M2MSEC_REG_MAF ? "mafFQDN" : "mefFQDN";
}

int
m2msec_keyreg_rel_valid(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0') {
        return 0;
    }
    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];

        if (i >= M2MSEC_KEYREG_REL_MAX ||
            !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

static int
peer_valid(enum m2msec_reg_peer peer, struct m2msec_error *err)
{
    if (peer != M2MSEC_REG_MEF && peer != M2MSEC_REG_MAF) {
        return m2msec_error_setr(err, M2MSEC_ERR_INVALID_ARGUMENT, 5000, "unknown registrar %d",
                                 (int)peer);
    }
    return 0;
}

/*
 * Member readers shared by the messages.
 */

/* Host names go into logs and comparisons: printable ASCII without spaces. */
static void
jr_host(struct m2msec_jr *jr, const char *name, int required, char **out)
{
    size_t i;

    m2msec_jr_str(jr, name, required, KR_FQDN_MAX, out);
    if (jr->failed || *out == NULL) {
        return;
    }
    for (i = 0; (*out)[i] != '\0'; i++) {
        unsigned char c = (unsigned char)(*out)[i];

        if (c < 0x21 || c > 0x7e) {
            m2msec_jr_fail(jr, name, "not a host name");
            return;
        }
    }
}

static void
jr_labels(struct m2msec_jr *jr, char ***lbl, size_t *n, int *has)
{
    m2msec_jr_strlist(jr, "lbl", 0, M2MSEC_LABELS_MAX, M2MSEC_KEYREG_ID_MAX, lbl, n, has);
}

static void
jr_suid(struct m2msec_jr *jr, unsigned *out)
{
    uint64_t v = 0;

    m2msec_jr_u64(jr, "suid", 1, M2MSEC_KEYREG_SUID_MIN, M2MSEC_KEYREG_SUID_MAX, &v, NULL);
    *out = (unsigned)v;
}

/* targetIDs: a non-empty list when present (m2m:listOfM2MID of authorised targets). */
static void
jr_targets(struct m2msec_jr *jr, int required, char ***out, size_t *n, int *has)
{
    int present = 0;

    m2msec_jr_strlist(jr, "targetIDs", required, M2MSEC_KEYREG_TARGETS_MAX, M2MSEC_KEYREG_ID_MAX,
                      out, n, &present);
    if (!jr->failed && present && *n == 0) {
        m2msec_jr_fail(jr, "targetIDs", "at least one target");
    }
    if (has != NULL) {
        *has = present;
    }
}

static void
jr_rel(struct m2msec_jr *jr, char **out)
{
    m2msec_jr_str(jr, "relativeKeyID", 1, M2MSEC_KEYREG_REL_MAX, out);
    if (!jr->failed && !m2msec_keyreg_rel_valid(*out)) {
        m2msec_jr_fail(jr, "relativeKeyID", "letters, digits, '.', '_' and '-' only");
    }
}

/* keyValue text -> a secret of exactly M2MSEC_KEYREG_KEY_LEN bytes. */
static int
key_value(const char *b64, struct m2msec_secret **out, struct m2msec_error *err)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    int rv = -1;

    if (m2msec_b64_decode(b64, strlen(b64), &raw, &rawlen, err) == -1) {
        if (m2msec_error_code(err) != M2MSEC_ERR_NOMEM) {
            m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, KR_RSC_BAD,
                              "member 'keyValue': not canonical base64");
        }
        goto out;
    }
    if (rawlen != M2MSEC_KEYREG_KEY_LEN) {
        m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, KR_RSC_BAD,
                          "member 'keyValue': %zu bytes, expected %d", rawlen,
                          M2MSEC_KEYREG_KEY_LEN);
        goto out;
    }
    *out = m2msec_secret_from(raw, rawlen, err);
    if (*out == NULL) {
        goto out;
    }
    rv = 0;
out:
    if (raw != NULL) {
        m2msec_wipe(raw, rawlen);
        m2msec_free(raw);
    }
    return rv;
}

/*
 * Key Registration request.
 * @spec TS-0003 8.3.5.2.7 table 8.3.5.2.7-1, 8.8.2.7 table 8.8.2.7-1
 */

void
m2msec_keyreg_req_clear(struct m2msec_keyreg_req *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->fqdn);
    m2msec_strlist_free(m->lbl);
    m2msec_free(m->admin_fqdn);
    m2msec_strlist_free(m->target_ids);
    m2msec_secret_free(m->key_value);
    memset(m, 0, sizeof(*m));
}

static int
req_from_json(const json_t *v, enum m2msec_reg_peer peer, struct m2msec_keyreg_req *out,
              struct m2msec_error *err)
{
    struct m2msec_jr jr;
    char *kv = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    jr_host(&jr, m2msec_keyreg_fqdn_member(peer), 1, &out->fqdn);
    m2msec_jr_time(&jr, "et", 1, &out->et, NULL);
    jr_labels(&jr, &out->lbl, &out->nlbl, &out->has_lbl);
    jr_host(&jr, "adminFQDN", 1, &out->admin_fqdn);
    jr_suid(&jr, &out->suid);
    jr_targets(&jr, 0, &out->target_ids, &out->ntargets, NULL);
    m2msec_jr_str(&jr, "keyValue", 0, KR_B64_MAX, &kv);
    if (m2msec_jr_finish(&jr, err) == -1) {
        goto out;
    }
    if (kv != NULL && key_value(kv, &out->key_value, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_free_wipe_str(kv);
    if (rv == -1) {
        m2msec_keyreg_req_clear(out);
    }
    return rv;
}

static int
req_check(const json_t *v, enum m2msec_reg_peer peer, struct m2msec_error *err)
{
    struct m2msec_keyreg_req tmp;
    int rv = req_from_json(v, peer, &tmp, err);

    m2msec_keyreg_req_clear(&tmp);
    return rv;
}

/* m2msec_jw_finish callbacks take no peer: one for each. */
static int
req_check_mef(const json_t *v, struct m2msec_error *err)
{
    return req_check(v, M2MSEC_REG_MEF, err);
}

static int
req_check_maf(const json_t *v, struct m2msec_error *err)
{
    return req_check(v, M2MSEC_REG_MAF, err);
}

int
m2msec_keyreg_req_encode(enum m2msec_reg_peer peer, const struct m2msec_keyreg_req *m,
                         struct m2msec_buf *out, struct m2msec_error *err)
{
    struct m2msec_jw w;

    if (peer_valid(peer, err) == -1) {
        return -1;
    }
    m2msec_jw_init(&w);
    m2msec_jw_str(&w, m2msec_keyreg_fqdn_member(peer), m->fqdn);
    m2msec_jw_time(&w, "et", m->et);
    if (m->has_lbl) {
        m2msec_jw_strlist(&w, "lbl", m->lbl, m->nlbl);
    }
    m2msec_jw_str(&w, "adminFQDN", m->admin_fqdn);
    m2msec_jw_u64(&w, "suid", m->suid);
    if (m->target_ids != NULL) {
        m2msec_jw_strlist(&w, "targetIDs", m->target_ids, m->ntargets);
    }
    m2msec_jw_key(&w, "keyValue", m->key_value);
    return m2msec_jw_finish(&w, peer == M2MSEC_REG_MAF ? req_check_maf : req_check_mef, out, err);
}

int
m2msec_keyreg_req_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                         struct m2msec_keyreg_req *out, struct m2msec_error *err)
{
    json_t *root = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    if (peer_valid(peer, err) == -1 || m2msec_json_parse(buf, len, &root, err) == -1) {
        goto out;
    }
    rv = req_from_json(root, peer, out, err);
out:
    json_decref(root);
    return rv;
}

/*
 * Key Registration response.
 * @spec TS-0003 8.3.5.2.7 table 8.3.5.2.7-2, 8.8.2.7 table 8.8.2.7-2
 */

void
m2msec_keyreg_resp_clear(struct m2msec_keyreg_resp *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->rel_key_id);
    m2msec_free(m->source_id);
    m2msec_strlist_free(m->lbl);
    m2msec_free(m->admin_fqdn);
    m2msec_strlist_free(m->target_ids);
    memset(m, 0, sizeof(*m));
}

static int
resp_from_json(const json_t *v, struct m2msec_keyreg_resp *out, struct m2msec_error *err)
{
    struct m2msec_jr jr;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    jr_rel(&jr, &out->rel_key_id);
    m2msec_jr_time(&jr, "et", 1, &out->et, NULL);
    m2msec_jr_str(&jr, "sourceID", 1, M2MSEC_KEYREG_ID_MAX, &out->source_id);
    jr_labels(&jr, &out->lbl, &out->nlbl, &out->has_lbl);
    jr_host(&jr, "adminFQDN", 1, &out->admin_fqdn);
    jr_suid(&jr, &out->suid);
    /* Table 8.3.5.2.7-2: the list the registrar holds is always returned. */
    jr_targets(&jr, 1, &out->target_ids, &out->ntargets, NULL);
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_keyreg_resp_clear(out);
        return -1;
    }
    return 0;
}

static int
resp_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_keyreg_resp tmp;
    int rv = resp_from_json(v, &tmp, err);

    m2msec_keyreg_resp_clear(&tmp);
    return rv;
}

int
m2msec_keyreg_resp_encode(enum m2msec_reg_peer peer, const struct m2msec_keyreg_resp *m,
                          struct m2msec_buf *out, struct m2msec_error *err)
{
    struct m2msec_jw w;

    if (peer_valid(peer, err) == -1) {
        return -1;
    }
    m2msec_jw_init(&w);
    m2msec_jw_str(&w, "relativeKeyID", m->rel_key_id);
    m2msec_jw_time(&w, "et", m->et);
    m2msec_jw_str(&w, "sourceID", m->source_id);
    if (m->has_lbl) {
        m2msec_jw_strlist(&w, "lbl", m->lbl, m->nlbl);
    }
    m2msec_jw_str(&w, "adminFQDN", m->admin_fqdn);
    m2msec_jw_u64(&w, "suid", m->suid);
    if (m->target_ids != NULL) {
        m2msec_jw_strlist(&w, "targetIDs", m->target_ids, m->ntargets);
    }
    return m2msec_jw_finish(&w, resp_check, out, err);
}

int
m2msec_keyreg_resp_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                          struct m2msec_keyreg_resp *out, struct m2msec_error *err)
{
    json_t *root = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    if (peer_valid(peer, err) == -1 || m2msec_json_parse(buf, len, &root, err) == -1) {
        goto out;
    }
    rv = resp_from_json(root, out, err);
out:
    json_decref(root);
    return rv;
}

/*
 * Key Retrieval response (the request is the RelativeKeyID in the path).
 * @spec TS-0003 8.3.5.2.8 table 8.3.5.2.8-2, 8.8.2.8 table 8.8.2.8-2
 */

void
m2msec_keyreg_get_resp_clear(struct m2msec_keyreg_get_resp *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->source_id);
    m2msec_strlist_free(m->lbl);
    m2msec_free(m->admin_fqdn);
    m2msec_secret_free(m->key_value);
    memset(m, 0, sizeof(*m));
}

static int
get_from_json(const json_t *v, struct m2msec_keyreg_get_resp *out, struct m2msec_error *err)
{
    struct m2msec_jr jr;
    char *kv = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_time(&jr, "et", 1, &out->et, NULL);
    m2msec_jr_str(&jr, "sourceID", 1, M2MSEC_KEYREG_ID_MAX, &out->source_id);
    jr_labels(&jr, &out->lbl, &out->nlbl, &out->has_lbl);
    jr_host(&jr, "adminFQDN", 1, &out->admin_fqdn);
    jr_suid(&jr, &out->suid);
    m2msec_jr_str(&jr, "keyValue", 1, KR_B64_MAX, &kv);
    if (m2msec_jr_finish(&jr, err) == -1 || key_value(kv, &out->key_value, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_free_wipe_str(kv);
    if (rv == -1) {
        m2msec_keyreg_get_resp_clear(out);
    }
    return rv;
}

static int
get_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_keyreg_get_resp tmp;
    int rv = get_from_json(v, &tmp, err);

    m2msec_keyreg_get_resp_clear(&tmp);
    return rv;
}

int
m2msec_keyreg_get_resp_encode(enum m2msec_reg_peer peer, const struct m2msec_keyreg_get_resp *m,
                              struct m2msec_buf *out, struct m2msec_error *err)
{
    struct m2msec_jw w;

    if (peer_valid(peer, err) == -1) {
        return -1;
    }
    m2msec_jw_init(&w);
    m2msec_jw_time(&w, "et", m->et);
    m2msec_jw_str(&w, "sourceID", m->source_id);
    if (m->has_lbl) {
        m2msec_jw_strlist(&w, "lbl", m->lbl, m->nlbl);
    }
    m2msec_jw_str(&w, "adminFQDN", m->admin_fqdn);
    m2msec_jw_u64(&w, "suid", m->suid);
    m2msec_jw_key(&w, "keyValue", m->key_value);
    return m2msec_jw_finish(&w, get_check, out, err);
}

int
m2msec_keyreg_get_resp_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                              struct m2msec_keyreg_get_resp *out, struct m2msec_error *err)
{
    json_t *root = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    if (peer_valid(peer, err) == -1 || m2msec_json_parse(buf, len, &root, err) == -1) {
        goto out;
    }
    rv = get_from_json(root, out, err);
out:
    json_decref(root);
    return rv;
}

/*
 * Key Registration Update.
 * @spec TS-0003 8.3.5.2.9 tables 8.3.5.2.9-1 and -2 (at least one of
 * expirationTime, labels, targetIDs; the response carries only what the
 * request did), 8.8.2.9 the same for the MAF
 */

void
m2msec_keyreg_update_clear(struct m2msec_keyreg_update *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->fqdn);
    m2msec_strlist_free(m->lbl);
    m2msec_strlist_free(m->target_ids);
    memset(m, 0, sizeof(*m));
}

static int
update_from_json(const json_t *v, enum m2msec_reg_peer peer, int is_request,
                 struct m2msec_keyreg_update *out, struct m2msec_error *err)
{
    const char *fqdn_name = m2msec_keyreg_fqdn_member(peer);
    struct m2msec_jr jr;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    if (is_request) {
        jr_host(&jr, fqdn_name, 1, &out->fqdn);
    } else if (json_object_get(v, "mefFQDN") != NULL || json_object_get(v, "mafFQDN") != NULL) {
        m2msec_jr_fail(&jr, json_object_get(v, "mefFQDN") != NULL ? "mefFQDN" : "mafFQDN",
                       "not allowed in a response");
    }
    m2msec_jr_time(&jr, "et", 0, &out->et, &out->has_et);
    jr_labels(&jr, &out->lbl, &out->nlbl, &out->has_lbl);
    jr_targets(&jr, 0, &out->target_ids, &out->ntargets, &out->has_targets);
    if (!jr.failed && is_request && !out->has_et && !out->has_lbl && !out->has_targets) {
        m2msec_jr_fail(&jr, "et/lbl/targetIDs", "nothing to update");
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_keyreg_update_clear(out);
        return -1;
    }
    return 0;
}

static int
update_check(const json_t *v, enum m2msec_reg_peer peer, int is_request, struct m2msec_error *err)
{
    struct m2msec_keyreg_update tmp;
    int rv = update_from_json(v, peer, is_request, &tmp, err);

    m2msec_keyreg_update_clear(&tmp);
    return rv;
}

static int
update_req_check_mef(const json_t *v, struct m2msec_error *err)
{
    return update_check(v, M2MSEC_REG_MEF, 1, err);
}

static int
update_req_check_maf(const json_t *v, struct m2msec_error *err)
{
    return update_check(v, M2MSEC_REG_MAF, 1, err);
}

static int
update_resp_check(const json_t *v, struct m2msec_error *err)
{
    return update_check(v, M2MSEC_REG_MEF, 0, err);
}

int
m2msec_keyreg_update_encode(enum m2msec_reg_peer peer, const struct m2msec_keyreg_update *m,
                            int is_request, struct m2msec_buf *out, struct m2msec_error *err)
{
    struct m2msec_jw w;
    m2msec_json_check_fn check = update_resp_check;

    if (peer_valid(peer, err) == -1) {
        return -1;
    }
    if (is_request) {
        check = peer == M2MSEC_REG_MAF ? update_req_check_maf : update_req_check_mef;
    }
    m2msec_jw_init(&w);
    /* A response never names the registrar; the check refuses one that would. */
    m2msec_jw_str(&w, m2msec_keyreg_fqdn_member(peer), m->fqdn);
    if (m->has_et) {
        m2msec_jw_time(&w, "et", m->et);
    }
    if (m->has_lbl) {
        m2msec_jw_strlist(&w, "lbl", m->lbl, m->nlbl);
    }
    if (m->has_targets) {
        m2msec_jw_strlist(&w, "targetIDs", m->target_ids, m->ntargets);
    }
    return m2msec_jw_finish(&w, check, out, err);
}

int
m2msec_keyreg_update_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                            int is_request, struct m2msec_keyreg_update *out,
                            struct m2msec_error *err)
{
    json_t *root = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    if (peer_valid(peer, err) == -1 || m2msec_json_parse(buf, len, &root, err) == -1) {
        goto out;
    }
    rv = update_from_json(root, peer, is_request, out, err);
out:
    json_decref(root);
    return rv;
}
