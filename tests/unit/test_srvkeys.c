/*
 * tests/unit/test_srvkeys.c - the key registry's shared request handlers
 * (srv/keys.c) for both kinds, MEF and MAF, on a real store in a temporary
 * directory: one success per operation (register, retrieve, update,
 * de-register) and the refusals around each (4000, 4004, 4005, 4103, 4105,
 * 5000), the expiry caps, the daemon hooks (further target limit, log
 * notes, error reply) and the error reply itself. Then the clients' side of
 * the same registry: the argument handling client/mefkey.c and client/maf.c
 * share (client/keyutil.c).
 *
 * @spec TS-0003 8.3.5.2.7 - 8.3.5.2.10 (MEF), 8.8.2.7 - 8.8.2.10 (MAF)
 */
/* cmocka needs these four first; the blank line keeps clang-format from reordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client_int.h"
#include "codec/json.h"
#include "codec/keyreg_msg.h"
#include "keys.h"
#include "log.h"
#include "server.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/time.h"

#define REL_A   "0123456789abcdef0123456789abcdef"
#define REL_B   "fedcba9876543210fedcba9876543210"
#define REG_1   "11111111111111111111111111111111"
#define REG_2   "22222222222222222222222222222222"
#define REG_X   "33333333333333333333333333333333" /* never created */
#define ADMIN   "admin.example.com"
#define DAY     86400
#define LIFEMAX (30 * DAY) /* the policy cap of the sessions */
/* base64 of 32 bytes 0x11 */
#define KV32 "ERERERERERERERERERERERERERERERERERERERERERE="

/* ---- per kind ---------------------------------------------------------------------------------- */

struct kind {
    enum m2msec_keyreg_kind kind;
    enum m2msec_reg_peer peer;
    const char *base;   /* first path segment */
    const char *fqdn;   /* the registrar's */
    const char *member; /* its FQDN member */
    const char *other;  /* the other registrar's FQDN member */
    unsigned suid;      /* a SAEF SUID of this registry (one target) */
    unsigned esdata;    /* an ESData SUID of this registry (targets) */
    unsigned foreign;   /* a SUID of the other registry */
    const char *owner_a, *owner_b;
    const char *not_owned; /* the message of another client's registration */
};

static const struct kind kind_mef = {
    .kind = M2MSEC_KEYREG_MEF,
    .peer = M2MSEC_REG_MEF,
    .base = "mef",
    .fqdn = "mef.example.com",
    .member = "mefFQDN",
    .other = "mafFQDN",
    .suid = 22,
    .esdata = 24,
    .foreign = 32,
    .owner_a = "kpm-a",
    .owner_b = "kpm-b",
    .not_owned = "registration '" REG_2 "' belongs to another client",
};

static const struct kind kind_maf = {
    .kind = M2MSEC_KEYREG_MAF,
    .peer = M2MSEC_REG_MAF,
    .base = "maf",
    .fqdn = "maf.example.com",
    .member = "mafFQDN",
    .other = "mefFQDN",
    .suid = 32,
    .esdata = 34,
    .foreign = 22,
    .owner_a = REL_A,
    .owner_b = REL_B,
    .not_owned = "the registration belongs to another client",
};

/* ---- hooks: what a daemon would log, limit and answer ------------------------------------------ */

#define NOTES_MAX 8

struct note {
    enum srv_keys_event ev;
    char rel_key_id[40], key_id[320], kc[16], suid[8], target[32], source_id[32], kcv[24],
            labels[16], targets[16];
};

static struct note notes[NOTES_MAX];
static size_t nnotes;
static size_t nlimit_calls; /* calls of the target limit */
static size_t nreplies;     /* calls of the daemon's error reply */

static void
copy(char *dst, size_t dstsz, const char *src)
{
    (void)snprintf(dst, dstsz, "%s", src != NULL ? src : "");
}

static void
t_note(const struct srv_keys_session *ks, const struct srv_keys_note *n)
{
    struct note *o = &notes[nnotes % NOTES_MAX];

    (void)ks;
    memset(o, 0, sizeof(*o));
    o->ev = n->ev;
    copy(o->rel_key_id, sizeof(o->rel_key_id), n->rel_key_id);
    copy(o->key_id, sizeof(o->key_id), n->key_id);
    copy(o->kc, sizeof(o->kc), n->kc);
    copy(o->suid, sizeof(o->suid), n->suid);
    copy(o->target, sizeof(o->target), n->target);
    copy(o->source_id, sizeof(o->source_id), n->source_id);
    copy(o->kcv, sizeof(o->kcv), n->kcv);
    copy(o->labels, sizeof(o->labels), n->labels);
    copy(o->targets, sizeof(o->targets), n->targets);
    nnotes++;
}

static const struct note *
last_note(void)
{
    assert_true(nnotes > 0);
    return &notes[(nnotes - 1) % NOTES_MAX];
}

/* Like mafd's operator limit: "/cse-x" is a target no client here may name. */
static int
t_limit(const struct srv_keys_session *ks, char *const *targets, size_t n, struct m2msec_error *err)
{
    size_t i;

    (void)ks;
    nlimit_calls++;
    for (i = 0; i < n; i++) {
        if (strcmp(targets[i], "/cse-x") == 0) {
            return m2msec_error_setr(err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                                     "target '%s' is not allowed for this client", targets[i]);
        }
    }
    return 0;
}

