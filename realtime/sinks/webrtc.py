"""WebRTC sink: an aiohttp server (127.0.0.1 by default) serving the control page and one aiortc video
track per viewer, all fed the newest output frame. Runs its own asyncio loop in a thread.

HTTP API (JSON unless said): GET / (the page), GET /state, GET /stats, POST /offer {sdp, type},
POST /edit {channel, gain?, offset?, lock?}, POST /reset, POST /calibrate, POST /background {mode},
POST /background-image (image bytes), POST /source (image bytes). Bad input gets a 4xx; the stream goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict
from fractions import Fraction
from importlib.resources import files
from typing import Any, Self

import av
import cv2
import numpy as np
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from realtime.config import BackgroundMode, SetupError
from realtime.sources.base import Frame, now_ns
from realtime.stages.controls import CHANNELS, Controls
from realtime.stages.stats import Stats

log = logging.getLogger(__name__)
MAX_UPLOAD = 10 * 1024 * 1024
VIDEO_CLOCK = 90_000


class _Hub:
    """The newest output frame, and a way for tracks to wait for the next one (loop thread only)."""

    def __init__(self) -> None:
        self.frame: Frame | None = None
        self.seq = 0
        self._event = asyncio.Event()

    def publish(self, frame: Frame) -> None:
        self.frame, self.seq = frame, self.seq + 1
        self._event.set()
        self._event = asyncio.Event()

    async def next(self, seen: int) -> tuple[int, Frame]:
        while self.seq == seen or self.frame is None:
            await self._event.wait()
        return self.seq, self.frame


class OutputTrack(VideoStreamTrack):
    """One viewer's video: each recv() returns the newest frame not yet sent, stamped with its capture time."""

    def __init__(self, hub: _Hub) -> None:
        super().__init__()
        self._hub, self._seen, self._t0 = hub, 0, now_ns()

    async def recv(self) -> av.VideoFrame:
        self._seen, frame = await self._hub.next(self._seen)
        vf = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
        vf.pts = max(0, (frame.capture_ns - self._t0) * VIDEO_CLOCK // 1_000_000_000)
        vf.time_base = Fraction(1, VIDEO_CLOCK)
        return vf


def _decode_image(body: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR) if body else None
    if bgr is None:
        raise web.HTTPUnsupportedMediaType(text="not an image: send a JPEG or PNG file")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


class WebRTCSink:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        controls: Controls,
        stats: Stats,
        on_upload: Callable[[np.ndarray], None],
    ) -> None:
        self.host, self.port = host, port
        self.controls, self.stats, self.on_upload = controls, stats, on_upload
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webrtc", daemon=True)
        self._pcs: set[RTCPeerConnection] = set()
        self._hub: _Hub | None = None
        self._runner: web.AppRunner | None = None

    # --- lifecycle (called from the pipeline's thread) ---
    def __enter__(self) -> Self:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        except OSError as e:
            self._stop_loop()
            raise SetupError(
                f"cannot serve WebRTC on {self.host}:{self.port} ({e}): try another --port"
            ) from None
        log.info("WebRTC page at %s", self.url)
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def send(self, frame: Frame) -> None:
        if self._hub is not None:
            self._loop.call_soon_threadsafe(self._hub.publish, frame)

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _start(self) -> None:
        self._hub = _Hub()
        app = web.Application(client_max_size=MAX_UPLOAD)  # bigger bodies get 413 from aiohttp itself
        app.add_routes(
            [
                web.get("/", self._page),
                web.get("/app.js", self._static),
                web.get("/style.css", self._static),
                web.get("/state", self._state),
                web.get("/stats", self._stats),
                web.post("/offer", self._offer),
                web.post("/edit", self._edit),
                web.post("/reset", self._reset),
                web.post("/calibrate", self._calibrate),
                web.post("/background", self._background),
                web.post("/background-image", self._background_image),
                web.post("/source", self._source),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:  # tests ask for any free port
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        await asyncio.gather(*(pc.close() for pc in list(self._pcs)), return_exceptions=True)
        self._pcs.clear()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- handlers (loop thread) ---
    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(
            text=files("realtime.web").joinpath("index.html").read_text(), content_type="text/html"
        )

    async def _static(self, request: web.Request) -> web.Response:
        name = request.path.lstrip("/")
        ctype = "application/javascript" if name.endswith(".js") else "text/css"
        return web.Response(text=files("realtime.web").joinpath(name).read_text(), content_type=ctype)

    async def _state(self, request: web.Request) -> web.Response:
        mode, picture = self.controls.background
        return web.json_response(
            {
                "channels": list(CHANNELS),
                "edits": self.controls.edits.as_json(),
                "background": mode.value,
                "has_picture": picture is not None,
            }
        )

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({**asdict(self.stats.snapshot()), "viewers": len(self._pcs)})

    async def _offer(self, request: web.Request) -> web.Response:
        data = await _json(request)
        if (
            data.get("type") != "offer"
            or not isinstance(data.get("sdp"), str)
            or "m=video" not in data["sdp"]
        ):
            raise web.HTTPBadRequest(text='expected {"type": "offer", "sdp": ...} with a video m-line')
        pc = RTCPeerConnection()
        self._pcs.add(pc)

        @pc.on("connectionstatechange")
        async def _changed() -> None:
            if pc.connectionState in ("failed", "closed"):
                self._pcs.discard(pc)
                await pc.close()

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="offer"))
            assert self._hub is not None
            pc.addTrack(OutputTrack(self._hub))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as e:  # noqa: BLE001 - any malformed SDP is the client's error, not ours
            self._pcs.discard(pc)
            await pc.close()
            raise web.HTTPBadRequest(text=f"malformed offer: {e}") from None
        return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})

    async def _edit(self, request: web.Request) -> web.Response:
        data = await _json(request)
        if data.get("channel") not in CHANNELS:
            raise web.HTTPBadRequest(text=f"channel must be one of {', '.join(CHANNELS)}")
        try:
            gain = None if data.get("gain") is None else float(data["gain"])
            offset = None if data.get("offset") is None else float(data["offset"])
        except (TypeError, ValueError):
            raise web.HTTPBadRequest(text="gain and offset must be numbers") from None
        lock = None if data.get("lock") is None else bool(data["lock"])
        self.controls.set_edit(data["channel"], gain=gain, offset=offset, lock=lock)
        return web.json_response({"ok": True})

    async def _reset(self, request: web.Request) -> web.Response:
        self.controls.reset_edits()
        return web.json_response({"ok": True})

    async def _calibrate(self, request: web.Request) -> web.Response:
        self.controls.request_calibration()
        return web.json_response({"ok": True})

    async def _background(self, request: web.Request) -> web.Response:
        data = await _json(request)
        try:
            self.controls.set_background(BackgroundMode(data.get("mode")))
        except ValueError as e:
            raise web.HTTPBadRequest(text=f"background: {e}") from None
        return web.json_response({"ok": True})

    async def _background_image(self, request: web.Request) -> web.Response:
        rgb = _decode_image(await request.read())
        self.controls.set_background(BackgroundMode.IMAGE, rgb)
        return web.json_response({"ok": True})

    async def _source(self, request: web.Request) -> web.Response:
        rgb = _decode_image(await request.read())
        try:  # MediaPipe off the loop thread: the streams keep flowing meanwhile
            await asyncio.get_running_loop().run_in_executor(None, self.on_upload, rgb)
        except SetupError as e:
            raise web.HTTPUnprocessableEntity(text=str(e)) from None
        return web.json_response({"ok": True})
