/*
 * mefd/pkg.c - the PKG of IBC credentials inside mefd: `mefd pkg init|show|rotate`, the IBC
 * enrolment step of the Enrolment Exchange, and GET /mef/pkg.
 *
 * Layer: daemon (mefd). @spec seed 000 steps 5-11 [PROJECT]: after the PPSK
 * handshake the Enrolee asks for an IBC credential for its ID1; the MEF checks
 * ID1 is the Enrolee-ID configured for the session's credential, forms ID2 =
 * FQDN 0x00 EXPIRY 0x00 ID1 0x00 (IBC-DESIGN 3.4), has the PKG issue (SSK,
 * PVT) under the current KPAK (RFC 6507 5.1.1) and returns them with the
 * published MPKs inside the TLS-PSK session. The MEF keeps no SSK: it records
 * only the latest expiry issued per MPK version, so a rotation keeps the old
 * MPK valid exactly as long as one of its credentials lives.
 *
 * EXPIRY: the credential may not outlive the Ke (the seed's Enrolment Expiry)
 * nor the MPK; within that cap it ends on the last key-period boundary, so a
 * peer can predict it. A cap shorter than what remains of the current period
 * gives an unaligned (shorter) expiry rather than none.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec/mef_msg.h"
#include "crypto/eccsi.h"
#include "http/http.h"
#include "log.h"
#include "mefd.h"
#include "proto/exchange.h"
#include "proto/id2.h"
#include "proto/ids.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/time.h"

#define PKG_KEY_PERIOD_DEFAULT   (30ULL * 24 * 3600)  /* a month, as 3GPP's UserKeyPeriod */
#define PKG_MPK_LIFETIME_DEFAULT (730ULL * 24 * 3600) /* two years */
#define PKG_SECONDS_MAX          ((uint64_t)INT32_MAX)

/* The FQDN that goes into ID2 and the MPK set: the MEF's, lowercase (ID2 is case-exact). */
static int
pkg_fqdn(const char *cfg_fqdn, char out[M2MSEC_FQDN_MAX + 1], struct m2msec_error *err)
{
    size_t i;

    if (cfg_fqdn == NULL || m2msec_strlcpy(out, cfg_fqdn, M2MSEC_FQDN_MAX + 1) == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE, "no usable MEF FQDN");
    }
    for (i = 0; out[i] != '\0'; i++) {
        if (out[i] >= 'A' && out[i] <= 'Z') {
            out[i] = (char)(out[i] - 'A' + 'a');
        }
    }
    if (!m2msec_id2_fqdn_valid(out)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_STATE,
                                 "MEF FQDN '%s' cannot name a PKG (LDH labels only)", out);
    }
    return 0;
}

int
mefd_pkg_ready(struct m2msec_db *db, int64_t now)
{
    struct m2msec_error err = { 0 };
    struct m2msec_pkg_rec p;
    struct m2msec_pkg_mpk_rec m;
    int ready;

    if (m2msec_pkg_get(db, &p, &err) == -1 ||
        m2msec_pkg_mpk_get(db, p.current, 0, &m, &err) == -1) {
        return 0;
    }
    ready = m.not_before <= now && now < m.not_after;
    m2msec_pkg_mpk_rec_clear(&m);
    return ready;
}

/* The published MPKs (still valid at now, newest last) as the wire set. */
static int
pkg_published(struct m2msec_db *db, const char *fqdn, int64_t now, struct m2msec_mpk_set *out,
              struct m2msec_error *err)
{
    struct m2msec_pkg_rec p;
    struct m2msec_pkg_mpk_rec *list = NULL;
    size_t n = 0, i, first = 0;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    if (m2msec_pkg_get(db, &p, err) == -1 || m2msec_pkg_mpk_list(db, &list, &n, err) == -1) {
        goto out;
    }
    /* At most M2MSEC_MPK_SET_MAX: the newest ones (old ones expire anyway). */
    for (i = 0; i < n; i++) {
        if (list[i].not_after > now) {
            first++;
        }
    }
    first = first > M2MSEC_MPK_SET_MAX ? first - M2MSEC_MPK_SET_MAX : 0;
    for (i = 0; i < n; i++) {
        struct m2msec_mpk_info *e;

        if (list[i].not_after <= now) {
            continue;
        }
        if (first > 0) {
            first--;
            continue;
        }
        e = &out->mpk[out->n++];
        (void)m2msec_strlcpy(e->fqdn, fqdn, sizeof(e->fqdn));
        e->version = list[i].version;
        memcpy(e->kpak, list[i].kpak, sizeof(e->kpak));
        e->valid_from = list[i].not_before;
        e->valid_to = list[i].not_after;
        e->key_period = p.key_period;
        e->key_period_offset = p.key_period_offset;
    }
    out->current = p.current;
    if (out->n == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_EXPIRED, M2MSEC_RSC_INTERNAL_SERVER_ERROR,
                          "the PKG publishes no valid MPK (operator: mefd pkg rotate)");
        goto out;
    }
    rv = 0;
