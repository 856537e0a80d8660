/*
 * mafd/serve.c - the MAF service: MAF Handshake, MAF Client Registration,
 * Configuration Retrieval, Registration Update and De-Registration; the key
 * procedures on the same sessions are keys.c's.
 *
 * Layer: daemon (mafd). TLS 1.2 PSK. The PSK lookup accepts two identities:
 * - a KeID naming a configured MEF (TS-0003 8.8.2.3 step 1, remote
 *   provisioning): when mafd already holds a live Km fetched for that KeID it
 *   uses it (8.3.2.1: a target holding the credential does not fetch it
 *   again; seed 001 "KmID := KeID"); otherwise the lookup fetches Km from that
 *   MEF while the handshake waits (fetch.c); any failure makes the identity
 *   unknown, so the handshake fails exactly as with a wrong key;
 * - a KmID "<rel>@<this MAF's FQDN>" of a stored client with a live Km
 *   (8.8.2.2): an assigned one, or one the operator pre-provisioned
 *   (`mafd client add`, 8.8.3.1).
 * Re-enrolment (docs/protocol-maf.md section 2b): a KeID session whose Km was
 * just fetched and whose EnroleeID owns registrations may update one of them;
 * the update switches the client to the new Km under a new KmID and keeps
 * every registration and key registration. A registration on such a session
 * starts afresh instead, replacing the previous client.
 * What the lookup learnt (Km, EnroleeID, Lifetime) is left in a per-worker
 * stash for conn_open of the same connection, as mefd does. The identity of
 * every request is the session's: X-M2M-Origin must be the client's
 * EnroleeID, or on a KmID session also its Credential-ID "11-<KmID>" (10.4).
 *
 * @spec TS-0003 8.8.2.2 certificate clients (with clients.conf): the same
 * listener then runs certificate TLS with the MAF's FQDN certificate and
 * still takes the PSK clients above. A client certificate is verified in the
 * handshake against the configured anchors, CRLs and flavour; the client's id
 * is its certificate identity: the CSE-ID or AE-ID of such a certificate,
 * else the Credential-ID (31-/34-<id>, 10.4). X-M2M-Origin may be that id or
 * the Credential-ID. No Km or KmID is involved (no assignedSymmKeyID): its
 * registrations and keys hang off an owner row of its own
 * (store/maf_cert.h), found or made when the session opens.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "codec/maf_msg.h"
#include "codec/mef_msg.h"
#include "crypto/kdf.h"
#include "crypto/rand.h"
#include "http/http.h"
#include "log.h"
#include "mafd.h"
#include "proto/exchange.h"
#include "proto/ids.h"
#include "server.h"
#include "store/maf_cert.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/time.h"

#define MAX_SEGS 4

struct maf {
    struct mafd_dir d;
    struct m2msec_db *sweep_db; /* housekeeping thread only */
    unsigned port;              /* the bound port, set before the workers run */
    struct srv *srv;            /* SIGHUP (reload): its limits follow the configuration */
    int listen_override;        /* serve --listen: the file's listen is not the running one */
    /* Certificate clients (clients.conf): the listener's options, kept for a reload */
    struct m2msec_tls_cert_opts copts;
    int cert_mode;
};

/* What a handshake's PSK lookup learnt about its identity. */
struct maf_auth {
    char *identity;
    int by_keid;              /* 1: KeID (Km fetched now, or held: kmid_rel set), 0: KmID */
    int by_cert;              /* certificate session: identity is its Credential-ID */
    char kmid_rel[33];        /* KmID sessions, and KeID sessions once registered */
    char *client_id;          /* EnroleeID */
    struct m2msec_secret *km; /* KeID sessions: the fetched Km, to be stored */
    int64_t km_expires;
};

static void
auth_free(struct maf_auth *a)
{
    if (a != NULL) {
        m2msec_free(a->identity);
        m2msec_free(a->client_id);
        m2msec_secret_free(a->km);
        m2msec_free(a);
    }
}

struct maf_worker {
    struct maf *maf;
    struct m2msec_db *db;
    struct maf_auth *stash;
    uint64_t stash_ms;
};

/* Per connection. */
struct maf_conn {
    struct maf_auth *auth;
    char cred_id[M2MSEC_KEYREF_MAX + 8];
    int kc_exported; /* this session's exporter value is registered (one per session) */
};

static void
stash_drop(struct maf_worker *w)
{
    auth_free(w->stash);
    w->stash = NULL;
}

static struct maf_auth *
stash_take(struct maf_worker *w, const char *identity)
{
    struct maf_auth *a = w->stash;
    uint64_t age = m2msec_monotonic_ms() - w->stash_ms;

    w->stash = NULL;
    if (a != NULL && strcmp(a->identity, identity) == 0 /* public */ &&
        age <= (uint64_t)atomic_load(&w->maf->d.live.handshake_timeout_ms) +
                        (uint64_t)atomic_load(&w->maf->d.live.io_timeout_ms) * 3u) {
        return a;
    }
    auth_free(a);
    return NULL;
}

/*
 * A KeID whose Km mafd holds (live): that client, no fetch. 0 held, 1 not
 * held, -1 internal.
 */
static int
lookup_keid_held(struct maf_worker *w, const char *identity, struct maf_auth *a,
                 struct m2msec_secret **key)
{
    struct m2msec_error err = { 0 };
    struct m2msec_maf_client_rec *r = NULL;
    char kmid[M2MSEC_KEYREF_MAX];

