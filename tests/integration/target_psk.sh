#!/usr/bin/env bash
# PSK-authenticated Enrolment Target links (TS-0003 8.3.2.1 "Use of Remotely
# Provisioned Credential"): mefd serves certificate and PSK targets on one
# target listener. mafd fetches Km over TLS-PSK (mefs.conf psk_id/psk_file from
# `mafd init --mef-psk-*`) and registers a device with its KeID (2001); Entity
# B (`m2msec cse --mef-psk`) fetches Kpsa over TLS-PSK and Entity A connects.
# Refusals: a wrong target PSK and an unknown PSK identity fail the handshake
# (mafd logs fetch_failed, mefd fetches nothing), a PSK target naming another
# target's id (4106), a PSK target asking for an SUID it is not allowed (4103).
# openssl s_client -psk is an independent client: the right key gets the
# credential python derives independently, a wrong key gets no session.
# Administration: exactly one of --cert-fqdn / --psk-id, key bounds, a PSK
# identity bound once, list/show give the key check value and never the key.
. "${M2MSEC_TESTLIB:-$(dirname "$0")/../lib}/itest.sh"

MAFD="$BIN/mafd"
MEF="$T/mef"
mefd_init "$MEF" mef.test.example --dev-pki --target-listen 127.0.0.1:0
hex32() { python3 -c 'import os; print(os.urandom(32).hex())'; }
kcv_of() { # kcv_of HEX: the key check value of docs/PROTOCOL.md section 8
    python3 -c 'import hmac,hashlib,sys; print(hmac.new(bytes.fromhex(sys.argv[1]), b"m2msec key check value", hashlib.sha256).hexdigest()[:16])' "$1"
}
hex32 >"$T/maf.psk"
hex32 >"$T/cseb.psk"
hex32 >"$T/csec.psk"
hex32 >"$T/wrong.psk"
python3 -c 'print("ab" * 15)' >"$T/short.psk"

# --- 1. administration of PSK targets
expect_rc() { # expect_rc WANT OUT CMD...
    local want=$1 out=$2 rc=0
    shift 2
    "$@" >"$T/$out" 2>&1 || rc=$?
    [ "$rc" -eq "$want" ] || fail "$* exited $rc, expected $want: $(cat "$T/$out")"
}
"$MEFD" target add -d "$MEF" --id maf.test.example --psk-id maf-psk-1 --psk-file "$T/maf.psk" \
    --suid 21 >"$T/add.out" || fail "target add --psk-id: $(cat "$T/add.out")"
maf_kcv=$(kcv_of "$(cat "$T/maf.psk")")
grep -q "^added target id=maf.test.example psk-id=maf-psk-1 psk-kcv=$maf_kcv suids=21" "$T/add.out" \
    || fail "target add output: $(cat "$T/add.out")"
"$MEFD" target add -d "$MEF" --id /cse-b --psk-id cse-b-psk --psk-file "$T/cseb.psk" --suid 22 >/dev/null
"$MEFD" target add -d "$MEF" --id /cse-c --psk-id cse-c-psk --psk-file "$T/csec.psk" --suid 22 >/dev/null
"$MEFD" pki issue -d "$MEF" --fqdn cse-d.test.example --cert "$T/csed.pem" --key "$T/csed.key" >/dev/null
"$MEFD" target add -d "$MEF" --id /cse-d --cert-fqdn cse-d.test.example --suid 22 >/dev/null
ok "PSK targets added (kcv printed: $maf_kcv) beside a certificate target"

USAGE='usage: mefd target add -d DIR --id ID \(--cert-fqdn FQDN \| --psk-id'
expect_rc 1 both.out "$MEFD" target add -d "$MEF" --id /cse-x --cert-fqdn x.test.example \
    --psk-id x-psk --psk-file "$T/wrong.psk" --suid 22
