/*
 * mafd/mafd.h - the M2M Authentication Function daemon: shared declarations.
 *
 * Files: main.c (subcommand dispatch, usage), admin.c (init, `client add/remove/list`,
 * sweep, opening a directory and reading its MEF list), serve.c (the TLS-PSK
 * service: PSK lookup by KeID with a fetch from the MEF, or by KmID; MAF
 * Client Registration and its lifecycle; sweeper), keys.c (MAF Key
 * Registration, Retrieval, Update and De-Registration on the shared key
 * registry), fetch.c (the fetchCredentials client).
 *
 * A directory holds mafd.conf (the srv configuration: [mafd] with fqdn,
 * listen, cert, key, timeouts; [store]), mefs.conf (the MEFs this MAF trusts,
 * see MAFD_MEFS_FILE), optionally clients.conf (certificate clients, see
 * MAFD_CLIENTS_FILE), kek.hex and maf.db.
 */
#ifndef MAFD_MAFD_H
#define MAFD_MAFD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "server.h"
#include "store/store.h"
#include "tls/x509.h"
#include "util/secret.h"

#define MAFD_CONF_FILE        "mafd.conf"
#define MAFD_MEFS_FILE        "mefs.conf"
#define MAFD_DB_FILE          "maf.db"
#define MAFD_KEK_FILE         "kek.hex"
#define MAFD_MEFS_MAX         16
#define MAFD_CLIENTS_FILE     "clients.conf"
#define MAFD_CLIENT_FILES_MAX 16

/*
 * mefs.conf:
 *   [mef]
 *   ca = pki/mef-ca.pem           trust anchors for the MEFs' target listeners
 *   mef = mef.example.com 192.0.2.1:8444   one line per MEF: FQDN, then host:port
 *   psk_id = maf-1                optional, for the MEF of the line above: fetch
 *   psk_file = maf-1.psk          with TLS-PSK (this identity, the hex key in the
 *                                 file, relative to this directory) instead of
 *                                 the MAF's certificate; both or neither
 * A KeID whose FQDN names a listed MEF is fetched from that MEF.
 */
struct mafd_mef {
    char *fqdn;
    char *hostport;
    char *psk_id;              /* NULL: mutual TLS with the MAF's certificate */
    struct m2msec_secret *psk; /* with psk_id, read when the directory is opened */
};

/*
 * clients.conf (optional; without it mafd takes PSK clients only):
 *   [clients]
 *   ca = pki/client-ca.pem    trust anchors for certificate clients (1..16 lines)
 *   crl = pki/client.crl      CRLs checked for them (optional, 0..16 lines)
 *   flavour = any             cse-id | ae-id | device | node-id | any (default)
 * @spec TS-0003 8.8.2.2 a MAF client may authenticate with its certificate
 * (8.8.3.1: device, Node-ID, AE-ID or CSE-ID), verified against the MAF Client
 * Certificate Information, here the same for every client (8.8.3.2 leaves the
 * mechanism to the administrating stakeholder). The PSK listener then also
 * takes certificate clients, with the MAF's FQDN certificate.
 */
struct mafd_dir {
    char *dir;
    /* Read-only while serving, but for the reloadable values a SIGHUP rewrites:
     * other threads read those from live. */
    struct srv_config cfg;
    struct srv_live live;
    struct m2msec_secret *kek;
    char *mef_ca; /* absolute or relative to the working directory */
    struct mafd_mef mefs[MAFD_MEFS_MAX];
    size_t nmefs;
    char *client_ca[MAFD_CLIENT_FILES_MAX]; /* none: no certificate clients */
    size_t nclient_ca;
    char *client_crl[MAFD_CLIENT_FILES_MAX];
    size_t nclient_crl;
    enum m2msec_cert_flavour client_flavour; /* UNSET: ANY */
};

int mafd_dir_open(const char *dir, struct mafd_dir *d, struct m2msec_error *err);
void mafd_dir_close(struct mafd_dir *d);
struct m2msec_db *mafd_db_open(const struct mafd_dir *d, struct m2msec_error *err);
/* The configured MEF with this FQDN (ASCII case-insensitive), or NULL. */
const struct mafd_mef *mafd_mef_find(const struct mafd_dir *d, const char *fqdn);
/* "dir/file", m2msec_malloc'd; NULL when out of memory. */
char *mafd_path_join(const char *dir, const char *file);

int mafd_cmd_init(int argc, char **argv);
int mafd_cmd_client(int argc, char **argv);
int mafd_cmd_serve(int argc, char **argv);
int mafd_cmd_sweep(int argc, char **argv);

/* What a MEF answered to fetchCredentials for a KeID (fetch.c). */
struct mafd_fetched {
    struct m2msec_secret *km;
    char *enrolee_id;
    int64_t lifetime;
};
void mafd_fetched_clear(struct mafd_fetched *f);
/*
 * @spec TS-0003 8.3.2.1 "Use of Remotely Provisioned Credential": GET
 * /fetchCredentials/<KeID>/21 from mef over mutual certificate TLS, or TLS-PSK
 * when mefs.conf gives the MEF a psk_id. 0 with
 * out filled on Status true; -1 otherwise (err->rsc: the MEF's status, or 0
 * when the exchange itself failed).
 */
int mafd_fetch_km(const struct mafd_dir *d, const struct mafd_mef *mef, const char *keid,
                  struct mafd_fetched *out, struct m2msec_error *err);

/*
 * A session as the key handlers (keys.c, over srv/keys.c) see it. Its identity comes from
 * serve.c's PSK lookup, never from the payload: the client's relative KmID
 * owns the keys it registers (empty on a KeID session that has not
 * registered: it may retrieve, not register), its MAF Client ID is the
 * Source MAF Client ID and what a retrieving target is compared with.
 */
struct mafd_key_session {
    struct m2msec_db *db;        /* the worker's store */
    struct m2msec_tls_conn *tls; /* for the exporter */
    const char *fqdn;            /* this MAF; Key Identifier = <rel>@<fqdn> */
    uint64_t lifetime_max_s;     /* policy cap on a key's expirationTime */
    char *kmid_rel;              /* the session's client */
    char *client_id;             /* its MAF Client ID */
    int64_t km_expires;          /* its Km expiry: no key outlives it */
    int *kc_exported;            /* per session: the exporter-based key was registered */
};
/*
 * Answer err: its rsc (5000 when none) with its message, or for 5xxx a bare
 * "internal error" with the details logged (serve.c).
 */
int mafd_reply_error(struct srv_response *resp, const struct m2msec_error *err);
/* 1 when segs (n of them, segs[0] = "maf") name a key resource. */
int mafd_keys_route(char *const *segs, int n);
/* Answer a request on a key resource (any status goes into resp). Returns 0. */
int mafd_keys_handle(struct mafd_key_session *ks, char *const *segs, int n,
                     const struct m2msec_http_msg *req, struct srv_response *resp);

/* Print "mafd: <msg>" to stderr; returns the exit status 1. */
int mafd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
