/*
 * client/connect.c - Entity A: a PSK security association with Entity B.
 *
 * Layer: client. Picks the key for a psk_identity from the device state
 * (store), runs TLS 1.2 PSK (tls) and one oneM2M request (http, codec).
 *
 * @spec TS-0003 8.2.2.3 (MAF-based SAEF): psk_identity = the Key Identifier
 * of a MAF Key Registration, psk = Kc. @spec TS-0003 8.2.2.1 (PSK SAEF) with
 * a Kpsa provisioned through the MEF (8.3.2.1): psk_identity = the device's
 * KeID, psk = 10.3.7 (Ke, SUID 22, IdB), the key the MEF gives Entity B; or a
 * pre-provisioned KpsaID and its key; or (seed 002) the identifier of a root
 * credential from the PKI bootstrap whose purpose is "cse:<IdB>", psk = that
 * credential. A key past its lifetime is not used:
 * the caller is told to re-provision (SPEC-DIGEST 5 rule 4), never to retry.
 *
 * @spec TS-0003 8.2.2.2 (certificate SAEF): TLS 1.2 ECDHE-ECDSA with Entity
 * A's certificate (or raw public key, 10.1.1.2; or a pkcs11: key), Entity B
 * verified per 8.1.2.5 against its configured certificate information
 * (flavour, the expected IdB in its certificate, trust anchors); the session
 * is associated with that IdB. No device state is needed for it.
 *
 * The request is GET / (Entity B reports its view of the session), or with
 * m2msec_client_saef_register_ae an AE registration: POST / with
 * {"m2m:ae": {"api": <App-ID>, "rr": false}}, expecting 2001.
 */
#include <stdio.h>
#include <string.h>

#include "client/client_int.h"
#include "codec/json.h"
#include "crypto/kdf.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define SAEF_TARGET     "/"
#define SUID_SAEF_LOCAL 12u
#define SUID_SAEF_MEF   22u
#define SUID_SAEF_MAF   32u
#define PSK_MIN         16
#define PSK_MAX         64
#define SAEF_CA_MAX     16

struct m2msec_saef {
    enum m2msec_psk_source source;
    unsigned suid;
    int64_t key_expires;
    char *key_id;
    char *origin;
    char *cipher;
    char *body;
    char *peer;
    char *cred_id;
    char *cse;
    unsigned peer_suid;
    char *flavour;  /* certificate sessions: the flavour Entity B read us as */
    char *verified; /* certificate sessions: IdB as verified in Entity B's certificate */
    char *aei;      /* after an AE registration: the AE-ID and App-ID Entity B accepted */
    char *api;
};

M2MSEC_API void
m2msec_saef_free(struct m2msec_saef *a)
{
    if (a == NULL) {
        return;
    }
    m2msec_free(a->key_id);
    m2msec_free(a->origin);
    m2msec_free(a->cipher);
    m2msec_free(a->body);
    m2msec_free(a->peer);
    m2msec_free(a->cred_id);
    m2msec_free(a->cse);
    m2msec_free(a->flavour);
    m2msec_free(a->verified);
    m2msec_free(a->aei);
    m2msec_free(a->api);
    m2msec_free(a);
}

M2MSEC_API enum m2msec_psk_source
m2msec_saef_source(const struct m2msec_saef *a)
{
    return a->source;
}

M2MSEC_API unsigned
m2msec_saef_suid(const struct m2msec_saef *a)
{
    return a->suid;
}

M2MSEC_API int64_t
m2msec_saef_key_expires(const struct m2msec_saef *a)
{
    return a->key_expires;
}

M2MSEC_API const char *
m2msec_saef_key_id(const struct m2msec_saef *a)
{
    return a->key_id;
}

M2MSEC_API const char *
m2msec_saef_origin(const struct m2msec_saef *a)
{
    return a->origin;
}

M2MSEC_API const char *
m2msec_saef_cipher(const struct m2msec_saef *a)
{
    return a->cipher;
}

M2MSEC_API const char *
m2msec_saef_body(const struct m2msec_saef *a)
{
    return a->body;
}

