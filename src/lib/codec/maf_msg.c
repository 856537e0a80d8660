/*
 * codec/maf_msg.c - JSON messages exchanged with the MAF, both directions.
 *
 * Layer: codec. The MAF Client Registration messages are the MEF ones with
 * "mafFQDN" and the response's optional "assignedSymmKeyID"
 * (docs/protocol-maf.md): codec/mef_msg.c encodes and decodes both, and this
 * file only moves the members between the MAF structs and the shared ones.
 * The Key Registration and Key Retrieval messages (8.8.2.7, 8.8.2.8) are
 * the MAF's own and are encoded here.
 */
#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "codec/maf_msg.h"
#include "codec/mef_msg.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/time.h"
#include "util/unicode.h"

/*
 * MAF Client Registration request.
 * @spec TS-0003 8.8.2.3 table 8.8.2.3-1
 */

void
m2msec_mafreg_req_clear(struct m2msec_mafreg_req *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->maf_fqdn);
    m2msec_strlist_free(m->lbl);
    m2msec_free(m->admin_fqdn);
    memset(m, 0, sizeof(*m));
}

int
m2msec_mafreg_req_encode(const struct m2msec_mafreg_req *m, struct m2msec_buf *out,
                         struct m2msec_error *err)
{
    const struct m2msec_mefreg_req r = {
        .mef_fqdn = m->maf_fqdn,
        .et = m->et,
        .lbl = m->lbl,
        .nlbl = m->nlbl,
        .has_lbl = m->has_lbl,
        .admin_fqdn = m->admin_fqdn,
    };

    return m2msec_reg_req_encode(M2MSEC_REG_MAF, &r, out, err);
}

int
m2msec_mafreg_req_decode(const uint8_t *buf, size_t len, struct m2msec_mafreg_req *out,
                         struct m2msec_error *err)
{
    struct m2msec_mefreg_req r;

    memset(out, 0, sizeof(*out));
    if (m2msec_reg_req_decode(M2MSEC_REG_MAF, buf, len, &r, err) == -1) {
        return -1;
    }
    out->maf_fqdn = r.mef_fqdn;
    out->et = r.et;
    out->lbl = r.lbl;
    out->nlbl = r.nlbl;
    out->has_lbl = r.has_lbl;
    out->admin_fqdn = r.admin_fqdn;
    return 0;
}

/*
 * MAF Client Registration response.
 * @spec TS-0003 8.8.2.3 table 8.8.2.3-2 (assignedSymmKeyID only when Km was
 * remotely provisioned)
 */

void
m2msec_mafreg_resp_clear(struct m2msec_mafreg_resp *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->reg_id);
    m2msec_strlist_free(m->lbl);
    m2msec_free(m->client_id);
    m2msec_free(m->admin_fqdn);
    m2msec_free(m->assigned_kmid);
    memset(m, 0, sizeof(*m));
}

int
m2msec_mafreg_resp_encode(const struct m2msec_mafreg_resp *m, struct m2msec_buf *out,
                          struct m2msec_error *err)
{
    const struct m2msec_mefreg_resp r = {
        .reg_id = m->reg_id,
        .lbl = m->lbl,
        .nlbl = m->nlbl,
        .has_lbl = m->has_lbl,
        .et = m->et,
        .client_id = m->client_id,
        .admin_fqdn = m->admin_fqdn,
        .assigned_kmid = m->assigned_kmid,
    };

    return m2msec_reg_resp_encode(M2MSEC_REG_MAF, &r, out, err);
}

int
m2msec_mafreg_resp_decode(const uint8_t *buf, size_t len, struct m2msec_mafreg_resp *out,
                          struct m2msec_error *err)
{
    struct m2msec_mefreg_resp r;

    memset(out, 0, sizeof(*out));
    if (m2msec_reg_resp_decode(M2MSEC_REG_MAF, buf, len, &r, err) == -1) {
        return -1;
    }
    out->reg_id = r.reg_id;
    out->lbl = r.lbl;
    out->nlbl = r.nlbl;
    out->has_lbl = r.has_lbl;
    out->et = r.et;
    out->client_id = r.client_id;
    out->admin_fqdn = r.admin_fqdn;
    out->assigned_kmid = r.assigned_kmid;
    return 0;
}

/*
 * MAF Key Registration and Key Retrieval (docs/protocol-maf.md section 3).
 * Member names are ours (SPEC-DIGEST 4.3). Encoders use the shared writer of
 * codec/json.h, which runs the decoder over the object before serialising it.
 */

