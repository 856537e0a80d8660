#!/usr/bin/env bash
# MAF Key Registration (TS-0003 8.8.2.7), Key Retrieval (8.8.2.8), Key
# Registration Update (8.8.2.9) and Key De-Registration (8.8.2.10) on the
# shared key registry: real mefd, mafd and the m2msec CLI. Device A registers
# Kc (the exporter output of its KmID session) for target B; B, itself a
# registered MAF client, retrieves it: both must hold the same key (key check
# values). Refusals: not a target (4103), unknown key (4004), a second
# exporter-based registration on one session (4105, sent with openssl), SUID
# 32 with two targets (4000, sent with openssl), an expired registration
# (4004, then erased by the sweeper). The registration survives a mafd
# restart. Update: new expiry (capped at the registration's) and targets,
# followed by the device's copy; non-owner 4103, unknown 4004, nothing to
# update 4000, keyValue 4000. De-Registration: non-owner 4103, owner 2002
# (rows gone from both stores), again 4004.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MAFD="$BIN/mafd"
MEF="$T/mef"
MAF="$T/maf"
mefd_init "$MEF" mef.test.example --dev-pki --target-listen 127.0.0.1:0
"$MEFD" pki issue -d "$MEF" --fqdn maf.test.example --cert "$T/maf.pem" --key "$T/maf.key" >/dev/null
"$MEFD" target add -d "$MEF" --id maf.test.example --cert-fqdn maf.test.example --suid 21 >/dev/null
add_enrolee "$MEF" dev-a /cse-a 3600 --target maf.test.example
add_enrolee "$MEF" dev-b /cse-b 3600 --target maf.test.example
add_enrolee "$MEF" dev-c /cse-c 3600 --target maf.test.example
mefd_start "$MEF"
[ -n "$TGT_ADDR" ] || fail "no Enrolment Target service address"

"$MAFD" init -d "$MAF" --fqdn maf.test.example --listen 127.0.0.1:0 --mef-ca "$MEF/pki/ca.pem" \
    --cert "$T/maf.pem" --key "$T/maf.key" --mef "mef.test.example=$TGT_ADDR" >/dev/null \
    || fail "mafd init"
sed -i -e 's/^handshake_timeout_ms = .*/handshake_timeout_ms = 5000/' -e 's/^workers = .*/workers = 4/' \
    -e 's/^sweep_interval_s = .*/sweep_interval_s = 1/' "$MAF/mafd.conf"
grep -q '^sweep_interval_s = 1$' "$MAF/mafd.conf" || fail "mafd.conf has no sweep_interval_s to shorten"
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

enrol() {
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$1" --kpm-file "$T/$1.kpm" \
        --state "$T/s-$1" --json --quiet >"$T/e-$1.json" || fail "enrol $1"
    json_get "$T/e-$1.json" 'j["keid"]'
}
register() {
    "$CLI" maf register --maf "$MAF_ADDR" --sni maf.test.example --admin-fqdn admin.test.example \
        --state "$T/s-$1" --json --quiet >"$T/r-$1.json" 2>"$T/r-$1.err" || fail "register $1: $(cat "$T/r-$1.err")"
}
# keyreg OUT DEVICE ARGS...: `m2msec maf keyreg`, JSON on $T/OUT.json, stderr on $T/OUT.err
keyreg() {
    local out=$1 dev=$2
    shift 2
    "$CLI" maf keyreg --maf "$MAF_ADDR" --sni maf.test.example --state "$T/s-$dev" --json --quiet \
        "$@" >"$T/$out.json" 2>"$T/$out.err"
}
keyget() {
    "$CLI" maf keyget --maf "$MAF_ADDR" --sni maf.test.example --state "$T/s-$2" --key-id "$3" \
        --json --quiet >"$T/$1.json" 2>"$T/$1.err"
}

keid_a=$(enrol dev-a)
enrol dev-b >/dev/null
enrol dev-c >/dev/null
register dev-a
register dev-b
register dev-c
ok "devices A, B and C enrolled and registered with the MAF"

