/*
 * tests/unit/test_srv.c - daemon plumbing: log escaping and line shape, level
 * names, configuration files, path splitting, and an in-process server (TLS PSK
 * on 127.0.0.1, keep-alive, pipelining, common request checks, queue overflow,
 * unknown identities, graceful stop, signals), and the same server in
 * certificate mode (mutual TLS under a development PKI, foreign and missing
 * client certificates refused at the handshake), plus the certificate keys of
 * the configuration.
 */
/* realpath(3) is an XSI interface. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "http/http.h"
#include "log.h"
#include "server.h"
#include "tls/tls.h"
#include "tls/x509.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/secret.h"

static char tmpdir[64];

/* ---- helpers ------------------------------------------------------------------------------- */

static void
write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static void
tmp_path(char *out, size_t outsz, const char *name)
{
    assert_true((size_t)snprintf(out, outsz, "%s/%s", tmpdir, name) < outsz);
}

static void
sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Read everything currently available on a non-blocking fd. */
static size_t
read_avail(int fd, char *buf, size_t bufsz)
{
    size_t n = 0;
    ssize_t r = 0;

    while (n + 1 < bufsz && (r = read(fd, buf + n, bufsz - 1 - n)) > 0) {
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

/* ---- log ----------------------------------------------------------------------------------- */

static void
test_log_escape(void **state)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        { "plain", "plain" },
        { "a-b_c.d/e:f@g", "a-b_c.d/e:f@g" },
        { "~!", "~!" },
        { "a b", "\"a b\"" },
        { "a\"b", "\"a\\\"b\"" },
        { "a\\b", "\"a\\\\b\"" },
        { "a=b", "\"a=b\"" },
        { "a\nb", "\"a\\x0ab\"" },
        { "\t", "\"\\x09\"" },
        { "\x7f", "\"\\x7f\"" },
        { "\xff", "\"\\xff\"" },
        { "", "\"\"" },
        { NULL, "-" },
    };
    char out[64];
    size_t i = 0;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        srv_log_escape(cases[i].in, out, sizeof(out));
        assert_string_equal(out, cases[i].out);
    }
}

static void
test_log_escape_truncation(void **state)
{
    char big[2000];
    char out[16];

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    srv_log_escape(big, out, sizeof(out));
    assert_string_equal(out, "aaaaaaaaaaaa...");

    /* Exactly fits: no truncation marker. */
    srv_log_escape("aaaaaaaaaaaaaaa", out, sizeof(out));
    assert_string_equal(out, "aaaaaaaaaaaaaaa");
    /* One more byte: truncated. */
    srv_log_escape("aaaaaaaaaaaaaaaa", out, sizeof(out));
    assert_string_equal(out, "aaaaaaaaaaaa...");

    /* Quoted values keep their closing quote, and escapes are never cut in half. */
    srv_log_escape("a b c d e f g h i j", out, sizeof(out));
    assert_string_equal(out, "\"a b c d e ...\"");
    srv_log_escape("\x01\x02\x03\x04\x05", out, sizeof(out));
    assert_string_equal(out, "\"\\x01\\x02...\"");
    assert_true(strlen(out) < sizeof(out));
}

static void
test_log_level_parse(void **state)
{
    static const struct {
        const char *s;
        int ok;
        enum srv_log_level lvl;
    } cases[] = {
        { "debug", 1, SRV_LOG_DEBUG },   { "info", 1, SRV_LOG_INFO },
        { "notice", 1, SRV_LOG_NOTICE }, { "warning", 1, SRV_LOG_WARNING },
        { "err", 1, SRV_LOG_ERR },       { "error", 1, SRV_LOG_ERR },
        { "INFO", 1, SRV_LOG_INFO },     { "", 0, SRV_LOG_INFO },
        { "warn", 0, SRV_LOG_INFO },     { "infox", 0, SRV_LOG_INFO },
        { "inf", 0, SRV_LOG_INFO },      { "errors", 0, SRV_LOG_INFO },
    };
    enum srv_log_level lvl = SRV_LOG_DEBUG;
    size_t i = 0;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lvl = SRV_LOG_DEBUG;
        assert_int_equal(srv_log_level_parse(cases[i].s, &lvl), cases[i].ok ? 0 : -1);
        if (cases[i].ok) {
            assert_int_equal(lvl, cases[i].lvl);
        }
    }
    assert_int_equal(srv_log_level_parse(NULL, &lvl), -1);
}

static void
test_log_line(void **state)
{
    int fds[2];
    char buf[16384];
    char expect[128];
    char big[3000];
    const char *rest = NULL;
    size_t n = 0;
    size_t i = 0;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    srv_log_init("mefd", SRV_LOG_INFO, fds[1]);

    srv_log_event(SRV_LOG_NOTICE, "conn_open", "peer", "1.2.3.4:5", "origin", "a b", "ri", NULL,
                  "empty", "", NULL);
    n = read_avail(fds[0], buf, sizeof(buf));
    /* "2026-11-22T21:47:34.123Z " */
    assert_true(n > 25);
    for (i = 0; i < 24; i++) {
        if (i == 4 || i == 7) {
            assert_int_equal(buf[i], '-');
        } else if (i == 10) {
            assert_int_equal(buf[i], 'T');
        } else if (i == 13 || i == 16) {
            assert_int_equal(buf[i], ':');
        } else if (i == 19) {
            assert_int_equal(buf[i], '.');
        } else if (i == 23) {
            assert_int_equal(buf[i], 'Z');
        } else {
            assert_true(buf[i] >= '0' && buf[i] <= '9');
        }
    }
    (void)snprintf(expect, sizeof(expect), " notice mefd[%ld] event=conn_open ", (long)getpid());
    assert_memory_equal(buf + 24, expect, strlen(expect));
    rest = buf + 24 + strlen(expect);
    assert_string_equal(rest, "peer=1.2.3.4:5 origin=\"a b\" ri=- empty=\"\"\n");

    /* Below the level: nothing at all is written. */
    srv_log_event(SRV_LOG_DEBUG, "hidden", "k", "v", NULL);
    assert_int_equal(read_avail(fds[0], buf, sizeof(buf)), 0);
    assert_false(srv_log_enabled(SRV_LOG_DEBUG));
    assert_true(srv_log_enabled(SRV_LOG_ERR));
    srv_log_set_level(SRV_LOG_DEBUG);
    srv_log_event(SRV_LOG_DEBUG, "shown", NULL);
    n = read_avail(fds[0], buf, sizeof(buf));
    assert_non_null(strstr(buf, " debug mefd["));
    assert_non_null(strstr(buf, "event=shown\n"));

    /* Long values are cut, and a line never exceeds one atomic pipe write. */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    srv_log_event(SRV_LOG_ERR, "big", "a", big, "b", big, "c", big, "d", big, "e", big, NULL);
    n = read_avail(fds[0], buf, sizeof(buf));
    assert_true(n <= 4096);
    assert_int_equal(buf[n - 1], '\n');
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
    assert_memory_equal(buf + n - 4, "...\n", 4);
    assert_non_null(strstr(buf, "xxx... b=xxx"));

    srv_log_init("mefd", SRV_LOG_INFO, 2);
    close(fds[0]);
    close(fds[1]);
}

/* ---- config -------------------------------------------------------------------------------- */

static int
load_text(const char *text, struct srv_config *c, struct m2msec_error *err)
{
    char path[128];
    int rv = 0;

    tmp_path(path, sizeof(path), "c.ini");
    write_text(path, text);
    rv = srv_config_load(path, "mefd", c, err);
    unlink(path);
    return rv;
}

static void
test_config_defaults(void **state)
{
    struct srv_config c;

    (void)state;
    srv_config_defaults(&c);
    assert_null(c.fqdn);
    assert_string_equal(c.listen, "127.0.0.1:8443");
    assert_int_equal(c.workers, 8);
    assert_int_equal(c.backlog, 128);
    assert_int_equal(c.max_queue, 256);
    assert_int_equal(c.handshake_timeout_ms, 5000);
    assert_int_equal(c.io_timeout_ms, 10000);
    assert_int_equal(c.idle_timeout_ms, 15000);
    assert_int_equal(c.shutdown_timeout_ms, 10000);
    assert_int_equal(c.sweep_interval_s, 60);
    assert_int_equal(c.reg_lifetime_default_s, 86400);
    assert_int_equal(c.reg_lifetime_max_s, 31536000);
    assert_int_equal(c.log_level, SRV_LOG_INFO);
    assert_string_equal(c.db_path, "mef.db");
    assert_string_equal(c.kek_path, "kek.hex");
    srv_config_clear(&c);
    assert_null(c.listen);
    srv_config_clear(&c); /* twice is harmless */
}

static void
test_config_minimal(void **state)
{
    struct srv_config c;
    struct m2msec_error err;
    char *real = NULL;
    char expect[256];

    (void)state;
    m2msec_error_clear(&err);
    assert_int_equal(load_text("[mefd]\nfqdn = mef.example.com\n", &c, &err), 0);
    assert_string_equal(c.fqdn, "mef.example.com");
    assert_string_equal(c.listen, "127.0.0.1:8443");
    assert_int_equal(c.workers, 8);
    real = realpath(tmpdir, NULL);
    assert_non_null(real);
    (void)snprintf(expect, sizeof(expect), "%s/mef.db", real);
    assert_string_equal(c.db_path, expect);
    (void)snprintf(expect, sizeof(expect), "%s/kek.hex", real);
    assert_string_equal(c.kek_path, expect);
    free(real);
    srv_config_clear(&c);
}

