"""The home page in a real browser against a real `streamlit run`."""

import urllib.request

from tests.e2e.conftest import screenshot, wait_for_app


def test_server_is_healthy(app_server):
    with urllib.request.urlopen(f"{app_server.url}/_stcore/health", timeout=5) as r:
        assert r.read().strip() == b"ok"


def test_home_page_loads_in_chromium(app_server, page):
    page.goto(app_server.url)
    wait_for_app(page)
    page.get_by_text("is equivariant", exact=False).first.wait_for(timeout=30_000)
    assert "equivariant" in page.inner_text("[data-testid='stMain']")
    page.wait_for_selector(".katex", timeout=30_000)  # the definition rendered as math (lazy-loaded)
    path = screenshot(page, "home")
    assert path.stat().st_size > 10_000
    assert page.external_requests == [], page.external_requests
    assert page.page_errors == [], page.page_errors