#define KEY_RSC_BAD_REQUEST 4000
#define KEY_FQDN_MAX        253
#define KEY_ID_MAX          512
#define KEY_REL_MAX         64
#define KEY_B64_MAX         (4 * ((M2MSEC_MAFKEY_LEN + 2) / 3))

typedef int (*key_from_json_fn)(const json_t *v, void *out, struct m2msec_error *err);

static int
key_decode(const uint8_t *buf, size_t len, key_from_json_fn fn, void *out, struct m2msec_error *err)
{
    json_t *root = NULL;
    int rv = -1;

    if (m2msec_json_parse(buf, len, &root, err) == -1) {
        goto out;
    }
    rv = fn(root, out, err);
out:
    json_decref(root);
    return rv;
}

int
m2msec_mafkey_rel_valid(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0') {
        return 0;
    }
    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];

        if (i >= KEY_REL_MAX || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                                  (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

/*
 * @spec TS-0003 8.8.2.7: one target for SAEF and ESPrim keys, at least one
 * for ESData keys (TS-0004 m2m:suid 32..35).
 */
static void
key_suid_targets(struct m2msec_jr *jr, unsigned suid, size_t ntargets)
{
    if (jr->failed) {
        return;
    }
    if ((suid == 32 || suid == 33) && ntargets != 1) {
        m2msec_jr_fail(jr, "targetIDs", "SUID 32 and 33 take exactly one target");
    } else if (ntargets < 1) {
        m2msec_jr_fail(jr, "targetIDs", "at least one target");
    }
}

/* keyValue text -> secret of exactly M2MSEC_MAFKEY_LEN bytes. */
static int
key_value(const char *b64, struct m2msec_secret **out, struct m2msec_error *err)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    int rv = -1;

    if (m2msec_b64_decode(b64, strlen(b64), &raw, &rawlen, err) == -1) {
        if (m2msec_error_code(err) != M2MSEC_ERR_NOMEM) {
            m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, KEY_RSC_BAD_REQUEST,
                              "member 'keyValue': not canonical base64");
        }
        goto out;
    }
    if (rawlen != M2MSEC_MAFKEY_LEN) {
        m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, KEY_RSC_BAD_REQUEST,
                          "member 'keyValue': %zu bytes, expected %d", rawlen, M2MSEC_MAFKEY_LEN);
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

static void
key_suid(struct m2msec_jr *jr, unsigned *out)
{
    uint64_t v = 0;

    m2msec_jr_u64(jr, "suid", 1, M2MSEC_MAFKEY_SUID_MIN, M2MSEC_MAFKEY_SUID_MAX, &v, NULL);
    *out = (unsigned)v;
}

/* @spec TS-0003 8.8.2.7 table 8.8.2.7-1 */

void
m2msec_mafkey_req_clear(struct m2msec_mafkey_req *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->maf_fqdn);
    m2msec_strlist_free(m->lbl);
    m2msec_free(m->admin_fqdn);
    m2msec_strlist_free(m->target_ids);
    m2msec_secret_free(m->key_value);
    memset(m, 0, sizeof(*m));
}

static int
key_req_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_mafkey_req *out = vout;
    struct m2msec_jr jr;
    char *kv = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "mafFQDN", 1, KEY_FQDN_MAX, &out->maf_fqdn);
    m2msec_jr_time(&jr, "et", 1, &out->et, NULL);
    m2msec_jr_strlist(&jr, "lbl", 0, M2MSEC_LABELS_MAX, KEY_ID_MAX, &out->lbl, &out->nlbl,
                      &out->has_lbl);
    m2msec_jr_str(&jr, "adminFQDN", 1, KEY_FQDN_MAX, &out->admin_fqdn);
    key_suid(&jr, &out->suid);
    m2msec_jr_strlist(&jr, "targetIDs", 1, M2MSEC_MAFKEY_TARGETS_MAX, KEY_ID_MAX, &out->target_ids,
                      &out->ntargets, NULL);
    key_suid_targets(&jr, out->suid, out->ntargets);
    m2msec_jr_str(&jr, "keyValue", 0, KEY_B64_MAX, &kv);
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
        m2msec_mafkey_req_clear(out);
    }
    return rv;
}

static int
key_req_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_mafkey_req tmp;
    int rv = key_req_from_json(v, &tmp, err);

    m2msec_mafkey_req_clear(&tmp);
    return rv;
}

