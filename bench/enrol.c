/*
 * bench/enrol.c - bench-enrol: what a full PPSK enrolment costs against a bare TLS-PSK handshake.
 *
 * Layer: bench (program on libm2msec's internal API; `make bench`). In one run
 * and with one load generator (enrol_load.c) it measures, at each concurrency
 * level:
 *   (a) TLS 1.2 PSK handshake + RFC 5705 export (EXPORTER-oneM2M-Bootstrap, 48
 *       bytes) + close against a minimal server on the same engine
 *       (`bench-enrol --psk-server`, enrol_server.c) with as many workers as
 *       mefd;
 *   (b) m2msec_client_enrol() against the real mefd (one Enrolee per client,
 *       one MAF instruction and one report per exchange);
 *   (c) m2msec_client_maf_keyget() against the real mafd (one registered MAF
 *       client per thread, each retrieving a key registered for it);
 *   (d) the (a) handshake with a Key Identifier and its Kc against the
 *       reference Entity B (`m2msec cse`), which holds the Kc in its cache;
 *   (e) a bare mutual ECDHE-ECDSA handshake + export against the baseline
 *       server in certificate mode, and (f) certificate enrolments (8.3.2.2)
 *       against mefd with one device certificate per thread;
 *   (g) the floor: (a) + the two round trips of (b) against the baseline
 *       server answering fixed bytes (`--echo 2`) + the device's durable Ke
 *       commit, i.e. (b) with a MEF that costs nothing beyond its handshake.
 *       (g)/(a) bounds (b)/(a) for any MEF here; (b)/(g) is mefd's own share.
 * It prints ops/s, p50/p99 latency and the ratios to (a). A ratio is a
 * figure, never a verdict: the exit status is 1 only when something failed
 * (set-up, an operation, a server exit), never because of timing. See
 * bench/README.md.
 */
#define _GNU_SOURCE /* pipe2 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enrol.h"
#include "m2msec.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/mem.h"

#define DEFAULT_SECONDS   3
#define MAX_SECONDS       60
#define DEFAULT_WORKERS   8 /* mefd's default; used when mefd.conf has no workers line */
#define START_TIMEOUT_MS  15000
#define STOP_TIMEOUT_MS   20000
#define LOG_LINES_SHOWN   20
#define TARGET_RATIO      0.5
#define TARGET_CLIENTS    16
#define TARGET_SAEF_RATIO 0.8

struct options {
    unsigned seconds;
    unsigned levels[BENCH_MAX_LEVELS];
    size_t nlevels;
    unsigned max_clients;
    const char *tmpdir;
    const char *mefd;
    int keep;
    int run_a; /* --only narrows the run to some measurements, for profiling */
    int run_b;
    int run_c;
    int run_d;
    int run_e;
    int run_f;
    int run_g;
};

/* Everything that must be undone at the end, whatever happened. */
struct bench {
    char root[PATH_MAX];      /* temp dir */
    char mefdir[PATH_MAX];    /* mefd -d */
    char mefd_log[PATH_MAX];  /* mefd serve stdout + stderr */
    char admin_log[PATH_MAX]; /* mefd init / enrolee add output */
    char mefd_bin[PATH_MAX];
    char self[PATH_MAX];
    char mefd_addr[128];
    char psk_addr[128];
    unsigned workers;
    pid_t mefd_pid;
    pid_t psk_pid;
    int psk_out; /* read end of the psk-server's stdout */
    struct m2msec_secret *psk;
    struct m2msec_secret *kpm[BENCH_MAX_CLIENTS];
    /* (c): mafd, Enrolees kg-<i> (retrievers) and src (the source of their keys) */
    char mafdir[PATH_MAX];
    char mafd_log[PATH_MAX];
    char mafd_bin[PATH_MAX];
    char maf_addr[128];
    char tgt_addr[128]; /* mefd's Enrolment Target service */
    pid_t mafd_pid;
    struct m2msec_secret *kg_kpm[BENCH_MAX_CLIENTS];
    struct m2msec_secret *src_kpm;
    char key_id[BENCH_MAX_CLIENTS][BENCH_KEYID_MAX];
    /* (d): Entity B (`m2msec cse`, Enrolee cse-b), and one Kc per thread for it */
    char cli_bin[PATH_MAX];
    char cse_log[PATH_MAX];
    char cse_addr[128];
    pid_t cse_pid;
    int cse_out; /* read end of its stdout */
    struct m2msec_secret *cse_kpm;
    char saef_id[BENCH_MAX_CLIENTS][BENCH_KEYID_MAX];
    struct m2msec_secret *saef_kc[BENCH_MAX_CLIENTS];
    /* (e), (f): a manufacturer root, one device certificate per thread, the cert baseline server */
    char mfr_ca[PATH_MAX];
    char *dev_cert[BENCH_MAX_CLIENTS]; /* paths (owned) */
    char *dev_key[BENCH_MAX_CLIENTS];
    char mef_cert[PATH_MAX]; /* mefd's FQDN certificate, also the (e) server's */
    char mef_key[PATH_MAX];
    char mef_ca[PATH_MAX]; /* the development CA that issued it */
    char cert_addr[128];
    pid_t cert_pid;
    int cert_out;
    /* (g): the baseline server again, answering an enrolment's round trips (--echo) */
    char floor_addr[128];
    pid_t floor_pid;
    int floor_out;
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: bench-enrol [--seconds N] [--clients LIST] [--tmpdir DIR] [--mefd PATH] "
            "[--keep]\n"
            "                   [--only LIST]\n"
            "\n"
            "Measures bare TLS 1.2 PSK handshakes + RFC 5705 export against a minimal GnuTLS\n"
            "server (a), full PPSK enrolments against mefd (b), MAF Key Retrievals against\n"
            "mafd (c) and handshakes with Entity B (m2msec cse) holding the Kc in its cache (d),\n"
            "then bare mutual ECDHE-ECDSA handshakes (e) and certificate enrolments against\n"
            "mefd (f), and the floor (g): (a) plus an enrolment's two round trips against a\n"
            "server that answers fixed bytes, plus the device's durable Ke commit. Same client\n"
            "threads throughout; prints ops/s, p50/p99 latency and the ratios (b)/(a),\n"
            "(c)/(a), (d)/(a), (f)/(e), (g)/(a) and (b)/(g) per concurrency level.\n"
            "\n"
            "  --seconds N     measurement length per mode and level (1..%d, default %d)\n"
            "  --clients LIST  comma-separated concurrency levels (default 1,4,16; max %d)\n"
            "  --tmpdir DIR    where the temp dir (mefd store, client state dirs) is made\n"
            "                  (default $TMPDIR or /tmp; e.g. /dev/shm to take the disk out)\n"
            "  --mefd PATH     mefd binary (default: mefd next to this program)\n"
            "  --keep          keep the temp dir (logs, stores) for inspection\n"
            "  --only LIST     measure only some of a..g (e.g. b, or a,d, or e,f), e.g. while\n"
            "                  profiling one server; a ratio needs both of its sides\n"
            "\n"
            "Exit status: 0, or 1 when anything failed (timing never fails the run).\n",
            MAX_SECONDS, DEFAULT_SECONDS, BENCH_MAX_CLIENTS);
}