static int
t_reply(struct srv_response *resp, const struct m2msec_error *err)
{
    nreplies++;
    return srv_keys_reply_error(resp, err);
}

/* ---- fixture ----------------------------------------------------------------------------------- */

struct fx {
    const struct kind *k;
    char dir[64];
    char path[96];
    struct m2msec_secret *kek;
    struct m2msec_db *db;
    struct srv_keys_ops ops;
    int exported_a, exported_b, exported_c;
    char owner_a[40], owner_b[40], owner_c[40], none[1];
    char id_a[16], id_b[16], id_c[16];
    struct srv_keys_session a, b, c, anon; /* A and B own registrations, C is a target */
    int64_t now;
    int log_fd;
};

static struct m2msec_secret *
key_of(uint8_t b)
{
    struct m2msec_error err = { 0 };
    uint8_t k[32];

    memset(k, b, sizeof(k));
    return m2msec_secret_from(k, sizeof(k), &err);
}

static void
mef_reg(struct fx *fx, const char *reg_id, char *owner, char *client_id)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mefreg_rec r = { 0 };
    char admin[] = ADMIN;

    memcpy(r.reg_id, reg_id, 33);
    r.kpm_id = owner;
    r.client_id = client_id;
    r.admin_fqdn = admin;
    r.expires = fx->now + 365 * DAY;
    if (m2msec_mef_reg_create(fx->db, &r, fx->now, &err) != 0) {
        fail_msg("mef_reg_create: %s", err.msg);
    }
}

/* A pre-provisioned MAF client (SUID 11) with one registration. */
static void
maf_reg(struct fx *fx, const char *reg_id, char *kmid_rel, char *client_id)
{
    struct m2msec_error err = { 0 };
    struct m2msec_maf_client_rec c = { 0 };
    struct m2msec_mafreg_rec r = { 0 };
    char admin[] = ADMIN;

    memcpy(c.kmid_rel, kmid_rel, 33);
    c.client_id = client_id;
    c.suid = 11;
    c.km = key_of(0x77);
    c.expires = fx->now + 2 * 365 * DAY;
    c.created = fx->now;
    memcpy(r.reg_id, reg_id, 33);
    r.kmid_rel = kmid_rel;
    r.admin_fqdn = admin;
    r.expires = fx->now + 365 * DAY;
    if (m2msec_maf_client_add(fx->db, &c, fx->now, &err) != 0 ||
        m2msec_maf_register(fx->db, NULL, &r, fx->now, &err) != 0) {
        m2msec_secret_free(c.km);
        fail_msg("maf client: %s", err.msg);
    }
    m2msec_secret_free(c.km);
}

static void
session(struct fx *fx, struct srv_keys_session *s, char *owner, char *client_id, int *exported)
{
    memset(s, 0, sizeof(*s));
    s->ops = &fx->ops;
    s->db = fx->db;
    s->tls = NULL; /* no exporter here: every key below is supplied, or refused before */
    s->fqdn = fx->k->fqdn;
    s->lifetime_max_s = LIFEMAX;
    s->owner = owner;
    s->client_id = client_id;
    s->kc_exported = exported;
}

static int
setup_kind(void **state, const struct kind *k)
{
    struct m2msec_error err = { 0 };
    struct fx *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    *state = fx;
    fx->log_fd = -1;
    fx->k = k;
    fx->now = m2msec_now();
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/m2msec-srvkeys-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/s.db", fx->dir);
    fx->kek = m2msec_secret_random(32, &err);
    fx->db = m2msec_db_open(fx->path,
                            k->kind == M2MSEC_KEYREG_MEF ? M2MSEC_SCHEMA_MEF : M2MSEC_SCHEMA_MAF,
                            fx->kek, &err);
    if (fx->kek == NULL || fx->db == NULL) {
        return -1;
    }
    fx->ops.kind = k->kind;
    fx->ops.note = t_note;
    copy(fx->owner_a, sizeof(fx->owner_a), k->owner_a);
    copy(fx->owner_b, sizeof(fx->owner_b), k->owner_b);
    copy(fx->owner_c, sizeof(fx->owner_c), "kpm-c");
    copy(fx->id_a, sizeof(fx->id_a), "/cse-a");
    copy(fx->id_b, sizeof(fx->id_b), "/cse-b");
    copy(fx->id_c, sizeof(fx->id_c), "/cse-c");
    if (k->kind == M2MSEC_KEYREG_MEF) {
        mef_reg(fx, REG_1, fx->owner_a, fx->id_a);
        mef_reg(fx, REG_2, fx->owner_b, fx->id_b);
    } else {
        maf_reg(fx, REG_1, fx->owner_a, fx->id_a);
        maf_reg(fx, REG_2, fx->owner_b, fx->id_b);
        /* The MAF's own part: an operator's limit on targets, its own error reply. */
        fx->ops.targets_allowed = t_limit;
        fx->ops.reply_error = t_reply;
    }
    session(fx, &fx->a, fx->owner_a, fx->id_a, &fx->exported_a);
    session(fx, &fx->b, fx->owner_b, fx->id_b, &fx->exported_b);
    session(fx, &fx->c, fx->owner_c, fx->id_c, &fx->exported_c);
    session(fx, &fx->anon, fx->none, fx->id_c, &fx->exported_c);
    memset(notes, 0, sizeof(notes));
    nnotes = nlimit_calls = nreplies = 0;
    /* internal_error lines go nowhere. */
    fx->log_fd = open("/dev/null", O_WRONLY);
    srv_log_init("test_srvkeys", SRV_LOG_DEBUG, fx->log_fd);
    return 0;
}

