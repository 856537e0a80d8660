/*
 * cli/main.c - the m2msec command line tool (device / CSE side).
 *
 * Built only on the public header <m2msec.h> and linked against the shared
 * libm2msec, so everything here is something a device vendor can do too.
 */
#define _DEFAULT_SOURCE /* gmtime_r, timegm */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "m2msec.h"

struct common {
    const char *mef;
    const char *kpm_id;
    const char *kpm_file;
    const char *kpm_hex;
    const char *cert;   /* certificate RSPF: our certificate (PEM) */
    const char *key;    /* its key (PEM or pkcs11: URL) */
    const char *mef_ca; /* anchors for the MEF's FQDN certificate */
    const char *sni;
    const char *state;
    const char *maf;
    const char *kmid;    /* pre-provisioned KmID (maf register) */
    const char *km_file; /* its Km, hex in a file */
    const char *km_hex;  /* or on the command line (tests) */
    unsigned timeout_ms;
    int json;
    int quiet;
    int show_wrapped; /* bootstrap: print the wrapped root credential (ciphertext) */
    int ibc;          /* enrol --ibc [ID1]: ask for an IBC credential (seed 000) */
    const char *ibc_id1;
};

enum {
    OPT_MEF = 256,
    OPT_KPM_ID,
    OPT_KPM_FILE,
    OPT_KPM,
    OPT_SNI,
    OPT_STATE,
    OPT_TIMEOUT,
    OPT_JSON,
    OPT_QUIET,
    OPT_ADMIN,
    OPT_LIFETIME,
    OPT_REG_ID,
    OPT_NO_MAF,
    OPT_NO_RM,
    OPT_CERT,
    OPT_DERIVE,
    OPT_LEGACY,
    OPT_MAF,
    OPT_TARGET,
    OPT_SUID,
    OPT_KEY_ID,
    OPT_KMID,
    OPT_KM_FILE,
    OPT_KM,
    OPT_CERT_FILE,
    OPT_KEY_FILE,
    OPT_MEF_CA,
    OPT_SHOW_WRAPPED,
    OPT_IBC,
};

