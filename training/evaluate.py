"""`facegan-evaluate`: the paper's Tables 1 and 2 on the held-out people of a prepared dataset (issue 6).

Self-reenactment (source and driving frame from one track): MSE, PSNR, SSIM of the output against the
driving frame. Cross-reenactment (source and driver of different identities): CSIM, PSIM, ED, and LSIM
(two images of one person, a driver of another identity whose driving vector is nearest the second image's;
landmark MSE of the output against the second image). Methods side by side: `facegan` (shipped LT -> Gr ->
Gb), `facegan_no_lt` (Gr -> Gb on the driving landmarks), `mesh_warp` (MeshWarpRenderer on LT's landmarks) and
`mesh_warp_transfer` (the live mesh warp: `landmark_transfer`'s landmarks). The protocol,
the estimators and what each number means: docs/EVALUATION.md.

This module is the command; its parts live in `training.evaluation`: data (the prepared dataset through
`training.dataset.open_dataset`), pairs, methods, measure, report. Their public names are re-exported here.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from engines.spec import VARIANTS
from training import metrics as M
from training.evaluation.data import (
    DEFAULT_VAL_FRACTION,
    DatasetIndex,
    FaceImage,
    FrameRef,
    FrameStore,
    heldout_identities,
    index_dataset,
)
from training.evaluation.measure import Evaluator, Measurements, summarise
from training.evaluation.methods import (
    METHOD_NAMES,
    FaceganMethod,
    FaceganNoLtMethod,
    MeshWarpMethod,
    Method,
    build_methods,
)
from training.evaluation.pairs import FULL, QUICK, Budget, Pair, PairPlan, plan_pairs
from training.evaluation.report import (
    GOALS,
    PAPER_TABLE2,
    write_grid,
    write_pairs,
    write_report,
    write_rows,
    write_video,
)

if TYPE_CHECKING:
    from training.dataset import TrackInfo

__all__ = [
    "DEFAULT_TEACHER",
    "DEFAULT_VAL_FRACTION",
    "FULL",
    "GOALS",
    "METHOD_NAMES",
    "PAPER_TABLE2",
    "QUICK",
    "Budget",
    "DatasetIndex",
    "EvalConfig",
    "Evaluator",
    "FaceImage",
    "FaceganMethod",
    "FaceganNoLtMethod",
    "FrameRef",
    "FrameStore",
    "Measurements",
    "MeshWarpMethod",
    "Method",
    "Pair",
    "PairPlan",
    "build_methods",
    "build_parser",
    "evaluate",
    "heldout_identities",
    "index_dataset",
    "main",
    "plan_pairs",
    "summarise",
    "write_grid",
    "write_pairs",
    "write_report",
    "write_rows",
    "write_video",
]

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEACHER = REPO_ROOT.parent / "shared" / "models" / "face_landmarker.task"

IdentityChoice = Literal["heldout", "all"]


@dataclass(frozen=True)
class EvalConfig:
    data: Path
    """Prepared dataset folder (facegan-prepare)."""
    out: Path
    """Report folder (created)."""
    quick: bool = False
    """A few pairs only (tests, smoke runs)."""
    teacher: Path = DEFAULT_TEACHER
    """Face Landmarker bundle: the independent estimator of pose, AUs and landmarks."""
    weights: Path | None = None
    """Folder of the ONNX weights; default: the shipped realtime/weights."""
    seed: int = 0
    identities: IdentityChoice = "heldout"
    variant: str = "lite"
    backend: str = "onnxruntime"


def _open_estimators(
    cfg: EvalConfig, skipped: dict[str, int]
) -> tuple[M.IdentityEmbedder | None, M.TeacherMeasurer | None]:
    embedder = teacher = None
    try:
        embedder = M.IdentityEmbedder()
    except M.EmbedderUnavailableError as exc:
        skipped[f"CSIM not measured: {exc}"] = 1
        log.warning("CSIM not measured: %s", exc)
    try:
        teacher = M.TeacherMeasurer(cfg.teacher).__enter__()
    except Exception as exc:  # noqa: BLE001 - missing teacher module/model: PSIM/ED/LSIM reported as unmeasured
        skipped[f"PSIM/ED/LSIM not measured: {type(exc).__name__}: {exc}"] = 1
        log.warning("PSIM/ED/LSIM not measured: %s", exc)
    return embedder, teacher


def _select_tracks(index: DatasetIndex, choice: IdentityChoice, weights: Path) -> tuple[list[TrackInfo], str]:
    if choice == "all":
        return list(index.tracks), "all identities"
    chosen, rule = heldout_identities(index.dataset, weights)
    return [t for t in index.tracks if t.identity in chosen], rule


def evaluate(cfg: EvalConfig) -> dict[str, Any]:
    """The whole evaluation; writes the report folder and returns what metrics.json holds."""
    from realtime.weights import weights_dir

    t0 = time.perf_counter()
    cfg.out.mkdir(parents=True, exist_ok=True)
    weights = cfg.weights or weights_dir()
    budget = QUICK if cfg.quick else FULL
    rng = np.random.default_rng(cfg.seed)
    # 1. index the dataset and choose the people
    index = index_dataset(cfg.data)
    tracks, rule = _select_tracks(index, cfg.identities, weights)
    store = FrameStore(index)
    skipped: dict[str, int] = {f"dataset: {k}": v for k, v in index.problems.items()}
    # 2. pairs, fixed by the seed, written out
    plan = plan_pairs(store, tracks, budget, rng)
    skipped.update(plan.skipped)
    write_pairs(cfg.out, plan, store)
    refs = [
        r
        for p in (*plan.self_pairs, *plan.cross_pairs, *plan.lsim_pairs)
        for r in (p.source, p.driving, p.target)
        if r
    ]
    store.load(refs)
    # 3. methods, estimators, and 4. measure
    methods, method_skips = build_methods(weights, index.crop_size, cfg.variant, cfg.backend)
    out, frames = _measure(cfg, store, methods, plan, budget, index.crop_size, skipped)
    skipped.update(out.counts)
    # 5. summarise and write
    names = [m.name for m in methods]
    for kind, rows in out.examples.items():
        write_grid(cfg.out / f"grid_{kind}.png", rows, names)
    write_rows(cfg.out, out.rows)
    summary = _summary(out.rows, methods, method_skips)
    summary["counts"] = {
        "tracks_in_dataset": len(index.tracks) + len(index.problem_tracks),
        "tracks_used": len(tracks),
        "identities": len({t.identity for t in tracks}),
        "self_pairs": len(plan.self_pairs),
        "cross_pairs": len(plan.cross_pairs),
        "lsim_pairs": len(plan.lsim_pairs),
        "video_frames": frames,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    summary["skipped"] = dict(skipped)
    summary["heldout_rule"] = rule
    summary["config"] = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()} | {
        "weights": str(weights)
    }
    (cfg.out / "metrics.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    write_report(cfg.out, summary)
    return summary


def _measure(
    cfg: EvalConfig,
    store: FrameStore,
    methods: list[Method],
    plan: PairPlan,
    budget: Budget,
    crop_size: int,
    skipped: dict[str, int],
) -> tuple[Measurements, int]:
    """Every method on every pair, and the side-by-side video (its frame count); closes the methods."""
    embedder, teacher = _open_estimators(cfg, skipped)
    ev = Evaluator(store, methods, embedder, teacher, budget.grid_rows)
    try:
        ev.run_self(plan.self_pairs)
        ev.run_cross(plan.cross_pairs)
        ev.run_lsim(plan.lsim_pairs, crop_size)
        frames = (
            write_video(
                cfg.out / "side_by_side.mp4",
                store,
                methods,
                list(plan.cross_pairs[: budget.video_pairs]),
                budget.video_frames,
            )
            if methods
            else 0
        )
    finally:
        for m in methods:
            m.close()
        if teacher is not None:
            teacher.__exit__(None, None, None)
    return ev.out, frames


def _summary(
    rows: list[dict[str, Any]], methods: list[Method], method_skips: dict[str, str]
) -> dict[str, Any]:
    """metrics.json's per-method means, skipped methods with their reason, and the reference CSIMs."""
    summary: dict[str, Any] = summarise(rows, [m.name for m in methods])
    for m in methods:
        summary[m.name].update(status="ok", lt_source=m.lt_source)
    for name, reason in method_skips.items():
        summary[name] = {"status": "skipped", "reason": reason, "self": None, "cross": None}
    ref = summarise(rows, ["reference:source_vs_driver", "reference:same_person"])
    summary["reference"] = {
        "csim_source_vs_driver": ref["reference:source_vs_driver"]["cross"]["csim"],
        "csim_same_person": _mean_csim(rows, "reference:same_person"),
    }
    return summary


