/*
 * http/http.h - HTTP/1.1 message framing, I/O-free, bounded.
 *
 * Layer: http (above util). Parsing uses http-parser; this layer adds the
 * limits (header block 8 KiB, body 64 KiB, 32 headers), keeps-alive handling
 * and the oneM2M header helpers. Callers feed bytes they read and write the
 * bytes produced by the writers; no socket is touched here.
 */
#ifndef M2MSEC_HTTP_HTTP_H
#define M2MSEC_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

#define M2MSEC_HTTP_MAX_HEADER_BYTES 8192
#define M2MSEC_HTTP_MAX_BODY         65536
#define M2MSEC_HTTP_MAX_HEADERS      32

/* oneM2M HTTP binding headers (TS-0009 6.4) */
#define M2MSEC_HDR_ORIGIN "X-M2M-Origin"
#define M2MSEC_HDR_RI     "X-M2M-RI"
#define M2MSEC_HDR_RSC    "X-M2M-RSC"
#define M2MSEC_HDR_RVI    "X-M2M-RVI"
#define M2MSEC_RVI        "3"

/* oneM2M Response Status Codes used by m2msec (TS-0004 6.6.3). */
enum m2msec_rsc {
    M2MSEC_RSC_OK = 2000,
    M2MSEC_RSC_CREATED = 2001,
    M2MSEC_RSC_DELETED = 2002,
    M2MSEC_RSC_UPDATED = 2004,
    M2MSEC_RSC_BAD_REQUEST = 4000,
    M2MSEC_RSC_NOT_FOUND = 4004,
    M2MSEC_RSC_OPERATION_NOT_ALLOWED = 4005,
    M2MSEC_RSC_REQUEST_TIMEOUT = 4008,
    M2MSEC_RSC_CONTENTS_UNACCEPTABLE = 4102,
    M2MSEC_RSC_ORIGINATOR_HAS_NO_PRIVILEGE = 4103,
    M2MSEC_RSC_CONFLICT = 4105,
    M2MSEC_RSC_ORIGINATOR_NOT_AUTHENTICATED = 4106,
    M2MSEC_RSC_INTERNAL_SERVER_ERROR = 5000,
    M2MSEC_RSC_NOT_IMPLEMENTED = 5001,
};

enum m2msec_http_method {
    M2MSEC_HTTP_GET = 1,
    M2MSEC_HTTP_POST,
    M2MSEC_HTTP_PUT,
    M2MSEC_HTTP_DELETE,
};

struct m2msec_http_header {
    char *name;
    char *value;
};

struct m2msec_http_msg {
    int is_request;
    enum m2msec_http_method method; /* requests */
    char *target;                   /* requests: request-target as received */
    int status;                     /* responses: HTTP status code */
    struct m2msec_http_header headers[M2MSEC_HTTP_MAX_HEADERS];
    size_t nheaders;
    struct m2msec_buf body;
    int keep_alive; /* from the HTTP version and Connection header */
};

/* Case-insensitive header lookup; borrowed value or NULL. Duplicate names: first wins. */
const char *m2msec_http_header_get(const struct m2msec_http_msg *m, const char *name);
void m2msec_http_msg_free(struct m2msec_http_msg *m);

struct m2msec_http_parser;

/* is_request: 1 to parse requests (server side), 0 for responses (client side). */
struct m2msec_http_parser *m2msec_http_parser_new(int is_request, struct m2msec_error *err);
void m2msec_http_parser_free(struct m2msec_http_parser *p);
/*
 * Feed received bytes. *consumed gets how many were used. Returns 1 when a
 * complete message is ready (take it with m2msec_http_parser_take; unconsumed
 * bytes belong to the next message), 0 when more input is needed, -1 on a
 * malformed or oversized message (err->rsc = 4000, code PROTOCOL or TOO_LARGE;
 * the connection must then be closed). Methods other than the four above are
 * rejected with rsc 4005.
 */
int m2msec_http_parser_feed(struct m2msec_http_parser *p, const uint8_t *data, size_t len,
                            size_t *consumed, struct m2msec_error *err);
/* Signal end of input (peer closed). Returns 1 if that completed a message, else 0 / -1. */
int m2msec_http_parser_finish(struct m2msec_http_parser *p, struct m2msec_error *err);
/* Take ownership of the completed message and reset for the next one. */
struct m2msec_http_msg *m2msec_http_parser_take(struct m2msec_http_parser *p);

/* Append a request. host is the Host header; body may be NULL. Adds Content-Length. */
int m2msec_http_write_request(struct m2msec_buf *out, enum m2msec_http_method method,
                              const char *target, const char *host,
                              const struct m2msec_http_header *hdrs, size_t nhdrs,
                              const uint8_t *body, size_t bodylen, struct m2msec_error *err);
/* Append a response with Content-Length and Connection: keep-alive|close. */
int m2msec_http_write_response(struct m2msec_buf *out, int http_status,
                               const struct m2msec_http_header *hdrs, size_t nhdrs,
                               const uint8_t *body, size_t bodylen, int keep_alive,
                               struct m2msec_error *err);

/* TS-0009 6.3.2 mapping from oneM2M RSC to HTTP status. */
int m2msec_http_status_for_rsc(int rsc);
const char *m2msec_http_reason(int http_status);
const char *m2msec_http_method_name(enum m2msec_http_method m);
/* Header value checks: printable ASCII / no CR LF. 1 safe. */
int m2msec_http_header_value_safe(const char *v);

#endif
