#!/usr/bin/env bash
# IBC credentials (seed 000) end to end with real processes: the PKG inside mefd, IBC
# enrolment through the Enrolment Exchange (`m2msec enrol --ibc`), then mefd stopped and two
# devices authenticating each other with IBC-SIGMA (`m2msec ibc listen|connect`) and exchanging
# a oneM2M request over the resulting TLS-PSK session. Negatives, each refused with its reason
# and without a session key (no "tls" line in the listener's log): a device asking for an ID1
# it is not configured for, wrong peer ID1 (both directions), an untrusted MPK (a device of
# another MEF, both directions), a replayed M1 and M3, a stored PVT that is not on the curve,
# an expired short-lived credential. MPK rotation: credentials under the old and the new MPK
# verify each other until the old one's last credential expires. What is shortened: Enrolment
# Expiry (seconds), and the key period (2 s) of the rotation MEF.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

LPIDS=()

# ibc_listen STATE LOG [args...]: start `m2msec ibc listen`; sets L_ADDR and L_PID.
ibc_listen() {
    local state=$1 log=$2 i
    shift 2
    "$CLI" ibc listen --state "$state" --listen 127.0.0.1:0 --timeout 3000 "$@" >"$log" 2>&1 &
    L_PID=$!
    PIDS+=("$L_PID")
    for i in $(seq 1 100); do
        kill -0 "$L_PID" 2>/dev/null || fail "ibc listen exited: $(cat "$log")"
        if grep -q '^listening ' "$log"; then
            L_ADDR=$(awk '/^listening /{print $2; exit}' "$log")
            return 0
        fi
        sleep 0.1
    done
    fail "ibc listen did not start: $(cat "$log")"
}

# ibc_stop PID: SIGTERM and expect exit 0.
ibc_stop() {
    local rc=0
    kill -TERM "$1"
    wait "$1" || rc=$?
    [ "$rc" -eq 0 ] || fail "ibc listen exited with $rc after SIGTERM"
}

# count LOG WORD: lines of the listener log starting with WORD.
count() { grep -c "^$2 " "$1" || true; }

# expect_refused WHAT PATTERN LOG CMD...: CMD fails with PATTERN on stderr; LOG gains no tls line.
expect_refused() {
    local what=$1 pat=$2 log=$3 tls_before
    shift 3
    tls_before=$(count "$log" tls)
    if "$@" >"$T/neg.out" 2>"$T/neg.err"; then
        fail "$what: accepted: $(cat "$T/neg.out")"
    fi
    grep -q -- "$pat" "$T/neg.err" || fail "$what: reason not '$pat': $(cat "$T/neg.err")"
    sleep 0.2
    [ "$(count "$log" tls)" = "$tls_before" ] || fail "$what: a TLS-PSK session happened"
    grep -q '^refused \|^closed ' "$log" || fail "$what: the listener logged no refusal"
    ok "$what: refused ($(grep -o -- "$pat" "$T/neg.err" | head -n 1)), no session key"
}

kpak_of() {
    "$MEFD" pkg show -d "$1" --json | json_get - '[m["kpak"] for m in j["mpk"] if m["current"]][0]'
}

# ---------------------------------------------------------------------------------------------
# 1. PKG and IBC enrolment
MEF="$T/mef"
mefd_init "$MEF" mef.ibc.example
"$MEFD" pkg show -d "$MEF" >/dev/null 2>&1 && fail "pkg show without a PKG"
"$MEFD" pkg init -d "$MEF" --key-period 3600 >"$T/pkg.out" || fail "pkg init"
grep -q 'MPK version 1 is current, kpak 04[0-9a-f]\{128\}$' "$T/pkg.out" || fail "pkg init: $(cat "$T/pkg.out")"
"$MEFD" pkg init -d "$MEF" >/dev/null 2>&1 && fail "a second pkg init was accepted"
"$MEFD" pkg init -d "$MEF" --key-period 0 >/dev/null 2>&1 && fail "key period 0 accepted"
ok "mefd pkg init: MPK version 1 (a second init and a zero key period refused)"
KPAK1=$(kpak_of "$MEF")
add_enrolee "$MEF" dev-a /in-cse/CA 86400
add_enrolee "$MEF" dev-b /in-cse/CB 86400
add_enrolee "$MEF" dev-c /in-cse/CC 4
add_enrolee "$MEF" dev-d /in-cse/CD 86400
mefd_start "$MEF"

