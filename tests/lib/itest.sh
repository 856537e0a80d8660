# tests/lib/itest.sh - shared helpers for the shell integration and interop tests.
#
# Sourced by tests/{integration,interop}/*.sh. CTest sets M2MSEC_BIN (the built
# binaries) and M2MSEC_SRC (the source tree). Every test runs in its own temp
# directory, starts real daemons on 127.0.0.1 with ephemeral ports, and stops
# them on exit. Output: one "ok - ..." line per check; the first failure prints
# "FAIL: ..." with context and exits 1.

set -euo pipefail

BIN=${M2MSEC_BIN:?M2MSEC_BIN must point at the built binaries}
SRC=${M2MSEC_SRC:?M2MSEC_SRC must point at the source tree}
MEFD="$BIN/mefd"
CLI="$BIN/m2msec"
T=$(mktemp -d /tmp/m2msec-test.XXXXXX)
PIDS=()
NCHECK=0

cleanup() {
    local p
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    for f in "$T"/*/mefd.log; do
        [ -f "$f" ] && { echo "--- $f (last 30 lines)" >&2; tail -n 30 "$f" >&2; }
    done
    exit 1
}

ok() {
    NCHECK=$((NCHECK + 1))
    echo "ok - $*"
}

# json_get FILE|- EXPR: evaluate a Python expression on the parsed JSON (j).
json_get() {
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1]) if sys.argv[1]!="-" else sys.stdin); v=eval(sys.argv[2]); print("" if v is None else (json.dumps(v) if isinstance(v,(dict,list,bool)) else v))' "$@"
}

# mefd_init DIR FQDN [init args...]: a fresh MEF directory with short timeouts for tests.
mefd_init() {
    local dir=$1 fqdn=$2
    shift 2
    "$MEFD" init -d "$dir" --fqdn "$fqdn" --listen 127.0.0.1:0 "$@" >/dev/null
    set -- "$dir"
    sed -i -e 's/^idle_timeout_ms = .*/idle_timeout_ms = 2000/' \
           -e 's/^handshake_timeout_ms = .*/handshake_timeout_ms = 3000/' \
           -e 's/^sweep_interval_s = .*/sweep_interval_s = 1/' \
           -e 's/^workers = .*/workers = 4/' "$1/mefd.conf"
}

