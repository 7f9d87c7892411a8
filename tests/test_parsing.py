"""Typed vectors: accepted forms and the messages for everything else."""

import pytest

from equiv.errors import EquivError
from equiv.parsing import parse_vector


@pytest.mark.parametrize("text", ["1,2,3", " 1 2 3 ", "(1, 2, 3)", "[1,2,3]", "1e0,+2,3.0"])
def test_accepted_forms(text):
    assert parse_vector(text) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("1,2", {}, "needs 3 comma-separated numbers"),
        ("", {}, "needs 3"),
        ("a,b,c", {}, "is not 3 numbers"),
        ("nan,1,2", {}, "NaN or infinity"),
        ("1,inf,2", {}, "NaN or infinity"),
        ("1,2,1e9", {"max_abs": 1000}, "between −1000 and 1000"),
        ("1,2,3", {"n": 2}, "needs 2 comma-separated numbers like 1,2"),
    ],
)
def test_rejected_with_a_message(text, kwargs, message):
    with pytest.raises(EquivError, match=message):
        parse_vector(text, **kwargs)
