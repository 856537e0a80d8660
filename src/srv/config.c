/*
 * srv/config.c - daemon configuration files (INI, parsed by inih).
 *
 * Layer: srv (daemon plumbing, not part of libm2msec). Uses util, proto/ids.h
 * (FQDN rule) and tls/tls.h (host:port rule); never GnuTLS or SQLite directly.
 * Strict on purpose: a typo in a key must not silently leave a default in
 * place, so unknown keys, duplicates, malformed numbers and out-of-range values
 * are all errors naming "path:line".
 */
/* realpath(3) is an XSI interface. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "proto/ids.h"
#include "tls/tls.h"
#include "util/encoding.h"
#include "util/mem.h"

#define DEFAULT_LISTEN "127.0.0.1:8443"
#define DEFAULT_DB     "mef.db"
#define DEFAULT_KEK    "kek.hex"
#define TEN_YEARS_S    (10ULL * 365 * 86400)
#define SECTION_MAX    32

enum key_kind { KEY_STR, KEY_PATH, KEY_FQDN, KEY_LISTEN, KEY_UINT, KEY_U64, KEY_LEVEL };

struct key_def {
    int in_store; /* 1: [store], 0: the daemon's section */
    const char *name;
    enum key_kind kind;
    size_t offset;
    uint64_t min;
    uint64_t max;
    int reloadable; /* 1: SIGHUP applies it (srv_config_reload); 0: read at start only */
};

#define OFF(f) offsetof(struct srv_config, f)

