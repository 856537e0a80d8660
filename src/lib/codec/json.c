/*
 * codec/json.c - strict JSON on top of jansson, and the sticky member reader.
 *
 * Layer: codec. Depends on util (error, mem, buf, secret, time) and jansson;
 * never on http, proto, tls or store. jansson already rejects invalid UTF-8,
 * "\u0000" (JSON_ALLOW_NUL is never passed), overflowing integers and trailing
 * garbage (JSON_DISABLE_EOF_CHECK is never passed); this file adds duplicate
 * member rejection, an object-only top level and the depth / width bounds
 * that jansson leaves to the application.
 *
 * Note: jansson allocates with malloc, not m2msec_malloc, so its internal
 * allocations are outside the torture-test hook. Everything this file
 * allocates for callers goes through util/mem.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "codec/json.h"
#include "util/encoding.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/time.h"
#include "util/unicode.h"

/* Error codes carried by codec errors: peer input is a 4000, our allocation a 5000. */
#define JSON_RSC_BAD_REQUEST 4000
#define JSON_RSC_INTERNAL    5000

/* Room for "YYYYMMDDThhmmss,ffffff" plus slack; anything longer is not a timestamp. */
#define JSON_TIMESTAMP_MAX 32

/* How much of an attacker-chosen member name is quoted in an error message. */
#define JSON_NAME_QUOTE_MAX 64

/*
 * jansson's iteration API takes json_t * even for reads; the reader only holds
 * const pointers. The union drops the qualifier without a cast-qual warning;
 * nothing below writes through the result.
 */
static json_t *
json_unconst(const json_t *v)
{
    union {
        const json_t *c;
        json_t *m;
    } u;

    u.c = v;
    return u.m;
}

/* Copy s into out (outsz >= 2) keeping printable ASCII only, so messages are safe to log. */
static void
json_sanitize(const char *s, char *out, size_t outsz, size_t maxlen)
{
    size_t i;
    size_t n = 0;

    for (i = 0; s[i] != '\0' && n + 1 < outsz && i < maxlen; i++) {
        unsigned char c = (unsigned char)s[i];

        out[n++] = (c >= 0x20 && c <= 0x7e && c != '\'') ? (char)c : '?';
    }
    if (s[i] != '\0' && n + 4 < outsz) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/*
 * Depth and width bounds. Recursion stops at M2MSEC_JSON_MAX_DEPTH + 1, so the
 * stack use is bounded whatever jansson accepted (its own limit is 2048).
 */
static int
json_check_shape(const json_t *v, unsigned depth, struct m2msec_error *err)
{
    size_t i;
    const char *key = NULL;
    json_t *child = NULL;

    if (!json_is_object(v) && !json_is_array(v)) {
        return 0;
    }
    if (depth > M2MSEC_JSON_MAX_DEPTH) {
        return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, JSON_RSC_BAD_REQUEST,
                                 "JSON nested deeper than %d levels", M2MSEC_JSON_MAX_DEPTH);
    }
    if (json_is_object(v)) {
        if (json_object_size(v) > M2MSEC_JSON_MAX_MEMBERS) {
            return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, JSON_RSC_BAD_REQUEST,
                                     "JSON object with more than %d members",
                                     M2MSEC_JSON_MAX_MEMBERS);
        }
        json_object_foreach(json_unconst(v), key, child)
        {
            if (json_check_shape(child, depth + 1, err) == -1) {
                return -1;
            }
        }
        return 0;
    }
    if (json_array_size(v) > M2MSEC_JSON_MAX_LIST) {
        return m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, JSON_RSC_BAD_REQUEST,
                                 "JSON array with more than %d items", M2MSEC_JSON_MAX_LIST);
    }
    for (i = 0; i < json_array_size(v); i++) {
        if (json_check_shape(json_array_get(v, i), depth + 1, err) == -1) {
            return -1;
        }
    }
    return 0;
}

