/*
 * cli/ibc.c - `m2msec ibc listen|connect|show|refresh`: decentralised authentication between two
 * devices holding IBC credentials (seed 000, IBC-DESIGN 4.2), with no server running.
 *
 * Layer: CLI (public API only). listen is the responder: one line per event on
 * stdout ("listening ADDR", "session peer=... kpsa_id=... expires=...",
 * "refused reason=..."); SIGTERM/SIGINT end it with status 0. connect is the
 * initiator: it prints the responder's answer to its oneM2M request.
 */
#define _DEFAULT_SOURCE /* gmtime_r */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "m2msec.h"

#define IBC_PEERS_MAX 16
#define IBC_TRUST_MAX 16

enum {
    O_STATE = 256,
    O_LISTEN,
    O_TO,
    O_PEER,
    O_ONCE,
    O_TRUST,
    O_SKEW,
    O_MAXLIFE,
    O_TIMEOUT,
    O_JSON,
    O_CAPTURE,
    O_REPLAY_M1,
    O_REPLAY_M3,
    O_ORIGIN,
    O_MEF,
    O_KPM_ID,
    O_KPM_FILE,
};

static const struct option ibc_opts[] = {
    { "state", required_argument, NULL, O_STATE },
    { "listen", required_argument, NULL, O_LISTEN },
    { "to", required_argument, NULL, O_TO },
    { "peer", required_argument, NULL, O_PEER },
    { "once", no_argument, NULL, O_ONCE },
    { "trust", required_argument, NULL, O_TRUST },
    { "skew", required_argument, NULL, O_SKEW },
    { "max-lifetime", required_argument, NULL, O_MAXLIFE },
    { "timeout", required_argument, NULL, O_TIMEOUT },
    { "json", no_argument, NULL, O_JSON },
    { "capture", required_argument, NULL, O_CAPTURE },
    { "replay-m1", required_argument, NULL, O_REPLAY_M1 },
    { "replay-m3", required_argument, NULL, O_REPLAY_M3 },
    { "origin", required_argument, NULL, O_ORIGIN },
    { "mef", required_argument, NULL, O_MEF },
    { "kpm-id", required_argument, NULL, O_KPM_ID },
    { "kpm-file", required_argument, NULL, O_KPM_FILE },
    { NULL, 0, NULL, 0 },
};

struct ibc_args {
    const char *state, *listen, *to, *capture, *replay_m1, *replay_m3, *origin;
    const char *mef, *kpm_id, *kpm_file;
    const char *peers[IBC_PEERS_MAX];
    size_t npeers;
    const char *trust[IBC_TRUST_MAX];
    size_t ntrust;
    unsigned long long skew, max_life, timeout;
    int has_skew, once, json;
};

static volatile int ibc_stop;

static void
on_signal(int sig)
{
    (void)sig;
    ibc_stop = 1;
}

static void
usage(FILE *f)
{
    fputs("usage: m2msec ibc listen --state DIR --listen ADDR:PORT [--peer ID1]... [--once]\n"
          "       m2msec ibc connect --state DIR --to HOST:PORT --peer ID1 [--json]\n"
          "       m2msec ibc show --state DIR [--json]\n"
          "       m2msec ibc refresh --state DIR --mef HOST:PORT --kpm-id ID --kpm-file F\n"
          "options of listen and connect:\n"
          "  --trust FQDN:KPAKHEX[:NOTAFTER]  also trust another MEF's MPK (repeatable)\n"
          "  --skew S (0..300, default 60)  --max-lifetime S (default 400 days)\n"
          "  --timeout MS (each step, default 10000)\n"
          "diagnostics of connect: --capture DIR, --replay-m1 FILE, --replay-m3 FILE,\n"
          "  --origin ID (send another X-M2M-Origin)\n",
          f);
}

static void
fmt_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
        (void)snprintf(out, 32, "-");
        return;
    }
    (void)strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
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
on_event(void *arg, const char *event, const char *detail)
{
    (void)arg;
    printf("%s %s\n", event, detail);
    fflush(stdout);
}

static void
on_step(void *arg, const char *step, const char *detail)
{
    (void)arg;
    fprintf(stderr, "  [%s] %s\n", step, detail);
}

static int
ibc_fail(const char *what, const struct m2msec_ibc *b)
{
    fprintf(stderr, "m2msec: ibc %s failed (%s): %s\n", what,
            m2msec_err_name(m2msec_ibc_error_code(b)), m2msec_ibc_error(b));
    return 1;
}

