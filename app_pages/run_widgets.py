"""Widgets the training lab and the runs page share: a run's outcome with its links, and a sweep's
learning curves. Layout only; the numbers and figures come from ``equiv.views``."""

from __future__ import annotations

import streamlit as st

from equiv.formatting import format_metric
from equiv.runs import Run, RunStore
from equiv.jobs.lifecycle import TRAINING_KINDS
from equiv.views.learning_curves import learning_curves, slope_table
from equiv.views.run_tables import dataset_label
from equiv.views.text import escape_markdown
from equiv.views.training_figures import learning_curve_figure

ROTATE_PAGE = "app_pages/rotate.py"
RUNS_PAGE = "app_pages/runs.py"


def rotation_link(run: Run) -> None:
    """"Open in the rotation lab" for a finished training run with a checkpoint file."""
    if run.kind == "generate" or run.status != "finished" or not run.checkpoint_path:
        return
    st.page_link(ROTATE_PAGE, label=f"Open run {run.id} in the rotation lab", icon=":material/3d_rotation:",
                 query_params={"run": str(run.id)})


def run_outcome(run: Run) -> None:
    """The end of a run: test errors with what they were measured on, the reason it failed, or
    the checkpoint a cancelled run kept."""
    if run.status == "finished" and run.kind in TRAINING_KINDS:
        m = run.test_metrics or {}
        data = run.dataset or {}
        level = data.get("level_of_theory", "")
        st.success(
            f"Run {run.id} finished: test energy MAE **{format_metric(m.get('energy_mae_mev'))} meV**, "
            f"force MAE **{format_metric(m.get('force_mae_mev_per_a'))} meV/Å** on {m.get('n_test', '?')} test "
            f"structures of {escape_markdown(dataset_label(run.config.get('data')))} ({escape_markdown(level)}), "
            f"{run.config.get('n_train')} training structures, best epoch {m.get('best_epoch')} of {m.get('epochs')} "
            f"({escape_markdown(str(m.get('stopped', '')))}).", icon=":material/check_circle:")
        if m.get("converged") is not None:
            verdict = "converged" if m["converged"] else "**not converged**"
            st.caption(f"Budget {escape_markdown(str(m.get('budget') or '?'))}, {m.get('steps', '?')} optimizer steps: "
                       f"{verdict} ({escape_markdown(str(m.get('convergence_rule') or ''))}).")
        rotation_link(run)
    elif run.status == "finished" and run.kind == "md":
        m = run.result or {}
        verdict = "stable" if m.get("stable") else f"unstable at {format_metric(m.get('unstable_at_fs'))} fs"
        st.success(f"Run {run.id} finished: molecular dynamics, {m.get('steps', '?')} steps, {verdict} "
                   f"(see the MD lab).", icon=":material/check_circle:")
    elif run.status == "finished":
        m = run.result or {}
        st.success(f"Run {run.id} finished: {m.get('n_frames', '?')} frames written to "
                   f"{escape_markdown(str(m.get('path', '?')))}.", icon=":material/check_circle:")
    elif run.status == "failed":
        st.error(f"Run {run.id} failed: {escape_markdown(run.error or 'no reason recorded')}", icon=":material/error:")
    elif run.status == "cancelled":
        kept = (f" Its best checkpoint is kept: {escape_markdown(run.checkpoint_path)}." if run.checkpoint_path
                else " It had no checkpoint yet.")
        st.warning(f"Run {run.id} was cancelled.{kept}", icon=":material/cancel:")


def learning_curve_section(store: RunStore, group_id: str, key: str) -> None:
    """A sweep's progress, its log-log learning curves (test force MAE against training-set size)
    and the fitted slopes."""
    members = store.list_runs(group_id=group_id)
    if not members:
        st.info(f"No runs in {escape_markdown(group_id)}.")
        return
    counts = {s: sum(r.status == s for r in members) for s in ("finished", "running", "queued", "failed", "cancelled")}
    st.progress(counts["finished"] / len(members),
                text=f"{escape_markdown(group_id)}: {counts['finished']} of {len(members)} runs finished, "
                     f"{counts['running']} running, {counts['queued']} queued"
                     + (f", {counts['failed']} failed" if counts["failed"] else "")
                     + (f", {counts['cancelled']} cancelled" if counts["cancelled"] else ""))
    curves = learning_curves(members)
    if not curves:
        st.info("The curves appear here as the first runs finish.")
        return
    data = {c.dataset for c in curves}
    st.plotly_chart(learning_curve_figure(curves, title=f"Test force error against training-set size ({', '.join(sorted(data))})"),
                    width="stretch", key=f"{key}_figure")
    st.dataframe(slope_table(curves), hide_index=True, width="stretch", key=f"{key}_slopes")
    st.caption("Slope: a least-squares fit of log₁₀(force MAE) against log₁₀(training-set size) per seed (within a "
               "seed the training sets are nested and share validation and test sets, so seeds, not points, are the "
               "independent repeats); the mean ± sd over seeds with a 95 % Student-t interval, and Δslope against "
               "nequip-l0 (or the first model) paired by seed. More negative means the error falls faster with more "
               "data. Runs within 10 % of the zero-force error are left out of the fits (hollow dots). Converged: the "
               "share of runs whose validation force error fell by less than 10 % over the second half of their steps. "
               "Dots: single runs; markers with bars: the mean and the range over seeds.")
