/*
 * client/ibc.c - IBC credentials on the device: enrolment in the exchange, trust-store refresh,
 * and decentralised authentication (IBC-SIGMA, then TLS 1.2 PSK) between two devices.
 *
 * Layer: client. [PROJECT] seed 000 steps 8-9 and "Use of Remotely Provisioned
 * Credential"; IBC-DESIGN (shared/docs) 3.5 and 4.2; wire formats in
 * docs/PROTOCOL.md 12.4 and 12.5. The handshake itself is proto/ibc_sigma.c
 * (I/O-free); this file carries its three messages over TCP and runs TLS-PSK
 * with the Kpsa it yields.
 *
 * Transport (PROTOCOL.md 12.5): frames of type (1) || length (2, big-endian)
 * || payload, at most M2MSEC_IBC_MSG_MAX bytes of payload, each read and
 * written under a deadline. Type 1 carries an IBC-SIGMA message, type 2 a
 * refusal reason (informative, unauthenticated; the sender closes), type 3
 * the responder's acceptance of M3. The frames go through the tls module's
 * plain-socket calls (m2msec_tcp_write_all / _read_exact) on the descriptor
 * its m2msec_tcp_connect / _accept returned: no socket call here.
 *
 * After the acceptance frame both sides run TLS 1.2 PSK with Kpsa/KpsaID on
 * the SAME TCP connection (m2msec_tls_connect_psk with has_fd on the
 * initiator, m2msec_tls_accept on the responder): the key agreement and the
 * session it keys cannot be split across connections.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "codec/json.h"
#include "crypto/eccsi.h"
#include "crypto/rand.h"
#include "proto/ibc_sigma.h"
#include "proto/id2.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define IBC_FRAME_MSG     0x01
#define IBC_FRAME_REFUSAL 0x02
#define IBC_FRAME_ACCEPT  0x03
#define IBC_FRAME_HDR     3
#define IBC_REASON_MAX    256
#define IBC_SKEW_DEFAULT  60
#define IBC_LIFE_DEFAULT  (400ULL * 24 * 3600)
#define IBC_REPLAY_CAP    4096
#define IBC_ACCEPT_SLICE  200 /* ms: how often the listener looks at *stop */
#define IBC_ANSWER_MAX    4096
#define IBC_TARGET_ENROL  "/" M2MSEC_PATH_MEF_BASE "/" M2MSEC_PATH_ENROLMENT
#define IBC_TARGET_PKG    "/" M2MSEC_PATH_MEF_BASE "/" M2MSEC_PATH_PKG

/*
 * Enrolment (seed 000 steps 8-9).
 */

M2MSEC_API int
m2msec_config_set_ibc(struct m2msec_config *cfg, const char *id1)
{
    m2msec_error_clear(&cfg->err);
    if (cfg->frozen) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_STATE,
                                 "configuration is in use and can no longer change");
    }
    if (id1 != NULL &&
        (id1[0] == '\0' || strlen(id1) > M2MSEC_CLIENT_ID1_MAX || !m2msec_entity_id_valid(id1))) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "ID1 must be a CSE-ID or AE-ID of 1..%d bytes",
                                 M2MSEC_CLIENT_ID1_MAX);
    }
    cfg->ind.ibc_enrolment = 1;
    (void)m2msec_strlcpy(cfg->ibc_id1, id1 != NULL ? id1 : "", sizeof(cfg->ibc_id1));
    return 0;
}

M2MSEC_API const char *
m2msec_client_ibc_id1(const struct m2msec_client *c)
{
    return c->ibc_id1[0] != '\0' ? c->ibc_id1 : NULL;
}

M2MSEC_API int64_t
m2msec_client_ibc_expires(const struct m2msec_client *c)
{
    return c->ibc_id1[0] != '\0' ? c->ibc_expires : 0;
}

/* The wire MPK set as trust-store records. */
static void
mpks_to_store(const struct m2msec_mpk_set *set, struct m2msec_dev_mpk_rec *out)
{
    size_t i;

    for (i = 0; i < set->n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        (void)m2msec_strlcpy(out[i].fqdn, set->mpk[i].fqdn, sizeof(out[i].fqdn));
        out[i].version = set->mpk[i].version;
        memcpy(out[i].kpak, set->mpk[i].kpak, sizeof(out[i].kpak));
        out[i].not_before = set->mpk[i].valid_from;
        out[i].not_after = set->mpk[i].valid_to;
        out[i].key_period = set->mpk[i].key_period;
        out[i].key_period_offset = set->mpk[i].key_period_offset;
    }
}

/*
 * @spec seed 000 step 9: the Enrolee checks what it received before it keeps
 * it. Returns 0 (cred checked, rec filled) or -1 with the reason in why.
 */
static int
ibc_check_credential(const struct m2msec_ibc_cred_resp *rs, const char *id1, int64_t cap,
                     int64_t now, struct m2msec_dev_ibc_rec *rec, struct m2msec_error *why)
{
    struct m2msec_id2 id2;
    struct m2msec_ibc_cred *cred = NULL;
    const struct m2msec_mpk_info *mpk = NULL;
    size_t i;
    int rv = -1;

    if (m2msec_id2_parse(rs->id2, rs->id2_len, &id2, why) == -1) {
        m2msec_error_wrap(why, "ID2");
        goto out;
    }
    if (strcmp(id2.id1, id1) != 0) { /* public */
        m2msec_error_setx(why, M2MSEC_ERR_PROTOCOL, "ID2 names ID1 '%s', asked for '%s'", id2.id1,
                          id1);
        goto out;
    }
    if (id2.expiry <= now || (cap != 0 && id2.expiry > cap)) {
        m2msec_error_setx(why, M2MSEC_ERR_PROTOCOL,
                          "ID2 expiry is in the past or after the instruction's lifetime");
        goto out;
    }
    for (i = 0; i < rs->mpks.n; i++) {
        if (rs->mpks.mpk[i].version == rs->mpk_version) {
            mpk = &rs->mpks.mpk[i];
        }
    }
    if (mpk == NULL || strcmp(mpk->fqdn, id2.fqdn) != 0 /* public */ || mpk->valid_from > now ||
        mpk->valid_to < id2.expiry) {
        m2msec_error_setx(why, M2MSEC_ERR_PROTOCOL,
                          "the MPK of the credential is missing, of another PKG, or ends before "
                          "it");
        goto out;
    }
    /* @spec RFC 6507 5.1.2: PVT on the curve and KPAK = [SSK]G - [HS]PVT. */
    cred = m2msec_ibc_cred_new(rs->id2, rs->id2_len, rs->ssk, rs->pvt, mpk->kpak, why);
    if (cred == NULL) {
        goto out;
    }
    memcpy(rec->id2, rs->id2, rs->id2_len);
    rec->id2_len = rs->id2_len;
    rec->expires = id2.expiry;
    rec->mpk_version = rs->mpk_version;
    memcpy(rec->kpak, mpk->kpak, sizeof(rec->kpak));
    memcpy(rec->pvt, rs->pvt, sizeof(rec->pvt));
    rv = 0;
out:
    m2msec_ibc_cred_free(cred);
    return rv;
}

