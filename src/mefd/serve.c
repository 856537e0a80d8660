/*
 * mefd/serve.c - the MEF service: PPSK RSPF, Enrolment Exchange, MEF Client Registration,
 * and the routes of MEF Key Registration (keys.c).
 *
 * Per connection: the TLS layer has authenticated the Enrolee with
 * psk_identity = KpmID and psk = Kpm (looked up here, possibly blocking on the
 * store). Everything after that is bound to the KpmID of the session: the
 * identity never comes from the payload. X-M2M-Origin must name that identity
 * (the Enrolee-ID configured for the KpmID, or the Credential-ID "10-<KpmID>"
 * of TS-0003 10.4), else 4106.
 *
 * Durability: Ke is written (synchronous=FULL) before the response that
 * reveals its KeID, so a KeID the Enrolee has seen always exists at the MEF.
 * The writes of concurrent enrolments share one transaction and one fsync
 * (commit.c); each worker still waits for the commit of its own Ke.
 *
 * The Enrolee record is read once per session: the PSK lookup reads it (with
 * Kpm) during the handshake and leaves it, without Kpm, to conn_open of the
 * same connection (see struct mef_worker).
 *
 * Certificate RSPF (TS-0003 8.3.2.2): when mefd.conf names this MEF's FQDN
 * certificate and the store holds certificate Enrolees, the same listener
 * also accepts mutual-certificate TLS (ECDHE-ECDSA, 10.2.3) beside PSK. The
 * TLS layer verifies the client chain against the union of the Enrolees'
 * trust anchors and CRLs (read at start-up); conn_open then finds the
 * Enrolee by the identity the certificate carries (its Credential-ID, 10.4,
 * is the Enrolee's key) and refuses the connection when there is none. From
 * there the flow is the PPSK one: the same exporter, Ke/KeID, Enrolment
 * Exchange and registrations, owned by that Credential-ID.
 *
 * PKI bootstrap (seed 002, boot.c): node classes add their anchors to the
 * same union, and a certificate that names no Enrolee but belongs to a node
 * class gets a session that may only POST /mef/bootstrap.
 *
 * With target_listen configured, mefd_cmd_serve also runs the Enrolment Target
 * service (fetch.c) as a second server in certificate mode on its own thread.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/bootstrap.h"
#include "codec/json.h"
#include "codec/mef_msg.h"
#include "crypto/kdf.h"
#include "crypto/rand.h"
#include "http/http.h"
#include "log.h"
#include "mefd.h"
#include "proto/exchange.h"
#include "proto/ids.h"
#include "server.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define MAX_SEGS 6

/*
 * The anchor and CRL files of every certificate Enrolee and node class
 * (NULL-terminated sets, no duplicates): what the enrolment listener trusts.
 */
struct cert_union {
    char **cas;
    size_t ncas;
    char **crls;
    size_t ncrls;
    size_t nenrolees; /* certificate Enrolees */
    size_t nclasses;  /* node classes (seed 002) */
};

struct target_svc;

struct mef {
    struct mefd_dir d;
    struct m2msec_db *sweep_db;       /* used only by the housekeeping thread */
    struct mefd_committer *committer; /* Ke writes of every worker */
    /* Certificate Enrolees (enrolee_cert_setup): TLS options and what they borrow. */
    struct m2msec_tls_cert_opts cert;
    struct cert_union certs;
    int cert_mode;          /* the enrolment listener takes certificates too */
    struct target_svc *tgt; /* the Enrolment Target service, or NULL */
    /* SIGHUP (reload): the enrolment server; the target service is tgt->s */
    struct srv *srv;
    int listen_override; /* serve --listen: the file's listen is not the running one */
};

/*
 * A worker serves one connection at a time, and the PSK lookup of a handshake
 * runs on the worker that then calls conn_open for it. The lookup leaves the
 * Enrolee record it read (Kpm removed: it went to the TLS layer) in `stash`;
 * conn_open takes it when it names the same identity and is no older than a
 * handshake can last. Every lookup first drops what an earlier one left (a
 * handshake that failed after its lookup), so a record never serves another
 * connection's identity, and conn_open drops whatever it does not take.
 */
struct mef_worker {
    struct mef *mef;
    struct m2msec_db *db;
    struct m2msec_enrolee_rec *stash;
    uint64_t stash_ms; /* m2msec_monotonic_ms() of the lookup that stored it */
};

static void
stash_drop(struct mef_worker *w)
{
    m2msec_enrolee_rec_free(w->stash);
    w->stash = NULL;
}

/* The record the handshake's lookup read for identity, or NULL. Empties the stash. */
static struct m2msec_enrolee_rec *
stash_take(struct mef_worker *w, const char *identity)
{
    struct m2msec_enrolee_rec *r = w->stash;
    uint64_t age = m2msec_monotonic_ms() - w->stash_ms;

    w->stash = NULL;
    if (r != NULL && strcmp(r->kpm_id, identity) == 0 /* public */ &&
        age <= (uint64_t)atomic_load(&w->mef->d.live.handshake_timeout_ms)) {
        return r;
    }
    m2msec_enrolee_rec_free(r);
    return NULL;
}

/* Per-connection state. */
struct mef_conn {
    char *kpm_id; /* the Enrolee's key: KpmID, or a certificate's Credential-ID */
    struct m2msec_enrolee_rec *enrolee;
    int cert; /* authenticated by certificate (TS-0003 8.3.2.2) */
    /* Credential-IDs the originator may name: "10-<KpmID>", or the certificate's */
    char cred_id[M2MSEC_CERT_CRED_ID_MAX + 8];
    char key_cred_id[3 + M2MSEC_NI_SHA256_LEN]; /* certificate: "30-<its key's RFC 6920 name>" */
    int exchange_started;
    int kc_exported; /* keys.c: this session's exporter-based key is registered */
    struct m2msec_exchange x;
    /* PKI bootstrap (boot.c): the node class the certificate matched (cls NULL: none) */
    struct mefd_boot_match boot;
    int boot_done;
};

/*
 * @spec TS-0003 8.3.2.1 (Bootstrap Enrolment Handshake): psk_identity = KpmID.
 * Unknown, removed and malformed identities answer 1 so the TLS layer fails the
 * handshake exactly as for a wrong Kpm.
 */
static int
psk_lookup(void *arg, void *ctx, const char *identity, struct m2msec_secret **key)
{
    struct mef_worker *w = ctx;
    struct m2msec_error err = { 0 };
    struct m2msec_enrolee_rec *r = NULL;

    (void)arg;
    stash_drop(w);
    if (!m2msec_kpm_id_valid(identity)) {
        return 1;
    }
    /* A certificate Enrolee has no Kpm: the store answers NOT_FOUND for it. */
    if (m2msec_mef_enrolee_get(w->db, identity, 1, &r, &err) == -1) {
        if (m2msec_error_code(&err) == M2MSEC_ERR_NOT_FOUND) {
            return 1;
        }
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "psk_lookup", "error",
                      m2msec_error_msg(&err), NULL);
        return -1;
    }
    *key = r->kpm;
    r->kpm = NULL;
    /* For conn_open of this connection: no second read of the same row. */
    w->stash = r;
    w->stash_ms = m2msec_monotonic_ms();
    return 0;
}

