/*
 * proto/id2.c - the IBC identity ID2 = FQDN 0x00 EXPIRY 0x00 ID1 0x00.
 *
 * Layer: proto (I/O-free; util and proto/ids below; no clock, no OpenSSL).
 * The rules are in id2.h and IBC-DESIGN.md (shared/docs) 3.4. Dates are converted
 * with the proleptic Gregorian day count (days_from_civil / civil_from_days,
 * after H. Hinnant's public-domain algorithms) so that no libc time zone
 * state is involved.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/id2.h"
#include "proto/ids.h"
#include "util/error.h"

#define SECS_PER_DAY INT64_C(86400)

/* Days since 1970-01-01 of y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era = 0;
    unsigned yoe = 0, doy = 0, doe = 0;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era = 0;
    unsigned doe = 0, yoe = 0, doy = 0, mp = 0;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned
days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dm[m - 1];
}

int
m2msec_id2_expiry_format(int64_t t, char out[M2MSEC_ID2_EXPIRY_LEN + 1], struct m2msec_error *err)
{
    int64_t days = 0, secs = 0, y = 0;
    unsigned mo = 0, d = 0, v[5];
    static const size_t pos[5] = { 5, 8, 11, 14, 17 };

    if (out == NULL || t < 0 || t > M2MSEC_ID2_TIME_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ID2 expiry %lld out of range",
                                 (long long)t);
    }
    days = t / SECS_PER_DAY;
    secs = t % SECS_PER_DAY;
    civil_from_days(days, &y, &mo, &d);
    memcpy(out, "0000-00-00T00:00:00Z", M2MSEC_ID2_EXPIRY_LEN + 1);
    for (int i = 3; i >= 0; i--) {
        out[i] = (char)('0' + y % 10);
        y /= 10;
    }
    v[0] = mo;
    v[1] = d;
    v[2] = (unsigned)(secs / 3600);
    v[3] = (unsigned)(secs / 60 % 60);
    v[4] = (unsigned)(secs % 60);
    for (size_t i = 0; i < 5; i++) {
        out[pos[i]] = (char)('0' + v[i] / 10);
        out[pos[i] + 1] = (char)('0' + v[i] % 10);
    }
    return 0;
}

/* Two or four ASCII digits at s into *v; 0, or -1 when any is not a digit. */
static int
digits(const char *s, size_t n, unsigned *v)
{
    unsigned x = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        x = x * 10 + (unsigned)(s[i] - '0');
    }
    *v = x;
    return 0;
}

/* @spec RFC 3339 5.6 date-time, restricted to the one canonical UTC form ID2 uses */
int
m2msec_id2_expiry_parse(const char *s, size_t len, int64_t *t, struct m2msec_error *err)
{
    unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;

    if (s == NULL || t == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ID2 expiry missing");
    }
    if (len != M2MSEC_ID2_EXPIRY_LEN) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "ID2 expiry must be %d characters YYYY-MM-DDThh:mm:ssZ",
                                 M2MSEC_ID2_EXPIRY_LEN);
    }
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[19] != 'Z' || digits(s, 4, &y) == -1 || digits(s + 5, 2, &mo) == -1 ||
        digits(s + 8, 2, &d) == -1 || digits(s + 11, 2, &h) == -1 || digits(s + 14, 2, &mi) == -1 ||
        digits(s + 17, 2, &sec) == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL,
                                 "ID2 expiry is not YYYY-MM-DDThh:mm:ssZ");
    }
    /* No leap second (60): a period boundary never falls on one. */
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 59) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "ID2 expiry field out of range");
    }
    *t = days_from_civil(y, mo, d) * SECS_PER_DAY + (int64_t)h * 3600 + (int64_t)mi * 60 +
         (int64_t)sec;
    return 0;
}

int
m2msec_id2_fqdn_valid(const char *s)
{
    if (!m2msec_fqdn_valid(s)) {
        return 0;
    }
    /* One identity, one encoding: ID2 is compared and hashed as bytes. */
    for (const char *p = s; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            return 0;
        }
    }
    return 1;
}

static int
id1_valid(const char *s)
{
    size_t n = strnlen(s, M2MSEC_ID2_ID1_MAX + 1);

    return n > 0 && n <= M2MSEC_ID2_ID1_MAX && m2msec_entity_id_valid(s);
}

/* IBC-DESIGN 3.4 ID2 = FQDN 0x00 EXPIRY 0x00 ID1 0x00 */
int
m2msec_id2_encode(const char *fqdn, int64_t expiry, const char *id1, uint8_t *out, size_t outsz,
                  size_t *outlen, struct m2msec_error *err)
{
    char exp[M2MSEC_ID2_EXPIRY_LEN + 1];
    size_t fl = 0, il = 0, n = 0;

    if (fqdn == NULL || id1 == NULL || out == NULL || outlen == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ID2: missing field");
    }
    if (!m2msec_id2_fqdn_valid(fqdn)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "ID2: FQDN is not lowercase LDH labels");
    }
    if (!id1_valid(id1)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "ID2: ID1 is not a CSE-ID or AE-ID of 1..%d octets",
                                 M2MSEC_ID2_ID1_MAX);
    }
    if (m2msec_id2_expiry_format(expiry, exp, err) == -1) {
        return -1;
    }
    fl = strlen(fqdn);
    il = strlen(id1);
    n = fl + 1 + M2MSEC_ID2_EXPIRY_LEN + 1 + il + 1;
    if (n > outsz) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "ID2: %zu bytes do not fit in %zu", n,
                                 outsz);
    }
    memcpy(out, fqdn, fl + 1);
    memcpy(out + fl + 1, exp, M2MSEC_ID2_EXPIRY_LEN + 1);
    memcpy(out + fl + 1 + M2MSEC_ID2_EXPIRY_LEN + 1, id1, il + 1);
    *outlen = n;
    return 0;
}

