#!/usr/bin/env bash
# mafd's operator-facing inputs: `mafd init` options, the mafd.conf / mefs.conf /
# KEK files `mafd serve` reads at start-up, `mafd client list` on an empty
# store, usage and unknown commands. Every refusal is checked for its exit
# status and its message; every refused input has an accepted neighbour (the
# valid init, a serve that does listen) so that no check passes vacuously.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MAFD="$BIN/mafd"
MEF="$T/mef"
mefd_init "$MEF" mef.test.example --dev-pki
"$MEFD" pki issue -d "$MEF" --fqdn maf.test.example --cert "$T/maf.pem" --key "$T/maf.key" >/dev/null
CA="$MEF/pki/ca.pem"
[ -f "$CA" ] || fail "no dev CA at $CA"

# expect_rc WANT OUT CMD...: run CMD, stdout+stderr to $T/OUT; fail unless it exits WANT.
expect_rc() {
    local want=$1 out=$2 rc=0
    shift 2
    "$@" >"$T/$out" 2>&1 || rc=$?
    [ "$rc" -eq "$want" ] || fail "$* exited $rc, expected $want: $(cat "$T/$out")"
}
# expect_msg OUT PATTERN: the captured output of OUT matches the extended regex PATTERN.
expect_msg() {
    grep -Eq -- "$2" "$T/$1" || fail "$1: expected /$2/, got: $(cat "$T/$1")"
}

# --- 1. mafd init refusals: each leaves no directory behind
init() {
    "$MAFD" init --listen 127.0.0.1:0 "$@"
}
USAGE='usage: mafd init -d DIR --fqdn'
n=0
for drop in --fqdn --cert --key --mef-ca -d; do
    n=$((n + 1))
    args=(-d "$T/i$n" --fqdn maf.test.example --mef-ca "$CA" --cert "$T/maf.pem" --key "$T/maf.key")
    kept=()
    i=0
    while [ "$i" -lt "${#args[@]}" ]; do
        [ "${args[$i]}" = "$drop" ] || kept+=("${args[$i]}" "${args[$((i + 1))]}")
        i=$((i + 2))
    done
    expect_rc 1 "init$n.out" init "${kept[@]}"
    expect_msg "init$n.out" "^mafd: $USAGE"
    [ ! -e "$T/i$n" ] || fail "init without $drop created $T/i$n"
    ok "init without $drop: exit 1, usage"
done
expect_rc 1 extra.out init -d "$T/ix" --fqdn maf.test.example --mef-ca "$CA" --cert "$T/maf.pem" \
    --key "$T/maf.key" stray
expect_msg extra.out "^mafd: $USAGE"
ok "init with a stray operand: exit 1, usage"
expect_rc 2 badopt.out init -d "$T/ix" --fqdn maf.test.example --mef-ca "$CA" --cert "$T/maf.pem" \
    --key "$T/maf.key" --no-such-option
expect_msg badopt.out "unrecognized option"
ok "init with an unknown option: exit 2"

for bad in 'maf..test.example' '-maf.test.example' 'maf_x.test.example' 'maf.test.example.' \
    "$(printf 'a%.0s' $(seq 1 64)).example" ''; do
    expect_rc 1 fqdn.out init -d "$T/if" --fqdn "$bad" --mef-ca "$CA" --cert "$T/maf.pem" --key "$T/maf.key"
    expect_msg fqdn.out "^mafd: '.*' is not a valid FQDN"
    [ ! -e "$T/if" ] || fail "init with FQDN '$bad' created the directory"
done
ok "init with an invalid FQDN (empty label, leading hyphen, underscore, 64-octet label...): exit 1"

for bad in mef.test.example mef.test.example=127.0.0.1 'mef.test.example=127.0.0.1:0' \
    'mef.test.example=127.0.0.1:65536' 'mef.test.example=127.0.0.1:http' 'mef.test.example=' \
    '=127.0.0.1:8444' 'bad_fqdn=127.0.0.1:8444' 'mef.test.example=[::1:8444'; do
    expect_rc 1 mef.out init -d "$T/im" --fqdn maf.test.example --mef-ca "$CA" --cert "$T/maf.pem" \
        --key "$T/maf.key" --mef "$bad"
    expect_msg mef.out "^mafd: --mef '.*': expected MEF-FQDN=HOST:PORT"
    [ ! -e "$T/im" ] || fail "init with --mef '$bad' created the directory"