M2MSEC_API const char *
m2msec_saef_peer(const struct m2msec_saef *a)
{
    return a->peer;
}

M2MSEC_API const char *
m2msec_saef_credential_id(const struct m2msec_saef *a)
{
    return a->cred_id;
}

M2MSEC_API unsigned
m2msec_saef_peer_suid(const struct m2msec_saef *a)
{
    return a->peer_suid;
}

M2MSEC_API const char *
m2msec_saef_cse(const struct m2msec_saef *a)
{
    return a->cse;
}

M2MSEC_API const char *
m2msec_saef_flavour(const struct m2msec_saef *a)
{
    return a->flavour;
}

M2MSEC_API const char *
m2msec_saef_verified_peer(const struct m2msec_saef *a)
{
    return a->verified;
}

M2MSEC_API const char *
m2msec_saef_aei(const struct m2msec_saef *a)
{
    return a->aei;
}

M2MSEC_API const char *
m2msec_saef_api(const struct m2msec_saef *a)
{
    return a->api;
}

M2MSEC_API int
m2msec_client_saef_register_ae(struct m2msec_client *c, const char *app_id)
{
    size_t n = 0;

    m2msec_error_clear(&c->err);
    if (app_id == NULL) {
        c->saef_app_id[0] = '\0';
        return 0;
    }
    n = strnlen(app_id, sizeof(c->saef_app_id));
    if (n == 0 || n >= sizeof(c->saef_app_id) || strpbrk(app_id, " \t,*") != NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "App-ID: 1..%d printable characters, no blank, ',' or '*'",
                                 M2MSEC_ID_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)app_id[i] < 0x21 || (unsigned char)app_id[i] > 0x7e) {
            return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "App-ID: printable ASCII only");
        }
    }
    memcpy(c->saef_app_id, app_id, n + 1);
    return 0;
}

/* The key chosen for the association and what is known about it. */
struct saef_key {
    struct m2msec_secret *key;
    enum m2msec_psk_source source;
    unsigned suid;
    int64_t expires;
};

static int
is_ip_literal(const char *host)
{
    return strchr(host, ':') != NULL || strspn(host, "0123456789.") == strlen(host);
}