out:
    m2msec_free(list);
    return rv;
}

/*
 * @spec IBC-DESIGN 3.4 EXPIRY: the last key-period boundary not after cap,
 * when it is still ahead of now; otherwise cap itself (a short Enrolment
 * Expiry gives a short credential, never a longer one).
 */
static int64_t
pkg_expiry(int64_t now, int64_t cap, int64_t period, int64_t offset)
{
    int64_t k, b;

    if (cap <= offset) {
        return cap;
    }
    k = (cap - offset) / period;
    b = offset + k * period;
    return b > now ? b : cap;
}

/* One issuance under the current MPK: 0, or -1 with err (INVALID_STATE: rotated meanwhile). */
static int
pkg_issue_once(struct mefd_ibc_session *is, const char *id1, int64_t now, int64_t cap,
               struct m2msec_ibc_cred_resp *out, int64_t *expiry, struct m2msec_error *err)
{
    struct m2msec_pkg_rec p;
    struct m2msec_pkg_mpk_rec m = { 0 };
    struct m2msec_eccsi_kms *kms = NULL;
    char fqdn[M2MSEC_FQDN_MAX + 1];
    int rv = -1;

    if (pkg_fqdn(is->fqdn, fqdn, err) == -1 || m2msec_pkg_get(is->db, &p, err) == -1 ||
        m2msec_pkg_mpk_get(is->db, p.current, 1, &m, err) == -1) {
        goto out;
    }
    if (now < m.not_before || now >= m.not_after) {
        m2msec_error_setr(err, M2MSEC_ERR_EXPIRED, M2MSEC_RSC_INTERNAL_SERVER_ERROR,
                          "the current MPK (version %u) is not valid now (operator: mefd pkg "
                          "rotate)",
                          m.version);
        goto out;
    }
    if (cap > m.not_after) {
        cap = m.not_after;
    }
    *expiry = pkg_expiry(now, cap, (int64_t)p.key_period, (int64_t)p.key_period_offset);
    if (*expiry <= now) {
        m2msec_error_setr(err, M2MSEC_ERR_EXPIRED, M2MSEC_RSC_BAD_REQUEST,
                          "the Enrolment Key has expired: no credential can be issued");
        goto out;
    }
    if (m2msec_id2_encode(fqdn, *expiry, id1, out->id2, sizeof(out->id2), &out->id2_len, err) ==
        -1) {
        err->rsc = M2MSEC_RSC_BAD_REQUEST;
        goto out;
    }
    /* Durable before the credential leaves: the MPK must outlive it after a rotation. */
    if (m2msec_pkg_note_issued(is->db, m.version, *expiry, err) == -1) {
        goto out;
    }
    kms = m2msec_eccsi_kms_load(m.ksak, err);
    if (kms == NULL ||
        m2msec_eccsi_issue(kms, out->id2, out->id2_len, &out->ssk, out->pvt, err) == -1 ||
        pkg_published(is->db, fqdn, now, &out->mpks, err) == -1) {
        goto out;
    }
    out->mpk_version = m.version;
    rv = 0;
out:
    m2msec_eccsi_kms_free(kms);
    m2msec_pkg_mpk_rec_clear(&m);
    return rv;
}

