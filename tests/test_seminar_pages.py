"""The playground and tour pages through AppTest: verdicts on the page, typed functions and refusals,
deep links, every tour step renders, the presenter keys' value moves the tour, presenter mode."""

from __future__ import annotations

import json

import pytest

from equiv.views.tour import STEPS
from tests.apptest_tools import component_args, open_page, shown, texts

PLAYGROUND = "app_pages/playground.py"
TOUR = "app_pages/tour.py"


def test_playground_builtin_and_typed_functions():
    at = open_page(PLAYGROUND, {"f": "cross"})
    assert not at.exception, at.exception
    assert any("equivariant: 1e" in s for s in shown(at, "success"))
    at.selectbox(key="pg_function").set_value("sigma_r").run()
    assert any("neither" in s for s in shown(at, "error"))
    assert at.query_params["f"] == ["sigma_r"] or at.query_params["f"] == "sigma_r"
    at.text_input(key="pg_expr").set_value("outer(a, b)").run()  # typing makes it a custom function
    assert at.selectbox(key="pg_function").value == "custom" and at.query_params["expr"] in ("outer(a, b)", ["outer(a, b)"])
    assert any("0e+1e+2e" in s for s in shown(at, "success"))
    at.text_input(key="pg_expr").set_value("__import__('os')").run()
    assert not at.exception
    assert any("unknown function '__import__'" in s for s in shown(at, "error"))


def test_playground_bad_link():
    at = open_page(PLAYGROUND, {"f": "nope"})
    assert not at.exception
    assert any("not a built-in function" in s for s in shown(at, "warning"))
    at.selectbox(key="pg_function").set_value("centroid").run()
    at.selectbox(key="pg_positions").set_value("aspirin").run()  # r: a molecule's positions
    assert any("equivariant: 1o" in s and "moves with translations" in s for s in shown(at, "success"))


@pytest.mark.slow
def test_every_tour_step_renders():
    at = open_page(TOUR, {"step": "1"})
    assert not at.exception, at.exception
    assert component_args(at, "tour_keys")["n_steps"] == len(STEPS)
    viewer = component_args(at, "tour_viewer")
    assert len(viewer["scene"]["frames"]) == 36 and len(viewer["scene"]["panels"]) == 3
    for k in range(2, len(STEPS) + 1):
        at.button(key="tour_next").click().run()
        assert not at.exception, (k, at.exception)
        assert at.session_state["tour_step"] == k
        assert at.query_params["step"] in (str(k), [str(k)])
    assert at.button(key="tour_next").disabled


def test_tour_deep_link_keys_and_presenter_mode():
    at = open_page(TOUR, {"step": "4"})
    assert not at.exception, at.exception
    assert STEPS[3].title in texts(at, "header")[0]
    # What the presenter component sends after PageDown: the next step, with a fresh nonce.
    at.session_state["tour_keys"] = {"step": 5, "nonce": "k1"}
    at.run()
    assert at.session_state["tour_step"] == 5
    at.run()  # the same press is not applied twice
    assert at.session_state["tour_step"] == 5
    assert not at.get("html")
    at.toggle(key="tour_presenter").set_value(True).run()
    assert at.query_params["presenter"] in ("1", ["1"])
    css = at.get("html")[0].proto.body  # presenter mode: larger fonts, no sidebar
    assert "stSidebar" in css and "display: none" in css and "font-size" in css
    bad = open_page(TOUR, {"step": "99"})
    assert any("out of range" in s for s in shown(bad, "warning"))


def test_irreps_figures_download_as_png_or_svg():
    from tests.apptest_tools import _walk

    def configs(at):  # every plotly chart's toolbar download format
        return [json.loads(n.proto.config).get("toImageButtonOptions", {}).get("format")
                for n in _walk(at.main) if hasattr(n.proto, "spec") and getattr(n.proto, "config", None)]

    at = open_page("app_pages/irreps.py")
    assert not at.exception, at.exception
    assert set(configs(at)) == {"png"}
    at.session_state["irreps_export"] = "svg"
    at.run()
    assert set(configs(at)) == {"svg"}