grep -Eq "$USAGE" "$T/both.out" || fail "both credentials: $(cat "$T/both.out")"
expect_rc 1 none.out "$MEFD" target add -d "$MEF" --id /cse-x --suid 22
grep -Eq "$USAGE" "$T/none.out" || fail "no credential: $(cat "$T/none.out")"
expect_rc 1 nofile.out "$MEFD" target add -d "$MEF" --id /cse-x --psk-id x-psk --suid 22
grep -Eq "$USAGE" "$T/nofile.out" || fail "--psk-id without --psk-file: $(cat "$T/nofile.out")"
expect_rc 1 short.out "$MEFD" target add -d "$MEF" --id /cse-x --psk-id x-psk --psk-file "$T/short.psk" --suid 22
grep -q "15 bytes, a target PSK has 16 to 64" "$T/short.out" || fail "short key: $(cat "$T/short.out")"
expect_rc 1 space.out "$MEFD" target add -d "$MEF" --id /cse-x --psk-id 'x psk' --psk-file "$T/wrong.psk" --suid 22
grep -q "printable ASCII characters without space" "$T/space.out" || fail "psk id: $(cat "$T/space.out")"
expect_rc 1 dup.out "$MEFD" target add -d "$MEF" --id /cse-x --psk-id cse-b-psk --psk-file "$T/wrong.psk" --suid 22
grep -q "PSK identity cse-b-psk is already bound to target /cse-b" "$T/dup.out" || fail "dup: $(cat "$T/dup.out")"
"$MEFD" target show -d "$MEF" --id /cse-x >"$T/showx.out" 2>&1 && fail "refused targets were stored"
ok "target add refusals: both or no credential, key without identity, 15-byte key, space, duplicate identity"

"$MEFD" target list -d "$MEF" >"$T/list.txt"
"$MEFD" target list -d "$MEF" --json >"$T/list.json"
"$MEFD" target show -d "$MEF" --id maf.test.example >"$T/show.txt"
"$MEFD" target show -d "$MEF" --id maf.test.example --json >"$T/show.json"
for f in list.txt list.json show.txt show.json; do
    for k in maf cseb csec; do
        grep -qi "$(cat "$T/$k.psk")" "$T/$f" && fail "$f shows a key"
    done
done
grep -q "psk:maf-psk-1 kcv=$maf_kcv" "$T/list.txt" || fail "list: $(cat "$T/list.txt")"
grep -q "cert:cse-d.test.example" "$T/list.txt" || fail "list: $(cat "$T/list.txt")"
[ "$(json_get "$T/list.json" '[t["auth"] for t in j]')" = '["psk", "psk", "certificate", "psk"]' ] \
    || fail "list --json: $(cat "$T/list.json")"
[ "$(json_get "$T/show.json" 'j["pskKCV"]')" = "$maf_kcv" ] || fail "show --json: $(cat "$T/show.json")"
[ "$(json_get "$T/show.json" 'j["pskID"]')" = maf-psk-1 ] || fail "show --json: $(cat "$T/show.json")"
[ "$(json_get "$T/show.json" '"certFQDN" in j')" = false ] || fail "show --json: $(cat "$T/show.json")"
grep -q "^psk-kcv=$maf_kcv$" "$T/show.txt" || fail "show: $(cat "$T/show.txt")"
[ "$(sqlite_count "$MEF/mef.db" "SELECT count(*) FROM target WHERE psk IS NOT NULL")" = 3 ] \
    || fail "sealed keys in the store"
ok "list/show: PSK identity and key check value, never the key; keys stored sealed"

add_enrolee "$MEF" dev-1 /cse-dev1 3600 --target maf.test.example
add_enrolee "$MEF" dev-2 /cse-dev2 3600 --target maf.test.example
add_enrolee "$MEF" dev-3 /cse-dev3 3600 --target maf.test.example
add_enrolee "$MEF" dev-a /cse-a 3600 --target /cse-b --target /cse-c
mefd_start "$MEF"
[ -n "$TGT_ADDR" ] || fail "no Enrolment Target service address"

enrol() {
    "$CLI" enrol --mef "$MEF_ADDR" --sni mef.test.example --kpm-id "$1" --kpm-file "$T/$1.kpm" \
        --state "$T/s-$1" --json --quiet >"$T/e-$1.json" || fail "enrol $1"
    json_get "$T/e-$1.json" 'j["keid"]'
}
fetched() { grep -c "event=credential_fetched.* keid=$1 " "$MEF/mefd.log" || true; }

