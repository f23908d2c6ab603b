"""Hides the start-up chatter of MediaPipe and TensorFlow Lite (about 7 lines on every start: "Created
TensorFlow Lite XNNPACK delegate", absl's "All log messages before absl::InitializeLog()", glog-style
"W0000 ... inference_feedback_manager.cc:114] ..."). Their C++ code writes straight to file descriptor 2 and
ignores GLOG_minloglevel / TF_CPP_MIN_LOG_LEVEL before absl is initialised, so descriptor 2 is put through a
filter that drops those informational lines and passes everything else (errors, Python tracebacks, our own
messages) unchanged. run_cam.py calls it before the first MediaPipe import, unless --verbose."""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

NOISE = re.compile(
    rb"^(INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\)"
    rb"|[IW]\d{4} \d+:\d+:\d+\.\d+\s+\d+ [\w./-]+:\d+\] )"
)
"""Informational and warning lines of TFLite, absl and glog; E (error) and F (fatal) lines are kept."""


def quiet_native_logs() -> None:
    """Filter descriptor 2 for the rest of the process (restored, and drained, at exit)."""
    sys.stderr.flush()
    real = os.dup(2)
    r, w = os.pipe()
    os.dup2(w, 2)
    os.close(w)

    def pump() -> None:
        with os.fdopen(r, "rb", buffering=0) as src:
            pending = b""
            while chunk := src.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                out = b"".join(line + b"\n" for line in lines if not NOISE.match(line))
                if out:
                    os.write(real, out)
            if pending and not NOISE.match(pending):
                os.write(real, pending)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer is gone: the pump reads to the end and stops
        thread.join(timeout=2)

    atexit.register(restore)
