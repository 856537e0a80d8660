#!/usr/bin/env bash
# MAF Client Registration with a remotely provisioned Km (TS-0003 8.8.2.3) and
# the MAF Handshake with the assigned KmID (8.8.2.2): real mefd (Enrolment
# Target service), mafd and the m2msec CLI. mafd fetches Km from mefd during
# the client's KeID handshake; both ends must hold the same Km (key check
# values); the KmID then authenticates later sessions, across a mafd restart.
# Acceptance-3 cross-check (section 6): a second device enrolled by `openssl
# s_client` (its own exporter), Km computed by python from the exported bytes
# (TS-0003 10.3.7), and openssl registering with that KeID/Km: mafd's Km must be
# the independent computation (2001, and the same key check value).
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MAFD="$BIN/mafd"
MEF="$T/mef"
MAF="$T/maf"
mefd_init "$MEF" mef.test.example --dev-pki --target-listen 127.0.0.1:0
"$MEFD" pki issue -d "$MEF" --fqdn maf.test.example --cert "$T/maf.pem" --key "$T/maf.key" >/dev/null
"$MEFD" target add -d "$MEF" --id maf.test.example --cert-fqdn maf.test.example --suid 21 >/dev/null
add_enrolee "$MEF" dev-1 /cse-dev1 3600 --target maf.test.example
add_enrolee "$MEF" dev-2 /cse-dev2 3600
add_enrolee "$MEF" dev-3 /cse-dev3 3600 --target maf.test.example
mefd_start "$MEF"
[ -n "$TGT_ADDR" ] || fail "no Enrolment Target service address"

"$MAFD" init -d "$MAF" --fqdn maf.test.example --listen 127.0.0.1:0 --mef-ca "$MEF/pki/ca.pem" \
    --cert "$T/maf.pem" --key "$T/maf.key" --mef "mef.test.example=$TGT_ADDR" >/dev/null \
    || fail "mafd init"
sed -i -e 's/^handshake_timeout_ms = .*/handshake_timeout_ms = 5000/' -e 's/^workers = .*/workers = 4/' \
    "$MAF/mafd.conf"
MAF_STARTS=0
mafd_start() {
    local i
    MAF_STARTS=$((MAF_STARTS + 1))
    "$MAFD" serve -d "$MAF" 2>>"$MAF/mafd.log" &
    MAF_PID=$!
    PIDS+=("$MAF_PID")
    for i in $(seq 1 100); do
        if [ "$(grep -c 'event=listening' "$MAF/mafd.log" 2>/dev/null || true)" -ge "$MAF_STARTS" ]; then
            MAF_ADDR=$(grep -o 'event=listening addr=[^ ]*' "$MAF/mafd.log" | tail -n 1 | sed 's/.*addr=//')
            return 0
        fi
        kill -0 "$MAF_PID" 2>/dev/null || fail "mafd exited during start-up: $(tail -n 5 "$MAF/mafd.log")"
        sleep 0.1
    done
    fail "mafd did not start listening"
}
mafd_stop() {
    local rc=0
    kill -TERM "$MAF_PID"
    wait "$MAF_PID" || rc=$?
    [ "$rc" -eq 0 ] || fail "mafd exited with $rc after SIGTERM"
}
mafd_start
ok "mafd listening on $MAF_ADDR, trusting mef.test.example at $TGT_ADDR"

enrol() {
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$1" --kpm-file "$T/$1.kpm" \
        --state "$T/s-$1" --json --quiet >"$T/e-$1.json" || fail "enrol $1"
    json_get "$T/e-$1.json" 'j["keid"]'
}
# register NAME STATE ADMIN: `m2msec maf register`, JSON on $T/NAME.json, stderr on $T/NAME.err
register() {
    "$CLI" maf register --maf "$MAF_ADDR" --sni maf.test.example --admin-fqdn "$3" --state "$2" \
        --json --quiet >"$T/$1.json" 2>"$T/$1.err"
}

