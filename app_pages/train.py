"""Training lab: launch small training runs in the background, watch them live, cancel them, and
queue data-efficiency sweeps.

The page never trains: "Launch" writes a queued run into the run store and makes sure a launcher
process serves its device (``equiv.jobs``). Everything shown is read back from the run store, so
the page reattaches to runs after a reload, in another browser, or after a server restart.
Widgets and layout only; checks, jobs and figures come from ``equiv.jobs`` and ``equiv.views``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets

import streamlit as st

from app_pages.run_widgets import RUNS_PAGE, learning_curve_section, run_outcome
from app_pages.store_status import session_owner, store_problem
from equiv.data import rmd17_data_dir
from equiv.errors import EquivError, RunError
from equiv.formatting import format_duration
from equiv.jobs.cluster import (CLUSTER_QUEUE, cancel_run, cluster_job, cluster_settings, launch_on_cluster,
                                queue_cluster_sweep)
from equiv.jobs.generate import generation_seconds_estimate
from equiv.jobs.launcher import ensure_launcher, launcher_serving
from equiv.jobs.queues import DEVICE_QUEUES, MAX_CONCURRENCY, max_running, set_max_running
from equiv.jobs.requests import (
    DEFAULT_GENERATE_FRAMES,
    check_request,
    data_status,
    generate_settings,
    launch_request,
    queue_generation,
)
from equiv.jobs.sweep import check_sweep, parse_sizes, plan_sweep, queue_sweep
from equiv.links import Real
from equiv.molecules import LIBRARY, load_molecule
from equiv.parsing import parse_folder, parse_run_ids
from equiv.run_settings import (
    DATA_KINDS,
    LAB,
    LAB_DEFAULTS,
    LAB_MODELS,
    MODEL_TITLES,
    SWEEP_DEFAULTS,
    lab_link,
    parse_lab_link,
    preset_size,
)
from equiv.runs import ACTIVE_STATUSES, RunGone, RunStore, run_owner
from equiv.training import DEFAULT_MAX_TIME_S, cuda_unavailable_reason
from equiv.views.run_progress import run_progress, status_line
from equiv.views.text import escape_markdown
from equiv.views.training_figures import curves_figure

POLL_S = 1.5
state = st.session_state
#: The rMD17 folder box; a shared server sets EQUIV_SHARED_SERVER=1 and names the folder in
#: $EQUIV_RMD17_DIR instead (see the README, "Serving to a group").
FOLDER_BOX = os.environ.get("EQUIV_SHARED_SERVER", "").strip().lower() not in ("1", "true", "yes")
try:
    store = RunStore()
    store.list_runs(limit=1)  # a damaged store is found here, not halfway down the page
except RunError as exc:
    st.title("Training lab")
    store_problem(exc)
    st.stop()
cuda_reason = cuda_unavailable_reason()
try:  # a configured cluster (cluster.json / EQUIV_SLURM_*) takes the lab's runs (equiv.jobs.cluster)
    cluster, cluster_problem = cluster_settings(), None
except EquivError as exc:
    cluster, cluster_problem = None, str(exc)


def executor_caption() -> None:
    """Where Launch and Queue the sweep send runs: this machine or the configured SLURM cluster."""
    if cluster_problem:
        st.error(escape_markdown(cluster_problem) + " Runs stay on this machine.", icon=":material/dns:")
    if cluster is None:
        st.caption("Executor: this machine (a background launcher per device queue).")
        return
    o = cluster.options
    st.caption(escape_markdown(
        f"Executor: SLURM cluster (partition {o.partition or 'default'}, {o.time_min} min, {o.gpus} GPU(s) per run; "
        f"run folders in {cluster.run_root}), from cluster.json / EQUIV_SLURM_* settings."))


def run_executor(run) -> None:
    """Which executor runs ``run``: its SLURM job, state and resumes, or this machine."""
    job = cluster_job(store, run.id) if run.device == CLUSTER_QUEUE else None
    if job is None:
        st.caption("Executor: this machine" + (f" (pid {run.pid})" if run.pid and run.active else "") + ".")
    else:
        resumed = f", resumed {job.resumes}×" if job.resumes else ""
        st.caption(escape_markdown(f"Executor: SLURM job {job.job_id} ({job.slurm_state or 'submitted'}{resumed}) "
                                   f"on {run.host or 'a node to be chosen'}."))


for key in ("tl_nonce", "tl_sweep_nonce", "tl_generate_nonce"):
    state.setdefault(key, secrets.token_hex(8))
state.setdefault("tl_launched", [])
if "tl_link_read" not in state:  # the first run of a session: the link fills the form
    state.tl_link_read = True
    from_link, state.tl_link_problems = parse_lab_link(st.query_params.to_dict())
    for field, value in from_link.items():
        state[f"tl_{field}"] = value
for prefix in ("tl", "sw"):
    # Widgets take their values from here (not value=); a form left for another page comes back.
    for field, value in state.get(f"{prefix}_form", LAB_DEFAULTS if prefix == "tl" else SWEEP_DEFAULTS).items():
        state.setdefault(f"{prefix}_{field}", value)


def new_nonce(key: str) -> None:
    state[key] = secrets.token_hex(8)


def watch(run_id: int) -> None:
    state.tl_watch = run_id
    st.query_params["run"] = str(run_id)


def form_values(prefix: str) -> dict:
    return {field: state[f"{prefix}_{field}"] for field in LAB_DEFAULTS}


def rmd17_folder(prefix: str) -> str | None:
    """The rMD17 folder typed in the form, when it is a readable folder (else ``None``: the default)."""
    text = state.get(f"{prefix}_rmd17_dir") or ""
    if not FOLDER_BOX or not text.strip():
        return None
    try:
        return str(parse_folder(text))
    except EquivError:
        return None


def number_setting(where, label: str, prefix: str, key: str, **kwargs) -> None:
    """A number input bounded and explained by the lab setting ``key`` (equiv.run_settings)."""
    rule = LAB[key].rule
    kind = float if isinstance(rule, Real) else int
    where.number_input(label, min_value=kind(rule.low), max_value=kind(rule.high), key=f"{prefix}_{key}",
                       help=LAB[key].help[0].upper() + LAB[key].help[1:] + ".", **kwargs)


def data_inputs(prefix: str) -> None:
    st.radio("Data set", list(DATA_KINDS), format_func=DATA_KINDS.get, key=f"{prefix}_data", horizontal=True)
    st.selectbox("Molecule", list(LIBRARY), format_func=lambda k: LIBRARY[k].title, key=f"{prefix}_molecule")
    if state[f"{prefix}_data"] == "rmd17" and not FOLDER_BOX:
        st.caption(escape_markdown(f"rMD17 folder (set by the server): {rmd17_data_dir()}"))
    elif state[f"{prefix}_data"] == "rmd17":
        text = st.text_input("rMD17 folder", key=f"{prefix}_rmd17_dir", placeholder=str(rmd17_data_dir()),
                             help="Where the rmd17_<molecule>_<train|test>_<NN>.npz files are (empty: $EQUIV_RMD17_DIR or the "
                                  "data home's rmd17 folder; `equiv data download rmd17` puts them there).")
        if text.strip():
            try:
                parse_folder(text)
            except EquivError as exc:
                st.error(escape_markdown(f"{exc}; using {rmd17_data_dir()} instead."))


def budget_inputs(prefix: str) -> None:
    b0, b1, b2 = st.columns(3)
    number_setting(b0, "Steps (0: no limit)", prefix, "steps", step=100)
    number_setting(b1, "Epochs (0: no limit)", prefix, "epochs", step=5)
    number_setting(b2, "Time limit, s (0: none)", prefix, "seconds", step=30.0, format="%.0f")
    if not (state[f"{prefix}_steps"] or state[f"{prefix}_epochs"] or state[f"{prefix}_seconds"]):
        st.caption(f"No budget given: runs train for {DEFAULT_MAX_TIME_S:.0f} s, as `equiv train` does.")
    d1, d2 = st.columns(2)
    d1.selectbox("Device", LAB["device"].rule.options, key=f"{prefix}_device",
                 help="auto takes CUDA when there is a GPU. " + ("CUDA is available here." if cuda_reason is None
                                                                else f"No CUDA here: {cuda_reason}."))
    number_setting(d2, "Seed", prefix, "seed")


def tuning_inputs(prefix: str, model: str) -> None:
    default_layers, default_channels = preset_size(model)
    t1, t2 = st.columns(2)
    number_setting(t1, "Layers", prefix, "layers", placeholder=f"preset: {default_layers}")
    number_setting(t2, "Channels", prefix, "channels", placeholder=f"preset: {default_channels}")
    t3, t4 = st.columns(2)
    number_setting(t3, "Learning rate", prefix, "lr", format="%.4g", placeholder="default")
    number_setting(t4, "Batch size", prefix, "batch")


# -- page -----------------------------------------------------------------------------------------
st.title("Training lab")
st.caption("Train small models on generated GFN2-xTB data or on rMD17, watch their errors fall, and ask whether "
           "equivariant models learn more from less data. Runs execute in background processes of their own: "
           "they keep going when you reload, switch pages or restart the server.")

single_tab, sweep_tab = st.tabs(["Train one model", "Data-efficiency sweep"])

with single_tab:
    for problem in state.pop("tl_link_problems", []):  # said once
        st.warning(escape_markdown(problem))
    c1, c2, c3 = st.columns(3)
    with c1:
        model = st.selectbox("Model", LAB_MODELS, format_func=MODEL_TITLES.get, key="tl_model")
        tuning_inputs("tl", model)
    with c2:
        data_inputs("tl")
        n1, n2 = st.columns(2)
        number_setting(n1, "Training structures", "tl", "n_train", step=25)
        number_setting(n2, "Validation structures", "tl", "n_val", step=10)
    with c3:
        budget_inputs("tl")

    status = data_status(state.tl_data, state.tl_molecule, rmd17_folder("tl"), store)
    if status.available:
        st.caption(escape_markdown(f"{status.label}: {status.pool_size:,} structures for training and validation, "
                                   f"{status.test_size:,} test structures."))
    elif status.generating is not None:
        st.info(escape_markdown(status.message or ""), icon=":material/hourglass_top:")
    else:
        st.warning(escape_markdown(status.message or ""), icon=":material/database:")
        if state.tl_data == "xtb" and state.tl_molecule in LIBRARY:
            g1, g2 = st.columns([1, 2])
            frames = g1.number_input("Frames to generate", min_value=10, max_value=100_000,
                                     value=DEFAULT_GENERATE_FRAMES, step=500, key="tl_gen_frames")
            estimate = generation_seconds_estimate(load_molecule(state.tl_molecule).n_atoms, generate_settings(int(frames)))
            if g2.button(f"Generate {LIBRARY[state.tl_molecule].title} data (about {format_duration(estimate)} here)",
                         icon=":material/science:", key="tl_generate"):
                try:
                    with run_owner(session_owner()):
                        run = queue_generation(state.tl_molecule, int(frames), state.tl_generate_nonce, store)
                    new_nonce("tl_generate_nonce")  # a second click finds this run active; a later one makes a new one
                    watch(run.id)
                    st.rerun()
                except EquivError as exc:
                    st.error(escape_markdown(str(exc)))

    executor_caption()
    launch_col, copy_col = st.columns([1, 3])
    launched = launch_col.button("Launch", type="primary", icon=":material/play_arrow:", key="tl_launch")
    copy_col.button("New launch form", key="tl_copy", on_click=new_nonce, args=("tl_nonce",),
                    help="A click on Launch with the same settings from the same form is the same run (a double click "
                         "never queues twice). Press this to queue the same settings once more.")
    if launched:
        check = check_request(form_values("tl"), store, rmd17_folder("tl"))
        if not check.ok:
            for problem in check.problems:
                st.error(escape_markdown(problem), icon=":material/block:")
        else:
            try:
                with run_owner(session_owner()):
                    run = (launch_on_cluster(check, state.tl_nonce, store, cluster) if cluster is not None
                           else launch_request(check, state.tl_nonce, store))
            except EquivError as exc:
                st.error(escape_markdown(str(exc)))
            else:
                if run.id in state.tl_launched:
                    st.info(f"These settings were launched from this form already: run {run.id} ({run.status}). "
                            "A second click makes no second run; press *New launch form* to queue another.")
                else:
                    state.tl_launched.append(run.id)
                    st.success(f"Queued run {run.id} on the {run.device} queue.", icon=":material/schedule:")
                watch(run.id)

    with st.expander("Queues: runs at a time per device"):
        for device in DEVICE_QUEUES:
            if device == "cuda" and cuda_reason is not None:
                continue
            current = max_running(device, store.path)
            chosen = st.number_input(f"{device} runs at a time", min_value=1, max_value=MAX_CONCURRENCY, value=current,
                                     key=f"tl_queue_{device}")
            if chosen != current:
                set_max_running(device, int(chosen), store.path)
        st.caption("Queued runs start in order on each device, this many at a time (default one). On a machine with "
                   "few cores more than one CPU run at a time makes each slower.")

with sweep_tab:
    st.markdown("Queue a grid of models × training-set sizes × seeds as ordinary runs, then watch the "
                "**learning curves** (test force error against training-set size, log-log) fill in. The NequIP paper's "
                "claim: models with l ≥ 1 features have a steeper slope than the invariant l = 0 model. Every run gets "
                "the same optimizer **steps** (a fair budget: epochs would give large training sets far more steps); "
                "each records whether it converged (validation force error still falling by 10 % or more over the "
                "second half of its steps: not converged).")
    s1, s2, s3 = st.columns([1.3, 1, 1])
    with s1:
        state.setdefault("sw_models", ["mlp", "nequip-l0", "nequip-l1"])
        sweep_models = st.multiselect("Models", LAB_MODELS, format_func=MODEL_TITLES.get, key="sw_models")
        tuning_inputs("sw", (sweep_models or ["nequip-l1"])[0])
    with s2:
        data_inputs("sw")
        state.setdefault("sw_sizes", "25,50,100,200")
        state.setdefault("sw_seeds", 2)
        st.text_input("Training-set sizes", key="sw_sizes")
        m1, m2 = st.columns(2)
        m1.number_input("Seeds", min_value=1, max_value=10, key="sw_seeds")
        number_setting(m2, "Validation structures", "sw", "n_val")
    with s3:
        budget_inputs("sw")
    sweep_clicked = st.button("Queue the sweep", type="primary", icon=":material/stacked_line_chart:", key="sw_launch")
    if sweep_clicked:
        try:
            plan = plan_sweep(sweep_models, parse_sizes(state.sw_sizes), int(state.sw_seeds),
                              {**form_values("sw"), "data_dir": rmd17_folder("sw")})
            checks, problems = check_sweep(plan, store)
        except EquivError as exc:
            problems = [str(exc)]
        if problems:
            for problem in problems:
                st.error(escape_markdown(problem), icon=":material/block:")
        else:
            settings = json.dumps([c.config.to_dict() for c in checks], sort_keys=True)
            group = "sweep-" + hashlib.sha256(f"{state.tl_sweep_nonce}\n{settings}".encode()).hexdigest()[:10]
            try:
                with run_owner(session_owner()):
                    if cluster is not None:
                        group, runs, _ = queue_cluster_sweep(plan, store, cluster, group_id=group)
                    else:
                        group, runs = queue_sweep(plan, store, group_id=group)
            except EquivError as exc:
                st.error(escape_markdown(str(exc)), icon=":material/block:")
            else:
                state.tl_group = group
                st.query_params["group"] = group
                st.success(f"Queued {len(runs)} runs as {group} (runs {runs[0].id}–{runs[-1].id}).")
    st.button("New sweep form", key="sw_copy", on_click=new_nonce, args=("tl_sweep_nonce",),
              help="Queuing the same grid twice from one form is one sweep; press this to queue it once more.")

# The link follows the form (a reload keeps it) and names the watched run and sweep.
state.tl_form, state.sw_form = form_values("tl"), form_values("sw")
query = lab_link(state.tl_form)
for key in ("run", "group"):
    if key in st.query_params:
        query[key] = st.query_params[key]
if st.query_params.to_dict() != query:
    st.query_params.from_dict(query)

# -- live view: the run store, polled in a fragment ------------------------------------------------
try:
    active = store.list_runs(status=ACTIVE_STATUSES)
    recent = active or store.list_runs(limit=1)
except RunError as exc:
    store_problem(exc)
    st.stop()
watched = state.get("tl_watch")
if watched is None:
    watched = next(iter(parse_run_ids(st.query_params.get("run", ""), max_count=1)[0]), None)
if watched is None:
    watched = recent[0].id if recent else None
group = state.get("tl_group") or st.query_params.get("group") or None
active_ids = sorted(r.id for r in active)


@st.fragment(run_every=POLL_S if active else None)
def live_view() -> None:
    try:
        live_view_body()
    except RunError as exc:
        store_problem(exc)


def stalled_queues(active: list) -> None:
    """Queues with waiting runs and no launcher (it stopped, or the server restarted): said, with
    a button that starts one. Never started unasked: showing runs is a read."""
    waiting = sorted({r.device for r in active if r.status == "queued"} & set(DEVICE_QUEUES))
    for device in (d for d in waiting if not launcher_serving(store.path, d)):
        st.warning(f"Runs wait on the {device} queue, but no launcher serves it (it stopped, or the server "
                   "restarted).", icon=":material/pause_circle:")
        if st.button(f"Start the {device} queue", key=f"tl_start_{device}", icon=":material/play_arrow:"):
            ensure_launcher(device, store)
            st.rerun(scope="fragment")


def live_view_body() -> None:
    now_active = store.list_runs(status=ACTIVE_STATUSES)  # a read: launchers start only when work is queued
    if sorted(r.id for r in now_active) != active_ids:
        st.rerun()  # a run ended or appeared: redraw the whole page (data status, menus, polling)
    stalled_queues(now_active)
    others = [r for r in now_active if r.id != watched]
    if others:
        with st.container(border=True):
            st.markdown("**Queue**" + (" (besides the run below)" if len(others) < len(now_active) else ""))
            for r in others[::-1]:
                line = status_line(r, store.queue_position(r.id) if r.status == "queued" else None)
                if r.status == "running":
                    st.progress(min(1.0, r.progress or 0.0), text=escape_markdown(line))
                else:
                    st.caption(escape_markdown(line))
    if watched is None:
        st.info("No runs yet: launch one above.")
        return
    run = next((r for r in now_active if r.id == watched), None)
    if run is None:
        try:
            run = store.get(watched)
        except RunGone:
            st.warning(f"Run {watched} is not in this machine's run store.")
            return
    epochs = store.epochs(run.id)
    progress = run_progress(run, epochs)
    ahead = store.queue_position(run.id) if run.status == "queued" else None
    st.subheader(escape_markdown(status_line(run, ahead)), anchor=False)
    if run.status == "queued":
        st.info(f"Waiting for the {run.device} queue ({ahead} run(s) ahead).", icon=":material/schedule:")
    gone = store.dead_workers().get(run.id) if run.status == "running" else None  # a read
    if gone:
        st.error(f"Run {run.id}'s worker is gone: {gone}. The run store marks it ended when a queue's launcher "
                 "or `equiv runs list` next looks; its best checkpoint so far is kept.", icon=":material/error:")
    if run.active:
        bar, cancel = st.columns([5, 1])
        bar.progress(min(1.0, progress.fraction), text=escape_markdown(progress.text))
        if run.cancel_requested:
            cancel.caption("stopping…")
        elif cancel.button("Cancel", icon=":material/stop:", key=f"tl_cancel_{run.id}"):
            cancel_run(store, run.id)  # a cluster run's job gets scancel
            st.rerun(scope="fragment")
    run_executor(run)
    run_outcome(run)
    if epochs:
        st.plotly_chart(curves_figure(epochs), width="stretch", key="tl_curves")
    elif run.kind != "generate" and run.active:
        st.caption("The curves appear after the first epoch.")
    if group:
        st.divider()
        st.markdown(f"**Sweep {escape_markdown(group)}**")
        learning_curve_section(store, group, key="tl_sweep")
    st.page_link(RUNS_PAGE, label="All runs, comparisons and the results table", icon=":material/table_chart:")


live_view()
