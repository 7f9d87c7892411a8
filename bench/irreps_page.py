"""Per-rerun time of the irreps lab, section by section (AppTest, the real script, no browser).

Each section is opened once (imports, not counted), then rerun while a control changes each
time, as a person moving a slider would. The first pass over the control's values is reported as
"cold" (e3nn computes each Clebsch–Gordan tensor once per process, and st.cache_data fills);
the following ``--runs`` reruns as "warm". AppTest's own bookkeeping is included, so the numbers
are an upper bound on the script's time.

    .venv/bin/python bench/irreps_page.py            # table of median / max per section
    .venv/bin/python bench/irreps_page.py --json     # one JSON object
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.apptest_tools import open_page  # noqa: E402

PAGE = "app_pages/irreps.py"

# section → (widget kind, key, values to cycle through)
MOVES = {
    "Outer product": ("text_input", "irreps_a", ["1, 2, 3", "0.5, -1, 2", "3, 3, 3", "0, 0, 1"]),
    "Rotate & reflect": ("slider", "irreps_alpha", [-150, -60, 20, 110]),
    "Clebsch–Gordan": ("segmented_control", "irreps_l1", [4, 3, 2, 1]),
    "Spherical harmonics": ("slider", "irreps_beta", [10, 60, 120, 170]),
    "Wigner-D": ("slider", "irreps_gamma", [-170, -30, 45, 150]),
    "NequIP messages": ("segmented_control", "irreps_lmax", [3, 0, 1, 2]),
}


def measure(section: str, runs: int) -> tuple[list[float], list[float]]:
    """(cold times, warm times) in seconds."""
    at = open_page(PAGE, {"section": section, "l2": "4"})
    kind, key, values = MOVES[section]
    times = []
    for i in range(len(values) + runs):
        widget = getattr(at, kind)(key=key)
        value = values[i % len(values)]
        widget.input(value) if kind == "text_input" else widget.set_value(value)
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        assert not at.exception, at.exception
    return times[: len(values)], times[len(values) :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    for section in MOVES:
        cold, warm = measure(section, args.runs)
        results[section] = {
            "cold_max_ms": 1000 * max(cold),
            "warm_median_ms": 1000 * statistics.median(warm),
            "warm_max_ms": 1000 * max(warm),
            "warm_runs": len(warm),
        }
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'section':22s} {'cold max ms':>12s} {'warm median ms':>15s} {'warm max ms':>12s}")
    for section, r in results.items():
        print(f"{section:22s} {r['cold_max_ms']:12.0f} {r['warm_median_ms']:15.0f} {r['warm_max_ms']:12.0f}")


if __name__ == "__main__":
    main()