# mefd_start DIR: start `mefd serve`, wait for it to listen; sets MEF_ADDR, MEF_PORT, TGT_ADDR
# (when a target service is configured) and MEF_PID. Only lines this run logs count: the log
# may hold the addresses of earlier runs.
mefd_start() {
    local dir=$1 i before tbefore with_tgt=0
    before=$(grep -c 'event=listening' "$dir/mefd.log" 2>/dev/null || true)
    tbefore=$(grep -c 'event=targets_listening' "$dir/mefd.log" 2>/dev/null || true)
    grep -q '^target_listen *= *[0-9\[]' "$dir/mefd.conf" && with_tgt=1
    "$MEFD" serve -d "$dir" 2>>"$dir/mefd.log" &
    MEF_PID=$!
    PIDS+=("$MEF_PID")
    for i in $(seq 1 100); do
        kill -0 "$MEF_PID" 2>/dev/null || fail "mefd exited during start-up"
        if [ "$(grep -c 'event=listening' "$dir/mefd.log" 2>/dev/null || true)" -gt "${before:-0}" ] &&
            { [ "$with_tgt" = 0 ] ||
                [ "$(grep -c 'event=targets_listening' "$dir/mefd.log" || true)" -gt "${tbefore:-0}" ]; }; then
            MEF_ADDR=$(grep -o 'event=listening addr=[^ ]*' "$dir/mefd.log" | tail -n 1 | sed 's/.*addr=//')
            MEF_PORT=${MEF_ADDR##*:}
            TGT_ADDR=""
            if [ "$with_tgt" = 1 ]; then
                TGT_ADDR=$(grep -o 'event=targets_listening addr=[^ ]*' "$dir/mefd.log" | tail -n 1 | sed 's/.*addr=//')
            fi
            return 0
        fi
        sleep 0.1
    done
    fail "mefd did not start listening"
}

# mefd_stop: SIGTERM and expect a clean exit 0.
mefd_stop() {
    local rc=0
    kill -TERM "$MEF_PID"
    wait "$MEF_PID" || rc=$?
    [ "$rc" -eq 0 ] || fail "mefd exited with $rc after SIGTERM"
}

# add_enrolee DIR KPMID ENROLEEID EXPIRY [extra mefd args...]: Kpm written to $T/KPMID.kpm
add_enrolee() {
    local dir=$1 id=$2 eid=$3 exp=$4
    shift 4
    python3 -c 'import os; print(os.urandom(32).hex())' >"$T/$id.kpm"
    "$MEFD" enrolee add -d "$dir" --kpm-id "$id" --kpm-file "$T/$id.kpm" --enrolee-id "$eid" \
        --expiry "$exp" "$@" >/dev/null
}

# maf_setup MEFDIR MAFDIR FQDN: the MAF as an Enrolment Target of the MEF (certificate from the
# MEF's development CA, SUID 21) and `mafd init` against the MEF's target service (mefd must be
# running: uses TGT_ADDR). Short timeouts and a 1 s sweeper for tests. Sets MAFD.
maf_setup() {
    local mef=$1 maf=$2 fqdn=$3 meffqdn
    MAFD="$BIN/mafd"
    meffqdn=$(sed -n 's/^fqdn *= *//p' "$mef/mefd.conf" | head -n 1)
    "$MEFD" pki issue -d "$mef" --fqdn "$fqdn" --cert "$T/$fqdn.pem" --key "$T/$fqdn.key" >/dev/null
    "$MEFD" target add -d "$mef" --id "$fqdn" --cert-fqdn "$fqdn" --suid 21 >/dev/null
    "$MAFD" init -d "$maf" --fqdn "$fqdn" --listen 127.0.0.1:0 --mef-ca "$mef/pki/ca.pem" \
        --cert "$T/$fqdn.pem" --key "$T/$fqdn.key" --mef "$meffqdn=$TGT_ADDR" >/dev/null
    sed -i -e 's/^handshake_timeout_ms = .*/handshake_timeout_ms = 5000/' \
           -e 's/^sweep_interval_s = .*/sweep_interval_s = 1/' \
           -e 's/^workers = .*/workers = 4/' "$maf/mafd.conf"
}

# mafd_run DIR: start `mafd serve`, wait for this run's listening line; sets MAF_ADDR, MAF_PID.
mafd_run() {
    local dir=$1 i before
    before=$(grep -c 'event=listening' "$dir/mafd.log" 2>/dev/null || true)
    "$BIN/mafd" serve -d "$dir" 2>>"$dir/mafd.log" &
    MAF_PID=$!
    PIDS+=("$MAF_PID")
    for i in $(seq 1 100); do
        kill -0 "$MAF_PID" 2>/dev/null || fail "mafd exited during start-up: $(tail -n 5 "$dir/mafd.log")"
        if [ "$(grep -c 'event=listening' "$dir/mafd.log" 2>/dev/null || true)" -gt "${before:-0}" ]; then
            MAF_ADDR=$(grep -o 'event=listening addr=[^ ]*' "$dir/mafd.log" | tail -n 1 | sed 's/.*addr=//')
            return 0
        fi
        sleep 0.1
    done
    fail "mafd did not start listening"
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds; 1 if it never does.
wait_for() {
    local n=$(($1 * 10)) i
    shift
    for i in $(seq 1 "$n"); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# sqlite_count DB SQL: one integer from the store (read-only, python's sqlite3).
sqlite_count() {
    python3 -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True); print(c.execute(sys.argv[2]).fetchone()[0])' "$1" "$2"
}

# s_client_psk ID HEXKEY [openssl args...]: TLS 1.2 PSK client; request on stdin.
s_client_psk() {
    local id=$1 key=$2
    shift 2
    timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_2 -psk_identity "$id" -psk "$key" \
        -servername mef.test.example -ign_eof "$@" 2>&1
}

# http_req METHOD PATH ORIGIN BODY: an HTTP/1.1 request with oneM2M headers, Connection: close.
http_req() {
    local body=$4
    printf '%s %s HTTP/1.1\r\nHost: mef.test.example\r\nX-M2M-Origin: %s\r\nX-M2M-RI: req-1\r\nX-M2M-RVI: 3\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$1" "$2" "$3" "${#body}" "$body"
}

done_tests() {
    echo "$NCHECK passed, 0 failed"
}
