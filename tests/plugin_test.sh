#!/usr/bin/env bash
# A plugin built downstream against the installed package (examples/extension: a population kind, a task and a
# credit algorithm) and used from every subcommand of the installed credo program; the same components under
# credo's extension suites in the downstream project's own test.
# Usage: plugin_test.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$1
src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/credo_plugin_test.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() { echo "FAILED: $*"; exit 1; }
# run LOG COMMAND...: runs it, shows its output and fails if it fails.
run() {
  local log=$work/$1; shift
  "$@" > "$log" 2>&1 || { cat "$log"; fail "$*"; }
}
# expect_output NEEDLE COMMAND...: the command succeeds and says NEEDLE.
expect_output() {
  local needle=$1; shift
  local out
  out=$("$@" 2>&1) || { echo "$out"; fail "$*"; }
  grep -qF -- "$needle" <<< "$out" || { echo "$out"; fail "'$needle' not in the output of: $*"; }
}
# expect_refused NEEDLE COMMAND...: the command exits with status 2 and says NEEDLE.
expect_refused() {
  local needle=$1; shift
  local out status
  out=$("$@" 2>&1); status=$?
  [ "$status" -eq 2 ] || { echo "$out"; fail "exit status $status (expected 2): $*"; }
  grep -qF -- "$needle" <<< "$out" || { echo "$out"; fail "'$needle' not in the message of: $*"; }
}

echo "== install into $work/prefix"
run install.log cmake --install "$build" --prefix "$work/prefix"
credo=$work/prefix/bin/credo
models=$work/prefix/share/credo/models
example=$work/prefix/share/credo/examples/extension
[ -f "$models/lstm.dot" ] || fail "the example models are not installed in share/credo/models"
[ -f "$example/CMakeLists.txt" ] || fail "the extension example is not installed in share/credo/examples"

echo "== build the extension example against the installed package"
run configure.log cmake -S "$example" -B "$work/ext" -DCMAKE_PREFIX_PATH="$work/prefix"
run build.log cmake --build "$work/ext" -j 2
plugin=$work/ext/libcredo_example.so
[ -f "$plugin" ] || fail "no plugin built"

echo "== its own test: credo's extension suites on its components"
run suites.log "$work/ext/example_tests"

echo "== the installed credo with the plugin"
cd "$work"
expect_output "softsign" "$credo" --plugin "$plugin" list
expect_output "parity" "$credo" --plugin="$plugin" list
expect_output "one_step" env CREDO_PLUGINS="$plugin" "$credo" list
expect_output "all gradients agree" "$credo" --plugin "$plugin" check --model "$example/softsign.dot"
expect_output "all gradients agree" "$credo" check --model "$models/lstm.dot"
expect_output "eval loss" "$credo" --plugin "$plugin" train --model "$example/softsign.dot" --task parity \
  --task-opt length=3 --algo one_step --steps 40 --batch 8 --out run
[ -f run/summary.json ] && [ -f run/params.npz ] || fail "train wrote no summary.json or params.npz"
expect_output "one_step" "$credo" --plugin "$plugin" compare --model "$example/softsign.dot" --task parity \
  --algos one_step,bptt --seeds 1,2 --steps 10 --batch 4 --out cmp
expect_output "tbptt:k1=1:k2=1" env CREDO_PLUGINS="$plugin" "$credo" align --model "$example/softsign.dot" \
  --task parity --algos one_step,tbptt:k1=1:k2=1 --steps 40 --out al
expect_output "on parity: eval loss" "$credo" --plugin "$plugin" eval --run run
expect_output "W[h -> h [delay=1]]" "$credo" --plugin "$plugin" params run
expect_output "curves" "$credo" --plugin "$plugin" plot cmp al --out figures
[ -f figures/curves.png ] && [ -f figures/align.png ] || fail "plot drew no figures"

echo "== mistakes are refused with status 2"
expect_refused "unknown kind 'softsign'" "$credo" train --model "$example/softsign.dot" --task parity --algo bptt \
  --out nothing
expect_refused "cannot load it" "$credo" --plugin "$work/missing.so" list
expect_refused "--plugin needs a path" "$credo" --plugin
cp "$plugin" "$work/copy.so"
expect_refused "a name already taken" "$credo" --plugin "$plugin" --plugin "$work/copy.so" list
echo "all good"
