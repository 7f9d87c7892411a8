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