static int
key_id_valid(const char *s)
{
    size_t n = 0;

    if (s == NULL) {
        return 0;
    }
    n = strnlen(s, M2MSEC_PSK_IDENTITY_MAX + 1);
    if (n == 0 || n > M2MSEC_PSK_IDENTITY_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

static void
time_text(int64_t t, char out[M2MSEC_TIMESTAMP_LEN])
{
    if (t <= 0 || m2msec_timestamp_format(t, out) == -1) {
        m2msec_strlcpy(out, "-", M2MSEC_TIMESTAMP_LEN);
    }
}

/*
 * Entity B's answer: {"peer", "credentialID", "cse"}, with "suid" and "keyID"
 * on PSK sessions, "flavour" on certificate ones, "aei" and "api" after an
 * AE registration.
 */
static int
parse_answer(struct m2msec_saef *a, const struct m2msec_http_msg *resp, int registered,
             struct m2msec_error *err)
{
    struct m2msec_jr jr;
    json_t *o = NULL;
    char *key_id = NULL;
    uint64_t suid = 0;
    int present = 0;
    int rv = -1;

    a->body = m2msec_strndup((const char *)resp->body.data, resp->body.len);
    if (a->body == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (m2msec_json_parse(resp->body.data, resp->body.len, &o, err) == -1) {
        m2msec_error_wrap(err, "Entity B's answer");
        goto out;
    }
    m2msec_jr_init(&jr, o);
    m2msec_jr_str(&jr, "peer", 1, M2MSEC_ID_MAX + 8, &a->peer);
    m2msec_jr_str(&jr, "credentialID", 1, M2MSEC_ID_MAX + 8, &a->cred_id);
    m2msec_jr_u64(&jr, "suid", a->key_id != NULL, 10, 99, &suid, &present);
    m2msec_jr_str(&jr, "keyID", a->key_id != NULL, M2MSEC_PSK_IDENTITY_MAX, &key_id);
    m2msec_jr_str(&jr, "flavour", a->key_id == NULL, 16, &a->flavour);
    m2msec_jr_str(&jr, "cse", 1, M2MSEC_ID_MAX, &a->cse);
    m2msec_jr_str(&jr, "aei", registered, M2MSEC_ID_MAX, &a->aei);
    m2msec_jr_str(&jr, "api", registered, M2MSEC_ID_MAX, &a->api);
    if (m2msec_jr_finish(&jr, err) == -1) {
        m2msec_error_wrap(err, "Entity B's answer");
        goto out;
    }
    /* Entity B must have resolved the identity we sent, not another one. */
    if (a->key_id != NULL && strcmp(key_id, a->key_id) != 0 /* public */) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "Entity B reports another key identifier (%s)",
                          key_id);
        goto out;
    }
    a->peer_suid = (unsigned)suid;
    rv = 0;
out:
    m2msec_free(key_id);
    json_decref(o);
    return rv;
}

/* The request on an established session: GET /, or the AE registration. */
static int
saef_request(struct m2msec_client *c, struct client_session *s, struct m2msec_saef *a,
             struct m2msec_error *err)
{
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_buf body;
    json_t *o = NULL;
    int registered = c->saef_app_id[0] != '\0';
    int rv = -1;

    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    if (registered) {
        o = json_pack("{s:{s:s,s:b}}", "m2m:ae", "api", c->saef_app_id, "rr", 0);
        if (o == NULL || m2msec_json_dump(o, &body, err) == -1) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "building the AE registration");
            goto out;
        }
        client_step(c, "register", "AE registration as %s with App-ID %s", a->origin,
                    c->saef_app_id);
    }
    if (client_roundtrip(s, registered ? M2MSEC_HTTP_POST : M2MSEC_HTTP_GET, SAEF_TARGET,
                         registered ? &body : NULL, registered ? M2MSEC_RSC_CREATED : M2MSEC_RSC_OK,
                         &resp, err) == -1 ||
        parse_answer(a, resp, registered, err) == -1) {
        goto out;
    }
    client_step(c, "bound", "Entity B %s binds this session to %s", a->cse, a->peer);
    rv = 0;
out:
    json_decref(o);
    m2msec_buf_free(&body);
    m2msec_http_msg_free(resp);
    return rv;
}

/* TLS-PSK to Entity B with (key_id, key), then GET / as origin. */
static int
associate(struct m2msec_client *c, const char *hostport, const char *key_id,
          const struct saef_key *k, const char *origin, struct m2msec_saef **out,
          struct m2msec_error *err)
{
    const struct m2msec_config *cfg = c->cfg;
    struct m2msec_tls_psk_client o = { 0 };
    struct client_session s;
    struct m2msec_saef *a = NULL;
    char port[16];
    int rv = -1;

