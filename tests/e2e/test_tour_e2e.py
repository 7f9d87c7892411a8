"""The tour in headless Chromium against a real `streamlit run`: step with the keyboard (PageDown,
PageUp, arrows) without stealing keys from a text input, F for the full-screen 3D viewer, and the
viewer's exports (a panel as PNG, the spin as WebM) downloaded and checked."""

from __future__ import annotations

import base64
import io
from urllib.parse import parse_qs, urlparse

import pytest
from PIL import Image

from equiv.views.tour import STEPS
from tests.e2e.conftest import ARTIFACTS, wait_for_app

VIEWER = "iframe[src*='molecule_viewer']"


def step_of(page) -> str:
    return parse_qs(urlparse(page.url).query).get("step", ["?"])[-1]


def wait_for_step(page, k: int) -> None:
    page.get_by_role("heading", name=STEPS[k - 1].title).wait_for(timeout=120_000)
    wait_for_app(page)
    assert step_of(page) == str(k)


@pytest.mark.slow  # about 100 s on this 2-core machine at load 6–8; most of it the first 3D render (SwiftShader)
def test_keyboard_steps_fullscreen_and_exports(app_server, page):
    page.goto(f"{app_server.url}/tour?step=2")
    wait_for_step(page, 2)
    # Installed and told the step count (before its first render it knows of one step only).
    keys = page.frame_locator("iframe[src*='presenter_keys']")
    keys.locator("body[data-installed='1'][data-step='2']").wait_for(state="attached", timeout=90_000)
    page.keyboard.press("PageDown")
    wait_for_step(page, 3)
    page.keyboard.press("ArrowLeft")
    wait_for_step(page, 2)

    # Keys typed into the function's text box stay there.
    box = page.get_by_role("textbox", name="f(a, b, r)")
    box.click()
    for key in ("ArrowLeft", "ArrowRight", "PageDown", "f"):
        box.press(key)
    page.wait_for_timeout(2000)
    assert step_of(page) == "2" and page.get_by_role("heading", name=STEPS[1].title).count() == 1
    box.fill("dot(a, b)")
    box.press("Enter")
    page.get_by_text("invariant: 0e").first.wait_for(timeout=90_000)
    page.get_by_role("heading", name=STEPS[1].title).click()  # focus back on the page
    page.keyboard.press("PageUp")
    wait_for_step(page, 1)

    # F: the viewer covers the window; F again: back.
    frame = page.frame_locator(VIEWER)
    frame.locator("body[data-renders]").wait_for(state="attached", timeout=180_000)
    frame.locator("#pause").dispatch_event("click")  # stop the spin: SwiftShader redrawing 3 panels slows all else
    page.keyboard.press("f")
    page.wait_for_function(f"document.querySelector(\"{VIEWER}\").classList.contains('equiv-fullscreen')", timeout=90_000)
    frame.locator("body[data-fullscreen='1']").wait_for(state="attached", timeout=90_000)
    # Geometry from the page itself (Playwright's own waits stall while the browser is in full screen).
    width, height = page.evaluate(f"() => {{ const r = document.querySelector(\"{VIEWER}\").getBoundingClientRect(); return [r.width, r.height]; }}")
    assert width >= 1500 and height >= 900, (width, height)
    viewer = page.locator(VIEWER).element_handle().content_frame()  # the viewer's Frame, for evaluate()
    assert viewer.evaluate("() => document.getElementById('stage').getBoundingClientRect().height") > 700
    page.keyboard.press("f")
    page.wait_for_function(f"!document.querySelector(\"{VIEWER}\").classList.contains('equiv-fullscreen')", timeout=90_000)

    # PNG of one panel: its column of the grid's shared canvas, at the canvas's pixel size.
    canvas_w, canvas_h, n_panels = viewer.evaluate(
        "() => { const c = window.equivViewer.viewers[0].getCanvas(); return [c.width, c.height, window.equivViewer.viewers.length]; }")
    with page.expect_download() as info:
        frame.locator("button[data-export='png']").first.dispatch_event("click")  # the spin never lets it be "stable"
    png = info.value.path().read_bytes()
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (round(canvas_w / n_panels), canvas_h)
    assert image.convert("L").getextrema()[0] < 120  # atoms are drawn, not a blank canvas
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "tour-panel.png").write_bytes(png)

    # WebM of the spin, every panel side by side (the button's function; every 6th frame of the turn
    # to keep the test short on a busy machine).
    with page.expect_download(timeout=90_000) as info:
        viewer.evaluate("() => { window.equivViewerExports.record(12, 6); }")
    webm = info.value.path().read_bytes()
    (ARTIFACTS / "tour-spin.webm").write_bytes(webm)
    assert webm[:4] == b"\x1a\x45\xdf\xa3" and len(webm) > 10_000  # EBML (WebM) header, real content
    got = viewer.evaluate("""(b64) => new Promise((resolve, reject) => {
        const v = document.createElement('video');
        v.onloadedmetadata = () => resolve([v.videoWidth, v.videoHeight]);
        v.onerror = () => reject(new Error('not a playable video'));
        v.src = 'data:video/webm;base64,' + b64;
    })""", base64.b64encode(webm).decode())
    assert got == [canvas_w - canvas_w % 2, canvas_h - canvas_h % 2]
    assert frame.locator("button[data-export='webm']").count() == 1
    assert page.external_requests == [], page.external_requests
    assert page.page_errors == [], page.page_errors
