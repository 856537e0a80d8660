#!/usr/bin/env bash
# The MAF client lifecycle (TS-0003 8.8.2.4 Configuration Retrieval, 8.8.2.5
# Registration Update, 8.8.2.6 De-Registration) and pre-provisioned clients
# (8.8.3.1, `mafd client add|remove`): real mefd, mafd and the m2msec CLI,
# with openssl s_client as an independent client for what the CLI never sends.
# Positive and negative cases: owner only (4103), unknown regID (4004), an
# update with nothing to change or an expirationTime in the past (4000), the
# de-registration cascade (key gone for its target, rows gone from both
# stores), re-enrolment then update (same regID, new KmID and Km, one fetch),
# a KeID whose Km mafd holds (no fetch), a pre-provisioned Km (accepted,
# wrong Km refused, removed client refused, target not allowed: 4103).
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MAFD="$BIN/mafd"
MEF="$T/mef"
MAF="$T/maf"
mefd_init "$MEF" mef.test.example --dev-pki --target-listen 127.0.0.1:0
"$MEFD" pki issue -d "$MEF" --fqdn maf.test.example --cert "$T/maf.pem" --key "$T/maf.key" >/dev/null
"$MEFD" target add -d "$MEF" --id maf.test.example --cert-fqdn maf.test.example --suid 21 >/dev/null
add_enrolee "$MEF" dev-a /cse-a 3600 --target maf.test.example
add_enrolee "$MEF" dev-b /cse-b 3600 --target maf.test.example
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

enrol() {
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$1" --kpm-file "$T/$1.kpm" \
        --state "$T/s-$1" --json --quiet >"$T/e-$1.json" || fail "enrol $1"
    json_get "$T/e-$1.json" 'j["keid"]'
}
# maf OUT STATE SUB ARGS...: `m2msec maf SUB`, JSON on $T/OUT.json, stderr on $T/OUT.err
maf() {
    local out=$1 st=$2 sub=$3
    shift 3
    "$CLI" maf "$sub" --maf "$MAF_ADDR" --sni maf.test.example --state "$st" --json --quiet "$@" \
        >"$T/$out.json" 2>"$T/$out.err"
}
# refused OUT RSC: the command whose stderr is $T/OUT.err was refused with RSC
refused() {
    grep -q "refused ($2)" "$T/$1.err" || fail "$1: expected $2: $(cat "$T/$1.err")"
}
# fetch_km KEID: Km for KeID from mefd, as mafd fetches it (its target certificate), in hex
fetch_km() {
    printf 'GET /fetchCredentials/%s/21 HTTP/1.1\r\nHost: mef.test.example\r\nX-M2M-Origin: maf.test.example\r\nX-M2M-RI: x\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n' "$1" |
        timeout 20 openssl s_client -connect "$TGT_ADDR" -tls1_2 -cert "$T/maf.pem" -key "$T/maf.key" \
            -CAfile "$MEF/pki/ca.pem" -servername mef.test.example -ign_eof 2>/dev/null |
        python3 -c 'import sys,json,base64; t=sys.stdin.read(); i=t.index("{"); print(base64.b64decode(json.JSONDecoder().raw_decode(t[i:])[0]["Credential"]).hex())'
}
# raw OUT IDENTITY KMHEX ORIGIN METHOD PATH [BODY]: one request with openssl as the client
raw() {
    local out=$1 id=$2 key=$3 origin=$4 method=$5 path=$6 body=${7:-}
    printf '%s %s HTTP/1.1\r\nHost: maf.test.example\r\nX-M2M-Origin: %s\r\nX-M2M-RI: r1\r\nX-M2M-RVI: 3\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$method" "$path" "$origin" "${#body}" "$body" |
        timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 -psk_identity "$id" -psk "$key" \
            -servername maf.test.example -ign_eof >"$T/$out.out" 2>&1 || true
}
rsc_of() { grep -ao 'X-M2M-RSC: [0-9]*' "$T/$1.out" | head -n 1 | sed 's/.*: //'; }
fetches() { grep -c "event=credential_fetched target=maf.test.example" "$MEF/mefd.log" || true; }
db() { sqlite_count "$MAF/maf.db" "$1"; }

