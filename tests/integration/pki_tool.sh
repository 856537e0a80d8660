#!/usr/bin/env bash
# m2msec-pki end to end: a manufacturer, an enterprise and a (name-constrained)
# vertical root, every certificate flavour, raw keys, CRLs; then real TLS 1.2
# handshakes (m2msec-pki serve / connect, openssl and gnutls-cli as outside
# peers) where each flavour passes with its identifier and each bad case is
# refused at the handshake with its reason. The RFC 6920 names are checked
# against python's SHA-256 of openssl's DER SubjectPublicKeyInfo.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

PKI="$BIN/m2msec-pki"
HWID=0.2.481.1.100.3030.10011
NODE=1.3.6.1.4.1.55555.7.1
CSE=cse1.example.com
AE=https://sp.example.com/CAE01
MEF=mef.example.com
cd "$T"

# ---------------------------------------------------------------- generation
"$PKI" ca --out mfr --name "Manufacturer Root" >/dev/null
"$PKI" ca --out ent --name "Enterprise Root" >/dev/null
"$PKI" ca --out vert --name "Vertical Root" --name-constraint DNS:example.com --days 400 >/dev/null
"$PKI" ca --out infra --name "Infrastructure Root" >/dev/null
"$PKI" ca --out other --name "Unconfigured Root" >/dev/null
"$PKI" issue --ca infra --profile fqdn --id "$MEF" --out mef >/dev/null
"$PKI" issue --ca mfr --profile device --id "$HWID" --out dev >/dev/null
"$PKI" issue --ca mfr --profile device --id "$HWID" --out devexp --expired >/dev/null
"$PKI" issue --ca mfr --profile device --id "$HWID" --out devrev >/dev/null
"$PKI" issue --ca other --profile device --id "$HWID" --out devother >/dev/null
"$PKI" issue --ca ent --profile node-id --id "$NODE" --out node >/dev/null
"$PKI" issue --ca vert --profile cse-id --id "$CSE" --out cse >/dev/null
"$PKI" issue --ca vert --profile ae-id --id "$AE" --out ae >/dev/null
"$PKI" issue --ca vert --profile fqdn --id mef.example.org --out outside >/dev/null
"$PKI" issue --ca infra --profile client --id maf.example.com --out cli >/dev/null
"$PKI" crl --ca mfr --revoke devrev.pem --out mfr.crl >/dev/null
RK1=$("$PKI" rawkey --out rk1)
RK2=$("$PKI" rawkey --out rk2)
ok "roots, every profile, a CRL and two raw keys generated"

for f in mfr/ca.key dev.key rk1.key; do
    [ "$(stat -c %a "$f")" = 600 ] || fail "$f is not 0600"
done
[ "$(stat -c %a dev.pem)" = 644 ] || fail "dev.pem is not 0644"
ok "keys 0600, certificates 0644"

# generator refusals: no overwrite, usage errors (2), bad identifiers (1)
before=$(sha256sum dev.pem dev.key)
if "$PKI" issue --ca mfr --profile device --id "$HWID" --out dev 2>err; then fail "overwrote dev"; fi
grep -q "exists" err || fail "overwrite: $(cat err)"
[ "$(sha256sum dev.pem dev.key)" = "$before" ] || fail "dev.pem/dev.key changed"
if "$PKI" ca --out mfr --name again 2>err; then fail "overwrote the CA"; fi
rc=0; "$PKI" issue --ca mfr --profile gadget --id x --out g 2>err || rc=$?
[ "$rc" = 2 ] && grep -q "unknown --profile" err || fail "bad profile: rc $rc $(cat err)"
rc=0; "$PKI" ca --out nc --name x --name-constraint URI:example.com 2>err || rc=$?
[ "$rc" = 2 ] || fail "URI name constraint accepted: rc $rc"
for bad in "device 0.2.481.1.1.2" "device 1.2.3.4.5.6" "ae-id //sp.example.com/CAE01" \
    "ae-id https://*.example.com/CAE01" "cse-id *.example.com" "node-id https://x.example/n" \
    "fqdn *.example.com" "fqdn bad_name.example.com"; do
    set -- $bad
    rc=0; "$PKI" issue --ca vert --profile "$1" --id "$2" --out bad 2>err || rc=$?
    [ "$rc" = 1 ] && grep -q "not a valid" err || fail "$1 $2: rc $rc $(cat err)"
    [ ! -e bad.pem ] && [ ! -e bad.key ] || fail "$1 $2 left files behind"
