"""The live protocol folded into facegan-evaluate's summary: each method's `live` object (through
`LIVE_METHODS`), the top-level `decision`, the figures, and `--decide`'s renderer.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.evaluation.live import LIVE_KEYS, LIVE_METHODS
from training.evaluation.methods import METHOD_NAMES
from training.evaluation.report_html import write_au_figure, write_plots


def add_live(summary: dict[str, Any], live: dict[str, Any] | None, skipped: dict[str, int]) -> None:
    """Each method's `live` object (None for methods with no live mode), the top-level `decision`, and the
    live skips merged into the report's one skipped list."""
    by_method = {m: r for r, m in LIVE_METHODS.items()}
    for name in METHOD_NAMES:
        entry = summary.setdefault(
            name, {"status": "skipped", "reason": "not built", "self": None, "cross": None}
        )
        renderer = by_method.get(name)
        entry["live_renderer"] = renderer
        s = (live or {}).get("live", {}).get(renderer) if renderer else None
        entry["live"] = None if s is None else {k: s[k] for k in LIVE_KEYS} | {"pairs": s["pairs"]}
    if live is None:
        summary["decision"] = {
            "renderer": None,
            "method": None,
            "rule": "live protocol not run",
            "scores": {},
        }
        return
    d = live["decision"]
    summary["decision"] = d | {"method": LIVE_METHODS.get(d["renderer"]) if d["renderer"] else None}
    summary["live_protocol"] = {
        "pairs": live["pairs"],
        "frames": live["frames"],
        "video_frames": live["video_frames"],
        "renderers": {r: LIVE_METHODS[r] for r in live["live"]},
        "live": live["live"],
    }
    for k, v in live["skipped"].items():
        skipped[k] = skipped.get(k, 0) + v


def sweep_renderer(summary: dict[str, Any], weights: Path) -> str:
    """The renderer the AU sweep shows: the decided one, else the one run_cam.py runs with these weights
    (renderer.json, `realtime.render.choice.recommended_renderer`). Falling back to the trained chain drew the
    chain's sweep in a report whose rule decided nothing while the mesh flow stayed the default."""
    from realtime.render.choice import recommended_renderer

    return (summary.get("decision") or {}).get("renderer") or recommended_renderer(weights)


def make_figures(
    out: Path,
    summary: dict[str, Any],
    live: dict[str, Any] | None,
    weights: Path,
    skipped: dict[str, int],
) -> dict[str, Any]:
    """The plots (one per family of metrics) and the AU sweep; what could not be drawn is counted."""
    figures: dict[str, Any] = {"plots": {}}
    try:
        figures["plots"] = {k: p.name for k, p in write_plots(out, summary).items()}
    except ImportError as exc:
        skipped[f"plots not drawn: {exc} (pip install -e '.[eval]')"] = 1
    sources = (live or {}).get("sources") or []
    au, reason = write_au_figure(
        out / "au_sweep.png", Path(sources[0]) if sources else None, weights, sweep_renderer(summary, weights)
    )
    if au is None:
        skipped[f"AU sweep figure not made: {reason}"] = 1
    figures["au_sweep"] = au.name if au else None
    figures["au_sweep_renderer"] = reason if au else None
    return figures


def write_renderer_choice(summary: dict[str, Any], weights: Path) -> dict[str, str | None]:
    """--decide: renderer.json beside the weights from `decision`, with the numbers it was decided on
    (live.write_decision); where nothing won, or the live protocol did not run, nothing is written and why."""
    from training.evaluation.live import write_decision

    live = summary.get("live_protocol")
    if live is None:
        return {"path": None, "reason": "the live protocol was not run (--no-live)"}
    doc = {
        "decision": summary["decision"],
        "live": live["live"],
        "pairs": live["pairs"],
        "frames": live["frames"],
    }
    try:
        path = write_decision(doc, weights / "renderer.json", command="facegan-evaluate --decide")
    except ValueError as exc:
        return {"path": None, "reason": str(exc)}
    return {"path": str(path), "reason": None}
