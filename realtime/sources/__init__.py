"""Driving sources: webcam, video file, folder of frames. I/O only."""

from __future__ import annotations

from realtime.config import DrivingConfig
from realtime.frames import Frame
from realtime.sources.base import Source


def open_source(cfg: DrivingConfig) -> Source:
    """The source the config names (not yet entered: use it as a context manager)."""
    if cfg.path is None:
        from realtime.sources.webcam import WebcamSource

        return WebcamSource(cfg.camera)
    if cfg.path.is_dir():
        from realtime.sources.folder import FolderSource

        return FolderSource(cfg.path, pace_fps=cfg.pace_fps, realtime=cfg.paced, loop=cfg.loop)
    from realtime.errors import SetupError
    from realtime.sources.video import VideoFileSource

    if not cfg.path.is_file():
        raise SetupError(f"driving input {cfg.path} does not exist")
    return VideoFileSource(cfg.path, pace_fps=cfg.pace_fps, realtime=cfg.paced, loop=cfg.loop)


__all__ = ["Frame", "Source", "open_source"]
