#!/usr/bin/env bash
# make demo: flows 1, 2, 5, 6 and 7 of docs/ARCHITECTURE.md, step by step, with real daemons:
# a device enrols with mefd over TLS 1.2 PSK (TS-0003 8.3.2.1), the MAF fetches its Km, the device
# registers with mafd, registers a key for Entity B, and connects to Entity B (`m2msec cse`) with it
# (MAF-based SAEF) and with a Kpsa from the MEF (PSK SAEF).
# Everything runs on 127.0.0.1 in a temporary directory that is removed at the end.
set -euo pipefail

BIN=${1:-build/bin}
BIN=$(cd "$BIN" && pwd)
D=$(mktemp -d /tmp/m2msec-demo.XXXXXX)
MEF_PID=""
MAF_PID=""
CSE_PID=""
cleanup() {
    [ -n "$CSE_PID" ] && kill -KILL "$CSE_PID" 2>/dev/null || true
    [ -n "$MEF_PID" ] && kill -KILL "$MEF_PID" 2>/dev/null || true
    [ -n "$MAF_PID" ] && kill -KILL "$MAF_PID" 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

jq1() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

step "1. The operator initialises the MEF (configuration, key-encryption key, SQLite store)"
run "$BIN/mefd" init -d "$D/mef" --fqdn mef.demo.example --listen 127.0.0.1:0 \
    --dev-pki --target-listen 127.0.0.1:0
# The demo shows every protocol step in the log; production would keep log_level = info.
sed -i 's/^log_level = .*/log_level = debug/' "$D/mef/mefd.conf"
echo "(log_level set to debug in $D/mef/mefd.conf so the log shows each step)"

step "2. Kpm/KpmID are pre-provisioned on the device and registered at the MEF"
python3 -c 'import os; print(os.urandom(32).hex())' >"$D/device.kpm"
chmod 600 "$D/device.kpm"
echo "(Kpm written to $D/device.kpm, mode 0600; it is never printed)"
run "$BIN/mefd" enrolee add -d "$D/mef" --kpm-id device-0001 --kpm-file "$D/device.kpm" \
    --enrolee-id /cse-gw-0001 --target maf.demo.example --target /cse-in-0001 --expiry 86400 \
    --instruct-maf https://maf.demo.example:8443 --instruct-rm https://dm.demo.example/lwm2m
echo "(its Enrolment Targets: the MAF, and the IN-CSE /cse-in-0001 for a PSK SAEF via the MEF)"
echo "Entity B, the IN-CSE, is provisioned the same way (it will register with the MAF too):"
python3 -c 'import os; print(os.urandom(32).hex())' >"$D/cse.kpm"
chmod 600 "$D/cse.kpm"
run "$BIN/mefd" enrolee add -d "$D/mef" --kpm-id cse-in-0001 --kpm-file "$D/cse.kpm" \
    --enrolee-id /cse-in-0001 --target maf.demo.example --expiry 86400

step "2b. The MAF is configured as an Enrolment Target, with a certificate from the development CA"
run "$BIN/mefd" pki issue -d "$D/mef" --fqdn maf.demo.example --cert "$D/maf.pem" --key "$D/maf.key"
run "$BIN/mefd" target add -d "$D/mef" --id maf.demo.example --cert-fqdn maf.demo.example --suid 21
echo "And the IN-CSE, as Enrolee B, may fetch Kpsa (SUID 22) for the Enrolees that name it:"
run "$BIN/mefd" pki issue -d "$D/mef" --fqdn cse-in.demo.example --cert "$D/cse.pem" --key "$D/cse.key"
run "$BIN/mefd" target add -d "$D/mef" --id /cse-in-0001 --cert-fqdn cse-in.demo.example --suid 22

step "2c. A second device has a manufacturer certificate instead of a Kpm (certificate RSPF, flow 3)"
echo "(m2msec-pki makes a development manufacturer root and the device certificate;"
echo " a real device gets its certificate at manufacture)"
run "$BIN/m2msec-pki" ca --out "$D/mfr" --name "Demo manufacturer root"
run "$BIN/m2msec-pki" issue --ca "$D/mfr" --profile device --id 0.2.481.1.42.7.1001 --out "$D/dev2"
run "$BIN/mefd" enrolee add -d "$D/mef" --cert-flavour device --cert-id 0.2.481.1.42.7.1001 \
    --cert-ca "$D/mfr/ca.pem" --enrolee-id /cse-gw-0002 --target maf.demo.example --expiry 86400

step "2d. Field nodes with enterprise Node-ID certificates get a root credential for the MAF (PKI bootstrap, seed 002)"
echo "(a node class says which certificate identities get which credential; no class, nothing)"
run "$BIN/m2msec-pki" ca --out "$D/ent" --name "Demo enterprise root"
run "$BIN/m2msec-pki" issue --ca "$D/ent" --profile node-id --id 1.3.6.1.4.1.59999.1.7 --out "$D/node"
run "$BIN/mefd" bootclass add -d "$D/mef" --name plant-nodes --cert-flavour node-id \
    --id-prefix urn:oid:1.3.6.1.4.1.59999.1. --cert-ca "$D/ent/ca.pem" \
    --purpose maf:maf.demo.example --lifetime 86400

step "3. mefd starts (foreground daemon; logs as key=value lines)"
"$BIN/mefd" serve -d "$D/mef" 2>"$D/mefd.log" &
MEF_PID=$!
for _ in $(seq 1 100); do
    ADDR=$(grep -o 'event=listening addr=[^ ]*' "$D/mefd.log" 2>/dev/null | sed 's/.*addr=//' || true)
    TADDR=$(grep -o 'event=targets_listening addr=[^ ]*' "$D/mefd.log" 2>/dev/null | sed 's/.*addr=//' || true)
    [ -n "$ADDR" ] && [ -n "$TADDR" ] && break
    sleep 0.1
done
[ -n "$ADDR" ] || { echo "mefd did not start"; cat "$D/mefd.log"; exit 1; }
echo "mefd (pid $MEF_PID): devices on $ADDR, Enrolment Targets on $TADDR (mutual TLS)"

step "4. The device enrols: PSK handshake, Ke/KeID export, Enrolment Exchange"
run "$BIN/m2msec" enrol --mef "$ADDR" --sni mef.demo.example --kpm-id device-0001 \
    --kpm-file "$D/device.kpm" --state "$D/device"

step "5. Both sides hold the same KeID and the same Ke (compared by key check value)"
run "$BIN/m2msec" state --state "$D/device"
run "$BIN/mefd" enrolee show -d "$D/mef" --kpm-id device-0001
dev=$("$BIN/m2msec" state --state "$D/device" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kcv"])')
mef=$("$BIN/mefd" enrolee show -d "$D/mef" --kpm-id device-0001 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ke"]["kcv"])')
if [ "$dev" = "$mef" ]; then echo "key check values match: $dev"; else echo "MISMATCH"; exit 1; fi

step "5a. The certificate device enrols: mutual certificate TLS on the same port, then the same exchange"
echo "(each side checks the other's name and root: mefd's FQDN certificate against the development CA,"
echo " the device's M2M Device ID against the manufacturer root configured for that Enrolee)"
run "$BIN/m2msec" enrol --mef "$ADDR" --sni mef.demo.example --cert "$D/dev2.pem" --key "$D/dev2.key" \
    --mef-ca "$D/mef/pki/ca.pem" --state "$D/device2"
run "$BIN/mefd" enrolee show -d "$D/mef" --cert-id 0.2.481.1.42.7.1001

step "5b. The MAF receives the KeID and fetches Km from mefd (TS-0003 8.3.2.1, flow 2)"
KEID=$("$BIN/m2msec" state --state "$D/device" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["keid"])')
echo "$ GET /fetchCredentials/$KEID/21  (openssl s_client with the MAF's certificate)"
printf 'GET /fetchCredentials/%s/21 HTTP/1.1\r\nHost: mef.demo.example\r\nX-M2M-Origin: maf.demo.example\r\nX-M2M-RI: demo-1\r\nConnection: close\r\n\r\n' "$KEID" |
    openssl s_client -quiet -connect "$TADDR" -tls1_2 -cert "$D/maf.pem" -key "$D/maf.key" \
        -CAfile "$D/mef/pki/ca.pem" -servername mef.demo.example 2>/dev/null >"$D/fetch.out" || true
BODY=$(python3 -c 'import sys; t=open(sys.argv[1],newline="").read(); print(t[t.index("\r\n\r\n")+4:])' "$D/fetch.out")
echo "$BODY" | python3 -c 'import json,sys; j=json.load(sys.stdin); j["Credential"]="(32 bytes, not shown)"; print(json.dumps(j))'
MAF_KCV=$(echo "$BODY" | python3 -c 'import base64,hmac,hashlib,json,sys; k=base64.b64decode(json.load(sys.stdin)["Credential"]); print(hmac.new(k,b"m2msec key check value",hashlib.sha256).hexdigest()[:16])')
run "$BIN/m2msec" state --state "$D/device" --derive 21:maf.demo.example
DEV_KCV=$("$BIN/m2msec" state --state "$D/device" --derive 21:maf.demo.example --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["derived"]["kcv"])')
if [ "$MAF_KCV" = "$DEV_KCV" ]; then echo "the MAF's Km and the device's Km match (kcv $DEV_KCV)"; else echo "MISMATCH"; exit 1; fi

step "5c. mafd starts and the device registers with it using its KeID (flow 5, TS-0003 8.8.2.3)"
run "$BIN/mafd" init -d "$D/maf" --fqdn maf.demo.example --listen 127.0.0.1:0 \
    --mef-ca "$D/mef/pki/ca.pem" --cert "$D/maf.pem" --key "$D/maf.key" --mef "mef.demo.example=$TADDR"
"$BIN/mafd" serve -d "$D/maf" 2>"$D/mafd.log" &
MAF_PID=$!
for _ in $(seq 1 100); do
    MADDR=$(grep -o 'event=listening addr=[^ ]*' "$D/mafd.log" 2>/dev/null | sed 's/.*addr=//' || true)
    [ -n "$MADDR" ] && break
    sleep 0.1
done
[ -n "$MADDR" ] || { echo "mafd did not start"; cat "$D/mafd.log"; exit 1; }
echo "mafd (pid $MAF_PID) listening on $MADDR"
echo "(mafd fetches Km from mefd while the device's handshake waits, then assigns a KmID)"
run "$BIN/m2msec" maf register --maf "$MADDR" --sni maf.demo.example --admin-fqdn sp.demo.example \
    --state "$D/device"
MAF_KCV=$("$BIN/mafd" client list -d "$D/maf" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["kcv"])')
if [ "$MAF_KCV" = "$DEV_KCV" ]; then echo "Km held by mafd matches the device's (kcv $DEV_KCV)"; else echo "MISMATCH"; exit 1; fi
echo "A second registration uses the assigned KmID as psk_identity (MAF Handshake):"
run "$BIN/m2msec" maf register --maf "$MADDR" --sni maf.demo.example --admin-fqdn other-sp.demo.example \
    --state "$D/device"

step "5d. The field node bootstraps: mutual certificate TLS, RootCredentialWrapKey exported, key unwrapped"
echo "(mefd sends a fresh 32-byte root credential AES-256 key-wrapped (RFC 3394) under the exported key;"
echo " the node checks the wrap's integrity, stores it sealed, and uses it as its Km with the MAF)"
run "$BIN/m2msec" bootstrap --mef "$ADDR" --sni mef.demo.example --cert "$D/node.pem" \
    --key "$D/node.key" --mef-ca "$D/mef/pki/ca.pem" --state "$D/node"
run "$BIN/m2msec" maf register --maf "$MADDR" --sni maf.demo.example --admin-fqdn sp.demo.example \
    --state "$D/node"

step "6. MAF Key Registration and Retrieval (flow 6, TS-0003 8.8.2.7 / 8.8.2.8)"
echo "Entity B enrols and registers with the MAF like any device:"
run "$BIN/m2msec" enrol --mef "$ADDR" --sni mef.demo.example --kpm-id cse-in-0001 \
    --kpm-file "$D/cse.kpm" --state "$D/cse" --quiet
run "$BIN/m2msec" maf register --maf "$MADDR" --sni maf.demo.example --admin-fqdn sp.demo.example \
    --state "$D/cse" --quiet
echo "The device registers Kc (its MAF session's exporter output) for Entity B, SUID 32 (SAEF):"
KEY=$("$BIN/m2msec" maf keyreg --maf "$MADDR" --sni maf.demo.example --target /cse-in-0001 --suid 32 \
    --state "$D/device" --json --quiet)
echo "$KEY"
KEY_ID=$(echo "$KEY" | jq1 key_id)
echo "Entity B retrieves it (only a listed target may):"
run "$BIN/m2msec" maf keyget --maf "$MADDR" --sni maf.demo.example --key-id "$KEY_ID" --state "$D/cse"
B_KCV=$("$BIN/m2msec" maf keyget --maf "$MADDR" --sni maf.demo.example --key-id "$KEY_ID" \
    --state "$D/cse" --json --quiet | jq1 kcv)
if [ "$B_KCV" = "$(echo "$KEY" | jq1 kcv)" ]; then echo "same Kc on both sides (kcv $B_KCV)"; else echo "MISMATCH"; exit 1; fi

step "7. MAF-based SAEF (flow 7, TS-0003 8.2.2.3): the device connects to Entity B with the Key Identifier"
echo "Entity B (m2msec cse) resolves psk_identity: a Key Identifier of its MAF -> MAF Key Retrieval,"
echo "a KeID of its MEF -> fetchCredentials (SUID 22); keys are cached until they expire."
"$BIN/m2msec" cse -d "$D/cse" --listen 127.0.0.1:0 --id /cse-in-0001 \
    --maf "$MADDR" --maf-fqdn maf.demo.example \
    --mef "$TADDR" --mef-fqdn mef.demo.example --cert "$D/cse.pem" --key "$D/cse.key" \
    --ca "$D/mef/pki/ca.pem" --log "$D/cse.log" >"$D/cse.out" 2>&1 &
CSE_PID=$!
for _ in $(seq 1 100); do
    CADDR=$(sed -n 's/^listening //p' "$D/cse.out" 2>/dev/null || true)
    [ -n "$CADDR" ] && break
    sleep 0.1
done
[ -n "$CADDR" ] || { echo "m2msec cse did not start"; cat "$D/cse.out"; exit 1; }
echo "Entity B (pid $CSE_PID) listening on $CADDR"
run "$BIN/m2msec" connect --to "$CADDR" --sni cse-in.demo.example --key-id "$KEY_ID" --state "$D/device"
echo "A second connection uses Entity B's cached Kc (no new retrieval):"
run "$BIN/m2msec" connect --to "$CADDR" --sni cse-in.demo.example --key-id "$KEY_ID" --state "$D/device"
sleep 0.2
run "$BIN/m2msec" cse stats -d "$D/cse"
echo "A request naming another originator is refused (4106):"
if "$BIN/m2msec" connect --to "$CADDR" --sni cse-in.demo.example --key-id "$KEY_ID" \
    --state "$D/device" --origin /someone-else; then
    echo "UNEXPECTED: accepted"; exit 1
fi

step "7b. PSK SAEF via the MEF (TS-0003 8.2.2.1, SUID 22): the device presents its KeID to Entity B"
echo "Entity B fetches Kpsa = 10.3.7(Ke, 22, /cse-in-0001) from mefd as Enrolment Target; the device"
echo "derives the same key from its Ke."
run "$BIN/m2msec" connect --to "$CADDR" --sni cse-in.demo.example --key-id "$KEID" \
    --peer-id /cse-in-0001 --state "$D/device"

step "8. MEF Client Registration and Configuration Retrieval (TS-0003 8.3.5.2.3/4)"
REG=$("$BIN/m2msec" mef register --mef "$ADDR" --sni mef.demo.example --kpm-id device-0001 \
    --kpm-file "$D/device.kpm" --admin-fqdn sp.demo.example --json --quiet)
echo "$REG"
REG_ID=$(echo "$REG" | jq1 reg_id)
run "$BIN/m2msec" mef config --mef "$ADDR" --sni mef.demo.example --kpm-id device-0001 \
    --kpm-file "$D/device.kpm" --reg-id "$REG_ID" --quiet

step "9. A wrong Kpm is refused at the handshake"
python3 -c 'import os; print(os.urandom(32).hex())' >"$D/wrong.kpm"
if "$BIN/m2msec" enrol --mef "$ADDR" --kpm-id device-0001 --kpm-file "$D/wrong.kpm" \
    --state "$D/intruder" --quiet; then
    echo "UNEXPECTED: wrong key accepted"; exit 1
fi

step "9b. Identity-based credentials (seed 000, flow 8): the MEF's PKG issues ECCSI credentials"
run "$BIN/mefd" pkg init -d "$D/mef" --key-period 86400
for n in a b; do
    python3 -c 'import os; print(os.urandom(32).hex())' >"$D/ibc-$n.kpm"
    chmod 600 "$D/ibc-$n.kpm"
    run "$BIN/mefd" enrolee add -d "$D/mef" --kpm-id "ibc-$n" --kpm-file "$D/ibc-$n.kpm" \
        --enrolee-id "/cse-ibc-$n" --expiry 86400
done
echo "(each device asks for an IBC credential for its ID1 in the Enrolment Exchange; the MEF builds"
echo " ID2 = FQDN|EXPIRY|ID1, issues (SSK, PVT) under its KPAK, and the device validates before storing)"
for n in a b; do
    run "$BIN/m2msec" enrol --mef "$ADDR" --sni mef.demo.example --kpm-id "ibc-$n" \
        --kpm-file "$D/ibc-$n.kpm" --state "$D/ibc-$n" --no-maf --no-rm --ibc
done
run "$BIN/m2msec" ibc show --state "$D/ibc-a"

step "10. What the daemons logged (no key material, only identifiers and key check values)"
grep -E 'event=(listening|targets_listening|enrolled|credential_fetched|mef_client_registered|handshake_failed)' "$D/mefd.log" | cut -c1-200
grep -E 'event=(maf_client_registered|maf_key_registered|maf_key_retrieved)' "$D/mafd.log" | cut -c1-200
grep -E 'event=(psk_retrieval|psk_resolved|request)' "$D/cse.log" | cut -c1-200

step "11. Entity B, mafd and mefd stop gracefully on SIGTERM"
kill -TERM "$CSE_PID"
wait "$CSE_PID"
echo "m2msec cse exited with status $?"
CSE_PID=""
kill -TERM "$MAF_PID"
wait "$MAF_PID"
echo "mafd exited with status $?"
MAF_PID=""
kill -TERM "$MEF_PID"
wait "$MEF_PID"
echo "mefd exited with status $?"
MEF_PID=""

step "12. With no server running, the two devices authenticate each other (IBC-SIGMA, then TLS-PSK)"
echo "(three ECCSI-signed messages over an ephemeral ECDH agree on Kpsa/KpsaID; TLS 1.2 PSK then runs"
echo " on the same connection and carries one oneM2M request)"
"$BIN/m2msec" ibc listen --state "$D/ibc-b" --listen 127.0.0.1:0 --peer /cse-ibc-a --once \
    >"$D/ibc-listen.out" 2>&1 &
IBC_PID=$!
for _ in $(seq 1 100); do
    IADDR=$(sed -n 's/^listening \([^ ]*\).*/\1/p' "$D/ibc-listen.out" 2>/dev/null || true)
    [ -n "$IADDR" ] && break
    sleep 0.1
done
[ -n "$IADDR" ] || { echo "m2msec ibc listen did not start"; cat "$D/ibc-listen.out"; exit 1; }
run "$BIN/m2msec" ibc connect --state "$D/ibc-a" --to "$IADDR" --peer /cse-ibc-b
wait "$IBC_PID"
echo "the listener (device B) saw:"
cat "$D/ibc-listen.out"
echo
echo "demo complete"