static void
test_config_full(void **state)
{
    static const char text[] = "# comment\n"
                               "; another\n"
                               "[mefd]\n"
                               "fqdn = MEF.Example.com\n"
                               "listen = [::1]:0\n"
                               "workers = 256\n"
                               "backlog = 4096\n"
                               "max_queue = 1\n"
                               "handshake_timeout_ms = 100\n"
                               "io_timeout_ms = 600000\n"
                               "idle_timeout_ms = 2500\n"
                               "shutdown_timeout_ms = 7000\n"
                               "sweep_interval_s = 86400\n"
                               "registration_lifetime_default_s = 1\n"
                               "registration_lifetime_max_s = 315360000\n"
                               "log_level = debug\n"
                               "\n"
                               "[store]\n"
                               "db = sub/dir/x.db ; inline comment\n"
                               "kek = /etc/m2msec/kek.hex\n";
    struct srv_config c;
    struct m2msec_error err;
    char *real = NULL;
    char expect[256];

    (void)state;
    m2msec_error_clear(&err);
    assert_int_equal(load_text(text, &c, &err), 0);
    assert_string_equal(c.fqdn, "MEF.Example.com");
    assert_string_equal(c.listen, "[::1]:0");
    assert_int_equal(c.workers, 256);
    assert_int_equal(c.backlog, 4096);
    assert_int_equal(c.max_queue, 1);
    assert_int_equal(c.handshake_timeout_ms, 100);
    assert_int_equal(c.io_timeout_ms, 600000);
    assert_int_equal(c.idle_timeout_ms, 2500);
    assert_int_equal(c.shutdown_timeout_ms, 7000);
    assert_int_equal(c.sweep_interval_s, 86400);
    assert_int_equal(c.reg_lifetime_default_s, 1);
    assert_int_equal(c.reg_lifetime_max_s, 315360000);
    assert_int_equal(c.log_level, SRV_LOG_DEBUG);
    real = realpath(tmpdir, NULL);
    assert_non_null(real);
    (void)snprintf(expect, sizeof(expect), "%s/sub/dir/x.db", real);
    assert_string_equal(c.db_path, expect);
    assert_string_equal(c.kek_path, "/etc/m2msec/kek.hex");
    free(real);
    srv_config_clear(&c);
}

/* Each line is appended to "[mefd]\nfqdn = a.example\n", so it is line 3. */
static void
test_config_values(void **state)
{
    static const struct {
        const char *line;
        int ok;
        const char *msg; /* substring of the error */
    } cases[] = {
        { "workers = 1", 1, NULL },
        { "workers = 0", 0, "1..256" },
        { "workers = 257", 0, "1..256" },
        { "workers = 8x", 0, "'workers'" },
        { "workers = -1", 0, "'workers'" },
        { "workers = +8", 0, "'workers'" },
        { "workers = 08", 0, "'workers'" },
        { "workers = 99999999999999999999999", 0, "'workers'" },
        { "workers =", 0, "empty value" },
        { "backlog = 1", 1, NULL },
        { "backlog = 4097", 0, "1..4096" },
        { "max_queue = 65536", 1, NULL },
        { "max_queue = 65537", 0, "1..65536" },
        { "handshake_timeout_ms = 99", 0, "100..600000" },
        { "io_timeout_ms = 600001", 0, "100..600000" },
        { "idle_timeout_ms = 100", 1, NULL },
        { "idle_timeout_ms = 0", 0, "100..600000" },
        { "shutdown_timeout_ms = 600000", 1, NULL },
        { "shutdown_timeout_ms = 600001", 0, "100..600000" },
        { "sweep_interval_s = 0", 0, "1..86400" },
        { "sweep_interval_s = 86401", 0, "1..86400" },
        { "registration_lifetime_max_s = 315360001", 0, "1..315360000" },
        { "registration_lifetime_default_s = 0", 0, "1..315360000" },
        { "log_level = notice", 1, NULL },
        { "log_level = loud", 0, "log_level" },
        { "listen = 0.0.0.0:443", 1, NULL },
        { "listen = [::]:8443", 1, NULL },
        { "listen = localhost", 0, "listen" },
        { "listen = 127.0.0.1:", 0, "listen" },
        { "listen = 127.0.0.1:65536", 0, "listen" },
        { "listen = 127.0.0.1:http", 0, "listen" },
        { "fqdn = b.example", 0, "duplicate key 'fqdn'" },
        { "Workers = 2", 0, "unknown key 'Workers' in [mefd]" },
        { "db = x.db", 0, "unknown key 'db' in [mefd]" },
        { "[store]\nworkers = 2", 0, "unknown key 'workers' in [store]" },
        { "[mafd]\nworkers = 2", 0, "unknown key 'workers' in [mafd]" },
        { "[store]\ndb = y.db", 1, NULL },
        { "[store]\ndb =", 0, "empty value for 'db'" },
        { "this line has no equals sign", 0, "syntax error" },
        { "[unclosed", 0, "syntax error" },
    };
    struct srv_config c;
    struct m2msec_error err;
    char text[512];
    size_t i = 0;
    int r = 0;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        (void)snprintf(text, sizeof(text), "[mefd]\nfqdn = a.example\n%s\n", cases[i].line);
        m2msec_error_clear(&err);
        r = load_text(text, &c, &err);
        if (cases[i].ok) {
            if (r != 0) {
                fail_msg("case %zu (%s): %s", i, cases[i].line, err.msg);
            }
            srv_config_clear(&c);
            continue;
        }
        if (r == 0) {
            srv_config_clear(&c);
            fail_msg("case %zu (%s) accepted", i, cases[i].line);
        }
        if (strstr(err.msg, cases[i].msg) == NULL || strstr(err.msg, "c.ini:") == NULL ||
            (strchr(cases[i].line, '\n') == NULL && strstr(err.msg, ":3:") == NULL)) {
            fail_msg("case %zu (%s): unexpected error '%s'", i, cases[i].line, err.msg);
        }
    }
}

static void
test_config_errors(void **state)
{
    struct srv_config c;
    struct m2msec_error err;
    char text[600];
    char path[128];

    (void)state;
    /* Unknown key: the message names file, line, key and section. */
    m2msec_error_clear(&err);
    assert_int_equal(load_text("[mefd]\nfqdn = a.example\n\nbogus = 1\n", &c, &err), -1);
    assert_non_null(strstr(err.msg, "c.ini:4: unknown key 'bogus' in [mefd]"));

    /* The earliest error wins. */
    m2msec_error_clear(&err);
    assert_int_equal(load_text("[mefd]\nworkers = 0\nbogus = 1\n", &c, &err), -1);
    assert_non_null(strstr(err.msg, ":2:"));

    /* Missing and malformed FQDN. */
    m2msec_error_clear(&err);
    assert_int_equal(load_text("[mefd]\nworkers = 2\n", &c, &err), -1);
    assert_non_null(strstr(err.msg, "missing required key 'fqdn'"));
    m2msec_error_clear(&err);
    assert_int_equal(load_text("", &c, &err), -1);
    assert_non_null(strstr(err.msg, "fqdn"));
    m2msec_error_clear(&err);
    assert_int_equal(load_text("[mefd]\nfqdn = -bad.example\n", &c, &err), -1);
    assert_non_null(strstr(err.msg, ":2: 'fqdn' is not a valid FQDN"));
    m2msec_error_clear(&err);
    assert_int_equal(load_text("[mefd]\nfqdn = a..example\n", &c, &err), -1);
    assert_non_null(strstr(err.msg, "FQDN"));
    m2msec_error_clear(&err);
    assert_int_equal(load_text("[mefd]\nfqdn = a_b.example\n", &c, &err), -1);
    assert_non_null(strstr(err.msg, "FQDN"));

    /* Default lifetime above the maximum. */
    m2msec_error_clear(&err);
    assert_int_equal(load_text("[mefd]\nfqdn = a.example\nregistration_lifetime_default_s = 100\n"
                               "registration_lifetime_max_s = 99\n",
                               &c, &err),
                     -1);
    assert_non_null(strstr(err.msg, "exceeds"));

    /* A line longer than the parser's buffer is an error, not two lines. */
    memset(text, 0, sizeof(text));
    (void)snprintf(text, sizeof(text), "[mefd]\nfqdn = a.example\n[store]\ndb = ");
    memset(text + strlen(text), 'd', 400);
    text[strlen(text)] = '\n';
    m2msec_error_clear(&err);
    assert_int_equal(load_text(text, &c, &err), -1);
    assert_non_null(strstr(err.msg, ":4: line too long"));

    /* Section "store" and bad arguments are refused. */
    tmp_path(path, sizeof(path), "none.ini");
    m2msec_error_clear(&err);
    assert_int_equal(srv_config_load(path, "mefd", &c, &err), -1);
    assert_non_null(strstr(err.msg, "none.ini"));
    assert_int_equal(srv_config_load(path, "store", &c, &err), -1);
    assert_int_equal(srv_config_load(path, "", &c, &err), -1);
    assert_int_equal(srv_config_load(NULL, "mefd", &c, &err), -1);
}