static void *
worker_init(void *arg, unsigned idx)
{
    struct mef *mef = arg;
    struct m2msec_error err = { 0 };
    struct mef_worker *w = m2msec_calloc(1, sizeof(*w));

    (void)idx;
    if (w == NULL) {
        return NULL;
    }
    w->mef = mef;
    w->db = mefd_db_open(&mef->d, &err);
    if (w->db == NULL) {
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "open", "error", m2msec_error_msg(&err),
                      NULL);
        m2msec_free(w);
        return NULL;
    }
    return w;
}

static void
worker_fini(void *arg, void *wctx)
{
    struct mef_worker *w = wctx;

    (void)arg;
    if (w != NULL) {
        stash_drop(w);
        m2msec_db_close(w->db);
        m2msec_free(w);
    }
}

static void
conn_state_free(struct mef_conn *mc)
{
    if (mc == NULL) {
        return;
    }
    m2msec_free(mc->kpm_id);
    m2msec_enrolee_rec_free(mc->enrolee);
    m2msec_exchange_clear(&mc->x);
    mefd_boot_match_clear(&mc->boot);
    m2msec_free(mc);
}

/*
 * @spec TS-0003 8.1.2.4 the identities a MEF looks for in an Enrolee
 * certificate (device, Node-ID, CSE-ID, AE-ID; 10.1.3), in this order, by the
 * flavour names of the store.
 */
static const struct {
    enum m2msec_cert_flavour f;
    const char *name;
} enrolee_flavours[] = {
    { M2MSEC_CERT_DEVICE, "device" },
    { M2MSEC_CERT_NODE_ID, "node-id" },
    { M2MSEC_CERT_CSE_ID, "cse-id" },
    { M2MSEC_CERT_AE_ID, "ae-id" },
};
#define N_ENROLEE_FLAVOURS (sizeof(enrolee_flavours) / sizeof(enrolee_flavours[0]))

/*
 * @spec TS-0003 8.3.2.2 (and 8.1.2.5): the TLS layer has verified the chain
 * against the configured anchors and CRLs. Find the certificate Enrolee whose
 * flavour and identifier the certificate carries: its Credential-ID is the
 * Enrolee's key, and the row must be a certificate Enrolee of that flavour
 * (a Kpm Enrolee whose KpmID happens to look like a Credential-ID never
 * matches). A valid chain without such an Enrolee gets nothing. 0 with
 * mc->kpm_id, mc->enrolee and mc->cred_id set; 1 when no Enrolee has the
 * identities (listed in carried for the caller's log); -1 after logging why.
 */
#define CARRIED_MAX (4 * (M2MSEC_CERT_CRED_ID_MAX + 1))
static int
cert_enrolee_find(struct mef_worker *w, struct srv_conn *c, struct mef_conn *mc,
                  char carried[CARRIED_MAX])
{
    struct m2msec_error err = { 0 };
    struct m2msec_enrolee_rec *r = NULL;
    char cred[M2MSEC_CERT_CRED_ID_MAX];
    const char *key_id = m2msec_tls_peer_key_id(c->tls);
    size_t i, used = 0;

    carried[0] = '\0';
    for (i = 0; i < N_ENROLEE_FLAVOURS; i++) {
        if (m2msec_tls_peer_credential_id(c->tls, enrolee_flavours[i].f, cred, sizeof(cred),
                                          &err) == -1) {
            continue; /* no identity of this flavour in the certificate */
        }
        used += (size_t)snprintf(carried + used, CARRIED_MAX - used, "%s%s", used > 0 ? "," : "",
                                 cred);
        if (used >= CARRIED_MAX) {
            used = CARRIED_MAX - 1;
        }
        if (m2msec_mef_enrolee_get(w->db, cred, 0, &r, &err) == -1) {
            if (m2msec_error_code(&err) == M2MSEC_ERR_NOT_FOUND) {
                continue;
            }
            srv_log_event(SRV_LOG_ERR, "store_error", "op", "cert_enrolee", "error",
                          m2msec_error_msg(&err), NULL);
            return -1;
        }
        if (r->cert_flavour == NULL ||
            strcmp(r->cert_flavour, enrolee_flavours[i].name) != 0 /* public */) {
            m2msec_enrolee_rec_free(r);
            r = NULL;
            continue;
        }
        /* @spec TS-0003 8.3.2.2: the chain must lead to THIS Enrolee's roots of trust. */
        if (m2msec_tls_peer_chain_verify(c->tls, (const char *const *)r->cert_cas, r->ncert_cas,
                                         (const char *const *)r->cert_crls, r->ncert_crls,
                                         &err) == -1) {
            srv_log_event(SRV_LOG_NOTICE, "session_refused", "peer", m2msec_tls_peer(c->tls),
                          "credential_id", cred, "reason",
                          "certificate does not chain to this Enrolee's trust anchors", "error",
                          m2msec_error_msg(&err), NULL);
            m2msec_enrolee_rec_free(r);
            return -1;
        }
        mc->kpm_id = m2msec_strdup(cred);
        if (mc->kpm_id == NULL) {
            m2msec_enrolee_rec_free(r);
            return -1;
        }
        mc->enrolee = r;
        mc->cert = 1;
        (void)m2msec_strlcpy(mc->cred_id, cred, sizeof(mc->cred_id));
        if (key_id != NULL) {
            (void)snprintf(mc->key_cred_id, sizeof(mc->key_cred_id), "%d-%s", M2MSEC_CRED_RAW_PK,
                           key_id);
        }
        return 0;
    }
    return 1;
}

/*
 * A certificate session (no PSK identity): bind it to its Enrolee, or (seed
 * 002) to the node class it belongs to for the bootstrap only, or drop it.
 * An Enrolee's certificate that a class covers may bootstrap too.
 */
static int
conn_open_cert(struct mef_worker *w, struct srv_conn *c)
{
    struct mef_conn *mc = m2msec_calloc(1, sizeof(*mc));
    const char *key_id = m2msec_tls_peer_key_id(c->tls);
    char carried[CARRIED_MAX];
    int found = -1;
    int boot = 1;

    stash_drop(w);
    if (mc == NULL || (found = cert_enrolee_find(w, c, mc, carried)) == -1 ||
        (boot = mefd_boot_match(w->db, c->tls, &mc->boot)) == -1) {
        conn_state_free(mc);
        return -1;
    }
    if (found == 1 && boot == 1) {
        srv_log_event(SRV_LOG_NOTICE, "session_refused", "peer", m2msec_tls_peer(c->tls), "reason",
                      "no certificate Enrolee or node class has the identity this certificate "
                      "carries",
                      "identities",
                      carried[0] != '\0' ? carried : "none of device, node-id, cse-id, ae-id",
                      "bootclass",
                      mc->boot.refused_class[0] != '\0' ? mc->boot.refused_class : NULL,
                      "bootclass_reason", mc->boot.reason, "key_id", key_id, NULL);
        conn_state_free(mc);
        return -1;
    }
    if (found == 1) {
        /* Bootstrap only: bound to the node identity the class matched. */
        mc->kpm_id = m2msec_strdup(mc->boot.node);
        if (mc->kpm_id == NULL) {
            conn_state_free(mc);
            return -1;
        }
        mc->cert = 1;
        (void)m2msec_strlcpy(mc->cred_id, mc->boot.node, sizeof(mc->cred_id));
        if (key_id != NULL) {
            (void)snprintf(mc->key_cred_id, sizeof(mc->key_cred_id), "%d-%s", M2MSEC_CRED_RAW_PK,
                           key_id);
        }
    }
    c->state = mc;
    srv_log_event(SRV_LOG_DEBUG, "session_open", "peer", m2msec_tls_peer(c->tls), "credential_id",
                  mc->kpm_id, "enrolee_id", mc->enrolee != NULL ? mc->enrolee->enrolee_id : NULL,
                  "bootclass", mc->boot.cls != NULL ? mc->boot.cls->name : NULL, "cipher",
                  m2msec_tls_cipher(c->tls), "sni", m2msec_tls_sni(c->tls), NULL);
    return 0;
}

