"""The report a person reads: one PNG plot per family of metrics, the AU sweep, and report.html, which holds
everything (tables, verdict, plots, grids, videos) embedded as base64 so it opens anywhere, offline."""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path
from typing import Any

from training.evaluation.live import FOLLOW_AUS
from training.evaluation.report import GOALS, format_value, paper_rows, verdict

log = logging.getLogger(__name__)

MAX_EMBED_BYTES = 25 * 2**20
"""A video larger than this is not embedded (the page would not open): the page says so instead."""
MAX_PNG_BYTES = 600_000
"""A larger picture (image grids, the AU sweep) is embedded as a JPEG at most EMBED_WIDTH wide; the full PNG
stays beside the page."""
EMBED_WIDTH = 1600
PLOT_CAPTIONS = {
    "self": "paper protocol, self-reenactment: whole-image and region errors against the true driving frame, PSNR, SSIM",
    "cross": "paper protocol, cross-reenactment: identity (CSIM, with the two reference lines), pose (PSIM), "
    "expression (ED), landmarks (LSIM)",
    "live_identity": "live protocol, identity: CSIM of the output to the source photo and to the driver",
    "live_motion": "live protocol, motion following: r of head pose and each AU the driver moves",
    "live_quality": "live protocol, image quality: sharpness against the photo, flicker where the driver is still, "
    "face found",
}
SELF_ERRORS = ("mse", "mouth_mse", "eyes_mse", "face_mse", "background_mse")


# -- plots -----------------------------------------------------------------------------------------------


