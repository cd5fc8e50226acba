#!/usr/bin/python3
"""The e-prop results (docs/results/eprop.md): cue accumulation (Bellec et al. 2020, Fig. 3) learned by BPTT and by
e-prop with each learning signal, with and without adaptive neurons, over three seeds; credo align on a small
spiking network (each e-prop variant's cosine with the exact surrogate gradient, and each feedback matrix's
alignment with the readout over training); and e-prop's cost per time step against the episode length.

Usage: bench/eprop_table.py [--updates 150] [--seeds 1,2,3] [--jobs 2] [--only "LABEL;..."] [--reuse DIR]
                            [--build build] [--out docs/results/eprop.md]
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (label, model file, algorithm, algorithm options)
RUNS = [
    ("BPTT", "cue_lsnn.dot", "bptt", []),
    ("e-prop, symmetric feedback", "cue_lsnn.dot", "eprop", ["feedback=symmetric", "reg=1"]),
    ("e-prop, random feedback", "cue_lsnn.dot", "eprop", ["feedback=random", "reg=1"]),
    ("e-prop, adaptive: Kolen-Pollack", "cue_lsnn.dot", "eprop", ["feedback=adaptive", "rule=kolen_pollack", "reg=1"]),
    ("e-prop, adaptive: weight mirror", "cue_lsnn.dot", "eprop", ["feedback=adaptive", "rule=weight_mirror", "reg=1"]),
    ("e-prop, adaptive: information alignment", "cue_lsnn.dot", "eprop",
     ["feedback=adaptive", "rule=information_alignment", "reg=1"]),
    ("e-prop, adaptive: symmetric alignment", "cue_lsnn.dot", "eprop",
     ["feedback=adaptive", "rule=symmetric_alignment", "reg=1"]),
    ("e-prop, adaptive: activation alignment", "cue_lsnn.dot", "eprop",
     ["feedback=adaptive", "rule=activation_alignment", "reg=1"]),
    ("readout only", "cue_lsnn.dot", "readout", []),
    ("LIF only: BPTT", "cue_lif.dot", "bptt", []),
    ("LIF only: e-prop, random feedback", "cue_lif.dot", "eprop", ["feedback=random", "reg=1"]),
]

ALIGN_MODEL = """digraph small_lsnn {
  x [kind=input size=40];
  lif [kind=lif size=10 dt=5 n_ref=1];
  alif [kind=alif size=10 dt=5 n_ref=1 tau_a=2000 beta=0.0192];
  y [kind=output size=2 kappa=0.7788];
  x -> lif; x -> alif;
  lif -> lif [delay=1]; alif -> lif [delay=1]; lif -> alif [delay=1]; alif -> alif [delay=1];
  lif -> y; alif -> y;
}
"""
ALIGN_ALGOS = [
    ("symmetric", "eprop:feedback=symmetric"),
    ("random", "eprop:feedback=random"),
    ("Kolen-Pollack", "eprop:feedback=adaptive:rule=kolen_pollack"),
    ("weight mirror", "eprop:feedback=adaptive:rule=weight_mirror:feedback_lr=0.01"),
    ("information alignment", "eprop:feedback=adaptive:rule=information_alignment:feedback_lr=0.01"),
    ("symmetric alignment", "eprop:feedback=adaptive:rule=symmetric_alignment:feedback_lr=0.01"),
    ("activation alignment", "eprop:feedback=adaptive:rule=activation_alignment:feedback_lr=0.01"),
    ("BPTT (per episode)", "bptt"),
]

COST_MODEL = """digraph lif100 {
  x [kind=input size=100];
  h [kind=lif size=100 n_ref=2];
  y [kind=output size=1 kappa=0.951229];
  x -> h; h -> h [delay=1]; h -> y;
}
"""


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return r.stdout


def mean_sd(xs):
    m = sum(xs) / len(xs)
    sd = (sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5 if len(xs) > 1 else 0.0
    return m, sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=150)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="", help="semicolon-separated labels of the runs to make (default: all)")
    ap.add_argument("--reuse", default="", help="a folder of an earlier run: runs with a summary there are not redone")
    ap.add_argument("--align-steps", type=int, default=9000)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "results", "eprop.md"))
    a = ap.parse_args()
    credo = os.path.join(a.build, "cli", "credo")
    seeds = [int(s) for s in a.seeds.split(",")]
    tmp = a.reuse or tempfile.mkdtemp(prefix="credo_eprop_")

    def train(label, model, algo, opts, seed):
        out = os.path.join(tmp, f"{label.replace(' ', '_').replace(':', '').replace(',', '')}_{seed}")
        cmd = [credo, "train", "--model", os.path.join(ROOT, "models", model), "--task", "cue_accumulation",
               "--algo", algo, "--steps", str(a.updates), "--batch", str(a.batch), "--optimizer", "adam",
               "--lr", "0.005", "--seed", str(seed), "--eval-every", str(a.updates), "--eval-batch", "256",
               "--out", out]
        for o in opts:
            cmd += ["--algo-opt", o]
        if not os.path.exists(os.path.join(out, "summary.json")):
            run(cmd)
        s = json.load(open(os.path.join(out, "summary.json")))
        print(f"{label:45s} seed {seed}: decision accuracy {s['eval_metrics']['decision_accuracy']:.3f}",
              file=sys.stderr)
        return s

    runs = [r for r in RUNS if not a.only or r[0] in a.only.split(";")]
    jobs = [(r, seed) for r in runs for seed in seeds]
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        results = list(pool.map(lambda j: train(*j[0], j[1]), jobs))
    table = {}
    for (r, seed), s in zip(jobs, results):
        table.setdefault(r[0], []).append(s)

    # Alignment along one trajectory driven by symmetric e-prop.
    align_model = os.path.join(tmp, "small_lsnn.dot")
    open(align_model, "w").write(ALIGN_MODEL)
    align_out = os.path.join(tmp, "align")
    run([credo, "align", "--model", align_model, "--task", "cue_accumulation", "--task-opt", "dt=5",
         "--algos", ",".join(spec for _, spec in ALIGN_ALGOS), "--drive", "eprop:feedback=symmetric",
         "--optimizer", "adam", "--lr", "0.005", "--batch", "8", "--steps", str(a.align_steps), "--out", align_out])
    align = json.load(open(os.path.join(align_out, "summary.json")))["algorithms"]

    # Cost per time step against the episode length: 100 LIF neurons, 100 inputs, batch 5.
    cost_model = os.path.join(tmp, "lif100.dot")
    open(cost_model, "w").write(COST_MODEL)
    cost = []
    for T in (250, 1000, 2250):
        row = [T]
        for algo in ("eprop", "bptt"):
            out = os.path.join(tmp, f"cost_{algo}_{T}")
            run([credo, "train", "--model", cost_model, "--task", "pattern_generation", "--task-opt",
                 f"duration_ms={T}", "--algo", algo, "--steps", "20", "--batch", "5", "--optimizer", "sgd",
                 "--lr", "1e-12", "--eval-every", "20", "--eval-batch", "5", "--out", out])
            s = json.load(open(os.path.join(out, "summary.json")))
            row += [1e6 / s["steps_per_second"], s["peak_rss_mb"]]
        cost.append(row)

    lines = [
        "# e-prop on spiking networks",
        "",
        "Regenerated by `bench/eprop_table.py` (this machine: 2 cores shared with other work, so times are",
        "indicative). Runs in float32.",
        "",
        "## Cue accumulation (Bellec et al. 2020, Fig. 3)",
        "",
        f"`cue_accumulation` with its defaults: 40 Poisson input channels, 7 cues of 100 ms, 1050 ms from the last "
        f"cue to the 150 ms recall window, 2250 steps of 1 ms per trial. Networks: `models/cue_lsnn.dot` (50 LIF "
        f"+ 50 ALIF, tau_a 2000 ms, leaky readout) and `models/cue_lif.dot` (100 LIF). Adam, learning rate 0.005, "
        f"batch {a.batch}, {a.updates} updates; e-prop with firing-rate regularisation reg = 1 toward 10 Hz. "
        f"Decision accuracy: the side read from the outputs averaged over the recall window, on 256 fresh trials "
        f"(chance 0.5); loss: cross-entropy per scored step (chance ln 2 = 0.693). Seeds {a.seeds}.",
        "",
        "| network and algorithm | decision accuracy, mean ± sd | per seed | eval loss | ms per update |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        ss = table[r[0]]
        acc = [s["eval_metrics"]["decision_accuracy"] for s in ss]
        loss = [s["eval_loss"] for s in ss]
        m, sd = mean_sd(acc)
        lm, _ = mean_sd(loss)
        per_update = sum(s["wall_seconds"] / s["updates"] for s in ss) / len(ss) * 1000
        lines.append(f"| {r[0]} | {m:.3f} ± {sd:.3f} | {', '.join(f'{x:.3f}' for x in acc)} | {lm:.3f} | "
                     f"{per_update:.0f} |")
    lines += [
        "",
        "## Alignment with the exact (surrogate) gradient",
        "",
        f"`credo align` on 10 LIF + 10 ALIF neurons at dt = 5 ms (450-step trials), batch 8, {a.align_steps} "
        "steps driven by symmetric e-prop (Adam 0.005, online); reference: RTRL's exact online gradient with the "
        "same pseudo-derivative. Cosines are means over the steps with a loss. Recurrent: the parameters that drive "
        "the hidden populations (the readout, which every variant gets exactly, left out). cos(B, Wᵀ): each "
        "feedback matrix against its readout's transpose at the first and the last step (learned rules with "
        "feedback_lr 0.01 per step; Kolen-Pollack takes W's updates).",
        "",
        "| e-prop variant | cosine, all parameters | cosine, recurrent | norm ratio, recurrent | cos(B, Wᵀ) lif: first → last | alif: first → last |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (label, _), row in zip(ALIGN_ALGOS, align):
        d = row.get("diagnostics", {})
        def fb(name):
            for k, v in d.items():
                if k.startswith(f"feedback_alignment[{name} "):
                    return f"{v['first']:.2f} → {v['last']:.2f}"
            return "–"
        lines.append(f"| {label} | {row['mean_cosine']:.3f} | {row['mean_cosine_recurrent']:.3f} | "
                     f"{row['mean_norm_ratio_recurrent']:.3f} | {fb('lif')} | {fb('alif')} |")
    lines += [
        "",
        "## Cost per time step against the episode length",
        "",
        "100 LIF neurons, 100 inputs, leaky readout, batch 5 (`pattern_generation` with duration_ms = T), one "
        "thread; microseconds per time step of the whole batch, and the process's peak memory. e-prop carries its "
        "eligibility traces forward, so its cost per step does not depend on T; BPTT keeps the episode's frames.",
        "",
        "| T (steps) | e-prop µs/step | e-prop peak MB | BPTT µs/step | BPTT peak MB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for T, eu, em, bu, bm in cost:
        lines.append(f"| {T} | {eu:.0f} | {em:.0f} | {bu:.0f} | {bm:.0f} |")
    lines.append("")
    open(a.out, "w").write("\n".join(lines))
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
