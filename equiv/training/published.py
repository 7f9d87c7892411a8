"""Published test errors on MD17 and rMD17, to show beside one's own results.

Every entry says what it was measured on: the data set (rMD17 or the original MD17), its
reference method (level of theory), the training-set size, and where the number comes from.
Energy MAE in meV (per molecule), force MAE in meV/Å (per component).

* rMD17 (PBE/def2-SVP), 1,000 training structures (950 train + 50 validation): MACE, Allegro and
  NequIP (l = 3), as tabulated in the MACE paper.
* rMD17, 50 training structures: NequIP and MACE on aspirin and ethanol, from the same paper.
* The original MD17 (PBE+vdW-TS), 1,000 training structures: NequIP (l = 3), from the NequIP paper.

MD17 and rMD17 are different data sets (rMD17 recomputed the MD17 geometries at another level of
theory with tighter convergence, because MD17's energies were noisy), so their numbers are not
comparable with each other, nor with anything trained on generated GFN2-xTB data.

Example:
    >>> r = published("ethanol", "NequIP (l=3)", "rMD17", 1000)
    >>> r.energy_mae_mev, r.force_mae_mev_per_a, r.level_of_theory
    (0.4, 2.8, 'PBE/def2-SVP')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["PublishedResult", "PUBLISHED", "published", "DATASET_LEVELS"]

MACE_PAPER = ("I. Batatia, D. P. Kovács, G. N. C. Simm, C. Ortner, G. Csányi, MACE: Higher Order Equivariant "
              "Message Passing Neural Networks for Fast and Accurate Force Fields, NeurIPS 2022, arXiv:2206.07697 "
              "(rMD17 table; Allegro and NequIP columns as tabulated there)")
NEQUIP_PAPER = ("S. Batzner et al., E(3)-equivariant graph neural networks for data-efficient and accurate "
                "interatomic potentials, Nat. Commun. 13, 2453 (2022), arXiv:2101.03164 (MD17 table)")
#: Data set → its reference method.
DATASET_LEVELS = {"rMD17": "PBE/def2-SVP", "MD17": "PBE+vdW-TS"}


@dataclass(frozen=True)
class PublishedResult:
    """One published cell: ``model`` on ``molecule`` (a library key) of ``dataset`` with ``n_train``
    training structures; errors in meV and meV/Å."""

    molecule: str
    model: str
    dataset: str
    level_of_theory: str
    n_train: int
    energy_mae_mev: float
    force_mae_mev_per_a: float
    source: str

    def to_dict(self) -> dict:
        return asdict(self)


# molecule: (MACE, Allegro, NequIP l=3) as (energy, force); rMD17, 1,000 training structures.
_RMD17_1000 = {
    "aspirin": ((2.2, 6.6), (2.3, 7.3), (2.3, 8.2)),
    "azobenzene": ((1.2, 3.0), (1.2, 2.6), (0.7, 2.9)),
    "benzene": ((0.4, 0.3), (0.3, 0.2), (0.04, 0.3)),
    "ethanol": ((0.4, 2.1), (0.4, 2.1), (0.4, 2.8)),
    "malonaldehyde": ((0.8, 4.1), (0.6, 3.6), (0.8, 5.1)),
    "naphthalene": ((0.5, 1.6), (0.2, 0.9), (0.9, 1.3)),
    "paracetamol": ((1.3, 4.8), (1.5, 4.9), (1.4, 5.9)),
    "salicylic_acid": ((0.9, 3.1), (0.9, 2.9), (0.7, 4.0)),
    "toluene": ((0.5, 1.5), (0.4, 1.8), (0.3, 1.6)),
    "uracil": ((0.5, 2.1), (0.6, 1.8), (0.4, 3.1)),
}
# rMD17, 50 training structures: molecule → {model: (energy, force)}.
_RMD17_50 = {
    "aspirin": {"NequIP (l=3)": (19.5, 52.0), "MACE": (17.0, 43.9)},
    "ethanol": {"NequIP (l=3)": (8.7, 40.2), "MACE": (6.7, 32.6)},
}
# The original MD17, NequIP l = 3, 1,000 training structures: molecule → (energy, force).
_MD17_NEQUIP = {
    "aspirin": (5.7, 8.0),
    "ethanol": (2.2, 3.1),
    "malonaldehyde": (3.3, 5.6),
    "naphthalene": (4.9, 1.7),
    "salicylic_acid": (4.6, 3.9),
    "toluene": (4.0, 2.0),
    "uracil": (4.5, 3.3),
}


def _build() -> tuple[PublishedResult, ...]:
    out = []
    for molecule, cells in _RMD17_1000.items():
        for model, (e, f) in zip(("MACE", "Allegro", "NequIP (l=3)"), cells):
            out.append(PublishedResult(molecule, model, "rMD17", DATASET_LEVELS["rMD17"], 1000, e, f, MACE_PAPER))
    for molecule, cells in _RMD17_50.items():
        for model, (e, f) in cells.items():
            out.append(PublishedResult(molecule, model, "rMD17", DATASET_LEVELS["rMD17"], 50, e, f, MACE_PAPER))
    for molecule, (e, f) in _MD17_NEQUIP.items():
        out.append(PublishedResult(molecule, "NequIP (l=3)", "MD17", DATASET_LEVELS["MD17"], 1000, e, f, NEQUIP_PAPER))
    return tuple(out)


#: Every published cell.
PUBLISHED: tuple[PublishedResult, ...] = _build()


def published(molecule: str, model: str, dataset: str, n_train: int) -> PublishedResult | None:
    """The published cell for these, or ``None``."""
    for r in PUBLISHED:
        if (r.molecule, r.model, r.dataset, r.n_train) == (molecule, model, dataset, n_train):
            return r
    return None
