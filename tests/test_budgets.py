"""Fair budgets: ``--steps`` gives a run exactly that many optimizer steps with a cosine schedule
that ends annealed, validation every ``steps // 20`` steps, and a recorded verdict of the one
convergence rule. Uses the committed rMD17 slice (tests/data/rmd17), never the full splits."""

from __future__ import annotations

import pytest

from equiv.cli import main
from equiv.runs import RunStore
from equiv.training import TrainConfig, train
from equiv.training.convergence import CONVERGENCE_RULE, check_convergence
from tests.conftest import REPO_ROOT

SLICE = str(REPO_ROOT / "tests" / "data" / "rmd17")


def test_convergence_rule_is_the_relative_gain_over_the_second_half():
    assert check_convergence([(10, 100.0), (20, 60.0), (30, 58.0), (40, 57.0)]).converged  # 5 % gain
    still = check_convergence([(10, 100.0), (20, 60.0), (30, 50.0), (40, 45.0)])
    assert not still.converged and still.relative_improvement == pytest.approx(0.25)
    assert not check_convergence([(40, 10.0)]).converged  # nothing in the first half: cannot tell
    assert "10%" in CONVERGENCE_RULE and "50%" in CONVERGENCE_RULE


def test_a_step_budget_runs_exactly_its_steps_annealed_with_sparse_validation():
    cfg = TrainConfig(model="nequip-l0", data="rmd17:ethanol", data_dir=SLICE, n_train=5, n_val=5, n_test=5,
                      max_steps=40, lr_schedule="cosine", model_options={"n_layers": 1, "channels": 4}, threads=1)
    assert cfg.validation_interval == 2
    result = train(cfg)
    assert result.steps == 40 and result.epochs == 40 and result.stopped == "step limit"  # 1 step per epoch
    assert [r.steps for r in result.history] == list(range(2, 41, 2))  # validated every 2 steps, and at the end
    assert result.history[-1].lr < 0.01 * cfg.lr  # the schedule ends annealed
    s = result.summary()
    assert s["budget"] == "40 steps" and s["max_steps"] == 40 and isinstance(s["converged"], bool)
    assert s["convergence_rule"] == CONVERGENCE_RULE
    assert s["converged"] == check_convergence([(r.steps, r.val["force_mae_mev_per_a"]) for r in result.history]).converged


def test_equiv_train_steps_records_budget_and_verdict(capsys):
    argv = ["train", "--model", "nequip-l0", "--data", "rmd17:ethanol", "--data-dir", SLICE, "--n-train", "10",
            "--n-val", "5", "--n-test", "5", "--steps", "8", "--layers", "1", "--channels", "4", "--threads", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "budget 8 steps: " in out and "converged" in out and "rule: best validation force MAE" in out
    record = RunStore().list_runs()[0]
    assert record.config["max_steps"] == 8 and record.config["lr_schedule"] == "cosine"
    assert record.test_metrics["steps"] == 8 and record.test_metrics["budget"] == "8 steps"
    assert isinstance(record.test_metrics["converged"], bool)
