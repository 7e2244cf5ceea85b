"""Tests of atelier.metrics: feature and pixel distances, SSIM, warping error, evaluate(), reports.

Tiny images and the seeded random-weight VGG; one opt-in test (-m weights) uses the real weights.
"""

from __future__ import annotations

import ast
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import atelier.metrics as M
from atelier.errors import OptionError
from atelier.features import get_vgg19
from atelier.metrics import (
    color_histogram_distance,
    content_distance,
    evaluate,
    format_table,
    gram_distance,
    mean_std_distance,
    occlusion_mask,
    sliced_wasserstein,
    ssim_luminance,
    warp,
    warping_error,
)
from atelier.metrics.distances import CONTENT_LAYER, MEANSTD_LAYERS, STYLE_LAYERS
from atelier.ops.color import combine_luminance

ALL_LAYERS = sorted(set(STYLE_LAYERS) | set(MEANSTD_LAYERS) | {CONTENT_LAYER})


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def smooth(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """(1,3,h,w) smooth colourful image in [0.15, 0.85] (a 'photo')."""
    g = gen(seed)
    y = torch.linspace(0, 1, h).view(h, 1)
    x = torch.linspace(0, 1, w).view(1, w)
    ph = torch.rand(3, generator=g) * 6
    img = torch.stack([torch.sin(5 * x + 3 * y + ph[0]), torch.cos(4 * y - 2 * x + ph[1]),
                       torch.sin(3 * (x + y) + ph[2]) * torch.cos(2 * x)])
    return (0.5 + 0.35 * img)[None].float()


def textured(h: int, w: int, seed: int = 1) -> torch.Tensor:
    """(1,3,h,w) high-frequency 'painting': oriented stripes plus noise in a warm palette."""
    g = gen(seed)
    y = torch.arange(h).view(h, 1).float()
    x = torch.arange(w).view(1, w).float()
    stripes = 0.5 + 0.5 * torch.sin(1.7 * x + 0.9 * y)  # (h,w)
    noise = torch.rand(1, 1, h, w, generator=g)
    base = torch.tensor([0.85, 0.45, 0.15]).view(1, 3, 1, 1)
    return (base * (0.4 + 0.6 * stripes) * (0.7 + 0.3 * noise)).clamp(0, 1)


@pytest.fixture(scope="module")
def vgg():
    return get_vgg19(weights="random")


@pytest.fixture(scope="module")
def images():
    c, s = smooth(48, 64), textured(48, 64)
    return {"c": c, "s": s, "x_a": 0.3 * c + 0.7 * s, "x_b": 0.7 * c + 0.3 * s}


def feats(vgg, img):
    with torch.no_grad():
        return {k: v.clone() for k, v in vgg(img, ALL_LAYERS).items()}


# ----------------------------------------------------------------------------------------------------
# Distances


def test_identical_images_give_zero_and_ssim_one(vgg, images):
    x = images["x_a"]
    f = feats(vgg, x)
    assert gram_distance(f, f) == 0.0
    assert sliced_wasserstein(f, f) == 0.0
    assert mean_std_distance(f, f) == 0.0
    assert content_distance(f, f) == 0.0
    assert color_histogram_distance(x, x) == 0.0
    assert ssim_luminance(x, x) == pytest.approx(1.0, abs=1e-5)


def test_stronger_style_is_closer_to_the_style_and_further_from_the_content(vgg, images):
    fs, fc = feats(vgg, images["s"]), feats(vgg, images["c"])
    fa, fb = feats(vgg, images["x_a"]), feats(vgg, images["x_b"])  # a = 70% style, b = 30% style
    for dist in (gram_distance, sliced_wasserstein, mean_std_distance):
        da, db = dist(fa, fs), dist(fb, fs)
        assert 0 < da < db, (dist.__name__, da, db)
        assert dist(fc, fs) > db, dist.__name__  # the pure content is the furthest from the style
    ca, cb = content_distance(fa, fc), content_distance(fb, fc)
    assert ca > cb > 0
    assert ssim_luminance(images["x_a"], images["c"]) < ssim_luminance(images["x_b"], images["c"])


def test_sliced_wasserstein_is_deterministic_symmetric_ish_and_size_free(vgg, images):
    fa, fs = feats(vgg, images["x_a"]), feats(vgg, images["s"])
    d1, d2 = sliced_wasserstein(fa, fs), sliced_wasserstein(fa, fs)
    assert d1 == d2
    assert sliced_wasserstein(fa, fs, generator=gen(M.SWD_SEED)) == d1  # the default is seed SWD_SEED
    assert sliced_wasserstein(fa, fs, generator=gen(7)) == pytest.approx(d1, rel=0.3)  # other projections
    d_rev = sliced_wasserstein(fs, fa)
    # SW2 is symmetric; only the normalisation (by the second argument's RMS) differs.
    assert 0.5 < d_rev / d1 < 2
    # A style of another size (different point counts -> interpolated quantiles): a 2x2 tiling of the
    # texture at half size has nearly the same feature distribution as the texture itself.
    big = feats(vgg, textured(64, 80))
    small = feats(vgg, textured(40, 56))
    assert sliced_wasserstein(small, big) < 0.5 * sliced_wasserstein(fa, big)
    with pytest.raises(ValueError):
        sliced_wasserstein(fa, fs, n_projections=0)


def test_distances_ask_for_missing_layers(vgg, images):
    f = feats(vgg, images["c"])
    with pytest.raises(ValueError, match="relu5_1"):
        gram_distance({k: v for k, v in f.items() if k != "relu5_1"}, f)


# ----------------------------------------------------------------------------------------------------
# SSIM


def ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 by explicit loops over valid 11x11 windows (float64), on (H,W) luminance."""
    r = np.arange(11) - 5
    g = np.exp(-(r**2) / (2 * 1.5**2))
    win = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            ma, mb = (win * pa).sum(), (win * pb).sum()
            va, vb = (win * (pa - ma) ** 2).sum(), (win * (pb - mb) ** 2).sum()
            cov = (win * (pa - ma) * (pb - mb)).sum()
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_a_direct_implementation(images):
    from atelier.ops.color import luminance

    x = images["c"][..., :24, :28]
    y = (x + 0.08 * torch.randn(x.shape, generator=gen(3))).clamp(0, 1)
    ref = ssim_reference(luminance(x)[0, 0].double().numpy(), luminance(y)[0, 0].double().numpy())
    assert ssim_luminance(x, y) == pytest.approx(ref, abs=1e-4)
    assert 0.2 < ref < 0.95


def test_ssim_of_flat_images_follows_the_luminance_term():
    a, b = torch.full((1, 3, 16, 16), 0.6), torch.full((1, 3, 16, 16), 0.4)
    c1 = 0.01**2
    expected = (2 * 0.6 * 0.4 + c1) / (0.6**2 + 0.4**2 + c1)  # variances 0: the structure term is C2/C2
    assert ssim_luminance(a, b) == pytest.approx(expected, rel=1e-4)


def test_ssim_noise_lowers_it_more_than_a_constant_shift(images):
    c = images["c"]
    noisy = (c + 0.1 * torch.randn(c.shape, generator=gen(5))).clamp(0, 1)
    shifted = (c + 0.1).clamp(0, 1)
    s_noise, s_shift = ssim_luminance(noisy, c), ssim_luminance(shifted, c)
    assert s_noise < s_shift < 1.0
    assert s_noise < 0.8
    with pytest.raises(ValueError):
        ssim_luminance(c, c[..., :40])


# ----------------------------------------------------------------------------------------------------
# Colour histograms


def test_color_histogram_distance_rewards_colour_preservation(images):
    from atelier.ops.color import gray3, luminance, match_color_histogram, match_luminance

    c = images["c"]
    painted = images["x_a"]  # the painting's warm colours
    d_painted = color_histogram_distance(painted, c)
    # Luminance-only transfer (Gatys et al. 2017 §3.2): the painted luminance, matched to the content's
    # mean/std, with the content's chroma; and colour histogram matching (§3.1) of the painted image.
    y = gray3(match_luminance(luminance(painted), luminance(c)))
    for kept in (combine_luminance(y, c), match_color_histogram(painted, c)):
        assert color_histogram_distance(kept, c) < 0.3 * d_painted
    # Keeping the chroma alone (the painted luminance unmatched) already helps.
    assert color_histogram_distance(combine_luminance(painted, c), c) < d_painted
    assert color_histogram_distance(c, painted) == pytest.approx(d_painted)  # W1 is symmetric
    # A uniform shift by delta (no clamping) moves every channel's mass by delta: W1 ~ delta.
    assert color_histogram_distance(c + 0.1, c) == pytest.approx(0.1, abs=1 / 32)


# ----------------------------------------------------------------------------------------------------
# Temporal


def shifted_pair(h: int = 40, w: int = 48, dx: int = 3):
    """Two frames of a smooth image: frame1(x) = frame0(x - dx) (the scene moves right by dx px)."""
    big = smooth(h, w + dx, seed=4)
    return big[..., dx:], big[..., : w]


def shift_flow(dx_max: int = 5):
    """A flow_fn for pure horizontal integer motion: the best-aligning constant shift, as a flow field."""

    def flow_fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h, w = a.shape[-2:]
        m = dx_max

        def err(d: int) -> float:  # a(x) ~ b(x + d) on the overlap
            return float((a[..., m : w - m] - b[..., m + d : w - m + d]).pow(2).mean())

        d = min(range(-m, m + 1), key=err)
        flow = torch.zeros(h, w, 2)
        flow[..., 0] = d
        return flow

    return flow_fn


def test_warp_by_an_integer_shift_is_exact():
    f0, f1 = shifted_pair()
    flow = torch.zeros(40, 48, 2)
    flow[..., 0] = -3  # frame1(x) = frame0(x - 3)
    warped = warp(f0, flow)
    assert torch.allclose(warped[..., 3:], f1[..., 3:], atol=1e-5)
    assert torch.allclose(warp(f0, torch.zeros(40, 48, 2)), f0, atol=1e-6)
    with pytest.raises(ValueError):
        warp(f0, torch.zeros(10, 10, 2))


def test_occlusion_mask_marks_the_border_and_inconsistent_flow():
    h, w = 20, 24
    b, f = torch.zeros(h, w, 2), torch.zeros(h, w, 2)
    b[..., 0], f[..., 0] = -3, 3
    occ = occlusion_mask(b, f)
    assert occ[:, :3].all() and not occ[:, 3:].any()  # only the strip that moved in from outside
    f_bad = f.clone()
    f_bad[5:10, 5:10, 0] = -4  # this region's forward flow contradicts the backward flow
    occ_bad = occlusion_mask(b, f_bad)
    assert occ_bad[5:10, 8:13].all() and not occ_bad[15:, 10:].any()


def test_warping_error_is_zero_for_consistent_and_large_for_flickering_output():
    f0, f1 = shifted_pair()
    frames_in = [f0, f1]
    flow_fn = shift_flow()
    assert flow_fn(f1, f0)[0, 0, 0] == -3 and flow_fn(f0, f1)[0, 0, 0] == 3
    assert warping_error(frames_in, frames_in, flow_fn=flow_fn) < 1e-6
    # A consistent stylisation: the same per-pixel colour map applied to every frame.
    styl = [(1 - f).pow(2) * torch.tensor([1.0, 0.5, 0.8]).view(1, 3, 1, 1) for f in frames_in]
    assert warping_error(styl, frames_in, flow_fn=flow_fn) < 1e-3
    # Flicker: independent noise per frame, ~ 2 * 3 * sigma^2 = 0.015 per pixel.
    flicker = [(f + 0.05 * torch.randn(f.shape, generator=gen(i))).clamp(0, 1) for i, f in enumerate(styl)]
    e = warping_error(flicker, frames_in, flow_fn=flow_fn)
    assert 0.008 < e < 0.03
    # A (T,3,H,W) stack works too; the input is resized to the output size.
    stack = torch.cat(frames_in)
    assert warping_error(stack, stack, flow_fn=flow_fn) < 1e-6
    with pytest.raises(OptionError):
        warping_error([f0], [f0], flow_fn=flow_fn)
    with pytest.raises(OptionError):
        warping_error([f0, f1, f1], [f0, f1], flow_fn=flow_fn)


def test_default_flow_needs_opencv(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    f0, f1 = shifted_pair()
    with pytest.raises(OptionError, match="atelier\\[video\\]"):
        warping_error([f0, f1], [f0, f1])


def test_warping_error_with_opencv_dis_flow():
    pytest.importorskip("cv2")
    f0, f1 = shifted_pair(64, 64)
    flow = M.dis_flow(f1, f0)
    assert flow.shape == (64, 64, 2)
    assert float(np.median(flow[16:48, 16:48, 0])) == pytest.approx(-3, abs=0.5)
    steady = warping_error([f0, f1], [f0, f1])
    noisy = [f + 0.05 * torch.randn(f.shape, generator=gen(i)) for i, f in enumerate((f0, f1))]
    flicker = [f.clamp(0, 1) for f in noisy]
    assert steady < 2e-3 < warping_error(flicker, [f0, f1])


# ----------------------------------------------------------------------------------------------------
# evaluate()


def test_evaluate_returns_the_documented_keys(vgg, images):
    x, c, s = images["x_a"], images["c"], images["s"]
    both = evaluate(x, content=c, style=s, size=48, vgg=vgg)
    assert set(both) == set(M.CONTENT_KEYS) | set(M.STYLE_KEYS) == set(M.METRICS)
    assert all(isinstance(v, float) and math.isfinite(v) for v in both.values())
    assert set(evaluate(x, content=c, size=48, vgg=vgg)) == set(M.CONTENT_KEYS)
    assert set(evaluate(x, style=s, size=48, vgg=vgg)) == set(M.STYLE_KEYS)
    assert evaluate(x, size=48, vgg=vgg) == {}
    same = evaluate(s, content=s, style=s, size=None, vgg=vgg)
    assert same["ssim"] == pytest.approx(1.0, abs=1e-5)
    assert all(same[k] == pytest.approx(0.0, abs=1e-6) for k in ("content", "color_hist", *M.STYLE_KEYS))
    # The stronger style scores closer to the style through the whole pipeline.
    weaker = evaluate(images["x_b"], content=c, style=s, size=48, vgg=vgg)
    assert all(both[k] < weaker[k] for k in M.STYLE_KEYS)
    assert both["content"] > weaker["content"]


def test_evaluate_sizes(vgg, images, tmp_path):
    from atelier.io import save_image

    c = smooth(48, 64)
    p = save_image(c, tmp_path / "c.png")
    # Paths and tensors alike; a content at another size is resized to the output's (h, w).
    r = evaluate(p, content=smooth(96, 128), size=32, vgg=vgg)
    assert r["ssim"] > 0.95 and r["content"] < 0.05
    # The style goes to the output's area with its own aspect ratio.
    assert M._same_area(40, 160, 48 * 64) == (28, 111)
    assert M._same_area(100, 100, 32 * 24) == (28, 28)


def test_metrics_never_import_methods_or_api():
    root = Path(M.__file__).parent
    packages = {0: "", 1: "atelier.metrics.", 2: "atelier."}  # relative import level -> package prefix
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = packages[node.level] + (node.module or "")
                names = [base] + [f"{base.rstrip('.')}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(("atelier.methods", "atelier.api")), (path.name, name)


# ----------------------------------------------------------------------------------------------------
# Reports


def test_report_table_csv_json(tmp_path):
    rows = [{"method": "gatys", "style_gram": 0.12345, "ssim": 0.5}, {"method": "a|b", "ssim": float("nan")}]
    table = format_table(rows, ["method", "style_gram", "ssim"])
    lines = table.strip().splitlines()
    assert lines[0].split("|")[1].strip() == "method" and len(lines) == 4
    assert "0.1235" in lines[2] and "a\\|b" in lines[3] and "nan" in lines[3]
    assert lines[1].endswith(":|")  # numeric column right-aligned
    p = M.write_csv(tmp_path / "m.csv", rows)
    with open(p, newline="") as fh:
        got = list(csv.DictReader(fh))
    assert got[0]["style_gram"] == "0.12345" and got[1]["style_gram"] == ""
    j = M.write_json(tmp_path / "m.json", rows)
    assert json.loads(j.read_text())["rows"][0]["method"] == "gatys"
    assert format_table([]) == ""


# ----------------------------------------------------------------------------------------------------
# Real weights (opt-in)


@pytest.mark.weights
def test_real_weights_bundled_images():
    from atelier.api import default_inputs

    content, style = default_inputs()
    vgg = get_vgg19(weights="pretrained")
    same = evaluate(style, style=style, size=128, vgg=vgg)
    other = evaluate(content, content=content, style=style, size=128, vgg=vgg)
    for k in M.STYLE_KEYS:
        assert same[k] == pytest.approx(0.0, abs=1e-6)
        assert other[k] > 0.1, (k, other[k])
    assert other["ssim"] == pytest.approx(1.0, abs=1e-5) and other["content"] == 0.0
