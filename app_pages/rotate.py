"""Rotation lab: turn a molecule and watch GVP's and NequIP's outputs turn with it, next to an MLP.

Widgets and layout only; the numbers, scenes and figures come from ``equiv.views``.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from equiv.errors import EquivError
from equiv.molecules import (
    LIBRARY,
    SUPPORTED_SUFFIXES,
    Molecule,
    molecule_from_smiles,
    read_molecule_bytes,
)
from equiv.parsing import parse_run_ids
from equiv.views.rotation_figures import error_figure, glyph_figure, glyph_irreps, reference_figure
from equiv.views.rotation_lab import MAX_MODEL_ATOMS
from equiv.views.rotation_models import ModelSource, model_sources, run_source
from equiv.views.rotation_settings import (
    AXIS_PRESETS,
    GEOMETRIES,
    PANEL_TITLES,
    PANELS,
    RotationSettings,
    axis_label,
    axis_preset,
    parse_query,
    random_settings,
    to_query,
)
from equiv.views.rotation_view import (
    REFERENCE_COLUMNS,
    TURN_FRAMES,
    library_geometry,
    Panel,
    TurnResult,
    prepare_panel,
    rotate,
    table_rows,
    turn,
    turn_panel,
    turn_scene,
)
from equiv.views.scene3d import EQUIVARIANT_TOLERANCE, scene_key
from equiv.views.text import escape_markdown
from equiv.widgets import local_3dmol_installed, molecule_viewer

SECONDS_PER_TURN = 5.0
MODEL_PANELS = [p for p in PANELS if p != "xtb"]
REFLECT_HELP = ("An improper rotation (det −1). O(3)-equivariant models (GVP, NequIP) follow it; the SO(3)-only "
                "NequIP in general does not (for very symmetric planar molecules such as water and benzene it "
                "happens to).")
state = st.session_state


# -- cached work --------------------------------------------------------------------------------
@st.cache_resource(max_entries=64, show_spinner=False)
def cached_panel(panel_id: str, source: ModelSource | None, molecule_id: str, _molecule: Molecule) -> Panel:
    """A panel's model and f(x), per molecule (``molecule_id``) and model source."""
    return prepare_panel(panel_id, source, _molecule)


@st.cache_resource(max_entries=32, show_spinner=False)
def cached_turn_panel(panel_id: str, source: ModelSource | None, molecule_id: str, axis: tuple, start: bytes,
                      reflect: bool, n: int, _molecule: Molecule, _panel: Panel):
    """One panel over a full turn (shared by the spin and the error plot)."""
    return turn_panel(_molecule, _panel, axis, np.frombuffer(start).reshape(3, 3), reflect, n)


def full_turn(molecule: Molecule, molecule_id: str, panels: list[Panel], sources: dict[str, ModelSource],
              settings: RotationSettings, start: np.ndarray) -> TurnResult:
    """Every panel over a full turn about the settings' axis after ``start``, each panel cached."""
    def per_panel(mol, panel, axis, start_, reflect, n):
        return cached_turn_panel(panel.id, sources.get(panel.id), molecule_id, tuple(axis), start_.tobytes(),
                                 reflect, n, mol, panel)

    return turn(molecule, panels, settings.axis, start, settings.reflect, TURN_FRAMES, per_panel=per_panel)


# -- state: the URL on the first run, the widgets afterwards ----------------------------------------
def widget_values(s: RotationSettings) -> dict:
    return {
        "rot_library": s.molecule,
        "rot_mode": s.mode,
        "rot_axis": axis_preset(s.axis) or "custom",
        "rot_axis_custom": ", ".join(f"{v:g}" for v in s.axis),
        "rot_angle": float(s.angle),
        "rot_alpha": float(s.euler[0]),
        "rot_beta": float(s.euler[1]),
        "rot_gamma": float(s.euler[2]),
        "rot_reflect": s.reflect,
        "rot_overlay": s.overlay,
        "rot_spin": s.spin,
        "rot_vectors": s.vectors,
        "rot_models": list(s.models),
        "rot_geometry": s.geometry,
        "rot_common_scale": s.scale == "common",
    }