# --- 1. first contact: KeID handshake, Km fetched from mefd, KmID assigned
keid1=$(enrol dev-1)
register r1 "$T/s-dev-1" admin.test.example || fail "register: $(cat "$T/r1.err")"
kmid=$(json_get "$T/r1.json" 'j["kmid"]')
[[ "$kmid" =~ ^[0-9a-f]{32}@maf\.test\.example$ ]] || fail "KmID '$kmid'"
[ "$(json_get "$T/r1.json" 'j["km_assigned"]')" = true ] || fail "no assignedSymmKeyID: $(cat "$T/r1.json")"
[ "$(json_get "$T/r1.json" 'j["client_id"]')" = /cse-dev1 ] || fail "client id: $(cat "$T/r1.json")"
ok "MAF Client Registration with KeID $keid1 -> 2001, KmID $kmid"
"$MAFD" client list -d "$MAF" --json >"$T/clients.json"
[ "$(json_get "$T/clients.json" 'j[0]["kmid"]')" = "$kmid" ] || fail "client list: $(cat "$T/clients.json")"
[ "$(json_get "$T/clients.json" 'j[0]["keid"]')" = "$keid1" ] || fail "client keid: $(cat "$T/clients.json")"
maf_kcv=$(json_get "$T/clients.json" 'j[0]["kcv"]')
dev_kcv=$("$CLI" state --state "$T/s-dev-1" --derive 21:maf.test.example --json | json_get - 'j["derived"]["kcv"]')
[ "$maf_kcv" = "$dev_kcv" ] || fail "Km at mafd ($maf_kcv) differs from the device's ($dev_kcv)"
ok "mafd stores the Km the device derives (kcv $dev_kcv)"
grep -q "event=credential_fetched target=maf.test.example keid=$keid1 suid=21 kcv=$dev_kcv" "$MEF/mefd.log" \
    || fail "mefd did not log the fetch"
grep -q "event=maf_client_registered kmid=$kmid" "$MAF/mafd.log" || fail "mafd did not log the registration"
ok "mefd logged credential_fetched for maf.test.example; mafd logged the registration"

# --- 2. MAF Handshake with the KmID; one registration per adminFQDN
register r2 "$T/s-dev-1" admin.test.example && fail "second registration for the same adminFQDN accepted"
grep -q "refused (4105)" "$T/r2.err" || fail "expected 4105: $(cat "$T/r2.err")"
register r3 "$T/s-dev-1" other-admin.test.example || fail "KmID registration: $(cat "$T/r3.err")"
[ "$(json_get "$T/r3.json" 'j["kmid"]')" = "$kmid" ] || fail "KmID changed: $(cat "$T/r3.json")"
[ "$(json_get "$T/r3.json" 'j["km_assigned"]')" = false ] || fail "KmID session got a new KmID"
[ "$(grep -c "event=credential_fetched target=maf.test.example" "$MEF/mefd.log")" = 1 ] \
    || fail "the KmID session fetched from the MEF again"
ok "KmID handshake: same adminFQDN -> 4105, another adminFQDN -> 2001, no new fetch"

# --- 3. refusals
enrol dev-2 >/dev/null
register r4 "$T/s-dev-2" admin.test.example && fail "a device not provisioned for the MAF registered"
grep -qi "handshake refused" "$T/r4.err" || fail "expected a refused handshake: $(cat "$T/r4.err")"
grep -q "event=fetch_refused target=maf.test.example rsc=4103" "$MEF/mefd.log" || fail "mefd did not refuse with 4103"
grep -q "event=fetch_failed" "$MAF/mafd.log" || fail "mafd did not log the failed fetch"
ok "Enrolee without the MAF as target: fetch 4103 -> handshake refused"
# Unknown KmID: openssl with a made-up identity.
out=$(printf '' | timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 \
    -psk_identity "00112233445566778899aabbccddeeff@maf.test.example" -psk "$(python3 -c 'print("11"*32)')" \
    -servername maf.test.example -ign_eof 2>&1 || true)
echo "$out" | grep -aqi "alert\|error" || fail "unknown KmID not refused: $out"
echo "$out" | grep -aq "bad record mac" || fail "unknown KmID: not refused like a wrong key: $out"
ok "unknown KmID -> handshake refused"
# X-M2M-Origin mismatch on a KmID session, with openssl as the client: Km is
# fetched from mefd exactly as mafd does (same target certificate).
kmhex=$(printf 'GET /fetchCredentials/%s/21 HTTP/1.1\r\nHost: mef.test.example\r\nX-M2M-Origin: maf.test.example\r\nX-M2M-RI: x\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n' "$keid1" |
    timeout 20 openssl s_client -connect "$TGT_ADDR" -tls1_2 -cert "$T/maf.pem" -key "$T/maf.key" \
        -CAfile "$MEF/pki/ca.pem" -servername mef.test.example -ign_eof 2>/dev/null |
    python3 -c 'import sys,json,base64; t=sys.stdin.read(); i=t.index("{"); print(base64.b64decode(json.JSONDecoder().raw_decode(t[i:])[0]["Credential"]).hex())')
