"""WebRTC sink: an aiohttp server (127.0.0.1 by default) serving the control page and one aiortc video
track per viewer, all fed the newest output frame. Runs its own asyncio loop in a thread.

HTTP API (JSON unless said): GET / (the page), GET /state, GET /stats, POST /offer {sdp, type},
POST /edit {channel, gain?, offset?, lock?}, POST /reset, POST /calibrate, POST /background {mode},
POST /expression {keep},
POST /background-image (image bytes), POST /source (image bytes). Bad input gets a 4xx with a one-line reason
as the body; the stream goes on.

Only the page itself and command-line clients may change anything (a web page the user happens to visit must
not swap the face going out to a call). Every request other than a GET must:
- name this server in its Host header: an IP address, localhost, --host or this machine's name, with the port
  (a DNS-rebinding page has its own host name there);
- carry no Origin, or the page's own (http:// + that Host); browsers always send one on a POST, curl none;
- send JSON bodies as Content-Type: application/json (a cross-site form or no-cors fetch cannot).
Otherwise 403 (415 for the type). GETs change nothing. At most MAX_VIEWERS viewers at once (503 beyond).
Pictures are checked from their header (realtime.sources.picture.MAX_PIXELS) and decoded off the loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from fractions import Fraction
from importlib.resources import files
from typing import Any, Self

import av
import numpy as np
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from realtime.config import BackgroundMode
from realtime.controls import (
    CHANNEL_LABELS,
    CHANNELS,
    GAIN_RANGE,
    Controls,
    offset_range,
    parse_edit,
)
from realtime.errors import SetupError
from realtime.frames import Frame, now_ns
from realtime.sources.picture import MAX_PIXELS, PictureError, decode_picture, read_header
from realtime.stats import Stats

log = logging.getLogger(__name__)
MAX_UPLOAD = 10 * 1024 * 1024
"""Largest request body (bytes); aiohttp answers 413 beyond it."""
MAX_VIEWERS = 4
"""Viewers at once (each has its own video encoder); a further offer gets 503 until one leaves."""
CONNECT_TIMEOUT_S = 30.0
"""A viewer that has not connected by then is dropped, so abandoned offers do not hold a place."""
VIDEO_CLOCK = 90_000
_PICTURE_STATUS = {"format": 415, "size": 413, "damaged": 422}


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


def _picture_refused(e: PictureError) -> web.HTTPException:
    return _http(_PICTURE_STATUS[e.kind], str(e))


def _http(status: int, text: str) -> web.HTTPException:
    exc = {
        400: web.HTTPBadRequest,
        403: web.HTTPForbidden,
        413: web.HTTPRequestEntityTooLarge,
        415: web.HTTPUnsupportedMediaType,
        422: web.HTTPUnprocessableEntity,
        503: web.HTTPServiceUnavailable,
    }[status]
    if exc is web.HTTPRequestEntityTooLarge:
        return web.HTTPRequestEntityTooLarge(max_size=MAX_PIXELS, actual_size=0, text=text)
    return exc(text=text)


async def _json(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send the body as JSON, with Content-Type: application/json")
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
        on_upload: Callable[[np.ndarray], Sequence[str]],
    ) -> None:
        self.host, self.port = host, port
        self.controls, self.stats, self.on_upload = controls, stats, on_upload
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webrtc", daemon=True)
        self._pcs: set[RTCPeerConnection] = set()
        self._hub: _Hub | None = None
        self._runner: web.AppRunner | None = None
        self._decoding: asyncio.Lock | None = None
        """One picture decodes at a time (each may take ~150 MB while it does)."""

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
        self._hub, self._decoding = _Hub(), asyncio.Lock()
        # bigger bodies get 413 from aiohttp itself
        app = web.Application(client_max_size=MAX_UPLOAD, middlewares=[self._guard])
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
                web.post("/expression", self._expression),
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

    # --- who may change things (see the module docstring) ---
    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            reason = self.refusal(request.headers.get("Host"), request.headers.get("Origin"))
            if reason is not None:
                log.warning("refused %s %s: %s", request.method, request.path, reason)
                raise web.HTTPForbidden(text=reason)
        return await handler(request)

    def refusal(self, host: str | None, origin: str | None) -> str | None:
        """Why a state-changing request with these Host and Origin headers is refused; None: allowed."""
        if not host or not self._known_host(host):
            return f"Host {host!r} is not this server: open the page at {self.url}"
        if origin is not None and origin.lower() != f"http://{host.lower()}":
            return f"requests from {origin!r} may not control this camera: use the page at {self.url}"
        return None

    def _known_host(self, host: str) -> bool:
        host = host.lower()
        if host.startswith("["):  # [::1]:8080
            name, sep, port = host[1:].partition("]")
            port = port.removeprefix(":") if sep else "?"
        else:
            name, _, port = host.partition(":")
        if (port or "80") != str(self.port):
            return False
        try:
            ipaddress.ip_address(name)  # an address literal cannot be a rebinding attacker's domain
            return True
        except ValueError:
            pass
        machine = socket.gethostname().lower()
        return name in {"localhost", self.host.lower(), machine, f"{machine}.local"}

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
                "labels": CHANNEL_LABELS,
                "ranges": {
                    n: {"gain": GAIN_RANGE, "offset": offset_range(n)[:2], "unit": offset_range(n)[2]}
                    for n in CHANNELS
                },
                "edits": self.controls.edits.as_json(),
                "background": mode.value,
                "has_picture": picture is not None,
                "keep_expression": self.controls.keep_expression,
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
        if len(self._pcs) >= MAX_VIEWERS:
            raise web.HTTPServiceUnavailable(
                text=f"already {len(self._pcs)} viewers, the most this server serves: close another page first"
            )
        pc = RTCPeerConnection()
        self._pcs.add(pc)

        @pc.on("connectionstatechange")
        async def _changed() -> None:
            if pc.connectionState in ("failed", "closed"):
                self._pcs.discard(pc)
                await pc.close()

        def _unconnected() -> None:
            if pc in self._pcs and pc.connectionState != "connected":
                log.info("a viewer did not connect within %.0f s: dropped", CONNECT_TIMEOUT_S)
                self._pcs.discard(pc)
                asyncio.ensure_future(pc.close())

        asyncio.get_running_loop().call_later(CONNECT_TIMEOUT_S, _unconnected)

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
        try:
            name, gain, offset, lock = parse_edit(data)
        except ValueError as e:
            raise web.HTTPBadRequest(text=str(e)) from None
        self.controls.set_edit(name, gain=gain, offset=offset, lock=lock)
        return web.json_response({"ok": True})

    async def _reset(self, request: web.Request) -> web.Response:
        self.controls.reset_edits()
        return web.json_response({"ok": True})

    async def _calibrate(self, request: web.Request) -> web.Response:
        self.controls.request_calibration()
        return web.json_response({"ok": True})

    async def _background(self, request: web.Request) -> web.Response:
        data = await _json(request)
        modes = ", ".join(m.value for m in BackgroundMode)
        try:
            self.controls.set_background(BackgroundMode(data.get("mode")))
        except ValueError as e:
            text = str(e) if "picture" in str(e) else f"background must be one of {modes}"
            raise web.HTTPBadRequest(text=text) from None
        return web.json_response({"ok": True})

    async def _expression(self, request: web.Request) -> web.Response:
        data = await _json(request)
        keep = data.get("keep")
        if not isinstance(keep, bool):
            raise web.HTTPBadRequest(text='expected {"keep": true} or {"keep": false} (a JSON boolean)')
        self.controls.set_keep_expression(keep)
        return web.json_response({"ok": True})

    async def _picture(self, request: web.Request, what: str) -> np.ndarray:
        """The uploaded picture, decoded off the loop; 413 / 415 / 422 with the reason otherwise."""
        body = await request.read()
        try:
            read_header(body, what)  # refuses an oversized picture before any pixel is decoded
            assert self._decoding is not None
            async with self._decoding:
                return await asyncio.get_running_loop().run_in_executor(None, decode_picture, body, what)
        except PictureError as e:
            raise _picture_refused(e) from None

    async def _background_image(self, request: web.Request) -> web.Response:
        rgb = await self._picture(request, "background picture")
        self.controls.set_background(BackgroundMode.IMAGE, rgb)
        return web.json_response({"ok": True})

    async def _source(self, request: web.Request) -> web.Response:
        rgb = await self._picture(request, "source photo")
        try:  # MediaPipe off the loop thread: the streams keep flowing meanwhile
            warnings = await asyncio.get_running_loop().run_in_executor(None, self.on_upload, rgb)
        except SetupError as e:
            raise web.HTTPUnprocessableEntity(text=str(e)) from None
        # What limits the result (glasses, a small or turned face), for the page to show: the log is not seen there.
        return web.json_response({"ok": True, "warnings": list(warnings)})
