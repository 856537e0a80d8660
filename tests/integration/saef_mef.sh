#!/usr/bin/env bash
# PSK SAEF (TS-0003 8.2.2.1) with a Kpsa provisioned through the MEF, and with
# a pre-provisioned KpsaID: real mefd, `m2msec cse` (Entity B, an Enrolment
# Target of the MEF with its own certificate) and `m2msec connect` (Entity A).
# A presents its KeID; B fetches Kpsa = 10.3.7(Ke, 22, /cse-b) with
# GET /fetchCredentials/<KeID>/22, binds the session to the EnroleeID and
# caches the key. Refusals: B not an authorised target for that Enrolee
# (4103), a Kpsa derived for another IdB, an expired Ke (B refuses and erases
# its cached Kpsa; A says re-provision), an expired KpsaID. Interop: openssl
# s_client with a KpsaID and its key; a wrong key fails.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MEF="$T/mef"
B="$T/b"
mefd_init "$MEF" mef.test.example --dev-pki --target-listen 127.0.0.1:0
"$MEFD" pki issue -d "$MEF" --fqdn cse-b.test.example --cert "$T/cseb.pem" --key "$T/cseb.key" >/dev/null
"$MEFD" target add -d "$MEF" --id /cse-b --cert-fqdn cse-b.test.example --suid 22 >/dev/null
add_enrolee "$MEF" dev-a /cse-a 3600 --target /cse-b
add_enrolee "$MEF" dev-x /cse-x 3600
add_enrolee "$MEF" dev-s /cse-s 3 --target /cse-b
mefd_start "$MEF"
[ -n "$TGT_ADDR" ] || fail "no Enrolment Target service address"

python3 -c 'import os; print(os.urandom(32).hex())' >"$T/kpsa1.hex"
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/wrong.hex"
KPSA=kpsa1@issuer.test.example
"$CLI" cse -d "$B" --listen 127.0.0.1:0 --id /cse-b --mef "$TGT_ADDR" --mef-fqdn mef.test.example \
    --cert "$T/cseb.pem" --key "$T/cseb.key" --ca "$MEF/pki/ca.pem" \
    --kpsa "$KPSA:$T/kpsa1.hex:/cse-a" --kpsa "old@issuer.test.example:$T/kpsa1.hex:/cse-a:20010101T000000" \
    --log "$T/cse.log" --idle-ms 2000 >"$T/cse.out" 2>"$T/cse.err" &
CSE_PID=$!
PIDS+=("$CSE_PID")
for i in $(seq 1 100); do
    CSE_ADDR=$(sed -n 's/^listening //p' "$T/cse.out")
    [ -n "$CSE_ADDR" ] && break
    kill -0 "$CSE_PID" 2>/dev/null || fail "m2msec cse exited: $(cat "$T/cse.err")"
    sleep 0.1
done
[ -n "$CSE_ADDR" ] || fail "m2msec cse did not start listening"
ok "Entity B (/cse-b, Enrolment Target for SUID 22) listening on $CSE_ADDR"

