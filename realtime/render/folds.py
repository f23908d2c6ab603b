"""A smiling photo's smile folds taken out of its skin at the driver's rest.

Relative motion takes a grinning photo's landmarks to rest (`realtime.render.neutral`: its mouth shut, its
corners lowered), but a warp moves skin and draws nothing new: the folds the grin pressed into the cheeks (the
nasolabial folds and the creases beside the mouth) stayed, and the Dafoe photo read amused through a shout.
So, once per source photo, the cheeks' folds are flattened: in each cheek between the nose's wing, the mouth and
the jaw (FOLD_REGIONS), the photo's colour at the scale of a fold (blurred by FOLD_FINE) less that of the skin round
it (blurred by FOLD_BROAD: a fold darker, its ridge lighter) is taken out, by how far the rest lowered the photo's
smile (`neutral.fold_strength`). The lips, the nostrils and what lies past the face's edge are left out of the
broad blur (darker than skin, they pulled the skin beside them dark) and of the flattening; the skin's own
texture, finer than FOLD_FINE, is kept. Dafoe's grin at rest: its cheeks' creases gone, its skin's grain kept.
"""

from __future__ import annotations

import cv2
import numpy as np

from realtime.face import topology as topo
from realtime.face.align import inter_ocular
from realtime.render.draw import wide_blur

FOLD_REGIONS = (
    (50, 36, 203, 92, 186, 57, 43, 204, 210, 135, 138, 213, 147, 123),
    (280, 266, 423, 322, 410, 287, 273, 424, 430, 364, 367, 433, 376, 352),
)
"""Mesh loops round each cheek's folds: from the cheekbone (50) by the nose's wing (36, 203), along the lips'
edge (92, 186, 57, 43, 204; the lips themselves are kept, FOLD_KEEP) to the jaw (210, 135, 138) and back up the
cheek (213, 147, 123); the other side mirrored. The nasolabial fold runs through the loop's middle (206, 216, 212
on a resting face, further out on a smiling one)."""
NOSTRILS = (48, 64, 98, 97, 2, 326, 327, 294, 278, 1, 4, 5, 195)
FOLD_FINE = 0.007
"""Inter-ocular distances (outer eye corners, as everywhere in the project) of the blur under which the skin's
texture is kept (pores, stubble)."""
FOLD_BROAD = 0.07
"""Inter-ocular distances of the blur a fold's colour is taken against: wider than a fold (0.02-0.04)."""
FOLD_FEATHER = 0.028
"""Inter-ocular distances over which the flattening fades out at the regions' edges."""
FOLD_KEEP = 0.021
"""Inter-ocular distances round the lips and nostrils kept out of the flattening."""
FOLD_EDGE = 0.106
"""Inter-ocular distances inside the face's hull where the flattening stops: the hair or background beside the
cheek is no fold (flattened, the dark hair by the EDTalk photo's cheek was lit up into a red line)."""
FOLD_RANGE = (0.35, 1.6)
"""A fold darkens the skin to about 0.4-0.95 of that round it (an older man's deep nasolabial fold to 0.4-0.5:
at 0.55 Lei Jun's stayed as dark lines) and its ridge lights it to 1.05-1.2; outside this range (fading over
0.1) a pixel is not a fold's (a strand of hair, a highlight on wet skin) and is kept."""
FOLD_CORE = 0.015
"""Inter-ocular distances (a radius): a line darker than FOLD_RANGE allows but narrower than twice this is a fold's
core, judged by the fold on either side of it (a grey closing of the fold's ratio: what is wider, a mole, keeps its
own ratio and its outline). Judged alone, the deepest line of Jack Dorsey's nasolabial fold (deepface img16: 0.36-0.38
of the skin round it, 3-4 px at 119 px between the eyes) was left dark while the fold round it was lifted, and stood
on his cheek as a cut through every frame."""


def _disc(radius: float) -> np.ndarray:
    r = max(1, round(float(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def rest_folds(photo: np.ndarray, landmarks: np.ndarray, strength: float) -> np.ndarray:
    """The photo (H, W, 3) uint8 with its cheeks' folds flattened by `strength` (0-1), from its face's landmarks
    (478, 2+, photo pixels). The photo itself where strength is 0."""
    if strength <= 0.0:
        return photo
    lm = np.asarray(landmarks, np.float64)[:, :2]
    iod = inter_ocular(lm)
    pad = int(np.ceil(3.0 * FOLD_BROAD * iod)) + 2
    pts = lm[[i for region in FOLD_REGIONS for i in region]]
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + pad, [photo.shape[1], photo.shape[0]])
    if x1 - x0 < 8 or y1 - y0 < 8:
        return photo
    local = lm - (x0, y0)
    shape = (int(y1 - y0), int(x1 - x0))
    # 1. Where: the cheeks' regions, feathered, less the lips and nostrils (and FOLD_KEEP round them).
    loops = np.zeros(shape, np.float32)
    for loop in FOLD_REGIONS:
        cv2.fillPoly(loops, [np.round(local[list(loop)]).astype(np.int32)], 1.0)
    region = cv2.GaussianBlur(loops, (0, 0), FOLD_FEATHER * iod)
    hull = np.zeros(shape, np.uint8)  # the face's skin: its hull, less its edge, the lips and the nostrils
    cv2.fillPoly(hull, [cv2.convexHull(np.round(local).astype(np.int32))], 1)
    keep = (cv2.distanceTransform(hull, cv2.DIST_L2, 3) > FOLD_EDGE * iod).astype(np.float32)
    for part in (topo.LIPS, NOSTRILS):
        part_mask = np.zeros(shape, np.uint8)
        cv2.fillPoly(part_mask, [cv2.convexHull(np.round(local[list(part)]).astype(np.int32))], 1)
        keep[cv2.dilate(part_mask, _disc(FOLD_KEEP * iod)) > 0] = 0.0
    # 2. The fold: the photo at a fold's scale (fine blur) less the skin round it (the broad blur of the skin
    # alone, a normalised convolution), per channel: a fold's shadow is darker and redder than its skin.
    area = photo[y0:y1, x0:x1].astype(np.float32)
    fine = cv2.GaussianBlur(area, (0, 0), max(FOLD_FINE * iod, 0.6))
    sigma = FOLD_BROAD * iod
    weight = wide_blur(keep, sigma, 8.0)
    broad = wide_blur(area * keep[..., None], sigma, 8.0) / np.maximum(weight, 1e-3)[..., None]
    fold = (fine.mean(2) + 1.0) / (broad.mean(2) + 1.0)
    # What is far darker or lighter than the skin round it is no fold (a strand of hair, a highlight): left. A
    # dark line no wider than FOLD_CORE's is judged by the fold round it (a deep fold's core).
    lo, hi = FOLD_RANGE
    core = cv2.morphologyEx(fold.astype(np.float32), cv2.MORPH_CLOSE, _disc(FOLD_CORE * iod))
    within = np.clip((core - lo) / 0.1, 0.0, 1.0) * np.clip((hi - fold) / 0.1, 0.0, 1.0)
    # 3. Taken out, by strength, inside the regions (feathered at the skin's edges too).
    where = region * cv2.GaussianBlur(keep, (0, 0), FOLD_FEATHER * iod / 2.0) * within
    where *= float(np.clip(strength, 0.0, 1.0))
    out = photo.copy()
    out[y0:y1, x0:x1] = np.clip(area + (broad - fine) * where[..., None] + 0.5, 0, 255).astype(np.uint8)
    return out
