"""Static INT8 quantisation (ONNX Runtime, QDQ) of Gr and Gb, calibrated on real face crops.

Static, not dynamic: dynamic int8 quantises activations at run time and measured slower than fp32 on
these U-Nets (STACK-NOTES.md). LT is a tiny MLP and stays as shipped.

Calibration frames (docs/CONTRACTS.md section 6), an .npz written by calibrate/:
    crops (N, S, S, 3) uint8 RGB aligned crops; landmarks (N, 478, 2) float32 normalised;
    aud (N, 20) float32 driving vectors; optional identity (N,) str (held-out split by person).

    python -m engines.quantize --weights realtime/weights --model lite --frames calib.npz
writes `gr_lite.int8.onnx`, `gb_lite.int8.onnx` (+ specs) and prints speed and PSNR against the shipped model.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.chain import VARIANTS, ReenactmentChain, Variant, chain_paths
from engines.compose import foreground, gr_feeds
from engines.onnxruntime_backend import load_onnx
from engines.spec import ModelFileError, load_spec, sha256_file, write_spec

log = logging.getLogger(__name__)

Feed = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class CalibrationFrames:
    crops: np.ndarray  # (N, 3, S, S) float32 in [0, 1]
    landmarks: np.ndarray  # (N, 478, 2) float32 normalised
    aud: np.ndarray  # (N, 20) float32
    identity: np.ndarray | None = None  # (N,) str

    def __len__(self) -> int:
        return int(self.crops.shape[0])

    def subset(self, idx: np.ndarray) -> CalibrationFrames:
        ident = None if self.identity is None else self.identity[idx]
        return CalibrationFrames(self.crops[idx], self.landmarks[idx], self.aud[idx], ident)

    def split(self, n_calib: int) -> tuple[CalibrationFrames, CalibrationFrames]:
        """(calibration, held-out); by person when identities are known, so held-out faces are unseen."""
        n = len(self)
        if self.identity is None:
            idx = np.arange(n)
            return self.subset(idx[:n_calib]), self.subset(idx[n_calib:])
        people = list(dict.fromkeys(self.identity.tolist()))
        calib = np.zeros(n, bool)
        for p in people:  # add whole people until the calibration set is big enough
            if calib.sum() >= n_calib or p == people[-1]:
                break
            calib |= self.identity == p
        return self.subset(np.flatnonzero(calib)), self.subset(np.flatnonzero(~calib))


def load_calibration_frames(path: str | Path) -> CalibrationFrames:
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
        crops, lms, aud = z["crops"], z["landmarks"], z["aud"]
        ident = z["identity"] if "identity" in z.files else None
    except (OSError, KeyError, ValueError) as exc:
        raise ModelFileError(f"calibration frames {path}: {exc} (need crops, landmarks, aud)") from exc
    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[-1] != 3:
        raise ModelFileError(f"{path}: crops must be (N, S, S, 3) uint8, got {crops.shape} {crops.dtype}")
    if not (len(crops) == len(lms) == len(aud)) or (ident is not None and len(ident) != len(crops)):
        raise ModelFileError(f"{path}: crops, landmarks, aud (and identity) differ in length")
    crops_f = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0  # (N, 3, S, S)
    return CalibrationFrames(crops_f, lms.astype(np.float32), aud.astype(np.float32), ident)


def chain_feeds(weights_dir: Path, variant: Variant, frames: CalibrationFrames) -> dict[str, list[dict]]:
    """Per-network inputs as the shipped chain produces them: frame i's face driven by frame i+1's aud."""
    feeds: dict[str, list[dict]] = {"gr": [], "gb": []}
    with ReenactmentChain(weights_dir, variant, "onnxruntime") as chain:
        for i in range(len(frames)):
            src = chain.set_source(frames.crops[i], frames.landmarks[i])
            aud = frames.aud[(i + 1) % len(frames)][None]  # (1, 20): someone else's expression
            out = chain.run(aud)
            feeds["gr"].append(gr_feeds(chain.runners["gr"], src.source[None], out.lt, src.ls[None]))
            feeds["gb"].append({"face": foreground(out.face, out.seg), "background": src.background[None]})
    return feeds


def quantize_static_int8(
    model_path: str | Path,
    calibration: Sequence[Feed],
    out_path: str | Path | None = None,
    *,
    per_channel: bool = True,
) -> Path:
    """Write `<name>.int8.onnx` (QDQ, uint8 activations, int8 weights) and its spec; return its path."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it = iter(calibration)

        def get_next(self) -> dict | None:
            feed = next(self._it, None)
            return None if feed is None else dict(feed)

    src = Path(model_path)
    spec = load_spec(src)
    out = Path(out_path) if out_path else src.with_name(src.name.removesuffix(".onnx") + ".int8.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx"
        fp32.write_bytes(load_onnx(src))  # quantisation needs float32 weights: upcast the fp16 export
        try:
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        except Exception as exc:  # noqa: BLE001 - pre-processing only helps; quantising without it still works
            log.warning("%s: quant_pre_process failed (%s); quantising without it", src.name, exc)
            pre = fp32
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    write_spec(dataclasses.replace(spec, precision="int8", onnx_sha256=sha256_file(out)), out)
    log.info("%s: wrote %s from %d calibration feeds", src.name, out.name, len(calibration))
    return out


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


@dataclass(frozen=True)
class QuantReport:
    variant: str
    calib_frames: int
    heldout_frames: int
    shipped_ms: float
    """Median whole-chain ms per frame, batch 1, shipped (fp16 upcast to fp32) weights."""
    int8_ms: float
    speedup: float
    psnr_db: float
    """Mean PSNR of the int8 chain's image against the shipped chain's, held-out frames, [0, 1] scale."""


def _time_chain(chain: ReenactmentChain, aud: np.ndarray, repeats: int) -> float:
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        chain.run(aud[i % len(aud)][None])
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def evaluate_int8(
    weights_dir: Path, variant: Variant, heldout: CalibrationFrames, repeats: int = 30
) -> QuantReport:
    """Speed and PSNR of the int8 chain against the shipped one on held-out frames."""
    images: dict[str, list[np.ndarray]] = {"shipped": [], "int8": []}
    ms: dict[str, float] = {}
    for precision in ("shipped", "int8"):
        with ReenactmentChain(weights_dir, variant, "onnxruntime", precision=precision) as chain:  # type: ignore[arg-type]
            for i in range(len(heldout)):
                chain.set_source(heldout.crops[i], heldout.landmarks[i])
                images[precision].append(chain.run(heldout.aud[(i + 1) % len(heldout)][None]).image)
            ms[precision] = _time_chain(chain, heldout.aud, repeats)
    score = float(np.mean([psnr(a, b) for a, b in zip(images["shipped"], images["int8"], strict=True)]))
    return QuantReport(variant, 0, len(heldout), ms["shipped"], ms["int8"], ms["shipped"] / ms["int8"], score)


def quantize_chain(
    weights_dir: str | Path, variant: Variant, frames: CalibrationFrames, n_calib: int = 32
) -> QuantReport:
    """Quantise Gr and Gb of `variant` in place next to the shipped files and report on held-out frames."""
    weights_dir = Path(weights_dir)
    calib, heldout = frames.split(n_calib)
    if len(calib) == 0 or len(heldout) == 0:
        raise ValueError(f"need calibration and held-out frames; got {len(calib)} and {len(heldout)}")
    feeds = chain_feeds(weights_dir, variant, calib)
    paths = chain_paths(weights_dir, variant)
    for net in ("gr", "gb"):
        quantize_static_int8(paths[net], feeds[net])
    report = evaluate_int8(weights_dir, variant, heldout)
    return dataclasses.replace(report, calib_frames=len(calib))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engines.quantize", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", type=Path, required=True, help="folder with lt/gr_<model>/gb_<model>.onnx")
    p.add_argument("--model", choices=VARIANTS, default="lite")
    p.add_argument("--frames", type=Path, required=True, help="calibration frames .npz (see module doc)")
    p.add_argument("--calib", type=int, default=32, help="frames used for calibration; the rest are held out")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    r = quantize_chain(args.weights, args.model, load_calibration_frames(args.frames), args.calib)
    print(
        f"int8 {r.variant}: calibrated on {r.calib_frames} frames, evaluated on {r.heldout_frames} held-out"
    )
    print(
        f"chain batch 1: shipped {r.shipped_ms:.1f} ms, int8 {r.int8_ms:.1f} ms ({r.speedup:.2f}x); "
        f"PSNR int8 vs shipped {r.psnr_db:.1f} dB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
