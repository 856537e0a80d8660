/*
 * mefd/fetch.c - the Enrolment Target service: GET /fetchCredentials/<KeID>/<SUID>.
 *
 * Layer: daemon (mefd). Runs as a second srv instance in certificate mode
 * (serve.c starts it) on one listener for two kinds of target:
 *
 * - certificate targets: mutual TLS, client certificates under target_ca, any
 *   end entity accepted at the TLS level. The connection is then bound to the
 *   Enrolment Target whose configured certificate FQDN is one of the
 *   certificate's SAN dNSName entries (the first, in certificate order, that
 *   names a target); without one every request is refused with 4103.
 * - PSK targets: TLS 1.2 PSK on the same listener (the server offers both
 *   kinds of suite). The psk_identity is looked up among the targets' PSK
 *   identities during the handshake (tgt_psk_lookup); an unknown one fails
 *   the handshake exactly like a wrong key. The connection is bound to that
 *   target, and stays bound only while the target keeps the key it
 *   authenticated with.
 *
 * As on the enrolment service, the identity comes from the session only:
 * X-M2M-Origin must name the bound target.
 *
 * PKI bootstrap (seed 002, boot.c): a root credential's identifier is in
 * the KeID namespace. A fetch whose KeID names no Ke but a live root
 * credential hands out the root credential itself (not derived) to the one
 * target its node class's purpose names, with the purpose's SUID.
 *
 * Answers carry the bodies of TS-0003 tables 8.3.2.1-5 / 8.3.2.1-6
 * (codec/mef_msg.h m2msec_fetch_resp), with the oneM2M RSC in X-M2M-RSC; the
 * m2m:dbg body of the other services is not used here. Refusal texts are
 * fixed: the log line says more than the peer learns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/bootstrap.h"
#include "codec/mef_msg.h"
#include "crypto/kdf.h"
#include "http/http.h"
#include "log.h"
#include "mefd.h"
#include "proto/ids.h"
#include "server.h"
#include "tls/x509.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

/* @spec TS-0003 8.3.2.1 the target URI of the fetch request, as the clause names it */
#define FETCH_PATH "fetchCredentials"
#define MAX_SEGS   4

#define TXT_UNBOUND      "not a configured Enrolment Target"
#define TXT_ORIGIN       "X-M2M-Origin does not name the authenticated Enrolment Target"
#define TXT_UNKNOWN_KEID "unknown or expired KeID"
#define TXT_DENIED       "not authorised"

/* SUIDs of credentials derived from Ke (TS-0004 m2m:suid 21..25). */
#define SUID_MAF     21u
#define SUID_SAEF    22u
#define SUID_RSPF_LO 21u
#define SUID_RSPF_HI 25u

int
mefd_suid_fits(const char *id, unsigned suid)
{
    if (suid == SUID_MAF) {
        return m2msec_fqdn_valid(id);
    }
    if (suid > SUID_MAF && suid <= SUID_RSPF_HI) {
        return m2msec_entity_id_valid(id);
    }
    return 0;
}