static const struct option common_opts[] = {
    { "mef", required_argument, NULL, OPT_MEF },
    { "kpm-id", required_argument, NULL, OPT_KPM_ID },
    { "kpm-file", required_argument, NULL, OPT_KPM_FILE },
    { "kpm", required_argument, NULL, OPT_KPM },
    { "sni", required_argument, NULL, OPT_SNI },
    { "state", required_argument, NULL, OPT_STATE },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "json", no_argument, NULL, OPT_JSON },
    { "quiet", no_argument, NULL, OPT_QUIET },
    { "admin-fqdn", required_argument, NULL, OPT_ADMIN },
    { "lifetime", required_argument, NULL, OPT_LIFETIME },
    { "reg-id", required_argument, NULL, OPT_REG_ID },
    { "no-maf", no_argument, NULL, OPT_NO_MAF },
    { "no-rm", no_argument, NULL, OPT_NO_RM },
    { "cert-enrolment", no_argument, NULL, OPT_CERT },
    { "derive", required_argument, NULL, OPT_DERIVE },
    { "legacy", no_argument, NULL, OPT_LEGACY },
    { "maf", required_argument, NULL, OPT_MAF },
    { "target", required_argument, NULL, OPT_TARGET },
    { "suid", required_argument, NULL, OPT_SUID },
    { "key-id", required_argument, NULL, OPT_KEY_ID },
    { "kmid", required_argument, NULL, OPT_KMID },
    { "km-file", required_argument, NULL, OPT_KM_FILE },
    { "km", required_argument, NULL, OPT_KM },
    { "cert", required_argument, NULL, OPT_CERT_FILE },
    { "key", required_argument, NULL, OPT_KEY_FILE },
    { "mef-ca", required_argument, NULL, OPT_MEF_CA },
    { "show-wrapped", no_argument, NULL, OPT_SHOW_WRAPPED },
    { "ibc", optional_argument, NULL, OPT_IBC },
    { NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{
    fputs("usage: m2msec <command> [options]\n"
          "\n"
          "Device / CSE side of oneM2M TS-0003 remote security provisioning.\n"
          "\n"
          "commands:\n"
          "  enrol --mef HOST:PORT --kpm-id ID (--kpm-file F | --kpm HEX) --state DIR\n"
          "        [--sni FQDN] [--json] [--quiet] [--timeout MS]\n"
          "        [--no-maf] [--no-rm] [--cert-enrolment] [--ibc [ID1]]\n"
          "        run the PPSK RSPF and the Enrolment Exchange; store Ke/KeID sealed in DIR;\n"
          "        --ibc: also obtain an IBC credential for ID1 (default: the Enrolee-ID)\n"
          "  enrol --mef HOST:PORT --cert F --key F --mef-ca F [--sni FQDN] --state DIR\n"
          "        [--json] [--quiet] [--timeout MS] [--no-maf] [--no-rm] [--cert-enrolment]\n"
          "        the same with the certificate-based RSPF (TS-0003 8.3.2.2): our certificate\n"
          "        and key (PEM, or a pkcs11: URL), the MEF's FQDN certificate checked against\n"
          "        --mef-ca and the name --sni (default: the host of --mef)\n"
          "  bootstrap --mef HOST:PORT --cert F --key F --mef-ca F [--sni FQDN] --state DIR\n"
          "        [--json] [--quiet] [--timeout MS] [--show-wrapped]\n"
          "        PKI-based bootstrap (seed 002): mutual certificate TLS with the MEF, the root\n"
          "        credential of our node class AES-256 key-wrapped under the exported\n"
          "        RootCredentialWrapKey, unwrapped (integrity check) and stored sealed in DIR;\n"
          "        prints its identifier, lifetime, purpose and key check value (--show-wrapped:\n"
          "        also the wrapped blob, base64). Purpose maf:FQDN: 'maf register' then uses it\n"
          "        as Km; cse:CSE-ID: 'connect --key-id <identifier>' uses it as Kpsa\n",
          f);
    /* Two pieces: ISO C bounds a string literal at 4095 characters. */
    fputs("  state --state DIR [--json] [--derive SUID:TARGET-ID [--legacy]]\n"
          "        show the stored enrolment (KeID, expiry, key check value); --derive adds\n"
          "        the key check value of the key the MEF gives that Enrolment Target\n"
          "        (TS-0003 10.3.7; --legacy: 10.3.2 Km for SUID 21, 10.3.3 Kpsa for 22)\n"
          "  mef register --admin-fqdn FQDN [--lifetime SECONDS]   (+ MEF options)\n"
          "  mef config --reg-id ID                                (+ MEF options)\n"
          "  mef update --reg-id ID --lifetime SECONDS             (+ MEF options)\n"
          "  mef deregister --reg-id ID                            (+ MEF options)\n"
          "        MEF Client Registration procedures (TS-0003 8.3.5.2.3-6); MEF options are\n"
          "        --mef, --kpm-id, --kpm-file/--kpm, [--sni], [--json]\n"
          "  maf register --maf HOST:PORT --sni MAF-FQDN --admin-fqdn FQDN --state DIR\n"
          "        [--kmid KMID (--km-file F | --km HEX)] [--json] [--quiet] [--timeout MS]\n"
          "        MAF Client Registration (TS-0003 8.8.2.3): the first time with the KeID and\n"
          "        Km derived from Ke (remote provisioning), storing the KmID the MAF assigns;\n"
          "        afterwards with that KmID (MAF Handshake, 8.8.2.2). --kmid: a pre-provisioned\n"
          "        KmID (<rel>@<MAF-FQDN>) and Km (32 bytes, hex), stored sealed in DIR and\n"
          "        used instead (8.8.3.1; no enrolment needed)\n"
          "  maf config [--reg-id ID]                       (+ --maf, --sni, --state, [--json])\n"
          "  maf update [--reg-id ID] [--lifetime SECONDS]  (+ --maf, --sni, --state, [--json])\n"
          "  maf deregister [--reg-id ID]                   (+ --maf, --sni, --state, [--json])\n"
          "        MAF Client Configuration Retrieval, Registration Update and De-Registration\n"
          "        (TS-0003 8.8.2.4-6); default: the stored registration. After re-enrolment\n"
          "        update re-keys: new Km, new KmID, same registration. deregister also erases\n"
          "        the Kc registered under it. --sni defaults to the host of --maf\n"
          "  maf keyreg --target ID [--target ID...] --suid N [--lifetime SECONDS]\n"
          "        (+ --maf, --sni, --state, [--json])\n"
          "        MAF Key Registration (TS-0003 8.8.2.7) with Kc from the session exporter;\n"
          "        prints the Key Identifier, its expiry and Kc's check value\n"
          "  maf keyget --key-id RELKEYID@MAF-FQDN (+ --maf, --sni, --state, [--json])\n"
          "        MAF Key Retrieval (TS-0003 8.8.2.8); prints source, SUID, expiry and the\n"
          "        key's check value (never the key)\n"
          "  maf keyupdate --key-id ID [--lifetime SECONDS] [--target ID...]\n"
          "        (+ --maf, --sni, --state, [--json])\n"
          "        MAF Key Registration Update (TS-0003 8.8.2.9) of a key this device\n"
          "        registered: new expiry (the MAF may shorten it) and/or targets\n"
          "  maf keydel --key-id ID (+ --maf, --sni, --state, [--json])\n"
          "        MAF Key De-Registration (TS-0003 8.8.2.10); erases the stored Kc too\n"
          "  mef keyreg|keyget|keyupdate|keydel ...   (m2msec mef keyreg --help)\n"
          "        MEF Key Registration, Retrieval, Update, De-registration\n"
          "        (TS-0003 8.3.5.2.7-10)\n"
          "  connect --to HOST:PORT ...   (m2msec connect --help)\n"
          "        Entity A of a security association: PSK, MAF-based or certificate SAEF\n"
          "  cse -d DIR --listen ADDR:PORT --id CSE-ID ... | cse stats -d DIR\n"
          "        the reference Entity B (m2msec cse --help)\n"
          "  ibc listen|connect|show|refresh ...   (m2msec ibc help)\n"
          "        decentralised authentication with IBC credentials (IBC-SIGMA, then\n"
          "        TLS-PSK) between two enrolled devices, with no server running\n"
          "  help | --help\n"
          "\n"
          "Keys given with --kpm are visible in the process list: prefer --kpm-file.\n"
          "Exit status: 0 success, 1 failure (message on stderr), 2 usage error.\n",
          f);
}

static void
fmt_time(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
        snprintf(out, 32, "-");
        return;
    }
    strftime(out, 32, "%Y%m%dT%H%M%S", &tm);
}

/* JSON string with escapes (identifiers are ASCII, but be safe). */
static void
json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

static void
on_step(void *arg, const char *step, const char *detail)
{
    (void)arg;
    fprintf(stderr, "  [%s] %s\n", step, detail);
}

static int
fail_client(const char *what, const struct m2msec_client *c)
{
    int rsc = m2msec_client_error_rsc(c);

    if (m2msec_client_error_code(c) == M2MSEC_ERR_EXPIRED) {
        fprintf(stderr, "m2msec: %s: %s (re-provision: run 'm2msec enrol' again)\n", what,
                m2msec_client_error(c));
    } else if (rsc != 0) {
        fprintf(stderr, "m2msec: %s refused (%d): %s\n", what, rsc, m2msec_client_error(c));
    } else {
        fprintf(stderr, "m2msec: %s failed (%s): %s\n", what,
                m2msec_err_name(m2msec_client_error_code(c)), m2msec_client_error(c));
    }
    return 1;
}

