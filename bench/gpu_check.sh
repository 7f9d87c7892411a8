#!/usr/bin/env bash
# GPU check for the `device` tool: one short run that trains on CUDA through `equiv train`, checks
# float32 equivariance on the GPU with TF32 off, measures GPU training throughput, and runs the
# fixed-budget NequIP benchmark (bench/nequip_15min.py) on CUDA for BENCH_SECONDS. Everything it
# reports lands in $OUT (6 files; summary.txt first).
#
# The device machine has python3 with a CUDA PyTorch but no ase, possibly another e3nn, and no
# network, so prepare once here, in the repository root (installs nothing; fetches two small
# pure-Python wheels and copies four rMD17 files into the git-ignored .device/):
#
#     bash bench/gpu_check.sh --prepare
#
# then, with the device tool, about 6 minutes of device time:
#
#     run(command="bash bench/gpu_check.sh", carry=[".device"], timeout_s=540)
#
# Knobs (environment): BENCH_SECONDS (default 180), GPU_CHECK_DEVICE (default cuda; "cpu"
# rehearses the whole script on a CPU machine), QUICK=1 (throughput on fewer structures, for a
# rehearsal), PYTHON (default python3), OUT (default /tmp/equiv-gpu-check).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEVICE_DIR=$ROOT/.device

if [[ "${1:-}" == "--prepare" ]]; then
    set -e
    RMD17=${EQUIV_RMD17_DIR:-$ROOT/../shared/data/rmd17}
    PY=${PYTHON:-$ROOT/.venv/bin/python}
    mkdir -p "$DEVICE_DIR/rmd17" "$DEVICE_DIR/wheels"
    for m in ethanol aspirin; do
        for part in train test; do cp "$RMD17/rmd17_${m}_${part}_01.npz" "$DEVICE_DIR/rmd17/"; done
    done
    ASE=$("$PY" -c 'from importlib.metadata import version; print(version("ase"))')
    E3NN=$("$PY" -c 'from importlib.metadata import version; print(version("e3nn"))')
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$DEVICE_DIR/wheels" "ase==$ASE" "e3nn==$E3NN"
    grep -qx '.device/' .gitignore 2>/dev/null || echo '.device/' >> .gitignore
    du -sh "$DEVICE_DIR"
    echo "prepared $DEVICE_DIR (ase $ASE, e3nn $E3NN); now: run(command=\"bash bench/gpu_check.sh\", carry=[\".device\"])"
    exit 0
fi

OUT=${OUT:-/tmp/equiv-gpu-check}
DEV=${GPU_CHECK_DEVICE:-cuda}
BENCH_SECONDS=${BENCH_SECONDS:-180}
N_SMALL=200 N_LARGE=320
[[ "${QUICK:-0}" == 1 ]] && N_SMALL=20 N_LARGE=64
PY=${PYTHON:-python3}
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
note() { echo "$*" >> "$SUMMARY"; }
step() {  # step NAME COMMAND...: run, record ok/FAILED with the time taken
    local name=$1; shift
    local t0=$SECONDS
    if "$@"; then note "ok      $name ($((SECONDS - t0)) s)"; else note "FAILED  $name ($((SECONDS - t0)) s, exit $?)"; fi
}

if [[ ! -d "$DEVICE_DIR/rmd17" ]]; then
    note "FAILED  no .device/ folder: run 'bash bench/gpu_check.sh --prepare' here first and carry .device"
    exit 1
