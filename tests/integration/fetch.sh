#!/usr/bin/env bash
# mefd as key source for Enrolment Targets (TS-0003 8.3.2.1, "Use of Remotely
# Provisioned Credential"): GET /fetchCredentials/<KeID>/<SUID> over mutual TLS
# with FQDN certificates, driven by `openssl s_client` as the target (an
# independent TLS stack). Checks the key against the device's own derivation
# (key check values) and against an independent python computation of TS-0003
# 10.3.7 from a Ke exported by openssl; then every refusal.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MEF="$T/mef"
mefd_init "$MEF" mef.test.example --dev-pki --target-listen 127.0.0.1:0
"$MEFD" pki issue -d "$MEF" --fqdn maf.test.example --cert "$T/maf.pem" --key "$T/maf.key" >/dev/null
"$MEFD" pki issue -d "$MEF" --fqdn cse-b.test.example --cert "$T/cseb.pem" --key "$T/cseb.key" >/dev/null
"$MEFD" pki issue -d "$MEF" --fqdn rogue.test.example --cert "$T/rogue.pem" --key "$T/rogue.key" >/dev/null
"$MEFD" target add -d "$MEF" --id maf.test.example --cert-fqdn maf.test.example --suid 21 >/dev/null
"$MEFD" target add -d "$MEF" --id /cse-b --cert-fqdn cse-b.test.example --suid 22 --legacy >/dev/null
"$MEFD" target list -d "$MEF" --json >"$T/targets.json"
[ "$(json_get "$T/targets.json" 'len(j)')" = 2 ] || fail "target list: $(cat "$T/targets.json")"
ok "targets configured (MAF with 10.3.7, Enrolee B with legacy 10.3.3)"
add_enrolee "$MEF" dev-1 /cse-dev1 3600 --target maf.test.example --target /cse-b
add_enrolee "$MEF" dev-2 /cse-dev2 3600
add_enrolee "$MEF" dev-3 /cse-dev3 3600 --target maf.test.example
add_enrolee "$MEF" dev-short /cse-short 2 --target maf.test.example
mefd_start "$MEF"
[ -n "$TGT_ADDR" ] || fail "no Enrolment Target service address in the log"
ok "target service listening on $TGT_ADDR"

enrol() {
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$1" --kpm-file "$T/$1.kpm" \
        --state "$T/s-$1" --json --quiet >"$T/e-$1.json" || fail "enrol $1"
    json_get "$T/e-$1.json" 'j["keid"]'
}
# fetch NAME CERT KEY ORIGIN PATH: a request from a target over mutual TLS
fetch() {
    local name=$1 cert=$2 key=$3 origin=$4 path=$5
    printf 'GET %s HTTP/1.1\r\nHost: mef.test.example\r\nX-M2M-Origin: %s\r\nX-M2M-RI: %s\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n' \
        "$path" "$origin" "$name" |
        timeout 20 openssl s_client -connect "$TGT_ADDR" -tls1_2 -cert "$cert" -key "$key" \
            -CAfile "$MEF/pki/ca.pem" -servername mef.test.example -verify_return_error \
            -ign_eof >"$T/$name.out" 2>&1 || true
}
rsc_of() { grep -ao 'X-M2M-RSC: [0-9]*' "$T/$1.out" | head -n 1 | sed 's/.*: //'; }
body_of() { # the JSON body (no trailing newline on the wire)
    python3 -c 'import json,sys; t=open(sys.argv[1],errors="replace",newline="").read(); i=t.index("\r\n\r\n{")+4; print(json.dumps(json.JSONDecoder().raw_decode(t[i:])[0]))' "$T/$1.out"
}
expect() { # expect NAME RSC
    local got
    got=$(rsc_of "$1")
    [ "$got" = "$2" ] || fail "$1: expected $2, got '$got': $(head -c 1500 "$T/$1.out")"
    if [ "$2" != 2000 ]; then
        [ "$(body_of "$1" | json_get - 'j["Status"]')" = false ] || fail "$1: no Status=false body"
        [ -n "$(body_of "$1" | json_get - 'j["ErrorString"]')" ] || fail "$1: no ErrorString"
    fi
}
kcv_py() { # key check value of base64 key material
    python3 -c 'import base64,hmac,hashlib,sys; k=base64.b64decode(sys.argv[1]); print(hmac.new(k, b"m2msec key check value", hashlib.sha256).hexdigest()[:16])' "$1"
}

