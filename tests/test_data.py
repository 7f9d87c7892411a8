"""Data sets: rMD17 units and splits on the committed slice (the published protocol on the full files), the npz format, specs, extended XYZ user
data and its refusals."""

from __future__ import annotations

import json
import zipfile

import ase.units
import numpy as np
import pytest

from equiv.data import (
    KCAL_PER_MOL_IN_EV,
    DataSet,
    DataSetMetadata,
    available_datasets,
    default_xtb_path,
    load_dataset,
    load_rmd17,
    load_splits,
    parse_spec,
    read_dataset_npz,
    read_extxyz_dataset,
    split_dataset,
    write_dataset_npz,
    write_extxyz_dataset,
)
from equiv.errors import DataError, EquivError
from equiv.data.rmd17 import RMD17_FOLDER_ENV
from tests.conftest import RMD17_FULL, RMD17_SLICE


def toy(n_frames: int = 12, name: str = "toy") -> DataSet:
    rng = np.random.default_rng(0)
    base = np.array([[0.0, 0.0, 0.119], [0.0, 0.763, -0.477], [0.0, -0.763, -0.477]])
    positions = base + 0.05 * rng.standard_normal((n_frames, 3, 3))
    meta = DataSetMetadata(name=name, molecule="water", level_of_theory="test", source="test")
    return DataSet([8, 1, 1], positions, rng.standard_normal(n_frames) - 10, rng.standard_normal((n_frames, 3, 3)), meta)


# -- units -----------------------------------------------------------------------------------

def test_kcal_per_mol_constant_by_hand():
    # 1 kcal/mol = 4184 J / (e N_A), with e and N_A exact in the SI since 2019.
    assert KCAL_PER_MOL_IN_EV == 4184 / (1.602176634e-19 * 6.02214076e23)
    assert abs(KCAL_PER_MOL_IN_EV - 0.0433641042418) < 1e-13
    assert abs(KCAL_PER_MOL_IN_EV / (ase.units.kcal / ase.units.mol) - 1) < 1e-7  # ASE (CODATA 2014) agrees


def test_rmd17_energy_and_force_in_ev_by_hand():
    raw = np.load(RMD17_SLICE / "rmd17_ethanol_train_01.npz")
    assert raw["energies"][0] == pytest.approx(-97079.92222178938, abs=1e-8)  # kcal/mol, as stored
    assert raw["forces"][0, 0, 0] == pytest.approx(-17.64730699309182, abs=1e-10)  # kcal/mol/Å
    ds = load_rmd17("ethanol", "train", data_dir=RMD17_SLICE)
    # -97079.92222178938 kcal/mol × 0.0433641042418 eV/(kcal/mol) = -4209.783867 eV
    assert ds.energies[0] == pytest.approx(-4209.783867011602, rel=1e-12)
    # -17.64730699309182 kcal/mol/Å × 0.0433641042418 = -0.76525966 eV/Å
    assert ds.forces[0, 0, 0] == pytest.approx(-0.7652596600354963, rel=1e-12)
    assert ds.forces[0, 8, 2] == pytest.approx(-17.561866215045868 * 0.0433641042418, rel=1e-11)
    np.testing.assert_array_equal(ds.positions, raw["coords"])  # Å stays Å
    assert ds.numbers.tolist() == [6, 6, 8, 1, 1, 1, 1, 1, 1]
    meta = ds.metadata
    assert meta.name == "rmd17:ethanol" and meta.level_of_theory == "PBE/def2-SVP"
    assert meta.original_units["energies"] == "kcal/mol" and meta.units["forces"] == "eV/Å"
    assert meta.conversion["energies"] == KCAL_PER_MOL_IN_EV and "4184 J" in meta.conversion["constant"]
    assert "Christensen" in meta.source
    json.dumps(ds.describe())  # JSON-serialisable


# -- splits ----------------------------------------------------------------------------------

@pytest.mark.parametrize("folder, n_train, n_val, n_test", [
    ("slice", 50, 10, 40),
    pytest.param("full", 950, 50, 1000, marks=pytest.mark.rmd17_full),  # the published protocol
])
def test_rmd17_published_protocol_split(folder, n_train, n_val, n_test):
    data_dir = RMD17_SLICE if folder == "slice" else RMD17_FULL
    s = load_splits("rmd17:ethanol", n_train=n_train, n_val=n_val, seed=0, data_dir=data_dir)
    assert (len(s.train), len(s.val), len(s.test)) == (n_train, n_val, n_test)
    assert set(s.info["train_indices"]).isdisjoint(s.info["val_indices"])
    assert sorted(s.info["train_indices"] + s.info["val_indices"]) == list(range(n_train + n_val))
    # The test set is the split's test file, frame for frame.
    test_file = load_rmd17("ethanol", "test", data_dir=data_dir)
    np.testing.assert_array_equal(s.test.positions, test_file.positions)
    # No structure is in both the training and the test set.
    train_keys = {p.tobytes() for p in s.train.positions}
    assert not train_keys & {p.tobytes() for p in s.test.positions}
    assert s.train.metadata.split["role"] == "train" and s.test.metadata.split["role"] == "test"
    assert s.describe()["split"]["n_train"] == n_train and "train_indices" not in s.describe()["split"]


