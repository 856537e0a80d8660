/*
 * mefd/admin.c - `mefd init`, `mefd enrolee ...`, `mefd sweep`, and opening a directory.
 *
 * These commands open the store directly. SQLite's locking (WAL, busy timeout)
 * makes them safe while `mefd serve` runs on the same directory: a removed
 * Enrolee is refused at its next handshake.
 */
#define _DEFAULT_SOURCE /* realpath */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "codec/json.h"
#include "codec/mef_msg.h"
#include "crypto/kdf.h"
#include "crypto/seal.h"
#include "mefd.h"
#include "proto/ids.h"
#include "tls/x509.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define KPM_MIN_LEN 16
#define KPM_MAX_LEN 64
/* Anchor and CRL files per certificate Enrolee. */
#define CERT_FILES_MAX 16

char *
mefd_path_join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + 1 + strlen(file) + 1;
    char *p = m2msec_malloc(n);

    if (p != NULL) {
        snprintf(p, n, "%s/%s", dir, file);
    }
    return p;
}

int
mefd_dir_open(const char *dir, struct mefd_dir *d, struct m2msec_error *err)
{
    memset(d, 0, sizeof(*d));
    d->dir = m2msec_strdup(dir);
    d->conf_path = mefd_path_join(dir, MEFD_CONF_FILE);
    if (d->dir == NULL || d->conf_path == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (srv_config_load(d->conf_path, "mefd", &d->cfg, err) == -1) {
        goto fail;
    }
    d->kek = m2msec_kek_load(d->cfg.kek_path, err);
    if (d->kek == NULL) {
        goto fail;
    }
    return 0;
fail:
    mefd_dir_close(d);
    return -1;
}

void
mefd_dir_close(struct mefd_dir *d)
{
    m2msec_free(d->dir);
    m2msec_free(d->conf_path);
    srv_config_clear(&d->cfg);
    m2msec_secret_free(d->kek);
    memset(d, 0, sizeof(*d));
}

struct m2msec_db *
mefd_db_open(const struct mefd_dir *d, struct m2msec_error *err)
{
    return m2msec_db_open(d->cfg.db_path, M2MSEC_SCHEMA_MEF, d->kek, err);
}

/* ip:port or [ipv6]:port, as the configuration accepts it. */
static int
addr_valid(const char *a)
{
    struct m2msec_error err = { 0 };
    char host[M2MSEC_FQDN_MAX + 3];
    char port[8];
    uint64_t v = 0;

    return m2msec_hostport_split(a, host, sizeof(host), port, sizeof(port), &err) == 0 &&
           m2msec_parse_u64(port, strlen(port), 65535, &v) == 0;
}

/*
 * --dev-pki: a development CA in DIR/pki and this MEF's FQDN certificate
 * (server and client use) issued by it. Not an operational CA (tls/x509.h).
 */
static int
init_dev_pki(const char *dir, const char *fqdn, struct m2msec_error *err)
{
    char *pki = mefd_path_join(dir, MEFD_PKI_DIR);
    char *ca_cert = mefd_path_join(dir, MEFD_PKI_CA_CERT);
    char *ca_key = mefd_path_join(dir, MEFD_PKI_CA_KEY);
    char *cert = mefd_path_join(dir, MEFD_CERT_FILE);
    char *key = mefd_path_join(dir, MEFD_KEY_FILE);
    int rv = -1;

    if (pki == NULL || ca_cert == NULL || ca_key == NULL || cert == NULL || key == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (mkdir(pki, 0700) == -1 && errno != EEXIST) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "cannot create %s", pki);
        goto out;
    }
    if (m2msec_pki_ca_create(ca_cert, ca_key, MEFD_PKI_CA_CN, MEFD_PKI_CA_DAYS, err) == -1 ||
        m2msec_pki_issue_fqdn(ca_cert, ca_key, fqdn, cert, key, MEFD_PKI_CERT_DAYS, 1, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_free(pki);
    m2msec_free(ca_cert);
    m2msec_free(ca_key);
    m2msec_free(cert);
    m2msec_free(key);
    return rv;
}

/*
 * The store of a new directory. Through the configuration when it is
 * complete, which also checks what was just written; directly when the target
 * service still waits for the operator's certificate keys.
 */
static int
init_store(const char *dir, int config_complete, struct m2msec_error *err)
{
    struct mefd_dir d = { 0 };
    struct m2msec_secret *kek = NULL;
    struct m2msec_db *db = NULL;
    char *kek_path = NULL;
    char *db_path = NULL;
    int rv = -1;

    if (config_complete) {
        if (mefd_dir_open(dir, &d, err) == -1 || (db = mefd_db_open(&d, err)) == NULL) {
            goto out;
        }
    } else {
        kek_path = mefd_path_join(dir, MEFD_KEK_FILE);
        db_path = mefd_path_join(dir, MEFD_DB_FILE);
        if (kek_path == NULL || db_path == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
            goto out;
        }
        kek = m2msec_kek_load(kek_path, err);
        if (kek == NULL || (db = m2msec_db_open(db_path, M2MSEC_SCHEMA_MEF, kek, err)) == NULL) {
            goto out;
        }
    }
    rv = 0;
out:
    m2msec_db_close(db);
    m2msec_secret_free(kek);
    m2msec_free(kek_path);
    m2msec_free(db_path);
    mefd_dir_close(&d);
    return rv;
}

int
mefd_cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },           { "fqdn", required_argument, NULL, 'f' },
        { "listen", required_argument, NULL, 'l' },        { "dev-pki", no_argument, NULL, 'P' },
        { "target-listen", required_argument, NULL, 'T' }, { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct srv_config_tls tls = { 0 };
    const char *dir = NULL, *fqdn = NULL, *listen = "127.0.0.1:8443";
    char *conf = NULL, *kek = NULL;
    int c, dev_pki = 0, rv = 1;

    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'f':
            fqdn = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'P':
            dev_pki = 1;
            break;
        case 'T':
            tls.target_listen = optarg;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || fqdn == NULL || optind != argc) {
        return mefd_fail("usage: mefd init -d DIR --fqdn FQDN [--listen ADDR:PORT] [--dev-pki] "
                         "[--target-listen ADDR:PORT]");
    }
    if (!m2msec_fqdn_valid(fqdn)) {
        return mefd_fail("'%s' is not a valid FQDN", fqdn);
    }
    /* Before anything is created: a refused address must not leave a half-made PKI. */
    if (!addr_valid(listen)) {
        return mefd_fail("--listen '%s': expected ip:port or [ipv6]:port", listen);
    }
    if (tls.target_listen != NULL && !addr_valid(tls.target_listen)) {
        return mefd_fail("--target-listen '%s': expected ip:port or [ipv6]:port",
                         tls.target_listen);
    }
    if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
        return mefd_fail("cannot create %s: %s", dir, strerror(errno));
    }
    conf = mefd_path_join(dir, MEFD_CONF_FILE);
    kek = mefd_path_join(dir, MEFD_KEK_FILE);
    if (conf == NULL || kek == NULL) {
        mefd_fail("out of memory");
        goto out;
    }
    if (access(conf, F_OK) == 0) {
        mefd_fail("%s already exists: %s is initialised", conf, dir);
        goto out;
    }
    if (dev_pki) {
        if (init_dev_pki(dir, fqdn, &err) == -1) {
            mefd_fail("--dev-pki: %s", m2msec_error_msg(&err));
            goto out;
        }
        tls.cert = MEFD_CERT_FILE;
        tls.key = MEFD_KEY_FILE;
        tls.target_ca = MEFD_PKI_CA_CERT;
    }
    if (srv_config_write_tls(conf, "mefd", fqdn, listen, MEFD_DB_FILE, MEFD_KEK_FILE, &tls, &err) ==
                -1 ||
        m2msec_kek_create(kek, &err) == -1 ||
        init_store(dir, tls.target_listen == NULL || dev_pki, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    printf("initialised %s: fqdn=%s listen=%s", dir, fqdn, listen);
    if (tls.target_listen != NULL) {
        printf(" target_listen=%s", tls.target_listen);
    }
    printf("\n");
    if (dev_pki) {
        printf("development CA %s/%s; certificate %s/%s (key %s/%s) for %s\n", dir,
               MEFD_PKI_CA_CERT, dir, MEFD_CERT_FILE, dir, MEFD_KEY_FILE, fqdn);
    } else if (tls.target_listen != NULL) {
        printf("note: set cert, key and target_ca in %s before using %s\n", conf, dir);
    }
    rv = 0;
out:
    m2msec_free(conf);
    m2msec_free(kek);
    return rv;
}

static int
parse_seconds(const char *s, uint64_t *out)
{
    return m2msec_parse_u64(s, strlen(s), MEFD_EXPIRY_MAX, out) == 0 && *out >= MEFD_EXPIRY_MIN
                   ? 0
                   : -1;
}

/* Append the comma-separated items of arg to list (used for --target a,b --target c). */
static int
list_add_csv(char ***list, size_t *n, const char *arg)
{
    const char *p = arg;

    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char **nl;

        if (len == 0) {
            return -1;
        }
        nl = m2msec_realloc(*list, (*n + 2) * sizeof(char *));
        if (nl == NULL) {
            return -1;
        }
        *list = nl;
        nl[*n] = m2msec_strndup(p, len);
        if (nl[*n] == NULL) {
            return -1;
        }
        (*n)++;
        nl[*n] = NULL;
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

/*
 * @spec TS-0003 8.1.2.1 the flavours a certificate Enrolee may have (a MEF
 * processes device, Node-ID, CSE-ID and AE-ID certificates, 10.1.3), by the
 * names the store and the command line use.
 */
static const struct {
    const char *name;
    enum m2msec_cert_flavour f;
} cert_flavours[] = {
    { "device", M2MSEC_CERT_DEVICE },
    { "node-id", M2MSEC_CERT_NODE_ID },
    { "cse-id", M2MSEC_CERT_CSE_ID },
    { "ae-id", M2MSEC_CERT_AE_ID },
};

static enum m2msec_cert_flavour
cert_flavour_of(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < sizeof(cert_flavours) / sizeof(cert_flavours[0]); i++) {
        if (strcmp(name, cert_flavours[i].name) == 0) {
            return cert_flavours[i].f;
        }
    }
    return M2MSEC_CERT_UNSET;
}

/*
 * The key of a certificate Enrolee: the Credential-ID of its identity
 * (TS-0003 10.4), which also validates the identifier and puts it in
 * canonical form (after the "NN-" prefix).
 */
static int
cert_key(enum m2msec_cert_flavour f, const char *id, char *out, size_t outsz,
         struct m2msec_error *err)
{
    return m2msec_x509_credential_id(f, id, out, outsz, err);
}

/*
 * An anchor or CRL file for the record: its absolute path (mefd serve may
 * run from another directory), and a first look at its content so a typo
 * fails here rather than at the next start of mefd serve. Anchors must hold
 * a certificate the TLS layer can read; CRLs must be PEM CRLs.
 */
static char *
cert_file_check(const char *path, int is_crl)
{
    static const char crl_tag[] = "-----BEGIN X509 CRL-----";
    struct m2msec_error err = { 0 };
    char keyid[M2MSEC_NI_SHA256_LEN];
    char head[256];
    char *abs = realpath(path, NULL);
    char *copy = NULL;
    FILE *f = NULL;
    size_t n;

    if (abs == NULL) {
        mefd_fail("%s: %s", path, strerror(errno));
        return NULL;
    }
    if (is_crl) {
        f = fopen(abs, "r");
        n = f != NULL ? fread(head, 1, sizeof(head) - 1, f) : 0;
        head[n] = '\0';
        if (f != NULL) {
            fclose(f);
        }
        if (strstr(head, crl_tag) == NULL) {
            mefd_fail("--crl %s: not a PEM CRL", path);
            free(abs);
            return NULL;
        }
    } else if (m2msec_x509_key_id_file(abs, keyid, sizeof(keyid), &err) == -1) {
        mefd_fail("--cert-ca %s: %s", path, m2msec_error_msg(&err));
        free(abs);
        return NULL;
    }
    copy = m2msec_strdup(abs);
    free(abs);
    if (copy == NULL) {
        mefd_fail("out of memory");
    }
    return copy;
}

/* Append a checked file to a NULL-terminated list of at most CERT_FILES_MAX. */
static int
cert_file_add(char ***list, size_t *n, const char *path, int is_crl)
{
    char **nl;
    char *abs;

    if (*n == CERT_FILES_MAX) {
        return mefd_fail("at most %d %s files", CERT_FILES_MAX, is_crl ? "CRL" : "anchor");
    }
    abs = cert_file_check(path, is_crl);
    if (abs == NULL) {
        return 1;
    }
    nl = m2msec_realloc(*list, (*n + 2) * sizeof(char *));
    if (nl == NULL) {
        m2msec_free(abs);
        return mefd_fail("out of memory");
    }
    *list = nl;
    nl[(*n)++] = abs;
    nl[*n] = NULL;
    return 0;
}

int
mefd_cert_file_add(char ***list, size_t *n, const char *path, int is_crl)
{
    return cert_file_add(list, n, path, is_crl);
}

/*
 * The certificate part of `enrolee add`: flavour and identifier checked and
 * canonical, the key (Credential-ID) in key. Exit status.
 */
static int
cert_enrolee_prepare(struct m2msec_enrolee_rec *rec, const char *flavour, const char *id, char *key,
                     size_t keysz)
{
    struct m2msec_error err = { 0 };
    enum m2msec_cert_flavour f = cert_flavour_of(flavour);

    if (f == M2MSEC_CERT_UNSET) {
        return mefd_fail("--cert-flavour '%s': one of %s", flavour, M2MSEC_ENROLEE_CERT_FLAVOURS);
    }
    if (rec->ncert_cas == 0) {
        return mefd_fail("a certificate enrolee needs --cert-ca (its trust anchors)");
    }
    if (cert_key(f, id, key, keysz, &err) == -1) {
        return mefd_fail("--cert-id '%s': %s", id, m2msec_error_msg(&err));
    }
    rec->kpm_id = key;
    rec->cert_flavour = m2msec_strdup(flavour);
    rec->cert_id = m2msec_strdup(key + 3); /* after "NN-": the canonical identifier */
    if (rec->cert_flavour == NULL || rec->cert_id == NULL) {
        return mefd_fail("out of memory");
    }
    return 0;
}

static int
enrolee_add(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "kpm-id", required_argument, NULL, 'i' },
        { "kpm-file", required_argument, NULL, 'F' },
        { "kpm", required_argument, NULL, 'k' },
        { "enrolee-id", required_argument, NULL, 'e' },
        { "target", required_argument, NULL, 't' },
        { "expiry", required_argument, NULL, 'x' },
        { "instruct-maf", required_argument, NULL, 'M' },
        { "instruct-cert", required_argument, NULL, 'C' },
        { "instruct-rm", required_argument, NULL, 'R' },
        { "cert-flavour", required_argument, NULL, 'f' },
        { "cert-id", required_argument, NULL, 'I' },
        { "cert-ca", required_argument, NULL, 'a' },
        { "crl", required_argument, NULL, 'L' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_enrolee_rec rec = { 0 };
    struct m2msec_enrolee_policy policy = { 0 };
    struct m2msec_buf pj;
    const char *dir = NULL, *kpm_file = NULL, *kpm_hex = NULL, *expiry = NULL;
    const char *flavour = NULL, *cert_id = NULL;
    char key[M2MSEC_CERT_CRED_ID_MAX];
    size_t i;
    int c, cert, rv = 1;

    m2msec_buf_init(&pj, 65536);
    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            rec.kpm_id = optarg;
            break;
        case 'F':
            kpm_file = optarg;
            break;
        case 'k':
            kpm_hex = optarg;
            break;
        case 'e':
            rec.enrolee_id = optarg;
            break;
        case 't':
            if (list_add_csv(&rec.targets, &rec.ntargets, optarg) == -1) {
                mefd_fail("bad --target '%s'", optarg);
                goto out;
            }
            break;
        case 'x':
            expiry = optarg;
            break;
        case 'M':
            if (list_add_csv(&policy.maf_uris, &policy.nmaf, optarg) == -1) {
                mefd_fail("bad --instruct-maf '%s'", optarg);
                goto out;
            }
            break;
        case 'C':
            policy.cert_uri = optarg;
            break;
        case 'R':
            policy.rm_uri = optarg;
            break;
        case 'f':
            flavour = optarg;
            break;
        case 'I':
            cert_id = optarg;
            break;
        case 'a':
            if (cert_file_add(&rec.cert_cas, &rec.ncert_cas, optarg, 0) != 0) {
                goto out;
            }
            break;
        case 'L':
            if (cert_file_add(&rec.cert_crls, &rec.ncert_crls, optarg, 1) != 0) {
                goto out;
            }
            break;
        default:
            goto out;
        }
    }
    /* Exactly one credential: a Kpm (8.3.2.1) or a certificate identity (8.3.2.2). */
    cert = flavour != NULL || cert_id != NULL || rec.ncert_cas != 0 || rec.ncert_crls != 0;
    if (dir == NULL || rec.enrolee_id == NULL || expiry == NULL || optind != argc ||
        (cert && (rec.kpm_id != NULL || kpm_file != NULL || kpm_hex != NULL || flavour == NULL ||
                  cert_id == NULL)) ||
        (!cert && (rec.kpm_id == NULL || (kpm_file == NULL) == (kpm_hex == NULL)))) {
        mefd_fail("usage: mefd enrolee add -d DIR (--kpm-id ID (--kpm-file F | --kpm HEX) | "
                  "--cert-flavour device|node-id|cse-id|ae-id --cert-id ID --cert-ca FILE "
                  "[--cert-ca FILE]... [--crl FILE]...) "
                  "--enrolee-id ID [--target ID]... --expiry SECONDS [--instruct-maf URI]... "
                  "[--instruct-cert URI] [--instruct-rm URI]");
        goto out;
    }
    if (cert && cert_enrolee_prepare(&rec, flavour, cert_id, key, sizeof(key)) != 0) {
        goto out;
    }
    if (!cert && !m2msec_kpm_id_valid(rec.kpm_id)) {
        mefd_fail("--kpm-id: not a valid KpmID (1..%d printable ASCII characters)", M2MSEC_ID_MAX);
        goto out;
    }
    if (!m2msec_entity_id_valid(rec.enrolee_id)) {
        mefd_fail("--enrolee-id '%s': not a CSE-ID or AE-ID", rec.enrolee_id);
        goto out;
    }
    for (i = 0; i < rec.ntargets; i++) {
        if (!m2msec_fqdn_valid(rec.targets[i]) && !m2msec_entity_id_valid(rec.targets[i])) {
            mefd_fail("--target '%s': not an FQDN, CSE-ID or AE-ID", rec.targets[i]);
            goto out;
        }
    }
    if (parse_seconds(expiry, &rec.expiry_s) == -1) {
        mefd_fail("--expiry '%s': seconds between %d and %llu", expiry, MEFD_EXPIRY_MIN,
                  (unsigned long long)MEFD_EXPIRY_MAX);
        goto out;
    }
    if (!cert) {
        rec.kpm = kpm_file != NULL ? m2msec_secret_load_hex_file(kpm_file, &err)
                                   : m2msec_secret_from_hex(kpm_hex, strlen(kpm_hex), &err);
        if (rec.kpm == NULL) {
            mefd_fail("Kpm: %s", m2msec_error_msg(&err));
            goto out;
        }
    }
    if (!cert &&
        (m2msec_secret_len(rec.kpm) < KPM_MIN_LEN || m2msec_secret_len(rec.kpm) > KPM_MAX_LEN)) {
        mefd_fail("Kpm must be %d to %d bytes", KPM_MIN_LEN, KPM_MAX_LEN);
        goto out;
    }
    /* The policy goes through the same strict codec that reads it back. */
    if (m2msec_enrolee_policy_encode(&policy, &pj, &err) == -1) {
        mefd_fail("instructions: %s", m2msec_error_msg(&err));
        goto out;
    }
    {
        struct m2msec_enrolee_policy check = { 0 };

        if (m2msec_enrolee_policy_decode(pj.data, pj.len, &check, &err) == -1) {
            mefd_fail("instructions: %s", m2msec_error_msg(&err));
            goto out;
        }
        m2msec_enrolee_policy_clear(&check);
    }
    rec.policy_json = (char *)pj.data;
    rec.created = m2msec_now();
    if (mefd_dir_open(dir, &d, &err) == -1 || (db = mefd_db_open(&d, &err)) == NULL ||
        m2msec_mef_enrolee_add(db, &rec, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (cert) {
        printf("added enrolee cert-flavour=%s cert-id=%s credential-id=%s enrolee-id=%s "
               "expiry=%llus targets=%zu anchors=%zu crls=%zu\n",
               rec.cert_flavour, rec.cert_id, rec.kpm_id, rec.enrolee_id,
               (unsigned long long)rec.expiry_s, rec.ntargets, rec.ncert_cas, rec.ncert_crls);
        if (d.cfg.cert_path == NULL || d.cfg.key_path == NULL) {
            printf("note: set cert and key in %s: certificate Enrolees need mefd's FQDN "
                   "certificate\n",
                   d.conf_path);
        }
        printf("note: mefd serve reads trust anchors and CRLs when it starts: restart it after "
               "adding new ones\n");
    } else {
        printf("added enrolee kpm-id=%s enrolee-id=%s expiry=%llus targets=%zu\n", rec.kpm_id,
               rec.enrolee_id, (unsigned long long)rec.expiry_s, rec.ntargets);
    }
    rv = 0;
out:
    m2msec_free(rec.cert_flavour);
    m2msec_free(rec.cert_id);
    m2msec_strlist_free(rec.cert_cas);
    m2msec_strlist_free(rec.cert_crls);
    m2msec_secret_free(rec.kpm);
    m2msec_strlist_free(rec.targets);
    m2msec_strlist_free(policy.maf_uris);
    m2msec_buf_free(&pj);
    m2msec_db_close(db);
    mefd_dir_close(&d);
    return rv;
}

/* Enrolee and current Ke as a JSON object (no secret: the Ke appears as its KCV). */
static json_t *
enrolee_json(struct m2msec_db *db, const char *fqdn, const struct m2msec_enrolee_rec *r, int detail)
{
    struct m2msec_error err = { 0 };
    struct m2msec_ke_rec *ke = NULL;
    json_t *o = json_object(), *targets = json_array(), *policy = NULL;
    char ts[M2MSEC_TIMESTAMP_LEN], keid[M2MSEC_KEID_MAX], kcv[M2MSEC_KCV_HEX_LEN];
    size_t i;

    if (o == NULL || targets == NULL) {
        json_decref(o);
        json_decref(targets);
        return NULL;
    }
    if (r->cert_flavour != NULL) {
        json_t *cas = json_array(), *crls = json_array();

        json_object_set_new(o, "auth", json_string("certificate"));
        json_object_set_new(o, "credentialID", json_string(r->kpm_id));
        json_object_set_new(o, "certFlavour", json_string(r->cert_flavour));
        json_object_set_new(o, "certID", json_string(r->cert_id));
        for (i = 0; i < r->ncert_cas && cas != NULL; i++) {
            json_array_append_new(cas, json_string(r->cert_cas[i]));
        }
        for (i = 0; i < r->ncert_crls && crls != NULL; i++) {
            json_array_append_new(crls, json_string(r->cert_crls[i]));
        }
        json_object_set_new(o, "certCAs", cas != NULL ? cas : json_null());
        json_object_set_new(o, "crls", crls != NULL ? crls : json_null());
    } else {
        json_object_set_new(o, "auth", json_string("kpm"));
        json_object_set_new(o, "kpmID", json_string(r->kpm_id));
    }
    json_object_set_new(o, "enroleeID", json_string(r->enrolee_id));
    json_object_set_new(o, "enrolmentExpiry", json_integer((json_int_t)r->expiry_s));
    for (i = 0; i < r->ntargets; i++) {
        json_array_append_new(targets, json_string(r->targets[i]));
    }
    json_object_set_new(o, "targets", targets);
    if (detail && r->policy_json != NULL) {
        policy = json_loads(r->policy_json, 0, NULL);
        if (policy != NULL) {
            json_object_set_new(o, "instructions", policy);
        }
    }
    if (m2msec_mef_ke_get_by_enrolee(db, r->kpm_id, m2msec_now(), detail, &ke, &err) == 0) {
        json_t *k = json_object();

        if (m2msec_keid_format(ke->rel, fqdn, keid, sizeof(keid), &err) == 0) {
            json_object_set_new(k, "keID", json_string(keid));
        }
        m2msec_timestamp_format(ke->expires, ts);
        json_object_set_new(k, "expires", json_string(ts));
        if (detail && ke->ke != NULL && m2msec_key_check_value(ke->ke, kcv, &err) == 0) {
            json_object_set_new(k, "kcv", json_string(kcv));
        }
        json_object_set_new(o, "ke", k);
    } else {
        json_object_set_new(o, "ke", json_null());
    }
    m2msec_ke_rec_free(ke);
    return o;
}

/*
 * The key of the Enrolee an administrator names: --kpm-id as given, or
 * --cert-id (with --cert-flavour, or the one flavour under which that
 * identifier names an Enrolee). Exit status; the key lands in key.
 */
static int
enrolee_key(struct m2msec_db *db, const char *kpm_id, const char *flavour, const char *cert_id,
            char *key, size_t keysz)
{
    struct m2msec_error err = { 0 };
    struct m2msec_enrolee_rec *r = NULL;
    char cand[M2MSEC_CERT_CRED_ID_MAX];
    size_t i, found = 0;

    if (kpm_id != NULL) {
        return m2msec_strlcpy(key, kpm_id, keysz) == 0 ? 0 : mefd_fail("--kpm-id too long");
    }
    if (flavour != NULL && cert_flavour_of(flavour) == M2MSEC_CERT_UNSET) {
        return mefd_fail("--cert-flavour '%s': one of %s", flavour, M2MSEC_ENROLEE_CERT_FLAVOURS);
    }
    for (i = 0; i < sizeof(cert_flavours) / sizeof(cert_flavours[0]); i++) {
        if (flavour != NULL && strcmp(flavour, cert_flavours[i].name) != 0) {
            continue;
        }
        /* Not an identifier of this flavour: it cannot name one of its Enrolees. */
        if (cert_key(cert_flavours[i].f, cert_id, cand, sizeof(cand), &err) == -1) {
            continue;
        }
        if (m2msec_mef_enrolee_get_by_cert(db, cert_flavours[i].name, cand + 3, &r, &err) == -1) {
            if (m2msec_error_code(&err) != M2MSEC_ERR_NOT_FOUND) {
                return mefd_fail("%s", m2msec_error_msg(&err));
            }
            continue;
        }
        m2msec_enrolee_rec_free(r);
        r = NULL;
        if (found++ > 0) {
            return mefd_fail("--cert-id '%s' names Enrolees of several flavours: add "
                             "--cert-flavour",
                             cert_id);
        }
        m2msec_strlcpy(key, cand, keysz);
    }
    if (found == 0) {
        return mefd_fail("no enrolee with certificate identity '%s'%s%s", cert_id,
                         flavour != NULL ? " of flavour " : "", flavour != NULL ? flavour : "");
    }
    return 0;
}

static int
enrolee_list_show(int argc, char **argv, int show)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "kpm-id", required_argument, NULL, 'i' },
        { "cert-id", required_argument, NULL, 'I' },
        { "cert-flavour", required_argument, NULL, 'f' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_enrolee_rec **list = NULL, *one = NULL;
    const char *dir = NULL, *kpm_id = NULL, *cert_id = NULL, *flavour = NULL;
    char key[M2MSEC_CERT_CRED_ID_MAX];
    json_t *out = NULL;
    size_t n = 0, i;
    int c, as_json = 0, rv = 1;

    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            kpm_id = optarg;
            break;
        case 'I':
            cert_id = optarg;
            break;
        case 'f':
            flavour = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || (show && (kpm_id == NULL) == (cert_id == NULL)) ||
        (!show && (kpm_id != NULL || cert_id != NULL)) || (flavour != NULL && cert_id == NULL) ||
        optind != argc) {
        return mefd_fail(show ? "usage: mefd enrolee show -d DIR (--kpm-id ID | --cert-id ID "
                                "[--cert-flavour F]) [--json]"
                              : "usage: mefd enrolee list -d DIR [--json]");
    }
    if (mefd_dir_open(dir, &d, &err) == -1 || (db = mefd_db_open(&d, &err)) == NULL) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (show) {
        if (enrolee_key(db, kpm_id, flavour, cert_id, key, sizeof(key)) != 0) {
            goto out;
        }
        if (m2msec_mef_enrolee_get(db, key, 0, &one, &err) == -1) {
            mefd_fail("%s", m2msec_error_msg(&err));
            goto out;
        }
        out = enrolee_json(db, d.cfg.fqdn, one, 1);
    } else {
        if (m2msec_mef_enrolee_list(db, &list, &n, &err) == -1) {
            mefd_fail("%s", m2msec_error_msg(&err));
            goto out;
        }
        out = json_array();
        for (i = 0; i < n && out != NULL; i++) {
            json_array_append_new(out, enrolee_json(db, d.cfg.fqdn, list[i], 0));
        }
    }
    if (out == NULL) {
        mefd_fail("out of memory");
        goto out;
    }
    if (as_json) {
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else {
        json_t *items = show ? NULL : out;
        size_t count = show ? 1 : json_array_size(out);

        if (!show) {
            printf("%-24s %-28s %10s  %s\n", "KPM-ID", "ENROLEE-ID", "EXPIRY(s)", "KE");
        }
        for (i = 0; i < count; i++) {
            json_t *e = show ? out : json_array_get(items, i);
            json_t *ke = json_object_get(e, "ke");

            if (show) {
                char *txt = json_dumps(e, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

                if (txt != NULL) {
                    printf("%s\n", txt);
                    free(txt);
                }
                continue;
            }
            printf("%-24s %-28s %10lld  %s\n",
                   json_is_string(json_object_get(e, "kpmID"))
                           ? json_string_value(json_object_get(e, "kpmID"))
                           : json_string_value(json_object_get(e, "credentialID")),
                   json_string_value(json_object_get(e, "enroleeID")),
                   (long long)json_integer_value(json_object_get(e, "enrolmentExpiry")),
                   json_is_object(ke) ? json_string_value(json_object_get(ke, "expires")) : "-");
        }
    }
    rv = 0;
out:
    json_decref(out);
    m2msec_enrolee_rec_free(one);
    m2msec_enrolee_list_free(list);
    m2msec_db_close(db);
    mefd_dir_close(&d);
    return rv;
}

/*
 * `enrolee remove` and `target remove`: parse -d DIR --<flag> ID, remove the
 * record through fn, report. One copy of the option handling and clean-up.
 */
int
mefd_remove_cmd(int argc, char **argv, const char *flag, const char *what, const char *note,
                int (*fn)(struct m2msec_db *, const char *, struct m2msec_error *))
{
    const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { flag, required_argument, NULL, 'i' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    const char *dir = NULL, *id = NULL;
    int c, rv = 1;

    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || id == NULL || optind != argc) {
        return mefd_fail("usage: mefd %s remove -d DIR --%s ID", what, flag);
    }
    if (mefd_dir_open(dir, &d, &err) == -1 || (db = mefd_db_open(&d, &err)) == NULL ||
        fn(db, id, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    printf("removed %s %s=%s%s\n", what, flag, id, note);
    rv = 0;
out:
    m2msec_db_close(db);
    mefd_dir_close(&d);
    return rv;
}

/* `enrolee remove -d DIR (--kpm-id ID | --cert-id ID [--cert-flavour F])`. */
static int
enrolee_remove(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "kpm-id", required_argument, NULL, 'i' },
        { "cert-id", required_argument, NULL, 'I' },
        { "cert-flavour", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    const char *dir = NULL, *kpm_id = NULL, *cert_id = NULL, *flavour = NULL;
    char key[M2MSEC_CERT_CRED_ID_MAX];
    int c, rv = 1;

    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            kpm_id = optarg;
            break;
        case 'I':
            cert_id = optarg;
            break;
        case 'f':
            flavour = optarg;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || (kpm_id == NULL) == (cert_id == NULL) ||
        (flavour != NULL && cert_id == NULL) || optind != argc) {
        return mefd_fail("usage: mefd enrolee remove -d DIR (--kpm-id ID | --cert-id ID "
                         "[--cert-flavour F])");
    }
    if (mefd_dir_open(dir, &d, &err) == -1 || (db = mefd_db_open(&d, &err)) == NULL) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (enrolee_key(db, kpm_id, flavour, cert_id, key, sizeof(key)) != 0) {
        goto out;
    }
    if (m2msec_mef_enrolee_remove(db, key, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    printf("removed enrolee %s=%s (its Ke, registrations and key registrations erased)\n",
           kpm_id != NULL ? "kpm-id" : "credential-id", key);
    rv = 0;
out:
    m2msec_db_close(db);
    mefd_dir_close(&d);
    return rv;
}

int
mefd_cmd_enrolee(int argc, char **argv)
{
    if (argc < 2) {
        return mefd_fail("usage: mefd enrolee add|list|show|remove -d DIR ...");
    }
    if (strcmp(argv[1], "add") == 0) {
        return enrolee_add(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "list") == 0) {
        return enrolee_list_show(argc - 1, argv + 1, 0);
    }
    if (strcmp(argv[1], "show") == 0) {
        return enrolee_list_show(argc - 1, argv + 1, 1);
    }
    if (strcmp(argv[1], "remove") == 0) {
        return enrolee_remove(argc - 1, argv + 1);
    }
    return mefd_fail("unknown enrolee command '%s' (add, list, show, remove)", argv[1]);
}

int
mefd_cmd_sweep(int argc, char **argv)
{
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    size_t erased = 0, nkeys = 0;
    int rv = 1;

    if (argc != 3 || strcmp(argv[1], "-d") != 0) {
        return mefd_fail("usage: mefd sweep -d DIR");
    }
    if (mefd_dir_open(argv[2], &d, &err) == -1 || (db = mefd_db_open(&d, &err)) == NULL ||
        m2msec_mef_sweep(db, m2msec_now(), &erased, &err) == -1 ||
        mefd_keys_sweep(db, m2msec_now(), &nkeys, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    printf("erased %zu expired records\n", erased + nkeys);
    rv = 0;
out:
    m2msec_db_close(db);
    mefd_dir_close(&d);
    return rv;
}
