/*
 * proto/ids.c - TS-0003 identifiers: parse, format, validate, compare.
 *
 * Layer: proto (I/O-free; util only, never crypto/tls/store). These parsers
 * see attacker-supplied text (PSK identities, request bodies), so each one
 * checks the full length and the full character set before copying anything,
 * and writes its output only on success. Common rules (SPEC-DIGEST 2.4):
 * "<relative>@<fqdn>" splits at the LAST '@', FQDNs compare ASCII
 * case-insensitively, hex relative parts are accepted in either case and
 * emitted lowercase.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/ids.h"
#include "util/encoding.h"
#include "util/error.h"

#define LABEL_MAX     63
#define KEYID_HEX     32 /* hexBinary of a 16-byte RelativeKeID */
#define CRED_TYPE_MAX 99

static int
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* sec:relKeyID: letters, digits, '.', '_', '-' (TS-0003 12.2). */
static int
is_relid_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '.' || c == '_' || c == '-';
}

/* RFC 3986 unreserved. */
static int
is_unreserved(char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * RFC 1123 host name: labels of letters, digits and '-', 1..63 long, not
 * starting or ending with '-', separated by single dots; at most 253
 * characters in all; no root dot. Works on s[0..len).
 */
static int
fqdn_valid_n(const char *s, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > M2MSEC_FQDN_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (c == '.') {
            /* Empty label (leading, doubled or trailing dot) or label ending in '-'. */
            if (label == 0 || s[i - 1] == '-') {
                return 0;
            }
            label = 0;
            continue;
        }
        if (c == '-') {
            if (label == 0) {
                return 0;
            }
        } else if (!is_alpha(c) && !is_digit(c)) {
            return 0;
        }
        if (++label > LABEL_MAX) {
            return 0;
        }
    }
    return label != 0 && s[len - 1] != '-';
}

int
m2msec_fqdn_valid(const char *s)
{
    if (s == NULL) {
        return 0;
    }
    return fqdn_valid_n(s, strnlen(s, M2MSEC_FQDN_MAX + 1));
}

int
m2msec_fqdn_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return 0;
    }
    return m2msec_ascii_caseeq(a, b);
}

/*
 * Split "<rel>@<fqdn>" at the last '@' and check the FQDN. On success
 * *rellen is the length of the relative part and *fqdn points into s.
 */
static int
split_at_last(const char *s, size_t maxlen, const char *what, size_t *rellen, const char **fqdn,
              struct m2msec_error *err)
{
    const char *at = NULL;
    size_t len = 0;

    if (s == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: missing", what);
    }
    len = strnlen(s, maxlen + 1);
    if (len > maxlen) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: longer than %zu", what,
                                 maxlen);
    }
    at = strrchr(s, '@');
    if (at == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: no '@' in identifier",
                                 what);
    }
    if (!fqdn_valid_n(at + 1, len - (size_t)(at + 1 - s))) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "%s: invalid FQDN", what);
    }
    *rellen = (size_t)(at - s);
    *fqdn = at + 1;
    return 0;
}

/* @spec TS-0003 10.3.4 KeID is the hex RelativeKeID, '@', the MEF FQDN */
int
m2msec_keid_parse(const char *s, struct m2msec_keid *out, struct m2msec_error *err)
{
    struct m2msec_keid k;
    const char *fqdn = NULL;
    size_t rellen = 0;
    size_t n = 0;

    if (split_at_last(s, M2MSEC_KEID_MAX - 1, "KeID", &rellen, &fqdn, err) == -1) {
        return -1;
    }
    if (rellen != KEYID_HEX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "KeID: relative part must be %d hex digits, not %zu", KEYID_HEX,
                                 rellen);
    }
    for (size_t i = 0; i < rellen; i++) {
        if (!is_hex(s[i])) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                     "KeID: relative part is not hex");
        }
    }
    memset(&k, 0, sizeof(k));
    if (m2msec_hex_decode(s, rellen, k.rel, sizeof(k.rel), &n, err) == -1 || n != sizeof(k.rel)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "KeID: relative part is not hex");
    }
    if (m2msec_strlcpy(k.fqdn, fqdn, sizeof(k.fqdn)) == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KeID: FQDN too long");
    }
    *out = k;
    return 0;
}

int
m2msec_keid_format(const uint8_t rel[16], const char *fqdn, char *out, size_t outsz,
                   struct m2msec_error *err)
{
    size_t flen = 0;

