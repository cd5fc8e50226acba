#!/usr/bin/env bash
# Cost of credo's memory modules (bench/modules.cpp), and credo beside a PyTorch peer on an LSTM plus attention
# over its stored states (bench/peers/torch_attention.py), one thread each. Prints two markdown tables:
#   1. per-step time and memory of each module against its memory size: credo_bench's module/* cases
#      (BPTT episodes, batch 16; see bench/modules.cpp)
#   2. microseconds per time step, credo against PyTorch, batch 64, forward + backward of whole sequences:
#        LSTM-64 alone, T = 100              credo peer/lstm64/B:64/T:100      torch --no-attention
#        LSTM-64 + attention, 51 slots, T=100  credo peer/attention/slots:51/...  torch --slots 51 --steps 100
#        LSTM-64 + attention, 151 slots, T=300 credo peer/attention/slots:151/... torch --slots 151 --steps 300
#      the peer in both its modes: loop (nn.LSTMCell, a step at a time, as SAB implementations run) and fused
#      (nn.LSTM over the sequence, then all reads at once; possible because this model's read does not feed back)
# Builds credo_bench first if needed. Usage:
#   bench/compare_memory_peers.sh [--seconds S] [--repeat R] [--build DIR] [--peer-blas DIR] [--no-modules]
#     --seconds S      minimum timed seconds per run (default 2)
#     --repeat R       run every side R times, interleaved, and keep each side's fastest run (default 1)
#     --peer-blas DIR  put DIR first on the peer's LD_LIBRARY_PATH (e.g. OpenBLAS; see bench/compare_peers.sh)
#     --no-modules     skip table 1
# Environment: CREDO_BUILD (build folder, default <repo>/build), PYTHON (default /usr/bin/python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${CREDO_BUILD:-$root/build}"
python="${PYTHON:-/usr/bin/python3}"
seconds=2
repeat=1
peer_blas=""
modules=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --peer-blas) peer_blas="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --no-modules) modules=0; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "compare_memory_peers.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" --target credo_bench -j2 >/dev/null
bench="$build/bench/credo_bench"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