static int
parse_uint(const char *s, uint64_t max, unsigned *out)
{
    uint64_t v = 0;

    if (m2msec_parse_u64(s, strlen(s), max, &v) == -1 || v == 0) {
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int
parse_levels(const char *arg, struct options *o)
{
    const char *p = arg;

    o->nlevels = 0;
    o->max_clients = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        uint64_t v = 0;

        if (o->nlevels == BENCH_MAX_LEVELS ||
            m2msec_parse_u64(p, len, BENCH_MAX_CLIENTS, &v) == -1 || v == 0) {
            return -1;
        }
        o->levels[o->nlevels++] = (unsigned)v;
        if (v > o->max_clients) {
            o->max_clients = (unsigned)v;
        }
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

/* --only a,c: the measurements to run. */
static int
parse_only(const char *v, struct options *o)
{
    size_t i, len = strlen(v);

    o->run_a = o->run_b = o->run_c = o->run_d = o->run_e = o->run_f = o->run_g = 0;
    for (i = 0; i < len; i++) {
        if (i % 2 == 1) {
            if (v[i] != ',') {
                return -1;
            }
            continue;
        }
        switch (v[i]) {
        case 'a':
            o->run_a = 1;
            break;
        case 'b':
            o->run_b = 1;
            break;
        case 'c':
            o->run_c = 1;
            break;
        case 'd':
            o->run_d = 1;
            break;
        case 'e':
            o->run_e = 1;
            break;
        case 'f':
            o->run_f = 1;
            break;
        case 'g':
            o->run_g = 1;
            break;
        default:
            return -1;
        }
    }
    return len % 2 == 1 ? 0 : -1;
}

/* 0 ok, 1 help shown, 2 usage error. */
static int
parse_options(int argc, char **argv, struct options *o)
{
    int i;

    o->seconds = DEFAULT_SECONDS;
    o->run_a = 1;
    o->run_b = 1;
    o->run_c = 1;
    o->run_d = 1;
    o->run_e = 1;
    o->run_f = 1;
    o->run_g = 1;
    (void)parse_levels("1,4,16", o);
    o->tmpdir = getenv("TMPDIR") != NULL && getenv("TMPDIR")[0] != '\0' ? getenv("TMPDIR") : "/tmp";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--keep") == 0) {
            o->keep = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "bench-enrol: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        if (strcmp(a, "--seconds") == 0) {
            if (parse_uint(v, MAX_SECONDS, &o->seconds) == -1) {
                fprintf(stderr, "bench-enrol: --seconds must be 1..%d\n", MAX_SECONDS);
                return 2;
            }
        } else if (strcmp(a, "--clients") == 0) {
            if (parse_levels(v, o) == -1) {
                fprintf(stderr,
                        "bench-enrol: --clients wants up to %d levels of 1..%d, e.g. 1,4,16\n",
                        BENCH_MAX_LEVELS, BENCH_MAX_CLIENTS);
                return 2;
            }
        } else if (strcmp(a, "--tmpdir") == 0) {
            o->tmpdir = v;
        } else if (strcmp(a, "--mefd") == 0) {
            o->mefd = v;
        } else if (strcmp(a, "--only") == 0) {
            if (parse_only(v, o) == -1) {
                fprintf(stderr, "bench-enrol: --only wants a list of a, b, c, d, e, f, e.g. a,d\n");
                return 2;
            }
        } else {
            fprintf(stderr, "bench-enrol: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    return 0;
}

static int
path_fmt(char *out, size_t outsz, const char *dir, const char *name)
{
    int n = snprintf(out, outsz, "%s/%s", dir, name);

    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* mefd next to this program, unless given. */
static int
locate_programs(struct bench *b, const char *mefd)
{
    ssize_t n = readlink("/proc/self/exe", b->self, sizeof(b->self) - 1);
    char *slash;

    if (n <= 0) {
        fprintf(stderr, "bench-enrol: readlink /proc/self/exe: %s\n", strerror(errno));
        return -1;
    }
    b->self[n] = '\0';
    if (mefd != NULL) {
        m2msec_strlcpy(b->mefd_bin, mefd, sizeof(b->mefd_bin));
    } else {
        /* Replace the last path component of our own path with "mefd". */
        m2msec_strlcpy(b->mefd_bin, b->self, sizeof(b->mefd_bin));
        slash = strrchr(b->mefd_bin, '/');
        if (slash == NULL) {
            return -1;
        }
        slash[1] = '\0';
        if (strlen(b->mefd_bin) + sizeof("mefd") > sizeof(b->mefd_bin)) {
            return -1;
        }
        memcpy(slash + 1, "mefd", sizeof("mefd"));
    }
    if (access(b->mefd_bin, X_OK) != 0) {
        fprintf(stderr, "bench-enrol: %s: %s (build it: ninja mefd)\n", b->mefd_bin,
                strerror(errno));
        return -1;
    }
    /* mafd sits next to mefd. */
    m2msec_strlcpy(b->mafd_bin, b->mefd_bin, sizeof(b->mafd_bin));
    slash = strrchr(b->mafd_bin, '/');
    if (slash == NULL) {
        m2msec_strlcpy(b->mafd_bin, "mafd", sizeof(b->mafd_bin));
    } else if (strlen(b->mafd_bin) + sizeof("mafd") > sizeof(b->mafd_bin)) {
        return -1;
    } else {
        memcpy(slash + 1, "mafd", sizeof("mafd"));
    }
    if (access(b->mafd_bin, X_OK) != 0) {
        fprintf(stderr, "bench-enrol: %s: %s (build it: ninja mafd)\n", b->mafd_bin,
                strerror(errno));
        return -1;
    }
    /* And the m2msec CLI, whose `cse` command is Entity B. */
    m2msec_strlcpy(b->cli_bin, b->mafd_bin, sizeof(b->cli_bin));
    slash = strrchr(b->cli_bin, '/');
    if (slash == NULL) {
        m2msec_strlcpy(b->cli_bin, "m2msec", sizeof(b->cli_bin));
    } else if (strlen(b->cli_bin) + sizeof("m2msec") > sizeof(b->cli_bin)) {
        return -1;
    } else {
        memcpy(slash + 1, "m2msec", sizeof("m2msec"));
    }
    if (access(b->cli_bin, X_OK) != 0) {
        fprintf(stderr, "bench-enrol: %s: %s (build it: ninja m2msec_cli)\n", b->cli_bin,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* workers = N from mefd.conf, so the baseline server gets as many. */
static unsigned
read_mefd_workers(const char *mefdir)
{
    char path[PATH_MAX], line[512];
    unsigned workers = DEFAULT_WORKERS;
    FILE *f;

    if (path_fmt(path, sizeof(path), mefdir, "mefd.conf") == -1 || (f = fopen(path, "r")) == NULL) {
        return workers;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line;
        size_t len;

        if (strncmp(p, "workers", 7) != 0) {
            continue;
        }
        p += 7;
        p += strspn(p, " \t");
        if (*p != '=') {
            continue;
        }
        p++;
        p += strspn(p, " \t");
        len = strspn(p, "0123456789");
        p[len] = '\0';
        if (parse_uint(p, 256, &workers) == -1) {
            workers = DEFAULT_WORKERS;
        }
    }
    fclose(f);
    return workers;
}

static int
mefd_admin(struct bench *b, const char *const argv[])
{
    struct m2msec_error err = { 0 };

    if (bench_run_cmd(argv, b->admin_log, &err) == -1) {
        fprintf(stderr, "bench-enrol: %s\n", m2msec_error_msg(&err));
        bench_dump_file(b->admin_log);
        return -1;
    }
    return 0;
}

/*
 * One Enrolee: a fresh random Kpm (kept in *kpm, written to <root>/<kpm_id>.hex
 * for `mefd enrolee add`), Enrolee-ID "/" + kpm_id (a CSE-ID, as for a device
 * CSE). extra: NULL-terminated further arguments (at most 4).
 */
static int
add_enrolee(struct bench *b, const char *kpm_id, struct m2msec_secret **kpm,
            const char *const *extra)
{
    struct m2msec_error err = { 0 };
    char hex[2 * BENCH_KPM_LEN + 2];
    char kpm_path[PATH_MAX], name[64], enrolee_id[64];
    const char *argv[BENCH_ARGV_MAX];
    size_t n = 0, i;
    int rv = -1;

    snprintf(enrolee_id, sizeof(enrolee_id), "/%s", kpm_id);
    snprintf(name, sizeof(name), "%s.hex", kpm_id);
    if (path_fmt(kpm_path, sizeof(kpm_path), b->root, name) == -1) {
        goto out;
    }
    *kpm = m2msec_secret_random(BENCH_KPM_LEN, &err);
    if (*kpm == NULL ||
        m2msec_hex_encode(m2msec_secret_bytes(*kpm), BENCH_KPM_LEN, hex, sizeof(hex)) == -1) {
        fprintf(stderr, "bench-enrol: Kpm: %s\n", m2msec_error_msg(&err));
        goto out;
    }
    hex[2 * BENCH_KPM_LEN] = '\n';
    if (bench_write_file(kpm_path, hex, 2 * BENCH_KPM_LEN + 1, &err) == -1) {
        fprintf(stderr, "bench-enrol: %s\n", m2msec_error_msg(&err));
        goto out;
    }
    argv[n++] = b->mefd_bin;
    argv[n++] = "enrolee";
    argv[n++] = "add";
    argv[n++] = "-d";
    argv[n++] = b->mefdir;
    argv[n++] = "--kpm-id";
    argv[n++] = kpm_id;
    argv[n++] = "--kpm-file";
    argv[n++] = kpm_path;
    argv[n++] = "--enrolee-id";
    argv[n++] = enrolee_id;
    argv[n++] = "--expiry";
    argv[n++] = BENCH_EXPIRY_S;
    for (i = 0; extra != NULL && extra[i] != NULL && n + 1 < BENCH_ARGV_MAX; i++) {
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    rv = mefd_admin(b, argv);
out:
    m2msec_wipe(hex, sizeof(hex));
    return rv;
}

/*
 * (e), (f): a manufacturer root and one device certificate per client thread
 * (M2M Device ID 0.2.481.1.77.1.<i+1>); for (f) each is a certificate Enrolee
 * /bcert-<i> of mefd with one MAF instruction, as the Kpm Enrolees of (b).
 */
static int
setup_cert_enrolees(struct bench *b, const struct options *o)
{
    struct m2msec_error err = { 0 };
    char key[PATH_MAX], path[PATH_MAX], hw[64], eid[32], name[32];
    unsigned i;
    const char *add[] = { b->mefd_bin,      "enrolee",      "add",       "-d",       b->mefdir,
                          "--cert-flavour", "device",       "--cert-id", hw,         "--cert-ca",
                          b->mfr_ca,        "--enrolee-id", eid,         "--expiry", BENCH_EXPIRY_S,
                          "--instruct-maf", BENCH_MAF_URI,  NULL };

    if (path_fmt(b->mfr_ca, sizeof(b->mfr_ca), b->root, "mfr.pem") == -1 ||
        path_fmt(key, sizeof(key), b->root, "mfr.key") == -1 ||
        path_fmt(b->mef_cert, sizeof(b->mef_cert), b->mefdir, "mef.pem") == -1 ||
        path_fmt(b->mef_key, sizeof(b->mef_key), b->mefdir, "mef.key") == -1 ||
        path_fmt(b->mef_ca, sizeof(b->mef_ca), b->mefdir, "pki/ca.pem") == -1) {
        return -1;
    }
    if (m2msec_pki_ca_create(b->mfr_ca, key, "bench manufacturer root", 30, &err) == -1) {
        fprintf(stderr, "bench-enrol: %s\n", m2msec_error_msg(&err));
        return -1;
    }
    for (i = 0; i < o->max_clients; i++) {
        snprintf(hw, sizeof(hw), "0.2.481.1.77.1.%u", i + 1);
        snprintf(eid, sizeof(eid), "/bcert-%u", i);
        snprintf(name, sizeof(name), "dev-%u.pem", i);
        if (path_fmt(path, sizeof(path), b->root, name) == -1 ||
            (b->dev_cert[i] = m2msec_strdup(path)) == NULL) {
            return -1;
        }
        snprintf(name, sizeof(name), "dev-%u.key", i);
        if (path_fmt(path, sizeof(path), b->root, name) == -1 ||
            (b->dev_key[i] = m2msec_strdup(path)) == NULL) {
            return -1;
        }
        if (m2msec_pki_issue_profile(b->mfr_ca, key, M2MSEC_PKI_PROFILE_DEVICE, hw, b->dev_cert[i],
                                     b->dev_key[i], 30, 0, &err) == -1) {
            fprintf(stderr, "bench-enrol: device certificate %u: %s\n", i, m2msec_error_msg(&err));
            return -1;
        }
        if (o->run_f && mefd_admin(b, add) == -1) {
            return -1;
        }
    }
    return 0;
}

/*
 * mefd init, then one Enrolee bench-<i> per client for (b). For (c), also the
 * development PKI and Enrolment Target service, the MAF as a target (SUID 21),
 * its certificate, and the Enrolees kg-<i> and src, provisioned for the MAF.
 */
static int
setup_mefd_dir(struct bench *b, const struct options *o)
{
    char kpm_id[32], cert[PATH_MAX], key[PATH_MAX];
    unsigned i;
    const char *init[] = { b->mefd_bin, "init",        "-d", b->mefdir, "--fqdn", BENCH_SNI,
                           "--listen",  "127.0.0.1:0", NULL, NULL,      NULL,     NULL };
    const char *instr[] = { "--instruct-maf", BENCH_MAF_URI, NULL };
    const char *to_maf[] = { "--target", BENCH_MAF_FQDN, NULL };
    const char *issue[] = { b->mefd_bin,    "pki",    "issue", "-d",    b->mefdir, "--fqdn",
                            BENCH_MAF_FQDN, "--cert", cert,    "--key", key,       NULL };
    const char *target[] = { b->mefd_bin,    "target", "add",          "-d",
                             b->mefdir,      "--id",   BENCH_MAF_FQDN, "--cert-fqdn",
                             BENCH_MAF_FQDN, "--suid", "21",           NULL };

    if (o->run_c || o->run_d || o->run_e || o->run_f) {
        init[8] = "--dev-pki";
        init[9] = "--target-listen";
        init[10] = "127.0.0.1:0";
    }
    if (mefd_admin(b, init) == -1) {
        return -1;
    }
    b->workers = read_mefd_workers(b->mefdir);
    for (i = 0; o->run_b && i < o->max_clients; i++) {
        snprintf(kpm_id, sizeof(kpm_id), "bench-%u", i);
        if (add_enrolee(b, kpm_id, &b->kpm[i], instr) == -1) {
            return -1;
        }
    }
    if ((o->run_e || o->run_f) && setup_cert_enrolees(b, o) == -1) {
        return -1;
    }
    if (!o->run_c && !o->run_d) {
        return 0;
    }
    if (path_fmt(cert, sizeof(cert), b->root, "maf.pem") == -1 ||
        path_fmt(key, sizeof(key), b->root, "maf.key") == -1 || mefd_admin(b, issue) == -1 ||
        mefd_admin(b, target) == -1 || add_enrolee(b, "src", &b->src_kpm, to_maf) == -1 ||
        (o->run_d && add_enrolee(b, "cse-b", &b->cse_kpm, to_maf) == -1)) {
        return -1;
    }
    for (i = 0; o->run_c && i < o->max_clients; i++) {
        snprintf(kpm_id, sizeof(kpm_id), "kg-%u", i);
        if (add_enrolee(b, kpm_id, &b->kg_kpm[i], to_maf) == -1) {
            return -1;
        }
    }
    return 0;
}

/* Read one line from fd within timeout_ms (the child's first words). */
static int
read_line(int fd, char *line, size_t linesz, unsigned timeout_ms)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    size_t len = 0;

    while (len + 1 < linesz) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        uint64_t now = bench_now_ns();
        ssize_t n;

        if (now >= deadline || poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0) {
            return -1;
        }
        n = read(fd, line + len, 1);
        if (n <= 0) {
            return -1;
        }
        if (line[len] == '\n') {
            break;
        }
        len++;
    }
    line[len] = '\0';
    return 0;
}

/* Copy the value of "key=" in line up to the next space. */
static int
field(const char *line, const char *key, char *out, size_t outsz)
{
    const char *p = strstr(line, key);
    size_t len;

    if (p == NULL) {
        return -1;
    }
    p += strlen(key);
    len = strcspn(p, " \r\n");
    if (len == 0 || len >= outsz) {
        return -1;
    }
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

/*
 * A baseline server (`bench-enrol --psk-server`): TLS 1.2 PSK, or with cert
 * non-zero mutual ECDHE-ECDSA with mefd's own certificate, verifying clients
 * under the manufacturer root. Its pid, address and stdout go to *pid, addr, *out.
 */
static int
start_baseline(struct bench *b, int cert, unsigned echo, pid_t *pid, char *addr, size_t addrsz,
               int *out)
{
    struct m2msec_error err = { 0 };
    char workers[16], rounds[16], line[256];
    int fds[2] = { -1, -1 };
    const char *argv[] = { b->self,     "--psk-server", "--workers", workers, "--cert",
                           b->mef_cert, "--key",        b->mef_key,  "--ca",  b->mfr_ca,
                           NULL,        NULL,           NULL };

    snprintf(workers, sizeof(workers), "%u", b->workers);
    snprintf(rounds, sizeof(rounds), "%u", echo);
    if (!cert) {
        argv[4] = NULL;
    }
    if (echo > 0) {
        argv[cert ? 10 : 4] = "--echo";
        argv[cert ? 11 : 5] = rounds;
        argv[cert ? 12 : 6] = NULL;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "bench-enrol: pipe: %s\n", strerror(errno));
        return -1;
    }
    *pid = bench_spawn(argv, fds[1], -1, &err);
    close(fds[1]);
    *out = fds[0];
    if (*pid < 0) {
        *pid = 0;
        fprintf(stderr, "bench-enrol: %s\n", m2msec_error_msg(&err));
        return -1;
    }
    if (read_line(*out, line, sizeof(line), START_TIMEOUT_MS) == -1 ||
        field(line, "addr=", addr, addrsz) == -1) {
        fprintf(stderr, "bench-enrol: the %s baseline server did not start\n",
                cert ? "certificate" : "PSK");
        return -1;
    }
    return 0;
}

static int
start_psk_server(struct bench *b)
{
    return start_baseline(b, 0, 0, &b->psk_pid, b->psk_addr, sizeof(b->psk_addr), &b->psk_out);
}

/* Scan a daemon's log for "event=<event> ... addr=IP:PORT". 1 found, 0 not yet. */
static int
scan_log(const char *path, const char *event, char *addr, size_t addrsz)
{
    FILE *f = fopen(path, "r");
    char line[2048], pat[64];
    int found = 0;

    if (f == NULL) {
        return 0;
    }
    snprintf(pat, sizeof(pat), "event=%s ", event);
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, pat) != NULL && field(line, " addr=", addr, addrsz) == 0) {
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/*
 * Start `<bin> serve -d <dir>` with its output in log, and wait until it has
 * logged event=listening (and event=<extra_event>, when given): the addresses
 * go to addr and extra_addr.
 */
static int
start_daemon(const char *bin, const char *dir, const char *log, const char *name, pid_t *pid,
             char *addr, size_t addrsz, const char *extra_event, char *extra_addr,
             size_t extra_addrsz)
{
    struct m2msec_error err = { 0 };
    const struct timespec slice = { 0, 20 * 1000 * 1000 };
    uint64_t deadline = bench_now_ns() + (uint64_t)START_TIMEOUT_MS * 1000000u;
    const char *argv[] = { bin, "serve", "-d", dir, NULL };
    int fd, status = 0;

    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "bench-enrol: %s: %s\n", log, strerror(errno));
        return -1;
    }
    *pid = bench_spawn(argv, fd, fd, &err);
    close(fd);
    if (*pid < 0) {
        *pid = 0;
        fprintf(stderr, "bench-enrol: %s\n", m2msec_error_msg(&err));
        return -1;
    }
    while (!scan_log(log, "listening", addr, addrsz) ||
           (extra_event != NULL && !scan_log(log, extra_event, extra_addr, extra_addrsz))) {
        if (waitpid(*pid, &status, WNOHANG) == *pid) {
            *pid = 0;
            fprintf(stderr, "bench-enrol: %s serve exited at start-up (status %d):\n", name,
                    status);
            bench_dump_file(log);
            return -1;
        }
        if (bench_now_ns() >= deadline) {
            fprintf(stderr, "bench-enrol: %s did not log event=listening within %d ms:\n", name,
                    START_TIMEOUT_MS);
            bench_dump_file(log);
            return -1;
        }
        nanosleep(&slice, NULL);
    }
    return 0;
}

static int
start_mefd(struct bench *b, const struct options *o)
{
    return start_daemon(b->mefd_bin, b->mefdir, b->mefd_log, "mefd", &b->mefd_pid, b->mefd_addr,
                        sizeof(b->mefd_addr), o->run_c || o->run_d ? "targets_listening" : NULL,
                        b->tgt_addr, sizeof(b->tgt_addr));
}

/* (d): `m2msec cse` in <clients>/cse-b, retrieving from the MAF; reads "listening ADDR". */
static int
start_cse(struct bench *b, const char *clients_dir)
{
    struct m2msec_error err = { 0 };
    char dir[PATH_MAX], line[256];
    int fds[2] = { -1, -1 };
    const char *argv[] = { b->cli_bin, "cse",         "-d",          dir,
                           "--listen", "127.0.0.1:0", "--id",        BENCH_CSE_ID,
                           "--maf",    b->maf_addr,   "--maf-fqdn",  BENCH_MAF_FQDN,
                           "--log",    b->cse_log,    "--max-conns", "256",
                           NULL };

    if (path_fmt(dir, sizeof(dir), clients_dir, "cse-b") == -1) {
        return -1;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "bench-enrol: pipe: %s\n", strerror(errno));
        return -1;
    }
    b->cse_pid = bench_spawn(argv, fds[1], -1, &err);
    close(fds[1]);
    b->cse_out = fds[0];
    if (b->cse_pid < 0) {
        b->cse_pid = 0;
        fprintf(stderr, "bench-enrol: %s\n", m2msec_error_msg(&err));
        return -1;
    }
    if (read_line(b->cse_out, line, sizeof(line), START_TIMEOUT_MS) == -1 ||
        strncmp(line, "listening ", 10) != 0 ||
        m2msec_strlcpy(b->cse_addr, line + 10, sizeof(b->cse_addr)) == -1) {
        fprintf(stderr, "bench-enrol: Entity B (m2msec cse) did not start:\n");
        bench_dump_file(b->cse_log);
        return -1;
    }
    return 0;
}

/*
 * (c): mafd init against mefd's target service, mafd serve, then in-process:
 * every kg-<i> and src enrol and register with the MAF, and src registers one
 * Kc (SUID 32) per kg-<i>, naming /kg-<i> as the target.
 */
static int
setup_maf(struct bench *b, const struct options *o, const char *clients_dir)
{
    struct m2msec_error err = { 0 };
    char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], mef[256], target[32], kpm_id[32];
    const char *init[] = {
        b->mafd_bin, "init",        "-d",       b->mafdir, "--fqdn", BENCH_MAF_FQDN,
        "--listen",  "127.0.0.1:0", "--mef-ca", ca,        "--cert", cert,
        "--key",     key,           "--mef",    mef,       NULL
    };
    unsigned i;

    snprintf(mef, sizeof(mef), "%s=%s", BENCH_MEF_FQDN, b->tgt_addr);
    if (path_fmt(ca, sizeof(ca), b->mefdir, "pki/ca.pem") == -1 ||
        path_fmt(cert, sizeof(cert), b->root, "maf.pem") == -1 ||
        path_fmt(key, sizeof(key), b->root, "maf.key") == -1 || mefd_admin(b, init) == -1 ||
        start_daemon(b->mafd_bin, b->mafdir, b->mafd_log, "mafd", &b->mafd_pid, b->maf_addr,
                     sizeof(b->maf_addr), NULL, NULL, 0) == -1) {
        return -1;
    }
    if (bench_dist_client(clients_dir, "src", b->src_kpm, b->mefd_addr, b->maf_addr, &err) == -1) {
        goto fail;
    }
    for (i = 0; o->run_c && i < o->max_clients; i++) {
        snprintf(kpm_id, sizeof(kpm_id), "kg-%u", i);
        snprintf(target, sizeof(target), "/kg-%u", i);
        if (bench_dist_client(clients_dir, kpm_id, b->kg_kpm[i], b->mefd_addr, b->maf_addr, &err) ==
                    -1 ||
            bench_dist_keyreg(clients_dir, "src", b->src_kpm, b->mefd_addr, b->maf_addr, target, 32,
                              b->key_id[i], NULL, &err) == -1) {
            goto fail;
        }
    }
    if (!o->run_d) {
        return 0;
    }
    /* (d): Entity B is itself an enrolled, registered MAF client; src holds a Kc per thread. */
    if (bench_dist_client(clients_dir, "cse-b", b->cse_kpm, b->mefd_addr, b->maf_addr, &err) ==
        -1) {
        goto fail;
    }
    for (i = 0; i < o->max_clients; i++) {
        if (bench_dist_keyreg(clients_dir, "src", b->src_kpm, b->mefd_addr, b->maf_addr,
                              BENCH_CSE_ID, 32, b->saef_id[i], &b->saef_kc[i], &err) == -1) {
            goto fail;
        }
    }
    return start_cse(b, clients_dir);
fail:
    fprintf(stderr, "bench-enrol: key distribution set-up: %s\n", m2msec_error_msg(&err));
    return -1;
}

/* SIGTERM, wait for a graceful exit; 0 when it exited with status 0. */
static int
stop_child(pid_t *pid, const char *name)
{
    int status = 0;

    if (*pid <= 0) {
        return 0;
    }
    kill(*pid, SIGTERM);
    if (bench_wait(*pid, STOP_TIMEOUT_MS, &status) == -1) {
        fprintf(stderr, "bench-enrol: %s did not stop within %d ms after SIGTERM; killed\n", name,
                STOP_TIMEOUT_MS);
        kill(*pid, SIGKILL);
        (void)bench_wait(*pid, STOP_TIMEOUT_MS, &status);
        *pid = 0;
        return -1;
    }
    *pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench-enrol: %s exited with %s %d after SIGTERM\n", name,
                WIFEXITED(status) ? "status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return 0;
}

/* Lines a daemon logged at warning or err level: printed, and counted as errors. */
static unsigned
log_problems(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    char line[2048], warn[64], e1[64], e2[64], prefix[64];
    unsigned n = 0;

    if (f == NULL) {
        return 0;
    }
    snprintf(warn, sizeof(warn), " warning %s[", name);
    snprintf(e1, sizeof(e1), " err %s[", name);
    snprintf(e2, sizeof(e2), " error %s[", name);
    snprintf(prefix, sizeof(prefix), "%s: ", name);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, warn) != NULL || strstr(line, e1) != NULL || strstr(line, e2) != NULL ||
            strncmp(line, prefix, strlen(prefix)) == 0) {
            if (n < LOG_LINES_SHOWN) {
                fprintf(stderr, "  %s log: %s", name, line);
            }
            n++;
        }
    }
    fclose(f);
    return n;
}

