#!/usr/bin/env bash
# Enrolment Expiry (TS-0003 10.7, seed 001): with a 2-second expiry the stored
# Ke is treated as absent once expired, on both sides, and erased.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MEF="$T/mef"
mefd_init "$MEF" mef.test.example
add_enrolee "$MEF" dev-short /cse-short 2
add_enrolee "$MEF" dev-long /cse-long 3600
mefd_start "$MEF"

for d in short long; do
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "dev-$d" \
        --kpm-file "$T/dev-$d.kpm" --state "$T/s-$d" --json --quiet >"$T/$d.json" || fail "enrol $d"
done
keid=$(json_get "$T/short.json" 'j["keid"]')
"$MEFD" enrolee show -d "$MEF" --kpm-id dev-short --json >"$T/before.json"
[ "$(json_get "$T/before.json" 'j["ke"]["keID"]')" = "$keid" ] || fail "Ke not present before expiry"
"$CLI" state --state "$T/s-short" --json >"$T/dev-before.json"
[ "$(json_get "$T/dev-before.json" 'j["expired"]')" = false ] || fail "device reports expired too early"
ok "Ke present on both sides before expiry"

sleep 3
"$MEFD" enrolee show -d "$MEF" --kpm-id dev-short --json >"$T/after.json"
[ -z "$(json_get "$T/after.json" 'j["ke"]')" ] || fail "expired Ke still reported: $(cat "$T/after.json")"
ok "mefd treats the expired Ke as absent"
"$CLI" state --state "$T/s-short" --json >"$T/dev-after.json"
[ "$(json_get "$T/dev-after.json" 'j["expired"]')" = true ] || fail "device does not report expiry"
[ -z "$(json_get "$T/dev-after.json" 'j["keid"]')" ] || fail "device still offers the KeID"
[ -z "$(json_get "$T/dev-after.json" 'j["kcv"]')" ] || fail "device still holds the Ke"
"$CLI" state --state "$T/s-short" | grep -q "re-provision" || fail "device does not say re-provision"
ok "device treats the Ke as absent, erased it and says re-provision"

# The sweeper (interval 1 s in tests) erases the row; a manual sweep finds nothing left.
for i in $(seq 1 30); do
    n=$(sqlite_count "$MEF/mef.db" "select count(*) from ke where kpm_id='dev-short'")
    [ "$n" = 0 ] && break
    sleep 0.2
done
[ "$n" = 0 ] || fail "expired Ke row not erased by the sweeper"
grep -q "event=swept" "$MEF/mefd.log" || fail "sweep not logged"
ok "sweeper erased the expired Ke row"
"$MEFD" enrolee show -d "$MEF" --kpm-id dev-long --json | json_get - 'j["ke"]["keID"]' | grep -q '@' \
    || fail "unexpired Ke of another Enrolee was erased"
ok "an unexpired Ke is untouched"

# Re-provisioning works and restores the Ke.
"$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id dev-short \
    --kpm-file "$T/dev-short.kpm" --state "$T/s-short" --quiet >/dev/null || fail "re-enrol after expiry"
"$CLI" state --state "$T/s-short" --json | json_get - 'j["expired"]' | grep -q false || fail "re-enrol"
ok "re-enrolment after expiry restores a Ke"
mefd_stop
done_tests