# --- 1. A registers Kc for B (SUID 32); B retrieves the same key
keyreg k1 dev-a --target /cse-b --suid 32 || fail "keyreg: $(cat "$T/k1.err")"
key_id=$(json_get "$T/k1.json" 'j["key_id"]')
kcv_a=$(json_get "$T/k1.json" 'j["kcv"]')
[[ "$key_id" =~ ^[0-9a-f]{32}@maf\.test\.example$ ]] || fail "Key Identifier '$key_id'"
[ "$(json_get "$T/k1.json" 'j["source_id"]')" = /cse-a ] || fail "source id: $(cat "$T/k1.json")"
ok "A: MAF Key Registration -> 2001, Key Identifier $key_id (kcv $kcv_a)"
keyget g1 dev-b "$key_id" || fail "B keyget: $(cat "$T/g1.err")"
[ "$(json_get "$T/g1.json" 'j["kcv"]')" = "$kcv_a" ] || fail "B got another key: $(cat "$T/g1.json")"
[ "$(json_get "$T/g1.json" 'j["suid"]')" = 32 ] || fail "SUID: $(cat "$T/g1.json")"
[ "$(json_get "$T/g1.json" 'j["source_id"]')" = /cse-a ] || fail "source: $(cat "$T/g1.json")"
grep -q "event=maf_key_registered key_id=$key_id source_id=/cse-a" "$MAF/mafd.log" || fail "no registration log"
grep -q "kcv=$kcv_a" "$MAF/mafd.log" || fail "mafd holds another Kc than A"
ok "B: MAF Key Retrieval -> 2000, same Kc (kcv), SUID 32, source /cse-a"

# --- 2. who may retrieve
keyget g2 dev-c "$key_id" && fail "C (not a target) retrieved the key"
grep -q "refused (4103)" "$T/g2.err" || fail "C: expected 4103: $(cat "$T/g2.err")"
keyget g3 dev-a "$key_id" && fail "A (the source, not a target) retrieved the key"
grep -q "refused (4103)" "$T/g3.err" || fail "A: expected 4103: $(cat "$T/g3.err")"
keyget g4 dev-b "0123456789abcdef0123456789abcdef@maf.test.example" && fail "unknown key retrieved"
grep -q "refused (4004)" "$T/g4.err" || fail "unknown key: expected 4004: $(cat "$T/g4.err")"
ok "not a target -> 4103 (C, and A itself); unknown RelativeKeyID -> 4004"

# --- 4. SUID 32 with two targets: the client refuses to send it; the MAF answers 4000
keyreg k3 dev-a --target /cse-b --target /cse-c --suid 32 && fail "client sent SUID 32 with two targets"
grep -q "exactly one target" "$T/k3.err" || fail "client: $(cat "$T/k3.err")"
# openssl as the client with A's KmID/Km: Km fetched from mefd exactly as mafd does.
kmhex=$(printf 'GET /fetchCredentials/%s/21 HTTP/1.1\r\nHost: mef.test.example\r\nX-M2M-Origin: maf.test.example\r\nX-M2M-RI: x\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n' "$keid_a" |
    timeout 20 openssl s_client -connect "$TGT_ADDR" -tls1_2 -cert "$T/maf.pem" -key "$T/maf.key" \
        -CAfile "$MEF/pki/ca.pem" -servername mef.test.example -ign_eof 2>/dev/null |
    python3 -c 'import sys,json,base64; t=sys.stdin.read(); i=t.index("{"); print(base64.b64decode(json.JSONDecoder().raw_decode(t[i:])[0]["Credential"]).hex())')
