"""The training lab in headless Chromium against a real `streamlit run`, with real launcher and
worker processes: launch a tiny run from the form, reload while it runs and see it finish with its
curves; a killed worker is reported failed within seconds; a server restart during a run finds
the run again (and cancel stops it); two browser sessions launching at once make two runs in queue
order without database errors."""

from __future__ import annotations

import os
import signal
import time

import pytest

from equiv.data import generate_xtb_dataset, write_dataset_npz
from equiv.runs import RunStore
from tests.conftest import wait_for
from tests.e2e.conftest import StreamlitServer, new_page, screenshot, wait_for_app
from tests.jobs_tools import stop_background

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def lab_home(tmp_path_factory):
    """A data home with a small generated ethanol data set (45 + 15 structures)."""
    home = tmp_path_factory.mktemp("train-e2e-home")
    ds = generate_xtb_dataset("ethanol", frames=60, stride=2, equilibration_steps=20, seed=1, trajectories=1)
    write_dataset_npz(ds, home / "datasets" / "xtb_ethanol.npz")
    return home


class Lab:
    """This module's server on ``home`` (a test may restart it: ``restart`` replaces it)."""

    def __init__(self, home):
        self.home = home
        self.server = self._start()

    def _start(self) -> StreamlitServer:
        return StreamlitServer(self.home, env={"EQUIV_LAUNCHER_IDLE_S": "5"}).start()

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self, between=None) -> None:
        self.server.stop()
        if between is not None:
            between()
        self.server = self._start()


@pytest.fixture(scope="module")
def lab(lab_home):
    lab = Lab(lab_home)
    yield lab
    lab.server.stop()
    stop_background(RunStore(lab_home / "runs.sqlite"))


@pytest.fixture
def store(lab_home):
    """The lab's run store; a run a test leaves behind (it failed midway) is stopped after it, so
    the next test's runs do not queue behind it."""
    store = RunStore(lab_home / "runs.sqlite")
    yield store
    stop_background(store)


def queue_story(store: RunStore, run_id: int) -> str:
    """The run's status and the end of the cpu launcher's log: what a timed-out wait reports."""
    log = store.path.parent / "logs" / "launcher-cpu.log"
    tail = log.read_text().splitlines()[-15:] if log.exists() else ["(no launcher log)"]
    return f"run {run_id} is {store.get(run_id).status}; launcher log ends:\n" + "\n".join(tail)


def tiny_link(url: str, epochs: int = 0, seconds: float = 0) -> str:
    """The training lab with its form filled by the link: NequIP l_max 1 with 1 layer of 4 channels
    on 10 structures, for ``epochs`` or ``seconds``."""
    return f"{url}/train?n_train=10&n_val=5&layers=1&channels=4&epochs={epochs}&seconds={seconds:g}"


def set_number(page, label: str, value) -> None:
    box = page.get_by_role("tabpanel", name="Train one model").get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_for_app(page, timeout=TIMEOUT_MS)


def open_train(page, url: str) -> None:
    page.goto(url)
    wait_for_app(page, timeout=TIMEOUT_MS)
    page.get_by_text("Training lab", exact=True).first.wait_for(timeout=TIMEOUT_MS)


def wait_for_text(page, text: str, timeout_ms: float = TIMEOUT_MS) -> None:
    page.get_by_text(text, exact=False).first.wait_for(timeout=timeout_ms)


def no_exceptions(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def newest(store: RunStore):
    return store.list_runs(limit=1)[0]


def launch_long_run(page, lab: Lab, store: RunStore):
    """Launch a 5-minute tiny run from the form and wait for its first epoch; returns its record."""
    open_train(page, tiny_link(lab.url, seconds=300))
    page.get_by_role("button", name="Launch", exact=True).click()
    wait_for_text(page, "on the cpu queue")
    run = newest(store)
    try:
        wait_for(lambda: store.epochs(run.id), timeout=120, what="the first epoch")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {queue_story(store, run.id)}") from None
    return run


def test_launch_reload_and_watch_a_run_finish(lab, store, browser):
    page = new_page(browser, height=1400)
    try:
        open_train(page, f"{lab.url}/train")
        for label, value in (("Training structures", 10), ("Validation structures", 5), ("Layers", 1),
                             ("Channels", 4), ("Epochs (0: no limit)", 0), ("Time limit, s (0: none)", 6)):
            set_number(page, label, value)  # typed, as a person does
        page.get_by_role("button", name="Launch", exact=True).click()
        wait_for_text(page, "on the cpu queue")
        run = newest(store)
        assert run.config["max_time_s"] == 6.0 and run.config["n_train"] == 10
        wait_for(lambda: store.epochs(run.id), timeout=120, what="the first epoch")
        # The worker waits (SIGSTOP) while the page reloads, so that a loaded machine cannot let the
        # 6 s run finish first; a paused worker is alive and far from stale_after_s.
        pid = store.get(run.id).pid
        os.kill(pid, signal.SIGSTOP)
        try:
            # the link names the run and keeps the form (the browser may get it after the first epoch is stored)
            wait_for(lambda: f"run={run.id}" in page.url, timeout=60, what="the link to name the run")
            assert "n_train=10" in page.url
            page.reload()  # the page holds nothing: it reattaches from the run store
            wait_for_app(page, timeout=TIMEOUT_MS)
            wait_for_text(page, f"run {run.id} · nequip-l1 on xtb:ethanol")
            assert store.get(run.id).status == "running"
            form = page.get_by_role("tabpanel", name="Train one model")
            box = form.get_by_label("Training structures", exact=True)
            wait_for(lambda: box.input_value() == "10", timeout=30, what="the form to come back from the link")
            progress = page.locator("[data-testid='stProgress']")
            progress.first.wait_for(timeout=TIMEOUT_MS)
            screenshot(page, "train-running")
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for_text(page, f"Run {run.id} finished: test energy MAE")
        wait_for_app(page, timeout=TIMEOUT_MS)
        page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)
        assert page.get_by_text(f"Open run {run.id} in the rotation lab").count() == 1
        no_exceptions(page)
        path = screenshot(page, "train-finished", whole_app=True)
        assert path.stat().st_size > 20_000
        assert page.external_requests == [], page.external_requests
    finally:
        page.context.close()


