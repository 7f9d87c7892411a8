"""What a person asks the training lab for, checked with reasons, and turned into a queued run.

The lab's form values (setting key → value, :data:`equiv.run_settings.LAB`) are checked by
:func:`check_request` against the settings' rules and against this machine: more training
structures than the data set has, CUDA chosen where there is none, no local rMD17 copy and how to
get one, a generated data set that does not exist yet. It returns every reason as one sentence, or
the :class:`~equiv.training.TrainConfig` to queue. :func:`data_status` says what the chosen data
set is and how large it really is.

Example:
    >>> check = check_request({"model": "gvp", "data": "xtb", "molecule": "ethanol", "n_train": 0})
    >>> check.ok, check.problems[0]
    (False, 'The training-set size must be at least 1, not 0.')
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from equiv.data import (
    MDSettings,
    XTB_LEVEL_OF_THEORY,
    default_xtb_path,
    find_dataset,
    rmd17_data_dir,
    rmd17_missing_message,
)
from equiv.data.rmd17 import RMD17_LEVEL_OF_THEORY
from equiv.errors import EquivError
from equiv.molecules import LIBRARY
from equiv.runs import Run, RunStore

__all__ = ["DataStatus", "RequestCheck", "check_request", "data_status", "request_key",
           "launch_request", "DEFAULT_GENERATE_FRAMES", "generate_settings", "queue_generation"]

#: Frames the lab's "generate" button makes by default (the generator's default: 4 trajectories,
#: 20 fs apart; about a minute for ethanol on 2 cores).
DEFAULT_GENERATE_FRAMES = 1200


@dataclass(frozen=True)
class DataStatus:
    """The chosen data set on this machine.

    Attributes:
        spec: ``xtb:ethanol`` or ``rmd17:ethanol``.
        label: what it is, for people (with the level of theory).
        available: it can be loaded now.
        pool_size: structures for training + validation; test_size: test structures.
        message: why it is not available and what to do (``None`` when available).
        path: the file (generated data) or folder (rMD17).
        generating: the queued or running ``generate`` run that will make it (generated data only).
        train_pool_size, val_pool_size: data split by trajectory: the most training and validation
            structures (``None``: both come from ``pool_size``).
    """

    spec: str
    label: str
    available: bool
    pool_size: int = 0
    test_size: int = 0
    message: str | None = None
    path: str | None = None
    generating: Run | None = None
    train_pool_size: int | None = None
    val_pool_size: int | None = None


def _rmd17_folder(data_dir: str | None) -> Path:
    return rmd17_data_dir(data_dir).resolve()


def data_status(kind: str, molecule: str, data_dir: str | None = None, store: RunStore | None = None) -> DataStatus:
    """What the data set ``kind:molecule`` is and whether (and how large) it is here."""
    entry = LIBRARY.get(molecule)
    title = entry.title if entry else molecule
    if kind == "rmd17":
        label = f"rMD17 {title} ({RMD17_LEVEL_OF_THEORY}, Christensen & von Lilienfeld 2020)"
        if entry is None or entry.rmd17 is None:
            rmd17 = [e.title for e in LIBRARY.values() if e.rmd17]
            return DataStatus(f"rmd17:{molecule}", label, False,
                              message=f"rMD17 has no {title}; it has {', '.join(rmd17)}. Use generated data instead.")
        spec = f"rmd17:{molecule}"
        found = find_dataset(spec, data_dir)
        if found is None:
            return DataStatus(spec, label, False, message=rmd17_missing_message(molecule, 1, data_dir) + ".",
                              path=str(_rmd17_folder(data_dir)))
        return DataStatus(spec, label, True, found.pool_size, found.test_size, path=found.path)
    if kind == "xtb":
        spec = f"xtb:{molecule}"
        label = f"generated {title} MD ({XTB_LEVEL_OF_THEORY}, 500 K)"
        if entry is None:
            return DataStatus(spec, label, False, message=f"no molecule {molecule!r} in the library")
        path = default_xtb_path(molecule)
        found = find_dataset(spec)
        if found is None:
            from equiv.jobs.generate import active_generation

            generating = active_generation(store or RunStore(), path)
            if generating is not None:
                done = f", {generating.progress:.0%} done" if generating.progress else ""
                message = (f"The {title} data set is being generated (run {generating.id}, {generating.status}{done}); "
                           "you can launch once it is ready.")
            else:
                message = (f"No generated data set for {title} yet ({path} does not exist). Generate it below: "
                           "GFN2-xTB molecular dynamics, a background job that does not block the page.")
            return DataStatus(spec, label, False, message=message, path=str(path), generating=generating)
        if found.outdated:
            from equiv.data import MDSettings, generate_command

            return DataStatus(spec, label, False, message=(
                f"The generated {title} data set is outdated: {found.outdated}. Generate it again below, or run "
                f"`{generate_command(molecule, settings=MDSettings())} --force`."), path=found.path)
        return DataStatus(spec, label, True, found.pool_size, found.test_size, path=found.path,
                          train_pool_size=found.train_pool_size, val_pool_size=found.val_pool_size)
    return DataStatus(f"{kind}:{molecule}", kind, False, message=f"unknown data-set kind {kind!r}; use xtb or rmd17")


@dataclass(frozen=True)
class RequestCheck:
    """The outcome of :func:`check_request`: ``config`` when ``ok``, else the ``problems``.

    Attributes:
        values: the form's values as checked (every lab setting, defaults filled in).
        problems: one sentence each; config: the run's settings when there are none.
        data: the chosen data set on this machine; device_queue: the queue the run would join.
    """

    values: Mapping[str, Any]
    problems: list[str] = field(default_factory=list)
    config: Any = None  # equiv.training.TrainConfig
    data: DataStatus | None = None
    device_queue: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.config is not None


def _device_problems(device: str) -> tuple[list[str], str | None]:
    """(problems, queue) of the chosen device: CUDA chosen without CUDA is refused with the reason."""
    from equiv.training import cuda_unavailable_reason

    if device not in ("auto", "cpu", "cuda"):
        return [], None  # the settings' check says so
    reason = cuda_unavailable_reason()
    if device == "cuda" and reason is not None:
        return [f"CUDA was chosen, but torch.cuda.is_available() is False here: {reason}. Choose auto or cpu."], None
    return [], "cuda" if device == "cuda" or (device == "auto" and reason is None) else "cpu"


def _size_problems(v: Mapping[str, Any], data: DataStatus) -> list[str]:
    """The training, validation and test sizes against the data set's real size."""
    n_train, n_val, n_test = v["n_train"], v["n_val"], v.get("n_test")
    if not (isinstance(n_train, int) and isinstance(n_val, int) and n_train >= 1 and n_val >= 1):
        return []  # the settings' check says so
    problems = []
    if data.train_pool_size is not None and data.val_pool_size is not None:
        if n_train > data.train_pool_size:
            problems.append(f"{data.label} has {data.train_pool_size:,} training structures (its trajectories "
                            f"other than the validation and test ones); {n_train:,} were asked for.")
        if n_val > data.val_pool_size:
            problems.append(f"{data.label} has {data.val_pool_size:,} validation structures (one trajectory); "
                            f"{n_val:,} were asked for.")
    elif n_train + n_val > data.pool_size:
        room = data.pool_size - n_val
        advice = (f"use at most {room:,} training structures with {n_val:,} for validation" if room >= 1
                  else f"the validation set alone takes them all; use fewer than {data.pool_size:,} "
                       "validation structures")
        problems.append(f"{data.label} has {data.pool_size:,} structures for training and validation; "
                        f"{n_train:,} + {n_val:,} were asked for: {advice}.")
    if isinstance(n_test, int) and n_test > data.test_size:
        problems.append(f"{data.label} has {data.test_size:,} test structures, not {n_test:,}.")
    return problems


