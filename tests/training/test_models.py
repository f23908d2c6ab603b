"""FACEGAN networks: every variant forward and backward, heatmap drawing, eq. 9 composition, mirror map."""

from __future__ import annotations

import pytest
import torch

from realtime.face.topology import HEATMAP_POINTS
from training.data.mesh_mirror import mesh_mirror
from training.models import (
    AURegressor,
    BackgroundMixer,
    FaceReenactor,
    LaConfig,
    LandmarkTransformer,
    LTConfig,
    MultiScaleDiscriminator,
    disc_config,
    draw_heatmap,
    gb_config,
    gr_config,
)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def test_lt_starts_at_identity_and_trains():
    lt = LandmarkTransformer(LTConfig(hidden=32, layers=2))
    ls, aud = torch.rand(3, 478, 2) * 2 - 1, torch.rand(3, 20)
    out = lt(ls, aud)
    assert out.shape == (3, 478, 2)
    assert torch.equal(out, ls)  # dls = 0 at initialisation
    out.sum().backward()
    assert lt.mlp[-1].weight.grad is not None


def test_la_shape_and_translation_invariance():
    la = AURegressor(LaConfig(hidden=32, layers=2))
    lm = torch.rand(2, 478, 2)
    assert la(lm).shape == (2, 20)
    assert torch.allclose(la(lm), la(lm + 0.1), atol=1e-6)


@pytest.mark.parametrize("variant", ["tiny", "lite"])
def test_gr_gb_forward_backward(variant):
    gr, gb = FaceReenactor(gr_config(variant)), BackgroundMixer(gb_config(variant))
    src, lm = torch.rand(2, 3, 64, 64), torch.rand(2, 478, 2) * 2 - 1
    face, seg = gr(src, lm)
    assert face.shape == (2, 3, 64, 64) and seg.shape == (2, 3, 64, 64)
    assert torch.allclose(seg.sum(1), torch.ones(2, 64, 64), atol=1e-5)
    image, mask = gb(face * (seg[:, 1:2] + seg[:, 2:3]), src)
    assert image.shape == (2, 3, 64, 64) and mask.shape == (2, 1, 64, 64)
    image.mean().backward()
    assert all(p.grad is not None for p in gr.parameters())


def test_full_variant_builds_with_stated_size():
    n = sum(p.numel() for p in FaceReenactor(gr_config("full")).parameters())
    assert 5e6 < n < 10e6  # ~7.9M per net: Gr + Gb in fp16 fit the 64 MiB that may travel to a GPU machine


def test_gb_composes_eq9():
    gb = BackgroundMixer(gb_config("tiny")).eval()
    face, bg = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    image, mask = gb(face, bg)
    out = gb.unet(torch.cat([face * 2 - 1, bg * 2 - 1], 1))
    ic = torch.sigmoid(out[:, :3])
    assert torch.allclose(image, mask * ic + (1 - mask) * bg, atol=1e-6)


def test_heatmap_peaks_at_landmarks_and_is_clamped():
    size = 64
    lm = torch.zeros(1, 478, 2) + 5.0  # everything far off-image
    lm[0, HEATMAP_POINTS[0]] = torch.tensor([0.25, -0.5])  # one point: x = 40 px, y = 16 px
    ht = draw_heatmap(lm, size, sigma=2.0 / size)
    assert ht.shape == (1, 1, size, size)
    y, x = divmod(int(ht.view(-1).argmax()), size)
    assert (x, y) in {(39, 15), (39, 16), (40, 15), (40, 16)}
    many = draw_heatmap(torch.zeros(1, 478, 2), size, sigma=2.0 / size)  # all points on top of each other
    assert float(many.max()) == pytest.approx(1.0)


