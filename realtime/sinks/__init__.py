"""Output sinks: virtual camera, WebRTC page, mp4 file, preview window. I/O only."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from realtime.config import PipelineConfig, SinkKind
from realtime.sinks.base import Sink
from realtime.stages.controls import Controls
from realtime.stages.stats import Stats


def open_sinks(
    cfg: PipelineConfig,
    stack: contextlib.ExitStack,
    *,
    width: int,
    height: int,
    fps: float,
    controls: Controls,
    stats: Stats,
    on_upload: Callable[[np.ndarray], None],
) -> list[Sink]:
    """Enter every sink of the config on the stack (closed in reverse order with it)."""
    sinks: list[Sink] = []
    for spec in cfg.sinks:
        sink: Sink
        if spec.kind is SinkKind.FILE:
            from realtime.sinks.file import FileSink

            assert spec.path is not None
            sink = FileSink(spec.path, width=width, height=height, fps=fps)
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


__all__ = ["Sink", "open_sinks"]
