"""The tour's and playground's view pieces without a page: the steps, deep-link parsing, the GVP layer's
equivariance, figure export settings."""

from __future__ import annotations

import pytest

from equiv.views.figure_export import plot_config
from equiv.views.gvp_layer import gvp_demo
from equiv.views.playground import CUSTOM, PlaygroundSettings, parse_query, to_query
from equiv.views.tour import STEPS, WIDGETS, parse_step, recorded_sweep_figure


def test_steps_tell_the_seminars_story():
    assert 8 <= len(STEPS) <= 12
    kinds = [s.widget for s in STEPS]
    for needed in ("rotation", "playground", "decomposition", "gvp", "clebsch_gordan", "nequip_messages",
                   "learning_curve", "results"):
        assert needed in kinds
    assert kinds.index("gvp") < kinds.index("clebsch_gordan") < kinds.index("nequip_messages") < kinds.index("results")
    from app_pages.tour_widgets import RENDERERS

    assert set(RENDERERS) == set(WIDGETS)
    with pytest.raises(ValueError):
        type(STEPS[0])("t", "s", "no-such-widget")


def test_step_links():
    assert parse_step("3") == (3, None)
    assert parse_step(None) == (1, None)
    assert parse_step("0")[0] == 1 and "out of range" in parse_step("0")[1]


def test_gvp_layer_vectors_turn_with_the_input():
    demo = gvp_demo(0)
    assert demo.vector_error < 1e-12 and demo.scalar_error < 1e-12
    assert abs(demo.outputs).max() > 1e-3  # not trivially zero


def test_playground_links_round_trip():
    for s in (PlaygroundSettings("cross", "cross(a, b)", 0), PlaygroundSettings(CUSTOM, "outer(a, b)", 7)):
        back, problems = parse_query(to_query(s))
        assert back == s and problems == []
    _, problems = parse_query({"seed": "x"})
    assert problems and "whole number" in problems[0]


def test_figure_exports():
    assert plot_config("png")["toImageButtonOptions"]["scale"] == 2
    with pytest.raises(ValueError):
        plot_config("gif")
    assert len(recorded_sweep_figure().data) == 3
