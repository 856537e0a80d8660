#!/usr/bin/env bash
# PKI-based bootstrap (seed 002) end to end with real mefd and mafd: node classes configure which
# certificate identities get a root credential (mefd bootclass add). A manufacturer device
# certificate and an enterprise Node-ID certificate each bootstrap (m2msec bootstrap): the root
# credential arrives AES-256 key-wrapped (RFC 3394) under RootCredentialWrapKey (RFC 5705,
# EXPORTER-oneM2M-RootCredentialWrap, 32 bytes), is unwrapped, stored sealed, and then works for
# its target: `maf register` succeeds with it as Km (mafd fetches it from mefd through
# fetchCredentials, SUID 21) and mefd hands mafd the same key (key check values).
# Independent stack: openssl s_client -cert -keymatexport bootstraps; python's `cryptography`
# and `openssl enc -id-aes256-wrap -d` unwrap the blob with the exported key, not with another
# key, and not after a one-bit flip.
# Refused, nothing stored: an unknown identity with a valid chain (no class), class A's identity
# under class B's root, an expired and a revoked certificate, a PSK session asking for the
# bootstrap, a second bootstrap in one session, a target the purpose does not name.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

PKI="$BIN/m2msec-pki"
MEF="$T/mef"
MAF="$T/maf"
HW=0.2.481.1.7.8 # manufacturer 7, model 8
NODE=1.3.6.1.4.1.59999.9

# --- PKI: a manufacturer root (device certificates), an enterprise root (Node-IDs)
"$PKI" ca --out "$T/mfr" --name "Manufacturer root" >/dev/null
"$PKI" ca --out "$T/ent" --name "Enterprise root" >/dev/null
issue() { "$PKI" issue --ca "$T/$1" --profile "$2" --id "$3" --out "$T/$4" "${@:5}" >/dev/null || fail "issue $4"; }
issue mfr device "$HW.1" dev-a
issue mfr device "$HW.2" dev-o  # for openssl s_client
issue mfr device "$HW.3" dev-r  # revoked
issue mfr device "$HW.4" dev-x --expired
issue mfr device "0.2.481.1.9.9.1" dev-unknown # valid chain, no class covers it
issue ent device "$HW.5" dev-cross # the device class's identity under the enterprise root
issue ent node-id "$NODE" node
issue mfr device "0.2.481.1.7.9.1" dev-c # model 9: its root credential is a Kpsa for /cse-b
"$PKI" crl --ca "$T/mfr" --revoke "$T/dev-r.pem" --out "$T/mfr.crl" >/dev/null || fail "crl"

mefd_init "$MEF" mef.test.example --dev-pki --target-listen 127.0.0.1:0
roots() { sqlite_count "$MEF/mef.db" "SELECT count(*) FROM rootcred ${1:-}"; }

# --- node classes, and their administrative neighbours
"$MEFD" bootclass add -d "$MEF" --name mfr-devices --cert-flavour device --id-prefix "$HW." \
    --cert-ca "$T/mfr/ca.pem" --crl "$T/mfr.crl" --purpose maf:maf.test.example --lifetime 3600 \
    >"$T/bc.out" || fail "bootclass add: $(cat "$T/bc.out")"
"$MEFD" bootclass add -d "$MEF" --name ent-nodes --cert-flavour node-id --cert-id "urn:oid:$NODE" \
    --cert-ca "$T/ent/ca.pem" --purpose maf:maf.test.example --lifetime 600 >"$T/bc.out" \
    || fail "bootclass add node-id: $(cat "$T/bc.out")"
grep -q "cert-id=$NODE " "$T/bc.out" || fail "Node-ID not canonical: $(cat "$T/bc.out")"
# A Node-ID prefix is kept in the canonical (bare OID) form it is matched against.
"$MEFD" bootclass add -d "$MEF" --name urn-prefix --cert-flavour node-id --id-prefix "urn:oid:1.3.6.1.4.1.55555." \
    --cert-ca "$T/ent/ca.pem" --purpose maf:maf.test.example --lifetime 60 >"$T/bc.out" \
    || fail "bootclass add urn:oid prefix: $(cat "$T/bc.out")"
