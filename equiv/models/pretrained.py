"""Small pretrained checkpoints shipped with the app (``assets/pretrained/``).

File layout: ``assets/pretrained/<molecule>_<model>.pt`` where ``<molecule>`` is a library key
(``aspirin``) and ``<model>`` a preset family (``mlp``, ``gvp``, ``nequip``). They are produced by
the project's own training command (see the README, "Pretrained models"); the rotation lab loads
them when they exist and falls back to untrained models, saying so, when they do not.

Example:
    >>> pretrained_path("caffeine", "gvp") is None
    True
"""

from __future__ import annotations

from pathlib import Path

from equiv.paths import ASSETS_DIR

__all__ = ["PRETRAINED_DIR", "pretrained_path", "pretrained_models"]

PRETRAINED_DIR = ASSETS_DIR / "pretrained"


def pretrained_path(molecule: str, model: str) -> Path | None:
    """The shipped checkpoint for a library molecule and model family, or ``None``."""
    path = PRETRAINED_DIR / f"{molecule}_{model}.pt"
    return path if path.is_file() else None


def pretrained_models() -> dict[str, list[str]]:
    """``{molecule: [model, ...]}`` of every shipped checkpoint."""
    found: dict[str, list[str]] = {}
    for path in sorted(PRETRAINED_DIR.glob("*_*.pt")):
        molecule, _, model = path.stem.rpartition("_")
        found.setdefault(molecule, []).append(model)
    return found
