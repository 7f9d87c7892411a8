"""The training lab's "done means": a three-model data-efficiency sweep on ethanol, queued from the
browser, with its wall time and fitted slopes.

Starts a real ``streamlit run app.py`` on a fresh data home, opens the training lab's sweep tab in
headless Chromium, queues the grid there (the tab's defaults: mlp, nequip-l0, nequip-l1; sizes 25,
50, 100, 200; two seeds; 2 layers × 8 channels; 25 validation structures; the same optimizer steps
for every run, 1,000 by default) on the generated xTB ethanol data (the lab's default) or rMD17, waits for every run, then
prints the wall time (first run queued to last run finished) and the learning-curve slopes, and saves
screenshots of the live sweep view and of the runs page.

    .venv/bin/python bench/sweep_demo.py [--steps 1000] [--data xtb|rmd17] [--home DIR] [--concurrency 1]

rMD17 is read from $EQUIV_RMD17_DIR (default ../shared/data/rmd17); with ``--data xtb`` the script
first generates the default ethanol data set (`make data`: 1,200 frames, under a minute).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from equiv.jobs.queues import set_max_running  # noqa: E402
from equiv.jobs.requests import DEFAULT_SWEEP_STEPS  # noqa: E402
from equiv.runs import RunStore  # noqa: E402
from tests.e2e.conftest import ARTIFACTS, CHROMIUM_ARGS, StreamlitServer, chromium_path  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=DEFAULT_SWEEP_STEPS,
                        help=f"optimizer steps per run (default: the lab's, {DEFAULT_SWEEP_STEPS})")
    parser.add_argument("--data", choices=["rmd17", "xtb"], default="xtb", help="default: the lab's default (xtb)")
    parser.add_argument("--home", help="data home (default: a new temporary folder)")
    parser.add_argument("--concurrency", type=int, default=1, help="runs at a time on the CPU (default 1)")
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="equiv-sweep-demo-"))
    os.environ["EQUIV_HOME"] = str(home)
    os.environ.setdefault("EQUIV_RMD17_DIR", str(REPO.parent / "shared" / "data" / "rmd17"))
    if args.data == "xtb":
        from equiv.cli import main as equiv

        equiv(["data", "generate", "--molecule", "ethanol", "--frames", "1200", "--temperature", "500", "--seed", "0",
               "--trajectories", "4", "--if-missing", "--no-progress"])  # as `make data`
    store = RunStore()
    set_max_running("cpu", args.concurrency, store.path)
    server = StreamlitServer(home).start()
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1800})
            page.goto(f"{server.url}/train")
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=120_000)
            page.get_by_role("tab", name="Data-efficiency sweep").click()
            sweep = page.get_by_role("tabpanel", name="Data-efficiency sweep")
            if args.data == "rmd17":
                sweep.get_by_text("rMD17 (PBE/def2-SVP)").click()
                page.wait_for_timeout(1500)
            if args.steps != DEFAULT_SWEEP_STEPS:  # else the tab's default budget, as a user gets it
                box = sweep.get_by_label("Steps (0: no limit)", exact=True)
                box.fill(str(args.steps))
                box.press("Enter")
                page.wait_for_timeout(1500)
            sweep.get_by_role("button", name="Queue the sweep").click()
            page.get_by_text("Queued 24 runs as", exact=False).first.wait_for(timeout=120_000)
            group = store.list_runs(limit=1)[0].group_id
            members = store.list_runs(group_id=group)
            print(f"queued {len(members)} runs as {group} from the browser", flush=True)
            t_shot = None
            while any(r.active for r in store.list_runs(group_id=group)):
                done = sum(not r.active for r in store.list_runs(group_id=group))
                if t_shot is None and done >= len(members) // 2:
                    t_shot = time.time()
                    page.screenshot(path=str(ARTIFACTS / "sweep-demo-running.png"), full_page=True)
                time.sleep(2)
            members = store.list_runs(group_id=group)
            start = min(r.created_at for r in members)
            end = max(r.finished_at for r in members)
            page.wait_for_timeout(4000)
            page.screenshot(path=str(ARTIFACTS / "sweep-demo-train.png"), full_page=True)
            page.goto(f"{server.url}/runs?group={group}")
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=120_000)
            page.wait_for_timeout(3000)
            height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
            page.set_viewport_size({"width": 1600, "height": height + 40})
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ARTIFACTS / "sweep-demo-runs.png"), full_page=True)
            browser.close()
    finally:
        server.stop()
    statuses = {s: sum(r.status == s for r in members) for s in ("finished", "failed", "cancelled")}
    print(f"wall time {end - start:.0f} s (first queued to last finished); {statuses}")
    from equiv.cli import main as equiv

    equiv(["sweep", "--report", group])
    print(f"data home {home}; screenshots in {ARTIFACTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
