/*
 * cli/sa.c - `m2msec connect` (Entity A) and `m2msec cse` (a reference Entity B).
 *
 * Layer: CLI, built on <m2msec.h> only. `connect` runs a TLS-PSK security
 * association with Entity B (TS-0003 8.2.2.1 / 8.2.2.3), or a certificate
 * one (8.2.2.2), and one oneM2M request; `cse` serves as Entity B with
 * libm2msec's PSK resolver, with certificate clients beside PSK ones when
 * given client certificate information, and app rules (8.2.1), until
 * SIGTERM or SIGINT, logging one line per event (never a key); `cse stats`
 * prints the counters of the running (or last) server and the cache size.
 */
#define _DEFAULT_SOURCE /* gmtime_r, timegm */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "m2msec.h"

#define SA_KPSA_MAX       64
#define SA_STATS          "cse-stats.txt"
#define SA_STATS_DELAY_MS 100  /* cache-hit counters reach the stats file within this */
#define SA_LOG_LINE_MAX   4224 /* the resolver's longest event line and a time stamp */
#define SA_PATH_MAX       4096
#define SA_PSK_MAX        64
#define SA_HEXFILE_MAX    1024
#define SA_FILES_MAX      16
#define SA_RAWPK_MAX      64
#define SA_RULES_MAX      256

enum {
    SA_TO = 300,
    SA_KEY_ID,
    SA_STATE,
    SA_SNI,
    SA_ORIGIN,
    SA_PEER_ID,
    SA_PSK_FILE,
    SA_JSON,
    SA_QUIET,
    SA_TIMEOUT,
    SA_LISTEN,
    SA_ID,
    SA_MAF,
    SA_MAF_FQDN,
    SA_MEF,
    SA_MEF_FQDN,
    SA_MEF_PSK,
    SA_CERT,
    SA_KEY,
    SA_CA,
    SA_KPSA,
    SA_LOG,
    SA_MAX_CONNS,
    SA_IDLE,
    SA_RAWPK,
    SA_PEER_CA,
    SA_PEER_FLAVOUR,
    SA_REGISTER_AE,
    SA_CLIENT_CA,
    SA_CLIENT_CRL,
    SA_CLIENT_FLAVOUR,
    SA_CLIENT_RAWPK,
    SA_APP_RULE,
    SA_APP_RULES,
    SA_LOG_LEVEL,
};

static const struct option sa_opts[] = {
    { "to", required_argument, NULL, SA_TO },
    { "key-id", required_argument, NULL, SA_KEY_ID },
    { "state", required_argument, NULL, SA_STATE },
    { "sni", required_argument, NULL, SA_SNI },
    { "origin", required_argument, NULL, SA_ORIGIN },
    { "peer-id", required_argument, NULL, SA_PEER_ID },
    { "psk-file", required_argument, NULL, SA_PSK_FILE },
    { "json", no_argument, NULL, SA_JSON },
    { "quiet", no_argument, NULL, SA_QUIET },
    { "timeout", required_argument, NULL, SA_TIMEOUT },
    { "dir", required_argument, NULL, 'd' },
    { "listen", required_argument, NULL, SA_LISTEN },
    { "id", required_argument, NULL, SA_ID },
    { "maf", required_argument, NULL, SA_MAF },
    { "maf-fqdn", required_argument, NULL, SA_MAF_FQDN },
    { "mef", required_argument, NULL, SA_MEF },
    { "mef-fqdn", required_argument, NULL, SA_MEF_FQDN },
    { "mef-psk", required_argument, NULL, SA_MEF_PSK },
    { "cert", required_argument, NULL, SA_CERT },
    { "key", required_argument, NULL, SA_KEY },
    { "ca", required_argument, NULL, SA_CA },
    { "kpsa", required_argument, NULL, SA_KPSA },
    { "log", required_argument, NULL, SA_LOG },
    { "log-level", required_argument, NULL, SA_LOG_LEVEL },
    { "max-conns", required_argument, NULL, SA_MAX_CONNS },
    { "idle-ms", required_argument, NULL, SA_IDLE },
    { "rawpk", required_argument, NULL, SA_RAWPK },
    { "peer-ca", required_argument, NULL, SA_PEER_CA },
    { "peer-flavour", required_argument, NULL, SA_PEER_FLAVOUR },
    { "register-ae", required_argument, NULL, SA_REGISTER_AE },
    { "client-ca", required_argument, NULL, SA_CLIENT_CA },
    { "client-crl", required_argument, NULL, SA_CLIENT_CRL },
    { "client-flavour", required_argument, NULL, SA_CLIENT_FLAVOUR },
    { "client-rawpk", required_argument, NULL, SA_CLIENT_RAWPK },
    { "app-rule", required_argument, NULL, SA_APP_RULE },
    { "app-rules", required_argument, NULL, SA_APP_RULES },
    { NULL, 0, NULL, 0 },
};