int
mefd_suids_parse(const char *csv, unsigned out[MEFD_TARGET_SUIDS_MAX], size_t *n)
{
    const char *p = csv;
    const char *comma = NULL;
    uint64_t v = 0;
    size_t len = 0;
    size_t i = 0;

    *n = 0;
    for (;;) {
        comma = strchr(p, ',');
        len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (*n == MEFD_TARGET_SUIDS_MAX || m2msec_parse_u64(p, len, SUID_RSPF_HI, &v) == -1 ||
            v < SUID_RSPF_LO) {
            return -1;
        }
        for (i = 0; i < *n; i++) {
            if (out[i] == (unsigned)v) {
                return -1;
            }
        }
        out[(*n)++] = (unsigned)v;
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

/*
 * Per worker: its own store connection, and what the PSK lookup of the
 * handshake in progress found (a worker runs one handshake at a time, and
 * tgt_conn_open follows it on the same thread).
 */
struct tgt_worker {
    struct mefd_targets *svc;
    struct m2msec_db *db;
    char hs_psk_id[M2MSEC_TARGET_PSK_ID_MAX + 1];
    char hs_kcv[M2MSEC_KCV_HEX_LEN]; /* check value of the key the handshake used */
};

/* Per connection: the bound target (NULL: the certificate names none, or the PSK is gone). */
struct tgt_conn {
    struct m2msec_target_rec *target;
    unsigned suids[MEFD_TARGET_SUIDS_MAX];
    size_t nsuids;
    int is_maf; /* its id is a MAF FQDN (SUID 21): compared case-insensitively */
    int by_psk; /* authenticated with a PSK (else a certificate) */
    char psk_kcv[M2MSEC_KCV_HEX_LEN]; /* by_psk: the key the session was authenticated with */
};

static void *
tgt_worker_init(void *arg, unsigned idx)
{
    struct mefd_targets *svc = arg;
    struct m2msec_error err = { 0 };
    struct tgt_worker *w = m2msec_calloc(1, sizeof(*w));

    (void)idx;
    if (w == NULL) {
        return NULL;
    }
    w->svc = svc;
    w->db = mefd_db_open(svc->d, &err);
    if (w->db == NULL) {
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "open", "error", m2msec_error_msg(&err),
                      NULL);
        m2msec_free(w);
        return NULL;
    }
    return w;
}

static void
tgt_worker_fini(void *arg, void *wctx)
{
    struct tgt_worker *w = wctx;

    (void)arg;
    if (w != NULL) {
        m2msec_db_close(w->db);
        m2msec_free(w);
    }
}

static void
tgt_conn_free(struct tgt_conn *tc)
{
    if (tc != NULL) {
        m2msec_target_rec_free(tc->target);
        m2msec_free(tc);
    }
}

/*
 * Bind tc to the target whose certificate name is cert_fqdn, or (tc->by_psk)
 * whose PSK identity is psk_id, as the store has it now (none: tc->target
 * stays NULL). Also run before every request, so a target removed or re-added
 * by the administrator takes effect at once, not when a keep-alive connection
 * ends; a PSK target re-added with another key no longer holds a session
 * authenticated with the old one. 0, or -1 on a store failure.
 */
static int
tgt_bind(struct tgt_worker *w, struct tgt_conn *tc, const char *cert_fqdn, const char *psk_id)
{
    struct m2msec_error err = { 0 };
    struct m2msec_target_rec *t = NULL;
    size_t i = 0;
    int rc = 0;

    m2msec_target_rec_free(tc->target);
    tc->target = NULL;
    tc->nsuids = 0;
    tc->is_maf = 0;
    rc = tc->by_psk ? m2msec_mef_target_get_by_psk(w->db, psk_id, 0, &t, &err)
                    : m2msec_mef_target_get_by_cert(w->db, cert_fqdn, &t, &err);
    if (rc == -1) {
        if (m2msec_error_code(&err) == M2MSEC_ERR_NOT_FOUND) {
            return 0;
        }
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "target_lookup", "error",
                      m2msec_error_msg(&err), NULL);
        return -1;
    }
    if (tc->by_psk && (t->psk_kcv == NULL || strcmp(t->psk_kcv, tc->psk_kcv) != 0 /* public */)) {
        /* The check value is public; a changed key makes this a target we did not authenticate. */
        m2msec_target_rec_free(t);
        return 0;
    }
    if (mefd_suids_parse(t->suids, tc->suids, &tc->nsuids) == -1) {
        /* Only a hand-edited store gets here: `mefd target add` validates. */
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "target_lookup", "target", t->id, "error",
                      "malformed SUID list", NULL);
        m2msec_target_rec_free(t);
        return -1;
    }
    for (i = 0; i < tc->nsuids; i++) {
        tc->is_maf |= tc->suids[i] == SUID_MAF;
    }
    tc->target = t;
    return 0;
}

/*
 * @spec TS-0003 8.3.2.1: a target may authenticate to the MEF with a PSK
 * configured for it. The TLS layer's lookup during the handshake: the key of
 * the target with this PSK identity. 1 (unknown: the handshake then fails
 * like a wrong key) when no target has it; -1 on a store failure.
 */
