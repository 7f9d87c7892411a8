"""The MD lab in a real browser with real launcher and worker processes: launch a 200-step MD
from a deep link, see it finish with its verdict, and the trajectory play in the 3D viewer (all
frames sent once; the browser steps through them); a reload while it runs finds it again."""

from __future__ import annotations

import time

import pytest

from equiv.runs import RunStore
from tests.conftest import wait_for
from tests.e2e.conftest import StreamlitServer, screenshot, wait_for_app
from tests.jobs_tools import stop_background

TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def md_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("md-e2e-home")
    server = StreamlitServer(home, env={"EQUIV_LAUNCHER_IDLE_S": "5"}).start()
    yield server
    server.stop()
    stop_background(RunStore(home / "runs.sqlite"))


def trajectory_viewer(page, timeout: float = 120):
    """The viewer iframe that plays more than one frame."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for frame in page.frames:
            if "molecule_viewer" in frame.url:
                try:
                    info = frame.evaluate("Object.assign({}, document.body.dataset)")
                except Exception:  # still loading
                    continue
                assert not info.get("error"), info["error"]
                if int(info.get("frames") or 0) > 1:
                    return frame
        time.sleep(0.25)
    screenshot(page, "md-lab-no-trajectory", whole_app=True)
    seen = []
    for frame in page.frames:
        try:
            seen.append((frame.url[-60:], frame.evaluate("Object.assign({}, document.body.dataset)")))
        except Exception as exc:  # noqa: BLE001
            seen.append((frame.url[-60:], repr(exc)[:80]))
    raise AssertionError(f"no viewer played a trajectory; frames: {seen}")


def test_launch_md_and_watch_the_trajectory_play(md_server, page):
    # Chromium does not draw or animate a WebGL iframe created outside the window: a window tall
    # enough for the viewer from the start.
    page.set_viewport_size({"width": 1600, "height": 2400})
    page.goto(f"{md_server.url}/md?model=pretrained:ethanol:gvp&molecule=ethanol&steps=200&ensemble=nve"
              "&temperature=300", timeout=TIMEOUT_MS)
    wait_for_app(page, TIMEOUT_MS)
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url("**show=*", timeout=TIMEOUT_MS)
    page.reload()  # the run lives in the run store and a background worker, not in the browser session
    wait_for_app(page, TIMEOUT_MS)
    page.get_by_text("Stable: the molecule held together for all 200 steps").wait_for(timeout=TIMEOUT_MS)
    assert "show=" in page.url
    wait_for_app(page, TIMEOUT_MS)
    frame = trajectory_viewer(page)
    # Chromium does not run animation frames of an iframe outside the window (scrolling Streamlit's
    # container was not enough): make the window tall enough to show the viewer.
    page.set_viewport_size({"width": 1600, "height": 3200})
    frame.frame_element().scroll_into_view_if_needed()
    screenshot(page, "md-lab-viewer")
    assert frame.evaluate("document.body.dataset.frames") == "201"
    assert frame.evaluate("document.body.dataset.threedmol") == "local"
    seen: set[str] = set()
    wait_for(lambda: seen.add(frame.evaluate("document.body.dataset.frame")) or len(seen) >= 3, timeout=30,
             what="the trajectory to play")
    page.get_by_text("h(r): distribution of all interatomic distances").first.wait_for(timeout=30_000)
    screenshot(page, "md-lab", whole_app=True)
    assert page.external_requests == []
    assert page.page_errors == [], page.page_errors
    store = RunStore(md_server.home / "runs.sqlite")
    (run,) = store.list_runs(kind="md")
    assert run.status == "finished" and run.result["stable"] is True
    assert run.result["hr_error"] is not None
