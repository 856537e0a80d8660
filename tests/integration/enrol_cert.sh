#!/usr/bin/env bash
# Certificate-based RSPF (TS-0003 8.3.2.2) end to end with real mefd, mafd and
# `m2msec cse`: a device certificate (flavour device) enrols over mutual
# certificate TLS on the same port as PSK Enrolees -> KeID agreed (key check
# values equal on both sides) -> `maf register` with that KeID -> `maf keyreg
# --target /cse-b --suid 32` -> `connect` to Entity B succeeds. A Node-ID
# certificate enrols too. Refused, each with mefd still serving, a log line
# saying why and nothing stored: a valid chain with the wrong name, a valid
# name under an unconfigured root, an expired certificate, a revoked one
# (CRL), no client certificate, a PSK client naming a certificate Enrolee's
# id as KpmID, an unknown identity (another flavour) with a valid chain.
# Independent stack: openssl s_client with a device certificate exports
# EXPORTER-oneM2M-Bootstrap and enrols with its first request; mefd's KeID is
# hex(first 16 exported bytes)@FQDN and its Ke the last 32.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

PKI="$BIN/m2msec-pki"
MAFD="$BIN/mafd"
MEF="$T/mef"
MAF="$T/maf"
B="$T/s-b" # Entity B enrols with a Kpm, as in saef.sh
HW=0.2.481.1.7.8 # manufacturer 7, model 8: serials below
NODE=1.3.6.1.4.1.59999.7

# --- PKI: a manufacturer root (device certificates), an enterprise root (Node-IDs), and a
# root nobody configured. One device certificate per case; dev-r is revoked by the CRL.
"$PKI" ca --out "$T/mfr" --name "Manufacturer root" >/dev/null
"$PKI" ca --out "$T/ent" --name "Enterprise root" >/dev/null
"$PKI" ca --out "$T/rogue" --name "Unconfigured root" >/dev/null
issue() { "$PKI" issue --ca "$T/$1" --profile "$2" --id "$3" --out "$T/$4" "${@:5}" >/dev/null || fail "issue $4"; }
issue mfr device "$HW.1" dev-a
issue mfr device "$HW.2" dev-o
issue mfr device "$HW.3" dev-r
issue mfr device "$HW.4" dev-x --expired
issue rogue device "$HW.5" dev-rogue
issue mfr device "$HW.66" dev-wrong # the Enrolee is configured as $HW.6
issue mfr cse-id cse-q.test.example dev-cse # a valid chain, a flavour no Enrolee has
issue ent node-id "$NODE" node
issue ent device "$HW.7" dev-cross # the Enrolee $HW.7 trusts only the manufacturer root
"$PKI" crl --ca "$T/mfr" --revoke "$T/dev-r.pem" --out "$T/mfr.crl" >/dev/null || fail "crl"

mefd_init "$MEF" mef.test.example --dev-pki --target-listen 127.0.0.1:0
"$MEFD" pki issue -d "$MEF" --fqdn maf.test.example --cert "$T/maf.pem" --key "$T/maf.key" >/dev/null
"$MEFD" target add -d "$MEF" --id maf.test.example --cert-fqdn maf.test.example --suid 21 >/dev/null
cert_enrolee() { # cert_enrolee FLAVOUR ID ROOT ENROLEE-ID [extra args]
    "$MEFD" enrolee add -d "$MEF" --cert-flavour "$1" --cert-id "$2" --cert-ca "$T/$3/ca.pem" \
        --enrolee-id "$4" --target maf.test.example --expiry 3600 "${@:5}" >"$T/add.out" \
        || fail "enrolee add $2: $(cat "$T/add.out")"
}
cert_enrolee device "$HW.1" mfr /cse-a --crl "$T/mfr.crl"
cert_enrolee device "$HW.2" mfr /cse-o --crl "$T/mfr.crl"
cert_enrolee device "$HW.3" mfr /cse-r --crl "$T/mfr.crl"
cert_enrolee device "$HW.4" mfr /cse-x --crl "$T/mfr.crl"
cert_enrolee device "$HW.5" mfr /cse-rogue --crl "$T/mfr.crl"
cert_enrolee device "$HW.6" mfr /cse-wrong --crl "$T/mfr.crl"
cert_enrolee device "$HW.7" mfr /cse-cross --crl "$T/mfr.crl"
cert_enrolee node-id "$NODE" ent /cse-node
grep -q "credential-id=34-$NODE " "$T/add.out" || fail "node-id add: $(cat "$T/add.out")"
add_enrolee "$MEF" b /cse-b 3600 --target maf.test.example
add_enrolee "$MEF" p /cse-p 3600
ok "Enrolees: 8 certificate (device, node-id) and 2 Kpm"