# --- 2. mafd fetches Km over TLS-PSK
# mafd's certificate is not a target at mefd: only the PSK can succeed.
"$MEFD" pki issue -d "$MEF" --fqdn maf.test.example --cert "$T/maf.pem" --key "$T/maf.key" >/dev/null
maf_init() { # maf_init DIR PSKID PSKFILE
    "$MAFD" init -d "$1" --fqdn maf.test.example --listen 127.0.0.1:0 --mef-ca "$MEF/pki/ca.pem" \
        --cert "$T/maf.pem" --key "$T/maf.key" --mef "mef.test.example=$TGT_ADDR" \
        --mef-psk-id "$2" --mef-psk-file "$3" >/dev/null || fail "mafd init $1"
    sed -i -e 's/^handshake_timeout_ms = .*/handshake_timeout_ms = 5000/' -e 's/^workers = .*/workers = 2/' \
        "$1/mafd.conf"
}
expect_rc 1 mafinit.out "$MAFD" init -d "$T/maf-x" --fqdn maf.test.example --mef-ca "$MEF/pki/ca.pem" \
    --cert "$T/maf.pem" --key "$T/maf.key" --mef "mef.test.example=$TGT_ADDR" --mef-psk-id maf-psk-1
grep -q "go together" "$T/mafinit.out" || fail "mafd init --mef-psk-id alone: $(cat "$T/mafinit.out")"
expect_rc 1 mafinit2.out "$MAFD" init -d "$T/maf-x" --fqdn maf.test.example --mef-ca "$MEF/pki/ca.pem" \
    --cert "$T/maf.pem" --key "$T/maf.key" --mef "mef.test.example=$TGT_ADDR" --mef-psk-id maf-psk-1 \
    --mef-psk-file "$T/short.psk"
grep -q "15 bytes" "$T/mafinit2.out" || fail "mafd init with a short key: $(cat "$T/mafinit2.out")"
[ ! -e "$T/maf-x" ] || fail "a refused mafd init created its directory"
ok "mafd init refuses --mef-psk-id without a key file, and a 15-byte key, creating nothing"

MAF="$T/maf"
maf_init "$MAF" maf-psk-1 "$T/maf.psk"
grep -q "^psk_id = maf-psk-1$" "$MAF/mefs.conf" || fail "mefs.conf: $(cat "$MAF/mefs.conf")"
grep -q "^psk_file = /.*/maf.psk$" "$MAF/mefs.conf" || fail "mefs.conf: $(cat "$MAF/mefs.conf")"
# mefs.conf loader: psk_id/psk_file belong to the MEF line above them, both or neither.
cfg_case() { # cfg_case NAME PATTERN: mefs.conf body on stdin; `mafd client list` must fail with PATTERN
    local d="$T/cfg-$1"
    rm -rf "$d"
    cp -a "$MAF" "$d"
    cat >"$d/mefs.conf"
    expect_rc 1 "cfg-$1.out" "$MAFD" client list -d "$d"
    grep -q -- "$2" "$T/cfg-$1.out" || fail "mefs.conf $1: $(cat "$T/cfg-$1.out")"
}
CA_LINE="ca = $MEF/pki/ca.pem"
MEF_LINE="mef = mef.test.example $TGT_ADDR"
printf '[mef]\n%s\n%s\npsk_id = maf-psk-1\n' "$CA_LINE" "$MEF_LINE" | cfg_case alone "psk_id and psk_file go together"
printf '[mef]\n%s\npsk_id = maf-psk-1\n%s\n' "$CA_LINE" "$MEF_LINE" | cfg_case before "'psk_id' before any 'mef' line"
printf '[mef]\n%s\n%s\npsk_id = a\npsk_id = b\npsk_file = %s\n' "$CA_LINE" "$MEF_LINE" "$T/maf.psk" \
    | cfg_case dup "duplicate key 'psk_id' for MEF mef.test.example"
printf '[mef]\n%s\n%s\npsk_id = maf-psk-1\npsk_file = no-such.psk\n' "$CA_LINE" "$MEF_LINE" \
    | cfg_case missing "psk_file .*no-such.psk"
printf '[mef]\n%s\n%s\npsk_id = maf-psk-1\npsk_file = %s\n' "$CA_LINE" "$MEF_LINE" "$T/short.psk" \
    | cfg_case short "15 bytes"