    memset(&s, 0, sizeof(s));
    if (m2msec_hostport_split(hostport, s.host, sizeof(s.host), port, sizeof(port), err) == -1) {
        goto out;
    }
    if (cfg->sni != NULL) {
        m2msec_strlcpy(s.host, cfg->sni, sizeof(s.host));
    }
    if (m2msec_strlcpy(s.origin, origin, sizeof(s.origin)) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "originator too long");
        goto out;
    }
    a = m2msec_calloc(1, sizeof(*a));
    if (a == NULL || (a->key_id = m2msec_strdup(key_id)) == NULL ||
        (a->origin = m2msec_strdup(origin)) == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    a->source = k->source;
    a->suid = k->suid;
    a->key_expires = k->expires;
    o.hostport = hostport;
    o.sni = is_ip_literal(s.host) ? NULL : s.host;
    o.identity = key_id;
    o.psk = k->key;
    o.timeout_ms = cfg->timeout_ms;
    client_step(c, "connect", "TLS 1.2 PSK to Entity B %s with %s key %s", hostport,
                m2msec_psk_source_name(k->source), key_id);
    if (m2msec_tls_global_init(err) == -1) {
        goto out;
    }
    s.tls = m2msec_tls_connect_psk(&o, err);
    if (s.tls == NULL) {
        if (m2msec_error_code(err) == M2MSEC_ERR_AUTH) {
            m2msec_error_wrap(err, "Entity B refused the handshake (identity unknown to it, "
                                   "expired, or not the key it holds)");
        }
        goto out;
    }
    a->cipher = m2msec_strdup(m2msec_tls_cipher(s.tls));
    if (a->cipher == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    client_step(c, "handshake", "established, suite %s", a->cipher);
    if (saef_request(c, &s, a, err) == -1) {
        goto out;
    }
    *out = a;
    a = NULL;
    rv = 0;
out:
    m2msec_saef_free(a);
    client_session_close(&s);
    return rv;
}

/* The device store, opened on first use. */
static int
open_state(struct m2msec_client *c, int required, struct m2msec_error *err)
{
    if (c->db != NULL) {
        return 0;
    }
    if (c->cfg->state_dir == NULL) {
        return required ? m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                            "no state directory configured")
                        : 0;
    }
    c->db = client_state_open(c->cfg->state_dir, 0, err);
    return c->db != NULL ? 0 : -1;
}

/* The device's Enrolee-ID, the default originator (TS-0003 8.2.2.1: B may learn IdA). */
static int
default_origin(struct m2msec_client *c, char *out, size_t outsz, struct m2msec_error *err)
{
    struct m2msec_enrolment_rec *enr = NULL;
    int rv = -1;

    if (c->db == NULL || m2msec_dev_enrolment_get(c->db, 0, &enr, err) == -1 ||
        enr->enrolee_id == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "no originator: give one (the state holds no Enrolee-ID)");
        goto out;
    }
    if (m2msec_strlcpy(out, enr->enrolee_id, outsz) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE, "stored Enrolee-ID too long");
        goto out;
    }
    rv = 0;
out:
    m2msec_enrolment_rec_free(enr);
    return rv;
}

/* @spec TS-0003 8.2.2.3: the source uses Kc only for the MAF-based SAEF (SUID 32). */
static int
key_from_kc(struct m2msec_dev_kc_rec *kc, struct saef_key *k, struct m2msec_error *err)
{
    char ts[M2MSEC_TIMESTAMP_LEN];

    if (kc->expires <= m2msec_now()) {
        time_text(kc->expires, ts);
        return m2msec_error_setx(err, M2MSEC_ERR_EXPIRED,
                                 "Kc %s expired at %s: re-provision with a new MAF Key "
                                 "Registration",
                                 kc->key_id, ts);
    }
    if (kc->suid != SUID_SAEF_MAF) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Kc %s was registered for SUID %u, not the MAF-based SAEF (%u)",
                                 kc->key_id, kc->suid, SUID_SAEF_MAF);
    }
    k->key = kc->kc;
    kc->kc = NULL;
    k->source = M2MSEC_PSK_SOURCE_MAF;
    k->suid = SUID_SAEF_MAF;
    k->expires = kc->expires;
    return 0;
}

/* @spec TS-0003 10.3.7: Kpsa = HMAC-SHA-256(Ke, label || "22" || IdB), as the MEF derives it. */
static int
key_from_ke(struct m2msec_client *c, const char *peer_id, struct saef_key *k,
            struct m2msec_error *err)
{
    struct m2msec_enrolment_rec *enr = NULL;
    char ts[M2MSEC_TIMESTAMP_LEN];
    int rv = -1;