static int
tgt_psk_lookup(void *arg, void *ctx, const char *identity, struct m2msec_secret **key)
{
    struct tgt_worker *w = ctx;
    struct m2msec_error err = { 0 };
    struct m2msec_target_rec *t = NULL;

    (void)arg;
    w->hs_psk_id[0] = '\0';
    w->hs_kcv[0] = '\0';
    if (strlen(identity) > M2MSEC_TARGET_PSK_ID_MAX) {
        return 1;
    }
    if (m2msec_mef_target_get_by_psk(w->db, identity, 1, &t, &err) == -1) {
        if (m2msec_error_code(&err) == M2MSEC_ERR_NOT_FOUND) {
            return 1;
        }
        srv_log_event(SRV_LOG_ERR, "store_error", "op", "target_psk_lookup", "error",
                      m2msec_error_msg(&err), NULL);
        return -1;
    }
    (void)m2msec_strlcpy(w->hs_psk_id, identity, sizeof(w->hs_psk_id));
    (void)m2msec_strlcpy(w->hs_kcv, t->psk_kcv, sizeof(w->hs_kcv));
    *key = t->psk;
    t->psk = NULL;
    m2msec_target_rec_free(t);
    return 0;
}

/*
 * Bind the connection to its target. A certificate: the TLS layer verified
 * the chain under target_ca; which target the certificate stands for is
 * decided here, by its dNSName entries only. A PSK: the target whose key the
 * handshake used (tgt_psk_lookup).
 */
static int
tgt_conn_open(void *arg, struct srv_conn *c)
{
    struct tgt_worker *w = c->wctx;
    struct tgt_conn *tc = NULL;
    enum m2msec_san_type type = M2MSEC_SAN_DNS;
    const char *san = NULL;
    const char *psk_id = m2msec_tls_psk_identity(c->tls);
    size_t n = m2msec_tls_peer_san_count(c->tls);
    size_t i = 0;

    (void)arg;
    tc = m2msec_calloc(1, sizeof(*tc));
    if (tc == NULL) {
        return -1;
    }
    if (psk_id != NULL) {
        tc->by_psk = 1;
        /* Always set: an identity the lookup did not know never completes the handshake. */
        if (strcmp(w->hs_psk_id, psk_id) != 0 /* public */ ||
            m2msec_strlcpy(tc->psk_kcv, w->hs_kcv, sizeof(tc->psk_kcv)) != 0 ||
            tgt_bind(w, tc, NULL, psk_id) == -1) {
            tgt_conn_free(tc);
            return -1;
        }
        n = 0;
    }
    for (i = 0; i < n && tc->target == NULL; i++) {
        san = m2msec_tls_peer_san(c->tls, i, &type);
        if (san == NULL || type != M2MSEC_SAN_DNS || !m2msec_fqdn_valid(san)) {
            continue;
        }
        if (tgt_bind(w, tc, san, NULL) == -1) {
            tgt_conn_free(tc);
            return -1;
        }
    }
    c->state = tc;
    if (tc->by_psk) {
        srv_log_event(SRV_LOG_DEBUG, "target_session", "peer", m2msec_tls_peer(c->tls), "target",
                      tc->target != NULL ? tc->target->id : NULL, "psk_id", psk_id, "cipher",
                      m2msec_tls_cipher(c->tls), NULL);
    } else {
        srv_log_event(SRV_LOG_DEBUG, "target_session", "peer", m2msec_tls_peer(c->tls), "target",
                      tc->target != NULL ? tc->target->id : NULL, "cert",
                      m2msec_tls_peer_san(c->tls, 0, NULL), "cipher", m2msec_tls_cipher(c->tls),
                      NULL);
    }
    return 0;
}

static void
tgt_conn_close(void *arg, struct srv_conn *c)
{
    (void)arg;
    tgt_conn_free(c->state);
    c->state = NULL;
}