static int
setup_mef(void **state)
{
    return setup_kind(state, &kind_mef);
}

static int
setup_maf(void **state)
{
    return setup_kind(state, &kind_maf);
}

static int
teardown(void **state)
{
    struct fx *fx = *state;
    char p[128];

    if (fx == NULL) {
        return 0;
    }
    m2msec_db_close(fx->db);
    snprintf(p, sizeof(p), "%s-wal", fx->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", fx->path);
    unlink(p);
    unlink(fx->path);
    rmdir(fx->dir);
    m2msec_secret_free(fx->kek);
    srv_log_init("test_srvkeys", SRV_LOG_INFO, 2);
    if (fx->log_fd >= 0) {
        close(fx->log_fd);
    }
    free(fx);
    return 0;
}

/* ---- requests ---------------------------------------------------------------------------------- */

struct answer {
    int rsc;
    struct m2msec_buf body;
};

/* One request through srv_keys_handle, as a daemon's router hands it over. */
static void
call(const struct srv_keys_session *s, enum m2msec_http_method method, const char *target,
     const char *body, struct answer *a)
{
    struct m2msec_error err = { 0 };
    struct m2msec_http_msg req;
    struct srv_response resp;
    char tbuf[256];
    char storage[256];
    char *segs[8];
    int n;

    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    copy(tbuf, sizeof(tbuf), target);
    req.is_request = 1;
    req.method = method;
    req.target = tbuf;
    m2msec_buf_init(&req.body, 65536);
    if (body != NULL) {
        assert_int_equal(m2msec_buf_append_str(&req.body, body, &err), 0);
    }
    m2msec_buf_init(&resp.body, 65536);
    resp.rsc = M2MSEC_RSC_INTERNAL_SERVER_ERROR;
    n = srv_path_split(target, segs, 8, storage, sizeof(storage));
    assert_true(n > 0);
    assert_int_equal(srv_keys_handle(s, segs, n, &req, &resp), 0);
    m2msec_buf_free(&req.body);
    m2msec_buf_reset(&a->body);
    assert_int_equal(m2msec_buf_append(&a->body, resp.body.data, resp.body.len, &err), 0);
    m2msec_buf_free(&resp.body);
    a->rsc = resp.rsc;
}

/* 1 when the answer's body holds s. */
static int
says(const struct answer *a, const char *s)
{
    size_t n = strlen(s), i;

    for (i = 0; i + n <= a->body.len; i++) {
        if (memcmp(a->body.data + i, s, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
expect(const struct answer *a, int rsc, const char *dbg)
{
    if (a->rsc != rsc || (dbg != NULL && !says(a, dbg))) {
        fail_msg("expected %d '%s', got %d '%.*s'", rsc, dbg != NULL ? dbg : "", a->rsc,
                 (int)a->body.len, (const char *)a->body.data);
    }
}

/* A Key Registration body: member and fqdn as given, et now + et_s, suid, targets JSON, key. */
static void
reg_body(const struct fx *fx, char *out, size_t outsz, const char *member, const char *fqdn,
         int64_t et_s, unsigned suid, const char *targets, int with_key)
{
    char ts[M2MSEC_TIMESTAMP_LEN];

    assert_int_equal(m2msec_timestamp_format(fx->now + et_s, ts), 0);
    assert_true((size_t)snprintf(
                        out, outsz,
                        "{\"%s\":\"%s\",\"et\":\"%s\",\"lbl\":[\"l1\"],\"adminFQDN\":\"%s\","
                        "\"suid\":%u%s%s%s}",
                        member, fqdn, ts, ADMIN, suid, targets != NULL ? ",\"targetIDs\":" : "",
                        targets != NULL ? targets : "",
                        with_key ? ",\"keyValue\":\"" KV32 "\"" : "") < outsz);
}

static void
path_reg(const struct fx *fx, char *out, size_t outsz, const char *reg_id)
{
    assert_true((size_t)snprintf(out, outsz, "/%s/%s/keys", fx->k->base, reg_id) < outsz);
}

static void
path_key(const struct fx *fx, char *out, size_t outsz, const char *rel)
{
    assert_true((size_t)snprintf(out, outsz, "/%s/keys/%s", fx->k->base, rel) < outsz);
}

/* A registered key with the supplied value, as A under REG_1 for /cse-c; rel gets its id. */
static void
register_key(struct fx *fx, char rel[40], int64_t *et)
{
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_resp rs = { 0 };
    struct answer a;
    char body[512], path[128];

    m2msec_buf_init(&a.body, 65536);
    reg_body(fx, body, sizeof(body), fx->k->member, fx->k->fqdn, DAY, fx->k->suid, "[\"/cse-c\"]",
             1);
    path_reg(fx, path, sizeof(path), REG_1);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 2001, NULL);
    assert_int_equal(m2msec_keyreg_resp_decode(fx->k->peer, a.body.data, a.body.len, &rs, &err), 0);
    copy(rel, 40, rs.rel_key_id);
    if (et != NULL) {
        *et = rs.et;
    }
    assert_string_equal(rs.source_id, "/cse-a");
    assert_int_equal(rs.suid, fx->k->suid);
    assert_int_equal(rs.ntargets, 1);
    assert_string_equal(rs.target_ids[0], "/cse-c");
    m2msec_keyreg_resp_clear(&rs);
    m2msec_buf_free(&a.body);
}

/* ---- tests ------------------------------------------------------------------------------------- */

/* @spec TS-0003 8.3.5.2.7 / 8.8.2.7: the registration as stored, answered and logged. */
static void
test_register(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_rec *k = NULL;
    struct m2msec_secret *want = key_of(0x11);
    const struct note *n = NULL;
    char rel[40], keyid[320], suid[8];
    int64_t et = 0;
    size_t count = 0;

    register_key(fx, rel, &et);
    /* The supplied key, durable, owned by A's credential, under REG_1, for /cse-c. */
    assert_int_equal(m2msec_keyreg_get(fx->db, fx->k->kind, rel, fx->now, 1, &k, &err), 0);
    assert_string_equal(k->owner, fx->k->owner_a);
    assert_string_equal(k->reg_id, REG_1);
    assert_string_equal(k->source_id, "/cse-a");
    assert_string_equal(k->admin_fqdn, ADMIN);
    assert_true(m2msec_secret_equal(k->key, want));
    assert_int_equal(k->nlabels, 1);
    assert_true(k->expires == et);
    m2msec_keyreg_rec_free(k);
    /* A supplied key leaves the session's exporter unused. */
    assert_int_equal(fx->exported_a, 0);
    /* et asked for one day: granted (below every cap). */
    assert_true(et > fx->now && et <= fx->now + DAY + 5);
    n = last_note();
    assert_int_equal(n->ev, SRV_KEYS_REGISTERED);
    snprintf(keyid, sizeof(keyid), "%s@%s", rel, fx->k->fqdn);
    assert_string_equal(n->key_id, keyid);
    assert_string_equal(n->kc, "supplied");
    snprintf(suid, sizeof(suid), "%u", fx->k->suid);
    assert_string_equal(n->suid, suid);
    assert_string_equal(n->target, "/cse-c");
    assert_string_equal(n->source_id, "/cse-a");
    assert_int_equal(strlen(n->kcv), 16); /* a check value, not the key */
    assert_int_equal(m2msec_keyreg_count(fx->db, fx->k->kind, REG_1, fx->now, &count, &err), 0);
    assert_int_equal(count, 1);
    m2msec_secret_free(want);
}

/* The expirationTime granted: capped by the policy, the credential and the registration. */
static void
test_register_caps(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_resp rs = { 0 };
    struct answer a;
    char body[512], path[128];

    m2msec_buf_init(&a.body, 65536);
    path_reg(fx, path, sizeof(path), REG_1);
    /* Asked for 100 days: the policy's 30. */
    reg_body(fx, body, sizeof(body), fx->k->member, fx->k->fqdn, 100 * DAY, fx->k->suid,
             "[\"/cse-c\"]", 1);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 2001, NULL);
    assert_int_equal(m2msec_keyreg_resp_decode(fx->k->peer, a.body.data, a.body.len, &rs, &err), 0);
    assert_true(rs.et >= fx->now + LIFEMAX && rs.et <= fx->now + LIFEMAX + 5);
    m2msec_keyreg_resp_clear(&rs);
    /* A credential expiring in 1000 s (a Km): the key does not outlive it. */
    fx->a.cred_expires = fx->now + 1000;
    reg_body(fx, body, sizeof(body), fx->k->member, fx->k->fqdn, DAY, fx->k->esdata,
             "[\"/cse-c\",\"/cse-d\"]", 1);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 2001, NULL);
    assert_int_equal(m2msec_keyreg_resp_decode(fx->k->peer, a.body.data, a.body.len, &rs, &err), 0);
    assert_true(rs.et == fx->now + 1000);
    m2msec_keyreg_resp_clear(&rs);
    /* A credential that has just expired: 4004. */
    fx->a.cred_expires = fx->now - 1;
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 4004, NULL);
    m2msec_buf_free(&a.body);
}

/* Every refusal of a Key Registration, and the neighbour it stands next to. */
static void
test_register_refusals(void **state)
{
    struct fx *fx = *state;
    const struct kind *k = fx->k;
    struct answer a;
    char good[512], body[512], path[128], other_path[128], unknown_path[128];
    size_t count = 1;
    struct m2msec_error err = { 0 };

    m2msec_buf_init(&a.body, 65536);
    path_reg(fx, path, sizeof(path), REG_1);
    path_reg(fx, other_path, sizeof(other_path), REG_2);
    path_reg(fx, unknown_path, sizeof(unknown_path), REG_X);
    reg_body(fx, good, sizeof(good), k->member, k->fqdn, DAY, k->suid, "[\"/cse-c\"]", 1);

    /* 4004: a registration that does not exist (one that does is the success below). */
    call(&fx->a, M2MSEC_HTTP_POST, unknown_path, good, &a);
    expect(&a, 4004, "no registration '" REG_X "'");
    /* 4103: another client's registration, with the kind's own message. */
    call(&fx->a, M2MSEC_HTTP_POST, other_path, good, &a);
    expect(&a, 4103, k->not_owned);
    /* 4103: a session with no owning credential (a MAF KeID session before registering). */
    call(&fx->anon, M2MSEC_HTTP_POST, path, good, &a);
    expect(&a, 4103, "before registering keys");
    /* 4000: the other registrar's FQDN member; an FQDN that is not this registrar's. */
    reg_body(fx, body, sizeof(body), k->other, k->fqdn, DAY, k->suid, "[\"/cse-c\"]", 1);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 4000, NULL);
    reg_body(fx, body, sizeof(body), k->member, "other.example.com", DAY, k->suid, "[\"/cse-c\"]",
             1);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 4000, NULL);
    /* 4000: the other registry's SUID; two targets for a SAEF SUID; no targets; et passed. */
    reg_body(fx, body, sizeof(body), k->member, k->fqdn, DAY, k->foreign, "[\"/cse-c\"]", 1);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 4000, NULL);
    reg_body(fx, body, sizeof(body), k->member, k->fqdn, DAY, k->suid, "[\"/cse-c\",\"/cse-d\"]",
             1);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 4000, NULL);
    reg_body(fx, body, sizeof(body), k->member, k->fqdn, DAY, k->suid, NULL, 1);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 4000, NULL);
    reg_body(fx, body, sizeof(body), k->member, k->fqdn, -10, k->suid, "[\"/cse-c\"]", 1);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 4000, NULL);
    /* 4000: a truncated body. */
    call(&fx->a, M2MSEC_HTTP_POST, path, "{\"et\":", &a);
    expect(&a, 4000, NULL);
    /* 4105: no keyValue, and this session's exporter value is already registered. */
    fx->exported_a = 1;
    reg_body(fx, body, sizeof(body), k->member, k->fqdn, DAY, k->suid, "[\"/cse-c\"]", 0);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 4105, "already registered its exported key");
    /* 4005: a method the registration's keys resource does not take; 4004: no such resource. */
    call(&fx->a, M2MSEC_HTTP_GET, path, NULL, &a);
    expect(&a, 4005, "GET is not allowed");
    call(&fx->a, M2MSEC_HTTP_POST, "/x/keys", good, &a);
    expect(&a, 4004, "no such resource");
    /* Nothing was stored by any of them ... */
    assert_int_equal(m2msec_keyreg_count(fx->db, k->kind, NULL, fx->now, &count, &err), 0);
    assert_int_equal(count, 0);
    assert_int_equal(nnotes, 0);
    /* ... and the good request is accepted. */
    call(&fx->a, M2MSEC_HTTP_POST, path, good, &a);
    expect(&a, 2001, NULL);
    m2msec_buf_free(&a.body);
}

