/*
 * tests/unit/test_util.c - unit tests for src/lib/util.
 *
 * Covers the error object, allocation fault injection, secrets (including
 * hex key files), bounded buffers, hex/base64/number/string helpers, oneM2M
 * timestamps and NFKC. Every accepted input has at least one rejected
 * neighbour next to it in the tables.
 */
/* cmocka needs these four first; the blank line keeps clang-format from reordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "util/buf.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/time.h"
#include "util/unicode.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Temporary directory for key files, created by the group setup. */
static char tmpdir[64];

static void
assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        print_error("\"%s\" does not contain \"%s\"\n", hay, needle);
        fail();
    }
}

static void
assert_not_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) != NULL) {
        print_error("\"%s\" unexpectedly contains \"%s\"\n", hay, needle);
        fail();
    }
}

/* Write len bytes to tmpdir/name; path receives the full name. */
static void
write_file(const char *name, const void *data, size_t len, char *path, size_t pathsz)
{
    FILE *f = NULL;

    assert_true(snprintf(path, pathsz, "%s/%s", tmpdir, name) < (int)pathsz);
    f = fopen(path, "wb");
    assert_non_null(f);
    if (len > 0) {
        assert_int_equal(fwrite(data, 1, len, f), len);
    }
    assert_int_equal(fclose(f), 0);
}

/*
 * error
 */

static void
test_err_names(void **state)
{
    enum m2msec_err c;
    enum m2msec_err d;

    (void)state;
    assert_string_equal(m2msec_err_name(M2MSEC_ERR_NONE), "none");
    assert_string_equal(m2msec_err_name(M2MSEC_ERR_NOMEM), "nomem");
    assert_string_equal(m2msec_err_name(M2MSEC_ERR_AUTH), "auth");
    assert_string_equal(m2msec_err_name(M2MSEC_ERR_TOO_LARGE), "too large");
    assert_string_equal(m2msec_err_name(M2MSEC_ERR_REFUSED), "refused");
    /* Every code has its own name ... */
    for (c = M2MSEC_ERR_NONE; c <= M2MSEC_ERR_REFUSED; c++) {
        assert_string_not_equal(m2msec_err_name(c), "unknown");
        for (d = M2MSEC_ERR_NONE; d < c; d++) {
            assert_string_not_equal(m2msec_err_name(c), m2msec_err_name(d));
        }
    }
    /* ... and a value outside the enum does not crash. */
    assert_string_equal(m2msec_err_name((enum m2msec_err)(M2MSEC_ERR_REFUSED + 1)), "unknown");
    assert_string_equal(m2msec_err_name((enum m2msec_err) - 1), "unknown");
}

static void
test_error_set(void **state)
{
    struct m2msec_error err;
    char want[256];

    (void)state;
    m2msec_error_clear(&err);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NONE);
    assert_string_equal(m2msec_error_msg(&err), "");

    /* set: appends strerror(errno) and leaves errno alone. */
    errno = ENOENT;
    assert_int_equal(m2msec_error_set(&err, M2MSEC_ERR_IO, "opening %s", "x.key"), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_IO);
    assert_int_equal(err.rsc, 0);
    snprintf(want, sizeof(want), "opening x.key: %s", strerror(ENOENT));
    assert_string_equal(m2msec_error_msg(&err), want);

    /* setx: no errno suffix, and it resets a previous rsc. */
    err.rsc = 4000;
    errno = ENOENT;
    assert_int_equal(m2msec_error_setx(&err, M2MSEC_ERR_PROTOCOL, "bad %d", 7), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_PROTOCOL);
    assert_int_equal(err.rsc, 0);
    assert_string_equal(m2msec_error_msg(&err), "bad 7");

    /* setr: carries the oneM2M status code. */
    assert_int_equal(m2msec_error_setr(&err, M2MSEC_ERR_REFUSED, 4103, "denied"), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_REFUSED);
    assert_int_equal(err.rsc, 4103);
    assert_string_equal(m2msec_error_msg(&err), "denied");

    /* NULL err is allowed everywhere. */
    assert_int_equal(m2msec_error_set(NULL, M2MSEC_ERR_IO, "x"), -1);
    assert_int_equal(m2msec_error_setx(NULL, M2MSEC_ERR_IO, "x"), -1);
    assert_int_equal(m2msec_error_setr(NULL, M2MSEC_ERR_IO, 1, "x"), -1);
    m2msec_error_wrap(NULL, "x");
    m2msec_error_clear(NULL);
    assert_int_equal(m2msec_error_code(NULL), M2MSEC_ERR_NONE);
    assert_string_equal(m2msec_error_msg(NULL), "");

    /* clear really clears. */
    m2msec_error_clear(&err);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NONE);
    assert_int_equal(err.rsc, 0);
    assert_string_equal(m2msec_error_msg(&err), "");
}

static void
test_error_wrap_copy_truncation(void **state)
{
    struct m2msec_error err;
    struct m2msec_error dst;
    char longs[400];
    size_t i;

    (void)state;
    m2msec_error_setx(&err, M2MSEC_ERR_STORE, "disk full");
    m2msec_error_wrap(&err, "saving %s", "ke");
    assert_string_equal(m2msec_error_msg(&err), "saving ke: disk full");
    m2msec_error_wrap(&err, "enrol");
    assert_string_equal(m2msec_error_msg(&err), "enrol: saving ke: disk full");
    /* wrap keeps code and rsc */
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_STORE);

    /* copy */
    m2msec_error_setr(&err, M2MSEC_ERR_AUTH, 4103, "nope");
    m2msec_error_clear(&dst);
    m2msec_error_copy(&dst, &err);
    assert_int_equal(dst.code, M2MSEC_ERR_AUTH);
    assert_int_equal(dst.rsc, 4103);
    assert_string_equal(dst.msg, "nope");
    m2msec_error_setx(&err, M2MSEC_ERR_IO, "changed");
    assert_string_equal(dst.msg, "nope");
    m2msec_error_copy(&dst, &dst);
    assert_string_equal(dst.msg, "nope");

    /* An over-long message is truncated, never overflowed. */
    memset(longs, 'a', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    m2msec_error_setx(&err, M2MSEC_ERR_IO, "%s", longs);
    assert_int_equal(strlen(err.msg), M2MSEC_ERROR_MSG_LEN - 1);
    errno = EACCES;
    m2msec_error_set(&err, M2MSEC_ERR_IO, "%s", longs);
    assert_int_equal(strlen(err.msg), M2MSEC_ERROR_MSG_LEN - 1);
    /* Wrapping a full message keeps the (new) context prefix. */
    m2msec_error_wrap(&err, "ctx");
    assert_int_equal(strlen(err.msg), M2MSEC_ERROR_MSG_LEN - 1);
    assert_memory_equal(err.msg, "ctx: aaa", 8);
    /* An over-long context alone fills the buffer. */
    m2msec_error_setx(&err, M2MSEC_ERR_IO, "old");
    m2msec_error_wrap(&err, "%s", longs);
    assert_int_equal(strlen(err.msg), M2MSEC_ERROR_MSG_LEN - 1);
    for (i = 0; i < M2MSEC_ERROR_MSG_LEN - 1; i++) {
        assert_int_equal(err.msg[i], 'a');
    }
    m2msec_error_copy(&dst, &err);
    assert_string_equal(dst.msg, err.msg);
}

