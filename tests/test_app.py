"""The app starts and the home page explains equivariance (AppTest, no browser)."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_home_page_renders():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "equiv"
    text = " ".join(m.value for m in at.markdown)
    assert "equivariant" in text
    assert any("D(R)" in latex.value for latex in at.latex)


def test_no_legacy_pages_folder():
    # Streamlit treats a `pages/` folder next to the main script as a legacy (v1) multipage app until
    # the first st.navigation call in the process: a fresh server whose first request is a deep link
    # (/irreps?...) would run that file alone, without app.py's page config and navigation.
    root = Path(APP).parent
    assert not (root / "pages").exists(), "page scripts live in app_pages/, never in pages/"
