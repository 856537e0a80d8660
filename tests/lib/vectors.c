/*
 * tests/lib/vectors.c - loader for the known-answer files in tests/vectors.
 *
 * Layer: tests only. Deliberately independent of src/lib (its own hex
 * decoder, plain malloc), so a bug in the library's encoders cannot hide in
 * the expected values.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"

#define LINE_MAX_LEN 4096

static char *
dup_range(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p == NULL) {
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static int
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

const char *
t_vec_dir(void)
{
    static char fallback[1024];
    const char *env = getenv("M2MSEC_VECTORS");
    const char *slash = NULL;
    size_t n = 0;

    if (env != NULL && env[0] != '\0') {
        return env;
    }
    /* __FILE__ is .../tests/lib/vectors.c: go up one and into vectors. */
    slash = strrchr(__FILE__, '/');
    if (slash == NULL) {
        return "tests/vectors";
    }
    n = (size_t)(slash - __FILE__);
    if (n + sizeof("/../vectors") > sizeof(fallback)) {
        return "tests/vectors";
    }
    memcpy(fallback, __FILE__, n);
    memcpy(fallback + n, "/../vectors", sizeof("/../vectors"));
    return fallback;
}

void
t_vec_free(struct t_vec_file *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < f->ncases; i++) {
        for (size_t j = 0; j < f->cases[i].nfields; j++) {
            free(f->cases[i].field[j].name);
            free(f->cases[i].field[j].value);
        }
    }
    free(f->cases);
    free(f->path);
    free(f);
}

/* Append an empty case; NULL on allocation failure. */
static struct t_vec_case *
new_case(struct t_vec_file *f, unsigned line)
{
    struct t_vec_case *c = realloc(f->cases, (f->ncases + 1) * sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    f->cases = c;
    c = &f->cases[f->ncases++];
    memset(c, 0, sizeof(*c));
    c->line = line;
    return c;
}

struct t_vec_file *
t_vec_load(const char *name)
{
    struct t_vec_file *f = NULL;
    struct t_vec_case *cur = NULL;
    FILE *fp = NULL;
    char line[LINE_MAX_LEN];
    const char *dir = t_vec_dir();
    unsigned lineno = 0;
    size_t plen = strlen(dir) + 1 + strlen(name) + 1;

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        goto fail;
    }
    f->path = malloc(plen);
    if (f->path == NULL) {
        goto fail;
    }
    snprintf(f->path, plen, "%s/%s", dir, name);
    fp = fopen(f->path, "r");
    if (fp == NULL) {
        fprintf(stderr, "vectors: cannot open %s: %s\n", f->path, strerror(errno));
        goto fail;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *p = line;
        char *eq = NULL;
        char *v = NULL;
        char *end = NULL;
        size_t nlen = 0;

        lineno++;
        if (strchr(line, '\n') == NULL && !feof(fp)) {
            fprintf(stderr, "%s:%u: line too long\n", f->path, lineno);
            goto fail;
        }
        while (is_blank(*p)) {
            p++;
        }
        if (*p == '\0') {
            cur = NULL; /* blank line ends the case */
            continue;
        }
        if (*p == '#') {
            continue;
        }
        while (is_name_char(p[nlen])) {
            nlen++;
        }
        eq = p + nlen;
        while (*eq == ' ' || *eq == '\t') {
            eq++;
        }
        if (nlen == 0 || *eq != '=') {
            fprintf(stderr, "%s:%u: expected `name = value`\n", f->path, lineno);
            goto fail;
        }
        v = eq + 1;
        while (is_blank(*v)) {
            v++;
        }
        end = v + strlen(v);
        while (end > v && is_blank(end[-1])) {
            end--;
        }
        if (cur == NULL) {
            cur = new_case(f, lineno);
            if (cur == NULL) {
                goto fail;
            }
        }
        if (cur->nfields == T_VEC_MAX_FIELDS) {
            fprintf(stderr, "%s:%u: too many fields\n", f->path, lineno);
            goto fail;
        }
        p[nlen] = '\0';
        if (t_vec_get(cur, p) != NULL) {
            fprintf(stderr, "%s:%u: duplicate field %s\n", f->path, lineno, p);
            goto fail;
        }
        cur->field[cur->nfields].name = dup_range(p, nlen);
        cur->field[cur->nfields].value = dup_range(v, (size_t)(end - v));
        cur->nfields++;
        if (cur->field[cur->nfields - 1].name == NULL ||
            cur->field[cur->nfields - 1].value == NULL) {
            goto fail;
        }
    }
    if (ferror(fp)) {
        fprintf(stderr, "vectors: reading %s failed\n", f->path);
        goto fail;
    }
    fclose(fp);
    return f;

fail:
    if (fp != NULL) {
        fclose(fp);
    }
    t_vec_free(f);
    return NULL;
}

const char *
t_vec_get(const struct t_vec_case *c, const char *name)
{
    for (size_t i = 0; i < c->nfields; i++) {
        if (strcmp(c->field[i].name, name) == 0) {
            return c->field[i].value;
        }
    }
    return NULL;
}

static int
nibble(char c)
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

int
t_vec_unhex(const char *hex, uint8_t **out, size_t *outlen)
{
    size_t len = strlen(hex);
    uint8_t *buf = NULL;

    if (len % 2 != 0) {
        fprintf(stderr, "vectors: odd-length hex \"%s\"\n", hex);
        return -1;
    }
    buf = malloc(len / 2 + 1);
    if (buf == NULL) {
        return -1;
    }
    for (size_t i = 0; i < len / 2; i++) {
        int hi = nibble(hex[2 * i]);
        int lo = nibble(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            fprintf(stderr, "vectors: not hex \"%s\"\n", hex);
            free(buf);
            return -1;
        }
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    buf[len / 2] = '\0';
    *out = buf;
    *outlen = len / 2;
    return 0;
}

int
t_vec_hex(const struct t_vec_case *c, const char *name, uint8_t **out, size_t *outlen)
{
    const char *v = t_vec_get(c, name);

    if (v == NULL) {
        fprintf(stderr, "vectors: case at line %u has no field %s\n", c->line, name);
        return -1;
    }
    return t_vec_unhex(v, out, outlen);
}
