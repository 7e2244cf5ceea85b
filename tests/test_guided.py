"""The guided filter (He et al. 2013, ops/guided.py) and WCT's photorealistic smoothing built on it (Li et al.
2018 §3.2): box means against pooling, exact reproduction of an affine function of the guide, flat regions
cleaned while the guide's edges stay, strips equal to one pass. ``--smooth`` through WCT: tests/test_wct.py."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from atelier.ops.guided import box_mean, guided_filter

pytestmark = pytest.mark.usefixtures("one_thread")


def test_box_mean_is_the_mean_over_the_window_clipped_at_the_borders():
    x = torch.rand(1, 2, 13, 17, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for r in (1, 3, 8):
        ref = F.avg_pool2d(x, 2 * r + 1, 1, r, count_include_pad=False)
        torch.testing.assert_close(box_mean(x, r), ref)


def test_an_affine_function_of_the_guide_passes_unchanged():
    g = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(1))
    a = torch.tensor([[0.5, 0.2, -0.1], [0.1, 0.7, 0.0], [0.0, -0.3, 0.9]])
    p = torch.einsum("ci,bihw->bchw", a, g) + torch.tensor([0.1, 0.05, 0.2])[None, :, None, None]
    torch.testing.assert_close(guided_filter(g, p, 4, 1e-8), p, atol=1e-5, rtol=0)


def test_noise_the_guide_does_not_explain_is_removed_and_its_edges_stay():
    g = torch.zeros(1, 3, 48, 48)
    g[..., 24:] = 1.0  # a sharp vertical edge between two flat regions
    noise = 0.2 * torch.randn(1, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    p = (0.2 + 0.6 * g + noise).clamp(0, 1)
    q = guided_filter(g, p, 6, 1e-4)
    left, right = q[..., :, :22], q[..., :, 26:]
    assert left.std() < 0.25 * p[..., :, :22].std() and right.std() < 0.25 * p[..., :, 26:].std()
    assert (right.mean() - left.mean()) > 0.5  # the step survives (~0.6 in p)
    assert (q[..., 25] - q[..., 22]).mean() > 0.5  # and stays sharp at the edge, not a 12-px ramp


def test_strips_give_the_same_result_as_one_pass():
    gen = torch.Generator().manual_seed(3)
    g, p = torch.rand(1, 3, 61, 37, generator=gen), torch.rand(1, 3, 61, 37, generator=gen)
    torch.testing.assert_close(guided_filter(g, p, 5, 1e-3, strip_pixels=37 * 9), guided_filter(g, p, 5, 1e-3))



def test_strips_shrink_to_the_memory_budget():
    """WCT's --smooth gives the filter what --max-memory leaves for activations: smaller budgets, smaller
    strips (never under 16 rows), never above the default strip."""
    from atelier.ops.guided import BYTES_PER_PIXEL, STRIP_PIXELS, strip_pixels_for

    assert strip_pixels_for(8 * 2**30, 4000) == STRIP_PIXELS
    assert strip_pixels_for(64 * 2**20, 4000) == 64 * 2**20 // BYTES_PER_PIXEL < STRIP_PIXELS
    assert strip_pixels_for(-1.0, 4000) == 16 * 4000  # a budget already spent: the smallest strip
