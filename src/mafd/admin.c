/*
 * mafd/admin.c - `mafd init`, `mafd client add|remove|list`, `mafd sweep`, opening a
 * directory.
 *
 * Layer: daemon (mafd). The srv configuration (mafd.conf) is read by
 * srv_config_load, which refuses keys it does not know; the list of trusted
 * MEFs therefore lives in its own file, mefs.conf, and the certificate client
 * anchors in clients.conf, both read here with inih.
 */
#define _DEFAULT_SOURCE /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "crypto/kdf.h"
#include "crypto/seal.h"
#include "mafd.h"
#include "proto/ids.h"
#include "tls/tls.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

char *
mafd_path_join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + 1 + strlen(file) + 1;
    char *p = m2msec_malloc(n);

    if (p != NULL) {
        if (file[0] == '/') {
            snprintf(p, n, "%s", file);
        } else {
            snprintf(p, n, "%s/%s", dir, file);
        }
    }
    return p;
}

/* "FQDN HOST:PORT" (one or more spaces) or "FQDN=HOST:PORT" into m. 0 or -1. */
static int
mef_parse(const char *v, struct mafd_mef *m)
{
    struct m2msec_error err = { 0 };
    const char *sep = v + strcspn(v, " \t=");
    const char *hp = sep + strspn(sep, " \t=");
    char host[M2MSEC_FQDN_MAX + 3];
    char port[8];
    uint64_t p = 0;

    memset(m, 0, sizeof(*m));
    if (*sep == '\0' || *hp == '\0' ||
        m2msec_hostport_split(hp, host, sizeof(host), port, sizeof(port), &err) == -1 ||
        m2msec_parse_u64(port, strlen(port), 65535, &p) == -1 || p == 0) {
        return -1;
    }
    m->fqdn = m2msec_strndup(v, (size_t)(sep - v));
    m->hostport = m2msec_strdup(hp);
    if (m->fqdn == NULL || m->hostport == NULL || !m2msec_fqdn_valid(m->fqdn)) {
        m2msec_free(m->fqdn);
        m2msec_free(m->hostport);
        memset(m, 0, sizeof(*m));
        return -1;
    }
    return 0;
}

struct mefs_ctx {
    struct mafd_dir *d;
    char msg[256];
};

/* A PSK identity mefd stores: 1..M2MSEC_TARGET_PSK_ID_MAX printable ASCII bytes, no space. */
static int
psk_id_valid(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (n == M2MSEC_TARGET_PSK_ID_MAX || s[n] < 0x21 || s[n] > 0x7e) {
            return 0;
        }
    }
    return n > 0;
}

/* The hex key of psk_file (path as given): M2MSEC_TARGET_PSK_MIN..MAX bytes, or NULL. */
static struct m2msec_secret *
psk_load(const char *path, char *msg, size_t msgsz)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *k = m2msec_secret_load_hex_file(path, &err);
    size_t n = m2msec_secret_len(k);

    if (k == NULL) {
        snprintf(msg, msgsz, "psk_file %s: %s", path, m2msec_error_msg(&err));
        return NULL;
    }
    if (n < M2MSEC_TARGET_PSK_MIN || n > M2MSEC_TARGET_PSK_MAX) {
        snprintf(msg, msgsz, "psk_file %s: %zu bytes, expected %d..%d", path, n,
                 M2MSEC_TARGET_PSK_MIN, M2MSEC_TARGET_PSK_MAX);
        m2msec_secret_free(k);
        return NULL;
    }
    return k;
}

