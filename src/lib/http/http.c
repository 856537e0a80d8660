/*
 * http/http.c - bounded HTTP/1.1 framing on top of http-parser 2.9.
 *
 * Layer: http. Depends on util only, never on sockets or TLS: callers feed the
 * bytes they read and send the bytes the writers produce. http-parser does
 * the tokenising; this file adds what it leaves to the application:
 *
 * - the header block (request or status line, header lines and the empty
 *   line) is at most M2MSEC_HTTP_MAX_HEADER_BYTES, counted exactly: the parser
 *   is paused in on_headers_complete, so the byte offset of the end of the
 *   block is known;
 * - at most M2MSEC_HTTP_MAX_HEADERS headers, bodies of at most
 *   M2MSEC_HTTP_MAX_BODY bytes (a larger Content-Length fails as soon as the
 *   headers are complete, chunked bodies fail when they grow past it);
 * - only GET, POST, PUT and DELETE (others: rsc 4005), targets in origin form
 *   ("/..."), HTTP/1.0 or 1.1 only, no Upgrade, no chunked trailers;
 * - every line of the header block ends in CRLF: bare LF, bare CR and
 *   obsolete line folding are rejected, because a peer or proxy splitting
 *   lines differently is the root of request smuggling;
 * - after a message completes the parser stays paused, so pipelined bytes are
 *   left to the caller (*consumed) until the message is taken.
 */
#include <string.h>

#include <http_parser.h>

#include "http/http.h"
#include "util/encoding.h"
#include "util/mem.h"

enum http_state {
    HS_IDLE = 0, /* between messages */
    HS_HEADERS,  /* message begun, header block not complete */
    HS_BODY,     /* header block complete */
    HS_DONE,     /* message complete, waiting for take */
    HS_FAILED,   /* malformed input; the connection must be closed */
};

struct m2msec_http_parser {
    http_parser hp;
    int is_request;
    enum http_state state;
    struct m2msec_http_msg *msg;
    size_t hdr_bytes;   /* header block bytes seen so far */
    unsigned char prev; /* previous header block byte, for the CRLF rules */
    int headers_paused; /* on_headers_complete paused the parser */
    int value_seen;     /* the current header has a value; next field starts a new one */
    int closed;         /* a message without keep-alive was taken: nothing may follow */
    struct m2msec_buf url;
    struct m2msec_buf field;
    struct m2msec_buf value;
    struct m2msec_error err; /* set by a failing callback */
    int cb_failed;
};

/* RFC 7230 tchar */
static int
http_tchar(char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr(extra, c) != NULL);
}

/* RFC 7230 token: 1*tchar */
static int
http_token_okn(const char *s, size_t n)
{
    size_t i;

    if (n == 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!http_tchar(s[i])) {
            return 0;
        }
    }
    return 1;
}

/*
 * Callbacks. A failing callback records the error in p->err and returns
 * non-zero, which makes http_parser_execute stop with HPE_CB_*.
 */

static int
http_cb_fail(struct m2msec_http_parser *p, enum m2msec_err code, int rsc, const char *what)
{
    if (!p->cb_failed) {
        p->cb_failed = 1;
        m2msec_error_setr(&p->err, code, rsc, "HTTP: %s", what);
    }
    return -1;
}

/* An append to a bounded buffer failed: TOO_LARGE stays TOO_LARGE, with rsc 4000. */
static int
http_cb_fail_buf(struct m2msec_http_parser *p, const struct m2msec_error *e, const char *what)
{
    if (e->code == M2MSEC_ERR_NOMEM) {
        return http_cb_fail(p, M2MSEC_ERR_NOMEM, M2MSEC_RSC_INTERNAL_SERVER_ERROR, "out of memory");
    }
    return http_cb_fail(p, M2MSEC_ERR_TOO_LARGE, M2MSEC_RSC_BAD_REQUEST, what);
}

