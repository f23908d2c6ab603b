"""The live protocol (issue 10): each renderer run as `run_cam.py` runs it, on clips, measured independently.

For pairs (source photo of one held-out person, driving clip of another), the real live path is built by
`realtime.pipeline.build_pipeline` (file source, the renderer, relative motion with the driver's neutral
found as at run time, paste-back) with an in-memory sink, and every output frame is kept. Then, with the
Face Landmarker teacher (pose, AUs, landmarks) and dlib's ResNet (identity), never the run-time estimators:

- csim_source / csim_driver: identity of the output against the source photo and against the driver frame;
- pose_r, au_r: Pearson r over time between the driver's and the output's change from their first frame
  (yaw, pitch, roll; AU12, AU26, AU45, and AU01/02/04 where the driver moves them);
- mouth_r, eye_r: the same for the mouth's shape, each eye's opening and its gaze read from the teacher's
  landmarks (width, corner lift, opening; right and left eye; right and left gaze; diagnostics, not in the
  decision: mouth_r tells a renderer whose mouth does not move from a face whose smile the teacher's AU reading
  does not see, eye_r a blink drawn on one eye only from one on both, and an iris that keeps the photo's gaze);
- sharpness: variance of the Laplacian inside the output's face over the source photo's, same scale, the lips
  left out (an open mouth's teeth shut by the motion are no loss of sharpness: `sharpness_mask`);
- flicker: mean absolute frame-to-frame change (0-255) of the output's face where the driver's is still;
- shimmer: the same after undoing the face's shift from frame to frame (diagnostic): flicker less the face's
  motion as a whole;
- face_found: share of output frames where the teacher finds a face.

`python -m training.evaluation.live --data /work/prepared/dev --out REPORT` (held-out people of the prepared
dataset; the clips and photos are read from `--raw`, the folder the dataset was prepared from), or
`--pair SOURCE CLIP` (repeatable) for chosen pairs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import cv2
import numpy as np

from realtime.face import topology as topo
from realtime.face.topology import NUM_LANDMARKS
from realtime.face.types import AU

log = logging.getLogger(__name__)

LIVE_RENDERERS = ("meshflow", "meshwarp", "facegan")
"""Renderers that run live (facegan_no_lt and the mesh warp on LT's landmarks have no live mode)."""
LIVE_METHODS = {"meshflow": "mesh_flow", "meshwarp": "mesh_warp_transfer", "facegan": "facegan"}
"""Live renderer (run_cam.py --renderer) -> the paper protocol's method with the same renderer. Each protocol
runs it in its own mode: live in relative motion from full frames, the paper protocol on aligned crops
(mesh_flow: absolute, LT's landmarks; mesh_warp_transfer: landmark_transfer; facegan: the chain)."""
DEFAULT_RAW = Path(__file__).resolve().parents[3] / "shared" / "data" / "dev"
"""The folder the dev dataset is prepared from (the tracks' `source` paths are relative to it)."""
LIVE_KEYS = (
    "csim_source",
    "csim_driver",
    "pose_r",
    "au_r",
    "mouth_r",
    "eye_r",
    "sharpness",
    "flicker",
    "shimmer",
    "face_found",
)
"""The keys of metrics.json's per-method `live` object (docs/EVALUATION.md)."""
FOLLOW_AUS = (AU.AU12, AU.AU26, AU.AU45)
OPTIONAL_AUS = (AU.AU01, AU.AU02, AU.AU04)
MOVING_STD = 0.05
"""A driver AU whose teacher intensity varies less than this over the clip is not moved by it: no r (a
correlation with a still signal measures the estimator's noise, not the renderer)."""
MOVING_DEG = 2.0
"""Likewise a head axis (yaw, pitch, roll) whose driver angle varies less than this many degrees."""
STILL_IOD = 0.01
"""The driver's face is still between two frames when its teacher landmarks move less than this (IOD units)."""
MOVING_IOD = 0.01
"""A mouth measure (`mouth_shape`, IOD units) whose driver value varies less than this is not moved: no r."""
MOUTH_MEASURES = ("width", "corners", "opening")
EYE_MEASURES = ("right_eye", "left_eye")
"""Each eye's opening (`realtime.render.eyes.eye_opening`: lid area over squared width) from the teacher's
landmarks: the subject's right eye (image left), then the left."""
MOVING_EYE = 0.02
"""An eye whose driver opening varies less than this (lid area over squared width; about 0.1 open, 0 shut) is
not moved: no r."""
GAZE_MEASURES = ("right_gaze", "left_gaze")
"""Where each eye looks along its width (`realtime.render.eyes.gaze`: the iris centre's offset from the corners'
middle over their distance), from the teacher's landmarks: a photo's iris that keeps its own gaze while the
driver looks about scores 0."""
MOVING_GAZE = 0.03
"""An eye whose driver gaze varies less than this (share of the eye's width; a hard sideways look is about 0.2)
is not moved: no r."""


# -- metrics on arrays with known answers ------------------------------------------------------------------


STILL_OUTPUT = 0.2
"""An output whose signal varies less than this share of the moving threshold (MOVING_STD for an AU, MOVING_DEG
for a head angle) stays at the estimator's noise: it follows nothing (r = 0). Its r measured the noise: a
photo whose smile the teacher never saw (output AU12 std 0.001 against the driver's 0.07) scored 0.63 in one
run and 0.30 in the next."""


def following_r(driver: np.ndarray, output: np.ndarray, still: float = 1e-9) -> float:
    """Pearson r between the driver's and the output's change from their first value (T,) each. A frozen
    output (its standard deviation under `still`) follows nothing: r = 0."""
    d, o = np.asarray(driver, np.float64), np.asarray(output, np.float64)
    d, o = d - d[0], o - o[0]
    if len(d) < 3 or d.std() < 1e-9 or o.std() < max(still, 1e-9):
        return 0.0
    return float(np.corrcoef(d, o)[0, 1])


def mouth_shape(landmarks: np.ndarray) -> np.ndarray:
    """(3,) the mouth's width, its corners' lift over the lips' middle and its opening, in inter-ocular
    distances along the eye line and across it (so a turned or tilted head reads the same mouth): from 478
    image landmarks (x, y)."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    u = lm[263] - lm[33]
    iod = max(float(np.linalg.norm(u)), 1e-6)
    u /= iod
    v = np.array([-u[1], u[0]])  # down the face
    corners = 0.5 * (lm[61] + lm[291])
    middle = 0.5 * (lm[13] + lm[14])
    return np.array(
        [
            abs(float((lm[291] - lm[61]) @ u)) / iod,
            float((middle - corners) @ v) / iod,
            float((lm[14] - lm[13]) @ v) / iod,
        ]
    )


LIPS_MARGIN = 0.15
"""Inter-ocular distances around the lips' hull left out of the sharpness ratio."""


def laplacian_energy(gray: np.ndarray, mask: np.ndarray) -> float:
    """Variance of the Laplacian of a uint8/float gray image inside a boolean mask."""
    lap = cv2.Laplacian(np.asarray(gray, np.float32), cv2.CV_32F, ksize=3)
    vals = lap[mask]
    return float(vals.var()) if vals.size else 0.0


def face_mask(shape: tuple[int, ...], landmarks: np.ndarray, erode: int = 5) -> np.ndarray:
    """(H, W) bool inside the convex hull of the landmarks, eroded (the face's inside, not its edge)."""
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(landmarks[:, :2]).astype(np.int32)), 1)
    if erode:
        m = cv2.erode(m, np.ones((erode, erode), np.uint8))
    return m.astype(bool)


