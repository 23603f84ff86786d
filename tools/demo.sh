#!/usr/bin/env bash
# demo.sh — installs what is missing, builds, and runs the switch-style demo against libsanwsp.so.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -G Ninja -B build -S . -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
exec build/sanwsp_demo "$PWD/.build-static/release/libsanwsp.so"
