"""`facegan-analyze` on real data and on every bad input of issue 2: a clear message, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.analyze_cli import main
from realtime.face.types import AU_ORDER

DATA = Path(__file__).parents[1].parent.parent / "shared" / "data" / "dev"
PHOTO = DATA / "LivePortrait" / "assets" / "examples" / "source" / "s42.jpg"  # 512x512, one face
CLIP = DATA / "CVPR2022-DaGAN" / "assets" / "driving.mp4"  # 184 frames, 256x256
WEIGHTS = Path(__file__).parents[2] / "realtime" / "weights" / "au_head.onnx"

pytestmark = [
    pytest.mark.skipif(not PHOTO.is_file(), reason=f"real dev data not found at {DATA}"),
    pytest.mark.skipif(not WEIGHTS.is_file(), reason="realtime/weights/au_head.onnx not trained yet"),
]


def _run(tmp_path: Path, path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict], str]:
    out = tmp_path / (path.name + ".jsonl")
    code = main([str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return code, lines, err


def _photo() -> np.ndarray:
    return cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)  # BGR, for cv2.imwrite


def _check_face_line(line: dict, width: int, height: int) -> np.ndarray:
    assert line["face"] is True
    pts = np.array(line["landmarks"])
    assert pts.shape == (478, 3)
    assert len(line["aus"]) == 17 and all(0.0 <= v <= 1.0 for v in line["aus"].values())
    assert list(line["aus"]) == [a.value for a in AU_ORDER]
    assert set(line["pose"]) == {"yaw", "pitch", "roll"}
    cx, cy = pts[:, :2].mean(0)
    assert 0 < cx < width and 0 < cy < height
    return pts


def test_photo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = _run(tmp_path, PHOTO, capsys)
    assert code == 0 and len(lines) == 1 and lines[0]["frame"] == 0
    _check_face_line(lines[0], 512, 512)
    assert "1 with a face" in err


def test_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(tmp_path, CLIP, capsys)
    assert code == 0 and len(lines) == 184
    assert [x["frame"] for x in lines] == list(range(184))
    assert sum(x["face"] for x in lines) >= 180
    first = next(x for x in lines if x["face"])
    _check_face_line(first, 256, 256)


def test_no_face_gives_face_false(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "grey.png"
    cv2.imwrite(str(path), np.full((240, 320, 3), 127, np.uint8))
    code, lines, _ = _run(tmp_path, path, capsys)
    assert code == 0 and lines == [{"frame": 0, "face": False}]


def test_one_pixel_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dot.png"
    cv2.imwrite(str(path), np.zeros((1, 1, 3), np.uint8))
    code, lines, err = _run(tmp_path, path, capsys)
    assert code == 0 and lines == [{"frame": 0, "face": False}]
    assert "too small" in err


def test_huge_image_maps_landmarks_to_input_pixels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """20000x20000 (grey JPEG, the face 8000 px wide in the middle): decoded reduced, reported full size."""
    canvas = np.full((20000, 20000), 90, np.uint8)
    face = cv2.resize(
        cv2.cvtColor(_photo(), cv2.COLOR_BGR2GRAY), (8000, 8000), interpolation=cv2.INTER_LINEAR
    )
    canvas[6000:14000, 6000:14000] = face
    path = tmp_path / "huge.jpg"
    assert cv2.imwrite(str(path), canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])
    del canvas, face
    code, lines, _ = _run(tmp_path, path, capsys)
    assert code == 0 and len(lines) == 1
    pts = _check_face_line(lines[0], 20000, 20000)
    assert 6000 < pts[:, 0].mean() < 14000 and 6000 < pts[:, 1].mean() < 14000
    assert pts[:, 0].max() - pts[:, 0].min() > 2000, "landmarks are in the input's (not the decoded) pixels"


def test_several_faces_uses_largest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = _photo()
    small = cv2.resize(big, (256, 256))
    canvas = np.full((512, 800, 3), 200, np.uint8)
    canvas[:, :512] = big
    canvas[128:384, 530:786] = small
    path = tmp_path / "two.png"
    cv2.imwrite(str(path), canvas)
    code, lines, err = _run(tmp_path, path, capsys)
    assert code == 0
    pts = _check_face_line(lines[0], 800, 512)
    assert pts[:, 0].max() < 512, "the larger (left) face is reported"
    assert "several faces" in err


def test_face_half_out_of_frame(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = _photo()
    path = tmp_path / "half.png"
    cv2.imwrite(str(path), np.ascontiguousarray(img[:, 200:]))  # the left part of the face is cut off
    code, lines, _ = _run(tmp_path, path, capsys)
    assert code == 0 and len(lines) == 1
    if lines[0]["face"]:
        assert np.array(lines[0]["landmarks"]).shape == (478, 3)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.jpg", b"hello, this is text and not a picture\n"),
        ("noise.mp4", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))),
        ("empty.png", b""),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
    ],
)
def test_unreadable_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, _, err = _run(tmp_path, path, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facegan-analyze: cannot read")


def test_missing_file_and_folder_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(tmp_path, tmp_path / "nope.mp4", capsys)
    assert code == 2 and "no such file" in err
    code, _, err = _run(tmp_path, tmp_path, capsys)
    assert code == 2 and "not a regular file" in err


def _write_clip(path: Path, frames: int, faststart: bool) -> None:
    import av

    with (
        av.open(str(CLIP)) as src,
        av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as dst,
    ):
        stream = dst.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i >= frames:
                break
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            ):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)


def test_truncated_mp4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Index at the end (the usual mp4): a cut file cannot be opened at all.
    whole = tmp_path / "whole.mp4"
    _write_clip(whole, 40, faststart=False)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    code, lines, err = _run(tmp_path, cut, capsys)
    assert code == 2 and "truncated" in err and lines == []
    # Index at the start: the frames before the cut are analysed and written, and the exit status says corrupt.
    fast = tmp_path / "fast.mp4"
    _write_clip(fast, 40, faststart=True)
    cut2 = tmp_path / "cut2.mp4"
    cut2.write_bytes(fast.read_bytes()[: fast.stat().st_size * 6 // 10])
    code, lines, err = _run(tmp_path, cut2, capsys)
    assert code == 2 and "truncated" in err
    assert 0 < len(lines) < 40
