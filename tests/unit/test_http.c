/*
 * tests/unit/test_http.c - unit tests for src/lib/http.
 *
 * Covers request parsing (the four methods, pipelining, byte-by-byte input,
 * chunked bodies), every limit at its boundary (header block 8192/8193 bytes,
 * 32/33 headers, body 65536/65537), method / target / line-ending rejections,
 * response framing by Content-Length and by connection close, the writers'
 * exact bytes and refusals, header lookup, and the RSC -> HTTP status table.
 *
 * Line endings: the header block must use CRLF. Bare LF, bare CR and
 * obsolete line folding are rejected (test_reject_line_endings).
 */
/* cmocka needs these four first; the blank line keeps clang-format from reordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void
assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        print_error("\"%s\" does not contain \"%s\"\n", hay, needle);
        fail();
    }
}

/*
 * struct m2msec_http_header holds char * (parsed headers are owned copies), so
 * tests build theirs from literals through these copies.
 */
struct hdr_spec {
    const char *name;
    const char *value;
};

static struct m2msec_http_header *
hdrs_make(const struct hdr_spec *spec, size_t n)
{
    struct m2msec_http_header *h = calloc(n, sizeof(*h));
    size_t i;

    assert_non_null(h);
    for (i = 0; i < n; i++) {
        h[i].name = strdup(spec[i].name);
        h[i].value = strdup(spec[i].value);
        assert_non_null(h[i].name);
        assert_non_null(h[i].value);
    }
    return h;
}

