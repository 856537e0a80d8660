/*
 * mefd/mefd.h - the M2M Enrolment Function daemon: shared declarations.
 *
 * Files: main.c (subcommand dispatch, usage), admin.c (init and the Enrolee
 * administration commands, which work on the store directly and are safe while
 * `serve` runs), target.c (`target ...` and `pki issue`), serve.c (the Enrolee
 * service: PPSK RSPF handshake, and the certificate RSPF handshake on the same
 * listener, Enrolment Exchange, MEF Client Registration procedures, sweeper;
 * and the start of the target service), fetch.c (the
 * Enrolment Target service: fetchCredentials over certificate or PSK TLS), commit.c
 * (group commit of Enrolment Keys for serve.c), keys.c (MEF Key Registration,
 * Retrieval, Update and De-Registration on serve.c's sessions), boot.c (the PKI bootstrap of
 * seed 002: node classes and POST /mef/bootstrap), pkg.c (the PKG of IBC
 * credentials, seed 000: `pkg ...`, IBC enrolment, GET /mef/pkg).
 */
#ifndef MEFD_MEFD_H
#define MEFD_MEFD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "server.h"
#include "store/store.h"
#include "util/secret.h"

#define MEFD_CONF_FILE "mefd.conf"
#define MEFD_DB_FILE   "mef.db"
#define MEFD_KEK_FILE  "kek.hex"

/* `mefd init --dev-pki`: files relative to the directory. */
#define MEFD_PKI_DIR       "pki"
#define MEFD_PKI_CA_CERT   "pki/ca.pem"
#define MEFD_PKI_CA_KEY    "pki/ca.key"
#define MEFD_PKI_CA_CN     "m2msec development CA"
#define MEFD_PKI_CA_DAYS   3650u
#define MEFD_CERT_FILE     "mef.pem"
#define MEFD_KEY_FILE      "mef.key"
#define MEFD_PKI_CERT_DAYS 825u

/* Enrolment Expiry bounds (seconds). */
#define MEFD_EXPIRY_MIN 1
#define MEFD_EXPIRY_MAX (10ULL * 366 * 24 * 3600)

/* A daemon directory opened for use: configuration, KEK, and the path to the store. */
struct mefd_dir {
    char *dir;
    char *conf_path;
    /* Read-only while serving, but for the reloadable values a SIGHUP rewrites:
     * other threads read those from live. */
    struct srv_config cfg;
    struct srv_live live;
    struct m2msec_secret *kek;
};

int mefd_dir_open(const char *dir, struct mefd_dir *d, struct m2msec_error *err);
void mefd_dir_close(struct mefd_dir *d);
struct m2msec_db *mefd_db_open(const struct mefd_dir *d, struct m2msec_error *err);

/* "dir/file", m2msec_malloc'd; NULL when out of memory. */
char *mefd_path_join(const char *dir, const char *file);

int mefd_cmd_init(int argc, char **argv);
int mefd_cmd_enrolee(int argc, char **argv);
int mefd_cmd_target(int argc, char **argv);
int mefd_cmd_pki(int argc, char **argv);
int mefd_cmd_serve(int argc, char **argv);
int mefd_cmd_sweep(int argc, char **argv);

/*
 * Enrolment Targets (fetch.c). A target's SUIDs are RSPF-provisioned ones:
 * 21 (a MAF, whose id is its FQDN) or 22..25 (an Enrolee B, whose id is a
 * CSE-ID or AE-ID).
 */
#define MEFD_TARGET_SUIDS_MAX 5
/* "21" / "22,23": SUIDs in 21..25, strict decimal, no duplicates, at most 5. 0 or -1. */
int mefd_suids_parse(const char *csv, unsigned out[MEFD_TARGET_SUIDS_MAX], size_t *n);
/* 1 when suid suits a target with this id: 21 and an FQDN, or 22..25 and a CSE-ID / AE-ID. */
int mefd_suid_fits(const char *id, unsigned suid);

/*
 * The target service (fetch.c), run by serve.c as a second server in
 * certificate mode that accepts PSK targets too on the same listener.
 */
struct mefd_targets {
    const struct mefd_dir *d; /* outlives the server */
};
/*
 * Fill h (zeroed first) with the target service's handlers; arg = svc.
 * h->psk_lookup is the PSK targets' lookup: the caller passes it (and h->arg)
 * to the certificate options (m2msec_tls_cert_opts psk_lookup / psk_arg).
 */
void mefd_target_handlers(struct mefd_targets *svc, struct srv_handlers *h);

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

/*
 * MEF Key Registration procedures (keys.c, TS-0003 8.3.5.2.7 - 8.3.5.2.10) on
 * a PPSK session of serve.c, handled by srv/keys.c with the MEF's part.
 * Everything here is borrowed from the session.
 */
