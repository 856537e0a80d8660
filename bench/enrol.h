/*
 * bench/enrol.h - shared declarations of the bench-enrol program.
 *
 * Layer: bench (a program on top of libm2msec's internal API; not part of the
 * library). Files: enrol.c (options, orchestration, report), enrol_load.c (the
 * one load generator: client threads, latency statistics), enrol_server.c (the
 * minimal GnuTLS PSK + exporter server of the baseline, run as
 * `bench-enrol --psk-server`), enrol_proc.c (child processes, temp dirs,
 * machine context).
 */
#ifndef BENCH_ENROL_H
#define BENCH_ENROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/secret.h"

#define BENCH_SNI          "mef.bench.example"
#define BENCH_MAF_URI      "https://maf.bench.example:8443"
#define BENCH_EXPIRY_S     "3600"
#define BENCH_MAX_CLIENTS  64
#define BENCH_MAX_LEVELS   8
#define BENCH_KPM_LEN      32
#define BENCH_ERRORS_SHOWN 20
#define BENCH_ARGV_MAX     32 /* errors printed per measurement; the rest are only counted */

/* What one client operation is. */
enum bench_mode {
    BENCH_BASELINE,   /* (a) TLS 1.2 PSK handshake + RFC 5705 export + close */
    BENCH_ENROL,      /* (b) m2msec_client_enrol() against mefd */
    BENCH_KEYGET,     /* (c) m2msec_client_maf_keyget() against mafd (MAF Handshake + GET) */
    BENCH_SAEF,       /* (d) TLS 1.2 PSK handshake with a Key Identifier + close, Entity B */
    BENCH_CERT_TLS,   /* (e) mutual ECDHE-ECDSA handshake + export + close, minimal server */
    BENCH_CERT_ENROL, /* (f) m2msec_client_enrol() with a device certificate against mefd */
    BENCH_FLOOR,      /* (g) (a) + an enrolment's round trips + the device's durable Ke commit */
};
#define BENCH_MODES 7

/*
 * (g), the floor: what (b) would cost if mefd did nothing but the handshake and
 * answer fixed bytes. As many round trips as an enrolment with one instruction
 * (the enrolment request, the report), messages about as long as (b)'s, and the
 * same device-side commit of the Ke (m2msec_dev_enrolment_put).
 */
#define BENCH_FLOOR_RTS      2
#define BENCH_FLOOR_REQ_LEN  320 /* bytes the client sends per round trip */
#define BENCH_FLOOR_REQ_MAX  2048
#define BENCH_FLOOR_RESP_LEN 480 /* bytes the server answers */

/* Phases of one enrolment, timed with the client's step callback. */
enum bench_phase {
    BENCH_PH_OPEN,   /* start -> "connect": open the device state store */
    BENCH_PH_TLS,    /* "connect" -> "handshake": TCP connect + TLS PSK handshake */
    BENCH_PH_START,  /* "handshake" -> "keid": export + POST enrolment (MEF stores Ke) */
    BENCH_PH_REPORT, /* "keid" -> "end": instruction, report, end of the exchange */
    BENCH_PH_STORE,  /* "end" -> "stored": seal Ke and commit the device state */
    BENCH_PH_CLOSE,  /* "stored" -> return: close_notify, close the store */
    BENCH_PH_COUNT,
};

extern const char *const bench_phase_names[BENCH_PH_COUNT];

/* Everything a client thread needs to know about the server it loads. */
struct bench_target {
    enum bench_mode mode;
    const char *hostport;
    pid_t server_pid;                             /* whose CPU time is the server's */
    const char *state_root;                       /* (b): per-client state dirs live here */
    const struct m2msec_secret *psk;              /* (a): the server's fixed key */
    struct m2msec_secret *kpm[BENCH_MAX_CLIENTS]; /* (b): Kpm of Enrolee bench-<i> */
    /* (c): client i, registered with the MAF as /kg-<i> in <state_root>/kg-<i>,
     * retrieves key_id[i]; (d): client i connects with key_id[i] and kc[i]. */
    const char *maf_hostport;
    const char *key_id[BENCH_MAX_CLIENTS];
    const struct m2msec_secret *kc[BENCH_MAX_CLIENTS];
    /* (e), (f): client i's device certificate and key; the CA of the server's certificate */
    const char *cert[BENCH_MAX_CLIENTS];
    const char *key[BENCH_MAX_CLIENTS];
    const char *server_ca;
};

