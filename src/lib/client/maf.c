/*
 * client/maf.c - MAF Client Registration with a remotely provisioned Km, client side.
 *
 * Layer: client. @spec TS-0003 8.8.2.3 and 8.8.2.2. First contact with a MAF:
 * psk_identity = KeID, psk = Km = 10.3.7(Ke, SUID 21, MAF-FQDN), originator =
 * the Enrolee-ID the MEF returned; the MAF answers with assignedSymmKeyID,
 * stored with Km (sealed) in the device state. While that enrolment is
 * current, later sessions use psk_identity = KmID and originator = the
 * Credential-ID "11-<KmID>" (10.4). Key Registration, Retrieval, Update and
 * De-Registration (8.8.2.7 - 8.8.2.10) run on such a KmID session, with the
 * shared key-registry messages and rules (codec/keyreg_msg.h,
 * proto/keyreg.h). A pre-provisioned KmID/Km (8.8.3.1, SUID 11;
 * m2msec_client_maf_set_km) is stored the same way and needs no enrolment. Configuration Retrieval, Registration Update and
 * De-Registration (8.8.2.4 - 8.8.2.6) act on the stored registration by
 * default; after re-enrolment an update runs on a KeID session and stores
 * the new KmID the MAF assigns with the new Km (re-keying, keeping regID).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "client/client_int.h"
#include "codec/json.h"
#include "codec/keyreg_msg.h"
#include "codec/maf_msg.h"
#include "crypto/kdf.h"
#include "proto/keyreg.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define MAF_TARGET     "/" M2MSEC_PATH_MAF_BASE
#define MAF_SUID       21u
#define MAF_DEFAULT_ET 86400

M2MSEC_API int
m2msec_config_set_maf(struct m2msec_config *cfg, const char *hostport, const char *fqdn)
{
    char host[256], port[16];
    char *a = NULL, *f = NULL;

    m2msec_error_clear(&cfg->err);
    if (cfg->frozen) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_STATE,
                                 "configuration is in use and can no longer change");
    }
    if (hostport == NULL || strlen(hostport) > 300 ||
        m2msec_hostport_split(hostport, host, sizeof(host), port, sizeof(port), &cfg->err) == -1) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "MAF address must be host:port");
    }
    if (fqdn == NULL) {
        fqdn = host;
    }
    if (!m2msec_fqdn_valid(fqdn)) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "the MAF FQDN is required (the address is not a name)");
    }
    a = m2msec_strdup(hostport);
    f = m2msec_strdup(fqdn);
    if (a == NULL || f == NULL) {
        m2msec_free(a);
        m2msec_free(f);
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    m2msec_free(cfg->maf);
    m2msec_free(cfg->maf_fqdn);
    cfg->maf = a;
    cfg->maf_fqdn = f;
    return 0;
}

M2MSEC_API const char *
m2msec_maf_reg_id(const struct m2msec_maf_reg *r)
{
    return r->reg_id;
}

M2MSEC_API const char *
m2msec_maf_reg_client_id(const struct m2msec_maf_reg *r)
{
    return r->client_id;
}

M2MSEC_API const char *
m2msec_maf_reg_admin_fqdn(const struct m2msec_maf_reg *r)
{
    return r->admin_fqdn;
}

M2MSEC_API const char *
m2msec_maf_reg_kmid(const struct m2msec_maf_reg *r)
{
    return r->kmid;
}

M2MSEC_API int
m2msec_maf_reg_km_assigned(const struct m2msec_maf_reg *r)
{
    return r->km_assigned;
}

M2MSEC_API int64_t
m2msec_maf_reg_expires(const struct m2msec_maf_reg *r)
{
    return r->expires;
}

M2MSEC_API int64_t
m2msec_maf_reg_km_expires(const struct m2msec_maf_reg *r)
{
    return r->km_expires;
}

M2MSEC_API void
m2msec_maf_reg_free(struct m2msec_maf_reg *r)
{
    if (r == NULL) {
        return;
    }
    m2msec_free(r->reg_id);
    m2msec_free(r->client_id);
    m2msec_free(r->admin_fqdn);
    m2msec_free(r->kmid);
    m2msec_free(r->config_json);
    m2msec_free(r);
}

M2MSEC_API const char *
m2msec_maf_reg_config_json(const struct m2msec_maf_reg *r)
{
    return r->config_json;
}

/* What the session authenticates with: the stored KmID/Km, or the KeID and a derived Km. */
struct maf_cred {
    struct m2msec_enrolment_rec *enr; /* with Ke; NULL with a pre-provisioned Km */
    struct m2msec_dev_maf_rec *km;    /* stored KmID/Km, NULL: first contact */
    struct m2msec_dev_maf_rec *prev;  /* first contact after re-enrolment: the old record */
    struct m2msec_secret *derived;    /* first contact: Km from Ke */
};

static void
maf_cred_clear(struct maf_cred *k)
{
    m2msec_enrolment_rec_free(k->enr);
    m2msec_dev_maf_rec_free(k->km);
    m2msec_dev_maf_rec_free(k->prev);
    m2msec_secret_free(k->derived);
    memset(k, 0, sizeof(*k));
}

/* The MAF Client ID this device expects in responses (Source MAF Client ID). */
static const char *
maf_cred_client_id(const struct maf_cred *k)
{
    if (k->km != NULL && k->km->client_id != NULL) {
        return k->km->client_id;
    }
    return k->enr != NULL ? k->enr->enrolee_id : NULL;
}

/*
 * @spec seed 002 x.1.2.1.2 step 4: a root credential from the PKI bootstrap
 * whose purpose is this MAF ("maf:<FQDN>") stands in for an enrolment: it IS
 * the Km (used as is, not derived; docs/PROTOCOL.md 12), its identifier is
 * the psk_identity of the first contact (the MAF fetches it from the MEF like
 * a KeID) and the EnroleeID the MEF returned with it is the originator. 0 with
 * k->enr (standing in) and, on first contact, k->derived set; 1 when there is
 * no live root credential for this MAF; -1 on error.
 */