if "rot_settings" not in state:
    first, problems = parse_query(st.query_params.to_dict())
    state.rot_current = {"kind": "library", "key": first.molecule}
    run_ids, run_problems = parse_run_ids(st.query_params.get("run", ""))
    problems += run_problems
    for run_id in run_ids:
        # ?run=ID: a training run's checkpoint (from the runs page), on its molecule, in its panel.
        try:
            run_molecule, run_src = run_source(run_id)
        except EquivError as exc:
            problems.append(f"link parameter run={run_id}: {exc}")
            continue
        first = first.replace(molecule=run_molecule, models=tuple(p for p in PANELS if p in first.models or p == run_src.slot))
        state.rot_current = {"kind": "library", "key": run_molecule}
        state[f"rot_source_{run_src.slot}"] = run_src.label
    state.rot_settings = first
    state.rot_link_problems = problems
for k, v in widget_values(state.rot_settings).items():
    state.setdefault(k, v)  # widgets dropped when the user visited another page come back as they were


def on_library_change() -> None:
    # The selectbox's key is gone while the file or SMILES input is shown: fall back to the settings.
    state.rot_current = {"kind": "library", "key": state.get("rot_library", state.rot_settings.molecule)}


def on_source_change() -> None:
    if state.rot_molecule_source == "library":
        on_library_change()


def on_random() -> None:
    s = random_settings(state.rot_settings)
    for k, v in widget_values(s).items():
        if k in ("rot_axis", "rot_axis_custom", "rot_angle", "rot_alpha", "rot_beta", "rot_gamma"):
            state[k] = v


def on_reset() -> None:
    base = widget_values(RotationSettings())
    for k in ("rot_angle", "rot_alpha", "rot_beta", "rot_gamma"):
        state[k] = base[k]


# -- page ---------------------------------------------------------------------------------------
st.title("Rotation lab")
st.caption(
    "Turn a molecule and watch the outputs of the equivariant models (GVP, NequIP) turn with it, while "
    "the MLP's do not. Drag any viewer to move the shared camera; scroll to zoom."
)
for problem in state.pop("rot_link_problems", []):
    st.warning(escape_markdown(problem))
if not local_3dmol_installed():
    st.warning("3Dmol.js is not installed next to the viewer (run `make setup`): the viewers load it from the "
               "internet (cdn.jsdelivr.net) instead.")

# Molecule ---------------------------------------------------------------------------------------
mol_col, input_col = st.columns([1, 2])
with mol_col:
    source_kind = st.radio("Molecule from", ["library", "file", "SMILES"], horizontal=True, key="rot_molecule_source",
                           on_change=on_source_change)
with input_col:
    if source_kind == "library":
        lib_col, geo_col = st.columns([1, 1])
        lib_col.selectbox("Library molecule", list(LIBRARY), format_func=lambda k: LIBRARY[k].title, key="rot_library",
                          on_change=on_library_change)
        geo_col.radio("Geometry", GEOMETRIES, key="rot_geometry", horizontal=True,
                      format_func={"snapshot": "500 K snapshot", "library": "relaxed (library)"}.get,
                      help="A thermal snapshot (one frame of a 500 K GFN2-xTB MD, shipped with the app) has forces "
                           "of about 1 eV/Å; the relaxed library geometry sits near a minimum, where forces are tiny.")
    elif source_kind == "file":
        upload = st.file_uploader("Molecule file (first structure is used)", type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES],
                                  key="rot_upload")
        if upload is not None:
            if state.get("rot_upload_seen") != upload.file_id:
                state.rot_upload_seen = upload.file_id
                state.rot_upload_error = None
                try:
                    molecule = read_molecule_bytes(upload.getvalue(), upload.name, max_atoms=MAX_MODEL_ATOMS)
                    state.rot_current = {"kind": "file", "molecule": molecule, "label": f"file {upload.name}"}
                except EquivError as exc:
                    state.rot_upload_error = str(exc)
            if state.get("rot_upload_error"):
                st.error(escape_markdown(f"{state.rot_upload_error}. The page keeps showing the previous molecule."))
    else:
        with st.form("rot_smiles_form", border=False):
            smiles = st.text_input("SMILES (3D geometry by RDKit ETKDG + MMFF94)", placeholder="CC(=O)Nc1ccc(O)cc1",
                                   key="rot_smiles")
            submitted = st.form_submit_button("Build molecule")
        if submitted:
            try:
                molecule = molecule_from_smiles(smiles, max_atoms=MAX_MODEL_ATOMS)
                state.rot_current = {"kind": "smiles", "molecule": molecule, "label": "SMILES " + smiles.strip()}
                state.rot_smiles_error = None
            except EquivError as exc:
                state.rot_smiles_error = str(exc)
        if state.get("rot_smiles_error"):
            st.error(escape_markdown(f"{state.rot_smiles_error}. The page keeps showing the previous molecule."))

