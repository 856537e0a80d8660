/*
 * tests/unit/test_pkg.c - unit tests for the PKG store (MEF), the device's IBC credential
 * store, the IBC enrolment messages (codec/mef_msg.c) and the IBC step of the exchange.
 *
 * Store: init (once, bad policies), KSAK sealed and bound to its version,
 * rotation keeping the old MPK exactly until its last credential, issuance
 * records refused for a retired version or past the MPK; the device's
 * credential and trust store (replace, validate, wrong store kind). Codec:
 * every accepted message round-trips and each has rejected neighbours
 * (missing, wrong type, too long, bad base64, wrong length, unknown member,
 * inconsistent set). Exchange: IBC planned only when indicated and offered,
 * claimed once, only in its step.
 */
#define _GNU_SOURCE /* memmem */
/* cmocka needs these four first; the blank line keeps clang-format from reordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/mef_msg.h"
#include "crypto/eccsi.h"
#include "proto/exchange.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define T0           INT64_C(1800000000)

struct fx {
    char dir[64];
    char path[128];
    struct m2msec_secret *kek;
    struct m2msec_db *db;
};

static int
open_fx(void **state, enum m2msec_schema kind)
{
    struct m2msec_error err = { 0 };
    struct fx *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/m2msec-pkg-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/s.db", fx->dir);
    fx->kek = m2msec_secret_random(32, &err);
    fx->db = fx->kek != NULL ? m2msec_db_open(fx->path, kind, fx->kek, &err) : NULL;
    *state = fx;
    return fx->db != NULL ? 0 : -1;
}

static int
setup_mef(void **state)
{
    return open_fx(state, M2MSEC_SCHEMA_MEF);
}

static int
setup_dev(void **state)
{
    return open_fx(state, M2MSEC_SCHEMA_DEVICE);
}

static int
teardown(void **state)
{
    struct fx *fx = *state;
    char p[160];

    if (fx == NULL) {
        return 0;
    }
    m2msec_db_close(fx->db);
    m2msec_secret_free(fx->kek);
    snprintf(p, sizeof(p), "%s/s.db", fx->dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/s.db-wal", fx->dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/s.db-shm", fx->dir);
    unlink(p);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* A fresh KMS: its KPAK and KSAK as the store takes them. */
static struct m2msec_eccsi_kms *
kms_new(void)
{
    struct m2msec_error err = { 0 };
    struct m2msec_eccsi_kms *k = m2msec_eccsi_kms_new(&err);

    assert_non_null(k);
    return k;
}

static const struct m2msec_pkg_rec policy = {
    .key_period = 3600,
    .key_period_offset = 0,
    .mpk_lifetime = 1000,
};

/*
 * PKG store
 */

