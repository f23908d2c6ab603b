"""The paper's chain LT -> Gr -> Gb, written once for any array type (DESIGN.md sections 2 and 3).

`reenact` is the one place where the foreground/background step is composed: face = P(hair + face) * Ifr,
Gb on it and Ib, Ir = M * Ic + (1 - M) * Ib (eq. 9, inside Gb). The ONNX chain (engines.chain) runs it on
numpy arrays through Runners, the fused torch chain (engines.torch_chain) on device tensors, and training
on its nn.Modules: they differ only in the three callables they hand in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from engines.base import Runner
from engines.spec import EngineError

A = TypeVar("A")  # numpy.ndarray or torch.Tensor: the chain is the same arithmetic on either


class Reenacted(NamedTuple, Generic[A]):
    """One pass of the chain; all batched, (B, ...)."""

    image: A  # (B, 3, S, S) Ir, eq. 9
    mask: A  # (B, 1, S, S) M
    face: A  # (B, 3, S, S) Ifr
    seg: A  # (B, 3, S, S) softmax over (background, hair, face)
    lt: A  # (B, 478, 2) transformed landmarks, eq. 1


CHAIN_OUTPUTS = Reenacted._fields


@dataclass(frozen=True)
class ChainNets(Generic[A]):
    """The three networks as plain calls. `lt` may be None for a chain driven by landmarks only."""

    gr: Callable[[A, A, A], tuple[A, A]]
    """(source, lt, ls) -> (face Ifr, seg probabilities); a Gr without the warping step ignores ls."""
    gb: Callable[[A, A], tuple[A, A]]
    """(foreground, background Ib) -> (image Ir, mask M)."""
    lt: Callable[[A, A], A] | None = None
    """(ls, aud) -> lt = ls + dls (eq. 1)."""


def foreground(face: Any, seg: Any) -> Any:
    """Ifr without its background: face * (P(hair) + P(face)), what Gb reads (paper section 3.3)."""
    return face * (seg[:, 1:2] + seg[:, 2:3])  # (B, 3, S, S)


def reenact(
    nets: ChainNets[A], source: A, ls: A, background: A, *, aud: A | None = None, lt: A | None = None
) -> Reenacted[A]:
    """LT -> Gr -> Gb for driving vectors `aud (B, 20)`, or Gr -> Gb for given landmarks `lt (B, 478, 2)`."""
    if (aud is None) == (lt is None):
        raise ValueError("reenact: pass exactly one of aud= (through LT) or lt= (landmarks as they are)")
    if lt is None:
        if nets.lt is None:
            raise EngineError("reenact: this chain has no LT; drive it with lt=")
        lt = nets.lt(ls, aud)  # type: ignore[arg-type]
    face, seg = nets.gr(source, lt, ls)
    image, mask = nets.gb(foreground(face, seg), background)
    return Reenacted(image, mask, face, seg, lt)


def gr_warps(runner: Runner) -> bool:
    """A Gr with the warping step: its spec lists `source_landmarks` (docs/CONTRACTS.md section 2)."""
    return "source_landmarks" in runner.spec.input_names


def gr_feeds(runner: Runner, source: Any, landmarks: Any, source_landmarks: Any) -> dict[str, Any]:
    """Gr's inputs; a Gr with the warping step (its spec lists `source_landmarks`) also gets ls."""
    feeds = {"source": source, "landmarks": landmarks}
    if gr_warps(runner):
        feeds["source_landmarks"] = source_landmarks
    return feeds


def runner_nets(runners: Mapping[str, Runner]) -> ChainNets[Any]:
    """ChainNets over active Runners (`lt` optional), calling each with its spec's input names."""
    gr, gb, lt = runners["gr"], runners["gb"], runners.get("lt")

    def run_gr(source: Any, landmarks: Any, ls: Any) -> tuple[Any, Any]:
        out = gr.infer(gr_feeds(gr, source, landmarks, ls))
        return out["face"], out["seg"]

    def run_gb(face: Any, background: Any) -> tuple[Any, Any]:
        out = gb.infer({"face": face, "background": background})
        return out["image"], out["mask"]

    def run_lt(ls: Any, aud: Any) -> Any:
        assert lt is not None
        return lt.infer({"ls": ls, "aud": aud})["lt"]

    return ChainNets(gr=run_gr, gb=run_gb, lt=None if lt is None else run_lt)
