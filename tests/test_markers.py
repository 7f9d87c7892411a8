"""The suite's markers select what they say: ``-m 'not e2e'`` leaves out every browser test (the
marker comes from tests/e2e/conftest.py), and ``rmd17_full`` tests are deselected, not skipped,
without the full rMD17 splits."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def _collect(*args: str, env: dict[str, str] | None = None) -> str:
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert r.returncode in (0, 5), r.stdout + r.stderr  # 5: nothing selected
    return r.stdout


@pytest.mark.slow
def test_not_e2e_leaves_out_every_browser_test():
    selected = _collect("tests/e2e", "-m", "e2e")  # every browser test carries the mark...
    n = len(re.findall(r"^tests/e2e/\S+::", selected, re.M))
    assert n >= 5 and f"{n} tests collected" in selected and "deselected" not in selected
    assert f"no tests collected ({n} deselected)" in _collect("tests/e2e", "-m", "not e2e")  # ...so none is left


@pytest.mark.slow
def test_full_rmd17_tests_are_deselected_without_the_files(tmp_path):
    out = _collect("tests/test_data.py", "-k", "published_protocol", env={"EQUIV_RMD17_FULL": str(tmp_path)})
    assert "published_protocol_split[slice" in out and "published_protocol_split[full" not in out
    assert re.search(r"\(\d+ deselected\)", out)
