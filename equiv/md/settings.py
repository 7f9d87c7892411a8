"""What an MD run is asked to do (:class:`MDConfig`), with its limits; no torch here, so the CLI
can build its parser without importing it.

Example:
    >>> MDConfig(steps=1000).frame_stride
    5
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from equiv.errors import EquivError

__all__ = ["MAX_STEPS", "ENSEMBLES", "REFERENCE_MODES", "DEFAULT_FRAMES", "MDConfig", "auto_stride"]

#: How the GFN2-xTB reference h(r) is obtained (see :mod:`equiv.md.reference`).
REFERENCE_MODES = ("auto", "always", "cache", "none")
#: The most MD steps one run may ask for (the quota: about an hour for aspirin on 2 cores).
MAX_STEPS = 200_000
ENSEMBLES = ("nve", "langevin")
#: Frames kept by default (``stride`` 0): about this many, whatever the number of steps.
DEFAULT_FRAMES = 200


@dataclass(frozen=True)
class MDConfig:
    """What to simulate (all of it recorded with the run).

    Attributes:
        model: a model spec (:func:`equiv.md.calculator.parse_model_spec`).
        molecule: a library key; or ``smiles`` instead.
        smiles: a SMILES string (RDKit ETKDG + MMFF94 embedding, seed 0).
        ensemble: ``nve`` or ``langevin``.
        temperature_K: initial velocities and thermostat, K.
        timestep_fs: fs.
        steps: MD steps.
        friction_per_fs: Langevin friction, 1/fs.
        seed: velocities and thermostat noise.
        stride: steps between kept frames (0: about 200 frames).
        dtype: the model's dtype, ``float32`` (default: about a third faster per step on the CPU) or
            ``float64``.
        threads: torch intra-op threads during the MD (1 is fastest for these sizes on a busy machine).
    """

    model: str = "pretrained:ethanol:nequip"
    molecule: str | None = "ethanol"
    smiles: str | None = None
    ensemble: str = "nve"
    temperature_K: float = 300.0
    timestep_fs: float = 0.5
    steps: int = 2000
    friction_per_fs: float = 0.01
    seed: int = 0
    stride: int = 0
    dtype: str = "float32"
    threads: int = 1

    def __post_init__(self) -> None:
        checks = [
            (self.ensemble in ENSEMBLES, f"ensemble must be one of {', '.join(ENSEMBLES)}, not {self.ensemble!r}"),
            (0 < self.temperature_K <= 5000, f"temperature must be above 0 K and at most 5000 K, not {self.temperature_K}"),
            (0 < self.timestep_fs <= 5, f"the time step must be above 0 fs and at most 5 fs, not {self.timestep_fs}"),
            (1 <= self.steps <= MAX_STEPS, f"steps must be between 1 and {MAX_STEPS:,} (the quota), not {self.steps:,}"),
            (0 < self.friction_per_fs <= 10, f"the friction must be above 0 and at most 10 per fs, not {self.friction_per_fs}"),
            (self.seed >= 0, f"the seed must be zero or positive, not {self.seed}"),
            (self.stride >= 0, f"stride must be 0 (automatic) or positive, not {self.stride}"),
            (self.dtype in ("float32", "float64"), f"dtype must be float32 or float64, not {self.dtype!r}"),
            (1 <= self.threads <= 64, f"threads must be between 1 and 64, not {self.threads}"),
            ((self.molecule is None) != (self.smiles is None), "give either a library molecule or a SMILES string"),
        ]
        for ok, message in checks:
            if not ok:
                raise EquivError(message)

    @property
    def frame_stride(self) -> int:
        return self.stride or auto_stride(self.steps)

    def to_dict(self) -> dict:
        return asdict(self)


def auto_stride(steps: int, frames: int = DEFAULT_FRAMES) -> int:
    """Steps between kept frames so that about ``frames`` are kept."""
    return max(1, math.ceil(steps / frames))