int
client_ibc_enrol(struct m2msec_client *c, struct client_session *s, const char *xid, unsigned step,
                 const struct m2msec_instruction *in, const char *enrolee_id,
                 struct m2msec_enrol_report *report, struct m2msec_error *err)
{
    const struct m2msec_config *cfg = c->cfg;
    struct m2msec_ibc_cred_req rq = { 0 };
    struct m2msec_ibc_cred_resp rs = { 0 };
    struct m2msec_dev_ibc_rec rec = { 0 };
    struct m2msec_dev_mpk_rec mpks[M2MSEC_MPK_SET_MAX];
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_error why = { 0 };
    struct m2msec_buf body;
    char target[160], id1[M2MSEC_CLIENT_ID1_MAX + 1], exp[M2MSEC_ID2_EXPIRY_LEN + 1];
    int rv = -1;

    memset(report, 0, sizeof(*report));
    report->step = step;
    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    /* Default ID1: the Enrolee-ID the MEF associated with our credential. */
    if (m2msec_strlcpy(id1,
                       cfg->ibc_id1[0] != '\0' ? cfg->ibc_id1
                       : enrolee_id != NULL    ? enrolee_id
                                               : "",
                       sizeof(id1)) == -1 ||
        id1[0] == '\0') {
        m2msec_error_setx(&why, M2MSEC_ERR_INVALID_ARGUMENT, "no ID1 to ask for");
        goto report;
    }
    rq.step = step;
    rq.id1 = id1;
    (void)snprintf(target, sizeof(target), "%s/%s/%s", IBC_TARGET_ENROL, xid, M2MSEC_PATH_IBC);
    client_step(c, "ibc", "requesting an IBC credential for %s", id1);
    if (m2msec_ibc_cred_req_encode(&rq, &body, err) == -1) {
        goto out;
    }
    if (client_roundtrip(s, M2MSEC_HTTP_POST, target, &body, M2MSEC_RSC_CREATED, &resp, &why) ==
        -1) {
        /* A refusal (wrong ID1, no PKG) is the step's failure; a broken session is ours. */
        if (m2msec_error_code(&why) != M2MSEC_ERR_REFUSED) {
            m2msec_error_copy(err, &why);
            goto out;
        }
        goto report;
    }
    if (m2msec_ibc_cred_resp_decode(resp->body.data, resp->body.len, &rs, &why) == -1 ||
        ibc_check_credential(&rs, id1, in->lifetime, m2msec_now(), &rec, &why) == -1) {
        goto report;
    }
    rec.id1 = id1;
    rec.fqdn = rs.mpks.mpk[0].fqdn;
    rec.mef = cfg->mef;
    rec.created = m2msec_now();
    rec.ssk = rs.ssk;
    mpks_to_store(&rs.mpks, mpks);
    if (m2msec_dev_ibc_put(c->db, &rec, mpks, rs.mpks.n, err) == -1) {
        goto out;
    }
    (void)m2msec_strlcpy(c->ibc_id1, id1, sizeof(c->ibc_id1));
    c->ibc_expires = rec.expires;
    c->ibc_mpk_version = rec.mpk_version;
    (void)m2msec_id2_expiry_format(rec.expires, exp, &why);
    client_step(c, "ibc", "credential for %s under MPK version %u, expires %s, sealed in %s", id1,
                rec.mpk_version, exp, cfg->state_dir);
    report->success = 1;
    rv = 0;
    goto out;
report:
    /* @spec seed 000 step 9: a credential that fails is reported, and nothing is kept. */
    client_step(c, "ibc", "refused: %s", m2msec_error_msg(&why));
    report->success = 0;
    report->reason = m2msec_strndup(m2msec_error_msg(&why), M2MSEC_REASON_MAX - 1);
    if (report->reason == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    rv = 0;
out:
    m2msec_ibc_cred_resp_clear(&rs);
    m2msec_http_msg_free(resp);
    m2msec_buf_free(&body);
    return rv;
}

M2MSEC_API int
m2msec_client_ibc_refresh(struct m2msec_client *c, size_t *n)
{
    struct client_session s = { 0 };
    struct m2msec_http_msg *resp = NULL;
    struct m2msec_mpk_set set;
    struct m2msec_dev_mpk_rec mpks[M2MSEC_MPK_SET_MAX];
    struct m2msec_error *err = &c->err;
    int rv = -1;

    if (client_ready(c) == -1) {
        return -1;
    }
    if (c->cfg->state_dir == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE, "no state directory configured");
    }
    if (c->db == NULL) {
        c->db = client_state_open(c->cfg->state_dir, 0, err);
        if (c->db == NULL) {
            return -1;
        }
    }
    if (client_session_open(c, &s, err) == -1 ||
        client_roundtrip(&s, M2MSEC_HTTP_GET, IBC_TARGET_PKG, NULL, M2MSEC_RSC_OK, &resp, err) ==
                -1 ||
        m2msec_mpk_set_decode(resp->body.data, resp->body.len, &set, err) == -1) {
        goto out;
    }
    mpks_to_store(&set, mpks);
    if (m2msec_dev_mpk_replace(c->db, set.mpk[0].fqdn, mpks, set.n, err) == -1) {
        goto out;
    }
    client_step(c, "ibc", "trust store: %zu MPK(s) of %s, current version %u", set.n,
                set.mpk[0].fqdn, set.current);
    if (n != NULL) {
        *n = set.n;
    }
    rv = 0;
out:
    m2msec_http_msg_free(resp);
    client_session_close(&s);
    return rv;
}

