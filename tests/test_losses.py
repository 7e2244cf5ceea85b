"""Tests of atelier.losses: Gram matrices (plain and guided), relative errors, TV, mean/std and the
PerceptualLoss container (on a seeded random VGG-19, no real weights)."""

from __future__ import annotations

import pytest
import torch

from atelier.features import VGG19
from atelier.losses import (
    PerceptualLoss,
    content_loss,
    gram_loss,
    gram_matrix,
    mean_std,
    mean_std_loss,
    relative_sq_error,
    tv_loss,
)


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def vgg() -> VGG19:
    """Seeded random VGG-19 (He-initialised; conv1_1 scaled for 0..255 input)."""
    return VGG19(weights="random")


def test_fixture_network_is_well_scaled(vgg):
    """Precondition of the PerceptualLoss tests: deep layers carry signal (Grams do not underflow)."""
    feats = vgg(rand(1, 3, 32, 32), ["relu1_1", "relu5_1"])
    assert gram_matrix(feats["relu5_1"]).abs().max() > 1e-3 * gram_matrix(feats["relu1_1"]).abs().max()


# -------------------------------------------------------------------------------------------------- gram


def test_gram_shape_symmetry_and_definition():
    """gram_matrix is (B,C,C), symmetric, and equals F F^T / HW per batch item."""
    f = torch.randn(2, 5, 6, 7, generator=torch.Generator().manual_seed(0))
    g = gram_matrix(f)
    assert g.shape == (2, 5, 5) and g.dtype == torch.float32
    torch.testing.assert_close(g, g.transpose(1, 2))
    for b in range(2):
        m = f[b].reshape(5, 42)
        torch.testing.assert_close(g[b], m @ m.T / 42)


def test_gram_channels_last_and_masked_equal_contiguous():
    """The channels_last fast path gives the same Gram (plain and guided) and gradient as NCHW input."""
    f = torch.randn(2, 6, 5, 7, generator=torch.Generator().manual_seed(1))
    mask = rand(1, 1, 10, 14, seed=2)
    cl = f.contiguous(memory_format=torch.channels_last)
    assert not cl.is_contiguous()
    for m in (None, mask):
        torch.testing.assert_close(gram_matrix(cl, m), gram_matrix(f, m))
    a, b = f.clone().requires_grad_(True), cl.clone().requires_grad_(True)
    gram_matrix(a).square().sum().backward()
    gram_matrix(b).square().sum().backward()
    torch.testing.assert_close(b.grad, a.grad)
    assert b.grad.is_contiguous(memory_format=torch.channels_last)  # no layout change in the backward


def test_gram_of_bf16_features_within_bf16_rounding():
    """bf16 features give an fp32 Gram within bf16 rounding (2^-8 relative) of the fp32 product of their values."""
    f = rand(1, 8, 16, 16).contiguous(memory_format=torch.channels_last).bfloat16()
    g = gram_matrix(f)
    assert g.dtype == torch.float32
    exact = gram_matrix(f.float())
    torch.testing.assert_close(g, exact, rtol=2**-8, atol=0)
    assert not torch.equal(g, exact)  # it was rounded: the product really ran in bf16


def test_gram_gradient_matches_autograd_of_the_definition():
    """The one-product backward of the Gram equals autograd through F F^T / HW (fp64, any layout, masked)."""
    g = torch.Generator().manual_seed(3)
    f = torch.randn(2, 4, 5, 6, dtype=torch.float64, generator=g)
    w = torch.randn(2, 4, 4, dtype=torch.float64, generator=g)  # an asymmetric upstream gradient
    mask = torch.rand(1, 1, 5, 6, dtype=torch.float64, generator=g)
    for x in (f, f.contiguous(memory_format=torch.channels_last)):
        for m in (None, mask):
            a = x.clone().requires_grad_(True)
            (gram_matrix(a, m).double() * w).sum().backward()
            b = x.clone().requires_grad_(True)
            fm = (b * (1 if m is None else m)).reshape(2, 4, 30)
            norm = 30.0 if m is None else float(m.pow(2).sum())
            ((fm @ fm.transpose(1, 2) / norm) * w).sum().backward()
            torch.testing.assert_close(a.grad, b.grad)


def test_gram_rejects_non_4d():
    """Features must be (B,C,H,W)."""
    with pytest.raises(ValueError, match="B,C,H,W"):
        gram_matrix(torch.zeros(3, 4, 4))


def test_gram_is_size_independent_for_tiled_features():
    """Tiling a feature map 2x2 leaves its Gram unchanged: the normalisation is per position."""
    f = rand(1, 4, 5, 6)
    torch.testing.assert_close(gram_matrix(f.repeat(1, 1, 2, 2)), gram_matrix(f))


