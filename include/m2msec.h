/*
 * m2msec.h - the one public header of libm2msec.
 *
 * libm2msec is the device / CSE side of the oneM2M remote security provisioning
 * and key distribution system (oneM2M TS-0003): it enrols with a MEF over
 * TLS 1.2 PSK, keeps the resulting Enrolment Key (Ke) and its identifier (KeID)
 * sealed in a state directory, and exposes the identifiers and lifetimes.
 *
 * Conventions (see docs/STYLE.md):
 * - Functions return 0 on success and -1 on failure, or a pointer / NULL.
 *   Detail is read from the object's _error() (a string) and _error_code().
 * - Strings returned by getters are borrowed: valid until the next call on the
 *   same object or its _free().
 * - Setters copy their inputs. Every _free() accepts NULL and wipes secrets.
 * - No OpenSSL, GnuTLS or SQLite type appears here.
 * - Objects are not thread-safe; a configured config may be shared read-only.
 */
#ifndef M2MSEC_H
#define M2MSEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef M2MSEC_API
#define M2MSEC_API __attribute__((visibility("default")))
#endif

#define M2MSEC_API_VERSION 1

/* Stable values: append only. */
enum m2msec_err {
    M2MSEC_ERR_NONE = 0,
    M2MSEC_ERR_NOMEM,
    M2MSEC_ERR_INVALID_ARGUMENT, /* caller passed something malformed */
    M2MSEC_ERR_INVALID_STATE,    /* e.g. setter on a frozen config */
    M2MSEC_ERR_IO,               /* socket or file I/O */
    M2MSEC_ERR_TLS,              /* TLS handshake or record layer */
    M2MSEC_ERR_PROTOCOL,         /* peer sent something TS-0003 / our mapping does not allow */
    M2MSEC_ERR_AUTH,             /* authentication failed; deliberately unspecific */
    M2MSEC_ERR_NOT_FOUND,
    M2MSEC_ERR_STORE,     /* database failure */
    M2MSEC_ERR_CRYPTO,    /* primitive failed (not an authentication failure) */
    M2MSEC_ERR_TOO_LARGE, /* input exceeds a documented bound */
    M2MSEC_ERR_EXPIRED,   /* key or registration expired: re-provision */
    M2MSEC_ERR_TIMEOUT,
    M2MSEC_ERR_REFUSED, /* peer answered with a oneM2M error status */
};

/** Static English name of an error code ("auth", "expired", ...). */
M2MSEC_API const char *m2msec_err_name(enum m2msec_err code);

/*
 * Configuration
 */
struct m2msec_config;

M2MSEC_API struct m2msec_config *m2msec_config_new(void);
M2MSEC_API void m2msec_config_free(struct m2msec_config *cfg);
/** Borrowed: valid until the next call on cfg. */
M2MSEC_API const char *m2msec_config_error(const struct m2msec_config *cfg);
M2MSEC_API enum m2msec_err m2msec_config_error_code(const struct m2msec_config *cfg);

/** MEF address as "host:port" (IPv4, [IPv6] or name). Copied. */
M2MSEC_API int m2msec_config_set_mef(struct m2msec_config *cfg, const char *hostport);
/** Server name sent in SNI and used as HTTP Host (defaults to the MEF host). */
M2MSEC_API int m2msec_config_set_sni(struct m2msec_config *cfg, const char *fqdn);
/**
 * Pre-provisioned Kpm and its KpmID (TS-0003 8.3.2.1). key is copied into
 * secure memory owned by cfg; the caller should wipe its own copy.
 */
M2MSEC_API int m2msec_config_set_kpm(struct m2msec_config *cfg, const char *kpm_id,
                                     const uint8_t *key, size_t key_len);
/** The same, reading the key as hex text from a file (whitespace ignored). */
M2MSEC_API int m2msec_config_set_kpm_file(struct m2msec_config *cfg, const char *kpm_id,
                                          const char *path);
/**
 * Certificate-based RSPF (TS-0003 8.3.2.2) instead of a Kpm: the Enrolee's
 * certificate (PEM: end entity, then intermediates; ECDSA P-256) and its
 * private key (unencrypted PEM, or a PKCS#11 URL "pkcs11:...", PIN from the
 * URL or M2MSEC_PKCS11_PIN). The files are read when a session opens. Needs
 * m2msec_config_set_mef_ca too; configure either this or a Kpm, not both.
 * The MEF's FQDN certificate is verified against the server name
 * (m2msec_config_set_sni, else the host of the MEF address, which must then
 * be a name). The client names itself (X-M2M-Origin) by the Credential-ID
 * "30-<RFC 6920 name of its certificate's public key>".
 */
M2MSEC_API int m2msec_config_set_cert(struct m2msec_config *cfg, const char *cert_file,
                                      const char *key_file);
/** PEM trust anchors for the MEF's certificate (certificate-based RSPF). */
M2MSEC_API int m2msec_config_set_mef_ca(struct m2msec_config *cfg, const char *ca_file);
/** Directory holding the sealed device state (created 0700 if missing). */
M2MSEC_API int m2msec_config_set_state_dir(struct m2msec_config *cfg, const char *dir);
/** Deadline for connect, handshake and every read/write, in milliseconds (default 10000). */
M2MSEC_API int m2msec_config_set_timeout_ms(struct m2msec_config *cfg, unsigned ms);
/**
 * What the Enrolee indicates it is prepared to do in the Enrolment Exchange
 * (table 8.3.2.1-1). Defaults: certificate enrolment no, MAF enrolment yes,
 * remote management yes.
 */
M2MSEC_API int m2msec_config_set_indications(struct m2msec_config *cfg, int cert_enrolment,
                                             int maf_enrolment, int remote_mgmt);

/*
 * Client: the Enrolee / MEF Client
 */
struct m2msec_client;

M2MSEC_API struct m2msec_client *m2msec_client_new(void);
/** Takes a reference on cfg and freezes it. */
M2MSEC_API int m2msec_client_configure(struct m2msec_client *c, struct m2msec_config *cfg);
M2MSEC_API void m2msec_client_free(struct m2msec_client *c);
/** Borrowed: valid until the next call on c. */
M2MSEC_API const char *m2msec_client_error(const struct m2msec_client *c);
M2MSEC_API enum m2msec_err m2msec_client_error_code(const struct m2msec_client *c);
/** oneM2M status code of the last refused request (X-M2M-RSC), or 0. */
M2MSEC_API int m2msec_client_error_rsc(const struct m2msec_client *c);

/** Progress callback: one line per protocol step (for CLIs and demos). */
typedef void (*m2msec_step_cb)(void *arg, const char *step, const char *detail);
M2MSEC_API void m2msec_client_set_step_cb(struct m2msec_client *c, m2msec_step_cb cb, void *arg);

/**
 * Run the PPSK RSPF (TS-0003 8.3.2.1): TLS 1.2 PSK with KpmID/Kpm, export
 * Ke/RelativeKeID, check the KeID the MEF returns, run the Enrolment Exchange
 * to its end and store Ke/KeID sealed in the state directory, replacing any
 * previous enrolment. On success the getters below describe the enrolment.
 */
