#!/usr/bin/python3
"""Peer benchmark: exact RTRL for a single-layer tanh RNN in plain numpy.

Network (batch 1, float64):
    h_t = tanh(W h_{t-1} + U x_t + b)        W: N x N, U: N x I, b: N
    y_t = V h_t + c                          V: 1 x N, c: scalar
    L_t = sigmoid cross-entropy(y_t, target_t)

Recurrent parameters theta = [W U b] (an N x (N+I+1) matrix) flattened column
by column (Fortran order), P = N*N + N*I + N, as in Marschall et al. 2020
(github.com/omarschall/vanilla-rtrl).  Per step:
    a_hat = [h_{t-1}, x_t, 1]
    D     = diag(1 - h_t^2)
    M     = kron(a_hat, D)                   immediate influence, N x P
    J     = D @ W                            network Jacobian, N x N
    Gamma = J @ Gamma + M                    influence matrix, N x P
    grad_theta += dL_t/dh_t @ Gamma          plus readout grads for V, c
Gradients are accumulated (no parameter update), so --check can compare them
with finite differences of the total loss.  After a warm-up the per-step loop
is timed with time.perf_counter for at least --seconds; the reported figure is
microseconds per step.

Usage:
    /usr/bin/python3 bench/peers/numpy_rtrl.py [--hidden 64] [--input 1]
        [--seconds 2] [--json]
    /usr/bin/python3 bench/peers/numpy_rtrl.py --check
"""

from peer_util import blas_library  # first: pins every BLAS and OpenMP pool to one thread

import argparse
import json
import sys
import time

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def bce_with_logits(y, target):
    # -[t log s(y) + (1-t) log(1-s(y))], numerically stable form.
    return np.maximum(y, 0.0) - y * target + np.log1p(np.exp(-np.abs(y)))


class RTRL:
    def __init__(self, n_hidden, n_input, rng):
        N, I = n_hidden, n_input
        self.N, self.I = N, I
        self.W = rng.normal(0.0, 1.0 / np.sqrt(N), (N, N))
        self.U = rng.normal(0.0, 1.0, (N, I))
        self.b = rng.normal(0.0, 0.1, N)
        self.V = rng.normal(0.0, 1.0 / np.sqrt(N), (1, N))
        self.c = rng.normal(0.0, 0.1, 1)
        self.P = N * N + N * I + N
        self.reset()

    def reset(self):
        """Zero state, influence matrix and accumulated gradients."""
        N = self.N
        self.h = np.zeros(N)
        self.Gamma = np.zeros((N, self.P))
        self.grad_theta = np.zeros(self.P)
        self.grad_V = np.zeros_like(self.V)
        self.grad_c = np.zeros_like(self.c)
        self.loss = 0.0

    def step(self, x, target):
        h_prev = self.h
        # Forward.
        h = np.tanh(self.W @ h_prev + self.U @ x + self.b)
        y = self.V @ h + self.c
        self.loss += float(bce_with_logits(y, target).sum())

        # Influence matrix update.
        a_hat = np.concatenate([h_prev, x, np.array([1.0])])
        D = np.diag(1.0 - h * h)
        M = np.kron(a_hat, D)                 # immediate influence, N x P
        J = D @ self.W                        # dh_t / dh_{t-1}
        self.Gamma = J @ self.Gamma + M

        # Gradients.
        e = sigmoid(y) - target               # dL_t/dy_t, shape (1,)
        dL_dh = e @ self.V                    # shape (N,)
        self.grad_theta += dL_dh @ self.Gamma
        self.grad_V += np.outer(e, h)
        self.grad_c += e
        self.h = h

    def grads(self):
        """Accumulated gradients unpacked as (gW, gU, gb, gV, gc)."""
        N, I = self.N, self.I
        G = self.grad_theta.reshape((N, N + I + 1), order="F")
        return G[:, :N], G[:, N:N + I], G[:, N + I], self.grad_V, self.grad_c


def total_loss(net, xs, targets):
    """Forward-only total loss of a sequence from a zero state."""
    h = np.zeros(net.N)
    loss = 0.0
    for x, t in zip(xs, targets):
        h = np.tanh(net.W @ h + net.U @ x + net.b)
        loss += float(bce_with_logits(net.V @ h + net.c, t).sum())
    return loss


