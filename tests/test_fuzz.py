"""Hostile input, generated: malformed and oversized files of every accepted format, SMILES strings,
and every page's query parameters with random, huge, unicode and markup values.

Each goes through the real readers (and pages through AppTest) and must give a result or one
:class:`EquivError`, never another exception, within a time bound (and, for files, a memory bound
measured with tracemalloc, which sees NumPy's allocations). Everything is generated from fixed
seeds, so a failure reproduces with the same test id.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import string
import time
import tomllib
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from app_pages.catalog import HOME, PAGES
from equiv.data import read_extxyz_dataset
from equiv.errors import DataError, EquivError, MoleculeError
from equiv.molecules import MAX_FILE_BYTES, Molecule, molecule_from_smiles, read_molecule_bytes
from equiv.parsing import MAX_LINKED_RUNS, parse_folder, parse_run_id, parse_run_ids
from equiv.views.irreps_settings import QUERY_KEYS as IRREPS_KEYS
from equiv.views.rotation_lab import MAX_BATCH_ATOMS, MAX_BATCH_PAIRS, MAX_MODEL_ATOMS, PAIR_CUTOFF, evaluate
from equiv.views.rotation_settings import QUERY_KEYS as ROTATE_KEYS
from equiv.formatting import format_metric
from equiv.run_settings import LAB_DEFAULTS
from equiv.views.run_tables import runs_frame
from tests.apptest_tools import open_page, shown, texts

REPO = Path(__file__).resolve().parent.parent
SEED = 20261202
FILE_SECONDS = 2.0
FILE_BYTES = 200 * 2**20
SMILES_SECONDS = 5.0
PAGE_SECONDS = 30.0
EVIL_URL = "https://evil.example/x"

# -- files ---------------------------------------------------------------------------------------

WATER_XYZ = "3\nwater\nO 0 0 0.119\nH 0 0.763 -0.477\nH 0 -0.763 -0.477\n"
WATER_EXTXYZ = ('3\nProperties=species:S:1:pos:R:3 energy=-1.5 pbc="F F F"\n'
                "O 0.0 0.0 0.119\nH 0.0 0.763 -0.477\nH 0.0 -0.763 -0.477\n")
WATER_PDB = ("MODEL     1\n"
             "ATOM      1    O MOL     1       0.000   0.000   0.119  1.00  0.00           O  \n"
             "ATOM      2    H MOL     1       0.000   0.763  -0.477  1.00  0.00           H  \n"
             "ATOM      3    H MOL     1       0.000  -0.763  -0.477  1.00  0.00           H  \n"
             "ENDMDL\n")
WATER_SDF = ("water\n  handmade\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n"
             "    0.0000    0.0000    0.1190 O   0  0  0  0  0  0  0  0  0  0  0  0\n"
             "    0.0000    0.7630   -0.4770 H   0  0  0  0  0  0  0  0  0  0  0  0\n"
             "    0.0000   -0.7630   -0.4770 H   0  0  0  0  0  0  0  0  0  0  0  0\n"
             "  1  2  1  0\n  1  3  1  0\nM  END\n$$$$\n")
WATER_JSON = json.dumps({
    "1": {"cell": {"__ndarray__": [[3, 3], "float64", [0.0] * 9]},
          "numbers": {"__ndarray__": [[3], "int64", [8, 1, 1]]},
          "pbc": {"__ndarray__": [[3], "bool", [False] * 3]},
          "positions": {"__ndarray__": [[3, 3], "float64", [0, 0, 0.119, 0, 0.763, -0.477, 0, -0.763, -0.477]]}},
    "ids": [1], "nextid": 2})
BASES = {".xyz": WATER_XYZ, ".extxyz": WATER_EXTXYZ, ".pdb": WATER_PDB, ".sdf": WATER_SDF, ".mol": WATER_SDF,
         ".json": WATER_JSON}

TOKENS = ["100000000", "99999999999999999999", "-1", "0", "nan", "inf", "1e309", "²", "\u202e", "🙂", "\x00", "\t",
          "X", "Qq", "$$$$", "ENDMDL", "END", "MODEL 2", "Properties=species:S:1:pos:R:999999",
          "Properties=species:S:1:pos:R:3:f:R:4", "Properties=a:Z:1", 'Lattice="1 0 0 0 1 0 0 0 1"', "{", "[", "]",
          '"__ndarray__"', "\r", "\x0c", "\u2028", "A" * 5000, "V3000", "999", "  0  0", "[text](" + EVIL_URL + ")"]


def _named_files() -> list[tuple[str, bytes]]:
    """Hand-made hostile files: what the issue names, and each reader's other size claims."""
    def ndarray_db(**fields) -> bytes:
        return json.dumps({"1": fields, "ids": [1], "nextid": 2}).encode()

    big_pdb = "".join(f"ATOM  {i % 99999:5d}    C MOL     1    {i % 900:8.3f}   0.000   0.000  1.00  0.00           C  \n"
                      for i in range(60_000))
    return [
        ("claims-1e8.xyz", b"100000000\n\nH 0 0 0\n"),
        ("claims-1e8.extxyz", b"100000000\ncomment\n"),
        ("claims-20-digits.xyz", b"99999999999999999999\n\n"),
        ("claims-superscript.xyz", "²\n\nH 0 0 0\n".encode()),
        ("claims-501.xyz", ("501\n\n" + "H 0 0 0\n" * 501).encode()),
        ("width-999999.extxyz", b"1\nProperties=species:S:1:pos:R:999999\nH 0 0 0\n"),
        ("width-4.extxyz", b"1\nProperties=species:S:1:pos:R:3:f:R:4\nH 0 0 0 1 2 3 4\n"),
        ("many-properties.extxyz", ("1\nProperties=" + ":".join(f"p{i}:R:1" for i in range(200)) + "\nH 0 0 0\n").encode()),
        ("comment-1MB.extxyz", b"1\n" + b"a=b " * 262_144 + b"\nH 0 0 0\n"),
        ("wide-line.xyz", b"1\n\nH 0 0 0 " + b"1 " * 500_000 + b"\n"),
        ("lines-only.xyz", b"\n" * 1_000_000),
        ("many-frames.xyz", WATER_XYZ.encode() * 60_000),
        ("binary.xyz", bytes(random.Random(SEED).randrange(256) for _ in range(4096))),
        ("over-the-cap.xyz", WATER_XYZ.encode() + b"#" * (MAX_FILE_BYTES + 1)),
        ("60k-atoms.pdb", big_pdb.encode()),
        ("no-atoms.pdb", b"HEADER    nothing\nEND\n"),
        ("counts-999.sdf", WATER_SDF.replace("  3  2", "999  2").encode()),
        ("counts-missing.sdf", b"x\n\n\n"),
        ("v3000.mol", b"x\n\n\n  0  0  0     0  0            999 V3000\nM  END\n"),
        ("shape-1e9.json", ndarray_db(numbers={"__ndarray__": [[1_000_000_000], "int64", []]})),
        ("shape-8GB.json", ndarray_db(positions={"__ndarray__": [[1000, 1000, 1000], "float64", []]})),
        ("subarray-dtype.json", ndarray_db(numbers={"__ndarray__": [[1], "(1000,1000,1000)f8", [0]]})),
        ("object-dtype.json", ndarray_db(numbers={"__ndarray__": [[1], "object", [0]]})),
        ("negative-shape.json", ndarray_db(numbers={"__ndarray__": [[-1], "int64", []]})),
        ("bool-shape.json", ndarray_db(numbers={"__ndarray__": [[True], "int64", [1]]})),
        ("deep.json", b"[" * 200_000 + b"]" * 200_000),
        ("huge-int.json", b'{"ids": [' + b"9" * 100_000 + b"]}"),
        ("long-list.json", ("[" + ",".join(["1"] * 500_000) + "]").encode()),
        ("not-a-db.json", b'{"hello": "world"}'),
        ("complex.json", ndarray_db(numbers={"__complex_ndarray__": [[1, 2], [3, 4]]})),
    ]


