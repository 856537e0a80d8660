/*
 * util/time.c - wall clock, monotonic clock, oneM2M timestamps.
 *
 * Layer: util. Depends on libc and POSIX clocks only. Calendar conversion uses
 * the days-from-civil algorithm (proleptic Gregorian, H. Hinnant) on int64_t,
 * so it needs neither timegm nor a 64-bit time_t and round-trips exactly for
 * years 0000..9999, the range a four-digit m2m:timestamp can express.
 */
#include <time.h>

#ifdef M2MSEC_TESTING
#include <stdatomic.h>
#endif

#include "util/time.h"

#define SECS_PER_DAY 86400

#ifdef M2MSEC_TESTING
static atomic_llong clock_offset;

void
m2msec_test_clock_offset(int64_t offset)
{
    atomic_store(&clock_offset, (long long)offset);
}
#endif

int64_t
m2msec_now(void)
{
    struct timespec ts;
    int64_t t;

    if (clock_gettime(CLOCK_REALTIME, &ts) == -1) {
        /* Cannot happen for CLOCK_REALTIME; fall back to time(). */
        t = (int64_t)time(NULL);
    } else {
        t = (int64_t)ts.tv_sec;
    }
#ifdef M2MSEC_TESTING
    t += (int64_t)atomic_load(&clock_offset);
#endif
    return t;
}

uint64_t
m2msec_monotonic_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31), proleptic Gregorian. */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era;
    int64_t yoe;
    int64_t doy;
    int64_t doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil. */
static void
civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
    int64_t era;
    int64_t doe;
    int64_t yoe;
    int64_t doy;
    int64_t mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

static int
is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t
days_in_month(int64_t y, int64_t m)
{
    static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    if (m == 2 && is_leap(y)) {
        return 29;
    }
    return dim[m - 1];
}

/* Write v as exactly n decimal digits (v is known to fit). */
static void
put_digits(char *p, int64_t v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

int
m2msec_timestamp_format(int64_t t, char out[M2MSEC_TIMESTAMP_LEN])
{
    int64_t lo = days_from_civil(0, 1, 1) * SECS_PER_DAY;
    int64_t hi = days_from_civil(9999, 12, 31) * SECS_PER_DAY + SECS_PER_DAY - 1;
    int64_t days;
    int64_t secs;
    int64_t y;
    int64_t m;
    int64_t d;

    /* Four-digit years only: anything else cannot be written as an m2m:timestamp. */
    if (out == NULL || t < lo || t > hi) {
        return -1;
    }
    days = t / SECS_PER_DAY;
    secs = t % SECS_PER_DAY;
    if (secs < 0) {
        secs += SECS_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    put_digits(out, y, 4);
    put_digits(out + 4, m, 2);
    put_digits(out + 6, d, 2);
    out[8] = 'T';
    put_digits(out + 9, secs / 3600, 2);
    put_digits(out + 11, secs / 60 % 60, 2);
    put_digits(out + 13, secs % 60, 2);
    out[15] = '\0';
    return 0;
}

/* n decimal digits at p into *v; 0, or -1 on a non-digit. */
static int
get_digits(const char *p, int n, int64_t *v)
{
    int64_t r = 0;
    int i;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        r = r * 10 + (p[i] - '0');
    }
    *v = r;
    return 0;
}

/* Longest fractional part accepted (nanoseconds); longer is not a real clock. */
#define FRACTION_MAX_DIGITS 9

int
m2msec_timestamp_parse(const char *s, int64_t *out, struct m2msec_error *err)
{
    int64_t y;
    int64_t mo;
    int64_t d;
    int64_t h;
    int64_t mi;
    int64_t sec;
    const char *p;
    int nfrac = 0;

    if (s == NULL || out == NULL) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "timestamp: NULL argument");
    }
    /* get_digits stops at the first non-digit, so a short string never reads past its NUL. */
    if (get_digits(s, 4, &y) == -1 || get_digits(s + 4, 2, &mo) == -1 ||
        get_digits(s + 6, 2, &d) == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "timestamp: expected YYYYMMDD");
    }
    if (s[8] != 'T') {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "timestamp: expected 'T' after the date");
    }
    if (get_digits(s + 9, 2, &h) == -1 || get_digits(s + 11, 2, &mi) == -1 ||
        get_digits(s + 13, 2, &sec) == -1) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "timestamp: expected hhmmss");
    }
    p = s + 15;
    if (*p == ',') {
        p++;
        while (p[nfrac] >= '0' && p[nfrac] <= '9') {
            if (++nfrac > FRACTION_MAX_DIGITS) {
                return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                         "timestamp: fraction longer than %d digits",
                                         FRACTION_MAX_DIGITS);
            }
        }
        if (nfrac == 0) {
            return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "timestamp: empty fraction");
        }
        p += nfrac;
    }
    if (*p == 'Z') {
        p++;
    }
    if (*p != '\0') {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT,
                                 "timestamp: unexpected trailing characters");
    }
    if (mo < 1 || mo > 12) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "timestamp: month out of range");
    }
    if (d < 1 || d > days_in_month(y, mo)) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "timestamp: day out of range");
    }
    /* No leap seconds: POSIX time has none, and 60 would not round-trip. */
    if (h > 23 || mi > 59 || sec > 59) {
        return m2msec_error_setx(err, M2MSEC_ERR_INVALID_ARGUMENT, "timestamp: time out of range");
    }
    *out = days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 + sec;
    return 0;
}