static int
http_on_message_begin(http_parser *hp)
{
    struct m2msec_http_parser *p = hp->data;
    struct m2msec_http_msg *m;

    m = m2msec_calloc(1, sizeof(*m));
    if (m == NULL) {
        return http_cb_fail(p, M2MSEC_ERR_NOMEM, M2MSEC_RSC_INTERNAL_SERVER_ERROR, "out of memory");
    }
    m->is_request = p->is_request;
    m2msec_buf_init(&m->body, M2MSEC_HTTP_MAX_BODY);
    p->msg = m;
    p->state = HS_HEADERS;
    p->value_seen = 0;
    m2msec_buf_reset(&p->url);
    m2msec_buf_reset(&p->field);
    m2msec_buf_reset(&p->value);
    return 0;
}

static int
http_method_from_parser(unsigned method, enum m2msec_http_method *out)
{
    switch (method) {
    case HTTP_GET:
        *out = M2MSEC_HTTP_GET;
        return 0;
    case HTTP_POST:
        *out = M2MSEC_HTTP_POST;
        return 0;
    case HTTP_PUT:
        *out = M2MSEC_HTTP_PUT;
        return 0;
    case HTTP_DELETE:
        *out = M2MSEC_HTTP_DELETE;
        return 0;
    default:
        return -1;
    }
}

/* @spec TS-0009 6.2.1: oneM2M maps its operations onto these four methods only. */
static int
http_check_method(struct m2msec_http_parser *p)
{
    if (http_method_from_parser(p->hp.method, &p->msg->method) == -1) {
        return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_OPERATION_NOT_ALLOWED,
                            "method not allowed");
    }
    return 0;
}

static int
http_on_url(http_parser *hp, const char *at, size_t len)
{
    struct m2msec_http_parser *p = hp->data;
    struct m2msec_error e;

    /* The method is known once the target starts: refuse early. */
    if (p->url.len == 0 && http_check_method(p) == -1) {
        return -1;
    }
    if (m2msec_buf_append(&p->url, at, len, &e) == -1) {
        return http_cb_fail_buf(p, &e, "request target too long");
    }
    return 0;
}

/* Store the header collected in p->field / p->value. */
static int
http_commit_header(struct m2msec_http_parser *p)
{
    struct m2msec_http_msg *m = p->msg;
    struct m2msec_http_header *h;
    size_t vlen = p->value.len;
    const char *v = p->value.len > 0 ? (const char *)p->value.data : "";

    if (p->field.len == 0) {
        return 0;
    }
    if (m->nheaders == M2MSEC_HTTP_MAX_HEADERS) {
        return http_cb_fail(p, M2MSEC_ERR_TOO_LARGE, M2MSEC_RSC_BAD_REQUEST, "too many headers");
    }
    /* http-parser drops leading whitespace of a value but keeps trailing (RFC 7230 OWS). */
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
        vlen--;
    }
    /* RFC 7230 3.2.4: whitespace before the colon must be refused, not trimmed. */
    if (!http_token_okn((const char *)p->field.data, p->field.len)) {
        return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST, "invalid header name");
    }
    if (memchr(v, '\0', vlen) != NULL || memchr(v, '\r', vlen) != NULL ||
        memchr(v, '\n', vlen) != NULL) {
        return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                            "control character in header");
    }
    h = &m->headers[m->nheaders];
    h->name = m2msec_strndup((const char *)p->field.data, p->field.len);
    h->value = m2msec_strndup(v, vlen);
    if (h->name == NULL || h->value == NULL) {
        m2msec_free(h->name);
        m2msec_free(h->value);
        h->name = NULL;
        h->value = NULL;
        return http_cb_fail(p, M2MSEC_ERR_NOMEM, M2MSEC_RSC_INTERNAL_SERVER_ERROR, "out of memory");
    }
    m->nheaders++;
    m2msec_buf_reset(&p->field);
    m2msec_buf_reset(&p->value);
    p->value_seen = 0;
    return 0;
}

