/*
 * codec/mef_msg.c - JSON messages exchanged with the MEF, both directions.
 *
 * Layer: codec. Depends on codec/json.h and util only (not on proto: KeIDs are
 * bounded here and parsed by proto). Encoder and decoder of each message sit
 * next to each other. Every encoder runs the decoder's checks on the object
 * it built before serialising it, so we never send what we would reject.
 * Member names are ours (TS-0003 standardises none, SPEC-DIGEST 3.2.1); they
 * are documented in docs/PROTOCOL.md "JSON messages".
 */
#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "codec/mef_msg.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/time.h"
#include "util/unicode.h"

#define MSG_STEP_MAX        64
#define MSG_EXCHANGE_ID_MAX 64
#define MSG_REG_ID_MAX      64
#define MSG_FQDN_MAX        253
#define MSG_ID_MAX          512 /* Enrolee-ID, client ID, labels, Enrolment Target ids */
#define MSG_KEID_MAX        (32 + 1 + MSG_FQDN_MAX) /* hex(RelativeKeID) "@" MEF-FQDN */
#define MSG_ENUM_MAX        32                      /* "certificateEnrolment" and friends */
#define MSG_DBG_MAX         1024
#define MSG_POLICY_MAF_MAX  8
#define MSG_EXPIRY_MAX      UINT32_MAX /* seconds; keeps now + expiry far from overflow */
/* base64 of M2MSEC_FETCH_CRED_MAX bytes */
#define MSG_CRED_B64_MAX    (4 * ((M2MSEC_FETCH_CRED_MAX + 2) / 3))
#define MSG_RSC_BAD_REQUEST 4000

/*
 * Shared value checks.
 */

/* Absolute URI with one of the schemes an instruction may name, printable ASCII, no spaces. */
static int
msg_uri_ok(const char *u)
{
    static const char *const schemes[] = { "https://", "http://", "coaps://", "coap://" };
    size_t i;
    size_t plen = 0;

    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i]);

        if (m2msec_ascii_caseeqn(u, schemes[i], n)) {
            plen = n;
            break;
        }
    }
    if (plen == 0 || u[plen] == '\0') {
        return 0;
    }
    for (i = 0; u[i] != '\0'; i++) {
        unsigned char c = (unsigned char)u[i];

        if (c < 0x21 || c > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* Host names travel into Host headers and logs: printable ASCII without spaces. */
static int
msg_host_ok(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x21 || c > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* PEM: ASCII text with at least one armour line. */
static int
msg_pem_ok(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c != '\n' && c != '\r' && c != '\t' && (c < 0x20 || c > 0x7e)) {
            return 0;
        }
    }
    return strstr(s, "-----BEGIN ") != NULL;
}

static void
jr_uri(struct m2msec_jr *jr, const char *name, int required, char **out)
{
    m2msec_jr_str(jr, name, required, M2MSEC_URI_MAX, out);
    if (!jr->failed && *out != NULL && !msg_uri_ok(*out)) {
        m2msec_jr_fail(jr, name, "not an http, https, coap or coaps URI");
    }
}

static void
jr_host(struct m2msec_jr *jr, const char *name, int required, char **out)
{
    m2msec_jr_str(jr, name, required, MSG_FQDN_MAX, out);
    if (!jr->failed && *out != NULL && !msg_host_ok(*out)) {
        m2msec_jr_fail(jr, name, "not a host name");
    }
}

static void
jr_labels(struct m2msec_jr *jr, char ***lbl, size_t *n, int *has)
{
    m2msec_jr_strlist(jr, "lbl", 0, M2MSEC_LABELS_MAX, MSG_ID_MAX, lbl, n, has);
}

/* Reject members that exist in the protocol but not in this variant of a message. */
static void
jr_forbid(struct m2msec_jr *jr, const char *const *names, const char *context)
{
    char why[96];
    size_t i;

    for (i = 0; names[i] != NULL && !jr->failed; i++) {
        if (json_object_get(jr->obj, names[i]) != NULL) {
            (void)snprintf(why, sizeof(why), "not allowed in %s", context);
            m2msec_jr_fail(jr, names[i], why);
        }
    }
}

/* Parse and hand the object to a from_json decoder. */
typedef int (*msg_from_json_fn)(const json_t *v, void *out, struct m2msec_error *err);

static int
msg_decode(const uint8_t *buf, size_t len, msg_from_json_fn fn, void *out, struct m2msec_error *err)
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

/*
 * Enrolment Exchange request.
 * @spec TS-0003 8.3.2.1 table 8.3.2.1-1 (the three indications)
 */

static int
enrol_req_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_enrol_req *out = vout;
    struct m2msec_jr jr;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_bool(&jr, "certEnrolmentInd", 1, &out->cert_enrolment, NULL);
    m2msec_jr_bool(&jr, "mafEnrolmentInd", 1, &out->maf_enrolment, NULL);
    m2msec_jr_bool(&jr, "remoteMgmtInd", 1, &out->remote_mgmt, NULL);
    /* @spec seed 000 step 5 [PROJECT]: optional, so Enrolees that predate it still parse. */
    m2msec_jr_bool(&jr, "ibcEnrolmentInd", 0, &out->ibc_enrolment, NULL);
    if (m2msec_jr_finish(&jr, err) == -1) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}

static int
enrol_req_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_enrol_req tmp;

    return enrol_req_from_json(v, &tmp, err);
}

int
m2msec_enrol_req_encode(const struct m2msec_enrol_req *m, struct m2msec_buf *out,
                        struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    m2msec_jw_bool(&w, "certEnrolmentInd", m->cert_enrolment);
    m2msec_jw_bool(&w, "mafEnrolmentInd", m->maf_enrolment);
    m2msec_jw_bool(&w, "remoteMgmtInd", m->remote_mgmt);
    if (m->ibc_enrolment) {
        m2msec_jw_bool(&w, "ibcEnrolmentInd", 1);
    }
    return m2msec_jw_finish(&w, enrol_req_check, out, err);
}

int
m2msec_enrol_req_decode(const uint8_t *buf, size_t len, struct m2msec_enrol_req *out,
                        struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return msg_decode(buf, len, enrol_req_from_json, out, err);
}

/*
 * Instructions.
 * @spec TS-0003 8.3.2.1 tables 8.3.2.1-2 (certificate enrolment), 8.3.2.1-3 (MAF
 * enrolment) and 8.3.2.1-4 (remote management)
 */

static const struct {
    enum m2msec_instr_type type;
    const char *name;
} instr_names[] = {
    { M2MSEC_INSTR_CERT_ENROLMENT, "certificateEnrolment" },
    { M2MSEC_INSTR_MAF_ENROLMENT, "mafEnrolment" },
    { M2MSEC_INSTR_REMOTE_MGMT, "remoteManagement" },
    { M2MSEC_INSTR_IBC_ENROLMENT, "ibcEnrolment" },
};

/* Members only a MAF Enrolment instruction carries, and the one it must not. */
static const char *const instr_maf_members[] = { "credentialType",
                                                 "keyRegistrationURI",
                                                 "keyRetrievalURI",
                                                 "clientRegistrationURI",
                                                 "trustAnchors",
                                                 "lifetime",
                                                 NULL };
static const char *const instr_uri_members[] = { "uri", NULL };
/* An IBC enrolment instruction carries at most its lifetime cap. */
static const char *const instr_ibc_members[] = { "uri",
                                                 "credentialType",
                                                 "keyRegistrationURI",
                                                 "keyRetrievalURI",
                                                 "clientRegistrationURI",
                                                 "trustAnchors",
                                                 NULL };

