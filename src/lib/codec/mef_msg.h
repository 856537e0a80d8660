/*
 * codec/mef_msg.h - JSON messages exchanged with the MEF (docs/PROTOCOL.md).
 *
 * Layer: codec. Encoder and decoder of each message live together in
 * mef_msg.c and are round-trip tested. Decoders are strict (unknown members,
 * wrong types, out-of-range values and oversized strings are rejected with
 * rsc 4000) and leave *out zeroed on failure. _clear() frees members and
 * accepts a zeroed struct.
 */
#ifndef M2MSEC_CODEC_MEF_MSG_H
#define M2MSEC_CODEC_MEF_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"

#define M2MSEC_URI_MAX     1024
#define M2MSEC_REASON_MAX  256
#define M2MSEC_LABELS_MAX  16
#define M2MSEC_TARGETS_MAX 32
#define M2MSEC_PEM_MAX     16384

/* @spec TS-0003 8.3.2.1 table 8.3.2.1-1: initial Enrolment Exchange request */
struct m2msec_enrol_req {
    int cert_enrolment;
    int maf_enrolment;
    int remote_mgmt;
    /*
     * @spec seed 000 step 5 [PROJECT] "ibcEnrolmentInd": the Enrolee asks for
     * an IBC credential (optional member; absent reads as false).
     */
    int ibc_enrolment;
};

/* @spec TS-0003 8.3.2.1 tables 8.3.2.1-2, -3, -4: instructions */
enum m2msec_instr_type {
    M2MSEC_INSTR_NONE = 0,
    M2MSEC_INSTR_CERT_ENROLMENT, /* "certificateEnrolment" */
    M2MSEC_INSTR_MAF_ENROLMENT,  /* "mafEnrolment" */
    M2MSEC_INSTR_REMOTE_MGMT,    /* "remoteManagement" */
    M2MSEC_INSTR_IBC_ENROLMENT,  /* "ibcEnrolment" [PROJECT, seed 000 step 7] */
};

struct m2msec_instruction {
    enum m2msec_instr_type type;
    char *uri; /* cert / remote management: base URI */
    /* MAF enrolment only */
    char *credential_type; /* "symmetricKey" or "certificate" */
    char *key_reg_uri;
    char *key_ret_uri;
    char *client_reg_uri; /* optional */
    char *trust_anchors;  /* optional, PEM */
    int64_t lifetime;     /* optional absolute expiry of the MAF key, 0 = absent;
                           * IBC enrolment: the latest expiry the credential may get */
};

/* MEF -> Enrolee: every Enrolment Exchange response. */
struct m2msec_enrol_resp {
    char *exchange_id; /* always */
    unsigned step;     /* 1-based index of the instruction, or of the end */
    /* first response only */
    char *keid;
    int64_t ke_expires;
    char *enrolee_id;
    /* either an instruction or the end of the exchange */
    int end;
    struct m2msec_instruction instr;
};

/* Enrolee -> MEF: report on instruction `step`. */
struct m2msec_enrol_report {
    unsigned step;
    int success;
    char *reason; /* optional */
};

/*
 * @spec TS-0003 8.3.5.2.3 MEF Client Registration. The MAF Client Registration
 * (8.8.2.3) is the same pair of messages; m2msec_reg_* below encode either,
 * and codec/maf_msg.h wraps them for the MAF.
 */
struct m2msec_mefreg_req {
    char *mef_fqdn; /* "mefFQDN", or "mafFQDN" through m2msec_reg_* for the MAF */
    int64_t et;
    char **lbl; /* NULL-terminated, optional */
    size_t nlbl;
    int has_lbl;
    char *admin_fqdn;
};
struct m2msec_mefreg_resp {
    char *reg_id;
    char **lbl;
    size_t nlbl;
    int has_lbl;
    int64_t et;
    char *client_id;
    char *admin_fqdn;
    char *assigned_kmid; /* MAF only: "assignedSymmKeyID", optional; NULL for the MEF */
};
/*
 * @spec TS-0003 8.3.5.2.5 MEF Client Registration Update (request and
 * response); 8.8.2.5 MAF Client Registration Update through m2msec_reg_update_*.
 */
