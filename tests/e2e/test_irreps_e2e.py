"""The irreps lab in headless Chromium against a real `streamlit run`: deep links on a fresh server,
heatmaps and 3D surfaces drawn, no request leaves the machine, screenshots of every section."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image

from tests.conftest import wait_for
from tests.e2e.conftest import screenshot, wait_for_app

SECTIONS = {
    # tab label: (text that appears once its content is drawn, screenshot name)
    "Rotate & reflect": ("Components before and after", "irreps-rotate"),
    "Clebsch–Gordan": ("Selection rule", "irreps-clebsch-gordan"),
    "Spherical harmonics": ("harmonics of order l = 2", "irreps-harmonics"),
    "Wigner-D": ("for the product check", "irreps-wigner"),
    "NequIP messages": ("weights per edge", "irreps-nequip"),
}


def query_of(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def wait_for_text(page, text: str) -> None:
    page.get_by_text(text, exact=False).first.wait_for(timeout=60_000)
    wait_for_app(page)


def open_section(page, label: str) -> None:
    page.get_by_role("tab", name=label).click()
    wait_for_text(page, SECTIONS[label][0])


def assert_not_blank(png: bytes) -> None:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    assert pixels.std() > 5, "the 3D chart is blank"
    assert (pixels < 200).mean() > 0.01, "almost nothing is drawn"


def test_a_deep_link_as_the_first_request_of_a_fresh_server(app_server, page):
    # The first request of this module's new server: the page must run inside app.py's navigation
    # (wide layout, the catalog's titles in the menu), not as a stray script.
    page.goto(f"{app_server.url}/irreps?a=2,0,1&b=0,1,0&l1=3&section=Outer%20product")
    wait_for_text(page, "Checks")
    nav = page.inner_text("[data-testid='stSidebarNav']")
    assert "Irreps lab" in nav and "Home" in nav and "catalog" not in nav
    box = page.get_by_role("textbox", name="Vector a (x, y, z)")
    # The page can show its checks a moment before the text box gets its value from the link.
    wait_for(lambda: box.input_value() == "2, 0, 1", 30, "the link's vector a in its text box")
    assert query_of(page)["l1"] == "3" and query_of(page)["a"] == "2,0,1"
    assert page.external_requests == [], page.external_requests
    assert page.page_errors == [], page.page_errors


def test_every_section_renders_its_figures(app_server, page):
    page.goto(f"{app_server.url}/irreps")
    wait_for_text(page, "All 8 checks pass")
    page.wait_for_selector(".js-plotly-plot .hm image", timeout=60_000)
    assert page.locator(".js-plotly-plot").count() >= 4  # a bᵀ and its three parts
    assert page.locator(".js-plotly-plot .main-svg").count() >= 4
    assert page.locator(".js-plotly-plot .hm image").count() >= 4  # heatmaps are drawn as images
    page.wait_for_selector(".katex", timeout=30_000)
    assert screenshot(page, "irreps", whole_app=True).stat().st_size > 50_000

    for label, (_, name) in SECTIONS.items():
        page.set_viewport_size({"width": 1600, "height": 1000})
        open_section(page, label)
        if label == "Spherical harmonics":
            page.wait_for_selector(".js-plotly-plot .gl-container canvas", timeout=60_000)
            page.wait_for_timeout(1500)  # WebGL (SwiftShader) draws after the DOM is there
            charts = page.locator(".js-plotly-plot:has(.gl-container)")
            assert charts.count() >= 2  # all Y_lm of one order, and f with its rotated f'
            assert_not_blank(charts.first.screenshot())
        elif label != "NequIP messages":
            page.wait_for_selector(".js-plotly-plot .hm image", timeout=60_000)
        assert page.locator("[data-testid='stException']").count() == 0
        assert "FAIL" not in page.inner_text("[data-testid='stMain']")
        assert screenshot(page, name, whole_app=True).stat().st_size > 30_000
        assert query_of(page).get("section", "Outer product") == label
    assert page.external_requests == [], page.external_requests
    assert page.page_errors == [], page.page_errors


@pytest.mark.parametrize("typed", ["3, 1, 2"])
def test_typing_updates_the_page_and_the_link(app_server, page, typed):
    page.goto(f"{app_server.url}/irreps")
    wait_for_text(page, "All 8 checks pass")
    box = page.get_by_role("textbox", name="Vector b (x, y, z)")
    box.fill(typed)
    box.press("Enter")
    page.wait_for_function("() => window.location.search.includes('b=3%2C1%2C2')", timeout=30_000)
    wait_for_app(page)
    assert query_of(page)["b"] == "3,1,2"
    # a = (1, 2, 3), b = (3, 1, 2): a·b = 11, a × b = (1, 7, −5)
    page.get_by_text("All 8 checks pass").wait_for(timeout=30_000)
    assert "11" in page.locator(".katex").nth(1).inner_text()
    box.fill("1, 2")
    box.press("Enter")
    page.get_by_text("is not 3 numbers like 1,2,3").wait_for(timeout=30_000)
    assert query_of(page)["b"] == "3,1,2"
    assert page.external_requests == [], page.external_requests
    assert page.page_errors == [], page.page_errors