static const struct key_def keys[] = {
    { 0, "fqdn", KEY_FQDN, OFF(fqdn), 0, 0, 0 },
    { 0, "listen", KEY_LISTEN, OFF(listen), 0, 0, 0 },
    { 0, "workers", KEY_UINT, OFF(workers), 1, 256, 0 },
    { 0, "backlog", KEY_UINT, OFF(backlog), 1, 4096, 0 },
    { 0, "max_queue", KEY_UINT, OFF(max_queue), 1, 65536, 0 },
    { 0, "handshake_timeout_ms", KEY_UINT, OFF(handshake_timeout_ms), 100, 600000, 1 },
    { 0, "io_timeout_ms", KEY_UINT, OFF(io_timeout_ms), 100, 600000, 1 },
    { 0, "idle_timeout_ms", KEY_UINT, OFF(idle_timeout_ms), 100, 600000, 1 },
    { 0, "shutdown_timeout_ms", KEY_UINT, OFF(shutdown_timeout_ms), 100, 600000, 1 },
    { 0, "sweep_interval_s", KEY_UINT, OFF(sweep_interval_s), 1, 86400, 1 },
    { 0, "registration_lifetime_default_s", KEY_U64, OFF(reg_lifetime_default_s), 1, TEN_YEARS_S,
      1 },
    { 0, "registration_lifetime_max_s", KEY_U64, OFF(reg_lifetime_max_s), 1, TEN_YEARS_S, 1 },
    { 0, "log_level", KEY_LEVEL, OFF(log_level), 0, 0, 1 },
    { 0, "target_listen", KEY_LISTEN, OFF(target_listen), 0, 0, 0 },
    { 0, "cert", KEY_PATH, OFF(cert_path), 0, 0, 0 },
    { 0, "key", KEY_PATH, OFF(key_path), 0, 0, 0 },
    { 0, "target_ca", KEY_PATH, OFF(target_ca_path), 0, 0, 0 },
    { 1, "db", KEY_PATH, OFF(db_path), 0, 0, 0 },
    { 1, "kek", KEY_PATH, OFF(kek_path), 0, 0, 0 },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct load_ctx {
    const char *path;
    const char *section;
    struct srv_config *c;
    FILE *fp;
    int lineno;      /* line last handed to inih */
    int long_line;   /* the current physical line did not fit inih's buffer */
    int seen[NKEYS]; /* duplicate detection (also catches inih continuation lines) */
    int err_line;    /* first line with an error, 0 = none */
    int nomem;
    struct m2msec_error err;
};

void
srv_config_defaults(struct srv_config *c)
{
    memset(c, 0, sizeof(*c));
    c->fqdn = NULL;
    /* On allocation failure these stay NULL; srv_config_load reports it. */
    c->listen = m2msec_strdup(DEFAULT_LISTEN);
    c->workers = 8;
    c->backlog = 128;
    c->max_queue = 256;
    c->handshake_timeout_ms = 5000;
    c->io_timeout_ms = 10000;
    c->idle_timeout_ms = 15000;
    c->shutdown_timeout_ms = 10000;
    c->sweep_interval_s = 60;
    c->reg_lifetime_default_s = 86400;
    c->reg_lifetime_max_s = 31536000;
    c->log_level = SRV_LOG_INFO;
    c->db_path = m2msec_strdup(DEFAULT_DB);
    c->kek_path = m2msec_strdup(DEFAULT_KEK);
}

void
srv_config_clear(struct srv_config *c)
{
    if (c == NULL) {
        return;
    }
    m2msec_free(c->fqdn);
    m2msec_free(c->listen);
    m2msec_free(c->db_path);
    m2msec_free(c->kek_path);
    m2msec_free(c->target_listen);
    m2msec_free(c->cert_path);
    m2msec_free(c->key_path);
    m2msec_free(c->target_ca_path);
    c->fqdn = NULL;
    c->listen = NULL;
    c->db_path = NULL;
    c->kek_path = NULL;
    c->target_listen = NULL;
    c->cert_path = NULL;
    c->key_path = NULL;
    c->target_ca_path = NULL;
}

/*
 * fgets-shaped reader for ini_parse_stream. inih calls it once per physical
 * line and hands that line to the handler before reading the next, so
 * counting here gives the handler its line number (Debian's libinih is built
 * without INI_HANDLER_LINENO). A line longer than inih's buffer would be split
 * into two lines silently; it is flagged and replaced by a comment instead.
 */
static char *
ini_reader_counted(char *str, int num, void *stream)
{
    struct load_ctx *ctx = stream;
    size_t n = 0;
    int ch = 0;

    if (fgets(str, num, ctx->fp) == NULL) {
        return NULL;
    }
    ctx->lineno++;
    ctx->long_line = 0;
    n = strlen(str);
    if (n > 0 && str[n - 1] != '\n' && !feof(ctx->fp)) {
        ctx->long_line = 1;
        do {
            ch = fgetc(ctx->fp);
        } while (ch != EOF && ch != '\n');
        if (ctx->err_line == 0) {
            ctx->err_line = ctx->lineno;
            (void)m2msec_error_setx(&ctx->err, M2MSEC_ERR_INVALID_ARGUMENT,
                                    "%s:%d: line too long (at most %d characters)", ctx->path,
                                    ctx->lineno, num - 3);
        }
        (void)snprintf(str, (size_t)num, ";\n");
    }
    return str;
}

/* Record the first error only; inih keeps parsing and we keep the earliest line. */
static int ctx_fail(struct load_ctx *ctx, const char *fmt, ...) M2MSEC_PRINTF(2, 3);

static int
ctx_fail(struct load_ctx *ctx, const char *fmt, ...)
{
    char msg[M2MSEC_ERROR_MSG_LEN];
    va_list ap;

    if (ctx->err_line == 0) {
        ctx->err_line = ctx->lineno;
        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        (void)m2msec_error_setx(&ctx->err, M2MSEC_ERR_INVALID_ARGUMENT, "%s:%d: %s", ctx->path,
                                ctx->lineno, msg);
    }
    return 0;
}

static int
set_string(struct load_ctx *ctx, const struct key_def *k, const char *value)
{
    char **slot = (char **)((char *)ctx->c + k->offset);
    char *dup = m2msec_strdup(value);

    if (dup == NULL) {
        ctx->nomem = 1;
        return 0;
    }
    m2msec_free(*slot);
    *slot = dup;
    return 1;
}

static int
ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *ctx = user;
    const struct key_def *k = NULL;
    int in_store = 0;
    size_t i = 0;
    uint64_t v = 0;
    char host[M2MSEC_FQDN_MAX + 3];
    char port[8];
    enum srv_log_level lvl = SRV_LOG_INFO;
    struct m2msec_error e;

    if (strcmp(section, "store") == 0) {
        in_store = 1;
    } else if (strcmp(section, ctx->section) != 0) {
        return ctx_fail(ctx, "unknown key '%s' in [%s]", name, section);
    }
    for (i = 0; i < NKEYS; i++) {
        if (keys[i].in_store == in_store && strcmp(keys[i].name, name) == 0) {
            k = &keys[i];
            break;
        }
    }
    if (k == NULL) {
        return ctx_fail(ctx, "unknown key '%s' in [%s]", name, section);
    }
    if (ctx->seen[i]) {
        return ctx_fail(ctx, "duplicate key '%s' in [%s]", name, section);
    }
    ctx->seen[i] = 1;
    if (value[0] == '\0') {
        return ctx_fail(ctx, "empty value for '%s'", name);
    }

    switch (k->kind) {
    case KEY_FQDN:
        if (!m2msec_fqdn_valid(value)) {
            return ctx_fail(ctx, "'%s' is not a valid FQDN", name);
        }
        return set_string(ctx, k, value);
    case KEY_LISTEN:
        m2msec_error_clear(&e);
        if (m2msec_hostport_split(value, host, sizeof(host), port, sizeof(port), &e) != 0 ||
            m2msec_parse_u64(port, strlen(port), 65535, &v) != 0) {
            return ctx_fail(ctx, "'%s' must be ip:port or [ipv6]:port, got '%s'", name, value);
        }
        return set_string(ctx, k, value);
    case KEY_STR:
    case KEY_PATH:
        return set_string(ctx, k, value);
    case KEY_UINT:
    case KEY_U64:
        if (m2msec_parse_u64(value, strlen(value), UINT64_MAX, &v) != 0 || v < k->min ||
            v > k->max) {
            return ctx_fail(ctx, "'%s' must be an integer in %llu..%llu, got '%s'", name,
                            (unsigned long long)k->min, (unsigned long long)k->max, value);
        }
        if (k->kind == KEY_UINT) {
            *(unsigned *)((char *)ctx->c + k->offset) = (unsigned)v;
        } else {
            *(uint64_t *)((char *)ctx->c + k->offset) = v;
        }
        return 1;
    case KEY_LEVEL:
        if (srv_log_level_parse(value, &lvl) != 0) {
            return ctx_fail(ctx, "'%s' must be debug, info, notice, warning or err", name);
        }
        ctx->c->log_level = lvl;
        return 1;
    }
    return ctx_fail(ctx, "unknown key '%s' in [%s]", name, section);
}