struct m2msec_mefreg_update {
    char *mef_fqdn; /* request only: "mefFQDN", or "mafFQDN" for the MAF */
    int64_t et;
    int has_et;
    char **lbl;
    size_t nlbl;
    int has_lbl;
    char *assigned_kmid; /* MAF response only, optional: the new KmID after re-keying */
};
/*
 * @spec TS-0003 8.3.5.2.4 MEF Client Configuration Retrieval response
 * ("mefClientCfg": every member required); 8.8.2.4 MAF Client Configuration
 * Retrieval response through m2msec_reg_cfg_* ("mafClientCfg", sec:clientRegCfg:
 * httpPort (0: absent), et (has_et) and lbl optional, no targets nor expiry).
 */
struct m2msec_mefreg_cfg {
    char *fqdn;
    char *admin_fqdn;
    unsigned http_port;
    int64_t et;
    int has_et; /* MAF only; the MEF's always has et (set on decoding) */
    char **lbl;
    size_t nlbl;
    int has_lbl;
    char **targets; /* Enrolment Target ids configured for this Enrolee */
    size_t ntargets;
    uint64_t enrolment_expiry; /* seconds */
};

/* Enrolee policy held by the MEF (what it may be instructed to do); stored as JSON. */
struct m2msec_enrolee_policy {
    char *cert_uri;  /* certificate enrolment base URI, optional */
    char **maf_uris; /* MAF base URIs, one MAF Enrolment instruction each */
    size_t nmaf;
    char *rm_uri; /* remote management server, optional */
    /*
     * Not encoded (not part of the stored policy): set by mefd before planning
     * when its PKG can issue IBC credentials (seed 000 step 6).
     */
    int ibc;
};

int m2msec_enrol_req_encode(const struct m2msec_enrol_req *m, struct m2msec_buf *out,
                            struct m2msec_error *err);
int m2msec_enrol_req_decode(const uint8_t *buf, size_t len, struct m2msec_enrol_req *out,
                            struct m2msec_error *err);

int m2msec_enrol_resp_encode(const struct m2msec_enrol_resp *m, struct m2msec_buf *out,
                             struct m2msec_error *err);
int m2msec_enrol_resp_decode(const uint8_t *buf, size_t len, struct m2msec_enrol_resp *out,
                             struct m2msec_error *err);
void m2msec_enrol_resp_clear(struct m2msec_enrol_resp *m);
void m2msec_instruction_clear(struct m2msec_instruction *m);
const char *m2msec_instr_type_name(enum m2msec_instr_type t);

int m2msec_enrol_report_encode(const struct m2msec_enrol_report *m, struct m2msec_buf *out,
                               struct m2msec_error *err);
int m2msec_enrol_report_decode(const uint8_t *buf, size_t len, struct m2msec_enrol_report *out,
                               struct m2msec_error *err);
void m2msec_enrol_report_clear(struct m2msec_enrol_report *m);

int m2msec_mefreg_req_encode(const struct m2msec_mefreg_req *m, struct m2msec_buf *out,
                             struct m2msec_error *err);
int m2msec_mefreg_req_decode(const uint8_t *buf, size_t len, struct m2msec_mefreg_req *out,
                             struct m2msec_error *err);
void m2msec_mefreg_req_clear(struct m2msec_mefreg_req *m);

int m2msec_mefreg_resp_encode(const struct m2msec_mefreg_resp *m, struct m2msec_buf *out,
                              struct m2msec_error *err);
int m2msec_mefreg_resp_decode(const uint8_t *buf, size_t len, struct m2msec_mefreg_resp *out,
                              struct m2msec_error *err);
void m2msec_mefreg_resp_clear(struct m2msec_mefreg_resp *m);

/*
 * Client Registration with either registrar: the peer names the FQDN member
 * ("mefFQDN" or "mafFQDN") and whether the response may carry
 * assignedSymmKeyID (MAF only). The mefreg_ functions above are these for the MEF.
 */
enum m2msec_reg_peer {
    M2MSEC_REG_MEF = 0,
    M2MSEC_REG_MAF,
};
int m2msec_reg_req_encode(enum m2msec_reg_peer peer, const struct m2msec_mefreg_req *m,
                          struct m2msec_buf *out, struct m2msec_error *err);
int m2msec_reg_req_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                          struct m2msec_mefreg_req *out, struct m2msec_error *err);
int m2msec_reg_resp_encode(enum m2msec_reg_peer peer, const struct m2msec_mefreg_resp *m,
                           struct m2msec_buf *out, struct m2msec_error *err);
int m2msec_reg_resp_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                           struct m2msec_mefreg_resp *out, struct m2msec_error *err);

/*
 * Registration Update with either registrar. is_request selects whether the
 * FQDN member is required (request) or forbidden (response); assignedSymmKeyID
 * is allowed in a MAF response only. At least one of et and lbl in a request.
 */
