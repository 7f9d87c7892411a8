"""End-to-end harness: a real ``streamlit run app.py`` (started as ``make run`` starts it, ``python -m equiv.serve``) driven by Debian's Chromium through Playwright.

Fixtures:
    app_server: base URL of a Streamlit server started on a free localhost port (module scope),
        with its own EQUIV_HOME.
    browser: a headless Chromium (session scope). Playwright cannot download browsers here, so it
        launches the machine's Chromium (``/usr/bin/chromium``, or ``EQUIV_CHROMIUM``). Without one,
        the e2e tests are skipped on a developer machine and fail under CI (``CI`` set).
    page: a fresh page whose requests to anything but localhost are blocked and recorded in
        ``page.external_requests`` (the app must work offline).

Helpers: :func:`wait_for_app` waits until the script has finished running;
:func:`screenshot` saves under ``test-artifacts/`` (optionally the whole app, not just the window).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
]

E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """Mark every test under tests/e2e/ ``e2e`` (a ``pytestmark`` in a conftest marks nothing), so
    that ``-m 'not e2e'`` leaves out the browser tests. Called with the whole session's items."""
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("EQUIV_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """A ``python -m equiv.serve`` (``streamlit run app.py`` after preloading) subprocess on a free port."""

    def __init__(self, home: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = home
        self.log_path = home / "streamlit.log"
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> "StreamlitServer":
        env = {**os.environ, "EQUIV_HOME": str(self.home), **self.extra_env}
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "equiv.serve", "--server.port", str(self.port),  # as make run starts it
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not become healthy:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    server = StreamlitServer(tmp_path_factory.mktemp("e2e-home")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        message = "no Chromium found (apt-get install chromium, or set EQUIV_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser, width: int = 1600, height: int = 1000):
    """A page in a fresh browser context (its own cookies: another browser session), whose
    requests to anything but localhost are blocked and recorded in ``page.external_requests``
    (uncaught script errors in ``page.page_errors``).
    Close it with ``page.context.close()``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    pg = context.new_page()
    pg.external_requests = []  # type: ignore[attr-defined]

    def guard(route):
        host = urlparse(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            pg.external_requests.append(route.request.url)  # type: ignore[attr-defined]
            route.abort()

    context.route("**/*", guard)
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))  # type: ignore[attr-defined]
    pg.page_errors = []  # type: ignore[attr-defined]  # uncaught exceptions in the page and its frames
    pg.on("pageerror", lambda e: pg.page_errors.append(str(e)))  # type: ignore[attr-defined]
    return pg


@pytest.fixture
def page(browser):
    pg = new_page(browser)
    yield pg
    pg.context.close()


def wait_for_app(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has rendered and its script run has finished; fail on exceptions."""
    page.wait_for_selector("[data-testid='stAppViewContainer']", timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    exceptions = page.locator("[data-testid='stException']")
    assert exceptions.count() == 0, exceptions.first.inner_text()


def screenshot(page, name: str, whole_app: bool = False) -> Path:
    """Save ``test-artifacts/<name>.png``.

    Streamlit scrolls inside its main container, so ``full_page`` alone stops at the window;
    ``whole_app`` first makes the window as tall as the app's content (and leaves it so).
    """
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if whole_app:
        height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
        page.set_viewport_size({"width": page.viewport_size["width"], "height": max(page.viewport_size["height"], height + 40)})
        page.wait_for_timeout(800)  # let plotly relayout to the new size
    page.screenshot(path=str(path), full_page=True)
    return path
