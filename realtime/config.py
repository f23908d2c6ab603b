"""Configuration of the live pipeline: frozen dataclasses built from the command line of run_cam.py.

Each field's docstring is also its CLI help, so the two never drift apart.
"""

from __future__ import annotations

import argparse
import itertools
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from engines.registry import BackendChoice as Backend
from engines.spec import Variant as Model
from realtime.errors import SetupError

if TYPE_CHECKING:
    from calibrate.profile import CalibrationProfile

Renderer = Literal["auto", "facegan", "meshflow", "meshwarp"]
Motion = Literal["relative", "absolute"]


VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")
"""What the file sink writes (H.264 in any of these containers)."""


class SinkKind(str, Enum):
    VIRTUALCAM = "virtualcam"
    WEBRTC = "webrtc"
    FILE = "file"
    WINDOW = "window"


class DropPolicy(str, Enum):
    """What a one-slot queue does when its consumer is busy."""

    LATEST = "latest"
    """Live sources: the newest frame replaces a waiting one, so latency never builds up."""
    EVERY = "every"
    """Files and folders: the producer waits, so the output has exactly the input's frames."""


class BackgroundMode(str, Enum):
    SOURCE = "source"
    BLUR = "blur"
    IMAGE = "image"


@dataclass(frozen=True)
class SinkSpec:
    kind: SinkKind
    path: Path | None = None
    """Output file, for SinkKind.FILE only."""

    @staticmethod
    def parse(text: str) -> SinkSpec:
        """'virtualcam' | 'webrtc' | 'window' | 'file:PATH'."""
        if text.startswith("file:"):
            path = Path(text[len("file:") :]).expanduser()
            if not text[len("file:") :]:
                raise ValueError("--sink file:PATH needs a path, e.g. file:out.mp4")
            if path.is_dir():
                raise ValueError(
                    f"--sink file:{path} is a folder: name the video file, e.g. file:{path}/out.mp4"
                )
            if path.suffix.lower() not in VIDEO_SUFFIXES:
                raise ValueError(f"--sink file:{path}: the file must end in {' or '.join(VIDEO_SUFFIXES)}")
            return SinkSpec(SinkKind.FILE, path)
        try:
            return SinkSpec(SinkKind(text))
        except ValueError:
            raise ValueError(f"unknown sink {text!r}: use virtualcam, webrtc, window or file:PATH") from None


@dataclass(frozen=True)
class Background:
    mode: BackgroundMode = BackgroundMode.SOURCE
    image: Path | None = None
    """The picture behind the face, for BackgroundMode.IMAGE."""

    @staticmethod
    def parse(text: str) -> Background:
        if text in (BackgroundMode.SOURCE.value, BackgroundMode.BLUR.value):
            return Background(BackgroundMode(text))
        return Background(BackgroundMode.IMAGE, Path(text).expanduser())


@dataclass(frozen=True)
class DrivingConfig:
    path: Path | None = None
    """Driving video file or folder of frames (default: the webcam)."""
    camera: str = "0"
    """Webcam index (0, 1, ...) or device path (/dev/video2)."""
    pace_fps: float | None = None
    """Emit file frames at this rate (as a camera would); None: as fast as the loop takes them."""
    paced: bool = False
    """Emit file frames at the file's own frame rate: set when a live sink (webrtc, virtualcam, window) shows
    them, so a clip plays in real time there; a file sink alone takes every frame as fast as it can."""
    loop: bool = False
    """Play a driving file or folder again from the start each time it ends, until the user stops."""

    @property
    def is_live(self) -> bool:
        return self.path is None


CALL_SIZE = (1280, 720)
"""The output frame's size where --size is not given and the output is shown live: a video call's 720p. At the
photo's size a virtual camera offered calls a square or portrait frame (a 1024-px crop, a 2048x1536 phone photo
drawn at full size) that they cropped or letterboxed themselves."""


