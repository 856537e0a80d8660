/*
 * bench/ibc.c - bench-ibc: what identity-based credentials cost next to certificates.
 *
 * Layer: bench (program on libm2msec's internal API; `make bench`). In one
 * run it measures, one operation after another on one thread unless noted:
 *   - ECDSA P-256 / SHA-256 sign and verify with OpenSSL (the baseline), and
 *     ECCSI (RFC 6507) sign and verify (crypto/eccsi.c) on the same message;
 *   - a mutual ECDHE-ECDSA P-256 TLS 1.2 handshake + close between two threads
 *     over loopback (the certificate alternative), and a full IBC-SIGMA
 *     handshake (IBC-DESIGN 4.2: M1, M2, M3, both sides' checks, ECCSI,
 *     ECDH, HKDF) run in memory by one thread playing both parties.
 * It prints ops/s, microseconds per operation and the cost ratios (ECCSI
 * verify against ECDSA verify: the design target is <= 2). Figures, never a
 * verdict: the exit status is 1 only when something failed. See
 * bench/README.md.
 *
 * OpenSSL is used directly for the ECDSA baseline: it is the reference being
 * compared with, not part of the project's code path.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto/eccsi.h"
#include "proto/ibc_sigma.h"
#include "proto/id2.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/time.h"

#define DEFAULT_SECONDS 2
#define MAX_SECONDS     60
#define MSG_LEN         64
#define BENCH_FQDN      "mef.bench.example"
#define TLS_TIMEOUT_MS  10000u

struct rate {
    uint64_t ops;
    double seconds;
    double per_s;
    double us;
};

static uint64_t
now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Run op(arg) back to back for `seconds`; -1 as soon as one fails. */
static int
measure(int (*op)(void *), void *arg, unsigned seconds, struct rate *r)
{
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)seconds * 1000000000u, t = t0;

    memset(r, 0, sizeof(*r));
    if (op(arg) != 0) { /* warm-up, untimed */
        return -1;
    }
    t0 = now_ns();
    end = t0 + (uint64_t)seconds * 1000000000u;
    do {
        if (op(arg) != 0) {
            return -1;
        }
        r->ops++;
        t = now_ns();
    } while (t < end);
    r->seconds = (double)(t - t0) / 1e9;
    r->per_s = (double)r->ops / r->seconds;
    r->us = 1e6 / r->per_s;
    return 0;
}

/* ---- ECDSA P-256 (OpenSSL) ---- */

struct ecdsa_ctx {
    EVP_PKEY *key;
    uint8_t msg[MSG_LEN];
    uint8_t sig[80];
    size_t siglen;
};

static int
ecdsa_sign(void *arg)
{
    struct ecdsa_ctx *e = arg;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok;

    e->siglen = sizeof(e->sig);
    ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, e->key) == 1 &&
         EVP_DigestSign(md, e->sig, &e->siglen, e->msg, sizeof(e->msg)) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

static int
ecdsa_verify(void *arg)
{
    struct ecdsa_ctx *e = arg;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok;

    ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, e->key) == 1 &&
         EVP_DigestVerify(md, e->sig, e->siglen, e->msg, sizeof(e->msg)) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

/* ---- ECCSI ---- */

struct eccsi_ctx {
    struct m2msec_eccsi_kms *kms;
    uint8_t id[M2MSEC_ID2_MAX];
    size_t id_len;
    struct m2msec_secret *ssk;
    uint8_t pvt[M2MSEC_ECCSI_POINT_LEN];
    uint8_t msg[MSG_LEN];
    uint8_t sig[M2MSEC_ECCSI_SIG_LEN];
};

static int
eccsi_sign(void *arg)
{
    struct eccsi_ctx *e = arg;
    struct m2msec_error err = { 0 };

    return m2msec_eccsi_sign(m2msec_eccsi_kms_kpak(e->kms), e->id, e->id_len, e->ssk, e->pvt,
                             e->msg, sizeof(e->msg), e->sig, &err);
}