def test_rmd17_splits_are_seeded_nested_and_fixed_validation():
    a = load_splits("rmd17:ethanol", n_train=20, n_val=10, seed=3, data_dir=RMD17_SLICE, n_test=30)
    b = load_splits("rmd17:ethanol", n_train=50, n_val=10, seed=3, data_dir=RMD17_SLICE, n_test=30)
    c = load_splits("rmd17:ethanol", n_train=20, n_val=10, seed=4, data_dir=RMD17_SLICE, n_test=30)
    assert a.info["val_indices"] == b.info["val_indices"]
    assert b.info["train_indices"][:20] == a.info["train_indices"]
    assert a.info["train_indices"] != c.info["train_indices"]
    assert len(a.test) == 30 and a.info["test_indices"] == b.info["test_indices"]


def test_too_many_training_structures_is_a_clear_error():
    with pytest.raises(DataError, match=r"ethanol \(rmd17:ethanol\) has 60 training structures; asked for 70"):
        load_splits("rmd17:ethanol", n_train=60, n_val=10, data_dir=RMD17_SLICE)
    with pytest.raises(DataError, match="at least one"):
        load_splits("rmd17:ethanol", n_train=0, n_val=10, data_dir=RMD17_SLICE)
    with pytest.raises(DataError, match="has 40 test structures; asked for 5000"):
        load_splits("rmd17:ethanol", n_train=10, n_val=5, data_dir=RMD17_SLICE, n_test=5000)


def test_single_file_split_holds_out_the_last_quarter():
    ds = toy(40)
    s = split_dataset(ds, n_train=20, n_val=5, seed=1)
    assert (len(s.train), len(s.val), len(s.test)) == (20, 5, 10)
    np.testing.assert_array_equal(s.test.energies, ds.energies[30:])
    used = set(s.info["train_indices"]) | set(s.info["val_indices"])
    assert len(used) == 25 and max(used) < 30
    with pytest.raises(DataError, match="has 30 training structures .*; asked for 31"):
        split_dataset(ds, n_train=26, n_val=5)


def test_missing_rmd17_files_say_where_and_how(tmp_path):
    with pytest.raises(DataError) as exc:
        load_splits("rmd17:aspirin", n_train=10, n_val=5, data_dir=tmp_path)
    text = str(exc.value)
    assert "rmd17_aspirin_train_01.npz" in text and str(tmp_path) in text
    assert "equiv data download rmd17" in text and RMD17_FOLDER_ENV in text


def test_rmd17_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(RMD17_FOLDER_ENV, str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path)):
        load_dataset("rmd17:ethanol")


# -- specs -----------------------------------------------------------------------------------

def test_specs():
    assert parse_spec("rmd17:ethanol").molecule == "ethanol"
    assert parse_spec("rmd17:salicylic_acid").molecule == "salicylic"
    assert parse_spec("rmd17:toluene:03").split == 3
    assert parse_spec("xtb:ethanol").molecule == "ethanol"
    assert parse_spec("frames.extxyz").kind == "file"
    assert parse_spec("file:~/x.npz").kind == "file"
    for bad, message in [("rmd17:water", "rMD17 has no molecule"), ("xtb:unobtainium", "no molecule"),
                         ("qm9:ethanol", "not a data set"), ("", "no data set"), ("rmd17:ethanol:7", "splits 01 to 05")]:
        with pytest.raises(DataError, match=message):
            parse_spec(bad)


def test_missing_generated_data_names_the_command():
    with pytest.raises(DataError) as exc:
        load_dataset("xtb:aspirin")
    assert "equiv data generate --molecule aspirin" in str(exc.value)
    assert str(default_xtb_path("aspirin")) in str(exc.value)


# -- the npz format --------------------------------------------------------------------------

def test_npz_round_trip_is_exact_and_deterministic(tmp_path):
    ds = toy()
    a = write_dataset_npz(ds, tmp_path / "a.npz")
    b = write_dataset_npz(ds, tmp_path / "sub" / "b.npz")
    assert a.read_bytes() == b.read_bytes()
    back = read_dataset_npz(a)
    for field in ("numbers", "positions", "energies", "forces"):
        np.testing.assert_array_equal(getattr(back, field), getattr(ds, field))
    assert back.metadata == ds.metadata
    with np.load(a) as z:  # readable without equiv
        assert z["forces"].shape == (12, 3, 3)
    assert not list(tmp_path.glob("**/*.part"))