/*
 * The certificate keys that only make sense together: cert with key, and the
 * target service with all three. The message names the missing key.
 */
static int
check_cert_keys(const struct srv_config *c, const char *path, const char *section,
                struct m2msec_error *err)
{
    if ((c->cert_path == NULL) != (c->key_path == NULL)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "%s: missing key '%s' in [%s] (required with '%s')", path,
                                 c->cert_path == NULL ? "cert" : "key", section,
                                 c->cert_path == NULL ? "key" : "cert");
    }
    if (c->target_listen == NULL) {
        return 0;
    }
    if (c->cert_path == NULL || c->target_ca_path == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "%s: missing key '%s' in [%s] (required with 'target_listen')",
                                 path, c->cert_path == NULL ? "cert" : "target_ca", section);
    }
    return 0;
}

/* resolve_path for an optional path: NULL stays NULL. */
static int resolve_path(const char *dir, char **p, struct m2msec_error *err);

static int
resolve_opt(const char *dir, char **p, struct m2msec_error *err)
{
    return *p == NULL ? 0 : resolve_path(dir, p, err);
}

/*
 * Resolve *p against dir unless it is absolute. dir is already absolute so the
 * result does not depend on a later chdir.
 */
static int
resolve_path(const char *dir, char **p, struct m2msec_error *err)
{
    char *joined = NULL;
    size_t n = 0;

    if ((*p)[0] == '/') {
        return 0;
    }
    n = strlen(dir) + 1 + strlen(*p) + 1;
    joined = m2msec_malloc(n);
    if (joined == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
    }
    (void)snprintf(joined, n, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, *p);
    m2msec_free(*p);
    *p = joined;
    return 0;
}

/* Absolute directory of path (realpath of its directory part). */
static char *
config_dir(const char *path, struct m2msec_error *err)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    char *abs = NULL;
    char *out = NULL;

    if (slash == NULL) {
        dir = m2msec_strdup(".");
    } else if (slash == path) {
        dir = m2msec_strdup("/");
    } else {
        dir = m2msec_strndup(path, (size_t)(slash - path));
    }
    if (dir == NULL) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    abs = realpath(dir, NULL);
    if (abs == NULL) {
        (void)m2msec_error_set(err, M2MSEC_ERR_IO, "%s: cannot resolve directory", path);
        goto out;
    }
    /* realpath allocates with malloc; hand back memory owned by our allocator. */
    out = m2msec_strdup(abs);
    if (out == NULL) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
    }
