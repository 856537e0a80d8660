/*
 * client/apprule.c - the serviceSubscribedAppRule-shaped table of Entity B.
 *
 * Layer: client (util and proto only). See client/apprule.h for the rule
 * language. Rules are plain copies; the table is filled before Entity B
 * starts and only read afterwards, so lookups need no lock.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/apprule.h"
#include "proto/ids.h"
#include "util/mem.h"

struct apprule {
    char **apci; /* applicableCredIDs */
    size_t napci;
    char **aai; /* allowedApp-IDs */
    size_t naai;
    char **aae; /* allowedAEs */
    size_t naae;
};

struct m2msec_apprule_table {
    struct apprule rules[M2MSEC_APPRULE_MAX];
    size_t n;
};

static void
list_free(char **l, size_t n)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        m2msec_free(l[i]);
    }
    m2msec_free(l);
}

static void
rule_clear(struct apprule *r)
{
    list_free(r->apci, r->napci);
    list_free(r->aai, r->naai);
    list_free(r->aae, r->naae);
    memset(r, 0, sizeof(*r));
}

struct m2msec_apprule_table *
m2msec_apprule_table_new(void)
{
    return m2msec_calloc(1, sizeof(struct m2msec_apprule_table));
}

void
m2msec_apprule_table_free(struct m2msec_apprule_table *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        rule_clear(&t->rules[i]);
    }
    m2msec_free(t);
}

size_t
m2msec_apprule_count(const struct m2msec_apprule_table *t)
{
    return t != NULL ? t->n : 0;
}

/* Printable ASCII without space or ',' (the list separator), 1..M2MSEC_ID_MAX bytes. */
static int
entry_chars_ok(const char *s)
{
    size_t n = 0;

    if (s == NULL) {
        return 0;
    }
    n = strnlen(s, M2MSEC_ID_MAX + 1);
    if (n == 0 || n > M2MSEC_ID_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch < 0x21 || ch > 0x7e || ch == ',') {
            return 0;
        }
    }
    return 1;
}

int
m2msec_apprule_pattern_valid(const char *p)
{
    const char *star = NULL;

    if (!entry_chars_ok(p)) {
        return 0;
    }
    /* TS-0004 patterns: one wildcard, and only as the last character. */
    star = strchr(p, '*');
    return star == NULL || star[1] == '\0';
}

int
m2msec_apprule_pattern_match(const char *pattern, const char *value)
{
    size_t n = 0;

    if (pattern == NULL || value == NULL) {
        return 0;
    }
    n = strlen(pattern);
    if (n > 0 && pattern[n - 1] == '*') {
        return strncmp(pattern, value, n - 1) == 0;
    }
    return strcmp(pattern, value) == 0;
}

/*
 * @spec TS-0003 10.4: "<credIDTypeID>-<value>", a decimal type of one or two
 * digits. The value is kept verbatim (DEFECT-16: ':' '/' ';' occur in real ones).
 */
static int
cred_id_ok(const char *s)
{
    size_t d = 0;

    if (!entry_chars_ok(s) || strchr(s, '*') != NULL) {
        return 0;
    }
    while (s[d] >= '0' && s[d] <= '9') {
        d++;
    }
    return d >= 1 && d <= 2 && s[d] == '-' && s[d + 1] != '\0';
}

static int
copy_list(const char *const *in, size_t n, int cred, const char *what, char ***out, size_t *nout,
          struct m2msec_error *err)
{
    char **l = NULL;
    int rv = -1;

    if (in == NULL || n == 0 || n > M2MSEC_APPRULE_LIST_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: 1..%d entries needed", what,
                          M2MSEC_APPRULE_LIST_MAX);
        goto out;
    }
    l = m2msec_calloc(n, sizeof(*l));
    if (l == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (cred ? !cred_id_ok(in[i]) : !m2msec_apprule_pattern_valid(in[i])) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                              cred ? "%s: '%.64s' is not a Credential-ID (<type>-<value>)"
                                   : "%s: '%.64s' is not an id or a pattern ending in '*'",
                              what, in[i] != NULL ? in[i] : "");
            goto out;
        }
        l[i] = m2msec_strdup(in[i]);
        if (l[i] == NULL) {
            m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    *out = l;
    *nout = n;
    l = NULL;
    rv = 0;
out:
    list_free(l, n);
    return rv;
}

int
m2msec_apprule_add(struct m2msec_apprule_table *t, const char *const *cred_ids, size_t ncred,
                   const char *const *app_ids, size_t napp, const char *const *ae_ids, size_t nae,
                   struct m2msec_error *err)
{
    struct apprule r;
    int rv = -1;

    memset(&r, 0, sizeof(r));
    if (t == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no rule table");
    }
    if (t->n == M2MSEC_APPRULE_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "at most %d app rules",
                                 M2MSEC_APPRULE_MAX);
    }
    if (copy_list(cred_ids, ncred, 1, "applicableCredIDs", &r.apci, &r.napci, err) == -1 ||
        copy_list(app_ids, napp, 0, "allowedApp-IDs", &r.aai, &r.naai, err) == -1 ||
        copy_list(ae_ids, nae, 0, "allowedAEs", &r.aae, &r.naae, err) == -1) {
        goto out;
    }
    t->rules[t->n++] = r;
    memset(&r, 0, sizeof(r));
    rv = 0;
