#!/bin/sh
# test_sw_copy.sh SW_COPY MODE [SIZE_MIB] — copies SIZE_MIB (default 64) MiB of pseudo-random data
# between two sw_copy processes and checks the path and the bytes.
#   MODE provider  the provider serves 127.0.0.1: path must be "provider"
#   MODE tcp       both processes run with SANWSP_ADDRESSES=10.255.255.0/24, so the provider
#                  declines 127.0.0.1 and the switch falls back to kernel TCP: path must be "tcp"
#   MODE write     provider path with SW_FORCE_WRITE_PATH=1 (RDMA write path)
# Prints "N passed, N failed"; exit status 0 only if nothing failed.
set -u
SW_COPY=$1
MODE=$2
MIB=${3:-64}
pass=0
fail=0
check() { # check DESCRIPTION COMMAND...
    d=$1; shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $d" >&2; fi
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/sw_copy.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
port=$(( 12000 + ($$ * 13 + $(date +%N | sed 's/^0*//;s/^$/0/') / 1000) % 10000 )) # mapped ports stay below the ephemeral range

expect=provider
case $MODE in
provider) export SW_RDMA_THRESHOLD=65536 ;; # exercise the RDMA read path (soft reports 1 MiB)
tcp) export SANWSP_ADDRESSES=10.255.255.0/24; expect=tcp ;;
write) export SW_FORCE_WRITE_PATH=1 SW_RDMA_THRESHOLD=65536 ;;
*) echo "unknown mode $MODE" >&2; exit 2 ;;
esac

head -c $((MIB * 1048576)) /dev/urandom > "$dir/in" || exit 1

"$SW_COPY" serve 127.0.0.1 "$port" "$dir/out" > "$dir/serve.log" 2> "$dir/serve.err" &
spid=$!
# wait until the server listens (it prints a line on stderr)
i=0
while ! grep -q listening "$dir/serve.err" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$SW_COPY" send 127.0.0.1 "$port" "$dir/in" > "$dir/send.log" 2> "$dir/send.err"
src=$?
wait $spid
rrc=$?
cat "$dir/send.log" "$dir/serve.log"
[ -s "$dir/send.err" ] && sed 's/^/send: /' "$dir/send.err" >&2
grep -v listening "$dir/serve.err" | sed 's/^/serve: /' >&2

check "sender exit status 0 (got $src)" [ "$src" -eq 0 ]
check "receiver exit status 0 (got $rrc)" [ "$rrc" -eq 0 ]
check "sender path $expect" grep -q "path $expect," "$dir/send.log"
check "receiver path $expect" grep -q "path $expect," "$dir/serve.log"
check "checksums verified" grep -q "OK" "$dir/send.log"
check "output identical" cmp -s "$dir/in" "$dir/out"
check "all $MIB MiB" grep -q "send: $((MIB * 1048576)) bytes" "$dir/send.log"
if [ "$MODE" = write ]; then
    check "write path used" grep -q "rdma writes [1-9]" "$dir/send.log"
elif [ "$MODE" = provider ]; then
    check "RDMA used" grep -q "rdma reads [1-9]" "$dir/serve.log"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
