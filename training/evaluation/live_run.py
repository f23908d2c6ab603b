"""The live protocol's run (issue 10): pairs of held-out people, each live renderer through the real live
path, every output frame measured, and everything that could not be measured counted with its reason.

The metrics themselves, the summary and the decision rule are in `training.evaluation.live`; this module
drives them. It is shared by `python -m training.evaluation.live` (live only) and `facegan-evaluate`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from training.evaluation.live import (
    EYE_MEASURES,
    FOLLOW_AUS,
    GAZE_MEASURES,
    LIVE_METHODS,
    LIVE_RENDERERS,
    MOUTH_MEASURES,
    MOVING_DEG,
    MOVING_EYE,
    MOVING_GAZE,
    MOVING_IOD,
    MOVING_STD,
    OPTIONAL_AUS,
    STILL_IOD,
    STILL_OUTPUT,
    face_mask,
    following_r,
    frame_change,
    letterbox,
    mouth_shape,
    read_clip,
    run_live,
    sharpness_ratio,
)
from training.evaluation.moments import moments_sheet, output_cells, pick_moments, write_sheet

if TYPE_CHECKING:
    from training.data.dataset import TrackInfo
    from training.evaluation.progress import Progress

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
PANEL = (192, 256)
"""(height, width) of one panel of the live grid and video: every frame letterboxed into it."""


@dataclass(frozen=True)
class LiveOptions:
    raw: Path
    """The folder the dataset was prepared from: tracks' `source` paths are relative to it."""
    pairs: int = 6
    """(source photo, driving clip) pairs; each held-out person drives at most once."""
    frames: int = 120
    """Driving frames per pair."""
    seed: int = 0
    renderers: tuple[str, ...] = LIVE_RENDERERS
    weights: Path | None = None
    """Weights the live renderers load; None: the shipped realtime/weights."""
    csim_every: int = 10
    """Embed every n-th frame (dlib is the slow estimator)."""
    video_pairs: int = 3
    """Pairs shown in live_side_by_side.mp4 (driver | each renderer)."""
    keep_expression: bool = False
    """Run the mesh flow as `run_cam.py --keep-expression` (relative motion from the photo as it is)."""
    given: tuple[LivePair, ...] = ()
    """Pairs to run as they are (a photo or clip's first frame, a driving clip) instead of the planned ones."""


@dataclass(frozen=True)
class LivePair:
    source: Path
    source_identity: str
    clip: Path
    driver_identity: str


@dataclass
class LiveResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    pairs: list[LivePair] = field(default_factory=list)
    video_frames: int = 0
    sources: list[Path] = field(default_factory=list)
    """Still source photos used, first pair first (the AU figure takes one)."""


# -- pairs -----------------------------------------------------------------------------------------------


def plan_live_pairs(
    tracks: Iterable[TrackInfo], raw: Path, n_pairs: int, seed: int
) -> tuple[list[LivePair], Counter[str]]:
    """Video and frame-folder tracks as drivers (one clip per person), photos (or a clip's first frame) of
    other people as sources. Tracks whose raw file is missing, and a set with no video tracks, are counted."""
    skipped: Counter[str] = Counter()
    clips: dict[str, Path] = {}
    photos: dict[str, Path] = {}
    for t in tracks:
        path = raw / t.source
        if t.kind not in ("video", "frames", "photo"):
            skipped[f"live: tracks of an unknown kind {t.kind!r}"] += 1
            continue
        if not (path.is_dir() if t.kind == "frames" else path.is_file()):
            skipped[f"live: raw file of the track missing under {raw}"] += 1
            continue
        (photos if t.kind == "photo" else clips).setdefault(t.identity, path)
    if not clips:
        skipped[
            "live: no video or frame-folder tracks among the evaluated people (nothing to drive with)"
        ] += 1
        return [], skipped
    if photo_only := set(photos) - set(clips):
        skipped["live: people with photos but no clip (sources only, never drivers)"] += len(photo_only)
    rng = np.random.default_rng(seed)
    sources = sorted(set(photos) | set(clips))
    pairs = []
    for d in rng.permutation(sorted(clips)).tolist():
        others = [s for s in sources if s != d]
        if not others:
            skipped["live: a driver with no other person to animate"] += 1
            continue
        s = others[int(rng.integers(len(others)))]
        pairs.append(LivePair(photos.get(s) or clips[s], s, clips[d], d))
        if len(pairs) >= n_pairs:
            break
    return pairs, skipped