def test_guided_gram_all_ones_mask_equals_plain():
    """A guidance mask of ones (any resolution) gives the unguided Gram."""
    f = rand(2, 4, 8, 8)
    torch.testing.assert_close(gram_matrix(f, torch.ones(1, 1, 8, 8)), gram_matrix(f))
    torch.testing.assert_close(gram_matrix(f, torch.ones(1, 1, 32, 32)), gram_matrix(f))


def test_guided_gram_half_mask_equals_gram_of_half():
    """A mask of ones on the left half gives the Gram of the left half alone."""
    f = rand(1, 4, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1
    torch.testing.assert_close(gram_matrix(f, mask), gram_matrix(f[..., :4]))


def test_guided_gram_mask_is_resized_to_features():
    """A mask at 4x the feature resolution (as at a deeper layer) selects the same region."""
    f = rand(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 16:, :] = 1  # bottom half
    torch.testing.assert_close(gram_matrix(f, mask), gram_matrix(f[..., 4:, :]))


def test_gram_loss_zero_at_own_gram():
    """gram_loss is 0 for features whose Gram is the target, positive otherwise."""
    f, other = rand(1, 4, 6, 6), rand(1, 4, 6, 6, seed=1)
    assert gram_loss(f, gram_matrix(f)).item() == pytest.approx(0.0, abs=1e-12)
    assert gram_loss(other, gram_matrix(f)).item() > 1e-4


# ------------------------------------------------------------------------------------ relative_sq_error


def test_relative_sq_error_values():
    """0 for identical tensors, 1 for a zero input, and the documented ratio in between."""
    t = rand(1, 3, 4, 4) + 0.1
    assert relative_sq_error(t, t).item() == 0.0
    assert relative_sq_error(torch.zeros_like(t), t).item() == pytest.approx(1.0, rel=1e-6)
    assert relative_sq_error(2 * t, t).item() == pytest.approx(1.0, rel=1e-6)  # ||t||^2 / ||t||^2
    assert relative_sq_error(t / 2, t).item() == pytest.approx(0.25, rel=1e-6)


def test_relative_sq_error_scale_invariant():
    """Scaling input and target by the same factor leaves the error unchanged."""
    x, t = rand(1, 3, 4, 4), rand(1, 3, 4, 4, seed=1)
    assert relative_sq_error(7 * x, 7 * t).item() == pytest.approx(relative_sq_error(x, t).item(), rel=1e-5)


def test_relative_sq_error_averages_over_batch():
    """Per-item errors are averaged: an exact item (0) and a zero item (1) give 0.5."""
    t = rand(2, 3, 4, 4) + 0.1
    x = torch.stack([t[0], torch.zeros_like(t[1])])
    assert relative_sq_error(x, t).item() == pytest.approx(0.5, rel=1e-6)


def test_relative_sq_error_shape_mismatch():
    """Mismatched shapes raise ValueError naming both shapes."""
    with pytest.raises(ValueError, match=r"shape mismatch.*\(1, 3, 4, 4\).*\(1, 3, 4, 5\)"):
        relative_sq_error(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))


def test_content_loss_requires_4d():
    """content_loss checks its features' rank."""
    with pytest.raises(ValueError):
        content_loss(torch.zeros(3, 4), torch.zeros(3, 4))


# ----------------------------------------------------------------------------------------------- tv, stats


def test_tv_loss_constant_and_noise():
    """TV is 0 for a constant image and positive for noise."""
    assert tv_loss(torch.full((1, 3, 16, 16), 0.3)).item() == 0.0
    assert tv_loss(rand(1, 3, 16, 16)).item() > 0.01


def test_tv_loss_checkerboard_analytic():
    """A checkerboard of values a, b has every neighbour difference +-(a-b): TV = 2 (a-b)^2."""
    a, b = 0.2, 0.7
    y, x = torch.meshgrid(torch.arange(16), torch.arange(12), indexing="ij")
    board = torch.where((x + y) % 2 == 0, a, b).float().expand(1, 3, 16, 12)
    assert tv_loss(board).item() == pytest.approx(2 * (a - b) ** 2, rel=1e-5)


def test_tv_loss_stripes_analytic():
    """Horizontal stripes only vary vertically: TV = (a-b)^2 (mean of dx^2 is 0)."""
    a, b = 0.1, 0.6
    rows = torch.tensor([a, b] * 8).view(1, 1, 16, 1).expand(1, 3, 16, 10)
    assert tv_loss(rows).item() == pytest.approx((a - b) ** 2, rel=1e-5)


