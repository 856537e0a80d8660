/*
 * mefd/mefd.h - the M2M Enrolment Function daemon: shared declarations.
 *
 * Files: main.c (subcommand dispatch, usage), admin.c (init and the Enrolee
 * administration commands, which work on the store directly and are safe while
 * `serve` runs), serve.c (the TLS-PSK service: PPSK RSPF handshake, Enrolment
 * Exchange, MEF Client Registration procedures, sweeper), commit.c (group
 * commit of Enrolment Keys for serve.c).
 */
#ifndef MEFD_MEFD_H
#define MEFD_MEFD_H

#include <stdint.h>

#include "config.h"
#include "store/store.h"
#include "util/secret.h"

#define MEFD_CONF_FILE "mefd.conf"
#define MEFD_DB_FILE   "mef.db"
#define MEFD_KEK_FILE  "kek.hex"

/* Enrolment Expiry bounds (seconds). */
#define MEFD_EXPIRY_MIN 1
#define MEFD_EXPIRY_MAX (10ULL * 366 * 24 * 3600)

/* A daemon directory opened for use: configuration, KEK, and the path to the store. */
struct mefd_dir {
    char *dir;
    char *conf_path;
    struct srv_config cfg;
    struct m2msec_secret *kek;
};

int mefd_dir_open(const char *dir, struct mefd_dir *d, struct m2msec_error *err);
void mefd_dir_close(struct mefd_dir *d);
struct m2msec_db *mefd_db_open(const struct mefd_dir *d, struct m2msec_error *err);

int mefd_cmd_init(int argc, char **argv);
int mefd_cmd_enrolee(int argc, char **argv);
int mefd_cmd_serve(int argc, char **argv);
int mefd_cmd_sweep(int argc, char **argv);

/*
 * Group commit of Enrolment Keys (commit.c): one thread with its own store
 * connection writes the Ke of concurrent enrolments in one transaction, one
 * fsync per batch.
 */
struct mefd_committer;
/* Opens the store connection and starts the thread. NULL with err set on failure. */
struct mefd_committer *mefd_committer_start(const struct mefd_dir *d, struct m2msec_error *err);
/*
 * Commit what is queued, then end the thread. Later mefd_ke_commit calls fail at
 * once (M2MSEC_ERR_INVALID_STATE). Idempotent; NULL is accepted.
 */
void mefd_committer_stop(struct mefd_committer *c);
/* Stop if needed and release. No thread may be inside mefd_ke_commit. NULL is accepted. */
void mefd_committer_free(struct mefd_committer *c);
/*
 * m2msec_mef_ke_put through the committer: blocks until the transaction holding
 * this item has committed (0: the Ke is durable) or failed (-1: this item's
 * error, or the batch's). Thread-safe; the arguments are only read, and only
 * until it returns.
 */
int mefd_ke_commit(struct mefd_committer *c, const char *kpm_id, const uint8_t rel[16],
                   const struct m2msec_secret *ke, int64_t created, int64_t expires,
                   struct m2msec_error *err);

/* Print "mefd: <msg>" to stderr; returns the exit status 1. */
int mefd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
