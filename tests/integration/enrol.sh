#!/usr/bin/env bash
# PPSK RSPF end to end: real mefd on 127.0.0.1, real `m2msec enrol`.
# Checks both sides hold the same KeID and the same Ke (compared by key check
# value, never printed), the Enrolment Exchange instructions, re-enrolment
# replacing the previous Ke, and the MEF Client Registration procedures.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MEF="$T/mef"
mefd_init "$MEF" mef.test.example
add_enrolee "$MEF" dev-1 /cse-dev1 3600 --target maf.test.example \
    --instruct-maf https://maf.test.example:8443 --instruct-rm https://dm.test.example/lwm2m
add_enrolee "$MEF" dev-2 Cae-dev2 3600
mefd_start "$MEF"

# 1. enrolment with instructions
"$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id dev-1 --kpm-file "$T/dev-1.kpm" \
    --state "$T/dev1" --json >"$T/e1.json" 2>"$T/e1.err" || { cat "$T/e1.err"; fail "enrol dev-1"; }
keid=$(json_get "$T/e1.json" 'j["keid"]')
[[ "$keid" =~ ^[0-9a-f]{32}@mef\.test\.example$ ]] || fail "KeID format: $keid"
ok "enrol prints KeID $keid"
[ "$(json_get "$T/e1.json" 'j["enrolee_id"]')" = "/cse-dev1" ] || fail "enrolee id"
[ "$(json_get "$T/e1.json" '[i["type"] for i in j["instructions"]]')" = '["mafEnrolment", "remoteManagement"]' ] \
    || fail "instructions: $(cat "$T/e1.json")"
[ "$(json_get "$T/e1.json" 'j["instructions"][0]["uri"]')" = "https://maf.test.example:8443/maf" ] \
    || fail "MAF instruction URI"
ok "exchange carried the MAF and remote-management instructions in order"

"$MEFD" enrolee show -d "$MEF" --kpm-id dev-1 --json >"$T/s1.json"
[ "$(json_get "$T/s1.json" 'j["ke"]["keID"]')" = "$keid" ] || fail "mefd holds a different KeID"
ok "mefd holds the same KeID"
"$CLI" state --state "$T/dev1" --json >"$T/st1.json"
[ "$(json_get "$T/st1.json" 'j["keid"]')" = "$keid" ] || fail "device state KeID"
kcv_dev=$(json_get "$T/st1.json" 'j["kcv"]')
kcv_mef=$(json_get "$T/s1.json" 'j["ke"]["kcv"]')
[[ "$kcv_dev" =~ ^[0-9a-f]{16}$ ]] || fail "device KCV: $kcv_dev"
[ "$kcv_dev" = "$kcv_mef" ] || fail "Ke differs: device kcv $kcv_dev, mef kcv $kcv_mef"
ok "device and mefd hold the same Ke (kcv $kcv_dev)"

# Ke expiry = now + Enrolment Expiry (3600 s), within a few seconds.
python3 - "$T/s1.json" <<'PY' || fail "Ke expiry is not now + 3600 s"
import calendar, json, sys, time
j = json.load(open(sys.argv[1]))
t = calendar.timegm(time.strptime(j["ke"]["expires"], "%Y%m%dT%H%M%S"))
assert abs(t - (time.time() + 3600)) < 30, t
PY
ok "Ke expiry is now + Enrolment Expiry"

# Nothing secret in clear: neither the Kpm nor Ke bytes appear in the stores or logs.
python3 - "$T/dev-1.kpm" "$MEF/mef.db" "$MEF/mefd.log" "$T/dev1/state.db" <<'PY' || fail "Kpm found in clear"
import sys
kpm = bytes.fromhex(open(sys.argv[1]).read().strip())
for f in sys.argv[2:]:
    data = open(f, "rb").read()
    assert kpm not in data and kpm.hex().encode() not in data, f
PY
ok "Kpm is not stored or logged in clear"

# 2. re-enrolment replaces the previous Ke (no accumulation)
"$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id dev-1 --kpm-file "$T/dev-1.kpm" \
    --state "$T/dev1" --json --quiet >"$T/e2.json" || fail "re-enrol"
keid2=$(json_get "$T/e2.json" 'j["keid"]')
[ "$keid2" != "$keid" ] || fail "re-enrolment produced the same KeID"
"$MEFD" enrolee show -d "$MEF" --kpm-id dev-1 --json >"$T/s2.json"
[ "$(json_get "$T/s2.json" 'j["ke"]["keID"]')" = "$keid2" ] || fail "mefd did not replace the Ke"
n=$(sqlite_count "$MEF/mef.db" "select count(*) from ke")
[ "$n" = 1 ] || fail "expected 1 Ke row after re-enrolment, found $n"
ok "re-enrolment replaced the Ke (1 row, new KeID $keid2)"

