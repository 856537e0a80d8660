/*
 * client/bootstrap.h - the PKI-based bootstrap of seed 002: wire message, wrap key, purposes.
 *
 * Layer: client (codec part, I/O-free; shared by mefd and the client). The
 * field node and the infrastructure node (mefd) run mutual-certificate TLS
 * 1.2; both export RootCredentialWrapKey (RFC 5705, label
 * M2MSEC_LABEL_ROOT_WRAP, 32 bytes, no context); mefd answers
 * `POST /mef/bootstrap` with the root credential wrapped under it by AES-256
 * key wrap (RFC 3394, default IV) and its parameters. docs/PROTOCOL.md
 * section 13 has the mapping.
 */
#ifndef M2MSEC_CLIENT_BOOTSTRAP_H
#define M2MSEC_CLIENT_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"

/* @spec seed 002 x.1.2.1.2 step 3: the exporter label is ours (the seed names none). */
#define M2MSEC_LABEL_ROOT_WRAP   "EXPORTER-oneM2M-RootCredentialWrap"
#define M2MSEC_ROOT_WRAP_KEY_LEN 32 /* AES-256 */
#define M2MSEC_ROOT_KEY_LEN      32
#define M2MSEC_ROOT_WRAPPED_LEN  (M2MSEC_ROOT_KEY_LEN + 8) /* RFC 3394 adds one block */
/* The value of member "keyWrapAlg": RFC 3394 with the default IV A6A6A6A6A6A6A6A6. */
#define M2MSEC_ROOT_WRAP_ALG "aes256-kw-rfc3394"
/* The path segment under /mef (POST /mef/bootstrap). */
#define M2MSEC_PATH_BOOTSTRAP "bootstrap"

/* The response body (2001). Strings owned; wrapped is ciphertext, not a secret. */
struct m2msec_boot_resp {
    char *root_id;                            /* "rootCredID": "<32 hex>@<MEF-FQDN>" */
    uint8_t wrapped[M2MSEC_ROOT_WRAPPED_LEN]; /* "wrappedRootCred", base64 */
    int64_t lifetime; /* "lifetime": m2m:timestamp, the root credential's expiry */
    char *purpose;    /* "purpose": "maf:<MAF-FQDN>" or "cse:<CSE-ID>" */
    char *enrolee_id; /* "enroleeID": handed to the target with the credential */
    char *node_id;    /* "nodeID": the Credential-ID mefd bound the session to */
};
void m2msec_boot_resp_clear(struct m2msec_boot_resp *m);
int m2msec_boot_resp_encode(const struct m2msec_boot_resp *m, struct m2msec_buf *out,
                            struct m2msec_error *err);
/*
 * Strict: every member required, no other; rootCredID a KeID-form identifier,
 * wrappedRootCred exactly M2MSEC_ROOT_WRAPPED_LEN bytes of canonical base64,
 * keyWrapAlg M2MSEC_ROOT_WRAP_ALG, purpose valid (m2msec_boot_purpose_parse),
 * enroleeID a CSE-ID or AE-ID. PROTOCOL errors (rsc 4000) otherwise.
 */
int m2msec_boot_resp_decode(const uint8_t *buf, size_t len, struct m2msec_boot_resp *out,
                            struct m2msec_error *err);
/* The request body: empty, or a JSON object without members. PROTOCOL (rsc 4000) otherwise. */
int m2msec_boot_req_decode(const uint8_t *buf, size_t len, struct m2msec_error *err);

/*
 * A purpose "maf:<MAF-FQDN>" (the root credential is the Km for that MAF,
 * SUID 21) or "cse:<CSE-ID>" (a Kpsa for that CSE, SUID 22). 0 with *suid
 * and *target (pointing into p), -1 when malformed.
 */
int m2msec_boot_purpose_parse(const char *p, unsigned *suid, const char **target);

/*
 * @spec seed 002 x.1.2.1.2 step 4: unwrap m->wrapped under the 32-byte
 * RootCredentialWrapKey; M2MSEC_ERR_AUTH when the RFC 3394 integrity check
 * fails (tampered blob, other key). *key gets the 32-byte root credential.
 */
int m2msec_boot_unwrap(const struct m2msec_secret *wrap_key, const struct m2msec_boot_resp *m,
                       struct m2msec_secret **key, struct m2msec_error *err);

/*
 * The EnroleeID a bootstrapped node gets (targets require a CSE-ID or
 * AE-ID): the AE-ID-Stem "C" + 32 lowercase hex of the first 16 bytes of
 * HMAC-SHA-256("m2msec bootstrap EnroleeID", node Credential-ID) (the label
 * is the HMAC key). Stable across re-bootstraps of the same identity.
 */
#define M2MSEC_BOOT_ENROLEE_ID_LEN 34 /* "C" + 32 hex + NUL */
int m2msec_boot_enrolee_id(const char *node, char out[M2MSEC_BOOT_ENROLEE_ID_LEN],
                           struct m2msec_error *err);

#endif