M2MSEC_API int m2msec_client_enrol(struct m2msec_client *c);

/** Borrowed KeID of the last successful enrolment, or NULL. */
M2MSEC_API const char *m2msec_client_keid(const struct m2msec_client *c);
/** Absolute expiry (seconds since the epoch, UTC) of that Ke, or 0. */
M2MSEC_API int64_t m2msec_client_ke_expires(const struct m2msec_client *c);
/** Borrowed Enrolee-ID the MEF associated with this Kpm, or NULL. */
M2MSEC_API const char *m2msec_client_enrolee_id(const struct m2msec_client *c);
/** Number of instructions received in the last Enrolment Exchange. */
M2MSEC_API size_t m2msec_client_instruction_count(const struct m2msec_client *c);
/** Borrowed type ("mafEnrolment", ...) and URI of instruction i, or NULL. */
M2MSEC_API const char *m2msec_client_instruction_type(const struct m2msec_client *c, size_t i);
M2MSEC_API const char *m2msec_client_instruction_uri(const struct m2msec_client *c, size_t i);

/*
 * PKI-based bootstrap (seed 002; docs/PROTOCOL.md section 13). Needs a
 * certificate configuration (m2msec_config_set_cert, m2msec_config_set_mef_ca)
 * and a state directory. Runs mutual-certificate TLS 1.2 with the MEF
 * (verifying its FQDN certificate), exports RootCredentialWrapKey (RFC 5705,
 * "EXPORTER-oneM2M-RootCredentialWrap", 32 bytes), asks for the root
 * credential of its node class (POST /mef/bootstrap), unwraps it (AES-256 key
 * wrap, RFC 3394: a failed integrity check is M2MSEC_ERR_AUTH and stores
 * nothing) and stores it sealed, replacing one for the same purpose. A root
 * credential for "maf:<FQDN>" then acts as the Km of an enrolment for that
 * MAF (m2msec_client_maf_register: psk_identity = its identifier); one for
 * "cse:<CSE-ID>" is a Kpsa (m2msec_client_connect with its identifier).
 */
M2MSEC_API int m2msec_client_bootstrap(struct m2msec_client *c);
/** Borrowed results of the last successful bootstrap, or NULL / 0. */
M2MSEC_API const char *m2msec_client_root_id(const struct m2msec_client *c);
M2MSEC_API const char *m2msec_client_root_purpose(const struct m2msec_client *c);
M2MSEC_API int64_t m2msec_client_root_expires(const struct m2msec_client *c);
/** The EnroleeID the MEF gives the target (the originator towards a MAF). */
M2MSEC_API const char *m2msec_client_root_enrolee_id(const struct m2msec_client *c);
/** The Credential-ID the MEF bound the session to ("31-<hw id>", "34-<Node-ID>"). */
M2MSEC_API const char *m2msec_client_root_node_id(const struct m2msec_client *c);
/** Key check value (16 hex digits) of the root credential. */
M2MSEC_API const char *m2msec_client_root_kcv(const struct m2msec_client *c);
/** The wrapped root credential as received (base64; ciphertext, safe to show). */
M2MSEC_API const char *m2msec_client_root_wrapped(const struct m2msec_client *c);

/*
 * MEF Client Registration procedures (TS-0003 8.3.5.2.3 - 8.3.5.2.6), each in
 * its own PPSK-authenticated session with the configured MEF.
 */
struct m2msec_mef_reg;

/** Borrowed fields of a registration result. */
M2MSEC_API const char *m2msec_mef_reg_id(const struct m2msec_mef_reg *r);
M2MSEC_API const char *m2msec_mef_reg_client_id(const struct m2msec_mef_reg *r);
M2MSEC_API const char *m2msec_mef_reg_admin_fqdn(const struct m2msec_mef_reg *r);
M2MSEC_API int64_t m2msec_mef_reg_expires(const struct m2msec_mef_reg *r);
/** Borrowed JSON text of the configuration (after m2msec_client_mef_config), or NULL. */
M2MSEC_API const char *m2msec_mef_reg_config_json(const struct m2msec_mef_reg *r);
M2MSEC_API void m2msec_mef_reg_free(struct m2msec_mef_reg *r);

/** Register with the MEF; expires is the proposed expirationTime (0: server default). */
M2MSEC_API int m2msec_client_mef_register(struct m2msec_client *c, const char *admin_fqdn,
                                          int64_t expires, struct m2msec_mef_reg **out);
/** Retrieve the configuration of registration reg_id. */
M2MSEC_API int m2msec_client_mef_config(struct m2msec_client *c, const char *reg_id,
                                        struct m2msec_mef_reg **out);
/** Propose a new expirationTime for registration reg_id; *granted gets the MEF's value. */
M2MSEC_API int m2msec_client_mef_update(struct m2msec_client *c, const char *reg_id,
                                        int64_t expires, int64_t *granted);
M2MSEC_API int m2msec_client_mef_deregister(struct m2msec_client *c, const char *reg_id);

/*
 * MEF Key Registration (TS-0003 8.3.5.2.7), Key Retrieval (8.3.5.2.8), Key
 * Registration Update (8.3.5.2.9) and Key De-Registration (8.3.5.2.10), each
 * in its own PPSK session with the configured MEF. The MEF's FQDN must be
 * configured as the server name (m2msec_config_set_sni) unless the MEF
 * address is already that name: Key Identifiers are
 * "<RelativeKeyID>@<MEF-FQDN>". The MEF registers keys for SUID 22 (SAEF)
 * and 23 (ESPrim) with exactly one target, and 24/25 (ESData) with 1..16
 * targets; a target is a CSE-ID or AE-ID. Only the Source MEF Client that
 * registered a key may update or de-register it; only a listed target may
 * retrieve it. A registered key is stored sealed in the state directory
 * under its Key Identifier, and erased by m2msec_client_mef_keydel.
 */
struct m2msec_mef_key;

/** m2msec_client_mef_keyreg: the device generates the key (sent as keyValue). */
#define M2MSEC_MEF_KEY_SELF_GENERATED 0x1u
/** m2msec_client_mef_keyupdate: replace the labels (nlabels = 0 clears them). */
#define M2MSEC_MEF_KEY_SET_LABELS 0x1u

/**
 * Register a key under MEF Client Registration reg_id for targets and SUID
 * suid. admin_fqdn: the registration's stakeholder (NULL: read from the
 * registration's configuration). lifetime_s: proposed lifetime (0: one day;
 * the MEF may shorten it). labels may be NULL with nlabels 0. Without
 * M2MSEC_MEF_KEY_SELF_GENERATED the key is the session's RFC 5705 export
 * ("EXPORTER-oneM2M-Connection"), at most one per session at the MEF.
 * *out (free with m2msec_mef_key_free) names the Key Identifier the MEF assigned.
 */
M2MSEC_API int m2msec_client_mef_keyreg(struct m2msec_client *c, const char *reg_id,
                                        const char *admin_fqdn, const char *const *target_ids,
                                        size_t ntargets, unsigned suid, uint64_t lifetime_s,
                                        const char *const *labels, size_t nlabels, unsigned flags,
                                        struct m2msec_mef_key **out);