# 3. an Enrolee with no instructions: first response is already the end
"$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id dev-2 --kpm-file "$T/dev-2.kpm" \
    --state "$T/dev2" --json --quiet >"$T/e3.json" || fail "enrol dev-2"
[ "$(json_get "$T/e3.json" 'len(j["instructions"])')" = 0 ] || fail "dev-2 got instructions"
ok "exchange without instructions ends at once"

# 3b. certificate enrolment comes first when indicated; this client has no EST client,
#     reports the failure, and the exchange still completes.
add_enrolee "$MEF" dev-3 /cse-dev3 3600 --instruct-cert https://est.test.example/.well-known/est \
    --instruct-maf https://maf.test.example
"$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id dev-3 --kpm-file "$T/dev-3.kpm" \
    --state "$T/dev3" --cert-enrolment --json --quiet >"$T/e5.json" || fail "enrol dev-3"
[ "$(json_get "$T/e5.json" '[i["type"] for i in j["instructions"]]')" = '["certificateEnrolment", "mafEnrolment"]' ] \
    || fail "dev-3 instructions: $(cat "$T/e5.json")"
grep -q 'event=exchange_report kpm_id=dev-3 step=1 result=failure reason="certificate enrolment is not supported"' "$MEF/mefd.log" \
    || fail "certificate enrolment failure not reported"
# Without the indication the MEF does not send it.
"$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id dev-3 --kpm-file "$T/dev-3.kpm" \
    --state "$T/dev3" --json --quiet >"$T/e6.json" || fail "enrol dev-3 again"
[ "$(json_get "$T/e6.json" '[i["type"] for i in j["instructions"]]')" = '["mafEnrolment"]' ] \
    || fail "certificate enrolment sent without the indication"
ok "certificate enrolment: first when indicated, reported as unsupported, absent otherwise"

# 4. without --sni the client still agrees on the KeID (IP literal: FQDN from the MEF)
"$CLI" enrol --mef "$MEF_ADDR" --kpm-id dev-2 --kpm-file "$T/dev-2.kpm" \
    --state "$T/dev2b" --json --quiet >"$T/e4.json" || fail "enrol without SNI"
ok "enrolment without SNI"

# 5. MEF Client Registration, Configuration Retrieval, Update, De-registration
mefargs=(--mef "$MEF_ADDR" --sni mef.test.example --kpm-id dev-1 --kpm-file "$T/dev-1.kpm")
"$CLI" mef register "${mefargs[@]}" --admin-fqdn sp.test.example --lifetime 600 --json >"$T/r.json" \
    || fail "mef register"
reg=$(json_get "$T/r.json" 'j["reg_id"]')
[ "$(json_get "$T/r.json" 'j["client_id"]')" = "/cse-dev1" ] || fail "client id"
ok "MEF client registered ($reg) as the Enrolee-ID"
if "$CLI" mef register "${mefargs[@]}" --admin-fqdn sp.test.example --json >"$T/r2.json" 2>"$T/r2.err"; then
    fail "second registration for the same adminFQDN accepted"
fi
grep -q "4105" "$T/r2.err" || fail "second registration: expected 4105, got $(cat "$T/r2.err")"
ok "second registration for the same stakeholder refused with 4105"
"$CLI" mef config "${mefargs[@]}" --reg-id "$reg" >"$T/cfg.json" || fail "mef config"
[ "$(json_get "$T/cfg.json" 'j["mefClientCfg"]["enrolmentTargets"]')" = '["maf.test.example"]' ] \
    || fail "config targets: $(cat "$T/cfg.json")"
[ "$(json_get "$T/cfg.json" 'j["mefClientCfg"]["enrolmentExpiry"]')" = 3600 ] || fail "config expiry"
ok "configuration retrieval returns the Enrolment Targets and Expiry"
"$CLI" mef update "${mefargs[@]}" --reg-id "$reg" --lifetime 1200 --json >"$T/u.json" || fail "mef update"
ok "registration update granted $(json_get "$T/u.json" 'j["expires"]')"
# another credential may not touch this registration
if "$CLI" mef config --mef "$MEF_ADDR" --kpm-id dev-2 --kpm-file "$T/dev-2.kpm" --reg-id "$reg" 2>"$T/o.err"; then
    fail "another client read the registration"
fi
grep -q "4103" "$T/o.err" || fail "foreign registration: expected 4103: $(cat "$T/o.err")"
ok "another client's registration is refused with 4103"
"$CLI" mef deregister "${mefargs[@]}" --reg-id "$reg" >/dev/null || fail "mef deregister"
if "$CLI" mef config "${mefargs[@]}" --reg-id "$reg" 2>"$T/d.err"; then
    fail "config after de-registration"
fi
grep -q "4004" "$T/d.err" || fail "after de-registration: expected 4004: $(cat "$T/d.err")"
ok "de-registration removes the registration (4004 afterwards)"

mefd_stop
ok "mefd stopped cleanly"
done_tests
