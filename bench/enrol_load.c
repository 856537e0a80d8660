/*
 * bench/enrol_load.c - the load generator of bench-enrol: closed-loop client threads.
 *
 * Layer: bench (program). The same code drives both measurements so their
 * ratio compares like with like: N threads, each with its own identity, loop
 * one operation back to back until the deadline. (a) is a bare TLS 1.2 PSK
 * handshake + RFC 5705 export + close through m2msec_tls_connect_psk; (b) is
 * m2msec_client_enrol(), which opens its session through the same call; (g)
 * is (a) plus fixed-size round trips and the device store's Ke commit. Each
 * thread does one untimed warm-up operation first (first-use costs: creating
 * the state directory and store, GnuTLS and page-cache warm-up), then all
 * threads start together. Operations in flight at the deadline finish and
 * count; throughput is completed operations over the time until the last one
 * ended.
 */
#define _DEFAULT_SOURCE /* sync */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client_int.h"
#include "crypto/kdf.h"
#include "enrol.h"
#include "m2msec.h"
#include "proto/ids.h"
#include "store/store.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define CLIENT_TIMEOUT_MS 10000u

const char *const bench_phase_names[BENCH_PH_COUNT] = {
    "store-open", "tls", "enrol-start", "report", "store-put", "close",
};

struct load_run {
    const struct bench_target *t;
    pthread_barrier_t ready; /* every client has done its warm-up */
    pthread_barrier_t go;    /* start_ns and deadline_ns are set */
    uint64_t start_ns;
    uint64_t deadline_ns;
    pthread_mutex_t mu; /* errors_shown, suite */
    unsigned errors_shown;
    uint64_t errors_hidden;
    char suite[64];
};

struct load_client {
    struct load_run *run;
    pthread_t tid;
    unsigned idx;
    char identity[32];
    int suite_noted;
    /* (b) */
    struct m2msec_config *cfg;
    struct m2msec_client *cl;
    uint64_t mark[BENCH_PH_COUNT + 1]; /* step timestamps of the current enrolment */
    uint64_t phase_ns[BENCH_PH_COUNT]; /* sums over successful timed enrolments */
    /* (g): the device store, open for the whole measurement as (b)'s is */
    struct m2msec_db *dev;
    /* results */
    uint64_t *lat_ns;
    size_t n, cap;
    uint64_t failed;
    uint64_t warmup_failed;
    uint64_t last_end_ns;
    int alloc_failed;
};

static const char *
mode_tag(enum bench_mode m)
{
    static const char *const tags[BENCH_MODES] = {
        "(a)", "(b)", "(c)", "(d)", "(e)", "(f)", "(g)"
    };

    return tags[m];
}

/* Print an operation error; after BENCH_ERRORS_SHOWN per measurement only count them. */
static void
report_error(struct load_client *c, const char *what, const char *code, const char *msg)
{
    struct load_run *r = c->run;

    pthread_mutex_lock(&r->mu);
    if (r->errors_shown < BENCH_ERRORS_SHOWN) {
        r->errors_shown++;
        fprintf(stderr, "  error: %s client %u %s: %s: %s\n", mode_tag(r->t->mode), c->idx, what,
                code, msg);
    } else {
        r->errors_hidden++;
    }
    pthread_mutex_unlock(&r->mu);
}

static void
note_suite(struct load_run *r, const char *suite)
{
    pthread_mutex_lock(&r->mu);
    if (r->suite[0] == '\0' && suite != NULL) {
        m2msec_strlcpy(r->suite, suite, sizeof(r->suite));
    }
    pthread_mutex_unlock(&r->mu);
}

/* The client side of (a), (d) and (g): Entity B's Key Identifier for (d), else the fixed key. */
static void
psk_opts(const struct load_client *c, struct m2msec_tls_psk_client *o)
{
    const struct bench_target *t = c->run->t;

    o->hostport = t->hostport;
    o->timeout_ms = CLIENT_TIMEOUT_MS;
    if (t->mode == BENCH_SAEF) {
        o->sni = BENCH_CSE_HOST;
        o->identity = t->key_id[c->idx];
        o->psk = t->kc[c->idx];
    } else {
        o->sni = BENCH_SNI;
        o->identity = c->identity;
        o->psk = t->psk;
    }
}