/** Retrieve key_id as a target; *out carries metadata and the key check value, never the key. */
M2MSEC_API int m2msec_client_mef_keyget(struct m2msec_client *c, const char *key_id,
                                        struct m2msec_mef_key **out);
/**
 * Update key_id: lifetime_s != 0 proposes a new expirationTime (now +
 * lifetime_s; *granted, when not NULL, gets the MEF's value, else 0);
 * ntargets > 0 replaces the targets; M2MSEC_MEF_KEY_SET_LABELS replaces the
 * labels. At least one of the three. The key itself cannot change.
 */
M2MSEC_API int m2msec_client_mef_keyupdate(struct m2msec_client *c, const char *key_id,
                                           uint64_t lifetime_s, const char *const *target_ids,
                                           size_t ntargets, const char *const *labels,
                                           size_t nlabels, unsigned flags, int64_t *granted);
/** De-register key_id and erase the device's copy of the key. */
M2MSEC_API int m2msec_client_mef_keydel(struct m2msec_client *c, const char *key_id);
/** Borrowed fields: Key Identifier, Source MEF Client ID, SUID, expiry, key check value. */
M2MSEC_API const char *m2msec_mef_key_id(const struct m2msec_mef_key *k);
M2MSEC_API const char *m2msec_mef_key_source_id(const struct m2msec_mef_key *k);
M2MSEC_API unsigned m2msec_mef_key_suid(const struct m2msec_mef_key *k);
M2MSEC_API int64_t m2msec_mef_key_expires(const struct m2msec_mef_key *k);
M2MSEC_API const char *m2msec_mef_key_kcv(const struct m2msec_mef_key *k);
M2MSEC_API void m2msec_mef_key_free(struct m2msec_mef_key *k);

/*
 * MAF Client Registration (TS-0003 8.8.2.3) with a remotely provisioned Km.
 * The first registration with a MAF connects with psk_identity = KeID and
 * psk = Km = TS-0003 10.3.7 (Ke, SUID 21, MAF-FQDN); the MAF fetches the same
 * Km from the MEF during the handshake and assigns a KmID
 * (assignedSymmKeyID), which is stored sealed with Km in the state
 * directory. Later registrations run the MAF Handshake with that KmID/Km
 * (8.8.2.2) while the enrolment it came from is current.
 */
struct m2msec_maf_reg;

/**
 * MAF address as "host:port" and the MAF's FQDN (TLS server name, HTTP Host,
 * mafFQDN and the MAF-FQDN input of the Km derivation). fqdn NULL: the host
 * of hostport, which must then be a name. Copied.
 */
M2MSEC_API int m2msec_config_set_maf(struct m2msec_config *cfg, const char *hostport,
                                     const char *fqdn);
/** Register with the configured MAF for the administrating stakeholder admin_fqdn. */
M2MSEC_API int m2msec_client_maf_register(struct m2msec_client *c, const char *admin_fqdn,
                                          struct m2msec_maf_reg **out);
/** Borrowed fields of a MAF registration result. */
M2MSEC_API const char *m2msec_maf_reg_id(const struct m2msec_maf_reg *r);
M2MSEC_API const char *m2msec_maf_reg_client_id(const struct m2msec_maf_reg *r);
M2MSEC_API const char *m2msec_maf_reg_admin_fqdn(const struct m2msec_maf_reg *r);
/** The KmID in use ("<relative KmID>@<MAF-FQDN>"). */
M2MSEC_API const char *m2msec_maf_reg_kmid(const struct m2msec_maf_reg *r);
/** 1 when this registration's session used the KeID (and the MAF assigned the KmID). */
M2MSEC_API int m2msec_maf_reg_km_assigned(const struct m2msec_maf_reg *r);
/** expirationTime granted by the MAF, and the Km expiry (seconds since the epoch, UTC). */
M2MSEC_API int64_t m2msec_maf_reg_expires(const struct m2msec_maf_reg *r);
M2MSEC_API int64_t m2msec_maf_reg_km_expires(const struct m2msec_maf_reg *r);
M2MSEC_API void m2msec_maf_reg_free(struct m2msec_maf_reg *r);

/**
 * Store a pre-provisioned KmID/Km (TS-0003 8.8.3.1, SUID 11) for the MAF
 * configured with m2msec_config_set_maf, sealed in the state directory
 * (created if missing), replacing what the device held for that MAF. kmid is
 * "<relative KmID>@<MAF-FQDN>" naming that MAF; key is 32 bytes (copied).
 * The MAF procedures below then run the MAF Handshake with it and need no
 * enrolment. Storing the same KmID and Km again keeps the registration made
 * with them.
 */
M2MSEC_API int m2msec_client_maf_set_km(struct m2msec_client *c, const char *kmid,
                                        const uint8_t *key, size_t key_len);
/** The same, reading Km as hex text from a file (whitespace ignored). */
M2MSEC_API int m2msec_client_maf_set_km_file(struct m2msec_client *c, const char *kmid,
                                             const char *path);

/*
 * MAF Client Configuration Retrieval (8.8.2.4), Registration Update (8.8.2.5)
 * and De-Registration (8.8.2.6) with the configured MAF, each in its own MAF
 * Handshake. reg_id NULL: the registration stored by m2msec_client_maf_register
 * (the one key registrations are made under). After re-enrolment the stored
 * KmID belongs to the previous Ke: these run on a KeID session with the Km
 * derived from the new Ke, and an update then re-keys the MAF client (the
 * MAF returns a new KmID, stored with the new Km; the registration keeps its
 * id).
 */
/** Retrieve the configuration of a registration (m2msec_maf_reg_config_json, admin FQDN, expiry). */
M2MSEC_API int m2msec_client_maf_config(struct m2msec_client *c, const char *reg_id,
                                        struct m2msec_maf_reg **out);
/** Borrowed JSON text of the configuration (after m2msec_client_maf_config), or NULL. */
M2MSEC_API const char *m2msec_maf_reg_config_json(const struct m2msec_maf_reg *r);
/**
 * Propose a new expirationTime (seconds since the epoch; 0: now + one day,
 * capped at the Km expiry). *out: the registration id, the granted expiry
 * (m2msec_maf_reg_expires), the KmID in use and whether it was just assigned
 * (m2msec_maf_reg_km_assigned); its admin FQDN only when it is the stored
 * registration (else NULL).
 */
M2MSEC_API int m2msec_client_maf_update(struct m2msec_client *c, const char *reg_id,
                                        int64_t expires, struct m2msec_maf_reg **out);
/**
 * End a registration. The MAF erases it with the key registrations made under
 * it; the device then erases the Kc it registered under it and forgets the
 * stored registration (KmID and Km stay for a later registration).
 */
M2MSEC_API int m2msec_client_maf_deregister(struct m2msec_client *c, const char *reg_id);

