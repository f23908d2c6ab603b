"""The one Runner lifecycle every backend follows (after Polygraphy's runners).

    with SomeRunner(path, spec) as r:        # activate: load, build, allocate
        out = r.infer({"source": x, ...})    # validated in, validated out
    # deactivate: free sessions, engines, device buffers

Backends implement `_activate`, `_infer` and `_deactivate`; `infer` does the checks so that every backend
refuses the same bad input with the same message.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from engines.spec import EngineError, IOSpec, SpecMismatchError, check_arrays

log = logging.getLogger(__name__)


class BackendUnavailableError(EngineError):
    """A backend was asked for but its libraries or hardware are missing; the message says what to install."""


class Runner(abc.ABC):
    """Runs one exported network. Use as a context manager; `infer` only while active."""

    backend: str = "?"

    def __init__(self, model_path: str | Path, spec: IOSpec) -> None:
        self.model_path = Path(model_path)
        self.spec = spec
        self._active = False

    @property
    def name(self) -> str:
        return f"{self.backend}:{self.model_path.name}"

    @property
    def is_active(self) -> bool:
        return self._active

    def activate(self) -> Self:
        if not self._active:
            self._activate()
            self._active = True
            log.debug("activated %s", self.name)
        return self

    def deactivate(self) -> None:
        if self._active:
            self._active = False
            self._deactivate()
            log.debug("deactivated %s", self.name)

    def __enter__(self) -> Self:
        return self.activate()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.deactivate()

    def infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the network on `feed` (names, shapes and dtypes of the spec); return the spec's outputs."""
        if not self._active:
            raise EngineError(f"{self.name}: infer() called outside `with runner:` (or after close)")
        dims = check_arrays(self.spec.inputs, feed, "input", self.model_path.name)
        out = self._infer(feed)
        out_dims = check_arrays(self.spec.outputs, out, "output", self.model_path.name)
        for d, n in out_dims.items():
            if d in dims and dims[d] != n:
                raise SpecMismatchError(
                    f"{self.model_path.name}: output dimension {d!r} is {n}, input had {dims[d]} ({self.backend})"
                )
        return out

    @abc.abstractmethod
    def _activate(self) -> None:
        """Load and prepare everything `_infer` needs."""

    @abc.abstractmethod
    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on an already validated feed; return numpy arrays keyed by output name."""

    @abc.abstractmethod
    def _deactivate(self) -> None:
        """Release what `_activate` took."""