static void
test_error_openssl(void **state)
{
    struct m2msec_error err;

    (void)state;
    ERR_clear_error();
    ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
    ERR_raise(ERR_LIB_EVP, EVP_R_UNSUPPORTED_CIPHER);
    assert_int_equal(m2msec_error_openssl(&err, M2MSEC_ERR_CRYPTO, "unwrap %d", 1), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_CRYPTO);
    assert_memory_equal(err.msg, "unwrap 1: ", 10);
    assert_contains(err.msg, "bad decrypt");
    /* Only the first (root-cause) error is reported, and the queue is drained. */
    assert_not_contains(err.msg, "unsupported cipher");
    assert_int_equal(ERR_peek_error(), 0);

    /* Empty queue: just the message. */
    assert_int_equal(m2msec_error_openssl(&err, M2MSEC_ERR_CRYPTO, "plain"), -1);
    assert_string_equal(err.msg, "plain");

    /* NULL err still drains the queue. */
    ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
    assert_int_equal(m2msec_error_openssl(NULL, M2MSEC_ERR_CRYPTO, "x"), -1);
    assert_int_equal(ERR_peek_error(), 0);
}

/*
 * mem
 */

static void
test_mem_fail_at(void **state)
{
    void *a = NULL;
    void *b = NULL;
    void *c = NULL;
    char *s = NULL;

    (void)state;
    /* Disabled: everything works, size 0 is a valid allocation. */
    m2msec_test_fail_alloc_at(0);
    a = m2msec_malloc(0);
    assert_non_null(a);
    m2msec_free(a);

    /* The 3rd allocation from now fails, and only that one. */
    m2msec_test_fail_alloc_at(3);
    a = m2msec_malloc(8);
    assert_non_null(a);
    b = m2msec_calloc(2, 8);
    assert_non_null(b);
    assert_null(m2msec_realloc(a, 64)); /* a is still valid after a failed realloc */
    c = m2msec_malloc(8);
    assert_non_null(c);
    m2msec_free(a);
    m2msec_free(b);
    m2msec_free(c);

    /* 1 = the next one; strdup goes through the counter too. */
    m2msec_test_fail_alloc_at(1);
    assert_null(m2msec_strdup("abc"));
    s = m2msec_strdup("abc");
    assert_non_null(s);
    assert_string_equal(s, "abc");
    m2msec_free(s);

    /* 0 disables a pending failure. */
    m2msec_test_fail_alloc_at(1);
    m2msec_test_fail_alloc_at(0);
    s = m2msec_strndup("abcdef", 3);
    assert_non_null(s);
    assert_string_equal(s, "abc");
    m2msec_free_wipe_str(s);
    m2msec_free_wipe_str(NULL);
    m2msec_free(NULL);
    assert_null(m2msec_strdup(NULL));

    /* strndup stops at a NUL before n. */
    s = m2msec_strndup("ab", 10);
    assert_non_null(s);
    assert_string_equal(s, "ab");
    m2msec_free(s);
}

#define FAIL_THREADS       4
#define FAIL_ALLOCS_PER_TH 250

static void *
alloc_thread(void *arg)
{
    size_t *failures = arg;
    void *p;
    int i;

    for (i = 0; i < FAIL_ALLOCS_PER_TH; i++) {
        p = m2msec_malloc(16);
        if (p == NULL) {
            (*failures)++;
        }
        m2msec_free(p);
    }
    return NULL;
}

static void
test_mem_fail_at_threads(void **state)
{
    pthread_t th[FAIL_THREADS];
    size_t failures[FAIL_THREADS] = { 0 };
    size_t total = 0;
    size_t i;

    (void)state;
    /* Exactly one allocation fails however the threads interleave. */
    m2msec_test_fail_alloc_at(FAIL_THREADS * FAIL_ALLOCS_PER_TH / 2);
    for (i = 0; i < FAIL_THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, alloc_thread, &failures[i]), 0);
    }
    for (i = 0; i < FAIL_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        total += failures[i];
    }
    assert_int_equal(total, 1);
    m2msec_test_fail_alloc_at(0);
}

/*
 * secret
 */