const char *
m2msec_instr_type_name(enum m2msec_instr_type t)
{
    size_t i;

    for (i = 0; i < sizeof(instr_names) / sizeof(instr_names[0]); i++) {
        if (instr_names[i].type == t) {
            return instr_names[i].name;
        }
    }
    return NULL;
}

static enum m2msec_instr_type
instr_type_from_name(const char *s)
{
    size_t i;

    for (i = 0; i < sizeof(instr_names) / sizeof(instr_names[0]); i++) {
        if (strcmp(instr_names[i].name, s) == 0) { /* public */
            return instr_names[i].type;
        }
    }
    return M2MSEC_INSTR_NONE;
}

void
m2msec_instruction_clear(struct m2msec_instruction *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->uri);
    m2msec_free(m->credential_type);
    m2msec_free(m->key_reg_uri);
    m2msec_free(m->key_ret_uri);
    m2msec_free(m->client_reg_uri);
    m2msec_free(m->trust_anchors);
    memset(m, 0, sizeof(*m));
}

static int
instruction_from_json(const json_t *v, struct m2msec_instruction *out, struct m2msec_error *err)
{
    struct m2msec_jr jr;
    char context[64] = "";
    char *type = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "type", 1, MSG_ENUM_MAX, &type);
    if (!jr.failed) {
        out->type = instr_type_from_name(type);
        if (out->type == M2MSEC_INSTR_NONE) {
            m2msec_jr_fail(&jr, "type", "unknown instruction type");
        }
    }
    if (!jr.failed) {
        (void)snprintf(context, sizeof(context), "a %s instruction", type);
    }
    switch (out->type) {
    case M2MSEC_INSTR_CERT_ENROLMENT:
    case M2MSEC_INSTR_REMOTE_MGMT:
        jr_forbid(&jr, instr_maf_members, context);
        jr_uri(&jr, "uri", 1, &out->uri);
        break;
    case M2MSEC_INSTR_MAF_ENROLMENT:
        /* The MAF is reached through its key URIs; a bare base URI would be ambiguous. */
        jr_forbid(&jr, instr_uri_members, context);
        m2msec_jr_str(&jr, "credentialType", 1, MSG_ENUM_MAX, &out->credential_type);
        if (!jr.failed && strcmp(out->credential_type, "symmetricKey") != 0 && /* public */
            strcmp(out->credential_type, "certificate") != 0) {                /* public */
            m2msec_jr_fail(&jr, "credentialType", "must be symmetricKey or certificate");
        }
        jr_uri(&jr, "keyRegistrationURI", 1, &out->key_reg_uri);
        jr_uri(&jr, "keyRetrievalURI", 1, &out->key_ret_uri);
        jr_uri(&jr, "clientRegistrationURI", 0, &out->client_reg_uri);
        m2msec_jr_str(&jr, "trustAnchors", 0, M2MSEC_PEM_MAX, &out->trust_anchors);
        if (!jr.failed && out->trust_anchors != NULL && !msg_pem_ok(out->trust_anchors)) {
            m2msec_jr_fail(&jr, "trustAnchors", "not PEM text");
        }
        m2msec_jr_time(&jr, "lifetime", 0, &out->lifetime, NULL);
        break;
    case M2MSEC_INSTR_IBC_ENROLMENT:
        /* @spec seed 000 step 7 [PROJECT]: the request goes to the exchange's own URI. */
        jr_forbid(&jr, instr_ibc_members, context);
        m2msec_jr_time(&jr, "lifetime", 0, &out->lifetime, NULL);
        break;
    case M2MSEC_INSTR_NONE:
        break;
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_instruction_clear(out);
        goto out;
    }
    rv = 0;
out:
    m2msec_free(type);
    return rv;
}

static void
instruction_to_json(const struct m2msec_instruction *m, struct m2msec_jw *w)
{
    const char *type = m2msec_instr_type_name(m->type);

    m2msec_jw_init(w);
    if (type == NULL) {
        m2msec_jw_fail(w, "type", "no instruction type");
        return;
    }
    m2msec_jw_str(w, "type", type);
    m2msec_jw_str(w, "uri", m->uri);
    m2msec_jw_str(w, "credentialType", m->credential_type);
    m2msec_jw_str(w, "keyRegistrationURI", m->key_reg_uri);
    m2msec_jw_str(w, "keyRetrievalURI", m->key_ret_uri);
    m2msec_jw_str(w, "clientRegistrationURI", m->client_reg_uri);
    m2msec_jw_str(w, "trustAnchors", m->trust_anchors);
    if (m->lifetime != 0) {
        m2msec_jw_time(w, "lifetime", m->lifetime);
    }
}

/*
 * Enrolment Exchange response: first response carries the KeID, then one
 * instruction per step, then the end.
 * @spec TS-0003 8.3.2.1 (instructions one at a time; MEF signals the end)
 */

void
m2msec_enrol_resp_clear(struct m2msec_enrol_resp *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->exchange_id);
    m2msec_free(m->keid);
    m2msec_free(m->enrolee_id);
    m2msec_instruction_clear(&m->instr);
    memset(m, 0, sizeof(*m));
}

static int
enrol_resp_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_enrol_resp *out = vout;
    const json_t *instr = NULL;
    struct m2msec_jr jr;
    uint64_t step = 0;
    int has_expiry = 0;
    int has_end = 0;
    int end = 0;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "exchangeID", 1, MSG_EXCHANGE_ID_MAX, &out->exchange_id);
    m2msec_jr_u64(&jr, "step", 1, 1, MSG_STEP_MAX, &step, NULL);
    m2msec_jr_str(&jr, "keID", 0, MSG_KEID_MAX, &out->keid);
    m2msec_jr_time(&jr, "keExpiry", 0, &out->ke_expires, &has_expiry);
    m2msec_jr_str(&jr, "enroleeID", 0, MSG_ID_MAX, &out->enrolee_id);
    m2msec_jr_bool(&jr, "end", 0, &end, &has_end);
    m2msec_jr_object(&jr, "instruction", 0, &instr);
    if (jr.failed) {
        /* reported by finish */
    } else if (out->keid != NULL && !has_expiry) {
        m2msec_jr_fail(&jr, "keExpiry", "missing (required with keID)");
    } else if (out->keid == NULL && has_expiry) {
        m2msec_jr_fail(&jr, "keID", "missing (required with keExpiry)");
    } else if (has_end && !end) {
        m2msec_jr_fail(&jr, "end", "must be true when present");
    } else if (has_end && instr != NULL) {
        m2msec_jr_fail(&jr, "instruction", "not allowed with end");
    } else if (!has_end && instr == NULL) {
        m2msec_jr_fail(&jr, "instruction", "missing (required unless end)");
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        goto fail;
    }
    out->step = (unsigned)step;
    out->end = has_end;
    if (instr != NULL && instruction_from_json(instr, &out->instr, err) == -1) {
        m2msec_error_wrap(err, "member 'instruction'");
        goto fail;
    }
    return 0;
fail:
    m2msec_enrol_resp_clear(out);
    return -1;
}

static int
enrol_resp_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_enrol_resp tmp;
    int rv = enrol_resp_from_json(v, &tmp, err);

    m2msec_enrol_resp_clear(&tmp);
    return rv;
}

int
m2msec_enrol_resp_encode(const struct m2msec_enrol_resp *m, struct m2msec_buf *out,
                         struct m2msec_error *err)
{
    struct m2msec_jw w;
    struct m2msec_jw iw;

