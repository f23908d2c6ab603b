"""Output sinks: virtual camera, WebRTC page, mp4 file, preview window. I/O only."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from realtime.config import PipelineConfig, SinkKind
from realtime.controls import Controls
from realtime.errors import SetupError
from realtime.sinks.base import Sink
from realtime.stats import Stats


def open_sinks(
    cfg: PipelineConfig,
    stack: contextlib.ExitStack,
    *,
    width: int,
    height: int,
    fps: float,
    controls: Controls,
    stats: Stats,
    on_upload: Callable[[np.ndarray], Sequence[str]],
) -> list[Sink]:
    """Enter every sink of the config on the stack (closed in reverse order with it)."""
    check_outputs(cfg)
    sinks: list[Sink] = []
    for spec in cfg.sinks:
        sink: Sink
        if spec.kind is SinkKind.FILE:
            from realtime.sinks.file import FileSink

            assert spec.path is not None
            clip = cfg.driving.path if cfg.driving.path is not None and cfg.driving.path.is_file() else None
            sink = FileSink(spec.path, width=width, height=height, fps=fps, audio_from=clip)
        elif spec.kind is SinkKind.VIRTUALCAM:
            from realtime.sinks.virtualcam import VirtualCamSink

            sink = VirtualCamSink(width=width, height=height, fps=fps)
        elif spec.kind is SinkKind.WINDOW:
            from realtime.sinks.window import WindowSink

            sink = WindowSink(controls)
        else:
            from realtime.sinks.webrtc import WebRTCSink

            sink = WebRTCSink(
                host=cfg.host, port=cfg.port, controls=controls, stats=stats, on_upload=on_upload
            )
        stack.enter_context(sink)
        sinks.append(sink)
    return sinks


def check_outputs(cfg: PipelineConfig) -> None:
    """SetupError before anything is opened for writing if an output file is one of the inputs (the driving
    clip, the photo, the background picture, the calibration profile) or another output: opening it would
    truncate it."""
    inputs = {
        "the driving video": cfg.driving.path,
        "the source photo": cfg.source,
        "the background picture": cfg.background.image,
        "the calibration profile": cfg.calibration,
    }
    seen: list[Path] = []
    for spec in cfg.sinks:
        if spec.path is None:
            continue
        for what, path in inputs.items():
            if path is not None and _same_file(spec.path, path):
                raise SetupError(
                    f"--sink file:{spec.path} is {what}: writing it would destroy it; name another file"
                )
        if any(_same_file(spec.path, p) for p in seen):
            raise SetupError(f"--sink file:{spec.path} is given twice: name each output file once")
        seen.append(spec.path)


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)  # also through links and different spellings
    return Path(os.path.abspath(a)).resolve() == Path(os.path.abspath(b)).resolve()


__all__ = ["Sink", "check_outputs", "open_sinks"]
