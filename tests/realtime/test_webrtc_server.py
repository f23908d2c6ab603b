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

from realtime.controls import Controls, Edit, Edits
from realtime.errors import SetupError
from realtime.frames import Frame, now_ns
from realtime.sinks.webrtc import MAX_UPLOAD, MAX_VIEWERS, WebRTCSink
from realtime.stats import Stats


def _post(
    url: str, body: bytes, ctype: str | None = "application/json", headers: dict[str, str] | None = None
) -> tuple[int, str]:
    h = {"Content-Type": ctype} if ctype else {}
    req = urllib.request.Request(url, data=body, method="POST", headers={**h, **(headers or {})})
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

    def on_upload(rgb: np.ndarray) -> tuple[str, ...]:
        if rgb.mean() < 10:  # stands in for "no face in the photo"
            raise SetupError("no face found in the source photo")
        uploads.append(rgb)
        return ("the face wears glasses",) if rgb.mean() > 250 else ()  # stands in for a photo's warnings

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
    assert _post(sink.url + "source", good, "image/png") == (200, '{"ok": true, "warnings": []}')
    assert len(uploads) == 1 and uploads[0].shape == (64, 64, 3)
    glasses = cv2.imencode(".png", np.full((64, 64, 3), 255, np.uint8))[1].tobytes()
    status, text = _post(
        sink.url + "source", glasses, "image/png"
    )  # accepted, and the page is told why it may look off
    assert status == 200 and json.loads(text)["warnings"] == ["the face wears glasses"]
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
    assert _post(sink.url + "expression", b'{"keep": true}')[0] == 200 and controls.keep_expression
    state = json.loads(urllib.request.urlopen(sink.url + "state", timeout=5).read())
    assert state["keep_expression"] is True
    for bad in (b'{"keep": "false"}', b'{"keep": 0}', b"{}"):  # a JSON boolean only
        assert _post(sink.url + "expression", bad)[0] == 400 and controls.keep_expression


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
        WebRTCSink(port=0, controls=c, stats=s, on_upload=lambda rgb: ()) as first,
        pytest.raises(SetupError, match="another --port"),
    ):
        WebRTCSink(port=first.port, controls=c, stats=s, on_upload=lambda rgb: ()).__enter__()


def _has_non_loopback_ipv4() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return not s.getsockname()[0].startswith("127.")
    except OSError:
        return False


# --- who may change things: the page's own origin and command-line clients, nobody else ---

_POSTS = [
    ("edit", b'{"channel": "AU12", "gain": 2.5}', "application/json"),
    ("reset", b"{}", "application/json"),
    ("calibrate", b"{}", "application/json"),
    ("background", b'{"mode": "blur"}', "application/json"),
    ("expression", b'{"keep": true}', "application/json"),
    ("source", cv2.imencode(".png", np.full((64, 64, 3), 200, np.uint8))[1].tobytes(), "image/png"),
    ("background-image", cv2.imencode(".png", np.full((64, 64, 3), 90, np.uint8))[1].tobytes(), "image/png"),
    ("offer", b'{"type": "offer", "sdp": "v=0\\r\\nm=video 9 x\\r\\n"}', "text/plain"),
]


def _untouched(controls: Controls, uploads: list) -> bool:
    return (
        controls.edits.get("AU12").gain == 1.0
        and controls.background[0].value == "source"
        and controls.background[1] is None
        and not controls.take_calibration_request()
        and controls.edits == Edits()
        and controls.take_source() is None
        and not controls.keep_expression
        and not uploads
    )


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://evil.example",
        "null",  # sandboxed iframes, file:// pages
        "http://127.0.0.1",  # another port on this machine is another origin
        "http://127.0.0.1:1",
        "https://127.0.0.1:{port}",
        "http://localhost:{port}.evil.example",
        "http://192.168.1.20:{port}",  # the page's origin differs from the Host it is sent to
    ],
)
@pytest.mark.parametrize("path,body,ctype", _POSTS, ids=[p[0] for p in _POSTS])
def test_other_origins_cannot_change_anything(
    server, origin: str, path: str, body: bytes, ctype: str
) -> None:
    sink, controls, uploads, _ = server
    status, text = _post(sink.url + path, body, ctype, {"Origin": origin.format(port=sink.port)})
    assert status == 403 and "may not control" in text, (status, text)
    assert _untouched(controls, uploads)


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "localhost.evil.example:{port}", "127.0.0.1:1", "127.0.0.1", ""]
)
@pytest.mark.parametrize("path,body,ctype", _POSTS[:6], ids=[p[0] for p in _POSTS[:6]])
def test_foreign_host_header_is_refused(server, host: str, path: str, body: bytes, ctype: str) -> None:
    """DNS rebinding: the attacker's page is same-origin with its own name, which then points here."""
    sink, controls, uploads, _ = server
    h = host.format(port=sink.port)
    status, text = _post(sink.url + path, body, ctype, {"Host": h, "Origin": f"http://{h}"})
    assert status == 403 and "is not this server" in text, (status, text)
    assert _untouched(controls, uploads)


