"""facegan-evaluate's whole report (issue 10): metrics.json's live objects and decision, a self-contained
report.html, --decide, and the skipped section for bad input (no video tracks, a clip where the teacher
loses the face, a method whose weights are missing). Tiny synthetic data; one test on real dev clips."""

from __future__ import annotations

import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from _synthetic_dataset import write_synthetic_dataset

from training.data.dataset import TrackInfo
from training.evaluation.evaluate import DEFAULT_TEACHER, LIVE_METHODS, main, write_renderer_choice
from training.evaluation.live import LIVE_KEYS
from training.evaluation.progress import Progress

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dev"
needs_teacher = pytest.mark.skipif(
    not DEFAULT_TEACHER.is_file(), reason=f"teacher not found at {DEFAULT_TEACHER}"
)


def _dataset(root: Path, kind: str = "video") -> tuple[Path, Path]:
    """A synthetic prepared dataset and the raw folder it was 'prepared from' (each track's crops as its clip)."""
    data = write_synthetic_dataset(root / "data", n_tracks=4, frames=8, size=32, seed=0)
    raw = root / "raw"
    info = json.loads((data / "dataset.json").read_text())
    for t in info["tracks"]:
        t["source"], t["kind"] = f"clips/{t['id']}.mp4", kind
        (raw / "clips").mkdir(parents=True, exist_ok=True)
        shutil.copy(data / t["dir"] / "crops.mp4", raw / t["source"])
    (data / "dataset.json").write_text(json.dumps(info))
    return data, raw


def _run(data: Path, raw: Path, out: Path, weights: Path, *extra: str, rc: int = 0) -> dict:
    args = ["--data", str(data), "--out", str(out), "--quick", "--weights", str(weights), "--raw", str(raw)]
    assert main([*args, "--identities", "all", *extra]) == rc
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    """One --quick run with no weights at all: (metrics, report folder, weights folder)."""
    root = tmp_path_factory.mktemp("rep")
    data, raw = _dataset(root)
    weights = root / "no_weights"
    weights.mkdir()
    return _run(data, raw, root / "out", weights), root / "out", weights


def test_metrics_json_has_a_live_object_per_live_method_and_a_decision(
    quick: tuple[dict, Path, Path],
) -> None:
    m, _, _ = quick
    for renderer, method in LIVE_METHODS.items():
        assert m[method]["live_renderer"] == renderer
        assert set(m[method]["live"]) == {*LIVE_KEYS, "pairs"}
        assert isinstance(m[method]["live"]["au_r"], dict)
    for method in ("facegan_no_lt", "mesh_warp"):  # no live mode
        assert m[method]["live"] is None and m[method]["live_renderer"] is None
    d = m["decision"]
    assert {"renderer", "method", "rule", "scores", "excluded"} <= set(d)
    assert "csim_source >= 0.9" in d["rule"]
    assert d["renderer"] is None  # synthetic faces: nothing measured, nothing wins
    assert m["live_protocol"]["renderers"] == {r: LIVE_METHODS[r] for r in m["live_protocol"]["live"]}
    assert m["decided"] is None  # no --decide


