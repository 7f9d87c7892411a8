"""Error types whose messages a person can act on.

Pages and the CLI catch :class:`EquivError` and show its message (never a traceback); anything else
escaping is a bug.
"""

from __future__ import annotations

__all__ = ["EquivError", "MoleculeError"]


class EquivError(Exception):
    """Base class: bad input or an unavailable resource, with a message that says what to do."""


class MoleculeError(EquivError, ValueError):
    """A molecule could not be built or read: unknown element, empty or oversized file, NaN
    coordinates, atoms on top of each other, an unparsable SMILES string, ..."""