    if (rel == NULL || out == NULL || !m2msec_fqdn_valid(fqdn)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "KeID: invalid FQDN");
    }
    flen = strlen(fqdn);
    if (outsz < KEYID_HEX + 1 + flen + 1) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "KeID: output buffer too small");
    }
    if (m2msec_hex_encode(rel, 16, out, outsz) == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "KeID: output buffer too small");
    }
    out[KEYID_HEX] = '@';
    memcpy(out + KEYID_HEX + 1, fqdn, flen + 1);
    return 0;
}

int
m2msec_keid_equal(const struct m2msec_keid *a, const struct m2msec_keid *b)
{
    if (a == NULL || b == NULL) {
        return 0;
    }
    /* Identifiers are public: a plain comparison is fine. */
    return memcmp(a->rel, b->rel, sizeof(a->rel)) == 0 /* public */ &&
           m2msec_ascii_caseeq(a->fqdn, b->fqdn);
}

/* Relative part of a KmID / KpsaID / Key Identifier: 1..128 sec:relKeyID characters. */
static int
relid_valid_n(const char *s, size_t len)
{
    if (len == 0 || len > M2MSEC_RELID_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_relid_char(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* @spec TS-0003 10.3.5, 10.5, 10.6 "<relative>@<fqdn>" with a sec:relKeyID relative part */
int
m2msec_keyref_parse(const char *s, struct m2msec_keyref *out, struct m2msec_error *err)
{
    struct m2msec_keyref k;
    const char *fqdn = NULL;
    size_t rellen = 0;

    if (split_at_last(s, M2MSEC_KEYREF_MAX - 1, "key identifier", &rellen, &fqdn, err) == -1) {
        return -1;
    }
    if (rellen == 0 || rellen > M2MSEC_RELID_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "key identifier: relative part must be 1..%d characters",
                                 M2MSEC_RELID_MAX);
    }
    if (!relid_valid_n(s, rellen)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "key identifier: relative part may hold only letters, digits, "
                                 "'.', '_' and '-'");
    }
    memset(&k, 0, sizeof(k));
    memcpy(k.rel, s, rellen);
    k.rel[rellen] = '\0';
    if (m2msec_strlcpy(k.fqdn, fqdn, sizeof(k.fqdn)) == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key identifier: FQDN too long");
    }
    *out = k;
    return 0;
}

int
m2msec_keyref_format(const char *rel, const char *fqdn, char *out, size_t outsz,
                     struct m2msec_error *err)
{
    size_t rlen = 0;
    size_t flen = 0;

    if (rel == NULL || out == NULL || !relid_valid_n(rel, strnlen(rel, M2MSEC_RELID_MAX + 1))) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "key identifier: invalid relative part");
    }
    if (!m2msec_fqdn_valid(fqdn)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "key identifier: invalid FQDN");
    }
    rlen = strlen(rel);
    flen = strlen(fqdn);
    if (outsz < rlen + 1 + flen + 1) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE,
                                 "key identifier: output buffer too small");
    }
    memcpy(out, rel, rlen);
    out[rlen] = '@';
    memcpy(out + rlen + 1, fqdn, flen + 1);
    return 0;
}

/*
 * TS-0003 10.6 makes the relative KmID case-insensitive, and hex Key
 * Identifiers have no fixed case, so the relative part compares
 * case-insensitively too.
 */
int
m2msec_keyref_equal(const struct m2msec_keyref *a, const struct m2msec_keyref *b)
{
    if (a == NULL || b == NULL) {
        return 0;
    }
    return m2msec_ascii_caseeq(a->rel, b->rel) && m2msec_ascii_caseeq(a->fqdn, b->fqdn);
}

/* One non-empty path segment of unreserved characters; returns its length, 0 if none. */
static size_t
segment_len(const char *s)
{
    size_t n = 0;

    while (s[n] != '\0' && s[n] != '/') {
        if (!is_unreserved(s[n])) {
            return 0;
        }
        n++;
    }
    return n;
}

/* AE-ID-Stem: 'C' or 'S' followed by at least one more unreserved character. */
static int
ae_stem_valid(const char *s)
{
    size_t n = 0;

    if (s[0] != 'C' && s[0] != 'S') {
        return 0;
    }
    n = segment_len(s);
    return n >= 2 && s[n] == '\0';
}

/*
 * Skip the CSE part of an SP-relative ("/<cse>") or absolute ("//<sp>/<cse>")
 * identifier. Returns a pointer just past the CSE segment, or NULL. The
 * SP-ID must be an FQDN because TS-0003 uses the FQDN form of absolute IDs
 * as Enrolment-Target-IDs.
 */
