"""facegan-evaluate --quick on a synthetic prepared dataset: every output file, skipped methods with reasons,
bad input counted; and all three methods on tiny seeded ONNX weights."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _synthetic_dataset import write_synthetic_dataset

from training.evaluation.evaluate import METHOD_NAMES, main

OUTPUTS = (
    "metrics.json",
    "report.md",
    "pairs.csv",
    "pairs_self.csv",
    "pairs_cross.csv",
    "pairs_lsim.csv",
    "grid_self.png",
    "grid_cross.png",
    "side_by_side.mp4",
)


def _run(data: Path, out: Path, weights: Path, *extra: str) -> dict:
    rc = main(
        [
            "--data",
            str(data),
            "--out",
            str(out),
            "--quick",
            "--weights",
            str(weights),
            "--seed",
            "0",
            "--identities",
            "all",
            *extra,
        ]
    )
    assert rc == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("synth"), n_tracks=4, frames=8, size=32, seed=0)


def test_quick_run_writes_every_output_and_skips_missing_weights(synth: Path, tmp_path: Path) -> None:
    empty = tmp_path / "no_weights"
    empty.mkdir()
    m = _run(synth, tmp_path / "rep", empty)
    for name in OUTPUTS:
        assert (tmp_path / "rep" / name).is_file(), name
    for name in ("facegan", "facegan_no_lt"):
        assert m[name]["status"] == "skipped" and "not found" in m[name]["reason"]
    mw = m["mesh_warp"]
    assert mw["status"] == "ok" and set(mw["self"]) == {
        "mse",
        "psnr",
        "ssim",
        "mouth_mse",
        "eyes_mse",
        "face_mse",
        "background_mse",
    }
    assert set(mw["cross"]) == {"csim", "psim", "ed", "lsim"}
    assert 0.0 <= mw["self"]["mse"] < 0.2 and mw["n"]["mse"] == m["counts"]["self_pairs"] > 0
    assert m["counts"]["cross_pairs"] > 0
    # Synthetic faces are not faces to dlib or the teacher: counted, never silently dropped.
    assert any("no face" in k or "not measured" in k for k in m["skipped"])
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "mesh_warp" in report and "skipped" in report and "another dataset" in report
    with open(tmp_path / "rep" / "pairs_self.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == m["counts"]["self_pairs"]
    assert all(r["source_identity"] == r["driving_identity"] for r in rows)
    with open(tmp_path / "rep" / "pairs_cross.csv") as f:
        assert all(r["source_identity"] != r["driving_identity"] for r in csv.DictReader(f))


def test_the_oracle_reference_is_listed_but_never_a_contender(synth: Path, tmp_path: Path) -> None:
    """--oracle adds mesh flow on the driving frame's own landmarks to the paper table, after the methods, with a
    note; the verdict's bests are drawn from the methods only, whatever the reference scores."""
    from training.evaluation.report import verdict

    empty = tmp_path / "w"
    empty.mkdir()
    m = _run(synth, tmp_path / "rep", empty, "--oracle")
    ref = m["mesh_flow_oracle"]
    assert ref["status"] == "ok" and "oracle" in ref["lt_source"] and ref["self"]["mse"] is not None
    report = (tmp_path / "rep" / "report.md").read_text()
    table = [line for line in report.splitlines() if line.startswith("| mesh_flow")]
    assert [line.split(" | ")[0] for line in table][-1] == "| mesh_flow_oracle"
    assert "a reference, not a contender" in report
    m["mesh_flow_oracle"]["self"]["mse"] = -1.0  # better than anything: still not named
    m["mesh_flow_oracle"]["cross"]["csim"] = 2.0
    assert "mesh_flow_oracle" not in verdict(m)
    assert "mesh_flow_oracle" not in _run(synth, tmp_path / "plain", empty)  # only when asked


def test_same_seed_same_pairs_and_numbers(synth: Path, tmp_path: Path) -> None:
    empty = tmp_path / "w"
    empty.mkdir()
    a = _run(synth, tmp_path / "a", empty)
    b = _run(synth, tmp_path / "b", empty)
    assert (tmp_path / "a" / "pairs_cross.csv").read_text() == (
        tmp_path / "b" / "pairs_cross.csv"
    ).read_text()
    assert a["mesh_warp"]["self"] == b["mesh_warp"]["self"]