static int
parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    *out = strtoull(s, &end, 10);
    return (*end == '\0' && *out <= max) ? 0 : -1;
}

/* Build a configured client from the MEF options. */
static struct m2msec_client *
make_client(const struct common *o, int ind_cert, int ind_maf, int ind_rm, int need_state)
{
    struct m2msec_config *cfg = m2msec_config_new();
    struct m2msec_client *c = NULL;
    int ok = 0;

    if (cfg == NULL) {
        fprintf(stderr, "m2msec: out of memory\n");
        return NULL;
    }
    /* A certificate (8.3.2.2) instead of a Kpm (8.3.2.1): all three of its options. */
    if (o->cert != NULL || o->key != NULL || o->mef_ca != NULL) {
        if (o->cert == NULL || o->key == NULL || o->mef_ca == NULL || o->kpm_id != NULL ||
            o->kpm_file != NULL || o->kpm_hex != NULL) {
            fprintf(stderr, "m2msec: a certificate needs --cert, --key and --mef-ca, and no "
                            "--kpm-id/--kpm-file/--kpm\n");
            goto out;
        }
        if (o->mef == NULL || (need_state && o->state == NULL)) {
            fprintf(stderr, "m2msec: --mef%s are required\n", need_state ? " and --state" : "");
            goto out;
        }
        if (m2msec_config_set_cert(cfg, o->cert, o->key) == -1 ||
            m2msec_config_set_mef_ca(cfg, o->mef_ca) == -1) {
            fprintf(stderr, "m2msec: %s\n", m2msec_config_error(cfg));
            goto out;
        }
    } else if (o->mef == NULL || o->kpm_id == NULL ||
               (o->kpm_file == NULL) == (o->kpm_hex == NULL) || (need_state && o->state == NULL)) {
        fprintf(stderr, "m2msec: --mef, --kpm-id, one of --kpm-file/--kpm%s are required\n",
                need_state ? " and --state" : "");
        goto out;
    }
    if (m2msec_config_set_mef(cfg, o->mef) == -1 ||
        (o->sni != NULL && m2msec_config_set_sni(cfg, o->sni) == -1) ||
        (o->state != NULL && m2msec_config_set_state_dir(cfg, o->state) == -1) ||
        (o->timeout_ms != 0 && m2msec_config_set_timeout_ms(cfg, o->timeout_ms) == -1) ||
        m2msec_config_set_indications(cfg, ind_cert, ind_maf, ind_rm) == -1 ||
        (o->ibc && m2msec_config_set_ibc(cfg, o->ibc_id1) == -1)) {
        fprintf(stderr, "m2msec: %s\n", m2msec_config_error(cfg));
        goto out;
    }
    if (o->cert != NULL) {
        /* configured above */
    } else if (o->kpm_file != NULL) {
        if (m2msec_config_set_kpm_file(cfg, o->kpm_id, o->kpm_file) == -1) {
            fprintf(stderr, "m2msec: Kpm: %s\n", m2msec_config_error(cfg));
            goto out;
        }
    } else {
        /* Decode hex here: the public API takes bytes. */
        size_t n = strlen(o->kpm_hex), i;
        unsigned char key[64];

        if (n == 0 || n % 2 != 0 || n / 2 > sizeof(key)) {
            fprintf(stderr, "m2msec: --kpm must be 2..128 hex digits\n");
            goto out;
        }
        for (i = 0; i < n / 2; i++) {
            char byte[3] = { o->kpm_hex[2 * i], o->kpm_hex[2 * i + 1], '\0' };
            char *end = NULL;

            key[i] = (unsigned char)strtoul(byte, &end, 16);
            if (*end != '\0' || byte[0] == '-' || byte[0] == '+' || byte[0] == ' ') {
                fprintf(stderr, "m2msec: --kpm is not hex\n");
                memset(key, 0, sizeof(key));
                goto out;
            }
        }
        i = n / 2;
        if (m2msec_config_set_kpm(cfg, o->kpm_id, key, i) == -1) {
            fprintf(stderr, "m2msec: Kpm: %s\n", m2msec_config_error(cfg));
            memset(key, 0, sizeof(key));
            goto out;
        }
        memset(key, 0, sizeof(key));
    }
    c = m2msec_client_new();
    if (c == NULL || m2msec_client_configure(c, cfg) == -1) {
        fprintf(stderr, "m2msec: cannot create client\n");
        m2msec_client_free(c);
        c = NULL;
        goto out;
    }
    if (!o->quiet && !o->json) {
        m2msec_client_set_step_cb(c, on_step, NULL);
    }
    ok = 1;
out:
    m2msec_config_free(cfg);
    return ok ? c : NULL;
}