done
rc=0; "$PKI" issue --ca vert --profile fqdn --id "$MEF" --out x --days 0 2>err || rc=$?
[ "$rc" = 2 ] || fail "--days 0: rc $rc"
"$PKI" --help | grep -q "m2msec-pki COMMAND" || fail "--help"
rc=0; "$PKI" frobnicate 2>err || rc=$?
[ "$rc" = 2 ] || fail "unknown command: rc $rc"
ok "no overwrite; bad profiles, identifiers, constraints and options refused"

# the profiles as openssl sees them
openssl x509 -in dev.pem -noout -ext subjectAltName | grep -q "othername: 0.2.481.1::" ||
    fail "device SAN: $(openssl x509 -in dev.pem -noout -ext subjectAltName)"
# otherName: type-id the M2M Device Indication ID arc, value a RELATIVE-OID (tag 13) 100.3030.10011
san_off=$(openssl asn1parse -in dev.pem | grep -A1 "Subject Alternative Name" | tail -1 | sed 's/^ *\([0-9]*\):.*/\1/')
openssl asn1parse -in dev.pem -strparse "$san_off" -dump >san.txt
grep -q "OBJECT *:0.2.481.1$" san.txt && grep -q "prim: <ASN1 13>" san.txt || fail "device otherName: $(cat san.txt)"
openssl asn1parse -in dev.pem -strparse "$san_off" -out san.der >/dev/null
python3 - san.der <<'PY' || fail "device otherName value"
import sys
d = open(sys.argv[1], "rb").read()
i = d.index(b"\x0d\x05")
v, arcs = 0, []
for b in d[i + 2:i + 7]:
    v = (v << 7) | (b & 0x7f)
    if not b & 0x80:
        arcs.append(v)
        v = 0
sys.exit(0 if arcs == [100, 3030, 10011] else 1)
PY
openssl x509 -in node.pem -noout -ext subjectAltName | grep -q "URI:urn:oid:$NODE" || fail "node SAN"
openssl x509 -in cse.pem -noout -ext subjectAltName | grep -q "DNS:$CSE" || fail "cse SAN"
openssl x509 -in ae.pem -noout -ext subjectAltName | grep -q "URI:$AE" || fail "ae SAN"
openssl x509 -in vert/ca.pem -noout -text | grep -A2 "Name Constraints" | grep -q "DNS:example.com" ||
    fail "vertical root without its name constraint"
openssl x509 -in cli.pem -noout -text | grep -A1 "Extended Key Usage" | grep -q "Client" || fail "client EKU"
openssl x509 -in cli.pem -noout -text | grep -A1 "Extended Key Usage" | grep -q "Server" && fail "client EKU has serverAuth"
for c in dev node cse ae; do
    openssl x509 -in $c.pem -noout -text | grep -q "ASN1 OID: prime256v1" || fail "$c not P-256"
    openssl x509 -in $c.pem -noout -text | grep -q "Signature Algorithm: ecdsa-with-SHA256" || fail "$c not ECDSA-SHA256"
    openssl x509 -in $c.pem -noout -text | grep -A1 "Key Usage: critical" | grep -q "Digital Signature" ||
        fail "$c without digitalSignature"
done
openssl verify -CAfile mfr/ca.pem dev.pem >/dev/null || fail "openssl: device chain"
openssl verify -CAfile vert/ca.pem cse.pem >/dev/null || fail "openssl: cse chain"
if openssl verify -CAfile vert/ca.pem outside.pem >/dev/null 2>&1; then fail "openssl: constraint not violated"; fi
openssl verify -crl_check -CAfile mfr/ca.pem -CRLfile mfr.crl devrev.pem >/dev/null 2>&1 &&
    fail "openssl: revoked certificate verifies"
ok "SAN encodings, P-256 / ECDSA-SHA256, keyUsage, EKU, name constraint and CRL as openssl reads them"

