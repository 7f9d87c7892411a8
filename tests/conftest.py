"""Shared test fixtures."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The committed CC0 slice of rMD17 split 01 (60 train + 40 test frames of ethanol, aspirin and
#: benzene; tests/data/rmd17/README.md): what every test that reads rMD17 uses.
RMD17_SLICE = REPO_ROOT / "tests" / "data" / "rmd17"
#: The full 1,000 + 1,000-frame split files, for the few tests marked ``rmd17_full``: the folder
#: named by ``EQUIV_RMD17_FULL`` (``make test`` sets it when the project's data folder is beside
#: the repository). Without them those tests are deselected (a fresh clone skips nothing).
RMD17_FULL = Path(os.environ.get("EQUIV_RMD17_FULL") or REPO_ROOT / "no-full-rmd17").expanduser()


def full_rmd17_present() -> bool:
    return (RMD17_FULL / "rmd17_ethanol_train_01.npz").is_file()


def pytest_report_header(config):
    where = RMD17_FULL if full_rmd17_present() else "absent (set EQUIV_RMD17_FULL), rmd17_full tests deselected"
    return f"full rMD17 splits: {where}"


#: Tests of the edit loop that took 1.5 s or more each (``pytest -m "not e2e and not slow"
#: --durations=40`` on this 2-core machine, quiet, 2026-12-02): marked ``slow`` so that ``make
#: test-fast`` stays near 2 minutes; ``make test`` runs them.
SLOW_BY_DURATION = (
    "tests/test_fuzz.py::test_hostile_query_parameters_never_crash_a_page",
    "tests/test_fuzz.py::test_a_98_carbon_alkane_answers_within_5_s_at_the_full_cap",
    "tests/test_evaluate.py::test_turning_frames_turns_positions_and_forces",
    "tests/test_evaluate.py::test_align_turns_frames_rigidly",
    "tests/test_evaluate.py::test_a_shipped_checkpoint_on_fresh_xtb_data",
    "tests/test_train_page.py::test_a_missing_data_set_is_generated_in_the_background",
    "tests/test_runs.py::test_a_worker_that_computes_without_reporting_is_not_hung",
    "tests/test_runs.py::test_busy_is_told_apart_from_gone_and_final_writes_retry",
    "tests/test_runs.py::test_a_hung_worker_is_failed_with_a_reason",
    "tests/test_rotate_page.py::test_page_renders_for_every_library_molecule",
    "tests/test_rotate_page.py::test_a_training_run_link_opens_its_checkpoint",
    "tests/test_rotate_page.py::test_bad_deep_link_shows_messages_and_uses_defaults",
    "tests/test_slurm.py::test_resume_after_a_stop_gives_the_same_weights_as_one_run",
    "tests/test_jobs.py::test_a_claimed_run_is_kept_alive_until_its_worker_takes_it",
    "tests/test_jobs.py::test_the_launcher_survives_a_failing_pass",
    "tests/test_jobs.py::test_cancel_escalates_from_the_flag_to_sigterm_to_sigkill",
    "tests/test_jobs.py::test_concurrency_is_per_device_and_configurable",
    "tests/test_jobs.py::test_generation_is_queued_once_and_the_data_status_follows_it",
    "tests/test_md.py::test_pretrained_model_runs_stable_nve",
    "tests/test_md.py::test_md_job_cancel",
    "tests/test_md_page.py::test_md_page_unstable_verdict_and_bad_links",
    "tests/test_rotation_views.py::test_overlay_arrows_coincide_for_equivariant_models_and_not_for_the_mlp",
    "tests/test_training.py::test_cosine_schedule_anneals_over_the_epochs",
    "tests/test_training.py::test_pretrained_models_are_small_indexed_and_self_describing",
    "tests/test_evaluate.py::test_bad_input_is_one_line_and_exit_2",
    "tests/test_rotate_page.py::test_deep_link_sets_every_control",
    "tests/test_rotate_page.py::test_random_rotation_in_axis_mode_and_back_to_the_start",
    "tests/test_evaluate.py::test_text_output",
    "tests/test_md.py::test_model_specs_and_bad_models",
    "tests/test_md.py::test_md_job_writes_trajectory_and_series",
    "tests/test_md_page.py::test_md_page_shows_a_finished_run_and_explores_its_frames",
    "tests/test_rotation_views.py::test_evaluate_batches_frames_like_single_calls",
)


def pytest_collection_modifyitems(config, items):
    """Mark the measured slow tests ``slow``; deselect the ``rmd17_full`` tests where the full
    split files are not present."""
    for item in items:
        if item.nodeid.split("[")[0] in SLOW_BY_DURATION:
            item.add_marker(pytest.mark.slow)
    if full_rmd17_present():
        return
    deselected = [item for item in items if item.get_closest_marker("rmd17_full")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("rmd17_full")]


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll ``predicate`` every 20 ms until it returns something true (returned), or fail after
    ``timeout`` seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own EQUIV_HOME so nothing touches the user's data directory."""
    monkeypatch.setenv("EQUIV_HOME", str(tmp_path_factory.mktemp("equiv-home")))


@pytest.fixture(autouse=True)
def _no_tf32():
    """Equivariance tolerances assume exact float32 matmuls (TF32 off)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