static void
test_config_write_roundtrip(void **state)
{
    struct srv_config c;
    struct srv_config d;
    struct m2msec_error err;
    struct stat st;
    char path[128];
    char *real = NULL;
    char expect[256];

    (void)state;
    tmp_path(path, sizeof(path), "mafd.conf");
    m2msec_error_clear(&err);
    assert_int_equal(srv_config_write(path, "mafd", "maf.example.com", "127.0.0.1:9443", "maf.db",
                                      "keys/kek.hex", &err),
                     0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* O_EXCL: never overwrite an existing configuration. */
    assert_int_equal(srv_config_write(path, "mafd", "maf.example.com", NULL, NULL, NULL, &err), -1);

    assert_int_equal(srv_config_load(path, "mafd", &c, &err), 0);
    srv_config_defaults(&d);
    assert_string_equal(c.fqdn, "maf.example.com");
    assert_string_equal(c.listen, "127.0.0.1:9443");
    assert_int_equal(c.workers, d.workers);
    assert_int_equal(c.backlog, d.backlog);
    assert_int_equal(c.max_queue, d.max_queue);
    assert_int_equal(c.handshake_timeout_ms, d.handshake_timeout_ms);
    assert_int_equal(c.io_timeout_ms, d.io_timeout_ms);
    assert_int_equal(c.idle_timeout_ms, d.idle_timeout_ms);
    assert_int_equal(c.shutdown_timeout_ms, d.shutdown_timeout_ms);
    assert_int_equal(c.sweep_interval_s, d.sweep_interval_s);
    assert_int_equal(c.reg_lifetime_default_s, d.reg_lifetime_default_s);
    assert_int_equal(c.reg_lifetime_max_s, d.reg_lifetime_max_s);
    assert_int_equal(c.log_level, d.log_level);
    real = realpath(tmpdir, NULL);
    assert_non_null(real);
    (void)snprintf(expect, sizeof(expect), "%s/maf.db", real);
    assert_string_equal(c.db_path, expect);
    (void)snprintf(expect, sizeof(expect), "%s/keys/kek.hex", real);
    assert_string_equal(c.kek_path, expect);
    free(real);
    srv_config_clear(&c);
    srv_config_clear(&d);

    /* The section is the daemon's: loading it as another daemon fails. */
    assert_int_equal(srv_config_load(path, "mefd", &c, &err), -1);
    assert_non_null(strstr(err.msg, "[mafd]"));
    unlink(path);

    /* Values that would not read back are refused, and no file is left behind. */
    assert_int_equal(srv_config_write(path, "mafd", "bad_fqdn", NULL, NULL, NULL, &err), -1);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(srv_config_write(path, "mafd", "a.example", NULL, "my db", NULL, &err), -1);
    assert_int_equal(srv_config_write(path, "mafd", "a.example", NULL, "x;y", NULL, &err), -1);
    assert_int_equal(srv_config_write(path, "mafd", "a.example", "nope", NULL, NULL, &err), -1);
    assert_int_equal(srv_config_write(path, "Ma fd", "a.example", NULL, NULL, NULL, &err), -1);
    assert_int_equal(srv_config_write(path, "store", "a.example", NULL, NULL, NULL, &err), -1);
    assert_int_equal(access(path, F_OK), -1);

    /* Defaults for listen/db/kek. */
    assert_int_equal(srv_config_write(path, "mefd", "mef.example.com", NULL, NULL, NULL, &err), 0);
    assert_int_equal(srv_config_load(path, "mefd", &c, &err), 0);
    assert_string_equal(c.listen, "127.0.0.1:8443");
    assert_non_null(strstr(c.db_path, "/mef.db"));
    srv_config_clear(&c);
    unlink(path);
}

/* The certificate keys: optional, resolved like db/kek, and complete when the target service is on. */
static void
test_config_cert_keys(void **state)
{
    static const struct {
        const char *lines;
        const char *want; /* NULL: accepted */
    } cases[] = {
        { "", NULL },
        { "cert = a.pem\nkey = a.key\n", NULL },
        { "cert = a.pem\nkey = a.key\ntarget_ca = ca.pem\n", NULL },
        { "target_ca = ca.pem\n", NULL },
        { "target_listen = 127.0.0.1:0\ncert = a.pem\nkey = a.key\ntarget_ca = ca.pem\n", NULL },
        { "target_listen = [::1]:8444\ncert = a.pem\nkey = a.key\ntarget_ca = ca.pem\n", NULL },
        { "cert = a.pem\n", "missing key 'key' in [mefd] (required with 'cert')" },
        { "key = a.key\n", "missing key 'cert' in [mefd] (required with 'key')" },
        { "target_listen = 127.0.0.1:0\n", "missing key 'cert' in [mefd] (required with "
                                           "'target_listen')" },
        { "target_listen = 127.0.0.1:0\ncert = a.pem\nkey = a.key\n",
          "missing key 'target_ca' in [mefd] (required with 'target_listen')" },
        { "target_listen = 127.0.0.1:0\nkey = a.key\ntarget_ca = ca.pem\n",
          "missing key 'cert' in [mefd] (required with 'key')" },
        { "target_listen = localhost\ncert = a.pem\nkey = a.key\ntarget_ca = ca.pem\n",
          ":3: 'target_listen' must be ip:port" },
        { "target_listen = 127.0.0.1:65536\n", ":3: 'target_listen' must be ip:port" },
        { "cert =\nkey = a.key\n", ":3: empty value for 'cert'" },
        { "cert = a.pem\ncert = b.pem\nkey = a.key\n", ":4: duplicate key 'cert'" },
        { "Cert = a.pem\n", ":3: unknown key 'Cert' in [mefd]" },
        { "[store]\ncert = a.pem\n", "unknown key 'cert' in [store]" },
    };
    struct srv_config c;
    struct m2msec_error err;
    char text[512];
    char expect[256];
    char *real = NULL;
    size_t i = 0;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        (void)snprintf(text, sizeof(text), "[mefd]\nfqdn = a.example\n%s", cases[i].lines);
        m2msec_error_clear(&err);
        if (cases[i].want == NULL) {
            if (load_text(text, &c, &err) != 0) {
                fail_msg("case %zu: %s", i, err.msg);
            }
            srv_config_clear(&c);
            continue;
        }
        if (load_text(text, &c, &err) == 0) {
            srv_config_clear(&c);
            fail_msg("case %zu accepted", i);
        }
        if (strstr(err.msg, cases[i].want) == NULL || strstr(err.msg, "c.ini") == NULL) {
            fail_msg("case %zu: unexpected error '%s'", i, err.msg);
        }
    }

    /* Absent: NULL. Present: relative paths resolved against the file's directory. */
    m2msec_error_clear(&err);
    assert_int_equal(load_text("[mefd]\nfqdn = a.example\n", &c, &err), 0);
    assert_null(c.target_listen);
    assert_null(c.cert_path);
    assert_null(c.key_path);
    assert_null(c.target_ca_path);
    srv_config_clear(&c);
    assert_int_equal(load_text("[mefd]\nfqdn = a.example\ntarget_listen = 0.0.0.0:8444\n"
                               "cert = mef.pem\nkey = /etc/m2msec/mef.key\n"
                               "target_ca = pki/ca.pem\n",
                               &c, &err),
                     0);
    real = realpath(tmpdir, NULL);
    assert_non_null(real);
    assert_string_equal(c.target_listen, "0.0.0.0:8444");
    (void)snprintf(expect, sizeof(expect), "%s/mef.pem", real);
    assert_string_equal(c.cert_path, expect);
    assert_string_equal(c.key_path, "/etc/m2msec/mef.key");
    (void)snprintf(expect, sizeof(expect), "%s/pki/ca.pem", real);
    assert_string_equal(c.target_ca_path, expect);
    free(real);
    srv_config_clear(&c);
    assert_null(c.cert_path);
    assert_null(c.target_listen);
}

