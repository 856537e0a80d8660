/*
 * util/error.c - the internal error object and the public error names.
 *
 * Layer: util (bottom). Depends on libc and, for m2msec_error_openssl() only,
 * on OpenSSL's error queue. Nothing here allocates: messages are formatted
 * into the fixed buffer of struct m2msec_error and silently truncated, so the
 * error path works even when memory is exhausted.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "util/error.h"

const char *
m2msec_err_name(enum m2msec_err code)
{
    /* No default: -Wswitch flags a new enum value that has no name yet. */
    switch (code) {
    case M2MSEC_ERR_NONE:
        return "none";
    case M2MSEC_ERR_NOMEM:
        return "nomem";
    case M2MSEC_ERR_INVALID_ARGUMENT:
        return "invalid argument";
    case M2MSEC_ERR_INVALID_STATE:
        return "invalid state";
    case M2MSEC_ERR_IO:
        return "io";
    case M2MSEC_ERR_TLS:
        return "tls";
    case M2MSEC_ERR_PROTOCOL:
        return "protocol";
    case M2MSEC_ERR_AUTH:
        return "auth";
    case M2MSEC_ERR_NOT_FOUND:
        return "not found";
    case M2MSEC_ERR_STORE:
        return "store";
    case M2MSEC_ERR_CRYPTO:
        return "crypto";
    case M2MSEC_ERR_TOO_LARGE:
        return "too large";
    case M2MSEC_ERR_EXPIRED:
        return "expired";
    case M2MSEC_ERR_TIMEOUT:
        return "timeout";
    case M2MSEC_ERR_REFUSED:
        return "refused";
    }
    /* A value outside the enum (e.g. read from an older/newer caller). */
    return "unknown";
}

void
m2msec_error_clear(struct m2msec_error *err)
{
    if (err == NULL) {
        return;
    }
    err->code = M2MSEC_ERR_NONE;
    err->rsc = 0;
    err->msg[0] = '\0';
}

/* Format into err->msg; truncation is accepted (the buffer is fixed by design). */
static void error_vformat(struct m2msec_error *err, enum m2msec_err code, int rsc, const char *fmt,
                          va_list ap) M2MSEC_PRINTF(4, 0);

static void
error_vformat(struct m2msec_error *err, enum m2msec_err code, int rsc, const char *fmt, va_list ap)
{
    err->code = code;
    err->rsc = rsc;
    if (vsnprintf(err->msg, sizeof(err->msg), fmt, ap) < 0) {
        err->msg[0] = '\0';
    }
}

/* Append s to err->msg, truncating at the end of the buffer. */
static void
msg_cat(struct m2msec_error *err, const char *s)
{
    size_t used = strnlen(err->msg, sizeof(err->msg) - 1);
    size_t room = sizeof(err->msg) - 1 - used;
    size_t n = strlen(s);

    if (n > room) {
        n = room;
    }
    memcpy(err->msg + used, s, n);
    err->msg[used + n] = '\0';
}

/* Append ": <suffix>" to err->msg, truncating. */
static void
error_append(struct m2msec_error *err, const char *suffix)
{
    msg_cat(err, ": ");
    msg_cat(err, suffix);
}

int
m2msec_error_set(struct m2msec_error *err, enum m2msec_err code, const char *fmt, ...)
{
    /* Capture errno before anything in here can change it. */
    int saved = errno;
    char ebuf[128];
    va_list ap;

    if (err == NULL) {
        return -1;
    }
    va_start(ap, fmt);
    error_vformat(err, code, 0, fmt, ap);
    va_end(ap);
    /* XSI strerror_r (we build with _POSIX_C_SOURCE, not _GNU_SOURCE): thread-safe. */
    if (strerror_r(saved, ebuf, sizeof(ebuf)) != 0) {
        (void)snprintf(ebuf, sizeof(ebuf), "errno %d", saved);
    }
    error_append(err, ebuf);
    errno = saved;
    return -1;
}

int
m2msec_error_setx(struct m2msec_error *err, enum m2msec_err code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return -1;
    }
    va_start(ap, fmt);
    error_vformat(err, code, 0, fmt, ap);
    va_end(ap);
    return -1;
}

int
m2msec_error_setr(struct m2msec_error *err, enum m2msec_err code, int rsc, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return -1;
    }
    va_start(ap, fmt);
    error_vformat(err, code, rsc, fmt, ap);
    va_end(ap);
    return -1;
}

int
m2msec_error_openssl(struct m2msec_error *err, enum m2msec_err code, const char *fmt, ...)
{
    /* The first error is the root cause; later ones are usually call-stack noise. */
    unsigned long e = ERR_peek_error();
    char ebuf[256];
    va_list ap;

    if (err != NULL) {
        va_start(ap, fmt);
        error_vformat(err, code, 0, fmt, ap);
        va_end(ap);
        if (e != 0) {
            ERR_error_string_n(e, ebuf, sizeof(ebuf));
            error_append(err, ebuf);
        }
    }
    /* Leave the queue empty so a stale error is never blamed on a later call. */
    ERR_clear_error();
    return -1;
}

void
m2msec_error_wrap(struct m2msec_error *err, const char *fmt, ...)
{
    char old[M2MSEC_ERROR_MSG_LEN];
    va_list ap;
    int n;

    if (err == NULL) {
        return;
    }
    memcpy(old, err->msg, sizeof(old));
    old[sizeof(old) - 1] = '\0';
    va_start(ap, fmt);
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        err->msg[0] = '\0';
    }
    if (old[0] != '\0') {
        error_append(err, old);
    }
}

void
m2msec_error_copy(struct m2msec_error *dst, const struct m2msec_error *src)
{
    if (dst == NULL || dst == src) {
        return;
    }
    if (src == NULL) {
        m2msec_error_clear(dst);
        return;
    }
    dst->code = src->code;
    dst->rsc = src->rsc;
    memcpy(dst->msg, src->msg, sizeof(dst->msg));
    dst->msg[sizeof(dst->msg) - 1] = '\0';
}

enum m2msec_err
m2msec_error_code(const struct m2msec_error *err)
{
    if (err == NULL) {
        return M2MSEC_ERR_NONE;
    }
    return err->code;
}

const char *
m2msec_error_msg(const struct m2msec_error *err)
{
    if (err == NULL) {
        return "";
    }
    /* A code set without a message (should not happen) still reads sensibly. */
    if (err->msg[0] == '\0' && err->code != M2MSEC_ERR_NONE) {
        return m2msec_err_name(err->code);
    }
    return err->msg;
}