static const char *
skip_cse_prefix(const char *s)
{
    size_t n = 0;

    if (s[0] != '/') {
        return NULL;
    }
    s++;
    if (s[0] == '/') {
        const char *slash = NULL;

        s++;
        slash = strchr(s, '/');
        if (slash == NULL || !fqdn_valid_n(s, (size_t)(slash - s))) {
            return NULL;
        }
        s = slash + 1;
    }
    n = segment_len(s);
    if (n == 0) {
        return NULL;
    }
    return s + n;
}

static int
id_len_ok(const char *s)
{
    size_t len = 0;

    if (s == NULL) {
        return 0;
    }
    len = strnlen(s, M2MSEC_ID_MAX + 1);
    return len > 0 && len <= M2MSEC_ID_MAX;
}

int
m2msec_cse_id_valid(const char *s)
{
    const char *end = NULL;

    if (!id_len_ok(s)) {
        return 0;
    }
    end = skip_cse_prefix(s);
    return end != NULL && *end == '\0';
}

int
m2msec_ae_id_valid(const char *s)
{
    const char *end = NULL;

    if (!id_len_ok(s)) {
        return 0;
    }
    if (s[0] != '/') {
        return ae_stem_valid(s);
    }
    end = skip_cse_prefix(s);
    if (end == NULL || *end != '/') {
        return 0;
    }
    return ae_stem_valid(end + 1);
}

int
m2msec_entity_id_valid(const char *s)
{
    return m2msec_cse_id_valid(s) || m2msec_ae_id_valid(s);
}

int
m2msec_kpm_id_valid(const char *s)
{
    size_t len = 0;

    if (!id_len_ok(s)) {
        return 0;
    }
    len = strlen(s);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x21 || c > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* @spec TS-0003 12.3.2.1 the defined sec:credIDTypeID values */
static int
cred_type_valid(unsigned t)
{
    return (t >= 10 && t <= 16) || (t >= 30 && t <= 34) || (t >= 41 && t <= 45) ||
           (t >= 51 && t <= 55);
}

/*
 * DEFECT-16: the value part is kept verbatim (ni: URIs and absolute IDs carry
 * ':', '/', ';' which 10.4's list omits). Only what no xs:anyURI can hold
 * is refused: control characters, space and DEL.
 */
static int
cred_value_valid(const char *v, size_t len)
{
    if (len == 0) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c <= 0x20 || c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* @spec TS-0003 10.4 Credential-ID is the decimal type, '-', then the value */
int
m2msec_credential_id_format(unsigned type, const char *value, char *out, size_t outsz,
                            struct m2msec_error *err)
{
    size_t vlen = 0;
    size_t tlen = 0;

    if (!cred_type_valid(type)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Credential-ID: undefined type %u", type);
    }
    if (value == NULL || out == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "Credential-ID: missing value");
    }
    vlen = strnlen(value, M2MSEC_ID_MAX + 1);
    /* Every defined type has two digits. */
    tlen = 2;
    if (tlen + 1 + vlen > M2MSEC_ID_MAX || !cred_value_valid(value, vlen)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Credential-ID: invalid value part");
    }
    if (outsz < tlen + 1 + vlen + 1) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE,
                                 "Credential-ID: output buffer too small");
    }
    out[0] = (char)('0' + type / 10);
    out[1] = (char)('0' + type % 10);
    out[2] = '-';
    memcpy(out + 3, value, vlen + 1);
    return 0;
}

int
m2msec_credential_id_parse(const char *s, unsigned *type, const char **value,
                           struct m2msec_error *err)
{
    const char *dash = NULL;
    uint64_t t = 0;
    size_t len = 0;

    if (s == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "Credential-ID: missing");
    }
    len = strnlen(s, M2MSEC_ID_MAX + 1);
    if (len > M2MSEC_ID_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "Credential-ID: longer than %d",
                                 M2MSEC_ID_MAX);
    }
    /* The type has no '-', the value may: split at the first one. */
    dash = strchr(s, '-');
    if (dash == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "Credential-ID: no '-'");
    }
    if (m2msec_parse_u64(s, (size_t)(dash - s), CRED_TYPE_MAX, &t) == -1 ||
        !cred_type_valid((unsigned)t)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Credential-ID: type is not a defined credIDTypeID");
    }
    if (!cred_value_valid(dash + 1, len - (size_t)(dash + 1 - s))) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "Credential-ID: invalid value part");
    }
    *type = (unsigned)t;
    *value = dash + 1;
    return 0;
}

/* @spec TS-0004 6.3.4.2.39 the defined m2m:suid values */
int
m2msec_suid_valid(unsigned suid)
{
    return (suid >= 10 && suid <= 15) || (suid >= 21 && suid <= 25) || (suid >= 32 && suid <= 35) ||
           (suid >= 40 && suid <= 45);
}
