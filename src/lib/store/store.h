/*
 * store/store.h - durable storage (SQLite), the only code that includes sqlite3.h.
 *
 * Layer: store. One struct m2msec_db per thread. Opened with WAL,
 * synchronous=FULL (a key is durable before the response that hands it out),
 * secure_delete=ON, foreign keys on, a busy timeout (admin commands may write
 * while a daemon runs), and versioned schema migrations per schema kind.
 * Secrets are sealed with AES-256-GCM under the KEK; the AAD is
 * "<kind>:<record id>" so a sealed value cannot be moved to another row.
 * Expired records are treated as absent by every getter.
 */
#ifndef M2MSEC_STORE_STORE_H
#define M2MSEC_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/secret.h"

enum m2msec_schema {
    M2MSEC_SCHEMA_MEF = 1, /* mefd */
    M2MSEC_SCHEMA_DEVICE,  /* libm2msec state directory */
    M2MSEC_SCHEMA_MAF,     /* mafd */
    M2MSEC_SCHEMA_CSE,     /* Entity B's resolver cache (store/cse.c) */
};

struct m2msec_db;

/* kek is copied. Creates the file (0600) and schema if missing. */
struct m2msec_db *m2msec_db_open(const char *path, enum m2msec_schema schema,
                                 const struct m2msec_secret *kek, struct m2msec_error *err);
void m2msec_db_close(struct m2msec_db *db);
/* Schema version in the file (PRAGMA user_version). */
int m2msec_db_schema_version(struct m2msec_db *db);

/*
 * MEF: Enrolees (KpmID -> Kpm, Enrolee-ID, Enrolment Targets, Enrolment Expiry, policy)
 */
struct m2msec_enrolee_rec {
    char *kpm_id;
    char *enrolee_id;
    char **targets; /* NULL-terminated list of Enrolment Target ids (order kept; a
                            * loaded record always has the array, empty when ntargets = 0) */
    size_t ntargets;
    uint64_t expiry_s; /* Enrolment Expiry: Ke lifetime in seconds */
    char *policy_json; /* codec/mef_msg.h m2msec_enrolee_policy, JSON */
    int64_t created;
    struct m2msec_secret *kpm; /* only when asked for */
    /*
     * @spec TS-0003 8.3.2.2 a certificate Enrolee (schema v5): cert_flavour is
     * set (M2MSEC_ENROLEE_CERT_FLAVOURS) and kpm stays NULL. Its kpm_id is
     * then the key every other table uses for the credential, namely the
     * Credential-ID of the certificate identity (10.4: "31-<hw id>",
     * "32-<CSE-ID>", "33-<AE-ID>", "34-<Node-ID>", formed by the caller);
     * such a row never authenticates a PSK handshake.
     */
    char *cert_flavour; /* "device", "node-id", "cse-id", "ae-id"; NULL: a Kpm Enrolee */
    char *cert_id;      /* the identifier in canonical form */
    char **cert_cas;    /* trust anchor files (absolute paths), at least one */
    size_t ncert_cas;
    char **cert_crls; /* CRL files; may be empty */
    size_t ncert_crls;
};
#define M2MSEC_ENROLEE_CERT_FLAVOURS "device, node-id, cse-id, ae-id"
void m2msec_enrolee_rec_free(struct m2msec_enrolee_rec *r);

/*
 * M2MSEC_ERR_REFUSED (rsc 4105) when the KpmID exists, or, for a certificate
 * Enrolee, when its (flavour, identifier) does. Exactly one of kpm and
 * cert_flavour is set.
 */
int m2msec_mef_enrolee_add(struct m2msec_db *db, const struct m2msec_enrolee_rec *r,
                           struct m2msec_error *err);
/*
 * M2MSEC_ERR_NOT_FOUND when absent. with_kpm: unseal Kpm into r->kpm; a
 * certificate Enrolee has none and is then NOT_FOUND too, so a PSK lookup
 * can never authenticate one.
 */
int m2msec_mef_enrolee_get(struct m2msec_db *db, const char *kpm_id, int with_kpm,
                           struct m2msec_enrolee_rec **out, struct m2msec_error *err);
/* The certificate Enrolee with this flavour and canonical identifier; NOT_FOUND when none. */
int m2msec_mef_enrolee_get_by_cert(struct m2msec_db *db, const char *flavour, const char *cert_id,
                                   struct m2msec_enrolee_rec **out, struct m2msec_error *err);
/* All Enrolees ordered by KpmID, without keys. *out is a NULL-terminated array. */
int m2msec_mef_enrolee_list(struct m2msec_db *db, struct m2msec_enrolee_rec ***out, size_t *n,
                            struct m2msec_error *err);
void m2msec_enrolee_list_free(struct m2msec_enrolee_rec **list);
/* Removes the Enrolee, its Ke and its registrations in one transaction. NOT_FOUND if absent. */
int m2msec_mef_enrolee_remove(struct m2msec_db *db, const char *kpm_id, struct m2msec_error *err);

/*
 * MEF: Enrolment Keys. One current Ke per Enrolee: putting a new one replaces
 * (and erases) the previous one in the same transaction.
 */
struct m2msec_ke_rec {
    uint8_t rel[16];
    char *kpm_id;
    int64_t created;
    int64_t expires;
    struct m2msec_secret *ke; /* only when asked for */
};
void m2msec_ke_rec_free(struct m2msec_ke_rec *r);

int m2msec_mef_ke_put(struct m2msec_db *db, const char *kpm_id, const uint8_t rel[16],
                      const struct m2msec_secret *ke, int64_t created, int64_t expires,
                      struct m2msec_error *err);

