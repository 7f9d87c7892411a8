"""The irreps lab page through AppTest: every number it shows is read back and compared with
``equiv.o3`` (float64, 1e-12), deep links round-trip, bad links and bad typing give messages.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from equiv.o3 import (
    TensorProductDecomposition,
    block_diagonal_D,
    clebsch_gordan,
    decompose_outer_product,
    euler_to_matrix,
    sphere_grid,
    spherical_harmonics,
    uvu_paths,
    wigner_D,
)
from equiv.views.irreps_settings import random_euler_degrees, random_vectors
from equiv.views.irreps_tables import nequip_irreps
from tests.apptest_tools import figure, open_page, shown, table, texts

PAGE = "app_pages/irreps.py"
TOL = 1e-12


def irreps_page(**query: str):
    at = open_page(PAGE, query)
    assert not at.exception, at.exception
    return at


def show_section(at, name: str):
    """Open another tab, as a click on it would (the tabs are bound to the ``section`` query key)."""
    at.session_state["section"] = name
    at.query_params["section"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def rotation(alpha: float, beta: float, gamma: float, inv: bool = False) -> torch.Tensor:
    R = euler_to_matrix(*(torch.tensor(math.radians(x), dtype=torch.float64) for x in (alpha, beta, gamma)))
    return -R if inv else R


def assert_checks_pass(at, key: str) -> None:
    checks = table(at, key)
    assert len(checks) >= 3
    assert (checks["result"] == "pass").all(), checks
    assert (checks["max abs error"] <= checks["tolerance"]).all()
    assert (checks["max abs error"] < 1e-11).all(), checks


def assert_no_alerts(at) -> None:
    assert texts(at, "error") == [] and texts(at, "warning") == []


# -- every section renders ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "checks_key"),
    [
        ("Outer product", "irreps_outer_checks"),
        ("Rotate & reflect", "irreps_rotation_checks"),
        ("Clebsch–Gordan", "irreps_cg_checks"),
        ("Spherical harmonics", "irreps_sh_checks"),
        ("Wigner-D", "irreps_wigner_checks"),
        ("NequIP messages", None),
    ],
)
def test_each_section_renders_with_passing_checks(section, checks_key):
    at = irreps_page(section=section)
    assert_no_alerts(at)
    assert at.title[0].value == "Irreps lab"
    if checks_key:
        assert_checks_pass(at, checks_key)


# -- outer product: displayed numbers are the library's ------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "note"),
    [
        ("1,2,3", "4,5,6", None),  # the seed example
        ("0,0,0", "4,5,6", "a bᵀ = 0"),  # zero vector
        ("1,-2,0.5", "-2,4,-1", "a × b = 0"),  # parallel (b = −2a)
        ("0.3,-1.7,2.2", "-0.9,0.4,1.1", None),
    ],
)
def test_outer_product_numbers_are_the_library_numbers(a, b, note):
    at = irreps_page(section="Outer product", a=a, b=b)
    assert_no_alerts(at)
    va = [float(x) for x in a.split(",")]
    vb = [float(x) for x in b.split(",")]
    dec = decompose_outer_product(va, vb)
    assert np.abs(figure(at, "irreps_outer_heatmap")["data"][0]["z"] - dec.outer.numpy()).max() < TOL
    for part in dec.parts:
        shown = table(at, f"irreps_components_{part.name}")
        assert np.abs(shown["value"].to_numpy() - part.components.numpy()).max() < TOL
        z = figure(at, f"irreps_part_heatmap_{part.name}")["data"][0]["z"]
        assert np.abs(z - part.matrix.numpy()).max() < TOL
    assert table(at, "irreps_components_antisymmetric")["component"].tolist() == ["x", "y", "z"]
    assert table(at, "irreps_components_symmetric_traceless")["component"].tolist()[0] == "m=-2 (xz)"
    assert_checks_pass(at, "irreps_outer_checks")
    assert any(t.startswith("**T + A + S = a bᵀ**: max abs error") and t.endswith("— pass") for t in texts(at, "markdown"))
    infos = " ".join(texts(at, "info"))
    if note:
        assert note in infos
    else:
        assert infos == ""
    if note == "a × b = 0":
        assert np.abs(table(at, "irreps_components_antisymmetric")["value"].to_numpy()).max() < TOL


def test_seed_example_formulas_and_values_on_the_page():
    at = irreps_page(section="Outer product")
    latex = " ".join(texts(at, "latex"))
    assert r"a\cdot b = 32" in latex and r"a\times b = \left(-3,\ 6,\ -3\right)" in latex
    assert r"\tfrac{a\cdot b}{3}\, I" in latex  # trace part uses the dot product
    assert r"a b^{\mathsf T} - b a^{\mathsf T}" in latex
    assert r"\tfrac{1}{2}\left(a b^{\mathsf T} + b a^{\mathsf T}\right) - \tfrac{a\cdot b}{3}\, I" in latex
    assert r"\tfrac{1}{2}\, a\times b = \left(-1.5,\ 3,\ -1.5\right)" in latex
    trace = table(at, "irreps_components_trace")["value"][0]
    assert abs(trace - 32 / math.sqrt(3)) < TOL
    anti = table(at, "irreps_components_antisymmetric")["value"].to_numpy()
    assert np.abs(anti - np.array([-3, 6, -3]) / math.sqrt(2)).max() < TOL


# -- rotate and reflect ----------------------------------------------------------------------------------


@pytest.mark.parametrize("inv", ["0", "1"])
def test_rotated_parts_are_the_library_numbers(inv):
    at = irreps_page(section="Rotate & reflect", a="1,2,3", b="-1,0.5,2", rot="-50,120,33", inv=inv)
    assert_no_alerts(at)
    R = rotation(-50, 120, 33, inv == "1")
    a, b = torch.tensor([1.0, 2, 3], dtype=torch.float64), torch.tensor([-1.0, 0.5, 2], dtype=torch.float64)
    before, after = decompose_outer_product(a, b), decompose_outer_product(R @ a, R @ b)
    shown = table(at, "irreps_transformed")
    assert shown["irrep"].tolist() == ["0e"] + ["1e"] * 3 + ["2e"] * 5
    expected_before = torch.cat([p.components for p in before.parts]).numpy()
    expected_after = torch.cat([p.components for p in after.parts]).numpy()
    predicted = torch.cat([wigner_D(p.irrep, R) @ p.components for p in before.parts]).numpy()
    assert np.abs(shown["part(a, b)"].to_numpy() - expected_before).max() < TOL
    assert np.abs(shown["part(R a, R b)"].to_numpy() - expected_after).max() < TOL
    assert np.abs(shown["D(R) part(a, b)"].to_numpy() - predicted).max() < TOL
    vectors = table(at, "irreps_vectors")
    assert np.abs(vectors.loc["R a"].to_numpy() - (R @ a).numpy()).max() < TOL
    assert np.abs(figure(at, "irreps_R_heatmap")["data"][0]["z"] - R.numpy()).max() < TOL
    D = figure(at, "irreps_block_D")["data"][0]["z"]
    assert np.abs(D - block_diagonal_D("0e+1e+2e", R).numpy()).max() < TOL
    for part in after.parts:
        z = figure(at, f"irreps_rotated_part_{part.name}")["data"][0]["z"]
        assert np.abs(z - part.matrix.numpy()).max() < TOL
    assert_checks_pass(at, "irreps_rotation_checks")
    if inv == "1":
        # a polar vector flips, the antisymmetric part (a pseudovector, 1e) does not
        assert np.abs(vectors.loc["R a"].to_numpy() + (rotation(-50, 120, 33) @ a).numpy()).max() < TOL
        assert "pseudovector" in " ".join(texts(at, "info"))
        anti = shown[shown["irrep"] == "1e"]
        proper = decompose_outer_product(rotation(-50, 120, 33) @ a, rotation(-50, 120, 33) @ b)
        assert np.abs(anti["part(R a, R b)"].to_numpy() - proper.antisymmetric.components.numpy()).max() < TOL


# -- Clebsch–Gordan ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("l1", "p1", "l2", "p2", "L"),
    [(0, "e", 1, "o", 1), (1, "o", 0, "o", 1), (1, "o", 1, "o", 1), (2, "e", 1, "o", 3), (3, "o", 2, "o", 2),
     (4, "e", 4, "o", 8), (4, "o", 4, "o", 0)],
)
def test_clebsch_gordan_section_shows_the_library_numbers(l1, p1, l2, p2, L):
    at = irreps_page(section="Clebsch–Gordan", l1=str(l1), p1=p1, l2=str(l2), p2=p2, L=str(L))
    assert_no_alerts(at)
    dec = TensorProductDecomposition.of(f"{l1}{p1}", f"{l2}{p2}")
    rule = table(at, "irreps_selection_rule")
    allowed = rule[rule["|l1 − l2| ≤ L ≤ l1 + l2"] == "yes"]
    assert allowed["irrep"].tolist() == [str(ir) for _, ir in dec.irreps_out]
    assert rule["L"].tolist() == list(range(l1 + l2 + 2))
    forbidden = rule[rule["|l1 − l2| ≤ L ≤ l1 + l2"] == "no"]["L"].tolist()
    assert forbidden == list(range(abs(l1 - l2))) + [l1 + l2 + 1]
    n_in, n_out = dec.dimension_check()
    assert int(allowed["dimension 2L+1"].sum()) == n_in == n_out
    assert any(f"= {n_in}" in t and f"= {n_out}" in t for t in texts(at, "latex"))
    C = clebsch_gordan(l1, l2, L).numpy()
    shown = table(at, "irreps_cg_table")
    rebuilt = np.zeros_like(C)
    for m1, m2, M, c in shown.itertuples(index=False):
        rebuilt[m1 + l1, m2 + l2, M + L] = c
    assert np.abs(rebuilt - C).max() < TOL
    fig = figure(at, "irreps_cg_heatmaps")
    assert len(fig["data"]) == 2 * L + 1
    for k, trace in enumerate(fig["data"]):
        assert np.abs(np.asarray(trace["z"]) - C[:, :, k]).max() < TOL
    parity = "e" if (p1 == p2) else "o"
    assert at.metric[2].value == {"e": "even", "o": "odd"}[parity]
    assert_checks_pass(at, "irreps_cg_checks")


def test_changing_l1_moves_L_into_the_allowed_range():
    at = irreps_page(section="Clebsch–Gordan", l1="4", l2="4", L="8")
    at.segmented_control(key="irreps_l1").set_value(0).run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="irreps_L").value == 4
    assert at.query_params["l1"] == "0" and at.query_params["L"] == "4"
    assert table(at, "irreps_cg_table")["M"].between(-4, 4).all()
    assert_checks_pass(at, "irreps_cg_checks")


# -- spherical harmonics and Wigner-D -------------------------------------------------------------------


@pytest.mark.parametrize(("l", "m", "inv"), [(0, 0, "0"), (1, -1, "1"), (2, 1, "0"), (3, 3, "1"), (4, -2, "0")])
def test_harmonics_rotation_mixes_only_one_order(l, m, inv):
    at = irreps_page(section="Spherical harmonics", l=str(l), m=str(m), rot="70,40,-110", inv=inv)
    assert_no_alerts(at)
    R = rotation(70, 40, -110, inv == "1")
    D = wigner_D(l, R).numpy()
    assert np.abs(figure(at, "irreps_sh_D")["data"][0]["z"] - D).max() < TOL
    mixing = table(at, "irreps_sh_mixing")
    inside = mixing[mixing["l'"] == l]
    assert np.abs(inside["fitted coefficient"].to_numpy() - D[:, m + l]).max() < 1e-11
    assert np.abs(mixing[mixing["l'"] != l]["fitted coefficient"].to_numpy()).max() < 1e-11
    assert len(figure(at, "irreps_sh_surfaces")["data"]) >= 2 * l + 1
    surfaces = [t for t in figure(at, "irreps_sh_surfaces")["data"] if t["type"] == "surface"]
    assert len(surfaces) == 2 * l + 1
    # the drawn f' is Y_lm(R⁻¹ r̂), evaluated here directly (float32 in the figure)
    grid = sphere_grid(31, 61)  # [31, 61, 3]
    direct = spherical_harmonics(l, grid @ R)[..., m + l].numpy()  # rows r R = (R⁻¹ r)ᵀ
    pair = [t for t in figure(at, "irreps_sh_rotated")["data"] if t["type"] == "surface"]
    assert np.abs(np.asarray(pair[1]["surfacecolor"]) - direct).max() < 1e-6
    assert np.abs(np.asarray(pair[0]["surfacecolor"]) - spherical_harmonics(l, grid)[..., m + l].numpy()).max() < 1e-6
    block = figure(at, "irreps_sh_block_D")["data"][0]["z"]
    assert np.abs(block - block_diagonal_D("0e+1o+2e+3o+4e", R).numpy()).max() < TOL
    assert_checks_pass(at, "irreps_sh_checks")


@pytest.mark.parametrize(("l", "p", "inv"), [(0, "o", "1"), (1, "o", "1"), (1, "e", "1"), (2, "e", "0"), (4, "o", "0")])
def test_wigner_section_shows_the_library_matrices(l, p, inv):
    at = irreps_page(section="Wigner-D", l=str(l), p=p, rot="10,100,-20", inv=inv, rot2="-40,70,15")
    assert_no_alerts(at)
    R1, R2 = rotation(10, 100, -20, inv == "1"), rotation(-40, 70, 15)
    ir = f"{l}{p}"
    assert np.abs(figure(at, "irreps_D_R1")["data"][0]["z"] - wigner_D(ir, R1).numpy()).max() < TOL
    assert np.abs(figure(at, "irreps_D_R1_inverse")["data"][0]["z"] - wigner_D(ir, R1).T.numpy()).max() < TOL
    assert np.abs(figure(at, "irreps_D_R1R2")["data"][0]["z"] - (wigner_D(ir, R1) @ wigner_D(ir, R2)).numpy()).max() < 1e-12
    assert_checks_pass(at, "irreps_wigner_checks")


# -- NequIP messages --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lmax", "layer"), [(0, "hidden"), (1, "first"), (2, "hidden"), (3, "hidden")])
def test_nequip_paths_are_the_models_paths(lmax, layer):
    at = irreps_page(section="NequIP messages", lmax=str(lmax), mul="16", layer=layer)
    assert_no_alerts(at)
    irreps_in, irreps_edge, irreps_out = nequip_irreps(lmax, 16, layer)
    assert irreps_edge == "+".join(f"1x{l}{'eo'[l % 2]}" for l in range(lmax + 1))
    _, paths = uvu_paths(irreps_in, irreps_edge, irreps_out)
    shown = table(at, "irreps_nequip_paths")
    assert list(zip(shown["h_j"], shown["Y(r̂_ij)"], shown["→ out"])) == [(p.ir_in, p.ir_edge, p.ir_out) for p in paths]
    assert shown["instruction"].tolist() == [str(p.instruction()) for p in paths]
    assert at.metric[0].value == str(len(paths))
    grid = table(at, "irreps_nequip_grid")
    cells = {(r, c): v.split(", ") for r in grid.index for c in grid.columns for v in [grid.loc[r, c]] if v}
    assert sorted((r, c, o) for (r, c), outs in cells.items() for o in outs) == sorted(
        (p.ir_in, p.ir_edge, p.ir_out) for p in paths
    )


# -- deep links -------------------------------------------------------------------------------------------

FULL_LINK = {
    "section": "Clebsch–Gordan", "a": "0.5,-1,2", "b": "3,0,-4", "rot": "-90,30,45", "inv": "1",
    "l1": "3", "p1": "e", "l2": "2", "p2": "o", "L": "4", "l": "3", "p": "o", "m": "-2",
    "rot2": "10,20,30", "lmax": "3", "mul": "8", "layer": "first",
}


@pytest.mark.slow
def test_deep_link_sets_every_control_and_round_trips():
    at = irreps_page(**FULL_LINK)
    assert_no_alerts(at)
    assert at.segmented_control(key="irreps_l1").value == 3
    assert at.segmented_control(key="irreps_p2").value == "o"
    assert at.segmented_control(key="irreps_L").value == 4
    assert dict(at.query_params) == {k: str(v) for k, v in FULL_LINK.items()}
    show_section(at, "Outer product")
    assert at.text_input(key="irreps_a").value == "0.5, -1, 2"
    dec = decompose_outer_product([0.5, -1, 2], [3, 0, -4])
    assert np.abs(table(at, "irreps_components_trace")["value"].to_numpy() - dec.trace.components.numpy()).max() < TOL
    show_section(at, "Rotate & reflect")
    assert (at.slider(key="irreps_alpha").value, at.slider(key="irreps_beta").value, at.slider(key="irreps_gamma").value) == (-90, 30, 45)
    assert at.toggle(key="irreps_inversion").value is True


@pytest.mark.slow
def test_controls_write_the_url():
    at = irreps_page(section="Rotate & reflect")
    at.slider(key="irreps_alpha").set_value(-120).run()
    at.toggle(key="irreps_inversion").set_value(True).run()
    assert at.query_params["rot"] == "-120,45,60" and at.query_params["inv"] == "1"
    R = rotation(-120, 45, 60, inv=True)
    assert np.abs(figure(at, "irreps_R_heatmap")["data"][0]["z"] - R.numpy()).max() < TOL
    show_section(at, "Outer product")
    at.text_input(key="irreps_b").input("2 0 -1").run()
    assert at.query_params["b"] == "2,0,-1"
    assert at.query_params["rot"] == "-120,45,60"  # the rotation survives the tab switch


@pytest.mark.parametrize(
    ("query", "messages", "expected"),
    [
        ({"a": "1,2"}, ["a=1,2: 3 numbers like 1,2,3, each from -1000 to 1000; using 1,2,3"], {"a": "1,2,3"}),
        ({"b": "x,y,z"}, ["b=x,y,z: 3 numbers like 1,2,3"], {"b": "4,5,6"}),
        ({"a": "nan,1,2"}, ["a=nan,1,2: 3 numbers"], {"a": "1,2,3"}),
        ({"a": "1e9,0,0"}, ["each from -1000 to 1000"], {"a": "1,2,3"}),
        ({"l1": "7"}, ["l1=7: a whole number from 0 to 4; using 1"], {"l1": "1"}),
        ({"l2": "1.5"}, ["l2=1.5"], {"l2": "1"}),
        ({"p1": "q"}, ["p1=q: one of e, o; using o"], {"p1": "o"}),
        ({"l1": "0", "l2": "2", "L": "5"}, ["L=5: 0 ⊗ 2 contains L = 2 … 2 only; using 2"], {"L": "2"}),
        ({"rot": "10,20"}, ["rot=10,20: three ZYZ Euler angles"], {"rot": "30,45,60"}),
        ({"rot": "10,200,0"}, ["β from 0 to 180); using 30,45,60"], {"rot": "30,45,60"}),
        ({"inv": "maybe"}, ["inv=maybe: 1 (on) or 0 (off); using 0"], {"inv": "0"}),
        ({"l": "9", "m": "1"}, ["l=9"], {"l": "2", "m": "1"}),
        ({"l": "1", "m": "3"}, ["m=3: m must lie in −1 … 1; using 1"], {"m": "1"}),
        ({"lmax": "5", "mul": "0", "layer": "top"}, ["lmax=5", "mul=0", "layer=top: one of first, hidden"], {"lmax": "2", "mul": "32", "layer": "hidden"}),
    ],
)
def test_bad_link_values_give_a_message_and_defaults(query, messages, expected):
    at = irreps_page(**query)
    warnings = " ".join(shown(at, "warning"))
    for message in messages:
        assert message in warnings, warnings
    for key, value in expected.items():
        assert at.query_params[key] == value
    assert texts(at, "error") == []
    at.run()  # the URL is clean now: the messages do not come back
    assert texts(at, "warning") == []


def test_bad_section_in_link():
    at = irreps_page(section="Nonsense")
    assert "section=Nonsense: one of Outer product" in " ".join(shown(at, "warning"))
    assert table(at, "irreps_components_trace") is not None  # the first section is shown


def test_out_of_range_angles_wrap_and_round():
    at = irreps_page(section="Rotate & reflect", rot="370,45.4,-190")
    assert_no_alerts(at)
    assert at.query_params["rot"] == "10,45,170"
    at = irreps_page(section="Rotate & reflect", rot="400,10,0")
    assert_no_alerts(at)
    assert at.query_params["rot"] == "40,10,0" and at.slider(key="irreps_alpha").value == 40


# -- typing and buttons -----------------------------------------------------------------------------------


def test_bad_typed_vector_keeps_the_last_good_one():
    at = irreps_page(section="Outer product")
    at.text_input(key="irreps_a").input("1, two, 3").run()
    assert not at.exception
    errors = " ".join(shown(at, "error"))
    assert "a: '1, two, 3' is not 3 numbers like 1,2,3" in errors and "Still using a = (1, 2, 3)" in errors
    assert at.text_input(key="irreps_a").value == "1, two, 3"  # what was typed is not lost
    assert at.query_params["a"] == "1,2,3"
    assert abs(table(at, "irreps_components_trace")["value"][0] - 32 / math.sqrt(3)) < TOL
    show_section(at, "Rotate & reflect")
    show_section(at, "Outer product")  # the typed text and its message are still there
    assert at.text_input(key="irreps_a").value == "1, two, 3"
    assert "Still using a = (1, 2, 3)" in " ".join(shown(at, "error"))
    at.text_input(key="irreps_a").input("(2, 0, 1)").run()
    assert texts(at, "error") == [] and at.query_params["a"] == "2,0,1"


@pytest.mark.slow
def test_random_buttons_are_reproducible_and_land_in_the_url():
    first = []
    for _ in range(2):
        at = irreps_page(section="Outer product")
        at.button(key="irreps_random_vectors_outer").click().run()
        first.append((at.query_params["a"], at.query_params["b"]))
    assert first[0] == first[1]
    a, b = random_vectors(1)
    assert first[0] == (",".join(f"{x:g}" for x in a), ",".join(f"{x:g}" for x in b))
    dec = decompose_outer_product(a, b)
    assert np.abs(table(at, "irreps_components_symmetric_traceless")["value"].to_numpy()
                  - dec.symmetric_traceless.components.numpy()).max() < TOL
    show_section(at, "Rotate & reflect")
    at.button(key="irreps_random_rotation_rotate").click().run()
    assert at.query_params["rot"] == ",".join(str(x) for x in random_euler_degrees(2))
    at.button(key="irreps_identity_rotate").click().run()
    assert at.query_params["rot"] == "0,0,0" and at.query_params["inv"] == "0"
    assert np.abs(figure(at, "irreps_R_heatmap")["data"][0]["z"] - np.eye(3)).max() == 0


def test_settings_survive_a_visit_to_the_home_page():
    at = irreps_page(section="Clebsch–Gordan", l1="3", l2="2", L="1")
    at.switch_page("app_pages/home.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.query_params["l1"] == "3" and at.query_params["L"] == "1"