/* The daemon's further limit on targets (the MAF's pre-provisioned clients): 4103. */
static void
test_target_limit(void **state)
{
    struct fx *fx = *state;
    struct answer a;
    char body[512], path[128], rel[40];

    m2msec_buf_init(&a.body, 65536);
    path_reg(fx, path, sizeof(path), REG_1);
    reg_body(fx, body, sizeof(body), fx->k->member, fx->k->fqdn, DAY, fx->k->suid, "[\"/cse-x\"]",
             1);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 4103, "target '/cse-x' is not allowed for this client");
    assert_int_equal(nlimit_calls, 1);
    assert_int_equal(nreplies, 1); /* the daemon's own reply answered it */
    register_key(fx, rel, NULL);
    assert_int_equal(nlimit_calls, 2);
    /* On update: consulted when the targets change, not otherwise. */
    path_key(fx, path, sizeof(path), rel);
    snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"targetIDs\":[\"/cse-x\"]}", fx->k->member,
             fx->k->fqdn);
    call(&fx->a, M2MSEC_HTTP_PUT, path, body, &a);
    expect(&a, 4103, "not allowed for this client");
    assert_int_equal(nlimit_calls, 3);
    snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"lbl\":[\"l2\"]}", fx->k->member, fx->k->fqdn);
    call(&fx->a, M2MSEC_HTTP_PUT, path, body, &a);
    expect(&a, 2004, NULL);
    assert_int_equal(nlimit_calls, 3);
    m2msec_buf_free(&a.body);
}

