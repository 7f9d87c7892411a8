"""Generated GFN2-xTB data: reproducible with a seed, labels that are the xTB energy and its
negative gradient at the stored positions, a thermostat that holds the temperature, and the CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from ase import Atoms, units

from equiv.cli import main
from equiv.data import MDSettings, default_xtb_path, generate_xtb_dataset, load_dataset, load_splits
from equiv.data.xtb import XTBCalculator
from equiv.errors import DataError
from equiv.runs import RunStore

TINY = ["--frames", "12", "--stride", "4", "--equilibration", "40"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "equiv", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def ethanol_frames():
    return generate_xtb_dataset("ethanol", frames=8, stride=20, equilibration_steps=100, seed=7, temperature_K=400)


def _energy(numbers, positions, accuracy=0.01) -> float:
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = XTBCalculator(accuracy=accuracy)
    return atoms.get_potential_energy()


def test_forces_are_minus_the_finite_difference_gradient(ethanol_frames):
    ds = ethanol_frames
    frame = 5
    pos = ds.positions[frame]
    h = 1e-3  # Å; central differences, error ~ h² · third derivative ≈ 3e-5 eV/Å here
    fd = np.zeros_like(pos)
    for i in range(ds.n_atoms):
        for k in range(3):
            plus, minus = pos.copy(), pos.copy()
            plus[i, k] += h
            minus[i, k] -= h
            fd[i, k] = -(_energy(ds.numbers, plus) - _energy(ds.numbers, minus)) / (2 * h)
    assert np.abs(ds.forces[frame] - fd).max() < 1e-4
    assert np.abs(ds.forces[frame]).max() > 0.1  # a thermal frame, not a minimum


def test_labels_belong_to_the_stored_positions(ethanol_frames):
    ds = ethanol_frames
    for frame in (0, ds.n_frames - 1):
        atoms = Atoms(numbers=ds.numbers, positions=ds.positions[frame])
        atoms.calc = XTBCalculator(accuracy=0.001)  # a fresh, tightly converged calculation
        assert atoms.get_potential_energy() == pytest.approx(ds.energies[frame], abs=1e-6)
        np.testing.assert_allclose(atoms.get_forces(), ds.forces[frame], atol=1e-5)
    assert np.ptp(ds.energies) > 0.01  # frames differ


@pytest.mark.slow
def test_thermostat_holds_the_temperature():
    ds = generate_xtb_dataset("ethanol", frames=150, stride=10, equilibration_steps=600, seed=11, temperature_K=300)
    g = ds.metadata.generation
    assert 225 < g["kept_frame_temperature_mean_K"] < 375, g
    assert 0.1 * 300 < g["kept_frame_temperature_std_K"] < 0.6 * 300  # 9 atoms fluctuate, ≈ T·sqrt(2/24)
    # Independent of the code's own figure: equipartition of the potential energy. Near the
    # minimum, <E - E_min> ≈ (3N - 6)/2 kT for the 21 vibrations (anharmonic: within a factor 2).
    e_min = _energy(ds.numbers, generate_minimum_positions(), accuracy=1.0)
    mean_excess = float(np.mean(ds.energies) - e_min)
    assert 0.5 < mean_excess / (21 / 2 * units.kB * 300) < 2.0


def generate_minimum_positions() -> np.ndarray:
    from equiv.molecules import load_molecule

    return load_molecule("ethanol").positions  # the library geometry is GFN2-xTB optimised


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = generate_xtb_dataset("water", frames=10, stride=3, equilibration_steps=20, seed=1)
    b = generate_xtb_dataset("water", frames=10, stride=3, equilibration_steps=20, seed=1)
    c = generate_xtb_dataset("water", frames=10, stride=3, equilibration_steps=20, seed=2)
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.forces, b.forces)
    assert not np.array_equal(a.positions, c.positions)


def test_progress_callback_and_cancel():
    seen = []
    generate_xtb_dataset("water", frames=5, stride=2, equilibration_steps=6, progress=seen.append)
    assert seen[0].frames_done == 0 and seen[-1].frames_done == 5 and seen[-1].fraction == 1.0
    assert [p.steps_done for p in seen] == sorted(p.steps_done for p in seen)

    class Stop(Exception):
        pass

    def stop(p):
        if p.frames_done == 2:
            raise Stop

    with pytest.raises(Stop):
        generate_xtb_dataset("water", frames=5, stride=2, equilibration_steps=0, progress=stop)


def test_bad_settings_are_clear():
    with pytest.raises(DataError, match="frames must be"):
        MDSettings(frames=0)
    with pytest.raises(DataError, match="temperature"):
        generate_xtb_dataset("water", temperature_K=-5)
    with pytest.raises(DataError, match="no molecule 'unobtainium'"):
        generate_xtb_dataset("unobtainium", frames=2)
    with pytest.raises(DataError, match="could not parse the SMILES"):
        generate_xtb_dataset(smiles="C1CC", frames=2)


@pytest.mark.slow
def test_cli_generate_is_bit_reproducible(tmp_path, capsys):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    # One in a separate process (the real command), one in this one: the same bytes.
    ra = run_cli("data", "generate", "--molecule", "ethanol", *TINY, "--seed", "3", "--out", str(a), "--json")
    assert ra.returncode == 0, ra.stderr
    assert main(["data", "generate", "--molecule", "ethanol", *TINY, "--seed", "3", "--out", str(b), "--json"]) == 0
    assert a.read_bytes() == b.read_bytes()
    out = json.loads(ra.stdout)
    assert out["n_frames"] == 12 and out["n_atoms"] == 9 and out["spec"] == f"file:{a}"
    meta = out["metadata"]
    assert meta["level_of_theory"] == "GFN2-xTB" and meta["generation"]["seed"] == 3
    assert meta["source"].startswith("equiv data generate --molecule ethanol --frames 12")
    run = RunStore().get(out["run_id"])
    assert run.kind == "generate" and run.status == "finished" and run.dataset["n_frames"] == 12
    c = tmp_path / "c.npz"
    assert main(["data", "generate", "--molecule", "ethanol", *TINY, "--seed", "4", "--out", str(c), "--json"]) == 0
    assert c.read_bytes() != a.read_bytes()


def test_cli_generate_default_location_progress_and_refusals(capsys):
    assert main(["data", "generate", "--molecule", "water", *TINY]) == 0
    captured = capsys.readouterr()
    assert "100%" in captured.err and "12/12" in captured.err and "wrote 12 frames of H2O" in captured.out
    assert default_xtb_path("water").is_file()
    assert load_dataset("xtb:water").n_frames == 12
    s = load_splits("xtb:water", n_train=6, n_val=2)
    assert len(s.test) == 3
    assert main(["data", "generate", "--molecule", "water", *TINY]) == 2
    err = capsys.readouterr().err
    assert "exists; use --force" in err and "Traceback" not in err
    assert main(["data", "generate", "--molecule", "water", *TINY, "--if-missing", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] is True


@pytest.mark.slow
def test_cli_generate_from_smiles_to_extxyz(tmp_path, capsys):
    out = tmp_path / "methanol.extxyz"
    assert main(["data", "generate", "--smiles", "CO", *TINY, "--out", str(out), "--no-progress"]) == 0
    ds = load_dataset(str(out))
    assert ds.n_frames == 12 and ds.formula == "CH4O" and ds.metadata.level_of_theory == "GFN2-xTB"
    assert main(["data", "generate", "--smiles", "CO", *TINY, "--json"]) == 2
    assert "give --out" in json.loads(capsys.readouterr().out.splitlines()[-1])["error"]


def test_make_run_generates_the_default_data_set_first():
    import shutil

    from tests.conftest import REPO_ROOT

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    r = subprocess.run(["make", "-n", "run"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    generate = next(i for i, line in enumerate(lines) if "equiv data generate --molecule ethanol" in line)
    streamlit = next(i for i, line in enumerate(lines) if "-m equiv.serve" in line)  # streamlit run app.py, preloaded
    assert generate < streamlit and "--if-missing" in lines[generate]


# -- decorrelated data: several trajectories, 20 fs apart, split by trajectory ----------------------

def test_default_settings_keep_frames_20_fs_apart_from_several_trajectories():
    d = MDSettings()
    assert d.stride * d.timestep_fs >= 20 and d.frame_spacing_fs >= 20 and d.trajectories >= 3
    assert MDSettings(frames=10, trajectories=4).trajectory_frames() == [3, 3, 2, 2]
    assert MDSettings(frames=2, trajectories=4).n_trajectories == 2  # never more trajectories than frames


def test_trajectories_are_independent_and_test_and_validation_come_from_unseen_ones(tmp_path):
    from equiv.data import split_dataset, write_dataset_npz

    ds = generate_xtb_dataset("water", frames=16, stride=4, equilibration_steps=8, trajectories=4, seed=5, workers=1)
    g = ds.metadata.generation
    assert g["generator_version"] == 2 and g["n_trajectories"] == 4 and g["trajectory_frames"] == [4, 4, 4, 4]
    assert g["frame_spacing_fs"] == 2.0 and "by trajectory" in g["split_rule"]
    assert g["force_autocorrelation_fs"] is not None and 0 < g["force_autocorrelation_fs"] < 20
    starts = ds.positions[[0, 4, 8, 12]]  # each trajectory's first kept frame: different velocities and noise
    assert min(np.abs(starts[i] - starts[j]).max() for i in range(4) for j in range(i)) > 1e-3
    s = split_dataset(ds, n_train=6, n_val=3, seed=0)
    train, val, test = (np.array(s.info[k]) for k in ("train_indices", "val_indices", "test_indices"))
    assert set(train) <= set(range(8)) and set(val) <= set(range(8, 12)) and len(test) == 4
    np.testing.assert_array_equal(s.test.positions, ds.positions[12:])
    assert "by trajectory" in s.info["protocol"] and s.info["train_pool_size"] == 8
    bigger = split_dataset(ds, n_train=8, n_val=3, seed=0)
    assert set(train) <= set(bigger.info["train_indices"])  # nested within a seed
    assert bigger.info["val_indices"] == s.info["val_indices"]
    with pytest.raises(DataError, match="has 8 training structures"):
        split_dataset(ds, n_train=9, n_val=3)
    # The same command writes the same bytes.
    again = generate_xtb_dataset("water", frames=16, stride=4, equilibration_steps=8, trajectories=4, seed=5, workers=1)
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    write_dataset_npz(ds, a)
    write_dataset_npz(again, b)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.slow
def test_parallel_workers_give_the_same_frames_as_one_process():
    kwargs = dict(frames=6, stride=3, equilibration_steps=6, trajectories=3, seed=2)
    one = generate_xtb_dataset("water", workers=1, **kwargs)
    seen = []
    two = generate_xtb_dataset("water", workers=2, progress=seen.append, **kwargs)
    np.testing.assert_array_equal(one.positions, two.positions)
    np.testing.assert_array_equal(one.forces, two.forces)
    assert seen[-1].steps_done == seen[-1].steps_total == 3 * 6 + 6 * 3 and seen[-1].frames_done == 6


def test_old_generated_data_sets_are_refused_with_the_command_and_regenerated_by_make_data(capsys):
    from equiv.data import write_dataset_npz
    from equiv.jobs.requests import check_request

    ds = generate_xtb_dataset("water", frames=6, stride=2, equilibration_steps=4, trajectories=1, seed=0, workers=1)
    generation = {k: v for k, v in ds.metadata.generation.items() if k != "generator_version"}
    generation.update(stride=10, trajectories=1)
    old = type(ds)(ds.numbers, ds.positions, ds.energies, ds.forces, dataclasses.replace(ds.metadata, generation=generation))
    write_dataset_npz(old, default_xtb_path("water"))
    with pytest.raises(DataError, match=r"outdated: it was written by generator version 1 .*5 fs apart.*"
                                        r"equiv data generate --molecule water .* --force"):
        load_dataset("xtb:water")
    problems = check_request({"model": "nequip-l0", "data": "xtb", "molecule": "water", "n_train": 2, "n_val": 1,
                              "batch": 1}).problems
    assert len(problems) == 1 and "outdated" in problems[0] and "--force" in problems[0]
    # `make data` runs generate --if-missing: an outdated file is regenerated, a current one kept.
    tiny = ["--frames", "8", "--stride", "2", "--equilibration", "4"]
    assert main(["data", "generate", "--molecule", "water", *tiny, "--if-missing", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["skipped"] is False and out["n_trajectories"] == 4 and out["frame_spacing_fs"] == 1.0
    assert "force_autocorrelation_fs" in out and "by trajectory" in out["split_rule"]  # too short here to resolve it
    assert load_dataset("xtb:water").metadata.generation["generator_version"] == 2
    assert main(["data", "generate", "--molecule", "water", *tiny, "--if-missing", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] is True
