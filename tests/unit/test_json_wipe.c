/*
 * test_json_wipe.c - the daemons' wiping allocator for jansson.
 *
 * Its own binary because the allocator is process-wide and must be installed
 * before any jansson allocation. The codecs must work unchanged on top of it:
 * a wrong size header corrupts the heap, which ASan reports at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "codec/json.h"
#include "codec/mef_msg.h"
#include "util/buf.h"

static const char fetch_ok[] = "{\"Credential\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
                               "\"EnroleeID\":\"/cse-1\",\"Lifetime\":\"20991231T000000\","
                               "\"Status\":true}";

static void
test_codecs_on_wiping_allocator(void **state)
{
    struct m2msec_error err = { 0 };
    struct m2msec_fetch_resp r = { 0 };
    struct m2msec_buf out;
    int i;

    (void)state;
    m2msec_buf_init(&out, 4096);
    /* Many rounds: a wrong size header would corrupt the heap or trip ASan quickly. */
    for (i = 0; i < 200; i++) {
        assert_int_equal(
                m2msec_fetch_resp_decode((const uint8_t *)fetch_ok, strlen(fetch_ok), &r, &err), 0);
        m2msec_buf_reset(&out);
        assert_int_equal(m2msec_fetch_resp_encode(&r, &out, &err), 0);
        assert_int_equal(out.len, strlen(fetch_ok));
        assert_memory_equal(out.data, fetch_ok, out.len);
        m2msec_fetch_resp_clear(&r);
    }
    m2msec_buf_free(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codecs_on_wiping_allocator),
    };

    m2msec_json_use_wiping_allocator();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
