#!/usr/bin/env bash
# Issue 3's data-efficiency comparisons, judged on held-out people (the trainer's validation split, 9 people of
# ../shared/data/dev): the lite Gr at 128x128, 1200 steps, batch 8, seed 0, one CPU thread per run, two runs at
# a time. Prints the validation table at the end (masked face MSE of Gr's output against the driving frame).
#
#   scripts/data_efficiency.sh /work/prepared/dev /work/exp      # ~40 minutes on 2 cores
set -euo pipefail
data=${1:?prepared dataset}; out=${2:?folder for the runs}; steps=${STEPS:-1200}
mkdir -p "$out"
run() {  # name, extra options
  local name=$1; shift
  [[ -f $out/$name/checkpoint.pt ]] && return 0
  facegan-train gr --data "$data" --out "$out/$name" --steps "$steps" --val-every 200 --val-pairs 64 \
    --threads 1 --no-tensorboard "$@" > "$out/$name.log" 2>&1
}
run plain & run warp --warp & wait
run warp_noflip --warp --no-flip & run warp_nostills --warp --no-stills & wait
python - "$out" <<'PY'
import sys
from pathlib import Path
from training.fitting.config import load_checkpoint
print("| run | steps | Gr face MSE | warp alone | copy source | seg accuracy |")
print("|---|---|---|---|---|---|")
for name in ("plain", "warp", "warp_noflip", "warp_nostills"):
    ck = load_checkpoint(Path(sys.argv[1]) / name)
    m = ck["metrics"]
    w = m.get("val/warp_only_face_mse")
    print(f"| {name} | {ck['step']} | {m['val/gr_face_mse']:.5f} | {'-' if w is None else f'{w:.5f}'} "
          f"| {m['val/copy_source_face_mse']:.5f} | {m['val/seg_accuracy']:.3f} |")
PY
