/*
 * util/buf.h - bounded growable byte buffer.
 *
 * Layer: util. Every buffer has a maximum; growing past it fails with
 * M2MSEC_ERR_TOO_LARGE (curl dynbuf's "toobig"). Contents are wiped on free
 * and reset because buffers carry HTTP bodies that may hold key material.
 * data is always NUL-terminated (one spare byte) so text can be read in place.
 */
#ifndef M2MSEC_UTIL_BUF_H
#define M2MSEC_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct m2msec_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
};

void m2msec_buf_init(struct m2msec_buf *b, size_t max);
int m2msec_buf_append(struct m2msec_buf *b, const void *p, size_t n, struct m2msec_error *err);
int m2msec_buf_append_str(struct m2msec_buf *b, const char *s, struct m2msec_error *err);
int m2msec_buf_appendf(struct m2msec_buf *b, struct m2msec_error *err, const char *fmt, ...)
        M2MSEC_PRINTF(3, 4);
/* Drop the first n bytes (n <= len). */
void m2msec_buf_consume(struct m2msec_buf *b, size_t n);
/* Length 0, memory kept (and wiped). */
void m2msec_buf_reset(struct m2msec_buf *b);
/* Wipe and free; the buffer can be reused after m2msec_buf_init. */
void m2msec_buf_free(struct m2msec_buf *b);

#endif