def check_request(values: Mapping[str, Any], store: RunStore | None = None, data_dir: str | None = None) -> RequestCheck:
    """Every reason the lab form ``values`` cannot run (one sentence each), or its config.

    Args:
        values: setting key → value (:data:`~equiv.run_settings.LAB`; missing keys take the
            defaults; ``data_dir`` may be given as a key too).
        store: the run store (for a generation in progress); data_dir: the rMD17 folder.
    """
    from equiv.run_settings import LAB_DEFAULTS, config_values, setting_problems
    from equiv.training import TrainConfig

    v = {**LAB_DEFAULTS, **values}
    data_dir = data_dir or v.pop("data_dir", None)
    problems = setting_problems(v)
    device_problems, device_queue = _device_problems(v["device"])
    problems += device_problems
    data = data_status(v["data"], v["molecule"], data_dir, store)
    problems += _size_problems(v, data) if data.available else [data.message or f"{data.spec} is not available"]
    if problems:
        return RequestCheck(v, problems, None, data, device_queue)
    folder = str(_rmd17_folder(data_dir)) if v["data"] == "rmd17" else None
    try:
        config = TrainConfig(**config_values(v, folder), labels={"launched_from": "training lab"})
    except EquivError as exc:
        return RequestCheck(v, [str(exc)], None, data, device_queue)
    return RequestCheck(v, [], config, data, device_queue)


