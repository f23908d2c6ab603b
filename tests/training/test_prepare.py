"""facegan-prepare: input discovery, track splitting, video I/O, and an end-to-end run on a few real files.

The AU head may not be trained yet, so the analyser runs on a tiny random au_head.onnx with the contract's
I/O (features (batch, 1434) -> aus (batch, 17)) in a temporary weights folder.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from realtime.face import FaceAnalysis, HeadPose
from training.data import prepare as P
from training.data.video_io import CropWriter, FolderFrames, VideoFrames, natural_key, read_crops, read_image

REPO = Path(__file__).resolve().parents[2]
SIZE = 256


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder = tmp_path_factory.mktemp("weights")
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.standard_normal((1434, 17)) * 0.01).astype(np.float32), "W")
    b = numpy_helper.from_array(np.zeros(17, np.float32), "b")
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["h"]),
        helper.make_node("Add", ["h", "b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["aus"]),
    ]
    graph = helper.make_graph(
        nodes,
        "au_head",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 1434])],
        [helper.make_tensor_value_info("aus", TensorProto.FLOAT, ["batch", 17])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "au_head.onnx"))
    shutil.copy(REPO / "realtime" / "weights" / "mean_face.npy", folder / "mean_face.npy")
    return folder


# ------------------------------------------------------------------------------- video_io


def _moving_frames(n: int, size: int = 64) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    return [
        np.stack([(xx * 4 + 5 * i) % 256, (yy * 4) % 256, np.full_like(xx, 128)], -1).astype(np.uint8)
        for i in range(n)
    ]


def test_crop_writer_round_trip(tmp_path: Path) -> None:
    frames = _moving_frames(12)
    with CropWriter(tmp_path / "c.mp4", 64, fps=30) as w:
        for f in frames:
            w.write(f)
    back = read_crops(tmp_path / "c.mp4")
    assert back.shape == (12, 64, 64, 3)
    assert np.abs(back.astype(int) - np.stack(frames)).mean() < 4.0  # crf 14, yuv420p
    with pytest.raises(ValueError, match="uint8"), CropWriter(tmp_path / "d.mp4", 64) as w:
        w.write(np.zeros((64, 64, 3), np.float32))


def test_truncated_and_bogus_videos_are_reported_not_raised(tmp_path: Path) -> None:
    with CropWriter(tmp_path / "ok.mp4", 64) as w:
        for f in _moving_frames(20):
            w.write(f)
    data = (tmp_path / "ok.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.mp4").write_text("not a video at all")
    for name in ("cut.mp4", "text.mp4"):
        reader = VideoFrames(tmp_path / name)
        frames = list(reader)
        assert reader.error, name
        assert len(frames) == reader.frames_read < 20


def test_images_natural_order_and_bad_files(tmp_path: Path) -> None:
    import cv2

    for i in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8), i * 20, np.uint8))  # grayscale on disk
    (tmp_path / "3.png").write_bytes(b"garbage")
    assert sorted(["10.png", "2.png", "1.png"], key=natural_key) == ["1.png", "2.png", "10.png"]
    assert read_image(tmp_path / "3.png") is None and read_image(tmp_path / "absent.png") is None
    img = read_image(tmp_path / "2.png")
    assert img is not None and img.shape == (8, 8, 3) and img.dtype == np.uint8
    bad: list[Path] = []
    frames = list(FolderFrames(tuple(tmp_path.glob("*.png"))).iter_frames(bad))
    assert [None if f is None else int(f[0, 0, 0]) for f in frames] == [20, 40, None, 200]
    assert bad == [tmp_path / "3.png"]


# ------------------------------------------------------------------------------- inputs


def test_manifest_groups_frames_and_skips_other_rows(tmp_path: Path) -> None:
    rows = [
        ("a/clip.mp4", "video", "ann"),
        ("a/LICENSE.txt", "license", "-"),
        ("b/x.jpg", "photo", "bob"),
        ("f/2.png", "frames", "cid"),
        ("f/1.png", "frames", "cid"),
        ("m/s.mp3", "audio", "ann"),
        ("l/x.mat", "landmarks", "dan"),
        ("gone.mp4", "video", "eve"),
    ]
    for path, _, _ in rows[:-1]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"x")
    with (tmp_path / "MANIFEST.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "bytes", "kind", "split", "identity"])
        w.writerows([p, 1, k, "dev", i] for p, k, i in rows)
    items, missing = P.discover_inputs(tmp_path)
    assert [(it.source, it.kind, it.identity) for it in items] == [
        ("a/clip.mp4", "video", "ann"),
        ("b/x.jpg", "photo", "bob"),
        ("f", "frames", "cid"),
    ]
    assert sorted(items[2].paths) == ["f/1.png", "f/2.png"]
    assert missing == ["gone.mp4"]
    assert len({it.key for it in items}) == 3


def test_without_manifest_each_file_is_its_own_person(tmp_path: Path) -> None:
    (tmp_path / "seq").mkdir()
    for i in range(10):
        (tmp_path / "seq" / f"frame_{i:03d}.png").write_bytes(b"x")
    (tmp_path / "p1.jpg").write_bytes(b"x")
    (tmp_path / "p2.JPG").write_bytes(b"x")
    (tmp_path / "v.mov").write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(b"x")
    items, _ = P.discover_inputs(tmp_path)
    assert [(it.source, it.kind) for it in items] == [
        ("p1.jpg", "photo"),
        ("p2.JPG", "photo"),
        ("seq", "frames"),
        ("v.mov", "video"),
    ]
    assert len({it.identity for it in items}) == 4


@pytest.mark.data
def test_dev_data_inputs_are_all_found(dev_data: Path) -> None:
    items, missing = P.discover_inputs(dev_data)
    kinds = Counter(it.kind for it in items)
    assert (kinds["video"], kinds["frames"], kinds["photo"]) == (125, 5, 2547)
    assert missing == []
    assert len({it.key for it in items}) == len(items)
    assert sum(len(it.paths) for it in items if it.kind == "frames") == 753


# ------------------------------------------------------------------------------- tracks


def _obs(index: int, eye=(100.0, 100.0), scale=1.0, angle=0.0, hist_bin: int = 0) -> P.FrameObs:
    analysis = FaceAnalysis(np.zeros((478, 3), np.float32), np.zeros(17, np.float32), HeadPose(0, 0, 0), 1)
    hist = np.full((16, 16), 0.1, np.float32)
    hist[hist_bin, hist_bin] = 5.0
    return P.FrameObs(index, analysis, np.array(eye, np.float64), angle, scale, hist)


def test_tracks_break_at_gaps_cuts_and_drift() -> None:
    opts = P.PrepareOptions(min_track=3)
    seq = [_obs(i) for i in range(5)]  # track 1: frames 0-4
    seq += [_obs(i) for i in range(7, 12)]  # gap -> track 2: 7-11
    seq += [_obs(i, hist_bin=7) for i in range(12, 16)]  # colour histogram cut -> track 3: 12-15
    seq += [_obs(i, hist_bin=7, eye=(100.0 + 3 * (i - 15), 100.0)) for i in range(16, 40)]  # slow drift
    seq += [_obs(40, hist_bin=7, eye=(300.0, 100.0))]  # a jump: a lone frame, too short
    rejected: Counter[str] = Counter()
    tracks = P.split_tracks(seq, opts, rejected)
    starts = [t[0].index for t in tracks]
    assert starts[:3] == [0, 7, 12]
    assert len(tracks) >= 4, "a slow drift of 3 px per frame leaves the fixed crop within 24 frames"
    for t in tracks:
        M = P.track_transform(t, SIZE)
        # every frame stays within the drift limit of its track's fixed crop (plus a little slack)
        for o in t:
            eye = M[:, :2] @ o.eye_mid + M[:, 2]
            assert np.linalg.norm(eye - np.array([0.5, 0.42]) * SIZE) <= 2 * opts.max_drift * SIZE
    assert 40 not in {o.index for t in tracks for o in t} and rejected["short_track"] >= 1
    assert rejected["short_track"] + sum(len(t) for t in tracks) == len(seq)
    assert [o.index for t in tracks for o in t] == sorted(o.index for t in tracks for o in t)


def test_crop_inside_fraction() -> None:
    shift_half = np.array(
        [[1.0, 0.0, 0.0], [0.0, 1.0, -SIZE / 2]]
    )  # crop rows 0..127 lie below the frame's top
    assert P.crop_inside_fraction(np.eye(2, 3), (300, 300), SIZE) == 1.0
    assert P.crop_inside_fraction(np.eye(2, 3), (SIZE // 2, SIZE), SIZE) == pytest.approx(0.5)
    assert P.crop_inside_fraction(shift_half, (SIZE, SIZE), SIZE) == pytest.approx(0.5)
    assert P.crop_inside_fraction(np.eye(2, 3), (0, 0), SIZE) == 0.0


def test_track_transform_is_the_median_crop() -> None:
    t = [_obs(i, eye=(100.0 + i, 50.0), scale=2.0, angle=0.1) for i in range(5)]
    M = P.track_transform(t, SIZE)
    np.testing.assert_allclose(M[:, :2] @ np.array([102.0, 50.0]) + M[:, 2], [128.0, 0.42 * SIZE], atol=1e-9)
    np.testing.assert_allclose(np.hypot(M[0, 0], M[1, 0]), 2.0)


# ------------------------------------------------------------------------------- end to end (real faces)


def _small_input_dir(dev: Path, tmp: Path) -> Path:
    """A few real files (copied to a temp folder for the test only) plus broken ones, with a manifest."""
    root = tmp / "in"
    root.mkdir()
    with CropWriter(root / "clip.mp4", 256) as w:  # two real shots back to back: a cut at frame 12
        for name in ("CVPR2022-DaGAN/assets/driving.mp4", "DPE/data/d.mp4"):
            for i, f in enumerate(VideoFrames(dev / name)):
                if i == 12:
                    break
                w.write(f)
    lrw = dev / "EAMM" / "dataset" / "LRW" / "Image" / "ABOUT" / "ABOUT_00001"
    (root / "seq").mkdir()
    for i in range(8):
        shutil.copy(lrw / f"{i}.png", root / "seq" / f"{i}.png")
    photos = sorted((dev / "LIA" / "data" / "ted").glob("*.png"))[:1]
    photos += sorted((dev / "face_recognition").rglob("*.jpg"))[:2]
    for i, p in enumerate(photos):
        shutil.copy(p, root / f"photo{i}{p.suffix}")
    (root / "broken.jpg").write_text("this is not an image")
    (root / "cut.mp4").write_bytes((root / "clip.mp4").read_bytes()[:5000])
    rows = [
        ("clip.mp4", "video", "alice"),
        ("cut.mp4", "video", "alice"),
        ("broken.jpg", "photo", "bob"),
        ("LICENSE.txt", "license", "-"),
    ]
    rows += [(f"seq/{i}.png", "frames", "carol") for i in range(8)]
    rows += [(f"photo{i}{p.suffix}", "photo", f"person{i}") for i, p in enumerate(photos)]
    with (root / "MANIFEST.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "bytes", "kind", "split", "identity"])
        w.writerows([p, 0, k, "dev", i] for p, k, i in rows)
    return root


@pytest.mark.data
@pytest.mark.slow
def test_prepare_end_to_end_and_resume(dev_data: Path, weights: Path, tmp_path: Path) -> None:
    root = _small_input_dir(dev_data, tmp_path)
    out = tmp_path / "out"
    opts = P.PrepareOptions(weights_dir=weights)
    summary = P.prepare(root, out, opts, workers=1)

    # 1. summary and dataset.json follow CONTRACTS.md 3
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["format"] == "facegan-dataset" and meta["version"] == 1 and meta["crop_size"] == SIZE
    assert meta["summary"] == summary
    assert {"inputs", "tracks", "frames", "rejected"} <= set(summary)
    assert summary["inputs"] == 4 + len(list(root.glob("photo*")))  # clip, cut, broken, seq + photos
    assert summary["rejected"]["unreadable_file"] == 2  # broken.jpg, cut.mp4
    kinds = {t["kind"] for t in meta["tracks"]}
    assert kinds == {"video", "frames", "photo"}
    assert {t["identity"] for t in meta["tracks"] if t["kind"] == "video"} == {"alice"}
    assert {t["identity"] for t in meta["tracks"] if t["kind"] == "frames"} == {"carol"}
    assert summary["frames"] == sum(t["frames"] for t in meta["tracks"])

    video_spans = [
        tuple(np.load(out / t["dir"] / "meta.npz")["frame_index"][[0, -1]])
        for t in meta["tracks"]
        if t["kind"] == "video"
    ]
    assert all(last < 12 or first >= 12 for first, last in video_spans), (
        f"a track spans the cut: {video_spans}"
    )

    # 2. every track folder is complete and consistent
    for t in meta["tracks"]:
        d = out / t["dir"]
        assert (d / "DONE").is_file()
        n = t["frames"]
        crops = read_crops(d / "crops.mp4")
        with np.load(d / "masks.npz") as mk, np.load(d / "meta.npz") as m:
            seg = mk["seg"]
            assert crops.shape == (n, SIZE, SIZE, 3)
            assert seg.shape == (n, SIZE, SIZE) and seg.dtype == np.uint8 and seg.max() <= 2
            assert (seg == 2).mean() > 0.1
            assert m["landmarks"].shape == (n, 478, 3) and m["landmarks"].dtype == np.float32
            assert m["aus"].shape == (n, 17) and m["pose"].shape == (n, 3) and m["frame_index"].shape == (n,)
            assert m["transform"].shape == (2, 3) and m["transform"].dtype == np.float64
            inside = (m["landmarks"][..., :2] > 0) & (m["landmarks"][..., :2] < SIZE)
            assert inside.mean() > 0.95
            if t["kind"] == "photo":
                assert n == 1

    # 3. the project's dataset reader accepts it
    from training.data.dataset import load_track, open_dataset

    ds = open_dataset(out)
    assert len(ds.tracks) == summary["tracks"]
    arrays = load_track(ds.tracks[0], ds.crop_size)
    assert arrays.images is not None and arrays.images.shape[0] == ds.tracks[0].frames

    # 4. AUs and pose refreshed from the stored landmarks equal those analysed on the original frames;
    # a dataset made before tracks recorded "inside" gets the same values from the input folder
    assert meta["analysis"] == P.analysis_fingerprint(weights)
    assert all(0.0 < t["inside"] <= 1.0 for t in meta["tracks"])
    stripped = {**meta, "tracks": [{k: v for k, v in t.items() if k != "inside"} for t in meta["tracks"]]}
    (out / "dataset.json").write_text(json.dumps(stripped))
    with np.load(out / meta["tracks"][0]["dir"] / "meta.npz") as m:
        before = {k: m[k] for k in ("aus", "pose", "landmarks")}
    assert P.refresh_analysis(out, weights, root) == summary["frames"]
    refreshed = json.loads((out / "dataset.json").read_text())
    assert [t["inside"] for t in refreshed["tracks"]] == [t["inside"] for t in meta["tracks"]]
    with np.load(out / meta["tracks"][0]["dir"] / "meta.npz") as m:
        np.testing.assert_allclose(m["aus"], before["aus"], atol=1e-4)
        np.testing.assert_allclose(m["pose"], before["pose"], atol=1e-2)
        np.testing.assert_array_equal(m["landmarks"], before["landmarks"])

    # 5. resume: a rerun skips everything; a track without DONE makes its input run again
    crops_file = out / meta["tracks"][0]["dir"] / "crops.mp4"
    stamp = crops_file.stat().st_mtime_ns
    assert P.prepare(root, out, opts, workers=1)["tracks"] == summary["tracks"]
    assert crops_file.stat().st_mtime_ns == stamp
    video_track = next(t for t in meta["tracks"] if t["kind"] == "video")
    (out / video_track["dir"] / "DONE").unlink()
    again = P.prepare(root, out, opts, workers=1)
    assert (out / video_track["dir"] / "DONE").is_file()
    assert again["tracks"] == summary["tracks"] and again["frames"] == summary["frames"]


def test_cli_refuses_missing_weights_and_input(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert P.main([str(tmp_path / "absent"), str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert P.main([str(tmp_path), str(tmp_path / "out"), "--weights-dir", str(tmp_path)]) == 2
    assert "is missing" in capsys.readouterr().err
    assert (
        P.main([str(tmp_path), str(tmp_path / "out"), "--refresh-analysis", "--weights-dir", str(weights)])
        == 2
    )
    assert "no dataset.json" in capsys.readouterr().err