[ "${#kmhex}" = 64 ] || fail "could not fetch Km for the raw request"
kmid_a=$(json_get "$T/r-dev-a.json" 'j["kmid"]')
reg_a=$(json_get "$T/r-dev-a.json" 'j["reg_id"]')
raw() { # raw NAME BODY
    printf 'POST /maf/%s/keys HTTP/1.1\r\nHost: maf.test.example\r\nX-M2M-Origin: /cse-a\r\nX-M2M-RI: r1\r\nX-M2M-RVI: 3\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "$reg_a" "${#2}" "$2" |
        timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 -psk_identity "$kmid_a" -psk "$kmhex" \
            -servername maf.test.example -ign_eof >"$T/$1.out" 2>&1 || true
}
raw two '{"mafFQDN":"maf.test.example","et":"20990101T000000","adminFQDN":"admin.test.example","suid":32,"targetIDs":["/cse-b","/cse-c"]}'
grep -aq "X-M2M-RSC: 4000" "$T/two.out" || fail "expected 4000: $(head -c 1500 "$T/two.out")"
raw bad '{"mafFQDN":"maf.test.example","et":"20990101T000000","adminFQDN":"admin.test.example","suid":34,"targetIDs":["not an id"]}'
grep -aq "X-M2M-RSC: 4000" "$T/bad.out" || fail "expected 4000 for a malformed target: $(head -c 1500 "$T/bad.out")"
raw adm '{"mafFQDN":"maf.test.example","et":"20990101T000000","adminFQDN":"other.test.example","suid":32,"targetIDs":["/cse-b"]}'
grep -aq "X-M2M-RSC: 4000" "$T/adm.out" || fail "expected 4000 for another stakeholder: $(head -c 1500 "$T/adm.out")"
grep -aq "not the stakeholder of the client registration" "$T/adm.out" || fail "4000 without the reason: $(head -c 1500 "$T/adm.out")"
raw esd '{"mafFQDN":"maf.test.example","et":"20990101T000000","adminFQDN":"admin.test.example","suid":34,"targetIDs":["/cse-b","/cse-c"]}'
grep -aq "X-M2M-RSC: 2001" "$T/esd.out" || fail "expected 2001 for SUID 34 with two targets: $(head -c 1500 "$T/esd.out")"
ok "SUID 32 with two targets -> 4000 (client refuses too); malformed target, adminFQDN not the registration's -> 4000; SUID 34 with two -> 2001"

# --- 3. one exporter value per session (SPEC-DIGEST 2.2): two exporter-based Key
# Registrations on ONE TLS session (openssl, A's KmID/Km) -> 2001, then 4105.
kbody='{"mafFQDN":"maf.test.example","et":"20990101T000000","adminFQDN":"admin.test.example","suid":32,"targetIDs":["/cse-b"]}'
kreq() { printf 'POST /maf/%s/keys HTTP/1.1\r\nHost: maf.test.example\r\nX-M2M-Origin: /cse-a\r\nX-M2M-RI: %s\r\nX-M2M-RVI: 3\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s' "$reg_a" "$1" "${#kbody}" "$2" "$kbody"; }
{ kreq once keep-alive; sleep 0.5; kreq twice close; } |
    timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 -psk_identity "$kmid_a" -psk "$kmhex" \
        -servername maf.test.example -ign_eof >"$T/twice.out" 2>&1 || true
[ "$(grep -ao 'X-M2M-RSC: [0-9]*' "$T/twice.out" | sed 's/.*: //' | tr '\n' ' ')" = "2001 4105 " ] \
    || fail "one exporter value per session: $(grep -a 'X-M2M-RSC' "$T/twice.out")"
grep -q "event=maf_key_registered .*kc=exported" "$MAF/mafd.log" || fail "no exporter-based registration logged"
ok "second exporter-based Key Registration on the same session -> 4105"

# --- 5. expiry
keyreg k4 dev-a --target /cse-b --suid 32 --lifetime 2 || fail "short keyreg: $(cat "$T/k4.err")"
short_id=$(json_get "$T/k4.json" 'j["key_id"]')
sleep 3
keyget g5 dev-b "$short_id" && fail "expired key retrieved"
grep -q "refused (4004)" "$T/g5.err" || fail "expired: expected 4004: $(cat "$T/g5.err")"
MAFDB="$MAF/maf.db"
for _ in $(seq 1 50); do
    [ "$(sqlite_count "$MAFDB" "SELECT count(*) FROM keyreg WHERE rel = '${short_id%@*}'")" = 0 ] && break
    sleep 0.1
done
[ "$(sqlite_count "$MAFDB" "SELECT count(*) FROM keyreg WHERE rel = '${short_id%@*}'")" = 0 ] \
    || fail "expired key row not swept"
[ "$(sqlite_count "$MAFDB" "SELECT count(*) FROM keyreg_target WHERE rel = '${short_id%@*}'")" = 0 ] \
    || fail "expired key's targets not swept"
ok "expired key registration -> 4004; the sweeper erased its rows from maf.db"

# --- 6. durable across a restart
mafd_stop
mafd_start
keyget g6 dev-b "$key_id" || fail "B keyget after restart: $(cat "$T/g6.err")"
[ "$(json_get "$T/g6.json" 'j["kcv"]')" = "$kcv_a" ] || fail "after restart: $(cat "$T/g6.json")"
ok "after a mafd restart B still retrieves the key"

