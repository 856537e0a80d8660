/*
 * tests/unit/test_x509.c - certificate TLS (tls/x509.c) and the development PKI
 * (tls/pki.c): mutual ECDHE-ECDSA handshakes over loopback, peer verification
 * by flavour (FQDN, CSE-ID, AE-ID, Node-ID, device, RFC 7250 raw keys, any),
 * identities and Credential-IDs, refusals with their reasons, key loading
 * (PEM files, PKCS#11 keys on a SoftHSM2 token), CRLs, name constraints,
 * RFC 6920 key identifiers, and interoperability with OpenSSL and gnutls-cli.
 *
 * Layer: test. The group setup builds a PKI in a mkdtemp directory with the
 * library's own PKI functions; a server thread runs m2msec_tls_accept_cert on
 * 127.0.0.1:0 while the main thread is the client. The openssl and python3
 * binaries are independent oracles; cases that need them are skipped when
 * they are missing.
 */
#define _GNU_SOURCE /* pipe2, environ, nftw */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/kdf.h"
#include "proto/ids.h"
#include "tls/certid.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"
#include "vectors.h"

#define MEF      "mef.example.com"
#define MAF      "maf.example.com"
#define GCM      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
#define CCM8     "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"
#define CBC      "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"
#define CHILD_MS 15000
#define DAY      86400

/* A P-256 SubjectPublicKeyInfo and its identifier, computed once with python3 hashlib. */
#define KAT_SPKI_HEX                                                                             \
    "3059301306072a8648ce3d020106082a8648ce3d03010703420004eef24e01c5be4da8bc2ecde756b5580cfa76" \
    "19e7a5739fec3a93ee22be26fce2c446583600e66c0206c17228bf778be248b88f31564106bf81fa776e4a5d1c59"
#define KAT_NI "ni:///sha-256;RmM_YtVlu9uWgHdc2pPg3W02tc4StK1lZpd-gucVBkw"

/* ---- the test PKI ---- */

static char dir[64];

/* dir/name in one of a ring of buffers (several paths live at once). */
static const char *
P(const char *name)
{
    static char ring[64][256];
    static unsigned next;
    char *b = ring[next++ % 64];

    assert_true(snprintf(b, sizeof(ring[0]), "%s/%s", dir, name) < (int)sizeof(ring[0]));
    return b;
}

static void
issue(const char *base, const char *ca, const char *const *dns, size_t n_dns,
      const char *const *uris, size_t n_uris, const char *cn, unsigned eku, int64_t nb, int64_t na,
      enum m2msec_pki_key key)
{
    struct m2msec_pki_issue_opts o;
    struct m2msec_error err;
    char cert[64];
    char kf[64];
    char cak[64];
    char cac[64];

    assert_true(snprintf(cert, sizeof(cert), "%s.pem", base) < (int)sizeof(cert));
    assert_true(snprintf(kf, sizeof(kf), "%s.key", base) < (int)sizeof(kf));
    assert_true(snprintf(cac, sizeof(cac), "%s.pem", ca) < (int)sizeof(cac));
    assert_true(snprintf(cak, sizeof(cak), "%s.key", ca) < (int)sizeof(cak));
    memset(&o, 0, sizeof(o));
    o.ca_cert = P(cac);
    o.ca_key = P(cak);
    o.out_cert = P(cert);
    o.out_key = P(kf);
    o.cn = cn;
    o.dns = dns;
    o.n_dns = n_dns;
    o.uris = uris;
    o.n_uris = n_uris;
    o.eku = eku;
    o.key = key;
    o.days = 30;
    o.not_before = nb;
    o.not_after = na;
    m2msec_error_clear(&err);
    if (m2msec_pki_issue(&o, &err) != 0) {
        fail_msg("issue %s: %s", base, err.msg);
    }
}

static void
concat(const char *out, const char *a, const char *b)
{
    char buf[8192];
    FILE *fo = fopen(out, "wb");
    FILE *fi;
    size_t n;
    const char *in[2];
    int i;

    in[0] = a;
    in[1] = b;
    assert_non_null(fo);
    for (i = 0; i < 2; i++) {
        fi = fopen(in[i], "rb");
        assert_non_null(fi);
        while ((n = fread(buf, 1, sizeof(buf), fi)) > 0) {
            assert_int_equal(fwrite(buf, 1, n, fo), n);
        }
        fclose(fi);
    }
    assert_int_equal(fclose(fo), 0);
}

/* ---- the flavour PKI: manufacturer, enterprise and (constrained) vertical roots ---- */

#define HWID    "0.2.481.1.100.3030.10011"
#define HWID2   "0.2.481.1.100.3030.10012"
#define NODEOID "1.3.6.1.4.1.55555.7.1"
#define NODEURN "urn:imei:490154203237518"
#define CSEID   "cse1.example.com"
#define AEID    "https://sp.example.com/CAE01"

static char rk1_id[M2MSEC_NI_SHA256_LEN];
static char rk2_id[M2MSEC_NI_SHA256_LEN];

static void
profile(const char *base, const char *ca, enum m2msec_pki_profile p, const char *id, int expired)
{
    struct m2msec_error err;
    char cert[64];
    char kf[64];
    char cak[64];
    char cac[64];

    assert_true(snprintf(cert, sizeof(cert), "%s.pem", base) < (int)sizeof(cert));
    assert_true(snprintf(kf, sizeof(kf), "%s.key", base) < (int)sizeof(kf));
    assert_true(snprintf(cac, sizeof(cac), "%s.pem", ca) < (int)sizeof(cac));
    assert_true(snprintf(cak, sizeof(cak), "%s.key", ca) < (int)sizeof(cak));
    m2msec_error_clear(&err);
    if (m2msec_pki_issue_profile(P(cac), P(cak), p, id, P(cert), P(kf), 30, expired, &err) != 0) {
        fail_msg("profile %s: %s", base, err.msg);
    }
}

static void
flavour_pki(void)
{
    struct m2msec_error err;
    const char *nc[] = { "example.com" };
    const char *wild_dns[] = { "*.example.com" };
    const char *wild_uri[] = { "https://*.example.com/CAE01" };
    const char *out_uri[] = { "https://sp.other.org/CAE01" };
    const char *in_uri[] = { "https://sp.example.com/CAE02" };
    const char *revoked[1];
    struct m2msec_pki_issue_opts o;

    m2msec_error_clear(&err);
    if (m2msec_pki_ca_create(P("mfr.pem"), P("mfr.key"), "Manufacturer Root", 30, &err) != 0 ||
        m2msec_pki_ca_create(P("ent.pem"), P("ent.key"), "Enterprise Root", 30, &err) != 0 ||
        m2msec_pki_ca_create_constrained(P("vert.pem"), P("vert.key"), "Vertical Root", 30, nc, 1,
                                         &err) != 0) {
        fail_msg("flavour roots: %s", err.msg);
    }
    profile("dev", "mfr", M2MSEC_PKI_PROFILE_DEVICE, HWID, 0);
    profile("devexp", "mfr", M2MSEC_PKI_PROFILE_DEVICE, HWID, 1);
    profile("devrev", "mfr", M2MSEC_PKI_PROFILE_DEVICE, HWID, 0);
    profile("node", "ent", M2MSEC_PKI_PROFILE_NODE_ID, NODEOID, 0);
    profile("nodeurn", "ent", M2MSEC_PKI_PROFILE_NODE_ID, NODEURN, 0);
    profile("cse", "vert", M2MSEC_PKI_PROFILE_CSE_ID, CSEID, 0);
    profile("ae", "vert", M2MSEC_PKI_PROFILE_AE_ID, AEID, 0);
    profile("aeout", "vert", M2MSEC_PKI_PROFILE_AE_ID, "https://sp.other.org/CAE01", 0);
    profile("fqdnin", "vert", M2MSEC_PKI_PROFILE_FQDN, MEF, 0);
    profile("fqdnout", "vert", M2MSEC_PKI_PROFILE_FQDN, "mef.example.org", 0);
    profile("cliprof", "ca", M2MSEC_PKI_PROFILE_CLIENT, MAF, 0);
    issue("csewild", "vert", wild_dns, 1, NULL, 0, "csewild", 3, 0, 0, M2MSEC_PKI_KEY_P256);
    issue("aewild", "vert", NULL, 0, wild_uri, 1, "sp.example.com", 3, 0, 0, M2MSEC_PKI_KEY_P256);
    /* a CN inside the constraint, so only the AE-ID host check can catch the URI */
    issue("aeout2", "vert", NULL, 0, out_uri, 1, "sp.example.com", 3, 0, 0, M2MSEC_PKI_KEY_P256);
    /* an intermediate constrained to example.com under the unconstrained enterprise root */
    memset(&o, 0, sizeof(o));
    o.ca_cert = P("ent.pem");
    o.ca_key = P("ent.key");
    o.out_cert = P("aeica.pem");
    o.out_key = P("aeica.key");
    o.cn = "AE Intermediate";
    o.ca = 1;
    o.permitted_dns = nc;
    o.n_permitted_dns = 1;
    o.days = 30;
    if (m2msec_pki_issue(&o, &err) != 0) {
        fail_msg("AE intermediate: %s", err.msg);
    }
    issue("aeil", "aeica", NULL, 0, out_uri, 1, "sp.example.com", 3, 0, 0, M2MSEC_PKI_KEY_P256);
    issue("aeil2", "aeica", NULL, 0, in_uri, 1, "sp.example.com", 3, 0, 0, M2MSEC_PKI_KEY_P256);
    concat(P("aeic.pem"), P("aeil.pem"), P("aeica.pem"));
    concat(P("aeic2.pem"), P("aeil2.pem"), P("aeica.pem"));
    assert_int_equal(link(P("aeil.key"), P("aeic.key")), 0);
    assert_int_equal(link(P("aeil2.key"), P("aeic2.key")), 0);
    revoked[0] = P("devrev.pem");
    if (m2msec_pki_crl_create(P("mfr.pem"), P("mfr.key"), revoked, 1, P("mfr.crl"), 7, &err) != 0 ||
        m2msec_pki_rawkey_create(P("rk1.key"), P("rk1.pub"), rk1_id, sizeof(rk1_id), &err) != 0 ||
        m2msec_pki_rawkey_create(P("rk2.key"), P("rk2.pub"), rk2_id, sizeof(rk2_id), &err) != 0) {
        fail_msg("flavour PKI: %s", err.msg);
    }
}

static int
pki_setup(void **state)
{
    struct m2msec_error err;
    const char *mef[] = { MEF };
    const char *maf[] = { MAF };
    const char *a[] = { "a.example" };
    const char *wild[] = { "*.example.com" };
    const char *other[] = { "other.example.com" };
    const char *uri[] = { "https://user@MEF.example.com:8443/x?y" };
    const char *uri_other[] = { "https://mef.example.com.evil.org/", "urn:mef.example.com",
                                "mef.example.com" };
    const char *constraint[] = { "example.com" };
    const char *outside[] = { "mef.example.org" };
    const char *revoked[1];
    struct m2msec_pki_issue_opts o;
    int64_t now = (int64_t)time(NULL);

    (void)state;
    assert_int_equal(snprintf(dir, sizeof(dir), "/tmp/m2msec-x509-XXXXXX"), 23);
    assert_non_null(mkdtemp(dir));
    m2msec_error_clear(&err);
    if (m2msec_pki_ca_create(P("ca.pem"), P("ca.key"), "Test Root", 30, &err) != 0 ||
        m2msec_pki_ca_create(P("ca2.pem"), P("ca2.key"), "Other Root", 30, &err) != 0 ||
        m2msec_pki_issue_fqdn(P("ca.pem"), P("ca.key"), MEF, P("srv.pem"), P("srv.key"), 30, 1,
                              &err) != 0 ||
        m2msec_pki_issue_fqdn(P("ca.pem"), P("ca.key"), MAF, P("cli.pem"), P("cli.key"), 30, 1,
                              &err) != 0 ||
        m2msec_pki_issue_fqdn(P("ca.pem"), P("ca.key"), MAF, P("srvonly.pem"), P("srvonly.key"), 30,
                              0, &err) != 0 ||
        m2msec_pki_issue_fqdn(P("ca2.pem"), P("ca2.key"), MEF, P("foreign.pem"), P("foreign.key"),
                              30, 1, &err) != 0 ||
        m2msec_pki_issue_fqdn(P("ca2.pem"), P("ca2.key"), MAF, P("foreigncli.pem"),
                              P("foreigncli.key"), 30, 1, &err) != 0) {
        fail_msg("PKI setup: %s", err.msg);
    }
    issue("a", "ca", a, 1, NULL, 0, "a.example", 3, 0, 0, M2MSEC_PKI_KEY_P256);
    issue("wild", "ca", wild, 1, NULL, 0, NULL, 3, 0, 0, M2MSEC_PKI_KEY_P256);
    /* the CN names the MEF and there is no SAN (where RFC 6125 would fall back to the CN) */
    issue("cnonly", "ca", NULL, 0, NULL, 0, MEF, 3, 0, 0, M2MSEC_PKI_KEY_P256);
    /* the CN names the MEF, the SAN something else */
    issue("cnother", "ca", other, 1, NULL, 0, MEF, 3, 0, 0, M2MSEC_PKI_KEY_P256);
    issue("uri", "ca", NULL, 0, uri, 1, "uri", 3, 0, 0, M2MSEC_PKI_KEY_P256);
    issue("urinear", "ca", NULL, 0, uri_other, 3, "urinear", 3, 0, 0, M2MSEC_PKI_KEY_P256);
    issue("expired", "ca", mef, 1, NULL, 0, NULL, 3, now - 10 * DAY, now - DAY,
          M2MSEC_PKI_KEY_P256);
    issue("expiredcli", "ca", maf, 1, NULL, 0, NULL, 3, now - 10 * DAY, now - DAY,
          M2MSEC_PKI_KEY_P256);
    issue("future", "ca", mef, 1, NULL, 0, NULL, 3, now + DAY, now + 10 * DAY, M2MSEC_PKI_KEY_P256);
    issue("p384", "ca", mef, 1, NULL, 0, NULL, 3, 0, 0, M2MSEC_PKI_KEY_P384);
    issue("revoked", "ca", mef, 1, NULL, 0, NULL, 3, 0, 0, M2MSEC_PKI_KEY_P256);
    /* an intermediate CA constrained to example.com, and two leaves under it */
    memset(&o, 0, sizeof(o));
    o.ca_cert = P("ca.pem");
    o.ca_key = P("ca.key");
    o.out_cert = P("ica.pem");
    o.out_key = P("ica.key");
    o.cn = "Test Intermediate";
    o.ca = 1;
    o.permitted_dns = constraint;
    o.n_permitted_dns = 1;
    o.days = 30;
    if (m2msec_pki_issue(&o, &err) != 0) {
        fail_msg("intermediate: %s", err.msg);
    }
    issue("leaf", "ica", mef, 1, NULL, 0, NULL, 3, 0, 0, M2MSEC_PKI_KEY_P256);
    issue("outside", "ica", outside, 1, NULL, 0, NULL, 3, 0, 0, M2MSEC_PKI_KEY_P256);
    concat(P("leafchain.pem"), P("leaf.pem"), P("ica.pem"));
    concat(P("outsidechain.pem"), P("outside.pem"), P("ica.pem"));
    concat(P("unsorted.pem"), P("ica.pem"), P("leaf.pem"));
    revoked[0] = P("revoked.pem");
    if (m2msec_pki_crl_create(P("ca.pem"), P("ca.key"), revoked, 1, P("ca.crl"), 7, &err) != 0) {
        fail_msg("CRL: %s", err.msg);
    }
    flavour_pki();
    return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
pki_teardown(void **state)
{
    (void)state;
    (void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- external programs ---- */

struct child {
    pid_t pid;
    int in_w;
    int out_r;
    char out[32768];
    size_t outlen;
};

static int
have_prog(const char *name)
{
    const char *path = getenv("PATH");
    const char *p;
    const char *end;
    char buf[1024];

    if (path == NULL) {
        path = "/usr/bin:/bin";
    }
    for (p = path; *p != '\0'; p = *end == ':' ? end + 1 : end) {
        end = strchr(p, ':');
        if (end == NULL) {
            end = p + strlen(p);
        }
        if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), p, name) < (int)sizeof(buf) &&
            access(buf, X_OK) == 0) {
            return 1;
        }
    }
    return 0;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
child_spawn(struct child *ch, const char *const argv[])
{
    posix_spawn_file_actions_t fa;
    char *args[48];
    int in[2];
    int out[2];
    size_t n;
    size_t i;

    for (n = 0; argv[n] != NULL; n++) {
        assert_true(n + 1 < sizeof(args) / sizeof(args[0]));
        args[n] = strdup(argv[n]);
        assert_non_null(args[n]);
    }
    args[n] = NULL;
    memset(ch, 0, sizeof(*ch));
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, in[0], 0), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, out[1], 1), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, out[1], 2), 0);
    assert_int_equal(posix_spawnp(&ch->pid, args[0], &fa, NULL, args, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    for (i = 0; i < n; i++) {
        free(args[i]);
    }
    close(in[0]);
    close(out[1]);
    ch->in_w = in[1];
    ch->out_r = out[0];
}

static int
child_read_until(struct child *ch, const char *needle, unsigned ms)
{
    uint64_t deadline = now_ms() + ms;
    struct pollfd p;
    char tmp[4096];
    ssize_t r;
    size_t room;
    uint64_t t;

    for (;;) {
        ch->out[ch->outlen] = '\0';
        if (needle != NULL && strstr(ch->out, needle) != NULL) {
            return 1;
        }
        if (ch->out_r < 0) {
            return needle == NULL;
        }
        t = now_ms();
        if (t >= deadline) {
            return 0;
        }
        p.fd = ch->out_r;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, (int)(deadline - t)) <= 0) {
            continue;
        }
        r = read(ch->out_r, tmp, sizeof(tmp));
        if (r <= 0) {
            close(ch->out_r);
            ch->out_r = -1;
            continue;
        }
        room = sizeof(ch->out) - 1 - ch->outlen;
        if ((size_t)r < room) {
            room = (size_t)r;
        }
        memcpy(ch->out + ch->outlen, tmp, room);
        ch->outlen += room;
    }
}

