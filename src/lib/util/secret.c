/*
 * util/secret.c - the one type that holds key material.
 *
 * Layer: util. Depends on libc, POSIX file I/O and OpenSSL's secure heap,
 * RNG and constant-time helpers (util/secret.c is one of the few files allowed
 * to include OpenSSL headers). The header and the bytes of a secret are one
 * secure-heap allocation, cleansed on free. Error messages may name a file or
 * an offset but never contain key bytes or key text.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/mem.h"
#include "util/secret.h"

struct m2msec_secret {
    size_t len;
    uint8_t data[];
};

/* A key file holds at most 2 * M2MSEC_SECRET_MAX hex digits plus some whitespace. */
#define SECRET_FILE_MAX (2 * M2MSEC_SECRET_MAX + 1024)

/* Smallest secure-heap block; OpenSSL requires a power of two below the heap size. */
#define SECURE_HEAP_MINSIZE 16

int
m2msec_secure_heap_init(size_t size)
{
    int rc;

    if (CRYPTO_secure_malloc_initialized()) {
        return 0;
    }
    /* OpenSSL asserts (aborts) on a bad size, so validate here instead. */
    if (size <= SECURE_HEAP_MINSIZE || (size & (size - 1)) != 0) {
        return -1;
    }
    rc = CRYPTO_secure_malloc_init(size, SECURE_HEAP_MINSIZE);
    /* 2 means the heap works but could not be mlock'd: still better than malloc. */
    return rc == 1 || rc == 2 ? 0 : -1;
}

/* Unchecked allocation of a zeroed secret of len bytes (the file reader needs > MAX). */
static struct m2msec_secret *
secret_alloc(size_t len, struct m2msec_error *err)
{
    struct m2msec_secret *s = NULL;

#ifdef M2MSEC_TESTING
    if (m2msec_test_alloc_tick()) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory allocating a secret");
        return NULL;
    }
#endif
    /* Falls back to plain malloc when the secure heap is not initialised. */
    s = OPENSSL_secure_zalloc(sizeof(*s) + len);
    if (s == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory allocating a secret");
        return NULL;
    }
    s->len = len;
    return s;
}

static int
secret_len_ok(size_t len, struct m2msec_error *err)
{
    if (len == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "empty secret");
    }
    if (len > M2MSEC_SECRET_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "secret of %zu bytes exceeds %d", len,
                                 M2MSEC_SECRET_MAX);
    }
    return 0;
}

struct m2msec_secret *
m2msec_secret_new(size_t len, struct m2msec_error *err)
{
    if (secret_len_ok(len, err) == -1) {
        return NULL;
    }
    return secret_alloc(len, err);
}

struct m2msec_secret *
m2msec_secret_from(const uint8_t *buf, size_t len, struct m2msec_error *err)
{
    struct m2msec_secret *s = NULL;

    if (buf == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "secret: no bytes given");
        return NULL;
    }
    s = m2msec_secret_new(len, err);
    if (s == NULL) {
        return NULL;
    }
    memcpy(s->data, buf, len);
    return s;
}

struct m2msec_secret *
m2msec_secret_random(size_t len, struct m2msec_error *err)
{
    struct m2msec_secret *s = NULL;

    s = m2msec_secret_new(len, err);
    if (s == NULL) {
        return NULL;
    }
    /* len <= M2MSEC_SECRET_MAX, so the int conversion is exact. */
    if (RAND_priv_bytes(s->data, (int)len) != 1) {
        m2msec_error_openssl(err, M2MSEC_ERR_CRYPTO, "RAND_priv_bytes");
        m2msec_secret_free(s);
        return NULL;
    }
    return s;
}

struct m2msec_secret *
m2msec_secret_dup(const struct m2msec_secret *s, struct m2msec_error *err)
{
    if (s == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "secret: nothing to duplicate");
        return NULL;
    }
    return m2msec_secret_from(s->data, s->len, err);
}