int
m2msec_json_parse(const uint8_t *buf, size_t len, json_t **out, struct m2msec_error *err)
{
    json_error_t jerr;
    json_t *v = NULL;
    char why[sizeof(jerr.text)];
    int rv = -1;

    *out = NULL;
    if (buf == NULL || len == 0) {
        m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, JSON_RSC_BAD_REQUEST, "empty JSON body");
        goto out;
    }
    /*
     * No JSON_DISABLE_EOF_CHECK (trailing bytes other than whitespace fail), no
     * JSON_ALLOW_NUL, no JSON_DECODE_ANY (top level must be a container).
     */
    v = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        /* jansson quotes input near the error; keep only printable ASCII of it. */
        json_sanitize(jerr.text, why, sizeof(why), sizeof(why));
        m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, JSON_RSC_BAD_REQUEST,
                          "invalid JSON at offset %d: %s", jerr.position, why);
        goto out;
    }
    if (!json_is_object(v)) {
        m2msec_error_setr(err, M2MSEC_ERR_PROTOCOL, JSON_RSC_BAD_REQUEST,
                          "JSON top level is not an object");
        goto out;
    }
    if (json_check_shape(v, 1, err) == -1) {
        goto out;
    }
    *out = v;
    v = NULL;
    rv = 0;
out:
    json_decref(v);
    return rv;
}

/* Each block carries its size in front so the free can wipe it; 16 keeps max alignment. */
#define WIPE_HDR 16

static void *
wipe_malloc(size_t n)
{
    unsigned char *p;

    if (n > SIZE_MAX - WIPE_HDR) {
        return NULL;
    }
    p = m2msec_malloc(n + WIPE_HDR);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &n, sizeof(n));
    return p + WIPE_HDR;
}

static void
wipe_free(void *q)
{
    unsigned char *p;
    size_t n;

    if (q == NULL) {
        return;
    }
    p = (unsigned char *)q - WIPE_HDR;
    memcpy(&n, p, sizeof(n));
    m2msec_wipe(q, n);
    m2msec_free(p);
}

int
m2msec_json_use_wiping_allocator(void)
{
    json_set_alloc_funcs(wipe_malloc, wipe_free);
    return 0;
}

/*
 * The writer: builds a jansson object with a sticky error, like the reader.
 * An encoder handed a value its own decoder would refuse is our bug: 5000.
 */
void
m2msec_jw_init(struct m2msec_jw *w)
{
    memset(w, 0, sizeof(*w));
    w->obj = json_object();
    if (w->obj == NULL) {
        w->failed = 1;
        m2msec_error_setr(&w->err, M2MSEC_ERR_NOMEM, JSON_RSC_INTERNAL, "out of memory");
    }
}

void
m2msec_jw_fail(struct m2msec_jw *w, const char *name, const char *why)
{
    if (w->failed) {
        return;
    }
    w->failed = 1;
    m2msec_error_setr(&w->err, M2MSEC_ERR_INVALID_ARGUMENT, JSON_RSC_INTERNAL, "member '%s': %s",
                      name, why);
}

/* Steals v (NULL means jansson ran out of memory). */
void
m2msec_jw_set(struct m2msec_jw *w, const char *name, json_t *v)
{
    if (w->failed) {
        json_decref(v);
        return;
    }
    if (v == NULL || json_object_set_new(w->obj, name, v) == -1) {
        w->failed = 1;
        m2msec_error_setr(&w->err, M2MSEC_ERR_NOMEM, JSON_RSC_INTERNAL, "out of memory");
    }
}

/* jansson refuses invalid UTF-8 with the same NULL as for no memory; tell them apart first. */
static json_t *
jw_string(struct m2msec_jw *w, const char *name, const char *s)
{
    if (!m2msec_utf8_valid(s, strlen(s))) {
        m2msec_jw_fail(w, name, "not valid UTF-8");
        return NULL;
    }
    return json_string(s);
}

/* NULL s: member left out (the decoder check then reports a missing required one). */
void
m2msec_jw_str(struct m2msec_jw *w, const char *name, const char *s)
{
    json_t *v;

    if (w->failed || s == NULL) {
        return;
    }
    v = jw_string(w, name, s);
    if (w->failed) {
        return;
    }
    m2msec_jw_set(w, name, v);
}

void
m2msec_jw_bool(struct m2msec_jw *w, const char *name, int b)
{
    m2msec_jw_set(w, name, json_boolean(b));
}

void
m2msec_jw_u64(struct m2msec_jw *w, const char *name, uint64_t v)
{
    if (v > (uint64_t)INT64_MAX) {
        m2msec_jw_fail(w, name, "out of range");
        return;
    }
    m2msec_jw_set(w, name, json_integer((json_int_t)v));
}

void
m2msec_jw_time(struct m2msec_jw *w, const char *name, int64_t t)
{
    char ts[M2MSEC_TIMESTAMP_LEN];

    if (w->failed) {
        return;
    }
    if (m2msec_timestamp_format(t, ts) == -1) {
        m2msec_jw_fail(w, name, "time not representable as m2m:timestamp");
        return;
    }
    m2msec_jw_set(w, name, json_string(ts));
}

