"""Train / validation / test splits of a data set.

* rMD17 (the published protocol): training and validation structures are drawn from the split's
  train file (1,000 structures; 950 + 50 in the papers), the test set is the split's test file
  (1,000 structures).
* Generated data with three or more independent trajectories (``generation["trajectory_frames"]``,
  written by :func:`equiv.data.generate_xtb_dataset`): split by trajectory. The test set is the
  last trajectory, validation structures are drawn from the one before it, training structures
  from the others: test and validation structures come from trajectories training never saw.
* Other files (user data, a single trajectory): the test set is the last quarter of the frames in
  file order (for an MD trajectory, the latest stretch of time, so test frames are not neighbours
  in time of training frames); training and validation structures are drawn from the first
  three quarters.

In both, the validation set is the first ``n_val`` of a seeded permutation of the pool and the
training set the next ``n_train``: with the same seed, a larger training set contains the smaller
ones and the validation set stays the same, so learning curves compare like with like. ``n_test``
takes a seeded subset of the test set (all of it by default).

Example:
    >>> import numpy as np
    >>> from equiv.data import DataSet, DataSetMetadata
    >>> meta = DataSetMetadata(name="demo", molecule="H2", level_of_theory="none", source="doctest")
    >>> ds = DataSet([1, 1], np.zeros((20, 2, 3)) + [[0, 0, 0], [0.74, 0, 0]], np.arange(20.0), np.zeros((20, 2, 3)), meta)
    >>> s = split_dataset(ds, n_train=8, n_val=2, seed=0)
    >>> len(s.train), len(s.val), len(s.test), s.test.energies.tolist()
    (8, 2, 5, [15.0, 16.0, 17.0, 18.0, 19.0])
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from equiv.data.dataset import DataSet
from equiv.data.specs import DataSpec, load_dataset, parse_spec
from equiv.errors import DataError

__all__ = ["Splits", "TEST_FRACTION", "load_splits", "load_test_split", "split_dataset", "trajectory_blocks"]

#: Share of a single-file data set held out (at the end) as the test set.
TEST_FRACTION = 0.25


@dataclass(frozen=True, eq=False)
class Splits:
    """Three disjoint data sets and how they were drawn.

    Attributes:
        train, val, test: :class:`DataSet` (their ``metadata.split`` says which is which).
        info: protocol, seed, sizes, pool size, and the frame indices of each part in its source
            (``train_indices``, ``val_indices`` into the pool; ``test_indices`` into the test
            source).
    """

    train: DataSet
    val: DataSet
    test: DataSet
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """What a run record stores as its data set: the metadata, sizes and protocol (no indices)."""
        out = self.train.describe()
        out.pop("n_frames", None)
        out["split"] = {k: v for k, v in self.info.items() if not k.endswith("_indices")}
        return out


def _draw(pool_size: int, n_train: int, n_val: int, seed: int, label: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    if n_train < 1:
        raise DataError(f"the training set needs at least one structure, not {n_train}")
    if n_val < 1:
        raise DataError(f"the validation set needs at least one structure, not {n_val}")
    if seed < 0:
        raise DataError(f"the seed must be zero or positive, not {seed}")
    if n_train + n_val > pool_size:
        raise DataError(f"{label} has {pool_size} {what}; asked for {n_train + n_val} "
                        f"({n_train} train + {n_val} validation)")
    perm = np.random.default_rng([seed, 0]).permutation(pool_size)
    return perm[n_val:n_val + n_train], perm[:n_val]


def _test_indices(test_size: int, n_test: int | None, seed: int, label: str) -> np.ndarray:
    if n_test is None:
        return np.arange(test_size)
    if not 1 <= n_test <= test_size:
        raise DataError(f"{label} has {test_size} test structures; asked for {n_test}")
    return np.sort(np.random.default_rng([seed, 1]).permutation(test_size)[:n_test])


def _assemble(pool: DataSet, test_source: DataSet, train_idx, val_idx, test_idx, info: dict[str, Any]) -> Splits:
    common = {k: v for k, v in info.items() if not k.endswith("_indices")}
    info = {**info, "train_indices": train_idx.tolist(), "val_indices": val_idx.tolist(),
            "test_indices": test_idx.tolist()}
    return Splits(
        train=pool.subset(train_idx, split={"role": "train", **common}),
        val=pool.subset(val_idx, split={"role": "validation", **common}),
        test=test_source.subset(test_idx, split={"role": "test", **common}),
        info=info,
    )


def trajectory_blocks(n_frames: int, generation: dict[str, Any] | None) -> tuple[int, int, int] | None:
    """(training pool, validation pool, test size) of the by-trajectory split, or ``None`` when the
    data set does not have three or more trajectories (then the single-file rule applies)."""
    counts = (generation or {}).get("trajectory_frames")
    if not isinstance(counts, list) or len(counts) < 3 or sum(counts) != n_frames or min(counts) < 1:
        return None
    return sum(counts[:-2]), int(counts[-2]), int(counts[-1])


def _split_by_trajectory(ds: DataSet, blocks: tuple[int, int, int], n_train: int, n_val: int, seed: int,
                         n_test: int | None) -> Splits:
    train_pool, val_pool, test_size = blocks
    label = f"{ds.metadata.molecule} ({ds.name})"
    if n_train < 1 or n_val < 1:
        _draw(n_train + n_val, n_train, n_val, seed, label, "structures")  # the same messages
    if n_train > train_pool:
        raise DataError(f"{label} has {train_pool} training structures (its first "
                        f"{len(ds.metadata.generation['trajectory_frames']) - 2} trajectories); asked for {n_train}")
    if n_val > val_pool:
        raise DataError(f"{label} has {val_pool} validation structures (its second-to-last trajectory); asked for {n_val}")
    if seed < 0:
        raise DataError(f"the seed must be zero or positive, not {seed}")
    train_idx = np.random.default_rng([seed, 0]).permutation(train_pool)[:n_train]
    val_idx = train_pool + np.random.default_rng([seed, 2]).permutation(val_pool)[:n_val]
    test_idx = _test_indices(test_size, n_test, seed, label)
    n_traj = len(ds.metadata.generation["trajectory_frames"])
    info = {
        "protocol": f"by trajectory: test = trajectory {n_traj} ({test_size} frames), validation drawn from "
                    f"trajectory {n_traj - 1} ({val_pool} frames), training from trajectories 1–{n_traj - 2} "
                    f"({train_pool} frames)",
        "source": ds.name, "seed": seed, "n_train": n_train, "n_val": n_val, "n_test": len(test_idx),
        "pool_size": train_pool + val_pool, "train_pool_size": train_pool, "val_pool_size": val_pool,
        "test_size": test_size,
    }
    # _assemble indexes the pool by train/validation indices: the pool is the whole non-test part.
    pool = ds.subset(np.arange(train_pool + val_pool))
    tail = ds.subset(np.arange(train_pool + val_pool, ds.n_frames))
    return _assemble(pool, tail, train_idx, val_idx, test_idx, info)


def split_dataset(ds: DataSet, n_train: int, n_val: int = 50, seed: int = 0, n_test: int | None = None) -> Splits:
    """Split one data set: by trajectory when it has three or more (see the module docstring),
    else test = the last quarter of the frames (or a seeded ``n_test`` of them), train and
    validation drawn with ``seed`` from the rest."""
    blocks = trajectory_blocks(ds.n_frames, ds.metadata.generation)
    if blocks is not None:
        return _split_by_trajectory(ds, blocks, n_train, n_val, seed, n_test)
    if ds.n_frames < 3:
        raise DataError(f"{ds.name} has {ds.n_frames} frames; a train/validation/test split needs at least 3")
    test_size = min(ds.n_frames - 2, max(1, round(ds.n_frames * TEST_FRACTION)))
    pool_size = ds.n_frames - test_size
    train_idx, val_idx = _draw(pool_size, n_train, n_val, seed, f"{ds.metadata.molecule} ({ds.name})",
                               "training structures (the first three quarters of its frames)")
    test_idx = _test_indices(test_size, n_test, seed, f"{ds.metadata.molecule} ({ds.name})")
    pool = ds.subset(np.arange(pool_size))
    tail = ds.subset(np.arange(pool_size, ds.n_frames))
    info = {
        "protocol": f"single file: test = last {test_size} of {ds.n_frames} frames (file order); "
                    f"train and validation drawn from the first {pool_size}",
        "source": ds.name, "seed": seed, "n_train": n_train, "n_val": n_val, "n_test": len(test_idx),
        "pool_size": pool_size, "test_size": test_size,
    }
    return _assemble(pool, tail, train_idx, val_idx, test_idx, info)


def load_splits(
    spec: str | DataSpec,
    n_train: int,
    n_val: int = 50,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    n_test: int | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
) -> Splits:
    """Train / validation / test sets for a data-set spec (see the module docstring).

    Raises :class:`DataError` when the data are missing (saying how to get them) or when
    ``n_train + n_val`` exceeds the training pool ("ethanol (rmd17:ethanol) has 1000 training
    structures; asked for 1200 ...").
    """
    parsed = spec if isinstance(spec, DataSpec) else parse_spec(spec)
    if parsed.kind != "rmd17":
        ds = load_dataset(parsed, data_dir, energy_key=energy_key, forces_key=forces_key)
        return split_dataset(ds, n_train, n_val, seed, n_test)
    pool = load_dataset(parsed, data_dir, part="train")
    label = f"{parsed.molecule} ({parsed})"
    train_idx, val_idx = _draw(pool.n_frames, n_train, n_val, seed, label, "training structures")
    test = load_dataset(parsed, data_dir, part="test")
    test_idx = _test_indices(test.n_frames, n_test, seed, label)
    info = {
        "protocol": f"rMD17 split {parsed.split:02d}: train and validation drawn from the train file "
                    f"({pool.n_frames} structures), test = the test file",
        "source": str(parsed), "seed": seed, "n_train": n_train, "n_val": n_val, "n_test": len(test_idx),
        "pool_size": pool.n_frames, "test_size": test.n_frames,
        "train_file": pool.metadata.split.get("file"), "test_file": test.metadata.split.get("file"),
    }
    return _assemble(pool, test, train_idx, val_idx, test_idx, info)


def load_test_split(spec: str | DataSpec, data_dir: str | os.PathLike | None = None, n_test: int | None = None,
                    seed: int = 0) -> DataSet:
    """The test set that :func:`load_splits` gives training for ``spec`` (it does not depend on the
    training and validation sizes): the rMD17 test file, the last trajectory of generated data, or
    the last quarter of any other file. ``n_test`` takes a seeded subset, as in training."""
    return load_splits(spec, 1, 1, seed, data_dir, n_test=n_test).test
