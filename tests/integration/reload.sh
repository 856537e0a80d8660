#!/usr/bin/env bash
# SIGHUP reloads the configuration (docs/ARCHITECTURE.md 5, docs/design-runtime.md "SIGHUP"):
# mefd and mafd re-read their .conf file and apply the log level, the timeouts, the sweep interval
# and the registration lifetime cap to what starts afterwards, without a restart. A file that does
# not load changes nothing and the daemon keeps serving; a key only a restart can change (listen,
# ...) is reported and keeps its running value. Real mefd, mafd, m2msec and openssl.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MEF="$T/mef"
MAF="$T/maf"
mefd_init "$MEF" mef.test.example --dev-pki --target-listen 127.0.0.1:0
# A long idle timeout to start with, so that the reload's short one is unmistakable.
sed -i -e 's/^idle_timeout_ms = .*/idle_timeout_ms = 20000/' "$MEF/mefd.conf"
add_enrolee "$MEF" dev-1 /cse-dev1 3600 --target maf.test.example
mefd_start "$MEF"
pid=$MEF_PID

enrol() {
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id dev-1 --kpm-file "$T/dev-1.kpm" \
        --state "$T/s1" --json --quiet >"$T/e.json" 2>"$T/e.err"
}
# hup DAEMON-LOG PID EVENT: send SIGHUP and wait for one more EVENT line in the log.
hup() {
    local log=$1 p=$2 ev=$3 before
    before=$(grep -c "event=$ev " "$log" || true)
    kill -HUP "$p"
    wait_for 10 bash -c '[ "$(grep -c "event='"$ev"' " "'"$log"'" || true)" -gt '"$before"' ]' ||
        fail "no $ev event after SIGHUP: $(tail -n 5 "$log")"
    kill -0 "$p" 2>/dev/null || fail "the daemon exited on SIGHUP"
}
debug_lines() { grep -c ' debug mefd\[' "$MEF/mefd.log" || true; }

# 1. log level
enrol || fail "enrol: $(cat "$T/e.err")"
[ "$(debug_lines)" = 0 ] || fail "debug lines logged at log_level = info"
sed -i 's/^log_level = .*/log_level = debug/' "$MEF/mefd.conf"
hup "$MEF/mefd.log" "$pid" reloaded
grep 'event=reloaded ' "$MEF/mefd.log" | tail -n 1 | grep -q 'changed=log_level' ||
    fail "reloaded line: $(grep 'event=reloaded ' "$MEF/mefd.log" | tail -n 1)"
enrol || fail "enrol after the reload: $(cat "$T/e.err")"
grep -q 'event=session_open ' "$MEF/mefd.log" || fail "log_level = debug not applied"
ok "SIGHUP: log_level info -> debug applied to the next session, same process"

# 2. idle timeout: a session that sends nothing after its handshake is closed after the new one
sed -i 's/^idle_timeout_ms = .*/idle_timeout_ms = 300/' "$MEF/mefd.conf"
hup "$MEF/mefd.log" "$pid" reloaded
kpm=$(cat "$T/dev-1.kpm")
# stdin stays open (a fifo with a writer), so only the server can end the session
mkfifo "$T/idle.in"
sleep 30 >"$T/idle.in" &
writer=$!
PIDS+=("$writer")
start=$(date +%s%N)
timeout 20 openssl s_client -connect "$MEF_ADDR" -tls1_2 -psk_identity dev-1 -psk "$kpm" \
    -servername mef.test.example <"$T/idle.in" >"$T/idle.out" 2>&1 || true
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
kill "$writer" 2>/dev/null || true
grep -q "Cipher is\|Cipher    :" "$T/idle.out" || fail "no session: $(head -c 400 "$T/idle.out")"
[ "$elapsed_ms" -lt 8000 ] || fail "idle session held ${elapsed_ms} ms: the 20 s timeout still applies"
ok "SIGHUP: idle_timeout_ms 20000 -> 300 applied (idle session closed after ${elapsed_ms} ms)"

# 3. registration lifetime cap
sed -i -e 's/^registration_lifetime_max_s = .*/registration_lifetime_max_s = 60/' \
    -e 's/^registration_lifetime_default_s = .*/registration_lifetime_default_s = 30/' "$MEF/mefd.conf"
hup "$MEF/mefd.log" "$pid" reloaded
"$CLI" mef register --mef "$MEF_ADDR" --sni mef.test.example --kpm-id dev-1 \
    --kpm-file "$T/dev-1.kpm" --admin-fqdn sp.test.example --lifetime 100000 --json >"$T/r.json" ||
    fail "mef register"
python3 - "$(json_get "$T/r.json" 'j["expires"]')" <<'PY' || fail "granted expiry beyond the reloaded 60 s cap: $(cat "$T/r.json")"
import calendar, sys, time
t = calendar.timegm(time.strptime(sys.argv[1], "%Y%m%dT%H%M%S"))
sys.exit(0 if t <= time.time() + 61 else 1)
PY
ok "SIGHUP: registration_lifetime_max_s lowered to 60: a 100000 s request is granted <= 60 s"

