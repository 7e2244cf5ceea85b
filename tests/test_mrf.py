"""The MRF style term (Li & Wand 2016, ``--style-loss mrf``): zero on the painting itself, positive elsewhere,
matching by normalised cross-correlation, a gradient that pulls each patch toward its match, masks, and the
combinations it cannot honour refused in one sentence. Tiny tensors and a random-weight VGG."""

from __future__ import annotations

import pytest
import torch

import atelier
from atelier.cli import main
from atelier.errors import OptionError
from atelier.features import get_vgg19
from atelier.losses import MRFLoss, PerceptualLoss, mrf_loss
from atelier.ops import patches

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"size": 32, "min_size": 32, "iterations": 2, "coarse_iterations": 0, "weights": "random", "device": "cpu"}


def _keys(style: torch.Tensor, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    k = patches.extract(style, 3, stride)[0]
    return k, k / k.norm(dim=1, keepdim=True)


def test_zero_for_the_painting_itself_and_positive_for_another_image():
    vgg = get_vgg19(weights="random", device="cpu")
    a, b = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0)), torch.rand(1, 3, 40, 40)
    loss = PerceptualLoss(vgg, content_layers=(), style_loss="mrf", mrf_stride=1)
    loss.set_styles([loss.style_grams(a)], [1.0])
    kinds = {k: type(t).__name__ for k, t in zip(loss.style_layers, loss.style_losses[0])}
    assert kinds == {"relu1_1": "GramLoss", "relu2_1": "GramLoss", "relu3_1": "MRFLoss", "relu4_1": "MRFLoss",
                     "relu5_1": "GramLoss"}
    assert float(loss(a)["style"]) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(b)["style"]) > 1e-3
    for k, term in zip(loss.style_layers, loss.style_losses[0]):  # each MRF term alone, too
        if isinstance(term, MRFLoss):
            assert float(term(vgg(a, [k])[k])) == pytest.approx(0.0, abs=1e-6)
            assert float(term(vgg(b, [k])[k])) > 1e-3


def test_matching_is_by_normalised_cross_correlation_not_euclidean_distance():
    v = torch.zeros(9)
    v[0] = 1.0  # a unit patch (C=1, 3x3)
    w = torch.zeros(9)
    w[0], w[1] = 0.8, 0.6  # unit, cos(v, w) = 0.8
    keys = torch.stack([v, 8 * w])  # the query 10 v is nearer 8 w (distance 6) than v (distance 9)...
    unit = keys / keys.norm(dim=1, keepdim=True)
    query = (10 * v).view(1, 1, 3, 3)
    # ... but its correlation with v is 1: it matches v, and the loss is ||10v - v||^2 / ||v||^2 = 81
    assert float(mrf_loss(query, keys, unit)) == pytest.approx(81.0)


def test_the_gradient_pulls_a_patch_toward_its_match():
    g = torch.Generator().manual_seed(1)
    style = torch.rand(1, 4, 6, 6, generator=g)
    keys, unit = _keys(style)
    x = torch.rand(1, 4, 3, 3, generator=g).requires_grad_(True)  # exactly one patch
    value = mrf_loss(x, keys, unit)
    value.backward()
    q = x.detach().flatten()
    j = int((unit @ (q / q.norm())).argmax())  # its most correlated painting patch
    t = keys[j]
    # d/dq ||q - t||^2 / ||t||^2 = 2 (q - t) / ||t||^2: exactly, no gradient through the matching
    assert torch.allclose(x.grad.flatten(), 2 * (q - t) / t.pow(2).sum(), atol=1e-6)
    stepped = (q - 0.1 * x.grad.flatten()).view(1, 4, 3, 3)
    assert (stepped.flatten() - t).norm() < (q - t).norm()
    assert float(mrf_loss(stepped, keys, unit)) < float(value.detach())


def test_a_mask_weights_the_patches_at_their_centres():
    g = torch.Generator().manual_seed(2)
    style, x = torch.rand(1, 4, 8, 8, generator=g), torch.rand(1, 4, 8, 8, generator=g)
    whole = float(MRFLoss(style)(x))
    assert float(MRFLoss(style, torch.ones(1, 1, 32, 32))(x)) == pytest.approx(whole, rel=1e-5)
    assert float(MRFLoss(style, torch.zeros(1, 1, 32, 32))(x)) == 0.0
    left = torch.zeros(1, 1, 8, 8)
    left[..., :4] = 1
    assert 0 < float(MRFLoss(style, left)(x))


def test_a_painting_stride_keeps_fewer_patches():
    style = torch.rand(1, 2, 12, 12)
    assert MRFLoss(style, stride=1).keys.shape[0] == 100 and MRFLoss(style, stride=2).keys.shape[0] == 25


def test_gatys_runs_with_mrf_with_masks_and_as_a_texture(image_files):
    out = atelier.stylize(image_files["content"], image_files["style"], style_loss="mrf", output="tensor", **TINY)
    assert out.shape[-2:] == (24, 32)
    two = atelier.stylize(image_files["content"], [image_files["style"], image_files["style2"]],
                          masks=[image_files["mask"], image_files["mask"]], style_loss="mrf", output="tensor", **TINY)
    assert two.shape == out.shape
    tex = atelier.texture(image_files["style"], method="gatys", size=32, style_loss="mrf", output="tensor",
                          **{k: v for k, v in TINY.items() if k != "size"})
    assert tex.shape[-2:] == (32, 32)


@pytest.mark.parametrize("options,kwargs,words", [
    ({"tile": 64}, {}, "--tile"),
    ({"style_layers": ["relu1_1", "relu2_1"]}, {}, "relu3_1"),
    ({}, {"n_styles": 2}, "--mask"),
    ({}, {"n_styles": 2, "scale_mix": True}, "--coarse-style"),
    ({}, {"n_style_masks": 1}, "--style-mask"),
    ({}, {"semantic": "auto"}, "--semantic"),
])
def test_what_mrf_cannot_honour_is_refused(options, kwargs, words):
    kwargs.setdefault("n_styles", 1)
    with pytest.raises(OptionError, match=words):
        atelier.prepare("gatys", {"style_loss": "mrf", **options}, **kwargs)


def test_an_output_that_would_need_tiles_is_refused_before_any_step(image_files):
    with pytest.raises(OptionError, match="max-memory"):
        atelier.stylize(image_files["content"], image_files["style"], style_loss="mrf", max_memory=1e-4,
                        output="tensor", **TINY)


def test_cli_refuses_mrf_in_tiles_in_one_sentence(image_files, tmp_path, capsys):
    out = tmp_path / "out.png"
    code = main(["stylize", str(image_files["content"]), str(image_files["style"]), "-o", str(out),
                 "--style-loss", "mrf", "--tile", "64", "--size", "32", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--tile" in err[0] and not out.exists()


def test_the_memory_estimate_counts_the_patches():
    from atelier.methods.gatys.config import GatysConfig
    from atelier.methods.gatys.method import Gatys

    gram, s2, s1 = (Gatys.peak_bytes((512, 512), GatysConfig(size=512, **kw))
                    for kw in ({}, {"style_loss": "mrf"}, {"style_loss": "mrf", "mrf_stride": 1}))
    assert gram < s2 < s1