enrol_ibc() { # KPMID STATE [ID1]
    "$CLI" enrol --mef "$MEF_ADDR" --kpm-id "$1" --kpm-file "$T/$1.kpm" --state "$2" --no-maf \
        --no-rm --ibc ${3:+"$3"} >"$T/$1.out" 2>"$T/$1.err"
}
enrol_ibc dev-a "$T/a" || fail "enrol dev-a --ibc: $(cat "$T/dev-a.err")"
grep -q '^ibc credential: id1=/in-cse/CA expires=' "$T/dev-a.out" || fail "dev-a: $(cat "$T/dev-a.out")"
enrol_ibc dev-b "$T/b" /in-cse/CB || fail "enrol dev-b --ibc: $(cat "$T/dev-b.err")"
enrol_ibc dev-c "$T/c" || fail "enrol dev-c --ibc: $(cat "$T/dev-c.err")"
ok "three devices enrolled with IBC credentials (ID1 given and defaulted to the Enrolee-ID)"
"$CLI" ibc show --state "$T/a" --json >"$T/a.show"
[ "$(json_get "$T/a.show" 'j["id1"]')" = /in-cse/CA ] || fail "ibc show: $(cat "$T/a.show")"
[ "$(json_get "$T/a.show" 'j["fqdn"]')" = mef.ibc.example ] || fail "ibc show fqdn"
[ "$(json_get "$T/a.show" 'j["trusted"]')" = 1 ] || fail "trust store of dev-a"
exp_a=$(json_get "$T/a.show" 'j["expiresEpoch"]')
[ $((exp_a % 3600)) -eq 0 ] || fail "ID2 expiry $exp_a is not on a key-period boundary"
ok "dev-a holds ID2 mef.ibc.example/$exp_a//in-cse/CA (expiry aligned to the key period)"
"$CLI" state --state "$T/a" --json >"$T/a.state"
[ "$(json_get "$T/a.state" 'j["ibc"]["id1"]')" = /in-cse/CA ] || fail "state ibc: $(cat "$T/a.state")"
[ "$(json_get "$T/a.state" 'j["root_credentials"]')" = "[]" ] || fail "state roots: $(cat "$T/a.state")"
"$CLI" state --state "$T/a" | grep -q "^ibc id1=/in-cse/CA expires=" || fail "state text: ibc line"
ok "m2msec state shows the IBC credential's ID1 beside the enrolment"
exp_c=$(json_get <("$CLI" ibc show --state "$T/c" --json) 'j["expiresEpoch"]')
[ "$exp_c" -le $(($(date +%s) + 5)) ] || fail "dev-c's credential outlives its Ke: $exp_c"
ok "dev-c's credential ends with its 4 s Enrolment Expiry ($exp_c)"
[ "$(sqlite_count "$MEF/mef.db" "select count(*) from sqlite_master where sql like '%ssk%'")" = 0 ] \
    || fail "the MEF schema has a place for SSKs"
[ "$(json_get <("$MEFD" pkg show -d "$MEF" --json) 'j["mpk"][0]["maxIssuedEpoch"]')" -ge "$exp_a" ] \
    || fail "the PKG did not record the latest expiry issued"
ok "the MEF keeps no SSK, only the latest expiry issued under MPK version 1"