def test_report_html_is_self_contained(quick: tuple[dict, Path, Path]) -> None:
    _, out, _ = quick

    class Refs(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.refs: list[tuple[str, str]] = []
            self.tags: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append(tag)
            self.refs += [(tag, v or "") for k, v in attrs if k in ("src", "href", "poster", "srcset")]

    page = (out / "report.html").read_text()
    p = Refs()
    p.feed(page)
    assert p.refs, "the page embeds nothing"
    assert all(v.startswith(("data:", "#")) for _, v in p.refs), [v[:40] for _, v in p.refs]
    assert "script" not in p.tags and "link" not in p.tags and "iframe" not in p.tags
    plots = [
        n
        for n in ("self", "cross", "live_identity", "live_motion", "live_quality")
        if (out / f"plot_{n}.png").is_file()
    ]
    assert {"self", "cross"} <= set(plots)
    assert sum(t == "img" for t in p.tags) >= len(plots) + 2  # plots and grids
    assert any(t == "video" for t in p.tags)
    for heading in ("Verdict", "Live protocol", "Paper protocol", "Skipped"):
        assert heading in page


def test_missing_weights_are_reported_in_the_skipped_section(quick: tuple[dict, Path, Path]) -> None:
    m, out, _ = quick
    assert m["facegan"]["status"] == "skipped" and "not found" in m["facegan"]["reason"]
    live_gone = [k for k in m["skipped"] if k.startswith("live/facegan: not run, the renderer cannot start")]
    assert live_gone and "gr_lite.onnx" in live_gone[0]
    assert m["skipped"][live_gone[0]] == m["counts"]["live_pairs"] == 1
    sweep = [k for k in m["skipped"] if k.startswith("AU sweep figure not made")]
    assert sweep  # why: the missing LT where the teacher can run the live pairs, else no source photo
    assert "lt.onnx" in sweep[0] if DEFAULT_TEACHER.is_file() else "no source photo" in sweep[0]
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    skipped_md = md[md.index("## Skipped") :]
    assert "live/facegan: not run" in skipped_md and "AU sweep figure not made" in skipped_md
    assert "live/facegan: not run" in page[page.index("id=skipped") :]


@needs_teacher
def test_clips_the_teacher_cannot_see_are_counted_per_renderer(quick: tuple[dict, Path, Path]) -> None:
    m, _, _ = quick  # synthetic faces are not faces to the teacher: every frame lost, every pair left out
    frames = m["counts"]["live_frames_per_pair"]
    assert (
        m["skipped"]["live: driving frames where the teacher finds no face (left out of r and flicker)"]
        == frames
    )
    for r in ("meshflow", "meshwarp"):
        assert (
            m["skipped"][
                f"live/{r}: pair left out: the teacher found a face in fewer than 3 frames of both clips"
            ]
            == 1
        )
        assert m["skipped"][f"live/{r}: output frames where the teacher finds no face"] == frames
        assert m[LIVE_METHODS[r]]["live"]["pairs"] == 0


def test_a_dataset_with_no_video_tracks_is_reported_not_a_crash(tmp_path: Path) -> None:
    data, raw = _dataset(tmp_path, kind="photo")
    weights = tmp_path / "w"
    weights.mkdir()
    m = _run(data, raw, tmp_path / "out", weights)
    assert (
        m["skipped"][
            "live: no video or frame-folder tracks among the evaluated people (nothing to drive with)"
        ]
        == 1
    )
    assert m["counts"]["live_pairs"] == 0 and m["decision"]["renderer"] is None
    assert all(m[meth]["live"]["pairs"] == 0 for meth in LIVE_METHODS.values())
    assert "no video or frame-folder tracks" in (tmp_path / "out" / "report.md").read_text()
    assert "live protocol measured nothing" in (tmp_path / "out" / "report.md").read_text()


def test_decide_writes_nothing_without_a_winner_and_renderer_json_only_with_the_flag(
    quick: tuple[dict, Path, Path], tmp_path: Path
) -> None:
    _, _, weights = quick
    assert not (weights / "renderer.json").exists()  # the quick run had no --decide
    data, raw = _dataset(tmp_path)
    w = tmp_path / "w"
    w.mkdir()
    m = _run(data, raw, tmp_path / "out", w, "--decide", rc=1)
    assert m["decided"]["path"] is None and "no renderer met" in m["decided"]["reason"]
    assert not (w / "renderer.json").exists()


def test_write_renderer_choice_records_the_decision_and_its_numbers(tmp_path: Path) -> None:
    live = {
        "meshflow": {
            "csim_source": 0.95,
            "pose_r": 0.8,
            "au_r": {"AU12": 0.7},
            "sharpness": 0.95,
            "pairs": 9,
        },
    }
    summary = {
        "decision": {
            "renderer": "meshflow",
            "method": "mesh_flow",
            "rule": "RULE",
            "scores": {"meshflow": 0.5},
        },
        "live_protocol": {"live": live, "pairs": [{}] * 9, "frames": 120},
    }
    d = write_renderer_choice(summary, tmp_path)
    doc = json.loads((tmp_path / "renderer.json").read_text())
    assert d["path"] == str(tmp_path / "renderer.json")
    assert doc["default"] == "meshflow" and doc["scores"] == {"meshflow": 0.5} and doc["live"] == live
    assert doc["pairs"] == 9 and doc["frames"] == 120 and "facegan-evaluate --decide" in doc["why"]
    assert "RULE" in doc["why"]
    assert (
        write_renderer_choice({"decision": summary["decision"]}, tmp_path / "x")["path"] is None
    )  # --no-live


# -- the live run with a fake teacher: a clip where the teacher loses the face ------------------------------


class _BrightnessTeacher:
    """Sees a 'face' whose pose and AUs are the frame's brightness; none in a dark frame."""

    def measure(self, rgb: np.ndarray) -> Any:
        from training.evaluation.metrics import FaceMeasure

        b = float(rgb.mean())
        if b < 20:
            return None
        ang = np.linspace(0, 2 * np.pi, 478, endpoint=False)
        lm = np.column_stack([32 + 20 * np.cos(ang), 32 + 24 * np.sin(ang)]).astype(np.float32)
        return FaceMeasure(np.full(17, b / 255, np.float32), np.array([b, b / 2, b / 3], np.float32), lm)


def _clip(path: Path, dark: set[int], n: int = 12) -> list[np.ndarray]:
    from _synthetic_dataset import write_mp4 as _write_mp4

    frames = []
    for t in range(n):
        level = 0 if t in dark else int(120 + 60 * np.sin(t / 2))
        frames.append(np.full((64, 64, 3), level, np.uint8))
    _write_mp4(path, frames)
    return frames


def test_a_clip_where_the_teacher_loses_the_face_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.evaluation.live_run as lr

    _clip(tmp_path / "drive.mp4", dark={3, 4, 5})
    cv2.imwrite(str(tmp_path / "photo.png"), np.full((64, 64, 3), 128, np.uint8))
    tracks = [
        TrackInfo("t0", "driver", "drive.mp4", "video", 12, tmp_path),
        TrackInfo("t1", "photo", "photo.png", "photo", 1, tmp_path),
    ]
    # the "renderer" returns the driver itself: it follows perfectly, and loses the face where the driver does
    monkeypatch.setattr(lr, "run_live", lambda src, clip, name, n, w=None, keep=False: lr.read_clip(clip, n))
    opts = lr.LiveOptions(tmp_path, pairs=2, frames=12, renderers=("meshwarp",), csim_every=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "live_moments_7.jpg").write_bytes(b"an earlier run's")
    res = lr.run_protocol(tracks, opts, out, _BrightnessTeacher(), None)
    assert len(res.pairs) == 1  # the photo person cannot drive
    assert (
        res.skipped["live: driving frames where the teacher finds no face (left out of r and flicker)"] == 3
    )
    assert res.skipped["live/meshwarp: output frames where the teacher finds no face"] == 3
    (row,) = res.rows
    assert row["driver_face_lost"] == 3 and row["face_found"] == pytest.approx(9 / 12)
    assert row["pose_r"] > 0.99 and row["au_r"]["AU12"] > 0.99
    assert (out / "live_side_by_side.mp4").is_file() and (out / "live_grid.png").is_file()
    # the moments sheet: AUs (smile, frown, brows) and pose move with the brightness, the landmarks do not; an
    # earlier run's sheet in the same folder is gone
    assert not (out / "live_moments_7.jpg").exists()
    sheet = cv2.imread(str(out / "live_moments_0.jpg"))
    assert sheet is not None and sheet.shape[:2] == (24 + 4 * 256, 2 * 256)
    # a clip where the teacher never finds the face: the pair is left out, and said so
    _clip(tmp_path / "drive.mp4", dark=set(range(12)))
    res = lr.run_protocol(tracks, opts, out, _BrightnessTeacher(), None)
    assert (
        res.skipped[
            "live/meshwarp: pair left out: the teacher found a face in fewer than 3 frames of both clips"
        ]
        == 1
    )
    assert (
        res.skipped["live: driving frames where the teacher finds no face (left out of r and flicker)"] == 12
    )


def test_progress_counts_on_stderr_without_tqdm() -> None:
    buf = io.StringIO()
    with Progress(3, "evaluate", stream=buf, use_tqdm=False, every_s=0) as bar:
        for _ in bar.wrap(range(3), "self"):
            pass
    assert buf.getvalue().splitlines() == [
        "evaluate: 1/3 self",
        "evaluate: 2/3 self",
        "evaluate: 3/3 self",
        "evaluate: 3/3 done",
    ]


# -- real faces ---------------------------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.slow
@needs_teacher
def test_live_numbers_on_real_clips(tmp_path: Path) -> None:
    """Synthetic crops for the paper protocol, two real dev clips (two people) for the live one."""
    clips = [DEV / "DPE" / "data" / "s.mp4", DEV / "DPE" / "data" / "d.mp4"]
    if not all(c.is_file() for c in clips):
        pytest.skip(f"real dev clips not found under {DEV}")
    data = write_synthetic_dataset(tmp_path / "data", n_tracks=2, frames=8, size=32, seed=0)
    info = json.loads((data / "dataset.json").read_text())
    for t, c in zip(info["tracks"], clips, strict=True):
        t["source"] = str(c.relative_to(DEV))
    (data / "dataset.json").write_text(json.dumps(info))
    w = tmp_path / "w"
    w.mkdir()
    m = _run(data, DEV, tmp_path / "out", w, "--live-frames", "12")
    live = m["mesh_warp_transfer"]["live"]
    assert live["pairs"] == 1 and live["face_found"] > 0.9
    assert live["csim_source"] is not None and live["csim_source"] > live["csim_driver"]
    assert live["sharpness"] is not None and 0 < live["sharpness"] < 2
    assert m["mesh_flow"]["live"]["pairs"] == 1


@needs_teacher
def test_the_live_only_command_still_runs_and_decides_nothing_without_a_winner(tmp_path: Path) -> None:
    from training.evaluation.live import main as live_main

    data, raw = _dataset(tmp_path)
    w = tmp_path / "w"
    w.mkdir()
    out = tmp_path / "live"
    args = ["--data", str(data), "--raw", str(raw), "--out", str(out), "--pairs", "1", "--frames", "4"]
    assert live_main([*args, "--weights", str(w), "--renderer", "meshwarp", "--decide"]) == 1
    assert (out / "live.md").is_file() and (out / "live.json").is_file()
    assert "## Skipped" in (out / "live.md").read_text()
    assert not (w / "renderer.json").exists()


def test_a_frame_folder_drives_and_photo_only_people_are_counted(tmp_path: Path) -> None:
    import training.evaluation.live_run as lr

    folder = tmp_path / "seq"
    folder.mkdir()
    for k in (10, 2, 1):  # natural order: 1, 2, 10
        cv2.imwrite(str(folder / f"{k}.png"), np.full((8, 8, 3), k * 10, np.uint8))
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    tracks = [
        TrackInfo("t0", "driver", "seq", "frames", 3, tmp_path),
        TrackInfo("t1", "p1", "a.png", "photo", 1, tmp_path),
        TrackInfo("t2", "p2", "b.png", "photo", 1, tmp_path),
        TrackInfo("t3", "p3", "gone.mp4", "video", 5, tmp_path),
    ]
    pairs, skipped = lr.plan_live_pairs(tracks, tmp_path, n_pairs=5, seed=0)
    assert [p.clip for p in pairs] == [folder] and pairs[0].source.name in ("a.png", "b.png")
    assert skipped["live: people with photos but no clip (sources only, never drivers)"] == 2
    assert skipped[f"live: raw file of the track missing under {tmp_path}"] == 1
    assert [int(f[0, 0, 0]) for f in lr.read_clip(folder, 5)] == [10, 20, 100]


def test_an_unreadable_clip_is_counted_and_the_run_goes_on(tmp_path: Path) -> None:
    import training.evaluation.live_run as lr

    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    cv2.imwrite(str(tmp_path / "photo.png"), np.full((64, 64, 3), 128, np.uint8))
    tracks = [
        TrackInfo("t0", "driver", "broken.mp4", "video", 12, tmp_path),
        TrackInfo("t1", "photo", "photo.png", "photo", 1, tmp_path),
    ]
    opts = lr.LiveOptions(tmp_path, pairs=1, frames=4, renderers=("meshwarp",))
    buf = io.StringIO()
    with Progress(1, "live", stream=buf, use_tqdm=False, every_s=0) as bar:
        res = lr.run_protocol(tracks, opts, tmp_path, _BrightnessTeacher(), None, bar)
    assert not res.rows
    (reason,) = [k for k in res.skipped if k.startswith("live: pair not run, its files cannot be read")]
    assert res.skipped[reason] == 1
    assert buf.getvalue().splitlines()[-1] == "live: 1/1 done"


def test_chosen_pairs_run_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LiveOptions.given (`--pair SOURCE CLIP`): the pairs run as given, without a dataset's tracks, and the
    run_cam.py --keep-expression choice reaches the live path."""
    import training.evaluation.live_run as lr

    _clip(tmp_path / "drive.mp4", dark=set())
    cv2.imwrite(str(tmp_path / "photo.png"), np.full((64, 64, 3), 128, np.uint8))
    kept = []

    def run_live(src, clip, name, n, w=None, keep=False):
        kept.append(keep)
        return lr.read_clip(clip, n)

    monkeypatch.setattr(lr, "run_live", run_live)
    pair = lr.LivePair(tmp_path / "photo.png", "photo", tmp_path / "drive.mp4", "drive")
    opts = lr.LiveOptions(
        tmp_path,
        pairs=1,
        frames=12,
        renderers=("meshflow",),
        csim_every=1,
        keep_expression=True,
        given=(pair,),
    )
    out = tmp_path / "out"
    out.mkdir()
    res = lr.run_protocol([], opts, out, _BrightnessTeacher(), None)
    assert res.pairs == [pair] and len(res.rows) == 1 and kept == [True]


def test_the_au_sweep_shows_the_decided_renderer_else_the_run_time_default(tmp_path: Path) -> None:
    """Where the rule decided nothing, the sweep shows what run_cam.py runs with these weights (renderer.json),
    not the trained chain."""
    from training.evaluation.fold import sweep_renderer

    decided = {"decision": {"renderer": "meshwarp"}}
    undecided = {"decision": {"renderer": None}}
    (tmp_path / "renderer.json").write_text(json.dumps({"default": "meshflow"}))
    assert sweep_renderer(decided, tmp_path) == "meshwarp"
    assert sweep_renderer(undecided, tmp_path) == "meshflow"
    assert sweep_renderer({}, tmp_path) == "meshflow"  # the live protocol not run
    (tmp_path / "renderer.json").unlink()
    assert sweep_renderer(undecided, tmp_path) == "facegan"  # no renderer.json: the run-time's own preference