/* Close stdin, collect the rest of the output, reap; the exit status (or -1 if killed). */
static int
child_finish(struct child *ch)
{
    int status;

    if (ch->in_w >= 0) {
        close(ch->in_w);
        ch->in_w = -1;
    }
    if (!child_read_until(ch, NULL, CHILD_MS)) {
        kill(ch->pid, SIGKILL);
    }
    if (ch->out_r >= 0) {
        close(ch->out_r);
        ch->out_r = -1;
    }
    assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
child_run(struct child *ch, const char *const argv[])
{
    child_spawn(ch, argv);
    return child_finish(ch);
}

static int
parse_keymat(const char *out, char *hex, size_t hexsz)
{
    const char *p = strstr(out, "Keying material: ");
    size_t n = 0;

    if (p == NULL) {
        return -1;
    }
    p += strlen("Keying material: ");
    while (n + 1 < hexsz &&
           ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))) {
        hex[n++] = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        p++;
    }
    hex[n] = '\0';
    return 0;
}

static void
hex_of(const uint8_t *b, size_t n, char *out, size_t outsz)
{
    assert_int_equal(m2msec_hex_encode(b, n, out, outsz), 0);
}

/* ---- servers, clients, one handshake ---- */

struct srv_cfg {
    const char *cert;
    const char *key;
    int require;
    enum m2msec_cert_flavour flavour;
    const char *id;
    const char *ca;
    const char *ca_extra; /* optional second anchor file */
    const char *crl;
    const char *id2; /* optional second accepted identifier */
};

static struct m2msec_tls_cert_server *
server_new(const struct srv_cfg *s, struct m2msec_error *err)
{
    struct m2msec_tls_cert_opts o;
    const char *cas[2];
    const char *crls[1];
    const char *ids[1];

    memset(&o, 0, sizeof(o));
    ids[0] = s->id2;
    o.client.ids = ids;
    o.client.n_ids = s->id2 != NULL ? 1 : 0;
    cas[0] = s->ca;
    cas[1] = s->ca_extra;
    crls[0] = s->crl;
    o.cert_file = s->cert;
    o.key_file = s->key;
    o.require_client_cert = s->require;
    o.client.flavour = s->flavour;
    o.client.id = s->id;
    o.client.ca_files = cas;
    o.client.n_ca_files = s->ca == NULL ? 0 : s->ca_extra != NULL ? 2 : 1;
    o.client.crl_files = crls;
    o.client.n_crl_files = s->crl != NULL ? 1 : 0;
    m2msec_error_clear(err);
    return m2msec_tls_cert_server_new(&o, err);
}

struct cli_cfg {
    const char *sni;
    const char *cert;
    const char *key;
    enum m2msec_cert_flavour flavour;
    const char *id;
    const char *ca;
    const char *ca_extra;
    const char *crl;
    const char *hostport; /* NULL: the listener */
    const char *id2;      /* optional second accepted identifier */
};

struct listener {
    int fd;
    char hostport[64];
    char port[8];
};

static struct listener lsn;

static int
lsn_setup(void **state)
{
    struct m2msec_error err;
    const char *colon;

    (void)state;
    lsn.fd = m2msec_tcp_listen("127.0.0.1:0", 16, lsn.hostport, sizeof(lsn.hostport), &err);
    assert_true(lsn.fd >= 0);
    colon = strrchr(lsn.hostport, ':');
    assert_int_equal(m2msec_strlcpy(lsn.port, colon + 1, sizeof(lsn.port)), 0);
    return 0;
}

static int
lsn_teardown(void **state)
{
    (void)state;
    close(lsn.fd);
    m2msec_tls_test_cert_client_priority(NULL);
    return 0;
}

static struct m2msec_tls_conn *
client_connect(const struct cli_cfg *cc, struct m2msec_error *err)
{
    struct m2msec_tls_cert_client o;
    const char *cas[2];
    const char *crls[1];
    const char *ids[1];

    memset(&o, 0, sizeof(o));
    ids[0] = cc->id2;
    o.server.ids = ids;
    o.server.n_ids = cc->id2 != NULL ? 1 : 0;
    cas[0] = cc->ca;
    cas[1] = cc->ca_extra;
    crls[0] = cc->crl;
    o.hostport = cc->hostport != NULL ? cc->hostport : lsn.hostport;
    o.sni = cc->sni;
    o.cert_file = cc->cert;
    o.key_file = cc->key;
    o.server.flavour = cc->flavour;
    o.server.id = cc->id;
    o.server.ca_files = cas;
    o.server.n_ca_files = cc->ca == NULL ? 0 : cc->ca_extra != NULL ? 2 : 1;
    o.server.crl_files = crls;
    o.server.n_crl_files = cc->crl != NULL ? 1 : 0;
    o.timeout_ms = 5000;
    m2msec_error_clear(err);
    return m2msec_tls_connect_cert(&o, err);
}

/* What one side saw. */
struct side {
    int ok;
    struct m2msec_error err;
    char cipher[64];
    char sni[256];
    int have_sni;
    int psk_identity_null;
    size_t nsan;
    char san[4][256];
    enum m2msec_san_type san_type[4];
    char key_id[M2MSEC_NI_SHA256_LEN];
    int have_key_id;
    char identity[M2MSEC_CERT_ID_MAX + 1]; /* m2msec_tls_peer_identity, "" for NULL */
    enum m2msec_cert_flavour id_flavour;
    char cred_id[M2MSEC_CERT_CRED_ID_MAX]; /* m2msec_tls_peer_credential_id(UNSET), "" failed */
    char of[M2MSEC_CERT_RAW + 1][M2MSEC_CERT_ID_MAX + 1];       /* identity_of(flavour), "" none */
    char cred_of[M2MSEC_CERT_RAW + 1][M2MSEC_CERT_CRED_ID_MAX]; /* credential_id(flavour) */
    uint8_t boot[M2MSEC_EXPORT_LEN];
    uint8_t conn[M2MSEC_EXPORT_LEN];
    int chain_rc; /* m2msec_tls_peer_chain_verify against chain_cas (when chain_ncas > 0) */
    enum m2msec_err chain_code;
    char chain_why[M2MSEC_ERROR_MSG_LEN];
};

/* Anchors and CRL for the post-handshake chain check of observe(); none: not run. */
static const char *chain_cas[2];
static size_t chain_ncas;
static const char *chain_crl;

static void
observe(struct side *s, struct m2msec_tls_conn *c)
{
    const char *v;
    size_t i;

    s->ok = 1;
    (void)m2msec_strlcpy(s->cipher, m2msec_tls_cipher(c), sizeof(s->cipher));
    v = m2msec_tls_sni(c);
    if (v != NULL) {
        s->have_sni = 1;
        (void)m2msec_strlcpy(s->sni, v, sizeof(s->sni));
    }
    s->psk_identity_null = m2msec_tls_psk_identity(c) == NULL;
    s->nsan = m2msec_tls_peer_san_count(c);
    for (i = 0; i < s->nsan && i < 4; i++) {
        v = m2msec_tls_peer_san(c, i, &s->san_type[i]);
        (void)m2msec_strlcpy(s->san[i], v != NULL ? v : "", sizeof(s->san[i]));
    }
    v = m2msec_tls_peer_key_id(c);
    if (v != NULL) {
        s->have_key_id = 1;
        (void)m2msec_strlcpy(s->key_id, v, sizeof(s->key_id));
    }
    v = m2msec_tls_peer_identity(c, &s->id_flavour);
    (void)m2msec_strlcpy(s->identity, v != NULL ? v : "", sizeof(s->identity));
    if (m2msec_tls_peer_credential_id(c, M2MSEC_CERT_UNSET, s->cred_id, sizeof(s->cred_id), NULL) !=
        0) {
        s->cred_id[0] = '\0';
    }
    for (i = M2MSEC_CERT_FQDN; i <= M2MSEC_CERT_RAW; i++) {
        if (m2msec_tls_peer_identity_of(c, (enum m2msec_cert_flavour)i, s->of[i], sizeof(s->of[i]),
                                        NULL) != 0) {
            s->of[i][0] = '\0';
        }
        if (m2msec_tls_peer_credential_id(c, (enum m2msec_cert_flavour)i, s->cred_of[i],
                                          sizeof(s->cred_of[i]), NULL) != 0) {
            s->cred_of[i][0] = '\0';
        }
    }
    if (chain_ncas > 0) {
        struct m2msec_error e;
        const char *crls[1];

        m2msec_error_clear(&e);
        crls[0] = chain_crl;
        s->chain_rc = m2msec_tls_peer_chain_verify(c, chain_cas, chain_ncas, crls,
                                                   chain_crl != NULL ? 1 : 0, &e);
        (void)m2msec_strlcpy(s->chain_why, e.msg, sizeof(s->chain_why));
        s->chain_code = m2msec_error_code(&e);
    }
    if (m2msec_tls_export(c, M2MSEC_LABEL_BOOTSTRAP, s->boot, sizeof(s->boot), &s->err) != 0 ||
        m2msec_tls_export(c, M2MSEC_LABEL_CONNECTION, s->conn, sizeof(s->conn), &s->err) != 0) {
        s->ok = 0;
    }
}

struct srv_job {
    struct m2msec_tls_cert_server *srv;
    int wait_eof; /* external client: read until it closes */
    pthread_t th;
    struct side s;
};

static void *
srv_thread(void *arg)
{
    struct srv_job *j = arg;
    struct m2msec_tls_conn *c;
    uint8_t b[64];
    int fd;

    fd = m2msec_tcp_accept(lsn.fd, CHILD_MS, &j->s.err);
    if (fd < 0) {
        return NULL;
    }
    c = m2msec_tls_accept_cert(j->srv, fd, NULL, 5000, &j->s.err);
    if (c == NULL) {
        return NULL;
    }
    observe(&j->s, c);
    if (j->wait_eof) {
        while (m2msec_tls_read(c, b, sizeof(b), NULL) > 0) {
        }
    }
    (void)m2msec_tls_close(c);
    m2msec_tls_conn_free(c);
    return NULL;
}

static void
srv_start(struct srv_job *j, struct m2msec_tls_cert_server *srv, int wait_eof)
{
    memset(j, 0, sizeof(*j));
    j->srv = srv;
    j->wait_eof = wait_eof;
    assert_int_equal(pthread_create(&j->th, NULL, srv_thread, j), 0);
}

static void
srv_join(struct srv_job *j)
{
    assert_int_equal(pthread_join(j->th, NULL), 0);
}

/* One handshake between our server and our client; both sides' observations. */
static void
run_pair(const struct srv_cfg *sc, const struct cli_cfg *cc, struct side *srv_side,
         struct side *cli_side)
{
    struct m2msec_tls_cert_server *srv;
    struct m2msec_tls_conn *c;
    struct m2msec_error err;
    struct srv_job j;
    uint8_t b;

    srv = server_new(sc, &err);
    if (srv == NULL) {
        fail_msg("server: %s", err.msg);
    }
    srv_start(&j, srv, 0);
    memset(cli_side, 0, sizeof(*cli_side));
    c = client_connect(cc, &cli_side->err);
    if (c != NULL) {
        observe(cli_side, c);
        /* the server exports and closes: an orderly close reads as 0 */
        assert_int_equal(m2msec_tls_read(c, &b, 1, &err), 0);
        m2msec_tls_conn_free(c);
    }
    srv_join(&j);
    *srv_side = j.s;
    m2msec_tls_cert_server_free(srv);
}

/* The usual mutual configuration: mef server, maf client, both under ca. */
static void
mutual_cfg(struct srv_cfg *sc, struct cli_cfg *cc)
{
    memset(sc, 0, sizeof(*sc));
    memset(cc, 0, sizeof(*cc));
    sc->cert = P("srv.pem");
    sc->key = P("srv.key");
    sc->require = 1;
    sc->flavour = M2MSEC_CERT_FQDN;
    sc->id = MAF;
    sc->ca = P("ca.pem");
    cc->sni = MEF;
    cc->cert = P("cli.pem");
    cc->key = P("cli.key");
    cc->flavour = M2MSEC_CERT_FQDN;
    cc->ca = P("ca.pem");
}

static void
assert_ok_pair(const struct side *s, const struct side *c)
{
    if (!c->ok) {
        fail_msg("client failed: %s", c->err.msg);
    }
    if (!s->ok) {
        fail_msg("server failed: %s", s->err.msg);
    }
    assert_string_equal(s->cipher, c->cipher);
    assert_memory_equal(s->boot, c->boot, M2MSEC_EXPORT_LEN);
    assert_memory_equal(s->conn, c->conn, M2MSEC_EXPORT_LEN);
    assert_memory_not_equal(s->boot, s->conn, M2MSEC_EXPORT_LEN);
}

/* Both sides failed; the verifying side says why (AUTH with needle), the other is AUTH too. */
static void
assert_refused(const struct side *verifier, const struct side *other, const char *needle)
{
    assert_false(verifier->ok);
    assert_false(other->ok);
    assert_int_equal(verifier->err.code, M2MSEC_ERR_AUTH);
    if (strstr(verifier->err.msg, needle) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", needle, verifier->err.msg);
    }
    if (other->err.code != M2MSEC_ERR_AUTH ||
        strstr(other->err.msg, "rejected our certificate") == NULL) {
        fail_msg("peer of the verifier: code %d \"%s\" (verifier: \"%s\")", (int)other->err.code,
                 other->err.msg, verifier->err.msg);
    }
}

/* ---- 1. mutual handshakes: suites, exporter, peer data ---- */

struct suite_case {
    const char *client_priority; /* NULL: the library default */
    const char *want;
};

static const struct suite_case suite_cases[] = {
    { NULL, GCM },
    { "NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+AES-128-CCM-8:+AEAD:+COMP-NULL:+GROUP-SECP256R1:"
      "+SIGN-ECDSA-SHA256",
      CCM8 },
    { "NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+AES-128-CBC:+SHA256:+COMP-NULL:+GROUP-SECP256R1:"
      "+SIGN-ECDSA-SHA256",
      CBC },
    /* a client preferring CBC still gets GCM: the server's order wins */
    { "NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+AES-128-CBC:+AES-128-CCM-8:+AES-128-GCM:+SHA256:+AEAD:"
      "+COMP-NULL:+GROUP-SECP256R1:+SIGN-ECDSA-SHA256",
      GCM },
};