# --- 1. owner: configuration retrieval and update
keid_a=$(enrol dev-a)
enrol dev-b >/dev/null
maf ra "$T/s-dev-a" register --admin-fqdn admin.test.example || fail "register A: $(cat "$T/ra.err")"
maf rb "$T/s-dev-b" register --admin-fqdn admin.test.example || fail "register B: $(cat "$T/rb.err")"
reg_a=$(json_get "$T/ra.json" 'j["reg_id"]')
kmid_a=$(json_get "$T/ra.json" 'j["kmid"]')
maf ca "$T/s-dev-a" config || fail "config: $(cat "$T/ca.err")"
[ "$(json_get "$T/ca.json" 'j["mafClientCfg"]["adminFQDN"]')" = admin.test.example ] || fail "cfg: $(cat "$T/ca.json")"
[ "$(json_get "$T/ca.json" 'j["mafClientCfg"]["fqdn"]')" = maf.test.example ] || fail "cfg fqdn: $(cat "$T/ca.json")"
[ "$(json_get "$T/ca.json" 'j["mafClientCfg"]["httpPort"]')" = "${MAF_ADDR##*:}" ] || fail "cfg port: $(cat "$T/ca.json")"
[ "$(json_get "$T/ca.json" 'j["mafClientCfg"]["et"]')" = "$(json_get "$T/ra.json" 'j["expires"]')" ] \
    || fail "cfg et: $(cat "$T/ca.json") vs $(cat "$T/ra.json")"
ok "Configuration Retrieval (GET /maf/<regID>) -> 2000 mafClientCfg {fqdn, adminFQDN, httpPort, et}"
maf ua "$T/s-dev-a" update --lifetime 600 || fail "update: $(cat "$T/ua.err")"
[ "$(json_get "$T/ua.json" 'j["reg_id"]')" = "$reg_a" ] && [ "$(json_get "$T/ua.json" 'j["kmid"]')" = "$kmid_a" ] \
    && [ "$(json_get "$T/ua.json" 'j["km_assigned"]')" = false ] || fail "update: $(cat "$T/ua.json")"
want=$(python3 -c 'import time; print(time.strftime("%Y%m%dT%H%M", time.gmtime(time.time()+600)))')
[[ "$(json_get "$T/ua.json" 'j["expires"]')" == "$want"* ]] || fail "update et: $(cat "$T/ua.json"), want $want*"
maf ca2 "$T/s-dev-a" config --reg-id "$reg_a" || fail "config 2: $(cat "$T/ca2.err")"
[ "$(json_get "$T/ca2.json" 'j["mafClientCfg"]["et"]')" = "$(json_get "$T/ua.json" 'j["expires"]')" ] \
    || fail "the update did not stick: $(cat "$T/ca2.json")"
grep -q "event=maf_client_updated reg_id=$reg_a kmid=$kmid_a" "$MAF/mafd.log" || fail "no update log"
ok "Registration Update (PUT /maf/<regID>) -> 2004 with the granted et; same KmID; retrieval shows it"

# --- 2. refusals: another client's registration (4103), unknown ones (4004)
for sub in config update deregister; do
    maf nb-$sub "$T/s-dev-b" $sub --reg-id "$reg_a" && fail "B's $sub of A's registration accepted"
    refused nb-$sub 4103
    maf nx-$sub "$T/s-dev-a" $sub --reg-id 0123456789abcdef0123456789abcdef && fail "$sub of an unknown regID accepted"
    refused nx-$sub 4004
