#!/usr/bin/env bash
# MAF clients that authenticate with a certificate (TS-0003 8.8.2.2): mafd with
# clients.conf takes certificate clients on its PSK listener, verified against
# the configured anchors; the client's id is its certificate identity. curl
# (OpenSSL, an independent TLS client) is the MAF client: Entity A (CSE-ID
# certificate) registers (no assignedSymmKeyID: no KmID applies) and registers
# a key for Entity B; B (AE-ID certificate: MAF Client ID = its Absolute AE-ID)
# retrieves it and gets the same key value. Refusals: a non-target device certificate (4103), another originator
# (4106), a certificate under an unconfigured root (handshake); without
# clients.conf a certificate client is refused. A pre-provisioned PSK client
# is still served on the same listener.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MAFD="$BIN/mafd"
PKI="$BIN/m2msec-pki"
MAF="$T/maf"
P="$T/pki"
mkdir -p "$P"
cd "$P"
"$PKI" ca --out infra --name "Infrastructure Root" >/dev/null
"$PKI" ca --out vroot --name "Vertical Root" >/dev/null
"$PKI" ca --out mroot --name "Manufacturer Root" >/dev/null
"$PKI" ca --out other --name "Unconfigured Root" >/dev/null
"$PKI" issue --ca infra --profile fqdn --id maf.test.example --out maf >/dev/null
"$PKI" issue --ca vroot --profile cse-id --id cse-a.sp.example --out a >/dev/null
"$PKI" issue --ca vroot --profile ae-id --id https://sp.example/cse-b/Cb1 --out b >/dev/null
"$PKI" issue --ca mroot --profile device --id 0.2.481.1.7.8.9 --out dev >/dev/null
"$PKI" issue --ca other --profile cse-id --id cse-b.sp.example --out stranger >/dev/null
cd - >/dev/null

# No MEF is needed: certificate clients never name a KeID. The listed one is never contacted.
"$MAFD" init -d "$MAF" --fqdn maf.test.example --listen 127.0.0.1:0 --mef-ca "$P/infra/ca.pem" \
    --cert "$P/maf.pem" --key "$P/maf.key" --mef "mef.test.example=127.0.0.1:9" >/dev/null \
    || fail "mafd init"
sed -i -e 's/^handshake_timeout_ms = .*/handshake_timeout_ms = 5000/' -e 's/^workers = .*/workers = 4/' \
    "$MAF/mafd.conf"
printf '[clients]\nca = %s\nca = %s\nflavour = any\n' "$P/vroot/ca.pem" "$P/mroot/ca.pem" >"$MAF/clients.conf"
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/p.km"
PREL=00112233445566778899aabbccddeeff
"$MAFD" client add -d "$MAF" --kmid "$PREL" --km-file "$T/p.km" --client-id /cse-p >/dev/null \
    || fail "client add"