static int
eccsi_verify(void *arg)
{
    struct eccsi_ctx *e = arg;
    struct m2msec_error err = { 0 };

    return m2msec_eccsi_verify(m2msec_eccsi_kms_kpak(e->kms), e->id, e->id_len, e->msg,
                               sizeof(e->msg), e->sig, sizeof(e->sig), &err);
}

/* ---- IBC-SIGMA, both parties in memory ---- */

struct sigma_ctx {
    struct m2msec_ibc_cred *a;
    struct m2msec_ibc_cred *b;
    struct m2msec_ibc_policy policy;
    struct m2msec_ibc_mpk mpk;
    struct m2msec_error err;
};

static int
sigma_once(void *arg)
{
    struct sigma_ctx *x = arg;
    struct m2msec_ibc_sigma *i = NULL, *r = NULL;
    struct m2msec_secret *ka = NULL, *kb = NULL;
    struct m2msec_ibc_session sa, sb;
    uint8_t m1[M2MSEC_IBC_M1_MAX], m2[M2MSEC_IBC_M2_MAX], m3[M2MSEC_IBC_MSG_MAX];
    size_t n1 = 0, n2 = 0, n3 = 0;
    int64_t now = m2msec_now();
    int rv = -1;

    i = m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, x->a, &x->policy, "/dev-b", &x->err);
    r = m2msec_ibc_sigma_new(M2MSEC_IBC_RESPONDER, x->b, &x->policy, NULL, &x->err);
    if (i == NULL || r == NULL ||
        m2msec_ibc_sigma_start(i, now, m1, sizeof(m1), &n1, &x->err) == -1 ||
        m2msec_ibc_sigma_handle_m1(r, now, m1, n1, m2, sizeof(m2), &n2, &x->err) == -1 ||
        m2msec_ibc_sigma_handle_m2(i, now, m2, n2, m3, sizeof(m3), &n3, &x->err) == -1 ||
        m2msec_ibc_sigma_handle_m3(r, m3, n3, &x->err) == -1 ||
        m2msec_ibc_sigma_result(i, &ka, &sa, &x->err) == -1 ||
        m2msec_ibc_sigma_result(r, &kb, &sb, &x->err) == -1) {
        goto out;
    }
    if (!m2msec_secret_equal(ka, kb) || strcmp(sa.kpsa_id, sb.kpsa_id) != 0) {
        m2msec_error_setx(&x->err, M2MSEC_ERR_CRYPTO, "the two sides derived different keys");
        goto out;
    }
    rv = 0;
out:
    m2msec_secret_free(ka);
    m2msec_secret_free(kb);
    m2msec_ibc_sigma_free(i);
    m2msec_ibc_sigma_free(r);
    return rv;
}

/* A credential for id1, issued by the KMS and validated as a device would. */
static struct m2msec_ibc_cred *
sigma_cred(struct m2msec_eccsi_kms *kms, const char *id1, int64_t expiry, struct m2msec_error *err)
{
    uint8_t id2[M2MSEC_ID2_MAX];
    uint8_t pvt[M2MSEC_ECCSI_POINT_LEN];
    struct m2msec_secret *ssk = NULL;
    struct m2msec_ibc_cred *c = NULL;
    size_t n = 0;

    if (m2msec_id2_encode(BENCH_FQDN, expiry, id1, id2, sizeof(id2), &n, err) == 0 &&
        m2msec_eccsi_issue(kms, id2, n, &ssk, pvt, err) == 0) {
        c = m2msec_ibc_cred_new(id2, n, ssk, pvt, m2msec_eccsi_kms_kpak(kms), err);
    }
    m2msec_secret_free(ssk);
    return c;
}

/* ---- mutual ECDHE-ECDSA TLS over loopback ---- */

struct tls_ctx {
    char dir[PATH_MAX];
    char ca[PATH_MAX], ca_key[PATH_MAX];
    char srv[PATH_MAX], srv_key[PATH_MAX];
    char cli[PATH_MAX], cli_key[PATH_MAX];
    struct m2msec_tls_cert_server *server;
    int lfd;
    char addr[64];
    pthread_t th;
    volatile int stop;
    unsigned long served, failed;
};

