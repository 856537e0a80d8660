/*
 * srv/log.c - structured one-line event log for the daemons.
 *
 * Layer: srv (daemon plumbing, not part of libm2msec). Depends on libc only.
 * Each event becomes one line "<ts> <level> <prog>[<pid>] event=<name> k=v ...",
 * built in a stack buffer no larger than PIPE_BUF and emitted with a single
 * write(2), so lines from concurrent threads never interleave. Values come from
 * the network and are escaped here, never by the callers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* One line, newline included; <= PIPE_BUF so a write to a pipe is atomic. */
#define SRV_LOG_LINE_MAX 4096
/* One escaped value; longer values end in "..." so one field cannot fill the line. */
#define SRV_LOG_VALUE_MAX 1024
#define SRV_LOG_PROG_MAX  32

static atomic_int log_min = SRV_LOG_INFO;
static atomic_int log_fd = 2;
/* Written once by srv_log_init before threads start; read-only afterwards. */
static char log_prog[SRV_LOG_PROG_MAX] = "m2msec";

static const char *const level_names[] = {
    [SRV_LOG_DEBUG] = "debug",     [SRV_LOG_INFO] = "info", [SRV_LOG_NOTICE] = "notice",
    [SRV_LOG_WARNING] = "warning", [SRV_LOG_ERR] = "err",
};

void
srv_log_init(const char *progname, enum srv_log_level min, int fd)
{
    size_t i = 0;

    if (progname != NULL && progname[0] != '\0') {
        /* Keep only characters that need no escaping: the name is not quoted in the line. */
        for (i = 0; progname[i] != '\0' && i + 1 < sizeof(log_prog); i++) {
            unsigned char ch = (unsigned char)progname[i];
            log_prog[i] = (ch > 0x20 && ch < 0x7f && ch != '[' && ch != ']') ? (char)ch : '_';
        }
        log_prog[i] = '\0';
    }
    atomic_store(&log_min, (int)min);
    atomic_store(&log_fd, fd >= 0 ? fd : 2);
}

void
srv_log_set_level(enum srv_log_level min)
{
    atomic_store(&log_min, (int)min);
}

int
srv_log_enabled(enum srv_log_level lvl)
{
    return (int)lvl >= atomic_load(&log_min);
}

int
srv_log_level_parse(const char *s, enum srv_log_level *out)
{
    size_t i = 0;

    if (s == NULL || out == NULL) {
        return -1;
    }
    for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum srv_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "error") == 0) {
        *out = SRV_LOG_ERR;
        return 0;
    }
    return -1;
}

static int
needs_quotes(const char *in)
{
    const unsigned char *p = (const unsigned char *)in;

    if (*p == '\0') {
        return 1;
    }
    for (; *p != '\0'; p++) {
        if (*p < 0x21 || *p > 0x7e || *p == '"' || *p == '\\' || *p == '=') {
            return 1;
        }
    }
    return 0;
}

/* The escaped form of one input byte inside quotes; returns its length (1..4). */
static size_t
escape_byte(unsigned char ch, char piece[5])
{
    static const char hex[] = "0123456789abcdef";

    if (ch == '"' || ch == '\\') {
        piece[0] = '\\';
        piece[1] = (char)ch;
        piece[2] = '\0';
        return 2;
    }
    if (ch < 0x20 || ch > 0x7e) {
        piece[0] = '\\';
        piece[1] = 'x';
        piece[2] = hex[ch >> 4];
        piece[3] = hex[ch & 0x0f];
        piece[4] = '\0';
        return 4;
    }
    piece[0] = (char)ch;
    piece[1] = '\0';
    return 1;
}