static int
cmd_enrol(const struct common *o, int ind_cert, int ind_maf, int ind_rm)
{
    struct m2msec_client *c = make_client(o, ind_cert, ind_maf, ind_rm, 1);
    char ts[32];
    size_t i;

    if (c == NULL) {
        return 1;
    }
    if (!o->quiet && !o->json) {
        fprintf(stderr, "enrolling with MEF %s\n", o->mef);
    }
    if (m2msec_client_enrol(c) == -1) {
        int rv = fail_client("enrolment", c);

        m2msec_client_free(c);
        return rv;
    }
    fmt_time(m2msec_client_ke_expires(c), ts);
    if (o->json) {
        printf("{\"keid\":");
        json_str(stdout, m2msec_client_keid(c));
        printf(",\"expires\":");
        json_str(stdout, ts);
        printf(",\"expires_epoch\":%lld,\"enrolee_id\":", (long long)m2msec_client_ke_expires(c));
        json_str(stdout, m2msec_client_enrolee_id(c));
        printf(",\"instructions\":[");
        for (i = 0; i < m2msec_client_instruction_count(c); i++) {
            printf("%s{\"type\":", i > 0 ? "," : "");
            json_str(stdout, m2msec_client_instruction_type(c, i));
            printf(",\"uri\":");
            json_str(stdout, m2msec_client_instruction_uri(c, i));
            printf("}");
        }
        printf("]");
        if (m2msec_client_ibc_id1(c) != NULL) {
            printf(",\"ibc\":{\"id1\":");
            json_str(stdout, m2msec_client_ibc_id1(c));
            printf(",\"expires_epoch\":%lld}", (long long)m2msec_client_ibc_expires(c));
        }
        printf("}\n");
    } else {
        printf("enrolled: keid=%s expires=%s enrolee-id=%s\n", m2msec_client_keid(c), ts,
               m2msec_client_enrolee_id(c) != NULL ? m2msec_client_enrolee_id(c) : "-");
        if (m2msec_client_ibc_id1(c) != NULL) {
            fmt_time(m2msec_client_ibc_expires(c), ts);
            printf("ibc credential: id1=%s expires=%s\n", m2msec_client_ibc_id1(c), ts);
        }
    }
    /* Ke is enrolled either way; the IBC credential that was asked for is not. */
    if (o->ibc && m2msec_client_ibc_id1(c) == NULL) {
        fprintf(stderr, "m2msec: no IBC credential was issued (the ibcEnrolment report says "
                        "why; without an instruction the MEF has no PKG)\n");
        m2msec_client_free(c);
        return 1;
    }
    m2msec_client_free(c);
    return 0;
}

/* @spec seed 002 x.1.2.1.2 the PKI-based bootstrap, field node side. */
static int
cmd_bootstrap(const struct common *o)
{
    struct m2msec_client *c = NULL;
    char ts[32];

    if (o->cert == NULL) {
        fprintf(stderr, "m2msec: bootstrap needs --cert, --key and --mef-ca\n");
        return 2;
    }
    c = make_client(o, 0, 1, 1, 1);
    if (c == NULL) {
        return 1;
    }
    if (!o->quiet && !o->json) {
        fprintf(stderr, "bootstrapping with MEF %s\n", o->mef);
    }
    if (m2msec_client_bootstrap(c) == -1) {
        int rv = fail_client("bootstrap", c);

        m2msec_client_free(c);
        return rv;
    }
    fmt_time(m2msec_client_root_expires(c), ts);
    if (o->json) {
        printf("{\"id\":");
        json_str(stdout, m2msec_client_root_id(c));
        printf(",\"expires\":");
        json_str(stdout, ts);
        printf(",\"expires_epoch\":%lld,\"purpose\":", (long long)m2msec_client_root_expires(c));
        json_str(stdout, m2msec_client_root_purpose(c));
        printf(",\"enrolee_id\":");
        json_str(stdout, m2msec_client_root_enrolee_id(c));
        printf(",\"node_id\":");
        json_str(stdout, m2msec_client_root_node_id(c));
        printf(",\"kcv\":");
        json_str(stdout, m2msec_client_root_kcv(c));
        if (o->show_wrapped) {
            printf(",\"wrapped\":");
            json_str(stdout, m2msec_client_root_wrapped(c));
        }
        printf("}\n");
    } else {
        printf("bootstrapped: id=%s expires=%s purpose=%s enrolee-id=%s node=%s kcv=%s\n",
               m2msec_client_root_id(c), ts, m2msec_client_root_purpose(c),
               m2msec_client_root_enrolee_id(c), m2msec_client_root_node_id(c),
               m2msec_client_root_kcv(c));
        if (o->show_wrapped) {
            printf("wrapped: %s\n", m2msec_client_root_wrapped(c));
        }
    }
    m2msec_client_free(c);
    return 0;
}

/* The root credentials (PKI bootstrap) and the IBC credential: JSON members, or lines. */
static void
print_state_creds(const struct m2msec_state *st, int json)
{
    const char *purpose = NULL, *id = NULL, *id1 = NULL;
    int64_t expires = 0;
    char ts[32], kcv[17];
    size_t i, n = m2msec_state_root_count(st);

    if (json) {
        printf(",\"root_credentials\":[");
    }
    for (i = 0; i < n; i++) {
        if (m2msec_state_root(st, i, &purpose, &id, &expires, kcv) == -1) {
            continue;
        }
        fmt_time(expires, ts);
        if (json) {
            printf("%s{\"purpose\":", i > 0 ? "," : "");
            json_str(stdout, purpose);
            printf(",\"id\":");
            json_str(stdout, id);
            printf(",\"expires\":");
            json_str(stdout, ts);
            printf(",\"kcv\":");
            json_str(stdout, kcv);
            printf("}");
        } else {
            printf("root purpose=%s id=%s expires=%s kcv=%s\n", purpose, id, ts, kcv);
        }
    }
    id1 = m2msec_state_ibc_id1(st, &expires);
    if (id1 != NULL) {
        fmt_time(expires, ts);
    }
    if (json) {
        printf("],\"ibc\":");
        if (id1 != NULL) {
            printf("{\"id1\":");
            json_str(stdout, id1);
            printf(",\"expires\":");
            json_str(stdout, ts);
            printf("}");
        } else {
            printf("null");
        }
    } else if (id1 != NULL) {
        printf("ibc id1=%s expires=%s\n", id1, ts);
    }
}

