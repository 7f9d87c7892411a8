"""Rerun time of the irreps lab in headless Chromium against a real ``streamlit run``.

For each section: press a "random" button and time from the click until the new settings are in
the URL (written by the rerun) and the script has finished (``data-test-script-state`` back to
``notRunning``). Includes the websocket round trip and the browser's own work on the same CPUs
(plotly drawing, WebGL in software), so it is an upper bound on what a person waits for.

    .venv/bin/python bench/irreps_browser.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.e2e.conftest import CHROMIUM_ARGS, StreamlitServer, chromium_path  # noqa: E402

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def timed(page, action) -> float:
    before = page.url
    start = time.perf_counter()
    action()
    page.wait_for_function("(old) => window.location.href !== old", arg=before, timeout=60_000)
    page.wait_for_selector(IDLE, timeout=60_000)
    return time.perf_counter() - start


def main(runs: int = 6) -> None:
    server = StreamlitServer(Path(tempfile.mkdtemp())).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            print(f"{'section':22s} {'median ms':>10s} {'max ms':>8s}")
            for section, button in [
                ("Outer product", "Random a, b"),
                ("Rotate & reflect", "Random R"),
                ("Spherical harmonics", "Random R"),
                ("Wigner-D", "Random R"),
            ]:
                page.goto(f"{server.url}/irreps?section={quote(section)}")
                page.wait_for_selector(IDLE, timeout=60_000)
                page.wait_for_selector(".js-plotly-plot", timeout=60_000)
                times = [timed(page, lambda: page.get_by_role("button", name=button).click()) for _ in range(runs)]
                print(f"{section:22s} {1000 * statistics.median(times):10.0f} {1000 * max(times):8.0f}")
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