peer_env=()
if [[ -n "$peer_blas" ]]; then
  [[ -e "$peer_blas/libblas.so.3" ]] || { echo "compare_memory_peers.sh: no libblas.so.3 in $peer_blas" >&2; exit 2; }
  peer_env=(env "LD_LIBRARY_PATH=$peer_blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
fi

filter='^peer/'
[[ $modules == 1 ]] && filter='^(peer|module)/'
peer_cases=("lstm 100 51 --no-attention" "attention 100 51" "attention 300 151")
for ((i = 1; i <= repeat; ++i)); do
  echo "run $i/$repeat: credo (credo_bench '$filter', min ${seconds} s per case) ..." >&2
  "$bench" --benchmark_filter="$filter" --benchmark_min_time="$seconds" --benchmark_format=json \
    >"$tmp/credo.$i.json"
  for c in "${peer_cases[@]}"; do
    read -r what steps slots flag <<<"$c"
    for mode in loop fused; do
      echo "run $i/$repeat: torch_attention.py $what T=$steps slots=$slots mode=$mode ..." >&2
      "${peer_env[@]}" "$python" "$here/peers/torch_attention.py" --mode "$mode" --steps "$steps" \
        --slots "$slots" ${flag:-} --seconds "$seconds" --json >>"$tmp/torch.$i.jsonl"
    done
  done
done

"$python" - "$tmp" "$modules" <<'EOF'
import json, os, platform, sys

tmp, modules = sys.argv[1], sys.argv[2] == "1"
runs = sorted(int(f.split(".")[1]) for f in os.listdir(tmp) if f.startswith("credo."))
credo_runs = [json.load(open(os.path.join(tmp, f"credo.{i}.json"))) for i in runs]
credo = {}
for name in {b["name"] for r in credo_runs for b in r["benchmarks"]}:
    credo[name] = min((b for r in credo_runs for b in r["benchmarks"] if b["name"] == name),
                      key=lambda b: b.get("us_per_step", float("inf")))
torch = {}
for i in runs:
    for line in open(os.path.join(tmp, f"torch.{i}.jsonl")):
        p = json.loads(line)
        key = (p["model"], p["steps"], p["slots"] if p["model"] != "lstm" else 0, p["mode"])
        if key not in torch or p["us_per_step"] < torch[key]["us_per_step"]:
            torch[key] = p

def case(name):
    b = credo.get(name)
    if b is None or b.get("error_occurred"):
        sys.exit(f"compare_memory_peers.sh: credo case {name} missing or failed: {b and b.get('error_message')}")
    return b

def mib(b):
    return b["mem_bytes"] / 2**20

if modules:
    print("| case | memory size | B | T | state per column (floats) | us/step | CPU us/step | "
          "CPU us/step per column | mem (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    def order(name):
        parts = name.split("/")
        kinds = ["lstm64", "attention", "fast_weights", "ntm"]
        rank = kinds.index(parts[1]) if parts[1] in kinds else len(kinds)
        return (rank, parts[1], int(parts[2].split(":")[1]) if parts[1] != "lstm64" else 0)
    for name in sorted((n for n in credo if n.startswith("module/")), key=order):
        b = case(name)
        kind, size = name.split("/")[1], name.split("/")[2]
        size = "—" if kind == "lstm64" else size.replace(":", " ")
        print(f"| {kind} | {size} | {int(b['B'])} | {int(b['T'])} | {int(b['N'])} | {b['us_per_step']:.1f} | "
              f"{b['cpu_us_per_step']:.1f} | {b['cpu_us_per_step'] / b['B']:.2f} | {mib(b):.1f} |")
    print()

print("| case | credo us/step | credo CPU us/step | credo mem (MiB) | torch loop us/step | CPU | loop / credo (CPU) "
      "| torch fused us/step | CPU | fused / credo (CPU) |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
rows = [("LSTM-64 alone, B=64, T=100", "peer/lstm64/B:64/T:100", ("lstm", 100, 0)),
        ("LSTM-64 + attention, 51 slots, B=64, T=100", "peer/attention/slots:51/B:64/T:100",
         ("lstm+attention", 100, 51)),
        ("LSTM-64 + attention, 151 slots, B=64, T=300", "peer/attention/slots:151/B:64/T:300",
         ("lstm+attention", 300, 151))]
for what, name, key in rows:
    c = case(name)
    lp, fp = torch[key + ("loop",)], torch[key + ("fused",)]
    print(f"| {what} | {c['us_per_step']:.0f} | {c['cpu_us_per_step']:.0f} | {mib(c):.0f} | "
          f"{lp['us_per_step']:.0f} | {lp['cpu_us_per_step']:.0f} | "
          f"{lp['us_per_step'] / c['us_per_step']:.1f}x ({lp['cpu_us_per_step'] / c['cpu_us_per_step']:.1f}x) | "
          f"{fp['us_per_step']:.0f} | {fp['cpu_us_per_step']:.0f} | "
          f"{fp['us_per_step'] / c['us_per_step']:.1f}x ({fp['cpu_us_per_step'] / c['cpu_us_per_step']:.1f}x) |")
print()
anyp = next(iter(torch.values()))
ctx = credo_runs[-1]["context"]
print(f"- peer: torch {anyp['torch']}, BLAS {anyp['blas']}, {anyp['threads']} thread; credo: Eigen, float32, "
      "one thread; fastest of " f"{len(runs)} interleaved run(s) per side")
print(f"- machine: {platform.processor() or platform.machine()}, {ctx.get('num_cpus')} CPUs at "
      f"{ctx.get('mhz_per_cpu')} MHz, load average at credo's start "
      f"{' '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))}")
EOF