def is_photo(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES


def first_frame(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB: a photo, or a clip's (or frame folder's) first frame as the live path reads it.
    ValueError when there is none."""
    if is_photo(path):
        bgr = cv2.imread(str(path))
        if bgr is None:
            raise ValueError(f"cannot read a picture from {path}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    frames = read_clip(path, 1)
    if not frames:
        raise ValueError(f"no frame in {path}")
    return frames[0]


def still_source(path: Path, tmp: Path) -> Path:
    """A photo path for the pair's source: the file itself, or a clip's (or frame folder's) first frame as PNG."""
    if is_photo(path):
        return path
    first = first_frame(path)
    out = tmp / f"{path.parent.name}_{path.stem}_first.png"
    cv2.imwrite(str(out), cv2.cvtColor(first, cv2.COLOR_RGB2BGR))
    return out


# -- measuring one pair ----------------------------------------------------------------------------------


@dataclass
class PairContext:
    """What every renderer's output of one pair is measured against, measured once."""

    source_rgb: np.ndarray
    driver: list[np.ndarray]
    driver_measures: list[Any]
    source_measure: Any
    source_embedding: Any = None
    driver_embeddings: dict[int, Any] = field(default_factory=dict)

    @classmethod
    def measure(
        cls, teacher: Any, embedder: Any, source_rgb: np.ndarray, driver: list[np.ndarray]
    ) -> PairContext:
        e_s = embedder.embed(source_rgb) if embedder is not None else None
        return cls(source_rgb, driver, [teacher.measure(f) for f in driver], teacher.measure(source_rgb), e_s)

    def driver_embedding(self, embedder: Any, i: int) -> Any:
        if i not in self.driver_embeddings:
            self.driver_embeddings[i] = embedder.embed(self.driver[i])
        return self.driver_embeddings[i]


def measure_output(
    teacher: Any, embedder: Any, ctx: PairContext, output: Sequence[np.ndarray], csim_every: int
) -> dict[str, Any]:
    """The live metrics of one output clip against its pair; frames paired by index. Frames where the
    teacher loses the face (driver or output) are left out of r and flicker and counted in the row."""
    from realtime.render.eyes import eye_opening, gaze
    from training.evaluation.metrics import csim

    n = min(len(ctx.driver), len(output))
    md, mo = ctx.driver_measures[:n], [teacher.measure(f) for f in output[:n]]
    ok = [i for i in range(n) if md[i] is not None and mo[i] is not None]
    row: dict[str, Any] = {
        "frames": n,
        "face_found": float(np.mean([m is not None for m in mo])) if n else 0.0,
        "driver_face_lost": sum(m is None for m in md),
        "output_face_lost": sum(m is None for m in mo),
    }
    if len(ok) < 3:
        return row | {"skipped": "the teacher found a face in fewer than 3 frames of both clips"}
    pose_d, pose_o = np.array([md[i].pose for i in ok]), np.array([mo[i].pose for i in ok])
    moved = [k for k in range(3) if pose_d[:, k].std() >= MOVING_DEG]  # a still head axis has no r
    row["pose_r"] = (
        float(np.mean([following_r(pose_d[:, k], pose_o[:, k], STILL_OUTPUT * MOVING_DEG) for k in moved]))
        if moved
        else None
    )
    row["au_r"] = _au_r([md[i].aus for i in ok], [mo[i].aus for i in ok])
    row["mouth_r"] = channels_r(
        np.array([mouth_shape(md[i].landmarks) for i in ok]),
        np.array([mouth_shape(mo[i].landmarks) for i in ok]),
        MOUTH_MEASURES,
        MOVING_IOD,
    )

    def eyes(m: Any) -> list[float]:
        return [eye_opening(m.landmarks, e) for e in (0, 1)]

    def gazes(m: Any) -> list[float]:
        return [gaze(m.landmarks, e) for e in (0, 1)]

    row["eye_r"] = channels_r(
        np.array([eyes(md[i]) for i in ok]), np.array([eyes(mo[i]) for i in ok]), EYE_MEASURES, MOVING_EYE
    ) | channels_r(
        np.array([gazes(md[i]) for i in ok]), np.array([gazes(mo[i]) for i in ok]), GAZE_MEASURES, MOVING_GAZE
    )
    if ctx.source_measure is not None:
        sharp = [
            sharpness_ratio(output[i], mo[i].landmarks, ctx.source_rgb, ctx.source_measure.landmarks)
            for i in ok[:: max(1, len(ok) // 10)]
            if output[i].shape == ctx.source_rgb.shape
        ]
        row["sharpness"] = float(np.mean(sharp)) if sharp else None
    iod = np.array([np.linalg.norm(md[i].landmarks[263] - md[i].landmarks[33]) for i in ok])
    lm = np.array([md[i].landmarks for i in ok])  # (T, 478, 2)
    still = np.r_[False, np.abs(np.diff(lm, axis=0)).mean(axis=(1, 2)) / np.maximum(iod[1:], 1.0) < STILL_IOD]
    masks = [face_mask(output[i].shape, mo[i].landmarks) for i in ok]
    row["flicker"], row["shimmer"] = frame_change([output[i] for i in ok], masks, still)
    if embedder is not None:
        cs, cd = [], []
        for i in ok[::csim_every]:
            e_o = embedder.embed(output[i])
            e_d = ctx.driver_embedding(embedder, i)
            if e_o is not None and ctx.source_embedding is not None:
                cs.append(csim(ctx.source_embedding, e_o))
            if e_o is not None and e_d is not None:
                cd.append(csim(e_d, e_o))
        row["csim_source"] = float(np.mean(cs)) if cs else None
        row["csim_driver"] = float(np.mean(cd)) if cd else None
    return row


def _au_r(driver: list[np.ndarray], output: list[np.ndarray]) -> dict[str, float]:
    """r per AU, where the driver moves it (std >= MOVING_STD): a correlation with a still signal would
    measure the estimator's noise, not the renderer (so would one with an output that stays within its noise:
    r 0 there, STILL_OUTPUT)."""
    from realtime.face.types import AU_ORDER

    k = [AU_ORDER.index(au) for au in (*FOLLOW_AUS, *OPTIONAL_AUS)]
    names = [au.value for au in (*FOLLOW_AUS, *OPTIONAL_AUS)]
    return channels_r(np.array(driver)[:, k], np.array(output)[:, k], names, MOVING_STD)


def channels_r(
    driver: np.ndarray, output: np.ndarray, names: Sequence[str], moving: float
) -> dict[str, float]:
    """{name: r} of each channel (column of (T, K) driver and output signals) whose driver signal varies by at
    least `moving`; an output within STILL_OUTPUT of that follows nothing (r 0)."""
    return {
        name: following_r(driver[:, j], output[:, j], STILL_OUTPUT * moving)
        for j, name in enumerate(names)
        if driver[:, j].std() >= moving
    }


def measure_pair(
    teacher: Any,
    embedder: Any,
    source_rgb: np.ndarray,
    driver: list[np.ndarray],
    output: list[np.ndarray],
    csim_every: int,
) -> dict[str, Any]:
    """One (driver clip, output clip) pair measured on its own (measure_output with a fresh context)."""
    ctx = PairContext.measure(teacher, embedder, source_rgb, driver)
    return measure_output(teacher, embedder, ctx, output, csim_every)


def count_row(row: dict[str, Any], renderer: str, skipped: Counter[str]) -> None:
    """A row's lost faces and a left-out pair go to the skipped counts (never silently dropped)."""
    if row.get("output_face_lost"):
        skipped[f"live/{renderer}: output frames where the teacher finds no face"] += row["output_face_lost"]
    if "skipped" in row:
        skipped[f"live/{renderer}: pair left out: {row['skipped']}"] += 1


# -- the run ---------------------------------------------------------------------------------------------


def unavailable_renderers(opts: LiveOptions) -> dict[str, str]:
    """Renderers that cannot start with these weights (missing or broken files), with the reason: made once
    through realtime's own factory, as build_pipeline makes them, so the reason is the one run_cam prints."""
    from realtime.render.choice import make_crop_renderer
    from realtime.weights import weights_dir

    out = {}
    for name in opts.renderers:
        try:
            r = make_crop_renderer(opts.weights or weights_dir(), "lite", "auto", name, "relative")  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - reported as the renderer's skip reason
            out[name] = f"{type(e).__name__}: {e}"
            continue
        if hasattr(r, "close"):
            r.close()
    return out


def run_protocol(
    tracks: Iterable[TrackInfo],
    opts: LiveOptions,
    out: Path,
    teacher: Any,
    embedder: Any,
    progress: Progress | None = None,
) -> LiveResult:
    """Every renderer on every pair; live_rows.json, live_grid.png, live_side_by_side.mp4 and a moments sheet a
    pair (live_moments_<k>.jpg, k as in res.pairs: training.evaluation.moments) into `out`."""
    res = LiveResult()
    if opts.given:
        pairs, skipped = list(opts.given), Counter[str]()
    else:
        pairs, skipped = plan_live_pairs(tracks, opts.raw, opts.pairs, opts.seed)
    res.pairs, res.skipped = pairs, skipped
    if progress:  # the bar counted opts.pairs; fewer people may drive
        progress.shrink((opts.pairs - len(pairs)) * len(opts.renderers))
    gone = unavailable_renderers(opts) if pairs else {}
    for name, reason in gone.items():
        skipped[f"live/{name}: not run, the renderer cannot start: {reason}"] += len(pairs)
    running = [r for r in opts.renderers if r not in gone]
    if teacher is None:
        skipped["live: not measured: the Face Landmarker teacher is unavailable"] += max(1, len(pairs))
        running = []
    if progress:
        progress.shrink((len(opts.renderers) - len(running)) * len(pairs))
    if not running:
        return res
    strips: list[np.ndarray] = []
    # An earlier run's sheets in a reused folder are not this run's.
    for stale in out.glob("live_moments_*.jpg"):
        stale.unlink()
    video = _Video(out / "live_side_by_side.mp4", ["driver", *running])
    with tempfile.TemporaryDirectory() as tmp:
        for k, pair in enumerate(pairs):
            try:
                src_path, src_rgb, driver = _read_pair(pair, opts.frames, Path(tmp))
            except Exception as e:  # noqa: BLE001 - an unreadable photo or clip is counted, the run goes on
                skipped[f"live: pair not run, its files cannot be read: {type(e).__name__}: {e}"] += 1
                if progress:
                    progress.advance("live", len(running))
                continue
            res.sources.append(src_path if src_path == pair.source else _keep(src_path, out))
            ctx = PairContext.measure(teacher, embedder, src_rgb, driver)
            moments = pick_moments(ctx.driver_measures)
            box = None if ctx.source_measure is None else ctx.source_measure.landmarks
            cells: dict[str, list[np.ndarray]] = {}
            if lost := sum(m is None for m in ctx.driver_measures):
                skipped[
                    "live: driving frames where the teacher finds no face (left out of r and flicker)"
                ] += lost
            outs: dict[str, list[np.ndarray]] = {}
            for name in running:
                try:
                    frames = run_live(
                        src_path, pair.clip, name, opts.frames, opts.weights, opts.keep_expression
                    )
                except Exception as e:  # noqa: BLE001 - one failing renderer on one pair is counted, not fatal
                    skipped[f"live/{name}: pair failed: {type(e).__name__}: {e}"] += 1
                    if progress:
                        progress.advance(f"live {name}")
                    continue
                row = measure_output(teacher, embedder, ctx, frames, opts.csim_every)
                count_row(row, name, skipped)
                res.rows.append(row | {"renderer": name, "source": str(pair.source), "clip": str(pair.clip)})
                cells[name] = output_cells(frames, moments, box)
                outs[name] = (
                    [_panel(f) for f in frames]
                    if k < opts.video_pairs
                    else [_panel(frames[len(frames) // 2])]
                )
                if progress:
                    progress.advance(f"live {name}")
            sheet = moments_sheet(moments, driver, ctx.driver_measures, cells) if cells else None
            if sheet is not None:
                write_sheet(out / f"live_moments_{k}.jpg", sheet)
            if outs and len(strips) < 3:
                strips.append(_strip(driver, outs, running, len(driver) // 2 if k < opts.video_pairs else 0))
            if outs and k < opts.video_pairs:
                video.add(driver, outs, running)
    res.video_frames = video.close()
    (out / "live_rows.json").write_text(json.dumps(res.rows, indent=1))
    if strips:
        grid = np.vstack(strips)
        cv2.imwrite(
            str(out / "live_grid.png"),
            cv2.cvtColor(_with_header(grid, ["driver", *running]), cv2.COLOR_RGB2BGR),
        )
    return res


def _read_pair(pair: LivePair, frames: int, tmp: Path) -> tuple[Path, np.ndarray, list[np.ndarray]]:
    """(the still source's path, its RGB pixels, the driving frames); ValueError when one cannot be read."""
    src_path = still_source(pair.source, tmp)
    bgr = cv2.imread(str(src_path))
    if bgr is None:
        raise ValueError(f"cannot read an image from {src_path}")
    driver = read_clip(pair.clip, frames)
    if not driver:
        raise ValueError(f"no frames in {pair.clip}")
    return src_path, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), driver


def _keep(path: Path, out: Path) -> Path:
    """A temporary still copied into the report folder (it outlives the run: the AU figure reads it)."""
    dst = out / "live_sources" / path.name
    dst.parent.mkdir(exist_ok=True)
    dst.write_bytes(path.read_bytes())
    return dst


def _panel(img: np.ndarray) -> np.ndarray:
    """Letterbox into PANEL, so clips and photos of any shape line up."""
    return letterbox(img, *PANEL)


def _strip(
    driver: list[np.ndarray], outs: dict[str, list[np.ndarray]], names: list[str], i: int
) -> np.ndarray:
    """driver | each renderer at frame i (black where a renderer failed)."""
    black = np.zeros((*PANEL, 3), np.uint8)
    cells = [_panel(driver[min(i, len(driver) - 1)])]
    for n in names:
        o = outs.get(n)
        cells.append(o[min(i, len(o) - 1)] if o else black)
    return np.hstack(cells)


def _with_header(row: np.ndarray, labels: list[str]) -> np.ndarray:
    head = np.full((24, row.shape[1], 3), 255, np.uint8)
    for k, text in enumerate(labels):
        cv2.putText(
            head, text, (k * PANEL[1] + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
        )
    return np.vstack([head, row])


class _Video:
    """live_side_by_side.mp4: driver | each renderer, H.264, opened on the first frame."""

    def __init__(self, path: Path, labels: list[str], fps: int = 25) -> None:
        self.path, self.labels, self.fps = path, labels, fps
        self.container: Any = None
        self.stream: Any = None
        self.written = 0

    def add(self, driver: list[np.ndarray], outs: dict[str, list[np.ndarray]], names: list[str]) -> None:
        import av

        n = min([len(driver)] + [len(o) for o in outs.values()])
        for t in range(n):
            row = _with_header(_strip(driver, outs, names, t), self.labels)
            if self.container is None:
                self.container = av.open(str(self.path), "w")
                self.stream = self.container.add_stream("libx264", rate=self.fps)
                self.stream.width, self.stream.height, self.stream.pix_fmt = (
                    row.shape[1],
                    row.shape[0],
                    "yuv420p",
                )
                self.stream.options = {"crf": "26"}
            for packet in self.stream.encode(av.VideoFrame.from_ndarray(row, format="rgb24")):
                self.container.mux(packet)
            self.written += 1

    def close(self) -> int:
        if self.container is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self.container.close()
        return self.written


def live_methods_of(names: Iterable[str]) -> dict[str, str]:
    """The paper protocol's method for each live renderer run (docs/EVALUATION.md, "Both protocols")."""
    return {n: LIVE_METHODS[n] for n in names if n in LIVE_METHODS}
