#!/usr/bin/env bash
# MAF-based SAEF (TS-0003 8.2.2.3) end to end: real mefd, mafd, `m2msec cse`
# (Entity B) and `m2msec connect` (Entity A). A enrols, registers with the MAF
# (KeID), registers Kc for IdB (SUID 32) and connects to B with the Key
# Identifier; B retrieves Kc from mafd as a registered MAF client of its own,
# completes the handshake and binds the session to A's Enrolee-ID. The second
# connection uses B's cached Kc. Refusals: originator not the bound id (4106),
# a key registered for SUID 33, a key for another target (4103 at retrieval),
# an expired Kc (refused, row erased, no new retrieval; the client says
# re-provision). B and mafd restart mid-scenario: the cache and the
# registrations survive, nothing is duplicated, no new retrieval is needed.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MAFD="$BIN/mafd"
MEF="$T/mef"
MAF="$T/maf"
B="$T/s-b" # Entity B's state directory: it enrols and registers like any device
mefd_init "$MEF" mef.test.example --dev-pki --target-listen 127.0.0.1:0
"$MEFD" pki issue -d "$MEF" --fqdn maf.test.example --cert "$T/maf.pem" --key "$T/maf.key" >/dev/null
"$MEFD" target add -d "$MEF" --id maf.test.example --cert-fqdn maf.test.example --suid 21 >/dev/null
add_enrolee "$MEF" dev-a /cse-a 3600 --target maf.test.example
add_enrolee "$MEF" b /cse-b 3600 --target maf.test.example
mefd_start "$MEF"

"$MAFD" init -d "$MAF" --fqdn maf.test.example --listen 127.0.0.1:0 --mef-ca "$MEF/pki/ca.pem" \
    --cert "$T/maf.pem" --key "$T/maf.key" --mef "mef.test.example=$TGT_ADDR" >/dev/null \
    || fail "mafd init"
sed -i -e 's/^handshake_timeout_ms = .*/handshake_timeout_ms = 5000/' -e 's/^workers = .*/workers = 4/' \
    "$MAF/mafd.conf"
MAF_STARTS=0
mafd_start() {
    local i
    MAF_STARTS=$((MAF_STARTS + 1))
    "$MAFD" serve -d "$MAF" 2>>"$MAF/mafd.log" &
    MAF_PID=$!
    PIDS+=("$MAF_PID")
    for i in $(seq 1 100); do
        if [ "$(grep -c 'event=listening' "$MAF/mafd.log" 2>/dev/null || true)" -ge "$MAF_STARTS" ]; then
            MAF_ADDR=$(grep -o 'event=listening addr=[^ ]*' "$MAF/mafd.log" | tail -n 1 | sed 's/.*addr=//')
            return 0
        fi
        kill -0 "$MAF_PID" 2>/dev/null || fail "mafd exited during start-up: $(tail -n 5 "$MAF/mafd.log")"
        sleep 0.1
    done
    fail "mafd did not start listening"
}
mafd_stop() {
    local rc=0
    kill -TERM "$MAF_PID"
    wait "$MAF_PID" || rc=$?
    [ "$rc" -eq 0 ] || fail "mafd exited with $rc after SIGTERM"
}
mafd_start

