"""The tour's live widgets, one renderer per ``TourStep.widget``: pieces of the app's pages (the rotation
lab's viewer, the playground, the irreps lab's figures and tables, learning curves, the results table)
called with the step's settings. Layout only; everything comes from ``equiv.views``."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st
import torch

from app_pages.playground_widgets import playground
from equiv.errors import EquivError
from equiv.molecules import load_molecule
from equiv.o3 import clebsch_gordan, decompose_outer_product
from equiv.runs import RunStore
from equiv.views.figure_export import plot_config
from equiv.views.gvp_layer import gvp_demo, gvp_figure
from equiv.views.irreps_figures import cg_heatmaps, matrix_heatmap
from equiv.views.irreps_tables import nequip_path_grid, nequip_paths, part_components_table, selection_rule_table
from equiv.views.learning_curves import learning_curves, slope_table
from equiv.views.playground import PlaygroundSettings
from equiv.views.rotation_models import model_sources
from equiv.views.rotation_settings import RotationSettings
from equiv.views.rotation_view import TURN_FRAMES, Panel, prepare_panel, rotate, table_rows, turn, turn_scene
from equiv.views.run_tables import results_long, results_wide
from equiv.views.text import escape_markdown
from equiv.views.tour import STEPS, TourStep, recorded_sweep_figure
from equiv.views.training_figures import learning_curve_figure
from equiv.widgets import molecule_viewer

XYZ = ["x", "y", "z"]


def chart(fig, key: str, name: str) -> None:
    st.plotly_chart(fig, width="stretch", key=key, config=plot_config("png", f"equiv-tour-{name}"))


# -- rotation lab ----------------------------------------------------------------------------------
@st.cache_resource(max_entries=8, show_spinner=False)
def tour_panels(molecule_key: str, models: tuple[str, ...]) -> list[Panel]:
    molecule = load_molecule(molecule_key)
    return [prepare_panel(m, model_sources(m, molecule_key)[0], molecule) for m in models]


@st.cache_resource(max_entries=4, show_spinner=False)
def tour_turn(molecule_key: str, models: tuple[str, ...], axis: tuple[float, ...]):
    molecule = load_molecule(molecule_key)
    return turn(molecule, tour_panels(molecule_key, models), axis, np.eye(3), False, TURN_FRAMES)


def rotation(step: TourStep) -> None:
    p = step.params
    models = tuple(p["models"])  # type: ignore[arg-type]
    settings = RotationSettings(molecule=str(p["molecule"]), axis=tuple(p["axis"]), angle=float(p["angle"]),  # type: ignore[arg-type]
                                models=models, spin=True)
    molecule = load_molecule(settings.molecule)
    with st.spinner("Loading the models and turning the molecule…"):
        panels = tour_panels(settings.molecule, models)
        turned = tour_turn(settings.molecule, models, settings.axis)
        result = rotate(molecule, panels, settings)
    scene = turn_scene(molecule, panels, turned, settings, start_frame=round(settings.angle / 10), seconds_per_turn=5.0)
    molecule_viewer(scene, key="tour_viewer")
    st.dataframe(table_rows(panels, result.comparisons), hide_index=True, width="stretch",
                 column_config={"force error": st.column_config.NumberColumn(format="%.1e")})
    st.caption("Arrows: predicted forces f(g·x); sleeves: the rotated prediction g·f(x). Press F for full screen; "
               "the buttons under the viewer download each panel as PNG and the spin as WebM.")


# -- playground ------------------------------------------------------------------------------------
def playground_step(step: TourStep) -> None:
    key = f"tour_pg_{STEPS.index(step)}"
    function = str(step.params["function"])
    playground(PlaygroundSettings(function, "", 0), key=key, compact=True)


# -- irreps ----------------------------------------------------------------------------------------
def decomposition(step: TourStep) -> None:
    a = torch.tensor(step.params["a"], dtype=torch.float64)
    b = torch.tensor(step.params["b"], dtype=torch.float64)
    dec = decompose_outer_product(a, b)
    cols = st.columns(4)
    zmax = float(dec.outer.abs().max())
    with cols[0]:
        chart(matrix_heatmap(dec.outer, XYZ, XYZ, title="a bᵀ", zmax=zmax), "tour_dec_outer", "outer")
    for col, part in zip(cols[1:], dec.parts):
        with col:
            chart(matrix_heatmap(part.matrix, XYZ, XYZ, title=f"{part.name} ({part.irrep})", zmax=zmax),
                  f"tour_dec_{part.name}", part.name)
            st.dataframe(part_components_table(part), hide_index=True, width="stretch")
    st.caption(f"a · b = {float(a @ b):g}; the parts sum back to a bᵀ (max error {dec.reconstruction_error():.0e}).")


def gvp(step: TourStep) -> None:
    demo = gvp_demo(int(step.params.get("seed", 0)))
    left, right = st.columns([3, 2])
    with left:
        chart(gvp_figure(demo), "tour_gvp", "gvp")
    with right:
        st.metric("max |V(R x) − R V(x)|", f"{demo.vector_error:.1e}")
        st.metric("max |s(R x) − s(x)|", f"{demo.scalar_error:.1e}")
        st.caption("One GVP (2 scalars, 2 vectors → 4 scalars, 3 vectors; equiv.models.gvp.GVP, random weights) "
                   "on random inputs. Blue: the outputs of the rotated input; dashed orange: the rotated outputs.")


def clebsch(step: TourStep) -> None:
    ir1, ir2, L = str(step.params["ir1"]), str(step.params["ir2"]), int(step.params["L"])
    left, right = st.columns([2, 3])
    with left:
        st.dataframe(selection_rule_table(ir1, ir2), hide_index=True, width="stretch")
    with right:
        l1, l2 = int(ir1[0]), int(ir2[0])
        chart(cg_heatmaps(clebsch_gordan(l1, l2, L), l1, l2, L), "tour_cg", "clebsch-gordan")


def nequip_messages(step: TourStep) -> None:
    irreps_mid, paths = nequip_paths(int(step.params["lmax"]), int(step.params["mul"]))
    st.dataframe(nequip_path_grid(paths), width="stretch")
    st.caption(f"{len(paths)} paths; the message has {irreps_mid.dim} numbers per edge ({irreps_mid}).")


# -- results ---------------------------------------------------------------------------------------
def _store_runs():
    try:
        return RunStore().list_runs()
    except EquivError:
        return []


def learning_curve(step: TourStep) -> None:
    runs = _store_runs()
    groups = [r.group_id for r in runs if r.group_id and r.kind == "sweep_member" and r.status == "finished"]
    curves = learning_curves([r for r in runs if groups and r.group_id == groups[0]]) if groups else []
    if curves:
        chart(learning_curve_figure(curves, title=f"Your sweep {escape_markdown(groups[0])}"), "tour_curves", "learning-curve")
        st.dataframe(slope_table(curves), hide_index=True, width="stretch")
    else:
        chart(recorded_sweep_figure(), "tour_curves", "learning-curve")
        st.caption("No sweep in this machine's run store yet, so this is the one recorded in the README "
                   "(bench/sweep_demo.py: rMD17 ethanol, 2 layers × 8 channels, 40 epochs, 2 seeds, all 1,000 test "
                   "structures; far from converged). Run `equiv sweep …` or the training lab's sweep tab for your own.")


def results(step: TourStep) -> None:
    long = results_long(_store_runs())
    own = long[long["source"] == "this app"]
    md17 = long[(long["source"] == "published") & (long["data set"].isin(["MD17", "rMD17"]))]
    left, right = st.columns(2)
    with left:
        st.markdown("**This app**")
        if own.empty:
            st.info("No finished training runs yet: the training lab makes them.")
        else:
            st.dataframe(results_wide(own), hide_index=True, width="stretch")
    with right:
        st.markdown("**Published (the seminar's MD17 table and rMD17)**")
        st.dataframe(results_wide(md17), hide_index=True, width="stretch")
    st.caption("Cells: energy MAE (meV) / force MAE (meV/Å).")


def summary(step: TourStep) -> None:
    st.dataframe(pd.DataFrame([{"step": i + 1, "title": s.title} for i, s in enumerate(STEPS)]), hide_index=True,
                 width="stretch")


RENDERERS: dict[str, Callable[[TourStep], None]] = {
    "rotation": rotation,
    "playground": playground_step,
    "decomposition": decomposition,
    "gvp": gvp,
    "clebsch_gordan": clebsch,
    "nequip_messages": nequip_messages,
    "learning_curve": learning_curve,
    "results": results,
    "summary": summary,
}
