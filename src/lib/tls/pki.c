/*
 * tls/pki.c - a development PKI on the GnuTLS x509 API: self-signed CAs,
 * intermediate CAs, FQDN and other end-entity certificates, CRLs.
 *
 * Layer: tls (GnuTLS stays inside src/lib/tls). Uses util only. Meant for
 * tests, demos and first deployments (mefd/mafd "init" commands); the
 * certificates follow the TS-0003 10.1.1 profiles: ECDSA P-256 keys,
 * ECDSA-SHA256 signatures, keyUsage always present, no wildcards from the
 * FQDN helper. Nothing here protects CA keys beyond file modes.
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
#include <time.h>
#include <unistd.h>

#include "tls/certid.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/time.h"

#define PKI_FILE_MAX  (1024 * 1024)
#define SERIAL_LEN    16   /* 128 random bits (CA/B forum asks for at least 64) */
#define BACKDATE_SECS 3600 /* tolerate clocks an hour behind ours */
#define SECS_PER_DAY  86400
#define KEY_ID_MAX    64
#define EXPIRED_FROM  (10 * SECS_PER_DAY) /* --expired: valid from 10 days ago ... */
#define EXPIRED_UNTIL SECS_PER_DAY        /* ... to yesterday */
#define HWID_DER_MAX  128

/* Signing material of a CA, loaded from its PEM files. */
struct pki_ca {
    gnutls_x509_crt_t crt;
    gnutls_x509_privkey_t key;
};

static void
ca_release(struct pki_ca *ca)
{
    if (ca->crt != NULL) {
        gnutls_x509_crt_deinit(ca->crt);
        ca->crt = NULL;
    }
    if (ca->key != NULL) {
        gnutls_x509_privkey_deinit(ca->key);
        ca->key = NULL;
    }
}

static void
datum_wipe_free(gnutls_datum_t *d)
{
    if (d->data != NULL) {
        m2msec_wipe(d->data, d->size);
        gnutls_free(d->data);
    }
    d->data = NULL;
    d->size = 0;
}

/*
 * Create path with O_EXCL (never replace a file) and the given mode, write
 * data, fsync. On failure nothing is left behind.
 */
static int
write_new_file(const char *path, const uint8_t *data, size_t len, mode_t mode,
               struct m2msec_error *err)
{
    size_t off = 0;
    ssize_t w;
    int fd;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "cannot create %.128s", path);
    }
    while (off < len) {
        w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            m2msec_error_set(err, M2MSEC_ERR_IO, "cannot write %.128s", path);
            goto fail;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "cannot sync %.128s", path);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        m2msec_error_set(err, M2MSEC_ERR_IO, "cannot close %.128s", path);
        goto fail;
    }
    return 0;
fail:
    if (fd >= 0) {
        close(fd);
    }
    (void)unlink(path);
    return -1;
}

static int
gnutls_fail(struct m2msec_error *err, const char *what, int r)
{
    return m2msec_error_setx(err, r == GNUTLS_E_MEMORY_ERROR ? M2MSEC_ERR_NOMEM : M2MSEC_ERR_CRYPTO,
                             "%s: %s", what, gnutls_strerror(r));
}

static int
key_generate(gnutls_x509_privkey_t *key, enum m2msec_pki_key kind, struct m2msec_error *err)
{
    gnutls_ecc_curve_t curve;
    int r;

    switch (kind) {
    case M2MSEC_PKI_KEY_P256:
        curve = GNUTLS_ECC_CURVE_SECP256R1;
        break;
    case M2MSEC_PKI_KEY_P384:
        curve = GNUTLS_ECC_CURVE_SECP384R1;
        break;
    default:
        *key = NULL;
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "unknown key kind %d",
                                 (int)kind);
    }
    r = gnutls_x509_privkey_init(key);
    if (r < 0) {
        *key = NULL;
        return gnutls_fail(err, "private key", r);
    }
    r = gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(curve), 0);
    if (r < 0) {
        return gnutls_fail(err, "key generation", r);
    }
    return 0;
}

