"""Tables of runs: the run list, one run's metrics for download, and the results table in the
layout of the published MD17 / rMD17 tables with the published numbers beside one's own.

Every result carries what it was measured on. A column of the results table is one (model,
data set, reference method, size, source) and its header says all of them, e.g.
``gvp · xTB MD (GFN2-xTB) · n=250 (train+val) · this app`` next to ``NequIP (l=3) · rMD17
(PBE/def2-SVP) · n=1000 (train+val) · published``, so a result on generated xTB data is never read
as an rMD17 result. The size is training + validation structures, as the published "1000" counts
them (950 + 50): a run with 950 training and 50 validation structures sits in the published
column (a run record without ``n_val`` counts its training structures only). A cell of this app
whose runs did not all converge (see :mod:`equiv.training.convergence`) says "not converged"
with its budget, and :func:`short_run_warning` says so above the table. The CSV export is the
long form: one row per cell with each of these in its own column.

Example:
    >>> dataset_label("rmd17:ethanol"), dataset_label("xtb:ethanol")
    ('rMD17', 'xTB MD')
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
from typing import Iterable, Sequence

import pandas as pd

from equiv.data import RMD17_LEVEL_OF_THEORY, XTB_LEVEL_OF_THEORY
from equiv.molecules import LIBRARY
from equiv.runs import EpochRecord, Run
from equiv.jobs.lifecycle import TRAINING_KINDS
from equiv.training import TrainConfig
from equiv.training.published import PUBLISHED, PublishedResult
from equiv.formatting import format_duration, format_metric

__all__ = ["dataset_label", "molecule_key", "molecule_title", "runs_frame", "run_export", "epochs_frame",
           "results_long", "results_wide", "results_csv", "RESULT_COLUMNS", "column_label", "short_run_warning",
           "labelled_size", "run_budget", "run_converged"]

_RMD17_TO_KEY = {e.rmd17: key for key, e in LIBRARY.items() if e.rmd17}
#: Columns of :func:`results_long` (the CSV export).
RESULT_COLUMNS = ["molecule", "source", "model", "data set", "level of theory", "n (train+val)", "n_train", "recipe",
                  "energy MAE (meV)", "force MAE (meV/Å)", "energy MAE std (meV)", "force MAE std (meV/Å)", "runs",
                  "run ids", "reference", "budget", "converged"]


def run_budget(run: Run) -> str:
    """What a run was given: ``600 steps``, ``30 epochs``, ``20 s`` (from its record)."""
    recorded = (run.test_metrics or {}).get("budget")
    if recorded:
        return str(recorded)
    c = run.config
    parts = [f"{c['epochs']} epochs" if c.get("epochs") else "", f"{c['max_time_s']:g} s" if c.get("max_time_s") else "",
             f"{c['max_steps']} steps" if c.get("max_steps") else ""]
    return " or ".join(p for p in parts if p) or "?"


def run_converged(run: Run) -> str:
    """``yes`` / ``no`` (the rule of :mod:`equiv.training.convergence`), or ``""`` when not recorded."""
    flag = (run.test_metrics or {}).get("converged")
    return "" if not isinstance(flag, bool) else ("yes" if flag else "no")


def labelled_size(config: dict) -> int:
    """Training + validation structures of a run (the published tables' n: 950 + 50 = 1000)."""
    n_val = config.get("n_val")
    return int(config.get("n_train") or 0) + (int(n_val) if isinstance(n_val, int) else 0)


def molecule_key(name: str | None) -> str:
    """A library key for a molecule named by a run (rMD17 names like ``salicylic`` included)."""
    if not name:
        return "?"
    return _RMD17_TO_KEY.get(name, name)


def molecule_title(name: str | None) -> str:
    key = molecule_key(name)
    return LIBRARY[key].title if key in LIBRARY else key


def dataset_label(spec: str | None) -> str:
    """``rMD17``, ``xTB MD`` or the file name of a data-set spec."""
    text = str(spec or "?")
    prefix = text.split(":", 1)[0].lower()
    if prefix == "rmd17":
        return "rMD17"
    if prefix == "xtb":
        return "xTB MD"
    return text.removeprefix("file:").rsplit("/", 1)[-1]


def _level(run: Run) -> str:
    level = (run.dataset or {}).get("level_of_theory")
    if level:
        return str(level)
    prefix = str(run.config.get("data", "")).split(":", 1)[0].lower()
    return {"rmd17": RMD17_LEVEL_OF_THEORY, "xtb": XTB_LEVEL_OF_THEORY}.get(prefix, "?")


def _metric(run: Run, key: str) -> float | None:
    value = (run.test_metrics or {}).get(key)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def runs_frame(runs: Sequence[Run], now: float | None = None) -> pd.DataFrame:
    """The run list: one row per run, newest first as given."""
    now = time.time() if now is None else now
    rows = []
    for r in runs:
        training = r.kind in TRAINING_KINDS
        seconds = r.seconds if not r.active or r.started_at is None else now - r.started_at
        if r.status == "running":
            note = r.message or ""
        elif r.status in ("failed", "cancelled"):
            note = r.error or r.status
        elif r.kind == "generate" and r.result:
            note = f"{r.result.get('n_frames', '')} frames → {r.result.get('path', '')}"
        else:
            note = ""
        rows.append({
            "id": r.id,
            "status": r.status,
            "kind": r.kind,
            "model": r.model or ("–" if training else "xTB MD"),
            "molecule": molecule_title(r.molecule),
            "data set": dataset_label(r.config.get("data")) if training else "generate",
            "level of theory": _level(r) if training else XTB_LEVEL_OF_THEORY,
            "n_train": r.config.get("n_train") if training else None,
            "seed": r.config.get("seed"),
            "device": r.device,
            "group": r.group_id or "",
            "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)),
            "time": format_duration(seconds) if seconds is not None else "",
            "progress": (1.0 if r.status == "finished" else r.progress or 0.0),
            "test E MAE (meV)": _metric(r, "energy_mae_mev"),
            "test F MAE (meV/Å)": _metric(r, "force_mae_mev_per_a"),
            "budget": run_budget(r) if training else "",
            "converged": run_converged(r) if training else "",
            "note": note,
        })
    frame = pd.DataFrame(rows, columns=["id", "status", "kind", "model", "molecule", "data set", "level of theory",
                                        "n_train", "seed", "device", "group", "created", "time", "progress",
                                        "test E MAE (meV)", "test F MAE (meV/Å)", "budget", "converged", "note"])
    for column in ("test E MAE (meV)", "test F MAE (meV/Å)"):
        frame[column] = frame[column].astype(float)  # missing: NaN, shown empty
    return frame


def epochs_frame(epochs: Sequence[EpochRecord]) -> pd.DataFrame:
    """Per-epoch errors (meV, meV/Å), one row per epoch (the metrics CSV)."""
    rows = []
    for e in epochs:
        row = e.to_dict()
        extra = row.pop("extra") or {}
        for k in ("val_loss", "structures_per_s", "best"):
            if k in extra:
                row[k] = extra[k]
        rows.append(row)
    return pd.DataFrame(rows)


def run_export(run: Run, epochs: Sequence[EpochRecord]) -> str:
    """One run as JSON: the record (config, data set, test metrics, checkpoint) and every epoch."""
    return json.dumps({"run": run.to_dict(), "epochs": [e.to_dict() for e in epochs]}, indent=2, default=str)


def column_label(model: str, dataset: str, level: str, n_labelled: int, source: str, recipe: str = "") -> str:
    """A results-table column header (``n_labelled``: training + validation structures); ``recipe``
    (set when one model has several recipes) follows the model in brackets."""
    name = f"{model} [{recipe}]" if recipe else model
    return f"{name} · {dataset} ({level}) · n={n_labelled} (train+val) · {source}"


#: Run-config keys that do not change what a result measures: they are not part of its recipe.
_NOT_RECIPE = frozenset({"seed", "device", "threads", "labels", "checkpoint", "data_dir", "eval_batch_size", "data",
                         "model"})


#: Training settings at their defaults: a run recorded before a setting existed used its default.
_DEFAULT_SETTINGS = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}