static void *
tls_server_main(void *arg)
{
    struct tls_ctx *t = arg;

    while (!t->stop) {
        struct m2msec_error err = { 0 };
        struct m2msec_tls_conn *c = NULL;
        int fd = m2msec_tcp_accept(t->lfd, 100, &err);

        if (fd < 0) {
            continue;
        }
        c = m2msec_tls_accept_cert(t->server, fd, NULL, TLS_TIMEOUT_MS, &err);
        if (c == NULL) {
            t->failed++;
            continue;
        }
        t->served++;
        (void)m2msec_tls_close(c);
        m2msec_tls_conn_free(c);
    }
    return NULL;
}

static int
tls_once(void *arg)
{
    struct tls_ctx *t = arg;
    struct m2msec_error err = { 0 };
    struct m2msec_tls_cert_client o;
    struct m2msec_tls_conn *c = NULL;
    const char *cas[1];

    memset(&o, 0, sizeof(o));
    cas[0] = t->ca;
    o.hostport = t->addr;
    o.sni = BENCH_FQDN;
    o.cert_file = t->cli;
    o.key_file = t->cli_key;
    o.server.flavour = M2MSEC_CERT_FQDN;
    o.server.ca_files = cas;
    o.server.n_ca_files = 1;
    o.timeout_ms = TLS_TIMEOUT_MS;
    c = m2msec_tls_connect_cert(&o, &err);
    if (c == NULL) {
        fprintf(stderr, "bench-ibc: TLS handshake: %s\n", m2msec_error_msg(&err));
        return -1;
    }
    (void)m2msec_tls_close(c);
    m2msec_tls_conn_free(c);
    return 0;
}

static int
path_in(char *out, size_t outsz, const char *dir, const char *name)
{
    int n = snprintf(out, outsz, "%s/%s", dir, name);

    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static int
tls_setup(struct tls_ctx *t, const char *tmpdir, struct m2msec_error *err)
{
    struct m2msec_tls_cert_opts o;
    const char *cas[1];

    if (path_in(t->dir, sizeof(t->dir), tmpdir, "bench-ibc.XXXXXX") == -1 ||
        mkdtemp(t->dir) == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_IO, "cannot create a temp dir in %s", tmpdir);
    }
    if (path_in(t->ca, sizeof(t->ca), t->dir, "ca.pem") == -1 ||
        path_in(t->ca_key, sizeof(t->ca_key), t->dir, "ca.key") == -1 ||
        path_in(t->srv, sizeof(t->srv), t->dir, "srv.pem") == -1 ||
        path_in(t->srv_key, sizeof(t->srv_key), t->dir, "srv.key") == -1 ||
        path_in(t->cli, sizeof(t->cli), t->dir, "cli.pem") == -1 ||
        path_in(t->cli_key, sizeof(t->cli_key), t->dir, "cli.key") == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "temp dir path too long");
    }
    if (m2msec_pki_ca_create(t->ca, t->ca_key, "bench root", 2, err) == -1 ||
        m2msec_pki_issue_profile(t->ca, t->ca_key, M2MSEC_PKI_PROFILE_FQDN, BENCH_FQDN, t->srv,
                                 t->srv_key, 2, 0, err) == -1 ||
        m2msec_pki_issue_profile(t->ca, t->ca_key, M2MSEC_PKI_PROFILE_DEVICE, "0.2.481.1.77.2.1",
                                 t->cli, t->cli_key, 2, 0, err) == -1) {
        return -1;
    }
    memset(&o, 0, sizeof(o));
    cas[0] = t->ca;
    o.cert_file = t->srv;
    o.key_file = t->srv_key;
    o.require_client_cert = 1;
    o.client.flavour = M2MSEC_CERT_DEVICE;
    o.client.ca_files = cas;
    o.client.n_ca_files = 1;
    t->server = m2msec_tls_cert_server_new(&o, err);
    if (t->server == NULL) {
        return -1;
    }
    t->lfd = m2msec_tcp_listen("127.0.0.1:0", 64, t->addr, sizeof(t->addr), err);
    if (t->lfd < 0) {
        return -1;
    }
    if (pthread_create(&t->th, NULL, tls_server_main, t) != 0) {
        close(t->lfd);
        t->lfd = -1;
        return m2msec_error_setx(err, M2MSEC_ERR_IO, "cannot start the server thread");
    }
    return 0;
}

