/*
 * pki/check.c - m2msec-pki serve / connect: try certificates and raw keys in
 * a real TLS 1.2 handshake with m2msec's own peer verification (TS-0003
 * 8.1.2.5), and print what the peer was verified as and its Credential-ID.
 *
 * Layer: program on tls/x509.h (no GnuTLS here). A diagnostic for checking a
 * PKI before deploying it, and what tests/integration/pki_tool.sh drives;
 * it moves no application data.
 */
#define _DEFAULT_SOURCE /* getopt_long */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pki.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/error.h"

#define LIST_MAX   16
#define TIMEOUT_MS 10000u
#define COUNT_MAX  1000u

enum {
    OPT_LISTEN = 256,
    OPT_PORT_FILE,
    OPT_COUNT,
    OPT_CERT,
    OPT_KEY,
    OPT_FLAVOUR,
    OPT_ID,
    OPT_CA,
    OPT_CRL,
    OPT_SNI,
    OPT_NO_CLIENT_CERT,
};

static const struct option options[] = {
    { "listen", required_argument, NULL, OPT_LISTEN },
    { "port-file", required_argument, NULL, OPT_PORT_FILE },
    { "count", required_argument, NULL, OPT_COUNT },
    { "cert", required_argument, NULL, OPT_CERT },
    { "key", required_argument, NULL, OPT_KEY },
    { "peer-flavour", required_argument, NULL, OPT_FLAVOUR },
    { "peer-id", required_argument, NULL, OPT_ID },
    { "peer-ca", required_argument, NULL, OPT_CA },
    { "peer-crl", required_argument, NULL, OPT_CRL },
    { "sni", required_argument, NULL, OPT_SNI },
    { "no-client-cert", no_argument, NULL, OPT_NO_CLIENT_CERT },
    { NULL, 0, NULL, 0 },
};

struct check_args {
    const char *listen;
    const char *port_file;
    unsigned count;
    const char *cert;
    const char *key;
    const char *sni;
    int no_client_cert;
    enum m2msec_cert_flavour flavour;
    const char *ids[LIST_MAX];
    size_t n_ids;
    const char *cas[LIST_MAX];
    size_t n_cas;
    const char *crls[LIST_MAX];
    size_t n_crls;
};

static int check_usage(const char *fmt, ...) M2MSEC_PRINTF(1, 2);

static int
check_usage(const char *fmt, ...)
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
flavour_of(const char *s, enum m2msec_cert_flavour *f)
{
    static const struct {
        const char *name;
        enum m2msec_cert_flavour f;
    } names[] = {
        { "any", M2MSEC_CERT_ANY },         { "fqdn", M2MSEC_CERT_FQDN },
        { "cse-id", M2MSEC_CERT_CSE_ID },   { "ae-id", M2MSEC_CERT_AE_ID },
        { "node-id", M2MSEC_CERT_NODE_ID }, { "device", M2MSEC_CERT_DEVICE },
        { "raw", M2MSEC_CERT_RAW },
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *f = names[i].f;
            return 0;
        }
    }
    return -1;
}

static const char *
flavour_str(enum m2msec_cert_flavour f)
{
    switch (f) {
    case M2MSEC_CERT_ANY:
        return "any";
    case M2MSEC_CERT_FQDN:
        return "fqdn";
    case M2MSEC_CERT_CSE_ID:
        return "cse-id";
    case M2MSEC_CERT_AE_ID:
        return "ae-id";
    case M2MSEC_CERT_NODE_ID:
        return "node-id";
    case M2MSEC_CERT_DEVICE:
        return "device";
    case M2MSEC_CERT_RAW:
        return "raw";
    case M2MSEC_CERT_UNSET:
    default:
        return "none";
    }
}

static int
add(const char **list, size_t *n, const char *v, const char *what)
{
    if (*n == LIST_MAX) {
        return check_usage("too many %s", what);
    }
    list[(*n)++] = v;
    return 0;
}

static int
parse(int argc, char **argv, struct check_args *a)
{
    uint64_t v = 0;
    int ch;

    memset(a, 0, sizeof(*a));
    a->count = 1;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (ch) {
        case OPT_LISTEN:
            a->listen = optarg;
            break;
        case OPT_PORT_FILE:
            a->port_file = optarg;
            break;
        case OPT_COUNT:
            if (m2msec_parse_u64(optarg, strlen(optarg), COUNT_MAX, &v) != 0 || v == 0) {
                return check_usage("--count: \"%s\" not in 1..%u", optarg, COUNT_MAX);
            }
            a->count = (unsigned)v;
            break;
        case OPT_CERT:
            a->cert = optarg;
            break;
        case OPT_KEY:
            a->key = optarg;
            break;
        case OPT_FLAVOUR:
            if (flavour_of(optarg, &a->flavour) != 0) {
                return check_usage("--peer-flavour \"%s\": any, fqdn, cse-id, ae-id, node-id, "
                                   "device or raw",
                                   optarg);
            }
            break;
        case OPT_ID:
            if (add(a->ids, &a->n_ids, optarg, "--peer-id") != 0) {
                return 2;
            }
            break;
        case OPT_CA:
            if (add(a->cas, &a->n_cas, optarg, "--peer-ca") != 0) {
                return 2;
            }
            break;
        case OPT_CRL:
            if (add(a->crls, &a->n_crls, optarg, "--peer-crl") != 0) {
                return 2;
            }
            break;
        case OPT_SNI:
            a->sni = optarg;
            break;
        case OPT_NO_CLIENT_CERT:
            a->no_client_cert = 1;
            break;
        default:
            return check_usage("unknown option");
        }
    }
    if (optind != argc) {
        return check_usage("unexpected argument \"%s\"", argv[optind]);
    }
    return 0;
}