static int
http_on_header_field(http_parser *hp, const char *at, size_t len)
{
    struct m2msec_http_parser *p = hp->data;
    struct m2msec_error e;

    if (p->state != HS_HEADERS) {
        /* Trailer fields after a chunked body: nothing we send uses them. */
        return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                            "chunked trailers not supported");
    }
    if (p->value_seen && http_commit_header(p) == -1) {
        return -1;
    }
    if (m2msec_buf_append(&p->field, at, len, &e) == -1) {
        return http_cb_fail_buf(p, &e, "header block too large");
    }
    return 0;
}

static int
http_on_header_value(http_parser *hp, const char *at, size_t len)
{
    struct m2msec_http_parser *p = hp->data;
    struct m2msec_error e;

    if (p->state != HS_HEADERS) {
        return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                            "chunked trailers not supported");
    }
    p->value_seen = 1;
    if (m2msec_buf_append(&p->value, at, len, &e) == -1) {
        return http_cb_fail_buf(p, &e, "header block too large");
    }
    return 0;
}

static int
http_on_headers_complete(http_parser *hp)
{
    struct m2msec_http_parser *p = hp->data;
    struct m2msec_http_msg *m = p->msg;

    if (http_commit_header(p) == -1) {
        return -1;
    }
    /* @spec TS-0009 6.2.3: HTTP/1.1 (1.0 peers are answered and closed). */
    if (hp->http_major != 1 || hp->http_minor > 1) {
        return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                            "unsupported HTTP version");
    }
    if (hp->upgrade) {
        return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                            "protocol upgrade not supported");
    }
    if (p->is_request) {
        if (http_check_method(p) == -1) {
            return -1;
        }
        /* @spec TS-0009 6.2.2.1: the request target is a path; no absolute or authority form. */
        if (p->url.len == 0 || p->url.data[0] != '/') {
            return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                                "request target must start with '/'");
        }
        m->target = m2msec_strndup((const char *)p->url.data, p->url.len);
        if (m->target == NULL) {
            return http_cb_fail(p, M2MSEC_ERR_NOMEM, M2MSEC_RSC_INTERNAL_SERVER_ERROR,
                                "out of memory");
        }
    } else {
        /* Interim responses are never solicited (we send no Expect: 100-continue). */
        if (hp->status_code < 200 || hp->status_code > 599) {
            return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                                "unexpected HTTP status");
        }
        m->status = (int)hp->status_code;
    }
    /* Refuse before reading a byte of a body we would refuse anyway. */
    if ((hp->flags & F_CONTENTLENGTH) != 0 && hp->content_length > M2MSEC_HTTP_MAX_BODY) {
        return http_cb_fail(p, M2MSEC_ERR_TOO_LARGE, M2MSEC_RSC_BAD_REQUEST, "body too large");
    }
    p->state = HS_BODY;
    /* Stop here so feed() learns exactly where the header block ended. */
    p->headers_paused = 1;
    http_parser_pause(hp, 1);
    return 0;
}

static int
http_on_body(http_parser *hp, const char *at, size_t len)
{
    struct m2msec_http_parser *p = hp->data;
    struct m2msec_error e;

    if (m2msec_buf_append(&p->msg->body, at, len, &e) == -1) {
        return http_cb_fail_buf(p, &e, "body too large");
    }
    return 0;
}