static void
tls_teardown(struct tls_ctx *t)
{
    const char *names[] = { "ca.pem", "ca.key", "srv.pem", "srv.key", "cli.pem", "cli.key" };
    char p[PATH_MAX];
    size_t i;

    if (t->lfd >= 0) {
        t->stop = 1;
        pthread_join(t->th, NULL);
        close(t->lfd);
    }
    m2msec_tls_cert_server_free(t->server);
    if (t->dir[0] == '\0') {
        return;
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (path_in(p, sizeof(p), t->dir, names[i]) == 0) {
            (void)unlink(p);
        }
    }
    (void)rmdir(t->dir);
}

/* ---- report ---- */

static void
row(const char *what, const struct rate *r, const char *ratio_label, double ratio)
{
    printf("  %-52s %10.1f %9.1f", what, r->per_s, r->us);
    if (ratio_label != NULL) {
        printf("   %s %.2f", ratio_label, ratio);
    }
    printf("\n");
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: bench-ibc [--seconds N] [--tmpdir DIR]\n"
               "\n"
               "Measures ECCSI (RFC 6507) sign/verify against OpenSSL ECDSA P-256 and a full\n"
               "IBC-SIGMA handshake against a mutual ECDHE-ECDSA TLS 1.2 handshake, and prints\n"
               "ops/s, microseconds per operation and the cost ratios.\n"
               "\n"
               "  --seconds N  length of each measurement (1..60, default 2)\n"
               "  --tmpdir DIR where the TLS baseline's certificates are made (default /tmp)\n"
               "\n"
               "Exit status: 0, or 1 when anything failed (timing never fails the run).\n");
}