static void
print_row_half(const struct bench_result *r, int ran)
{
    if (!ran) {
        printf(" %10s %7s %7s %6s |", "-", "-", "-", "-");
        return;
    }
    printf(" %10.1f %7.2f %7.2f %6llu |", r->ops_per_s, r->p50_ms, r->p99_ms,
           (unsigned long long)(r->failed + r->warmup_failed));
}

static double
ratio(const struct bench_result *a, const struct bench_result *b)
{
    return a->ops_per_s > 0.0 ? b->ops_per_s / a->ops_per_s : 0.0;
}

static void
print_context(const struct bench *b, const struct options *o)
{
    char fsname[64];
    const char *kind = NULL;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    size_t i;

    bench_fs_kind(b->root, fsname, sizeof(fsname), &kind);
    printf("bench-enrol: full PPSK enrolment against mefd (b) vs bare TLS 1.2 PSK handshake +\n"
           "RFC 5705 export against a minimal GnuTLS server (a); same client threads, same run.\n");
    printf("machine: nproc=%ld (client threads and both servers share them)\n", nproc);
    printf("state dirs: %s on %s (%s); mefd store and client stores commit with "
           "synchronous=FULL\n",
           b->root, fsname, kind);
    printf("mefd: %s, %u workers, %s, pid %ld (log: %s)\n", b->mefd_bin, b->workers, b->mefd_addr,
           (long)b->mefd_pid, o->keep ? b->mefd_log : "removed at the end");
    printf("baseline server: bench-enrol --psk-server, %u workers, %s, pid %ld; load generator "
           "pid %ld\n",
           b->workers, b->psk_addr, (long)b->psk_pid, (long)getpid());
    printf("run: %u s per mode and level, clients", o->seconds);
    for (i = 0; i < o->nlevels; i++) {
        printf(" %u", o->levels[i]);
    }
    printf(", closed loop, 1 untimed warm-up op per client\n\n");
    printf("clients |  (a) ops/s  p50 ms  p99 ms errors |  (b) ops/s  p50 ms  p99 ms errors |"
           " (b)/(a)\n");
    fflush(stdout);
}

