"""Build the mean face (478 x 3, frontal frame) that head pose is measured against.

Generalised Procrustes over real faces: each face is brought into its own frontal frame, then all are
iteratively aligned (similarity) to their running mean. Written to realtime/weights/mean_face.npy.
"""

from __future__ import annotations

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