/*
 * (a): handshake, export the 48 bytes an enrolment would, close.
 * (d): the same handshake with a Key Identifier and its Kc against Entity B,
 * which resolves the identity from its cache; the export is kept so that the
 * two differ only in the server's key lookup.
 */
static int
op_handshake(struct load_client *c, const char *what)
{
    struct m2msec_error err = { 0 };
    struct m2msec_tls_psk_client o = { 0 };
    struct m2msec_tls_conn *conn = NULL;
    const struct bench_target *t = c->run->t;
    uint8_t out[M2MSEC_EXPORT_LEN];
    int rv = -1;

    psk_opts(c, &o);
    if (t->mode == BENCH_CERT_TLS) {
        struct m2msec_tls_cert_client co;
        const char *cas[1];

        memset(&co, 0, sizeof(co));
        cas[0] = t->server_ca;
        co.hostport = t->hostport;
        co.sni = BENCH_SNI;
        co.cert_file = t->cert[c->idx];
        co.key_file = t->key[c->idx];
        co.server.flavour = M2MSEC_CERT_FQDN;
        co.server.ca_files = cas;
        co.server.n_ca_files = 1;
        co.timeout_ms = CLIENT_TIMEOUT_MS;
        conn = m2msec_tls_connect_cert(&co, &err);
    } else {
        conn = m2msec_tls_connect_psk(&o, &err);
    }
    if (conn == NULL ||
        m2msec_tls_export(conn, M2MSEC_LABEL_BOOTSTRAP, out, sizeof(out), &err) == -1) {
        report_error(c, what, m2msec_err_name(m2msec_error_code(&err)), m2msec_error_msg(&err));
        goto out;
    }
    if (!c->suite_noted) {
        note_suite(c->run, m2msec_tls_cipher(conn));
        c->suite_noted = 1;
    }
    rv = 0;
out:
    m2msec_wipe(out, sizeof(out));
    if (conn != NULL) {
        (void)m2msec_tls_close(conn);
        m2msec_tls_conn_free(conn);
    }
    return rv;
}

/*
 * (g): (a), then the round trips of an enrolment against the echoing baseline
 * server, then the Ke committed to the device store exactly as
 * m2msec_client_enrol() commits it. What (b) would cost if mefd were free.
 */