@dataclass(frozen=True)
class PipelineConfig:
    source: Path
    """The photo that is animated."""
    driving: DrivingConfig = field(default_factory=DrivingConfig)
    sinks: tuple[SinkSpec, ...] = (SinkSpec(SinkKind.VIRTUALCAM),)
    backend: Backend = "auto"
    """How the trained networks run: onnxruntime (CPU), torch (CUDA fp16), tensorrt; auto (default): the first
    of tensorrt, torch, onnxruntime that works on this machine (the log says which)."""
    model: Model = "lite"
    """Size of the trained networks: lite (default, runs on a CPU) or full (for a GPU)."""
    renderer: Renderer = "auto"
    """meshflow: the photo warped along the face mesh at its own resolution, with the driver's inner mouth;
    facegan: the trained networks (LT -> Gr -> Gb); meshwarp: the older crop mesh warp; auto (default): the one
    realtime/weights/renderer.json names, written from the live protocol's measurements
    (python -m training.evaluation.live --decide); the log says which."""
    motion: Motion = "relative"
    """relative (default): the photo moves as the driver moves from its neutral, starting from the photo's own
    face at rest (its smile, open mouth or pursed lips taken out; --keep-expression keeps them); absolute: the
    paper's mode, the driver's AUs and head pose used as they are."""
    keep_expression: bool = False
    """Relative motion from the photo's expression as it is (a smiling photo smiles at the driver's rest), not
    from its face at rest (the mesh flow; the other renderers always start from the photo as it is)."""
    size: tuple[int, int] | None = None
    """Output frame size WIDTHxHEIGHT; default: 1280x720 (CALL_SIZE) where the output is shown live (virtual camera,
    page, window: what a video call takes), the source photo's size for a file alone."""
    calibration: Path | None = None
    """Driver neutral profile written by facegan-calibrate."""
    background: Background = field(default_factory=Background)
    max_frames: int | None = None
    """Stop after this many driving frames."""
    host: str = "127.0.0.1"
    """WebRTC server address; 127.0.0.1 keeps it on this machine."""
    port: int = 8080
    """WebRTC server port (1-65535); the page is then at http://HOST:PORT/."""
    verbose: bool = False
    """Show debug logging and the start-up messages of MediaPipe and TensorFlow Lite (hidden by default)."""
    weights_dir: Path | None = None
    """Trained weights; None: the package's realtime/weights."""
    drop: DropPolicy | None = None
    """None: LATEST for a webcam or paced file, EVERY for an unpaced file or folder."""
    stats_interval_s: float = 5.0
    """How often the loop logs fps and latency (0: never)."""

    def calibration_profile(self) -> CalibrationProfile | None:
        """The driver's neutral profile read from `calibration` (None without one): the one way the file
        facegan-calibrate writes reaches run time (DESIGN.md: realtime reads it through its config). An
        unreadable or invalid file is a SetupError that names it."""
        if self.calibration is None:
            return None
        from calibrate.profile import load_profile

        try:
            return load_profile(self.calibration)
        except (OSError, ValueError, KeyError) as e:
            raise SetupError(f"cannot read the calibration profile {self.calibration}: {e}") from None

    @property
    def drop_policy(self) -> DropPolicy:
        if self.drop is not None:
            return self.drop
        live = self.driving.is_live or self.driving.pace_fps is not None
        if self.driving.paced:  # a recording keeps every frame, even while a live sink shows them
            live = not any(s.kind is SinkKind.FILE for s in self.sinks)
        return DropPolicy.LATEST if live else DropPolicy.EVERY


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_cam.py", description="A photo moves with your webcam: face reenactment after FACEGAN."
    )
    p.add_argument("--source", required=True, type=Path, help=_doc(PipelineConfig, "source"))
    p.add_argument("--driving", type=Path, help=_doc(DrivingConfig, "path"))
    p.add_argument("--camera", default="0", metavar="INDEX_OR_PATH", help=_doc(DrivingConfig, "camera"))
    p.add_argument(
        "--sink",
        action="append",
        metavar="SINK",
        help="virtualcam (default) | webrtc | file:PATH | window; repeat for several",
    )
    p.add_argument(
        "--backend",
        default="auto",
        choices=list(typing.get_args(Backend)),
        help=_doc(PipelineConfig, "backend"),
    )
    p.add_argument(
        "--model", default="lite", choices=list(typing.get_args(Model)), help=_doc(PipelineConfig, "model")
    )
    p.add_argument(
        "--renderer",
        default="auto",
        choices=list(typing.get_args(Renderer)),
        help=_doc(PipelineConfig, "renderer"),
    )
    p.add_argument(
        "--motion", default="relative", choices=["relative", "absolute"], help=_doc(PipelineConfig, "motion")
    )
    p.add_argument("--keep-expression", action="store_true", help=_doc(PipelineConfig, "keep_expression"))
    p.add_argument("--size", type=parse_size, metavar="WxH", help=_doc(PipelineConfig, "size"))
    p.add_argument("--calibration", type=Path, metavar="PROFILE", help=_doc(PipelineConfig, "calibration"))
    p.add_argument("--background", default="source", help="source | blur | IMAGE (a picture file)")
    p.add_argument("--max-frames", type=int, metavar="N", help=_doc(PipelineConfig, "max_frames"))
    p.add_argument("--host", default="127.0.0.1", help=_doc(PipelineConfig, "host"))
    p.add_argument("--port", type=parse_port, default=8080, help=_doc(PipelineConfig, "port"))
    p.add_argument("--loop", action="store_true", help=_doc(DrivingConfig, "loop"))
    p.add_argument("--verbose", action="store_true", help=_doc(PipelineConfig, "verbose"))
    return p


def config_from_args(argv: Sequence[str] | None = None) -> PipelineConfig:
    """Parse the command line; argparse exits with status 2 and a message on bad arguments."""
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        sinks = tuple(SinkSpec.parse(s) for s in (a.sink or ["virtualcam"]))
    except ValueError as e:
        parser.error(str(e))
    if a.max_frames is not None and a.max_frames < 1:
        parser.error("--max-frames must be at least 1")
    shown_live = any(s.kind is not SinkKind.FILE for s in sinks)
    if a.loop and a.driving is None:
        parser.error("--loop repeats a --driving file or folder; the webcam needs no repeating")
    return PipelineConfig(
        source=a.source.expanduser(),
        driving=DrivingConfig(
            path=a.driving.expanduser() if a.driving else None,
            camera=a.camera,
            paced=a.driving is not None and shown_live,
            loop=a.loop,
        ),
        sinks=sinks,
        backend=a.backend,
        model=a.model,
        renderer=a.renderer,
        motion=a.motion,
        keep_expression=a.keep_expression,
        size=a.size or (CALL_SIZE if shown_live else None),
        calibration=a.calibration.expanduser() if a.calibration else None,
        background=Background.parse(a.background),
        max_frames=a.max_frames,
        host=a.host,
        port=a.port,
        verbose=a.verbose,
    )


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720); argparse turns the ValueError into a usage error (exit 2)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--size must be WIDTHxHEIGHT, e.g. 1280x720, got {text!r}"
        ) from None
    if not (16 <= w <= 7680 and 16 <= h <= 4320) or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"--size {text}: width and height must be even, 16..7680 x 16..4320")
    return w, h


def parse_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to 65535, got {text!r}")
    return port


def _doc(cls: type, name: str) -> str:
    """The docstring under a dataclass field (nerfstudio's habit), read from the source once per call."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, nxt in itertools.pairwise(body):
        named = isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == name
        if named and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            return str(nxt.value.value)
    return ""
