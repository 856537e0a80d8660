/*
 * util/mem.h - allocation wrappers.
 *
 * Layer: util. All library allocations go through these so that M2MSEC_TESTING
 * builds can make the n-th allocation fail (torture tests).
 */
#ifndef M2MSEC_UTIL_MEM_H
#define M2MSEC_UTIL_MEM_H

#include <stddef.h>

void *m2msec_malloc(size_t n);
void *m2msec_calloc(size_t nmemb, size_t size);
void *m2msec_realloc(void *p, size_t n);
void m2msec_free(void *p);
char *m2msec_strdup(const char *s);
char *m2msec_strndup(const char *s, size_t n);
/* Wipe then free a NUL-terminated string (for strings that may hold secrets). */
void m2msec_free_wipe_str(char *s);

#ifdef M2MSEC_TESTING
/* Make the n-th allocation from now fail (1 = the next one); 0 disables. */
void m2msec_test_fail_alloc_at(unsigned long n);
/*
 * Count one allocation against the countdown above: 1 when this allocation
 * must fail. For allocators outside mem.c (the secure heap in util/secret.c).
 */
int m2msec_test_alloc_tick(void);
#endif

#endif
