"""torch backend: the .pt2 sidecar path on CPU (eager, fp32), its errors, and CUDA parity where a GPU exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

from engines import BackendUnavailableError, ModelFileError, load_spec, open_runner
from engines.spec import spec_from_onnx, write_spec
from engines.torch_backend import TorchRunner, sidecar_path


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, source: torch.Tensor, aud: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.conv(source) + aud[:, :4, None, None]
        return torch.sigmoid(y[:, :3]), torch.sigmoid(y[:, 3:])


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = Net().eval()
    d = tmp_path_factory.mktemp("torch")
    path = d / "net.onnx"
    args = (torch.rand(2, 3, 16, 16), torch.rand(2, 20))
    torch.onnx.export(
        net,
        args,
        str(path),
        input_names=["source", "aud"],
        output_names=["image", "mask"],
        dynamic_axes={n: {0: "batch"} for n in ("source", "aud", "image", "mask")},
        opset_version=17,
        dynamo=False,
    )
    write_spec(spec_from_onnx(path, "gb", precision="fp32"), path)
    batch = torch.export.Dim("batch")
    ep = torch.export.export(net, args, dynamic_shapes={"source": {0: batch}, "aud": {0: batch}})
    torch.export.save(ep, str(sidecar_path(path)))
    return path


def _feed(b: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(b)
    return {
        "source": rng.random((b, 3, 16, 16), dtype=np.float32),
        "aud": rng.random((b, 20), dtype=np.float32),
    }


def test_cpu_path_matches_onnxruntime(model: Path) -> None:
    with (
        TorchRunner(model, load_spec(model), device="cpu") as t,
        open_runner(model, "onnxruntime", threads=1) as o,
    ):
        for b in (1, 3):
            got, ref = t.infer(_feed(b)), o.infer(_feed(b))
            for k in ("image", "mask"):
                np.testing.assert_allclose(got[k], ref[k], atol=1e-5)


def test_missing_or_corrupt_sidecar(model: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.onnx"
    other.write_bytes(model.read_bytes())
    write_spec(load_spec(model), other)
    with pytest.raises(ModelFileError, match=r"other\.pt2"):
        TorchRunner(other, load_spec(other), device="cpu").activate()
    sidecar_path(other).write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match=r"other\.pt2"):
        TorchRunner(other, load_spec(other), device="cpu").activate()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_without_cuda_the_error_says_so(model: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        open_runner(model, "torch")
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        TorchRunner(model, load_spec(model)).activate()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp16", "autocast"])
def test_cuda_graphs_fp16_match_onnxruntime(model: Path, precision: str) -> None:
    with (
        TorchRunner(model, load_spec(model), precision=precision, compile=False) as t,  # type: ignore[arg-type]
        open_runner(model, "onnxruntime", threads=1) as o,
    ):
        for b in (1, 4, 1):  # the second batch-1 call replays the first captured graph
            got, ref = t.infer(_feed(b)), o.infer(_feed(b))
            mse = float(np.mean((got["image"] - ref["image"]) ** 2))
            assert 10 * np.log10(1 / max(mse, 1e-12)) >= 40


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_shipped_chain_on_cuda_matches_onnxruntime() -> None:
    """The shipped LT -> Gr -> Gb through the torch backend (fp16, torch.compile, CUDA graphs) against ONNX
    Runtime on CPU: the issue's parity bar, 40 dB on the image."""
    from engines.chain import ReenactmentChain

    weights = Path(__file__).resolve().parents[2] / "realtime" / "weights"
    if not (weights / "gr_lite.pt2").is_file():
        pytest.skip(f"no shipped gr_lite.pt2 in {weights}")
    import cv2

    rng = np.random.default_rng(0)
    # A smooth picture, as a face crop is (white noise turned fp16's 0.1-pixel sampling error into 36 dB).
    crop = cv2.resize(rng.random((12, 12, 3), dtype=np.float32), (256, 256), interpolation=cv2.INTER_CUBIC)
    crop = np.ascontiguousarray(crop.clip(0, 1).transpose(2, 0, 1))  # (3, 256, 256)
    ls = np.load(weights / "mean_face.npy")[:, :2].astype(np.float32) * 0.5  # (478, 2) normalised
    aud = rng.random((2, 20), dtype=np.float32) * 0.5
    outs = []
    for backend in ("onnxruntime", "torch"):
        with ReenactmentChain(weights, "lite", backend) as chain:  # type: ignore[arg-type]
            chain.set_source(crop, ls)
            outs.append(chain.run(aud).image)
    mse = float(np.mean((outs[0] - outs[1]) ** 2))
    assert 10 * np.log10(1 / max(mse, 1e-12)) >= 40
