#!/usr/bin/env bash
# Enrolment Expiry at the MAF (seed 001; TS-0003 10.7; SPEC-DIGEST section 5): the MAF is an
# Enrolment Target, so the Km it fetched lives no longer than the Enrolee's Ke. After the Ke
# expires (3 s here): mafd refuses handshakes with the KmID and with the KeID (as for an unknown
# identity), its sweeper erases the client with its Km and registrations (checked in maf.db), and
# the device reports that it must re-provision instead of trying the old key. A fresh enrolment
# then registers again. Real mefd, mafd, m2msec; openssl as the independent client holding Km.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MEF="$T/mef"
MAF="$T/maf"
mefd_init "$MEF" mef.test.example --dev-pki --target-listen 127.0.0.1:0
add_enrolee "$MEF" dev-x /cse-x 3 --target maf.test.example
add_enrolee "$MEF" dev-y /cse-y 3600 --target maf.test.example
mefd_start "$MEF"
maf_setup "$MEF" "$MAF" maf.test.example
mafd_run "$MAF"
ok "mefd and mafd running; dev-x has a 3 s Enrolment Expiry"

enrol() {
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$1" --kpm-file "$T/$1.kpm" \
        --state "$T/s-$1" --json --quiet >"$T/e-$1.json" || fail "enrol $1"
    json_get "$T/e-$1.json" 'j["keid"]'
}
register() {
    "$CLI" maf register --maf "$MAF_ADDR" --sni maf.test.example --admin-fqdn admin.test.example \
        --state "$T/s-$2" --json --quiet >"$T/$1.json" 2>"$T/$1.err"
}
# psk_post ID HEXKEY OUT: openssl as a MAF client registering with psk_identity ID.
psk_post() {
    local body='{"mafFQDN":"maf.test.example","et":"20990101T000000","adminFQDN":"z.test.example"}'
    printf 'POST /maf HTTP/1.1\r\nHost: maf.test.example\r\nX-M2M-Origin: /cse-x\r\nX-M2M-RI: e1\r\nX-M2M-RVI: 3\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "${#body}" "$body" |
        timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 -psk_identity "$1" -psk "$2" \
            -servername maf.test.example -ign_eof >"$T/$3.out" 2>&1 || true
}
clients() { sqlite_count "$MAF/maf.db" "SELECT count(*) FROM maf_client"; }
no_clients() { [ "$(clients)" = 0 ]; }

keid=$(enrol dev-x)
register r1 dev-x || fail "register: $(cat "$T/r1.err")"
kmid=$(json_get "$T/r1.json" 'j["kmid"]')
# The Km mafd fetched: the same request with the MAF's certificate (openssl, not our stack).
kmhex=$(printf 'GET /fetchCredentials/%s/21 HTTP/1.1\r\nHost: mef.test.example\r\nX-M2M-Origin: maf.test.example\r\nX-M2M-RI: x\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n' "$keid" |
    timeout 20 openssl s_client -connect "$TGT_ADDR" -tls1_2 -cert "$T/maf.test.example.pem" \
        -key "$T/maf.test.example.key" -CAfile "$MEF/pki/ca.pem" -servername mef.test.example \
        -ign_eof 2>/dev/null |
    python3 -c 'import sys,json,base64; t=sys.stdin.read(); i=t.index("{"); print(base64.b64decode(json.JSONDecoder().raw_decode(t[i:])[0]["Credential"]).hex())')
[ "${#kmhex}" = 64 ] || fail "could not fetch Km"
lifetime=$(sqlite_count "$MAF/maf.db" "SELECT expires FROM maf_client")
ke_exp=$(json_get "$T/e-dev-x.json" 'j["expires"]')
[ "$(clients)" = 1 ] || fail "expected one MAF client"
python3 - "$lifetime" "$ke_exp" <<'PY' || fail "Km lifetime $lifetime is beyond the Ke expiry $ke_exp"
import sys, calendar, time
km = int(sys.argv[1])
ke = calendar.timegm(time.strptime(sys.argv[2], "%Y%m%dT%H%M%S"))
sys.exit(0 if km <= ke else 1)
PY
psk_post "$kmid" "$kmhex" live
grep -aq "X-M2M-RSC: 4105\|X-M2M-RSC: 2001" "$T/live.out" || fail "KmID/Km before expiry: $(head -c 600 "$T/live.out")"
ok "registered; Km lifetime <= Ke expiry; KmID/Km authenticate (openssl) while the Ke lives"

# --- after the Ke expiry
sleep 4
register r2 dev-x && fail "registered with an expired enrolment"
grep -qi "re-provision\|enrol again\|expired" "$T/r2.err" || fail "device did not say re-provision: $(cat "$T/r2.err")"
ok "device: enrolment expired -> re-provision, no attempt with the old Km"
psk_post "$kmid" "$kmhex" dead-kmid
grep -aq "X-M2M-RSC" "$T/dead-kmid.out" && fail "expired KmID accepted: $(head -c 600 "$T/dead-kmid.out")"
grep -aq "bad record mac\|alert\|error" "$T/dead-kmid.out" || fail "expired KmID: no refusal: $(head -c 600 "$T/dead-kmid.out")"
ok "expired KmID -> handshake refused like an unknown identity"
psk_post "$keid" "$kmhex" dead-keid
grep -aq "X-M2M-RSC" "$T/dead-keid.out" && fail "expired KeID accepted: $(head -c 600 "$T/dead-keid.out")"
ok "expired KeID -> handshake refused"
wait_for 5 no_clients || fail "mafd kept the expired client: $(clients) rows"
[ "$(sqlite_count "$MAF/maf.db" "SELECT count(*) FROM maf_reg")" = 0 ] || fail "registrations of the expired client kept"
ok "mafd's sweeper erased the expired client, its Km and registrations (maf.db)"
grep -q "event=swept" "$MAF/mafd.log" || fail "no swept event in mafd's log"

# --- re-provision: a new enrolment, a new registration
keid2=$(enrol dev-x)
[ "$keid2" != "$keid" ] || fail "re-enrolment gave the same KeID"
register r3 dev-x || fail "register after re-enrolment: $(cat "$T/r3.err")"
[ "$(json_get "$T/r3.json" 'j["kmid"]')" != "$kmid" ] || fail "the old KmID came back"
ok "after re-enrolment the device registers again with a new KmID"
# An unexpired neighbour is untouched throughout.
enrol dev-y >/dev/null
register r4 dev-y || fail "dev-y: $(cat "$T/r4.err")"
ok "a live Enrolee is unaffected"
done_tests
