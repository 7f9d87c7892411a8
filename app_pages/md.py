"""MD lab: run molecular dynamics with a model in the background, see whether it holds (energy,
temperature, h(r) against a GFN2-xTB MD, the stability verdict), watch the trajectory play, and
explore the frames of a trajectory or a data set to find the structures where a model fails.

The page never simulates: "Launch" writes a queued ``md`` run into the run store and makes sure a
launcher serves the CPU queue (``equiv.jobs``); everything shown is read back from the run store
and the files the job wrote. Layout only; the work is in ``equiv.md``, ``equiv.jobs.md`` and
``equiv.views.md_*``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path

import numpy as np
import streamlit as st

from app_pages.store_status import store_problem
from equiv.data import available_datasets, load_dataset
from equiv.errors import EquivError, RunError
from equiv.jobs.launcher import ensure_launcher
from equiv.jobs.md import MD_KIND, create_md_run, read_series
from equiv.md import MDConfig, load_md_model
from equiv.md.reference import AUTO_REFERENCE_S, reference_seconds_estimate, xtb_single_points
from equiv.md.simulate import prepare_md, start_molecule
from equiv.models.pretrained import pretrained_models
from equiv.molecules import LIBRARY
from equiv.parsing import parse_run_id
from equiv.runs import ACTIVE_STATUSES, RunStore
from equiv.views.md_explorer import dataset_table, trajectory_table
from equiv.views.md_figures import energy_figure, frame_map_figure, hr_figure, md_status_line, verdict_text
from equiv.views.md_scene import frame_scene, trajectory_scene
from equiv.views.md_settings import PAGE_MAX_STEPS, MDForm, library_key, md_query, parse_md_query
from equiv.views.text import escape_markdown
from equiv.widgets import local_3dmol_installed, molecule_viewer

POLL_S = 1.0


def _run_id(text: str) -> int | None:
    """A run id from a link (plain digits only), or ``None``."""
    try:
        return parse_run_id(text)
    except EquivError:
        return None

FAMILIES = {"nequip": "NequIP", "gvp": "GVP-GNN", "mlp": "MLP (trained aligned; not equivariant)",
            "mlp-aug": "MLP (rotation-augmented; not equivariant)"}
UNTRAINED = ["nequip", "gvp", "mlp"]
state = st.session_state
try:
    store = RunStore()
    store.list_runs(limit=1)  # a damaged store is found here, not halfway down the page
except RunError as exc:
    st.title("MD lab", anchor=False)
    store_problem(exc)
    st.stop()

st.title("MD lab", anchor=False)
st.caption("Run molecular dynamics with a model and see whether it holds: a low force error does not make "
           "a usable potential. Stability rule: a bond (from the start geometry) stretched beyond 1.5× its start "
           "length, two atoms closer than 0.5 Å, or anything non-finite ends the run as unstable.")
if not local_3dmol_installed():
    st.warning("3Dmol.js is not installed next to the viewer (run `make setup`); the viewer loads it from a CDN.")

# -- the form, filled from the link once per session ------------------------------------------------
if "md_link_read" not in state:
    state.md_link_read = True
    link_form, state.md_link_problems = parse_md_query(st.query_params.to_dict())
    state.md_molecule = link_form.molecule
    spec = link_form.model_spec
    kind, _, rest = spec.partition(":")
    state.md_source = {"pretrained": "pretrained", "run": "training run", "untrained": "untrained"}.get(kind, "pretrained")
    if kind == "pretrained":
        state.md_family = rest.partition(":")[2] or "nequip"
    elif kind == "run":
        state.md_train_run = _run_id(rest)
    elif kind == "untrained":
        state.md_untrained = rest if rest in UNTRAINED else "nequip"
    for field in ("ensemble", "temperature", "timestep", "steps", "seed"):
        state[f"md_{field}"] = getattr(link_form, field)
    if _run_id(st.query_params.get("show", "")) is not None:
        state.md_watch = _run_id(st.query_params["show"])
    state.md_nonce = secrets.token_hex(8)
for problem in state.get("md_link_problems", []):
    st.warning(f"Link: {escape_markdown(problem)}")

tab_sim, tab_explore = st.tabs(["Simulate", "Structure explorer"])

finished_training = [r for r in store.list_runs(status="finished") if r.kind in ("train", "sweep_member")
                     and r.checkpoint_path and Path(r.checkpoint_path).is_file()]

with tab_sim:
    c1, c2, c3 = st.columns(3)
    molecule = c1.selectbox("Molecule", list(LIBRARY), key="md_molecule",
                            format_func=lambda k: LIBRARY[k].title)
    source = c2.radio("Model", ["pretrained", "training run", "untrained"], key="md_source", horizontal=True)
    model_spec = None
    if source == "pretrained":
        families = pretrained_models().get(molecule, [])
        if not families:
            c3.warning(f"No pretrained model ships for {molecule}.")
        else:
            state.setdefault("md_family", "nequip")
            if state.md_family not in families:
                state.md_family = families[0]
            family = c3.selectbox("Architecture", families, key="md_family", format_func=lambda f: FAMILIES.get(f, f))
            model_spec = f"pretrained:{molecule}:{family}"
    elif source == "training run":
        ids = [r.id for r in finished_training]
        if not ids:
            c3.info("No finished training run with a checkpoint yet (train one in the training lab).")
        else:
            by_id = {r.id: r for r in finished_training}
            if state.get("md_train_run") not in ids:
                state.md_train_run = ids[0]
            run_id = c3.selectbox("Training run", ids, key="md_train_run",
                                  format_func=lambda i: f"run {i}: {by_id[i].model} on {by_id[i].molecule}")
            model_spec = f"run:{run_id}"
            trained_on = library_key(by_id[run_id].molecule or "")
            if trained_on and trained_on != molecule:
                c3.caption(f"Trained on {trained_on}, simulating {molecule}.")
    else:
        name = c3.selectbox("Architecture", UNTRAINED, key="md_untrained", format_func=lambda f: FAMILIES.get(f, f))
        model_spec = f"untrained:{name}"
        c3.warning("Untrained (random weights): expect the molecule to fall apart.")
    d1, d2, d3, d4, d5 = st.columns(5)
    ensemble = d1.selectbox("Ensemble", ["nve", "langevin"], key="md_ensemble",
                            format_func=lambda e: {"nve": "NVE (velocity Verlet)", "langevin": "Langevin (NVT)"}[e])
    temperature = d2.number_input("Temperature (K)", 1.0, 5000.0, step=50.0, key="md_temperature")
    timestep = d3.number_input("Time step (fs)", 0.05, 5.0, step=0.25, key="md_timestep")
    steps = d4.number_input("Steps", 1, PAGE_MAX_STEPS, step=500, key="md_steps")
    seed = d5.number_input("Seed", 0, 2**31 - 1, key="md_seed")
    n_atoms = start_molecule(molecule, None).n_atoms
    ref_s = reference_seconds_estimate(n_atoms, int(steps))
    took = "under a second" if ref_s < 1 else f"about {ref_s:.0f} s"
    with_reference = st.checkbox(f"Compare h(r) with a GFN2-xTB MD at the same settings ({took} on this machine; "
                                 "cached for the next run with the same settings)", value=ref_s <= AUTO_REFERENCE_S,
                                 key="md_reference")
    form = MDForm(model=model_spec or "", molecule=molecule, ensemble=ensemble, temperature=float(temperature),
                  timestep=float(timestep), steps=int(steps), seed=int(seed))
    query = md_query(form)
    if state.get("md_watch") is not None:
        query["show"] = str(state.md_watch)
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)

    if st.button("Launch", type="primary", icon=":material/play_arrow:", disabled=model_spec is None, key="md_launch"):
        try:
            config = MDConfig(model=model_spec, molecule=molecule, ensemble=ensemble, temperature_K=float(temperature),
                              timestep_fs=float(timestep), steps=int(steps), seed=int(seed))
            prepare_md(config, store_path=store.path)
            key = hashlib.sha256(json.dumps([state.md_nonce, config.to_dict(), with_reference]).encode()).hexdigest()[:24]
            run = create_md_run(config, store, reference="always" if with_reference else "none", idempotency_key=key)
            ensure_launcher("cpu", store)
            state.md_watch = run.id
            state.md_nonce = secrets.token_hex(8)
            st.rerun()
        except EquivError as exc:
            st.error(escape_markdown(str(exc)))


@st.cache_data(max_entries=8, show_spinner=False)
def load_trajectory(path: str, mtime: float) -> dict:
    """The kept frames of a trajectory file and the series written beside it."""
    from ase.io import read

    frames = read(path, index=":", format="extxyz")
    series = read_series(path)
    return {
        "numbers": frames[0].numbers.tolist(),
        "positions": np.array([a.positions for a in frames]),
        "forces": np.array([a.get_forces() for a in frames]),
        "energies": np.array([a.get_potential_energy() for a in frames]),
        "times": np.array([a.info.get("time_fs", 0.0) for a in frames]),
        "temperatures": np.array([a.info.get("temperature_K", np.nan) for a in frames]),
        "series": series,
    }


@st.cache_data(max_entries=4, show_spinner=False)
def xtb_forces(numbers: tuple[int, ...], positions: np.ndarray) -> np.ndarray:
    """GFN2-xTB forces of trajectory frames (the explorer's reference)."""
    return xtb_single_points(numbers, positions)[1]


@st.cache_data(max_entries=4, show_spinner="Evaluating the model on the data set…")
def explore_dataset(spec: str, model_spec: str):
    """The explorer's frame table of a data set under a model."""
    ds = load_dataset(spec)
    model = load_md_model(model_spec, numbers=ds.numbers, store_path=store.path).model
    return dataset_table(model, ds.numbers, ds.positions, ds.energies, ds.forces)


def trajectory_of(run) -> dict | None:
    path = (run.result or {}).get("trajectory")
    if not path or not Path(path).is_file():
        return None
    return load_trajectory(path, Path(path).stat().st_mtime)


def show_result(run) -> None:
    data = trajectory_of(run)
    summary = run.result or {}
    (st.success if summary.get("stable") else st.error)(verdict_text(summary))
    for w in summary.get("warnings", []):
        st.caption(f"⚠ {escape_markdown(w)}")
    if data is None:
        st.warning("The trajectory file of this run is not on this machine any more.")
        return
    s = data["series"]
    arrows = st.checkbox("Force arrows", value=False, key="md_arrows")
    scene = trajectory_scene(data["numbers"], data["positions"], forces=data["forces"] if arrows else None,
                             times_fs=data["times"], energies_ev=data["energies"],
                             title=f"{run.molecule} · {run.model}", subtitle=f"MD run {run.id}")
    molecule_viewer(scene, key="md_viewer")
    left, right = st.columns(2)
    left.plotly_chart(energy_figure(s["time_fs"], s["potential_ev"], s["kinetic_ev"], s["temperature_k"],
                                    summary.get("unstable_at_fs")), width="stretch", key="md_energy")
    right.plotly_chart(hr_figure(s["hr_r"], s["hr"], s.get("hr_reference"), summary.get("hr_error")),
                       width="stretch", key="md_hr")
    if s.get("hr_reference") is None:
        right.caption("No xTB reference for this run (tick the h(r) box before launching).")
    path = Path(summary["trajectory"])
    st.download_button("Trajectory (extxyz)", path.read_bytes(), file_name=f"md-run-{run.id}.extxyz",
                       mime="chemical/x-extxyz", icon=":material/download:", key="md_download")


watched = state.get("md_watch")
if watched is None:
    mine = store.list_runs(kind=MD_KIND, limit=1)
    watched = mine[0].id if mine else None
active_md = [r.id for r in store.list_runs(status=ACTIVE_STATUSES, kind=MD_KIND)]


@st.fragment(run_every=POLL_S if active_md else None)
def live_view() -> None:
    now_active = [r.id for r in store.list_runs(status=ACTIVE_STATUSES, kind=MD_KIND)]
    if sorted(now_active) != sorted(active_md):
        st.rerun()
    if watched is None:
        st.info("No MD run yet: launch one above.")
        return
    try:
        run = store.get(watched)
    except EquivError:
        st.warning(f"MD run {watched} is not in this machine's run store.")
        return
    if run.kind != MD_KIND:
        st.warning(f"Run {watched} is not an MD run.")
        return
    st.subheader(escape_markdown(md_status_line(run, store.queue_position(run.id) if run.status == "queued" else None)),
                 anchor=False)
    if run.active:
        bar, cancel = st.columns([5, 1])
        bar.progress(min(1.0, run.progress or 0.0), text=escape_markdown(run.message or "waiting to start"))
        if run.cancel_requested:
            cancel.caption("stopping…")
        elif cancel.button("Cancel", icon=":material/stop:", key=f"md_cancel_{run.id}"):
            store.request_cancel(run.id)
            st.rerun(scope="fragment")
    elif run.status == "finished":
        show_result(run)
    elif run.status == "failed":
        st.error(f"MD run {run.id} failed: {escape_markdown(run.error or 'no reason recorded')}")
    else:
        st.info(f"MD run {run.id} was cancelled.")


with tab_sim:
    live_view()

# -- structure explorer ----------------------------------------------------------------------------
with tab_explore:
    st.markdown("A map of the frames of a trajectory or a data set: pick the axes and the colour, click a point "
                "(or choose a frame) to see that structure with its forces.")
    kind = st.radio("Frames of", ["an MD run", "a data set"], horizontal=True, key="ex_kind")
    table = None
    if kind == "an MD run":
        md_runs = [r for r in store.list_runs(status="finished", kind=MD_KIND) if trajectory_of(r) is not None]
        if not md_runs:
            st.info("No finished MD run yet: launch one in the Simulate tab.")
        else:
            by_id = {r.id: r for r in md_runs}
            rid = st.selectbox("MD run", list(by_id), key="ex_run",
                               format_func=lambda i: f"run {i}: {by_id[i].model} on {by_id[i].molecule}")
            data = trajectory_of(by_id[rid])
            with_xtb = st.checkbox(f"Force error against GFN2-xTB (single points on {len(data['positions'])} frames)",
                                   key="ex_xtb")
            ref_forces = None
            if with_xtb:
                with st.spinner("xTB single points…"):
                    ref_forces = xtb_forces(tuple(data["numbers"]), data["positions"])
            table = trajectory_table(data["numbers"], data["positions"], data["forces"], times_fs=data["times"],
                                     potential_ev=data["energies"], temperature_k=data["temperatures"],
                                     reference_forces=ref_forces)
            title = f"MD run {rid}"
    else:
        entries = available_datasets()
        if not entries:
            st.info("No data set on this machine yet (`equiv data generate --molecule ethanol`).")
        else:
            specs = [e.spec for e in entries]
            spec = st.selectbox("Data set", specs, key="ex_data")
            entry = entries[specs.index(spec)]
            key = library_key(entry.molecule or "")
            families = pretrained_models().get(key or "", [])
            options = [f"pretrained:{key}:{f}" for f in families] + [f"run:{r.id}" for r in finished_training
                                                                     if library_key(r.molecule or "") == key]
            if not options:
                st.info("No trained model for this molecule.")
            else:
                spec_model = st.selectbox("Model", options, key="ex_model")
                try:
                    table = explore_dataset(spec, spec_model)
                    title = f"{spec} · {spec_model}"
                except EquivError as exc:
                    st.error(escape_markdown(str(exc)))
    if table is not None:
        names = list(table.properties)
        a, b, c = st.columns(3)
        x_name = a.selectbox("x axis", names, index=0, key="ex_x")
        y_name = b.selectbox("y axis", names, index=min(1, len(names) - 1), key="ex_y")
        c_name = c.selectbox("colour", names, index=len(names) - 1, key="ex_c")
        selected = int(state.get("ex_frame", 0)) if int(state.get("ex_frame", 0)) < table.n_frames else 0
        fig = frame_map_figure(table.properties[x_name], table.properties[y_name], table.properties[c_name],
                               x_label=x_name, y_label=y_name, color_label=c_name, selected=selected)
        event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box"), key="ex_map", width="stretch")
        points = (event or {}).get("selection", {}).get("points", []) if event else []
        picked = [p.get("customdata") for p in points if p.get("curve_number", p.get("curveNumber", 0)) == 0]
        picked = [int(p[0] if isinstance(p, (list, tuple)) else p) for p in picked if p is not None]
        # A chart keeps its selection across reruns: act on a new selection only, so that a frame
        # typed below is not overridden by the old click.
        if picked and picked != state.get("ex_last_pick") and picked[0] != selected:
            state.ex_last_pick = picked
            state.ex_frame = picked[0]
            st.rerun()
        state.ex_last_pick = picked
        frame = st.number_input("Frame", 0, table.n_frames - 1, value=selected, key="ex_frame_input")
        if frame != selected:
            state.ex_frame = int(frame)
            st.rerun()
        stats = [f"{n}: {table.properties[n][selected]:.4g}" for n in names]
        molecule_viewer(frame_scene(table.numbers, table.positions[selected], forces=table.model_forces[selected]
                                    if table.model_forces is not None else None,
                                    reference_forces=None if table.reference_forces is None else table.reference_forces[selected],
                                    title=title, subtitle=f"frame {int(table.frame_ids[selected])}", stats=stats),
                        key="ex_viewer")
