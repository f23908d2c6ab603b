"""Losses of eqs. 1-11: zero at the optimum, positive away from it, the invariances they claim."""

from __future__ import annotations

import torch

from realtime.face.topology import CONTOUR_EDGES
from training.fitting import losses as L


def test_lt_losses_vanish_at_target():
    torch.manual_seed(0)
    ld = torch.rand(2, 478, 2)
    edges = torch.tensor(CONTOUR_EDGES)
    assert L.landmark_l1(ld, ld) == 0
    assert L.connectivity(ld, ld, edges) == 0
    assert L.landmark_l1(ld + 0.1, ld) > 0
    assert L.displacement_l2(torch.zeros(2, 478, 2)) == 0
    assert L.au_consistency(torch.ones(2, 20), torch.ones(2, 20)) == 0


def test_connectivity_ignores_translation_but_not_scaling():
    ld = torch.rand(2, 478, 2)
    edges = torch.tensor(CONTOUR_EDGES)
    assert L.connectivity(ld + 0.3, ld, edges) < 1e-6
    assert L.connectivity(ld * 1.5, ld, edges) > 1e-3


def test_pixel_l1_weighting():
    a, b = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    w = torch.zeros(1, 1, 4, 4)
    w[..., :2, :] = 1
    assert L.pixel_l1(a, b) == 1
    assert L.pixel_l1(a, b, w) == 1
    b[..., :2, :] = 0
    assert L.pixel_l1(a, b, w) == 0


def test_adversarial_and_feature_matching():
    real = [[torch.ones(1, 4, 2, 2), torch.full((1, 1, 2, 2), 2.0)]]
    fake = [[torch.zeros(1, 4, 2, 2), torch.full((1, 1, 2, 2), -2.0)]]
    assert L.adversarial_d(fake, real) == 0  # both beyond the hinge margin
    assert L.adversarial_g(fake) == 2.0
    assert L.feature_matching(fake, real) == 1.0
    assert L.feature_matching(real, real) == 0.0


def test_segmentation_ce_and_mask_regularisation():
    target = torch.randint(0, 3, (2, 8, 8))
    perfect = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 50
    assert L.segmentation_ce(perfect, target) < 1e-6
    assert L.mask_regularisation(torch.zeros(1, 1, 8, 8)) == 0
    assert L.mask_regularisation(torch.rand(1, 1, 8, 8)) > 0