static int
conn_open(void *arg, struct srv_conn *c)
{
    struct mef_worker *w = c->wctx;
    struct m2msec_error err = { 0 };
    struct mef_conn *mc = NULL;
    const char *id = m2msec_tls_psk_identity(c->tls);

    (void)arg;
    if (id == NULL) {
        /* Only a server with certificate Enrolees completes such a handshake. */
        return conn_open_cert(w, c);
    }
    mc = m2msec_calloc(1, sizeof(*mc));
    if (mc == NULL || (mc->kpm_id = m2msec_strdup(id)) == NULL) {
        stash_drop(w);
        conn_state_free(mc);
        return -1;
    }
    /* Normally the record the handshake just read. Otherwise read it now; an
     * Enrolee removed since the lookup then drops the session. (A removal after
     * the read is caught by the Ke write, which requires the Enrolee.) */
    mc->enrolee = stash_take(w, id);
    if ((mc->enrolee == NULL && m2msec_mef_enrolee_get(w->db, id, 0, &mc->enrolee, &err) == -1) ||
        m2msec_credential_id_format(M2MSEC_CRED_KPM, id, mc->cred_id, sizeof(mc->cred_id), &err) ==
                -1) {
        srv_log_event(SRV_LOG_NOTICE, "session_dropped", "kpm_id", id, "reason",
                      m2msec_error_msg(&err), NULL);
        conn_state_free(mc);
        return -1;
    }
    c->state = mc;
    srv_log_event(SRV_LOG_DEBUG, "session_open", "peer", m2msec_tls_peer(c->tls), "kpm_id", id,
                  "enrolee_id", mc->enrolee->enrolee_id, "cipher", m2msec_tls_cipher(c->tls), "sni",
                  m2msec_tls_sni(c->tls), NULL);
    return 0;
}

static void
conn_close(void *arg, struct srv_conn *c)
{
    (void)arg;
    conn_state_free(c->state);
    c->state = NULL;
}

/*
 * 1 when the originator names the session's identity: the Enrolee-ID, or the
 * Credential-ID of the credential (TS-0003 10.4): "10-<KpmID>" for a Kpm; for
 * a certificate that of the identity the Enrolee is configured with, or
 * "30-<RFC 6920 name>" of the certificate's public key (all a device can
 * compute from its certificate before it learns its Enrolee-ID).
 */
static int
origin_matches(const struct mef_conn *mc, const char *origin)
{
    return (mc->enrolee != NULL && strcmp(origin, mc->enrolee->enrolee_id) == 0 /* public */) ||
           strcmp(origin, mc->cred_id) == 0 /* public */ ||
           (mc->cert && mc->key_cred_id[0] != '\0' &&
            strcmp(origin, mc->key_cred_id) == 0 /* public */);
}

static int
reply_error(struct srv_response *resp, const struct m2msec_error *err)
{
    int rsc = err->rsc != 0 ? err->rsc : M2MSEC_RSC_INTERNAL_SERVER_ERROR;

    if (rsc >= 5000) {
        srv_log_event(SRV_LOG_ERR, "internal_error", "error", m2msec_error_msg(err), NULL);
        return srv_response_error(resp, rsc, "internal error");
    }
    return srv_response_error(resp, rsc, "%s", m2msec_error_msg(err));
}

/*
 * @spec TS-0003 8.3.2.1 Enrolment Key Generation and the first step of the
 * Enrolment Exchange: export Ke/RelativeKeID, store Ke with expiry = now +
 * Enrolment Expiry (replacing any previous Ke of this Enrolee), plan the
 * instructions and answer with the KeID so both sides can confirm they agree.
 */
static int
h_enrol_start(struct mef *mef, struct srv_conn *c, struct mef_conn *mc,
              const struct m2msec_http_msg *req, struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_enrol_req ind = { 0 };
    struct m2msec_enrol_resp r = { 0 };
    struct m2msec_enrolee_policy policy = { 0 };
    struct m2msec_secret *ke = NULL;
    uint8_t exported[M2MSEC_EXPORT_LEN], rel[M2MSEC_REL_ID_LEN];
    char keid[M2MSEC_KEID_MAX], xid[M2MSEC_EXCHANGE_ID_LEN + 1], kcv[M2MSEC_KCV_HEX_LEN];
    char ts[M2MSEC_TIMESTAMP_LEN], ninstr[12];
    int64_t now = m2msec_now(), expires;

    if (mc->exchange_started) {
        m2msec_error_setr(&err, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_CONFLICT,
                          "an enrolment exchange was already started in this session");
        goto fail;
    }
    if (m2msec_enrol_req_decode(req->body.data, req->body.len, &ind, &err) == -1) {
        goto fail;
    }
    if (mc->enrolee->policy_json != NULL &&
        m2msec_enrolee_policy_decode((const uint8_t *)mc->enrolee->policy_json,
                                     strlen(mc->enrolee->policy_json), &policy, &err) == -1) {
        err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        goto fail;
    }
    /* @spec seed 000 step 6 [PROJECT]: IBC enrolment is offered when the PKG can issue. */
    policy.ibc = ind.ibc_enrolment && mefd_pkg_ready(((struct mef_worker *)c->wctx)->db, now);
    expires = now + (int64_t)mc->enrolee->expiry_s;
    if (m2msec_tls_export(c->tls, M2MSEC_LABEL_BOOTSTRAP, exported, sizeof(exported), &err) == -1 ||
        m2msec_export_split(exported, rel, &ke, &err) == -1 ||
        m2msec_keid_format(rel, mef->d.cfg.fqdn, keid, sizeof(keid), &err) == -1 ||
        m2msec_rand_hex(xid, M2MSEC_EXCHANGE_ID_LEN / 2, &err) == -1 ||
        m2msec_exchange_plan(&mc->x, xid, &policy, &ind, expires, &err) == -1) {
        err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        goto fail;
    }
    /* Durable before the KeID leaves this process. */
    if (mefd_ke_commit(mef->committer, mc->kpm_id, rel, ke, now, expires, &err) == -1) {
        if (m2msec_error_code(&err) == M2MSEC_ERR_NOT_FOUND) {
            /* Removed by the administrator while this session was open. */
            c->close_after = 1;
            m2msec_error_setr(&err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                              "the credential of this session was revoked");
        } else {
            err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        }
        goto fail;
    }
    mc->exchange_started = 1;
    if (m2msec_exchange_next(&mc->x, &r, &err) == -1) {
        goto fail;
    }
    r.keid = m2msec_strdup(keid);
    r.enrolee_id = m2msec_strdup(mc->enrolee->enrolee_id);
    r.ke_expires = expires;
    if (r.keid == NULL || r.enrolee_id == NULL) {
        m2msec_error_setr(&err, M2MSEC_ERR_NOMEM, 5000, "out of memory");
        goto fail;
    }
    if (m2msec_enrol_resp_encode(&r, &resp->body, &err) == -1) {
        goto fail;
    }
    resp->rsc = M2MSEC_RSC_CREATED;
    if (r.end) {
        c->close_after = 1;
    }
    m2msec_key_check_value(ke, kcv, &err);
    m2msec_timestamp_format(expires, ts);
    snprintf(ninstr, sizeof(ninstr), "%zu", mc->x.ninstr);
    srv_log_event(SRV_LOG_NOTICE, "enrolled", mc->cert ? "credential_id" : "kpm_id", mc->kpm_id,
                  "enrolee_id", mc->enrolee->enrolee_id, "keid", keid, "expires", ts, "kcv", kcv,
                  "instructions", r.end ? "0" : "1+", "rspf", mc->cert ? "certificate" : "ppsk",
                  NULL);
    m2msec_wipe(exported, sizeof(exported));
    m2msec_secret_free(ke);
    m2msec_enrol_resp_clear(&r);
    m2msec_enrolee_policy_clear(&policy);
    return 0;
fail:
    m2msec_wipe(exported, sizeof(exported));
    m2msec_secret_free(ke);
    m2msec_enrol_resp_clear(&r);
    m2msec_enrolee_policy_clear(&policy);
    if (!mc->exchange_started) {
        m2msec_exchange_clear(&mc->x);
    }
    return reply_error(resp, &err);
}