int
m2msec_mafkey_req_encode(const struct m2msec_mafkey_req *m, struct m2msec_buf *out,
                         struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    m2msec_jw_str(&w, "mafFQDN", m->maf_fqdn);
    m2msec_jw_time(&w, "et", m->et);
    if (m->has_lbl) {
        m2msec_jw_strlist(&w, "lbl", m->lbl, m->nlbl);
    }
    m2msec_jw_str(&w, "adminFQDN", m->admin_fqdn);
    m2msec_jw_set(&w, "suid", json_integer((json_int_t)m->suid));
    if (m->target_ids != NULL) {
        m2msec_jw_strlist(&w, "targetIDs", m->target_ids, m->ntargets);
    }
    m2msec_jw_key(&w, "keyValue", m->key_value);
    return m2msec_jw_finish(&w, key_req_check, out, err);
}

int
m2msec_mafkey_req_decode(const uint8_t *buf, size_t len, struct m2msec_mafkey_req *out,
                         struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return key_decode(buf, len, key_req_from_json, out, err);
}

/* @spec TS-0003 8.8.2.7 table 8.8.2.7-2 */

void
m2msec_mafkey_resp_clear(struct m2msec_mafkey_resp *m)
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
key_resp_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_mafkey_resp *out = vout;
    struct m2msec_jr jr;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "relativeKeyID", 1, KEY_REL_MAX, &out->rel_key_id);
    if (!jr.failed && !m2msec_mafkey_rel_valid(out->rel_key_id)) {
        m2msec_jr_fail(&jr, "relativeKeyID", "letters, digits, '.', '_' and '-' only");
    }
    m2msec_jr_time(&jr, "et", 1, &out->et, NULL);
    m2msec_jr_str(&jr, "sourceID", 1, KEY_ID_MAX, &out->source_id);
    m2msec_jr_strlist(&jr, "lbl", 0, M2MSEC_LABELS_MAX, KEY_ID_MAX, &out->lbl, &out->nlbl,
                      &out->has_lbl);
    m2msec_jr_str(&jr, "adminFQDN", 1, KEY_FQDN_MAX, &out->admin_fqdn);
    key_suid(&jr, &out->suid);
    m2msec_jr_strlist(&jr, "targetIDs", 1, M2MSEC_MAFKEY_TARGETS_MAX, KEY_ID_MAX, &out->target_ids,
                      &out->ntargets, NULL);
    key_suid_targets(&jr, out->suid, out->ntargets);
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_mafkey_resp_clear(out);
        return -1;
    }
    return 0;
}

static int
key_resp_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_mafkey_resp tmp;
    int rv = key_resp_from_json(v, &tmp, err);

    m2msec_mafkey_resp_clear(&tmp);
    return rv;
}

int
m2msec_mafkey_resp_encode(const struct m2msec_mafkey_resp *m, struct m2msec_buf *out,
                          struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    m2msec_jw_str(&w, "relativeKeyID", m->rel_key_id);
    m2msec_jw_time(&w, "et", m->et);
    m2msec_jw_str(&w, "sourceID", m->source_id);
    if (m->has_lbl) {
        m2msec_jw_strlist(&w, "lbl", m->lbl, m->nlbl);
    }
    m2msec_jw_str(&w, "adminFQDN", m->admin_fqdn);
    m2msec_jw_set(&w, "suid", json_integer((json_int_t)m->suid));
    if (m->target_ids != NULL) {
        m2msec_jw_strlist(&w, "targetIDs", m->target_ids, m->ntargets);
    }
    return m2msec_jw_finish(&w, key_resp_check, out, err);
}

int
m2msec_mafkey_resp_decode(const uint8_t *buf, size_t len, struct m2msec_mafkey_resp *out,
                          struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return key_decode(buf, len, key_resp_from_json, out, err);
}

/* @spec TS-0003 8.8.2.8 table 8.8.2.8-2 */

void
m2msec_mafkey_get_resp_clear(struct m2msec_mafkey_get_resp *m)
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
key_get_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_mafkey_get_resp *out = vout;
    struct m2msec_jr jr;
    char *kv = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_time(&jr, "et", 1, &out->et, NULL);
    m2msec_jr_str(&jr, "sourceID", 1, KEY_ID_MAX, &out->source_id);
    m2msec_jr_strlist(&jr, "lbl", 0, M2MSEC_LABELS_MAX, KEY_ID_MAX, &out->lbl, &out->nlbl,
                      &out->has_lbl);
    m2msec_jr_str(&jr, "adminFQDN", 1, KEY_FQDN_MAX, &out->admin_fqdn);
    key_suid(&jr, &out->suid);
    m2msec_jr_str(&jr, "keyValue", 1, KEY_B64_MAX, &kv);
    if (m2msec_jr_finish(&jr, err) == -1 || key_value(kv, &out->key_value, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_free_wipe_str(kv);
    if (rv == -1) {
        m2msec_mafkey_get_resp_clear(out);
    }
    return rv;
}

static int
key_get_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_mafkey_get_resp tmp;
    int rv = key_get_from_json(v, &tmp, err);

    m2msec_mafkey_get_resp_clear(&tmp);
    return rv;
}

