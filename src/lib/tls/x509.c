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
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <arpa/inet.h>

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

#define PEM_FILE_MAX  (1024 * 1024) /* certificate chains, keys, CA bundles, CRLs */
#define SNI_MAX       255           /* RFC 6066 HostName */
#define FQDN_MAX      253           /* RFC 1035 presentation form without the root dot */
#define SAN_VALUE_MAX 1024          /* longer entries are never an identity we match */
#define WHY_LEN       192
#define NI_PREFIX     "ni:///sha-256;"

/* What to check about the peer; constant for a server, per connection for a client. */
struct peer_check {
    enum m2msec_cert_flavour flavour;
    char *id;         /* expected identifier (owned), NULL for ANY */
    char *purpose;    /* kp_server or kp_client: the EKU the peer must allow */
    const char *role; /* "server" or "client", the peer's role, for messages */
};

struct m2msec_tls_cert_server {
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    int require;
    struct peer_check check;
};

struct san_entry {
    enum m2msec_san_type type;
    char *value;
};

/* Per-connection state attached to the struct m2msec_tls_conn (see tls.h hooks). */
struct x509_conn {
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
    char key_id[M2MSEC_NI_SHA256_LEN];
};

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
 */
static int
load_own(gnutls_certificate_credentials_t cred, const char *cert_file, const char *key_file,
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

/*
 * Check the certificate information for a peer and fill check (id copied).
 * default_id is the FQDN to expect when ci->id is NULL (client: the SNI name).
 */
static int
check_init(struct peer_check *check, const struct m2msec_cert_info *ci, const char *default_id,
           char *purpose, const char *role, struct m2msec_error *err)
{
    const char *id = ci->id;
    size_t i;

    memset(check, 0, sizeof(*check));
    check->purpose = purpose;
    check->role = role;
    if (ci->ca_files == NULL || ci->n_ca_files == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "no trust anchors configured for the %s certificate", role);
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
    switch (ci->flavour) {
    case M2MSEC_CERT_ANY:
        if (id != NULL) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "an identifier makes no sense with flavour \"any\"");
        }
        break;
    case M2MSEC_CERT_FQDN:
        if (id == NULL) {
            id = default_id;
        }
        if (id == NULL || !m2msec_x509_fqdn_valid(id)) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "expected %s FQDN \"%.64s\" is not a host name", role,
                                     id != NULL ? id : "");
        }
        check->id = m2msec_strdup(id);
        if (check->id == NULL) {
            return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        }
        break;
    case M2MSEC_CERT_UNSET:
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "%s certificate flavour not configured", role);
    case M2MSEC_CERT_CSE_ID:
    case M2MSEC_CERT_AE_ID:
    case M2MSEC_CERT_NODE_ID:
    case M2MSEC_CERT_DEVICE:
    case M2MSEC_CERT_RAW:
    default:
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "%s certificate flavour %s not supported yet", role,
                                 flavour_name(ci->flavour));
    }
    check->flavour = ci->flavour;
    return 0;
}

