#!/usr/bin/env bash
# kill -TERM during load: in-flight enrolments finish or fail cleanly, mefd exits 0,
# a restart serves the same store, and no enrolment a client saw succeed is lost.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

N=24
MEF="$T/mef"
mefd_init "$MEF" mef.test.example
for i in $(seq 1 $N); do
    add_enrolee "$MEF" "dev-$i" "/cse-$i" 3600 --instruct-maf https://maf.test.example
done
mefd_start "$MEF"

pids=()
for i in $(seq 1 $N); do
    ( sleep "$(awk -v i="$i" 'BEGIN { printf "%.2f", i * 0.012 }')"
      rc=0
      "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "dev-$i" \
          --kpm-file "$T/dev-$i.kpm" --state "$T/s-$i" --json --quiet --timeout 8000 \
          >"$T/r-$i.json" 2>"$T/r-$i.err" || rc=$?
      echo "$rc" >"$T/rc-$i" ) &
    pids+=($!)
done
# Stop while the load is running: after a few enrolments landed, with more to come.
for _ in $(seq 1 100); do
    [ "$(grep -c 'event=enrolled' "$MEF/mefd.log")" -ge 4 ] && break
    sleep 0.05
done
mefd_stop
ok "mefd exited 0 after SIGTERM under load"
for p in "${pids[@]}"; do wait "$p" || true; done
grep -q "event=stopped" "$MEF/mefd.log" || fail "no stopped event"

mefd_start "$MEF"
succeeded=0
for i in $(seq 1 $N); do
    rc=$(cat "$T/rc-$i")
    if [ "$rc" = 0 ]; then
        succeeded=$((succeeded + 1))
        keid=$(json_get "$T/r-$i.json" 'j["keid"]')
        held=$("$MEFD" enrolee show -d "$MEF" --kpm-id "dev-$i" --json | json_get - 'j["ke"]["keID"]')
        [ "$held" = "$keid" ] || fail "dev-$i saw $keid succeed but mefd holds '$held'"
    else
        # A failed enrolment failed cleanly: a message, and no half-written device state.
        [ -s "$T/r-$i.err" ] || fail "dev-$i failed without a message"
        if [ -f "$T/s-$i/state.db" ]; then
            k=$("$CLI" state --state "$T/s-$i" --json | json_get - 'j["keid"]')
            [ -z "$k" ] || fail "dev-$i failed but stored KeID $k"
        fi
    fi
done
echo "# $succeeded of $N enrolments completed before the stop"
[ "$succeeded" -ge 4 ] || fail "the stop came before any enrolment completed: nothing was tested"
ok "every enrolment a client saw succeed is held by the restarted mefd ($succeeded/$N)"
# The restarted daemon serves new enrolments from the same store.
"$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id dev-1 --kpm-file "$T/dev-1.kpm" \
    --state "$T/s-again" --quiet --timeout 30000 >/dev/null 2>"$T/again.err" || fail "restarted mefd does not serve: $(cat "$T/again.err")"
ok "restarted mefd serves the same store"
mefd_stop
done_tests