static void
print_cpu(const struct bench_result *ra, const struct bench_result *rb, size_t n,
          const struct options *o)
{
    size_t i;

    printf("\nCPU per successful operation, ms (client: bench-enrol's client threads; server:\n"
           "psk-server for (a), mefd for (b)); busy: both as a share of all CPUs:\n");
    printf("clients | (a) client  server   busy | (b) client  server   busy\n");
    for (i = 0; i < n; i++) {
        printf("%7u |", o->levels[i]);
        if (o->run_a) {
            printf(" %10.3f %7.3f %5.0f%% |", ra[i].client_cpu_ms, ra[i].server_cpu_ms,
                   ra[i].busy_pct);
        } else {
            printf(" %10s %7s %6s |", "-", "-", "-");
        }
        if (o->run_b) {
            printf(" %10.3f %7.3f %5.0f%%\n", rb[i].client_cpu_ms, rb[i].server_cpu_ms,
                   rb[i].busy_pct);
        } else {
            printf(" %10s %7s %6s\n", "-", "-", "-");
        }
    }
}

/* (c) and (d) next to (a): the key distribution measurements and their ratios to the bare handshake. */
static void
print_dist(const struct bench_result *ra, const struct bench_result *rc,
           const struct bench_result *rd, size_t n, const struct options *o)
{
    const struct bench_result *r[2] = { rc, rd };
    const int ran[2] = { o->run_c, o->run_d };
    const char *tag[2] = { "(c)", "(d)" };
    size_t i, m;

    printf("\nKey distribution (same client threads, same run):\n"
           "  (c) MAF Key Retrieval (8.8.2.8): MAF Handshake with KmID/Km, GET /maf/keys/<rel>,\n"
           "      close; one registered MAF client per thread, each retrieving its own key\n"
           "  (d) Entity B (m2msec cse) TLS 1.2 PSK handshake with a Key Identifier whose Kc it\n"
           "      has cached (retrieved from mafd at the warm-up), + export + close, as (a)\n");
    for (m = 0; m < 2; m++) {
        if (!ran[m]) {
            continue;
        }
        printf("clients |  %s ops/s  p50 ms  p99 ms errors | %s/(a) | %s client  server   busy\n",
               tag[m], tag[m], tag[m]);
        for (i = 0; i < n; i++) {
            printf("%7u |", o->levels[i]);
            print_row_half(&r[m][i], 1);
            if (o->run_a) {
                printf(" %7.3f |", ratio(&ra[i], &r[m][i]));
            } else {
                printf(" %7s |", "-");
            }
            printf(" %10.3f %7.3f %5.0f%%\n", r[m][i].client_cpu_ms, r[m][i].server_cpu_ms,
                   r[m][i].busy_pct);
        }
    }
}

