/*
 * fuzz/fuzz_json.c - libFuzzer target for the strict JSON layer and every
 * MEF message decoder.
 *
 * Target functions: m2msec_json_parse and the _decode / _encode / _clear
 * functions of codec/mef_msg.h (every message, both directions of the
 * registration update).
 *
 * The whole input goes to every decoder. When one accepts it, the target
 * checks the codec's round-trip contract: the message must encode, the
 * encoding must decode, and encoding that again must give the same bytes
 * (encoding is canonical). Any violation aborts. Deterministic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "codec/mef_msg.h"
#include "util/buf.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum kind {
    K_ENROL_REQ,
    K_ENROL_RESP,
    K_REPORT,
    K_MEFREG_REQ,
    K_MEFREG_RESP,
    K_UPDATE_REQ,
    K_UPDATE_RESP,
    K_CFG,
    K_POLICY,
    K_DBG,
    K_COUNT,
};

union any_msg {
    struct m2msec_enrol_req enrol_req;
    struct m2msec_enrol_resp enrol_resp;
    struct m2msec_enrol_report report;
    struct m2msec_mefreg_req mefreg_req;
    struct m2msec_mefreg_resp mefreg_resp;
    struct m2msec_mefreg_update update;
    struct m2msec_mefreg_cfg cfg;
    struct m2msec_enrolee_policy policy;
    char *dbg;
};

static int
decode_kind(enum kind k, const uint8_t *b, size_t len, union any_msg *u, struct m2msec_error *err)
{
    switch (k) {
    case K_ENROL_REQ:
        return m2msec_enrol_req_decode(b, len, &u->enrol_req, err);
    case K_ENROL_RESP:
        return m2msec_enrol_resp_decode(b, len, &u->enrol_resp, err);
    case K_REPORT:
        return m2msec_enrol_report_decode(b, len, &u->report, err);
    case K_MEFREG_REQ:
        return m2msec_mefreg_req_decode(b, len, &u->mefreg_req, err);
    case K_MEFREG_RESP:
        return m2msec_mefreg_resp_decode(b, len, &u->mefreg_resp, err);
    case K_UPDATE_REQ:
        return m2msec_mefreg_update_decode(b, len, 1, &u->update, err);
    case K_UPDATE_RESP:
        return m2msec_mefreg_update_decode(b, len, 0, &u->update, err);
    case K_CFG:
        return m2msec_mefreg_cfg_decode(b, len, &u->cfg, err);
    case K_POLICY:
        return m2msec_enrolee_policy_decode(b, len, &u->policy, err);
    case K_DBG:
        return m2msec_dbg_decode(b, len, &u->dbg, err);
    case K_COUNT:
        break;
    }
    return -1;
}

static int
encode_kind(enum kind k, const union any_msg *u, struct m2msec_buf *out, struct m2msec_error *err)
{
    switch (k) {
    case K_ENROL_REQ:
        return m2msec_enrol_req_encode(&u->enrol_req, out, err);
    case K_ENROL_RESP:
        return m2msec_enrol_resp_encode(&u->enrol_resp, out, err);
    case K_REPORT:
        return m2msec_enrol_report_encode(&u->report, out, err);
    case K_MEFREG_REQ:
        return m2msec_mefreg_req_encode(&u->mefreg_req, out, err);
    case K_MEFREG_RESP:
        return m2msec_mefreg_resp_encode(&u->mefreg_resp, out, err);
    case K_UPDATE_REQ:
        return m2msec_mefreg_update_encode(&u->update, 1, out, err);
    case K_UPDATE_RESP:
        return m2msec_mefreg_update_encode(&u->update, 0, out, err);
    case K_CFG:
        return m2msec_mefreg_cfg_encode(&u->cfg, out, err);
    case K_POLICY:
        return m2msec_enrolee_policy_encode(&u->policy, out, err);
    case K_DBG:
        return m2msec_dbg_encode(u->dbg, out, err);
    case K_COUNT:
        break;
    }
    return -1;
}

static void
clear_kind(enum kind k, union any_msg *u)
{
    switch (k) {
    case K_ENROL_REQ:
        break;
    case K_ENROL_RESP:
        m2msec_enrol_resp_clear(&u->enrol_resp);
        break;
    case K_REPORT:
        m2msec_enrol_report_clear(&u->report);
        break;
    case K_MEFREG_REQ:
        m2msec_mefreg_req_clear(&u->mefreg_req);
        break;
    case K_MEFREG_RESP:
        m2msec_mefreg_resp_clear(&u->mefreg_resp);
        break;
    case K_UPDATE_REQ:
    case K_UPDATE_RESP:
        m2msec_mefreg_update_clear(&u->update);
        break;
    case K_CFG:
        m2msec_mefreg_cfg_clear(&u->cfg);
        break;
    case K_POLICY:
        m2msec_enrolee_policy_clear(&u->policy);
        break;
    case K_DBG:
        m2msec_free(u->dbg);
        break;
    case K_COUNT:
        break;
    }
    memset(u, 0, sizeof(*u));
}

static void
check_roundtrip(enum kind k, union any_msg *u)
{
    struct m2msec_error err = { 0 };
    struct m2msec_buf first;
    struct m2msec_buf second;
    union any_msg again;

    memset(&again, 0, sizeof(again));
    m2msec_buf_init(&first, 1 << 20);
    m2msec_buf_init(&second, 1 << 20);
    if (encode_kind(k, u, &first, &err) != 0 ||
        decode_kind(k, first.data, first.len, &again, &err) != 0 ||
        encode_kind(k, &again, &second, &err) != 0) {
        abort();
    }
    if (first.len != second.len || memcmp(first.data, second.data, first.len) != 0) {
        abort();
    }
    clear_kind(k, &again);
    m2msec_buf_free(&first);
    m2msec_buf_free(&second);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct m2msec_error err = { 0 };
    json_t *v = NULL;
    int k;

    if (m2msec_json_parse(data, size, &v, &err) == 0) {
        if (!json_is_object(v)) {
            abort();
        }
        json_decref(v);
    } else if (v != NULL || err.rsc != 4000) {
        abort();
    }
    for (k = 0; k < K_COUNT; k++) {
        union any_msg u;

        memset(&u, 0, sizeof(u));
        if (decode_kind((enum kind)k, data, size, &u, &err) == 0) {
            check_roundtrip((enum kind)k, &u);
        }
        clear_kind((enum kind)k, &u);
    }
    return 0;
}