current = state.rot_current
geometry = state.get("rot_geometry", state.rot_settings.geometry)
if current["kind"] == "library":
    library_key: str | None = current["key"]
    molecule, is_snapshot = library_geometry(library_key, geometry)
    if is_snapshot:
        shown_as = f"{LIBRARY[library_key].title}, a 500 K GFN2-xTB snapshot in the library orientation"
    else:
        shown_as = f"{LIBRARY[library_key].title} (relaxed library geometry)"
        if geometry == "snapshot":
            st.info(f"No snapshot is shipped for {LIBRARY[library_key].title}: showing the library geometry "
                    "(scripts/make_snapshots.py makes one).")
else:
    molecule = current["molecule"]
    library_key = None
    shown_as = current["label"]
molecule_id = scene_key(molecule.name, molecule.numbers, molecule.positions)
st.caption(escape_markdown(f"Showing {shown_as}: {molecule.formula}, {molecule.n_atoms} atoms."))

# Rotation controls ------------------------------------------------------------------------------
with st.container(border=True):
    c1, c2, c3 = st.columns([1.1, 2.2, 1.4])
    with c1:
        mode = st.radio("Rotation given by", ["axis", "euler"], key="rot_mode",
                        format_func={"axis": "axis and angle", "euler": "Euler angles (ZYZ)"}.get)
        axis_choice = st.selectbox("Axis (also for spin and plot)", list(AXIS_PRESETS) + ["custom"], key="rot_axis",
                                   format_func=lambda a: {"xyz": "(1, 1, 1)", "custom": "custom…"}.get(a, a),
                                   help="Lab frame: at the start x points right, y up and z out of the screen.")
        axis = AXIS_PRESETS.get(axis_choice, state.rot_settings.axis)
        if axis_choice == "custom":
            text = st.text_input("Custom axis x, y, z", key="rot_axis_custom")
            parsed, problems = parse_query({"axis": text})
            if problems:
                st.error(escape_markdown(f"Axis {text!r}: give three numbers like 1, 1, 0 (not all zero). Using {axis_label(axis)}."))
            else:
                axis = parsed.axis
    with c2:
        if mode == "axis":
            angle = st.slider("Angle", -180.0, 180.0, step=1.0, format="%.0f°", key="rot_angle")
            euler = state.rot_settings.euler
        else:
            angle = state.rot_settings.angle
            euler = (
                st.slider("α (about z)", -180.0, 180.0, step=1.0, format="%.0f°", key="rot_alpha"),
                st.slider("β (about y)", 0.0, 180.0, step=1.0, format="%.0f°", key="rot_beta"),
                st.slider("γ (about z)", -180.0, 180.0, step=1.0, format="%.0f°", key="rot_gamma"),
            )
        b1, b2 = st.columns(2)
        b1.button("Random rotation", on_click=on_random, icon=":material/casino:", width="stretch")
        b2.button("Back to the start", on_click=on_reset, icon=":material/restart_alt:", width="stretch")
    with c3:
        reflect = st.toggle("Reflect (mirror x → −x)", key="rot_reflect",
                            help=REFLECT_HELP)
        spin = st.toggle("Spin (a full turn, played in the browser)", key="rot_spin")
        overlay = st.toggle("Overlay R·f(x)", key="rot_overlay")
        common_scale = st.toggle("One arrow scale for all panels", key="rot_common_scale",
                                 help="Off: each panel's longest arrow has the same length. On: one scale for "
                                      "every panel, so arrow lengths compare across panels.")
        vectors = st.radio("Arrows", ["forces", "atom_vectors"], key="rot_vectors", horizontal=True,
                           format_func={"forces": "forces", "atom_vectors": "atom vectors"}.get)
    shown = st.multiselect("Panels", PANELS, key="rot_models", format_func=PANEL_TITLES.get)