# Administrative neighbours: exactly one credential; a flavour and id that parse; anchors that load.
bad_add() { # bad_add WHY ARGS...: must fail and add nothing
    local why=$1 n0
    shift
    n0=$(sqlite_count "$MEF/mef.db" "SELECT count(*) FROM enrolee")
    "$MEFD" enrolee add -d "$MEF" --enrolee-id /cse-bad --expiry 60 "$@" >/dev/null 2>"$T/bad.err" \
        && fail "enrolee add accepted $why"
    [ "$(sqlite_count "$MEF/mef.db" "SELECT count(*) FROM enrolee")" = "$n0" ] || fail "$why: a row was added"
}
bad_add "both a Kpm and a certificate" --kpm-id k1 --kpm-file "$T/b.kpm" --cert-flavour device \
    --cert-id "$HW.9" --cert-ca "$T/mfr/ca.pem"
bad_add "no trust anchor" --cert-flavour device --cert-id "$HW.9"
bad_add "flavour fqdn" --cert-flavour fqdn --cert-id x.test.example --cert-ca "$T/mfr/ca.pem"
bad_add "a malformed hardware id" --cert-flavour device --cert-id 1.2.3 --cert-ca "$T/mfr/ca.pem"
grep -q "cert-id" "$T/bad.err" || fail "no reason for the malformed id: $(cat "$T/bad.err")"
bad_add "a missing anchor file" --cert-flavour device --cert-id "$HW.9" --cert-ca "$T/nope.pem"
bad_add "a CRL as anchor" --cert-flavour device --cert-id "$HW.9" --cert-ca "$T/mfr.crl"
bad_add "a certificate as CRL" --cert-flavour device --cert-id "$HW.9" --cert-ca "$T/mfr/ca.pem" \
    --crl "$T/mfr/ca.pem"
bad_add "an identity that exists" --cert-flavour device --cert-id "$HW.1" --cert-ca "$T/mfr/ca.pem"
ok "enrolee add refuses: Kpm and certificate, no anchor, flavour fqdn, malformed id, bad files, duplicate"

mefd_start "$MEF"
grep -q "event=enrolee_certificates enrolees=8 mode=psk+certificate anchors=2 crls=1" "$MEF/mefd.log" \
    || fail "no certificate mode: $(grep enrolee_certificates "$MEF/mefd.log")"

"$MAFD" init -d "$MAF" --fqdn maf.test.example --listen 127.0.0.1:0 --mef-ca "$MEF/pki/ca.pem" \
    --cert "$T/maf.pem" --key "$T/maf.key" --mef "mef.test.example=$TGT_ADDR" >/dev/null \
    || fail "mafd init"
sed -i -e 's/^handshake_timeout_ms = .*/handshake_timeout_ms = 5000/' -e 's/^workers = .*/workers = 4/' \
    "$MAF/mafd.conf"
mafd_run "$MAF"

kes() { sqlite_count "$MEF/mef.db" "SELECT count(*) FROM ke ${1:-}"; }
# enrol_cert NAME CERT-PREFIX: the certificate RSPF with the CLI; $T/e-NAME.{json,err}
enrol_cert() {
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --cert "$T/$2.pem" --key "$T/$2.key" \
        --mef-ca "$MEF/pki/ca.pem" --state "$T/s-$1" --json --quiet >"$T/e-$1.json" 2>"$T/e-$1.err"
}
# kcv_equal NAME FLAVOUR ID: the device's stored Ke and mefd's are the same key
kcv_equal() {
    local dev mef
    dev=$("$CLI" state --state "$T/s-$1" --json | json_get - 'j["kcv"]')
    mef=$("$MEFD" enrolee show -d "$MEF" --cert-id "$3" --cert-flavour "$2" --json | json_get - 'j["ke"]["kcv"]')
    [ -n "$dev" ] && [ "$dev" = "$mef" ] || fail "$1: key check values differ: device '$dev', mefd '$mef'"
}