static int
cmd_state(const struct common *o, const char *derive, int legacy)
{
    const char *err = NULL, *target = NULL;
    struct m2msec_state *st;
    char ts[32], kcv[17] = "", dkcv[17] = "";
    unsigned long long suid = 0;
    int has_kcv, has_dkcv = 0;

    if (o->state == NULL) {
        fprintf(stderr, "m2msec: --state DIR is required\n");
        return 2;
    }
    if (derive != NULL) {
        const char *colon = strchr(derive, ':');
        char num[8];

        if (colon == NULL || colon == derive || (size_t)(colon - derive) >= sizeof(num) ||
            colon[1] == '\0') {
            fprintf(stderr, "m2msec: --derive takes SUID:TARGET-ID, e.g. 21:maf.example.com\n");
            return 2;
        }
        memcpy(num, derive, (size_t)(colon - derive));
        num[colon - derive] = '\0';
        if (parse_uint(num, 99, &suid) == -1) {
            fprintf(stderr, "m2msec: --derive: '%s' is not a SUID\n", num);
            return 2;
        }
        target = colon + 1;
    }
    st = m2msec_state_open(o->state, &err);
    if (st == NULL) {
        fprintf(stderr, "m2msec: %s\n", err != NULL ? err : "cannot open state");
        return 1;
    }
    fmt_time(m2msec_state_ke_expires(st), ts);
    has_kcv = m2msec_state_ke_kcv(st, kcv) == 0;
    if (target != NULL && has_kcv) {
        if (m2msec_state_derived_kcv(st, (unsigned)suid, target, legacy, dkcv) == -1) {
            fprintf(stderr, "m2msec: cannot derive a key for SUID %llu and '%s'%s\n", suid, target,
                    legacy ? " (legacy forms exist for SUID 21 and 22 only)" : "");
            m2msec_state_free(st);
            return 1;
        }
        has_dkcv = 1;
    }
    if (o->json) {
        printf("{\"keid\":");
        if (m2msec_state_keid(st) != NULL) {
            json_str(stdout, m2msec_state_keid(st));
        } else {
            printf("null");
        }
        printf(",\"expires\":");
        json_str(stdout, ts);
        printf(",\"expired\":%s,\"kcv\":", m2msec_state_ke_expired(st) ? "true" : "false");
        if (has_kcv) {
            json_str(stdout, kcv);
        } else {
            printf("null");
        }
        if (has_dkcv) {
            printf(",\"derived\":{\"suid\":%llu,\"target\":", suid);
            json_str(stdout, target);
            printf(",\"legacy\":%s,\"kcv\":", legacy ? "true" : "false");
            json_str(stdout, dkcv);
            printf("}");
        }
        print_state_creds(st, 1);
        printf("}\n");
    } else {
        if (m2msec_state_keid(st) != NULL) {
            printf("keid=%s expires=%s kcv=%s\n", m2msec_state_keid(st), ts, kcv);
            if (has_dkcv) {
                printf("derived suid=%llu target=%s%s kcv=%s\n", suid, target,
                       legacy ? " (legacy)" : "", dkcv);
            }
        } else if (m2msec_state_ke_expired(st)) {
            printf("enrolment expired at %s: Ke erased, re-provision with 'm2msec enrol'\n", ts);
        } else {
            printf("not enrolled\n");
        }
        print_state_creds(st, 0);
    }
    m2msec_state_free(st);
    return 0;
}

static int
cmd_mef(const char *sub, const struct common *o, const char *admin, const char *reg_id,
        unsigned long long lifetime, int has_lifetime)
{
    struct m2msec_client *c = make_client(o, 0, 1, 1, 0);
    struct m2msec_mef_reg *r = NULL;
    int64_t granted = 0;
    char ts[32];
    int rv = 1;

    if (c == NULL) {
        return 1;
    }
    if (strcmp(sub, "register") == 0) {
        if (admin == NULL) {
            fprintf(stderr, "m2msec: --admin-fqdn is required\n");
            rv = 2;
            goto out;
        }
        if (m2msec_client_mef_register(c, admin,
                                       has_lifetime ? (int64_t)time(NULL) + (int64_t)lifetime : 0,
                                       &r) == -1) {
            rv = fail_client("registration", c);
            goto out;
        }
        fmt_time(m2msec_mef_reg_expires(r), ts);
        if (o->json) {
            printf("{\"reg_id\":");
            json_str(stdout, m2msec_mef_reg_id(r));
            printf(",\"client_id\":");
            json_str(stdout, m2msec_mef_reg_client_id(r));
            printf(",\"admin_fqdn\":");
            json_str(stdout, m2msec_mef_reg_admin_fqdn(r));
            printf(",\"expires\":");
            json_str(stdout, ts);
            printf("}\n");
        } else {
            printf("registered: reg-id=%s client-id=%s expires=%s\n", m2msec_mef_reg_id(r),
                   m2msec_mef_reg_client_id(r), ts);
        }
    } else if (reg_id == NULL) {
        fprintf(stderr, "m2msec: --reg-id is required\n");
        rv = 2;
        goto out;
    } else if (strcmp(sub, "config") == 0) {
        if (m2msec_client_mef_config(c, reg_id, &r) == -1) {
            rv = fail_client("configuration retrieval", c);
            goto out;
        }
        printf("%s\n", m2msec_mef_reg_config_json(r));
    } else if (strcmp(sub, "update") == 0) {
        if (!has_lifetime) {
            fprintf(stderr, "m2msec: --lifetime is required\n");
            rv = 2;
            goto out;
        }
        if (m2msec_client_mef_update(c, reg_id, (int64_t)time(NULL) + (int64_t)lifetime,
                                     &granted) == -1) {
            rv = fail_client("registration update", c);
            goto out;
        }
        fmt_time(granted, ts);
        printf(o->json ? "{\"expires\":\"%s\"}\n" : "updated: expires=%s\n", ts);
    } else if (strcmp(sub, "deregister") == 0) {
        if (m2msec_client_mef_deregister(c, reg_id) == -1) {
            rv = fail_client("de-registration", c);
            goto out;
        }
        printf(o->json ? "{\"deregistered\":true}\n" : "deregistered\n");
    } else {
        fprintf(stderr, "m2msec: unknown mef command '%s'\n", sub);
        rv = 2;
        goto out;
    }
    rv = 0;
out:
    m2msec_mef_reg_free(r);
    m2msec_client_free(c);
    return rv;
}