/* psk_id / psk_file: they belong to the MEF of the `mef =` line above them. */
static int
mefs_psk(struct mefs_ctx *x, const char *name, const char *value)
{
    struct mafd_dir *d = x->d;
    struct mafd_mef *m = d->nmefs > 0 ? &d->mefs[d->nmefs - 1] : NULL;
    char *path = NULL;
    int is_id = strcmp(name, "psk_id") == 0;

    if (m == NULL) {
        snprintf(x->msg, sizeof(x->msg), "'%s' before any 'mef' line", name);
        return 0;
    }
    if (is_id ? m->psk_id != NULL : m->psk != NULL) {
        snprintf(x->msg, sizeof(x->msg), "duplicate key '%s' for MEF %s", name, m->fqdn);
        return 0;
    }
    if (is_id) {
        if (!psk_id_valid(value)) {
            snprintf(x->msg, sizeof(x->msg),
                     "psk_id '%s': 1..%d printable ASCII characters without space", value,
                     M2MSEC_TARGET_PSK_ID_MAX);
            return 0;
        }
        m->psk_id = m2msec_strdup(value);
        return m->psk_id != NULL;
    }
    path = mafd_path_join(d->dir, value);
    if (path == NULL) {
        return 0;
    }
    m->psk = psk_load(path, x->msg, sizeof(x->msg));
    m2msec_free(path);
    return m->psk != NULL;
}

static int
mefs_handler(void *user, const char *section, const char *name, const char *value)
{
    struct mefs_ctx *x = user;
    struct mafd_dir *d = x->d;

    if (strcmp(section, "mef") != 0) {
        snprintf(x->msg, sizeof(x->msg), "unknown section [%s]", section);
        return 0;
    }
    if (strcmp(name, "ca") == 0) {
        if (d->mef_ca != NULL) {
            snprintf(x->msg, sizeof(x->msg), "duplicate key 'ca'");
            return 0;
        }
        d->mef_ca = mafd_path_join(d->dir, value);
        return d->mef_ca != NULL;
    }
    if (strcmp(name, "mef") == 0) {
        if (d->nmefs == MAFD_MEFS_MAX) {
            snprintf(x->msg, sizeof(x->msg), "more than %d MEFs", MAFD_MEFS_MAX);
            return 0;
        }
        if (mef_parse(value, &d->mefs[d->nmefs]) == -1) {
            snprintf(x->msg, sizeof(x->msg), "mef = '%s': expected MEF-FQDN HOST:PORT", value);
            return 0;
        }
        if (mafd_mef_find(d, d->mefs[d->nmefs].fqdn) != NULL) {
            snprintf(x->msg, sizeof(x->msg), "MEF %s listed twice", d->mefs[d->nmefs].fqdn);
            m2msec_free(d->mefs[d->nmefs].fqdn);
            m2msec_free(d->mefs[d->nmefs].hostport);
            memset(&d->mefs[d->nmefs], 0, sizeof(d->mefs[0]));
            return 0;
        }
        d->nmefs++;
        return 1;
    }
    if (strcmp(name, "psk_id") == 0 || strcmp(name, "psk_file") == 0) {
        return mefs_psk(x, name, value);
    }
    snprintf(x->msg, sizeof(x->msg), "unknown key '%s' in [mef]", name);
    return 0;
}

/*
 * The MEF trust anchors are only read when the first KeID arrives; check now
 * that the file is there, so a typo is refused at start-up rather than
 * failing every fetch later.
 */
static int
check_ca_file(const char *mefs, const char *ca, struct m2msec_error *err)
{
    struct stat st;
    int fd = -1;
    int rv = -1;

    fd = open(ca, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1) {
        m2msec_error_set(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: ca: cannot read %s", mefs, ca);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: ca: %s is not a regular file",
                          mefs, ca);
        goto out;
    }
    rv = 0;
out:
    if (fd != -1) {
        close(fd);
    }
    return rv;
}

struct clients_ctx {
    struct mafd_dir *d;
    int has_flavour;
    char msg[256];
};