static int
maf_cred_root(struct m2msec_client *c, struct maf_cred *k, int64_t now, struct m2msec_error *err)
{
    struct m2msec_dev_root_rec *root = NULL;
    struct m2msec_enrolment_rec *enr = NULL;
    char purpose[4 + M2MSEC_FQDN_MAX + 1];
    int rv = -1;

    (void)snprintf(purpose, sizeof(purpose), "maf:%s", c->cfg->maf_fqdn);
    if (m2msec_dev_root_get_by_purpose(c->db, purpose, now, 1, &root, err) == -1) {
        if (m2msec_error_code(err) == M2MSEC_ERR_NOT_FOUND) {
            m2msec_error_clear(err);
            rv = 1;
        }
        goto out;
    }
    enr = m2msec_calloc(1, sizeof(*enr));
    if (enr == NULL || (enr->keid = m2msec_strdup(root->id)) == NULL ||
        (enr->enrolee_id = m2msec_strdup(root->enrolee_id)) == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    enr->expires = root->expires;
    enr->created = root->created;
    k->enr = enr;
    enr = NULL;
    /* A KmID of an earlier credential is left behind, as after re-enrolment. */
    if (k->km != NULL && strcmp(k->km->keid, root->id) != 0 /* public */) {
        k->prev = k->km;
        k->km = NULL;
    }
    if (k->km == NULL) {
        k->derived = root->key;
        root->key = NULL;
    }
    rv = 0;
out:
    m2msec_enrolment_rec_free(enr);
    m2msec_dev_root_rec_free(root);
    return rv;
}

static int
maf_cred_load(struct m2msec_client *c, struct maf_cred *k, struct m2msec_error *err)
{
    const char *fqdn = c->cfg->maf_fqdn;
    int64_t now = m2msec_now();
    int rc = 0;

    if (m2msec_dev_maf_get(c->db, fqdn, now, 1, &k->km, err) == -1) {
        if (m2msec_error_code(err) != M2MSEC_ERR_NOT_FOUND) {
            return -1;
        }
        m2msec_error_clear(err);
    }
    /* @spec TS-0003 8.8.3.1: a pre-provisioned Km does not depend on an enrolment. */
    if (k->km != NULL && k->km->suid == M2MSEC_MAF_SUID_PREPROV) {
        return 0;
    }
    rc = maf_cred_root(c, k, now, err);
    if (rc != 1) {
        return rc;
    }
    if (m2msec_dev_enrolment_get(c->db, 1, &k->enr, err) == -1) {
        if (m2msec_error_code(err) == M2MSEC_ERR_NOT_FOUND) {
            m2msec_error_wrap(err, "enrol before registering with a MAF");
        }
        return -1;
    }
    if (k->enr->expires <= now) {
        return m2msec_error_setx(err, M2MSEC_ERR_EXPIRED, "Ke %s expired", k->enr->keid);
    }
    /* A KmID from an earlier enrolment is left behind: re-enrolment re-keys the MAF too.
     * Its registration is kept aside: a Registration Update on the KeID session moves it
     * to the new Km. */
    if (k->km != NULL && strcmp(k->km->keid, k->enr->keid) != 0 /* public */) {
        k->prev = k->km;
        k->km = NULL;
    }
    if (k->km != NULL) {
        return 0;
    }
    if (k->enr->enrolee_id == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "the enrolment holds no Enrolee-ID to register with");
    }
    /* @spec TS-0003 10.3.7: Km = HMAC-SHA-256(Ke, label || "21" || MAF-FQDN). */
    return m2msec_derive_usage_constrained(k->enr->ke, MAF_SUID, fqdn, &k->derived, err);
}

static int
maf_session_open(struct m2msec_client *c, const struct maf_cred *k, struct client_session *s,
                 struct m2msec_error *err)
{
    const struct m2msec_config *cfg = c->cfg;
    struct m2msec_tls_psk_client o = { 0 };

    memset(s, 0, sizeof(*s));
    m2msec_strlcpy(s->host, cfg->maf_fqdn, sizeof(s->host));
    if (k->km != NULL) {
        /* @spec TS-0003 10.4: the Credential-ID of a Km is "11-<KmID>". */
        if (m2msec_credential_id_format(M2MSEC_CRED_KM, k->km->kmid, s->origin, sizeof(s->origin),
                                        err) == -1) {
            return -1;
        }
        o.identity = k->km->kmid;
        o.psk = k->km->km;
    } else {
        m2msec_strlcpy(s->origin, k->enr->enrolee_id, sizeof(s->origin));
        o.identity = k->enr->keid;
        o.psk = k->derived;
    }
    o.hostport = cfg->maf;
    o.sni = cfg->maf_fqdn;
    o.timeout_ms = cfg->timeout_ms;
    client_step(c, "connect", "TLS 1.2 PSK to MAF %s as %s %s", cfg->maf,
                k->km != NULL ? "KmID" : "KeID", o.identity);
    if (m2msec_tls_global_init(err) == -1) {
        return -1;
    }
    s->tls = m2msec_tls_connect_psk(&o, err);
    if (s->tls == NULL) {
        if (m2msec_error_code(err) == M2MSEC_ERR_AUTH) {
            m2msec_error_wrap(err,
                              "MAF handshake refused (%s unknown to the MAF, or not "
                              "provisioned for it)",
                              k->km != NULL ? "KmID" : "KeID");
        }
        return -1;
    }
    client_step(c, "handshake", "established, suite %s", m2msec_tls_cipher(s->tls));
    return 0;
}

/* 8.3.9.9.x-style checks, and the assigned KmID on first contact. */
static int
verify(const struct m2msec_client *c, const struct maf_cred *k, const struct m2msec_mafreg_resp *rs,
       const char *admin_fqdn, struct m2msec_error *err)
{
    struct m2msec_keyref ref;

    if (rs->et <= m2msec_now() || !m2msec_fqdn_equal(rs->admin_fqdn, admin_fqdn)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "MAF response fails verification (expirationTime or adminFQDN)");
    }
    if (k->km != NULL) {
        return 0;
    }
    if (rs->assigned_kmid == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "MAF assigned no KmID for the remotely provisioned Km");
    }
    if (m2msec_keyref_parse(rs->assigned_kmid, &ref, err) == -1 ||
        !m2msec_fqdn_equal(ref.fqdn, c->cfg->maf_fqdn)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "assignedSymmKeyID '%s' does not name this MAF",
                                 rs->assigned_kmid);
    }
    return 0;
}