# --- 1. device certificate enrolment
enrol_cert dev-a dev-a || fail "enrol dev-a: $(cat "$T/e-dev-a.err")"
keid=$(json_get "$T/e-dev-a.json" 'j["keid"]')
[ "$(json_get "$T/e-dev-a.json" 'j["enrolee_id"]')" = /cse-a ] || fail "enrolee id: $(cat "$T/e-dev-a.json")"
[ "$("$MEFD" enrolee show -d "$MEF" --cert-id "$HW.1" --json | json_get - 'j["ke"]["keID"]')" = "$keid" ] \
    || fail "mefd holds another KeID than $keid"
kcv_equal dev-a device "$HW.1"
grep -q "event=enrolled credential_id=31-$HW.1 enrolee_id=/cse-a keid=$keid .*rspf=certificate" \
    "$MEF/mefd.log" || fail "no enrolment logged"
ok "device certificate $HW.1 enrolled: KeID $keid, same Ke (kcv) at the device and mefd"

# --- 2. KeID -> MAF Client Registration -> Kc for B -> Entity B accepts A
enrol_psk() {
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$1" --kpm-file "$T/$1.kpm" \
        --state "$T/s-$1" --json --quiet >"$T/e-$1.json" 2>"$T/e-$1.err"
}
register() {
    "$CLI" maf register --maf "$MAF_ADDR" --sni maf.test.example --admin-fqdn admin.test.example \
        --state "$T/s-$1" --json --quiet >"$T/r-$1.json" 2>"$T/r-$1.err" || fail "register $1: $(cat "$T/r-$1.err")"
}
enrol_psk b || fail "enrol b (PSK on the same port): $(cat "$T/e-b.err")"
register dev-a
register b
"$CLI" maf keyreg --maf "$MAF_ADDR" --sni maf.test.example --state "$T/s-dev-a" --json --quiet \
    --target /cse-b --suid 32 >"$T/k1.json" 2>"$T/k1.err" || fail "keyreg: $(cat "$T/k1.err")"
kid=$(json_get "$T/k1.json" 'j["key_id"]')
"$CLI" cse -d "$B" --listen 127.0.0.1:0 --id /cse-b --maf "$MAF_ADDR" --maf-fqdn maf.test.example \
    --log "$T/cse.log" --idle-ms 2000 >"$T/cse.out" 2>>"$T/cse.err" &
CSE_PID=$!
PIDS+=("$CSE_PID")
wait_for 10 grep -q '^listening ' "$T/cse.out" || fail "m2msec cse did not start: $(cat "$T/cse.err")"
CSE_ADDR=$(sed -n 's/^listening //p' "$T/cse.out")
"$CLI" connect --to "$CSE_ADDR" --state "$T/s-dev-a" --json --key-id "$kid" >"$T/c1.json" 2>"$T/c1.err" \
    || fail "connect: $(cat "$T/c1.err")"
[ "$(json_get "$T/c1.json" 'j["peer"]')" = /cse-a ] || fail "B bound the session to: $(cat "$T/c1.json")"
[ "$(json_get "$T/c1.json" 'j["suid"]')" = 32 ] || fail "suid: $(cat "$T/c1.json")"
ok "KeID -> maf register -> keyreg --target /cse-b --suid 32 ($kid) -> connect: B binds the session to /cse-a"