static int
http_on_message_complete(http_parser *hp)
{
    struct m2msec_http_parser *p = hp->data;

    p->msg->keep_alive = http_should_keep_alive(hp) ? 1 : 0;
    p->state = HS_DONE;
    /* Leave pipelined bytes unread until the caller has taken this message. */
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings http_settings = {
    .on_message_begin = http_on_message_begin,
    .on_url = http_on_url,
    .on_header_field = http_on_header_field,
    .on_header_value = http_on_header_value,
    .on_headers_complete = http_on_headers_complete,
    .on_body = http_on_body,
    .on_message_complete = http_on_message_complete,
};

/*
 * Parser object.
 */

static void
http_parser_reset(struct m2msec_http_parser *p)
{
    p->state = HS_IDLE;
    p->hdr_bytes = 0;
    p->prev = 0;
    p->headers_paused = 0;
    p->value_seen = 0;
    m2msec_buf_reset(&p->url);
    m2msec_buf_reset(&p->field);
    m2msec_buf_reset(&p->value);
}

struct m2msec_http_parser *
m2msec_http_parser_new(int is_request, struct m2msec_error *err)
{
    struct m2msec_http_parser *p = m2msec_calloc(1, sizeof(*p));

    if (p == NULL) {
        m2msec_error_setr(err, M2MSEC_ERR_NOMEM, M2MSEC_RSC_INTERNAL_SERVER_ERROR, "out of memory");
        return NULL;
    }
    p->is_request = is_request ? 1 : 0;
    http_parser_init(&p->hp, p->is_request ? HTTP_REQUEST : HTTP_RESPONSE);
    p->hp.data = p;
    m2msec_buf_init(&p->url, M2MSEC_HTTP_MAX_HEADER_BYTES);
    m2msec_buf_init(&p->field, M2MSEC_HTTP_MAX_HEADER_BYTES);
    m2msec_buf_init(&p->value, M2MSEC_HTTP_MAX_HEADER_BYTES);
    http_parser_reset(p);
    return p;
}

void
m2msec_http_parser_free(struct m2msec_http_parser *p)
{
    if (p == NULL) {
        return;
    }
    m2msec_http_msg_free(p->msg);
    m2msec_buf_free(&p->url);
    m2msec_buf_free(&p->field);
    m2msec_buf_free(&p->value);
    m2msec_free(p);
}

static int
http_fail(struct m2msec_http_parser *p, struct m2msec_error *err)
{
    p->state = HS_FAILED;
    m2msec_error_copy(err, &p->err);
    return -1;
}

/* CRLF discipline of the header block; data is the part of it just parsed. */
static int
http_scan_header_bytes(struct m2msec_http_parser *p, const uint8_t *data, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = data[i];

        if (c == '\n' && p->prev != '\r') {
            return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                                "bare LF in header block");
        }
        if (p->prev == '\r' && c != '\n') {
            return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                                "bare CR in header block");
        }
        if (p->prev == '\n' && (c == ' ' || c == '\t')) {
            return http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                                "obsolete line folding");
        }
        p->prev = c;
    }
    return 0;
}

static void
http_parser_error(struct m2msec_http_parser *p, enum http_errno e)
{
    enum m2msec_err code = M2MSEC_ERR_PROTOCOL;

    if (p->cb_failed) {
        return;
    }
    if (e == HPE_HEADER_OVERFLOW) {
        code = M2MSEC_ERR_TOO_LARGE;
    }
    p->cb_failed = 1;
    m2msec_error_setr(&p->err, code, M2MSEC_RSC_BAD_REQUEST, "HTTP: %s", http_errno_description(e));
}

