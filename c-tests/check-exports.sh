#!/usr/bin/env bash
# check-exports.sh <libsanwsp.so> — the library exports only WSP*/WSA* names (no Swift symbols),
# has SONAME libsanwsp.so, needs no Swift runtime, and exports every entry point of the headers.
set -uo pipefail
lib=${1:?usage: check-exports.sh path/to/libsanwsp.so}
fail=0 pass=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

[ -f "$lib" ] || { echo "FAIL: $lib does not exist"; echo "0 passed, 1 failed"; exit 1; }

syms=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u)
others=$(grep -Ev '^(WSP|WSA)' <<<"$syms" || true)
if [ -n "$others" ]; then
    bad "exports outside WSP*/WSA*: $(wc -l <<<"$others") names, e.g.:"
    head -10 <<<"$others"
else ok; fi

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" = libsanwsp.so ]; then ok; else bad "SONAME is '$soname', want libsanwsp.so"; fi

deps=$(env -u LD_LIBRARY_PATH ldd "$lib" 2>&1)
if grep -Eq 'libswift|/opt/swift|not found' <<<"$deps"; then
    bad "dependencies name the Swift runtime or are missing:"
    grep -E 'libswift|/opt/swift|not found' <<<"$deps"
else ok; fi

want="WSPStartupEx WSPStartup
WSPAccept WSPAddressToString WSPAsyncSelect WSPBind WSPCancelBlockingCall WSPCleanup
WSPCloseSocket WSPConnect WSPDuplicateSocket WSPEnumNetworkEvents WSPEventSelect
WSPGetOverlappedResult WSPGetPeerName WSPGetSockName WSPGetSockOpt WSPGetQOSByName WSPIoctl
WSPJoinLeaf WSPListen WSPRecv WSPRecvDisconnect WSPRecvFrom WSPSelect WSPSend
WSPSendDisconnect WSPSendTo WSPSetSockOpt WSPShutdown WSPSocket WSPStringToAddress
WSPRegisterMemory WSPDeregisterMemory WSPRegisterRdmaMemory WSPDeregisterRdmaMemory
WSPRdmaWrite WSPRdmaRead WSPMemoryRegistrationCacheCallback
WSACreateEvent WSASetEvent WSAResetEvent WSACloseEvent WSAWaitForMultipleEvents
WSAEventGetFd WSAGetLastError WSASetLastError"
missing=()
for n in $want; do
    if grep -qx "$n" <<<"$syms"; then ok; else missing+=("$n"); fi
done
if [ ${#missing[@]} -gt 0 ]; then bad "missing exports (${#missing[@]}): ${missing[*]}"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
