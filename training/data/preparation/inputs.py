"""facegan-prepare's inputs and options: what to prepare (MANIFEST.csv or a walk of the input folder)."""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from training.data.video_io import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
)

Kind = Literal["video", "frames", "photo"]


@dataclass(frozen=True)
class PrepareOptions:
    crop_size: int = 256
    """Side of the aligned crops (CONTRACTS.md: 256)."""
    min_face: float = 64.0
    """Smallest face kept: the larger side of the face oval's box, in input pixels."""
    min_sharpness: float = 8.0
    """Smallest variance of the Laplacian of the grey crop inside the face hull; below it a face is blurred."""
    max_out_of_frame: float = 0.3
    """Largest fraction of face-oval points outside the image."""
    max_drift: float = 0.08
    """A track ends when the eyes' midpoint moves more than this fraction of the crop side off the fixed crop."""
    max_scale_change: float = 0.15
    """... or when the face's scale differs from the fixed crop's by more than this fraction."""
    cut_histogram: float = 0.5
    """Shot cut: correlation of consecutive frames' hue-saturation histograms below this."""
    cut_jump: float = 0.15
    """Shot cut: the eyes' midpoint jumps more than this fraction of the crop side in one frame."""
    min_track: int = 4
    """Shorter video / frame-folder tracks are dropped (counted as short_track)."""
    min_inside: float = 0.0
    """Smallest fraction of a track's crop that lies inside the input image (the rest is edge-replicated
    padding; tight photo crops such as UTKFace have about 0.3). Below it a track is dropped
    (crop_out_of_frame). Every track entry records its value as "inside", so training can filter too."""
    photo_batch: int = 24
    """Photos per pool task (each task opens its own MediaPipe objects)."""
    weights_dir: Path | None = None
    """Folder with au_head.onnx and mean_face.npy; None: the shipped weights."""


@dataclass(frozen=True)
class InputItem:
    """One input: a video, a frame folder (files in `paths`) or a photo. Paths are relative to the root."""

    key: str
    kind: Kind
    source: str
    identity: str
    paths: tuple[str, ...]


@dataclass
class InputResult:
    """What one input produced; stored as progress/<key>.json."""

    key: str
    source: str
    kind: str
    identity: str
    frames_in: int = 0
    tracks: list[dict] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def failed(cls, item: InputItem, error: str) -> InputResult:
        """The whole input counted as one `failed` rejection, with the reason."""
        return cls(item.key, item.source, item.kind, item.identity, rejected={"failed": 1}, error=error)


# ------------------------------------------------------------------------------------------- inputs


def input_key(source: str) -> str:
    """A file-name-safe, unique key for an input path."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", source).strip("_")[-60:]
    return f"{slug}-{hashlib.sha1(source.encode()).hexdigest()[:8]}"


def discover_inputs(root: Path) -> tuple[list[InputItem], list[str]]:
    """Inputs from root/MANIFEST.csv if present, else from a walk of root. Returns (inputs, missing paths)."""
    manifest = root / "MANIFEST.csv"
    items = _from_manifest(root, manifest) if manifest.is_file() else _from_walk(root)
    missing = [it.source for it in items if not all((root / p).is_file() for p in it.paths[:1])]
    present = [it for it in items if it.source not in set(missing)]
    return sorted(present, key=lambda it: it.source), missing


def _item(kind: Kind, source: str, identity: str, paths: list[str]) -> InputItem:
    return InputItem(input_key(source), kind, source, identity, tuple(paths))


def _from_manifest(root: Path, manifest: Path) -> list[InputItem]:
    """Rows of kind video / photo are inputs; frames rows are grouped by folder; licence, landmark and
    audio rows are skipped. The identity column names the person."""
    items: list[InputItem] = []
    folders: dict[str, list[str]] = {}
    folder_identity: dict[str, str] = {}
    with manifest.open(newline="") as f:
        for row in csv.DictReader(f):
            kind, path = (row.get("kind") or "").strip(), (row.get("path") or "").strip()
            identity = (row.get("identity") or "").strip() or path
            if kind in ("video", "photo"):
                items.append(_item(kind, path, identity, [path]))  # type: ignore[arg-type]
            elif kind == "frames":
                folder = str(Path(path).parent)
                folders.setdefault(folder, []).append(path)
                folder_identity.setdefault(folder, identity)
    for folder, paths in folders.items():
        items.append(_item("frames", folder, folder_identity[folder], paths))
    return items


def _from_walk(root: Path) -> list[InputItem]:
    """No manifest: every video and photo is its own person; a folder of >= 8 same-prefix numbered images
    is a frame sequence (one person)."""
    items: list[InputItem] = []
    images: dict[Path, list[Path]] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        ext = p.suffix.lower()
        if ext in VIDEO_EXTENSIONS:
            rel = str(p.relative_to(root))
            items.append(_item("video", rel, rel, [rel]))
        elif ext in IMAGE_EXTENSIONS:
            images.setdefault(p.parent, []).append(p)
    for folder, files in images.items():
        rels = [str(f.relative_to(root)) for f in files]
        if _is_frame_sequence(files):
            src = str(folder.relative_to(root))
            items.append(_item("frames", src, src, rels))
        else:
            items.extend(_item("photo", r, r, [r]) for r in rels)
    return items


def _is_frame_sequence(files: list[Path]) -> bool:
    prefixes = {re.sub(r"\d+$", "", f.stem) for f in files}
    return len(files) >= 8 and len(prefixes) == 1 and all(re.search(r"\d+$", f.stem) for f in files)