/*
 * Decentralised authentication.
 */

struct m2msec_ibc {
    struct m2msec_error err;
    struct m2msec_ibc_cred *cred;
    struct m2msec_ibc_mpk mpk[M2MSEC_IBC_MPK_MAX];
    size_t nmpk;
    unsigned skew;
    uint64_t max_lifetime;
    unsigned timeout_ms;
    /* last session */
    char kpsa_id[M2MSEC_IBC_KPSA_ID_MAX + 1];
    char peer_id1[M2MSEC_ID2_ID1_MAX + 1];
    int64_t expires;
    int answer_rsc;
    char answer[IBC_ANSWER_MAX + 1];
    /* diagnostics */
    char *capture_dir;
    char *replay_m1;
    char *replay_m3;
    char *origin;
};

M2MSEC_API struct m2msec_ibc *
m2msec_ibc_new(void)
{
    struct m2msec_ibc *b = m2msec_calloc(1, sizeof(*b));

    if (b != NULL) {
        b->skew = IBC_SKEW_DEFAULT;
        b->max_lifetime = IBC_LIFE_DEFAULT;
        b->timeout_ms = M2MSEC_DEFAULT_TIMEOUT_MS;
    }
    return b;
}

M2MSEC_API void
m2msec_ibc_free(struct m2msec_ibc *b)
{
    if (b == NULL) {
        return;
    }
    m2msec_ibc_cred_free(b->cred);
    m2msec_free(b->capture_dir);
    m2msec_free(b->replay_m1);
    m2msec_free(b->replay_m3);
    m2msec_free(b->origin);
    m2msec_free(b);
}

M2MSEC_API const char *
m2msec_ibc_error(const struct m2msec_ibc *b)
{
    return b->err.msg;
}

M2MSEC_API enum m2msec_err
m2msec_ibc_error_code(const struct m2msec_ibc *b)
{
    return b->err.code;
}

M2MSEC_API int
m2msec_ibc_load(struct m2msec_ibc *b, const char *state_dir)
{
    struct m2msec_db *db = NULL;
    struct m2msec_dev_ibc_rec *rec = NULL;
    struct m2msec_dev_mpk_rec *list = NULL;
    size_t n = 0, i;
    int rv = -1;

    m2msec_error_clear(&b->err);
    if (state_dir == NULL) {
        return m2msec_error_setx(&b->err, M2MSEC_ERR_INVALID_ARGUMENT, "no state directory");
    }
    db = client_state_open(state_dir, 0, &b->err);
    if (db == NULL || m2msec_dev_ibc_get(db, 1, &rec, &b->err) == -1 ||
        m2msec_dev_mpk_list(db, &list, &n, &b->err) == -1) {
        goto out;
    }
    m2msec_ibc_cred_free(b->cred);
    b->cred = m2msec_ibc_cred_new(rec->id2, rec->id2_len, rec->ssk, rec->pvt, rec->kpak, &b->err);
    if (b->cred == NULL) {
        m2msec_error_wrap(&b->err, "stored IBC credential");
        goto out;
    }
    /* The trust store: the MPKs our MEF published (IBC-DESIGN 3.5). */
    b->nmpk = 0;
    for (i = 0; i < n && b->nmpk < M2MSEC_IBC_MPK_MAX; i++) {
        struct m2msec_ibc_mpk *m = &b->mpk[b->nmpk++];

        memset(m, 0, sizeof(*m));
        (void)m2msec_strlcpy(m->fqdn, list[i].fqdn, sizeof(m->fqdn));
        memcpy(m->kpak, list[i].kpak, sizeof(m->kpak));
        m->not_before = list[i].not_before;
        m->not_after = list[i].not_after;
    }
    rv = 0;
out:
    m2msec_free(list);
    m2msec_dev_ibc_rec_free(rec);
    m2msec_db_close(db);
    return rv;
}

M2MSEC_API int
m2msec_ibc_add_trust(struct m2msec_ibc *b, const char *spec)
{
    struct m2msec_ibc_mpk m;
    const char *c1, *c2;
    size_t flen, klen, got = 0;
    uint64_t na = 0;

    m2msec_error_clear(&b->err);
    memset(&m, 0, sizeof(m));
    c1 = spec != NULL ? strchr(spec, ':') : NULL;
    if (c1 == NULL) {
        return m2msec_error_setx(&b->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "trust anchor must be FQDN:KPAKHEX[:NOTAFTER]");
    }
    c2 = strchr(c1 + 1, ':');
    flen = (size_t)(c1 - spec);
    klen = c2 != NULL ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
    if (flen == 0 || flen >= sizeof(m.fqdn)) {
        return m2msec_error_setx(&b->err, M2MSEC_ERR_INVALID_ARGUMENT, "trust anchor: bad FQDN");
    }
    memcpy(m.fqdn, spec, flen);
    if (!m2msec_id2_fqdn_valid(m.fqdn) ||
        m2msec_hex_decode(c1 + 1, klen, m.kpak, sizeof(m.kpak), &got, &b->err) == -1 ||
        got != sizeof(m.kpak) || m.kpak[0] != 0x04 ||
        (c2 != NULL &&
         m2msec_parse_u64(c2 + 1, strlen(c2 + 1), (uint64_t)M2MSEC_ID2_TIME_MAX, &na) == -1)) {
        return m2msec_error_setx(&b->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "trust anchor must be FQDN (lowercase):KPAK (130 hex "
                                 "digits, 04...)[:NOTAFTER (Unix seconds)]");
    }
    m.not_after = (int64_t)na;
    if (b->nmpk >= M2MSEC_IBC_MPK_MAX) {
        return m2msec_error_setx(&b->err, M2MSEC_ERR_TOO_LARGE, "at most %d trust anchors",
                                 M2MSEC_IBC_MPK_MAX);
    }
    b->mpk[b->nmpk++] = m;
    return 0;
}