# ---------------------------------------------------------------- RFC 6920
ni_py() { # ni_py PEM-PUBLIC-KEY-OR-PRIVATE-KEY
    local pubin=()
    grep -q "BEGIN PUBLIC KEY" "$1" && pubin=(-pubin)
    openssl pkey "${pubin[@]}" -in "$1" -pubout -outform DER 2>/dev/null |
        python3 -c 'import sys,hashlib,base64; d=sys.stdin.buffer.read(); print("ni:///sha-256;"+base64.urlsafe_b64encode(hashlib.sha256(d).digest()).decode().rstrip("="))'
}
[ "$RK1" = "$(ni_py rk1.key)" ] || fail "rawkey id $RK1 != python $(ni_py rk1.key)"
[ "$("$PKI" keyid rk1.pub)" = "$RK1" ] || fail "keyid of the public key"
[ "$("$PKI" keyid rk1.key)" = "$RK1" ] || fail "keyid of the private key"
[ "$("$PKI" keyid dev.pem)" = "$(ni_py dev.key)" ] || fail "keyid of a certificate"
openssl x509 -in dev.pem -pubkey -noout >dev.pub
[ "$(ni_py dev.pub)" = "$(ni_py dev.key)" ] || fail "python oracle disagrees with itself"
if "$PKI" keyid mfr.crl 2>/dev/null; then fail "keyid of a CRL"; fi
ok "RFC 6920 names equal python's sha-256 of openssl's DER SubjectPublicKeyInfo"

# ---------------------------------------------------------------- handshakes
# serve_start ARGS...: one-connection server in the background; sets SRV_ADDR, SRV_PID.
serve_start() {
    rm -f port srv.out
    "$PKI" serve --listen 127.0.0.1:0 --port-file port --count 1 "$@" >srv.out 2>&1 &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    for _ in $(seq 1 100); do
        [ -s port ] && break
        kill -0 "$SRV_PID" 2>/dev/null || fail "serve exited: $(cat srv.out)"
        sleep 0.05
    done
    [ -s port ] || fail "serve did not listen"
    SRV_ADDR=$(cat port)
}
serve_wait() {
    wait "$SRV_PID" || fail "serve failed: $(cat srv.out)"
}
MEF_SRV=(--cert mef.pem --key mef.key)
TO_MEF=(--peer-flavour fqdn --peer-id "$MEF" --peer-ca infra/ca.pem)

# accept FLAVOUR ID CA CLIENT-BASE WANT...: the server verifies the client as FLAVOUR/ID.
accept() {
    local fl=$1 id=$2 ca=$3 base=$4
    shift 4
    serve_start "${MEF_SRV[@]}" --peer-flavour "$fl" --peer-id "$id" --peer-ca "$ca"
    "$PKI" connect "$SRV_ADDR" "${TO_MEF[@]}" --cert "$base.pem" --key "$base.key" >cli.out 2>&1 ||
        fail "$fl $id: client: $(cat cli.out) / server: $(cat srv.out)"
    serve_wait
    grep -q "^verified $fl $* TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256$" srv.out ||
        fail "$fl $id: server saw: $(cat srv.out)"
}
# refuse REASON SERVE-ARGS... -- CONNECT-ARGS...: refused at the handshake, REASON on the server.
refuse() {
    local why=$1 a=() b=()
    shift
    while [ "$1" != "--" ]; do a+=("$1"); shift; done
    shift
    b=("$@")
    serve_start "${MEF_SRV[@]}" "${a[@]}"
    if "$PKI" connect "$SRV_ADDR" "${TO_MEF[@]}" "${b[@]}" >cli.out 2>&1; then
        fail "accepted, expected $why: $(cat srv.out)"
    fi
    serve_wait
    grep -q "^refused .*$why" srv.out || fail "expected \"$why\", server: $(cat srv.out)"
    grep -q "rejected our certificate\|requires a client certificate" cli.out ||
        fail "client did not learn of the refusal: $(cat cli.out)"
}

accept device "$HWID" mfr/ca.pem dev "$HWID" "31-$HWID"
refuse "name mismatch" --peer-flavour device --peer-id 0.2.481.1.100.3030.10012 --peer-ca mfr/ca.pem \
    -- --cert dev.pem --key dev.key
accept node-id "$NODE" ent/ca.pem node "$NODE" "34-$NODE"
refuse "name mismatch" --peer-flavour node-id --peer-id 1.3.6.1.4.1.55555.7.2 --peer-ca ent/ca.pem \
    -- --cert node.pem --key node.key
