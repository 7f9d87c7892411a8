"""The deep-link codec (equiv.links): what each rule accepts and refuses (with the rule in the
message), angles that wrap, encode → decode giving back the same values, and decode's handling of
keys it does not own and of repeated keys."""

from __future__ import annotations

import random

import pytest

from equiv.errors import EquivError
from equiv.links import (
    Angle,
    Choice,
    EulerAngles,
    Flag,
    LinkError,
    Names,
    Real,
    Vector,
    Whole,
    decode,
    encode,
    wrap_degrees,
)

PARITY = Choice(("e", "o"), aliases=(("even", "e"), ("-1", "o")))
AXIS = Vector(3, nonzero=True, names=(("x", (1.0, 0.0, 0.0)), ("xyz", (1.0, 1.0, 1.0))))
PANELS = Names(("gvp", "nequip", "nequip-so3", "mlp"))

# rule, texts it accepts → value, texts it refuses
CASES = [
    (Whole(0, 4), {"3": 3, " 0 ": 0, "4.0": 4, "-0": 0}, ["5", "-1", "1.5", "x", "", "nan", "inf", "1e400"]),
    (Real(0.05, 5), {"0.05": 0.05, "5": 5.0, "1e-1": 0.1}, ["0.04", "5.01", "nan", "-inf", "", "1,2"]),
    (Real(0, 10, low_open=True), {"0.1": 0.1, "10": 10.0}, ["0", "-0", "10.5"]),
    (Angle(), {"90": 90.0, "400": 40.0, "-190": 170.0, "180": 180.0, "-180": -180.0, "720": 0.0, "-0": 0.0},
     ["abc", "nan", "inf", "1e10", "", "1,2"]),
    (Angle(whole=True), {"45.4": 45, "370.6": 11, "-179.6": -180}, ["x"]),
    (EulerAngles(), {"30,45,60": (30.0, 45.0, 60.0), "370,45,-190": (10.0, 45.0, 170.0), "[0, 180, 0]": (0.0, 180.0, 0.0),
                     "0 0 0": (0.0, 0.0, 0.0)},
     ["10,200,0", "0,-1,0", "1,2", "1,2,3,4", "a,b,c", "nan,0,0", "1e10,0,0", ""]),
    (EulerAngles(whole=True), {"400,10.4,0": (40, 10, 0), "-190,180,540": (170, 180, -180)}, ["0,180.5,0"]),
    (Flag(), {"1": True, "0": False, "Yes": True, "off": False, " TRUE ": True}, ["2", "maybe", ""]),
    (Vector(3, max_abs=1000), {"1,2,3": (1.0, 2.0, 3.0), "[1, -2.5, 3e-1]": (1.0, -2.5, 0.3), "1 2 3": (1.0, 2.0, 3.0),
                               "0,0,0": (0.0, 0.0, 0.0), "(1e0, +2, 3.0)": (1.0, 2.0, 3.0)},
     ["1,2", "1,2,3,4", "1e9,0,0", "nan,1,2", "x,y,z", "", "1,,2"]),
    (AXIS, {"x": (1.0, 0.0, 0.0), "XYZ": (1.0, 1.0, 1.0), "0,0,2": (0.0, 0.0, 2.0)}, ["0,0,0", "1e-12,0,0", "w", "1,1"]),
    (PARITY, {"e": "e", "O": "o", "even": "e", "-1": "o"}, ["q", "", "+2"]),
    (PANELS, {"mlp,gvp": ("gvp", "mlp"), "NEQUIP-SO3": ("nequip-so3",), "gvp,gvp,": ("gvp",), "nequip_so3": ("nequip-so3",)},
     ["", ",", "gvp,schnet"]),
]
IDS = [f"{type(rule).__name__}{i}" for i, (rule, _, _) in enumerate(CASES)]


@pytest.mark.parametrize("rule, good, bad", CASES, ids=IDS)
def test_each_rule_accepts_its_values_and_refuses_others_with_its_rule(rule, good, bad):
    for text, value in good.items():
        got = rule.parse(text)
        assert got == value and type(got) is type(value), (text, got)
        if isinstance(value, tuple):
            assert all(type(g) is type(v) for g, v in zip(got, value)), (text, got)
    for text in bad:
        with pytest.raises(LinkError) as caught:
            rule.parse(text)
        assert str(caught.value) == rule.rule, text
    assert isinstance(LinkError(""), EquivError)  # pages and the CLI catch it with the other input errors