M2MSEC_API int
m2msec_ibc_set_skew(struct m2msec_ibc *b, unsigned seconds)
{
    m2msec_error_clear(&b->err);
    if (seconds > M2MSEC_ID2_SKEW_MAX) {
        return m2msec_error_setx(&b->err, M2MSEC_ERR_INVALID_ARGUMENT, "skew is 0..%d s",
                                 M2MSEC_ID2_SKEW_MAX);
    }
    b->skew = seconds;
    return 0;
}

M2MSEC_API int
m2msec_ibc_set_max_lifetime(struct m2msec_ibc *b, uint64_t seconds)
{
    m2msec_error_clear(&b->err);
    if (seconds == 0 || seconds > (uint64_t)M2MSEC_ID2_TIME_MAX) {
        return m2msec_error_setx(&b->err, M2MSEC_ERR_INVALID_ARGUMENT, "bad maximum lifetime");
    }
    b->max_lifetime = seconds;
    return 0;
}

M2MSEC_API int
m2msec_ibc_set_timeout_ms(struct m2msec_ibc *b, unsigned ms)
{
    m2msec_error_clear(&b->err);
    if (ms == 0) {
        return m2msec_error_setx(&b->err, M2MSEC_ERR_INVALID_ARGUMENT, "timeout must be > 0");
    }
    b->timeout_ms = ms;
    return 0;
}

M2MSEC_API const char *
m2msec_ibc_own_id1(const struct m2msec_ibc *b)
{
    return b->cred != NULL ? m2msec_ibc_cred_id2(b->cred)->id1 : NULL;
}

M2MSEC_API const char *
m2msec_ibc_own_fqdn(const struct m2msec_ibc *b)
{
    return b->cred != NULL ? m2msec_ibc_cred_id2(b->cred)->fqdn : NULL;
}

M2MSEC_API int64_t
m2msec_ibc_own_expires(const struct m2msec_ibc *b)
{
    return b->cred != NULL ? m2msec_ibc_cred_id2(b->cred)->expiry : 0;
}

M2MSEC_API size_t
m2msec_ibc_trust_count(const struct m2msec_ibc *b)
{
    return b->nmpk;
}

M2MSEC_API const char *
m2msec_ibc_kpsa_id(const struct m2msec_ibc *b)
{
    return b->kpsa_id[0] != '\0' ? b->kpsa_id : NULL;
}

M2MSEC_API const char *
m2msec_ibc_peer_id1(const struct m2msec_ibc *b)
{
    return b->peer_id1[0] != '\0' ? b->peer_id1 : NULL;
}

M2MSEC_API int64_t
m2msec_ibc_session_expires(const struct m2msec_ibc *b)
{
    return b->expires;
}

M2MSEC_API int
m2msec_ibc_answer_rsc(const struct m2msec_ibc *b)
{
    return b->answer_rsc;
}

M2MSEC_API const char *
m2msec_ibc_answer(const struct m2msec_ibc *b)
{
    return b->answer[0] != '\0' ? b->answer : NULL;
}

static int
set_opt_str(struct m2msec_ibc *b, char **dst, const char *v)
{
    char *copy = NULL;

    m2msec_error_clear(&b->err);
    if (v != NULL && (copy = m2msec_strdup(v)) == NULL) {
        return m2msec_error_setx(&b->err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    m2msec_free(*dst);
    *dst = copy;
    return 0;
}

M2MSEC_API int
m2msec_ibc_set_capture(struct m2msec_ibc *b, const char *dir)
{
    return set_opt_str(b, &b->capture_dir, dir);
}

M2MSEC_API int
m2msec_ibc_set_replay(struct m2msec_ibc *b, const char *m1_file, const char *m3_file)
{
    if (set_opt_str(b, &b->replay_m1, m1_file) == -1) {
        return -1;
    }
    return set_opt_str(b, &b->replay_m3, m3_file);
}

M2MSEC_API int
m2msec_ibc_set_origin(struct m2msec_ibc *b, const char *origin)
{
    return set_opt_str(b, &b->origin, origin);
}

/* The policy of one handshake: our trust store, skew, lifetime, replay cache. */
static int
ibc_policy(const struct m2msec_ibc *b, const struct m2msec_ibc_replay *replay,
           struct m2msec_ibc_policy *p, struct m2msec_error *err)
{
    if (b->cred == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "no IBC credential loaded (m2msec_ibc_load)");
    }
    if (b->nmpk == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "empty trust store: no MPK from the MEF and no --trust");
    }
    memset(p, 0, sizeof(*p));
    p->mpk = b->mpk;
    p->nmpk = b->nmpk;
    p->skew = b->skew;
    p->max_lifetime = (int64_t)b->max_lifetime;
    p->replay = replay;
    return 0;
}

/*
 * Frames (PROTOCOL.md 12.5) on a connected descriptor, each under a deadline.
 */

static int
frame_send(int fd, uint8_t type, const uint8_t *p, size_t n, unsigned timeout_ms,
           struct m2msec_error *err)
{
    uint8_t frame[IBC_FRAME_HDR + M2MSEC_IBC_MSG_MAX];

    if (n > M2MSEC_IBC_MSG_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "IBC frame of %zu bytes", n);
    }
    frame[0] = type;
    frame[1] = (uint8_t)(n >> 8);
    frame[2] = (uint8_t)(n & 0xff);
    if (n > 0) {
        memcpy(frame + IBC_FRAME_HDR, p, n);
    }
    return m2msec_tcp_write_all(fd, frame, IBC_FRAME_HDR + n, timeout_ms, "IBC-SIGMA", err);
}

/* Read one frame into buf (M2MSEC_IBC_MSG_MAX + 1 bytes); a refusal frame's text is NUL-ended. */
static int
frame_recv(int fd, uint8_t *type, uint8_t *buf, size_t *len, unsigned timeout_ms,
           struct m2msec_error *err)
{
    uint8_t hdr[IBC_FRAME_HDR];
    uint64_t deadline = m2msec_monotonic_ms() + timeout_ms;
    uint64_t now;
    size_t n;

