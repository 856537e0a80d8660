/*
 * tls/x509.c - certificate-based TLS 1.2 on GnuTLS: ECDSA P-256 credentials,
 * mutual authentication, and peer verification by certificate flavour.
 *
 * Layer: tls. Includes GnuTLS and util only. The session machinery
 * (non-blocking transport, deadlines, handshake loop, records, exporter) is
 * tls.c's, reached through the internal hooks declared at the end of
 * tls/tls.h, so a certificate connection is an ordinary struct m2msec_tls_conn.
 *
 * Verification runs inside the handshake (a per-session GnuTLS verify
 * callback), so a rejected peer never gets past its Certificate message and
 * the handshake aborts as TS-0003 8.1.2.5 requires. The callback records why
 * it refused; the connect/accept functions turn that into the error message.
 *
 * Flavours (8.1.2.1): the identifier forms and their canonical comparison
 * are tls/certid.c's; here they are found in the peer's certificate, or for
 * raw public keys (RFC 7250) the received SubjectPublicKeyInfo is hashed.
 * Own keys come from PEM files or PKCS#11 URLs (GnuTLS abstract keys).
 *
 * Threads: a server object is read-only after creation (GnuTLS credentials
 * may be shared by sessions in several threads); client credentials are built
 * per connection and owned by it.
 */

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "tls/certid.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

/*
 * @spec TS-0003 10.2.1 TLS 1.2 exactly.
 * @spec TS-0003 10.2.3 ECDHE_ECDSA suites: AES-128-GCM-SHA256 (preferred),
 * AES-128-CCM-8 and the mandatory AES-128-CBC-SHA256; ECDHE on secp256r1 and
 * ECDSA-SHA256 signatures (10.1.1.1). "gnutls-cli --priority STRING -l" lists
 * exactly these three suites. SERVER_PRECEDENCE: our order wins.
 */
#define M2MSEC_TLS_CERT_PRIORITY                                                             \
    "NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+AES-128-GCM:+AES-128-CCM-8:+AES-128-CBC:+AEAD:+SHA256:" \
    "+COMP-NULL:+GROUP-SECP256R1:+SIGN-ECDSA-SHA256:%SERVER_PRECEDENCE"

/*
 * A certificate server that accepts PSK clients too (m2msec_tls_cert_opts
 * psk_lookup): the suites of both, TS-0003 10.2.2 and 10.2.3, on TLS 1.2.
 * PSK comes first: a client offering PSK suites has a PSK to use, and one
 * with only a certificate (ours, or OpenSSL without a PSK callback) offers
 * none. SIGN-ECDSA-SHA256 and SECP256R1 still apply to the certificate suites.
 */
#define M2MSEC_TLS_CERT_PSK_PRIORITY                                                      \
    "NONE:+VERS-TLS1.2:+PSK:+ECDHE-ECDSA:+AES-128-GCM:+AES-128-CCM-8:+AES-128-CBC:+AEAD:" \
    "+SHA256:+COMP-NULL:+GROUP-SECP256R1:+SIGN-ECDSA-SHA256:%SERVER_PRECEDENCE"

#define PEM_FILE_MAX  (1024 * 1024) /* certificate chains, keys, CA bundles, CRLs */
#define SNI_MAX       255           /* RFC 6066 HostName */
#define FQDN_MAX      253           /* RFC 1035 presentation form without the root dot */
#define SAN_VALUE_MAX 1024          /* longer entries are never an identity we match */
#define WHY_LEN       192
#define NI_PREFIX     "ni:///sha-256;"
#define IDS_MAX       64 /* accepted identifiers per peer */
#define HWID_MAX      8  /* device ids kept per peer certificate */
#define PKCS11_PREFIX "pkcs11:"
#define PIN_ENV       "M2MSEC_PKCS11_PIN"

/*
 * @spec TS-0003 10.2.3 with RFC 7250: the certificate types on offer, added
 * to the suites above only when a raw public key is involved, so that X.509
 * sessions negotiate exactly as before. A side accepts the peer's raw key
 * only when its certificate information says RAW (8.1.2.4).
 */
#define CTYPE_CLI_X509  ":+CTYPE-CLI-X509"
#define CTYPE_CLI_RAWPK ":+CTYPE-CLI-RAWPK"
#define CTYPE_SRV_X509  ":+CTYPE-SRV-X509"
#define CTYPE_SRV_RAWPK ":+CTYPE-SRV-RAWPK"
#define PRIORITY_MAX    512

/* A trusted RFC 6920 digest (RAW flavour), as configured and as bytes. */
struct ni_digest {
    uint8_t d[32];
    size_t len;
};

/* What to check about the peer; constant for a server, per connection for a client. */
struct peer_check {
    enum m2msec_cert_flavour flavour;
    char *id;         /* expected identifier (owned, canonical), NULL for ANY or "read it" */
    char *purpose;    /* kp_server or kp_client: the EKU the peer must allow */
    const char *role; /* "server" or "client", the peer's role, for messages */
    char **ids;       /* all accepted identifiers, canonical (owned); ids[0] == id */
    size_t n_ids;
    struct ni_digest *digests; /* RAW: the digests of ids[] */
};

struct m2msec_tls_cert_server {
    /* One for the creator, one per connection accepted with it (x509_conn.srv):
     * a server replaced while connections live is freed by the last of them. */
    atomic_int refs;
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    int own_raw; /* we present a raw public key */
    int require;
    struct peer_check check;
    struct m2msec_tls_server *psk; /* PSK clients too; NULL: certificates only */
};

struct san_entry {
    enum m2msec_san_type type;
    char *value;
};

/* Per-connection state attached to the struct m2msec_tls_conn (see tls.h hooks). */
struct x509_conn {
    struct m2msec_tls_cert_server *srv;    /* server side: a reference (check points into it) */
    const struct peer_check *check;        /* the server's, or &own below */
    struct peer_check own;                 /* client side */
    gnutls_certificate_credentials_t cred; /* client side: owned */
    void *ctx;                             /* not owned */
    int server_side;
    int have_own; /* client side: we have a certificate to present */
    int required; /* a verified peer certificate is required */
    int verified; /* the callback accepted the peer's certificate */
    int failed;   /* the callback refused it; why says why, alert tells the peer */
    gnutls_alert_description_t alert;
    char why[WHY_LEN];
    size_t nsan;
    struct san_entry san[M2MSEC_TLS_PEER_SAN_MAX];
    size_t nhwid;
    char *hwid[HWID_MAX]; /* device ids from otherName entries, dotted */
    char key_id[M2MSEC_NI_SHA256_LEN];
    char identity[M2MSEC_CERT_ID_MAX + 1]; /* what the peer was verified as; "" none */
    int raw_peer;                          /* the peer presented a raw public key */
};

/*
 * Why a peer was refused: a bounded, human-readable line (never a secret).
 * Long identifiers are cut on purpose: the reason must fit the error object.
 */
static void why_set(struct x509_conn *x, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void
why_set(struct x509_conn *x, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(x->why, sizeof(x->why), fmt, ap);
    va_end(ap);
}

/* GnuTLS wants a mutable pointer for the key purpose in typed verification data. */
static char kp_server[] = GNUTLS_KP_TLS_WWW_SERVER;
static char kp_client[] = GNUTLS_KP_TLS_WWW_CLIENT;

static void x509_conn_free(void *p);

#ifdef M2MSEC_TESTING
static const char *test_client_priority;

void
m2msec_tls_test_cert_client_priority(const char *priority)
{
    test_client_priority = priority;
}
#endif

/* ---- files ---- */

int
m2msec_x509_read_file(const char *path, size_t max, uint8_t **out, size_t *len,
                      struct m2msec_error *err)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t off = 0;
    ssize_t r;
    int fd = -1;
    int rv = -1;

    *out = NULL;
    *len = 0;
    if (path == NULL || path[0] == '\0') {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "file name missing");
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "cannot open %.128s", path);
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "cannot stat %.128s", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%.128s is not a regular file", path);
        goto out;
    }
    if (st.st_size <= 0 || (uint64_t)st.st_size > max) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%.128s: size %lld not in 1..%zu", path,
                          (long long)st.st_size, max);
        goto out;
    }
    buf = m2msec_malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    while (off < (size_t)st.st_size) {
        r = read(fd, buf + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            m2msec_error_set(err, M2MSEC_ERR_IO, "cannot read %.128s", path);
            goto out;
        }
        if (r == 0) {
            m2msec_error_setx(err, M2MSEC_ERR_IO, "%.128s shrank while being read", path);
            goto out;
        }
        off += (size_t)r;
    }
    buf[off] = '\0'; /* PEM parsers like a terminator; not counted in len */
    *out = buf;
    *len = off;
    buf = NULL;
    rv = 0;
out:
    if (buf != NULL) {
        m2msec_wipe(buf, (size_t)st.st_size + 1);
        m2msec_free(buf);
    }
    if (fd >= 0) {
        close(fd);
    }
    return rv;
}

/* Wipe and free a buffer from m2msec_x509_read_file (key files hold secrets). */
static void
file_free(uint8_t *buf, size_t len)
{
    if (buf != NULL) {
        m2msec_wipe(buf, len);
        m2msec_free(buf);
    }
}

static gnutls_datum_t
datum_of(uint8_t *buf, size_t len)
{
    gnutls_datum_t d;

    d.data = buf;
    d.size = (unsigned)len;
    return d;
}

/* ---- key checks ---- */

/*
 * @spec TS-0003 10.1.1.1 keys are id-ecPublicKey on secp256r1. 0 when pub is
 * such a key, else -1 with the reason in why.
 */
