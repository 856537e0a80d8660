#!/usr/bin/env bash
# Interop: independent TLS stacks as the Enrolee against mefd.
# `openssl s_client` (OpenSSL) and `gnutls-cli` (a separate program) run the PPSK
# handshake, export 48 bytes with EXPORTER-oneM2M-Bootstrap, and send the first
# Enrolment Exchange request. The KeID in mefd's response must equal
# hex(first 16 exported bytes)@FQDN, and the Ke mefd stored (compared by key check
# value, computed here in python from the last 32 bytes) must be the exported one.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MEF="$T/mef"
mefd_init "$MEF" mef.test.example
add_enrolee "$MEF" ossl-dev /cse-ossl 3600
add_enrolee "$MEF" gtls-dev /cse-gtls 3600
mefd_start "$MEF"
BODY='{"certEnrolmentInd":false,"mafEnrolmentInd":true,"remoteMgmtInd":true}'

check() { # check NAME EXPORTED_HEX RESPONSE_FILE KPMID
    local name=$1 mat=$2 resp=$3 id=$4 body keid want kcv_want kcv_mef
    [ "${#mat}" = 96 ] || fail "$name: no 48-byte keying material exported: '$mat'"
    grep -aq "X-M2M-RSC: 2001" "$resp" || fail "$name: no 2001 response: $(cat "$resp")"
    # The body has no trailing newline: decode the first JSON object after the headers.
    keid=$(python3 -c 'import json,sys; t=open(sys.argv[1],errors="replace",newline="").read(); i=t.index("\r\n\r\n{")+4; print(json.JSONDecoder().raw_decode(t[i:])[0]["keID"])' "$resp")
    want="$(echo "${mat:0:32}" | tr 'A-F' 'a-f')@mef.test.example"
    [ "$keid" = "$want" ] || fail "$name: mefd KeID $keid, expected $want from the exporter"
    ok "$name: KeID from mefd equals hex(first 16 exported bytes)@FQDN"
    kcv_want=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(bytes.fromhex(sys.argv[1][32:]), b"m2msec key check value", hashlib.sha256).hexdigest()[:16])' "$mat")
    kcv_mef=$("$MEFD" enrolee show -d "$MEF" --kpm-id "$id" --json | json_get - 'j["ke"]["kcv"]')
    [ "$kcv_mef" = "$kcv_want" ] || fail "$name: mefd stored a different Ke ($kcv_mef vs $kcv_want)"
    ok "$name: the Ke mefd stored is the last 32 exported bytes"
}

# --- OpenSSL
http_req POST /mef/enrolment 10-ossl-dev "$BODY" >"$T/req.http"
timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_2 -psk_identity ossl-dev \
    -psk "$(cat "$T/ossl-dev.kpm")" -servername mef.test.example -ign_eof \
    -keymatexport EXPORTER-oneM2M-Bootstrap -keymatexportlen 48 <"$T/req.http" >"$T/ossl.out" 2>&1 || true
grep -q "Protocol *: TLSv1.2" "$T/ossl.out" || fail "openssl: not TLS 1.2: $(head -c 2000 "$T/ossl.out")"
mat=$(grep -A3 "Keying material exporter" "$T/ossl.out" | grep "Keying material:" | sed 's/.*Keying material: *//' | tr -d ' \r')
check openssl "$mat" "$T/ossl.out" ossl-dev
cipher=$(grep -o "Cipher is [A-Z0-9-]*" "$T/ossl.out" | head -n 1)
ok "openssl negotiated: $cipher"

# Each mandatory / offered suite interoperates.
for suite in PSK-AES128-CBC-SHA256 PSK-AES128-GCM-SHA256 PSK-AES128-CCM8; do
    out=$(timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_2 -cipher "$suite" \
        -psk_identity ossl-dev -psk "$(cat "$T/ossl-dev.kpm")" -ign_eof <"$T/req.http" 2>&1 || true)
    echo "$out" | grep -q "Cipher is $suite" || fail "suite $suite not negotiated: $(echo "$out" | head -c 1500)"
    echo "$out" | grep -aq "X-M2M-RSC: 2001" || fail "suite $suite: no 2001"
    ok "openssl with $suite"
done

# --- GnuTLS command-line client (separate program)
if command -v gnutls-cli >/dev/null 2>&1; then
    http_req POST /mef/enrolment 10-gtls-dev "$BODY" >"$T/req2.http"
    timeout 20 gnutls-cli --port "$MEF_PORT" 127.0.0.1 --pskusername gtls-dev \
        --pskkey "$(cat "$T/gtls-dev.kpm")" --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2:+PSK' \
        --sni-hostname mef.test.example \
        --keymatexport EXPORTER-oneM2M-Bootstrap --keymatexportsize 48 <"$T/req2.http" >"$T/gtls.out" 2>&1 || true
    mat=$(grep -i "Key material" "$T/gtls.out" | head -n 1 | sed 's/.*: *//' | tr -d ' \r')
    check gnutls-cli "$mat" "$T/gtls.out" gtls-dev
else
    echo "# gnutls-cli not installed: skipped"
fi
mefd_stop
done_tests