/*
 * Group commit of Ke puts: one BEGIN IMMEDIATE transaction, one COMMIT (one
 * fsync) for all items. Each item runs inside its own SAVEPOINT with the
 * semantics of m2msec_mef_ke_put, so an item that fails (Enrolee removed
 * meanwhile: NOT_FOUND; invalid input: INVALID_ARGUMENT; a failing statement)
 * is rolled back alone and reported in item->rv (-1) and item->err; the others
 * are stored (rv 0). Items are applied in order: of two items for the same
 * kpm_id the later one wins (both report success; one row remains, the
 * later one's). The caller fills kpm_id, rel, ke, created and expires; the
 * store sets rv and err.
 *
 * Returns 0 when the transaction committed (each item's outcome is in its rv,
 * an item's rv 0 meaning durable), -1 with err set when nothing was committed
 * (BEGIN or COMMIT failed, the transaction was lost, bad arguments): every item
 * then has rv -1 and that error. n = 0 is a no-op returning 0.
 */
struct m2msec_ke_put {
    const char *kpm_id;
    uint8_t rel[16];
    const struct m2msec_secret *ke;
    int64_t created;
    int64_t expires;
    int rv;                  /* out: 0 stored, -1 failed (see err) */
    struct m2msec_error err; /* out */
};
int m2msec_mef_ke_put_batch(struct m2msec_db *db, struct m2msec_ke_put *items, size_t n,
                            struct m2msec_error *err);
/* By RelativeKeID; NOT_FOUND when absent or expires <= now. */
int m2msec_mef_ke_get(struct m2msec_db *db, const uint8_t rel[16], int64_t now, int with_key,
                      struct m2msec_ke_rec **out, struct m2msec_error *err);
/* Current Ke of an Enrolee; NOT_FOUND when absent or expired. */
int m2msec_mef_ke_get_by_enrolee(struct m2msec_db *db, const char *kpm_id, int64_t now,
                                 int with_key, struct m2msec_ke_rec **out,
                                 struct m2msec_error *err);
/* Erase every Ke with expires <= now (and MEF registrations past their et). */
int m2msec_mef_sweep(struct m2msec_db *db, int64_t now, size_t *erased, struct m2msec_error *err);

/*
 * MEF: MEF Client Registrations (TS-0003 8.3.5.2.3 - 8.3.5.2.6)
 */
struct m2msec_mefreg_rec {
    char reg_id[33]; /* 32 lowercase hex; set by the caller: m2msec_rand_hex(reg_id, 16, err) */
    char *kpm_id;    /* the authenticated credential that owns it */
    char *client_id;
    char *admin_fqdn;
    char **labels; /* NULL-terminated or NULL */
    size_t nlabels;
    int64_t expires;
};
void m2msec_mefreg_rec_free(struct m2msec_mefreg_rec *r);
/*
 * REFUSED (rsc 4105) if this kpm_id already has a live registration for admin_fqdn
 * (compared ASCII case-insensitively) or reg_id is in use. The caller generates
 * r->reg_id (see above); INVALID_ARGUMENT when it is not 32 lowercase hex digits
 * or r->expires <= now. Labels must be non-empty strings; order is kept.
 */
int m2msec_mef_reg_create(struct m2msec_db *db, const struct m2msec_mefreg_rec *r, int64_t now,
                          struct m2msec_error *err);
/* NOT_FOUND when absent or expired. */
int m2msec_mef_reg_get(struct m2msec_db *db, const char *reg_id, int64_t now,
                       struct m2msec_mefreg_rec **out, struct m2msec_error *err);
/*
 * Update expires (when has_et) and labels (when has_lbl; nlabels = 0 clears them).
 * NOT_FOUND when absent/expired; INVALID_ARGUMENT when the new expires <= now.
 */
int m2msec_mef_reg_update(struct m2msec_db *db, const char *reg_id, int64_t now, int has_et,
                          int64_t expires, int has_lbl, char *const *labels, size_t nlabels,
                          struct m2msec_error *err);
/* NOT_FOUND when absent or expired (an expired record is left to m2msec_mef_sweep). */
int m2msec_mef_reg_delete(struct m2msec_db *db, const char *reg_id, int64_t now,
                          struct m2msec_error *err);

/*
 * MEF: Enrolment Targets (TS-0003 8.3.2.1 "Use of Remotely Provisioned
 * Credential"): who may fetch keys derived from an Enrolee's Ke. A target
 * authenticates either with a TLS client certificate, cert_fqdn being the SAN
 * dNSName that binds the connection to the target (unique, ASCII
 * case-insensitive), or with TLS-PSK, psk_id being its psk_identity (unique,
 * exact) and psk the key configured on both sides, stored sealed (AAD
 * "target-psk:<id>") with its key check value beside it. Exactly one of
 * cert_fqdn and psk_id is set.
 * id is the Enrolment-Target-ID: it must appear in the Enrolee's target list
 * and it is the identity input of the key derivation, byte for byte.
 * Validation of ids and SUIDs against their meaning is the caller's; the
 * store only requires non-empty strings and suids of the form "21" / "22,23".
 */
