/*
 * srv/config.h - daemon configuration (INI, via inih).
 *
 * One section named after the daemon ([mefd], [mafd]) plus [store]. Unknown
 * sections or keys, malformed numbers and out-of-range values are errors that
 * name the file and line. Relative paths are resolved against the directory of
 * the configuration file.
 */
#ifndef M2MSEC_SRV_CONFIG_H
#define M2MSEC_SRV_CONFIG_H

#include <stdatomic.h>
#include <stdint.h>

#include "log.h"
#include "util/error.h"

struct srv_config {
    /* [<daemon>] */
    char *fqdn;                    /* fqdn = mef.example.com (required) */
    char *listen;                  /* listen = 127.0.0.1:8443 */
    unsigned workers;              /* workers = 8 (1..256) */
    unsigned backlog;              /* backlog = 128 */
    unsigned max_queue;            /* max_queue = 256: accepted connections waiting for a worker */
    unsigned handshake_timeout_ms; /* handshake_timeout_ms = 5000 */
    unsigned io_timeout_ms;        /* io_timeout_ms = 10000 (per read/write) */
    unsigned idle_timeout_ms;      /* idle_timeout_ms = 15000 (keep-alive) */
    unsigned shutdown_timeout_ms;  /* shutdown_timeout_ms = 10000 (SIGTERM drain) */
    unsigned sweep_interval_s;     /* sweep_interval_s = 60 */
    uint64_t reg_lifetime_default_s; /* registration_lifetime_default_s = 86400 */
    uint64_t reg_lifetime_max_s;     /* registration_lifetime_max_s = 31536000 */
    enum srv_log_level log_level;    /* log_level = info */
    /*
     * Certificate TLS (optional). target_listen: address of the Enrolment
     * Target service (unset: none); it requires the other three. cert/key:
     * this server's FQDN certificate (PEM, chain after it) and its key.
     * target_ca: PEM trust anchors for the target client certificates.
     */
    char *target_listen;  /* target_listen = 127.0.0.1:8444 */
    char *cert_path;      /* cert = mef.pem */
    char *key_path;       /* key = mef.key */
    char *target_ca_path; /* target_ca = pki/ca.pem */
    /* [store] */
    char *db_path;  /* db = mef.db */
    char *kek_path; /* kek = kek.hex */
};

/*
 * What SIGHUP may change while a daemon runs: the log level, the timeouts, the
 * sweep interval and the registration lifetime cap. The servers hold their
 * timeouts themselves (srv_set_limits); the daemons' own threads read the
 * values below, never the srv_config fields, which only the thread applying a
 * reload writes.
 */
struct srv_live {
    atomic_uint handshake_timeout_ms;
    atomic_uint io_timeout_ms;
    atomic_ullong reg_lifetime_max_s;
};
void srv_live_set(struct srv_live *l, const struct srv_config *c);

/* Keys a reload cannot change (restart needed) and keys it can. */
#define SRV_CONFIG_KEYS_MAX 512
/*
 * Compare the running configuration with a re-read one: fixed gets the keys
 * that differ but need a restart, changed the reloadable keys that differ
 * (comma-separated, "" for none). Then copy the reloadable values into run.
 * The caller applies them: srv_log_set_level, srv_set_limits, srv_live_set.
 */
void srv_config_reload(struct srv_config *run, const struct srv_config *next,
                       char fixed[SRV_CONFIG_KEYS_MAX], char changed[SRV_CONFIG_KEYS_MAX]);

void srv_config_defaults(struct srv_config *c);
/*
 * section: "mefd" or "mafd". On error err names path:line. c is overwritten on
 * success only (it need not be initialised; release it with srv_config_clear).
 */
int srv_config_load(const char *path, const char *section, struct srv_config *c,
                    struct m2msec_error *err);
void srv_config_clear(struct srv_config *c);
/*
 * Write a commented default configuration (O_EXCL, 0600). The certificate keys
 * are written commented out.
 */
int srv_config_write(const char *path, const char *section, const char *fqdn, const char *listen,
                     const char *db_file, const char *kek_file, struct m2msec_error *err);

/* The certificate keys for srv_config_write_tls; a NULL member is written commented out. */
struct srv_config_tls {
    const char *target_listen;
    const char *cert;
    const char *key;
    const char *target_ca;
};
/* srv_config_write, with the certificate keys set from tls (NULL: all commented out). */
int srv_config_write_tls(const char *path, const char *section, const char *fqdn,
                         const char *listen, const char *db_file, const char *kek_file,
                         const struct srv_config_tls *tls, struct m2msec_error *err);

#endif