def test_rule_texts_say_what_is_expected():
    assert Whole(1, 10_000).rule == "a whole number from 1 to 10,000"
    assert Real(0.05, 5).rule == "a number from 0.05 to 5" and Real(0, 1, low_open=True).rule == "a number above 0 and at most 1"
    assert "wrapped into -180 … 180" in Angle().rule and "β from 0 to 180" in EulerAngles().rule
    assert Flag().rule == "1 (on) or 0 (off)" and PARITY.rule == "one of e, o"
    assert AXIS.rule == "x, xyz or 3 numbers like 1,2,3, each from -1000000 to 1000000, not all zero"
    assert PANELS.rule == "a comma-separated list from gvp, nequip, nequip-so3, mlp"


def test_angles_wrap_into_minus_180_to_180():
    for x in range(-1080, 1081, 7):
        w = wrap_degrees(float(x))
        assert -180 <= w <= 180 and (w - x) % 360 == 0, x
    assert wrap_degrees(180.0) == 180.0 and wrap_degrees(-180.0) == -180.0 and wrap_degrees(540.0) == -180.0
    assert str(wrap_degrees(-0.0)) == "0.0" and str(wrap_degrees(-360.0)) == "0.0"  # never −0


def _random_values(r: random.Random) -> dict:
    def real() -> float:
        return r.choice([0.1 + 0.2, 1 / 3, -2.5e-7, 1e5 + 0.1, float(r.randint(-9, 9)), r.uniform(-1000, 1000)])

    return {
        "n": r.randint(0, 4),
        "t": r.choice([0.1 + 0.2, 1 / 3, r.uniform(0.05, 5)]),
        "angle": wrap_degrees(r.uniform(-1e4, 1e4)),
        "deg": r.randint(-180, 180),
        "rot": (wrap_degrees(r.uniform(-720, 720)), r.uniform(0, 180), r.choice([180.0, -180.0, 0.1 + 0.2])),
        "rot_whole": (r.randint(-180, 180), r.randint(0, 180), r.randint(-180, 180)),
        "flag": r.random() < 0.5,
        "v": (real(), real(), real()),
        "axis": r.choice([(1.0, 0.0, 0.0), (1.0, 1.0, 1.0), (real(), real(), 0.5)]),
        "p": r.choice(["e", "o"]),
        "models": tuple(m for m in PANELS.options if r.random() < 0.5) or ("mlp",),
    }


KEYS = {"n": Whole(0, 4), "t": Real(0.05, 5), "angle": Angle(), "deg": Angle(whole=True), "rot": EulerAngles(),
        "rot_whole": EulerAngles(whole=True), "flag": Flag(), "v": Vector(3, max_abs=1e6), "axis": AXIS, "p": PARITY,
        "models": PANELS}


def test_encode_then_decode_gives_back_the_same_values():
    r = random.Random(13)
    for _ in range(300):
        values = _random_values(r)
        query = encode(values, KEYS)
        assert list(query) == list(KEYS) and all(isinstance(v, str) for v in query.values())
        back, problems = decode(query, KEYS)
        assert problems == [] and back == values, (values, query)
        assert all(type(back[k]) is type(values[k]) for k in KEYS)
    assert encode({"t": 0.1 + 0.2}, KEYS) == {"t": "0.30000000000000004"}  # exact, not "0.3"
    assert encode({"n": 3, "flag": True, "v": (1.0, -2.0, 0.5), "axis": (1.0, 0.0, 0.0)}, KEYS) == \
        {"n": "3", "flag": "1", "v": "1,-2,0.5", "axis": "x"}


def test_encode_leaves_out_defaults_and_none_and_keys_it_does_not_know():
    values = {"n": 2, "flag": False, "p": None, "other": "x"}
    assert encode(values, KEYS, defaults={"flag": False}) == {"n": "2"}
    assert encode(values, KEYS) == {"n": "2", "flag": "0"}


def test_decode_ignores_other_keys_takes_the_last_of_a_list_and_names_the_fallback():
    values, problems = decode({"n": ["1", "3"], "section": "Wigner-D", "run": "12"}, KEYS)
    assert values == {"n": 3} and problems == []
    values, problems = decode({"n": ["3", "9"], "p": "q", "flag": "1"}, KEYS, fallback={"n": "1"})
    assert values == {"flag": True}
    assert problems == ["link parameter n=9: a whole number from 0 to 4; using 1",  # keys in the rules' order
                        "link parameter p=q: one of e, o"]


def test_decode_never_raises_and_quotes_at_most_60_characters():
    r = random.Random(7)
    alphabet = "0123456789,.-+e []()xyzåπ∞²\t\n%"
    for _ in range(500):
        query = {key: "".join(r.choice(alphabet) for _ in range(r.choice([0, 1, 3, 9, 80]))) for key in KEYS}
        values, problems = decode(query, KEYS)
        assert len(values) + len(problems) == len(KEYS)
    _, problems = decode({"p": "z" * 1000}, KEYS)
    assert problems == [f"link parameter p={'z' * 60}…: one of e, o"]