static void
check_release(struct peer_check *check)
{
    m2msec_free(check->id);
    check->id = NULL;
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

static int
identity_matches(const struct peer_check *check, enum m2msec_san_type type, const char *value)
{
    switch (check->flavour) {
    case M2MSEC_CERT_FQDN:
        return fqdn_matches(type, value, check->id);
    case M2MSEC_CERT_ANY:
        return 1;
    case M2MSEC_CERT_UNSET:
    case M2MSEC_CERT_CSE_ID:
    case M2MSEC_CERT_AE_ID:
    case M2MSEC_CERT_NODE_ID:
    case M2MSEC_CERT_DEVICE:
    case M2MSEC_CERT_RAW:
    default:
        return 0; /* refused at configuration */
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
}

/*
 * Walk the dNSName and URI entries of the peer's SAN: keep them for the
 * application and tell whether one is the expected identity. -1 on memory
 * failure.
 */
static int
collect_sans(struct x509_conn *x, gnutls_x509_crt_t crt, int *matched, char *first, size_t firstsz)
{
    char buf[SAN_VALUE_MAX + 1];
    size_t size;
    unsigned seq;
    unsigned type;
    unsigned critical;
    enum m2msec_san_type st;
    int r;

    *matched = 0;
    first[0] = '\0';
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
        if (type == GNUTLS_SAN_DNSNAME) {
            st = M2MSEC_SAN_DNS;
        } else if (type == GNUTLS_SAN_URI) {
            st = M2MSEC_SAN_URI;
        } else {
            continue;
        }
        buf[size] = '\0';
        /* An embedded NUL would let "a.example\0.evil" pass a C string comparison. */
        if (size == 0 || memchr(buf, '\0', size) != NULL) {
            continue;
        }
        if (first[0] == '\0') {
            (void)snprintf(first, firstsz, "%.64s", buf);
        }
        if (identity_matches(x->check, st, buf)) {
            *matched = 1;
        }
        if (x->nsan < M2MSEC_TLS_PEER_SAN_MAX) {
            x->san[x->nsan].value = m2msec_strdup(buf);
            if (x->san[x->nsan].value == NULL) {
                return -1;
            }
            x->san[x->nsan].type = st;
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
    if (gnutls_certificate_type_get2(session, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_X509) {
        (void)snprintf(x->why, sizeof(x->why), "not an X.509 certificate");
        goto out;
    }
    certs = gnutls_certificate_get_peers(session, &ncert);
    if (certs == NULL || ncert == 0) {
        (void)snprintf(x->why, sizeof(x->why), "no certificate");
        goto out;
    }
    vdata.type = GNUTLS_DT_KEY_PURPOSE_OID;
    vdata.data = (unsigned char *)x->check->purpose;
    vdata.size = 0;
    r = gnutls_certificate_verify_peers(session, &vdata, 1, &status);
    if (r < 0) {
        (void)snprintf(x->why, sizeof(x->why), "cannot verify: %s", gnutls_strerror(r));
        goto out;
    }
    if (status != 0) {
        x->alert = status_reason(status, why, sizeof(why));
        (void)snprintf(x->why, sizeof(x->why), "%s", why);
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
            (void)snprintf(x->why, sizeof(x->why),
                           "wrong signature algorithm %s, ECDSA-SHA256 required",
                           name != NULL ? name : "unknown");
            x->alert = GNUTLS_A_UNSUPPORTED_CERTIFICATE;
            goto out;
        }
    }
    if (crt_is_p256(crt, why, sizeof(why)) != 0) {
        (void)snprintf(x->why, sizeof(x->why), "wrong key type: %.160s", why);
        x->alert = GNUTLS_A_UNSUPPORTED_CERTIFICATE;
        goto out;
    }
    if (collect_sans(x, crt, &matched, first, sizeof(first)) != 0) {
        (void)snprintf(x->why, sizeof(x->why), "out of memory");
        goto out;
    }
    /* The subject CN is never consulted: identities live in subjectAltName only. */
    if (!matched && x->check->flavour == M2MSEC_CERT_FQDN) {
        (void)snprintf(x->why, sizeof(x->why),
                       "name mismatch: no subjectAltName dNSName or URI host is %.64s%s%.48s%s",
                       x->check->id, first[0] != '\0' ? " (certificate names " : "", first,
                       first[0] != '\0' ? ")" : "");
        goto out;
    }
    if (crt_key_id(crt, x->key_id, sizeof(x->key_id), &e) != 0) {
        (void)snprintf(x->why, sizeof(x->why), "%.180s", e.msg);
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
    /* Defence in depth: never hand out a session whose peer was not verified. */
    if (x->required && !x->verified) {
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH, "%s certificate from %s not verified",
                                 x->check->role, peer);
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
    if (load_own(s->cred, o->cert_file, o->key_file, err) != 0) {
        goto out;
    }
    if (s->require && load_anchors(s->cred, &o->client, err) != 0) {
        goto out;
    }
    r = gnutls_priority_init(&s->prio, M2MSEC_TLS_CERT_PRIORITY, &errpos);
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
m2msec_tls_cert_server_free(struct m2msec_tls_cert_server *s)
{
    if (s == NULL) {
        return;
    }
    if (s->prio != NULL) {
        gnutls_priority_deinit(s->prio);
    }
    if (s->cred != NULL) {
        gnutls_certificate_free_credentials(s->cred);
    }
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
    int fd;
    int r;

    if (o == NULL || o->hostport == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "certificate client options incomplete");
        goto out;
    }
    if ((o->cert_file == NULL) != (o->key_file == NULL)) {
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
    if (o->cert_file != NULL) {
        if (load_own(x->cred, o->cert_file, o->key_file, err) != 0) {
            goto out;
        }
        x->have_own = 1;
    }
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