def sharpness_mask(shape: tuple[int, ...], landmarks: np.ndarray) -> np.ndarray:
    """(H, W) bool: `face_mask` without the lips (their hull grown by LIPS_MARGIN of the inter-ocular distance)
    where 478 mesh landmarks are given; the face mask as it is for other landmarks."""
    m = face_mask(shape, landmarks)
    lm = np.asarray(landmarks, np.float64)[:, :2]
    if len(lm) != NUM_LANDMARKS:
        return m
    lips = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(lips, cv2.convexHull(np.round(lm[list(topo.LIPS)]).astype(np.int32)), 1)
    r = max(round(LIPS_MARGIN * float(np.linalg.norm(lm[263] - lm[33]))), 1)
    cut = cv2.dilate(lips, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return m & ~cut.astype(bool)


def sharpness_ratio(
    output: np.ndarray, out_landmarks: np.ndarray, source: np.ndarray, src_landmarks: np.ndarray
) -> float:
    """Laplacian energy of the output's face over the source photo's (both RGB uint8, the same scale), the lips
    left out (`sharpness_mask`). With them, a photo caught grinning lost a third of its sharpness when its mouth
    shut (Dafoe 1.15 -> 0.77): the teeth's edges were much of its face's Laplacian energy, and a jagged white
    line of squeezed teeth left between shut lips scored sharper than clean lips."""
    g_o = cv2.cvtColor(output, cv2.COLOR_RGB2GRAY)
    g_s = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)
    e_s = laplacian_energy(g_s, sharpness_mask(source.shape, src_landmarks))
    return laplacian_energy(g_o, sharpness_mask(output.shape, out_landmarks)) / max(e_s, 1e-9)