    if (m2msec_dev_enrolment_get(c->db, 0, &enr, err) == -1) {
        goto out;
    }
    if (enr->expires <= m2msec_now()) {
        time_text(enr->expires, ts);
        m2msec_error_setx(err, M2MSEC_ERR_EXPIRED,
                          "Ke %s expired at %s: re-provision (enrol again)", enr->keid, ts);
        goto out;
    }
    if (peer_id == NULL || !m2msec_entity_id_valid(peer_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "the KeID needs Entity B's id (IdB, a CSE-ID): Kpsa is derived for it");
        goto out;
    }
    m2msec_enrolment_rec_free(enr);
    enr = NULL;
    if (m2msec_dev_enrolment_get(c->db, 1, &enr, err) == -1 ||
        m2msec_derive_usage_constrained(enr->ke, SUID_SAEF_MEF, peer_id, &k->key, err) == -1) {
        goto out;
    }
    k->source = M2MSEC_PSK_SOURCE_MEF;
    k->suid = SUID_SAEF_MEF;
    k->expires = enr->expires;
    rv = 0;
out:
    m2msec_enrolment_rec_free(enr);
    return rv;
}

/*
 * @spec seed 002 x.1.2.1.2 step 4: a root credential of the PKI bootstrap
 * whose purpose is "cse:<CSE-ID>" IS the Kpsa for that CSE (used as is; the
 * CSE fetches it from the MEF with SUID 22 like a KeID's key). root->key
 * moves to k.
 */
static int
key_from_root(struct m2msec_dev_root_rec *root, const char *peer_id, struct saef_key *k,
              struct m2msec_error *err)
{
    char ts[M2MSEC_TIMESTAMP_LEN];

    if (root->expires <= m2msec_now()) {
        time_text(root->expires, ts);
        return m2msec_error_setx(err, M2MSEC_ERR_EXPIRED,
                                 "root credential %s expired at %s: re-provision (bootstrap "
                                 "again)",
                                 root->id, ts);
    }
    if (strncmp(root->purpose, "cse:", 4) != 0 ||
        (peer_id != NULL && strcmp(peer_id, root->purpose + 4) != 0 /* public */)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "root credential %s is for %s, not an SAEF with %s", root->id,
                                 root->purpose, peer_id != NULL ? peer_id : "this CSE");
    }
    k->key = root->key;
    root->key = NULL;
    k->source = M2MSEC_PSK_SOURCE_MEF;
    k->suid = SUID_SAEF_MEF;
    k->expires = root->expires;
    return 0;
}

/* 1 when key_id is the KeID of the stored enrolment. */
static int
is_own_keid(struct m2msec_client *c, const char *key_id)
{
    struct m2msec_enrolment_rec *enr = NULL;
    struct m2msec_error scratch = { 0 };
    struct m2msec_keid a;
    struct m2msec_keid b;
    int same = 0;

    if (m2msec_dev_enrolment_get(c->db, 0, &enr, &scratch) == 0 &&
        m2msec_keid_parse(key_id, &a, &scratch) == 0 &&
        m2msec_keid_parse(enr->keid, &b, &scratch) == 0) {
        same = m2msec_keid_equal(&a, &b);
    }
    m2msec_enrolment_rec_free(enr);
    return same;
}

static int
do_connect(struct m2msec_client *c, const char *hostport, const char *key_id, const char *peer_id,
           const char *origin, struct m2msec_saef **out, struct m2msec_error *err)
{
    struct m2msec_dev_kc_rec *kc = NULL;
    struct m2msec_dev_root_rec *root = NULL;
    struct saef_key k = { 0 };
    char from[M2MSEC_ID_MAX + 8];
    int rc = 0;
    int rv = -1;

    if (hostport == NULL || !key_id_valid(key_id)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "Entity B's address and a printable key identifier are required");
        goto out;
    }
    if (open_state(c, 1, err) == -1) {
        goto out;
    }
    /* Expired records too (now = 0): an expired key must say "re-provision", not "unknown". */
    rc = m2msec_dev_kc_get(c->db, key_id, 0, 1, &kc, err);
    if (rc == 0) {
        if (key_from_kc(kc, &k, err) == -1) {
            goto out;
        }
    } else if (m2msec_error_code(err) != M2MSEC_ERR_NOT_FOUND) {
        goto out;
    } else if (is_own_keid(c, key_id)) {
        m2msec_error_clear(err);
        if (key_from_ke(c, peer_id, &k, err) == -1) {
            goto out;
        }
    } else if (m2msec_dev_root_get(c->db, key_id, 0, 1, &root, err) == 0) {
        if (key_from_root(root, peer_id, &k, err) == -1) {
            goto out;
        }
        /* Its EnroleeID is what the MEF tells Entity B: the natural originator. */
        if (origin == NULL) {
            origin = root->enrolee_id;
        }
    } else if (m2msec_error_code(err) != M2MSEC_ERR_NOT_FOUND) {
        goto out;
    } else {
        m2msec_error_setx(err, M2MSEC_ERR_NOT_FOUND,
                          "no key for %s in the state (neither a registered Kc nor this "
                          "device's KeID): give the pre-provisioned key",
                          key_id);
        goto out;
    }
    if (origin == NULL) {
        if (default_origin(c, from, sizeof(from), err) == -1) {
            goto out;
        }
        origin = from;
    }
    rv = associate(c, hostport, key_id, &k, origin, out, err);