int
main(int argc, char **argv)
{
    struct m2msec_error err = { 0 };
    struct ecdsa_ctx ec = { 0 };
    struct eccsi_ctx ic = { 0 };
    struct sigma_ctx sc = { 0 };
    struct tls_ctx tc = { 0 };
    struct rate r_es, r_ev, r_is, r_iv, r_tls, r_sigma;
    const char *tmpdir = "/tmp";
    unsigned seconds = DEFAULT_SECONDS;
    int64_t expiry = m2msec_now() + 86400;
    int i, rv = 1;

    tc.lfd = -1;
    for (i = 1; i < argc; i++) {
        uint64_t v = 0;

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        if (strcmp(argv[i], "--seconds") == 0 &&
            m2msec_parse_u64(argv[i + 1], strlen(argv[i + 1]), MAX_SECONDS, &v) == 0 && v > 0) {
            seconds = (unsigned)v;
        } else if (strcmp(argv[i], "--tmpdir") == 0) {
            tmpdir = argv[i + 1];
        } else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(ec.msg, 0x5a, sizeof(ec.msg));
    memcpy(ic.msg, ec.msg, sizeof(ic.msg));
    ec.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ic.kms = m2msec_eccsi_kms_new(&err);
    if (ec.key == NULL || ic.kms == NULL ||
        m2msec_id2_encode(BENCH_FQDN, expiry, "/dev-a", ic.id, sizeof(ic.id), &ic.id_len, &err) ==
                -1 ||
        m2msec_eccsi_issue(ic.kms, ic.id, ic.id_len, &ic.ssk, ic.pvt, &err) == -1 ||
        m2msec_tls_global_init(&err) == -1) {
        fprintf(stderr, "bench-ibc: set-up: %s\n",
                err.msg[0] != '\0' ? m2msec_error_msg(&err) : "OpenSSL key generation");
        goto out;
    }
    sc.a = sigma_cred(ic.kms, "/dev-a", expiry, &err);
    sc.b = sigma_cred(ic.kms, "/dev-b", expiry, &err);
    if (sc.a == NULL || sc.b == NULL) {
        fprintf(stderr, "bench-ibc: credentials: %s\n", m2msec_error_msg(&err));
        goto out;
    }
    (void)m2msec_strlcpy(sc.mpk.fqdn, BENCH_FQDN, sizeof(sc.mpk.fqdn));
    memcpy(sc.mpk.kpak, m2msec_eccsi_kms_kpak(ic.kms), sizeof(sc.mpk.kpak));
    sc.policy.mpk = &sc.mpk;
    sc.policy.nmpk = 1;
    sc.policy.skew = 60;
    sc.policy.max_lifetime = 2 * 86400;
    sc.policy.replay = NULL; /* a cache lookup per M1: negligible next to the crypto */
    if (tls_setup(&tc, tmpdir, &err) == -1) {
        fprintf(stderr, "bench-ibc: TLS baseline set-up: %s\n", m2msec_error_msg(&err));
        goto out;
    }

    printf("bench-ibc: ECCSI and IBC-SIGMA next to ECDSA P-256 and mutual ECDHE-ECDSA TLS\n");
    printf("machine: nproc=%ld; %u s per measurement, 1 untimed warm-up op each\n\n",
           sysconf(_SC_NPROCESSORS_ONLN), seconds);
    printf("  %-52s %10s %9s\n", "operation", "ops/s", "us/op");
    if (measure(ecdsa_sign, &ec, seconds, &r_es) == -1 ||
        measure(ecdsa_verify, &ec, seconds, &r_ev) == -1) {
        fprintf(stderr, "bench-ibc: ECDSA failed\n");
        goto out;
    }
    if (measure(eccsi_sign, &ic, seconds, &r_is) == -1 ||
        measure(eccsi_verify, &ic, seconds, &r_iv) == -1) {
        fprintf(stderr, "bench-ibc: ECCSI failed\n");
        goto out;
    }
    row("ECDSA P-256/SHA-256 sign (OpenSSL, 64-byte message)", &r_es, NULL, 0);
    row("ECCSI sign (RFC 6507, same message)", &r_is, "cost x ECDSA sign:", r_is.us / r_es.us);
    row("ECDSA P-256/SHA-256 verify (OpenSSL)", &r_ev, NULL, 0);
    row("ECCSI verify", &r_iv, "cost x ECDSA verify:", r_iv.us / r_ev.us);
    if (measure(tls_once, &tc, seconds, &r_tls) == -1) {
        goto out;
    }
    if (measure(sigma_once, &sc, seconds, &r_sigma) == -1) {
        fprintf(stderr, "bench-ibc: IBC-SIGMA failed: %s\n", m2msec_error_msg(&sc.err));
        goto out;
    }
    row("mutual ECDHE-ECDSA TLS 1.2 handshake (2 threads, loopback)", &r_tls, NULL, 0);
    row("IBC-SIGMA handshake, both sides (1 thread, in memory)", &r_sigma,
        "rate / TLS handshakes:", r_sigma.per_s / r_tls.per_s);
    printf("\nECCSI verify costs %.2fx an ECDSA P-256 verify (target <= 2).\n", r_iv.us / r_ev.us);
    printf("IBC-SIGMA: %.1f handshakes/s, %.2f of mutual ECDHE-ECDSA TLS handshakes/s "
           "(server thread: served=%lu failed=%lu).\n",
           r_sigma.per_s, r_sigma.per_s / r_tls.per_s, tc.served, tc.failed);
    rv = tc.failed > 0 ? 1 : 0;
out:
    tls_teardown(&tc);
    m2msec_ibc_cred_free(sc.a);
    m2msec_ibc_cred_free(sc.b);
    m2msec_secret_free(ic.ssk);
    m2msec_eccsi_kms_free(ic.kms);
    EVP_PKEY_free(ec.key);
    return rv;
}