/* (e) and (f): the certificate RSPF next to its own handshake. */
static void
print_cert(const struct bench_result *re, const struct bench_result *rf, size_t n,
           const struct options *o)
{
    size_t i;

    printf("\nCertificates (same client threads, same run):\n"
           "  (e) bare mutual ECDHE-ECDSA P-256 handshake + export + close against a minimal\n"
           "      server with mefd's certificate (any client certificate under the root)\n"
           "  (f) certificate RSPF (8.3.2.2): m2msec_client_enrol() with a device certificate\n"
           "      against mefd, one certificate Enrolee per thread, one instruction, as (b)\n");
    printf("clients |  (e) ops/s  p50 ms  p99 ms errors |  (f) ops/s  p50 ms  p99 ms errors |"
           " (f)/(e)\n");
    for (i = 0; i < n; i++) {
        printf("%7u |", o->levels[i]);
        print_row_half(&re[i], o->run_e);
        print_row_half(&rf[i], o->run_f);
        if (o->run_e && o->run_f) {
            printf(" %7.3f\n", ratio(&re[i], &rf[i]));
        } else {
            printf(" %7s\n", "-");
        }
    }
}

/*
 * (g), the floor, next to (a) and (b). (g)/(a) bounds (b)/(a) from above for
 * any MEF on this machine with this load generator; (b)/(g) is how close mefd
 * (and the client's protocol work) comes to a server that does nothing.
 */