def _mutate_text(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        token = rng.choice(TOKENS)
        if op == 0 and text:  # insert a token
            i = rng.randrange(len(text))
            text = text[:i] + token + text[i:]
        elif op == 1:  # replace a word
            words = text.split(" ")
            words[rng.randrange(len(words))] = token
            text = " ".join(words)
        elif op == 2 and lines:  # delete a line
            del lines[rng.randrange(len(lines))]
            text = "".join(lines)
        elif op == 3 and lines:  # repeat a line many times
            i = rng.randrange(len(lines))
            lines[i:i + 1] = [lines[i]] * rng.choice([2, 50, 5000])
            text = "".join(lines)
        elif op == 4:  # truncate
            text = text[: rng.randrange(len(text) + 1)]
        else:  # swap two lines
            if len(lines) > 1:
                i, j = rng.sample(range(len(lines)), 2)
                lines[i], lines[j] = lines[j], lines[i]
                text = "".join(lines)
        lines = text.splitlines(keepends=True)
    return text


def _mutate_json(rng: random.Random) -> str:
    db = json.loads(WATER_JSON)
    row = db["1"]
    field = rng.choice(["numbers", "positions", "cell", "pbc", "extra"])
    hostile = rng.choice([
        {"__ndarray__": [[rng.choice([10**6, 10**9, 2**40]), 3], "float64", []]},
        {"__ndarray__": [[3], rng.choice(["V1000000000", "U999999999", "S99999999", "<f8", "O"]), [1, 2, 3]]},
        {"__ndarray__": [[3], "int64", [1, 2]]},
        {"__ndarray__": "x"},
        {"__ndarray__": [[3, 3], "float64", [[1] * 3] * 3]},
        [[[[1]]]] * 10,
        "🙂" * 1000,
        None,
        -1,
        {"__complex_ndarray__": [[1], [2]]},
    ])
    row[field] = hostile
    if rng.random() < 0.3:
        db["ids"] = rng.choice([[1, 2, 3], [10**18], "x", []])
    return json.dumps(db)


def _generated_files() -> list[tuple[str, bytes]]:
    rng = random.Random(SEED)
    files = []
    for suffix, base in BASES.items():
        for k in range(22):
            text = _mutate_json(rng) if suffix == ".json" and k % 2 else _mutate_text(base, rng)
            files.append((f"mutant-{k:02d}{suffix}", text.encode("utf-8", errors="surrogatepass")))
    return files


HOSTILE_FILES = _named_files() + _generated_files()


def _outcome(call):
    try:
        return call()
    except EquivError as exc:
        return exc


def _measured(call):
    """(result or the EquivError raised, seconds, peak traced bytes): timed on its own, then once
    more under tracemalloc for the memory (which makes Python 10-20 times slower)."""
    t0 = time.perf_counter()
    result = _outcome(call)
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    try:
        _outcome(call)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, seconds, peak


@pytest.fixture(scope="module", autouse=True)
def _warm_imports():
    """ASE's and RDKit's first import is not part of any file's time."""
    read_molecule_bytes(WATER_XYZ.encode(), "warm.xyz")
    read_molecule_bytes(WATER_JSON.encode(), "warm.json")
    molecule_from_smiles("O")


def test_at_least_200_hostile_inputs():
    n_params = sum(len(keys) for keys in PAGE_KEYS.values()) * RUNS_PER_PAGE
    assert len(HOSTILE_FILES) + len(HOSTILE_DATASETS) + len(HOSTILE_SMILES) + n_params >= 200


@pytest.mark.parametrize("name,data", HOSTILE_FILES, ids=[n for n, _ in HOSTILE_FILES])
def test_hostile_molecule_files_get_one_message_quickly(name, data):
    result, seconds, peak = _measured(lambda: read_molecule_bytes(data, name))
    assert isinstance(result, (Molecule, MoleculeError)), result
    if isinstance(result, MoleculeError):
        message = str(result)
        assert "\n" not in message and 0 < len(message) < 400, message
    assert seconds < FILE_SECONDS, (name, seconds, result)
    assert peak < FILE_BYTES, (name, peak / 2**20)


def test_the_issue_s_examples_are_refused_by_their_bounds():
    for name, data, match in [
        ("a.xyz", b"100000000\n\nH 0 0 0\n", "100000000 atoms are more than this app handles"),
        ("a.extxyz", b"1\nProperties=species:S:1:pos:R:999999\nH 0 0 0\n", "widths 1 to 3"),
        ("a.json", b'{"1": {"numbers": {"__ndarray__": [[1000000000], "int64", []]}}, "ids": [1], "nextid": 2}',
         "shape"),
    ]:
        with pytest.raises(MoleculeError, match=match):
            read_molecule_bytes(data, name)
    with pytest.raises(MoleculeError, match="more than this app handles \\(150\\)"):
        read_molecule_bytes(("151\n\n" + "".join(f"H {2 * i} 0 0\n" for i in range(151))).encode(), "a.xyz", max_atoms=150)


@pytest.mark.parametrize("suffix", sorted(BASES))
def test_the_unmutated_files_still_read(suffix):
    m = read_molecule_bytes(BASES[suffix].encode(), "water" + suffix)
    assert m.formula == "H2O" and m.n_atoms == 3


# -- data sets ---------------------------------------------------------------------------------------

DATASET = ('2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 pbc="F F F"\n'
           "H 0 0 0 0.1 0 0\nH 0.74 0 0 -0.1 0 0\n"
           '2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1.1 pbc="F F F"\n'
           "H 0 0 0 0.2 0 0\nH 0.75 0 0 -0.2 0 0\n")


def _hostile_datasets() -> list[tuple[str, str]]:
    rng = random.Random(SEED + 1)
    named = [
        ("claims-1e8", "100000000\ncomment\n"),
        ("width-999999", "1\nProperties=species:S:1:pos:R:999999 energy=1\nH 0 0 0\n"),
        ("second-frame-1e8", DATASET + "100000000\n\n"),
        ("comment-1MB", "2\n" + "a=b " * 262_144 + "\nH 0 0 0\nH 1 0 0\n"),
        ("empty", ""),
        ("blank-then-frame", DATASET + "\n\n" + DATASET),
    ]
    return named + [(f"mutant-{k:02d}", _mutate_text(DATASET, rng)) for k in range(20)]


HOSTILE_DATASETS = _hostile_datasets()


@pytest.mark.parametrize("name,text", HOSTILE_DATASETS, ids=[n for n, _ in HOSTILE_DATASETS])
def test_hostile_data_sets_get_one_message_quickly(tmp_path, name, text):
    path = tmp_path / f"{name}.extxyz"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result, seconds, peak = _measured(lambda: read_extxyz_dataset(path))
    assert not isinstance(result, EquivError) or isinstance(result, DataError), result
    assert seconds < FILE_SECONDS, (name, seconds, result)
    assert peak < FILE_BYTES, (name, peak / 2**20)


def test_the_good_data_set_still_reads(tmp_path):
    path = tmp_path / "ok.extxyz"
    path.write_text(DATASET)
    ds = read_extxyz_dataset(path)
    assert ds.n_frames == 2 and ds.energies.tolist() == [-1.0, -1.1]


# -- SMILES ---------------------------------------------------------------------------------------

def _hostile_smiles() -> list[str]:
    rng = random.Random(SEED + 2)
    alphabet = "CNOSPFcnos()[]=#123456789@+-H.%/\\Cl Br" + "²🙂\u202e\x00"
    named = ["C" * 60, "c1ccccc1" * 20, "[Xx]", "C" * 300 + "(", "[C@@H]" * 30, "C1" * 40, "[235U]",
             "[" + EVIL_URL + "]", "F" * 300, "C(C(C(C(C(C(C(C(C)))))))))" * 5, "[H][H]", "*", "[Og]"]
    generated = ["".join(rng.choice(alphabet) for _ in range(rng.choice([1, 5, 20, 80, 299]))) for _ in range(24)]
    return named + generated


HOSTILE_SMILES = _hostile_smiles()


@pytest.mark.parametrize("smiles", HOSTILE_SMILES, ids=[f"smiles-{i:02d}" for i in range(len(HOSTILE_SMILES))])
def test_hostile_smiles_answer_within_the_bound(smiles):
    t0 = time.perf_counter()
    try:
        result = molecule_from_smiles(smiles, max_atoms=MAX_MODEL_ATOMS)
        assert result.n_atoms <= MAX_MODEL_ATOMS
    except MoleculeError:
        pass
    assert time.perf_counter() - t0 < SMILES_SECONDS


def test_a_98_carbon_alkane_answers_within_5_s_at_the_full_cap():
    t0 = time.perf_counter()
    try:
        molecule_from_smiles("C" * 98)  # 296 atoms, under the 500-atom cap: an answer either way
    except MoleculeError as exc:
        assert "3D geometry" in str(exc)
    assert time.perf_counter() - t0 < SMILES_SECONDS
    with pytest.raises(MoleculeError, match="296 atoms with hydrogens is more than this app handles \\(150\\)"):
        molecule_from_smiles("C" * 98, max_atoms=150)


# -- model panels: capped molecules in bounded batches ------------------------------------------------

def test_turn_batches_stay_within_the_atom_and_pair_budgets():
    """A turn's frames go through the model in batches of at most MAX_BATCH_ATOMS atoms and
    MAX_BATCH_PAIRS neighbour pairs (a dense distance matrix over 36 × 150 atoms would be 233 MB per
    copy, and NequIP's memory goes with the edges), with the same numbers as one frame at a time."""
    import torch

    from equiv.graphs import AtomsBatch
    from equiv.models import build_model

    seen: list[tuple[int, int]] = []

    class Spy:
        def __init__(self, model):
            self.model = model

        def parameters(self):
            return self.model.parameters()

        def __call__(self, batch: AtomsBatch):
            d = torch.cdist(batch.positions, batch.positions)
            same = batch.graph_index[:, None] == batch.graph_index[None, :]
            seen.append((batch.n_atoms, int(((d < PAIR_CUTOFF) & same).sum()) - batch.n_atoms))
            return self.model(batch)

    model = build_model("nequip-l1", dtype=torch.float64, seed=0, numbers=(6,), n_layers=1, channels=4)
    rng = np.random.default_rng(SEED)
    for n, box in [(MAX_MODEL_ATOMS, 40.0), (30, 6.0)]:  # atoms limit the batch, then pairs do
        seen.clear()
        frames = [rng.uniform(0, box, size=(n, 3)) for _ in range(12)]
        outs = evaluate(Spy(model), [6] * n, frames)
        assert len(outs) == 12 and len(seen) >= 2 and sum(a for a, _ in seen) == 12 * n
        assert max(a for a, _ in seen) <= MAX_BATCH_ATOMS and max(p for _, p in seen) <= MAX_BATCH_PAIRS, seen
        single = evaluate(model, [6] * n, frames[7:8])[0]
        np.testing.assert_allclose(outs[7].forces, single.forces, rtol=1e-10, atol=1e-12)


def test_model_panels_refuse_molecules_over_the_caps():
    from equiv.views.rotation_models import model_sources
    from equiv.views.rotation_view import prepare_panel

    grid = np.stack(np.meshgrid(*[np.arange(5) * 1.2] * 3), -1).reshape(-1, 3)  # 125 atoms, 1.2 Å apart
    dense = Molecule([6] * len(grid), grid, "dense")
    wide = Molecule([1] * (MAX_MODEL_ATOMS + 1), np.arange(3 * (MAX_MODEL_ATOMS + 1)).reshape(-1, 3) * 3.0, "wide")
    for molecule, match in [(dense, "neighbour pairs"), (wide, f"{MAX_MODEL_ATOMS + 1} atoms")]:
        panel = prepare_panel("nequip", model_sources("nequip", None)[0], molecule)
        assert not panel.active and match in panel.note and "not computed" in panel.note


# -- links and pages -------------------------------------------------------------------------------

def test_run_ids_are_plain_and_few():
    assert parse_run_ids("3, 7,3") == ([3, 7], [])
    for bad in ["99999999999999999999", "²", "-1", "0", "1.5", "1e3", "٣", " ", "0x10", "1" * 13]:
        ids, problems = parse_run_ids(bad)
        assert ids == [] and (problems or not bad.strip()), bad
        if bad.strip():
            with pytest.raises(EquivError, match="a run is given by its number"):
                parse_run_id(bad)
    ids, problems = parse_run_ids(",".join(str(i) for i in range(1, 50)))
    assert ids == list(range(1, MAX_LINKED_RUNS + 1)) and "at most 5" in problems[-1]


def test_folders_typed_in_a_box_get_a_message(tmp_path):
    assert parse_folder(str(tmp_path)) == tmp_path
    for bad, match in [("~nosuchuser0xdead/x", "user this machine does not know"),
                       ("a" * 300, "cannot be read|no folder"), ("x" * 2000, "not a usable name"),
                       ("/etc/passwd", "no folder"), ("a\x00b", "not a usable name"), (str(tmp_path / "nope"), "no folder")]:
        with pytest.raises(EquivError, match=match):
            parse_folder(bad)


def test_nan_metrics_show_as_a_dash():
    assert [format_metric(v) for v in (1.234, float("nan"), float("inf"), None, "NaN", True)] == \
        ["1.23", "–", "–", "–", "–", "–"]


def test_config_binds_to_localhost_with_the_app_s_upload_cap():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_FILE_BYTES


def test_viewer_takes_messages_from_its_parent_and_a_fixed_cdn_url_with_its_hash():
    import base64
    import hashlib
    import re

    from equiv.widgets import CDN_URL, FRONTEND_DIR, THREEDMOL_VERSION

    js = (FRONTEND_DIR / "viewer.js").read_text()
    assert "event.source !== window.parent" in js  # the message handler's first line
    assert "cdn_url" not in js and "args.cdn" not in js
    assert re.search(r'const CDN_URL = "([^"]+)"', js).group(1) == CDN_URL
    assert f"3dmol@{THREEDMOL_VERSION}/" in CDN_URL
    integrity = re.search(r'const CDN_INTEGRITY = "(sha384-[A-Za-z0-9+/=]{64})"', js).group(1)
    assert "s.integrity = integrity" in js and 's.crossOrigin = "anonymous"' in js
    npm_copy = REPO / ".cache" / "npm" / "node_modules" / "3dmol" / "build" / "3Dmol-min.js"
    package = REPO / ".cache" / "npm" / "node_modules" / "3dmol" / "package.json"
    if not npm_copy.is_file() or json.loads(package.read_text())["version"] != THREEDMOL_VERSION:
        pytest.skip("no npm copy of this 3dmol version (make setup installs it)")
    digest = base64.b64encode(hashlib.sha384(npm_copy.read_bytes()).digest()).decode()
    assert integrity == f"sha384-{digest}"


def _hostile_values(rng: random.Random) -> list[str]:
    fixed = ["99999999999999999999", "²", "-1", "0", "1e309", "nan", "NaN,NaN,NaN", "", " ", "1,2", "1,2,3,4",
             f"[text]({EVIL_URL})", f"![img]({EVIL_URL})", f"<{EVIL_URL}>", "$x^2$", ":red[x]", "**bold**",
             ":material/home:", "<script>alert(1)</script>", "\u202e\u202d", "🙂" * 50, "x" * 10_000, "%00",
             "../../etc/passwd", "~nosuchuser/x", "1" * 300, "0,0,0", "1e-400,0,0", "-0", "None", "[]", "{}",
             "1,1,1," * 1000, "gvp,gvp,xtb,mlp,nequip,nequip-so3,zzz", "😀,😀,😀", "\t\n\r", "٣", "0x10"]
    random_texts = ["".join(rng.choice(string.printable + "²🙂é\u202e") for _ in range(rng.choice([1, 8, 64, 600])))
                    for _ in range(20)]
    return fixed + random_texts


PAGE_KEYS: dict[str, list[str]] = {
    "app_pages/rotate.py": [*ROTATE_KEYS, "run"],
    "app_pages/irreps.py": [*IRREPS_KEYS, "section"],
    "app_pages/train.py": [*LAB_DEFAULTS, "run", "group"],
    "app_pages/runs.py": ["run", "group", "molecule"],
    "app_pages/md.py": ["molecule", "model", "ensemble", "temperature", "timestep", "steps", "seed", "show"],
    "app_pages/playground.py": ["f", "expr", "seed"],
    "app_pages/tour.py": ["step", "presenter"],
    HOME.path: ["x", "page", "run"],
}
RUNS_PER_PAGE = 4


def _nan_run(store) -> int:
    """A finished run whose metrics hold NaN and null (written past the store's own checks, as an
    older version or a hand edit could have)."""
    run = store.create("train", {"model": "nequip", "data": "xtb:ethanol", "n_train": 10, "seed": 0},
                       molecule="ethanol")
    store.mark_running(run.id, dataset={"name": "xtb:ethanol", "level_of_theory": "GFN2-xTB"})
    store.finish(run.id, {"test_metrics": {"n_test": 1}})
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET result = ? WHERE id = ?",
                     ('{"test_metrics": {"energy_mae_mev": NaN, "force_mae_mev_per_a": null, "n_test": 1}}', run.id))
    return run.id


