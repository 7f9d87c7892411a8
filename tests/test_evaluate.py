"""``equiv evaluate``: training's test split and metrics for any model, with one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from equiv.cli import main
from equiv.cli.evaluate import EVALUATE_KEYS
from equiv.data import default_xtb_path, generate_xtb_dataset, load_test_split, write_dataset_npz
from equiv.runs import RunStore
from equiv.jobs.train import create_train_run, execute_run
from equiv.training import TrainConfig

RMD17_SLICE = str(Path(__file__).parent / "data" / "rmd17")
METRICS = ("energy_mae_mev", "force_mae_mev_per_a", "force_mae_zero_mev_per_a")


@pytest.fixture(scope="module")
def fresh_ethanol():
    """A freshly generated, tiny GFN2-xTB ethanol set (4 trajectories of 5 frames at 500 K; ~2 s)."""
    return generate_xtb_dataset("ethanol", frames=20, stride=20, equilibration_steps=200, seed=11, workers=1)


@pytest.fixture
def xtb_ethanol(fresh_ethanol):
    write_dataset_npz(fresh_ethanol, default_xtb_path("ethanol"))
    return fresh_ethanol


def evaluate(capsys, *args: str) -> dict:
    assert main(["evaluate", *args, "--json"]) == 0, capsys.readouterr()
    return json.loads(capsys.readouterr().out)


def test_a_shipped_checkpoint_on_fresh_xtb_data(capsys, xtb_ethanol):
    """The documented command: exactly the documented keys; the pretrained NequIP has learned
    something (below the zero-force line) on GFN2-xTB frames it never saw."""
    out = evaluate(capsys, "--model", "pretrained:ethanol:nequip", "--data", "xtb:ethanol")
    assert tuple(out) == EVALUATE_KEYS
    assert {"energy_mae_mev", "force_mae_mev_per_a", "force_mae_zero_mev_per_a", "n_test"} <= set(out)
    assert all(math.isfinite(out[k]) for k in METRICS)
    assert out["n_test"] == 5  # the last trajectory: the split training uses
    assert out["force_mae_mev_per_a"] < 0.5 * out["force_mae_zero_mev_per_a"]
    assert "xtb:ethanol" in out["data"] and out["frames"] == "as stored"


def test_text_output(capsys, xtb_ethanol):
    assert main(["evaluate", "--model", "pretrained:ethanol:gvp", "--data", "xtb:ethanol"]) == 0
    text = capsys.readouterr().out
    assert "force MAE (meV/Å)" in text and "zero-force MAE" in text


def test_the_figures_are_training_s_own(capsys):
    """A run trained here and evaluated by --run (and by --checkpoint) gives the test errors the
    run recorded: the same split, the same metrics."""
    store = RunStore()
    config = TrainConfig(model="gvp", model_options={"n_layers": 1, "scalar_channels": 4, "vector_channels": 2},
                         data="rmd17:benzene", data_dir=RMD17_SLICE, n_train=8, n_val=4, epochs=1, device="cpu",
                         dtype="float64", threads=1)
    run = create_train_run(config, store)
    execute_run(run.id, store)
    record = store.get(run.id)
    assert record.status == "finished", record.error
    by_run = evaluate(capsys, "--run", str(run.id), "--data", "rmd17:benzene", "--data-dir", RMD17_SLICE)
    by_file = evaluate(capsys, "--checkpoint", record.checkpoint_path, "--data", "rmd17:benzene",
                       "--data-dir", RMD17_SLICE)
    for key in METRICS:
        assert by_run[key] == pytest.approx(record.test_metrics[key], rel=1e-9), key
        assert by_file[key] == by_run[key]
    assert by_run["n_test"] == 40 == len(load_test_split("rmd17:benzene", RMD17_SLICE))


def test_turning_frames_turns_positions_and_forces(capsys):
    """--rotate turns positions and forces together: an equivariant model scores the same. A quarter
    turn about a coordinate axis permutes (and flips) force components, so even the per-component
    MAE is unchanged; a turned molecule with unturned forces would score far worse."""
    common = ["--data", "rmd17:aspirin", "--data-dir", RMD17_SLICE, "--n-test", "6"]
    plain = evaluate(capsys, "--model", "pretrained:aspirin:nequip", *common)
    for axis in ("z", "x"):
        turned = evaluate(capsys, "--model", "pretrained:aspirin:nequip", *common, "--rotate", "90", "--axis", axis)
        assert turned["frames"] == f"as stored, then turned 90° about {axis}"
        for key in METRICS:
            assert turned[key] == pytest.approx(plain[key], rel=1e-9), key
    assert plain["n_test"] == 6


def test_align_turns_frames_rigidly(capsys, xtb_ethanol):
    """--align turns each frame and its forces rigidly: energies, and the rotation-invariant force
    RMSE of an equivariant model, are unchanged (the per-component MAE changes slightly with the
    orientation, as it should)."""
    from equiv.data.align import align_dataset
    from equiv.md.calculator import load_md_model
    from equiv.molecules import load_molecule
    from equiv.training import evaluate_model

    out = evaluate(capsys, "--model", "pretrained:ethanol:nequip", "--data", "xtb:ethanol", "--align")
    plain = evaluate(capsys, "--model", "pretrained:ethanol:nequip", "--data", "xtb:ethanol")
    assert out["frames"].startswith("aligned to the library orientation of ethanol")
    assert out["energy_mae_mev"] == pytest.approx(plain["energy_mae_mev"], rel=1e-9)
    assert out["force_mae_mev_per_a"] == pytest.approx(plain["force_mae_mev_per_a"], rel=0.1)
    model = load_md_model("pretrained:ethanol:nequip").model
    test = load_test_split("xtb:ethanol")
    a = evaluate_model(model, test)
    b = evaluate_model(model, align_dataset(test, load_molecule("ethanol")))
    assert b["force_rmse_mev_per_a"] == pytest.approx(a["force_rmse_mev_per_a"], rel=1e-9)
    assert b["force_mae_mev_per_a"] == pytest.approx(out["force_mae_mev_per_a"], rel=1e-12)


@pytest.mark.parametrize("args, message", [
    (["--model", "pretrained:ethanol:nequip", "--data", "xtb:caffeine"], "no molecule 'caffeine' in the library"),
    (["--model", "pretrained:toluene:nequip", "--data", "xtb:toluene"], "equiv data generate"),
    (["--model", "pretrained:water:nequip", "--data", "rmd17:aspirin", "--data-dir", RMD17_SLICE], "C"),
    (["--model", "pretrained:aspirin:mlp", "--data", "rmd17:aspirin", "--data-dir", RMD17_SLICE], "another order"),
    (["--model", "pretrained:caffeine:nequip", "--data", "rmd17:aspirin", "--data-dir", RMD17_SLICE], "no pretrained model"),
    (["--run", "abc", "--data", "rmd17:aspirin", "--data-dir", RMD17_SLICE], "run number"),
    (["--run", "999", "--data", "rmd17:aspirin", "--data-dir", RMD17_SLICE], "no run 999"),
    (["--model", "pretrained:aspirin:nequip", "--data", "rmd17:aspirin", "--data-dir", "/nonexistent/rmd17"], "rMD17"),
    (["--model", "pretrained:aspirin:nequip", "--data", "rmd17:aspirin", "--data-dir", RMD17_SLICE, "--align"], "same order"),
    (["--model", "pretrained:aspirin:nequip", "--data", "rmd17:aspirin", "--data-dir", RMD17_SLICE, "--rotate", "9",
      "--axis", "0,0,0"], "--axis"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    assert main(["evaluate", *args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("equiv evaluate: error:"), captured.err
    assert message in lines[0] and "Traceback" not in captured.err
    assert main(["evaluate", *args, "--json"]) == 2
    assert message in json.loads(capsys.readouterr().out)["error"]