grep -q "id-prefix=1.3.6.1.4.1.55555. " "$T/bc.out" || fail "urn:oid: prefix not canonical: $(cat "$T/bc.out")"
"$MEFD" bootclass remove -d "$MEF" --name urn-prefix >/dev/null || fail "bootclass remove"
"$MEFD" bootclass add -d "$MEF" --name mfr-model9 --cert-flavour device --id-prefix 0.2.481.1.7.9. \
    --cert-ca "$T/mfr/ca.pem" --purpose cse:/cse-b --lifetime 3600 >/dev/null || fail "bootclass add cse"
bad_class() { # bad_class WHY ARGS...: must fail and add nothing
    local why=$1 n0
    shift
    n0=$(sqlite_count "$MEF/mef.db" "SELECT count(*) FROM bootclass")
    "$MEFD" bootclass add -d "$MEF" --name bad "$@" >/dev/null 2>"$T/bad.err" && fail "bootclass add accepted $why"
    [ "$(sqlite_count "$MEF/mef.db" "SELECT count(*) FROM bootclass")" = "$n0" ] || fail "$why: a row was added"
}
STD=(--cert-ca "$T/mfr/ca.pem" --lifetime 60)
bad_class "flavour cse-id" --cert-flavour cse-id --id-prefix x "${STD[@]}" --purpose maf:maf.test.example
bad_class "no identity" --cert-flavour device "${STD[@]}" --purpose maf:maf.test.example
bad_class "prefix and id" --cert-flavour device --id-prefix "$HW." --cert-id "$HW.1" "${STD[@]}" --purpose maf:maf.test.example
bad_class "a malformed device id" --cert-flavour device --cert-id 1.2.3 "${STD[@]}" --purpose maf:maf.test.example
bad_class "a purpose without kind" --cert-flavour device --id-prefix "$HW." "${STD[@]}" --purpose maf.test.example
bad_class "a maf purpose that is no FQDN" --cert-flavour device --id-prefix "$HW." "${STD[@]}" --purpose maf:/cse-x
bad_class "a cse purpose that is no CSE-ID" --cert-flavour device --id-prefix "$HW." "${STD[@]}" --purpose cse:cse-x
bad_class "no anchor" --cert-flavour device --id-prefix "$HW." --lifetime 60 --purpose maf:maf.test.example
bad_class "a CRL as anchor" --cert-flavour device --id-prefix "$HW." --cert-ca "$T/mfr.crl" --lifetime 60 --purpose maf:maf.test.example
bad_class "lifetime 0" --cert-flavour device --id-prefix "$HW." --cert-ca "$T/mfr/ca.pem" --lifetime 0 --purpose maf:maf.test.example
"$MEFD" bootclass add -d "$MEF" --name mfr-devices --cert-flavour device --id-prefix "$HW." \
    "${STD[@]}" --purpose maf:maf.test.example >/dev/null 2>&1 && fail "a duplicate class name was accepted"
[ "$("$MEFD" bootclass list -d "$MEF" --json | json_get - 'len(j)')" = 3 ] || fail "bootclass list"
ok "bootclass add: device (prefix) and node-id (exact, canonical); refuses bad flavour, identity, purpose, anchors, lifetime, duplicates"

# A PSK Enrolee on the same MEF (for the PSK-session negative).
add_enrolee "$MEF" p /cse-p 3600
mefd_start "$MEF"
grep -q "event=enrolee_certificates enrolees=0 mode=psk+certificate anchors=2 crls=1 .*bootclasses=3" \
    "$MEF/mefd.log" || fail "no certificate mode: $(grep enrolee_certificates "$MEF/mefd.log")"
maf_setup "$MEF" "$MAF" maf.test.example
mafd_run "$MAF"

