"""`facegan-analyze INPUT --out OUT.jsonl`: landmarks, 17 AUs and head pose of every frame of an image or video."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from realtime.face.types import FaceAnalysis

log = logging.getLogger("facegan-analyze")

MAX_PIXELS = 1 << 30
"""Images above this many pixels are refused (OpenCV's own decoding limit)."""
REDUCE_ABOVE = 4096
"""Images with a longer side above this are decoded at 1/2, 1/4 or 1/8 size (landmarks are mapped back)."""

HELP = """\
Analyse the face in every frame of an image or a video and write one JSON line per frame:
  {"frame": i, "face": true, "landmarks": [[x, y, z] x 478], "aus": {"AU01": f, ... 17}, "pose": {"yaw", "pitch", "roll"}}
or {"frame": i, "face": false} when the frame holds no face the mesh can find.
Landmarks are in the input's pixel coordinates (z in the same scale, MediaPipe's sign); a face partly out of the
frame still gets all 478 points, some of them outside the image. AUs are in [0, 1]; pose in degrees (yaw > 0: the
face turns towards the image's right; pitch > 0: chin up; roll > 0: clockwise tilt).
Several faces in a frame: the LARGEST one is analysed (the count is reported on stderr).
Exit status: 0 done; 2 the input is unreadable, not an image or video, or corrupt (one-line reason on stderr;
for a truncated video the frames that decoded are still written); 1 any other failure."""


class InputError(Exception):
    """The input cannot be read as an image or a video; the message is the one line the user sees."""


@dataclass(frozen=True)
class Loaded:
    """A decoded frame and the factors that map its pixels back to the input's pixels."""

    rgb: np.ndarray
    scale_x: float = 1.0
    scale_y: float = 1.0


# ------------------------------------------------------------------------------------------------ images


def probe_image(path: Path) -> tuple[int, int, str] | None:
    """(width, height, format) after EXIF rotation if Pillow recognises an image, else None."""
    from PIL import Image, UnidentifiedImageError

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # only the header is read here; size limits are checked below
    try:
        with Image.open(path) as im:
            w, h = im.size
            if getattr(im, "n_frames", 1) > 1:
                return None  # animated GIF/WebP: read as a video
            if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientation with a quarter turn
                w, h = h, w
            return w, h, str(im.format)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def load_image(path: Path, width: int, height: int) -> Loaded:
    import cv2

    if width * height > MAX_PIXELS:
        raise InputError(
            f"image is {width}x{height} pixels, more than this tool decodes ({MAX_PIXELS} pixels)"
        )
    flag, factor = cv2.IMREAD_COLOR, 1
    for f, reduced in (
        (2, cv2.IMREAD_REDUCED_COLOR_2),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (8, cv2.IMREAD_REDUCED_COLOR_8),
    ):
        if max(width, height) / factor > REDUCE_ABOVE:
            flag, factor = reduced, f
    bgr = cv2.imread(str(path), flag)
    if bgr is None or bgr.size == 0:
        raise InputError("image file is corrupt or in a format OpenCV cannot decode")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return Loaded(rgb, width / rgb.shape[1], height / rgb.shape[0])


# ------------------------------------------------------------------------------------------------ videos


@dataclass
class VideoStats:
    frames: int = 0
    bad_packets: int = 0
    expected: int = 0
    """Frames the container's index lists (0: unknown); fewer decoded means the file is cut short."""
    stopped: str = ""
    """Why decoding ended early ('' when the file ended normally)."""


def open_video(path: Path):  # -> av container
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(
            f"not a readable image or video: corrupt, truncated, or another kind of file ({_short(exc)})"
        ) from None
    if not container.streams.video:
        container.close()
        raise InputError("the file holds no video stream (not an image or a video)")
    return container


def video_frames(container, stats: VideoStats) -> Iterator[Loaded]:
    """Decoded RGB frames; an undecodable packet is counted and skipped, a broken stream ends the loop."""
    import av

    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stats.expected = int(stream.frames or 0)
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                stats.bad_packets += 1
                continue
            for frame in frames:
                stats.frames += 1
                yield Loaded(frame.to_ndarray(format="rgb24"))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        stats.stopped = _short(exc)


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


# ---------------------------------------------------------------------------------------------- analysis


def frame_record(index: int, result: FaceAnalysis | None, loaded: Loaded) -> dict[str, object]:
    if result is None:
        return {"frame": index, "face": False}
    pts = result.landmarks.astype(np.float64) * np.array([loaded.scale_x, loaded.scale_y, loaded.scale_x])
    return {
        "frame": index,
        "face": True,
        "landmarks": np.round(pts, 2).tolist(),
        "aus": {k: round(v, 4) for k, v in result.au_dict().items()},
        "pose": {k: round(float(v), 2) for k, v in result.pose.as_dict().items()},
    }


@dataclass
class Counts:
    frames: int = 0
    faces: int = 0
    several: int = 0
    notes: list[str] = field(default_factory=list)
    """Lines for the user about the input (said on stderr by main)."""


def analyze_frames(frames: Iterator[Loaded], analyzer, out: IO[str], fps: float = 30.0) -> Counts:
    counts = Counts()
    for i, loaded in enumerate(frames):
        result = analyzer.analyze(loaded.rgb, timestamp_ms=round(i * 1000 / fps))
        out.write(json.dumps(frame_record(i, result, loaded), separators=(",", ":")) + "\n")
        counts.frames += 1
        counts.faces += result is not None
        counts.several += result is not None and result.num_faces > 1
    return counts


def run(input_path: Path, out_path: Path) -> tuple[Counts, str]:
    """Analyse one file; returns the counts and a problem line ('' when the input was clean).
    Raises InputError when nothing of it can be read."""
    from realtime.face import AnalyzerOptions, FaceAnalyzer

    if not input_path.is_file():
        raise InputError("no such file" if not input_path.exists() else "not a regular file")
    if input_path.stat().st_size == 0:
        raise InputError("the file is empty")
    probe = probe_image(input_path)
    if probe is not None:
        width, height, _ = probe
        loaded = load_image(input_path, width, height)
        with FaceAnalyzer(AnalyzerOptions(mode="image")) as analyzer, _open_out(out_path) as out:
            counts = analyze_frames(iter([loaded]), analyzer, out)
        if min(width, height) < 32:
            counts.notes.append(f"{input_path} is {width}x{height} pixels: too small to hold a face")
        return counts, ""
    container = open_video(input_path)
    stats = VideoStats()
    try:
        rate = container.streams.video[0].average_rate
        with FaceAnalyzer(AnalyzerOptions(mode="video")) as analyzer, _open_out(out_path) as out:
            counts = analyze_frames(video_frames(container, stats), analyzer, out, float(rate or 30.0))
    finally:
        container.close()
    if stats.frames == 0:
        why = stats.stopped or (
            f"{stats.bad_packets} packets did not decode" if stats.bad_packets else "no frames"
        )
        raise InputError(
            f"not a readable image or video: corrupt, truncated, or another kind of file ({why})"
        )
    problem = ""
    if stats.stopped or stats.bad_packets or stats.frames < stats.expected:
        why = stats.stopped or (
            f"{stats.bad_packets} packets did not decode"
            if stats.bad_packets
            else f"the file's index lists {stats.expected} frames"
        )
        problem = f"corrupt or truncated video: decoding stopped after {stats.frames} frames ({why})"
    return counts, problem


def _open_out(path: Path) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facegan-analyze", description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "input", type=Path, metavar="INPUT", help="an image (jpg, png, ...) or a video (mp4, mov, ...)"
    )
    p.add_argument("--out", type=Path, required=True, metavar="OUT.jsonl", help="JSON-lines file to write")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="facegan-analyze: %(message)s")
    try:
        counts, problem = run(args.input, args.out)
    except InputError as exc:
        print(f"facegan-analyze: cannot read {args.input}: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as exc:
        print(f"facegan-analyze: {_short(exc)}", file=sys.stderr)
        return 1
    for note in counts.notes:
        print(f"facegan-analyze: {note}", file=sys.stderr)
    several = f"; {counts.several} had several faces (the largest was used)" if counts.several else ""
    print(
        f"facegan-analyze: wrote {counts.frames} frames ({counts.faces} with a face{several}) to {args.out}",
        file=sys.stderr,
    )
    if problem:
        print(f"facegan-analyze: {args.input}: {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
