/*
 * srv/keys.h - the key registry's request handlers, shared by mefd and mafd.
 *
 * Layer: srv (daemon plumbing). @spec TS-0003 8.3.5.2.7 - 8.3.5.2.10 (MEF
 * Key Registration, Retrieval, Update, De-Registration) and 8.8.2.7 -
 * 8.8.2.10 (the same at the MAF): one set of handlers over the shared rules
 * (proto/keyreg.h), messages (codec/keyreg_msg.h) and table (store/keyreg.c).
 * The kind picks the SUIDs, the FQDN member, the Client Registration table
 * and the key table's rows; a daemon supplies, through struct srv_keys_ops,
 * only what is its own: its log lines, a further limit on the targets a
 * client may name (the MAF's pre-provisioned clients) and its error reply.
 *
 * The session's identity comes from the daemon's handshake, never from the
 * payload: the owner (KpmID on the MEF, relative KmID on the MAF) owns what
 * it registers, the client id is the Source Client ID and what a retrieving
 * target is compared with. Every key is durable before the response, and
 * never logged (only its key check value).
 *
 * Routes: POST /<base>/<regID>/keys, GET | PUT | DELETE /<base>/keys/<RelativeKeyID>
 * (docs/PROTOCOL.md section 4b, docs/protocol-maf.md section 3); which
 * requests reach srv_keys_handle is the daemon's router's choice.
 */
#ifndef M2MSEC_SRV_KEYS_H
#define M2MSEC_SRV_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "server.h"
#include "store/store.h"
#include "tls/tls.h"
#include "util/error.h"

struct srv_keys_session;

/* What the handlers tell the daemon's log, one call per event. */
enum srv_keys_event {
    SRV_KEYS_REGISTERED = 0,
    SRV_KEYS_REFUSED, /* a retrieval by a session that is not a target */
    SRV_KEYS_RETRIEVED,
    SRV_KEYS_UPDATED,
    SRV_KEYS_DEREGISTERED,
};

/*
 * The values of one event, formatted by the handler; members an event does
 * not name are NULL. Never key material: a key shows as its check value.
 */
struct srv_keys_note {
    enum srv_keys_event ev;
    const char *rel_key_id; /* every event */
    const char *key_id;     /* REGISTERED: <rel>@<fqdn> (rel when it cannot be formatted) */
    const char *reg_id;     /* REGISTERED: the Client Registration */
    const char *kc;         /* REGISTERED: "exported" or "supplied" */
    const char *suid;       /* REGISTERED: decimal */
    const char *target;     /* REGISTERED: the first target; RETRIEVED: the session's client id */
    const char *source_id;  /* REGISTERED, RETRIEVED: the key's Source Client ID */
    const char *expires;    /* REGISTERED, UPDATED: m2m:timestamp of the expiry */
    const char *kcv;        /* REGISTERED: key check value, or "-" */
    const char *labels;     /* UPDATED: "replaced" or "kept" */
    const char *targets;    /* UPDATED: "replaced" or "kept" */
    const char *reason;     /* REFUSED */
};

/* What differs between the daemons. Static, shared by every session of one. */
struct srv_keys_ops {
    enum m2msec_keyreg_kind kind;
    /*
     * Optional: a further limit on the targets the session's client may name,
     * checked after the rules at registration and on an update that replaces
     * them. 0 allowed; -1 with err->rsc (4103, or 5000 on a store failure).
     */
    int (*targets_allowed)(const struct srv_keys_session *ks, char *const *targets, size_t n,
                           struct m2msec_error *err);
    /* Log one event (required). */
    void (*note)(const struct srv_keys_session *ks, const struct srv_keys_note *n);
    /* Optional: answer a refusal; NULL is srv_keys_reply_error. Returns 0. */
    int (*reply_error)(struct srv_response *resp, const struct m2msec_error *err);
};

/* One request's view of the session. Everything is borrowed from the daemon. */
struct srv_keys_session {
    const struct srv_keys_ops *ops;
    struct m2msec_db *db;        /* the worker's store */
    struct m2msec_tls_conn *tls; /* for the exporter */
    const char *fqdn;            /* this registrar; Key Identifier = <rel>@<fqdn> */
    uint64_t lifetime_max_s;     /* policy cap on a key's expirationTime */
    /*
     * The credential that owns what the session registers (KpmID / relative
     * KmID). NULL or "" on a session with none (a MAF KeID session that has
     * not registered): it may retrieve, not register, update or de-register.
     */
    char *owner;
    char *client_id;      /* Source Client ID, and the identity a retrieval is checked on */
    int64_t cred_expires; /* the owner credential's expiry, a cap on every key; 0: none */
    int *kc_exported;     /* per session: the exporter-based key is registered */
};

/*
 * Answer a request on a key resource: segs (n of them, segs[0] the daemon's
 * base) are {base, "keys", <RelativeKeyID>} for GET, PUT and DELETE, or
 * {base, <regID>, "keys"} for POST; anything else gets 4004, or 4005 for a
 * method the resource does not take. Any status goes into resp. Returns 0.
 */
int srv_keys_handle(const struct srv_keys_session *ks, char *const *segs, int n,
                    const struct m2msec_http_msg *req, struct srv_response *resp);

/*
 * Answer err: its rsc (5000 when none) with its message, or for 5xxx a bare
 * "internal error" with the details logged as event internal_error. Returns 0.
 */
int srv_keys_reply_error(struct srv_response *resp, const struct m2msec_error *err);

#endif