static int
pubkey_is_p256(gnutls_pubkey_t pub, char *why, size_t whysz)
{
    gnutls_datum_t x = { NULL, 0 };
    gnutls_datum_t y = { NULL, 0 };
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
    unsigned bits = 0;
    const char *name;
    int alg;
    int rv = -1;

    alg = gnutls_pubkey_get_pk_algorithm(pub, &bits);
    if (alg != GNUTLS_PK_ECDSA) {
        name = gnutls_pk_algorithm_get_name((gnutls_pk_algorithm_t)(alg < 0 ? 0 : alg));
        (void)snprintf(why, whysz, "%s key (%u bits), ECDSA P-256 required",
                       name != NULL ? name : "unknown", bits);
        goto out;
    }
    if (gnutls_pubkey_export_ecc_raw(pub, &curve, &x, &y) < 0) {
        (void)snprintf(why, whysz, "unreadable ECDSA key, ECDSA P-256 required");
        goto out;
    }
    if (curve != GNUTLS_ECC_CURVE_SECP256R1) {
        name = gnutls_ecc_curve_get_name(curve);
        (void)snprintf(why, whysz, "ECDSA key on %s, ECDSA P-256 required",
                       name != NULL ? name : "an unknown curve");
        goto out;
    }
    rv = 0;
out:
    gnutls_free(x.data);
    gnutls_free(y.data);
    return rv;
}

static int
crt_is_p256(gnutls_x509_crt_t crt, char *why, size_t whysz)
{
    gnutls_pubkey_t pub = NULL;
    int rv = -1;

    if (gnutls_pubkey_init(&pub) < 0) {
        pub = NULL;
        (void)snprintf(why, whysz, "out of memory");
        goto out;
    }
    if (gnutls_pubkey_import_x509(pub, crt, 0) < 0) {
        (void)snprintf(why, whysz, "unreadable public key");
        goto out;
    }
    rv = pubkey_is_p256(pub, why, whysz);
out:
    if (pub != NULL) {
        gnutls_pubkey_deinit(pub);
    }
    return rv;
}

static int
privkey_is_p256(gnutls_x509_privkey_t key, char *why, size_t whysz)
{
    gnutls_privkey_t pk = NULL;
    gnutls_pubkey_t pub = NULL;
    int rv = -1;

    if (gnutls_privkey_init(&pk) < 0) {
        pk = NULL;
        (void)snprintf(why, whysz, "out of memory");
        goto out;
    }
    if (gnutls_pubkey_init(&pub) < 0) {
        pub = NULL;
        (void)snprintf(why, whysz, "out of memory");
        goto out;
    }
    /* Flags 0: pk borrows key, so pk is released first. */
    if (gnutls_privkey_import_x509(pk, key, 0) < 0 ||
        gnutls_pubkey_import_privkey(pub, pk, 0, 0) < 0) {
        (void)snprintf(why, whysz, "unusable private key");
        goto out;
    }
    rv = pubkey_is_p256(pub, why, whysz);
out:
    if (pub != NULL) {
        gnutls_pubkey_deinit(pub);
    }
    if (pk != NULL) {
        gnutls_privkey_deinit(pk);
    }
    return rv;
}

/* ---- loading credentials ---- */

/*
 * @spec TS-0003 8.1.2.3 our private signing key and certificate chain. The
 * chain must be in order (end entity first) and the key P-256 (10.1.1.1).
 * This is the PEM file path; load_own() picks it or load_own_abstract().
 */
static int
load_own_pem(gnutls_certificate_credentials_t cred, const char *cert_file, const char *key_file,
             struct m2msec_error *err)
{
    uint8_t *cbuf = NULL;
    uint8_t *kbuf = NULL;
    size_t clen = 0;
    size_t klen = 0;
    gnutls_x509_crt_t *crts = NULL;
    unsigned ncrt = 0;
    unsigned i;
    gnutls_x509_privkey_t key = NULL;
    gnutls_datum_t d;
    char why[WHY_LEN];
    int r;
    int rv = -1;

    if (cert_file == NULL || key_file == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "certificate and key file required");
        goto out;
    }
    if (m2msec_x509_read_file(key_file, PEM_FILE_MAX, &kbuf, &klen, err) != 0) {
        goto out;
    }
    r = gnutls_x509_privkey_init(&key);
    if (r < 0) {
        key = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "private key: %s", gnutls_strerror(r));
        goto out;
    }
    d = datum_of(kbuf, klen);
    r = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "key %.128s: %s (an unencrypted PEM private key is required)", key_file,
                          gnutls_strerror(r));
        goto out;
    }
    if (privkey_is_p256(key, why, sizeof(why)) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key %.128s: %s", key_file, why);
        goto out;
    }
    if (m2msec_x509_read_file(cert_file, PEM_FILE_MAX, &cbuf, &clen, err) != 0) {
        goto out;
    }
    d = datum_of(cbuf, clen);
    r = gnutls_x509_crt_list_import2(&crts, &ncrt, &d, GNUTLS_X509_FMT_PEM,
                                     GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    if (r < 0) {
        crts = NULL;
        ncrt = 0;
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "certificate %.128s: %s", cert_file,
                          r == GNUTLS_E_CERTIFICATE_LIST_UNSORTED
                                  ? "chain not in order (end entity first, then its issuers)"
                                  : gnutls_strerror(r));
        goto out;
    }
    if (ncrt == 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "certificate %.128s: no certificate",
                          cert_file);
        goto out;
    }
    if (crt_is_p256(crts[0], why, sizeof(why)) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "certificate %.128s: %s", cert_file,
                          why);
        goto out;
    }
    /* Copies certificates and key; checks that the key belongs to the first certificate. */
    r = gnutls_certificate_set_x509_key(cred, crts, ncrt, key);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "certificate %.128s with key %.128s: %s", cert_file, key_file,
                          r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH ? "the key does not match"
                                                                 : gnutls_strerror(r));
        goto out;
    }
    rv = 0;
out:
    if (crts != NULL) {
        for (i = 0; i < ncrt; i++) {
            gnutls_x509_crt_deinit(crts[i]);
        }
        gnutls_free(crts);
    }
    if (key != NULL) {
        gnutls_x509_privkey_deinit(key);
    }
    file_free(kbuf, klen);
    file_free(cbuf, clen);
    return rv;
}

static int
is_pkcs11(const char *key_file)
{
    return strncmp(key_file, PKCS11_PREFIX, strlen(PKCS11_PREFIX)) == 0;
}

/* A key's name for messages: a PKCS#11 URL may carry its PIN, so it is never shown. */
static const char *
key_name(const char *key_file)
{
    return is_pkcs11(key_file) ? "(PKCS#11 URL)" : key_file;
}

/*
 * @spec TS-0003 8.1.2.3 the private key "should remain protected in a secure
 * environment": a PKCS#11 token. GnuTLS asks for the PIN when the URL has no
 * pin-value or pin-source; it comes from M2MSEC_PKCS11_PIN, once (a wrong
 * PIN is not retried, so the token's retry counter is not burnt).
 */
static int
pin_cb(void *userdata, int attempt, const char *token_url, const char *token_label,
       unsigned int flags, char *pin, size_t pin_max)
{
    const char *env = getenv(PIN_ENV);

    (void)userdata;
    (void)token_url;
    (void)token_label;
    if (env == NULL || attempt > 0 || (flags & GNUTLS_PIN_WRONG) != 0) {
        return -1;
    }
    return m2msec_strlcpy(pin, env, pin_max) == 0 ? 0 : -1;
}

/* Our private key, from a PEM file or a PKCS#11 URL, as an abstract key. */
static int
privkey_load(gnutls_privkey_t *out, const char *key_file, struct m2msec_error *err)
{
    gnutls_x509_privkey_t xkey = NULL;
    uint8_t *kbuf = NULL;
    size_t klen = 0;
    gnutls_datum_t d;
    int r;
    int rv = -1;

    r = gnutls_privkey_init(out);
    if (r < 0) {
        *out = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "private key: %s", gnutls_strerror(r));
        goto out;
    }
    if (is_pkcs11(key_file)) {
        gnutls_privkey_set_pin_function(*out, pin_cb, NULL);
        r = gnutls_privkey_import_url(*out, key_file, 0);
        if (r < 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                              "PKCS#11 key: %s (check the URL, the token, and its PIN: pin-value "
                              "in the URL or " PIN_ENV ")",
                              gnutls_strerror(r));
            goto out;
        }
        rv = 0;
        goto out;
    }
    if (m2msec_x509_read_file(key_file, PEM_FILE_MAX, &kbuf, &klen, err) != 0) {
        goto out;
    }
    r = gnutls_x509_privkey_init(&xkey);
    if (r < 0) {
        xkey = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "private key: %s", gnutls_strerror(r));
        goto out;
    }
    d = datum_of(kbuf, klen);
    r = gnutls_x509_privkey_import2(xkey, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "key %.128s: %s (an unencrypted PEM private key is required)", key_file,
                          gnutls_strerror(r));
        goto out;
    }
    r = gnutls_privkey_import_x509(*out, xkey, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key %.128s: %s", key_file,
                          gnutls_strerror(r));
        goto out;
    }
    xkey = NULL; /* released with *out */
    rv = 0;
out:
    if (xkey != NULL) {
        gnutls_x509_privkey_deinit(xkey);
    }
    file_free(kbuf, klen);
    if (rv != 0 && *out != NULL) {
        gnutls_privkey_deinit(*out);
        *out = NULL;
    }
    return rv;
}

#define PCERT_MAX 16 /* certificates in our own chain */

/*
 * Our credential through the abstract API: a key on a PKCS#11 token with a
 * PEM chain, or (cert_file NULL) a raw public key, RFC 7250, whose private
 * half is a PEM file or a token key (TS-0003 10.1.1.2).
 */