    if (m2msec_tcp_read_exact(fd, hdr, sizeof(hdr), timeout_ms, "IBC-SIGMA", err) == -1) {
        return -1;
    }
    n = ((size_t)hdr[1] << 8) | hdr[2];
    if ((hdr[0] != IBC_FRAME_MSG && hdr[0] != IBC_FRAME_REFUSAL && hdr[0] != IBC_FRAME_ACCEPT) ||
        n > M2MSEC_IBC_MSG_MAX || (hdr[0] == IBC_FRAME_REFUSAL && n > IBC_REASON_MAX) ||
        (hdr[0] == IBC_FRAME_ACCEPT && n != 0) || (hdr[0] == IBC_FRAME_MSG && n == 0)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "IBC-SIGMA: malformed frame");
    }
    /* One deadline for the whole frame: the payload gets what the header left. */
    now = m2msec_monotonic_ms();
    if (n > 0 && (now >= deadline || m2msec_tcp_read_exact(fd, buf, n, (unsigned)(deadline - now),
                                                           "IBC-SIGMA", err) == -1)) {
        if (now >= deadline) {
            m2msec_error_setx(err, M2MSEC_ERR_TIMEOUT, "IBC-SIGMA: peer too slow");
        }
        return -1;
    }
    buf[n] = '\0';
    *type = hdr[0];
    *len = n;
    return 0;
}

/* Tell the peer why (best effort; the reason is not a secret, never a key). */
static void
frame_refuse(int fd, const char *reason, unsigned timeout_ms)
{
    struct m2msec_error ignored = { 0 };
    size_t n = strlen(reason);

    if (n > IBC_REASON_MAX) {
        n = IBC_REASON_MAX;
    }
    (void)frame_send(fd, IBC_FRAME_REFUSAL, (const uint8_t *)reason, n,
                     timeout_ms < 1000 ? timeout_ms : 1000, &ignored);
}

/* Expect an IBC-SIGMA message; a refusal frame becomes the error. */
static int
recv_msg(int fd, uint8_t *buf, size_t *len, unsigned timeout_ms, const char *what,
         struct m2msec_error *err)
{
    uint8_t type = 0;

    if (frame_recv(fd, &type, buf, len, timeout_ms, err) == -1) {
        m2msec_error_wrap(err, "waiting for %s", what);
        return -1;
    }
    if (type == IBC_FRAME_REFUSAL) {
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH, "the peer refused: %s", (const char *)buf);
    }
    if (type != IBC_FRAME_MSG) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "IBC-SIGMA: expected %s", what);
    }
    return 0;
}

/* Diagnostics: files of captured messages. */
static void
capture(const struct m2msec_ibc *b, const char *name, const uint8_t *p, size_t n)
{
    char path[4200];
    FILE *f;

    if (b->capture_dir == NULL) {
        return;
    }
    (void)snprintf(path, sizeof(path), "%s/%s", b->capture_dir, name);
    f = fopen(path, "wb");
    if (f != NULL) {
        (void)fwrite(p, 1, n, f);
        (void)fclose(f);
    }
}

static int
load_file(const char *path, uint8_t *buf, size_t cap, size_t *len, struct m2msec_error *err)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL) {
        return m2msec_error_set(err, M2MSEC_ERR_IO, "cannot open %s", path);
    }
    n = fread(buf, 1, cap, f);
    (void)fclose(f);
    if (n == 0 || n >= cap) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s is empty or too long", path);
    }
    *len = n;
    return 0;
}

/* Lookup of the responder's TLS-PSK server: only the KpsaID just agreed. */
struct psk_slot {
    const char *kpsa_id;
    const struct m2msec_secret *kpsa;
};

static int
psk_slot_lookup(void *arg, void *ctx, const char *identity, struct m2msec_secret **key)
{
    struct psk_slot *slot = arg;
    struct m2msec_error err = { 0 };

    (void)ctx;
    if (slot->kpsa == NULL || strcmp(identity, slot->kpsa_id) != 0) { /* public */
        return 1;
    }
    *key = m2msec_secret_dup(slot->kpsa, &err);
    return *key != NULL ? 0 : -1;
}

/* The initiator's TLS-PSK client on fd, the IBC-SIGMA connection (its ownership passes). */
static struct m2msec_tls_conn *
ibc_tls_client(const char *hostport, int fd, const char *kpsa_id, const struct m2msec_secret *kpsa,
               unsigned timeout_ms, struct m2msec_error *err)
{
    struct m2msec_tls_psk_client o;

    memset(&o, 0, sizeof(o));
    o.hostport = hostport;
    o.has_fd = 1;
    o.fd = fd;
    o.identity = kpsa_id;
    o.psk = kpsa;
    o.timeout_ms = timeout_ms;
    return m2msec_tls_connect_psk(&o, err);
}

/*
 * Initiator.
 */

/* A short JSON string member value from the answer for the caller (bounded copy). */
static void
keep_answer(struct m2msec_ibc *b, const struct m2msec_http_msg *m)
{
    size_t n = m->body.len < IBC_ANSWER_MAX ? m->body.len : IBC_ANSWER_MAX;

    if (n > 0) {
        memcpy(b->answer, m->body.data, n);
    }
    b->answer[n] = '\0';
}

