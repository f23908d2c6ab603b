"""How strongly the shipped LT answers each driving input: a check to run before shipping a retrained LT.

    python -m training.lt_response --source PHOTO [--weights realtime/weights]

For one real source face, each listed AU is set from its measured value to 1 (and yaw turned by +20 degrees),
and the mean displacement of the landmarks of each face region is printed in pixels of the 256 crop. An LT
that has learned the AU input moves the lips for AU12/AU26, the eyes for AU45 and the brows for AU01.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from engines import open_runner
from realtime.face import AU_ORDER, AnalyzerOptions, FaceAnalyzer
from realtime.face import topology as topo
from realtime.face.align import CROP_SIZE, alignment_transform, apply_transform, to_normalized
from realtime.face.types import POSE_SCALE_DEG
from realtime.weights import weights_dir

REGIONS = {
    "lips": topo.LIPS,
    "eyes": topo.LEFT_EYE + topo.RIGHT_EYE,
    "brows": topo.LEFT_EYEBROW + topo.RIGHT_EYEBROW,
    "oval": topo.FACE_OVAL,
}
PROBED_AUS = ("AU01", "AU12", "AU26", "AU45")


def response_table(lt_path: Path, source_rgb: np.ndarray, analyzer_weights: Path | None = None) -> list[str]:
    with FaceAnalyzer(AnalyzerOptions(weights_dir=analyzer_weights)) as analyzer:
        face = analyzer.analyze(source_rgb)
    if face is None:
        raise ValueError("no face in the source photo")
    m = alignment_transform(face.landmarks)
    ls = to_normalized(apply_transform(m, face.landmarks))[None]  # (1, 478, 2)
    base = face.driving_vector()[None]  # (1, 20)
    px = CROP_SIZE / 2  # normalised units -> crop pixels
    names = [a.value for a in AU_ORDER]
    rows = ["| input change | " + " | ".join(REGIONS) + " |", "|---" * (len(REGIONS) + 1) + "|"]
    with open_runner(lt_path, backend="onnxruntime") as lt:
        ref = lt.infer({"ls": ls, "aud": base})["lt"][0]
        probes = [(f"{n} -> 1", names.index(n), 1.0) for n in PROBED_AUS]
        probes.append(("yaw + 20 deg", len(names), float(base[0, len(names)] + 20 / POSE_SCALE_DEG)))
        for label, k, value in probes:
            aud = base.copy()
            aud[0, k] = value
            move = np.linalg.norm(lt.infer({"ls": ls, "aud": aud})["lt"][0] - ref, axis=1) * px  # (478,)
            rows.append(
                f"| {label} | " + " | ".join(f"{move[list(p)].mean():.1f}" for p in REGIONS.values()) + " |"
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.lt_response", description=__doc__.split("\n\n")[0])
    p.add_argument("--source", type=Path, required=True, help="a photo with one face")
    p.add_argument(
        "--weights", type=Path, default=None, help="folder with lt.onnx (default: the shipped weights)"
    )
    a = p.parse_args(argv)
    bgr = cv2.imread(str(a.source))
    if bgr is None:
        p.error(f"cannot read {a.source} as an image")
    folder = a.weights or weights_dir()
    print("\n".join(response_table(folder / "lt.onnx", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