/* @spec TS-0003 8.3.2.1: success reports, further instructions, end of exchange, close. */
static int
h_enrol_report(struct srv_conn *c, struct mef_conn *mc, const char *xid,
               const struct m2msec_http_msg *req, struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_enrol_report rep = { 0 };
    struct m2msec_enrol_resp r = { 0 };
    char step[12];

    if (!mc->exchange_started || strcmp(xid, mc->x.id) != 0 /* public */) {
        return srv_response_error(resp, M2MSEC_RSC_NOT_FOUND,
                                  "no enrolment exchange '%s' in this session", xid);
    }
    if (m2msec_enrol_report_decode(req->body.data, req->body.len, &rep, &err) == -1 ||
        m2msec_exchange_report(&mc->x, &rep, &err) == -1) {
        m2msec_enrol_report_clear(&rep);
        return reply_error(resp, &err);
    }
    snprintf(step, sizeof(step), "%u", rep.step);
    /* A failed instruction is worth an operator's attention; routine steps are debug. */
    srv_log_event(rep.success ? SRV_LOG_DEBUG : SRV_LOG_NOTICE, "exchange_report", "kpm_id",
                  mc->kpm_id, "step", step, "result", rep.success ? "success" : "failure", "reason",
                  rep.reason, NULL);
    m2msec_enrol_report_clear(&rep);
    if (m2msec_exchange_next(&mc->x, &r, &err) == -1) {
        return reply_error(resp, &err);
    }
    if (m2msec_enrol_resp_encode(&r, &resp->body, &err) == -1) {
        m2msec_enrol_resp_clear(&r);
        return reply_error(resp, &err);
    }
    resp->rsc = M2MSEC_RSC_OK;
    if (r.end) {
        /* @spec TS-0003 8.3.2.1: the MEF closes the session after the end of the exchange. */
        c->close_after = 1;
        srv_log_event(SRV_LOG_DEBUG, "exchange_end", "kpm_id", mc->kpm_id, NULL);
    }
    m2msec_enrol_resp_clear(&r);
    return 0;
}

/* Expiry granted for a registration: in the future, capped by policy. */
static int
grant_expiry(const struct mef *mef, int64_t requested, int64_t now, int64_t *granted,
             struct m2msec_error *err)
{
    int64_t max = now + (int64_t)atomic_load(&mef->d.live.reg_lifetime_max_s);

    if (requested <= now) {
        return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                                 "member 'et': expirationTime is not in the future");
    }
    *granted = requested < max ? requested : max;
    return 0;
}

/* @spec TS-0003 8.3.5.2.3 MEF Client Registration */
static int
h_reg_create(struct mef *mef, struct mef_worker *w, struct mef_conn *mc,
             const struct m2msec_http_msg *req, struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mefreg_req rq = { 0 };
    struct m2msec_mefreg_resp rs = { 0 };
    struct m2msec_mefreg_rec rec = { 0 };
    int64_t now = m2msec_now();
    int rv;

    if (m2msec_mefreg_req_decode(req->body.data, req->body.len, &rq, &err) == -1) {
        return reply_error(resp, &err);
    }
    if (!m2msec_fqdn_equal(rq.mef_fqdn, mef->d.cfg.fqdn)) {
        m2msec_error_setr(&err, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                          "member 'mefFQDN': '%s' is not this MEF", rq.mef_fqdn);
        goto fail;
    }
    if (!m2msec_fqdn_valid(rq.admin_fqdn)) {
        m2msec_error_setr(&err, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                          "member 'adminFQDN': not a valid FQDN");
        goto fail;
    }
    if (grant_expiry(mef, rq.et, now, &rec.expires, &err) == -1 ||
        m2msec_rand_hex(rec.reg_id, 16, &err) == -1) {
        goto fail;
    }
    rec.kpm_id = mc->kpm_id;
    rec.client_id = mc->enrolee->enrolee_id;
    rec.admin_fqdn = rq.admin_fqdn;
    rec.labels = rq.lbl;
    rec.nlabels = rq.nlbl;
    if (m2msec_mef_reg_create(w->db, &rec, now, &err) == -1) {
        goto fail;
    }
    rs.reg_id = rec.reg_id;
    rs.lbl = rq.lbl;
    rs.nlbl = rq.nlbl;
    rs.has_lbl = rq.has_lbl;
    rs.et = rec.expires;
    rs.client_id = rec.client_id;
    rs.admin_fqdn = rq.admin_fqdn;
    rv = m2msec_mefreg_resp_encode(&rs, &resp->body, &err);
    if (rv == -1) {
        goto fail;
    }
    resp->rsc = M2MSEC_RSC_CREATED;
    srv_log_event(SRV_LOG_NOTICE, "mef_client_registered", "kpm_id", mc->kpm_id, "reg_id",
                  rec.reg_id, "admin_fqdn", rq.admin_fqdn, NULL);
    m2msec_mefreg_req_clear(&rq);
    return 0;
fail:
    m2msec_mefreg_req_clear(&rq);
    return reply_error(resp, &err);
}

/* Registration owned by this session's credential, or an error answer. */
static int
reg_owned(struct mef_worker *w, struct mef_conn *mc, const char *reg_id,
          struct m2msec_mefreg_rec **out, struct m2msec_error *err)
{
    if (m2msec_mef_reg_get(w->db, reg_id, m2msec_now(), out, err) == -1) {
        if (m2msec_error_code(err) == M2MSEC_ERR_NOT_FOUND) {
            return m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                                     "no registration '%s'", reg_id);
        }
        err->rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        return -1;
    }
    if (strcmp((*out)->kpm_id, mc->kpm_id) != 0 /* public */) {
        m2msec_mefreg_rec_free(*out);
        *out = NULL;
        return m2msec_error_setr(err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                                 "registration '%s' belongs to another client", reg_id);
    }
    return 0;
}

