#!/usr/bin/env bash
# Sets everything up and runs the default experiment: delayed recall over 100 steps, a plain LSTM and the same
# LSTM with attention over its past states, each trained by full BPTT and by sparse attentive backtracking
# truncated at 5 steps, printed side by side. Only the model with memory can learn under the truncation.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build credo_cli
build/cli/credo compare --model models/recall_lstm.dot,models/recall_attention.dot --task delayed_recall \
  --task-opt values=8 --task-opt delay=100 \
  --algos bptt,sab:k_trunc=5 --steps 300 --batch 32 --lr 0.003 --clip 1 --seed 1 \
  --out results/quickstart --overwrite
