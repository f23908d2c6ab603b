"""Prepared-dataset reader, identity split, pair sampling and augmentation (on a synthetic dataset)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _synthetic_dataset import write_synthetic_dataset

from training.data.dataset import (
    AugConfig,
    DatasetError,
    PairBatch,
    augment,
    load_track,
    open_dataset,
    sample_pairs,
    split_identities,
    track_weights,
)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("ds"), n_tracks=4, frames=6, size=32, seed=1)


def test_open_and_load(synth):
    ds = open_dataset(synth)
    assert len(ds.tracks) == 4 and ds.crop_size == 32 and not ds.skipped
    a = load_track(ds.tracks[0], ds.crop_size)
    assert a.images.shape == (6, 32, 32, 3) and a.images.dtype == np.uint8
    assert a.seg.shape == (6, 32, 32) and set(np.unique(a.seg)) <= {0, 1, 2}
    assert a.landmarks.shape == (6, 478, 2) and np.abs(a.landmarks).max() <= 1.5
    assert a.aud.shape == (6, 20)
    small = load_track(ds.tracks[0], ds.crop_size, size=16)
    assert small.images.shape == (6, 16, 16, 3)
    assert load_track(ds.tracks[0], ds.crop_size, images=False).images is None


def test_bad_folders_are_reported(tmp_path, synth):
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no dataset.json"):
        open_dataset(tmp_path)
    (tmp_path / "dataset.json").write_text("{")
    with pytest.raises(DatasetError, match="not valid JSON"):
        open_dataset(tmp_path)
    (tmp_path / "dataset.json").write_text(
        json.dumps({"format": "facegan-dataset", "version": 1, "crop_size": 32, "tracks": []})
    )
    with pytest.raises(DatasetError, match="no complete track"):
        open_dataset(tmp_path)


def test_half_written_track_is_ignored(tmp_path):
    root = write_synthetic_dataset(tmp_path, n_tracks=3, frames=2, size=32, seed=0)
    (root / "tracks" / "synth001" / "DONE").unlink()
    ds = open_dataset(root)
    assert [t.id for t in ds.tracks] == ["synth000", "synth002"] and ds.skipped == ("synth001",)


def test_split_holds_whole_identities_out(synth):
    ds = open_dataset(synth)
    train, val = split_identities(ds, 0.25, seed=0)
    assert train and val
    assert not {t.identity for t in train} & {t.identity for t in val}
    assert split_identities(ds, 0.25, seed=0) == (train, val)


def _batch(synth, n=6, seed=0) -> PairBatch:
    ds = open_dataset(synth)
    arrays = [load_track(t, ds.crop_size) for t in ds.tracks]
    return sample_pairs(arrays, n, np.random.default_rng(seed), track_weights(arrays))


def test_pairs_come_from_one_track(synth):
    b = _batch(synth)
    assert b.src.shape == (6, 3, 32, 32) and b.seg_d.dtype == torch.int64
    # Synthetic identities differ in skin colour: source and driving of a pair share it.
    skin_s = torch.stack([b.src[i][:, b.seg_s[i] == 2].mean(1) for i in range(6)])
    skin_d = torch.stack([b.drv[i][:, b.seg_d[i] == 2].mean(1) for i in range(6)])
    assert (skin_s - skin_d).abs().max() < 0.05


def test_flip_remaps_landmarks_and_pose(synth):
    b = _batch(synth, n=2)
    cfg = AugConfig(flip=1.0, scale=0.0, shift=0.0, colour=0.0)
    f = augment(b, np.random.default_rng(0), cfg)
    assert torch.allclose(f.src, b.src.flip(-1), atol=1e-5)
    assert torch.allclose(f.aud_d[:, 17], -b.aud_d[:, 17]) and torch.allclose(f.aud_d[:, 18], b.aud_d[:, 18])
    ff = augment(f, np.random.default_rng(0), cfg)
    assert torch.allclose(ff.ls, b.ls, atol=1e-6) and torch.equal(ff.seg_d, b.seg_d)


def test_shift_moves_landmarks_with_the_image(synth):
    b = _batch(synth, n=2)
    cfg = AugConfig(flip=0.0, scale=0.0, shift=0.2, colour=0.0, independent=False)
    a = augment(b, np.random.default_rng(3), cfg)

    # The face centroid (from the mask) and the landmark centroid move together.
    def centroid(seg):
        ys, xs = torch.nonzero(seg == 2, as_tuple=True)
        return torch.stack([xs.float().mean(), ys.float().mean()]) / 32 * 2 - 1

    for i in range(2):
        moved = centroid(a.seg_s[i]) - centroid(b.seg_s[i])
        assert torch.allclose(moved, a.ls[i].mean(0) - b.ls[i].mean(0), atol=0.08)
    assert torch.allclose(a.ls - b.ls, a.ld - b.ld, atol=1e-6)  # shared geometry when not independent


def test_augment_is_deterministic(synth):
    b = _batch(synth)
    x = augment(b, np.random.default_rng(5), AugConfig())
    y = augment(b, np.random.default_rng(5), AugConfig())
    assert all(torch.equal(getattr(x, k), getattr(y, k)) for k in ("src", "drv", "ls", "ld", "seg_s"))
    assert x.src.min() >= 0 and x.src.max() <= 1