static int
do_register(struct m2msec_client *c, const char *admin_fqdn, struct m2msec_maf_reg **out,
            struct m2msec_error *err)
{
    struct maf_cred k = { 0 };
    struct client_session s = { 0 };
    struct m2msec_mafreg_req rq = { 0 };
    struct m2msec_mafreg_resp rs = { 0 };
    struct m2msec_dev_maf_rec keep = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_maf_reg *r = NULL;
    struct m2msec_buf body;
    char admin[M2MSEC_FQDN_MAX + 1];
    char fqdn[M2MSEC_FQDN_MAX + 1];
    int64_t now = m2msec_now();
    int64_t km_exp;
    int rv = -1;

    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    if (admin_fqdn == NULL || !m2msec_fqdn_valid(admin_fqdn)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "adminFQDN must be an FQDN");
        goto out;
    }
    if (c->cfg->maf == NULL || c->cfg->state_dir == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                          "MAF address and state directory must be configured");
        goto out;
    }
    if (c->db == NULL) {
        c->db = client_state_open(c->cfg->state_dir, 0, err);
        if (c->db == NULL) {
            goto out;
        }
    }
    if (maf_cred_load(c, &k, err) == -1 || maf_session_open(c, &k, &s, err) == -1) {
        goto out;
    }
    m2msec_strlcpy(admin, admin_fqdn, sizeof(admin));
    m2msec_strlcpy(fqdn, c->cfg->maf_fqdn, sizeof(fqdn));
    rq.maf_fqdn = fqdn;
    rq.admin_fqdn = admin;
    /* Proposed; the MAF caps it at the Km expiry. */
    km_exp = k.km != NULL ? k.km->expires : k.enr->expires;
    rq.et = now + MAF_DEFAULT_ET < km_exp ? now + MAF_DEFAULT_ET : km_exp;
    if (m2msec_mafreg_req_encode(&rq, &body, err) == -1 ||
        client_roundtrip(&s, M2MSEC_HTTP_POST, MAF_TARGET, &body, M2MSEC_RSC_CREATED, &resp, err) ==
                -1 ||
        m2msec_mafreg_resp_decode(resp->body.data, resp->body.len, &rs, err) == -1 ||
        verify(c, &k, &rs, admin_fqdn, err) == -1) {
        goto out;
    }
    if (k.km == NULL) {
        /* Durable before it is reported: the next session uses this KmID. Km lives
         * no longer than the Ke it was derived from (TS-0003 10.7). */
        keep.maf_fqdn = fqdn;
        keep.kmid = rs.assigned_kmid;
        keep.keid = k.enr->keid;
        keep.client_id = rs.client_id;
        keep.reg_id = rs.reg_id;
        keep.admin_fqdn = rs.admin_fqdn;
        keep.expires = k.enr->expires;
        keep.km = k.derived;
        if (m2msec_dev_maf_put(c->db, &keep, err) == -1) {
            goto out;
        }
    } else if (k.km->reg_id == NULL) {
        /* No registration stored (a pre-provisioned Km, or after de-registration): this
         * one becomes the device's registration for its key registrations. */
        keep = *k.km;
        keep.client_id = rs.client_id;
        keep.reg_id = rs.reg_id;
        keep.admin_fqdn = rs.admin_fqdn;
        if (m2msec_dev_maf_put(c->db, &keep, err) == -1) {
            goto out;
        }
    }
    r = m2msec_calloc(1, sizeof(*r));
    if (r == NULL || (r->reg_id = m2msec_strdup(rs.reg_id)) == NULL ||
        (r->client_id = m2msec_strdup(rs.client_id)) == NULL ||
        (r->admin_fqdn = m2msec_strdup(rs.admin_fqdn)) == NULL ||
        (r->kmid = m2msec_strdup(k.km != NULL ? k.km->kmid : rs.assigned_kmid)) == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    r->expires = rs.et;
    r->km_expires = k.km != NULL ? k.km->expires : k.enr->expires;
    r->km_assigned = k.km == NULL;
    client_step(c, "registered", "MAF client registration %s, KmID %s", r->reg_id, r->kmid);
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_maf_reg_free(r);
    m2msec_mafreg_resp_clear(&rs);
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&body);
    client_session_close(&s);
    maf_cred_clear(&k);
    return rv;
}

M2MSEC_API int
m2msec_client_maf_register(struct m2msec_client *c, const char *admin_fqdn,
                           struct m2msec_maf_reg **out)
{
    *out = NULL;
    return client_ready(c) == -1 ? -1 : do_register(c, admin_fqdn, out, &c->err);
}

/* The state store of a configured client with a MAF, opened (and created) on first use. */
static int
maf_state(struct m2msec_client *c, int create, struct m2msec_error *err)
{
    if (c->cfg->maf == NULL || c->cfg->maf_fqdn == NULL || c->cfg->state_dir == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "MAF address and state directory must be configured");
    }
    if (c->db == NULL) {
        c->db = client_state_open(c->cfg->state_dir, create, err);
        if (c->db == NULL) {
            return -1;
        }
    }
    return 0;
}

/*
 * MAF Key Registration, Retrieval, Update and De-Registration (8.8.2.7 -
 * 8.8.2.10), device side: the messages and rules of the shared key registry
 * (codec/keyreg_msg.h, proto/keyreg.h), as client/mefkey.c uses them with the
 * MEF.
 */

/* The handle is a client_key (client/keyutil.c), its only member. */
struct m2msec_maf_key {
    struct client_key k;
};

M2MSEC_API const char *
m2msec_maf_key_id(const struct m2msec_maf_key *k)
{
    return k->k.key_id;
}

M2MSEC_API const char *
m2msec_maf_key_source_id(const struct m2msec_maf_key *k)
{
    return k->k.source_id;
}