static void
hdrs_free(struct m2msec_http_header *h, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

/* Feed everything at once; returns feed()'s result. */
static int
feed(struct m2msec_http_parser *p, const char *s, size_t len, size_t *consumed,
     struct m2msec_error *err)
{
    return m2msec_http_parser_feed(p, (const uint8_t *)s, len, consumed, err);
}

/* Parse one complete request (or response) that must be accepted. */
static struct m2msec_http_msg *
parse_ok(int is_request, const char *s, size_t len)
{
    struct m2msec_error err = { 0 };
    struct m2msec_http_parser *p = m2msec_http_parser_new(is_request, &err);
    struct m2msec_http_msg *m;
    size_t consumed = 0;
    int rc;

    assert_non_null(p);
    rc = feed(p, s, len, &consumed, &err);
    if (rc != 1) {
        print_error("feed returned %d: %s\n", rc, err.msg);
    }
    assert_int_equal(rc, 1);
    assert_int_equal(consumed, len);
    m = m2msec_http_parser_take(p);
    assert_non_null(m);
    m2msec_http_parser_free(p);
    return m;
}

/* Feed input that must be rejected; returns the error. */
static struct m2msec_error
parse_bad(int is_request, const char *s, size_t len)
{
    struct m2msec_error err = { 0 };
    struct m2msec_error again = { 0 };
    struct m2msec_http_parser *p = m2msec_http_parser_new(is_request, &err);
    size_t consumed = 0;

    assert_non_null(p);
    assert_int_equal(feed(p, s, len, &consumed, &err), -1);
    /* A failed parser stays failed. */
    assert_int_equal(feed(p, "GET / HTTP/1.1\r\n\r\n", 18, &consumed, &again), -1);
    assert_int_equal(m2msec_http_parser_finish(p, &again), -1);
    assert_null(m2msec_http_parser_take(p));
    m2msec_http_parser_free(p);
    return err;
}

static void
test_request_methods(void **state)
{
    static const struct {
        const char *raw;
        enum m2msec_http_method method;
        const char *target;
        const char *body;
    } cases[] = {
        { "GET /mef/reg-1?atrl=cfg HTTP/1.1\r\nHost: mef\r\n\r\n", M2MSEC_HTTP_GET,
          "/mef/reg-1?atrl=cfg", "" },
        { "POST /mef HTTP/1.1\r\nHost: mef\r\nContent-Length: 2\r\n\r\n{}", M2MSEC_HTTP_POST,
          "/mef", "{}" },
        { "PUT /mef/reg-1 HTTP/1.1\r\nHost: mef\r\nContent-Length: 5\r\n\r\nabcde", M2MSEC_HTTP_PUT,
          "/mef/reg-1", "abcde" },
        { "DELETE /mef/reg-1 HTTP/1.1\r\nHost: mef\r\n\r\n", M2MSEC_HTTP_DELETE, "/mef/reg-1", "" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct m2msec_http_msg *m = parse_ok(1, cases[i].raw, strlen(cases[i].raw));

        assert_int_equal(m->is_request, 1);
        assert_int_equal(m->method, cases[i].method);
        assert_string_equal(m->target, cases[i].target);
        assert_int_equal(m->body.len, strlen(cases[i].body));
        if (m->body.len > 0) {
            assert_memory_equal(m->body.data, cases[i].body, m->body.len);
        }
        assert_string_equal(m2msec_http_header_get(m, "Host"), "mef");
        assert_int_equal(m->keep_alive, 1);
        m2msec_http_msg_free(m);
    }
}

static void
test_request_headers(void **state)
{
    static const char raw[] = "POST /x HTTP/1.1\r\n"
                              "Host: mef.example.com\r\n"
                              "X-M2M-Origin: C-abc  \r\n"
                              "x-m2m-ri:req-1\r\n"
                              "X-Empty:\r\n"
                              "X-M2M-RI: second\r\n"
                              "Content-Length: 0\r\n"
                              "\r\n";
    struct m2msec_http_msg *m = parse_ok(1, raw, sizeof(raw) - 1);

    (void)state;
    assert_int_equal(m->nheaders, 6);
    /* Case-insensitive names, trailing whitespace trimmed, first duplicate wins. */
    assert_string_equal(m2msec_http_header_get(m, M2MSEC_HDR_ORIGIN), "C-abc");
    assert_string_equal(m2msec_http_header_get(m, "X-M2M-ORIGIN"), "C-abc");
    assert_string_equal(m2msec_http_header_get(m, M2MSEC_HDR_RI), "req-1");
    assert_string_equal(m2msec_http_header_get(m, "x-empty"), "");
    assert_null(m2msec_http_header_get(m, "X-M2M-RSC"));
    assert_null(m2msec_http_header_get(m, "X-M2M-Origi"));
    assert_int_equal(m->body.len, 0);
    m2msec_http_msg_free(m);
}

static void
test_keep_alive(void **state)
{
    static const struct {
        const char *raw;
        int keep_alive;
    } cases[] = {
        { "GET / HTTP/1.1\r\n\r\n", 1 },
        { "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0 },
        { "GET / HTTP/1.0\r\n\r\n", 0 },
        { "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct m2msec_http_msg *m = parse_ok(1, cases[i].raw, strlen(cases[i].raw));

        assert_int_equal(m->keep_alive, cases[i].keep_alive);
        m2msec_http_msg_free(m);
    }
}

static void
test_pipelined(void **state)
{
    static const char raw[] = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                              "GET /b HTTP/1.1\r\n\r\n"
                              "GET /c HT";
    const size_t first = strlen("POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    const size_t second = strlen("GET /b HTTP/1.1\r\n\r\n");
    struct m2msec_error err = { 0 };
    struct m2msec_http_parser *p = m2msec_http_parser_new(1, &err);
    struct m2msec_http_msg *m;
    size_t consumed = 0;
    size_t off = 0;

    (void)state;
    assert_non_null(p);
    assert_null(m2msec_http_parser_take(p));
    assert_int_equal(feed(p, raw, sizeof(raw) - 1, &consumed, &err), 1);
    assert_int_equal(consumed, first);
    /* Until the message is taken, nothing more is consumed. */
    assert_int_equal(feed(p, raw + first, sizeof(raw) - 1 - first, &consumed, &err), 1);
    assert_int_equal(consumed, 0);
    m = m2msec_http_parser_take(p);
    assert_non_null(m);
    assert_string_equal(m->target, "/a");
    assert_memory_equal(m->body.data, "abc", 3);
    m2msec_http_msg_free(m);
    off = first;

    assert_int_equal(feed(p, raw + off, sizeof(raw) - 1 - off, &consumed, &err), 1);
    assert_int_equal(consumed, second);
    m = m2msec_http_parser_take(p);
    assert_non_null(m);
    assert_string_equal(m->target, "/b");
    assert_int_equal(m->body.len, 0);
    m2msec_http_msg_free(m);
    off += second;

    /* The third is incomplete: consumed, not ready. */
    assert_int_equal(feed(p, raw + off, sizeof(raw) - 1 - off, &consumed, &err), 0);
    assert_int_equal(consumed, sizeof(raw) - 1 - off);
    assert_null(m2msec_http_parser_take(p));
    m2msec_http_parser_free(p);
}

static void
test_byte_by_byte(void **state)
{
    static const char raw[] = "PUT /mef/reg-1 HTTP/1.1\r\n"
                              "Host: mef\r\n"
                              "Content-Length: 11\r\n"
                              "\r\n"
                              "hello world"
                              "DELETE /mef/reg-1 HTTP/1.1\r\n\r\n";
    const size_t first = sizeof(raw) - 1 - strlen("DELETE /mef/reg-1 HTTP/1.1\r\n\r\n");
    struct m2msec_error err = { 0 };
    struct m2msec_http_parser *p = m2msec_http_parser_new(1, &err);
    struct m2msec_http_msg *m;
    size_t consumed;
    size_t i;
    int rc;

    (void)state;
    assert_non_null(p);
    for (i = 0; i < sizeof(raw) - 1; i++) {
        consumed = 99;
        rc = m2msec_http_parser_feed(p, (const uint8_t *)raw + i, 1, &consumed, &err);
        assert_int_equal(consumed, 1);
        if (i == first - 1 || i == sizeof(raw) - 2) {
            assert_int_equal(rc, 1);
            m = m2msec_http_parser_take(p);
            assert_non_null(m);
            if (i == first - 1) {
                assert_int_equal(m->method, M2MSEC_HTTP_PUT);
                assert_int_equal(m->body.len, 11);
                assert_memory_equal(m->body.data, "hello world", 11);
                assert_string_equal(m2msec_http_header_get(m, "content-length"), "11");
            } else {
                assert_int_equal(m->method, M2MSEC_HTTP_DELETE);
            }
            m2msec_http_msg_free(m);
        } else {
            assert_int_equal(rc, 0);
        }
    }
    m2msec_http_parser_free(p);
}

static void
test_chunked(void **state)
{
    static const char raw[] = "POST /c HTTP/1.1\r\n"
                              "Transfer-Encoding: chunked\r\n"
                              "\r\n"
                              "3\r\nabc\r\n"
                              "A\r\n0123456789\r\n"
                              "0\r\n\r\n";
    static const char trailer[] = "POST /c HTTP/1.1\r\n"
                                  "Transfer-Encoding: chunked\r\n"
                                  "\r\n"
                                  "3\r\nabc\r\n"
                                  "0\r\nX-Trailer: 1\r\n\r\n";
    static const char both[] = "POST /c HTTP/1.1\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "Content-Length: 3\r\n"
                               "\r\n"
                               "3\r\nabc\r\n0\r\n\r\n";
    struct m2msec_http_msg *m = parse_ok(1, raw, sizeof(raw) - 1);
    struct m2msec_error err;

    (void)state;
    assert_int_equal(m->body.len, 13);
    assert_memory_equal(m->body.data, "abc0123456789", 13);
    m2msec_http_msg_free(m);

    err = parse_bad(1, trailer, sizeof(trailer) - 1);
    assert_int_equal(err.code, M2MSEC_ERR_PROTOCOL);
    assert_int_equal(err.rsc, 4000);
    assert_contains(err.msg, "trailer");

    /* Both framings at once is the classic smuggling vector. */
    err = parse_bad(1, both, sizeof(both) - 1);
    assert_int_equal(err.rsc, 4000);
}

static void
test_chunked_too_large(void **state)
{
    struct m2msec_buf raw;
    struct m2msec_error err = { 0 };
    static char chunk[0x8000];
    int i;

    (void)state;
    memset(chunk, 'z', sizeof(chunk));
    m2msec_buf_init(&raw, 1 << 20);
    assert_int_equal(m2msec_buf_append_str(
                             &raw, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &err),
                     0);
    /* Two full chunks reach the limit exactly; the third passes it. */
    for (i = 0; i < 3; i++) {
        assert_int_equal(m2msec_buf_append_str(&raw, "8000\r\n", &err), 0);
        assert_int_equal(m2msec_buf_append(&raw, chunk, sizeof(chunk), &err), 0);
        assert_int_equal(m2msec_buf_append_str(&raw, "\r\n", &err), 0);
    }
    assert_int_equal(m2msec_buf_append_str(&raw, "0\r\n\r\n", &err), 0);
    err = parse_bad(1, (const char *)raw.data, raw.len);
    assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(err.rsc, 4000);
    m2msec_buf_free(&raw);
}

/* "GET / HTTP/1.1\r\nX-Pad: <pad>\r\n\r\n" of exactly total bytes. */
static char *
padded_request(size_t total)
{
    static const char head[] = "GET / HTTP/1.1\r\nX-Pad: ";
    static const char tail[] = "\r\n\r\n";
    size_t fixed = sizeof(head) - 1 + sizeof(tail) - 1;
    char *s = malloc(total + 1);

    assert_non_null(s);
    assert_true(total > fixed);
    memcpy(s, head, sizeof(head) - 1);
    memset(s + sizeof(head) - 1, 'p', total - fixed);
    memcpy(s + total - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
    s[total] = '\0';
    return s;
}

static void
test_header_block_limit(void **state)
{
    char *ok = padded_request(M2MSEC_HTTP_MAX_HEADER_BYTES);
    char *big = padded_request(M2MSEC_HTTP_MAX_HEADER_BYTES + 1);
    struct m2msec_http_msg *m = parse_ok(1, ok, strlen(ok));
    struct m2msec_error err;
    struct m2msec_http_parser *p;
    size_t consumed = 0;
    size_t i;
    int rc = 0;

    (void)state;
    assert_int_equal(strlen(m2msec_http_header_get(m, "X-Pad")),
                     M2MSEC_HTTP_MAX_HEADER_BYTES - strlen("GET / HTTP/1.1\r\nX-Pad: \r\n\r\n"));
    m2msec_http_msg_free(m);

    err = parse_bad(1, big, strlen(big));
    assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(err.rsc, 4000);

    /* The same boundary when the bytes arrive in small pieces. */
    p = m2msec_http_parser_new(1, &err);
    assert_non_null(p);
    for (i = 0; i < strlen(big) && rc == 0; i += 7) {
        size_t n = strlen(big) - i < 7 ? strlen(big) - i : 7;

        rc = m2msec_http_parser_feed(p, (const uint8_t *)big + i, n, &consumed, &err);
    }
    assert_int_equal(rc, -1);
    assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
    m2msec_http_parser_free(p);

    p = m2msec_http_parser_new(1, &err);
    assert_non_null(p);
    rc = 0;
    for (i = 0; i < strlen(ok) && rc == 0; i += 7) {
        size_t n = strlen(ok) - i < 7 ? strlen(ok) - i : 7;

        rc = m2msec_http_parser_feed(p, (const uint8_t *)ok + i, n, &consumed, &err);
    }
    assert_int_equal(rc, 1);
    m2msec_http_parser_free(p);

    /* Endless header bytes without a line end are cut off at the limit too. */
    memset(big, 'a', strlen(big));
    memcpy(big, "GET /", 5);
    err = parse_bad(1, big, strlen(big));
    assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
    free(ok);
    free(big);
}

static char *
many_headers(size_t n)
{
    struct m2msec_buf b;
    struct m2msec_error err;
    size_t i;
    char *s;

    m2msec_buf_init(&b, 1 << 16);
    assert_int_equal(m2msec_buf_append_str(&b, "GET / HTTP/1.1\r\n", &err), 0);
    for (i = 0; i < n; i++) {
        assert_int_equal(m2msec_buf_appendf(&b, &err, "X-H%zu: %zu\r\n", i, i), 0);
    }
    assert_int_equal(m2msec_buf_append_str(&b, "\r\n", &err), 0);
    s = strdup((const char *)b.data);
    assert_non_null(s);
    m2msec_buf_free(&b);
    return s;
}

static void
test_header_count_limit(void **state)
{
    char *ok = many_headers(M2MSEC_HTTP_MAX_HEADERS);
    char *bad = many_headers(M2MSEC_HTTP_MAX_HEADERS + 1);
    struct m2msec_http_msg *m = parse_ok(1, ok, strlen(ok));
    struct m2msec_error err;

    (void)state;
    assert_int_equal(m->nheaders, M2MSEC_HTTP_MAX_HEADERS);
    assert_string_equal(m2msec_http_header_get(m, "X-H31"), "31");
    m2msec_http_msg_free(m);
    err = parse_bad(1, bad, strlen(bad));
    assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(err.rsc, 4000);
    assert_contains(err.msg, "headers");
    free(ok);
    free(bad);
}

static void
test_body_limit(void **state)
{
    static const char head_ok[] = "POST / HTTP/1.1\r\nContent-Length: 65536\r\n\r\n";
    static const char head_bad[] = "POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n";
    char *raw = malloc(sizeof(head_ok) - 1 + M2MSEC_HTTP_MAX_BODY);
    struct m2msec_http_msg *m;
    struct m2msec_error err;

    (void)state;
    assert_non_null(raw);
    memcpy(raw, head_ok, sizeof(head_ok) - 1);
    memset(raw + sizeof(head_ok) - 1, 'b', M2MSEC_HTTP_MAX_BODY);
    m = parse_ok(1, raw, sizeof(head_ok) - 1 + M2MSEC_HTTP_MAX_BODY);
    assert_int_equal(m->body.len, M2MSEC_HTTP_MAX_BODY);
    m2msec_http_msg_free(m);
    free(raw);

    /* Refused on the header block alone, before any body byte arrives. */
    err = parse_bad(1, head_bad, sizeof(head_bad) - 1);
    assert_int_equal(err.code, M2MSEC_ERR_TOO_LARGE);
    assert_int_equal(err.rsc, 4000);
    assert_contains(err.msg, "body");
}

static void
test_reject_requests(void **state)
{
    static const struct {
        const char *name;
        const char *raw;
        int rsc;
        enum m2msec_err code;
    } cases[] = {
        { "PATCH", "PATCH /x HTTP/1.1\r\n\r\n", 4005, M2MSEC_ERR_PROTOCOL },
        { "HEAD", "HEAD /x HTTP/1.1\r\n\r\n", 4005, M2MSEC_ERR_PROTOCOL },
        { "OPTIONS *", "OPTIONS * HTTP/1.1\r\n\r\n", 4005, M2MSEC_ERR_PROTOCOL },
        { "CONNECT", "CONNECT mef:443 HTTP/1.1\r\n\r\n", 4005, M2MSEC_ERR_PROTOCOL },
        { "garbage", "\x01\x02\x03 hello\r\n\r\n", 4000, M2MSEC_ERR_PROTOCOL },
        { "no version", "GET /\r\n\r\n", 4000, M2MSEC_ERR_PROTOCOL },
        { "lowercase method", "get / HTTP/1.1\r\n\r\n", 4000, M2MSEC_ERR_PROTOCOL },
        { "absolute target", "GET http://mef/x HTTP/1.1\r\n\r\n", 4000, M2MSEC_ERR_PROTOCOL },
        { "authority target", "GET mef:443 HTTP/1.1\r\n\r\n", 4000, M2MSEC_ERR_PROTOCOL },
        { "HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 4000, M2MSEC_ERR_PROTOCOL },
        { "HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 4000, M2MSEC_ERR_PROTOCOL },
        { "space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 4000, M2MSEC_ERR_PROTOCOL },
        { "NUL in value", "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 4000, M2MSEC_ERR_PROTOCOL },
        { "DEL in value", "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", 4000, M2MSEC_ERR_PROTOCOL },
        { "two lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
          4000, M2MSEC_ERR_PROTOCOL },
        { "bad length", "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\nab", 4000,
          M2MSEC_ERR_PROTOCOL },
        { "upgrade", "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 4000,
          M2MSEC_ERR_PROTOCOL },
        { "bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 4000,
          M2MSEC_ERR_PROTOCOL },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        /* sizeof would include the NUL case's embedded byte; strlen would stop at it. */
        size_t len = strlen(cases[i].raw);
        struct m2msec_error err;

        if (strcmp(cases[i].name, "NUL in value") == 0) {
            len = sizeof("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n") - 1;
        }
        err = parse_bad(1, cases[i].raw, len);
        if (err.rsc != cases[i].rsc || err.code != cases[i].code) {
            print_error("case %s: rsc %d code %d (%s)\n", cases[i].name, err.rsc, (int)err.code,
                        err.msg);
        }
        assert_int_equal(err.rsc, cases[i].rsc);
        assert_int_equal(err.code, cases[i].code);
    }
}

static void
test_reject_line_endings(void **state)
{
    static const struct {
        const char *name;
        const char *raw;
        const char *want;
    } cases[] = {
        { "bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", "bare LF" },
        { "bare LF after header", "GET / HTTP/1.1\r\nHost: a\n\r\n", "bare LF" },
        { "bare LF final line", "GET / HTTP/1.1\r\nHost: a\r\n\n", "bare LF" },
        { "bare CR", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", "" },
        { "folding", "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", "folding" },
        { "folding tab", "GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", "folding" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct m2msec_error err = parse_bad(1, cases[i].raw, strlen(cases[i].raw));

        assert_int_equal(err.rsc, 4000);
        assert_int_equal(err.code, M2MSEC_ERR_PROTOCOL);
        assert_contains(err.msg, cases[i].want);
    }
    /* The CRLF neighbour of the first case is accepted. */
    m2msec_http_msg_free(parse_ok(1, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27));
}

static void
test_after_close(void **state)
{
    static const char raw[] = "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    const size_t first = strlen("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    struct m2msec_error err = { 0 };
    struct m2msec_http_parser *p = m2msec_http_parser_new(1, &err);
    struct m2msec_http_msg *m;
    size_t consumed = 0;

    (void)state;
    assert_non_null(p);
    assert_int_equal(feed(p, raw, sizeof(raw) - 1, &consumed, &err), 1);
    assert_int_equal(consumed, first);
    m = m2msec_http_parser_take(p);
    assert_non_null(m);
    assert_int_equal(m->keep_alive, 0);
    m2msec_http_msg_free(m);
    /* Nothing may follow a Connection: close request. */
    assert_int_equal(feed(p, raw + first, sizeof(raw) - 1 - first, &consumed, &err), -1);
    assert_int_equal(err.rsc, 4000);
    m2msec_http_parser_free(p);
}

static void
test_response_content_length(void **state)
{
    static const char raw[] = "HTTP/1.1 201 Created\r\n"
                              "X-M2M-RSC: 2001\r\n"
                              "Content-Length: 2\r\n"
                              "\r\n"
                              "{}"
                              "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    const size_t first = strlen("HTTP/1.1 201 Created\r\nX-M2M-RSC: 2001\r\n"
                                "Content-Length: 2\r\n\r\n{}");
    struct m2msec_error err = { 0 };
    struct m2msec_http_parser *p = m2msec_http_parser_new(0, &err);
    struct m2msec_http_msg *m;
    size_t consumed = 0;

    (void)state;
    assert_non_null(p);
    assert_int_equal(feed(p, raw, sizeof(raw) - 1, &consumed, &err), 1);
    assert_int_equal(consumed, first);
    assert_int_equal(m2msec_http_parser_finish(p, &err), 1);
    m = m2msec_http_parser_take(p);
    assert_non_null(m);
    assert_int_equal(m->is_request, 0);
    assert_int_equal(m->status, 201);
    assert_string_equal(m2msec_http_header_get(m, "x-m2m-rsc"), "2001");
    assert_int_equal(m->body.len, 2);
    assert_memory_equal(m->body.data, "{}", 2);
    assert_int_equal(m->keep_alive, 1);
    m2msec_http_msg_free(m);

    assert_int_equal(feed(p, raw + first, sizeof(raw) - 1 - first, &consumed, &err), 1);
    m = m2msec_http_parser_take(p);
    assert_non_null(m);
    assert_int_equal(m->status, 404);
    m2msec_http_msg_free(m);
    /* Clean end of stream between messages. */
    assert_int_equal(m2msec_http_parser_finish(p, &err), 0);
    m2msec_http_parser_free(p);
}

static void
test_response_close_framing(void **state)
{
    static const char raw[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello, world";
    static const char raw10[] = "HTTP/1.0 200 OK\r\n\r\n{\"a\":1}";
    struct m2msec_error err = { 0 };
    struct m2msec_http_parser *p = m2msec_http_parser_new(0, &err);
    struct m2msec_http_msg *m;
    size_t consumed = 0;

    (void)state;
    assert_non_null(p);
    assert_int_equal(feed(p, raw, sizeof(raw) - 1, &consumed, &err), 0);
    assert_int_equal(consumed, sizeof(raw) - 1);
    assert_null(m2msec_http_parser_take(p));
    assert_int_equal(m2msec_http_parser_finish(p, &err), 1);
    m = m2msec_http_parser_take(p);
    assert_non_null(m);
    assert_int_equal(m->status, 200);
    assert_int_equal(m->keep_alive, 0);
    assert_int_equal(m->body.len, 12);
    assert_memory_equal(m->body.data, "hello, world", 12);
    m2msec_http_msg_free(m);
    m2msec_http_parser_free(p);

    p = m2msec_http_parser_new(0, &err);
    assert_non_null(p);
    assert_int_equal(feed(p, raw10, sizeof(raw10) - 1, &consumed, &err), 0);
    assert_int_equal(m2msec_http_parser_finish(p, &err), 1);
    m = m2msec_http_parser_take(p);
    assert_non_null(m);
    assert_int_equal(m->body.len, 7);
    m2msec_http_msg_free(m);
    m2msec_http_parser_free(p);
}

static void
test_response_truncated(void **state)
{
    static const char *const cases[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nContent-Le",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        "HTTP/1",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct m2msec_error err = { 0 };
        struct m2msec_http_parser *p = m2msec_http_parser_new(0, &err);
        size_t consumed = 0;

        assert_non_null(p);
        assert_int_equal(feed(p, cases[i], strlen(cases[i]), &consumed, &err), 0);
        assert_int_equal(m2msec_http_parser_finish(p, &err), -1);
        assert_int_equal(err.code, M2MSEC_ERR_PROTOCOL);
        assert_null(m2msec_http_parser_take(p));
        m2msec_http_parser_free(p);
    }
}

static void
test_response_rejects(void **state)
{
    static const char *const cases[] = {
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 600 Weird\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n",
        "SIP/2.0 200 OK\r\n\r\n",
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct m2msec_error err = parse_bad(0, cases[i], strlen(cases[i]));

        assert_int_equal(err.rsc, 4000);
    }
    /* The neighbour that is accepted. */
    m2msec_http_msg_free(parse_ok(0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38));
}

static void
test_write_request(void **state)
{
    static const struct hdr_spec spec[] = {
        { M2MSEC_HDR_ORIGIN, "C-abc" },
        { M2MSEC_HDR_RI, "req-1" },
        { "Content-Type", "application/json" },
    };
    struct m2msec_http_header *hdrs = hdrs_make(spec, ARRAY_LEN(spec));
    static const char want[] = "POST /mef/enrol HTTP/1.1\r\n"
                               "Host: mef.example.com\r\n"
                               "X-M2M-Origin: C-abc\r\n"
                               "X-M2M-RI: req-1\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 2\r\n"
                               "\r\n"
                               "{}";
    static const char want_get[] = "GET /x HTTP/1.1\r\nHost: h:8443\r\nContent-Length: 0\r\n\r\n";
    struct m2msec_error err = { 0 };
    struct m2msec_http_msg *m;
    struct m2msec_buf out;

    (void)state;
    m2msec_buf_init(&out, 1 << 20);
    assert_int_equal(m2msec_http_write_request(&out, M2MSEC_HTTP_POST, "/mef/enrol",
                                               "mef.example.com", hdrs, ARRAY_LEN(spec),
                                               (const uint8_t *)"{}", 2, &err),
                     0);
    assert_int_equal(out.len, sizeof(want) - 1);
    assert_memory_equal(out.data, want, sizeof(want) - 1);

    /* What the writer produces, the parser accepts with the same content. */
    m = parse_ok(1, (const char *)out.data, out.len);
    assert_int_equal(m->method, M2MSEC_HTTP_POST);
    assert_string_equal(m->target, "/mef/enrol");
    assert_string_equal(m2msec_http_header_get(m, "host"), "mef.example.com");
    assert_string_equal(m2msec_http_header_get(m, M2MSEC_HDR_RI), "req-1");
    assert_memory_equal(m->body.data, "{}", 2);
    m2msec_http_msg_free(m);

    m2msec_buf_reset(&out);
    assert_int_equal(m2msec_http_write_request(&out, M2MSEC_HTTP_GET, "/x", "h:8443", NULL, 0, NULL,
                                               0, &err),
                     0);
    assert_int_equal(out.len, sizeof(want_get) - 1);
    assert_memory_equal(out.data, want_get, sizeof(want_get) - 1);
    m2msec_buf_free(&out);
    hdrs_free(hdrs, ARRAY_LEN(spec));
}

static void
test_write_response(void **state)
{
    static const struct hdr_spec spec[] = {
        { M2MSEC_HDR_RSC, "2001" },
        { M2MSEC_HDR_RI, "req-1" },
    };
    struct m2msec_http_header *hdrs = hdrs_make(spec, ARRAY_LEN(spec));
    static const char want[] = "HTTP/1.1 201 Created\r\n"
                               "X-M2M-RSC: 2001\r\n"
                               "X-M2M-RI: req-1\r\n"
                               "Content-Length: 2\r\n"
                               "Connection: keep-alive\r\n"
                               "\r\n"
                               "{}";
    static const char want_close[] = "HTTP/1.1 404 Not Found\r\n"
                                     "Content-Length: 0\r\n"
                                     "Connection: close\r\n"
                                     "\r\n";
    struct m2msec_error err = { 0 };
    struct m2msec_http_msg *m;
    struct m2msec_buf out;

    (void)state;
    m2msec_buf_init(&out, 1 << 20);
    assert_int_equal(m2msec_http_write_response(&out, 201, hdrs, ARRAY_LEN(spec),
                                                (const uint8_t *)"{}", 2, 1, &err),
                     0);
    assert_int_equal(out.len, sizeof(want) - 1);
    assert_memory_equal(out.data, want, sizeof(want) - 1);
    m = parse_ok(0, (const char *)out.data, out.len);
    assert_int_equal(m->status, 201);
    assert_int_equal(m->keep_alive, 1);
    assert_string_equal(m2msec_http_header_get(m, M2MSEC_HDR_RSC), "2001");
    m2msec_http_msg_free(m);

    m2msec_buf_reset(&out);
    assert_int_equal(m2msec_http_write_response(&out, 404, NULL, 0, NULL, 0, 0, &err), 0);
    assert_int_equal(out.len, sizeof(want_close) - 1);
    assert_memory_equal(out.data, want_close, sizeof(want_close) - 1);
    m = parse_ok(0, (const char *)out.data, out.len);
    assert_int_equal(m->keep_alive, 0);
    m2msec_http_msg_free(m);
    m2msec_buf_free(&out);
    hdrs_free(hdrs, ARRAY_LEN(spec));
}

static void
test_write_rejects(void **state)
{
    static const struct {
        const char *name;
        enum m2msec_http_method method;
        const char *target;
        const char *host;
        struct hdr_spec hdr;
        size_t bodylen;
    } cases[] = {
        { "ok", M2MSEC_HTTP_GET, "/x", "h", { "X-A", "b" }, 0 },
        { "bad method", (enum m2msec_http_method)0, "/x", "h", { "X-A", "b" }, 0 },
        { "bad method high", (enum m2msec_http_method)9, "/x", "h", { "X-A", "b" }, 0 },
        { "relative target", M2MSEC_HTTP_GET, "x", "h", { "X-A", "b" }, 0 },
        { "space in target", M2MSEC_HTTP_GET, "/x y", "h", { "X-A", "b" }, 0 },
        { "CRLF in target", M2MSEC_HTTP_GET, "/x\r\nX: y", "h", { "X-A", "b" }, 0 },
        { "empty host", M2MSEC_HTTP_GET, "/x", "", { "X-A", "b" }, 0 },
        { "CRLF in host", M2MSEC_HTTP_GET, "/x", "h\r\nX: y", { "X-A", "b" }, 0 },
        { "CRLF in value", M2MSEC_HTTP_GET, "/x", "h", { "X-A", "b\r\nX-Evil: 1" }, 0 },
        { "LF in value", M2MSEC_HTTP_GET, "/x", "h", { "X-A", "b\nc" }, 0 },
        { "tab in value", M2MSEC_HTTP_GET, "/x", "h", { "X-A", "b\tc" }, 0 },
        { "UTF-8 in value", M2MSEC_HTTP_GET, "/x", "h", { "X-A", "caf\xc3\xa9" }, 0 },
        { "space in name", M2MSEC_HTTP_GET, "/x", "h", { "X A", "b" }, 0 },
        { "colon in name", M2MSEC_HTTP_GET, "/x", "h", { "X:A", "b" }, 0 },
        { "empty name", M2MSEC_HTTP_GET, "/x", "h", { "", "b" }, 0 },
        { "own Content-Length", M2MSEC_HTTP_GET, "/x", "h", { "content-length", "5" }, 0 },
        { "own Host", M2MSEC_HTTP_GET, "/x", "h", { "HOST", "evil" }, 0 },
        { "Transfer-Encoding", M2MSEC_HTTP_GET, "/x", "h", { "Transfer-Encoding", "chunked" }, 0 },
        { "body too large", M2MSEC_HTTP_POST, "/x", "h", { "X-A", "b" }, M2MSEC_HTTP_MAX_BODY + 1 },
    };
    static uint8_t body[M2MSEC_HTTP_MAX_BODY + 1];
    struct m2msec_buf out;
    size_t i;

    (void)state;
    m2msec_buf_init(&out, 1 << 20);
    assert_int_equal(m2msec_buf_append_str(&out, "keep", NULL), 0);
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        struct m2msec_error err = { 0 };
        struct m2msec_http_header *h = hdrs_make(&cases[i].hdr, 1);
        int rc = m2msec_http_write_request(&out, cases[i].method, cases[i].target, cases[i].host, h,
                                           1, body, cases[i].bodylen, &err);

        hdrs_free(h, 1);
        if (i == 0) {
            assert_int_equal(rc, 0);
            m2msec_buf_reset(&out);
            assert_int_equal(m2msec_buf_append_str(&out, "keep", NULL), 0);
            continue;
        }
        if (rc != -1) {
            print_error("case %s accepted\n", cases[i].name);
        }
        assert_int_equal(rc, -1);
        assert_true(err.code == M2MSEC_ERR_INVALID_ARGUMENT || err.code == M2MSEC_ERR_TOO_LARGE);
        /* A refused write leaves the output untouched. */
        assert_int_equal(out.len, 4);
        assert_memory_equal(out.data, "keep", 4);
    }

    /* Response writer refusals. */
    {
        static const struct hdr_spec spec[] = { { "Connection", "close" }, { "X-A", "a\r\nb" } };
        struct m2msec_http_header *h = hdrs_make(spec, ARRAY_LEN(spec));
        struct m2msec_error err = { 0 };

        assert_int_equal(m2msec_http_write_response(&out, 99, NULL, 0, NULL, 0, 1, &err), -1);
        assert_int_equal(m2msec_http_write_response(&out, 600, NULL, 0, NULL, 0, 1, &err), -1);
        assert_int_equal(m2msec_http_write_response(&out, 200, &h[0], 1, NULL, 0, 1, &err), -1);
        assert_int_equal(m2msec_http_write_response(&out, 200, &h[1], 1, NULL, 0, 1, &err), -1);
        assert_int_equal(m2msec_http_write_response(&out, 200, NULL, 0, NULL, 3, 1, &err), -1);
        assert_int_equal(m2msec_http_write_response(&out, 200, NULL, 0, body,
                                                    M2MSEC_HTTP_MAX_BODY + 1, 1, &err),
                         -1);
        assert_int_equal(out.len, 4);
        /* Neighbour: 599 is still a valid status code for the writer. */
        assert_int_equal(m2msec_http_write_response(&out, 599, NULL, 0, NULL, 0, 1, &err), 0);
        hdrs_free(h, ARRAY_LEN(spec));
    }
    m2msec_buf_free(&out);
}

static void
test_header_value_safe(void **state)
{
    static const struct {
        const char *v;
        int safe;
    } cases[] = {
        { "C-abc", 1 }, { "", 1 },     { " ~", 1 },   { "a\tb", 0 },        { "a\r", 0 },
        { "a\n", 0 },   { "\x7f", 0 }, { "\x1f", 0 }, { "caf\xc3\xa9", 0 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        assert_int_equal(m2msec_http_header_value_safe(cases[i].v), cases[i].safe);
    }
    assert_int_equal(m2msec_http_header_value_safe(NULL), 0);
}

static void
test_status_mapping(void **state)
{
    static const struct {
        int rsc;
        int status;
    } cases[] = {
        { 2000, 200 }, { 2002, 200 }, { 2004, 200 }, { 2001, 201 }, { 4000, 400 }, { 4102, 400 },
        { 4103, 403 }, { 4106, 403 }, { 4107, 403 }, { 4004, 404 }, { 4005, 405 }, { 4008, 504 },
        { 4105, 409 }, { 5000, 500 }, { 5001, 501 }, { 4001, 400 }, { 4999, 400 }, { 4123, 400 },
        { 5002, 500 }, { 5999, 500 }, { 5106, 409 }, { 4015, 415 }, { 6023, 400 }, { 6024, 400 },
        { 0, 500 },    { -1, 500 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        if (m2msec_http_status_for_rsc(cases[i].rsc) != cases[i].status) {
            print_error("rsc %d\n", cases[i].rsc);
        }
        assert_int_equal(m2msec_http_status_for_rsc(cases[i].rsc), cases[i].status);
    }
    /* The enum values map as the table says. */
    assert_int_equal(m2msec_http_status_for_rsc(M2MSEC_RSC_REQUEST_TIMEOUT), 504);
    assert_int_equal(m2msec_http_status_for_rsc(M2MSEC_RSC_CONFLICT), 409);
    assert_string_equal(m2msec_http_reason(200), "OK");
    assert_string_equal(m2msec_http_reason(405), "Method Not Allowed");
    assert_string_equal(m2msec_http_reason(504), "Gateway Timeout");
    assert_string_equal(m2msec_http_reason(299), "Unknown");
    assert_string_equal(m2msec_http_method_name(M2MSEC_HTTP_GET), "GET");
    assert_string_equal(m2msec_http_method_name(M2MSEC_HTTP_POST), "POST");
    assert_string_equal(m2msec_http_method_name(M2MSEC_HTTP_PUT), "PUT");
    assert_string_equal(m2msec_http_method_name(M2MSEC_HTTP_DELETE), "DELETE");
    assert_null(m2msec_http_method_name((enum m2msec_http_method)0));
}

#ifdef M2MSEC_TESTING
/* Every allocation of a parse and a write fails in turn: clean NOMEM, no leak, no crash. */
static void
test_alloc_failures(void **state)
{
    static const char raw[] =
            "POST /x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc";
    unsigned long n;
    int saw_nomem = 0;

    (void)state;
    for (n = 1; n < 64; n++) {
        struct m2msec_error err = { 0 };
        struct m2msec_http_parser *p = NULL;
        struct m2msec_http_msg *m = NULL;
        struct m2msec_buf out;
        size_t consumed = 0;
        int rc;

        m2msec_test_fail_alloc_at(n);
        p = m2msec_http_parser_new(1, &err);
        if (p != NULL) {
            rc = feed(p, raw, sizeof(raw) - 1, &consumed, &err);
            if (rc == 1) {
                m = m2msec_http_parser_take(p);
                assert_non_null(m);
            } else {
                assert_int_equal(rc, -1);
                assert_int_equal(err.code, M2MSEC_ERR_NOMEM);
                saw_nomem = 1;
            }
            m2msec_http_msg_free(m);
            m2msec_http_parser_free(p);
        } else {
            assert_int_equal(err.code, M2MSEC_ERR_NOMEM);
            saw_nomem = 1;
        }
        m2msec_buf_init(&out, 1024);
        rc = m2msec_http_write_request(&out, M2MSEC_HTTP_GET, "/x", "h", NULL, 0, NULL, 0, &err);
        assert_true(rc == 0 || err.code == M2MSEC_ERR_NOMEM);
        m2msec_buf_free(&out);
    }
    m2msec_test_fail_alloc_at(0);
    assert_true(saw_nomem);
}
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_methods),
        cmocka_unit_test(test_request_headers),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_chunked_too_large),
        cmocka_unit_test(test_header_block_limit),
        cmocka_unit_test(test_header_count_limit),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_reject_requests),
        cmocka_unit_test(test_reject_line_endings),
        cmocka_unit_test(test_after_close),
        cmocka_unit_test(test_response_content_length),
        cmocka_unit_test(test_response_close_framing),
        cmocka_unit_test(test_response_truncated),
        cmocka_unit_test(test_response_rejects),
        cmocka_unit_test(test_write_request),
        cmocka_unit_test(test_write_response),
        cmocka_unit_test(test_write_rejects),
        cmocka_unit_test(test_header_value_safe),
        cmocka_unit_test(test_status_mapping),
#ifdef M2MSEC_TESTING
        cmocka_unit_test(test_alloc_failures),
#endif
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