int m2msec_reg_update_encode(enum m2msec_reg_peer peer, const struct m2msec_mefreg_update *m,
                             int is_request, struct m2msec_buf *out, struct m2msec_error *err);
int m2msec_reg_update_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                             int is_request, struct m2msec_mefreg_update *out,
                             struct m2msec_error *err);
/* Configuration Retrieval response with either registrar ("mefClientCfg" / "mafClientCfg"). */
int m2msec_reg_cfg_encode(enum m2msec_reg_peer peer, const struct m2msec_mefreg_cfg *m,
                          struct m2msec_buf *out, struct m2msec_error *err);
int m2msec_reg_cfg_decode(enum m2msec_reg_peer peer, const uint8_t *buf, size_t len,
                          struct m2msec_mefreg_cfg *out, struct m2msec_error *err);

/* The MEF's: m2msec_reg_update_* and m2msec_reg_cfg_* with M2MSEC_REG_MEF. */
int m2msec_mefreg_update_encode(const struct m2msec_mefreg_update *m, int is_request,
                                struct m2msec_buf *out, struct m2msec_error *err);
int m2msec_mefreg_update_decode(const uint8_t *buf, size_t len, int is_request,
                                struct m2msec_mefreg_update *out, struct m2msec_error *err);
void m2msec_mefreg_update_clear(struct m2msec_mefreg_update *m);

int m2msec_mefreg_cfg_encode(const struct m2msec_mefreg_cfg *m, struct m2msec_buf *out,
                             struct m2msec_error *err);
int m2msec_mefreg_cfg_decode(const uint8_t *buf, size_t len, struct m2msec_mefreg_cfg *out,
                             struct m2msec_error *err);
void m2msec_mefreg_cfg_clear(struct m2msec_mefreg_cfg *m);

int m2msec_enrolee_policy_encode(const struct m2msec_enrolee_policy *m, struct m2msec_buf *out,
                                 struct m2msec_error *err);
int m2msec_enrolee_policy_decode(const uint8_t *buf, size_t len, struct m2msec_enrolee_policy *out,
                                 struct m2msec_error *err);
void m2msec_enrolee_policy_clear(struct m2msec_enrolee_policy *m);

/*
 * @spec TS-0003 8.3.2.1 "Use of Remotely Provisioned Credential": the response
 * to GET /fetchCredentials/<KeID>/<SUID>. Success (table 8.3.2.1-5):
 * {"Status":true,"Credential":"<base64>","EnroleeID":"...","Lifetime":"<m2m:timestamp>"};
 * failure (table 8.3.2.1-6): {"Status":false,"ErrorString":"..."}. The member
 * names are the table's element names. The Credential decodes to
 * M2MSEC_FETCH_CRED_MIN..M2MSEC_FETCH_CRED_MAX bytes; the decoder puts it in a
 * struct m2msec_secret and wipes its own copies (jansson's copy of the base64
 * text is not under our control).
 */
#define M2MSEC_FETCH_CRED_MIN 16
#define M2MSEC_FETCH_CRED_MAX 64
struct m2msec_fetch_resp {
    int status; /* 1: success (Credential, EnroleeID, Lifetime), 0: failure (ErrorString) */
    struct m2msec_secret *credential; /* success: the derived key */
    char *enrolee_id;                 /* success */
    int64_t lifetime;                 /* success: absolute expiry of the credential (UTC) */
    char *error_string;               /* failure */
};
int m2msec_fetch_resp_encode(const struct m2msec_fetch_resp *m, struct m2msec_buf *out,
                             struct m2msec_error *err);
int m2msec_fetch_resp_decode(const uint8_t *buf, size_t len, struct m2msec_fetch_resp *out,
                             struct m2msec_error *err);
/* Frees (and wipes) the members; accepts a zeroed struct. */
void m2msec_fetch_resp_clear(struct m2msec_fetch_resp *m);

/* oneM2M error body {"m2m:dbg": "<message>"}. Decode gives an allocated string. */
int m2msec_dbg_encode(const char *msg, struct m2msec_buf *out, struct m2msec_error *err);
int m2msec_dbg_decode(const uint8_t *buf, size_t len, char **msg, struct m2msec_error *err);