accept cse-id "$CSE" vert/ca.pem cse "$CSE" "32-$CSE"
refuse "name mismatch" --peer-flavour cse-id --peer-id cse2.example.com --peer-ca vert/ca.pem \
    -- --cert cse.pem --key cse.key
accept ae-id "$AE" vert/ca.pem ae "$AE" "33-$AE"
refuse "name mismatch" --peer-flavour ae-id --peer-id https://sp.example.com/CAE02 --peer-ca vert/ca.pem \
    -- --cert ae.pem --key ae.key
accept fqdn maf.example.com infra/ca.pem cli maf.example.com -
ok "every flavour accepted with its identifier, refused with another (same valid chain)"

# the identity read from the certificate (no identifier configured) and the ANY mode
serve_start "${MEF_SRV[@]}" --peer-flavour device --peer-ca mfr/ca.pem
"$PKI" connect "$SRV_ADDR" "${TO_MEF[@]}" --cert dev.pem --key dev.key >cli.out 2>&1 || fail "$(cat cli.out)"
serve_wait
grep -q "^verified device $HWID 31-$HWID " srv.out || fail "device without id: $(cat srv.out)"
serve_start "${MEF_SRV[@]}" --peer-flavour any --peer-ca ent/ca.pem --peer-ca mfr/ca.pem
"$PKI" connect "$SRV_ADDR" "${TO_MEF[@]}" --cert node.pem --key node.key >cli.out 2>&1 || fail "$(cat cli.out)"
serve_wait
grep -q "^verified none - - " srv.out || fail "any: $(cat srv.out)"
ok "identity read from the certificate when none is configured; ANY verifies the chain only"

# the client side: FQDN of the server, right and wrong
serve_start "${MEF_SRV[@]}" --no-client-cert
"$PKI" connect "$SRV_ADDR" "${TO_MEF[@]}" >cli.out 2>&1 || fail "fqdn: $(cat cli.out)"
serve_wait
grep -q "^verified fqdn $MEF - " cli.out || fail "fqdn client: $(cat cli.out)"
serve_start "${MEF_SRV[@]}" --no-client-cert
if "$PKI" connect "$SRV_ADDR" --peer-flavour fqdn --peer-id maf.example.com --peer-ca infra/ca.pem \
    >cli.out 2>&1; then fail "wrong server FQDN accepted"; fi
serve_wait
grep -q "name mismatch" cli.out || fail "wrong server FQDN: $(cat cli.out)"
ok "the client verifies the server's FQDN, and refuses another"

refuse "unknown issuer" --peer-flavour device --peer-id "$HWID" --peer-ca mfr/ca.pem \
    -- --cert devother.pem --key devother.key
ok "a valid name under an unconfigured root: refused (unknown issuer)"
refuse "expired" --peer-flavour device --peer-id "$HWID" --peer-ca mfr/ca.pem \
    -- --cert devexp.pem --key devexp.key
ok "expired certificate refused"
refuse "revoked" --peer-flavour device --peer-id "$HWID" --peer-ca mfr/ca.pem --peer-crl mfr.crl \
    -- --cert devrev.pem --key devrev.key
accept device "$HWID" mfr/ca.pem dev "$HWID" "31-$HWID" # (without the CRL: no status check)
ok "revoked certificate refused with the CRL"
refuse "constraints" --peer-flavour fqdn --peer-id mef.example.org --peer-ca vert/ca.pem \
    -- --cert outside.pem --key outside.key
ok "a leaf outside its root's name constraint refused"
refuse "no certificate" --peer-flavour device --peer-id "$HWID" --peer-ca mfr/ca.pem --
ok "client without a certificate refused"