    m2msec_jw_init(&w);
    m2msec_jw_str(&w, "exchangeID", m->exchange_id);
    m2msec_jw_u64(&w, "step", m->step);
    m2msec_jw_str(&w, "keID", m->keid);
    if (m->keid != NULL || m->ke_expires != 0) {
        m2msec_jw_time(&w, "keExpiry", m->ke_expires);
    }
    m2msec_jw_str(&w, "enroleeID", m->enrolee_id);
    if (m->end) {
        m2msec_jw_bool(&w, "end", 1);
    } else {
        instruction_to_json(&m->instr, &iw);
        m2msec_jw_child(&w, "instruction", &iw);
    }
    return m2msec_jw_finish(&w, enrol_resp_check, out, err);
}

int
m2msec_enrol_resp_decode(const uint8_t *buf, size_t len, struct m2msec_enrol_resp *out,
                         struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return msg_decode(buf, len, enrol_resp_from_json, out, err);
}

/*
 * Enrolee report on one instruction.
 * @spec TS-0003 8.3.2.1 (Enrolee reports success of each step to the MEF)
 */

void
m2msec_enrol_report_clear(struct m2msec_enrol_report *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->reason);
    memset(m, 0, sizeof(*m));
}

static int
enrol_report_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_enrol_report *out = vout;
    struct m2msec_jr jr;
    char *result = NULL;
    uint64_t step = 0;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_u64(&jr, "step", 1, 1, MSG_STEP_MAX, &step, NULL);
    m2msec_jr_str(&jr, "result", 1, MSG_ENUM_MAX, &result);
    if (!jr.failed) {
        if (strcmp(result, "success") == 0) { /* public */
            out->success = 1;
        } else if (strcmp(result, "failure") != 0) { /* public */
            m2msec_jr_fail(&jr, "result", "must be success or failure");
        }
    }
    m2msec_jr_str(&jr, "reason", 0, M2MSEC_REASON_MAX, &out->reason);
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_enrol_report_clear(out);
        goto out;
    }
    out->step = (unsigned)step;
    rv = 0;
out:
    m2msec_free(result);
    return rv;
}

static int
enrol_report_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_enrol_report tmp;
    int rv = enrol_report_from_json(v, &tmp, err);

    m2msec_enrol_report_clear(&tmp);
    return rv;
}

int
m2msec_enrol_report_encode(const struct m2msec_enrol_report *m, struct m2msec_buf *out,
                           struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    m2msec_jw_u64(&w, "step", m->step);
    m2msec_jw_str(&w, "result", m->success ? "success" : "failure");
    m2msec_jw_str(&w, "reason", m->reason);
    return m2msec_jw_finish(&w, enrol_report_check, out, err);
}

int
m2msec_enrol_report_decode(const uint8_t *buf, size_t len, struct m2msec_enrol_report *out,
                           struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return msg_decode(buf, len, enrol_report_from_json, out, err);
}

/*
 * Client Registration, with the MEF or with the MAF.
 * @spec TS-0003 8.3.5.2.3 tables 8.3.5.2.3-1 (request) and 8.3.5.2.3-2 (response)
 * @spec TS-0003 8.8.2.3 tables 8.8.2.3-1 and 8.8.2.3-2: the MAF's messages are
 * the MEF's but for the name of the FQDN member and the response's optional
 * assignedSymmKeyID (only when Km was remotely provisioned). One implementation
 * serves both; the peer picks the member name and whether that one may appear.
 */

#define MSG_KMID_MAX (128 + 1 + MSG_FQDN_MAX) /* relative KmID "@" MAF-FQDN */

static const char *
reg_fqdn_name(enum m2msec_reg_peer peer)
{
    return peer == M2MSEC_REG_MAF ? "mafFQDN" : "mefFQDN";
}

void
m2msec_mefreg_req_clear(struct m2msec_mefreg_req *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->mef_fqdn);
    m2msec_strlist_free(m->lbl);
    m2msec_free(m->admin_fqdn);
    memset(m, 0, sizeof(*m));
}

static int
reg_req_from_json(const json_t *v, enum m2msec_reg_peer peer, struct m2msec_mefreg_req *out,
                  struct m2msec_error *err)
{
    struct m2msec_jr jr;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    jr_host(&jr, reg_fqdn_name(peer), 1, &out->mef_fqdn);
    m2msec_jr_time(&jr, "et", 1, &out->et, NULL);
    jr_labels(&jr, &out->lbl, &out->nlbl, &out->has_lbl);
    jr_host(&jr, "adminFQDN", 1, &out->admin_fqdn);
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_mefreg_req_clear(out);
        return -1;
    }
    return 0;
}

static int
reg_req_check(const json_t *v, enum m2msec_reg_peer peer, struct m2msec_error *err)
{
    struct m2msec_mefreg_req tmp;
    int rv = reg_req_from_json(v, peer, &tmp, err);

    m2msec_mefreg_req_clear(&tmp);
    return rv;
}

/* The callbacks of msg_decode and m2msec_jw_finish take no peer: one pair for each. */
static int
mefreg_req_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    return reg_req_from_json(v, M2MSEC_REG_MEF, vout, err);
}

static int
mafreg_req_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    return reg_req_from_json(v, M2MSEC_REG_MAF, vout, err);
}

static int
mefreg_req_check(const json_t *v, struct m2msec_error *err)
{
    return reg_req_check(v, M2MSEC_REG_MEF, err);
}

static int
mafreg_req_check(const json_t *v, struct m2msec_error *err)
{
    return reg_req_check(v, M2MSEC_REG_MAF, err);
}

int
m2msec_reg_req_encode(enum m2msec_reg_peer peer, const struct m2msec_mefreg_req *m,
                      struct m2msec_buf *out, struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    m2msec_jw_str(&w, reg_fqdn_name(peer), m->mef_fqdn);
    m2msec_jw_time(&w, "et", m->et);
    if (m->has_lbl) {
        m2msec_jw_strlist(&w, "lbl", m->lbl, m->nlbl);
    }
    m2msec_jw_str(&w, "adminFQDN", m->admin_fqdn);
    return m2msec_jw_finish(&w, peer == M2MSEC_REG_MAF ? mafreg_req_check : mefreg_req_check, out,
                            err);
}

int
m2msec_reg_req_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                      struct m2msec_mefreg_req *out, struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return msg_decode(buf, len,
                      peer == M2MSEC_REG_MAF ? mafreg_req_from_json : mefreg_req_from_json, out,
                      err);
}

int
m2msec_mefreg_req_encode(const struct m2msec_mefreg_req *m, struct m2msec_buf *out,
                         struct m2msec_error *err)
{
    return m2msec_reg_req_encode(M2MSEC_REG_MEF, m, out, err);
}

int
m2msec_mefreg_req_decode(const uint8_t *buf, size_t len, struct m2msec_mefreg_req *out,
                         struct m2msec_error *err)
{
    return m2msec_reg_req_decode(M2MSEC_REG_MEF, buf, len, out, err);
}

void
m2msec_mefreg_resp_clear(struct m2msec_mefreg_resp *m)
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

