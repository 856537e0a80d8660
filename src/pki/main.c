/*
 * pki/main.c - m2msec-pki, the development PKI generator: roots (manufacturer,
 * enterprise, vertical), device / Node-ID / FQDN / CSE-ID / AE-ID / client
 * certificates, bare P-256 keys for RFC 7250, CRLs, and RFC 6920 key names.
 *
 * Layer: program on the internal tls/pki layer (tls/x509.h); no GnuTLS here.
 * Everything is ECDSA P-256 / ECDSA-SHA256 with the TS-0003 10.1.1 profiles
 * and the subjectAltName encodings of tls/certid.h. Not an operational CA:
 * keys are plain files (0600), and no file is ever replaced.
 *
 * Exit status: 0 done, 1 failed (message on stderr), 2 usage error.
 */
#define _DEFAULT_SOURCE /* mkdir mode with umask, getopt_long */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "pki.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/error.h"

#define DEFAULT_CA_DAYS 3650u
#define DEFAULT_DAYS    365u
#define DEFAULT_CRL     30u
#define CONSTRAINTS_MAX 16
#define REVOKE_MAX      256
#define PATH_LEN        4096

enum {
    OPT_OUT = 256,
    OPT_NAME,
    OPT_DAYS,
    OPT_NC,
    OPT_CA,
    OPT_PROFILE,
    OPT_ID,
    OPT_EXPIRED,
    OPT_REVOKE,
    OPT_HELP,
};

static const struct option options[] = {
    { "out", required_argument, NULL, OPT_OUT },
    { "name", required_argument, NULL, OPT_NAME },
    { "days", required_argument, NULL, OPT_DAYS },
    { "name-constraint", required_argument, NULL, OPT_NC },
    { "ca", required_argument, NULL, OPT_CA },
    { "profile", required_argument, NULL, OPT_PROFILE },
    { "id", required_argument, NULL, OPT_ID },
    { "expired", no_argument, NULL, OPT_EXPIRED },
    { "revoke", required_argument, NULL, OPT_REVOKE },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

struct args {
    const char *out;
    const char *name;
    const char *ca;
    const char *profile;
    const char *id;
    unsigned days;
    int have_days;
    int expired;
    const char *nc[CONSTRAINTS_MAX];
    size_t n_nc;
    const char *revoke[REVOKE_MAX];
    size_t n_revoke;
};

static const char usage_text[] =
        "usage: m2msec-pki COMMAND [OPTIONS]\n"
        "\n"
        "A development PKI for m2msec (TS-0003 10.1.1 profiles, ECDSA P-256, SHA-256).\n"
        "Existing files are never overwritten.\n"
        "\n"
        "  ca     --out DIR --name NAME [--days N] [--name-constraint DNS:domain]...\n"
        "         self-signed root: DIR/ca.pem, DIR/ca.key (DIR is created if missing)\n"
        "  issue  --ca DIR --profile PROFILE --id ID --out PREFIX [--days N] [--expired]\n"
        "         end-entity certificate PREFIX.pem and key PREFIX.key; PROFILE and ID:\n"
        "           fqdn     an FQDN (MEF/MAF), SAN dNSName\n"
        "           cse-id   the public domain name form of a CSE-ID, SAN dNSName\n"
        "           ae-id    an Absolute AE-ID URI, scheme://sp-fqdn/ae-id, SAN URI\n"
        "           node-id  a Node-ID: dotted OID (SAN URI urn:oid:OID) or a URI\n"
        "           device   an OID M2M Device ID " M2MSEC_M2M_DEVICE_INDICATION_OID
        ".MANUFACTURER.MODEL.SERIAL[.EXPANDED],\n"
        "                    SAN otherName\n"
        "           client   an FQDN, SAN dNSName, clientAuth only\n"
        "         --expired: valid from 10 days ago until yesterday (negative tests)\n"
        "  rawkey --out PREFIX\n"
        "         bare P-256 key for RFC 7250: PREFIX.key, PREFIX.pub; prints its RFC 6920 id\n"
        "  crl    --ca DIR --revoke CERT [--revoke CERT]... --out FILE [--days N]\n"
        "         CRL signed by the CA listing the given certificates\n"
        "  keyid  FILE\n"
        "         RFC 6920 ni:///sha-256 name of the key in a certificate, public or private key\n"
        "\n"
        "Diagnostics: one TLS 1.2 handshake each with m2msec's peer verification; prints\n"
        "\"verified FLAVOUR IDENTITY CREDENTIAL-ID SUITE\" or the reason for refusing.\n"
        "  serve   --listen ADDR:PORT --key KEY [--cert CHAIN] [--count N] [--port-file F]\n"
        "          [--no-client-cert | --peer-flavour F [--peer-id ID]... [--peer-ca FILE]...\n"
        "          [--peer-crl FILE]...]\n"
        "  connect HOST:PORT --peer-flavour F [--peer-id ID]... [--peer-ca FILE]...\n"
        "          [--peer-crl FILE]... [--sni NAME] [--key KEY [--cert CHAIN]]\n"
        "          F: any, fqdn, cse-id, ae-id, node-id, device, raw. KEY alone is an RFC 7250\n"
        "          raw public key; KEY may be a pkcs11: URL (PIN: pin-value or "
        "M2MSEC_PKCS11_PIN).\n"
        "\n"
        "Days default to 3650 (ca), 365 (issue) and 30 (crl). See m2msec-pki(1).\n";

static void
usage(FILE *f)
{
    fputs(usage_text, f);
}

static int usage_error(const char *fmt, ...) M2MSEC_PRINTF(1, 2);

static int
usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("m2msec-pki: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(m2msec-pki --help for usage)\n", stderr);
    return 2;
}