static int
load_own_abstract(gnutls_certificate_credentials_t cred, const char *cert_file,
                  const char *key_file, struct m2msec_error *err)
{
    gnutls_privkey_t pk = NULL;
    gnutls_pubkey_t pub = NULL;
    gnutls_pcert_st *pcerts = NULL;
    gnutls_datum_t spki = { NULL, 0 };
    gnutls_datum_t crt_spki = { NULL, 0 };
    unsigned npcert = 0;
    uint8_t *cbuf = NULL;
    size_t clen = 0;
    gnutls_datum_t d;
    char why[WHY_LEN];
    unsigned i;
    int r;
    int rv = -1;

    if (privkey_load(&pk, key_file, err) != 0) {
        goto out;
    }
    r = gnutls_pubkey_init(&pub);
    if (r < 0) {
        pub = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "public key: %s", gnutls_strerror(r));
        goto out;
    }
    r = gnutls_pubkey_import_privkey(pub, pk, 0, 0);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key %.128s: no public key: %s",
                          key_name(key_file), gnutls_strerror(r));
        goto out;
    }
    if (pubkey_is_p256(pub, why, sizeof(why)) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key %.128s: %s", key_name(key_file),
                          why);
        goto out;
    }
    pcerts = m2msec_calloc(PCERT_MAX, sizeof(*pcerts));
    if (pcerts == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (cert_file == NULL) {
        r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki);
        if (r >= 0) {
            r = gnutls_pcert_import_rawpk_raw(&pcerts[0], &spki, GNUTLS_X509_FMT_DER,
                                              GNUTLS_KEY_DIGITAL_SIGNATURE, 0);
        }
        if (r < 0) {
            m2msec_error_setx(err, M2MSEC_ERR_CRYPTO, "raw public key: %s", gnutls_strerror(r));
            goto out;
        }
        npcert = 1;
    } else {
        if (m2msec_x509_read_file(cert_file, PEM_FILE_MAX, &cbuf, &clen, err) != 0) {
            goto out;
        }
        d = datum_of(cbuf, clen);
        npcert = PCERT_MAX;
        r = gnutls_pcert_list_import_x509_raw(pcerts, &npcert, &d, GNUTLS_X509_FMT_PEM,
                                              GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
        if (r < 0 || npcert == 0) {
            npcert = 0;
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "certificate %.128s: %s", cert_file,
                              r == GNUTLS_E_CERTIFICATE_LIST_UNSORTED
                                      ? "chain not in order (end entity first, then its issuers)"
                              : r < 0 ? gnutls_strerror(r)
                                      : "no certificate");
            goto out;
        }
        if (pubkey_is_p256(pcerts[0].pubkey, why, sizeof(why)) != 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "certificate %.128s: %s", cert_file,
                              why);
            goto out;
        }
        /*
         * Compare the keys here: GnuTLS would find a mismatch too, but only
         * after the key joined the credentials, which then leak it.
         */
        if (gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0 ||
            gnutls_pubkey_export2(pcerts[0].pubkey, GNUTLS_X509_FMT_DER, &crt_spki) < 0 ||
            spki.size != crt_spki.size || memcmp(spki.data, crt_spki.data, spki.size) != 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                              "certificate %.128s with key %.128s: the key does not match",
                              cert_file, key_name(key_file));
            goto out;
        }
    }
    /* The key and the pcerts (not the array) pass to the credentials, whatever the outcome. */
    r = gnutls_certificate_set_key(cred, NULL, 0, pcerts, (int)npcert, pk);
    pk = NULL;
    npcert = 0;
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s %.128s with key %.128s: %s",
                          cert_file != NULL ? "certificate" : "raw public key",
                          cert_file != NULL ? cert_file : "", key_name(key_file),
                          r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH ? "the key does not match"
                                                                 : gnutls_strerror(r));
        goto out;
    }
    rv = 0;
out:
    for (i = 0; i < npcert; i++) {
        gnutls_pcert_deinit(&pcerts[i]);
    }
    m2msec_free(pcerts);
    gnutls_free(spki.data);
    gnutls_free(crt_spki.data);
    if (pub != NULL) {
        gnutls_pubkey_deinit(pub);
    }
    if (pk != NULL) {
        gnutls_privkey_deinit(pk);
    }
    file_free(cbuf, clen);
    return rv;
}

/*
 * Our credential: certificate chain and key (PEM files, or a PKCS#11 key), or
 * with cert_file NULL a raw public key. *raw tells which.
 */
static int
load_own(gnutls_certificate_credentials_t cred, const char *cert_file, const char *key_file,
         int *raw, struct m2msec_error *err)
{
    *raw = 0;
    if (key_file == NULL || key_file[0] == '\0') {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "certificate and key file required");
    }
    if (cert_file != NULL && !is_pkcs11(key_file)) {
        return load_own_pem(cred, cert_file, key_file, err);
    }
    *raw = cert_file == NULL;
    return load_own_abstract(cred, cert_file, key_file, err);
}

/* @spec TS-0003 8.1.2.2 trust anchors (and CRLs) from configuration only, never the system store. */
static int
load_anchors(gnutls_certificate_credentials_t cred, const struct m2msec_cert_info *ci,
             struct m2msec_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    gnutls_datum_t d;
    size_t i;
    int r;
    int rv = -1;

    for (i = 0; i < ci->n_ca_files; i++) {
        if (m2msec_x509_read_file(ci->ca_files[i], PEM_FILE_MAX, &buf, &len, err) != 0) {
            goto out;
        }
        d = datum_of(buf, len);
        r = gnutls_certificate_set_x509_trust_mem(cred, &d, GNUTLS_X509_FMT_PEM);
        if (r <= 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "trust anchors %.128s: %s",
                              ci->ca_files[i], r < 0 ? gnutls_strerror(r) : "no certificate");
            goto out;
        }
        file_free(buf, len);
        buf = NULL;
    }
    for (i = 0; i < ci->n_crl_files; i++) {
        if (m2msec_x509_read_file(ci->crl_files[i], PEM_FILE_MAX, &buf, &len, err) != 0) {
            goto out;
        }
        d = datum_of(buf, len);
        r = gnutls_certificate_set_x509_crl_mem(cred, &d, GNUTLS_X509_FMT_PEM);
        if (r <= 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "CRL %.128s: %s", ci->crl_files[i],
                              r < 0 ? gnutls_strerror(r) : "no CRL");
            goto out;
        }
        file_free(buf, len);
        buf = NULL;
    }
    rv = 0;
out:
    file_free(buf, len);
    return rv;
}

/* ---- configuration ---- */

/* A host name in presentation form: LDH labels of 1..63, no wildcard, no trailing dot. */
int
m2msec_x509_fqdn_valid(const char *s)
{
    size_t n = strlen(s);
    size_t label = 0;
    size_t i;
    char ch;

    if (n == 0 || n > FQDN_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        ch = s[i];
        if (ch == '.') {
            if (label == 0 || s[i - 1] == '-') {
                return 0;
            }
            label = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-')) {
            return 0;
        }
        if (ch == '-' && label == 0) {
            return 0;
        }
        if (++label > 63) {
            return 0;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

static const char *
flavour_name(enum m2msec_cert_flavour f)
{
    switch (f) {
    case M2MSEC_CERT_UNSET:
        return "unset";
    case M2MSEC_CERT_ANY:
        return "any";
    case M2MSEC_CERT_FQDN:
        return "FQDN";
    case M2MSEC_CERT_CSE_ID:
        return "CSE-ID";
    case M2MSEC_CERT_AE_ID:
        return "AE-ID";
    case M2MSEC_CERT_NODE_ID:
        return "Node-ID";
    case M2MSEC_CERT_DEVICE:
        return "device";
    case M2MSEC_CERT_RAW:
        return "raw public key";
    }
    return "unknown";
}

static void
check_release(struct peer_check *check)
{
    size_t i;

    for (i = 0; i < check->n_ids; i++) {
        m2msec_free(check->ids[i]);
    }
    m2msec_free(check->ids);
    m2msec_free(check->digests);
    check->ids = NULL;
    check->digests = NULL;
    check->n_ids = 0;
    check->id = NULL; /* it was ids[0] */
}

/* Canonicalise and keep one accepted identifier (and for RAW its digest). */
static int
check_add_id(struct peer_check *check, enum m2msec_cert_flavour f, const char *id,
             struct m2msec_error *err)
{
    char canon[M2MSEC_CERT_ID_MAX + 1];
    char why[WHY_LEN];
    struct ni_digest *d;

    if (id == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s identifier missing",
                                 check->role);
    }
    if (m2msec_certid_canon(f, id, canon, sizeof(canon), why, sizeof(why)) != 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "expected %s %s: %s",
                                 check->role, flavour_name(f), why);
    }
    check->ids[check->n_ids] = m2msec_strdup(canon);
    if (check->ids[check->n_ids] == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    if (f == M2MSEC_CERT_RAW) {
        d = &check->digests[check->n_ids];
        (void)m2msec_certid_ni_parse(canon, d->d, &d->len);
    }
    check->n_ids++;
    return 0;
}

/*
 * Check the certificate information for a peer and fill check (ids copied in
 * canonical form). default_id is the FQDN to expect when ci->id is NULL
 * (client: the SNI name).
 */
static int
check_init(struct peer_check *check, const struct m2msec_cert_info *ci, const char *default_id,
           char *purpose, const char *role, struct m2msec_error *err)
{
    const char *id = ci->id;
    size_t n;
    size_t i;

    memset(check, 0, sizeof(*check));
    check->purpose = purpose;
    check->role = role;
    /* @spec TS-0003 8.1.2.2 raw public keys have no path to validate, hence no anchors. */
    if (ci->flavour != M2MSEC_CERT_RAW && (ci->ca_files == NULL || ci->n_ca_files == 0)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "no trust anchors configured for the %s certificate", role);
    }
    if (ci->n_ca_files > 0 && ci->ca_files == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "trust anchor files missing");
    }
    for (i = 0; i < ci->n_ca_files; i++) {
        if (ci->ca_files[i] == NULL) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "trust anchor file missing");
        }
    }
    if (ci->n_crl_files > 0 && ci->crl_files == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "CRL files missing");
    }
    for (i = 0; i < ci->n_crl_files; i++) {
        if (ci->crl_files[i] == NULL) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "CRL file missing");
        }
    }
    if ((ci->n_ids > 0 && ci->ids == NULL) || ci->n_ids >= IDS_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "%s identifier list missing or longer than %d", role, IDS_MAX - 1);
    }
    switch (ci->flavour) {
    case M2MSEC_CERT_ANY:
        if (id != NULL || ci->n_ids > 0) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "an identifier makes no sense with flavour \"any\"");
        }
        break;
    case M2MSEC_CERT_FQDN:
        if (id == NULL && ci->n_ids == 0) {
            id = default_id;
        }
        if (id != NULL && !m2msec_x509_fqdn_valid(id)) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "expected %s FQDN \"%.64s\" is not a host name", role, id);
        }
        if (id == NULL && ci->n_ids == 0) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "expected %s FQDN \"\" is not a host name", role);
        }
        break;
    case M2MSEC_CERT_CSE_ID:
    case M2MSEC_CERT_AE_ID:
    case M2MSEC_CERT_NODE_ID:
    case M2MSEC_CERT_DEVICE:
        break; /* no identifier: read the peer's from its certificate (8.1.2.4) */
    case M2MSEC_CERT_RAW:
        if (id == NULL && ci->n_ids == 0) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "%s raw public key: no public key identifier configured",
                                     role);
        }
        break;
    case M2MSEC_CERT_UNSET:
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "%s certificate flavour not configured", role);
    default:
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "%s certificate flavour %d unknown", role, (int)ci->flavour);
    }
    n = (id != NULL ? 1 : 0) + ci->n_ids;
    if (n > 0) {
        check->ids = m2msec_calloc(n, sizeof(*check->ids));
        check->digests = m2msec_calloc(n, sizeof(*check->digests));
        if (check->ids == NULL || check->digests == NULL) {
            check_release(check);
            return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        }
    }
    if (id != NULL && check_add_id(check, ci->flavour, id, err) != 0) {
        check_release(check);
        return -1;
    }
    for (i = 0; i < ci->n_ids; i++) {
        if (check_add_id(check, ci->flavour, ci->ids[i], err) != 0) {
            check_release(check);
            return -1;
        }
    }
    check->id = check->n_ids > 0 ? check->ids[0] : NULL;
    check->flavour = ci->flavour;
    return 0;
}