# --- 2b. the device side verifies mefd: its FQDN certificate under --mef-ca, named as expected
NKE0=$(kes)
dev_try() { # dev_try NAME ARGS...: an enrolment with dev-o's certificate that must fail
    local name=$1
    shift
    "$CLI" enrol --mef "$MEF_ADDR" --cert "$T/dev-o.pem" --key "$T/dev-o.key" --state "$T/s-$name" \
        --quiet "$@" 2>"$T/$name.err" && fail "$name: enrolled"
    return 0
}
dev_try wrongca --sni mef.test.example --mef-ca "$T/rogue/ca.pem"
grep -q "rejected: unknown issuer" "$T/wrongca.err" || fail "wrong --mef-ca: $(cat "$T/wrongca.err")"
dev_try wrongname --sni maf.test.example --mef-ca "$MEF/pki/ca.pem"
grep -q "rejected: name mismatch" "$T/wrongname.err" || fail "wrong name: $(cat "$T/wrongname.err")"
dev_try noname --mef-ca "$MEF/pki/ca.pem"
grep -q "server name" "$T/noname.err" || fail "IP address without --sni: $(cat "$T/noname.err")"
dev_try noca --sni mef.test.example
grep -q "mef-ca" "$T/noca.err" || fail "no --mef-ca: $(cat "$T/noca.err")"
dev_try both --sni mef.test.example --mef-ca "$MEF/pki/ca.pem" --kpm-id x --kpm-file "$T/b.kpm"
grep -q "kpm" "$T/both.err" || fail "certificate and Kpm: $(cat "$T/both.err")"
[ "$(kes)" = "$NKE0" ] || fail "a refused device enrolment stored a Ke"
ok "device refuses: MEF certificate under another root, another name, no name for an IP, no --mef-ca, Kpm too"

# --- 3. a Node-ID certificate enrols as well
enrol_cert node node || fail "enrol node: $(cat "$T/e-node.err")"
[ "$(json_get "$T/e-node.json" 'j["enrolee_id"]')" = /cse-node ] || fail "node: $(cat "$T/e-node.json")"
kcv_equal node node-id "$NODE"
ok "Node-ID certificate $NODE (SAN URI urn:oid:$NODE) enrolled: $(json_get "$T/e-node.json" 'j["keid"]')"

# --- 4. refusals: mefd keeps serving, says why, stores nothing
# mark: remember where the log ends, so a refusal is matched against this attempt's lines only.
mark() { MARK=$(wc -l <"$MEF/mefd.log"); }
new_log_has() { tail -n +$((MARK + 1)) "$MEF/mefd.log" | grep -Eq "$1"; }
# refused NAME WHAT LOG-PATTERN CRED: the attempt (run after mark) failed; a new log line
# matches; no Ke was added (none for CRED); the device stored nothing; mefd still runs.
refused() {
    local name=$1 what=$2 pat=$3 cred=$4
    wait_for 5 new_log_has "$pat" || fail "$what: no log line /$pat/: $(tail -n +$((MARK + 1)) "$MEF/mefd.log")"
    [ "$(kes)" = "$NKE" ] || fail "$what: a Ke was stored ($(kes) rows, $NKE before)"
    if [ -n "$cred" ]; then
        [ "$(kes "WHERE kpm_id = '$cred'")" = 0 ] || fail "$what: $cred has a Ke"
    fi
    kill -0 "$MEF_PID" 2>/dev/null || fail "$what: mefd died"
    if [ -d "$T/s-$name" ] && "$CLI" state --state "$T/s-$name" --json 2>/dev/null | grep -q '"keid":"'; then
        fail "$what: the device stored an enrolment"
    fi
    ok "refused: $what"
}
NKE=$(kes)
mark
enrol_cert wrong dev-wrong && fail "a valid chain with the wrong name enrolled"
refused wrong "valid chain, wrong name ($HW.66, the Enrolee is $HW.6)" \
    "event=session_refused .*identities=31-$HW\.66" "31-$HW.6"
mark
enrol_cert rogue dev-rogue && fail "a certificate under an unconfigured root enrolled"
grep -q "handshake refused" "$T/e-rogue.err" || fail "rogue: $(cat "$T/e-rogue.err")"
refused rogue "valid name $HW.5 under an unconfigured root" "event=handshake_failed .*unknown issuer" "31-$HW.5"
mark
# The enterprise root is among the handshake's anchors (the Node-ID Enrolee trusts it), but not
# among this Enrolee's: the chain must lead to the bound Enrolee's own roots.
enrol_cert cross dev-cross && fail "a certificate under another Enrolee's root enrolled"
refused cross "right name $HW.7, chain to another Enrolee's root (enterprise, not manufacturer)" \
    "event=session_refused .*credential_id=31-$HW\.7 .*does not chain to this Enrolee" "31-$HW.7"