/* The response's assignedSymmKeyID (MAF only): "<relative KmID>@<MAF-FQDN>". */
static void
jr_assigned_kmid(struct m2msec_jr *jr, char **out)
{
    m2msec_jr_str(jr, "assignedSymmKeyID", 0, MSG_KMID_MAX, out);
    if (!jr->failed && *out != NULL && !msg_host_ok(*out)) {
        m2msec_jr_fail(jr, "assignedSymmKeyID", "not a host name");
    }
    if (!jr->failed && *out != NULL && strchr(*out, '@') == NULL) {
        m2msec_jr_fail(jr, "assignedSymmKeyID", "not of the form <relative KmID>@<MAF-FQDN>");
    }
}

static int
reg_resp_from_json(const json_t *v, enum m2msec_reg_peer peer, struct m2msec_mefreg_resp *out,
                   struct m2msec_error *err)
{
    struct m2msec_jr jr;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "regID", 1, MSG_REG_ID_MAX, &out->reg_id);
    jr_labels(&jr, &out->lbl, &out->nlbl, &out->has_lbl);
    m2msec_jr_time(&jr, "et", 1, &out->et, NULL);
    m2msec_jr_str(&jr, "clientID", 1, MSG_ID_MAX, &out->client_id);
    jr_host(&jr, "adminFQDN", 1, &out->admin_fqdn);
    if (peer == M2MSEC_REG_MAF) {
        /* Not read for the MEF: m2msec_jr_finish then refuses it as unknown. */
        jr_assigned_kmid(&jr, &out->assigned_kmid);
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_mefreg_resp_clear(out);
        return -1;
    }
    return 0;
}

static int
reg_resp_check(const json_t *v, enum m2msec_reg_peer peer, struct m2msec_error *err)
{
    struct m2msec_mefreg_resp tmp;
    int rv = reg_resp_from_json(v, peer, &tmp, err);

    m2msec_mefreg_resp_clear(&tmp);
    return rv;
}

static int
mefreg_resp_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    return reg_resp_from_json(v, M2MSEC_REG_MEF, vout, err);
}

static int
mafreg_resp_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    return reg_resp_from_json(v, M2MSEC_REG_MAF, vout, err);
}

static int
mefreg_resp_check(const json_t *v, struct m2msec_error *err)
{
    return reg_resp_check(v, M2MSEC_REG_MEF, err);
}

static int
mafreg_resp_check(const json_t *v, struct m2msec_error *err)
{
    return reg_resp_check(v, M2MSEC_REG_MAF, err);
}

int
m2msec_reg_resp_encode(enum m2msec_reg_peer peer, const struct m2msec_mefreg_resp *m,
                       struct m2msec_buf *out, struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    m2msec_jw_str(&w, "regID", m->reg_id);
    if (m->has_lbl) {
        m2msec_jw_strlist(&w, "lbl", m->lbl, m->nlbl);
    }
    m2msec_jw_time(&w, "et", m->et);
    m2msec_jw_str(&w, "clientID", m->client_id);
    m2msec_jw_str(&w, "adminFQDN", m->admin_fqdn);
    /* Left for the check to refuse when the peer is the MEF. */
    m2msec_jw_str(&w, "assignedSymmKeyID", m->assigned_kmid);
    return m2msec_jw_finish(&w, peer == M2MSEC_REG_MAF ? mafreg_resp_check : mefreg_resp_check, out,
                            err);
}

int
m2msec_reg_resp_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                       struct m2msec_mefreg_resp *out, struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return msg_decode(buf, len,
                      peer == M2MSEC_REG_MAF ? mafreg_resp_from_json : mefreg_resp_from_json, out,
                      err);
}

int
m2msec_mefreg_resp_encode(const struct m2msec_mefreg_resp *m, struct m2msec_buf *out,
                          struct m2msec_error *err)
{
    return m2msec_reg_resp_encode(M2MSEC_REG_MEF, m, out, err);
}

int
m2msec_mefreg_resp_decode(const uint8_t *buf, size_t len, struct m2msec_mefreg_resp *out,
                          struct m2msec_error *err)
{
    return m2msec_reg_resp_decode(M2MSEC_REG_MEF, buf, len, out, err);
}

/*
 * Client Registration Update, with the MEF or with the MAF.
 * @spec TS-0003 8.3.5.2.5 tables 8.3.5.2.5-1 and -2 (request: expirationTime
 * and/or labels, at least one; response: only the values the request carried)
 * @spec TS-0003 8.8.2.5 tables 8.8.2.5-1 and -2: the MAF's are the same but for
 * the FQDN member and the response's assignedSymmKeyID, "when a new Km is
 * remotely provisioned" (re-keying, docs/protocol-maf.md section 2b).
 */

void
m2msec_mefreg_update_clear(struct m2msec_mefreg_update *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->mef_fqdn);
    m2msec_strlist_free(m->lbl);
    m2msec_free(m->assigned_kmid);
    memset(m, 0, sizeof(*m));
}

static int
reg_update_from_json(const json_t *v, enum m2msec_reg_peer peer, int is_request,
                     struct m2msec_mefreg_update *out, struct m2msec_error *err)
{
    const char *const request_only[] = { reg_fqdn_name(peer), NULL };
    const char *const response_only[] = { "assignedSymmKeyID", NULL };
    struct m2msec_jr jr;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    if (is_request) {
        jr_host(&jr, reg_fqdn_name(peer), 1, &out->mef_fqdn);
        jr_forbid(&jr, response_only, "a request");
    } else {
        jr_forbid(&jr, request_only, "a response");
        if (peer == M2MSEC_REG_MAF) {
            /* Not read for the MEF: m2msec_jr_finish then refuses it as unknown. */
            jr_assigned_kmid(&jr, &out->assigned_kmid);
        }
    }
    m2msec_jr_time(&jr, "et", 0, &out->et, &out->has_et);
    jr_labels(&jr, &out->lbl, &out->nlbl, &out->has_lbl);
    if (!jr.failed && is_request && !out->has_et && !out->has_lbl) {
        m2msec_jr_fail(&jr, "et/lbl", "nothing to update");
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_mefreg_update_clear(out);
        return -1;
    }
    return 0;
}

static int
reg_update_check(const json_t *v, enum m2msec_reg_peer peer, int is_request,
                 struct m2msec_error *err)
{
    struct m2msec_mefreg_update tmp;
    int rv = reg_update_from_json(v, peer, is_request, &tmp, err);

    m2msec_mefreg_update_clear(&tmp);
    return rv;
}

/* m2msec_jw_finish checks take no peer or variant: one for each. */
static int
mef_update_req_check(const json_t *v, struct m2msec_error *err)
{
    return reg_update_check(v, M2MSEC_REG_MEF, 1, err);
}

static int
mef_update_resp_check(const json_t *v, struct m2msec_error *err)
{
    return reg_update_check(v, M2MSEC_REG_MEF, 0, err);
}

static int
maf_update_req_check(const json_t *v, struct m2msec_error *err)
{
    return reg_update_check(v, M2MSEC_REG_MAF, 1, err);
}

static int
maf_update_resp_check(const json_t *v, struct m2msec_error *err)
{
    return reg_update_check(v, M2MSEC_REG_MAF, 0, err);
}

