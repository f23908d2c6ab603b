"""A small structured fake prepared dataset (docs/CONTRACTS.md section 3), so training tests need no real data.

Test-only: moved here from training/data/dataset.py. Import it as `from _synthetic_dataset import
write_synthetic_dataset` (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from realtime.face.topology import NUM_LANDMARKS
from training.data.dataset import FORMAT


@dataclass(frozen=True)
class SynthFace:
    template: np.ndarray  # (478, 2) in [-1, 1]
    basis: np.ndarray  # (20, 478, 2): how AUd moves landmarks
    skin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    hair: np.ndarray = field(default_factory=lambda: np.zeros(3))
    bg: np.ndarray = field(default_factory=lambda: np.zeros(3))


def write_synthetic_dataset(
    path: str | Path, n_tracks: int = 4, frames: int = 8, size: int = 64, seed: int = 0
) -> Path:
    """A structured fake prepared dataset: one identity per track (ellipse face, hair cap, landmark dots whose
    motion is a fixed linear function of AUd), proper masks, meta and DONE files. Deterministic from `seed`."""
    import cv2

    root = Path(path)
    rng = np.random.default_rng(seed)
    basis = rng.normal(0, 0.01, (20, NUM_LANDMARKS, 2))  # shared: AUs mean the same motion for everybody
    tracks = []
    for k in range(n_tracks):
        ang = rng.uniform(0, 2 * np.pi, NUM_LANDMARKS)
        rad = np.sqrt(rng.uniform(0, 1, NUM_LANDMARKS))
        tmpl = np.stack([0.45 * rad * np.cos(ang), 0.55 * rad * np.sin(ang) + 0.05], axis=1)
        face = SynthFace(tmpl, basis, rng.uniform(0.4, 0.9, 3), rng.uniform(0, 0.4, 3), rng.uniform(0, 1, 3))
        tid, d = f"synth{k:03d}", root / "tracks" / f"synth{k:03d}"
        d.mkdir(parents=True, exist_ok=True)
        aus = rng.uniform(0, 1, (frames, 17)).astype(np.float32)
        pose = rng.uniform(-15, 15, (frames, 3)).astype(np.float32)
        aud = np.concatenate([aus, pose / 90], axis=1)
        lm_n = tmpl[None] + np.einsum("ta,anc->tnc", aud, basis)  # (T, 478, 2)
        px = (lm_n + 1) / 2 * size
        lm = np.concatenate([px, np.zeros((frames, NUM_LANDMARKS, 1))], axis=2).astype(np.float32)
        imgs, segs = [], []
        for t in range(frames):
            seg = np.zeros((size, size), np.uint8)
            c = tuple(int(v) for v in px[t].mean(0))
            cv2.ellipse(seg, (c[0], c[1] - size // 8), (size // 4 + 2, size // 4), 0, 0, 360, 1, -1)
            cv2.ellipse(seg, c, (int(size * 0.24), int(size * 0.3)), 0, 0, 360, 2, -1)
            yy, xx = np.mgrid[0:size, 0:size] / size
            img = (face.bg[None, None] * (0.6 + 0.4 * yy[..., None]) + 0.1 * xx[..., None]).clip(0, 1)
            img[seg == 1] = face.hair
            img[seg == 2] = face.skin
            img = (img * 255).astype(np.uint8)
            for p in px[t, ::7]:
                cv2.circle(img, (int(p[0]), int(p[1])), 1, (30, 20, 20), -1)
            imgs.append(img)
            segs.append(seg)
        write_mp4(d / "crops.mp4", imgs)
        np.savez_compressed(d / "masks.npz", seg=np.stack(segs))
        np.savez_compressed(
            d / "meta.npz",
            landmarks=lm,
            aus=aus,
            pose=pose,
            frame_index=np.arange(frames, dtype=np.int32),
            transform=np.eye(2, 3),
        )
        (d / "DONE").write_text("ok\n")
        tracks.append(
            {
                "id": tid,
                "identity": f"person{k}",
                "source": f"synthetic/{tid}",
                "kind": "video",
                "frames": frames,
                "dir": f"tracks/{tid}",
            }
        )
    summary = {"inputs": n_tracks, "tracks": n_tracks, "frames": n_tracks * frames, "rejected": {}}
    meta = {"format": FORMAT, "version": 1, "crop_size": size, "tracks": tracks, "summary": summary}
    (root / "dataset.json").write_text(json.dumps(meta, indent=1))
    return root


def write_mp4(path: Path, frames: list[np.ndarray]) -> None:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.options = {"crf": "14"}
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
