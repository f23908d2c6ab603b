"""Pictures (source photos, background pictures) from a file or uploaded bytes, checked before decoding.

The header is read first (Pillow reads only the header on open): a picture of more than MAX_PIXELS pixels is
refused before any pixel is decoded, so a small file that decodes to 16000x16000 costs nothing. A JPEG far
larger than the working size is decoded at 1/2, 1/4 or 1/8 scale directly (libjpeg's DCT scaling), and
whatever is still larger than MAX_SIDE is scaled down once, here.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageOps

log = logging.getLogger(__name__)

MAX_PIXELS = 120_000_000
"""The largest picture accepted: 120 megapixels (a 108 MP phone photo, 12000x9000, is taken and scaled down;
decoding it costs ~330 MB for a moment). Beyond it a picture is refused before decoding (HTTP 413 from the
web page, exit status 2 from the command line)."""
MAX_SIDE = 2048
"""A picture with a longer side is scaled down to it once, on arrival (realtime.stages.render does the same
for a source photo, with the same number)."""
FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
BACKDROP = (236, 236, 236)
"""RGB a picture's transparent parts are shown over: a cut-out portrait (a PNG with its background taken away)
decoded with its transparent pixels as they are stored, black, and the call's fill carried the black out round
the face. A light grey, as a studio's backdrop."""
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


class PictureError(ValueError):
    """A picture that cannot be used. kind: "format" (not a picture we read), "size" (past MAX_PIXELS) or
    "damaged" (the header is fine, the pixels do not decode) - the web server answers 415, 413, 422."""

    def __init__(self, message: str, kind: Literal["format", "size", "damaged"] = "format") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class PictureHeader:
    format: str
    width: int
    height: int
    transparent: bool = False
    """It has an alpha channel or a transparent colour (a cut-out PNG or WebP)."""


def read_header(data: bytes, what: str = "picture") -> PictureHeader:
    """Format and size from the header alone; PictureError if it is not a picture or is too large."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            with Image.open(io.BytesIO(data)) as im:
                fmt, (w, h) = str(im.format), im.size
                transparent = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        if isinstance(e, Image.DecompressionBombError):
            raise PictureError(
                f"the {what} is over {(Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} megapixels; the limit is"
                f" {MAX_PIXELS / 1e6:.0f} megapixels: scale it down first",
                "size",
            ) from None
        raise PictureError(f"the {what} is not a picture: use a JPEG, PNG, WebP or BMP file") from None
    if fmt not in FORMATS:
        raise PictureError(f"the {what} is a {fmt} file: use a JPEG, PNG, WebP or BMP file")
    if w < 1 or h < 1:
        raise PictureError(f"the {what} has no pixels ({w}x{h})")
    if w * h > MAX_PIXELS:
        raise PictureError(
            f"the {what} is {w}x{h} ({w * h / 1e6:.0f} megapixels); the limit is {MAX_PIXELS / 1e6:.0f}"
            " megapixels: scale it down first",
            "size",
        )
    return PictureHeader(fmt, w, h, transparent)


def decode_picture(data: bytes, what: str = "picture") -> np.ndarray:
    """(H, W, 3) uint8 RGB, longer side at most MAX_SIDE; PictureError says what is wrong.
    Slow for a large picture: call it off an event loop."""
    head = read_header(data, what)
    flag = cv2.IMREAD_COLOR
    if head.format == "JPEG":
        for factor, reduced in _REDUCED:  # the largest reduction that still leaves MAX_SIDE
            if max(head.width, head.height) // factor >= MAX_SIDE:
                flag = reduced
                break
    bgr = _over_backdrop(data) if head.transparent else cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if bgr is None or bgr.ndim != 3:
        raise PictureError(
            f"the {what} ({head.format}, {head.width}x{head.height}) is damaged: it does not decode",
            "damaged",
        )
    h, w = bgr.shape[:2]
    if max(h, w) > MAX_SIDE:
        s = MAX_SIDE / max(h, w)
        bgr = cv2.resize(bgr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    if bgr.shape[:2] != (head.height, head.width):
        log.info("%s %dx%d scaled down to %dx%d", what, head.width, head.height, bgr.shape[1], bgr.shape[0])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _over_backdrop(data: bytes) -> np.ndarray | None:
    """(H, W, 3) uint8 BGR, longer side at most MAX_SIDE: a picture with transparency shown over BACKDROP (None: it
    does not decode). Scaled down before it is mixed, with its colours weighted by their opacity (a pixel's
    colour under alpha 0 is no colour): mixed at full size in floats, a 120-megapixel PNG took 2 GB."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            bgra = cv2.cvtColor(np.asarray(ImageOps.exif_transpose(im).convert("RGBA")), cv2.COLOR_RGBA2BGRA)
    except (OSError, SyntaxError, ValueError):
        return None
    if bgra[..., 3].min() == 255:
        return np.ascontiguousarray(bgra[..., :3])
    alpha = bgra[..., 3:]
    colour = cv2.multiply(bgra[..., :3], np.repeat(alpha, 3, axis=2), scale=1.0 / 255.0)  # weighted, uint8
    h, w = alpha.shape[:2]
    if max(h, w) > MAX_SIDE:
        size = (max(1, round(w * MAX_SIDE / max(h, w))), max(1, round(h * MAX_SIDE / max(h, w))))
        colour = cv2.resize(colour, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)[..., None]
    log.info("the picture's transparent parts are shown over light grey")
    a = alpha.astype(np.float32) / 255.0
    out = colour.astype(np.float32) + np.asarray(BACKDROP[::-1], np.float32) * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def read_picture(path: Path, what: str = "picture") -> np.ndarray:
    """decode_picture on a file's bytes; a missing or unreadable file is a PictureError too."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise PictureError(f"cannot read the {what} {path}: {e.strerror or e}") from None
    try:
        return decode_picture(data, "file")
    except PictureError as e:
        raise PictureError(f"cannot read the {what} {path}: {e}", e.kind) from None
