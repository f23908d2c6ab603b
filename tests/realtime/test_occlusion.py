"""Something in front of the driver's mouth: its inner mouth is not cut (realtime.render.occlusion)."""

from __future__ import annotations

import cv2
import numpy as np
from _rt_helpers import synthetic_face

from realtime.controls import Controls
from realtime.render.mouth import mesh_loops
from realtime.render.occlusion import LEARN_FRAMES, OUTER_LIPS, RELEARN_FRAMES, MouthOcclusion
from realtime.stages.driving import DrivingStage

SKIN = (190, 140, 120)
LIPS = (170, 90, 95)


def _driver(face, mouth=None, bar=None) -> np.ndarray:
    """(256, 256, 3) a face's skin and lips (its inner mouth filled with `mouth` where given), a bar of `bar`'s
    colour held across the mouth's lower half (a microphone) where given."""
    lm = face.landmarks[:, :2]
    rgb = np.zeros((256, 256, 3), np.uint8)
    rgb[:] = SKIN
    cv2.fillPoly(rgb, [np.round(lm[list(OUTER_LIPS)]).astype(np.int32)], LIPS)
    if mouth is not None:
        cv2.fillPoly(rgb, [np.round(lm[mesh_loops()[0]]).astype(np.int32)], mouth)
    if bar is not None:
        x, y = np.round(lm[14]).astype(int)
        cv2.rectangle(rgb, (x - 30, y - 4), (x + 30, y + 16), bar, -1)
    return rgb


def test_a_microphone_in_front_of_the_mouth_is_seen_an_open_mouth_is_not() -> None:
    face = synthetic_face()
    loop, oval = mesh_loops()
    covered = MouthOcclusion()
    clear = _driver(face)
    assert not any(covered(clear, face.landmarks, loop, oval) for _ in range(LEARN_FRAMES))  # learning
    assert not covered(clear, face.landmarks, loop, oval)
    assert not covered(_driver(face, mouth=(40, 20, 25)), face.landmarks, loop, oval)  # inside: not looked at
    assert covered(_driver(face, bar=(60, 60, 65)), face.landmarks, loop, oval)  # a grey microphone
    assert covered(_driver(face, bar=(230, 230, 235)), face.landmarks, loop, oval)  # a white one
    for exposure in (0.8, 1.25):  # the camera's exposure: the region's light is read over the face's
        lit = np.clip(clear.astype(np.float32) * exposure, 0, 255).astype(np.uint8)
        assert not covered(lit, face.landmarks, loop, oval), exposure


def test_colours_strange_for_longer_than_relearn_frames_are_learnt_again() -> None:
    """A change of light makes every colour strange: after RELEARN_FRAMES covered in a row, the histogram is
    learnt again from what the frames now show."""
    face = synthetic_face()
    loop, oval = mesh_loops()
    covered = MouthOcclusion()
    for _ in range(LEARN_FRAMES):
        covered(_driver(face), face.landmarks, loop, oval)
    lit = np.clip(_driver(face).astype(np.float32) * (0.55, 0.7, 1.0), 0, 255).astype(
        np.uint8
    )  # bluish light
    flags = [covered(lit, face.landmarks, loop, oval) for _ in range(RELEARN_FRAMES + 1 + LEARN_FRAMES + 1)]
    assert all(flags[: RELEARN_FRAMES + 1])
    assert not any(flags[RELEARN_FRAMES + 1 :])  # learnt again, then usual


def test_the_driving_stage_cuts_no_inner_mouth_while_the_mouth_is_covered() -> None:
    """The driver's inner mouth (DriverSample.mouth) is the microphone while it is in front: none is cut then, and
    the renderer paints the driver's last clear one (`realtime.render.meshflow.MeshFlow`'s remembered mouth)."""
    stage, edits = DrivingStage(), Controls().edits
    face = synthetic_face()
    clear = _driver(face, mouth=(40, 20, 25))
    for i in range(LEARN_FRAMES + 1):
        state = stage(face, i / 30.0, edits, clear)
    assert state.driver is not None and state.driver.mouth is not None
    state = stage(face, (LEARN_FRAMES + 1) / 30.0, edits, _driver(face, mouth=(40, 20, 25), bar=(60, 60, 65)))
    assert state.driver is not None and state.driver.mouth is None