/* 1 when a and b name the same target: FQDNs case-insensitively, other ids exactly. */
static int
id_equal(const struct tgt_conn *tc, const char *a, const char *b)
{
    return tc->is_maf ? m2msec_fqdn_equal(a, b) : strcmp(a, b) == 0 /* public */;
}

/*
 * @spec TS-0003 8.3.2.1 table 8.3.2.1-6: Status false and an ErrorString, with
 * the oneM2M RSC. reason goes to the log only.
 */
static int
refuse(struct srv_response *resp, const struct tgt_conn *tc, int rsc, const char *text,
       const char *reason)
{
    struct m2msec_fetch_resp r = { 0 };
    struct m2msec_error err = { 0 };
    char rsc_s[16];
    char *msg = NULL;

    (void)snprintf(rsc_s, sizeof(rsc_s), "%d", rsc);
    srv_log_event(SRV_LOG_NOTICE, "fetch_refused", "target",
                  tc != NULL && tc->target != NULL ? tc->target->id : NULL, "rsc", rsc_s, "reason",
                  reason, NULL);
    msg = m2msec_strdup(text);
    r.status = 0;
    r.error_string = msg;
    m2msec_buf_reset(&resp->body);
    resp->rsc = rsc;
    if (msg == NULL || m2msec_fetch_resp_encode(&r, &resp->body, &err) == -1) {
        /* Our own fixed texts always encode: only memory can be short here. */
        m2msec_buf_reset(&resp->body);
        resp->rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
    }
    m2msec_free(msg);
    return 0;
}

static int
refuse_internal(struct srv_response *resp, const struct tgt_conn *tc, const char *op,
                const struct m2msec_error *err)
{
    srv_log_event(SRV_LOG_ERR, "internal_error", "op", op, "error", m2msec_error_msg(err), NULL);
    return refuse(resp, tc, M2MSEC_RSC_INTERNAL_SERVER_ERROR, "internal error", op);
}

/*
 * @spec TS-0003 10.3.7 usage-constrained key; legacy targets 10.3.2 (Km, SUID
 * 21) and 10.3.3 (Kpsa, SUID 22) (DEFECT-7: per-target switch).
 *
 * DEFECT-19: 10.3.7 asks for "the FQDN representation" of the target's
 * identity, which is not defined for AE-IDs. The Enrolment-Target-ID input is
 * the target id exactly as configured with `mefd target add` (a MAF FQDN, or
 * the CSE-ID / AE-ID string of an Enrolee B); the legacy forms take the same
 * string as MAF-ID / Enrolee-B-ID. This is the only place that decides it.
 */
static int
derive(const struct m2msec_secret *ke, const struct m2msec_target_rec *t, unsigned suid,
       struct m2msec_secret **out, struct m2msec_error *err)
{
    if (!t->legacy) {
        return m2msec_derive_usage_constrained(ke, suid, t->id, out, err);
    }
    if (suid == SUID_MAF) {
        return m2msec_derive_km_legacy(ke, t->id, out, err);
    }
    if (suid == SUID_SAEF) {
        return m2msec_derive_kpsa_legacy(ke, t->id, out, err);
    }
    return m2msec_error_setr(err, M2MSEC_ERR_REFUSED, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                             "no legacy derivation for SUID %u", suid);
}

/*
 * 0 when the target may receive this Enrolee's key for suid, else -1 with the
 * reason for the log.
 * @spec TS-0003 8.3.2.1 step f.ii: the target id (from the originator) and the
 * SUID must be configured for the Enrolee; our policy adds that the SUID fits
 * the kind of target (21 for a MAF, 22..25 for an Enrolee B).
 */
static int
authorise(const struct tgt_conn *tc, const struct m2msec_enrolee_rec *e, unsigned suid,
          const char **reason)
{
    const struct m2msec_target_rec *t = tc->target;
    size_t i = 0;
    int listed = 0;
    int allowed = 0;

    for (i = 0; i < e->ntargets && !listed; i++) {
        listed = id_equal(tc, e->targets[i], t->id);
    }
    for (i = 0; i < tc->nsuids && !allowed; i++) {
        allowed = tc->suids[i] == suid;
    }
    if (!listed) {
        *reason = "target not configured for the Enrolee";
        return -1;
    }
    if (!allowed) {
        *reason = "SUID not configured for the target";
        return -1;
    }
    if (!mefd_suid_fits(t->id, suid)) {
        *reason = "SUID does not fit the kind of target";
        return -1;
    }
    if (t->legacy && suid != SUID_MAF && suid != SUID_SAEF) {
        *reason = "no legacy derivation for the SUID";
        return -1;
    }
    return 0;
}