def test_a_killed_worker_is_reported_failed_within_seconds(lab, store, page):
    run = launch_long_run(page, lab, store)
    pid = store.get(run.id).pid
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    wait_for_text(page, f"Run {run.id} failed", timeout_ms=15_000)
    seconds = time.monotonic() - t0
    record = store.get(run.id)
    assert record.status == "failed" and str(pid) in record.error and seconds < 10
    assert str(pid) in page.inner_text("[data-testid='stMain']")
    no_exceptions(page)
    screenshot(page, "train-worker-killed")


def test_a_server_restart_during_a_run_finds_it_again(lab, store, page):
    run = launch_long_run(page, lab, store)
    page.goto("about:blank")

    def still_running() -> None:
        assert store.get(run.id).status == "running"  # the run does not belong to the server

    lab.restart(between=still_running)
    epochs_before = len(store.epochs(run.id))
    open_train(page, f"{lab.url}/train")  # no link: the page finds the running run itself
    wait_for_text(page, f"run {run.id} · nequip-l1 on xtb:ethanol · 10 train · running")
    wait_for(lambda: len(store.epochs(run.id)) > epochs_before, timeout=60, what="more epochs after the restart")
    bar = page.locator("[data-testid='stProgress']").filter(has_text="epochs done")
    bar.first.wait_for(timeout=TIMEOUT_MS)
    screenshot(page, "train-after-restart")
    page.get_by_role("button", name="Cancel", exact=True).click()
    wait_for_text(page, f"Run {run.id} was cancelled. Its best checkpoint is kept")
    record = store.get(run.id)
    assert record.status == "cancelled" and os.path.isfile(record.checkpoint_path)
    no_exceptions(page)


def test_two_sessions_launching_at_once_make_two_runs_in_queue_order(lab, store, browser):
    pages = [new_page(browser) for _ in range(2)]
    try:
        for page in pages:
            open_train(page, tiny_link(lab.url, epochs=2))
        before = {r.id for r in store.list_runs()}
        for page in pages:
            page.get_by_role("button", name="Launch", exact=True).click()  # both, without waiting
        for page in pages:
            wait_for_text(page, "on the cpu queue")
        new = sorted(r.id for r in store.list_runs() if r.id not in before)
        assert len(new) == 2 and new[1] == new[0] + 1
        try:
            wait_for(lambda: all(store.get(i).status == "finished" for i in new), timeout=180, what="both runs")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {queue_story(store, new[-1])}") from None
        first, second = (store.get(i) for i in new)
        assert first.started_at <= second.started_at and second.started_at >= first.finished_at  # in queue order
        for page in pages:
            no_exceptions(page)
        log = lab.server.log_path.read_text()
        assert "database is locked" not in log and "Traceback" not in log
        # The runs page lists them, with the results table beside the published numbers.
        runs_page = pages[0]
        runs_page.goto(f"{lab.url}/runs")
        wait_for_app(runs_page, timeout=TIMEOUT_MS)
        wait_for_text(runs_page, "Results beside the published numbers")
        frames = runs_page.locator("[data-testid='stDataFrame']")
        wait_for(lambda: frames.count() >= 2, timeout=60, what="the run table and the results table")
        runs_page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)  # the compared curves
        no_exceptions(runs_page)
        screenshot(runs_page, "runs-page", whole_app=True)
        assert runs_page.external_requests == [], runs_page.external_requests
    finally:
        for page in pages:
            page.context.close()
