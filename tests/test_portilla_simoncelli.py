"""The Portilla-Simoncelli method and its steerable pyramid: tiny images (32-64 px), few iterations."""

from __future__ import annotations

import pytest
import torch

import atelier
from atelier.errors import InputError, Interrupted, OptionError
from atelier.events import Done, Progress, Stage
from atelier.methods import create_method
from atelier.methods.portilla_simoncelli import stats as ps
from atelier.methods.portilla_simoncelli.method import (
    make_target,
    periodic_component,
    stages,
    statistics_loss,
)
from atelier.ops import color, steerable

pytestmark = pytest.mark.usefixtures("one_thread")

# 2 scales and 3x3 neighbourhoods: images from 16 px per side.
TINY = dict(n_scales=2, n_orientations=4, spatial_neighbors=3, iterations=30, stylize_iterations=5, tolerance=0.0)


def method(**kw):
    return create_method("portilla_simoncelli", **{**TINY, **kw})


def stripes(h: int, w: int, seed: int = 0, freq: float = 0.9, noise: float = 0.1) -> torch.Tensor:
    """(1,3,h,w) in [0,1]: oriented stripes with coloured noise, a texture with structure at every scale."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    wave = torch.sin(freq * (x + 0.55 * y))
    img = 0.5 + 0.25 * wave * torch.tensor([1.0, 0.6, 0.2])[:, None, None] + noise * torch.randn(3, h, w, generator=g)
    return img.clamp(0, 1)[None]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------ the pyramid


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float64, 1e-10)])
@pytest.mark.parametrize("hw,scales", [((64, 48), 3), ((40, 56), 3), ((32, 32), 1)])
def test_pyramid_reconstructs_a_random_image(dtype, tol, hw, scales):
    x = torch.rand(2, 3, *hw, generator=gen(1), dtype=dtype)
    pyr = steerable.build(x, scales, 4)
    assert pyr.highpass.shape == x.shape and len(pyr.bands) == scales and len(pyr.lowpass_images) == scales + 1
    for s, band in enumerate(pyr.bands):
        assert band.shape == (2, 3, 4, hw[0] >> s, hw[1] >> s) and band.is_complex()
    assert pyr.lowpass.shape == (2, 3, hw[0] >> scales, hw[1] >> scales)
    assert (steerable.reconstruct(pyr.highpass, pyr.bands, pyr.lowpass) - x).abs().max() < tol


def test_pyramid_bands_are_analytic_and_need_divisible_sizes():
    x = torch.rand(1, 1, 32, 32, generator=gen(2), dtype=torch.float64)
    band = steerable.build(x, 2, 4).bands[0]
    # The imaginary part is the real part's Hilbert transform: as much energy, and orthogonal to it.
    re, im = band.real, band.imag
    assert torch.allclose(re.square().sum((-2, -1)), im.square().sum((-2, -1)), rtol=0.05)
    assert (re * im).sum((-2, -1)).abs().max() < 1e-6 * re.square().sum()
    with pytest.raises(ValueError, match="divisible"):
        steerable.build(torch.rand(1, 1, 36, 32), 3, 4)


# --------------------------------------------------------------------------------------- the statistics


def test_statistics_are_shift_invariant_and_tell_textures_apart():
    cfg = method().config
    a, b = stripes(32, 32, seed=3), torch.rand(1, 3, 32, 32, generator=gen(4))
    target = make_target(a, cfg)

    def vector(img):
        return ps.flatten(target.basis.statistics(img, cfg), target.layout)[0]

    va = vector(a)
    assert torch.isfinite(va).all() and va.numel() == target.stats.numel()
    # The pyramid is periodic: a circular shift by whole coarsest pixels (2^2) changes no statistic.
    assert torch.allclose(vector(torch.roll(a, (8, 12), (-2, -1))), va, atol=1e-4, rtol=1e-3)
    assert (vector(b) - va).abs().max() > 0.3  # noise is not stripes
    # The loss is 0 at the sample's own periodic component (what the target measures), not elsewhere.
    loss = statistics_loss(target, cfg)
    assert float(loss(periodic_component(a).float())["total"]) < 1e-8
    assert float(loss(b)["total"]) > 1.0


def test_periodic_component_keeps_the_mean_and_removes_the_border_jump():
    # A ramp plus texture: the ramp jumps by 1 across the wrap-around edge.
    x = (torch.linspace(0, 1, 40).repeat(1, 3, 32, 1) + 0.1 * stripes(32, 40)).double()
    p = periodic_component(x)
    assert torch.allclose(p.mean(), x.mean())

    def jump(img):
        return (img[..., :, 0] - img[..., :, -1]).abs().mean()

    assert jump(p) < jump(x) / 10
    # What is removed is smooth: harmonic (zero Laplacian) away from the borders, so the texture is kept.
    s = x - p
    lap = sum(torch.roll(s, k, d) for k in (1, -1) for d in (-1, -2)) - 4 * s
    assert lap[..., 1:-1, 1:-1].abs().max() < 1e-9


# ------------------------------------------------------------------------------------------ synthesis


def test_texture_synthesis_reduces_the_statistics_loss_and_reports_events():
    events = []
    m = method()
    out = m.texture(stripes(32, 32), (32, 32), generator=gen(0), callback=events.append)
    progress = [e for e in events if isinstance(e, Progress)]
    assert isinstance(events[0], Stage) and isinstance(events[-1], Done)
    assert [p.iteration for p in progress] == list(range(1, 31)) and progress[-1].eta == 0
    assert progress[-1].image.shape == (1, 3, 32, 32)
    first, last = progress[0].losses["total"], m.info["losses"]["total"]
    assert last < first / 20, (first, last)
    assert out.shape == (1, 3, 32, 32) and m.info["iterations"] == 30
    assert set(m.info["losses"]) >= {"total", "marginals", "lowpass", "magnitude", "cross", "highpass", "color"}


def test_texture_size_range_and_seed():
    m, sample = method(iterations=5), stripes(48, 40)
    a = m.texture(sample, (22, 37), generator=gen(7))  # not multiples of 4: made at 24x40 and cropped
    b = m.texture(sample, (22, 37), generator=gen(7))
    c = m.texture(sample, (22, 37), generator=gen(8))
    assert a.shape == (1, 3, 22, 37) and a.dtype == torch.float32 and m.info["working_size"] == [24, 40]
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b) and (a - c).abs().mean() > 0.01


def test_tileable_texture_wraps_around():
    sample = stripes(48, 48, freq=0.35, noise=0.03)  # smooth: neighbouring pixels are alike
    out = method(iterations=20).texture(sample, (34, 42), generator=gen(1), tileable=True)  # made at 36x44
    assert out.shape == (1, 3, 34, 42)
    for dim in (-1, -2):  # across the wrap-around edge vs between neighbouring pixels inside
        inside = out.diff(dim=dim).abs().mean()
        edge = (out.select(dim, 0) - out.select(dim, -1)).abs().mean()
        far = (out.select(dim, 0) - out.select(dim, out.shape[dim] // 2)).abs().mean()
        assert edge < 1.3 * inside < far, (dim, float(edge), float(inside), float(far))  # crops: 1.5-1.8


def test_fp64_statistics_give_a_float32_texture_close_to_fp32():
    a = method(iterations=5).texture(stripes(32, 32), (32, 32), generator=gen(3))
    b = method(iterations=5, precision="fp64").texture(stripes(32, 32), (32, 32), generator=gen(3))
    assert b.dtype == torch.float32 and (a - b).abs().mean() < 0.01


def test_ctrl_c_keeps_the_image_so_far_at_the_output_size():
    def interrupt(event):
        if isinstance(event, Progress) and event.iteration == 3:
            raise KeyboardInterrupt

    m = method()
    with pytest.raises(Interrupted) as err:
        m.texture(stripes(32, 32), (22, 37), generator=gen(0), callback=interrupt)
    assert err.value.partial.shape == (1, 3, 22, 37) and m.info["interrupted"] and m.info["iterations"] == 3
    with pytest.raises(Interrupted) as err:
        m.stylize(stripes(48, 64), stripes(40, 40), config=method(size=40).config, callback=interrupt)
    assert err.value.partial.shape == (1, 3, 30, 40)


def test_a_grey_sample_gives_a_grey_texture():
    m = method(iterations=10)
    grey = stripes(32, 32).mean(1, keepdim=True).expand(-1, 3, -1, -1)
    out = m.texture(grey, (32, 32), generator=gen(0))
    assert m.info["color"]["textured_channels"] == 1
    assert (out - out.mean(1, keepdim=True)).abs().max() < 2e-3


def test_coarse_to_fine_stages():
    cfg = method(coarse_to_fine=True).config
    assert stages(cfg, 30) == [(1, 7), (0, 7), (ps.HIGHPASS, 16)]
    assert stages(method().config, 30) == [(ps.HIGHPASS, 30)]
    events = []
    method(coarse_to_fine=True, iterations=9).texture(stripes(32, 32), (32, 32), callback=events.append)
    assert [e.iterations for e in events if isinstance(e, Stage)] == [2, 2, 5]


# ------------------------------------------------------------------------------------------- stylize


def test_stylize_keeps_the_photo_size_and_structure(image_files):
    res = atelier.run(image_files["content"], image_files["style"], method="portilla_simoncelli", device="cpu",
                      size=40, **TINY)
    assert res.image.shape == (1, 3, 30, 40) and res.info["method"] == "portilla_simoncelli"
    assert res.info["iterations"] == 5 and res.info["kind"] == "stylize"
    photo = atelier.load_image(image_files["content"])
    photo = torch.nn.functional.interpolate(photo, size=(30, 40), mode="area")
    # The photo's structure survives (luminance correlates with it), yet it changed.
    y, py = color.luminance(res.image).flatten(), color.luminance(photo).flatten()
    assert torch.corrcoef(torch.stack([y, py]))[0, 1] > 0.5
    assert (res.image - photo).abs().mean() > 0.01


def test_stylize_preserve_color_luminance_keeps_the_photo_chroma():
    photo, painting = stripes(48, 64, seed=1), stripes(40, 40, seed=2).flip(1)
    out = method(size=64, preserve_color="luminance").stylize(photo, painting)
    assert out.shape == (1, 3, 48, 64)
    chroma = (color.rgb_to_yiq(out)[:, 1:] - color.rgb_to_yiq(photo)[:, 1:]).abs().mean()
    assert chroma < 0.02


# ---------------------------------------------------------------------------------------------- errors


def test_inputs_too_small_and_bad_options_are_one_sentence():
    with pytest.raises(InputError, match=r"^The sample is 12x12 pixels;.*at least 16 pixels per side.*\.$"):
        method().texture(torch.rand(1, 3, 12, 12), (32, 32))
    with pytest.raises(InputError, match=r"^The sample is a single flat colour: it has no texture to measure\.$"):
        method().texture(torch.full((1, 3, 32, 32), 0.3), (32, 32))
    with pytest.raises(OptionError, match="tileable 8x8 texture is too small"):
        method().texture(stripes(32, 32), (8, 8), tileable=True)
    assert method().texture(stripes(32, 32), (8, 8), generator=gen(0)).shape == (1, 3, 8, 8)  # cropped
    with pytest.raises(OptionError, match="--spatial-neighbors must be odd"):
        method(spatial_neighbors=4)
    with pytest.raises(InputError, match="painting"):
        method(n_scales=4, spatial_neighbors=7, size=64).stylize(stripes(48, 64), stripes(40, 40))