/* The certificate keys written commented out, or set. */
static void
test_config_write_tls(void **state)
{
    static const struct srv_config_tls all = { "127.0.0.1:0", "mef.pem", "mef.key", "pki/ca.pem" };
    static const struct srv_config_tls listen_only = { "127.0.0.1:8444", NULL, NULL, NULL };
    static const struct srv_config_tls bad_listen = { "localhost", "a", "b", "c" };
    static const struct srv_config_tls bad_value = { NULL, "my cert.pem", "k", NULL };
    static const struct srv_config_tls bad_comment = { NULL, "c.pem", "k;x", NULL };
    struct srv_config c;
    struct m2msec_error err;
    char path[128];
    char text[4096];
    FILE *fp = NULL;
    size_t n = 0;

    (void)state;
    tmp_path(path, sizeof(path), "tls.conf");
    /* Plain srv_config_write: the keys are there, commented out, and load as absent. */
    m2msec_error_clear(&err);
    assert_int_equal(srv_config_write(path, "mefd", "mef.example.com", NULL, NULL, NULL, &err), 0);
    fp = fopen(path, "r");
    assert_non_null(fp);
    n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = '\0';
    fclose(fp);
    assert_non_null(strstr(text, "\n# target_listen = "));
    assert_non_null(strstr(text, "\n# cert = "));
    assert_non_null(strstr(text, "\n# key = "));
    assert_non_null(strstr(text, "\n# target_ca = "));
    assert_int_equal(srv_config_load(path, "mefd", &c, &err), 0);
    assert_null(c.target_listen);
    assert_null(c.cert_path);
    srv_config_clear(&c);
    unlink(path);

    /* All four set: they load back. */
    assert_int_equal(
            srv_config_write_tls(path, "mefd", "mef.example.com", NULL, NULL, NULL, &all, &err), 0);
    assert_int_equal(srv_config_load(path, "mefd", &c, &err), 0);
    assert_string_equal(c.target_listen, "127.0.0.1:0");
    assert_non_null(strstr(c.cert_path, "/mef.pem"));
    assert_non_null(strstr(c.key_path, "/mef.key"));
    assert_non_null(strstr(c.target_ca_path, "/pki/ca.pem"));
    srv_config_clear(&c);
    unlink(path);

    /* Only target_listen: written, and loading then names the missing key. */
    assert_int_equal(srv_config_write_tls(path, "mefd", "mef.example.com", NULL, NULL, NULL,
                                          &listen_only, &err),
                     0);
    assert_int_equal(srv_config_load(path, "mefd", &c, &err), -1);
    assert_non_null(strstr(err.msg, "missing key 'cert'"));
    unlink(path);

    /* Values that would not read back are refused, and nothing is written. */
    assert_int_equal(srv_config_write_tls(path, "mefd", "mef.example.com", NULL, NULL, NULL,
                                          &bad_listen, &err),
                     -1);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(srv_config_write_tls(path, "mefd", "mef.example.com", NULL, NULL, NULL,
                                          &bad_value, &err),
                     -1);
    assert_non_null(strstr(err.msg, "cert"));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(srv_config_write_tls(path, "mefd", "mef.example.com", NULL, NULL, NULL,
                                          &bad_comment, &err),
                     -1);
    assert_int_equal(access(path, F_OK), -1);
}

/* ---- path split ---------------------------------------------------------------------------- */

static void
test_path_split(void **state)
{
    static const struct {
        const char *target;
        int n;
        const char *segs[4];
    } cases[] = {
        { "/mef/reg/abc", 3, { "mef", "reg", "abc" } },
        { "/", 0, { NULL } },
        { "/a", 1, { "a" } },
        { "/%41b%2e", 1, { "Ab." } },
        { "/a%20b/c%3Fd", 2, { "a b", "c?d" } },
        { "/...", 1, { "..." } },
        { "/a/b/c/d", 4, { "a", "b", "c", "d" } },
        { "/a/b/c/d/e", -1, { NULL } },
        { "", -1, { NULL } },
        { "a/b", -1, { NULL } },
        { "//x", -1, { NULL } },
        { "/a//b", -1, { NULL } },
        { "/a/", -1, { NULL } },
        { "/a/../b", -1, { NULL } },
        { "/./a", -1, { NULL } },
        { "/a/..", -1, { NULL } },
        { "/a/%2e%2E", -1, { NULL } },
        { "/a?x=1", -1, { NULL } },
        { "/a#frag", -1, { NULL } },
        { "/a%00b", -1, { NULL } },
        { "/a%2Fb", -1, { NULL } },
        { "/a%2fb", -1, { NULL } },
        { "/a%4", -1, { NULL } },
        { "/a%", -1, { NULL } },
        { "/a%zz", -1, { NULL } },
        { "/a b", -1, { NULL } },
        { "/a\x7f", -1, { NULL } },
        { "/\xc3\xa9", -1, { NULL } },
    };
    char *segs[4];
    char storage[64];
    size_t i = 0;
    int j = 0;
    int n = 0;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = srv_path_split(cases[i].target, segs, 4, storage, sizeof(storage));
        if (n != cases[i].n) {
            fail_msg("case %zu (%s): got %d, want %d", i, cases[i].target, n, cases[i].n);
        }
        for (j = 0; j < n; j++) {
            assert_string_equal(segs[j], cases[i].segs[j]);
        }
    }
    /* Storage bounds: "/abc/def" needs 8 bytes ("abc\0def\0"). */
    assert_int_equal(srv_path_split("/abc/def", segs, 4, storage, 8), 2);
    assert_int_equal(srv_path_split("/abc/def", segs, 4, storage, 7), -1);
    assert_int_equal(srv_path_split("/abc", segs, 0, storage, sizeof(storage)), -1);
    assert_int_equal(srv_path_split(NULL, segs, 4, storage, sizeof(storage)), -1);
}

/* ---- in-process server --------------------------------------------------------------------- */