def _mean_csim(rows: list[dict[str, Any]], method: str) -> float | None:
    vals = [r["csim"] for r in rows if r["method"] == method and r.get("csim") is not None]
    return float(np.mean(vals)) if vals else None


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facegan-evaluate",
        description="Reproduce the FACEGAN paper's Tables 1/2 (MSE, PSNR, SSIM; CSIM, PSIM, ED, LSIM) on the held-out "
        "people of a prepared dataset, for facegan, facegan_no_lt, mesh_warp (LT landmarks) and mesh_warp_transfer (the live mesh warp). Writes metrics.json, report.md, "
        "per-pair and pair-list CSVs, image grids and a side-by-side mp4 to --out.",
    )
    p.add_argument("--data", type=Path, required=True, help="dataset folder made by facegan-prepare")
    p.add_argument("--out", type=Path, required=True, help="report folder (created)")
    p.add_argument("--quick", action="store_true", help="a handful of pairs (tests, smoke runs)")
    p.add_argument(
        "--teacher",
        type=Path,
        default=DEFAULT_TEACHER,
        help="Face Landmarker .task bundle, the independent pose/AU/landmark estimator (default: %(default)s)",
    )
    p.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="ONNX weights folder (default: the shipped realtime/weights)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the pair draws (default: 0)")
    p.add_argument(
        "--identities",
        choices=["heldout", "all"],
        default="heldout",
        help="evaluate on the held-out people (default) or on everybody",
    )
    p.add_argument("--variant", choices=VARIANTS, default="lite", help="Gr/Gb variant (default: lite)")
    p.add_argument("--backend", default="onnxruntime", help="engines backend (default: onnxruntime)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = EvalConfig(
        args.data,
        args.out,
        args.quick,
        args.teacher,
        args.weights,
        args.seed,
        args.identities,
        args.variant,
        args.backend,
    )
    try:
        summary = evaluate(cfg)
    except (FileNotFoundError, ValueError) as exc:
        print(f"facegan-evaluate: {exc}", file=sys.stderr)
        return 2
    print((cfg.out / "report.md").read_text())
    c = summary["counts"]
    print(
        f"{c['self_pairs']} self, {c['cross_pairs']} cross, {c['lsim_pairs']} LSIM pairs in {c['seconds']} s -> {cfg.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
