/*
 * srv/log.h - structured logging for the daemons.
 *
 * One line per event: "<ts> <level> <prog>[<pid>] event=<name> key=value ...".
 * The level is checked before formatting. Values are escaped by the logger
 * (they come from the network): anything outside printable ASCII, space, '"',
 * '\\' and '=' makes the value quoted with \" \\ and \xNN escapes. Keys are
 * string literals. Secrets are never passed here: log key identifiers and key
 * check values only. Thread-safe: each line is one write(2).
 */
#ifndef M2MSEC_SRV_LOG_H
#define M2MSEC_SRV_LOG_H

#include <stddef.h>

enum srv_log_level {
    SRV_LOG_DEBUG = 0,
    SRV_LOG_INFO,
    SRV_LOG_NOTICE,
    SRV_LOG_WARNING,
    SRV_LOG_ERR,
};

/* fd: where lines go (default 2). */
void srv_log_init(const char *progname, enum srv_log_level min, int fd);
void srv_log_set_level(enum srv_log_level min);
int srv_log_enabled(enum srv_log_level lvl);
/* "debug", "info", "notice", "warning", "err"/"error". 0 ok, -1 unknown. */
int srv_log_level_parse(const char *s, enum srv_log_level *out);
/* Key/value pairs of const char *, terminated by a NULL key. A NULL value prints "-". */
void srv_log_event(enum srv_log_level lvl, const char *event, ...);
/* Escape one value into out (always NUL-terminated; truncated values end in "..."). */
void srv_log_escape(const char *in, char *out, size_t outsz);

#endif