/* @spec TS-0003 8.3.5.2.4 MEF Client Configuration Retrieval */
static int
h_reg_config(struct mef *mef, struct mef_worker *w, struct mef_conn *mc, const char *reg_id,
             struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mefreg_rec *rec = NULL;
    struct m2msec_mefreg_cfg cfg = { 0 };
    char host[256], port[16];
    uint64_t p = 0;

    if (reg_owned(w, mc, reg_id, &rec, &err) == -1) {
        return reply_error(resp, &err);
    }
    if (m2msec_hostport_split(mef->d.cfg.listen, host, sizeof(host), port, sizeof(port), &err) ==
                -1 ||
        m2msec_parse_u64(port, strlen(port), 65535, &p) == -1) {
        p = 443;
    }
    cfg.fqdn = mef->d.cfg.fqdn;
    cfg.admin_fqdn = rec->admin_fqdn;
    cfg.http_port = p == 0 ? 443 : (unsigned)p;
    cfg.et = rec->expires;
    cfg.lbl = rec->labels;
    cfg.nlbl = rec->nlabels;
    cfg.has_lbl = rec->labels != NULL;
    cfg.targets = mc->enrolee->targets;
    cfg.ntargets = mc->enrolee->ntargets;
    cfg.enrolment_expiry = mc->enrolee->expiry_s;
    if (m2msec_mefreg_cfg_encode(&cfg, &resp->body, &err) == -1) {
        m2msec_mefreg_rec_free(rec);
        return reply_error(resp, &err);
    }
    resp->rsc = M2MSEC_RSC_OK;
    m2msec_mefreg_rec_free(rec);
    return 0;
}

/* @spec TS-0003 8.3.5.2.5 MEF Client Registration Update */
static int
h_reg_update(struct mef *mef, struct mef_worker *w, struct mef_conn *mc, const char *reg_id,
             const struct m2msec_http_msg *req, struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mefreg_update up = { 0 }, out = { 0 };
    struct m2msec_mefreg_rec *rec = NULL;
    int64_t now = m2msec_now(), granted = 0;

    if (m2msec_mefreg_update_decode(req->body.data, req->body.len, 1, &up, &err) == -1) {
        return reply_error(resp, &err);
    }
    if (!m2msec_fqdn_equal(up.mef_fqdn, mef->d.cfg.fqdn)) {
        m2msec_error_setr(&err, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                          "member 'mefFQDN': '%s' is not this MEF", up.mef_fqdn);
        goto fail;
    }
    if (reg_owned(w, mc, reg_id, &rec, &err) == -1) {
        goto fail;
    }
    if (up.has_et && grant_expiry(mef, up.et, now, &granted, &err) == -1) {
        goto fail;
    }
    if (m2msec_mef_reg_update(w->db, reg_id, now, up.has_et, granted, up.has_lbl, up.lbl, up.nlbl,
                              &err) == -1) {
        goto fail;
    }
    /* Only the members present in the request come back. */
    out.has_et = up.has_et;
    out.et = granted;
    out.has_lbl = up.has_lbl;
    out.lbl = up.lbl;
    out.nlbl = up.nlbl;
    if (m2msec_mefreg_update_encode(&out, 0, &resp->body, &err) == -1) {
        goto fail;
    }
    resp->rsc = M2MSEC_RSC_UPDATED;
    m2msec_mefreg_rec_free(rec);
    m2msec_mefreg_update_clear(&up);
    return 0;
fail:
    m2msec_mefreg_rec_free(rec);
    m2msec_mefreg_update_clear(&up);
    return reply_error(resp, &err);
}

/* @spec TS-0003 8.3.5.2.6 MEF Client De-Registration */
static int
h_reg_delete(struct mef_worker *w, struct mef_conn *mc, const char *reg_id,
             struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mefreg_rec *rec = NULL;

    if (reg_owned(w, mc, reg_id, &rec, &err) == -1) {
        return reply_error(resp, &err);
    }
    m2msec_mefreg_rec_free(rec);
    if (m2msec_mef_reg_delete(w->db, reg_id, m2msec_now(), &err) == -1) {
        return reply_error(resp, &err);
    }
    resp->rsc = M2MSEC_RSC_DELETED;
    srv_log_event(SRV_LOG_NOTICE, "mef_client_deregistered", "kpm_id", mc->kpm_id, "reg_id", reg_id,
                  NULL);
    return 0;
}

/*
 * 1 when the session's Enrolee was removed while the session is open. The
 * registration table is keyed by KpmID without a foreign key (a registration
 * may outlive re-enrolment), so the handlers must not act for a removed
 * credential. Store failures count as revoked: refuse rather than guess.
 */
static int
credential_revoked(struct mef_worker *w, const struct mef_conn *mc)
{
    struct m2msec_error err = { 0 };
    struct m2msec_enrolee_rec *r = NULL;

    if (m2msec_mef_enrolee_get(w->db, mc->kpm_id, 0, &r, &err) == -1) {
        return 1;
    }
    m2msec_enrolee_rec_free(r);
    return 0;
}

