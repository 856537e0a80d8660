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
 *
 * Errors: a peer certificate that fails verification fails the handshake with
 * M2MSEC_ERR_AUTH and a message saying why (unknown issuer, expired, revoked,
 * name mismatch, wrong key type, ...); so does a client that sends no
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
 * refused instead of silently meaning "anyone".
 */
enum m2msec_cert_flavour {
    M2MSEC_CERT_UNSET = 0,
    M2MSEC_CERT_ANY,     /* any end entity under the anchors; read the identity from the conn */
    M2MSEC_CERT_FQDN,    /* MEF/MAF FQDN: SAN dNSName or URI host, exact, case-insensitive */
    M2MSEC_CERT_CSE_ID,  /* not implemented yet: refused at configuration */
    M2MSEC_CERT_AE_ID,   /* not implemented yet */
    M2MSEC_CERT_NODE_ID, /* not implemented yet */
    M2MSEC_CERT_DEVICE,  /* not implemented yet */
    M2MSEC_CERT_RAW,     /* RFC 7250 raw public key: not implemented yet */
};

/*
 * @spec TS-0003 8.1.2.4 the "certificate information" used to authenticate a
 * peer: its flavour, the identifier expected in its certificate, the trust
 * anchors (path validation per RFC 5280 s.6.1) and, for the status check of
 * 8.1.2.2, optional CRLs. Everything is borrowed for the duration of the call
 * that takes it.
 */
struct m2msec_cert_info {
    enum m2msec_cert_flavour flavour;
    const char *id;               /* FQDN: the expected name; ANY: must be NULL */
    const char *const *ca_files;  /* PEM trust anchors (one or more certificates per file) */
    size_t n_ca_files;            /* at least 1 */
    const char *const *crl_files; /* PEM CRLs; optional */
    size_t n_crl_files;
};

/* Server side. The object is read-only after creation and may serve many threads. */
struct m2msec_tls_cert_opts {
    const char *cert_file;   /* PEM: our end-entity certificate, then intermediates in order */
    const char *key_file;    /* PEM: unencrypted ECDSA P-256 key (PKCS#8 or SEC1) */
    int require_client_cert; /* mutual TLS: request, require and verify a client certificate */
    struct m2msec_cert_info client; /* how clients are verified (with require_client_cert) */
};

struct m2msec_tls_cert_server;
struct m2msec_tls_cert_server *m2msec_tls_cert_server_new(const struct m2msec_tls_cert_opts *o,
                                                          struct m2msec_error *err);
void m2msec_tls_cert_server_free(struct m2msec_tls_cert_server *s);

/*
 * Server handshake on an accepted socket. Takes ownership of fd (closed by
 * m2msec_tls_conn_free, or here on failure). ctx is stored for symmetry with
 * m2msec_tls_accept and not used yet.
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
    const char *cert_file; /* our certificate chain (PEM); NULL: none (no mutual TLS) */
    const char *key_file;  /* with cert_file */
    struct m2msec_cert_info server;
    unsigned timeout_ms; /* connect, handshake, and default per-operation deadline */
};
struct m2msec_tls_conn *m2msec_tls_connect_cert(const struct m2msec_tls_cert_client *o,
                                                struct m2msec_error *err);

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
