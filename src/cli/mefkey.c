/*
 * cli/mefkey.c - `m2msec mef keyreg|keyget|keyupdate|keydel`: the MEF Key
 * Registration procedures (TS-0003 8.3.5.2.7 - 8.3.5.2.10) from the command line.
 *
 * Layer: CLI (public API only, <m2msec.h>). main.c hands over argv from the
 * subcommand on; the options are parsed here, so the key procedures can grow
 * without touching the other commands.
 */
#define _DEFAULT_SOURCE /* gmtime_r */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "m2msec.h"

#define MEFKEY_LIST_MAX 16

int cli_mef_key_main(int argc, char **argv);

struct mefkey_opts {
    const char *mef;
    const char *kpm_id;
    const char *kpm_file;
    const char *kpm_hex;
    const char *sni;
    const char *state;
    const char *reg_id;
    const char *admin;
    const char *key_id;
    const char *targets[MEFKEY_LIST_MAX];
    size_t ntargets;
    const char *labels[MEFKEY_LIST_MAX];
    size_t nlabels;
    int set_labels;
    unsigned suid;
    unsigned long long lifetime;
    unsigned timeout_ms;
    int self_generated;
    int json;
    int quiet;
};

enum {
    O_MEF = 256,
    O_KPM_ID,
    O_KPM_FILE,
    O_KPM,
    O_SNI,
    O_STATE,
    O_TIMEOUT,
    O_JSON,
    O_QUIET,
    O_REG_ID,
    O_ADMIN,
    O_KEY_ID,
    O_TARGET,
    O_SUID,
    O_LIFETIME,
    O_LABEL,
    O_CLEAR_LABELS,
    O_SELF,
};

static const struct option mefkey_options[] = {
    { "mef", required_argument, NULL, O_MEF },
    { "kpm-id", required_argument, NULL, O_KPM_ID },
    { "kpm-file", required_argument, NULL, O_KPM_FILE },
    { "kpm", required_argument, NULL, O_KPM },
    { "sni", required_argument, NULL, O_SNI },
    { "state", required_argument, NULL, O_STATE },
    { "timeout", required_argument, NULL, O_TIMEOUT },
    { "json", no_argument, NULL, O_JSON },
    { "quiet", no_argument, NULL, O_QUIET },
    { "reg-id", required_argument, NULL, O_REG_ID },
    { "admin-fqdn", required_argument, NULL, O_ADMIN },
    { "key-id", required_argument, NULL, O_KEY_ID },
    { "target", required_argument, NULL, O_TARGET },
    { "suid", required_argument, NULL, O_SUID },
    { "lifetime", required_argument, NULL, O_LIFETIME },
    { "label", required_argument, NULL, O_LABEL },
    { "clear-labels", no_argument, NULL, O_CLEAR_LABELS },
    { "self-generated", no_argument, NULL, O_SELF },
    { NULL, 0, NULL, 0 },
};

static void
mefkey_usage(FILE *f)
{
    fputs("usage:\n"
          "  m2msec mef keyreg --reg-id ID --target ID [--target ID...] --suid N\n"
          "        [--admin-fqdn FQDN] [--lifetime SECONDS] [--label L...] [--self-generated]\n"
          "        --state DIR (+ MEF options)\n"
          "        MEF Key Registration (TS-0003 8.3.5.2.7): SUID 22 (SAEF) or 23 (ESPrim) with\n"
          "        one target, 24/25 (ESData) with up to 16; the key is the session's exporter\n"
          "        output unless --self-generated; stored sealed in DIR under its Key Identifier\n"
          "  m2msec mef keyget --key-id RELKEYID@MEF-FQDN (+ MEF options)\n"
          "        MEF Key Retrieval (8.3.5.2.8): source, SUID, expiry and the key check value\n"
          "  m2msec mef keyupdate --key-id ID [--lifetime S] [--target ID...]\n"
          "        [--label L... | --clear-labels] (+ MEF options)\n"
          "        MEF Key Registration Update (8.3.5.2.9): at least one change\n"
          "  m2msec mef keydel --key-id ID (+ MEF options, [--state DIR])\n"
          "        MEF Key De-Registration (8.3.5.2.10); erases the copy in DIR\n"
          "MEF options: --mef HOST:PORT --kpm-id ID (--kpm-file F | --kpm HEX) --sni MEF-FQDN\n"
          "        [--state DIR] [--json] [--quiet] [--timeout MS]\n",
          f);
}