done
[ "$(db "SELECT count(*) FROM maf_reg WHERE reg_id = '$reg_a'")" = 1 ] || fail "a refused request removed A's registration"
ok "config/update/deregister by a non-owner -> 4103; of an unknown regID -> 4004"
kmhex_a=$(fetch_km "$keid_a")
[ "${#kmhex_a}" = 64 ] || fail "could not fetch A's Km"
raw u0 "$kmid_a" "$kmhex_a" /cse-a PUT "/maf/$reg_a" '{"mafFQDN":"maf.test.example"}'
[ "$(rsc_of u0)" = 4000 ] || fail "update without et/lbl: $(head -c 1500 "$T/u0.out")"
grep -aq "nothing to update" "$T/u0.out" || fail "4000 without the reason: $(head -c 1500 "$T/u0.out")"
raw u1 "$kmid_a" "$kmhex_a" /cse-a PUT "/maf/$reg_a" '{"mafFQDN":"maf.test.example","et":"20000101T000000"}'
[ "$(rsc_of u1)" = 4000 ] || fail "update with et in the past: $(head -c 1500 "$T/u1.out")"
raw u2 "$kmid_a" "$kmhex_a" /cse-a PUT "/maf/$reg_a" '{"mafFQDN":"other.test.example","lbl":["x"]}'
[ "$(rsc_of u2)" = 4000 ] || fail "update naming another MAF: $(head -c 1500 "$T/u2.out")"
raw u3 "$kmid_a" "$kmhex_a" /cse-a PUT "/maf/$reg_a" '{"mafFQDN":"maf.test.example","lbl":["one","two"]}'
[ "$(rsc_of u3)" = 2004 ] || fail "label update: $(head -c 1500 "$T/u3.out")"
grep -aq '{"lbl":\["one","two"\]}' "$T/u3.out" || fail "the response must carry only lbl: $(head -c 1500 "$T/u3.out")"
raw u4 "$kmid_a" "$kmhex_a" /cse-a POST "/maf/$reg_a" '{}'
[ "$(rsc_of u4)" = 4005 ] || fail "POST on a registration: $(head -c 1500 "$T/u4.out")"
ok "update without et/lbl, with et in the past or another mafFQDN -> 4000; lbl only -> 2004 {lbl}; POST -> 4005"

# --- 3. de-registration cascades to the key registrations made under it
maf ka "$T/s-dev-a" keyreg --target /cse-b --suid 32 || fail "keyreg: $(cat "$T/ka.err")"
key_a=$(json_get "$T/ka.json" 'j["key_id"]')
rel_a=${key_a%@*}
maf gb "$T/s-dev-b" keyget --key-id "$key_a" || fail "B keyget: $(cat "$T/gb.err")"
[ "$(db "SELECT count(*) FROM keyreg WHERE reg_id = '$reg_a'")" = 1 ] || fail "key not under the registration"
[ "$(sqlite_count "$T/s-dev-a/state.db" "SELECT count(*) FROM dev_kc WHERE reg_id = '$reg_a'")" = 1 ] \
    || fail "device did not record the key's registration"
maf da "$T/s-dev-a" deregister || fail "deregister: $(cat "$T/da.err")"
[ "$(json_get "$T/da.json" 'j["deregistered"]')" = true ] || fail "deregister: $(cat "$T/da.json")"
maf gb2 "$T/s-dev-b" keyget --key-id "$key_a" && fail "key retrieved after its registration was ended"
refused gb2 4004
[ "$(db "SELECT count(*) FROM keyreg WHERE rel = '$rel_a'")" = 0 ] || fail "key row left in maf.db"
[ "$(db "SELECT count(*) FROM keyreg_target WHERE rel = '$rel_a'")" = 0 ] || fail "key targets left"
[ "$(db "SELECT count(*) FROM maf_reg WHERE reg_id = '$reg_a'")" = 0 ] || fail "registration row left"
[ "$(db "SELECT count(*) FROM maf_client WHERE kmid_rel = '${kmid_a%@*}'")" = 1 ] || fail "the client went too"
[ "$(sqlite_count "$T/s-dev-a/state.db" "SELECT count(*) FROM dev_kc")" = 0 ] || fail "device kept Kc"
[ "$(sqlite_count "$T/s-dev-a/state.db" "SELECT count(*) FROM dev_maf WHERE reg_id IS NULL")" = 1 ] \
    || fail "device kept the registration"
grep -q "event=maf_client_deregistered reg_id=$reg_a client_id=/cse-a keys_erased=1" "$MAF/mafd.log" \
    || fail "no de-registration log"
