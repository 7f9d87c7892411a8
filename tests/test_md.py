"""MD lab: the ASE calculator, the stability rule and h(r), MD runs (stable and unstable), the
``md`` job in the run store and the ``equiv md`` CLI."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.io import read
from ase.md.langevin import Langevin
from ase.md.verlet import VelocityVerlet

from equiv.cli import main
from equiv.errors import EquivError
from equiv.graphs import AtomsBatch
from equiv.jobs.md import create_md_run, execute_md, read_series
from equiv.md import MDConfig, ModelCalculator, StabilityRule, hr_distance, hr_histogram, load_md_model, run_md
from equiv.md.calculator import parse_model_spec
from equiv.models import build_model, save_checkpoint
from equiv.molecules import load_molecule
from equiv.runs import RunStore
from tests.conftest import wait_for


def _atoms(name: str) -> Atoms:
    mol = load_molecule(name)
    return Atoms(numbers=mol.numbers, positions=mol.positions)


@pytest.fixture(scope="module")
def ethanol_loaded():
    return load_md_model("pretrained:ethanol:nequip", dtype="float64")


@pytest.fixture(scope="module")
def ethanol_model(ethanol_loaded):
    return ethanol_loaded.model


# -- calculator -----------------------------------------------------------------------------------

def test_calculator_matches_the_model(ethanol_model):
    atoms = _atoms("ethanol")
    atoms.positions += np.random.default_rng(0).normal(scale=0.05, size=atoms.positions.shape)
    atoms.calc = ModelCalculator(ethanol_model)
    out = ethanol_model(AtomsBatch.from_arrays([atoms.numbers], [atoms.positions]))
    assert atoms.get_potential_energy() == float(out["energy"][0])
    np.testing.assert_array_equal(atoms.get_forces(), out["forces"].numpy())


def test_calculator_forces_are_minus_the_energy_gradient(ethanol_model):
    atoms = _atoms("ethanol")
    atoms.calc = ModelCalculator(ethanol_model)
    forces = atoms.get_forces()
    h, worst = 1e-5, 0.0
    for i, k in [(0, 0), (2, 1), (5, 2), (8, 0)]:
        e = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.calc = atoms.calc
            moved.positions[i, k] += sign * h
            e.append(moved.get_potential_energy())
        worst = max(worst, abs(-(e[0] - e[1]) / (2 * h) - forces[i, k]))
    assert worst < 1e-6, worst


@pytest.mark.parametrize("integrator", ["verlet", "langevin"])
def test_calculator_drives_ase_integrators(ethanol_model, integrator):
    atoms = _atoms("ethanol")
    atoms.calc = ModelCalculator(ethanol_model)
    from ase.md.velocitydistribution import thermalize_momenta

    thermalize_momenta(atoms, 300, rng=np.random.default_rng(0))
    e0 = atoms.get_total_energy()
    if integrator == "verlet":
        VelocityVerlet(atoms, timestep=0.5 * units.fs).run(20)
        assert abs(atoms.get_total_energy() - e0) < 2e-3  # NVE conserves the model's energy
    else:
        Langevin(atoms, timestep=0.5 * units.fs, temperature_K=300, friction=0.01 / units.fs, fixcm=False,
                 rng=np.random.default_rng(0)).run(20)
    assert np.isfinite(atoms.positions).all()
    assert not np.allclose(atoms.positions, load_molecule("ethanol").positions)


def test_model_specs_and_bad_models():
    assert parse_model_spec("pretrained:aspirin:gvp").text == "pretrained:aspirin:gvp"
    assert parse_model_spec("m.pt").kind == "checkpoint"
    for bad, words in [("nonsense", "unknown model"), ("pretrained:caffeine:nequip", "no pretrained model"),
                       ("untrained:transformer", "unknown model preset"), ("run:7", "no run 7")]:
        with pytest.raises(EquivError, match=words):
            load_md_model(bad)
    with pytest.raises(EquivError, match="knows the elements"):  # chlorine
        load_md_model("pretrained:ethanol:nequip", numbers=[6, 17, 1, 1, 1])
    with pytest.raises(EquivError, match="MLP"):
        load_md_model("pretrained:ethanol:mlp", numbers=load_molecule("water").numbers)


# -- stability rule and h(r) ----------------------------------------------------------------------

def test_stability_rule():
    pos = load_molecule("ethanol").positions
    rule = StabilityRule.for_molecule(load_molecule("ethanol").numbers, pos)
    assert len(rule.bonds) == 8 and rule.check(pos) is None
    stretched = pos.copy()
    i, j = rule.bonds[0]
    stretched[j] = pos[i] + 1.55 * (pos[j] - pos[i])
    assert "stretched" in rule.check(stretched)
    near = pos.copy()
    stretched[j] = pos[i] + 1.45 * (pos[j] - pos[i])
    assert rule.check(stretched) is None
    near[1] = near[0] + [0.3, 0, 0]
    assert "collided" in rule.check(near)
    near[1] = np.nan
    assert "non-finite" in rule.check(near)


def test_hr_histogram_and_distance():
    pos = np.random.default_rng(0).normal(size=(20, 6, 3))
    r, h = hr_histogram(pos)
    assert abs(h.sum() * (r[1] - r[0]) - 1.0) < 1e-12
    assert hr_distance(h, h) == 0.0
    r2, far = hr_histogram(pos * 0.01 + 0)  # every distance tiny: disjoint from h
    assert abs(hr_distance(h, far) - 2.0) < 0.05


# -- MD runs: stable and unstable -----------------------------------------------------------------

def test_pretrained_model_runs_stable_nve(ethanol_loaded):
    r = run_md(MDConfig(model="pretrained:ethanol:nequip", molecule="ethanol", steps=150, dtype="float64",
                        temperature_K=300), loaded=ethanol_loaded)
    s = r.summary()
    assert s["stable"] is True and s["unstable_at_fs"] is None and s["steps"] == 150
    assert abs(s["energy_drift_mev_per_atom_per_ps"]) < 5.0
    assert 30 < s["temperature_mean_k"] < 400
    assert len(r.potential_ev) == 151 and r.frame_positions.shape[1:] == (9, 3)


def test_untrained_model_at_high_temperature_is_unstable():
    r = run_md(MDConfig(model="untrained:mlp", molecule="ethanol", steps=400, temperature_K=3000,
                        ensemble="langevin"))
    s = r.summary()
    assert s["stable"] is False and 0 < s["unstable_at_fs"] < 200 and s["steps"] < 400
    assert "stretched" in s["unstable_reason"] or "collided" in s["unstable_reason"]
    assert any("untrained" in w for w in s["warnings"])


# -- the job ----------------------------------------------------------------------------------------

def test_md_job_writes_trajectory_and_series(tmp_path):
    store = RunStore()
    out = tmp_path / "w.extxyz"
    run = create_md_run(MDConfig(model="pretrained:water:gvp", molecule="water", steps=40, stride=10), store,
                        reference="always", out=out)
    outcome = execute_md(run.id, store)
    record = store.get(run.id)
    assert record.status == "finished" and record.kind == "md"
    assert record.result["stable"] is True and 0 <= record.result["hr_error"] <= 2
    frames = read(out, index=":")
    assert len(frames) == 5 and "time_fs" in frames[-1].info and frames[-1].get_forces().shape == (3, 3)
    series = read_series(out)
    assert len(series["potential_ev"]) == 41 and len(series["hr_reference"]) == len(series["hr"])
    assert outcome.summary["reference"]["cached"] is False
    again = execute_md(create_md_run(MDConfig(model="pretrained:water:gvp", molecule="water", steps=40, stride=10),
                                     store, reference="cache", out=tmp_path / "x.extxyz").id, store)
    assert again.summary["reference"]["cached"] is True  # the xTB h(r) is cached in the data home
    assert again.summary["hr_error"] == outcome.summary["hr_error"]


def test_md_job_cancel():
    store = RunStore()
    run = create_md_run(MDConfig(model="pretrained:ethanol:nequip", molecule="ethanol", steps=100_000, temperature_K=10),
                        store, reference="none")
    errors = []

    def work():
        try:
            execute_md(run.id, store, heartbeat_every_s=0.1)
        except EquivError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=work)
    t.start()
    wait_for(lambda: (store.get(run.id).progress or 0) > 0, 60, "progress")
    store.request_cancel(run.id)
    t.join(60)
    assert store.get(run.id).status == "cancelled" and "cancelled" in errors[0]


# -- CLI ------------------------------------------------------------------------------------------

SUMMARY_KEYS = {"steps", "steps_per_s", "energy_drift_mev_per_atom_per_ps", "temperature_mean_k", "stable",
                "unstable_at_fs", "hr_error", "trajectory", "run_id", "stability_rule"}


def test_cli_md_json(capsys, tmp_path):
    out = tmp_path / "t.extxyz"
    code = main(["md", "--model", "pretrained:water:gvp", "--molecule", "water", "--steps", "60",
                 "--ensemble", "nve", "--reference", "always", "--out", str(out), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and SUMMARY_KEYS <= set(data)
    assert data["steps"] == 60 and data["stable"] is True and data["unstable_at_fs"] is None
    assert isinstance(data["energy_drift_mev_per_atom_per_ps"], float) and isinstance(data["hr_error"], float)
    assert len(read(out, index=":")) == 61


def test_cli_md_unstable_is_a_result_not_a_crash(capsys):
    code = main(["md", "--model", "untrained:mlp", "--molecule", "ethanol", "--temperature", "3000",
                 "--steps", "400", "--reference", "none", "--json"])
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert code == 0 and data["stable"] is False and data["unstable_at_fs"] > 0
    assert data["energy_drift_mev_per_atom_per_ps"] is not None
    assert "untrained" in captured.err


def test_cli_md_bad_input(capsys, tmp_path):
    bad_weights = build_model("gvp", seed=0, scalar_channels=4, vector_channels=2)
    with torch.no_grad():
        next(bad_weights.parameters()).fill_(float("nan"))
    nan_ckpt = save_checkpoint(bad_weights, tmp_path / "nan.pt")
    cases = [(["--model", "pretrained:caffeine:nequip"], "no pretrained model"),
             (["--model", "pretrained:ethanol:gvp", "--smiles", "CCl"], "knows the elements"),
             (["--steps", "10000000"], "quota"),
             (["--checkpoint", str(nan_ckpt), "--molecule", "water"], "non-finite"),
             (["--molecule", "caffeine"], "unknown molecule")]
    for args, words in cases:
        code = main(["md", "--reference", "none", *args])
        err = capsys.readouterr().err.strip()
        assert code == 2, args
        assert words in err and len(err.splitlines()) == 1, err
    assert RunStore().list_runs(status="failed") == []  # bad input leaves no failed run behind
