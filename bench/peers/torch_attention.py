#!/usr/bin/python3
"""Peer benchmark: PyTorch BPTT cost per time step of an LSTM plus attention over its stored past states.

The model is credo's LSTM-64 + attention (bench/modules.cpp, peer/attention/...; the delayed-recall models of
docs/results/memory.md): an LSTM cell (input I, hidden H); every `every` steps (the first step included) the
pair (key = Wk h, value = Wv h) is stored in a ring buffer of `slots` entries; every step the query q = Wq h
scores the stored keys, s_j = q . k_j / sqrt(key_size), and the read r is the softmax-weighted sum of the values
over the `top` best-scoring slots (all stored slots while there are no more than `top`); the readout is
y = W [h ; r] + b. Keys, values and queries are linear maps of h without bias. Float32, one thread.

One iteration = the forward pass over T steps (batch B) with an MSE loss summed over the steps (mean over
batch and outputs within a step), loss.backward() and zeroing the parameter gradients: no optimizer step.
After a warm-up, iterations are timed with time.perf_counter until at least --seconds have elapsed; the
reported figure is (total time / iterations) / T in microseconds, as bench/peers/torch_rnn.py does.

Modes:
  loop   (default) a Python loop over steps with nn.LSTMCell, the stored keys and values stacked each step:
         how a SAB implementation runs, since in general the read feeds the recurrence (Ke et al.'s release
         code adds it to h)
  fused  nn.LSTM over the whole sequence, then every step's read at once (scores masked to the slots stored at
         that step, top-k, softmax, gather): possible only because in this model the read does not feed back
  --no-attention: the LSTM and a readout alone (loop: nn.LSTMCell; fused: nn.LSTM)
  --check: run both modes on the same parameters and inputs and compare loss and gradients (exit 1 if they
         differ by more than 1e-4 relative)

Usage:
    /usr/bin/python3 bench/peers/torch_attention.py [--mode loop|fused] [--no-attention]
        [--hidden 64] [--input 10] [--output 8] [--batch 64] [--steps 100] [--slots 51] [--every 2] [--top 5]
        [--key-size 16] [--seconds 2] [--json] [--check]
"""

from peer_util import blas_library, set_torch_single_thread  # first: pins every BLAS and OpenMP pool to one thread

import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.lstm = nn.LSTM(a.input, a.hidden)        # fused mode
        self.cell = nn.LSTMCell(a.input, a.hidden)    # loop mode; shares the LSTM's parameters below
        self.cell.weight_ih = self.lstm.weight_ih_l0
        self.cell.weight_hh = self.lstm.weight_hh_l0
        self.cell.bias_ih = self.lstm.bias_ih_l0
        self.cell.bias_hh = self.lstm.bias_hh_l0
        self.attention = not a.no_attention
        if self.attention:
            self.wk = nn.Linear(a.hidden, a.key_size, bias=False)
            self.wv = nn.Linear(a.hidden, a.hidden, bias=False)
            self.wq = nn.Linear(a.hidden, a.key_size, bias=False)
            self.readout = nn.Linear(2 * a.hidden, a.output)
        else:
            self.readout = nn.Linear(a.hidden, a.output)
        self.scale = 1.0 / math.sqrt(a.key_size)

    def forward_loop(self, x):
        a = self.a
        T, B = x.shape[0], x.shape[1]
        h = x.new_zeros(B, a.hidden)
        c = x.new_zeros(B, a.hidden)
        keys, values, ys = [], [], []
        for t in range(T):
            h, c = self.cell(x[t], (h, c))
            if not self.attention:
                ys.append(self.readout(h))
                continue
            if t % a.every == 0:
                keys.append(self.wk(h))
                values.append(self.wv(h))
                if len(keys) > a.slots:
                    keys.pop(0)
                    values.pop(0)
            K = torch.stack(keys, 1)      # B x n x key_size
            V = torch.stack(values, 1)    # B x n x hidden
            q = self.wq(h)
            s = torch.bmm(K, q.unsqueeze(2)).squeeze(2) * self.scale   # B x n
            if 0 < a.top < s.shape[1]:
                top_s, idx = s.topk(a.top, dim=1)
                w = torch.softmax(top_s, dim=1)
                Vs = V.gather(1, idx.unsqueeze(2).expand(-1, -1, a.hidden))
                r = torch.bmm(w.unsqueeze(1), Vs).squeeze(1)
            else:
                w = torch.softmax(s, dim=1)
                r = torch.bmm(w.unsqueeze(1), V).squeeze(1)
            ys.append(self.readout(torch.cat([h, r], 1)))
        return torch.stack(ys, 0)

    def forward_fused(self, x):
        a = self.a
        T = x.shape[0]
        H, _ = self.lstm(x)                                   # T x B x hidden
        if not self.attention:
            return self.readout(H)
        stored = H[0::a.every]                                # W x B x hidden: the states written, in order
        K = self.wk(stored).transpose(0, 1)                   # B x W x key_size
        V = self.wv(stored).transpose(0, 1)                   # B x W x hidden
        Q = self.wq(H).transpose(0, 1)                        # B x T x key_size
        s = torch.bmm(Q, K.transpose(1, 2)) * self.scale      # B x T x W
        t = torch.arange(T).unsqueeze(1)
        j = torch.arange(K.shape[1]).unsqueeze(0)
        last = t // a.every                                   # the write index of step t's newest slot
        valid = (j <= last) & (j > last - a.slots)            # T x W: what the ring buffer holds at step t
        s = s.masked_fill(~valid, float("-inf"))
        k = min(a.top, K.shape[1]) if a.top > 0 else K.shape[1]
        top_s, idx = s.topk(k, dim=2)                         # fewer than k stored: -inf entries weigh 0
        w = torch.softmax(top_s, dim=2)                       # B x T x k
        Vs = V.unsqueeze(1).expand(-1, T, -1, -1).gather(2, idx.unsqueeze(3).expand(-1, -1, -1, a.hidden))
        r = (w.unsqueeze(3) * Vs).sum(2).transpose(0, 1)      # T x B x hidden
        return self.readout(torch.cat([H, r], 2))