# boot NAME CERT [extra]: m2msec bootstrap into $T/s-NAME; $T/b-NAME.{json,err}
boot() {
    "$CLI" bootstrap --mef "$MEF_ADDR" --sni mef.test.example --cert "$T/$2.pem" --key "$T/$2.key" \
        --mef-ca "$MEF/pki/ca.pem" --state "$T/s-$1" --json --quiet --show-wrapped "${@:3}" \
        >"$T/b-$1.json" 2>"$T/b-$1.err"
}
# issued_kcv ID: the key check value mefd logged when it issued root credential ID
issued_kcv() { grep "event=root_credential_issued .*id=$1 " "$MEF/mefd.log" | sed 's/.*kcv=\([0-9a-f]*\).*/\1/'; }
# unwrap_ossl KEYHEX BLOB-B64: the RFC 3394 unwrap of `openssl enc -id-aes256-wrap` (hex), or exit 1
unwrap_ossl() {
    printf '%s' "$2" | base64 -d |
        openssl enc -d -id-aes256-wrap -K "$1" -iv A6A6A6A6A6A6A6A6 2>/dev/null |
        python3 -c 'import sys; d=sys.stdin.buffer.read(); print(d.hex()) if d else sys.exit(1)'
}
# unwrap_py KEYHEX BLOB-B64: the RFC 3394 unwrap of python's cryptography (hex), or exit 1. Where
# that module is missing, openssl alone serves as the independent implementation (said once).
if python3 -c 'import cryptography.hazmat.primitives.keywrap' 2>/dev/null; then
    unwrap_py() {
        python3 -c 'import base64,sys
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, InvalidUnwrap
try:
    print(aes_key_unwrap(bytes.fromhex(sys.argv[1]), base64.b64decode(sys.argv[2])).hex())
except InvalidUnwrap:
    sys.exit(1)' "$1" "$2"
    }
else
    echo "note: python3 has no cryptography module: openssl enc is the only independent unwrap"
    unwrap_py() { unwrap_ossl "$1" "$2"; }
fi
kcv_of() { python3 -c 'import hmac,hashlib,sys; print(hmac.new(bytes.fromhex(sys.argv[1]), b"m2msec key check value", hashlib.sha256).hexdigest()[:16])' "$1"; }

# --- 1. manufacturer device certificate -> root credential -> maf register
boot dev-a dev-a || fail "bootstrap dev-a: $(cat "$T/b-dev-a.err")"
rid=$(json_get "$T/b-dev-a.json" 'j["id"]')
[[ "$rid" =~ ^[0-9a-f]{32}@mef\.test\.example$ ]] || fail "root credential id '$rid'"
[ "$(json_get "$T/b-dev-a.json" 'j["purpose"]')" = maf:maf.test.example ] || fail "purpose: $(cat "$T/b-dev-a.json")"
[ "$(json_get "$T/b-dev-a.json" 'j["node_id"]')" = "31-$HW.1" ] || fail "node: $(cat "$T/b-dev-a.json")"
eid=$(json_get "$T/b-dev-a.json" 'j["enrolee_id"]')
[[ "$eid" =~ ^C[0-9a-f]{32}$ ]] || fail "EnroleeID '$eid'"
kcv_a=$(json_get "$T/b-dev-a.json" 'j["kcv"]')
[ -n "$kcv_a" ] && [ "$(issued_kcv "$rid")" = "$kcv_a" ] || fail "kcv: node '$kcv_a', mefd '$(issued_kcv "$rid")'"
[ "$(roots "WHERE node = '31-$HW.1'")" = 1 ] || fail "mefd stored no root credential"
grep -q "event=root_credential_issued node=31-$HW.1 class=mfr-devices id=$rid purpose=maf:maf.test.example" \
    "$MEF/mefd.log" || fail "issue not logged"
# The blob the node received opens under no other key (the exported one is the node's secret).
wrapped_a=$(json_get "$T/b-dev-a.json" 'j["wrapped"]')
[ "$(printf '%s' "$wrapped_a" | base64 -d | wc -c)" = 40 ] || fail "wrapped blob is not 40 bytes"
unwrap_py "$(python3 -c 'import os; print(os.urandom(32).hex())')" "$wrapped_a" >/dev/null \
    && fail "the blob unwrapped under a random key"