void
m2msec_jw_strlist(struct m2msec_jw *w, const char *name, char *const *list, size_t n)
{
    json_t *arr = NULL;
    json_t *item = NULL;
    size_t i;

    if (w->failed) {
        return;
    }
    if (n > 0 && list == NULL) {
        m2msec_jw_fail(w, name, "NULL list");
        return;
    }
    arr = json_array();
    if (arr == NULL) {
        m2msec_jw_set(w, name, NULL);
        return;
    }
    for (i = 0; i < n; i++) {
        if (list[i] == NULL) {
            m2msec_jw_fail(w, name, "NULL item");
            break;
        }
        item = jw_string(w, name, list[i]);
        if (w->failed) {
            break;
        }
        if (item == NULL || json_array_append_new(arr, item) == -1) {
            m2msec_jw_set(w, name, NULL);
            break;
        }
    }
    m2msec_jw_set(w, name, arr);
}

/* Move child under name (child is another writer's object, consumed). */
void
m2msec_jw_child(struct m2msec_jw *w, const char *name, struct m2msec_jw *child)
{
    if (child->failed) {
        if (!w->failed) {
            w->failed = 1;
            m2msec_error_copy(&w->err, &child->err);
            m2msec_error_wrap(&w->err, "member '%s'", name);
        }
        json_decref(child->obj);
        child->obj = NULL;
        return;
    }
    m2msec_jw_set(w, name, child->obj);
    child->obj = NULL;
}

/* Validate the object with the decoder's rules, then serialise it. Consumes w->obj. */
int
m2msec_jw_finish(struct m2msec_jw *w, m2msec_json_check_fn check, struct m2msec_buf *out,
                 struct m2msec_error *err)
{
    int rv = -1;

    if (w->failed) {
        m2msec_error_copy(err, &w->err);
        goto out;
    }
    if (check(w->obj, err) == -1) {
        if (err != NULL && err->code != M2MSEC_ERR_NOMEM) {
            err->code = M2MSEC_ERR_INVALID_ARGUMENT;
            err->rsc = JSON_RSC_INTERNAL;
        }
        m2msec_error_wrap(err, "refusing to encode");
        goto out;
    }
    if (m2msec_json_dump(w->obj, out, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    json_decref(w->obj);
    w->obj = NULL;
    return rv;
}

/* The key as base64; the text is copied into the object and our copy wiped at once. */
void
m2msec_jw_key(struct m2msec_jw *w, const char *name, const struct m2msec_secret *key)
{
    char *b64 = NULL;

    if (w->failed || key == NULL) {
        return;
    }
    if (m2msec_b64_encode(m2msec_secret_bytes(key), m2msec_secret_len(key), &b64, NULL) == -1) {
        m2msec_jw_set(w, name, NULL); /* the only failure left for a secret's bytes: memory */
        return;
    }
    m2msec_jw_set(w, name, json_string(b64));
    m2msec_wipe(b64, strlen(b64));
    m2msec_free(b64);
}

int
m2msec_json_dump(const json_t *v, struct m2msec_buf *out, struct m2msec_error *err)
{
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS;
    char *tmp = NULL;
    size_t n = 0;
    int rv = -1;

    if (v == NULL || (!json_is_object(v) && !json_is_array(v))) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "JSON dump: not a container");
        goto out;
    }
    /* Measure, then render into our own allocation (jansson's would bypass util/mem.h). */
    n = json_dumpb(v, NULL, 0, flags);
    if (n == 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "JSON dump failed");
        goto out;
    }
    tmp = m2msec_malloc(n);
    if (tmp == NULL) {
        m2msec_error_setr(err, M2MSEC_ERR_NOMEM, JSON_RSC_INTERNAL, "out of memory");
        goto out;
    }
    if (json_dumpb(v, tmp, n, flags) != n) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "JSON dump changed size");
        goto out;
    }
    if (m2msec_buf_append(out, tmp, n, err) == -1) {
        goto out;
    }
    rv = 0;
out:
    if (tmp != NULL) {
        /* Bodies can carry key material (fetchCredentials). */
        m2msec_wipe(tmp, n);
        m2msec_free(tmp);
    }
    return rv;
}

/*
 * The sticky reader.
 */