def loss_of(y, target):
    return ((y - target) ** 2).mean(dim=(1, 2)).sum()


def check(a):
    torch.manual_seed(a.seed)
    model = Model(a)
    x = torch.randn(a.steps, a.batch, a.input)
    target = torch.randn(a.steps, a.batch, a.output)
    results = []
    for fwd in (model.forward_loop, model.forward_fused):
        model.zero_grad()
        loss = loss_of(fwd(x), target)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((loss.item(), grads))
    (l1, g1), (l2, g2) = results
    worst = abs(l1 - l2) / max(abs(l1), 1e-12)
    for n in g1:
        worst = max(worst, ((g1[n] - g2[n]).norm() / max(g1[n].norm().item(), 1e-12)).item())
    print(f"loop vs fused: loss {l1:.6f} / {l2:.6f}, largest relative difference {worst:.2e}")
    return 0 if worst < 1e-4 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("loop", "fused"), default="loop")
    ap.add_argument("--no-attention", action="store_true")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--input", type=int, default=10)
    ap.add_argument("--output", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--slots", type=int, default=51)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--key-size", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()

    set_torch_single_thread(torch)
    if a.check:
        return check(a)
    torch.manual_seed(a.seed)
    model = Model(a)
    model.train()
    fwd = model.forward_loop if a.mode == "loop" else model.forward_fused
    params = [p for p in model.parameters()]
    x = torch.randn(a.steps, a.batch, a.input)
    target = torch.randn(a.steps, a.batch, a.output)

    def iteration():
        loss = loss_of(fwd(x), target)
        loss.backward()
        for p in params:
            if p.grad is not None:
                p.grad.zero_()

    for _ in range(max(1, a.warmup)):
        iteration()
    iters = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    elapsed = 0.0
    while elapsed < a.seconds or iters == 0:
        iteration()
        iters += 1
        elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    us_per_step = elapsed / iters / a.steps * 1e6
    cpu_us_per_step = cpu / iters / a.steps * 1e6
    what = "lstm" if a.no_attention else "lstm+attention"
    if a.json:
        print(json.dumps({"peer": "torch_attention", "model": what, "mode": a.mode, "hidden": a.hidden,
                          "batch": a.batch, "steps": a.steps, "slots": a.slots, "every": a.every, "top": a.top,
                          "key_size": a.key_size, "us_per_step": round(us_per_step, 3),
                          "cpu_us_per_step": round(cpu_us_per_step, 3), "iters": iters,
                          "seconds": round(elapsed, 3), "threads": torch.get_num_threads(),
                          "torch": torch.__version__, "blas": blas_library()}))
    else:
        print(f"torch_attention {what} mode={a.mode} H={a.hidden} B={a.batch} T={a.steps} slots={a.slots} "
              f"every={a.every} top={a.top} key={a.key_size} threads={torch.get_num_threads()}")
        print(f"  {iters} iterations in {elapsed:.3f} s: {us_per_step:.1f} us/step ({cpu_us_per_step:.1f} us/step "
              f"CPU time)")
        print(f"  torch {torch.__version__}, BLAS {blas_library()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
