"""Devices, threads and numerics for training processes.

* :func:`resolve_device`: ``auto`` → CUDA when present, else CPU; ``cuda`` without CUDA is a
  :class:`TrainingError` that says what to do.
* :func:`planned_device`: the queue (``cpu`` or ``cuda``) a config will run on, without touching
  the GPU.
* :func:`choose_threads` and :class:`CpuLoad`: CPU threads = the cores other processes leave
  idle (at most 4). Measured on this 2-core machine (NequIP, ethanol, batch 5,
  ``bench/train_throughput.py --threads``): quiet, two threads 66–87 structures/s against 60 on
  one; with one other busy process, two threads fell to 24 (OpenMP's threads spin and fight it;
  ``OMP_WAIT_POLICY=PASSIVE`` gave 51 and cost a third on the quiet machine) while one thread
  kept 60. The trainer re-checks after every epoch and follows the load.
* :func:`training_numerics`: flush denormals to zero (saturated SiLU/sigmoid/tanh derivatives
  underflow into denormals, which made steps up to 5× slower on this CPU) and keep TF32 off (it
  breaks float32 equivariance on GPUs).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator

import torch

from equiv.errors import TrainingError
from equiv.runtime import tune_cpu_for_training

__all__ = ["resolve_device", "planned_device", "cuda_unavailable_reason", "choose_threads", "CpuLoad", "training_numerics", "device_name",
           "peak_memory_mib", "reset_peak_memory"]


def cuda_unavailable_reason() -> str | None:
    """Why CUDA cannot be used here (``None`` when ``torch.cuda.is_available()``)."""
    if torch.cuda.is_available():
        return None
    why = ("this PyTorch build has no CUDA support" if torch.version.cuda is None
           else "no CUDA device is visible (driver missing, or CUDA_VISIBLE_DEVICES hides it)")
    return f"{why} (torch {torch.__version__})"


def _cuda_absent_message(asked: str) -> str:
    return f"{asked} was asked for, but {cuda_unavailable_reason()}; use --device cpu, or --device auto to take CUDA when present"


def resolve_device(name: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` → a usable :class:`torch.device`."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise TrainingError(_cuda_absent_message(name))
        index = int(name[5:]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise TrainingError(f"{name} was asked for, but only {torch.cuda.device_count()} CUDA device(s) are visible")
        return torch.device("cuda", index)
    raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")


def planned_device(name: str) -> str:
    """``cpu`` or ``cuda``: the device queue a run with this setting belongs to. Raises
    :class:`TrainingError` for CUDA asked for but absent (so the form can refuse it)."""
    return resolve_device(name).type


def _busy_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all CPUs since boot from ``/proc/stat``; ``None`` off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


class CpuLoad:
    """How many cores other processes keep busy, between two calls of :meth:`others_busy`.

    It takes all CPUs' busy time from ``/proc/stat`` and subtracts this process's own CPU time.

    >>> load = CpuLoad()
    >>> 0.0 <= load.others_busy(min_interval_s=0.05) <= (os.cpu_count() or 1)
    True
    """

    def __init__(self) -> None:
        self._last = self._sample()

    @staticmethod
    def _sample() -> tuple[float, tuple[int, int] | None, float]:
        return time.monotonic(), _busy_ticks(), time.process_time()

    def others_busy(self, min_interval_s: float = 0.2) -> float:
        """Cores busy with other processes since the last call (or construction), averaged over
        at least ``min_interval_s`` (sleeps for the rest); 0 when unknown."""
        wait = min_interval_s - (time.monotonic() - self._last[0])
        if wait > 0:
            time.sleep(wait)
        (t0, ticks0, own0), now = self._last, self._sample()
        self._last = now
        t1, ticks1, own1 = now
        if ticks0 is None or ticks1 is None or ticks1[1] <= ticks0[1]:
            return 0.0
        cores = os.cpu_count() or 1
        busy_fraction = (ticks1[0] - ticks0[0]) / (ticks1[1] - ticks0[1])  # of all cores
        own_cores = (own1 - own0) / max(t1 - t0, 1e-9)
        return max(0.0, busy_fraction * cores - own_cores)


def choose_threads(requested: int | None = None, others_busy: float | None = None) -> int:
    """Threads for CPU training: ``requested``; else the cores that other processes leave idle
    (``others_busy`` cores busy, measured now when not given), at least 1 and at most 4."""
    if requested is not None:
        return max(1, int(requested))
    if others_busy is None:
        others_busy = CpuLoad().others_busy()
    cores = os.cpu_count() or 1
    return max(1, min(4, int(cores - others_busy + 0.5)))


@contextlib.contextmanager
def training_numerics(device: torch.device, threads: int | None = None) -> Iterator[int]:
    """Set threads, flush-to-zero and TF32 off for the duration; restores the thread count and
    TF32 flags afterwards (flush-to-zero cannot be read back, so it stays on). Yields the
    thread count used."""
    previous_threads = torch.get_num_threads()
    previous_tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    previous_precision = torch.get_float32_matmul_precision()
    n = choose_threads(threads) if device.type == "cpu" else max(1, threads or 1)
    try:
        torch.set_num_threads(n)
        tune_cpu_for_training()  # flush denormals, keep freed memory in the heap
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        yield n
    finally:
        torch.set_num_threads(previous_threads)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous_tf32
        torch.set_float32_matmul_precision(previous_precision)


def device_name(device: torch.device) -> str:
    """``cpu`` or the GPU's name (``NVIDIA H200``)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device) -> float | None:
    """Peak GPU memory allocated by tensors since the last reset (MiB); ``None`` on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None