/*
 * MAF Key Registration (TS-0003 8.8.2.7), Key Retrieval (8.8.2.8), Key
 * Registration Update (8.8.2.9) and Key De-Registration (8.8.2.10). Each
 * runs the MAF Handshake with the KmID/Km a prior m2msec_client_maf_register
 * stored, on the MAF configured with m2msec_config_set_maf.
 * Key Registration: Kc is the session's exporter output (10.3.1, label
 * "EXPORTER-oneM2M-Connection"); the registration is made under the stored
 * MAF Client Registration and its adminFQDN; Kc is stored sealed in the
 * state directory under its Key Identifier "<RelativeKeyID>@<MAF-FQDN>".
 * The MAF registers SUID 32 (SAEF) and 33 (ESPrim) with exactly one target
 * and 34/35 (ESData) with 1..16; a target is a CSE-ID or AE-ID. A key never
 * outlives the MAF Client Registration it was made under. Only the client
 * that registered a key may update or de-register it; only a listed target
 * may retrieve it. Key Retrieval (for a target that is itself a registered
 * MAF client) returns the key's metadata and check value; the key itself
 * never crosses this API.
 */
struct m2msec_maf_key;
/** m2msec_client_maf_keyupdate: replace the labels (nlabels = 0 clears them). */
#define M2MSEC_MAF_KEY_SET_LABELS 0x1u
/** Register Kc for one target (a CSE-ID or AE-ID) and usage suid (32..35). */
M2MSEC_API int m2msec_client_maf_keyreg(struct m2msec_client *c, const char *target_id,
                                        unsigned suid, struct m2msec_maf_key **out);
/**
 * As m2msec_client_maf_keyreg with ntargets targets (ESData SUIDs 34/35 take
 * several) and a proposed lifetime in seconds (0: one day; the MAF may shorten it).
 */
M2MSEC_API int m2msec_client_maf_keyreg_ex(struct m2msec_client *c, const char *const *target_ids,
                                           size_t ntargets, unsigned suid, uint64_t lifetime_s,
                                           struct m2msec_maf_key **out);
/** Retrieve the key registration key_id ("<RelativeKeyID>@<MAF-FQDN>" of this MAF). */
M2MSEC_API int m2msec_client_maf_keyget(struct m2msec_client *c, const char *key_id,
                                        struct m2msec_maf_key **out);
/**
 * Update key_id (a key this client registered): lifetime_s != 0 proposes a
 * new expirationTime (now + lifetime_s; the MAF caps it at the registration's
 * and Km's expiry; *granted, when not NULL, gets the MAF's value, else 0);
 * ntargets > 0 replaces the targets; M2MSEC_MAF_KEY_SET_LABELS replaces the
 * labels. At least one of the three. Kc itself cannot change. The stored Kc
 * follows the new expiry and first target.
 */
M2MSEC_API int m2msec_client_maf_keyupdate(struct m2msec_client *c, const char *key_id,
                                           uint64_t lifetime_s, const char *const *target_ids,
                                           size_t ntargets, const char *const *labels,
                                           size_t nlabels, unsigned flags, int64_t *granted);
/** De-register key_id (a key this client registered) and erase the device's copy of Kc. */
M2MSEC_API int m2msec_client_maf_keydel(struct m2msec_client *c, const char *key_id);
/** Borrowed fields: Key Identifier, Source MAF Client ID, SUID, expiry, key check value. */
M2MSEC_API const char *m2msec_maf_key_id(const struct m2msec_maf_key *k);
M2MSEC_API const char *m2msec_maf_key_source_id(const struct m2msec_maf_key *k);
M2MSEC_API unsigned m2msec_maf_key_suid(const struct m2msec_maf_key *k);
M2MSEC_API int64_t m2msec_maf_key_expires(const struct m2msec_maf_key *k);
M2MSEC_API const char *m2msec_maf_key_kcv(const struct m2msec_maf_key *k);
M2MSEC_API void m2msec_maf_key_free(struct m2msec_maf_key *k);

/*
 * State: what an enrolled device holds (read-only view).
 */
struct m2msec_state;

/** Open the state directory read-only. NULL with *err_out set (static string) on failure. */
M2MSEC_API struct m2msec_state *m2msec_state_open(const char *dir, const char **err_out);
M2MSEC_API void m2msec_state_free(struct m2msec_state *st);
/** Borrowed KeID of the stored enrolment, or NULL when there is none or it expired. */
M2MSEC_API const char *m2msec_state_keid(const struct m2msec_state *st);
M2MSEC_API int64_t m2msec_state_ke_expires(const struct m2msec_state *st);
/** 1 when an enrolment is stored but its Ke has expired (re-provision needed). */
M2MSEC_API int m2msec_state_ke_expired(const struct m2msec_state *st);
/**
 * Key check value of the stored Ke: hex of the first 8 bytes of
 * HMAC-SHA-256(Ke, "m2msec key check value"). Lets two parties confirm they hold
 * the same key without revealing it. out must hold 17 bytes.
 */
M2MSEC_API int m2msec_state_ke_kcv(const struct m2msec_state *st, char out[17]);
/**
 * Key check value of a key derived from the stored Ke for an Enrolment Target:
 * TS-0003 10.3.7 (usage-constrained, with the SUID), or with legacy set the
 * older forms, 10.3.2 for SUID 21 (Km for a MAF) and 10.3.3 for SUID 22 (Kpsa
 * for an Enrolee B). target_id is the Enrolment Target's id exactly as the MEF
 * is configured with it (a MAF FQDN, or a CSE-ID / AE-ID). Lets a device confirm
 * it derives the key the MEF hands to that target, without revealing it.
 * -1 when there is no live Ke or the arguments are invalid.
 */
M2MSEC_API int m2msec_state_derived_kcv(const struct m2msec_state *st, unsigned suid,
                                        const char *target_id, int legacy, char out[17]);
/** How many live root credentials (PKI bootstrap, seed 002) the state holds. */
M2MSEC_API size_t m2msec_state_root_count(const struct m2msec_state *st);
/**
 * Root credential i (0 .. count-1), ordered by purpose: its purpose ("maf:<MAF-FQDN>" or
 * "cse:<CSE-ID>") and credential id (both borrowed), its expiry, and its key check value
 * (17 bytes, as for Ke). Any output may be NULL. -1 when i is out of range.
 */
M2MSEC_API int m2msec_state_root(const struct m2msec_state *st, size_t i, const char **purpose,
                                 const char **id, int64_t *expires, char kcv[17]);
/** ID1 of the stored IBC credential (borrowed) and its expiry; NULL when there is none. */
M2MSEC_API const char *m2msec_state_ibc_id1(const struct m2msec_state *st, int64_t *expires);

