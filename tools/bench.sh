#!/usr/bin/env bash
# bench.sh — builds and runs sanperf: the provider (and the reference switch) next to kernel TCP
# on this machine, 5 rounds, CPU-pinned (about 10 minutes); the table, the target checks, and CSV/JSON copies in
# build/sanperf.{csv,json}. Extra arguments go to sanperf (e.g. --quick, --sizes 8,64K).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -G Ninja -B build -S . -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build >/dev/null
# 1 s of bandwidth measurement per side (sanperf's default is 0.5 s): 40 interleaved 25 ms
# slices each for a provider row and its TCP reference.
# 5 rounds: a single bandwidth round still moves by ±0.15 with the host's load, and a median of
# five is not decided by one such round.
exec build/sanperf --provider "$PWD/.build-static/release/libsanwsp.so" --duration 1 --rounds 5 \
    --csv build/sanperf.csv --json build/sanperf.json "$@"
