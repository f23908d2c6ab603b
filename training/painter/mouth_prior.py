"""The mouth prior: the median inner mouth of the training people's open mouths, for a mouth the mesh flow opens
before the driver has shown its own (an AU slider on a still, a photo driven by a closed-mouthed driver).

    python -m training.painter.mouth_prior --data /work/prepared/dev [--raw ../shared/data/dev]
                                           [--out realtime/weights] [--frames 400] [--per-person 12]

For each training person's clips (held-out people as the shipped networks hold them out:
`HELD_OUT`), every other frame is analysed by the run-time analyser in video
mode and its inner mouth cut as the driving stage cuts it (`realtime.render.mouth.cut_mouth`); the
`per_person` most open mouths (opening >= MIN_OPENING) are read into one canonical lip frame through the
run-time's own map (`mouth_map`: upper teeth hang from the upper lip, lower teeth stand on the lower lip), each
scaled to one reference skin colour. The prior is the median over people of each person's median: no person's
mouth is in it, only where teeth, tongue and cavity usually are. It is written as `mouth_prior.npz` (a
`MouthPatch`: image, loop, skin, opening; realtime.render.mouth.load_mouth_prior) with its model card.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from realtime.render.mouth import (
    MOUTH_PATCH_MARGIN,
    PRIOR_FILE,
    MouthPatch,
    cut_mouth,
    lip_frame_loop,
    mesh_loops,
    mouth_corners,
    mouth_map,
)
from training.painter import HELD_OUT

log = logging.getLogger(__name__)

MIN_OPENING = 0.02
"""A mouth at least this open (inner-mouth area over face-oval area; about 0.05 wide open) is a sample."""
PRIOR_WIDTH = 96
"""The prior's mouth width, pixels (corner to corner)."""
REFERENCE_SKIN = np.array([180.0, 130.0, 110.0], np.float32)
"""Every sample is scaled per channel to this skin colour before the median (the prior's `skin`)."""
CANON_BAND = (60, 90)
"""The canonical lips are the mean shape of the samples whose opening lies in these percentiles: open enough
that most samples' teeth fit, not so open that most leave a gap in the middle."""


def collect(clips: dict[str, Path], frames: int, per_person: int) -> list[tuple[str, MouthPatch]]:
    """(person, mouth) samples: each person's `per_person` most open mouths of one clip."""
    from realtime.config import DrivingConfig
    from realtime.face.analyzer import AnalyzerOptions, FaceAnalyzer
    from realtime.sources import open_source

    loop, oval = mesh_loops()
    samples: list[tuple[str, MouthPatch]] = []
    for person, clip in sorted(clips.items()):
        got = []
        with (
            FaceAnalyzer(AnalyzerOptions(mode="video")) as analyzer,
            open_source(DrivingConfig(path=clip)) as src,
        ):
            for i, frame in enumerate(src):
                if i >= frames:
                    break
                rgb = frame.image
                face = analyzer.analyze(rgb, i * 40)  # every frame through the tracker, every other one cut
                if face is None or i % 2:
                    continue
                mouth = cut_mouth(rgb, face.landmarks, loop, oval)
                if mouth is not None and mouth.opening >= MIN_OPENING:
                    got.append(mouth)
        got.sort(key=lambda m: -m.opening)
        samples += [(person, m) for m in got[:per_person]]
        log.info("%s: %d open mouths in %s", person, len(got), clip.name)
    return samples