# --- 7. Key Registration Update (8.8.2.9): PUT /maf/keys/<RelativeKeyID>
# keymod OUT DEVICE SUB ARGS...: `m2msec maf keyupdate|keydel`, JSON on $T/OUT.json
keymod() {
    local out=$1 dev=$2 sub=$3
    shift 3
    "$CLI" maf "$sub" --maf "$MAF_ADDR" --sni maf.test.example --state "$T/s-$dev" --json --quiet \
        "$@" >"$T/$out.json" 2>"$T/$out.err"
}
rawreq() { # rawreq NAME METHOD PATH BODY: one request on A's KmID session
    printf '%s %s HTTP/1.1\r\nHost: maf.test.example\r\nX-M2M-Origin: /cse-a\r\nX-M2M-RI: r2\r\nX-M2M-RVI: 3\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "$2" "$3" "${#4}" "$4" |
        timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 -psk_identity "$kmid_a" -psk "$kmhex" \
            -servername maf.test.example -ign_eof >"$T/$1.out" 2>&1 || true
}
rsc_of() { grep -ao 'X-M2M-RSC: [0-9]*' "$T/$1.out" | sed 's/.*: //'; }
devdb() { sqlite_count "$T/s-$1/state.db" "$2"; }
# A shorter registration: a key's expiry is then capped by it, not by Km.
"$CLI" maf update --maf "$MAF_ADDR" --sni maf.test.example --state "$T/s-dev-a" --lifetime 1200 --json \
    --quiet >"$T/ua.json" 2>"$T/ua.err" || fail "registration update: $(cat "$T/ua.err")"
reg_et=$(sqlite_count "$MAFDB" "SELECT et FROM maf_reg WHERE reg_id = '$reg_a'")
keyreg k5 dev-a --target /cse-b --suid 32 --lifetime 300 || fail "keyreg k5: $(cat "$T/k5.err")"
k5=$(json_get "$T/k5.json" 'j["key_id"]')
r5=${k5%@*}
keymod u1 dev-a keyupdate --key-id "$k5" --lifetime 600 || fail "keyupdate: $(cat "$T/u1.err")"
[ "$(json_get "$T/u1.json" 'j["updated"]')" = true ] || fail "keyupdate: $(cat "$T/u1.json")"
et1=$(sqlite_count "$MAFDB" "SELECT expires FROM keyreg WHERE rel = '$r5'")
[ "$et1" -gt "$(($(date +%s) + 500))" ] && [ "$et1" -le "$(($(date +%s) + 600))" ] || fail "granted et $et1"
[ "$(devdb dev-a "SELECT expires FROM dev_kc WHERE key_id = '$k5'")" = "$et1" ] \
    || fail "the device's Kc did not follow the new expiry"
grep -q "event=maf_key_updated rel_key_id=$r5 source_id=/cse-a" "$MAF/mafd.log" || fail "no update log"
keymod u2 dev-a keyupdate --key-id "$k5" --lifetime 315360000 || fail "long keyupdate: $(cat "$T/u2.err")"
[ "$(sqlite_count "$MAFDB" "SELECT expires FROM keyreg WHERE rel = '$r5'")" = "$reg_et" ] \
    || fail "et beyond the registration was not capped at its et ($reg_et)"
[ "$(devdb dev-a "SELECT expires FROM dev_kc WHERE key_id = '$k5'")" = "$reg_et" ] \
    || fail "the device's Kc expiry is not the capped one"
ok "Key Registration Update -> 2004: new et granted and stored on both sides; et beyond the registration capped at its et"
keymod u3 dev-a keyupdate --key-id "$k5" --target /cse-c || fail "target update: $(cat "$T/u3.err")"
keyget g7 dev-c "$k5" || fail "C, the new target, keyget: $(cat "$T/g7.err")"
keyget g8 dev-b "$k5" && fail "B, no longer a target, retrieved the key"
grep -q "refused (4103)" "$T/g8.err" || fail "B: expected 4103: $(cat "$T/g8.err")"
[ "$(devdb dev-a "SELECT target FROM dev_kc WHERE key_id = '$k5'")" = /cse-c ] \
    || fail "the device's Kc did not follow the new target"
ok "targetIDs update -> 2004: C retrieves, B 4103; the device's stored target follows"
keymod u4 dev-b keyupdate --key-id "$k5" --lifetime 60 && fail "B updated A's key"
grep -q "refused (4103)" "$T/u4.err" || fail "non-owner update: expected 4103: $(cat "$T/u4.err")"
keymod u5 dev-a keyupdate --key-id "0123456789abcdef0123456789abcdef@maf.test.example" --lifetime 60 \
    && fail "unknown key updated"
