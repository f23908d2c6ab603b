"""Which face a photo's preparation animates, over a folder of photos: how many photos the face mesh (asked for four
faces, as `run_cam.py` asks of a source photo) finds several faces in, and in how many the largest one is not found
again in a crop round it (`realtime.stages.render.find_face` then passes it over: a "face" in a building's facade,
its windows for eyes). Lists those photos.

    python scripts/photo_faces.py ../shared/data/dev      # about 30 s for its 3,300 photos on 2 cores
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from realtime.face import AnalyzerOptions, FaceAnalyzer
from realtime.sources.picture import MAX_SIDE
from realtime.stages.render import _confirmed

SUFFIXES = (".jpg", ".jpeg", ".png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    photos = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    counts = {"read": 0, "no face": 0, "one face": 0, "several faces": 0, "largest not found again": 0}
    with FaceAnalyzer(AnalyzerOptions(mode="image")) as analyzer:
        for path in photos:
            bgr = cv2.imread(str(path))
            if bgr is None or min(bgr.shape[:2]) < 64:
                continue
            counts["read"] += 1
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if max(rgb.shape[:2]) > MAX_SIDE:  # as `run_cam.py` reads a picture
                s = MAX_SIDE / max(rgb.shape[:2])
                rgb = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            faces = analyzer.analyze_all(np.ascontiguousarray(rgb))
            if len(faces) < 2:
                counts["one face" if faces else "no face"] += 1
                continue
            counts["several faces"] += 1
            if not _confirmed(rgb, faces[0], analyzer):
                counts["largest not found again"] += 1
                print(f"largest not found again: {path} ({len(faces)} faces)", flush=True)
    print(" | ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