def _recipe(run: Run) -> dict[str, object]:
    """The settings a result depends on besides molecule, model, data set and training-set size
    (the model options flattened in): runs averaged into one cell share all of them."""
    settings = {**_DEFAULT_SETTINGS, **run.config}
    recipe = {k: v for k, v in settings.items() if k not in _NOT_RECIPE and k != "model_options"}
    recipe.update({k: v for k, v in (run.config.get("model_options") or {}).items()})
    return recipe


def _recipe_text(recipe: dict[str, object], keys: Iterable[str]) -> str:
    return ", ".join(f"{k}={recipe.get(k)}" for k in sorted(keys))


def _published_rows(published: Iterable[PublishedResult]) -> list[dict]:
    return [{
        "molecule": p.molecule, "source": "published", "model": p.model, "data set": p.dataset,
        "level of theory": p.level_of_theory, "n (train+val)": p.n_train, "n_train": None,
        "energy MAE (meV)": p.energy_mae_mev,
        "force MAE (meV/Å)": p.force_mae_mev_per_a, "energy MAE std (meV)": None, "force MAE std (meV/Å)": None,
        "runs": None, "run ids": "", "reference": p.source, "recipe": "", "budget": "converged (published)",
        "converged": None,
    } for p in published]


def _own_rows(runs: Iterable[Run]) -> list[dict]:
    """This app's finished training runs, averaged over seeds: runs share a cell only when they share
    molecule, model, data set, reference method, training-set size and recipe (:func:`_recipe`).
    Where one (model, data set, size) has been run with several recipes, each cell's ``recipe``
    names the settings that differ (``epochs=40, layers=2``)."""
    groups: dict[tuple, list[Run]] = {}
    recipes: dict[str, dict[str, object]] = {}
    for r in runs:
        if r.kind not in TRAINING_KINDS or r.status != "finished":
            continue
        if _metric(r, "force_mae_mev_per_a") is None and _metric(r, "energy_mae_mev") is None:
            continue
        recipe = _recipe(r)
        fingerprint = json.dumps(recipe, sort_keys=True, default=str)
        recipes[fingerprint] = recipe
        key = (molecule_key(r.molecule), str(r.model), dataset_label(r.config.get("data")), _level(r),
               labelled_size(r.config), fingerprint)
        groups.setdefault(key, []).append(r)
    variants: dict[tuple, set[str]] = {}  # (model, data set, level, n train+val) -> recipe fingerprints
    for (_, model, dataset, level, n_train, fingerprint) in groups:
        variants.setdefault((model, dataset, level, n_train), set()).add(fingerprint)
    differing: dict[tuple, set[str]] = {}
    for column, fingerprints in variants.items():
        if len(fingerprints) > 1:
            members = [recipes[f] for f in fingerprints]
            keys = set().union(*members)
            differing[column] = {k for k in keys if len({json.dumps(m.get(k), default=str) for m in members}) > 1}
    rows = []
    for (molecule, model, dataset, level, n_train, fingerprint), members in groups.items():
        members.sort(key=lambda r: r.id)
        energies = pd.Series([_metric(r, "energy_mae_mev") for r in members], dtype=float)
        forces = pd.Series([_metric(r, "force_mae_mev_per_a") for r in members], dtype=float)
        flags = [(r.test_metrics or {}).get("converged") for r in members]
        flags = [f for f in flags if isinstance(f, bool)]
        budgets = sorted({run_budget(r) for r in members})
        rows.append({
            "molecule": molecule, "source": "this app", "model": model, "data set": dataset, "level of theory": level,
            "n (train+val)": n_train, "n_train": int(members[0].config.get("n_train") or 0),
            "budget": ", ".join(budgets), "converged": sum(flags) / len(flags) if flags else None,
            "recipe": _recipe_text(recipes[fingerprint], differing.get((model, dataset, level, n_train), ())),
            "energy MAE (meV)": energies.mean(), "force MAE (meV/Å)": forces.mean(),
            "energy MAE std (meV)": energies.std() if len(members) > 1 else None,
            "force MAE std (meV/Å)": forces.std() if len(members) > 1 else None,
            "runs": len(members), "run ids": ",".join(str(r.id) for r in members),
            "reference": f"runs {', '.join(str(r.id) for r in members)} (mean over {len(members)})"
            if len(members) > 1 else f"run {members[0].id}",
        })
    return rows


