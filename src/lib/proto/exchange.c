/*
 * proto/exchange.c - Enrolment Exchange logic shared by the MEF and the Enrolee.
 *
 * Layer: proto (I/O-free). See exchange.h.
 */
#include <string.h>

#include "proto/exchange.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"

static int
dup_str(char **dst, const char *src, struct m2msec_error *err)
{
    *dst = NULL;
    if (src == NULL) {
        return 0;
    }
    *dst = m2msec_strdup(src);
    if (*dst == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int
instruction_copy(struct m2msec_instruction *dst, const struct m2msec_instruction *src,
                 struct m2msec_error *err)
{
    memset(dst, 0, sizeof(*dst));
    dst->type = src->type;
    dst->lifetime = src->lifetime;
    if (dup_str(&dst->uri, src->uri, err) == -1 ||
        dup_str(&dst->credential_type, src->credential_type, err) == -1 ||
        dup_str(&dst->key_reg_uri, src->key_reg_uri, err) == -1 ||
        dup_str(&dst->key_ret_uri, src->key_ret_uri, err) == -1 ||
        dup_str(&dst->client_reg_uri, src->client_reg_uri, err) == -1 ||
        dup_str(&dst->trust_anchors, src->trust_anchors, err) == -1) {
        m2msec_instruction_clear(dst);
        return -1;
    }
    return 0;
}

/*
 * @spec TS-0003 8.3.2.1 table 8.3.2.1-3: a MAF Enrolment instruction names the
 * MAF Key Registration, Key Retrieval and (optionally) Client Registration URIs.
 * In our mapping all three MAF procedures live under <base>/maf (docs/PROTOCOL.md).
 */
int
m2msec_maf_instruction(const char *maf_base_uri, int64_t lifetime, struct m2msec_instruction *out,
                       struct m2msec_error *err)
{
    struct m2msec_buf uri;
    size_t blen;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    m2msec_buf_init(&uri, M2MSEC_URI_MAX + 1);
    blen = strlen(maf_base_uri);
    while (blen > 0 && maf_base_uri[blen - 1] == '/') {
        blen--;
    }
    if (blen == 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "empty MAF URI");
        goto out;
    }
    if (m2msec_buf_append(&uri, maf_base_uri, blen, err) == -1 ||
        m2msec_buf_append_str(&uri, "/" M2MSEC_PATH_MAF_BASE, err) == -1) {
        goto out;
    }
    if (uri.len > M2MSEC_URI_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "MAF URI too long");
        goto out;
    }
    out->type = M2MSEC_INSTR_MAF_ENROLMENT;
    out->lifetime = lifetime;
    if (dup_str(&out->credential_type, "symmetricKey", err) == -1 ||
        dup_str(&out->key_reg_uri, (const char *)uri.data, err) == -1 ||
        dup_str(&out->key_ret_uri, (const char *)uri.data, err) == -1 ||
        dup_str(&out->client_reg_uri, (const char *)uri.data, err) == -1) {
        m2msec_instruction_clear(out);
        goto out;
    }
    rv = 0;
out:
    m2msec_buf_free(&uri);
    return rv;
}

int
m2msec_exchange_plan(struct m2msec_exchange *x, const char *id,
                     const struct m2msec_enrolee_policy *policy, const struct m2msec_enrol_req *ind,
                     int64_t ke_expires, struct m2msec_error *err)
{
    size_t i;

    memset(x, 0, sizeof(*x));
    if (m2msec_strlcpy(x->id, id, sizeof(x->id)) == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "exchange id too long");
    }
    /* Order of 8.3.2.1: certificate enrolment, MAF enrolment(s), remote management. */
    if (ind->cert_enrolment && policy->cert_uri != NULL) {
        x->instr[x->ninstr].type = M2MSEC_INSTR_CERT_ENROLMENT;
        if (dup_str(&x->instr[x->ninstr].uri, policy->cert_uri, err) == -1) {
            goto fail;
        }
        x->ninstr++;
    }
    if (ind->maf_enrolment) {
        for (i = 0; i < policy->nmaf; i++) {
            if (x->ninstr + 1 >= M2MSEC_EXCHANGE_MAX_INSTR) {
                m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "too many instructions");
                goto fail;
            }
            if (m2msec_maf_instruction(policy->maf_uris[i], ke_expires, &x->instr[x->ninstr],
                                       err) == -1) {
                goto fail;
            }
            x->ninstr++;
        }
    }
    if (ind->remote_mgmt && policy->rm_uri != NULL) {
        x->instr[x->ninstr].type = M2MSEC_INSTR_REMOTE_MGMT;
        if (dup_str(&x->instr[x->ninstr].uri, policy->rm_uri, err) == -1) {
            goto fail;
        }
        x->ninstr++;
    }
    /*
     * @spec seed 000 steps 6-7 [PROJECT]: IBC enrolment last; its lifetime caps
     * the credential at the Ke expiry (the Enrolment Expiry of the seed).
     */
    if (ind->ibc_enrolment && policy->ibc) {
        if (x->ninstr >= M2MSEC_EXCHANGE_MAX_INSTR) {
            m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "too many instructions");
            goto fail;
        }
        x->instr[x->ninstr].type = M2MSEC_INSTR_IBC_ENROLMENT;
        x->instr[x->ninstr].lifetime = ke_expires;
        x->ninstr++;
    }
    return 0;