struct sa_opts {
    const char *to;
    const char *key_id;
    const char *state;
    const char *sni;
    const char *origin;
    const char *peer_id;
    const char *psk_file;
    const char *dir;
    const char *listen;
    const char *id;
    const char *maf;
    const char *maf_fqdn;
    const char *mef;
    const char *mef_fqdn;
    const char *mef_psk;
    const char *cert;
    const char *key;
    const char *ca;
    const char *log;
    int log_debug; /* --log-level debug */
    const char *kpsa[SA_KPSA_MAX];
    size_t nkpsa;
    const char *rawpk;
    const char *peer_ca[SA_FILES_MAX];
    size_t npeer_ca;
    const char *peer_flavour;
    const char *register_ae;
    const char *client_ca[SA_FILES_MAX];
    size_t nclient_ca;
    const char *client_crl[SA_FILES_MAX];
    size_t nclient_crl;
    const char *client_flavour;
    const char *client_rawpk[SA_RAWPK_MAX];
    size_t nclient_rawpk;
    const char *app_rule[SA_RULES_MAX];
    size_t napp_rule;
    const char *app_rules;
    unsigned timeout_ms;
    unsigned max_conns;
    unsigned idle_ms;
    int json;
    int quiet;
};

static void
sa_usage(FILE *f)
{
    fputs("usage:\n"
          "  m2msec connect --to HOST:PORT --key-id ID --state DIR [--sni NAME] [--origin ID]\n"
          "        [--peer-id IdB] [--psk-file F] [--json] [--quiet] [--timeout MS]\n"
          "        Entity A: TLS 1.2 PSK with Entity B using the key stored for ID (a Kc under\n"
          "        its Key Identifier, or the device's KeID with Kpsa for --peer-id), or the\n"
          "        pre-provisioned key in F; then GET / and print who Entity B says we are\n"
          "  m2msec connect --to HOST:PORT (--cert PEM --key PEM|pkcs11:URL | --rawpk KEY)\n"
          "        --peer-flavour cse-id|fqdn|node-id|device --peer-id IdB --peer-ca PEM...\n"
          "        [--origin ID] [--state DIR] [--sni NAME] [--json] [--quiet] [--timeout MS]\n"
          "        Entity A, certificate SAEF: Entity B verified as IdB under the anchors\n"
          "        (--peer-flavour raw: IdB is its ni:///sha-256;... name, no --peer-ca)\n"
          "        Both modes: [--register-ae APP-ID] registers an AE (POST, 2001) instead of GET\n"
          "  m2msec cse -d DIR --listen ADDR:PORT --id CSE-ID [--maf HOST:PORT --maf-fqdn F]\n"
          "        [--mef HOST:PORT --mef-fqdn F (--cert PEM --key PEM --ca PEM |\n"
          "         --mef-psk ID:HEXFILE)]\n"
          "        [--kpsa ID:HEXFILE:PEERID[:EXPIRY]]... [--log FILE] [--log-level info|debug]\n"
          "        [--max-conns N]\n"
          "        [--idle-ms MS] [--timeout MS]\n"
          "        [--cert PEM] [--key PEM|pkcs11:URL] [--client-ca PEM]... [--client-crl PEM]...\n"
          "        [--client-flavour cse-id|ae-id|device|node-id|any] [--client-rawpk NI]...\n"
          "        [--app-rule CRED-IDS:APP-IDS:AE-IDS]... [--app-rules FILE]\n"
          "        Entity B until SIGTERM/SIGINT; prints 'listening ADDR' once bound. With\n"
          "        --client-ca or --client-rawpk it also takes certificate clients (its own\n"
          "        certificate: --cert/--key, or --key alone as a raw public key)\n"
          "  m2msec cse stats -d DIR [--json]\n"
          "        counters of the running (or last) Entity B in DIR and the cached keys\n",
          f);
}

static int
sa_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    *out = strtoull(s, &end, 10);
    return (errno == 0 && *end == '\0' && *out <= max) ? 0 : -1;
}

/* Repeatable options: append to their list. */
static int
push_opt(struct sa_opts *o, int ch, const char *v)
{
    const char **list = NULL;
    size_t *n = NULL;
    size_t max = 0;
    const char *name = NULL;

    switch (ch) {
    case SA_PEER_CA:
        list = o->peer_ca;
        n = &o->npeer_ca;
        max = SA_FILES_MAX;
        name = "--peer-ca";
        break;
    case SA_CLIENT_CA:
        list = o->client_ca;
        n = &o->nclient_ca;
        max = SA_FILES_MAX;
        name = "--client-ca";
        break;
    case SA_CLIENT_CRL:
        list = o->client_crl;
        n = &o->nclient_crl;
        max = SA_FILES_MAX;
        name = "--client-crl";
        break;
    case SA_CLIENT_RAWPK:
        list = o->client_rawpk;
        n = &o->nclient_rawpk;
        max = SA_RAWPK_MAX;
        name = "--client-rawpk";
        break;
    default:
        list = o->app_rule;
        n = &o->napp_rule;
        max = SA_RULES_MAX;
        name = "--app-rule";
        break;
    }
    if (*n == max) {
        fprintf(stderr, "m2msec: at most %zu %s\n", max, name);
        return -1;
    }
    list[(*n)++] = v;
    return 0;
}

