"""The command line: JSON schemas, --help on every subcommand, errors without tracebacks."""

import json
import subprocess
import sys

import pytest

from equiv.cli import COMMAND_MODULES, main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "equiv", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_decompose_json_schema():
    r = run_cli("decompose", "1,2,3", "4,5,6", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    for key, irrep, n in [("trace", "0e", 1), ("antisymmetric", "1e", 3), ("symmetric_traceless", "2e", 5)]:
        assert data[key]["irrep"] == irrep
        assert len(data[key]["components"]) == n
        assert len(data[key]["matrix"]) == 3
    assert data["outer"]["matrix"][1] == [8.0, 10.0, 12.0]
    assert abs(data["trace"]["matrix"][0][0] - 32 / 3) < 1e-12


def test_decompose_negative_components_in_process(capsys):
    assert main(["decompose", "-1,0,2", "0.5,-3,1e-1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["a"] == [-1.0, 0.0, 2.0] and data["b"] == [0.5, -3.0, 0.1]


def test_decompose_text_output(capsys):
    assert main(["decompose", "1,2,3", "4,5,6"]) == 0
    out = capsys.readouterr().out
    assert "symmetric_traceless (l=2, 2e)" in out and "sum back" in out


@pytest.mark.parametrize("bad", [["1,2", "3,4,5"], ["a,b,c", "1,2,3"], ["1,2,nan", "1,2,3"]])
def test_decompose_bad_input_is_a_clear_error(capsys, bad):
    assert main(["decompose", *bad]) == 2
    err = capsys.readouterr().err
    assert f"error: a = {bad[0]!r}: give 3 numbers like 1,2,3" in err and "Traceback" not in err


def test_molecules_json():
    r = run_cli("molecules", "--json")
    assert r.returncode == 0, r.stderr
    rows = {m["name"]: m for m in json.loads(r.stdout)["molecules"]}
    assert rows["aspirin"]["formula"] == "C9H8O4" and rows["aspirin"]["n_atoms"] == 21
    assert rows["ethanol"]["n_atoms"] == 9


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_every_subcommand_has_help(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--json" in out


def test_console_script_is_installed():
    import shutil
    from pathlib import Path

    exe = Path(sys.executable).parent / "equiv"
    path = str(exe) if exe.exists() else shutil.which("equiv")
    assert path, "the `equiv` console script is not installed (pip install -e .)"
    r = subprocess.run([path, "molecules"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "aspirin" in r.stdout


def test_equivariance_help_lists_every_preset():
    from equiv.cli.equivariance import MODEL_NAMES
    from equiv.models import PRESETS

    assert MODEL_NAMES == list(PRESETS)


def test_cli_starts_without_importing_torch():
    code = "import sys; from equiv.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "False", r.stdout + r.stderr
