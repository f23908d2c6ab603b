"""facegan-distill-au pieces: mirror map, identity split, scoring, a tiny seeded fit + fp16 ONNX export, and
the extraction on a few real frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.au.distill import (
    DistillData,
    SamplingConfig,
    TrainConfig,
    extract,
    fit_and_export,
    load_cache,
    mirror_landmarks,
    score,
    split_identities,
    summary,
)
from training.models.au_head import AUHeadConfig

DATA = Path(__file__).parents[1].parent.parent / "shared" / "data" / "dev"
TEACHER = DATA.parent.parent / "models" / "face_landmarker.task"
MEAN_FACE = Path(__file__).parents[2] / "realtime" / "weights" / "mean_face.npy"


def _synthetic(n: int = 240, seed: int = 0) -> DistillData:
    """Mean-face meshes with a random similarity pose and a 'jaw' that opens with AU26."""
    rng = np.random.default_rng(seed)
    mean = np.load(MEAN_FACE).astype(np.float64)
    aus = np.zeros((n, 17), np.float32)
    aus[:, 15] = rng.uniform(0, 1, n)  # AU26
    lms = []
    for i in range(n):
        pts = mean.copy()
        pts[pts[:, 1] > 0.5, 1] += 0.3 * aus[i, 15]  # chin points move down
        a = rng.uniform(-0.3, 0.3)
        rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        lms.append((pts @ rot.T) * rng.uniform(80, 120) + [rng.uniform(100, 200), rng.uniform(100, 200), 0])
    ident = np.array([f"p{i % 12}" for i in range(n)])
    kind = np.array(["video" if i % 12 < 6 else "photo" for i in range(n)])
    return DistillData(np.array(lms, np.float32), aus, ident, ident, kind)


def test_mirror_is_an_involution() -> None:
    pts = np.random.default_rng(0).normal(size=(3, 478, 3)).astype(np.float32)
    np.testing.assert_array_equal(mirror_landmarks(mirror_landmarks(pts)), pts)


def test_split_holds_out_whole_identities_of_both_kinds() -> None:
    d = _synthetic()
    held = split_identities(d.identity, d.kind, 0.2, seed=3)
    assert not set(d.identity[held]) & set(d.identity[~held])
    assert {"video", "photo"} <= set(d.kind[held])
    np.testing.assert_array_equal(held, split_identities(d.identity, d.kind, 0.2, seed=3))


def test_score_marks_moving_aus() -> None:
    t = np.zeros((50, 17), np.float32)
    t[:, 16] = np.linspace(0, 1, 50)
    s = score(t + 0.01, t)
    assert s[16].moves and s[16].corr == pytest.approx(1.0) and s[16].mae == pytest.approx(0.01)
    assert not s[0].moves and np.isnan(s[0].corr)
    assert summary(s)["moving_aus"] == 1


def test_tiny_fit_and_fp16_export(tmp_path: Path) -> None:
    import onnx

    from realtime.face.au_head import AUHead, au_features

    d = _synthetic()
    info: dict[str, object] = {
        "dataset": "synthetic",
        "sampling": "-",
        "frames": 240,
        "frames_by_kind": "-",
        "rejected": "-",
        "hardware": "-",
    }
    cfg = TrainConfig(epochs=30, batch=64, threads=1, holdout=0.25)
    scores = fit_and_export(
        d, np.load(MEAN_FACE).astype(np.float64), tmp_path, cfg, AUHeadConfig(hidden=32), info
    )
    by = {s.au: s for s in scores}
    assert by["AU26"].moves and by["AU26"].corr > 0.9, "the jaw is learnt on held-out people"
    model = onnx.load(str(tmp_path / "au_head.onnx"))
    assert all(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    assert model.graph.input[0].name == "features" and model.graph.output[0].name == "aus"
    spec = json.loads((tmp_path / "au_head.spec.json").read_text())
    assert (
        spec["format"] == "facegan-io-spec" and spec["network"] == "au_head" and spec["precision"] == "fp16"
    )
    assert spec["inputs"] == [{"name": "features", "shape": ["batch", 1434], "dtype": "float32"}]
    from engines.spec import load_spec

    assert load_spec(tmp_path / "au_head.onnx").output_names == ("aus",)  # hash and format check
    head = AUHead(tmp_path / "au_head.onnx")
    x = np.stack([au_features(p, np.load(MEAN_FACE).astype(np.float64)) for p in d.landmarks[:4]])
    out = head.predict(x)
    assert out.shape == (4, 17) and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    assert "AU26" in (tmp_path / "au_head.md").read_text()


@pytest.mark.skipif(
    not (DATA / "MANIFEST.csv").is_file() or not TEACHER.is_file(), reason="dev data or teacher absent"
)
def test_extract_on_a_few_real_frames(tmp_path: Path) -> None:
    cache = extract(DATA, tmp_path / "c.npz", SamplingConfig(video_every=10, max_frames=6), TEACHER)
    d = load_cache(cache)
    assert 4 <= len(d.aus) <= 6
    assert d.landmarks.shape[1:] == (478, 3) and d.aus.shape[1] == 17
    assert np.all((d.aus >= 0) & (d.aus <= 1)) and len(d.identity) == len(d.aus)
