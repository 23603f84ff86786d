#!/usr/bin/env bash
# bench.sh — builds and runs sanperf: the provider (and the reference switch) next to kernel TCP
# on this machine, 3 rounds, CPU-pinned; the table, the target checks, and CSV/JSON copies in
# build/sanperf.{csv,json}. Extra arguments go to sanperf (e.g. --quick, --sizes 8,64K).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -G Ninja -B build -S . -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build >/dev/null
# 1 s bandwidth passes (sanperf's default is 0.5 s): on a shared 2-CPU machine, loopback TCP
# has bursts of a few hundred ms that a short pass can catch alone.
exec build/sanperf --provider "$PWD/.build-static/release/libsanwsp.so" --duration 1 \
    --csv build/sanperf.csv --json build/sanperf.json "$@"
