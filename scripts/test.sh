#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test twice: with gcc (everything, in build/) and with
# clang under AddressSanitizer and UndefinedBehaviorSanitizer, with the libFuzzer DOT fuzzer (library, program
# and tests, in build-clang/). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
ctest --test-dir build --output-on-failure -j "$(nproc)"
scripts/setup.sh --clang build-clang
# The spiking learning runs (minutes each, and about learning, not memory safety) run in the gcc build only.
ctest --test-dir build-clang --output-on-failure -j "$(nproc)" -E '^SpikingLearning[.]'
