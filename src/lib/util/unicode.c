/*
 * util/unicode.c - UTF-8 validation and NFKC normalisation of identity inputs.
 *
 * Layer: util. Depends on libunistring only. libunistring allocates its result
 * with malloc, so it is copied into m2msec_malloc memory (the one allocator
 * callers may free) and the original is released with free().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uninorm.h>
#include <unistr.h>

#include "util/mem.h"
#include "util/unicode.h"

int
m2msec_utf8_valid(const char *s, size_t len)
{
    if (len == 0) {
        return 1;
    }
    if (s == NULL) {
        return 0;
    }
    /* An embedded NUL would truncate the identity in every C consumer. */
    if (memchr(s, '\0', len) != NULL) {
        return 0;
    }
    /* u8_check also rejects overlong forms, surrogates and code points > U+10FFFF. */
    return u8_check((const uint8_t *)s, len) == NULL;
}

/*
 * @spec TS-0003 10.3.2 10.3.3 10.3.6 10.3.7 identity inputs to the derivations
 * are UTF-8 octet strings in Normalization Form KC, so equivalent spellings
 * of an identifier derive the same key.
 */
int
m2msec_nfkc(const char *s, char **out, size_t *outlen, struct m2msec_error *err)
{
    uint8_t *norm = NULL; /* libunistring's malloc */
    char *res = NULL;
    size_t len;
    size_t nlen = 0;
    int rv = -1;

    if (s == NULL || out == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "nfkc: NULL argument");
        goto out;
    }
    len = strlen(s);
    if (!m2msec_utf8_valid(s, len)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "nfkc: invalid UTF-8");
        goto out;
    }
    if (len > 0) {
        norm = u8_normalize(UNINORM_NFKC, (const uint8_t *)s, len, NULL, &nlen);
        if (norm == NULL) {
            m2msec_error_setx(err, errno == ENOMEM ? M2MSEC_ERR_NOMEM : M2MSEC_ERR_INVALID_ARGUMENT,
                              "nfkc: normalisation failed");
            goto out;
        }
    }
    res = m2msec_malloc(nlen + 1);
    if (res == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "nfkc: out of memory");
        goto out;
    }
    if (nlen > 0) {
        memcpy(res, norm, nlen);
    }
    res[nlen] = '\0';
    *out = res;
    res = NULL;
    if (outlen != NULL) {
        *outlen = nlen;
    }
    rv = 0;

out:
    free(norm);
    m2msec_free(res);
    return rv;
}