/* The first certificate of a PEM file. */
static int
crt_load(gnutls_x509_crt_t *crt, const char *path, struct m2msec_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    gnutls_datum_t d;
    int r;
    int rv = -1;

    *crt = NULL;
    if (m2msec_x509_read_file(path, PKI_FILE_MAX, &buf, &len, err) != 0) {
        goto out;
    }
    r = gnutls_x509_crt_init(crt);
    if (r < 0) {
        *crt = NULL;
        gnutls_fail(err, "certificate", r);
        goto out;
    }
    d.data = buf;
    d.size = (unsigned)len;
    r = gnutls_x509_crt_import(*crt, &d, GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "certificate %.128s: %s", path,
                          gnutls_strerror(r));
        goto out;
    }
    rv = 0;
out:
    m2msec_free(buf);
    return rv;
}

/* Load a CA certificate and its key, and check that they belong together. */
static int
ca_load(struct pki_ca *ca, const char *cert_path, const char *key_path, struct m2msec_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    gnutls_datum_t d;
    uint8_t id1[KEY_ID_MAX];
    uint8_t id2[KEY_ID_MAX];
    size_t n1 = sizeof(id1);
    size_t n2 = sizeof(id2);
    unsigned critical = 0;
    int r;
    int rv = -1;

    memset(ca, 0, sizeof(*ca));
    if (cert_path == NULL || key_path == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "CA certificate and key required");
        goto out;
    }
    if (crt_load(&ca->crt, cert_path, err) != 0) {
        goto out;
    }
    if (gnutls_x509_crt_get_ca_status(ca->crt, &critical) <= 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%.128s is not a CA certificate",
                          cert_path);
        goto out;
    }
    if (m2msec_x509_read_file(key_path, PKI_FILE_MAX, &buf, &len, err) != 0) {
        goto out;
    }
    r = gnutls_x509_privkey_init(&ca->key);
    if (r < 0) {
        ca->key = NULL;
        gnutls_fail(err, "private key", r);
        goto out;
    }
    d.data = buf;
    d.size = (unsigned)len;
    r = gnutls_x509_privkey_import2(ca->key, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "CA key %.128s: %s", key_path,
                          gnutls_strerror(r));
        goto out;
    }
    if (gnutls_x509_privkey_get_key_id(ca->key, GNUTLS_KEYID_USE_SHA256, id1, &n1) < 0 ||
        gnutls_x509_crt_get_key_id(ca->crt, GNUTLS_KEYID_USE_SHA256, id2, &n2) < 0 || n1 != n2 ||
        memcmp(id1, id2, n1) != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "CA key %.128s does not belong to %.128s", key_path, cert_path);
        goto out;
    }
    rv = 0;
out:
    if (buf != NULL) {
        m2msec_wipe(buf, len);
        m2msec_free(buf);
    }
    if (rv != 0) {
        ca_release(ca);
    }
    return rv;
}

/* Serial, validity, key and subject key identifier: what every certificate gets. */
static int
crt_common(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn, int64_t not_before,
           int64_t not_after, struct m2msec_error *err)
{
    uint8_t serial[SERIAL_LEN];
    uint8_t id[KEY_ID_MAX];
    size_t idlen = sizeof(id);
    int r;

    r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
    if (r < 0) {
        return gnutls_fail(err, "serial number", r);
    }
    /* Positive, and a non-zero first byte so the DER length stays SERIAL_LEN. */
    serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40);
    if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
        (r = gnutls_x509_crt_set_activation_time(crt, (time_t)not_before)) < 0 ||
        (r = gnutls_x509_crt_set_expiration_time(crt, (time_t)not_after)) < 0 ||
        (r = gnutls_x509_crt_set_key(crt, key)) < 0 ||
        (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                           (unsigned)strlen(cn))) < 0 ||
        (r = gnutls_x509_crt_get_key_id(crt, 0, id, &idlen)) < 0 ||
        (r = gnutls_x509_crt_set_subject_key_id(crt, id, idlen)) < 0) {
        return gnutls_fail(err, "certificate fields", r);
    }
    return 0;
}

/* Export key (PKCS#8, unencrypted) and certificate, key first; both or neither. */
static int
write_pair(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cert_path,
           const char *key_path, struct m2msec_error *err)
{
    gnutls_datum_t kpem = { NULL, 0 };
    gnutls_datum_t cpem = { NULL, 0 };
    int r;
    int rv = -1;

    r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &kpem);
    if (r < 0) {
        gnutls_fail(err, "key export", r);
        goto out;
    }
    r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem);
    if (r < 0) {
        gnutls_fail(err, "certificate export", r);
        goto out;
    }
    if (write_new_file(key_path, kpem.data, kpem.size, 0600, err) != 0) {
        goto out;
    }
    if (write_new_file(cert_path, cpem.data, cpem.size, 0644, err) != 0) {
        (void)unlink(key_path);
        goto out;
    }
    rv = 0;