#define M2MSEC_TARGET_PSK_ID_MAX 128 /* bytes of printable ASCII, no space */
#define M2MSEC_TARGET_PSK_MIN    16  /* key bytes */
#define M2MSEC_TARGET_PSK_MAX    64
struct m2msec_target_rec {
    char *id;
    char *cert_fqdn;     /* certificate target; NULL for a PSK target */
    char *suids;         /* allowed SUIDs: decimal numbers separated by ',' */
    int legacy;          /* 1: TS-0003 10.3.2 / 10.3.3 derivations instead of 10.3.7 */
    uint64_t lifetime_s; /* cap on the credential lifetime; 0: only the Ke expiry */
    int64_t created;
    char *psk_id;              /* PSK target: its psk_identity; NULL for a certificate target */
    char *psk_kcv;             /* PSK target, loaded: the key check value of psk (hex) */
    struct m2msec_secret *psk; /* PSK target: add seals it; getters unseal it only when asked */
};
void m2msec_target_rec_free(struct m2msec_target_rec *r);
void m2msec_target_list_free(struct m2msec_target_rec **list);
/*
 * REFUSED (rsc 4105) when the id, the cert_fqdn (case-insensitively) or the
 * psk_id is taken. INVALID_ARGUMENT unless exactly one of cert_fqdn and
 * psk_id is set, psk_id is 1..M2MSEC_TARGET_PSK_ID_MAX printable ASCII bytes
 * without space, and a PSK target has a psk of M2MSEC_TARGET_PSK_MIN..MAX
 * bytes (a certificate target none). psk_kcv is computed here; the caller's
 * is ignored.
 */
int m2msec_mef_target_add(struct m2msec_db *db, const struct m2msec_target_rec *r,
                          struct m2msec_error *err);
/* NOT_FOUND (rsc 4004) when absent. id is compared exactly. No key is unsealed. */
int m2msec_mef_target_get(struct m2msec_db *db, const char *id, struct m2msec_target_rec **out,
                          struct m2msec_error *err);
/* By certificate name, ASCII case-insensitively; NOT_FOUND when no target has it. */
int m2msec_mef_target_get_by_cert(struct m2msec_db *db, const char *cert_fqdn,
                                  struct m2msec_target_rec **out, struct m2msec_error *err);
/*
 * By PSK identity, exactly; NOT_FOUND when no target has it. with_key: unseal
 * the key into (*out)->psk (AUTH when the sealed value does not open).
 */
int m2msec_mef_target_get_by_psk(struct m2msec_db *db, const char *psk_id, int with_key,
                                 struct m2msec_target_rec **out, struct m2msec_error *err);
/* All targets ordered by id, without keys. *out is a NULL-terminated array. */
int m2msec_mef_target_list(struct m2msec_db *db, struct m2msec_target_rec ***out, size_t *n,
                           struct m2msec_error *err);
/* NOT_FOUND when absent. */
int m2msec_mef_target_remove(struct m2msec_db *db, const char *id, struct m2msec_error *err);

/*
 * MEF: PKI bootstrap (seed 002, schema v6). A node class says which verified
 * certificate identities get a root credential and what it is for. flavour
 * is "device" or "node-id"; exactly one of id_prefix (a plain prefix of the
 * canonical identifier, the Credential-ID's value part) and cert_id (exact,
 * canonical) is set. purpose is "maf:<MAF-FQDN>" or "cse:<CSE-ID>" (checked
 * by the caller; the store requires a non-empty string). Anchor and CRL
 * files as for certificate Enrolees. Removing a class erases the root
 * credentials issued under it.
 */
#define M2MSEC_BOOTCLASS_FLAVOURS "device, node-id"
struct m2msec_bootclass_rec {
    char *name;
    char *flavour;
    char *id_prefix; /* NULL: cert_id */
    char *cert_id;   /* NULL: id_prefix */
    char *purpose;
    uint64_t lifetime_s; /* root credential lifetime, > 0 */
    int64_t created;
    char **cert_cas; /* at least one */
    size_t ncert_cas;
    char **cert_crls; /* may be empty */
    size_t ncert_crls;
};
void m2msec_bootclass_rec_free(struct m2msec_bootclass_rec *r);
void m2msec_bootclass_list_free(struct m2msec_bootclass_rec **list);
/* REFUSED (rsc 4105) when the name is taken; INVALID_ARGUMENT for a malformed record. */
int m2msec_mef_bootclass_add(struct m2msec_db *db, const struct m2msec_bootclass_rec *r,
                             struct m2msec_error *err);
/* All classes ordered by name, with their files. *out is NULL-terminated. */
int m2msec_mef_bootclass_list(struct m2msec_db *db, struct m2msec_bootclass_rec ***out, size_t *n,
                              struct m2msec_error *err);
/* NOT_FOUND when absent. Erases the class's root credentials in the same transaction. */
int m2msec_mef_bootclass_remove(struct m2msec_db *db, const char *name, struct m2msec_error *err);

/*
 * MEF: root credentials issued by the PKI bootstrap. rel is the relative part
 * of the identifier "<hex rel>@<MEF-FQDN>" (the KeID namespace, so targets
 * fetch it like a KeID); node is the Credential-ID of the node's certificate
 * identity, one live credential per node. The key is sealed with AAD
 * "root:<hex rel>".
 */
struct m2msec_rootcred_rec {
    uint8_t rel[16];
    char *node;
    char *class_name;
    char *enrolee_id; /* the EnroleeID handed to targets */
    char *purpose;
    int64_t created;
    int64_t expires;
    struct m2msec_secret *key; /* only when asked for */
};
void m2msec_rootcred_rec_free(struct m2msec_rootcred_rec *r);
/*
 * Store r (key required, expires > created), durable on return, replacing
 * (erasing) the node's previous credential in the same transaction. NOT_FOUND
 * when the class is gone; REFUSED when rel is taken.
 */
int m2msec_mef_rootcred_put(struct m2msec_db *db, const struct m2msec_rootcred_rec *r,
                            struct m2msec_error *err);
