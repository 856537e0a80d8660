/*
 * srv/router.c - request-target path splitting for the daemons' routers.
 *
 * Layer: srv (daemon plumbing, not part of libm2msec). libc only.
 * Handlers match routes on decoded segments, so everything that could make two
 * spellings of one path differ (or smuggle a separator) is rejected here:
 * queries, fragments, empty segments, dot segments, and %-escapes of NUL or '/'.
 */
#include <string.h>

#include "server.h"

static int
hexval(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

int
srv_path_split(const char *target, char **segs, size_t max, char *storage, size_t storagesz)
{
    const char *p = NULL;
    size_t out = 0;
    size_t seg_start = 0;
    size_t n = 0;

    if (target == NULL || segs == NULL || storage == NULL || storagesz == 0 || target[0] != '/') {
        return -1;
    }
    if (target[1] == '\0') {
        return 0; /* "/" */
    }
    p = target + 1;
    for (;;) {
        /* One segment: up to the next '/' or the end. */
        seg_start = out;
        while (*p != '\0' && *p != '/') {
            unsigned char ch = (unsigned char)*p;
            int hi = 0;
            int lo = 0;
            if (ch == '?' || ch == '#' || ch <= 0x20 || ch >= 0x7f) {
                return -1;
            }
            if (ch == '%') {
                hi = hexval(p[1]);
                lo = hi < 0 ? -1 : hexval(p[2]);
                if (hi < 0 || lo < 0) {
                    return -1;
                }
                ch = (unsigned char)(hi * 16 + lo);
                if (ch == '\0' || ch == '/') {
                    return -1;
                }
                p += 3;
            } else {
                p++;
            }
            if (out + 1 >= storagesz) {
                return -1; /* room for this byte and the NUL */
            }
            storage[out++] = (char)ch;
        }
        if (out == seg_start) {
            return -1; /* empty segment: "//", trailing '/' */
        }
        storage[out] = '\0';
        if (strcmp(storage + seg_start, ".") == 0 || strcmp(storage + seg_start, "..") == 0) {
            return -1;
        }
        if (n >= max) {
            return -1;
        }
        segs[n++] = storage + seg_start;
        out++;
        if (*p == '\0') {
            break;
        }
        p++; /* the '/' */
    }
    return (int)n;
}