# --- 1. a MAF fetches Km (SUID 21, TS-0003 10.3.7)
keid1=$(enrol dev-1)
fetch maf1 "$T/maf.pem" "$T/maf.key" maf.test.example "/fetchCredentials/$keid1/21"
expect maf1 2000
grep -aq "Verify return code: 0" "$T/maf1.out" || fail "openssl did not verify mefd's certificate"
b=$(body_of maf1)
[ "$(echo "$b" | json_get - 'j["Status"]')" = true ] || fail "Status: $b"
[ "$(echo "$b" | json_get - 'j["EnroleeID"]')" = /cse-dev1 ] || fail "EnroleeID: $b"
cred=$(echo "$b" | json_get - 'j["Credential"]')
[ "$(python3 -c 'import base64,sys; print(len(base64.b64decode(sys.argv[1])))' "$cred")" = 32 ] \
    || fail "Credential is not 32 bytes"
lifetime=$(echo "$b" | json_get - 'j["Lifetime"]')
keexp=$(json_get "$T/e-dev-1.json" 'j["expires"]')
[[ "$lifetime" < "$keexp" || "$lifetime" == "$keexp" ]] || fail "Lifetime $lifetime exceeds the Ke expiry $keexp"
ok "MAF fetched a 32-byte Km for $keid1, Lifetime $lifetime <= Ke expiry"
dev_kcv=$("$CLI" state --state "$T/s-dev-1" --derive 21:maf.test.example --json | json_get - 'j["derived"]["kcv"]')
[ "$(kcv_py "$cred")" = "$dev_kcv" ] || fail "Km from mefd differs from the device's 10.3.7 derivation"
ok "the device derives the same Km (kcv $dev_kcv)"
grep -q "event=credential_fetched target=maf.test.example keid=$keid1 suid=21 kcv=$dev_kcv" "$MEF/mefd.log" \
    || fail "credential_fetched not logged"
if grep -q "$cred" "$MEF/mefd.log"; then fail "the credential was logged"; fi
ok "fetch logged with the key check value only"

# --- 2. an Enrolee B fetches Kpsa (SUID 22, legacy TS-0003 10.3.3)
fetch cseb "$T/cseb.pem" "$T/cseb.key" /cse-b "/fetchCredentials/$keid1/22"
expect cseb 2000
cred_b=$(body_of cseb | json_get - 'j["Credential"]')
dev_kcv_b=$("$CLI" state --state "$T/s-dev-1" --derive 22:/cse-b --legacy --json | json_get - 'j["derived"]["kcv"]')
[ "$(kcv_py "$cred_b")" = "$dev_kcv_b" ] || fail "Kpsa from mefd differs from the device's 10.3.3 derivation"
ok "Enrolee B fetched Kpsa; the device derives the same (legacy 10.3.3)"

# --- 3. independent computation: Ke exported by OpenSSL, 10.3.7 computed by python
http_req POST /mef/enrolment 10-dev-3 '{"certEnrolmentInd":false,"mafEnrolmentInd":true,"remoteMgmtInd":true}' >"$T/req3.http"
timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_2 -psk_identity dev-3 -psk "$(cat "$T/dev-3.kpm")" \
    -ign_eof -keymatexport EXPORTER-oneM2M-Bootstrap -keymatexportlen 48 <"$T/req3.http" >"$T/ossl3.out" 2>&1 || true
mat=$(grep "Keying material:" "$T/ossl3.out" | sed 's/.*Keying material: *//' | tr -d ' \r')
[ "${#mat}" = 96 ] || fail "no exporter output from openssl"
keid3="$(echo "${mat:0:32}" | tr 'A-F' 'a-f')@mef.test.example"
fetch maf3 "$T/maf.pem" "$T/maf.key" maf.test.example "/fetchCredentials/$keid3/21"
expect maf3 2000
cred3=$(body_of maf3 | json_get - 'j["Credential"]')
want=$(python3 - "$mat" <<'PY'
import base64, hashlib, hmac, sys
ke = bytes.fromhex(sys.argv[1])[16:]
label = b"oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation"
print(base64.b64encode(hmac.new(ke, label + b"21" + b"maf.test.example", hashlib.sha256).digest()).decode())
PY
)
[ "$cred3" = "$want" ] || fail "Km differs from python's 10.3.7 over the OpenSSL-exported Ke"
ok "Km equals python's TS-0003 10.3.7 over the Ke OpenSSL exported"