/*
 * Entity B: the PSK resolver (TS-0003 8.2.2.1 PSK SAEF, 8.2.2.3 MAF-based SAEF)
 *
 * Resolves the psk_identity a (D)TLS-PSK client presents to a CSE into the
 * PSK and what the security context is bound to, or refuses it. A CSE with
 * its own TLS stack calls m2msec_resolver_resolve from its PSK callback and
 * treats any failure as an unknown identity (the handshake must then fail
 * exactly as with a wrong key). The identity is split at its last '@':
 *
 * - "<RelativeKeyID>@<MAF-FQDN>" of the configured MAF (m2msec_config_set_maf):
 *   MAF Key Retrieval (8.8.2.8) over a MAF Handshake with Entity B's own
 *   KmID/Km (Entity B enrols and registers with the MAF like any device, in
 *   the same state directory). Only SUID 32 (MAF-based SAEF) is accepted.
 *   Bound peer id: the Source MAF Client ID; Credential-ID "12-<Key Identifier>".
 * - "<hex RelativeKeID>@<MEF-FQDN>" of the MEF set with m2msec_resolver_set_mef:
 *   GET /fetchCredentials/<KeID>/22 over mutual TLS with Entity B's
 *   certificate (or TLS-PSK, m2msec_resolver_set_mef_psk); Kpsa = TS-0003
 *   10.3.7 (Ke, SUID 22, Entity B's CSE-ID).
 *   Bound peer id: the EnroleeID; Credential-ID "12-<KeID>"; expiry = Lifetime.
 * - a pre-provisioned KpsaID (m2msec_resolver_add_kpsa, SUID 12).
 * - anything else is refused.
 *
 * Keys obtained from the MAF or the MEF are cached sealed in the state
 * directory (cse.db) and used until their expiry without a new retrieval; at
 * or after expiry the identity is refused and its row erased. A Kpsa is then
 * fetched again (the MEF gives a fresh one while the Enrolee's Ke lives); a
 * Kc is not (a new MAF Key Registration is needed).
 *
 * Configure from one thread; after that m2msec_resolver_resolve,
 * m2msec_resolver_counter and m2msec_resolver_sweep are thread-safe.
 * Retrievals are serialised (one at a time per resolver).
 */
struct m2msec_resolver;
/* The outcome of one resolution: what the session is bound to, or why it was refused. */
struct m2msec_psk_info;

/* Stable values: append only. */
enum m2msec_psk_source {
    M2MSEC_PSK_SOURCE_NONE = 0,
    M2MSEC_PSK_SOURCE_MAF,   /* Kc from MAF Key Retrieval (SUID 32) */
    M2MSEC_PSK_SOURCE_MEF,   /* Kpsa from the MEF's fetchCredentials (SUID 22) */
    M2MSEC_PSK_SOURCE_LOCAL, /* pre-provisioned KpsaID (SUID 12) */
    M2MSEC_PSK_SOURCE_CERT,  /* no PSK: a certificate SAEF (m2msec_client_connect_cert) */
};
/** Static name of a source ("maf", "mef", "local", "cert", "none"). */
M2MSEC_API const char *m2msec_psk_source_name(enum m2msec_psk_source s);

/* Stable values: append only. */
enum m2msec_resolver_counter {
    M2MSEC_RESOLVER_RESOLVED = 0, /* identities resolved to a key */
    M2MSEC_RESOLVER_RETRIEVALS,   /* requests to the MAF or the MEF (successful or not) */
    M2MSEC_RESOLVER_CACHE_HITS,   /* resolved from the cache without a retrieval */
    M2MSEC_RESOLVER_LOCAL,        /* resolved from the pre-provisioned KpsaID table */
    M2MSEC_RESOLVER_REFUSALS,     /* identities refused (unknown, expired, wrong SUID, ...) */
    M2MSEC_RESOLVER_ERASED,       /* cached keys erased at expiry */
    M2MSEC_RESOLVER_COUNTER_MAX
};

/** Event callback: one "event=<name> key=value ..." line per event; never a key. */
typedef void (*m2msec_event_cb)(void *arg, const char *line);

M2MSEC_API struct m2msec_resolver *m2msec_resolver_new(void);
/** Wipes every key it holds. Accepts NULL. Not while another thread uses r. */
M2MSEC_API void m2msec_resolver_free(struct m2msec_resolver *r);
/** Borrowed: valid until the next configuration call on r (not set by resolve). */
M2MSEC_API const char *m2msec_resolver_error(const struct m2msec_resolver *r);
M2MSEC_API enum m2msec_err m2msec_resolver_error_code(const struct m2msec_resolver *r);
/**
 * Take a reference on cfg and freeze it. Used: the state directory
 * (required: Entity B's own enrolment and MAF registration, and the cache,
 * created with its key-encryption key if missing), the MAF (optional) and the
 * timeout. Opens the cache.
 */
M2MSEC_API int m2msec_resolver_configure(struct m2msec_resolver *r, struct m2msec_config *cfg);
/** Entity B's own CSE-ID (X-M2M-Origin towards the MEF, and the id the MEF derives Kpsa for). */
M2MSEC_API int m2msec_resolver_set_cse_id(struct m2msec_resolver *r, const char *cse_id);
/**
 * The MEF as source of Kpsa: address, FQDN (TLS server name, verified in its
 * certificate, and the FQDN of the KeIDs it issues), Entity B's certificate
 * and key (PEM, registered at the MEF as Enrolment Target) and the trust
 * anchor for the MEF's certificate. Files are read at each fetch.
 */
M2MSEC_API int m2msec_resolver_set_mef(struct m2msec_resolver *r, const char *hostport,
                                       const char *fqdn, const char *cert_file,
                                       const char *key_file, const char *ca_file);
/**
 * The MEF as source of Kpsa, reached with TLS 1.2 PSK instead of a
 * certificate: address, FQDN (TLS server name and the FQDN of the KeIDs it
 * issues), the PSK identity the MEF knows Entity B by (1..128 printable ASCII
 * characters, no space) and a file holding the key in hex (16..64 bytes; read
 * now, kept in secure memory). Replaces an earlier m2msec_resolver_set_mef,
 * and is replaced by a later one.
 */
M2MSEC_API int m2msec_resolver_set_mef_psk(struct m2msec_resolver *r, const char *hostport,
                                           const char *fqdn, const char *psk_id,
                                           const char *psk_file);
/**
 * A pre-provisioned KpsaID (TS-0003 10.5; PSK SAEF, SUID 12): key (16..64
 * bytes, copied into secure memory), the peer id the session is bound to and
 * an absolute expiry (seconds since the epoch; 0: none). At most 64 entries.
 */
M2MSEC_API int m2msec_resolver_add_kpsa(struct m2msec_resolver *r, const char *kpsa_id,
                                        const uint8_t *key, size_t key_len, const char *peer_id,
                                        int64_t expires);
/** The same, reading the key as hex text from a file (whitespace ignored). */
M2MSEC_API int m2msec_resolver_add_kpsa_file(struct m2msec_resolver *r, const char *kpsa_id,
                                             const char *path, const char *peer_id,
                                             int64_t expires);
/** Events (resolutions, retrievals, refusals with their reason, erasures). cb may be NULL. */
M2MSEC_API void m2msec_resolver_set_event_cb(struct m2msec_resolver *r, m2msec_event_cb cb,
                                             void *arg);
/**
 * Also report the per-handshake steady state: resolutions served from the
 * cache and the ends of sessions (off by default, so a busy Entity B does not
 * format a line per handshake; counters count them either way).
 */