# A device asking for an ID1 it is not configured for.
if enrol_ibc dev-d "$T/d" /in-cse/CA; then fail "dev-d obtained a credential for /in-cse/CA"; fi
grep -q "4103.*ID1 '/in-cse/CA' is not the Enrolee-ID configured" "$T/dev-d.err" \
    || fail "dev-d: reason: $(cat "$T/dev-d.err")"
"$CLI" ibc show --state "$T/d" >/dev/null 2>"$T/d.show" && fail "dev-d stored a credential"
grep -q 'no IBC credential' "$T/d.show" || fail "dev-d show: $(cat "$T/d.show")"
grep -q 'event=ibc_refused .*kpm_id=dev-d' "$MEF/mefd.log" || fail "mefd did not log the refusal"
ok "ID1 not configured for the credential: refused (4103), reported, nothing stored"

# Without --ibc nothing changes for other Enrolees.
"$CLI" enrol --mef "$MEF_ADDR" --kpm-id dev-d --kpm-file "$T/dev-d.kpm" --state "$T/d2" \
    --json >"$T/d2.json" 2>/dev/null || fail "plain enrol"
[ "$(json_get "$T/d2.json" 'j["instructions"]')" = '[]' ] || fail "IBC offered unasked"
ok "no IBC instruction without ibcEnrolmentInd"

# 2. mefd stopped: decentralised authentication with no server.
mefd_stop
ibc_listen "$T/b" "$T/lb.log"
"$CLI" ibc connect --state "$T/a" --to "$L_ADDR" --peer /in-cse/CB --json --capture "$T" \
    >"$T/ab.json" 2>"$T/ab.err" || fail "A -> B: $(cat "$T/ab.err")"
[ "$(json_get "$T/ab.json" 'j["rsc"]')" = 2000 ] || fail "answer: $(cat "$T/ab.json")"
[ "$(json_get "$T/ab.json" 'j["answer"]["m2m:ibc"]["initiator"]')" = /in-cse/CA ] || fail "initiator"
[ "$(json_get "$T/ab.json" 'j["answer"]["m2m:ibc"]["responder"]')" = /in-cse/CB ] || fail "responder"
kid=$(json_get "$T/ab.json" 'j["kpsaID"]')
[[ "$kid" =~ ^ibc-[0-9a-f]{32}@mef\.ibc\.example$ ]] || fail "KpsaID $kid"
[ "$(json_get "$T/ab.json" 'j["answer"]["m2m:ibc"]["kpsaID"]')" = "$kid" ] || fail "KpsaID differs"
grep -q "^session peer=/in-cse/CA kpsa_id=$kid " "$T/lb.log" || fail "listener: $(cat "$T/lb.log")"
grep -q "^tls peer=/in-cse/CA kpsa_id=$kid cipher=TLS_PSK" "$T/lb.log" || fail "no TLS-PSK line"
grep -q '^request peer=/in-cse/CA origin=/in-cse/CA method=GET target=/ rsc=2000' "$T/lb.log" \
    || fail "no request line"
ok "mefd stopped; A and B authenticated by IBC-SIGMA ($kid), GET / answered 2000 over TLS-PSK"

# The origin must be the authenticated peer.
if "$CLI" ibc connect --state "$T/a" --to "$L_ADDR" --peer /in-cse/CB --origin /in-cse/CX \
    >/dev/null 2>"$T/o.err"; then fail "a foreign origin was answered"; fi
grep -q '4106' "$T/o.err" || fail "origin: $(cat "$T/o.err")"
grep -q 'rsc=4106' "$T/lb.log" || fail "listener did not answer 4106"
ok "an X-M2M-Origin other than the authenticated ID1 is answered 4106"

expect_refused "peer ID1 not the expected one (initiator expects CX)" \
    "expects another responder than /in-cse/CB" "$T/lb.log" \
    "$CLI" ibc connect --state "$T/a" --to "$L_ADDR" --peer /in-cse/CX