/* clients.conf, [clients]: ca, crl (repeatable), flavour. */
static int
clients_handler(void *user, const char *section, const char *name, const char *value)
{
    static const struct {
        const char *name;
        enum m2msec_cert_flavour f;
    } flavours[] = {
        { "any", M2MSEC_CERT_ANY },       { "cse-id", M2MSEC_CERT_CSE_ID },
        { "ae-id", M2MSEC_CERT_AE_ID },   { "node-id", M2MSEC_CERT_NODE_ID },
        { "device", M2MSEC_CERT_DEVICE },
    };
    struct clients_ctx *x = user;
    struct mafd_dir *d = x->d;
    char **list = NULL;
    size_t *n = NULL;
    size_t i;

    if (strcmp(section, "clients") != 0) {
        snprintf(x->msg, sizeof(x->msg), "unknown section [%s]", section);
        return 0;
    }
    if (strcmp(name, "flavour") == 0) {
        for (i = 0; i < sizeof(flavours) / sizeof(flavours[0]) && !x->has_flavour; i++) {
            if (strcmp(value, flavours[i].name) == 0) {
                d->client_flavour = flavours[i].f;
                x->has_flavour = 1;
                return 1;
            }
        }
        snprintf(x->msg, sizeof(x->msg),
                 x->has_flavour ? "duplicate key 'flavour'"
                                : "flavour = '%.32s': cse-id, ae-id, device, node-id or any",
                 value);
        return 0;
    }
    if (strcmp(name, "ca") == 0) {
        list = d->client_ca;
        n = &d->nclient_ca;
    } else if (strcmp(name, "crl") == 0) {
        list = d->client_crl;
        n = &d->nclient_crl;
    } else {
        snprintf(x->msg, sizeof(x->msg), "unknown key '%s' in [clients]", name);
        return 0;
    }
    if (*n == MAFD_CLIENT_FILES_MAX) {
        snprintf(x->msg, sizeof(x->msg), "more than %d '%s' lines", MAFD_CLIENT_FILES_MAX, name);
        return 0;
    }
    list[*n] = mafd_path_join(d->dir, value);
    if (list[*n] == NULL) {
        return 0;
    }
    (*n)++;
    return 1;
}

/* The optional clients.conf. */
static int
clients_open(struct mafd_dir *d, struct m2msec_error *err)
{
    struct clients_ctx x;
    char *path = mafd_path_join(d->dir, MAFD_CLIENTS_FILE);
    size_t i;
    int r = 0;
    int rv = -1;

    memset(&x, 0, sizeof(x));
    x.d = d;
    if (path == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (access(path, F_OK) != 0) {
        rv = 0;
        goto out;
    }
    r = ini_parse(path, clients_handler, &x);
    if (r == -1) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "cannot read %s", path);
        goto out;
    }
    if (r != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s:%d: %s", path, r,
                          x.msg[0] != '\0' ? x.msg : "syntax error");
        goto out;
    }
    if (d->nclient_ca == 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "%s: at least one 'ca' (trust anchors for client certificates)", path);
        goto out;
    }
    for (i = 0; i < d->nclient_ca; i++) {
        if (check_ca_file(path, d->client_ca[i], err) == -1) {
            goto out;
        }
    }
    for (i = 0; i < d->nclient_crl; i++) {
        if (check_ca_file(path, d->client_crl[i], err) == -1) {
            goto out;
        }
    }
    rv = 0;
out:
    m2msec_free(path);
    return rv;
}

const struct mafd_mef *
mafd_mef_find(const struct mafd_dir *d, const char *fqdn)
{
    size_t i;

    for (i = 0; i < d->nmefs; i++) {
        if (m2msec_fqdn_equal(d->mefs[i].fqdn, fqdn)) {
            return &d->mefs[i];
        }
    }
    return NULL;
}

