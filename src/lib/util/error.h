/*
 * util/error.h - the internal error object.
 *
 * Layer: util (bottom). Every failing internal function takes a
 * struct m2msec_error * as its last argument and returns -1 (or NULL). The
 * innermost failure sets the error; callers may only add context with
 * m2msec_error_wrap(). The buffer is fixed so the error path never allocates.
 */
#ifndef M2MSEC_UTIL_ERROR_H
#define M2MSEC_UTIL_ERROR_H

#include <stdarg.h>

#include "m2msec.h"

#define M2MSEC_ERROR_MSG_LEN 256

#if defined(__GNUC__)
#define M2MSEC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define M2MSEC_MUST_CHECK   __attribute__((warn_unused_result))
#else
#define M2MSEC_PRINTF(f, a)
#define M2MSEC_MUST_CHECK
#endif

struct m2msec_error {
    enum m2msec_err code;
    int rsc; /* oneM2M Response Status Code to answer with, 0 when not set */
    char msg[M2MSEC_ERROR_MSG_LEN];
};

void m2msec_error_clear(struct m2msec_error *err);

/* Set code and message, appending ": strerror(errno)". Returns -1. err may be NULL. */
int m2msec_error_set(struct m2msec_error *err, enum m2msec_err code, const char *fmt, ...)
        M2MSEC_PRINTF(3, 4);
/* Set code and message. Returns -1. err may be NULL. */
int m2msec_error_setx(struct m2msec_error *err, enum m2msec_err code, const char *fmt, ...)
        M2MSEC_PRINTF(3, 4);
/* Set code, oneM2M status code and message. Returns -1. */
int m2msec_error_setr(struct m2msec_error *err, enum m2msec_err code, int rsc, const char *fmt, ...)
        M2MSEC_PRINTF(4, 5);
/* Set code and message, appending the first OpenSSL error and draining the queue. Returns -1. */
int m2msec_error_openssl(struct m2msec_error *err, enum m2msec_err code, const char *fmt, ...)
        M2MSEC_PRINTF(3, 4);
/* Prefix the existing message with context: "<context>: <old message>". */
void m2msec_error_wrap(struct m2msec_error *err, const char *fmt, ...) M2MSEC_PRINTF(2, 3);
/* Copy src into dst. */
void m2msec_error_copy(struct m2msec_error *dst, const struct m2msec_error *src);

enum m2msec_err m2msec_error_code(const struct m2msec_error *err);
const char *m2msec_error_msg(const struct m2msec_error *err);

#endif