expect_refused "replayed M1 (and M3) of an earlier run" "replay" "$T/lb.log" \
    "$CLI" ibc connect --state "$T/a" --to "$L_ADDR" --peer /in-cse/CB \
    --replay-m1 "$T/m1.bin" --replay-m3 "$T/m3.bin"
expect_refused "replayed M3 of an earlier run after a fresh M1" "M3 refused" "$T/lb.log" \
    "$CLI" ibc connect --state "$T/a" --to "$L_ADDR" --peer /in-cse/CB --replay-m3 "$T/m3.bin"
ibc_stop "$L_PID"
ok "ibc listen exits 0 on SIGTERM"

ibc_listen "$T/b" "$T/lb2.log" --peer /in-cse/CZ
expect_refused "initiator ID1 not one the listener accepts" \
    "peer ID1 /in-cse/CA is not one this listener accepts" "$T/lb2.log" \
    "$CLI" ibc connect --state "$T/a" --to "$L_ADDR" --peer /in-cse/CB
ibc_stop "$L_PID"

# 3. A device of another MEF (another MPK).
MEF2="$T/mef2"
mefd_init "$MEF2" mef2.ibc.example
"$MEFD" pkg init -d "$MEF2" >/dev/null
KPAK2=$(kpak_of "$MEF2")
add_enrolee "$MEF2" dev-e /in-cse/CE 86400
mefd_start "$MEF2"
enrol_ibc dev-e "$T/e" || fail "enrol dev-e: $(cat "$T/dev-e.err")"
mefd_stop
ibc_listen "$T/b" "$T/lb3.log"
expect_refused "ID2 under an untrusted FQDN/MPK (responder side)" \
    "no trusted MPK\|not trusted\|untrusted" "$T/lb3.log" \
    "$CLI" ibc connect --state "$T/e" --to "$L_ADDR" --peer /in-cse/CB
ibc_stop "$L_PID"
ibc_listen "$T/b" "$T/lb4.log" --trust "mef2.ibc.example:$KPAK2"
expect_refused "ID2 under an untrusted FQDN/MPK (initiator side)" \
    "no trusted MPK\|not trusted\|untrusted" "$T/lb4.log" \
    "$CLI" ibc connect --state "$T/e" --to "$L_ADDR" --peer /in-cse/CB
"$CLI" ibc connect --state "$T/e" --to "$L_ADDR" --peer /in-cse/CB \
    --trust "mef.ibc.example:$KPAK1" >/dev/null 2>"$T/e.err" || fail "with --trust: $(cat "$T/e.err")"
ok "with each other's MPK (--trust) devices of two MEFs authenticate"
ibc_stop "$L_PID"

# 4. A stored PVT that is not on the curve: the credential no longer loads.
cp -r "$T/a" "$T/a-bad"
python3 - "$T/a-bad/state.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE dev_ibc SET pvt = ?", (bytes([4]) + bytes(63) + bytes([1]),))
c.commit()
PY
if "$CLI" ibc connect --state "$T/a-bad" --to 127.0.0.1:9 --peer /in-cse/CB 2>"$T/pvt.err"; then
    fail "a credential with a bad PVT was used"
fi
grep -qi 'PVT\|not on the curve' "$T/pvt.err" || fail "bad PVT: $(cat "$T/pvt.err")"
ok "PVT not on the curve: the stored credential is refused before any use"

# 5. Expired ID2 (dev-c, 4 s Enrolment Expiry).
while [ "$(date +%s)" -le "$exp_c" ]; do sleep 0.5; done
ibc_listen "$T/b" "$T/lb5.log" --skew 0
if "$CLI" ibc connect --state "$T/c" --to "$L_ADDR" --peer /in-cse/CB --skew 0 2>"$T/c.err"; then
    fail "an expired credential authenticated"