/* MAF key procedure options (`m2msec maf keyreg|keyget|keyupdate|keydel`). */
#define CLI_TARGETS_MAX 16
struct maf_key_opts {
    const char *targets[CLI_TARGETS_MAX];
    size_t ntargets;
    unsigned suid;
    const char *key_id;
    unsigned long long lifetime;
};

static void
print_maf_key(const struct common *o, const struct m2msec_maf_key *k, int retrieved)
{
    char ts[32];

    fmt_time(m2msec_maf_key_expires(k), ts);
    if (o->json) {
        printf("{\"key_id\":");
        json_str(stdout, m2msec_maf_key_id(k));
        printf(",\"source_id\":");
        json_str(stdout, m2msec_maf_key_source_id(k));
        printf(",\"suid\":%u,\"expires\":", m2msec_maf_key_suid(k));
        json_str(stdout, ts);
        printf(",\"kcv\":");
        json_str(stdout, m2msec_maf_key_kcv(k));
        printf("}\n");
    } else if (retrieved) {
        printf("retrieved: key-id=%s source-id=%s suid=%u expires=%s kcv=%s\n",
               m2msec_maf_key_id(k), m2msec_maf_key_source_id(k), m2msec_maf_key_suid(k), ts,
               m2msec_maf_key_kcv(k));
    } else {
        printf("key registered: key-id=%s expires=%s kcv=%s\n", m2msec_maf_key_id(k), ts,
               m2msec_maf_key_kcv(k));
    }
}

/* `maf keyupdate|keydel` (TS-0003 8.8.2.9, 8.8.2.10): what changed, never a key. */
static int
cmd_maf_key_modify(const char *sub, const struct common *o, const struct maf_key_opts *ko,
                   struct m2msec_client *c)
{
    int64_t granted = 0;
    char ts[32];

    if (strcmp(sub, "keydel") == 0) {
        if (m2msec_client_maf_keydel(c, ko->key_id) == -1) {
            return fail_client("MAF key de-registration", c);
        }
        printf(o->json ? "{\"deregistered\":true}\n" : "deregistered\n");
        return 0;
    }
    if (m2msec_client_maf_keyupdate(c, ko->key_id, ko->lifetime, ko->targets, ko->ntargets, NULL, 0,
                                    0, &granted) == -1) {
        return fail_client("MAF key update", c);
    }
    fmt_time(granted, ts);
    if (o->json) {
        printf("{\"updated\":true,\"expires\":");
        if (granted != 0) {
            json_str(stdout, ts);
        } else {
            printf("null");
        }
        printf("}\n");
    } else {
        printf("updated%s%s\n", granted != 0 ? ": expires=" : "", granted != 0 ? ts : "");
    }
    return 0;
}

static int
cmd_maf_key(const char *sub, const struct common *o, const struct maf_key_opts *ko,
            struct m2msec_client *c)
{
    struct m2msec_maf_key *k = NULL;
    int keyreg = strcmp(sub, "keyreg") == 0;
    int rv;

    if (strcmp(sub, "keyupdate") == 0 || strcmp(sub, "keydel") == 0) {
        return cmd_maf_key_modify(sub, o, ko, c);
    }
    if (keyreg) {
        rv = m2msec_client_maf_keyreg_ex(c, ko->targets, ko->ntargets, ko->suid, ko->lifetime, &k);
    } else {
        rv = m2msec_client_maf_keyget(c, ko->key_id, &k);
    }
    if (rv == -1) {
        return fail_client(keyreg ? "MAF key registration" : "MAF key retrieval", c);
    }
    print_maf_key(o, k, !keyreg);
    m2msec_maf_key_free(k);
    return 0;
}

/* Print a MAF registration result (register, update, config). */
static void
print_maf_reg(const struct common *o, const char *what, const struct m2msec_maf_reg *r)
{
    char ts[32], kts[32];

    fmt_time(m2msec_maf_reg_expires(r), ts);
    fmt_time(m2msec_maf_reg_km_expires(r), kts);
    if (o->json) {
        printf("{\"reg_id\":");
        json_str(stdout, m2msec_maf_reg_id(r));
        printf(",\"kmid\":");
        json_str(stdout, m2msec_maf_reg_kmid(r));
        printf(",\"km_assigned\":%s,\"client_id\":",
               m2msec_maf_reg_km_assigned(r) ? "true" : "false");
        json_str(stdout, m2msec_maf_reg_client_id(r));
        printf(",\"admin_fqdn\":");
        json_str(stdout, m2msec_maf_reg_admin_fqdn(r));
        printf(",\"expires\":");
        json_str(stdout, ts);
        printf(",\"km_expires\":");
        json_str(stdout, kts);
        printf("}\n");
    } else {
        printf("%s: reg-id=%s kmid=%s expires=%s km-expires=%s\n", what, m2msec_maf_reg_id(r),
               m2msec_maf_reg_kmid(r) != NULL ? m2msec_maf_reg_kmid(r) : "-", ts, kts);
    }
}