    if (m2msec_maf_client_get_by_keid(w->db, identity, m2msec_now(), 1, &r, &err) == -1) {
        if (m2msec_error_code(&err) == M2MSEC_ERR_NOT_FOUND) {
            return 1;
        }
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "psk_lookup", "error",
                      m2msec_error_msg(&err), NULL);
        return -1;
    }
    *key = r->km;
    r->km = NULL;
    a->by_keid = 1;
    memcpy(a->kmid_rel, r->kmid_rel, sizeof(a->kmid_rel));
    a->client_id = r->client_id;
    r->client_id = NULL;
    a->km_expires = r->expires;
    if (m2msec_keyref_format(r->kmid_rel, w->maf->d.cfg.fqdn, kmid, sizeof(kmid), &err) == -1) {
        m2msec_strlcpy(kmid, r->kmid_rel, sizeof(kmid));
    }
    srv_log_event(SRV_LOG_NOTICE, "maf_km_held", "keid", identity, "kmid", kmid, NULL);
    m2msec_maf_client_rec_free(r);
    return 0;
}

/* KeID of a configured MEF: the held Km, else fetch Km (SUID 21). 0, 1 unknown, -1 internal. */
static int
lookup_keid(struct maf_worker *w, const char *identity, const struct mafd_mef *mef,
            struct maf_auth *a, struct m2msec_secret **key)
{
    struct m2msec_error err = { 0 };
    struct mafd_fetched f = { 0 };
    char rsc[16];
    int held = lookup_keid_held(w, identity, a, key);

    if (held != 1) {
        return held;
    }

    if (mafd_fetch_km(&w->maf->d, mef, identity, &f, &err) == -1) {
        snprintf(rsc, sizeof(rsc), "%d", err.rsc);
        srv_log_event(SRV_LOG_NOTICE, "fetch_failed", "keid", identity, "mef", mef->fqdn, "rsc",
                      rsc, "error", m2msec_error_msg(&err), NULL);
        return 1;
    }
    if (f.lifetime <= m2msec_now() || !m2msec_entity_id_valid(f.enrolee_id)) {
        srv_log_event(SRV_LOG_NOTICE, "fetch_failed", "keid", identity, "mef", mef->fqdn, "error",
                      "expired credential or malformed EnroleeID", NULL);
        mafd_fetched_clear(&f);
        return 1;
    }
    *key = m2msec_secret_dup(f.km, &err);
    if (*key == NULL) {
        mafd_fetched_clear(&f);
        return -1;
    }
    a->by_keid = 1;
    a->km = f.km;
    f.km = NULL;
    a->client_id = f.enrolee_id;
    f.enrolee_id = NULL;
    a->km_expires = f.lifetime;
    mafd_fetched_clear(&f);
    return 0;
}

/* KmID of a stored client. 0, 1 unknown, -1 internal. */
static int
lookup_kmid(struct maf_worker *w, const struct m2msec_keyref *ref, struct maf_auth *a,
            struct m2msec_secret **key)
{
    struct m2msec_error err = { 0 };
    struct m2msec_maf_client_rec *r = NULL;

    if (strlen(ref->rel) != 32) {
        return 1;
    }
    if (m2msec_maf_client_get(w->db, ref->rel, m2msec_now(), 1, &r, &err) == -1) {
        if (m2msec_error_code(&err) == M2MSEC_ERR_NOT_FOUND) {
            return 1;
        }
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "psk_lookup", "error",
                      m2msec_error_msg(&err), NULL);
        return -1;
    }
    /* A certificate client's owner row has a Km nobody holds: never a PSK identity. */
    if (r->suid == M2MSEC_MAF_SUID_CERT) {
        m2msec_maf_client_rec_free(r);
        return 1;
    }
    *key = r->km;
    r->km = NULL;
    memcpy(a->kmid_rel, r->kmid_rel, sizeof(a->kmid_rel));
    a->client_id = r->client_id;
    r->client_id = NULL;
    a->km_expires = r->expires;
    m2msec_maf_client_rec_free(r);
    return 0;
}

/*
 * @spec TS-0003 8.8.2.2 (psk_identity = KmID) and 8.8.2.3 step 1 (psk_identity
 * = KeID, Km fetched from the MEF). 1 for everything else.
 */
static int
psk_lookup(void *arg, void *ctx, const char *identity, struct m2msec_secret **key)
{
    struct maf_worker *w = ctx;
    struct m2msec_error err = { 0 };
    struct m2msec_keid keid;
    struct m2msec_keyref ref;
    const struct mafd_mef *mef = NULL;
    struct maf_auth *a = NULL;
    int rv = 1;

    (void)arg;
    stash_drop(w);
    a = m2msec_calloc(1, sizeof(*a));
    if (a == NULL || (a->identity = m2msec_strdup(identity)) == NULL) {
        auth_free(a);
        return -1;
    }
    if (m2msec_keid_parse(identity, &keid, &err) == 0 &&
        (mef = mafd_mef_find(&w->maf->d, keid.fqdn)) != NULL) {
        rv = lookup_keid(w, identity, mef, a, key);
    } else if (m2msec_keyref_parse(identity, &ref, &err) == 0 &&
               m2msec_fqdn_equal(ref.fqdn, w->maf->d.cfg.fqdn)) {
        rv = lookup_kmid(w, &ref, a, key);
    }
    if (rv != 0) {
        auth_free(a);
        return rv;
    }
    w->stash = a;
    w->stash_ms = m2msec_monotonic_ms();
    return 0;
}