M2MSEC_API int
m2msec_ibc_connect(struct m2msec_ibc *b, const char *hostport, const char *peer_id1)
{
    struct m2msec_error *err = &b->err;
    struct m2msec_ibc_policy pol;
    struct m2msec_ibc_sigma *s = NULL;
    struct m2msec_ibc_session info;
    struct m2msec_secret *kpsa = NULL;
    struct client_session cs;
    struct m2msec_http_msg *resp = NULL;
    uint8_t m1[M2MSEC_IBC_MSG_MAX + 1], m2[M2MSEC_IBC_MSG_MAX + 1], m3[M2MSEC_IBC_MSG_MAX + 1];
    size_t m1_len = 0, m2_len = 0, m3_len = 0;
    char host[256], port[16];
    uint8_t type = 0;
    int fd = -1, rv = -1;

    m2msec_error_clear(err);
    memset(&cs, 0, sizeof(cs));
    b->kpsa_id[0] = '\0';
    b->peer_id1[0] = '\0';
    b->expires = 0;
    b->answer_rsc = 0;
    b->answer[0] = '\0';
    if (hostport == NULL || peer_id1 == NULL || !m2msec_entity_id_valid(peer_id1)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "connect needs host:port and the peer's ID1 (CSE-ID or AE-ID)");
    }
    if (ibc_policy(b, NULL, &pol, err) == -1 ||
        m2msec_hostport_split(hostport, host, sizeof(host), port, sizeof(port), err) == -1) {
        return -1;
    }
    s = m2msec_ibc_sigma_new(M2MSEC_IBC_INITIATOR, b->cred, &pol, peer_id1, err);
    if (s == NULL) {
        goto out;
    }
    /* @spec IBC-DESIGN 4.2 step 4: refuse before any I/O when our own credential has expired. */
    if (b->replay_m1 != NULL) {
        if (load_file(b->replay_m1, m1, sizeof(m1), &m1_len, err) == -1) {
            goto out;
        }
    } else if (m2msec_ibc_sigma_start(s, m2msec_now(), m1, sizeof(m1), &m1_len, err) == -1) {
        goto out;
    }
    capture(b, "m1.bin", m1, m1_len);
    fd = m2msec_tcp_connect(hostport, b->timeout_ms, err);
    if (fd < 0) {
        goto out;
    }
    if (frame_send(fd, IBC_FRAME_MSG, m1, m1_len, b->timeout_ms, err) == -1 ||
        recv_msg(fd, m2, &m2_len, b->timeout_ms, "M2", err) == -1) {
        goto out;
    }
    capture(b, "m2.bin", m2, m2_len);
    if (b->replay_m1 != NULL) {
        /* A replayed M1 has no session behind it: all we can send is a captured M3. */
        if (b->replay_m3 == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                              "replayed M1 answered with M2; no M3 to send");
            goto out;
        }
    } else if (m2msec_ibc_sigma_handle_m2(s, m2msec_now(), m2, m2_len, m3, sizeof(m3), &m3_len,
                                          err) == -1) {
        frame_refuse(fd, m2msec_error_msg(err), b->timeout_ms);
        goto out;
    }
    if (b->replay_m3 != NULL && load_file(b->replay_m3, m3, sizeof(m3), &m3_len, err) == -1) {
        goto out;
    }
    capture(b, "m3.bin", m3, m3_len);
    if (frame_send(fd, IBC_FRAME_MSG, m3, m3_len, b->timeout_ms, err) == -1 ||
        frame_recv(fd, &type, m2, &m2_len, b->timeout_ms, err) == -1) {
        goto out;
    }
    if (type == IBC_FRAME_REFUSAL) {
        m2msec_error_setx(err, M2MSEC_ERR_AUTH, "the peer refused: %s", (const char *)m2);
        goto out;
    }
    if (type != IBC_FRAME_ACCEPT || b->replay_m1 != NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "IBC-SIGMA: expected the peer's acceptance");
        goto out;
    }
    if (m2msec_ibc_sigma_result(s, &kpsa, &info, err) == -1) {
        goto out;
    }
    (void)m2msec_strlcpy(b->kpsa_id, info.kpsa_id, sizeof(b->kpsa_id));
    (void)m2msec_strlcpy(b->peer_id1, info.peer.id1, sizeof(b->peer_id1));
    b->expires = info.expires;
    /* TLS 1.2 PSK with Kpsa/KpsaID, then one oneM2M request as our ID1. */
    cs.tls = ibc_tls_client(hostport, fd, info.kpsa_id, kpsa, b->timeout_ms, err);
    fd = -1; /* owned by the TLS layer now */
    if (cs.tls == NULL) {
        m2msec_error_wrap(err, "TLS-PSK with the IBC-SIGMA key");
        goto out;
    }
    (void)m2msec_strlcpy(cs.host, host, sizeof(cs.host));
    (void)m2msec_strlcpy(cs.origin, b->origin != NULL ? b->origin : m2msec_ibc_own_id1(b),
                         sizeof(cs.origin));
    if (client_roundtrip(&cs, M2MSEC_HTTP_GET, "/", NULL, M2MSEC_RSC_OK, &resp, err) == -1) {
        b->answer_rsc = err->rsc;
        goto out;
    }
    b->answer_rsc = M2MSEC_RSC_OK;
    keep_answer(b, resp);
    rv = 0;
out:
    m2msec_http_msg_free(resp);
    client_session_close(&cs);
    if (fd >= 0) {
        m2msec_tcp_close(fd);
    }
    m2msec_secret_free(kpsa);
    m2msec_ibc_sigma_free(s);
    m2msec_wipe(m3, sizeof(m3));
    return rv;
}

/*
 * Responder.
 */

struct ibc_listener {
    struct m2msec_ibc *b;
    const char *const *peers;
    size_t npeers;
    struct m2msec_ibc_replay replay;
    m2msec_ibc_event_cb cb;
    void *arg;
    int lfd;
    struct m2msec_tls_server *tls;
    struct psk_slot slot;
};

static void ibc_event(const struct ibc_listener *l, const char *event, const char *fmt, ...)
        M2MSEC_PRINTF(3, 4);

static void
ibc_event(const struct ibc_listener *l, const char *event, const char *fmt, ...)
{
    char detail[768];
    va_list ap;

    if (l->cb == NULL) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    l->cb(l->arg, event, detail);
}

/*
 * With --peer: the initiator's ID1 from M1's ID2, read before any crypto, so
 * that an initiator no one expects is refused at once. NULL when M1 does not
 * even parse that far (the handshake then refuses it with the exact reason).
 */
static int
m1_peer_id1(const uint8_t *m1, size_t len, struct m2msec_id2 *out)
{
    struct m2msec_error ignored = { 0 };
    size_t n;

    if (len < M2MSEC_IBC_FIXED_LEN + 2) {
        return -1;
    }
    n = ((size_t)m1[M2MSEC_IBC_FIXED_LEN] << 8) | m1[M2MSEC_IBC_FIXED_LEN + 1];
    if (n > len - M2MSEC_IBC_FIXED_LEN - 2) {
        return -1;
    }
    return m2msec_id2_parse(m1 + M2MSEC_IBC_FIXED_LEN + 2, n, out, &ignored);
}

