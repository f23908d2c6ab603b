#!/usr/bin/env python
"""facegan-live: a photo moves with your webcam (or a video), sent to a virtual camera, a WebRTC page,
an mp4 file or a preview window.

    python run_cam.py --source me.jpg                              # webcam 0 -> virtual camera
    python run_cam.py --source me.jpg --driving clip.mp4 --sink file:out.mp4
    python run_cam.py --source me.jpg --sink webrtc                # open http://127.0.0.1:8080
"""

from __future__ import annotations

import logging
import sys


def main(argv: list[str] | None = None) -> int:
    from realtime.config import config_from_args
    from realtime.errors import SetupError
    from realtime.quiet import quiet_native_logs
    from realtime.stopping import stop_on_signals

    cfg = config_from_args(argv)  # exits with status 2 on bad arguments
    level = logging.DEBUG if cfg.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not cfg.verbose:
        quiet_native_logs()  # before MediaPipe is first imported
    from realtime.pipeline import build_pipeline

    with stop_on_signals() as stopper:  # SIGINT/SIGTERM/SIGHUP end the run cleanly: the mp4 is finalised
        try:
            with build_pipeline(cfg) as pipeline:
                stopper.attach(pipeline.stop)
                snap = pipeline.run()
        except SetupError as e:
            print(f"run_cam.py: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return stopper.exit_status or 130
    print(f"done: {snap.line()}")
    return stopper.exit_status


if __name__ == "__main__":
    sys.exit(main())