/* A loaded object with the options of listen/connect applied; NULL after printing why. */
static struct m2msec_ibc *
ibc_open(const struct ibc_args *a)
{
    struct m2msec_ibc *b = m2msec_ibc_new();
    size_t i;

    if (b == NULL) {
        fprintf(stderr, "m2msec: out of memory\n");
        return NULL;
    }
    if (m2msec_ibc_load(b, a->state) == -1) {
        ibc_fail("load", b);
        goto fail;
    }
    for (i = 0; i < a->ntrust; i++) {
        if (m2msec_ibc_add_trust(b, a->trust[i]) == -1) {
            ibc_fail("--trust", b);
            goto fail;
        }
    }
    if ((a->has_skew && m2msec_ibc_set_skew(b, (unsigned)a->skew) == -1) ||
        (a->max_life != 0 && m2msec_ibc_set_max_lifetime(b, a->max_life) == -1) ||
        (a->timeout != 0 && m2msec_ibc_set_timeout_ms(b, (unsigned)a->timeout) == -1)) {
        ibc_fail("option", b);
        goto fail;
    }
    return b;
fail:
    m2msec_ibc_free(b);
    return NULL;
}

static int
cmd_listen(const struct ibc_args *a)
{
    struct m2msec_ibc *b = NULL;
    struct sigaction sa;
    int rv = 1;

    if (a->state == NULL || a->listen == NULL) {
        usage(stderr);
        return 2;
    }
    b = ibc_open(a);
    if (b == NULL) {
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)sigaction(SIGINT, &sa, NULL);
    if (m2msec_ibc_listen(b, a->listen, a->peers, a->npeers, a->once, &ibc_stop, on_event, NULL) ==
        -1) {
        rv = ibc_fail("listen", b);
        goto out;
    }
    rv = 0;
out:
    m2msec_ibc_free(b);
    return rv;
}

static int
cmd_connect(const struct ibc_args *a)
{
    struct m2msec_ibc *b = NULL;
    char ts[32];
    int rv = 1;

    if (a->state == NULL || a->to == NULL || a->npeers != 1) {
        usage(stderr);
        return 2;
    }
    b = ibc_open(a);
    if (b == NULL) {
        return 1;
    }
    if (m2msec_ibc_set_capture(b, a->capture) == -1 ||
        m2msec_ibc_set_replay(b, a->replay_m1, a->replay_m3) == -1 ||
        m2msec_ibc_set_origin(b, a->origin) == -1) {
        rv = ibc_fail("option", b);
        goto out;
    }
    if (!a->json) {
        fprintf(stderr, "IBC-SIGMA with %s at %s as %s\n", a->peers[0], a->to,
                m2msec_ibc_own_id1(b));
    }
    if (m2msec_ibc_connect(b, a->to, a->peers[0]) == -1) {
        if (m2msec_ibc_kpsa_id(b) != NULL) {
            fprintf(stderr, "m2msec: IBC-SIGMA completed (KpsaID %s), then:\n",
                    m2msec_ibc_kpsa_id(b));
        }
        rv = ibc_fail("connect", b);
        goto out;
    }
    fmt_time(m2msec_ibc_session_expires(b), ts);
    if (a->json) {
        printf("{\"peer\":\"%s\",\"kpsaID\":\"%s\",\"expires\":\"%s\",\"rsc\":%d,\"answer\":%s}\n",
               m2msec_ibc_peer_id1(b), m2msec_ibc_kpsa_id(b), ts, m2msec_ibc_answer_rsc(b),
               m2msec_ibc_answer(b) != NULL ? m2msec_ibc_answer(b) : "null");
    } else {
        printf("authenticated: peer=%s kpsa_id=%s expires=%s\n", m2msec_ibc_peer_id1(b),
               m2msec_ibc_kpsa_id(b), ts);
        printf("answer (%d): %s\n", m2msec_ibc_answer_rsc(b),
               m2msec_ibc_answer(b) != NULL ? m2msec_ibc_answer(b) : "");
    }
    rv = 0;
out:
    m2msec_ibc_free(b);
    return rv;
}

static int
cmd_show(const struct ibc_args *a)
{
    struct m2msec_ibc *b = NULL;
    char ts[32];

    if (a->state == NULL) {
        usage(stderr);
        return 2;
    }
    b = ibc_open(a);
    if (b == NULL) {
        return 1;
    }
    fmt_time(m2msec_ibc_own_expires(b), ts);
    if (a->json) {
        printf("{\"id1\":\"%s\",\"fqdn\":\"%s\",\"expires\":\"%s\",\"expiresEpoch\":%lld,"
               "\"trusted\":%zu}\n",
               m2msec_ibc_own_id1(b), m2msec_ibc_own_fqdn(b), ts,
               (long long)m2msec_ibc_own_expires(b), m2msec_ibc_trust_count(b));
    } else {
        printf("ibc: id1=%s pkg=%s expires=%s trusted-mpks=%zu\n", m2msec_ibc_own_id1(b),
               m2msec_ibc_own_fqdn(b), ts, m2msec_ibc_trust_count(b));
    }
    m2msec_ibc_free(b);
    return 0;
}