def test_heatmap_matmul_equals_sum_of_splats():
    lm = torch.rand(1, 478, 2) * 1.6 - 0.8
    size, sigma = 32, 1.5 / 32
    ht = draw_heatmap(lm, size, sigma)[0, 0]
    g = (torch.arange(size) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    ref = sum(
        torch.exp(-((xx - lm[0, i, 0]) ** 2 + (yy - lm[0, i, 1]) ** 2) / (2 * sigma**2))
        for i in HEATMAP_POINTS
    )
    assert torch.allclose(ht, ref.clamp(max=1), atol=1e-5)


def test_discriminator_scales_and_features():
    d = MultiScaleDiscriminator(disc_config("tiny", 3))
    feats = d(torch.rand(2, 3, 64, 64))
    assert len(feats) == 2 and feats[0][-1].shape[1] == 1
    assert feats[1][-1].shape[-1] == feats[0][-1].shape[-1] // 2


def test_mesh_mirror_is_an_involution():
    MESH_MIRROR = mesh_mirror()  # the table is data: training/data/mesh_mirror.json
    assert len(MESH_MIRROR) == 478 and sorted(MESH_MIRROR) == list(range(478))
    assert all(MESH_MIRROR[MESH_MIRROR[i]] == i for i in range(478))
    assert MESH_MIRROR[468] == 473  # iris centres swap


def test_lite_body_runs_below_full_resolution():
    """CPU speed (issue 4): in the lite nets no convolution produces a full-resolution activation."""
    size, seen = 64, []
    gr, gb = FaceReenactor(gr_config("lite")).eval(), BackgroundMixer(gb_config("lite")).eval()
    hooks = [
        m.register_forward_hook(lambda mod, i, o: seen.append(o.shape[-1]))
        for net in (gr, gb)
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    with torch.no_grad():
        face, seg = gr(torch.rand(1, 3, size, size), torch.rand(1, 478, 2) * 2 - 1)
        image, _ = gb(face, torch.rand(1, 3, size, size))
    for h in hooks:
        h.remove()
    assert face.shape[-1] == seg.shape[-1] == image.shape[-1] == size
    assert seen and max(seen) <= size // 2


def test_channel_softmax_matches_torch():
    from training.models.gr import channel_softmax

    x = torch.randn(2, 3, 5, 7) * 20
    assert torch.allclose(channel_softmax(x), torch.softmax(x, 1), atol=1e-6)


def test_lite_size_multiple():
    gr = FaceReenactor(gr_config("lite"))
    assert gr.unet.min_size_multiple == 16  # stride-2 stem x 3 stride-2 levels: 128 and 256 both work


def test_warp_is_exact_identity_when_landmarks_do_not_move():
    from training.models.gr import warp_source

    cfg = gr_config("tiny", warp=True)
    src = torch.rand(2, 3, 64, 64)
    ls = (torch.rand(2, 478, 2) - 0.5) * 1.2
    assert torch.allclose(warp_source(src, ls, ls, cfg), src, atol=1e-5)


def test_warp_follows_a_translation_of_the_landmarks():
    """All landmarks moved by +0.25 in x (16 px at 128): a box in the source lands 16 px to the right."""
    from training.models.gr import warp_source

    cfg = gr_config("tiny", warp=True)
    src = torch.zeros(1, 3, 128, 128)
    src[..., 40:80, 40:80] = 1
    ls = (torch.rand(1, 478, 2) - 0.5) * 1.2
    out = warp_source(src, ls, ls + torch.tensor([0.25, 0.0]), cfg)
    cols = (out[0, 0] > 0.5).any(0).nonzero()[:, 0]
    rows = (out[0, 0] > 0.5).any(1).nonzero()[:, 0]
    assert (cols.min().item(), cols.max().item()) == (56, 95)
    assert (rows.min().item(), rows.max().item()) == (40, 79)


def test_warping_gr_needs_source_landmarks_and_trains():
    g = FaceReenactor(gr_config("tiny", warp=True))
    src, lt = torch.rand(2, 3, 32, 32), (torch.rand(2, 478, 2) - 0.5)
    with pytest.raises(ValueError, match="source landmarks"):
        g(src, lt)
    face, seg = g(src, lt, lt + 0.01)
    assert face.shape == (2, 3, 32, 32) and seg.shape == (2, 3, 32, 32)
    face.mean().backward()
    assert all(p.grad is not None for p in g.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="in_channels=6"):
        FaceReenactor(type(g.cfg)(unet=gr_config("tiny").unet, warp=True))
