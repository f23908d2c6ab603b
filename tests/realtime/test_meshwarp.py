"""MeshWarpRenderer: identity, a known affine move, no tearing, bad input (synthetic images, no mediapipe)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.face.topology import FACE_OVAL
from realtime.render.mesh_topology import build_topology
from realtime.render.meshwarp import MeshWarpRenderer

S = 256
MEAN_FACE = Path(__file__).resolve().parents[2] / "realtime" / "weights" / "mean_face.npy"


@pytest.fixture(scope="module")
def face_px() -> np.ndarray:
    """(478, 2) a plausible face in crop pixels: the shipped mean mesh, or skip when it is not there."""
    if not MEAN_FACE.is_file():
        pytest.skip(f"mean face not found at {MEAN_FACE}")
    mean = np.load(MEAN_FACE)[:, :2]  # (478, 2), y down, about [-1, 1]
    return (np.array([128.0, 135.0]) + 70.0 * mean).astype(np.float32)


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    """Smooth random colours (low frequency, so bilinear sampling differences stay small)."""
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
    return cv2.resize(small, (S, S), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def test_topology_is_the_tessellation_with_three_holes() -> None:
    topo = build_topology()
    assert topo.face_triangles.shape == (852, 3)  # Euler: 468 - 1322 + F = 1 - 3 holes
    assert sorted(len(h) for h in topo.holes) == [16, 16, 20]  # two eyes, inner lips
    assert set(topo.oval.tolist()) == set(FACE_OVAL)


def test_identity_warp_returns_the_source(face_px: np.ndarray, texture: np.ndarray) -> None:
    out = MeshWarpRenderer(S).render(texture, face_px, face_px.copy())
    np.testing.assert_array_equal(out, texture)


def test_affine_landmark_move_warps_the_face_affinely(face_px: np.ndarray, texture: np.ndarray) -> None:
    ang = np.deg2rad(6.0)
    a = 1.04 * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    c = face_px.mean(0)
    shift = np.array([4.0, -3.0])
    lt = ((face_px - c) @ a.T + c + shift).astype(np.float32)
    out = MeshWarpRenderer(S).render(texture, face_px, lt)
    forward = np.hstack([a, (c + shift - a @ c)[:, None]])  # (2, 3) source -> target
    expected = cv2.warpAffine(
        texture, forward, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    inside = np.zeros((S, S), np.uint8)  # inside the moved face oval, away from its edge
    cv2.fillConvexPoly(inside, cv2.convexHull(lt[list(FACE_OVAL)].astype(np.int32)), 1)
    inside = cv2.erode(inside, np.ones((7, 7), np.uint8)).astype(bool)
    diff = np.abs(out.astype(int) - expected.astype(int))[inside]
    assert inside.sum() > 10000
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 4


def test_no_tearing_and_a_still_border(face_px: np.ndarray, texture: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    lt = (face_px + rng.normal(0, 2.0, face_px.shape) + np.array([10.0, 6.0])).astype(np.float32)
    renderer = MeshWarpRenderer(S)
    map_x, map_y = renderer.backward_map(face_px, lt)
    # Every target pixel is sampled from inside the source (no hole, no smear from outside the crop).
    assert map_x.min() >= -0.5 and map_x.max() <= S - 0.5 and map_y.min() >= -0.5 and map_y.max() <= S - 0.5
    white = np.full((S, S, 3), 255, np.uint8)
    assert (renderer.render(white, face_px, lt) == 255).all()
    out = renderer.render(texture, face_px, lt)
    frame = np.ones((S, S), bool)
    frame[2:-2, 2:-2] = False  # the outermost pixels are pinned by the fixed border points
    assert np.abs(out.astype(int) - texture.astype(int))[frame].mean() < 2.0


def test_a_head_swinging_near_the_crops_edge_leaves_the_neck_behind_without_a_fold() -> None:
    """A face whose chin is near the crop's bottom (as the aligned crop puts it) moved 40 px sideways: the ring
    under the chin must not swing past the fixed border points (a fold there cut a shirt's tie knot by a hard
    edge), and the neck under the chin follows less than the side of the head does."""
    if not MEAN_FACE.is_file():
        pytest.skip(f"mean face not found at {MEAN_FACE}")
    mean = np.load(MEAN_FACE)[:, :2]
    ls = (np.array([128.0, 150.0]) + 85.0 * mean).astype(np.float32)
    assert S - 1 - ls[152, 1] < 40  # the chin close to the bottom edge
    lt = ls + np.array([40.0, 0.0], np.float32)
    renderer = MeshWarpRenderer(S)
    map_x, map_y = renderer.backward_map(ls, lt)
    xs = np.arange(S, dtype=np.float32)
    assert np.abs(map_x[S - 1] - xs).max() < 0.5 and np.abs(map_y[S - 1] - (S - 1)).max() < 0.5  # the border
    bottom = map_x[S - 12 :]  # no fold near the edge: each row reads the photo left to right
    assert (np.diff(bottom, axis=1) > 0).all()
    ring = renderer._ring_target(
        renderer._source_layout(ls), lt[renderer.topology.oval] - ls[renderer.topology.oval]
    )
    moved = np.linalg.norm(ring - renderer._source_layout(ls).ring_source, axis=1)
    oval = list(renderer.topology.oval)
    sides = [oval.index(234), oval.index(454)]  # beside the ears
    assert moved[oval.index(152)] < 0.3 * moved[sides].min()  # the ring under the chin stays nearly put


def test_a_newly_opened_mouth_is_shaded_as_a_cavity(face_px: np.ndarray) -> None:
    lt = face_px.copy()
    lower = (face_px[:, 1] > face_px[14, 1] - 0.5) & (np.abs(face_px[:, 0] - face_px[14, 0]) < 40)
    lt[lower, 1] += 12.0  # drop the lower lip and chin
    grey = np.full((S, S, 3), 200, np.uint8)
    out = MeshWarpRenderer(S).render(grey, face_px, lt)
    inside = lt[[13, 14]].mean(0).round().astype(int)  # between the lips
    assert out[inside[1], inside[0]].max() < 175  # clearly darker than the 200 around it
    assert (out[:40] == 200).all()  # far from the mouth nothing changes


def test_bad_input_is_refused(face_px: np.ndarray, texture: np.ndarray) -> None:
    r = MeshWarpRenderer(S)
    with pytest.raises(ValueError, match="uint8"):
        r.render(texture.astype(np.float32), face_px, face_px)
    with pytest.raises(ValueError, match="478"):
        r.render(texture, face_px[:468], face_px)


def test_the_iris_moves_as_one_piece_with_the_gaze() -> None:
    """The iris points moved sideways by 3 crop px: around the iris centre (inside the eye's inner ring) every
    pixel reads the photo 3 px back, not only the centre itself."""
    from realtime.face.topology import LEFT_IRIS, LEFT_IRIS_CENTER, RIGHT_IRIS, RIGHT_IRIS_CENTER

    mean = np.load(Path(__file__).resolve().parents[2] / "realtime" / "weights" / "mean_face.npy")
    ls = (128.0 + 90.0 * mean[:, :2]).astype(np.float32)  # a face about 180 px wide in a 256 crop
    lt = ls.copy()
    irises = [RIGHT_IRIS_CENTER, *RIGHT_IRIS, LEFT_IRIS_CENTER, *LEFT_IRIS]
    lt[irises, 0] += 3.0
    map_x, map_y = MeshWarpRenderer(256).backward_map(ls, lt)
    for centre in (RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER):
        cx, cy = np.round(lt[centre]).astype(int)
        for dx in (-3, 0, 3):  # across the iris, within the inner ring
            assert map_x[cy, cx + dx] == pytest.approx(cx + dx - 3.0, abs=0.35)
            assert map_y[cy, cx + dx] == pytest.approx(cy, abs=0.35)


def test_a_lowered_lid_carries_its_lash_strip_whole_and_stretches_the_skin_over_it(
    face_px, monkeypatch
) -> None:
    """The upper lids lowered by 6 px (the rings over them kept): just over the lid line the map reads the
    photo just over its own lid line, the lashes moved whole; the stretch is left to the skin above them.
    Without the lash points (LASH_STRIP 0), the whole band stretched and the lashes stood as a broad streak."""
    import realtime.render.meshwarp as mw
    from realtime.render.eyes import EYE_LOOPS

    big = 2.0 * face_px  # 512 px crop: eyes about 60 px wide
    lt = big.copy()
    lids = [i for e in (0, 1) for i in EYE_LOOPS[e][1:8]]
    lt[lids, 1] += 6.0

    def read_over_lid(renderer: MeshWarpRenderer, up: float) -> float:
        """How far over the source's lid line the target's pixel `up` px over its lid line reads (eye 0's
        middle lid point)."""
        _, map_y = renderer.backward_map(big, lt)
        x, y = lt[EYE_LOOPS[0][4]]
        yy = y - up
        ys = cv2.remap(map_y, np.float32([[x]]), np.float32([[yy]]), cv2.INTER_LINEAR)[0, 0]
        return float(big[EYE_LOOPS[0][4], 1] - ys)

    renderer = MeshWarpRenderer(512)
    strip = mw.LASH_STRIP * float(np.linalg.norm(big[EYE_LOOPS[0][8]] - big[EYE_LOOPS[0][0]]))
    assert strip > 3.0
    for up in (1.0, 0.8 * strip):
        assert abs(read_over_lid(renderer, up) - up) < 0.35  # 1:1 inside the strip
    monkeypatch.setattr(mw, "LASH_STRIP", 0.0)
    stretched = MeshWarpRenderer(512)
    assert read_over_lid(stretched, 0.8 * strip) < 0.8 * 0.8 * strip  # the whole band stretched
