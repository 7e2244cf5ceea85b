"""Opt-in (-m weights): with the real VGG-19, Gatys actually transfers style on a 128 px pair."""

from __future__ import annotations

import pytest
import torch

import atelier
from atelier.features import get_vgg19
from atelier.losses import content_loss, gram_loss, gram_matrix

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def style_distance(vgg, image, style):
    """Relative Gram error averaged over relu1_1..relu5_1 (style resized to the image's area)."""
    fi = vgg(image, STYLE_LAYERS)
    fs = vgg(style, STYLE_LAYERS)
    return sum(float(gram_loss(fi[k], gram_matrix(fs[k]))) for k in STYLE_LAYERS) / len(STYLE_LAYERS)


@pytest.mark.weights
def test_style_distance_falls_and_content_stays_bounded():
    content_path, style_path = atelier.default_inputs()
    result = atelier.run(content_path, style_path, size=128, device="cpu")
    out = result.image
    vgg = get_vgg19()
    content = atelier.load_image(content_path)
    content = torch.nn.functional.interpolate(content, size=out.shape[-2:], mode="bilinear", antialias=True)
    style = atelier.load_image(style_path)
    scale = (out.shape[-2] * out.shape[-1] / (style.shape[-2] * style.shape[-1])) ** 0.5
    style = torch.nn.functional.interpolate(style, scale_factor=scale, mode="bilinear", antialias=True)
    with torch.no_grad():
        d_content_own = style_distance(vgg, content, style)
        d_out = style_distance(vgg, out, style)
        c_err = float(content_loss(vgg(out, ["relu4_2"])["relu4_2"], vgg(content, ["relu4_2"])["relu4_2"]))
    assert d_out < 0.25 * d_content_own, (d_out, d_content_own)
    assert c_err < 0.8, c_err  # relative relu4_2 error: the photo's structure is still there
