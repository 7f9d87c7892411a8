"""Where ``equiv`` keeps things.

* ``ASSETS_DIR``: files shipped with the repository (molecule geometries, pretrained models).
  Override with ``EQUIV_ASSETS``.
* :func:`data_home`: the per-user data directory (run store, checkpoints, generated data sets,
  downloads). ``EQUIV_HOME`` overrides it; otherwise ``$XDG_DATA_HOME/equiv`` or
  ``~/.local/share/equiv``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "ASSETS_DIR", "data_home"]

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = Path(os.environ.get("EQUIV_ASSETS", REPO_ROOT / "assets"))


def data_home(create: bool = True) -> Path:
    """The user's ``equiv`` data directory (created unless ``create=False``)."""
    env = os.environ.get("EQUIV_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        path = Path(base) / "equiv"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