# --- 4. refusals
fetch rogue "$T/rogue.pem" "$T/rogue.key" rogue.test.example "/fetchCredentials/$keid1/21"
expect rogue 4103
ok "a certificate with a valid chain but no target configuration gets 4103"
fetch origin "$T/maf.pem" "$T/maf.key" /cse-b "/fetchCredentials/$keid1/21"
expect origin 4106
ok "X-M2M-Origin other than the authenticated target -> 4106"
fetch unknown "$T/maf.pem" "$T/maf.key" maf.test.example "/fetchCredentials/00112233445566778899aabbccddeeff@mef.test.example/21"
expect unknown 4004
fetch otherfqdn "$T/maf.pem" "$T/maf.key" maf.test.example "/fetchCredentials/${keid1%@*}@other.example.com/21"
expect otherfqdn 4004
ok "unknown KeID, or a KeID of another MEF -> 4004"
keid2=$(enrol dev-2)
fetch notauth "$T/maf.pem" "$T/maf.key" maf.test.example "/fetchCredentials/$keid2/21"
expect notauth 4103
fetch wrongsuid "$T/maf.pem" "$T/maf.key" maf.test.example "/fetchCredentials/$keid1/22"
expect wrongsuid 4103
ok "a target not configured for the Enrolee, or a SUID it may not use -> 4103"
fetch badsuid "$T/maf.pem" "$T/maf.key" maf.test.example "/fetchCredentials/$keid1/2x"
expect badsuid 4000
fetch badkeid "$T/maf.pem" "$T/maf.key" maf.test.example "/fetchCredentials/not-a-keid/21"
expect badkeid 4000
ok "malformed SUID or KeID -> 4000"
keids=$(enrol dev-short)
sleep 3
fetch expired "$T/maf.pem" "$T/maf.key" maf.test.example "/fetchCredentials/$keids/21"
expect expired 4004
[ "$(body_of expired | json_get - 'j["ErrorString"]')" = "$(body_of unknown | json_get - 'j["ErrorString"]')" ] \
    || fail "an expired KeID is distinguishable from an unknown one"
ok "expired Ke -> 4004, indistinguishable from an unknown KeID"

# Handshake-level refusals: no client certificate, a certificate from another CA.
out=$(printf '' | timeout 20 openssl s_client -connect "$TGT_ADDR" -tls1_2 -CAfile "$MEF/pki/ca.pem" -ign_eof 2>&1 || true)
echo "$out" | grep -aq "X-M2M-RSC" && fail "served without a client certificate"
echo "$out" | grep -aqi "alert\|error" || fail "no handshake failure without a client certificate: $out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=maf.test.example \
    -addext "subjectAltName=DNS:maf.test.example" -keyout "$T/other.key" -out "$T/other.pem" 2>/dev/null
fetch foreign "$T/other.pem" "$T/other.key" maf.test.example "/fetchCredentials/$keid1/21"
grep -aq "X-M2M-RSC" "$T/foreign.out" && fail "a certificate from another CA was served"
ok "no client certificate, or one from another CA: refused at the handshake"
grep -q "event=fetch_refused" "$MEF/mefd.log" || fail "refusals not logged"

# Removing the target revokes its access at once, even on an open keep-alive connection:
# two requests on one TLS session, with `mefd target remove` in between.
req() { printf 'GET /fetchCredentials/%s/21 HTTP/1.1\r\nHost: mef.test.example\r\nX-M2M-Origin: maf.test.example\r\nX-M2M-RI: %s\r\nConnection: %s\r\n\r\n' "$keid1" "$1" "$2"; }
{ req ka-1 keep-alive; sleep 1; "$MEFD" target remove -d "$MEF" --id maf.test.example >/dev/null
  req ka-2 close; } |
    timeout 20 openssl s_client -connect "$TGT_ADDR" -tls1_2 -cert "$T/maf.pem" -key "$T/maf.key" \
        -CAfile "$MEF/pki/ca.pem" -servername mef.test.example -ign_eof >"$T/keepalive.out" 2>&1 || true
[ "$(grep -ao 'X-M2M-RSC: [0-9]*' "$T/keepalive.out" | sed 's/.*: //' | tr '\n' ' ')" = "2000 4103 " ] \
    || fail "keep-alive revocation: $(grep -a 'X-M2M-RSC' "$T/keepalive.out")"
ok "a target removed while its connection is open is refused at its next request (4103)"
fetch removed "$T/maf.pem" "$T/maf.key" maf.test.example "/fetchCredentials/$keid1/21"
expect removed 4103
ok "a removed target is refused (4103) on a new connection"
mefd_stop
done_tests