int
m2msec_http_parser_feed(struct m2msec_http_parser *p, const uint8_t *data, size_t len,
                        size_t *consumed, struct m2msec_error *err)
{
    size_t off = 0;

    *consumed = 0;
    if (p->state == HS_FAILED) {
        return m2msec_error_setr(err, M2MSEC_ERR_INVALID_STATE, M2MSEC_RSC_BAD_REQUEST,
                                 "HTTP: parser already failed");
    }
    if (p->state == HS_DONE) {
        return 1;
    }
    if (len > 0 && data == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HTTP: NULL data");
    }
    if (len > 0 && p->closed) {
        /* http-parser (non-strict build) would start a new message after Connection: close. */
        http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                     "data after a Connection: close message");
        return http_fail(p, err);
    }
    while (off < len && p->state != HS_DONE) {
        int in_header = p->state == HS_IDLE || p->state == HS_HEADERS;
        size_t chunk = len - off;
        size_t n;
        size_t hdr_part;
        enum http_errno e;

        /* Never hand the parser more header bytes than the limit allows plus one. */
        if (in_header && chunk > M2MSEC_HTTP_MAX_HEADER_BYTES + 1 - p->hdr_bytes) {
            chunk = M2MSEC_HTTP_MAX_HEADER_BYTES + 1 - p->hdr_bytes;
        }
        n = http_parser_execute(&p->hp, &http_settings, (const char *)data + off, chunk);
        e = HTTP_PARSER_ERRNO(&p->hp);
        if (p->cb_failed) {
            return http_fail(p, err);
        }
        if (in_header) {
            /* When paused at the end of the block, n stops just before its final LF. */
            hdr_part = p->headers_paused ? n + 1 : n;
            if (e != HPE_OK && e != HPE_PAUSED && hdr_part < chunk) {
                hdr_part++; /* the byte the parser refused is scanned too */
            }
            if (http_scan_header_bytes(p, data + off, hdr_part) == -1) {
                return http_fail(p, err);
            }
            p->hdr_bytes += hdr_part;
            if (p->hdr_bytes > M2MSEC_HTTP_MAX_HEADER_BYTES) {
                http_cb_fail(p, M2MSEC_ERR_TOO_LARGE, M2MSEC_RSC_BAD_REQUEST,
                             "header block too large");
                return http_fail(p, err);
            }
        }
        if (e == HPE_PAUSED) {
            if (p->headers_paused) {
                p->headers_paused = 0;
                http_parser_pause(&p->hp, 0);
            }
            /* else: message complete; stay paused until take(). */
        } else if (e != HPE_OK) {
            http_parser_error(p, e);
            return http_fail(p, err);
        }
        off += n;
    }
    *consumed = off;
    return p->state == HS_DONE ? 1 : 0;
}

int
m2msec_http_parser_finish(struct m2msec_http_parser *p, struct m2msec_error *err)
{
    enum http_errno e;

    if (p->state == HS_FAILED) {
        return m2msec_error_setr(err, M2MSEC_ERR_INVALID_STATE, M2MSEC_RSC_BAD_REQUEST,
                                 "HTTP: parser already failed");
    }
    if (p->state == HS_DONE) {
        return 1;
    }
    if (p->state == HS_IDLE) {
        return 0;
    }
    /* Zero-length input is http-parser's end of stream: completes close-delimited bodies. */
    (void)http_parser_execute(&p->hp, &http_settings, NULL, 0);
    e = HTTP_PARSER_ERRNO(&p->hp);
    if (p->cb_failed) {
        return http_fail(p, err);
    }
    if (p->state == HS_DONE) {
        return 1;
    }
    if (e != HPE_OK && e != HPE_PAUSED) {
        http_parser_error(p, e);
    } else {
        http_cb_fail(p, M2MSEC_ERR_PROTOCOL, M2MSEC_RSC_BAD_REQUEST,
                     "connection closed before the message was complete");
    }
    return http_fail(p, err);
}

struct m2msec_http_msg *
m2msec_http_parser_take(struct m2msec_http_parser *p)
{
    struct m2msec_http_msg *m;

    if (p->state != HS_DONE) {
        return NULL;
    }
    m = p->msg;
    p->msg = NULL;
    p->closed = !m->keep_alive;
    http_parser_reset(p);
    http_parser_pause(&p->hp, 0);
    return m;
}

/*
 * Messages.
 */

const char *
m2msec_http_header_get(const struct m2msec_http_msg *m, const char *name)
{
    size_t i;

    for (i = 0; i < m->nheaders; i++) {
        if (m2msec_ascii_caseeq(m->headers[i].name, name)) {
            return m->headers[i].value;
        }
    }
    return NULL;
}

