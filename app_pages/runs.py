"""Runs: every run in the run store, filtered; overlaid curves of selected runs; downloads; links to
the rotation lab; sweeps' learning curves; and the results table beside the published numbers.

Widgets and layout only; tables and figures come from ``equiv.views``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.run_widgets import learning_curve_section, run_outcome
from app_pages.store_status import store_problem
from equiv.errors import RunError
from equiv.parsing import parse_run_ids
from equiv.runs import STATUSES, RunStore
from equiv.jobs.lifecycle import TRAINING_KINDS
from equiv.views.run_tables import (
    epochs_frame,
    molecule_key,
    molecule_title,
    results_csv,
    results_long,
    results_wide,
    short_run_warning,
    run_export,
    runs_frame,
)
from equiv.views.text import escape_markdown
from equiv.views.training_figures import overlay_figure

POLL_S = 2.0
state = st.session_state

st.title("Runs")
st.caption("Every training run, sweep member and data generation of this machine's run store: compare their "
           "validation curves, download a run's checkpoint and metrics, and set your results beside the published ones.")

try:
    store = RunStore()
    all_runs = store.list_runs()
except RunError as exc:
    store_problem(exc)
    st.stop()
f1, f2, f3 = st.columns(3)
molecules = sorted({molecule_key(r.molecule) for r in all_runs if r.molecule}, key=molecule_title)
models = sorted({r.model for r in all_runs if r.model})
chosen_molecules = f1.multiselect("Molecule", molecules, format_func=molecule_title, key="rp_molecules",
                                  placeholder="all molecules")
chosen_models = f2.multiselect("Model", models, key="rp_models", placeholder="all models")
chosen_statuses = f3.multiselect("Status", list(STATUSES), key="rp_statuses", placeholder="all")
show_generation = st.toggle("Include data generation jobs", value=False, key="rp_generate")


def keep(run) -> bool:
    return ((not chosen_molecules or molecule_key(run.molecule) in chosen_molecules)
            and (not chosen_models or run.model in chosen_models)
            and (not chosen_statuses or run.status in chosen_statuses)
            and (show_generation or run.kind in TRAINING_KINDS))


any_active = any(r.active for r in all_runs)


@st.fragment(run_every=POLL_S if any_active else None)
def run_table() -> None:
    try:
        current = store.list_runs()  # one read of the store per poll
    except RunError as exc:
        store_problem(exc)
        return
    if any(r.active for r in current) != any_active:
        st.rerun()  # polling starts or stops with the page
    runs = [r for r in current if keep(r)]
    if not runs:
        st.info("No runs match." if all_runs else "No runs yet: the training lab launches them.")
        return
    with st.container(key="rp_runs"):
        st.dataframe(runs_frame(runs), hide_index=True, width="stretch", column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            "test E MAE (meV)": st.column_config.NumberColumn(format="%.2f"),
            "test F MAE (meV/Å)": st.column_config.NumberColumn(format="%.2f"),
        })
    training = [r for r in runs if r.kind in TRAINING_KINDS]
    by_id = {r.id: r for r in training}
    default = [r.id for r in training if r.status == "finished"][:3]
    state.setdefault("rp_compare", default)
    state.rp_compare = [i for i in state.rp_compare if i in by_id]  # runs filtered away leave the comparison
    chosen = st.multiselect("Compare the validation curves of", list(by_id), key="rp_compare",
                            format_func=lambda i: f"run {i}: {by_id[i].model} n={by_id[i].config.get('n_train')} "
                                                  f"seed {by_id[i].config.get('seed')} ({by_id[i].status})")
    try:
        series = [(f"run {i} {by_id[i].model} n={by_id[i].config.get('n_train')}", by_id[i].model or "",
                   store.epochs(i)) for i in chosen]
    except RunError as exc:
        store_problem(exc)
        return
    if series:
        st.plotly_chart(overlay_figure(series, title="validation errors"), width="stretch", key="rp_overlay")


run_table()

# -- one run -----------------------------------------------------------------------------------------
st.subheader("One run", anchor=False)
runs_here = [r for r in all_runs if keep(r)]
if runs_here:
    here_by_id = {r.id: r for r in runs_here}
    ids = list(here_by_id)
    wanted, _ = parse_run_ids(st.query_params.get("run", ""), max_count=1)
    default = ids.index(wanted[0]) if wanted and wanted[0] in ids else 0

    def run_choice(i: int) -> str:
        r = here_by_id[i]
        return f"run {r.id}: {r.model or r.kind} on {r.config.get('data', r.molecule)} ({r.status})"

    run_id = st.selectbox("Run", ids, index=default, key="rp_run", format_func=run_choice)
    run = here_by_id[run_id]  # read with all_runs in this script run
    try:
        epochs = store.epochs(run.id)
    except RunError as exc:
        store_problem(exc)
        st.stop()
    run_outcome(run)
    if run.kind in TRAINING_KINDS and run.status == "finished" and run.checkpoint_path:
        st.page_link("app_pages/md.py", label="Simulate with this model (MD lab)", icon=":material/science:",
                     query_params={"model": f"run:{run.id}", "molecule": str(run.molecule or "")})
    d1, d2, d3 = st.columns(3)
    d1.download_button("Metrics (JSON)", run_export(run, epochs), file_name=f"run-{run.id}.json",
                       mime="application/json", icon=":material/download:", key="rp_json")
    d2.download_button("Per-epoch errors (CSV)", epochs_frame(epochs).to_csv(index=False), file_name=f"run-{run.id}-epochs.csv",
                       mime="text/csv", icon=":material/download:", key="rp_csv", disabled=not epochs)
    checkpoint = Path(run.checkpoint_path) if run.checkpoint_path else None
    if checkpoint is not None and checkpoint.is_file():
        # A callable: the file is read when the button is pressed, not on every rerun.
        d3.download_button("Checkpoint (.pt)", checkpoint.read_bytes, file_name=checkpoint.name,
                           mime="application/octet-stream", icon=":material/download:", key="rp_checkpoint")
    else:
        d3.caption("No checkpoint file." if run.kind in TRAINING_KINDS else "Data generation: no checkpoint.")
    with st.expander("Run record"):
        st.json(run.to_dict(), expanded=False)
else:
    st.caption("No run to show.")

# -- sweeps -------------------------------------------------------------------------------------------
groups = sorted({r.group_id for r in all_runs if r.group_id}, reverse=True)
st.subheader("Learning curves", anchor=False)
if groups:
    wanted = st.query_params.get("group", "")
    group = st.selectbox("Sweep", groups, index=groups.index(wanted) if wanted in groups else 0, key="rp_group")
    group_active = any(r.active for r in all_runs if r.group_id == group)

    @st.fragment(run_every=POLL_S if group_active else None)
    def sweep_view() -> None:
        try:
            learning_curve_section(store, group, key="rp_sweep")
        except RunError as exc:
            store_problem(exc)

    sweep_view()
else:
    st.caption("No sweeps yet: queue one in the training lab (Data-efficiency sweep) or with `equiv sweep`.")

# -- results -------------------------------------------------------------------------------------------
st.subheader("Results beside the published numbers", anchor=False)
long = results_long(all_runs)
r1, r2, r3 = st.columns(3)
sources = r1.multiselect("Source", ["published", "this app"], default=["published", "this app"], key="rp_sources")
datasets = sorted(long["data set"].unique())
chosen_data = r2.multiselect("Data set", datasets, key="rp_datasets", placeholder="all data sets")
sizes = sorted(long["n (train+val)"].unique())
chosen_sizes = r3.multiselect("Size (train + validation)", sizes, key="rp_sizes", placeholder="all sizes")
shown = long[long["source"].isin(sources)]
if chosen_data:
    shown = shown[shown["data set"].isin(chosen_data)]
if chosen_sizes:
    shown = shown[shown["n (train+val)"].isin(chosen_sizes)]
warning = short_run_warning(shown)
if warning:
    st.warning(warning, icon=":material/hourglass_bottom:")
with st.container(key="rp_results"):
    st.dataframe(results_wide(shown), hide_index=True, width="stretch")
st.caption("Each cell: energy MAE (meV, per molecule) / force MAE (meV/Å, per component) on the test set. Each column "
           "says the model, the data set with its reference method (level of theory), the size as training + "
           "validation structures (the published 1000 is 950 + 50) and the source. A cell that says \"not converged\" "
           "(with its budget) came from runs whose validation force error still fell by 10 % or more over the second "
           "half of their steps. rMD17 (PBE/def2-SVP), the original MD17 (PBE+vdW-TS) and generated xTB MD (GFN2-xTB) are different "
           "data sets: compare numbers only within one. This app's cells are means over runs that differ only in seed; "
           "where a model was trained with several recipes, the settings that differ follow its name in brackets.")
st.download_button("Results (CSV, one row per cell)", results_csv(shown), file_name="equiv-results.csv", mime="text/csv",
                   icon=":material/download:", key="rp_results_csv")
with st.expander("Sources of the published numbers"):
    for ref in sorted(set(shown.loc[shown["source"] == "published", "reference"])):
        st.markdown("- " + escape_markdown(ref))
