#!/usr/bin/env bash
# MEF Key Registration, Retrieval, Update and De-Registration (TS-0003
# 8.3.5.2.7 - 8.3.5.2.10): real mefd, real `m2msec mef key*` clients, openssl
# for the requests the CLI refuses to send. Device A (/cse-a) registers keys
# under its MEF Client Registration; B (/cse-b) and C (/cse-c) retrieve them.
# Both ends must hold the same key (key check values). Refusals: a non-target
# retrieving (4103, also A itself), a non-owner updating or de-registering
# (4103), unknown and expired keys (4004, the expired row erased by the
# sweeper), a second exporter-based registration on one session (4105), bad
# SUIDs and target counts (4000), nothing to update (4000). De-registering
# the MEF Client Registration erases its keys. Keys survive a restart and are
# never logged.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MEF="$T/mef"
mefd_init "$MEF" mef.test.example
add_enrolee "$MEF" dev-a /cse-a 3600
add_enrolee "$MEF" dev-b /cse-b 3600
add_enrolee "$MEF" dev-c /cse-c 3600
mefd_start "$MEF"
DB="$MEF/mef.db"

mefargs() { echo --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$1" --kpm-file "$T/$1.kpm"; }
# key SUB DEVICE OUT ARGS...: `m2msec mef SUB` as DEVICE, JSON on $T/OUT.json, stderr on $T/OUT.err
key() {
    local sub=$1 dev=$2 out=$3
    shift 3
    # shellcheck disable=SC2046
    "$CLI" mef "$sub" $(mefargs "$dev") --state "$T/s-$dev" --json --quiet "$@" \
        >"$T/$out.json" 2>"$T/$out.err"
}
refused() { # refused OUT RSC WHAT
    grep -q "refused ($2)" "$T/$1.err" || fail "$3: expected $2, got: $(cat "$T/$1.err")"
}

"$CLI" enrol $(mefargs dev-a) --state "$T/s-dev-a" --json --quiet >"$T/e-a.json" || fail "enrol A"
# shellcheck disable=SC2046
"$CLI" mef register $(mefargs dev-a) --admin-fqdn sp.test.example --lifetime 3000 --json \
    >"$T/r-a.json" || fail "A: mef register"
reg_a=$(json_get "$T/r-a.json" 'j["reg_id"]')
# shellcheck disable=SC2046
"$CLI" mef register $(mefargs dev-b) --admin-fqdn sp.test.example --json >"$T/r-b.json" \
    || fail "B: mef register"
reg_b=$(json_get "$T/r-b.json" 'j["reg_id"]')
ok "A enrolled; A and B registered with the MEF ($reg_a, $reg_b)"

# --- 1. A registers an exported key for B (SUID 22, SAEF); B retrieves the same key
key keyreg dev-a k1 --reg-id "$reg_a" --target /cse-b --suid 22 --lifetime 600 \
    || fail "keyreg: $(cat "$T/k1.err")"
key_id=$(json_get "$T/k1.json" 'j["key_id"]')
kcv_a=$(json_get "$T/k1.json" 'j["kcv"]')
rel=${key_id%@*}
[[ "$key_id" =~ ^[0-9a-f]{32}@mef\.test\.example$ ]] || fail "Key Identifier '$key_id'"
[ "$(json_get "$T/k1.json" 'j["source_id"]')" = /cse-a ] || fail "source id: $(cat "$T/k1.json")"
[ "$(json_get "$T/k1.json" 'j["suid"]')" = 22 ] || fail "suid: $(cat "$T/k1.json")"
grep -q "event=mef_key_registered key_id=$key_id kpm_id=dev-a source_id=/cse-a reg_id=$reg_a kc=exported suid=22" \
    "$MEF/mefd.log" || fail "no registration log: $(grep mef_key "$MEF/mefd.log")"
grep -q "kcv=$kcv_a" "$MEF/mefd.log" || fail "mefd holds another key than A"
[ "$(sqlite_count "$T/s-dev-a/state.db" "SELECT count(*) FROM dev_kc WHERE key_id = '$key_id'")" = 1 ] \
    || fail "A did not store the key under its Key Identifier"
[ "$(sqlite_count "$DB" "SELECT count(*) FROM keyreg WHERE rel = '$rel' AND reg_id = '$reg_a' AND owner = 'dev-a'")" = 1 ] \
    || fail "key registration row"
ok "A: MEF Key Registration -> 2001, Key Identifier $key_id (kcv $kcv_a), stored on both ends"
key keyget dev-b g1 --key-id "$key_id" || fail "B keyget: $(cat "$T/g1.err")"
[ "$(json_get "$T/g1.json" 'j["kcv"]')" = "$kcv_a" ] || fail "B got another key: $(cat "$T/g1.json")"
[ "$(json_get "$T/g1.json" 'j["suid"]')" = 22 ] || fail "SUID: $(cat "$T/g1.json")"
[ "$(json_get "$T/g1.json" 'j["source_id"]')" = /cse-a ] || fail "source: $(cat "$T/g1.json")"
grep -q "event=mef_key_retrieved rel_key_id=$rel target=/cse-b" "$MEF/mefd.log" || fail "no retrieval log"
ok "B: MEF Key Retrieval -> 2000, same key (kcv), SUID 22, source /cse-a"

# --- 2. who may retrieve, update, de-register
key keyget dev-c g2 --key-id "$key_id" && fail "C (not a target) retrieved the key"
refused g2 4103 "C retrieving"
key keyget dev-a g3 --key-id "$key_id" && fail "A (the source, not a target) retrieved the key"
refused g3 4103 "A retrieving"
key keyget dev-b g4 --key-id "0123456789abcdef0123456789abcdef@mef.test.example" && fail "unknown key retrieved"
refused g4 4004 "unknown key"
key keyupdate dev-b u1 --key-id "$key_id" --lifetime 100 && fail "B (not the owner) updated"
refused u1 4103 "B updating"
key keydel dev-b d1 --key-id "$key_id" && fail "B (not the owner) de-registered"
refused d1 4103 "B de-registering"
key keyreg dev-b k2 --reg-id "$reg_a" --admin-fqdn sp.test.example --target /cse-b --suid 22 \
    && fail "B registered under A's registration"
refused k2 4103 "B under A's registration"
key keyreg dev-a k3 --reg-id 99999999999999999999999999999999 --admin-fqdn sp.test.example \
    --target /cse-b --suid 22 && fail "key registered under an unknown registration"
refused k3 4004 "unknown registration"
ok "non-target retrieval 4103 (C, and A itself); non-owner update/delete 4103; foreign registration 4103; unknown key and registration 4004"

# --- 3. Key Registration Update (8.3.5.2.9)
key keyupdate dev-a u2 --key-id "$key_id" --lifetime 1200 --label blue || fail "update: $(cat "$T/u2.err")"
[ "$(json_get "$T/u2.json" 'j["updated"]')" = true ] || fail "update: $(cat "$T/u2.json")"
[ -n "$(json_get "$T/u2.json" 'j["expires"]')" ] || fail "update without the granted et"
[ "$(sqlite_count "$DB" "SELECT count(*) FROM keyreg_label WHERE rel = '$rel' AND value = 'blue'")" = 1 ] \
    || fail "label not stored"
key keyupdate dev-a u3 --key-id "$key_id" --target /cse-c || fail "retarget: $(cat "$T/u3.err")"
key keyget dev-c g5 --key-id "$key_id" || fail "C (new target) keyget: $(cat "$T/g5.err")"
[ "$(json_get "$T/g5.json" 'j["kcv"]')" = "$kcv_a" ] || fail "C got another key"
key keyget dev-b g6 --key-id "$key_id" && fail "B still retrieves after being removed"
refused g6 4103 "B after retargeting"
key keyupdate dev-a u4 --key-id "$key_id" --target /cse-b --target /cse-c && fail "two targets for SUID 22"
refused u4 4000 "two targets for SUID 22"
key keyupdate dev-a u5 --key-id "$key_id" && fail "update with nothing to change was sent"
grep -q "nothing to update" "$T/u5.err" || fail "client: $(cat "$T/u5.err")"
grep -q "event=mef_key_updated rel_key_id=$rel kpm_id=dev-a" "$MEF/mefd.log" || fail "no update log"
ok "update: et and labels (2004), targets replaced (C may, B may not), two targets for SUID 22 -> 4000"

# --- 4. requests the client refuses to send, sent with openssl (A's Kpm)
kpm_a=$(cat "$T/dev-a.kpm")
raw() { # raw NAME METHOD PATH BODY
    http_req "$2" "$3" 10-dev-a "$4" | s_client_psk dev-a "$kpm_a" >"$T/$1.out" || true
    grep -ao 'X-M2M-RSC: [0-9]*' "$T/$1.out" | sed 's/.*: //' | head -n 1
}
KB='"mefFQDN":"mef.test.example","et":"20990101T000000","adminFQDN":"sp.test.example"'
[ "$(raw nothing PUT "/mef/keys/$rel" '{"mefFQDN":"mef.test.example"}')" = 4000 ] || fail "nothing to update: $(head -c 600 "$T/nothing.out")"
[ "$(raw kv PUT "/mef/keys/$rel" '{"mefFQDN":"mef.test.example","keyValue":"ERERERERERERERERERERERERERERERERERERERERERE="}')" = 4000 ] \
    || fail "keyValue in an update"
[ "$(raw two POST "/mef/$reg_a/keys" "{$KB,\"suid\":22,\"targetIDs\":[\"/cse-b\",\"/cse-c\"]}")" = 4000 ] \
    || fail "SUID 22 with two targets: $(head -c 600 "$T/two.out")"
[ "$(raw none POST "/mef/$reg_a/keys" "{$KB,\"suid\":24}")" = 4000 ] || fail "no targetIDs"
[ "$(raw s32 POST "/mef/$reg_a/keys" "{$KB,\"suid\":32,\"targetIDs\":[\"/cse-b\"]}")" = 4000 ] || fail "SUID 32 at the MEF"
[ "$(raw s21 POST "/mef/$reg_a/keys" "{$KB,\"suid\":21,\"targetIDs\":[\"/cse-b\"]}")" = 4000 ] || fail "SUID 21"
[ "$(raw bad POST "/mef/$reg_a/keys" "{$KB,\"suid\":24,\"targetIDs\":[\"not an id\"]}")" = 4000 ] || fail "malformed target"
[ "$(raw adm POST "/mef/$reg_a/keys" '{"mefFQDN":"mef.test.example","et":"20990101T000000","adminFQDN":"other.test.example","suid":22,"targetIDs":["/cse-b"]}')" = 4000 ] \
    || fail "another stakeholder than the registration's"
[ "$(raw past POST "/mef/$reg_a/keys" '{"mefFQDN":"mef.test.example","et":"20000101T000000","adminFQDN":"sp.test.example","suid":22,"targetIDs":["/cse-b"]}')" = 4000 ] \
    || fail "et in the past"
[ "$(raw fq POST "/mef/$reg_a/keys" '{"mefFQDN":"other.test.example","et":"20990101T000000","adminFQDN":"sp.test.example","suid":22,"targetIDs":["/cse-b"]}')" = 4000 ] \
    || fail "another MEF's FQDN"
[ "$(raw meth GET "/mef/$reg_a/keys" '')" = 4005 ] || fail "GET on the key collection"
key keyreg dev-a k4 --reg-id "$reg_a" --target /cse-b --suid 32 && fail "client sent SUID 32"
grep -q "SUID 22..25" "$T/k4.err" || fail "client: $(cat "$T/k4.err")"
[ "$(sqlite_count "$DB" "SELECT count(*) FROM keyreg")" = 1 ] || fail "a refused registration was stored"
ok "bad SUID (21, 32), target count, missing or malformed targets, foreign adminFQDN or mefFQDN, past et -> 4000; keyValue in an update -> 4000"

# --- 5. one exporter value per session: two exporter-based registrations on ONE session
kbody="{$KB,\"suid\":22,\"targetIDs\":[\"/cse-b\"]}"
kreq() { printf 'POST /mef/%s/keys HTTP/1.1\r\nHost: mef.test.example\r\nX-M2M-Origin: 10-dev-a\r\nX-M2M-RI: %s\r\nX-M2M-RVI: 3\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s' "$reg_a" "$1" "${#kbody}" "$2" "$kbody"; }
{ kreq once keep-alive; sleep 0.5; kreq twice close; } | s_client_psk dev-a "$kpm_a" >"$T/twice.out" || true
[ "$(grep -ao 'X-M2M-RSC: [0-9]*' "$T/twice.out" | sed 's/.*: //' | tr '\n' ' ')" = "2001 4105 " ] \
    || fail "one exporter value per session: $(grep -a 'X-M2M-RSC' "$T/twice.out")"
ok "second exporter-based Key Registration on the same session -> 4105"

# --- 6. a self-generated ESData key for two targets
key keyreg dev-a k5 --reg-id "$reg_a" --target /cse-b --target /cse-c --suid 24 --self-generated \
    --label grp || fail "self-generated keyreg: $(cat "$T/k5.err")"
es_id=$(json_get "$T/k5.json" 'j["key_id"]')
es_kcv=$(json_get "$T/k5.json" 'j["kcv"]')
key keyget dev-b g7 --key-id "$es_id" || fail "B: $(cat "$T/g7.err")"
key keyget dev-c g8 --key-id "$es_id" || fail "C: $(cat "$T/g8.err")"
[ "$(json_get "$T/g7.json" 'j["kcv"]')" = "$es_kcv" ] && [ "$(json_get "$T/g8.json" 'j["kcv"]')" = "$es_kcv" ] \
    || fail "ESData key differs"
grep -q "event=mef_key_registered key_id=$es_id .*kc=supplied suid=24" "$MEF/mefd.log" || fail "no supplied-key log"
ok "self-generated ESData key (SUID 24) for B and C: both retrieve it"

# --- 7. expiry: absent at once, erased by the sweeper
key keyreg dev-a k6 --reg-id "$reg_a" --target /cse-b --suid 23 --lifetime 2 || fail "short: $(cat "$T/k6.err")"
short_id=$(json_get "$T/k6.json" 'j["key_id"]')
short_rel=${short_id%@*}
sleep 3
key keyget dev-b g9 --key-id "$short_id" && fail "expired key retrieved"
refused g9 4004 "expired key"
key keydel dev-a d2 --key-id "$short_id" && fail "expired key de-registered"
refused d2 4004 "de-registering an expired key"
for _ in $(seq 1 50); do
    [ "$(sqlite_count "$DB" "SELECT count(*) FROM keyreg WHERE rel = '$short_rel'")" = 0 ] && break
    sleep 0.1
done
[ "$(sqlite_count "$DB" "SELECT count(*) FROM keyreg WHERE rel = '$short_rel'")" = 0 ] || fail "expired row not swept"
[ "$(sqlite_count "$DB" "SELECT count(*) FROM keyreg_target WHERE rel = '$short_rel'")" = 0 ] || fail "targets left"
ok "expired key registration -> 4004 (retrieval, de-registration); the sweeper erased the row"

# --- 8. durable across a restart; then de-registration
mefd_stop
mefd_start "$MEF"
# mefd_start may read the address before this run's line is written: take the newest one.
MEF_ADDR=$(grep -o 'event=listening addr=[^ ]*' "$MEF/mefd.log" | tail -n 1 | sed 's/.*addr=//')
key keyget dev-c g10 --key-id "$key_id" || fail "after restart: $(cat "$T/g10.err")"
[ "$(json_get "$T/g10.json" 'j["kcv"]')" = "$kcv_a" ] || fail "after restart: $(cat "$T/g10.json")"
ok "after a mefd restart C still retrieves the key"
key keydel dev-a d3 --key-id "$key_id" || fail "keydel: $(cat "$T/d3.err")"
[ "$(json_get "$T/d3.json" 'j["deregistered"]')" = true ] || fail "keydel output"
key keyget dev-c g11 --key-id "$key_id" && fail "retrieved after de-registration"
refused g11 4004 "after de-registration"
key keydel dev-a d4 --key-id "$key_id" && fail "de-registered twice"
refused d4 4004 "second de-registration"
[ "$(sqlite_count "$T/s-dev-a/state.db" "SELECT count(*) FROM dev_kc WHERE key_id = '$key_id'")" = 0 ] \
    || fail "A kept its copy of the de-registered key"
grep -q "event=mef_key_deregistered rel_key_id=$rel kpm_id=dev-a" "$MEF/mefd.log" || fail "no de-registration log"
ok "Key De-Registration -> 2002, then 4004; A's copy erased"

# --- 9. MEF Client De-Registration erases the keys registered under it
[ "$(sqlite_count "$DB" "SELECT count(*) FROM keyreg WHERE reg_id = '$reg_a'")" -ge 1 ] || fail "no key left to cascade"
# shellcheck disable=SC2046
"$CLI" mef deregister $(mefargs dev-a) --reg-id "$reg_a" --quiet >/dev/null || fail "mef deregister"
[ "$(sqlite_count "$DB" "SELECT count(*) FROM keyreg WHERE reg_id = '$reg_a'")" = 0 ] || fail "keys survived de-registration"
[ "$(sqlite_count "$DB" "SELECT count(*) FROM keyreg_target")" = 0 ] || fail "targets survived de-registration"
key keyget dev-b g12 --key-id "$es_id" && fail "key of a de-registered client retrieved"
refused g12 4004 "after client de-registration"
ok "MEF Client De-Registration erased its key registrations (4004 afterwards)"

# Keys never in the log: neither Kpm nor the ESData key's base64 form is written.
for k in "$T"/dev-*.kpm; do
    if grep -q "$(cat "$k")" "$MEF/mefd.log"; then fail "a Kpm was logged"; fi
done
if grep -q 'keyValue\|ERERERERERERERER' "$MEF/mefd.log"; then fail "key material in the log"; fi
ok "no key material in the log"
mefd_stop
done_tests