M2MSEC_API unsigned
m2msec_maf_key_suid(const struct m2msec_maf_key *k)
{
    return k->k.suid;
}

M2MSEC_API int64_t
m2msec_maf_key_expires(const struct m2msec_maf_key *k)
{
    return k->k.expires;
}

M2MSEC_API const char *
m2msec_maf_key_kcv(const struct m2msec_maf_key *k)
{
    return k->k.kcv;
}

M2MSEC_API void
m2msec_maf_key_free(struct m2msec_maf_key *k)
{
    client_key_free((struct client_key *)k);
}

static struct m2msec_maf_key *
maf_key_new(const char *key_id, const char *source_id, unsigned suid, int64_t expires,
            const struct m2msec_secret *key, struct m2msec_error *err)
{
    return (struct m2msec_maf_key *)client_key_new(key_id, source_id, suid, expires, key, err);
}

/* A KmID session with the configured MAF (every key procedure needs one). */
static int
maf_key_session(struct m2msec_client *c, struct maf_cred *k, struct client_session *s,
                struct m2msec_error *err)
{
    if (maf_state(c, 0, err) == -1 || maf_cred_load(c, k, err) == -1) {
        return -1;
    }
    if (k->km == NULL || k->km->reg_id == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "no KmID for MAF %s: run the MAF client registration first",
                                 c->cfg->maf_fqdn);
    }
    return maf_session_open(c, k, s, err);
}

/* The request path of Key Identifier key_id ("<RelativeKeyID>@<MAF-FQDN>" of the configured MAF). */
static int
key_target(const struct m2msec_client *c, const char *key_id, char *target, size_t size,
           struct m2msec_error *err)
{
    struct m2msec_keyref ref;

    if (key_id == NULL || m2msec_keyref_parse(key_id, &ref, err) == -1 ||
        !m2msec_keyreg_rel_valid(ref.rel)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Key Identifier must be <RelativeKeyID>@<MAF-FQDN>");
    }
    if (c->cfg->maf_fqdn == NULL || !m2msec_fqdn_equal(ref.fqdn, c->cfg->maf_fqdn)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Key Identifier %s does not name the configured MAF", key_id);
    }
    (void)snprintf(target, size, "%s/%s/%s", MAF_TARGET, M2MSEC_PATH_KEYS, ref.rel);
    return 0;
}

/* @spec TS-0003 8.8.2.7 MAF Key Registration, as the source (Entity A) */
static int
do_keyreg(struct m2msec_client *c, const char *const *target_ids, size_t ntargets, unsigned suid,
          uint64_t lifetime_s, struct m2msec_maf_key **out, struct m2msec_error *err)
{
    struct maf_cred k = { 0 };
    struct client_session s = { 0 };
    struct m2msec_keyreg_req rq = { 0 };
    struct m2msec_keyreg_resp rs = { 0 };
    struct m2msec_dev_kc_rec keep = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_secret *kc = NULL;
    struct m2msec_maf_key *r = NULL;
    struct m2msec_buf body;
    uint8_t x[M2MSEC_EXPORT_LEN];
    uint8_t kcid[M2MSEC_KEYREG_KCID_LEN];
    char fqdn[M2MSEC_FQDN_MAX + 1];
    char admin[M2MSEC_FQDN_MAX + 1];
    char target[96];
    char keyid[M2MSEC_KEYREF_MAX];
    const char *self = NULL;
    int64_t now = m2msec_now();
    int64_t et;
    int rv = -1;

    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    memset(x, 0, sizeof(x));
    memset(kcid, 0, sizeof(kcid));
    if (lifetime_s > UINT32_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "lifetime too long");
        goto out;
    }
    rq.target_ids = client_strlist_dup(target_ids, ntargets, "target", err);
    if (rq.target_ids == NULL) {
        goto out;
    }
    rq.ntargets = ntargets;
    rq.suid = suid;
    /* Never send what the MAF's rules refuse (SUID 32..35, one target for 32 and 33). */
    if (m2msec_keyreg_check_targets(M2MSEC_REG_MAF, suid, rq.target_ids, ntargets, err) == -1) {
        err->code = M2MSEC_ERR_INVALID_ARGUMENT;
        err->rsc = 0;
        goto out;
    }
    if (maf_key_session(c, &k, &s, err) == -1) {
        goto out;
    }
    self = maf_cred_client_id(&k);
    if (k.km->admin_fqdn == NULL || self == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                          "the stored MAF registration has no adminFQDN or client id: register "
                          "again");
        goto out;
    }
    /* @spec TS-0003 10.3.1, 10.3.5: Kc = the last 32 bytes of the session's exporter. */
    if (m2msec_tls_export(s.tls, M2MSEC_LABEL_CONNECTION, x, sizeof(x), err) == -1 ||
        m2msec_export_split(x, kcid, &kc, err) == -1) {
        goto out;
    }
    m2msec_strlcpy(fqdn, c->cfg->maf_fqdn, sizeof(fqdn));
    m2msec_strlcpy(admin, k.km->admin_fqdn, sizeof(admin));
    et = now + (int64_t)(lifetime_s != 0 ? lifetime_s : MAF_DEFAULT_ET);
    rq.fqdn = fqdn;
    rq.admin_fqdn = admin;
    rq.et = et < k.km->expires ? et : k.km->expires;
    rv = m2msec_keyreg_req_encode(M2MSEC_REG_MAF, &rq, &body, err);
    rq.fqdn = NULL; /* borrowed */
    rq.admin_fqdn = NULL;
    if (rv == -1) {
        goto out;
    }
    rv = -1;
    /* /maf/<regID>/keys, under the stored registration (docs/protocol-maf.md section 3). */
    if (snprintf(target, sizeof(target), "%s/%s/%s", MAF_TARGET, k.km->reg_id, M2MSEC_PATH_KEYS) >=
        (int)sizeof(target)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE, "stored registration id too long");
        goto out;
    }
    client_step(c, "key_registration", "SUID %u for %s", suid, rq.target_ids[0]);
    if (client_roundtrip(&s, M2MSEC_HTTP_POST, target, &body, M2MSEC_RSC_CREATED, &resp, err) ==
                -1 ||
        m2msec_keyreg_resp_decode(M2MSEC_REG_MAF, resp->body.data, resp->body.len, &rs, err) ==
                -1) {
        goto out;
    }
    /* @spec TS-0003 8.3.9.9.5 (as applied to 8.8.2.7): the response echoes the request. */
    rq.admin_fqdn = admin;
    rv = m2msec_keyreg_verify_resp(&rq, &rs, self, now, err);
    rq.admin_fqdn = NULL;
    if (rv == -1 || m2msec_keyref_format(rs.rel_key_id, fqdn, keyid, sizeof(keyid), err) == -1) {
        rv = -1;
        goto out;
    }
    rv = -1;
    /* @spec TS-0003 8.8.2.7: the source stores Kc under the Key Identifier. */
    keep.key_id = keyid;
    keep.maf_fqdn = fqdn;
    keep.reg_id = k.km->reg_id;
    keep.target = rq.target_ids[0];
    keep.suid = suid;
    keep.expires = rs.et;
    keep.kc = kc;
    if (m2msec_dev_kc_put(c->db, &keep, err) == -1) {
        goto out;
    }
    r = maf_key_new(keyid, rs.source_id, suid, rs.et, kc, err);
    if (r == NULL) {
        goto out;
    }
    client_step(c, "key_registered", "Key Identifier %s", keyid);
    *out = r;
    rv = 0;