void
srv_log_escape(const char *in, char *out, size_t outsz)
{
    const unsigned char *p = NULL;
    int quoted = 0;
    size_t full = 0;
    size_t pos = 0;
    size_t tail = 0;
    size_t limit = 0;
    char piece[5];

    if (out == NULL || outsz == 0) {
        return;
    }
    out[0] = '\0';
    if (in == NULL) {
        (void)snprintf(out, outsz, "-");
        return;
    }
    quoted = needs_quotes(in);
    /* Escaped length, to decide between the whole value and a truncated one. */
    full = quoted ? 2 : 0;
    for (p = (const unsigned char *)in; *p != '\0'; p++) {
        full += quoted ? escape_byte(*p, piece) : 1;
    }
    /* tail: what must follow the copied part (closing quote, and "..." when truncated). */
    tail = quoted ? 1 : 0;
    if (full + 1 > outsz) {
        tail += 3;
    }
    if (quoted) {
        if (outsz < 2) {
            return;
        }
        out[pos++] = '"';
    }
    limit = outsz - 1; /* room for the NUL */
    for (p = (const unsigned char *)in; *p != '\0'; p++) {
        size_t n = quoted ? escape_byte(*p, piece) : 1;
        if (pos + n + tail > limit) {
            break;
        }
        if (quoted) {
            memcpy(out + pos, piece, n);
        } else {
            out[pos] = (char)*p;
        }
        pos += n;
    }
    if (*p != '\0') {
        /* Truncated: as much of "..." (and the closing quote) as the buffer allows. */
        const char *dots = "...";
        for (; *dots != '\0' && pos < limit - (quoted ? 1 : 0); dots++) {
            out[pos++] = *dots;
        }
    }
    if (quoted && pos < limit) {
        out[pos++] = '"';
    }
    out[pos] = '\0';
}

/* Append s to line (bounded by cap); returns 0, or -1 when it did not fit. */
static int
line_append(char *line, size_t *len, size_t cap, const char *s)
{
    size_t n = strlen(s);

    if (*len + n > cap) {
        return -1;
    }
    memcpy(line + *len, s, n);
    *len += n;
    return 0;
}

static void
format_time(char *out, size_t outsz)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL) {
        (void)snprintf(out, outsz, "1970-01-01T00:00:00.000Z");
        return;
    }
    /* strftime bounds the date part (GCC cannot prove snprintf's int fields fit). */
    n = strftime(out, outsz, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0) {
        (void)snprintf(out, outsz, "1970-01-01T00:00:00.000Z");
        return;
    }
    (void)snprintf(out + n, outsz - n, ".%03uZ", (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

void
srv_log_event(enum srv_log_level lvl, const char *event, ...)
{
    char line[SRV_LOG_LINE_MAX];
    char value[SRV_LOG_VALUE_MAX];
    char head[128];
    char stamp[40];
    size_t len = 0;
    /* Keep room for "...\n" so a truncated line still ends cleanly. */
    const size_t cap = sizeof(line) - 4;
    const char *key = NULL;
    int full = 0;
    int fd = 0;
    int saved_errno = errno;
    ssize_t w = 0;
    va_list ap;

    /* Level first: nothing is formatted for a suppressed event. */
    if ((int)lvl < SRV_LOG_DEBUG || (int)lvl > SRV_LOG_ERR || !srv_log_enabled(lvl)) {
        return;
    }
    format_time(stamp, sizeof(stamp));
    (void)snprintf(head, sizeof(head), "%s %s %s[%ld] event=", stamp, level_names[lvl], log_prog,
                   (long)getpid());
    (void)line_append(line, &len, cap, head);
    srv_log_escape(event, value, sizeof(value));
    (void)line_append(line, &len, cap, value);

    va_start(ap, event);
    while (!full && (key = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        srv_log_escape(v, value, sizeof(value));
        if (line_append(line, &len, cap, " ") != 0 || line_append(line, &len, cap, key) != 0 ||
            line_append(line, &len, cap, "=") != 0 || line_append(line, &len, cap, value) != 0) {
            full = 1;
        }
    }
    va_end(ap);

    if (full) {
        /* line_append copies nothing on failure; the line stops at the last whole piece. */
        memcpy(line + len, "...", 3);
        len += 3;
    }
    line[len++] = '\n';

    fd = atomic_load(&log_fd);
    do {
        w = write(fd, line, len);
    } while (w < 0 && errno == EINTR);
    /* Callers may log between a failing call and their use of errno. */
    errno = saved_errno;
}