/*
 * The next field of in[*pos..len): up to (not including) the next NUL, which
 * must exist. *flen is its length; *pos moves past the NUL.
 */
static int
next_field(const uint8_t *in, size_t len, size_t *pos, const char *what, size_t max,
           const uint8_t **field, size_t *flen, struct m2msec_error *err)
{
    const uint8_t *nul = NULL;

    if (*pos >= len) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "ID2: %s missing", what);
    }
    nul = memchr(in + *pos, 0, len - *pos);
    if (nul == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "ID2: %s not NUL-terminated", what);
    }
    *field = in + *pos;
    *flen = (size_t)(nul - *field);
    if (*flen == 0) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "ID2: empty %s", what);
    }
    if (*flen > max) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "ID2: %s longer than %zu", what, max);
    }
    *pos += *flen + 1;
    return 0;
}

/* IBC-DESIGN 3.4 strict parse: three non-empty NUL-terminated fields, nothing after */
int
m2msec_id2_parse(const uint8_t *in, size_t len, struct m2msec_id2 *out, struct m2msec_error *err)
{
    struct m2msec_id2 id;
    const uint8_t *f = NULL;
    size_t flen = 0, pos = 0;

    if (in == NULL || out == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "ID2 missing");
    }
    if (len > M2MSEC_ID2_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_TOO_LARGE, "ID2 longer than %d octets",
                                 M2MSEC_ID2_MAX);
    }
    memset(&id, 0, sizeof(id));
    if (next_field(in, len, &pos, "FQDN", M2MSEC_FQDN_MAX, &f, &flen, err) == -1) {
        return -1;
    }
    memcpy(id.fqdn, f, flen);
    if (!m2msec_id2_fqdn_valid(id.fqdn)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "ID2: FQDN is not lowercase LDH labels");
    }
    if (next_field(in, len, &pos, "expiry", M2MSEC_ID2_EXPIRY_LEN + 1, &f, &flen, err) == -1) {
        return -1;
    }
    if (m2msec_id2_expiry_parse((const char *)f, flen, &id.expiry, err) == -1) {
        return -1;
    }
    if (next_field(in, len, &pos, "ID1", M2MSEC_ID2_ID1_MAX, &f, &flen, err) == -1) {
        return -1;
    }
    memcpy(id.id1, f, flen);
    if (!id1_valid(id.id1)) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "ID2: ID1 is not a CSE-ID or AE-ID");
    }
    if (pos != len) {
        return m2msec_error_setx(err, M2MSEC_ERR_PROTOCOL, "ID2: %zu trailing bytes", len - pos);
    }
    *out = id;
    return 0;
}

/* Floor division for b > 0. */
static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int
m2msec_id2_period_end(int64_t t, int64_t period, int64_t offset, int64_t *end,
                      struct m2msec_error *err)
{
    int64_t k = 0, e = 0;

    if (end == NULL || period <= 0 || period > M2MSEC_ID2_TIME_MAX || offset < 0 ||
        offset >= period || t < 0 || t > M2MSEC_ID2_TIME_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "key period: need period > 0, 0 <= offset < period, t in range");
    }
    /* All values are below 2^38, so nothing here can overflow int64. */
    k = floor_div(t - offset, period);
    e = offset + (k + 1) * period;
    if (e > M2MSEC_ID2_TIME_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "key period ends after 9999-12-31");
    }
    *end = e;
    return 0;
}

int
m2msec_id2_expiry_aligned(int64_t expiry, int64_t period, int64_t offset)
{
    if (period <= 0 || period > M2MSEC_ID2_TIME_MAX || offset < 0 || offset >= period ||
        expiry < 0 || expiry > M2MSEC_ID2_TIME_MAX) {
        return 0;
    }
    return (expiry - offset) % period == 0;
}

/* IBC-DESIGN 4.2 step 2: not expired (within the skew), lifetime within policy */
int
m2msec_id2_check_times(const struct m2msec_id2 *id, int64_t now, int64_t skew, int64_t max_lifetime,
                       struct m2msec_error *err)
{
    char exp[M2MSEC_ID2_EXPIRY_LEN + 1];

    if (id == NULL || now < 0 || now > M2MSEC_ID2_TIME_MAX || skew < 0 ||
        skew > M2MSEC_ID2_SKEW_MAX || max_lifetime <= 0 || max_lifetime > M2MSEC_ID2_TIME_MAX ||
        id->expiry < 0 || id->expiry > M2MSEC_ID2_TIME_MAX) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "ID2 time check: argument out of range");
    }
    if (m2msec_id2_expiry_format(id->expiry, exp, err) == -1) {
        return -1;
    }
    if (now > id->expiry + skew) {
        return m2msec_error_setx(err, M2MSEC_ERR_EXPIRED, "ID2 of %s expired at %s", id->id1, exp);
    }
    if (id->expiry - now > max_lifetime) {
        return m2msec_error_setx(err, M2MSEC_ERR_AUTH,
                                 "ID2 of %s is mis-issued: expiry %s is more than %lld s ahead",
                                 id->id1, exp, (long long)max_lifetime);
    }
    return 0;
}