static int
parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    *out = strtoull(s, &end, 10);
    return (*end == '\0' && *out <= max) ? 0 : -1;
}

static void
mefkey_time(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
        snprintf(out, 32, "-");
        return;
    }
    strftime(out, 32, "%Y%m%dT%H%M%S", &tm);
}

/* JSON string with escapes. */
static void
mefkey_json_str(const char *s)
{
    putchar('"');
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\') {
            printf("\\%c", ch);
        } else if (ch < 0x20) {
            printf("\\u%04x", ch);
        } else {
            putchar(ch);
        }
    }
    putchar('"');
}

static void
mefkey_step(void *arg, const char *step, const char *detail)
{
    (void)arg;
    fprintf(stderr, "  [%s] %s\n", step, detail);
}

static int
mefkey_fail(const char *what, const struct m2msec_client *c)
{
    int rsc = m2msec_client_error_rsc(c);

    if (rsc != 0) {
        fprintf(stderr, "m2msec: %s refused (%d): %s\n", what, rsc, m2msec_client_error(c));
    } else {
        fprintf(stderr, "m2msec: %s failed (%s): %s\n", what,
                m2msec_err_name(m2msec_client_error_code(c)), m2msec_client_error(c));
    }
    return 1;
}

/* Kpm from --kpm HEX (the public API takes bytes). */
static int
set_kpm_hex(struct m2msec_config *cfg, const char *id, const char *hex)
{
    unsigned char key[64];
    size_t n = strlen(hex), i;
    int rv = -1;

    if (n == 0 || n % 2 != 0 || n / 2 > sizeof(key)) {
        fprintf(stderr, "m2msec: --kpm must be 2..128 hex digits\n");
        return -1;
    }
    for (i = 0; i < n / 2; i++) {
        char byte[3] = { hex[2 * i], hex[2 * i + 1], '\0' };
        char *end = NULL;

        key[i] = (unsigned char)strtoul(byte, &end, 16);
        if (*end != '\0' || byte[0] == '-' || byte[0] == '+' || byte[0] == ' ') {
            fprintf(stderr, "m2msec: --kpm is not hex\n");
            goto out;
        }
    }
    if (m2msec_config_set_kpm(cfg, id, key, n / 2) == -1) {
        fprintf(stderr, "m2msec: Kpm: %s\n", m2msec_config_error(cfg));
        goto out;
    }
    rv = 0;
out:
    memset(key, 0, sizeof(key));
    return rv;
}

static struct m2msec_client *
mefkey_client(const struct mefkey_opts *o)
{
    struct m2msec_config *cfg = m2msec_config_new();
    struct m2msec_client *c = NULL;
    int ok = 0;

    if (cfg == NULL) {
        fprintf(stderr, "m2msec: out of memory\n");
        return NULL;
    }
    if (m2msec_config_set_mef(cfg, o->mef) == -1 ||
        (o->sni != NULL && m2msec_config_set_sni(cfg, o->sni) == -1) ||
        (o->state != NULL && m2msec_config_set_state_dir(cfg, o->state) == -1) ||
        (o->timeout_ms != 0 && m2msec_config_set_timeout_ms(cfg, o->timeout_ms) == -1)) {
        fprintf(stderr, "m2msec: %s\n", m2msec_config_error(cfg));
        goto out;
    }
    if (o->kpm_file != NULL) {
        if (m2msec_config_set_kpm_file(cfg, o->kpm_id, o->kpm_file) == -1) {
            fprintf(stderr, "m2msec: Kpm: %s\n", m2msec_config_error(cfg));
            goto out;
        }
    } else if (set_kpm_hex(cfg, o->kpm_id, o->kpm_hex) == -1) {
        goto out;
    }
    c = m2msec_client_new();
    if (c == NULL || m2msec_client_configure(c, cfg) == -1) {
        fprintf(stderr, "m2msec: cannot create client\n");
        m2msec_client_free(c);
        c = NULL;
        goto out;
    }
    if (!o->quiet && !o->json) {
        m2msec_client_set_step_cb(c, mefkey_step, NULL);
    }
    ok = 1;
out:
    m2msec_config_free(cfg);
    return ok ? c : NULL;
}

