"""An ASE calculator for any equiv model, and the model specs that name one.

A model is named by one string (CLI ``--model``, the MD page, the run record):

| spec | model |
|---|---|
| ``pretrained:aspirin:nequip`` | the shipped checkpoint ``assets/pretrained/aspirin_nequip.pt`` |
| ``run:12`` | the best checkpoint of finished training run 12 of the run store |
| ``checkpoint:/path/model.pt`` (or a path ending in ``.pt``) | a checkpoint file |
| ``untrained:nequip`` | a preset with random weights (seed 0): for testing the MD, not physics |

Per-step cost: the model is built once; each call wraps ASE's positions in a tensor (no copy in
float64), builds the radius graph and runs one forward pass with autograd forces (``forward`` turns
gradients on only for that). ``torch.inference_mode`` is not possible (forces need autograd).

Example:
    >>> from ase import Atoms
    >>> from equiv.molecules import load_molecule
    >>> mol = load_molecule("ethanol")
    >>> atoms = Atoms(numbers=mol.numbers, positions=mol.positions)
    >>> atoms.calc = ModelCalculator(load_md_model("pretrained:ethanol:gvp").model)
    >>> atoms.get_forces().shape
    (9, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from equiv.data.xtb import exact_changes
from equiv.errors import EquivError
from equiv.graphs import AtomsBatch
from equiv.models import PRESETS, EnergyModel, build_model, load_checkpoint
from equiv.models.pretrained import pretrained_models, pretrained_path

__all__ = ["ModelCalculator", "ModelSpec", "LoadedModel", "parse_model_spec", "load_md_model", "check_species",
           "UNTRAINED_SEED"]

UNTRAINED_SEED = 0
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec.

    Attributes:
        kind: ``pretrained``, ``run``, ``checkpoint`` or ``untrained``.
        value: the molecule:family (pretrained), run id, file path or preset name.
    """

    kind: str
    value: str

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.value}"

    @property
    def trained(self) -> bool:
        return self.kind != "untrained"


@dataclass
class LoadedModel:
    """A model ready for MD, with where it came from.

    Attributes:
        model: the model in eval mode, in the requested dtype.
        spec: the parsed spec.
        label: a human description ("pretrained NequIP for ethanol", "training run 12 (nequip)").
        molecule: the molecule it was trained on, when known (library key or name).
        metadata: the checkpoint's metadata ({} for untrained).
    """

    model: EnergyModel
    spec: ModelSpec
    label: str
    molecule: str | None
    metadata: dict[str, Any]


def parse_model_spec(text: str) -> ModelSpec:
    """``pretrained:M:F``, ``run:ID``, ``checkpoint:PATH`` / ``*.pt``, ``untrained:PRESET``.

    >>> parse_model_spec("run:12")
    ModelSpec(kind='run', value='12')
    """
    text = (text or "").strip()
    kind, sep, value = text.partition(":")
    if text.endswith(".pt") and kind not in ("checkpoint", "pretrained", "run", "untrained"):
        return ModelSpec("checkpoint", text)
    if not sep or kind not in ("pretrained", "run", "checkpoint", "untrained") or not value.strip():
        raise EquivError(f"unknown model {text[:80]!r}: use pretrained:MOLECULE:MODEL (e.g. pretrained:ethanol:nequip), "
                         "run:ID, checkpoint:FILE.pt or untrained:PRESET")
    return ModelSpec(kind, value.strip())


