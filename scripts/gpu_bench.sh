#!/usr/bin/env bash
# Run facegan-bench on a GPU machine and leave the JSON table (and the console log) under $OUT.
#
#   OUT=/some/dir scripts/gpu_bench.sh [WEIGHTS_DIR] [MODEL]
#
# WEIGHTS_DIR defaults to realtime/weights and must hold lt.onnx, gr_<MODEL>.onnx, gb_<MODEL>.onnx with their
# .spec.json, and the torch.export sidecars (<name>.pt2) for the torch backend (docs/CONTRACTS.md 2).
# MODEL defaults to full. Runs from the repository root; needs python with numpy, onnx, onnxruntime, torch
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
# Batch 1 is the latency target (<= 1.5 ms per frame); 16 streams the throughput one (>= 3000 frames/s).
# onnxruntime (CPU) runs too, as the reference row; torch compiles and captures CUDA graphs in the warm-up.
PYTHONPATH=. timeout 540 python -m engines.bench --weights "$WEIGHTS" --model "$MODEL" \
    --backend torch onnxruntime --batch 1 16 --iters 100 --warmup 10 \
    --json "$OUT/bench_${MODEL}_gpu.json" 2>&1 | tee "$OUT/bench_${MODEL}_gpu.log"
