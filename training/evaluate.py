"""`facegan-evaluate`: the paper's Tables 1 and 2 on the held-out people of a prepared dataset (issue 6).

Self-reenactment (source and driving frame from one track): MSE, PSNR, SSIM of the output against the
driving frame. Cross-reenactment (source and driver of different identities): CSIM, PSIM, ED, and LSIM
(two images of one person, a driver of another identity whose driving vector is nearest the second image's;
landmark MSE of the output against the second image). Methods side by side: `facegan` (shipped LT -> Gr ->
Gb), `facegan_no_lt` (Gr -> Gb on the driving landmarks) and `mesh_warp` (MeshWarpRenderer). See
docs/EVALUATION.md for the protocol and what each number means.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from realtime.face.types import HeadPose, driving_vector
from training import metrics as M
from training.eval_report import write_grid, write_report, write_video
from training.eval_data import DatasetIndex, FaceImage, FrameRef, FrameStore, index_dataset
from training.eval_methods import METHOD_NAMES, Method, build_methods

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEACHER = REPO_ROOT.parent / "shared" / "models" / "face_landmarker.task"
HELDOUT_PERCENT = 20
"""Share of identities held out when the training side names none (see `heldout_identities`)."""

IdentityChoice = Literal["heldout", "all"]