def _bars(ax: Any, groups: list[str], series: dict[str, list[float | None]], title: str) -> None:
    """Grouped bars: one group per x label, one bar per series; a missing value leaves a gap."""
    import numpy as np

    x = np.arange(len(groups))
    width = 0.8 / max(1, len(series))
    for k, (name, vals) in enumerate(series.items()):
        ys = [np.nan if v is None else v for v in vals]
        ax.bar(x + (k - (len(series) - 1) / 2) * width, ys, width, label=name)
    ax.set_xticks(x, groups, rotation=20, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def write_plots(out: Path, summary: dict[str, Any]) -> dict[str, Path]:
    """plot_self.png, plot_cross.png (paper protocol), plot_live_identity.png, plot_live_motion.png,
    plot_live_quality.png (live protocol): one PNG per family of metrics."""
    from matplotlib.figure import Figure  # the object API: no pyplot, no global backend state

    done: dict[str, Path] = {}
    methods = [m for m in _methods(summary) if summary[m].get("status") == "ok"]

    def save(fig: Any, key: str) -> None:
        fig.tight_layout()
        done[key] = out / f"plot_{key}.png"
        fig.savefig(done[key], dpi=100)

    if methods:
        fig = Figure(figsize=(12, 3.8))
        a, b, c = fig.subplots(1, 3, width_ratios=(3, 1, 1))
        _bars(
            a,
            list(SELF_ERRORS),
            {m: [summary[m]["self"].get(k) for k in SELF_ERRORS] for m in methods},
            "self-reenactment error (MSE, pixels in [0, 1]; lower is better)",
        )
        a.legend(fontsize=7)
        _bars(b, methods, {"PSNR": [summary[m]["self"]["psnr"] for m in methods]}, "PSNR dB (higher better)")
        _bars(c, methods, {"SSIM": [summary[m]["self"]["ssim"] for m in methods]}, "SSIM (higher better)")
        save(fig, "self")
        fig = Figure(figsize=(12, 3.5))
        axes = fig.subplots(1, 4)
        titles = {
            "csim": "CSIM (higher)",
            "psim": "PSIM (higher)",
            "ed": "ED (lower)",
            "lsim": "LSIM (lower)",
        }
        for ax, (key, title) in zip(axes, titles.items(), strict=True):
            _bars(ax, methods, {key: [summary[m]["cross"][key] for m in methods]}, title)
        ref = summary.get("reference") or {}
        for key, style in (("csim_source_vs_driver", ":"), ("csim_same_person", "--")):
            if ref.get(key) is not None:
                axes[0].axhline(ref[key], color="k", ls=style, lw=1, label=key.removeprefix("csim_"))
        axes[0].legend(fontsize=7)
        _zoom(axes[0], [summary[m]["cross"]["csim"] for m in methods] + [ref.get(k) for k in ref])
        save(fig, "cross")
    live = (summary.get("live_protocol") or {}).get("live") or {}
    if live:
        save(_live_identity(Figure(figsize=(6, 3.5)), live), "live_identity")
        save(_live_motion(Figure(figsize=(9, 3.5)), live), "live_motion")
        save(_live_quality(Figure(figsize=(12, 3.5)), live), "live_quality")
    return done


def _live_identity(fig: Any, live: dict[str, Any]) -> Any:
    ax = fig.subplots()
    names = list(live)
    _bars(
        ax,
        ["CSIM to source", "CSIM to driver"],
        {n: [live[n]["csim_source"], live[n]["csim_driver"]] for n in names},
        "live: identity (dlib CSIM)",
    )
    ax.axhline(0.9, color="r", ls="--", lw=1, label="rule: csim_source >= 0.9")
    ax.legend(fontsize=7)
    _zoom(ax, [live[n][k] for n in names for k in ("csim_source", "csim_driver")] + [0.9])
    return fig


def _zoom(ax: Any, values: list[float | None]) -> None:
    """CSIMs crowd near 1: start the axis a little below the lowest value so their differences show."""
    vals = [v for v in values if v is not None]
    if vals:
        ax.set_ylim(max(0.0, min(vals) - 0.05), 1.0)


def _live_motion(fig: Any, live: dict[str, Any]) -> Any:
    ax = fig.subplots()
    aus = sorted({a for s in live.values() for a in s["au_r"]} | {a.value for a in FOLLOW_AUS})
    groups = ["pose", *aus]
    _bars(
        ax,
        groups,
        {n: [s["pose_r"], *[s["au_r"].get(a) for a in aus]] for n, s in live.items()},
        "live: following the driver (Pearson r of the changes over time; higher is better)",
    )
    ax.axhline(0, color="k", lw=0.8)
    ax.legend(fontsize=7)
    return fig


def _live_quality(fig: Any, live: dict[str, Any]) -> Any:
    names = list(live)
    axes = fig.subplots(1, 3)
    specs = (
        ("sharpness", "sharpness / photo's (rule >= 0.9)", 0.9),
        ("flicker", "flicker, 0-255 (lower is better)", None),
        ("face_found", "face found share (rule >= 0.95)", 0.95),
    )
    for ax, (key, title, line) in zip(axes, specs, strict=True):
        _bars(ax, names, {key: [live[n][key] for n in names]}, title)
        if line is not None:
            ax.axhline(line, color="r", ls="--", lw=1)
    return fig


def _methods(summary: dict[str, Any]) -> list[str]:
    from training.evaluation.methods import METHOD_NAMES

    return [m for m in METHOD_NAMES if m in summary]


# -- the AU sweep ------------------------------------------------------------------------------------------


def write_au_figure(
    path: Path, photo: Path | None, weights: Path, renderer: str = "facegan"
) -> tuple[Path | None, str]:
    """The AU sweep of `facegan-au-figure` (training.evaluation.au_figure.make_figure, its public function) on one
    live source photo, with the live renderer that won (meshflow: the photo itself, each AU slider locked at
    the value; otherwise the trained chain's figure). Returns (the PNG, what rendered it) or (None, why not)."""
    if photo is None:
        return None, "no source photo (the live protocol ran no pair)"
    try:
        from training.evaluation.live_run import still_source

        photo = still_source(photo, path.parent)  # a clip's first frame, written beside the figure
    except Exception as exc:  # noqa: BLE001 - reported, never fatal
        return None, f"cannot read a first frame of {photo.name}: {exc}"
    try:
        from training.evaluation.au_figure import make_figure

        if renderer == "meshflow":
            make_figure(photo, path, None, weights, "meshflow")
            return (
                path,
                f"the live default (mesh flow, AU sliders locked at each value; source: {photo.name})",
            )
        make_figure(photo, path, None, weights)
    except Exception as exc:  # noqa: BLE001 - a figure that cannot be made is reported, never fatal
        return None, f"{type(exc).__name__}: {exc}"
    chain = all((weights / n).is_file() for n in ("lt.onnx", "gr_lite.onnx", "gb_lite.onnx"))
    how = "the trained chain LT -> Gr -> Gb" if chain else "the mesh warp moved by LT's landmarks"
    return path, f"{how}, as facegan-au-figure renders it (source: {photo.name})"


# -- report.html -------------------------------------------------------------------------------------------


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _jpeg_uri(path: Path) -> str:
    import cv2

    img = cv2.imread(str(path))
    if img.shape[1] > EMBED_WIDTH:
        s = EMBED_WIDTH / img.shape[1]
        img = cv2.resize(img, (EMBED_WIDTH, round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return f"data:image/jpeg;base64,{base64.b64encode(buf.tobytes()).decode('ascii')}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _image(out: Path, name: str, caption: str) -> str:
    p = out / name
    if not p.is_file():
        return f"<p><i>{html.escape(name)}: not made (see Skipped).</i></p>"
    mime = "image/jpeg" if p.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    uri = _data_uri(p, mime) if p.stat().st_size <= MAX_PNG_BYTES else _jpeg_uri(p)
    return f'<figure><img src="{uri}" alt="{html.escape(name)}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def _video(out: Path, name: str, caption: str) -> str:
    p = out / name
    if not p.is_file():
        return f"<p><i>{html.escape(name)}: not made (see Skipped).</i></p>"
    size = p.stat().st_size
    if size > MAX_EMBED_BYTES:
        return f"<p><i>{html.escape(name)} ({size / 2**20:.0f} MB) is too large to embed; it is beside this page.</i></p>"
    uri = _data_uri(p, "video/mp4")
    return (
        f'<figure><video controls loop muted src="{uri}"></video>'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def live_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The live table (head, rows): one row per live renderer, named with its paper-protocol method."""
    lp = summary.get("live_protocol") or {}
    live, methods = lp.get("live") or {}, lp.get("renderers") or {}
    aus = sorted({a for s in live.values() for a in s["au_r"]} | {a.value for a in FOLLOW_AUS})
    head = [
        "renderer (paper method)",
        "pairs",
        "CSIM source",
        "CSIM driver",
        "pose r",
        *[f"{a} r" for a in aus],
        "sharpness",
        "flicker",
        "shimmer",
        "face found",
    ]
    f = lambda v: format_value(v, 3)
    rows = [
        [
            f"{n} ({methods.get(n, '-')})",
            str(s["pairs"]),
            f(s["csim_source"]),
            f(s["csim_driver"]),
            f(s["pose_r"]),
            *[f(s["au_r"].get(a)) for a in aus],
            f(s["sharpness"]),
            f(s["flicker"]),
            f(s.get("shimmer")),
            f(s["face_found"]),
        ]
        for n, s in live.items()
    ]
    return head, rows


def write_html(out: Path, summary: dict[str, Any]) -> Path:
    """report.html: self-contained (every image and video a data: URI, no external link or script)."""
    head, rows = paper_rows(summary)
    lhead, lrows = live_rows(summary)
    d = summary["decision"]
    fig = summary.get("figures") or {}
    plots = fig.get("plots") or {}
    parts = [
        "<h1>facegan-evaluate report</h1>",
        (
            f"<p>Dataset <code>{html.escape(summary['config']['data'])}</code>, {summary['counts']['identities']} "
            f"people ({html.escape(summary['heldout_rule'])}), seed {summary['config']['seed']}"
            f"{', QUICK mode' if summary['config']['quick'] else ''}; {summary['counts']['seconds']} s.</p>"
        ),
        "<h2>Verdict</h2>",
        f"<p class=verdict>{html.escape(verdict(summary))}</p>",
        (
            f"<p>Decision: <b>{html.escape(str(d['renderer']))}</b> (paper method {html.escape(str(d.get('method')))}); "
            f"rule: {html.escape(d['rule'])}.{_decided(summary)}</p>"
        ),
        "<h2>Live protocol (the real live path on clips)</h2>",
        _table(lhead, lrows) if lrows else "<p><i>not run (see Skipped).</i></p>",
        "<h2>Paper protocol (aligned crops)</h2>",
        _table(head, rows),
        (
            f"<p>Reference CSIM: source vs driver {format_value(summary['reference']['csim_source_vs_driver'])}, "
            f"same person {format_value(summary['reference']['csim_same_person'])}.</p>"
        ),
        "<h2>Plots</h2>",
        *[_image(out, p, PLOT_CAPTIONS.get(k, k)) for k, p in plots.items()],
        "<h2>Image grids</h2>",
        _image(out, "live_grid.png", "live: driver | each renderer, the driving clip's middle frame"),
        *[
            _image(
                out,
                p.name,
                f"live pair {p.stem.rsplit('_', 1)[-1]}: the driver's face | each renderer's, at "
                "the driver's moments (its mouth most open, widest smile, eyes most shut, deepest frown, brows "
                "highest, head most turned, by the teacher)",
            )
            for p in sorted(out.glob("live_moments_*.jpg"), key=lambda q: int(q.stem.rsplit("_", 1)[-1]))
        ],
        _image(out, "grid_self.png", "self-reenactment: source | driving | each method"),
        _image(out, "grid_cross.png", "cross-reenactment: source | driving | each method"),
        _image(out, "grid_lsim.png", "LSIM pairs: source | driving | each method"),
        "<h2>Videos</h2>",
        _video(out, "live_side_by_side.mp4", "live: driver | each renderer, every frame of the first pairs"),
        _video(out, "side_by_side.mp4", "paper protocol: source | driving | each method on aligned crops"),
        "<h2>AU sweep</h2>",
        _image(out, fig["au_sweep"], f"each AU from 0 to 1: {fig.get('au_sweep_renderer')}")
        if fig.get("au_sweep")
        else "<p><i>not made (see Skipped).</i></p>",
        "<h2>Goals (issue 6)</h2>",
        "<ul>"
        + "".join(f"<li>{html.escape(n)}: <b>{html.escape(c(summary))}</b></li>" for n, c in GOALS)
        + "</ul>",
        "<h2>Counts</h2>",
        _table(["what", "n"], [[k, str(v)] for k, v in summary["counts"].items()]),
        "<h2 id=skipped>Skipped or unmeasured (never silently dropped)</h2>",
        _table(["reason", "count"], [[k, str(v)] for k, v in sorted(summary["skipped"].items())])
        if summary["skipped"]
        else "<p>nothing</p>",
    ]
    style = (
        "body{font-family:sans-serif;max-width:1400px;margin:auto;padding:1em}table{border-collapse:collapse;"
        "margin:.5em 0}td,th{border:1px solid #bbb;padding:3px 7px;font-size:13px}th{background:#eee}"
        "img,video{max-width:100%}figure{margin:1em 0}.verdict{background:#f4f4f4;padding:.7em}"
    )
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>facegan-evaluate report</title>'
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )
    path = out / "report.html"
    path.write_text(page)
    return path


def _decided(summary: dict[str, Any]) -> str:
    d = summary.get("decided")
    if d is None:
        return " renderer.json not written (no --decide)."
    if d["path"] is None:
        return f" --decide wrote nothing: {html.escape(d['reason'])}."
    return f" --decide wrote {html.escape(d['path'])}."
