/*
 * codec/maf_msg.c - the MAF Client Registration messages, both directions.
 *
 * Layer: codec. They are the MEF ones with "mafFQDN" and the response's
 * optional "assignedSymmKeyID" (docs/protocol-maf.md): codec/mef_msg.c
 * encodes and decodes both, and this file only moves the members between the
 * MAF structs and the shared ones.
 */
#include <string.h>

#include "codec/json.h"
#include "codec/maf_msg.h"
#include "codec/mef_msg.h"
#include "util/mem.h"

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