printf '[mef]\n%s\n%s\npsk_id = a b\npsk_file = %s\n' "$CA_LINE" "$MEF_LINE" "$T/maf.psk" \
    | cfg_case space "without space"
cp "$T/maf.psk" "$T/cfg-space/rel.psk"
printf '[mef]\n%s\n%s\npsk_id = maf-psk-1\npsk_file = rel.psk\n' "$CA_LINE" "$MEF_LINE" >"$T/cfg-space/mefs.conf"
"$MAFD" client list -d "$T/cfg-space" >"$T/cfg-ok.out" 2>&1 || fail "relative psk_file: $(cat "$T/cfg-ok.out")"
ok "mefs.conf: psk_id alone, before a mef line, twice, missing/short key file, space refused; relative psk_file read"

mafd_run "$MAF"
register() { # register NAME STATE MAFADDR
    "$CLI" maf register --maf "$3" --sni maf.test.example --admin-fqdn admin.test.example \
        --state "$2" --json --quiet >"$T/$1.json" 2>"$T/$1.err"
}
keid1=$(enrol dev-1)
register r1 "$T/s-dev-1" "$MAF_ADDR" || fail "register over a PSK target link: $(cat "$T/r1.err")"
[ "$(json_get "$T/r1.json" 'j["km_assigned"]')" = true ] || fail "no KmID assigned: $(cat "$T/r1.json")"
[ "$(json_get "$T/r1.json" 'j["client_id"]')" = /cse-dev1 ] || fail "client id: $(cat "$T/r1.json")"
dev_kcv=$("$CLI" state --state "$T/s-dev-1" --derive 21:maf.test.example --json | json_get - 'j["derived"]["kcv"]')
"$MAFD" client list -d "$MAF" --json >"$T/clients.json"
[ "$(json_get "$T/clients.json" 'j[0]["kcv"]')" = "$dev_kcv" ] || fail "Km differs: $(cat "$T/clients.json")"
grep -q "event=credential_fetched target=maf.test.example keid=$keid1 suid=21 kcv=$dev_kcv" "$MEF/mefd.log" \
    || fail "mefd did not log the fetch"
ok "device enrol -> maf register with its KeID -> 2001; mafd fetched Km over TLS-PSK (kcv $dev_kcv)"

# The certificate link still works on the same listener (mefs.conf without psk_*).
MAFC="$T/mafc"
"$MEFD" target add -d "$MEF" --id cert-maf.test.example --cert-fqdn cert-maf.test.example --suid 21 >/dev/null
"$MEFD" pki issue -d "$MEF" --fqdn cert-maf.test.example --cert "$T/cmaf.pem" --key "$T/cmaf.key" >/dev/null
add_enrolee "$MEF" dev-c /cse-devc 3600 --target cert-maf.test.example
"$MAFD" init -d "$MAFC" --fqdn cert-maf.test.example --listen 127.0.0.1:0 --mef-ca "$MEF/pki/ca.pem" \
    --cert "$T/cmaf.pem" --key "$T/cmaf.key" --mef "mef.test.example=$TGT_ADDR" >/dev/null
grep -q "^psk_" "$MAFC/mefs.conf" && fail "mefs.conf without PSK options has psk lines"
mafd_run "$MAFC"
keidc=$(enrol dev-c)
"$CLI" maf register --maf "$MAF_ADDR" --sni cert-maf.test.example --admin-fqdn admin.test.example \
    --state "$T/s-dev-c" --json --quiet >"$T/rc.json" 2>"$T/rc.err" || fail "certificate link: $(cat "$T/rc.err")"
[ "$(fetched "$keidc")" = 1 ] || fail "certificate target fetch not logged once"
ok "a certificate target on the same listener still fetches (KeID $keidc)"

