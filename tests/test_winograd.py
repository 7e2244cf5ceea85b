"""Tests of atelier.ops.winograd: F(4x4,3x3) convolutions against conv2d, forward and input gradient, and the
VGG-19 that uses them from conv3_1 on (CPU, fp32, frozen weights)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from atelier.features import VGG19, WINOGRAD_LAYERS
from atelier.ops import winograd


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm())


def case(b=2, c=24, co=40, h=13, w=22, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, h, w, generator=g).contiguous(memory_format=torch.channels_last)
    return x, torch.randn(co, c, 3, 3, generator=g) * 0.1, torch.randn(co, generator=g)


@pytest.mark.parametrize("h,w", [(13, 22), (4, 4), (1, 7), (16, 9)])  # partial and whole 4x4 tiles
def test_matches_conv2d_forward_and_input_gradient(h, w):
    x, weight, bias = case(h=h, w=w)
    x.requires_grad_(True)
    ref = F.conv2d(x, weight, bias, padding=1)
    out = winograd.conv3x3(x, winograd.transforms(weight), bias)
    assert out.shape == ref.shape and out.is_contiguous(memory_format=torch.channels_last)
    assert rel(out, ref) < 1e-5
    grad = torch.randn_like(ref)
    (g_ref,) = torch.autograd.grad(ref, x, grad)
    (g_out,) = torch.autograd.grad(out, x, grad)
    assert rel(g_out, g_ref) < 1e-5


def test_chunks_of_tile_rows_give_the_same_result(monkeypatch):
    x, weight, bias = case(h=37, w=30)
    whole = winograd.conv3x3(x, winograd.transforms(weight), bias)
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)  # one row of tiles per chunk: 10 chunks
    chunked = winograd.conv3x3(x, winograd.transforms(weight), bias)
    assert torch.equal(whole, chunked)


def test_applies_only_to_frozen_fp32_kernels_on_cpu():
    x, weight, _ = case()
    assert winograd.applies(x, weight)
    assert not winograd.applies(x.bfloat16(), weight.bfloat16())
    assert not winograd.applies(x, weight.clone().requires_grad_(True))  # weight gradients: conv2d
    assert not winograd.applies(x, torch.randn(40, 24, 5, 5))


def test_vgg_features_and_gradient_agree_with_and_without(monkeypatch):
    vgg = VGG19(weights="random")
    x = torch.rand(1, 3, 45, 62, generator=torch.Generator().manual_seed(1))
    layers = ["relu1_1", "relu3_1", "relu4_2", "relu5_1"]

    def run(enabled: bool):
        monkeypatch.setattr(winograd, "ENABLED", enabled)
        xx = x.clone().requires_grad_(True)
        feats = vgg(xx, layers)
        sum(f.pow(2).mean() for f in feats.values()).backward()
        return feats, xx.grad

    (f0, g0), (f1, g1) = run(False), run(True)
    assert "conv3_1" in WINOGRAD_LAYERS and "conv2_2" not in WINOGRAD_LAYERS
    for name in layers:
        assert rel(f1[name], f0[name]) < 1e-4, name
    assert rel(g1, g0) < 1e-3  # relu/max-pool switches at ~0 differences move a few gradient entries


def test_vgg_kernels_follow_an_in_place_weight_change():
    vgg = VGG19(weights="random")
    x = torch.rand(1, 3, 32, 32)
    before = vgg(x, ["relu3_1"])["relu3_1"].clone()
    with torch.no_grad():
        vgg.convs["conv3_1"].weight.mul_(2)
        vgg.convs["conv3_1"].bias.mul_(2)
    after = vgg(x, ["relu3_1"])["relu3_1"]
    assert rel(after, 2 * before) < 1e-5
