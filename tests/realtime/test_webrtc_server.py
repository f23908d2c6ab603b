"""WebRTC sink's HTTP side: bad offers and uploads get 4xx while the stream goes on; a Python aiortc
viewer receives frames; edits reach the shared controls."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from fractions import Fraction
from typing import Self

import cv2
import numpy as np
import pytest

from realtime.config import SetupError
from realtime.sinks.webrtc import MAX_UPLOAD, WebRTCSink
from realtime.sources.base import Frame, now_ns
from realtime.stages.controls import Controls
from realtime.stages.stats import Stats


def _post(url: str, body: bytes, ctype: str = "application/json") -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


class _Feeder:
    """Sends a changing frame to the sink at ~30 fps from a thread, as the pipeline would."""

    def __init__(self, sink: WebRTCSink) -> None:
        self.sink, self.sent, self._stop = sink, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = np.random.default_rng(0)
        while not self._stop.is_set():
            img = np.full((96, 128, 3), rng.integers(0, 255), np.uint8)
            self.sink.send(Frame(img, self.sent, now_ns(), self.sent, Fraction(1, 30)))
            self.sent += 1
            time.sleep(1 / 30)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture()
def server():
    uploads: list[np.ndarray] = []

    def on_upload(rgb: np.ndarray) -> None:
        if rgb.mean() < 10:  # stands in for "no face in the photo"
            raise SetupError("no face found in the source photo")
        uploads.append(rgb)

    controls = Controls()
    with (
        WebRTCSink(host="127.0.0.1", port=0, controls=controls, stats=Stats(), on_upload=on_upload) as sink,
        _Feeder(sink) as feeder,
    ):
        yield sink, controls, uploads, feeder


def test_page_and_state_are_served(server) -> None:
    sink, *_ = server
    html = urllib.request.urlopen(sink.url, timeout=5).read().decode()
    assert "<video" in html and "calibrate neutral" in html
    state = json.loads(urllib.request.urlopen(sink.url + "state", timeout=5).read())
    assert len(state["channels"]) == 20 and state["channels"][-3:] == ["yaw", "pitch", "roll"]
    assert urllib.request.urlopen(sink.url + "app.js", timeout=5).status == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"type": "answer", "sdp": "x"}',
        b'{"type": "offer", "sdp": "v=0\\r\\nm=video garbage\\r\\n"}',
    ],
)
def test_malformed_offer_is_refused_and_stream_goes_on(server, body: bytes) -> None:
    sink, _, _, feeder = server
    before = feeder.sent
    status, text = _post(sink.url + "offer", body)
    assert status == 400, text
    time.sleep(0.2)
    assert feeder.sent > before  # the sink still takes frames
    assert urllib.request.urlopen(sink.url + "stats", timeout=5).status == 200


def test_uploads_refused_with_4xx(server) -> None:
    sink, _, uploads, _ = server
    assert _post(sink.url + "source", b"\x00" * (MAX_UPLOAD + 1), "image/jpeg")[0] == 413
    assert _post(sink.url + "source", b"hello, not a picture", "image/jpeg")[0] == 415
    dark = cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8))[1].tobytes()
    assert _post(sink.url + "source", dark, "image/png")[0] == 422
    good = cv2.imencode(".png", np.full((64, 64, 3), 200, np.uint8))[1].tobytes()
    assert _post(sink.url + "source", good, "image/png")[0] == 200
    assert len(uploads) == 1 and uploads[0].shape == (64, 64, 3)
    assert _post(sink.url + "background-image", b"nope", "image/png")[0] == 415


def test_edits_and_requests_reach_controls(server) -> None:
    sink, controls, _, _ = server
    assert (
        _post(sink.url + "edit", json.dumps({"channel": "AU12", "gain": 2.0, "lock": True}).encode())[0]
        == 200
    )
    assert controls.edits.get("AU12").gain == 2.0 and controls.edits.get("AU12").lock
    assert _post(sink.url + "edit", json.dumps({"channel": "AU99", "gain": 1}).encode())[0] == 400
    assert _post(sink.url + "edit", json.dumps({"channel": "yaw", "gain": "x"}).encode())[0] == 400
    assert _post(sink.url + "background", b'{"mode": "blur"}')[0] == 200
    assert controls.background[0].value == "blur"
    assert _post(sink.url + "background", b'{"mode": "image"}')[0] == 400  # no picture yet
    assert _post(sink.url + "calibrate", b"{}")[0] == 200 and controls.take_calibration_request()


def test_two_python_viewers_receive_frames(server) -> None:
    """aiortc on both ends in one process (host candidates on this machine's interface)."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    sink, *_ = server

    async def view() -> tuple[int, int]:
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        got: asyncio.Future = asyncio.get_running_loop().create_future()

        @pc.on("track")
        def on_track(track) -> None:
            async def read() -> None:
                frame = await track.recv()
                for _ in range(4):
                    frame = await track.recv()
                got.set_result((frame.width, frame.height))

            asyncio.ensure_future(read())

        await pc.setLocalDescription(await pc.createOffer())
        body = json.dumps({"sdp": pc.localDescription.sdp, "type": "offer"}).encode()
        status, text = await asyncio.to_thread(_post, sink.url + "offer", body)
        assert status == 200, text
        await pc.setRemoteDescription(RTCSessionDescription(**json.loads(text)))
        try:
            return await asyncio.wait_for(got, 20)
        finally:
            await pc.close()

    async def two() -> list[tuple[int, int]]:
        return list(await asyncio.gather(view(), view()))

    if not _has_non_loopback_ipv4():
        pytest.skip("no non-loopback IPv4 interface: aiortc gathers no 127.0.0.1 candidates (STACK-NOTES.md)")
    assert asyncio.run(two()) == [(128, 96), (128, 96)]


def test_port_in_use_is_a_setup_error() -> None:
    c, s = Controls(), Stats()
    with (
        WebRTCSink(port=0, controls=c, stats=s, on_upload=lambda rgb: None) as first,
        pytest.raises(SetupError, match="another --port"),
    ):
        WebRTCSink(port=first.port, controls=c, stats=s, on_upload=lambda rgb: None).__enter__()


def _has_non_loopback_ipv4() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return not s.getsockname()[0].startswith("127.")
    except OSError:
        return False
