"""What every sink is: a context manager with send(frame), frame.image being the output picture."""

from __future__ import annotations

from typing import Protocol, Self

import numpy as np

from realtime.frames import Frame


class Sink(Protocol):
    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def send(self, frame: Frame) -> None: ...


def check_image(image: np.ndarray, width: int, height: int, who: str) -> None:
    """Refuse, with a clear message, what the sink would otherwise have to convert silently."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError(
            f"{who}: frame must be a uint8 numpy array, got {getattr(image, 'dtype', type(image))}"
        )
    if image.shape != (height, width, 3):
        raise ValueError(
            f"{who}: frame shape {image.shape} does not match the sink's ({height}, {width}, 3) RGB"
        )