out:
    m2msec_wipe(x, sizeof(x));
    m2msec_wipe(kcid, sizeof(kcid));
    m2msec_secret_free(kc);
    m2msec_keyreg_req_clear(&rq);
    m2msec_keyreg_resp_clear(&rs);
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&body);
    client_session_close(&s);
    maf_cred_clear(&k);
    return rv;
}

M2MSEC_API int
m2msec_client_maf_keyreg_ex(struct m2msec_client *c, const char *const *target_ids, size_t ntargets,
                            unsigned suid, uint64_t lifetime_s, struct m2msec_maf_key **out)
{
    *out = NULL;
    if (client_ready(c) == -1) {
        return -1;
    }
    return do_keyreg(c, target_ids, ntargets, suid, lifetime_s, out, &c->err);
}

M2MSEC_API int
m2msec_client_maf_keyreg(struct m2msec_client *c, const char *target_id, unsigned suid,
                         struct m2msec_maf_key **out)
{
    const char *t[1] = { target_id };

    return m2msec_client_maf_keyreg_ex(c, target_id != NULL ? t : NULL, 1, suid, 0, out);
}

/*
 * MAF Key Retrieval (8.8.2.8) of key_id on a KmID session with the configured
 * MAF; *rs gets the decoded response, Key Value included (the caller clears
 * it). Shared by m2msec_client_maf_keyget and Entity B's PSK resolver
 * (client/resolver.c), which is itself a registered MAF client.
 */
int
client_maf_key_retrieve(struct m2msec_client *c, const char *key_id,
                        struct m2msec_keyreg_get_resp *rs, struct m2msec_error *err)
{
    struct maf_cred k = { 0 };
    struct client_session s = { 0 };
    struct m2msec_http_msg *resp = NULL;
    char target[M2MSEC_KEYREF_MAX + 16];
    int rv = -1;

    memset(rs, 0, sizeof(*rs));
    if (key_target(c, key_id, target, sizeof(target), err) == -1 ||
        maf_key_session(c, &k, &s, err) == -1) {
        goto out;
    }
    client_step(c, "key_retrieval", "%s", key_id);
    if (client_roundtrip(&s, M2MSEC_HTTP_GET, target, NULL, M2MSEC_RSC_OK, &resp, err) == -1 ||
        m2msec_keyreg_get_resp_decode(M2MSEC_REG_MAF, resp->body.data, resp->body.len, rs, err) ==
                -1) {
        goto out;
    }
    if (rs->et <= m2msec_now()) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "MAF returned an expired key");
        goto out;
    }
    rv = 0;
out:
    if (rv == -1) {
        m2msec_keyreg_get_resp_clear(rs);
    }
    m2msec_http_msg_free(resp);
    client_session_close(&s);
    maf_cred_clear(&k);
    return rv;
}

M2MSEC_API int
m2msec_client_maf_keyget(struct m2msec_client *c, const char *key_id, struct m2msec_maf_key **out)
{
    *out = NULL;
    if (client_ready(c) == -1) {
        return -1;
    }
    *out = (struct m2msec_maf_key *)client_key_get(c, key_id, client_maf_key_retrieve, &c->err);
    return *out == NULL ? -1 : 0;
}

/*
 * After an update: the Kc this device registered under key_id, if it holds
 * it, follows the granted expiry and the first target (what connect uses).
 */
static int
dev_key_follow(struct m2msec_client *c, const char *key_id, const struct m2msec_keyreg_update *got,
               struct m2msec_error *err)
{
    struct m2msec_dev_kc_rec *r = NULL;
    char *old_target = NULL;
    int rv = -1;

