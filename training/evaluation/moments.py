"""The live protocol's moments sheets: for each pair, the driving frames a viewer checks by eye (its mouth most
open, its widest smile, its eyes most shut, its deepest frown, its brows highest, its head most turned), the
driver's face beside each renderer's at those frames, large enough to judge teeth, lids and seams.

One JPEG a pair (`live_moments_<k>.jpg`); the moments are read from the teacher's measures of the driver, never
from the renderer's own analysis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from realtime.face.types import AU, AU_ORDER
from realtime.render.eyes import eye_opening
from training.evaluation.live import MOVING_DEG, MOVING_EYE, MOVING_IOD, MOVING_STD, letterbox, mouth_shape

CELL = 256
"""Side of one square cell of a sheet (pixels)."""
FACE_MARGIN = 1.6
"""A cell shows the face's landmark box grown by this much about its centre."""
QUALITY = 90
"""JPEG quality of the sheets."""


def _au(name: AU) -> int:
    return AU_ORDER.index(name)


def _mouth_open(m: Any) -> float:
    return float(mouth_shape(m.landmarks)[2])


def _eyes_shut(m: Any) -> float:
    return -float(np.mean([eye_opening(m.landmarks, e) for e in (0, 1)]))


def _brows_raised(m: Any) -> float:
    return float(max(m.aus[_au(AU.AU01)], m.aus[_au(AU.AU02)]))


MOMENTS: tuple[tuple[str, Any, float], ...] = (
    ("mouth open", _mouth_open, MOVING_IOD),
    ("smile", lambda m: float(m.aus[_au(AU.AU12)]), MOVING_STD),
    ("eyes shut", _eyes_shut, MOVING_EYE),
    ("frown", lambda m: float(m.aus[_au(AU.AU04)]), MOVING_STD),
    ("brows raised", _brows_raised, MOVING_STD),
)
"""(label, the driver's value at a frame from its teacher measure (higher: more of it), the least range over
the clip for the moment to be shown): a driver that never moves that way has no such moment."""


def pick_moments(measures: Sequence[Any]) -> list[tuple[str, int]]:
    """(label, frame index) of each moment the driver shows (MOMENTS, then "head turned": the frame furthest in
    yaw and pitch from its first), in that order; frames where the teacher found no face are never picked."""
    ok = [i for i, m in enumerate(measures) if m is not None]
    if not ok:
        return []
    picks = []
    for label, value, moving in MOMENTS:
        v = np.array([value(measures[i]) for i in ok])
        if v.max() - v.min() >= moving:
            picks.append((label, ok[int(v.argmax())]))
    pose = np.array([np.asarray(measures[i].pose, np.float64)[:2] for i in ok])
    turn = np.linalg.norm(pose - pose[0], axis=1)
    if turn.max() >= MOVING_DEG:
        picks.append(("head turned", ok[int(turn.argmax())]))
    return picks


def face_cell(image: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """(CELL, CELL, 3): the square about the face's landmark box (grown by FACE_MARGIN), black beyond the
    image; the whole image letterboxed where there are no landmarks."""
    if landmarks is None:
        return letterbox(image, CELL, CELL)
    pts = np.asarray(landmarks, np.float64)[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    centre, side = (lo + hi) / 2.0, float((hi - lo).max()) * FACE_MARGIN
    s = CELL / max(side, 1.0)
    m = np.array([[s, 0.0, CELL / 2.0 - s * centre[0]], [0.0, s, CELL / 2.0 - s * centre[1]]])
    how = cv2.INTER_AREA if s < 1.0 else cv2.INTER_CUBIC
    return cv2.warpAffine(image, m, (CELL, CELL), flags=how, borderValue=(0, 0, 0))


def output_cells(
    frames: Sequence[np.ndarray], moments: Sequence[tuple[str, int]], output_box: np.ndarray | None
) -> list[np.ndarray]:
    """One renderer's cells at the moments' frames, each cut about `output_box` (landmarks (N, 2) of the photo in
    output pixels: the live renderers draw at the photo's own size, so the face stays about there); black where
    the renderer has no such frame. Cut at once, so a pair's frames need not be kept."""
    black = np.zeros((CELL, CELL, 3), np.uint8)
    return [face_cell(frames[i], output_box) if i < len(frames) else black for _, i in moments]


def moments_sheet(
    moments: Sequence[tuple[str, int]],
    driver: Sequence[np.ndarray],
    driver_measures: Sequence[Any],
    cells: dict[str, list[np.ndarray]],
) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB: a header row, then one row a moment: the driver's face | each renderer's cell
    (`output_cells`). None without moments."""
    if not moments:
        return None
    names = list(cells)
    rows = []
    for k, (label, i) in enumerate(moments):
        m = driver_measures[i]
        row = np.hstack(
            [face_cell(driver[i], None if m is None else m.landmarks), *(cells[n][k] for n in names)]
        )
        cv2.putText(row, f"{label} (frame {i})", (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 255, 0), 2)
        rows.append(row)
    head = np.full((24, rows[0].shape[1], 3), 255, np.uint8)
    for k, text in enumerate(["driver", *names]):
        cv2.putText(head, text, (k * CELL + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([head, *rows])


def write_sheet(path: Path, sheet: np.ndarray) -> None:
    """The sheet as a JPEG (RGB in)."""
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