int
m2msec_mafkey_get_resp_encode(const struct m2msec_mafkey_get_resp *m, struct m2msec_buf *out,
                              struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    m2msec_jw_time(&w, "et", m->et);
    m2msec_jw_str(&w, "sourceID", m->source_id);
    if (m->has_lbl) {
        m2msec_jw_strlist(&w, "lbl", m->lbl, m->nlbl);
    }
    m2msec_jw_str(&w, "adminFQDN", m->admin_fqdn);
    m2msec_jw_set(&w, "suid", json_integer((json_int_t)m->suid));
    m2msec_jw_key(&w, "keyValue", m->key_value);
    return m2msec_jw_finish(&w, key_get_check, out, err);
}

int
m2msec_mafkey_get_resp_decode(const uint8_t *buf, size_t len, struct m2msec_mafkey_get_resp *out,
                              struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return key_decode(buf, len, key_get_from_json, out, err);
}

/*
 * MAF Client Registration Update and Configuration Retrieval. The MEF
 * counterparts in codec/mef_msg.c name the MEF ("mefFQDN") and carry MEF
 * configuration, so these two are the MAF's own; the value rules (host names,
 * labels, timestamps) are the same.
 */

#define REG_FQDN_MAX 253
#define REG_ID_MAX   512                      /* labels */
#define REG_KMID_MAX (128 + 1 + REG_FQDN_MAX) /* relative KmID "@" MAF-FQDN */

/* A host-like member: printable ASCII without spaces (FQDN rules are the MAF's). */
static void
reg_host(struct m2msec_jr *jr, const char *name, int required, size_t maxlen, char **out)
{
    size_t i;

    m2msec_jr_str(jr, name, required, maxlen, out);
    for (i = 0; !jr->failed && *out != NULL && (*out)[i] != '\0'; i++) {
        unsigned char c = (unsigned char)(*out)[i];

        if (c < 0x21 || c > 0x7e) {
            m2msec_jr_fail(jr, name, "not a host name");
        }
    }
}

static void
reg_forbid(struct m2msec_jr *jr, const char *name, const char *context)
{
    char why[64];

    if (!jr->failed && json_object_get(jr->obj, name) != NULL) {
        (void)snprintf(why, sizeof(why), "not allowed in %s", context);
        m2msec_jr_fail(jr, name, why);
    }
}

/* @spec TS-0003 8.8.2.5 tables 8.8.2.5-1 and -2 */

void
m2msec_mafreg_update_clear(struct m2msec_mafreg_update *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->maf_fqdn);
    m2msec_strlist_free(m->lbl);
    m2msec_free(m->assigned_kmid);
    memset(m, 0, sizeof(*m));
}

static int
update_from_json(const json_t *v, int is_request, struct m2msec_mafreg_update *out,
                 struct m2msec_error *err)
{
    struct m2msec_jr jr;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    if (is_request) {
        reg_host(&jr, "mafFQDN", 1, REG_FQDN_MAX, &out->maf_fqdn);
        reg_forbid(&jr, "assignedSymmKeyID", "a request");
    } else {
        reg_forbid(&jr, "mafFQDN", "a response");
        reg_host(&jr, "assignedSymmKeyID", 0, REG_KMID_MAX, &out->assigned_kmid);
        if (!jr.failed && out->assigned_kmid != NULL && strchr(out->assigned_kmid, '@') == NULL) {
            m2msec_jr_fail(&jr, "assignedSymmKeyID", "not of the form <relative KmID>@<MAF-FQDN>");
        }
    }
    m2msec_jr_time(&jr, "et", 0, &out->et, &out->has_et);
    m2msec_jr_strlist(&jr, "lbl", 0, M2MSEC_LABELS_MAX, REG_ID_MAX, &out->lbl, &out->nlbl,
                      &out->has_lbl);
    /* Table 8.8.2.5-1 NOTE: at least one of expirationTime and labels. */
    if (!jr.failed && is_request && !out->has_et && !out->has_lbl) {
        m2msec_jr_fail(&jr, "et/lbl", "nothing to update");
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_mafreg_update_clear(out);
        return -1;
    }
    return 0;
}