/* Answer with err: its rsc (5000 when none), its text unless internal. */
static int
ibc_reply_error(struct mefd_ibc_session *is, const char *id1, struct srv_response *resp,
                const struct m2msec_error *err)
{
    int rsc = err->rsc != 0 ? err->rsc : M2MSEC_RSC_INTERNAL_SERVER_ERROR;

    srv_log_event(rsc >= 5000 ? SRV_LOG_ERR : SRV_LOG_NOTICE, "ibc_refused", "kpm_id", is->kpm_id,
                  "id1", id1, "reason", m2msec_error_msg(err), NULL);
    if (rsc >= 5000 && m2msec_error_code(err) != M2MSEC_ERR_EXPIRED) {
        return srv_response_error(resp, rsc, "internal error");
    }
    return srv_response_error(resp, rsc, "%s", m2msec_error_msg(err));
}

int
mefd_ibc_handle(struct mefd_ibc_session *is, const struct m2msec_http_msg *req,
                struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_ibc_cred_req rq = { 0 };
    struct m2msec_ibc_cred_resp rs = { 0 };
    char exp[M2MSEC_ID2_EXPIRY_LEN + 1], ver[12];
    int64_t now = m2msec_now(), expiry = 0, cap;
    int attempt;

    if (is->x == NULL) {
        return srv_response_error(resp, M2MSEC_RSC_NOT_FOUND,
                                  "no such enrolment exchange in this session");
    }
    if (m2msec_ibc_cred_req_decode(req->body.data, req->body.len, &rq, &err) == -1) {
        return ibc_reply_error(is, NULL, resp, &err);
    }
    /*
     * @spec seed 000 step 8: the MEF issues for the identity it was configured
     * with for this Enrolee, never for one the payload asks for.
     */
    if (is->enrolee_id == NULL || strcmp(rq.id1, is->enrolee_id) != 0 /* public */) {
        m2msec_error_setr(&err, M2MSEC_ERR_AUTH, M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE,
                          "ID1 '%s' is not the Enrolee-ID configured for this credential", rq.id1);
        goto fail;
    }
    if (m2msec_exchange_ibc_claim(is->x, rq.step, &err) == -1) {
        goto fail;
    }
    cap = is->x->instr[is->x->step - 1].lifetime;
    for (attempt = 0; attempt < 2; attempt++) {
        m2msec_ibc_cred_resp_clear(&rs);
        m2msec_error_clear(&err);
        if (pkg_issue_once(is, rq.id1, now, cap, &rs, &expiry, &err) == 0) {
            break;
        }
        /* A rotation between reading the current MPK and recording: issue under the new one. */
        if (m2msec_error_code(&err) != M2MSEC_ERR_INVALID_STATE) {
            break;
        }
    }
    if (m2msec_error_code(&err) != M2MSEC_ERR_NONE) {
        m2msec_exchange_ibc_unmark(is->x);
        goto fail;
    }
    if (m2msec_ibc_cred_resp_encode(&rs, &resp->body, &err) == -1) {
        m2msec_exchange_ibc_unmark(is->x);
        goto fail;
    }
    resp->rsc = M2MSEC_RSC_CREATED;
    (void)m2msec_id2_expiry_format(expiry, exp, &err);
    (void)snprintf(ver, sizeof(ver), "%u", rs.mpk_version);
    srv_log_event(SRV_LOG_NOTICE, "ibc_issued", "kpm_id", is->kpm_id, "id1", rq.id1, "expires", exp,
                  "mpk_version", ver, NULL);
    m2msec_ibc_cred_resp_clear(&rs);
    m2msec_ibc_cred_req_clear(&rq);
    return 0;
fail:
    m2msec_ibc_cred_resp_clear(&rs);
    (void)ibc_reply_error(is, rq.id1, resp, &err);
    m2msec_ibc_cred_req_clear(&rq);
    return 0;
}