/* By rel; NOT_FOUND when absent or expires <= now. with_key unseals the key. */
int m2msec_mef_rootcred_get(struct m2msec_db *db, const uint8_t rel[16], int64_t now, int with_key,
                            struct m2msec_rootcred_rec **out, struct m2msec_error *err);
/* The live credential of a node (Credential-ID); NOT_FOUND when none. */
int m2msec_mef_rootcred_get_by_node(struct m2msec_db *db, const char *node, int64_t now,
                                    int with_key, struct m2msec_rootcred_rec **out,
                                    struct m2msec_error *err);

/*
 * Device state (libm2msec): the current enrolment.
 */
struct m2msec_enrolment_rec {
    char *keid;
    char *mef; /* host:port used */
    char *kpm_id;
    char *enrolee_id; /* may be NULL */
    int64_t created;
    int64_t expires;
    char *exchange_json;      /* instructions received, JSON array text, may be NULL */
    struct m2msec_secret *ke; /* only when asked for */
};
void m2msec_enrolment_rec_free(struct m2msec_enrolment_rec *r);
/* Replaces the previous enrolment (erasing its Ke) in one transaction. */
int m2msec_dev_enrolment_put(struct m2msec_db *db, const struct m2msec_enrolment_rec *r,
                             struct m2msec_error *err);
/*
 * The stored enrolment even when expired (callers check expires); NOT_FOUND if none.
 * with_key after m2msec_dev_sweep erased the Ke fails with M2MSEC_ERR_EXPIRED
 * (call without with_key to read the record); r->ke is never NULL on success
 * with with_key. A Ke that fails to unseal (tampering, wrong KEK) is M2MSEC_ERR_AUTH.
 */
int m2msec_dev_enrolment_get(struct m2msec_db *db, int with_key, struct m2msec_enrolment_rec **out,
                             struct m2msec_error *err);
/* Erase an expired enrolment's Ke (record kept with ke erased); *erased = 1 if done. */
int m2msec_dev_sweep(struct m2msec_db *db, int64_t now, int *erased, struct m2msec_error *err);

/*
 * Device state: root credentials received by the PKI bootstrap (seed 002),
 * by identifier "<hex>@<MEF-FQDN>" (ASCII case-insensitive), at most one per
 * purpose ("maf:<FQDN>" / "cse:<CSE-ID>", case-insensitive): a new one for
 * the same purpose or identifier replaces the old. Sealed with AAD
 * "dev-root:<id>".
 */
struct m2msec_dev_root_rec {
    char *id;
    char *mef; /* host:port used */
    char *purpose;
    char *enrolee_id; /* the EnroleeID the MEF hands to the target; the originator */
    char *node;       /* our identity as the MEF read it (Credential-ID) */
    int64_t created;
    int64_t expires;
    struct m2msec_secret *key; /* only when asked for */
};
void m2msec_dev_root_rec_free(struct m2msec_dev_root_rec *r);
int m2msec_dev_root_put(struct m2msec_db *db, const struct m2msec_dev_root_rec *r,
                        struct m2msec_error *err);
/* NOT_FOUND when absent or expires <= now. */
int m2msec_dev_root_get(struct m2msec_db *db, const char *id, int64_t now, int with_key,
                        struct m2msec_dev_root_rec **out, struct m2msec_error *err);
int m2msec_dev_root_get_by_purpose(struct m2msec_db *db, const char *purpose, int64_t now,
                                   int with_key, struct m2msec_dev_root_rec **out,
                                   struct m2msec_error *err);
/* Ids of the live root credentials, ordered by purpose: *ids (n of them) is freed with
 * m2msec_dev_root_ids_free; none gives n = 0. */
int m2msec_dev_root_ids(struct m2msec_db *db, int64_t now, char ***ids, size_t *n,
                        struct m2msec_error *err);
void m2msec_dev_root_ids_free(char **ids, size_t n);

/*
 * MAF: clients and their Km (TS-0003 8.8.3.1). A client is keyed by its
 * relative KmID (32 lowercase hex; the KmID is "<kmid_rel>@<MAF-FQDN>").
 * suid 21: Km remotely provisioned (8.8.2.3), keid is the KeID it was fetched
 * for (unique); suid 11: Km pre-provisioned by the operator (`mafd client
 * add`), keid NULL. Km is sealed with AAD "km:<kmid_rel>". A client past its
 * expiry is absent. targets: the targetIDs the client may name in Key
 * Registrations (NULL-terminated; NULL / 0 = any), loaded by the getters.
 */
#define M2MSEC_MAF_SUID_PREPROV 11u
#define M2MSEC_MAF_SUID_REMOTE  21u
/* "No expiry" for a pre-provisioned Km: the last second an m2m:timestamp can write. */
#define M2MSEC_MAF_NO_EXPIRY INT64_C(253402300799)
struct m2msec_maf_client_rec {
    char kmid_rel[33];
    char *keid;      /* suid 21 only */
    char *client_id; /* the EnroleeID the MEF returned, or the configured CSE-ID / AE-ID */
    unsigned suid;   /* 21 or 11; 0 is read as 21 by m2msec_maf_register */
    char **targets;
    size_t ntargets;
    int64_t expires; /* Km lifetime (the MEF's Lifetime, or the operator's) */
    int64_t created;
    struct m2msec_secret *km; /* only when asked for */
};
void m2msec_maf_client_rec_free(struct m2msec_maf_client_rec *r);
void m2msec_maf_client_list_free(struct m2msec_maf_client_rec **list);
/* NOT_FOUND when absent or expires <= now. with_km: unseal Km into r->km. */
int m2msec_maf_client_get(struct m2msec_db *db, const char *kmid_rel, int64_t now, int with_km,
                          struct m2msec_maf_client_rec **out, struct m2msec_error *err);
