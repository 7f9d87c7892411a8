"""The 3D viewer in Chromium takes render messages only from its parent window: a sibling frame's
message (another component, an injected frame) is ignored, the parent's is drawn."""

from __future__ import annotations

import json

import pytest

from equiv.widgets import FRONTEND_DIR, local_3dmol_installed

RENDER = {"type": "streamlit:render", "args": {"scene": None}}


def test_the_viewer_ignores_render_messages_that_do_not_come_from_its_parent(tmp_path, browser):
    """One page of the session's Chromium (a second Playwright in one process is refused)."""
    if not local_3dmol_installed():
        pytest.fail("the local 3Dmol.js is missing (make setup)")
    viewer = (FRONTEND_DIR / "index.html").as_uri()
    host = tmp_path / "host.html"
    host.write_text(f'<iframe id="viewer" src="{viewer}"></iframe><iframe id="sibling" srcdoc="<p>x</p>"></iframe>')
    page = browser.new_page()
    try:
        page.goto(host.as_uri())
        frame = page.frame_locator("#viewer")
        frame.locator("#root").wait_for(state="attached")
        viewer_frame = next(f for f in page.frames if f.url.endswith("index.html"))
        sibling = next(f for f in page.frames if f is not page.main_frame and f is not viewer_frame)
        sibling.evaluate(f"parent.frames[0].postMessage({json.dumps(RENDER)}, '*')")
        viewer_frame.evaluate(f"window.postMessage({json.dumps(RENDER)}, '*')")  # from itself
        page.wait_for_timeout(1000)
        assert "threedmol" not in viewer_frame.evaluate("Object.assign({}, document.body.dataset)")
        page.evaluate(f"document.getElementById('viewer').contentWindow.postMessage({json.dumps(RENDER)}, '*')")
        viewer_frame.wait_for_function("document.body.dataset.threedmol === 'local'", timeout=30_000)
    finally:
        page.close()
