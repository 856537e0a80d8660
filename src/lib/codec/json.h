/*
 * codec/json.h - strict JSON on top of jansson.
 *
 * Layer: codec. Parsing rejects invalid UTF-8, NUL, duplicate member names,
 * non-object top levels and nesting deeper than M2MSEC_JSON_MAX_DEPTH. The
 * reader is sticky: after the first failure every call is a no-op and
 * m2msec_jr_finish() reports which member failed. Members not consulted by the
 * reader are rejected as unknown.
 */
#ifndef M2MSEC_CODEC_JSON_H
#define M2MSEC_CODEC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"

#define M2MSEC_JSON_MAX_DEPTH   16
#define M2MSEC_JSON_MAX_MEMBERS 32
#define M2MSEC_JSON_MAX_LIST    64

/*
 * Make jansson wipe every block it frees (its internal copies of member
 * strings can hold key material, e.g. the fetchCredentials Credential).
 * Process-wide: daemons call it once at start-up, before any other jansson use.
 * A library must not: objects allocated before the switch would be freed with
 * the wrong function. Returns 0.
 */
int m2msec_json_use_wiping_allocator(void);

/* Parse one JSON object; errors carry rsc 4000 and code PROTOCOL. */
int m2msec_json_parse(const uint8_t *buf, size_t len, json_t **out, struct m2msec_error *err);
/* Serialise compactly (sorted keys) and append to out. */
int m2msec_json_dump(const json_t *v, struct m2msec_buf *out, struct m2msec_error *err);

struct m2msec_jr {
    const json_t *obj;
    int failed;
    struct m2msec_error err;
    const char *seen[M2MSEC_JSON_MAX_MEMBERS];
    size_t nseen;
};

void m2msec_jr_init(struct m2msec_jr *jr, const json_t *obj);
/* String member; *out allocated (m2msec_malloc). Rejects "" and length > maxlen. */
void m2msec_jr_str(struct m2msec_jr *jr, const char *name, int required, size_t maxlen, char **out);
void m2msec_jr_bool(struct m2msec_jr *jr, const char *name, int required, int *out, int *present);
void m2msec_jr_u64(struct m2msec_jr *jr, const char *name, int required, uint64_t min, uint64_t max,
                   uint64_t *out, int *present);
/* m2m:timestamp string member. */
void m2msec_jr_time(struct m2msec_jr *jr, const char *name, int required, int64_t *out,
                    int *present);
/* Array of non-empty strings (<= maxitems, each <= maxlen); *out NULL-terminated, allocated. */
void m2msec_jr_strlist(struct m2msec_jr *jr, const char *name, int required, size_t maxitems,
                       size_t maxlen, char ***out, size_t *n, int *present);
/* Borrowed object member (for nested readers). */
void m2msec_jr_object(struct m2msec_jr *jr, const char *name, int required, const json_t **out);
/* Record a failure found by the caller's own validation of member name. */
void m2msec_jr_fail(struct m2msec_jr *jr, const char *name, const char *why);
/* 0, or -1 with "member 'x': why" (rsc 4000, code PROTOCOL). Checks unknown members. */
int m2msec_jr_finish(struct m2msec_jr *jr, struct m2msec_error *err);

/*
 * Sticky writer, the reader's counterpart: each call is a no-op after the
 * first failure; m2msec_jw_finish() runs the message's own decoder check over
 * the object (so we never send what we would refuse), serialises it and frees
 * it. Failures carry rsc 5000: an encoder given a bad value is our bug.
 */
struct m2msec_jw {
    json_t *obj;
    int failed;
    struct m2msec_error err;
};
typedef int (*m2msec_json_check_fn)(const json_t *v, struct m2msec_error *err);

void m2msec_jw_init(struct m2msec_jw *w);
void m2msec_jw_fail(struct m2msec_jw *w, const char *name, const char *why);
/* Steals v; NULL v means jansson ran out of memory. */
void m2msec_jw_set(struct m2msec_jw *w, const char *name, json_t *v);
/* NULL s: member left out (the check then reports a missing required one). */
void m2msec_jw_str(struct m2msec_jw *w, const char *name, const char *s);
void m2msec_jw_bool(struct m2msec_jw *w, const char *name, int b);
void m2msec_jw_u64(struct m2msec_jw *w, const char *name, uint64_t v);
void m2msec_jw_time(struct m2msec_jw *w, const char *name, int64_t t);
void m2msec_jw_strlist(struct m2msec_jw *w, const char *name, char *const *list, size_t n);
/* Move child's object under name (consumed; a failed child fails w). */
void m2msec_jw_child(struct m2msec_jw *w, const char *name, struct m2msec_jw *child);
/* A key as base64; no copy of the text outlives the call except jansson's. */
void m2msec_jw_key(struct m2msec_jw *w, const char *name, const struct m2msec_secret *key);
int m2msec_jw_finish(struct m2msec_jw *w, m2msec_json_check_fn check, struct m2msec_buf *out,
                     struct m2msec_error *err);

void m2msec_strlist_free(char **list);
char **m2msec_strlist_dup(char *const *list, size_t n, struct m2msec_error *err);

#endif
