"""Training on real data (the committed rMD17 slice, tiny generated GFN2-xTB sets) with real run stores and real
worker processes: learning, reproducibility, normalisation, EMA and best checkpoints, cancel,
NaN losses, missing CUDA, the `equiv train` CLI and a killed worker."""

from __future__ import annotations

import dataclasses

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from equiv.cli import main
from equiv.data import generate_xtb_dataset, load_splits, write_dataset_npz, default_xtb_path
from equiv.errors import TrainingError
from equiv.graphs import AtomsBatch
from equiv.jobs.train import create_train_run, execute_run
from equiv.models import build_model, coordinate_statistics, load_checkpoint
from equiv.runs import RunStore
from equiv.training import (
    FrameTensors,
    TrainConfig,
    TrainHooks,
    WeightEMA,
    species_energy_shift,
    train,
)
from equiv.training.trainer import Trainer
from tests.conftest import REPO_ROOT, RMD17_SLICE, wait_for

TINY_NEQUIP = {"channels": 8, "n_layers": 2, "l_max": 1, "radial_hidden": [16]}
TINY_GVP = {"scalar_channels": 8, "vector_channels": 4, "n_layers": 1}


def tiny(**changes) -> TrainConfig:
    base = dict(model="nequip", model_options=TINY_NEQUIP, data="rmd17:ethanol", data_dir=str(RMD17_SLICE),
                n_train=20, n_val=10, n_test=20, epochs=2, device="cpu")
    return TrainConfig(**{**base, **changes})



# -- pieces ------------------------------------------------------------------------------------

def test_species_shift_least_squares_by_hand():
    # Three compositions determine two per-species energies exactly.
    counts = np.array([[2, 1], [4, 2], [1, 1], [0, 3]])
    mu = np.array([-13.6, -2040.5])
    np.testing.assert_allclose(species_energy_shift(counts, counts @ mu), mu, rtol=1e-12)
    # Noisy energies: the normal-equation solution (solved by hand here).
    e = counts @ mu + np.array([0.1, -0.2, 0.05, 0.0])
    by_hand = np.linalg.solve(counts.T @ counts, counts.T @ e)
    np.testing.assert_allclose(species_energy_shift(counts, e), by_hand, rtol=1e-12)
    # One molecule (every row the same): the data cannot tell elements apart, so every species
    # gets the mean energy per atom, which reproduces the mean energy.
    n = np.array([6.0, 2.0, 1.0])  # ethanol: H, C, O
    energies = np.array([-4210.0, -4209.0, -4212.5])
    shift = species_energy_shift(np.tile(n, (3, 1)), energies)
    np.testing.assert_allclose(shift, np.full(3, energies.mean() / n.sum()), rtol=1e-12)
    assert n @ shift == pytest.approx(energies.mean(), rel=1e-14)


def test_batches_match_the_radius_graph_and_the_model_on_separate_molecules():
    splits = load_splits("rmd17:aspirin", 8, 2, data_dir=RMD17_SLICE)
    frames = FrameTensors(splits.train, r_max=4.0, dtype=torch.float64)
    pick = torch.tensor([5, 0, 3])
    batch = frames.batch(pick)
    ds = splits.train
    ref = AtomsBatch.from_arrays([ds.numbers] * 3, [ds.positions[i] for i in pick.tolist()], dtype=torch.float64)
    assert 0 < batch.edge_index.shape[1] < 3 * 21 * 20  # aspirin is larger than 4 Å: not every pair
    assert torch.equal(batch.edge_index, ref.with_edges(4.0).edge_index)
    assert torch.equal(batch.positions, ref.positions) and torch.equal(batch.graph_index, ref.graph_index)
    np.testing.assert_array_equal(batch.energy.numpy(), ds.energies[pick.numpy()])
    torch.manual_seed(0)
    model = build_model("nequip", dtype=torch.float64, numbers=ds.numbers, **{**TINY_NEQUIP, "radial_hidden": (16,)}, r_max=4.0)
    ours, theirs = model(batch), model(ref)
    torch.testing.assert_close(ours["forces"], theirs["forces"], rtol=1e-12, atol=1e-12)


