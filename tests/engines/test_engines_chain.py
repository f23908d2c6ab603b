"""The whole chain on tiny seeded lt/gr/gb networks with the contract's I/O names (CONTRACTS.md 2 and 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
nn = torch.nn

from engines import ModelFileError, SpecMismatchError, open_runner
from engines.chain import ReenactmentChain
from engines.spec import load_spec, spec_from_onnx, write_spec
from engines.torch_backend import TorchRunner, sidecar_path
from engines.torch_chain import FusedTorchChain

S = 32  # tiny images keep the test fast; the chain reads S from Gr's spec
N = 478


class TinyLT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(N * 2 + 20, N * 2)

    def forward(self, ls: torch.Tensor, aud: torch.Tensor) -> torch.Tensor:
        x = torch.cat([ls.flatten(1), aud], 1).to(self.fc.weight.dtype)
        dls = 0.05 * torch.tanh(self.fc(x)).float().view(-1, N, 2)  # (B, 478, 2)
        return ls + dls  # eq. 1


class TinyGr(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, padding=1)

    def forward(self, source: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        dt = self.conv.weight.dtype
        grid = torch.linspace(-1, 1, S, dtype=dt)
        px = torch.exp(-((grid[None, None] - landmarks[..., 0:1].to(dt)) ** 2) * 200)  # (B, N, S)
        py = torch.exp(-((grid[None, None] - landmarks[..., 1:2].to(dt)) ** 2) * 200)
        ht = torch.clamp(torch.einsum("bny,bnx->byx", py, px), max=1)[:, None]  # (B, 1, S, S)
        y = self.conv(torch.cat([source.to(dt), ht], 1))
        return torch.sigmoid(y[:, :3]).float(), torch.softmax(y[:, 3:], 1).float()


class TinyWarpGr(TinyGr):
    """A Gr with the warping step's signature: the face is shifted by the mean landmark motion ls -> lt."""

    def forward(self, source: torch.Tensor, landmarks: torch.Tensor, source_landmarks: torch.Tensor):  # type: ignore[override]
        face, seg = super().forward(source, landmarks)
        shift = (source_landmarks - landmarks).float().mean(1)  # (B, 2)
        return (face + shift.sum(1).view(-1, 1, 1, 1)).clamp(0, 1), seg


