#!/usr/bin/python3
"""Peer benchmark: e-prop on a LIF network computed the way Bellec et al.'s reference TensorFlow code does it, by
automatic differentiation with the gradient stopped on the recurrent spikes and the reset (so only each neuron's
own membrane path is differentiated), in PyTorch on one thread, side by side with credo's online `eprop`.

Network (both sides): 100 Poisson inputs (pattern_generation's frozen 50 Hz trains in credo; Bernoulli(0.05)
here), 100 LIF neurons (tau_m 20 ms, threshold 0.6, pseudo-derivative 0.3 max(0, 1 - |v - thr| / thr) / thr, no
refractoriness), a leaky readout (kappa = exp(-1/20)) into one output, squared error at every step, batch 5,
episodes of T = 250, 1000 and 2250 steps of 1 ms. Symmetric feedback on the PyTorch side (autodiff through the
readout). One update = forward over T steps, the gradient, and no optimizer step. The figure is milliseconds per
update and microseconds per time step of the whole batch.

Usage: /usr/bin/python3 bench/peers/torch_eprop.py [--build build] [--repeat 3]
"""
import os

from peer_util import set_torch_single_thread  # first: pins every BLAS and OpenMP pool to one thread

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CREDO_MODEL = """digraph lif100 {
  x [kind=input size=100];
  h [kind=lif size=100 n_ref=0];
  y [kind=output size=1 kappa=0.951229];
  x -> h; h -> h [delay=1 autapses=0]; h -> y;
}
"""


class SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v_scaled, gamma):
        ctx.save_for_backward(v_scaled)
        ctx.gamma = gamma
        return (v_scaled > 0).to(v_scaled.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v_scaled,) = ctx.saved_tensors
        return grad * ctx.gamma * torch.clamp(1 - v_scaled.abs(), min=0), None


def torch_update(x, target, w_in, w_rec, w_out, thr=0.6, tau=20.0, kappa=math.exp(-1 / 20), gamma=0.3):
    T, B, _ = x.shape
    n = w_rec.shape[0]
    alpha = math.exp(-1 / tau)
    v = torch.zeros(B, n)
    z = torch.zeros(B, n)
    y = torch.zeros(B, w_out.shape[0])
    loss = 0.0
    mask = 1 - torch.eye(n)
    for t in range(T):
        z_stop = z.detach()  # e-prop: no gradient through the recurrent spikes nor the reset
        v = alpha * v + x[t] @ w_in.t() + z_stop @ (w_rec * mask).t() - thr * z_stop
        z = SpikeFunction.apply((v - thr) / thr, gamma)  # dz/dv = gamma/thr max(0, 1 - |v - thr|/thr)
        y = kappa * y + z @ w_out.t()
        loss = loss + ((y - target[t]) ** 2).sum() / B
    grads = torch.autograd.grad(loss, [w_in, w_rec, w_out])
    return grads


def time_torch(T, repeat):
    torch.manual_seed(1)
    B, n_in, n = 5, 100, 100
    x = (torch.rand(T, B, n_in) < 0.05).float()
    target = torch.randn(T, B, 1)
    w_in = (torch.randn(n, n_in) / math.sqrt(n_in)).requires_grad_()
    w_rec = (torch.randn(n, n) / math.sqrt(n)).requires_grad_()
    w_out = (torch.randn(1, n) / math.sqrt(n)).requires_grad_()
    torch_update(x[:10], target[:10], w_in, w_rec, w_out)  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        torch_update(x, target, w_in, w_rec, w_out)
        best = min(best, time.perf_counter() - t0)
    return best


def time_credo(credo, T, repeat, tmp):
    model = os.path.join(tmp, "lif100.dot")
    open(model, "w").write(CREDO_MODEL)
    best = float("inf")
    for r in range(repeat):
        out = os.path.join(tmp, f"credo_{T}_{r}")
        subprocess.run([credo, "train", "--model", model, "--task", "pattern_generation", "--task-opt",
                        f"duration_ms={T}", "--algo", "eprop", "--algo-opt", "feedback=symmetric", "--steps", "5",
                        "--batch", "5", "--optimizer", "sgd", "--lr", "1e-12", "--eval-every", "5", "--eval-batch", "5",
                        "--out", out], check=True, stdout=subprocess.DEVNULL)
        s = json.load(open(os.path.join(out, "summary.json")))
        best = min(best, T / s["steps_per_second"])
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    set_torch_single_thread(torch)
    credo = os.path.join(a.build, "cli", "credo")
    tmp = tempfile.mkdtemp(prefix="credo_torch_eprop_")
    print("| T (steps) | credo eprop: ms per update | µs per step | PyTorch autodiff e-prop: ms per update | µs per step | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for T in (250, 1000, 2250):
        c = time_credo(credo, T, a.repeat, tmp)
        p = time_torch(T, a.repeat)
        print(f"| {T} | {c * 1e3:.0f} | {c / T * 1e6:.0f} | {p * 1e3:.0f} | {p / T * 1e6:.0f} | {p / c:.1f}x |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