out:
    free(abs);
    m2msec_free(dir);
    return out;
}

int
srv_config_load(const char *path, const char *section, struct srv_config *c,
                struct m2msec_error *err)
{
    struct load_ctx ctx;
    struct srv_config tmp;
    char *dir = NULL;
    int r = 0;
    int rv = -1;

    memset(&ctx, 0, sizeof(ctx));
    srv_config_defaults(&tmp);
    if (c == NULL || path == NULL || section == NULL || section[0] == '\0' ||
        strcmp(section, "store") == 0 || strlen(section) > SECTION_MAX) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "srv_config_load: bad arguments");
        goto out;
    }
    if (tmp.listen == NULL || tmp.db_path == NULL || tmp.kek_path == NULL) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    ctx.path = path;
    ctx.section = section;
    ctx.c = &tmp;
    ctx.fp = fopen(path, "r");
    if (ctx.fp == NULL) {
        (void)m2msec_error_set(err, M2MSEC_ERR_IO, "%s: cannot open", path);
        goto out;
    }
    r = ini_parse_stream(ini_reader_counted, &ctx, ini_handler_cb, &ctx);
    if (ctx.nomem || r == -2) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (ferror(ctx.fp)) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_IO, "%s: read error", path);
        goto out;
    }
    /* inih reports the first bad line, be it a syntax error or a handler refusal. */
    if (r > 0 && (ctx.err_line == 0 || r < ctx.err_line)) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                "%s:%d: syntax error (expected [section] or key = value)", path, r);
        goto out;
    }
    if (ctx.err_line != 0) {
        m2msec_error_copy(err, &ctx.err);
        goto out;
    }
    if (r != 0) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_IO, "%s: cannot parse", path);
        goto out;
    }
    if (tmp.fqdn == NULL) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                "%s: missing required key 'fqdn' in [%s]", path, section);
        goto out;
    }
    if (tmp.reg_lifetime_default_s > tmp.reg_lifetime_max_s) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                "%s: registration_lifetime_default_s exceeds "
                                "registration_lifetime_max_s",
                                path);
        goto out;
    }
    if (check_cert_keys(&tmp, path, section, err) != 0) {
        goto out;
    }
    dir = config_dir(path, err);
    if (dir == NULL) {
        goto out;
    }
    if (resolve_path(dir, &tmp.db_path, err) != 0 || resolve_path(dir, &tmp.kek_path, err) != 0 ||
        resolve_opt(dir, &tmp.cert_path, err) != 0 || resolve_opt(dir, &tmp.key_path, err) != 0 ||
        resolve_opt(dir, &tmp.target_ca_path, err) != 0) {
        goto out;
    }
    *c = tmp;
    memset(&tmp, 0, sizeof(tmp));
    rv = 0;
out:
    if (ctx.fp != NULL) {
        (void)fclose(ctx.fp);
    }
    m2msec_free(dir);
    srv_config_clear(&tmp);
    return rv;
}

/* Values written into the file must read back unchanged: no spaces, controls or comments. */
static int
value_writable(const char *v)
{
    const unsigned char *p = (const unsigned char *)v;

    if (*p == '\0') {
        return 0;
    }
    for (; *p != '\0'; p++) {
        if (*p < 0x21 || *p > 0x7e || *p == ';' || *p == '#' || *p == '[' || *p == ']') {
            return 0;
        }
    }
    return 1;
}

static int
section_valid(const char *s)
{
    size_t i = 0;

    if (s == NULL || s[0] == '\0' || strlen(s) > SECTION_MAX || strcmp(s, "store") == 0) {
        return 0;
    }
    for (i = 0; s[i] != '\0'; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) {
            return 0;
        }
    }
    return 1;
}

/* "key = value", or the commented example when value is NULL. */
static void
write_opt(FILE *fp, const char *key, const char *value, const char *example)
{
    if (value != NULL) {
        (void)fprintf(fp, "%s = %s\n", key, value);
    } else {
        (void)fprintf(fp, "# %s = %s\n", key, example);
    }
}