    if (m2msec_dev_kc_get(c->db, key_id, m2msec_now(), 1, &r, err) == -1) {
        if (m2msec_error_code(err) == M2MSEC_ERR_NOT_FOUND) {
            m2msec_error_clear(err);
            rv = 0; /* another source's key, or one this device no longer holds */
        }
        goto out;
    }
    if (got->has_et) {
        r->expires = got->et;
    }
    if (got->has_targets) {
        old_target = r->target;
        r->target = got->target_ids[0];
    }
    if (m2msec_dev_kc_put(c->db, r, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    if (old_target != NULL) {
        r->target = old_target; /* got's string is not ours to free */
    }
    m2msec_dev_kc_rec_free(r);
    return rv;
}

/* @spec TS-0003 8.8.2.9 MAF Key Registration Update, as the source */
static int
do_keyupdate(struct m2msec_client *c, const char *key_id, struct m2msec_keyreg_update *up,
             int64_t *granted, struct m2msec_error *err)
{
    struct maf_cred k = { 0 };
    struct client_session s = { 0 };
    struct m2msec_keyreg_update got = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_buf body;
    char target[M2MSEC_KEYREF_MAX + 16];
    int rv = -1;

    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    if (key_target(c, key_id, target, sizeof(target), err) == -1 ||
        m2msec_keyreg_update_encode(M2MSEC_REG_MAF, up, 1, &body, err) == -1 ||
        maf_key_session(c, &k, &s, err) == -1) {
        goto out;
    }
    client_step(c, "key_update", "%s", key_id);
    if (client_roundtrip(&s, M2MSEC_HTTP_PUT, target, &body, M2MSEC_RSC_UPDATED, &resp, err) ==
                -1 ||
        m2msec_keyreg_update_decode(M2MSEC_REG_MAF, resp->body.data, resp->body.len, 0, &got,
                                    err) == -1 ||
        m2msec_keyreg_verify_update(up, &got, m2msec_now(), err) == -1 ||
        dev_key_follow(c, key_id, &got, err) == -1) {
        goto out;
    }
    if (got.has_et && granted != NULL) {
        *granted = got.et;
    }
    rv = 0;
out:
    m2msec_keyreg_update_clear(&got);
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&body);
    client_session_close(&s);
    maf_cred_clear(&k);
    return rv;
}

M2MSEC_API int
m2msec_client_maf_keyupdate(struct m2msec_client *c, const char *key_id, uint64_t lifetime_s,
                            const char *const *target_ids, size_t ntargets,
                            const char *const *labels, size_t nlabels, unsigned flags,
                            int64_t *granted)
{
    struct m2msec_keyreg_update up = { 0 };
    int rv = -1;

    if (granted != NULL) {
        *granted = 0;
    }
    if (client_ready(c) == -1) {
        return -1;
    }
    if (c->cfg->maf_fqdn == NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_STATE, "no MAF configured");
    }
    if (client_keyupdate_req(c->cfg->maf_fqdn, lifetime_s, target_ids, ntargets, labels, nlabels,
                             flags, M2MSEC_MAF_KEY_SET_LABELS, &up, &c->err) == -1 ||
        do_keyupdate(c, key_id, &up, granted, &c->err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_keyreg_update_clear(&up);
    return rv;
}

/* @spec TS-0003 8.8.2.10 MAF Key De-Registration, as the source */
static int
do_keydel(struct m2msec_client *c, const char *key_id, struct m2msec_error *err)
{
    struct maf_cred k = { 0 };
    struct client_session s = { 0 };
    struct m2msec_http_msg *resp = NULL;
    char target[M2MSEC_KEYREF_MAX + 16];
    int rv = -1;

    if (key_target(c, key_id, target, sizeof(target), err) == -1 ||
        maf_key_session(c, &k, &s, err) == -1) {
        goto out;
    }
    client_step(c, "key_deregistration", "%s", key_id);
    if (client_roundtrip(&s, M2MSEC_HTTP_DELETE, target, NULL, M2MSEC_RSC_DELETED, &resp, err) ==
        -1) {
        goto out;
    }
    /* SPEC-DIGEST 5 rule 3: the source erases the Kc it no longer distributes. */
    if (m2msec_keyreg_dev_erase(c->db, key_id, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_http_msg_free(resp);
    client_session_close(&s);
    maf_cred_clear(&k);
    return rv;
}

M2MSEC_API int
m2msec_client_maf_keydel(struct m2msec_client *c, const char *key_id)
{
    return client_ready(c) == -1 ? -1 : do_keydel(c, key_id, &c->err);
}

/*
 * Pre-provisioned KmID/Km (TS-0003 8.8.3.1, SUID 11), device side.
 */

static int
do_set_km(struct m2msec_client *c, const char *kmid, struct m2msec_secret *km,
          struct m2msec_error *err)
{
    struct m2msec_dev_maf_rec *old = NULL;
    struct m2msec_dev_maf_rec keep = { 0 };
    struct m2msec_keyref ref;
    char fqdn[M2MSEC_FQDN_MAX + 1];
    char full[M2MSEC_KEYREF_MAX];
    int rv = -1;

    if (kmid == NULL || m2msec_keyref_parse(kmid, &ref, err) == -1 ||
        !m2msec_fqdn_equal(ref.fqdn, c->cfg->maf_fqdn != NULL ? c->cfg->maf_fqdn : "")) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "KmID must be <relative KmID>@<the configured MAF's FQDN>");
        goto out;
    }
    if (m2msec_secret_len(km) != 32) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "Km must be 32 bytes");
        goto out;
    }
    if (maf_state(c, 1, err) == -1 ||
        m2msec_keyref_format(ref.rel, c->cfg->maf_fqdn, full, sizeof(full), err) == -1) {
        goto out;
    }
    m2msec_strlcpy(fqdn, c->cfg->maf_fqdn, sizeof(fqdn));
    if (m2msec_dev_maf_get(c->db, fqdn, m2msec_now(), 1, &old, err) == -1) {
        if (m2msec_error_code(err) != M2MSEC_ERR_NOT_FOUND) {
            goto out;
        }
        m2msec_error_clear(err);
    }
    keep.maf_fqdn = fqdn;
    keep.kmid = full;
    keep.suid = M2MSEC_MAF_SUID_PREPROV;
    keep.expires = M2MSEC_MAF_NO_EXPIRY;
    keep.km = km;
    /* The same KmID and Km again: keep the registration made with them. */
    if (old != NULL && old->suid == M2MSEC_MAF_SUID_PREPROV &&
        strcmp(old->kmid, full) == 0 /* public */ && m2msec_secret_equal(old->km, km)) {
        keep.client_id = old->client_id;
        keep.reg_id = old->reg_id;
        keep.admin_fqdn = old->admin_fqdn;
    }
    if (m2msec_dev_maf_put(c->db, &keep, err) == -1) {
        goto out;
    }
    client_step(c, "km", "pre-provisioned KmID %s stored for MAF %s", full, fqdn);
    rv = 0;
out:
    m2msec_dev_maf_rec_free(old);
    return rv;
}

