"""The NequIP data-efficiency claim, measured: learning curves of NequIP l = 0, 1, 2 on rMD17 with
equal optimizer steps per run, slopes per seed and Δslopes against l = 0.

Batzner et al., Nat. Commun. 13, 2453 (2022), Fig. 4: the learning curves (test force error against
training-set size, log-log) of l ≥ 1 are steeper than that of the invariant l = 0 model.

Every run: the same number of optimizer steps (``--steps``, batch 5, cosine schedule to zero, EMA
0.99), the same small model (``--layers`` × ``--channels``), 50 validation structures, the whole
rMD17 test file (1,000 structures; ``--n-test`` for fewer), float32 network with float64 energy
bookkeeping, one CPU thread. Seeds change the split and the initialisation; within a seed the
training sets are nested. Slopes follow :mod:`equiv.views.learning_curves` (one fit per seed, mean
± sd, 95 % Student-t interval over seeds, Δslope paired by seed, runs within 10 % of the zero-force
error left out).

    .venv/bin/python bench/data_efficiency.py --data-dir ../shared/data/rmd17 [--molecule ethanol] \\
        [--models nequip-l0,nequip-l1,nequip-l2] [--sizes 25,50,100,200,400] [--seeds 3] [--steps 1000] \\
        [--layers 2] [--channels 8] [--out bench/results/data_efficiency_ethanol]

Writes ``<out>.json`` (every run, appended as it finishes: a rerun with the same arguments resumes),
``<out>.md`` (the slope table with the budget, CPU time and machine load) and ``<out>.png`` (the
log-log figure: plotly rendered by the machine's Chromium through Playwright, no extra package).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from equiv.training import TrainConfig, train  # noqa: E402
from equiv.training.convergence import CONVERGENCE_RULE, check_convergence  # noqa: E402
from equiv.views.learning_curves import CurveSample, curves_from_samples, slope_rows  # noqa: E402
from equiv.views.training_figures import learning_curve_figure  # noqa: E402


def _key(model: str, n: int, seed: int) -> str:
    return f"{model}/n{n}/s{seed}"


def _load(path: Path) -> tuple[dict[str, dict], list[dict]]:
    """The runs so far and the settings of every invocation that made them."""
    if not path.exists():
        return {}, []
    data = json.loads(path.read_text())
    history = data.get("invocations") or [data["settings"]]
    return {r["key"]: r for r in data["runs"]}, history


def _save(path: Path, runs: dict[str, dict], invocations: list[dict]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"settings": invocations[-1], "invocations": invocations, "runs": list(runs.values())},
                              indent=1))
    tmp.replace(path)


def _paired(runs: dict[str, dict], models: list[str]) -> dict[int, list[int]]:
    """Per seed, the sizes every model has: the fits use only these runs, so the models' slopes of
    one seed span the same sizes (and Δslope compares like with like)."""
    seeds = sorted({r["seed"] for r in runs.values()})
    sizes = sorted({r["n_train"] for r in runs.values()})
    per_seed = {s: [n for n in sizes if all(_key(m, n, s) in runs for m in models)] for s in seeds}
    complete = [s for s, ns in per_seed.items() if len(ns) >= 2]
    # The sizes all those seeds share: every seed's slope spans the same sizes.
    common = [n for n in sizes if all(n in per_seed[s] for s in complete)]
    return {s: (common if s in complete else per_seed[s]) for s in seeds}


def _curves(runs: dict[str, dict], models: list[str], dataset: str):
    # Convergence is re-judged from the stored validation history with the current rule.
    paired = _paired(runs, models)
    groups = {(m, dataset): [CurveSample(r["n_train"], r["force_mae_mev_per_a"], r["seed"], None,
                                         r["force_mae_zero_mev_per_a"],
                                         check_convergence([tuple(v) for v in r["validations"]]).converged)
                             for r in runs.values() if r["model"] == m and r["n_train"] in paired[r["seed"]]]
              for m in models}
    return curves_from_samples({k: v for k, v in groups.items() if v}, metric="force_mae_mev_per_a")


def _png(fig, path: Path) -> bool:
    """Render a plotly figure to PNG with the machine's Chromium (Playwright); False when unavailable."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return False
    path = path.resolve()
    html = path.with_suffix(".html")
    fig.write_html(str(html), include_plotlyjs=True, full_html=True, config={"staticPlot": True})
    chromium = os.environ.get("EQUIV_CHROMIUM", "/usr/bin/chromium")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium if Path(chromium).exists() else None)
            page = browser.new_page(viewport={"width": 900, "height": 640})
            page.goto(html.as_uri())
            page.wait_for_selector(".main-svg", timeout=30_000)
            page.locator(".js-plotly-plot").screenshot(path=str(path))
            browser.close()
    finally:
        html.unlink(missing_ok=True)
    return True