/* @spec TS-0003 8.3.5.2.8 / 8.8.2.8: a target reads the key; no one else does. */
static void
test_retrieve(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_get_resp g = { 0 };
    struct m2msec_secret *want = key_of(0x11);
    struct answer a;
    char path[128], rel[40];
    const struct note *n = NULL;

    m2msec_buf_init(&a.body, 65536);
    register_key(fx, rel, NULL);
    path_key(fx, path, sizeof(path), rel);
    call(&fx->c, M2MSEC_HTTP_GET, path, NULL, &a);
    expect(&a, 2000, NULL);
    assert_int_equal(m2msec_keyreg_get_resp_decode(fx->k->peer, a.body.data, a.body.len, &g, &err),
                     0);
    assert_true(m2msec_secret_equal(g.key_value, want));
    assert_string_equal(g.source_id, "/cse-a");
    assert_int_equal(g.suid, fx->k->suid);
    m2msec_keyreg_get_resp_clear(&g);
    n = last_note();
    assert_int_equal(n->ev, SRV_KEYS_RETRIEVED);
    assert_string_equal(n->rel_key_id, rel);
    assert_string_equal(n->target, "/cse-c");
    assert_string_equal(n->source_id, "/cse-a");
    /* Not a target: B, and A itself (the source is no target unless listed). */
    call(&fx->b, M2MSEC_HTTP_GET, path, NULL, &a);
    expect(&a, 4103, "not a target of this key registration");
    assert_false(says(&a, KV32));
    assert_int_equal(last_note()->ev, SRV_KEYS_REFUSED);
    call(&fx->a, M2MSEC_HTTP_GET, path, NULL, &a);
    expect(&a, 4103, NULL);
    /* Unknown and malformed RelativeKeyIDs: 4004 alike. */
    path_key(fx, path, sizeof(path), REL_B);
    call(&fx->c, M2MSEC_HTTP_GET, path, NULL, &a);
    expect(&a, 4004, "no key registration '" REL_B "'");
    path_key(fx, path, sizeof(path), "not*valid");
    call(&fx->c, M2MSEC_HTTP_GET, path, NULL, &a);
    expect(&a, 4004, "no key registration");
    /* POST on a key resource: 4005; a path one segment short: 4004. */
    path_key(fx, path, sizeof(path), rel);
    call(&fx->c, M2MSEC_HTTP_POST, path, "{}", &a);
    expect(&a, 4005, "POST is not allowed");
    snprintf(path, sizeof(path), "/%s/keys", fx->k->base);
    call(&fx->c, M2MSEC_HTTP_GET, path, NULL, &a);
    expect(&a, 4004, "no such resource");
    m2msec_buf_free(&a.body);
    m2msec_secret_free(want);
}

