"""Driving stage (pure compute): one driver frame's analysis -> the driving state the renderer uses.

Steps per frame: One Euro smoothing of landmarks, AUs and pose -> subtract the driver's neutral (calibration
profile, docs/CONTRACTS.md section 5; without one, the driver's first frames taken to rest along the AU basis
(a smile, raised brows, an open mouth, pursed lips taken out), then eased towards its least expressive frames so that
starting mid-sentence does not make an open mouth the neutral; or "calibrate neutral" live, which also ends that
easing) -> the user's edits (gain, offset, lock per AU and head angle) ->
DriveState. AUd (20) = 17 AUs then pose / 90, as `FaceAnalysis.driving_vector`.

Face lost: the last good state is held for `hold_s`, then its weight eases linearly to 0 over `ease_s`
(weight 0 = the neutral source); when the face is back, the weight comes back to 1 over `return_s`. A face back
after `renew_after_s` away, with no profile and no live calibration, gets its neutral taken again as at the start.

Start: the neutral is taken again on each of the driver's first `calibration_frames` from the frames so far
(`DrivingStage._settle`); with a profile, its landmarks only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from realtime.controls import Edits
from realtime.face import topology as topo
from realtime.face.pose import canonical_frame
from realtime.face.types import AU, AU_ORDER, POSE_NAMES, POSE_SCALE_DEG, FaceAnalysis
from realtime.render.eyes import eye_opening
from realtime.render.landmark_transfer import driver_expression
from realtime.render.mouth import MouthPatch, cut_mouth, mesh_loops
from realtime.render.neutral import neutral_rest
from realtime.render.occlusion import MouthOcclusion
from realtime.render.wrinkles import WrinkleRest, brow_change, cut_detail
from realtime.stages.smoothing import OneEuroFilter, OneEuroParams

Status = Literal["tracking", "holding", "easing", "neutral"]


@dataclass(frozen=True)
class NeutralProfile:
    """The driver's neutral face: subtracted from every frame."""

    au_baseline: np.ndarray = field(default_factory=lambda: np.zeros(17, np.float32))
    au_range: np.ndarray = field(default_factory=lambda: np.zeros(17, np.float32))
    """Spread of each AU over the neutral recording: changes within it are noise and read as 0."""
    pose_zero: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    """yaw, pitch, roll (degrees) of the driver's neutral head."""

    @staticmethod
    def from_profile(profile: Any) -> NeutralProfile:
        """From a calibrate.profile.CalibrationProfile (or anything with the contract's three fields as
        {name: value} mappings)."""

        def get(name: str) -> Any:
            return profile[name] if isinstance(profile, dict) else getattr(profile, name)

        base, rng, zero = get("au_baseline"), get("au_range"), get("pose_zero")
        return NeutralProfile(
            np.array([float(base[a.value]) for a in AU_ORDER], np.float32),
            np.array([float(rng.get(a.value, 0.0)) for a in AU_ORDER], np.float32),
            np.array([float(zero[n]) for n in POSE_NAMES], np.float32),
        )

    def calibrate_aus(self, aus: np.ndarray) -> np.ndarray:
        """Raw AUs -> AUs above the neutral: 0 at baseline + noise range, 1 stays 1."""
        floor = np.clip(self.au_baseline + self.au_range, 0.0, 0.95)
        return np.clip((aus - floor) / (1.0 - floor), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class DriverSample:
    """The driver's frame as it is, before the user's edits: what the mesh-flow renderer needs beyond AUd."""

    aus: np.ndarray
    """(17,) float32 smoothed AUs as measured (the paper's absolute AUd)."""
    pose: np.ndarray
    """(3,) float32 smoothed yaw, pitch, roll in degrees (absolute)."""
    aus_delta: np.ndarray
    """(17,) float32 AUs above the driver's neutral, before edits."""
    expression: np.ndarray
    """(478, 3) float32 expression relative to the neutral, before edits (inter-ocular units)."""
    mouth: MouthPatch | None
    """The driver's inner mouth cut from its frame (None: no frame was given, or off the frame)."""
    neutral: np.ndarray | None = None
    """(478, 3) float32 the driver's neutral face in its canonical frame (what `expression` is relative to;
    the eyelids' motion is scaled by its eyes' opening, `landmark_transfer.fit_lids`)."""
    wrinkles: np.ndarray | None = None
    """(2, h, w) the expression lines the driver's frame shows over its rest, glabella and forehead
    (`realtime.render.wrinkles.dynamic_lines`, patch frame, <= 0) while its brows move; None: none to draw."""


@dataclass(frozen=True)
class DriveState:
    aus: np.ndarray
    """(17,) float32 in [0, 1] after calibration and edits."""
    pose_delta: np.ndarray
    """(3,) float32 degrees: driver pose minus its neutral, after edits."""
    expression: np.ndarray | None
    """(478, 3) float32 driver expression in inter-ocular units (for the training-free fallback)."""
    weight: float
    """1: follow the driver; 0: the neutral source; in between while easing after a lost face."""
    status: Status
    driver: DriverSample | None = None
    """The last good driver frame before edits (None before the first)."""
    edits: Edits | None = None
    """The user's edits this state was made with (renderers that apply them to AUd themselves read them)."""

    def driving_vector(self) -> np.ndarray:
        """AUd (20,) = 17 AUs then yaw, pitch, roll / 90."""
        return np.concatenate([self.aus, self.pose_delta / POSE_SCALE_DEG]).astype(np.float32)


@dataclass(frozen=True)
class DrivingParams:
    landmarks: OneEuroParams = field(
        default_factory=lambda: OneEuroParams(2.5, 5.0, 5.0)
    )  # inter-ocular units
    """The speed estimate's cutoff at 5 Hz (One Euro's default 1 Hz): the speed that opens the filter lagged a
    word's onset, and the photo's mouth followed the driver's a frame late (styletalk clip on the Acosta photo:
    AU26 r 0.90 at lag 0, 0.95 at lag 1; unsmoothed 0.97 at lag 0). Live protocol, 9 pairs: AU12 r 0.569 ->
    0.593, AU26 0.775 -> 0.783, AU45 0.784 -> 0.810, flicker 1.796 -> 1.820 (beta 10 as well: 0.607 / 0.795 /
    0.803 for flicker 1.888; 10 Hz: no better)."""
    eyelids: OneEuroParams = field(default_factory=lambda: OneEuroParams(2.5, 50.0, 5.0))
    """The eyelids' points (EYELIDS), inter-ocular units: a blink lasts 2-4 frames, and the landmarks' filter
    took half of it away (the anchor clip's blinks, 78 % closed, reached the photo 41-61 % closed; with this
    speed gain 68-81 %). Still eyelids are smoothed as much as the rest. The speed estimate's cutoff at 5 Hz, as
    the other landmarks': at 1 Hz a 3-frame blink of the DaGAN clip reached the photo's lids 62 and 43 % shut,
    and the cover drew one eye shut beside an open one; at 5 Hz 83 and 76 %, both shut. Live protocol (9 pairs):
    AU45 r 0.796 -> 0.809 (seed 0), 0.821 -> 0.821 (seed 2); flicker 1.801 -> 1.828, 1.780 -> 1.804."""
    aus: OneEuroParams = field(default_factory=lambda: OneEuroParams(1.0, 2.0))
    pose: OneEuroParams = field(default_factory=lambda: OneEuroParams(1.0, 10.0))  # units of 90 degrees
    hold_s: float = 0.5
    ease_s: float = 1.0
    return_s: float = 0.2
    """A face found again after its weight eased down comes back to weight 1 over this long, from the weight it
    had (at once, a driver back in view smiling or mid-word popped from the photo at rest into it in a frame)."""
    renew_after_s: float = 3.0
    """Without a profile or the user's calibration: a face found again after this long away (the photo long back
    at rest) may be someone else, or the same person sitting differently, and its neutral is taken again from its
    first frames, as at the start. Kept, the first person's neutral drove the next: DaGAN's driving clip, 4 s of an
    empty room, then the cnn2 clip (a folder of frames) held the MEAD M024 photo turned and looking aside through
    the second man's whole part (his mean head turn against the first's neutral: yaw 7.8, roll 4.0 degrees, AUs
    0.017; against his own: 2.0, 0.9, 0.003)."""
    calibration_frames: int = 15
    adapt_margin: float = 0.05
    """Without a profile: a frame whose mouth AUs (ADAPT_AUS) sum to this much less than the neutral's has a
    mouth nearer rest, and the neutral's lower face moves towards it (a driver who starts mid-sentence or smiling is
    not stuck with that as its neutral)."""
    adapt_tau_s: float = 0.1
    """Time constant of that move (short: a driver closes its mouth for a few frames between words, and the
    output is closed then either way); the output eases, never jumps."""
    eyes_closed_margin: float = 0.2
    """Without a profile: a frame whose blink (AU45) is this much below the neutral's has eyes more open than
    the neutral's, and the neutral's lids move towards it (same time constant). A driver who starts with its
    eyes shut (the DaGAN clip, 45 frames) otherwise made open eyes an expression: the photo's eyes opened twice
    their size and the teacher read its blinks backwards (AU45 r -0.46). A blink never moves it (AU45 rises)."""
    eyes_wider: tuple[float, float] = (1.2, 1.05)
    """Without a profile: while the driver's eyes are typically (the median of their opening, lid area as
    `realtime.render.eyes.eye_opening` reads it, over the last `eyes_window_s`) more than the first times as open
    as the neutral's, the neutral was narrowed by a squint or a downward look: its lids move towards frames near
    that typical opening (same time constant) until within the second times. A driver who starts squinting
    (styletalk's furious clip: the lid tightener at 0.77, eyes 0.6-0.7 as open as later) left the photo staring
    wide-eyed whenever it relaxed (its blink reading, AU45, fell by 0.1 only). Moved towards any frame a quarter
    more open instead, the neutral rose to a talker's widest moments, and half of LRS3's 0Fi83BHQsMA frames then
    drew the photo's lids lowered."""
    eyes_window_s: float = 1.5
    """The stretch of recent frames whose median opening is the eyes' typical one (`eyes_wider`); frames within a
    tenth of it are the ones the neutral's lids move towards."""
    eyes_raised: float = 0.1
    """AU01, AU02 or AU05 this much over the neutral's: eyes widened, not a narrow neutral (LivePortrait's d11
    clip: eyes 1.2 times as open with AU05 0.15-0.24 up; LRS3's 0Fi83BHQsMA: 1.5 times with AU01 0.3 up). Such
    frames are not counted in the typical opening."""
    auto_range_max: float = 0.05
    """Without a profile the first frames may move (speech): their spread is a noise floor up to this only."""


ADAPT_AUS = (AU.AU10, AU.AU12, AU.AU14, AU.AU15, AU.AU17, AU.AU20, AU.AU23, AU.AU25, AU.AU26)
"""The mouth's AUs: their sum says how far a driver frame's mouth is from rest, for the adaptive neutral.
Only the mouth adapts (people start talking mid-sentence); the eyes and brows keep the first frames' mean,
since adapting them on the same frames shifted the eyes' neutral with the mouth's (a blink read backwards).
The eyes have their own rule: shut in the first frames, they open the neutral's (`eyes_closed_margin`)."""
_ADAPT = [AU_ORDER.index(a) for a in ADAPT_AUS]
_NOSE_TIP, _UPPER_LIP = 1, 0  # mesh points
EYELIDS = np.array(topo.LEFT_EYE + topo.RIGHT_EYE)
"""Mesh points of both eyes' lids (filtered faster: blinks are short)."""
_AU45 = AU_ORDER.index(AU.AU45)
_RAISERS = [AU_ORDER.index(a) for a in (AU.AU01, AU.AU02, AU.AU05)]
"""The brows' and upper lids' raisers: up, the eyes are widened (`DrivingParams.eyes_raised`)."""


def _eyes_open(face: np.ndarray) -> float:
    """Both eyes' opening (`eye_opening`), summed."""
    return eye_opening(face, 0) + eye_opening(face, 1)


REST_SHUT = (0.3, 0.1)
"""A first frame whose AU45 is above the first value has its eyes shut, and the neutral's lids are opened along
the AU basis' AU45 row to where AU45 is the second (open eyes): the driver's opening eyes then show as opening,
and its shut eyes as shut, from the first frame."""

# Which mesh points an AU's gain scales in the fallback (it has no AU input, only landmark motion).
_AU_REGIONS: dict[tuple[AU, ...], tuple[int, ...]] = {
    (AU.AU01, AU.AU02, AU.AU04): topo.LEFT_EYEBROW + topo.RIGHT_EYEBROW,
    (AU.AU05, AU.AU07, AU.AU45): topo.LEFT_EYE + topo.RIGHT_EYE + topo.LEFT_IRIS + topo.RIGHT_IRIS,
    (AU.AU09,): topo.NOSE,
    (AU.AU10, AU.AU12, AU.AU14, AU.AU15, AU.AU17, AU.AU20, AU.AU23, AU.AU25, AU.AU26): topo.LIPS,
}


def region_gains(edits: Edits) -> np.ndarray:
    """(478,) per-point scale of the expression: the mean gain of the AUs moving that region (lock: 0)."""
    gains = np.ones(topo.NUM_LANDMARKS, np.float32)
    for aus, points in _AU_REGIONS.items():
        g = [0.0 if edits.get(a.value).lock else edits.get(a.value).gain for a in aus]
        gains[list(points)] = float(np.mean(g))
    return gains


class DrivingStage:
    def __init__(
        self,
        profile: NeutralProfile | None = None,
        params: DrivingParams | None = None,
        au_basis: np.ndarray | None = None,
        lip_shape: np.ndarray | None = None,
    ) -> None:
        """`au_basis` (17, 478, 3), how each AU moves the face (realtime/weights/au_basis.npy), and `lip_shape`
        (1 + K, 40, 3), how resting lips differ across people (lip_shape.npy): without a profile, a driver whose
        first frames smile, raise the brows, purse the lips or have the mouth open gets a neutral at rest."""
        params = params or DrivingParams()
        self._basis = None if au_basis is None else np.asarray(au_basis, np.float32)
        self._lip_shape = lip_shape
        self._shut_lids = None if self._basis is None else self._basis[_AU45][EYELIDS]
        self.params = params
        self.profile = profile or NeutralProfile()
        self._adaptive = profile is None
        """No calibration given: the driver's neutral is refined towards its least expressive frames, until the
        user calibrates (the page's button)."""
        self._f_lm = OneEuroFilter(params.landmarks)
        self._f_lids = OneEuroFilter(params.eyelids)
        self._f_au = OneEuroFilter(params.aus)
        self._f_pose = OneEuroFilter(params.pose)
        self._last: DriverSample | None = None
        self._lost_at: float | None = None
        self._back: tuple[float, float] | None = None
        """(time, weight) the face was found again at, while its weight comes back (`params.return_s`)."""
        self._profile_given = profile is not None
        self._wrinkles = WrinkleRest()
        """The driver's forehead and glabella detail at rest, against which its expression lines are found."""
        self._covered = MouthOcclusion()
        """Whether something is in front of the driver's mouth: its inner mouth is then not cut."""
        self._begin()

    def _begin(self) -> None:
        """The state a driver starts from: at construction, and for a face back after `params.renew_after_s`
        away (someone else, or the same person sitting differently) where no profile or calibration set it."""
        self._covered.reset()
        self._auto_neutral = not self._profile_given
        """No calibration given: the driver's first frames are its neutral (pose zero, AU baseline)."""
        self._neutral: np.ndarray | None = None  # (478, 3) driver neutral, canonical frame
        self._calib: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._calibrating = False
        self._starting = True
        """The first neutral is being collected, and taken again on each frame (`_settle`); with a profile, only
        its landmarks (the profile holds the AUs' baseline and noise and the head's zero)."""
        self._opening_eyes = False
        """The neutral's lids are moving towards the frames' more open eyes (`_open_eyes`)."""
        self._openings: list[tuple[float, float]] = []
        """(time, both eyes' opening) of the driver's recent frames, surprise left out (`params.eyes_wider`)."""
        self._widening = False
        self._t_last: float | None = None
        self._wrinkles.reset()

    def request_calibration(self, user: bool = True) -> None:
        """Average the next few good frames as the new neutral (AU baseline, pose zero, landmarks). The
        user's request (the default) also ends the adaptive neutral: the user said this face is neutral."""
        self._calibrating, self._calib = True, []
        if user:
            self._adaptive = False
            self._profile_given = False  # the user's neutral replaces the profile's too
            self._wrinkles.reset()  # this face is the rest: its lines are the driver's own

    def __call__(
        self, face: FaceAnalysis | None, t_s: float, edits: Edits, image: np.ndarray | None = None
    ) -> DriveState:
        """`image`: the driver's frame (H, W, 3) uint8 RGB the face was found in, for its inner mouth."""
        if face is None:
            return self._lost(t_s, edits)
        if self._lost_at is not None:  # back: from the weight the lost face had eased to
            self._back = (t_s, self._lost_weight(t_s))
            if self._adaptive and t_s - self._lost_at > self.params.renew_after_s:
                self._begin()  # a new driver, or the same one sitting differently: its own neutral
        self._lost_at = None
        lm, aus, pose = self._smooth(face, t_s)
        canon = canonical_frame(lm)  # (478, 3) the frame in the face's own frontal frame
        if self._neutral is None:
            self._neutral = self._rest_eyes(self._rest_face(canon, aus)[0], aus)
            if self._auto_neutral:  # the first frame at once, refined by the next few (request_calibration)
                self.profile = NeutralProfile(aus.copy(), np.zeros(17, np.float32), pose.astype(np.float32))
                self._auto_neutral = False
            self.request_calibration(user=False)
        if self._calibrating:
            self._collect(canon, aus, pose)
        elif self._adaptive:
            self._adapt(canon, aus, t_s)
            self._open_eyes(canon, aus, t_s)
        self._t_last = t_s
        expr = driver_expression(lm, self._neutral)
        mouth = lines = None
        delta = self.profile.calibrate_aus(aus)
        if image is not None:
            mouth_loop, oval = mesh_loops()
            if not self._covered(image, face.landmarks, mouth_loop, oval):
                mouth = cut_mouth(image, face.landmarks, mouth_loop, oval)
            lines = self._wrinkles.update(cut_detail(image, face.landmarks), brow_change(delta))
        self._last = DriverSample(aus, pose, delta, expr, mouth, self._neutral, lines)
        weight = self._back_weight(t_s)
        if weight < 1.0:
            return self._state(weight, "easing", edits)
        self._back = None
        return self._state(1.0, "tracking", edits)

    def _smooth(self, face: FaceAnalysis, t_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lm: np.ndarray = np.asarray(face.landmarks, np.float32)
        iod = max(float(np.linalg.norm(lm[263] - lm[33])), 1e-3)  # 3-D, as the filter was tuned
        lids = self._f_lids(lm[EYELIDS] / iod, t_s) * iod
        lm = self._f_lm(lm / iod, t_s) * iod  # filtered in inter-ocular units: scale-free parameters
        lm[EYELIDS] = lids
        aus = np.clip(self._f_au(face.aus, t_s), 0.0, 1.0)
        pose = self._f_pose(face.pose.as_array() / POSE_SCALE_DEG, t_s) * POSE_SCALE_DEG
        return lm, aus, pose

    def _collect(self, canon: np.ndarray, aus: np.ndarray, pose: np.ndarray) -> None:
        self._calib.append((canon, aus, pose))
        done = len(self._calib) >= self.params.calibration_frames
        if done or self._starting:
            self._settle()
        if done:
            self._calibrating, self._calib, self._starting = False, [], False

    def _settle(self) -> None:
        """The neutral (landmarks, AU baseline and noise, the head's zero) from the frames collected. At the start
        it is taken again on each frame, the first frame left out once there are others: with the first frame
        alone as the neutral until the 15th, the photo's eyes opened to twice their size under smeared lashes
        for half a second (deepface's img42, img39 and img24 under SkyReels-A1's driving clip 3), its lids drawn
        against lid points 0.1-0.15 of the inter-ocular distance off. The face mesh's first fit of a new face
        is the least like the frames after it (SkyReels-A1's clip 3: 0.065 from the median of the next six
        frames, its fourth frame 0.023; over 38 clips, the first more than twice the fourth's in 13)."""
        calib = self._calib[1:] if self._starting and len(self._calib) > 1 else self._calib
        canon, a, p = (np.stack(x) for x in zip(*calib))
        # The median, not the mean: a blink (or a word) in a few of the frames does not move the neutral. With
        # the mean, the anchor clip's blink in its first frames left the neutral eye a quarter closed, so its
        # open eyes widened the photo's and its blinks only narrowed them.
        self._neutral = np.median(canon, axis=0)
        # The lids (and the blink's baseline) from the more open half of the frames: a blink or a downward look
        # only narrows the eyes, and one in a third of the frames still narrowed the median's (SkyReels-A1's
        # clip 3: a blink and a look down in its first 15 frames left the neutral eyes 0.7-0.8 as open as hers
        # at rest, so the photo stared wide-eyed through her frowns and squints).
        opening = np.array([_eyes_open(c) for c in canon])
        more_open = opening >= np.median(opening)
        self._neutral[EYELIDS] = np.median(canon[more_open][:, EYELIDS], axis=0)
        a = a.copy()
        a[:, _AU45] = np.median(a[more_open, _AU45])
        spread = a.std(axis=0) * 2.0
        if self._adaptive:  # frames nobody said were still: their spread may be speech, not noise
            spread = np.minimum(spread, self.params.auto_range_max)
            self._neutral = self._rest_eyes(
                self._rest_face(self._neutral, np.median(a, axis=0))[0], np.median(a, axis=0)
            )
        if not (self._starting and self._profile_given):
            self.profile = NeutralProfile(
                np.median(a, axis=0), spread.astype(np.float32), np.median(p, axis=0)
            )

    def _rest_face(self, canon: np.ndarray, aus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The neutral (478, 3) and its AUs (17,) for frames nobody said were at rest: the face taken to rest as
        the photo's is (`realtime.render.neutral.neutral_rest`, driver=True) along the AU basis: a smile or
        another mouth shape and raised brows taken out, an open mouth shut, pursed lips widened. The driver's
        next words, smiles and raised brows then move the photo from the first frame: a driver who started
        surprised (MEAD's W023 clip) left its raised brows and open mouth in the neutral, the photo's brows
        never rose, and its mouth grinned as the driver's relaxed."""
        if self._basis is None or not self._adaptive:
            return canon, aus
        rest = neutral_rest(canon, aus, self._basis, self._lip_shape, driver=True)
        if rest is None:
            return canon, aus
        return (canon + rest[0]).astype(np.float32), rest[1]

    def _rest_eyes(self, canon: np.ndarray, aus: np.ndarray) -> np.ndarray:
        """The neutral for frames nobody said were at rest: shut eyes (AU45 above REST_SHUT[0]) are opened
        along the AU basis to REST_SHUT[1]."""
        shut, rest = REST_SHUT
        if self._shut_lids is None or not self._adaptive or aus[_AU45] <= shut:
            return canon
        out = np.array(canon, np.float32)
        out[EYELIDS] -= (float(aus[_AU45]) - rest) * self._shut_lids
        return out

    def _adapt(self, canon: np.ndarray, aus: np.ndarray, t_s: float) -> None:
        """Move the neutral (landmarks, AU baseline; not the head's zero) towards a less expressive frame."""
        p, prof = self.params, self.profile
        if self._neutral is None or self._t_last is None or t_s <= self._t_last:
            return
        if float(aus[_ADAPT].sum()) > float(prof.au_baseline[_ADAPT].sum()) - p.adapt_margin:
            return
        k = min(1.0, (t_s - self._t_last) / p.adapt_tau_s)
        # The lower face only: full weight from the mouth down, none from the nose's tip up.
        y = self._neutral[:, 1]
        w = np.clip((y - y[_NOSE_TIP]) / max(float(y[_UPPER_LIP] - y[_NOSE_TIP]), 1e-6), 0.0, 1.0)[:, None]
        # Towards the frame's mouth shut along the AU basis, not the frame itself: a mouth nearer rest is not at
        # rest, and a driver who starts grinning made its next half-open words the neutral (the photo's mouth
        # then stayed shut while the driver talked: EDTalk's clip, AU26 r 0.38).
        rest, target = self._rest_face(canon, aus)
        self._neutral = self._neutral + k * w * (rest - self._neutral)
        base = prof.au_baseline.copy()
        base[_ADAPT] = (1.0 - k) * base[_ADAPT] + k * target[_ADAPT]
        self.profile = NeutralProfile(base.astype(np.float32), prof.au_range, prof.pose_zero)

    def _open_eyes(self, canon: np.ndarray, aus: np.ndarray, t_s: float) -> None:
        """Move the neutral's eyelids (and AU45 baseline) towards a frame whose eyes are well more open."""
        p, prof = self.params, self.profile
        if self._neutral is None or self._t_last is None or t_s <= self._t_last:
            return
        # Started by a frame well more open, the move goes on until the neutral's AU45 is within adapt_margin
        # of the frames' (stopped at eyes_closed_margin it left a fifth of the shut neutral in place).
        margin = p.adapt_margin if self._opening_eyes else p.eyes_closed_margin
        self._opening_eyes = bool(aus[_AU45] < prof.au_baseline[_AU45] - margin)
        # The eyes' typical opening, surprise left out: well over the neutral's, the neutral was narrowed.
        opening = _eyes_open(canon)
        if np.all(aus[_RAISERS] <= prof.au_baseline[_RAISERS] + p.eyes_raised):
            self._openings.append((t_s, opening))
        self._openings = [(t, o) for t, o in self._openings if t > t_s - p.eyes_window_s]
        if len(self._openings) >= 5:
            typical = float(np.median([o for _, o in self._openings]))
            wider = p.eyes_wider[1] if self._widening else p.eyes_wider[0]
            self._widening = typical > wider * _eyes_open(self._neutral)
            if self._widening and abs(opening - typical) < 0.1 * typical:
                self._opening_eyes = True
        if not self._opening_eyes:
            return
        k = min(1.0, (t_s - self._t_last) / p.adapt_tau_s)
        lids = canon[EYELIDS]
        self._neutral = self._neutral.copy()
        self._neutral[EYELIDS] += k * (lids - self._neutral[EYELIDS])
        base = prof.au_baseline.copy()
        base[_AU45] = (1.0 - k) * base[_AU45] + k * aus[_AU45]
        self.profile = NeutralProfile(base.astype(np.float32), prof.au_range, prof.pose_zero)

    def _lost(self, t_s: float, edits: Edits) -> DriveState:
        for f in (self._f_lm, self._f_lids, self._f_au, self._f_pose):
            f.reset()  # recover from the next good frame without smoothing across the gap
        if self._last is None:
            return self._state(0.0, "neutral", edits)
        if self._lost_at is None:
            self._lost_at = t_s
        weight = self._lost_weight(t_s)
        if t_s - self._lost_at <= self.params.hold_s:
            return self._state(weight, "holding", edits)
        return self._state(weight, "easing" if weight > 0 else "neutral", edits)

    def _lost_weight(self, t_s: float) -> float:
        """The weight of a face lost since `_lost_at`: held, then eased to 0 (from where it was coming back)."""
        assert self._lost_at is not None
        p = self.params
        start = self._back_weight(self._lost_at)  # below 1 if lost again while coming back
        gone = t_s - self._lost_at
        if gone <= p.hold_s:
            return start
        return max(0.0, start * (1.0 - (gone - p.hold_s) / p.ease_s))

    def _back_weight(self, t_s: float) -> float:
        """The weight of a face found again (`_back`) as it comes back to 1 over `params.return_s`; 1 without."""
        if self._back is None:
            return 1.0
        t0, w0 = self._back
        return min(1.0, w0 + (1.0 - w0) * (t_s - t0) / max(self.params.return_s, 1e-6))

    def _state(self, weight: float, status: Status, edits: Edits) -> DriveState:
        d = self._last
        if d is None:
            aus, pose, expr = np.zeros(17, np.float32), np.zeros(3, np.float32), None
        else:
            aus, pose, expr = d.aus_delta, d.pose - self.profile.pose_zero, d.expression
        aus_e, pose_e = edits.apply(aus, pose)
        if expr is not None:
            expr = (expr * region_gains(edits)[:, None]).astype(np.float32)
        return DriveState(aus_e, pose_e, expr, float(weight), status, d, edits)
