"""One progress bar over a whole evaluation: tqdm when it is installed, else a plain counter on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, Self, TextIO, TypeVar

T = TypeVar("T")


class Progress:
    """`with Progress(total, "evaluate") as bar: for x in bar.wrap(items, "self"): ...` advances one unit per
    item. Without tqdm it writes `evaluate: 12/309 self` to stderr, at most every `every_s` seconds."""

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        stream: TextIO | None = None,
        every_s: float = 5.0,
        use_tqdm: bool = True,
    ) -> None:
        self.total, self.desc, self.done = total, desc, 0
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self._last = 0.0
        self._bar: Any = None
        if use_tqdm:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, desc=desc, file=self.stream, unit="step")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            self._line("done", force=True)

    def advance(self, stage: str, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.set_postfix_str(stage, refresh=False)
            self._bar.update(n)
        else:
            self._line(stage)

    def shrink(self, n: int) -> None:
        """n fewer steps than announced (work that turned out not to exist)."""
        if n <= 0:
            return
        self.total -= n
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def wrap(self, items: Iterable[T], stage: str) -> Iterator[T]:
        for item in items:
            yield item
            self.advance(stage)

    def _line(self, stage: str, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.every_s or self.done == self.total:
            self._last = now
            print(f"{self.desc}: {self.done}/{self.total} {stage}", file=self.stream, flush=True)