M2MSEC_API void m2msec_resolver_set_event_debug(struct m2msec_resolver *r, int on);

M2MSEC_API struct m2msec_psk_info *m2msec_psk_info_new(void);
M2MSEC_API void m2msec_psk_info_free(struct m2msec_psk_info *info);
/**
 * Resolve identity. On success (0) the PSK is written to psk (psk_size
 * bytes available; 64 always suffice), *psk_len gets its length and info
 * describes the binding; the caller hands the key to its TLS stack and wipes
 * its buffer. On -1 nothing is written to psk and info says why
 * (m2msec_psk_info_error / _error_code / _reason): M2MSEC_ERR_AUTH or
 * M2MSEC_ERR_EXPIRED for refusals, other codes for internal failures. Either
 * way the TLS layer must fail the handshake as for an unknown identity.
 * Thread-safe; may block for a retrieval (up to the configured timeout).
 */
M2MSEC_API int m2msec_resolver_resolve(struct m2msec_resolver *r, const char *identity,
                                       uint8_t *psk, size_t psk_size, size_t *psk_len,
                                       struct m2msec_psk_info *info);
/** Erase cached keys whose expiry has passed; *erased (may be NULL) gets how many. */
M2MSEC_API int m2msec_resolver_sweep(struct m2msec_resolver *r, size_t *erased);
/** Current value of a counter (since m2msec_resolver_new). Thread-safe. */
M2MSEC_API uint64_t m2msec_resolver_counter(const struct m2msec_resolver *r,
                                            enum m2msec_resolver_counter which);
/** Number of keys in the cache (live or not yet swept). */
M2MSEC_API int m2msec_resolver_cached(struct m2msec_resolver *r, size_t *n);

/** Borrowed fields of a resolution, valid until the next resolve into info or its free. */
M2MSEC_API enum m2msec_psk_source m2msec_psk_info_source(const struct m2msec_psk_info *info);
/** The psk_identity as presented. */
M2MSEC_API const char *m2msec_psk_info_key_id(const struct m2msec_psk_info *info);
/** IdA: the CSE-ID / AE-ID of the peer (from the MAF, the MEF or the KpsaID table), or NULL. */
M2MSEC_API const char *m2msec_psk_info_peer_id(const struct m2msec_psk_info *info);
/** Credential-ID (TS-0003 10.4) of the key, "12-<identity>". */
M2MSEC_API const char *m2msec_psk_info_credential_id(const struct m2msec_psk_info *info);
M2MSEC_API unsigned m2msec_psk_info_suid(const struct m2msec_psk_info *info);
/** Absolute expiry of the key (0: none). */
M2MSEC_API int64_t m2msec_psk_info_expires(const struct m2msec_psk_info *info);
/** 1 when the key came from the cache without a retrieval. */
M2MSEC_API int m2msec_psk_info_cache_hit(const struct m2msec_psk_info *info);
/**
 * Refusals: a static token ("unknown", "malformed", "expired", "suid_mismatch",
 * "retrieval_refused", "retrieval_failed", "not_configured", "internal"), or
 * NULL after a success.
 */
M2MSEC_API const char *m2msec_psk_info_reason(const struct m2msec_psk_info *info);
M2MSEC_API const char *m2msec_psk_info_error(const struct m2msec_psk_info *info);
M2MSEC_API enum m2msec_err m2msec_psk_info_error_code(const struct m2msec_psk_info *info);
/** oneM2M status the source answered a refused retrieval with (4103, 4004...), or 0. */
M2MSEC_API int m2msec_psk_info_rsc(const struct m2msec_psk_info *info);

/*
 * Entity B: a reference CSE endpoint (`m2msec cse`). TLS 1.2 PSK with the
 * resolver as PSK lookup, oneM2M requests over HTTP/1.1. Each session is
 * bound to the resolved peer id (IdA) or, when there is none, to the
 * Credential-ID. A request whose X-M2M-Origin is the bound id or the
 * Credential-ID is answered 2000 with
 * {"peer", "credentialID", "suid", "keyID", "cse"}; any other originator
 * gets 4106 (ORIGINATOR_NOT_AUTHENTICATED). Keep-alive with an idle
 * timeout; every read, write and handshake has a deadline; at most
 * max_conns connections at once (more are closed at once).
 */
struct m2msec_cse;

/** r is borrowed: it must outlive the server. NULL on allocation failure. */
M2MSEC_API struct m2msec_cse *m2msec_cse_new(struct m2msec_resolver *r);
/** Stops the server if running. Accepts NULL. */
M2MSEC_API void m2msec_cse_free(struct m2msec_cse *s);
/** Borrowed: valid until the next call on s. */
M2MSEC_API const char *m2msec_cse_error(const struct m2msec_cse *s);
M2MSEC_API enum m2msec_err m2msec_cse_error_code(const struct m2msec_cse *s);
/**
 * Limits, before start. 0 keeps a default: max_conns 32, idle_ms 5000,
 * io_ms (handshake, each read and write, one request) 10000.
 */
M2MSEC_API int m2msec_cse_set_limits(struct m2msec_cse *s, unsigned max_conns, unsigned idle_ms,
                                     unsigned io_ms);
/**
 * Bind addr ("ip:port", "[v6]:port"; port 0 picks one) and serve from a
 * background thread. The resolver must have a CSE-ID. Returns once bound.
 */
M2MSEC_API int m2msec_cse_start(struct m2msec_cse *s, const char *addr);
/** Borrowed bound address "ip:port" after start, or NULL. */
M2MSEC_API const char *m2msec_cse_addr(const struct m2msec_cse *s);
/**
 * Stop accepting, let connections finish their current request (open
 * keep-alive sessions are closed at once), wait for them and the listener.
 */
M2MSEC_API void m2msec_cse_stop(struct m2msec_cse *s);
/** Connections served so far. */
M2MSEC_API uint64_t m2msec_cse_connections(const struct m2msec_cse *s);

/*
 * Entity B with certificates (TS-0003 8.2.2.2), set before start. With a
 * certificate the server takes certificate clients and, on the same port,
 * PSK clients through the resolver as before. A client certificate is
 * verified in the handshake (8.1.2.5) against the client certificate
 * information below; any failure (unknown root, expired, revoked, wrong
 * flavour, wildcard, raw key digest mismatch, no certificate) aborts it and
 * the event log says why. Binding: a CSE-ID or AE-ID certificate binds the
 * session to that id; a device, Node-ID or raw public key certificate to its
 * Credential-ID (31-<hw id>, 34-<Node-ID>, 30-<ni name>; TS-0003 10.4).
 * Entity B's answer then carries "flavour" instead of "suid" and "keyID".
 */
/**
 * Entity B's own credential: cert_file (PEM chain, end entity first) and
 * key_file (PEM P-256 key, or a "pkcs11:" URL); cert_file NULL presents the
 * key as an RFC 7250 raw public key.
 */
M2MSEC_API int m2msec_cse_set_cert(struct m2msec_cse *s, const char *cert_file,
                                   const char *key_file);
