"""The MD page through AppTest: deep links, a finished MD run's verdict, plots, trajectory viewer
and download, launching a run, and the structure explorer's map linked to the 3D view."""

from __future__ import annotations

from equiv.data import default_xtb_path, generate_xtb_dataset, write_dataset_npz
from equiv.jobs.md import create_md_run, execute_md
from equiv.md import MDConfig
from equiv.runs import RunStore
from equiv.views.md_settings import MDForm, md_query, parse_md_query
from tests.apptest_tools import component_args, figure, open_page, shown
from tests.jobs_tools import background_store  # noqa: F401  (fixture)

PAGE = "app_pages/md.py"


def finished_md_run(store: RunStore, **changes) -> int:
    config = MDConfig(**{**dict(model="pretrained:water:gvp", molecule="water", steps=40, stride=4), **changes})
    run = create_md_run(config, store, reference="always")
    execute_md(run.id, store)
    return run.id


def test_md_links_read_as_before_and_round_trip():
    old = {"model": "run:12", "molecule": "salicylic", "ensemble": "langevin", "temperature": "500",
           "timestep": "0.25", "steps": "1000", "seed": "3"}
    form, problems = parse_md_query(old)
    assert problems == [] and form == MDForm("run:12", "salicylic_acid", "langevin", 500.0, 0.25, 1000, 3)
    assert md_query(form) == old | {"molecule": "salicylic_acid"}  # the rMD17 name becomes the library key
    odd = MDForm(model="untrained:mlp", temperature=0.1 + 0.2 + 300, timestep=0.1 + 0.2)
    assert parse_md_query(md_query(odd)) == (odd, [])
    form, problems = parse_md_query({"model": "gpt", "steps": "0", "temperature": "nan"})
    assert form == MDForm() and [p.split(":")[0] for p in problems] == [
        "link parameter model=gpt", "link parameter temperature=nan", "link parameter steps=0"]
    assert problems[-1].endswith("; using 2000")


def test_md_page_shows_a_finished_run_and_explores_its_frames():
    store = RunStore()
    stable = finished_md_run(store)
    at = open_page(PAGE, {"model": "pretrained:water:gvp", "molecule": "water", "steps": "40", "show": str(stable)})
    assert not at.exception, at.exception
    assert at.selectbox(key="md_molecule").value == "water" and at.number_input(key="md_steps").value == 40
    assert at.selectbox(key="md_family").value == "gvp"
    assert any(t.startswith("Stable: the molecule held together for all 40 steps") for t in shown(at, "success"))
    energy = figure(at, "md_energy")
    assert {t["name"] for t in energy["data"]} >= {"kinetic energy", "potential energy", "total energy"}
    hr = figure(at, "md_hr")
    assert [t["name"] for t in hr["data"]] == ["model MD", "GFN2-xTB MD (reference)"]
    scene = component_args(at, "md_viewer")["scene"]
    assert len(scene["frames"]) == 11 and scene["elements"] == ["O", "H", "H"]
    assert at.checkbox(key="md_arrows").value is False
    at.checkbox(key="md_arrows").check().run()
    assert component_args(at, "md_viewer")["scene"]["frames"][3]["panels"]["md"]["arrows"]
    # structure explorer: the map of the run's frames and the selected frame in 3D
    at.checkbox(key="ex_xtb").check().run()
    assert not at.exception, at.exception
    fmap = figure(at, "ex_map")
    assert len(fmap["data"][0]["x"]) == 11
    assert "force MAE vs xTB (meV/Å)" in at.selectbox(key="ex_c").options
    at.number_input(key="ex_frame_input").set_value(7).run()
    view = component_args(at, "ex_viewer")["scene"]
    assert view["panels"][0]["subtitle"] == "frame 7" and view["frames"][0]["panels"]["md"]["overlay"]


def test_md_page_unstable_verdict_and_bad_links():
    store = RunStore()
    bad = finished_md_run(store, model="untrained:mlp", molecule="ethanol", temperature_K=3000, steps=400)
    at = open_page(PAGE, {"show": str(bad), "ensemble": "nose-hoover", "molecule": "caffeine"})
    assert not at.exception, at.exception
    assert any(t.startswith("Unstable after") and "stretched" in t for t in shown(at, "error"))
    warnings = " ".join(shown(at, "warning"))
    assert "link parameter ensemble=nose-hoover: one of nve, langevin; using nve" in warnings
    assert "link parameter molecule=caffeine: one of" in warnings
    # the structure explorer on a data set: the model's per-frame errors against the labels
    ds = generate_xtb_dataset("water", frames=6, stride=2, equilibration_steps=4, seed=1)
    write_dataset_npz(ds, default_xtb_path("water"))
    at.radio(key="ex_kind").set_value("a data set").run()
    assert not at.exception, at.exception
    at.selectbox(key="ex_data").set_value("xtb:water").run()
    assert at.selectbox(key="ex_model").value == "pretrained:water:gvp"
    at.selectbox(key="ex_c").set_value("force MAE (meV/Å)").run()
    fmap = figure(at, "ex_map")
    assert len(fmap["data"][0]["x"]) == 6 and max(fmap["data"][0]["marker"]["color"]) > 0
    view = component_args(at, "ex_viewer")["scene"]
    assert view["elements"] == ["O", "H", "H"] and view["frames"][0]["panels"]["md"]["overlay"]


def test_md_page_launches_a_background_run(background_store):
    at = open_page(PAGE, {"model": "untrained:mlp", "molecule": "water", "steps": "20"})
    assert at.radio(key="md_source").value == "untrained"
    at.checkbox(key="md_reference").uncheck()
    at.button(key="md_launch").click().run()
    assert not at.exception, at.exception
    runs = background_store.list_runs(kind="md")
    assert len(runs) == 1 and runs[0].config["model"] == "untrained:mlp" and runs[0].config["steps"] == 20
    assert at.query_params["show"] == [str(runs[0].id)] or at.query_params["show"] == str(runs[0].id)


def test_runs_page_links_a_finished_run_to_the_md_lab(tmp_path):
    from equiv.models import build_model, save_checkpoint
    from equiv.molecules import load_molecule
    from tests.jobs_tools import finished_run

    store = RunStore()
    checkpoint = save_checkpoint(build_model("gvp", numbers=load_molecule("ethanol").numbers, seed=3,
                                             scalar_channels=4, vector_channels=2), tmp_path / "gvp.pt")
    run = finished_run(store, "gvp", 50, 0, force=80.0, checkpoint=str(checkpoint))
    at = open_page("app_pages/runs.py", {"run": str(run.id)})
    links = [(e.proto.label, e.proto.query_string) for e in at.get("page_link")]
    assert ("Simulate with this model (MD lab)", f"model=run%3A{run.id}&molecule=ethanol") in links, links
    md = open_page(PAGE, {"model": f"run:{run.id}", "molecule": "ethanol"})  # the link's target
    assert not md.exception, md.exception
    assert md.radio(key="md_source").value == "training run" and md.selectbox(key="md_train_run").value == run.id