static void
print_floor(const struct bench_result *ra, const struct bench_result *rb,
            const struct bench_result *rg, size_t n, const struct options *o)
{
    size_t i;

    printf("\nThe floor (same client threads, same run):\n"
           "  (g) (a) + %d round trips (%d bytes out, %d back) against the baseline server\n"
           "      answering fixed bytes, + the Ke committed to the device store as (b) does it:\n"
           "      (b) with a MEF that costs nothing beyond its handshake\n",
           BENCH_FLOOR_RTS, BENCH_FLOOR_REQ_LEN, BENCH_FLOOR_RESP_LEN);
    printf("clients |  (g) ops/s  p50 ms  p99 ms errors | (g)/(a) | (b)/(g) | (g) client  server"
           "   busy\n");
    for (i = 0; i < n; i++) {
        printf("%7u |", o->levels[i]);
        print_row_half(&rg[i], 1);
        if (o->run_a) {
            printf(" %7.3f |", ratio(&ra[i], &rg[i]));
        } else {
            printf(" %7s |", "-");
        }
        if (o->run_b) {
            printf(" %7.3f |", ratio(&rg[i], &rb[i]));
        } else {
            printf(" %7s |", "-");
        }
        printf(" %10.3f %7.3f %5.0f%%\n", rg[i].client_cpu_ms, rg[i].server_cpu_ms, rg[i].busy_pct);
    }
}

static void
print_phases(const struct bench_result *res, size_t n)
{
    size_t i, k;

    printf("\n(b) where an enrolment's time goes, client side (mean ms per successful "
           "enrolment):\n");
    printf("clients");
    for (k = 0; k < BENCH_PH_COUNT; k++) {
        printf(" %11s", bench_phase_names[k]);
    }
    printf(" %11s\n", "sum");
    for (i = 0; i < n; i++) {
        double sum = 0.0;

        printf("%7u", res[i].clients);
        for (k = 0; k < BENCH_PH_COUNT; k++) {
            printf(" %11.2f", res[i].phase_ms[k]);
            sum += res[i].phase_ms[k];
        }
        printf(" %11.2f\n", sum);
    }
    printf("  store-open: open the device state store; tls: TCP connect + TLS-PSK handshake\n"
           "  (mefd looks the Kpm up in its store); enrol-start: export + POST enrolment, mefd\n"
           "  commits Ke before answering; report: the instruction's report and the end of the\n"
           "  exchange; store-put: seal and commit Ke on the device; close: close_notify and\n"
           "  closing the device store.\n");
}

/* Read what the psk-server printed at exit ("served=N failed=M dropped=D"). */
static void
psk_server_summary(int fd, char *out, size_t outsz)
{
    char line[256];

    snprintf(out, outsz, "no summary");
    while (fd >= 0 && read_line(fd, line, sizeof(line), 2000) == 0) {
        if (strncmp(line, "served=", 7) == 0) {
            m2msec_strlcpy(out, line, outsz);
        }
    }
}

static int
psk_server_failed(const char *summary)
{
    return strstr(summary, "served=") == NULL || strstr(summary, " failed=0 ") == NULL ||
           strstr(summary, " dropped=0") == NULL;
}