ok "device certificate $HW.1 bootstrapped: $rid (purpose maf:maf.test.example, EnroleeID $eid), same kcv at node and mefd"
# `m2msec state` shows the root credential of a node that never enrolled
"$CLI" state --state "$T/s-dev-a" --json >"$T/st-a.json" || fail "state: $(cat "$T/st-a.json")"
[ "$(json_get "$T/st-a.json" 'j["keid"]')" = "" ] || fail "state: a keid without enrolment"
[ "$(json_get "$T/st-a.json" 'len(j["root_credentials"])')" = 1 ] || fail "state roots: $(cat "$T/st-a.json")"
[ "$(json_get "$T/st-a.json" 'j["root_credentials"][0]["purpose"]')" = maf:maf.test.example ] &&
    [ "$(json_get "$T/st-a.json" 'j["root_credentials"][0]["id"]')" = "$rid" ] &&
    [ "$(json_get "$T/st-a.json" 'j["root_credentials"][0]["kcv"]')" = "$kcv_a" ] ||
    fail "state root: $(cat "$T/st-a.json")"
"$CLI" state --state "$T/s-dev-a" | grep -q "^root purpose=maf:maf.test.example id=$rid expires=.* kcv=$kcv_a$" ||
    fail "state text: $("$CLI" state --state "$T/s-dev-a")"
ok "m2msec state lists the root credential (purpose, id, kcv as mefd issued it), JSON and text"

"$CLI" maf register --maf "$MAF_ADDR" --sni maf.test.example --admin-fqdn admin.test.example \
    --state "$T/s-dev-a" --json --quiet >"$T/r-a.json" 2>"$T/r-a.err" || fail "maf register: $(cat "$T/r-a.err")"
[ "$(json_get "$T/r-a.json" 'j["km_assigned"]')" = true ] || fail "register: $(cat "$T/r-a.json")"
grep -q "event=credential_fetched target=maf.test.example keid=$rid suid=21 kcv=$kcv_a .*root_credential=31-$HW.1" \
    "$MEF/mefd.log" || fail "mafd was not handed the root credential: $(grep credential_fetched "$MEF/mefd.log")"
grep -q "event=maf_client_registered .*keid=$rid client_id=$eid" "$MAF/mafd.log" \
    || fail "mafd: $(grep maf_client_registered "$MAF/mafd.log")"
# The next session runs on the KmID the MAF assigned.
"$CLI" maf config --maf "$MAF_ADDR" --sni maf.test.example --state "$T/s-dev-a" --json --quiet \
    >"$T/cfg-a.json" 2>"$T/cfg-a.err" || fail "maf config with the KmID: $(cat "$T/cfg-a.err")"
ok "root credential works as Km: maf register (mefd -> mafd kcv $kcv_a, SUID 21), then the KmID session"

# --- 2. enterprise Node-ID certificate
boot node node || fail "bootstrap node: $(cat "$T/b-node.err")"
[ "$(json_get "$T/b-node.json" 'j["node_id"]')" = "34-$NODE" ] || fail "node id: $(cat "$T/b-node.json")"
rid_n=$(json_get "$T/b-node.json" 'j["id"]')
exp_n=$(json_get "$T/b-node.json" 'j["expires_epoch"]')
now=$(date +%s)
[ $((exp_n - now)) -le 601 ] && [ $((exp_n - now)) -ge 590 ] || fail "class lifetime 600 not applied: $exp_n vs $now"
[ "$(issued_kcv "$rid_n")" = "$(json_get "$T/b-node.json" 'j["kcv"]')" ] || fail "node-id kcv"
"$CLI" maf register --maf "$MAF_ADDR" --sni maf.test.example --admin-fqdn admin.test.example \
    --state "$T/s-node" --json --quiet >"$T/r-n.json" 2>"$T/r-n.err" || fail "maf register node: $(cat "$T/r-n.err")"
ok "Node-ID certificate 34-$NODE bootstrapped ($rid_n, lifetime 600 s) and registered with the MAF"

