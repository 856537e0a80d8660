/*
 * codec/maf_msg.h - the MAF Client Registration messages (docs/protocol-maf.md).
 *
 * Layer: codec. Same rules as codec/mef_msg.h: strict decoders (unknown
 * members, wrong types, oversized strings: rsc 4000), encoders that run the
 * decoder's checks before serialising, _clear() accepting a zeroed struct.
 */
#ifndef M2MSEC_CODEC_MAF_MSG_H
#define M2MSEC_CODEC_MAF_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"

/* @spec TS-0003 8.8.2.3 table 8.8.2.3-1: MAF Client Registration request */
struct m2msec_mafreg_req {
    char *maf_fqdn;
    int64_t et;
    char **lbl; /* NULL-terminated, optional */
    size_t nlbl;
    int has_lbl;
    char *admin_fqdn;
};

/* @spec TS-0003 8.8.2.3 table 8.8.2.3-2: MAF Client Registration response */
struct m2msec_mafreg_resp {
    char *reg_id;
    char **lbl;
    size_t nlbl;
    int has_lbl;
    int64_t et;
    char *client_id;
    char *admin_fqdn;
    char *assigned_kmid; /* assignedSymmKeyID, optional: "<rel>@<MAF-FQDN>" */
};

int m2msec_mafreg_req_encode(const struct m2msec_mafreg_req *m, struct m2msec_buf *out,
                             struct m2msec_error *err);
int m2msec_mafreg_req_decode(const uint8_t *buf, size_t len, struct m2msec_mafreg_req *out,
                             struct m2msec_error *err);
void m2msec_mafreg_req_clear(struct m2msec_mafreg_req *m);

int m2msec_mafreg_resp_encode(const struct m2msec_mafreg_resp *m, struct m2msec_buf *out,
                              struct m2msec_error *err);
int m2msec_mafreg_resp_decode(const uint8_t *buf, size_t len, struct m2msec_mafreg_resp *out,
                              struct m2msec_error *err);
void m2msec_mafreg_resp_clear(struct m2msec_mafreg_resp *m);

/*
 * The other MAF messages have no MAF-specific code: Registration Update and
 * Configuration Retrieval (8.8.2.4, 8.8.2.5) are m2msec_reg_update_* and
 * m2msec_reg_cfg_* of codec/mef_msg.h with M2MSEC_REG_MAF; Key Registration,
 * Retrieval and Update (8.8.2.7 - 8.8.2.9) are codec/keyreg_msg.h's.
 */

#endif