static int
handle(void *arg, struct srv_conn *c, const struct m2msec_http_msg *req, struct srv_response *resp)
{
    struct mef *mef = arg;
    struct mef_worker *w = c->wctx;
    struct mef_conn *mc = c->state;
    const char *origin = m2msec_http_header_get(req, M2MSEC_HDR_ORIGIN);
    char *segs[MAX_SEGS];
    char storage[1024];
    int n;

    n = srv_path_split(req->target, segs, MAX_SEGS, storage, sizeof(storage));
    if (n < 0) {
        return srv_response_error(resp, M2MSEC_RSC_BAD_REQUEST, "malformed request target");
    }
    /* The identity is the session's: an originator naming anyone else is refused. */
    if (origin == NULL || !origin_matches(mc, origin)) {
        return srv_response_error(resp, M2MSEC_RSC_ORIGINATOR_NOT_AUTHENTICATED,
                                  "X-M2M-Origin does not match the authenticated credential");
    }
    if (n < 2 || strcmp(segs[0], M2MSEC_PATH_MEF_BASE) != 0) {
        return srv_response_error(resp, M2MSEC_RSC_NOT_FOUND, "no such resource");
    }
    /* @spec seed 002 x.1.2.1.2: the PKI bootstrap, on certificate sessions of a node class. */
    if (strcmp(segs[1], M2MSEC_PATH_BOOTSTRAP) == 0) {
        struct mefd_boot_session bs = {
            .db = w->db,
            .tls = c->tls,
            .fqdn = mef->d.cfg.fqdn,
            .match = &mc->boot,
            .done = &mc->boot_done,
        };

        if (n != 2 || req->method != M2MSEC_HTTP_POST) {
            return srv_response_error(
                    resp, n != 2 ? M2MSEC_RSC_NOT_FOUND : M2MSEC_RSC_OPERATION_NOT_ALLOWED,
                    "only POST /%s/%s", M2MSEC_PATH_MEF_BASE, M2MSEC_PATH_BOOTSTRAP);
        }
        if (!mc->cert || mc->boot.cls == NULL) {
            srv_log_event(SRV_LOG_NOTICE, "bootstrap_refused",
                          mc->cert ? "credential_id" : "kpm_id", mc->kpm_id, "reason",
                          mc->cert ? "no node class covers this certificate"
                                   : "a PSK session cannot bootstrap",
                          NULL);
            return srv_response_error(resp, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                                      "no root credential for this %s",
                                      mc->cert ? "certificate" : "credential");
        }
        return mefd_boot_handle(&bs, req, resp);
    }
    if (mc->enrolee == NULL) {
        return srv_response_error(resp, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                                  "this certificate is authorised for the bootstrap only");
    }
    if (strcmp(segs[1], M2MSEC_PATH_ENROLMENT) == 0) {
        if (n == 2 && req->method == M2MSEC_HTTP_POST) {
            return h_enrol_start(mef, c, mc, req, resp);
        }
        if (n == 3 && req->method == M2MSEC_HTTP_POST) {
            return h_enrol_report(c, mc, segs[2], req, resp);
        }
        /* @spec seed 000 step 8 [PROJECT]: the IBC credential request of the exchange (pkg.c). */
        if (n == 4 && strcmp(segs[3], M2MSEC_PATH_IBC) == 0 && req->method == M2MSEC_HTTP_POST) {
            struct mefd_ibc_session is = {
                .db = w->db,
                .fqdn = mef->d.cfg.fqdn,
                .kpm_id = mc->kpm_id,
                .enrolee_id = mc->enrolee->enrolee_id,
                .x = mc->exchange_started && strcmp(segs[2], mc->x.id) == 0 /* public */
                             ? &mc->x
                             : NULL,
            };

            return mefd_ibc_handle(&is, req, resp);
        }
    } else if (strcmp(segs[1], M2MSEC_PATH_PKG) == 0 && n == 2) {
        /* The published MPKs, for a device refreshing its trust store (pkg.c). */
        return mefd_pkg_handle(w->db, mef->d.cfg.fqdn, req, resp);
    } else if (mefd_keys_route(segs, n)) {
        struct mefd_key_session ks = {
            .db = w->db,
            .tls = c->tls,
            .fqdn = mef->d.cfg.fqdn,
            .lifetime_max_s = (uint64_t)atomic_load(&mef->d.live.reg_lifetime_max_s),
            .kpm_id = mc->kpm_id,
            .client_id = mc->enrolee->enrolee_id,
            .kc_exported = &mc->kc_exported,
        };

        /* The key registry is keyed by KpmID too: a removed credential acts no more. */
        if (credential_revoked(w, mc)) {
            c->close_after = 1;
            return srv_response_error(resp, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                                      "the credential of this session was revoked");
        }
        return mefd_keys_handle(&ks, segs, n, req, resp);
    } else if (strcmp(segs[1], M2MSEC_PATH_REG) == 0) {
        if (credential_revoked(w, mc)) {
            c->close_after = 1;
            return srv_response_error(resp, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                                      "the credential of this session was revoked");
        }
        if (n == 2 && req->method == M2MSEC_HTTP_POST) {
            return h_reg_create(mef, w, mc, req, resp);
        }
        if (n == 3 && req->method == M2MSEC_HTTP_PUT) {
            return h_reg_update(mef, w, mc, segs[2], req, resp);
        }
        if (n == 3 && req->method == M2MSEC_HTTP_DELETE) {
            return h_reg_delete(w, mc, segs[2], resp);
        }
        if (n == 4 && strcmp(segs[3], M2MSEC_PATH_REG_CFG) == 0 && req->method == M2MSEC_HTTP_GET) {
            return h_reg_config(mef, w, mc, segs[2], resp);
        }
    } else {
        return srv_response_error(resp, M2MSEC_RSC_NOT_FOUND, "no such resource");
    }
    return srv_response_error(resp, M2MSEC_RSC_OPERATION_NOT_ALLOWED, "%s is not allowed on %s",
                              m2msec_http_method_name(req->method), req->target);
}

/*
 * Housekeeping: erase expired keys, registrations and key registrations
 * (TS-0003 10.7, SPEC-DIGEST 5 rule 3).
 */
static void
tick(void *arg)
{
    struct mef *mef = arg;
    struct m2msec_error err = { 0 };
    size_t erased = 0, nkeys = 0;
    char n[24];

    if (mef->sweep_db == NULL) {
        mef->sweep_db = mefd_db_open(&mef->d, &err);
        if (mef->sweep_db == NULL) {
            srv_log_event(SRV_LOG_ERR, "store_error", "op", "sweep_open", "error",
                          m2msec_error_msg(&err), NULL);
            return;
        }
    }
    if (m2msec_mef_sweep(mef->sweep_db, m2msec_now(), &erased, &err) == -1 ||
        mefd_keys_sweep(mef->sweep_db, m2msec_now(), &nkeys, &err) == -1) {
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "sweep", "error", m2msec_error_msg(&err),
                      NULL);
        return;
    }
    erased += nkeys;
    if (erased > 0) {
        snprintf(n, sizeof(n), "%zu", erased);
        srv_log_event(SRV_LOG_NOTICE, "swept", "erased", n, NULL);
    }
}