int
m2msec_reg_update_encode(enum m2msec_reg_peer peer, const struct m2msec_mefreg_update *m,
                         int is_request, struct m2msec_buf *out, struct m2msec_error *err)
{
    m2msec_json_check_fn check;
    struct m2msec_jw w;

    if (peer == M2MSEC_REG_MAF) {
        check = is_request ? maf_update_req_check : maf_update_resp_check;
    } else {
        check = is_request ? mef_update_req_check : mef_update_resp_check;
    }
    m2msec_jw_init(&w);
    /* Written as given: the check refuses a member the variant does not allow. */
    m2msec_jw_str(&w, reg_fqdn_name(peer), m->mef_fqdn);
    if (m->has_et) {
        m2msec_jw_time(&w, "et", m->et);
    }
    if (m->has_lbl) {
        m2msec_jw_strlist(&w, "lbl", m->lbl, m->nlbl);
    }
    m2msec_jw_str(&w, "assignedSymmKeyID", m->assigned_kmid);
    return m2msec_jw_finish(&w, check, out, err);
}

int
m2msec_reg_update_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len, int is_request,
                         struct m2msec_mefreg_update *out, struct m2msec_error *err)
{
    json_t *root = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    if (m2msec_json_parse(buf, len, &root, err) == -1) {
        goto out;
    }
    rv = reg_update_from_json(root, peer, is_request, out, err);
out:
    json_decref(root);
    return rv;
}

int
m2msec_mefreg_update_encode(const struct m2msec_mefreg_update *m, int is_request,
                            struct m2msec_buf *out, struct m2msec_error *err)
{
    return m2msec_reg_update_encode(M2MSEC_REG_MEF, m, is_request, out, err);
}

int
m2msec_mefreg_update_decode(const uint8_t *buf, size_t len, int is_request,
                            struct m2msec_mefreg_update *out, struct m2msec_error *err)
{
    return m2msec_reg_update_decode(M2MSEC_REG_MEF, buf, len, is_request, out, err);
}

/*
 * Client Configuration Retrieval response, from the MEF or from the MAF.
 * @spec TS-0003 8.3.5.2.4 (the MEFClientCfg: every member present, with the
 * Enrolment Targets and Enrolment Expiry of the Enrolee)
 * @spec TS-0003 8.8.2.4 table 8.8.2.4-2, sec:clientRegCfg (12.4.2, table
 * 8.8.3.2-1): the mafClientCfg has fqdn and adminFQDN, and httpPort (16-bit,
 * DEFECT-8), et and lbl as options; no Enrolment members.
 */

void
m2msec_mefreg_cfg_clear(struct m2msec_mefreg_cfg *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->fqdn);
    m2msec_free(m->admin_fqdn);
    m2msec_strlist_free(m->lbl);
    m2msec_strlist_free(m->targets);
    memset(m, 0, sizeof(*m));
}

static const char *
reg_cfg_name(enum m2msec_reg_peer peer)
{
    return peer == M2MSEC_REG_MAF ? "mafClientCfg" : "mefClientCfg";
}

static int
reg_cfg_from_json(const json_t *v, enum m2msec_reg_peer peer, struct m2msec_mefreg_cfg *out,
                  struct m2msec_error *err)
{
    int mef = peer != M2MSEC_REG_MAF;
    const json_t *cfg = NULL;
    struct m2msec_jr jr;
    uint64_t port = 0;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_object(&jr, reg_cfg_name(peer), 1, &cfg);
    if (m2msec_jr_finish(&jr, err) == -1) {
        goto fail;
    }
    m2msec_jr_init(&jr, cfg);
    jr_host(&jr, "fqdn", 1, &out->fqdn);
    jr_host(&jr, "adminFQDN", 1, &out->admin_fqdn);
    m2msec_jr_u64(&jr, "httpPort", mef, 1, 65535, &port, NULL);
    m2msec_jr_time(&jr, "et", mef, &out->et, &out->has_et);
    jr_labels(&jr, &out->lbl, &out->nlbl, &out->has_lbl);
    if (mef) {
        /* Not read for the MAF: m2msec_jr_finish then refuses them as unknown. */
        m2msec_jr_strlist(&jr, "enrolmentTargets", 1, M2MSEC_TARGETS_MAX, MSG_ID_MAX, &out->targets,
                          &out->ntargets, NULL);
        m2msec_jr_u64(&jr, "enrolmentExpiry", 1, 1, MSG_EXPIRY_MAX, &out->enrolment_expiry, NULL);
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_error_wrap(err, "member '%s'", reg_cfg_name(peer));
        goto fail;
    }
    out->http_port = (unsigned)port;
    return 0;
fail:
    m2msec_mefreg_cfg_clear(out);
    return -1;
}

static int
reg_cfg_check(const json_t *v, enum m2msec_reg_peer peer, struct m2msec_error *err)
{
    struct m2msec_mefreg_cfg tmp;
    int rv = reg_cfg_from_json(v, peer, &tmp, err);

    m2msec_mefreg_cfg_clear(&tmp);
    return rv;
}

static int
mef_cfg_check(const json_t *v, struct m2msec_error *err)
{
    return reg_cfg_check(v, M2MSEC_REG_MEF, err);
}

static int
maf_cfg_check(const json_t *v, struct m2msec_error *err)
{
    return reg_cfg_check(v, M2MSEC_REG_MAF, err);
}

int
m2msec_reg_cfg_encode(enum m2msec_reg_peer peer, const struct m2msec_mefreg_cfg *m,
                      struct m2msec_buf *out, struct m2msec_error *err)
{
    int mef = peer != M2MSEC_REG_MAF;
    struct m2msec_jw w;
    struct m2msec_jw cw;

    m2msec_jw_init(&cw);
    m2msec_jw_str(&cw, "fqdn", m->fqdn);
    m2msec_jw_str(&cw, "adminFQDN", m->admin_fqdn);
    /* The MEF's configuration has every member; the MAF's leaves out what it lacks. */
    if (mef || m->http_port != 0) {
        m2msec_jw_u64(&cw, "httpPort", m->http_port);
    }
    if (mef || m->has_et) {
        m2msec_jw_time(&cw, "et", m->et);
    }
    if (m->has_lbl) {
        m2msec_jw_strlist(&cw, "lbl", m->lbl, m->nlbl);
    }
    /* Written for the MAF only when set, for its check to refuse. */
    if (mef || m->targets != NULL) {
        m2msec_jw_strlist(&cw, "enrolmentTargets", m->targets, m->ntargets);
    }
    if (mef || m->enrolment_expiry != 0) {
        m2msec_jw_u64(&cw, "enrolmentExpiry", m->enrolment_expiry);
    }
    m2msec_jw_init(&w);
    m2msec_jw_child(&w, reg_cfg_name(peer), &cw);
    return m2msec_jw_finish(&w, mef ? mef_cfg_check : maf_cfg_check, out, err);
}

int
m2msec_reg_cfg_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                      struct m2msec_mefreg_cfg *out, struct m2msec_error *err)
{
    json_t *root = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    if (m2msec_json_parse(buf, len, &root, err) == -1) {
        goto out;
    }
    rv = reg_cfg_from_json(root, peer, out, err);
out:
    json_decref(root);
    return rv;
}

int
m2msec_mefreg_cfg_encode(const struct m2msec_mefreg_cfg *m, struct m2msec_buf *out,
                         struct m2msec_error *err)
{
    return m2msec_reg_cfg_encode(M2MSEC_REG_MEF, m, out, err);
}

int
m2msec_mefreg_cfg_decode(const uint8_t *buf, size_t len, struct m2msec_mefreg_cfg *out,
                         struct m2msec_error *err)
{
    return m2msec_reg_cfg_decode(M2MSEC_REG_MEF, buf, len, out, err);
}

/*
 * Enrolee policy (MEF storage only, never on the wire): which instructions the
 * MEF may give this Enrolee.
 */

