/*
 * util/mem.c - allocation wrappers with a fault-injection hook.
 *
 * Layer: util. Depends only on libc (and util/secret.h for wiping). Every
 * library allocation goes through here so that M2MSEC_TESTING builds can make
 * the n-th allocation fail and torture tests can reach every NOMEM path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef M2MSEC_TESTING
#include <stdatomic.h>
#endif

#include "util/mem.h"
#include "util/secret.h"

#ifdef M2MSEC_TESTING
/* Allocations left before the one that fails; 0 = injection disabled. */
static atomic_ulong fail_countdown;

void
m2msec_test_fail_alloc_at(unsigned long n)
{
    atomic_store(&fail_countdown, n);
}

int
m2msec_test_alloc_tick(void)
{
    unsigned long cur = atomic_load(&fail_countdown);

    /* CAS loop so concurrent allocators fail exactly one allocation. */
    while (cur != 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &cur, cur - 1)) {
            return cur == 1;
        }
    }
    return 0;
}
#define ALLOC_SHOULD_FAIL() (m2msec_test_alloc_tick())
#else
#define ALLOC_SHOULD_FAIL() 0
#endif

void *
m2msec_malloc(size_t n)
{
    if (ALLOC_SHOULD_FAIL()) {
        return NULL;
    }
    /* malloc(0) may return NULL, which callers would take for failure. */
    return malloc(n == 0 ? 1 : n);
}

void *
m2msec_calloc(size_t nmemb, size_t size)
{
    if (ALLOC_SHOULD_FAIL()) {
        return NULL;
    }
    if (nmemb == 0 || size == 0) {
        return calloc(1, 1);
    }
    /* calloc checks nmemb * size for overflow itself. */
    return calloc(nmemb, size);
}

void *
m2msec_realloc(void *p, size_t n)
{
    if (ALLOC_SHOULD_FAIL()) {
        return NULL;
    }
    /* realloc(p, 0) frees p on some libcs; keep the "NULL means failure" contract. */
    return realloc(p, n == 0 ? 1 : n);
}

void
m2msec_free(void *p)
{
    free(p);
}

char *
m2msec_strdup(const char *s)
{
    if (s == NULL) {
        return NULL;
    }
    return m2msec_strndup(s, strlen(s));
}

char *
m2msec_strndup(const char *s, size_t n)
{
    char *p = NULL;
    size_t len = 0;

    if (s == NULL) {
        return NULL;
    }
    while (len < n && s[len] != '\0') {
        len++;
    }
    if (len == SIZE_MAX) {
        return NULL;
    }
    p = m2msec_malloc(len + 1);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void
m2msec_free_wipe_str(char *s)
{
    if (s == NULL) {
        return;
    }
    m2msec_wipe(s, strlen(s));
    m2msec_free(s);
}