/* Add path to the NULL-terminated set unless it holds it already. */
static int
path_set_add(char ***set, size_t *n, const char *path, struct m2msec_error *err)
{
    char **grown;
    size_t i;

    for (i = 0; i < *n; i++) {
        if (strcmp((*set)[i], path) == 0) {
            return 0;
        }
    }
    grown = m2msec_realloc(*set, (*n + 2) * sizeof(char *));
    if (grown == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    *set = grown;
    grown[*n] = m2msec_strdup(path);
    if (grown[*n] == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    grown[++*n] = NULL;
    return 0;
}

static void
cert_union_clear(struct cert_union *u)
{
    m2msec_strlist_free(u->cas);
    m2msec_strlist_free(u->crls);
    memset(u, 0, sizeof(*u));
}

/* Collect the anchors and CRLs of the certificate Enrolees and node classes in the store. */
static int
cert_union_load(struct m2msec_db *db, struct cert_union *u, struct m2msec_error *err)
{
    struct m2msec_enrolee_rec **list = NULL;
    struct m2msec_bootclass_rec **classes = NULL;
    size_t n = 0, i, j, nclass = 0;
    int rv = -1;

    memset(u, 0, sizeof(*u));
    if (m2msec_mef_enrolee_list(db, &list, &n, err) == -1 ||
        m2msec_mef_bootclass_list(db, &classes, &nclass, err) == -1) {
        goto out;
    }
    /* Seed 002 node classes: their anchors join the union, checked per class in conn_open. */
    for (i = 0; i < nclass; i++) {
        for (j = 0; j < classes[i]->ncert_cas; j++) {
            if (path_set_add(&u->cas, &u->ncas, classes[i]->cert_cas[j], err) == -1) {
                goto out;
            }
        }
        for (j = 0; j < classes[i]->ncert_crls; j++) {
            if (path_set_add(&u->crls, &u->ncrls, classes[i]->cert_crls[j], err) == -1) {
                goto out;
            }
        }
    }
    u->nclasses = nclass;
    for (i = 0; i < n; i++) {
        const struct m2msec_enrolee_rec *r = list[i];

        if (r->cert_flavour == NULL) {
            continue;
        }
        u->nenrolees++;
        for (j = 0; j < r->ncert_cas; j++) {
            if (path_set_add(&u->cas, &u->ncas, r->cert_cas[j], err) == -1) {
                goto out;
            }
        }
        for (j = 0; j < r->ncert_crls; j++) {
            if (path_set_add(&u->crls, &u->ncrls, r->cert_crls[j], err) == -1) {
                goto out;
            }
        }
    }
    rv = 0;
out:
    if (rv == -1) {
        cert_union_clear(u);
    }
    m2msec_bootclass_list_free(classes);
    m2msec_enrolee_list_free(list);
    return rv;
}

/*
 * The enrolment listener's certificate options over u. With different anchors
 * per Enrolee the handshake accepts a chain to any of them; conn_open then
 * re-validates the chain against the bound Enrolee's own anchors and CRLs
 * (m2msec_tls_peer_chain_verify).
 */
static void
cert_opts_fill(struct m2msec_tls_cert_opts *o, const struct mefd_dir *d, const struct cert_union *u)
{
    memset(o, 0, sizeof(*o));
    o->cert_file = d->cfg.cert_path;
    o->key_file = d->cfg.key_path;
    o->require_client_cert = 1;
    /* Any end entity under the anchors; conn_open reads and binds its identity. */
    o->client.flavour = M2MSEC_CERT_ANY;
    o->client.ca_files = (const char *const *)u->cas;
    o->client.n_ca_files = u->ncas;
    o->client.crl_files = (const char *const *)u->crls;
    o->client.n_crl_files = u->ncrls;
    o->psk_lookup = psk_lookup;
    o->psk_arg = NULL;
}

/*
 * @spec TS-0003 8.3.2.2 the certificate RSPF on the Enrolee listener: with
 * this MEF's FQDN certificate configured (8.1.2.3) and certificate Enrolees
 * in the store, the server runs in certificate mode, requires a client
 * certificate from every non-PSK client and verifies it against the union of
 * the Enrolees' anchors and CRLs (8.1.2.2, 8.1.2.5), then, once the identity
 * names an Enrolee, against that Enrolee's own (conn_open); PSK Enrolees keep
 * working on the same socket through psk_lookup. Without either, the
 * listener stays PSK-only (and says why). Anchors and CRLs are read here
 * and again on SIGHUP (reload_certs): Enrolees and node classes added since,
 * and renewed CRLs, then apply to new connections. A listener that started
 * PSK-only needs a restart to take certificates.
 */
static int
enrolee_cert_setup(struct mef *mef, struct m2msec_db *db, struct srv_handlers *h,
                   struct m2msec_error *err)
{
    struct cert_union *u = &mef->certs;
    char nbuf[4][24];

    if (cert_union_load(db, u, err) == -1) {
        return -1;
    }
    snprintf(nbuf[0], sizeof(nbuf[0]), "%zu", u->nenrolees);
    snprintf(nbuf[3], sizeof(nbuf[3]), "%zu", u->nclasses);
    if (u->nenrolees + u->nclasses == 0 || mef->d.cfg.cert_path == NULL ||
        mef->d.cfg.key_path == NULL) {
        srv_log_event(u->nenrolees + u->nclasses == 0 ? SRV_LOG_INFO : SRV_LOG_WARNING,
                      "enrolee_certificates", "enrolees", nbuf[0], "bootclasses", nbuf[3], "mode",
                      "psk", "reason",
                      u->nenrolees + u->nclasses == 0 ? "no certificate Enrolee or node class"
                                                      : "no cert/key in mefd.conf",
                      NULL);
        return 0;
    }
    cert_opts_fill(&mef->cert, &mef->d, u);
    mef->cert_mode = 1;
    h->cert = &mef->cert;
    snprintf(nbuf[1], sizeof(nbuf[1]), "%zu", u->ncas);
    snprintf(nbuf[2], sizeof(nbuf[2]), "%zu", u->ncrls);
    srv_log_event(SRV_LOG_NOTICE, "enrolee_certificates", "enrolees", nbuf[0], "mode",
                  "psk+certificate", "anchors", nbuf[1], "crls", nbuf[2], "cert",
                  mef->d.cfg.cert_path, "bootclasses", nbuf[3], NULL);
    return 0;
}

/*
 * The Enrolment Target service (fetch.c) on target_listen: a second server
 * in certificate mode (accepting PSK targets too), run by its own thread
 * beside the enrolment service.
 * Signals belong to the enrolment server; mefd_cmd_serve stops this one after
 * the enrolment server's srv_run returns.
 */
struct target_svc {
    struct mefd_targets svc;
    struct srv *s;
    /* Its certificate options, kept for a reload (the paths belong to mefd.conf) */
    struct m2msec_tls_cert_opts co;
    const char *anchors[1];
    struct srv *main; /* the enrolment server: stopped if this one cannot run */
    pthread_t tid;
    int started;
    int rv;
    struct m2msec_error err;
};

static void
log_certs(const char *service, const struct m2msec_error *err, const struct cert_union *u)
{
    char a[24], c[24];

    if (err != NULL) {
        srv_log_event(SRV_LOG_ERR, "reload_failed", "what", "certificates", "service", service,
                      "error", m2msec_error_msg(err), "effect", "previous certificates kept", NULL);
        return;
    }
    if (u == NULL) {
        srv_log_event(SRV_LOG_NOTICE, "certificates_reloaded", "service", service, NULL);
        return;
    }
    snprintf(a, sizeof(a), "%zu", u->ncas);
    snprintf(c, sizeof(c), "%zu", u->ncrls);
    srv_log_event(SRV_LOG_NOTICE, "certificates_reloaded", "service", service, "anchors", a, "crls",
                  c, NULL);
}

/*
 * SIGHUP, after the configuration: read the certificate files again (the
 * paths mefd started with) for the connections accepted afterwards. The
 * enrolment listener also collects the anchors and CRLs of the certificate
 * Enrolees and node classes anew. A file that does not load keeps the
 * previous credentials of that listener.
 */
static void
reload_certs(struct mef *mef)
{
    struct m2msec_error err = { 0 };
    struct m2msec_db *db = NULL;
    struct cert_union u;
    struct m2msec_tls_cert_opts o;
    int has_cert = mef->d.cfg.cert_path != NULL && mef->d.cfg.key_path != NULL;

    memset(&u, 0, sizeof(u));
    /* The enrolment listener's anchors, collected anew (also to tell a PSK-only one). */
    if (mef->cert_mode || has_cert) {
        db = mefd_db_open(&mef->d, &err);
        if (db == NULL || cert_union_load(db, &u, &err) == -1) {
            log_certs("enrolment", &err, NULL);
        } else if (!mef->cert_mode) {
            if (u.nenrolees + u.nclasses > 0) {
                srv_log_event(SRV_LOG_WARNING, "reload_restart_needed", "keys",
                              "certificate_enrolees", "effect",
                              "the enrolment listener started PSK-only: restart to take "
                              "certificates",
                              NULL);
            }
        } else {
            /* The options are borrowed for the call only: the new server keeps copies. */
            cert_opts_fill(&o, &mef->d, &u);
            if (srv_reload_cert(mef->srv, &o, &err) == -1) {
                log_certs("enrolment", &err, NULL);
            } else {
                log_certs("enrolment", NULL, &u);
            }
        }
        cert_union_clear(&u);
        m2msec_db_close(db);
    }
    if (mef->tgt != NULL) {
        m2msec_error_clear(&err);
        if (srv_reload_cert(mef->tgt->s, &mef->tgt->co, &err) == -1) {
            log_certs("targets", &err, NULL);
        } else {
            log_certs("targets", NULL, NULL);
        }
    }
}

/*
 * SIGHUP: re-read mefd.conf and apply what may change while running (the log
 * level, the timeouts, the sweep interval, the registration lifetime cap) to
 * what starts afterwards. A file that does not load changes nothing; a key that
 * only a restart can change is reported and keeps its running value.
 */
static void
reload(void *arg)
{
    struct mef *mef = arg;
    struct srv *const servers[] = { mef->srv, mef->tgt != NULL ? mef->tgt->s : NULL };

    srv_reload_config(mef->d.conf_path, "mefd", mef->listen_override, &mef->d.cfg, &mef->d.live,
                      servers, sizeof(servers) / sizeof(servers[0]));
    reload_certs(mef);
}

static void *
target_main(void *arg)
{
    struct target_svc *t = arg;

    t->rv = srv_run(t->s, &t->err);
    if (t->rv == -1) {
        srv_log_event(SRV_LOG_ERR, "targets_failed", "error", m2msec_error_msg(&t->err), NULL);
        /* Async-signal-safe, so safe from any thread; a no-op after a normal stop. */
        srv_stop(t->main);
    }
    return NULL;
}

/* Create and bind the target server; logs event=targets_listening. */
static int
target_setup(struct target_svc *t, const struct mefd_dir *d, struct srv *main_srv,
             struct m2msec_error *err)
{
    struct m2msec_tls_cert_opts *co = &t->co;
    struct srv_handlers h;
    struct srv_config cfg = d->cfg; /* shallow: only listen differs, nothing is freed */
    char bound[128];

    t->anchors[0] = d->cfg.target_ca_path;
    memset(co, 0, sizeof(*co));
    co->cert_file = d->cfg.cert_path;
    co->key_file = d->cfg.key_path;
    /*
     * @spec TS-0003 8.3.2.1: the target authenticates to the MEF with
     * certificate credentials; any end entity under target_ca passes TLS,
     * fetch.c then binds it to a configured target by its dNSName.
     */
    co->require_client_cert = 1;
    co->client.flavour = M2MSEC_CERT_ANY;
    co->client.ca_files = t->anchors;
    co->client.n_ca_files = 1;
    t->svc.d = d;
    t->main = main_srv;
    mefd_target_handlers(&t->svc, &h);
    /*
     * PSK targets on the same listener: the server offers PSK suites beside
     * the certificate ones, and fetch.c's lookup finds the key by psk_identity
     * during the handshake. Always on, so `mefd target add --psk-id` needs no
     * restart; with no PSK target every identity fails like a wrong key.
     */
    co->psk_lookup = h.psk_lookup;
    co->psk_arg = h.arg;
    h.cert = co;
    cfg.listen = d->cfg.target_listen;
    t->s = srv_new(&cfg, &h, err);
    if (t->s == NULL) {
        m2msec_error_wrap(err, "target service");
        return -1;
    }
    if (srv_listen(t->s, bound, sizeof(bound), err) == -1) {
        return -1;
    }
    srv_log_event(SRV_LOG_NOTICE, "targets_listening", "addr", bound, "cert", d->cfg.cert_path,
                  "ca", d->cfg.target_ca_path, NULL);
    return 0;
}

/* Run the target server on its own thread, with the process signals blocked there. */
static int
target_start(struct target_svc *t, struct m2msec_error *err)
{
    sigset_t block;
    sigset_t old;
    int r = 0;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &block, &old) != 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE, "pthread_sigmask failed");
    }
    r = pthread_create(&t->tid, NULL, target_main, t);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "cannot start the target service thread");
    }
    t->started = 1;
    return 0;
}

