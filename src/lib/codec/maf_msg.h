/*
 * codec/maf_msg.h - JSON messages exchanged with the MAF (docs/protocol-maf.md).
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
 * @spec TS-0003 8.8.2.5 tables 8.8.2.5-1 and -2: MAF Client Registration
 * Update. The request names the MAF and carries et and/or lbl (at least one:
 * otherwise rsc 4000); the response carries only what the request carried,
 * plus assignedSymmKeyID when the update switched the client to a newly
 * provisioned Km (docs/protocol-maf.md section 2b). is_request selects the
 * variant: mafFQDN is refused in a response, assignedSymmKeyID in a request.
 */
struct m2msec_mafreg_update {
    char *maf_fqdn; /* request only */
    int64_t et;
    int has_et;
    char **lbl; /* NULL-terminated */
    size_t nlbl;
    int has_lbl;
    char *assigned_kmid; /* response only, optional: "<rel>@<MAF-FQDN>" */
};

int m2msec_mafreg_update_encode(const struct m2msec_mafreg_update *m, int is_request,
                                struct m2msec_buf *out, struct m2msec_error *err);
int m2msec_mafreg_update_decode(const uint8_t *buf, size_t len, int is_request,
                                struct m2msec_mafreg_update *out, struct m2msec_error *err);
void m2msec_mafreg_update_clear(struct m2msec_mafreg_update *m);

/*
 * @spec TS-0003 8.8.2.4 table 8.8.2.4-2: MAF Client Configuration Retrieval
 * response {"mafClientCfg": {...}}, the members of sec:clientRegCfg (12.4.2,
 * table 8.8.3.2-1): fqdn (the MAF), adminFQDN, httpPort (optional; 16-bit,
 * DEFECT-8), et and lbl (optional).
 */
struct m2msec_mafreg_cfg {
    char *fqdn;
    char *admin_fqdn;
    unsigned http_port; /* 0: absent */
    int64_t et;
    int has_et;
    char **lbl;
    size_t nlbl;
    int has_lbl;
};

int m2msec_mafreg_cfg_encode(const struct m2msec_mafreg_cfg *m, struct m2msec_buf *out,
                             struct m2msec_error *err);
int m2msec_mafreg_cfg_decode(const uint8_t *buf, size_t len, struct m2msec_mafreg_cfg *out,
                             struct m2msec_error *err);
void m2msec_mafreg_cfg_clear(struct m2msec_mafreg_cfg *m);

/*
 * MAF Key Registration and Key Retrieval (docs/protocol-maf.md section 3).
 * Codec rules: suid in 32..35 (MAF-distributed symmetric keys, TS-0004
 * m2m:suid); targetIDs exactly one for 32 and 33 (SAEF, ESPrim) and 1..16 for
 * 34 and 35 (ESData); keyValue exactly M2MSEC_MAFKEY_LEN bytes of canonical
 * base64; relativeKeyID 1..64 of letters, digits, '.', '_', '-' (sec:relKeyID).
 * Whether each target is a CSE-ID or AE-ID is checked by the MAF (proto/ids).
 */
#define M2MSEC_MAFKEY_LEN         32
#define M2MSEC_MAFKEY_TARGETS_MAX 16
#define M2MSEC_MAFKEY_SUID_MIN    32
#define M2MSEC_MAFKEY_SUID_MAX    35

/* @spec TS-0003 8.8.2.7 table 8.8.2.7-1: MAF Key Registration request */
struct m2msec_mafkey_req {
    char *maf_fqdn;
    int64_t et;
    char **lbl; /* NULL-terminated, optional */
    size_t nlbl;
    int has_lbl;
    char *admin_fqdn;
    unsigned suid;
    char **target_ids; /* NULL-terminated */
    size_t ntargets;
    struct m2msec_secret *key_value; /* optional: absent = exported from the session */
};

/* @spec TS-0003 8.8.2.7 table 8.8.2.7-2: MAF Key Registration response */
struct m2msec_mafkey_resp {
    char *rel_key_id;
    int64_t et;
    char *source_id;
    char **lbl;
    size_t nlbl;
    int has_lbl;
    char *admin_fqdn;
    unsigned suid;
    char **target_ids;
    size_t ntargets;
};

/* @spec TS-0003 8.8.2.8 table 8.8.2.8-2: MAF Key Retrieval response */
struct m2msec_mafkey_get_resp {
    int64_t et;
    char *source_id;
    char **lbl;
    size_t nlbl;
    int has_lbl;
    char *admin_fqdn;
    unsigned suid;
    struct m2msec_secret *key_value;
};

/* 1 when s is a valid RelativeKeyID as this codec accepts it. */
int m2msec_mafkey_rel_valid(const char *s);

int m2msec_mafkey_req_encode(const struct m2msec_mafkey_req *m, struct m2msec_buf *out,
                             struct m2msec_error *err);
int m2msec_mafkey_req_decode(const uint8_t *buf, size_t len, struct m2msec_mafkey_req *out,
                             struct m2msec_error *err);
void m2msec_mafkey_req_clear(struct m2msec_mafkey_req *m);

int m2msec_mafkey_resp_encode(const struct m2msec_mafkey_resp *m, struct m2msec_buf *out,
                              struct m2msec_error *err);
int m2msec_mafkey_resp_decode(const uint8_t *buf, size_t len, struct m2msec_mafkey_resp *out,
                              struct m2msec_error *err);
void m2msec_mafkey_resp_clear(struct m2msec_mafkey_resp *m);

int m2msec_mafkey_get_resp_encode(const struct m2msec_mafkey_get_resp *m, struct m2msec_buf *out,
                                  struct m2msec_error *err);
int m2msec_mafkey_get_resp_decode(const uint8_t *buf, size_t len,
                                  struct m2msec_mafkey_get_resp *out, struct m2msec_error *err);
void m2msec_mafkey_get_resp_clear(struct m2msec_mafkey_get_resp *m);

#endif