maf da2 "$T/s-dev-a" deregister --reg-id "$reg_a" && fail "second de-registration accepted"
refused da2 4004
ok "De-Registration (DELETE /maf/<regID>) -> 2002: its key is 4004 for the target, rows gone from maf.db and the device; again -> 4004"
maf ra2 "$T/s-dev-a" register --admin-fqdn admin.test.example || fail "register again: $(cat "$T/ra2.err")"
reg_a2=$(json_get "$T/ra2.json" 'j["reg_id"]')
[ "$(json_get "$T/ra2.json" 'j["kmid"]')" = "$kmid_a" ] || fail "KmID changed: $(cat "$T/ra2.json")"
maf ka2 "$T/s-dev-a" keyreg --target /cse-b --suid 32 || fail "keyreg after re-registration: $(cat "$T/ka2.err")"
[ "$(db "SELECT count(*) FROM keyreg WHERE reg_id = '$reg_a2'")" = 1 ] || fail "key not under the new registration"
ok "after de-registration the same KmID registers again (stored as the device's registration) and registers keys"

# --- 4. re-enrolment: the update on the new KeID session keeps the regID and re-keys
n0=$(fetches)
keid_a2=$(enrol dev-a)
[ "$keid_a2" != "$keid_a" ] || fail "re-enrolment gave the same KeID"
maf ua2 "$T/s-dev-a" update || fail "update after re-enrolment: $(cat "$T/ua2.err")"
kmid_a2=$(json_get "$T/ua2.json" 'j["kmid"]')
[ "$(json_get "$T/ua2.json" 'j["reg_id"]')" = "$reg_a2" ] || fail "regID changed: $(cat "$T/ua2.json")"
[ "$(json_get "$T/ua2.json" 'j["km_assigned"]')" = true ] && [ "$kmid_a2" != "$kmid_a" ] \
    || fail "no new KmID: $(cat "$T/ua2.json")"
[ "$(fetches)" = $((n0 + 1)) ] || fail "expected one fetch for the new KeID, got $(( $(fetches) - n0 ))"
grep -q "event=maf_client_rekeyed kmid=$kmid_a2 keid=$keid_a2 client_id=/cse-a reg_id=$reg_a2" "$MAF/mafd.log" \
    || fail "no re-keying log"
"$MAFD" client list -d "$MAF" --json >"$T/cl.json"
[ "$(json_get "$T/cl.json" '[c["keid"] for c in j if c["client_id"]=="/cse-a"]')" = "[\"$keid_a2\"]" ] \
    || fail "client list: $(cat "$T/cl.json")"
[ "$(json_get "$T/cl.json" '[c["registrations"] for c in j if c["client_id"]=="/cse-a"][0]')" = 1 ] \
    || fail "registration not kept: $(cat "$T/cl.json")"
maf_kcv=$(json_get "$T/cl.json" '[c["kcv"] for c in j if c["client_id"]=="/cse-a"][0]')
dev_kcv=$("$CLI" state --state "$T/s-dev-a" --derive 21:maf.test.example --json | json_get - 'j["derived"]["kcv"]')
[ "$maf_kcv" = "$dev_kcv" ] || fail "mafd's new Km ($maf_kcv) is not the device's ($dev_kcv)"
[ "$(db "SELECT count(*) FROM keyreg WHERE reg_id = '$reg_a2' AND owner = '${kmid_a2%@*}'")" = 1 ] \
    || fail "the key registration did not move to the new Km"
raw old "$kmid_a" "$kmhex_a" /cse-a GET "/maf/$reg_a2"
grep -aq "X-M2M-RSC" "$T/old.out" && fail "the previous KmID still authenticates: $(head -c 1500 "$T/old.out")"
maf ca3 "$T/s-dev-a" config || fail "config with the new KmID: $(cat "$T/ca3.err")"
maf ka3 "$T/s-dev-a" keyreg --target /cse-b --suid 32 || fail "keyreg with the new KmID: $(cat "$T/ka3.err")"
[ "$(fetches)" = $((n0 + 1)) ] || fail "the new KmID sessions fetched again"
ok "re-enrolment + update: same regID, new KmID, mafd's Km = the device's (kcv), one fetch; old KmID refused; new KmID works"