static int
hex_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int
is_hex_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct m2msec_secret *
m2msec_secret_from_hex(const char *hex, size_t len, struct m2msec_error *err)
{
    struct m2msec_secret *s = NULL;
    size_t digits = 0;
    size_t i;
    size_t o = 0;
    int hi = -1;
    int v;

    if (hex == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "secret: no hex given");
        return NULL;
    }
    /* First pass validates and counts, so nothing is allocated for bad input. */
    for (i = 0; i < len; i++) {
        if (is_hex_space(hex[i])) {
            continue;
        }
        if (hex_nibble(hex[i]) < 0) {
            /* The offset helps the operator; the character itself could be key text. */
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                              "secret: invalid hex character at offset %zu", i);
            return NULL;
        }
        digits++;
    }
    if (digits % 2 != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "secret: odd number of hex digits");
        return NULL;
    }
    s = m2msec_secret_new(digits / 2, err);
    if (s == NULL) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        if (is_hex_space(hex[i])) {
            continue;
        }
        v = hex_nibble(hex[i]);
        if (hi < 0) {
            hi = v;
        } else {
            s->data[o++] = (uint8_t)((hi << 4) | v);
            hi = -1;
        }
    }
    return s;
}

struct m2msec_secret *
m2msec_secret_load_hex_file(const char *path, struct m2msec_error *err)
{
    struct m2msec_secret *buf = NULL; /* read buffer, on the secure heap */
    struct m2msec_secret *s = NULL;
    struct stat st;
    size_t used = 0;
    ssize_t n;
    int fd = -1;

    if (path == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key file: no path given");
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        m2msec_error_set(err, errno == ENOENT ? M2MSEC_ERR_NOT_FOUND : M2MSEC_ERR_IO, "key file %s",
                         path);
        goto out;
    }
    if (fstat(fd, &st) == -1) {
        m2msec_error_set(err, M2MSEC_ERR_IO, "key file %s", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key file %s: not a regular file",
                          path);
        goto out;
    }
    /* One byte more than allowed so an oversized file is detected, not truncated. */
    buf = secret_alloc(SECRET_FILE_MAX + 1, err);
    if (buf == NULL) {
        goto out;
    }
    while (used < buf->len) {
        n = read(fd, buf->data + used, buf->len - used);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            m2msec_error_set(err, M2MSEC_ERR_IO, "key file %s", path);
            goto out;
        }
        if (n == 0) {
            break;
        }
        used += (size_t)n;
    }
    if (used > SECRET_FILE_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "key file %s: larger than %d bytes", path,
                          SECRET_FILE_MAX);
        goto out;
    }
    s = m2msec_secret_from_hex((const char *)buf->data, used, err);
    if (s == NULL) {
        m2msec_error_wrap(err, "key file %s", path);
        goto out;
    }

out:
    if (fd != -1) {
        (void)close(fd);
    }
    m2msec_secret_free(buf); /* cleanses the file contents */
    return s;
}

void
m2msec_secret_free(struct m2msec_secret *s)
{
    if (s == NULL) {
        return;
    }
    OPENSSL_secure_clear_free(s, sizeof(*s) + s->len);
}

size_t
m2msec_secret_len(const struct m2msec_secret *s)
{
    return s == NULL ? 0 : s->len;
}

const uint8_t *
m2msec_secret_bytes(const struct m2msec_secret *s)
{
    return s == NULL ? NULL : s->data;
}

uint8_t *
m2msec_secret_bytes_mut(struct m2msec_secret *s)
{
    return s == NULL ? NULL : s->data;
}

int
m2msec_secret_equal(const struct m2msec_secret *a, const struct m2msec_secret *b)
{
    if (a == NULL || b == NULL) {
        return 0;
    }
    /* Lengths are public; only the bytes need constant time. */
    if (a->len != b->len) {
        return 0;
    }
    return CRYPTO_memcmp(a->data, b->data, a->len) == 0;
}

void
m2msec_wipe(void *p, size_t n)
{
    if (p == NULL || n == 0) {
        return;
    }
    OPENSSL_cleanse(p, n);
}

int
m2msec_ct_memcmp(const void *a, const void *b, size_t n)
{
    if (n == 0) {
        return 0;
    }
    return CRYPTO_memcmp(a, b, n) == 0 ? 0 : 1;
}
