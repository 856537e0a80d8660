/*
 * client/client.c - struct m2msec_client: the Enrolee side of the PPSK RSPF.
 *
 * Layer: client. m2msec_client_enrol runs TS-0003 8.3.2.1 end to end:
 * handshake with KpmID/Kpm (or, 8.3.2.2, with certificates: the steps after
 * the handshake are identical), Ke/RelativeKeID from the exporter, KeID
 * agreement with the MEF, the Enrolment Exchange until its end, and durable
 * storage of Ke/KeID (sealed) in the state directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "client/client_int.h"
#include "crypto/kdf.h"
#include "crypto/seal.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define ENROL_TARGET "/" M2MSEC_PATH_MEF_BASE "/" M2MSEC_PATH_ENROLMENT

M2MSEC_API struct m2msec_client *
m2msec_client_new(void)
{
    return m2msec_calloc(1, sizeof(struct m2msec_client));
}

static void
client_reset_result(struct m2msec_client *c)
{
    size_t i;

    m2msec_free(c->keid);
    m2msec_free(c->enrolee_id);
    for (i = 0; i < c->ninstr; i++) {
        m2msec_free(c->instr[i].type);
        m2msec_free(c->instr[i].uri);
    }
    c->keid = NULL;
    c->enrolee_id = NULL;
    c->ke_expires = 0;
    c->ninstr = 0;
    c->ibc_id1[0] = '\0';
    c->ibc_expires = 0;
    c->ibc_mpk_version = 0;
}

M2MSEC_API void
m2msec_client_free(struct m2msec_client *c)
{
    if (c == NULL) {
        return;
    }
    client_reset_result(c);
    client_root_free(c->root);
    m2msec_db_close(c->db);
    m2msec_config_unref(c->cfg);
    m2msec_free(c);
}

M2MSEC_API int
m2msec_client_configure(struct m2msec_client *c, struct m2msec_config *cfg)
{
    m2msec_error_clear(&c->err);
    if (cfg == NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_ARGUMENT, "no configuration");
    }
    cfg->refs++;
    cfg->frozen = 1;
    m2msec_config_unref(c->cfg);
    c->cfg = cfg;
    /* A new configuration may name another state directory. */
    m2msec_db_close(c->db);
    c->db = NULL;
    return 0;
}

M2MSEC_API const char *
m2msec_client_error(const struct m2msec_client *c)
{
    return c->err.msg;
}

M2MSEC_API enum m2msec_err
m2msec_client_error_code(const struct m2msec_client *c)
{
    return c->err.code;
}

M2MSEC_API int
m2msec_client_error_rsc(const struct m2msec_client *c)
{
    return c->err.rsc;
}

M2MSEC_API void
m2msec_client_set_step_cb(struct m2msec_client *c, m2msec_step_cb cb, void *arg)
{
    c->step_cb = cb;
    c->step_arg = arg;
}

M2MSEC_API const char *
m2msec_client_keid(const struct m2msec_client *c)
{
    return c->keid;
}

M2MSEC_API int64_t
m2msec_client_ke_expires(const struct m2msec_client *c)
{
    return c->ke_expires;
}

M2MSEC_API const char *
m2msec_client_enrolee_id(const struct m2msec_client *c)
{
    return c->enrolee_id;
}

M2MSEC_API size_t
m2msec_client_instruction_count(const struct m2msec_client *c)
{
    return c->ninstr;
}

M2MSEC_API const char *
m2msec_client_instruction_type(const struct m2msec_client *c, size_t i)
{
    return i < c->ninstr ? c->instr[i].type : NULL;
}

M2MSEC_API const char *
m2msec_client_instruction_uri(const struct m2msec_client *c, size_t i)
{
    return i < c->ninstr ? c->instr[i].uri : NULL;
}

static int
mkdir_private(const char *dir, struct m2msec_error *err)
{
    struct stat st;

    if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "cannot create %s", dir);
    }
    if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
        return m2msec_error_setx(err, M2MSEC_ERR_IO, "%s is not a directory", dir);
    }
    return 0;
}

struct m2msec_db *
client_state_open(const char *dir, int create, struct m2msec_error *err)
{
    struct m2msec_secret *kek = NULL;
    struct m2msec_db *db = NULL;
    char path[4200];

    if (create && mkdir_private(dir, err) == -1) {
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, M2MSEC_STATE_KEK);
    if (create && access(path, F_OK) == -1 && m2msec_kek_create(path, err) == -1) {
        return NULL;
    }
    kek = m2msec_kek_load(path, err);
    if (kek == NULL) {
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, M2MSEC_STATE_DB);
    if (!create && access(path, F_OK) == -1) {
        m2msec_secret_free(kek);
        m2msec_error_setx(err, M2MSEC_ERR_NOT_FOUND, "no device state in %s", dir);
        return NULL;
    }
    db = m2msec_db_open(path, M2MSEC_SCHEMA_DEVICE, kek, err);
    m2msec_secret_free(kek);
    return db;
}

