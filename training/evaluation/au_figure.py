"""`facegan-au-figure`: the paper's Figure 6 - one source photo, each of the 17 AUs swept from its minimum to
its maximum with everything else held at the source's own values, and a background swap - as one PNG.

The renderer is the shipped chain (LT -> Gr -> Gb) when its weights exist; with only LT it is the mesh warp
moved by LT's landmarks (no background swap: that needs Gr's segmentation and Gb); with no LT there is no way
to turn an AU value into a face, and the command says so. `--renderer meshflow` sweeps the live default
instead: the photo at its own resolution, each AU's slider locked at the value.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.face.types import AU_ORDER

log = logging.getLogger(__name__)

STEPS = 5
"""Columns of each AU's sweep, from 0 (AU off) to 1 (AU at full intensity)."""
CELL = 128
"""Side of one image in the figure, pixels."""


@dataclass(frozen=True)
class Source:
    crop: np.ndarray
    """(S, S, 3) uint8 aligned crop."""
    ls_px: np.ndarray
    """(478, 2) float32 crop pixels."""
    aud: np.ndarray
    """(20,) float32: the source's own AUs and pose (the values the sweep starts from)."""


def analyse_source(photo: np.ndarray, size: int) -> Source:
    """Align the photo and read its AUs with the run-time analyser (the teacher where no AU head ships)."""
    from realtime.face.align import alignment_transform, apply_transform, warp_to_crop

    try:
        from realtime.face import FaceAnalyzer

        with FaceAnalyzer() as analyzer:
            face = analyzer.analyze(photo)
        aud = None if face is None else face.driving_vector()
        landmarks = None if face is None else face.landmarks
    except FileNotFoundError as exc:  # no AU head shipped yet: the teacher measures the source instead
        log.warning(
            "run-time analyser unavailable (%s); using the Face Landmarker teacher for the source", exc
        )
        from realtime.face.types import driving_vector
        from training.data.teacher import Teacher

        with Teacher() as teacher:
            res = teacher.analyze(photo)
        aud = None if res is None else driving_vector(res.aus, res.pose)
        landmarks = None if res is None else res.landmarks
    if aud is None or landmarks is None:
        raise ValueError("no face found in the source photo")
    m = alignment_transform(landmarks, size)
    crop = warp_to_crop(photo, m, size)
    return Source(crop, apply_transform(m, landmarks[:, :2]).astype(np.float32), np.asarray(aud, np.float32))


def sweep_vectors(base: np.ndarray) -> np.ndarray:
    """(17 * STEPS, 20) driving vectors: row a * STEPS + k sets AU a to k / (STEPS - 1)."""
    out = np.repeat(base[None], len(AU_ORDER) * STEPS, axis=0).astype(np.float32)
    for a in range(len(AU_ORDER)):
        out[a * STEPS : (a + 1) * STEPS, a] = np.linspace(0.0, 1.0, STEPS)
    return out