def load_md_model(spec: str | ModelSpec, *, dtype: str = "float64", numbers: Sequence[int] | None = None,
                  store_path: str | Path | None = None) -> LoadedModel:
    """Build the model a spec names, in ``dtype`` (``float64`` or ``float32``).

    ``numbers`` (the molecule's atomic numbers) is needed for untrained MLPs and is checked against
    the model's species (:func:`check_species`). :class:`EquivError` names what is wrong."""
    spec = parse_model_spec(spec) if isinstance(spec, str) else spec
    if dtype not in _DTYPES:
        raise EquivError(f"dtype must be float32 or float64, not {dtype!r}")
    torch_dtype = _DTYPES[dtype]
    if spec.kind == "untrained":
        if spec.value not in PRESETS:
            raise EquivError(f"unknown model preset {spec.value!r}; choose one of {', '.join(PRESETS)}")
        model = build_model(spec.value, dtype=torch_dtype, seed=UNTRAINED_SEED,
                            numbers=None if numbers is None else tuple(numbers))
        loaded = LoadedModel(model, spec, f"untrained {spec.value} (random weights, seed {UNTRAINED_SEED})", None, {})
    elif spec.kind == "pretrained":
        molecule, _, family = spec.value.partition(":")
        path = pretrained_path(molecule, family or "nequip")
        if path is None:
            shipped = ", ".join(f"{m}:{f}" for m, fs in pretrained_models().items() for f in fs)
            raise EquivError(f"no pretrained model {spec.value!r}; shipped: {shipped or 'none'}")
        ckpt = load_checkpoint(path, dtype=torch_dtype)
        loaded = LoadedModel(ckpt.model, spec, f"pretrained {family or 'nequip'} for {molecule}", molecule,
                             ckpt.metadata)
    elif spec.kind == "run":
        from equiv.runs import RunStore

        try:
            run_id = int(spec.value)
        except ValueError:
            raise EquivError(f"a run is given by its number, not {spec.value[:40]!r}") from None
        run = RunStore(store_path).get(run_id)
        if run.kind not in ("train", "sweep_member"):
            raise EquivError(f"run {run_id} is a {run.kind} run; it trained no model")
        if run.status != "finished":
            raise EquivError(f"run {run_id} is {run.status}; only finished training runs have a model")
        if not run.checkpoint_path or not Path(run.checkpoint_path).is_file():
            raise EquivError(f"run {run_id} has no checkpoint file on this machine")
        ckpt = load_checkpoint(run.checkpoint_path, dtype=torch_dtype)
        loaded = LoadedModel(ckpt.model, spec, f"training run {run_id} ({run.model} on {run.molecule})", run.molecule,
                             ckpt.metadata)
    else:
        ckpt = load_checkpoint(Path(spec.value).expanduser(), dtype=torch_dtype)
        molecule = (ckpt.metadata.get("dataset") or {}).get("molecule") if isinstance(ckpt.metadata.get("dataset"), dict) else None
        loaded = LoadedModel(ckpt.model, spec, f"checkpoint {Path(spec.value).name}", molecule, ckpt.metadata)
    if numbers is not None:
        check_species(loaded.model, numbers)
    return loaded


def check_species(model: EnergyModel, numbers: Sequence[int]) -> None:
    """Raise :class:`EquivError` when ``model`` cannot take a molecule with atomic numbers ``numbers``."""
    zs = [int(z) for z in numbers]
    model.species_index(torch.tensor(zs))  # unknown elements → EquivError naming them
    fixed = getattr(model.config, "numbers", None)
    if fixed is not None and tuple(fixed) != tuple(zs):
        detail = (f"{len(zs)} atoms" if len(zs) != len(fixed)
                  else "the same atoms in another order" if sorted(zs) == sorted(fixed) else "other elements")
        raise EquivError(f"this MLP was made for a molecule of {len(fixed)} atoms in a fixed order; "
                         f"it cannot take this one ({detail})")


class ModelCalculator(Calculator):
    """ASE calculator: energy (eV) and forces (eV/Å) of an equiv model for one isolated molecule.

    Args:
        model: any :class:`~equiv.models.EnergyModel` (its dtype is used: build it in float64 for
            float64 MD).
        device: where the model runs (``cpu`` or ``cuda``).
        threads: torch intra-op threads while it computes (``None``: leave torch's setting). One
            thread is the default: for molecules of this size a second thread gains little on a
            quiet machine and costs several times over on a busy one (README, "Rotation lab").
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, model: EnergyModel, device: str | torch.device = "cpu", threads: int | None = 1, **kwargs):
        super().__init__(**kwargs)
        self.threads = threads
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.dtype = next(model.parameters()).dtype
        self._numbers: np.ndarray | None = None
        self._numbers_t: torch.Tensor | None = None
        self._graph_index: torch.Tensor | None = None

    def check_state(self, atoms, tol: float = 1e-15):
        return exact_changes(self.atoms, atoms)

    def _static(self, numbers: np.ndarray) -> None:
        if self._numbers is None or not np.array_equal(self._numbers, numbers):
            check_species(self.model, numbers)
            self._numbers = numbers.copy()
            self._numbers_t = torch.as_tensor(numbers, dtype=torch.long, device=self.device)
            self._graph_index = torch.zeros(len(numbers), dtype=torch.long, device=self.device)

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        Calculator.calculate(self, atoms, properties or ["energy"], system_changes)
        if self.atoms.pbc.any():
            raise EquivError("ModelCalculator handles isolated molecules only (no periodic cell)")
        self._static(self.atoms.numbers)
        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        positions = torch.as_tensor(np.ascontiguousarray(self.atoms.positions), device=self.device).to(self.dtype)
        batch = AtomsBatch(self._numbers_t, positions, self._graph_index, 1)
        out = self.model(batch)
        energy = float(out["energy"][0])
        forces = out["forces"].detach().to(torch.float64).cpu().numpy()
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