/* ---- public key identifiers ---- */

/* @spec TS-0003 10.1.2 RFC 6920 s.2 sha-256 named information over the DER SPKI. */
static int
key_id_of(const uint8_t *spki, size_t len, char *out, size_t outsz, struct m2msec_error *err)
{
    uint8_t digest[32];
    char *b64 = NULL;
    size_t n;
    size_t i;
    size_t j = 0;
    int rv = -1;

    if (outsz < M2MSEC_NI_SHA256_LEN) {
        m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "key identifier buffer too small");
        goto out;
    }
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, spki, len, digest) < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_CRYPTO, "SHA-256 failed");
        goto out;
    }
    if (m2msec_b64_encode(digest, sizeof(digest), &b64, err) != 0) {
        goto out;
    }
    /* base64url without padding (RFC 6920 s.3, RFC 4648 s.5) */
    (void)m2msec_strlcpy(out, NI_PREFIX, outsz);
    j = strlen(NI_PREFIX);
    n = strlen(b64);
    for (i = 0; i < n && b64[i] != '='; i++) {
        out[j++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    }
    out[j] = '\0';
    rv = 0;
out:
    m2msec_free(b64);
    return rv;
}

static int
pubkey_key_id(gnutls_pubkey_t pub, char *out, size_t outsz, struct m2msec_error *err)
{
    gnutls_datum_t spki = { NULL, 0 };
    int r;
    int rv;

    r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki);
    if (r < 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_CRYPTO, "public key export: %s",
                                 gnutls_strerror(r));
    }
    rv = key_id_of(spki.data, spki.size, out, outsz, err);
    gnutls_free(spki.data);
    return rv;
}

static int
crt_key_id(gnutls_x509_crt_t crt, char *out, size_t outsz, struct m2msec_error *err)
{
    gnutls_pubkey_t pub = NULL;
    int r;
    int rv = -1;

    r = gnutls_pubkey_init(&pub);
    if (r < 0) {
        pub = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "public key: %s", gnutls_strerror(r));
        goto out;
    }
    r = gnutls_pubkey_import_x509(pub, crt, 0);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "certificate public key: %s",
                          gnutls_strerror(r));
        goto out;
    }
    rv = pubkey_key_id(pub, out, outsz, err);
out:
    if (pub != NULL) {
        gnutls_pubkey_deinit(pub);
    }
    return rv;
}

int
m2msec_x509_key_id_der(const uint8_t *spki, size_t len, char *out, size_t outsz,
                       struct m2msec_error *err)
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t in;
    gnutls_datum_t again = { NULL, 0 };
    uint8_t *copy = NULL;
    int r;
    int rv = -1;

    if (spki == NULL || len == 0 || len > PEM_FILE_MAX || out == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key identifier arguments");
        goto out;
    }
    if (m2msec_tls_global_init(err) != 0) {
        goto out;
    }
    r = gnutls_pubkey_init(&pub);
    if (r < 0) {
        pub = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "public key: %s", gnutls_strerror(r));
        goto out;
    }
    /* GnuTLS takes a mutable datum; give it a copy instead of casting const away. */
    copy = m2msec_malloc(len);
    if (copy == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(copy, spki, len);
    in = datum_of(copy, len);
    r = gnutls_pubkey_import(pub, &in, GNUTLS_X509_FMT_DER);
    /* Only the canonical encoding: the digest is over exactly the bytes a peer would send. */
    if (r < 0 || gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &again) < 0 || again.size != len ||
        memcmp(again.data, spki, len) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "not a DER SubjectPublicKeyInfo%s%s",
                          r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
        goto out;
    }
    rv = key_id_of(spki, len, out, outsz, err);
out:
    gnutls_free(again.data);
    m2msec_free(copy);
    if (pub != NULL) {
        gnutls_pubkey_deinit(pub);
    }
    return rv;
}

int
m2msec_x509_key_id_file(const char *cert_file, char *out, size_t outsz, struct m2msec_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t d;
    int r;
    int rv = -1;

    if (out == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key identifier arguments");
        goto out;
    }
    if (m2msec_tls_global_init(err) != 0 ||
        m2msec_x509_read_file(cert_file, PEM_FILE_MAX, &buf, &len, err) != 0) {
        goto out;
    }
    r = gnutls_x509_crt_init(&crt);
    if (r < 0) {
        crt = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "certificate: %s", gnutls_strerror(r));
        goto out;
    }
    d = datum_of(buf, len);
    r = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "certificate %.128s: %s", cert_file,
                          gnutls_strerror(r));
        goto out;
    }
    rv = crt_key_id(crt, out, outsz, err);
out:
    if (crt != NULL) {
        gnutls_x509_crt_deinit(crt);
    }
    file_free(buf, len);
    return rv;
}

/* ---- peer verification ---- */

/*
 * Short reasons for a GnuTLS verification status, most telling first, and the
 * RFC 5246 alert of the first one.
 */
static gnutls_alert_description_t
status_reason(unsigned status, char *why, size_t whysz)
{
    static const struct {
        unsigned bit;
        gnutls_alert_description_t alert;
        const char *text;
    } reasons[] = {
        { GNUTLS_CERT_SIGNER_NOT_FOUND, GNUTLS_A_UNKNOWN_CA, "unknown issuer" },
        { GNUTLS_CERT_EXPIRED, GNUTLS_A_CERTIFICATE_EXPIRED, "expired" },
        { GNUTLS_CERT_NOT_ACTIVATED, GNUTLS_A_CERTIFICATE_EXPIRED, "not yet valid" },
        { GNUTLS_CERT_REVOKED, GNUTLS_A_CERTIFICATE_REVOKED, "revoked" },
        { GNUTLS_CERT_SIGNATURE_FAILURE, GNUTLS_A_BAD_CERTIFICATE, "bad signature" },
        { GNUTLS_CERT_SIGNER_NOT_CA, GNUTLS_A_UNKNOWN_CA, "issuer is not a CA" },
        { GNUTLS_CERT_INSECURE_ALGORITHM, GNUTLS_A_UNSUPPORTED_CERTIFICATE, "insecure algorithm" },
        { GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, GNUTLS_A_BAD_CERTIFICATE,
          "issuer constraints violated (name constraints)" },
        { GNUTLS_CERT_PURPOSE_MISMATCH, GNUTLS_A_UNSUPPORTED_CERTIFICATE,
          "not valid for this purpose (extended key usage)" },
        { GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED, GNUTLS_A_CERTIFICATE_UNKNOWN, "CRL out of date" },
        { GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE, GNUTLS_A_CERTIFICATE_UNKNOWN,
          "CRL issued in the future" },
        { GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS, GNUTLS_A_UNSUPPORTED_CERTIFICATE,
          "unknown critical extension" },
    };
    gnutls_alert_description_t alert = GNUTLS_A_BAD_CERTIFICATE;
    size_t used = 0;
    size_t i;
    int n;

    why[0] = '\0';
    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if ((status & reasons[i].bit) == 0) {
            continue;
        }
        if (used == 0) {
            alert = reasons[i].alert;
        }
        n = snprintf(why + used, whysz - used, "%s%s", used > 0 ? ", " : "", reasons[i].text);
        if (n < 0 || (size_t)n >= whysz - used) {
            return alert;
        }
        used += (size_t)n;
    }
    if (used == 0) {
        (void)snprintf(why, whysz, "invalid (status 0x%x)", status);
    }
    return alert;
}

/*
 * Host part of an absolute URI "scheme://[userinfo@]host[:port][/...]", or -1
 * when there is none or it is an IP literal.
 */
static int
uri_host(const char *uri, const char **host, size_t *hostlen)
{
    const char *p = uri;
    const char *a;
    const char *end;
    const char *q;

    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
        return -1;
    }
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.') {
        p++;
    }
    if (strncmp(p, "://", 3) != 0) {
        return -1;
    }
    a = p + 3;
    end = a + strcspn(a, "/?#");
    for (q = end; q > a; q--) {
        if (q[-1] == '@') {
            a = q;
            break;
        }
    }
    if (a < end && *a == '[') {
        return -1;
    }
    q = memchr(a, ':', (size_t)(end - a));
    if (q != NULL) {
        end = q;
    }
    if (end == a) {
        return -1;
    }
    *host = a;
    *hostlen = (size_t)(end - a);
    return 0;
}

/*
 * @spec TS-0003 8.1.2.5 FQDN certificate: some SAN dNSName, or the host of some
 * SAN URI, equals the expected FQDN exactly (ASCII case-insensitive, as DNS
 * names compare). Wildcards never match (10.1.1.6 forbids them): an entry
 * with '*' is skipped outright, and the expected name cannot hold one.
 */