void
m2msec_enrolee_policy_clear(struct m2msec_enrolee_policy *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->cert_uri);
    m2msec_strlist_free(m->maf_uris);
    m2msec_free(m->rm_uri);
    memset(m, 0, sizeof(*m));
}

static int
enrolee_policy_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_enrolee_policy *out = vout;
    struct m2msec_jr jr;
    size_t i;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    jr_uri(&jr, "certificateEnrolmentURI", 0, &out->cert_uri);
    m2msec_jr_strlist(&jr, "mafURIs", 0, MSG_POLICY_MAF_MAX, M2MSEC_URI_MAX, &out->maf_uris,
                      &out->nmaf, NULL);
    for (i = 0; !jr.failed && i < out->nmaf; i++) {
        if (!msg_uri_ok(out->maf_uris[i])) {
            m2msec_jr_fail(&jr, "mafURIs", "item is not an http, https, coap or coaps URI");
        }
    }
    jr_uri(&jr, "remoteManagementURI", 0, &out->rm_uri);
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_enrolee_policy_clear(out);
        return -1;
    }
    return 0;
}

static int
enrolee_policy_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_enrolee_policy tmp;
    int rv = enrolee_policy_from_json(v, &tmp, err);

    m2msec_enrolee_policy_clear(&tmp);
    return rv;
}

int
m2msec_enrolee_policy_encode(const struct m2msec_enrolee_policy *m, struct m2msec_buf *out,
                             struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    m2msec_jw_str(&w, "certificateEnrolmentURI", m->cert_uri);
    if (m->maf_uris != NULL || m->nmaf > 0) {
        m2msec_jw_strlist(&w, "mafURIs", m->maf_uris, m->nmaf);
    }
    m2msec_jw_str(&w, "remoteManagementURI", m->rm_uri);
    return m2msec_jw_finish(&w, enrolee_policy_check, out, err);
}

int
m2msec_enrolee_policy_decode(const uint8_t *buf, size_t len, struct m2msec_enrolee_policy *out,
                             struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return msg_decode(buf, len, enrolee_policy_from_json, out, err);
}

/*
 * fetchCredentials response.
 * @spec TS-0003 8.3.2.1 tables 8.3.2.1-5 (Status, Credential, EnroleeID,
 * Lifetime) and 8.3.2.1-6 (Status, ErrorString)
 */

static const char *const fetch_success_members[] = { "Credential", "EnroleeID", "Lifetime", NULL };
static const char *const fetch_failure_members[] = { "ErrorString", NULL };

void
m2msec_fetch_resp_clear(struct m2msec_fetch_resp *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_secret_free(m->credential);
    m2msec_free(m->enrolee_id);
    m2msec_free(m->error_string);
    memset(m, 0, sizeof(*m));
}

/* Credential text -> secret of M2MSEC_FETCH_CRED_MIN..MAX bytes (after the reader's checks). */
static int
fetch_credential(const char *b64, struct m2msec_secret **out, struct m2msec_error *err)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    int rv = -1;

    if (m2msec_b64_decode(b64, strlen(b64), &raw, &rawlen, err) == -1) {
        if (m2msec_error_code(err) != M2MSEC_ERR_NOMEM) {
            m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, MSG_RSC_BAD_REQUEST,
                              "member 'Credential': not canonical base64");
        }
        goto out;
    }
    if (rawlen < M2MSEC_FETCH_CRED_MIN || rawlen > M2MSEC_FETCH_CRED_MAX) {
        m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, MSG_RSC_BAD_REQUEST,
                          "member 'Credential': %zu bytes, expected %d to %d", rawlen,
                          M2MSEC_FETCH_CRED_MIN, M2MSEC_FETCH_CRED_MAX);
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

static int
fetch_resp_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_fetch_resp *out = vout;
    struct m2msec_jr jr;
    char *cred = NULL;
    int status = 0;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_bool(&jr, "Status", 1, &status, NULL);
    if (!jr.failed && status) {
        jr_forbid(&jr, fetch_failure_members, "a success response");
        m2msec_jr_str(&jr, "Credential", 1, MSG_CRED_B64_MAX, &cred);
        m2msec_jr_str(&jr, "EnroleeID", 1, MSG_ID_MAX, &out->enrolee_id);
        m2msec_jr_time(&jr, "Lifetime", 1, &out->lifetime, NULL);
    } else if (!jr.failed) {
        jr_forbid(&jr, fetch_success_members, "a failure response");
        m2msec_jr_str(&jr, "ErrorString", 1, MSG_DBG_MAX, &out->error_string);
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        goto out;
    }
    if (status && fetch_credential(cred, &out->credential, err) == -1) {
        goto out;
    }
    out->status = status;
    rv = 0;
out:
    m2msec_free_wipe_str(cred);
    if (rv == -1) {
        m2msec_fetch_resp_clear(out);
    }
    return rv;
}

static int
fetch_resp_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_fetch_resp tmp;
    int rv = fetch_resp_from_json(v, &tmp, err);

    m2msec_fetch_resp_clear(&tmp);
    return rv;
}

int
m2msec_fetch_resp_encode(const struct m2msec_fetch_resp *m, struct m2msec_buf *out,
                         struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    m2msec_jw_bool(&w, "Status", m->status != 0);
    if (m->status) {
        if (m->credential == NULL) {
            m2msec_jw_fail(&w, "Credential", "missing");
        }
        m2msec_jw_key(&w, "Credential", m->credential);
        m2msec_jw_str(&w, "EnroleeID", m->enrolee_id);
        m2msec_jw_time(&w, "Lifetime", m->lifetime);
    } else {
        m2msec_jw_str(&w, "ErrorString", m->error_string);
    }
    return m2msec_jw_finish(&w, fetch_resp_check, out, err);
}

int
m2msec_fetch_resp_decode(const uint8_t *buf, size_t len, struct m2msec_fetch_resp *out,
                         struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return msg_decode(buf, len, fetch_resp_from_json, out, err);
}

/*
 * oneM2M debug body carried with error responses.
 */

static int
dbg_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    char **out = vout;
    struct m2msec_jr jr;

    *out = NULL;
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "m2m:dbg", 1, MSG_DBG_MAX, out);
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static int
dbg_check(const json_t *v, struct m2msec_error *err)
{
    char *tmp = NULL;
    int rv = dbg_from_json(v, &tmp, err);

    m2msec_free(tmp);
    return rv;
}

int
m2msec_dbg_encode(const char *msg, struct m2msec_buf *out, struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    m2msec_jw_str(&w, "m2m:dbg", msg);
    return m2msec_jw_finish(&w, dbg_check, out, err);
}

int
m2msec_dbg_decode(const uint8_t *buf, size_t len, char **msg, struct m2msec_error *err)
{
    *msg = NULL;
    return msg_decode(buf, len, dbg_from_json, msg, err);
}

/*
 * IBC credential enrolment [PROJECT; seed 000 steps 7-9, IBC-DESIGN 3.5].
 */

/* A fixed-length (exact != 0) or bounded base64 member into out; -1 with a 4000 error. */
static int
ibc_b64_member(const char *name, const char *b64, uint8_t *out, size_t outsz, size_t exact,
               size_t *outlen, struct m2msec_error *err)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    int rv = -1;

    if (m2msec_b64_decode(b64, strlen(b64), &raw, &rawlen, err) == -1) {
        if (m2msec_error_code(err) != M2MSEC_ERR_NOMEM) {
            m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, MSG_RSC_BAD_REQUEST,
                              "member '%s': not canonical base64", name);
        }
        goto out;
    }
    if ((exact != 0 && rawlen != exact) || rawlen == 0 || rawlen > outsz) {
        m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, MSG_RSC_BAD_REQUEST,
                          "member '%s': %zu bytes, expected %zu", name, rawlen,
                          exact != 0 ? exact : outsz);
        goto out;
    }
    memcpy(out, raw, rawlen);
    if (outlen != NULL) {
        *outlen = rawlen;
    }
    rv = 0;
