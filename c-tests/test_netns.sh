#!/usr/bin/env bash
# test_netns.sh — a listener and a connector in two network namespaces joined by a veth pair
# (10.213.0.1/30 <-> 10.213.0.2/30), traffic only inside those namespaces:
#   1. connect data both ways and a message each way through the provider, then the connector
#      closes (the listener's pending receive fails WSAECONNRESET);
#   2. the same with SANWSP_DEAD_PEER_MS=2000, then the link is cut (veth down in the listener's
#      namespace): the connector's pending receive must fail WSAETIMEDOUT within 6 s.
#
#   3. connects to an address on the veth subnet where no host exists (10.213.0.3) and through a
#      listener that rejects, a full backlog and a port nobody listens on (test_connect_errors):
#      the unreachable peer must give a code that lets the switch fall back to TCP.
#
#   test_netns.sh path/to/test_two_process path/to/test_connect_errors
#
# Exit 77 (skip) when namespaces cannot be created (not root, no CAP_SYS_ADMIN, no `ip`).
set -u
bin=${1:?usage: test_netns.sh path/to/test_two_process path/to/test_connect_errors}
errbin=${2:?usage: test_netns.sh path/to/test_two_process path/to/test_connect_errors}
a=sanwsp-a-$$
b=sanwsp-b-$$
va=sw$$a
vb=sw$$b
port=${SANWSP_NETNS_PORT:-24680}
tmp=$(mktemp -d)
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    ip netns del "$a" 2>/dev/null
    ip netns del "$b" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

skip() { echo "SKIP: $*"; exit 77; }

command -v ip >/dev/null || skip "no ip(8)"
ip netns add "$a" 2>"$tmp/err" || skip "cannot create network namespaces: $(cat "$tmp/err")"
ip netns add "$b" 2>"$tmp/err" || skip "cannot create network namespaces: $(cat "$tmp/err")"
ip link add "$va" netns "$a" type veth peer name "$vb" netns "$b" 2>"$tmp/err" ||
    skip "cannot create a veth pair: $(cat "$tmp/err")"
set -e
ip -n "$a" addr add 10.213.0.1/30 dev "$va"
ip -n "$b" addr add 10.213.0.2/30 dev "$vb"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set "$va" up
ip -n "$b" link set "$vb" up
set +e

passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "CHECK failed: $what"; fi
}
ms() { echo $(($(date +%s%N) / 1000000)); }

# run NAME PORT [vanish-ms]: one listener/connector pair; with vanish-ms, cut the link once the
# connector waits for it.
run() {
    local name=$1 p=$2 vanish=${3:-} env=() extra=()
    if [ -n "$vanish" ]; then env=(env SANWSP_DEAD_PEER_MS=2000); extra=(--vanish "$vanish"); fi
    local start; start=$(ms)
    ip netns exec "$a" "${env[@]}" "$bin" --listen 10.213.0.1 "$p" 10.213.0.2 "${extra[@]}" \
        >"$tmp/$name.listener" 2>&1 &
    local lpid=$!
    ip netns exec "$b" "${env[@]}" "$bin" --connect 10.213.0.1 "$p" 10.213.0.2 "${extra[@]}" \
        >"$tmp/$name.connector" 2>&1 &
    local cpid=$!
    pids=("$lpid" "$cpid")
    if [ -n "$vanish" ]; then
        for _ in $(seq 150); do
            grep -q 'waiting for the link to go' "$tmp/$name.connector" && break
            kill -0 "$cpid" 2>/dev/null || break
            sleep 0.1
        done
        ip -n "$a" link set "$va" down
        echo "$name: link cut"
    fi
    wait "$cpid"; local crc=$?
    wait "$lpid"; local lrc=$?
    pids=()
    echo "$name: $(($(ms) - start)) ms"
    sed "s/^/  /" "$tmp/$name.listener" "$tmp/$name.connector"
    check "$name: listener exit status 0 (was $lrc)" test "$lrc" -eq 0
    check "$name: connector exit status 0 (was $crc)" test "$crc" -eq 0
    check "$name: listener summary has 0 failed" grep -q ' 0 failed$' "$tmp/$name.listener"
    check "$name: connector summary has 0 failed" grep -q ' 0 failed$' "$tmp/$name.connector"
    check "$name: listener saw the caller 10.213.0.2" grep -q 'accepted 10.213.0.2:' "$tmp/$name.listener"
    check "$name: connector got 48 bytes of callee data" grep -q '48 bytes of callee data' "$tmp/$name.connector"
}

run close "$port"
# Both processes of test_connect_errors in the connector's namespace; 10.213.0.3 does not exist.
ip netns exec "$b" env SANWSP_TEST_IP=10.213.0.2 SANWSP_TEST_UNREACHABLE=10.213.0.3 \
    SANWSP_CONNECT_TIMEOUT_MS=4000 "$errbin" > "$tmp/unreachable.log" 2>&1
urc=$?
sed 's/^/  [unreachable] /' "$tmp/unreachable.log" | grep -E 'unreachable|failed$'
check "unreachable: test_connect_errors exit status 0 (was $urc)" test "$urc" -eq 0
check "unreachable: a fall-back code" grep -q 'unreachable 10.213.0.3' "$tmp/unreachable.log"
run vanish "$((port + 1))" 6000
check "vanish: connector saw WSAETIMEDOUT" grep -q 'pending receive failed with 10060' "$tmp/vanish.connector"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