def test_bad_dataset_pieces_are_counted(synth: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(synth, data)
    (data / "tracks" / "synth000" / "DONE").unlink()  # half-written track
    info = json.loads((data / "dataset.json").read_text())
    info["tracks"][1]["frames"] = 1  # a track too short for a self pair
    with np.load(data / "tracks" / "synth001" / "meta.npz") as z:
        arrays = {k: z[k][:1] for k in z.files}
    np.savez(data / "tracks" / "synth001" / "meta.npz", **arrays)
    (data / "dataset.json").write_text(json.dumps(info))
    empty = tmp_path / "w"
    empty.mkdir()
    m = _run(data, tmp_path / "rep", empty)
    assert m["skipped"].get("dataset: half-written (no DONE)") == 1
    assert m["skipped"].get("self: track too short for a pair (< 2 frames)") == 1
    assert m["counts"]["tracks_in_dataset"] == 4 and m["counts"]["tracks_used"] == 3


def test_not_a_dataset_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--quick"]) == 2
    assert "dataset.json" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_all_three_methods_on_tiny_weights(synth: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    try:
        from tests.engines.test_engines_chain import S, export_tiny
    except ImportError as exc:
        pytest.skip(f"tiny-network exporter of the engines tests not importable: {exc}")
    assert S == 32
    weights = tmp_path / "weights"
    weights.mkdir()
    for net, name in (("lt", "lt.onnx"), ("gr", "gr_lite.onnx"), ("gb", "gb_lite.onnx")):
        export_tiny(weights, net, name)
    m = _run(synth, tmp_path / "rep", weights)
    for name in METHOD_NAMES:
        assert m[name]["status"] == "ok", m[name]
        assert m[name]["self"]["mse"] is not None and m[name]["n"]["mse"] > 0
    assert m["mesh_warp"]["lt_source"] == "LT (shipped)"
    assert m["mesh_warp_transfer"]["lt_source"].startswith("landmark_transfer")
    (weights / "lt.onnx").unlink()  # Gr/Gb without LT: the no-LT baseline still runs
    m = _run(synth, tmp_path / "rep2", weights)
    assert m["facegan"]["status"] == "skipped" and "lt" in m["facegan"]["reason"]
    assert m["facegan_no_lt"]["status"] == "ok"
    assert m["mesh_warp"]["lt_source"].startswith("landmark_transfer")


@pytest.mark.data
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_au_figure_on_a_real_photo_with_tiny_weights(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    av = pytest.importorskip("av")
    import cv2

    video = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dev" / "DPE" / "data" / "s.mp4"
    if not video.is_file():
        pytest.skip(f"real dev data not found at {video}")
    try:
        from tests.engines.test_engines_chain import export_tiny
    except ImportError as exc:
        pytest.skip(f"tiny-network exporter of the engines tests not importable: {exc}")
    from training.evaluation.au_figure import CELL
    from training.evaluation.au_figure import main as au_main

    with av.open(str(video)) as c:
        photo = next(c.decode(video=0)).to_ndarray(format="bgr24")
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    weights = tmp_path / "w"
    weights.mkdir()
    assert (
        au_main(
            [
                "--source",
                str(tmp_path / "photo.png"),
                "--out",
                str(tmp_path / "f.png"),
                "--weights",
                str(weights),
            ]
        )
        == 2
    )
    for net, name in (("lt", "lt.onnx"), ("gr", "gr_lite.onnx"), ("gb", "gb_lite.onnx")):
        export_tiny(weights, net, name)
    assert (
        au_main(
            [
                "--source",
                str(tmp_path / "photo.png"),
                "--out",
                str(tmp_path / "f.png"),
                "--weights",
                str(weights),
            ]
        )
        == 0
    )
    fig = cv2.imread(str(tmp_path / "f.png"))
    assert fig.shape[0] == 18 * CELL  # 17 AU rows and the background swap