/* Index of the level the summary line is about: 16 clients, else the highest measured. */
static size_t
summary_level(const struct options *o, size_t done)
{
    size_t i, at = 0;

    for (i = 0; i < done; i++) {
        if (o->levels[i] == TARGET_CLIENTS) {
            return i;
        }
        if (o->levels[i] > o->levels[at]) {
            at = i;
        }
    }
    return at;
}

static int
run_bench(struct bench *b, const struct options *o)
{
    struct m2msec_error err = { 0 };
    struct bench_target ta = { 0 }, tb = { 0 }, tc = { 0 }, td = { 0 }, te = { 0 }, tf = { 0 };
    struct bench_target tg = { 0 };
    struct bench_result ra[BENCH_MAX_LEVELS] = { 0 }, rb[BENCH_MAX_LEVELS] = { 0 };
    struct bench_result rc[BENCH_MAX_LEVELS] = { 0 }, rd[BENCH_MAX_LEVELS] = { 0 };
    struct bench_result re[BENCH_MAX_LEVELS] = { 0 }, rf[BENCH_MAX_LEVELS] = { 0 };
    struct bench_result rg[BENCH_MAX_LEVELS] = { 0 };
    char clients_dir[PATH_MAX], summary[256] = "not run", csummary[256] = "not run";
    char gsummary[256] = "not run";
    uint64_t errors = 0;
    unsigned problems;
    size_t i, done = 0, at;
    int stop_fail = 0;

    if (path_fmt(clients_dir, sizeof(clients_dir), b->root, "clients") == -1 ||
        mkdir(clients_dir, 0700) != 0) {
        fprintf(stderr, "bench-enrol: %s: %s\n", clients_dir, strerror(errno));
        return -1;
    }
    if (setup_mefd_dir(b, o) == -1 || start_psk_server(b) == -1 ||
        (o->run_e && start_baseline(b, 1, 0, &b->cert_pid, b->cert_addr, sizeof(b->cert_addr),
                                    &b->cert_out) == -1) ||
        (o->run_g && start_baseline(b, 0, BENCH_FLOOR_RTS, &b->floor_pid, b->floor_addr,
                                    sizeof(b->floor_addr), &b->floor_out) == -1) ||
        start_mefd(b, o) == -1) {
        return -1;
    }
    b->psk = bench_psk_fixed_key(&err);
    if (b->psk == NULL || m2msec_tls_global_init(&err) == -1) {
        fprintf(stderr, "bench-enrol: %s\n", m2msec_error_msg(&err));
        return -1;
    }
    if ((o->run_c || o->run_d) && setup_maf(b, o, clients_dir) == -1) {
        return -1;
    }
    ta.mode = BENCH_BASELINE;
    ta.hostport = b->psk_addr;
    ta.server_pid = b->psk_pid;
    ta.psk = b->psk;
    tb.mode = BENCH_ENROL;
    tb.hostport = b->mefd_addr;
    tb.server_pid = b->mefd_pid;
    tb.state_root = clients_dir;
    tc.mode = BENCH_KEYGET;
    tc.hostport = b->maf_addr;
    tc.maf_hostport = b->maf_addr;
    tc.server_pid = b->mafd_pid;
    tc.state_root = clients_dir;
    te.mode = BENCH_CERT_TLS;
    te.hostport = b->cert_addr;
    te.server_pid = b->cert_pid;
    te.server_ca = b->mef_ca;
    tf.mode = BENCH_CERT_ENROL;
    tf.hostport = b->mefd_addr;
    tf.server_pid = b->mefd_pid;
    tf.state_root = clients_dir;
    tf.server_ca = b->mef_ca;
    tg.mode = BENCH_FLOOR;
    tg.hostport = b->floor_addr;
    tg.server_pid = b->floor_pid;
    tg.psk = b->psk;
    tg.state_root = clients_dir;
    td.mode = BENCH_SAEF;
    td.hostport = b->cse_addr;
    td.server_pid = b->cse_pid;
    for (i = 0; i < o->max_clients; i++) {
        tb.kpm[i] = b->kpm[i];
        tc.key_id[i] = b->key_id[i];
        td.key_id[i] = b->saef_id[i];
        td.kc[i] = b->saef_kc[i];
        te.cert[i] = tf.cert[i] = b->dev_cert[i];
        te.key[i] = tf.key[i] = b->dev_key[i];
    }
    print_context(b, o);
    for (i = 0; i < o->nlevels; i++) {
        /* A failure here leaves client threads blocked: stop measuring altogether. */
        if ((o->run_a && bench_load_run(&ta, o->levels[i], o->seconds, &ra[i], &err) == -1) ||
            (o->run_b && bench_load_run(&tb, o->levels[i], o->seconds, &rb[i], &err) == -1) ||
            (o->run_c && bench_load_run(&tc, o->levels[i], o->seconds, &rc[i], &err) == -1) ||
            (o->run_d && bench_load_run(&td, o->levels[i], o->seconds, &rd[i], &err) == -1) ||
            (o->run_e && bench_load_run(&te, o->levels[i], o->seconds, &re[i], &err) == -1) ||
            (o->run_f && bench_load_run(&tf, o->levels[i], o->seconds, &rf[i], &err) == -1) ||
            (o->run_g && bench_load_run(&tg, o->levels[i], o->seconds, &rg[i], &err) == -1)) {
            fprintf(stderr, "bench-enrol: %s\n", m2msec_error_msg(&err));
            return -1;
        }
        done++;
        errors += ra[i].failed + ra[i].warmup_failed + rb[i].failed + rb[i].warmup_failed +
                  rc[i].failed + rc[i].warmup_failed + rd[i].failed + rd[i].warmup_failed +
                  re[i].failed + re[i].warmup_failed + rf[i].failed + rf[i].warmup_failed +
                  rg[i].failed + rg[i].warmup_failed;
        printf("%7u |", o->levels[i]);
        print_row_half(&ra[i], o->run_a);
        print_row_half(&rb[i], o->run_b);
        if (o->run_a && o->run_b) {
            printf(" %7.3f\n", ratio(&ra[i], &rb[i]));
        } else {
            printf(" %7s\n", "-");
        }
        fflush(stdout);
    }
    printf("\nsuites: (a) %s, (b) %s\n", o->run_a ? ra[0].suite : "-",
           o->run_b ? rb[0].suite : "-");
    print_cpu(ra, rb, done, o);
    if (o->run_b) {
        print_phases(rb, done);
    }
    if (o->run_c || o->run_d) {
        print_dist(ra, rc, rd, done, o);
    }
    if (o->run_e || o->run_f) {
        print_cert(re, rf, done, o);
    }
    if (o->run_g) {
        print_floor(ra, rb, rg, done, o);
    }

    stop_fail |= stop_child(&b->psk_pid, "bench-enrol --psk-server");
    psk_server_summary(b->psk_out, summary, sizeof(summary));
    stop_fail |= stop_child(&b->cert_pid, "bench-enrol --psk-server --cert");
    psk_server_summary(b->cert_out, csummary, sizeof(csummary));
    stop_fail |= stop_child(&b->floor_pid, "bench-enrol --psk-server --echo");
    psk_server_summary(b->floor_out, gsummary, sizeof(gsummary));
    stop_fail |= stop_child(&b->cse_pid, "m2msec cse");
    stop_fail |= stop_child(&b->mafd_pid, "mafd serve");
    stop_fail |= stop_child(&b->mefd_pid, "mefd serve");
    problems = log_problems(b->mefd_log, "mefd") + log_problems(b->mafd_log, "mafd");
    printf("\nservers: psk-server %s; mefd%s%s exit %s, %u warning/error log lines\n", summary,
           o->run_c || o->run_d ? ", mafd" : "", o->run_d ? ", m2msec cse" : "",
           stop_fail ? "FAILED" : "0", problems);
    errors += problems + (uint64_t)(o->run_a && psk_server_failed(summary) ? 1 : 0) +
              (uint64_t)(o->run_e && psk_server_failed(csummary) ? 1 : 0) +
              (uint64_t)(o->run_g && psk_server_failed(gsummary) ? 1 : 0);
    if (o->run_e) {
        printf("certificate baseline server: %s\n", csummary);
    }
    if (o->run_g) {
        printf("floor (echo) server: %s\n", gsummary);
    }
    if (errors > 0 || stop_fail) {
        printf("errors: %llu (see stderr); failed operations are not in the latency figures\n",
               (unsigned long long)errors);
    } else {
        printf("errors: none\n");
    }
    at = summary_level(o, done);
    if (o->run_a && o->run_b) {
        printf("ratio at %u clients: %.3f (target >= %.1f)\n", o->levels[at],
               ratio(&ra[at], &rb[at]), TARGET_RATIO);
    }
    if (o->run_a && o->run_c) {
        printf("MAF key retrievals at %u clients: %.1f/s, %.3f of bare handshakes\n", o->levels[at],
               rc[at].ops_per_s, ratio(&ra[at], &rc[at]));
    }
    if (o->run_a && o->run_d) {
        printf("Entity B handshakes with a cached Kc at %u clients: %.1f/s, %.3f of bare "
               "handshakes (target >= %.1f)\n",
               o->levels[at], rd[at].ops_per_s, ratio(&ra[at], &rd[at]), TARGET_SAEF_RATIO);
    }
    if (o->run_e && o->run_f) {
        printf("certificate enrolments at %u clients: %.1f/s, %.3f of bare mutual ECDHE-ECDSA "
               "handshakes\n",
               o->levels[at], rf[at].ops_per_s, ratio(&re[at], &rf[at]));
    }
    if (o->run_a && o->run_g) {
        printf("floor at %u clients: (g)/(a) %.3f, the most any MEF could reach here with this "
               "load generator",
               o->levels[at], ratio(&ra[at], &rg[at]));
        if (o->run_b) {
            printf("; (b)/(g) %.3f", ratio(&rg[at], &rb[at]));
        }
        printf("\n");
    }
    return errors > 0 || stop_fail ? -1 : 0;
}