static int
fqdn_matches(enum m2msec_san_type type, const char *value, const char *fqdn)
{
    const char *host = value;
    size_t hostlen = strlen(value);

    if (type == M2MSEC_SAN_URI && uri_host(value, &host, &hostlen) != 0) {
        return 0;
    }
    if (memchr(host, '*', hostlen) != NULL) {
        return 0;
    }
    return hostlen == strlen(fqdn) && m2msec_ascii_caseeqn(host, fqdn, hostlen);
}

static const char *
san_form(enum m2msec_cert_flavour f)
{
    switch (f) {
    case M2MSEC_CERT_FQDN:
        return "dNSName or URI host";
    case M2MSEC_CERT_CSE_ID:
        return "dNSName (CSE-ID)";
    case M2MSEC_CERT_AE_ID:
        return "URI (AE-ID)";
    case M2MSEC_CERT_NODE_ID:
        return "URI (Node-ID)";
    case M2MSEC_CERT_DEVICE:
        return "otherName (M2M Device ID)";
    case M2MSEC_CERT_UNSET:
    case M2MSEC_CERT_ANY:
    case M2MSEC_CERT_RAW:
    default:
        return "entry";
    }
}

/*
 * @spec TS-0003 8.1.2.5 is one subjectAltName entry an identity the check
 * accepts? 1 with that identity (canonical) in ident. With no identifier
 * configured (CSE-ID, AE-ID, Node-ID, device) any well-formed identifier of
 * the flavour's form is; otherwise it must equal a configured one exactly.
 */
static int
identity_matches(const struct peer_check *check, enum m2msec_certid_kind kind, const char *value,
                 char *ident, size_t identsz)
{
    char canon[M2MSEC_CERT_ID_MAX + 1];
    size_t i;

    ident[0] = '\0';
    switch (check->flavour) {
    case M2MSEC_CERT_FQDN:
        if (kind != M2MSEC_CERTID_DNS && kind != M2MSEC_CERTID_URI) {
            return 0;
        }
        for (i = 0; i < check->n_ids; i++) {
            if (fqdn_matches(kind == M2MSEC_CERTID_DNS ? M2MSEC_SAN_DNS : M2MSEC_SAN_URI, value,
                             check->ids[i])) {
                return m2msec_strlcpy(ident, check->ids[i], identsz) == 0;
            }
        }
        return 0;
    case M2MSEC_CERT_ANY:
        return 1;
    case M2MSEC_CERT_CSE_ID:
    case M2MSEC_CERT_AE_ID:
    case M2MSEC_CERT_NODE_ID:
    case M2MSEC_CERT_DEVICE:
        if (!m2msec_certid_of_san(check->flavour, kind, value, canon, sizeof(canon))) {
            return 0;
        }
        for (i = 0; i < check->n_ids; i++) {
            if (strcmp(canon, check->ids[i]) == 0) {
                break;
            }
        }
        if (check->n_ids > 0 && i == check->n_ids) {
            return 0;
        }
        return m2msec_strlcpy(ident, canon, identsz) == 0;
    case M2MSEC_CERT_UNSET:
    case M2MSEC_CERT_RAW:
    default:
        return 0; /* UNSET is refused at configuration; RAW has no names */
    }
}

static void
san_release(struct x509_conn *x)
{
    size_t i;

    for (i = 0; i < x->nsan; i++) {
        m2msec_free(x->san[i].value);
        x->san[i].value = NULL;
    }
    x->nsan = 0;
    for (i = 0; i < x->nhwid; i++) {
        m2msec_free(x->hwid[i]);
        x->hwid[i] = NULL;
    }
    x->nhwid = 0;
    x->identity[0] = '\0';
}

/*
 * A device id from otherName entry seq: 0 with the dotted M2M Device ID in
 * out, -1 when the entry is some other otherName.
 */
static int
san_hwid(gnutls_x509_crt_t crt, unsigned seq, const uint8_t *der, size_t len, char *out,
         size_t outsz)
{
    char oid[128];
    size_t osz = sizeof(oid);

    if (gnutls_x509_crt_get_subject_alt_othername_oid(crt, seq, oid, &osz) < 0 ||
        osz >= sizeof(oid)) {
        return -1;
    }
    oid[osz] = '\0';
    return m2msec_certid_hwid_decode(oid, der, len, out, outsz);
}

/*
 * Walk the dNSName, URI and device otherName entries of the peer's SAN: keep
 * them for the application and tell whether one is the expected identity
 * (the first that is lands in x->identity). -1 on memory failure.
 */
static int
collect_sans(struct x509_conn *x, gnutls_x509_crt_t crt, int *matched, char *first, size_t firstsz)
{
    char buf[SAN_VALUE_MAX + 1];
    char hw[M2MSEC_CERT_ID_MAX + 1];
    char ident[M2MSEC_CERT_ID_MAX + 1];
    const char *value;
    size_t size;
    unsigned seq;
    unsigned type;
    unsigned critical;
    enum m2msec_certid_kind kind;
    int r;

    *matched = 0;
    first[0] = '\0';
    x->identity[0] = '\0';
    for (seq = 0;; seq++) {
        size = sizeof(buf) - 1;
        r = gnutls_x509_crt_get_subject_alt_name2(crt, seq, buf, &size, &type, &critical);
        if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
            break;
        }
        if (r < 0 || size >= sizeof(buf)) {
            if (r == GNUTLS_E_SHORT_MEMORY_BUFFER || r >= 0) {
                continue; /* too long to be an identity */
            }
            break; /* malformed extension: stop, nothing more can match */
        }
        value = buf;
        if (type == GNUTLS_SAN_DNSNAME) {
            kind = M2MSEC_CERTID_DNS;
        } else if (type == GNUTLS_SAN_URI) {
            kind = M2MSEC_CERTID_URI;
        } else if (type == GNUTLS_SAN_OTHERNAME &&
                   san_hwid(crt, seq, (const uint8_t *)buf, size, hw, sizeof(hw)) == 0) {
            kind = M2MSEC_CERTID_HWID;
            value = hw;
        } else {
            continue;
        }
        if (kind != M2MSEC_CERTID_HWID) {
            buf[size] = '\0';
            /* An embedded NUL would let "a.example\0.evil" pass a C string comparison. */
            if (size == 0 || memchr(buf, '\0', size) != NULL) {
                continue;
            }
        }
        if (first[0] == '\0') {
            (void)snprintf(first, firstsz, "%.64s", value);
        }
        if (identity_matches(x->check, kind, value, ident, sizeof(ident)) && !*matched) {
            *matched = 1;
            (void)m2msec_strlcpy(x->identity, ident, sizeof(x->identity));
        }
        if (kind == M2MSEC_CERTID_HWID) {
            if (x->nhwid < HWID_MAX) {
                x->hwid[x->nhwid] = m2msec_strdup(value);
                if (x->hwid[x->nhwid] == NULL) {
                    return -1;
                }
                x->nhwid++;
            }
            continue;
        }
        if (x->nsan < M2MSEC_TLS_PEER_SAN_MAX) {
            x->san[x->nsan].value = m2msec_strdup(buf);
            if (x->san[x->nsan].value == NULL) {
                return -1;
            }
            x->san[x->nsan].type = kind == M2MSEC_CERTID_DNS ? M2MSEC_SAN_DNS : M2MSEC_SAN_URI;
            x->nsan++;
        }
    }
    return 0;
}

static int
crt_from_der(gnutls_x509_crt_t *crt, const gnutls_datum_t *der, char *why, size_t whysz)
{
    int r;

    r = gnutls_x509_crt_init(crt);
    if (r < 0) {
        *crt = NULL;
        (void)snprintf(why, whysz, "out of memory");
        return -1;
    }
    r = gnutls_x509_crt_import(*crt, der, GNUTLS_X509_FMT_DER);
    if (r < 0) {
        (void)snprintf(why, whysz, "unreadable certificate: %s", gnutls_strerror(r));
        return -1;
    }
    return 0;
}

/*
 * @spec TS-0003 8.1.2.5 / 10.1.2 a raw public key peer (RFC 7250): its key is
 * P-256 (10.1.1.2) and the RFC 6920 digest of the SubjectPublicKeyInfo it
 * sent, with the hash of a trusted identifier, equals that identifier's
 * digest (truncated forms compare their leading bytes). No path, no names.
 */
static int
raw_verify(gnutls_session_t session, struct x509_conn *x)
{
    const gnutls_datum_t *certs;
    unsigned ncert = 0;
    gnutls_pubkey_t pub = NULL;
    struct m2msec_error e;
    uint8_t digest[32];
    char why[WHY_LEN];
    size_t i;
    int rv = -1;

    m2msec_error_clear(&e);
    x->raw_peer = 1;
    if (gnutls_certificate_type_get2(session, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_RAWPK) {
        why_set(x, "an X.509 certificate where a raw public key was expected");
        x->alert = GNUTLS_A_UNSUPPORTED_CERTIFICATE;
        goto out;
    }
    certs = gnutls_certificate_get_peers(session, &ncert);
    if (certs == NULL || ncert == 0) {
        why_set(x, "no raw public key");
        goto out;
    }
    if (gnutls_pubkey_init(&pub) < 0) {
        pub = NULL;
        why_set(x, "out of memory");
        goto out;
    }
    if (gnutls_pubkey_import(pub, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
        why_set(x, "unreadable raw public key");
        goto out;
    }
    if (pubkey_is_p256(pub, why, sizeof(why)) != 0) {
        why_set(x, "wrong key type: %.160s", why);
        x->alert = GNUTLS_A_UNSUPPORTED_CERTIFICATE;
        goto out;
    }
    /* The digest is over the bytes received, as 10.1.2 computes it. */
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, certs[0].data, certs[0].size, digest) < 0 ||
        key_id_of(certs[0].data, certs[0].size, x->key_id, sizeof(x->key_id), &e) != 0) {
        why_set(x, "cannot hash the raw public key");
        goto out;
    }
    for (i = 0; i < x->check->n_ids; i++) {
        if (memcmp(digest, x->check->digests[i].d, x->check->digests[i].len) == 0) {
            break;
        }
    }
    if (i == x->check->n_ids) {
        why_set(x, "public key identifier mismatch: the raw key is %.60s, not a configured one",
                x->key_id);
        x->alert = GNUTLS_A_ACCESS_DENIED;
        goto out;
    }
    (void)m2msec_strlcpy(x->identity, x->check->ids[i], sizeof(x->identity));
    x->verified = 1;
    rv = 0;
out:
    if (pub != NULL) {
        gnutls_pubkey_deinit(pub);
    }
    return rv;
}