def _one_run(model: str, n: int, seed: int, args: dict) -> dict:
    """Train one member (in a worker process) and return its row."""
    cfg = TrainConfig(model=model, data=f"rmd17:{args['molecule']}", data_dir=args["data_dir"], n_train=n,
                      n_val=args["n_val"], n_test=args["n_test"], max_steps=args["steps"], lr_schedule="cosine",
                      seed=seed, threads=args["threads"], device="cpu",
                      model_options={"n_layers": args["layers"], "channels": args["channels"]})
    c0, w0 = time.process_time(), time.perf_counter()
    result = train(cfg)
    summary = result.summary()
    return {"key": _key(model, n, seed), "model": model, "n_train": n, "seed": seed,
            "force_mae_mev_per_a": summary["force_mae_mev_per_a"], "energy_mae_mev": summary["energy_mae_mev"],
            "force_mae_zero_mev_per_a": summary["force_mae_zero_mev_per_a"], "converged": summary["converged"],
            "convergence_improvement": summary["convergence_improvement"],
            "validations": [[r.steps, r.val["force_mae_mev_per_a"]] for r in result.history],
            "steps": result.steps, "epochs": result.epochs, "cpu_s": round(time.process_time() - c0, 1),
            "wall_s": round(time.perf_counter() - w0, 1), "loadavg": os.getloadavg()[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("EQUIV_RMD17_DIR", str(REPO.parent / "shared" / "data" / "rmd17")))
    ap.add_argument("--molecule", default="ethanol")
    ap.add_argument("--models", default="nequip-l0,nequip-l1,nequip-l2")
    ap.add_argument("--sizes", default="25,50,100,200,400")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--n-val", type=int, default=50)
    ap.add_argument("--n-test", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per run (default 1)")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once, each in its own process (default 2)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "data_efficiency_ethanol"))
    args = ap.parse_args()

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dataset = f"rmd17:{args.molecule}"
    settings = {k: getattr(args, k) for k in ("molecule", "models", "sizes", "seeds", "steps", "layers", "channels",
                                                "n_val", "n_test", "threads", "jobs")}
    runs, invocations = _load(out.with_suffix(".json"))
    invocations.append(settings)
    load_start = os.getloadavg()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    total = len(models) * len(sizes) * args.seeds
    todo = [(model, n, seed) for seed in range(args.seeds) for n in sizes for model in models
            if _key(model, n, seed) not in runs]
    # Biggest first within the queue order would balance the workers better; seed-major order keeps
    # complete seeds early, so a run cut short still has whole curves.
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    shared = {k: getattr(args, k) for k in ("molecule", "data_dir", "n_val", "n_test", "steps", "threads", "layers",
                                            "channels")}
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_one_run, m, n, seed, shared) for m, n, seed in todo]
        for future in as_completed(futures):
            r = future.result()
            runs[r["key"]] = r
            _save(out.with_suffix(".json"), runs, invocations)
            print(f"[{len(runs)}/{total}] {r['key']}: F {r['force_mae_mev_per_a']:.1f} meV/Å, E {r['energy_mae_mev']:.1f} meV, "
                  f"{'converged' if r['converged'] else 'not converged'}, {r['wall_s']:.0f} s (load {r['loadavg']:.1f})",
                  flush=True)
    curves = _curves(runs, models, dataset)
    cpu_total = sum(r["cpu_s"] for r in runs.values())
    wall_total = sum(r["wall_s"] for r in runs.values())
    loads = [r["loadavg"] for r in runs.values()]
    lines = [f"# Data efficiency on rMD17 {args.molecule}", "",
             f"Budget: {args.steps} optimizer steps per run (batch 5, cosine to zero, EMA 0.99), NequIP "
             f"{args.layers} layers × {args.channels} channels, {args.n_val} validation structures, "
             f"test on {'all' if args.n_test is None else args.n_test} test structures; seeds 0–{args.seeds - 1}; "
             f"float32 network, float64 energies; {args.jobs} runs at a time, {args.threads} CPU thread each.",
             f"Runs: {len(runs)}; CPU time {cpu_total / 60:.1f} min, wall time {wall_total / 60:.1f} min on a shared, "
             f"loaded 2-core machine (1-min load average {min(loads):.1f}–{max(loads):.1f} during the runs).",
             f"Converged: {CONVERGENCE_RULE}.", "",
             "| model | slope (mean ± sd over seeds) | 95% interval | Δslope vs l=0 | Δ 95% interval | converged |",
             "|---|---|---|---|---|---|"]
    for c in curves:
        s, d = c.slopes, c.delta
        lines.append(f"| {c.model} | {s.mean:+.3f} ± {s.sd if s.sd is not None else float('nan'):.3f} | "
                     f"{'-' if s.ci95 is None else f'[{s.ci95[0]:+.3f}, {s.ci95[1]:+.3f}]'} | "
                     f"{'-' if d is None else f'{d.mean:+.3f}'} | "
                     f"{'-' if d is None or d.ci95 is None else f'[{d.ci95[0]:+.3f}, {d.ci95[1]:+.3f}]'} | "
                     f"{'-' if c.converged is None else f'{c.converged:.0%}'} |")
    paired = _paired(runs, models)
    all_sizes = sorted({r["n_train"] for r in runs.values()})
    lines[4:4] = ["Slopes are fitted per seed on the sizes that seed has for every model: "
                  + "; ".join(f"seed {s}: {', '.join(map(str, ns)) or 'none'}" for s, ns in paired.items()) + "."]
    sizes = all_sizes
    lines += ["", "| model | " + " | ".join(f"n={n}" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for model in models:
        rows = {n: [r["force_mae_mev_per_a"] for r in runs.values() if r["model"] == model and r["n_train"] == n]
                for n in sizes}
        lines.append(f"| {model} | " + " | ".join(
            (f"{np.mean(v):.1f}" + (f" ± {np.std(v, ddof=1):.1f}" if len(v) > 1 else "") + f" ({len(v)})") if v else "-"
            for n, v in rows.items()) + " |")
    lines += ["", "Test force MAE in meV/Å (mean ± sd over seeds, number of seeds). Zero-force error: "
              f"{curves[0].zero_baseline:.1f} meV/Å." if curves and curves[0].zero_baseline else ""]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(json.dumps(slope_rows(curves), indent=1))
    fig = learning_curve_figure(curves, title=f"NequIP on rMD17 {args.molecule}: {args.steps} steps per run, "
                                             f"{args.layers}×{args.channels}, {args.seeds} seeds")
    fig.update_layout(width=900, height=620, legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
                      margin={"l": 60, "r": 20, "t": 50, "b": 170})
    if _png(fig, out.with_suffix(".png")):
        print(f"figure: {out.with_suffix('.png')}")
    print(f"this invocation: {time.process_time() - cpu0:.0f} s CPU, {time.perf_counter() - wall0:.0f} s wall; "
          f"load average at start {load_start[0]:.1f}, at end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