/* @spec TS-0003 8.3.5.2.9 / 8.8.2.9: metadata only, by the owner, under the same caps. */
static void
test_update(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_keyreg_update got = { 0 };
    struct m2msec_keyreg_rec *k = NULL;
    const struct kind *kd = fx->k;
    struct answer a;
    char path[128], body[512], rel[40], ts[M2MSEC_TIMESTAMP_LEN];
    const struct note *n = NULL;

    m2msec_buf_init(&a.body, 65536);
    register_key(fx, rel, NULL);
    path_key(fx, path, sizeof(path), rel);
    /* et 100 days ahead: granted the policy's 30; new targets; only those come back. */
    assert_int_equal(m2msec_timestamp_format(fx->now + 100 * DAY, ts), 0);
    snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"et\":\"%s\",\"targetIDs\":[\"/cse-b\"]}",
             kd->member, kd->fqdn, ts);
    call(&fx->a, M2MSEC_HTTP_PUT, path, body, &a);
    expect(&a, 2004, NULL);
    assert_int_equal(m2msec_keyreg_update_decode(kd->peer, a.body.data, a.body.len, 0, &got, &err),
                     0);
    assert_true(got.has_et && got.has_targets && !got.has_lbl);
    assert_true(got.et >= fx->now + LIFEMAX && got.et <= fx->now + LIFEMAX + 5);
    m2msec_keyreg_update_clear(&got);
    assert_int_equal(m2msec_keyreg_get(fx->db, kd->kind, rel, fx->now, 0, &k, &err), 0);
    assert_string_equal(k->targets[0], "/cse-b");
    m2msec_keyreg_rec_free(k);
    n = last_note();
    assert_int_equal(n->ev, SRV_KEYS_UPDATED);
    assert_string_equal(n->labels, "kept");
    assert_string_equal(n->targets, "replaced");
    /* Now B is the target and C is not. */
    call(&fx->b, M2MSEC_HTTP_GET, path, NULL, &a);
    expect(&a, 2000, NULL);
    call(&fx->c, M2MSEC_HTTP_GET, path, NULL, &a);
    expect(&a, 4103, NULL);
    /* Refusals: B does not own it (4103); no owner (4103); unknown key (4004). */
    snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"lbl\":[\"l2\"]}", kd->member, kd->fqdn);
    call(&fx->b, M2MSEC_HTTP_PUT, path, body, &a);
    expect(&a, 4103, "the key registration belongs to another client");
    call(&fx->anon, M2MSEC_HTTP_PUT, path, body, &a);
    expect(&a, 4103, "before registering keys");
    path_key(fx, path, sizeof(path), REL_B);
    call(&fx->a, M2MSEC_HTTP_PUT, path, body, &a);
    expect(&a, 4004, NULL);
    path_key(fx, path, sizeof(path), rel);
    /* 4000: nothing to update; a keyValue; two targets for a SAEF SUID; the other member. */
    snprintf(body, sizeof(body), "{\"%s\":\"%s\"}", kd->member, kd->fqdn);
    call(&fx->a, M2MSEC_HTTP_PUT, path, body, &a);
    expect(&a, 4000, NULL);
    snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"keyValue\":\"" KV32 "\"}", kd->member, kd->fqdn);
    call(&fx->a, M2MSEC_HTTP_PUT, path, body, &a);
    expect(&a, 4000, NULL);
    snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"targetIDs\":[\"/cse-b\",\"/cse-c\"]}",
             kd->member, kd->fqdn);
    call(&fx->a, M2MSEC_HTTP_PUT, path, body, &a);
    expect(&a, 4000, NULL);
    snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"lbl\":[\"l2\"]}", kd->other, kd->fqdn);
    call(&fx->a, M2MSEC_HTTP_PUT, path, body, &a);
    expect(&a, 4000, NULL);
    /* The labels alone: 2004 with lbl only. */
    snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"lbl\":[\"l2\"]}", kd->member, kd->fqdn);
    call(&fx->a, M2MSEC_HTTP_PUT, path, body, &a);
    expect(&a, 2004, "\"lbl\"");
    assert_false(says(&a, "\"et\""));
    m2msec_buf_free(&a.body);
}