/* Response header names and values (the header struct holds non-const pointers). */
static char h_rsc[] = M2MSEC_HDR_RSC;
static char h_ri[] = M2MSEC_HDR_RI;
static char h_rvi[] = M2MSEC_HDR_RVI;
static char h_ctype[] = "Content-Type";
static char v_rvi[] = M2MSEC_RVI;
static char v_json[] = "application/json";

/* Serve oneM2M requests on the TLS-PSK session until the peer closes, idles, or it expires. */
static int
ibc_serve_requests(struct ibc_listener *l, struct m2msec_tls_conn *tls,
                   const struct m2msec_ibc_session *info, int *answered)
{
    struct m2msec_ibc *b = l->b;
    struct m2msec_error err = { 0 };
    struct m2msec_http_parser *p = NULL;
    struct m2msec_http_msg *req = NULL;
    struct m2msec_buf out, body;
    struct m2msec_http_header hdrs[4];
    uint8_t chunk[4096];
    char rsc_s[8], ts[M2MSEC_TIMESTAMP_LEN], ri_copy[M2MSEC_ID_MAX + 1];
    const char *origin, *ri;
    size_t used = 0, nh;
    ssize_t got;
    int64_t left;
    int r, rsc, rv = -1;

    m2msec_buf_init(&out, M2MSEC_HTTP_MAX_HEADER_BYTES + M2MSEC_HTTP_MAX_BODY);
    m2msec_buf_init(&body, M2MSEC_HTTP_MAX_BODY);
    p = m2msec_http_parser_new(1, &err);
    if (p == NULL) {
        goto out;
    }
    for (;;) {
        /* @spec IBC-DESIGN 4.2 step 5: the session ends at min(EXPIRY_A, EXPIRY_B). */
        left = info->expires - m2msec_now();
        if (left <= 0) {
            ibc_event(l, "closed", "peer=%s reason=\"session lifetime reached\"", info->peer.id1);
            break;
        }
        m2msec_tls_set_timeout(tls, left * 1000 < (int64_t)b->timeout_ms ? (unsigned)(left * 1000)
                                                                         : b->timeout_ms);
        got = m2msec_tls_read(tls, chunk, sizeof(chunk), &err);
        if (got <= 0) {
            break; /* closed, idle or expired */
        }
        r = m2msec_http_parser_feed(p, chunk, (size_t)got, &used, &err);
        if (r == -1) {
            goto out;
        }
        if (r == 0) {
            continue;
        }
        req = m2msec_http_parser_take(p);
        origin = m2msec_http_header_get(req, M2MSEC_HDR_ORIGIN);
        ri = m2msec_http_header_get(req, M2MSEC_HDR_RI);
        m2msec_buf_reset(&body);
        m2msec_buf_reset(&out);
        /* The originator is the peer IBC-SIGMA authenticated, or nobody. */
        if (origin == NULL || strcmp(origin, info->peer.id1) != 0) { /* public */
            rsc = M2MSEC_RSC_ORIGINATOR_NOT_AUTHENTICATED;
            (void)m2msec_dbg_encode("X-M2M-Origin is not the authenticated peer ID1", &body, &err);
        } else {
            rsc = M2MSEC_RSC_OK;
            m2msec_timestamp_format(info->expires, ts);
            (void)m2msec_buf_appendf(&body, &err,
                                     "{\"m2m:ibc\":{\"initiator\":\"%s\",\"responder\":\"%s\","
                                     "\"kpsaID\":\"%s\",\"expires\":\"%s\"}}",
                                     info->peer.id1, m2msec_ibc_own_id1(b), info->kpsa_id, ts);
        }
        (void)snprintf(rsc_s, sizeof(rsc_s), "%d", rsc);
        nh = 0;
        hdrs[nh++] = (struct m2msec_http_header){ h_rsc, rsc_s };
        if (ri != NULL && m2msec_http_header_value_safe(ri) &&
            m2msec_strlcpy(ri_copy, ri, sizeof(ri_copy)) == 0) {
            hdrs[nh++] = (struct m2msec_http_header){ h_ri, ri_copy };
        }
        hdrs[nh++] = (struct m2msec_http_header){ h_rvi, v_rvi };
        hdrs[nh++] = (struct m2msec_http_header){ h_ctype, v_json };
        ibc_event(l, "request", "peer=%s origin=%s method=%s target=%s rsc=%d", info->peer.id1,
                  origin != NULL ? origin : "-", m2msec_http_method_name(req->method), req->target,
                  rsc);
        if (m2msec_http_write_response(&out, m2msec_http_status_for_rsc(rsc), hdrs, nh, body.data,
                                       body.len, req->keep_alive, &err) == -1 ||
            m2msec_tls_write_all(tls, out.data, out.len, &err) == -1) {
            goto out;
        }
        *answered = 1;
        if (!req->keep_alive) {
            break;
        }
        m2msec_http_msg_free(req);
        req = NULL;
    }
    rv = 0;
out:
    if (rv == -1) {
        ibc_event(l, "closed", "peer=%s reason=\"%s\"", info->peer.id1, m2msec_error_msg(&err));
    }
    m2msec_http_msg_free(req);
    m2msec_http_parser_free(p);
    m2msec_buf_free(&out);
    m2msec_buf_free(&body);
    return rv;
}

