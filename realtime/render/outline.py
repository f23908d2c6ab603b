"""The face's outline through a turn: the mesh's points at the silhouette kept from folding the face over.

A turning head moves the face oval's points (deepest in the mesh) furthest. Those a turn pushes inside the face go
back to its outline, those the photo hides behind its cheek stay hidden (`keep_outline`), and the outermost
triangles a turn turns over are unfolded (`Rim`): folded, either showed the photo's silhouette band (shadow, ear,
background) on the cheek. Both are measured against the
photo, so a face at rest does not move; `realtime.render.meshflow.MeshFlow` applies them to lt each frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from realtime.face.topology import NUM_LANDMARKS
from realtime.render.raster import signed_area

RIM_STEPS = (0.25, 0.5, 0.75, 1.0)
"""Shares of the way from an oval point's own motion to its inner neighbours' that `Rim.unfold` tries, in turn."""
RIM_SLIVER = 0.05
"""Area (crop pixels squared) under which a rim triangle of the photo is a sliver with no orientation to keep."""
HIDDEN_OUT = 0.5
"""Crop pixels by which a face-oval point that the photo hides inside its cheek's outline may come out of it
(`keep_outline`)."""


def outline_depth(pts: np.ndarray, oval: np.ndarray) -> np.ndarray:
    """(K,) how far inside the outline of the other points each face-oval point lies (px; negative: outside)."""
    inner = np.ones(len(pts), bool)
    inner[oval] = False
    hull = cv2.convexHull(pts[inner].astype(np.float32))
    return np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), True) for x, y in pts[oval]])


@dataclass(frozen=True)
class Rim:
    """The face mesh's outermost triangles: those with a corner on the face oval.

    A turning head's near cheek widens (its side faces the camera), and the mesh's points at the silhouette,
    deepest in the face, move out furthest. In a frontal photo that band is a sliver a pixel or two wide, and
    its inner points often lie on or past the oval: moved out further, the oval points crossed them, the rim's
    triangles turned over, and the photo's silhouette (skin, background, the shadow under the ear) was read
    mirrored and stretched into grey-blue stripes down the near jaw (the EDTalk Lei Jun photo under
    LivePortrait's d12 clip, 18-19 crop pixels out). `unfold` moves each oval point of a turned-over rim
    triangle towards its inner neighbours' motion, just far enough: the cheek still widens with the inner
    points, the silhouette band is not turned over."""

    triangles: np.ndarray  # (R, 3) mesh point indices
    oval_points: np.ndarray  # (P,) the oval points in any rim triangle
    neighbours: np.ndarray  # (P, 478) float32: each one's inner neighbours (rows summing to 1)

    @staticmethod
    def of(face_triangles: np.ndarray, oval: np.ndarray) -> Rim:
        tris = np.asarray(face_triangles)
        tris = tris[(tris < NUM_LANDMARKS).all(1)]
        on_oval = np.zeros(NUM_LANDMARKS, bool)
        on_oval[np.asarray(oval)] = True
        rim = tris[on_oval[tris].any(1) & ~on_oval[tris].all(1)]
        points = np.unique(rim[on_oval[rim]])
        weights = np.zeros((len(points), NUM_LANDMARKS), np.float32)
        for row, p in enumerate(points):
            inner = np.unique([q for t in rim if p in t for q in t if not on_oval[q]])
            weights[row, inner] = 1.0 / len(inner)
        return Rim(rim, points, weights)

    def areas(self, pts: np.ndarray) -> np.ndarray:
        """(R,) float64: each rim triangle's signed area in `pts` (478, 2), twice over (`raster.signed_area`)."""
        return signed_area(np.asarray(pts, np.float64)[self.triangles, :2])

    def orientation(self, pts: np.ndarray) -> np.ndarray:
        """(R,) float32: +1 / -1, each rim triangle's orientation in `pts` (478, 2), or 0 for a sliver."""
        area2 = self.areas(pts)
        return (np.sign(area2) * (np.abs(area2) > 2.0 * RIM_SLIVER)).astype(np.float32)

    def turned(self, pts: np.ndarray, sign: np.ndarray) -> np.ndarray:
        """(R,) bool: the rim triangles turned over in `pts` from the orientation `sign` (`orientation`)."""
        return self.areas(pts) * sign < 0

    def unfold(self, lt: np.ndarray, ls: np.ndarray, sign: np.ndarray) -> np.ndarray:
        """lt (478, 2) with the oval points of rim triangles turned over from the photo's orientation `sign`
        moved towards their inner neighbours' motion (RIM_STEPS); the rest, and a face whose rim keeps its
        orientation, as given."""
        turned = self.turned(lt, sign)
        if not turned.any():
            return lt
        motion = lt - ls
        inner = self.neighbours @ motion  # (P, 2) the mean motion of each oval point's inner neighbours
        share = np.zeros(len(self.oval_points), np.float32)
        out = lt
        for step in RIM_STEPS:
            hit = np.isin(self.oval_points, self.triangles[turned])
            if not hit.any():
                break
            share[hit] = step
            out = lt.copy()
            p = self.oval_points
            out[p] = ls[p] + (1.0 - share[:, None]) * motion[p] + share[:, None] * inner
            turned = self.turned(out, sign)
        return out


def keep_outline(
    lt: np.ndarray, ls: np.ndarray, oval: np.ndarray, ls_depth: np.ndarray | None = None
) -> np.ndarray:
    """lt (478, 2) with no face-oval point deeper inside the outline of the other points than it is in the
    photo (ls), and none that the photo hides inside that outline come out of it by more than HIDDEN_OUT.

    A turning head's far oval points (deep in the mesh) moved inside its cheek: the triangles between them
    folded and showed the photo's silhouette band (shadow, ear, background) as a grey patch on the far cheek.
    The other way round, a photo turned 20 degrees hides its far oval points up to a twentieth of the face's
    width inside its cheek's silhouette (the rim's triangles there folded in the photo itself); turned back
    towards the camera, they came out of it and unfolded that band, so the photo's silhouette was read twice,
    once mirrored inside the cheek as a pale grey streak (PRNet's 4.jpg under SkyReels-A1's clip 1 and
    LivePortrait's d12). Measured against the photo, so a face at rest does not move. `ls_depth`: the photo's
    `outline_depth`, computed once per source by MeshFlow."""
    depth = outline_depth(ls, oval) if ls_depth is None else ls_depth
    deepest = depth + 0.5
    shallowest = np.where(depth > 0.0, depth - HIDDEN_OUT, -np.inf)
    inner = np.ones(len(lt), bool)
    inner[oval] = False
    centre = lt[inner].mean(0)
    out = lt
    for _ in range(2):  # a radial step by the distance to the nearest edge undershoots where it is oblique
        now = outline_depth(out, oval)
        excess = np.maximum(now - deepest, 0.0) + np.minimum(now - shallowest, 0.0)  # > 0: in, < 0: out
        off = excess != 0.0
        if not off.any():
            break
        out = out.copy()
        d = out[oval][off] - centre
        d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
        out[oval[off]] += d * excess[off, None]
    return out
