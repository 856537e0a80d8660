/*
 * client/client_int.h - internals of the public client objects (include/m2msec.h).
 *
 * Layer: client (top of libm2msec). Composes tls, http, codec, proto, store
 * and crypto; the only layer that may include all of them.
 */
#ifndef M2MSEC_CLIENT_INT_H
#define M2MSEC_CLIENT_INT_H

#include <stdint.h>

#include "codec/mef_msg.h"
#include "crypto/kdf.h"
#include "http/http.h"
#include "proto/exchange.h"
#include "proto/ids.h"
#include "store/store.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/error.h"
#include "util/secret.h"

#define M2MSEC_DEFAULT_TIMEOUT_MS 10000
#define M2MSEC_CLIENT_ID1_MAX     200 /* proto/id2.h M2MSEC_ID2_ID1_MAX */
#define M2MSEC_STATE_DB           "state.db"
#define M2MSEC_STATE_KEK          "kek.hex"

struct m2msec_config {
    unsigned refs;
    int frozen;
    char *mef; /* host:port */
    char *sni;
    char *kpm_id;
    struct m2msec_secret *kpm;
    /*
     * Certificate RSPF (TS-0003 8.3.2.2), instead of kpm_id/kpm: our
     * certificate chain (PEM) and key (PEM or pkcs11: URL), and the trust
     * anchors for the MEF's FQDN certificate.
     */
    char *cert_file;
    char *key_file;
    char *mef_ca;
    char *state_dir;
    char *maf;      /* host:port (client/maf.c) */
    char *maf_fqdn; /* the MAF's FQDN */
    unsigned timeout_ms;
    struct m2msec_enrol_req ind;
    struct m2msec_error err;
    /*
     * IBC enrolment (client/ibc.c; seed 000): the ID1 to ask for, "" for the
     * Enrolee-ID the MEF returns (ind.ibc_enrolment says whether to ask).
     * A fixed array: config.c's free needs no change.
     */
    char ibc_id1[M2MSEC_CLIENT_ID1_MAX + 1];
};

struct m2msec_client_instr {
    char *type;
    char *uri;
};

struct m2msec_client {
    struct m2msec_config *cfg;
    struct m2msec_db *db; /* device state store, opened on first use, kept until free */
    struct m2msec_error err;
    m2msec_step_cb step_cb;
    void *step_arg;
    /* last enrolment */
    char *keid;
    int64_t ke_expires;
    char *enrolee_id;
    struct m2msec_client_instr instr[M2MSEC_EXCHANGE_MAX_INSTR];
    size_t ninstr;
    /*
     * Entity A (client/connect.c): register as an AE with this App-ID instead
     * of GET / ("" for GET). A fixed array: client.c's free needs no change.
     */
    char saef_app_id[M2MSEC_ID_MAX + 1];
    /* last PKI bootstrap (client/bootstrap.c), NULL before one succeeded */
    struct client_root *root;
    /* IBC credential of the last enrolment (client/ibc.c): ID1 ("" none) and expiry */
    char ibc_id1[M2MSEC_CLIENT_ID1_MAX + 1];
    int64_t ibc_expires;
    unsigned ibc_mpk_version;
};

/* The result of a PKI bootstrap (seed 002; client/bootstrap.c). NULL is accepted. */
struct client_root;
void client_root_free(struct client_root *r);

struct m2msec_mef_reg {
    char *reg_id;
    char *client_id;
    char *admin_fqdn;
    int64_t expires;
    char *config_json;
};

struct m2msec_maf_reg {
    char *reg_id;
    char *client_id;
    char *admin_fqdn;
    char *kmid;
    int64_t expires;
    int64_t km_expires;
    int km_assigned;
    char *config_json; /* m2msec_client_maf_config only */
};

/* A live root credential of the state, as m2msec_state_root shows it. */
struct state_root {
    char *purpose;
    char *id;
    int64_t expires;
    char kcv[17];
};