mark
enrol_cert x dev-x && fail "an expired certificate enrolled"
refused x "expired certificate ($HW.4)" "event=handshake_failed .*expired" "31-$HW.4"
mark
enrol_cert r dev-r && fail "a revoked certificate enrolled"
refused r "revoked certificate ($HW.3, CRL)" "event=handshake_failed .*revoked" "31-$HW.3"
mark
enrol_cert cse dev-cse && fail "a certificate with an unknown identity enrolled"
refused cse "unknown identity with a valid chain (a CSE-ID certificate, no such Enrolee)" \
    "event=session_refused .*identities=32-cse-q.test.example" ""
# No client certificate at all: a TLS client offering only certificate suites.
http_req POST /mef/enrolment "31-$HW.1" '{}' >"$T/req0.http"
mark
timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_2 -servername mef.test.example \
    -CAfile "$MEF/pki/ca.pem" -cipher ECDHE-ECDSA-AES128-SHA256 -ign_eof <"$T/req0.http" >"$T/nocert.out" 2>&1 || true
if grep -aq "X-M2M-RSC" "$T/nocert.out"; then fail "a client without a certificate got an answer"; fi
refused nocert "no client certificate" "event=handshake_failed .*rejected: no certificate" ""
# A PSK client naming the certificate Enrolee (its Credential-ID, its hardware id) as KpmID.
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/guess.kpm"
mark
for id in "31-$HW.1" "$HW.1"; do
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$id" --kpm-file "$T/guess.kpm" \
        --state "$T/s-psk-guess" --quiet 2>"$T/guess.err" && fail "PSK as $id enrolled"
    grep -q "handshake refused" "$T/guess.err" || fail "PSK $id: $(cat "$T/guess.err")"
done
[ "$(kes "WHERE kpm_id = '31-$HW.1'")" = 1 ] || fail "dev-a's Ke changed"
refused psk-guess "PSK client with KpmID 31-$HW.1 / $HW.1 (a certificate Enrolee has no Kpm)" \
    "event=handshake_failed .*PSK handshake failed" ""
# ... and mefd still enrols: dev-a again (a new Ke replaces the old one).
enrol_cert dev-a2 dev-a || fail "mefd stopped enrolling: $(cat "$T/e-dev-a2.err")"
ok "after every refusal mefd still enrols"

# --- 5. origin rule: the Credential-ID of the identity or of the key, or the Enrolee-ID
origin_try() { # origin_try ORIGIN: the RSC of a first request by openssl with dev-o's certificate
    http_req POST /mef/enrolment "$1" '{"certEnrolmentInd":false,"mafEnrolmentInd":true,"remoteMgmtInd":true}' >"$T/req.http"
    timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_2 -servername mef.test.example \
        -cert "$T/dev-o.pem" -key "$T/dev-o.key" -CAfile "$MEF/pki/ca.pem" -verify_return_error \
        -keymatexport EXPORTER-oneM2M-Bootstrap -keymatexportlen 48 -ign_eof <"$T/req.http" >"$T/ossl.out" 2>&1 || true
    grep -ao "X-M2M-RSC: [0-9]*" "$T/ossl.out" | head -n 1 | sed 's/.*: //'
}
[ "$(origin_try /cse-z)" = 4106 ] || fail "a foreign originator: $(head -c 1500 "$T/ossl.out")"
[ "$(origin_try "31-$HW.1")" = 4106 ] || fail "another device's Credential-ID was accepted"
[ "$(kes "WHERE kpm_id = '31-$HW.2'")" = 0 ] || fail "a refused request stored a Ke"
ok "X-M2M-Origin /cse-z or another device's Credential-ID: 4106, nothing stored"

