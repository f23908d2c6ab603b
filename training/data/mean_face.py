"""Build the mean face (478 x 3, frontal frame) that head pose is measured against.

Generalised Procrustes over real faces: each face is brought into its own frontal frame, then all are
iteratively aligned (similarity) to their running mean. Written to realtime/weights/mean_face.npy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from realtime.face.pose import canonical_frame, rigid_fit


def build_mean_face(faces: list[np.ndarray], iterations: int = 5) -> np.ndarray:
    """faces: list of (478, 3) landmarks in pixels -> (478, 3) float32 mean face, unit eye-corner distance."""
    if len(faces) < 10:
        raise ValueError(f"need at least 10 faces to build a mean face, got {len(faces)}")
    shapes = np.stack([canonical_frame(f) for f in faces]).astype(np.float64)  # (N, 478, 3)
    mean = np.median(shapes, axis=0)
    for _ in range(iterations):
        aligned = []
        for s in shapes:
            rot, scale, shift = rigid_fit(mean, s)  # mean ~ scale * rot @ s + shift
            aligned.append((scale * (rot @ s.T)).T + shift)
        mean = canonical_frame(np.median(np.stack(aligned), axis=0))
    return mean.astype(np.float32)


def sample_video_faces(data_dir: Path, per_video: int = 8) -> list[np.ndarray]:
    """Largest face of `per_video` evenly spaced frames of every video in MANIFEST.csv (image-mode mesh)."""
    import csv

    import cv2

    from realtime.face.mesh import FaceMesh, MeshOptions

    with open(data_dir / "MANIFEST.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "video"]
    faces = []
    with FaceMesh(MeshOptions(mode="image", max_faces=1)) as mesh:
        for row in rows:
            cap = cv2.VideoCapture(str(data_dir / row["path"]))
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            for i in np.linspace(0, max(n - 1, 0), per_video).astype(int):
                cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
                ok, frame = cap.read()
                found = mesh.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)) if ok else []
                if found:
                    faces.append(found[0])
            cap.release()
    return faces


def main(argv: list[str] | None = None) -> int:
    """python -m training.mean_face [DATA_DIR] [--out realtime/weights/mean_face.npy]"""
    import argparse

    p = argparse.ArgumentParser(prog="python -m training.mean_face", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "data", nargs="?", type=Path, default=Path(__file__).resolve().parents[3] / "shared/data/dev"
    )
    p.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[2] / "realtime/weights/mean_face.npy"
    )
    p.add_argument("--per-video", type=int, default=8, help="frames sampled from each video")
    a = p.parse_args(argv)
    faces = sample_video_faces(a.data, a.per_video)
    np.save(a.out, build_mean_face(faces))
    print(f"mean face of {len(faces)} faces written to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