/*
 * @spec seed 002 x.1.2.1.2 step 4 with TS-0003 8.3.2.1 steps f.i to f.vi: a
 * root credential (found by rel) served like a provisioned key. The purpose
 * is the authorisation: "maf:<FQDN>" only to that MAF with SUID 21,
 * "cse:<CSE-ID>" only to that CSE with SUID 22, and the target must be
 * allowed the SUID. The credential is the root credential itself (it IS the
 * Km or Kpsa: PROTOCOL.md 13). 1 when rel names no live root credential.
 */
static int
fetch_root(struct tgt_worker *w, const struct tgt_conn *tc, const uint8_t rel[16], unsigned suid,
           struct srv_response *resp)
{
    const struct m2msec_target_rec *t = tc->target;
    struct m2msec_error err = { 0 };
    struct m2msec_rootcred_rec *rc = NULL;
    struct m2msec_fetch_resp r = { 0 };
    const char *want = NULL;
    unsigned want_suid = 0;
    int64_t now = m2msec_now();
    int64_t lifetime = 0;
    char id[M2MSEC_KEID_MAX];
    char kcv[M2MSEC_KCV_HEX_LEN];
    char ts[M2MSEC_TIMESTAMP_LEN];
    char suid_txt[8];
    size_t i = 0;
    int allowed = 0;
    int rv = 1;

    if (m2msec_mef_rootcred_get(w->db, rel, now, 1, &rc, &err) == -1) {
        if (m2msec_error_code(&err) != M2MSEC_ERR_NOT_FOUND) {
            rv = refuse_internal(resp, tc, "rootcred_get", &err);
        }
        goto out;
    }
    for (i = 0; i < tc->nsuids && !allowed; i++) {
        allowed = tc->suids[i] == suid;
    }
    if (m2msec_boot_purpose_parse(rc->purpose, &want_suid, &want) == -1 || want_suid != suid ||
        !allowed ||
        !(want_suid == SUID_MAF ? m2msec_fqdn_equal(want, t->id)
                                : strcmp(want, t->id) == 0 /* public */)) {
        rv = refuse(resp, tc, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE, TXT_DENIED,
                    "root credential issued for another target or SUID");
        goto out;
    }
    if (m2msec_key_check_value(rc->key, kcv, &err) == -1 ||
        m2msec_keid_format(rel, w->svc->d->cfg.fqdn, id, sizeof(id), &err) == -1) {
        rv = refuse_internal(resp, tc, "rootcred", &err);
        goto out;
    }
    lifetime = rc->expires;
    if (t->lifetime_s > 0 && t->lifetime_s < (uint64_t)(rc->expires - now)) {
        lifetime = now + (int64_t)t->lifetime_s;
    }
    r.status = 1;
    r.credential = rc->key;
    r.enrolee_id = rc->enrolee_id;
    r.lifetime = lifetime;
    m2msec_buf_reset(&resp->body);
    if (m2msec_fetch_resp_encode(&r, &resp->body, &err) == -1) {
        rv = refuse_internal(resp, tc, "encode", &err);
        goto out;
    }
    resp->rsc = M2MSEC_RSC_OK;
    (void)m2msec_timestamp_format(lifetime, ts);
    (void)snprintf(suid_txt, sizeof(suid_txt), "%u", suid);
    srv_log_event(SRV_LOG_NOTICE, "credential_fetched", "target", t->id, "keid", id, "suid",
                  suid_txt, "kcv", kcv, "lifetime", ts, "root_credential", rc->node, NULL);
    rv = 0;
out:
    m2msec_rootcred_rec_free(rc);
    return rv;
}