def letterbox(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """(height, width, 3) uint8: the image scaled to fit, centred on black (clips and photos of any shape line up)."""
    s = min(height / img.shape[0], width / img.shape[1])
    size = (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1.0 else cv2.INTER_LINEAR)
    out = np.zeros((height, width, 3), np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def frame_change(
    frames: list[np.ndarray], masks: list[np.ndarray], still: np.ndarray
) -> tuple[float | None, float | None]:
    """(flicker, shimmer) over the steps where `still[t]` (T,) is true, in one pass (None: no such step).

    flicker: the mean |frame t - frame t-1| (0-255) inside the face (`masks`, both frames). shimmer: what flicker
    counts that is not the face moving as a whole: the same after frame t is moved back by the face's shift
    between them (phase correlation inside the face's box), or without moving it where that is less (a sub-pixel
    move blurs by interpolation); over steps with a face of 64 pixels or more. A head that turns on its neck moves
    its face with the driver's slow sway; flicker counts that motion, shimmer does not."""
    flickers, shimmers = [], []
    for t in range(1, len(frames)):
        m = masks[t] & masks[t - 1]
        if not still[t] or not m.any():
            continue
        a, b = (frames[k].astype(np.float32) for k in (t - 1, t))
        raw = float(np.abs(b - a)[m].mean())
        flickers.append(raw)
        ys, xs = np.nonzero(m)
        if len(ys) < 64:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        (dx, dy), _ = cv2.phaseCorrelate(
            cv2.cvtColor(a[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY),
            cv2.cvtColor(b[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY),
        )
        back = cv2.warpAffine(b, np.float32([[1, 0, -dx], [0, 1, -dy]]), (b.shape[1], b.shape[0]))
        inner = cv2.erode(m.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        moved = float(np.abs(back - a)[inner].mean()) if inner.any() else raw
        shimmers.append(min(raw, moved))
    return (
        float(np.mean(flickers)) if flickers else None,
        float(np.mean(shimmers)) if shimmers else None,
    )


# -- the live run ----------------------------------------------------------------------------------------


@dataclass
class MemorySink:
    """Keeps every output frame (the live loop's sinks: a context manager with send)."""

    frames: list[np.ndarray] = field(default_factory=list)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def send(self, frame: Any) -> None:
        self.frames.append(frame.image.copy())


def run_live(
    source: Path,
    clip: Path,
    renderer: str,
    max_frames: int,
    weights: Path | None = None,
    keep_expression: bool = False,
) -> list[np.ndarray]:
    """Output frames of the real live path (as run_cam.py --source --driving --renderer [--keep-expression],
    every frame)."""
    from realtime.config import DrivingConfig, PipelineConfig
    from realtime.pipeline import build_pipeline

    cfg = PipelineConfig(
        source=source,
        driving=DrivingConfig(path=clip),
        sinks=(),
        renderer=renderer,  # type: ignore[arg-type]
        max_frames=max_frames,
        stats_interval_s=0,
        weights_dir=weights,
        keep_expression=keep_expression,
    )
    sink = MemorySink()
    with build_pipeline(cfg) as pipeline:
        pipeline.parts.sinks.append(sink)
        pipeline.run()
    return sink.frames


def read_clip(path: Path, max_frames: int) -> list[np.ndarray]:
    """The driving frames as the live path reads them (a video file or a folder of frames), RGB uint8."""
    from realtime.config import DrivingConfig
    from realtime.sources import open_source

    frames: list[np.ndarray] = []
    with open_source(DrivingConfig(path=path)) as source:
        for f in source:
            frames.append(f.image)
            if len(frames) >= max_frames:
                break
    return frames


def summarise_live(rows: list[dict[str, Any]], renderers: tuple[str, ...] = ()) -> dict[str, Any]:
    """Per renderer: the mean of each metric over the pairs that have it (au_r per AU); `n` counts, per
    following metric, the pairs whose driver moved that channel. Every renderer in `renderers` gets an
    entry, all None with pairs 0 when none of its pairs could be measured."""
    out: dict[str, Any] = {}
    for name in sorted({r["renderer"] for r in rows} | set(renderers)):
        mine = [r for r in rows if r["renderer"] == name and "skipped" not in r]
        s: dict[str, Any] = {"pairs": len(mine)}
        for key in ("csim_source", "csim_driver", "pose_r", "sharpness", "flicker", "shimmer", "face_found"):
            vals = [r[key] for r in mine if r.get(key) is not None]
            s[key] = float(np.mean(vals)) if vals else None
        aus = sorted({a for r in mine for a in r.get("au_r", {})})
        s["au_r"] = {a: float(np.mean([r["au_r"][a] for r in mine if a in r["au_r"]])) for a in aus}
        for key, names in (("mouth_r", MOUTH_MEASURES), ("eye_r", (*EYE_MEASURES, *GAZE_MEASURES))):
            s[key] = {
                k: float(np.mean(v)) for k in names if (v := [r[key][k] for r in mine if k in r.get(key, {})])
            }
        s["n"] = {"pose_r": sum(r.get("pose_r") is not None for r in mine)} | {
            a: sum(a in r.get("au_r", {}) for r in mine) for a in aus
        }
        out[name] = s
    return out


RULE_MINIMA = (("csim_source", 0.9), ("face_found", 0.95), ("sharpness", 0.9))
"""What a renderer must reach to be chosen: identity kept, a face in the output, the photo's sharpness."""


def rule_failures(s: dict[str, Any]) -> list[str]:
    """The conditions of the decision rule one renderer's live summary misses, said with its numbers."""
    out = []
    for key, least in RULE_MINIMA:
        v = s.get(key)
        if v is None:
            out.append(f"{key} not measured")
        elif v < least:
            out.append(f"{key} {v:.3f} < {least}")
    return out


def follow_score(s: dict[str, Any]) -> float:
    """mean(pose_r, au_r[AU12], au_r[AU26], au_r[AU45]) over those measured: r is taken only where a driver
    moved the channel, and every renderer runs on the same drivers, so they share the same terms (a renderer
    whose output loses the face is held back by the face_found rule, not here). Nothing measured: 0."""
    parts = [s.get("pose_r")] + [s["au_r"].get(a.value) for a in FOLLOW_AUS]
    parts = [v for v in parts if v is not None]
    return float(np.mean(parts)) if parts else 0.0


def decide(live: dict[str, Any]) -> dict[str, Any]:
    """The winner: among renderers that keep identity (csim_source >= 0.9), a face in >= 95 % of frames and
    the photo's sharpness (>= 0.9 of it: issue 11's goal), the highest mean of pose_r and the AU12/26/45 r
    (of those the drivers moved: every renderer ran on the same drivers, so they share the same terms).
    `scores` holds the eligible renderers' means, `excluded` why each other one was not eligible."""
    rule = "max mean(pose_r, au_r[AU12, AU26, AU45] where the drivers moved them) subject to " + ", ".join(
        f"{k} >= {v}" for k, v in RULE_MINIMA
    )
    scores, excluded = {}, {}
    for name, s in live.items():
        if fails := rule_failures(s):
            excluded[name] = fails
        else:
            scores[name] = follow_score(s)
    winner = max(scores, key=scores.__getitem__) if scores else None
    return {"renderer": winner, "rule": rule, "scores": scores, "excluded": excluded}


def evaluate_live(
    data: Path | None,
    raw: Path,
    out: Path,
    n_pairs: int,
    frames: int,
    seed: int,
    renderers: tuple[str, ...],
    weights: Path | None = None,
    keep_expression: bool = False,
    given: tuple[tuple[Path, Path], ...] = (),
) -> dict[str, Any]:
    """The live protocol alone on the held-out people of a prepared dataset (or on the `given` (photo or clip,
    driving clip) pairs, `data` then unused): live.json, live.md, the rows, the grid and the side-by-side
    video in `out`; returns what live.json holds."""
    from realtime.weights import weights_dir
    from training.data.teacher import DEFAULT_TEACHER
    from training.evaluation.data import heldout_identities, index_dataset
    from training.evaluation.live_run import LiveOptions, LivePair, run_protocol
    from training.evaluation.metrics import IdentityEmbedder, TeacherMeasurer
    from training.evaluation.progress import Progress

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    tracks = []
    if not given:
        assert data is not None, "a dataset or given pairs"
        index = index_dataset(data)
        held, _ = heldout_identities(index.dataset, weights or weights_dir())
        tracks = [t for t in index.tracks if t.identity in held]
    pairs = tuple(LivePair(src, src.stem, clip, clip.stem) for src, clip in given)
    n_pairs = len(pairs) or n_pairs
    opts = LiveOptions(
        raw, n_pairs, frames, seed, renderers, weights, keep_expression=keep_expression, given=pairs
    )
    try:
        embedder = IdentityEmbedder()
    except Exception as e:  # noqa: BLE001 - reported, CSIM left out
        embedder = None
        log.warning("identity embedder unavailable: %s", e)
    with TeacherMeasurer(DEFAULT_TEACHER) as teacher, Progress(n_pairs * len(renderers), "live") as bar:
        res = run_protocol(tracks, opts, out, teacher, embedder, bar)
    if embedder is None:
        res.skipped["live: CSIM not measured: identity embedder unavailable"] += 1
    summary = live_summary(res, renderers, frames)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "live.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "live.md").write_text(_markdown(summary))
    return summary


def live_summary(res: Any, renderers: tuple[str, ...], frames: int) -> dict[str, Any]:
    """live.json's content from a live_run.LiveResult: per-renderer means, the decision, what was skipped."""
    live = summarise_live(res.rows, renderers)
    return {
        "live": live,
        "decision": decide(live),
        "skipped": dict(res.skipped),
        "pairs": [{**vars(p), "source": str(p.source), "clip": str(p.clip)} for p in res.pairs],
        "frames": frames,
        "video_frames": res.video_frames,
    }


def live_table(live: dict[str, Any], methods: dict[str, str] | None = None) -> list[str]:
    """The live protocol's markdown table, one row per renderer (with its paper-protocol method name)."""

    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    aus = sorted({a for s in live.values() for a in s["au_r"]} | {a.value for a in FOLLOW_AUS})
    lines = [
        "| renderer | pairs | CSIM source | CSIM driver | pose r | "
        + " | ".join(f"{a} r" for a in aus)
        + " | sharpness | flicker | shimmer | face found |",
        "|---" * (9 + len(aus)) + "|",
    ]
    for name, s in live.items():
        label = f"{name} ({methods[name]})" if methods and name in methods else name
        cells = " | ".join(f(s["au_r"].get(a)) for a in aus)
        lines.append(
            f"| {label} | {s['pairs']} | {f(s['csim_source'])} | {f(s['csim_driver'])} | {f(s['pose_r'])} | "
            f"{cells} | {f(s['sharpness'])} | {f(s['flicker'])} | {f(s.get('shimmer'))} | {f(s['face_found'])} |"
        )
    if any(s.get("mouth_r") or s.get("eye_r") for s in live.values()):
        names = (*MOUTH_MEASURES, *EYE_MEASURES, *GAZE_MEASURES)
        lines += [
            "",
            (
                "The mouth's shape, each eye's opening and where each eye looks from the teacher's landmarks, r "
                "(diagnostics, not in the decision: where AU12 r is low and the mouth's are high, the mouth moves "
                "but the teacher's AU reading does not see a smile on that face; an eye low where the other is "
                "high, a blink drawn on one eye; gaze near 0, a photo that keeps its own gaze. Gaze is read in the "
                "head: where the photo is held back from a driver's head turn, its eyes take back the turn it does "
                "not show (realtime.render.shown_motion.keep_gaze), so a driver who turns while looking at the "
                "camera lowers this r although the photo then looks at the camera too):"
            ),
            "",
            "| renderer | " + " | ".join(f"{k.replace('_', ' ')} r" for k in names) + " |",
            "|---" * (1 + len(names)) + "|",
        ]
        for name, s in live.items():
            both: dict[str, float] = {**s.get("mouth_r", {}), **s.get("eye_r", {})}
            lines.append(f"| {name} | " + " | ".join(f(both.get(k)) for k in names) + " |")
    counts = next(iter(live.values()), {}).get("n", {})
    if counts:
        lines += [
            "",
            "Pairs whose driver moved each channel (r is taken only there): "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
            + ".",
        ]
    return lines


def _markdown(summary: dict[str, Any]) -> str:
    d = summary["decision"]
    lines = ["# Live protocol", "", *live_table(summary["live"])]
    lines += ["", f"Decision: **{d['renderer']}** by the rule: {d['rule']}.", "", "## Pairs", ""]
    lines += [
        f"- {k}: {p['source']} driven by {p['clip']} (by eye: live_moments_{k}.jpg)"
        for k, p in enumerate(summary.get("pairs") or [])
    ] or ["- none"]
    lines += ["", "## Skipped", ""]
    lines += [f"- {k}: {v}" for k, v in sorted(summary["skipped"].items())] or ["- nothing"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training.evaluation.live", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--data", type=Path, help="dataset folder made by facegan-prepare (its held-out people)")
    p.add_argument(
        "--pair",
        nargs=2,
        action="append",
        type=Path,
        metavar=("SOURCE", "CLIP"),
        help="run this pair instead (a photo, or a clip's first frame; a driving clip or frame folder); repeat",
    )
    p.add_argument(
        "--raw", type=Path, default=DEFAULT_RAW, help="the folder it was prepared from (default: %(default)s)"
    )
    p.add_argument("--out", type=Path, required=True, help="report folder (created)")
    p.add_argument("--pairs", type=int, default=6)
    p.add_argument("--frames", type=int, default=120, help="driving frames per pair")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", type=Path, default=None, help="weights folder (default: realtime/weights)")
    p.add_argument(
        "--renderer", action="append", choices=LIVE_RENDERERS, help="repeat; default all live renderers"
    )
    p.add_argument(
        "--keep-expression",
        action="store_true",
        help="run the mesh flow as run_cam.py --keep-expression (relative motion from the photo as it is)",
    )
    p.add_argument(
        "--decide", action="store_true", help="write renderer.json beside the weights from the decision"
    )
    a = p.parse_args(argv)
    if a.decide and a.keep_expression:
        p.error("--decide measures the default path; drop --keep-expression")
    if a.data is None and not a.pair:
        p.error("give --data (the held-out people of a prepared dataset) or --pair SOURCE CLIP")
    if a.decide and a.pair:
        p.error("--decide is taken on the held-out people (--data), not on chosen pairs")
    for src, clip in a.pair or ():
        for path in (src, clip):
            if not path.exists():
                p.error(f"{path} does not exist")
    logging.basicConfig(level=logging.WARNING)
    summary = evaluate_live(
        a.data,
        a.raw.resolve(),
        a.out,
        a.pairs,
        a.frames,
        a.seed,
        tuple(a.renderer or LIVE_RENDERERS),
        a.weights,
        a.keep_expression,
        tuple((src, clip) for src, clip in a.pair or ()),
    )
    print((a.out / "live.md").read_text())
    if a.decide:
        from realtime.weights import weights_dir

        try:
            print(f"wrote {write_decision(summary, (a.weights or weights_dir()) / 'renderer.json')}")
        except ValueError as e:
            print(f"live: {e}", file=sys.stderr)
            return 1
    return 0 if any(s["pairs"] for s in summary["live"].values()) else 1


def write_decision(
    summary: dict[str, Any], path: Path | None = None, command: str = "training.evaluation.live --decide"
) -> Path:
    """renderer.json from the live protocol's decision (never by hand), with the numbers it was decided on;
    ValueError when nothing won (the file is then left as it is)."""
    from realtime.weights import weights_dir

    d = summary["decision"]
    if d["renderer"] is None:
        raise ValueError("no renderer met the decision rule; renderer.json left as it is")
    path = path or weights_dir() / "renderer.json"
    doc = {
        "format": "facegan-renderer-choice",
        "version": 1,
        "default": d["renderer"],
        "why": f"live protocol ({command}): {d['rule']}",
        "scores": d["scores"],
        "live": summary["live"],
        "pairs": len(summary["pairs"]),
        "frames": summary.get("frames"),
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