static void *
worker_init(void *arg, unsigned idx)
{
    struct maf *maf = arg;
    struct m2msec_error err = { 0 };
    struct maf_worker *w = m2msec_calloc(1, sizeof(*w));

    (void)idx;
    if (w == NULL) {
        return NULL;
    }
    w->maf = maf;
    w->db = mafd_db_open(&maf->d, &err);
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
    struct maf_worker *w = wctx;

    (void)arg;
    if (w != NULL) {
        stash_drop(w);
        m2msec_db_close(w->db);
        m2msec_free(w);
    }
}

static void
conn_state_free(struct maf_conn *mc)
{
    if (mc != NULL) {
        auth_free(mc->auth);
        m2msec_free(mc);
    }
}

/*
 * @spec TS-0003 8.8.2.2 a verified client certificate: its identity (a CSE-ID
 * or AE-ID certificate's id, else its Credential-ID) and the owner row of its
 * registrations. With flavour ANY the certificate's own kind decides, read
 * in the order AE-ID, CSE-ID, Node-ID, device. NULL when it carries none or
 * the store fails (logged).
 */
/*
 * The MAF Client ID of a certificate client: what key registrations name as
 * target (a oneM2M CSE-ID or AE-ID, TS-0001 7.2) and report as sourceID. An
 * AE-ID certificate carries the Absolute AE-ID in URI form
 * "scheme://sp-fqdn/cse/C..." (10.1.1.5): without its scheme it is the
 * Absolute AE-ID "//sp-fqdn/cse/C...". A CSE-ID certificate carries the CSE-ID's
 * public domain name form, which is kept as is (it cannot be turned back
 * into "/cse" [PROJECT]); device and Node-ID certificates have the Credential-ID.
 */
static const char *
cert_client_id(enum m2msec_cert_flavour f, const char *id, const char *cred)
{
    const char *sep = NULL;

    if (f == M2MSEC_CERT_AE_ID) {
        sep = strstr(id, "://");
        return sep != NULL && m2msec_ae_id_valid(sep + 1) ? sep + 1 : id;
    }
    return f == M2MSEC_CERT_CSE_ID ? id : cred;
}

static struct maf_auth *
cert_auth(struct maf_worker *w, struct m2msec_tls_conn *tls)
{
    static const enum m2msec_cert_flavour order[] = {
        M2MSEC_CERT_AE_ID,
        M2MSEC_CERT_CSE_ID,
        M2MSEC_CERT_NODE_ID,
        M2MSEC_CERT_DEVICE,
    };
    struct m2msec_error err = { 0 };
    struct m2msec_maf_client_rec fresh = { 0 };
    enum m2msec_cert_flavour f = M2MSEC_CERT_UNSET;
    struct maf_auth *a = NULL;
    const char *id = m2msec_tls_peer_identity(tls, &f);
    char buf[M2MSEC_CERT_CRED_ID_MAX];
    char cred[M2MSEC_CERT_CRED_ID_MAX];
    size_t i;

    for (i = 0; id == NULL && i < sizeof(order) / sizeof(order[0]); i++) {
        if (m2msec_tls_peer_identity_of(tls, order[i], buf, sizeof(buf), &err) == 0) {
            f = order[i];
            id = buf;
        }
    }
    if (id == NULL || m2msec_tls_peer_credential_id(tls, f, cred, sizeof(cred), &err) == -1) {
        srv_log_event(SRV_LOG_NOTICE, "session_dropped", "peer", m2msec_tls_peer(tls), "reason",
                      "the certificate carries no CSE-ID, AE-ID, Node-ID or device identifier",
                      NULL);
        return NULL;
    }
    a = m2msec_calloc(1, sizeof(*a));
    if (a == NULL || (a->identity = m2msec_strdup(cred)) == NULL ||
        (a->client_id = m2msec_strdup(cert_client_id(f, id, cred))) == NULL) {
        goto fail;
    }
    a->by_cert = 1;
    a->km_expires = M2MSEC_MAF_NO_EXPIRY;
    /* A fresh owner key and an unusable Km, used only when the row does not exist yet. */
    fresh.client_id = a->client_id;
    fresh.expires = M2MSEC_MAF_NO_EXPIRY;
    fresh.created = m2msec_now();
    fresh.km = m2msec_secret_random(32, &err);
    if (fresh.km == NULL || m2msec_rand_hex(fresh.kmid_rel, 16, &err) == -1 ||
        m2msec_maf_cert_client(w->db, cred, &fresh, m2msec_now(), a->kmid_rel, &err) == -1) {
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "cert_client", "error",
                      m2msec_error_msg(&err), NULL);
        goto fail;
    }
    m2msec_secret_free(fresh.km);
    return a;
fail:
    m2msec_secret_free(fresh.km);
    auth_free(a);
    return NULL;
}

