"""How long a change of source photo holds the render thread: set in one go (the render thread does it all), and
made ready beside the stream (`RenderStage.stage`, the upload's thread) then installed (the render thread's part).

    python scripts/source_switch_time.py FIRST_PHOTO PHOTO [PHOTO ...] [--size 1280x720]

The mesh flow at the output size given; each photo's times are the best of three.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.face import AnalyzerOptions, FaceAnalyzer
from realtime.render.renderers import MeshFlowFrame
from realtime.stages.render import RenderStage, prepare_source
from realtime.weights import weights_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("first", type=Path)
    ap.add_argument("photos", type=Path, nargs="+")
    ap.add_argument("--size", default="1280x720")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    folder = weights_dir()

    def read(path: Path) -> np.ndarray:
        return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)

    with FaceAnalyzer(AnalyzerOptions()) as analyzer, MeshFlowFrame(folder, "onnxruntime") as renderer:
        stage = RenderStage(renderer, prepare_source(read(args.first), analyzer, weights=folder), size=(w, h))
        for path in args.photos:
            src = prepare_source(read(path), analyzer, weights=folder)
            alone, staged, install = [], [], []
            for _ in range(3):
                t0 = time.perf_counter()
                stage.set_source(src)
                t1 = time.perf_counter()
                stage.stage(src)
                t2 = time.perf_counter()
                stage.set_source(src)
                t3 = time.perf_counter()
                alone.append(t1 - t0)
                staged.append(t2 - t1)
                install.append(t3 - t2)
            print(
                f"{path.name} ({src.image.shape[1]}x{src.image.shape[0]}): in one go {1000 * min(alone):.0f} ms; "
                f"made ready beside the stream {1000 * min(staged):.0f} ms, installed "
                f"{1000 * min(install):.2f} ms in the render thread"
            )


if __name__ == "__main__":
    main()
