/*
 * mefd/mefd.h - the M2M Enrolment Function daemon: shared declarations.
 *
 * Files: main.c (subcommand dispatch, usage), admin.c (init and the Enrolee
 * administration commands, which work on the store directly and are safe while
 * `serve` runs), serve.c (the TLS-PSK service: PPSK RSPF handshake, Enrolment
 * Exchange, MEF Client Registration procedures, sweeper).
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

/* Print "mefd: <msg>" to stderr; returns the exit status 1. */
int mefd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