def results_long(runs: Iterable[Run], published: Iterable[PublishedResult] = PUBLISHED) -> pd.DataFrame:
    """Every cell of the results table as a row (see the module docstring): published numbers and
    this app's finished training runs, the latter averaged over runs that differ only in seed
    (and device)."""
    frame = pd.DataFrame(_published_rows(published) + _own_rows(runs), columns=RESULT_COLUMNS)
    order = {key: i for i, key in enumerate(LIBRARY)}
    frame["_m"] = frame["molecule"].map(lambda m: order.get(m, len(order)))
    frame["_s"] = (frame["source"] != "published").astype(int)
    frame = frame.sort_values(["_m", "molecule", "_s", "data set", "n (train+val)", "model"], kind="stable")
    return frame.drop(columns=["_m", "_s"]).reset_index(drop=True)


def results_wide(long: pd.DataFrame) -> pd.DataFrame:
    """The published layout: molecules as rows, one column per (model, data set, reference method,
    training-set size, source), cells ``energy MAE / force MAE`` in meV / meV/Å."""
    if long.empty:
        return pd.DataFrame(columns=["molecule"])

    def cell(row) -> str:
        e, f = row["energy MAE (meV)"], row["force MAE (meV/Å)"]
        text = f"{_fmt(e)} / {_fmt(f)}"
        notes = []
        if row["source"] == "this app" and row["runs"] and row["runs"] > 1:
            notes.append(f"{int(row['runs'])} runs")
        converged = row.get("converged")
        if row["source"] == "this app" and converged is not None and not pd.isna(converged) and converged < 1:
            notes.append(f"not converged, {row['budget']}")
        return text + (f" ({'; '.join(notes)})" if notes else "")

    table: dict[str, dict[str, str]] = {}
    keys: dict[str, tuple] = {}
    for _, row in long.iterrows():
        label = column_label(row["model"], row["data set"], row["level of theory"], int(row["n (train+val)"]), row["source"],
                             row["recipe"] or "")
        keys[label] = _column_order(row)
        table.setdefault(molecule_title(row["molecule"]), {})[label] = cell(row)
    columns = sorted(keys, key=keys.__getitem__)
    out = pd.DataFrame.from_dict(table, orient="index").reindex(columns=columns)
    out.index.name = "molecule"
    return out.fillna("").reset_index()


