/*
 * bench/enrol_dist.c - set-up of the key distribution measurements (c) and (d).
 *
 * Layer: bench (program). Everything here goes through the public API, as a
 * device would: enrol with mefd, register with the MAF (Km fetched by mafd
 * from mefd), register a Kc for a target. Only bench_dist_keyreg's optional
 * read-back of Kc uses the internal store, because (d) connects to Entity B
 * with the key itself through the same TLS call as the baseline (a).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/client_int.h"
#include "enrol.h"
#include "m2msec.h"
#include "store/store.h"
#include "util/encoding.h"
#include "util/mem.h"

#define DIST_TIMEOUT_MS 10000u

/* A client for Enrolee name with its state in <state_root>/<name>. */
static struct m2msec_client *
dist_open(const char *state_root, const char *name, const struct m2msec_secret *kpm,
          const char *mef, const char *maf, struct m2msec_error *err)
{
    struct m2msec_config *cfg = m2msec_config_new();
    struct m2msec_client *cl = m2msec_client_new();
    char dir[4096];

    snprintf(dir, sizeof(dir), "%s/%s", state_root, name);
    if (cfg == NULL || cl == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (m2msec_config_set_mef(cfg, mef) == -1 || m2msec_config_set_sni(cfg, BENCH_MEF_FQDN) == -1 ||
        m2msec_config_set_kpm(cfg, name, m2msec_secret_bytes(kpm), m2msec_secret_len(kpm)) == -1 ||
        m2msec_config_set_state_dir(cfg, dir) == -1 ||
        m2msec_config_set_timeout_ms(cfg, DIST_TIMEOUT_MS) == -1 ||
        (maf != NULL && m2msec_config_set_maf(cfg, maf, BENCH_MAF_FQDN) == -1)) {
        m2msec_error_setx(err, m2msec_config_error_code(cfg), "%s: %s", name,
                          m2msec_config_error(cfg));
        goto fail;
    }
    if (m2msec_client_configure(cl, cfg) == -1) {
        m2msec_error_setx(err, m2msec_client_error_code(cl), "%s: %s", name,
                          m2msec_client_error(cl));
        goto fail;
    }
    m2msec_config_free(cfg); /* the client holds its reference */
    return cl;
fail:
    m2msec_client_free(cl);
    m2msec_config_free(cfg);
    return NULL;
}

static int
client_fail(struct m2msec_client *cl, const char *name, const char *what, struct m2msec_error *err)
{
    return m2msec_error_setx(err, m2msec_client_error_code(cl), "%s: %s: %s (rsc %d)", name, what,
                             m2msec_client_error(cl), m2msec_client_error_rsc(cl));
}

int
bench_dist_client(const char *state_root, const char *name, const struct m2msec_secret *kpm,
                  const char *mef, const char *maf, struct m2msec_error *err)
{
    struct m2msec_client *cl = dist_open(state_root, name, kpm, mef, maf, err);
    struct m2msec_maf_reg *reg = NULL;
    int rv = -1;

    if (cl == NULL) {
        goto out;
    }
    if (m2msec_client_enrol(cl) == -1) {
        client_fail(cl, name, "enrol", err);
        goto out;
    }
    if (m2msec_client_maf_register(cl, BENCH_ADMIN, &reg) == -1) {
        client_fail(cl, name, "maf register", err);
        goto out;
    }
    rv = 0;
out:
    m2msec_maf_reg_free(reg);
    m2msec_client_free(cl);
    return rv;
}

/* Read Kc of key_id back from the device store in dir. */
static int
read_kc(const char *state_root, const char *name, const char *key_id, struct m2msec_secret **kc,
        struct m2msec_error *err)
{
    struct m2msec_db *db = NULL;
    struct m2msec_dev_kc_rec *rec = NULL;
    char dir[4096];
    int rv = -1;

    snprintf(dir, sizeof(dir), "%s/%s", state_root, name);
    db = client_state_open(dir, 0, err);
    if (db == NULL || m2msec_dev_kc_get(db, key_id, (int64_t)time(NULL), 1, &rec, err) == -1) {
        goto out;
    }
    *kc = rec->kc;
    rec->kc = NULL;
    rv = 0;
out:
    m2msec_dev_kc_rec_free(rec);
    m2msec_db_close(db);
    return rv;
}

int
bench_dist_keyreg(const char *state_root, const char *name, const struct m2msec_secret *kpm,
                  const char *mef, const char *maf, const char *target, unsigned suid,
                  char key_id[BENCH_KEYID_MAX], struct m2msec_secret **kc, struct m2msec_error *err)
{
    struct m2msec_client *cl = dist_open(state_root, name, kpm, mef, maf, err);
    struct m2msec_maf_key *k = NULL;
    int rv = -1;

    if (cl == NULL) {
        goto out;
    }
    if (m2msec_client_maf_keyreg(cl, target, suid, &k) == -1) {
        client_fail(cl, name, "maf keyreg", err);
        goto out;
    }
    if (m2msec_strlcpy(key_id, m2msec_maf_key_id(k), BENCH_KEYID_MAX) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "Key Identifier too long");
        goto out;
    }
    if (kc != NULL && read_kc(state_root, name, key_id, kc, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_maf_key_free(k);
    m2msec_client_free(cl);
    return rv;
}