/* Live clients ordered by kmid_rel; with_km unseals Km. *out is NULL-terminated. */
int m2msec_maf_client_list(struct m2msec_db *db, int64_t now, int with_km,
                           struct m2msec_maf_client_rec ***out, size_t *n,
                           struct m2msec_error *err);
/*
 * The live remotely provisioned client whose Km was fetched for keid (ASCII
 * case-insensitive); NOT_FOUND when none (TS-0003 8.3.2.1 "Use of Remotely
 * Provisioned Credential": a target holding the key need not fetch again).
 */
int m2msec_maf_client_get_by_keid(struct m2msec_db *db, const char *keid, int64_t now, int with_km,
                                  struct m2msec_maf_client_rec **out, struct m2msec_error *err);
/*
 * A pre-provisioned client (c->suid 11, c->keid NULL, c->km, c->client_id,
 * c->targets optional). REFUSED (rsc 4105) when a live client has the KmID or
 * the client id; an expired one is replaced. INVALID_ARGUMENT for a malformed
 * KmID, no Km, an expiry not after now.
 */
int m2msec_maf_client_add(struct m2msec_db *db, const struct m2msec_maf_client_rec *c, int64_t now,
                          struct m2msec_error *err);
/*
 * Erase a client (live or expired) with its registrations and key
 * registrations in one transaction. NOT_FOUND when absent.
 */
int m2msec_maf_client_remove(struct m2msec_db *db, const char *kmid_rel, struct m2msec_error *err);

/* MAF Client Registrations (TS-0003 8.8.2.3), children of a client. */
struct m2msec_mafreg_rec {
    char reg_id[33]; /* 32 lowercase hex, generated by the caller */
    char *kmid_rel;  /* the owning client */
    char *admin_fqdn;
    char **labels; /* NULL-terminated or NULL */
    size_t nlabels;
    int64_t expires;
};
/* Frees a record returned by m2msec_maf_reg_get (not the caller-built ones). */
void m2msec_mafreg_rec_free(struct m2msec_mafreg_rec *r);
/* A live registration with its labels; NOT_FOUND (rsc 4004) when absent or expired. */
int m2msec_maf_reg_get(struct m2msec_db *db, const char *reg_id, int64_t now,
                       struct m2msec_mafreg_rec **out, struct m2msec_error *err);
/*
 * @spec TS-0003 8.8.2.5. One transaction on the live registration reg_id:
 * - rekey not NULL (re-enrolment: a new Km fetched for a new KeID): store
 *   rekey as a new client (new KmID, suid 21) and move every registration and
 *   key registration of the registration's owner to it, capping their expiry
 *   at the new Km's, then erase the owner; INVALID_ARGUMENT unless the owner
 *   is a remotely provisioned client with rekey->client_id;
 * - then set expires (when has_et; its key registrations are capped at it)
 *   and labels (when has_lbl; nlabels = 0 clears them).
 * NOT_FOUND when the registration is absent or expired; INVALID_ARGUMENT when
 * the new expiry is not after now or after its client's Km expiry.
 */
int m2msec_maf_reg_update(struct m2msec_db *db, const struct m2msec_maf_client_rec *rekey,
                          const char *reg_id, int64_t now, int has_et, int64_t expires, int has_lbl,
                          char *const *labels, size_t nlabels, struct m2msec_error *err);
/*
 * @spec TS-0003 8.8.2.6. Erase the live registration reg_id and every key
 * registration made under it (Kc erased, not unlinked) in one transaction;
 * *nkeys (may be NULL) gets how many keys went. NOT_FOUND when absent or
 * expired. The client and its Km stay (other registrations may use them).
 */
int m2msec_maf_reg_delete(struct m2msec_db *db, const char *reg_id, int64_t now, size_t *nkeys,
                          struct m2msec_error *err);
/*
 * One transaction: when client is not NULL, store it as a new client first,
 * replacing (with their registrations) any client with the same client_id or
 * keid (re-enrolment gives a new KeID and so a new Km); then create reg under
 * reg->kmid_rel. REFUSED (rsc 4105) when that client already has a live
 * registration for admin_fqdn (ASCII case-insensitive). NOT_FOUND when the
 * client is absent or expired. INVALID_ARGUMENT for malformed ids, expiries
 * not after now, or a registration outliving its client.
 */
int m2msec_maf_register(struct m2msec_db *db, const struct m2msec_maf_client_rec *client,
                        const struct m2msec_mafreg_rec *reg, int64_t now, struct m2msec_error *err);
/* Live registrations of a client, as a count (for listings and tests). */
int m2msec_maf_reg_count(struct m2msec_db *db, const char *kmid_rel, int64_t now, size_t *n,
                         struct m2msec_error *err);
/* Erase key registrations, registrations and clients (with their registrations and key
 * registrations) with expires <= now, in one transaction; *erased = rows of the three. */
int m2msec_maf_sweep(struct m2msec_db *db, int64_t now, size_t *erased, struct m2msec_error *err);

/*
 * Device state: the Km/KmID a MAF assigned (assignedSymmKeyID), one per MAF
 * FQDN (ASCII case-insensitive). Km is sealed with AAD "dev-km:<kmid>".
 */