out:
    m2msec_secret_free(k.key);
    m2msec_dev_kc_rec_free(kc);
    m2msec_dev_root_rec_free(root);
    return rv;
}

M2MSEC_API int
m2msec_client_connect(struct m2msec_client *c, const char *hostport, const char *key_id,
                      const char *peer_id, const char *origin, struct m2msec_saef **out)
{
    m2msec_error_clear(&c->err);
    if (out == NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_ARGUMENT, "no output");
    }
    *out = NULL;
    if (c->cfg == NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_STATE, "client not configured");
    }
    return do_connect(c, hostport, key_id, peer_id, origin, out, &c->err);
}

M2MSEC_API int
m2msec_client_connect_psk(struct m2msec_client *c, const char *hostport, const char *kpsa_id,
                          const uint8_t *key, size_t key_len, const char *origin,
                          struct m2msec_saef **out)
{
    struct saef_key k = { 0 };
    char from[M2MSEC_ID_MAX + 8];
    int rv = -1;

    m2msec_error_clear(&c->err);
    if (out == NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_ARGUMENT, "no output");
    }
    *out = NULL;
    if (c->cfg == NULL) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_STATE, "client not configured");
    }
    if (hostport == NULL || !key_id_valid(kpsa_id) || key == NULL || key_len < PSK_MIN ||
        key_len > PSK_MAX) {
        return m2msec_error_setx(&c->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Entity B's address, a printable KpsaID and a key of %d..%d "
                                 "bytes are required",
                                 PSK_MIN, PSK_MAX);
    }
    if (origin == NULL) {
        if (open_state(c, 0, &c->err) == -1 ||
            default_origin(c, from, sizeof(from), &c->err) == -1) {
            goto out;
        }
        origin = from;
    }
    k.key = m2msec_secret_from(key, key_len, &c->err);
    if (k.key == NULL) {
        goto out;
    }
    k.source = M2MSEC_PSK_SOURCE_LOCAL;
    k.suid = SUID_SAEF_LOCAL;
    rv = associate(c, hostport, kpsa_id, &k, origin, out, &c->err);
out:
    m2msec_secret_free(k.key);
    return rv;
}

/*
 * @spec TS-0003 8.1.2.4 what Entity A is configured with about Entity B:
 * the flavour and, except for raw keys, the identifier expected in B's
 * certificate and the trust anchors. B is a CSE: its certificate is a CSE-ID,
 * FQDN, Node-ID or device certificate, or a raw public key.
 */
static int
peer_info(const char *flavour, const char *peer_id, const char *const *ca, size_t nca,
          struct m2msec_cert_info *ci, struct m2msec_error *err)
{
    enum m2msec_cert_flavour f = client_cert_flavour(flavour);