# --- 2b. purpose cse:/cse-b: the root credential is the Kpsa of a PSK SAEF with Entity B
"$MEFD" pki issue -d "$MEF" --fqdn cse-b.test.example --cert "$T/cseb.pem" --key "$T/cseb.key" >/dev/null
"$MEFD" target add -d "$MEF" --id /cse-b --cert-fqdn cse-b.test.example --suid 22 >/dev/null
"$CLI" cse -d "$T/b" --listen 127.0.0.1:0 --id /cse-b --mef "$TGT_ADDR" --mef-fqdn mef.test.example \
    --cert "$T/cseb.pem" --key "$T/cseb.key" --ca "$MEF/pki/ca.pem" --log "$T/cse.log" --idle-ms 2000 \
    >"$T/cse.out" 2>"$T/cse.err" &
PIDS+=("$!")
wait_for 10 grep -q '^listening ' "$T/cse.out" || fail "m2msec cse did not start: $(cat "$T/cse.err")"
CSE_ADDR=$(sed -n 's/^listening //p' "$T/cse.out")
boot dev-c dev-c || fail "bootstrap dev-c: $(cat "$T/b-dev-c.err")"
rid_c=$(json_get "$T/b-dev-c.json" 'j["id"]')
[ "$(json_get "$T/b-dev-c.json" 'j["purpose"]')" = cse:/cse-b ] || fail "purpose: $(cat "$T/b-dev-c.json")"
"$CLI" connect --to "$CSE_ADDR" --state "$T/s-dev-c" --json --key-id "$rid_c" >"$T/c.json" 2>"$T/c.err" \
    || fail "connect with the root credential: $(cat "$T/c.err")"
[ "$(json_get "$T/c.json" 'j["peer"]')" = "$(json_get "$T/b-dev-c.json" 'j["enrolee_id"]')" ] \
    || fail "B bound the session to: $(cat "$T/c.json")"
[ "$(json_get "$T/c.json" 'j["suid"]')" = 22 ] || fail "suid: $(cat "$T/c.json")"
grep -q "event=credential_fetched target=/cse-b keid=$rid_c suid=22 kcv=$(json_get "$T/b-dev-c.json" 'j["kcv"]')" \
    "$MEF/mefd.log" || fail "mefd did not hand B the root credential"
# The MAF-purpose credential of dev-a is no Kpsa: refused at the device, and B cannot fetch it.
"$CLI" connect --to "$CSE_ADDR" --state "$T/s-dev-a" --json --key-id "$rid" >/dev/null 2>"$T/c2.err" \
    && fail "a maf: root credential was used as Kpsa"
grep -q "is for maf:maf.test.example" "$T/c2.err" || fail "c2: $(cat "$T/c2.err")"
ok "purpose cse:/cse-b: connect --key-id $rid_c, B fetched it (SUID 22) and bound the session; a maf: credential refused"

