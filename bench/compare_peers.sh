#!/usr/bin/env bash
# Runs credo and its peers side by side on one thread and prints microseconds per time step and the ratios:
#   (a) BPTT, 128-unit tanh RNN, batch 32, input 8, 1 output, episodes of 100 steps:
#       credo episode/bptt/H:128/B:32/I:8/T:100 (float32)  vs  bench/peers/torch_rnn.py (float32)
#   (b) exact RTRL, 64 tanh units, batch 1, input 1, 1 output:
#       credo step/rtrl/N:64 (float32) and step_f64/rtrl/N:64 (float64)  vs  bench/peers/numpy_rtrl.py (float64)
# Builds credo_bench first if needed. Usage:
#   bench/compare_peers.sh [--seconds S] [--build DIR]      (S: minimum timed seconds per run, default 2)
# Environment: CREDO_BUILD (build folder, default <repo>/build), PYTHON (default /usr/bin/python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${CREDO_BUILD:-$root/build}"
python="${PYTHON:-/usr/bin/python3}"
seconds=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "compare_peers.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

# One thread everywhere: Eigen has no OpenMP here; the peers pin torch / BLAS threads themselves as well.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" --target credo_bench -j2 >/dev/null
bench="$build/bench/credo_bench"
native="$(sed -n 's/^CREDO_NATIVE:BOOL=//p' "$build/CMakeCache.txt")"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "running credo (credo_bench, min ${seconds} s per case) ..." >&2
"$bench" --benchmark_filter='^(episode/bptt/H:128/B:32/I:8/T:100|step/rtrl/N:64|step_f64/rtrl/N:64)$' \
  --benchmark_min_time="$seconds" --benchmark_format=json >"$tmp/credo.json"
echo "running bench/peers/torch_rnn.py ..." >&2
"$python" "$here/peers/torch_rnn.py" --hidden 128 --input 8 --batch 32 --steps 100 --seconds "$seconds" --json \
  >"$tmp/torch.json"
echo "running bench/peers/numpy_rtrl.py ..." >&2
"$python" "$here/peers/numpy_rtrl.py" --hidden 64 --input 1 --seconds "$seconds" --json >"$tmp/numpy.json"

"$python" - "$tmp" "${native:-?}" <<'EOF'
import json, os, platform, sys

tmp = sys.argv[1]
credo = {b["name"]: b for b in json.load(open(os.path.join(tmp, "credo.json")))["benchmarks"]}
torch = json.loads(open(os.path.join(tmp, "torch.json")).read().strip().splitlines()[-1])
numpy = json.loads(open(os.path.join(tmp, "numpy.json")).read().strip().splitlines()[-1])

def case(name):
    b = credo.get(name)
    if b is None or b.get("error_occurred"):
        sys.exit(f"compare_peers.sh: credo case {name} missing or failed: {b and b.get('error_message')}")
    return b

rows = [
    ("BPTT H=128 B=32 I=8 T=100", "credo bptt f32", case("episode/bptt/H:128/B:32/I:8/T:100"),
     "torch nn.RNN f32", torch),
    ("RTRL N=64 B=1", "credo rtrl f32", case("step/rtrl/N:64"), "numpy RTRL f64", numpy),
    ("RTRL N=64 B=1", "credo rtrl f64", case("step_f64/rtrl/N:64"), "numpy RTRL f64", numpy),
]
print("| case | credo | us/step | peer | us/step | peer / credo | CPU us/step credo | CPU us/step peer | CPU ratio |")
print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
for what, cname, c, pname, p in rows:
    cw, cc = c["us_per_step"], c["cpu_us_per_step"]
    pw, pc = p["us_per_step"], p["cpu_us_per_step"]
    print(f"| {what} | {cname} | {cw:.1f} | {pname} | {pw:.1f} | {pw / cw:.1f}x | {cc:.1f} | {pc:.1f} | {pc / cc:.1f}x |")
print()
print(f"- peers' BLAS: torch {torch['torch']} -> {torch['blas']}; numpy {numpy['numpy']} -> {numpy['blas']}"
      " (netlib reference BLAS unless it says otherwise: an optimized BLAS would make both peers much faster)")
print(f"- credo: Eigen (CREDO_NATIVE={sys.argv[2]}, i.e. -march=native when ON), float32 unless marked f64; "
      f"P = {int(case('step/rtrl/N:64')['P'])} in credo (readout included in the influence matrix) vs "
      f"{numpy['params']} in numpy (recurrent parameters only)")
print(f"- one thread each (torch threads = {torch['threads']}); wall time is the headline, CPU time is the "
      "process's (peers) or thread's (credo) CPU time over the same runs")
ctx = json.load(open(os.path.join(tmp, "credo.json")))["context"]
print(f"- machine: {platform.processor() or platform.machine()}, {ctx.get('num_cpus')} CPUs at "
      f"{ctx.get('mhz_per_cpu')} MHz, load average at credo's start {ctx.get('load_avg')}")
EOF
