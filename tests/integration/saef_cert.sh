#!/usr/bin/env bash
# Certificate-based SAEF (TS-0003 8.2.2.2) end to end: `m2msec connect`
# (Entity A) and `m2msec cse` (Entity B) with certificates from `m2msec-pki`.
# Entity B binds CSE-ID and AE-ID certificates to their id and device, Node-ID
# and raw public key certificates to their Credential-ID (31-, 34-, 30-), and
# still serves PSK clients on the same port. gnutls-cli (an independent RFC 7250
# client) completes a raw public key handshake; Entity A's key can live on a
# PKCS#11 token (SoftHSM2). Refusals at the handshake, each logged by Entity B
# with its reason: unconfigured root, expired, revoked (CRL), wrong flavour,
# wildcard SAN, raw key digest mismatch, no client certificate; and on Entity
# A's side a valid chain with the wrong name or an unknown root. App rules
# (serviceSubscribedAppRule, 8.2.1): AE registrations allowed (2001) or refused
# (4126) per Credential-ID, App-ID and AE-ID; a CSE-ID certificate session only
# registers its own id (4106 otherwise).
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

PKI="$BIN/m2msec-pki"
P="$T/pki"
mkdir -p "$P"
cd "$P"
"$PKI" ca --out vroot --name "Vertical Root" >/dev/null
"$PKI" ca --out mroot --name "Manufacturer Root" >/dev/null
"$PKI" ca --out eroot --name "Enterprise Root" >/dev/null
"$PKI" ca --out other --name "Unconfigured Root" >/dev/null
"$PKI" issue --ca vroot --profile cse-id --id cse-b.sp.example --out b >/dev/null
"$PKI" issue --ca vroot --profile cse-id --id cse-a.sp.example --out a >/dev/null
"$PKI" issue --ca vroot --profile ae-id --id https://sp.example/Cae1 --out ae >/dev/null
"$PKI" issue --ca mroot --profile device --id 0.2.481.1.100.200.300 --out dev >/dev/null
"$PKI" issue --ca eroot --profile node-id --id 1.3.6.1.4.1.99.7 --out node >/dev/null
"$PKI" issue --ca other --profile cse-id --id cse-a.sp.example --out stranger >/dev/null
"$PKI" issue --ca vroot --profile cse-id --id cse-old.sp.example --out old --expired >/dev/null
"$PKI" issue --ca vroot --profile cse-id --id cse-rev.sp.example --out rev >/dev/null
"$PKI" crl --ca vroot --revoke rev.pem --out crl.pem >/dev/null
"$PKI" rawkey --out rk1 >/dev/null
"$PKI" rawkey --out rk2 >/dev/null
RK1=$("$PKI" keyid rk1.pub)
# A valid chain whose SAN is a wildcard: m2msec-pki refuses to make one, openssl does.
openssl ecparam -name prime256v1 -genkey -noout -out wild.key 2>/dev/null
openssl req -new -key wild.key -subj "/CN=*.sp.example" -out wild.csr 2>/dev/null
printf 'subjectAltName=DNS:*.sp.example\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' >wild.ext
openssl x509 -req -in wild.csr -CA vroot/ca.pem -CAkey vroot/ca.key -set_serial 4242 -days 30 \
    -sha256 -extfile wild.ext -out wild.pem 2>/dev/null || fail "openssl could not make the wildcard certificate"
printf '00112233445566778899aabbccddeeff\n' >kpsa.hex
cd - >/dev/null
DEV_CRED="31-0.2.481.1.100.200.300"

# cse_start NAME ARGS...: Entity B in $T/NAME; sets ADDR_<NAME>.
cse_start() {
    local name=$1 i addr
    shift
    "$CLI" cse -d "$T/$name" --listen 127.0.0.1:0 --id /cse-b --log "$T/$name.log" \
        --idle-ms 2000 --timeout 5000 "$@" >"$T/$name.out" 2>"$T/$name.err" &
    PIDS+=("$!")
    for i in $(seq 1 100); do
        addr=$(sed -n 's/^listening //p' "$T/$name.out")
        if [ -n "$addr" ]; then
            eval "ADDR_$name=$addr"
            return 0
        fi
        kill -0 "$!" 2>/dev/null || fail "m2msec cse $name exited: $(cat "$T/$name.err")"
        sleep 0.1
    done
    fail "m2msec cse $name did not start listening"
}