void
m2msec_jr_init(struct m2msec_jr *jr, const json_t *obj)
{
    memset(jr, 0, sizeof(*jr));
    jr->obj = obj;
    if (!json_is_object(obj)) {
        jr->failed = 1;
        m2msec_error_setr(&jr->err, M2MSEC_ERR_PROTOCOL, JSON_RSC_BAD_REQUEST,
                          "JSON value is not an object");
    }
}

void
m2msec_jr_fail(struct m2msec_jr *jr, const char *name, const char *why)
{
    char quoted[JSON_NAME_QUOTE_MAX + 4];

    if (jr->failed) {
        return;
    }
    jr->failed = 1;
    json_sanitize(name, quoted, sizeof(quoted), JSON_NAME_QUOTE_MAX);
    m2msec_error_setr(&jr->err, M2MSEC_ERR_PROTOCOL, JSON_RSC_BAD_REQUEST, "member '%s': %s",
                      quoted, why);
}

static void
jr_nomem(struct m2msec_jr *jr)
{
    if (jr->failed) {
        return;
    }
    jr->failed = 1;
    m2msec_error_setr(&jr->err, M2MSEC_ERR_NOMEM, JSON_RSC_INTERNAL, "out of memory");
}

/* Record that name was consulted, so jr_finish does not report it as unknown. */
static void
jr_mark(struct m2msec_jr *jr, const char *name)
{
    size_t i;

    for (i = 0; i < jr->nseen; i++) {
        if (strcmp(jr->seen[i], name) == 0) { /* public */
            return;
        }
    }
    if (jr->nseen == M2MSEC_JSON_MAX_MEMBERS) {
        /* A decoder consulting more names than an object may hold is a bug. */
        m2msec_jr_fail(jr, name, "reader consulted too many members");
        return;
    }
    jr->seen[jr->nseen++] = name;
}

/* The member, or NULL when absent (a failure when required) or when the reader failed. */
static const json_t *
jr_get(struct m2msec_jr *jr, const char *name, int required)
{
    const json_t *v;

    if (jr->failed) {
        return NULL;
    }
    jr_mark(jr, name);
    if (jr->failed) {
        return NULL;
    }
    v = json_object_get(jr->obj, name);
    if (v == NULL && required) {
        m2msec_jr_fail(jr, name, "missing");
    }
    return v;
}

/* Checks shared by jr_str and the items of jr_strlist; NULL when acceptable. */
static const char *
jr_string_problem(const json_t *v, size_t maxlen)
{
    size_t n;

    if (!json_is_string(v)) {
        return "wrong type (want string)";
    }
    n = json_string_length(v);
    if (n == 0) {
        return "empty";
    }
    if (n > maxlen) {
        return "too long";
    }
    /* Values built in memory (encoder checks) could hold NUL; parsed ones cannot. */
    if (memchr(json_string_value(v), '\0', n) != NULL) {
        return "contains NUL";
    }
    return NULL;
}

void
m2msec_jr_str(struct m2msec_jr *jr, const char *name, int required, size_t maxlen, char **out)
{
    const json_t *v = jr_get(jr, name, required);
    const char *why;
    char *s;

    if (v == NULL) {
        return;
    }
    why = jr_string_problem(v, maxlen);
    if (why != NULL) {
        m2msec_jr_fail(jr, name, why);
        return;
    }
    s = m2msec_strndup(json_string_value(v), json_string_length(v));
    if (s == NULL) {
        jr_nomem(jr);
        return;
    }
    *out = s;
}

void
m2msec_jr_bool(struct m2msec_jr *jr, const char *name, int required, int *out, int *present)
{
    const json_t *v = jr_get(jr, name, required);

    if (present != NULL) {
        *present = 0;
    }
    if (v == NULL) {
        return;
    }
    if (!json_is_boolean(v)) {
        m2msec_jr_fail(jr, name, "wrong type (want boolean)");
        return;
    }
    *out = json_is_true(v) ? 1 : 0;
    if (present != NULL) {
        *present = 1;
    }
}

void
m2msec_jr_u64(struct m2msec_jr *jr, const char *name, int required, uint64_t min, uint64_t max,
              uint64_t *out, int *present)
{
    const json_t *v = jr_get(jr, name, required);
    json_int_t i;

    if (present != NULL) {
        *present = 0;
    }
    if (v == NULL) {
        return;
    }
    /* Reals (even 3.0) are rejected: counts and ports are exact on the wire. */
    if (!json_is_integer(v)) {
        m2msec_jr_fail(jr, name, "wrong type (want integer)");
        return;
    }
    i = json_integer_value(v);
    if (i < 0 || (uint64_t)i < min || (uint64_t)i > max) {
        m2msec_jr_fail(jr, name, "out of range");
        return;
    }
    *out = (uint64_t)i;
    if (present != NULL) {
        *present = 1;
    }
}

