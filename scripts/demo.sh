#!/usr/bin/env bash
# make demo: a device enrols with mefd over TLS 1.2 PSK (TS-0003 8.3.2.1), step by step.
# Everything runs on 127.0.0.1 in a temporary directory that is removed at the end.
set -euo pipefail

BIN=${1:-build/bin}
BIN=$(cd "$BIN" && pwd)
D=$(mktemp -d /tmp/m2msec-demo.XXXXXX)
MEF_PID=""
MAF_PID=""
cleanup() {
    [ -n "$MEF_PID" ] && kill -KILL "$MEF_PID" 2>/dev/null || true
    [ -n "$MAF_PID" ] && kill -KILL "$MAF_PID" 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

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
    --enrolee-id /cse-gw-0001 --target maf.demo.example --expiry 86400 \
    --instruct-maf https://maf.demo.example:8443 --instruct-rm https://dm.demo.example/lwm2m

step "2b. The MAF is configured as an Enrolment Target, with a certificate from the development CA"
run "$BIN/mefd" pki issue -d "$D/mef" --fqdn maf.demo.example --cert "$D/maf.pem" --key "$D/maf.key"
run "$BIN/mefd" target add -d "$D/mef" --id maf.demo.example --cert-fqdn maf.demo.example --suid 21

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

step "6. MEF Client Registration and Configuration Retrieval (TS-0003 8.3.5.2.3/4)"
REG=$("$BIN/m2msec" mef register --mef "$ADDR" --sni mef.demo.example --kpm-id device-0001 \
    --kpm-file "$D/device.kpm" --admin-fqdn sp.demo.example --json --quiet)
echo "$REG"
REG_ID=$(echo "$REG" | python3 -c 'import json,sys; print(json.load(sys.stdin)["reg_id"])')
run "$BIN/m2msec" mef config --mef "$ADDR" --sni mef.demo.example --kpm-id device-0001 \
    --kpm-file "$D/device.kpm" --reg-id "$REG_ID" --quiet

step "7. A wrong Kpm is refused at the handshake"
python3 -c 'import os; print(os.urandom(32).hex())' >"$D/wrong.kpm"
if "$BIN/m2msec" enrol --mef "$ADDR" --kpm-id device-0001 --kpm-file "$D/wrong.kpm" \
    --state "$D/intruder" --quiet; then
    echo "UNEXPECTED: wrong key accepted"; exit 1
fi

step "8. What mefd logged (no key material, only identifiers and key check values)"
grep -E 'event=(listening|targets_listening|session_open|enrolled|ke_batch|exchange_report|exchange_end|credential_fetched|mef_client_registered|handshake_failed)' "$D/mefd.log" | cut -c1-220

step "9. mafd and mefd stop gracefully on SIGTERM"
kill -TERM "$MAF_PID"
wait "$MAF_PID"
echo "mafd exited with status $?"
MAF_PID=""
kill -TERM "$MEF_PID"
wait "$MEF_PID"
echo "mefd exited with status $?"
MEF_PID=""
echo
echo "demo complete"
