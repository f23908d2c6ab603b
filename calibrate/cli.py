"""`facegan-calibrate VIDEO_OR_CAMERA --out profile.json [--seconds 3]`: record the driver's neutral face."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from calibrate.capture import capture_neutral
from calibrate.profile import CalibrationError, save_profile

log = logging.getLogger("facegan-calibrate")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facegan-calibrate",
        description="Look at the camera with a relaxed, neutral face for a few seconds (or give a video of it); "
        "writes a calibration profile (AU baseline, per-AU noise range, head-pose zero) that run_cam.py "
        "applies with --calibration PROFILE. The largest face in the frame is the driver.",
    )
    p.add_argument(
        "input",
        metavar="VIDEO_OR_CAMERA",
        help="a video file, or a camera: its index (0, 1, ...), 'camera:N' or a device path such as /dev/video2",
    )
    p.add_argument("--out", type=Path, required=True, help="profile JSON to write")
    p.add_argument(
        "--seconds", type=float, default=3.0, help="seconds of neutral face to use (default: %(default)s)"
    )
    p.add_argument(
        "--skip", type=float, default=0.0, help="seconds to skip at the start (default: %(default)s)"
    )
    return p


def _open(text: str):  # -> a realtime source, not yet entered
    from realtime.sources.video import VideoFileSource
    from realtime.sources.webcam import WebcamSource

    camera = text.removeprefix("camera:")
    if camera.isdigit() or text.startswith(("/dev/video", "camera:")):
        return WebcamSource(camera)
    path = Path(text).expanduser()
    if not path.is_file():
        raise CalibrationError(f"{path} is not a file (give a video file or a camera index)")
    return VideoFileSource(path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from realtime.errors import SetupError
    from realtime.face import AnalyzerOptions, FaceAnalyzer

    try:
        with _open(args.input) as source, FaceAnalyzer(AnalyzerOptions(mode="video")) as analyzer:
            fps = float(getattr(source, "fps", 30.0) or 30.0)
            result = capture_neutral(source, analyzer, seconds=args.seconds, fps=fps, skip_seconds=args.skip)
    except (CalibrationError, SetupError, FileNotFoundError) as exc:
        print(f"facegan-calibrate: {exc}", file=sys.stderr)
        return 2
    save_profile(result.profile, args.out)
    p = result.profile
    print(
        f"wrote {args.out}: {result.frames_with_face} of {result.frames_seen} frames had a face; "
        f"pose zero yaw {p.pose_zero['yaw']:+.1f} pitch {p.pose_zero['pitch']:+.1f} roll {p.pose_zero['roll']:+.1f} deg"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
