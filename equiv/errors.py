"""Error types whose messages a person can act on.

Pages and the CLI catch :class:`EquivError` and show its message (never a traceback); anything else
escaping is a bug.
"""

from __future__ import annotations

__all__ = ["EquivError", "MoleculeError", "DataError", "RunError", "TrainingError"]


class EquivError(Exception):
    """Base class: bad input or an unavailable resource, with a message that says what to do."""


class MoleculeError(EquivError, ValueError):
    """A molecule could not be built or read: unknown element, empty or oversized file, NaN
    coordinates, atoms on top of each other, an unparsable SMILES string, ..."""


class DataError(EquivError, ValueError):
    """A data set could not be found, read, generated or split: missing files (with where to put
    them), labels missing from a frame, atoms that change between frames, more structures asked for
    than the data set has, a failed download or checksum, ..."""


class RunError(EquivError):
    """A run-store request that cannot be done: an unknown run id, or a state change that does not
    apply (finishing a run that is no longer running, ...)."""


class TrainingError(EquivError):
    """A training run that cannot start or go on: an unknown model or bad options, CUDA asked for
    but absent, out of (GPU) memory, a loss that became NaN, no training budget, ..."""