if not shown:
    st.info("Choose at least one panel to show.")
    st.stop()
settings = RotationSettings(
    molecule=library_key or state.rot_library, mode=mode, axis=tuple(float(v) for v in axis), angle=float(angle),
    euler=tuple(float(v) for v in euler), reflect=reflect, overlay=overlay, spin=spin, vectors=vectors,
    models=tuple(p for p in PANELS if p in shown), geometry=geometry, scale="common" if common_scale else "panel",
)
state.rot_settings = settings

# Models ---------------------------------------------------------------------------------------------
sources: dict[str, ModelSource] = {}
with st.expander("Models: trained or untrained", expanded=False):
    cols = st.columns(len(MODEL_PANELS))
    for col, slot in zip(cols, MODEL_PANELS):
        options = model_sources(slot, library_key)
        labels = [o.label for o in options]
        key = f"rot_source_{slot}"
        if state.get(key) not in labels:
            state[key] = labels[0]
        chosen = col.selectbox(PANEL_TITLES[slot], labels, key=key)
        sources[slot] = options[labels.index(chosen)]
shown_sources = [sources[p] for p in settings.models if p in sources]
query = to_query(settings, molecule_in_link=library_key is not None)
run_ids = [str(src.run_id) for src in shown_sources if src.kind == "run"]
if run_ids:
    query["run"] = ",".join(run_ids)  # the link keeps the training runs' checkpoints
if st.query_params.to_dict() != query:
    st.query_params.from_dict(query)
if library_key is None:
    st.info("No trained model fits an uploaded molecule, so these are **untrained models** (random weights), "
            "which are exactly as equivariant: equivariance is built into the architecture, not learned. "
            "Their forces are not physical.")
else:
    for slot in ("mlp", "mlp-aug"):
        src = sources.get(slot)
        if slot in settings.models and src is not None and src.missing:
            st.info(escape_markdown(f"{PANEL_TITLES[slot]}: {src.missing}, so this panel shows an "
                                    "untrained MLP (random weights)."))
if library_key is not None and shown_sources and not any(s.trained for s in shown_sources):
    st.info("These are **untrained models** (random weights): no trained checkpoint exists yet for this molecule "
            "(the training lab makes them). Untrained models are exactly as equivariant as trained ones: "
            "equivariance is built into the architecture, not learned. Their forces are not physical.")

# Compute ----------------------------------------------------------------------------------------------
with st.spinner("Loading models…"):
    panels = [cached_panel(pid, sources.get(pid), molecule_id, molecule) for pid in settings.models]
for p in panels:
    if p.note and p.id != "xtb":
        st.warning(escape_markdown(f"{p.title}: {p.note}"))

t0 = time.perf_counter()
result = rotate(molecule, panels, settings)
server_ms = 1000 * (time.perf_counter() - t0)
scene = result.scene
start = settings.proper_rotation().numpy() if mode == "euler" else np.eye(3)
if spin:
    with st.spinner(f"Computing {TURN_FRAMES} frames of a full turn with every model…"):
        turned = full_turn(molecule, molecule_id, panels, sources, settings, start)
    start_frame = round(settings.angle / (360 / TURN_FRAMES)) if mode == "axis" else 0
    scene = turn_scene(molecule, panels, turned, settings, start_frame=start_frame, seconds_per_turn=SECONDS_PER_TURN)

molecule_viewer(scene, key="rotation_lab_viewer")
model_ms = ", ".join(f"{p.title} {1000 * result.seconds.get(p.id, 0):.0f} ms" for p in panels)
st.caption(f"Transformation: {settings.description()}. Server time for this rotation {server_ms:.0f} ms ({model_ms}).")