static int
op_floor(struct load_client *c, const char *what)
{
    static const uint8_t req[BENCH_FLOOR_REQ_LEN] = { 0 };
    /* (b)'s device record holds its one instruction like this */
    static char instr_json[] =
            "[{\"type\":\"mafEnrolment\",\"uri\":\"" BENCH_MAF_URI "/maf\",\"result\":"
            "\"success\",\"at\":\"20261123T000000\"}]";
    struct m2msec_error err = { 0 };
    struct m2msec_tls_psk_client o = { 0 };
    struct m2msec_tls_conn *conn = NULL;
    struct m2msec_enrolment_rec rec = { 0 };
    struct m2msec_secret *ke = NULL;
    const struct bench_target *t = c->run->t;
    uint8_t out[M2MSEC_EXPORT_LEN], rel[M2MSEC_REL_ID_LEN], resp[BENCH_FLOOR_REQ_MAX];
    char keid[M2MSEC_KEID_MAX], enrolee_id[40], mef[128];
    unsigned i;
    int rv = -1;

    psk_opts(c, &o);
    conn = m2msec_tls_connect_psk(&o, &err);
    if (conn == NULL ||
        m2msec_tls_export(conn, M2MSEC_LABEL_BOOTSTRAP, out, sizeof(out), &err) == -1 ||
        m2msec_export_split(out, rel, &ke, &err) == -1 ||
        m2msec_keid_format(rel, BENCH_SNI, keid, sizeof(keid), &err) == -1) {
        goto fail;
    }
    for (i = 0; i < BENCH_FLOOR_RTS; i++) {
        size_t got = 0;

        if (m2msec_tls_write_all(conn, req, sizeof(req), &err) == -1) {
            goto fail;
        }
        while (got < BENCH_FLOOR_RESP_LEN) {
            ssize_t n = m2msec_tls_read(conn, resp, sizeof(resp), &err);

            if (n <= 0) {
                if (n == 0) {
                    m2msec_error_setx(&err, M2MSEC_ERR_PROTOCOL, "the server closed early");
                }
                goto fail;
            }
            got += (size_t)n;
        }
    }
    snprintf(enrolee_id, sizeof(enrolee_id), "/%s", c->identity);
    rec.keid = keid;
    m2msec_strlcpy(mef, t->hostport, sizeof(mef));
    rec.mef = mef;
    rec.kpm_id = c->identity;
    rec.enrolee_id = enrolee_id;
    rec.created = m2msec_now();
    rec.expires = rec.created + 3600;
    rec.exchange_json = instr_json; /* never written */
    rec.ke = ke;
    if (m2msec_dev_enrolment_put(c->dev, &rec, &err) == -1) {
        goto fail;
    }
    if (!c->suite_noted) {
        note_suite(c->run, m2msec_tls_cipher(conn));
        c->suite_noted = 1;
    }
    rv = 0;
    goto out;
fail:
    report_error(c, what, m2msec_err_name(m2msec_error_code(&err)), m2msec_error_msg(&err));
out:
    m2msec_wipe(out, sizeof(out));
    m2msec_secret_free(ke);
    if (conn != NULL) {
        (void)m2msec_tls_close(conn);
        m2msec_tls_conn_free(conn);
    }
    return rv;
}

/* (g): each thread's own device store, in <state_root>/floor-<i>, open throughout. */
static int
floor_setup(struct load_client *c)
{
    struct m2msec_error err = { 0 };
    char dir[4096];

    snprintf(dir, sizeof(dir), "%s/floor-%u", c->run->t->state_root, c->idx);
    c->dev = client_state_open(dir, 1, &err);
    if (c->dev == NULL) {
        report_error(c, "setup", m2msec_err_name(m2msec_error_code(&err)), m2msec_error_msg(&err));
        return -1;
    }
    return 0;
}

/* Step callback of (b): timestamps the phase boundaries (see enum bench_phase). */
static void
on_step(void *arg, const char *step, const char *detail)
{
    static const char *const marks[] = { "connect", "handshake", "keid", "end", "stored" };
    struct load_client *c = arg;
    uint64_t now = bench_now_ns();
    size_t i;

    for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
        if (strcmp(step, marks[i]) == 0) {
            c->mark[i + 1] = now;
            break;
        }
    }
    if (!c->suite_noted && strcmp(step, "handshake") == 0) {
        const char *s = strstr(detail, "suite ");

        note_suite(c->run, s != NULL ? s + 6 : detail);
        c->suite_noted = 1;
    }
}

/* (b): one full PPSK enrolment through the public API. */
static int
op_enrol(struct load_client *c, const char *what, int timed)
{
    size_t i;

    memset(c->mark, 0, sizeof(c->mark));
    c->mark[0] = bench_now_ns();
    if (m2msec_client_enrol(c->cl) == -1) {
        int rsc = m2msec_client_error_rsc(c->cl);
        char msg[M2MSEC_ERROR_MSG_LEN + 32];

        if (rsc != 0) {
            snprintf(msg, sizeof(msg), "%s (rsc %d)", m2msec_client_error(c->cl), rsc);
        } else {
            snprintf(msg, sizeof(msg), "%s", m2msec_client_error(c->cl));
        }
        report_error(c, what, m2msec_err_name(m2msec_client_error_code(c->cl)), msg);
        return -1;
    }
    c->mark[BENCH_PH_COUNT] = bench_now_ns();
    if (m2msec_client_instruction_count(c->cl) != 1) {
        report_error(c, what, "protocol", "expected exactly one instruction in the exchange");
        return -1;
    }
    for (i = 0; i <= BENCH_PH_COUNT; i++) {
        if (c->mark[i] == 0) {
            report_error(c, what, "bench", "a progress step was not reported");
            return -1;
        }
    }
    if (timed) {
        for (i = 0; i < BENCH_PH_COUNT; i++) {
            c->phase_ns[i] += c->mark[i + 1] - c->mark[i];
        }
    }
    return 0;
}