static void
test_pkg_init_once(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_eccsi_kms *k = kms_new();
    struct m2msec_pkg_rec p, bad;
    struct m2msec_pkg_mpk_rec m;

    assert_int_equal(m2msec_pkg_get(fx->db, &p, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_NOT_FOUND);
    /* Rejected neighbours of the policy: zero period, offset not below it, zero lifetime. */
    bad = policy;
    bad.key_period = 0;
    assert_int_equal(m2msec_pkg_init(fx->db, &bad, m2msec_eccsi_kms_kpak(k),
                                     m2msec_eccsi_kms_ksak(k), T0, &err),
                     -1);
    bad = policy;
    bad.key_period_offset = bad.key_period;
    assert_int_equal(m2msec_pkg_init(fx->db, &bad, m2msec_eccsi_kms_kpak(k),
                                     m2msec_eccsi_kms_ksak(k), T0, &err),
                     -1);
    bad = policy;
    bad.mpk_lifetime = 0;
    assert_int_equal(m2msec_pkg_init(fx->db, &bad, m2msec_eccsi_kms_kpak(k),
                                     m2msec_eccsi_kms_ksak(k), T0, &err),
                     -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_pkg_init(fx->db, &policy, m2msec_eccsi_kms_kpak(k),
                                     m2msec_eccsi_kms_ksak(k), T0, &err),
                     0);
    assert_int_equal(m2msec_pkg_init(fx->db, &policy, m2msec_eccsi_kms_kpak(k),
                                     m2msec_eccsi_kms_ksak(k), T0, &err),
                     -1);
    assert_int_equal(err.code, M2MSEC_ERR_REFUSED);
    assert_int_equal(m2msec_pkg_get(fx->db, &p, &err), 0);
    assert_int_equal(p.current, 1);
    assert_int_equal(p.key_period, 3600);
    /* KSAK sealed: it comes back only when asked, equal to the KMS's. */
    assert_int_equal(m2msec_pkg_mpk_get(fx->db, 1, 0, &m, &err), 0);
    assert_null(m.ksak);
    assert_int_equal(m.not_before, T0);
    assert_int_equal(m.not_after, T0 + 1000);
    assert_memory_equal(m.kpak, m2msec_eccsi_kms_kpak(k), 65);
    m2msec_pkg_mpk_rec_clear(&m);
    assert_int_equal(m2msec_pkg_mpk_get(fx->db, 1, 1, &m, &err), 0);
    assert_true(m2msec_secret_equal(m.ksak, m2msec_eccsi_kms_ksak(k)));
    m2msec_pkg_mpk_rec_clear(&m);
    assert_int_equal(m2msec_pkg_mpk_get(fx->db, 2, 0, &m, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_NOT_FOUND);
    m2msec_eccsi_kms_free(k);
}

static void
test_pkg_ksak_bound_to_version(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_eccsi_kms *k1 = kms_new(), *k2 = kms_new();
    struct m2msec_pkg_mpk_rec m;

    assert_int_equal(m2msec_pkg_init(fx->db, &policy, m2msec_eccsi_kms_kpak(k1),
                                     m2msec_eccsi_kms_ksak(k1), T0, &err),
                     0);
    assert_int_equal(m2msec_pkg_rotate(fx->db, m2msec_eccsi_kms_kpak(k2), m2msec_eccsi_kms_ksak(k2),
                                       T0 + 1, NULL, &err),
                     0);
    /* Version 2's sealed KSAK moved to version 1 does not open (AAD "pkg-ksak:<version>"). */
    assert_int_equal(m2msec_db_test_exec(fx->db,
                                         "UPDATE pkg_mpk SET ksak = (SELECT ksak FROM pkg_mpk "
                                         "WHERE version = 2) WHERE version = 1",
                                         &err),
                     0);
    assert_int_equal(m2msec_pkg_mpk_get(fx->db, 1, 1, &m, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_AUTH);
    assert_int_equal(m2msec_pkg_mpk_get(fx->db, 1, 0, &m, &err), 0);
    m2msec_pkg_mpk_rec_clear(&m);
    m2msec_eccsi_kms_free(k1);
    m2msec_eccsi_kms_free(k2);
}

static void
test_pkg_rotate_keeps_old_until_last_credential(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_eccsi_kms *k1 = kms_new(), *k2 = kms_new(), *k3 = kms_new();
    struct m2msec_pkg_mpk_rec *list = NULL;
    struct m2msec_pkg_rec p;
    size_t n = 0;
    unsigned v = 0;

    assert_int_equal(m2msec_pkg_rotate(fx->db, m2msec_eccsi_kms_kpak(k1), m2msec_eccsi_kms_ksak(k1),
                                       T0, &v, &err),
                     -1);
    assert_int_equal(err.code, M2MSEC_ERR_NOT_FOUND);
    assert_int_equal(m2msec_pkg_init(fx->db, &policy, m2msec_eccsi_kms_kpak(k1),
                                     m2msec_eccsi_kms_ksak(k1), T0, &err),
                     0);
    /* Issuance records: under the current version, not past its validity. */
    assert_int_equal(m2msec_pkg_note_issued(fx->db, 1, T0 + 500, &err), 0);
    assert_int_equal(m2msec_pkg_note_issued(fx->db, 1, T0 + 300, &err), 0); /* max kept */
    assert_int_equal(m2msec_pkg_note_issued(fx->db, 1, T0 + 1001, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_STATE);
    assert_int_equal(m2msec_pkg_note_issued(fx->db, 7, T0 + 10, &err), -1);
    assert_int_equal(m2msec_pkg_rotate(fx->db, m2msec_eccsi_kms_kpak(k2), m2msec_eccsi_kms_ksak(k2),
                                       T0 + 100, &v, &err),
                     0);
    assert_int_equal(v, 2);
    /* A retired version records no more credentials. */
    assert_int_equal(m2msec_pkg_note_issued(fx->db, 1, T0 + 200, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_STATE);
    /* Version 2 issued nothing: a rotation ends it now. */
    assert_int_equal(m2msec_pkg_rotate(fx->db, m2msec_eccsi_kms_kpak(k3), m2msec_eccsi_kms_ksak(k3),
                                       T0 + 150, &v, &err),
                     0);
    assert_int_equal(v, 3);
    assert_int_equal(m2msec_pkg_get(fx->db, &p, &err), 0);
    assert_int_equal(p.current, 3);
    assert_int_equal(m2msec_pkg_mpk_list(fx->db, &list, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].version, 1);
    assert_int_equal(list[0].not_after, T0 + 500); /* its last credential */
    assert_int_equal(list[0].max_issued, T0 + 500);
    assert_int_equal(list[0].retired, T0 + 100);
    assert_int_equal(list[1].not_after, T0 + 150);
    assert_int_equal(list[2].not_before, T0 + 150);
    assert_int_equal(list[2].not_after, T0 + 1150);
    assert_int_equal(list[2].retired, 0);
    assert_null(list[0].ksak);
    m2msec_free(list);
    m2msec_eccsi_kms_free(k1);
    m2msec_eccsi_kms_free(k2);
    m2msec_eccsi_kms_free(k3);
}

static void
test_pkg_wrong_store_kind(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_pkg_rec p;
    struct m2msec_dev_ibc_rec *r = NULL;

    /* fx is a device store here. */
    assert_int_equal(m2msec_pkg_get(fx->db, &p, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_dev_ibc_get(fx->db, 0, &r, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_NOT_FOUND);
}

/*
 * Device store
 */

static void
fill_mpk(struct m2msec_dev_mpk_rec *m, const char *fqdn, unsigned version, uint8_t fill)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->fqdn, sizeof(m->fqdn), "%s", fqdn);
    m->version = version;
    memset(m->kpak, fill, sizeof(m->kpak));
    m->kpak[0] = 0x04;
    m->not_before = T0;
    m->not_after = T0 + 100;
    m->key_period = 10;
}

static void
test_dev_ibc_roundtrip(void **state)
{
    struct fx *fx = *state;
    struct m2msec_error err = { 0 };
    struct m2msec_dev_ibc_rec rec = { 0 }, *got = NULL;
    struct m2msec_dev_mpk_rec mpks[2], *list = NULL;
    struct m2msec_secret *ssk = m2msec_secret_random(32, &err);
    char id1[] = "/in-cse/CA", fqdn[] = "mef.example", mef[] = "127.0.0.1:1";
    size_t n = 0;

    assert_int_equal(m2msec_dev_ibc_get(fx->db, 0, &got, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_NOT_FOUND);
    memcpy(rec.id2, "x\0y\0z", 6);
    rec.id2_len = 6;
    rec.id1 = id1;
    rec.fqdn = fqdn;
    rec.mef = mef;
    rec.expires = T0 + 50;
    rec.mpk_version = 1;
    rec.kpak[0] = 0x04;
    rec.pvt[0] = 0x04;
    rec.created = T0;
    /* Rejected neighbours: no SSK, no ID2, a PVT that is not an uncompressed point. */
    assert_int_equal(m2msec_dev_ibc_put(fx->db, &rec, NULL, 0, &err), -1);
    rec.ssk = ssk;
    rec.id2_len = 0;
    assert_int_equal(m2msec_dev_ibc_put(fx->db, &rec, NULL, 0, &err), -1);
    rec.id2_len = 6;
    rec.pvt[0] = 0x02;
    assert_int_equal(m2msec_dev_ibc_put(fx->db, &rec, NULL, 0, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_INVALID_ARGUMENT);
    rec.pvt[0] = 0x04;
    fill_mpk(&mpks[0], "mef.example", 1, 0x11);
    fill_mpk(&mpks[1], "other.example", 2, 0x22);
    /* An MPK of another FQDN cannot ride along with this credential: nothing stored. */
    assert_int_equal(m2msec_dev_ibc_put(fx->db, &rec, mpks, 2, &err), -1);
    assert_int_equal(m2msec_dev_ibc_get(fx->db, 0, &got, &err), -1);
    fill_mpk(&mpks[1], "mef.example", 2, 0x22);
    assert_int_equal(m2msec_dev_ibc_put(fx->db, &rec, mpks, 2, &err), 0);
    assert_int_equal(m2msec_dev_ibc_get(fx->db, 1, &got, &err), 0);
    assert_string_equal(got->id1, "/in-cse/CA");
    assert_int_equal(got->id2_len, 6);
    assert_memory_equal(got->id2, "x\0y\0z", 6);
    assert_int_equal(got->expires, T0 + 50);
    assert_true(m2msec_secret_equal(got->ssk, ssk));
    m2msec_dev_ibc_rec_free(got);
    got = NULL;
    assert_int_equal(m2msec_dev_mpk_list(fx->db, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[1].version, 2);
    assert_int_equal(list[1].kpak[1], 0x22);
    m2msec_free(list);
    /* Refresh replaces the set of that FQDN; another FQDN's set stays. */
    fill_mpk(&mpks[0], "other.example", 5, 0x55);
    assert_int_equal(m2msec_dev_mpk_replace(fx->db, "other.example", mpks, 1, &err), 0);
    fill_mpk(&mpks[0], "mef.example", 3, 0x33);
    assert_int_equal(m2msec_dev_mpk_replace(fx->db, "MEF.example", mpks, 1, &err), 0);
    assert_int_equal(m2msec_dev_mpk_list(fx->db, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].fqdn, "mef.example");
    assert_int_equal(list[0].version, 3);
    assert_int_equal(list[1].version, 5);
    m2msec_free(list);
    assert_int_equal(m2msec_dev_mpk_replace(fx->db, "mef.example", mpks, 0, &err), -1);
    mpks[0].not_after = mpks[0].not_before;
    assert_int_equal(m2msec_dev_mpk_replace(fx->db, "mef.example", mpks, 1, &err), -1);
    /* A sealed SSK moved to another ID1 does not open. */
    assert_int_equal(m2msec_db_test_exec(fx->db, "UPDATE dev_ibc SET id1 = '/in-cse/CB'", &err), 0);
    assert_int_equal(m2msec_dev_ibc_get(fx->db, 1, &got, &err), -1);
    assert_int_equal(err.code, M2MSEC_ERR_AUTH);
    m2msec_secret_free(ssk);
}

/*
 * Codec
 */

static void
mpk_info(struct m2msec_mpk_info *m, unsigned version)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->fqdn, sizeof(m->fqdn), "mef.example");
    m->version = version;
    memset(m->kpak, (int)version, sizeof(m->kpak));
    m->kpak[0] = 0x04;
    m->valid_from = T0;
    m->valid_to = T0 + 100;
    m->key_period = 3600;
}

/* tmpl with every "@K" replaced by k, into out. */
static void
expand(const char *tmpl, const char *k, char *out, size_t sz)
{
    size_t o = 0, klen = strlen(k);

    for (; *tmpl != '\0' && o + klen + 1 < sz; tmpl++) {
        if (tmpl[0] == '@' && tmpl[1] == 'K') {
            memcpy(out + o, k, klen);
            o += klen;
            tmpl++;
        } else {
            out[o++] = *tmpl;
        }
    }
    out[o] = '\0';
}

static void
test_mpk_set_codec(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_mpk_set set = { 0 }, back;
    struct m2msec_buf b;
    /* KPAK of 65 bytes 0x04 0x01... as base64 */
    static const char kpak1[] = "BAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
                                "EBAQEBAQEBAQEBAQEBAQE=";
    char ok_msg[512];
    static const struct {
        const char *fmt; /* @K: the KPAK */
        const char *why;
    } bad[] = {
        { "{\"current\":1}", "mpk" },
        { "{\"current\":1,\"mpk\":{}}", "mpk" },
        { "{\"current\":1,\"mpk\":[]}", "mpk" },
        { "{\"current\":2,\"mpk\":[{\"fqdn\":\"mef.example\",\"version\":1,\"kpak\":\"@K\","
          "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
          "\"keyPeriodOffset\":0}]}",
          "current" },
        { "{\"current\":1,\"mpk\":[{\"fqdn\":\"MEF.example\",\"version\":1,\"kpak\":\"@K\","
          "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
          "\"keyPeriodOffset\":0}]}",
          "fqdn" },
        { "{\"current\":1,\"mpk\":[{\"fqdn\":\"mef.example\",\"version\":1,\"kpak\":\"AAAA\","
          "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
          "\"keyPeriodOffset\":0}]}",
          "kpak" },
        { "{\"current\":1,\"mpk\":[{\"fqdn\":\"mef.example\",\"version\":1,\"kpak\":\"@K\","
          "\"validFrom\":\"20270115T090000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
          "\"keyPeriodOffset\":0}]}",
          "validTo" },
        { "{\"current\":1,\"mpk\":[{\"fqdn\":\"mef.example\",\"version\":1,\"kpak\":\"@K\","
          "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
          "\"keyPeriodOffset\":3600}]}",
          "keyPeriodOffset" },
        { "{\"current\":1,\"mpk\":[{\"fqdn\":\"mef.example\",\"version\":1,\"kpak\":\"@K\","
          "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":0,"
          "\"keyPeriodOffset\":0}]}",
          "keyPeriod" },
        { "{\"current\":1,\"mpk\":[{\"fqdn\":\"mef.example\",\"version\":1,\"kpak\":\"@K\","
          "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
          "\"keyPeriodOffset\":0,\"extra\":1}]}",
          "extra" },
        { "{\"current\":1,\"mpk\":[{\"fqdn\":\"mef.example\",\"version\":1,\"kpak\":\"@K\","
          "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
          "\"keyPeriodOffset\":0}],\"x\":true}",
          "x" },
        { "{\"current\":1,\"mpk\":[{\"fqdn\":\"mef.example\",\"version\":1,\"kpak\":\"@K\","
          "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
          "\"keyPeriodOffset\":0},{\"fqdn\":\"mef.example\",\"version\":1,\"kpak\":\"@K\","
          "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
          "\"keyPeriodOffset\":0}]}",
          "duplicate" },
        { "{\"current\":1,\"mpk\":[{\"fqdn\":\"mef.example\",\"version\":1,\"kpak\":\"@K\","
          "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
          "\"keyPeriodOffset\":0},{\"fqdn\":\"other.example\",\"version\":2,\"kpak\":\"@K\","
          "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
          "\"keyPeriodOffset\":0}]}",
          "another FQDN" },
    };
    size_t i;

    (void)state;
    m2msec_buf_init(&b, 65536);
    mpk_info(&set.mpk[0], 1);
    mpk_info(&set.mpk[1], 2);
    set.n = 2;
    set.current = 2;
    assert_int_equal(m2msec_mpk_set_encode(&set, &b, &err), 0);
    assert_int_equal(m2msec_mpk_set_decode(b.data, b.len, &back, &err), 0);
    assert_int_equal(back.n, 2);
    assert_int_equal(back.current, 2);
    assert_memory_equal(back.mpk[1].kpak, set.mpk[1].kpak, 65);
    assert_int_equal(back.mpk[0].valid_to, T0 + 100);
    /* The encoder refuses what the decoder would: a current version not listed. */
    set.current = 3;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_mpk_set_encode(&set, &b, &err), -1);
    /* The accepted base message, then its rejected neighbours. */
    snprintf(ok_msg, sizeof(ok_msg),
             "{\"current\":1,\"mpk\":[{\"fqdn\":\"mef.example\",\"version\":1,\"kpak\":\"%s\","
             "\"validFrom\":\"20270115T080000\",\"validTo\":\"20270115T090000\",\"keyPeriod\":3600,"
             "\"keyPeriodOffset\":0}]}",
             kpak1);
    assert_int_equal(m2msec_mpk_set_decode((const uint8_t *)ok_msg, strlen(ok_msg), &back, &err),
                     0);
    assert_int_equal(back.mpk[0].kpak[1], 1);
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        char msg[1024];

        expand(bad[i].fmt, kpak1, msg, sizeof(msg));
        assert_int_equal(m2msec_mpk_set_decode((const uint8_t *)msg, strlen(msg), &back, &err), -1);
        assert_int_equal(err.rsc, 4000);
        if (strstr(err.msg, bad[i].why) == NULL) {
            fail_msg("case %zu: '%s' does not name '%s'", i, err.msg, bad[i].why);
        }
    }
    m2msec_buf_free(&b);
}

static void
test_ibc_cred_req_codec(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_ibc_cred_req rq = { 0 }, back;
    struct m2msec_buf b;
    char id1[] = "/in-cse/CA";
    char long_id[260];
    static const char *const bad[] = {
        "{\"id1\":\"/in-cse/CA\"}",
        "{\"step\":1}",
        "{\"step\":0,\"id1\":\"/in-cse/CA\"}",
        "{\"step\":\"1\",\"id1\":\"/in-cse/CA\"}",
        "{\"step\":1,\"id1\":\"\"}",
        "{\"step\":1,\"id1\":\"/in cse/CA\"}",
        "{\"step\":1,\"id1\":\"/in-cse/CA\",\"ssk\":\"AA==\"}",
    };
    size_t i;

    (void)state;
    m2msec_buf_init(&b, 4096);
    rq.step = 3;
    rq.id1 = id1;
    assert_int_equal(m2msec_ibc_cred_req_encode(&rq, &b, &err), 0);
    assert_int_equal(m2msec_ibc_cred_req_decode(b.data, b.len, &back, &err), 0);
    assert_int_equal(back.step, 3);
    assert_string_equal(back.id1, "/in-cse/CA");
    m2msec_ibc_cred_req_clear(&back);
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(
                m2msec_ibc_cred_req_decode((const uint8_t *)bad[i], strlen(bad[i]), &back, &err),
                -1);
        assert_null(back.id1);
    }
    /* 201 bytes of ID1: one over the bound. */
    memset(long_id, 'C', sizeof(long_id));
    long_id[0] = '/';
    snprintf(long_id + 201, sizeof(long_id) - 201, "%s", "");
    rq.id1 = long_id;
    m2msec_buf_reset(&b);
    assert_int_equal(m2msec_ibc_cred_req_encode(&rq, &b, &err), -1);
    m2msec_buf_free(&b);
}

/* A genuine credential response from a KMS, encoded. */
static void
cred_resp(struct m2msec_eccsi_kms *k, struct m2msec_ibc_cred_resp *rs)
{
    struct m2msec_error err = { 0 };
    static const uint8_t id2[] = "mef.example\0"
                                 "2027-01-15T09:00:00Z\0/in-cse/CA";

    memset(rs, 0, sizeof(*rs));
    memcpy(rs->id2, id2, sizeof(id2));
    rs->id2_len = sizeof(id2);
    assert_int_equal(m2msec_eccsi_issue(k, rs->id2, rs->id2_len, &rs->ssk, rs->pvt, &err), 0);
    rs->mpk_version = 1;
    mpk_info(&rs->mpks.mpk[0], 1);
    memcpy(rs->mpks.mpk[0].kpak, m2msec_eccsi_kms_kpak(k), 65);
    rs->mpks.n = 1;
    rs->mpks.current = 1;
}

/* Replace the first occurrence of from by to in s (bounded), for rejected neighbours. */
static void
subst(char *s, size_t sz, const char *from, const char *to)
{
    char *p = strstr(s, from);
    char tail[8192];

    assert_non_null(p);
    snprintf(tail, sizeof(tail), "%s", p + strlen(from));
    snprintf(p, sz - (size_t)(p - s), "%s%s", to, tail);
}

static void
test_ibc_cred_resp_codec(void **state)
{
    (void)state;
    struct m2msec_error err = { 0 };
    struct m2msec_eccsi_kms *k = kms_new();
    struct m2msec_ibc_cred_resp rs, back;
    struct m2msec_buf b;
    char text[8192], msg[8192];
    static const struct {
        const char *from, *to;
    } bad[] = {
        { "\"suite\":\"ECCSI-P256-SHA256\"", "\"suite\":\"SAKKE\"" },
        { "\"mpkVersion\":1", "\"mpkVersion\":2" },
        { "\"mpkVersion\":1", "\"mpkVersion\":\"1\"" },
        { "\"ssk\":\"", "\"ssk\":\"AAAA" },
        { "\"pvt\":\"", "\"pvt\":\"!" },
        { "\"id2\":\"", "\"extra\":1,\"id2\":\"" },
        { "\"mpkSet\":{", "\"mpkSet\":{\"y\":1," },
    };
    size_t i;

    m2msec_buf_init(&b, 65536);
    cred_resp(k, &rs);
    assert_int_equal(m2msec_ibc_cred_resp_encode(&rs, &b, &err), 0);
    assert_true(b.len < sizeof(text));
    memcpy(text, b.data, b.len);
    text[b.len] = '\0';
    assert_int_equal(m2msec_ibc_cred_resp_decode(b.data, b.len, &back, &err), 0);
    assert_int_equal(back.id2_len, rs.id2_len);
    assert_memory_equal(back.id2, rs.id2, rs.id2_len);
    assert_memory_equal(back.pvt, rs.pvt, 65);
    assert_true(m2msec_secret_equal(back.ssk, rs.ssk));
    assert_int_equal(back.mpk_version, 1);
    /* What the device then checks (RFC 6507 5.1.2) holds for the decoded values. */
    assert_int_equal(m2msec_eccsi_validate(back.mpks.mpk[0].kpak, back.id2, back.id2_len, back.ssk,
                                           back.pvt, NULL, &err),
                     0);
    m2msec_ibc_cred_resp_clear(&back);
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        snprintf(msg, sizeof(msg), "%s", text);
        subst(msg, sizeof(msg), bad[i].from, bad[i].to);
        assert_int_equal(
                m2msec_ibc_cred_resp_decode((const uint8_t *)msg, strlen(msg), &back, &err), -1);
        assert_null(back.ssk);
    }
    /* Encoder neighbours: no SSK, an empty ID2. */
    m2msec_buf_reset(&b);
    back = rs;
    back.ssk = NULL;
    assert_int_equal(m2msec_ibc_cred_resp_encode(&back, &b, &err), -1);
    back = rs;
    back.id2_len = 0;
    assert_int_equal(m2msec_ibc_cred_resp_encode(&back, &b, &err), -1);
    m2msec_ibc_cred_resp_clear(&rs);
    m2msec_buf_free(&b);
    m2msec_eccsi_kms_free(k);
}

static void
test_enrol_messages_ibc(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_enrol_req rq = { 0 }, back;
    struct m2msec_enrol_resp r;
    struct m2msec_buf b;
    static const char legacy[] =
            "{\"certEnrolmentInd\":false,\"mafEnrolmentInd\":true,\"remoteMgmtInd\":true}";
    static const char ibc_bad_type[] = "{\"certEnrolmentInd\":false,\"mafEnrolmentInd\":true,"
                                       "\"remoteMgmtInd\":true,\"ibcEnrolmentInd\":1}";
    static const char instr_ok[] = "{\"exchangeID\":\"ab\",\"step\":1,\"instruction\":"
                                   "{\"type\":\"ibcEnrolment\",\"lifetime\":\"20270115T090000\"}}";
    static const char instr_uri[] = "{\"exchangeID\":\"ab\",\"step\":1,\"instruction\":"
                                    "{\"type\":\"ibcEnrolment\",\"uri\":\"https://x.example\"}}";
    static const char instr_maf[] = "{\"exchangeID\":\"ab\",\"step\":1,\"instruction\":"
                                    "{\"type\":\"ibcEnrolment\",\"keyRegistrationURI\":"
                                    "\"https://x.example\"}}";

    (void)state;
    m2msec_buf_init(&b, 4096);
    rq.maf_enrolment = 1;
    rq.ibc_enrolment = 1;
    assert_int_equal(m2msec_enrol_req_encode(&rq, &b, &err), 0);
    assert_non_null(memmem(b.data, b.len, "\"ibcEnrolmentInd\":true", 22));
    assert_int_equal(m2msec_enrol_req_decode(b.data, b.len, &back, &err), 0);
    assert_true(back.ibc_enrolment);
    /* Absent reads as false (older Enrolees); a non-boolean is refused. */
    assert_int_equal(m2msec_enrol_req_decode((const uint8_t *)legacy, strlen(legacy), &back, &err),
                     0);
    assert_false(back.ibc_enrolment);
    assert_int_equal(m2msec_enrol_req_decode((const uint8_t *)ibc_bad_type, strlen(ibc_bad_type),
                                             &back, &err),
                     -1);
    /* The instruction: lifetime only. */
    assert_int_equal(
            m2msec_enrol_resp_decode((const uint8_t *)instr_ok, strlen(instr_ok), &r, &err), 0);
    assert_int_equal(r.instr.type, M2MSEC_INSTR_IBC_ENROLMENT);
    assert_true(r.instr.lifetime > 0);
    m2msec_enrol_resp_clear(&r);
    assert_int_equal(
            m2msec_enrol_resp_decode((const uint8_t *)instr_uri, strlen(instr_uri), &r, &err), -1);
    assert_int_equal(
            m2msec_enrol_resp_decode((const uint8_t *)instr_maf, strlen(instr_maf), &r, &err), -1);
    m2msec_buf_free(&b);
}

/*
 * Exchange
 */

static void
test_exchange_ibc_step(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_exchange x;
    struct m2msec_enrolee_policy pol = { 0 };
    struct m2msec_enrol_req ind = { 0 };
    struct m2msec_enrol_resp r;
    struct m2msec_enrol_report rep = { 0 };
    char rm[] = "https://dm.example";

    (void)state;
    pol.rm_uri = rm;
    ind.remote_mgmt = 1;
    /* Indicated but not offered (no PKG), offered but not indicated: no instruction. */
    ind.ibc_enrolment = 1;
    assert_int_equal(m2msec_exchange_plan(&x, "x1", &pol, &ind, T0 + 60, &err), 0);
    assert_int_equal(x.ninstr, 1);
    m2msec_exchange_clear(&x);
    ind.ibc_enrolment = 0;
    pol.ibc = 1;
    assert_int_equal(m2msec_exchange_plan(&x, "x1", &pol, &ind, T0 + 60, &err), 0);
    assert_int_equal(x.ninstr, 1);
    m2msec_exchange_clear(&x);
    /* Both: last, with the Ke expiry as its lifetime. */
    ind.ibc_enrolment = 1;
    assert_int_equal(m2msec_exchange_plan(&x, "x1", &pol, &ind, T0 + 60, &err), 0);
    assert_int_equal(x.ninstr, 2);
    assert_int_equal(x.instr[1].type, M2MSEC_INSTR_IBC_ENROLMENT);
    assert_int_equal(x.instr[1].lifetime, T0 + 60);
    assert_int_equal(m2msec_exchange_next(&x, &r, &err), 0); /* step 1: remote management */
    m2msec_enrol_resp_clear(&r);
    assert_int_equal(m2msec_exchange_ibc_claim(&x, 1, &err), -1);
    assert_int_equal(err.rsc, 4000);
    rep.step = 1;
    rep.success = 1;
    assert_int_equal(m2msec_exchange_report(&x, &rep, &err), 0);
    assert_int_equal(m2msec_exchange_next(&x, &r, &err), 0); /* step 2: IBC */
    assert_int_equal(r.instr.type, M2MSEC_INSTR_IBC_ENROLMENT);
    m2msec_enrol_resp_clear(&r);
    assert_int_equal(m2msec_exchange_ibc_claim(&x, 3, &err), -1);
    assert_int_equal(m2msec_exchange_ibc_claim(&x, 2, &err), 0);
    assert_int_equal(m2msec_exchange_ibc_claim(&x, 2, &err), -1);
    assert_int_equal(err.rsc, 4105);
    m2msec_exchange_ibc_unmark(&x); /* a failed issuance may be retried */
    assert_int_equal(m2msec_exchange_ibc_claim(&x, 2, &err), 0);
    rep.step = 2;
    assert_int_equal(m2msec_exchange_report(&x, &rep, &err), 0);
    assert_int_equal(m2msec_exchange_next(&x, &r, &err), 0);
    assert_true(r.end);
    m2msec_enrol_resp_clear(&r);
    assert_int_equal(m2msec_exchange_ibc_claim(&x, 2, &err), -1);
    assert_int_equal(err.rsc, 4005);
    m2msec_exchange_clear(&x);
}

static void
test_exchange_answer_ibc(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_enrol_req ind = { 0 };
    struct m2msec_instruction in = { 0 };
    struct m2msec_enrol_report rep;

    (void)state;
    in.type = M2MSEC_INSTR_IBC_ENROLMENT;
    assert_int_equal(m2msec_exchange_answer(&ind, &in, 4, &rep, &err), 0);
    assert_false(rep.success);
    assert_non_null(strstr(rep.reason, "not indicated"));
    m2msec_enrol_report_clear(&rep);
    ind.ibc_enrolment = 1;
    assert_int_equal(m2msec_exchange_answer(&ind, &in, 4, &rep, &err), 0);
    assert_true(rep.success);
    m2msec_enrol_report_clear(&rep);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pkg_init_once, setup_mef, teardown),
        cmocka_unit_test_setup_teardown(test_pkg_ksak_bound_to_version, setup_mef, teardown),
        cmocka_unit_test_setup_teardown(test_pkg_rotate_keeps_old_until_last_credential, setup_mef,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pkg_wrong_store_kind, setup_dev, teardown),
        cmocka_unit_test_setup_teardown(test_dev_ibc_roundtrip, setup_dev, teardown),
        cmocka_unit_test(test_mpk_set_codec),
        cmocka_unit_test(test_ibc_cred_req_codec),
        cmocka_unit_test(test_ibc_cred_resp_codec),
        cmocka_unit_test(test_enrol_messages_ibc),
        cmocka_unit_test(test_exchange_ibc_step),
        cmocka_unit_test(test_exchange_answer_ibc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