int
mafd_dir_open(const char *dir, struct mafd_dir *d, struct m2msec_error *err)
{
    struct mefs_ctx x;
    char *conf = NULL;
    char *mefs = NULL;
    size_t i = 0;
    int r = 0;
    int rv = -1;

    memset(d, 0, sizeof(*d));
    memset(&x, 0, sizeof(x));
    x.d = d;
    d->dir = m2msec_strdup(dir);
    conf = mafd_path_join(dir, MAFD_CONF_FILE);
    mefs = mafd_path_join(dir, MAFD_MEFS_FILE);
    if (d->dir == NULL || conf == NULL || mefs == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (srv_config_load(conf, "mafd", &d->cfg, err) == -1) {
        goto out;
    }
    if (d->cfg.cert_path == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "%s: 'cert' and 'key' (the MAF's FQDN certificate) are required", conf);
        goto out;
    }
    r = ini_parse(mefs, mefs_handler, &x);
    /* ini_parse: -1 the file could not be opened, -2 out of memory, else a line number. */
    if (r == -1) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "cannot read %s", mefs);
        goto out;
    }
    if (r < 0) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "%s: out of memory", mefs);
        goto out;
    }
    if (r != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s:%d: %s", mefs, r,
                          x.msg[0] != '\0' ? x.msg : "syntax error");
        goto out;
    }
    if (d->mef_ca == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: missing key 'ca' in [mef]", mefs);
        goto out;
    }
    for (i = 0; i < d->nmefs; i++) {
        if ((d->mefs[i].psk_id == NULL) != (d->mefs[i].psk == NULL)) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                              "%s: MEF %s: psk_id and psk_file go together", mefs, d->mefs[i].fqdn);
            goto out;
        }
    }
    if (check_ca_file(mefs, d->mef_ca, err) == -1 || clients_open(d, err) == -1) {
        goto out;
    }
    d->kek = m2msec_kek_load(d->cfg.kek_path, err);
    if (d->kek == NULL) {
        goto out;
    }
    rv = 0;
out:
    m2msec_free(conf);
    m2msec_free(mefs);
    if (rv == -1) {
        mafd_dir_close(d);
    }
    return rv;
}

void
mafd_dir_close(struct mafd_dir *d)
{
    size_t i;

    m2msec_free(d->dir);
    srv_config_clear(&d->cfg);
    m2msec_secret_free(d->kek);
    m2msec_free(d->mef_ca);
    for (i = 0; i < d->nmefs; i++) {
        m2msec_free(d->mefs[i].fqdn);
        m2msec_free(d->mefs[i].hostport);
        m2msec_free(d->mefs[i].psk_id);
        m2msec_secret_free(d->mefs[i].psk);
    }
    for (i = 0; i < d->nclient_ca; i++) {
        m2msec_free(d->client_ca[i]);
    }
    for (i = 0; i < d->nclient_crl; i++) {
        m2msec_free(d->client_crl[i]);
    }
    memset(d, 0, sizeof(*d));
}

struct m2msec_db *
mafd_db_open(const struct mafd_dir *d, struct m2msec_error *err)
{
    return m2msec_db_open(d->cfg.db_path, M2MSEC_SCHEMA_MAF, d->kek, err);
}

/* Write mefs.conf (O_EXCL, 0600); psk_id and psk_file (or NULL) go with every MEF. */
static int
write_mefs(const char *path, const char *ca, char **mefs, size_t n, const char *psk_id,
           const char *psk_file, struct m2msec_error *err)
{
    FILE *f = NULL;
    int fd = -1;
    size_t i;
    int rv = -1;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "cannot create %s", path);
        goto out;
    }
    fd = -1;
    fprintf(f,
            "# MEFs this MAF trusts (mafd): a client's KeID naming one of them makes mafd\n"
            "# fetch Km from that MEF's Enrolment Target listener.\n"
            "[mef]\n"
            "# trust anchors (PEM) for the MEFs' certificates; relative to this directory\n"
            "ca = %s\n"
            "# mef = MEF-FQDN HOST:PORT (one line per MEF), optionally followed by\n"
            "# psk_id = ID and psk_file = HEXFILE: fetch from that MEF with TLS-PSK\n",
            ca);
    for (i = 0; i < n; i++) {
        fprintf(f, "mef = %s\n", mefs[i]);
        if (psk_id != NULL) {
            fprintf(f, "psk_id = %s\npsk_file = %s\n", psk_id, psk_file);
        }
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "cannot write %s", path);
        goto out;
    }
    rv = 0;
out:
    if (fd != -1) {
        close(fd);
    }
    if (f != NULL) {
        fclose(f);
    }
    return rv;
}

/* An absolute path for a file named on the command line (the directory may be elsewhere). */
static char *
abs_path(const char *p)
{
    return realpath(p, NULL);
}