static void
fill_info(struct m2msec_cert_info *ci, const struct check_args *a)
{
    memset(ci, 0, sizeof(*ci));
    ci->flavour = a->flavour;
    ci->id = a->n_ids > 0 ? a->ids[0] : NULL;
    ci->ids = a->n_ids > 1 ? a->ids + 1 : NULL;
    ci->n_ids = a->n_ids > 1 ? a->n_ids - 1 : 0;
    ci->ca_files = a->cas;
    ci->n_ca_files = a->n_cas;
    ci->crl_files = a->crls;
    ci->n_crl_files = a->n_crls;
}

/* "verified FLAVOUR IDENTITY CREDENTIAL-ID" ("-" for what the peer has none of). */
static void
report(const char *what, struct m2msec_tls_conn *c)
{
    enum m2msec_cert_flavour f = M2MSEC_CERT_UNSET;
    const char *id = m2msec_tls_peer_identity(c, &f);
    char cred[M2MSEC_CERT_CRED_ID_MAX];

    if (m2msec_tls_peer_credential_id(c, M2MSEC_CERT_UNSET, cred, sizeof(cred), NULL) != 0) {
        (void)m2msec_strlcpy(cred, "-", sizeof(cred));
    }
    printf("%s %s %s %s %s\n", what, flavour_str(f), id != NULL ? id : "-", cred,
           m2msec_tls_cipher(c));
    fflush(stdout);
}

int
m2msec_pki_cmd_serve(int argc, char **argv)
{
    struct check_args a;
    struct m2msec_tls_cert_opts o;
    struct m2msec_tls_cert_server *srv = NULL;
    struct m2msec_tls_conn *c;
    struct m2msec_error err;
    char bound[64];
    unsigned i;
    FILE *pf;
    int lfd = -1;
    int fd;
    int rv = 1;
    int r;

    r = parse(argc, argv, &a);
    if (r != 0) {
        return r;
    }
    m2msec_error_clear(&err);
    if (a.listen == NULL || a.key == NULL || a.sni != NULL) {
        return check_usage("serve needs --listen ADDR:PORT and --key (with --cert, or alone for "
                           "a raw public key); --sni is for connect");
    }
    memset(&o, 0, sizeof(o));
    o.cert_file = a.cert;
    o.key_file = a.key;
    o.require_client_cert = !a.no_client_cert;
    if (o.require_client_cert) {
        fill_info(&o.client, &a);
    }
    srv = m2msec_tls_cert_server_new(&o, &err);
    if (srv == NULL) {
        fprintf(stderr, "m2msec-pki: %s\n", err.msg);
        goto out;
    }
    lfd = m2msec_tcp_listen(a.listen, 16, bound, sizeof(bound), &err);
    if (lfd < 0) {
        fprintf(stderr, "m2msec-pki: %s\n", err.msg);
        goto out;
    }
    printf("listening %s\n", bound);
    fflush(stdout);
    if (a.port_file != NULL) {
        pf = fopen(a.port_file, "w");
        if (pf == NULL || fprintf(pf, "%s\n", bound) < 0 || fclose(pf) != 0) {
            fprintf(stderr, "m2msec-pki: cannot write %s\n", a.port_file);
            goto out;
        }
    }
    rv = 0;
    for (i = 0; i < a.count; i++) {
        fd = m2msec_tcp_accept(lfd, 60000, &err);
        if (fd < 0) {
            fprintf(stderr, "m2msec-pki: %s\n", err.msg);
            rv = 1;
            break;
        }
        c = m2msec_tls_accept_cert(srv, fd, NULL, TIMEOUT_MS, &err);
        if (c == NULL) {
            printf("refused %s\n", err.msg);
            fflush(stdout);
            continue;
        }
        report("verified", c);
        (void)m2msec_tls_close(c);
        m2msec_tls_conn_free(c);
    }
out:
    if (lfd >= 0) {
        close(lfd);
    }
    m2msec_tls_cert_server_free(srv);
    return rv;
}

int
m2msec_pki_cmd_connect(int argc, char **argv)
{
    struct check_args a;
    struct m2msec_tls_cert_client o;
    struct m2msec_tls_conn *c;
    struct m2msec_error err;
    int r;

    if (argc < 2 || argv[1][0] == '-') {
        return check_usage("connect needs HOST:PORT first");
    }
    r = parse(argc - 1, argv + 1, &a);
    if (r != 0) {
        return r;
    }
    if (a.listen != NULL || a.port_file != NULL || a.no_client_cert || a.count != 1) {
        return check_usage("connect takes --cert, --key, --sni and --peer-* options");
    }
    m2msec_error_clear(&err);
    memset(&o, 0, sizeof(o));
    o.hostport = argv[1];
    o.sni = a.sni;
    o.cert_file = a.cert;
    o.key_file = a.key;
    fill_info(&o.server, &a);
    o.timeout_ms = TIMEOUT_MS;
    c = m2msec_tls_connect_cert(&o, &err);
    if (c == NULL) {
        fprintf(stderr, "m2msec-pki: %s\n", err.msg);
        return 1;
    }
    report("verified", c);
    (void)m2msec_tls_close(c);
    m2msec_tls_conn_free(c);
    return 0;
}
