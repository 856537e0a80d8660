/*
 * tls/x509.h - certificate-based TLS 1.2 (ECDHE-ECDSA, P-256) and a development PKI.
 *
 * Layer: tls. Callers see no GnuTLS type. Connections made here are ordinary
 * struct m2msec_tls_conn: read, write, export, close and free from tls/tls.h
 * work unchanged; m2msec_tls_psk_identity() is NULL on them.
 *
 * @spec TS-0003 10.2.3 suites: TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 (mandatory),
 * TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 and TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
 * TLS 1.2 only, group secp256r1, signatures ECDSA with SHA-256.
 * @spec TS-0003 10.1.1.1 own and peer end-entity keys are ECDSA P-256; any other
 * key type or curve is refused when loading, and in a peer's certificate.
 * @spec TS-0003 8.1.2.1 all six flavours: FQDN, CSE-ID, AE-ID, Node-ID and
 * device certificates, and RFC 7250 raw public keys (GnuTLS GNUTLS_CRT_RAWPK;
 * the sessions of tls.c must be created with GNUTLS_ENABLE_RAWPK). Own keys
 * may live on a PKCS#11 token (8.1.2.3).
 *
 * Errors: a peer certificate that fails verification fails the handshake with
 * M2MSEC_ERR_AUTH and a message saying why (unknown issuer, expired, revoked,
 * name mismatch, wrong key type, issuer constraints violated, public key
 * identifier mismatch, ...); so does a client that sends no
 * certificate to a server requiring one, and, on the other side, a peer
 * rejecting our certificate with a certificate alert. Bad options and files are
 * M2MSEC_ERR_INVALID_ARGUMENT or M2MSEC_ERR_IO.
 */
#ifndef M2MSEC_TLS_X509_H
#define M2MSEC_TLS_X509_H

#include <stddef.h>
#include <stdint.h>

#include "tls/tls.h"
#include "util/error.h"

/*
 * @spec TS-0003 8.1.2.1 certificate flavours, i.e. where the peer's identity
 * sits in its certificate. Zero is "not configured" so zeroed options are
 * refused instead of silently meaning "anyone". The subjectAltName encodings
 * are those of tls/certid.h (and docs/PROTOCOL.md); every match is exact and
 * nothing with a '*' ever matches.
 */
enum m2msec_cert_flavour {
    M2MSEC_CERT_UNSET = 0,
    M2MSEC_CERT_ANY,     /* any end entity under the anchors; read the identity from the conn */
    M2MSEC_CERT_FQDN,    /* MEF/MAF FQDN: SAN dNSName or URI host, exact, case-insensitive */
    M2MSEC_CERT_CSE_ID,  /* SAN dNSName = public domain name form of the CSE-ID, case-insensitive */
    M2MSEC_CERT_AE_ID,   /* SAN URI = Absolute AE-ID "scheme://sp-fqdn/ae-id" (scheme, host ci) */
    M2MSEC_CERT_NODE_ID, /* SAN URI "urn:oid:<OID Node-ID>", or the Node-ID when it is a URN */
    M2MSEC_CERT_DEVICE,  /* SAN otherName: OID M2M Device ID (M2MSEC_M2M_DEVICE_INDICATION_OID) */
    M2MSEC_CERT_RAW,     /* RFC 7250 raw public key, identified by its RFC 6920 name (10.1.2) */
};

/*
 * @spec TS-0003 10.1.1.4.1 the otherName type-id of device certificates: the
 * M2M Device Indication ID arc of the OID M2M Device ID (TS-0001 annex H.2.1).
 * A hardware instance id is written as the whole dotted M2M Device ID:
 * "0.2.481.1.<manufacturer>.<model>.<serial>[.<expanded>]".
 */
#define M2MSEC_M2M_DEVICE_INDICATION_OID "0.2.481.1"
/* Longest identifier of any flavour (canonical form, without NUL). */
#define M2MSEC_CERT_ID_MAX 512
/* Longest Credential-ID formed here: "NN-" and an identifier, with NUL. */
#define M2MSEC_CERT_CRED_ID_MAX (3 + M2MSEC_CERT_ID_MAX + 1)

