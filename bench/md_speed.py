"""MD steps per second for one molecule with the pretrained NequIP and GVP (equiv's ASE calculator,
float32 and float64) and with GFN2-xTB (tblite), side by side, on this machine's CPU.

    .venv/bin/python bench/md_speed.py [--molecule aspirin] [--steps 500] [--threads 1]

Every engine runs the same NVE MD (velocity Verlet, 0.5 fs, 300 K, seed 0) through
``equiv.md.run_md`` (model built once, stability rule checked every step), after 20 warm-up
steps. For each: steps/s of wall time (what you get now) and steps/s of this process's CPU time
(what one otherwise idle core gives; on a loaded machine the two differ by the share of a core the
process gets). Also prints the load average.
"""

from __future__ import annotations

import argparse
import os
import time

from equiv.md import MDConfig, load_md_model, run_md
from equiv.md.simulate import start_molecule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--molecule", default="aspirin")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    mol = start_molecule(args.molecule, None)
    print(f"{args.molecule}: {mol.n_atoms} atoms, {args.steps} NVE steps, {args.threads} torch thread(s), "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    engines = [("nequip", "float32"), ("nequip", "float64"), ("gvp", "float32"), ("gvp", "float64"), ("xtb", "")]
    for family, dtype in engines:
        config = MDConfig(model=f"pretrained:{args.molecule}:{family if family != 'xtb' else 'nequip'}",
                          molecule=args.molecule, steps=args.steps, dtype=dtype or "float64", threads=args.threads)
        if family == "xtb":
            from equiv.data.generate import XTB_ACCURACY, XTB_LEVEL_OF_THEORY
            from equiv.data.xtb import XTBCalculator, single_openmp_thread

            single_openmp_thread()
            kwargs = {"calculator": XTBCalculator(XTB_LEVEL_OF_THEORY, accuracy=XTB_ACCURACY),
                      "calculator_label": "GFN2-xTB"}
            label = "GFN2-xTB (tblite, accuracy 0.01)"
        else:
            t0 = time.perf_counter()
            kwargs = {"loaded": load_md_model(config.model, dtype=dtype, numbers=mol.numbers)}
            label = f"pretrained {family} ({dtype}; built in {time.perf_counter() - t0:.1f} s)"
        run_md(MDConfig(**{**config.to_dict(), "steps": 20}), **kwargs)  # warm-up
        cpu0 = time.process_time()
        result = run_md(config, **kwargs)
        cpu_per_step = (time.process_time() - cpu0) / max(result.steps_done, 1)
        print(f"  {label:48s} {result.steps_per_s:7.1f} steps/s wall ({1000.0 / result.steps_per_s:6.1f} ms/step) "
              f"{1.0 / cpu_per_step:7.1f} steps/s of CPU time ({1000.0 * cpu_per_step:5.1f} ms) "
              f"{'stable' if result.stable else 'UNSTABLE'}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