out:
    datum_wipe_free(&kpem);
    gnutls_free(cpem.data);
    return rv;
}

static int
validity(unsigned days, int64_t nb, int64_t na, int64_t *not_before, int64_t *not_after,
         struct m2msec_error *err)
{
    int64_t now = m2msec_now();

    if (nb != 0 || na != 0) {
        if (nb == 0 || na == 0 || nb >= na) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "validity needs not_before < not_after");
        }
        *not_before = nb;
        *not_after = na;
        return 0;
    }
    if (days == 0 || days > M2MSEC_PKI_DAYS_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "validity %u days not in 1..%u",
                                 days, M2MSEC_PKI_DAYS_MAX);
    }
    *not_before = now - BACKDATE_SECS;
    *not_after = now + (int64_t)days * SECS_PER_DAY;
    return 0;
}

/* A name: non-empty, bounded, printable ASCII; spaces only where allowed (CN, not SAN). */
static int
name_ok(const char *s, size_t max, int spaces)
{
    size_t n;
    size_t i;

    if (s == NULL) {
        return 0;
    }
    n = strlen(s);
    if (n == 0 || n > max) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f || (s[i] == ' ' && !spaces)) {
            return 0;
        }
    }
    return 1;
}

static int
path_given(const char *p)
{
    return p != NULL && p[0] != '\0';
}

static int set_name_constraints(gnutls_x509_crt_t crt, const char *const *permitted, size_t n,
                                struct m2msec_error *err);

int
m2msec_pki_ca_create(const char *cert_path, const char *key_path, const char *cn, unsigned days,
                     struct m2msec_error *err)
{
    return m2msec_pki_ca_create_constrained(cert_path, key_path, cn, days, NULL, 0, err);
}

/*
 * @spec TS-0003 8.1.2.2 CA certificates constrain the names of the entities
 * below them (RFC 5280 s.4.2.1.10): here dNSName subtrees, which cover FQDN
 * and CSE-ID certificates directly and AE-ID hosts through x509.c.
 */
int
m2msec_pki_ca_create_constrained(const char *cert_path, const char *key_path, const char *cn,
                                 unsigned days, const char *const *permitted_dns,
                                 size_t n_permitted, struct m2msec_error *err)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_x509_privkey_t key = NULL;
    int64_t nb = 0;
    int64_t na = 0;
    size_t i;
    int r;
    int rv = -1;

    if (!path_given(cert_path) || !path_given(key_path) || !name_ok(cn, 64, 1)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "CA needs certificate and key paths and a common name of 1..64 bytes");
        goto out;
    }
    if (n_permitted > 0 && permitted_dns == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "name constraint list missing");
        goto out;
    }
    for (i = 0; i < n_permitted; i++) {
        if (permitted_dns[i] == NULL || !name_ok(permitted_dns[i], 253, 0)) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "name constraint %zu malformed", i);
            goto out;
        }
    }
    if (validity(days, 0, 0, &nb, &na, err) != 0 || m2msec_tls_global_init(err) != 0 ||
        key_generate(&key, M2MSEC_PKI_KEY_P256, err) != 0) {
        goto out;
    }
    r = gnutls_x509_crt_init(&crt);
    if (r < 0) {
        crt = NULL;
        gnutls_fail(err, "certificate", r);
        goto out;
    }
    if (crt_common(crt, key, cn, nb, na, err) != 0) {
        goto out;
    }
    if (n_permitted > 0 && set_name_constraints(crt, permitted_dns, n_permitted, err) != 0) {
        goto out;
    }
    if ((r = gnutls_x509_crt_set_basic_constraints(crt, 1, -1)) < 0 ||
        (r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN)) <
                0 ||
        (r = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0) {
        gnutls_fail(err, "CA certificate", r);
        goto out;
    }
    rv = write_pair(crt, key, cert_path, key_path, err);
out:
    if (crt != NULL) {
        gnutls_x509_crt_deinit(crt);
    }
    if (key != NULL) {
        gnutls_x509_privkey_deinit(key);
    }
    return rv;
}