/*
 * @spec TS-0003 8.1.2.4 the "certificate information" used to authenticate a
 * peer: its flavour, the identifier expected in its certificate, the trust
 * anchors (path validation per RFC 5280 s.6.1) and, for the status check of
 * 8.1.2.2, optional CRLs. Everything is borrowed for the duration of the call
 * that takes it.
 *
 * Identifiers (id, and ids[] when more than one is acceptable; the peer
 * passes when any one matches):
 *   FQDN: required (a client defaults to its SNI name).
 *   CSE_ID, AE_ID, NODE_ID, DEVICE: optional. Without one, any certificate
 *   of the flavour under the anchors passes and its identity is read from it
 *   (8.1.2.4, Entity B about Entity A): the first subjectAltName entry of the
 *   flavour's form, see m2msec_tls_peer_identity().
 *   RAW: required, RFC 6920 names (ni:///sha-256;..., sha-256-128, sha-256-120);
 *   no anchors, CRLs or path validation (8.1.2.2 exempts raw keys).
 *   ANY: none.
 */
struct m2msec_cert_info {
    enum m2msec_cert_flavour flavour;
    const char *id;               /* the expected identifier, see above */
    const char *const *ca_files;  /* PEM trust anchors (one or more certificates per file) */
    size_t n_ca_files;            /* at least 1 (RAW: none needed) */
    const char *const *crl_files; /* PEM CRLs; optional */
    size_t n_crl_files;
    const char *const *ids; /* more accepted identifiers besides id; optional */
    size_t n_ids;
};

/* Server side. The object is read-only after creation and may serve many threads. */
struct m2msec_tls_cert_opts {
    /*
     * Our credential (@spec TS-0003 8.1.2.3). cert_file: PEM end-entity
     * certificate, then intermediates in order; NULL: present key_file's
     * public key as an RFC 7250 raw public key instead (10.1.1.2).
     * key_file: PEM unencrypted ECDSA P-256 key (PKCS#8 or SEC1), or a
     * PKCS#11 URL "pkcs11:..." (RFC 7512) naming a P-256 private key on a
     * token; its PIN comes from the URL's pin-value / pin-source, else from
     * the environment variable M2MSEC_PKCS11_PIN.
     */
    const char *cert_file;
    const char *key_file;
    int require_client_cert; /* mutual TLS: request, require and verify a client certificate */
    struct m2msec_cert_info client; /* how clients are verified (with require_client_cert) */
    /*
     * Optional: accept TLS-PSK clients on the same server too (TS-0003 10.2.2
     * suites beside the 10.2.3 ones). A client offering only PSK suites is
     * then authenticated by its psk_identity through psk_lookup (with
     * psk_arg, and the ctx of m2msec_tls_accept_cert), exactly as by
     * m2msec_tls_server_new_psk: unknown identities fail like wrong keys; no
     * certificate is asked of it. Certificate clients are unaffected. Tell
     * the two apart with m2msec_tls_psk_identity() (NULL: certificate).
     */
    m2msec_psk_lookup_fn psk_lookup;
    void *psk_arg;
};

/*
 * A server's credentials, trust anchors, CRLs and checks, loaded from the files
 * at creation. Reference counted: each connection accepted with it holds a
 * reference, so a server being replaced (a certificate reload) lives until its
 * last connection ends. _free drops one reference.
 */
struct m2msec_tls_cert_server;
struct m2msec_tls_cert_server *m2msec_tls_cert_server_new(const struct m2msec_tls_cert_opts *o,
                                                          struct m2msec_error *err);
void m2msec_tls_cert_server_ref(struct m2msec_tls_cert_server *s);
void m2msec_tls_cert_server_free(struct m2msec_tls_cert_server *s);

/*
 * Server handshake on an accepted socket. Takes ownership of fd (closed by
 * m2msec_tls_conn_free, or here on failure). ctx is passed to the PSK lookup
 * of a server with psk_lookup, as by m2msec_tls_accept.
 */