    memset(ci, 0, sizeof(*ci));
    if (f == M2MSEC_CERT_UNSET || f == M2MSEC_CERT_ANY || f == M2MSEC_CERT_AE_ID) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Entity B's certificate flavour '%.32s': cse-id, fqdn, node-id, "
                                 "device or raw",
                                 flavour != NULL ? flavour : "");
    }
    if (peer_id == NULL || peer_id[0] == '\0') {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Entity B's identity (IdB) expected in its certificate is "
                                 "required");
    }
    if (f == M2MSEC_CERT_RAW ? nca != 0 : (ca == NULL || nca == 0 || nca > SAEF_CA_MAX)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 f == M2MSEC_CERT_RAW
                                         ? "a raw public key is identified by its digest alone: "
                                           "no trust anchors"
                                         : "1..16 trust anchor files for Entity B are required");
    }
    ci->flavour = f;
    ci->id = peer_id;
    ci->ca_files = ca;
    ci->n_ca_files = nca;
    return 0;
}

M2MSEC_API int
m2msec_client_connect_cert(struct m2msec_client *c, const char *hostport, const char *cert_file,
                           const char *key_file, const char *peer_flavour, const char *peer_id,
                           const char *const *peer_ca_files, size_t n_peer_ca, const char *origin,
                           struct m2msec_saef **out)
{
    struct m2msec_tls_cert_client o;
    struct client_session s;
    struct m2msec_saef *a = NULL;
    struct m2msec_error *err = &c->err;
    const char *verified = NULL;
    char from[M2MSEC_ID_MAX + 8];
    char port[16];
    int rv = -1;

    m2msec_error_clear(&c->err);
    memset(&s, 0, sizeof(s));
    memset(&o, 0, sizeof(o));
    if (out == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no output");
    }
    *out = NULL;
    if (c->cfg == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE, "client not configured");
    }
    if (hostport == NULL || key_file == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Entity B's address and our key (with its certificate, or alone "
                                 "as a raw public key) are required");
    }
    if (peer_info(peer_flavour, peer_id, peer_ca_files, n_peer_ca, &o.server, err) == -1) {
        goto out;
    }
    if (origin == NULL) {
        /* Without state the originator must be given: a certificate says nothing of it. */
        if (open_state(c, 0, err) == -1 || default_origin(c, from, sizeof(from), err) == -1) {
            goto out;
        }
        origin = from;
    }
    if (m2msec_hostport_split(hostport, s.host, sizeof(s.host), port, sizeof(port), err) == -1) {
        goto out;
    }
    if (c->cfg->sni != NULL) {
        m2msec_strlcpy(s.host, c->cfg->sni, sizeof(s.host));
    }
    if (m2msec_strlcpy(s.origin, origin, sizeof(s.origin)) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "originator too long");
        goto out;
    }
    a = m2msec_calloc(1, sizeof(*a));
    if (a == NULL || (a->origin = m2msec_strdup(origin)) == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    a->source = M2MSEC_PSK_SOURCE_CERT;
    o.hostport = hostport;
    o.sni = is_ip_literal(s.host) ? NULL : s.host;
    o.cert_file = cert_file;
    o.key_file = key_file;
    o.timeout_ms = c->cfg->timeout_ms;
    client_step(c, "connect", "TLS 1.2 certificate handshake to Entity B %s (%s %s)", hostport,
                peer_flavour, peer_id);
    if (m2msec_tls_global_init(err) == -1) {
        goto out;
    }
    s.tls = m2msec_tls_connect_cert(&o, err);
    if (s.tls == NULL) {
        goto out;
    }
    /* @spec TS-0003 8.2.2.2: the context is associated with IdB as verified. */
    verified = m2msec_tls_peer_identity(s.tls, NULL);
    a->verified = m2msec_strdup(verified != NULL ? verified : peer_id);
    a->cipher = m2msec_strdup(m2msec_tls_cipher(s.tls));
    if (a->verified == NULL || a->cipher == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    client_step(c, "handshake", "established with %s, suite %s", a->verified, a->cipher);
    if (saef_request(c, &s, a, err) == -1) {
        goto out;
    }
    *out = a;
    a = NULL;
    rv = 0;
out:
    m2msec_saef_free(a);
    client_session_close(&s);
    return rv;
}