void
m2msec_jr_time(struct m2msec_jr *jr, const char *name, int required, int64_t *out, int *present)
{
    const json_t *v = jr_get(jr, name, required);
    struct m2msec_error terr;
    const char *why;
    int64_t t = 0;

    if (present != NULL) {
        *present = 0;
    }
    if (v == NULL) {
        return;
    }
    why = jr_string_problem(v, JSON_TIMESTAMP_MAX);
    if (why != NULL) {
        m2msec_jr_fail(jr, name, why);
        return;
    }
    m2msec_error_clear(&terr);
    if (m2msec_timestamp_parse(json_string_value(v), &t, &terr) == -1) {
        m2msec_jr_fail(jr, name, "not an m2m:timestamp");
        return;
    }
    *out = t;
    if (present != NULL) {
        *present = 1;
    }
}

void
m2msec_jr_strlist(struct m2msec_jr *jr, const char *name, int required, size_t maxitems,
                  size_t maxlen, char ***out, size_t *n, int *present)
{
    const json_t *v = jr_get(jr, name, required);
    char **list = NULL;
    char why[64];
    size_t count;
    size_t i;

    if (present != NULL) {
        *present = 0;
    }
    if (v == NULL) {
        return;
    }
    if (!json_is_array(v)) {
        m2msec_jr_fail(jr, name, "wrong type (want array)");
        return;
    }
    count = json_array_size(v);
    if (count > maxitems) {
        m2msec_jr_fail(jr, name, "too many items");
        return;
    }
    for (i = 0; i < count; i++) {
        const char *problem = jr_string_problem(json_array_get(v, i), maxlen);

        if (problem != NULL) {
            (void)snprintf(why, sizeof(why), "item %zu: %s", i, problem);
            m2msec_jr_fail(jr, name, why);
            return;
        }
    }
    /* Check everything before allocating, so a failure never leaves half a list. */
    list = m2msec_calloc(count + 1, sizeof(*list));
    if (list == NULL) {
        jr_nomem(jr);
        return;
    }
    for (i = 0; i < count; i++) {
        const json_t *item = json_array_get(v, i);

        list[i] = m2msec_strndup(json_string_value(item), json_string_length(item));
        if (list[i] == NULL) {
            m2msec_strlist_free(list);
            jr_nomem(jr);
            return;
        }
    }
    *out = list;
    *n = count;
    if (present != NULL) {
        *present = 1;
    }
}

void
m2msec_jr_object(struct m2msec_jr *jr, const char *name, int required, const json_t **out)
{
    const json_t *v = jr_get(jr, name, required);

    if (v == NULL) {
        return;
    }
    if (!json_is_object(v)) {
        m2msec_jr_fail(jr, name, "wrong type (want object)");
        return;
    }
    *out = v;
}

int
m2msec_jr_finish(struct m2msec_jr *jr, struct m2msec_error *err)
{
    const char *key = NULL;
    json_t *child = NULL;
    size_t i;
    int known;

    if (!jr->failed) {
        json_object_foreach(json_unconst(jr->obj), key, child)
        {
            (void)child;
            known = 0;
            for (i = 0; i < jr->nseen; i++) {
                if (strcmp(jr->seen[i], key) == 0) { /* public */
                    known = 1;
                    break;
                }
            }
            if (!known) {
                m2msec_jr_fail(jr, key, "unknown member");
                break;
            }
        }
    }
    if (jr->failed) {
        m2msec_error_copy(err, &jr->err);
        return -1;
    }
    return 0;
}

void
m2msec_strlist_free(char **list)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; list[i] != NULL; i++) {
        m2msec_free(list[i]);
    }
    m2msec_free(list);
}

char **
m2msec_strlist_dup(char *const *list, size_t n, struct m2msec_error *err)
{
    char **copy = NULL;
    size_t i;

    if (n > 0 && list == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "string list: NULL with %zu items", n);
        return NULL;
    }
    copy = m2msec_calloc(n + 1, sizeof(*copy));
    if (copy == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (list[i] == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "string list: item %zu is NULL", i);
            m2msec_strlist_free(copy);
            return NULL;
        }
        copy[i] = m2msec_strdup(list[i]);
        if (copy[i] == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
            m2msec_strlist_free(copy);
            return NULL;
        }
    }
    return copy;
}