void
m2msec_http_msg_free(struct m2msec_http_msg *m)
{
    size_t i;

    if (m == NULL) {
        return;
    }
    m2msec_free(m->target);
    for (i = 0; i < m->nheaders; i++) {
        m2msec_free(m->headers[i].name);
        m2msec_free(m->headers[i].value);
    }
    m2msec_buf_free(&m->body);
    m2msec_free(m);
}

/*
 * Writers.
 */

int
m2msec_http_header_value_safe(const char *v)
{
    size_t i;

    if (v == NULL) {
        return 0;
    }
    for (i = 0; v[i] != '\0'; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c < 0x20 || c > 0x7e) {
            return 0;
        }
    }
    return 1;
}

static int
http_token_ok(const char *s)
{
    return s != NULL && http_token_okn(s, strlen(s));
}

/*
 * Caller headers: safe names and values, and none of the framing headers the
 * writer adds itself (a second Content-Length would be a smuggling vector).
 */
static int
http_check_headers(const struct m2msec_http_header *hdrs, size_t nhdrs, const char *const *reserved,
                   struct m2msec_error *err)
{
    size_t i;
    size_t r;

    if (nhdrs > 0 && hdrs == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HTTP: NULL headers");
    }
    if (nhdrs > M2MSEC_HTTP_MAX_HEADERS) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HTTP: too many headers");
    }
    for (i = 0; i < nhdrs; i++) {
        if (!http_token_ok(hdrs[i].name)) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HTTP: invalid header name");
        }
        if (!m2msec_http_header_value_safe(hdrs[i].value)) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "HTTP: unsafe value for header %s", hdrs[i].name);
        }
        for (r = 0; reserved[r] != NULL; r++) {
            if (m2msec_ascii_caseeq(hdrs[i].name, reserved[r])) {
                return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                         "HTTP: header %s is set by the writer", reserved[r]);
            }
        }
    }
    return 0;
}

static int
http_check_body(const uint8_t *body, size_t bodylen, struct m2msec_error *err)
{
    if (bodylen > 0 && body == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HTTP: NULL body");
    }
    if (bodylen > M2MSEC_HTTP_MAX_BODY) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "HTTP: body too large");
    }
    return 0;
}

/* Headers, Content-Length, optional Connection, blank line, body; into tmp. */
static int
http_write_tail(struct m2msec_buf *tmp, const struct m2msec_http_header *hdrs, size_t nhdrs,
                const uint8_t *body, size_t bodylen, const char *connection,
                struct m2msec_error *err)
{
    size_t i;

    for (i = 0; i < nhdrs; i++) {
        if (m2msec_buf_appendf(tmp, err, "%s: %s\r\n", hdrs[i].name, hdrs[i].value) == -1) {
            return -1;
        }
    }
    if (m2msec_buf_appendf(tmp, err, "Content-Length: %zu\r\n", bodylen) == -1) {
        return -1;
    }
    if (connection != NULL &&
        m2msec_buf_appendf(tmp, err, "Connection: %s\r\n", connection) == -1) {
        return -1;
    }
    if (m2msec_buf_append(tmp, "\r\n", 2, err) == -1) {
        return -1;
    }
    return m2msec_buf_append(tmp, body, bodylen, err);
}