static void
test_mutual_suites(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct side s;
    struct side c;
    struct m2msec_error err;
    char srv_id[M2MSEC_NI_SHA256_LEN];
    char cli_id[M2MSEC_NI_SHA256_LEN];
    size_t i;

    (void)state;
    assert_int_equal(m2msec_x509_key_id_file(P("srv.pem"), srv_id, sizeof(srv_id), &err), 0);
    assert_int_equal(m2msec_x509_key_id_file(P("cli.pem"), cli_id, sizeof(cli_id), &err), 0);
    assert_string_not_equal(srv_id, cli_id);
    mutual_cfg(&sc, &cc);
    for (i = 0; i < sizeof(suite_cases) / sizeof(suite_cases[0]); i++) {
        m2msec_tls_test_cert_client_priority(suite_cases[i].client_priority);
        run_pair(&sc, &cc, &s, &c);
        assert_ok_pair(&s, &c);
        assert_string_equal(c.cipher, suite_cases[i].want);
        /* each side sees the other's certificate */
        assert_int_equal(s.nsan, 1);
        assert_string_equal(s.san[0], MAF);
        assert_int_equal(s.san_type[0], M2MSEC_SAN_DNS);
        assert_string_equal(s.key_id, cli_id);
        assert_int_equal(c.nsan, 1);
        assert_string_equal(c.san[0], MEF);
        assert_string_equal(c.key_id, srv_id);
        assert_true(s.have_sni);
        assert_string_equal(s.sni, MEF);
        assert_true(s.psk_identity_null);
        assert_true(c.psk_identity_null);
    }
    m2msec_tls_test_cert_client_priority(NULL);
}

/* Neighbours: versions, suites, groups and key exchanges outside the pinned set. */
static const char *const refused_priorities[] = {
    "NONE:+VERS-TLS1.3:+AES-128-GCM:+AEAD:+COMP-NULL:+SIGN-ECDSA-SECP256R1-SHA256:+GROUP-SECP256R1",
    "NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+AES-256-GCM:+AEAD:+COMP-NULL:+GROUP-SECP256R1:"
    "+SIGN-ECDSA-SHA256",
    "NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+AES-128-GCM:+AEAD:+COMP-NULL:+GROUP-SECP384R1:"
    "+SIGN-ECDSA-SHA256",
    "NONE:+VERS-TLS1.2:+ECDHE-RSA:+AES-128-GCM:+AEAD:+COMP-NULL:+GROUP-SECP256R1:+SIGN-ALL",
    "NONE:+VERS-TLS1.1:+ECDHE-ECDSA:+AES-128-CBC:+SHA1:+COMP-NULL:+GROUP-SECP256R1:+SIGN-ALL",
};

static void
test_refused_suites(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct side s;
    struct side c;
    size_t i;

    (void)state;
    mutual_cfg(&sc, &cc);
    for (i = 0; i < sizeof(refused_priorities) / sizeof(refused_priorities[0]); i++) {
        m2msec_tls_test_cert_client_priority(refused_priorities[i]);
        run_pair(&sc, &cc, &s, &c);
        assert_false(c.ok);
        assert_false(s.ok);
        /* a negotiation failure, not an authentication one */
        assert_int_equal(c.err.code, M2MSEC_ERR_TLS);
        assert_int_equal(s.err.code, M2MSEC_ERR_TLS);
    }
    m2msec_tls_test_cert_client_priority(NULL);
}

/* ---- 2. the FQDN flavour: exact SAN match, no wildcard, no CN ---- */

struct name_case {
    const char *server_cert; /* base name */
    const char *expect;      /* the client's expected FQDN (id) */
    const char *why;         /* NULL: accepted */
};

static const struct name_case name_cases[] = {
    { "srv", MEF, NULL },
    { "srv", "MEF.Example.COM", NULL },              /* DNS names compare caselessly */
    { "uri", MEF, NULL },                            /* URI host (userinfo, port, path) */
    { "a", "b.example", "name mismatch" },           /* cert for a.example */
    { "a", "a.example.com", "name mismatch" },       /* suffix is not a match */
    { "srv", "example.com", "name mismatch" },       /* parent is not a match */
    { "srv", "x.mef.example.com", "name mismatch" }, /* child is not a match */
    { "wild", MEF, "name mismatch" },                /* *.example.com never matches */
    { "cnonly", MEF, "name mismatch" },              /* CN ignored, no SAN */
    { "cnother", MEF, "name mismatch" },             /* CN ignored */
    { "urinear", MEF, "name mismatch" },             /* URI host elsewhere, URN, no scheme */
};

static void
test_fqdn_match(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct side s;
    struct side c;
    char cert[64];
    char key[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
        const struct name_case *t = &name_cases[i];
        mutual_cfg(&sc, &cc);
        assert_true(snprintf(cert, sizeof(cert), "%s.pem", t->server_cert) < (int)sizeof(cert));
        assert_true(snprintf(key, sizeof(key), "%s.key", t->server_cert) < (int)sizeof(key));
        sc.cert = P(cert);
        sc.key = P(key);
        cc.id = t->expect;
        run_pair(&sc, &cc, &s, &c);
        if (t->why == NULL) {
            assert_ok_pair(&s, &c);
        } else {
            assert_refused(&c, &s, t->why);
            assert_non_null(strstr(c.err.msg, "server certificate"));
        }
    }

    /* the expected name defaults to the SNI name */
    mutual_cfg(&sc, &cc);
    cc.sni = "b.example";
    sc.cert = P("a.pem");
    sc.key = P("a.key");
    run_pair(&sc, &cc, &s, &c);
    assert_refused(&c, &s, "name mismatch");
    assert_non_null(strstr(c.err.msg, "b.example"));
    assert_non_null(strstr(c.err.msg, "a.example")); /* and what the certificate names */
    cc.sni = "a.example";
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);

    /* the server checks the client's name the same way */
    mutual_cfg(&sc, &cc);
    sc.id = "other.example.com";
    run_pair(&sc, &cc, &s, &c);
    assert_refused(&s, &c, "name mismatch");
    assert_non_null(strstr(s.err.msg, "client certificate"));
}

/* ---- 3. path validation: issuer, validity, purpose, chains, CRLs ---- */

struct path_case {
    int server_verifies; /* 1: the client's certificate is bad; 0: the server's */
    const char *bad;     /* base name of the bad certificate */
    const char *chain;   /* NULL: bad.pem; else the file holding the chain */
    const char *why;     /* in the verifier's message */
    const char *alert;   /* what the other side is told (RFC 5246 alert) */
};

static const struct path_case path_cases[] = {
    { 0, "foreign", NULL, "unknown issuer", "CA is unknown" },
    { 1, "foreigncli", NULL, "unknown issuer", "CA is unknown" },
    { 0, "expired", NULL, "expired", "Certificate is expired" },
    { 1, "expiredcli", NULL, "expired", "Certificate is expired" },
    { 0, "future", NULL, "not yet valid", "Certificate is expired" },
    /* serverAuth only, used as a client */
    { 1, "srvonly", NULL, "extended key usage", "Certificate is not supported" },
    { 0, "leaf", NULL, "unknown issuer", "CA is unknown" }, /* intermediate not sent */
    { 0, "outside", "outsidechain", "name constraints", "Certificate is bad" },
};

static void
test_path_validation(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct side s;
    struct side c;
    struct m2msec_error err;
    char cert[64];
    char key[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
        const struct path_case *t = &path_cases[i];
        mutual_cfg(&sc, &cc);
        assert_true(snprintf(cert, sizeof(cert), "%s.pem", t->chain != NULL ? t->chain : t->bad) <
                    (int)sizeof(cert));
        assert_true(snprintf(key, sizeof(key), "%s.key", t->bad) < (int)sizeof(key));
        if (t->server_verifies) {
            cc.cert = P(cert);
            cc.key = P(key);
        } else {
            sc.cert = P(cert);
            sc.key = P(key);
            if (strcmp(t->bad, "outside") == 0) {
                cc.id = "mef.example.org";
            }
        }
        run_pair(&sc, &cc, &s, &c);
        if (t->server_verifies) {
            assert_refused(&s, &c, t->why);
            assert_non_null(strstr(c.err.msg, t->alert));
        } else {
            assert_refused(&c, &s, t->why);
            assert_non_null(strstr(s.err.msg, t->alert));
        }
    }

    /* controls: a second anchor admits the foreign CA; the full chain admits the leaf */
    mutual_cfg(&sc, &cc);
    sc.cert = P("foreign.pem");
    sc.key = P("foreign.key");
    cc.ca_extra = P("ca2.pem");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    mutual_cfg(&sc, &cc);
    sc.cert = P("leafchain.pem");
    sc.key = P("leaf.key");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_string_equal(c.san[0], MEF);

    /* revocation: with the CRL the revoked certificate is refused, the others still pass */
    mutual_cfg(&sc, &cc);
    sc.cert = P("revoked.pem");
    sc.key = P("revoked.key");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c); /* no CRL configured */
    cc.crl = P("ca.crl");
    run_pair(&sc, &cc, &s, &c);
    assert_refused(&c, &s, "revoked");
    assert_non_null(strstr(s.err.msg, "Certificate was revoked"));
    mutual_cfg(&sc, &cc);
    cc.crl = P("ca.crl");
    sc.crl = P("ca.crl");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);

    /* @spec TS-0003 10.1.1.3: a chain signed with ECDSA-SHA384 (made by openssl) is refused */
    if (have_prog("openssl")) {
        struct child ch;
        const char *const req[] = { "openssl",
                                    "req",
                                    "-new",
                                    "-newkey",
                                    "ec",
                                    "-pkeyopt",
                                    "ec_paramgen_curve:P-256",
                                    "-nodes",
                                    "-keyout",
                                    P("sha384.key"),
                                    "-subj",
                                    "/CN=" MEF,
                                    "-addext",
                                    "subjectAltName=DNS:" MEF,
                                    "-out",
                                    P("sha384.csr"),
                                    NULL };
        const char *const sign[] = {
            "openssl", "x509",      "-req",          "-in",       P("sha384.csr"),
            "-CA",     P("ca.pem"), "-CAkey",        P("ca.key"), "-set_serial",
            "7",       "-sha384",   "-days",         "1",         "-copy_extensions",
            "copy",    "-out",      P("sha384.pem"), NULL
        };
        assert_int_equal(child_run(&ch, req), 0);
        assert_int_equal(child_run(&ch, sign), 0);
        mutual_cfg(&sc, &cc);
        sc.cert = P("sha384.pem");
        sc.key = P("sha384.key");
        run_pair(&sc, &cc, &s, &c);
        assert_refused(&c, &s, "wrong signature algorithm ECDSA-SHA384");
        assert_non_null(strstr(s.err.msg, "Certificate is not supported"));
    }

    /* a CRL file that is not a CRL is refused at configuration */
    mutual_cfg(&sc, &cc);
    sc.crl = P("ca.pem");
    assert_null(server_new(&sc, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
}

/* ---- 4. client certificates: required, optional, "any" ---- */

static void
test_client_auth_modes(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct side s;
    struct side c;
    char cli_id[M2MSEC_NI_SHA256_LEN];
    struct m2msec_error err;

    (void)state;
    /* required, and the client has none */
    mutual_cfg(&sc, &cc);
    cc.cert = NULL;
    cc.key = NULL;
    run_pair(&sc, &cc, &s, &c);
    assert_false(s.ok);
    assert_false(c.ok);
    assert_int_equal(s.err.code, M2MSEC_ERR_AUTH);
    assert_non_null(strstr(s.err.msg, "no certificate"));
    assert_int_equal(c.err.code, M2MSEC_ERR_AUTH);
    assert_non_null(strstr(c.err.msg, "requires a client certificate"));

    /* not required: no client certificate, nothing about the client on the server */
    sc.require = 0;
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_int_equal(s.nsan, 0);
    assert_false(s.have_key_id);
    assert_int_equal(c.nsan, 1); /* the client still verified the server */
    /* ... and a client certificate offered anyway is not asked for */
    cc.cert = P("cli.pem");
    cc.key = P("cli.key");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_int_equal(s.nsan, 0);

    /* any identity under the anchors: the server reads it from the certificate */
    mutual_cfg(&sc, &cc);
    sc.flavour = M2MSEC_CERT_ANY;
    sc.id = NULL;
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_int_equal(s.nsan, 1);
    assert_string_equal(s.san[0], MAF);
    assert_int_equal(m2msec_x509_key_id_file(P("cli.pem"), cli_id, sizeof(cli_id), &err), 0);
    assert_string_equal(s.key_id, cli_id);
    /* URI entries are listed with their type */
    cc.cert = P("uri.pem");
    cc.key = P("uri.key");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_int_equal(s.nsan, 1);
    assert_int_equal(s.san_type[0], M2MSEC_SAN_URI);
    assert_string_equal(s.san[0], "https://user@MEF.example.com:8443/x?y");
    /* "any" still means under these anchors */
    cc.cert = P("foreigncli.pem");
    cc.key = P("foreigncli.key");
    run_pair(&sc, &cc, &s, &c);
    assert_refused(&s, &c, "unknown issuer");
}

/* ---- 5. loading and configuration ---- */

static void
expect_server_refused(const struct srv_cfg *sc, enum m2msec_err code, const char *needle)
{
    struct m2msec_error err;
    struct m2msec_tls_cert_server *s = server_new(sc, &err);

    if (s != NULL) {
        m2msec_tls_cert_server_free(s);
        fail_msg("server configuration accepted, expected \"%s\"", needle);
    }
    assert_int_equal(err.code, code);
    if (strstr(err.msg, needle) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", needle, err.msg);
    }
}

static void
expect_client_refused(const struct cli_cfg *cc, enum m2msec_err code, const char *needle)
{
    struct m2msec_error err;
    struct m2msec_tls_conn *c = client_connect(cc, &err);

    if (c != NULL) {
        m2msec_tls_conn_free(c);
        fail_msg("client configuration accepted, expected \"%s\"", needle);
    }
    assert_int_equal(err.code, code);
    if (strstr(err.msg, needle) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", needle, err.msg);
    }
}

static void
test_load_refused(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct m2msec_error err;
    struct m2msec_tls_cert_server *s;
    struct child ch;
    FILE *f;

    (void)state;
    /* control */
    mutual_cfg(&sc, &cc);
    s = server_new(&sc, &err);
    assert_non_null(s);
    m2msec_tls_cert_server_free(s);

    /* P-384 key and certificate */
    sc.cert = P("p384.pem");
    sc.key = P("p384.key");
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "SECP384R1");
    cc.cert = P("p384.pem");
    cc.key = P("p384.key");
    expect_client_refused(&cc, M2MSEC_ERR_INVALID_ARGUMENT, "P-256 required");

    /* key of another certificate */
    mutual_cfg(&sc, &cc);
    sc.key = P("cli.key");
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "does not match");
    /* a certificate file that holds no certificate, a key file that holds no key */
    mutual_cfg(&sc, &cc);
    sc.cert = P("srv.key");
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "certificate");
    mutual_cfg(&sc, &cc);
    sc.key = P("srv.pem");
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "key");
    /* missing files */
    mutual_cfg(&sc, &cc);
    sc.key = P("nope.key");
    expect_server_refused(&sc, M2MSEC_ERR_IO, "nope.key");
    mutual_cfg(&sc, &cc);
    sc.ca = P("nope.pem");
    expect_server_refused(&sc, M2MSEC_ERR_IO, "nope.pem");
    /* a chain in the wrong order, an empty file, a directory */
    mutual_cfg(&sc, &cc);
    sc.cert = P("unsorted.pem");
    sc.key = P("leaf.key");
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "order");
    f = fopen(P("empty.pem"), "w");
    assert_non_null(f);
    fclose(f);
    mutual_cfg(&sc, &cc);
    sc.ca = P("empty.pem");
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "size");
    mutual_cfg(&sc, &cc);
    sc.ca = dir;
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "regular file");
    /* trust anchors that hold no certificate */
    mutual_cfg(&sc, &cc);
    sc.ca = P("srv.key");
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "trust anchors");

    /* RSA (made by openssl: our PKI only makes EC keys) */
    if (have_prog("openssl")) {
        const char *const argv[] = { "openssl", "req",     "-x509",      "-newkey",  "rsa:2048",
                                     "-nodes",  "-keyout", P("rsa.key"), "-out",     P("rsa.pem"),
                                     "-days",   "1",       "-subj",      "/CN=" MEF, NULL };
        assert_int_equal(child_run(&ch, argv), 0);
        mutual_cfg(&sc, &cc);
        sc.cert = P("rsa.pem");
        sc.key = P("rsa.key");
        expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "RSA");
        cc.cert = P("rsa.pem");
        cc.key = P("rsa.key");
        expect_client_refused(&cc, M2MSEC_ERR_INVALID_ARGUMENT, "RSA");
    }
}