static void
test_secret_basic(void **state)
{
    static const uint8_t k1[4] = { 1, 2, 3, 4 };
    static const uint8_t k2[4] = { 1, 2, 3, 5 };
    static const uint8_t zero[16] = { 0 };
    struct m2msec_error err;
    struct m2msec_secret *a = NULL;
    struct m2msec_secret *b = NULL;
    struct m2msec_secret *c = NULL;
    struct m2msec_secret *d = NULL;
    struct m2msec_secret *z = NULL;

    (void)state;
    /* new: zeroed, 1..MAX */
    z = m2msec_secret_new(16, &err);
    assert_non_null(z);
    assert_int_equal(m2msec_secret_len(z), 16);
    assert_memory_equal(m2msec_secret_bytes(z), zero, 16);
    m2msec_secret_free(z);
    z = m2msec_secret_new(M2MSEC_SECRET_MAX, &err);
    assert_non_null(z);
    m2msec_secret_free(z);
    assert_null(m2msec_secret_new(0, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(m2msec_secret_new(M2MSEC_SECRET_MAX + 1, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);

    /* from copies; dup is equal; one byte or one length apart is not. */
    a = m2msec_secret_from(k1, sizeof(k1), &err);
    assert_non_null(a);
    assert_memory_equal(m2msec_secret_bytes(a), k1, sizeof(k1));
    assert_ptr_not_equal(m2msec_secret_bytes(a), k1);
    b = m2msec_secret_dup(a, &err);
    assert_non_null(b);
    assert_int_equal(m2msec_secret_equal(a, b), 1);
    c = m2msec_secret_from(k2, sizeof(k2), &err);
    assert_non_null(c);
    assert_int_equal(m2msec_secret_equal(a, c), 0);
    d = m2msec_secret_from(k1, sizeof(k1) - 1, &err);
    assert_non_null(d);
    assert_int_equal(m2msec_secret_equal(a, d), 0);
    assert_int_equal(m2msec_secret_equal(d, a), 0);
    assert_int_equal(m2msec_secret_equal(a, NULL), 0);
    assert_int_equal(m2msec_secret_equal(NULL, NULL), 0);

    /* bytes_mut writes through */
    m2msec_secret_bytes_mut(b)[3] = 5;
    assert_int_equal(m2msec_secret_equal(b, c), 1);
    assert_int_equal(m2msec_secret_equal(a, b), 0);

    assert_null(m2msec_secret_from(NULL, 4, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(m2msec_secret_from(k1, 0, &err));
    assert_null(m2msec_secret_dup(NULL, &err));
    assert_int_equal(m2msec_secret_len(NULL), 0);
    assert_null(m2msec_secret_bytes(NULL));

    m2msec_secret_free(a);
    m2msec_secret_free(b);
    m2msec_secret_free(c);
    m2msec_secret_free(d);
    m2msec_secret_free(NULL);
}

static void
test_secret_random(void **state)
{
    struct m2msec_error err;
    struct m2msec_secret *a = NULL;
    struct m2msec_secret *b = NULL;

    (void)state;
    a = m2msec_secret_random(32, &err);
    b = m2msec_secret_random(32, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(m2msec_secret_len(a), 32);
    /* 2^-256 chance of a false failure */
    assert_int_equal(m2msec_secret_equal(a, b), 0);
    m2msec_secret_free(a);
    m2msec_secret_free(b);
    assert_null(m2msec_secret_random(0, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(m2msec_secret_random(M2MSEC_SECRET_MAX + 1, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
}

static void
test_secret_nomem(void **state)
{
    struct m2msec_error err;

    (void)state;
    /* The secure-heap allocator takes part in fault injection. */
    m2msec_test_fail_alloc_at(1);
    assert_null(m2msec_secret_new(16, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOMEM);
    m2msec_test_fail_alloc_at(1);
    assert_null(m2msec_secret_from_hex("0011", 4, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOMEM);
    m2msec_test_fail_alloc_at(0);
}

struct hex_case {
    const char *in;
    int ok;
    enum m2msec_err code;
    size_t outlen;
    const char *out;
};

static void
test_secret_from_hex(void **state)
{
    static const struct hex_case cases[] = {
        { .in = "00ff", .ok = 1, .outlen = 2, .out = "\x00\xff" },
        { .in = "00FF", .ok = 1, .outlen = 2, .out = "\x00\xff" },
        { .in = "aBcD", .ok = 1, .outlen = 2, .out = "\xab\xcd" },
        { .in = " ab\tcd\r\n12 \n", .ok = 1, .outlen = 3, .out = "\xab\xcd\x12" },
        { .in = "a b", .ok = 1, .outlen = 1, .out = "\xab" },  /* whitespace inside a byte */
        { .in = "abc", .code = M2MSEC_ERR_INVALID_ARGUMENT },  /* odd */
        { .in = "ab c", .code = M2MSEC_ERR_INVALID_ARGUMENT }, /* odd after skipping */
        { .in = "zz", .code = M2MSEC_ERR_INVALID_ARGUMENT },
        { .in = "0g", .code = M2MSEC_ERR_INVALID_ARGUMENT },
        { .in = "0x00", .code = M2MSEC_ERR_INVALID_ARGUMENT },
        { .in = "00\v11", .code = M2MSEC_ERR_INVALID_ARGUMENT }, /* VT is not skipped */
        { .in = "00-11", .code = M2MSEC_ERR_INVALID_ARGUMENT },
        { .in = "", .code = M2MSEC_ERR_INVALID_ARGUMENT },
        { .in = " \n", .code = M2MSEC_ERR_INVALID_ARGUMENT },
    };
    struct m2msec_error err;
    struct m2msec_secret *s = NULL;
    char *big = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        m2msec_error_clear(&err);
        s = m2msec_secret_from_hex(cases[i].in, strlen(cases[i].in), &err);
        if (cases[i].ok) {
            assert_non_null(s);
            assert_int_equal(m2msec_secret_len(s), cases[i].outlen);
            assert_memory_equal(m2msec_secret_bytes(s), cases[i].out, cases[i].outlen);
        } else {
            assert_null(s);
            assert_int_equal(m2msec_error_code(&err), cases[i].code);
        }
        m2msec_secret_free(s);
        s = NULL;
    }

    /* The length argument is honoured (no NUL needed). */
    s = m2msec_secret_from_hex("0102zz", 4, &err);
    assert_non_null(s);
    assert_int_equal(m2msec_secret_len(s), 2);
    m2msec_secret_free(s);

    /* The message locates the bad character without quoting the key text. */
    assert_null(m2msec_secret_from_hex("deadbeefXY", 10, &err));
    assert_not_contains(err.msg, "dead");
    assert_not_contains(err.msg, "X");
    assert_contains(err.msg, "8");

    /* Exactly MAX bytes is fine, one more is TOO_LARGE. */
    big = malloc(2 * M2MSEC_SECRET_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', 2 * M2MSEC_SECRET_MAX + 2);
    s = m2msec_secret_from_hex(big, 2 * M2MSEC_SECRET_MAX, &err);
    assert_non_null(s);
    assert_int_equal(m2msec_secret_len(s), M2MSEC_SECRET_MAX);
    m2msec_secret_free(s);
    assert_null(m2msec_secret_from_hex(big, 2 * M2MSEC_SECRET_MAX + 2, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    free(big);
    assert_null(m2msec_secret_from_hex(NULL, 0, &err));
}

static void
test_secret_load_hex_file(void **state)
{
    static const char good[] = "00112233445566778899aabbccddeeff\n"
                               "00112233445566778899AABBCCDDEEFF\n";
    static const char bad[] = "0123456789abcdefQQ\n";
    struct m2msec_error err;
    struct m2msec_secret *s = NULL;
    char path[256];
    char *big = NULL;
    size_t bigsz = 2 * M2MSEC_SECRET_MAX + 1024 + 1;

    (void)state;
    write_file("good.hex", good, strlen(good), path, sizeof(path));
    s = m2msec_secret_load_hex_file(path, &err);
    assert_non_null(s);
    assert_int_equal(m2msec_secret_len(s), 32);
    assert_memory_equal(m2msec_secret_bytes(s), "\x00\x11\x22\x33", 4);
    assert_memory_equal(m2msec_secret_bytes(s) + 16, m2msec_secret_bytes(s), 16);
    m2msec_secret_free(s);

    /* Missing file: NOT_FOUND, naming the file. */
    snprintf(path, sizeof(path), "%s/missing.hex", tmpdir);
    assert_null(m2msec_secret_load_hex_file(path, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOT_FOUND);
    assert_contains(err.msg, "missing.hex");

    /* Bad content: names the file, never quotes the content. */
    write_file("bad.hex", bad, strlen(bad), path, sizeof(path));
    assert_null(m2msec_secret_load_hex_file(path, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_contains(err.msg, "bad.hex");
    assert_not_contains(err.msg, "0123456789abcdef");
    assert_not_contains(err.msg, "QQ");

    /* Odd digit count and empty file. */
    write_file("odd.hex", "abc\n", 4, path, sizeof(path));
    assert_null(m2msec_secret_load_hex_file(path, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    write_file("empty.hex", "", 0, path, sizeof(path));
    assert_null(m2msec_secret_load_hex_file(path, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);

    /* A file one byte over the bound is rejected before parsing. */
    big = malloc(bigsz);
    assert_non_null(big);
    memset(big, ' ', bigsz);
    memcpy(big, "00", 2);
    write_file("big.hex", big, bigsz, path, sizeof(path));
    assert_null(m2msec_secret_load_hex_file(path, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    /* ... and the same padding one byte shorter is accepted. */
    write_file("big.hex", big, bigsz - 1, path, sizeof(path));
    s = m2msec_secret_load_hex_file(path, &err);
    assert_non_null(s);
    assert_int_equal(m2msec_secret_len(s), 1);
    m2msec_secret_free(s);
    free(big);

    /* A directory is not a key file. */
    assert_null(m2msec_secret_load_hex_file(tmpdir, &err));
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_null(m2msec_secret_load_hex_file(NULL, &err));
}

static void
test_secret_ct_wipe(void **state)
{
    uint8_t a[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    uint8_t b[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    static const uint8_t zero[8] = { 0 };

    (void)state;
    assert_int_equal(m2msec_ct_memcmp(a, b, sizeof(a)), 0);
    b[7] = 9;
    assert_int_not_equal(m2msec_ct_memcmp(a, b, sizeof(a)), 0);
    b[7] = 8;
    b[0] = 0;
    assert_int_not_equal(m2msec_ct_memcmp(a, b, sizeof(a)), 0);
    assert_int_equal(m2msec_ct_memcmp(a, b, 0), 0);
    m2msec_wipe(a, sizeof(a));
    assert_memory_equal(a, zero, sizeof(a));
    m2msec_wipe(NULL, 4);
}

/* Runs last: once the secure heap exists it stays for the process. */
static void
test_secure_heap(void **state)
{
    struct m2msec_error err;
    struct m2msec_secret *s = NULL;
    struct m2msec_secret *t = NULL;

    (void)state;
    /* OpenSSL would abort on these; we must refuse them. */
    assert_int_equal(m2msec_secure_heap_init(0), -1);
    assert_int_equal(m2msec_secure_heap_init(1000), -1);
    assert_int_equal(m2msec_secure_heap_init(16), -1);
    /* A secret from the plain heap must still be freed correctly afterwards. */
    t = m2msec_secret_from((const uint8_t *)"abcd", 4, &err);
    assert_non_null(t);
    assert_int_equal(m2msec_secure_heap_init(65536), 0);
    s = m2msec_secret_random(M2MSEC_SECRET_MAX, &err);
    assert_non_null(s);
    m2msec_secret_free(s);
    m2msec_secret_free(t);
    /* Already initialised: success, whatever the size. */
    assert_int_equal(m2msec_secure_heap_init(1000), 0);
}

/*
 * buf
 */

static void
test_buf_bounds(void **state)
{
    struct m2msec_error err;
    struct m2msec_buf b;
    size_t i;

    (void)state;
    m2msec_buf_init(&b, 10);
    assert_int_equal(m2msec_buf_append(&b, "", 0, &err), 0);
    assert_non_null(b.data);
    assert_int_equal(b.data[0], '\0');
    assert_int_equal(m2msec_buf_append(&b, "0123456789", 10, &err), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal((const char *)b.data, "0123456789");
    /* At the limit an empty append still succeeds, one byte more does not. */
    assert_int_equal(m2msec_buf_append(&b, "x", 0, &err), 0);
    err.rsc = 99;
    assert_int_equal(m2msec_buf_append(&b, "x", 1, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(err.rsc, 0);
    assert_int_equal(b.len, 10);
    assert_string_equal((const char *)b.data, "0123456789");
    /* Size arithmetic cannot wrap. */
    assert_int_equal(m2msec_buf_append(&b, "x", SIZE_MAX, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    assert_true(b.cap <= 11);
    m2msec_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);

    /* Growth by many small appends stays within max + 1. */
    m2msec_buf_init(&b, 1000);
    for (i = 0; i < 1000; i++) {
        assert_int_equal(m2msec_buf_append(&b, "z", 1, &err), 0);
        assert_int_equal(b.data[b.len], '\0');
    }
    assert_int_equal(b.len, 1000);
    assert_true(b.cap <= 1001);
    assert_int_equal(m2msec_buf_append_str(&b, "z", &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(m2msec_buf_append_str(&b, NULL, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    m2msec_buf_free(&b);
    m2msec_buf_free(&b); /* idempotent */

    /* One big append larger than max is rejected without allocating. */
    m2msec_buf_init(&b, 4);
    assert_int_equal(m2msec_buf_append(&b, "12345", 5, &err), -1);
    assert_null(b.data);
    m2msec_buf_free(&b);
}

static void
test_buf_appendf_consume_reset(void **state)
{
    struct m2msec_error err;
    struct m2msec_buf b;
    size_t i;
    size_t cap;

    (void)state;
    m2msec_buf_init(&b, 16);
    assert_int_equal(m2msec_buf_append_str(&b, "GET ", &err), 0);
    assert_int_equal(m2msec_buf_appendf(&b, &err, "/%s?%d", "a", 42), 0);
    assert_string_equal((const char *)b.data, "GET /a?42");
    assert_int_equal(b.len, 9);
    /* 9 + 8 = 17 > 16: rejected, contents unchanged. */
    assert_int_equal(m2msec_buf_appendf(&b, &err, "%08d", 1), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    assert_string_equal((const char *)b.data, "GET /a?42");
    /* 9 + 7 = 16: fits exactly. */
    assert_int_equal(m2msec_buf_appendf(&b, &err, "%07d", 1), 0);
    assert_string_equal((const char *)b.data, "GET /a?420000001");
    assert_int_equal(b.len, 16);

    m2msec_buf_consume(&b, 4);
    assert_int_equal(b.len, 12);
    assert_string_equal((const char *)b.data, "/a?420000001");
    /* The freed tail is wiped. */
    for (i = b.len; i < 16; i++) {
        assert_int_equal(b.data[i], 0);
    }
    m2msec_buf_consume(&b, 0);
    assert_int_equal(b.len, 12);
    m2msec_buf_consume(&b, 12);
    assert_int_equal(b.len, 0);
    assert_string_equal((const char *)b.data, "");
    assert_int_equal(m2msec_buf_append_str(&b, "abc", &err), 0);
    m2msec_buf_consume(&b, 100); /* more than len: empties, no overrun */
    assert_int_equal(b.len, 0);

    /* reset keeps the memory, wipes it and allows reuse up to max again. */
    assert_int_equal(m2msec_buf_append_str(&b, "secretsecret", &err), 0);
    cap = b.cap;
    m2msec_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    for (i = 0; i < b.cap; i++) {
        assert_int_equal(b.data[i], 0);
    }
    assert_int_equal(m2msec_buf_append(&b, "0123456789abcdef", 16, &err), 0);
    assert_int_equal(m2msec_buf_append(&b, "!", 1, &err), -1);
    m2msec_buf_free(&b);

    /* reset/consume on a never-used buffer are harmless. */
    m2msec_buf_init(&b, 8);
    m2msec_buf_reset(&b);
    m2msec_buf_consume(&b, 1);
    assert_null(b.data);
    m2msec_buf_free(&b);
}

static void
test_buf_nomem(void **state)
{
    struct m2msec_error err;
    struct m2msec_buf b;

    (void)state;
    m2msec_buf_init(&b, 1 << 20);
    assert_int_equal(m2msec_buf_append_str(&b, "keep", &err), 0);
    /* Force a reallocation to fail: contents survive. */
    m2msec_test_fail_alloc_at(1);
    assert_int_equal(m2msec_buf_append(&b, NULL, 0, &err), 0); /* no growth, no allocation */
    assert_int_equal(m2msec_buf_appendf(&b, &err, "%0200d", 0), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOMEM);
    m2msec_test_fail_alloc_at(0);
    assert_string_equal((const char *)b.data, "keep");
    m2msec_buf_free(&b);
}

/*
 * hex, base64
 */

static void
test_hex(void **state)
{
    static const uint8_t in[3] = { 0x00, 0xab, 0xff };
    struct m2msec_error err;
    uint8_t out[4];
    char hex[8];
    size_t n = 99;

    (void)state;
    assert_int_equal(m2msec_hex_encode(in, 3, hex, 7), 0);
    assert_string_equal(hex, "00abff");
    assert_int_equal(m2msec_hex_encode(in, 3, hex, 6), -1); /* no room for NUL */
    assert_int_equal(m2msec_hex_encode(in, 0, hex, 1), 0);
    assert_string_equal(hex, "");
    assert_int_equal(m2msec_hex_encode(in, 0, hex, 0), -1);

    assert_int_equal(m2msec_hex_decode("00ABff", 6, out, 3, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, in, 3);
    assert_int_equal(m2msec_hex_decode("00abff", 6, out, 4, &n, &err), 0);
    assert_memory_equal(out, in, 3);
    assert_int_equal(m2msec_hex_decode("", 0, out, 0, &n, &err), 0);
    assert_int_equal(n, 0);

    n = 99;
    assert_int_equal(m2msec_hex_decode("00abff", 6, out, 2, &n, &err), -1); /* too small */
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(n, 99); /* out-parameter untouched on failure */
    assert_int_equal(m2msec_hex_decode("00a", 3, out, 4, &n, &err), -1); /* odd */
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_hex_decode("0g", 2, out, 4, &n, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    assert_int_equal(m2msec_hex_decode("g0", 2, out, 4, &n, &err), -1);
    assert_int_equal(m2msec_hex_decode(" 0", 2, out, 4, &n, &err), -1); /* no whitespace */
    assert_int_equal(m2msec_hex_decode("00\n", 3, out, 4, &n, &err), -1);
    /* A failure after good bytes wipes them. */
    memset(out, 0x55, sizeof(out));
    assert_int_equal(m2msec_hex_decode("abcdzz", 6, out, 4, &n, &err), -1);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 0);
    assert_int_equal(n, 99);
}

struct b64_case {
    const char *plain;
    const char *enc;
};

static void
test_b64_rfc4648(void **state)
{
    /* RFC 4648 section 10 */
    static const struct b64_case cases[] = {
        { "", "" },
        { "f", "Zg==" },
        { "fo", "Zm8=" },
        { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" },
        { "fooba", "Zm9vYmE=" },
        { "foobar", "Zm9vYmFy" },
    };
    struct m2msec_error err;
    char *enc = NULL;
    uint8_t *dec = NULL;
    size_t n;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        assert_int_equal(m2msec_b64_encode((const uint8_t *)cases[i].plain, strlen(cases[i].plain),
                                           &enc, &err),
                         0);
        assert_string_equal(enc, cases[i].enc);
        m2msec_free(enc);
        enc = NULL;
        n = 99;
        assert_int_equal(m2msec_b64_decode(cases[i].enc, strlen(cases[i].enc), &dec, &n, &err), 0);
        assert_int_equal(n, strlen(cases[i].plain));
        assert_memory_equal(dec, cases[i].plain, n);
        assert_int_equal(dec[n], '\0');
        m2msec_free(dec);
        dec = NULL;
    }
}

static void
test_b64_reject(void **state)
{
    static const char *const bad[] = {
        "Zg=",      /* missing padding */
        "Zg===",    /* too much padding */
        "Zg",       /* no padding at all */
        "Zh==",     /* non-zero bits under the padding */
        "Zm9=",     /* same, one pad */
        "Zm9v!",    /* bad character */
        "Zm9!",     /* bad character in a full quad */
        "Z===",     /* three pad characters */
        "====",     /* only padding */
        "Zg==Zm8=", /* padding in the middle */
        "Zg=a",     /* data after padding */
        "Zm 9v",    /* whitespace */
        "Zm9v\n",   /* trailing newline */
        "Zm-_",     /* URL-safe alphabet */
        "Zm9vYmFy=",
    };
    struct m2msec_error err;
    uint8_t *dec = NULL;
    size_t n = 99;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        dec = NULL;
        m2msec_error_clear(&err);
        if (m2msec_b64_decode(bad[i], strlen(bad[i]), &dec, &n, &err) != -1) {
            print_error("accepted \"%s\"\n", bad[i]);
            m2msec_free(dec);
            fail();
        }
        assert_null(dec);
        assert_int_equal(n, 99);
        assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
    }
    /* Embedded NUL within the given length */
    assert_int_equal(m2msec_b64_decode("Zm\0v", 4, &dec, &n, &err), -1);
    /* Only len bytes are read. */
    assert_int_equal(m2msec_b64_decode("Zm9v!!!!", 4, &dec, &n, &err), 0);
    assert_int_equal(n, 3);
    m2msec_free(dec);
}

static void
test_b64_roundtrip(void **state)
{
    struct m2msec_error err;
    uint8_t in[256];
    char *enc = NULL;
    uint8_t *dec = NULL;
    size_t n;
    size_t len;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(255 - i);
    }
    for (len = 0; len <= sizeof(in); len += (len < 20 ? 1 : 37)) {
        assert_int_equal(m2msec_b64_encode(in, len, &enc, &err), 0);
        assert_int_equal(strlen(enc), (len + 2) / 3 * 4);
        assert_int_equal(m2msec_b64_decode(enc, strlen(enc), &dec, &n, &err), 0);
        assert_int_equal(n, len);
        assert_memory_equal(dec, in, len);
        m2msec_free(enc);
        m2msec_free(dec);
    }
    /* All 64 alphabet characters decode, e.g. "+/" at the end. */
    assert_int_equal(m2msec_b64_decode("++//", 4, &dec, &n, &err), 0);
    assert_memory_equal(dec, "\xfb\xef\xff", 3);
    m2msec_free(dec);

    /* Allocation failure on both sides */
    m2msec_test_fail_alloc_at(1);
    assert_int_equal(m2msec_b64_encode(in, 3, &enc, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOMEM);
    m2msec_test_fail_alloc_at(1);
    assert_int_equal(m2msec_b64_decode("Zm9v", 4, &dec, &n, &err), -1);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOMEM);
    m2msec_test_fail_alloc_at(0);
}

/*
 * numbers, strings
 */

struct u64_case {
    const char *in;
    uint64_t max;
    int ok;
    uint64_t want;
};

static void
test_parse_u64(void **state)
{
    static const struct u64_case cases[] = {
        { "0", UINT64_MAX, 1, 0 },
        { "7", UINT64_MAX, 1, 7 },
        { "18446744073709551615", UINT64_MAX, 1, UINT64_MAX },
        { "18446744073709551616", UINT64_MAX, 0, 0 }, /* overflow by one */
        { "99999999999999999999", UINT64_MAX, 0, 0 },
        { "184467440737095516150", UINT64_MAX, 0, 0 },
        { "100", 100, 1, 100 },
        { "101", 100, 0, 0 }, /* above max */
        { "-1", UINT64_MAX, 0, 0 },
        { "+1", UINT64_MAX, 0, 0 },
        { "01", UINT64_MAX, 0, 0 },
        { "00", UINT64_MAX, 0, 0 },
        { "", UINT64_MAX, 0, 0 },
        { "1a", UINT64_MAX, 0, 0 },
        { " 1", UINT64_MAX, 0, 0 },
        { "1 ", UINT64_MAX, 0, 0 },
        { "0x10", UINT64_MAX, 0, 0 },
    };
    uint64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        v = 12345;
        if (cases[i].ok) {
            assert_int_equal(m2msec_parse_u64(cases[i].in, strlen(cases[i].in), cases[i].max, &v),
                             0);
            assert_true(v == cases[i].want);
        } else {
            if (m2msec_parse_u64(cases[i].in, strlen(cases[i].in), cases[i].max, &v) != -1) {
                print_error("accepted \"%s\"\n", cases[i].in);
                fail();
            }
            assert_true(v == 12345);
        }
    }
    /* Only len characters count. */
    assert_int_equal(m2msec_parse_u64("12x", 2, UINT64_MAX, &v), 0);
    assert_true(v == 12);
    assert_int_equal(m2msec_parse_u64("12x", 3, UINT64_MAX, &v), -1);
    assert_int_equal(m2msec_parse_u64(NULL, 0, UINT64_MAX, &v), -1);
}

static void
test_strings(void **state)
{
    char dst[4];

    (void)state;
    assert_int_equal(m2msec_strlcpy(dst, "abc", sizeof(dst)), 0);
    assert_string_equal(dst, "abc");
    assert_int_equal(m2msec_strlcpy(dst, "", sizeof(dst)), 0);
    assert_string_equal(dst, "");
    memcpy(dst, "xyz", 4);
    assert_int_equal(m2msec_strlcpy(dst, "abcd", sizeof(dst)), -1); /* one too long */
    assert_string_equal(dst, "");
    assert_int_equal(m2msec_strlcpy(dst, "abc", 0), -1);

    assert_int_equal(m2msec_ascii_caseeq("Content-Length", "content-LENGTH"), 1);
    assert_int_equal(m2msec_ascii_caseeq("", ""), 1);
    assert_int_equal(m2msec_ascii_caseeq("abc", "abd"), 0);
    assert_int_equal(m2msec_ascii_caseeq("abc", "abcd"), 0);
    assert_int_equal(m2msec_ascii_caseeq("abcd", "abc"), 0);
    /* ASCII only: no locale folding of Latin-1 / UTF-8 bytes, '@' is not '`'. */
    assert_int_equal(m2msec_ascii_caseeq("\xc4", "\xe4"), 0);
    assert_int_equal(m2msec_ascii_caseeq("@[", "`{"), 0);
    assert_int_equal(m2msec_ascii_caseeq(NULL, "a"), 0);

    assert_int_equal(m2msec_ascii_caseeqn("abcX", "ABCy", 3), 1);
    assert_int_equal(m2msec_ascii_caseeqn("abcX", "ABCy", 4), 0);
    assert_int_equal(m2msec_ascii_caseeqn("ab", "AB", 5), 1);
    assert_int_equal(m2msec_ascii_caseeqn("ab", "ABC", 5), 0);
    assert_int_equal(m2msec_ascii_caseeqn("x", "y", 0), 1);
}

/*
 * time
 */

struct ts_case {
    const char *in;
    int ok;
    int64_t want;
};

static void
test_timestamp_parse(void **state)
{
    static const struct ts_case cases[] = {
        /* python3: calendar.timegm((2026,11,22,21,47,34)) */
        { "20261122T214734", 1, 1795384054 },
        { "20261122T214734,123", 1, 1795384054 },
        { "20261122T214734Z", 1, 1795384054 },
        { "20261122T214734,123456Z", 1, 1795384054 },
        { "20261122T214734,123456789", 1, 1795384054 },
        { "20261122T214734,1234567890", 0, 0 }, /* fraction too long */
        { "20261122T214734,", 0, 0 },
        { "20261122T214734,Z", 0, 0 },
        { "20261122T214734.123", 0, 0 },
        { "20261122T214734z", 0, 0 },
        { "20261122T214734ZZ", 0, 0 },
        { "20261122T214734Z,1", 0, 0 },
        { "20261122T214734 ", 0, 0 },
        { "20261122T2147341", 0, 0 },
        { "20261122 214734", 0, 0 },
        { "20261122t214734", 0, 0 },
        { "2026-11-22T21:47:34", 0, 0 },
        { "20261122T21473", 0, 0 },
        { "2026112T214734", 0, 0 },
        { "20261122T", 0, 0 },
        { "20261122", 0, 0 },
        { "2026", 0, 0 },
        { "", 0, 0 },
        { "+0261122T214734", 0, 0 },
        { "19700101T000000", 1, 0 },
        { "19691231T235959", 1, -1 },
        { "99991231T235959", 1, 253402300799LL },
        { "00000101T000000", 1, -62167219200LL },
        { "20240229T000000", 1, 1709164800 }, /* leap year */
        { "20230229T000000", 0, 0 },
        { "20000229T120000", 1, 951825600 }, /* divisible by 400 */
        { "21000229T000000", 0, 0 },         /* divisible by 100 */
        { "20260230T000000", 0, 0 },
        { "20261131T000000", 0, 0 },
        { "20261231T000000", 1, 1798675200 },
        { "20261232T000000", 0, 0 },
        { "20261300T000000", 0, 0 },
        { "20261301T000000", 0, 0 },
        { "20260001T000000", 0, 0 },
        { "20260100T000000", 0, 0 },
        { "20260101T235959", 1, 1767311999 },
        { "20260101T240000", 0, 0 },
        { "20260101T236000", 0, 0 },
        { "20260101T235960", 0, 0 }, /* no leap seconds */
    };
    struct m2msec_error err;
    int64_t t;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        t = 42;
        m2msec_error_clear(&err);
        if (cases[i].ok) {
            if (m2msec_timestamp_parse(cases[i].in, &t, &err) != 0) {
                print_error("rejected \"%s\": %s\n", cases[i].in, err.msg);
                fail();
            }
            assert_true(t == cases[i].want);
        } else {
            if (m2msec_timestamp_parse(cases[i].in, &t, &err) != -1) {
                print_error("accepted \"%s\"\n", cases[i].in);
                fail();
            }
            assert_true(t == 42);
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
        }
    }
}

static void
test_timestamp_format(void **state)
{
    struct m2msec_error err;
    char out[M2MSEC_TIMESTAMP_LEN];
    int64_t t;
    int64_t back;

    (void)state;
    assert_int_equal(m2msec_timestamp_format(1795384054, out), 0);
    assert_string_equal(out, "20261122T214734");
    assert_int_equal(m2msec_timestamp_format(0, out), 0);
    assert_string_equal(out, "19700101T000000");
    assert_int_equal(m2msec_timestamp_format(-1, out), 0);
    assert_string_equal(out, "19691231T235959");
    assert_int_equal(m2msec_timestamp_format(1709164800, out), 0);
    assert_string_equal(out, "20240229T000000");
    /* Four-digit years only. */
    assert_int_equal(m2msec_timestamp_format(253402300799LL, out), 0);
    assert_string_equal(out, "99991231T235959");
    assert_int_equal(m2msec_timestamp_format(253402300800LL, out), -1);
    assert_int_equal(m2msec_timestamp_format(-62167219200LL, out), 0);
    assert_string_equal(out, "00000101T000000");
    assert_int_equal(m2msec_timestamp_format(-62167219201LL, out), -1);
    assert_int_equal(m2msec_timestamp_format(INT64_MAX, out), -1);
    assert_int_equal(m2msec_timestamp_format(INT64_MIN, out), -1);

    /* Round trip over the whole range with an odd stride (hits every month and second). */
    for (t = -62167219200LL; t <= 253402300799LL; t += 7777777 + 13) {
        assert_int_equal(m2msec_timestamp_format(t, out), 0);
        assert_int_equal(strlen(out), M2MSEC_TIMESTAMP_LEN - 1);
        assert_int_equal(m2msec_timestamp_parse(out, &back, &err), 0);
        assert_true(back == t);
    }
}

static void
test_clock(void **state)
{
    int64_t t0;
    int64_t t1;
    int64_t t2;
    uint64_t m0;
    uint64_t m1;

    (void)state;
    t0 = m2msec_now();
    assert_true(t0 > 1700000000); /* after 2023: the clock is real */
    m2msec_test_clock_offset(1000000);
    t1 = m2msec_now();
    assert_true(t1 - t0 >= 1000000);
    m2msec_test_clock_offset(-1000000);
    t2 = m2msec_now();
    assert_true(t2 < t1 - 1000000);
    m2msec_test_clock_offset(0);
    assert_true(m2msec_now() >= t0);
    assert_true(m2msec_now() < t1);

    m0 = m2msec_monotonic_ms();
    m1 = m2msec_monotonic_ms();
    assert_true(m1 >= m0);
    assert_true(m0 > 0);
}

/*
 * unicode
 */

struct nfkc_case {
    const char *in;
    int ok;
    const char *want;
};

static void
test_nfkc(void **state)
{
    static const struct nfkc_case cases[] = {
        { "\xef\xac\x81", 1, "fi" },                          /* U+FB01 ligature */
        { "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3", 1, "ABC" }, /* fullwidth */
        { "e\xcc\x81", 1, "\xc3\xa9" },                       /* e + U+0301 -> U+00E9 */
        { "\xe2\x84\xab", 1, "\xc3\x85" },                    /* U+212B ANGSTROM SIGN */
        { "\xc2\xb2", 1, "2" },                               /* superscript two */
        { "mef.example.com", 1, "mef.example.com" },
        { "C-AE1/x_y", 1, "C-AE1/x_y" },
        { "\xc3\xa9", 1, "\xc3\xa9" }, /* already NFC */
        { "", 1, "" },
        { "\xff", 0, NULL },
        { "abc\xff", 0, NULL },
        { "\xc0\xaf", 0, NULL },         /* overlong '/' */
        { "\xed\xa0\x80", 0, NULL },     /* surrogate */
        { "\xc3", 0, NULL },             /* truncated */
        { "\xf4\x90\x80\x80", 0, NULL }, /* above U+10FFFF */
    };
    struct m2msec_error err;
    char *out = NULL;
    size_t n;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        out = NULL;
        n = 99;
        m2msec_error_clear(&err);
        if (cases[i].ok) {
            if (m2msec_nfkc(cases[i].in, &out, &n, &err) != 0) {
                print_error("case %zu rejected: %s\n", i, err.msg);
                fail();
            }
            assert_string_equal(out, cases[i].want);
            assert_int_equal(n, strlen(cases[i].want));
            m2msec_free(out);
        } else {
            if (m2msec_nfkc(cases[i].in, &out, &n, &err) != -1) {
                print_error("case %zu accepted\n", i);
                m2msec_free(out);
                fail();
            }
            assert_null(out);
            assert_int_equal(n, 99);
            assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_INVALID_ARGUMENT);
        }
    }
    /* outlen is optional */
    assert_int_equal(m2msec_nfkc("x", &out, NULL, &err), 0);
    assert_string_equal(out, "x");
    m2msec_free(out);
    out = NULL;
    /* Allocation failure is a clean NOMEM. */
    m2msec_test_fail_alloc_at(1);
    assert_int_equal(m2msec_nfkc("\xef\xac\x81", &out, &n, &err), -1);
    m2msec_test_fail_alloc_at(0);
    assert_int_equal(m2msec_error_code(&err), M2MSEC_ERR_NOMEM);
    assert_null(out);
}

static void
test_utf8_valid(void **state)
{
    (void)state;
    assert_int_equal(m2msec_utf8_valid("abc", 3), 1);
    assert_int_equal(m2msec_utf8_valid("a\0b", 3), 0); /* embedded NUL */
    assert_int_equal(m2msec_utf8_valid("a\0b", 1), 1);
    assert_int_equal(m2msec_utf8_valid("\xc3\xa9", 2), 1);
    assert_int_equal(m2msec_utf8_valid("\xc3\xa9", 1), 0); /* cut inside a sequence */
    assert_int_equal(m2msec_utf8_valid("\xf0\x9f\x98\x80", 4), 1);
    assert_int_equal(m2msec_utf8_valid("\xf8\x88\x80\x80\x80", 5), 0);
    assert_int_equal(m2msec_utf8_valid("", 0), 1);
}

static int
group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "%s", "/tmp/m2msec-util-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    static const char *const names[] = { "good.hex", "bad.hex", "odd.hex", "empty.hex", "big.hex" };
    char path[256];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(names); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        (void)unlink(path);
    }
    return rmdir(tmpdir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_error_set),
        cmocka_unit_test(test_error_wrap_copy_truncation),
        cmocka_unit_test(test_error_openssl),
        cmocka_unit_test(test_mem_fail_at),
        cmocka_unit_test(test_mem_fail_at_threads),
        cmocka_unit_test(test_secret_basic),
        cmocka_unit_test(test_secret_random),
        cmocka_unit_test(test_secret_nomem),
        cmocka_unit_test(test_secret_from_hex),
        cmocka_unit_test(test_secret_load_hex_file),
        cmocka_unit_test(test_secret_ct_wipe),
        cmocka_unit_test(test_buf_bounds),
        cmocka_unit_test(test_buf_appendf_consume_reset),
        cmocka_unit_test(test_buf_nomem),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_b64_rfc4648),
        cmocka_unit_test(test_b64_reject),
        cmocka_unit_test(test_b64_roundtrip),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_timestamp_parse),
        cmocka_unit_test(test_timestamp_format),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_nfkc),
        cmocka_unit_test(test_utf8_valid),
        /* last: the secure heap stays initialised for the rest of the process */
        cmocka_unit_test(test_secure_heap),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
