"""Server time of the rotation lab's first render after start-up, and of the first rotation.

    .venv/bin/python bench/rotation_first_render.py [--repeats 3]

Each repeat is a fresh interpreter (``python -c``), as a freshly started server is: it imports
Streamlit's test harness, then runs ``app.py`` switched to the rotation lab (the default molecule,
aspirin, its default panels: GVP, NequIP, the MLP and GFN2-xTB) with AppTest, which executes the
page script as the server does (caches empty), and then changes the rotation angle once (the first
rerun after start, with the caches filled). Reports the import time, the first render and the first
rotation per repeat and their medians (``--preload``: after :func:`equiv.serve.preload`, counted as
start-up, as ``make run`` does before it serves). What the browser adds (the WebSocket, drawing the 3D
viewers) is not included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: Runs in the fresh interpreter; prints one JSON line.
PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
if "--preload" in sys.argv:
    from equiv.serve import preload
    preload()
from streamlit.testing.v1 import AppTest
t1 = time.perf_counter()
at = AppTest.from_file("app.py", default_timeout=300)
at.switch_page("app_pages/rotate.py")
at.run()
t2 = time.perf_counter()
assert not at.exception, at.exception
slider = next(s for s in at.slider if "angle" in (s.label or "").lower())
slider.set_value(37.0).run()
t3 = time.perf_counter()
assert not at.exception, at.exception
print(json.dumps({"import_s": t1 - t0, "first_render_s": t2 - t1, "first_rotation_s": t3 - t2}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--preload", action="store_true",
                   help="import and warm up first, as python -m equiv.serve (make run) does before serving")
    args = p.parse_args()
    rows = []
    for k in range(args.repeats):
        out = subprocess.run([sys.executable, "-c", PROBE] + (["--preload"] if args.preload else []), cwd=REPO, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            sys.exit(f"repeat {k + 1} failed:\n{out.stderr[-2000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"  repeat {k + 1}: start-up {r['import_s']:.2f} s, first render {r['first_render_s']:.2f} s, "
              f"first rotation {1000 * r['first_rotation_s']:.0f} ms", flush=True)
    med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    print(f"rotation lab, aspirin, default panels, {args.repeats} fresh interpreters{' (preloaded)' if args.preload else ''}: "
          f"first render median {med['first_render_s']:.2f} s (after {med['import_s']:.2f} s of start-up), first rotation median "
          f"{1000 * med['first_rotation_s']:.0f} ms")


if __name__ == "__main__":
    main()