# --- 3. wrong target PSK, unknown PSK identity: handshake refused, nothing fetched
for case in wrong:maf-psk-1:wrong.psk unknown:no-such-psk:maf.psk; do
    IFS=: read -r name pid pfile <<<"$case"
    dir="$T/maf-$name"
    maf_init "$dir" "$pid" "$T/$pfile"
    mafd_run "$dir"
    dev=dev-2
    [ "$name" = unknown ] && dev=dev-3
    keid=$(enrol "$dev")
    register "r-$name" "$T/s-$dev" "$MAF_ADDR" && fail "$name PSK: device registered"
    grep -qi "handshake refused" "$T/r-$name.err" || fail "$name PSK: $(cat "$T/r-$name.err")"
    wait_for 5 grep -q "event=fetch_failed keid=$keid" "$dir/mafd.log" || fail "$name PSK: no fetch_failed"
    grep "event=fetch_failed keid=$keid" "$dir/mafd.log" | grep -q "PSK handshake failed" \
        || fail "$name PSK: $(grep fetch_failed "$dir/mafd.log")"
    [ "$(fetched "$keid")" = 0 ] || fail "$name PSK: mefd handed out a credential"
    kill -TERM "$MAF_PID"
    wait "$MAF_PID" || true
done
grep -q "event=handshake_failed.*PSK handshake failed (unknown identity)" "$MEF/mefd.log" \
    || fail "mefd did not log the unknown identity"
ok "wrong target PSK and unknown PSK identity: handshake refused, fetch_failed at mafd, no credential"

# --- 4. Entity B fetches Kpsa over TLS-PSK
B="$T/b"
"$CLI" cse -d "$B" --listen 127.0.0.1:0 --id /cse-b --mef "$TGT_ADDR" --mef-fqdn mef.test.example \
    --mef-psk "cse-b-psk:$T/cseb.psk" --log "$T/cse.log" --idle-ms 2000 >"$T/cse.out" 2>"$T/cse.err" &
CSE_PID=$!
PIDS+=("$CSE_PID")
wait_for 10 grep -q '^listening ' "$T/cse.out" || fail "m2msec cse did not start: $(cat "$T/cse.err")"
CSE_ADDR=$(sed -n 's/^listening //p' "$T/cse.out")
keid_a=$(enrol dev-a)
"$CLI" connect --to "$CSE_ADDR" --state "$T/s-dev-a" --key-id "$keid_a" --peer-id /cse-b --json \
    >"$T/c1.json" 2>"$T/c1.err" || fail "Entity A -> B: $(cat "$T/c1.err")"
[ "$(json_get "$T/c1.json" 'j["peer"]')" = /cse-a ] || fail "B bound the session to: $(cat "$T/c1.json")"
kpsa_kcv=$("$CLI" state --state "$T/s-dev-a" --derive 22:/cse-b --json | json_get - 'j["derived"]["kcv"]')
grep -q "event=credential_fetched target=/cse-b keid=$keid_a suid=22 kcv=$kpsa_kcv" "$MEF/mefd.log" \
    || fail "mefd did not hand B the Kpsa A derives"
ok "Entity B (--mef-psk) fetched Kpsa over TLS-PSK; A's connect succeeded, bound to /cse-a"
"$CLI" cse -d "$T/b2" --listen 127.0.0.1:0 --id /cse-b --mef "$TGT_ADDR" --mef-fqdn mef.test.example \
    --mef-psk "cse-b-psk:$T/cseb.psk" --cert "$T/csed.pem" >"$T/cse2.out" 2>&1 && fail "--mef-psk with --cert accepted"
grep -q "needs --key" "$T/cse2.out" || fail "--mef-psk with --cert: $(cat "$T/cse2.out")"
"$CLI" cse -d "$T/b2" --listen 127.0.0.1:0 --id /cse-b --mef "$TGT_ADDR" --mef-fqdn mef.test.example \
    --mef-psk "cse-b-psk:$T/cseb.psk" --cert "$T/csed.pem" --key "$T/csed.pem" >"$T/cse2b.out" 2>&1 &&
    fail "--mef-psk with an unused --cert/--key accepted"
grep -q "would be unused" "$T/cse2b.out" || fail "--mef-psk with --cert/--key: $(cat "$T/cse2b.out")"
"$CLI" cse -d "$T/b2" --listen 127.0.0.1:0 --id /cse-b --mef "$TGT_ADDR" --mef-fqdn mef.test.example \
    --mef-psk "cse-b-psk:$T/short.psk" >"$T/cse3.out" 2>&1 && fail "--mef-psk with a short key accepted"
grep -q "15 bytes" "$T/cse3.out" || fail "--mef-psk short key: $(cat "$T/cse3.out")"
ok "m2msec cse refuses --cert without --key, a credential nothing uses, and a 15-byte key"

