#!/usr/bin/env bash
# check-headers.sh [include-dir] — every public header compiles alone, after and before the
# platform socket headers, as C99/C11 and C++98/11/17, with gcc/g++ and clang/clang++ if present,
# under -Wall -Wextra -Werror -pedantic.
set -uo pipefail
inc=${1:-"$(cd "$(dirname "$0")/../include" && pwd)"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sys='#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/select.h>'

compilers=("gcc -std=c99" "gcc -std=c11" "g++ -std=c++98" "g++ -std=c++11" "g++ -std=c++17")
if command -v clang >/dev/null; then compilers+=("clang -std=c99" "clang -std=c11"); fi
if command -v clang++ >/dev/null; then
    compilers+=("clang++ -std=c++98" "clang++ -std=c++11" "clang++ -std=c++17")
fi

pass=0 fail=0
for h in ws2spi.h ws2san.h sanwsp.h; do
    for order in alone after before; do
        src=$tmp/${h%.h}-$order.c
        case $order in
        alone)  printf '#include "%s"\n' "$h" >"$src" ;;
        after)  printf '%s\n#include "%s"\n' "$sys" "$h" >"$src" ;;
        before) printf '#include "%s"\n%s\n' "$h" "$sys" >"$src" ;;
        esac
        # use a few types so the declarations are really instantiated
        printf 'int sanwsp_check(void);\nint sanwsp_check(void) { WSPPROC_TABLE t; WSAOVERLAPPED o; (void)t; (void)o; return (int)sizeof(WSAPROTOCOL_INFOW); }\n' >>"$src"
        for cc in "${compilers[@]}"; do
            lang=c
            case $cc in g++* | clang++*) lang=c++ ;; esac
            # shellcheck disable=SC2086
            if out=$($cc -x $lang -Wall -Wextra -Werror -pedantic -I"$inc" -fsyntax-only "$src" 2>&1); then
                pass=$((pass + 1))
            else
                fail=$((fail + 1))
                echo "FAIL: $cc: $h ($order)"
                echo "$out" | head -20
            fi
        done
    done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
