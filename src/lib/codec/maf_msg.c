/*
 * codec/maf_msg.c - JSON messages exchanged with the MAF, both directions.
 *
 * Layer: codec. Depends on codec/json.h and util only. Member names follow
 * the MEF registration messages (docs/protocol-maf.md): the MAF ones differ
 * only in "mafFQDN" and the optional "assignedSymmKeyID" of the response.
 * Every encoder runs the decoder's checks on the object it built, so we
 * never send what we would reject.
 */
#include <string.h>

#include "codec/json.h"
#include "codec/maf_msg.h"
#include "codec/mef_msg.h"
#include "util/mem.h"
#include "util/time.h"

#define MSG_RSC_INTERNAL 5000
#define MSG_FQDN_MAX     253
#define MSG_ID_MAX       512
#define MSG_REG_ID_MAX   64
#define MSG_KMID_MAX     (128 + 1 + MSG_FQDN_MAX) /* relative KmID "@" MAF-FQDN */

typedef int (*maf_from_json_fn)(const json_t *v, void *out, struct m2msec_error *err);

/* Host names travel into Host headers and logs: printable ASCII without spaces. */
static int
host_ok(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

static void
jr_host(struct m2msec_jr *jr, const char *name, int required, size_t maxlen, char **out)
{
    m2msec_jr_str(jr, name, required, maxlen, out);
    if (!jr->failed && *out != NULL && !host_ok(*out)) {
        m2msec_jr_fail(jr, name, "not a host name");
    }
}

static int
maf_decode(const uint8_t *buf, size_t len, maf_from_json_fn fn, void *out, struct m2msec_error *err)
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
 * Writer: set members on obj, remembering the first failure. A NULL string
 * leaves the member out (the decoder check then reports a missing one).
 */
struct maf_jw {
    json_t *obj;
    int failed;
};

static void
jw_put(struct maf_jw *w, const char *name, json_t *v)
{
    if (w->failed || v == NULL || json_object_set_new(w->obj, name, v) == -1) {
        w->failed = 1;
    }
}

static void
jw_str(struct maf_jw *w, const char *name, const char *s)
{
    if (s != NULL) {
        /* json_string refuses invalid UTF-8 with NULL: a failure either way. */
        jw_put(w, name, json_string(s));
    }
}

static void
jw_time(struct maf_jw *w, const char *name, int64_t t)
{
    char ts[M2MSEC_TIMESTAMP_LEN];

    if (m2msec_timestamp_format(t, ts) == -1) {
        w->failed = 1;
        return;
    }
    jw_put(w, name, json_string(ts));
}

static void
jw_labels(struct maf_jw *w, char *const *lbl, size_t n)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr != NULL && i < n; i++) {
        if (lbl == NULL || lbl[i] == NULL ||
            json_array_append_new(arr, json_string(lbl[i])) == -1) {
            json_decref(arr);
            arr = NULL;
        }
    }
    jw_put(w, "lbl", arr);
}

/* Check obj with the decoder (fn fills and clears scratch), then serialise. Consumes obj. */
static int
jw_finish(struct maf_jw *w, int (*check)(const json_t *, struct m2msec_error *),
          struct m2msec_buf *out, struct m2msec_error *err)
{
    int rv = -1;

    if (w->obj == NULL || w->failed) {
        m2msec_error_setr(err, M2MSEC_ERR_INVALID_ARGUMENT, MSG_RSC_INTERNAL,
                          "refusing to encode: a member is missing or not valid UTF-8");
        goto out;
    }
    if (check(w->obj, err) == -1) {
        if (err != NULL && err->code != M2MSEC_ERR_NOMEM) {
            err->code = M2MSEC_ERR_INVALID_ARGUMENT;
            err->rsc = MSG_RSC_INTERNAL;
        }
        m2msec_error_wrap(err, "refusing to encode");
        goto out;
    }
    if (m2msec_json_dump(w->obj, out, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    json_decref(w->obj);
    w->obj = NULL;
    return rv;
}

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

static int
req_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_mafreg_req *out = vout;
    struct m2msec_jr jr;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    jr_host(&jr, "mafFQDN", 1, MSG_FQDN_MAX, &out->maf_fqdn);
    m2msec_jr_time(&jr, "et", 1, &out->et, NULL);
    m2msec_jr_strlist(&jr, "lbl", 0, M2MSEC_LABELS_MAX, MSG_ID_MAX, &out->lbl, &out->nlbl,
                      &out->has_lbl);
    jr_host(&jr, "adminFQDN", 1, MSG_FQDN_MAX, &out->admin_fqdn);
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_mafreg_req_clear(out);
        return -1;
    }
    return 0;
}