/* Hex text to bytes (the public API takes bytes). 0, or -1 when not 2..128 hex digits. */
static int
hex_bytes(const char *hex, unsigned char *out, size_t outsz, size_t *n)
{
    size_t len = strlen(hex), i;

    if (len == 0 || len % 2 != 0 || len / 2 > outsz) {
        return -1;
    }
    for (i = 0; i < len / 2; i++) {
        char byte[3] = { hex[2 * i], hex[2 * i + 1], '\0' };
        char *end = NULL;

        if (byte[0] == '-' || byte[0] == '+' || byte[0] == ' ') {
            return -1;
        }
        out[i] = (unsigned char)strtoul(byte, &end, 16);
        if (*end != '\0') {
            return -1;
        }
    }
    *n = len / 2;
    return 0;
}

/* `maf config|update|deregister` (TS-0003 8.8.2.4-6) on a configured client. */
static int
cmd_maf_life(const char *sub, const struct common *o, const char *reg_id, int64_t expires,
             struct m2msec_client *c)
{
    struct m2msec_maf_reg *r = NULL;
    int rv = 1;

    if (strcmp(sub, "config") == 0) {
        if (m2msec_client_maf_config(c, reg_id, &r) == -1) {
            return fail_client("MAF configuration retrieval", c);
        }
        printf("%s\n", m2msec_maf_reg_config_json(r));
    } else if (strcmp(sub, "update") == 0) {
        if (m2msec_client_maf_update(c, reg_id, expires, &r) == -1) {
            return fail_client("MAF registration update", c);
        }
        print_maf_reg(o, "updated", r);
    } else {
        if (m2msec_client_maf_deregister(c, reg_id) == -1) {
            return fail_client("MAF de-registration", c);
        }
        printf(o->json ? "{\"deregistered\":true}\n" : "deregistered\n");
    }
    rv = 0;
    m2msec_maf_reg_free(r);
    return rv;
}

/* `m2msec maf register|config|update|deregister|keyreg|keyget|keyupdate|keydel`. */
static int
cmd_maf(const char *sub, const struct common *o, const char *admin, const struct maf_key_opts *ko,
        const char *reg_id, int64_t expires)
{
    struct m2msec_config *cfg = NULL;
    struct m2msec_client *c = NULL;
    struct m2msec_maf_reg *r = NULL;
    unsigned char km[64];
    size_t kmlen = 0;
    int rv = 1;

    int keys = strcmp(sub, "keyreg") == 0 || strcmp(sub, "keyget") == 0 ||
               strcmp(sub, "keyupdate") == 0 || strcmp(sub, "keydel") == 0;
    int life = strcmp(sub, "config") == 0 || strcmp(sub, "update") == 0 ||
               strcmp(sub, "deregister") == 0;

    if (strcmp(sub, "register") != 0 && !keys && !life) {
        fprintf(stderr, "m2msec: unknown maf command '%s'\n", sub);
        return 2;
    }
    if (o->maf == NULL || o->state == NULL || (!keys && !life && admin == NULL)) {
        fprintf(stderr, "m2msec: --maf, --state and (register) --admin-fqdn are required\n");
        return 2;
    }
    if (o->kmid != NULL &&
        (strcmp(sub, "register") != 0 || (o->km_file == NULL) == (o->km_hex == NULL))) {
        fprintf(stderr, "m2msec: --kmid goes with maf register and one of --km-file/--km\n");
        return 2;
    }
    if (o->kmid == NULL && (o->km_file != NULL || o->km_hex != NULL)) {
        fprintf(stderr, "m2msec: --km-file/--km need --kmid\n");
        return 2;
    }
    if (o->km_hex != NULL && hex_bytes(o->km_hex, km, sizeof(km), &kmlen) == -1) {
        fprintf(stderr, "m2msec: --km must be 2..128 hex digits\n");
        return 2;
    }
    if (strcmp(sub, "keyreg") == 0 && (ko->ntargets == 0 || ko->suid == 0)) {
        fprintf(stderr, "m2msec: maf keyreg needs --target and --suid\n");
        return 2;
    }
    if (keys && strcmp(sub, "keyreg") != 0 && ko->key_id == NULL) {
        fprintf(stderr, "m2msec: maf %s needs --key-id\n", sub);
        return 2;
    }
    if (strcmp(sub, "keyupdate") == 0 && ko->lifetime == 0 && ko->ntargets == 0) {
        fprintf(stderr, "m2msec: maf keyupdate needs --lifetime or --target\n");
        return 2;
    }
    cfg = m2msec_config_new();
    if (cfg == NULL) {
        fprintf(stderr, "m2msec: out of memory\n");
        return 1;
    }
    if (m2msec_config_set_maf(cfg, o->maf, o->sni) == -1 ||
        m2msec_config_set_state_dir(cfg, o->state) == -1 ||
        (o->timeout_ms != 0 && m2msec_config_set_timeout_ms(cfg, o->timeout_ms) == -1)) {
        fprintf(stderr, "m2msec: %s\n", m2msec_config_error(cfg));
        goto out;
    }
    c = m2msec_client_new();
    if (c == NULL || m2msec_client_configure(c, cfg) == -1) {
        fprintf(stderr, "m2msec: cannot create client\n");
        goto out;
    }
    if (!o->quiet && !o->json) {
        m2msec_client_set_step_cb(c, on_step, NULL);
    }
    if (keys) {
        rv = cmd_maf_key(sub, o, ko, c);
        goto out;
    }
    if (life) {
        rv = cmd_maf_life(sub, o, reg_id, expires, c);
        goto out;
    }
    /* A pre-provisioned KmID/Km is stored first, then registered with (TS-0003 8.8.3.1). */
    if (o->kmid != NULL &&
        (o->km_file != NULL ? m2msec_client_maf_set_km_file(c, o->kmid, o->km_file)
                            : m2msec_client_maf_set_km(c, o->kmid, km, kmlen)) == -1) {
        rv = fail_client("pre-provisioned Km", c);
        goto out;
    }
    if (m2msec_client_maf_register(c, admin, &r) == -1) {
        rv = fail_client("MAF registration", c);
        goto out;
    }
    print_maf_reg(o, "registered", r);
    rv = 0;
out:
    memset(km, 0, sizeof(km));
    m2msec_maf_reg_free(r);
    m2msec_client_free(c);
    m2msec_config_free(cfg);
    return rv;
}