/*
 * @spec TS-0003 10.1.1.5 the issuer of an AE-ID certificate constrains the
 * host of the AE-ID URI. GnuTLS applies dNSName constraints to dNSName
 * entries only, so the host is checked here against the issuer's dNSName
 * constraints when it has any (8.1.2.2: honoured when present). The issuer
 * is the next certificate sent, else the trust anchor that signed the leaf.
 */
static int
ae_host_allowed(gnutls_session_t session, const gnutls_datum_t *certs, unsigned ncert,
                gnutls_x509_crt_t leaf, const char *aeid, char *why, size_t whysz)
{
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_x509_trust_list_t tl = NULL;
    gnutls_x509_crt_t issuer = NULL;
    gnutls_x509_name_constraints_t nc = NULL;
    gnutls_datum_t name;
    char host[FQDN_MAX + 1];
    const char *h = NULL;
    size_t hl = 0;
    unsigned critical = 0;
    int r;
    int rv = -1;

    if (uri_host(aeid, &h, &hl) != 0 || hl > FQDN_MAX) {
        (void)snprintf(why, whysz, "AE-ID without a host");
        goto out;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (ncert >= 2) {
        if (crt_from_der(&issuer, &certs[1], why, whysz) != 0) {
            goto out;
        }
        /* An unsorted chain: the issuer is then among the anchors or elsewhere. */
        if (!gnutls_x509_crt_check_issuer(leaf, issuer)) {
            gnutls_x509_crt_deinit(issuer);
            issuer = NULL;
        }
    }
    if (issuer == NULL) {
        if (gnutls_credentials_get(session, GNUTLS_CRD_CERTIFICATE, (void **)&cred) < 0 ||
            cred == NULL) {
            (void)snprintf(why, whysz, "no credentials");
            goto out;
        }
        gnutls_certificate_get_trust_list(cred, &tl);
        if (gnutls_x509_trust_list_get_issuer(tl, leaf, &issuer, GNUTLS_TL_GET_COPY) < 0) {
            issuer = NULL;
            (void)snprintf(why, whysz, "issuer not found");
            goto out;
        }
    }
    if (gnutls_x509_name_constraints_init(&nc) < 0) {
        nc = NULL;
        (void)snprintf(why, whysz, "out of memory");
        goto out;
    }
    r = gnutls_x509_crt_get_name_constraints(issuer, nc, 0, &critical);
    if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
        rv = 0;
        goto out;
    }
    if (r < 0) {
        (void)snprintf(why, whysz, "unreadable issuer name constraints");
        goto out;
    }
    name.data = (unsigned char *)host;
    name.size = (unsigned)hl;
    if (!gnutls_x509_name_constraints_check(nc, GNUTLS_SAN_DNSNAME, &name)) {
        (void)snprintf(why, whysz,
                       "issuer constraints violated (name constraints): AE-ID host %.64s", host);
        goto out;
    }
    rv = 0;
out:
    if (nc != NULL) {
        gnutls_x509_name_constraints_deinit(nc);
    }
    if (issuer != NULL) {
        gnutls_x509_crt_deinit(issuer);
    }
    return rv;
}

/*
 * @spec TS-0003 8.1.2.5 verify the peer's certificate: path validation against
 * the configured anchors with status (8.1.2.2, RFC 5280 s.6.1, CRLs when
 * configured), the profile (10.1.1.1/10.1.1.3: P-256 key, ECDSA-SHA256
 * signatures) and the exact identifier match of the flavour. Path validation
 * comes first so the names of an unverified certificate are never looked at.
 * 0 accepted; -1 refused with the reason in x->why.
 */