done
ok "init --mef without '=', without or with a bad port, bad FQDN: exit 1"
args=(-d "$T/i17" --fqdn maf.test.example --mef-ca "$CA" --cert "$T/maf.pem" --key "$T/maf.key")
for i in $(seq 1 17); do
    args+=(--mef "mef$i.test.example=127.0.0.1:$((8000 + i))")
done
expect_rc 1 mef17.out init "${args[@]}"
expect_msg mef17.out "at most 16"
ok "init with 17 --mef: exit 1"

for which in cert key mef-ca; do
    args=(-d "$T/in" --fqdn maf.test.example --mef-ca "$CA" --cert "$T/maf.pem" --key "$T/maf.key")
    for i in "${!args[@]}"; do
        [ "${args[$i]}" = "--$which" ] && args[$((i + 1))]="$T/no-such-$which.pem"
    done
    expect_rc 1 nofile.out init "${args[@]}"
    expect_msg nofile.out "^mafd: --mef-ca, --cert and --key must name existing files"
    [ ! -e "$T/in" ] || fail "init with a missing --$which file created the directory"
done
ok "init with a missing cert, key or mef-ca file: exit 1"

# --- 2. a valid init, then re-init refused
MAF="$T/maf"
expect_rc 0 init.out init -d "$MAF" --fqdn maf.test.example --mef-ca "$CA" --cert "$T/maf.pem" \
    --key "$T/maf.key" --mef mef.test.example=127.0.0.1:8444 --mef 'mef2.test.example=[::1]:9444'
expect_msg init.out "^initialised $MAF: fqdn=maf.test.example listen=127.0.0.1:0 mefs=2$"
for f in mafd.conf mefs.conf kek.hex maf.db; do
    [ -s "$MAF/$f" ] || fail "init did not create $f"
done
[ "$(stat -c %a "$MAF/kek.hex")" = 600 ] || fail "kek.hex mode $(stat -c %a "$MAF/kek.hex")"
[ "$(stat -c %a "$MAF")" = 700 ] || fail "directory mode $(stat -c %a "$MAF")"
grep -Eq '^fqdn = maf\.test\.example$' "$MAF/mafd.conf" || fail "mafd.conf: $(cat "$MAF/mafd.conf")"
grep -Eq "^ca = $CA$" "$MAF/mefs.conf" || fail "mefs.conf ca: $(cat "$MAF/mefs.conf")"
[ "$(grep -c '^mef = ' "$MAF/mefs.conf")" = 2 ] || fail "mefs.conf: $(cat "$MAF/mefs.conf")"
[ "$(sqlite_count "$MAF/maf.db" "SELECT count(*) FROM sqlite_master WHERE type='table'")" -gt 0 ] \
    || fail "maf.db has no tables"
ok "valid init: mafd.conf, mefs.conf (2 MEFs), kek.hex 0600, maf.db with a schema"

cp -a "$MAF" "$T/maf.orig"
expect_rc 1 reinit.out init -d "$MAF" --fqdn other.test.example --mef-ca "$CA" --cert "$T/maf.pem" \
    --key "$T/maf.key"
expect_msg reinit.out "^mafd: .*mafd.conf already exists: .* is initialised"
diff -r "$MAF" "$T/maf.orig" >/dev/null || fail "re-init changed $MAF"
ok "re-init of an initialised directory: exit 1, nothing changed"

# --- 3. client list on the empty store
expect_rc 0 list.out "$MAFD" client list -d "$MAF"
[ ! -s "$T/list.out" ] || fail "client list on an empty store printed: $(cat "$T/list.out")"
expect_rc 0 listj.out "$MAFD" client list -d "$MAF" --json
[ "$(cat "$T/listj.out")" = "[]" ] || fail "client list --json: $(cat "$T/listj.out")"
[ "$(json_get "$T/listj.out" 'len(j)')" = 0 ] || fail "client list --json is not an empty array"
ok "client list on an empty store: nothing; --json: []"
expect_rc 1 listu.out "$MAFD" client show -d "$MAF"
expect_msg listu.out "^mafd: usage: mafd client add\|remove\|list"
expect_rc 1 listn.out "$MAFD" client list -d "$T/no-such-dir"
expect_msg listn.out "^mafd: .*no-such-dir/mafd.conf"
ok "client with an unknown subcommand or a missing directory: exit 1"