struct m2msec_dev_maf_rec {
    char *maf_fqdn;
    char *kmid;       /* "<rel>@<MAF-FQDN>" */
    char *keid;       /* the KeID Km was derived from; NULL for a pre-provisioned Km (suid 11) */
    unsigned suid;    /* 21 (remotely provisioned; 0 reads as 21) or 11 (pre-provisioned) */
    char *client_id;  /* clientID of the MAF's registration response; may be NULL */
    char *reg_id;     /* NULL: no registration stored (none yet, or de-registered) */
    char *admin_fqdn; /* of reg_id; may be NULL (stores before schema 3) */
    int64_t expires;  /* Km expiry */
    struct m2msec_secret *km; /* only when asked for */
};
void m2msec_dev_maf_rec_free(struct m2msec_dev_maf_rec *r);
/* Store, replacing the record of the same MAF. */
int m2msec_dev_maf_put(struct m2msec_db *db, const struct m2msec_dev_maf_rec *r,
                       struct m2msec_error *err);
/* NOT_FOUND when absent or expires <= now. */
int m2msec_dev_maf_get(struct m2msec_db *db, const char *maf_fqdn, int64_t now, int with_key,
                       struct m2msec_dev_maf_rec **out, struct m2msec_error *err);
/*
 * After de-registering reg_id at the MAF maf_fqdn (8.8.2.6): in one
 * transaction, erase the Kc this device registered under it (and Kc rows of
 * that MAF stored before schema 4, which carry no registration) and clear
 * the stored registration when it is reg_id (KmID and Km stay). *nkc (may be
 * NULL) gets the number of Kc erased.
 */
int m2msec_dev_maf_forget_reg(struct m2msec_db *db, const char *maf_fqdn, const char *reg_id,
                              size_t *nkc, struct m2msec_error *err);

/*
 * Device state: Kc of MAF Key Registrations this device made (Entity A), by
 * Key Identifier "<RelativeKeyID>@<MAF-FQDN>". Kc sealed with AAD
 * "dev-kc:<key_id>".
 */
struct m2msec_dev_kc_rec {
    char *key_id;
    char *maf_fqdn;
    char *reg_id; /* the MAF Client Registration it was made under; may be NULL */
    char *target; /* the first target id */
    unsigned suid;
    int64_t expires;
    struct m2msec_secret *kc; /* only when asked for */
};
void m2msec_dev_kc_rec_free(struct m2msec_dev_kc_rec *r);
/* Store, replacing a record with the same key_id. */
int m2msec_dev_kc_put(struct m2msec_db *db, const struct m2msec_dev_kc_rec *r,
                      struct m2msec_error *err);
/* NOT_FOUND when absent or expires <= now. */
int m2msec_dev_kc_get(struct m2msec_db *db, const char *key_id, int64_t now, int with_key,
                      struct m2msec_dev_kc_rec **out, struct m2msec_error *err);

/*
 * Key registries (TS-0003 8.3.5.2.7 - 8.3.5.2.10 on the MEF, 8.8.2.7 -
 * 8.8.2.10 on the MAF): one table shape, "keyreg" with its "keyreg_target"
 * and "keyreg_label" lists, in the schema of either daemon, and one
 * implementation (store/keyreg.c) parameterised by the registry's kind. A
 * registration is a child of the Client Registration it was made under
 * (reg_id; ON DELETE CASCADE, so de-registering or sweeping that erases its
 * keys) and of the credential that owns it (owner: the KpmID on the MEF, the
 * relative KmID on the MAF). rel_key_id is the RelativeKeyID (sec:relKeyID,
 * compared ASCII case-insensitively). The key is sealed with AAD
 * "mef-kc:<rel>" on the MEF and "kc:<rel>" on the MAF (the prefix of the
 * MAF's existing key table, so its rows can move over without resealing).
 * A registration past its expiry is absent to every call but the sweep.
 * Each call is one transaction; the kind must match the store's schema
 * (INVALID_ARGUMENT otherwise). On the MAF a key is also a child of its
 * client (owner REFERENCES maf_client, ON DELETE CASCADE): `mafd client
 * remove` and replacing a re-enrolled client erase it, m2msec_maf_reg_update
 * caps it at a shortened registration and m2msec_maf_sweep erases it at
 * expiry, as m2msec_keyreg_sweep does (the MAF schema has the table from
 * its migration 4, which moved the rows of the former maf_key table over).
 */
enum m2msec_keyreg_kind {
    M2MSEC_KEYREG_MEF = 0,
    M2MSEC_KEYREG_MAF,
};

struct m2msec_keyreg_rec {
    char *rel_key_id;
    char *owner;     /* KpmID (MEF) or relative KmID (MAF) of the source's credential */
    char *reg_id;    /* the Client Registration it was made under */
    char *source_id; /* Source MEF / MAF Client ID */
    char *admin_fqdn;
    unsigned suid;
    char **targets; /* NULL-terminated; a loaded record always has the array */
    size_t ntargets;
    char **labels; /* NULL-terminated or NULL */
    size_t nlabels;
    int64_t expires;
    int64_t created;
    struct m2msec_secret *key; /* only when asked for */
};
void m2msec_keyreg_rec_free(struct m2msec_keyreg_rec *r);

/*
 * Store r, durable on return. The Client Registration r->reg_id must be live
 * (else NOT_FOUND, rsc 4004) and owned by r->owner (else M2MSEC_ERR_AUTH,
 * rsc 4103), and r->expires must not pass its expiry (INVALID_ARGUMENT).
 * REFUSED (rsc 4105) when rel_key_id is held by a live registration (an
 * expired one is erased first). INVALID_ARGUMENT for missing fields, no
 * targets or an expiry not after now.
 */