def test_ema_follows_the_weights_with_warmup():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    ema = WeightEMA(model, decay=0.9)
    expected = torch.zeros(1, 2)
    for n, value in enumerate([1.0, 2.0, 3.0, 4.0], start=1):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update()
        d = min(0.9, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * value
        torch.testing.assert_close(ema.model.weight.detach(), expected)
    assert not ema.model.training and not ema.model.weight.requires_grad


def test_config_checks_and_round_trip():
    cfg = tiny(model_options={"channels": 4, "radial_hidden": (8, 8)})
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert TrainConfig(data="xtb:ethanol", n_train=5).max_time_s == 300.0  # a default budget
    for bad, message in [({"model": "transformer"}, "model must be one of mlp, gvp, nequip, .*not 'transformer'"),
                         ({"n_train": 0}, "training-set size"), ({"lr": -1.0}, "learning rate"),
                         ({"device": "tpu"}, "device must be"), ({"ema_decay": 1.0}, "EMA decay"),
                         ({"energy_weight": 0.0, "force_weight": 0.0}, "nothing to train")]:
        with pytest.raises(TrainingError, match=message):
            tiny(**bad)


# -- training ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_config_defaults_are_the_settings_table_s_except_where_said():
    """TrainConfig takes its defaults from equiv.run_settings.SETTINGS; the few that differ on
    purpose are listed with a reason (a new difference fails here)."""
    from equiv.run_settings import SETTINGS
    from equiv.training.config import _API_DEFAULTS

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    differ = {s.config_field for s in SETTINGS if s.config_field and defaults[s.config_field] != s.default}
    assert differ == set(_API_DEFAULTS)


def test_a_tiny_run_lowers_the_validation_force_error(tmp_path):
    cfg = tiny(n_train=40, epochs=8, n_test=40)
    epochs = []
    result = train(cfg, TrainHooks(on_epoch=epochs.append), checkpoint_path=tmp_path / "best.pt")
    first, last = epochs[0].val["force_mae_mev_per_a"], result.best_val["force_mae_mev_per_a"]
    splits = load_splits(cfg.data, cfg.n_train, cfg.n_val, cfg.seed, RMD17_SLICE, n_test=cfg.n_test)
    zero_predictor = 1000 * np.abs(splits.val.forces).mean()  # meV/Å
    assert last < 0.7 * first, (first, last)
    assert last < 0.7 * zero_predictor, (zero_predictor, last)
    assert result.stopped == "epochs" and result.epochs == 8 and result.steps == 8 * 8
    assert set(result.test) == {"energy_mae_mev", "energy_rmse_mev", "force_mae_mev_per_a", "force_rmse_mev_per_a",
                                "force_mae_zero_mev_per_a"}
    assert result.test["force_rmse_mev_per_a"] >= result.test["force_mae_mev_per_a"] > 0
    # The zero-force line: mean |F| component over the test set (rMD17 ethanol: about 880 meV/Å).
    assert result.test["force_mae_zero_mev_per_a"] == pytest.approx(1000 * np.abs(splits.test.forces).mean(), rel=1e-12)
    assert 700 < result.test["force_mae_zero_mev_per_a"] < 1000
    assert result.summary()["force_mae_zero_mev_per_a"] == result.test["force_mae_zero_mev_per_a"]
    assert result.dataset["level_of_theory"] == "PBE/def2-SVP" and result.dataset["units"]["forces"] == "eV/Å"
    assert result.dataset["split"]["n_test"] == 40
    # The normalisation is the training set's: force RMS and least-squares shifts that give its mean.
    norm = result.normalization
    assert norm["energy_scale_ev"] == pytest.approx(np.sqrt(np.mean(splits.train.forces**2)), rel=1e-12)
    counts = {"1": 6, "6": 2, "8": 1}
    assert sum(counts[z] * s for z, s in norm["energy_shift_ev"].items()) == pytest.approx(splits.train.energies.mean(), rel=1e-12)
    assert norm["avg_num_neighbors"] == pytest.approx(8.0, abs=0.01)  # ethanol within 5 Å: every other atom


def test_cosine_schedule_anneals_over_the_epochs():
    epochs = []
    result = train(tiny(n_train=10, n_val=5, n_test=10, epochs=4, lr=0.008, lr_schedule="cosine"),
                   TrainHooks(on_epoch=epochs.append))
    # Learning rate at the start of epoch e (1-based): lr0 · ½(1 + cos(π (e−1)/4)).
    expected = [0.008 * 0.5 * (1 + np.cos(np.pi * (e - 1) / 4)) for e in range(1, 5)]
    np.testing.assert_allclose([r.lr for r in epochs], expected, rtol=1e-12)
    assert result.stopped == "epochs"
    with pytest.raises(TrainingError, match="schedule"):
        tiny(lr_schedule="linear")


@pytest.mark.slow
def test_same_seed_same_numbers_and_another_seed_differs():
    def history(**changes):
        r = train(tiny(n_train=10, n_val=5, n_test=10, **changes))
        return [(e.train, e.val, e.val_loss) for e in r.history], r.test

    first = history(threads=1)
    assert history(threads=2) == first  # and the thread count does not change them
    assert history(seed=1, threads=1) != first


def test_best_checkpoint_holds_the_best_ema_weights(tmp_path):
    path = tmp_path / "best.pt"
    written = []
    cfg = tiny(model="gvp", model_options=TINY_GVP, epochs=5, lr=0.05, n_test=30)
    trainer = Trainer(cfg, TrainHooks(on_checkpoint=written.append), checkpoint_path=path, metadata={"note": "test"})
    result = trainer.run()
    losses = [e.val_loss for e in result.history]
    best = int(np.argmin(losses)) + 1
    assert result.best_epoch == best and [e.epoch for e in result.history if e.best][-1] == best
    assert len(written) == sum(e.best for e in result.history) and result.checkpoint == path
    loaded = load_checkpoint(path)
    meta = loaded.metadata
    assert meta["epoch"] == best and meta["note"] == "test" and meta["test_metrics"] == result.test
    assert meta["dataset"]["name"] == "rmd17:ethanol" and meta["config"]["model"] == "gvp"
    # The file holds the EMA weights, not the raw optimizer weights …
    ema_state, raw_state = loaded.model.state_dict(), trainer.model.state_dict()
    assert any(not torch.equal(ema_state[k], raw_state[k]) for k in raw_state)
    # … and they reproduce the best validation errors and the test errors.
    splits = load_splits(cfg.data, cfg.n_train, cfg.n_val, cfg.seed, RMD17_SLICE, n_test=30)
    for part, expected in ((splits.val, result.best_val), (splits.test, result.test)):
        batch = FrameTensors(part, r_max=5.0).batch(torch.arange(part.n_frames))
        out = loaded.model(batch)
        e_mae = 1000 * (out["energy"] - batch.energy).abs().mean().item()
        f_mae = 1000 * (out["forces"] - batch.forces).abs().mean().item()
        assert e_mae == pytest.approx(expected["energy_mae_mev"], rel=1e-4)
        assert f_mae == pytest.approx(expected["force_mae_mev_per_a"], rel=1e-4)


def test_generated_xtb_data_with_the_mlp_through_the_executor():
    ds = generate_xtb_dataset("water", frames=48, stride=2, equilibration_steps=20, seed=3, trajectories=1)
    write_dataset_npz(ds, default_xtb_path("water"))
    store = RunStore()
    run = create_train_run(TrainConfig(model="mlp", model_options={"hidden": [16, 16]}, data="xtb:water",
                                       n_train=20, n_val=6, epochs=3, device="cpu"), store)
    result = execute_run(run.id, store)
    record = store.get(run.id)
    assert record.status == "finished" and record.pid == os.getpid() and record.error is None
    assert record.dataset["level_of_theory"] == "GFN2-xTB" and record.dataset["name"] == "xtb:water"
    assert record.test_metrics["force_mae_mev_per_a"] == result.test["force_mae_mev_per_a"]
    assert record.test_metrics["n_test"] == 12  # the last quarter of 48 frames
    assert [e.epoch for e in store.epochs(run.id)] == [1, 2, 3]
    assert store.epochs(run.id)[0].extra["val_loss"] > 0
    assert os.path.isfile(record.checkpoint_path) and load_checkpoint(record.checkpoint_path).metadata["run_id"] == run.id
    # the MLP standardizes its inputs with the training frames' statistics
    config = load_checkpoint(record.checkpoint_path).model.config
    expected = coordinate_statistics(load_splits("xtb:water", 20, 6, record.config["seed"]).train.positions)
    assert np.allclose(config.input_mean, expected["input_mean"]) and np.allclose(config.input_std, expected["input_std"])


# -- stopping and failing ------------------------------------------------------------------------

@pytest.mark.slow
def test_cancel_through_the_run_store_keeps_the_best_checkpoint():
    store = RunStore()
    run = create_train_run(tiny(epochs=200), store)

    def cancel_after_first(report):
        if report.epoch == 1:
            store.request_cancel(run.id)

    result = execute_run(run.id, store, hooks=TrainHooks(on_epoch=cancel_after_first), heartbeat_every_s=0.02)
    record = store.get(run.id)
    assert result.cancelled and result.stopped == "cancelled" and result.epochs < 200 and result.test == {}
    assert record.status == "cancelled" and record.error == "cancelled" and record.cancel_requested
    assert record.checkpoint_path and load_checkpoint(record.checkpoint_path).metadata["epoch"] >= 1


@pytest.mark.slow
def test_nequip_l2_checkpoints_load_into_a_model_built_from_their_config(tmp_path):
    # e3nn's l = 2 tensor products are compiled with torch.fx; a deep copy of them carries an extra
    # buffer, so the EMA model must be a fresh build for its checkpoint to load.
    result = train(tiny(model_options={**TINY_NEQUIP, "l_max": 2}, epochs=1, n_train=5, n_val=5, n_test=5),
                   checkpoint_path=tmp_path / "l2.pt")
    loaded = load_checkpoint(result.checkpoint)
    assert loaded.model.config.l_max == 2 and loaded.metadata["test_metrics"] == result.test


def test_nan_loss_fails_the_run_with_the_reason():
    store = RunStore()
    run = create_train_run(tiny(model_options={**TINY_NEQUIP, "avg_num_neighbors": 1e-30}, lr=1.0, epochs=3), store)  # messages × 1e30: the float32 loss overflows
    with pytest.raises(TrainingError, match="the loss became NaN at epoch 1"):
        execute_run(run.id, store)
    record = store.get(run.id)
    assert record.status == "failed" and "loss became NaN" in record.error and "lower the learning rate" in record.error


def test_too_many_structures_fail_the_run_with_the_reason():
    store = RunStore()
    run = create_train_run(tiny(n_train=50, n_val=20), store)
    with pytest.raises(Exception, match="has 60 training structures; asked for 70"):
        execute_run(run.id, store)
    assert "asked for 70" in store.get(run.id).error


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_cuda_asked_for_but_absent_is_a_clear_error_and_a_failed_record(capsys):
    with pytest.raises(TrainingError, match="cuda was asked for, but this PyTorch build has no CUDA support"):
        create_train_run(tiny(device="cuda"))
    argv = ["train", "--model", "gvp", "--data", "rmd17:ethanol", "--data-dir", str(RMD17_SLICE), "--n-train", "5",
            "--device", "cuda", "--json"]
    assert main(argv) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert "cuda was asked for" in error and "--device cpu" in error and "recorded as failed" in error
    record = RunStore().list_runs()[0]
    assert record.status == "failed" and record.device == "cuda" and "cuda was asked for" in record.error
    assert main(["train", "--model", "transformer", "--data", "rmd17:ethanol", "--n-train", "5"]) == 2
    assert "model must be one of" in capsys.readouterr().err
    assert "model must be one of" in RunStore().list_runs()[0].error


# -- the command line and worker processes -----------------------------------------------------

@pytest.mark.slow
def test_equiv_train_json_on_a_tiny_rmd17_run():
    r = subprocess.run(
        [sys.executable, "-m", "equiv", "train", "--model", "nequip", "--data", "rmd17:ethanol", "--data-dir",
         str(RMD17_SLICE), "--n-train", "10", "--n-val", "5", "--n-test", "20", "--epochs", "2", "--channels", "8",
         "--layers", "1", "--model-option", "l_max=1", "--model-option", "radial_hidden=[16]", "--json"],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    for key, kind in [("energy_mae_mev", float), ("force_mae_mev_per_a", float), ("energy_rmse_mev", float),
                      ("force_rmse_mev_per_a", float), ("n_train", int), ("epochs", int), ("seconds", float),
                      ("device", str), ("run_id", int), ("checkpoint", str), ("dataset", dict)]:
        assert isinstance(data[key], kind), key
    assert data["n_train"] == 10 and data["epochs"] == 2 and data["device"] == "cpu" and data["status"] == "finished"
    assert data["dataset"]["level_of_theory"] == "PBE/def2-SVP" and data["dataset"]["units"]["energies"] == "eV"
    assert "kcal" in json.dumps(data["dataset"]["conversion"])
    assert r.stderr.count("\nepoch ") + r.stderr.startswith("epoch ") == 2  # a line per epoch on stderr
    record = RunStore().get(data["run_id"])
    assert record.status == "finished" and record.checkpoint_path == data["checkpoint"]
    assert record.config["model_options"] == {"channels": 8, "n_layers": 1, "l_max": 1, "radial_hidden": [16]}
    assert os.path.isfile(data["checkpoint"])


def test_equiv_train_text_output(capsys):
    argv = ["train", "--model", "gvp", "--data", "rmd17:ethanol", "--data-dir", str(RMD17_SLICE), "--n-train", "10",
            "--n-val", "5", "--n-test", "10", "--epochs", "2", "--layers", "1", "--channels", "8"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "run 1: gvp on rmd17:ethanol" in captured.err and captured.err.count("\nepoch ") == 2
    assert "test set: 10 structures of rmd17:ethanol (PBE/def2-SVP), best epoch" in captured.out
    assert "energy (meV, per molecule)" in captured.out and "force (meV/Å, per component)" in captured.out
    assert "run 1; checkpoint " in captured.out
    record = RunStore().get(1)
    assert record.status == "finished" and record.config["model_options"] == {"n_layers": 1, "scalar_channels": 8,
                                                                              "vector_channels": 4}


@pytest.mark.slow
def test_a_killed_worker_is_reported_failed_and_sigterm_cancels():
    store = RunStore()
    runs = [create_train_run(tiny(model="gvp", model_options=TINY_GVP, n_train=50, epochs=10_000), store)
            for _ in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "equiv.jobs.worker", str(run.id)], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for run in runs]
    try:
        for run in runs:
            wait_for(lambda: len(store.epochs(run.id)) >= 1, timeout=60, what=f"run {run.id}'s first epoch")
        killed, stopped = procs
        assert store.get(runs[0].id).pid == killed.pid
        os.kill(killed.pid, signal.SIGKILL)
        wait_for(lambda: [r.id for r in store.reap()] == [runs[0].id], what="the reaper")
        assert store.get(runs[0].id).error == f"worker process {killed.pid} died (killed or out of memory)"
        stopped.send_signal(signal.SIGTERM)  # a polite stop: cancelled, best checkpoint kept
        assert stopped.wait(timeout=60) == 0
        record = store.get(runs[1].id)
        assert record.status == "cancelled" and os.path.isfile(record.checkpoint_path)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()


# -- shipped pretrained models ------------------------------------------------------------------

@pytest.mark.slow
def test_every_shipped_checkpoint_loads_and_takes_its_molecule():
    """Each file in assets/pretrained builds from its own config in float64 (a config key this equiv
    does not know, from a model trained mid-change, would fail here, not in front of a class) and
    answers for its molecule."""
    from equiv.models.pretrained import PRETRAINED_DIR
    from equiv.molecules import load_molecule
    from equiv.views.rotation_models import check_compatible

    index = json.loads((PRETRAINED_DIR / "index.json").read_text())
    shipped = [(m, PRETRAINED_DIR / entry["file"]) for m, models in index.items() for entry in models.values()]
    assert len(shipped) >= 38
    for key, path in shipped:
        molecule = load_molecule(key)
        model = load_checkpoint(path, dtype=torch.float64).model
        check_compatible(model, molecule.numbers)
        out = model(AtomsBatch.from_molecules([molecule], dtype=torch.float64))
        assert torch.isfinite(out["forces"]).all(), path.name


def test_pretrained_models_are_small_indexed_and_self_describing():
    from equiv.models.pretrained import PRETRAINED_DIR, pretrained_path
    from equiv.molecules import LIBRARY

    index = json.loads((PRETRAINED_DIR / "index.json").read_text())
    assert set(index) == set(LIBRARY)
    for molecule, models in index.items():
        # The aligned MLP exists only where it was trained; the others fall back (rotation lab).
        assert {"mlp-aug", "gvp", "nequip"} <= set(models) <= {"mlp", "mlp-aug", "gvp", "nequip"}
        for family, entry in models.items():
            path = pretrained_path(molecule, family)
            assert path is not None and path.stat().st_size == entry["bytes"] < 1_000_000
            assert entry["force_mae_mev_per_a"] > 0 and entry["level_of_theory"] == "GFN2-xTB"
    assert {"ethanol", "aspirin"} <= {m for m, models in index.items() if "mlp" in models}
    assert sum(p.stat().st_size for p in PRETRAINED_DIR.iterdir()) <= 10_000_000  # shipped files stay small
    # The aligned MLP fits forces in its own frame: ethanol within the target (half the
    # zero-force error); aspirin (1,800 training frames, 240 s) reached 0.55 of it and is held to 0.6.
    for molecule, share in (("ethanol", 0.5), ("aspirin", 0.6)):
        entry = index[molecule]["mlp"]
        assert entry["force_mae_mev_per_a"] <= share * entry["force_mae_zero_mev_per_a"]
        aligned = load_checkpoint(pretrained_path(molecule, "mlp")).metadata["dataset"]["generation"]["aligned"]
        assert aligned["method"] == "Kabsch" and aligned["atoms"] == "heavy atoms"
    for family in ("mlp", "mlp-aug", "gvp", "nequip"):
        loaded = load_checkpoint(pretrained_path("ethanol", family))
        meta = loaded.metadata
        assert meta["command"].startswith("python scripts/train_pretrained.py --molecules ethanol --models " + family)
        assert meta["dataset"]["level_of_theory"] == "GFN2-xTB" and meta["dataset"]["molecule"] == "ethanol"
        assert meta["test_metrics"]["force_mae_mev_per_a"] == pytest.approx(index["ethanol"][family]["force_mae_mev_per_a"], abs=0.01)
        assert "run_store" not in meta and not meta["config"]["data"].startswith("file:/")