# --- 3. independent stack: openssl s_client bootstraps, python and openssl enc unwrap
http_req POST /mef/bootstrap "31-$HW.2" '{}' >"$T/req.http"
ossl_boot() { # ossl_boot CERT OUT
    timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_2 -servername mef.test.example \
        -cert "$T/$1.pem" -key "$T/$1.key" -CAfile "$MEF/pki/ca.pem" -verify_return_error \
        -keymatexport EXPORTER-oneM2M-RootCredentialWrap -keymatexportlen 32 -ign_eof \
        <"$T/req.http" >"$T/$2" 2>&1 || true
}
body_of() { python3 -c 'import json,sys; t=open(sys.argv[1],errors="replace",newline="").read(); i=t.index("\r\n\r\n{")+4; print(json.dumps(json.JSONDecoder().raw_decode(t[i:])[0]))' "$1"; }
ossl_boot dev-o ossl.out
grep -aq "X-M2M-RSC: 2001" "$T/ossl.out" || fail "openssl bootstrap: $(head -c 2000 "$T/ossl.out")"
mat=$(grep -A3 "Keying material exporter" "$T/ossl.out" | grep "Keying material:" | sed 's/.*Keying material: *//' | tr -d ' \r')
[ "${#mat}" = 64 ] || fail "openssl exported no 32 bytes: '$mat'"
body_of "$T/ossl.out" >"$T/ossl.json"
blob=$(json_get "$T/ossl.json" 'j["wrappedRootCred"]')
rid_o=$(json_get "$T/ossl.json" 'j["rootCredID"]')
[ "$(json_get "$T/ossl.json" 'j["keyWrapAlg"]')" = aes256-kw-rfc3394 ] || fail "keyWrapAlg"
key_o=$(unwrap_py "$mat" "$blob") || fail "python could not unwrap with the exported key"
[ "${#key_o}" = 64 ] || fail "unwrapped key is not 32 bytes"
[ "$(kcv_of "$key_o")" = "$(issued_kcv "$rid_o")" ] || fail "python's unwrapped key is not the one mefd issued"
enc=$(unwrap_ossl "$mat" "$blob") || fail "openssl enc could not unwrap"
[ "$enc" = "$key_o" ] || fail "openssl enc and python disagree"
# Neighbours: another key (one bit of the exported key flipped), and a one-bit-flipped blob.
badkey=$(python3 -c 'import sys; b=bytearray.fromhex(sys.argv[1]); b[0]^=1; print(b.hex())' "$mat")
unwrap_py "$badkey" "$blob" >/dev/null && fail "unwrapped under another key"
for pos in 0 7 8 39; do
    flipped=$(python3 -c 'import base64,sys; b=bytearray(base64.b64decode(sys.argv[1])); b[int(sys.argv[2])]^=0x10; print(base64.b64encode(bytes(b)).decode())' "$blob" "$pos")
    unwrap_py "$mat" "$flipped" >/dev/null && fail "a blob flipped at byte $pos passed the integrity check"
    unwrap_ossl "$mat" "$flipped" >/dev/null && fail "openssl enc accepted a blob flipped at byte $pos"
done
ok "openssl s_client -keymatexport EXPORTER-oneM2M-RootCredentialWrap: python and openssl enc unwrap with that key only; flipped blobs fail RFC 3394"

# A second bootstrap in the same session is refused (one exporter value per session).
{ http_req POST /mef/bootstrap "31-$HW.2" '{}' | sed 's/Connection: close/Connection: keep-alive/'; http_req POST /mef/bootstrap "31-$HW.2" '{}'; } >"$T/req2.http"
timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_2 -servername mef.test.example \
    -cert "$T/dev-o.pem" -key "$T/dev-o.key" -CAfile "$MEF/pki/ca.pem" -ign_eof <"$T/req2.http" >"$T/ossl2.out" 2>&1 || true
[ "$(grep -ac "X-M2M-RSC: 2001" "$T/ossl2.out")" = 1 ] && grep -aq "X-M2M-RSC: 4105" "$T/ossl2.out" \
    || fail "second bootstrap in a session: $(grep -a X-M2M-RSC "$T/ossl2.out")"
# An originator naming another node, and a body with members: refused.
http_req POST /mef/bootstrap "31-$HW.1" '{}' >"$T/req.http"
ossl_boot dev-o ossl3.out
grep -aq "X-M2M-RSC: 4106" "$T/ossl3.out" || fail "foreign originator: $(grep -a X-M2M-RSC "$T/ossl3.out")"
http_req POST /mef/bootstrap "31-$HW.2" '{"purpose":"cse:/x"}' >"$T/req.http"
ossl_boot dev-o ossl4.out
grep -aq "X-M2M-RSC: 4000" "$T/ossl4.out" || fail "request with members: $(grep -a X-M2M-RSC "$T/ossl4.out")"
ok "second bootstrap in one session 4105; foreign originator 4106; request members 4000"

