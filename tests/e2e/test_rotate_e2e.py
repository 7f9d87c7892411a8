"""The rotation lab in a real browser: 3Dmol.js from the local copy, WebGL canvases, a rotation
control that changes the view without reloading the viewer, the spin, and screenshots."""

from __future__ import annotations

import io
import time

import pytest

from tests.conftest import wait_for
from tests.e2e.conftest import ARTIFACTS, screenshot, wait_for_app

VIEWER = "molecule_viewer"


def viewer_frame(page, renders_above: int = 0, timeout: float = 120, server=None):
    """The viewer's iframe once it has drawn more than ``renders_above`` times (on a timeout: a
    screenshot, the script's state and the end of ``server``'s log in the message)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for frame in page.frames:
            if VIEWER in frame.url:
                try:
                    state = frame.evaluate("[document.body.dataset.renders || '0', document.body.dataset.error || '']")
                except Exception:  # the frame is still loading
                    continue
                assert not state[1], state[1]
                if int(state[0]) > renders_above:
                    return frame
        time.sleep(0.25)
    frames = [f.url.split("?")[0] for f in page.frames]
    state = page.locator("[data-testid='stApp']").get_attribute("data-test-script-state")
    screenshot(page, "rotate-viewer-timeout")
    log = server.log_path.read_text(errors="replace")[-3000:] if server is not None else ""
    raise AssertionError(f"the 3D viewer did not draw (more than {renders_above} times) within {timeout} s; "
                         f"script {state}, frames {frames}, console errors {getattr(page, 'console_errors', [])}; "
                         f"server log:\n{log}")


def dataset(frame) -> dict:
    return frame.evaluate("Object.assign({}, document.body.dataset)")


def drawn_fraction(png: bytes) -> float:
    """Share of pixels that are not the white background."""
    from PIL import Image

    im = Image.open(io.BytesIO(png)).convert("L")
    pixels = list(im.get_flattened_data()) if hasattr(im, "get_flattened_data") else list(im.getdata())
    return sum(1 for p in pixels if p < 235) / len(pixels)


def test_rotation_lab_in_chromium(app_server, page):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.set_viewport_size({"width": 1600, "height": 2300})  # the whole page in the screenshots
    page.goto(f"{app_server.url}/rotate?molecule=aspirin")
    wait_for_app(page, timeout=180_000)
    frame = viewer_frame(page, server=app_server)

    # 3Dmol.js came from this server, not from a CDN; nothing left localhost.
    info = dataset(frame)
    assert info["threedmol"] == "local", info
    assert info["threedmolUrl"].startswith(app_server.url) and info["threedmolUrl"].endswith("/3Dmol-min.js")
    assert any(u.startswith(app_server.url) and u.endswith("/3Dmol-min.js") for u in requests)
    assert page.external_requests == [], page.external_requests
    assert page.page_errors == [], page.page_errors

    # Four viewers on one WebGL canvas, with the molecule and arrows drawn.
    assert info["panels"] == "4" and info["frames"] == "1"
    assert frame.locator("canvas").count() == 1
    assert frame.evaluate("!!document.querySelector('canvas').getContext('webgl2') || "
                          "!!document.querySelector('canvas').getContext('webgl')")
    stage = frame.locator("#stage")
    first = stage.screenshot()
    assert drawn_fraction(first) > 0.02
    titles = frame.locator(".head .title").all_inner_texts()
    assert titles == ["GVP-GNN", "NequIP", "MLP (trained aligned)", "Reference: GFN2-xTB"]
    screenshot(page, "rotate-aspirin")

    # Move the camera by dragging, mark the iframe, then turn the molecule with the angle slider.
    box = stage.bounding_box()
    x, y = box["x"] + box["width"] * 0.12, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 25, y + 8, steps=4)
    page.mouse.up()
    view = frame.evaluate("equivViewer.viewers[0].getView()")
    assert view == frame.evaluate("equivViewer.viewers[3].getView()")  # one shared camera
    frame.evaluate("window.__sameViewer = true")
    renders = int(dataset(frame)["renders"])

    slider = page.locator("[data-testid='stSlider'] input[type='range']").first
    slider.focus()
    for _ in range(3):
        page.keyboard.press("PageUp")  # +10° steps of the angle
    wait_for(lambda: int(dataset(frame)["renders"]) > renders and "0° about z" not in dataset(frame)["transform"],
             timeout=60, what="the viewer to draw the turned molecule")
    wait_for_app(page)
    frame = viewer_frame(page, renders_above=renders)
    assert frame.evaluate("window.__sameViewer === true")  # updated in place: no reload, no flicker
    assert frame.evaluate("equivViewer.viewers[0].getView()") == pytest.approx(view)  # the camera stayed
    after = stage.screenshot()
    assert after != first
    verdicts = frame.locator(".stat .verdict").all_inner_texts()
    assert verdicts == ["equivariant", "equivariant", "not equivariant", "reference"], verdicts
    assert "angle=" in page.url and "angle=0" not in page.url  # the link follows the control
    screenshot(page, "rotate-aspirin-turned")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "rotate-viewers.png").write_bytes(after)

    # The spin: a full turn computed once on the server and played by the browser.
    page.get_by_text("Spin (a full turn", exact=False).click()
    wait_for(lambda: dataset(frame).get("frames") == "36", timeout=180, what="the spin frames")
    seen = set()
    wait_for(lambda: seen.add(dataset(frame)["frame"]) or len(seen) >= 3, timeout=60, what="the animation to play")
    frame.locator("#pause").click()
    time.sleep(0.3)
    paused = dataset(frame)["frame"]
    time.sleep(1.0)
    assert dataset(frame)["frame"] == paused
    (ARTIFACTS / "rotate-spin-viewers.png").write_bytes(stage.screenshot())
    assert page.external_requests == [], page.external_requests
    assert page.page_errors == [], page.page_errors
    exceptions = page.locator("[data-testid='stException']")
    assert exceptions.count() == 0
