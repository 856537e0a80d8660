/*
 * client/config.c - struct m2msec_config: what the Enrolee is configured with.
 *
 * Layer: client. Refcounted and frozen on first m2msec_client_configure, as in
 * libtls: later setters fail with M2MSEC_ERR_INVALID_STATE.
 */
#include <string.h>

#include "client/client_int.h"
#include "util/mem.h"

M2MSEC_API struct m2msec_config *
m2msec_config_new(void)
{
    struct m2msec_config *cfg = m2msec_calloc(1, sizeof(*cfg));

    if (cfg == NULL) {
        return NULL;
    }
    cfg->refs = 1;
    cfg->timeout_ms = M2MSEC_DEFAULT_TIMEOUT_MS;
    /* Defaults of table 8.3.2.1-1: no EST client here, MAF and remote management yes. */
    cfg->ind.cert_enrolment = 0;
    cfg->ind.maf_enrolment = 1;
    cfg->ind.remote_mgmt = 1;
    return cfg;
}

void
m2msec_config_unref(struct m2msec_config *cfg)
{
    if (cfg == NULL || --cfg->refs > 0) {
        return;
    }
    m2msec_free(cfg->mef);
    m2msec_free(cfg->sni);
    m2msec_free(cfg->kpm_id);
    m2msec_secret_free(cfg->kpm);
    m2msec_free(cfg->cert_file);
    m2msec_free(cfg->key_file);
    m2msec_free(cfg->mef_ca);
    m2msec_free(cfg->state_dir);
    m2msec_free(cfg->maf);
    m2msec_free(cfg->maf_fqdn);
    m2msec_free(cfg);
}

M2MSEC_API void
m2msec_config_free(struct m2msec_config *cfg)
{
    m2msec_config_unref(cfg);
}

M2MSEC_API const char *
m2msec_config_error(const struct m2msec_config *cfg)
{
    return cfg->err.msg;
}

M2MSEC_API enum m2msec_err
m2msec_config_error_code(const struct m2msec_config *cfg)
{
    return cfg->err.code;
}

static int
writable(struct m2msec_config *cfg)
{
    m2msec_error_clear(&cfg->err);
    if (cfg->frozen) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_STATE,
                                 "configuration is in use and can no longer change");
    }
    return 0;
}

static int
set_str(struct m2msec_config *cfg, char **dst, const char *v, size_t max, const char *what)
{
    char *copy;

    if (writable(cfg) == -1) {
        return -1;
    }
    if (v == NULL || v[0] == '\0' || strlen(v) > max) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_ARGUMENT, "invalid %s", what);
    }
    copy = m2msec_strdup(v);
    if (copy == NULL) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    m2msec_free(*dst);
    *dst = copy;
    return 0;
}

M2MSEC_API int
m2msec_config_set_mef(struct m2msec_config *cfg, const char *hostport)
{
    char host[256], port[16];

    if (hostport == NULL ||
        m2msec_hostport_split(hostport, host, sizeof(host), port, sizeof(port), &cfg->err) == -1) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "MEF address must be host:port");
    }
    return set_str(cfg, &cfg->mef, hostport, 300, "MEF address");
}

M2MSEC_API int
m2msec_config_set_sni(struct m2msec_config *cfg, const char *fqdn)
{
    if (fqdn == NULL || !m2msec_fqdn_valid(fqdn)) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "server name must be an FQDN");
    }
    return set_str(cfg, &cfg->sni, fqdn, M2MSEC_FQDN_MAX, "server name");
}

static int
set_kpm_common(struct m2msec_config *cfg, const char *kpm_id, struct m2msec_secret *key)
{
    if (writable(cfg) == -1 || kpm_id == NULL || !m2msec_kpm_id_valid(kpm_id)) {
        m2msec_secret_free(key);
        if (cfg->err.code == M2MSEC_ERR_NONE) {
            m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_ARGUMENT, "invalid KpmID");
        }
        return -1;
    }
    if (set_str(cfg, &cfg->kpm_id, kpm_id, M2MSEC_ID_MAX, "KpmID") == -1) {
        m2msec_secret_free(key);
        return -1;
    }
    m2msec_secret_free(cfg->kpm);
    cfg->kpm = key;
    return 0;
}

M2MSEC_API int
m2msec_config_set_kpm(struct m2msec_config *cfg, const char *kpm_id, const uint8_t *key,
                      size_t key_len)
{
    struct m2msec_secret *s;

    if (writable(cfg) == -1) {
        return -1;
    }
    if (key == NULL || key_len == 0 || key_len > M2MSEC_SECRET_MAX) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_ARGUMENT, "invalid Kpm");
    }
    s = m2msec_secret_from(key, key_len, &cfg->err);
    if (s == NULL) {
        return -1;
    }
    return set_kpm_common(cfg, kpm_id, s);
}

M2MSEC_API int
m2msec_config_set_kpm_file(struct m2msec_config *cfg, const char *kpm_id, const char *path)
{
    struct m2msec_secret *s;

    if (writable(cfg) == -1) {
        return -1;
    }
    if (path == NULL) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_ARGUMENT, "no Kpm file");
    }
    s = m2msec_secret_load_hex_file(path, &cfg->err);
    if (s == NULL) {
        return -1;
    }
    return set_kpm_common(cfg, kpm_id, s);
}

/*
 * @spec TS-0003 8.3.2.2 and 8.1.2.3 the Enrolee's certificate credential.
 * The files are read when a session opens (the key may be a PKCS#11 URL,
 * tls/x509.h), so only their names are checked here.
 */
M2MSEC_API int
m2msec_config_set_cert(struct m2msec_config *cfg, const char *cert_file, const char *key_file)
{
    char *cert = NULL;

    if (writable(cfg) == -1) {
        return -1;
    }
    if (cert_file == NULL || key_file == NULL) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "a certificate needs both its file and its key");
    }
    /* Both or neither: keep the old pair if the second copy fails. */
    if (set_str(cfg, &cert, cert_file, 4096, "certificate file") == -1) {
        return -1;
    }
    if (set_str(cfg, &cfg->key_file, key_file, 4096, "key file") == -1) {
        m2msec_free(cert);
        return -1;
    }
    m2msec_free(cfg->cert_file);
    cfg->cert_file = cert;
    return 0;
}

/* @spec TS-0003 8.1.2.4 what the Enrolee needs to authenticate the MEF: its trust anchors. */
M2MSEC_API int
m2msec_config_set_mef_ca(struct m2msec_config *cfg, const char *ca_file)
{
    return set_str(cfg, &cfg->mef_ca, ca_file, 4096, "MEF trust anchor file");
}

M2MSEC_API int
m2msec_config_set_state_dir(struct m2msec_config *cfg, const char *dir)
{
    return set_str(cfg, &cfg->state_dir, dir, 4096, "state directory");
}

M2MSEC_API int
m2msec_config_set_timeout_ms(struct m2msec_config *cfg, unsigned ms)
{
    if (writable(cfg) == -1) {
        return -1;
    }
    if (ms < 10 || ms > 600000) {
        return m2msec_error_setx(&cfg->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "timeout must be 10..600000 ms");
    }
    cfg->timeout_ms = ms;
    return 0;
}

M2MSEC_API int
m2msec_config_set_indications(struct m2msec_config *cfg, int cert_enrolment, int maf_enrolment,
                              int remote_mgmt)
{
    if (writable(cfg) == -1) {
        return -1;
    }
    cfg->ind.cert_enrolment = cert_enrolment != 0;
    cfg->ind.maf_enrolment = maf_enrolment != 0;
    cfg->ind.remote_mgmt = remote_mgmt != 0;
    return 0;
}