/* Result of one measurement (one mode at one concurrency level). */
struct bench_result {
    unsigned clients;
    uint64_t ok;
    uint64_t failed;        /* timed operations that failed (not in the latency stats) */
    uint64_t warmup_failed; /* untimed warm-up operations that failed */
    double elapsed_s;
    double ops_per_s;
    double p50_ms;
    double p99_ms;
    double phase_ms[BENCH_PH_COUNT]; /* (b): mean per successful enrolment */
    double client_cpu_ms;            /* CPU of this process per successful operation */
    double server_cpu_ms;            /* CPU of the server process per successful operation */
    double busy_pct;                 /* both, as a share of all CPUs over the measurement */
    char suite[64];
};

/*
 * Run `clients` client threads against t for `seconds` seconds after one
 * untimed warm-up operation each. Operation failures are counted in r and
 * printed (up to BENCH_ERRORS_SHOWN); -1 only when the measurement itself could
 * not be run (threads, memory).
 */
int bench_load_run(const struct bench_target *t, unsigned clients, unsigned seconds,
                   struct bench_result *r, struct m2msec_error *err);

/*
 * Key distribution set-up (enrol_dist.c), in-process through the public API:
 * Enrolee `name` (Kpm kpm) enrols with mefd at mef and registers with the MAF
 * at maf, keeping its state in <state_root>/<name>.
 */
#define BENCH_MEF_FQDN  BENCH_SNI
#define BENCH_MAF_FQDN  "maf.bench.example"
#define BENCH_ADMIN     "admin.bench.example"
#define BENCH_CSE_HOST  "cse-b.bench.example" /* Entity B's host name (SNI) */
#define BENCH_CSE_ID    "/cse-b"
#define BENCH_KEYID_MAX 160
int bench_dist_client(const char *state_root, const char *name, const struct m2msec_secret *kpm,
                      const char *mef, const char *maf, struct m2msec_error *err);
/*
 * The source Enrolee `name` (already registered) registers a Kc for target with
 * SUID suid; its Key Identifier goes to key_id. With kc non-NULL, Kc itself is
 * read back from the device store (the bench is a program on the internal API:
 * (d) needs the key to connect with).
 */
int bench_dist_keyreg(const char *state_root, const char *name, const struct m2msec_secret *kpm,
                      const char *mef, const char *maf, const char *target, unsigned suid,
                      char key_id[BENCH_KEYID_MAX], struct m2msec_secret **kc,
                      struct m2msec_error *err);

/*
 * `bench-enrol --psk-server [--workers N] [--cert F --key F --ca F] [--echo N]`:
 * the baseline server's main (TLS 1.2 PSK; with --cert, mutual ECDHE-ECDSA;
 * with --echo, N fixed answers after the export, for (g)). Exit status.
 */
int bench_psk_server_main(unsigned workers, const char *cert, const char *key, const char *ca,
                          unsigned echo);

/* The fixed key the baseline server gives every identity (a bench, not a secret). */
struct m2msec_secret *bench_psk_fixed_key(struct m2msec_error *err);

/*
 * Child processes. argv[0] is the program path and argv[1] always names what
 * it does. The child's stdout goes to out_fd and its stderr to err_fd; -1
 * inherits ours.
 */
pid_t bench_spawn(const char *const argv[], int out_fd, int err_fd, struct m2msec_error *err);
/* Wait for pid up to timeout_ms; *status receives the waitpid status. 0, or -1 (timeout). */
int bench_wait(pid_t pid, unsigned timeout_ms, int *status);
/* Run argv to completion with output to log_path; -1 unless it exits 0. */
int bench_run_cmd(const char *const argv[], const char *log_path, struct m2msec_error *err);
/* Print the contents of a (log) file to stderr, prefixed by "  | ". */
void bench_dump_file(const char *path);
/* Remove a directory tree (no symlinks followed). */
int bench_rm_tree(const char *dir);
/* Name and kind ("tmpfs" / "disk" / "other") of the filesystem holding path. */
void bench_fs_kind(const char *path, char *name, size_t namesz, const char **kind);
/* CPU time (user + system, all threads) of process pid, or of this process for 0. */
uint64_t bench_cpu_ns(pid_t pid);
/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);
/* Write data to path with mode 0600 (O_EXCL). */
int bench_write_file(const char *path, const char *data, size_t len, struct m2msec_error *err);

#endif
