/*
 * codec/keyreg_msg.h - the Key Registration, Key Retrieval and Key
 * Registration Update messages, for the MEF and for the MAF.
 *
 * Layer: codec (util and codec/json only). TS-0003 gives the MEF procedures
 * (8.3.5.2.7 - 8.3.5.2.10) and the MAF procedures (8.8.2.7 - 8.8.2.10) the
 * same message shapes; only the name of the registrar's FQDN member differs
 * ("mefFQDN" or "mafFQDN"), so every function takes the peer, as the
 * m2msec_reg_* Client Registration functions of codec/mef_msg.h do.
 *
 * The codec checks syntax: member names and types, string and list bounds,
 * canonical base64 of exactly M2MSEC_KEYREG_KEY_LEN key bytes, the
 * sec:relKeyID character set, a two-digit SUID. What a SUID allows (which
 * registry, how many targets, whether a target is a CSE-ID or AE-ID) is the
 * TS-0003 rule set of proto/keyreg.h, applied by the registrar and, before
 * sending, by the client. Decoders are strict (rsc 4000, member named) and
 * leave *out zeroed on failure; encoders run the decoder's checks on what
 * they built; _clear() frees (and wipes key members) and accepts a zeroed
 * struct. Member names are the project's (docs/protocol-messages.md).
 */
#ifndef M2MSEC_CODEC_KEYREG_MSG_H
#define M2MSEC_CODEC_KEYREG_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "codec/mef_msg.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"

#define M2MSEC_KEYREG_KEY_LEN     32 /* Key Value: Kc and its siblings (TS-0003 10.3.1) */
#define M2MSEC_KEYREG_TARGETS_MAX 16
#define M2MSEC_KEYREG_REL_MAX     64 /* RelativeKeyID characters */
#define M2MSEC_KEYREG_ID_MAX      512
#define M2MSEC_KEYREG_SUID_MIN    10 /* m2m:suid is two decimal digits, 10..45 defined */
#define M2MSEC_KEYREG_SUID_MAX    45

/*
 * @spec TS-0003 8.3.5.2.7 table 8.3.5.2.7-1 / 8.8.2.7 table 8.8.2.7-1:
 * Key Registration request. targetIDs is optional on the wire (0..1); when
 * present it holds 1..M2MSEC_KEYREG_TARGETS_MAX ids. key_value absent means
 * the key is exported from the (D)TLS session (10.3.1).
 */
struct m2msec_keyreg_req {
    char *fqdn; /* "mefFQDN" / "mafFQDN" */
    int64_t et;
    char **lbl; /* NULL-terminated, optional */
    size_t nlbl;
    int has_lbl;
    char *admin_fqdn;
    unsigned suid;
    char **target_ids; /* NULL-terminated; NULL when absent */
    size_t ntargets;
    struct m2msec_secret *key_value; /* optional */
};

/* @spec TS-0003 8.3.5.2.7 table 8.3.5.2.7-2 / 8.8.2.7 table 8.8.2.7-2 */
struct m2msec_keyreg_resp {
    char *rel_key_id;
    int64_t et;
    char *source_id; /* Source MEF / MAF Client ID */
    char **lbl;
    size_t nlbl;
    int has_lbl;
    char *admin_fqdn;
    unsigned suid;
    char **target_ids; /* required in a response */
    size_t ntargets;
};

/* @spec TS-0003 8.3.5.2.8 table 8.3.5.2.8-2 / 8.8.2.8 table 8.8.2.8-2: Key Retrieval response */
struct m2msec_keyreg_get_resp {
    int64_t et;
    char *source_id;
    char **lbl;
    size_t nlbl;
    int has_lbl;
    char *admin_fqdn;
    unsigned suid;
    struct m2msec_secret *key_value;
};

/*
 * @spec TS-0003 8.3.5.2.9 tables 8.3.5.2.9-1 and -2 / 8.8.2.9: Key
 * Registration Update. Request: the FQDN member, and at least one of et,
 * lbl ([] clears the labels) and targetIDs; the Key Value itself cannot be
 * changed (the clause updates metadata only), so keyValue is an unknown
 * member. Response: only the members the request carried, never the FQDN.
 */
struct m2msec_keyreg_update {
    char *fqdn; /* request only */
    int64_t et;
    int has_et;
    char **lbl;
    size_t nlbl;
    int has_lbl;
    char **target_ids;
    size_t ntargets;
    int has_targets;
};

/* 1 when s is a RelativeKeyID this codec accepts: 1..64 of letters, digits, '.', '_', '-'. */
int m2msec_keyreg_rel_valid(const char *s);
/* "mefFQDN" or "mafFQDN". */
const char *m2msec_keyreg_fqdn_member(enum m2msec_reg_peer peer);

int m2msec_keyreg_req_encode(enum m2msec_reg_peer peer, const struct m2msec_keyreg_req *m,
                             struct m2msec_buf *out, struct m2msec_error *err);
int m2msec_keyreg_req_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                             struct m2msec_keyreg_req *out, struct m2msec_error *err);
void m2msec_keyreg_req_clear(struct m2msec_keyreg_req *m);

/* The response shapes do not depend on the peer; it is taken for symmetry and checked. */
int m2msec_keyreg_resp_encode(enum m2msec_reg_peer peer, const struct m2msec_keyreg_resp *m,
                              struct m2msec_buf *out, struct m2msec_error *err);
int m2msec_keyreg_resp_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                              struct m2msec_keyreg_resp *out, struct m2msec_error *err);
void m2msec_keyreg_resp_clear(struct m2msec_keyreg_resp *m);

int m2msec_keyreg_get_resp_encode(enum m2msec_reg_peer peer, const struct m2msec_keyreg_get_resp *m,
                                  struct m2msec_buf *out, struct m2msec_error *err);
int m2msec_keyreg_get_resp_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                                  struct m2msec_keyreg_get_resp *out, struct m2msec_error *err);
void m2msec_keyreg_get_resp_clear(struct m2msec_keyreg_get_resp *m);

/* is_request: the FQDN member is required and one update member must be present. */
int m2msec_keyreg_update_encode(enum m2msec_reg_peer peer, const struct m2msec_keyreg_update *m,
                                int is_request, struct m2msec_buf *out, struct m2msec_error *err);
int m2msec_keyreg_update_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                                int is_request, struct m2msec_keyreg_update *out,
                                struct m2msec_error *err);
void m2msec_keyreg_update_clear(struct m2msec_keyreg_update *m);

#endif
