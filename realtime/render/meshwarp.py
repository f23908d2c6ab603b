"""Training-free mesh-warp renderer: a piecewise-affine warp of the source over the face mesh.

Two uses: the baseline `mesh_warp` of the evaluation (issue 6) and the run-time fallback when no trained
weights are found. Given the source crop, its landmarks ls and transformed landmarks lt (both in crop
pixels), every triangle of the MediaPipe tessellation is mapped affinely from its lt position back to its
ls position. The warp is backward (target pixel -> source pixel), built as one dense map and applied with
one `cv2.remap`, so no pixel is left unpainted and the cost does not depend on the number of triangles
beyond rasterising their ids (`realtime.render.raster`).

Topology, built once per renderer (the tessellation's own in `realtime.render.mesh_topology`):
- face: the 3-cliques of `TESSELATION_EDGES` (852 real faces; the 2 cliques whose edges all belong to
  three triangles are spurious and dropped), 880 with the lid bands split (below);
- holes (the two eyes and the inner lips, the loops of edges that belong to one triangle only) are filled
  by fans around a virtual centre, so the eye and mouth interiors are warped from the source as well: the
  eye's fan centre is the iris centre where it lies inside the eye in both ls and lt, so gaze moves too;
- each upper lid's band (from the lid line to the ring of points over it) is split by a line of virtual lash
  points (`lash_points`, LASH_STRIP of the eye's width over the lid), so a lid that comes down carries its
  lashes whole and the skin above them stretches (the 14 band triangles of each eye become 28);
- surround: a ring around the face oval that follows the face at `ring_follow` of its motion (less under the
  chin, NECK_FOLLOW, and never more than RING_ROOM of its way to the crop's edge), and fixed points on the crop
  border, Delaunay-triangulated per source, so the background stays put at the border and stretches smoothly
  near the face instead of tearing.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from realtime.face.topology import CHIN, NUM_LANDMARKS
from realtime.render.draw import SHIFT, fill_mask
from realtime.render.eyes import EYE_LOOPS, UPPER_RINGS
from realtime.render.mesh_topology import build_topology
from realtime.render.raster import affines, rasterise, signed_area

log = logging.getLogger(__name__)

MOUTH_SHADE = 0.85
"""How far a newly opened mouth is darkened towards MOUTH_TINT (0: not at all)."""
IRIS_RING = 0.5
"""An eye's inner ring of virtual points, as a share of the way from the iris centre to each lid point: inside
it the eye moves as one piece (the iris follows the gaze whole). At 0.7 the white squeezed between the ring and
a corner broke into dark specks; 0.5 follows the gaze as well (0.88 of it either way)."""
LASH_STRIP = 0.08
"""Share of the eye's corner-to-corner width over each upper lid line (the lashes and the lid's rim) that moves as
one strip (at most LASH_MAX of the way to the ring over the lid): a virtual line of points there splits the
band between the lid and that ring, so a lid that comes down carries its lashes whole and only the skin above
them stretches. Stretched with the band, the photo's lashes stood over a closing eye as a broad smoky streak."""
LASH_MAX = 0.8
"""The most of the way from a lid point to the ring point over it that its lash point lies."""
MOUTH_TINT = np.array([0.35, 0.22, 0.22], np.float32)
"""Colour factor of a mouth cavity (dark, slightly red)."""
NECK_FOLLOW = 0.25
"""Share of `ring_follow` the ring keeps under the chin: the neck and the collar stay with the body while the
head turns over them (the ring's follow falls from the full share at NECK_SIDE to this at the chin). At the
full share the ring point under the chin swung with it, 0.6 of a 42-crop-pixel swing, past the crop's bottom
edge, 25 px away: the shirt and tie knot between them (Jim Acosta's photo, Jamie Oliver turning) were cut by a
hard diagonal edge where the fold met the unmoved frame."""
NECK_SIDE = (0.3, 0.8)
"""Cosines of the angle from the face's down direction (oval centre to chin) between which a ring point's
follow falls to NECK_FOLLOW: from about 73 degrees (the ears, the jaw's corners keep the full share) to 37."""
RING_ROOM = 0.5
"""The most a ring point moves, as a share of its distance to the nearest crop edge: the band between the ring
and the fixed border points never folds (a folded band painted the region past it at the crop's edge)."""