/* @spec TS-0003 8.3.5.2.10 / 8.8.2.10: the owner only; the key is gone afterwards. */
static void
test_deregister(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct answer a;
    char path[128], rel[40];
    size_t count = 1;

    m2msec_buf_init(&a.body, 65536);
    register_key(fx, rel, NULL);
    path_key(fx, path, sizeof(path), rel);
    call(&fx->b, M2MSEC_HTTP_DELETE, path, NULL, &a);
    expect(&a, 4103, "the key registration belongs to another client");
    call(&fx->anon, M2MSEC_HTTP_DELETE, path, NULL, &a);
    expect(&a, 4103, NULL);
    call(&fx->c, M2MSEC_HTTP_DELETE, path, NULL, &a);
    expect(&a, 4103, NULL); /* a target is no owner */
    call(&fx->a, M2MSEC_HTTP_DELETE, path, NULL, &a);
    expect(&a, 2002, NULL);
    assert_int_equal(last_note()->ev, SRV_KEYS_DEREGISTERED);
    assert_string_equal(last_note()->rel_key_id, rel);
    assert_int_equal(m2msec_keyreg_count(fx->db, fx->k->kind, NULL, fx->now, &count, &err), 0);
    assert_int_equal(count, 0);
    /* Again, and for the target: 4004. */
    call(&fx->a, M2MSEC_HTTP_DELETE, path, NULL, &a);
    expect(&a, 4004, NULL);
    call(&fx->c, M2MSEC_HTTP_GET, path, NULL, &a);
    expect(&a, 4004, NULL);
    m2msec_buf_free(&a.body);
}

/* A store that fails: 5000 with a bare "internal error", never the store's words. */
static void
test_store_failure(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct answer a;
    char body[512], path[128];

    m2msec_buf_init(&a.body, 65536);
    assert_int_equal(m2msec_db_test_exec(fx->db, "DROP TABLE keyreg_label", &err), 0);
    path_reg(fx, path, sizeof(path), REG_1);
    reg_body(fx, body, sizeof(body), fx->k->member, fx->k->fqdn, DAY, fx->k->suid, "[\"/cse-c\"]",
             1);
    call(&fx->a, M2MSEC_HTTP_POST, path, body, &a);
    expect(&a, 5000, "internal error");
    assert_false(says(&a, "keyreg"));
    m2msec_buf_free(&a.body);
}

/* srv_keys_reply_error: the client's code and message below 5000, a bare 5000 otherwise. */
static void
test_reply_error(void **state)
{
    static const struct {
        int code, rsc;
        const char *msg;
        int want_rsc;
        const char *want;
    } cases[] = {
        { M2MSEC_ERR_AUTH, 4103, "not yours", 4103, "not yours" },
        { M2MSEC_ERR_NOT_FOUND, 4004, "no such key", 4004, "no such key" },
        { M2MSEC_ERR_STORE, 5000, "disk I/O error", 5000, "internal error" },
        { M2MSEC_ERR_STORE, 0, "no code at all", 5000, "internal error" },
    };
    size_t i;
    int fd = open("/dev/null", O_WRONLY);

    (void)state;
    srv_log_init("test_srvkeys", SRV_LOG_DEBUG, fd); /* the internal_error lines */
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct m2msec_error err = { 0 };
        struct srv_response resp;
        struct answer a;

        memset(&resp, 0, sizeof(resp));
        m2msec_buf_init(&resp.body, 4096);
        m2msec_error_setr(&err, cases[i].code, cases[i].rsc, "%s", cases[i].msg);
        assert_int_equal(srv_keys_reply_error(&resp, &err), 0);
        a.rsc = resp.rsc;
        a.body = resp.body;
        expect(&a, cases[i].want_rsc, cases[i].want);
        if (cases[i].want_rsc >= 5000) {
            assert_false(says(&a, cases[i].msg));
        }
        m2msec_buf_free(&resp.body);
    }
    srv_log_init("test_srvkeys", SRV_LOG_INFO, 2);
    if (fd >= 0) {
        close(fd);
    }
}

/* ---- the clients' shared argument handling (client/keyutil.c) ------------------------------- */