st.dataframe(table_rows(panels, result.comparisons), hide_index=True, width="stretch",
             column_config={
                 "E(g·x) / eV": st.column_config.NumberColumn(format="%.4f"),
                 "ΔE / meV": st.column_config.NumberColumn(format="%.3g"),
                 "force error": st.column_config.NumberColumn(format="%.1e"),
                 "atom-vector error": st.column_config.NumberColumn(format="%.1e"),
                 REFERENCE_COLUMNS[0]: st.column_config.NumberColumn(format="%.0f"),
                 REFERENCE_COLUMNS[1]: st.column_config.NumberColumn(format="%.2f"),
             }, key="rot_table")
st.caption("Errors are ‖f(g·x) − g·f(x)‖ / ‖f(x)‖ over all atoms; ΔE = E(g·x) − E(x). The models run in float64, "
           "so an equivariant model shows rounding, about 1e-13 (whatever precision its checkpoint was saved in), "
           f"never zero; below {EQUIVARIANT_TOLERANCE:.0e} counts as equivariant."
           + (" With the reference shown: each model's force MAE against GFN2-xTB for the turned molecule "
              "(meV/Å, per component) and the mean cosine between its forces and the reference's (1: same "
              "directions)." if "xtb" in result.comparisons else ""))

# Figures ------------------------------------------------------------------------------------------------
plot_col, glyph_col = st.columns(2)
with plot_col:
    model_panels = [p for p in panels if p.model is not None]
    with st.spinner("Computing the error over a full turn…"):
        curve = full_turn(molecule, molecule_id, model_panels, sources, settings, np.eye(3))
    st.plotly_chart(error_figure(curve, axis_label(settings.axis), settings.vectors,
                                 current_angle=settings.angle if mode == "axis" else None),
                    width="stretch", key="rot_error_plot")
    st.caption("Each point turns the molecule about the axis (then mirrors it when Reflect is on) and compares "
               "f(g·x) with g·f(x). Equivariant models stay at rounding level; the MLP does not.")
    reference = next((p for p in panels if p.id == "xtb" and p.active), None)
    if reference is not None and curve.comparisons:
        st.plotly_chart(reference_figure(curve, reference.base.forces, axis_label(settings.axis),
                                         current_angle=settings.angle if mode == "axis" else None),
                        width="stretch", key="rot_reference_plot")
        st.caption("The same turn against GFN2-xTB (whose forces turn exactly with the molecule): force MAE per "
                   "component, log scale. The MLP trained on aligned frames is good only in its training "
                   "orientation (0°, where the library geometry and the snapshots sit); turned, it climbs past "
                   "the zero-force line, because it extrapolates rather than knowing it does not know. "
                   "Augmentation keeps the curve level, at a higher error (it costs data); equivariant models "
                   "stay level by construction (the per-component MAE moves a little with the orientation).")
with glyph_col:
    nequip = next((p for p in panels if p.id in ("nequip", "nequip-so3") and p.id in result.comparisons), None)
    if nequip is None:
        st.info("Show a NequIP panel to see its hidden features as spherical functions.")
    else:
        features = result.comparisons[nequip.id].rotated.features
        irreps = glyph_irreps(features)
        labels = [f"{s}{i + 1}" for i, s in enumerate(molecule.symbols)]
        g1, g2 = st.columns(2)
        atom = g1.selectbox("Atom", range(molecule.n_atoms), format_func=labels.__getitem__, key="rot_glyph_atom")
        mul = features[irreps[-1]].shape[1]
        base_features = nequip.base.features
        strongest = int(np.argmax(np.linalg.norm(base_features[irreps[-1]][atom], axis=-1)))  # rotation invariant
        channel = g2.number_input(f"Channel (0–{mul - 1}; default: the strongest l = {irreps[-1][0]})", 0, mul - 1,
                                  value=strongest, key=f"rot_glyph_channel_{atom}")
        st.plotly_chart(glyph_figure(features, atom, int(channel), labels[atom]), width="stretch", key="rot_glyphs")
        st.caption(f"{nequip.title}, last layer, for the turned molecule: f(r̂) = Σₘ hₗₘ Yₗₘ(r̂) drawn as |f| r̂, "
                   "red where f > 0 and blue where f < 0. Turning the molecule turns every glyph with it.")
