"""The rotation lab's numbers, scenes and figures (no browser): deep links, the overlay arrows,
reflections, full turns, feature glyphs, model sources from the run store, and the xTB reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from equiv.errors import EquivError
from equiv.models import build_model, save_checkpoint
from equiv.molecules import load_molecule, molecule_from_smiles
from equiv.o3 import axis_angle_to_matrix, euler_to_matrix, spherical_function
from equiv.runs import RunStore
from equiv.views.rotation_figures import (
    ERROR_FLOOR,
    error_curves,
    error_figure,
    glyph_figure,
    glyph_irreps,
    glyph_surface,
    reference_figure,
)
from equiv.views.rotation_lab import MAX_XTB_ATOMS, compare, evaluate, xtb_outputs
from equiv.views.rotation_models import ModelSource, load_source, model_sources
from equiv.views.rotation_settings import MIRROR, PANELS, RotationSettings, parse_query, random_settings, to_query
from equiv.views.rotation_view import (
    REFERENCE_COLUMNS,
    centred,
    prepare_panel,
    reference_agreement,
    reference_curves,
    rotate,
    table_rows,
    turn,
    turn_frames,
    turn_scene,
)
from equiv.views.scene3d import LONGEST_ARROW, bonds, format_mev
from equiv.views.text import escape_markdown


# -- settings and deep links ----------------------------------------------------------------------


def test_default_link_and_valid_link():
    s, problems = parse_query({})
    assert s == RotationSettings() and problems == []
    s, problems = parse_query({"molecule": "Salicylic Acid", "axis": "1,1,0", "angle": "-45.5", "reflect": "1",
                               "overlay": "0", "spin": "true", "vectors": "atom_vectors", "models": "mlp,gvp,xtb",
                               "page": "ignored"})
    assert problems == []
    assert s.molecule == "salicylic_acid" and s.axis == (1.0, 1.0, 0.0) and s.angle == -45.5
    assert s.reflect and not s.overlay and s.spin and s.vectors == "atom_vectors"
    assert s.models == ("gvp", "mlp", "xtb")  # display order, not link order


@pytest.mark.parametrize("key, value", [
    ("molecule", "caffeine"), ("axis", "0,0,0"), ("axis", "1,2"), ("angle", "abc"), ("angle", "inf"),
    ("angle", "nan"), ("euler", "10,200,0"), ("euler", "10,-1,0"), ("reflect", "maybe"), ("models", "gvp,schnet"),
    ("models", ""), ("vectors", "torques"), ("geometry", "relaxed"), ("scale", "log"),
])
def test_bad_link_values_fall_back_with_a_message(key, value):
    s, problems = parse_query({key: value, "molecule" if key != "molecule" else "axis": "ethanol" if key != "molecule" else "x"})
    assert len(problems) == 1 and problems[0].startswith(f"link parameter {key}=")
    assert "using" in problems[0]
    default = RotationSettings()
    if key == "euler":
        assert s.mode == "axis"
    elif key != "molecule":
        assert getattr(s, key if key != "models" else "models") == getattr(default, key)


def test_link_angles_wrap_like_every_other_page():
    """One angle rule (equiv.links): 400° is 40°, not a rejected value; only β is bounded."""
    s, problems = parse_query({"angle": "400"})
    assert problems == [] and s.angle == 40.0 and s.mode == "axis"
    assert parse_query({"angle": "-190"})[0].angle == 170.0
    s, problems = parse_query({"euler": "370,45,-190"})
    assert problems == [] and s.mode == "euler" and s.euler == (10.0, 45.0, 170.0)
    _, problems = parse_query({"euler": "0,181,0"})
    assert problems == ["link parameter euler=0,181,0: three ZYZ Euler angles α,β,γ in degrees "
                        "(α, γ wrap into -180 … 180; β from 0 to 180); using axis–angle"]


def test_a_link_written_before_reads_the_same():
    old = {"molecule": "uracil", "axis": "1,2,-0.5", "angle": "33", "reflect": "1", "models": "nequip,nequip-so3"}
    s, problems = parse_query(old)
    assert problems == [] and to_query(s) == old
    assert to_query(RotationSettings(axis=(2.0, 2.0, 2.0)))["axis"] == "xyz"  # a preset's direction keeps its name
    assert parse_query({"axis": "Y"})[0].axis == (0.0, 1.0, 0.0)


@pytest.mark.parametrize("settings", [
    RotationSettings(),
    RotationSettings(angle=0.1 + 0.2, axis=(0.1, 0.2, 0.3)),  # floats read back exactly
    RotationSettings(molecule="uracil", axis=(1.0, 2.0, -0.5), angle=33.0, reflect=True, models=("nequip", "nequip-so3")),
    RotationSettings(mode="euler", axis=(1.0, 1.0, 1.0), euler=(10.0, 20.0, -30.0), overlay=False, spin=True,
                     vectors="atom_vectors"),
])
def test_links_round_trip(settings):
    back, problems = parse_query(to_query(settings))
    assert problems == [] and back == settings


def test_transformations():
    s = RotationSettings(axis=(0.0, 1.0, 0.0), angle=30.0)
    expected = axis_angle_to_matrix(torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), math.radians(30))
    assert torch.allclose(s.matrix(), expected, atol=1e-15)
    e = RotationSettings(mode="euler", euler=(10.0, 20.0, 30.0))
    assert torch.allclose(e.matrix(), euler_to_matrix(*(math.radians(v) for v in (10, 20, 30))), atol=1e-15)
    m = s.replace(reflect=True).matrix()
    assert torch.det(m) == pytest.approx(-1.0) and torch.allclose(m, torch.from_numpy(MIRROR) @ expected)


def test_random_rotation_is_whole_degrees_in_the_current_mode():
    g = torch.Generator().manual_seed(3)
    a = random_settings(RotationSettings(), g)
    assert a.angle == round(a.angle) and 0 <= a.angle <= 180 and a.axis != (0.0, 0.0, 1.0)
    e = random_settings(RotationSettings(mode="euler"), g)
    assert all(v == round(v) for v in e.euler) and 0 <= e.euler[1] <= 180
    assert parse_query(to_query(e))[0] == e


def test_untrusted_text_is_escaped_for_markdown():
    shown = escape_markdown("**x** [a](javascript:1) $y$ :red[z]\nnext")
    assert "\n" not in shown
    unescaped = [c for i, c in enumerate(shown) if c in "*[]()$:" and (i == 0 or shown[i - 1] != "\\")]
    assert unescaped == []
    assert shown.replace("\\", "") == "**x** [a](javascript:1) $y$ :red[z] next"


# -- the scene: overlay arrows ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def aspirin_panels():
    mol = load_molecule("aspirin")
    ids = ["gvp", "nequip", "nequip-so3", "mlp", "xtb"]
    return mol, [prepare_panel(p, None if p == "xtb" else model_sources(p, None)[0], mol) for p in ids]


def _arrow_gap(scene: dict, panel: str, frame: int = 0) -> float:
    pf = scene["frames"][frame]["panels"][panel]
    a, b = np.array(pf["arrows"]), np.array(pf["overlay"])
    assert a.shape == b.shape == (len(scene["elements"]), 6)
    return float(np.abs(a - b).max())


def test_overlay_arrows_coincide_for_equivariant_models_and_not_for_the_mlp(aspirin_panels):
    mol, panels = aspirin_panels
    settings = RotationSettings(axis=(1.0, 2.0, 3.0), angle=73.0, models=tuple(p.id for p in panels))
    result = rotate(mol, panels, settings)
    scene = json.loads(json.dumps(result.scene))  # what the browser receives
    for pid in ("gvp", "nequip", "nequip-so3", "xtb"):
        assert _arrow_gap(scene, pid) < 2e-4, pid  # Å: rounding to 4 decimals
    assert _arrow_gap(scene, "mlp") > 0.3
    # Arrows start on the turned atoms; the longest f(x) arrow is LONGEST_ARROW long.
    pos = centred(mol).positions @ result.transform.T
    assert np.allclose(np.array(scene["frames"][0]["positions"]), pos, atol=1e-4)
    arrows = np.array(scene["frames"][0]["panels"]["gvp"]["overlay"])
    assert np.allclose(arrows[:, :3], pos, atol=1e-4)
    assert np.linalg.norm(arrows[:, 3:] - arrows[:, :3], axis=1).max() == pytest.approx(LONGEST_ARROW, abs=1e-3)
    verdicts = {pid: scene["frames"][0]["panels"][pid]["verdict"] for pid in ("gvp", "nequip", "mlp", "xtb")}
    assert verdicts == {"gvp": "equivariant", "nequip": "equivariant", "mlp": "not equivariant", "xtb": "reference"}


def test_reflection_separates_o3_from_so3(aspirin_panels):
    mol, panels = aspirin_panels
    result = rotate(mol, panels, RotationSettings(axis=(0.0, 0.0, 1.0), angle=40.0, reflect=True))
    assert np.linalg.det(result.transform) == pytest.approx(-1.0)
    err = {pid: c.force_error for pid, c in result.comparisons.items()}
    assert err["gvp"] < 1e-10 and err["nequip"] < 1e-10  # O(3): mirror images get mirrored forces
    assert err["nequip-so3"] > 1e-4  # aspirin is not planar: the SO(3)-only model tells it from its mirror image
    assert err["mlp"] > 0.1
    assert abs(result.comparisons["nequip-so3"].energy_change_mev) > 1e-3
    assert abs(result.comparisons["nequip"].energy_change_mev) < 1e-8
    rows = {r["panel"]: r["verdict"] for r in table_rows(panels, result.comparisons)}
    assert rows["NequIP, SO(3) only"] == "not equivariant" and rows["NequIP"] == "equivariant"


def test_identity_is_not_called_equivariant(aspirin_panels):
    mol, panels = aspirin_panels
    result = rotate(mol, panels, RotationSettings(angle=0.0))
    assert {pf["verdict"] for pf in result.scene["frames"][0]["panels"].values()} == {"not turned yet"}
    assert {r["verdict"] for r in table_rows(panels, result.comparisons)} == {"not turned yet"}


def test_atom_vectors_overlay(aspirin_panels):
    mol, panels = aspirin_panels
    scene = rotate(mol, panels, RotationSettings(angle=100.0, axis=(1.0, 0.0, 0.0), vectors="atom_vectors")).scene
    assert _arrow_gap(scene, "gvp") < 2e-4 and _arrow_gap(scene, "nequip") < 2e-4
    assert _arrow_gap(scene, "mlp") > 0.3
    xtb = next(p for p in scene["panels"] if p["id"] == "xtb")
    assert "forces" in xtb["subtitle"]  # the reference has no atom vectors: it keeps showing forces


def test_hidden_overlay_sends_no_second_arrows(aspirin_panels):
    mol, panels = aspirin_panels
    scene = rotate(mol, panels, RotationSettings(angle=20.0, overlay=False)).scene
    assert all(not pf["overlay"] for pf in scene["frames"][0]["panels"].values())
    assert len(scene["legend"]) == 1


# -- full turns: the spin and the error plot --------------------------------------------------------


def test_turn_frames_start_at_the_current_rotation():
    mol = load_molecule("ethanol")
    start = axis_angle_to_matrix([1.0, 0, 0], 0.3).numpy()
    angles, g, pos = turn_frames(mol, (0, 0, 1), start, True, 12)
    assert angles.tolist() == [30.0 * k for k in range(12)]
    assert np.allclose(g[0], MIRROR @ start) and np.allclose(np.linalg.det(g), -1)
    assert np.allclose(pos[3], centred(mol).positions @ g[3].T)


def test_spin_scene_and_error_curves(aspirin_panels):
    mol, panels = aspirin_panels
    models = [p for p in panels if p.id in ("gvp", "nequip", "mlp")]
    result = turn(mol, models, (0.0, 1.0, 0.0), np.eye(3), False, 12)
    curves = error_curves(result)
    assert set(curves) == {"gvp", "nequip", "mlp"}
    angles, errors = curves["gvp"]
    assert angles.tolist() == [30.0 * k for k in range(1, 12)]  # the identity (0°) is left out
    assert errors.max() < 1e-10 and curves["nequip"][1].max() < 1e-10 and errors.min() >= ERROR_FLOOR
    assert curves["mlp"][1].min() > 1e-2
    fig = error_figure(result, "y", current_angle=90.0)
    assert fig.layout.yaxis.type == "log" and len(fig.data) == 3
    scene = turn_scene(mol, models, result, RotationSettings(axis=(0.0, 1.0, 0.0), spin=True), start_frame=14)
    assert len(scene["frames"]) == 12 and scene["start_frame"] == 2
    for k in (1, 5):
        assert _arrow_gap(scene, "nequip", k) < 2e-4 and _arrow_gap(scene, "mlp", k) > 0.3
    energies = [float(f["panels"]["mlp"]["stats"][0].split()[2]) for f in scene["frames"]]
    assert max(energies) - min(energies) > 1e-3  # the MLP's energy changes as the molecule turns
    assert json.loads(json.dumps(scene)) == scene


def test_xtb_is_skipped_over_the_spin_budget(aspirin_panels):
    mol, panels = aspirin_panels
    xtb = next(p for p in panels if p.id == "xtb")
    slow = type(xtb)(**{**xtb.__dict__, "seconds": 1.0})
    result = turn(mol, [slow], (0, 0, 1), np.eye(3), False, 36)
    assert "xtb" not in result.comparisons and "not computed" in result.notes["xtb"]


# -- feature glyphs ----------------------------------------------------------------------------------


def test_glyphs_turn_with_the_molecule(aspirin_panels):
    mol, panels = aspirin_panels
    nequip = next(p for p in panels if p.id == "nequip")
    R = axis_angle_to_matrix([1.0, -2.0, 0.5], 1.1)
    turned = rotate(mol, [nequip], RotationSettings(axis=(1.0, -2.0, 0.5), angle=math.degrees(1.1), models=("nequip",)))
    features = turned.comparisons["nequip"].rotated.features
    assert glyph_irreps(features) == ["0e", "1o", "2e"]
    directions = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for name in ("1o", "2e"):
        l = int(name[0])
        h_turned = torch.from_numpy(features[name][4, 7])
        h_base = torch.from_numpy(nequip.base.features[name][4, 7])
        # The glyph of the turned molecule at R r̂ equals the original glyph at r̂.
        assert torch.allclose(spherical_function(l, h_turned, directions @ R.T), spherical_function(l, h_base, directions),
                              atol=1e-10 * float(h_base.norm()))
    fig = glyph_figure(features, 4, 7, "C5")
    assert [t.type for t in fig.data] == ["surface"] * 3


def test_glyph_surface_of_an_l1_feature_is_two_spheres_along_it():
    pts, f = glyph_surface(np.array([0.0, 0.0, 2.0]))  # e3nn 0.6: l = 1 in (x, y, z) order: along z
    top = np.unravel_index(np.argmax(f), f.shape)
    assert f.max() == pytest.approx(1.0) and pts[top][2] == pytest.approx(1.0, abs=1e-2)


def test_glyph_irreps_of_the_so3_model():
    assert glyph_irreps({"0e": 0, "1e": 0, "2e": 0}) == ["0e", "1e", "2e"]
    assert glyph_irreps({"0e": 0, "1o": 0}) == ["0e", "1o"]


def test_energy_changes_are_never_shown_as_minus_zero():
    assert [format_mev(v) for v in (0.0, -3.5e-13, 2e-4, 217.3094, -0.0125)] == ["0", "-3.5e-13", "+2.0e-04", "+217.309", "-0.013"]


# -- bonds, sources, the reference ------------------------------------------------------------------


@pytest.mark.parametrize("key, n_bonds", [("water", 2), ("ethanol", 8), ("benzene", 12), ("aspirin", 21)])
def test_bonds(key, n_bonds):
    mol = load_molecule(key)
    assert len(bonds(mol.numbers, mol.positions)) == n_bonds


def test_training_runs_become_model_sources(tmp_path):
    mol = load_molecule("ethanol")
    store = RunStore()  # the test's own EQUIV_HOME
    trained = build_model("gvp", numbers=mol.numbers, seed=7)
    path = save_checkpoint(trained, tmp_path / "gvp.pt")
    run = store.create("train", {"model": "gvp", "molecule": "ethanol"})
    store.mark_running(run.id)
    store.finish(run.id, {"checkpoint_path": str(path), "test_metrics": {"force_mae_mev_per_a": 42.0}})
    other = store.create("train", {"model": "nequip-l1", "molecule": "ethanol"})  # not finished: not offered
    assert other.status == "queued"

    # The shipped pretrained checkpoint stays the default; the run comes next.
    gvp = model_sources("gvp", "ethanol")
    assert [s.kind for s in gvp] == ["pretrained", "run", "untrained"]
    assert gvp[1].run_id == run.id and "42.0 meV/Å" in gvp[1].label
    assert [s.kind for s in model_sources("nequip", "ethanol")] == ["pretrained", "untrained"]
    assert [s.kind for s in model_sources("gvp", "water")] == ["pretrained", "untrained"]
    assert [s.kind for s in model_sources("gvp", None)] == ["untrained"]
    loaded = load_source(gvp[1], tuple(mol.numbers))
    for a, b in zip(loaded.state_dict().values(), trained.state_dict().values()):
        assert torch.equal(a, b)


def test_a_checkpoint_that_does_not_fit_gives_a_note(tmp_path):
    water = load_molecule("water")
    path = save_checkpoint(build_model("mlp", numbers=water.numbers), tmp_path / "mlp.pt")
    store = RunStore()
    run = store.create("train", {"model": "mlp", "molecule": "ethanol"})
    store.mark_running(run.id)
    store.finish(run.id, {"checkpoint_path": str(path)})
    source = next(s for s in model_sources("mlp", "ethanol") if s.kind == "run")
    with pytest.raises(EquivError, match="knows the elements H, O"):
        load_source(source, tuple(load_molecule("ethanol").numbers))
    panel = prepare_panel("mlp", source, load_molecule("ethanol"))
    assert not panel.active and "knows the elements H, O" in panel.note
    # Same elements, same atom count, another molecule: the MLP's fixed atom order does not fit.
    mal = load_molecule("malonaldehyde")
    path = save_checkpoint(build_model("mlp", numbers=mal.numbers), tmp_path / "mlp2.pt")
    with pytest.raises(EquivError, match="another order"):
        load_source(ModelSource("mlp", "run", "run 2", str(path)), tuple(load_molecule("ethanol").numbers))


def test_untrained_models_take_any_molecule():
    mol = molecule_from_smiles("ClC(F)Br", name="a chiral halomethane")
    for slot in ("gvp", "nequip", "mlp"):
        panel = prepare_panel(slot, model_sources(slot, None)[0], mol)
        assert panel.active, panel.note
    result = rotate(mol, [prepare_panel("gvp", model_sources("gvp", None)[0], mol)],
                    RotationSettings(angle=50.0, reflect=True, models=("gvp",)))
    assert result.comparisons["gvp"].force_error < 1e-10


def test_xtb_reference_is_equivariant_and_capped():
    water = centred(load_molecule("water"))
    base, seconds = xtb_outputs(water.numbers, water.positions)
    assert seconds < 5 and base.forces.shape == (3, 3)
    g = euler_to_matrix(0.3, 1.2, -0.7).numpy()
    turned, _ = xtb_outputs(water.numbers, water.positions @ g.T)
    c = compare(base, turned, g)
    assert c.force_error < 1e-5 and abs(c.energy_change_mev) < 1e-3
    big = molecule_from_smiles("CCCCCCCCCCC")  # 35 atoms
    assert big.n_atoms > MAX_XTB_ATOMS
    with pytest.raises(EquivError, match=f"up to {MAX_XTB_ATOMS} atoms"):
        xtb_outputs(big.numbers, big.positions)
    panel = prepare_panel("xtb", None, big)
    assert not panel.active and "not computed" in panel.note


def test_evaluate_batches_frames_like_single_calls():
    mol = centred(load_molecule("ethanol"))
    model = build_model("nequip", numbers=mol.numbers, l_max=1, channels=8)
    g = axis_angle_to_matrix([0, 1.0, 1.0], 2.0).numpy()
    batch = evaluate(model, mol.numbers, [mol.positions, mol.positions @ g.T])
    single = evaluate(model, mol.numbers, [mol.positions @ g.T])[0]
    assert np.allclose(batch[1].forces, single.forces, atol=1e-6)
    assert batch[1].energy == pytest.approx(single.energy, abs=1e-5)
    assert set(batch[0].features) == {"0e", "0o", "1e", "1o"}
    assert PANELS[-1] == "xtb"


# -- common arrow scale, agreement with the reference, error against the reference over a turn ------


def test_common_scale_gives_every_force_panel_one_scale(aspirin_panels):
    mol, panels = aspirin_panels
    scales = {}
    for scale in ("panel", "common"):
        scene = rotate(mol, panels, RotationSettings(angle=30.0, scale=scale)).scene
        scales[scale] = {p["id"]: p["scale_text"] for p in scene["panels"]}
    assert len(set(scales["panel"].values())) > 1  # untrained models' forces differ by orders of magnitude
    assert len(set(scales["common"].values())) == 1
    longest = max(float(np.linalg.norm(p.base.forces, axis=1).max()) for p in panels)
    assert scales["common"]["gvp"] == f"arrow scale: longest = {longest:.3g} eV/Å"
    # Atom vectors have no common unit: each panel keeps its own scale.
    vectors = rotate(mol, panels, RotationSettings(angle=30.0, scale="common", vectors="atom_vectors")).scene
    assert len({p["scale_text"] for p in vectors["panels"] if p["id"] != "xtb"}) > 1


def test_agreement_with_the_reference_in_the_table(aspirin_panels):
    mol, panels = aspirin_panels
    result = rotate(mol, panels, RotationSettings(axis=(1.0, 2.0, 3.0), angle=73.0))
    agreement = reference_agreement(result.comparisons)
    assert set(agreement) == {"gvp", "nequip", "nequip-so3", "mlp"}
    f_ref = result.comparisons["xtb"].rotated.forces
    f = result.comparisons["gvp"].rotated.forces
    mae, cos = agreement["gvp"]
    assert mae == pytest.approx(1000 * np.abs(f - f_ref).mean())
    per_atom = (f * f_ref).sum(1) / (np.linalg.norm(f, axis=1) * np.linalg.norm(f_ref, axis=1))
    assert cos == pytest.approx(per_atom.mean()) and -1 <= cos <= 1
    # The reference against itself: zero error, cosine one.
    same = {"xtb": result.comparisons["xtb"], "copy": result.comparisons["xtb"]}
    assert reference_agreement(same)["copy"] == pytest.approx((0.0, 1.0))
    rows = {r["panel"]: r for r in table_rows(panels, result.comparisons)}
    assert rows["GVP-GNN"][REFERENCE_COLUMNS[0]] == pytest.approx(mae)
    assert rows["Reference: GFN2-xTB"][REFERENCE_COLUMNS[0]] is None
    without = table_rows([p for p in panels if p.id != "xtb"], {k: v for k, v in result.comparisons.items() if k != "xtb"})
    assert REFERENCE_COLUMNS[0] not in without[0]


def test_reference_curves_turn_the_reference_exactly(aspirin_panels):
    """The reference forces of frame k are g_k·F(x): the same as GFN2-xTB run on the turned molecule."""
    mol, panels = aspirin_panels
    xtb = next(p for p in panels if p.id == "xtb")
    models = [p for p in panels if p.id in ("gvp", "mlp")]
    result = turn(mol, models, (0.0, 0.0, 1.0), np.eye(3), False, 8)
    curves, zero = reference_curves(result, xtb.base.forces)
    assert set(curves) == {"gvp", "mlp"} and zero.shape == (8,)
    k = 3
    direct, _ = xtb_outputs(centred(mol).numbers, result.positions[k])
    f_k = result.comparisons["gvp"][k].rotated.forces
    assert curves["gvp"][k] == pytest.approx(1000 * np.abs(f_k - direct.forces).mean(), rel=1e-6)
    assert zero[k] == pytest.approx(1000 * np.abs(direct.forces).mean(), rel=1e-6)
    fig = reference_figure(result, xtb.base.forces, "z", current_angle=45.0)
    assert [t.name for t in fig.data] == ["GVP-GNN", "MLP (trained aligned)", "zero forces"]
    assert fig.data[0].x[-1] == 360.0 and fig.data[0].y[-1] == fig.data[0].y[0]  # the turn closes


def test_the_aligned_mlp_fails_for_the_right_reason():
    """The shipped MLP trained on aligned frames, on the ethanol snapshot (which sits in the library
    orientation): against GFN2-xTB it is far better than zero forces at 0°, its training orientation,
    and climbs to about the zero-force error when the molecule is turned. The equivariant NequIP
    stays level."""
    from equiv.molecules import load_snapshot

    mol = load_snapshot("ethanol")
    xtb = prepare_panel("xtb", None, mol)
    models = [prepare_panel(p, model_sources(p, "ethanol")[0], mol) for p in ("nequip", "mlp")]
    assert [p.subtitle for p in models] == ["pretrained (shipped with the app)"] * 2
    result = turn(mol, models, (0.0, 0.0, 1.0), np.eye(3), False, 12)  # 30° steps
    curves, zero = reference_curves(result, xtb.base.forces)
    mlp, nequip = curves["mlp"], curves["nequip"]
    assert mlp[0] < 0.6 * zero[0]
    assert mlp[3] > 0.9 * zero[3] and mlp[6] > 0.9 * zero[6]  # 90° and 180°
    assert nequip.max() < 1.3 * nequip.min() and nequip.max() < 0.5 * zero.min()


def test_turn_outputs_are_kept_per_model_and_equal_a_fresh_evaluation():
    """The server-wide memo of a turn gives each model its own outputs (two untrained NequIPs of
    different seeds on the same frames differ) and exactly what evaluating them again gives."""
    from equiv.views.rotation_view import _turned_outputs, turn_panel

    molecule = load_molecule("ethanol")
    source = ModelSource("nequip", "untrained", "untrained")
    panel_a = prepare_panel("nequip", source, molecule)
    other = build_model("nequip", dtype=torch.float64, seed=7, numbers=tuple(molecule.numbers))
    panel_b = prepare_panel("nequip", source, molecule)
    object.__setattr__(panel_b, "model", other)  # the same frames, another model
    hits = _turned_outputs.cache_info().hits
    a1 = turn_panel(molecule, panel_a, (0, 0, 1), np.eye(3), False, 6)
    a2 = turn_panel(molecule, panel_a, (0, 0, 1), np.eye(3), False, 6)
    b = turn_panel(molecule, panel_b, (0, 0, 1), np.eye(3), False, 6)
    assert _turned_outputs.cache_info().hits == hits + 1  # the second turn of model a only
    _, _, positions = turn_frames(molecule, (0, 0, 1), np.eye(3), False, 6)
    fresh = evaluate(panel_a.model, centred(molecule).numbers, list(positions))
    for got, again, want in zip(a1, a2, fresh):
        assert got.rotated is again.rotated and np.array_equal(got.rotated.forces, want.forces)
    assert not np.allclose(a1[1].rotated.forces, b[1].rotated.forces)


@pytest.mark.slow
def test_serve_preloads_the_rotation_lab_s_default_models_and_turn():
    """python -m equiv.serve (make run) leaves the default models and their turn in the server's
    memos, so the first visitor's rotation lab finds them."""
    from equiv.serve import preload
    from equiv.views.rotation_models import _checkpoint_model
    from equiv.views.rotation_view import _turned_outputs

    _checkpoint_model.cache_clear()
    _turned_outputs.cache_clear()
    preload()
    defaults = RotationSettings()
    shipped = [s for s in defaults.models if s != "xtb" and model_sources(s, defaults.molecule)[0].kind == "pretrained"]
    assert shipped and _checkpoint_model.cache_info().currsize == len(shipped)
    assert _turned_outputs.cache_info().currsize == len([s for s in defaults.models if s != "xtb"])
