"""The 3D viewer in Chromium takes render messages only from its parent window: a sibling frame's
message (another component, an injected frame) is ignored, the parent's is drawn. Both of equiv's
components say "ready" again until the first render arrives, so a first message that Streamlit
dropped does not leave them blank."""

from __future__ import annotations

import json

import pytest

from equiv.widgets import FRONTEND_DIR, local_3dmol_installed
from equiv.widgets.presenter import PRESENTER_DIR

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


@pytest.mark.parametrize("frontend, args, drawn", [
    (FRONTEND_DIR / "index.html", {"scene": None}, "document.body.dataset.threedmol === 'local'"),
    (PRESENTER_DIR / "index.html", {"step": 2, "n_steps": 3, "hint": ""}, "document.body.dataset.step === '2'"),
], ids=["molecule_viewer", "presenter_keys"])
def test_a_component_says_ready_again_until_it_is_rendered(tmp_path, browser, frontend, args, drawn):
    """The host drops the first componentReady (as Streamlit does when the iframe posts it before the
    listener is registered) and answers the second: the component renders, then stops asking."""
    if not local_3dmol_installed():
        pytest.fail("the local 3Dmol.js is missing (make setup)")
    render = json.dumps({"type": "streamlit:render", "args": args})
    host = tmp_path / "host.html"
    host.write_text(
        f'<iframe id="c" src="{frontend.as_uri()}"></iframe><script>window.readies = 0;'
        'addEventListener("message", function (e) { if (!e.data || e.data.type !== "streamlit:componentReady") return;'
        f' window.readies += 1; if (window.readies === 2) document.getElementById("c").contentWindow.postMessage({render}, "*"); }});'
        '</script>')
    page = browser.new_page()
    try:
        page.goto(host.as_uri())
        page.wait_for_function("window.readies >= 2", timeout=30_000)
        component = next(f for f in page.frames if f.url.endswith("index.html"))
        component.wait_for_function(drawn, timeout=30_000)
        page.wait_for_timeout(2500)  # two more periods of the ready loop
        assert page.evaluate("window.readies") == 2
    finally:
        page.close()