static int
peer_verify(gnutls_session_t session, struct x509_conn *x)
{
    const gnutls_datum_t *certs;
    unsigned ncert = 0;
    unsigned status = 0;
    unsigned i;
    gnutls_x509_crt_t crt = NULL;
    gnutls_typed_vdata_st vdata;
    gnutls_sign_algorithm_t sig;
    struct m2msec_error e;
    const char *name;
    char first[80];
    char why[WHY_LEN];
    int matched = 0;
    int r;
    int rv = -1;

    m2msec_error_clear(&e);
    san_release(x);
    x->alert = GNUTLS_A_BAD_CERTIFICATE;
    x->raw_peer = 0;
    if (x->check->flavour == M2MSEC_CERT_RAW) {
        rv = raw_verify(session, x);
        goto out;
    }
    if (gnutls_certificate_type_get2(session, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_X509) {
        why_set(x, "not an X.509 certificate");
        goto out;
    }
    certs = gnutls_certificate_get_peers(session, &ncert);
    if (certs == NULL || ncert == 0) {
        why_set(x, "no certificate");
        goto out;
    }
    vdata.type = GNUTLS_DT_KEY_PURPOSE_OID;
    vdata.data = (unsigned char *)x->check->purpose;
    vdata.size = 0;
    r = gnutls_certificate_verify_peers(session, &vdata, 1, &status);
    if (r < 0) {
        why_set(x, "cannot verify: %s", gnutls_strerror(r));
        goto out;
    }
    if (status != 0) {
        x->alert = status_reason(status, why, sizeof(why));
        why_set(x, "%s", why);
        goto out;
    }
    /* Walk back from the anchor end so crt is the end-entity certificate afterwards. */
    for (i = ncert; i-- > 0;) {
        if (crt != NULL) {
            gnutls_x509_crt_deinit(crt);
            crt = NULL;
        }
        if (crt_from_der(&crt, &certs[i], x->why, sizeof(x->why)) != 0) {
            goto out;
        }
        /* @spec TS-0003 10.1.1.3 chains are signed with ECDSA P-256 and SHA-256. */
        r = gnutls_x509_crt_get_signature_algorithm(crt);
        sig = (gnutls_sign_algorithm_t)(r < 0 ? 0 : r);
        if (sig != GNUTLS_SIGN_ECDSA_SHA256) {
            name = gnutls_sign_get_name(sig);
            why_set(x, "wrong signature algorithm %s, ECDSA-SHA256 required",
                    name != NULL ? name : "unknown");
            x->alert = GNUTLS_A_UNSUPPORTED_CERTIFICATE;
            goto out;
        }
    }
    if (crt_is_p256(crt, why, sizeof(why)) != 0) {
        why_set(x, "wrong key type: %.160s", why);
        x->alert = GNUTLS_A_UNSUPPORTED_CERTIFICATE;
        goto out;
    }
    if (collect_sans(x, crt, &matched, first, sizeof(first)) != 0) {
        why_set(x, "out of memory");
        goto out;
    }
    /* The subject CN is never consulted: identities live in subjectAltName only. */
    if (!matched && x->check->flavour != M2MSEC_CERT_ANY && x->check->n_ids == 0) {
        why_set(x, "name mismatch: no subjectAltName %s%s%.48s%s", san_form(x->check->flavour),
                first[0] != '\0' ? " (certificate names " : "", first, first[0] != '\0' ? ")" : "");
        goto out;
    }
    if (!matched && x->check->flavour != M2MSEC_CERT_ANY) {
        why_set(x, "name mismatch: no subjectAltName %s is %.64s%s%.48s%s",
                san_form(x->check->flavour), x->check->id,
                first[0] != '\0' ? " (certificate names " : "", first, first[0] != '\0' ? ")" : "");
        goto out;
    }
    if (x->check->flavour == M2MSEC_CERT_AE_ID &&
        ae_host_allowed(session, certs, ncert, crt, x->identity, why, sizeof(why)) != 0) {
        why_set(x, "%s", why);
        goto out;
    }
    if (crt_key_id(crt, x->key_id, sizeof(x->key_id), &e) != 0) {
        why_set(x, "%.180s", e.msg);
        goto out;
    }
    x->verified = 1;
    rv = 0;
out:
    if (crt != NULL) {
        gnutls_x509_crt_deinit(crt);
    }
    if (rv != 0) {
        san_release(x);
        x->key_id[0] = '\0';
        x->failed = 1;
    }
    return rv;
}

/* GnuTLS calls this when the peer's Certificate message has arrived. */
static int
verify_cb(gnutls_session_t session)
{
    struct m2msec_tls_conn *c = gnutls_session_get_ptr(session);
    struct x509_conn *x = m2msec_tls_conn_ext(c, x509_conn_free);

    if (x == NULL) {
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    if (!x->required) {
        return 0; /* a server that did not ask for a client certificate */
    }
    if (peer_verify(session, x) != 0) {
        m2msec_tls_conn_set_fail_alert(c, (int)x->alert);
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    return 0;
}

static void
x509_conn_free(void *p)
{
    struct x509_conn *x = p;

    if (x == NULL) {
        return;
    }
    san_release(x);
    check_release(&x->own);
    if (x->cred != NULL) {
        gnutls_certificate_free_credentials(x->cred);
    }
    m2msec_tls_cert_server_free(x->srv);
    m2msec_free(x);
}

static struct x509_conn *
x509_conn_new(struct m2msec_error *err)
{
    struct x509_conn *x = m2msec_calloc(1, sizeof(*x));

    if (x == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    return x;
}

static int
is_certificate_alert(gnutls_alert_description_t a)
{
    return a == GNUTLS_A_BAD_CERTIFICATE || a == GNUTLS_A_UNSUPPORTED_CERTIFICATE ||
           a == GNUTLS_A_CERTIFICATE_REVOKED || a == GNUTLS_A_CERTIFICATE_EXPIRED ||
           a == GNUTLS_A_CERTIFICATE_UNKNOWN || a == GNUTLS_A_UNKNOWN_CA ||
           a == GNUTLS_A_ACCESS_DENIED || a == GNUTLS_A_CERTIFICATE_REQUIRED;
}

/*
 * Run the handshake and make a failure say why: our verification refused the
 * peer, the client sent no certificate, or the peer refused ours. Timeouts
 * and other failures keep tls.c's message.
 */
static int
cert_handshake(struct m2msec_tls_conn *c, struct x509_conn *x, struct m2msec_error *err)
{
    gnutls_session_t session = m2msec_tls_conn_session(c);
    const char *peer = m2msec_tls_peer(c);
    struct m2msec_error e;
    gnutls_alert_description_t a = GNUTLS_A_CLOSE_NOTIFY;
    int rc = 0;

    m2msec_error_clear(&e);
    if (m2msec_tls_conn_handshake(c, &rc, &e) != 0) {
        /*
         * A GnuTLS server waiting for the client's Certificate reports an
         * alert arriving instead as GNUTLS_E_NO_CERTIFICATE_FOUND; the alert
         * tells "refused our certificate" from "has none".
         */
        if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED ||
            (rc == GNUTLS_E_NO_CERTIFICATE_FOUND && x->server_side)) {
            a = gnutls_alert_get(session);
        }
        if (e.code == M2MSEC_ERR_TIMEOUT) {
            m2msec_error_copy(err, &e);
        } else if (x->failed) {
            m2msec_error_setx(err, M2MSEC_ERR_AUTH, "%s certificate from %s rejected: %s",
                              x->check->role, peer, x->why);
        } else if (is_certificate_alert(a)) {
            m2msec_error_setx(err, M2MSEC_ERR_AUTH, "%s %s rejected our certificate (alert: %s)",
                              x->check->role, peer, gnutls_alert_get_name(a));
        } else if (rc == GNUTLS_E_NO_CERTIFICATE_FOUND && x->server_side) {
            m2msec_error_setx(err, M2MSEC_ERR_AUTH,
                              "client certificate from %s rejected: no certificate", peer);
        } else if (a == GNUTLS_A_HANDSHAKE_FAILURE && !x->server_side && !x->have_own &&
                   gnutls_certificate_client_get_request_status(session) != 0) {
            /* RFC 5246 s.7.4.6: how a server refuses a client without a certificate. */
            m2msec_error_setx(err, M2MSEC_ERR_AUTH,
                              "server %s requires a client certificate and we have none", peer);
        } else {
            m2msec_error_copy(err, &e);
        }
        return -1;
    }
    /*
     * Defence in depth: never hand out a session whose peer was not verified.
     * A PSK session (a server accepting both) was authenticated by its key.
     */
    if (x->required && !x->verified &&
        !(x->server_side && gnutls_kx_get(session) == GNUTLS_KX_PSK &&
          m2msec_tls_psk_identity(c) != NULL)) {
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH, "%s certificate from %s not verified",
                                 x->check->role, peer);
    }
    return 0;
}

/*
 * The suites, plus the RFC 7250 certificate types when a raw public key is
 * ours or expected from the peer (raw_cli: the client's, raw_srv: the
 * server's). Without one the string is the base unchanged.
 */
static int
priority_for(const char *base, int raw_cli, int raw_srv, char *out, size_t outsz,
             struct m2msec_error *err)
{
    int n;

    if (!raw_cli && !raw_srv) {
        n = snprintf(out, outsz, "%s", base);
    } else {
        n = snprintf(out, outsz, "%s%s%s", base, raw_cli ? CTYPE_CLI_RAWPK : CTYPE_CLI_X509,
                     raw_srv ? CTYPE_SRV_RAWPK : CTYPE_SRV_X509);
    }
    if (n < 0 || (size_t)n >= outsz) {
        return m2msec_error_setx(err, M2MSEC_ERR_TLS, "TLS priority string too long");
    }
    return 0;
}

/* ---- server ---- */

struct m2msec_tls_cert_server *
m2msec_tls_cert_server_new(const struct m2msec_tls_cert_opts *o, struct m2msec_error *err)
{
    struct m2msec_tls_cert_server *s = NULL;
    struct m2msec_tls_cert_server *rv = NULL;
    const char *errpos = NULL;
    char prio[PRIORITY_MAX];
    int r;

    if (o == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "certificate server options missing");
        goto out;
    }
    if (m2msec_tls_global_init(err) != 0) {
        goto out;
    }
    s = m2msec_calloc(1, sizeof(*s));
    if (s == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    atomic_init(&s->refs, 1);
    s->require = o->require_client_cert != 0;
    if (s->require && check_init(&s->check, &o->client, NULL, kp_client, "client", err) != 0) {
        goto out;
    }
    if (!s->require) {
        s->check.role = "client";
        s->check.purpose = kp_client;
    }
    r = gnutls_certificate_allocate_credentials(&s->cred);
    if (r < 0) {
        s->cred = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "certificate credentials: %s", gnutls_strerror(r));
        goto out;
    }
    if (load_own(s->cred, o->cert_file, o->key_file, &s->own_raw, err) != 0) {
        goto out;
    }
    if (s->require && load_anchors(s->cred, &o->client, err) != 0) {
        goto out;
    }
    if (o->psk_lookup != NULL) {
        /* Its credentials, lookup and unknown-identity key serve the PSK sessions. */
        s->psk = m2msec_tls_server_new_psk(o->psk_lookup, o->psk_arg, err);
        if (s->psk == NULL) {
            goto out;
        }
    }
    if (priority_for(s->psk != NULL ? M2MSEC_TLS_CERT_PSK_PRIORITY : M2MSEC_TLS_CERT_PRIORITY,
                     s->require && s->check.flavour == M2MSEC_CERT_RAW, s->own_raw, prio,
                     sizeof(prio), err) != 0) {
        goto out;
    }
    r = gnutls_priority_init(&s->prio, prio, &errpos);
    if (r < 0) {
        s->prio = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "TLS priority string at \"%.32s\": %s",
                          errpos != NULL ? errpos : "", gnutls_strerror(r));
        goto out;
    }
    rv = s;
    s = NULL;
out:
    m2msec_tls_cert_server_free(s);
    return rv;
}

void
m2msec_tls_cert_server_ref(struct m2msec_tls_cert_server *s)
{
    if (s != NULL) {
        atomic_fetch_add(&s->refs, 1);
    }
}

void
m2msec_tls_cert_server_free(struct m2msec_tls_cert_server *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1) {
        return;
    }
    if (s->prio != NULL) {
        gnutls_priority_deinit(s->prio);
    }
    if (s->cred != NULL) {
        gnutls_certificate_free_credentials(s->cred);
    }
    m2msec_tls_server_free(s->psk);
    check_release(&s->check);
    m2msec_free(s);
}

struct m2msec_tls_conn *
m2msec_tls_accept_cert(struct m2msec_tls_cert_server *s, int fd, void *ctx, unsigned timeout_ms,
                       struct m2msec_error *err)
{
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_tls_conn *rv = NULL;
    struct x509_conn *x = NULL;
    struct x509_conn *xs;
    gnutls_session_t session;
    int r;

    if (s == NULL || fd < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "TLS accept without server or socket");
        goto out;
    }
    x = x509_conn_new(err);
    if (x == NULL) {
        goto out;
    }
    m2msec_tls_cert_server_ref(s);
    x->srv = s;
    x->check = &s->check;
    x->ctx = ctx;
    x->server_side = 1;
    x->required = s->require;
    /* Ownership of fd and x passes to the connection, also on failure. */
    c = m2msec_tls_conn_new_ext(fd, timeout_ms, 1, x, x509_conn_free, err);
    fd = -1;
    xs = x;
    x = NULL;
    if (c == NULL) {
        goto out;
    }
    session = m2msec_tls_conn_session(c);
    gnutls_priority_set(session, s->prio);
    r = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, s->cred);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "gnutls_credentials_set: %s", gnutls_strerror(r));
        goto out;
    }
    if (s->require) {
        /* @spec TS-0003 8.1.2.5 mutual authentication: the client must present a certificate. */
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
        /*
         * Do not list our CAs in the CertificateRequest: a client then sends
         * its certificate whatever its issuer, and a wrong issuer is reported
         * here as such instead of as "no certificate".
         */
        gnutls_certificate_send_x509_rdn_sequence(session, 1);
    }
    gnutls_session_set_verify_function(session, verify_cb);
    if (s->psk != NULL && m2msec_tls_conn_enable_psk(c, s->psk, ctx, err) != 0) {
        goto out;
    }
    if (cert_handshake(c, xs, err) != 0) {
        goto out;
    }
    rv = c;
    c = NULL;
out:
    if (fd >= 0) {
        close(fd);
    }
    x509_conn_free(x);
    m2msec_tls_conn_free(c);
    return rv;
}

/* ---- client ---- */

