#!/usr/bin/env bash
# Installs what credo needs from Debian's packages (only what is missing) and builds it in Release.
# Usage: scripts/setup.sh [build-dir [target...]]  (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true
# gnuplot-nox draws `credo plot` figures; python3-numpy reads credo's .npy/.npz files in the tests.
PACKAGES=(cmake g++ make libeigen3-dev libboost-graph-dev libboost-program-options-dev libfmt-dev
          nlohmann-json3-dev libgtest-dev libbenchmark-dev gnuplot-nox python3-numpy)
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
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
if [ $# -gt 0 ]; then
  for t in "$@"; do cmake --build "$BUILD" -j "$(nproc)" --target "$t"; done
else
  cmake --build "$BUILD" -j "$(nproc)"
fi