@pytest.mark.parametrize("origin", [None, "http://127.0.0.1:{port}", "http://localhost:{port}"])
def test_own_page_and_curl_keep_working(server, origin: str | None) -> None:
    sink, controls, uploads, _ = server
    host = "localhost" if origin and "localhost" in origin else "127.0.0.1"
    headers = {"Host": f"{host}:{sink.port}"}
    if origin:
        headers["Origin"] = origin.format(port=sink.port)
    for path, body, ctype in _POSTS[:7]:
        status, text = _post(sink.url + path, body, ctype, headers)
        assert status == 200, (path, status, text)
    assert controls.background[0].value == "image" and len(uploads) == 1
    assert _post(sink.url + "reset", b"", None, headers)[0] == 200  # curl -X POST .../reset
    assert controls.edits.get("AU12").gain == 1.0


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
@pytest.mark.parametrize("path", ["edit", "background", "expression", "offer"])
def test_json_only_as_application_json(server, ctype: str | None, path: str) -> None:
    sink, controls, uploads, _ = server
    body = {name: b for name, b, _ in _POSTS}
    status, text = _post(sink.url + path, body[path], ctype)
    assert status == 415 and "application/json" in text, (status, text)
    assert _untouched(controls, uploads)


def test_reads_change_nothing(server) -> None:
    sink, controls, uploads, _ = server
    for path in ("", "state", "stats", "app.js", "style.css", "edit?channel=AU12&gain=3", "source"):
        try:
            urllib.request.urlopen(sink.url + path, timeout=5).read()
        except urllib.error.HTTPError as e:
            assert e.code in (404, 405), (path, e.code)
    assert _untouched(controls, uploads)


# --- control values: finite, of the right type, inside the slider's range ---


@pytest.mark.parametrize(
    "edit",
    [
        '{"channel": "AU12", "gain": NaN}',
        '{"channel": "AU12", "gain": Infinity}',
        '{"channel": "AU12", "gain": -Infinity}',
        '{"channel": "AU12", "gain": 1e999}',
        '{"channel": "AU12", "gain": 1e6}',
        '{"channel": "AU12", "gain": -0.01}',
        '{"channel": "AU12", "gain": 3.01}',
        '{"channel": "AU12", "gain": "nan"}',
        '{"channel": "AU12", "gain": "2"}',
        '{"channel": "AU12", "gain": true}',
        '{"channel": "AU12", "gain": [1]}',
        '{"channel": "AU12", "gain": 100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000}',
        '{"channel": "AU26", "offset": 1.5}',
        '{"channel": "AU26", "offset": -1.01}',
        '{"channel": "AU26", "offset": NaN}',
        '{"channel": "yaw", "offset": 45.5}',
        '{"channel": "roll", "offset": -90}',
        '{"channel": "AU12", "lock": "false"}',
        '{"channel": "AU12", "lock": "true"}',
        '{"channel": "AU12", "lock": 1}',
        '{"channel": "AU12", "lock": 0}',
        '{"channel": 12, "gain": 1}',
        '{"channel": ["AU12"], "gain": 1}',
        '{"gain": 1}',
    ],
)
def test_bad_control_values_get_400(server, edit: str) -> None:
    sink, controls, uploads, _ = server
    status, text = _post(sink.url + "edit", edit.encode())
    assert status == 400 and text, (status, text)
    assert _untouched(controls, uploads)
    state = urllib.request.urlopen(sink.url + "state", timeout=5).read()
    json.loads(state, parse_constant=lambda c: pytest.fail(f"/state holds {c}"))


def test_values_at_the_slider_ends_are_taken(server) -> None:
    sink, controls, _, _ = server
    for edit in (
        {"channel": "AU12", "gain": 3, "offset": -1, "lock": False},
        {"channel": "yaw", "gain": 0.0, "offset": 45, "lock": True},
    ):
        assert _post(sink.url + "edit", json.dumps(edit).encode())[0] == 200
    assert controls.edits.get("AU12") == Edit(3.0, -1.0, False)
    assert controls.edits.get("yaw") == Edit(0.0, 45.0, True)
    state = json.loads(urllib.request.urlopen(sink.url + "state", timeout=5).read())
    assert state["ranges"]["yaw"] == {"gain": [0.0, 3.0], "offset": [-45.0, 45.0], "unit": "\u00b0"}
    assert state["labels"]["AU12"] == "AU12 lip corner puller \u2014 smile"
    assert state["labels"]["AU26"] == "AU26 jaw drop" and state["labels"]["AU45"] == "AU45 blink"