stat_of() { "$CLI" cse stats -d "$B" --json | json_get - "j[\"$1\"]"; }
# stat_is NAME VALUE: Entity B writes cache-hit counters within 100 ms, not at once: poll.
stat_is() {
    local i
    for i in $(seq 1 30); do
        [ "$(stat_of "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
rows() { sqlite_count "$B/cse.db" "SELECT count(*) FROM cse_key ${1:-}"; }
enrol() {
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$1" --kpm-file "$T/$1.kpm" \
        --state "$T/s-$1" --json --quiet >"$T/e-$1.json" || fail "enrol $1"
    json_get "$T/e-$1.json" 'j["keid"]'
}
# connect NAME DEVICE ARGS...: Entity A; stdout $T/NAME.json, stderr $T/NAME.err
connect() {
    local name=$1 dev=$2
    shift 2
    "$CLI" connect --to "$CSE_ADDR" --state "$T/s-$dev" --json "$@" >"$T/$name.json" 2>"$T/$name.err"
}

# --- 1. PSK SAEF via the MEF
keid_a=$(enrol dev-a)
connect c1 dev-a --key-id "$keid_a" --peer-id /cse-b || fail "connect with the KeID: $(cat "$T/c1.err")"
[ "$(json_get "$T/c1.json" 'j["peer"]')" = /cse-a ] || fail "B bound the session to: $(cat "$T/c1.json")"
[ "$(json_get "$T/c1.json" 'j["credentialID"]')" = "12-$keid_a" ] || fail "credentialID: $(cat "$T/c1.json")"
[ "$(json_get "$T/c1.json" 'j["suid"]')" = 22 ] || fail "suid: $(cat "$T/c1.json")"
kcv=$("$CLI" state --state "$T/s-dev-a" --derive 22:/cse-b --json | json_get - 'j["derived"]["kcv"]')
grep -q "event=credential_fetched target=/cse-b keid=$keid_a suid=22 kcv=$kcv" "$MEF/mefd.log" \
    || fail "mefd did not hand B the Kpsa A derives (kcv $kcv)"
[ "$(stat_of retrievals)" = 1 ] || fail "retrievals: $("$CLI" cse stats -d "$B" --json)"
ok "A -> B with KeID $keid_a: B fetched Kpsa (SUID 22, kcv $kcv), bound the session to /cse-a"

connect c2 dev-a --key-id "$keid_a" --peer-id /cse-b || fail "second connect: $(cat "$T/c2.err")"
[ "$(stat_of retrievals)" = 1 ] || fail "the second connection fetched again"
stat_is cache_hits 1 || fail "no cache hit"
ok "second connection: cached Kpsa, no new fetch"

connect c3 dev-a --key-id "$keid_a" --peer-id /cse-q && fail "a Kpsa derived for /cse-q was accepted"
grep -q "handshake refused" "$T/c3.err" || fail "expected a refused handshake: $(cat "$T/c3.err")"
connect c4 dev-a --key-id "$keid_a" && fail "connected with a KeID but no IdB"
grep -q "IdB" "$T/c4.err" || fail "client: $(cat "$T/c4.err")"
ok "Kpsa derived for another IdB -> handshake refused; no --peer-id -> usage error"

# --- 2. B is not an authorised Enrolment Target of this Enrolee
keid_x=$(enrol dev-x)
connect c5 dev-x --key-id "$keid_x" --peer-id /cse-b && fail "B accepted an Enrolee it may not fetch for"
grep -q "handshake refused" "$T/c5.err" || fail "expected a refused handshake: $(cat "$T/c5.err")"
grep -q "event=psk_refused identity=$keid_x reason=retrieval_refused rsc=4103" "$T/cse.log" \
    || fail "no 4103 refusal: $(grep "$keid_x" "$T/cse.log")"
[ "$(rows "WHERE key_id = '$keid_x'")" = 0 ] || fail "a refused key was cached"
ok "not an authorised target for /cse-x: fetch 4103, handshake refused"

# --- 3. pre-provisioned KpsaID (SUID 12)
connect c6 dev-a --key-id "$KPSA" --psk-file "$T/kpsa1.hex" || fail "KpsaID: $(cat "$T/c6.err")"
[ "$(json_get "$T/c6.json" 'j["peer"]')" = /cse-a ] || fail "KpsaID binding: $(cat "$T/c6.json")"
[ "$(json_get "$T/c6.json" 'j["suid"]')" = 12 ] || fail "KpsaID suid: $(cat "$T/c6.json")"
connect c7 dev-a --key-id "$KPSA" --psk-file "$T/wrong.hex" && fail "a wrong Kpsa was accepted"
grep -q "handshake refused" "$T/c7.err" || fail "wrong key: $(cat "$T/c7.err")"
connect c8 dev-a --key-id old@issuer.test.example --psk-file "$T/kpsa1.hex" && fail "an expired KpsaID was accepted"
grep -q "event=psk_refused identity=old@issuer.test.example reason=expired" "$T/cse.log" || fail "no expiry refusal"
connect c9 dev-a --key-id nobody@issuer.test.example --psk-file "$T/kpsa1.hex" && fail "an unknown KpsaID was accepted"
grep -q "event=psk_refused identity=nobody@issuer.test.example reason=unknown" "$T/cse.log" || fail "no unknown refusal"
ok "KpsaID: right key -> bound to /cse-a (SUID 12); wrong key, expired and unknown KpsaID refused"

# --- 4. interop: openssl s_client as Entity A
req() { printf 'GET / HTTP/1.1\r\nHost: cse-b.test.example\r\nX-M2M-Origin: /cse-a\r\nX-M2M-RI: i1\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n'; }
req | timeout 20 openssl s_client -connect "$CSE_ADDR" -tls1_2 -psk_identity "$KPSA" -psk "$(cat "$T/kpsa1.hex")" \
    -servername cse-b.test.example -ign_eof >"$T/o1.out" 2>&1 || true
grep -aq "X-M2M-RSC: 2000" "$T/o1.out" || fail "openssl with the KpsaID: $(head -c 1500 "$T/o1.out")"
grep -aq '"peer":"/cse-a"' "$T/o1.out" || fail "openssl: no binding in the answer"
req | timeout 20 openssl s_client -connect "$CSE_ADDR" -tls1_2 -psk_identity "$KPSA" -psk "$(cat "$T/wrong.hex")" \
    -servername cse-b.test.example -ign_eof >"$T/o2.out" 2>&1 || true
if grep -aq "X-M2M-RSC" "$T/o2.out"; then fail "openssl with a wrong key got an answer"; fi
grep -aqi "alert\|error" "$T/o2.out" || fail "openssl wrong key: $(head -c 800 "$T/o2.out")"
ok "openssl s_client -psk_identity $KPSA: right key -> 2000, wrong key -> handshake failure"

# --- 5. expired Ke: B refuses the KeID and erases its cached Kpsa; A says re-provision
t0=$(date +%s)
keid_s=$(enrol dev-s)
connect c10 dev-s --key-id "$keid_s" --peer-id /cse-b || fail "short Ke: $(cat "$T/c10.err")"
[ "$(rows "WHERE key_id = '$keid_s'")" = 1 ] || fail "Kpsa of the short Ke not cached"
exp=$(json_get "$T/e-dev-s.json" 'j["expires_epoch"]')
while [ "$(date +%s)" -le "$exp" ]; do sleep 0.5; done
sleep 1
connect c11 dev-s --key-id "$keid_s" --peer-id /cse-b && fail "A used an expired Ke"
grep -q "re-provision" "$T/c11.err" || fail "client: $(cat "$T/c11.err")"
connect c12 dev-s --key-id "$keid_s" --psk-file "$T/wrong.hex" --origin /cse-s && fail "B accepted an expired KeID"
grep -q "handshake refused" "$T/c12.err" || fail "expected a refused handshake: $(cat "$T/c12.err")"
grep -q "event=psk_refused identity=$keid_s reason=retrieval_refused rsc=4004" "$T/cse.log" \
    || fail "no refusal for the expired KeID: $(grep "$keid_s" "$T/cse.log")"
[ "$(rows "WHERE key_id = '$keid_s'")" = 0 ] || fail "the expired Kpsa is still cached"
grep -q "event=psk_erased identity=$keid_s\|event=psk_swept" "$T/cse.log" || fail "no erasure logged"
ok "expired Ke ($(($(date +%s) - t0)) s): A says re-provision; B refuses the KeID and erased its Kpsa"

if grep -q "$(cat "$T/kpsa1.hex")" "$T/cse.log" "$MEF/mefd.log"; then fail "a key was logged"; fi
rc=0
kill -TERM "$CSE_PID"
wait "$CSE_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "m2msec cse exited with $rc after SIGTERM"
mefd_stop
done_tests
