"""The rotation lab page through AppTest (real Streamlit, no browser): every library molecule,
controls, deep links, SMILES and uploads. The 3D viewer is a custom component; its arguments (the
scene) are read from the page's element tree."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from equiv.models.pretrained import pretrained_models
from equiv.molecules import LIBRARY, load_molecule, load_snapshot
from equiv.views.rotation_view import REFERENCE_COLUMNS
from tests.apptest_tools import component_args, open_page, texts

PAGE = "app_pages/rotate.py"


def open_rotate(query: dict[str, str] | None = None) -> AppTest:
    at = open_page(PAGE, query, timeout=180)
    assert not at.exception, at.exception
    return at


def viewer_scene(at: AppTest) -> dict:
    """The scene the page sent to the 3D viewer component."""
    return component_args(at, "rotation_lab_viewer")["scene"]


def verdicts(at: AppTest) -> dict[str, str]:
    table = at.dataframe[0].value
    return dict(zip(table["panel"], table["verdict"]))


def query(at: AppTest) -> dict[str, str]:
    return {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}


@pytest.mark.parametrize("key", list(LIBRARY))
def test_page_renders_for_every_library_molecule(key):
    at = open_rotate({"molecule": key, "axis": "xyz", "angle": "77"})
    mol = load_molecule(key)
    scene = viewer_scene(at)
    assert scene["elements"] == mol.symbols and len(scene["frames"]) == 1
    assert [p["id"] for p in scene["panels"]] == ["gvp", "nequip", "mlp", "xtb"]
    got = verdicts(at)
    assert got["GVP-GNN"] == got["NequIP"] == "equivariant"
    assert got["MLP (trained aligned)"] == "not equivariant"
    assert got["Reference: GFN2-xTB"].startswith("reference")
    assert any(f"{mol.formula}, {mol.n_atoms} atoms" in c.replace("\\", "") for c in texts(at, "caption"))
    if not pretrained_models().get(key):
        assert any("untrained models" in i for i in texts(at, "info"))
    if "mlp" not in pretrained_models().get(key, []):  # only some molecules have an aligned MLP: said so
        assert any("no aligned MLP has been trained" in i for i in texts(at, "info"))
    assert any("500 K GFN2-xTB snapshot" in c.replace("\\", "") for c in texts(at, "caption"))  # the default geometry
    assert REFERENCE_COLUMNS[0] in at.dataframe[0].value.columns
    assert not at.error and not at.warning


@pytest.mark.slow
def test_controls_change_the_view_and_the_link():
    at = open_rotate({"molecule": "ethanol"})
    assert set(verdicts(at).values()) == {"not turned yet"}
    before = np.array(viewer_scene(at)["frames"][0]["positions"])
    assert query(at) == {"molecule": "ethanol", "axis": "z", "angle": "0"}

    at.slider(key="rot_angle").set_value(120.0).run()
    after = np.array(viewer_scene(at)["frames"][0]["positions"])
    assert np.abs(after - before).max() > 0.5
    assert query(at)["angle"] == "120" and verdicts(at)["NequIP"] == "equivariant"

    at.selectbox(key="rot_axis").set_value("x").run()
    assert query(at)["axis"] == "x" and "about x" in viewer_scene(at)["transform"]

    at.toggle(key="rot_reflect").set_value(True).run()
    scene = viewer_scene(at)
    assert query(at)["reflect"] == "1" and "mirror" in scene["transform"]

    at.toggle(key="rot_overlay").set_value(False).run()
    assert query(at)["overlay"] == "0" and len(viewer_scene(at)["legend"]) == 1

    at.radio(key="rot_vectors").set_value("atom_vectors").run()
    assert query(at)["vectors"] == "atom_vectors"

    at.multiselect(key="rot_models").set_value(["gvp", "nequip-so3", "mlp"]).run()
    assert [p["id"] for p in viewer_scene(at)["panels"]] == ["gvp", "nequip-so3", "mlp"]
    assert query(at)["models"] == "gvp,nequip-so3,mlp"
    assert verdicts(at)["NequIP, SO(3) only"] == "not equivariant"  # ethanol, mirrored

    at.multiselect(key="rot_models").set_value([]).run()
    assert "Choose at least one panel to show." in texts(at, "info") and not at.exception
    at.multiselect(key="rot_models").set_value(["gvp", "nequip-so3", "mlp"]).run()

    at.radio(key="rot_mode").set_value("euler").run()
    at.slider(key="rot_beta").set_value(60.0).run()
    assert query(at)["euler"] == "0,60,0" and "angle" not in query(at)

    at.toggle(key="rot_spin").set_value(True).run()
    scene = viewer_scene(at)
    assert len(scene["frames"]) == 36 and query(at)["spin"] == "1"

    at.button[0].click().run()  # random rotation
    assert query(at)["euler"] != "0,60,0"
    assert not at.exception and not at.error


def test_random_rotation_in_axis_mode_and_back_to_the_start():
    at = open_rotate({"molecule": "water", "angle": "10"})
    at.button[0].click().run()
    q = query(at)
    assert q["angle"] != "10" and q["axis"] != "z"
    at.button[1].click().run()
    assert query(at)["angle"] == "0"


def test_deep_link_sets_every_control():
    at = open_rotate({"molecule": "uracil", "axis": "1,2,0", "euler": "30,45,-60", "reflect": "1", "overlay": "0",
                      "models": "nequip,mlp", "vectors": "atom_vectors"})
    assert at.selectbox(key="rot_library").value == "uracil"
    assert at.radio(key="rot_mode").value == "euler"
    assert at.selectbox(key="rot_axis").value == "custom" and at.text_input(key="rot_axis_custom").value == "1, 2, 0"
    assert (at.slider(key="rot_alpha").value, at.slider(key="rot_beta").value, at.slider(key="rot_gamma").value) == (30, 45, -60)
    assert at.toggle(key="rot_reflect").value and not at.toggle(key="rot_overlay").value
    assert at.multiselect(key="rot_models").value == ["nequip", "mlp"]
    scene = viewer_scene(at)
    assert [p["id"] for p in scene["panels"]] == ["nequip", "mlp"]
    assert "α = 30°, β = 45°, γ = -60°" in scene["transform"] and "mirror" in scene["transform"]
    assert query(at)["euler"] == "30,45,-60" and query(at)["axis"] == "1,2,0"


def test_bad_deep_link_shows_messages_and_uses_defaults():
    at = open_rotate({"molecule": "caffeine", "angle": "ninety", "models": "gvp,<b>x</b>"})
    warnings = " ".join(texts(at, "warning")).replace("\\", "")
    assert "molecule=caffeine" in warnings and "angle=ninety" in warnings and "models=gvp,<b>x</b>" in warnings
    assert at.selectbox(key="rot_library").value == "aspirin"
    assert query(at) == {"molecule": "aspirin", "axis": "z", "angle": "0"}
    assert viewer_scene(at)["elements"] == load_molecule("aspirin").symbols


def test_an_angle_beyond_180_in_a_link_wraps():
    at = open_rotate({"molecule": "ethanol", "angle": "400"})
    assert not at.warning
    assert at.slider(key="rot_angle").value == 40.0 and query(at)["angle"] == "40"


def test_a_training_run_link_opens_its_checkpoint(tmp_path):
    from equiv.models import build_model, save_checkpoint
    from equiv.runs import RunStore
    from tests.jobs_tools import finished_run

    mol = load_molecule("salicylic_acid")
    path = save_checkpoint(build_model("gvp", numbers=mol.numbers, seed=5), tmp_path / "gvp.pt")
    store = RunStore()
    # An rMD17 run names the molecule as rMD17 does ("salicylic"): the lab finds the library molecule.
    run = finished_run(store, "gvp", 50, 0, force=42.0, data="rmd17:salicylic", level="PBE/def2-SVP",
                       checkpoint=str(path))
    at = open_rotate({"run": str(run.id), "models": "nequip,mlp", "angle": "60"})
    assert at.selectbox(key="rot_library").value == "salicylic_acid"
    assert at.selectbox(key="rot_source_gvp").value == f"training run {run.id} (gvp, test force MAE 42.0 meV/Å)"
    assert at.multiselect(key="rot_models").value == ["gvp", "nequip", "mlp"]  # its panel is shown
    assert query(at)["run"] == str(run.id) and query(at)["molecule"] == "salicylic_acid"
    assert verdicts(at)["GVP-GNN"] == "equivariant" and not at.warning
    unfinished = store.create("train", {"model": "gvp", "data": "xtb:ethanol"}, molecule="ethanol")
    at = open_rotate({"run": f"{unfinished.id},999,abc"})
    warnings = " ".join(texts(at, "warning")).replace("\\", "")
    assert f"run={unfinished.id}: run {unfinished.id} is queued; only finished runs can be shown" in warnings
    assert "run=999: no run 999" in warnings and "run=abc: a run is given by its number" in warnings
    assert "run" not in query(at)


@pytest.mark.slow
def test_invalid_smiles_shows_a_message_and_keeps_the_molecule():
    at = open_rotate({"molecule": "ethanol", "angle": "30"})
    at.radio(key="rot_molecule_source").set_value("SMILES").run()
    at.text_input(key="rot_smiles").set_value("C1CC(")
    at.button[0].click().run()  # the form's submit button comes first in the SMILES view
    errors = " ".join(texts(at, "error")).replace("\\", "")
    assert "could not parse the SMILES string 'C1CC('" in errors and "previous molecule" in errors
    assert viewer_scene(at)["elements"] == load_molecule("ethanol").symbols
    assert verdicts(at)["NequIP"] == "equivariant"

    at.text_input(key="rot_smiles").set_value("OC(=O)C")
    at.button[0].click().run()
    assert not at.error
    scene = viewer_scene(at)
    assert sorted(scene["elements"]) == sorted(["C", "C", "O", "O"] + ["H"] * 4)
    assert "molecule" not in query(at)  # a SMILES molecule has no deep link
    assert any("No trained model fits" in i for i in texts(at, "info"))
    assert verdicts(at)["GVP-GNN"] == "equivariant" and verdicts(at)["MLP (trained aligned)"] == "not equivariant"

    at.radio(key="rot_molecule_source").set_value("library").run()  # back to the library molecule
    assert viewer_scene(at)["elements"] == load_molecule("ethanol").symbols


@pytest.mark.slow
def test_malformed_upload_shows_a_message_and_keeps_the_molecule():
    at = open_rotate({"molecule": "water", "angle": "30"})
    at.radio(key="rot_molecule_source").set_value("file").run()
    at.file_uploader(key="rot_upload").set_value(("broken.xyz", b"3\nwater\nO 0 0\nH 1\n", "chemical/x-xyz")).run()
    errors = " ".join(texts(at, "error")).replace("\\", "")
    assert "could not read 'broken.xyz'" in errors and "previous molecule" in errors
    assert viewer_scene(at)["elements"] == ["O", "H", "H"]
    at.slider(key="rot_angle").set_value(60.0).run()  # the page keeps working; the message stays with the file
    assert at.error and verdicts(at)["GVP-GNN"] == "equivariant"

    name = "**mol** [x](javascript:alert(1)) $y$.xyz"
    xyz = load_molecule("ethanol").to_xyz("<script>alert(1)</script>").encode()
    at.file_uploader(key="rot_upload").set_value((name, xyz, "chemical/x-xyz")).run()
    assert not at.error
    assert sorted(viewer_scene(at)["elements"]) == sorted(load_molecule("ethanol").symbols)
    shown = [c for c in texts(at, "caption") if c.startswith("Showing")][0]
    assert shown.replace("\\", "") == f"Showing file {name}: C2H6O, 9 atoms."
    assert "**mol**" not in shown and "[x](" not in shown  # escaped: the Markdown shows the literal name
    assert "<script>" not in json.dumps(viewer_scene(at))  # titles from files never reach the viewer


def test_geometry_scale_and_mlp_choice_come_from_the_link_and_go_back_into_it():
    at = open_rotate({"molecule": "ethanol", "geometry": "library", "scale": "common", "models": "mlp,mlp-aug,xtb",
                      "angle": "90"})
    assert at.radio(key="rot_geometry").value == "library" and at.toggle(key="rot_common_scale").value
    assert at.multiselect(key="rot_models").value == ["mlp", "mlp-aug", "xtb"]
    q = query(at)
    assert (q["geometry"], q["scale"], q["models"]) == ("library", "common", "mlp,mlp-aug,xtb")
    scene = viewer_scene(at)
    assert [p["title"] for p in scene["panels"]] == ["MLP (trained aligned)", "MLP (rotation-augmented)",
                                                     "Reference: GFN2-xTB"]
    assert len({p["scale_text"] for p in scene["panels"]}) == 1  # one arrow scale
    library = load_molecule("ethanol").centered().positions
    assert np.allclose(viewer_scene(at)["frames"][0]["positions"], library @ _rz(90).T, atol=1e-4)

    at.radio(key="rot_geometry").set_value("snapshot").run()
    snapshot = load_snapshot("ethanol").centered().positions
    assert np.allclose(viewer_scene(at)["frames"][0]["positions"], snapshot @ _rz(90).T, atol=1e-4)
    assert "geometry" not in query(at)  # the default
    at.toggle(key="rot_common_scale").set_value(False).run()
    assert "scale" not in query(at)
    assert len({p["scale_text"] for p in viewer_scene(at)["panels"]}) == 3
    charts = {c.proto.id.rpartition("-")[2]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    reference = charts["rot_reference_plot"]
    assert reference["layout"]["title"]["text"].startswith("Force error against GFN2-xTB")
    assert [t["name"] for t in reference["data"]] == ["MLP (trained aligned)", "MLP (rotation-augmented)", "zero forces"]
    assert not at.error and not at.exception


def test_bad_geometry_and_scale_links_fall_back():
    at = open_rotate({"molecule": "water", "geometry": "minimum", "scale": "big"})
    warnings = " ".join(texts(at, "warning")).replace("\\", "")
    assert "geometry=minimum: one of snapshot, library; using snapshot" in warnings and "scale=big" in warnings
    assert at.radio(key="rot_geometry").value == "snapshot" and not at.toggle(key="rot_common_scale").value


def _rz(degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