int
main(int argc, char **argv)
{
    struct common o = { 0 };
    struct maf_key_opts ko = { 0 };
    const char *cmd, *sub = NULL, *admin = NULL, *reg_id = NULL, *derive = NULL;
    unsigned long long v = 0, lifetime = 0;
    int ch, has_lifetime = 0, ind_maf = 1, ind_rm = 1, ind_cert = 0, skip = 1, legacy = 0;

    if (argc > 1 && (strcmp(argv[1], "connect") == 0 || strcmp(argv[1], "cse") == 0)) {
        return cli_sa_main(argc, argv);
    }
    if (argc > 1 && strcmp(argv[1], "ibc") == 0) {
        return cli_ibc_main(argc, argv);
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "mef") == 0 || strcmp(cmd, "maf") == 0) {
        if (argc < 3) {
            usage(stderr);
            return 2;
        }
        sub = argv[2];
        skip = 2;
    }
    if (strcmp(cmd, "mef") == 0 && strncmp(sub, "key", 3) == 0) {
        int cli_mef_key_main(int, char **); /* cli/mefkey.c: MEF key procedures, own options */
        return cli_mef_key_main(argc - 2, argv + 2);
    }
    while ((ch = getopt_long(argc - skip, argv + skip, "", common_opts, NULL)) != -1) {
        switch (ch) {
        case OPT_MEF:
            o.mef = optarg;
            break;
        case OPT_KPM_ID:
            o.kpm_id = optarg;
            break;
        case OPT_KPM_FILE:
            o.kpm_file = optarg;
            break;
        case OPT_KPM:
            o.kpm_hex = optarg;
            break;
        case OPT_SNI:
            o.sni = optarg;
            break;
        case OPT_STATE:
            o.state = optarg;
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, 600000, &v) == -1) {
                fprintf(stderr, "m2msec: --timeout takes milliseconds\n");
                return 2;
            }
            o.timeout_ms = (unsigned)v;
            break;
        case OPT_JSON:
            o.json = 1;
            break;
        case OPT_QUIET:
            o.quiet = 1;
            break;
        case OPT_ADMIN:
            admin = optarg;
            break;
        case OPT_LIFETIME:
            if (parse_uint(optarg, 315360000ULL, &lifetime) == -1 || lifetime == 0) {
                fprintf(stderr, "m2msec: --lifetime takes seconds (1..315360000)\n");
                return 2;
            }
            has_lifetime = 1;
            break;
        case OPT_REG_ID:
            reg_id = optarg;
            break;
        case OPT_NO_MAF:
            ind_maf = 0;
            break;
        case OPT_NO_RM:
            ind_rm = 0;
            break;
        case OPT_CERT:
            ind_cert = 1;
            break;
        case OPT_DERIVE:
            derive = optarg;
            break;
        case OPT_LEGACY:
            legacy = 1;
            break;
        case OPT_MAF:
            o.maf = optarg;
            break;
        case OPT_TARGET:
            if (ko.ntargets == CLI_TARGETS_MAX) {
                fprintf(stderr, "m2msec: at most %d --target\n", CLI_TARGETS_MAX);
                return 2;
            }
            ko.targets[ko.ntargets++] = optarg;
            break;
        case OPT_SUID:
            if (parse_uint(optarg, 99, &v) == -1) {
                fprintf(stderr, "m2msec: --suid takes a number (32..35)\n");
                return 2;
            }
            ko.suid = (unsigned)v;
            break;
        case OPT_KEY_ID:
            ko.key_id = optarg;
            break;
        case OPT_KMID:
            o.kmid = optarg;
            break;
        case OPT_KM_FILE:
            o.km_file = optarg;
            break;
        case OPT_KM:
            o.km_hex = optarg;
            break;
        case OPT_CERT_FILE:
            o.cert = optarg;
            break;
        case OPT_KEY_FILE:
            o.key = optarg;
            break;
        case OPT_MEF_CA:
            o.mef_ca = optarg;
            break;
        case OPT_SHOW_WRAPPED:
            o.show_wrapped = 1;
            break;
        case OPT_IBC:
            /* "--ibc ID1", "--ibc=ID1", or "--ibc" alone for the Enrolee-ID. */
            o.ibc = 1;
            o.ibc_id1 = optarg;
            if (optarg == NULL && optind < argc - skip && argv[skip + optind][0] != '-') {
                o.ibc_id1 = argv[skip + optind++];
            }
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - skip) {
        fprintf(stderr, "m2msec: unexpected argument '%s'\n", argv[skip + optind]);
        return 2;
    }
    if (strcmp(cmd, "enrol") == 0) {
        return cmd_enrol(&o, ind_cert, ind_maf, ind_rm);
    }
    if (strcmp(cmd, "state") == 0) {
        return cmd_state(&o, derive, legacy);
    }
    if (strcmp(cmd, "bootstrap") == 0) {
        return cmd_bootstrap(&o);
    }
    if (strcmp(cmd, "mef") == 0) {
        return cmd_mef(sub, &o, admin, reg_id, lifetime, has_lifetime);
    }
    if (strcmp(cmd, "maf") == 0) {
        ko.lifetime = has_lifetime ? lifetime : 0;
        return cmd_maf(sub, &o, admin, &ko, reg_id,
                       has_lifetime ? (int64_t)time(NULL) + (int64_t)lifetime : 0);
    }
    fprintf(stderr, "m2msec: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
