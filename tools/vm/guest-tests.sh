#!/bin/sh
# guest-tests.sh — runs inside the soft-RoCE guest (tools/vm/run-vm-tests.sh --run ...): the
# project's C tests over the verbs transport, each asserting the transport it ran on
# (SANWSP_EXPECT_TRANSPORT=verbs makes every data-path helper check SO_SANWSP_TRANSPORT).
# Prints one line per test and a final "N passed, N failed"; exit status 0 only if all passed.
# Expects the host's build in /host/build and the library in /host/.build-static/release.
set -u
cd /host || exit 1
export SANWSP_TRANSPORT=verbs SANWSP_EXPECT_TRANSPORT=verbs
# Everything is ~10-50x slower under TCG: generous timeouts.
export SANWSP_CONNECT_TIMEOUT_MS=20000 SANWSP_HANDSHAKE_TIMEOUT_MS=20000
lib=/host/.build-static/release/libsanwsp.so
# The linked tests find the library through the build tree's path on the host: point them here.
export LD_LIBRARY_PATH=/host/.build-static/release${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
pass=0
fail=0
run() { # run NAME TIMEOUT COMMAND...
    name=$1 limit=$2
    shift 2
    echo "SANWSP-TEST: === $name (transport verbs) ==="
    start=$(date +%s)
    timeout "$limit" "$@" > /tmp/$name.log 2>&1
    rc=$?
    # a failure shows its log from the start (the first error explains the rest)
    if [ $rc -eq 0 ]; then tail -n 70 /tmp/$name.log; else head -n 400 /tmp/$name.log; fi |
        sed "s/^/  [$name] /"
    echo "SANWSP-TEST: $name rc=$rc ($(( $(date +%s) - start )) s)"
    if [ $rc -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="${failed:-} $name"; fi
}
run two_process 300 ./build/test_two_process
# Four times: closing a connection while its loss is being handled raced once in ~16 runs
# (fixed); repeated runs keep such races visible.
run rdma_violations 300 sh -c 'for i in 1 2 3 4; do ./build/test_rdma_violations || exit $?; done'
# CM events traced: a failure here shows which event the fabric delivered.
SANWSP_TRACE_CM=1 SANWSP_TEST_UNREACHABLE=10.0.2.99 run connect_errors 300 ./build/test_connect_errors
run kill_peer 120 ./build/test_kill_peer
run hot_path_alloc 120 ./build/test_hot_path_alloc
# (the demo and sanperf load the library by path)
run demo 300 ./build/sanwsp_demo "$lib"
run sanperf 600 ./build/sanperf --provider "$lib" --quick --sizes 8,4K,64K,1M \
    --rows wsp_lat,wsp_bw,rdma_write_bw,rdma_read_bw,tcp_lat,tcp_bw
echo "verbs guest: $pass passed, $fail failed${failed:+ (failed:$failed)}"
[ $fail -eq 0 ]