static int
set_name_constraints(gnutls_x509_crt_t crt, const char *const *permitted, size_t n,
                     struct m2msec_error *err)
{
    gnutls_x509_name_constraints_t nc = NULL;
    gnutls_datum_t d;
    char *copy = NULL;
    size_t i;
    int r;
    int rv = -1;

    r = gnutls_x509_name_constraints_init(&nc);
    if (r < 0) {
        nc = NULL;
        gnutls_fail(err, "name constraints", r);
        goto out;
    }
    for (i = 0; i < n; i++) {
        /* GnuTLS wants a mutable datum. */
        copy = m2msec_strdup(permitted[i]);
        if (copy == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
            goto out;
        }
        d.data = (unsigned char *)copy;
        d.size = (unsigned)strlen(copy);
        r = gnutls_x509_name_constraints_add_permitted(nc, GNUTLS_SAN_DNSNAME, &d);
        m2msec_free(copy);
        copy = NULL;
        if (r < 0) {
            gnutls_fail(err, "name constraints", r);
            goto out;
        }
    }
    r = gnutls_x509_crt_set_name_constraints(crt, nc, 1);
    if (r < 0) {
        gnutls_fail(err, "name constraints", r);
        goto out;
    }
    rv = 0;
out:
    m2msec_free(copy);
    if (nc != NULL) {
        gnutls_x509_name_constraints_deinit(nc);
    }
    return rv;
}

static int
issue_check(const struct m2msec_pki_issue_opts *o, struct m2msec_error *err)
{
    size_t i;

    if (!path_given(o->ca_cert) || !path_given(o->ca_key) || !path_given(o->out_cert) ||
        !path_given(o->out_key)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "issuing needs CA certificate, CA key and output paths");
    }
    if ((o->n_dns > 0 && o->dns == NULL) || (o->n_uris > 0 && o->uris == NULL) ||
        (o->n_hwids > 0 && o->hwids == NULL) ||
        (o->n_permitted_dns > 0 && o->permitted_dns == NULL)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "name list missing");
    }
    if (o->cn != NULL && !name_ok(o->cn, 64, 1)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "common name not 1..64 bytes");
    }
    for (i = 0; i < o->n_dns; i++) {
        if (!name_ok(o->dns[i], 253, 0)) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "dNSName %zu malformed", i);
        }
    }
    for (i = 0; i < o->n_uris; i++) {
        if (!name_ok(o->uris[i], 1024, 0)) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "URI %zu malformed", i);
        }
    }
    for (i = 0; i < o->n_permitted_dns; i++) {
        if (!name_ok(o->permitted_dns[i], 253, 0)) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "name constraint %zu malformed", i);
        }
    }
    if (o->n_permitted_dns > 0 && !o->ca) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "name constraints belong in CA certificates");
    }
    for (i = 0; i < o->n_hwids; i++) {
        if (o->hwids[i] == NULL) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "device id %zu missing", i);
        }
    }
    if (o->cn == NULL && o->n_dns == 0 && o->n_uris == 0 && o->n_hwids == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "a certificate needs a common name or a subjectAltName");
    }
    if ((o->eku & ~(M2MSEC_PKI_EKU_SERVER | M2MSEC_PKI_EKU_CLIENT)) != 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "unknown EKU bits 0x%x", o->eku);
    }
    return 0;
}

