"""The molecule type, the built-in library, and every bad-input case giving MoleculeError."""

import numpy as np
import pytest

from equiv.errors import EquivError, MoleculeError
from equiv.molecules import (
    LIBRARY,
    MAX_FILE_BYTES,
    Molecule,
    library_keys,
    load_molecule,
    molecule_from_smiles,
    read_molecule,
    read_molecule_bytes,
)
from equiv.o3 import random_rotation

MD17 = ["aspirin", "ethanol", "malonaldehyde", "naphthalene", "salicylic_acid", "toluene", "uracil", "benzene"]
EXPECTED_FORMULAS = {
    "aspirin": "C9H8O4", "ethanol": "C2H6O", "malonaldehyde": "C3H4O2", "naphthalene": "C10H8",
    "salicylic_acid": "C7H6O3", "toluene": "C7H8", "uracil": "C4H4N2O2", "benzene": "C6H6",
}


@pytest.mark.parametrize("key", library_keys())
def test_library_molecules_load_and_are_sane(key):
    m = load_molecule(key)
    assert m.n_atoms == len(m.numbers) == len(m.positions)
    if key in EXPECTED_FORMULAS:
        assert m.formula == EXPECTED_FORMULAS[key]
    d = np.linalg.norm(m.positions[:, None] - m.positions[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    nearest = d.min(1)
    # Every atom is bonded to something (0.9–1.6 Å), nothing overlaps.
    assert nearest.min() > 0.9 and nearest.max() < 1.6, (key, nearest)
    assert np.abs(m.center_of_mass).max() < 1e-6


def test_library_contains_md17_molecules():
    assert set(MD17) <= set(LIBRARY)


def test_unknown_library_key():
    with pytest.raises(MoleculeError, match="no molecule 'caffeine'"):
        load_molecule("caffeine")


def test_molecule_is_immutable():
    m = load_molecule("water")
    with pytest.raises(ValueError):
        m.positions[0, 0] = 1.0
    with pytest.raises(AttributeError):
        m.name = "x"  # type: ignore[misc]


def test_transformations_return_new_molecules():
    m = load_molecule("ethanol")
    R = random_rotation().numpy()
    r = m.rotated(R)
    assert np.allclose(r.positions, m.positions @ R.T)
    assert np.allclose(np.linalg.norm(r.positions, axis=1), np.linalg.norm(m.positions, axis=1))
    t = m.translated([1.0, 2.0, 3.0])
    assert np.allclose(t.positions - m.positions, [1.0, 2.0, 3.0])
    p = m.permuted(list(reversed(range(m.n_atoms))))
    assert p.numbers[0] == m.numbers[-1]
    with pytest.raises(MoleculeError):
        m.permuted([0, 0, 1, 2, 3, 4, 5, 6, 7])


def test_xyz_round_trip(tmp_path):
    m = load_molecule("aspirin")
    path = tmp_path / "a.xyz"
    path.write_text(m.to_xyz())
    back = read_molecule(path)
    assert np.array_equal(back.numbers, m.numbers)
    assert np.allclose(back.positions, m.positions, atol=1e-8)


@pytest.mark.parametrize("fmt", ["pdb", "sdf", "extxyz"])
def test_other_formats_read_through_ase(tmp_path, fmt):
    import ase.io
    from ase import Atoms

    m = load_molecule("ethanol")
    path = tmp_path / f"ethanol.{fmt}"
    ase.io.write(str(path), Atoms(numbers=m.numbers, positions=m.positions), format={"pdb": "proteindatabank"}.get(fmt, fmt))
    back = read_molecule(path)
    assert np.array_equal(back.numbers, m.numbers)
    assert np.allclose(back.positions, m.positions, atol=1e-3)


def test_smiles_builds_3d_geometry():
    m = molecule_from_smiles("CCO", name="ethanol")
    assert m.formula == "C2H6O" and m.name == "ethanol"
    assert np.ptp(m.positions, axis=0).min() > 0.5  # really 3D
    again = molecule_from_smiles("CCO", name="ethanol")
    assert np.allclose(m.positions, again.positions)  # deterministic


# -- bad input: one clear error type -------------------------------------------------------------

XYZ_OK = b"3\nwater\nO 0 0 0.119\nH 0 0.763 -0.477\nH 0 -0.763 -0.477\n"


@pytest.mark.parametrize(
    "data,filename,match",
    [
        (b"2\nx\nXx 0 0 0\nH 0 0 1\n", "a.xyz", "unknown element 'Xx'"),
        (b"", "a.xyz", "empty"),
        (b"   \n\n", "a.xyz", "empty"),
        (b"2\nx\nC 0 0 0\nH 0 0 nan\n", "a.xyz", "NaN"),
        (b"2\nx\nC 0 0 0\nH 0 0 0.1\n", "a.xyz", "on top of each other"),
        (b"this is not a molecule\n", "a.xyz", "could not read"),
        (b"garbage", "a.sdf", "could not read"),
        (XYZ_OK, "a.docx", "unsupported file type"),
        (b"3\nwater\nO 0 0 0\n", "a.xyz", "could not read"),
    ],
)
def test_bad_files_raise_molecule_error(data, filename, match):
    with pytest.raises(MoleculeError, match=match):
        read_molecule_bytes(data, filename)


def test_file_over_the_cap():
    data = XYZ_OK + b"#" * (MAX_FILE_BYTES + 1)
    with pytest.raises(MoleculeError, match="limit"):
        read_molecule_bytes(data, "big.xyz")


def test_good_upload_reads():
    m = read_molecule_bytes(XYZ_OK, "water.xyz")
    assert m.formula == "H2O" and m.name == "water"


def test_missing_file(tmp_path):
    with pytest.raises(MoleculeError, match="no such file"):
        read_molecule(tmp_path / "nope.xyz")


@pytest.mark.parametrize("smiles,match", [("C1CC(", "could not parse"), ("", "enter a SMILES"), ("CC.O", "disconnected"), ("C" * 400, "too long")])
def test_bad_smiles(smiles, match):
    with pytest.raises(MoleculeError, match=match):
        molecule_from_smiles(smiles)


def test_direct_construction_errors():
    with pytest.raises(MoleculeError, match="at least one atom"):
        Molecule(np.array([], dtype=int), np.zeros((0, 3)))
    with pytest.raises(MoleculeError, match="atomic number 200"):
        Molecule(np.array([200]), np.zeros((1, 3)))
    with pytest.raises(MoleculeError, match="shape"):
        Molecule(np.array([1, 1]), np.zeros((3, 3)))
    assert issubclass(MoleculeError, EquivError) and issubclass(MoleculeError, ValueError)
