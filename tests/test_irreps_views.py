"""The irreps lab's views layer without Streamlit: settings and deep links, checks that can fail,
tables and figures built from ``equiv.o3``."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from equiv.formatting import format_significant
from equiv.o3 import TensorProductDecomposition, decompose_outer_product, random_rotation, wigner_D
from equiv.views.checks import Check, checks_table
from equiv.views.irreps_figures import cg_heatmaps, harmonics_surfaces, matrix_heatmap, surfaces_row
from equiv.views.irreps_settings import (
    IrrepsLabSettings,
    parse_query,
    random_euler_degrees,
    random_vectors,
    to_query,
)
from equiv.views.irreps_tables import (
    cg_checks,
    harmonics_mixing,
    outer_product_checks,
    rotation_checks,
    selection_rule_table,
    wigner_checks,
    wrong_inverse_error,
)

# -- settings and links -------------------------------------------------------------------------------


def test_defaults_are_the_seed_example():
    s = IrrepsLabSettings()
    assert (s.a, s.b) == ((1.0, 2.0, 3.0), (4.0, 5.0, 6.0))
    assert (s.ir1, s.ir2, s.L) == ("1o", "1o", 2)


def test_query_round_trip(rng):
    for draw in range(1, 6):
        a, b = random_vectors(draw)
        s = dataclasses.replace(
            IrrepsLabSettings(), a=a, b=b, inversion=bool(draw % 2), l1=draw % 5, l2=(2 * draw) % 5,
            p1="e", p2="o", L=abs(draw % 5 - (2 * draw) % 5), rot2=random_euler_degrees(draw), lmax=draw % 4,
            mul=draw * 3, layer="first",
        )
        s = dataclasses.replace(s, **dict(zip(("alpha", "beta", "gamma"), random_euler_degrees(draw + 10))))
        parsed, problems = parse_query(to_query(s))
        assert problems == [] and parsed == s.normalized()


def test_euler_angles_in_a_link_wrap_and_beta_is_refused_outside_0_180():
    s, problems = parse_query({"rot": "400,10,0", "rot2": "-190,180,540"})
    assert problems == [] and s.euler == (40, 10, 0) and s.rot2 == (170, 180, -180)
    s, problems = parse_query({"rot": "0,-1,0"})
    assert s.euler == IrrepsLabSettings().euler and problems == [
        "link parameter rot=0,-1,0: three ZYZ Euler angles α,β,γ in degrees (α, γ wrap into -180 … 180; "
        "β from 0 to 180); using 30,45,60"]


def test_parity_aliases_and_the_old_link_form_still_read():
    s, problems = parse_query({"p1": "Even", "p2": "-1", "p": "+1", "inv": "true", "a": "[1, 2.5, -3]"})
    assert problems == [] and (s.p1, s.p2, s.p, s.inversion, s.a) == ("e", "o", "e", True, (1.0, 2.5, -3.0))
    old = to_query(IrrepsLabSettings())
    assert old["a"] == "1,2,3" and old["rot"] == "30,45,60" and old["inv"] == "0" and old["rot2"] == "-40,70,15"


def test_missing_keys_keep_the_base_and_lists_take_the_last_value():
    base = dataclasses.replace(IrrepsLabSettings(), l1=3, L=4)
    s, problems = parse_query({"l2": ["0", "2"]}, base=base)
    assert problems == [] and (s.l1, s.l2, s.L) == (3, 2, 4)


def test_parse_never_raises_on_garbage():
    garbage = ["", " ", "()", "1,,2", "∞", "0x10", "1;2;3", "%00", "a" * 10_000, "1e400,0,0", "-0"]
    for key in to_query(IrrepsLabSettings()):
        for value in garbage:
            s, _ = parse_query({key: value})
            assert s == s.normalized()
            assert all(math.isfinite(x) for x in s.a + s.b)


def test_random_draws_are_reproducible_and_exact_in_links():
    assert random_vectors(3) == random_vectors(3) != random_vectors(4)
    a, b = random_vectors(3)
    assert parse_query(to_query(dataclasses.replace(IrrepsLabSettings(), a=a, b=b)))[0].a == a
    alpha, beta, gamma = random_euler_degrees(5)
    assert -180 <= alpha <= 180 and 0 <= beta <= 180 and -180 <= gamma <= 180


def test_rotation_with_inversion_is_improper():
    s = dataclasses.replace(IrrepsLabSettings(), inversion=True)
    R = s.rotation()
    assert abs(float(torch.linalg.det(R)) + 1) < 1e-14
    assert torch.allclose(R, -IrrepsLabSettings().rotation(), atol=0)


# -- checks can fail ------------------------------------------------------------------------------------


def test_check_verdicts():
    assert Check("x", 1e-15).passed and not Check("x", 1e-9).passed and not Check("x", math.nan).passed
    assert Check.scaled("x", 1e-9, scale=100).passed
    table = checks_table([Check("ok", 0.0), Check("bad", 1.0)])
    assert table["result"].tolist() == ["pass", "FAIL"]


def test_outer_product_checks_catch_the_slides_formulas():
    dec = decompose_outer_product([1, 2, 3], [4, 5, 6])
    assert all(c.passed for c in outer_product_checks(dec))
    a, b = dec.a, dec.b
    outer = torch.outer(a, b)
    wrong_trace = dataclasses.replace(dec.trace, matrix=outer.sum() / 3 * torch.eye(3, dtype=torch.float64))
    wrong_sym = dataclasses.replace(dec.symmetric_traceless, matrix=outer + outer.T)
    for broken in (dataclasses.replace(dec, trace=wrong_trace), dataclasses.replace(dec, symmetric_traceless=wrong_sym)):
        failed = [c.name for c in outer_product_checks(broken) if not c.passed]
        assert "T + A + S = a bᵀ" in failed


def test_rotation_checks_pass_for_rotations_and_reflections(rng):
    a, b = torch.randn(2, 3, dtype=torch.float64, generator=rng)
    R = random_rotation(dtype=torch.float64, generator=rng)
    for M in (R, -R):
        assert all(c.passed for c in rotation_checks(a, b, M))


def test_cg_checks_pass_under_improper_rotations_and_parity_matters():
    R = -random_rotation(dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for ir1, ir2 in [("1o", "2e"), ("0o", "3o"), ("4e", "4o")]:
        assert all(c.passed for c in cg_checks(ir1, ir2, R))
    # What the equivariance check measures is not automatic: rotating a 1e input as if it were 1o
    # (the wrong parity) breaks it for an improper R.
    dec = TensorProductDecomposition.of("1e", "2e")
    g = torch.Generator().manual_seed(2)
    x1, x2 = torch.randn(3, dtype=torch.float64, generator=g), torch.randn(5, dtype=torch.float64, generator=g)
    out = dec(wigner_D("1o", R) @ x1, wigner_D("2e", R) @ x2)[0]
    assert (out - wigner_D("1e", R) @ dec(x1, x2)[0]).abs().max() > 1e-3


def test_selection_rule_table():
    t = selection_rule_table("2e", "3o")
    assert t["L"].tolist() == list(range(7))
    assert t["|l1 − l2| ≤ L ≤ l1 + l2"].tolist() == ["no"] + ["yes"] * 5 + ["no"]
    assert t["irrep"].tolist()[1:6] == ["1o", "2o", "3o", "4o", "5o"]
    assert int(t["dimension 2L+1"].sum()) == 35


@pytest.mark.parametrize("l", range(5))
def test_harmonics_mixing_stays_in_one_order(l):
    R = random_rotation(dtype=torch.float64, generator=torch.Generator().manual_seed(l))
    table, checks = harmonics_mixing(l, -l, -R)
    assert all(c.passed for c in checks), checks
    assert len(table) == 25
    inside = table[table["l'"] == l]["fitted coefficient"].to_numpy()
    assert abs(np.linalg.norm(inside) - 1) < 1e-12


def test_wigner_checks_and_the_wrong_inverse():
    R = random_rotation(dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for ir in ("0e", "1o", "1e", "2e", "3o", "4e"):
        assert all(c.passed for c in wigner_checks(ir, R, R.T @ R.T))
        assert all(c.passed for c in wigner_checks(ir, -R, R))
    assert wrong_inverse_error("1o", R) > 0.1 and wrong_inverse_error("2e", R) > 0.1


# -- figures ---------------------------------------------------------------------------------------------


def test_matrix_heatmap_text_and_orientation():
    M = torch.tensor([[1.0, -2e-13], [3.25, -4.5]])
    fig = matrix_heatmap(M, ["r0", "r1"], ["c0", "c1"], title="t", blocks=[1, 1])
    trace = fig.data[0]
    assert np.array_equal(np.asarray(trace.z), M.numpy())
    assert trace.text == (("1", "0"), ("3.25", "−4.5")) or list(map(list, trace.text)) == [["1", "0"], ["3.25", "−4.5"]]
    assert fig.layout.yaxis.autorange == "reversed" and len(fig.layout.shapes) == 2
    assert format_significant(-0.000123456) == "−0.0001235"


def test_cg_heatmaps_has_one_panel_per_M():
    from equiv.o3 import clebsch_gordan

    fig = cg_heatmaps(clebsch_gordan(2, 2, 3), 2, 2, 3)
    assert len(fig.data) == 7
    assert np.allclose(np.asarray(fig.data[6].z), clebsch_gordan(2, 2, 3)[:, :, 6].numpy(), atol=0)


@pytest.mark.parametrize("l", [0, 4])
def test_harmonics_surfaces(l):
    fig = harmonics_surfaces(l)
    surfaces = [t for t in fig.data if t.type == "surface"]
    assert len(surfaces) == 2 * l + 1
    assert fig.layout.scene.xaxis.visible is False


def test_surfaces_row_draws_frames():
    grid = np.zeros((3, 4, 3))
    grid[..., 2] = 1
    fig = surfaces_row([np.ones((3, 4)), -np.ones((3, 4))], ["f", "g"], grid, [np.eye(3), None])
    assert [t.type for t in fig.data].count("scatter3d") == 3