static int
tls_values_ok(const struct srv_config_tls *tls, struct m2msec_error *err)
{
    char host[M2MSEC_FQDN_MAX + 3];
    char port[8];

    if (tls == NULL) {
        return 0;
    }
    if (tls->target_listen != NULL && m2msec_hostport_split(tls->target_listen, host, sizeof(host),
                                                            port, sizeof(port), err) != 0) {
        return -1;
    }
    if ((tls->target_listen != NULL && !value_writable(tls->target_listen)) ||
        (tls->cert != NULL && !value_writable(tls->cert)) ||
        (tls->key != NULL && !value_writable(tls->key)) ||
        (tls->target_ca != NULL && !value_writable(tls->target_ca))) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "target_listen, cert, key and target_ca must be non-empty "
                                 "without spaces, control characters, ';', '#', '[' or ']'");
    }
    return 0;
}

int
srv_config_write(const char *path, const char *section, const char *fqdn, const char *listen,
                 const char *db_file, const char *kek_file, struct m2msec_error *err)
{
    return srv_config_write_tls(path, section, fqdn, listen, db_file, kek_file, NULL, err);
}

int
srv_config_write_tls(const char *path, const char *section, const char *fqdn, const char *listen,
                     const char *db_file, const char *kek_file, const struct srv_config_tls *tls,
                     struct m2msec_error *err)
{
    static const struct srv_config_tls none = { NULL, NULL, NULL, NULL };
    struct srv_config d;
    FILE *fp = NULL;
    int fd = -1;
    int created = 0;
    int rv = -1;
    char host[M2MSEC_FQDN_MAX + 3];
    char port[8];

    srv_config_defaults(&d);
    if (listen == NULL) {
        listen = DEFAULT_LISTEN;
    }
    if (db_file == NULL) {
        db_file = DEFAULT_DB;
    }
    if (kek_file == NULL) {
        kek_file = DEFAULT_KEK;
    }
    if (path == NULL || !section_valid(section)) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                "config section must be lowercase letters, digits, '_' or '-'");
        goto out;
    }
    if (fqdn == NULL || !m2msec_fqdn_valid(fqdn)) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "invalid FQDN");
        goto out;
    }
    if (m2msec_hostport_split(listen, host, sizeof(host), port, sizeof(port), err) != 0) {
        goto out;
    }
    if (!value_writable(listen) || !value_writable(db_file) || !value_writable(kek_file)) {
        (void)m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                "listen, db and kek must be non-empty without spaces, "
                                "control characters, ';', '#', '[' or ']'");
        goto out;
    }
    if (tls_values_ok(tls, err) != 0) {
        goto out;
    }
    if (tls == NULL) {
        tls = &none;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        (void)m2msec_error_set(err, M2MSEC_ERR_IO, "%s: cannot create", path);
        goto out;
    }
    created = 1;
    fp = fdopen(fd, "w");
    if (fp == NULL) {
        (void)m2msec_error_set(err, M2MSEC_ERR_IO, "%s: fdopen", path);
        goto out;
    }
    fd = -1; /* owned by fp now */

    (void)fprintf(fp,
                  "# %s configuration.\n"
                  "# Unknown keys are errors. Relative paths are resolved against the\n"
                  "# directory of this file. Times are in milliseconds (_ms) or seconds (_s).\n"
                  "\n"
                  "[%s]\n"
                  "# Fully qualified domain name of this server (required).\n"
                  "fqdn = %s\n"
                  "# Address to listen on: ip:port or [ipv6]:port.\n"
                  "listen = %s\n"
                  "# Worker threads; each serves one connection at a time (1..256).\n"
                  "workers = %u\n"
                  "# Kernel listen backlog (1..4096).\n"
                  "backlog = %u\n"
                  "# Accepted connections waiting for a worker; beyond it new ones are\n"
                  "# closed at once (1..65536).\n"
                  "max_queue = %u\n"
                  "# Deadlines (100..600000 ms): TLS handshake, each read or write,\n"
                  "# an idle keep-alive connection, and the drain on SIGTERM.\n"
                  "handshake_timeout_ms = %u\n"
                  "io_timeout_ms = %u\n"
                  "idle_timeout_ms = %u\n"
                  "shutdown_timeout_ms = %u\n"
                  "# Housekeeping (expired record sweep) interval in seconds (1..86400).\n"
                  "sweep_interval_s = %u\n"
                  "# Registration lifetimes in seconds (1 s .. 10 years). Every registration\n"
                  "# request carries its expiration time (TS-0003 8.3.5.2.3, 8.8.2.3), so the\n"
                  "# maximum caps it; the default would serve a request without one (none yet).\n"
                  "registration_lifetime_default_s = %llu\n"
                  "registration_lifetime_max_s = %llu\n"
                  "# debug, info, notice, warning or err.\n"
                  "log_level = info\n"
                  "# Enrolment Target service (fetchCredentials, TS-0003 8.3.2.1): mutual\n"
                  "# TLS with certificates on its own address; unset means no target\n"
                  "# service. It needs cert, key and target_ca.\n",
                  section, section, fqdn, listen, d.workers, d.backlog, d.max_queue,
                  d.handshake_timeout_ms, d.io_timeout_ms, d.idle_timeout_ms, d.shutdown_timeout_ms,
                  d.sweep_interval_s, (unsigned long long)d.reg_lifetime_default_s,
                  (unsigned long long)d.reg_lifetime_max_s);
    write_opt(fp, "target_listen", tls->target_listen, "127.0.0.1:8444");
    (void)fprintf(fp, "# This server's FQDN certificate (PEM, chain after it) and its\n"
                      "# ECDSA P-256 key (PEM, mode 0600).\n");
    write_opt(fp, "cert", tls->cert, "mef.pem");
    write_opt(fp, "key", tls->key, "mef.key");
    (void)fprintf(fp, "# Trust anchors (PEM) for the client certificates of Enrolment Targets.\n");
    write_opt(fp, "target_ca", tls->target_ca, "pki/ca.pem");
    (void)fprintf(fp,
                  "\n"
                  "[store]\n"
                  "# SQLite database file.\n"
                  "db = %s\n"
                  "# Key-encryption key: hex, mode 0600.\n"
                  "kek = %s\n",
                  db_file, kek_file);
    if (fflush(fp) != 0 || ferror(fp) || fsync(fileno(fp)) != 0) {
        (void)m2msec_error_set(err, M2MSEC_ERR_IO, "%s: write", path);
        goto out;
    }
    rv = 0;