out:
    if (raw != NULL) {
        m2msec_wipe(raw, rawlen);
        m2msec_free(raw);
    }
    return rv;
}

/* Lowercase LDH labels as ID2 carries them (proto/id2.h; codec cannot include proto). */
static int
mpk_fqdn_ok(const char *s)
{
    size_t i, label = 0;

    if (s[0] == '\0' || strlen(s) > M2MSEC_MPK_FQDN_MAX) {
        return 0;
    }
    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];

        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') {
                return 0;
            }
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') ||
            (c == '-' && label == 0) || ++label > 63) {
            return 0;
        }
    }
    return label > 0 && s[i - 1] != '-';
}

static int
mpk_info_from_json(const json_t *v, struct m2msec_mpk_info *out, struct m2msec_error *err)
{
    struct m2msec_jr jr;
    char *fqdn = NULL, *kpak = NULL;
    uint64_t version = 0;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(v)) {
        return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, MSG_RSC_BAD_REQUEST, "not an object");
    }
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "fqdn", 1, M2MSEC_MPK_FQDN_MAX, &fqdn);
    if (!jr.failed && !mpk_fqdn_ok(fqdn)) {
        m2msec_jr_fail(&jr, "fqdn", "not a lowercase FQDN");
    }
    m2msec_jr_u64(&jr, "version", 1, 1, M2MSEC_MPK_VERSION_MAX, &version, NULL);
    m2msec_jr_str(&jr, "kpak", 1, 4 * ((M2MSEC_MSG_POINT_LEN + 2) / 3), &kpak);
    m2msec_jr_time(&jr, "validFrom", 1, &out->valid_from, NULL);
    m2msec_jr_time(&jr, "validTo", 1, &out->valid_to, NULL);
    m2msec_jr_u64(&jr, "keyPeriod", 1, 1, M2MSEC_KEY_PERIOD_MAX, &out->key_period, NULL);
    m2msec_jr_u64(&jr, "keyPeriodOffset", 1, 0, M2MSEC_KEY_PERIOD_MAX, &out->key_period_offset,
                  NULL);
    if (!jr.failed && out->valid_to <= out->valid_from) {
        m2msec_jr_fail(&jr, "validTo", "not after validFrom");
    }
    if (!jr.failed && out->key_period_offset >= out->key_period) {
        m2msec_jr_fail(&jr, "keyPeriodOffset", "not below keyPeriod");
    }
    if (m2msec_jr_finish(&jr, err) == -1 ||
        ibc_b64_member("kpak", kpak, out->kpak, sizeof(out->kpak), M2MSEC_MSG_POINT_LEN, NULL,
                       err) == -1) {
        goto out;
    }
    if (out->kpak[0] != 0x04) {
        m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, MSG_RSC_BAD_REQUEST,
                          "member 'kpak': not an uncompressed point");
        goto out;
    }
    (void)m2msec_strlcpy(out->fqdn, fqdn, sizeof(out->fqdn));
    out->version = (unsigned)version;
    rv = 0;
out:
    m2msec_free(fqdn);
    m2msec_free(kpak);
    if (rv == -1) {
        memset(out, 0, sizeof(*out));
    }
    return rv;
}

static int
mpk_set_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_mpk_set *out = vout;
    const json_t *arr;
    struct m2msec_jr jr;
    uint64_t current = 0;
    size_t i, j;
    int has_current = 0;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_u64(&jr, "current", 1, 1, M2MSEC_MPK_VERSION_MAX, &current, NULL);
    arr = json_object_get(v, "mpk");
    if (!jr.failed && (arr == NULL || !json_is_array(arr))) {
        m2msec_jr_fail(&jr, "mpk", arr == NULL ? "missing" : "not an array");
    }
    if (!jr.failed && (json_array_size(arr) == 0 || json_array_size(arr) > M2MSEC_MPK_SET_MAX)) {
        m2msec_jr_fail(&jr, "mpk", "must hold 1 to 8 entries");
    }
    if (!jr.failed && jr.nseen < M2MSEC_JSON_MAX_MEMBERS) {
        /* Read below as an array of objects (the reader has no such member type). */
        jr.seen[jr.nseen++] = "mpk";
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        goto fail;
    }
    for (i = 0; i < json_array_size(arr); i++) {
        if (mpk_info_from_json(json_array_get(arr, i), &out->mpk[i], err) == -1) {
            m2msec_error_wrap(err, "member 'mpk' entry %zu", i);
            goto fail;
        }
        out->n++;
        for (j = 0; j < i; j++) {
            if (out->mpk[j].version == out->mpk[i].version ||
                strcmp(out->mpk[j].fqdn, out->mpk[i].fqdn) != 0) { /* public */
                m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, MSG_RSC_BAD_REQUEST,
                                  "member 'mpk' entry %zu: %s", i,
                                  out->mpk[j].version == out->mpk[i].version ? "duplicate version"
                                                                             : "another FQDN");
                goto fail;
            }
        }
        if (out->mpk[i].version == current) {
            has_current = 1;
        }
    }
    if (!has_current) {
        m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, MSG_RSC_BAD_REQUEST,
                          "member 'current': version %llu is not in 'mpk'",
                          (unsigned long long)current);
        goto fail;
    }
    out->current = (unsigned)current;
    return 0;
fail:
    memset(out, 0, sizeof(*out));
    return -1;
}

static int
mpk_set_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_mpk_set tmp;

    return mpk_set_from_json(v, &tmp, err);
}

static void
mpk_set_to_json(const struct m2msec_mpk_set *m, struct m2msec_jw *w)
{
    json_t *arr = json_array();
    size_t i;

    m2msec_jw_init(w);
    m2msec_jw_u64(w, "current", m->current);
    if (arr == NULL) {
        m2msec_jw_fail(w, "mpk", "out of memory");
        return;
    }
    for (i = 0; i < m->n && i < M2MSEC_MPK_SET_MAX && !w->failed; i++) {
        const struct m2msec_mpk_info *e = &m->mpk[i];
        struct m2msec_jw ew;
        char *kpak = NULL;
        struct m2msec_error e2 = { 0 };

        m2msec_jw_init(&ew);
        m2msec_jw_str(&ew, "fqdn", e->fqdn);
        m2msec_jw_u64(&ew, "version", e->version);
        if (m2msec_b64_encode(e->kpak, sizeof(e->kpak), &kpak, &e2) == -1) {
            m2msec_jw_fail(&ew, "kpak", "out of memory");
        }
        m2msec_jw_str(&ew, "kpak", kpak);
        m2msec_free(kpak);
        m2msec_jw_time(&ew, "validFrom", e->valid_from);
        m2msec_jw_time(&ew, "validTo", e->valid_to);
        m2msec_jw_u64(&ew, "keyPeriod", e->key_period);
        m2msec_jw_u64(&ew, "keyPeriodOffset", e->key_period_offset);
        if (ew.failed) {
            m2msec_jw_fail(w, "mpk", m2msec_error_msg(&ew.err));
            json_decref(ew.obj);
        } else if (json_array_append_new(arr, ew.obj) == -1) {
            m2msec_jw_fail(w, "mpk", "out of memory");
        }
    }
    m2msec_jw_set(w, "mpk", arr);
}