def build_prior(samples: list[tuple[str, MouthPatch]], width: int = PRIOR_WIDTH) -> MouthPatch:
    """The median mouth of `samples` in a canonical lip frame (see the module docstring)."""
    if not samples:
        raise ValueError("no open mouths to build a prior from")
    corners = mouth_corners()
    openings = np.array([m.opening for _, m in samples])
    lo_p, hi_p = np.percentile(openings, CANON_BAND)
    band = [m for _, m in samples if lo_p <= m.opening <= hi_p] or [m for _, m in samples]
    canon = np.mean([lip_frame_loop(m.loop, corners) for m in band], axis=0)  # (K, 2) width 1, corner at 0
    margin = MOUTH_PATCH_MARGIN * width + 2.0
    loop_px = canon * width - canon.min(0) * width + margin
    h, w = (int(np.ceil(loop_px[:, k].max() + margin)) for k in (1, 0))
    per_person: dict[str, list[np.ndarray]] = defaultdict(list)
    for person, m in samples:
        mx, my, gap = mouth_map(m.loop, loop_px, (h, w), corners)
        img = cv2.remap(m.image.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        img *= REFERENCE_SKIN / np.maximum(m.skin, 1.0)
        img[gap > 0.5] = np.nan  # wider than this sample opened: it says nothing there
        per_person[person].append(img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels of one person: NaN, left out next
        medians = np.stack([np.nanmedian(np.stack(v), axis=0) for v in per_person.values()])  # (P, h, w, 3)
        image = np.nanmedian(medians, axis=0)
    image = np.where(np.isnan(image), np.nanmin(image), image)
    return MouthPatch(
        np.clip(image + 0.5, 0, 255).astype(np.uint8),
        loop_px.astype(np.float32),
        float(np.median([m.opening for m in band])),
        REFERENCE_SKIN.copy(),
    )


def save_prior(prior: MouthPatch, path: Path) -> None:
    np.savez_compressed(
        path, image=prior.image, loop=prior.loop, opening=np.float32(prior.opening), skin=prior.skin
    )


CARD = """# mouth_prior.npz: the inner mouth shown before the driver has opened its own

Made by `python -m training.painter.mouth_prior --data {data} --frames {frames} --per-person {per_person}`
(training/painter/mouth_prior.py); this card is written by that command.

## What it is

A `realtime.render.mouth.MouthPatch` (`load_mouth_prior`): a {w}x{h} px RGB image (uint8) of an open mouth,
the inner-lip loop of the mesh in its pixels (mouth {width} px wide corner to corner, opening/width
{ratio:.2f}), and the skin colour it was scaled to ({skin}). The mesh flow starts with it as the driver's "last
open mouth": an AU slider that opens a still photo's mouth, or a photo whose lips part before the driver has
opened its mouth, shows this mouth's teeth and cavity, mapped and coloured as a driver's mouth is (upper teeth
hanging from the upper lip, lower teeth on the lower lip, the photo's light and colourfulness). The driver's
own mouth replaces it the first time the driver opens its mouth. Without the file a mouth is drawn
(`drawn_mouth`: flat teeth arcs over a cavity).

## Data and method

`../shared/data/dev` (internal research data, not shipped: no frame is stored, only the median below).
People: {people} training people with an open mouth in a clip ({clips} with clips); held out, as the shipped
networks hold them out: {rule}. Per person one clip, {frames} frames read, every frame through the run-time
analyser (video mode), every other one cut as the driving stage cuts its mouth (`cut_mouth`); the
{per_person} most open mouths (inner-mouth area over face-oval area >= {min_open}) are kept: {samples} mouths.
Each is read into the canonical lips (the mean shape of the mouths whose opening is in the
{band[0]}th-{band[1]}th percentiles) by the run time's own `mouth_map`, scaled per channel to the reference
skin; the image is the median over people of each person's median (every person one vote; pixels a narrower
mouth has no middle for are left to the others).

Hardware: x86_64, 2 CPU cores, no GPU; {seconds:.0f} s.

## Checks

`tests/realtime/test_meshflow.py::test_the_shipped_mouth_prior_has_teeth_under_the_upper_lip_and_a_dark_middle`
(brighter under the upper lip than in the middle). By eye: the AU25 / AU26 rows of `facegan-au-figure
--renderer meshflow` (docs/EVALUATION.md).
"""


def write_card(path: Path, prior: MouthPatch, **facts: object) -> None:
    """The model card beside the prior, with the run's facts."""
    corners = mouth_corners()
    canon = lip_frame_loop(prior.loop, corners)
    width = float(np.linalg.norm(prior.loop[corners[1]] - prior.loop[corners[0]]))
    path.write_text(
        CARD.format(
            w=prior.image.shape[1],
            h=prior.image.shape[0],
            width=round(width),
            ratio=float(canon[:, 1].max() - canon[:, 1].min()),
            skin=", ".join(f"{v:.0f}" for v in prior.skin),
            min_open=MIN_OPENING,
            band=CANON_BAND,
            **facts,
        )
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training.painter.mouth_prior", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--data", type=Path, required=True, help="dataset made by facegan-prepare (who is held out)"
    )
    p.add_argument(
        "--raw",
        type=Path,
        default=Path(__file__).resolve().parents[3] / "shared" / "data" / "dev",
        help="the folder the dataset was prepared from (default: %(default)s)",
    )
    p.add_argument("--out", type=Path, default=None, help="weights folder (default: realtime/weights)")
    p.add_argument("--frames", type=int, default=400, help="frames read per clip")
    p.add_argument("--per-person", type=int, default=12, help="most open mouths kept per person")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from realtime.weights import weights_dir
    from training.data.dataset import open_dataset, split_identities

    out = a.out or weights_dir()
    dataset = open_dataset(a.data)
    _, val = split_identities(
        dataset, *HELD_OUT
    )  # as the shipped networks and the eye painter hold people out
    held, rule = (
        {t.identity for t in val},
        f"training.data.dataset.split_identities(val_fraction={HELD_OUT[0]}, seed={HELD_OUT[1]})",
    )
    clips: dict[str, Path] = {}
    for t in dataset.tracks:
        if t.kind == "video" and t.identity not in held and (a.raw / t.source).is_file():
            clips.setdefault(t.identity, a.raw / t.source)
    if not clips:
        print(f"no training people's clips under {a.raw}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    samples = collect(clips, a.frames, a.per_person)
    prior = build_prior(samples)
    save_prior(prior, out / PRIOR_FILE)
    people = len({person for person, _ in samples})
    seconds = time.perf_counter() - t0
    write_card(
        (out / PRIOR_FILE).with_suffix(".md"),
        prior,
        data=a.data,
        frames=a.frames,
        per_person=a.per_person,
        people=people,
        clips=len(clips),
        rule=rule,
        samples=len(samples),
        seconds=seconds,
    )
    print(
        f"wrote {out / PRIOR_FILE}: {prior.image.shape[1]}x{prior.image.shape[0]} px, {len(samples)} mouths of "
        f"{people} training people ({len(clips)} with clips; held out: {rule}), {seconds:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