int
m2msec_http_write_request(struct m2msec_buf *out, enum m2msec_http_method method,
                          const char *target, const char *host,
                          const struct m2msec_http_header *hdrs, size_t nhdrs, const uint8_t *body,
                          size_t bodylen, struct m2msec_error *err)
{
    static const char *const reserved[] = { "Host", "Content-Length", "Transfer-Encoding", NULL };
    const char *mname = m2msec_http_method_name(method);
    struct m2msec_buf tmp;
    size_t i;
    int rv = -1;

    /* Built aside and appended whole, so a failure leaves out unchanged. */
    m2msec_buf_init(&tmp, out->max);
    if (mname == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HTTP: invalid method");
        goto out;
    }
    if (target == NULL || target[0] != '/') {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "HTTP: request target must start with '/'");
        goto out;
    }
    for (i = 0; target[i] != '\0'; i++) {
        if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] > 0x7e) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                              "HTTP: invalid character in request target");
            goto out;
        }
    }
    if (host == NULL || host[0] == '\0' || !m2msec_http_header_value_safe(host)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HTTP: invalid Host");
        goto out;
    }
    if (http_check_headers(hdrs, nhdrs, reserved, err) == -1 ||
        http_check_body(body, bodylen, err) == -1) {
        goto out;
    }
    if (m2msec_buf_appendf(&tmp, err, "%s %s HTTP/1.1\r\nHost: %s\r\n", mname, target, host) ==
                -1 ||
        http_write_tail(&tmp, hdrs, nhdrs, body, bodylen, NULL, err) == -1 ||
        m2msec_buf_append(out, tmp.data, tmp.len, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_buf_free(&tmp);
    return rv;
}

int
m2msec_http_write_response(struct m2msec_buf *out, int http_status,
                           const struct m2msec_http_header *hdrs, size_t nhdrs, const uint8_t *body,
                           size_t bodylen, int keep_alive, struct m2msec_error *err)
{
    static const char *const reserved[] = { "Content-Length", "Transfer-Encoding", "Connection",
                                            NULL };
    struct m2msec_buf tmp;
    int rv = -1;

    m2msec_buf_init(&tmp, out->max);
    if (http_status < 100 || http_status > 599) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "HTTP: invalid status %d", http_status);
        goto out;
    }
    if (http_check_headers(hdrs, nhdrs, reserved, err) == -1 ||
        http_check_body(body, bodylen, err) == -1) {
        goto out;
    }
    if (m2msec_buf_appendf(&tmp, err, "HTTP/1.1 %d %s\r\n", http_status,
                           m2msec_http_reason(http_status)) == -1 ||
        http_write_tail(&tmp, hdrs, nhdrs, body, bodylen, keep_alive ? "keep-alive" : "close",
                        err) == -1 ||
        m2msec_buf_append(out, tmp.data, tmp.len, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    m2msec_buf_free(&tmp);
    return rv;
}

/*
 * Tables.
 */

/* @spec TS-0009 6.3.2 table 6.3.2-1 (RSC to HTTP status); 4008 as in SPEC-DIGEST 4.2. */
int
m2msec_http_status_for_rsc(int rsc)
{
    switch (rsc) {
    case 2000:
    case 2002:
    case 2004:
        return 200;
    case 2001:
        return 201;
    case 4000:
    case 4102:
    case 6023:
    case 6024:
        return 400;
    case 4103:
    case 4106:
    case 4107:
        return 403;
    case 4004:
        return 404;
    case 4005:
        return 405;
    case 4008:
        return 504;
    case 4015:
        return 415;
    case 4105:
    case 5106:
        return 409;
    case 5000:
        return 500;
    case 5001:
        return 501;
    default:
        break;
    }
    if (rsc >= 2000 && rsc <= 2999) {
        return 200;
    }
    if (rsc >= 4000 && rsc <= 4999) {
        return 400;
    }
    /* Unknown 5xxx, 6xxx and anything else: a server-side failure. */
    return 500;
}

const char *
m2msec_http_reason(int http_status)
{
    switch (http_status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

const char *
m2msec_http_method_name(enum m2msec_http_method m)
{
    switch (m) {
    case M2MSEC_HTTP_GET:
        return "GET";
    case M2MSEC_HTTP_POST:
        return "POST";
    case M2MSEC_HTTP_PUT:
        return "PUT";
    case M2MSEC_HTTP_DELETE:
        return "DELETE";
    }
    return NULL;
}