int
m2msec_pki_issue(const struct m2msec_pki_issue_opts *o, struct m2msec_error *err)
{
    struct pki_ca ca;
    gnutls_x509_crt_t crt = NULL;
    gnutls_x509_privkey_t key = NULL;
    uint8_t aki[KEY_ID_MAX];
    size_t akilen = sizeof(aki);
    uint8_t hwder[HWID_DER_MAX];
    size_t hwlen = 0;
    unsigned critical = 0;
    const char *cn;
    int64_t nb = 0;
    int64_t na = 0;
    size_t i;
    int r;
    int rv = -1;

    memset(&ca, 0, sizeof(ca));
    if (o == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "issuing options missing");
        goto out;
    }
    if (issue_check(o, err) != 0 ||
        validity(o->days, o->not_before, o->not_after, &nb, &na, err) != 0 ||
        m2msec_tls_global_init(err) != 0 || ca_load(&ca, o->ca_cert, o->ca_key, err) != 0 ||
        key_generate(&key, o->key, err) != 0) {
        goto out;
    }
    cn = o->cn != NULL   ? o->cn
         : o->n_dns > 0  ? o->dns[0]
         : o->n_uris > 0 ? o->uris[0]
                         : o->hwids[0];
    if (strlen(cn) > 64) {
        cn = "m2msec"; /* the CN is informational; X.520 caps it at 64 */
    }
    r = gnutls_x509_crt_init(&crt);
    if (r < 0) {
        crt = NULL;
        gnutls_fail(err, "certificate", r);
        goto out;
    }
    if (crt_common(crt, key, cn, nb, na, err) != 0) {
        goto out;
    }
    for (i = 0; i < o->n_dns; i++) {
        r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, o->dns[i],
                                                 (unsigned)strlen(o->dns[i]), GNUTLS_FSAN_APPEND);
        if (r < 0) {
            gnutls_fail(err, "subjectAltName dNSName", r);
            goto out;
        }
    }
    for (i = 0; i < o->n_uris; i++) {
        r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_URI, o->uris[i],
                                                 (unsigned)strlen(o->uris[i]), GNUTLS_FSAN_APPEND);
        if (r < 0) {
            gnutls_fail(err, "subjectAltName URI", r);
            goto out;
        }
    }
    /* @spec TS-0003 10.1.1.4.1 device ids as otherName (encoding in tls/certid.c). */
    for (i = 0; i < o->n_hwids; i++) {
        if (m2msec_certid_hwid_encode(o->hwids[i], hwder, sizeof(hwder), &hwlen, err) != 0) {
            goto out;
        }
        r = gnutls_x509_crt_set_subject_alt_othername(crt, M2MSEC_M2M_DEVICE_INDICATION_OID, hwder,
                                                      (unsigned)hwlen, GNUTLS_FSAN_APPEND);
        if (r < 0) {
            gnutls_fail(err, "subjectAltName otherName", r);
            goto out;
        }
    }
    if (o->ca) {
        r = gnutls_x509_crt_set_basic_constraints(crt, 1, 0);
        if (r >= 0) {
            r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
        }
        if (r >= 0 && o->n_permitted_dns > 0 &&
            set_name_constraints(crt, o->permitted_dns, o->n_permitted_dns, err) != 0) {
            goto out;
        }
    } else {
        /* @spec TS-0003 10.1.1.1 keyUsage present with at least digitalSignature. */
        r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
        if (r >= 0) {
            r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
        }
    }
    if (r >= 0 && (o->eku & M2MSEC_PKI_EKU_SERVER) != 0) {
        r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
    }
    if (r >= 0 && (o->eku & M2MSEC_PKI_EKU_CLIENT) != 0) {
        r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0);
    }
    if (r >= 0 && gnutls_x509_crt_get_subject_key_id(ca.crt, aki, &akilen, &critical) >= 0) {
        r = gnutls_x509_crt_set_authority_key_id(crt, aki, akilen);
    }
    if (r >= 0) {
        /* @spec TS-0003 10.1.1.3 signed with ECDSA P-256 and SHA-256. */
        r = gnutls_x509_crt_sign2(crt, ca.crt, ca.key, GNUTLS_DIG_SHA256, 0);
    }
    if (r < 0) {
        gnutls_fail(err, "certificate extensions or signature", r);
        goto out;
    }
    rv = write_pair(crt, key, o->out_cert, o->out_key, err);
out:
    if (crt != NULL) {
        gnutls_x509_crt_deinit(crt);
    }
    if (key != NULL) {
        gnutls_x509_privkey_deinit(key);
    }
    ca_release(&ca);
    return rv;
}

/* @spec TS-0003 10.1.1.6 an FQDN certificate for a MEF or MAF: the FQDN in SAN, no wildcard. */
int
m2msec_pki_issue_fqdn(const char *ca_cert, const char *ca_key, const char *fqdn,
                      const char *out_cert, const char *out_key, unsigned days,
                      int is_server_and_client, struct m2msec_error *err)
{
    struct m2msec_pki_issue_opts o;
    const char *dns[1];

    if (fqdn == NULL || !m2msec_x509_fqdn_valid(fqdn)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "\"%.64s\" is not an FQDN",
                                 fqdn != NULL ? fqdn : "");
    }
    dns[0] = fqdn;
    memset(&o, 0, sizeof(o));
    o.ca_cert = ca_cert;
    o.ca_key = ca_key;
    o.out_cert = out_cert;
    o.out_key = out_key;
    o.cn = strlen(fqdn) <= 64 ? fqdn : NULL;
    o.dns = dns;
    o.n_dns = 1;
    o.eku = M2MSEC_PKI_EKU_SERVER | (is_server_and_client ? M2MSEC_PKI_EKU_CLIENT : 0u);
    o.key = M2MSEC_PKI_KEY_P256;
    o.days = days;
    return m2msec_pki_issue(&o, err);
}

