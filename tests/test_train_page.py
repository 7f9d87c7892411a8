"""The training lab through AppTest (real Streamlit, no browser), with real launcher and worker
processes: the form's refusals with reasons, generating a missing data set, launching a tiny run
that trains in a worker process and shows its curves and result, a double click, cancel, and a
small sweep with its learning curves."""

from __future__ import annotations

import os

import pytest
import torch

from equiv.jobs.queues import set_max_running
from equiv.data.rmd17 import RMD17_FOLDER_ENV
from tests.apptest_tools import figure, open_page, shown
from tests.conftest import wait_for
from tests.jobs_tools import background_store, tiny_xtb  # noqa: F401  (fixture)

PAGE = "app_pages/train.py"


def set_tiny(at, epochs: int = 2) -> None:
    """A run of a few seconds: NequIP l_max 1, 1 layer, 4 channels, 10 structures."""
    at.number_input(key="tl_n_train").set_value(10)
    at.number_input(key="tl_n_val").set_value(5)
    at.number_input(key="tl_epochs").set_value(epochs)
    at.number_input(key="tl_layers").set_value(1)
    at.number_input(key="tl_channels").set_value(4)
    at.selectbox(key="tl_device").set_value("cpu")


def launch(at):
    at.button(key="tl_launch").click().run()
    assert not at.exception, at.exception
    return at


def page_links(at) -> list[tuple[str, str]]:
    """(label, query string) of the page links shown."""
    return [(e.proto.label, e.proto.query_string) for e in at.get("page_link")]


def test_a_link_fills_the_form_and_the_form_writes_the_link(background_store):
    tiny_xtb(frames=40)
    at = open_page(PAGE, {"model": "gvp", "n_train": "20", "n_val": "5", "seconds": "30", "layers": "99",
                          "device": "gpu", "run": "7"})
    assert not at.exception, at.exception
    assert at.selectbox(key="tl_model").value == "gvp" and at.number_input(key="tl_n_train").value == 20
    assert at.number_input(key="tl_seconds").value == 30.0 and at.number_input(key="tl_layers").value is None
    assert shown(at, "warning") == ["link parameter device=gpu: one of auto, cpu, cuda; using auto",
                                    "link parameter layers=99: a whole number from 1 to 8; using the preset",
                                    "Run 7 is not in this machine's run store."]
    query = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert query == {"model": "gvp", "n_train": "20", "n_val": "5", "seconds": "30", "run": "7"}
    at.number_input(key="tl_channels").set_value(8).run()
    assert at.query_params["channels"] in ("8", ["8"])
    assert shown(at, "warning") == ["Run 7 is not in this machine's run store."]  # link messages show once


def test_the_form_refuses_with_reasons(background_store, monkeypatch):
    monkeypatch.delenv(RMD17_FOLDER_ENV, raising=False)
    tiny_xtb(frames=40)  # 30 structures for training and validation
    at = open_page(PAGE)
    assert not at.exception and "30 structures for training and validation" in " ".join(shown(at, "caption"))
    at.number_input(key="tl_n_train").set_value(100)
    errors = shown(launch(at), "error")
    assert errors == ["generated ethanol MD (GFN2-xTB, 500 K) has 30 structures for training and validation; "
                      "100 + 50 were asked for: the validation set alone takes them all; use fewer than 30 "
                      "validation structures."]
    at.number_input(key="tl_n_train").set_value(10)
    at.number_input(key="tl_n_val").set_value(5)
    at.number_input(key="tl_epochs").set_value(0)
    at.number_input(key="tl_batch").set_value(20)
    at.run()
    assert "No budget given: runs train for 300 s, as `equiv train` does." in shown(at, "caption")
    errors = shown(launch(at), "error")
    assert errors == ["The batch size (20) is larger than the training set (10 structures)."]
    at.number_input(key="tl_epochs").set_value(2)
    at.number_input(key="tl_batch").set_value(5)
    if not torch.cuda.is_available():
        at.selectbox(key="tl_device").set_value("cuda")
        errors = shown(launch(at), "error")
        assert len(errors) == 1 and "CUDA was chosen, but torch.cuda.is_available() is False here" in errors[0]
        at.selectbox(key="tl_device").set_value("auto")
    at.radio(key="tl_data").set_value("rmd17").run()
    warning = " ".join(shown(at, "warning"))
    assert "no rMD17 file rmd17_ethanol_train_01.npz" in warning and "equiv data download rmd17" in warning
    errors = shown(launch(at), "error")
    assert len(errors) == 1 and "equiv data download rmd17" in errors[0]
    assert background_store.list_runs() == []  # nothing was queued


def test_a_missing_data_set_is_generated_in_the_background(background_store):
    at = open_page(PAGE)
    at.selectbox(key="tl_molecule").set_value("water").run()
    assert any("No generated data set for water yet" in w for w in shown(at, "warning"))
    at.number_input(key="tl_gen_frames").set_value(12)
    at.button(key="tl_generate").click().run()
    assert not at.exception, at.exception
    run = background_store.list_runs()[0]
    assert run.kind == "generate" and run.config["frames"] == 12
    wait_for(lambda: background_store.get(run.id).status == "finished", timeout=120, what="the generation job")
    at.run()
    caption = " ".join(shown(at, "caption"))
    assert "generated water MD (GFN2-xTB, 500 K): 9 structures for training and validation, 3 test structures" in caption
    assert any(f"Run {run.id} finished: 12 frames written" in s for s in shown(at, "success"))