grep -q "refused (4004)" "$T/u5.err" || fail "unknown key update: expected 4004: $(cat "$T/u5.err")"
rc=0
keymod u6 dev-a keyupdate --key-id "$k5" || rc=$?
[ "$rc" = 2 ] || fail "keyupdate without --lifetime/--target: expected a usage error, got $rc"
rawreq u7 PUT "/maf/keys/$r5" '{"mafFQDN":"maf.test.example"}'
[ "$(rsc_of u7)" = 4000 ] || fail "nothing to update: $(head -c 1500 "$T/u7.out")"
grep -aq "nothing to update" "$T/u7.out" || fail "4000 without the reason: $(head -c 1500 "$T/u7.out")"
rawreq u8 PUT "/maf/keys/$r5" '{"mafFQDN":"maf.test.example","et":"20990101T000000","keyValue":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}'
[ "$(rsc_of u8)" = 4000 ] || fail "keyValue in an update: $(head -c 1500 "$T/u8.out")"
rawreq u9 PUT "/maf/keys/$r5" '{"mafFQDN":"maf.test.example","targetIDs":["/cse-b","/cse-c"]}'
[ "$(rsc_of u9)" = 4000 ] || fail "SUID 32 updated to two targets: $(head -c 1500 "$T/u9.out")"
rawreq u10 PUT "/maf/keys/$r5" '{"mafFQDN":"maf.test.example","lbl":["x"]}'
[ "$(rsc_of u10)" = 2004 ] && grep -aq '{"lbl":\["x"\]}' "$T/u10.out" \
    || fail "label update: the response must carry only lbl: $(head -c 1500 "$T/u10.out")"
[ "$(sqlite_count "$MAFDB" "SELECT value FROM keyreg_label WHERE rel = '$r5'")" = x ] || fail "label not stored"
ok "update by a non-owner -> 4103, of an unknown key -> 4004, nothing to update / keyValue / two targets for SUID 32 -> 4000; lbl only -> 2004 {lbl}"

# --- 8. Key De-Registration (8.8.2.10): DELETE /maf/keys/<RelativeKeyID>
keymod d1 dev-b keydel --key-id "$k5" && fail "B de-registered A's key"
grep -q "refused (4103)" "$T/d1.err" || fail "non-owner keydel: expected 4103: $(cat "$T/d1.err")"
[ "$(sqlite_count "$MAFDB" "SELECT count(*) FROM keyreg WHERE rel = '$r5'")" = 1 ] || fail "refused keydel erased the key"
keymod d2 dev-a keydel --key-id "$k5" || fail "keydel: $(cat "$T/d2.err")"
[ "$(json_get "$T/d2.json" 'j["deregistered"]')" = true ] || fail "keydel: $(cat "$T/d2.json")"
[ "$(sqlite_count "$MAFDB" "SELECT count(*) FROM keyreg WHERE rel = '$r5'")" = 0 ] || fail "key row left in maf.db"
[ "$(sqlite_count "$MAFDB" "SELECT count(*) FROM keyreg_target WHERE rel = '$r5'")" = 0 ] || fail "targets left"
[ "$(sqlite_count "$MAFDB" "SELECT count(*) FROM keyreg_label WHERE rel = '$r5'")" = 0 ] || fail "labels left"
[ "$(devdb dev-a "SELECT count(*) FROM dev_kc WHERE key_id = '$k5'")" = 0 ] || fail "the device kept Kc"
keyget g9 dev-c "$k5" && fail "a de-registered key was retrieved"
grep -q "refused (4004)" "$T/g9.err" || fail "after keydel: expected 4004: $(cat "$T/g9.err")"
keymod d3 dev-a keydel --key-id "$k5" && fail "second keydel accepted"
grep -q "refused (4004)" "$T/d3.err" || fail "second keydel: expected 4004: $(cat "$T/d3.err")"
grep -q "event=maf_key_deregistered rel_key_id=$r5" "$MAF/mafd.log" || fail "no de-registration log"
ok "Key De-Registration: non-owner -> 4103; owner -> 2002, rows gone from maf.db and the device; target 4004; again 4004"
if grep -q "$kmhex" "$MAF/mafd.log" "$MEF/mefd.log"; then fail "a key was logged"; fi
mafd_stop
mefd_stop
done_tests
