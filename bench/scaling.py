#!/usr/bin/python3
"""Per-step time and memory of every registered credit algorithm at N = 16..256, with growth exponents.

Runs the step/<algo>/N:<n> cases of credo_bench (bench/steps.cpp: a tanh RNN x(1) -> h(N) -> y(1), float32,
batch 1; online algorithms timed one step at a time, the others (bptt, tbptt, replay) over episodes of 100
steps divided by 100), one process per algorithm, so every algorithm registered in the build is picked up and
one that crashes does not take the others with it. Prints tables of time per step and memory per algorithm
and size, fits the growth exponent of each (least squares of log(cost) on log(N) over N >= --fit-from,
default 64) and prints it beside the theoretical exponent for a dense recurrent matrix, and writes everything
to bench/results/scaling.md (--out; --no-write to skip), keeping a hand-written "## Reading" section at the
end of the previous file.

The exponents are fitted to CPU time per step (this thread's CPU time, steadier than wall time when other
processes share the cores); the tables show both. Memory is what the algorithm keeps, measured as the growth
of the live malloc heap when it is made, reset and warmed up (see bench/steps.cpp).

Usage:
    /usr/bin/python3 bench/scaling.py [--min-time 0.3] [--repeat 1] [--fit-from 64] [--algorithms rtrl,uoro]
        [--build DIR] [--out FILE | --no-write]
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Per-step time and memory exponents in N for a dense N x N recurrent matrix (P ~ N^2), batch 1, with the
# episode length T and truncation k2 fixed. None: not known to this script (a newly registered algorithm).
THEORY = {
    #          time  memory
    "rtrl":    (4, 3),  # Γ ← JΓ + M: N x N times N x P;      keeps Γ (N x P)
    "uoro":    (2, 2),  # one JVP + one VJP, O(N + P);          keeps s̃ (N) and θ̃ (P)
    "snap":    (2, 2),  # n = 1: per-parameter traces, O(P);    keeps P traces
    "kf_rtrl": (3, 2),  # Kronecker factors: (N x N) A updates;  keeps u and A (N x N)
    "rflo":    (2, 2),  # per-synapse leaky traces, O(P);       keeps P traces
    "bptt":    (2, 1),  # forward + one VJP per step, O(P);     keeps T frames of O(N)
    "tbptt":   (2, 1),  # as bptt, k2 / k1 VJPs per step;       keeps k2 frames of O(N)
    "replay":  (2, 1),  # ~2 forwards + one VJP per step;       keeps T/every checkpoints + `every` frames
    "readout": (2, 1),  # forward (O(P)) + readout gradient;    needs only O(N) (state, readout gradient)
}


def fmt_time(us):
    if us is None:
        return "–"
    if us >= 1e5:
        return f"{us / 1e3:.0f} ms"
    if us >= 1e3:
        return f"{us / 1e3:.2f} ms"
    if us >= 100:
        return f"{us:.0f} us"
    if us >= 10:
        return f"{us:.1f} us"
    return f"{us:.2f} us"


def fmt_bytes(b):
    if b is None:
        return "–"
    if b >= 2**20:
        return f"{b / 2**20:.1f} MiB"
    if b >= 2**10:
        return f"{b / 2**10:.1f} KiB"
    return f"{b:.0f} B"


def fit_exponent(sizes, values, lo):
    pts = [(n, v) for n, v in zip(sizes, values) if n >= lo and v is not None and v > 0]
    if len(pts) < 2:
        return None
    x = np.log([p[0] for p in pts])
    y = np.log([p[1] for p in pts])
    slope, _ = np.polyfit(x, y, 1)
    return float(slope)


def run(cmd, **kw):
    return subprocess.run(cmd, check=False, text=True, capture_output=True, **kw)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("CREDO_BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--min-time", type=float, default=0.3, help="benchmark_min_time per case, seconds")
    ap.add_argument("--repeat", type=int, default=1,
                    help="repetitions per case; the fastest (least disturbed) is kept (default 1)")
    ap.add_argument("--fit-from", type=int, default=64, help="fit the exponent over N >= this (default 64)")
    ap.add_argument("--algorithms", default="", help="comma-separated subset (default: every registered one)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "scaling.md"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if not os.path.exists(os.path.join(args.build, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", args.build, "-DCMAKE_BUILD_TYPE=Release"], check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", args.build, "--target", "credo_bench", "-j2"], check=True,
                   stdout=subprocess.DEVNULL)
    bench = os.path.join(args.build, "bench", "credo_bench")

    listed = run([bench, "--benchmark_list_tests", "--benchmark_filter=^step/"], env=env)
    if listed.returncode != 0:
        sys.exit(f"scaling.py: credo_bench --benchmark_list_tests failed:\n{listed.stderr}")
    cases = {}
    for line in listed.stdout.split():
        m = re.fullmatch(r"step/(.+)/N:(\d+)", line.strip())
        if m:
            cases.setdefault(m.group(1), []).append(int(m.group(2)))
    algorithms = sorted(cases)
    if args.algorithms:
        wanted = args.algorithms.split(",")
        algorithms = [a for a in algorithms if a in wanted]
    sizes = sorted({n for a in algorithms for n in cases[a]})

    results = {}  # algo -> n -> benchmark dict
    errors = {}
    context = None
    for algo in algorithms:
        print(f"running step/{algo}/N:* ...", file=sys.stderr, flush=True)
        out = run([bench, f"--benchmark_filter=^step/{re.escape(algo)}/N:[0-9]+$",
                   f"--benchmark_min_time={args.min_time}", f"--benchmark_repetitions={args.repeat}",
                   "--benchmark_format=json"], env=env)
        try:
            data = json.loads(out.stdout)
        except json.JSONDecodeError:
            errors[algo] = f"exit status {out.returncode}: {out.stderr.strip()[-300:]}"
            continue
        context = context or data.get("context")
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration":
                continue  # mean / median / stddev of repetitions: the fastest repetition is kept instead
            n = int(b["run_name"].rsplit(":", 1)[1])
            if b.get("error_occurred"):
                errors[f"{algo} N={n}"] = b.get("error_message", "error")
                continue
            best = results.setdefault(algo, {}).get(n)
            if best is None or b["cpu_us_per_step"] < best["cpu_us_per_step"]:
                results[algo][n] = b
        if out.returncode != 0:
            errors[algo] = f"exit status {out.returncode}: {out.stderr.strip()[-300:]}"

    def column(algo, key):
        return [results.get(algo, {}).get(n, {}).get(key) for n in sizes]

    head = "| algorithm | " + " | ".join(f"N={n}" for n in sizes) + " |"
    rule = "| --- | " + " | ".join("---:" for _ in sizes) + " |"
    lines = []
    lines.append("### CPU time per step (wall time per step in parentheses)\n")
    lines.append(head)
    lines.append(rule)
    for algo in algorithms:
        cpu, wall = column(algo, "cpu_us_per_step"), column(algo, "us_per_step")
        cells = [f"{fmt_time(c)} ({fmt_time(w)})" if c is not None else "–" for c, w in zip(cpu, wall)]
        lines.append(f"| {algo} | " + " | ".join(cells) + " |")
    lines.append("\n### Memory the algorithm keeps (measured: live-heap growth when made, reset and warmed up)\n")
    lines.append(head)
    lines.append(rule)
    for algo in algorithms:
        lines.append(f"| {algo} | " + " | ".join(fmt_bytes(v) for v in column(algo, "mem_bytes")) + " |")
    lines.append(f"\n### Growth exponents: cost ∝ N^k, least squares in log-log over N = {args.fit_from}.."
                 f"{sizes[-1] if sizes else '?'}\n")
    top = sizes[-2] if len(sizes) >= 2 else args.fit_from
    lines.append(f"| algorithm | time k (fit) | time k ({top}..{sizes[-1] if sizes else '?'}) | time k (theory) "
                 "| memory k (fit) | memory k (theory) |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for algo in algorithms:
        kt = fit_exponent(sizes, column(algo, "cpu_us_per_step"), args.fit_from)
        kt_top = fit_exponent(sizes, column(algo, "cpu_us_per_step"), top)
        km = fit_exponent(sizes, column(algo, "mem_bytes"), args.fit_from)
        th = THEORY.get(algo, (None, None))
        f = lambda k: "–" if k is None else f"{k:.2f}"
        t = lambda k: "?" if k is None else str(k)
        lines.append(f"| {algo} | {f(kt)} | {f(kt_top)} | {t(th[0])} | {f(km)} | {t(th[1])} |")
    if errors:
        lines.append("\nFailed cases:\n")
        for k, v in errors.items():
            lines.append(f"- {k}: {v}")
    table = "\n".join(lines)
    print(table)

    if args.no_write:
        return 0
    episodic = [a for a in algorithms if any(b.get("T", 1) > 1 for b in results.get(a, {}).values())]
    online = [a for a in algorithms if a in results and a not in episodic]
    commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip() or "?"
    ctx = context or {}
    load = ", ".join(f"{x:.2f}" for x in ctx.get("load_avg", []))
    header = f"""# Per-step cost of every credit algorithm against the state size N