static int
cmd_refresh(const struct ibc_args *a)
{
    struct m2msec_config *cfg = NULL;
    struct m2msec_client *c = NULL;
    size_t n = 0;
    int rv = 1;

    if (a->state == NULL || a->mef == NULL || a->kpm_id == NULL || a->kpm_file == NULL) {
        usage(stderr);
        return 2;
    }
    cfg = m2msec_config_new();
    c = m2msec_client_new();
    if (cfg == NULL || c == NULL || m2msec_config_set_mef(cfg, a->mef) == -1 ||
        m2msec_config_set_state_dir(cfg, a->state) == -1 ||
        m2msec_config_set_kpm_file(cfg, a->kpm_id, a->kpm_file) == -1 ||
        (a->timeout != 0 && m2msec_config_set_timeout_ms(cfg, (unsigned)a->timeout) == -1) ||
        m2msec_client_configure(c, cfg) == -1) {
        fprintf(stderr, "m2msec: %s\n", cfg != NULL ? m2msec_config_error(cfg) : "out of memory");
        goto out;
    }
    if (!a->json) {
        m2msec_client_set_step_cb(c, on_step, NULL);
    }
    if (m2msec_client_ibc_refresh(c, &n) == -1) {
        fprintf(stderr, "m2msec: ibc refresh failed (%s): %s\n",
                m2msec_err_name(m2msec_client_error_code(c)), m2msec_client_error(c));
        goto out;
    }
    printf("trust store: %zu MPK(s) from %s\n", n, a->mef);
    rv = 0;
out:
    m2msec_client_free(c);
    m2msec_config_free(cfg);
    return rv;
}

int
cli_ibc_main(int argc, char **argv)
{
    struct ibc_args a;
    const char *sub;
    int ch;

    memset(&a, 0, sizeof(a));
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    sub = argv[2];
    /* The responder must survive a peer that closes mid-write. */
    (void)signal(SIGPIPE, SIG_IGN);
    optind = 1;
    while ((ch = getopt_long(argc - 2, argv + 2, "", ibc_opts, NULL)) != -1) {
        switch (ch) {
        case O_STATE:
            a.state = optarg;
            break;
        case O_LISTEN:
            a.listen = optarg;
            break;
        case O_TO:
            a.to = optarg;
            break;
        case O_PEER:
            if (a.npeers == IBC_PEERS_MAX) {
                fprintf(stderr, "m2msec: at most %d --peer\n", IBC_PEERS_MAX);
                return 2;
            }
            a.peers[a.npeers++] = optarg;
            break;
        case O_ONCE:
            a.once = 1;
            break;
        case O_TRUST:
            if (a.ntrust == IBC_TRUST_MAX) {
                fprintf(stderr, "m2msec: at most %d --trust\n", IBC_TRUST_MAX);
                return 2;
            }
            a.trust[a.ntrust++] = optarg;
            break;
        case O_SKEW:
            if (parse_num(optarg, 300, &a.skew) == -1) {
                fprintf(stderr, "m2msec: --skew takes 0..300 seconds\n");
                return 2;
            }
            a.has_skew = 1;
            break;
        case O_MAXLIFE:
            if (parse_num(optarg, 253402300799ULL, &a.max_life) == -1 || a.max_life == 0) {
                fprintf(stderr, "m2msec: --max-lifetime takes seconds\n");
                return 2;
            }
            break;
        case O_TIMEOUT:
            if (parse_num(optarg, 600000, &a.timeout) == -1 || a.timeout == 0) {
                fprintf(stderr, "m2msec: --timeout takes 1..600000 ms\n");
                return 2;
            }
            break;
        case O_JSON:
            a.json = 1;
            break;
        case O_CAPTURE:
            a.capture = optarg;
            break;
        case O_REPLAY_M1:
            a.replay_m1 = optarg;
            break;
        case O_REPLAY_M3:
            a.replay_m3 = optarg;
            break;
        case O_ORIGIN:
            a.origin = optarg;
            break;
        case O_MEF:
            a.mef = optarg;
            break;
        case O_KPM_ID:
            a.kpm_id = optarg;
            break;
        case O_KPM_FILE:
            a.kpm_file = optarg;
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 2) {
        fprintf(stderr, "m2msec: unexpected argument '%s'\n", argv[2 + optind]);
        return 2;
    }
    if (strcmp(sub, "listen") == 0) {
        return cmd_listen(&a);
    }
    if (strcmp(sub, "connect") == 0) {
        return cmd_connect(&a);
    }
    if (strcmp(sub, "show") == 0) {
        return cmd_show(&a);
    }
    if (strcmp(sub, "refresh") == 0) {
        return cmd_refresh(&a);
    }
    usage(stderr);
    return 2;
}
