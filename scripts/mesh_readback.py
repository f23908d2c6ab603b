"""How much of a known landmark motion the run-time face mesh reads back from the renderer's picture.

For each photo and AU slider edit (the driver at rest), the renderer's target landmarks move by a known amount
(applied); the face mesh, run on the rendered picture, reads a motion (measured). Each is a feature in
inter-ocular units: the brows' height over the eyes, the lips' gap, the eyes' opening, the mouth's corners'
lift. A ratio under 1 is motion the mesh does not see: it sees the same share of a driver's own motion, so
relative motion puts that share on the photo, and the mesh on the output reads the share again.

    python scripts/mesh_readback.py PHOTO [PHOTO ...]      # a few seconds a photo on 2 cores
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from realtime.controls import Edit, Edits
from realtime.face import AnalyzerOptions, FaceAnalyzer
from realtime.face import topology as topo
from realtime.frames import PreparedSource
from realtime.render.framing import OutputLayout
from realtime.render.renderers import MeshFlowFrame
from realtime.stages.driving import DriverSample, DriveState
from realtime.stages.render import prepare_source
from realtime.weights import weights_dir

EDITS = {"AU04": ("brows", 0.6), "AU01": ("brows", 0.6), "AU26": ("lips' gap", 0.5), "AU12": ("corners", 0.6)}
FEATURES = ("brows", "lips' gap", "eyes", "corners")


def features(lm: np.ndarray) -> np.ndarray:
    """(4,) the brows' height over the eyes' middles, the lips' gap, the eyes' opening and the corners' lift
    (the lips' middle less the corners, y down), over the inter-ocular distance."""
    lm = np.asarray(lm)[:, :2]
    le, re_ = lm[list(topo.LEFT_EYE)].mean(0), lm[list(topo.RIGHT_EYE)].mean(0)
    iod = float(np.linalg.norm(le - re_))
    brows = (
        lm[list(topo.LEFT_EYEBROW)].mean(0)[1] - le[1] + lm[list(topo.RIGHT_EYEBROW)].mean(0)[1] - re_[1]
    ) / 2
    gap = lm[14, 1] - lm[13, 1]
    eyes = (lm[145, 1] - lm[159, 1] + lm[374, 1] - lm[386, 1]) / 2
    corners = (lm[13, 1] + lm[14, 1]) / 2 - (lm[61, 1] + lm[291, 1]) / 2
    return np.array([brows, gap, eyes, corners]) / iod


def _read(
    renderer: MeshFlowFrame, analyzer: FaceAnalyzer, src: PreparedSource, edits: Edits
) -> tuple[np.ndarray, np.ndarray | None]:
    """(features of the target landmarks, features the mesh reads on the picture; None: no face found) for the
    photo with these edits, its driver at rest."""
    zero3 = np.zeros(3, np.float32)
    still = DriverSample(src.face.aus, zero3, np.zeros(17, np.float32), np.zeros((478, 3), np.float32), None)
    drive = DriveState(np.zeros(17, np.float32), zero3, None, 1.0, "tracking", still, edits)
    to_photo = cv2.invertAffineTransform(src.transform)
    lt = renderer.target_landmarks(src, drive) @ to_photo[:, :2].T + to_photo[:, 2]
    seen = analyzer.analyze(renderer.render_frame(src, drive))
    return features(lt), None if seen is None else features(seen.landmarks)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("photos", nargs="+", type=Path)
    args = p.parse_args()
    w = weights_dir()
    ratios: dict[str, list[float]] = {au: [] for au in EDITS}
    with FaceAnalyzer(AnalyzerOptions()) as analyzer, MeshFlowFrame(w, "onnxruntime", "relative") as renderer:
        for path in args.photos:
            rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            src = prepare_source(rgb, analyzer, weights=w)
            renderer.set_source(src, OutputLayout.identity(rgb.shape))
            base, base_seen = _read(renderer, analyzer, src, Edits())
            for au, (feature, value) in EDITS.items():
                lt, seen = _read(renderer, analyzer, src, Edits().with_edit(au, Edit(1.0, value, True)))
                j = FEATURES.index(feature)
                if seen is None or base_seen is None or abs(lt[j] - base[j]) < 1e-3:
                    continue
                ratios[au].append(float((seen[j] - base_seen[j]) / (lt[j] - base[j])))
            print(path.name, {au: round(r[-1], 2) for au, r in ratios.items() if r}, flush=True)
    print("| edit | feature | photos | read back, median | range |\n|---|---|---|---|---|")
    for au, r in ratios.items():
        if r:
            print(
                f"| {au} +{EDITS[au][1]} | {EDITS[au][0]} | {len(r)} | {np.median(r):.2f} | {min(r):.2f}-{max(r):.2f} |"
            )


if __name__ == "__main__":
    main()