/* @spec TS-0003 8.1.2.2 certificate status by CRL (RFC 5280 s.5). */
int
m2msec_pki_crl_create(const char *ca_cert, const char *ca_key, const char *const *revoked,
                      size_t n_revoked, const char *out_crl, unsigned days,
                      struct m2msec_error *err)
{
    struct pki_ca ca;
    gnutls_x509_crl_t crl = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t pem = { NULL, 0 };
    uint8_t aki[KEY_ID_MAX];
    size_t akilen = sizeof(aki);
    uint8_t number[8];
    unsigned critical = 0;
    int64_t nb = 0;
    int64_t na = 0;
    int64_t now;
    size_t i;
    int r;
    int rv = -1;

    memset(&ca, 0, sizeof(ca));
    if (!path_given(out_crl) || (n_revoked > 0 && revoked == NULL)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "CRL needs an output path");
        goto out;
    }
    if (validity(days, 0, 0, &nb, &na, err) != 0 || m2msec_tls_global_init(err) != 0 ||
        ca_load(&ca, ca_cert, ca_key, err) != 0) {
        goto out;
    }
    now = m2msec_now();
    r = gnutls_x509_crl_init(&crl);
    if (r < 0) {
        crl = NULL;
        gnutls_fail(err, "CRL", r);
        goto out;
    }
    for (i = 0; i < n_revoked; i++) {
        if (crt_load(&crt, revoked[i], err) != 0) {
            goto out;
        }
        if (gnutls_x509_crt_check_issuer(crt, ca.crt) == 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%.128s was not issued by %.128s",
                              revoked[i], ca_cert);
            goto out;
        }
        r = gnutls_x509_crl_set_crt(crl, crt, (time_t)nb);
        if (r < 0) {
            gnutls_fail(err, "CRL entry", r);
            goto out;
        }
        gnutls_x509_crt_deinit(crt);
        crt = NULL;
    }
    /* The CRL number only has to increase; seconds since the epoch do. */
    for (i = 0; i < sizeof(number); i++) {
        number[i] = (uint8_t)((uint64_t)now >> (8 * (sizeof(number) - 1 - i)));
    }
    if ((r = gnutls_x509_crl_set_version(crl, 2)) < 0 ||
        (r = gnutls_x509_crl_set_this_update(crl, (time_t)nb)) < 0 ||
        (r = gnutls_x509_crl_set_next_update(crl, (time_t)na)) < 0 ||
        (r = gnutls_x509_crl_set_number(crl, number, sizeof(number))) < 0) {
        gnutls_fail(err, "CRL fields", r);
        goto out;
    }
    if (gnutls_x509_crt_get_subject_key_id(ca.crt, aki, &akilen, &critical) >= 0) {
        r = gnutls_x509_crl_set_authority_key_id(crl, aki, akilen);
        if (r < 0) {
            gnutls_fail(err, "CRL authority key identifier", r);
            goto out;
        }
    }
    r = gnutls_x509_crl_sign2(crl, ca.crt, ca.key, GNUTLS_DIG_SHA256, 0);
    if (r >= 0) {
        r = gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &pem);
    }
    if (r < 0) {
        gnutls_fail(err, "CRL signature", r);
        goto out;
    }
    rv = write_new_file(out_crl, pem.data, pem.size, 0644, err);
out:
    gnutls_free(pem.data);
    if (crt != NULL) {
        gnutls_x509_crt_deinit(crt);
    }
    if (crl != NULL) {
        gnutls_x509_crl_deinit(crl);
    }
    ca_release(&ca);
    return rv;
}

/* ---- profiles, raw keys, key identifiers ---- */