static int
fail(const struct m2msec_error *err)
{
    fprintf(stderr, "m2msec-pki: %s\n", err->msg);
    return 1;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
    uint64_t v = 0;
    int ch;

    memset(a, 0, sizeof(*a));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (ch) {
        case OPT_OUT:
            a->out = optarg;
            break;
        case OPT_NAME:
            a->name = optarg;
            break;
        case OPT_DAYS:
            if (m2msec_parse_u64(optarg, strlen(optarg), M2MSEC_PKI_DAYS_MAX, &v) != 0 || v == 0) {
                return usage_error("--days: \"%s\" is not a number of days in 1..36500", optarg);
            }
            a->days = (unsigned)v;
            a->have_days = 1;
            break;
        case OPT_NC:
            if (a->n_nc == CONSTRAINTS_MAX) {
                return usage_error("too many --name-constraint");
            }
            /* @spec TS-0003 8.1.2.2 dNSName subtrees (FQDN, CSE-ID, AE-ID host). */
            if (strncmp(optarg, "DNS:", 4) != 0 || optarg[4] == '\0') {
                return usage_error("--name-constraint \"%s\": only DNS:domain is supported",
                                   optarg);
            }
            a->nc[a->n_nc++] = optarg + 4;
            break;
        case OPT_CA:
            a->ca = optarg;
            break;
        case OPT_PROFILE:
            a->profile = optarg;
            break;
        case OPT_ID:
            a->id = optarg;
            break;
        case OPT_EXPIRED:
            a->expired = 1;
            break;
        case OPT_REVOKE:
            if (a->n_revoke == REVOKE_MAX) {
                return usage_error("too many --revoke");
            }
            a->revoke[a->n_revoke++] = optarg;
            break;
        case OPT_HELP:
            usage(stdout);
            return 1;
        default:
            return usage_error("unknown option");
        }
    }
    return 0;
}

/* "base" + "suffix" into out; -1 when it does not fit. */
static int
join(char *out, size_t outsz, const char *base, const char *suffix)
{
    int n = snprintf(out, outsz, "%s%s", base, suffix);

    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static int
cmd_ca(const struct args *a)
{
    struct m2msec_error err;
    char cert[PATH_LEN];
    char key[PATH_LEN];

    m2msec_error_clear(&err);
    if (a->out == NULL || a->name == NULL) {
        return usage_error("ca needs --out DIR and --name NAME");
    }
    if (a->ca != NULL || a->profile != NULL || a->id != NULL || a->expired || a->n_revoke > 0) {
        return usage_error("ca takes --out, --name, --days and --name-constraint only");
    }
    if (join(cert, sizeof(cert), a->out, "/ca.pem") != 0 ||
        join(key, sizeof(key), a->out, "/ca.key") != 0) {
        return usage_error("--out \"%s\" is too long", a->out);
    }
    if (mkdir(a->out, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "m2msec-pki: cannot create %s: %s\n", a->out, strerror(errno));
        return 1;
    }
    if (m2msec_pki_ca_create_constrained(cert, key, a->name,
                                         a->have_days ? a->days : DEFAULT_CA_DAYS, a->nc, a->n_nc,
                                         &err) != 0) {
        return fail(&err);
    }
    printf("%s\n%s\n", cert, key);
    return 0;
}

static int
profile_of(const char *name, enum m2msec_pki_profile *p)
{
    static const struct {
        const char *name;
        enum m2msec_pki_profile p;
    } profiles[] = {
        { "fqdn", M2MSEC_PKI_PROFILE_FQDN },     { "cse-id", M2MSEC_PKI_PROFILE_CSE_ID },
        { "ae-id", M2MSEC_PKI_PROFILE_AE_ID },   { "node-id", M2MSEC_PKI_PROFILE_NODE_ID },
        { "device", M2MSEC_PKI_PROFILE_DEVICE }, { "client", M2MSEC_PKI_PROFILE_CLIENT },
    };
    size_t i;

    for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
        if (strcmp(name, profiles[i].name) == 0) {
            *p = profiles[i].p;
            return 0;
        }
    }
    return -1;
}

