"""What the training lab and the runs page compute, without Streamlit: learning curves and their
log-log slopes, progress and ETA, the run tables and exports, the results table beside the
published numbers (checked against tables copied from the papers), and the figures."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from equiv.runs import RunStore
from equiv.training.published import DATASET_LEVELS, PUBLISHED, published
from equiv.views.learning_curves import (
    CurveSample,
    curves_from_samples,
    fit_loglog,
    learning_curves,
    near_zero,
    slope_rows,
    slope_table,
    summarize_slopes,
)
from equiv.formatting import format_duration
from equiv.views.run_progress import eta_seconds, run_progress, status_line
from equiv.views.run_tables import (
    dataset_label,
    epochs_frame,
    molecule_key,
    results_csv,
    results_long,
    results_wide,
    run_export,
    runs_frame,
)
from equiv.views.training_figures import curves_figure, learning_curve_figure, log_axis, overlay_figure
from tests.conftest import REPO_ROOT
from tests.jobs_tools import finished_run

#: Published numbers (facts, CC0) copied from the papers, to check equiv.training.published against.
PUBLISHED_TABLES = REPO_ROOT / "tests" / "data" / "published_rmd17.json"


# -- slopes ----------------------------------------------------------------------------------------

def test_loglog_fit_matches_numpy_least_squares_and_its_standard_error():
    rng = np.random.default_rng(0)
    n = np.repeat([25, 50, 100, 200, 400], 3).astype(float)
    y = 300 * n ** -0.45 * np.exp(rng.normal(0, 0.05, n.size))
    fit = fit_loglog(n, y)
    x, z = np.log10(n), np.log10(y)
    (slope, intercept), cov = np.polyfit(x, z, 1, cov="unscaled")
    residual = np.sum((z - (intercept + slope * x)) ** 2) / (n.size - 2)
    assert fit.slope == pytest.approx(slope, rel=1e-12) and fit.intercept == pytest.approx(intercept, rel=1e-12)
    assert fit.stderr == pytest.approx(np.sqrt(cov[0, 0] * residual), rel=1e-10)
    assert fit.n_points == 15 and fit.n_sizes == 5 and -0.55 < fit.slope < -0.35
    assert fit.predict(100) == pytest.approx(10 ** (intercept + 2 * slope))
    exact = fit_loglog([10, 100, 1000], [50.0, 25.0, 12.5])
    assert exact.slope == pytest.approx(np.log10(0.5), abs=1e-12) and exact.stderr < 1e-12
    two = fit_loglog([10, 100], [50.0, 5.0])
    assert two.slope == pytest.approx(-1.0) and two.stderr is None and "no uncertainty" in two.text()
    assert fit_loglog([10, 10], [1.0, 2.0]) is None  # one size: no slope
    with pytest.raises(ValueError):
        fit_loglog([10, 100], [1.0, 0.0])


def test_learning_curves_group_seeds_by_model_and_data_set():
    store = RunStore()
    truth = {"mlp": -0.1, "nequip-l1": -0.6}
    for seed in range(3):
        for n in (25, 50, 100):
            for model, slope in truth.items():
                finished_run(store, model, n, seed, force=200 * n ** slope * (1 + 0.01 * seed), group="g")
    failed = store.create("sweep_member", {"model": "mlp", "data": "xtb:ethanol", "n_train": 25}, group_id="g")
    store.mark_running(failed.id)
    store.fail(failed.id, "boom")
    finished_run(store, "mlp", 25, 0, force=99.0, data="rmd17:ethanol", level="PBE/def2-SVP")  # another data set
    curves = learning_curves(store.list_runs())
    assert [(c.model, c.dataset) for c in curves] == [("mlp", "xtb:ethanol"), ("nequip-l1", "xtb:ethanol"),
                                                      ("mlp", "rmd17:ethanol")]
    mlp, nequip = curves[0], curves[1]
    assert [p.n_train for p in mlp.points] == [25, 50, 100] and all(p.count == 3 for p in mlp.points)
    point = nequip.points[0]
    values = [200 * 25 ** -0.6 * (1 + 0.01 * s) for s in range(3)]
    assert point.mean == pytest.approx(np.mean(values)) and point.std == pytest.approx(np.std(values, ddof=1))
    assert point.low == pytest.approx(min(values)) and point.high == pytest.approx(max(values))
    assert mlp.fit.slope == pytest.approx(-0.1, abs=1e-9) and nequip.fit.slope == pytest.approx(-0.6, abs=1e-9)
    assert curves[2].fit is None and curves[2].level_of_theory == "PBE/def2-SVP"
    rows = slope_rows(curves)
    assert rows[1]["slope (mean over seeds)"] == -0.6 and rows[1]["runs"] == 9 and rows[1]["sizes"] == "25, 50, 100"
    fig = learning_curve_figure(curves).to_dict()
    assert fig["layout"]["xaxis"]["type"] == "log" and fig["layout"]["yaxis"]["type"] == "log"
    assert fig["layout"]["xaxis"]["ticktext"] == ["25", "50", "100"]  # the sizes trained on
    wide = log_axis([25, 60, 800])  # over a decade: 1, 2, 5 × 10ⁿ
    assert wide["ticktext"] == ["20", "50", "100", "200", "500", "1000"] and wide["tickvals"][-1] == 1000
    assert log_axis([0.2, 0.45])["ticktext"] == ["0.2", "0.3", "0.4", "0.5"] and log_axis([]) == {"type": "log"}
    legends = [t["name"] for t in fig["data"] if t.get("showlegend", True)]
    assert any(name.startswith("mlp on xtb:ethanol: slope -0.10 ± ") for name in legends)
    assert any("one size: no slope yet" in name for name in legends)
    assert not any(name.startswith("zero forces") for name in legends)  # runs recorded without the baseline


def test_slopes_are_fitted_per_seed_with_a_t_interval_and_paired_delta_against_l0():
    # Seed s has slope −0.2 − 0.05 s for l = 0 and 0.1 steeper for l = 1 (same seed): Δ = −0.1 exactly,
    # while the seed-to-seed spread of the slopes is 0.05.
    rng = np.random.default_rng(3)
    sizes = (25, 50, 100, 200)
    groups = {}
    for model, extra in (("nequip-l0", 0.0), ("nequip-l1", -0.1)):
        samples = []
        for seed in range(4):
            offset = rng.normal(0, 0.1)  # a per-seed level shift: no effect on any slope
            for n in sizes:
                samples.append(CurveSample(n, 300 * 10 ** offset * n ** (-0.2 - 0.05 * seed + extra), seed, None, 900.0, seed != 3))
        groups[(model, "rmd17:ethanol")] = samples
    l0, l1 = curves_from_samples(groups)
    per_seed = [-0.2 - 0.05 * s for s in range(4)]
    assert l0.slopes.per_seed == pytest.approx(dict(enumerate(per_seed)))
    assert l0.slope == pytest.approx(np.mean(per_seed)) and l0.slopes.sd == pytest.approx(np.std(per_seed, ddof=1))
    half = 3.182446305284263 * np.std(per_seed, ddof=1) / 2  # t(0.975, 3) · sd / √4
    assert l0.slopes.ci95 == pytest.approx((np.mean(per_seed) - half, np.mean(per_seed) + half))
    assert l0.delta is None and l1.reference == "nequip-l0"
    assert l1.delta.mean == pytest.approx(-0.1) and l1.delta.ci95 == pytest.approx((-0.1, -0.1), abs=1e-9)
    assert l1.converged == pytest.approx(0.75)
    # Pooling every point would hide the seed spread in residuals; the per-seed interval shows it.
    assert l0.slopes.ci95[1] - l0.slopes.ci95[0] > 0.1
    # One seed: a slope without sd or interval.
    one = summarize_slopes({0: -0.3})
    assert one.mean == -0.3 and one.sd is None and one.ci95 is None and "(1 seed)" in one.text()
    rows = slope_rows([l0, l1])
    assert rows[1]["Δslope vs nequip-l0"] == -0.1 and rows[1]["converged"] == "75%"
    shown = slope_table([l0, l1]).to_html()  # what st.dataframe shows: no "None" for l0's missing Δslope
    assert "None" not in shown and "–" in shown and "-0.100" in shown


def test_points_at_the_zero_force_error_are_left_out_of_the_fit_and_drawn_hollow():
    assert near_zero(850.0, 900.0) and near_zero(985.0, 900.0) and not near_zero(780.0, 900.0)
    assert not near_zero(850.0, None)
    samples = [CurveSample(25, 880.0, 0, None, 900.0), CurveSample(50, 200.0, 0, None, 900.0),
               CurveSample(100, 100.0, 0, None, 900.0), CurveSample(200, 50.0, 0, None, 900.0)]
    (curve,) = curves_from_samples({("mlp", "xtb:ethanol"): samples})
    assert curve.slopes.per_seed[0] == pytest.approx(-1.0)  # the first point would have bent it
    assert curve.fit.slope == pytest.approx(-1.0) and curve.points[0].excluded == (True,)
    fig = learning_curve_figure([curve]).to_dict()
    hollow = [t for t in fig["data"] if t["name"].endswith("left out (at zero forces)")]
    assert len(hollow) == 1 and list(hollow[0]["x"]) == [25] and hollow[0]["marker"]["symbol"] == "circle-open"
    assert slope_rows([curve])[0]["left out (at zero forces)"] == 1


def test_learning_curve_shows_the_zero_force_line_of_its_data_set():
    store = RunStore()
    for n, force in ((25, 870.0), (50, 869.0)):
        finished_run(store, "mlp", n, 0, force=force, group="g", zero=878.66)
        finished_run(store, "nequip-l1", n, 0, force=force / 4, group="g", zero=878.66)
    curves = learning_curves(store.list_runs())
    assert [c.zero_baseline for c in curves] == [pytest.approx(878.66)] * 2
    fig = learning_curve_figure(curves).to_dict()
    zero = [t for t in fig["data"] if t["name"].startswith("zero forces")]
    assert len(zero) == 1 and zero[0]["name"] == "zero forces: 879 meV/Å (learned nothing)"
    assert list(zero[0]["y"]) == [878.66, 878.66] and list(zero[0]["x"]) == [25, 50]
    # Two data sets have two test sets: no single line is drawn.
    finished_run(store, "mlp", 25, 0, force=99.0, data="rmd17:ethanol", level="PBE/def2-SVP", zero=900.0)
    fig = learning_curve_figure(learning_curves(store.list_runs())).to_dict()
    assert not any(t["name"].startswith("zero forces") for t in fig["data"])


# -- progress --------------------------------------------------------------------------------------

def test_progress_and_eta_from_the_record():
    store = RunStore()
    run = store.create("train", {"model": "gvp", "data": "xtb:ethanol", "n_train": 100})
    assert run_progress(run).elapsed_s is None and "(next)" in status_line(run, 0)
    store.mark_running(run.id)
    store.heartbeat(run.id, progress=0.25, message="epoch 3")
    record = store.get(run.id)
    p = run_progress(record, store.epochs(run.id), now=record.started_at + 30)
    assert p.fraction == 0.25 and p.elapsed_s == pytest.approx(30) and p.eta_s == pytest.approx(90)
    assert p.text == "25% · epoch 3 · 30 s elapsed · about 1 min 30 s left"
    # With an epoch on record the estimate counts training time only (data loading took 10 s here).
    store.log_epoch(run.id, 1, seconds=5.0, metrics={"val_force_mae_mev_per_a": 50.0})
    epoch = store.epochs(run.id)[0]
    p = run_progress(store.get(run.id), [epoch], now=epoch.logged_at + 15)
    assert p.eta_s == pytest.approx(60) and p.epochs == 1 and "1 epoch done" in p.text
    assert eta_seconds(0.001, 10) is None and eta_seconds(1.0, 10) == 0.0
    assert format_duration(None) == "–" and format_duration(59.4) == "59 s" and format_duration(61) == "1 min 01 s"
    assert status_line(record) == f"run {run.id} · gvp on xtb:ethanol · 100 train · running on cpu (pid {record.pid})"


# -- tables ----------------------------------------------------------------------------------------

def test_run_table_and_exports():
    store = RunStore()
    run = finished_run(store, "gvp", 100, 0, force=80.0, energy=20.0, epochs=3)
    frame = runs_frame(store.list_runs())
    row = frame.iloc[0].to_dict()
    assert row["id"] == run.id and row["status"] == "finished" and row["data set"] == "xTB MD"
    assert row["level of theory"] == "GFN2-xTB" and row["test F MAE (meV/Å)"] == 80.0 and row["progress"] == 1.0
    epochs = store.epochs(run.id)
    table = epochs_frame(epochs)
    assert list(table["epoch"]) == [1, 2, 3] and table["val_force_mae_mev_per_a"].iloc[-1] == pytest.approx(80 * 4 / 3)
    exported = json.loads(run_export(store.get(run.id), epochs))
    assert exported["run"]["test_metrics"]["force_mae_mev_per_a"] == 80.0 and len(exported["epochs"]) == 3
    fig = curves_figure(epochs).to_dict()
    names = {(t["name"], t["xaxis"]) for t in fig["data"]}
    assert names == {("train", "x"), ("validation", "x"), ("train", "x2"), ("validation", "x2")}
    assert overlay_figure([("run 1", "gvp", epochs), ("run 2", "mlp", epochs)]).to_dict()["data"][0]["name"] == "run 1"


def test_published_numbers_match_the_reference_notes():
    # A few cells by hand (so the test means something on its own)...
    assert published("aspirin", "MACE", "rMD17", 1000).force_mae_mev_per_a == 6.6
    assert published("benzene", "NequIP (l=3)", "rMD17", 1000).energy_mae_mev == 0.04
    assert published("ethanol", "NequIP (l=3)", "rMD17", 50).force_mae_mev_per_a == 40.2
    assert published("uracil", "NequIP (l=3)", "MD17", 1000).level_of_theory == "PBE+vdW-TS"
    assert published("water", "MACE", "rMD17", 1000) is None
    assert {p.level_of_theory for p in PUBLISHED if p.dataset == "rMD17"} == {DATASET_LEVELS["rMD17"]}
    assert len(PUBLISHED) == 30 + 4 + 7 and all(p.source for p in PUBLISHED)
    # ...and every number against the tables copied from the papers into tests/data.
    tables = json.loads(PUBLISHED_TABLES.read_text())
    checked = 0
    for table, dataset, n_train in [("rmd17_1000", "rMD17", 1000), ("rmd17_50", "rMD17", 50)]:
        for molecule, cells in tables[table]["values"].items():
            for model, (e, f) in cells.items():
                cell = published(molecule, model, dataset, n_train)
                assert (cell.energy_mae_mev, cell.force_mae_mev_per_a) == (e, f), (molecule, model, n_train)
                checked += 1
    for molecule, (e, f) in tables["md17_1000"]["values"].items():
        cell = published(molecule, "NequIP (l=3)", "MD17", 1000)
        assert (cell.energy_mae_mev, cell.force_mae_mev_per_a) == (e, f), molecule
        checked += 1
    assert checked == len(PUBLISHED) == 30 + 4 + 7


def test_results_cells_average_only_runs_that_differ_in_seed():
    store = RunStore()
    for seed, force in enumerate((60.0, 64.0)):
        finished_run(store, "gvp", 200, seed, force=force, config={"epochs": 40, "model_options": {"layers": 2}})
    finished_run(store, "gvp", 200, 0, force=30.0, config={"epochs": 400, "model_options": {"layers": 2}},
                 data="xtb:ethanol")
    finished_run(store, "gvp", 200, 1, force=34.0, config={"epochs": 400, "model_options": {"layers": 2},
                                                           "device": "cuda", "threads": 4})
    finished_run(store, "mlp", 200, 0, force=500.0, config={"epochs": 40})
    # Recorded before lr_schedule existed: the default it ran with, the same recipe.
    finished_run(store, "mlp", 200, 1, force=520.0, config={"epochs": 40, "lr_schedule": "plateau"})
    long = results_long(store.list_runs())
    own = long[long["source"] == "this app"].set_index("recipe")
    assert own.loc["epochs=40", "force MAE (meV/Å)"] == 62.0 and own.loc["epochs=40", "runs"] == 2
    assert own.loc["epochs=400", "force MAE (meV/Å)"] == 32.0 and own.loc["epochs=400", "runs"] == 2
    assert own.loc["", "model"] == "mlp" and own.loc["", "runs"] == 2  # one recipe only: nothing to tell apart
    columns = list(results_wide(long).columns)
    assert "gvp [epochs=40] · xTB MD (GFN2-xTB) · n=200 (train+val) · this app" in columns
    assert "gvp [epochs=400] · xTB MD (GFN2-xTB) · n=200 (train+val) · this app" in columns
    assert "mlp · xTB MD (GFN2-xTB) · n=200 (train+val) · this app" in columns


def test_results_table_labels_every_cell_with_data_set_level_and_size():
    store = RunStore()
    for seed, force in enumerate((60.0, 64.0)):
        finished_run(store, "gvp", 200, seed, force=force, energy=10.0 + seed)
    finished_run(store, "nequip-l1", 950, 0, force=9.0, energy=0.9, data="rmd17:ethanol", level="PBE/def2-SVP")
    finished_run(store, "gvp", 50, 0, force=30.0, data="rmd17:salicylic", level="PBE/def2-SVP")
    long = results_long(store.list_runs())
    own = long[long["source"] == "this app"]
    gvp = own[(own["model"] == "gvp") & (own["molecule"] == "ethanol")].iloc[0]
    assert gvp["data set"] == "xTB MD" and gvp["level of theory"] == "GFN2-xTB" and gvp["n_train"] == 200
    assert gvp["force MAE (meV/Å)"] == 62.0 and gvp["force MAE std (meV/Å)"] == pytest.approx(np.std([60, 64], ddof=1))
    assert gvp["runs"] == 2
    assert molecule_key("salicylic") == "salicylic_acid" and "salicylic_acid" in set(own["molecule"])
    wide = results_wide(long)
    columns = list(wide.columns)
    assert columns[:4] == ["molecule", "gvp · rMD17 (PBE/def2-SVP) · n=50 (train+val) · this app",
                           "nequip-l1 · rMD17 (PBE/def2-SVP) · n=950 (train+val) · this app",
                           "gvp · xTB MD (GFN2-xTB) · n=200 (train+val) · this app"]
    assert columns[4:7] == ["MACE · rMD17 (PBE/def2-SVP) · n=1000 (train+val) · published",
                            "Allegro · rMD17 (PBE/def2-SVP) · n=1000 (train+val) · published",
                            "NequIP (l=3) · rMD17 (PBE/def2-SVP) · n=1000 (train+val) · published"]
    assert columns[-1] == "NequIP (l=3) · MD17 (PBE+vdW-TS) · n=1000 (train+val) · published"
    ethanol = wide.set_index("molecule").loc["ethanol"]
    assert ethanol["gvp · xTB MD (GFN2-xTB) · n=200 (train+val) · this app"] == "10.5 / 62.0 (2 runs)"
    assert ethanol["nequip-l1 · rMD17 (PBE/def2-SVP) · n=950 (train+val) · this app"] == "0.9 / 9.0"
    assert ethanol["NequIP (l=3) · rMD17 (PBE/def2-SVP) · n=1000 (train+val) · published"] == "0.4 / 2.8"
    # The xTB result sits in an xTB column only, never under an rMD17 header.
    for column in columns[1:]:
        if "62.0" in str(ethanol[column]):
            assert "xTB MD (GFN2-xTB)" in column
    csv = pd.read_csv(io.StringIO(results_csv(long)))
    assert list(csv.columns)[:7] == ["molecule", "source", "model", "data set", "level of theory", "n (train+val)",
                                     "n_train"]
    assert len(csv) == len(PUBLISHED) + 3 and set(csv["source"]) == {"published", "this app"}
    assert dataset_label("file:/x/y/frames.extxyz") == "frames.extxyz"


def test_950_plus_50_sits_in_the_published_1000_column_and_short_runs_are_flagged():
    from equiv.views.run_tables import short_run_warning

    store = RunStore()
    for seed in (0, 1):
        finished_run(store, "nequip-l1", 950, seed, force=9.0 + seed, energy=0.9, data="rmd17:ethanol",
                     level="PBE/def2-SVP", config={"n_val": 50, "max_steps": 600},
                     metrics={"converged": seed == 0, "budget": "600 steps"})
    long = results_long(store.list_runs())
    own = long[long["source"] == "this app"].iloc[0]
    assert own["n (train+val)"] == 1000 and own["n_train"] == 950 and own["converged"] == 0.5
    wide = results_wide(long).set_index("molecule")
    mine = "nequip-l1 · rMD17 (PBE/def2-SVP) · n=1000 (train+val) · this app"
    assert wide.loc["ethanol", mine] == "0.9 / 9.5 (2 runs; not converged, 600 steps)"
    assert "n=1000 (train+val) · published" in " ".join(wide.columns)
    warning = short_run_warning(long)
    assert warning is not None and "600 steps" in warning and "did not converge" in warning
    frame = runs_frame(store.list_runs())
    assert list(frame["budget"]) == ["600 steps"] * 2 and sorted(frame["converged"]) == ["no", "yes"]
    assert short_run_warning(long[long["source"] == "published"]) is None