struct m2msec_tls_conn *m2msec_tls_accept_cert(struct m2msec_tls_cert_server *s, int fd, void *ctx,
                                               unsigned timeout_ms, struct m2msec_error *err);

/*
 * Client side. The server is always verified against server.ca_files. With
 * flavour FQDN and id NULL, the expected name is the SNI name (sni, or the
 * host of hostport when it is a name).
 */
struct m2msec_tls_cert_client {
    const char *hostport;  /* "host:port", "[v6]:port" */
    const char *sni;       /* server name to send (RFC 6066); NULL: host if it is a name */
    const char *cert_file; /* our certificate chain (PEM); NULL: none, or a raw key (below) */
    const char *key_file;  /* with cert_file; alone: our raw public key (RFC 7250); or pkcs11: */
    struct m2msec_cert_info server;
    unsigned timeout_ms; /* connect, handshake, and default per-operation deadline */
};
struct m2msec_tls_conn *m2msec_tls_connect_cert(const struct m2msec_tls_cert_client *o,
                                                struct m2msec_error *err);

/*
 * @spec TS-0003 8.2.2.2 the identity a peer was verified as, to bind the
 * session to: the canonical identifier that matched the configured one, or,
 * with no identifier configured, the first one of the flavour found in the
 * certificate (CSE-ID, AE-ID, Node-ID, hardware instance id, FQDN), or the
 * configured RFC 6920 name that matched a raw public key. NULL on PSK
 * connections, unverified ones and in ANY mode. *flavour (when not NULL)
 * receives the flavour it was verified under (UNSET with NULL).
 */
const char *m2msec_tls_peer_identity(const struct m2msec_tls_conn *c,
                                     enum m2msec_cert_flavour *flavour);
/*
 * The identity of flavour f that the verified peer certificate carries (the
 * first subjectAltName entry of f's form, canonical), whatever flavour it was
 * verified under: how a server in ANY mode reads a CSE-ID, AE-ID, Node-ID or
 * hardware id. RAW: the sha-256 RFC 6920 name of the peer's key. -1 when
 * there is none (M2MSEC_ERR_NOT_FOUND) or no verified peer.
 */
int m2msec_tls_peer_identity_of(const struct m2msec_tls_conn *c, enum m2msec_cert_flavour f,
                                char *out, size_t outsz, struct m2msec_error *err);
/*
 * @spec TS-0003 10.4 the Credential-ID of the verified peer as flavour f
 * (UNSET: the flavour it was verified under): 30-<public key id>,
 * 31-<hardware instance id>, 32-<CSE-ID>, 33-<AE-ID>, 34-<Node-ID>. FQDN and
 * ANY have no Credential-ID type. out needs M2MSEC_CERT_CRED_ID_MAX bytes.
 */
int m2msec_tls_peer_credential_id(const struct m2msec_tls_conn *c, enum m2msec_cert_flavour f,
                                  char *out, size_t outsz, struct m2msec_error *err);
/*
 * @spec TS-0003 8.1.2.5 path validation against ONE party's trust anchors:
 * re-verifies the certificate chain the peer presented on c (already accepted
 * by the handshake, possibly against a wider anchor set) with exactly the PEM
 * anchors ca_files[0..n_ca) and CRLs crl_files[0..n_crl), for the peer's role
 * (clientAuth when c is a server connection). For a server that pools the
 * anchors of many peers: once the peer's identity names one configured party,
 * its chain must lead to that party's roots. M2MSEC_ERR_AUTH with the reason
 * (unknown issuer, expired, revoked, ...) when it does not; -1 too on PSK,
 * raw-key or unverified connections.
 */
int m2msec_tls_peer_chain_verify(const struct m2msec_tls_conn *c, const char *const *ca_files,
                                 size_t n_ca, const char *const *crl_files, size_t n_crl,
                                 struct m2msec_error *err);
/* The same from an identifier of flavour f (validated, then in canonical form). */
int m2msec_x509_credential_id(enum m2msec_cert_flavour f, const char *identity, char *out,
                              size_t outsz, struct m2msec_error *err);

