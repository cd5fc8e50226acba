#!/usr/bin/env bash
# Sets everything up and runs the default experiment: a small tanh RNN learns delayed recall, once with
# RTRL and once with BPTT, and the two are printed side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build credo_cli
build/cli/credo compare --model models/recall_rnn.dot --task delayed_recall \
  --task-opt items=2 --task-opt delay=10 \
  --algos rtrl,bptt --steps 400 --batch 16 --lr 0.01 --seed 1 --out results/quickstart --overwrite