/* Stop and join the target server; 0, or -1 when it had failed. */
static int
target_stop(struct target_svc *t)
{
    if (!t->started) {
        return 0;
    }
    srv_stop(t->s);
    pthread_join(t->tid, NULL);
    t->started = 0;
    return t->rv;
}

int
mefd_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "listen", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct mef mef = { 0 };
    struct m2msec_db *db = NULL;
    struct srv *s = NULL;
    struct target_svc tgt;
    const char *dir = NULL, *listen = NULL;
    char bound[128];
    int c, run, trun, rv = 1;
    struct srv_handlers h = {
        .arg = &mef,
        .worker_init = worker_init,
        .worker_fini = worker_fini,
        .psk_lookup = psk_lookup,
        .conn_open = conn_open,
        .conn_close = conn_close,
        .handle = handle,
        .tick = tick,
        .reload = reload,
    };

    memset(&tgt, 0, sizeof(tgt));
    while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || optind != argc) {
        return mefd_fail("usage: mefd serve -d DIR [--listen ADDR:PORT]");
    }
    /* Before any JSON is made: jansson's copies of a Credential must be wiped on free. */
    m2msec_json_use_wiping_allocator();
    /* Keys live on the secure heap (locked, guarded) in the daemon. */
    if (m2msec_secure_heap_init(1 << 20) == -1) {
        fprintf(stderr, "mefd: warning: secure heap unavailable, using the normal heap\n");
    }
    if (mefd_dir_open(dir, &mef.d, &err) == -1) {
        return mefd_fail("%s", m2msec_error_msg(&err));
    }
    if (listen != NULL) {
        char *l = m2msec_strdup(listen);

        if (l == NULL) {
            mefd_fail("out of memory");
            goto out;
        }
        m2msec_free(mef.d.cfg.listen);
        mef.d.cfg.listen = l;
        mef.listen_override = 1;
    }
    srv_live_set(&mef.d.live, &mef.d.cfg);
    srv_log_init("mefd", mef.d.cfg.log_level, 2);
    /* Open once in the foreground so schema problems stop start-up with a clear message. */
    db = mefd_db_open(&mef.d, &err);
    if (db == NULL || enrolee_cert_setup(&mef, db, &h, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    m2msec_db_close(db);
    db = NULL;
    /* Before the workers exist: they hand every Ke to it. */
    mef.committer = mefd_committer_start(&mef.d, &err);
    if (mef.committer == NULL) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (m2msec_tls_global_init(&err) == -1 || (s = srv_new(&mef.d.cfg, &h, &err)) == NULL ||
        srv_install_signals(s, &err) == -1 || srv_listen(s, bound, sizeof(bound), &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    srv_log_event(SRV_LOG_NOTICE, "listening", "addr", bound, "fqdn", mef.d.cfg.fqdn, "dir", dir,
                  NULL);
    if (mef.d.cfg.target_listen != NULL &&
        (target_setup(&tgt, &mef.d, s, &err) == -1 || target_start(&tgt, &err) == -1)) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    /* Set before srv_run, the only caller of reload, and cleared after it returns. */
    mef.srv = s;
    mef.tgt = tgt.s != NULL ? &tgt : NULL;
    run = srv_run(s, &err);
    mef.srv = NULL;
    mef.tgt = NULL;
    trun = target_stop(&tgt);
    /* The workers are done (or, after a shutdown timeout, any Ke they still ask
     * for is refused): commit what is queued and end the thread. */
    mefd_committer_stop(mef.committer);
    if (run == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (trun == -1) {
        mefd_fail("target service: %s", m2msec_error_msg(&tgt.err));
        goto out;
    }
    rv = 0;
out:
    /* Not started when start-up failed before: then this only frees it. */
    (void)target_stop(&tgt);
    srv_free(tgt.s);
    srv_free(s);
    /* After srv_free: straggling workers may call mefd_ke_commit until then. */
    mefd_committer_free(mef.committer);
    m2msec_db_close(mef.sweep_db);
    m2msec_db_close(db);
    cert_union_clear(&mef.certs);
    mefd_dir_close(&mef.d);
    return rv;
}