int
m2msec_mpk_set_encode(const struct m2msec_mpk_set *m, struct m2msec_buf *out,
                      struct m2msec_error *err)
{
    struct m2msec_jw w;

    mpk_set_to_json(m, &w);
    return m2msec_jw_finish(&w, mpk_set_check, out, err);
}

int
m2msec_mpk_set_decode(const uint8_t *buf, size_t len, struct m2msec_mpk_set *out,
                      struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return msg_decode(buf, len, mpk_set_from_json, out, err);
}

void
m2msec_ibc_cred_req_clear(struct m2msec_ibc_cred_req *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_free(m->id1);
    memset(m, 0, sizeof(*m));
}

static int
ibc_cred_req_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_ibc_cred_req *out = vout;
    struct m2msec_jr jr;
    uint64_t step = 0;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_u64(&jr, "step", 1, 1, MSG_STEP_MAX, &step, NULL);
    m2msec_jr_str(&jr, "id1", 1, M2MSEC_MSG_ID1_MAX, &out->id1);
    if (!jr.failed && !msg_host_ok(out->id1)) {
        m2msec_jr_fail(&jr, "id1", "not printable ASCII without spaces");
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_ibc_cred_req_clear(out);
        return -1;
    }
    out->step = (unsigned)step;
    return 0;
}

static int
ibc_cred_req_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_ibc_cred_req tmp;
    int rv = ibc_cred_req_from_json(v, &tmp, err);

    m2msec_ibc_cred_req_clear(&tmp);
    return rv;
}

int
m2msec_ibc_cred_req_encode(const struct m2msec_ibc_cred_req *m, struct m2msec_buf *out,
                           struct m2msec_error *err)
{
    struct m2msec_jw w;

    m2msec_jw_init(&w);
    m2msec_jw_u64(&w, "step", m->step);
    m2msec_jw_str(&w, "id1", m->id1);
    return m2msec_jw_finish(&w, ibc_cred_req_check, out, err);
}

int
m2msec_ibc_cred_req_decode(const uint8_t *buf, size_t len, struct m2msec_ibc_cred_req *out,
                           struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return msg_decode(buf, len, ibc_cred_req_from_json, out, err);
}

void
m2msec_ibc_cred_resp_clear(struct m2msec_ibc_cred_resp *m)
{
    if (m == NULL) {
        return;
    }
    m2msec_secret_free(m->ssk);
    memset(m, 0, sizeof(*m));
}

static int
ibc_cred_resp_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_ibc_cred_resp *out = vout;
    const json_t *set = NULL;
    struct m2msec_jr jr;
    uint8_t ssk[M2MSEC_MSG_SCALAR_LEN];
    char *suite = NULL, *id2 = NULL, *sskb = NULL, *pvt = NULL;
    uint64_t version = 0;
    size_t i;
    int rv = -1, listed = 0;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "suite", 1, MSG_ENUM_MAX, &suite);
    if (!jr.failed && strcmp(suite, M2MSEC_IBC_SUITE_NAME) != 0) { /* public */
        m2msec_jr_fail(&jr, "suite", "unknown suite");
    }
    m2msec_jr_str(&jr, "id2", 1, 4 * ((M2MSEC_MSG_ID2_MAX + 2) / 3), &id2);
    m2msec_jr_str(&jr, "ssk", 1, 4 * ((M2MSEC_MSG_SCALAR_LEN + 2) / 3), &sskb);
    m2msec_jr_str(&jr, "pvt", 1, 4 * ((M2MSEC_MSG_POINT_LEN + 2) / 3), &pvt);
    m2msec_jr_u64(&jr, "mpkVersion", 1, 1, M2MSEC_MPK_VERSION_MAX, &version, NULL);
    m2msec_jr_object(&jr, "mpkSet", 1, &set);
    if (m2msec_jr_finish(&jr, err) == -1) {
        goto out;
    }
    if (ibc_b64_member("id2", id2, out->id2, sizeof(out->id2), 0, &out->id2_len, err) == -1 ||
        ibc_b64_member("pvt", pvt, out->pvt, sizeof(out->pvt), M2MSEC_MSG_POINT_LEN, NULL, err) ==
                -1 ||
        ibc_b64_member("ssk", sskb, ssk, sizeof(ssk), M2MSEC_MSG_SCALAR_LEN, NULL, err) == -1) {
        goto out;
    }
    out->ssk = m2msec_secret_from(ssk, sizeof(ssk), err);
    if (out->ssk == NULL) {
        goto out;
    }
    if (mpk_set_from_json(set, &out->mpks, err) == -1) {
        m2msec_error_wrap(err, "member 'mpkSet'");
        goto out;
    }
    for (i = 0; i < out->mpks.n; i++) {
        listed |= out->mpks.mpk[i].version == version;
    }
    if (!listed) {
        m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, MSG_RSC_BAD_REQUEST,
                          "member 'mpkVersion': version %llu is not in 'mpkSet'",
                          (unsigned long long)version);
        goto out;
    }
    out->mpk_version = (unsigned)version;
    rv = 0;
out:
    m2msec_wipe(ssk, sizeof(ssk));
    m2msec_free(suite);
    m2msec_free(id2);
    m2msec_free_wipe_str(sskb);
    m2msec_free(pvt);
    if (rv == -1) {
        m2msec_ibc_cred_resp_clear(out);
    }
    return rv;
}

static int
ibc_cred_resp_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_ibc_cred_resp tmp;
    int rv = ibc_cred_resp_from_json(v, &tmp, err);

    m2msec_ibc_cred_resp_clear(&tmp);
    return rv;
}

int
m2msec_ibc_cred_resp_encode(const struct m2msec_ibc_cred_resp *m, struct m2msec_buf *out,
                            struct m2msec_error *err)
{
    struct m2msec_jw w, sw;
    char *id2 = NULL, *pvt = NULL;
    int rv;

    m2msec_jw_init(&w);
    m2msec_jw_str(&w, "suite", M2MSEC_IBC_SUITE_NAME);
    if (m->id2_len == 0 || m->id2_len > sizeof(m->id2) ||
        m2msec_b64_encode(m->id2, m->id2_len, &id2, err) == -1) {
        m2msec_jw_fail(&w, "id2", "missing or too long");
    }
    m2msec_jw_str(&w, "id2", id2);
    if (m->ssk == NULL) {
        m2msec_jw_fail(&w, "ssk", "missing");
    }
    m2msec_jw_key(&w, "ssk", m->ssk);
    if (m2msec_b64_encode(m->pvt, sizeof(m->pvt), &pvt, err) == -1) {
        m2msec_jw_fail(&w, "pvt", "out of memory");
    }
    m2msec_jw_str(&w, "pvt", pvt);
    m2msec_jw_u64(&w, "mpkVersion", m->mpk_version);
    mpk_set_to_json(&m->mpks, &sw);
    m2msec_jw_child(&w, "mpkSet", &sw);
    rv = m2msec_jw_finish(&w, ibc_cred_resp_check, out, err);
    m2msec_free(id2);
    m2msec_free(pvt);
    return rv;
}

int
m2msec_ibc_cred_resp_decode(const uint8_t *buf, size_t len, struct m2msec_ibc_cred_resp *out,
                            struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return msg_decode(buf, len, ibc_cred_resp_from_json, out, err);
}