static const uint8_t psk_bytes[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                       12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                       23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

struct app {
    int dummy;
    int fail_init;
    atomic_int slow_entered;
    atomic_int slow_release;
    atomic_int init_calls;
    atomic_int fini_calls;
    atomic_int wrong_ctx;
    atomic_int ticks;
    atomic_int opens;
    atomic_int closes;
    atomic_int reloads;
    struct srv *srv; /* app_reload stops it at the first reload */
};

/* SIGHUP hook: counts, and stops the server the first time (so srv_run returns). */
static void
app_reload(void *arg)
{
    struct app *a = arg;

    if (atomic_fetch_add(&a->reloads, 1) == 0 && a->srv != NULL) {
        srv_stop(a->srv);
    }
}

static void *
app_worker_init(void *arg, unsigned idx)
{
    struct app *a = arg;

    (void)idx;
    atomic_fetch_add(&a->init_calls, 1);
    return a->fail_init ? NULL : &a->dummy;
}

static void
app_worker_fini(void *arg, void *wctx)
{
    struct app *a = arg;

    if (wctx != &a->dummy) {
        atomic_fetch_add(&a->wrong_ctx, 1);
    }
    atomic_fetch_add(&a->fini_calls, 1);
}

static int
app_psk(void *arg, void *ctx, const char *identity, struct m2msec_secret **key)
{
    struct app *a = arg;

    if (ctx != &a->dummy) {
        atomic_fetch_add(&a->wrong_ctx, 1);
    }
    if (strcmp(identity, "dev1") != 0) {
        return 1;
    }
    *key = m2msec_secret_from(psk_bytes, sizeof(psk_bytes), NULL);
    return *key != NULL ? 0 : -1;
}

static int
app_open(void *arg, struct srv_conn *c)
{
    struct app *a = arg;

    if (c->wctx != &a->dummy) {
        atomic_fetch_add(&a->wrong_ctx, 1);
    }
    atomic_fetch_add(&a->opens, 1);
    return 0;
}

static void
app_close(void *arg, struct srv_conn *c)
{
    struct app *a = arg;

    (void)c;
    atomic_fetch_add(&a->closes, 1);
}

static int
app_handle(void *arg, struct srv_conn *c, const struct m2msec_http_msg *req,
           struct srv_response *resp)
{
    if (resp->rsc != 5000) {
        return srv_response_error(resp, 5000, "rsc not preset");
    }
    if (req->method == M2MSEC_HTTP_GET && strcmp(req->target, "/echo") == 0) {
        resp->rsc = 2000;
        return m2msec_buf_appendf(&resp->body, NULL, "{\"echo\":\"%s\"}",
                                  m2msec_http_header_get(req, M2MSEC_HDR_ORIGIN)) == 0
                       ? 0
                       : -1;
    }
    if (strcmp(req->target, "/slow") == 0) {
        /* Blocks until the test releases it: a request in progress during a stop. */
        struct app *a = arg;
        atomic_store(&a->slow_entered, 1);
        while (!atomic_load(&a->slow_release)) {
            sleep_ms(5);
        }
        resp->rsc = 2000;
        return 0;
    }
    if (req->method == M2MSEC_HTTP_GET && strcmp(req->target, "/whoami") == 0) {
        /* Certificate mode: the verified client certificate's first name. */
        const char *san = m2msec_tls_peer_san(c->tls, 0, NULL);

        resp->rsc = 2000;
        return m2msec_buf_appendf(&resp->body, NULL, "{\"san\":\"%s\"}", san != NULL ? san : "-") ==
                               0
                       ? 0
                       : -1;
    }
    if (strcmp(req->target, "/bye") == 0) {
        c->close_after = 1;
        resp->rsc = 2002;
        return 0;
    }
    return srv_response_error(resp, 4004, "no route for %s", req->target);
}

static void
app_tick(void *arg)
{
    struct app *a = arg;

    atomic_fetch_add(&a->ticks, 1);
}

struct running {
    struct srv *s;
    pthread_t tid;
    int rv;
    struct m2msec_error err;
    char bound[64];
};

static void *
run_main(void *arg)
{
    struct running *r = arg;

    r->rv = srv_run(r->s, &r->err);
    return NULL;
}

struct opts {
    unsigned workers;
    unsigned max_queue;
    unsigned io_timeout_ms;
    unsigned idle_timeout_ms;
    unsigned shutdown_timeout_ms;
    const struct m2msec_tls_cert_opts *cert; /* certificate mode when set */
};

static void
server_start_opts(struct running *r, struct app *a, const struct opts *o)
{
    struct srv_config cfg;
    struct srv_handlers h;
    struct m2msec_error err;

    memset(r, 0, sizeof(*r));
    srv_config_defaults(&cfg);
    m2msec_free(cfg.listen);
    cfg.listen = m2msec_strdup("127.0.0.1:0");
    assert_non_null(cfg.listen);
    cfg.workers = o->workers;
    cfg.max_queue = o->max_queue;
    cfg.handshake_timeout_ms = 5000;
    cfg.io_timeout_ms = o->io_timeout_ms;
    cfg.idle_timeout_ms = o->idle_timeout_ms;
    cfg.shutdown_timeout_ms = o->shutdown_timeout_ms;
    memset(&h, 0, sizeof(h));
    h.arg = a;
    h.worker_init = app_worker_init;
    h.worker_fini = app_worker_fini;
    h.psk_lookup = app_psk;
    h.conn_open = app_open;
    h.conn_close = app_close;
    h.handle = app_handle;
    h.tick = app_tick;
    if (o->cert != NULL) {
        h.cert = o->cert;
        h.psk_lookup = NULL;
    }
    m2msec_error_clear(&err);
    r->s = srv_new(&cfg, &h, &err);
    srv_config_clear(&cfg);
    if (r->s == NULL) {
        fail_msg("srv_new: %s", err.msg);
    }
    if (srv_listen(r->s, r->bound, sizeof(r->bound), &err) != 0) {
        fail_msg("srv_listen: %s", err.msg);
    }
    assert_int_equal(strncmp(r->bound, "127.0.0.1:", 10), 0);
    assert_int_equal(pthread_create(&r->tid, NULL, run_main, r), 0);
}

static void
server_start(struct running *r, struct app *a, unsigned workers, unsigned max_queue)
{
    const struct opts o = { workers, max_queue, 5000, 15000, 5000, NULL };

    server_start_opts(r, a, &o);
}

static int
server_stop(struct running *r)
{
    srv_stop(r->s);
    assert_int_equal(pthread_join(r->tid, NULL), 0);
    return r->rv;
}

static struct m2msec_tls_conn *
client_connect(const char *bound, const char *identity)
{
    struct m2msec_secret *psk = m2msec_secret_from(psk_bytes, sizeof(psk_bytes), NULL);
    struct m2msec_tls_psk_client o;
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_error err;

    assert_non_null(psk);
    memset(&o, 0, sizeof(o));
    o.hostport = bound;
    o.sni = "mef.example.com";
    o.identity = identity;
    o.psk = psk;
    o.timeout_ms = 10000;
    m2msec_error_clear(&err);
    c = m2msec_tls_connect_psk(&o, &err);
    m2msec_secret_free(psk);
    return c;
}

static void
append_get(struct m2msec_buf *out, const char *target, const char *origin, const char *ri)
{
    char n_origin[] = M2MSEC_HDR_ORIGIN;
    char n_ri[] = M2MSEC_HDR_RI;
    char v_origin[256];
    char v_ri[512];
    struct m2msec_http_header hdrs[2];
    struct m2msec_error err;
    size_t n = 0;

    if (origin != NULL) {
        (void)snprintf(v_origin, sizeof(v_origin), "%s", origin);
        hdrs[n].name = n_origin;
        hdrs[n++].value = v_origin;
    }
    if (ri != NULL) {
        (void)snprintf(v_ri, sizeof(v_ri), "%s", ri);
        hdrs[n].name = n_ri;
        hdrs[n++].value = v_ri;
    }
    m2msec_error_clear(&err);
    if (m2msec_http_write_request(out, M2MSEC_HTTP_GET, target, "mef.example.com", hdrs, n, NULL, 0,
                                  &err) != 0) {
        fail_msg("write_request: %s", err.msg);
    }
}

static void
send_buf(struct m2msec_tls_conn *c, struct m2msec_buf *b)
{
    struct m2msec_error err;

    m2msec_error_clear(&err);
    if (m2msec_tls_write_all(c, b->data, b->len, &err) != 0) {
        fail_msg("write: %s", err.msg);
    }
    m2msec_buf_reset(b);
}

/* Next response on c; NULL when the connection ended first. pending keeps extra bytes. */
static struct m2msec_http_msg *
read_response(struct m2msec_tls_conn *c, struct m2msec_http_parser *p, struct m2msec_buf *pending)
{
    uint8_t chunk[4096];
    struct m2msec_error err;
    size_t used = 0;
    ssize_t n = 0;
    int r = 0;

    for (;;) {
        if (pending->len > 0) {
            m2msec_error_clear(&err);
            r = m2msec_http_parser_feed(p, pending->data, pending->len, &used, &err);
            if (r < 0) {
                return NULL;
            }
            m2msec_buf_consume(pending, used);
            if (r == 1) {
                return m2msec_http_parser_take(p);
            }
        }
        m2msec_error_clear(&err);
        n = m2msec_tls_read(c, chunk, sizeof(chunk), &err);
        if (n <= 0) {
            return NULL;
        }
        assert_int_equal(m2msec_buf_append(pending, chunk, (size_t)n, NULL), 0);
    }
}

static void
expect_response(struct m2msec_tls_conn *c, struct m2msec_http_parser *p, struct m2msec_buf *pending,
                int rsc, const char *ri, const char *body_part)
{
    struct m2msec_http_msg *m = read_response(c, p, pending);
    char rsc_s[16];
    const char *v = NULL;

    assert_non_null(m);
    (void)snprintf(rsc_s, sizeof(rsc_s), "%d", rsc);
    v = m2msec_http_header_get(m, M2MSEC_HDR_RSC);
    assert_non_null(v);
    assert_string_equal(v, rsc_s);
    assert_int_equal(m->status, m2msec_http_status_for_rsc(rsc));
    v = m2msec_http_header_get(m, M2MSEC_HDR_RI);
    if (ri != NULL) {
        assert_non_null(v);
        assert_string_equal(v, ri);
    } else {
        assert_null(v);
    }
    v = m2msec_http_header_get(m, M2MSEC_HDR_RVI);
    assert_non_null(v);
    assert_string_equal(v, "3");
    if (body_part != NULL) {
        v = m2msec_http_header_get(m, "Content-Type");
        assert_non_null(v);
        assert_string_equal(v, "application/json");
        assert_non_null(strstr((const char *)m->body.data, body_part));
    } else {
        assert_int_equal(m->body.len, 0);
    }
    m2msec_http_msg_free(m);
}

static int
log_contains(const char *path, const char *needle)
{
    static char text[1 << 20];
    FILE *fp = fopen(path, "r");
    size_t n = 0;

    assert_non_null(fp);
    n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = '\0';
    fclose(fp);
    return strstr(text, needle) != NULL;
}

static int
open_log(char *path, size_t pathsz, const char *name)
{
    int fd = -1;

    tmp_path(path, pathsz, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    assert_true(fd >= 0);
    srv_log_init("test", SRV_LOG_DEBUG, fd);
    return fd;
}

static void
test_server(void **state)
{
    struct app a;
    struct running r;
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_http_parser *p = NULL;
    struct m2msec_buf out;
    struct m2msec_buf pending;
    struct m2msec_error err;
    char logpath[128];
    char ri[200];
    char big[9100];
    uint8_t tmp[64];
    int logfd = -1;
    int fd = -1;

    (void)state;
    memset(&a, 0, sizeof(a));
    logfd = open_log(logpath, sizeof(logpath), "server.log");
    server_start(&r, &a, 2, 16);
    m2msec_buf_init(&out, 1 << 16);
    m2msec_buf_init(&pending, 1 << 17);
    p = m2msec_http_parser_new(0, &err);
    assert_non_null(p);

    c = client_connect(r.bound, "dev1");
    assert_non_null(c);

    /* Two keep-alive requests on one connection. */
    append_get(&out, "/echo", "C-dev1", "ri-1");
    send_buf(c, &out);
    expect_response(c, p, &pending, 2000, "ri-1", "{\"echo\":\"C-dev1\"}");
    append_get(&out, "/echo", "C-dev1", "ri-2");
    send_buf(c, &out);
    expect_response(c, p, &pending, 2000, "ri-2", "{\"echo\":\"C-dev1\"}");

    /* Pipelined: three requests in one write, answered in order. */
    append_get(&out, "/echo", "C-a", "ri-3");
    append_get(&out, "/nowhere", "C-a", "ri-4");
    append_get(&out, "/echo", "C-b", "ri-5");
    send_buf(c, &out);
    expect_response(c, p, &pending, 2000, "ri-3", "\"C-a\"");
    expect_response(c, p, &pending, 4004, "ri-4", "no route for /nowhere");
    expect_response(c, p, &pending, 2000, "ri-5", "\"C-b\"");

    /* Common checks: X-M2M-Origin and X-M2M-RI present and bounded. */
    append_get(&out, "/echo", NULL, "ri-6");
    send_buf(c, &out);
    expect_response(c, p, &pending, 4000, "ri-6", "X-M2M-Origin");
    append_get(&out, "/echo", "C-dev1", NULL);
    send_buf(c, &out);
    expect_response(c, p, &pending, 4000, NULL, "X-M2M-RI");
    memset(ri, 'r', 129);
    ri[129] = '\0';
    append_get(&out, "/echo", "C-dev1", ri);
    send_buf(c, &out);
    expect_response(c, p, &pending, 4000, NULL, "X-M2M-RI");
    ri[128] = '\0';
    append_get(&out, "/echo", "C-dev1", ri);
    send_buf(c, &out);
    expect_response(c, p, &pending, 2000, ri, "C-dev1");

    /* An oversized header block: 4000, then the server closes the connection. */
    memset(big, 0, sizeof(big));
    (void)snprintf(big, sizeof(big),
                   "GET /echo HTTP/1.1\r\nHost: mef\r\nX-M2M-Origin: C1\r\nX-M2M-RI: 7\r\n"
                   "X-Big: ");
    memset(big + strlen(big), 'b', 9000);
    assert_int_equal(m2msec_buf_append_str(&out, big, NULL), 0);
    assert_int_equal(m2msec_buf_append_str(&out, "\r\n\r\n", NULL), 0);
    send_buf(c, &out);
    expect_response(c, p, &pending, 4000, NULL, "m2m:dbg");
    assert_null(read_response(c, p, &pending));
    m2msec_tls_conn_free(c);
    m2msec_http_parser_free(p);
    p = m2msec_http_parser_new(0, &err);
    assert_non_null(p);
    m2msec_buf_reset(&pending);

    /* Unknown identity: the handshake fails, and the server keeps serving. */
    c = client_connect(r.bound, "nobody");
    assert_null(c);
    c = client_connect(r.bound, "dev1");
    assert_non_null(c);
    append_get(&out, "/echo", "C-dev1", "ri-8");
    send_buf(c, &out);
    expect_response(c, p, &pending, 2000, "ri-8", "C-dev1");

    /* close_after set by the handler ends the connection after the answer. */
    append_get(&out, "/bye", "C-dev1", "ri-9");
    send_buf(c, &out);
    expect_response(c, p, &pending, 2002, "ri-9", NULL);
    assert_null(read_response(c, p, &pending));
    m2msec_tls_conn_free(c);
    m2msec_http_parser_free(p);
    p = m2msec_http_parser_new(0, &err);
    assert_non_null(p);
    m2msec_buf_reset(&pending);

    /* An idle keep-alive connection does not hold up the stop. */
    c = client_connect(r.bound, "dev1");
    assert_non_null(c);
    append_get(&out, "/echo", "C-dev1", "ri-10");
    send_buf(c, &out);
    expect_response(c, p, &pending, 2000, "ri-10", "C-dev1");
    assert_int_equal(server_stop(&r), 0);
    m2msec_error_clear(&err);
    assert_true(m2msec_tls_read(c, tmp, sizeof(tmp), &err) <= 0);
    m2msec_tls_conn_free(c);

    /* The listening socket is closed. */
    fd = m2msec_tcp_connect(r.bound, 2000, &err);
    if (fd >= 0) {
        close(fd);
        fail_msg("connect after stop succeeded");
    }

    assert_int_equal(atomic_load(&a.init_calls), 2);
    assert_int_equal(atomic_load(&a.fini_calls), 2);
    assert_int_equal(atomic_load(&a.wrong_ctx), 0);
    assert_true(atomic_load(&a.ticks) >= 1);
    assert_int_equal(atomic_load(&a.opens), atomic_load(&a.closes));
    assert_int_equal(atomic_load(&a.opens), 3);
    srv_free(r.s);

    assert_true(log_contains(logpath, " event=started listen=127.0.0.1:"));
    assert_true(log_contains(logpath, " event=request conn=1 peer=127.0.0.1:"));
    assert_true(log_contains(logpath, "method=GET path=/echo rsc=2000 origin=C-dev1 ri=ri-1 "
                                      "dur_ms="));
    assert_true(log_contains(logpath, "rsc=4000 origin=- ri=ri-6"));
    assert_true(log_contains(logpath, " event=bad_request conn=1 "));
    assert_true(log_contains(logpath, " event=handshake_failed conn=2 peer=127.0.0.1:"));
    assert_true(log_contains(logpath, " event=conn_close conn=4 peer=127.0.0.1:"));
    assert_true(log_contains(logpath, "reason=shutdown"));
    assert_true(log_contains(logpath, " event=stopped"));
    assert_false(log_contains(logpath, "shutdown_timeout"));

    m2msec_http_parser_free(p);
    m2msec_buf_free(&out);
    m2msec_buf_free(&pending);
    srv_log_init("test", SRV_LOG_INFO, 2);
    close(logfd);
    unlink(logpath);
}

/* One worker busy on an idle connection, a queue of one: the third connection is refused. */
static void
test_server_queue_full(void **state)
{
    struct app a;
    struct running r;
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_error err;
    struct pollfd pfd;
    char logpath[128];
    char b = 0;
    int logfd = -1;
    int fd2 = -1;
    int fd3 = -1;

    (void)state;
    memset(&a, 0, sizeof(a));
    logfd = open_log(logpath, sizeof(logpath), "queue.log");
    server_start(&r, &a, 1, 1);
    c = client_connect(r.bound, "dev1");
    assert_non_null(c);
    m2msec_error_clear(&err);
    fd2 = m2msec_tcp_connect(r.bound, 5000, &err);
    assert_true(fd2 >= 0);
    fd3 = m2msec_tcp_connect(r.bound, 5000, &err);
    assert_true(fd3 >= 0);
    /* The server closes fd3 without a word: EOF (or a reset) once the listener gets to it. */
    pfd.fd = fd3;
    pfd.events = POLLIN;
    pfd.revents = 0;
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    assert_true(read(fd3, &b, 1) <= 0);
    close(fd3);
    close(fd2);
    m2msec_tls_conn_free(c);
    assert_int_equal(server_stop(&r), 0);
    srv_free(r.s);
    assert_true(log_contains(logpath, " event=conn_rejected conn=3 peer=127.0.0.1:"));
    assert_true(log_contains(logpath, "reason=queue_full"));
    srv_log_init("test", SRV_LOG_INFO, 2);
    close(logfd);
    unlink(logpath);
}

/* Idle keep-alive connections and requests trickling in are both cut off. */
static void
test_server_deadlines(void **state)
{
    const struct opts o = { 1, 4, 400, 300, 5000, NULL };
    static const char req[] = "GET /echo HTTP/1.1\r\nHost: mef\r\nX-M2M-Origin: C1\r\n";
    struct app a;
    struct running r;
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_error err;
    char logpath[128];
    uint8_t tmp[64];
    size_t i = 0;
    int closed = 0;
    int logfd = -1;

    (void)state;
    memset(&a, 0, sizeof(a));
    logfd = open_log(logpath, sizeof(logpath), "deadlines.log");
    server_start_opts(&r, &a, &o);

    c = client_connect(r.bound, "dev1");
    assert_non_null(c);
    m2msec_error_clear(&err);
    assert_true(m2msec_tls_read(c, tmp, sizeof(tmp), &err) <= 0);
    m2msec_tls_conn_free(c);

    /* One byte every 100 ms: each read meets its deadline, the request as a whole does not. */
    c = client_connect(r.bound, "dev1");
    assert_non_null(c);
    for (i = 0; i < sizeof(req) - 1 && !closed; i++) {
        m2msec_error_clear(&err);
        if (m2msec_tls_write_all(c, req + i, 1, &err) != 0) {
            closed = 1;
            break;
        }
        if (m2msec_tls_wait_readable(c, 100, &err) != 0) {
            closed = m2msec_tls_read(c, tmp, sizeof(tmp), &err) <= 0;
            assert_true(closed);
        }
    }
    assert_true(closed);
    m2msec_tls_conn_free(c);

    assert_int_equal(server_stop(&r), 0);
    srv_free(r.s);
    assert_true(log_contains(logpath, "event=conn_close conn=1 peer=127.0.0.1:"));
    assert_true(log_contains(logpath, "reason=idle requests=0"));
    assert_true(log_contains(logpath, "reason=request_timeout requests=0"));
    srv_log_init("test", SRV_LOG_INFO, 2);
    close(logfd);
    unlink(logpath);
}

/* A handler still busy when the drain deadline passes: srv_run gives up, srv_free waits. */
static void
test_server_shutdown_timeout(void **state)
{
    const struct opts o = { 1, 4, 5000, 15000, 100, NULL };
    struct app a;
    struct running r;
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_http_parser *p = NULL;
    struct m2msec_buf out;
    struct m2msec_buf pending;
    struct m2msec_error err;
    char logpath[128];
    int i = 0;
    int logfd = -1;

    (void)state;
    memset(&a, 0, sizeof(a));
    logfd = open_log(logpath, sizeof(logpath), "shutdown.log");
    server_start_opts(&r, &a, &o);
    m2msec_buf_init(&out, 1 << 16);
    m2msec_buf_init(&pending, 1 << 17);
    p = m2msec_http_parser_new(0, &err);
    assert_non_null(p);

    c = client_connect(r.bound, "dev1");
    assert_non_null(c);
    append_get(&out, "/slow", "C-dev1", "ri-s");
    send_buf(c, &out);
    for (i = 0; i < 2000 && !atomic_load(&a.slow_entered); i++) {
        sleep_ms(5);
    }
    assert_true(atomic_load(&a.slow_entered));

    srv_stop(r.s);
    assert_int_equal(pthread_join(r.tid, NULL), 0);
    assert_int_equal(r.rv, -1);
    assert_int_equal(r.err.code, M2MSEC_ERR_TIMEOUT);
    assert_int_equal(atomic_load(&a.fini_calls), 0);
    assert_true(log_contains(logpath, "event=shutdown_timeout busy_threads=1"));

    /* The request in progress still gets its answer, then the connection closes. */
    atomic_store(&a.slow_release, 1);
    expect_response(c, p, &pending, 2000, "ri-s", NULL);
    assert_null(read_response(c, p, &pending));
    srv_free(r.s);
    assert_int_equal(atomic_load(&a.fini_calls), 1);

    m2msec_tls_conn_free(c);
    m2msec_http_parser_free(p);
    m2msec_buf_free(&out);
    m2msec_buf_free(&pending);
    srv_log_init("test", SRV_LOG_INFO, 2);
    close(logfd);
    unlink(logpath);
}

static void
test_server_init_fails(void **state)
{
    struct app a;
    struct running r;
    char logpath[128];
    int logfd = -1;

    (void)state;
    memset(&a, 0, sizeof(a));
    a.fail_init = 1;
    logfd = open_log(logpath, sizeof(logpath), "init.log");
    server_start(&r, &a, 3, 4);
    /* srv_run gives up by itself once every worker_init failed. */
    assert_int_equal(pthread_join(r.tid, NULL), 0);
    assert_int_equal(r.rv, -1);
    assert_non_null(strstr(r.err.msg, "worker"));
    assert_int_equal(atomic_load(&a.init_calls), 3);
    assert_int_equal(atomic_load(&a.fini_calls), 0);
    srv_free(r.s);
    assert_true(log_contains(logpath, "event=worker_init_failed worker=0"));
    srv_log_init("test", SRV_LOG_INFO, 2);
    close(logfd);
    unlink(logpath);
}

static void
test_server_signals(void **state)
{
    struct app a;
    struct srv_config cfg;
    struct srv_handlers h;
    struct srv *s = NULL;
    struct m2msec_error err;
    struct sigaction dfl;
    char bound[64];

    (void)state;
    memset(&a, 0, sizeof(a));
    srv_log_init("test", SRV_LOG_WARNING, 2);
    srv_config_defaults(&cfg);
    m2msec_free(cfg.listen);
    cfg.listen = m2msec_strdup("127.0.0.1:0");
    cfg.workers = 1;
    memset(&h, 0, sizeof(h));
    h.arg = &a;
    h.worker_init = app_worker_init;
    h.worker_fini = app_worker_fini;
    h.psk_lookup = app_psk;
    h.handle = app_handle;
    h.reload = app_reload;
    s = srv_new(&cfg, &h, &err);
    assert_non_null(s);
    assert_int_equal(srv_run(s, &err), -1); /* not listening yet */
    assert_int_equal(srv_listen(s, bound, sizeof(bound), &err), 0);
    assert_int_equal(srv_listen(s, bound, sizeof(bound), &err), -1);
    assert_int_equal(srv_install_signals(s, &err), 0);

    assert_int_equal(raise(SIGPIPE), 0); /* ignored */
    /* SIGHUP then SIGTERM before srv_run: srv_run starts, sees the stop, and returns
     * 0; the stop wins over the pending reload. */
    assert_int_equal(raise(SIGHUP), 0);
    assert_int_equal(raise(SIGTERM), 0);
    assert_int_equal(srv_run(s, &err), 0);
    assert_int_equal(atomic_load(&a.fini_calls), 1);
    assert_int_equal(atomic_load(&a.reloads), 0);
    assert_int_equal(srv_run(s, &err), -1); /* once only */
    srv_free(s);

    /* SIGHUP while srv_run waits: the hook runs on srv_run's thread (here it stops
     * the server, so srv_run returns); the limits of srv_set_limits are accepted. */
    memset(&a, 0, sizeof(a));
    s = srv_new(&cfg, &h, &err);
    assert_non_null(s);
    a.srv = s;
    assert_int_equal(srv_listen(s, bound, sizeof(bound), &err), 0);
    assert_int_equal(srv_install_signals(s, &err), 0);
    cfg.idle_timeout_ms = 1234;
    srv_set_limits(s, &cfg);
    srv_set_limits(NULL, &cfg); /* no server: nothing happens */
    assert_int_equal(raise(SIGHUP), 0);
    assert_int_equal(srv_run(s, &err), 0);
    assert_int_equal(atomic_load(&a.reloads), 1);
    srv_free(s);
    srv_config_clear(&cfg);

    /* After srv_free the handler has no server: a stray SIGHUP is harmless. */
    assert_int_equal(raise(SIGHUP), 0);
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGHUP, &dfl, NULL);
    sigaction(SIGPIPE, &dfl, NULL);
}

/* ---- certificate mode --------------------------------------------------------------------- */

/* tmpdir/pki/<name>, in one of a ring of buffers (several paths live at once). */
static const char *
pki_path(const char *name)
{
    static char ring[16][128];
    static unsigned next;
    char *b = ring[next++ % 16];

    assert_true((size_t)snprintf(b, sizeof(ring[0]), "%s/pki/%s", tmpdir, name) < sizeof(ring[0]));
    return b;
}

static const char *const pki_files[] = {
    "ca.pem",  "ca.key",  "srv.pem", "srv.key",     "cli.pem",
    "cli.key", "oca.pem", "oca.key", "foreign.pem", "foreign.key",
};

/* A development PKI (the library's own functions): our CA, another CA, and their certificates. */
static void
pki_make(void)
{
    struct m2msec_error err;
    char dir[128];

    tmp_path(dir, sizeof(dir), "pki");
    assert_int_equal(mkdir(dir, 0700), 0);
    m2msec_error_clear(&err);
    if (m2msec_pki_ca_create(pki_path("ca.pem"), pki_path("ca.key"), "test CA", 2, &err) != 0 ||
        m2msec_pki_issue_fqdn(pki_path("ca.pem"), pki_path("ca.key"), "mef.example.com",
                              pki_path("srv.pem"), pki_path("srv.key"), 2, 1, &err) != 0 ||
        m2msec_pki_issue_fqdn(pki_path("ca.pem"), pki_path("ca.key"), "maf.example.com",
                              pki_path("cli.pem"), pki_path("cli.key"), 2, 1, &err) != 0 ||
        m2msec_pki_ca_create(pki_path("oca.pem"), pki_path("oca.key"), "other CA", 2, &err) != 0 ||
        m2msec_pki_issue_fqdn(pki_path("oca.pem"), pki_path("oca.key"), "maf.example.com",
                              pki_path("foreign.pem"), pki_path("foreign.key"), 2, 1, &err) != 0) {
        fail_msg("pki: %s", err.msg);
    }
}

static void
pki_remove(void)
{
    char dir[128];
    size_t i = 0;

    for (i = 0; i < sizeof(pki_files) / sizeof(pki_files[0]); i++) {
        (void)unlink(pki_path(pki_files[i]));
    }
    tmp_path(dir, sizeof(dir), "pki");
    assert_int_equal(rmdir(dir), 0);
}

/* A mutual-TLS client; NULL when the handshake fails. */
static struct m2msec_tls_conn *
cert_connect(const char *bound, const char *cert, const char *key, struct m2msec_error *err)
{
    const char *anchors[1] = { pki_path("ca.pem") };
    struct m2msec_tls_cert_client o;

    memset(&o, 0, sizeof(o));
    o.hostport = bound;
    o.sni = "mef.example.com";
    o.cert_file = cert;
    o.key_file = key;
    o.server.flavour = M2MSEC_CERT_FQDN;
    o.server.id = "mef.example.com";
    o.server.ca_files = anchors;
    o.server.n_ca_files = 1;
    o.timeout_ms = 10000;
    m2msec_error_clear(err);
    return m2msec_tls_connect_cert(&o, err);
}

/*
 * A refused client: the server verifies the client certificate inside the
 * handshake (before its Finished), so the client's handshake fails with the
 * server's alert (tls/x509.h: M2MSEC_ERR_AUTH).
 */
static void
expect_refused(const char *bound, const char *cert, const char *key)
{
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_error err;

    c = cert_connect(bound, cert, key, &err);
    if (c != NULL) {
        m2msec_tls_conn_free(c);
        fail_msg("handshake with %s accepted", cert != NULL ? cert : "no client certificate");
    }
    if (err.code != M2MSEC_ERR_AUTH) {
        fail_msg("refused with code %d: %s", (int)err.code, err.msg);
    }
}

static void
test_server_cert(void **state)
{
    const char *anchors[1];
    struct m2msec_tls_cert_opts co;
    struct opts o = { 2, 8, 5000, 15000, 5000, NULL };
    struct app a;
    struct running r;
    struct m2msec_tls_conn *c = NULL;
    struct m2msec_http_parser *p = NULL;
    struct m2msec_buf out;
    struct m2msec_buf pending;
    struct m2msec_error err;
    char logpath[128];
    int logfd = -1;

    (void)state;
    pki_make();
    anchors[0] = pki_path("ca.pem");
    memset(&co, 0, sizeof(co));
    co.cert_file = pki_path("srv.pem");
    co.key_file = pki_path("srv.key");
    co.require_client_cert = 1;
    co.client.flavour = M2MSEC_CERT_ANY;
    co.client.ca_files = anchors;
    co.client.n_ca_files = 1;
    o.cert = &co;
    memset(&a, 0, sizeof(a));
    logfd = open_log(logpath, sizeof(logpath), "cert.log");
    server_start_opts(&r, &a, &o);

    /* Mutual TLS: request and response, keep-alive, the client's name visible to the app. */
    c = cert_connect(r.bound, pki_path("cli.pem"), pki_path("cli.key"), &err);
    if (c == NULL) {
        fail_msg("connect: %s", err.msg);
    }
    assert_null(m2msec_tls_psk_identity(c));
    m2msec_buf_init(&out, 1 << 16);
    m2msec_buf_init(&pending, 1 << 16);
    p = m2msec_http_parser_new(0, &err);
    assert_non_null(p);
    append_get(&out, "/whoami", "maf.example.com", "r1");
    send_buf(c, &out);
    expect_response(c, p, &pending, 2000, "r1", "{\"san\":\"maf.example.com\"}");
    append_get(&out, "/echo", "maf.example.com", "r2");
    send_buf(c, &out);
    expect_response(c, p, &pending, 2000, "r2", "\"echo\":\"maf.example.com\"");
    /*
     * A certificate reload: files that do not load change nothing; then new
     * connections trust only the other CA, while this open connection keeps the
     * credentials it started with (its reference keeps the old server alive).
     */
    {
        /* pki_path hands out a ring of buffers: keep co's own paths out of its reach. */
        char cert_keep[256], key_keep[256], ca_keep[256], oca[256];
        const char *oanchors[1] = { oca };
        struct m2msec_tls_cert_opts co2;
        struct m2msec_tls_conn *c2 = NULL;

        snprintf(cert_keep, sizeof(cert_keep), "%s", co.cert_file);
        snprintf(key_keep, sizeof(key_keep), "%s", co.key_file);
        snprintf(ca_keep, sizeof(ca_keep), "%s", anchors[0]);
        snprintf(oca, sizeof(oca), "%s", pki_path("oca.pem"));
        co.cert_file = cert_keep;
        co.key_file = key_keep;
        anchors[0] = ca_keep;
        co2 = co;

        co2.client.ca_files = oanchors;
        co2.key_file = pki_path("missing.key");
        assert_int_equal(srv_reload_cert(r.s, &co2, &err), -1);
        c2 = cert_connect(r.bound, pki_path("cli.pem"), pki_path("cli.key"), &err);
        assert_non_null(c2);
        (void)m2msec_tls_close(c2);
        m2msec_tls_conn_free(c2);
        co2.key_file = key_keep;
        assert_int_equal(srv_reload_cert(r.s, &co2, &err), 0);
        expect_refused(r.bound, pki_path("cli.pem"), pki_path("cli.key"));
        c2 = cert_connect(r.bound, pki_path("foreign.pem"), pki_path("foreign.key"), &err);
        assert_non_null(c2);
        (void)m2msec_tls_close(c2);
        m2msec_tls_conn_free(c2);
        assert_int_equal(srv_reload_cert(NULL, &co2, &err), -1);
        /* Back to the first anchors for the checks below. */
        assert_int_equal(srv_reload_cert(r.s, &co, &err), 0);
        co.cert_file = pki_path("srv.pem");
        co.key_file = pki_path("srv.key");
        anchors[0] = pki_path("ca.pem");
    }
    /* The common checks apply as in PSK mode, on the connection opened before the reloads. */
    append_get(&out, "/echo", NULL, "r3");
    send_buf(c, &out);
    expect_response(c, p, &pending, 4000, "r3", "X-M2M-Origin");
    m2msec_http_parser_free(p);
    m2msec_buf_free(&out);
    m2msec_buf_free(&pending);
    (void)m2msec_tls_close(c);
    m2msec_tls_conn_free(c);

    /* Refused at the handshake: another CA's client, no client certificate. */
    expect_refused(r.bound, pki_path("foreign.pem"), pki_path("foreign.key"));
    expect_refused(r.bound, NULL, NULL);
    /* A PSK client gets nowhere with a certificate server. */
    c = client_connect(r.bound, "dev1");
    assert_null(c);

    assert_int_equal(server_stop(&r), 0);
    srv_free(r.s);
    assert_int_equal(atomic_load(&a.wrong_ctx), 0);
    assert_int_equal(atomic_load(&a.opens), 3);
    assert_int_equal(atomic_load(&a.closes), 3);
    assert_true(log_contains(logpath, "event=conn_open"));
    assert_true(log_contains(logpath, "identity=maf.example.com"));
    assert_true(log_contains(logpath, "event=handshake_failed"));
    close(logfd);
    unlink(logpath);

    /* srv_new fails cleanly on unusable certificate options. */
    {
        struct srv_config cfg;
        struct srv_handlers h;

        srv_config_defaults(&cfg);
        memset(&h, 0, sizeof(h));
        h.handle = app_handle;
        h.cert = &co;
        co.key_file = pki_path("missing.key");
        m2msec_error_clear(&err);
        assert_null(srv_new(&cfg, &h, &err));
        assert_true(err.code == M2MSEC_ERR_IO || err.code == M2MSEC_ERR_INVALID_ARGUMENT);
        co.key_file = pki_path("srv.key");
        co.client.flavour = M2MSEC_CERT_UNSET;
        assert_null(srv_new(&cfg, &h, &err));
        co.client.flavour = M2MSEC_CERT_ANY;
        /* Neither PSK nor certificates: refused. */
        h.cert = NULL;
        assert_null(srv_new(&cfg, &h, &err));
        assert_non_null(strstr(err.msg, "psk_lookup"));
        srv_config_clear(&cfg);
    }
    pki_remove();
}

static void
test_srv_new_rejects(void **state)
{
    struct app a;
    struct srv_config cfg;
    struct srv_handlers h;
    struct m2msec_error err;

    (void)state;
    memset(&a, 0, sizeof(a));
    srv_config_defaults(&cfg);
    memset(&h, 0, sizeof(h));
    h.arg = &a;
    h.psk_lookup = app_psk;
    assert_null(srv_new(&cfg, &h, &err)); /* no handle */
    h.handle = app_handle;
    h.psk_lookup = NULL;
    assert_null(srv_new(&cfg, &h, &err)); /* no PSK lookup */
    h.psk_lookup = app_psk;
    cfg.workers = 0;
    assert_null(srv_new(&cfg, &h, &err));
    cfg.workers = 1;
    cfg.max_queue = 0;
    assert_null(srv_new(&cfg, &h, &err));
    srv_config_clear(&cfg);
    srv_free(NULL);
    srv_stop(NULL);
}

static void
test_response_error(void **state)
{
    struct srv_response resp;

    (void)state;
    memset(&resp, 0, sizeof(resp));
    m2msec_buf_init(&resp.body, 4096);
    assert_int_equal(srv_response_error(&resp, 4000, "bad \"%s\" \\ \x01", "x"), 0);
    assert_int_equal(resp.rsc, 4000);
    assert_string_equal((const char *)resp.body.data, "{\"m2m:dbg\":\"bad \\\"x\\\" \\\\ ?\"}");
    /* A second call replaces the body. */
    assert_int_equal(srv_response_error(&resp, 4004, "gone"), 0);
    assert_int_equal(resp.rsc, 4004);
    assert_string_equal((const char *)resp.body.data, "{\"m2m:dbg\":\"gone\"}");
    m2msec_buf_free(&resp.body);
}

static int
group_setup(void **state)
{
    (void)state;
    (void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_srv.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_escape),
        cmocka_unit_test(test_log_escape_truncation),
        cmocka_unit_test(test_log_level_parse),
        cmocka_unit_test(test_log_line),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_minimal),
        cmocka_unit_test(test_config_full),
        cmocka_unit_test(test_config_values),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_write_roundtrip),
        cmocka_unit_test(test_config_cert_keys),
        cmocka_unit_test(test_config_write_tls),
        cmocka_unit_test(test_path_split),
        cmocka_unit_test(test_response_error),
        cmocka_unit_test(test_srv_new_rejects),
        cmocka_unit_test(test_server),
        cmocka_unit_test(test_server_queue_full),
        cmocka_unit_test(test_server_deadlines),
        cmocka_unit_test(test_server_shutdown_timeout),
        cmocka_unit_test(test_server_init_fails),
        cmocka_unit_test(test_server_signals),
        cmocka_unit_test(test_server_cert),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
