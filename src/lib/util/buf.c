/*
 * util/buf.c - bounded growable byte buffer.
 *
 * Layer: util. Depends on util/mem.h and util/secret.h (for wiping). Buffers
 * carry HTTP bodies that may hold key material, so every byte that leaves the
 * buffer's use (reset, consume, free, and the old block when growing) is wiped
 * first; that is also why growth copies instead of calling realloc.
 */
#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/mem.h"
#include "util/secret.h"

/* First allocation; small enough for a header, and doubling reaches 64 KiB in 10 steps. */
#define BUF_MIN_CAP 64

void
m2msec_buf_init(struct m2msec_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

/* Make room for extra more bytes plus the terminating NUL. */
static int
buf_reserve(struct m2msec_buf *b, size_t extra, struct m2msec_error *err)
{
    uint8_t *nd = NULL;
    size_t need;
    size_t ncap;

    if (extra > b->max || b->len > b->max - extra) {
        /* rsc 0: whether this is a 4xxx or 5xxx is the caller's decision. */
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "data exceeds the limit of %zu bytes",
                                 b->max);
    }
    need = b->len + extra + 1; /* wraps only when max == SIZE_MAX */
    if (need == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "data exceeds the limit of %zu bytes",
                                 b->max);
    }
    if (b->data != NULL && need <= b->cap) {
        return 0;
    }
    ncap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (ncap < need && ncap <= SIZE_MAX / 2) {
        ncap *= 2;
    }
    if (ncap < need) {
        ncap = need;
    }
    /* Never hold more than max bytes plus the NUL. */
    if (ncap > b->max + 1 && b->max < SIZE_MAX) {
        ncap = b->max + 1;
    }
    nd = m2msec_malloc(ncap);
    if (nd == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory growing a buffer to %zu",
                                 ncap);
    }
    if (b->data != NULL) {
        memcpy(nd, b->data, b->len);
        m2msec_wipe(b->data, b->cap);
        m2msec_free(b->data);
    }
    nd[b->len] = '\0';
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int
m2msec_buf_append(struct m2msec_buf *b, const void *p, size_t n, struct m2msec_error *err)
{
    if (n > 0 && p == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "buffer: NULL data");
    }
    if (buf_reserve(b, n, err) == -1) {
        return -1;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
m2msec_buf_append_str(struct m2msec_buf *b, const char *s, struct m2msec_error *err)
{
    if (s == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "buffer: NULL string");
    }
    return m2msec_buf_append(b, s, strlen(s), err);
}

int
m2msec_buf_appendf(struct m2msec_buf *b, struct m2msec_error *err, const char *fmt, ...)
{
    va_list ap;
    int n;

    /* Measure first so the limit is checked before anything is written. */
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "buffer: bad format");
    }
    if (buf_reserve(b, (size_t)n, err) == -1) {
        return -1;
    }
    va_start(ap, fmt);
    (void)vsnprintf((char *)b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    b->data[b->len] = '\0';
    return 0;
}

void
m2msec_buf_consume(struct m2msec_buf *b, size_t n)
{
    size_t old = b->len;

    if (b->data == NULL) {
        return;
    }
    /* n > len is a caller bug; treat it as "everything" rather than overrun. */
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    m2msec_wipe(b->data + b->len, old - b->len);
    b->data[b->len] = '\0';
}

void
m2msec_buf_reset(struct m2msec_buf *b)
{
    if (b->data == NULL) {
        return;
    }
    m2msec_wipe(b->data, b->cap);
    b->len = 0;
    b->data[0] = '\0';
}

void
m2msec_buf_free(struct m2msec_buf *b)
{
    if (b == NULL) {
        return;
    }
    if (b->data != NULL) {
        m2msec_wipe(b->data, b->cap);
        m2msec_free(b->data);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
