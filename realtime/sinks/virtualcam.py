"""Virtual camera sink through pyvirtualcam (v4l2loopback on Linux, OBS on macOS and Windows)."""

from __future__ import annotations

import logging
from typing import Any, Self

import numpy as np

from realtime.errors import SetupError
from realtime.frames import Frame
from realtime.sinks.base import check_image

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install a virtual camera - Linux: v4l2loopback (sudo apt install v4l2loopback-dkms && "
    "sudo modprobe v4l2loopback exclusive_caps=1); macOS: OBS Studio, then start its virtual camera once; "
    "Windows: OBS Studio (its virtual camera) - or use --sink webrtc or --sink file:out.mp4"
)


class VirtualCamSink:
    """`with VirtualCamSink(width=..., height=..., fps=...) as cam: cam.send(frame)`."""

    def __init__(
        self, *, width: int, height: int, fps: float, backend: str | None = None, device: str | None = None
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.backend, self.device = backend, device
        self._cam: Any = None

    def __enter__(self) -> Self:
        import pyvirtualcam

        try:
            self._cam = pyvirtualcam.Camera(
                self.width,
                self.height,
                self.fps,
                fmt=pyvirtualcam.PixelFormat.RGB,
                backend=self.backend,
                device=self.device,
                print_fps=False,
            )
        except (RuntimeError, ValueError, OSError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise SetupError(f"cannot open a virtual camera ({reason}): {INSTALL_HINT}") from None
        log.info("virtual camera %s (%dx%d @ %.0f fps)", self._cam.device, self.width, self.height, self.fps)
        return self

    def send(self, frame: Frame) -> None:
        """Refuses a frame that is not (height, width, 3) uint8 RGB instead of converting it."""
        check_image(frame.image, self.width, self.height, "virtual camera")
        assert self._cam is not None, "use the sink as a context manager"
        self._cam.send(np.ascontiguousarray(frame.image))

    def __exit__(self, *exc: object) -> None:
        if self._cam is not None:
            self._cam.close()
            self._cam = None
