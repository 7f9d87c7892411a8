"""Names for the 2l + 1 components of an irrep in e3nn 0.6's real basis, for tables and plots.

e3nn stores the components of order l at positions 0 … 2l, which we call m = −l … l. In e3nn 0.6
the l = 1 components are the Cartesian (x, y, z); the l = 2 components are proportional (with
positive factors) to the Cartesian quadratics below, so e3nn's m = 0 axis is y, not z. A test pins
these forms to the installed e3nn's spherical harmonics.

Example:
    >>> component_labels(1)
    ['x', 'y', 'z']
    >>> component_labels(2)[2]
    'm=0 (2y²−x²−z²)'
"""

from __future__ import annotations

from e3nn import o3

from equiv.o3.irreps import L1_FROM_XYZ, as_irrep

__all__ = ["CARTESIAN_FORMS", "component_labels"]

_XYZ = ("x", "y", "z")

#: Cartesian polynomial proportional (positive factor) to each e3nn component, for l ≤ 2.
CARTESIAN_FORMS: dict[int, tuple[str, ...]] = {
    0: ("1",),
    1: tuple(_XYZ[L1_FROM_XYZ.index(i)] for i in range(3)),
    2: ("xz", "xy", "2y²−x²−z²", "yz", "z²−x²"),
}


def component_labels(ir: str | int | o3.Irrep) -> list[str]:
    """One label per component, in e3nn's order: ``["x", "y", "z"]`` for l = 1, ``"m=-2 (xz)"`` …
    for l = 2, ``"m=-3"`` … ``"m=3"`` for higher l, ``["scalar"]`` for l = 0."""
    l = as_irrep(ir).l
    if l == 0:
        return ["scalar"]
    if l == 1:
        return list(CARTESIAN_FORMS[1])
    forms = CARTESIAN_FORMS.get(l)
    return [f"m={m}" + (f" ({forms[m + l]})" if forms else "") for m in range(-l, l + 1)]