fi
grep -q 'own IBC credential expired' "$T/c.err" || fail "expired: $(cat "$T/c.err")"
[ "$(count "$T/lb5.log" session)" = 0 ] || fail "a session with an expired credential"
ibc_stop "$L_PID"
ibc_listen "$T/c" "$T/lc.log" --skew 0
expect_refused "expired ID2 (short expiry, responder)" "expired" "$T/lc.log" \
    "$CLI" ibc connect --state "$T/a" --to "$L_ADDR" --peer /in-cse/CC --skew 0
ibc_stop "$L_PID"
ok "expired ID2: neither as initiator nor as responder"

# 6. MPK rotation (key period 2 s).
MEF3="$T/mef3"
mefd_init "$MEF3" mef3.ibc.example
"$MEFD" pkg init -d "$MEF3" --key-period 2 --mpk-lifetime 600 >/dev/null
add_enrolee "$MEF3" dev-r1 /in-cse/CR1 12
add_enrolee "$MEF3" dev-r2 /in-cse/CR2 600
mefd_start "$MEF3"
enrol_ibc dev-r1 "$T/r1" || fail "enrol dev-r1: $(cat "$T/dev-r1.err")"
exp_r1=$(json_get <("$CLI" ibc show --state "$T/r1" --json) 'j["expiresEpoch"]')
[ $((exp_r1 % 2)) -eq 0 ] || fail "r1 expiry not aligned to the 2 s key period"
"$MEFD" pkg rotate -d "$MEF3" | grep -q 'MPK version 2 is current' || fail "pkg rotate"
enrol_ibc dev-r2 "$T/r2" || fail "enrol dev-r2: $(cat "$T/dev-r2.err")"
"$MEFD" pkg show -d "$MEF3" --json >"$T/p3.json"
[ "$(json_get "$T/p3.json" 'j["current"]')" = 2 ] || fail "current version"
[ "$(json_get "$T/p3.json" 'j["mpk"][0]["validToEpoch"]')" = "$exp_r1" ] \
    || fail "old MPK not kept exactly until its last credential: $(cat "$T/p3.json")"
[ "$(json_get "$T/p3.json" 'j["mpk"][0]["published"]')" = true ] || fail "old MPK unpublished"
ok "pkg rotate: version 2 current, version 1 valid until its last credential ($exp_r1)"
[ "$(json_get <("$CLI" ibc show --state "$T/r2" --json) 'j["trusted"]')" = 2 ] || fail "r2 trust"
"$CLI" ibc refresh --state "$T/r1" --mef "$MEF_ADDR" --kpm-id dev-r1 --kpm-file "$T/dev-r1.kpm" \
    >"$T/r1.refresh" 2>&1 || fail "refresh: $(cat "$T/r1.refresh")"
[ "$(json_get <("$CLI" ibc show --state "$T/r1" --json) 'j["trusted"]')" = 2 ] || fail "r1 trust"
ok "GET /mef/pkg: the device enrolled before the rotation refreshes its trust store"
mefd_stop
ibc_listen "$T/r2" "$T/lr2.log" --skew 0
"$CLI" ibc connect --state "$T/r1" --to "$L_ADDR" --peer /in-cse/CR2 --skew 0 >/dev/null \
    2>"$T/r12.err" || fail "old -> new: $(cat "$T/r12.err")"
ibc_stop "$L_PID"
ibc_listen "$T/r1" "$T/lr1.log" --skew 0
"$CLI" ibc connect --state "$T/r2" --to "$L_ADDR" --peer /in-cse/CR1 --skew 0 >/dev/null \
    2>"$T/r21.err" || fail "new -> old: $(cat "$T/r21.err")"
ok "credentials under MPK versions 1 and 2 verify each other, both directions"
while [ "$(date +%s)" -le "$exp_r1" ]; do sleep 0.5; done
expect_refused "after the old MPK's last credential expired" "expired" "$T/lr1.log" \
    "$CLI" ibc connect --state "$T/r2" --to "$L_ADDR" --peer /in-cse/CR1 --skew 0
ibc_stop "$L_PID"

done_tests
