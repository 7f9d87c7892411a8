"""The playground's math: every built-in function's measured verdict against the seminar's hand-written
expectation, the irreps of rank-2 outputs, the parser's refusals, and the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from equiv.cli import main
from equiv.o3 import decompose_outer_product
from equiv.playground import BUILTINS, ExpressionError, default_inputs, judge, parse_expression, rank2_components, side_by_side, trials

# The seminar's list, written out by hand (not read from the library, so the library cannot drift):
# function → (verdict, irreps without multiplicities, translation).
EXPECTED = {
    "2*a - 0.5*b": ("equivariant", "1o", "invariant"),
    "dot(a, b)": ("invariant", "0e", "invariant"),
    "outer(a, b)": ("equivariant", "0e+1e+2e", "invariant"),
    "cross(a, b)": ("equivariant", "1e", "invariant"),
    "sigmoid(dot(a, b))": ("invariant", "0e", "invariant"),
    "sigmoid(dot(a, b)) * a": ("equivariant", "1o", "invariant"),
    "norm(a)": ("invariant", "0e", "invariant"),
    "dot(cross(a, b), r[1] - r[0])": ("equivariant", "0o", "invariant"),
    "0.5*r[:, 0] - 1.2*r[:, 1] + 0.7*r[:, 2]": ("neither", None, "neither"),  # mixing x, y, z: no
    "sigmoid(r)": ("neither", None, "neither"),  # elementwise σ(r_x), σ(r_y), σ(r_z): no
    "a + [1, 0, 0]": ("neither", None, "invariant"),
    "[a[1], a[2], a[0]]": ("neither", None, "invariant"),
    "gram(r - mean(r))": ("invariant", "0e", "invariant"),
    "r[1] - r[0]": ("equivariant", "1o", "invariant"),
    "mean(r)": ("equivariant", "1o", "moves with r"),
    "a + cross(a, b)": ("rotations only", None, "invariant"),
}


def test_every_builtin_is_in_the_hand_written_list():
    assert {f.expression for f in BUILTINS} == set(EXPECTED)


@pytest.mark.parametrize("function", BUILTINS, ids=lambda f: f.key)
def test_builtin_verdicts(function):
    v = judge(function.expression)
    assert (v.kind, v.irrep_types, v.translation) == EXPECTED[function.expression]
    assert (function.expected, function.irreps, function.translation) == EXPECTED[function.expression]
    if v.equivariant:
        assert v.error < 1e-12  # float64 rounding
        assert all(e.equivariant is not None and e.equivariant < 1e-12 for e in v.errors)
    else:
        assert v.error > 1e-3  # far from every candidate, not a rounding question
    assert v.reason


def test_verdicts_do_not_depend_on_the_draw():
    for seed in (1, 2):
        assert judge("outer(a, b)", seed=seed).irreps == "0e+1e+2e"
        assert judge("sigmoid(r)", seed=seed).kind == "neither"


def test_rank2_components_match_the_outer_product_decomposition():
    a, b, _ = default_inputs(3)
    parts = decompose_outer_product(a, b).parts
    for comp, part in zip(rank2_components(torch.outer(a, b)), parts):
        torch.testing.assert_close(comp, part.components, atol=1e-13, rtol=0)


def test_more_irreps():
    assert judge("outer(a, cross(a, b))").irreps == "1o+2o"  # 1o ⊗ 1e: odd parts (its trace a·(a×b) is 0)
    assert judge("outer(a, a) - dot(a, a) / 3 * outer([1, 0, 0], [1, 0, 0]) * 0").irreps == "0e+2e"  # symmetric: no 1e
    assert judge("r - mean(r)").irreps == "5x1o" and judge("r - mean(r)").translation == "invariant"
    assert judge("dot(a, r)").kind == "invariant" and judge("dot(a, r)").translation == "neither"


def test_side_by_side_shows_the_difference():
    tr = trials()[0]
    good = side_by_side("cross(a, b)", tr, "1e")
    assert good.representation == "1e" and good.error < 1e-12
    bad = side_by_side("sigmoid(a)", tr, None)
    assert bad.representation == "1o" and bad.error > 1e-3
    outer = side_by_side("outer(a, b)", trials()[3], "0e+1e+2e")  # inversion
    assert len(outer.labels) == 9 and outer.error < 1e-12


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('ls')", "only plain function names"),
    ("__import__('os')", "unknown function '__import__'"),
    ("eval('1')", "unknown function 'eval'"),
    ("a.T", "attribute access"),
    ("lambda: a", "lambda is not allowed"),
    ("x", "unknown name 'x'"),
    ("a if b else r", "if/else is not allowed"),
    ("a < b", "comparisons is not allowed"),
    ("'abc'", "only numbers"),
    ("2 ** 1000", "exponent"),
    ("a ** b", "exponent of ** must be a number"),
    ("r[0:2]", "only ':'"),
    ("dot(a)", "takes 2 arguments"),
    ("norm(a, axis=0)", "no keyword arguments"),
    ("norm(a, b)", "takes 1 argument"),
    ("import os", "not a formula"),
    ("", "type a function"),
    ("a + " * 100 + "a", "characters long"),
])
def test_parser_refusals(text, message):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("outer(a, b) + r", "do not fit together"),
    ("a[7]", "out of range"),
    ("a / 0", "NaN or infinity"),
    ("cross(a, norm(a))", "needs vectors"),
])
def test_evaluation_errors(text, message):
    with pytest.raises(ExpressionError, match=message):
        judge(text)


def test_cli_json(capsys):
    assert main(["playground", "cross(a, b)", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "equivariant" and out["irreps"] == "1e" and out["translation"] == "invariant"
    assert len(out["errors"]) == 5 and max(e["equivariant"] for e in out["errors"]) < 1e-12
    assert main(["playground", "sigma_r"]) == 0
    assert "verdict: neither" in capsys.readouterr().out


def test_cli_refusal(capsys):
    assert main(["playground", "__import__('os')", "--json"]) == 2
    assert "unknown function" in json.loads(capsys.readouterr().out)["error"]
    assert main(["playground", "a.T"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "attribute access" in err


def test_cli_on_a_molecule(capsys):
    assert main(["playground", "r - mean(r)", "--molecule", "water", "--json"]) == 0  # 3 atoms: [3, 3], still 1o rows
    out = json.loads(capsys.readouterr().out)
    assert out["irreps"] == "3x1o" and out["translation"] == "invariant"
    assert main(["playground", "r", "--molecule", "nope"]) == 2
    assert "no molecule 'nope'" in capsys.readouterr().err
