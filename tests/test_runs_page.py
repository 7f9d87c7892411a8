"""The runs page through AppTest: the table of runs with filters, overlaid curves, downloads, the
link to the rotation lab, a sweep's learning curves and the results table beside the published
numbers; and the rotation lab opened from such a link."""

from __future__ import annotations

import pandas as pd

from equiv.models import build_model, save_checkpoint
from equiv.molecules import load_molecule
from equiv.runs import RunStore
from tests.apptest_tools import figure, open_page, shown, table
from tests.jobs_tools import finished_run

PAGE = "app_pages/runs.py"


def make_runs(tmp_path) -> dict[str, int]:
    store = RunStore()
    mol = load_molecule("ethanol")
    checkpoint = save_checkpoint(build_model("gvp", numbers=mol.numbers, seed=3), tmp_path / "gvp.pt")
    ids = {"gvp": finished_run(store, "gvp", 50, 0, force=80.0, energy=12.0, epochs=4, checkpoint=str(checkpoint)).id}
    for seed in range(2):
        for n, force in ((10, 300.0), (40, 150.0)):
            ids[f"l1-{n}-{seed}"] = finished_run(store, "nequip-l1", n, seed, force=force + seed, group="sweep-a",
                                                 epochs=2).id
    ids["mlp"] = finished_run(store, "mlp", 50, 0, force=500.0, data="rmd17:aspirin", level="PBE/def2-SVP").id
    failed = store.create("train", {"model": "mlp", "data": "xtb:water", "n_train": 5}, molecule="water")
    store.mark_running(failed.id)
    ids["failed"] = store.fail(failed.id, "the loss became NaN").id
    return ids


def test_runs_table_filters_curves_downloads_and_links(tmp_path):
    ids = make_runs(tmp_path)
    at = open_page(PAGE)
    assert not at.exception, at.exception
    runs = table(at, "rp_runs")
    assert len(runs) == 7 and list(runs["id"]) == sorted(ids.values(), reverse=True)
    assert runs.set_index("id").loc[ids["failed"], "note"] == "the loss became NaN"
    assert runs.set_index("id").loc[ids["mlp"], "data set"] == "rMD17"
    overlay = figure(at, "rp_overlay")  # the newest finished runs are compared by default
    assert len({t["name"] for t in overlay["data"]}) == 3
    at.multiselect(key="rp_models").set_value(["gvp"]).run()
    assert list(table(at, "rp_runs")["id"]) == [ids["gvp"]]
    at.multiselect(key="rp_models").set_value([])
    at.multiselect(key="rp_statuses").set_value(["failed"]).run()
    assert list(table(at, "rp_runs")["id"]) == [ids["failed"]]
    at.multiselect(key="rp_statuses").set_value([])
    at.multiselect(key="rp_molecules").set_value(["aspirin"]).run()
    assert list(table(at, "rp_runs")["id"]) == [ids["mlp"]]
    at.multiselect(key="rp_molecules").set_value([]).run()

    at.selectbox(key="rp_run").set_value(ids["gvp"]).run()
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels[:3] == ["Metrics (JSON)", "Per-epoch errors (CSV)", "Checkpoint (.pt)"]
    links = [(e.proto.label, e.proto.query_string) for e in at.get("page_link")]
    assert (f"Open run {ids['gvp']} in the rotation lab", f"run={ids['gvp']}") in links
    assert any(f"Run {ids['gvp']} finished: test energy MAE 12.00 meV, force MAE 80.00 meV/Å" in s
               for s in [t.replace("**", "") for t in shown(at, "success")])
    at.selectbox(key="rp_run").set_value(ids["failed"]).run()
    assert any("the loss became NaN" in e for e in shown(at, "error"))


def test_learning_curves_and_results_beside_the_published_numbers(tmp_path):
    ids = make_runs(tmp_path)
    at = open_page(PAGE, {"group": "sweep-a"})
    assert not at.exception, at.exception
    curve = figure(at, "rp_sweep_figure")
    means = [t for t in curve["data"] if t.get("showlegend", True)]
    assert len(means) == 1 and means[0]["name"].startswith("nequip-l1: slope ")
    assert list(means[0]["x"]) == [10, 40] and list(means[0]["y"]) == [300.5, 150.5]
    slopes = pd.DataFrame(at.dataframe[[i for i, d in enumerate(at.dataframe)
                                        if "slope (mean over seeds)" in d.value.columns][0]].value)
    assert slopes.loc[0, "runs"] == 4 and slopes.loc[0, "slope (mean over seeds)"] < -0.4
    results = table(at, "rp_results").set_index("molecule")
    assert results.loc["ethanol", "gvp · xTB MD (GFN2-xTB) · n=50 (train+val) · this app"] == "12.0 / 80.0"
    assert results.loc["ethanol", "NequIP (l=3) · rMD17 (PBE/def2-SVP) · n=1000 (train+val) · published"] == "0.4 / 2.8"
    assert results.loc["aspirin", "mlp · rMD17 (PBE/def2-SVP) · n=50 (train+val) · this app"] == "1.0 / 500.0"
    assert results.loc["aspirin", "NequIP (l=3) · rMD17 (PBE/def2-SVP) · n=50 (train+val) · published"] == "19.5 / 52.0"
    at.multiselect(key="rp_sources").set_value(["this app"])
    at.multiselect(key="rp_datasets").set_value(["xTB MD"]).run()
    narrowed = table(at, "rp_results")
    assert all("· this app" in c and "xTB MD (GFN2-xTB)" in c for c in narrowed.columns[1:])
    assert ids["gvp"]  # the run behind the gvp cell
