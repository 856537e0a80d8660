#!/usr/bin/env bash
# Negative tests against a real mefd: every refusal is the right one, the daemon
# keeps serving, and nothing is stored.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MEF="$T/mef"
mefd_init "$MEF" mef.test.example
add_enrolee "$MEF" dev-1 /cse-dev1 3600
add_enrolee "$MEF" dev-gone /cse-gone 3600
mefd_start "$MEF"
KPM=$(cat "$T/dev-1.kpm")

enrol() { # enrol KPMID KPMFILE STATE -> stderr in $T/err
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$1" --kpm-file "$2" \
        --state "$3" --quiet --timeout 5000 >/dev/null 2>"$T/err"
}
ke_of() { "$MEFD" enrolee show -d "$MEF" --kpm-id "$1" --json | json_get - 'j["ke"]'; }

# --- handshake-level refusals look the same
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/wrong.kpm"
enrol dev-1 "$T/wrong.kpm" "$T/s-wrong" && fail "wrong Kpm accepted"
msg_wrong=$(cat "$T/err")
grep -q "auth" "$T/err" || fail "wrong Kpm: not an authentication failure: $msg_wrong"
ok "wrong Kpm refused at the handshake"
enrol no-such-kpm "$T/dev-1.kpm" "$T/s-unknown" && fail "unknown KpmID accepted"
msg_unknown=$(cat "$T/err")
[ "$msg_unknown" = "$msg_wrong" ] || fail "unknown KpmID fails differently: '$msg_unknown' vs '$msg_wrong'"
ok "unknown KpmID refused exactly like a wrong Kpm"
"$MEFD" enrolee remove -d "$MEF" --kpm-id dev-gone >/dev/null
enrol dev-gone "$T/dev-gone.kpm" "$T/s-gone" && fail "removed Enrolee accepted"
[ "$(cat "$T/err")" = "$msg_wrong" ] || fail "removed Enrolee fails differently: $(cat "$T/err")"
ok "removed Enrolee refused exactly like a wrong Kpm (while mefd runs)"
[ -z "$(ke_of dev-1)" ] || fail "a Ke was stored for dev-1 after failed handshakes"
ok "no Ke stored after refused handshakes"

# --- TLS 1.3 and non-PSK suites are refused
out=$(timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_3 -psk_identity dev-1 -psk "$KPM" </dev/null 2>&1 || true)
echo "$out" | grep -q "Keying material\|Cipher is TLS_" && ! echo "$out" | grep -q "Cipher is (NONE)" \
    && fail "TLS 1.3 negotiated: $out"
echo "$out" | grep -qi "alert\|error\|Cipher is (NONE)" || fail "TLS 1.3: no failure seen: $out"
ok "TLS 1.3 offer refused"
out=$(timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 </dev/null 2>&1 || true)
echo "$out" | grep -q "Cipher is ECDHE" && fail "certificate suite negotiated: $out"
echo "$out" | grep -qi "alert\|error\|Cipher is (NONE)" || fail "non-PSK suite: no failure seen: $out"
ok "non-PSK suite refused"

