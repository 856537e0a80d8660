/*
 * mefd/admin.c - `mefd init`, `mefd enrolee ...`, `mefd sweep`, and opening a directory.
 *
 * These commands open the store directly. SQLite's locking (WAL, busy timeout)
 * makes them safe while `mefd serve` runs on the same directory: a removed
 * Enrolee is refused at its next handshake.
 */
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
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_enrolee_rec rec = { 0 };
    struct m2msec_enrolee_policy policy = { 0 };
    struct m2msec_buf pj;
    const char *dir = NULL, *kpm_file = NULL, *kpm_hex = NULL, *expiry = NULL;
    size_t i;
    int c, rv = 1;

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
        default:
            goto out;
        }
    }
    if (dir == NULL || rec.kpm_id == NULL || rec.enrolee_id == NULL || expiry == NULL ||
        (kpm_file == NULL) == (kpm_hex == NULL) || optind != argc) {
        mefd_fail("usage: mefd enrolee add -d DIR --kpm-id ID (--kpm-file F | --kpm HEX) "
                  "--enrolee-id ID [--target ID]... --expiry SECONDS [--instruct-maf URI]... "
                  "[--instruct-cert URI] [--instruct-rm URI]");
        goto out;
    }
    if (!m2msec_kpm_id_valid(rec.kpm_id)) {
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
    rec.kpm = kpm_file != NULL ? m2msec_secret_load_hex_file(kpm_file, &err)
                               : m2msec_secret_from_hex(kpm_hex, strlen(kpm_hex), &err);
    if (rec.kpm == NULL) {
        mefd_fail("Kpm: %s", m2msec_error_msg(&err));
        goto out;
    }
    if (m2msec_secret_len(rec.kpm) < KPM_MIN_LEN || m2msec_secret_len(rec.kpm) > KPM_MAX_LEN) {
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
    printf("added enrolee kpm-id=%s enrolee-id=%s expiry=%llus targets=%zu\n", rec.kpm_id,
           rec.enrolee_id, (unsigned long long)rec.expiry_s, rec.ntargets);
    rv = 0;
out:
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
    json_object_set_new(o, "kpmID", json_string(r->kpm_id));
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

static int
enrolee_list_show(int argc, char **argv, int show)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "kpm-id", required_argument, NULL, 'i' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_enrolee_rec **list = NULL, *one = NULL;
    const char *dir = NULL, *kpm_id = NULL;
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
        case 'j':
            as_json = 1;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || (show && kpm_id == NULL) || optind != argc) {
        return mefd_fail(show ? "usage: mefd enrolee show -d DIR --kpm-id ID [--json]"
                              : "usage: mefd enrolee list -d DIR [--json]");
    }
    if (mefd_dir_open(dir, &d, &err) == -1 || (db = mefd_db_open(&d, &err)) == NULL) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (show) {
        if (m2msec_mef_enrolee_get(db, kpm_id, 0, &one, &err) == -1) {
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
            printf("%-24s %-28s %10lld  %s\n", json_string_value(json_object_get(e, "kpmID")),
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
        return mefd_remove_cmd(argc - 1, argv + 1, "kpm-id", "enrolee",
                               " (its Ke, registrations and key registrations erased)",
                               m2msec_mef_enrolee_remove);
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
