"""Mirror index map of the 478-point MediaPipe mesh: after a horizontal flip, point i becomes point mirror[i].

The table itself is data (mesh_mirror.json next to this file, a JSON list of 478 indices); this module reads and
checks it. tests/training/test_models.py holds it to the properties below.

How it was made (once, 2026-11-26): MediaPipe Face Mesh 0.10.21 (refined) was run on 126 frames of 25 dev
videos and on their horizontal flips; the flipped detections were mirrored back, the per-pair distances (in
inter-ocular units) averaged and symmetrised, and the assignment solved exactly (Hungarian). The result is an
involution (mirror[mirror[i]] == i), 28 midline points map to themselves, and the worst matched pair is
4.4 % of the inter-ocular distance apart. Irises: 468 <-> 473 (centres), 469..472 <-> 476, 475, 474, 477.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from realtime.face.topology import NUM_LANDMARKS


@cache
def mesh_mirror() -> tuple[int, ...]:
    """The mirror map (478 indices), read once from mesh_mirror.json; a broken file fails loudly."""
    table = tuple(json.loads(files("training.data").joinpath("mesh_mirror.json").read_text()))
    if sorted(table) != list(range(NUM_LANDMARKS)) or any(table[table[i]] != i for i in range(NUM_LANDMARKS)):
        raise ValueError("training/data/mesh_mirror.json is not an involution of the mesh points: restore it")
    return table