# --- 6. independent stack: openssl s_client enrols with its first request
rsc=$(origin_try "31-$HW.2")
[ "$rsc" = 2001 ] || fail "openssl: $(head -c 2000 "$T/ossl.out")"
grep -q "Protocol *: TLSv1.2" "$T/ossl.out" || fail "openssl: not TLS 1.2"
mat=$(grep -A3 "Keying material exporter" "$T/ossl.out" | grep "Keying material:" | sed 's/.*Keying material: *//' | tr -d ' \r')
[ "${#mat}" = 96 ] || fail "openssl exported no 48 bytes: '$mat'"
keid=$(python3 -c 'import json,sys; t=open(sys.argv[1],errors="replace",newline="").read(); i=t.index("\r\n\r\n{")+4; print(json.JSONDecoder().raw_decode(t[i:])[0]["keID"])' "$T/ossl.out")
[ "$keid" = "$(echo "${mat:0:32}" | tr 'A-F' 'a-f')@mef.test.example" ] || fail "KeID $keid vs exported $mat"
kcv_want=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(bytes.fromhex(sys.argv[1][32:]), b"m2msec key check value", hashlib.sha256).hexdigest()[:16])' "$mat")
[ "$("$MEFD" enrolee show -d "$MEF" --cert-id "$HW.2" --json | json_get - 'j["ke"]["kcv"]')" = "$kcv_want" ] \
    || fail "mefd stored another Ke than the exported one"
ok "openssl s_client (device certificate, origin 31-$HW.2): KeID = hex(first 16 exported bytes)@FQDN, Ke = last 32"

# A PSK Enrolee with openssl (which offers certificate suites too) on the same port: PSK wins.
http_req POST /mef/enrolment 10-p '{"certEnrolmentInd":false,"mafEnrolmentInd":true,"remoteMgmtInd":true}' >"$T/reqp.http"
timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_2 -psk_identity p -psk "$(cat "$T/p.kpm")" \
    -servername mef.test.example -ign_eof <"$T/reqp.http" >"$T/osslp.out" 2>&1 || true
grep -aq "X-M2M-RSC: 2001" "$T/osslp.out" || fail "openssl PSK on the certificate-enabled port: $(head -c 1500 "$T/osslp.out")"
grep -q "Cipher is PSK-" "$T/osslp.out" || fail "openssl PSK: $(grep 'Cipher is' "$T/osslp.out")"
ok "openssl s_client -psk (PSK Enrolee p) on the same port: $(grep -o 'Cipher is [A-Z0-9-]*' "$T/osslp.out" | head -n 1)"

# --- 7. administration of both kinds
"$MEFD" enrolee list -d "$MEF" --json | json_get - '[e.get("kpmID") or e["credentialID"] for e in j]' >"$T/list.txt"
grep -q "31-$HW.1" "$T/list.txt" && grep -q '"b"' "$T/list.txt" || fail "list: $(cat "$T/list.txt")"
[ "$("$MEFD" enrolee show -d "$MEF" --cert-id "$NODE" --json | json_get - 'j["certFlavour"]')" = node-id ] \
    || fail "show node by --cert-id"
"$MEFD" enrolee remove -d "$MEF" --cert-id "$HW.1" >/dev/null || fail "remove by --cert-id"
[ "$(kes "WHERE kpm_id = '31-$HW.1'")" = 0 ] || fail "dev-a's Ke survived its removal"
"$MEFD" enrolee remove -d "$MEF" --cert-id "$HW.1" >/dev/null 2>&1 && fail "removed twice"
mark
enrol_cert dev-a3 dev-a && fail "a removed certificate Enrolee enrolled"
wait_for 5 new_log_has "event=session_refused .*identities=31-$HW\.1" || fail "no refusal after removal"
ok "list shows both kinds; remove --cert-id erases the Enrolee and its Ke; its certificate is refused after"

# --- 8. SIGHUP: the certificate files and the Enrolees' anchors are read again
# served_serial ADDR CERT: the serial of the certificate mefd presents on ADDR (openssl)
served_serial() {
    timeout 20 openssl s_client -connect "$1" -tls1_2 -cert "$T/$2.pem" -key "$T/$2.key" \
        -servername mef.test.example -showcerts </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}