# outside material: a wildcard SAN, an RSA and a P-384 leaf (openssl), presented by openssl
mkleaf() { # mkleaf NAME KEYALG SAN CA
    openssl req -new -newkey "$2" -nodes -keyout "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
    printf 'subjectAltName=%s\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth,serverAuth\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$4/ca.pem" -CAkey "$4/ca.key" -CAcreateserial -days 30 -sha256 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
mkleaf wild ec:<(openssl ecparam -name prime256v1) "DNS:*.example.com" vert
mkleaf rsa rsa:2048 "DNS:$CSE" vert
mkleaf p384 ec:<(openssl ecparam -name secp384r1) "DNS:$CSE" vert
refuse "name mismatch" --peer-flavour cse-id --peer-id "$CSE" --peer-ca vert/ca.pem \
    -- --cert wild.pem --key wild.key
refuse "no subjectAltName dNSName (CSE-ID)" --peer-flavour cse-id --peer-ca vert/ca.pem \
    -- --cert wild.pem --key wild.key
ok "wildcard SAN refused (with and without a configured CSE-ID)"
ossl_client() { # ossl_client CERT-BASE: openssl as the client, against serve
    timeout 20 openssl s_client -connect "$SRV_ADDR" -tls1_2 -cert "$1.pem" -key "$1.key" \
        -CAfile infra/ca.pem </dev/null >ossl.out 2>&1 || true
}
serve_start "${MEF_SRV[@]}" --peer-flavour cse-id --peer-id "$CSE" --peer-ca vert/ca.pem
ossl_client p384
serve_wait
grep -q "^refused .*wrong key type.*SECP384R1.*P-256 required" srv.out || fail "P-384 leaf: $(cat srv.out)"
ok "P-384 leaf refused (openssl client)"
serve_start "${MEF_SRV[@]}" --peer-flavour cse-id --peer-id "$CSE" --peer-ca vert/ca.pem
ossl_client rsa
serve_wait
grep -q "^refused .*\(wrong key type.*RSA\|no certificate\)" srv.out || fail "RSA leaf: $(cat srv.out)"
grep -q "^verified" srv.out && fail "RSA leaf accepted"
ok "RSA leaf refused (openssl client): $(sed -n 's/^refused //p' srv.out | head -c 160)"
rc=0; "$PKI" connect 127.0.0.1:1 "${TO_MEF[@]}" --cert rsa.pem --key rsa.key 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "ECDSA P-256 required" err || fail "our client loaded an RSA key: $(cat err)"
ok "our own side refuses to load an RSA key"

# ---------------------------------------------------------------- RFC 7250 raw public keys
serve_start "${MEF_SRV[@]}" --peer-flavour raw --peer-id "$RK1"
"$PKI" connect "$SRV_ADDR" "${TO_MEF[@]}" --key rk1.key >cli.out 2>&1 || fail "raw: $(cat cli.out) / $(cat srv.out)"
serve_wait
grep -q "^verified raw $RK1 30-$RK1 " srv.out || fail "raw: $(cat srv.out)"
refuse "public key identifier mismatch" --peer-flavour raw --peer-id "$RK1" -- --key rk2.key
ok "raw public key accepted by its RFC 6920 name, another key refused"
# raw keys both ways
serve_start --key rk2.key --peer-flavour raw --peer-id "$RK1"
"$PKI" connect "$SRV_ADDR" --peer-flavour raw --peer-id "$RK2" --key rk1.key >cli.out 2>&1 ||
    fail "raw both ways: $(cat cli.out) / $(cat srv.out)"
serve_wait
grep -q "^verified raw $RK2 30-$RK2 " cli.out || fail "raw client view: $(cat cli.out)"
ok "raw public keys on both sides"
if command -v gnutls-cli >/dev/null; then
    PRIO="NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+AES-128-CBC:+SHA256:+COMP-NULL:+GROUP-SECP256R1:+SIGN-ECDSA-SHA256:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK"
    serve_start --key rk2.key --peer-flavour raw --peer-id "$RK1"
    timeout 20 gnutls-cli --port "${SRV_ADDR##*:}" --no-ca-verification --priority "$PRIO" \
        --rawpkkeyfile rk1.key --rawpkfile rk1.pub 127.0.0.1 </dev/null >gc.out 2>&1 || true
    serve_wait
    grep -q "^verified raw $RK1 30-$RK1 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" srv.out ||
        fail "gnutls-cli raw key: $(cat srv.out) / $(cat gc.out)"
    serve_start --key rk2.key --peer-flavour raw --peer-id "$RK1"
    timeout 20 gnutls-cli --port "${SRV_ADDR##*:}" --no-ca-verification --priority "$PRIO" \
        --rawpkkeyfile rk2.key --rawpkfile rk2.pub 127.0.0.1 </dev/null >gc.out 2>&1 || true
    serve_wait
    grep -q "^refused .*public key identifier mismatch" srv.out || fail "gnutls-cli other key: $(cat srv.out)"
    ok "gnutls-cli (RFC 7250 client): its raw key accepted by name, another refused"
fi

done_tests
