"""Runs every method on every pair, measures the outputs with the independent estimators, and averages."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.evaluation import metrics as M
from training.evaluation.data import FaceImage, FrameRef, FrameStore
from training.evaluation.methods import Method
from training.evaluation.pairs import Pair

log = logging.getLogger(__name__)


@dataclass
class Measurements:
    """Per-pair rows and the counts of everything that could not be measured."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[list[np.ndarray]]] = field(default_factory=lambda: defaultdict(list))


class Evaluator:
    """Runs every method on every pair and measures the outputs with the independent estimators."""

    def __init__(
        self,
        store: FrameStore,
        methods: list[Method],
        embedder: M.IdentityEmbedder | None,
        teacher: M.TeacherMeasurer | None,
        grid_rows: int,
    ) -> None:
        self.store, self.methods, self.embedder, self.teacher = store, methods, embedder, teacher
        self.grid_rows = grid_rows
        self.out = Measurements()
        self._measure_cache: dict[FrameRef, M.FaceMeasure | None] = {}
        self._embed_cache: dict[FrameRef, M.Embedding | None] = {}

    def _measure(self, face: FaceImage) -> M.FaceMeasure | None:
        if face.ref not in self._measure_cache:
            self._measure_cache[face.ref] = self.teacher.measure(face.rgb) if self.teacher else None
        return self._measure_cache[face.ref]

    def _embed(self, face: FaceImage) -> M.Embedding | None:
        if face.ref not in self._embed_cache:
            self._embed_cache[face.ref] = self.embedder.embed(face.rgb) if self.embedder else None
        return self._embed_cache[face.ref]

    def _row(self, i: int, pair: Pair, method: str, **values: float | np.ndarray | None) -> None:
        self.out.rows.append(
            {
                "kind": pair.kind,
                "pair": i,
                "method": method,
                "source": f"{pair.source.track}:{pair.source.frame}",
                "driving": f"{pair.driving.track}:{pair.driving.frame}",
                "target": f"{pair.target.track}:{pair.target.frame}" if pair.target else "",
                **values,
            }
        )

    def _outputs(self, kind: str, src: FaceImage, drv: FaceImage) -> dict[str, np.ndarray]:
        """Each method's output; a method that fails on a pair is counted (and shown black in the grid)."""
        outs = {}
        for m in self.methods:
            try:
                outs[m.name] = m.render(src, drv)
            except Exception as exc:  # noqa: BLE001 - one bad pair must not end the evaluation
                self.out.counts[f"{kind}/{m.name}: render failed ({type(exc).__name__})"] += 1
                log.warning("%s/%s failed on %s -> %s: %s", kind, m.name, src.ref, drv.ref, exc)
        if len(self.out.examples[kind]) < self.grid_rows:
            black = np.zeros_like(src.rgb)
            self.out.examples[kind].append(
                [src.rgb, drv.rgb, *[outs.get(m.name, black) for m in self.methods]]
            )
        return outs

    def run_self(self, pairs: Iterable[Pair]) -> None:
        for i, p in enumerate(pairs):
            src, drv = self.store.face(p.source), self.store.face(p.driving)
            regions = M.region_masks(drv.landmarks, drv.rgb.shape)  # of the true driving frame
            for name, img in self._outputs("self", src, drv).items():
                errors = {f"{r}_mse": M.masked_mse(img, drv.rgb, regions[r]) for r in M.REGIONS}
                self._row(
                    i,
                    p,
                    name,
                    mse=M.mse(img, drv.rgb),
                    psnr=M.psnr(img, drv.rgb),
                    ssim=M.ssim(img, drv.rgb),
                    **errors,
                )

    def run_cross(self, pairs: Iterable[Pair]) -> None:
        c = self.out.counts
        for i, p in enumerate(pairs):
            src, drv = self.store.face(p.source), self.store.face(p.driving)
            e_src, m_drv = self._embed(src), self._measure(drv)
            e_drv = self._embed(drv)
            if self.embedder and e_src is None:
                c["cross: embedder sees no face in the source (no CSIM)"] += 1
            if self.teacher and m_drv is None:
                c["cross: teacher sees no face in the driving frame (no PSIM/ED)"] += 1
            ref = M.csim(e_src, e_drv) if e_src and e_drv else None
            self._row(i, p, "reference:source_vs_driver", csim=ref)
            for name, img in self._outputs("cross", src, drv).items():
                e_out = self.embedder.embed(img) if self.embedder and e_src else None
                m_out = self.teacher.measure(img) if self.teacher and m_drv else None
                if self.embedder and e_src and e_out is None:
                    c[f"cross/{name}: embedder sees no face in the output (no CSIM)"] += 1
                if self.teacher and m_drv and m_out is None:
                    c[f"cross/{name}: teacher sees no face in the output (no PSIM/ED)"] += 1
                self._row(
                    i,
                    p,
                    name,
                    csim=M.csim(e_src, e_out) if e_src and e_out else None,
                    psim=M.psim(m_drv.pose, m_out.pose) if m_drv and m_out else None,
                    ed=M.au_distance(m_drv.aus, m_out.aus) if m_drv and m_out else None,
                    au_gap=M.au_gap(m_drv.aus, m_out.aus) if m_drv and m_out else None,
                )

    def run_lsim(self, pairs: Iterable[Pair], size: int) -> None:
        c = self.out.counts
        for i, p in enumerate(pairs):
            assert p.target is not None
            src, drv, tgt = self.store.face(p.source), self.store.face(p.driving), self.store.face(p.target)
            m_tgt = self._measure(tgt)
            if self.teacher and m_tgt is None:
                c["lsim: teacher sees no face in the second image"] += 1
            e_src, e_tgt = self._embed(src), self._embed(tgt)
            self._row(i, p, "reference:same_person", csim=M.csim(e_src, e_tgt) if e_src and e_tgt else None)
            for name, img in self._outputs("lsim", src, drv).items():
                m_out = self.teacher.measure(img) if self.teacher and m_tgt else None
                if self.teacher and m_tgt and m_out is None:
                    c[f"lsim/{name}: teacher sees no face in the output"] += 1
                lsim = M.landmark_mse(m_out.landmarks, m_tgt.landmarks, size) if m_out and m_tgt else None
                self._row(i, p, name, lsim=lsim)