fail:
    m2msec_exchange_clear(x);
    return -1;
}

int
m2msec_exchange_next(struct m2msec_exchange *x, struct m2msec_enrol_resp *resp,
                     struct m2msec_error *err)
{
    memset(resp, 0, sizeof(*resp));
    if (x->ended) {
        return m2msec_error_setr(err, M2MSEC_ERR_INVALID_STATE, 4005,
                                 "the enrolment exchange has ended");
    }
    if (dup_str(&resp->exchange_id, x->id, err) == -1) {
        return -1;
    }
    x->step++;
    resp->step = x->step;
    if (x->step > x->ninstr) {
        resp->end = 1;
        x->ended = 1;
        return 0;
    }
    if (instruction_copy(&resp->instr, &x->instr[x->step - 1], err) == -1) {
        m2msec_enrol_resp_clear(resp);
        return -1;
    }
    return 0;
}

int
m2msec_exchange_report(struct m2msec_exchange *x, const struct m2msec_enrol_report *r,
                       struct m2msec_error *err)
{
    if (x->ended) {
        return m2msec_error_setr(err, M2MSEC_ERR_INVALID_STATE, 4005,
                                 "the enrolment exchange has ended");
    }
    if (x->step == 0 || r->step != x->step) {
        return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, 4000,
                                 "report for step %u, expected step %u", r->step, x->step);
    }
    if (!r->success) {
        x->failures++;
    }
    return 0;
}

int
m2msec_exchange_ibc_claim(struct m2msec_exchange *x, unsigned step, struct m2msec_error *err)
{
    if (x->ended) {
        return m2msec_error_setr(err, M2MSEC_ERR_INVALID_STATE, 4005,
                                 "the enrolment exchange has ended");
    }
    if (x->step == 0 || step != x->step || x->step > x->ninstr) {
        return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, 4000,
                                 "IBC credential request for step %u, current step %u", step,
                                 x->step);
    }
    if (x->instr[x->step - 1].type != M2MSEC_INSTR_IBC_ENROLMENT) {
        return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, 4000,
                                 "step %u is not an IBC enrolment instruction", step);
    }
    if (x->ibc_issued == x->step) {
        return m2msec_error_setr(err, M2MSEC_ERR_REFUSED, 4105,
                                 "the IBC credential of step %u was already issued", step);
    }
    x->ibc_issued = x->step;
    return 0;
}

void
m2msec_exchange_ibc_unmark(struct m2msec_exchange *x)
{
    x->ibc_issued = 0;
}

void
m2msec_exchange_clear(struct m2msec_exchange *x)
{
    size_t i;

    for (i = 0; i < M2MSEC_EXCHANGE_MAX_INSTR; i++) {
        m2msec_instruction_clear(&x->instr[i]);
    }
    memset(x, 0, sizeof(*x));
}

static int
fail_report(struct m2msec_enrol_report *report, unsigned step, const char *reason,
            struct m2msec_error *err)
{
    report->step = step;
    report->success = 0;
    return dup_str(&report->reason, reason, err);
}

int
m2msec_exchange_answer(const struct m2msec_enrol_req *ind, const struct m2msec_instruction *in,
                       unsigned step, struct m2msec_enrol_report *report, struct m2msec_error *err)
{
    memset(report, 0, sizeof(*report));
    switch (in->type) {
    case M2MSEC_INSTR_CERT_ENROLMENT:
        if (!ind->cert_enrolment) {
            return fail_report(report, step, "certificate enrolment was not indicated", err);
        }
        /* No EST/SCEP client yet (TS-0003 8.3.6): say so rather than pretend. */
        return fail_report(report, step, "certificate enrolment is not supported", err);
    case M2MSEC_INSTR_MAF_ENROLMENT:
        if (!ind->maf_enrolment) {
            return fail_report(report, step, "MAF enrolment was not indicated", err);
        }
        break;
    case M2MSEC_INSTR_REMOTE_MGMT:
        if (!ind->remote_mgmt) {
            return fail_report(report, step, "remote management was not indicated", err);
        }
        break;
    case M2MSEC_INSTR_IBC_ENROLMENT:
        /* The credential request itself is the client's (client/ibc.c). */
        if (!ind->ibc_enrolment) {
            return fail_report(report, step, "IBC enrolment was not indicated", err);
        }
        break;
    case M2MSEC_INSTR_NONE:
        return fail_report(report, step, "unknown instruction", err);
    }
    report->step = step;
    report->success = 1;
    return 0;
}