static void
print_key(const struct mefkey_opts *o, const struct m2msec_mef_key *k, const char *what)
{
    char ts[32];

    mefkey_time(m2msec_mef_key_expires(k), ts);
    if (o->json) {
        printf("{\"key_id\":");
        mefkey_json_str(m2msec_mef_key_id(k));
        printf(",\"source_id\":");
        mefkey_json_str(m2msec_mef_key_source_id(k));
        printf(",\"suid\":%u,\"expires\":", m2msec_mef_key_suid(k));
        mefkey_json_str(ts);
        printf(",\"expires_epoch\":%lld,\"kcv\":", (long long)m2msec_mef_key_expires(k));
        mefkey_json_str(m2msec_mef_key_kcv(k));
        printf("}\n");
    } else {
        printf("%s: key-id=%s source-id=%s suid=%u expires=%s kcv=%s\n", what, m2msec_mef_key_id(k),
               m2msec_mef_key_source_id(k), m2msec_mef_key_suid(k), ts, m2msec_mef_key_kcv(k));
    }
}

static int
run(const char *sub, const struct mefkey_opts *o, struct m2msec_client *c)
{
    struct m2msec_mef_key *k = NULL;
    int64_t granted = 0;
    char ts[32];
    int rv = 1;

    if (strcmp(sub, "keyreg") == 0) {
        if (m2msec_client_mef_keyreg(c, o->reg_id, o->admin, o->targets, o->ntargets, o->suid,
                                     o->lifetime, o->nlabels > 0 ? o->labels : NULL, o->nlabels,
                                     o->self_generated ? M2MSEC_MEF_KEY_SELF_GENERATED : 0,
                                     &k) == -1) {
            return mefkey_fail("MEF key registration", c);
        }
        print_key(o, k, "key registered");
    } else if (strcmp(sub, "keyget") == 0) {
        if (m2msec_client_mef_keyget(c, o->key_id, &k) == -1) {
            return mefkey_fail("MEF key retrieval", c);
        }
        print_key(o, k, "retrieved");
    } else if (strcmp(sub, "keyupdate") == 0) {
        if (m2msec_client_mef_keyupdate(
                    c, o->key_id, o->lifetime, o->targets, o->ntargets, o->labels, o->nlabels,
                    o->set_labels ? M2MSEC_MEF_KEY_SET_LABELS : 0, &granted) == -1) {
            return mefkey_fail("MEF key update", c);
        }
        mefkey_time(granted, ts);
        if (o->json) {
            printf("{\"updated\":true,\"expires\":");
            if (granted != 0) {
                mefkey_json_str(ts);
            } else {
                printf("null");
            }
            printf("}\n");
        } else {
            printf("updated%s%s\n", granted != 0 ? ": expires=" : "", granted != 0 ? ts : "");
        }
    } else {
        if (m2msec_client_mef_keydel(c, o->key_id) == -1) {
            return mefkey_fail("MEF key de-registration", c);
        }
        printf(o->json ? "{\"deregistered\":true}\n" : "deregistered\n");
    }
    rv = 0;
    m2msec_mef_key_free(k);
    return rv;
}