class TinyGb(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(6, 4, 3, padding=1)

    def forward(self, face: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
        y = self.conv(torch.cat([face, background], 1).to(self.conv.weight.dtype)).float()
        ic, m = torch.sigmoid(y[:, :3]), torch.sigmoid(y[:, 3:4])
        return m * ic + (1 - m) * background, m  # eq. 9


NETS = {
    "lt": (TinyLT, ["ls", "aud"], ["lt"], [(1, N, 2), (1, 20)]),
    "gr": (TinyGr, ["source", "landmarks"], ["face", "seg"], [(1, 3, S, S), (1, N, 2)]),
    "gb": (TinyGb, ["face", "background"], ["image", "mask"], [(1, 3, S, S), (1, 3, S, S)]),
    "gr_warp": (
        TinyWarpGr,
        ["source", "landmarks", "source_landmarks"],
        ["face", "seg"],
        [(1, 3, S, S), (1, N, 2), (1, N, 2)],
    ),
}


def export_tiny(out_dir: Path, net: str, file_name: str, half: bool = True) -> Path:
    """Export a seeded tiny network as fp16-weight ONNX with float32 I/O, plus its spec."""
    cls, ins, outs, shapes = NETS[net]
    torch.manual_seed({"lt": 0, "gr": 1, "gb": 2, "gr_warp": 1}[net])
    model = cls().eval()
    if half:
        model = model.half()
    args = tuple(torch.rand(*s) for s in shapes)
    path = out_dir / file_name
    axes = {n: {0: "batch"} for n in ins + outs}
    torch.onnx.export(
        model,
        args,
        str(path),
        input_names=ins,
        output_names=outs,
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )
    network = net.removesuffix("_warp")
    spec = spec_from_onnx(
        path, network, variant=None if net == "lt" else "lite", image_size=S, num_landmarks=N
    )
    write_spec(spec, path)
    # The torch backend's sidecar (CONTRACTS.md 2): the fp32 network (fp16-rounded weights), dynamic batch.
    batch = torch.export.Dim("batch")
    args2 = tuple(torch.rand(2, *s[1:]) for s in shapes)
    ep = torch.export.export(model.float(), args2, dynamic_shapes={n: {0: batch} for n in ins})
    torch.export.save(ep, str(sidecar_path(path)))
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("weights")
    export_tiny(d, "lt", "lt.onnx")
    export_tiny(d, "gr", "gr_lite.onnx")
    export_tiny(d, "gb", "gb_lite.onnx")
    return d


def _source(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    crop = rng.random((3, S, S), dtype=np.float32)
    ls = rng.uniform(-0.8, 0.8, (N, 2)).astype(np.float32)
    return crop, ls


def test_chain_matches_the_three_runners_called_by_hand(weights: Path) -> None:
    crop, ls = _source()
    aud = np.random.default_rng(1).random((3, 20), dtype=np.float32)
    with ReenactmentChain(weights, "lite", backend="onnxruntime", threads=1) as chain:
        src = chain.set_source(crop, ls)
        out = chain.run(aud)
    assert out.image.shape == (3, 3, S, S) and out.mask.shape == (3, 1, S, S)
    assert out.lt.shape == (3, N, 2) and out.seg.shape == (3, 3, S, S)
    np.testing.assert_allclose(out.seg.sum(1), 1.0, atol=1e-5)

    with (
        open_runner(weights / "lt.onnx", "onnxruntime", threads=1) as lt,
        open_runner(weights / "gr_lite.onnx", "onnxruntime", threads=1) as gr,
        open_runner(weights / "gb_lite.onnx", "onnxruntime", threads=1) as gb,
    ):
        own = gr.infer({"source": crop[None], "landmarks": ls[None]})["seg"]
        ib = crop[None] * own[:, 0:1]
        np.testing.assert_allclose(src.background, ib[0], atol=1e-6)
        for b in range(3):
            t = lt.infer({"ls": ls[None], "aud": aud[b : b + 1]})["lt"]
            g = gr.infer({"source": crop[None], "landmarks": t})
            face = g["face"] * (g["seg"][:, 1:2] + g["seg"][:, 2:3])
            r = gb.infer({"face": face, "background": ib})
            np.testing.assert_allclose(out.image[b], r["image"][0], atol=1e-5)
            np.testing.assert_allclose(out.lt[b], t[0], atol=1e-6)


def test_chain_batches_several_sources(weights: Path) -> None:
    aud = np.random.default_rng(2).random((2, 20), dtype=np.float32)
    with ReenactmentChain(weights, "lite", backend="onnxruntime", threads=1) as chain:
        a, b = chain.prepare_source(*_source(3)), chain.prepare_source(*_source(4))
        both = chain.run(aud, sources=[a, b])
        chain.set_source(*_source(4))
        only_b = chain.run(aud[1:2])
    np.testing.assert_allclose(both.image[1], only_b.image[0], atol=1e-5)
    assert not np.allclose(both.image[0], both.image[1])


def test_chain_errors(weights: Path, tmp_path: Path) -> None:
    with ReenactmentChain(weights, "lite", backend="onnxruntime", threads=1) as chain:
        with pytest.raises(Exception, match="set_source"):
            chain.run(np.zeros((1, 20), np.float32))
        with pytest.raises(SpecMismatchError, match="crop"):
            chain.set_source(np.zeros((3, S + 1, S), np.float32), np.zeros((N, 2), np.float32))
        chain.set_source(*_source())
        with pytest.raises(SpecMismatchError, match="float64"):
            chain.run(np.zeros((1, 20)))
    with pytest.raises(ModelFileError, match="gr_full.onnx"):
        ReenactmentChain(weights, "full", backend="onnxruntime")
    with pytest.raises(ModelFileError, match="gr_lite.int8.onnx"):
        ReenactmentChain(weights, "lite", backend="onnxruntime", precision="int8")


def test_quantize_chain_writes_int8_models_and_reports(weights: Path, tmp_path: Path) -> None:
    import shutil

    from engines.quantize import CalibrationFrames, quantize_chain

    for f in weights.iterdir():  # a private copy: int8 files are written next to the shipped ones
        shutil.copy(f, tmp_path / f.name)
    rng = np.random.default_rng(5)
    frames = CalibrationFrames(
        crops=rng.random((6, 3, S, S), dtype=np.float32),
        landmarks=rng.uniform(-0.8, 0.8, (6, N, 2)).astype(np.float32),
        aud=rng.random((6, 20), dtype=np.float32),
        identity=np.array(["a", "a", "b", "b", "c", "c"]),
    )
    report = quantize_chain(tmp_path, "lite", frames, n_calib=3)
    assert (report.calib_frames, report.heldout_frames) == (4, 2)  # whole people: a and b calibrate
    assert report.psnr_db > 25  # a tiny conv net loses little to int8
    assert report.shipped_ms > 0 and report.int8_ms > 0
    with ReenactmentChain(tmp_path, "lite", "onnxruntime", precision="int8", threads=1) as chain:
        assert chain.runners["gr"].spec.precision == "int8"
        chain.set_source(*_source())
        assert chain.run(frames.aud[:2]).image.shape == (2, 3, S, S)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_fused_torch_chain_cpu_path_matches_onnxruntime(weights: Path, precision: str) -> None:
    crop, ls = _source()
    aud = np.random.default_rng(6).random((2, 20), dtype=np.float32)
    with ReenactmentChain(weights, "lite", backend="onnxruntime", threads=1) as chain:
        src = chain.set_source(crop, ls)
        ref = chain.run(aud)
    names = {"lt": "lt.onnx", "gr": "gr_lite.onnx", "gb": "gb_lite.onnx"}
    runners = {
        n: TorchRunner(weights / f, load_spec(weights / f), device="cpu", precision=precision)  # type: ignore[arg-type]
        for n, f in names.items()
    }
    for r in runners.values():
        r.activate()
    try:
        fused = FusedTorchChain(runners["lt"], runners["gr"], runners["gb"])
        tile = [np.repeat(a[None], 2, 0) for a in (src.ls, src.source, src.background)]
        got = fused.run(tile[0], aud, tile[1], tile[2])
    finally:
        for r in runners.values():
            r.deactivate()
    for k in ("image", "mask", "face", "seg", "lt"):
        # The ONNX computes in fp16; the .pt2 in fp32, or in fp16 after `_half_float_literals` (TinyGr bakes
        # a float32 linspace into the exported graph, which would otherwise break the half conv).
        assert got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], getattr(ref, k), atol=3e-3, err_msg=k)
    mse = float(np.mean((got["image"] - ref.image) ** 2))
    assert 10 * np.log10(1 / mse) >= 40  # the issue's parity bar


def test_chain_feeds_the_source_landmarks_to_a_warping_gr(weights: Path, tmp_path: Path) -> None:
    """A Gr whose spec lists `source_landmarks` (the warping step) gets ls from the chain, on both paths."""
    import shutil

    for f in weights.iterdir():
        if f.name.startswith(("lt.", "gb_lite.")):
            shutil.copy(f, tmp_path / f.name)
    export_tiny(tmp_path, "gr_warp", "gr_lite.onnx")
    crop, ls = _source()
    aud = np.random.default_rng(7).random((2, 20), dtype=np.float32)
    with ReenactmentChain(tmp_path, "lite", backend="onnxruntime", threads=1) as chain:
        chain.set_source(crop, ls)
        out = chain.run(aud)
    with open_runner(tmp_path / "gr_lite.onnx", "onnxruntime", threads=1) as gr:
        want = gr.infer(
            {
                "source": np.repeat(crop[None], 2, 0),
                "landmarks": out.lt,
                "source_landmarks": np.repeat(ls[None], 2, 0),
            }
        )
    np.testing.assert_allclose(out.face, want["face"], atol=1e-6)
    runners = [
        TorchRunner(tmp_path / f, load_spec(tmp_path / f), device="cpu", precision="fp32")
        for f in ("lt.onnx", "gr_lite.onnx", "gb_lite.onnx")
    ]
    for r in runners:
        r.activate()
    try:
        src = [np.repeat(a[None], 2, 0) for a in (ls, crop, crop * 0.5)]
        got = FusedTorchChain(*runners).run(src[0], aud, src[1], src[2])
    finally:
        for r in runners:
            r.deactivate()
    np.testing.assert_allclose(got["face"], out.face, atol=3e-3)


def test_bench_cli_writes_the_issue_json_format(weights: Path, tmp_path: Path) -> None:
    import json

    from engines.bench import main

    out = tmp_path / "bench.json"
    argv = ["--weights", str(weights), "--backend", "onnxruntime", "--batch", "1", "2"]
    assert main([*argv, "--iters", "2", "--warmup", "1", "--threads", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert "cores" in data["machine"]
    rows = data["results"]
    assert {(r["target"], r["batch"]) for r in rows} == {
        (t, b) for t in ("lt", "gr", "gb", "chain") for b in (1, 2)
    }
    keys = {"target", "model", "backend", "batch", "size", "median_ms", "p99_ms", "fps"}
    assert all(set(r) == keys and r["size"] == S and r["backend"] == "onnxruntime" for r in rows)


def test_run_lt_is_run_without_lt_on_both_paths(weights: Path, tmp_path: Path) -> None:
    """`run_lt(lt)` gives what `run(aud)` gives for the lt LT made, also from a chain opened without LT."""
    import shutil

    for f in weights.iterdir():
        if f.name.startswith(("gr_lite.", "gb_lite.")):
            shutil.copy(f, tmp_path / f.name)
    crop, ls = _source()
    aud = np.random.default_rng(8).random((2, 20), dtype=np.float32)
    with ReenactmentChain(weights, "lite", backend="onnxruntime", threads=1) as chain:
        chain.set_source(crop, ls)
        ref = chain.run(aud)
    with ReenactmentChain(tmp_path, "lite", backend="onnxruntime", lt=False, threads=1) as chain:
        src = chain.set_source(crop, ls)
        got = chain.run_lt(ref.lt)
        with pytest.raises(Exception, match="run_lt"):
            chain.run(aud)
    for k in ("image", "mask", "face", "seg", "lt"):
        np.testing.assert_array_equal(getattr(got, k), getattr(ref, k), err_msg=k)
    runners = [
        TorchRunner(tmp_path / f, load_spec(tmp_path / f), device="cpu", precision="fp32")
        for f in ("gr_lite.onnx", "gb_lite.onnx")
    ]
    for r in runners:
        r.activate()
    try:
        tile = [np.repeat(a[None], 2, 0) for a in (src.ls, src.source, src.background)]
        fused = FusedTorchChain(None, *runners).run_lt(tile[0], ref.lt, tile[1], tile[2])
    finally:
        for r in runners:
            r.deactivate()
    np.testing.assert_allclose(fused["image"], ref.image, atol=3e-3)