@pytest.mark.parametrize("page", list(PAGE_KEYS))
def test_hostile_query_parameters_never_crash_a_page(page):
    """Every key the page reads (and a few it does not) at once, set to hostile values; a few runs
    per page. No traceback, no link or markup from a value rendered, within the time bound."""
    from equiv.runs import RunStore

    store = RunStore()
    nan_id = _nan_run(store)
    rng = random.Random(f"{SEED}-{page}")
    values = _hostile_values(rng)
    keys = PAGE_KEYS[page]
    for k in range(RUNS_PER_PAGE):
        query = {key: rng.choice(values) for key in keys}
        if k == 0:
            query = {key: f"[text]({EVIL_URL})" for key in keys}
        for id_key in ("run", "show"):
            if id_key in query and k in (1, 2, 3):
                query[id_key] = {1: str(nan_id), 2: "²", 3: "99999999999999999999"}[k]
        t0 = time.perf_counter()
        at = open_page(page, query, timeout=60)
        seconds = time.perf_counter() - t0
        assert not at.exception, (page, query, [e.value for e in at.exception])
        for kind in ("warning", "error", "info", "success", "caption", "markdown"):
            for text in texts(at, kind):
                assert f"]({EVIL_URL}" not in text and f"]({EVIL_URL.replace('/', '%2F')}" not in text, (kind, text)
        assert seconds < PAGE_SECONDS, (page, seconds)
    if page == "app_pages/runs.py":
        at = open_page(page, {"run": str(nan_id)}, timeout=60)
        assert not at.exception
        assert any("test energy MAE **– meV**" in t for t in texts(at, "success"))