static int
is_ip_literal(const char *host)
{
    uint8_t buf[16];

    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

struct m2msec_tls_conn *
m2msec_tls_connect_cert(const struct m2msec_tls_cert_client *o, struct m2msec_error *err)
{
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_tls_conn *rv = NULL;
    struct x509_conn *x = NULL;
    struct x509_conn *xs;
    gnutls_session_t session;
    char host[256];
    char port[8];
    const char *sni = NULL;
    const char *prio = M2MSEC_TLS_CERT_PRIORITY;
    const char *errpos = NULL;
    char prio_buf[PRIORITY_MAX];
    int own_raw = 0;
    int fd;
    int r;

    if (o == NULL || o->hostport == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "certificate client options incomplete");
        goto out;
    }
    /* A key alone is a raw public key (RFC 7250); a certificate always needs its key. */
    if (o->cert_file != NULL && o->key_file == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "client certificate and key go together");
        goto out;
    }
    if (m2msec_hostport_split(o->hostport, host, sizeof(host), port, sizeof(port), err) != 0) {
        goto out;
    }
    /* @spec TS-0003 10.2.1 send SNI (RFC 6066): only DNS names, never address literals. */
    sni = o->sni;
    if (sni == NULL && !is_ip_literal(host)) {
        sni = host;
    }
    if (sni != NULL && (sni[0] == '\0' || strlen(sni) > SNI_MAX)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "server name length not in 1..%d",
                          SNI_MAX);
        goto out;
    }
    if (m2msec_tls_global_init(err) != 0) {
        goto out;
    }
    x = x509_conn_new(err);
    if (x == NULL) {
        goto out;
    }
    x->check = &x->own;
    x->required = 1; /* the server is always verified */
    if (check_init(&x->own, &o->server, sni, kp_server, "server", err) != 0) {
        goto out;
    }
    r = gnutls_certificate_allocate_credentials(&x->cred);
    if (r < 0) {
        x->cred = NULL;
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "certificate credentials: %s", gnutls_strerror(r));
        goto out;
    }
    if (load_anchors(x->cred, &o->server, err) != 0) {
        goto out;
    }
    if (o->key_file != NULL) {
        if (load_own(x->cred, o->cert_file, o->key_file, &own_raw, err) != 0) {
            goto out;
        }
        x->have_own = 1;
    }
    if (priority_for(M2MSEC_TLS_CERT_PRIORITY, own_raw, x->own.flavour == M2MSEC_CERT_RAW, prio_buf,
                     sizeof(prio_buf), err) != 0) {
        goto out;
    }
    prio = prio_buf;
    fd = m2msec_tcp_connect(
            o->hostport, o->timeout_ms == 0 ? M2MSEC_TLS_DEFAULT_TIMEOUT_MS : o->timeout_ms, err);
    if (fd < 0) {
        goto out;
    }
    /* Ownership of fd and x passes to the connection, also on failure. */
    c = m2msec_tls_conn_new_ext(fd, o->timeout_ms, 0, x, x509_conn_free, err);
    xs = x;
    x = NULL;
    if (c == NULL) {
        goto out;
    }
    session = m2msec_tls_conn_session(c);
    r = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, xs->cred);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "gnutls_credentials_set: %s", gnutls_strerror(r));
        goto out;
    }
#ifdef M2MSEC_TESTING
    if (test_client_priority != NULL) {
        prio = test_client_priority;
    }
#endif
    r = gnutls_priority_set_direct(session, prio, &errpos);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_TLS, "TLS priority string at \"%.32s\": %s",
                          errpos != NULL ? errpos : "", gnutls_strerror(r));
        goto out;
    }
    if (sni != NULL) {
        r = gnutls_server_name_set(session, GNUTLS_NAME_DNS, sni, strlen(sni));
        if (r < 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "server name \"%.64s\": %s", sni,
                              gnutls_strerror(r));
            goto out;
        }
    }
    gnutls_session_set_verify_function(session, verify_cb);
    if (cert_handshake(c, xs, err) != 0) {
        goto out;
    }
    rv = c;
    c = NULL;
out:
    m2msec_tls_conn_free(c);
    x509_conn_free(x);
    return rv;
}

/* ---- what the application may read about the peer ---- */

static const struct x509_conn *
verified_state(const struct m2msec_tls_conn *c)
{
    const struct x509_conn *x = m2msec_tls_conn_ext(c, x509_conn_free);

    return x != NULL && x->verified ? x : NULL;
}

size_t
m2msec_tls_peer_san_count(const struct m2msec_tls_conn *c)
{
    const struct x509_conn *x = verified_state(c);

    return x != NULL ? x->nsan : 0;
}

const char *
m2msec_tls_peer_san(const struct m2msec_tls_conn *c, size_t i, enum m2msec_san_type *type)
{
    const struct x509_conn *x = verified_state(c);

    if (x == NULL || i >= x->nsan) {
        return NULL;
    }
    if (type != NULL) {
        *type = x->san[i].type;
    }
    return x->san[i].value;
}

const char *
m2msec_tls_peer_key_id(const struct m2msec_tls_conn *c)
{
    const struct x509_conn *x = verified_state(c);

    return x != NULL ? x->key_id : NULL;
}

const char *
m2msec_tls_peer_identity(const struct m2msec_tls_conn *c, enum m2msec_cert_flavour *flavour)
{
    const struct x509_conn *x = verified_state(c);

    if (x == NULL || x->identity[0] == '\0') {
        if (flavour != NULL) {
            *flavour = M2MSEC_CERT_UNSET;
        }
        return NULL;
    }
    if (flavour != NULL) {
        *flavour = x->check->flavour;
    }
    return x->identity;
}

int
m2msec_tls_peer_identity_of(const struct m2msec_tls_conn *c, enum m2msec_cert_flavour f, char *out,
                            size_t outsz, struct m2msec_error *err)
{
    const struct x509_conn *x = verified_state(c);
    size_t i;

    if (out == NULL || outsz == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no output buffer");
    }
    out[0] = '\0';
    if (x == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no verified peer certificate");
    }
    if (f == M2MSEC_CERT_RAW) {
        if (m2msec_strlcpy(out, x->key_id, outsz) != 0) {
            return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "output buffer too small");
        }
        return 0;
    }
    if (f == M2MSEC_CERT_DEVICE) {
        for (i = 0; i < x->nhwid; i++) {
            if (m2msec_certid_of_san(f, M2MSEC_CERTID_HWID, x->hwid[i], out, outsz)) {
                return 0;
            }
        }
    }
    for (i = 0; i < x->nsan && f != M2MSEC_CERT_DEVICE; i++) {
        if (m2msec_certid_of_san(
                    f, x->san[i].type == M2MSEC_SAN_DNS ? M2MSEC_CERTID_DNS : M2MSEC_CERTID_URI,
                    x->san[i].value, out, outsz)) {
            return 0;
        }
    }
    out[0] = '\0';
    return m2msec_error_setx(err, M2MSEC_ERR_NOT_FOUND, "the peer certificate has no %s %s",
                             flavour_name(f), san_form(f));
}

int
m2msec_tls_peer_credential_id(const struct m2msec_tls_conn *c, enum m2msec_cert_flavour f,
                              char *out, size_t outsz, struct m2msec_error *err)
{
    const struct x509_conn *x = verified_state(c);
    char ident[M2MSEC_CERT_ID_MAX + 1];

    if (x == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no verified peer certificate");
    }
    if (f == M2MSEC_CERT_UNSET || (f == x->check->flavour && x->identity[0] != '\0')) {
        if (x->identity[0] == '\0') {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "the peer was verified without an identity (flavour %s)",
                                     flavour_name(x->check->flavour));
        }
        return m2msec_x509_credential_id(x->check->flavour, x->identity, out, outsz, err);
    }
    if (m2msec_tls_peer_identity_of(c, f, ident, sizeof(ident), err) != 0) {
        return -1;
    }
    return m2msec_x509_credential_id(f, ident, out, outsz, err);
}

int
m2msec_tls_peer_chain_verify(const struct m2msec_tls_conn *c, const char *const *ca_files,
                             size_t n_ca, const char *const *crl_files, size_t n_crl,
                             struct m2msec_error *err)
{
    const struct x509_conn *x = verified_state(c);
    gnutls_session_t session = NULL;
    gnutls_x509_trust_list_t list = NULL;
    gnutls_x509_crt_t *crts = NULL;
    const gnutls_datum_t *certs = NULL;
    gnutls_typed_vdata_st vdata;
    unsigned ncert = 0;
    unsigned status = 0;
    unsigned i;
    uint8_t *buf = NULL;
    size_t len = 0;
    gnutls_datum_t d;
    char why[WHY_LEN];
    int r;
    int rv = -1;

    if (x == NULL || x->raw_peer || n_ca == 0 || ca_files == NULL ||
        (n_crl > 0 && crl_files == NULL)) {
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH,
                                 "no verified certificate chain on this connection to check");
    }
    session = m2msec_tls_conn_session((struct m2msec_tls_conn *)(uintptr_t)c);
    certs = gnutls_certificate_get_peers(session, &ncert);
    if (certs == NULL || ncert == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH, "the peer presented no certificate");
    }
    if (gnutls_x509_trust_list_init(&list, 0) < 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < n_ca; i++) {
        if (m2msec_x509_read_file(ca_files[i], PEM_FILE_MAX, &buf, &len, err) != 0) {
            goto out;
        }
        d = datum_of(buf, len);
        r = gnutls_x509_trust_list_add_trust_mem(list, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
        file_free(buf, len);
        buf = NULL;
        if (r <= 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "trust anchors %.128s: %s",
                              ca_files[i], r < 0 ? gnutls_strerror(r) : "no certificate");
            goto out;
        }
    }
    for (i = 0; i < n_crl; i++) {
        if (m2msec_x509_read_file(crl_files[i], PEM_FILE_MAX, &buf, &len, err) != 0) {
            goto out;
        }
        d = datum_of(buf, len);
        r = gnutls_x509_trust_list_add_trust_mem(list, NULL, &d, GNUTLS_X509_FMT_PEM,
                                                 GNUTLS_TL_VERIFY_CRL, 0);
        file_free(buf, len);
        buf = NULL;
        if (r < 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "CRL %.128s: %s", crl_files[i],
                              gnutls_strerror(r));
            goto out;
        }
    }
    crts = m2msec_calloc(ncert, sizeof(*crts));
    if (crts == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < ncert; i++) {
        if (crt_from_der(&crts[i], &certs[i], why, sizeof(why)) != 0) {
            m2msec_error_setx(err, M2MSEC_ERR_AUTH, "%s", why);
            goto out;
        }
    }
    vdata.type = GNUTLS_DT_KEY_PURPOSE_OID;
    vdata.data = (unsigned char *)(x->server_side ? kp_client : kp_server);
    vdata.size = 0;
    r = gnutls_x509_trust_list_verify_crt2(list, crts, ncert, &vdata, 1, 0, &status, NULL);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "cannot verify: %s", gnutls_strerror(r));
        goto out;
    }
    if (status != 0) {
        (void)status_reason(status, why, sizeof(why));
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "%s", why);
        goto out;
    }
    rv = 0;
out:
    for (i = 0; crts != NULL && i < ncert; i++) {
        if (crts[i] != NULL) {
            gnutls_x509_crt_deinit(crts[i]);
        }
    }
    m2msec_free(crts);
    file_free(buf, len);
    gnutls_x509_trust_list_deinit(list, 1);
    return rv;
}