def summarise(rows: list[dict[str, Any]], methods: list[str]) -> dict[str, Any]:
    """Mean of each metric per method (over the pairs where it could be measured) and the counts n."""

    def mean(method: str, kind: tuple[str, ...], key: str) -> tuple[float | None, int]:
        vals = [
            r[key] for r in rows if r["method"] == method and r["kind"] in kind and r.get(key) is not None
        ]
        vals = [
            min(v, 100.0) if key == "psnr" else v for v in vals
        ]  # identical images: PSNR capped at 100 dB
        return (float(np.mean(vals)) if vals else None), len(vals)

    out: dict[str, Any] = {}
    for m in methods:
        vals: dict[str, float | None] = {}
        ns: dict[str, int] = {}
        for key, kind in (
            ("mse", ("self",)),
            ("psnr", ("self",)),
            ("ssim", ("self",)),
            *((f"{r}_mse", ("self",)) for r in M.REGIONS),
            ("csim", ("cross",)),
            ("psim", ("cross",)),
            ("ed", ("cross",)),
            ("lsim", ("lsim",)),
        ):
            vals[key], ns[key] = mean(m, kind, key)
        out[m] = {
            "self": {k: vals[k] for k in ("mse", "psnr", "ssim", *(f"{r}_mse" for r in M.REGIONS))},
            "cross": {k: vals[k] for k in ("csim", "psim", "ed", "lsim")},
            "n": ns,
        }
        psims = [
            r["psim"] for r in rows if r["method"] == m and r["kind"] == "cross" and r.get("psim") is not None
        ]
        if psims:  # a cosine of short, noisy pose vectors: its median beside the mean (docs/EVALUATION.md)
            out[m]["cross"]["psim_median"] = float(np.median(psims))
        gaps = [r["au_gap"] for r in rows if r["method"] == m and r.get("au_gap") is not None]
        if gaps:
            g = np.asarray(gaps, np.float64)  # (pairs, 17): output less driver, per AU
            out[m]["ed_by_au"] = {
                "mean_square": dict(zip(M.AU_NAMES, (g**2).mean(0).tolist(), strict=True)),
                "mean": dict(zip(M.AU_NAMES, g.mean(0).tolist(), strict=True)),
            }
    return out