# --- 5. "KmID := KeID" (seed 001): a KeID whose Km mafd holds is not fetched again
keid_b=$(json_get "$T/e-dev-b.json" 'j["keid"]')
kmid_b=$(json_get "$T/rb.json" 'j["kmid"]')
kmhex_b=$(fetch_km "$keid_b")
n1=$(fetches)
raw kb "$keid_b" "$kmhex_b" /cse-b POST /maf '{"mafFQDN":"maf.test.example","et":"20990101T000000","adminFQDN":"b2.test.example"}'
[ "$(rsc_of kb)" = 2001 ] || fail "KeID session with a held Km: $(head -c 1500 "$T/kb.out")"
grep -aq "\"assignedSymmKeyID\":\"$kmid_b\"" "$T/kb.out" || fail "the KeID session did not learn its KmID: $(head -c 1500 "$T/kb.out")"
[ "$(fetches)" = "$n1" ] || fail "mafd fetched a Km it holds"
grep -q "event=maf_km_held keid=$keid_b kmid=$kmid_b" "$MAF/mafd.log" || fail "no maf_km_held log"
ok "KeID session while mafd holds its Km: no fetch (mefd log), 2001 with assignedSymmKeyID = the KmID"

# --- 6. pre-provisioned clients (SUID 11), added and removed while mafd serves
PREL=0badc0de0badc0de0badc0de0badc0de
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/p.km"
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/w.km"
"$MAFD" client add -d "$MAF" --kmid "$PREL" --km-file "$T/p.km" --client-id /cse-p --target /cse-b \
    >"$T/padd.out" 2>&1 || fail "client add: $(cat "$T/padd.out")"
maf rp "$T/s-p" register --admin-fqdn admin.test.example --kmid "$PREL@maf.test.example" --km-file "$T/p.km" \
    || fail "pre-provisioned register: $(cat "$T/rp.err")"
[ "$(json_get "$T/rp.json" 'j["km_assigned"]')" = false ] && [ "$(json_get "$T/rp.json" 'j["client_id"]')" = /cse-p ] \
    && [ "$(json_get "$T/rp.json" 'j["kmid"]')" = "$PREL@maf.test.example" ] || fail "register: $(cat "$T/rp.json")"
[ "$(sqlite_count "$T/s-p/state.db" "SELECT suid FROM dev_maf")" = 11 ] || fail "device did not store SUID 11"
if grep -q "$(cat "$T/p.km")" "$T/s-p/state.db"; then fail "Km stored in clear"; fi
ok "pre-provisioned KmID/Km: the device (not enrolled) stores them sealed and registers -> 2001, no assignedSymmKeyID"
maf kp "$T/s-p" keyreg --target /cse-b --suid 32 || fail "allowed target: $(cat "$T/kp.err")"
maf kp2 "$T/s-p" keyreg --target /cse-a --suid 32 && fail "a target outside the client's list accepted"
refused kp2 4103
grep -q "not allowed for this client" "$T/kp2.err" || fail "4103 without the reason: $(cat "$T/kp2.err")"
maf up "$T/s-p" update --lifetime 300 || fail "update of a pre-provisioned client: $(cat "$T/up.err")"
ok "pre-provisioned client: Key Registration for its listed target -> 2001, another target -> 4103; update -> 2004"
maf rw "$T/s-w" register --admin-fqdn admin.test.example --kmid "$PREL@maf.test.example" --km-file "$T/w.km" \
    && fail "a wrong Km was accepted"
grep -qi "handshake refused" "$T/rw.err" || fail "wrong Km: $(cat "$T/rw.err")"
[ "$(db "SELECT count(*) FROM keyreg WHERE owner = '$PREL'")" = 1 ] || fail "the client's key is not stored"
"$MAFD" client remove -d "$MAF" --kmid "$PREL" >/dev/null || fail "client remove"
[ "$(db "SELECT count(*) FROM maf_reg WHERE kmid_rel = '$PREL'")" = 0 ] || fail "registrations left after remove"
[ "$(db "SELECT count(*) FROM keyreg WHERE owner = '$PREL'")" = 0 ] || fail "keys left after remove"
maf rp2 "$T/s-p" register --admin-fqdn other.test.example && fail "a removed client registered"
grep -qi "handshake refused" "$T/rp2.err" || fail "removed client: $(cat "$T/rp2.err")"
ok "wrong Km -> handshake refused; removed client (registrations and keys erased) -> handshake refused"

for k in "$kmhex_a" "$kmhex_b" "$(cat "$T/p.km")"; do
    if grep -q "$k" "$MAF/mafd.log" "$MEF/mefd.log"; then fail "a key was logged"; fi
done
mafd_stop
mefd_stop
done_tests