/* Keep the instruction for the caller and for the state (JSON array). */
static int
record_instruction(struct m2msec_client *c, json_t *arr, const struct m2msec_instruction *in,
                   const struct m2msec_enrol_report *rep, struct m2msec_error *err)
{
    const char *type = m2msec_instr_type_name(in->type);
    const char *uri = in->uri != NULL ? in->uri : in->client_reg_uri;
    json_t *o = json_object();
    char ts[M2MSEC_TIMESTAMP_LEN];

    if (o == NULL || c->ninstr >= M2MSEC_EXCHANGE_MAX_INSTR) {
        json_decref(o);
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "too many instructions");
    }
    json_object_set_new(o, "type", json_string(type));
    if (uri != NULL) {
        json_object_set_new(o, "uri", json_string(uri));
    }
    if (in->type == M2MSEC_INSTR_MAF_ENROLMENT) {
        json_object_set_new(o, "keyRegistrationURI", json_string(in->key_reg_uri));
        json_object_set_new(o, "keyRetrievalURI", json_string(in->key_ret_uri));
        if (in->lifetime != 0 && m2msec_timestamp_format(in->lifetime, ts) == 0) {
            json_object_set_new(o, "lifetime", json_string(ts));
        }
    }
    json_object_set_new(o, "result", json_string(rep->success ? "success" : "failure"));
    json_array_append_new(arr, o);
    c->instr[c->ninstr].type = m2msec_strdup(type);
    c->instr[c->ninstr].uri = uri != NULL ? m2msec_strdup(uri) : NULL;
    c->ninstr++;
    return 0;
}

/*
 * @spec TS-0003 10.3.4 and 8.3.2.1: both sides form KeID from the same export.
 * The relative part must be ours; the FQDN must be the MEF's name when we know it.
 */
static int
check_keid(const char *theirs, const uint8_t rel[M2MSEC_REL_ID_LEN], const char *mef_name,
           int name_known, struct m2msec_error *err)
{
    struct m2msec_keid k;

    if (theirs == NULL || m2msec_keid_parse(theirs, &k, err) == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "MEF returned no valid KeID");
    }
    if (memcmp(k.rel, rel, M2MSEC_REL_ID_LEN) != 0 /* public: identifiers, not keys */) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "KeID mismatch: the MEF derived a different RelativeKeID");
    }
    if (name_known && !m2msec_fqdn_equal(k.fqdn, mef_name)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "KeID names MEF '%s', expected '%s'",
                                 k.fqdn, mef_name);
    }
    return 0;
}

