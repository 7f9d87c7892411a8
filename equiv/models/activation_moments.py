"""e3nn's activation normalisation, with its random samples drawn once instead of every time.

e3nn scales every activation of a ``Gate`` so that its second moment over a standard normal input
is 1 (``e3nn.math.normalize2mom``); the moment is a Monte Carlo mean over 1,000,000 samples drawn
with a generator seeded 0, drawn again for each activation: 17 times per NequIP, 0.35 s of a model
build of about 1 s (each page that loads a model, each training worker). :func:`install` replaces
e3nn's ``moment`` with one that keeps the samples per dtype and device. The samples are the same
numbers (same seed, same draw), so every constant is bit-identical to e3nn's; only e3nn 0.6, whose
function this replaces, is touched.

Example:
    >>> import torch
    >>> from e3nn.math import _normalize_activation as na
    >>> install()
    True
    >>> cst = na.normalize2mom(torch.nn.functional.silu).cst
    >>> cst == e3nn_moment(torch.nn.functional.silu, 2, dtype=torch.float64).pow(-0.5).item()
    True
"""

from __future__ import annotations

import threading
from typing import Callable

import torch
from e3nn.math import _normalize_activation
from e3nn.util.default_type import explicit_default_types

from equiv.models.channel_major import e3nn_internals_known

__all__ = ["install", "e3nn_moment", "moment"]

#: e3nn's own function, kept for comparison.
e3nn_moment = _normalize_activation.moment
#: How many samples e3nn draws (its ``moment`` reads 1_000_000).
N_SAMPLES = 1_000_000

_samples: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}
_lock = threading.Lock()


def _standard_normal(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """e3nn's samples: float64 normal draws of a generator seeded 0, then cast ``[N_SAMPLES]``."""
    key = (dtype, device)
    with _lock:
        if key not in _samples:
            gen = torch.Generator(device=device).manual_seed(0)
            z = torch.randn(N_SAMPLES, generator=gen, dtype=torch.float64, device=device)
            _samples[key] = z.to(dtype=dtype, device=device)
        return _samples[key]


def moment(f: Callable[[torch.Tensor], torch.Tensor], n: int, dtype: torch.dtype | None = None,
           device: torch.device | str | None = None) -> torch.Tensor:
    """``<f(z)^n>`` for z standard normal, as e3nn computes it (same samples, same arithmetic; the
    samples, 8 MB in float64, stay for the life of the process)."""
    dtype, device = explicit_default_types(dtype, device)
    return f(_standard_normal(dtype, torch.device(device))).pow(n).mean()


def install() -> bool:
    """Use :func:`moment` inside e3nn (0.6 only); returns whether it is in use."""
    if not e3nn_internals_known():
        return False
    _normalize_activation.moment = moment
    return True