# Entity B: `m2msec cse`; sets CSE_ADDR and CSE_PID.
cse_start() {
    local i
    "$CLI" cse -d "$B" --listen "${CSE_LISTEN:-127.0.0.1:0}" --id /cse-b --maf "$MAF_ADDR" \
        --maf-fqdn maf.test.example --log "$T/cse.log" --idle-ms 2000 ${CSE_LOG_LEVEL:+--log-level "$CSE_LOG_LEVEL"} \
        >"$T/cse.out" 2>>"$T/cse.err" &
    CSE_PID=$!
    PIDS+=("$CSE_PID")
    for i in $(seq 1 100); do
        CSE_ADDR=$(sed -n 's/^listening //p' "$T/cse.out")
        [ -n "$CSE_ADDR" ] && return 0
        kill -0 "$CSE_PID" 2>/dev/null || fail "m2msec cse exited: $(cat "$T/cse.err")"
        sleep 0.1
    done
    fail "m2msec cse did not start listening"
}
cse_stop() {
    local rc=0
    kill -TERM "$CSE_PID"
    wait "$CSE_PID" || rc=$?
    [ "$rc" -eq 0 ] || fail "m2msec cse exited with $rc after SIGTERM"
}
stat_of() { "$CLI" cse stats -d "$B" --json | json_get - "j[\"$1\"]"; }
# stat_is NAME VALUE: Entity B writes cache-hit counters within 100 ms, not at once: poll.
stat_is() {
    local i
    for i in $(seq 1 30); do
        [ "$(stat_of "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
rows() { sqlite_count "$B/cse.db" "SELECT count(*) FROM cse_key ${1:-}"; }

enrol() {
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$1" --kpm-file "$T/$1.kpm" \
        --state "$T/s-$1" --json --quiet >"$T/e-$1.json" || fail "enrol $1"
}
register() {
    "$CLI" maf register --maf "$MAF_ADDR" --sni maf.test.example --admin-fqdn admin.test.example \
        --state "$T/s-$1" --json --quiet >"$T/r-$1.json" 2>"$T/r-$1.err" || fail "register $1: $(cat "$T/r-$1.err")"
}
# keyreg NAME ARGS...: A's MAF Key Registration; prints the Key Identifier
keyreg() {
    local name=$1
    shift
    "$CLI" maf keyreg --maf "$MAF_ADDR" --sni maf.test.example --state "$T/s-dev-a" --json --quiet \
        "$@" >"$T/$name.json" 2>"$T/$name.err" || fail "keyreg $name: $(cat "$T/$name.err")"
    json_get "$T/$name.json" 'j["key_id"]'
}
# connect NAME ARGS...: Entity A; stdout $T/NAME.json, stderr $T/NAME.err; returns its status
connect() {
    local name=$1
    shift
    "$CLI" connect --to "$CSE_ADDR" --state "$T/s-dev-a" --json "$@" >"$T/$name.json" 2>"$T/$name.err"
}
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/wrong.hex"

enrol dev-a
enrol b
register dev-a
register b
cse_start
ok "A and B enrolled and registered with the MAF; Entity B listening on $CSE_ADDR"
"$CLI" connect --help | grep -q 'm2msec connect --to' || fail "m2msec connect --help"
"$CLI" cse --help | grep -q 'm2msec cse -d DIR' || fail "m2msec cse --help"
"$CLI" mef keyreg --help | grep -q 'm2msec mef keyreg' || fail "m2msec mef keyreg --help"
"$CLI" help | grep -q 'connect --to HOST:PORT' || fail "m2msec help does not list connect"
ok "--help of connect, cse and mef keyreg, and connect/cse/mef key* in m2msec help"

# --- 1. the acceptance scenario
kid=$(keyreg k1 --target /cse-b --suid 32)
connect c1 --key-id "$kid" || fail "connect: $(cat "$T/c1.err")"
[ "$(json_get "$T/c1.json" 'j["peer"]')" = /cse-a ] || fail "B bound the session to: $(cat "$T/c1.json")"
[ "$(json_get "$T/c1.json" 'j["credentialID"]')" = "12-$kid" ] || fail "credentialID: $(cat "$T/c1.json")"
[ "$(json_get "$T/c1.json" 'j["suid"]')" = 32 ] || fail "suid: $(cat "$T/c1.json")"
[ "$(json_get "$T/c1.json" 'j["keyID"]')" = "$kid" ] || fail "keyID: $(cat "$T/c1.json")"
[ "$(json_get "$T/c1.json" 'j["cse"]')" = /cse-b ] || fail "cse: $(cat "$T/c1.json")"
grep -q "event=psk_retrieval identity=$kid source=maf" "$T/cse.log" || fail "no retrieval logged"
grep -q "event=psk_resolved identity=$kid source=maf cache=retrieved peer=/cse-a" "$T/cse.log" \
    || fail "no resolution logged: $(tail -n 5 "$T/cse.log")"
grep -q "event=maf_key_retrieved rel_key_id=${kid%@*}" "$MAF/mafd.log" || fail "mafd logged no retrieval"
[ "$(stat_of retrievals)" = 1 ] || fail "retrievals: $("$CLI" cse stats -d "$B" --json)"
[ "$(rows)" = 1 ] || fail "B's cache holds $(rows) rows"
ok "A -> B with Key Identifier $kid: B retrieved Kc from mafd, TLS-PSK succeeded, B binds the session to /cse-a"

connect c2 --key-id "$kid" || fail "second connect: $(cat "$T/c2.err")"
[ "$(json_get "$T/c2.json" 'j["peer"]')" = /cse-a ] || fail "second: $(cat "$T/c2.json")"
[ "$(stat_of retrievals)" = 1 ] || fail "second connection retrieved again"
stat_is cache_hits 1 || fail "cache hits: $("$CLI" cse stats -d "$B" --json)"
[ "$(grep -c "event=session .*identity=$kid .*bound=/cse-a" "$T/cse.log")" = 2 ] \
    || fail "not one session line per connection: $(tail -n 8 "$T/cse.log")"
grep -q "cache=hit" "$T/cse.log" && fail "cache hits are logged at the info level"
grep -q "event=session_closed" "$T/cse.log" && fail "session_closed is logged at the info level"
ok "second connection: cached Kc (retrievals 1, cache hits 1); at info, one session line each"

# --- 2. originator checks (TS-0003 8.2.1 binding)
connect c3 --key-id "$kid" --origin /cse-z && fail "a foreign originator was accepted"
grep -q "refused (4106)" "$T/c3.err" || fail "expected 4106: $(cat "$T/c3.err")"
connect c4 --key-id "$kid" --origin "12-$kid" || fail "the Credential-ID as originator: $(cat "$T/c4.err")"
ok "X-M2M-Origin /cse-z -> 4106; the Credential-ID 12-<Key Identifier> is accepted"

# --- 3. a key registered for SUID 33 (ESPrim) is not a SAEF key
kid33=$(keyreg k33 --target /cse-b --suid 33)
connect c5 --key-id "$kid33" && fail "A used an SUID 33 key for a SAEF"
grep -q "SUID 33" "$T/c5.err" || fail "client: $(cat "$T/c5.err")"
r0=$(stat_of retrievals)
connect c6 --key-id "$kid33" --psk-file "$T/wrong.hex" --origin /cse-a && fail "B accepted an SUID 33 key"
grep -q "handshake refused" "$T/c6.err" || fail "expected a refused handshake: $(cat "$T/c6.err")"
grep -q "event=psk_refused identity=$kid33 reason=suid_mismatch" "$T/cse.log" || fail "no SUID refusal logged"
[ "$(stat_of retrievals)" = $((r0 + 1)) ] || fail "no retrieval for the SUID 33 key"
[ "$(rows "WHERE key_id = '$kid33'")" = 0 ] || fail "B cached a refused key"
ok "SUID 33 key: A refuses to use it; B retrieves it, refuses the SUID, caches nothing"

# --- 4. a key registered for another target: the MAF refuses the retrieval (4103)
kidx=$(keyreg kx --target /cse-other --suid 32)
connect c7 --key-id "$kidx" && fail "B accepted a key registered for another target"
grep -q "handshake refused" "$T/c7.err" || fail "expected a refused handshake: $(cat "$T/c7.err")"
grep -q "event=psk_refused identity=$kidx reason=retrieval_refused rsc=4103" "$T/cse.log" \
    || fail "no 4103 refusal logged: $(grep "$kidx" "$T/cse.log")"
ok "key for another target: retrieval 4103, handshake refused"

# --- 5. restart Entity B and mafd: cache and registrations survive, nothing duplicated
mafdb=$(ls "$MAF"/*.db | head -n 1)
nkeys=$(sqlite_count "$mafdb" "SELECT count(*) FROM keyreg")
nclients=$(sqlite_count "$mafdb" "SELECT count(*) FROM maf_client")
nrows=$(rows)
cse_stop
mafd_stop
mafd_start
CSE_LOG_LEVEL=debug cse_start
connect c8 --key-id "$kid" || fail "connect after the restarts: $(cat "$T/c8.err")"
[ "$(json_get "$T/c8.json" 'j["peer"]')" = /cse-a ] || fail "after restart: $(cat "$T/c8.json")"
[ "$(stat_of retrievals)" = 0 ] || fail "B retrieved again after its restart"
stat_is cache_hits 1 || fail "no cache hit after restart"
wait_for 3 grep -q "event=psk_resolved identity=$kid source=maf cache=hit" "$T/cse.log" \
    || fail "--log-level debug: no cache hit logged"
[ "$(rows)" = "$nrows" ] || fail "B's cache went from $nrows to $(rows) rows"
[ "$(sqlite_count "$mafdb" "SELECT count(*) FROM keyreg")" = "$nkeys" ] || fail "mafd key registrations changed"
[ "$(sqlite_count "$mafdb" "SELECT count(*) FROM maf_client")" = "$nclients" ] || fail "mafd clients changed"
ok "after restarting B and mafd: cached Kc used without retrieval; $nrows cached row(s), $nkeys key registration(s), $nclients client(s), no duplicates"

# --- 6. expiry: Kc with a 2 s lifetime
kids=$(keyreg ks --target /cse-b --suid 32 --lifetime 2)
connect c9 --key-id "$kids" || fail "short-lived Kc: $(cat "$T/c9.err")"
[ "$(rows "WHERE key_id = '$kids'")" = 1 ] || fail "short-lived Kc not cached"
sleep 3
r0=$(stat_of retrievals)
connect c10 --key-id "$kids" && fail "A used an expired Kc"
grep -q "re-provision" "$T/c10.err" || fail "client: $(cat "$T/c10.err")"
connect c11 --key-id "$kids" --psk-file "$T/wrong.hex" --origin /cse-a && fail "B accepted an expired Kc"
grep -q "handshake refused" "$T/c11.err" || fail "expected a refused handshake: $(cat "$T/c11.err")"
grep -q "event=psk_refused identity=$kids reason=expired" "$T/cse.log" || fail "no expiry refusal: $(grep "$kids" "$T/cse.log")"
[ "$(rows "WHERE key_id = '$kids'")" = 0 ] || fail "the expired Kc is still in B's cache"
[ "$(stat_of retrievals)" = "$r0" ] || fail "B asked the MAF again for an expired Kc"
ok "expired Kc: A says re-provision; B refuses the handshake, erased the row, no new retrieval"

if grep -q "$(cat "$T/wrong.hex")" "$T/cse.log"; then fail "a key was logged"; fi

# --- 7. log rotation: SIGHUP reopens --log FILE; Entity B keeps serving
[ "$(stat -c %a "$T/cse.log")" = 600 ] || fail "cse.log mode $(stat -c %a "$T/cse.log")"
mv "$T/cse.log" "$T/cse.log.1"
kill -HUP "$CSE_PID"
wait_for 5 test -f "$T/cse.log" || fail "no new log file after SIGHUP"
kill -0 "$CSE_PID" 2>/dev/null || fail "m2msec cse exited on SIGHUP"
connect c12 --key-id "$kid" || fail "connect after the rotation: $(cat "$T/c12.err")"
wait_for 5 grep -q "event=session " "$T/cse.log" || fail "no session line in the new log: $(cat "$T/cse.log")"
grep -q "event=log_reopened" "$T/cse.log" || fail "no log_reopened line: $(cat "$T/cse.log")"
grep -q "event=psk_retrieval identity=$kid " "$T/cse.log.1" || fail "the old lines left the rotated file"
[ "$(stat -c %a "$T/cse.log")" = 600 ] || fail "new cse.log mode $(stat -c %a "$T/cse.log")"
ok "SIGHUP after a rotation: B reopens --log (0600), old lines stay in the rotated file, B keeps serving"
cse_stop
mafd_stop
mefd_stop
done_tests
