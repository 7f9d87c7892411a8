"""Data sets: one molecule × many frames with total energies (eV) and forces (eV/Å).

* :class:`DataSet` and :class:`DataSetMetadata`: the one type every consumer uses.
* Specs name data sets everywhere: ``rmd17:<molecule>[:NN]``, ``xtb:<molecule>``, a file path.
  :func:`load_splits` gives train / validation / test; :func:`load_dataset` the frames.
* rMD17 (PBE/def2-SVP): :func:`load_rmd17`, :func:`download_rmd17`.
* Generated GFN2-xTB data: :func:`generate_xtb_dataset` (Langevin MD with ASE and tblite).
* Files: :func:`write_dataset_npz` / :func:`read_dataset_npz` (the native format),
  :func:`read_extxyz_dataset` / :func:`write_extxyz_dataset` (user data).
"""

from equiv.data.catalog import DataSetEntry, available_datasets, find_dataset
from equiv.data.dataset import DataSet, DataSetMetadata
from equiv.data.download import RMD17_URLS, DownloadProgress, download_rmd17
from equiv.data.extxyz import read_extxyz_dataset, write_extxyz_dataset
from equiv.data.generate import (
    XTB_LEVEL_OF_THEORY,
    GenerationProgress,
    MDSettings,
    datasets_dir,
    default_xtb_path,
    generate_command,
    generate_xtb_dataset,
)
from equiv.data.npzfile import read_dataset_npz, write_dataset_npz
from equiv.data.rmd17 import (
    RMD17_LEVEL_OF_THEORY,
    RMD17_MOLECULES,
    load_rmd17,
    rmd17_available,
    rmd17_data_dir,
    rmd17_missing_message,
    rmd17_name,
)
from equiv.data.specs import DataSpec, load_dataset, parse_spec
from equiv.data.splits import TEST_FRACTION, Splits, load_splits, load_test_split, split_dataset
from equiv.data.units import KCAL_PER_MOL_IN_EV

__all__ = [
    "DataSet",
    "DataSetEntry",
    "DataSetMetadata",
    "DataSpec",
    "DownloadProgress",
    "GenerationProgress",
    "KCAL_PER_MOL_IN_EV",
    "MDSettings",
    "RMD17_LEVEL_OF_THEORY",
    "RMD17_MOLECULES",
    "RMD17_URLS",
    "Splits",
    "TEST_FRACTION",
    "XTB_LEVEL_OF_THEORY",
    "available_datasets",
    "datasets_dir",
    "default_xtb_path",
    "download_rmd17",
    "find_dataset",
    "generate_command",
    "generate_xtb_dataset",
    "load_dataset",
    "load_rmd17",
    "load_splits",
    "load_test_split",
    "parse_spec",
    "read_dataset_npz",
    "read_extxyz_dataset",
    "rmd17_available",
    "rmd17_missing_message",
    "rmd17_data_dir",
    "rmd17_name",
    "split_dataset",
    "write_dataset_npz",
    "write_extxyz_dataset",
]