# Entity B 1: any client flavour under three roots, a CRL, a PSK client, app rules.
cse_start b1 --cert "$P/b.pem" --key "$P/b.key" --client-ca "$P/vroot/ca.pem" \
    --client-ca "$P/mroot/ca.pem" --client-ca "$P/eroot/ca.pem" --client-crl "$P/crl.pem" \
    --kpsa "kp1@sp.example:$P/kpsa.hex:/cse-psk" \
    --app-rule "$DEV_CRED:Rlight*:Clamp*" --app-rule "12-kp1@sp.example:Rmeter:C*"
# Entity B 2: CSE-ID certificates only.
cse_start b2 --cert "$P/b.pem" --key "$P/b.key" --client-ca "$P/vroot/ca.pem" --client-flavour cse-id
# Entity B 3: one trusted raw public key.
cse_start b3 --cert "$P/b.pem" --key "$P/b.key" --client-rawpk "$RK1"

# cert_connect ADDR ARGS...: Entity A verifying Entity B's CSE-ID certificate.
cert_connect() {
    local addr=$1
    shift
    "$CLI" connect --to "$addr" --peer-flavour cse-id --peer-id cse-b.sp.example \
        --peer-ca "$P/vroot/ca.pem" --timeout 5000 "$@"
}
# logged B EVENT-REGEX: B's log has a matching line (events arrive as they happen).
logged() { wait_for 5 grep -qE "$2" "$T/$1.log"; }

# --- bindings (8.2.2.2) ---
cert_connect "$ADDR_b1" --cert "$P/a.pem" --key "$P/a.key" --origin cse-a.sp.example --json \
    >"$T/a.json" 2>"$T/a.err" || fail "CSE-ID client refused: $(cat "$T/a.err")"
[ "$(json_get "$T/a.json" 'j["peer"]')" = cse-a.sp.example ] || fail "CSE-ID binding: $(cat "$T/a.json")"
[ "$(json_get "$T/a.json" 'j["credentialID"]')" = 32-cse-a.sp.example ] || fail "CSE-ID Credential-ID"
[ "$(json_get "$T/a.json" 'j["flavour"]')" = cse-id ] || fail "CSE-ID flavour"
ok "CSE-ID certificate: Entity B binds the session to the CSE-ID in it"
cert_connect "$ADDR_b1" --cert "$P/ae.pem" --key "$P/ae.key" --origin https://sp.example/Cae1 \
    --json >"$T/ae.json" 2>"$T/ae.err" || fail "AE-ID client refused: $(cat "$T/ae.err")"