# --- 4. mafd serve start-up: a good directory listens, each broken copy is refused
serve_ok() {
    local dir=$1 pid i rc=0
    "$MAFD" serve -d "$dir" 2>"$T/serve.log" &
    pid=$!
    PIDS+=("$pid")
    for i in $(seq 1 100); do
        grep -q 'event=listening' "$T/serve.log" && break
        kill -0 "$pid" 2>/dev/null || fail "mafd serve exited during start-up: $(cat "$T/serve.log")"
        sleep 0.1
    done
    grep -q 'event=listening' "$T/serve.log" || fail "mafd serve did not listen"
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "mafd serve exited with $rc after SIGTERM"
}
# serve_refused NAME PATTERN: `mafd serve -d $T/NAME` exits 1 with PATTERN and never listens.
serve_refused() {
    local rc=0
    timeout 20 "$MAFD" serve -d "$T/$1" >"$T/$1.out" 2>&1 || rc=$?
    [ "$rc" -eq 1 ] || fail "serve $1 exited $rc, expected 1: $(cat "$T/$1.out")"
    ! grep -q 'event=listening' "$T/$1.out" || fail "serve $1 listened: $(cat "$T/$1.out")"
    expect_msg "$1.out" "^mafd: $2"
}
# broken NAME: a fresh copy of the valid directory in $T/NAME.
broken() {
    rm -rf "${T:?}/$1"
    cp -a "$T/maf.orig" "$T/$1"
}
serve_ok "$MAF"
ok "serve on the valid directory listens and stops on SIGTERM"

broken m1
printf 'tls_ca = %s\n' "$CA" >>"$T/m1/mefs.conf"
serve_refused m1 "$T/m1/mefs.conf:[0-9]+: unknown key 'tls_ca' in \[mef\]"
broken m2
printf '[other]\nx = 1\n' >>"$T/m2/mefs.conf"
serve_refused m2 "$T/m2/mefs.conf:[0-9]+: unknown section \[other\]"
ok "serve refuses mefs.conf with an unknown key or section"

for bad in 'mef.test.example' 'mef.test.example 127.0.0.1' 'mef.test.example 127.0.0.1:0' \
    'mef.test.example 127.0.0.1:99999' 'bad_fqdn 127.0.0.1:8444'; do
    broken m3
    printf 'mef = %s\n' "$bad" >>"$T/m3/mefs.conf"
    serve_refused m3 "$T/m3/mefs.conf:[0-9]+: mef = '$bad': expected MEF-FQDN HOST:PORT"
done
broken m3
printf 'mef = MEF.test.example 127.0.0.1:1\n' >>"$T/m3/mefs.conf"
serve_refused m3 "$T/m3/mefs.conf:[0-9]+: MEF MEF.test.example listed twice"
ok "serve refuses a malformed or duplicate 'mef =' line"

broken m4
sed -i '/^ca = /d' "$T/m4/mefs.conf"
serve_refused m4 "$T/m4/mefs.conf: missing key 'ca' in \[mef\]"
broken m4
printf 'ca = %s\n' "$CA" >>"$T/m4/mefs.conf"
serve_refused m4 "$T/m4/mefs.conf:[0-9]+: duplicate key 'ca'"
ok "serve refuses mefs.conf without 'ca' or with two"

broken m5
sed -i "s|^ca = .*|ca = $T/no-such-ca.pem|" "$T/m5/mefs.conf"
serve_refused m5 "$T/m5/mefs.conf: ca: .*no-such-ca.pem"
broken m5
sed -i "s|^ca = .*|ca = pki|" "$T/m5/mefs.conf"
mkdir "$T/m5/pki"
serve_refused m5 "$T/m5/mefs.conf: ca: .*pki is not a regular file"
broken m5
sed -i "s|^ca = .*|ca = junk.pem|" "$T/m5/mefs.conf"
echo 'not a certificate' >"$T/m5/junk.pem"
serve_refused m5 "checking the MAF certificate, key and MEF trust anchors: trust anchors .*junk.pem"
ok "serve refuses a 'ca' file that does not exist, is not a file or holds no certificate"