def _to_uint8(chw: np.ndarray) -> np.ndarray:
    return np.clip(np.transpose(chw, (1, 2, 0)) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def render_chain(
    weights: Path, src: Source, auds: np.ndarray, background: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Sweep images and the background swap with the shipped chain."""
    from engines.chain import ReenactmentChain
    from realtime.face.align import to_normalized

    with ReenactmentChain(weights, "lite", "onnxruntime") as chain:
        s = chain.image_size
        crop = cv2.resize(src.crop, (s, s), interpolation=cv2.INTER_AREA)
        ls = to_normalized(src.ls_px * (s / src.crop.shape[0]), s).astype(np.float32)
        st = chain.set_source(np.transpose(crop, (2, 0, 1)).astype(np.float32) / 255.0, ls)
        images = [_to_uint8(img) for i in range(0, len(auds), 8) for img in chain.run(auds[i : i + 8]).image]
        # Background swap (paper Fig. 6, last row): Gb blends the reenacted face into another Ib.
        bg = cv2.resize(background, (s, s), interpolation=cv2.INTER_AREA)
        picture = np.transpose(bg, (2, 0, 1)).astype(np.float32) / 255.0  # (3, S, S)
        swap = chain.run(src.aud[None], sources=[st.with_background(picture)]).image[0]
    return images, _to_uint8(swap)


def render_meshwarp(weights: Path, src: Source, auds: np.ndarray) -> list[np.ndarray]:
    """Sweep images with the mesh warp moved by LT's landmarks."""
    from engines import open_runner
    from realtime.face.align import from_normalized, to_normalized
    from realtime.render.meshwarp import MeshWarpRenderer

    size = src.crop.shape[0]
    renderer = MeshWarpRenderer(size)
    with open_runner(weights / "lt.onnx", "onnxruntime") as lt_net:
        ls = np.repeat(to_normalized(src.ls_px, size).astype(np.float32)[None], len(auds), axis=0)
        lt = lt_net.infer({"ls": ls, "aud": auds})["lt"]  # (N, 478, 2)
    return [renderer.render(src.crop, src.ls_px, from_normalized(t, size).astype(np.float32)) for t in lt]


def render_meshflow(weights: Path, photo: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(the photo's face, sweep images) with the live default: mesh flow at the photo's resolution, each AU
    set by its slider locked at the value (the AU basis, or LT without it, moves the face), cut to the face."""
    from realtime.controls import Edit, Edits
    from realtime.face import AnalyzerOptions, FaceAnalyzer
    from realtime.render.framing import OutputLayout
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.render import prepare_source

    with FaceAnalyzer(AnalyzerOptions()) as analyzer:
        src = prepare_source(photo, analyzer, weights=weights)
    lm = src.face.landmarks[:, :2]
    centre, half = (lm.min(0) + lm.max(0)) / 2, 0.65 * float((lm.max(0) - lm.min(0)).max())
    h, w = src.image.shape[:2]
    x0, y0 = np.maximum(np.round(centre - half).astype(int), 0)
    x1, y1 = min(int(centre[0] + half), w), min(int(centre[1] + half), h)
    with MeshFlowFrame(weights, "onnxruntime", "relative") as renderer:
        renderer.set_source(src, OutputLayout.identity(src.image.shape))
        images = [
            renderer.render_still(src, Edits().with_edit(au.value, Edit(1.0, float(v), True)))[y0:y1, x0:x1]
            for au in AU_ORDER
            for v in np.linspace(0.0, 1.0, STEPS)
        ]
    return src.image[y0:y1, x0:x1], images


def _cell(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (CELL, CELL), interpolation=cv2.INTER_AREA)


def _label(text: str, width: int) -> np.ndarray:
    tile = np.full((CELL, width, 3), 255, np.uint8)
    cv2.putText(tile, text, (6, CELL // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def compose(src: Source, images: list[np.ndarray], swap: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Rows: source | AU name | sweep 0 -> 1; last row: source | background | swapped."""
    rows = []
    for a, au in enumerate(AU_ORDER):
        sweep = [_cell(im) for im in images[a * STEPS : (a + 1) * STEPS]]
        rows.append(np.concatenate([_cell(src.crop), _label(au.value, 70), *sweep], axis=1))
    if swap is not None:
        bg, out = swap
        last = [_cell(src.crop), _label("bg swap", 70), _cell(bg), _cell(out)]
        pad = rows[0].shape[1] - sum(t.shape[1] for t in last)
        rows.append(np.concatenate([*last, np.full((CELL, pad, 3), 255, np.uint8)], axis=1))
    return np.concatenate(rows, axis=0)


def _default_background(size: int) -> np.ndarray:
    """A plain two-colour gradient, when no --background is given."""
    t = np.linspace(0.0, 1.0, size)[None, :, None]
    return (
        (255 * ((1 - t) * np.array([0.2, 0.4, 0.8]) + t * np.array([0.9, 0.7, 0.3])))
        .repeat(size, 0)
        .astype(np.uint8)
    )


def _read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read an image from {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def make_figure(
    photo: Path, out: Path, background: Path | None, weights: Path, renderer: str = "chain"
) -> Path:
    """`renderer`: "chain" (the paper's figure: LT -> Gr -> Gb on the crop, or the mesh warp on LT's
    landmarks without Gr/Gb) or "meshflow" (the live default: the photo itself, AU sliders locked at each
    value; no background swap)."""
    from realtime.face.align import CROP_SIZE

    if renderer == "meshflow":
        face, images = render_meshflow(weights, _read_rgb(photo))
        fig = compose(Source(face, np.zeros((0, 2), np.float32), np.zeros(20, np.float32)), images, None)
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), cv2.cvtColor(fig, cv2.COLOR_RGB2BGR))
        return out
    if not (weights / "lt.onnx").is_file():
        raise FileNotFoundError(
            f"no LT weights (lt.onnx) in {weights}: AU values cannot be turned into a face"
        )
    src = analyse_source(_read_rgb(photo), CROP_SIZE)
    auds = sweep_vectors(src.aud)
    if all((weights / n).is_file() for n in ("gr_lite.onnx", "gb_lite.onnx")):
        bg = _read_rgb(background) if background else _default_background(CROP_SIZE)
        images, swapped = render_chain(weights, src, auds, bg)
        fig = compose(src, images, (bg, swapped))
    else:
        log.warning("Gr/Gb weights not found in %s: mesh-warp renderer, no background swap", weights)
        fig = compose(src, render_meshwarp(weights, src, auds), None)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(fig, cv2.COLOR_RGB2BGR))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="facegan-au-figure",
        description="Paper Figure 6: each of the 17 AUs of a source photo swept from 0 to 1 (other AUs and the pose "
        "kept at the photo's own values), plus a background swap, written as one PNG.",
    )
    p.add_argument("--source", type=Path, required=True, help="photo with one face")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument(
        "--background", type=Path, default=None, help="picture for the background swap (default: a gradient)"
    )
    p.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="ONNX weights folder (default: the shipped realtime/weights)",
    )
    p.add_argument(
        "--renderer",
        choices=("chain", "meshflow"),
        default="chain",
        help="chain (default): the paper's figure with the trained chain; meshflow: the live default renderer, "
        "each AU slider locked at the value",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from realtime.weights import weights_dir

    try:
        out = make_figure(
            args.source, args.out, args.background, args.weights or weights_dir(), args.renderer
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"facegan-au-figure: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