_PUBLISHED_ORDER = {"MACE": 0, "Allegro": 1, "NequIP (l=3)": 2}
_OWN_DATASETS = {"rMD17": 0, "xTB MD": 1}


def _column_order(row) -> tuple:
    """This app's results first (by data set, model and training-set size), then the published ones
    (rMD17 with 1,000, then 50 structures, then the original MD17)."""
    if row["source"] == "published":
        return (1, row["data set"] != "rMD17", -int(row["n (train+val)"]), _PUBLISHED_ORDER.get(row["model"], 9), row["model"])
    return (0, _OWN_DATASETS.get(row["data set"], 2), row["data set"], row["model"], int(row["n (train+val)"]),
            row["recipe"] or "")


def short_run_warning(long: pd.DataFrame) -> str | None:
    """A warning when cells of this app that did not converge stand in a table with published
    numbers (``None`` when there are none)."""
    if long.empty or not (long["source"] == "published").any():
        return None
    own = long[long["source"] == "this app"]
    short = own[own["converged"].notna() & (own["converged"].astype(float) < 1)]
    if short.empty:
        return None
    budgets = ", ".join(sorted(set(short["budget"])))
    return (f"{len(short)} of this app's cells come from runs that did not converge (budget {budgets}): their errors "
            "measure the budget, not the model, and are not comparable with the published numbers beside them, "
            "which were trained to convergence.")


def _fmt(value) -> str:
    # Not format_metric: the published tables' precision (one decimal, two significant digits below 0.1).
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.2g}" if abs(value) < 0.1 else f"{value:.1f}"


def results_csv(long: pd.DataFrame) -> str:
    """The long results table as CSV (UTF-8 text)."""
    buffer = io.StringIO()
    long.to_csv(buffer, index=False)
    return buffer.getvalue()