int
mefd_pkg_handle(struct m2msec_db *db, const char *fqdn, const struct m2msec_http_msg *req,
                struct srv_response *resp)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mpk_set set;
    char name[M2MSEC_FQDN_MAX + 1];

    if (req->method != M2MSEC_HTTP_GET) {
        return srv_response_error(resp, M2MSEC_RSC_OPERATION_NOT_ALLOWED, "only GET /%s/%s",
                                  M2MSEC_PATH_MEF_BASE, M2MSEC_PATH_PKG);
    }
    if (pkg_fqdn(fqdn, name, &err) == -1 ||
        pkg_published(db, name, m2msec_now(), &set, &err) == -1 ||
        m2msec_mpk_set_encode(&set, &resp->body, &err) == -1) {
        if (m2msec_error_code(&err) == M2MSEC_ERR_NOT_FOUND) {
            return srv_response_error(resp, M2MSEC_RSC_NOT_FOUND, "this MEF has no PKG");
        }
        return srv_response_error(resp, M2MSEC_RSC_INTERNAL_SERVER_ERROR, "%s",
                                  m2msec_error_msg(&err));
    }
    resp->rsc = M2MSEC_RSC_OK;
    return 0;
}

/*
 * `mefd pkg ...`
 */

static int
parse_seconds(const char *s, const char *what, uint64_t *out)
{
    uint64_t v = 0;

    if (s == NULL || m2msec_parse_u64(s, strlen(s), PKG_SECONDS_MAX, &v) == -1 || v == 0) {
        mefd_fail("%s takes seconds (1..%llu)", what, (unsigned long long)PKG_SECONDS_MAX);
        return -1;
    }
    *out = v;
    return 0;
}

static void
print_hex(FILE *f, const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        fprintf(f, "%02x", p[i]);
    }
}

static int
pkg_show(struct m2msec_db *db, const char *fqdn, int json, struct m2msec_error *err)
{
    struct m2msec_pkg_rec p;
    struct m2msec_pkg_mpk_rec *list = NULL;
    size_t n = 0, i;
    int64_t now = m2msec_now();
    char from[M2MSEC_TIMESTAMP_LEN], to[M2MSEC_TIMESTAMP_LEN], hex[2 * M2MSEC_PKG_KPAK_LEN + 1];
    json_t *root = NULL, *arr = NULL;
    char *text = NULL;
    int rv = -1;

    if (m2msec_pkg_get(db, &p, err) == -1 || m2msec_pkg_mpk_list(db, &list, &n, err) == -1) {
        goto out;
    }
    if (json) {
        root = json_object();
        arr = json_array();
        if (root == NULL || arr == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
            goto out;
        }
        json_object_set_new(root, "fqdn", json_string(fqdn));
        json_object_set_new(root, "keyPeriod", json_integer((json_int_t)p.key_period));
        json_object_set_new(root, "keyPeriodOffset", json_integer((json_int_t)p.key_period_offset));
        json_object_set_new(root, "mpkLifetime", json_integer((json_int_t)p.mpk_lifetime));
        json_object_set_new(root, "current", json_integer(p.current));
        for (i = 0; i < n; i++) {
            json_t *o = json_object();

            (void)m2msec_hex_encode(list[i].kpak, sizeof(list[i].kpak), hex, sizeof(hex));
            m2msec_timestamp_format(list[i].not_before, from);
            m2msec_timestamp_format(list[i].not_after, to);
            json_object_set_new(o, "version", json_integer(list[i].version));
            json_object_set_new(o, "kpak", json_string(hex));
            json_object_set_new(o, "validFrom", json_string(from));
            json_object_set_new(o, "validTo", json_string(to));
            json_object_set_new(o, "validToEpoch", json_integer(list[i].not_after));
            json_object_set_new(o, "maxIssuedEpoch", json_integer(list[i].max_issued));
            json_object_set_new(o, "current", json_boolean(list[i].version == p.current));
            json_object_set_new(o, "published", json_boolean(list[i].not_after > now));
            json_array_append_new(arr, o);
        }
        json_object_set_new(root, "mpk", arr);
        arr = NULL;
        text = json_dumps(root, JSON_COMPACT);
        if (text == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
            goto out;
        }
        printf("%s\n", text);
    } else {
        printf("pkg %s: key period %llu s (offset %llu), MPK lifetime %llu s, current version "
               "%u\n",
               fqdn, (unsigned long long)p.key_period, (unsigned long long)p.key_period_offset,
               (unsigned long long)p.mpk_lifetime, p.current);
        for (i = 0; i < n; i++) {
            m2msec_timestamp_format(list[i].not_before, from);
            m2msec_timestamp_format(list[i].not_after, to);
            printf("  version %u%s%s valid %s .. %s kpak ", list[i].version,
                   list[i].version == p.current ? " (current)" : "",
                   list[i].not_after > now ? "" : " (expired)", from, to);
            print_hex(stdout, list[i].kpak, sizeof(list[i].kpak));
            putchar('\n');
        }
    }
    rv = 0;
out:
    free(text);
    json_decref(arr);
    json_decref(root);
    m2msec_free(list);
    return rv;
}

