"""Devices, threads and numerics for training processes.

* :func:`resolve_device`: ``auto`` → CUDA when present, else CPU; ``cuda`` without CUDA is a
  :class:`TrainingError` that says what to do.
* :func:`planned_device`: the queue (``cpu`` or ``cuda``) a config will run on, without touching
  the GPU.
* :func:`choose_threads`: CPU threads. The models' tensors are small (a batch of five ethanols is
  45 atoms), so a second thread buys little, and on a shared machine OpenMP's spinning threads
  are ruinous (a NequIP step measured 2–10× slower with two threads than with one while other
  processes kept the two cores busy).
* :func:`training_numerics`: flush denormals to zero (saturated SiLU/sigmoid/tanh derivatives
  underflow into denormals, which made steps up to 5× slower on this CPU) and keep TF32 off (it
  breaks float32 equivariance on GPUs).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch

from equiv.errors import TrainingError

__all__ = ["resolve_device", "planned_device", "choose_threads", "training_numerics", "device_name",
           "peak_memory_mib", "reset_peak_memory"]


def _cuda_absent_message(asked: str) -> str:
    build = torch.__version__
    why = ("this PyTorch build has no CUDA support" if torch.version.cuda is None
           else "no CUDA device is visible (driver missing, or CUDA_VISIBLE_DEVICES hides it)")
    return f"{asked} was asked for, but {why} (torch {build}); use --device cpu, or --device auto to take CUDA when present"


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


def choose_threads(requested: int | None = None) -> int:
    """Threads for CPU training: ``requested``; else 1 on machines of up to two cores, and one per
    core that is free now (judged by the 1-minute load average, at most 4) on larger ones.

    On this 2-core machine NequIP on ethanol (batch 5) trained at 32–35 structures/s on one
    thread and 8–14 on two while other processes used about 1.6 cores (``bench/train_throughput.py
    --threads``): the operations are small, and OpenMP's spinning threads fight the other load.
    """
    if requested is not None:
        return max(1, int(requested))
    cores = os.cpu_count() or 1
    if cores <= 2:
        return 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on Linux
        load = 0.0
    return max(1, min(4, int(cores - load + 0.5)))


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
        torch.set_flush_denormal(True)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        yield n
    finally:
        torch.set_num_threads(previous_threads)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous_tf32
        torch.set_float32_matmul_precision(previous_precision)


def device_name(device: torch.device) -> str:
    """``cpu (N threads)`` or the GPU's name (``NVIDIA H200``)."""
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
