#!/usr/bin/env bash
# Run facegan-bench on a GPU machine and leave the JSON table (and the console log) under $OUT.
#
#   OUT=/some/dir scripts/gpu_bench.sh [WEIGHTS_DIR] [MODEL]
#
# WEIGHTS_DIR defaults to realtime/weights and must hold lt.onnx, gr_<MODEL>.onnx, gb_<MODEL>.onnx with their
# .spec.json, and the torch.export sidecars (<name>.pt2) for the torch backend (docs/CONTRACTS.md 2).
# MODEL defaults to full (untrained weights are exported for it when none are there, see below). Runs from the
# repository root; needs python with numpy, onnx, onnxruntime, torch
# (CUDA build). Not run in the session that wrote it (no GPU was lent): first run, check the log.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder that receives bench_<model>_gpu.json}"
WEIGHTS="${1:-realtime/weights}"
MODEL="${2:-full}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true
python - <<'PY' | tee -a "$OUT/gpu.txt"
import torch, onnxruntime
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
print("onnxruntime", onnxruntime.__version__, onnxruntime.get_available_providers())
PY
# No trained gr_<MODEL>/gb_<MODEL> there (the full nets have never been trained): export untrained ones of the
# shipped architecture (warping Gr) into $OUT/speed_weights, with LT copied from realtime/weights. Speed does not
# depend on the weights; their model cards say "steps: 0" - speed benchmarks only, never shipped.
if [[ ! -f "$WEIGHTS/gr_${MODEL}.onnx" ]]; then
  echo "no $WEIGHTS/gr_${MODEL}.onnx: exporting untrained $MODEL nets for the speed benchmark" | tee -a "$OUT/gpu.txt"
  PYTHONPATH=. python - "$MODEL" "$OUT/speed_weights" <<'PY'
import shutil, sys
from dataclasses import replace
from pathlib import Path
import torch
from training.fitting.config import build_models, preset, save_checkpoint
from training.release.export import main as export_main
from training.models import gr_config
model, out = sys.argv[1], Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
cfg = replace(preset("joint", model, 256), gr=gr_config(model, warp=True))
ckpt = out / "untrained.pt"
save_checkpoint(ckpt, cfg, 0, build_models(cfg), {}, {"dataset": "none (untrained: speed benchmarks only)"})
assert export_main([str(ckpt), "--out", str(out), "--pt2", "always"]) == 0
for f in Path("realtime/weights").glob("lt.*"):
    shutil.copy(f, out / f.name)
ckpt.unlink()
PY
  WEIGHTS="$OUT/speed_weights"
fi
# Batch 1 is the latency target (<= 1.5 ms per frame); 16 streams the throughput one (>= 3000 frames/s).
# onnxruntime (CPU) runs too, as the reference row; torch compiles and captures CUDA graphs in the warm-up.
PYTHONPATH=. timeout 540 python -m engines.bench --weights "$WEIGHTS" --model "$MODEL" \
    --backend torch onnxruntime --batch 1 16 --iters 100 --warmup 10 \
    --json "$OUT/bench_${MODEL}_gpu.json" 2>&1 | tee "$OUT/bench_${MODEL}_gpu.log"