static void
test_client_strlist(void **state)
{
    struct m2msec_error err = { 0 };
    const char *two[] = { "a", "b" }, *hole[] = { "a", NULL };
    char **l = NULL;

    (void)state;
    l = client_strlist_dup(two, 2, "target", &err);
    assert_non_null(l);
    assert_string_equal(l[0], "a");
    assert_string_equal(l[1], "b");
    assert_null(l[2]);
    m2msec_strlist_free(l);
    /* An empty list is a list (labels cleared), even from NULL. */
    l = client_strlist_dup(NULL, 0, "label", &err);
    assert_non_null(l);
    assert_null(l[0]);
    m2msec_strlist_free(l);
    /* A missing array or entry: named by what and where. */
    assert_null(client_strlist_dup(NULL, 1, "target", &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_string_equal(err.msg, "target 0 missing");
    assert_null(client_strlist_dup(hole, 2, "label", &err));
    assert_string_equal(err.msg, "label 1 missing");
}

static void
test_client_reg_id(void **state)
{
    static const struct {
        const char *id;
        int ok;
    } cases[] = {
        { "0123456789abcdefABCDEF", 1 },
        { "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 1 },  /* 64 */
        { "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", 0 }, /* 65 */
        { "", 0 },
        { "0123g", 0 },
        { "01 23", 0 },
        { NULL, 0 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct m2msec_error err = { 0 };

        assert_int_equal(client_reg_id_valid(cases[i].id, &err), cases[i].ok ? 0 : -1);
        if (!cases[i].ok) {
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
        }
    }
}

/* Tables 8.3.5.2.9-1 / 8.8.2.9-1 from the API's arguments: accepted and refused neighbours. */
static void
test_client_keyupdate_req(void **state)
{
    static const char *const targets[] = { "/cse-b" };
    static const char *const labels[] = { "l1", "l2" };
    static const struct {
        uint64_t lifetime_s;
        size_t ntargets;
        int null_targets;
        size_t nlabels;
        unsigned flags;
        const char *fqdn;
        const char *err; /* NULL: accepted */
        int has_et, has_targets, has_lbl;
    } cases[] = {
        { 60, 0, 0, 0, 0, "maf.example.com", NULL, 1, 0, 0 },
        { UINT32_MAX, 0, 0, 0, 0, NULL, NULL, 1, 0, 0 },
        { (uint64_t)UINT32_MAX + 1, 0, 0, 0, 0, NULL, "unknown flags or lifetime", 0, 0, 0 },
        { 0, 1, 0, 0, 0, NULL, NULL, 0, 1, 0 },
        { 0, 1, 1, 0, 0, NULL, "target 0 missing", 0, 0, 0 },
        { 0, 0, 0, 2, 0x1u, NULL, NULL, 0, 0, 1 },
        { 0, 0, 0, 0, 0x1u, NULL, NULL, 0, 0, 1 }, /* clears the labels */
        { 0, 0, 0, 2, 0x2u, NULL, "unknown flags or lifetime", 0, 0, 0 },
        { 0, 0, 0, 2, 0, NULL, "nothing to update", 0, 0, 0 }, /* labels without the flag */
        { 0, 0, 0, 0, 0, "maf.example.com", "nothing to update", 0, 0, 0 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct m2msec_error err = { 0 };
        struct m2msec_keyreg_update up = { 0 };
        int64_t before = m2msec_now();
        int rv = client_keyupdate_req(cases[i].fqdn, cases[i].lifetime_s,
                                      cases[i].null_targets ? NULL : targets, cases[i].ntargets,
                                      labels, cases[i].nlabels, cases[i].flags, 0x1u, &up, &err);

        if (cases[i].err != NULL) {
            if (rv != -1 || strstr(err.msg, cases[i].err) == NULL) {
                fail_msg("case %zu: expected '%s', got %d '%s'", i, cases[i].err, rv, err.msg);
            }
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
        } else {
            if (rv != 0) {
                fail_msg("case %zu: refused: %s", i, err.msg);
            }
            assert_int_equal(up.has_et, cases[i].has_et);
            assert_int_equal(up.has_targets, cases[i].has_targets);
            assert_int_equal(up.has_lbl, cases[i].has_lbl);
            if (up.has_et) {
                assert_true(up.et >= before + (int64_t)cases[i].lifetime_s &&
                            up.et <= m2msec_now() + (int64_t)cases[i].lifetime_s);
            }
            if (up.has_targets) {
                assert_string_equal(up.target_ids[0], "/cse-b");
            }
            assert_int_equal(up.nlbl, up.has_lbl ? cases[i].nlabels : 0);
            if (cases[i].fqdn != NULL) {
                assert_string_equal(up.fqdn, cases[i].fqdn);
            } else {
                assert_null(up.fqdn);
            }
        }
        m2msec_keyreg_update_clear(&up);
    }
}

static void
test_client_key(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_secret *key = key_of(0x11);
    struct client_key *k = client_key_new("rel@mef.example.com", "/cse-a", 22, 42, key, &err);
    char kcv[M2MSEC_KCV_HEX_LEN];

    (void)state;
    assert_non_null(k);
    assert_string_equal(k->key_id, "rel@mef.example.com");
    assert_string_equal(k->source_id, "/cse-a");
    assert_int_equal(k->suid, 22);
    assert_true(k->expires == 42);
    assert_int_equal(m2msec_key_check_value(key, kcv, &err), 0);
    assert_string_equal(k->kcv, kcv);
    client_key_free(k);
    client_key_free(NULL);
    /* No key to take a check value of: no handle. */
    assert_null(client_key_new("rel@mef.example.com", "/cse-a", 22, 42, NULL, &err));
    m2msec_secret_free(key);
}

/* A test on a store of one kind, named after both. */
#define ON_MEF(f)                               \
    {                                           \
        "mef_" #f, f, setup_mef, teardown, NULL \
    }
#define ON_MAF(f)                               \
    {                                           \
        "maf_" #f, f, setup_maf, teardown, NULL \
    }

int
main(void)
{
    const struct CMUnitTest tests[] = {
        ON_MEF(test_register),
        ON_MAF(test_register),
        ON_MEF(test_register_caps),
        ON_MAF(test_register_caps),
        ON_MEF(test_register_refusals),
        ON_MAF(test_register_refusals),
        ON_MAF(test_target_limit),
        ON_MEF(test_retrieve),
        ON_MAF(test_retrieve),
        ON_MEF(test_update),
        ON_MAF(test_update),
        ON_MEF(test_deregister),
        ON_MAF(test_deregister),
        ON_MEF(test_store_failure),
        ON_MAF(test_store_failure),
        cmocka_unit_test(test_reply_error),
        cmocka_unit_test(test_client_strlist),
        cmocka_unit_test(test_client_reg_id),
        cmocka_unit_test(test_client_keyupdate_req),
        cmocka_unit_test(test_client_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
