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

/*
 * MAF Key Registration (TS-0003 8.8.2.7) and Key Retrieval (8.8.2.8). Both
 * run the MAF Handshake with the KmID/Km a prior m2msec_client_maf_register
 * stored, on the MAF configured with m2msec_config_set_maf.
 * Key Registration: Kc is the session's exporter output (10.3.1, label
 * "EXPORTER-oneM2M-Connection"); the registration is made under the stored
 * MAF Client Registration and its adminFQDN; Kc is stored sealed in the
 * state directory under its Key Identifier "<RelativeKeyID>@<MAF-FQDN>".
 * Key Retrieval (for a target that is itself a registered MAF client)
 * returns the key's metadata and check value; the key itself never crosses
 * this API.
 */
struct m2msec_maf_key;
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

#ifdef __cplusplus
}
#endif
#endif /* M2MSEC_H */