out:
    if (fp != NULL && fclose(fp) != 0 && rv == 0) {
        rv = m2msec_error_set(err, M2MSEC_ERR_IO, "%s: close", path);
    }
    if (fd >= 0) {
        (void)close(fd);
    }
    if (rv != 0 && created) {
        /* Never leave a half-written configuration behind. */
        (void)unlink(path);
    }
    srv_config_clear(&d);
    return rv;
}

void
srv_live_set(struct srv_live *l, const struct srv_config *c)
{
    atomic_store(&l->handshake_timeout_ms, c->handshake_timeout_ms);
    atomic_store(&l->io_timeout_ms, c->io_timeout_ms);
    atomic_store(&l->reg_lifetime_max_s, (unsigned long long)c->reg_lifetime_max_s);
}

static void
key_list_add(char *list, const char *key)
{
    size_t len = strlen(list);

    /* The longest list of key names fits: SRV_CONFIG_KEYS_MAX is far above it. */
    (void)snprintf(list + len, SRV_CONFIG_KEYS_MAX - len, "%s%s", len > 0 ? "," : "", key);
}

static int
str_differs(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a != b;
    }
    return strcmp(a, b) != 0;
}

/* @spec docs/design-runtime.md "SIGHUP": what a reload applies, and what it leaves to a restart. */
void
srv_config_reload(struct srv_config *run, const struct srv_config *next,
                  char fixed[SRV_CONFIG_KEYS_MAX], char changed[SRV_CONFIG_KEYS_MAX])
{
    size_t i;

    fixed[0] = '\0';
    changed[0] = '\0';
    for (i = 0; i < NKEYS; i++) {
        const struct key_def *k = &keys[i];
        char *to = (char *)run + k->offset;
        const char *from = (const char *)next + k->offset;
        size_t size = 0;

        switch (k->kind) {
        case KEY_UINT:
            size = sizeof(unsigned);
            break;
        case KEY_U64:
            size = sizeof(uint64_t);
            break;
        case KEY_LEVEL:
            size = sizeof(enum srv_log_level);
            break;
        case KEY_STR:
        case KEY_PATH:
        case KEY_FQDN:
        case KEY_LISTEN:
            /* Strings are never reloadable: report a difference only. */
            if (str_differs(*(char *const *)(void *)to, *(const char *const *)(const void *)from)) {
                key_list_add(fixed, k->name);
            }
            continue;
        }
        if (memcmp(to, from, size) == 0) {
            continue;
        }
        if (!k->reloadable) {
            key_list_add(fixed, k->name);
            continue;
        }
        key_list_add(changed, k->name);
        memcpy(to, from, size);
    }
}