out:
    rule_clear(&r);
    return rv;
}

/* Split s (modified) at ',' into at most max entries; -1 when there are more. */
static int
split_commas(char *s, const char **out, size_t max, size_t *n)
{
    char *p = s;

    *n = 0;
    for (;;) {
        char *comma = strchr(p, ',');

        if (*n == max) {
            return -1;
        }
        out[(*n)++] = p;
        if (comma == NULL) {
            return 0;
        }
        *comma = '\0';
        p = comma + 1;
    }
}

int
m2msec_apprule_add_spec(struct m2msec_apprule_table *t, const char *spec, struct m2msec_error *err)
{
    const char *cred[M2MSEC_APPRULE_LIST_MAX];
    const char *app[M2MSEC_APPRULE_LIST_MAX];
    const char *ae[M2MSEC_APPRULE_LIST_MAX];
    size_t ncred = 0, napp = 0, nae = 0;
    char *buf = NULL;
    char *c1 = NULL;
    char *c2 = NULL;
    int rv = -1;

    if (spec == NULL || strnlen(spec, M2MSEC_APPRULE_LINE_MAX) == M2MSEC_APPRULE_LINE_MAX) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "app rule missing or longer than %d",
                          M2MSEC_APPRULE_LINE_MAX - 1);
        goto out;
    }
    buf = m2msec_strdup(spec);
    if (buf == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "out of memory");
        goto out;
    }
    c2 = strrchr(buf, ':');
    if (c2 != NULL) {
        *c2 = '\0';
        c1 = strrchr(buf, ':');
    }
    if (c1 == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "app rule '%.64s': CRED-IDS:APP-IDS:AE-IDS expected", spec);
        goto out;
    }
    *c1 = '\0';
    if (split_commas(buf, cred, M2MSEC_APPRULE_LIST_MAX, &ncred) == -1 ||
        split_commas(c1 + 1, app, M2MSEC_APPRULE_LIST_MAX, &napp) == -1 ||
        split_commas(c2 + 1, ae, M2MSEC_APPRULE_LIST_MAX, &nae) == -1) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "app rule '%.64s': at most %d entries per list", spec,
                          M2MSEC_APPRULE_LIST_MAX);
        goto out;
    }
    rv = m2msec_apprule_add(t, cred, ncred, app, napp, ae, nae, err);
out:
    m2msec_free(buf);
    return rv;
}

/* Trim blanks (and a CR) at both ends in place; returns the first kept character. */
static char *
trim(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return s;
}

int
m2msec_apprule_load_file(struct m2msec_apprule_table *t, const char *path, struct m2msec_error *err)
{
    char line[M2MSEC_APPRULE_LINE_MAX + 2];
    FILE *f = NULL;
    size_t before = 0;
    unsigned lineno = 0;
    int rv = -1;

    if (t == NULL || path == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "no rule table or file");
    }
    before = t->n;
    f = fopen(path, "r");
    if (f == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s = NULL;

        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s:%u: line longer than %d", path,
                              lineno, M2MSEC_APPRULE_LINE_MAX);
            goto out;
        }
        s = trim(line);
        if (*s == '\0' || *s == '#') {
            continue;
        }
        if (m2msec_apprule_add_spec(t, s, err) == -1) {
            m2msec_error_wrap(err, "%s:%u", path, lineno);
            goto out;
        }
    }
    if (ferror(f)) {
        m2msec_error_setx(err, M2MSEC_ERR_IO, "reading %s failed", path);
        goto out;
    }
    rv = 0;
out:
    if (f != NULL) {
        fclose(f);
    }
    if (rv == -1) {
        /* All or nothing: a half-read file would leave a policy nobody wrote. */
        while (t != NULL && t->n > before) {
            rule_clear(&t->rules[--t->n]);
        }
    }
    return rv;
}

static int
any_match(char *const *patterns, size_t n, const char *value)
{
    for (size_t i = 0; i < n; i++) {
        if (m2msec_apprule_pattern_match(patterns[i], value)) {
            return 1;
        }
    }
    return 0;
}

int
m2msec_apprule_allows(const struct m2msec_apprule_table *t, const char *cred_id, const char *app_id,
                      const char *ae_id)
{
    if (t == NULL || cred_id == NULL || app_id == NULL || ae_id == NULL) {
        return 0;
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct apprule *r = &t->rules[i];
        int listed = 0;

        /* applicableCredIDs are exact: a credential never matches by prefix. */
        for (size_t j = 0; j < r->napci && !listed; j++) {
            listed = strcmp(r->apci[j], cred_id) == 0;
        }
        if (listed && any_match(r->aai, r->naai, app_id) && any_match(r->aae, r->naae, ae_id)) {
            return 1;
        }
    }
    return 0;
}