broken c3
sed -i "s|^cert = .*|cert = $T/no-such-cert.pem|" "$T/c3/mafd.conf"
serve_refused c3 "checking the MAF certificate, key and MEF trust anchors: .*no-such-cert.pem"
broken c3
sed -i "s|^key = .*|key = $CA|" "$T/c3/mafd.conf"
serve_refused c3 "checking the MAF certificate, key and MEF trust anchors: key .*ca.pem"
broken c3
sed -i '/^key = /d' "$T/c3/mafd.conf"
serve_refused c3 ".*mafd.conf: missing key 'key' in \[mafd\]"
ok "serve refuses a missing MAF certificate, a key file holding no key, or no 'key'"

broken m6
rm "$T/m6/mefs.conf"
serve_refused m6 "cannot read $T/m6/mefs.conf: No such file"
ok "serve refuses a missing mefs.conf"

broken c1
printf 'colour = blue\n' >>"$T/c1/mafd.conf"
serve_refused c1 "$T/c1/mafd.conf:[0-9]+: unknown key 'colour' in \[store\]"
broken c2
sed -i 's/^\[mafd\]$/[mafd]\nworkerz = 4/' "$T/c2/mafd.conf"
serve_refused c2 "$T/c2/mafd.conf:[0-9]+: unknown key 'workerz' in \[mafd\]"
ok "serve refuses mafd.conf with an unknown key"

broken k1
chmod 0644 "$T/k1/kek.hex"
serve_refused k1 ".*KEK file .*kek.hex has mode 0644"
broken k2
chmod 0640 "$T/k2/kek.hex"
serve_refused k2 ".*KEK file .*kek.hex has mode 0640"
broken k3
rm "$T/k3/kek.hex"
serve_refused k3 ".*opening KEK file .*kek.hex"
ok "serve refuses a KEK file readable by group or others (0644, 0640), or a missing one"

broken k4
chmod 0644 "$T/k4/kek.hex"
chmod 0600 "$T/k4/kek.hex"
serve_ok "$T/k4"
ok "the same copy with kek.hex 0600 is accepted"

# --- 4b. client add / remove (pre-provisioned Km, TS-0003 8.8.3.1): each refused input
# beside the accepted one; nothing is stored by a refused add
REL=00112233445566778899aabbccddeeff
python3 -c 'print("ab" * 32)' >"$T/km.hex"
KMHEX=$(cat "$T/km.hex")
add() { "$MAFD" client add -d "$MAF" "$@"; }
expect_rc 1 a1.out add --kmid "$REL" --km "$KMHEX"
expect_msg a1.out "^mafd: usage: mafd client add"
expect_rc 1 a2.out add --kmid "$REL" --km "$KMHEX" --km-file "$T/km.hex" --client-id /cse-p
expect_msg a2.out "^mafd: usage: mafd client add"
expect_rc 1 a3.out add --kmid "${REL:1}" --km "$KMHEX" --client-id /cse-p
expect_msg a3.out "relative KmID must be 32 hex digits"
expect_rc 1 a4.out add --kmid "$REL@other.test.example" --km "$KMHEX" --client-id /cse-p
expect_msg a4.out "not <relative KmID>@maf.test.example"
expect_rc 1 a5.out add --kmid "$REL" --km "${KMHEX:2}" --client-id /cse-p
expect_msg a5.out "Km must be 32 bytes"
expect_rc 1 a6.out add --kmid "$REL" --km "zz${KMHEX:2}" --client-id /cse-p
expect_msg a6.out "^mafd: Km:"
expect_rc 1 a7.out add --kmid "$REL" --km "$KMHEX" --client-id "not an id"
expect_msg a7.out "--client-id 'not an id': not a CSE-ID or AE-ID"
expect_rc 1 a8.out add --kmid "$REL" --km "$KMHEX" --client-id /cse-p --target "/cse-b,,/cse-c"
expect_msg a8.out "empty id"
expect_rc 1 a9.out add --kmid "$REL" --km "$KMHEX" --client-id /cse-p --target "bad id"
expect_msg a9.out "not a CSE-ID or AE-ID"
expect_rc 1 a10.out add --kmid "$REL" --km "$KMHEX" --client-id /cse-p --expiry -1
expect_msg a10.out "--expiry '-1': seconds"
[ "$(sqlite_count "$MAF/maf.db" "SELECT count(*) FROM maf_client")" = 0 ] || fail "a refused add stored a client"
ok "client add refuses: missing --client-id, two Km sources, a short KmID, a KmID of another MAF, a short or non-hex Km, a bad client id, an empty or malformed target, a negative expiry"
expect_rc 0 a11.out add --kmid "$(echo "$REL" | tr a-f A-F)" --km-file "$T/km.hex" --client-id /cse-p \
    --target /cse-b,Cae-x --target /cse-c