def make_data(rng, T, n_input):
    xs = rng.normal(0.0, 1.0, (T, n_input))
    targets = rng.integers(0, 2, (T, 1)).astype(np.float64)
    return xs, targets


def check(tol=1e-5, eps=1e-6):
    """RTRL gradient of a 5-step sequence (N=4) vs central finite differences."""
    rng = np.random.default_rng(1234)
    N, I, T = 4, 1, 5
    net = RTRL(N, I, rng)
    xs, targets = make_data(rng, T, I)
    net.reset()
    for x, t in zip(xs, targets):
        net.step(x, t)
    rtrl_loss = net.loss
    analytic = dict(zip(("W", "U", "b", "V", "c"), net.grads()))

    worst = 0.0
    lines = []
    for name, g in analytic.items():
        p = getattr(net, name)
        fd = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            lp = total_loss(net, xs, targets)
            p[idx] = old - eps
            lm = total_loss(net, xs, targets)
            p[idx] = old
            fd[idx] = (lp - lm) / (2.0 * eps)
        g = np.reshape(g, p.shape)
        denom = np.maximum(np.maximum(np.abs(g), np.abs(fd)), 1e-8)
        rel = float(np.max(np.abs(g - fd) / denom))
        worst = max(worst, rel)
        lines.append(f"  d{name}: max |grad| {np.max(np.abs(g)):.3e}, "
                     f"max abs err {np.max(np.abs(g - fd)):.3e}, "
                     f"max rel err {rel:.3e}")

    loss_ref = total_loss(net, xs, targets)
    print(f"numpy_rtrl --check: N={N} I={I} T={T}, loss {rtrl_loss:.12f} "
          f"(forward-only {loss_ref:.12f})")
    print("\n".join(lines))
    ok = worst <= tol and abs(rtrl_loss - loss_ref) <= 1e-12 * max(1.0, loss_ref)
    print(f"max relative error {worst:.3e} -> {'OK' if ok else 'FAIL'} "
          f"(tolerance {tol:g})")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--input", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=2.0,
                    help="minimum timed duration after warm-up (default 2)")
    ap.add_argument("--warmup", type=int, default=20,
                    help="untimed warm-up steps (default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true",
                    help="print a single JSON line")
    ap.add_argument("--check", action="store_true",
                    help="verify RTRL gradients against finite differences "
                         "(N=4, 5 steps); exit 1 if max rel. error > 1e-5")
    args = ap.parse_args()

    if args.check:
        return check()

    rng = np.random.default_rng(args.seed)
    net = RTRL(args.hidden, args.input, rng)
    # A cycled buffer of inputs keeps RNG cost out of the timed loop.
    xs, targets = make_data(rng, 1024, args.input)
    n = len(xs)

    for k in range(max(1, args.warmup)):
        net.step(xs[k % n], targets[k % n])

    steps = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    elapsed = 0.0
    while elapsed < args.seconds or steps == 0:
        k = steps % n
        net.step(xs[k], targets[k])
        steps += 1
        elapsed = time.perf_counter() - t0

    cpu = time.process_time() - c0
    us_per_step = elapsed / steps * 1e6
    cpu_us_per_step = cpu / steps * 1e6
    if not np.all(np.isfinite(net.Gamma)):
        print("warning: non-finite influence matrix", file=sys.stderr)

    if args.json:
        print(json.dumps({"peer": "numpy_rtrl", "hidden": args.hidden,
                          "us_per_step": round(us_per_step, 3),
                          "cpu_us_per_step": round(cpu_us_per_step, 3),
                          "input": args.input, "params": net.P,
                          "steps": steps, "seconds": round(elapsed, 3),
                          "numpy": np.__version__, "blas": blas_library()}))
    else:
        print(f"numpy_rtrl N={args.hidden} I={args.input} P={net.P} "
              f"(influence matrix {args.hidden} x {net.P}, float64)")
        print(f"  {steps} steps in {elapsed:.3f} s: {us_per_step:.3f} us/step "
              f"({cpu_us_per_step:.3f} us/step CPU time)")
        print(f"  numpy {np.__version__}, BLAS {blas_library()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
