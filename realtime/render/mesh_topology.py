"""The warp mesh's topology, fixed for all faces (no mediapipe import): the triangles of MediaPipe's
tessellation (the 3-cliques of its edges, the spurious ones dropped), its outer loop (the face oval), and its
holes (the two eyes, the inner lips) with the landmark each hole's fan is centred on. The mesh warp
(`realtime.render.meshwarp`) fills the holes and adds the surround; the mouth (`realtime.render.mouth`) reads
its inner-lip loop.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from realtime.face.topology import LEFT_IRIS_CENTER, RIGHT_IRIS_CENTER, TESSELATION_EDGES

_RIGHT_EYE_CORNER = 33  # a point of the right eye's loop: tells the eye holes apart
_LEFT_EYE_CORNER = 263


@dataclass(frozen=True)
class MeshTopology:
    """Index structure of the warp mesh, fixed for all faces."""

    face_triangles: np.ndarray
    """(F, 3) int32 landmark indices of the tessellation's faces."""
    oval: np.ndarray
    """(K,) int32 ordered outer boundary loop of the mesh (the face oval)."""
    holes: tuple[np.ndarray, ...]
    """Ordered loops of the eye and inner-lip holes."""
    hole_centres: tuple[int, ...]
    """Per hole, the landmark to use as fan centre when it lies inside the hole (-1: none)."""


def _boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    """Ordered loops of the edges that belong to exactly one triangle."""
    count: Counter[tuple[int, int]] = Counter()
    for a, b, c in triangles.tolist():
        for e in ((a, b), (b, c), (a, c)):
            count[(min(e), max(e))] += 1
    neighbours: dict[int, list[int]] = defaultdict(list)
    for (a, b), n in count.items():
        if n == 1:
            neighbours[a].append(b)
            neighbours[b].append(a)
    seen: set[int] = set()
    loops = []
    for start in sorted(neighbours):
        if start in seen:
            continue
        loop, prev, cur = [start], -1, start
        seen.add(start)
        while True:
            nxt = [n for n in neighbours[cur] if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(np.asarray(loop, np.int32))
    return loops


def build_topology() -> MeshTopology:
    """Derive triangles and hole loops from the tessellation edges (no mediapipe import)."""
    adj: dict[int, set[int]] = defaultdict(set)
    for a, b in TESSELATION_EDGES:
        adj[a].add(b)
        adj[b].add(a)
    cliques = sorted((a, b, c) for a in adj for b in adj[a] if b > a for c in adj[a] & adj[b] if c > b)
    edge_use: Counter[tuple[int, int]] = Counter()
    for a, b, c in cliques:
        edge_use.update([(a, b), (b, c), (a, c)])
    # A spurious clique is made of three edges of real faces, so each of its edges is counted three times.
    faces = [
        t for t in cliques if not all(edge_use[e] == 3 for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2])))
    ]
    triangles = np.asarray(faces, np.int32)
    loops = sorted(_boundary_loops(triangles), key=len, reverse=True)
    oval, holes = loops[0], tuple(loops[1:])
    centres = []
    for loop in holes:
        if _RIGHT_EYE_CORNER in loop:
            centres.append(RIGHT_IRIS_CENTER)
        elif _LEFT_EYE_CORNER in loop:
            centres.append(LEFT_IRIS_CENTER)
        else:
            centres.append(-1)
    return MeshTopology(triangles, oval, holes, tuple(centres))