int
mafd_cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "fqdn", required_argument, NULL, 'f' },
        { "listen", required_argument, NULL, 'l' },
        { "mef-ca", required_argument, NULL, 'A' },
        { "cert", required_argument, NULL, 'c' },
        { "key", required_argument, NULL, 'k' },
        { "mef", required_argument, NULL, 'M' },
        { "mef-psk-id", required_argument, NULL, 'P' },
        { "mef-psk-file", required_argument, NULL, 'F' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct srv_config_tls tls = { 0 };
    struct mafd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct mafd_mef probe;
    const char *dir = NULL, *fqdn = NULL, *listen = "127.0.0.1:9443";
    const char *ca = NULL, *cert = NULL, *key = NULL;
    const char *psk_id = NULL, *psk_file = NULL;
    char *mefs[MAFD_MEFS_MAX];
    char *ca_abs = NULL, *cert_abs = NULL, *key_abs = NULL, *psk_abs = NULL;
    struct m2msec_secret *psk = NULL;
    char msg[256];
    char *conf = NULL, *mefs_path = NULL, *kek = NULL;
    size_t nmefs = 0;
    int c, rv = 1;

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
        case 'A':
            ca = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'M':
            if (nmefs == MAFD_MEFS_MAX || mef_parse(optarg, &probe) == -1) {
                return mafd_fail("--mef '%s': expected MEF-FQDN=HOST:PORT (at most %d)", optarg,
                                 MAFD_MEFS_MAX);
            }
            m2msec_free(probe.fqdn);
            m2msec_free(probe.hostport);
            mefs[nmefs++] = optarg;
            break;
        case 'P':
            psk_id = optarg;
            break;
        case 'F':
            psk_file = optarg;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || fqdn == NULL || ca == NULL || cert == NULL || key == NULL ||
        optind != argc) {
        return mafd_fail("usage: mafd init -d DIR --fqdn MAF-FQDN [--listen ADDR:PORT] "
                         "--mef-ca FILE --cert FILE --key FILE [--mef MEF-FQDN=HOST:PORT]... "
                         "[--mef-psk-id ID --mef-psk-file HEXFILE]");
    }
    if (!m2msec_fqdn_valid(fqdn)) {
        return mafd_fail("'%s' is not a valid FQDN", fqdn);
    }
    if ((psk_id == NULL) != (psk_file == NULL) || (psk_id != NULL && nmefs == 0)) {
        return mafd_fail("--mef-psk-id and --mef-psk-file go together, with at least one --mef");
    }
    if (psk_id != NULL && !psk_id_valid(psk_id)) {
        return mafd_fail("--mef-psk-id '%s': 1..%d printable ASCII characters without space",
                         psk_id, M2MSEC_TARGET_PSK_ID_MAX);
    }
    if (psk_file != NULL) {
        /* Checked before anything is written: a bad key leaves no directory behind. */
        psk = psk_load(psk_file, msg, sizeof(msg));
        psk_abs = abs_path(psk_file);
        if (psk == NULL || psk_abs == NULL) {
            mafd_fail("--mef-psk-file: %s", psk == NULL ? msg : "cannot resolve the path");
            goto out;
        }
    }
    ca_abs = abs_path(ca);
    cert_abs = abs_path(cert);
    key_abs = abs_path(key);
    if (ca_abs == NULL || cert_abs == NULL || key_abs == NULL) {
        mafd_fail("--mef-ca, --cert and --key must name existing files");
        goto out;
    }
    if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
        mafd_fail("cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    conf = mafd_path_join(dir, MAFD_CONF_FILE);
    mefs_path = mafd_path_join(dir, MAFD_MEFS_FILE);
    kek = mafd_path_join(dir, MAFD_KEK_FILE);
    if (conf == NULL || mefs_path == NULL || kek == NULL) {
        mafd_fail("out of memory");
        goto out;
    }
    if (access(conf, F_OK) == 0) {
        mafd_fail("%s already exists: %s is initialised", conf, dir);
        goto out;
    }
    tls.cert = cert_abs;
    tls.key = key_abs;
    if (srv_config_write_tls(conf, "mafd", fqdn, listen, MAFD_DB_FILE, MAFD_KEK_FILE, &tls, &err) ==
                -1 ||
        write_mefs(mefs_path, ca_abs, mefs, nmefs, psk_id, psk_abs, &err) == -1 ||
        m2msec_kek_create(kek, &err) == -1 || mafd_dir_open(dir, &d, &err) == -1 ||
        (db = mafd_db_open(&d, &err)) == NULL) {
        mafd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    printf("initialised %s: fqdn=%s listen=%s mefs=%zu\n", dir, fqdn, listen, nmefs);
    rv = 0;
out:
    m2msec_db_close(db);
    mafd_dir_close(&d);
    free(ca_abs); /* realpath's malloc */
    free(cert_abs);
    free(key_abs);
    free(psk_abs);
    m2msec_secret_free(psk);
    m2msec_free(conf);
    m2msec_free(mefs_path);
    m2msec_free(kek);
    return rv;
}

/* A client's allowed targets: JSON array (null: any) or a comma list ("any"). */
static void
print_targets(const struct m2msec_maf_client_rec *r, int json)
{
    size_t i;

    if (r->targets == NULL) {
        printf(json ? "null" : "any");
        return;
    }
    printf(json ? "[" : "");
    for (i = 0; i < r->ntargets; i++) {
        printf(json ? "%s\"%s\"" : "%s%s", i > 0 ? "," : "", r->targets[i]);
    }
    printf(json ? "]" : "");
}

/*
 * --kmid: the relative KmID (32 hex digits, TS-0003 10.6 "MAF_RELATIVE_KmID")
 * or the full "<rel>@<MAF-FQDN>" naming this MAF. rel gets it in lowercase.
 */
static int
parse_kmid(const char *v, const char *maf_fqdn, char rel[33])
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyref ref;
    const char *r = v;
    size_t i;

    if (strchr(v, '@') != NULL) {
        if (m2msec_keyref_parse(v, &ref, &err) == -1 || !m2msec_fqdn_equal(ref.fqdn, maf_fqdn)) {
            return mafd_fail("--kmid '%s': not <relative KmID>@%s", v, maf_fqdn);
        }
        r = ref.rel;
    }
    if (strlen(r) != 32 || strspn(r, "0123456789abcdefABCDEF") != 32) {
        return mafd_fail("--kmid '%s': the relative KmID must be 32 hex digits", v);
    }
    for (i = 0; i < 32; i++) {
        rel[i] = (char)(r[i] >= 'A' && r[i] <= 'F' ? r[i] - 'A' + 'a' : r[i]);
    }
    rel[32] = '\0';
    return 0;
}