static int
parse_opts(int argc, char **argv, struct sa_opts *o)
{
    unsigned long long v = 0;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "d:", sa_opts, NULL)) != -1) {
        switch (ch) {
        case SA_TO:
            o->to = optarg;
            break;
        case SA_KEY_ID:
            o->key_id = optarg;
            break;
        case SA_STATE:
            o->state = optarg;
            break;
        case SA_SNI:
            o->sni = optarg;
            break;
        case SA_ORIGIN:
            o->origin = optarg;
            break;
        case SA_PEER_ID:
            o->peer_id = optarg;
            break;
        case SA_PSK_FILE:
            o->psk_file = optarg;
            break;
        case SA_JSON:
            o->json = 1;
            break;
        case SA_QUIET:
            o->quiet = 1;
            break;
        case SA_TIMEOUT:
            if (sa_uint(optarg, 600000, &v) == -1 || v < 10) {
                fprintf(stderr, "m2msec: --timeout takes milliseconds (10..600000)\n");
                return -1;
            }
            o->timeout_ms = (unsigned)v;
            break;
        case 'd':
            o->dir = optarg;
            break;
        case SA_LISTEN:
            o->listen = optarg;
            break;
        case SA_ID:
            o->id = optarg;
            break;
        case SA_MAF:
            o->maf = optarg;
            break;
        case SA_MAF_FQDN:
            o->maf_fqdn = optarg;
            break;
        case SA_MEF:
            o->mef = optarg;
            break;
        case SA_MEF_FQDN:
            o->mef_fqdn = optarg;
            break;
        case SA_MEF_PSK:
            o->mef_psk = optarg;
            break;
        case SA_CERT:
            o->cert = optarg;
            break;
        case SA_KEY:
            o->key = optarg;
            break;
        case SA_CA:
            o->ca = optarg;
            break;
        case SA_KPSA:
            if (o->nkpsa == SA_KPSA_MAX) {
                fprintf(stderr, "m2msec: at most %d --kpsa\n", SA_KPSA_MAX);
                return -1;
            }
            o->kpsa[o->nkpsa++] = optarg;
            break;
        case SA_LOG:
            o->log = optarg;
            break;
        case SA_LOG_LEVEL:
            if (strcmp(optarg, "info") != 0 && strcmp(optarg, "debug") != 0) {
                fprintf(stderr, "m2msec: --log-level takes info or debug\n");
                return 2;
            }
            o->log_debug = strcmp(optarg, "debug") == 0;
            break;
        case SA_RAWPK:
            o->rawpk = optarg;
            break;
        case SA_PEER_FLAVOUR:
            o->peer_flavour = optarg;
            break;
        case SA_REGISTER_AE:
            o->register_ae = optarg;
            break;
        case SA_CLIENT_FLAVOUR:
            o->client_flavour = optarg;
            break;
        case SA_APP_RULES:
            o->app_rules = optarg;
            break;
        case SA_PEER_CA:
        case SA_CLIENT_CA:
        case SA_CLIENT_CRL:
        case SA_CLIENT_RAWPK:
        case SA_APP_RULE:
            if (push_opt(o, ch, optarg) == -1) {
                return -1;
            }
            break;
        case SA_MAX_CONNS:
            if (sa_uint(optarg, 1024, &v) == -1 || v == 0) {
                fprintf(stderr, "m2msec: --max-conns takes 1..1024\n");
                return -1;
            }
            o->max_conns = (unsigned)v;
            break;
        case SA_IDLE:
            if (sa_uint(optarg, 3600000, &v) == -1 || v == 0) {
                fprintf(stderr, "m2msec: --idle-ms takes 1..3600000\n");
                return -1;
            }
            o->idle_ms = (unsigned)v;
            break;
        default:
            sa_usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "m2msec: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static void
sa_time(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
        snprintf(out, 32, "-");
        return;
    }
    strftime(out, 32, "%Y%m%dT%H%M%S", &tm);
}

/* A key as hex text in a file (whitespace ignored); buf is wiped by the caller. */
static int
read_hex_key(const char *path, unsigned char *key, size_t keysz, size_t *len)
{
    char text[SA_HEXFILE_MAX + 1];
    char digits[2 * SA_PSK_MAX + 1];
    size_t n = 0, nd = 0, i;
    FILE *f = fopen(path, "r");
    int rv = -1;

    *len = 0;
    if (f == NULL) {
        fprintf(stderr, "m2msec: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    n = fread(text, 1, SA_HEXFILE_MAX, f);
    if (ferror(f) || !feof(f)) {
        fprintf(stderr, "m2msec: %s: unreadable or larger than %d bytes\n", path, SA_HEXFILE_MAX);
        goto out;
    }
    for (i = 0; i < n; i++) {
        char ch = text[i];

        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
            continue;
        }
        if (nd == sizeof(digits) - 1 || strchr("0123456789abcdefABCDEF", ch) == NULL ||
            ch == '\0') {
            fprintf(stderr, "m2msec: %s: not a hex key of at most %d bytes\n", path, SA_PSK_MAX);
            goto out;
        }
        digits[nd++] = ch;
    }
    if (nd == 0 || nd % 2 != 0 || nd / 2 > keysz) {
        fprintf(stderr, "m2msec: %s: not a hex key of at most %d bytes\n", path, SA_PSK_MAX);
        goto out;
    }
    for (i = 0; i < nd / 2; i++) {
        char byte[3] = { digits[2 * i], digits[2 * i + 1], '\0' };

        key[i] = (unsigned char)strtoul(byte, NULL, 16);
    }
    *len = nd / 2;
    rv = 0;
out:
    memset(text, 0, sizeof(text));
    memset(digits, 0, sizeof(digits));
    fclose(f);
    return rv;
}

static void
sa_step(void *arg, const char *step, const char *detail)
{
    (void)arg;
    fprintf(stderr, "  [%s] %s\n", step, detail);
}

/*
 * m2msec connect
 */

static int
connect_failed(const struct m2msec_client *c)
{
    enum m2msec_err code = m2msec_client_error_code(c);

    if (code == M2MSEC_ERR_EXPIRED) {
        fprintf(stderr, "m2msec: connect: %s\n", m2msec_client_error(c));
    } else if (code == M2MSEC_ERR_AUTH) {
        fprintf(stderr, "m2msec: connect: handshake refused: %s\n", m2msec_client_error(c));
    } else if (code == M2MSEC_ERR_REFUSED) {
        fprintf(stderr, "m2msec: connect refused (%d): %s\n", m2msec_client_error_rsc(c),
                m2msec_client_error(c));
    } else {
        fprintf(stderr, "m2msec: connect failed (%s): %s\n", m2msec_err_name(code),
                m2msec_client_error(c));
    }
    return 1;
}

static int
cmd_connect(const struct sa_opts *o)
{
    struct m2msec_config *cfg = NULL;
    struct m2msec_client *c = NULL;
    struct m2msec_saef *a = NULL;
    unsigned char key[SA_PSK_MAX];
    size_t keylen = 0;
    char ts[32];
    int rv = 1;

    int cert = o->peer_flavour != NULL || o->npeer_ca > 0 || o->rawpk != NULL;

    if (cert && (o->to == NULL || o->peer_flavour == NULL || o->peer_id == NULL ||
                 (o->rawpk == NULL && o->key == NULL) || (o->rawpk != NULL && o->key != NULL) ||
                 (o->rawpk != NULL && o->cert != NULL) || o->key_id != NULL ||
                 o->psk_file != NULL || (o->state == NULL && o->origin == NULL))) {
        fprintf(stderr, "m2msec: a certificate connect needs --to, --peer-flavour, --peer-id, "
                        "--peer-ca (not for raw), our --cert/--key or --rawpk KEY, and --origin "
                        "(or --state); no --key-id or --psk-file\n");
        return 2;
    }
    if (!cert && (o->to == NULL || o->key_id == NULL ||
                  (o->state == NULL && (o->psk_file == NULL || o->origin == NULL)))) {
        fprintf(stderr, "m2msec: connect needs --to, --key-id and --state (or --psk-file with "
                        "--origin)\n");
        return 2;
    }
    cfg = m2msec_config_new();
    c = m2msec_client_new();
    if (cfg == NULL || c == NULL) {
        fprintf(stderr, "m2msec: out of memory\n");
        goto out;
    }
    if ((o->state != NULL && m2msec_config_set_state_dir(cfg, o->state) == -1) ||
        (o->sni != NULL && m2msec_config_set_sni(cfg, o->sni) == -1) ||
        (o->timeout_ms != 0 && m2msec_config_set_timeout_ms(cfg, o->timeout_ms) == -1)) {
        fprintf(stderr, "m2msec: %s\n", m2msec_config_error(cfg));
        goto out;
    }
    if (m2msec_client_configure(c, cfg) == -1) {
        fprintf(stderr, "m2msec: %s\n", m2msec_client_error(c));
        goto out;
    }
    if (!o->quiet && !o->json) {
        m2msec_client_set_step_cb(c, sa_step, NULL);
    }
    if (o->register_ae != NULL && m2msec_client_saef_register_ae(c, o->register_ae) == -1) {
        fprintf(stderr, "m2msec: --register-ae: %s\n", m2msec_client_error(c));
        goto out;
    }
    if (cert) {
        if (m2msec_client_connect_cert(c, o->to, o->rawpk != NULL ? NULL : o->cert,
                                       o->rawpk != NULL ? o->rawpk : o->key, o->peer_flavour,
                                       o->peer_id, o->peer_ca, o->npeer_ca, o->origin, &a) == -1) {
            rv = connect_failed(c);
            goto out;
        }
    } else if (o->psk_file != NULL) {
        if (read_hex_key(o->psk_file, key, sizeof(key), &keylen) == -1) {
            goto out;
        }
        if (m2msec_client_connect_psk(c, o->to, o->key_id, key, keylen, o->origin, &a) == -1) {
            rv = connect_failed(c);
            goto out;
        }
    } else if (m2msec_client_connect(c, o->to, o->key_id, o->peer_id, o->origin, &a) == -1) {
        rv = connect_failed(c);
        goto out;
    }
    if (o->json) {
        printf("%s\n", m2msec_saef_body(a));
    } else if (cert) {
        printf("connected: Entity B %s (verified %s) binds this session to %s (credentialID %s, "
               "flavour %s); suite %s\n",
               m2msec_saef_cse(a), m2msec_saef_verified_peer(a), m2msec_saef_peer(a),
               m2msec_saef_credential_id(a), m2msec_saef_flavour(a), m2msec_saef_cipher(a));
    } else {
        sa_time(m2msec_saef_key_expires(a), ts);
        printf("connected: Entity B %s binds this session to %s (credentialID %s, SUID %u); "
               "key %s from %s, expires %s, suite %s\n",
               m2msec_saef_cse(a), m2msec_saef_peer(a), m2msec_saef_credential_id(a),
               m2msec_saef_peer_suid(a), m2msec_saef_key_id(a),
               m2msec_psk_source_name(m2msec_saef_source(a)), ts, m2msec_saef_cipher(a));
    }
    if (!o->json && m2msec_saef_aei(a) != NULL) {
        printf("registered: AE %s with App-ID %s\n", m2msec_saef_aei(a), m2msec_saef_api(a));
    }
    rv = 0;
out:
    memset(key, 0, sizeof(key));
    m2msec_saef_free(a);
    m2msec_client_free(c);
    m2msec_config_free(cfg);
    return rv;
}

/*
 * m2msec cse
 */

struct cse_run {
    pthread_mutex_t stats_lock;                    /* the stats file: one writer at a time */
    int debug;                                     /* log every event, not only the info ones */
    uint64_t written[M2MSEC_RESOLVER_COUNTER_MAX]; /* counters in the stats file (stats_lock) */
    FILE *log;
    const char *dir;
    struct m2msec_resolver *r;
};

static const char *const counter_names[M2MSEC_RESOLVER_COUNTER_MAX] = {
    [M2MSEC_RESOLVER_RESOLVED] = "resolved",     [M2MSEC_RESOLVER_RETRIEVALS] = "retrievals",
    [M2MSEC_RESOLVER_CACHE_HITS] = "cache_hits", [M2MSEC_RESOLVER_LOCAL] = "local",
    [M2MSEC_RESOLVER_REFUSALS] = "refusals",     [M2MSEC_RESOLVER_ERASED] = "erased",
};

/* 1 when a counter differs from what the stats file holds (main thread only). */
static int
counters_moved(struct cse_run *run)
{
    int i, moved = 0;

    pthread_mutex_lock(&run->stats_lock);
    for (i = 0; i < M2MSEC_RESOLVER_COUNTER_MAX && !moved; i++) {
        moved = m2msec_resolver_counter(run->r, (enum m2msec_resolver_counter)i) != run->written[i];
    }
    pthread_mutex_unlock(&run->stats_lock);
    return moved;
}

/* The counters for `m2msec cse stats`: "<name> <value>" lines, replaced atomically. */
static void
write_stats(struct cse_run *run)
{
    char path[SA_PATH_MAX + 32];
    char tmp[SA_PATH_MAX + 40];
    FILE *f = NULL;
    int i;

    snprintf(path, sizeof(path), "%s/%s", run->dir, SA_STATS);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    pthread_mutex_lock(&run->stats_lock);
    f = fopen(tmp, "w");
    if (f == NULL) {
        pthread_mutex_unlock(&run->stats_lock);
        return;
    }
    for (i = 0; i < M2MSEC_RESOLVER_COUNTER_MAX; i++) {
        run->written[i] = m2msec_resolver_counter(run->r, (enum m2msec_resolver_counter)i);
        fprintf(f, "%s %llu\n", counter_names[i], (unsigned long long)run->written[i]);
    }
    if (fclose(f) == 0) {
        (void)rename(tmp, path);
    }
    pthread_mutex_unlock(&run->stats_lock);
}

/*
 * Events written only with --log-level debug: the per-connection steady state.
 * At info every accepted session still has its "session" line (identity,
 * binding, Credential-ID), and every retrieval, refusal and erasure its own.
 */
static int
log_is_debug(const char *line)
{
    return strncmp(line, "event=session_closed ", 21) == 0 ||
           (strncmp(line, "event=psk_resolved ", 19) == 0 && strstr(line, " cache=hit ") != NULL);
}

static void on_event(void *arg, const char *line);

/*
 * SIGHUP: reopen --log FILE (after logrotate moved it). dup2 swaps the file
 * under the descriptor the connection threads write to, in one step: a line
 * goes whole to the old file or to the new one. Without --log (stderr) there
 * is nothing to reopen; either way Entity B keeps running.
 */
static void
reopen_log(struct cse_run *run, const char *path)
{
    char line[SA_LOG_LINE_MAX];
    int fd;

    if (path == NULL || run->log == stderr) {
        on_event(run, "event=log_reopen reason=\"logging to stderr\"");
        return;
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || dup2(fd, fileno(run->log)) < 0) {
        snprintf(line, sizeof(line), "event=log_reopen_failed error=\"%s\"", strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        on_event(run, line);
        return;
    }
    close(fd);
    on_event(run, "event=log_reopened");
}

static void
on_event(void *arg, const char *line)
{
    struct cse_run *run = arg;
    struct timespec now;
    struct tm tm;
    char ts[32] = "-";
    char ms[8];

    if (clock_gettime(CLOCK_REALTIME, &now) == 0 && gmtime_r(&now.tv_sec, &tm) != NULL) {
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ms, sizeof(ms), ".%03dZ", (int)((now.tv_nsec / 1000000L) % 1000));
        strncat(ts, ms, sizeof(ts) - strlen(ts) - 1);
    }
    if (run->debug || !log_is_debug(line)) {
        /*
         * One write(2) per line on an O_APPEND file: lines from concurrent
         * connections never interleave, and no lock serialises the handshakes.
         */
        char buf[SA_LOG_LINE_MAX];
        int n = snprintf(buf, sizeof(buf), "%s %s\n", ts, line);

        if (n > 0) {
            size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;

            if ((size_t)n >= sizeof(buf)) {
                buf[len - 1] = '\n'; /* cut, still one line */
            }
            if (write(fileno(run->log), buf, len) < 0) {
                /* Nowhere to report a failing log; the counters still count. */
            }
        }
    }
    /*
     * Retrievals, refusals and erasures are rare and tests count them right
     * after the handshake: write those at once. Cache hits are the hot path
     * (Entity B's steady state): the main loop writes them within
     * SA_STATS_DELAY_MS, when the counters moved, rather than replacing a
     * file per handshake.
     */
    if (strncmp(line, "event=psk_", 10) == 0 &&
        !(strncmp(line, "event=psk_resolved ", 19) == 0 &&
          (strstr(line, " cache=hit ") != NULL || strstr(line, " cache=local ") != NULL))) {
        write_stats(run);
    }
}

/* EXPIRY: seconds since the epoch, or an m2m:timestamp YYYYMMDDThhmmss (UTC). */
static int
parse_expiry(const char *s, int64_t *out)
{
    unsigned long long v = 0;
    struct tm tm;
    time_t t;
    int i;

    if (sa_uint(s, 253402300799ULL, &v) == 0) {
        *out = (int64_t)v;
        return 0;
    }
    if (strlen(s) != 15 || s[8] != 'T') {
        return -1;
    }
    for (i = 0; i < 15; i++) {
        if (i != 8 && (s[i] < '0' || s[i] > '9')) {
            return -1;
        }
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
    tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
    tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
    tm.tm_hour = (s[9] - '0') * 10 + (s[10] - '0');
    tm.tm_min = (s[11] - '0') * 10 + (s[12] - '0');
    tm.tm_sec = (s[13] - '0') * 10 + (s[14] - '0');
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60) {
        return -1;
    }
    t = timegm(&tm);
    if (t == (time_t)-1) {
        return -1;
    }
    *out = (int64_t)t;
    return 0;
}

/* --kpsa ID:HEXFILE:PEERID[:EXPIRY] */
static int
add_kpsa(struct m2msec_resolver *r, const char *spec)
{
    char buf[2048];
    char *id = buf, *file = NULL, *peer = NULL, *exp = NULL;
    int64_t expires = 0;

    if (strlen(spec) >= sizeof(buf)) {
        fprintf(stderr, "m2msec: --kpsa too long\n");
        return -1;
    }
    memcpy(buf, spec, strlen(spec) + 1);
    file = strchr(id, ':');
    if (file != NULL) {
        *file++ = '\0';
        peer = strchr(file, ':');
    }
    if (peer != NULL) {
        *peer++ = '\0';
        exp = strchr(peer, ':');
    }
    if (exp != NULL) {
        *exp++ = '\0';
    }
    if (file == NULL || peer == NULL || *id == '\0' || *file == '\0' || *peer == '\0' ||
        (exp != NULL && parse_expiry(exp, &expires) == -1)) {
        fprintf(stderr, "m2msec: --kpsa takes ID:HEXFILE:PEERID[:EXPIRY] (EXPIRY: epoch "
                        "seconds or YYYYMMDDThhmmss)\n");
        return -1;
    }
    if (m2msec_resolver_add_kpsa_file(r, id, file, peer, expires) == -1) {
        fprintf(stderr, "m2msec: --kpsa %s: %s\n", id, m2msec_resolver_error(r));
        return -1;
    }
    return 0;
}

/*
 * --mef-psk ID:HEXFILE: the PSK identity the MEF knows Entity B by, and the
 * file with the key. Split at the last ':' so the identity may contain one.
 */
static int
set_mef_psk(struct m2msec_resolver *r, const struct sa_opts *o)
{
    char buf[1024];
    char *file = NULL;

    if (strlen(o->mef_psk) >= sizeof(buf)) {
        fprintf(stderr, "m2msec: --mef-psk too long\n");
        return -1;
    }
    memcpy(buf, o->mef_psk, strlen(o->mef_psk) + 1);
    file = strrchr(buf, ':');
    if (file == NULL || file == buf || file[1] == '\0') {
        fprintf(stderr, "m2msec: --mef-psk takes ID:HEXFILE\n");
        return -1;
    }
    *file++ = '\0';
    if (m2msec_resolver_set_mef_psk(r, o->mef, o->mef_fqdn, buf, file) == -1) {
        fprintf(stderr, "m2msec: --mef-psk: %s\n", m2msec_resolver_error(r));
        return -1;
    }
    return 0;
}

/* Resolver for Entity B's state directory, with the sources given on the command line. */
static struct m2msec_resolver *
make_resolver(const struct sa_opts *o, int sources)
{
    struct m2msec_config *cfg = m2msec_config_new();
    struct m2msec_resolver *r = m2msec_resolver_new();
    size_t i;
    int ok = 0;

    if (cfg == NULL || r == NULL) {
        fprintf(stderr, "m2msec: out of memory\n");
        goto out;
    }
    if (m2msec_config_set_state_dir(cfg, o->dir) == -1 ||
        (sources && o->maf != NULL && m2msec_config_set_maf(cfg, o->maf, o->maf_fqdn) == -1) ||
        (o->timeout_ms != 0 && m2msec_config_set_timeout_ms(cfg, o->timeout_ms) == -1)) {
        fprintf(stderr, "m2msec: %s\n", m2msec_config_error(cfg));
        goto out;
    }
    if (m2msec_resolver_configure(r, cfg) == -1) {
        fprintf(stderr, "m2msec: %s\n", m2msec_resolver_error(r));
        goto out;
    }
    if (sources) {
        if (m2msec_resolver_set_cse_id(r, o->id) == -1 ||
            (o->mef != NULL && o->mef_psk == NULL &&
             m2msec_resolver_set_mef(r, o->mef, o->mef_fqdn, o->cert, o->key, o->ca) == -1)) {
            fprintf(stderr, "m2msec: %s\n", m2msec_resolver_error(r));
            goto out;
        }
        if (o->mef != NULL && o->mef_psk != NULL && set_mef_psk(r, o) == -1) {
            goto out;
        }
        for (i = 0; i < o->nkpsa; i++) {
            if (add_kpsa(r, o->kpsa[i]) == -1) {
                goto out;
            }
        }
    }
    ok = 1;
out:
    m2msec_config_free(cfg);
    if (!ok) {
        m2msec_resolver_free(r);
        r = NULL;
    }
    return r;
}

/*
 * Certificate clients (TS-0003 8.2.2.2) when client certificate information
 * is given: Entity B's --cert/--key (also its credential towards the MEF)
 * become the server's; and the app rules (8.2.1).
 */
static int
cse_certs_and_rules(struct m2msec_cse *s, const struct sa_opts *o)
{
    size_t i;

    if (o->nclient_ca > 0 || o->nclient_rawpk > 0) {
        if (m2msec_cse_set_cert(s, o->cert, o->key) == -1 ||
            (o->client_flavour != NULL &&
             m2msec_cse_set_client_flavour(s, o->client_flavour) == -1)) {
            return -1;
        }
        for (i = 0; i < o->nclient_ca; i++) {
            if (m2msec_cse_add_client_ca(s, o->client_ca[i]) == -1) {
                return -1;
            }
        }
        for (i = 0; i < o->nclient_crl; i++) {
            if (m2msec_cse_add_client_crl(s, o->client_crl[i]) == -1) {
                return -1;
            }
        }
        for (i = 0; i < o->nclient_rawpk; i++) {
            if (m2msec_cse_add_client_rawpk(s, o->client_rawpk[i]) == -1) {
                return -1;
            }
        }
    }
    for (i = 0; i < o->napp_rule; i++) {
        if (m2msec_cse_add_app_rule(s, o->app_rule[i]) == -1) {
            return -1;
        }
    }
    if (o->app_rules != NULL && m2msec_cse_load_app_rules(s, o->app_rules) == -1) {
        return -1;
    }
    return 0;
}

static int
cmd_cse_serve(const struct sa_opts *o)
{
    struct cse_run run;
    struct m2msec_cse *s = NULL;
    sigset_t set;
    int sig = 0;
    int rv = 1;

    memset(&run, 0, sizeof(run));
    if (o->dir == NULL || o->listen == NULL || o->id == NULL) {
        fprintf(stderr, "m2msec: cse needs -d DIR, --listen ADDR:PORT and --id CSE-ID\n");
        return 2;
    }
    if (o->mef != NULL && o->mef_psk == NULL &&
        (o->mef_fqdn == NULL || o->cert == NULL || o->key == NULL || o->ca == NULL)) {
        fprintf(stderr, "m2msec: --mef needs --mef-fqdn, and --cert, --key and --ca "
                        "or --mef-psk\n");
        return 2;
    }
    if (o->mef_psk != NULL && (o->mef == NULL || o->mef_fqdn == NULL || o->ca != NULL)) {
        fprintf(stderr, "m2msec: --mef-psk goes with --mef and --mef-fqdn, instead of --cert, "
                        "--key and --ca\n");
        return 2;
    }
    if (o->cert != NULL && o->key == NULL) {
        fprintf(stderr, "m2msec: --cert needs --key\n");
        return 2;
    }
    /* Entity B's own credential serves the MEF link (without --mef-psk) or certificate clients. */
    if ((o->cert != NULL || o->key != NULL) && (o->mef == NULL || o->mef_psk != NULL) &&
        o->nclient_ca == 0 && o->nclient_rawpk == 0) {
        fprintf(stderr, "m2msec: --cert/--key would be unused: they are Entity B's credential "
                        "towards the MEF (--mef without --mef-psk) or for certificate clients "
                        "(--client-ca, --client-rawpk)\n");
        return 2;
    }
    if ((o->nclient_ca > 0 || o->nclient_rawpk > 0) && o->key == NULL) {
        fprintf(stderr, "m2msec: --client-ca and --client-rawpk need Entity B's --key (and "
                        "--cert, or the key alone as a raw public key)\n");
        return 2;
    }
    if ((o->nclient_crl > 0 || o->client_flavour != NULL) && o->nclient_ca == 0 &&
        o->nclient_rawpk == 0) {
        fprintf(stderr, "m2msec: --client-crl and --client-flavour go with --client-ca\n");
        return 2;
    }
    /* Every thread inherits the mask: only sigwait below sees SIGTERM / SIGINT / SIGHUP. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&run.stats_lock, NULL);
    run.dir = o->dir;
    run.debug = o->log_debug;
    run.log = stderr;
    if (o->log != NULL) {
        /* 0600 and O_APPEND, as reopen_log opens it again after a rotation */
        int fd = open(o->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

        run.log = fd >= 0 ? fdopen(fd, "a") : NULL;
        if (run.log == NULL) {
            if (fd >= 0) {
                close(fd);
            }
            fprintf(stderr, "m2msec: cannot open %s: %s\n", o->log, strerror(errno));
            run.log = NULL;
            goto out;
        }
    }
    run.r = make_resolver(o, 1);
    if (run.r == NULL) {
        goto out;
    }
    m2msec_resolver_set_event_cb(run.r, on_event, &run);
    m2msec_resolver_set_event_debug(run.r, o->log_debug);
    s = m2msec_cse_new(run.r);
    if (s == NULL || m2msec_cse_set_limits(s, o->max_conns, o->idle_ms, o->timeout_ms) == -1 ||
        cse_certs_and_rules(s, o) == -1 || m2msec_cse_start(s, o->listen) == -1) {
        fprintf(stderr, "m2msec: cse: %s\n", s != NULL ? m2msec_cse_error(s) : "out of memory");
        goto out;
    }
    write_stats(&run);
    printf("listening %s\n", m2msec_cse_addr(s));
    fflush(stdout);
    for (;;) {
        const struct timespec tick = { 0, SA_STATS_DELAY_MS * 1000000L };

        sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            break;
        }
        if (sig == SIGHUP) {
            reopen_log(&run, o->log);
        }
        /* Cache hits are not events at the info level: watch the counters instead. */
        if (counters_moved(&run)) {
            write_stats(&run);
        }
    }
    m2msec_cse_stop(s);
    write_stats(&run);
    rv = 0;
out:
    m2msec_cse_free(s);
    m2msec_resolver_free(run.r);
    if (run.log != NULL && run.log != stderr) {
        fclose(run.log);
    }
    pthread_mutex_destroy(&run.stats_lock);
    return rv;
}

static int
cmd_cse_stats(const struct sa_opts *o)
{
    struct m2msec_resolver *r = NULL;
    unsigned long long vals[M2MSEC_RESOLVER_COUNTER_MAX] = { 0 };
    char path[SA_PATH_MAX + 32];
    char name[32];
    unsigned long long v = 0;
    size_t cached = 0;
    FILE *f = NULL;
    int i;

    if (o->dir == NULL) {
        fprintf(stderr, "m2msec: cse stats needs -d DIR\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/%s", o->dir, SA_STATS);
    f = fopen(path, "r");
    if (f != NULL) {
        while (fscanf(f, "%31s %llu", name, &v) == 2) {
            for (i = 0; i < M2MSEC_RESOLVER_COUNTER_MAX; i++) {
                if (strcmp(name, counter_names[i]) == 0) {
                    vals[i] = v;
                }
            }
        }
        fclose(f);
    }
    r = make_resolver(o, 0);
    if (r == NULL) {
        return 1;
    }
    if (m2msec_resolver_cached(r, &cached) == -1) {
        fprintf(stderr, "m2msec: cannot count the cached keys in %s\n", o->dir);
        m2msec_resolver_free(r);
        return 1;
    }
    m2msec_resolver_free(r);
    if (o->json) {
        printf("{");
        for (i = 0; i < M2MSEC_RESOLVER_COUNTER_MAX; i++) {
            printf("\"%s\":%llu,", counter_names[i], vals[i]);
        }
        printf("\"cached\":%zu}\n", cached);
    } else {
        for (i = 0; i < M2MSEC_RESOLVER_COUNTER_MAX; i++) {
            printf("%s=%llu ", counter_names[i], vals[i]);
        }
        printf("cached=%zu\n", cached);
    }
    return 0;
}

int
cli_sa_main(int argc, char **argv)
{
    struct sa_opts o;
    int stats = 0;
    int skip = 1;

    memset(&o, 0, sizeof(o));
    if (argc < 2) {
        sa_usage(stderr);
        return 2;
    }
    if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        sa_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "cse") == 0 && argc > 2 && strcmp(argv[2], "stats") == 0) {
        stats = 1;
        skip = 2;
    }
    if (parse_opts(argc - skip, argv + skip, &o) == -1) {
        return 2;
    }
    if (strcmp(argv[1], "connect") == 0) {
        return cmd_connect(&o);
    }
    if (stats) {
        return cmd_cse_stats(&o);
    }
    return cmd_cse_serve(&o);
}