mafd_run "$MAF"
grep -q 'event=listening .*clients=psk+cert' "$MAF/mafd.log" || fail "mafd did not announce certificate clients"
PORT=${MAF_ADDR##*:}
ET=$(date -u -d '+1 hour' +%Y%m%dT%H%M%S)

# maf_req WHO METHOD PATH ORIGIN [BODY]: curl as the certificate client WHO; prints
# the X-M2M-RSC, then the body on the next line. Fails the test when TLS fails.
maf_req() {
    local who=$1 method=$2 path=$3 origin=$4 body=${5:-} rsc
    if ! curl -sS --max-time 10 --cacert "$P/infra/ca.pem" --cert "$P/$who.pem" --key "$P/$who.key" \
        --resolve "maf.test.example:$PORT:127.0.0.1" -X "$method" \
        -H "X-M2M-Origin: $origin" -H "X-M2M-RI: r-$RANDOM" -H "X-M2M-RVI: 3" \
        -H "Content-Type: application/json" ${body:+--data-binary "$body"} \
        -D "$T/hdr" -o "$T/body" "https://maf.test.example:$PORT$path" 2>"$T/curl.err"; then
        return 1
    fi
    rsc=$(tr -d '\r' <"$T/hdr" | sed -n 's/^X-M2M-RSC: //Ip')
    echo "$rsc"
    cat "$T/body"
    echo
}

# --- A registers with its certificate ---
maf_req a POST /maf cse-a.sp.example \
    "{\"mafFQDN\":\"maf.test.example\",\"et\":\"$ET\",\"adminFQDN\":\"admin.sp.example\"}" \
    >"$T/reg.out" || fail "A's TLS: $(cat "$T/curl.err")"
[ "$(head -n 1 "$T/reg.out")" = 2001 ] || fail "A's registration: $(cat "$T/reg.out")"
sed -n 2p "$T/reg.out" >"$T/reg.json"
REG=$(json_get "$T/reg.json" 'j["regID"]')
[ "$(json_get "$T/reg.json" 'j["clientID"]')" = cse-a.sp.example ] || fail "clientID: $(cat "$T/reg.json")"
[ "$(json_get "$T/reg.json" 'j.get("assignedSymmKeyID")')" = "" ] || fail "a KmID was assigned to a certificate client"
grep -q 'event=cert_client_session .*credential=32-cse-a.sp.example client_id=cse-a.sp.example' "$MAF/mafd.log" \
    || fail "mafd logged no certificate session"
ok "a certificate MAF client registers; its id is its CSE-ID; no assignedSymmKeyID"
# The Credential-ID is an accepted originator too; a second registration keeps the first.
maf_req a GET "/maf/$REG" 32-cse-a.sp.example >"$T/cfg.out" || fail "TLS"
[ "$(head -n 1 "$T/cfg.out")" = 2000 ] || fail "configuration retrieval: $(cat "$T/cfg.out")"
maf_req a POST /maf cse-a.sp.example \
    "{\"mafFQDN\":\"maf.test.example\",\"et\":\"$ET\",\"adminFQDN\":\"admin2.sp.example\"}" \
    >"$T/reg2.out" || fail "TLS"
[ "$(head -n 1 "$T/reg2.out")" = 2001 ] || fail "second registration: $(cat "$T/reg2.out")"
[ "$(sqlite_count "$MAF/maf.db" "SELECT count(*) FROM maf_client WHERE suid = 30")" = 1 ] \
    || fail "one owner row per certificate client expected"
[ "$(sqlite_count "$MAF/maf.db" "SELECT count(*) FROM maf_reg")" = 2 ] || fail "registrations lost"
ok "the Credential-ID is an accepted originator; registrations of one certificate accumulate"
maf_req a GET "/maf/$REG" cse-z.sp.example >"$T/o.out" || fail "TLS"
[ "$(head -n 1 "$T/o.out")" = 4106 ] || fail "another originator: $(cat "$T/o.out")"
ok "another originator on a certificate session: 4106"

# --- Key Registration by A, Key Retrieval by B ---
KV=$(python3 -c 'import os,base64; print(base64.b64encode(os.urandom(32)).decode())')
maf_req a POST "/maf/$REG/keys" cse-a.sp.example \
    "{\"mafFQDN\":\"maf.test.example\",\"et\":\"$ET\",\"adminFQDN\":\"admin.sp.example\",\"suid\":32,\"targetIDs\":[\"//sp.example/cse-b/Cb1\"],\"keyValue\":\"$KV\"}" \
    >"$T/kr.out" || fail "TLS"
[ "$(head -n 1 "$T/kr.out")" = 2001 ] || fail "key registration: $(cat "$T/kr.out")"
sed -n 2p "$T/kr.out" >"$T/kr.json"
REL=$(json_get "$T/kr.json" 'j["relativeKeyID"]')
[ "$(json_get "$T/kr.json" 'j["sourceID"]')" = cse-a.sp.example ] || fail "sourceID: $(cat "$T/kr.json")"
ok "the certificate client registers a key for //sp.example/cse-b/Cb1 (SUID 32)"
maf_req b GET "/maf/keys/$REL" //sp.example/cse-b/Cb1 >"$T/kg.out" || fail "B's TLS: $(cat "$T/curl.err")"
[ "$(head -n 1 "$T/kg.out")" = 2000 ] || fail "key retrieval: $(cat "$T/kg.out")"
sed -n 2p "$T/kg.out" >"$T/kg.json"
[ "$(json_get "$T/kg.json" 'j["keyValue"]')" = "$KV" ] || fail "B got another key"
[ "$(json_get "$T/kg.json" 'j["sourceID"]')" = cse-a.sp.example ] || fail "B's sourceID"
ok "the target, an AE-ID certificate client known by its Absolute AE-ID, retrieves the same key value"
maf_req dev GET "/maf/keys/$REL" 31-0.2.481.1.7.8.9 >"$T/kd.out" || fail "device TLS: $(cat "$T/curl.err")"
[ "$(head -n 1 "$T/kd.out")" = 4103 ] || fail "non-target retrieval: $(cat "$T/kd.out")"
ok "a device certificate client that is not a target: 4103"

# --- refusals at the handshake ---
if maf_req stranger GET "/maf/keys/$REL" cse-b.sp.example >/dev/null; then
    fail "a certificate under an unconfigured root was accepted"
fi
wait_for 5 grep -q 'unknown issuer' "$MAF/mafd.log" || fail "mafd logged no reason"
ok "a certificate under an unconfigured root is refused at the handshake"
# A PSK client on the same listener.
printf 'GET /maf/0123 HTTP/1.1\r\nHost: maf.test.example\r\nX-M2M-Origin: /cse-p\r\nX-M2M-RI: r\r\nConnection: close\r\n\r\n' |
    timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 -psk_identity "$PREL@maf.test.example" \
        -psk "$(cat "$T/p.km")" -ign_eof >"$T/s.out" 2>&1 || true
grep -q 'X-M2M-RSC: 4004' "$T/s.out" || fail "PSK client not served: $(tail -n 5 "$T/s.out")"
ok "a PSK (KmID) client is still served on the same listener"

# --- SIGHUP: mafd's certificate renewed in place is served to new connections ---
maf_serial() {
    timeout 20 openssl s_client -connect "$MAF_ADDR" -tls1_2 -cert "$P/a.pem" -key "$P/a.key" \
        -servername maf.test.example -showcerts </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}
old_serial=$(maf_serial)
[ -n "$old_serial" ] || fail "no certificate served"
(cd "$P" && "$PKI" issue --ca infra --profile fqdn --id maf.test.example --out maf2 >/dev/null)
cp "$P/maf2.pem" "$P/maf.pem"
cp "$P/maf2.key" "$P/maf.key"
kill -HUP "$MAF_PID"
wait_for 10 grep -q "event=certificates_reloaded service=maf" "$MAF/mafd.log" ||
    fail "no certificates_reloaded: $(tail -n 5 "$MAF/mafd.log")"
new_serial=$(openssl x509 -in "$P/maf2.pem" -noout -serial | sed 's/^serial=//')
[ "$(maf_serial)" = "$new_serial" ] || fail "mafd still serves $old_serial"
printf 'garbage\n' >"$P/maf.pem"
kill -HUP "$MAF_PID"
wait_for 10 grep -q "event=reload_failed what=certificates" "$MAF/mafd.log" || fail "no reload_failed"
[ "$(maf_serial)" = "$new_serial" ] || fail "a broken maf.pem changed what mafd serves"
cp "$P/maf2.pem" "$P/maf.pem"
ok "SIGHUP: mafd serves its renewed certificate ($old_serial -> $new_serial); a broken file changes nothing"

# --- without clients.conf: PSK only ---
kill -TERM "$MAF_PID"
wait "$MAF_PID" || fail "mafd exit status"
rm "$MAF/clients.conf"
mafd_run "$MAF"
PORT=${MAF_ADDR##*:}
if maf_req a GET "/maf/$REG" cse-a.sp.example >/dev/null; then
    fail "a certificate client was served without clients.conf"
fi
ok "without clients.conf mafd takes no certificate clients"
printf '[clients]\nflavour = any\n' >"$MAF/clients.conf"
if "$MAFD" serve -d "$MAF" >/dev/null 2>"$T/bad.err"; then
    fail "clients.conf without ca accepted"
fi
grep -q "at least one 'ca'" "$T/bad.err" || fail "bad clients.conf: $(cat "$T/bad.err")"
printf '[clients]\nca = %s\nflavour = fqdn\n' "$P/vroot/ca.pem" >"$MAF/clients.conf"
if "$MAFD" serve -d "$MAF" >/dev/null 2>"$T/bad.err"; then
    fail "clients.conf with flavour fqdn accepted"
fi
grep -q "flavour = 'fqdn'" "$T/bad.err" || fail "bad flavour: $(cat "$T/bad.err")"
ok "clients.conf without anchors, or with an unknown flavour, stops start-up"

done_tests