def request_key(nonce: str, config: Any) -> str:
    """An idempotency key for launching ``config`` from one form instance (``nonce``): the same
    form submitted twice with the same settings is one run."""
    text = json.dumps(config.to_dict(), sort_keys=True)
    return "form:" + hashlib.sha256(f"{nonce}\n{text}".encode()).hexdigest()[:32]


def launch_request(check: RequestCheck, nonce: str, store: RunStore | None = None, *, launch: bool = True) -> Run:
    """Queue the checked request (idempotent per ``nonce`` and settings) and (with ``launch``) make
    sure a launcher serves its device. Raises :class:`EquivError` when the check did not pass."""
    from equiv.jobs.launcher import ensure_launcher
    from equiv.jobs.train import create_train_run

    if not check.ok:
        raise EquivError(" ".join(check.problems) or "the request was not checked")
    store = store or RunStore()
    run = create_train_run(check.config, store, idempotency_key=request_key(nonce, check.config))
    if launch and run.active:
        ensure_launcher(run.device, store)
    return run


def generate_settings(frames: int = DEFAULT_GENERATE_FRAMES, seed: int = 0) -> MDSettings:
    """The lab's generation settings: the generator's defaults (500 K, 0.5 fs, 4 trajectories, every
    40th step after 600 equilibration steps) with ``frames`` kept."""
    return MDSettings(frames=frames, seed=seed)


def queue_generation(molecule: str, frames: int, nonce: str, store: RunStore | None = None, *,
                     launch: bool = True) -> Run:
    """Queue (once per ``nonce``) the generation of ``xtb:<molecule>`` and make sure a CPU launcher
    runs it; an already active generation of that file is returned instead."""
    from equiv.jobs.generate import active_generation, create_generate_run
    from equiv.jobs.launcher import ensure_launcher

    store = store or RunStore()
    active = active_generation(store, default_xtb_path(molecule))
    if active is not None:
        if launch:
            ensure_launcher(active.device, store)
        return active
    settings = generate_settings(frames)
    key = "generate:" + hashlib.sha256(f"{nonce}\n{molecule}\n{json.dumps(asdict(settings), sort_keys=True)}".encode()).hexdigest()[:32]
    run = create_generate_run(molecule, settings, store, idempotency_key=key)
    if launch and run.active:
        ensure_launcher(run.device, store)
    return run