/* (c): one MAF Key Retrieval (MAF Handshake with KmID/Km, GET, close). */
static int
op_keyget(struct load_client *c, const char *what)
{
    struct m2msec_maf_key *k = NULL;

    if (m2msec_client_maf_keyget(c->cl, c->run->t->key_id[c->idx], &k) == -1) {
        char msg[M2MSEC_ERROR_MSG_LEN + 32];

        snprintf(msg, sizeof(msg), "%s (rsc %d)", m2msec_client_error(c->cl),
                 m2msec_client_error_rsc(c->cl));
        report_error(c, what, m2msec_err_name(m2msec_client_error_code(c->cl)), msg);
        return -1;
    }
    m2msec_maf_key_free(k);
    return 0;
}

static int
enrol_setup(struct load_client *c)
{
    const struct bench_target *t = c->run->t;
    char dir[4096];

    if (t->mode == BENCH_KEYGET) {
        snprintf(dir, sizeof(dir), "%s/kg-%u", t->state_root, c->idx);
    } else if (t->mode == BENCH_CERT_ENROL) {
        snprintf(dir, sizeof(dir), "%s/cert-%u", t->state_root, c->idx);
    } else {
        snprintf(dir, sizeof(dir), "%s/state-%u", t->state_root, c->idx);
    }
    c->cfg = m2msec_config_new();
    c->cl = m2msec_client_new();
    if (c->cfg == NULL || c->cl == NULL) {
        report_error(c, "setup", "nomem", "out of memory");
        return -1;
    }
    /* (b) talks to mefd with Kpm, (f) with a device certificate; (c) to the MAF with the KmID. */
    if (m2msec_config_set_state_dir(c->cfg, dir) == -1 ||
        m2msec_config_set_timeout_ms(c->cfg, CLIENT_TIMEOUT_MS) == -1 ||
        (t->mode == BENCH_CERT_ENROL &&
         (m2msec_config_set_mef(c->cfg, t->hostport) == -1 ||
          m2msec_config_set_sni(c->cfg, BENCH_SNI) == -1 ||
          m2msec_config_set_cert(c->cfg, t->cert[c->idx], t->key[c->idx]) == -1 ||
          m2msec_config_set_mef_ca(c->cfg, t->server_ca) == -1)) ||
        (t->mode == BENCH_ENROL &&
         (m2msec_config_set_mef(c->cfg, t->hostport) == -1 ||
          m2msec_config_set_sni(c->cfg, BENCH_SNI) == -1 ||
          m2msec_config_set_kpm(c->cfg, c->identity, m2msec_secret_bytes(t->kpm[c->idx]),
                                m2msec_secret_len(t->kpm[c->idx])) == -1)) ||
        (t->mode == BENCH_KEYGET &&
         m2msec_config_set_maf(c->cfg, t->maf_hostport, BENCH_MAF_FQDN) == -1)) {
        report_error(c, "setup", m2msec_err_name(m2msec_config_error_code(c->cfg)),
                     m2msec_config_error(c->cfg));
        return -1;
    }
    if (m2msec_client_configure(c->cl, c->cfg) == -1) {
        report_error(c, "setup", m2msec_err_name(m2msec_client_error_code(c->cl)),
                     m2msec_client_error(c->cl));
        return -1;
    }
    m2msec_client_set_step_cb(c->cl, on_step, c);
    return 0;
}

