#!/usr/bin/env bash
# Installs what credo needs from Debian's packages (only what is missing) and builds it.
# Usage: scripts/setup.sh [--clang] [build-dir [target...]]  (default: build/, every target)
#   default  gcc, Release, everything (library, program, tests, benchmarks)
#   --clang  clang 14, Release, AddressSanitizer + UndefinedBehaviorSanitizer, the libFuzzer DOT fuzzer,
#            library, program and tests (no benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=0
if [ "${1:-}" = "--clang" ]; then CLANG=1; shift; fi
BUILD=${1:-build}
shift || true
# gnuplot-nox draws `credo plot` figures; python3-numpy reads credo's .npy/.npz files in the tests.
PACKAGES=(cmake g++ make libeigen3-dev libboost-graph-dev libboost-program-options-dev libfmt-dev
          nlohmann-json3-dev libgtest-dev libbenchmark-dev gnuplot-nox python3-numpy)
# libclang-rt-14-dev holds the sanitizer and libFuzzer runtimes.
[ "$CLANG" -eq 1 ] && PACKAGES+=(clang-14 libclang-rt-14-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ "$CLANG" -eq 1 ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 -DCREDO_SANITIZE=ON \
        -DCREDO_FUZZ=ON -DCREDO_BUILD_BENCH=OFF >/dev/null
else
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
if [ $# -gt 0 ]; then
  for t in "$@"; do cmake --build "$BUILD" -j "$(nproc)" --target "$t"; done
else
  cmake --build "$BUILD" -j "$(nproc)"
fi