hup_wait() { # hup_wait PATTERN: SIGHUP, then wait for one more log line matching PATTERN
    local before
    before=$(grep -c "$1" "$MEF/mefd.log" || true)
    kill -HUP "$MEF_PID"
    wait_for 10 bash -c '[ "$(grep -c "'"$1"'" "'"$MEF/mefd.log"'" || true)" -gt '"$before"' ]' ||
        fail "no /$1/ after SIGHUP: $(tail -n 5 "$MEF/mefd.log")"
    kill -0 "$MEF_PID" 2>/dev/null || fail "mefd exited on SIGHUP"
}
# A certificate Enrolee under a root mefd did not trust at start: refused until the reload.
"$PKI" ca --out "$T/late" --name "Late root" >/dev/null
issue late device "$HW.8" dev-late
cert_enrolee device "$HW.8" late /cse-late
enrol_cert late1 dev-late && fail "a root added after the start was trusted before a reload"
grep -q "handshake refused" "$T/e-late1.err" || fail "late root before reload: $(cat "$T/e-late1.err")"
hup_wait "event=certificates_reloaded service=enrolment anchors=3 "
enrol_cert late2 dev-late || fail "enrol under the late root after SIGHUP: $(cat "$T/e-late2.err")"
[ "$(json_get "$T/e-late2.json" 'j["enrolee_id"]')" = /cse-late ] || fail "late: $(cat "$T/e-late2.json")"
ok "SIGHUP: a certificate Enrolee under a new root, refused before, enrols after (anchors 2 -> 3)"

# mefd's own certificate renewed in place: both listeners present the new one after SIGHUP
old_e=$(served_serial "$MEF_ADDR" dev-o)
old_t=$(served_serial "$TGT_ADDR" maf)
[ -n "$old_e" ] && [ "$old_e" = "$old_t" ] || fail "serials before: '$old_e' '$old_t'"
"$MEFD" pki issue -d "$MEF" --fqdn mef.test.example --cert "$T/mef2.pem" --key "$T/mef2.key" >/dev/null
new=$(openssl x509 -in "$T/mef2.pem" -noout -serial | sed 's/^serial=//')
cp "$MEF/mef.pem" "$T/mef1.pem"
cp "$MEF/mef.key" "$T/mef1.key"
cp "$T/mef2.pem" "$MEF/mef.pem"
cp "$T/mef2.key" "$MEF/mef.key"
hup_wait "event=certificates_reloaded service=targets"
[ "$(served_serial "$MEF_ADDR" dev-o)" = "$new" ] || fail "enrolment listener still serves $old_e"
[ "$(served_serial "$TGT_ADDR" maf)" = "$new" ] || fail "target service still serves $old_t"
"$CLI" maf register --maf "$MAF_ADDR" --sni maf.test.example --admin-fqdn late.test.example \
    --state "$T/s-late2" --json --quiet >"$T/r-late.json" 2>"$T/r-late.err" ||
    fail "mafd fetch through the renewed target certificate: $(cat "$T/r-late.err")"
ok "SIGHUP: renewed mef.pem served on both listeners (serial $old_e -> $new); mafd fetches through it"

# A broken file changes nothing: the renewed certificate stays in use.
printf 'not a certificate\n' >"$MEF/mef.pem"
hup_wait "event=reload_failed what=certificates service=targets"
grep -q "event=reload_failed what=certificates service=enrolment" "$MEF/mefd.log" ||
    fail "no reload_failed for the enrolment listener"
[ "$(served_serial "$MEF_ADDR" dev-o)" = "$new" ] && [ "$(served_serial "$TGT_ADDR" maf)" = "$new" ] ||
    fail "a broken certificate file changed what is served"
enrol_cert late3 dev-late || fail "enrol after a failed certificate reload: $(cat "$T/e-late3.err")"
cp "$T/mef2.pem" "$MEF/mef.pem"
ok "SIGHUP with a broken mef.pem: reload_failed on both listeners, the previous certificate kept, enrolment works"

kill -TERM "$CSE_PID" && wait "$CSE_PID" || true
kill -TERM "$MAF_PID" && wait "$MAF_PID" || true
mefd_stop
done_tests