expect_msg a11.out "^added $REL@maf.test.example client-id=/cse-p suid=11 kcv=[0-9a-f]{16}$"
"$MAFD" client list -d "$MAF" --json >"$T/plist.json" || fail "client list"
[ "$(json_get "$T/plist.json" 'j[0]["kmid"]')" = "$REL@maf.test.example" ] || fail "list: $(cat "$T/plist.json")"
[ "$(json_get "$T/plist.json" 'j[0]["suid"]')" = 11 ] || fail "suid: $(cat "$T/plist.json")"
[ "$(json_get "$T/plist.json" 'j[0]["keid"] is None')" = true ] || fail "keid: $(cat "$T/plist.json")"
[ "$(json_get "$T/plist.json" 'j[0]["expires"]')" = never ] || fail "expiry: $(cat "$T/plist.json")"
[ "$(json_get "$T/plist.json" '",".join(j[0]["targets"])')" = "/cse-b,Cae-x,/cse-c" ] || fail "targets: $(cat "$T/plist.json")"
kcv_py=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(bytes.fromhex(sys.argv[1]), b"m2msec key check value", hashlib.sha256).hexdigest()[:16])' "$KMHEX")
[ "$(json_get "$T/plist.json" 'j[0]["kcv"]')" = "$kcv_py" ] || fail "kcv: $(cat "$T/plist.json") vs $kcv_py"
ok "client add: uppercase KmID stored lowercase, SUID 11, no KeID, no expiry, targets kept, Km's kcv"
expect_rc 1 a12.out add --kmid "$REL" --km "$KMHEX" --client-id /cse-q
expect_msg a12.out "exists"
expect_rc 1 a13.out add --kmid "ffeeddccbbaa99887766554433221100" --km "$KMHEX" --client-id /cse-p
expect_msg a13.out "exists"
ok "client add of a taken KmID or client id: exit 1"
expect_rc 1 r1.out "$MAFD" client remove -d "$MAF"
expect_msg r1.out "^mafd: usage: mafd client remove"
expect_rc 0 r2.out "$MAFD" client remove -d "$MAF" --kmid "$REL@maf.test.example"
expect_msg r2.out "^removed $REL@maf.test.example$"
expect_rc 1 r3.out "$MAFD" client remove -d "$MAF" --kmid "$REL"
expect_msg r3.out "no MAF client $REL"
[ "$("$MAFD" client list -d "$MAF" --json)" = "[]" ] || fail "client left after remove"
ok "client remove: usage without --kmid; removes by full KmID; a second remove: exit 1"

# --- 5. usage
expect_rc 0 help.out "$MAFD" --help
for cmd in init serve 'client list' 'client add' 'client remove' sweep help; do
    grep -Eq "^  $cmd( |$)" "$T/help.out" || fail "--help does not name '$cmd': $(cat "$T/help.out")"
done
expect_rc 0 help2.out "$MAFD" help
cmp -s "$T/help.out" "$T/help2.out" || fail "'mafd help' differs from 'mafd --help'"
ok "mafd --help / help: exit 0, names init, serve, client list, sweep, help"
expect_rc 2 unk.out "$MAFD" frobnicate
expect_msg unk.out "^mafd: unknown command 'frobnicate'"
expect_msg unk.out "^usage: mafd <command>"
expect_rc 2 none.out "$MAFD"
expect_msg none.out "^usage: mafd <command>"
ok "unknown command and no command: exit 2 with usage"

done_tests