/*
 * The verified peer certificate (either side), for servers in ANY mode that
 * read the client's identity from its certificate. Borrowed, valid for the
 * connection's life; empty / NULL on PSK connections and when no certificate
 * was verified. Only dNSName and URI entries are listed (in certificate order,
 * at most M2MSEC_TLS_PEER_SAN_MAX; entries with embedded NULs are dropped).
 */
#define M2MSEC_TLS_PEER_SAN_MAX 32
enum m2msec_san_type {
    M2MSEC_SAN_DNS = 1,
    M2MSEC_SAN_URI = 2,
};
size_t m2msec_tls_peer_san_count(const struct m2msec_tls_conn *c);
/* Entry i (NULL when out of range); *type receives its kind when type is not NULL. */
const char *m2msec_tls_peer_san(const struct m2msec_tls_conn *c, size_t i,
                                enum m2msec_san_type *type);

/*
 * @spec TS-0003 10.1.2 public key identifier: RFC 6920 "ni:///sha-256;" followed
 * by the unpadded base64url SHA-256 of the DER SubjectPublicKeyInfo.
 */
#define M2MSEC_NI_SHA256_LEN 58 /* 14 + 43 + NUL */
const char *m2msec_tls_peer_key_id(const struct m2msec_tls_conn *c);
int m2msec_x509_key_id_der(const uint8_t *spki, size_t len, char *out, size_t outsz,
                           struct m2msec_error *err);
/* The identifier of the key in the first certificate of a PEM file. */
int m2msec_x509_key_id_file(const char *cert_file, char *out, size_t outsz,
                            struct m2msec_error *err);

/*
 * Development PKI (GnuTLS x509). Not an operational CA: no key protection
 * beyond file modes. Keys are ECDSA P-256, signatures ECDSA-SHA256, serials
 * 128-bit random. Key files are created 0600 and certificate/CRL files 0644,
 * both with O_EXCL: an existing file is never replaced. Validity starts one
 * hour in the past to tolerate clock skew.
 */
#define M2MSEC_PKI_DAYS_MAX 36500u

/* Self-signed CA: basicConstraints CA:TRUE, keyUsage keyCertSign|cRLSign. */
int m2msec_pki_ca_create(const char *cert_path, const char *key_path, const char *cn, unsigned days,
                         struct m2msec_error *err);
/*
 * FQDN certificate (TS-0003 10.1.1.6): SAN dNSName=fqdn, CN=fqdn, keyUsage
 * digitalSignature, EKU serverAuth, plus clientAuth when is_server_and_client.
 */
int m2msec_pki_issue_fqdn(const char *ca_cert, const char *ca_key, const char *fqdn,
                          const char *out_cert, const char *out_key, unsigned days,
                          int is_server_and_client, struct m2msec_error *err);

#define M2MSEC_PKI_EKU_SERVER 1u
#define M2MSEC_PKI_EKU_CLIENT 2u
enum m2msec_pki_key {
    M2MSEC_PKI_KEY_P256 = 0,
    M2MSEC_PKI_KEY_P384, /* for negative tests: the TLS layer refuses it */
};

/* Everything m2msec_pki_issue_fqdn does, and the knobs tests need. */
struct m2msec_pki_issue_opts {
    const char *ca_cert;
    const char *ca_key;
    const char *out_cert;
    const char *out_key;
    const char *cn;         /* subject CN; NULL: the first dNSName, else the first URI */
    const char *const *dns; /* SAN dNSName entries, taken as given (wildcards too) */
    size_t n_dns;
    const char *const *uris; /* SAN URI entries */
    size_t n_uris;
    const char *const *hwids; /* SAN otherName device ids (dotted OID M2M Device IDs) */
    size_t n_hwids;
    unsigned eku;                     /* M2MSEC_PKI_EKU_*; 0: no extendedKeyUsage */
    int ca;                           /* intermediate CA (pathLen 0) instead of an end entity */
    const char *const *permitted_dns; /* CA only: nameConstraints permitted dNSName subtrees */
    size_t n_permitted_dns;
    enum m2msec_pki_key key;
    unsigned days;      /* used when not_after is 0 */
    int64_t not_before; /* both non-zero: explicit validity (expired certificates) */
    int64_t not_after;
};
int m2msec_pki_issue(const struct m2msec_pki_issue_opts *o, struct m2msec_error *err);