int m2msec_keyreg_put(struct m2msec_db *db, enum m2msec_keyreg_kind kind,
                      const struct m2msec_keyreg_rec *r, int64_t now, struct m2msec_error *err);
/* NOT_FOUND (rsc 4004) when absent or expired. with_key: unseal the key into (*out)->key. */
int m2msec_keyreg_get(struct m2msec_db *db, enum m2msec_keyreg_kind kind, const char *rel_key_id,
                      int64_t now, int with_key, struct m2msec_keyreg_rec **out,
                      struct m2msec_error *err);
/*
 * Replace expires (has_et), the labels (has_lbl; nlabels = 0 clears them)
 * and the targets (has_targets; at least one) of a live registration.
 * NOT_FOUND when absent or expired; INVALID_ARGUMENT when nothing is to
 * change, the new expiry is not after now or passes its Client
 * Registration's, or a list holds an empty entry.
 */
int m2msec_keyreg_update(struct m2msec_db *db, enum m2msec_keyreg_kind kind, const char *rel_key_id,
                         int64_t now, int has_et, int64_t expires, int has_lbl, char *const *labels,
                         size_t nlabels, int has_targets, char *const *targets, size_t ntargets,
                         struct m2msec_error *err);
/* Erase a live registration (secure_delete overwrites it). NOT_FOUND when absent or expired. */
int m2msec_keyreg_delete(struct m2msec_db *db, enum m2msec_keyreg_kind kind, const char *rel_key_id,
                         int64_t now, struct m2msec_error *err);
/* Erase every registration with expires <= now; *erased (may be NULL) = how many. */
int m2msec_keyreg_sweep(struct m2msec_db *db, enum m2msec_keyreg_kind kind, int64_t now,
                        size_t *erased, struct m2msec_error *err);
/* Live registrations, of reg_id only when it is not NULL. */
int m2msec_keyreg_count(struct m2msec_db *db, enum m2msec_keyreg_kind kind, const char *reg_id,
                        int64_t now, size_t *n, struct m2msec_error *err);
/*
 * Device state: erase the key stored under key_id (m2msec_dev_kc_put) when
 * the source de-registers it. 0 also when there was none.
 */
int m2msec_keyreg_dev_erase(struct m2msec_db *db, const char *key_id, struct m2msec_error *err);

#ifdef M2MSEC_TESTING
/* Test hooks (tests must not include sqlite3.h): run raw SQL on the store's connection. */
int m2msec_db_test_exec(struct m2msec_db *db, const char *sql, struct m2msec_error *err);
/* First column of the first row of sql as an integer; NOT_FOUND when no row. */
int m2msec_db_test_query_int(struct m2msec_db *db, const char *sql, int64_t *out,
                             struct m2msec_error *err);
#endif

/*
 * Entity B (libm2msec, schema kind CSE, its own file in the state directory):
 * keys obtained for psk_identities, by identity (ASCII case-insensitive).
 * source: 1 MAF Key Retrieval (Kc), 2 MEF fetchCredentials (Kpsa). The key
 * is sealed with AAD "cse-key:<key_id>". Getters return expired rows too (the
 * resolver erases them); callers compare expires with the clock.
 */
struct m2msec_cse_key_rec {
    char *key_id; /* the psk_identity */
    unsigned source;
    unsigned suid;
    char *peer_id; /* IdA from the MAF / the EnroleeID from the MEF; may be NULL */
    char *cred_id; /* Credential-ID (TS-0003 10.4) */
    int64_t created;
    int64_t expires;
    struct m2msec_secret *key; /* only when asked for */
};
void m2msec_cse_key_rec_free(struct m2msec_cse_key_rec *r);
/* Store, replacing a row with the same identity; durable on return. */
int m2msec_cse_key_put(struct m2msec_db *db, const struct m2msec_cse_key_rec *r,
                       struct m2msec_error *err);
/* NOT_FOUND when absent (an expired row is returned). */
int m2msec_cse_key_get(struct m2msec_db *db, const char *key_id, int with_key,
                       struct m2msec_cse_key_rec **out, struct m2msec_error *err);
/*
 * Erase the row of key_id (absent is not an error); *erased = rows removed,
 * may be NULL. A row with expires <= now leaves an expiry record (identity
 * and expiry, no key) behind.
 */
int m2msec_cse_key_delete(struct m2msec_db *db, const char *key_id, int64_t now, size_t *erased,
                          struct m2msec_error *err);
/* Erase every row with expires <= now, leaving expiry records; prune old expiry records. */
int m2msec_cse_sweep(struct m2msec_db *db, int64_t now, size_t *erased, struct m2msec_error *err);
/* The expiry of an erased key_id; NOT_FOUND when there is no record (put clears it). */
int m2msec_cse_expired_get(struct m2msec_db *db, const char *key_id, int64_t *expires,
                           struct m2msec_error *err);
int m2msec_cse_key_count(struct m2msec_db *db, size_t *n, struct m2msec_error *err);

/*
 * MEF: the PKG of IBC credentials (seed 000, IBC-DESIGN 1.2 and 3.4; schema v7;
 * store/pkg.c). One policy (key period and offset, MPK lifetime, current
 * version) and one row per MPK version: KPAK, KSAK sealed with AAD
 * "pkg-ksak:<version>", validity [not_before, not_after] and max_issued, the
 * latest expiry of a credential issued under it. A rotation makes a new
 * version current and ends the old one's validity at its max_issued (or now,
 * when it issued nothing), so the old MPK stays valid exactly as long as a
 * credential needs it.
 */