int
m2msec_pki_issue_profile(const char *ca_cert, const char *ca_key, enum m2msec_pki_profile p,
                         const char *id, const char *out_cert, const char *out_key, unsigned days,
                         int expired, struct m2msec_error *err)
{
    struct m2msec_pki_issue_opts o;
    enum m2msec_cert_flavour f;
    char canon[M2MSEC_CERT_ID_MAX + 1];
    char uri[M2MSEC_CERT_ID_MAX + 16];
    char why[192];
    const char *one[1];
    char *host;
    int64_t now;

    switch (p) {
    case M2MSEC_PKI_PROFILE_FQDN:
    case M2MSEC_PKI_PROFILE_CLIENT:
        f = M2MSEC_CERT_FQDN;
        break;
    case M2MSEC_PKI_PROFILE_CSE_ID:
        f = M2MSEC_CERT_CSE_ID;
        break;
    case M2MSEC_PKI_PROFILE_AE_ID:
        f = M2MSEC_CERT_AE_ID;
        break;
    case M2MSEC_PKI_PROFILE_NODE_ID:
        f = M2MSEC_CERT_NODE_ID;
        break;
    case M2MSEC_PKI_PROFILE_DEVICE:
        f = M2MSEC_CERT_DEVICE;
        break;
    default:
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "unknown profile %d", (int)p);
    }
    /* The identifier goes in exactly as the peer will be configured to expect it. */
    if (m2msec_certid_canon(f, id, canon, sizeof(canon), why, sizeof(why)) != 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s", why);
    }
    memset(&o, 0, sizeof(o));
    o.ca_cert = ca_cert;
    o.ca_key = ca_key;
    o.out_cert = out_cert;
    o.out_key = out_key;
    o.key = M2MSEC_PKI_KEY_P256;
    o.days = days;
    o.eku = p == M2MSEC_PKI_PROFILE_CLIENT ? M2MSEC_PKI_EKU_CLIENT
                                           : M2MSEC_PKI_EKU_SERVER | M2MSEC_PKI_EKU_CLIENT;
    one[0] = id;
    switch (p) {
    case M2MSEC_PKI_PROFILE_AE_ID:
        o.uris = one;
        o.n_uris = 1;
        break;
    case M2MSEC_PKI_PROFILE_NODE_ID:
        /* @spec TS-0003 10.1.1.8 an OID Node-ID travels as an RFC 3061 URN. */
        if (m2msec_certid_oid_valid(id)) {
            (void)snprintf(uri, sizeof(uri), "urn:oid:%s", id);
            one[0] = uri;
        }
        o.uris = one;
        o.n_uris = 1;
        break;
    case M2MSEC_PKI_PROFILE_DEVICE:
        o.hwids = one;
        o.n_hwids = 1;
        break;
    case M2MSEC_PKI_PROFILE_FQDN:
    case M2MSEC_PKI_PROFILE_CLIENT:
    case M2MSEC_PKI_PROFILE_CSE_ID:
    default:
        o.dns = one;
        o.n_dns = 1;
        break;
    }
    o.cn = strlen(id) <= 64 ? id : NULL;
    if (p == M2MSEC_PKI_PROFILE_AE_ID) {
        /*
         * GnuTLS checks the CN of a serverAuth certificate without dNSName
         * entries against the issuer's dNSName constraints as if it were a
         * host name; the SP host is what those constrain (10.1.1.5).
         */
        host = strstr(canon, "://") + 3;
        host[strcspn(host, ":/")] = '\0';
        o.cn = strlen(host) <= 64 ? host : NULL;
    }
    if (expired) {
        now = m2msec_now();
        o.not_before = now - EXPIRED_FROM;
        o.not_after = now - EXPIRED_UNTIL;
    }
    return m2msec_pki_issue(&o, err);
}

/* The DER SubjectPublicKeyInfo of a private key. */
static int
privkey_spki(gnutls_x509_privkey_t key, gnutls_datum_t *der, gnutls_datum_t *pem,
             struct m2msec_error *err)
{
    gnutls_privkey_t pk = NULL;
    gnutls_pubkey_t pub = NULL;
    int r;
    int rv = -1;

    if ((r = gnutls_privkey_init(&pk)) < 0) {
        pk = NULL;
        gnutls_fail(err, "private key", r);
        goto out;
    }
    if ((r = gnutls_pubkey_init(&pub)) < 0) {
        pub = NULL;
        gnutls_fail(err, "public key", r);
        goto out;
    }
    /* Flags 0: pk borrows key. */
    if ((r = gnutls_privkey_import_x509(pk, key, 0)) < 0 ||
        (r = gnutls_pubkey_import_privkey(pub, pk, 0, 0)) < 0 ||
        (r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, der)) < 0 ||
        (pem != NULL && (r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_PEM, pem)) < 0)) {
        gnutls_fail(err, "public key export", r);
        goto out;
    }
    rv = 0;