static int
record(struct load_client *c, uint64_t ns)
{
    if (c->n == c->cap) {
        size_t ncap = c->cap == 0 ? 4096 : c->cap * 2;
        uint64_t *p = m2msec_realloc(c->lat_ns, ncap * sizeof(*p));

        if (p == NULL) {
            c->alloc_failed = 1;
            return -1;
        }
        c->lat_ns = p;
        c->cap = ncap;
    }
    c->lat_ns[c->n++] = ns;
    return 0;
}

static int
run_op(struct load_client *c, const char *what, int timed)
{
    switch (c->run->t->mode) {
    case BENCH_ENROL:
    case BENCH_CERT_ENROL:
        return op_enrol(c, what, timed);
    case BENCH_KEYGET:
        return op_keyget(c, what);
    case BENCH_FLOOR:
        return op_floor(c, what);
    case BENCH_BASELINE:
    case BENCH_SAEF:
    case BENCH_CERT_TLS:
        break;
    }
    return op_handshake(c, what);
}

static void *
client_main(void *arg)
{
    struct load_client *c = arg;
    struct load_run *r = c->run;
    int ready = 1;

    if ((r->t->mode == BENCH_ENROL || r->t->mode == BENCH_KEYGET ||
         r->t->mode == BENCH_CERT_ENROL) &&
        enrol_setup(c) == -1) {
        ready = 0;
    }
    if (r->t->mode == BENCH_FLOOR && floor_setup(c) == -1) {
        ready = 0;
    }
    if (ready && run_op(c, "warm-up", 0) == -1) {
        c->warmup_failed++;
    }
    pthread_barrier_wait(&r->ready);
    pthread_barrier_wait(&r->go);
    while (ready) {
        uint64_t t0 = bench_now_ns(), t1;

        if (t0 >= r->deadline_ns) {
            break;
        }
        if (run_op(c, "op", 1) == 0) {
            t1 = bench_now_ns();
            if (record(c, t1 - t0) == -1) {
                break;
            }
        } else {
            t1 = bench_now_ns();
            c->failed++;
        }
        c->last_end_ns = t1;
    }
    if (!ready) {
        c->failed++; /* a client that could not be set up is an error of the measurement */
    }
    return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n-1], in ms. */
static double
percentile_ms(const uint64_t *v, size_t n, unsigned pct)
{
    size_t rank;

    if (n == 0) {
        return 0.0;
    }
    rank = (n * pct + 99) / 100;
    if (rank == 0) {
        rank = 1;
    }
    return (double)v[rank - 1] / 1e6;
}

int
bench_load_run(const struct bench_target *t, unsigned clients, unsigned seconds,
               struct bench_result *res, struct m2msec_error *err)
{
    struct load_run run;
    struct load_client *cs = NULL;
    uint64_t *all = NULL, end_ns = 0, phase_sum[BENCH_PH_COUNT] = { 0 };
    uint64_t cpu_self = 0, cpu_srv = 0;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    size_t total = 0, k;
    unsigned i, started = 0;
    int rv = -1, barriers = 0;