[ "${#kmhex}" = 64 ] || fail "could not fetch Km for the origin test"
body='{"mafFQDN":"maf.test.example","et":"20990101T000000","adminFQDN":"x.test.example"}'
printf 'POST /maf HTTP/1.1\r\nHost: maf.test.example\r\nX-M2M-Origin: /someone-else\r\nX-M2M-RI: o1\r\nX-M2M-RVI: 3\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "${#body}" "$body" |
    timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 -psk_identity "$kmid" -psk "$kmhex" \
        -servername maf.test.example -ign_eof >"$T/origin.out" 2>&1 || true
grep -aq "X-M2M-RSC: 4106" "$T/origin.out" || fail "expected 4106: $(head -c 1500 "$T/origin.out")"
ok "KmID session with X-M2M-Origin naming someone else -> 4106"
body='{"mafFQDN":"other-maf.example.com","et":"20990101T000000","adminFQDN":"y.test.example"}'
printf 'POST /maf HTTP/1.1\r\nHost: maf.test.example\r\nX-M2M-Origin: 11-%s\r\nX-M2M-RI: o2\r\nX-M2M-RVI: 3\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "$kmid" "${#body}" "$body" |
    timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 -psk_identity "$kmid" -psk "$kmhex" \
        -servername maf.test.example -ign_eof >"$T/fqdn.out" 2>&1 || true
grep -aq "X-M2M-RSC: 4000" "$T/fqdn.out" || fail "expected 4000 for a foreign mafFQDN: $(head -c 1500 "$T/fqdn.out")"
ok "mafFQDN naming another MAF -> 4000 (openssl as client with KmID/Km: independent TLS stack)"

# --- 4. durable: restart mafd, the KmID still authenticates
mafd_stop
mafd_start
register r5 "$T/s-dev-1" third-admin.test.example || fail "KmID after restart: $(cat "$T/r5.err")"
[ "$(json_get "$T/r5.json" 'j["kmid"]')" = "$kmid" ] || fail "KmID after restart: $(cat "$T/r5.json")"
ok "after a mafd restart the KmID handshake still works"

# --- 5. re-enrolment: a new KeID re-keys the MAF client (same Enrolee-ID, previous one replaced)
keid1b=$(enrol dev-1)
register r6 "$T/s-dev-1" admin.test.example || fail "register after re-enrolment: $(cat "$T/r6.err")"
kmid2=$(json_get "$T/r6.json" 'j["kmid"]')
[ "$kmid2" != "$kmid" ] && [ "$(json_get "$T/r6.json" 'j["km_assigned"]')" = true ] || fail "no new KmID: $(cat "$T/r6.json")"
"$MAFD" client list -d "$MAF" --json >"$T/clients2.json"
[ "$(json_get "$T/clients2.json" 'len(j)')" = 1 ] && [ "$(json_get "$T/clients2.json" 'j[0]["keid"]')" = "$keid1b" ] \
    || fail "previous client not replaced: $(cat "$T/clients2.json")"
ok "after re-enrolment the new KeID gets a new KmID and replaces the previous client"

# --- 6. Acceptance-3 cross-check: independent enrolee (openssl), independent Km (python)
http_req POST /mef/enrolment 10-dev-3 '{"certEnrolmentInd":false,"mafEnrolmentInd":true,"remoteMgmtInd":true}' \
    >"$T/enr3.http"
s_client_psk dev-3 "$(cat "$T/dev-3.kpm")" -keymatexport EXPORTER-oneM2M-Bootstrap -keymatexportlen 48 \
    <"$T/enr3.http" >"$T/enr3.out" || true