Generated by `bench/scaling.py` (credo_bench `step/<algo>/N:<n>` cases, bench/steps.cpp) on
{datetime.date.today().isoformat()}, commit {commit}.

- Model: `x [input, 1] -> h [tanh, N]`, `h -> h [delay=1]`, `h -> y [output, 1, mse]`; P = N² + 3N + 1
  parameters. float32, batch 1, one thread (Eigen without OpenMP), `-O3 -march=native`.
- Online algorithms ({', '.join(online) or 'none'}): one step() per benchmark iteration, on an endless
  stream (no reset). The others ({', '.join(episodic) or 'none'}), with their default options: reset + an
  episode of T = 100 steps + end_chunk, divided by 100.
- Time: CPU time of the benchmark thread per step (wall time in parentheses), `--benchmark_min_time={args.min_time}`,
  fastest of {args.repeat} repetition(s).
- Memory: measured, not analytic: growth of the live malloc heap (glibc mallinfo2) from before the algorithm
  is made to after reset + warm-up (8 steps, or one episode), including Program work buffers its calls grow;
  not transient per-step buffers (Eigen's GEMM packing) nor the parameters themselves.
- Machine: {platform.machine()}, {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, shared with other work
  (load average at the last algorithm's start: {load}). Short runs: expect ±10-20 % between runs, more at
  N = 16..32 where a step takes about a microsecond.
- Theory: exponents for a dense N x N recurrent matrix (P ~ N²) at batch 1 with T and k2 fixed; see THEORY in
  bench/scaling.py. The fit is a least-squares line through log(cost) against log(N) over N >= {args.fit_from}; the
  next column is the slope between the two largest sizes alone.

"""
    # A hand-written "## Reading" section at the end of the previous file is kept (it may need updating).
    notes = ""
    if os.path.exists(args.out):
        old = open(args.out).read()
        at = old.find("\n## Reading")
        if at >= 0:
            notes = old[at:]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(header + table + "\n" + notes)
    print(f"\nwrote {os.path.relpath(args.out, ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