# --- pictures: size checked from the header, refused with a reason, large ones scaled down ---


def _png_header_only(w: int, h: int) -> bytes:
    """A small PNG file that claims w x h (its pixel data is a stub): decoding it would cost w*h*3 bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def _jpeg_claiming(w: int, h: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is patched to claim w x h."""
    data = bytearray(cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))[1].tobytes())
    i = data.index(b"\xff\xc0")
    data[i + 5 : i + 9] = h.to_bytes(2, "big") + w.to_bytes(2, "big")
    return bytes(data)


def _noise_jpeg() -> bytes:
    rng = np.random.default_rng(0)
    return cv2.imencode(".jpg", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))[1].tobytes()


def _bmp_claiming(w: int, h: int) -> bytes:
    data = bytearray(cv2.imencode(".bmp", np.full((4, 4, 3), 128, np.uint8))[1].tobytes())
    data[18:26] = w.to_bytes(4, "little", signed=True) + h.to_bytes(4, "little", signed=True)
    return bytes(data)


@pytest.mark.parametrize("path", ["source", "background-image"])
@pytest.mark.parametrize(
    "body",
    [
        _png_header_only(16000, 16000),
        _png_header_only(11000, 11000),
        _jpeg_claiming(12000, 10100),
        _bmp_claiming(11000, 11000),
    ],
    ids=["png-16000", "png-121MP", "jpeg-121MP", "bmp-121MP"],
)
def test_oversized_pictures_refused_from_the_header(server, path: str, body: bytes) -> None:
    sink, controls, uploads, _ = server
    status, text = _post(sink.url + path, body, "image/png")
    assert status == 413 and "megapixels" in text and "limit is 120" in text, (status, text)
    assert _untouched(controls, uploads)


@pytest.mark.parametrize("path", ["source", "background-image"])
@pytest.mark.parametrize(
    "body,status",
    [
        (b"", 415),
        (b"hello, not a picture", 415),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", 415),
        (_png_header_only(64, 64), 422),  # the header is fine, the pixels are not
        (_noise_jpeg()[:2000], 422),  # cut inside the picture data
    ],
    ids=["empty", "text", "gif", "png-stub", "jpeg-truncated"],
)
def test_undecodable_pictures_refused_with_a_reason(server, path: str, body: bytes, status: int) -> None:
    sink, controls, uploads, _ = server
    got, text = _post(sink.url + path, body, "image/png")
    assert got == status and len(text) > 10, (got, text)
    assert _untouched(controls, uploads)


def test_large_picture_scaled_down_once(server) -> None:
    """Also: a JPEG of 12000x9000 (108 MP, under the limit) is read from its header as accepted."""
    from realtime.sources.picture import read_header

    assert read_header(_jpeg_claiming(12000, 9000)).width == 12000
    sink, controls, uploads, _ = server
    big = cv2.imencode(".png", np.full((1500, 3000, 3), 200, np.uint8))[1].tobytes()
    assert _post(sink.url + "source", big, None)[0] == 200  # no type, as curl --data-binary sends
    assert uploads[0].shape == (1024, 2048, 3)
    jpg = cv2.imencode(".jpg", np.full((4200, 6000, 3), 120, np.uint8))[1].tobytes()
    assert _post(sink.url + "background-image", jpg, "image/jpeg")[0] == 200
    assert max(controls.background[1].shape[:2]) == 2048


# --- viewers are capped ---


def test_offers_beyond_max_viewers_get_503(server) -> None:
    from aiortc import RTCPeerConnection

    sink, *_ = server

    async def offers(n: int) -> list[str]:
        out = []
        for _ in range(n):
            pc = RTCPeerConnection()
            pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            out.append(json.dumps({"sdp": pc.localDescription.sdp, "type": "offer"}))
            await pc.close()
        return out

    results = [_post(sink.url + "offer", o.encode()) for o in asyncio.run(offers(MAX_VIEWERS + 2))]
    assert [s for s, _ in results] == [200] * MAX_VIEWERS + [503, 503]
    assert "close another page" in results[-1][1]
    stats = json.loads(urllib.request.urlopen(sink.url + "stats", timeout=5).read())
    assert stats["viewers"] == MAX_VIEWERS