/** A PEM file of trust anchors for client certificates (at most 16 files). */
M2MSEC_API int m2msec_cse_add_client_ca(struct m2msec_cse *s, const char *ca_file);
/** A PEM CRL checked for client certificates (at most 16 files). */
M2MSEC_API int m2msec_cse_add_client_crl(struct m2msec_cse *s, const char *crl_file);
/**
 * The client certificate flavour: "cse-id", "ae-id", "device", "node-id",
 * or "any" (the default with client CAs: the certificate's own kind, read in
 * the order AE-ID, CSE-ID, Node-ID, device, decides the binding).
 */
M2MSEC_API int m2msec_cse_set_client_flavour(struct m2msec_cse *s, const char *flavour);
/**
 * A trusted raw public key, by its RFC 6920 name ("ni:///sha-256;...",
 * TS-0003 10.1.2; at most 64). Raw keys are a flavour of their own: not
 * combined with client CAs.
 */
M2MSEC_API int m2msec_cse_add_client_rawpk(struct m2msec_cse *s, const char *ni_name);

/*
 * serviceSubscribedAppRule-shaped rules (TS-0003 8.2.1; TS-0004 apci, aai,
 * aae), set before start. A request registering an AE (POST with a body
 * {"m2m:ae": {"api": <App-ID>, ...}}, or a Content-Type with ty=2) is
 * accepted (2001) when its X-M2M-Origin is the CSE-ID / AE-ID the session is
 * bound to, or, except on CSE-ID / AE-ID certificate sessions (4106 there),
 * when a rule lists the session's Credential-ID and matches the origin as
 * AE-ID and the App-ID; otherwise it is refused with 4126
 * APP_RULE_VALIDATION_FAILED. The accepted AE-ID is a valid originator for
 * the rest of that session.
 */
/**
 * Add "CRED-IDS:APP-IDS:AE-IDS", each a comma-separated list: exact
 * Credential-IDs; App-IDs and AE-IDs exact or ending in one '*' ("C*").
 * At most 256 rules.
 */
M2MSEC_API int m2msec_cse_add_app_rule(struct m2msec_cse *s, const char *rule);
/** Add the rules of a file: one per line; blank lines and '#' comments skipped. */
M2MSEC_API int m2msec_cse_load_app_rules(struct m2msec_cse *s, const char *path);
/** Number of rules. */
M2MSEC_API size_t m2msec_cse_app_rule_count(const struct m2msec_cse *s);

/*
 * Entity A: a security association with Entity B (TS-0003 8.2.2.1, 8.2.2.3).
 * TLS 1.2 PSK to hostport (SNI: m2msec_config_set_sni when set, else the
 * host when it is a name), then one oneM2M request GET / with X-M2M-Origin =
 * origin (NULL: the device's Enrolee-ID from the state directory), whose
 * answer (Entity B's view of the session, see m2msec_cse) is kept.
 */
struct m2msec_saef;

/**
 * Connect with the key stored for key_id in the state directory:
 * - a Kc registered under that Key Identifier (MAF SAEF, SUID 32); or
 * - the device's own KeID: Kpsa = TS-0003 10.3.7 (Ke, SUID 22, peer_id), the
 *   key the MEF gives Entity B peer_id (PSK SAEF via the MEF; peer_id = IdB
 *   required).
 * A key whose lifetime has ended is not used: M2MSEC_ERR_EXPIRED, meaning a
 * new MAF Key Registration (Kc) or a new enrolment (Ke) is needed. A failed
 * handshake is M2MSEC_ERR_AUTH (Entity B refused the identity or the key); a
 * refused request is M2MSEC_ERR_REFUSED with m2msec_client_error_rsc.
 */
M2MSEC_API int m2msec_client_connect(struct m2msec_client *c, const char *hostport,
                                     const char *key_id, const char *peer_id, const char *origin,
                                     struct m2msec_saef **out);
/** The same with a pre-provisioned KpsaID and its key (PSK SAEF, SUID 12); key is copied. */
M2MSEC_API int m2msec_client_connect_psk(struct m2msec_client *c, const char *hostport,
                                         const char *kpsa_id, const uint8_t *key, size_t key_len,
                                         const char *origin, struct m2msec_saef **out);
/**
 * Certificate SAEF (TS-0003 8.2.2.2): TLS 1.2 ECDHE-ECDSA to hostport with
 * our cert_file and key_file (PEM, or a "pkcs11:" URL; cert_file NULL: the
 * key as an RFC 7250 raw public key). Entity B is verified in the handshake
 * (8.1.2.5) as peer_flavour ("cse-id", "fqdn", "node-id", "device", or "raw"
 * with peer_id its RFC 6920 name and no anchors) with peer_id (IdB) in its
 * certificate under peer_ca_files (1..16 PEM files); a mismatch is
 * M2MSEC_ERR_AUTH. No state directory is needed when origin is given. The
 * SNI is m2msec_config_set_sni's name, else the host when it is a name.
 */
M2MSEC_API int m2msec_client_connect_cert(struct m2msec_client *c, const char *hostport,
                                          const char *cert_file, const char *key_file,
                                          const char *peer_flavour, const char *peer_id,
                                          const char *const *peer_ca_files, size_t n_peer_ca,
                                          const char *origin, struct m2msec_saef **out);
/**
 * Make the following connects register an AE with this App-ID (POST /,
 * {"m2m:ae": {"api": app_id, "rr": false}}, expecting 2001) instead of
 * GET /; NULL returns to GET.
 */
M2MSEC_API int m2msec_client_saef_register_ae(struct m2msec_client *c, const char *app_id);
/** Which key was used (MAF: a Kc; MEF: a Kpsa derived from Ke; LOCAL: the given key). */
M2MSEC_API enum m2msec_psk_source m2msec_saef_source(const struct m2msec_saef *a);
M2MSEC_API unsigned m2msec_saef_suid(const struct m2msec_saef *a);
/** Expiry of the key used (0: none known). */
M2MSEC_API int64_t m2msec_saef_key_expires(const struct m2msec_saef *a);
/** Borrowed: the psk_identity sent, the X-M2M-Origin sent, the suite negotiated. */
M2MSEC_API const char *m2msec_saef_key_id(const struct m2msec_saef *a);
M2MSEC_API const char *m2msec_saef_origin(const struct m2msec_saef *a);
M2MSEC_API const char *m2msec_saef_cipher(const struct m2msec_saef *a);
/** Borrowed members of Entity B's answer: who it says we are, and itself. */
M2MSEC_API const char *m2msec_saef_peer(const struct m2msec_saef *a);
M2MSEC_API const char *m2msec_saef_credential_id(const struct m2msec_saef *a);
M2MSEC_API unsigned m2msec_saef_peer_suid(const struct m2msec_saef *a);
M2MSEC_API const char *m2msec_saef_cse(const struct m2msec_saef *a);
/** Certificate sessions: the flavour Entity B read us as ("cse-id", "raw", ...), else NULL. */
M2MSEC_API const char *m2msec_saef_flavour(const struct m2msec_saef *a);
/** Certificate sessions: IdB as verified in Entity B's certificate, else NULL. */
M2MSEC_API const char *m2msec_saef_verified_peer(const struct m2msec_saef *a);
/** After an AE registration: the AE-ID and App-ID Entity B accepted, else NULL. */
M2MSEC_API const char *m2msec_saef_aei(const struct m2msec_saef *a);
M2MSEC_API const char *m2msec_saef_api(const struct m2msec_saef *a);
/** Borrowed JSON text of the answer. */
M2MSEC_API const char *m2msec_saef_body(const struct m2msec_saef *a);
M2MSEC_API void m2msec_saef_free(struct m2msec_saef *a);

