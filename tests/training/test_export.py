"""facegan-export: ONNX fp32/fp16 with parity against torch (fp32 max abs <= 1e-4, fp16 PSNR >= 40 dB), spec, card."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from _synthetic_dataset import write_synthetic_dataset

from training.fitting.train import main as train_main
from training.release import export


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("exp")
    data = write_synthetic_dataset(tmp / "ds", n_tracks=3, frames=3, size=32, seed=0)
    common = [
        "--data",
        str(data),
        "--config",
        "tiny",
        "--size",
        "32",
        "--steps",
        "1",
        "--val-pairs",
        "4",
        "--threads",
        "1",
        "--no-tensorboard",
    ]
    assert train_main(["la", "--out", str(tmp / "la"), *common]) == 0
    assert train_main(["lt", "--out", str(tmp / "lt"), "--la", str(tmp / "la"), *common]) == 0
    assert train_main(["joint", "--out", str(tmp / "joint"), *common]) == 0
    assert train_main(["gr", "--out", str(tmp / "gr_warp"), "--warp", *common]) == 0
    return tmp


@pytest.mark.parametrize("run,names", [("la", ["la"]), ("lt", ["lt"]), ("joint", ["gr_tiny", "gb_tiny"])])
def test_export_parity_spec_and_card(runs, run, names, tmp_path):
    assert export.main([str(runs / run), "--out", str(tmp_path)]) == 0
    for name in names:
        spec = json.loads((tmp_path / f"{name}.spec.json").read_text())
        assert spec["format"] == "facegan-io-spec" and spec["precision"] == "fp16" and spec["opset"] == 17
        assert all(
            t["shape"][0] == "batch" and t["dtype"] == "float32" for t in spec["inputs"] + spec["outputs"]
        )
        model = onnx.load(str(tmp_path / f"{name}.onnx"))
        assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
        card = (tmp_path / f"{name}.md").read_text()
        assert "Identities held out" in card and "fp32_max_abs" in card


def test_pt2_sidecar_for_the_chain_networks(runs, tmp_path):
    """CONTRACTS.md 2: <name>.pt2 = torch.export of the fp32 network, batch dynamic, outputs in spec order."""
    assert export.main([str(runs / "joint"), "--out", str(tmp_path), "--net", "gr"]) == 0
    assert export.main([str(runs / "la"), "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "la.pt2").exists()  # La is not in the chain
    prog = torch.export.load(str(tmp_path / "gr_tiny.pt2")).module()
    ck = export.load_checkpoint(runs / "joint")
    net = export.build_models(ck["config"])["gr"]
    net.load_state_dict(ck["models"]["gr"])
    net.eval()
    args = export.example_inputs("gr", 32, batch=3)
    with torch.no_grad():
        for a, b in zip(prog(*args), net(*args), strict=True):
            assert a.shape[0] == 3 and torch.allclose(a, b, atol=1e-5)


def test_parity_numbers_and_dynamic_batch(runs):
    ck = export.load_checkpoint(runs / "joint")
    model = export.build_models(ck["config"])["gr"]
    model.load_state_dict(ck["models"]["gr"])
    model.eval()
    args = export.example_inputs("gr", 32, batch=3)
    with torch.no_grad():
        ref = model(*args)
        b32 = export.to_onnx(model, export.example_inputs("gr", 32, batch=2), export.IO["gr"])
        import copy

        b16 = export.to_onnx(
            export._Fp16(copy.deepcopy(model)), export.example_inputs("gr", 32), export.IO["gr"]
        )
    out32 = export.run_onnx(b32, export.IO["gr"].inputs, args)  # batch 3 through a batch-2 export
    out16 = export.run_onnx(export._upcast(b16), export.IO["gr"].inputs, args)
    rep = export.check_parity("gr", export.IO["gr"], ref, out32, out16)
    assert rep["face_fp32_max_abs"] <= 1e-4 and rep["face_fp16_psnr_db"] >= 40
    assert out32[0].shape == (3, 3, 32, 32)


def test_parity_failure_is_loud():
    ref = (torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    bad = [np.full((1, 3, 8, 8), 0.1, np.float32)] * 2
    with pytest.raises(export.ParityError, match="fp32"):
        export.check_parity("gr", export.IO["gr"], ref, bad, bad)


def test_spec_is_read_by_the_engines(runs, tmp_path):
    spec_mod = pytest.importorskip("engines.spec")
    assert export.main([str(runs / "joint"), "--out", str(tmp_path)]) == 0
    spec = spec_mod.load_spec(tmp_path / "gr_tiny.onnx")
    assert spec.input_names == ("source", "landmarks") and spec.output_names == ("face", "seg")
    # The CPU backend widens fp16 graphs at load (engines.fp16); the widened graph must load and run.
    sess = ort.InferenceSession(
        export._upcast((tmp_path / "gr_tiny.onnx").read_bytes()), providers=["CPUExecutionProvider"]
    )
    out = sess.run(
        None, {n: a.numpy() for n, a in zip(spec.input_names, export.example_inputs("gr", 32), strict=True)}
    )
    assert out[0].shape == (2, 3, 32, 32)


def test_warping_gr_exports_with_source_landmarks(runs, tmp_path):
    """A Gr with the warping step takes ls as a third input; its ONNX (grid_sample inside) matches torch."""
    assert export.main([str(runs / "gr_warp"), "--out", str(tmp_path)]) == 0
    spec = json.loads((tmp_path / "gr_tiny.spec.json").read_text())
    assert [t["name"] for t in spec["inputs"]] == ["source", "landmarks", "source_landmarks"]
    card = (tmp_path / "gr_tiny.md").read_text()
    assert "face_fp16_psnr_db" in card


def test_export_at_another_size_is_said_in_the_card(runs, tmp_path):
    assert export.main([str(runs / "gr_warp"), "--out", str(tmp_path), "--size", "64"]) == 0
    spec = json.loads((tmp_path / "gr_tiny.spec.json").read_text())
    assert spec["image_size"] == 64 and spec["inputs"][0]["shape"] == ["batch", 3, 64, 64]
    assert "trained on whole 32x32 crops" in (tmp_path / "gr_tiny.md").read_text()
