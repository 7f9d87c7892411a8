"""Exponential moving average of a model's weights (used for validation, test and checkpoints).

After each optimizer step ``θ_ema ← d θ_ema + (1 − d) θ`` with ``d = min(decay, (1 + n)/(10 + n))``
after n updates (the warm-up of NequIP's ``ema_use_num_updates``), so the average forgets the
random initialisation within the first steps.

Example:
    >>> import torch
    >>> model = torch.nn.Linear(1, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = model.weight.fill_(0.0)
    >>> ema = WeightEMA(model, decay=0.5)
    >>> with torch.no_grad():
    ...     _ = model.weight.fill_(1.0)
    >>> ema.update()   # first update: d = min(0.5, 2/11), so θ_ema = 9/11
    >>> round(ema.model.weight.item(), 6), round(9 / 11, 6)
    (0.818182, 0.818182)
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["WeightEMA"]


class WeightEMA:
    """A copy of ``model`` (in eval mode, no gradients) whose parameters follow the model's.

    ``shadow``: a freshly built model of the same architecture to hold the average (its weights
    are overwritten with the model's); default a ``copy.deepcopy``. Trainers pass a fresh build:
    deep-copying e3nn's compiled tensor products adds a ``_tensor_constant`` buffer (torch.fx),
    so a deep copy's state dict would not load into a model built from its config.
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True, shadow: nn.Module | None = None):
        self.decay = float(decay)
        self.warmup = warmup
        self.num_updates = 0
        if shadow is None:
            shadow = copy.deepcopy(model)
        else:
            shadow.load_state_dict(model.state_dict())
        self.model = shadow.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._source = [p.detach() for p in model.parameters()]  # views: follow in-place optimizer steps
        self._target = [p for p in self.model.parameters()]

    def current_decay(self) -> float:
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the model's current weights."""
        self.num_updates += 1
        weight = 1.0 - self.current_decay()
        torch._foreach_lerp_(self._target, self._source, weight)
