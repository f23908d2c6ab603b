"""The WebRTC page in headless Debian chromium (driven by playwright-core): it receives frames from the
live loop, and moving a slider visibly changes the picture.

Needs: apt-get install -y chromium; cd tests/browser && npm install. WebRTC between chromium and aiortc
connects over this machine's own interface address (neither side gathers 127.0.0.1 candidates), so the test
skips on a machine without a non-loopback IPv4 address (see STACK-NOTES.md: or run it in a network namespace).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Self

import cv2
import numpy as np
import pytest
from _rt_helpers import FixedAnalyzer, synthetic_face
from test_webrtc_server import _has_non_loopback_ipv4

from realtime.config import DropPolicy
from realtime.controls import Controls
from realtime.frames import Frame, now_ns
from realtime.pipeline import Parts, Pipeline
from realtime.render.renderers import MeshWarpCrop
from realtime.sinks.webrtc import WebRTCSink
from realtime.stages.driving import DrivingStage
from realtime.stages.render import RenderStage, prepare_source
from realtime.stats import Stats

BROWSER_DIR = Path(__file__).parents[1] / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class StillSource:
    """The same driving frame at 20 fps until stopped: any change in the output comes from the controls."""

    fps = 20.0

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __iter__(self):
        img = np.zeros((240, 320, 3), np.uint8)
        i = 0
        while not self.stop.is_set():
            yield Frame(img, i, now_ns(), i, Fraction(1, 20))
            i += 1
            time.sleep(1 / self.fps)


class _EvilSite:
    """Another origin on this machine (what any web page the user visits could be): serves an empty page."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<!doctype html><title>elsewhere</title>")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _photo() -> np.ndarray:
    """A textured picture (blurred seeded noise) so that a warp of it shows in every region."""
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.standard_normal((240, 320, 3)).astype(np.float32), (0, 0), 6)
    return np.clip(128 + noise / noise.std() * 60, 0, 255).astype(np.uint8)  # smooth: cheap for the codec


@pytest.mark.browser
def test_page_receives_frames_and_slider_changes_output() -> None:
    if not Path(CHROMIUM).is_file() or shutil.which("node") is None:
        pytest.skip("needs Debian chromium (apt-get install -y chromium) and node")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.skip(f"needs playwright-core: cd {BROWSER_DIR} && npm install")
    if not _has_non_loopback_ipv4():
        pytest.skip("no non-loopback IPv4 address: chromium and aiortc gather no loopback ICE candidates")
    face = synthetic_face(center=(160, 120), iod=50)
    prepared = prepare_source(_photo(), FixedAnalyzer(face))
    stop = threading.Event()
    controls, stats = Controls(), Stats()
    uploads: list[tuple[int, ...]] = []

    def on_upload(rgb: np.ndarray) -> tuple[str, ...]:  # stands in for prepare_source on a photo that limits
        uploads.append(rgb.shape)
        return ("the face wears glasses",)

    with WebRTCSink(port=0, controls=controls, stats=stats, on_upload=on_upload) as sink:
        parts = Parts(
            StillSource(stop),
            FixedAnalyzer(face),
            DrivingStage(),
            RenderStage(MeshWarpCrop(), prepared),
            [sink],
            controls,
        )
        pipeline = Pipeline(parts, policy=DropPolicy.LATEST, stats=stats)
        loop = threading.Thread(target=pipeline.run, daemon=True)
        loop.start()
        try:
            evil = _EvilSite()
            r = subprocess.run(
                ["node", str(BROWSER_DIR / "webrtc_page.mjs"), sink.url, evil.url],
                check=False,  # the exit code and output are asserted below
                capture_output=True,
                text=True,
                timeout=60,
                cwd=BROWSER_DIR,
                env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin"},
            )
        finally:
            evil.close()
            stop.set()
            controls.quit.set()
            loop.join(timeout=10)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert "error" not in result, result
    assert result["frames"] >= 15 and result["size"] == [320, 240]
    assert result["sliders"] == 20
    assert controls.edits.get("yaw").offset == 40.0
    assert "AU12 lip corner puller \u2014 smile" in result["labels"] and "AU26 jaw drop" in result["labels"]
    assert (
        "AU45 blink" in result["labels"]
        and result["yaw_value"] == "40\u00b0"
        and result["gain_value"] == "\u00d71"
    )
    assert (
        "Using this background picture did not work: the background picture is not a picture"
        in result["refusal"]
    )
    assert "background picture" in result["picture_option"] and result["menu"] == "blur"
    assert uploads == [(8, 8, 3)]
    assert result["source_note"] == "Using this source photo: done, but the face wears glasses.", result
    # the hostile page changed nothing: AU12 untouched, the background still what the page's own client set
    assert len(result["evil"]) == 5, result
    assert controls.edits.get("AU12").gain == 1.0 and controls.background[0].value == "blur"
    assert result["diff_slider"] > 3 * result["diff_still"] + 1.0, result