def test_npz_refusals(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        read_dataset_npz(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(DataError, match="not an equiv data set"):
        read_dataset_npz(tmp_path / "plain.npz")
    with pytest.raises(DataError, match="no data-set file"):
        load_dataset(f"file:{tmp_path / 'absent.npz'}")


def test_dataset_validation_messages():
    meta = DataSetMetadata(name="bad", molecule="x", level_of_theory="t", source="s")
    with pytest.raises(DataError, match="frame 2 has non-finite energies"):
        DataSet([1, 1], np.zeros((2, 2, 3)), [0.0, np.nan], np.zeros((2, 2, 3)), meta)
    with pytest.raises(DataError, match="forces have shape"):
        DataSet([1, 1], np.zeros((2, 2, 3)), [0.0, 1.0], np.zeros((2, 3, 3)), meta)
    ds = toy()
    with pytest.raises(ValueError):
        ds.positions[0, 0, 0] = 1.0  # read-only


# -- user data: extended XYZ -----------------------------------------------------------------

def test_extxyz_round_trip(tmp_path):
    ds = toy()
    path = write_extxyz_dataset(ds, tmp_path / "frames.extxyz")
    back = read_extxyz_dataset(path)
    np.testing.assert_array_equal(back.numbers, ds.numbers)
    np.testing.assert_allclose(back.positions, ds.positions, atol=1e-8)
    np.testing.assert_allclose(back.energies, ds.energies, rtol=1e-12)
    np.testing.assert_allclose(back.forces, ds.forces, atol=1e-8)
    assert back.metadata.name == "file:frames.extxyz" and back.metadata.level_of_theory == "test"
    s = load_splits(f"file:{path}", n_train=6, n_val=2)
    assert (len(s.train), len(s.val), len(s.test)) == (6, 2, 3)


def _frame(symbols: str, energy: str | None, forces: bool = True, force_key: str = "forces",
           energy_key: str = "energy", pbc: str = "F F F") -> str:
    n = len(symbols)
    props = "species:S:1:pos:R:3" + (f":{force_key}:R:3" if forces else "")
    head = f"{n}\nProperties={props}" + (f" {energy_key}={energy}" if energy is not None else "") + f' pbc="{pbc}"\n'
    rows = "".join(f"{s} {i * 0.9:.3f} 0.0 0.0" + (" 0.1 -0.2 0.3" if forces else "") + "\n"
                   for i, s in enumerate(symbols))
    return head + rows


def test_extxyz_detects_ref_keys(tmp_path):
    path = tmp_path / "ref.extxyz"
    path.write_text(_frame("OHH", "-5.0", force_key="REF_forces", energy_key="REF_energy")
                    + _frame("OHH", "-5.5", force_key="REF_forces", energy_key="REF_energy"))
    ds = read_extxyz_dataset(path)
    assert ds.energies.tolist() == [-5.0, -5.5] and ds.forces[1, 2].tolist() == [0.1, -0.2, 0.3]
    assert "REF_energy" in ds.metadata.source


def test_extxyz_custom_keys(tmp_path):
    path = tmp_path / "custom.extxyz"
    path.write_text(_frame("OHH", "-5.0", force_key="dft_forces", energy_key="dft_energy"))
    with pytest.raises(DataError, match="frame 1 of custom.extxyz has no energy"):
        read_extxyz_dataset(path)
    ds = read_extxyz_dataset(path, energy_key="dft_energy", forces_key="dft_forces")
    assert ds.energies.tolist() == [-5.0]


@pytest.mark.parametrize("text, message", [
    (_frame("OHH", "-1") + _frame("OHH", None), "frame 2 of bad.extxyz has no energy"),
    (_frame("OHH", "-1") + _frame("OHH", "-2", forces=False), "frame 2 of bad.extxyz has no forces"),
    (_frame("OHH", "-1") + _frame("OHHH", "-2"), "frame 2 of bad.extxyz has 4 atoms; frame 1 has 3"),
    (_frame("OHH", "-1") + _frame("HOH", "-2"), "frame 2 of bad.extxyz lists different elements"),
    (_frame("OHH", "-1") + _frame("OHH", "nan"), "frame 2 of bad.extxyz has non-finite"),
    (_frame("OHH", "-1", pbc="T T T"), "frame 1 of bad.extxyz is periodic"),
    ("", "has no frames"),
    ("3\nnot an extxyz header\nO 0 0\n", "could not read bad.extxyz"),
])
def test_extxyz_refusals_name_the_frame(tmp_path, text, message):
    path = tmp_path / "bad.extxyz"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_extxyz_dataset(path)


def test_errors_are_equiv_errors():
    assert issubclass(DataError, EquivError)


# -- what is available ------------------------------------------------------------------------

def test_available_datasets(tmp_path):
    write_dataset_npz(toy(40, name="xtb:water"), default_xtb_path("water"))
    write_dataset_npz(toy(8, name="mine"), default_xtb_path("water").parent / "mine.npz")
    entries = {e.spec: e for e in available_datasets(RMD17_SLICE)}
    assert entries["rmd17:ethanol"].pool_size == 60 and entries["rmd17:ethanol"].test_size == 40
    assert entries["xtb:water"].pool_size == 30 and entries["xtb:water"].test_size == 10
    assert any(spec.startswith("file:") and spec.endswith("mine.npz") for spec in entries)
    assert zipfile.is_zipfile(default_xtb_path("water"))
