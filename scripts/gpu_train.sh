#!/usr/bin/env bash
# Train Gr + Gb (full) on a lent GPU machine for at most ~10 minutes, resuming from the last checkpoint.
#
# What travels there is tight (64 MiB in all: repo + data + checkpoint), and what comes back is at most 8 files
# of 16 MiB. So:
#   - the data is a copy of a prepared dataset with its crops kept as H.264 MP4 (already compact) and its
#     masks/meta npz files, limited to what fits: `scripts/gpu_train.sh pack PREPARED DEST` writes DEST
#     (DEST must be a path the device run carries, e.g. gpu_pack/ in the repo, git-ignored, named in `carry`);
#   - the checkpoint travels as weights only, one file per network (bf16 state dicts, no optimizer state: Adam
#     restarts on each resume; say so in the model card). Gr and Gb full are ~7.9M parameters each, ~15 MiB in
#     bf16 per file: each under the 16 MiB return limit; the discriminators are smaller. 4 files in all.
#   - Gr has the warping step (GrConfig.warp): on CPU it beat the plain U-Net by far on held-out people.
#
# Usage on this machine:   scripts/gpu_train.sh pack /work/prepared/dev gpu_pack 40
# On the GPU machine:      scripts/gpu_train.sh train gpu_pack "$OUT" 480
# Next time, copy the returned $OUT/weights_*.pt into gpu_pack/ before calling train again.
set -euo pipefail
mode=${1:?pack|train}

if [[ $mode == pack ]]; then
  src=${2:?prepared dataset}; dest=${3:?destination}; budget_mb=${4:-40}
  python - "$src" "$dest" "$budget_mb" <<'PY'
import json, shutil, sys
from pathlib import Path
src, dest, budget = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]) * 2**20
meta = json.loads((src / "dataset.json").read_text())
dest.mkdir(parents=True, exist_ok=True)
kept, used = [], 0
for t in sorted(meta["tracks"], key=lambda t: -t["frames"]):  # videos first: they carry motion
    d = src / t["dir"]
    if not (d / "DONE").is_file():
        continue
    size = sum(f.stat().st_size for f in d.iterdir())
    if used + size > budget:
        continue
    shutil.copytree(d, dest / t["dir"], dirs_exist_ok=True)
    kept.append(t); used += size
meta["tracks"] = kept
(dest / "dataset.json").write_text(json.dumps(meta))
print(f"packed {len(kept)} tracks, {used / 2**20:.1f} MiB into {dest}")
PY
  exit 0
fi

data=${2:?packed data}; out=${3:?output folder}; seconds=${4:-480}
export PYTHONPATH=$PWD
python - "$data" "$out" "$seconds" <<'PY'
import sys, time
from dataclasses import replace
from pathlib import Path
import torch
from training.fitting.config import CKPT_FORMAT
from training.models import gr_config
from training.fitting.train import RunOptions, preset, train
data, out, seconds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
cfg = replace(preset("joint", "full", 256), batch=16, gr=gr_config("full", warp=True))
parts = sorted(data.glob("weights_*.pt"))
init = None
if parts:  # weights-only resume: join the per-network files into a checkpoint the trainer can start from
    init = out / "init.pt"
    first = torch.load(parts[0], map_location="cpu", weights_only=False)
    models = {}
    for p in parts:
        models.update(torch.load(p, map_location="cpu", weights_only=False)["models"])
    models = {k: {n: t.float() if t.is_floating_point() else t for n, t in v.items()} for k, v in models.items()}
    torch.save({**first, "format": CKPT_FORMAT, "models": models}, init)
# Steps from the measured ~33 ms per GAN step on an H200 (issue 3), with a margin: 40 ms a step.
steps = int(seconds / 0.04)
run = RunOptions(data=data, out=out / "run", steps=steps, init_gr=init, init_gb=init, val_every=1000,
                 ckpt_every=1000, progressive_until=steps // 3 if init is None else 0, tensorboard=False)
t0 = time.time()
train(cfg, run)
ck = torch.load(out / "run" / "checkpoint.pt", map_location="cpu", weights_only=False)
ck.pop("optims", None)
nets = ck.pop("models")
for name in ("gr", "gb", "d_gr", "d_gb"):  # one file per network: each under the 16 MiB return limit
    sd = {n: t.to(torch.bfloat16) if t.is_floating_point() else t for n, t in nets[name].items()}
    path = out / f"weights_{name}.pt"
    torch.save({**ck, "models": {name: sd}}, path)
    size = path.stat().st_size / 2**20
    assert size < 16, f"{path} is {size:.1f} MiB: over the 16 MiB return limit"
    print(f"{path}: {size:.1f} MiB")
(out / "run" / "checkpoint.pt").unlink()  # the full checkpoint (with Adam state) cannot come back
print(f"done in {time.time() - t0:.0f} s; bring back {out}/weights_*.pt")
PY