static int
enrol(struct m2msec_client *c, struct m2msec_error *err)
{
    const struct m2msec_config *cfg = c->cfg;
    struct client_session s = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_enrol_resp er = { 0 };
    struct m2msec_enrol_report rep = { 0 };
    struct m2msec_enrolment_rec rec = { 0 };
    struct m2msec_secret *ke = NULL;
    struct m2msec_buf body;
    json_t *instrs = NULL;
    uint8_t exported[M2MSEC_EXPORT_LEN], rel[M2MSEC_REL_ID_LEN];
    char target[128], ts[M2MSEC_TIMESTAMP_LEN], kcv[M2MSEC_KCV_HEX_LEN];
    char *instr_json = NULL;
    unsigned expect_step = 1;
    int rv = -1, name_known;

    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    if (cfg->state_dir == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE, "no state directory configured");
        goto out;
    }
    instrs = json_array();
    if (instrs == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    /*
     * Open the store first: no point enrolling if the result cannot be kept. The
     * connection stays open for the client's life (opening it costs more than a
     * handshake: schema, WAL files, and a checkpoint with fsyncs on close).
     */
    if (c->db == NULL) {
        c->db = client_state_open(cfg->state_dir, 1, err);
        if (c->db == NULL) {
            goto out;
        }
    }
    if (client_session_open(c, &s, err) == -1) {
        goto out;
    }
    name_known = strspn(s.host, "0123456789.:[]") != strlen(s.host);
    /* @spec TS-0003 10.3.1: 48 bytes, first 16 RelativeKeID, last 32 Ke. */
    if (m2msec_tls_export(s.tls, M2MSEC_LABEL_BOOTSTRAP, exported, sizeof(exported), err) == -1 ||
        m2msec_export_split(exported, rel, &ke, err) == -1) {
        goto out;
    }
    if (m2msec_enrol_req_encode(&cfg->ind, &body, err) == -1 ||
        client_roundtrip(&s, M2MSEC_HTTP_POST, ENROL_TARGET, &body, M2MSEC_RSC_CREATED, &resp,
                         err) == -1 ||
        m2msec_enrol_resp_decode(resp->body.data, resp->body.len, &er, err) == -1 ||
        check_keid(er.keid, rel, s.host, name_known, err) == -1) {
        goto out;
    }
    if (er.ke_expires <= m2msec_now()) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "MEF returned a Ke expiry in the past");
        goto out;
    }
    c->keid = m2msec_strdup(er.keid);
    c->enrolee_id = er.enrolee_id != NULL ? m2msec_strdup(er.enrolee_id) : NULL;
    c->ke_expires = er.ke_expires;
    m2msec_timestamp_format(er.ke_expires, ts);
    client_step(c, "keid", "KeID %s agreed with the MEF, Ke expires %s", er.keid, ts);
    /* @spec TS-0003 8.3.2.1: instructions, reports, end of the exchange. */
    for (;;) {
        if (er.step != expect_step) {
            m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "MEF sent step %u, expected %u", er.step,
                              expect_step);
            goto out;
        }
        if (er.end) {
            client_step(c, "end", "end of the enrolment exchange after %u step(s)", er.step - 1);
            break;
        }
        if (expect_step > M2MSEC_EXCHANGE_MAX_INSTR) {
            m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "too many instructions");
            goto out;
        }
        if (er.instr.type == M2MSEC_INSTR_IBC_ENROLMENT && cfg->ind.ibc_enrolment) {
            /* @spec seed 000 steps 8-9 [PROJECT]: request, validate and keep (client/ibc.c). */
            if (client_ibc_enrol(c, &s, er.exchange_id, er.step, &er.instr, c->enrolee_id, &rep,
                                 err) == -1) {
                goto out;
            }
        } else if (m2msec_exchange_answer(&cfg->ind, &er.instr, er.step, &rep, err) == -1) {
            goto out;
        }
        if (record_instruction(c, instrs, &er.instr, &rep, err) == -1) {
            goto out;
        }
        client_step(c, "instruction", "%s %s -> %s%s%s", m2msec_instr_type_name(er.instr.type),
                    er.instr.uri != NULL           ? er.instr.uri
                    : er.instr.key_reg_uri != NULL ? er.instr.key_reg_uri
                                                   : "(this MEF)",
                    rep.success ? "success" : "failure", rep.reason != NULL ? ": " : "",
                    rep.reason != NULL ? rep.reason : "");
        snprintf(target, sizeof(target), "%s/%s", ENROL_TARGET, er.exchange_id);
        m2msec_buf_reset(&body);
        m2msec_http_msg_free(resp);
        resp = NULL;
        if (m2msec_enrol_report_encode(&rep, &body, err) == -1) {
            goto out;
        }
        m2msec_enrol_report_clear(&rep);
        m2msec_enrol_resp_clear(&er);
        if (client_roundtrip(&s, M2MSEC_HTTP_POST, target, &body, M2MSEC_RSC_OK, &resp, err) ==
                    -1 ||
            m2msec_enrol_resp_decode(resp->body.data, resp->body.len, &er, err) == -1) {
            goto out;
        }
        expect_step++;
    }
    instr_json = json_dumps(instrs, JSON_COMPACT);
    rec.keid = c->keid;
    rec.mef = cfg->mef;
    /* The credential enrolled with: the KpmID, or our certificate's Credential-ID. */
    rec.kpm_id = cfg->kpm_id != NULL ? cfg->kpm_id : s.origin;
    rec.enrolee_id = c->enrolee_id;
    rec.created = m2msec_now();
    rec.expires = c->ke_expires;
    rec.exchange_json = instr_json;
    rec.ke = ke;
    if (m2msec_dev_enrolment_put(c->db, &rec, err) == -1) {
        goto out;
    }
    m2msec_key_check_value(ke, kcv, err);
    client_step(c, "stored", "Ke sealed in %s (kcv %s)", cfg->state_dir, kcv);
    rv = 0;
out:
    if (rv == -1) {
        client_reset_result(c);
    }
    m2msec_wipe(exported, sizeof(exported));
    m2msec_secret_free(ke);
    free(instr_json);
    json_decref(instrs);
    m2msec_enrol_report_clear(&rep);
    m2msec_enrol_resp_clear(&er);
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&body);
    client_session_close(&s);
    return rv;
}

M2MSEC_API int
m2msec_client_enrol(struct m2msec_client *c)
{
    m2msec_error_clear(&c->err);
    client_reset_result(c);
    if (c->cfg == NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_STATE, "client not configured");
    }
    return enrol(c, &c->err);
}