[ "$(json_get "$T/ae.json" 'j["peer"]')" = https://sp.example/Cae1 ] || fail "AE-ID binding: $(cat "$T/ae.json")"
[ "$(json_get "$T/ae.json" 'j["credentialID"]')" = 33-https://sp.example/Cae1 ] || fail "AE-ID Credential-ID"
ok "AE-ID certificate: bound to the Absolute AE-ID"
cert_connect "$ADDR_b1" --cert "$P/dev.pem" --key "$P/dev.key" --origin "$DEV_CRED" --json \
    >"$T/dev.json" 2>"$T/dev.err" || fail "device client refused: $(cat "$T/dev.err")"
[ "$(json_get "$T/dev.json" 'j["peer"]')" = "$DEV_CRED" ] || fail "device binding: $(cat "$T/dev.json")"
[ "$(json_get "$T/dev.json" 'j["flavour"]')" = device ] || fail "device flavour"
ok "device certificate: bound to the Credential-ID $DEV_CRED"
cert_connect "$ADDR_b1" --cert "$P/node.pem" --key "$P/node.key" --origin 34-1.3.6.1.4.1.99.7 \
    --json >"$T/node.json" 2>"$T/node.err" || fail "Node-ID client refused: $(cat "$T/node.err")"
[ "$(json_get "$T/node.json" 'j["peer"]')" = 34-1.3.6.1.4.1.99.7 ] || fail "Node-ID binding: $(cat "$T/node.json")"
ok "Node-ID certificate: bound to the Credential-ID 34-<Node-ID>"
logged b1 'event=session .*bound=cse-a.sp.example .*credential=32-cse-a.sp.example flavour=cse-id' \
    || fail "B logged no CSE-ID session"
logged b1 "event=session .*bound=$DEV_CRED .*flavour=device" || fail "B logged no device session"
ok "Entity B logs each binding with its Credential-ID and flavour"

# Originator rule on certificate sessions (4106).
if cert_connect "$ADDR_b1" --cert "$P/a.pem" --key "$P/a.key" --origin cse-z.sp.example \
    >/dev/null 2>"$T/o.err"; then
    fail "another originator on a CSE-ID session was accepted"
fi
grep -q 4106 "$T/o.err" || fail "originator refusal: $(cat "$T/o.err")"
ok "an originator other than the bound CSE-ID is refused (4106)"

# A PSK client on the same port (TS-0003 8.2.2.1 beside 8.2.2.2).
"$CLI" connect --to "$ADDR_b1" --key-id kp1@sp.example --psk-file "$P/kpsa.hex" --origin /cse-psk \
    --json >"$T/psk.json" 2>"$T/psk.err" || fail "PSK client refused: $(cat "$T/psk.err")"
[ "$(json_get "$T/psk.json" 'j["peer"]')" = /cse-psk ] || fail "PSK binding: $(cat "$T/psk.json")"
[ "$(json_get "$T/psk.json" 'j["suid"]')" = 12 ] || fail "PSK SUID"
ok "PSK clients are still served on the certificate port"

# Entity A's view: IdB verified as configured, FQDN flavour too.
cert_connect "$ADDR_b1" --cert "$P/a.pem" --key "$P/a.key" --origin cse-a.sp.example \
    >"$T/v.out" 2>&1 || fail "connect: $(cat "$T/v.out")"
grep -q 'verified cse-b.sp.example' "$T/v.out" || fail "Entity A did not report IdB: $(cat "$T/v.out")"
"$CLI" connect --to "$ADDR_b1" --peer-flavour fqdn --peer-id cse-b.sp.example \
    --peer-ca "$P/vroot/ca.pem" --cert "$P/a.pem" --key "$P/a.key" --origin cse-a.sp.example \
    >/dev/null 2>&1 || fail "fqdn flavour for Entity B refused"
ok "Entity A associates the session with IdB as verified (cse-id and fqdn flavours)"

# --- refusals at the handshake, Entity B side ---
# refused B CERT KEY REASON-REGEX WHAT
refused() {
    local b=$1 cert=$2 key=$3 re=$4 what=$5 addr
    eval "addr=\$ADDR_$b"
    if cert_connect "$addr" --cert "$cert" --key "$key" --origin x >"$T/r.out" 2>&1; then
        fail "$what: accepted"
    fi
    grep -q 'handshake refused' "$T/r.out" || fail "$what: not a handshake refusal: $(cat "$T/r.out")"
    logged "$b" "event=handshake_failed .*error=.*($re)" || fail "$what: B logged no reason: $(tail -n 3 "$T/$b.log")"
    ok "refused at the handshake and logged: $what"
}
refused b1 "$P/stranger.pem" "$P/stranger.key" 'unknown issuer' "certificate under an unconfigured root"
refused b1 "$P/old.pem" "$P/old.key" 'rejected: expired' "expired certificate"
refused b1 "$P/rev.pem" "$P/rev.key" 'rejected: revoked' "revoked certificate (CRL)"
refused b2 "$P/ae.pem" "$P/ae.key" 'name mismatch.*names https://sp.example/Cae1' "AE-ID certificate where CSE-ID is required"
refused b2 "$P/wild.pem" "$P/wild.key" 'name mismatch.*names [*][.]sp[.]example' "wildcard SAN with a valid chain"
# Raw key with the wrong digest.
if "$CLI" connect --to "$ADDR_b3" --rawpk "$P/rk2.key" --peer-flavour cse-id --peer-id cse-b.sp.example \
    --peer-ca "$P/vroot/ca.pem" --origin x >"$T/r.out" 2>&1; then
    fail "raw key with another digest accepted"
fi
logged b3 'event=handshake_failed .*error=.*public key identifier mismatch' || fail "B logged no raw key reason: $(tail -n 3 "$T/b3.log")"
ok "refused at the handshake and logged: raw public key digest mismatch"
# No client certificate at all (gnutls-cli with only the anchor).
PORT1=${ADDR_b1##*:}
printf 'GET / HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: x\r\nX-M2M-RI: r\r\nConnection: close\r\n\r\n' |
    timeout 10 gnutls-cli 127.0.0.1 -p "$PORT1" --x509cafile "$P/vroot/ca.pem" \
        --verify-hostname cse-b.sp.example --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2' >"$T/nc.out" 2>&1 || true
grep -q 'X-M2M-RSC' "$T/nc.out" && fail "a client without certificate was served"
logged b1 'event=handshake_failed .*error=.*rejected: no certificate' || fail "B logged no reason for the missing certificate"
ok "refused at the handshake and logged: client without a certificate"

# --- refusals on Entity A's side ---
if "$CLI" connect --to "$ADDR_b1" --peer-flavour cse-id --peer-id cse-x.sp.example \
    --peer-ca "$P/vroot/ca.pem" --cert "$P/a.pem" --key "$P/a.key" --origin x >"$T/r.out" 2>&1; then
    fail "Entity B with another name accepted"
fi
grep -q 'name mismatch' "$T/r.out" || fail "wrong IdB: $(cat "$T/r.out")"
if "$CLI" connect --to "$ADDR_b1" --peer-flavour cse-id --peer-id cse-b.sp.example \
    --peer-ca "$P/other/ca.pem" --cert "$P/a.pem" --key "$P/a.key" --origin x >"$T/r.out" 2>&1; then
    fail "Entity B under an unconfigured root accepted"
fi
grep -q 'handshake refused' "$T/r.out" || fail "unknown root for B: $(cat "$T/r.out")"
ok "Entity A refuses Entity B with a valid chain but another name, and under another root"

# --- raw public keys (RFC 7250) ---
"$CLI" connect --to "$ADDR_b3" --rawpk "$P/rk1.key" --peer-flavour cse-id --peer-id cse-b.sp.example \
    --peer-ca "$P/vroot/ca.pem" --origin "30-$RK1" --json >"$T/rk.json" 2>"$T/rk.err" \
    || fail "raw key client refused: $(cat "$T/rk.err")"
[ "$(json_get "$T/rk.json" 'j["peer"]')" = "30-$RK1" ] || fail "raw key binding: $(cat "$T/rk.json")"
ok "raw public key: bound to the Credential-ID 30-<RFC 6920 name>"
PORT3=${ADDR_b3##*:}
printf 'GET / HTTP/1.1\r\nHost: cse-b.sp.example\r\nX-M2M-Origin: 30-%s\r\nX-M2M-RI: g1\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n' "$RK1" |
    timeout 10 gnutls-cli 127.0.0.1 -p "$PORT3" --x509cafile "$P/vroot/ca.pem" \
        --verify-hostname cse-b.sp.example --sni-hostname cse-b.sp.example \
        --rawpkfile "$P/rk1.pub" --rawpkkeyfile "$P/rk1.key" \
        --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2:+CTYPE-CLI-RAWPK:+CTYPE-SRV-X509' >"$T/g.out" 2>&1 \
    || fail "gnutls-cli raw key: $(tail -n 5 "$T/g.out")"
grep -q 'X-M2M-RSC: 2000' "$T/g.out" || fail "gnutls-cli raw key not served: $(tail -n 5 "$T/g.out")"
grep -q "\"peer\":\"30-$RK1\"" "$T/g.out" || fail "gnutls-cli raw key binding"
ok "gnutls-cli (independent RFC 7250 client) completes a raw key handshake with Entity B"

# --- app rules (serviceSubscribedAppRule, 8.2.1) ---
cert_connect "$ADDR_b1" --cert "$P/dev.pem" --key "$P/dev.key" --origin Clamp7 \
    --register-ae Rlight-v2 --json >"$T/reg.json" 2>"$T/reg.err" \
    || fail "allowed AE registration refused: $(cat "$T/reg.err")"
[ "$(json_get "$T/reg.json" 'j["aei"]')" = Clamp7 ] || fail "registration answer: $(cat "$T/reg.json")"
ok "AE registration allowed by a rule for the device's Credential-ID: 2001"
for bad in "Cheater:Rlight" "Clamp7:Rheater"; do
    if cert_connect "$ADDR_b1" --cert "$P/dev.pem" --key "$P/dev.key" --origin "${bad%%:*}" \
        --register-ae "${bad##*:}" >/dev/null 2>"$T/reg.err"; then
        fail "AE registration $bad accepted"
    fi
    grep -q 4126 "$T/reg.err" || fail "registration $bad: $(cat "$T/reg.err")"
done
logged b1 'event=ae_refused .*origin=Cheater .*reason=' || fail "B logged no app rule refusal"
ok "AE-ID or App-ID outside the rule: refused 4126 (APP_RULE_VALIDATION_FAILED), logged"
if cert_connect "$ADDR_b1" --cert "$P/node.pem" --key "$P/node.key" --origin Clamp7 \
    --register-ae Rlight >/dev/null 2>"$T/reg.err"; then
    fail "a credential without rules registered an AE"
fi
grep -q 4126 "$T/reg.err" || fail "no rule: $(cat "$T/reg.err")"
ok "a credential no rule lists cannot register an AE"
"$CLI" connect --to "$ADDR_b1" --key-id kp1@sp.example --psk-file "$P/kpsa.hex" --origin Cm1 \
    --register-ae Rmeter --json >/dev/null 2>"$T/reg.err" || fail "PSK AE registration: $(cat "$T/reg.err")"
if "$CLI" connect --to "$ADDR_b1" --key-id kp1@sp.example --psk-file "$P/kpsa.hex" --origin Sm1 \
    --register-ae Rmeter >/dev/null 2>"$T/reg.err"; then
    fail "PSK AE registration outside the rule accepted"
fi
grep -q 4126 "$T/reg.err" || fail "PSK rule refusal: $(cat "$T/reg.err")"
ok "the rules apply to PSK sessions too (Credential-ID 12-<KpsaID>)"
if cert_connect "$ADDR_b1" --cert "$P/a.pem" --key "$P/a.key" --origin Clamp7 --register-ae Rlight \
    >/dev/null 2>"$T/reg.err"; then
    fail "a CSE-ID session registered another id"
fi
grep -q 4106 "$T/reg.err" || fail "CSE-ID session registration: $(cat "$T/reg.err")"
cert_connect "$ADDR_b1" --cert "$P/a.pem" --key "$P/a.key" --origin cse-a.sp.example \
    --register-ae Rany >/dev/null 2>"$T/reg.err" || fail "own-id registration: $(cat "$T/reg.err")"
ok "a CSE-ID certificate session registers only its own id (4106 otherwise)"

# --- Entity A's key on a PKCS#11 token (SoftHSM2) ---
if command -v softhsm2-util >/dev/null; then
    mkdir -p "$T/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$T/tokens" >"$T/softhsm2.conf"
    export SOFTHSM2_CONF="$T/softhsm2.conf"
    softhsm2-util --init-token --free --label m2msec --pin 1234 --so-pin 5678 >/dev/null
    softhsm2-util --import "$P/a.key" --token m2msec --label akey --id 01 --pin 1234 >/dev/null
    cert_connect "$ADDR_b1" --cert "$P/a.pem" --key "pkcs11:token=m2msec;object=akey;type=private;pin-value=1234" \
        --origin cse-a.sp.example --json >"$T/p11.json" 2>"$T/p11.err" || fail "pkcs11 key: $(cat "$T/p11.err")"
    [ "$(json_get "$T/p11.json" 'j["peer"]')" = cse-a.sp.example ] || fail "pkcs11 binding"
    ok "Entity A's private key on a PKCS#11 token"
else
    echo "skip - softhsm2-util not installed: PKCS#11 key not tested"
fi

done_tests