static void
cleanup(struct bench *b, const struct options *o)
{
    size_t i;

    (void)stop_child(&b->psk_pid, "bench-enrol --psk-server");
    (void)stop_child(&b->cse_pid, "m2msec cse");
    (void)stop_child(&b->cert_pid, "bench-enrol --psk-server --cert");
    (void)stop_child(&b->floor_pid, "bench-enrol --psk-server --echo");
    (void)stop_child(&b->mafd_pid, "mafd serve");
    (void)stop_child(&b->mefd_pid, "mefd serve");
    if (b->psk_out >= 0) {
        close(b->psk_out);
    }
    if (b->cse_out >= 0) {
        close(b->cse_out);
    }
    if (b->cert_out >= 0) {
        close(b->cert_out);
    }
    if (b->floor_out >= 0) {
        close(b->floor_out);
    }
    m2msec_secret_free(b->cse_kpm);
    m2msec_secret_free(b->psk);
    for (i = 0; i < BENCH_MAX_CLIENTS; i++) {
        m2msec_secret_free(b->kpm[i]);
        m2msec_secret_free(b->kg_kpm[i]);
        m2msec_secret_free(b->saef_kc[i]);
        m2msec_free(b->dev_cert[i]);
        m2msec_free(b->dev_key[i]);
    }
    m2msec_secret_free(b->src_kpm);
    if (b->root[0] == '\0') {
        return;
    }
    if (o->keep) {
        fprintf(stderr, "bench-enrol: kept %s\n", b->root);
    } else if (bench_rm_tree(b->root) != 0) {
        fprintf(stderr, "bench-enrol: cannot remove %s: %s\n", b->root, strerror(errno));
    }
}

int
main(int argc, char **argv)
{
    struct options o = { 0 };
    struct bench b = { 0 };
    struct sigaction sa;
    int rv = 1, r;

    if (argc >= 2 && strcmp(argv[1], "--psk-server") == 0) {
        unsigned workers = DEFAULT_WORKERS, echo = 0;
        const char *cert = NULL, *key = NULL, *ca = NULL;
        int i;

        for (i = 2; i < argc; i += 2) {
            const char *v = i + 1 < argc ? argv[i + 1] : NULL;

            if (v == NULL) {
                goto server_usage;
            }
            if (strcmp(argv[i], "--workers") == 0) {
                if (parse_uint(v, 256, &workers) == -1) {
                    goto server_usage;
                }
            } else if (strcmp(argv[i], "--echo") == 0) {
                if (parse_uint(v, 16, &echo) == -1) {
                    goto server_usage;
                }
            } else if (strcmp(argv[i], "--cert") == 0) {
                cert = v;
            } else if (strcmp(argv[i], "--key") == 0) {
                key = v;
            } else if (strcmp(argv[i], "--ca") == 0) {
                ca = v;
            } else {
                goto server_usage;
            }
        }
        if ((cert == NULL) != (key == NULL) || (cert == NULL) != (ca == NULL)) {
            goto server_usage;
        }
        return bench_psk_server_main(workers, cert, key, ca, echo);
    server_usage:
        fprintf(stderr, "usage: bench-enrol --psk-server [--workers 1..256] [--cert F --key F "
                        "--ca F] [--echo 1..16]\n");
        return 2;
    }
    r = parse_options(argc, argv, &o);
    if (r != 0) {
        return r == 1 ? 0 : 2;
    }
    b.psk_out = -1;
    b.cse_out = -1;
    b.cert_out = -1;
    b.floor_out = -1;
    /* Rows and the errors printed on stderr while measuring must interleave in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    if (locate_programs(&b, o.mefd) == -1) {
        goto out;
    }
    if (path_fmt(b.root, sizeof(b.root), o.tmpdir, "bench-enrol.XXXXXX") == -1 ||
        mkdtemp(b.root) == NULL) {
        fprintf(stderr, "bench-enrol: cannot create a temp dir in %s: %s\n", o.tmpdir,
                strerror(errno));
        b.root[0] = '\0';
        goto out;
    }
    if (path_fmt(b.mefdir, sizeof(b.mefdir), b.root, "mef") == -1 ||
        path_fmt(b.mefd_log, sizeof(b.mefd_log), b.root, "mefd.log") == -1 ||
        path_fmt(b.admin_log, sizeof(b.admin_log), b.root, "admin.log") == -1 ||
        path_fmt(b.mafdir, sizeof(b.mafdir), b.root, "maf") == -1 ||
        path_fmt(b.mafd_log, sizeof(b.mafd_log), b.root, "mafd.log") == -1 ||
        path_fmt(b.cse_log, sizeof(b.cse_log), b.root, "cse.log") == -1) {
        fprintf(stderr, "bench-enrol: temp dir path too long\n");
        goto out;
    }
    if (run_bench(&b, &o) == 0) {
        rv = 0;
    }
out:
    cleanup(&b, &o);
    return rv;
}
