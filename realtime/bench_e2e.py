"""facegan-bench-e2e: end-to-end fps and glass-to-glass latency (capture -> handed to the sink) of the live
loop on a video file, paced at 30 fps (as a camera; newest frame wins) and unpaced (every frame, as fast as
the loop goes), per backend. Prints a markdown table. Not a test: numbers depend on the machine.

    facegan-bench-e2e --source photo.jpg --driving clip.mp4 [--backend onnxruntime --backend torch]
"""

from __future__ import annotations

import argparse
import logging
import platform
import typing
from dataclasses import replace
from pathlib import Path

import numpy as np

from engines.bench import machine_name
from engines.spec import VARIANTS
from realtime.config import DrivingConfig, PipelineConfig, Renderer, parse_size
from realtime.pipeline import build_pipeline
from realtime.stats import Stats


def run_once(cfg: PipelineConfig) -> dict[str, float | str]:
    stats = Stats(window=1_000_000)  # keep every latency of the run
    with build_pipeline(cfg, stats=stats) as pipeline:  # no sinks: the loop, not an encoder or a network
        snap = pipeline.run()
        lat = np.array(stats._latency) * 1e3
        times = np.array(stats._out_times)
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {
        "renderer": pipeline.parts.render.renderer.name,
        "frames": snap.frames,
        "dropped": snap.dropped,
        "fps": fps,
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        **{f"{k} ms": v for k, v in snap.stage_ms.items()},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="facegan-bench-e2e", description=__doc__.split("\n\n")[0])
    p.add_argument("--source", type=Path, required=True, help="source photo (its size is the output size)")
    p.add_argument("--driving", type=Path, required=True, help="driving video file")
    p.add_argument("--backend", action="append", help="onnxruntime | torch | tensorrt (repeat); default auto")
    p.add_argument("--model", default="lite", choices=VARIANTS)
    p.add_argument(
        "--renderer",
        action="append",
        choices=list(typing.get_args(Renderer)),
        help="repeat to compare; default auto",
    )
    p.add_argument("--size", type=parse_size, metavar="WxH", help="output frame size; default the photo's")
    p.add_argument("--max-frames", type=int, default=300)
    p.add_argument("--pace-fps", type=float, default=30.0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"machine: {machine_name()}, python {platform.python_version()}")
    print(f"source {a.source}, driving {a.driving}, {a.max_frames} frames\n")
    print(
        "| backend | mode | renderer | frames out | dropped | fps | latency p50 ms | p99 ms | stages (median ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    base = PipelineConfig(
        source=a.source, sinks=(), model=a.model, max_frames=a.max_frames, stats_interval_s=0, size=a.size
    )
    runs = [(b, r) for r in a.renderer or ["auto"] for b in a.backend or ["auto"]]
    for backend, renderer in runs:
        for mode, pace in ((f"paced {a.pace_fps:g} fps", a.pace_fps), ("unpaced", None)):
            driving = DrivingConfig(path=a.driving, pace_fps=pace)
            cfg = replace(base, backend=backend, renderer=renderer, driving=driving)
            r = run_once(cfg)
            stages = ", ".join(f"{k[:-3]} {v:.1f}" for k, v in r.items() if k.endswith(" ms"))
            print(
                f"| {backend} | {mode} | {r['renderer']} | {r['frames']} | {r['dropped']} | {r['fps']:.1f} "
                f"| {r['p50']:.1f} | {r['p99']:.1f} | {stages} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