static int
cmd_issue(const struct args *a)
{
    struct m2msec_error err;
    enum m2msec_pki_profile p = M2MSEC_PKI_PROFILE_FQDN;
    char cacert[PATH_LEN];
    char cakey[PATH_LEN];
    char cert[PATH_LEN];
    char key[PATH_LEN];

    m2msec_error_clear(&err);
    if (a->ca == NULL || a->profile == NULL || a->id == NULL || a->out == NULL) {
        return usage_error("issue needs --ca DIR, --profile, --id and --out PREFIX");
    }
    if (a->name != NULL || a->n_nc > 0 || a->n_revoke > 0) {
        return usage_error("issue takes --ca, --profile, --id, --out, --days and --expired");
    }
    if (profile_of(a->profile, &p) != 0) {
        return usage_error("unknown --profile \"%s\" (fqdn, cse-id, ae-id, node-id, device, "
                           "client)",
                           a->profile);
    }
    if (join(cacert, sizeof(cacert), a->ca, "/ca.pem") != 0 ||
        join(cakey, sizeof(cakey), a->ca, "/ca.key") != 0 ||
        join(cert, sizeof(cert), a->out, ".pem") != 0 ||
        join(key, sizeof(key), a->out, ".key") != 0) {
        return usage_error("path too long");
    }
    if (m2msec_pki_issue_profile(cacert, cakey, p, a->id, cert, key,
                                 a->have_days ? a->days : DEFAULT_DAYS, a->expired, &err) != 0) {
        return fail(&err);
    }
    printf("%s\n%s\n", cert, key);
    return 0;
}

static int
cmd_rawkey(const struct args *a)
{
    struct m2msec_error err;
    char key[PATH_LEN];
    char pub[PATH_LEN];
    char id[M2MSEC_NI_SHA256_LEN];

    m2msec_error_clear(&err);
    if (a->out == NULL) {
        return usage_error("rawkey needs --out PREFIX");
    }
    if (a->ca != NULL || a->name != NULL || a->profile != NULL || a->id != NULL || a->expired ||
        a->have_days || a->n_nc > 0 || a->n_revoke > 0) {
        return usage_error("rawkey takes --out only");
    }
    if (join(key, sizeof(key), a->out, ".key") != 0 ||
        join(pub, sizeof(pub), a->out, ".pub") != 0) {
        return usage_error("--out \"%s\" is too long", a->out);
    }
    if (m2msec_pki_rawkey_create(key, pub, id, sizeof(id), &err) != 0) {
        return fail(&err);
    }
    printf("%s\n", id);
    return 0;
}

static int
cmd_crl(const struct args *a)
{
    struct m2msec_error err;
    char cacert[PATH_LEN];
    char cakey[PATH_LEN];

    m2msec_error_clear(&err);
    if (a->ca == NULL || a->out == NULL || a->n_revoke == 0) {
        return usage_error("crl needs --ca DIR, at least one --revoke CERT and --out FILE");
    }
    if (a->name != NULL || a->profile != NULL || a->id != NULL || a->expired || a->n_nc > 0) {
        return usage_error("crl takes --ca, --revoke, --out and --days only");
    }
    if (join(cacert, sizeof(cacert), a->ca, "/ca.pem") != 0 ||
        join(cakey, sizeof(cakey), a->ca, "/ca.key") != 0) {
        return usage_error("--ca \"%s\" is too long", a->ca);
    }
    if (m2msec_pki_crl_create(cacert, cakey, a->revoke, a->n_revoke, a->out,
                              a->have_days ? a->days : DEFAULT_CRL, &err) != 0) {
        return fail(&err);
    }
    printf("%s\n", a->out);
    return 0;
}

static int
cmd_keyid(int argc, char **argv)
{
    struct m2msec_error err;
    char id[M2MSEC_NI_SHA256_LEN];

    m2msec_error_clear(&err);
    if (argc != 2 || argv[1][0] == '-') {
        return usage_error("keyid takes one file (certificate, public or private key)");
    }
    if (m2msec_pki_key_id_pem(argv[1], id, sizeof(id), &err) != 0) {
        return fail(&err);
    }
    printf("%s\n", id);
    return 0;
}

int
main(int argc, char **argv)
{
    struct args a;
    const char *cmd;
    int r;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0) {
        return m2msec_pki_cmd_serve(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "connect") == 0) {
        return m2msec_pki_cmd_connect(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "keyid") == 0) {
        if (argc == 3 && strcmp(argv[2], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        return cmd_keyid(argc - 1, argv + 1);
    }
    r = parse_args(argc - 1, argv + 1, &a);
    if (r == 1) {
        return 0; /* --help */
    }
    if (r != 0) {
        return r;
    }
    if (optind != argc - 1) {
        return usage_error("unexpected argument \"%s\"", argv[optind + 1]);
    }
    if (strcmp(cmd, "ca") == 0) {
        return cmd_ca(&a);
    }
    if (strcmp(cmd, "issue") == 0) {
        return cmd_issue(&a);
    }
    if (strcmp(cmd, "rawkey") == 0) {
        return cmd_rawkey(&a);
    }
    if (strcmp(cmd, "crl") == 0) {
        return cmd_crl(&a);
    }
    return usage_error("unknown command \"%s\"", cmd);
}