/* @spec TS-0003 8.3.2.1 "Use of Remotely Provisioned Credential", steps f.i to f.vi */
static int
fetch(struct tgt_worker *w, const struct tgt_conn *tc, const char *keid_s, const char *suid_s,
      struct srv_response *resp)
{
    const struct m2msec_target_rec *t = tc->target;
    struct m2msec_error err = { 0 };
    struct m2msec_keid keid;
    struct m2msec_ke_rec *ke = NULL;
    struct m2msec_enrolee_rec *e = NULL;
    struct m2msec_fetch_resp r = { 0 };
    struct m2msec_secret *key = NULL;
    const char *reason = NULL;
    int64_t now = m2msec_now();
    int64_t lifetime = 0;
    uint64_t suid = 0;
    char canon[M2MSEC_KEID_MAX];
    char kcv[M2MSEC_KCV_HEX_LEN];
    char ts[M2MSEC_TIMESTAMP_LEN];
    char suid_txt[8];
    int rv = -1;

    if (m2msec_parse_u64(suid_s, strlen(suid_s), 999, &suid) == -1 ||
        !m2msec_suid_valid((unsigned)suid)) {
        rv = refuse(resp, tc, M2MSEC_RSC_BAD_REQUEST, "malformed SUID", "malformed SUID");
        goto out;
    }
    if (m2msec_keid_parse(keid_s, &keid, &err) == -1) {
        rv = refuse(resp, tc, M2MSEC_RSC_BAD_REQUEST, "malformed KeID", "malformed KeID");
        goto out;
    }
    if (!m2msec_fqdn_equal(keid.fqdn, w->svc->d->cfg.fqdn)) {
        rv = refuse(resp, tc, M2MSEC_RSC_NOT_FOUND, "KeID does not name this MEF",
                    "KeID of another MEF");
        goto out;
    }
    /* f.i: Ke by KeID; unknown and expired answer alike. */
    if (m2msec_mef_ke_get(w->db, keid.rel, now, 1, &ke, &err) == -1) {
        if (m2msec_error_code(&err) != M2MSEC_ERR_NOT_FOUND) {
            rv = refuse_internal(resp, tc, "ke_get", &err);
            goto out;
        }
        /* Seed 002: a root credential's identifier shares the namespace. */
        rv = fetch_root(w, tc, keid.rel, (unsigned)suid, resp);
        if (rv != 1) {
            goto out;
        }
        rv = refuse(resp, tc, M2MSEC_RSC_NOT_FOUND, TXT_UNKNOWN_KEID, "unknown or expired KeID");
        goto out;
    }
    /* f.ii and f.iv: the Enrolee owning the Ke (gone meanwhile: its Ke went with it). */
    if (m2msec_mef_enrolee_get(w->db, ke->kpm_id, 0, &e, &err) == -1) {
        if (m2msec_error_code(&err) != M2MSEC_ERR_NOT_FOUND) {
            rv = refuse_internal(resp, tc, "enrolee_get", &err);
            goto out;
        }
        rv = refuse(resp, tc, M2MSEC_RSC_NOT_FOUND, TXT_UNKNOWN_KEID, "Enrolee removed");
        goto out;
    }
    if (authorise(tc, e, (unsigned)suid, &reason) == -1) {
        rv = refuse(resp, tc, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE, TXT_DENIED, reason);
        goto out;
    }
    /* f.iii */
    if (derive(ke->ke, t, (unsigned)suid, &key, &err) == -1 ||
        m2msec_key_check_value(key, kcv, &err) == -1 ||
        m2msec_keid_format(keid.rel, w->svc->d->cfg.fqdn, canon, sizeof(canon), &err) == -1) {
        rv = refuse_internal(resp, tc, "derive", &err);
        goto out;
    }
    /* f.v: never beyond Ke (TS-0003 10.7), and within the target's configured cap. */
    lifetime = ke->expires;
    if (t->lifetime_s > 0 && t->lifetime_s < (uint64_t)(ke->expires - now)) {
        lifetime = now + (int64_t)t->lifetime_s;
    }
    /* f.vi, table 8.3.2.1-5 */
    r.status = 1;
    r.credential = key;
    r.enrolee_id = e->enrolee_id;
    r.lifetime = lifetime;
    m2msec_buf_reset(&resp->body);
    if (m2msec_fetch_resp_encode(&r, &resp->body, &err) == -1) {
        rv = refuse_internal(resp, tc, "encode", &err);
        goto out;
    }
    resp->rsc = M2MSEC_RSC_OK;
    (void)m2msec_timestamp_format(lifetime, ts);
    (void)snprintf(suid_txt, sizeof(suid_txt), "%u", (unsigned)suid);
    srv_log_event(SRV_LOG_NOTICE, "credential_fetched", "target", t->id, "keid", canon, "suid",
                  suid_txt, "kcv", kcv, "lifetime", ts, NULL);
    rv = 0;
out:
    m2msec_secret_free(key);
    m2msec_ke_rec_free(ke);
    m2msec_enrolee_rec_free(e);
    return rv;
}

