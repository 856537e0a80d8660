/*
 * fuzz/fuzz_http.c - libFuzzer target for the HTTP/1.1 parser (both sides).
 *
 * Target functions: m2msec_http_parser_feed, m2msec_http_parser_finish,
 * m2msec_http_parser_take, m2msec_http_header_get, m2msec_http_msg_free.
 *
 * Input: byte 0 picks the feeding pattern (chunk size 1..64, so split points
 * move around), the rest is the byte stream. The stream is parsed once as
 * requests (server side) and once as responses (client side), taking every
 * pipelined message until the parser fails or the input ends, then signalling
 * end of input. Besides crashes, leaks and UB, the target aborts when a
 * message that was accepted breaks a documented limit. Deterministic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_msg(const struct m2msec_http_msg *m, int is_request)
{
    size_t i;

    if (m->nheaders > M2MSEC_HTTP_MAX_HEADERS || m->body.len > M2MSEC_HTTP_MAX_BODY) {
        abort();
    }
    if (is_request) {
        if (m->target == NULL || m->target[0] != '/' || m->method < M2MSEC_HTTP_GET ||
            m->method > M2MSEC_HTTP_DELETE) {
            abort();
        }
    } else if (m->status < 200 || m->status > 599) {
        abort();
    }
    for (i = 0; i < m->nheaders; i++) {
        const char *v = m->headers[i].value;

        if (m->headers[i].name == NULL || v == NULL || strpbrk(v, "\r\n") != NULL) {
            abort();
        }
        /* First-wins lookup must find a header with this (case-insensitive) name. */
        if (m2msec_http_header_get(m, m->headers[i].name) == NULL) {
            abort();
        }
    }
}

static void
run(int is_request, const uint8_t *data, size_t size, size_t step)
{
    struct m2msec_error err = { 0 };
    struct m2msec_http_parser *p = m2msec_http_parser_new(is_request, &err);
    struct m2msec_http_msg *m;
    size_t off = 0;
    int rc = 0;

    if (p == NULL) {
        return;
    }
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        size_t consumed = 0;

        rc = m2msec_http_parser_feed(p, data + off, n, &consumed, &err);
        if (rc == -1) {
            break;
        }
        if (consumed > n) {
            abort();
        }
        off += consumed;
        if (rc == 1) {
            m = m2msec_http_parser_take(p);
            if (m == NULL) {
                abort();
            }
            check_msg(m, is_request);
            m2msec_http_msg_free(m);
        } else if (consumed != n) {
            /* Without a complete message every byte offered must be used. */
            abort();
        }
    }
    if (rc != -1 && m2msec_http_parser_finish(p, &err) == 1) {
        m = m2msec_http_parser_take(p);
        if (m == NULL) {
            abort();
        }
        check_msg(m, is_request);
        m2msec_http_msg_free(m);
    }
    m2msec_http_parser_free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t step;

    if (size < 1) {
        return 0;
    }
    step = 1 + (size_t)(data[0] % 64);
    if (data[0] >= 0xc0) {
        step = size; /* all at once */
    }
    run(1, data + 1, size - 1, step);
    run(0, data + 1, size - 1, step);
    return 0;
}
