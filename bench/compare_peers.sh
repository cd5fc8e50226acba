#!/usr/bin/env bash
# Runs credo and its peers side by side on one thread and prints microseconds per time step and the ratios:
#   (a) BPTT, 128-unit tanh RNN, batch 32, input 8, 1 output, episodes of 100 steps:
#       credo episode/bptt/H:128/B:32/I:8/T:100 (float32)  vs  bench/peers/torch_rnn.py (float32)
#   (b) exact RTRL, 64 tanh units, batch 1, input 1, 1 output:
#       credo step/rtrl/N:64 (float32) and step_f64/rtrl/N:64 (float64)  vs  bench/peers/numpy_rtrl.py (float64)
# Builds credo_bench first if needed. Usage:
#   bench/compare_peers.sh [--seconds S] [--repeat R] [--build DIR] [--peer-blas DIR]
#     --seconds S      minimum timed seconds per run (default 2)
#     --repeat R       run every side R times, interleaved, and keep each side's fastest run (default 1): the
#                      machine is shared, and the fastest run is the one least disturbed by other work
#     --peer-blas DIR  put DIR first on the peers' LD_LIBRARY_PATH, to run them on another BLAS without
#                      touching the system's choice, e.g. OpenBLAS unpacked from Debian's package:
#                        apt-get download libopenblas0-pthread && dpkg -x libopenblas0-pthread_*.deb /tmp/ob
#                        bench/compare_peers.sh --peer-blas /tmp/ob/usr/lib/x86_64-linux-gnu/openblas-pthread
# Environment: CREDO_BUILD (build folder, default <repo>/build), PYTHON (default /usr/bin/python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${CREDO_BUILD:-$root/build}"
python="${PYTHON:-/usr/bin/python3}"
seconds=2
repeat=1
peer_blas=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --peer-blas) peer_blas="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
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

peer_env=()
if [[ -n "$peer_blas" ]]; then
  [[ -e "$peer_blas/libblas.so.3" ]] || { echo "compare_peers.sh: no libblas.so.3 in $peer_blas" >&2; exit 2; }
  peer_env=(env "LD_LIBRARY_PATH=$peer_blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
fi
for ((i = 1; i <= repeat; ++i)); do
  echo "run $i/$repeat: credo (credo_bench, min ${seconds} s per case) ..." >&2
  "$bench" --benchmark_filter='^(episode/bptt/H:128/B:32/I:8/T:100|step/rtrl/N:64|step_f64/rtrl/N:64)$' \
    --benchmark_min_time="$seconds" --benchmark_format=json >"$tmp/credo.$i.json"
  echo "run $i/$repeat: bench/peers/torch_rnn.py ..." >&2
  "${peer_env[@]}" "$python" "$here/peers/torch_rnn.py" --hidden 128 --input 8 --batch 32 --steps 100 \
    --seconds "$seconds" --json >"$tmp/torch.$i.json"
  echo "run $i/$repeat: bench/peers/numpy_rtrl.py ..." >&2
  "${peer_env[@]}" "$python" "$here/peers/numpy_rtrl.py" --hidden 64 --input 1 --seconds "$seconds" --json \
    >"$tmp/numpy.$i.json"
done

"$python" - "$tmp" "${native:-?}" <<'EOF'
import json, os, platform, sys

tmp = sys.argv[1]
runs = sorted(int(f.split(".")[1]) for f in os.listdir(tmp) if f.startswith("credo."))

def fastest(items):
    return min(items, key=lambda r: r["us_per_step"])

def last_line(path):
    return json.loads(open(path).read().strip().splitlines()[-1])

credo_runs = [json.load(open(os.path.join(tmp, f"credo.{i}.json"))) for i in runs]
credo = {}
for name in {b["name"] for r in credo_runs for b in r["benchmarks"]}:
    credo[name] = fastest([b for r in credo_runs for b in r["benchmarks"] if b["name"] == name])
torch = fastest([last_line(os.path.join(tmp, f"torch.{i}.json")) for i in runs])
numpy = fastest([last_line(os.path.join(tmp, f"numpy.{i}.json")) for i in runs])

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
def blas_name(path):
    p = path.lower()
    for key, name in (("openblas", "OpenBLAS"), ("mkl", "MKL"), ("blis", "BLIS"), ("atlas", "ATLAS"),
                      ("/blas/libblas", "netlib reference BLAS")):
        if key in p:
            return name
    return "unknown BLAS"

print(f"- peers' BLAS: torch {torch['torch']} uses {blas_name(torch['blas'])} ({torch['blas']}); "
      f"numpy {numpy['numpy']} uses {blas_name(numpy['blas'])} ({numpy['blas']})")
print(f"- credo: Eigen (CREDO_NATIVE={sys.argv[2]}, i.e. -march=native when ON), float32 unless marked f64; "
      f"P = {int(case('step/rtrl/N:64')['P'])} in credo (readout included in the influence matrix) vs "
      f"{numpy['params']} in numpy (recurrent parameters only)")
print(f"- one thread each (torch threads = {torch['threads']}); wall time is the headline, CPU time is the "
      "process's (peers) or thread's (credo) CPU time over the same runs; "
      f"fastest of {len(runs)} interleaved run(s) per side")
ctx = credo_runs[-1]["context"]
print(f"- machine: {platform.processor() or platform.machine()}, {ctx.get('num_cpus')} CPUs at "
      f"{ctx.get('mhz_per_cpu')} MHz, load average at credo's start "
      f"{' '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))}")
EOF