struct m2msec_state {
    struct m2msec_secret *ke; /* live Ke, NULL when none or expired */
    char *keid;
    int64_t expires;
    int expired;
    char kcv[17];
    int has_kcv;
    struct state_root *roots; /* PKI bootstrap (seed 002) */
    size_t nroots;
    char *ibc_id1; /* IBC credential (seed 000), NULL when none */
    int64_t ibc_expires;
};

/* A PPSK session with the configured MEF and the identity it answers as. */
struct client_session {
    struct m2msec_tls_conn *tls;
    char host[256]; /* Host header and expected MEF FQDN when a name */
    char origin[M2MSEC_ID_MAX + 8];
};

/* Drop a reference taken by m2msec_client_configure (or the creator's). */
void m2msec_config_unref(struct m2msec_config *cfg);

int client_session_open(struct m2msec_client *c, struct client_session *s,
                        struct m2msec_error *err);
void client_session_close(struct client_session *s);
/*
 * One request/response on the session. body may be NULL. On success (the
 * response's X-M2M-RSC equals expect_rsc) *resp is the response (caller frees).
 * Any other status is M2MSEC_ERR_REFUSED with err->rsc and the m2m:dbg text.
 */
int client_roundtrip(struct client_session *s, enum m2msec_http_method method, const char *target,
                     const struct m2msec_buf *body, int expect_rsc, struct m2msec_http_msg **resp,
                     struct m2msec_error *err);
/*
 * Read one HTTP response from a TLS connection, bounded by http/'s limits. The
 * read buffer is wiped (responses can carry keys). Shared by the client
 * procedures and the daemons' own outgoing requests (mafd's fetchCredentials).
 */
int client_read_response(struct m2msec_tls_conn *c, struct m2msec_http_msg **out,
                         struct m2msec_error *err);
void client_step(struct m2msec_client *c, const char *step, const char *fmt, ...)
        M2MSEC_PRINTF(3, 4);
/* Open (creating on first use) the device state store in the configured directory. */
struct m2msec_db *client_state_open(const char *dir, int create, struct m2msec_error *err);

struct m2msec_keyreg_get_resp;
/*
 * MEF Key Retrieval (TS-0003 8.3.5.2.8) of key_id ("<RelativeKeyID>@<MEF-FQDN>"
 * of the configured MEF) on a PPSK session (client/mefkey.c). *rs receives
 * the decoded response with the Key Value, its et in the future; the caller
 * clears it with m2msec_keyreg_get_resp_clear. For an Entity B resolving a
 * Key Identifier of its MEF.
 */
int client_mef_key_retrieve(struct m2msec_client *c, const char *key_id,
                            struct m2msec_keyreg_get_resp *rs, struct m2msec_error *err);

/*
 * What the MEF and MAF key-registry clients share (client/keyutil.c).
 */
/*
 * The start of a public call: clear c's last error; -1 (M2MSEC_ERR_INVALID_STATE
 * in c->err) when the client has no configuration yet.
 */
int client_ready(struct m2msec_client *c);
/*
 * A key handle of the API: metadata and the key check value. struct
 * m2msec_mef_key and struct m2msec_maf_key each hold one as their only
 * member, so a handle and its client_key convert into each other.
 */
struct client_key {
    char *key_id;
    char *source_id;
    unsigned suid;
    int64_t expires;
    char kcv[M2MSEC_KCV_HEX_LEN];
};
/* A new handle (copies of the strings, the check value of key), or NULL with err set. */
struct client_key *client_key_new(const char *key_id, const char *source_id, unsigned suid,
                                  int64_t expires, const struct m2msec_secret *key,
                                  struct m2msec_error *err);
/* NULL is accepted. */
void client_key_free(struct client_key *k);
/* A registry's Key Retrieval: client_mef_key_retrieve or client_maf_key_retrieve (below). */
typedef int (*client_key_retrieve_fn)(struct m2msec_client *c, const char *key_id,
                                      struct m2msec_keyreg_get_resp *rs, struct m2msec_error *err);