#define M2MSEC_PKG_KPAK_LEN 65
struct m2msec_pkg_rec {
    uint64_t key_period;        /* seconds, > 0 */
    uint64_t key_period_offset; /* < key_period */
    uint64_t mpk_lifetime;      /* seconds, > 0: validity of a new MPK */
    unsigned current;           /* version issuing now (set by the store) */
    int64_t created;
};
struct m2msec_pkg_mpk_rec {
    unsigned version;
    uint8_t kpak[M2MSEC_PKG_KPAK_LEN];
    int64_t not_before;
    int64_t not_after;
    int64_t max_issued; /* 0: nothing issued */
    int64_t retired;    /* 0: current */
    int64_t created;
    struct m2msec_secret *ksak; /* only when asked for */
};
/* Frees the KSAK; the record itself is the caller's. */
void m2msec_pkg_mpk_rec_clear(struct m2msec_pkg_mpk_rec *r);
/*
 * Create the PKG with version 1 (kpak, ksak) valid [now, now + mpk_lifetime].
 * REFUSED (rsc 4105) when it exists; INVALID_ARGUMENT for a bad policy.
 */
int m2msec_pkg_init(struct m2msec_db *db, const struct m2msec_pkg_rec *policy,
                    const uint8_t kpak[M2MSEC_PKG_KPAK_LEN], const struct m2msec_secret *ksak,
                    int64_t now, struct m2msec_error *err);
/* The policy; NOT_FOUND when no PKG was initialised. */
int m2msec_pkg_get(struct m2msec_db *db, struct m2msec_pkg_rec *out, struct m2msec_error *err);
/* Every version, oldest first, without KSAK; *out m2msec_malloc'd (m2msec_free). */
int m2msec_pkg_mpk_list(struct m2msec_db *db, struct m2msec_pkg_mpk_rec **out, size_t *n,
                        struct m2msec_error *err);
/* One version; with_key unseals the KSAK (AUTH when it does not open). NOT_FOUND when absent. */
int m2msec_pkg_mpk_get(struct m2msec_db *db, unsigned version, int with_key,
                       struct m2msec_pkg_mpk_rec *out, struct m2msec_error *err);
/*
 * Make (kpak, ksak) the new current version (highest + 1) valid [now, now +
 * mpk_lifetime]; the previous current one is retired at now and stays valid
 * until max(max_issued, now) (never beyond its own not_after). NOT_FOUND
 * without a PKG. *version (may be NULL) gets the new version.
 */
int m2msec_pkg_rotate(struct m2msec_db *db, const uint8_t kpak[M2MSEC_PKG_KPAK_LEN],
                      const struct m2msec_secret *ksak, int64_t now, unsigned *version,
                      struct m2msec_error *err);
/*
 * Before a credential expiring at expires leaves the MEF: raise max_issued
 * of version, durable on return. INVALID_STATE when the version is no longer
 * current (rotated meanwhile: issue again under the new one) or expires is
 * past its not_after; NOT_FOUND when absent.
 */
int m2msec_pkg_note_issued(struct m2msec_db *db, unsigned version, int64_t expires,
                           struct m2msec_error *err);

/*
 * Device state: the IBC credential (schema v6; store/pkg.c), one per device
 * (a new one replaces the old), SSK sealed with AAD "dev-ibc:<ID1>"; and the
 * trust store of MPKs received from MEFs, per FQDN (ASCII case-insensitive)
 * and version, replaced as a set per FQDN.
 */
#define M2MSEC_DEV_ID2_MAX 476
struct m2msec_dev_ibc_rec {
    uint8_t id2[M2MSEC_DEV_ID2_MAX];
    size_t id2_len;
    char *id1;
    char *fqdn;
    int64_t expires;
    unsigned mpk_version;
    uint8_t kpak[M2MSEC_PKG_KPAK_LEN];
    uint8_t pvt[M2MSEC_PKG_KPAK_LEN];
    char *mef; /* host:port enrolled with */
    int64_t created;
    struct m2msec_secret *ssk; /* only when asked for */
};
void m2msec_dev_ibc_rec_free(struct m2msec_dev_ibc_rec *r);
struct m2msec_dev_mpk_rec {
    char fqdn[254];
    unsigned version;
    uint8_t kpak[M2MSEC_PKG_KPAK_LEN];
    int64_t not_before;
    int64_t not_after;
    uint64_t key_period;
    uint64_t key_period_offset;
};
/*
 * One transaction: store r (ssk required) replacing the previous credential,
 * and replace the MPKs of r->fqdn with mpks[0..nmpk) (nmpk 0: keep them).
 */
int m2msec_dev_ibc_put(struct m2msec_db *db, const struct m2msec_dev_ibc_rec *r,
                       const struct m2msec_dev_mpk_rec *mpks, size_t nmpk,
                       struct m2msec_error *err);
/* The credential even when expired (callers check); NOT_FOUND when none. */
int m2msec_dev_ibc_get(struct m2msec_db *db, int with_key, struct m2msec_dev_ibc_rec **out,
                       struct m2msec_error *err);
/* Replace the MPKs of fqdn with mpks[0..n) (n >= 1, all of that FQDN). */
int m2msec_dev_mpk_replace(struct m2msec_db *db, const char *fqdn,
                           const struct m2msec_dev_mpk_rec *mpks, size_t n,
                           struct m2msec_error *err);
/* The whole trust store by FQDN, version; *out m2msec_malloc'd (NULL when empty). */
int m2msec_dev_mpk_list(struct m2msec_db *db, struct m2msec_dev_mpk_rec **out, size_t *n,
                        struct m2msec_error *err);

#endif