# --- 5. openssl s_client -psk as an independent target client
# tgt_req NAME PSKID HEXFILE ORIGIN PATH: one request; the response (or the failure) in $T/NAME.out
tgt_req() {
    printf 'GET %s HTTP/1.1\r\nHost: mef.test.example\r\nX-M2M-Origin: %s\r\nX-M2M-RI: r-%s\r\nX-M2M-RVI: 3\r\nConnection: close\r\n\r\n' \
        "$5" "$4" "$1" | timeout 20 openssl s_client -connect "$TGT_ADDR" -tls1_2 -psk_identity "$2" \
        -psk "$(cat "$3")" -servername mef.test.example -ign_eof -quiet >"$T/$1.out" 2>&1 || true
}
rsc_of() { grep -ao 'X-M2M-RSC: [0-9]*' "$T/$1.out" | head -n 1 | sed 's/.*: //'; }
tgt_req ok cse-b-psk "$T/cseb.psk" /cse-b "/fetchCredentials/$keid_a/22"
[ "$(rsc_of ok)" = 2000 ] || fail "openssl with the right PSK: $(cat "$T/ok.out")"
cred=$(sed -n '/^{/,$p' "$T/ok.out" | json_get - 'j["Credential"]')
got_kcv=$(python3 -c 'import base64,hmac,hashlib,sys; print(hmac.new(base64.b64decode(sys.argv[1]), b"m2msec key check value", hashlib.sha256).hexdigest()[:16])' "$cred")
[ "$got_kcv" = "$kpsa_kcv" ] || fail "openssl got a credential with kcv $got_kcv, A derives $kpsa_kcv"
ok "openssl s_client -psk (default suites): 2000 and the Kpsa the device derives"
tgt_req bad cse-b-psk "$T/wrong.psk" /cse-b "/fetchCredentials/$keid_a/22"
grep -aq "X-M2M-RSC" "$T/bad.out" && fail "openssl with a wrong PSK got an answer: $(cat "$T/bad.out")"
grep -aqi "alert\|error" "$T/bad.out" || fail "openssl with a wrong PSK: $(cat "$T/bad.out")"
tgt_req unk nobody-psk "$T/cseb.psk" /cse-b "/fetchCredentials/$keid_a/22"
grep -aq "X-M2M-RSC" "$T/unk.out" && fail "openssl with an unknown identity got an answer"
ok "openssl s_client -psk with a wrong key, or an unknown identity: no session"

# --- 6. request-level refusals for PSK targets
n_before=$(fetched "$keid_a")
tgt_req other cse-c-psk "$T/csec.psk" /cse-b "/fetchCredentials/$keid_a/22"
[ "$(rsc_of other)" = 4106 ] || fail "PSK target naming another target: $(cat "$T/other.out")"
tgt_req suid cse-b-psk "$T/cseb.psk" /cse-b "/fetchCredentials/$keid_a/23"
[ "$(rsc_of suid)" = 4103 ] || fail "PSK target, SUID not allowed: $(cat "$T/suid.out")"
grep "event=fetch_refused target=/cse-b rsc=4103" "$MEF/mefd.log" | grep -q "SUID not configured" \
    || fail "mefd: $(grep fetch_refused "$MEF/mefd.log")"
tgt_req self cse-c-psk "$T/csec.psk" /cse-c "/fetchCredentials/$keid_a/22"
[ "$(rsc_of self)" = 2000 ] || fail "cse-c under its own id: $(cat "$T/self.out")"
[ "$(fetched "$keid_a")" = $((n_before + 1)) ] || fail "refused requests handed out credentials"
ok "PSK target naming another target's id -> 4106; SUID 23 not allowed -> 4103; own id -> 2000"

# A removed PSK target: the handshake fails like an unknown identity.
"$MEFD" target remove -d "$MEF" --id /cse-c >/dev/null
tgt_req gone cse-c-psk "$T/csec.psk" /cse-c "/fetchCredentials/$keid_a/22"
grep -aq "X-M2M-RSC" "$T/gone.out" && fail "removed PSK target still served: $(cat "$T/gone.out")"
ok "removed PSK target: no session"

mefd_stop
done_tests