static int
req_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_mafreg_req tmp;
    int rv = req_from_json(v, &tmp, err);

    m2msec_mafreg_req_clear(&tmp);
    return rv;
}

int
m2msec_mafreg_req_encode(const struct m2msec_mafreg_req *m, struct m2msec_buf *out,
                         struct m2msec_error *err)
{
    struct maf_jw w = { json_object(), 0 };

    jw_str(&w, "mafFQDN", m->maf_fqdn);
    jw_time(&w, "et", m->et);
    if (m->has_lbl) {
        jw_labels(&w, m->lbl, m->nlbl);
    }
    jw_str(&w, "adminFQDN", m->admin_fqdn);
    return jw_finish(&w, req_check, out, err);
}

int
m2msec_mafreg_req_decode(const uint8_t *buf, size_t len, struct m2msec_mafreg_req *out,
                         struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return maf_decode(buf, len, req_from_json, out, err);
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

static int
resp_from_json(const json_t *v, void *vout, struct m2msec_error *err)
{
    struct m2msec_mafreg_resp *out = vout;
    struct m2msec_jr jr;

    memset(out, 0, sizeof(*out));
    m2msec_jr_init(&jr, v);
    m2msec_jr_str(&jr, "regID", 1, MSG_REG_ID_MAX, &out->reg_id);
    m2msec_jr_strlist(&jr, "lbl", 0, M2MSEC_LABELS_MAX, MSG_ID_MAX, &out->lbl, &out->nlbl,
                      &out->has_lbl);
    m2msec_jr_time(&jr, "et", 1, &out->et, NULL);
    m2msec_jr_str(&jr, "clientID", 1, MSG_ID_MAX, &out->client_id);
    jr_host(&jr, "adminFQDN", 1, MSG_FQDN_MAX, &out->admin_fqdn);
    jr_host(&jr, "assignedSymmKeyID", 0, MSG_KMID_MAX, &out->assigned_kmid);
    if (!jr.failed && out->assigned_kmid != NULL && strchr(out->assigned_kmid, '@') == NULL) {
        m2msec_jr_fail(&jr, "assignedSymmKeyID", "not of the form <relative KmID>@<MAF-FQDN>");
    }
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_mafreg_resp_clear(out);
        return -1;
    }
    return 0;
}

static int
resp_check(const json_t *v, struct m2msec_error *err)
{
    struct m2msec_mafreg_resp tmp;
    int rv = resp_from_json(v, &tmp, err);

    m2msec_mafreg_resp_clear(&tmp);
    return rv;
}

int
m2msec_mafreg_resp_encode(const struct m2msec_mafreg_resp *m, struct m2msec_buf *out,
                          struct m2msec_error *err)
{
    struct maf_jw w = { json_object(), 0 };

    jw_str(&w, "regID", m->reg_id);
    if (m->has_lbl) {
        jw_labels(&w, m->lbl, m->nlbl);
    }
    jw_time(&w, "et", m->et);
    jw_str(&w, "clientID", m->client_id);
    jw_str(&w, "adminFQDN", m->admin_fqdn);
    jw_str(&w, "assignedSymmKeyID", m->assigned_kmid);
    return jw_finish(&w, resp_check, out, err);
}

int
m2msec_mafreg_resp_decode(const uint8_t *buf, size_t len, struct m2msec_mafreg_resp *out,
                          struct m2msec_error *err)
{
    memset(out, 0, sizeof(*out));
    return maf_decode(buf, len, resp_from_json, out, err);
}