mat=$(grep -A3 "Keying material exporter" "$T/enr3.out" | grep "Keying material:" | sed 's/.*Keying material: *//' | tr -d ' \r')
[ "${#mat}" = 96 ] || fail "openssl exported no 48 bytes: $(head -c 1500 "$T/enr3.out")"
keid3=$(python3 -c 'import json,sys; t=open(sys.argv[1],errors="replace",newline="").read(); i=t.index("\r\n\r\n{")+4; print(json.JSONDecoder().raw_decode(t[i:])[0]["keID"])' "$T/enr3.out")
[ "$keid3" = "$(echo "${mat:0:32}" | tr 'A-F' 'a-f')@mef.test.example" ] || fail "KeID $keid3 is not hex(exported[0:16])"
# Km = HMAC-SHA-256(Ke, label || "21" || MAF-FQDN), Ke = exported[16:48] (the construction of
# tests/vectors/gen_ts0003_kdf.py); kcv = first 8 bytes of HMAC-SHA-256(Km, "m2msec key check value").
read -r km3 kcv3 < <(python3 - "$mat" <<'PY'
import hashlib, hmac, sys
ke = bytes.fromhex(sys.argv[1])[16:48]
km = hmac.new(ke, b"oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation" + b"21"
              + "maf.test.example".encode("utf-8"), hashlib.sha256).digest()
print(km.hex(), hmac.new(km, b"m2msec key check value", hashlib.sha256).hexdigest()[:16])
PY
)
[ "${#km3}" = 64 ] || fail "python computed no Km"
nf=$(grep -c "event=credential_fetched target=maf.test.example" "$MEF/mefd.log")
body='{"mafFQDN":"maf.test.example","et":"20990101T000000","adminFQDN":"admin.test.example"}'
printf 'POST /maf HTTP/1.1\r\nHost: maf.test.example\r\nX-M2M-Origin: /cse-dev3\r\nX-M2M-RI: a3\r\nX-M2M-RVI: 3\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "${#body}" "$body" |
    timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 -psk_identity "$keid3" -psk "$km3" \
        -servername maf.test.example -ign_eof >"$T/a3.out" 2>&1 || true
grep -aq "X-M2M-RSC: 2001" "$T/a3.out" || fail "openssl with python's Km: $(head -c 1500 "$T/a3.out")"
grep -aq '"assignedSymmKeyID":"[0-9a-f]\{32\}@maf.test.example"' "$T/a3.out" || fail "no KmID: $(head -c 1500 "$T/a3.out")"
[ "$(grep -c "event=credential_fetched target=maf.test.example keid=$keid3 suid=21 kcv=$kcv3" "$MEF/mefd.log")" = 1 ] \
    && [ "$(grep -c "event=credential_fetched target=maf.test.example" "$MEF/mefd.log")" = $((nf + 1)) ] \
    || fail "mefd did not hand mafd python's Km for $keid3 exactly once"
"$MAFD" client list -d "$MAF" --json >"$T/clients3.json"
[ "$(json_get "$T/clients3.json" "[c['kcv'] for c in j if c['keid']=='$keid3']")" = "[\"$kcv3\"]" ] \
    || fail "mafd's Km for $keid3 is not python's (kcv $kcv3): $(cat "$T/clients3.json")"
ok "acceptance-3: openssl-enrolled KeID + python's 10.3.7 Km -> mafd 2001; mafd's kcv = python's ($kcv3)"
# A wrong Km for the same (now held) KeID is refused, without a fetch.
bad=$(python3 -c 'import sys; k=bytearray.fromhex(sys.argv[1]); k[0]^=1; print(k.hex())' "$km3")
out=$(printf '' | timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 -psk_identity "$keid3" -psk "$bad" \
    -servername maf.test.example -ign_eof 2>&1 || true)
echo "$out" | grep -aq "bad record mac" || fail "KeID with a wrong Km not refused: $out"
[ "$(grep -c "event=credential_fetched target=maf.test.example" "$MEF/mefd.log")" = $((nf + 1)) ] \
    || fail "mafd fetched again for a KeID whose Km it holds"
ok "the same KeID with a Km off by one bit -> handshake refused (bad record mac), no new fetch"
for k in "$kmhex" "$km3"; do
    if grep -q "$k" "$MAF/mafd.log" "$MEF/mefd.log"; then fail "a key was logged"; fi
done
mafd_stop
mefd_stop
done_tests
