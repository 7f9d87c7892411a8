"""Unit constants: ``equiv`` keeps positions in Å, energies in eV and forces in eV/Å internally, and
reports errors in meV and meV/Å.

The kcal/mol → eV factor follows from the SI (2019) definitions, where the elementary charge and the
Avogadro constant are exact: 1 kcal/mol = 4184 J / (e · N_A) = 0.043364104241800934 eV. (ASE's
``units.kcal / units.mol``, from CODATA 2014, is 0.0433641039005932 eV: 8e-9 relative below, far
below any error reported here. nequip rounds it to 0.0433641.)

Example:
    >>> round(KCAL_PER_MOL_IN_EV, 10)
    0.0433641042
    >>> round(-97079.92222179 * KCAL_PER_MOL_IN_EV, 6)  # an rMD17 ethanol energy, eV
    -4209.783867
"""

from __future__ import annotations

__all__ = [
    "ELEMENTARY_CHARGE_C",
    "AVOGADRO_PER_MOL",
    "KCAL_IN_J",
    "KCAL_PER_MOL_IN_EV",
    "KCAL_PER_MOL_CONSTANT_TEXT",
    "INTERNAL_UNITS",
    "EV_IN_MEV",
]

#: Elementary charge, C (exact in the SI since 2019).
ELEMENTARY_CHARGE_C = 1.602176634e-19
#: Avogadro constant, 1/mol (exact in the SI since 2019).
AVOGADRO_PER_MOL = 6.02214076e23
#: The thermochemical kilocalorie, J (exact by definition).
KCAL_IN_J = 4184.0
#: 1 kcal/mol in eV per molecule: 4184 J / (e · N_A).
KCAL_PER_MOL_IN_EV = KCAL_IN_J / (ELEMENTARY_CHARGE_C * AVOGADRO_PER_MOL)
#: How the factor is stated in data-set metadata.
KCAL_PER_MOL_CONSTANT_TEXT = (
    f"1 kcal/mol = 4184 J / (e N_A) = {KCAL_PER_MOL_IN_EV!r} eV (SI 2019 exact e and N_A)"
)
#: Units of the arrays of every :class:`equiv.data.DataSet`.
INTERNAL_UNITS = {"positions": "Å", "energies": "eV", "forces": "eV/Å"}
#: meV per eV (reports use meV and meV/Å).
EV_IN_MEV = 1000.0