fi
# Our pins for the pure-Python packages the image lacks or has in another version, ahead of its own.
PYDEPS=/tmp/equiv-pydeps
if ls "$DEVICE_DIR"/wheels/*.whl > /dev/null 2>&1; then
    "$PY" -m pip install --quiet --no-deps --no-index --target "$PYDEPS" "$DEVICE_DIR"/wheels/*.whl >> "$SUMMARY" 2>&1
fi
export PYTHONPATH="$ROOT:$PYDEPS${PYTHONPATH:+:$PYTHONPATH}"
export EQUIV_HOME=/tmp/equiv-gpu-home EQUIV_RMD17_DIR="$DEVICE_DIR/rmd17" PYTHONUNBUFFERED=1

note "== environment"
{ command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; } >> "$SUMMARY" 2>&1
"$PY" - >> "$SUMMARY" 2>&1 <<'EOF'
import os, sys, torch, e3nn, ase, equiv
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}), e3nn {e3nn.__version__}, "
      f"ase {ase.__version__}, cuda available {torch.cuda.is_available()}, {os.cpu_count()} CPU cores")
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name(0))
EOF

note "== a training run on $DEV through equiv train (3 epochs of 100 ethanol structures, test on 200)"
train_check() {
    "$PY" -m equiv train --model nequip --data rmd17:ethanol --n-train 100 --n-val 20 --n-test 200 --epochs 3 \
        --device "$DEV" --json > "$OUT/train_cuda.json" 2> "$OUT/train_cuda.log" || return 1
    "$PY" - "$OUT/train_cuda.json" "$DEV" <<'EOF' >> "$SUMMARY"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "finished" and d["device"] == sys.argv[2].split(":")[0], d
print(f"  device {d['device']} ({d['device_name']}), peak GPU memory {d['peak_memory_mib']} MiB, "
      f"{d['structures_per_s']} structures/s, test F MAE {d['force_mae_mev_per_a']:.1f} meV/Å after {d['epochs']} epochs")
EOF
}
step "train on $DEV" train_check

note "== float32 equivariance on $DEV (TF32 off): rotated aspirin, NequIP l_max 2"
equivariance_check() {
    "$PY" - "$DEV" <<'EOF' >> "$SUMMARY"
import sys, torch
from equiv.graphs import AtomsBatch
from equiv.models import build_model
from equiv.molecules import load_molecule
from equiv.o3 import random_rotation
from equiv.training import resolve_device
from equiv.training.device import training_numerics
device = resolve_device(sys.argv[1])
with training_numerics(device):
    mol = load_molecule("aspirin")
    model = build_model("nequip", numbers=mol.numbers).to(device)
    R = random_rotation(1, generator=torch.Generator().manual_seed(0), dtype=torch.float32)[0].to(device)
    batch = AtomsBatch.from_molecules([mol], dtype=torch.float32, device=device)
    out = model(batch.with_edges(5.0))
    rot = model(batch.with_positions(batch.positions @ R.T).with_edges(5.0))
    err = ((rot["forces"] - out["forces"] @ R.T).norm() / out["forces"].norm()).item()
    print(f"  relative force error under rotation: {err:.2e} (float32 bar 1e-4); TF32 matmul "
          f"{torch.backends.cuda.matmul.allow_tf32}")
    assert err < 1e-4
EOF
}
step "equivariance on $DEV" equivariance_check

note "== training throughput on $DEV (batch 5 and 32)"
throughput() {
    "$PY" bench/train_throughput.py --device "$DEV" --models gvp,nequip --molecules ethanol,aspirin \
        --n-train "$N_SMALL" --epochs 3 > "$OUT/throughput.txt" 2>&1 &&
    "$PY" bench/train_throughput.py --device "$DEV" --models nequip --molecules ethanol,aspirin \
        --n-train "$N_LARGE" --epochs 3 --batch-size 32 >> "$OUT/throughput.txt" 2>&1
}
step "throughput" throughput
grep -E "^(ethanol|aspirin)" "$OUT/throughput.txt" | cut -c1-52 >> "$SUMMARY"

note "== NequIP fixed-budget benchmark on $DEV for $BENCH_SECONDS s (rMD17 ethanol, 950/50, all 1,000 test)"
step "benchmark" "$PY" bench/nequip_15min.py --device "$DEV" --max-time "$BENCH_SECONDS" \
    --json-out "$OUT/nequip_budget.json" > "$OUT/nequip_budget.txt" 2>&1
tail -3 "$OUT/nequip_budget.txt" >> "$SUMMARY"
cat "$SUMMARY"
! grep -q '^FAILED' "$SUMMARY"