/*
 * Self-signed CA whose nameConstraints permit only the given dNSName subtrees
 * (RFC 5280 s.4.2.1.10, TS-0003 8.1.2.2); n_permitted 0 is m2msec_pki_ca_create.
 */
int m2msec_pki_ca_create_constrained(const char *cert_path, const char *key_path, const char *cn,
                                     unsigned days, const char *const *permitted_dns,
                                     size_t n_permitted, struct m2msec_error *err);

/*
 * @spec TS-0003 10.1.1.4-10.1.1.8 end-entity profiles; id is where the
 * flavour puts it (tls/certid.h): FQDN -> dNSName (serverAuth+clientAuth),
 * CSE_ID -> dNSName, AE_ID -> URI, NODE_ID -> URI ("urn:oid:" + an OID
 * Node-ID, or the Node-ID URN), DEVICE -> otherName; CLIENT -> dNSName with clientAuth only (a
 * MEF/MAF client named by FQDN). All but CLIENT get serverAuth and
 * clientAuth. expired: valid from 10 days ago to yesterday (negative tests).
 */
enum m2msec_pki_profile {
    M2MSEC_PKI_PROFILE_FQDN = 1,
    M2MSEC_PKI_PROFILE_CSE_ID,
    M2MSEC_PKI_PROFILE_AE_ID,
    M2MSEC_PKI_PROFILE_NODE_ID,
    M2MSEC_PKI_PROFILE_DEVICE,
    M2MSEC_PKI_PROFILE_CLIENT,
};
int m2msec_pki_issue_profile(const char *ca_cert, const char *ca_key, enum m2msec_pki_profile p,
                             const char *id, const char *out_cert, const char *out_key,
                             unsigned days, int expired, struct m2msec_error *err);

/*
 * @spec TS-0003 10.1.1.2 a bare P-256 key for RFC 7250: the private key
 * (PKCS#8 PEM, 0600) and its SubjectPublicKeyInfo (PEM "PUBLIC KEY", 0644);
 * id receives its RFC 6920 sha-256 name (M2MSEC_NI_SHA256_LEN bytes).
 */
int m2msec_pki_rawkey_create(const char *key_path, const char *pub_path, char *id, size_t idsz,
                             struct m2msec_error *err);
/*
 * The RFC 6920 sha-256 name of the key in a PEM file: the first certificate,
 * a PUBLIC KEY, or an unencrypted private key (its public half).
 */
int m2msec_pki_key_id_pem(const char *path, char *out, size_t outsz, struct m2msec_error *err);

/* CRL signed by the CA listing the serials of the given certificate files as revoked. */
int m2msec_pki_crl_create(const char *ca_cert, const char *ca_key, const char *const *revoked,
                          size_t n_revoked, const char *out_crl, unsigned days,
                          struct m2msec_error *err);

/*
 * Internal to src/lib/tls (x509.c, pki.c): read a whole regular file of 1..max
 * bytes into *out (m2msec_malloc, NUL-terminated beyond *len). Callers wipe
 * it when it held a key.
 */
int m2msec_x509_read_file(const char *path, size_t max, uint8_t **out, size_t *len,
                          struct m2msec_error *err);
/* 1 when s is a host name: LDH labels of 1..63, at most 253 bytes, no wildcard or trailing dot. */
int m2msec_x509_fqdn_valid(const char *s);

#ifdef M2MSEC_TESTING
/*
 * Test hook: GnuTLS priority string for later certificate client connections
 * (to force one suite); NULL restores the pinned default. Borrowed; not
 * thread-safe: set it before connecting.
 */
void m2msec_tls_test_cert_client_priority(const char *priority);
#endif

#endif
