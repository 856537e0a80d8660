/*
 * util/encoding.c - hex, base64, strict numbers, bounded strings.
 *
 * Layer: util. Depends on util/mem.h and util/secret.h (wiping). Everything
 * here parses untrusted input, so the decoders accept exactly one spelling of
 * each value: canonical base64 only (RFC 4648 section 3.5), no whitespace, no
 * signs or leading zeros in numbers. Decoded bytes may be key material, so
 * partial output is wiped on failure.
 */
#include <string.h>

#include "util/encoding.h"
#include "util/mem.h"
#include "util/secret.h"

static const char hex_digits[] = "0123456789abcdef";

static const char b64_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
hex_value(char c)
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
m2msec_hex_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
{
    size_t i;

    if (out == NULL || n > (SIZE_MAX - 1) / 2 || outsz < 2 * n + 1) {
        return -1;
    }
    if (n > 0 && in == NULL) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
    return 0;
}

int
m2msec_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t outsz, size_t *outlen,
                  struct m2msec_error *err)
{
    size_t i;
    int hi;
    int lo;

    if (hexlen > 0 && (hex == NULL || out == NULL)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "hex: NULL argument");
    }
    if (hexlen % 2 != 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "hex: odd length %zu", hexlen);
    }
    if (hexlen / 2 > outsz) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "hex: %zu bytes do not fit in %zu",
                                 hexlen / 2, outsz);
    }
    for (i = 0; i < hexlen / 2; i++) {
        hi = hex_value(hex[2 * i]);
        lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            m2msec_wipe(out, i);
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "hex: invalid character at offset %zu",
                                     hi < 0 ? 2 * i : 2 * i + 1);
        }
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    if (outlen != NULL) {
        *outlen = hexlen / 2;
    }
    return 0;
}

int
m2msec_b64_encode(const uint8_t *in, size_t n, char **out, struct m2msec_error *err)
{
    char *o = NULL;
    size_t olen;
    size_t i;
    size_t j = 0;
    uint32_t v;

    if (out == NULL || (n > 0 && in == NULL)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "base64: NULL argument");
    }
    if (n / 3 >= (SIZE_MAX - 5) / 4) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "base64: input too large");
    }
    olen = 4 * ((n + 2) / 3);
    o = m2msec_malloc(olen + 1);
    if (o == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "base64: out of memory");
    }
    for (i = 0; i + 3 <= n; i += 3) {
        v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        o[j++] = b64_alphabet[(v >> 18) & 0x3f];
        o[j++] = b64_alphabet[(v >> 12) & 0x3f];
        o[j++] = b64_alphabet[(v >> 6) & 0x3f];
        o[j++] = b64_alphabet[v & 0x3f];
    }
    if (n - i == 1) {
        v = (uint32_t)in[i] << 16;
        o[j++] = b64_alphabet[(v >> 18) & 0x3f];
        o[j++] = b64_alphabet[(v >> 12) & 0x3f];
        o[j++] = '=';
        o[j++] = '=';
    } else if (n - i == 2) {
        v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        o[j++] = b64_alphabet[(v >> 18) & 0x3f];
        o[j++] = b64_alphabet[(v >> 12) & 0x3f];
        o[j++] = b64_alphabet[(v >> 6) & 0x3f];
        o[j++] = '=';
    }
    o[j] = '\0';
    *out = o;
    return 0;
}

static int
b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

int
m2msec_b64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen,
                  struct m2msec_error *err)
{
    uint8_t *o = NULL;
    size_t pad = 0;
    size_t olen;
    size_t i;
    size_t k;
    size_t j = 0;
    size_t bad_at = 0;
    uint32_t v = 0;
    int d;
    int rv = -1;

    if (out == NULL || (len > 0 && in == NULL)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "base64: NULL argument");
        goto out;
    }
    /* Padding is mandatory, so the length is always a multiple of four. */
    if (len % 4 != 0) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                          "base64: length %zu is not a multiple of 4", len);
        goto out;
    }
    if (len > 0 && in[len - 1] == '=') {
        pad = (len > 1 && in[len - 2] == '=') ? 2 : 1;
    }
    olen = len / 4 * 3 - pad;
    o = m2msec_malloc(olen + 1);
    if (o == NULL) {
        m2msec_error_setx(err, M2MSEC_ERR_NOMEM, "base64: out of memory");
        goto out;
    }
    for (i = 0; i < len; i += 4) {
        v = 0;
        for (k = 0; k < 4; k++) {
            /* '=' only where pad says, i.e. the last one or two characters. */
            if (i + k >= len - pad) {
                if (in[i + k] != '=') {
                    bad_at = i + k;
                    goto bad_char;
                }
                v <<= 6;
                continue;
            }
            d = b64_value(in[i + k]);
            if (d < 0) {
                bad_at = i + k;
                goto bad_char;
            }
            v = v << 6 | (uint32_t)d;
        }
        o[j++] = (uint8_t)(v >> 16);
        if (j < olen) {
            o[j++] = (uint8_t)(v >> 8);
        }
        if (j < olen) {
            o[j++] = (uint8_t)v;
        }
    }
    /* Canonical form: the bits dropped by the padding must be zero (RFC 4648 3.5). */
    if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0)) {
        m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "base64: non-zero padding bits");
        goto out;
    }
    o[olen] = '\0';
    *out = o;
    o = NULL;
    if (outlen != NULL) {
        *outlen = olen;
    }
    rv = 0;
    goto out;

bad_char:
    m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "base64: invalid character at offset %zu",
                      bad_at);
out:
    if (o != NULL) {
        m2msec_wipe(o, olen + 1);
        m2msec_free(o);
    }
    return rv;
}

int
m2msec_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    unsigned d;
    size_t i;

    if (s == NULL || len == 0) {
        return -1;
    }
    /* One spelling per number: "0" itself, but no "007". */
    if (s[0] == '0' && len > 1) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    if (v > max) {
        return -1;
    }
    if (out != NULL) {
        *out = v;
    }
    return 0;
}

int
m2msec_strlcpy(char *dst, const char *src, size_t dstsz)
{
    size_t n;

    if (dst == NULL || dstsz == 0) {
        return -1;
    }
    if (src == NULL) {
        dst[0] = '\0';
        return -1;
    }
    n = strnlen(src, dstsz);
    if (n >= dstsz) {
        dst[0] = '\0';
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

static unsigned char
ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

int
m2msec_ascii_caseeq(const char *a, const char *b)
{
    return m2msec_ascii_caseeqn(a, b, SIZE_MAX);
}

int
m2msec_ascii_caseeqn(const char *a, const char *b, size_t n)
{
    size_t i;
    unsigned char ca;
    unsigned char cb;

    if (a == NULL || b == NULL) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        ca = ascii_lower((unsigned char)a[i]);
        cb = ascii_lower((unsigned char)b[i]);
        if (ca != cb) {
            return 0;
        }
        if (ca == '\0') {
            break;
        }
    }
    return 1;
}