out:
    if (pub != NULL) {
        gnutls_pubkey_deinit(pub);
    }
    if (pk != NULL) {
        gnutls_privkey_deinit(pk);
    }
    return rv;
}

/* @spec TS-0003 10.1.1.2 a raw public key is a bare P-256 key; 10.1.2 names it. */
int
m2msec_pki_rawkey_create(const char *key_path, const char *pub_path, char *id, size_t idsz,
                         struct m2msec_error *err)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_datum_t kpem = { NULL, 0 };
    gnutls_datum_t der = { NULL, 0 };
    gnutls_datum_t pem = { NULL, 0 };
    int r;
    int rv = -1;

    if (!path_given(key_path) || !path_given(pub_path) || id == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "raw key needs two paths");
        goto out;
    }
    if (m2msec_tls_global_init(err) != 0 || key_generate(&key, M2MSEC_PKI_KEY_P256, err) != 0 ||
        privkey_spki(key, &der, &pem, err) != 0 ||
        m2msec_x509_key_id_der(der.data, der.size, id, idsz, err) != 0) {
        goto out;
    }
    r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &kpem);
    if (r < 0) {
        gnutls_fail(err, "key export", r);
        goto out;
    }
    if (write_new_file(key_path, kpem.data, kpem.size, 0600, err) != 0) {
        goto out;
    }
    if (write_new_file(pub_path, pem.data, pem.size, 0644, err) != 0) {
        (void)unlink(key_path);
        goto out;
    }
    rv = 0;
out:
    datum_wipe_free(&kpem);
    gnutls_free(der.data);
    gnutls_free(pem.data);
    if (key != NULL) {
        gnutls_x509_privkey_deinit(key);
    }
    return rv;
}

int
m2msec_pki_key_id_pem(const char *path, char *out, size_t outsz, struct m2msec_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    gnutls_pubkey_t pub = NULL;
    gnutls_x509_privkey_t key = NULL;
    gnutls_datum_t d;
    gnutls_datum_t der = { NULL, 0 };
    int r;
    int rv = -1;

    if (out == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key identifier arguments");
        goto out;
    }
    if (m2msec_tls_global_init(err) != 0 ||
        m2msec_x509_read_file(path, PKI_FILE_MAX, &buf, &len, err) != 0) {
        goto out;
    }
    d.data = buf;
    d.size = (unsigned)len;
    if (strstr((const char *)buf, "-----BEGIN CERTIFICATE-----") != NULL) {
        rv = m2msec_x509_key_id_file(path, out, outsz, err);
        goto out;
    }
    if (strstr((const char *)buf, "-----BEGIN PUBLIC KEY-----") != NULL) {
        if ((r = gnutls_pubkey_init(&pub)) < 0) {
            pub = NULL;
            gnutls_fail(err, "public key", r);
            goto out;
        }
        if ((r = gnutls_pubkey_import(pub, &d, GNUTLS_X509_FMT_PEM)) < 0 ||
            (r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der)) < 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "public key %.128s: %s", path,
                              gnutls_strerror(r));
            goto out;
        }
    } else {
        if ((r = gnutls_x509_privkey_init(&key)) < 0) {
            key = NULL;
            gnutls_fail(err, "private key", r);
            goto out;
        }
        r = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
        if (r < 0) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                              "%.128s: not a PEM certificate, public key or unencrypted private "
                              "key (%s)",
                              path, gnutls_strerror(r));
            goto out;
        }
        if (privkey_spki(key, &der, NULL, err) != 0) {
            goto out;
        }
    }
    rv = m2msec_x509_key_id_der(der.data, der.size, out, outsz, err);
out:
    gnutls_free(der.data);
    if (pub != NULL) {
        gnutls_pubkey_deinit(pub);
    }
    if (key != NULL) {
        gnutls_x509_privkey_deinit(key);
    }
    if (buf != NULL) {
        m2msec_wipe(buf, len);
        m2msec_free(buf);
    }
    return rv;
}