M2MSEC_API int
m2msec_client_maf_set_km(struct m2msec_client *c, const char *kmid, const uint8_t *key,
                         size_t key_len)
{
    struct m2msec_secret *km = NULL;
    int rv;

    if (client_ready(c) == -1) {
        return -1;
    }
    if (key == NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_ARGUMENT, "Km missing");
    }
    km = m2msec_secret_from(key, key_len, &c->err);
    if (km == NULL) {
        return -1;
    }
    rv = do_set_km(c, kmid, km, &c->err);
    m2msec_secret_free(km);
    return rv;
}

M2MSEC_API int
m2msec_client_maf_set_km_file(struct m2msec_client *c, const char *kmid, const char *path)
{
    struct m2msec_secret *km = NULL;
    int rv;

    if (client_ready(c) == -1) {
        return -1;
    }
    if (path == NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_ARGUMENT, "Km file missing");
    }
    km = m2msec_secret_load_hex_file(path, &c->err);
    if (km == NULL) {
        return -1;
    }
    rv = do_set_km(c, kmid, km, &c->err);
    m2msec_secret_free(km);
    return rv;
}

/*
 * MAF Client Configuration Retrieval, Registration Update and De-Registration
 * (TS-0003 8.8.2.4 - 8.8.2.6), device side.
 */

/* The session for a lifecycle procedure and the registration it names (default: the stored). */
static int
maf_life_session(struct m2msec_client *c, const char *reg_id, struct maf_cred *k,
                 struct client_session *s, char target[96], const char **rid,
                 struct m2msec_error *err)
{
    const struct m2msec_dev_maf_rec *stored = NULL;

    if (maf_state(c, 0, err) == -1 || maf_cred_load(c, k, err) == -1) {
        return -1;
    }
    stored = k->km != NULL ? k->km : k->prev;
    *rid = reg_id != NULL ? reg_id : (stored != NULL ? stored->reg_id : NULL);
    if (*rid == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "no MAF registration stored for %s: give the registration id",
                                 c->cfg->maf_fqdn);
    }
    if ((*rid)[0] == '\0' || strlen(*rid) > 64 ||
        strspn(*rid, "0123456789abcdefABCDEF") != strlen(*rid)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "invalid registration id");
    }
    (void)snprintf(target, 96, "%s/%s", MAF_TARGET, *rid);
    return maf_session_open(c, k, s, err);
}

/* A result object: id, the stored registration's fields when it is that one. */
static struct m2msec_maf_reg *
maf_reg_new(const struct maf_cred *k, const char *reg_id, const char *kmid,
            struct m2msec_error *err)
{
    const struct m2msec_dev_maf_rec *stored = k->km != NULL ? k->km : k->prev;
    struct m2msec_maf_reg *r = m2msec_calloc(1, sizeof(*r));
    int same = stored != NULL && stored->reg_id != NULL &&
               strcmp(stored->reg_id, reg_id) == 0 /* public */;

    if (r == NULL || (r->reg_id = m2msec_strdup(reg_id)) == NULL ||
        (kmid != NULL && (r->kmid = m2msec_strdup(kmid)) == NULL) ||
        (same && stored->admin_fqdn != NULL &&
         (r->admin_fqdn = m2msec_strdup(stored->admin_fqdn)) == NULL) ||
        (maf_cred_client_id(k) != NULL &&
         (r->client_id = m2msec_strdup(maf_cred_client_id(k))) == NULL)) {
        m2msec_maf_reg_free(r);
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return r;
}

static int
do_config(struct m2msec_client *c, const char *reg_id, struct m2msec_maf_reg **out,
          struct m2msec_error *err)
{
    struct maf_cred k = { 0 };
    struct client_session s = { 0 };
    struct m2msec_mefreg_cfg cfg = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_maf_reg *r = NULL;
    const char *rid = NULL;
    char target[96];
    int rv = -1;

    if (maf_life_session(c, reg_id, &k, &s, target, &rid, err) == -1) {
        goto out;
    }
    client_step(c, "config", "MAF client configuration of %s", rid);
    if (client_roundtrip(&s, M2MSEC_HTTP_GET, target, NULL, M2MSEC_RSC_OK, &resp, err) == -1 ||
        m2msec_reg_cfg_decode(M2MSEC_REG_MAF, resp->body.data, resp->body.len, &cfg, err) == -1) {
        goto out;
    }
    if (!m2msec_fqdn_equal(cfg.fqdn, c->cfg->maf_fqdn)) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "configuration names MAF '%s'", cfg.fqdn);
        goto out;
    }
    r = maf_reg_new(&k, rid, k.km != NULL ? k.km->kmid : NULL, err);
    if (r == NULL) {
        goto out;
    }
    m2msec_free(r->admin_fqdn);
    r->admin_fqdn = m2msec_strdup(cfg.admin_fqdn);
    r->config_json = m2msec_strndup((const char *)resp->body.data, resp->body.len);
    if (r->admin_fqdn == NULL || r->config_json == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    r->expires = cfg.has_et ? cfg.et : 0;
    r->km_expires = k.km != NULL ? k.km->expires : 0;
    *out = r;
    r = NULL;
    rv = 0;
out:
    m2msec_maf_reg_free(r);
    m2msec_mefreg_cfg_clear(&cfg);
    m2msec_http_msg_free(resp);
    client_session_close(&s);
    maf_cred_clear(&k);
    return rv;
}

/* After a re-keying update: the new KmID with the Km derived from the current Ke. */
static int
update_store_rekey(struct m2msec_client *c, const struct maf_cred *k, const char *rid,
                   const char *assigned, struct m2msec_error *err)
{
    struct m2msec_dev_maf_rec keep = { 0 };
    struct m2msec_keyref ref;
    char fqdn[M2MSEC_FQDN_MAX + 1];
    char kmid[M2MSEC_KEYREF_MAX];
    char regid[65];
    int same = k->prev != NULL && k->prev->reg_id != NULL &&
               strcmp(k->prev->reg_id, rid) == 0 /* public */;

    if (m2msec_keyref_parse(assigned, &ref, err) == -1 ||
        !m2msec_fqdn_equal(ref.fqdn, c->cfg->maf_fqdn)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "assignedSymmKeyID '%s' does not name this MAF", assigned);
    }
    m2msec_strlcpy(fqdn, c->cfg->maf_fqdn, sizeof(fqdn));
    m2msec_strlcpy(kmid, assigned, sizeof(kmid));
    m2msec_strlcpy(regid, rid, sizeof(regid));
    keep.maf_fqdn = fqdn;
    keep.kmid = kmid;
    keep.keid = k->enr->keid;
    keep.client_id = k->enr->enrolee_id;
    /* The registration stays the device's when it is the stored one (or none was). */
    keep.reg_id = same || k->prev == NULL || k->prev->reg_id == NULL ? regid : k->prev->reg_id;
    keep.admin_fqdn = same ? k->prev->admin_fqdn : NULL;
    keep.expires = k->enr->expires;
    keep.km = k->derived;
    return m2msec_dev_maf_put(c->db, &keep, err);
}