static void
test_config_refused(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct m2msec_error err;
    struct m2msec_tls_cert_server *s;
    char ip[64];

    (void)state;
    /* flavours */
    mutual_cfg(&sc, &cc);
    sc.flavour = M2MSEC_CERT_UNSET;
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "not configured");
    sc.flavour = M2MSEC_CERT_CSE_ID;
    sc.id = "/in-cse"; /* the SP-relative form, not the public domain name form */
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "not a valid CSE-ID");
    sc.flavour = M2MSEC_CERT_AE_ID;
    sc.id = "//sp.example.com/CAE01"; /* no scheme */
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "not a valid AE-ID");
    sc.flavour = M2MSEC_CERT_NODE_ID;
    sc.id = "node 1";
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "not a valid Node-ID");
    sc.flavour = M2MSEC_CERT_DEVICE;
    sc.id = "1.2.3.4.5";
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "not a valid hardware instance id");
    sc.id2 = "0.2.481.1.1.2"; /* the second identifier is checked too */
    sc.id = HWID;
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "not a valid hardware instance id");
    sc.id2 = NULL;
    sc.flavour = M2MSEC_CERT_RAW;
    sc.id = MAF;
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "not a valid public key identifier");
    sc.id = NULL;
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "no public key identifier");
    sc.flavour = (enum m2msec_cert_flavour)99;
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "unknown");
    sc.id = MAF;
    /* our own raw public key (cert_file NULL) is P-256 too */
    sc.flavour = M2MSEC_CERT_FQDN;
    sc.cert = NULL;
    sc.key = P("p384.key");
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "P-256 required");
    sc.key = NULL;
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "key file required");
    sc.cert = P("srv.pem");
    sc.key = P("srv.key");
    sc.flavour = M2MSEC_CERT_ANY; /* with an identifier */
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "any");
    sc.flavour = M2MSEC_CERT_FQDN;
    sc.id = NULL; /* a server has no SNI to default to */
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "FQDN");
    sc.id = "*.example.com";
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "not a host name");
    sc.id = "maf.example.com.";
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "not a host name");
    sc.id = MAF;
    sc.ca = NULL;
    expect_server_refused(&sc, M2MSEC_ERR_INVALID_ARGUMENT, "trust anchors");
    /* without client authentication no anchors are needed */
    sc.require = 0;
    sc.flavour = M2MSEC_CERT_UNSET;
    s = server_new(&sc, &err);
    assert_non_null(s);
    m2msec_tls_cert_server_free(s);
    assert_null(m2msec_tls_cert_server_new(NULL, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(m2msec_tls_accept_cert(NULL, -1, NULL, 100, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);

    /* client: refused before connecting (no listener thread runs) */
    mutual_cfg(&sc, &cc);
    cc.flavour = M2MSEC_CERT_UNSET;
    expect_client_refused(&cc, M2MSEC_ERR_INVALID_ARGUMENT, "not configured");
    mutual_cfg(&sc, &cc);
    cc.flavour = M2MSEC_CERT_AE_ID;
    cc.id = "sp.example.com";
    expect_client_refused(&cc, M2MSEC_ERR_INVALID_ARGUMENT, "not a valid AE-ID");
    mutual_cfg(&sc, &cc);
    cc.ca = NULL; /* the client always verifies the server */
    expect_client_refused(&cc, M2MSEC_ERR_INVALID_ARGUMENT, "trust anchors");
    mutual_cfg(&sc, &cc);
    cc.key = NULL;
    expect_client_refused(&cc, M2MSEC_ERR_INVALID_ARGUMENT, "together");
    mutual_cfg(&sc, &cc);
    cc.sni = NULL; /* an address literal: no SNI, so no name to expect */
    expect_client_refused(&cc, M2MSEC_ERR_INVALID_ARGUMENT, "not a host name");
    cc.id = "bad_name.example.com";
    expect_client_refused(&cc, M2MSEC_ERR_INVALID_ARGUMENT, "not a host name");
    mutual_cfg(&sc, &cc);
    cc.sni = "";
    expect_client_refused(&cc, M2MSEC_ERR_INVALID_ARGUMENT, "server name");
    mutual_cfg(&sc, &cc);
    cc.hostport = "127.0.0.1";
    expect_client_refused(&cc, M2MSEC_ERR_INVALID_ARGUMENT, "");
    assert_null(m2msec_tls_connect_cert(NULL, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    /* nobody listening: an I/O error */
    (void)snprintf(ip, sizeof(ip), "127.0.0.1:%d", 1);
    mutual_cfg(&sc, &cc);
    cc.hostport = ip;
    expect_client_refused(&cc, M2MSEC_ERR_IO, "");
    /* accessors on NULL */
    assert_int_equal(m2msec_tls_peer_san_count(NULL), 0);
    assert_null(m2msec_tls_peer_san(NULL, 0, NULL));
    assert_null(m2msec_tls_peer_key_id(NULL));
    m2msec_tls_cert_server_free(NULL);
}

/* Deadlines come from tls.c: a silent peer makes either side give up in time. */
static void
test_timeouts(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct m2msec_tls_cert_server *srv;
    struct m2msec_error err;
    struct m2msec_tls_cert_client o;
    const char *cas[1];
    char bound[64];
    int cfd;
    int sfd;
    int lfd;

    (void)state;
    mutual_cfg(&sc, &cc);
    srv = server_new(&sc, &err);
    assert_non_null(srv);
    cfd = m2msec_tcp_connect(lsn.hostport, 1000, &err);
    assert_true(cfd >= 0);
    sfd = m2msec_tcp_accept(lsn.fd, 1000, &err);
    assert_true(sfd >= 0);
    m2msec_error_clear(&err);
    assert_null(m2msec_tls_accept_cert(srv, sfd, NULL, 200, &err)); /* closes sfd */
    assert_int_equal(err.code, M2MSEC_ERR_TIMEOUT);
    close(cfd);
    m2msec_tls_cert_server_free(srv);

    lfd = m2msec_tcp_listen("127.0.0.1:0", 4, bound, sizeof(bound), &err);
    assert_true(lfd >= 0);
    memset(&o, 0, sizeof(o));
    cas[0] = P("ca.pem");
    o.hostport = bound;
    o.sni = MEF;
    o.server.flavour = M2MSEC_CERT_FQDN;
    o.server.ca_files = cas;
    o.server.n_ca_files = 1;
    o.timeout_ms = 200;
    m2msec_error_clear(&err);
    assert_null(m2msec_tls_connect_cert(&o, &err));
    assert_int_equal(err.code, M2MSEC_ERR_TIMEOUT);
    close(lfd);
}

/* A PSK connection carries no certificate data. */
static int
psk_lookup(void *arg, void *ctx, const char *identity, struct m2msec_secret **key)
{
    (void)arg;
    (void)ctx;
    (void)identity;
    *key = m2msec_secret_from_hex("00112233445566778899aabbccddeeff", 32, NULL);
    return *key != NULL ? 0 : -1;
}

static void *
psk_srv_thread(void *arg)
{
    struct m2msec_tls_server *srv = arg;
    struct m2msec_tls_conn *c;
    struct m2msec_error err;
    int fd;

    fd = m2msec_tcp_accept(lsn.fd, CHILD_MS, &err);
    if (fd >= 0) {
        c = m2msec_tls_accept(srv, fd, NULL, 5000, &err);
        if (c != NULL) {
            (void)m2msec_tls_close(c);
            m2msec_tls_conn_free(c);
        }
    }
    return NULL;
}

static void
test_psk_conn_has_no_cert_data(void **state)
{
    struct m2msec_tls_server *srv;
    struct m2msec_tls_conn *c;
    struct m2msec_secret *key;
    struct m2msec_error err;
    pthread_t th;
    struct m2msec_tls_psk_client o;

    (void)state;
    srv = m2msec_tls_server_new_psk(psk_lookup, NULL, &err);
    assert_non_null(srv);
    key = m2msec_secret_from_hex("00112233445566778899aabbccddeeff", 32, &err);
    assert_non_null(key);
    assert_int_equal(pthread_create(&th, NULL, psk_srv_thread, srv), 0);
    memset(&o, 0, sizeof(o));
    o.hostport = lsn.hostport;
    o.sni = MEF;
    o.identity = "id@" MEF;
    o.psk = key;
    o.timeout_ms = 5000;
    c = m2msec_tls_connect_psk(&o, &err);
    assert_non_null(c);
    assert_int_equal(m2msec_tls_peer_san_count(c), 0);
    assert_null(m2msec_tls_peer_san(c, 0, NULL));
    assert_null(m2msec_tls_peer_key_id(c));
    m2msec_tls_conn_free(c);
    assert_int_equal(pthread_join(th, NULL), 0);
    m2msec_secret_free(key);
    m2msec_tls_server_free(srv);
}

/* ---- 5b. one server for certificate and PSK clients ---- */

#define BOTH_PSK_ID  "target-psk-1"
#define BOTH_PSK_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define BOTH_BAD_HEX "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define PSK_GCM      "TLS_PSK_WITH_AES_128_GCM_SHA256"

/* What the lookup of the combined server saw: the worker context is passed through. */
struct both_lookup {
    void *ctx_seen;
    int calls;
};

static int
both_lookup(void *arg, void *ctx, const char *identity, struct m2msec_secret **key)
{
    struct both_lookup *l = arg;

    l->ctx_seen = ctx;
    l->calls++;
    if (strcmp(identity, "lookup-fails") == 0) {
        return -1;
    }
    if (strcmp(identity, BOTH_PSK_ID) != 0) {
        return 1;
    }
    *key = m2msec_secret_from_hex(BOTH_PSK_HEX, strlen(BOTH_PSK_HEX), NULL);
    return *key != NULL ? 0 : -1;
}

struct both_job {
    struct m2msec_tls_cert_server *srv;
    void *ctx;
    pthread_t th;
    struct side s;
    char identity[64];
};

static void *
both_srv_thread(void *arg)
{
    struct both_job *j = arg;
    struct m2msec_tls_conn *c;
    const char *id;
    int fd;

    fd = m2msec_tcp_accept(lsn.fd, CHILD_MS, &j->s.err);
    if (fd < 0) {
        return NULL;
    }
    c = m2msec_tls_accept_cert(j->srv, fd, j->ctx, 5000, &j->s.err);
    if (c == NULL) {
        return NULL;
    }
    observe(&j->s, c);
    id = m2msec_tls_psk_identity(c);
    (void)m2msec_strlcpy(j->identity, id != NULL ? id : "", sizeof(j->identity));
    (void)m2msec_tls_close(c);
    m2msec_tls_conn_free(c);
    return NULL;
}

/* One PSK client handshake against srv; the client's observations in *cs. */
static void
both_psk_client(struct both_job *j, const char *identity, const char *hex, struct side *cs)
{
    struct m2msec_tls_psk_client o;
    struct m2msec_tls_conn *c;
    struct m2msec_secret *key;
    struct m2msec_error err;
    uint8_t b;

    key = m2msec_secret_from_hex(hex, strlen(hex), &err);
    assert_non_null(key);
    assert_int_equal(pthread_create(&j->th, NULL, both_srv_thread, j), 0);
    memset(cs, 0, sizeof(*cs));
    memset(&o, 0, sizeof(o));
    o.hostport = lsn.hostport;
    o.sni = MEF;
    o.identity = identity;
    o.psk = key;
    o.timeout_ms = 5000;
    c = m2msec_tls_connect_psk(&o, &cs->err);
    if (c != NULL) {
        observe(cs, c);
        assert_int_equal(m2msec_tls_read(c, &b, 1, &err), 0);
        m2msec_tls_conn_free(c);
    }
    assert_int_equal(pthread_join(j->th, NULL), 0);
    m2msec_secret_free(key);
}

static void
test_cert_and_psk_server(void **state)
{
    static const struct {
        const char *identity;
        const char *hex;
        int ok;
        enum m2msec_err srv_code;
        const char *srv_msg;
    } cases[] = {
        { BOTH_PSK_ID, BOTH_PSK_HEX, 1, M2MSEC_ERR_NONE, NULL },
        { BOTH_PSK_ID, BOTH_BAD_HEX, 0, M2MSEC_ERR_AUTH, "PSK handshake failed" },
        { "target-psk-2", BOTH_PSK_HEX, 0, M2MSEC_ERR_AUTH, "unknown identity" },
        { "lookup-fails", BOTH_PSK_HEX, 0, M2MSEC_ERR_TLS, "PSK lookup failed" },
    };
    struct both_lookup look = { 0 };
    struct m2msec_tls_cert_opts o;
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct both_job j;
    struct side cs;
    struct m2msec_error err;
    const char *cas[1];
    int worker = 7;
    size_t i;

    (void)state;
    mutual_cfg(&sc, &cc);
    cas[0] = sc.ca;
    memset(&o, 0, sizeof(o));
    o.cert_file = sc.cert;
    o.key_file = sc.key;
    o.require_client_cert = 1;
    o.client.flavour = M2MSEC_CERT_ANY;
    o.client.ca_files = cas;
    o.client.n_ca_files = 1;
    o.psk_lookup = both_lookup;
    o.psk_arg = &look;
    memset(&j, 0, sizeof(j));
    j.srv = m2msec_tls_cert_server_new(&o, &err);
    if (j.srv == NULL) {
        fail_msg("server: %s", err.msg);
    }
    j.ctx = &worker;

    /* A certificate client: verified as before, no PSK identity, no lookup. */
    assert_int_equal(pthread_create(&j.th, NULL, both_srv_thread, &j), 0);
    memset(&cs, 0, sizeof(cs));
    {
        struct m2msec_tls_conn *c = client_connect(&cc, &cs.err);
        uint8_t b;

        if (c != NULL) {
            observe(&cs, c);
            assert_int_equal(m2msec_tls_read(c, &b, 1, &err), 0);
            m2msec_tls_conn_free(c);
        }
    }
    assert_int_equal(pthread_join(j.th, NULL), 0);
    assert_ok_pair(&j.s, &cs);
    assert_string_equal(j.s.cipher, GCM);
    assert_true(j.s.psk_identity_null);
    assert_int_equal(j.s.nsan, 1);
    assert_string_equal(j.s.san[0], MAF);
    assert_int_equal(look.calls, 0);

    /* ... and one without a certificate is still refused. */
    memset(&j.s, 0, sizeof(j.s));
    cc.cert = NULL;
    cc.key = NULL;
    assert_int_equal(pthread_create(&j.th, NULL, both_srv_thread, &j), 0);
    memset(&cs, 0, sizeof(cs));
    assert_null(client_connect(&cc, &cs.err));
    assert_int_equal(pthread_join(j.th, NULL), 0);
    assert_false(j.s.ok);
    assert_int_equal(j.s.err.code, M2MSEC_ERR_AUTH);
    assert_non_null(strstr(j.s.err.msg, "no certificate"));
    assert_int_equal(look.calls, 0);

    /* PSK clients: the right key, a wrong key, an unknown identity, a failing lookup. */
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&j.s, 0, sizeof(j.s));
        look.ctx_seen = NULL;
        both_psk_client(&j, cases[i].identity, cases[i].hex, &cs);
        assert_ptr_equal(look.ctx_seen, &worker);
        if (cases[i].ok) {
            assert_ok_pair(&j.s, &cs);
            assert_string_equal(j.s.cipher, PSK_GCM);
            assert_string_equal(j.identity, cases[i].identity);
            assert_int_equal(j.s.nsan, 0);
            assert_false(j.s.have_key_id);
            continue;
        }
        assert_false(j.s.ok);
        assert_false(cs.ok);
        assert_int_equal(j.s.err.code, cases[i].srv_code);
        if (strstr(j.s.err.msg, cases[i].srv_msg) == NULL) {
            fail_msg("case %zu: expected \"%s\" in \"%s\"", i, cases[i].srv_msg, j.s.err.msg);
        }
        if (cases[i].srv_code == M2MSEC_ERR_AUTH) {
            /* Unknown identity and wrong key look the same to the client. */
            assert_int_equal(cs.err.code, M2MSEC_ERR_AUTH);
            assert_string_equal(cs.err.msg, "PSK handshake failed");
        }
    }
    m2msec_tls_cert_server_free(j.srv);

    /* Without psk_lookup the same server refuses PSK clients: no common suite. */
    o.psk_lookup = NULL;
    o.psk_arg = NULL;
    memset(&j, 0, sizeof(j));
    j.srv = m2msec_tls_cert_server_new(&o, &err);
    assert_non_null(j.srv);
    look.calls = 0;
    both_psk_client(&j, BOTH_PSK_ID, BOTH_PSK_HEX, &cs);
    assert_false(j.s.ok);
    assert_false(cs.ok);
    assert_int_equal(cs.err.code, M2MSEC_ERR_TLS);
    assert_int_equal(look.calls, 0);
    m2msec_tls_cert_server_free(j.srv);
}

/* ---- 6. RFC 6920 key identifiers ---- */

static void
test_key_id(void **state)
{
    struct m2msec_error err;
    uint8_t *spki = NULL;
    size_t len = 0;
    char id[M2MSEC_NI_SHA256_LEN];
    char small[M2MSEC_NI_SHA256_LEN - 1];
    char want[128];
    char *nl;
    struct child ch;

    (void)state;
    /* known answer */
    assert_int_equal(t_vec_unhex(KAT_SPKI_HEX, &spki, &len), 0);
    assert_int_equal(m2msec_x509_key_id_der(spki, len, id, sizeof(id), &err), 0);
    assert_string_equal(id, KAT_NI);
    assert_int_equal(strlen(id), M2MSEC_NI_SHA256_LEN - 1);
    /* neighbours: short buffer, truncated DER, trailing byte, a flipped tag, NULL */
    assert_int_equal(m2msec_x509_key_id_der(spki, len, small, sizeof(small), &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(m2msec_x509_key_id_der(spki, len - 1, id, sizeof(id), &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    spki = realloc(spki, len + 1);
    assert_non_null(spki);
    spki[len] = 0;
    assert_int_equal(m2msec_x509_key_id_der(spki, len + 1, id, sizeof(id), &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    spki[0] = 0x31;
    assert_int_equal(m2msec_x509_key_id_der(spki, len, id, sizeof(id), &err), -1);
    assert_int_equal(m2msec_x509_key_id_der(NULL, 10, id, sizeof(id), &err), -1);
    free(spki);
    spki = NULL;
    assert_int_equal(m2msec_x509_key_id_file(P("nope.pem"), id, sizeof(id), &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_IO);
    assert_int_equal(m2msec_x509_key_id_file(P("srv.key"), id, sizeof(id), &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);

    /* independent computation: openssl extracts the SPKI from the key, python hashes it */
    if (!have_prog("openssl") || !have_prog("python3")) {
        skip();
    }
    {
        const char *const pkey[] = { "openssl",  "pkey", "-in",  P("srv.key"),  "-pubout",
                                     "-outform", "DER",  "-out", P("srv.spki"), NULL };
        const char *const py[] = {
            "python3", "-c",
            "import sys,hashlib,base64;d=open(sys.argv[1],'rb').read();"
            "print('ni:///sha-256;'+base64.urlsafe_b64encode(hashlib.sha256(d).digest())"
            ".decode().rstrip('='))",
            P("srv.spki"), NULL
        };
        assert_int_equal(child_run(&ch, pkey), 0);
        assert_int_equal(child_run(&ch, py), 0);
    }
    assert_int_equal(m2msec_strlcpy(want, ch.out, sizeof(want)), 0);
    nl = strchr(want, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_int_equal(m2msec_x509_key_id_file(P("srv.pem"), id, sizeof(id), &err), 0);
    assert_string_equal(id, want);
    assert_int_equal(m2msec_x509_read_file(P("srv.spki"), 4096, &spki, &len, &err), 0);
    assert_int_equal(m2msec_x509_key_id_der(spki, len, id, sizeof(id), &err), 0);
    assert_string_equal(id, want);
    m2msec_free(spki);
    /* another key, another identifier */
    assert_int_equal(m2msec_x509_key_id_file(P("cli.pem"), id, sizeof(id), &err), 0);
    assert_string_not_equal(id, want);
}

/* ---- 7. interoperability with OpenSSL ---- */

static const char *const openssl_suites[][2] = {
    { "ECDHE-ECDSA-AES128-GCM-SHA256", GCM },
    { "ECDHE-ECDSA-AES128-CCM8", CCM8 },
    { "ECDHE-ECDSA-AES128-SHA256", CBC },
};

static void
test_interop_openssl_client(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct m2msec_tls_cert_server *srv;
    struct m2msec_error err;
    struct srv_job j;
    struct child ch;
    char want[2 * M2MSEC_EXPORT_LEN + 1];
    char got[2 * M2MSEC_EXPORT_LEN + 8];
    size_t i;

    (void)state;
    if (!have_prog("openssl")) {
        skip();
    }
    mutual_cfg(&sc, &cc);
    srv = server_new(&sc, &err);
    assert_non_null(srv);
    for (i = 0; i < sizeof(openssl_suites) / sizeof(openssl_suites[0]); i++) {
        const char *const argv[] = { "openssl",
                                     "s_client",
                                     "-connect",
                                     lsn.hostport,
                                     "-tls1_2",
                                     "-cipher",
                                     openssl_suites[i][0],
                                     "-cert",
                                     P("cli.pem"),
                                     "-key",
                                     P("cli.key"),
                                     "-CAfile",
                                     P("ca.pem"),
                                     "-verify_return_error",
                                     "-verify_hostname",
                                     MEF,
                                     "-servername",
                                     MEF,
                                     "-keymatexport",
                                     M2MSEC_LABEL_BOOTSTRAP,
                                     "-keymatexportlen",
                                     "48",
                                     NULL };
        srv_start(&j, srv, 1);
        child_spawn(&ch, argv);
        (void)child_read_until(&ch, "Keying material: ", CHILD_MS);
        (void)child_finish(&ch);
        srv_join(&j);
        if (!j.s.ok) {
            fail_msg("server: %s\nopenssl: %s", j.s.err.msg, ch.out);
        }
        assert_string_equal(j.s.cipher, openssl_suites[i][1]);
        assert_string_equal(j.s.san[0], MAF);
        assert_string_equal(j.s.sni, MEF);
        assert_non_null(strstr(ch.out, "Verify return code: 0 (ok)"));
        assert_int_equal(parse_keymat(ch.out, got, sizeof(got)), 0);
        hex_of(j.s.boot, sizeof(j.s.boot), want, sizeof(want));
        assert_string_equal(got, want);
    }
    /* neighbours: s_client without a certificate, and with one from another CA */
    {
        const char *const nocert[] = { "openssl", "s_client", "-connect",  lsn.hostport,
                                       "-tls1_2", "-CAfile",  P("ca.pem"), NULL };
        const char *const foreign[] = { "openssl",           "s_client",  "-connect",
                                        lsn.hostport,        "-tls1_2",   "-cert",
                                        P("foreigncli.pem"), "-key",      P("foreigncli.key"),
                                        "-CAfile",           P("ca.pem"), NULL };
        srv_start(&j, srv, 1);
        child_spawn(&ch, nocert);
        srv_join(&j);
        (void)child_finish(&ch);
        assert_false(j.s.ok);
        assert_int_equal(j.s.err.code, M2MSEC_ERR_AUTH);
        assert_non_null(strstr(j.s.err.msg, "no certificate"));
        srv_start(&j, srv, 1);
        child_spawn(&ch, foreign);
        srv_join(&j);
        (void)child_finish(&ch);
        assert_false(j.s.ok);
        assert_int_equal(j.s.err.code, M2MSEC_ERR_AUTH);
        assert_non_null(strstr(j.s.err.msg, "unknown issuer"));
        assert_non_null(strstr(ch.out, "alert unknown ca")); /* OpenSSL was told why */
    }
    m2msec_tls_cert_server_free(srv);
}

/* Start openssl s_server on a free port with extra arguments; 0 when it listens. */
static void
s_server_start(struct child *ch, char *accept_at, size_t accept_sz, const char *const *extra)
{
    struct m2msec_error err;
    char bound[64];
    const char *argv[40];
    size_t n;
    size_t i;
    int tries;
    int fd;
    int up = 0;

    for (tries = 0; tries < 5 && !up; tries++) {
        /* pick a free port, release it, let s_server take it (retry on a lost race) */
        fd = m2msec_tcp_listen("127.0.0.1:0", 1, bound, sizeof(bound), &err);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(m2msec_strlcpy(accept_at, bound, accept_sz), 0);
        n = 0;
        argv[n++] = "openssl";
        argv[n++] = "s_server";
        argv[n++] = "-accept";
        argv[n++] = accept_at;
        argv[n++] = "-tls1_2";
        argv[n++] = "-naccept";
        argv[n++] = "1";
        for (i = 0; extra[i] != NULL; i++) {
            assert_true(n + 2 < sizeof(argv) / sizeof(argv[0]));
            argv[n++] = extra[i];
        }
        argv[n] = NULL;
        child_spawn(ch, argv);
        up = child_read_until(ch, "ACCEPT", CHILD_MS);
        if (!up) {
            (void)child_finish(ch);
        }
    }
    assert_true(up);
}

static void
test_interop_openssl_server(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct m2msec_error err;
    struct m2msec_tls_conn *c;
    struct child ch;
    char accept_at[64];
    char want[2 * M2MSEC_EXPORT_LEN + 1];
    char got[2 * M2MSEC_EXPORT_LEN + 8];
    uint8_t boot[M2MSEC_EXPORT_LEN];

    (void)state;
    if (!have_prog("openssl")) {
        skip();
    }
    {
        const char *const extra[] = { "-cert",
                                      P("srv.pem"),
                                      "-key",
                                      P("srv.key"),
                                      "-CAfile",
                                      P("ca.pem"),
                                      "-Verify",
                                      "1",
                                      "-verify_return_error",
                                      "-keymatexport",
                                      M2MSEC_LABEL_BOOTSTRAP,
                                      "-keymatexportlen",
                                      "48",
                                      NULL };
        s_server_start(&ch, accept_at, sizeof(accept_at), extra);
    }
    mutual_cfg(&sc, &cc);
    cc.hostport = accept_at;
    c = client_connect(&cc, &err);
    if (c == NULL) {
        (void)child_finish(&ch);
        fail_msg("client: %s\nopenssl: %s", err.msg, ch.out);
    }
    assert_string_equal(m2msec_tls_cipher(c), GCM);
    assert_string_equal(m2msec_tls_peer_san(c, 0, NULL), MEF);
    assert_null(m2msec_tls_peer_san(c, 1, NULL)); /* out of range */
    assert_int_equal(m2msec_tls_export(c, M2MSEC_LABEL_BOOTSTRAP, boot, sizeof(boot), &err), 0);
    (void)child_read_until(&ch, "Keying material: ", CHILD_MS);
    assert_int_equal(m2msec_tls_close(c), 0);
    m2msec_tls_conn_free(c);
    (void)child_finish(&ch);
    assert_int_equal(parse_keymat(ch.out, got, sizeof(got)), 0);
    hex_of(boot, sizeof(boot), want, sizeof(want));
    assert_string_equal(got, want);

    /* neighbour: s_server requires a certificate we do not have */
    {
        const char *const extra[] = { "-cert",      P("srv.pem"), "-key",
                                      P("srv.key"), "-CAfile",    P("ca.pem"),
                                      "-Verify",    "1",          "-verify_return_error",
                                      NULL };
        s_server_start(&ch, accept_at, sizeof(accept_at), extra);
    }
    cc.cert = NULL;
    cc.key = NULL;
    c = client_connect(&cc, &err);
    (void)child_finish(&ch);
    assert_null(c);
    assert_int_not_equal(err.code, M2MSEC_ERR_NONE);
}

/*
 * A peer with a P-384 key (we refuse to load one, so OpenSSL plays the peer).
 * With our pinned groups a P-384 server cannot even negotiate; a client that
 * also offers P-384 (test hook) gets as far as verification, which refuses it.
 */
static void
test_interop_p384(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct m2msec_tls_cert_server *srv;
    struct m2msec_error err;
    struct m2msec_tls_conn *c;
    struct srv_job j;
    struct child ch;
    char accept_at[64];
    int widened;

    (void)state;
    if (!have_prog("openssl")) {
        skip();
    }
    mutual_cfg(&sc, &cc);
    cc.cert = NULL;
    cc.key = NULL;
    for (widened = 0; widened < 2; widened++) {
        const char *const extra[] = { "-cert", P("p384.pem"), "-key", P("p384.key"), NULL };
        s_server_start(&ch, accept_at, sizeof(accept_at), extra);
        m2msec_tls_test_cert_client_priority(
                widened ? "NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+AES-128-GCM:+AEAD:+COMP-NULL:"
                          "+GROUP-SECP256R1:+GROUP-SECP384R1:+SIGN-ECDSA-SHA256:+SIGN-ECDSA-SHA384"
                        : NULL);
        cc.hostport = accept_at;
        c = client_connect(&cc, &err);
        m2msec_tls_test_cert_client_priority(NULL);
        (void)child_finish(&ch);
        assert_null(c);
        if (!widened) {
            assert_int_equal(err.code, M2MSEC_ERR_TLS);
        } else if (err.code != M2MSEC_ERR_AUTH || strstr(err.msg, "wrong key type") == NULL) {
            fail_msg("expected a key type refusal, got \"%s\"", err.msg);
        }
    }

    /* an OpenSSL client presenting a P-384 certificate to our server */
    srv = server_new(&sc, &err);
    assert_non_null(srv);
    {
        const char *const argv[] = { "openssl",     "s_client", "-connect",    lsn.hostport,
                                     "-tls1_2",     "-cert",    P("p384.pem"), "-key",
                                     P("p384.key"), "-CAfile",  P("ca.pem"),   NULL };
        srv_start(&j, srv, 1);
        child_spawn(&ch, argv);
        srv_join(&j);
        (void)child_finish(&ch);
    }
    m2msec_tls_cert_server_free(srv);
    /* TLS 1.2 ECDSA-SHA256 is not tied to a curve: only our own check stops it */
    assert_false(j.s.ok);
    assert_int_equal(j.s.err.code, M2MSEC_ERR_AUTH);
    assert_non_null(strstr(j.s.err.msg, "wrong key type"));
}

/* ---- 8. the PKI itself ---- */

static void
test_pki(void **state)
{
    struct m2msec_error err;
    struct m2msec_pki_issue_opts o;
    struct stat st;
    struct child ch;
    const char *dns[] = { "x.example.com" };
    const char *bad_dns[] = { "bad name" };
    char before[4096];
    FILE *f;
    size_t n;

    (void)state;
    /* modes: key 0600, certificate readable */
    assert_int_equal(stat(P("srv.key"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(P("ca.key"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(P("srv.pem"), &st), 0);
    assert_int_equal(st.st_mode & 0600, 0600);

    /* never overwrite: O_EXCL on the key, and nothing half-written when the certificate exists */
    f = fopen(P("srv.key"), "r");
    assert_non_null(f);
    n = fread(before, 1, sizeof(before), f);
    fclose(f);
    assert_int_equal(m2msec_pki_issue_fqdn(P("ca.pem"), P("ca.key"), MEF, P("new.pem"),
                                           P("srv.key"), 30, 1, &err),
                     -1);
    assert_int_equal(err.code, M2MSEC_ERR_IO);
    f = fopen(P("srv.key"), "r");
    assert_non_null(f);
    assert_int_equal(fread(before + n, 1, sizeof(before) - n, f), n);
    fclose(f);
    assert_memory_equal(before, before + n, n);
    assert_int_equal(access(P("new.pem"), F_OK), -1);
    assert_int_equal(m2msec_pki_issue_fqdn(P("ca.pem"), P("ca.key"), MEF, P("srv.pem"),
                                           P("new.key"), 30, 1, &err),
                     -1);
    assert_int_equal(err.code, M2MSEC_ERR_IO);
    assert_int_equal(access(P("new.key"), F_OK), -1); /* the key was removed again */
    assert_int_equal(m2msec_pki_ca_create(P("ca.pem"), P("ca3.key"), "X", 30, &err), -1);
    assert_int_equal(access(P("ca3.key"), F_OK), -1);

    /* argument neighbours */
    assert_int_equal(m2msec_pki_issue_fqdn(P("ca.pem"), P("ca.key"), "*.example.com", P("w.pem"),
                                           P("w.key"), 30, 1, &err),
                     -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_pki_issue_fqdn(P("ca.pem"), P("ca.key"), "", P("w.pem"), P("w.key"), 30,
                                           1, &err),
                     -1);
    assert_int_equal(m2msec_pki_issue_fqdn(P("ca.pem"), P("ca.key"), MEF, P("w.pem"), P("w.key"), 0,
                                           1, &err),
                     -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_pki_issue_fqdn(P("ca.pem"), P("ca.key"), MEF, P("w.pem"), P("w.key"),
                                           M2MSEC_PKI_DAYS_MAX + 1, 1, &err),
                     -1);
    /* a CA key that is not the CA's, a CA certificate that is no CA */
    assert_int_equal(m2msec_pki_issue_fqdn(P("ca.pem"), P("ca2.key"), MEF, P("w.pem"), P("w.key"),
                                           30, 1, &err),
                     -1);
    assert_non_null(strstr(err.msg, "does not belong"));
    assert_int_equal(m2msec_pki_issue_fqdn(P("srv.pem"), P("srv.key"), MEF, P("w.pem"), P("w.key"),
                                           30, 1, &err),
                     -1);
    assert_non_null(strstr(err.msg, "not a CA"));
    assert_int_equal(m2msec_pki_ca_create(P("w.pem"), P("w.key"), "", 30, &err), -1);
    assert_int_equal(m2msec_pki_ca_create(NULL, P("w.key"), "X", 30, &err), -1);
    assert_int_equal(access(P("w.key"), F_OK), -1);
    memset(&o, 0, sizeof(o));
    o.ca_cert = P("ca.pem");
    o.ca_key = P("ca.key");
    o.out_cert = P("w.pem");
    o.out_key = P("w.key");
    o.days = 30;
    assert_int_equal(m2msec_pki_issue(&o, &err), -1); /* no name at all */
    o.dns = bad_dns;
    o.n_dns = 1;
    assert_int_equal(m2msec_pki_issue(&o, &err), -1);
    o.dns = dns;
    o.permitted_dns = dns; /* constraints on an end entity */
    o.n_permitted_dns = 1;
    assert_int_equal(m2msec_pki_issue(&o, &err), -1);
    o.permitted_dns = NULL;
    o.n_permitted_dns = 0;
    o.not_before = 100;
    o.not_after = 50;
    assert_int_equal(m2msec_pki_issue(&o, &err), -1);
    o.not_before = 0;
    o.not_after = 0;
    o.eku = 4;
    assert_int_equal(m2msec_pki_issue(&o, &err), -1);
    assert_int_equal(access(P("w.key"), F_OK), -1);
    assert_int_equal(m2msec_pki_issue(NULL, &err), -1);
    /* a CRL only for certificates of its CA */
    {
        const char *rev[] = { P("foreign.pem") };
        assert_int_equal(
                m2msec_pki_crl_create(P("ca.pem"), P("ca.key"), rev, 1, P("w.crl"), 7, &err), -1);
        assert_non_null(strstr(err.msg, "not issued"));
        assert_int_equal(access(P("w.crl"), F_OK), -1);
    }

    /* the profile, read back by an independent parser */
    if (!have_prog("openssl")) {
        skip();
    }
    {
        const char *const ca[] = { "openssl", "x509", "-in", P("ca.pem"), "-noout", "-text", NULL };
        const char *const leaf[] = {
            "openssl", "x509", "-in", P("srv.pem"), "-noout", "-text", NULL
        };
        const char *const srvonly[] = { "openssl", "x509",  "-in", P("srvonly.pem"),
                                        "-noout",  "-text", NULL };
        const char *const verify[] = { "openssl",    "verify",     "-CAfile",     P("ca.pem"),
                                       "-untrusted", P("ica.pem"), P("leaf.pem"), NULL };
        const char *const crl[] = { "openssl", "crl",     "-in",       P("ca.crl"), "-noout",
                                    "-text",   "-CAfile", P("ca.pem"), NULL };

        assert_int_equal(child_run(&ch, ca), 0);
        assert_non_null(strstr(ch.out, "CA:TRUE"));
        assert_non_null(strstr(ch.out, "Certificate Sign, CRL Sign"));
        assert_non_null(strstr(ch.out, "prime256v1"));
        assert_non_null(strstr(ch.out, "ecdsa-with-SHA256"));
        assert_int_equal(child_run(&ch, leaf), 0);
        assert_non_null(strstr(ch.out, "CA:FALSE"));
        assert_non_null(strstr(ch.out, "Digital Signature"));
        assert_null(strstr(ch.out, "Certificate Sign"));
        assert_non_null(strstr(ch.out, "DNS:" MEF));
        assert_non_null(strstr(ch.out, "TLS Web Server Authentication"));
        assert_non_null(strstr(ch.out, "TLS Web Client Authentication"));
        assert_non_null(strstr(ch.out, "prime256v1"));
        assert_non_null(strstr(ch.out, "ecdsa-with-SHA256"));
        assert_non_null(strstr(ch.out, "Authority Key Identifier"));
        assert_int_equal(child_run(&ch, srvonly), 0);
        assert_non_null(strstr(ch.out, "TLS Web Server Authentication"));
        assert_null(strstr(ch.out, "TLS Web Client Authentication"));
        assert_int_equal(child_run(&ch, verify), 0);
        assert_non_null(strstr(ch.out, "OK"));
        assert_int_equal(child_run(&ch, crl), 0);
        assert_non_null(strstr(ch.out, "verify OK"));
        assert_non_null(strstr(ch.out, "Revoked Certificates"));
    }
}

/* ---- 9. flavours: CSE-ID, AE-ID, Node-ID, device; identities and Credential-IDs ---- */

struct flavour_case {
    enum m2msec_cert_flavour flavour;
    const char *ca;   /* the one configured root */
    const char *cert; /* the client's certificate (base name) */
    const char *id;   /* configured identifier; NULL: read it from the certificate */
    const char *id2;  /* a second accepted identifier */
    const char *crl;
    const char *want; /* NULL: accepted, else the refusal reason */
    const char *identity;
    const char *cred; /* expected Credential-ID; "" none (FQDN) */
};

static const struct flavour_case flavour_cases[] = {
    /* device: otherName M2M Device ID under the manufacturer root */
    { M2MSEC_CERT_DEVICE, "mfr", "dev", HWID, NULL, NULL, NULL, HWID, "31-" HWID },
    { M2MSEC_CERT_DEVICE, "mfr", "dev", NULL, NULL, NULL, NULL, HWID, "31-" HWID },
    { M2MSEC_CERT_DEVICE, "mfr", "dev", HWID2, HWID, NULL, NULL, HWID, "31-" HWID },
    { M2MSEC_CERT_DEVICE, "mfr", "dev", HWID2, NULL, NULL, "name mismatch", NULL, NULL },
    { M2MSEC_CERT_DEVICE, "ent", "dev", HWID, NULL, NULL, "unknown issuer", NULL, NULL },
    { M2MSEC_CERT_DEVICE, "mfr", "devexp", HWID, NULL, NULL, "expired", NULL, NULL },
    { M2MSEC_CERT_DEVICE, "mfr", "devrev", HWID, NULL, "mfr.crl", "revoked", NULL, NULL },
    { M2MSEC_CERT_DEVICE, "mfr", "dev", HWID, NULL, "mfr.crl", NULL, HWID, "31-" HWID },
    { M2MSEC_CERT_DEVICE, "ent", "node", NULL, NULL, NULL, "no subjectAltName otherName", NULL,
      NULL },
    /* Node-ID: urn:oid URI under the enterprise root; URN Node-IDs as themselves */
    { M2MSEC_CERT_NODE_ID, "ent", "node", NODEOID, NULL, NULL, NULL, NODEOID, "34-" NODEOID },
    { M2MSEC_CERT_NODE_ID, "ent", "node", "URN:OID:" NODEOID, NULL, NULL, NULL, NODEOID,
      "34-" NODEOID },
    { M2MSEC_CERT_NODE_ID, "ent", "node", NULL, NULL, NULL, NULL, NODEOID, "34-" NODEOID },
    { M2MSEC_CERT_NODE_ID, "ent", "node", "1.3.6.1.4.1.55555.7.10", NULL, NULL, "name mismatch",
      NULL, NULL },
    { M2MSEC_CERT_NODE_ID, "ent", "nodeurn", "URN:IMEI:490154203237518", NULL, NULL, NULL, NODEURN,
      "34-" NODEURN },
    { M2MSEC_CERT_NODE_ID, "ent", "nodeurn", "urn:imei:490154203237519", NULL, NULL,
      "name mismatch", NULL, NULL },
    { M2MSEC_CERT_NODE_ID, "mfr", "dev", NULL, NULL, NULL, "no subjectAltName URI (Node-ID)", NULL,
      NULL },
    /* CSE-ID: dNSName under the vertical root (constrained to example.com) */
    { M2MSEC_CERT_CSE_ID, "vert", "cse", CSEID, NULL, NULL, NULL, CSEID, "32-" CSEID },
    { M2MSEC_CERT_CSE_ID, "vert", "cse", "CSE1.Example.COM", NULL, NULL, NULL, CSEID, "32-" CSEID },
    { M2MSEC_CERT_CSE_ID, "vert", "cse", "cse2.example.com", NULL, NULL, "name mismatch", NULL,
      NULL },
    { M2MSEC_CERT_CSE_ID, "vert", "csewild", CSEID, NULL, NULL, "name mismatch", NULL, NULL },
    { M2MSEC_CERT_CSE_ID, "vert", "csewild", NULL, NULL, NULL, "no subjectAltName dNSName (CSE-ID)",
      NULL, NULL },
    { M2MSEC_CERT_CSE_ID, "vert", "ae", NULL, NULL, NULL, "no subjectAltName dNSName", NULL, NULL },
    { M2MSEC_CERT_CSE_ID, "ca", "cse", CSEID, NULL, NULL, "unknown issuer", NULL, NULL },
    /* AE-ID: URI, scheme and host case-insensitive, the AE-ID itself exact */
    { M2MSEC_CERT_AE_ID, "vert", "ae", AEID, NULL, NULL, NULL, AEID, "33-" AEID },
    { M2MSEC_CERT_AE_ID, "vert", "ae", "HTTPS://SP.Example.com/CAE01", NULL, NULL, NULL, AEID,
      "33-" AEID },
    { M2MSEC_CERT_AE_ID, "vert", "ae", NULL, NULL, NULL, NULL, AEID, "33-" AEID },
    { M2MSEC_CERT_AE_ID, "vert", "ae", "https://sp.example.com/cae01", NULL, NULL, "name mismatch",
      NULL, NULL },
    { M2MSEC_CERT_AE_ID, "vert", "aewild", NULL, NULL, NULL, "no subjectAltName URI (AE-ID)", NULL,
      NULL },
    /* the issuer's dNSName constraint bounds the AE-ID host (10.1.1.5) */
    { M2MSEC_CERT_AE_ID, "vert", "aeout", NULL, NULL, NULL, "name constraints", NULL, NULL },
    { M2MSEC_CERT_AE_ID, "vert", "aeout2", NULL, NULL, NULL, "AE-ID host sp.other.org", NULL,
      NULL },
    { M2MSEC_CERT_ANY, "vert", "aeout2", NULL, NULL, NULL, NULL, "", "" },
    /* the same with the constraint in an intermediate the client sends */
    { M2MSEC_CERT_AE_ID, "ent", "aeic", NULL, NULL, NULL, "AE-ID host sp.other.org", NULL, NULL },
    { M2MSEC_CERT_AE_ID, "ent", "aeic2", NULL, NULL, NULL, NULL, "https://sp.example.com/CAE02",
      "33-https://sp.example.com/CAE02" },
    /* a root's own name constraints are honoured by path validation */
    { M2MSEC_CERT_FQDN, "vert", "fqdnin", MEF, NULL, NULL, NULL, MEF, "" },
    { M2MSEC_CERT_FQDN, "vert", "fqdnout", "mef.example.org", NULL, NULL, "constraints", NULL,
      NULL },
    /* the client profile: clientAuth only, FQDN in dNSName */
    { M2MSEC_CERT_FQDN, "ca", "cliprof", MAF, NULL, NULL, NULL, MAF, "" },
};

static void
test_flavours(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct side s;
    struct side c;
    char cert[64];
    char key[64];
    char ca[64];
    char crl[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(flavour_cases) / sizeof(flavour_cases[0]); i++) {
        const struct flavour_case *t = &flavour_cases[i];

        mutual_cfg(&sc, &cc);
        assert_true(snprintf(cert, sizeof(cert), "%s.pem", t->cert) < (int)sizeof(cert));
        assert_true(snprintf(key, sizeof(key), "%s.key", t->cert) < (int)sizeof(key));
        assert_true(snprintf(ca, sizeof(ca), "%s.pem", t->ca) < (int)sizeof(ca));
        cc.cert = P(cert);
        cc.key = P(key);
        sc.flavour = t->flavour;
        sc.id = t->id;
        sc.id2 = t->id2;
        sc.ca = P(ca);
        if (t->crl != NULL) {
            assert_true(snprintf(crl, sizeof(crl), "%s", t->crl) < (int)sizeof(crl));
            sc.crl = P(crl);
        }
        run_pair(&sc, &cc, &s, &c);
        if (t->want != NULL) {
            if (s.ok || c.ok) {
                fail_msg("case %zu (%s): accepted, expected \"%s\"", i, t->cert, t->want);
            }
            assert_refused(&s, &c, t->want);
            continue;
        }
        if (!s.ok || !c.ok) {
            fail_msg("case %zu (%s): server \"%s\", client \"%s\"", i, t->cert, s.err.msg,
                     c.err.msg);
        }
        assert_ok_pair(&s, &c);
        assert_string_equal(s.identity, t->identity);
        assert_int_equal(s.id_flavour, t->identity[0] != '\0' ? t->flavour : M2MSEC_CERT_UNSET);
        assert_string_equal(s.cred_id, t->cred);
        /* the client's view of the server (FQDN) is unaffected */
        assert_string_equal(c.identity, MEF);
        assert_int_equal(c.id_flavour, M2MSEC_CERT_FQDN);
        assert_string_equal(c.cred_id, "");
    }
}

/* Entity A about Entity B (8.1.2.4): a client expecting a CSE-ID / Node-ID server. */
static void
test_flavours_server_side(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct side s;
    struct side c;

    (void)state;
    mutual_cfg(&sc, &cc);
    sc.cert = P("cse.pem");
    sc.key = P("cse.key");
    sc.require = 0;
    cc.cert = NULL;
    cc.key = NULL;
    cc.sni = CSEID;
    cc.flavour = M2MSEC_CERT_CSE_ID;
    cc.id = CSEID;
    cc.ca = P("vert.pem");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_string_equal(c.identity, CSEID);
    assert_string_equal(c.cred_id, "32-" CSEID);
    cc.id = "cse9.example.com";
    run_pair(&sc, &cc, &s, &c);
    assert_refused(&c, &s, "no subjectAltName dNSName (CSE-ID) is cse9.example.com");
    /* a Node-ID server */
    sc.cert = P("node.pem");
    sc.key = P("node.key");
    cc.flavour = M2MSEC_CERT_NODE_ID;
    cc.id = NODEOID;
    cc.ca = P("ent.pem");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_string_equal(c.cred_id, "34-" NODEOID);
    cc.id = NULL;
    cc.flavour = M2MSEC_CERT_DEVICE;
    run_pair(&sc, &cc, &s, &c);
    assert_refused(&c, &s, "no subjectAltName otherName (M2M Device ID)");
}

/* An ANY-mode server reads whichever identity it needs from the verified certificate. */
static void
test_identity_any(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct side s;
    struct side c;

    (void)state;
    mutual_cfg(&sc, &cc);
    sc.flavour = M2MSEC_CERT_ANY;
    sc.id = NULL;
    sc.ca = P("mfr.pem");
    sc.ca_extra = P("vert.pem");
    cc.cert = P("dev.pem");
    cc.key = P("dev.key");
    run_pair(&sc, &cc, &s, &c);
    if (!s.ok) {
        fail_msg("server: %s", s.err.msg);
    }
    assert_ok_pair(&s, &c);
    assert_string_equal(s.identity, ""); /* verified as ANY: no identity */
    assert_int_equal(s.id_flavour, M2MSEC_CERT_UNSET);
    assert_string_equal(s.cred_id, "");
    assert_string_equal(s.of[M2MSEC_CERT_DEVICE], HWID);
    assert_string_equal(s.cred_of[M2MSEC_CERT_DEVICE], "31-" HWID);
    assert_string_equal(s.of[M2MSEC_CERT_CSE_ID], "");
    assert_string_equal(s.cred_of[M2MSEC_CERT_CSE_ID], "");
    assert_string_equal(s.of[M2MSEC_CERT_RAW], s.key_id);
    assert_string_equal(s.cred_of[M2MSEC_CERT_FQDN], ""); /* no Credential-ID type */
    assert_int_equal(s.nsan, 0);                          /* otherName is not a DNS/URI entry */
    cc.cert = P("ae.pem");
    cc.key = P("ae.key");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_string_equal(s.of[M2MSEC_CERT_AE_ID], AEID);
    assert_string_equal(s.cred_of[M2MSEC_CERT_AE_ID], "33-" AEID);
    assert_string_equal(s.of[M2MSEC_CERT_NODE_ID], ""); /* an https URI is no Node-ID */
    assert_string_equal(s.of[M2MSEC_CERT_DEVICE], "");
    assert_int_equal(s.nsan, 1);
    assert_int_equal(s.san_type[0], M2MSEC_SAN_URI);
}

/* ---- 10. identifier forms (tls/certid.c) and Credential-IDs ---- */

struct canon_case {
    enum m2msec_cert_flavour flavour;
    const char *in;
    const char *canon; /* NULL: refused */
};

static const struct canon_case canon_cases[] = {
    { M2MSEC_CERT_CSE_ID, "CSE1.example.COM", "cse1.example.com" },
    { M2MSEC_CERT_CSE_ID, "*.example.com", NULL },
    { M2MSEC_CERT_CSE_ID, "/in-cse", NULL }, /* the SP-relative form is not a domain name */
    { M2MSEC_CERT_CSE_ID, "cse1.example.com.", NULL },
    { M2MSEC_CERT_AE_ID, "HTTPS://SP.example.com:8443/CAE01", "https://sp.example.com:8443/CAE01" },
    { M2MSEC_CERT_AE_ID, "https://sp.example.com/CAE01", "https://sp.example.com/CAE01" },
    { M2MSEC_CERT_AE_ID, "//sp.example.com/CAE01", NULL },         /* no scheme */
    { M2MSEC_CERT_AE_ID, "https://sp.example.com", NULL },         /* no AE-ID */
    { M2MSEC_CERT_AE_ID, "https://sp.example.com/", NULL },        /* empty AE-ID */
    { M2MSEC_CERT_AE_ID, "https://*.example.com/CAE01", NULL },    /* wildcard */
    { M2MSEC_CERT_AE_ID, "https://u@sp.example.com/CAE01", NULL }, /* userinfo */
    { M2MSEC_CERT_AE_ID, "https://sp.example.com:/CAE01", NULL },  /* empty port */
    { M2MSEC_CERT_AE_ID, "https://sp.example.com/CAE 01", NULL },  /* space */
    { M2MSEC_CERT_AE_ID, "https://sp.example.com/CAE01#x", NULL }, /* fragment */
    { M2MSEC_CERT_NODE_ID, "1.3.6.1.4.1.55555.7.1", "1.3.6.1.4.1.55555.7.1" },
    { M2MSEC_CERT_NODE_ID, "Urn:Oid:1.3.6.1.4.1.55555.7.1", "1.3.6.1.4.1.55555.7.1" },
    { M2MSEC_CERT_NODE_ID, "URN:IMEI:4901542032375", "urn:imei:4901542032375" },
    { M2MSEC_CERT_NODE_ID, "urn:uuid:6E8BC430-9C3A-11D9", "urn:uuid:6E8BC430-9C3A-11D9" },
    { M2MSEC_CERT_NODE_ID, "urn:oid:1.03.6", NULL }, /* leading zero in an arc */
    { M2MSEC_CERT_NODE_ID, "urn:oid:", NULL },
    { M2MSEC_CERT_NODE_ID, "urn:imei", NULL },
    { M2MSEC_CERT_NODE_ID, "3.1.2", NULL },   /* first arc above 2, and no scheme */
    { M2MSEC_CERT_NODE_ID, "urn:x:*", NULL }, /* wildcard */
    { M2MSEC_CERT_NODE_ID, "node 1", NULL },
    { M2MSEC_CERT_NODE_ID, "https://sp.example.com/node1", NULL }, /* URNs only */
    { M2MSEC_CERT_DEVICE, "0.2.481.1.100.3030.10011", "0.2.481.1.100.3030.10011" },
    { M2MSEC_CERT_DEVICE, "0.2.481.1.100.3030.10011.7", "0.2.481.1.100.3030.10011.7" },
    { M2MSEC_CERT_DEVICE, "0.2.481.1.100.3030", NULL },        /* no serial arc */
    { M2MSEC_CERT_DEVICE, "0.2.481.1.1.2.3.4.5", NULL },       /* too many arcs */
    { M2MSEC_CERT_DEVICE, "0.2.481.2.100.3030.10011", NULL },  /* not the indication arc */
    { M2MSEC_CERT_DEVICE, "0.2.481.1.100.03030.10011", NULL }, /* leading zero */
    { M2MSEC_CERT_DEVICE, "0.2.481.1.100..10011", NULL },      /* empty arc */
    { M2MSEC_CERT_RAW, KAT_NI, KAT_NI },
    { M2MSEC_CERT_RAW, "ni:///sha-256-128;RmM_YtVlu9uWgHdc2pPg3Q",
      "ni:///sha-256-128;RmM_YtVlu9uWgHdc2pPg3Q" },
    { M2MSEC_CERT_RAW, "ni:///sha-256-120;RmM_YtVlu9uWgHdc2pPg",
      "ni:///sha-256-120;RmM_YtVlu9uWgHdc2pPg" },
    { M2MSEC_CERT_RAW, "ni:///sha-256;RmM_YtVlu9uWgHdc2pPg3W02tc4StK1lZpd-gucVBk",
      NULL }, /* short */
    { M2MSEC_CERT_RAW, "ni:///sha-256;RmM/YtVlu9uWgHdc2pPg3W02tc4StK1lZpd+gucVBkw",
      NULL }, /* b64 */
    { M2MSEC_CERT_RAW, "ni:///sha-512;RmM_YtVlu9uWgHdc2pPg3W02tc4StK1lZpd-gucVBkw", NULL },
    { M2MSEC_CERT_RAW, "ni://auth/sha-256;RmM_YtVlu9uWgHdc2pPg3W02tc4StK1lZpd-gucVBkw", NULL },
    { M2MSEC_CERT_RAW, "RmM_YtVlu9uWgHdc2pPg3W02tc4StK1lZpd-gucVBkw", NULL },
    { M2MSEC_CERT_FQDN, "MEF.example.com", "mef.example.com" },
    { M2MSEC_CERT_FQDN, "mef_example.com", NULL },
    { M2MSEC_CERT_ANY, "x", NULL },
};

/*
 * m2msec_tls_peer_chain_verify: a server that pools the anchors of several
 * parties re-validates a peer's chain against one party's roots and CRLs.
 */
static void
test_peer_chain_verify(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct side s;
    struct side c;
    struct m2msec_error e;
    const char *one[1];

    (void)state;
    mutual_cfg(&sc, &cc);
    sc.flavour = M2MSEC_CERT_ANY;
    sc.id = NULL;
    sc.ca = P("mfr.pem");
    sc.ca_extra = P("ent.pem");
    cc.cert = P("dev.pem"); /* manufacturer-issued */
    cc.key = P("dev.key");
    /* the party's own root: accepted */
    chain_cas[0] = P("mfr.pem");
    chain_ncas = 1;
    chain_crl = NULL;
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    if (s.chain_rc != 0) {
        fail_msg("own root refused: %s", s.chain_why);
    }
    /* another party's root (in the pool, so the handshake passed): refused */
    chain_cas[0] = P("ent.pem");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_int_equal(s.chain_rc, -1);
    assert_int_equal(s.chain_code, M2MSEC_ERR_AUTH);
    assert_non_null(strstr(s.chain_why, "unknown issuer"));
    /* two anchor files, one of them right */
    chain_cas[0] = P("ent.pem");
    chain_cas[1] = P("mfr.pem");
    chain_ncas = 2;
    run_pair(&sc, &cc, &s, &c);
    assert_int_equal(s.chain_rc, 0);
    /* the party's CRL revokes a certificate the pool's handshake accepted */
    chain_cas[0] = P("mfr.pem");
    chain_ncas = 1;
    chain_crl = P("mfr.crl");
    cc.cert = P("devrev.pem");
    cc.key = P("devrev.key");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_int_equal(s.chain_rc, -1);
    assert_int_equal(s.chain_code, M2MSEC_ERR_AUTH);
    assert_non_null(strstr(s.chain_why, "revoked"));
    /* ... and leaves the others alone */
    cc.cert = P("dev.pem");
    cc.key = P("dev.key");
    run_pair(&sc, &cc, &s, &c);
    assert_int_equal(s.chain_rc, 0);
    /* a file that holds no anchor is an error of the caller, not a pass */
    chain_cas[0] = P("mfr.crl");
    chain_crl = NULL;
    run_pair(&sc, &cc, &s, &c);
    assert_int_equal(s.chain_rc, -1);
    assert_int_equal(s.chain_code, M2MSEC_ERR_INVALID_ARGUMENT);
    chain_ncas = 0;
    /* no connection, no anchors */
    m2msec_error_clear(&e);
    one[0] = P("mfr.pem");
    assert_int_equal(m2msec_tls_peer_chain_verify(NULL, one, 1, NULL, 0, &e), -1);
    assert_int_equal(m2msec_error_code(&e), M2MSEC_ERR_AUTH);
}

static void
test_certid_forms(void **state)
{
    char out[M2MSEC_CERT_ID_MAX + 1];
    char why[192];
    size_t i;
    int r;

    (void)state;
    for (i = 0; i < sizeof(canon_cases) / sizeof(canon_cases[0]); i++) {
        const struct canon_case *t = &canon_cases[i];

        r = m2msec_certid_canon(t->flavour, t->in, out, sizeof(out), why, sizeof(why));
        if (t->canon == NULL) {
            if (r == 0) {
                fail_msg("case %zu \"%s\": accepted as \"%s\"", i, t->in, out);
            }
            assert_true(strlen(why) > 0);
            continue;
        }
        if (r != 0) {
            fail_msg("case %zu \"%s\": %s", i, t->in, why);
        }
        assert_string_equal(out, t->canon);
    }
    /* too long: 512 is the cap */
    {
        char big[600];

        memset(big, 'a', sizeof(big));
        memcpy(big, "urn:x:", 6);
        big[512] = '\0';
        assert_int_equal(
                m2msec_certid_canon(M2MSEC_CERT_NODE_ID, big, out, sizeof(out), why, sizeof(why)),
                0);
        big[512] = 'a';
        big[513] = '\0';
        assert_int_equal(
                m2msec_certid_canon(M2MSEC_CERT_NODE_ID, big, out, sizeof(out), why, sizeof(why)),
                -1);
    }
    /* SAN kinds: a CSE-ID is never read from a URI, an AE-ID never from a dNSName */
    assert_int_equal(
            m2msec_certid_of_san(M2MSEC_CERT_CSE_ID, M2MSEC_CERTID_DNS, CSEID, out, sizeof(out)),
            1);
    assert_int_equal(m2msec_certid_of_san(M2MSEC_CERT_CSE_ID, M2MSEC_CERTID_URI,
                                          "https://" CSEID "/", out, sizeof(out)),
                     0);
    assert_int_equal(
            m2msec_certid_of_san(M2MSEC_CERT_AE_ID, M2MSEC_CERTID_URI, AEID, out, sizeof(out)), 1);
    assert_int_equal(
            m2msec_certid_of_san(M2MSEC_CERT_AE_ID, M2MSEC_CERTID_DNS, AEID, out, sizeof(out)), 0);
    /* in a certificate a bare OID is not a Node-ID URI */
    assert_int_equal(
            m2msec_certid_of_san(M2MSEC_CERT_NODE_ID, M2MSEC_CERTID_URI, NODEOID, out, sizeof(out)),
            0);
    assert_int_equal(
            m2msec_certid_of_san(M2MSEC_CERT_DEVICE, M2MSEC_CERTID_HWID, HWID, out, sizeof(out)),
            1);
    assert_int_equal(
            m2msec_certid_of_san(M2MSEC_CERT_DEVICE, M2MSEC_CERTID_URI, HWID, out, sizeof(out)), 0);
    assert_int_equal(
            m2msec_certid_of_san(M2MSEC_CERT_RAW, M2MSEC_CERTID_URI, KAT_NI, out, sizeof(out)), 0);
}

static void
test_certid_hwid_der(void **state)
{
    struct m2msec_error err;
    /* RELATIVE-OID 100.3030.10011: 0x64, 0x97 0x56, 0xce 0x1b */
    static const uint8_t want[] = { 0x0d, 0x05, 0x64, 0x97, 0x56, 0xce, 0x1b };
    uint8_t der[64];
    uint8_t bad[64];
    size_t len = 0;
    char out[128];

    (void)state;
    m2msec_error_clear(&err);
    assert_int_equal(m2msec_certid_hwid_encode(HWID, der, sizeof(der), &len, &err), 0);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(der, want, sizeof(want));
    assert_int_equal(
            m2msec_certid_hwid_decode(M2MSEC_M2M_DEVICE_INDICATION_OID, der, len, out, sizeof(out)),
            0);
    assert_string_equal(out, HWID);
    /* rejected neighbours: other type-id, wrong tag, bad length, truncated, non-minimal, arcs */
    assert_int_equal(m2msec_certid_hwid_decode("0.2.481.2", der, len, out, sizeof(out)), -1);
    memcpy(bad, der, len);
    bad[0] = 0x06; /* OBJECT IDENTIFIER, not RELATIVE-OID */
    assert_int_equal(
            m2msec_certid_hwid_decode(M2MSEC_M2M_DEVICE_INDICATION_OID, bad, len, out, sizeof(out)),
            -1);
    memcpy(bad, der, len);
    bad[1] = 0x06;
    assert_int_equal(
            m2msec_certid_hwid_decode(M2MSEC_M2M_DEVICE_INDICATION_OID, bad, len, out, sizeof(out)),
            -1);
    memcpy(bad, der, len);
    bad[1] = 0x04;
    bad[len - 2] = 0xce; /* ends inside an arc */
    assert_int_equal(m2msec_certid_hwid_decode(M2MSEC_M2M_DEVICE_INDICATION_OID, bad, len - 1, out,
                                               sizeof(out)),
                     -1);
    {
        static const uint8_t nonmin[] = { 0x0d, 0x05, 0x80, 0x64, 0x97, 0x56, 0x01 };
        static const uint8_t two[] = { 0x0d, 0x03, 0x64, 0x97, 0x56 };

        assert_int_equal(m2msec_certid_hwid_decode(M2MSEC_M2M_DEVICE_INDICATION_OID, nonmin,
                                                   sizeof(nonmin), out, sizeof(out)),
                         -1);
        assert_int_equal(m2msec_certid_hwid_decode(M2MSEC_M2M_DEVICE_INDICATION_OID, two,
                                                   sizeof(two), out, sizeof(out)),
                         -1);
    }
    assert_int_equal(m2msec_certid_hwid_decode(M2MSEC_M2M_DEVICE_INDICATION_OID, der, len, out, 10),
                     -1);
    assert_int_equal(m2msec_certid_hwid_encode("0.2.481.1.1.2", der, sizeof(der), &len, &err), -1);
    assert_int_equal(m2msec_certid_hwid_encode(HWID, der, 4, &len, &err), -1);
}

static void
test_credential_ids(void **state)
{
    static const struct {
        enum m2msec_cert_flavour flavour;
        const char *id;
        const char *want; /* NULL: refused */
        unsigned type;    /* proto/ids.h's number for it */
    } cases[] = {
        { M2MSEC_CERT_RAW, KAT_NI, "30-" KAT_NI, M2MSEC_CRED_RAW_PK },
        { M2MSEC_CERT_DEVICE, HWID, "31-" HWID, M2MSEC_CRED_DEVICE_CERT },
        { M2MSEC_CERT_CSE_ID, "CSE1.example.com", "32-" CSEID, M2MSEC_CRED_CSE_CERT },
        { M2MSEC_CERT_AE_ID, AEID, "33-" AEID, M2MSEC_CRED_AE_CERT },
        { M2MSEC_CERT_NODE_ID, "urn:oid:" NODEOID, "34-" NODEOID, M2MSEC_CRED_NODE_CERT },
        { M2MSEC_CERT_FQDN, MEF, NULL, 0 },
        { M2MSEC_CERT_ANY, MEF, NULL, 0 },
        { M2MSEC_CERT_UNSET, MEF, NULL, 0 },
        { M2MSEC_CERT_DEVICE, "0.2.481.1.1", NULL, 0 },
        { M2MSEC_CERT_AE_ID, "CAE01", NULL, 0 },
    };
    struct m2msec_error err;
    char out[M2MSEC_CERT_CRED_ID_MAX];
    const char *value = NULL;
    unsigned type = 0;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        m2msec_error_clear(&err);
        if (cases[i].want == NULL) {
            assert_int_equal(m2msec_x509_credential_id(cases[i].flavour, cases[i].id, out,
                                                       sizeof(out), &err),
                             -1);
            assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
            continue;
        }
        assert_int_equal(
                m2msec_x509_credential_id(cases[i].flavour, cases[i].id, out, sizeof(out), &err),
                0);
        assert_string_equal(out, cases[i].want);
        /* what tls forms, proto reads back with its own type numbers (10.4, 12.3.2.1) */
        assert_int_equal(m2msec_credential_id_parse(out, &type, &value, &err), 0);
        assert_int_equal(type, cases[i].type);
        assert_string_equal(value, cases[i].want + 3);
    }
    /* the buffer bound */
    assert_int_equal(
            m2msec_x509_credential_id(M2MSEC_CERT_DEVICE, HWID, out, strlen(HWID) + 3, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(
            m2msec_x509_credential_id(M2MSEC_CERT_DEVICE, HWID, out, strlen(HWID) + 4, &err), 0);
    assert_int_equal(m2msec_x509_credential_id(M2MSEC_CERT_DEVICE, HWID, NULL, 0, &err), -1);
}

/* ---- 11. raw public keys (RFC 7250), identified by RFC 6920 names ---- */

/* The sha-256-128 form of a sha-256 ni name (the leading 16 bytes). */
static void
truncated_ni(const char *ni, char *out, size_t outsz)
{
    uint8_t d[32];
    size_t len = 0;
    char *b64 = NULL;
    size_t i;
    size_t j;

    assert_int_equal(m2msec_certid_ni_parse(ni, d, &len), 0);
    assert_int_equal(len, 32);
    assert_int_equal(m2msec_b64_encode(d, 16, &b64, NULL), 0);
    j = (size_t)snprintf(out, outsz, "ni:///sha-256-128;");
    for (i = 0; b64[i] != '\0' && b64[i] != '=' && j + 1 < outsz; i++) {
        out[j++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    }
    out[j] = '\0';
    m2msec_free(b64);
}

static void
test_raw_keys(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct side s;
    struct side c;
    char want[M2MSEC_CERT_CRED_ID_MAX];
    char trunc[64];
    char id[M2MSEC_NI_SHA256_LEN];
    struct m2msec_error err;

    (void)state;
    /* the files' names agree with the generator's */
    assert_int_equal(m2msec_pki_key_id_pem(P("rk1.pub"), id, sizeof(id), &err), 0);
    assert_string_equal(id, rk1_id);
    assert_int_equal(m2msec_pki_key_id_pem(P("rk1.key"), id, sizeof(id), &err), 0);
    assert_string_equal(id, rk1_id);
    assert_string_not_equal(rk1_id, rk2_id);
    /* an X.509 server, a raw-key client */
    mutual_cfg(&sc, &cc);
    sc.flavour = M2MSEC_CERT_RAW;
    sc.id = rk1_id;
    sc.ca = NULL; /* no anchors for raw keys */
    cc.cert = NULL;
    cc.key = P("rk1.key");
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_string_equal(s.identity, rk1_id);
    assert_int_equal(s.id_flavour, M2MSEC_CERT_RAW);
    assert_string_equal(s.key_id, rk1_id);
    (void)snprintf(want, sizeof(want), "30-%s", rk1_id);
    assert_string_equal(s.cred_id, want);
    assert_int_equal(s.nsan, 0);
    /* a truncated identifier (sha-256-128) names the same key */
    truncated_ni(rk1_id, trunc, sizeof(trunc));
    sc.id = trunc;
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_string_equal(s.identity, trunc);
    /* another key: refused, and the message names the key that came */
    sc.id = rk1_id;
    cc.key = P("rk2.key");
    run_pair(&sc, &cc, &s, &c);
    assert_refused(&s, &c, "public key identifier mismatch");
    assert_non_null(strstr(s.err.msg, rk2_id));
    /* the list: either key passes */
    sc.id2 = rk2_id;
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_string_equal(s.identity, rk2_id);
    /* a certificate where a raw key is required */
    sc.id2 = NULL;
    cc.cert = P("cli.pem");
    cc.key = P("cli.key");
    run_pair(&sc, &cc, &s, &c);
    assert_false(s.ok);
    assert_false(c.ok);
    /* no key at all */
    cc.cert = NULL;
    cc.key = NULL;
    run_pair(&sc, &cc, &s, &c);
    assert_false(s.ok);
    assert_false(c.ok);
    assert_int_equal(s.err.code, M2MSEC_ERR_AUTH);

    /* raw keys both ways: the server presents rk2, the client rk1 */
    mutual_cfg(&sc, &cc);
    sc.cert = NULL;
    sc.key = P("rk2.key");
    sc.flavour = M2MSEC_CERT_RAW;
    sc.id = rk1_id;
    sc.ca = NULL;
    cc.cert = NULL;
    cc.key = P("rk1.key");
    cc.flavour = M2MSEC_CERT_RAW;
    cc.id = rk2_id;
    cc.ca = NULL;
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_string_equal(c.identity, rk2_id);
    assert_string_equal(s.identity, rk1_id);
    /* the client expects another server key */
    cc.id = rk1_id;
    run_pair(&sc, &cc, &s, &c);
    assert_refused(&c, &s, "public key identifier mismatch");
    /* a raw-key server to a client that wants a certificate: no common type, no session */
    cc.flavour = M2MSEC_CERT_FQDN;
    cc.id = NULL;
    cc.ca = P("ca.pem");
    run_pair(&sc, &cc, &s, &c);
    assert_false(s.ok);
    assert_false(c.ok);
}

/* gnutls-cli as an independent RFC 7250 client against our raw-key server. */
static void
test_raw_interop_gnutls(void **state)
{
    struct m2msec_tls_cert_server *srv;
    struct m2msec_error err;
    struct srv_job j;
    struct child ch;
    struct srv_cfg sc;
    struct cli_cfg cc;
    const char *prio = "NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+AES-128-CBC:+SHA256:+COMP-NULL:"
                       "+GROUP-SECP256R1:+SIGN-ECDSA-SHA256:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK";
    char prio_arg[512];
    const char *argv[] = { "gnutls-cli", "--port",         lsn.port, "--no-ca-verification",
                           prio_arg,     "--rawpkkeyfile", NULL,     "--rawpkfile",
                           NULL,         "127.0.0.1",      NULL };
    const char *p384pub[] = { "openssl", "pkey", "-in",         P("p384.key"),
                              "-pubout", "-out", P("p384.pub"), NULL };

    (void)state;
    if (!have_prog("gnutls-cli") || !have_prog("openssl")) {
        skip();
    }
    (void)snprintf(prio_arg, sizeof(prio_arg), "--priority=%s", prio);
    mutual_cfg(&sc, &cc);
    sc.cert = NULL;
    sc.key = P("rk2.key");
    sc.flavour = M2MSEC_CERT_RAW;
    sc.id = rk1_id;
    sc.ca = NULL;
    srv = server_new(&sc, &err);
    if (srv == NULL) {
        fail_msg("server: %s", err.msg);
    }
    /* the right key */
    argv[6] = P("rk1.key");
    argv[8] = P("rk1.pub");
    srv_start(&j, srv, 1);
    child_spawn(&ch, argv);
    if (!child_read_until(&ch, "Handshake was completed", CHILD_MS)) {
        (void)child_finish(&ch);
        srv_join(&j);
        fail_msg("gnutls-cli: %s / server: %s", ch.out, j.s.err.msg);
    }
    (void)child_finish(&ch);
    srv_join(&j);
    assert_true(j.s.ok);
    assert_string_equal(j.s.identity, rk1_id);
    assert_non_null(strstr(ch.out, "Certificate type: Raw Public Key"));
    /* a key whose name is not configured */
    argv[6] = P("rk2.key");
    argv[8] = P("rk2.pub");
    srv_start(&j, srv, 1);
    assert_int_not_equal(child_run(&ch, argv), 0);
    srv_join(&j);
    assert_false(j.s.ok);
    assert_int_equal(j.s.err.code, M2MSEC_ERR_AUTH);
    assert_non_null(strstr(j.s.err.msg, "public key identifier mismatch"));
    /* a P-384 raw key */
    assert_int_equal(child_run(&ch, p384pub), 0);
    argv[6] = P("p384.key");
    argv[8] = P("p384.pub");
    srv_start(&j, srv, 1);
    assert_int_not_equal(child_run(&ch, argv), 0);
    srv_join(&j);
    assert_false(j.s.ok);
    assert_non_null(strstr(j.s.err.msg, "P-256 required"));
    m2msec_tls_cert_server_free(srv);
}

/* ---- 12. private keys on a PKCS#11 token (SoftHSM2) ---- */

static void
test_pkcs11(void **state)
{
    struct srv_cfg sc;
    struct cli_cfg cc;
    struct side s;
    struct side c;
    struct child ch;
    struct m2msec_error err;
    FILE *f;
    char conf[128];
    char tokens[128];
    const char *init[] = { "softhsm2-util", "--init-token", "--free",   "--label", "m2msec",
                           "--pin",         "1234",         "--so-pin", "5678",    NULL };
    const char *import_srv[] = { "softhsm2-util", "--import", P("srv.key"), "--token", "m2msec",
                                 "--label",       "srvkey",   "--id",       "01",      "--pin",
                                 "1234",          NULL };
    const char *import_cli[] = { "softhsm2-util", "--import", P("cli.key"), "--token", "m2msec",
                                 "--label",       "clikey",   "--id",       "02",      "--pin",
                                 "1234",          NULL };
    const char *import_p384[] = { "softhsm2-util", "--import", P("p384.key"), "--token", "m2msec",
                                  "--label",       "p384key",  "--id",        "03",      "--pin",
                                  "1234",          NULL };

    (void)state;
    if (!have_prog("softhsm2-util")) {
        print_message("softhsm2 is not installed (scripts/install-deps.sh installs it): "
                      "PKCS#11 keys not tested\n");
        skip();
    }
    /* A token directory of our own: SOFTHSM2_CONF is read when the module loads. */
    assert_true(snprintf(tokens, sizeof(tokens), "%s/tokens", dir) < (int)sizeof(tokens));
    assert_true(snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir) < (int)sizeof(conf));
    assert_int_equal(mkdir(tokens, 0700), 0);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(setenv("SOFTHSM2_CONF", conf, 1), 0);
    if (child_run(&ch, init) != 0 || child_run(&ch, import_srv) != 0 ||
        child_run(&ch, import_cli) != 0 || child_run(&ch, import_p384) != 0) {
        fail_msg("softhsm2-util: %s", ch.out);
    }

    /*
     * First, before any login (a token stays logged in for the process once
     * a PIN was right): wrong PIN in the URL and in the environment, no PIN,
     * a missing object. Refused, and the PIN never in the message.
     */
    mutual_cfg(&sc, &cc);
    sc.key = "pkcs11:token=m2msec;object=srvkey;type=private;pin-value=9876";
    assert_null(server_new(&sc, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "PKCS#11 key"));
    assert_null(strstr(err.msg, "9876"));
    assert_int_equal(setenv("M2MSEC_PKCS11_PIN", "9876", 1), 0);
    sc.key = "pkcs11:token=m2msec;object=srvkey;type=private";
    assert_null(server_new(&sc, &err));
    assert_non_null(strstr(err.msg, "PKCS#11 key"));
    assert_int_equal(unsetenv("M2MSEC_PKCS11_PIN"), 0);
    assert_null(server_new(&sc, &err)); /* no PIN at all */
    assert_non_null(strstr(err.msg, "PKCS#11 key"));
    sc.key = "pkcs11:token=m2msec;object=nokey;type=private;pin-value=1234";
    assert_null(server_new(&sc, &err));
    assert_non_null(strstr(err.msg, "PKCS#11 key"));
    /* the server's key on the token, the PIN in the URL */
    mutual_cfg(&sc, &cc);
    assert_int_equal(unsetenv("M2MSEC_PKCS11_PIN"), 0);
    sc.key = "pkcs11:token=m2msec;object=srvkey;type=private;pin-value=1234";
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_string_equal(c.identity, MEF);
    /* the client's too, the PIN from the environment */
    assert_int_equal(setenv("M2MSEC_PKCS11_PIN", "1234", 1), 0);
    cc.key = "pkcs11:token=m2msec;object=clikey;type=private";
    run_pair(&sc, &cc, &s, &c);
    assert_ok_pair(&s, &c);
    assert_string_equal(s.identity, MAF);
    /* a token key that is not the certificate's */
    cc.key = "pkcs11:token=m2msec;object=srvkey;type=private";
    c.ok = 0;
    assert_null(client_connect(&cc, &err));
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "does not match"));
    /* a P-384 token key */
    sc.cert = P("p384.pem");
    sc.key = "pkcs11:token=m2msec;object=p384key;type=private";
    assert_null(server_new(&sc, &err));
    assert_non_null(strstr(err.msg, "P-256 required"));
    assert_int_equal(unsetenv("M2MSEC_PKCS11_PIN"), 0);
}

static int
group_setup(void **state)
{
    return pki_setup(state) != 0 ? -1 : lsn_setup(state);
}

static int
group_teardown(void **state)
{
    (void)lsn_teardown(state);
    return pki_teardown(state);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutual_suites),
        cmocka_unit_test(test_refused_suites),
        cmocka_unit_test(test_fqdn_match),
        cmocka_unit_test(test_path_validation),
        cmocka_unit_test(test_client_auth_modes),
        cmocka_unit_test(test_load_refused),
        cmocka_unit_test(test_config_refused),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_psk_conn_has_no_cert_data),
        cmocka_unit_test(test_cert_and_psk_server),
        cmocka_unit_test(test_key_id),
        cmocka_unit_test(test_interop_openssl_client),
        cmocka_unit_test(test_interop_openssl_server),
        cmocka_unit_test(test_interop_p384),
        cmocka_unit_test(test_pki),
        cmocka_unit_test(test_flavours),
        cmocka_unit_test(test_flavours_server_side),
        cmocka_unit_test(test_identity_any),
        cmocka_unit_test(test_peer_chain_verify),
        cmocka_unit_test(test_certid_forms),
        cmocka_unit_test(test_certid_hwid_der),
        cmocka_unit_test(test_credential_ids),
        cmocka_unit_test(test_raw_keys),
        cmocka_unit_test(test_raw_interop_gnutls),
        cmocka_unit_test(test_pkcs11),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