/* argv[0] is the subcommand (keyreg, keyget, keyupdate, keydel). Exit status. */
int
cli_mef_key_main(int argc, char **argv)
{
    struct mefkey_opts o;
    struct m2msec_client *c = NULL;
    unsigned long long v = 0;
    const char *sub = argc > 0 ? argv[0] : "";
    int ch, rv;

    memset(&o, 0, sizeof(o));
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        mefkey_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "keyreg") != 0 && strcmp(sub, "keyget") != 0 && strcmp(sub, "keyupdate") != 0 &&
        strcmp(sub, "keydel") != 0) {
        fprintf(stderr, "m2msec: unknown mef command '%s'\n", sub);
        mefkey_usage(stderr);
        return 2;
    }
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", mefkey_options, NULL)) != -1) {
        switch (ch) {
        case O_MEF:
            o.mef = optarg;
            break;
        case O_KPM_ID:
            o.kpm_id = optarg;
            break;
        case O_KPM_FILE:
            o.kpm_file = optarg;
            break;
        case O_KPM:
            o.kpm_hex = optarg;
            break;
        case O_SNI:
            o.sni = optarg;
            break;
        case O_STATE:
            o.state = optarg;
            break;
        case O_TIMEOUT:
            if (parse_num(optarg, 600000, &v) == -1) {
                fprintf(stderr, "m2msec: --timeout takes milliseconds\n");
                return 2;
            }
            o.timeout_ms = (unsigned)v;
            break;
        case O_JSON:
            o.json = 1;
            break;
        case O_QUIET:
            o.quiet = 1;
            break;
        case O_REG_ID:
            o.reg_id = optarg;
            break;
        case O_ADMIN:
            o.admin = optarg;
            break;
        case O_KEY_ID:
            o.key_id = optarg;
            break;
        case O_TARGET:
            if (o.ntargets == MEFKEY_LIST_MAX) {
                fprintf(stderr, "m2msec: at most %d --target\n", MEFKEY_LIST_MAX);
                return 2;
            }
            o.targets[o.ntargets++] = optarg;
            break;
        case O_SUID:
            if (parse_num(optarg, 99, &v) == -1) {
                fprintf(stderr, "m2msec: --suid takes a number (22..25)\n");
                return 2;
            }
            o.suid = (unsigned)v;
            break;
        case O_LIFETIME:
            if (parse_num(optarg, 315360000ULL, &o.lifetime) == -1 || o.lifetime == 0) {
                fprintf(stderr, "m2msec: --lifetime takes seconds (1..315360000)\n");
                return 2;
            }
            break;
        case O_LABEL:
            if (o.nlabels == MEFKEY_LIST_MAX) {
                fprintf(stderr, "m2msec: at most %d --label\n", MEFKEY_LIST_MAX);
                return 2;
            }
            o.labels[o.nlabels++] = optarg;
            o.set_labels = 1;
            break;
        case O_CLEAR_LABELS:
            o.set_labels = 1;
            break;
        case O_SELF:
            o.self_generated = 1;
            break;
        default:
            mefkey_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "m2msec: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o.mef == NULL || o.kpm_id == NULL || (o.kpm_file == NULL) == (o.kpm_hex == NULL)) {
        fprintf(stderr, "m2msec: --mef, --kpm-id and one of --kpm-file/--kpm are required\n");
        return 2;
    }
    if (strcmp(sub, "keyreg") == 0 &&
        (o.reg_id == NULL || o.ntargets == 0 || o.suid == 0 || o.state == NULL)) {
        fprintf(stderr, "m2msec: mef keyreg needs --reg-id, --target, --suid and --state\n");
        return 2;
    }
    if (strcmp(sub, "keyreg") != 0 && o.key_id == NULL) {
        fprintf(stderr, "m2msec: mef %s needs --key-id\n", sub);
        return 2;
    }
    c = mefkey_client(&o);
    if (c == NULL) {
        return 1;
    }
    rv = run(sub, &o, c);
    m2msec_client_free(c);
    return rv;
}
