"""Component labels: the Cartesian forms we print next to e3nn components are e3nn's own."""

import pytest
import torch
from e3nn import o3

from equiv.o3 import CARTESIAN_FORMS, component_labels

#: Each label's polynomial, written independently of the module under test.
POLYNOMIALS = {
    "1": lambda x, y, z: torch.ones_like(x),
    "x": lambda x, y, z: x,
    "y": lambda x, y, z: y,
    "z": lambda x, y, z: z,
    "xz": lambda x, y, z: x * z,
    "xy": lambda x, y, z: x * y,
    "yz": lambda x, y, z: y * z,
    "2y²−x²−z²": lambda x, y, z: 2 * y**2 - x**2 - z**2,
    "z²−x²": lambda x, y, z: z**2 - x**2,
}


@pytest.mark.parametrize("l", [0, 1, 2])
def test_cartesian_forms_are_e3nn_components_up_to_positive_factors(rng, l):
    r = torch.randn(50, 3, dtype=torch.float64, generator=rng)
    Y = o3.spherical_harmonics(l, r, normalize=False, normalization="component")  # [50, 2l+1]
    assert len(CARTESIAN_FORMS[l]) == 2 * l + 1
    for m, form in enumerate(CARTESIAN_FORMS[l]):
        poly = POLYNOMIALS[form](*r.unbind(-1))
        ratio = Y[:, m] / poly
        assert ratio.min() > 0, (l, form)
        assert (ratio - ratio[0]).abs().max() < 1e-12 * ratio[0], (l, form)


def test_labels_count_and_order():
    assert component_labels("0e") == ["scalar"]
    assert component_labels("1o") == ["x", "y", "z"]
    assert component_labels(2) == ["m=-2 (xz)", "m=-1 (xy)", "m=0 (2y²−x²−z²)", "m=1 (yz)", "m=2 (z²−x²)"]
    for l in range(3, 9):
        labels = component_labels(l)
        assert labels[0] == f"m={-l}" and labels[-1] == f"m={l}" and len(labels) == 2 * l + 1