/*
 * IBC credentials and decentralised authentication [PROJECT; seed 000,
 * IBC-DESIGN 3.5 and 4.2; docs/PROTOCOL.md 12].
 */
/**
 * Ask for an IBC credential in the Enrolment Exchange (ibcEnrolmentInd) for
 * id1 (a CSE-ID or AE-ID; NULL: the Enrolee-ID the MEF returns). The MEF
 * refuses an ID1 it did not configure for this credential. The credential
 * (ID2, SSK, PVT) is validated, then kept sealed in the state directory with
 * the MEF's published MPKs (the trust store).
 */
M2MSEC_API int m2msec_config_set_ibc(struct m2msec_config *cfg, const char *id1);
/** After an enrolment that obtained an IBC credential: its ID1 (else NULL) and expiry. */
M2MSEC_API const char *m2msec_client_ibc_id1(const struct m2msec_client *c);
M2MSEC_API int64_t m2msec_client_ibc_expires(const struct m2msec_client *c);
/**
 * GET /mef/pkg on a session with the configured MEF: replace the trust
 * store's MPKs of that MEF with the ones it publishes now (after a rotation).
 * *n (may be NULL) gets how many.
 */
M2MSEC_API int m2msec_client_ibc_refresh(struct m2msec_client *c, size_t *n);

/**
 * Decentralised authentication between two enrolled devices: IBC-SIGMA
 * (three messages over TCP, each party signs the transcript with ECCSI,
 * ephemeral P-256 ECDH, HKDF) gives Kpsa/KpsaID; then TLS 1.2 PSK with that
 * key, on which the initiator sends one oneM2M request (GET / with
 * X-M2M-Origin its ID1) and the responder answers. The object holds the
 * device's credential and trust store (its MEF's MPKs plus any added with
 * m2msec_ibc_add_trust). Not thread-safe.
 */
struct m2msec_ibc;
/** A new, empty object (NULL when out of memory); then m2msec_ibc_load. */
M2MSEC_API struct m2msec_ibc *m2msec_ibc_new(void);
M2MSEC_API void m2msec_ibc_free(struct m2msec_ibc *b);
M2MSEC_API const char *m2msec_ibc_error(const struct m2msec_ibc *b);
M2MSEC_API enum m2msec_err m2msec_ibc_error_code(const struct m2msec_ibc *b);
/** Load the IBC credential (sealed SSK) and the stored MPKs of a device state directory. */
M2MSEC_API int m2msec_ibc_load(struct m2msec_ibc *b, const char *state_dir);
/** Trust another PKG: "FQDN:KPAKHEX" or "FQDN:KPAKHEX:NOTAFTER" (Unix seconds). */
M2MSEC_API int m2msec_ibc_add_trust(struct m2msec_ibc *b, const char *spec);
/** Clock skew accepted on peer times and expiries (0..300 s; default 60). */
M2MSEC_API int m2msec_ibc_set_skew(struct m2msec_ibc *b, unsigned seconds);
/** Longest credential lifetime accepted from a peer (default 400 days). */
M2MSEC_API int m2msec_ibc_set_max_lifetime(struct m2msec_ibc *b, uint64_t seconds);
/** Deadline of every step (connect, each message, TLS handshake, request), ms (default 10000). */
M2MSEC_API int m2msec_ibc_set_timeout_ms(struct m2msec_ibc *b, unsigned ms);
/** Borrowed: own ID1 and FQDN, and the own credential's expiry (after m2msec_ibc_load). */
M2MSEC_API const char *m2msec_ibc_own_id1(const struct m2msec_ibc *b);
M2MSEC_API const char *m2msec_ibc_own_fqdn(const struct m2msec_ibc *b);
M2MSEC_API int64_t m2msec_ibc_own_expires(const struct m2msec_ibc *b);
/** Trust store entries (after load and add_trust). */
M2MSEC_API size_t m2msec_ibc_trust_count(const struct m2msec_ibc *b);

/**
 * Initiator: authenticate the responder at hostport, which must hold an ID2
 * for peer_id1, then send the request. On success the getters below describe
 * the session; on failure the error says who refused what.
 */
M2MSEC_API int m2msec_ibc_connect(struct m2msec_ibc *b, const char *hostport, const char *peer_id1);
/** Borrowed, after a connect or a listener session: KpsaID, peer ID1, session expiry. */
M2MSEC_API const char *m2msec_ibc_kpsa_id(const struct m2msec_ibc *b);
M2MSEC_API const char *m2msec_ibc_peer_id1(const struct m2msec_ibc *b);
M2MSEC_API int64_t m2msec_ibc_session_expires(const struct m2msec_ibc *b);
/** Initiator: the responder's answer (X-M2M-RSC and JSON body). */
M2MSEC_API int m2msec_ibc_answer_rsc(const struct m2msec_ibc *b);
M2MSEC_API const char *m2msec_ibc_answer(const struct m2msec_ibc *b);

/** One line per listener event ("listening", "session", "refused", "request", "closed"). */
typedef void (*m2msec_ibc_event_cb)(void *arg, const char *event, const char *detail);
/**
 * Responder: accept initiators on addr ("ip:port", port 0 picks one) one at a
 * time until *stop becomes non-zero (checked a few times a second) or, with
 * once, after the first session that reached the request. peers (npeers > 0):
 * the only initiator ID1s accepted. A refused initiator does not end the
 * loop. The replay cache of M1s lives as long as the call.
 */
M2MSEC_API int m2msec_ibc_listen(struct m2msec_ibc *b, const char *addr, const char *const *peers,
                                 size_t npeers, int once, const volatile int *stop,
                                 m2msec_ibc_event_cb cb, void *arg);

/**
 * Diagnostics and tests: write each connect's M1, M2 and M3 to dir/m1.bin,
 * m2.bin, m3.bin; send the M1 and/or M3 of such files instead of fresh ones
 * (a replay the responder must refuse); send origin instead of the own ID1
 * in the request. NULL clears each.
 */
M2MSEC_API int m2msec_ibc_set_capture(struct m2msec_ibc *b, const char *dir);
M2MSEC_API int m2msec_ibc_set_replay(struct m2msec_ibc *b, const char *m1_file,
                                     const char *m3_file);
M2MSEC_API int m2msec_ibc_set_origin(struct m2msec_ibc *b, const char *origin);

#ifdef __cplusplus
}
#endif
#endif /* M2MSEC_H */