def test_a_markdown_link_in_an_irreps_link_is_shown_as_text():
    at = open_page("app_pages/irreps.py", {"a": f"[text]({EVIL_URL})"})
    warnings = texts(at, "warning")
    assert warnings and all(f"]({EVIL_URL}" not in w for w in warnings)
    assert any(f"[text]({EVIL_URL})" in w for w in shown(at, "warning"))


def test_the_rmd17_folder_box_says_what_is_wrong(monkeypatch):
    at = open_page("app_pages/train.py", {"data": "rmd17"})
    for bad, match in [("~nosuchuser0xdead/x", "does not know"), ("a" * 300, "cannot be read"),
                       ("/etc/passwd", "no folder")]:
        at.text_input(key="tl_rmd17_dir").set_value(bad).run()
        assert not at.exception
        errors = " ".join(shown(at, "error"))
        assert any(m in errors for m in match.split("|")), errors
        at.run()  # every rerun keeps working
        assert not at.exception
    monkeypatch.setenv("EQUIV_SHARED_SERVER", "1")
    shared = open_page("app_pages/train.py", {"data": "rmd17"})
    assert not shared.exception
    assert not [t for t in shared.text_input if t.key == "tl_rmd17_dir"]
    assert any("set by the server" in c for c in shown(shared, "caption"))


def test_a_run_with_nan_metrics_is_listed():
    from equiv.runs import RunStore

    store = RunStore()
    run = store.get(_nan_run(store))
    frame = runs_frame([run])
    assert math.isnan(frame.loc[0, "test E MAE (meV)"]) and math.isnan(frame.loc[0, "test F MAE (meV/Å)"])


def test_pages_catalog_is_covered():
    assert set(PAGE_KEYS) == {HOME.path, *(p.path for p in PAGES)}
