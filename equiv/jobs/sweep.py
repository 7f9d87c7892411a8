"""Data-efficiency sweeps: a grid of models × training-set sizes × seeds queued as ordinary runs
(kind ``sweep_member``) with one shared group id.

Each member is a plain training run (its record holds its whole config), so the launcher, the
pages and ``equiv runs`` treat it like any other run; the group id ties them together for the
learning-curve plot. Members are queued seed by seed, and within a seed by size and model, so
the first complete curves appear early. Every member has the idempotency key
``<group>/<model>/n<size>/s<seed>``: queuing the same grid under the same group again adds nothing
(a resumed or double-clicked sweep is one sweep).

With one seed, the training sets of a sweep are nested (the split draws validation structures
first, then the training set as the next ``n_train`` of one permutation), so a curve compares like
with like; seeds change the split and the initialisation.

Example:
    >>> plan = plan_sweep(["gvp", "nequip-l1"], [25, 50], 2, {"data": "xtb", "molecule": "ethanol"})
    >>> len(plan.requests), plan.requests[0]["model"], plan.requests[0]["n_train"], plan.requests[0]["seed"]
    (8, 'gvp', 25, 0)
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

from equiv.errors import EquivError
from equiv.jobs.requests import RequestCheck, check_request
from equiv.runs import Run, RunStore
from equiv.training import TrainConfig
from equiv.run_settings import LAB_MODELS

__all__ = ["SweepPlan", "SweepMember", "plan_sweep", "check_sweep", "checked_members", "queue_sweep", "new_group_id",
           "parse_sizes", "parse_models", "MAX_SWEEP_RUNS"]

#: More runs than this in one sweep is a mistake in the grid, not a plan.
MAX_SWEEP_RUNS = 500


def new_group_id() -> str:
    """``sweep-YYYYmmdd-HHMMSS-xxxx``."""
    return f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def parse_sizes(text: str) -> list[int]:
    """``"25,50, 100"`` → ``[25, 50, 100]`` (sorted, unique); :class:`EquivError` with a reason."""
    sizes = []
    for part in str(text).replace(";", ",").replace(" ", ",").split(","):
        if not part.strip():
            continue
        try:
            value = int(part)
        except ValueError:
            raise EquivError(f"training-set sizes are whole numbers separated by commas; {part.strip()!r} is not one") from None
        if value < 1:
            raise EquivError(f"training-set sizes must be at least 1, not {value}")
        sizes.append(value)
    if not sizes:
        raise EquivError("give at least one training-set size, e.g. 25,50,100,200")
    return sorted(set(sizes))


def parse_models(text: str | list[str]) -> list[str]:
    """``"mlp,gvp"`` → ``["mlp", "gvp"]`` (in the given order, unique); unknown names refused."""
    names = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    unknown = [m for m in names if m not in LAB_MODELS]
    if unknown:
        raise EquivError(f"unknown model {unknown[0]!r} in the sweep; choose from {', '.join(LAB_MODELS)}")
    if not names:
        raise EquivError(f"give at least one model ({', '.join(LAB_MODELS)})")
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class SweepPlan:
    """The grid: the lab settings of each member (setting key → value), in queue order."""

    models: list[str]
    sizes: list[int]
    seeds: int
    base: Mapping[str, Any]
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_runs(self) -> int:
        return len(self.requests)


def plan_sweep(models: list[str], sizes: list[int], seeds: int, base: Mapping[str, Any]) -> SweepPlan:
    """Every (seed, size, model) member of the grid, from ``base`` (data set, budget, sizes...)."""
    if not isinstance(seeds, int) or seeds < 1:
        raise EquivError(f"the number of seeds must be at least 1, not {seeds}")
    models, sizes = parse_models(models), sorted(set(sizes))
    seed0 = int(base.get("seed", 0))
    requests = [{**base, "model": m, "n_train": n, "seed": seed0 + s}
                for s in range(seeds) for n in sizes for m in models]
    if len(requests) > MAX_SWEEP_RUNS:
        raise EquivError(f"the sweep has {len(requests)} runs; at most {MAX_SWEEP_RUNS} can be queued at once")
    return SweepPlan(models, sizes, seeds, base, requests)


def check_sweep(plan: SweepPlan, store: RunStore | None = None) -> tuple[list[RequestCheck], list[str]]:
    """Check every member; returns the checks and the distinct problems (one sentence each)."""
    store = store or RunStore()
    checks, problems = [], []
    for request in plan.requests:
        check = check_request(request, store)
        checks.append(check)
        problems += [p for p in check.problems if p not in problems]
    return checks, problems


class SweepMember(NamedTuple):
    """One member ready to queue: its config (labelled with the sweep) and its idempotency key."""

    config: TrainConfig
    idempotency_key: str


def checked_members(plan: SweepPlan, store: RunStore, group_id: str,
                    **labels: str) -> list[SweepMember]:
    """Check every member and that all of them fit in the run store's quotas (nothing is queued when
    one is refused: raises :class:`EquivError` with the problems, or
    :class:`~equiv.runs.QuotaError`) and label them with the sweep (and ``labels``), in queue order."""
    checks, problems = check_sweep(plan, store)
    if problems:
        raise EquivError("the sweep was not queued: " + " ".join(problems))
    members = [SweepMember(c.config.replace(labels={**c.config.labels, "sweep": group_id, **labels}),
                           f"{group_id}/{c.values['model']}/n{c.values['n_train']}/s{c.values['seed']}") for c in checks]
    store.check_room([m.idempotency_key for m in members])
    return members


def queue_sweep(plan: SweepPlan, store: RunStore | None = None, group_id: str | None = None, *,
                launch: bool = True) -> tuple[str, list[Run]]:
    """Queue every member (after checking them all: nothing is queued when one is refused) and
    (with ``launch``) make sure a launcher serves the device. Returns the group id and the runs in
    queue order."""
    from equiv.jobs.launcher import ensure_launcher
    from equiv.jobs.train import create_train_run

    store = store or RunStore()
    group_id = group_id or new_group_id()
    runs = [create_train_run(m.config, store, kind="sweep_member", group_id=group_id, idempotency_key=m.idempotency_key)
            for m in checked_members(plan, store, group_id)]
    for device in sorted({run.device for run in runs if run.active} if launch else ()):
        ensure_launcher(device, store)
    return group_id, runs