@dataclass(frozen=True)
class _SourceLayout:
    """What depends on the source landmarks only (cached per source)."""

    key: bytes
    surround_triangles: np.ndarray  # (G, 3) int32 into the extended point array
    ring_source: np.ndarray  # (K, 2) float32
    follow: np.ndarray  # (K, 1) float32: the share of its oval point's motion each ring point takes
    reach: np.ndarray  # (K,) float32: the most each ring point moves (crop pixels)


class MeshWarpRenderer:
    """Piecewise-affine warp of a source crop by its landmarks (ls -> lt) over the face mesh.

    `render(source_crop (S, S, 3) uint8, ls_px (478, 2), lt_px (478, 2)) -> (S, S, 3) uint8`, landmarks in
    crop pixels. Not thread-safe (it caches the layout of the last source).
    """

    def __init__(
        self, size: int = 256, *, ring_scale: float = 1.45, ring_follow: float = 0.6, border_points: int = 6
    ) -> None:
        """`ring_scale`: ring radius over the face oval's, about the oval's centre; `ring_follow`: the share of
        the face's motion the ring takes; `border_points`: fixed points per crop side (corners included)."""
        if size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {size}")
        self.size = size
        self.ring_scale = ring_scale
        self.ring_follow = ring_follow
        self.topology = build_topology()
        t = np.linspace(0.0, size - 1.0, border_points)
        lo, hi = np.zeros_like(t), np.full_like(t, size - 1.0)
        border = np.concatenate(
            [
                np.stack([t, lo], 1),
                np.stack([hi, t], 1)[1:],
                np.stack([t[::-1], hi], 1)[1:],
                np.stack([lo, t[::-1]], 1)[1:-1],
            ]
        )
        self._border = border.astype(np.float32)  # (B, 2)
        self._layout: _SourceLayout | None = None
        self._xs = np.arange(size, dtype=np.float32)[None, :]  # (1, S) pixel x
        self._ys = np.arange(size, dtype=np.float32)[:, None]  # (S, 1) pixel y
        self._hole_triangles = self._fan_triangles()
        eyes = [
            len(h) for h, c in zip(self.topology.holes, self.topology.hole_centres, strict=True) if c >= 0
        ]
        self._lash_first = NUM_LANDMARKS + len(self.topology.holes) + sum(eyes)
        """Index of the first lash point in the extended point array (after the holes' virtual points)."""
        self._face_triangles = self._split_lid_bands()
        mouths = [h for h, c in zip(self.topology.holes, self.topology.hole_centres, strict=True) if c < 0]
        self._mouth_loop = mouths[0] if mouths else None

    # -- topology helpers -------------------------------------------------------------------------------

    def _fan_triangles(self) -> np.ndarray:
        """Fans filling each hole around a virtual centre point NUM_LANDMARKS + hole index; an eye's fan has an
        inner ring of virtual points (one per lid point, after the centres) so that its middle, the iris, can
        move as one piece (`_hole_points`)."""
        tris = []
        n_holes = len(self.topology.holes)
        inner = NUM_LANDMARKS + n_holes
        for h, loop in enumerate(self.topology.holes):
            centre, k = NUM_LANDMARKS + h, len(loop)
            for i in range(k):
                a, b = int(loop[i]), int(loop[(i + 1) % k])
                if self.topology.hole_centres[h] < 0:
                    tris.append((a, b, centre))
                    continue
                va, vb = inner + i, inner + (i + 1) % k
                tris += [(va, vb, centre), (a, b, va), (b, vb, va)]
            if self.topology.hole_centres[h] >= 0:
                inner += k
        return np.asarray(tris, np.int32)

    def _split_lid_bands(self) -> np.ndarray:
        """The tessellation's face triangles with each upper lid's band (between the lid line, corner to corner,
        and the ring over it) re-triangulated as two strips on a line of lash points (`lash_points`)."""
        tris = self.topology.face_triangles
        keep = np.ones(len(tris), bool)
        new = []
        for eye, (loop, ring) in enumerate(zip(EYE_LOOPS, UPPER_RINGS, strict=True)):
            lid = loop[:9]  # corner, the 7 upper lid points, corner
            band = set(lid) | set(ring)
            in_band = np.array([set(t) <= band and bool(set(t) & set(ring)) for t in tris.tolist()])
            if in_band.sum() != 14:  # 16 points round the band (9 on the lid, 7 on the ring): 14 triangles
                raise RuntimeError(f"eye {eye}: the lid band has {in_band.sum()} triangles, not 14")
            keep &= ~in_band
            lash = [lid[0], *(self._lash_first + 7 * eye + i for i in range(7)), lid[8]]
            over = [lid[0], *ring, lid[8]]
            for lower, upper in ((lid, lash), (lash, over)):  # each strip: quads, one triangle at each corner
                new.append((lower[0], lower[1], upper[1]))
                for i in range(1, 7):
                    new += [(lower[i], lower[i + 1], upper[i + 1]), (lower[i], upper[i + 1], upper[i])]
                new.append((lower[7], lower[8], upper[7]))
        return np.concatenate([tris[keep], np.asarray(new, np.int32)])

    def lash_points(self, ls: np.ndarray, lt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(14, 2) each, source and target: per eye, a point over each of the 7 upper lid points towards the ring
        over it, LASH_STRIP of the eye's width up in the source (at most LASH_MAX of the way). In the target it
        is as far up in proportion to the eye's width, on the line to the target's ring (at most LASH_MAX of
        the way), so the strip moves whole and nothing folds."""
        ps, pt = [], []
        for loop, ring in zip(EYE_LOOPS, UPPER_RINGS, strict=True):
            lid, over = list(loop[1:8]), list(ring)
            w_s = max(float(np.linalg.norm(ls[loop[8]] - ls[loop[0]])), 1e-6)
            w_t = float(np.linalg.norm(lt[loop[8]] - lt[loop[0]]))
            d_s = ls[over] - ls[lid]  # (7, 2)
            d_t = lt[over] - lt[lid]
            n_s = np.maximum(np.linalg.norm(d_s, axis=1), 1e-6)
            n_t = np.maximum(np.linalg.norm(d_t, axis=1), 1e-6)
            f_s = np.minimum(LASH_STRIP * w_s / n_s, LASH_MAX)
            f_t = np.minimum(f_s * n_s * (w_t / w_s) / n_t, LASH_MAX)
            ps.append(ls[lid] + f_s[:, None] * d_s)
            pt.append(lt[lid] + f_t[:, None] * d_t)
        return np.concatenate(ps).astype(np.float32), np.concatenate(pt).astype(np.float32)

    def _hole_points(self, ls: np.ndarray, lt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P, 2) the holes' virtual points in source and target: each fan's centre (the iris centre if inside
        the eye in both, else the loop's mean), then each eye's inner ring.

        The inner ring is IRIS_RING of the way from the centre to each lid point. In the target it is the
        source ring carried by the iris' motion and the eye's own linear change (the lids' least-squares
        affine): the iris moves as one piece, the white around it stretches. A single fan moved the pupil and
        dragged the iris' edge only part of the way: the photo's iris followed 0.65 of the driver's gaze (the
        LivePortrait d0 clip on the smirk/dafoe photo, measured by the mesh), 0.88 with the ring. Where the
        ring would fold a triangle (a gaze into a corner, a shutting eye) it is blended towards the
        proportional ring (the single fan's map) just enough."""
        cs, ct, rs, rt = [], [], [], []
        for loop, centre in zip(self.topology.holes, self.topology.hole_centres, strict=True):
            ps, pt = ls[loop].mean(0), lt[loop].mean(0)
            iris = centre >= 0 and _inside(ls[loop], ls[centre]) and _inside(lt[loop], lt[centre])
            if iris:
                ps, pt = ls[centre], lt[centre]
            cs.append(ps)
            ct.append(pt)
            if centre < 0:
                continue
            ring_s = ps + IRIS_RING * (ls[loop] - ps)  # (K, 2)
            proportional = pt + IRIS_RING * (lt[loop] - pt)
            if not iris:
                rs.append(ring_s)
                rt.append(proportional)
                continue
            lin = _linear_fit(ls[loop] - ls[loop].mean(0), lt[loop] - lt[loop].mean(0))  # (2, 2)
            rigid = pt + (ring_s - ps) @ lin.T
            rs.append(ring_s)
            rt.append(_unfolded(ls[loop], ps, ring_s, lt[loop], pt, rigid, proportional))
        return (
            np.concatenate([np.asarray(cs, np.float32)] + [np.asarray(r, np.float32) for r in rs]),
            np.concatenate([np.asarray(ct, np.float32)] + [np.asarray(r, np.float32) for r in rt]),
        )

    def _source_layout(self, ls: np.ndarray) -> _SourceLayout:
        """Ring and surround triangulation for this source (Delaunay in source space), cached."""
        key = hashlib.blake2b(ls.tobytes(), digest_size=16).digest()
        if self._layout is not None and self._layout.key == key:
            return self._layout
        oval = ls[self.topology.oval]  # (K, 2)
        centre = oval.mean(0)
        ring = np.clip(centre + self.ring_scale * (oval - centre), 1.0, self.size - 2.0).astype(np.float32)
        pts = np.concatenate([oval, ring, self._border])  # (3 parts, 2)
        k = len(oval)
        # The rectangle must hold every point: landmarks of a face cut by the crop edge lie outside it.
        lo = np.floor(np.minimum(pts.min(0), 0.0)) - 2
        hi = np.ceil(np.maximum(pts.max(0), self.size - 1.0)) + 2
        subdiv = cv2.Subdiv2D((int(lo[0]), int(lo[1]), int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1))
        for p in pts:
            subdiv.insert((float(p[0]), float(p[1])))
        tris = []
        for x1, y1, x2, y2, x3, y3 in subdiv.getTriangleList():
            # Back to point indices by position; duplicate positions resolve to the first, and a triangle
            # that then repeats an index has no area and is dropped.
            ids = [_nearest(pts, x, y) for x, y in ((x1, y1), (x2, y2), (x3, y3))]
            if len(set(ids)) < 3:
                continue
            if all(i < k for i in ids) and _inside(oval, pts[ids].mean(0)):
                continue  # inside the face: the mesh covers it
            tris.append(ids)
        down = ls[CHIN] - centre
        out = oval - centre
        cos = out @ down / np.maximum(np.linalg.norm(out, axis=1) * np.linalg.norm(down), 1e-6)
        neck = np.clip((cos - NECK_SIDE[0]) / (NECK_SIDE[1] - NECK_SIDE[0]), 0.0, 1.0)
        follow = self.ring_follow * (1.0 - (1.0 - NECK_FOLLOW) * neck)
        room = np.minimum(ring, self.size - 1.0 - ring).min(1)  # (K,) to the nearest crop edge
        self._layout = _SourceLayout(
            key,
            np.asarray(tris, np.int32).reshape(-1, 3),
            ring,
            follow[:, None].astype(np.float32),
            np.maximum(RING_ROOM * room, 0.0).astype(np.float32),
        )
        return self._layout

    @staticmethod
    def _ring_target(layout: _SourceLayout, moved: np.ndarray) -> np.ndarray:
        """(K, 2) the ring's target: each point moved by its share of its oval point's motion `moved` (K, 2),
        at most its reach."""
        step = layout.follow * moved
        length = np.linalg.norm(step, axis=1)
        scale = np.minimum(1.0, layout.reach / np.maximum(length, 1e-6))
        return (layout.ring_source + step * scale[:, None]).astype(np.float32)

    # -- the warp ---------------------------------------------------------------------------------------

    def render(self, source_crop: np.ndarray, ls_px: np.ndarray, lt_px: np.ndarray) -> np.ndarray:
        """Warp `source_crop` so that its landmarks `ls_px` move to `lt_px`."""
        s = self.size
        if source_crop.shape != (s, s, 3) or source_crop.dtype != np.uint8:
            raise ValueError(
                f"source_crop must be ({s}, {s}, 3) uint8, got {source_crop.shape} {source_crop.dtype}"
            )
        for name, arr in (("ls_px", ls_px), ("lt_px", lt_px)):
            if arr.shape[0] != NUM_LANDMARKS or arr.ndim != 2 or arr.shape[1] < 2:
                raise ValueError(f"{name} must be ({NUM_LANDMARKS}, 2), got {arr.shape}")
        ls = np.ascontiguousarray(ls_px[:, :2], np.float32)
        lt = np.ascontiguousarray(lt_px[:, :2], np.float32)
        map_x, map_y = self.backward_map(ls, lt)
        out = cv2.remap(source_crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return self._shade_mouth(out, ls, lt)

    def _shade_mouth(self, out: np.ndarray, ls: np.ndarray, lt: np.ndarray) -> np.ndarray:
        """Darken the part of the mouth opening that the source does not have.

        A closed source mouth has no inside to warp from: its fan stretches lip pixels over the opening.
        Shading the opening by how much it grew makes it read as a mouth cavity instead (no inpainting)."""
        loop = self._mouth_loop
        if loop is None:
            return out
        oval = self.topology.oval
        # Opening relative to the face's own size, so scaling the whole face does not shade the mouth.
        area_s = abs(_polygon_area(ls[loop])) / max(abs(_polygon_area(ls[oval])), 1e-6)
        area_t = abs(_polygon_area(lt[loop])) / max(abs(_polygon_area(lt[oval])), 1e-6)
        if abs(_polygon_area(lt[loop])) < 4.0 or area_t <= 1.05 * area_s:
            return out
        alpha = MOUTH_SHADE * min(1.0, (area_t - area_s) / area_t)
        x0, y0 = np.maximum(np.floor(lt[loop].min(0)).astype(int) - 3, 0)
        x1, y1 = np.minimum(np.ceil(lt[loop].max(0)).astype(int) + 4, self.size)
        if x1 <= x0 or y1 <= y0:
            return out
        poly = np.round((lt[loop] - (x0, y0)) * (1 << SHIFT)).astype(np.int32)
        mask = fill_mask((y1 - y0, x1 - x0), [poly], SHIFT)
        mask = cv2.GaussianBlur(mask, (5, 5), 1.0)[..., None] * alpha  # (h, w, 1) feathered
        roi = out[y0:y1, x0:x1].astype(np.float32)
        out = out.copy() if not out.flags.writeable else out
        out[y0:y1, x0:x1] = (roi * (1.0 - mask) + roi * MOUTH_TINT * mask).clip(0, 255).astype(np.uint8)
        return out

    def backward_map(self, ls: np.ndarray, lt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dense (S, S) float32 maps: target pixel -> source pixel."""
        layout = self._source_layout(ls)
        hs, ht = self._hole_points(ls, lt)
        ring_t = self._ring_target(layout, lt[self.topology.oval] - ls[self.topology.oval])
        # Extended points: 478 landmarks, hole centres, eyes' inner rings, lash points, then (for the surround)
        # oval, ring, border.
        hs_l, ht_l = self.lash_points(ls, lt)
        src = np.concatenate([ls, hs, hs_l])
        dst = np.concatenate([lt, ht, ht_l])
        n = len(src)
        src = np.concatenate([src, ls[self.topology.oval], layout.ring_source, self._border])
        dst = np.concatenate([dst, lt[self.topology.oval], ring_t, self._border])
        surround = layout.surround_triangles + n
        tris = np.concatenate([surround, self._face_triangles, self._hole_triangles])  # (T, 3)
        affine = affines(dst[tris], src[tris])  # (T, 2, 3) target -> source
        # Each column of the affines as one complex number (real: map_x, imaginary: map_y), so three gathers
        # per pixel instead of six; an identity map last, which id -1 (no triangle) takes: none should be, the
        # border closes the mesh.
        table = np.empty((3, len(tris) + 1), np.complex64)
        table[:, :-1] = (affine[:, 0] + 1j * affine[:, 1]).T
        table[:, -1] = (1.0, 1j, 0.0)
        ids = rasterise(dst, tris, self.size, n_surround=len(surround), src=src)
        xy = table[0].take(ids)  # (S, S) complex64: x coefficient, times x
        xy *= self._xs
        part = table[1].take(ids)
        part *= self._ys
        xy += part
        xy += table[2].take(ids, out=part)
        s = self.size
        # Landmarks outside the crop can map a pixel outside the source: sample its edge instead.
        return np.clip(xy.real, 0.0, s - 1.0), np.clip(xy.imag, 0.0, s - 1.0)


def _polygon_area(poly: np.ndarray) -> float:
    """Signed area of a (K, 2) polygon (shoelace)."""
    x, y = poly[:, 0].astype(np.float64), poly[:, 1].astype(np.float64)
    return float(0.5 * (x @ np.roll(y, -1) - y @ np.roll(x, -1)))


def _linear_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 2) least-squares linear map L with dst ~ src @ L.T (both (K, 2), centred)."""
    sol, *_ = np.linalg.lstsq(np.asarray(src, np.float64), np.asarray(dst, np.float64), rcond=None)
    return np.asarray(sol.T)


@functools.lru_cache(maxsize=4)
def _ring_triangles(k: int) -> np.ndarray:
    """(3K, 3) triangles over the points [loop (K), inner ring (K), centre]: the inner fan, then the strip
    between the ring and the lid loop (the order of `MeshWarpRenderer._fan_triangles`)."""
    i, j = np.arange(k), (np.arange(k) + 1) % k
    return np.concatenate(
        [
            np.stack([k + i, k + j, np.full(k, 2 * k)], 1),
            np.stack([i, j, k + i], 1),
            np.stack([j, k + j, k + i], 1),
        ]
    )


def _unfolded(
    loop_s: np.ndarray,
    centre_s: np.ndarray,
    ring_s: np.ndarray,
    loop_t: np.ndarray,
    centre_t: np.ndarray,
    wanted: np.ndarray,
    safe: np.ndarray,
) -> np.ndarray:
    """(K, 2) the target inner ring nearest `wanted` on the way to `safe` whose triangles (inner fan and the
    strip to the lid loop) keep their source orientation (bisection; `safe` itself is returned if none)."""
    idx = _ring_triangles(len(loop_s))
    sign = np.sign(signed_area(np.vstack([loop_s, ring_s, centre_s[None]])[idx]))

    def ok(ring: np.ndarray) -> bool:
        area = signed_area(np.vstack([loop_t, ring, centre_t[None]])[idx])
        return bool(np.all((np.sign(area) == sign) | (np.abs(area) < 1e-6)))

    if ok(wanted):
        return wanted
    lo, hi = 0.0, 1.0  # share of the way to `safe`: hi works (or nothing does)
    for _ in range(6):
        mid = 0.5 * (lo + hi)
        if ok(wanted + mid * (safe - wanted)):
            hi = mid
        else:
            lo = mid
    return wanted + hi * (safe - wanted)


def _inside(polygon: np.ndarray, point: np.ndarray) -> bool:
    return (
        cv2.pointPolygonTest(
            polygon.astype(np.float32).reshape(-1, 1, 2), (float(point[0]), float(point[1])), False
        )
        > 0
    )


def _nearest(points: np.ndarray, x: float, y: float) -> int:
    return int(np.argmin((points[:, 0] - x) ** 2 + (points[:, 1] - y) ** 2))


def bench(size: int = 256, runs: int = 200) -> dict[str, float]:
    """Median wall and thread-CPU ms per `render` on one core: the shipped mean face, moved by a head turn
    and an open mouth. `python -m realtime.render.meshwarp` prints it."""
    import time

    from realtime.weights import weights_dir

    cv2.setNumThreads(1)
    mean = np.load(weights_dir() / "mean_face.npy")[:, :2]  # (478, 2), y down, about [-1, 1]
    scale = size / 256.0
    ls = (np.array([128.0, 135.0]) + 70.0 * mean) * scale
    lt = ls + np.array([6.0, -3.0]) * scale + 4.0 * scale * np.sin(ls[:, 1:2] / 20.0)
    lt[14] += (0, 8 * scale)
    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), (size, size))
    renderer = MeshWarpRenderer(size)
    ls32, lt32 = ls.astype(np.float32), lt.astype(np.float32)
    renderer.render(image, ls32, lt32)
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.thread_time()
        renderer.render(image, ls32, lt32)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return {"wall_ms": float(np.median(wall) * 1e3), "cpu_ms": float(np.median(cpu) * 1e3)}


if __name__ == "__main__":
    import os

    result = bench()
    load = os.getloadavg()[0]
    print(
        f"MeshWarpRenderer 256x256: median {result['wall_ms']:.2f} ms wall, {result['cpu_ms']:.2f} ms thread CPU "
        f"(load average {load:.1f})"
    )