# 4. a file that does not load changes nothing; the daemon keeps serving
cp "$MEF/mefd.conf" "$T/good.conf"
sed -i 's/^workers = .*/workers = many/' "$MEF/mefd.conf"
sed -i 's/^log_level = .*/log_level = err/' "$MEF/mefd.conf"
hup "$MEF/mefd.log" "$pid" reload_failed
grep 'event=reload_failed ' "$MEF/mefd.log" | tail -n 1 | grep -q 'mefd.conf:[0-9]*' ||
    fail "reload_failed does not name the line: $(grep 'event=reload_failed ' "$MEF/mefd.log" | tail -n 1)"
n=$(grep -c 'event=session_open ' "$MEF/mefd.log")
enrol || fail "enrol after a failed reload: $(cat "$T/e.err")"
[ "$(grep -c 'event=session_open ' "$MEF/mefd.log")" -gt "$n" ] ||
    fail "a failed reload changed the log level"
ok "SIGHUP with a bad file: reload_failed names mefd.conf:line; nothing changed, enrolment works"

# 5. keys only a restart can change are reported and keep their running value
cp "$T/good.conf" "$MEF/mefd.conf"
sed -i 's/^listen = .*/listen = 127.0.0.1:1/' "$MEF/mefd.conf"
hup "$MEF/mefd.log" "$pid" reload_restart_needed
grep 'event=reload_restart_needed ' "$MEF/mefd.log" | tail -n 1 | grep -q 'keys=listen' ||
    fail "restart-needed line: $(grep 'event=reload_restart_needed ' "$MEF/mefd.log" | tail -n 1)"
enrol || fail "enrol on the running address after a listen change: $(cat "$T/e.err")"
ok "SIGHUP: a changed listen is reported (reload_restart_needed) and the running address kept"

# 5b. a certificate Enrolee added while the enrolment listener runs PSK-only needs a restart: said
cp "$T/good.conf" "$MEF/mefd.conf"
"$MEFD" enrolee add -d "$MEF" --cert-flavour device --cert-id 0.2.481.1.7.8.1 \
    --cert-ca "$MEF/pki/ca.pem" --enrolee-id /cse-c --expiry 60 >/dev/null || fail "cert enrolee add"
hup "$MEF/mefd.log" "$pid" reload_restart_needed
grep 'event=reload_restart_needed ' "$MEF/mefd.log" | tail -n 1 | grep -q 'keys=certificate_enrolees' ||
    fail "no restart notice for certificates: $(grep 'event=reload_restart_needed ' "$MEF/mefd.log" | tail -n 1)"
enrol || fail "enrol after that reload: $(cat "$T/e.err")"
ok "SIGHUP on a PSK-only listener with a certificate Enrolee added: reload_restart_needed says so"

# 6. mafd: the same reload, and a bad file
maf_setup "$MEF" "$MAF" maf.test.example
mafd_run "$MAF"
register() {
    "$CLI" maf register --maf "$MAF_ADDR" --sni maf.test.example --admin-fqdn "$1" \
        --state "$T/s1" --json --quiet >"$T/m-$1.json" 2>"$T/m-$1.err"
}
register a1.test.example || fail "maf register: $(cat "$T/m-a1.test.example.err")"
[ "$(grep -c ' debug mafd\[' "$MAF/mafd.log" || true)" = 0 ] || fail "mafd: debug lines at info"
sed -i 's/^log_level = .*/log_level = debug/' "$MAF/mafd.conf"
hup "$MAF/mafd.log" "$MAF_PID" reloaded
grep 'event=reloaded ' "$MAF/mafd.log" | tail -n 1 | grep -q 'changed=log_level' ||
    fail "mafd reloaded line: $(grep 'event=reloaded ' "$MAF/mafd.log" | tail -n 1)"
"$CLI" maf deregister --maf "$MAF_ADDR" --sni maf.test.example --state "$T/s1" --quiet \
    >/dev/null 2>&1 || true
register a2.test.example || fail "maf register after reload: $(cat "$T/m-a2.test.example.err")"
grep -q ' debug mafd\[' "$MAF/mafd.log" || fail "mafd: log_level = debug not applied"
sed -i 's/^backlog = .*/backlog = 0/' "$MAF/mafd.conf"
hup "$MAF/mafd.log" "$MAF_PID" reload_failed
grep 'event=reload_failed ' "$MAF/mafd.log" | tail -n 1 | grep -q 'mafd.conf:[0-9]*' ||
    fail "mafd reload_failed: $(grep 'event=reload_failed ' "$MAF/mafd.log" | tail -n 1)"
kill -0 "$MAF_PID" || fail "mafd exited"
ok "mafd: SIGHUP applies log_level; a bad file gives reload_failed and mafd keeps running"

kill -TERM "$pid" "$MAF_PID"
wait "$pid" || fail "mefd did not exit 0 on SIGTERM after reloads"
wait "$MAF_PID" || fail "mafd did not exit 0 on SIGTERM after reloads"
ok "both daemons stop cleanly (exit 0) after the reloads"
done_tests