    memset(res, 0, sizeof(*res));
    memset(&run, 0, sizeof(run));
    res->clients = clients;
    run.t = t;
    if (clients == 0 || clients > BENCH_MAX_CLIENTS) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "clients must be 1..%d",
                          BENCH_MAX_CLIENTS);
        goto out;
    }
    cs = m2msec_calloc(clients, sizeof(*cs));
    if (cs == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_init(&run.mu, NULL);
    pthread_barrier_init(&run.ready, NULL, clients + 1);
    pthread_barrier_init(&run.go, NULL, clients + 1);
    barriers = 1;
    for (i = 0; i < clients; i++) {
        cs[i].run = &run;
        cs[i].idx = i;
        snprintf(cs[i].identity, sizeof(cs[i].identity), "bench-%u", i);
        if (pthread_create(&cs[i].tid, NULL, client_main, &cs[i]) != 0) {
            /* The barriers count every client: without all of them nobody could start. */
            m2msec_error_setx(err, M2MSEC_ERR_IO, "cannot start client thread %u", i);
            goto out;
        }
        started++;
    }
    pthread_barrier_wait(&run.ready);
    /*
     * Start every measurement with no dirty pages: otherwise the kernel writes back
     * the stores of the previous measurement during this one, on the same cores,
     * and a ratio compares measurements taken under different background load.
     */
    sync();
    cpu_self = bench_cpu_ns(0);
    cpu_srv = bench_cpu_ns(t->server_pid);
    run.start_ns = bench_now_ns();
    run.deadline_ns = run.start_ns + (uint64_t)seconds * 1000000000u;
    pthread_barrier_wait(&run.go);
    for (i = 0; i < clients; i++) {
        pthread_join(cs[i].tid, NULL);
    }
    started = 0;
    cpu_self = bench_cpu_ns(0) - cpu_self;
    cpu_srv = bench_cpu_ns(t->server_pid) - cpu_srv;

    for (i = 0; i < clients; i++) {
        total += cs[i].n;
        res->failed += cs[i].failed;
        res->warmup_failed += cs[i].warmup_failed;
        if (cs[i].last_end_ns > end_ns) {
            end_ns = cs[i].last_end_ns;
        }
        for (k = 0; k < BENCH_PH_COUNT; k++) {
            phase_sum[k] += cs[i].phase_ns[k];
        }
        if (cs[i].alloc_failed) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory for latency samples");
            goto out;
        }
    }
    if (run.errors_hidden > 0) {
        fprintf(stderr, "  error: %s ... and %llu more errors not shown\n", mode_tag(t->mode),
                (unsigned long long)run.errors_hidden);
    }
    all = m2msec_malloc((total > 0 ? total : 1) * sizeof(*all));
    if (all == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    total = 0;
    for (i = 0; i < clients; i++) {
        if (cs[i].n > 0) {
            memcpy(all + total, cs[i].lat_ns, cs[i].n * sizeof(*all));
            total += cs[i].n;
        }
    }
    qsort(all, total, sizeof(*all), cmp_u64);
    res->ok = total;
    res->elapsed_s = end_ns > run.start_ns ? (double)(end_ns - run.start_ns) / 1e9 : seconds;
    res->ops_per_s = (double)total / res->elapsed_s;
    res->p50_ms = percentile_ms(all, total, 50);
    res->p99_ms = percentile_ms(all, total, 99);
    for (k = 0; k < BENCH_PH_COUNT && total > 0; k++) {
        res->phase_ms[k] = (double)phase_sum[k] / (double)total / 1e6;
    }
    if (total > 0) {
        res->client_cpu_ms = (double)cpu_self / (double)total / 1e6;
        res->server_cpu_ms = (double)cpu_srv / (double)total / 1e6;
    }
    res->busy_pct = 100.0 * (double)(cpu_self + cpu_srv) / 1e9 /
                    (res->elapsed_s * (double)(nproc > 0 ? nproc : 1));
    m2msec_strlcpy(res->suite, run.suite[0] != '\0' ? run.suite : "?", sizeof(res->suite));
    rv = 0;
out:
    /*
     * Only reached with started > 0 when a thread could not be created: the ones
     * that exist wait at a barrier that can never fill, so this process cannot go
     * on measuring. Leave them; the caller exits.
     */
    if (started == 0) {
        for (i = 0; cs != NULL && i < clients; i++) {
            m2msec_free(cs[i].lat_ns);
            m2msec_client_free(cs[i].cl);
            m2msec_config_free(cs[i].cfg);
            m2msec_db_close(cs[i].dev);
        }
        m2msec_free(cs);
        if (barriers) {
            pthread_barrier_destroy(&run.ready);
            pthread_barrier_destroy(&run.go);
            pthread_mutex_destroy(&run.mu);
        }
    }
    m2msec_free(all);
    return rv;
}