# --- request-level refusals inside an authenticated session
req() { # req NAME -> response in $T/NAME.out; request from stdin
    s_client_psk dev-1 "$KPM" -quiet >"$T/$1.out" || true
}
rsc_of() { grep -ao 'X-M2M-RSC: [0-9]*' "$T/$1.out" | head -n 1 | sed 's/.*: //'; }
expect() { # expect NAME RSC [substring]
    local got
    got=$(rsc_of "$1")
    [ "$got" = "$2" ] || fail "$1: expected $2, got '${got}': $(head -c 600 "$T/$1.out")"
    if [ $# -ge 3 ]; then grep -aq "$3" "$T/$1.out" || fail "$1: missing '$3' in $(cat "$T/$1.out")"; fi
}

printf 'GARBAGE / WHAT\r\n\r\n' | req malformed
expect malformed 4000
ok "malformed HTTP -> 4000"
{ printf 'POST /mef/enrolment HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: 10-dev-1\r\nX-M2M-RI: 1\r\nX-Big: '
  head -c 9000 /dev/zero | tr '\0' a; printf '\r\nContent-Length: 2\r\n\r\n{}'; } | req bighdr
expect bighdr 4000
ok "oversized header block -> 4000"
printf 'POST /mef/enrolment HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: 10-dev-1\r\nX-M2M-RI: 1\r\nContent-Length: 70000\r\n\r\n' | req bigbody
expect bigbody 4000
ok "oversized body -> 4000"
http_req POST /mef/enrolment 10-dev-1 '{"certEnrolmentInd":false,' | req badjson
expect badjson 4000
ok "bad JSON -> 4000"
http_req POST /mef/enrolment 10-dev-1 '{"certEnrolmentInd":false,"mafEnrolmentInd":true,"remoteMgmtInd":true,"extra":1}' | req unknown
expect unknown 4000 "extra"
ok "unknown member -> 4000 naming the member"
http_req POST /mef/enrolment 10-dev-1 '{"certEnrolmentInd":"no","mafEnrolmentInd":true,"remoteMgmtInd":true}' | req wrongtype
expect wrongtype 4000 "certEnrolmentInd"
ok "wrong member type -> 4000"
http_req POST /mef/enrolment /cse-somebody-else '{"certEnrolmentInd":false,"mafEnrolmentInd":true,"remoteMgmtInd":true}' | req origin
expect origin 4106
ok "X-M2M-Origin not matching the session -> 4106"
printf 'POST /mef/enrolment HTTP/1.1\r\nHost: x\r\nX-M2M-RI: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}' | req noorigin
expect noorigin 4000
ok "missing X-M2M-Origin -> 4000"
http_req GET /mef/enrolment 10-dev-1 '' | req method
expect method 4005
ok "wrong method -> 4005"
http_req GET /nowhere 10-dev-1 '' | req nopath
expect nopath 4004
ok "unknown resource -> 4004"
http_req POST /mef/enrolment/0123456789abcdef0123456789abcdef 10-dev-1 '{"step":1,"result":"success"}' | req noexchange
expect noexchange 4004
ok "report for an exchange not in this session -> 4004"
[ -z "$(ke_of dev-1)" ] || fail "a Ke was stored by a refused request"
ok "nothing stored by refused requests"

# --- expired registration times and bad registration input
mefargs=(--mef "$MEF_ADDR" --sni mef.test.example --kpm-id dev-1 --kpm-file "$T/dev-1.kpm")
"$CLI" mef register "${mefargs[@]}" --admin-fqdn "not_an_fqdn" 2>"$T/err" && fail "bad adminFQDN accepted"
ok "invalid adminFQDN refused"
http_req POST /mef/reg 10-dev-1 '{"mefFQDN":"mef.test.example","et":"20000101T000000","adminFQDN":"sp.test.example"}' | req pastet
expect pastet 4000 "et"
http_req POST /mef/reg 10-dev-1 '{"mefFQDN":"other.example","et":"20990101T000000","adminFQDN":"sp.test.example"}' | req othermef
expect othermef 4000 "mefFQDN"
ok "registration with a past expirationTime or another MEF's FQDN -> 4000"
n=$(sqlite_count "$MEF/mef.db" "select count(*) from mefreg")
[ "$n" = 0 ] || fail "refused registrations stored $n rows"

# --- an Enrolee removed while its session is open loses it at the next request
add_enrolee "$MEF" dev-rev /cse-rev 3600
regbody() { printf '{"mefFQDN":"mef.test.example","et":"20991231T000000","adminFQDN":"%s"}' "$1"; }
regreq() { local b; b=$(regbody "$1"); printf 'POST /mef/reg HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: 10-dev-rev\r\nX-M2M-RI: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s' "$1" "${#b}" "$2" "$b"; }
{ regreq sp1.test.example keep-alive; sleep 1; "$MEFD" enrolee remove -d "$MEF" --kpm-id dev-rev >/dev/null
  regreq sp2.test.example close; } | s_client_psk dev-rev "$(cat "$T/dev-rev.kpm")" >"$T/revoked.out" || true
[ "$(grep -ao 'X-M2M-RSC: [0-9]*' "$T/revoked.out" | sed 's/.*: //' | tr '\n' ' ')" = "2001 4103 " ] \
    || fail "revoked session: $(grep -a 'X-M2M-RSC' "$T/revoked.out")"
n=$(sqlite_count "$MEF/mef.db" "select count(*) from mefreg where kpm_id='dev-rev'")
[ "$n" = 0 ] || fail "registrations of a removed Enrolee remain or were created ($n)"
ok "an Enrolee removed during its session is refused at its next request (4103), nothing stored"

# --- the daemon kept serving throughout
enrol dev-1 "$T/dev-1.kpm" "$T/s-ok" || fail "mefd stopped serving: $(cat "$T/err")"
[ -n "$(ke_of dev-1)" ] || fail "good enrolment not stored"
ok "mefd still serves a good enrolment after all refusals"
kill -0 "$MEF_PID" || fail "mefd died"
grep -q "event=handshake_failed" "$MEF/mefd.log" || fail "refused handshakes not logged"
if grep -qi "$KPM" "$MEF/mefd.log"; then fail "Kpm in the log"; fi
ok "refusals logged without secrets"
mefd_stop
done_tests
