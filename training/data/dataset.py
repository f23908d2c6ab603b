"""Reader of the prepared dataset (docs/CONTRACTS.md section 3), identity split, pair sampling, augmentation,
and the batch transforms of progressive and windowed training (`resize_batch`, `random_window`).

The small structured fake of the same format that tests use lives in tests/training/_synthetic_dataset.py.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.data.mesh_mirror import mesh_mirror

log = logging.getLogger(__name__)

FORMAT = "facegan-dataset"
YAW, ROLL = 17, 19  # indices of yaw/90 and roll/90 in AUd: their sign flips with a horizontal flip


class DatasetError(ValueError):
    """The dataset folder is missing, empty, half-written or not in the prepared format."""


@dataclass(frozen=True)
class TrackInfo:
    id: str
    identity: str
    source: str
    kind: str
    frames: int
    dir: Path


@dataclass(frozen=True)
class Dataset:
    root: Path
    crop_size: int
    tracks: tuple[TrackInfo, ...]
    """Complete tracks (with their DONE marker)."""
    skipped: tuple[str, ...] = ()
    """Track ids listed in dataset.json but half-written (no DONE) or missing files: ignored."""

    @property
    def identities(self) -> tuple[str, ...]:
        return tuple(sorted({t.identity for t in self.tracks}))


@dataclass(frozen=True)
class TrackArrays:
    """One track in memory. Images are None when only landmarks were loaded (LT / La training)."""

    info: TrackInfo
    landmarks: np.ndarray  # (T, 478, 2) float32, normalised to [-1, 1]
    aud: np.ndarray  # (T, 20) float32: 17 AUs, then yaw, pitch, roll / 90
    images: np.ndarray | None = None  # (T, s, s, 3) uint8 RGB
    seg: np.ndarray | None = None  # (T, s, s) uint8: 0 background, 1 hair, 2 face


def open_dataset(path: str | Path) -> Dataset:
    """Open and validate a prepared dataset folder; tracks without DONE are reported and ignored."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist; make one with `facegan-prepare`")
    meta_path = root / "dataset.json"
    if not meta_path.is_file():
        raise DatasetError(
            f"{root} has no dataset.json: not a prepared dataset (or `facegan-prepare` is still running)"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{meta_path} is not valid JSON (half-written?): {e}") from e
    if meta.get("format") != FORMAT or meta.get("version") != 1:
        raise DatasetError(
            f"{meta_path}: expected format {FORMAT!r} version 1, got {meta.get('format')!r} {meta.get('version')!r}"
        )
    tracks, skipped = [], []
    for t in meta.get("tracks", []):
        d = root / t["dir"]
        missing = [n for n in ("DONE", "meta.npz") if not (d / n).is_file()]
        if missing or int(t["frames"]) < 1:
            skipped.append(t["id"])
            continue
        tracks.append(TrackInfo(t["id"], t["identity"], t.get("source", ""), t["kind"], int(t["frames"]), d))
    if skipped:
        log.warning(
            "%s: ignoring %d half-written tracks (no DONE or meta.npz): %s", root, len(skipped), skipped[:10]
        )
    if not tracks:
        raise DatasetError(
            f"{root} holds no complete track ({len(skipped)} half-written); run `facegan-prepare` to finish it"
        )
    return Dataset(root, int(meta["crop_size"]), tuple(tracks), tuple(skipped))


def split_identities(
    dataset: Dataset, val_fraction: float, seed: int
) -> tuple[tuple[TrackInfo, ...], tuple[TrackInfo, ...]]:
    """Hold whole people out: (train tracks, validation tracks), no identity on both sides.

    Only identities with at least one multi-frame track are candidates for validation, so that validation
    pairs show motion; at least one identity goes each way when there are two or more.
    """
    ids = dataset.identities
    moving = sorted({t.identity for t in dataset.tracks if t.frames > 1}) or list(ids)
    rng = np.random.default_rng(seed)
    n_val = round(len(moving) * val_fraction)
    n_val = min(max(n_val, 1 if len(ids) > 1 else 0), len(moving) - (1 if len(ids) == len(moving) else 0))
    val_ids = set(rng.permutation(moving)[:n_val].tolist())
    train = tuple(t for t in dataset.tracks if t.identity not in val_ids)
    val = tuple(t for t in dataset.tracks if t.identity in val_ids)
    return train, val


def load_track(info: TrackInfo, crop_size: int, size: int | None = None, images: bool = True) -> TrackArrays:
    """Read one track; images decoded from crops.mp4 into memory, resized to `size` (None = crop size)."""
    with np.load(info.dir / "meta.npz") as m:
        lm = m["landmarks"][..., :2].astype(np.float32) / crop_size * 2 - 1  # (T, 478, 2)
        aud = np.concatenate([m["aus"], m["pose"] / 90.0], axis=1).astype(np.float32)  # (T, 20)
    if not images:
        return TrackArrays(info, lm, aud)
    import cv2

    size = size or crop_size
    frames = _decode(info.dir / "crops.mp4", size)
    with np.load(info.dir / "masks.npz") as mk:
        seg = mk["seg"]
    if size != seg.shape[-1]:
        seg = np.stack([cv2.resize(s, (size, size), interpolation=cv2.INTER_NEAREST) for s in seg])
    n = min(len(frames), len(seg), len(lm))
    if n != len(lm):
        log.warning(
            "track %s: %d frames, %d masks, %d landmark rows; using %d",
            info.id,
            len(frames),
            len(seg),
            len(lm),
            n,
        )
    return TrackArrays(info, lm[:n], aud[:n], frames[:n], seg[:n].astype(np.uint8))


def _decode(path: Path, size: int) -> np.ndarray:
    import cv2

    if not path.is_file():
        raise DatasetError(f"{path} is missing")
    out = []
    for img in _frames(path):
        if img.shape[0] != size:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        out.append(img)
    if not out:
        raise DatasetError(f"{path} holds no frames (half-written?)")
    return np.stack(out)  # (T, s, s, 3) uint8


def _frames(path: Path):
    """RGB frames of an MP4: PyAV where installed, else OpenCV (the GPU machines have only OpenCV)."""
    try:
        import av
    except ImportError:
        import cv2

        cap = cv2.VideoCapture(str(path))
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        cap.release()
        return
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            yield f.to_ndarray(format="rgb24")


# ---------------------------------------------------------------- pairs and augmentation


@dataclass(frozen=True)
class PairBatch:
    """A batch of (source, driving) pairs from the same tracks. Images (B,3,s,s) float in [0,1]."""

    ls: torch.Tensor  # (B, 478, 2)
    ld: torch.Tensor  # (B, 478, 2)
    aud_s: torch.Tensor  # (B, 20)
    aud_d: torch.Tensor  # (B, 20)
    src: torch.Tensor | None = None  # (B, 3, s, s)
    drv: torch.Tensor | None = None  # (B, 3, s, s)
    seg_s: torch.Tensor | None = None  # (B, s, s) int64
    seg_d: torch.Tensor | None = None  # (B, s, s) int64
    extent: float = 1.0
    """The fraction of the aligned crop's width the images span (< 1 for training windows, see Gr's `extent`)."""

    def to(self, device: torch.device | str) -> PairBatch:
        return PairBatch(
            **{k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        )

    def images(self) -> ImagePairs:
        """The batch as the image stages (Gr, Gb) read it; refuses a batch loaded without images."""
        if self.src is None or self.drv is None or self.seg_s is None or self.seg_d is None:
            raise ValueError("this batch has no images: the Gr/Gb stages load their tracks with images=True")
        return ImagePairs(
            self.ls, self.ld, self.aud_d, self.src, self.drv, self.seg_s, self.seg_d, self.extent
        )


@dataclass(frozen=True)
class ImagePairs:
    """A PairBatch with its images, none of them optional: what Gr and Gb train and validate on."""

    ls: torch.Tensor  # (B, 478, 2)
    ld: torch.Tensor  # (B, 478, 2)
    aud_d: torch.Tensor  # (B, 20)
    src: torch.Tensor  # (B, 3, s, s) in [0, 1]
    drv: torch.Tensor  # (B, 3, s, s) in [0, 1]
    seg_s: torch.Tensor  # (B, s, s) int64: 0 background, 1 hair, 2 face
    seg_d: torch.Tensor  # (B, s, s) int64
    extent: float = 1.0

    @property
    def fg_d(self) -> torch.Tensor:
        """(B, 1, s, s) hair + face of the driving frame."""
        return (self.seg_d > 0).float()[:, None]

    @property
    def ib(self) -> torch.Tensor:
        """Ib from the true labels: the source with face and hair removed, (B, 3, s, s)."""
        return self.src * (self.seg_s == 0).float()[:, None]


@dataclass(frozen=True)
class AugConfig:
    flip: float = 0.5
    """Probability of a horizontal flip (with the mesh mirror map and yaw/roll sign change)."""
    scale: float = 0.08
    """Random zoom range (+-), applied per image."""
    shift: float = 0.06
    """Random shift range (+-, normalised units), applied per image."""
    independent: bool = True
    """Source and driving get their own scale/shift (synthetic motion; still photos become pairs)."""
    colour: float = 0.15
    """Brightness/contrast/saturation/channel-gain jitter, shared by both images of a pair."""


def track_weights(tracks: list[TrackArrays], cap: int = 50) -> np.ndarray:
    """Sampling weights: a video counts like up to `cap` photos, so the many stills do not drown the videos."""
    w = np.array([min(len(t.landmarks), cap) for t in tracks], dtype=np.float64)
    return w / w.sum()


def sample_pairs(
    tracks: list[TrackArrays], batch: int, rng: np.random.Generator, weights: np.ndarray
) -> PairBatch:
    """Source frame and driving frame drawn independently from anywhere in the same track."""
    ti = rng.choice(len(tracks), size=batch, p=weights)
    si, di = [], []
    for k in ti:
        n = len(tracks[k].landmarks)
        si.append(int(rng.integers(n)))
        di.append(int(rng.integers(n)))

    def gather(attr: str, idx: list[int]) -> np.ndarray:
        return np.stack([getattr(tracks[k], attr)[i] for k, i in zip(ti, idx, strict=True)])

    kw: dict[str, torch.Tensor] = {
        "ls": torch.from_numpy(gather("landmarks", si)),
        "ld": torch.from_numpy(gather("landmarks", di)),
        "aud_s": torch.from_numpy(gather("aud", si)),
        "aud_d": torch.from_numpy(gather("aud", di)),
    }
    if tracks[0].images is not None:
        kw["src"] = torch.from_numpy(gather("images", si)).permute(0, 3, 1, 2).float() / 255
        kw["drv"] = torch.from_numpy(gather("images", di)).permute(0, 3, 1, 2).float() / 255
        kw["seg_s"] = torch.from_numpy(gather("seg", si)).long()
        kw["seg_d"] = torch.from_numpy(gather("seg", di)).long()
    return PairBatch(**kw)


def _flip(b: PairBatch, sel: torch.Tensor) -> PairBatch:
    mirror = torch.tensor(mesh_mirror())
    out = dict(b.__dict__)
    for k in ("ls", "ld"):
        lm = out[k].clone()
        flipped = lm[:, mirror] * torch.tensor([-1.0, 1.0])  # (B, 478, 2): x -> -x, then mirror indices
        lm[sel] = flipped[sel]
        out[k] = lm
    for k in ("aud_s", "aud_d"):
        a = out[k].clone()
        a[sel, YAW] *= -1
        a[sel, ROLL] *= -1
        out[k] = a
    for k in ("src", "drv", "seg_s", "seg_d"):
        if out[k] is not None:
            v = out[k].clone()
            v[sel] = v[sel].flip(-1)
            out[k] = v
    return PairBatch(**out)


def _affine(
    img: torch.Tensor | None, seg: torch.Tensor | None, lm: torch.Tensor, s: torch.Tensor, t: torch.Tensor
):
    # Output pixel u samples input at s*u + t; a landmark at input p lands at (p - t) / s.
    b = lm.shape[0]
    lm = (lm - t.view(b, 1, 2)) / s.view(b, 1, 1)
    if img is None:
        return None, None, lm
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = s
    theta[:, 1, 1] = s
    theta[:, :, 2] = t
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    img = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)
    seg = F.grid_sample(seg[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return img, seg[:, 0].long(), lm


def _colour(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    # p: (B, 6) = brightness, contrast, saturation, 3 channel gains; one set per pair.
    b = x.shape[0]
    grey = x.mean(dim=1, keepdim=True)
    x = grey + (x - grey) * p[:, 2].view(b, 1, 1, 1)
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    x = m + (x - m) * p[:, 1].view(b, 1, 1, 1)
    x = x * p[:, 0].view(b, 1, 1, 1) * p[:, 3:].view(b, 3, 1, 1)
    return x.clamp(0, 1)


def augment(b: PairBatch, rng: np.random.Generator, cfg: AugConfig) -> PairBatch:
    n = b.ls.shape[0]
    b = _flip(b, torch.from_numpy(rng.random(n) < cfg.flip))
    scales = torch.from_numpy(1 + rng.uniform(-cfg.scale, cfg.scale, (2, n))).float()
    shifts = torch.from_numpy(rng.uniform(-cfg.shift, cfg.shift, (2, n, 2))).float()
    if not cfg.independent:
        scales[1], shifts[1] = scales[0], shifts[0]
    src, seg_s, ls = _affine(b.src, b.seg_s, b.ls, scales[0], shifts[0])
    drv, seg_d, ld = _affine(b.drv, b.seg_d, b.ld, scales[1], shifts[1])
    if src is not None and drv is not None:
        c = cfg.colour
        p = torch.from_numpy(1 + rng.uniform(-c, c, (n, 6))).float()
        p[:, 3:] = 1 + (p[:, 3:] - 1) / 3  # gentler per-channel gains
        src, drv = _colour(src, p), _colour(drv, p)
    return PairBatch(ls, ld, b.aud_s, b.aud_d, src, drv, seg_s, seg_d)


# ---------------------------------------------------------------- batch transforms of the training loop


def resize_batch(b: PairBatch, size: int) -> PairBatch:
    """Progressive training: the 256 batch seen at 128 (area for images, nearest for masks)."""
    if b.src is None or b.src.shape[-1] == size:
        return b

    def img(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(size, size), mode="area")

    def seg(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()

    return replace(b, src=img(b.src), drv=img(b.drv), seg_s=seg(b.seg_s), seg_d=seg(b.seg_d))  # type: ignore[arg-type]


def random_window(b: PairBatch, patch: int, rng: np.random.Generator) -> PairBatch:
    """A random patch x patch window of each pair, the same window for source and driving, landmarks moved
    into it. The lite nets are fully convolutional: trained on windows of the full-size crops they learn at
    the scale they run at (unlike 128 downscaled crops) for the cost of 128x128 training."""
    im = b.images()
    s = im.src.shape[-1]
    if patch >= s:
        return b
    n = im.src.shape[0]
    off = torch.from_numpy(rng.integers(0, s - patch + 1, size=(n, 2))).float()  # (B, 2) x, y in pixels

    def cut(x: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [
                x[i, ..., int(off[i, 1]) : int(off[i, 1]) + patch, int(off[i, 0]) : int(off[i, 0]) + patch]
                for i in range(n)
            ]
        )

    def move(u: torch.Tensor) -> torch.Tensor:  # normalised over s -> normalised over the window
        return (u + 1) * (s / patch) - 2 * off[:, None, :] / patch - 1

    return replace(
        b,
        src=cut(im.src),
        drv=cut(im.drv),
        seg_s=cut(im.seg_s),
        seg_d=cut(im.seg_d),
        ls=move(b.ls),
        ld=move(b.ld),
        extent=b.extent * patch / s,  # Gr keeps its splat and flow widths the same on the face
    )