def test_mean_std_loss():
    """mean_std_loss is 0 against a tensor's own statistics and grows with a mean shift."""
    f = rand(2, 4, 8, 8)
    mu, sd = mean_std(f)
    assert mu.shape == (2, 4, 1, 1) and sd.shape == (2, 4, 1, 1)
    torch.testing.assert_close(mu.flatten(), f.mean(dim=(2, 3)).flatten())
    assert mean_std_loss(f, mu, sd).item() == pytest.approx(0.0, abs=1e-12)
    # A shift by 0.5 moves only the means: loss = 0.5^2 (mean over channels of the squared shift).
    assert mean_std_loss(f + 0.5, mu, sd).item() == pytest.approx(0.25, rel=1e-4)


# ------------------------------------------------------------------------------------------ PerceptualLoss

CONTENT, STYLE_A, STYLE_B = (rand(1, 3, 32, 32, seed=s) for s in (10, 11, 12))


@pytest.fixture(scope="module")
def grams(vgg) -> tuple[dict, dict]:
    """Gram matrices of STYLE_A and STYLE_B at the default style layers."""
    loss = PerceptualLoss(vgg)
    return loss.style_grams(STYLE_A), loss.style_grams(STYLE_B)


def make_loss(vgg, content_layers=("relu1_1",), **kw) -> PerceptualLoss:
    """A PerceptualLoss with its content set (a cheap shallow content layer unless the test needs more)."""
    loss = PerceptualLoss(vgg, content_layers=content_layers, **kw)
    loss.set_content(CONTENT)
    return loss


def test_terms_and_total(vgg, grams):
    """forward returns content/style/tv/total, each weighted, with total their sum."""
    loss = make_loss(vgg, content_layers=("relu4_2",), content_weight=2.0, style_weight=3.0, tv_weight=5.0)
    loss.set_styles([grams[0]], [1.0])
    img = rand(1, 3, 32, 32, seed=1)
    terms = loss(img)
    assert set(terms) == {"content", "style", "tv", "total"}
    assert all(t.dim() == 0 for t in terms.values())
    torch.testing.assert_close(terms["total"], terms["content"] + terms["style"] + terms["tv"])
    torch.testing.assert_close(terms["tv"], 5.0 * tv_loss(img))
    assert terms["content"] > 0 and terms["style"] > 0


def test_tv_term_zero_without_weight(vgg):
    """With tv_weight=0 (the default) the tv term is exactly 0."""
    assert make_loss(vgg)(rand(1, 3, 32, 32, seed=1))["tv"].item() == 0.0


def test_content_term_zero_at_content(vgg):
    """The content term vanishes when the image is the content image, and not elsewhere."""
    loss = make_loss(vgg, content_layers=("relu2_1", "relu4_2"))
    assert loss(CONTENT)["content"].item() == pytest.approx(0.0, abs=1e-10)
    assert loss(STYLE_A)["content"].item() > 1e-3


def test_content_layers_are_averaged(vgg):
    """With two content layers the content term is the mean of the per-layer relative errors."""
    img = rand(1, 3, 32, 32, seed=2)
    both = make_loss(vgg, content_layers=("relu1_1", "relu2_1"))(img)["content"]
    one = make_loss(vgg, content_layers=("relu1_1",))(img)["content"]
    two = make_loss(vgg, content_layers=("relu2_1",))(img)["content"]
    torch.testing.assert_close(both, (one + two) / 2)


def test_style_term_zero_at_style_image(vgg, grams):
    """With the style's own Grams as target the style term is ~0 at the style image, larger elsewhere."""
    loss = make_loss(vgg)
    loss.set_styles([grams[0]], [1.0])
    at_style = loss(STYLE_A)["style"].item()
    at_content = loss(CONTENT)["style"].item()
    assert at_style == pytest.approx(0.0, abs=1e-8)
    assert at_content > 1e-4 and at_content > 1000 * at_style


def test_style_grams_shapes(vgg):
    """style_grams gives one (1,C,C) Gram per style layer."""
    loss = make_loss(vgg, style_layers=("relu1_1", "relu3_1", "relu5_1"))
    grams = loss.style_grams(STYLE_A)
    assert {k: tuple(g.shape) for k, g in grams.items()} == {
        "relu1_1": (1, 64, 64), "relu3_1": (1, 256, 256), "relu5_1": (1, 512, 512)}


def test_style_layer_weights_validated(vgg):
    """style_layer_weights needs one weight per style layer."""
    with pytest.raises(ValueError, match="one weight per style layer"):
        PerceptualLoss(vgg, style_layers=("relu1_1", "relu2_1"), style_layer_weights=[1.0])