/* Key Retrieval of key_id through retrieve, as a new handle; NULL with err set. */
struct client_key *client_key_get(struct m2msec_client *c, const char *key_id,
                                  client_key_retrieve_fn retrieve, struct m2msec_error *err);
/* A registration id as the API takes it: 1..64 hex digits; INVALID_ARGUMENT otherwise. */
int client_reg_id_valid(const char *reg_id, struct m2msec_error *err);
/*
 * A NULL-terminated copy of a caller's list of n strings (m2msec_strlist_free);
 * INVALID_ARGUMENT "<what> <i> missing" when items or one of them is NULL.
 */
char **client_strlist_dup(const char *const *items, size_t n, const char *what,
                          struct m2msec_error *err);
struct m2msec_keyreg_update;
/*
 * A Key Registration Update request from the API's arguments into *up (zeroed
 * by the caller, cleared by it with m2msec_keyreg_update_clear): a lifetime
 * (0: keep et; at most UINT32_MAX), ntargets > 0 new targets, labels when
 * flags has set_labels (the only flag allowed), fqdn (copied; NULL: the caller
 * sets it). INVALID_ARGUMENT when nothing is to change.
 */
int client_keyupdate_req(const char *fqdn, uint64_t lifetime_s, const char *const *target_ids,
                         size_t ntargets, const char *const *labels, size_t nlabels, unsigned flags,
                         unsigned set_labels, struct m2msec_keyreg_update *up,
                         struct m2msec_error *err);

/*
 * Entity A / Entity B (client/connect.c, client/resolver.c, client/cse.c).
 */
/*
 * MAF Key Retrieval (TS-0003 8.8.2.8) of key_id on a KmID session with the
 * configured MAF (client/maf.c). *rs receives the decoded response with the
 * Key Value, its et in the future; the caller clears it with
 * m2msec_keyreg_get_resp_clear.
 */
int client_maf_key_retrieve(struct m2msec_client *c, const char *key_id,
                            struct m2msec_keyreg_get_resp *rs, struct m2msec_error *err);
/*
 * One "event=<name> key=value..." line to the resolver's event callback, if
 * any: (const char *key, const char *value) pairs ending with NULL. Values
 * come from the network: they are quoted and escaped unless plain tokens. A
 * NULL value is written as "-". Never pass key material.
 */
void resolver_event(struct m2msec_resolver *r, const char *event, ...) __attribute__((sentinel));
/* Borrowed own CSE-ID of Entity B (m2msec_resolver_set_cse_id), or NULL. */
const char *resolver_cse_id(const struct m2msec_resolver *r);
/* 1 when the steady-state events (cache hits, session ends) are wanted too. */
int resolver_debug_events(const struct m2msec_resolver *r);
/*
 * Certificate flavour names of the public API ("cse-id", "ae-id", "device",
 * "node-id", "raw", "fqdn", "any"; client/cse.c): the flavour, or UNSET for an
 * unknown name; and the static name of a flavour ("-" for UNSET).
 */
enum m2msec_cert_flavour client_cert_flavour(const char *name);
const char *client_cert_flavour_name(enum m2msec_cert_flavour f);

/*
 * IBC enrolment (client/ibc.c, seed 000 step 8-9 [PROJECT]): answer the
 * ibcEnrolment instruction `in` of step `step` in exchange xid on session s:
 * request the credential for the configured ID1 (or enrolee_id), validate it
 * (ID2, RFC 6507 5.1.2, the MPK it names) and store it sealed with the MPKs.
 * *report says success, or failure with the reason (nothing stored); -1 only
 * for a failure of the session itself (err set).
 */
int client_ibc_enrol(struct m2msec_client *c, struct client_session *s, const char *xid,
                     unsigned step, const struct m2msec_instruction *in, const char *enrolee_id,
                     struct m2msec_enrol_report *report, struct m2msec_error *err);

#endif