/* One initiator on fd (closed here). 1 when a session reached the request stage. */
static int
ibc_serve_one(struct ibc_listener *l, int fd)
{
    struct m2msec_ibc *b = l->b;
    struct m2msec_error err = { 0 };
    struct m2msec_ibc_policy pol;
    struct m2msec_ibc_sigma *s = NULL;
    struct m2msec_ibc_session info;
    struct m2msec_secret *kpsa = NULL;
    struct m2msec_tls_conn *tls = NULL;
    struct m2msec_id2 claimed;
    uint8_t m1[M2MSEC_IBC_MSG_MAX + 1], m2[M2MSEC_IBC_MSG_MAX + 1], m3[M2MSEC_IBC_MSG_MAX + 1];
    size_t m1_len = 0, m2_len = 0, m3_len = 0, i;
    char ts[M2MSEC_TIMESTAMP_LEN];
    const char *expected = NULL;
    int answered = 0, ok = 0;

    if (recv_msg(fd, m1, &m1_len, b->timeout_ms, "M1", &err) == -1) {
        goto refused;
    }
    if (l->npeers > 0) {
        if (m1_peer_id1(m1, m1_len, &claimed) == 0) {
            for (i = 0; i < l->npeers; i++) {
                if (strcmp(l->peers[i], claimed.id1) == 0) { /* public */
                    expected = l->peers[i];
                }
            }
            if (expected == NULL) {
                m2msec_error_setx(&err, M2MSEC_ERR_AUTH,
                                  "M1 refused: peer ID1 %s is not one this listener accepts",
                                  claimed.id1);
                goto refused;
            }
        } else {
            expected = l->peers[0]; /* the handshake refuses M1 with the exact reason */
        }
    }
    if (ibc_policy(b, &l->replay, &pol, &err) == -1) {
        goto refused;
    }
    s = m2msec_ibc_sigma_new(M2MSEC_IBC_RESPONDER, b->cred, &pol, expected, &err);
    if (s == NULL ||
        m2msec_ibc_sigma_handle_m1(s, m2msec_now(), m1, m1_len, m2, sizeof(m2), &m2_len, &err) ==
                -1 ||
        frame_send(fd, IBC_FRAME_MSG, m2, m2_len, b->timeout_ms, &err) == -1 ||
        recv_msg(fd, m3, &m3_len, b->timeout_ms, "M3", &err) == -1 ||
        m2msec_ibc_sigma_handle_m3(s, m3, m3_len, &err) == -1 ||
        m2msec_ibc_sigma_result(s, &kpsa, &info, &err) == -1) {
        goto refused;
    }
    m2msec_timestamp_format(info.expires, ts);
    ibc_event(l, "session", "peer=%s kpsa_id=%s expires=%s", info.peer.id1, info.kpsa_id, ts);
    if (frame_send(fd, IBC_FRAME_ACCEPT, NULL, 0, b->timeout_ms, &err) == -1) {
        goto failed;
    }
    /* TLS-PSK on this same connection; the lookup answers only the agreed KpsaID. */
    l->slot.kpsa_id = info.kpsa_id;
    l->slot.kpsa = kpsa;
    tls = m2msec_tls_accept(l->tls, fd, NULL, b->timeout_ms, &err);
    fd = -1; /* owned by the TLS layer now */
    if (tls == NULL) {
        m2msec_error_wrap(&err, "TLS-PSK with the IBC-SIGMA key");
        goto failed;
    }
    ibc_event(l, "tls", "peer=%s kpsa_id=%s cipher=%s", info.peer.id1, info.kpsa_id,
              m2msec_tls_cipher(tls));
    (void)ibc_serve_requests(l, tls, &info, &answered);
    (void)m2msec_tls_close(tls);
    ok = answered;
    goto out;
refused:
    ibc_event(l, "refused", "reason=\"%s\"", m2msec_error_msg(&err));
    frame_refuse(fd, m2msec_error_msg(&err), b->timeout_ms);
    goto out;
failed:
    ibc_event(l, "closed", "reason=\"%s\"", m2msec_error_msg(&err));
out:
    l->slot.kpsa_id = NULL;
    l->slot.kpsa = NULL;
    m2msec_tls_conn_free(tls);
    if (fd >= 0) {
        m2msec_tcp_close(fd);
    }
    m2msec_secret_free(kpsa);
    m2msec_ibc_sigma_free(s);
    return ok;
}

M2MSEC_API int
m2msec_ibc_listen(struct m2msec_ibc *b, const char *addr, const char *const *peers, size_t npeers,
                  int once, const volatile int *stop, m2msec_ibc_event_cb cb, void *arg)
{
    struct m2msec_error *err = &b->err;
    struct m2msec_ibc_replay_mem *cache = NULL;
    struct m2msec_ibc_policy pol;
    struct ibc_listener l;
    char bound[128];
    size_t i;
    int fd, rv = -1;

    m2msec_error_clear(err);
    memset(&l, 0, sizeof(l));
    l.lfd = -1;
    if (addr == NULL || (npeers > 0 && peers == NULL)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "listen needs ADDR:PORT");
    }
    for (i = 0; i < npeers; i++) {
        if (peers[i] == NULL || !m2msec_entity_id_valid(peers[i])) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "peer %zu is not a CSE-ID or AE-ID", i);
        }
    }
    if (ibc_policy(b, NULL, &pol, err) == -1) {
        return -1;
    }
    /* @spec IBC-DESIGN 4.2: a replayed M1 is refused at once, before any ECDH or signing. */
    cache = m2msec_ibc_replay_mem_new(IBC_REPLAY_CAP, err);
    if (cache == NULL || m2msec_tls_global_init(err) == -1) {
        goto out;
    }
    l.b = b;
    l.peers = peers;
    l.npeers = npeers;
    l.replay = m2msec_ibc_replay_mem_iface(cache);
    l.cb = cb;
    l.arg = arg;
    l.tls = m2msec_tls_server_new_psk(psk_slot_lookup, &l.slot, err);
    if (l.tls == NULL) {
        goto out;
    }
    l.lfd = m2msec_tcp_listen(addr, 16, bound, sizeof(bound), err);
    if (l.lfd < 0) {
        goto out;
    }
    ibc_event(&l, "listening", "%s id1=%s", bound, m2msec_ibc_own_id1(b));
    while (stop == NULL || *stop == 0) {
        fd = m2msec_tcp_accept(l.lfd, IBC_ACCEPT_SLICE, err);
        if (fd == -2) {
            continue;
        }
        if (fd < 0) {
            if (stop != NULL && *stop != 0) {
                break;
            }
            goto out;
        }
        if (ibc_serve_one(&l, fd) && once) {
            break;
        }
    }
    m2msec_error_clear(err);
    rv = 0;
out:
    if (l.lfd >= 0) {
        m2msec_tcp_close(l.lfd);
    }
    m2msec_tls_server_free(l.tls);
    m2msec_ibc_replay_mem_free(cache);
    return rv;
}
