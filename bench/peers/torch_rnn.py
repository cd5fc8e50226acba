#!/usr/bin/python3
"""Peer benchmark: PyTorch BPTT cost per time step for nn.RNN / nn.LSTM / nn.GRU.

One iteration = forward of a 1-layer recurrent net over T steps (batch B,
input size I, hidden size H, float32), a linear readout at every step, an MSE
loss summed over the T steps (mean over batch and outputs within a step),
loss.backward(), and zeroing of the parameter gradients.  No optimizer step.
Runs on one intra-op and one inter-op thread.  After a warm-up, iterations are
timed with time.perf_counter until at least --seconds have elapsed; the
reported figure is (total time / iterations) / T in microseconds.

Usage:
    /usr/bin/python3 bench/peers/torch_rnn.py [--cell rnn|lstm|gru]
        [--hidden 128] [--input 8] [--batch 32] [--steps 100]
        [--seconds 2] [--json]
"""

from peer_util import blas_library, set_torch_single_thread  # first: pins every BLAS and OpenMP pool to one thread

import argparse
import json
import sys
import time

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, cell, input_size, hidden, output_size):
        super().__init__()
        kinds = {"rnn": lambda: nn.RNN(input_size, hidden, num_layers=1,
                                       nonlinearity="tanh"),
                 "lstm": lambda: nn.LSTM(input_size, hidden, num_layers=1),
                 "gru": lambda: nn.GRU(input_size, hidden, num_layers=1)}
        self.rnn = kinds[cell]()
        self.readout = nn.Linear(hidden, output_size)

    def forward(self, x):
        h, _ = self.rnn(x)          # (T, B, H), zero initial state
        return self.readout(h)      # (T, B, O)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="rnn")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--input", type=int, default=8)
    ap.add_argument("--output", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=2.0,
                    help="minimum timed duration after warm-up (default 2)")
    ap.add_argument("--warmup", type=int, default=5,
                    help="untimed warm-up iterations (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true",
                    help="print a single JSON line")
    args = ap.parse_args()

    set_torch_single_thread(torch)
    torch.manual_seed(args.seed)
    dtype = torch.float32

    model = Model(args.cell, args.input, args.hidden, args.output).to(dtype)
    model.train()
    params = list(model.parameters())
    x = torch.randn(args.steps, args.batch, args.input, dtype=dtype)
    target = torch.randn(args.steps, args.batch, args.output, dtype=dtype)

    def iteration():
        y = model(x)
        loss = ((y - target) ** 2).mean(dim=(1, 2)).sum()
        loss.backward()
        for p in params:
            p.grad.zero_()
        return loss

    for _ in range(max(1, args.warmup)):
        iteration()

    iters = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    elapsed = 0.0
    while elapsed < args.seconds or iters == 0:
        iteration()
        iters += 1
        elapsed = time.perf_counter() - t0

    cpu = time.process_time() - c0
    us_per_iter = elapsed / iters * 1e6
    us_per_step = us_per_iter / args.steps
    cpu_us_per_step = cpu / iters / args.steps * 1e6

    if args.json:
        print(json.dumps({"peer": "torch_rnn", "hidden": args.hidden,
                          "batch": args.batch,
                          "us_per_step": round(us_per_step, 3),
                          "cpu_us_per_step": round(cpu_us_per_step, 3),
                          "cell": args.cell, "input": args.input,
                          "steps": args.steps, "iters": iters,
                          "seconds": round(elapsed, 3),
                          "threads": torch.get_num_threads(),
                          "torch": torch.__version__,
                          "blas": blas_library()}))
    else:
        print(f"torch_rnn cell={args.cell} H={args.hidden} I={args.input} "
              f"B={args.batch} T={args.steps} threads={torch.get_num_threads()}")
        print(f"  {iters} iterations in {elapsed:.3f} s: "
              f"{us_per_iter / 1e3:.3f} ms/iteration, "
              f"{us_per_step:.3f} us/step "
              f"({cpu_us_per_step:.3f} us/step CPU time)")
        print(f"  torch {torch.__version__}, BLAS {blas_library()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