def test_style_layer_weights_select_layers(vgg):
    """Layer weights [1, 0] make the style term that of the first layer alone."""
    img = rand(1, 3, 32, 32, seed=3)
    weighted = make_loss(vgg, style_layers=("relu1_1", "relu2_1"), style_layer_weights=[2.0, 0.0])
    single = make_loss(vgg, style_layers=("relu1_1",))
    for loss in (weighted, single):
        loss.set_styles([loss.style_grams(STYLE_A)], [1.0])
    torch.testing.assert_close(weighted(img)["style"], single(img)["style"])


def test_blend_weights_one_zero_equals_single_style(vgg, grams):
    """Blending styles with weights [1, 0] gives exactly the single style's targets and loss."""
    img = rand(1, 3, 32, 32, seed=4)
    blended, single = make_loss(vgg), make_loss(vgg)
    ga, gb = grams
    blended.set_styles([ga, gb], [1.0, 0.0])
    single.set_styles([ga], [1.0])
    for lb, ls in zip(blended.style_losses[0], single.style_losses[0]):
        torch.testing.assert_close(lb.target, ls.target)
    torch.testing.assert_close(blended(img)["style"], single(img)["style"])


def test_blend_weights_are_normalised(vgg, grams):
    """Blend weights [3, 1] give the target 0.75 G_a + 0.25 G_b at every layer."""
    loss = make_loss(vgg)
    ga, gb = grams
    loss.set_styles([ga, gb], [3.0, 1.0])
    assert len(loss.style_losses) == 1 and loss.region_weights == [1.0]
    for gl, k in zip(loss.style_losses[0], loss.style_layers):
        torch.testing.assert_close(gl.target, 0.75 * ga[k] + 0.25 * gb[k])


def test_masked_styles_region_weights(vgg, grams):
    """With masks each style gets its own term; weights normalise to region weights."""
    loss = make_loss(vgg)
    ga, gb = grams
    left = torch.zeros(1, 1, 32, 32)
    left[..., :16] = 1
    loss.set_styles([ga, gb], [3.0, 1.0], masks=[left, 1 - left])
    assert len(loss.style_losses) == 2
    assert loss.region_weights == pytest.approx([0.75, 0.25])
    assert torch.equal(loss.style_losses[1][0].mask, 1 - left)


def test_masked_styles_full_masks_are_weighted_sum(vgg, grams):
    """With all-ones masks, the style term is the weighted sum of each style's single-style term."""
    img = rand(1, 3, 32, 32, seed=5)
    masked = make_loss(vgg)
    ga, gb = grams
    ones = torch.ones(1, 1, 32, 32)
    masked.set_styles([ga, gb], [1.0, 3.0], masks=[ones, ones])
    sa, sb = make_loss(vgg), make_loss(vgg)
    sa.set_styles([ga], [1.0])
    sb.set_styles([gb], [1.0])
    expected = 0.25 * sa(img)["style"] + 0.75 * sb(img)["style"]
    torch.testing.assert_close(masked(img)["style"], expected)


def test_masked_style_zero_on_its_region(vgg):
    """A region whose pixels are the style image itself has ~0 guided style loss at relu1_1."""
    loss = make_loss(vgg, style_layers=("relu1_1",))
    # The right half of the image is STYLE_A; the target is the Gram of STYLE_A's right half. relu1_1 has a
    # 3x3 receptive field, so only the border column sees the other half.
    img = CONTENT.clone()
    img[..., 16:] = STYLE_A[..., 16:]
    right = torch.zeros(1, 1, 32, 32)
    right[..., 17:] = 1  # leave out the border column
    target = {"relu1_1": gram_matrix(vgg(STYLE_A, ["relu1_1"])["relu1_1"], right)}
    loss.set_styles([target], [1.0], masks=[right])
    assert loss(img)["style"].item() == pytest.approx(0.0, abs=1e-8)
    assert loss(CONTENT)["style"].item() > 1e-4


def test_gradient_flows_to_image(vgg, grams):
    """The total loss back-propagates to the image with a finite, non-zero gradient."""
    loss = make_loss(vgg, content_layers=("relu4_2",), tv_weight=1.0)
    loss.set_styles([grams[0]], [1.0])
    img = rand(1, 3, 32, 32, seed=6).requires_grad_(True)
    loss(img)["total"].backward()
    assert img.grad is not None and torch.isfinite(img.grad).all() and img.grad.abs().sum() > 0


def test_without_styles_only_content_layers_run(vgg):
    """Before set_styles the style term is 0 and no style layer is computed."""
    loss = make_loss(vgg, content_layers=("relu2_1",))
    called: list[str] = []
    hook = vgg.convs["conv3_1"].register_forward_hook(lambda *a: called.append("conv3_1"))
    try:
        terms = loss(rand(1, 3, 32, 32, seed=7))
    finally:
        hook.remove()
    assert terms["style"].item() == 0.0 and called == []