/*
 * IBC credential enrolment [PROJECT; seed 000 steps 7-9, IBC-DESIGN 3.5;
 * docs/PROTOCOL.md 12.4]. On an ibcEnrolment instruction the Enrolee posts
 * its ID1 to POST /mef/enrolment/<exchangeID>/ibc; the MEF answers with the
 * credential (ID2, SSK, PVT) and the MPKs it publishes. GET /mef/pkg answers
 * with the MPK set alone. Binary values travel as base64; SSK is a secret
 * (the encoder writes it through m2msec_jw_key, the decoder wipes its copies).
 */
#define M2MSEC_IBC_SUITE_NAME  "ECCSI-P256-SHA256"
#define M2MSEC_MSG_POINT_LEN   65  /* KPAK, PVT: 0x04 || x || y */
#define M2MSEC_MSG_SCALAR_LEN  32  /* SSK */
#define M2MSEC_MSG_ID2_MAX     476 /* proto/id2.h M2MSEC_ID2_MAX */
#define M2MSEC_MSG_ID1_MAX     200 /* proto/id2.h M2MSEC_ID2_ID1_MAX */
#define M2MSEC_MPK_SET_MAX     8
#define M2MSEC_MPK_FQDN_MAX    253
#define M2MSEC_MPK_VERSION_MAX 1000000u
#define M2MSEC_KEY_PERIOD_MAX  (400ULL * 24 * 3600)

/* One published MPK (KPAK) of a PKG, with its validity and key-period policy. */
struct m2msec_mpk_info {
    char fqdn[M2MSEC_MPK_FQDN_MAX + 1]; /* "fqdn": the PKG (MEF), lowercase as in ID2 */
    unsigned version;                   /* "version": 1..M2MSEC_MPK_VERSION_MAX */
    uint8_t kpak[M2MSEC_MSG_POINT_LEN]; /* "kpak" */
    int64_t valid_from;                 /* "validFrom", m2m:timestamp */
    int64_t valid_to;                   /* "validTo", after validFrom */
    uint64_t key_period;                /* "keyPeriod" seconds, 1..M2MSEC_KEY_PERIOD_MAX */
    uint64_t key_period_offset;         /* "keyPeriodOffset", below keyPeriod */
};

/* {"current": n, "mpk": [...]}: 1..M2MSEC_MPK_SET_MAX entries, distinct versions, one FQDN. */
struct m2msec_mpk_set {
    unsigned current; /* the version new credentials are issued under; must be listed */
    struct m2msec_mpk_info mpk[M2MSEC_MPK_SET_MAX];
    size_t n;
};

/* Enrolee -> MEF: {"step": n, "id1": "..."} */
struct m2msec_ibc_cred_req {
    unsigned step; /* the ibcEnrolment instruction being answered */
    char *id1;     /* CSE-ID or AE-ID, 1..M2MSEC_MSG_ID1_MAX */
};

/*
 * MEF -> Enrolee: {"suite", "id2", "ssk", "pvt", "mpkVersion", "mpkSet"}.
 * mpkVersion (the KPAK the credential was issued under) must be in mpkSet.
 */
struct m2msec_ibc_cred_resp {
    uint8_t id2[M2MSEC_MSG_ID2_MAX];
    size_t id2_len;
    struct m2msec_secret *ssk; /* 32 bytes */
    uint8_t pvt[M2MSEC_MSG_POINT_LEN];
    unsigned mpk_version;
    struct m2msec_mpk_set mpks;
};

int m2msec_ibc_cred_req_encode(const struct m2msec_ibc_cred_req *m, struct m2msec_buf *out,
                               struct m2msec_error *err);
int m2msec_ibc_cred_req_decode(const uint8_t *buf, size_t len, struct m2msec_ibc_cred_req *out,
                               struct m2msec_error *err);
void m2msec_ibc_cred_req_clear(struct m2msec_ibc_cred_req *m);

int m2msec_ibc_cred_resp_encode(const struct m2msec_ibc_cred_resp *m, struct m2msec_buf *out,
                                struct m2msec_error *err);
int m2msec_ibc_cred_resp_decode(const uint8_t *buf, size_t len, struct m2msec_ibc_cred_resp *out,
                                struct m2msec_error *err);
/* Frees (wipes) the SSK; accepts a zeroed struct. */
void m2msec_ibc_cred_resp_clear(struct m2msec_ibc_cred_resp *m);

/* GET /mef/pkg response: the MPK set alone. */
int m2msec_mpk_set_encode(const struct m2msec_mpk_set *m, struct m2msec_buf *out,
                          struct m2msec_error *err);
int m2msec_mpk_set_decode(const uint8_t *buf, size_t len, struct m2msec_mpk_set *out,
                          struct m2msec_error *err);

#endif