static int
update_req_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    return update_from_json(v, 1, vout, err);
}

static int
update_resp_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    return update_from_json(v, 0, vout, err);
}

static int
update_req_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_mafreg_update tmp;
    int rv = update_from_json(v, 1, &tmp, err);

    m2msec_mafreg_update_clear(&tmp);
    return rv;
}

static int
update_resp_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_mafreg_update tmp;
    int rv = update_from_json(v, 0, &tmp, err);

    m2msec_mafreg_update_clear(&tmp);
    return rv;
}

int
m2msec_mafreg_update_encode(const struct m2msec_mafreg_update *m, int is_request,
                            struct m2msec_buf *out, struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    /* Written as given: the check refuses a member the variant does not allow. */
    m2msec_jw_str(&w, "mafFQDN", m->maf_fqdn);
    if (m->has_et) {
        m2msec_jw_time(&w, "et", m->et);
    }
    if (m->has_lbl) {
        m2msec_jw_strlist(&w, "lbl", m->lbl, m->nlbl);
    }
    m2msec_jw_str(&w, "assignedSymmKeyID", m->assigned_kmid);
    return m2msec_jw_finish(&w, is_request ? update_req_check : update_resp_check, out, err);
}

int
m2msec_mafreg_update_decode(const uint8_t *buf, size_t len, int is_request,
                            struct m2msec_mafreg_update *out, struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return key_decode(buf, len, is_request ? update_req_from_json : update_resp_from_json, out,
                      err);
}

/* @spec TS-0003 8.8.2.4 table 8.8.2.4-2, sec:clientRegCfg (12.4.2) */

void
m2msec_mafreg_cfg_clear(struct m2msec_mafreg_cfg *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->fqdn);
    m2msec_free(m->admin_fqdn);
    m2msec_strlist_free(m->lbl);
    memset(m, 0, sizeof(*m));
}

static int
cfg_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_mafreg_cfg *out = vout;
    const json_t *cfg = NULL;
    struct m2msec_jr jr;
    uint64_t port = 0;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_object(&jr, "mafClientCfg", 1, &cfg);
    if (m2msec_jr_finish(&jr, err) == -1) {
        goto fail;
    }
    m2msec_jr_init(&jr, cfg);
    reg_host(&jr, "fqdn", 1, REG_FQDN_MAX, &out->fqdn);
    reg_host(&jr, "adminFQDN", 1, REG_FQDN_MAX, &out->admin_fqdn);
    m2msec_jr_u64(&jr, "httpPort", 0, 1, 65535, &port, NULL);
    m2msec_jr_time(&jr, "et", 0, &out->et, &out->has_et);
    m2msec_jr_strlist(&jr, "lbl", 0, M2MSEC_LABELS_MAX, REG_ID_MAX, &out->lbl, &out->nlbl,
                      &out->has_lbl);
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_error_wrap(err, "member 'mafClientCfg'");
        goto fail;
    }
    out->http_port = (unsigned)port;
    return 0;
fail:
    m2msec_mafreg_cfg_clear(out);
    return -1;
}

static int
cfg_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_mafreg_cfg tmp;
    int rv = cfg_from_json(v, &tmp, err);

    m2msec_mafreg_cfg_clear(&tmp);
    return rv;
}

int
m2msec_mafreg_cfg_encode(const struct m2msec_mafreg_cfg *m, struct m2msec_buf *out,
                         struct m2msec_error *err)
{
    struct m2msec_jw w;
    struct m2msec_jw cw;

    m2msec_jw_init(&cw);
    m2msec_jw_str(&cw, "fqdn", m->fqdn);
    m2msec_jw_str(&cw, "adminFQDN", m->admin_fqdn);
    if (m->http_port != 0) {
        m2msec_jw_u64(&cw, "httpPort", m->http_port);
    }
    if (m->has_et) {
        m2msec_jw_time(&cw, "et", m->et);
    }
    if (m->has_lbl) {
        m2msec_jw_strlist(&cw, "lbl", m->lbl, m->nlbl);
    }
    m2msec_jw_init(&w);
    m2msec_jw_child(&w, "mafClientCfg", &cw);
    return m2msec_jw_finish(&w, cfg_check, out, err);
}

int
m2msec_mafreg_cfg_decode(const uint8_t *buf, size_t len, struct m2msec_mafreg_cfg *out,
                         struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return key_decode(buf, len, cfg_from_json, out, err);
}