/* Add the ids of a --target value (one id, or a comma list) to list. 0 or 1 (message printed). */
static int
add_targets(const char *v, char **list, size_t *n, size_t max)
{
    const char *p = v;

    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        char *id = NULL;

        if (len == 0 || *n == max) {
            return mafd_fail("--target '%s': empty id or more than %zu targets", v, max);
        }
        id = m2msec_strndup(p, len);
        if (id == NULL) {
            return mafd_fail("out of memory");
        }
        if (!m2msec_entity_id_valid(id)) {
            mafd_fail("--target '%s': not a CSE-ID or AE-ID", id);
            m2msec_free(id);
            return 1;
        }
        list[(*n)++] = id;
        p += len;
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                return mafd_fail("--target '%s': empty id", v);
            }
        }
    }
    return 0;
}

#define CLIENT_TARGETS_MAX 64

/*
 * `mafd client add`: a MAF client with a pre-provisioned Km (TS-0003 8.8.3.1,
 * SUID 11). Safe while `mafd serve` runs: one store transaction.
 */
static int
client_add(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },       { "kmid", required_argument, NULL, 'i' },
        { "km-file", required_argument, NULL, 'f' },   { "km", required_argument, NULL, 'k' },
        { "client-id", required_argument, NULL, 'c' }, { "expiry", required_argument, NULL, 'e' },
        { "target", required_argument, NULL, 't' },    { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mafd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_maf_client_rec rec = { 0 };
    char *targets[CLIENT_TARGETS_MAX + 1] = { NULL };
    const char *dir = NULL, *kmid = NULL, *km_file = NULL, *km_hex = NULL, *client_id = NULL;
    const char *expiry = NULL;
    char kcv[M2MSEC_KCV_HEX_LEN];
    uint64_t exp_s = 0;
    int64_t now = m2msec_now();
    size_t ntargets = 0, i;
    int c, rv = 1;

    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            kmid = optarg;
            break;
        case 'f':
            km_file = optarg;
            break;
        case 'k':
            km_hex = optarg;
            break;
        case 'c':
            client_id = optarg;
            break;
        case 'e':
            expiry = optarg;
            break;
        case 't':
            if (add_targets(optarg, targets, &ntargets, CLIENT_TARGETS_MAX) != 0) {
                goto out;
            }
            break;
        default:
            rv = 2;
            goto out;
        }
    }
    if (dir == NULL || kmid == NULL || client_id == NULL || (km_file == NULL) == (km_hex == NULL) ||
        optind != argc) {
        mafd_fail("usage: mafd client add -d DIR --kmid REL_OR_FULL (--km-file F | --km HEX) "
                  "--client-id ID [--expiry SECONDS] [--target ID[,ID...]]...");
        goto out;
    }
    if (!m2msec_entity_id_valid(client_id)) {
        mafd_fail("--client-id '%s': not a CSE-ID or AE-ID", client_id);
        goto out;
    }
    if (expiry != NULL && m2msec_parse_u64(expiry, strlen(expiry), UINT32_MAX, &exp_s) == -1) {
        mafd_fail("--expiry '%s': seconds (0: no expiry)", expiry);
        goto out;
    }
    if (mafd_dir_open(dir, &d, &err) == -1) {
        mafd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (parse_kmid(kmid, d.cfg.fqdn, rec.kmid_rel) != 0) {
        goto out;
    }
    rec.km = km_file != NULL ? m2msec_secret_load_hex_file(km_file, &err)
                             : m2msec_secret_from_hex(km_hex, strlen(km_hex), &err);
    if (rec.km == NULL) {
        mafd_fail("Km: %s", m2msec_error_msg(&err));
        goto out;
    }
    /* Km is an HMAC-SHA-256 key in the PSK suites: 32 bytes, like a derived one (10.3.7). */
    if (m2msec_secret_len(rec.km) != 32) {
        mafd_fail("Km must be 32 bytes (64 hex digits), got %zu", m2msec_secret_len(rec.km));
        goto out;
    }
    rec.client_id = m2msec_strdup(client_id);
    if (rec.client_id == NULL) {
        mafd_fail("out of memory");
        goto out;
    }
    rec.suid = M2MSEC_MAF_SUID_PREPROV;
    rec.targets = ntargets > 0 ? targets : NULL;
    rec.ntargets = ntargets;
    rec.created = now;
    rec.expires = exp_s == 0 ? M2MSEC_MAF_NO_EXPIRY : now + (int64_t)exp_s;
    if ((db = mafd_db_open(&d, &err)) == NULL || m2msec_maf_client_add(db, &rec, now, &err) == -1 ||
        m2msec_key_check_value(rec.km, kcv, &err) == -1) {
        mafd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    printf("added %s@%s client-id=%s suid=11 kcv=%s\n", rec.kmid_rel, d.cfg.fqdn, client_id, kcv);
    rv = 0;
out:
    m2msec_free(rec.client_id);
    m2msec_secret_free(rec.km);
    for (i = 0; i < ntargets; i++) {
        m2msec_free(targets[i]);
    }
    m2msec_db_close(db);
    mafd_dir_close(&d);
    return rv;
}

/* `mafd client remove`: the client, its registrations and its key registrations. */
static int
client_remove(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "kmid", required_argument, NULL, 'i' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mafd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    const char *dir = NULL, *kmid = NULL;
    char rel[33];
    int c, rv = 1;

    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'i':
            kmid = optarg;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || kmid == NULL || optind != argc) {
        return mafd_fail("usage: mafd client remove -d DIR --kmid REL_OR_FULL");
    }
    if (mafd_dir_open(dir, &d, &err) == -1) {
        mafd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (parse_kmid(kmid, d.cfg.fqdn, rel) != 0) {
        goto out;
    }
    if ((db = mafd_db_open(&d, &err)) == NULL || m2msec_maf_client_remove(db, rel, &err) == -1) {
        mafd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    printf("removed %s@%s\n", rel, d.cfg.fqdn);
    rv = 0;
out:
    m2msec_db_close(db);
    mafd_dir_close(&d);
    return rv;
}

static int
client_list(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mafd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_maf_client_rec **list = NULL;
    const char *dir = NULL;
    char kcv[M2MSEC_KCV_HEX_LEN];
    char ts[M2MSEC_TIMESTAMP_LEN];
    int64_t now = m2msec_now();
    size_t n = 0, i, nreg = 0;
    int c, json = 0, rv = 1;

    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'j':
            json = 1;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || optind != argc) {
        return mafd_fail("usage: mafd client list -d DIR [--json]");
    }
    if (mafd_dir_open(dir, &d, &err) == -1 || (db = mafd_db_open(&d, &err)) == NULL ||
        m2msec_maf_client_list(db, now, 1, &list, &n, &err) == -1) {
        mafd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (json) {
        printf("[");
    }
    for (i = 0; i < n; i++) {
        if (m2msec_key_check_value(list[i]->km, kcv, &err) == -1 ||
            m2msec_maf_reg_count(db, list[i]->kmid_rel, now, &nreg, &err) == -1) {
            mafd_fail("%s", m2msec_error_msg(&err));
            goto out;
        }
        if (list[i]->expires >= M2MSEC_MAF_NO_EXPIRY) {
            m2msec_strlcpy(ts, "never", sizeof(ts));
        } else {
            (void)m2msec_timestamp_format(list[i]->expires, ts);
        }
        /* Identifiers were validated on the way in: printable ASCII without quotes. */
        if (json) {
            printf("%s{\"kmid\":\"%s@%s\",\"keid\":", i > 0 ? "," : "", list[i]->kmid_rel,
                   d.cfg.fqdn);
            printf(list[i]->keid != NULL ? "\"%s\"" : "null", list[i]->keid);
            printf(",\"suid\":%u,\"client_id\":\"%s\",\"expires\":\"%s\",\"kcv\":\"%s\","
                   "\"registrations\":%zu,\"targets\":",
                   list[i]->suid, list[i]->client_id, ts, kcv, nreg);
            print_targets(list[i], 1);
            printf("}");
        } else {
            printf("%s@%s keid=%s suid=%u client-id=%s expires=%s kcv=%s registrations=%zu "
                   "targets=",
                   list[i]->kmid_rel, d.cfg.fqdn, list[i]->keid != NULL ? list[i]->keid : "-",
                   list[i]->suid, list[i]->client_id, ts, kcv, nreg);
            print_targets(list[i], 0);
            printf("\n");
        }
    }
    if (json) {
        printf("]\n");
    }
    rv = 0;
out:
    m2msec_maf_client_list_free(list);
    m2msec_db_close(db);
    mafd_dir_close(&d);
    return rv;
}

int
mafd_cmd_client(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "list") == 0) {
        return client_list(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "add") == 0) {
        return client_add(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "remove") == 0) {
        return client_remove(argc - 1, argv + 1);
    }
    return mafd_fail("usage: mafd client add|remove|list -d DIR ...");
}

int
mafd_cmd_sweep(int argc, char **argv)
{
    struct m2msec_error err = { 0 };
    struct mafd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    size_t erased = 0;
    int rv = 1;

    if (argc != 3 || strcmp(argv[1], "-d") != 0) {
        return mafd_fail("usage: mafd sweep -d DIR");
    }
    if (mafd_dir_open(argv[2], &d, &err) == -1 || (db = mafd_db_open(&d, &err)) == NULL ||
        m2msec_maf_sweep(db, m2msec_now(), &erased, &err) == -1) {
        mafd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    printf("erased %zu\n", erased);
    rv = 0;
out:
    m2msec_db_close(db);
    mafd_dir_close(&d);
    return rv;
}