@pytest.mark.slow
def test_launch_a_tiny_run_that_trains_in_a_worker_process(background_store):
    store = background_store
    tiny_xtb(frames=40)
    at = open_page(PAGE)
    set_tiny(at)
    assert shown(launch(at), "success") == ["Queued run 1 on the cpu queue."]
    assert at.query_params["run"] == ["1"] or at.query_params["run"] == "1"
    assert "These settings were launched from this form already: run 1" in shown(launch(at), "info")[0]
    assert len(store.list_runs()) == 1  # the second click made no second run
    wait_for(lambda: store.get(1).status == "finished", timeout=120, what="the tiny run")
    run = store.get(1)
    assert run.pid != os.getpid() and run.config["labels"] == {"launched_from": "training lab"}
    at.run()
    assert not at.exception, at.exception
    success = " ".join(shown(at, "success"))
    assert "Run 1 finished: test energy MAE" in success and "xTB MD (GFN2-xTB), 10 training structures" in success
    curves = figure(at, "tl_curves")
    validation = [t for t in curves["data"] if t["name"] == "validation"]
    assert len(validation) == 2 and list(validation[1]["x"]) == [1, 2]
    assert all(y > 0 for y in validation[1]["y"])
    assert ("Open run 1 in the rotation lab", "run=1") in page_links(at)


def test_a_watched_queued_run_says_its_place_in_the_queue(background_store):
    store = background_store
    config = {"model": "gvp", "data": "xtb:ethanol", "n_train": 10}
    busy = store.create("train", config, device="cpu", owner_pid=os.getpid())  # holds the cpu queue
    first, second = (store.create("train", {**config, "seed": s}, device="cpu") for s in (1, 2))
    at = open_page(PAGE, {"run": str(second.id)})
    assert not at.exception, at.exception
    heading = [h for h in shown(at, "subheader") if h.startswith(f"run {second.id} ")]
    assert heading == [f"run {second.id} · gvp on xtb:ethanol · 10 train · queued on cpu (1 ahead in the queue)"]
    assert "Waiting for the cpu queue (1 run(s) ahead)." in shown(at, "info")
    assert store.get(first.id).status == "queued"
    store.fail(busy.id, "test over")


def test_a_run_whose_worker_is_gone_says_so_and_the_page_writes_nothing(background_store):
    import contextlib
    import sqlite3

    store = background_store
    run = store.mark_running(store.create("train", {"model": "gvp", "data": "xtb:ethanol", "n_train": 10}).id)
    with contextlib.closing(sqlite3.connect(store.path)) as conn, conn:  # its worker went silent an hour ago
        conn.execute("UPDATE runs SET heartbeat_at = heartbeat_at - 3600 WHERE id = ?", (run.id,))
    at = open_page(PAGE, {"run": str(run.id)})
    assert not at.exception, at.exception
    errors = [e for e in shown(at, "error") if e.startswith(f"Run {run.id}'s worker is gone: no heartbeat")]
    assert len(errors) == 1 and "equiv runs list" in errors[0]
    assert store.get(run.id).status == "running"  # shown, not written: the launcher or the CLI ends it
    store.fail(run.id, "test over")  # its "worker" is this process, which the fixture would stop


@pytest.mark.slow
def test_cancel_stops_a_running_run_and_keeps_its_checkpoint(background_store):
    store = background_store
    tiny_xtb(frames=40)
    at = open_page(PAGE)
    set_tiny(at, epochs=10_000)
    launch(at)
    wait_for(lambda: len(store.epochs(1)) >= 1, timeout=120, what="the first epoch")
    at.run()
    bars = [p.proto.text.replace("\\", "") for p in at.get("progress")]
    assert any(b.startswith("<1% · ") and "epoch" in b and "validation F MAE" in b and "elapsed" in b for b in bars), bars
    at.button(key="tl_cancel_1").click().run()
    assert store.get(1).cancel_requested
    wait_for(lambda: store.get(1).status == "cancelled", timeout=60, what="the cancel")
    at.run()
    warning = " ".join(shown(at, "warning"))
    assert "Run 1 was cancelled. Its best checkpoint is kept" in warning and os.path.isfile(store.get(1).checkpoint_path)


@pytest.mark.slow
def test_a_sweep_from_the_page_fills_in_its_learning_curves(background_store):
    store = background_store
    tiny_xtb(frames=60)
    set_max_running("cpu", 2, store.path)  # two at a time: the workers' start-up overlaps
    at = open_page(PAGE)
    at.multiselect(key="sw_models").set_value(["mlp", "nequip-l0"])
    at.text_input(key="sw_sizes").set_value("5, 20")
    at.number_input(key="sw_seeds").set_value(1)
    at.number_input(key="sw_n_val").set_value(5)
    at.number_input(key="sw_epochs").set_value(0)
    at.number_input(key="sw_steps").set_value(8)
    at.number_input(key="sw_seconds").set_value(0.0)
    at.number_input(key="sw_layers").set_value(1)
    at.number_input(key="sw_channels").set_value(4)
    at.selectbox(key="sw_device").set_value("cpu")
    at.button(key="sw_launch").click().run()
    assert not at.exception, at.exception
    group = store.list_runs()[0].group_id
    assert f"Queued 4 runs as {group}" in shown(at, "success")[0]
    wait_for(lambda: all(r.status == "finished" for r in store.list_runs(group_id=group)), timeout=180,
             what="the sweep")
    at.run()
    fig = figure(at, "tl_sweep_figure")
    assert fig["layout"]["xaxis"]["type"] == "log"
    legends = [t["name"] for t in fig["data"] if t.get("showlegend", True)]
    assert [name.split(":")[0] for name in legends] == ["mlp", "nequip-l0", "zero forces"]
    assert all("slope" in name for name in legends[:2])
    assert legends[2].endswith("meV/Å (learned nothing)")  # the test set's zero-force error, recorded by the runs