static int
conn_open(void *arg, struct srv_conn *c)
{
    struct maf_worker *w = c->wctx;
    struct maf_conn *mc = NULL;
    const char *id = m2msec_tls_psk_identity(c->tls);

    (void)arg;
    if (id == NULL) {
        /* A certificate session (only with clients.conf: PSK-only servers never get here). */
        stash_drop(w);
        mc = m2msec_calloc(1, sizeof(*mc));
        if (mc == NULL || (mc->auth = cert_auth(w, c->tls)) == NULL) {
            conn_state_free(mc);
            return -1;
        }
        c->state = mc;
        srv_log_event(SRV_LOG_NOTICE, "cert_client_session", "peer", m2msec_tls_peer(c->tls),
                      "credential", mc->auth->identity, "client_id", mc->auth->client_id, "cipher",
                      m2msec_tls_cipher(c->tls), NULL);
        return 0;
    }
    mc = m2msec_calloc(1, sizeof(*mc));
    if (mc == NULL) {
        stash_drop(w);
        return -1;
    }
    mc->auth = stash_take(w, id);
    if (mc->auth == NULL) {
        /* The lookup's result is gone (cannot happen in one worker): do not guess. */
        srv_log_event(SRV_LOG_NOTICE, "session_dropped", "identity", id, "reason",
                      "no lookup result", NULL);
        conn_state_free(mc);
        return -1;
    }
    c->state = mc;
    srv_log_event(SRV_LOG_DEBUG, "session_open", "peer", m2msec_tls_peer(c->tls), "identity", id,
                  "client_id", mc->auth->client_id, "cipher", m2msec_tls_cipher(c->tls), "sni",
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

int
mafd_reply_error(struct srv_response *resp, const struct m2msec_error *err)
{
    int rsc = err->rsc != 0 ? err->rsc : M2MSEC_RSC_INTERNAL_SERVER_ERROR;

    if (rsc >= 5000) {
        srv_log_event(SRV_LOG_ERR, "internal_error", "error", m2msec_error_msg(err), NULL);
        return srv_response_error(resp, rsc, "internal error");
    }
    return srv_response_error(resp, rsc, "%s", m2msec_error_msg(err));
}

/* 1 when the originator names the session's client. */
static int
origin_matches(struct maf *maf, struct maf_conn *mc, const char *origin)
{
    char kmid[M2MSEC_KEYREF_MAX];
    struct m2msec_error err = { 0 };

    if (strcmp(origin, mc->auth->client_id) == 0 /* public */) {
        return 1;
    }
    if (mc->auth->by_cert) {
        /* Its Credential-ID; the owner key is internal, never an "11-" KmID. */
        return strcmp(origin, mc->auth->identity) == 0 /* public */;
    }
    if (mc->auth->kmid_rel[0] == '\0' ||
        m2msec_keyref_format(mc->auth->kmid_rel, maf->d.cfg.fqdn, kmid, sizeof(kmid), &err) == -1 ||
        m2msec_credential_id_format(M2MSEC_CRED_KM, kmid, mc->cred_id, sizeof(mc->cred_id), &err) ==
                -1) {
        return 0;
    }
    return strcmp(origin, mc->cred_id) == 0 /* public */;
}

/* @spec TS-0003 8.8.2.3 MAF Client Registration (tables 8.8.2.3-1 and -2) */
static int
h_register(struct maf *maf, struct maf_worker *w, struct maf_conn *mc,
           const struct m2msec_http_msg *req, struct srv_response *resp)
{
    struct maf_auth *a = mc->auth;
    struct m2msec_error err = { 0 };
    struct m2msec_mafreg_req rq = { 0 };
    struct m2msec_mafreg_resp rs = { 0 };
    struct m2msec_maf_client_rec client = { 0 };
    struct m2msec_mafreg_rec reg = { 0 };
    char kmid[M2MSEC_KEYREF_MAX];
    char kcv[M2MSEC_KCV_HEX_LEN];
    char ts[M2MSEC_TIMESTAMP_LEN];
    int64_t now = m2msec_now();
    int64_t max = now + (int64_t)atomic_load(&maf->d.live.reg_lifetime_max_s);
    int new_client = a->by_keid && a->kmid_rel[0] == '\0';

    if (m2msec_mafreg_req_decode(req->body.data, req->body.len, &rq, &err) == -1) {
        return mafd_reply_error(resp, &err);
    }
    if (!m2msec_fqdn_equal(rq.maf_fqdn, maf->d.cfg.fqdn)) {
        m2msec_error_setr(&err, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                          "member 'mafFQDN': '%s' is not this MAF", rq.maf_fqdn);
        goto fail;
    }
    if (!m2msec_fqdn_valid(rq.admin_fqdn)) {
        m2msec_error_setr(&err, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                          "member 'adminFQDN': not a valid FQDN");
        goto fail;
    }
    if (rq.et <= now) {
        m2msec_error_setr(&err, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                          "member 'et': expirationTime is not in the future");
        goto fail;
    }
    /* The registration lives no longer than Km (TS-0003 10.7) nor the configured maximum. */
    reg.expires = rq.et < max ? rq.et : max;
    if (reg.expires > a->km_expires) {
        reg.expires = a->km_expires;
    }
    if (m2msec_rand_hex(reg.reg_id, 16, &err) == -1 ||
        (new_client && m2msec_rand_hex(client.kmid_rel, 16, &err) == -1)) {
        err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        goto fail;
    }
    reg.kmid_rel = new_client ? client.kmid_rel : a->kmid_rel;
    reg.admin_fqdn = rq.admin_fqdn;
    reg.labels = rq.lbl;
    reg.nlabels = rq.nlbl;
    if (new_client) {
        /* @spec TS-0003 8.8.2.3: the MAF assigns the KmID for the provisioned Km. */
        client.keid = a->identity;
        client.client_id = a->client_id;
        client.km = a->km;
        client.expires = a->km_expires;
        client.created = now;
        client.suid = M2MSEC_MAF_SUID_REMOTE;
    }
    /* Durable (client, Km and registration) before the response. */
    if (m2msec_maf_register(w->db, new_client ? &client : NULL, &reg, now, &err) == -1) {
        if (err.rsc == 0) {
            err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        }
        goto fail;
    }
    if (new_client) {
        memcpy(a->kmid_rel, client.kmid_rel, sizeof(a->kmid_rel));
    }
    if (m2msec_keyref_format(reg.kmid_rel, maf->d.cfg.fqdn, kmid, sizeof(kmid), &err) == -1) {
        err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        goto fail;
    }
    rs.reg_id = reg.reg_id;
    rs.lbl = rq.lbl;
    rs.nlbl = rq.nlbl;
    rs.has_lbl = rq.has_lbl;
    rs.et = reg.expires;
    rs.client_id = a->client_id;
    rs.admin_fqdn = rq.admin_fqdn;
    /* Every KeID session learns its KmID, also when mafd already held Km for that KeID. */
    rs.assigned_kmid = a->by_keid ? kmid : NULL;
    if (m2msec_mafreg_resp_encode(&rs, &resp->body, &err) == -1) {
        goto fail;
    }
    resp->rsc = M2MSEC_RSC_CREATED;
    (void)m2msec_timestamp_format(reg.expires, ts);
    if (new_client && m2msec_key_check_value(a->km, kcv, &err) == 0) {
        srv_log_event(SRV_LOG_NOTICE, "maf_client_registered", "kmid", kmid, "keid", a->identity,
                      "client_id", a->client_id, "reg_id", reg.reg_id, "admin_fqdn", rq.admin_fqdn,
                      "expires", ts, "kcv", kcv, NULL);
    } else {
        srv_log_event(SRV_LOG_NOTICE, "maf_client_registered", "kmid", kmid, "client_id",
                      a->client_id, "reg_id", reg.reg_id, "admin_fqdn", rq.admin_fqdn, "expires",
                      ts, NULL);
    }
    m2msec_mafreg_req_clear(&rq);
    return 0;
fail:
    m2msec_mafreg_req_clear(&rq);
    return mafd_reply_error(resp, &err);
}

/*
 * MAF Client Configuration Retrieval, Registration Update and De-Registration
 * (TS-0003 8.8.2.4 - 8.8.2.6) on /maf/<regID>.
 */

/*
 * The live registration reg_id if this session's client owns it: 4004 when
 * absent or expired, 4103 when another client's. A KeID session that has not
 * registered yet (Km just fetched after re-enrolment) owns the registrations
 * of the remotely provisioned client with its EnroleeID: *rekey = 1 then.
 */
static int
reg_owned(struct maf_worker *w, const struct maf_auth *a, const char *reg_id,
          struct m2msec_mafreg_rec **out, int *rekey, struct m2msec_error *err)
{
    struct m2msec_maf_client_rec *owner = NULL;
    int64_t now = m2msec_now();
    int rv = -1;

    *rekey = 0;
    if (m2msec_maf_reg_get(w->db, reg_id, now, out, err) == -1) {
        if (m2msec_error_code(err) == M2MSEC_ERR_NOT_FOUND) {
            m2msec_error_setr(err, M2MSEC_ERR_NOT_FOUND, M2MSEC_RSC_NOT_FOUND,
                              "no registration '%s'", reg_id);
        } else {
            err->rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        }
        return -1;
    }
    if (a->kmid_rel[0] != '\0') {
        if (strcmp((*out)->kmid_rel, a->kmid_rel) == 0 /* public */) {
            rv = 0;
        }
    } else if (a->by_keid) {
        if (m2msec_maf_client_get(w->db, (*out)->kmid_rel, now, 0, &owner, err) == -1 &&
            m2msec_error_code(err) != M2MSEC_ERR_NOT_FOUND) {
            err->rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
            goto out;
        }
        if (owner != NULL && owner->suid == M2MSEC_MAF_SUID_REMOTE &&
            strcmp(owner->client_id, a->client_id) == 0 /* public */) {
            *rekey = 1;
            rv = 0;
        }
    }
    if (rv == -1) {
        m2msec_error_setr(err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                          "registration '%s' belongs to another client", reg_id);
    }
out:
    m2msec_maf_client_rec_free(owner);
    if (rv == -1) {
        m2msec_mafreg_rec_free(*out);
        *out = NULL;
    }
    return rv;
}

/* @spec TS-0003 8.8.2.4 MAF Client Configuration Retrieval (table 8.8.2.4-2) */
static int
h_reg_config(struct maf *maf, struct maf_worker *w, struct maf_conn *mc, const char *reg_id,
             struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mafreg_rec *rec = NULL;
    struct m2msec_mefreg_cfg cfg = { 0 };
    int rekey = 0;
    int rv;

    if (reg_owned(w, mc->auth, reg_id, &rec, &rekey, &err) == -1) {
        return mafd_reply_error(resp, &err);
    }
    /* The configuration the MAF holds for the record: sec:clientRegCfg (8.8.3.2). */
    cfg.fqdn = maf->d.cfg.fqdn;
    cfg.admin_fqdn = rec->admin_fqdn;
    cfg.http_port = maf->port;
    cfg.et = rec->expires;
    cfg.has_et = 1;
    cfg.lbl = rec->labels;
    cfg.nlbl = rec->nlabels;
    cfg.has_lbl = rec->labels != NULL;
    rv = m2msec_reg_cfg_encode(M2MSEC_REG_MAF, &cfg, &resp->body, &err);
    m2msec_mafreg_rec_free(rec);
    if (rv == -1) {
        return mafd_reply_error(resp, &err);
    }
    resp->rsc = M2MSEC_RSC_OK;
    return 0;
}

/*
 * @spec TS-0003 8.8.2.5 MAF Client Registration Update (tables 8.8.2.5-1 and
 * -2). On a KeID session after re-enrolment it also establishes the new
 * Km/KmID: assignedSymmKeyID is returned "when a new Km is remotely
 * provisioned".
 */
static int
h_reg_update(struct maf *maf, struct maf_worker *w, struct maf_conn *mc, const char *reg_id,
             const struct m2msec_http_msg *req, struct srv_response *resp)
{
    struct maf_auth *a = mc->auth;
    struct m2msec_error err = { 0 };
    struct m2msec_mefreg_update up = { 0 }, out = { 0 };
    struct m2msec_mafreg_rec *rec = NULL;
    struct m2msec_maf_client_rec nc = { 0 };
    char kmid[M2MSEC_KEYREF_MAX];
    char kcv[M2MSEC_KCV_HEX_LEN];
    char ts[M2MSEC_TIMESTAMP_LEN];
    int64_t now = m2msec_now();
    int64_t max = now + (int64_t)atomic_load(&maf->d.live.reg_lifetime_max_s);
    int64_t granted = 0;
    int rekey = 0;

    if (m2msec_reg_update_decode(M2MSEC_REG_MAF, req->body.data, req->body.len, 1, &up, &err) ==
        -1) {
        return mafd_reply_error(resp, &err);
    }
    if (!m2msec_fqdn_equal(up.mef_fqdn, maf->d.cfg.fqdn)) {
        m2msec_error_setr(&err, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                          "member 'mafFQDN': '%s' is not this MAF", up.mef_fqdn);
        goto fail;
    }
    if (reg_owned(w, a, reg_id, &rec, &rekey, &err) == -1) {
        goto fail;
    }
    if (up.has_et) {
        if (up.et <= now) {
            m2msec_error_setr(&err, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                              "member 'et': expirationTime is not in the future");
            goto fail;
        }
        /* As at registration: capped by policy and by Km (TS-0003 10.7). */
        granted = up.et < max ? up.et : max;
        if (granted > a->km_expires) {
            granted = a->km_expires;
        }
    }
    if (rekey) {
        if (m2msec_rand_hex(nc.kmid_rel, 16, &err) == -1) {
            err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
            goto fail;
        }
        nc.keid = a->identity;
        nc.client_id = a->client_id;
        nc.km = a->km;
        nc.expires = a->km_expires;
        nc.created = now;
        nc.suid = M2MSEC_MAF_SUID_REMOTE;
    }
    /* Durable (with the new Km when re-keying) before the response. */
    if (m2msec_maf_reg_update(w->db, rekey ? &nc : NULL, reg_id, now, up.has_et, granted,
                              up.has_lbl, up.lbl, up.nlbl, &err) == -1) {
        if (m2msec_error_code(&err) != M2MSEC_ERR_NOT_FOUND) {
            err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        }
        goto fail;
    }
    if (rekey) {
        memcpy(a->kmid_rel, nc.kmid_rel, sizeof(a->kmid_rel));
    }
    if (m2msec_keyref_format(rekey ? nc.kmid_rel : rec->kmid_rel, maf->d.cfg.fqdn, kmid,
                             sizeof(kmid), &err) == -1) {
        err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        goto fail;
    }
    /* Only what the request carried comes back (table 8.8.2.5-2 NOTE). */
    out.has_et = up.has_et;
    out.et = granted;
    out.has_lbl = up.has_lbl;
    out.lbl = up.lbl;
    out.nlbl = up.nlbl;
    out.assigned_kmid = rekey ? kmid : NULL;
    if (m2msec_reg_update_encode(M2MSEC_REG_MAF, &out, 0, &resp->body, &err) == -1) {
        goto fail;
    }
    resp->rsc = M2MSEC_RSC_UPDATED;
    if (rekey && m2msec_key_check_value(a->km, kcv, &err) == 0) {
        srv_log_event(SRV_LOG_NOTICE, "maf_client_rekeyed", "kmid", kmid, "keid", a->identity,
                      "client_id", a->client_id, "reg_id", reg_id, "kcv", kcv, NULL);
    }
    if (up.has_et) {
        (void)m2msec_timestamp_format(granted, ts);
    } else {
        m2msec_strlcpy(ts, "-", sizeof(ts));
    }
    srv_log_event(SRV_LOG_NOTICE, "maf_client_updated", "reg_id", reg_id, "kmid", kmid, "expires",
                  ts, NULL);
    m2msec_mafreg_rec_free(rec);
    m2msec_mefreg_update_clear(&up);
    return 0;
fail:
    m2msec_mafreg_rec_free(rec);
    m2msec_mefreg_update_clear(&up);
    return mafd_reply_error(resp, &err);
}

/* @spec TS-0003 8.8.2.6 MAF Client De-Registration: the record and its key registrations. */
static int
h_reg_delete(struct maf_worker *w, struct maf_conn *mc, const char *reg_id,
             struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mafreg_rec *rec = NULL;
    size_t nkeys = 0;
    char n[24];
    int rekey = 0;

    if (reg_owned(w, mc->auth, reg_id, &rec, &rekey, &err) == -1) {
        return mafd_reply_error(resp, &err);
    }
    m2msec_mafreg_rec_free(rec);
    if (m2msec_maf_reg_delete(w->db, reg_id, m2msec_now(), &nkeys, &err) == -1) {
        if (m2msec_error_code(&err) != M2MSEC_ERR_NOT_FOUND) {
            err.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
        }
        return mafd_reply_error(resp, &err);
    }
    resp->rsc = M2MSEC_RSC_DELETED;
    snprintf(n, sizeof(n), "%zu", nkeys);
    srv_log_event(SRV_LOG_NOTICE, "maf_client_deregistered", "reg_id", reg_id, "client_id",
                  mc->auth->client_id, "keys_erased", n, NULL);
    return 0;
}

static int
handle(void *arg, struct srv_conn *c, const struct m2msec_http_msg *req, struct srv_response *resp)
{
    struct maf *maf = arg;
    struct maf_worker *w = c->wctx;
    struct maf_conn *mc = c->state;
    const char *origin = m2msec_http_header_get(req, M2MSEC_HDR_ORIGIN);
    char *segs[MAX_SEGS];
    char storage[1024];
    int n;

    n = srv_path_split(req->target, segs, MAX_SEGS, storage, sizeof(storage));
    if (n < 0) {
        return srv_response_error(resp, M2MSEC_RSC_BAD_REQUEST, "malformed request target");
    }
    if (origin == NULL || !origin_matches(maf, mc, origin)) {
        return srv_response_error(resp, M2MSEC_RSC_ORIGINATOR_NOT_AUTHENTICATED,
                                  "X-M2M-Origin does not match the authenticated credential");
    }
    if (n < 1 || strcmp(segs[0], M2MSEC_PATH_MAF_BASE) != 0) {
        return srv_response_error(resp, M2MSEC_RSC_NOT_FOUND, "no such resource");
    }
    /* /maf/<regID>/keys and /maf/keys/<RelativeKeyID>: the key registry (keys.c). */
    if (mafd_keys_route(segs, n)) {
        struct mafd_key_session ks = {
            .db = w->db,
            .tls = c->tls,
            .fqdn = maf->d.cfg.fqdn,
            .lifetime_max_s = (uint64_t)atomic_load(&maf->d.live.reg_lifetime_max_s),
            .kmid_rel = mc->auth->kmid_rel,
            .client_id = mc->auth->client_id,
            .km_expires = mc->auth->km_expires,
            .kc_exported = &mc->kc_exported,
        };

        return mafd_keys_handle(&ks, segs, n, req, resp);
    }
    /* /maf/<regID>: Configuration Retrieval, Registration Update, De-Registration. */
    if (n == 2) {
        if (req->method == M2MSEC_HTTP_GET) {
            return h_reg_config(maf, w, mc, segs[1], resp);
        }
        if (req->method == M2MSEC_HTTP_PUT) {
            return h_reg_update(maf, w, mc, segs[1], req, resp);
        }
        if (req->method == M2MSEC_HTTP_DELETE) {
            return h_reg_delete(w, mc, segs[1], resp);
        }
        return srv_response_error(resp, M2MSEC_RSC_OPERATION_NOT_ALLOWED, "%s is not allowed on %s",
                                  m2msec_http_method_name(req->method), req->target);
    }
    if (n != 1) {
        return srv_response_error(resp, M2MSEC_RSC_NOT_FOUND, "no such resource");
    }
    if (req->method != M2MSEC_HTTP_POST) {
        return srv_response_error(resp, M2MSEC_RSC_OPERATION_NOT_ALLOWED, "%s is not allowed on %s",
                                  m2msec_http_method_name(req->method), req->target);
    }
    return h_register(maf, w, mc, req, resp);
}

/* Housekeeping: erase expired clients and registrations (TS-0003 10.7). */
static void
tick(void *arg)
{
    struct maf *maf = arg;
    struct m2msec_error err = { 0 };
    size_t erased = 0;
    char n[24];

    if (maf->sweep_db == NULL) {
        maf->sweep_db = mafd_db_open(&maf->d, &err);
        if (maf->sweep_db == NULL) {
            srv_log_event(SRV_LOG_ERR, "store_error", "op", "sweep_open", "error",
                          m2msec_error_msg(&err), NULL);
            return;
        }
    }
    if (m2msec_maf_sweep(maf->sweep_db, m2msec_now(), &erased, &err) == -1) {
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "sweep", "error", m2msec_error_msg(&err),
                      NULL);
        return;
    }
    if (erased > 0) {
        snprintf(n, sizeof(n), "%zu", erased);
        srv_log_event(SRV_LOG_NOTICE, "swept", "erased", n, NULL);
    }
}

/*
 * Load the MAF's certificate and key and the MEF trust anchors once, as a
 * fetch would, so that an unreadable or unusable file stops start-up instead
 * of failing each client's first handshake later.
 */
static int
check_fetch_credentials(const struct mafd_dir *d, struct m2msec_error *err)
{
    const char *anchors[1] = { d->mef_ca };
    struct m2msec_tls_cert_opts o;
    struct m2msec_tls_cert_server *probe = NULL;

    memset(&o, 0, sizeof(o));
    o.cert_file = d->cfg.cert_path;
    o.key_file = d->cfg.key_path;
    o.require_client_cert = 1;
    o.client.flavour = M2MSEC_CERT_ANY;
    o.client.ca_files = anchors;
    o.client.n_ca_files = 1;
    probe = m2msec_tls_cert_server_new(&o, err);
    if (probe == NULL) {
        m2msec_error_wrap(err, "checking the MAF certificate, key and MEF trust anchors");
        return -1;
    }
    m2msec_tls_cert_server_free(probe);
    return 0;
}

/*
 * SIGHUP: re-read mafd.conf and apply what may change while running (the log
 * level, the timeouts, the sweep interval, the registration lifetime cap) to
 * what starts afterwards. A file that does not load changes nothing; a key that
 * only a restart can change is reported and keeps its running value. mefs.conf
 * and clients.conf are read at start only.
 */
static void
reload(void *arg)
{
    struct maf *maf = arg;
    struct srv *const servers[] = { maf->srv };
    char *conf = mafd_path_join(maf->d.dir, MAFD_CONF_FILE);

    if (conf == NULL) {
        srv_log_event(SRV_LOG_ERR, "reload_failed", "error", "out of memory", "effect",
                      "nothing changed", NULL);
        return;
    }
    srv_reload_config(conf, "mafd", maf->listen_override, &maf->d.cfg, &maf->d.live, servers, 1);
    m2msec_free(conf);
    /* The certificate, key, anchor and CRL files again (same paths), for new connections. */
    if (maf->cert_mode) {
        struct m2msec_error err = { 0 };

        if (srv_reload_cert(maf->srv, &maf->copts, &err) == -1) {
            srv_log_event(SRV_LOG_ERR, "reload_failed", "what", "certificates", "error",
                          m2msec_error_msg(&err), "effect", "previous certificates kept", NULL);
        } else {
            srv_log_event(SRV_LOG_NOTICE, "certificates_reloaded", "service", "maf", NULL);
        }
    }
}

int
mafd_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "listen", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    struct m2msec_error err = { 0 };
    struct maf maf;
    struct m2msec_db *db = NULL;
    struct srv *s = NULL;
    const char *dir = NULL, *listen = NULL;
    const char *port_s = NULL;
    char bound[128];
    uint64_t port = 0;
    int c, rv = 1;
    struct srv_handlers h = {
        .arg = &maf,
        .worker_init = worker_init,
        .worker_fini = worker_fini,
        .psk_lookup = psk_lookup,
        .conn_open = conn_open,
        .conn_close = conn_close,
        .handle = handle,
        .tick = tick,
        .reload = reload,
    };

    memset(&maf, 0, sizeof(maf));
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
        return mafd_fail("usage: mafd serve -d DIR [--listen ADDR:PORT]");
    }
    if (m2msec_secure_heap_init(1 << 20) == -1) {
        fprintf(stderr, "mafd: warning: secure heap unavailable, using the normal heap\n");
    }
    /* Key Registration and Retrieval carry keys in JSON: jansson's copies are wiped too. */
    m2msec_json_use_wiping_allocator();
    if (mafd_dir_open(dir, &maf.d, &err) == -1) {
        return mafd_fail("%s", m2msec_error_msg(&err));
    }
    if (listen != NULL) {
        char *l = m2msec_strdup(listen);

        if (l == NULL) {
            mafd_fail("out of memory");
            goto out;
        }
        m2msec_free(maf.d.cfg.listen);
        maf.d.cfg.listen = l;
        maf.listen_override = 1;
    }
    srv_live_set(&maf.d.live, &maf.d.cfg);
    srv_log_init("mafd", maf.d.cfg.log_level, 2);
    db = mafd_db_open(&maf.d, &err);
    if (db == NULL) {
        mafd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    m2msec_db_close(db);
    db = NULL;
    if (maf.d.nclient_ca > 0) {
        /* @spec TS-0003 8.8.2.2: certificate clients beside the PSK ones, one listener. */
        memset(&maf.copts, 0, sizeof(maf.copts));
        maf.copts.cert_file = maf.d.cfg.cert_path;
        maf.copts.key_file = maf.d.cfg.key_path;
        maf.copts.require_client_cert = 1;
        maf.copts.client.flavour =
                maf.d.client_flavour != M2MSEC_CERT_UNSET ? maf.d.client_flavour : M2MSEC_CERT_ANY;
        maf.copts.client.ca_files = (const char *const *)maf.d.client_ca;
        maf.copts.client.n_ca_files = maf.d.nclient_ca;
        maf.copts.client.crl_files = (const char *const *)maf.d.client_crl;
        maf.copts.client.n_crl_files = maf.d.nclient_crl;
        maf.copts.psk_lookup = psk_lookup;
        maf.copts.psk_arg = &maf;
        h.cert = &maf.copts;
        maf.cert_mode = 1;
    }
    if (m2msec_tls_global_init(&err) == -1 || check_fetch_credentials(&maf.d, &err) == -1 ||
        (s = srv_new(&maf.d.cfg, &h, &err)) == NULL || srv_install_signals(s, &err) == -1 ||
        srv_listen(s, bound, sizeof(bound), &err) == -1) {
        mafd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    srv_log_event(SRV_LOG_NOTICE, "listening", "addr", bound, "fqdn", maf.d.cfg.fqdn, "dir", dir,
                  "clients", maf.d.nclient_ca > 0 ? "psk+cert" : "psk", NULL);
    /* The port clients reach: the configuration retrieval names it (httpPort). */
    port_s = strrchr(bound, ':');
    if (port_s != NULL && m2msec_parse_u64(port_s + 1, strlen(port_s + 1), 65535, &port) == 0) {
        maf.port = (unsigned)port;
    }
    /* Set before srv_run, the only caller of reload, and cleared after it returns. */
    maf.srv = s;
    if (srv_run(s, &err) == -1) {
        maf.srv = NULL;
        mafd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    maf.srv = NULL;
    rv = 0;
out:
    srv_free(s);
    m2msec_db_close(maf.sweep_db);
    mafd_dir_close(&maf.d);
    return rv;
}
