"""Which face a photo's preparation animates, over a folder of photos: how many photos the face mesh (asked for four
faces, as `run_cam.py` asks of a source photo) finds several faces in, and in how many the largest one is not found
again in a crop round it (`realtime.stages.render.found_again`; `find_face` then passes it over: a "face" in a building's facade,
its windows for eyes). Lists those photos.

    python scripts/photo_faces.py ../shared/data/dev      # about 30 s for its 3,300 photos on 2 cores
"""

from __future__ import annotations

import argparse
from pathlib import Path

from realtime.face import AnalyzerOptions, FaceAnalyzer
from realtime.sources.picture import PictureError, read_picture
from realtime.stages.render import found_again

SUFFIXES = (".jpg", ".jpeg", ".png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    photos = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    counts = {"read": 0, "no face": 0, "one face": 0, "several faces": 0, "largest not found again": 0}
    with FaceAnalyzer(AnalyzerOptions(mode="image")) as analyzer:
        for path in photos:
            try:
                rgb = read_picture(path, "photo")  # as `run_cam.py` reads a source photo
            except PictureError:
                continue
            if min(rgb.shape[:2]) < 64:
                continue
            counts["read"] += 1
            faces = analyzer.analyze_all(rgb)
            if len(faces) < 2:
                counts["one face" if faces else "no face"] += 1
                continue
            counts["several faces"] += 1
            if not found_again(rgb, faces[0], analyzer):
                counts["largest not found again"] += 1
                print(f"largest not found again: {path} ({len(faces)} faces)", flush=True)
    print(" | ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