static int
do_update(struct m2msec_client *c, const char *reg_id, int64_t expires, struct m2msec_maf_reg **out,
          struct m2msec_error *err)
{
    struct maf_cred k = { 0 };
    struct client_session s = { 0 };
    struct m2msec_mefreg_update up = { 0 }, got = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_maf_reg *r = NULL;
    struct m2msec_buf body;
    const char *rid = NULL;
    char fqdn[M2MSEC_FQDN_MAX + 1];
    char target[96];
    int64_t now = m2msec_now();
    int64_t km_exp;
    int rv = -1;

    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    if (expires < 0 || (expires != 0 && expires <= now)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "expirationTime must be in the future");
        goto out;
    }
    if (maf_life_session(c, reg_id, &k, &s, target, &rid, err) == -1) {
        goto out;
    }
    /* An update needs something to change (table 8.8.2.5-1 NOTE): the expirationTime. */
    km_exp = k.km != NULL ? k.km->expires : k.enr->expires;
    if (expires == 0) {
        expires = now + MAF_DEFAULT_ET < km_exp ? now + MAF_DEFAULT_ET : km_exp;
    }
    m2msec_strlcpy(fqdn, c->cfg->maf_fqdn, sizeof(fqdn));
    up.mef_fqdn = fqdn; /* the "mafFQDN" member */
    up.has_et = 1;
    up.et = expires;
    client_step(c, "update", "MAF client registration %s%s", rid,
                k.km == NULL ? " (new Km after re-enrolment)" : "");
    if (m2msec_reg_update_encode(M2MSEC_REG_MAF, &up, 1, &body, err) == -1 ||
        client_roundtrip(&s, M2MSEC_HTTP_PUT, target, &body, M2MSEC_RSC_UPDATED, &resp, err) ==
                -1 ||
        m2msec_reg_update_decode(M2MSEC_REG_MAF, resp->body.data, resp->body.len, 0, &got, err) ==
                -1) {
        goto out;
    }
    /* 8.3.9.9.x-style: the granted expirationTime is in the future. */
    if (!got.has_et || got.et <= m2msec_now()) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                          "MAF response fails verification (expirationTime)");
        goto out;
    }
    /* @spec TS-0003 8.8.2.5: a new Km (KeID session) comes with assignedSymmKeyID, to be
     * used as KmID hereafter; a KmID session must not get one. */
    if ((k.km == NULL) != (got.assigned_kmid != NULL)) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "MAF %s a KmID for %s Km",
                          got.assigned_kmid != NULL ? "assigned" : "assigned no",
                          k.km == NULL ? "the new" : "the current");
        goto out;
    }
    if (k.km == NULL && update_store_rekey(c, &k, rid, got.assigned_kmid, err) == -1) {
        goto out;
    }
    r = maf_reg_new(&k, rid, k.km != NULL ? k.km->kmid : got.assigned_kmid, err);
    if (r == NULL) {
        goto out;
    }
    r->expires = got.et;
    r->km_expires = km_exp;
    r->km_assigned = k.km == NULL;
    client_step(c, "updated", "MAF client registration %s, KmID %s", rid, r->kmid);
    *out = r;
    rv = 0;
out:
    m2msec_mefreg_update_clear(&got);
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&body);
    client_session_close(&s);
    maf_cred_clear(&k);
    return rv;
}

static int
do_deregister(struct m2msec_client *c, const char *reg_id, struct m2msec_error *err)
{
    struct maf_cred k = { 0 };
    struct client_session s = { 0 };
    struct m2msec_http_msg *resp = NULL;
    const char *rid = NULL;
    char target[96];
    size_t nkc = 0;
    int rv = -1;

    if (maf_life_session(c, reg_id, &k, &s, target, &rid, err) == -1) {
        goto out;
    }
    client_step(c, "deregister", "MAF client registration %s", rid);
    if (client_roundtrip(&s, M2MSEC_HTTP_DELETE, target, NULL, M2MSEC_RSC_DELETED, &resp, err) ==
        -1) {
        goto out;
    }
    /* @spec TS-0003 8.8.2.6: the MAF deleted the record and its keys; so does the device. */
    if (m2msec_dev_maf_forget_reg(c->db, c->cfg->maf_fqdn, rid, &nkc, err) == -1) {
        goto out;
    }
    client_step(c, "deregistered", "MAF client registration %s, %zu Kc erased", rid, nkc);
    rv = 0;
out:
    m2msec_http_msg_free(resp);
    client_session_close(&s);
    maf_cred_clear(&k);
    return rv;
}

M2MSEC_API int
m2msec_client_maf_config(struct m2msec_client *c, const char *reg_id, struct m2msec_maf_reg **out)
{
    *out = NULL;
    return client_ready(c) == -1 ? -1 : do_config(c, reg_id, out, &c->err);
}

M2MSEC_API int
m2msec_client_maf_update(struct m2msec_client *c, const char *reg_id, int64_t expires,
                         struct m2msec_maf_reg **out)
{
    *out = NULL;
    return client_ready(c) == -1 ? -1 : do_update(c, reg_id, expires, out, &c->err);
}

M2MSEC_API int
m2msec_client_maf_deregister(struct m2msec_client *c, const char *reg_id)
{
    return client_ready(c) == -1 ? -1 : do_deregister(c, reg_id, &c->err);
}