int
mefd_cmd_pkg(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "key-period", required_argument, NULL, 'p' },
        { "key-period-offset", required_argument, NULL, 'o' },
        { "mpk-lifetime", required_argument, NULL, 'l' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    static const char usage[] = "usage: mefd pkg init -d DIR [--key-period S] "
                                "[--key-period-offset S] [--mpk-lifetime S]\n"
                                "       mefd pkg show -d DIR [--json]\n"
                                "       mefd pkg rotate -d DIR";
    struct m2msec_error err = { 0 };
    struct mefd_dir d = { 0 };
    struct m2msec_db *db = NULL;
    struct m2msec_eccsi_kms *kms = NULL;
    struct m2msec_pkg_rec policy = { 0 };
    const char *sub, *dir = NULL;
    char fqdn[M2MSEC_FQDN_MAX + 1];
    int c, json = 0, rv = 1;
    unsigned version = 1;
    int64_t now = m2msec_now();

    policy.key_period = PKG_KEY_PERIOD_DEFAULT;
    policy.mpk_lifetime = PKG_MPK_LIFETIME_DEFAULT;
    if (argc < 2) {
        return mefd_fail("%s", usage);
    }
    sub = argv[1];
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "d:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'p':
            if (parse_seconds(optarg, "--key-period", &policy.key_period) == -1) {
                return 2;
            }
            break;
        case 'o':
            if (m2msec_parse_u64(optarg, strlen(optarg), PKG_SECONDS_MAX,
                                 &policy.key_period_offset) == -1) {
                return mefd_fail("--key-period-offset takes seconds");
            }
            break;
        case 'l':
            if (parse_seconds(optarg, "--mpk-lifetime", &policy.mpk_lifetime) == -1) {
                return 2;
            }
            break;
        case 'j':
            json = 1;
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || optind != argc - 1 ||
        (strcmp(sub, "init") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "rotate") != 0)) {
        return mefd_fail("%s", usage);
    }
    if (policy.key_period_offset >= policy.key_period) {
        return mefd_fail("--key-period-offset must be below --key-period");
    }
    if (mefd_dir_open(dir, &d, &err) == -1 || pkg_fqdn(d.cfg.fqdn, fqdn, &err) == -1 ||
        (db = mefd_db_open(&d, &err)) == NULL) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (strcmp(sub, "show") == 0) {
        if (pkg_show(db, fqdn, json, &err) == -1) {
            mefd_fail("%s", m2msec_error_msg(&err));
            goto out;
        }
        rv = 0;
        goto out;
    }
    /* @spec RFC 6507 5.1.1 (IBC-DESIGN 1.2): KSAK uniform in [1, q-1], KPAK = [KSAK]G. */
    kms = m2msec_eccsi_kms_new(&err);
    if (kms == NULL) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    if (strcmp(sub, "init") == 0) {
        if (m2msec_pkg_init(db, &policy, m2msec_eccsi_kms_kpak(kms), m2msec_eccsi_kms_ksak(kms),
                            now, &err) == -1) {
            mefd_fail("%s", m2msec_error_msg(&err));
            goto out;
        }
    } else if (m2msec_pkg_rotate(db, m2msec_eccsi_kms_kpak(kms), m2msec_eccsi_kms_ksak(kms), now,
                                 &version, &err) == -1) {
        mefd_fail("%s", m2msec_error_msg(&err));
        goto out;
    }
    printf("pkg %s: MPK version %u is current, kpak ", fqdn, version);
    print_hex(stdout, m2msec_eccsi_kms_kpak(kms), M2MSEC_ECCSI_POINT_LEN);
    putchar('\n');
    rv = 0;
out:
    m2msec_eccsi_kms_free(kms);
    m2msec_db_close(db);
    mefd_dir_close(&d);
    return rv;
}