struct mefd_key_session {
    struct m2msec_db *db;        /* the worker's store */
    struct m2msec_tls_conn *tls; /* for the exporter */
    const char *fqdn;            /* this MEF; Key Identifier = <rel>@<fqdn> */
    uint64_t lifetime_max_s;     /* policy cap on a key's expirationTime */
    char *kpm_id;                /* the session's credential: owner of what it registers */
    char *client_id;             /* its Enrolee-ID: Source MEF Client ID, and target identity */
    int *kc_exported;            /* per session: the exporter-based key was registered */
};
/* 1 when segs (n of them, segs[0] = "mef") name a key resource. */
int mefd_keys_route(char *const *segs, int n);
/* Answer a request on a key resource (any status goes into resp). Returns 0. */
int mefd_keys_handle(struct mefd_key_session *ks, char *const *segs, int n,
                     const struct m2msec_http_msg *req, struct srv_response *resp);
/* Erase expired key registrations (the sweeper and `mefd sweep`). */
int mefd_keys_sweep(struct m2msec_db *db, int64_t now, size_t *erased, struct m2msec_error *err);

/*
 * PKI bootstrap (boot.c, seed 002): node classes (`mefd bootclass ...`), the
 * match of a verified certificate against them, and POST /mef/bootstrap on
 * serve.c's certificate sessions.
 */
int mefd_cmd_bootclass(int argc, char **argv);
/* An anchor (is_crl 0) or CRL file, checked, appended as an absolute path (admin.c). Exit status. */
int mefd_cert_file_add(char ***list, size_t *n, const char *path, int is_crl);
struct m2msec_tls_conn;
/* The class a certificate session matched, and the node identity it matched with. */
struct mefd_boot_match {
    struct m2msec_bootclass_rec *cls; /* owned */
    char *node;                       /* owned: Credential-ID, "31-<hw id>" / "34-<Node-ID>" */
    const char *reason;               /* no match: why (static text, for the log) */
    char refused_class[64];           /* no match: a class whose name matched but not its chain */
};
void mefd_boot_match_clear(struct mefd_boot_match *m);
/*
 * @spec seed 002 x.1.2.1.2 step 2.4.2 and the editor's note on authorisation:
 * the first class (by name) whose flavour and identity (exact or prefix) the
 * verified certificate carries AND whose own anchors and CRLs its chain leads
 * to. 0 matched, 1 none (m->reason), -1 store failure (logged).
 */
int mefd_boot_match(struct m2msec_db *db, struct m2msec_tls_conn *tls, struct mefd_boot_match *m);
/* What POST /mef/bootstrap needs from serve.c's session (all borrowed). */
struct mefd_boot_session {
    struct m2msec_db *db;
    struct m2msec_tls_conn *tls;
    const char *fqdn;
    const struct mefd_boot_match *match;
    int *done; /* one bootstrap per TLS session (one exporter value) */
};
/* Answer POST /mef/bootstrap (any status goes into resp). Returns 0. */
int mefd_boot_handle(struct mefd_boot_session *bs, const struct m2msec_http_msg *req,
                     struct srv_response *resp);

/*
 * The PKG of IBC credentials (pkg.c, seed 000 [PROJECT]): `mefd pkg
 * init|show|rotate`, the IBC enrolment step of the Enrolment Exchange
 * (POST /mef/enrolment/<exchangeID>/ibc) and GET /mef/pkg.
 */
int mefd_cmd_pkg(int argc, char **argv);
/* 1 when the store has a PKG whose current MPK is valid at now (the exchange may offer IBC). */
int mefd_pkg_ready(struct m2msec_db *db, int64_t now);
struct m2msec_exchange;
/* What the IBC enrolment step needs from serve.c's session (all borrowed). */
struct mefd_ibc_session {
    struct m2msec_db *db;
    const char *fqdn;          /* this MEF (lowercased into ID2) */
    const char *kpm_id;        /* the session's credential, for the log */
    const char *enrolee_id;    /* the only ID1 this session may be issued for */
    struct m2msec_exchange *x; /* the session's exchange; NULL: none with that id */
};
/* Answer POST /mef/enrolment/<exchangeID>/ibc (any status goes into resp). Returns 0. */
int mefd_ibc_handle(struct mefd_ibc_session *is, const struct m2msec_http_msg *req,
                    struct srv_response *resp);
/* Answer /mef/pkg: GET gives the published MPK set. Returns 0. */
int mefd_pkg_handle(struct m2msec_db *db, const char *fqdn, const struct m2msec_http_msg *req,
                    struct srv_response *resp);

/* `<what> remove -d DIR --<flag> ID` through fn (admin.c). Exit status. */
int mefd_remove_cmd(int argc, char **argv, const char *flag, const char *what, const char *note,
                    int (*fn)(struct m2msec_db *, const char *, struct m2msec_error *));

/* Print "mefd: <msg>" to stderr; returns the exit status 1. */
int mefd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