static int
tgt_handle(void *arg, struct srv_conn *c, const struct m2msec_http_msg *req,
           struct srv_response *resp)
{
    struct tgt_worker *w = c->wctx;
    struct tgt_conn *tc = c->state;
    const char *origin = m2msec_http_header_get(req, M2MSEC_HDR_ORIGIN);
    char *segs[MAX_SEGS];
    char storage[1024];
    int n = 0;

    (void)arg;
    /* Re-read the bound target: revocation applies to the next request. */
    if (tc != NULL && tc->target != NULL) {
        char bound[M2MSEC_TARGET_PSK_ID_MAX + M2MSEC_FQDN_MAX + 2];
        const char *key = tc->by_psk ? tc->target->psk_id : tc->target->cert_fqdn;

        if (key == NULL || m2msec_strlcpy(bound, key, sizeof(bound)) != 0 ||
            tgt_bind(w, tc, tc->by_psk ? NULL : bound, tc->by_psk ? bound : NULL) == -1) {
            return refuse(resp, tc, M2MSEC_RSC_INTERNAL_SERVER_ERROR, "internal error",
                          "target lookup failed");
        }
    }
    if (tc == NULL || tc->target == NULL) {
        return refuse(resp, tc, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE, TXT_UNBOUND,
                      tc != NULL && tc->by_psk ? "PSK target removed or its key changed"
                                               : "certificate names no configured target");
    }
    n = srv_path_split(req->target, segs, MAX_SEGS, storage, sizeof(storage));
    if (n < 0) {
        return refuse(resp, tc, M2MSEC_RSC_BAD_REQUEST, "malformed request target",
                      "malformed request target");
    }
    /* The originator is the session's target, never someone the payload names. */
    if (origin == NULL || !id_equal(tc, origin, tc->target->id)) {
        return refuse(resp, tc, M2MSEC_RSC_ORIGINATOR_NOT_AUTHENTICATED, TXT_ORIGIN,
                      "X-M2M-Origin is not the target's id");
    }
    if (n != 3 || strcmp(segs[0], FETCH_PATH) != 0) {
        return refuse(resp, tc, M2MSEC_RSC_NOT_FOUND, "no such resource", "no such resource");
    }
    if (req->method != M2MSEC_HTTP_GET) {
        return refuse(resp, tc, M2MSEC_RSC_OPERATION_NOT_ALLOWED, "only GET is allowed",
                      "method not allowed");
    }
    return fetch(w, tc, segs[1], segs[2], resp);
}

void
mefd_target_handlers(struct mefd_targets *svc, struct srv_handlers *h)
{
    memset(h, 0, sizeof(*h));
    h->arg = svc;
    h->worker_init = tgt_worker_init;
    h->worker_fini = tgt_worker_fini;
    h->conn_open = tgt_conn_open;
    h->conn_close = tgt_conn_close;
    h->handle = tgt_handle;
    /* For the certificate server's PSK side (serve.c puts it in the TLS options). */
    h->psk_lookup = tgt_psk_lookup;
}