# --- 4. refused, nothing stored
N0=$(roots)
mark() { LOGN=$(wc -l <"$MEF/mefd.log"); }
logged() { tail -n +"$((LOGN + 1))" "$MEF/mefd.log" | grep -q "$1"; }
refused_boot() { # refused_boot NAME CERT LOG-PATTERN WHY
    mark
    boot "$1" "$2" && fail "$4: bootstrap succeeded"
    [ "$(roots)" = "$N0" ] || fail "$4: a root credential was stored"
    [ ! -f "$T/s-$1/state.db" ] || [ "$(sqlite_count "$T/s-$1/state.db" "SELECT count(*) FROM dev_root")" = 0 ] \
        || fail "$4: the node stored a root credential"
    wait_for 5 logged "$3" || fail "$4: not logged ($3): $(tail -n 5 "$MEF/mefd.log")"
}
refused_boot unknown dev-unknown "event=session_refused .*identities=31-0.2.481.1.9.9.1" "unknown identity, valid chain"
refused_boot cross dev-cross "event=session_refused .*bootclass=mfr-devices" "class A's identity under class B's root"
refused_boot expired dev-x "event=handshake_failed" "expired certificate"
refused_boot revoked dev-r "event=handshake_failed .*revoked" "revoked certificate"
# A PSK session asking for the bootstrap.
http_req POST /mef/bootstrap 10-p '{}' >"$T/reqp.http"
s_client_psk p "$(cat "$T/p.kpm")" <"$T/reqp.http" >"$T/psk.out" || true
grep -aq "X-M2M-RSC: 4103" "$T/psk.out" || fail "PSK bootstrap: $(grep -a X-M2M-RSC "$T/psk.out")"
[ "$(roots)" = "$N0" ] || fail "a PSK session got a root credential"
ok "refused with nothing stored: unknown identity (valid chain), cross-root identity, expired, revoked, PSK session (4103)"

# --- 5. the purpose binds the credential to its target; re-bootstrap replaces
# A MAF that is not the purpose's target asks for dev-a's root credential: refused.
"$MEFD" pki issue -d "$MEF" --fqdn maf2.test.example --cert "$T/maf2.pem" --key "$T/maf2.key" >/dev/null
"$MEFD" target add -d "$MEF" --id maf2.test.example --cert-fqdn maf2.test.example --suid 21 >/dev/null
printf 'GET /fetchCredentials/%s/21 HTTP/1.1\r\nHost: mef.test.example\r\nX-M2M-Origin: maf2.test.example\r\nX-M2M-RI: f1\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n' "$rid" >"$T/f.http"
timeout 20 openssl s_client -connect "$TGT_ADDR" -tls1_2 -servername mef.test.example -cert "$T/maf2.pem" \
    -key "$T/maf2.key" -CAfile "$MEF/pki/ca.pem" -ign_eof <"$T/f.http" >"$T/f.out" 2>&1 || true
grep -aq "X-M2M-RSC: 4103" "$T/f.out" || fail "another MAF fetched the root credential: $(grep -a X-M2M-RSC "$T/f.out")"
boot dev-a2 dev-a || fail "re-bootstrap: $(cat "$T/b-dev-a2.err")"
rid2=$(json_get "$T/b-dev-a2.json" 'j["id"]')
[ "$rid2" != "$rid" ] && [ "$(roots "WHERE node = '31-$HW.1'")" = 1 ] || fail "re-bootstrap did not replace"
printf 'GET /fetchCredentials/%s/21 HTTP/1.1\r\nHost: mef.test.example\r\nX-M2M-Origin: maf.test.example\r\nX-M2M-RI: f2\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n' "$rid" >"$T/f.http"
timeout 20 openssl s_client -connect "$TGT_ADDR" -tls1_2 -servername mef.test.example -cert "$T/maf.test.example.pem" \
    -key "$T/maf.test.example.key" -CAfile "$MEF/pki/ca.pem" -ign_eof <"$T/f.http" >"$T/f2.out" 2>&1 || true
grep -aq "X-M2M-RSC: 4004" "$T/f2.out" || fail "the replaced root credential is still served: $(grep -a X-M2M-RSC "$T/f2.out")"
"$MEFD" bootclass remove -d "$MEF" --name mfr-devices >/dev/null || fail "bootclass remove"
[ "$(roots "WHERE class = 'mfr-devices'")" = 0 ] || fail "removing the class left its credentials"
ok "purpose binds to maf.test.example (maf2 4103); re-bootstrap replaces ($rid no longer served); class removal erases"

done_tests
