"""Gatys method through the public API, with a random-weight VGG and tiny images (fast)."""

from __future__ import annotations

import pytest
import torch

import atelier
from atelier.errors import Interrupted, OptionError
from atelier.events import Done, Progress, Stage
from atelier.methods.gatys.method import SETUP_STEPS, scale_sizes, style_size_for
from atelier.ops import color

FAST = dict(weights="random", size=32, iterations=4, coarse_iterations=3, min_size=16, tolerance=0.0)


def run(files, **kw):
    opts = {**FAST, **kw}
    style = opts.pop("style", files["style"])
    return atelier.run(files["content"], style, device="cpu", **opts)


def test_output_size_follows_long_side(image_files):
    res = run(image_files, size=40)
    assert tuple(res.image.shape) == (1, 3, 30, 40)  # content is 64x48 -> long side 40
    assert res.info["output_size"] == [40, 30]
    # A stylised image, not the photo resized (the output is clamped to [0,1] anyway: no point asserting it).
    photo = atelier.load_image(image_files["content"])
    assert (res.image - torch.nn.functional.interpolate(photo, size=(30, 40), mode="area")).abs().mean() > 0.01


def test_coarse_to_fine_schedule_and_events(image_files):
    events = []
    res = run(image_files, size=64, min_size=16, callback=events.append)
    stages = [e for e in events if isinstance(e, Stage)]
    assert [s.size for s in stages] == [(24, 32), (48, 64)]  # 12x16 is too small for relu5_1: skipped
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.iteration for p in progress] == list(range(1, 3 + 4 + 1))
    assert isinstance(events[-1], Done) and events[-1].iterations == 7
    assert [s["iterations"] for s in res.info["stages"]] == [3, 4]
    assert set(res.info["losses"]) == {"content", "style", "tv", "total"}


def test_scale_sizes_and_style_size():
    assert scale_sizes(480, 640, 512, 128) == [(96, 128), (192, 256), (384, 512)]
    assert scale_sizes(480, 640, 100, 128) == [(75, 100)]
    assert scale_sizes(100, 1000, 512, 128) == [(26, 256), (51, 512)]  # 13x128: short side < 16
    with pytest.raises(OptionError, match="short side"):
        scale_sizes(10, 100, 100, 16)
    h, w = style_size_for(torch.zeros(1, 3, 100, 50), (200, 200), 1.0)
    assert abs(h * w - 200 * 200) / (200 * 200) < 0.02 and abs(h - 2 * w) <= 1  # same area, aspect kept
    h2, w2 = style_size_for(torch.zeros(1, 3, 100, 50), (200, 200), 2.0)
    assert abs(h2 - 2 * h) <= 1 and abs(w2 - 2 * w) <= 1


def test_same_seed_same_image_and_seed_matters_for_random_init(image_files):
    a = run(image_files, init="random", seed=3).image
    b = run(image_files, init="random", seed=3).image
    c = run(image_files, init="random", seed=4).image
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


def test_optimisation_lowers_the_loss(image_files):
    events = []
    run(image_files, iterations=15, coarse_iterations=0, min_size=32, callback=events.append)
    totals = [e.losses["total"] for e in events if isinstance(e, Progress)]
    assert totals[-1] < 0.8 * totals[0]


def test_several_styles_weights_must_match(image_files):
    styles = [image_files["style"], image_files["style2"]]
    a = run(image_files, style=styles, style_weights=[0.7, 0.3]).image
    b = run(image_files, style=styles, style_weights=[0.3, 0.7]).image
    assert (a - b).abs().max() > 1e-3  # the weights mix the styles
    with pytest.raises(OptionError, match="2 style image"):
        run(image_files, style=styles, style_weights=[1.0])


def test_unmasked_region_keeps_the_content_exactly(image_files):
    res = run(image_files, masks=[image_files["mask"]], size=64, coarse_iterations=0, min_size=64, iterations=5)
    content = atelier.load_image(image_files["content"])
    right = (res.image - content)[..., :, 33:].abs().max()  # mask is white on the left half only
    left = (res.image - content)[..., :, :31].abs().max()
    assert right < 1.5 / 255 and left > 0.02


def test_mask_count_and_shape_are_checked(image_files, tmp_path):
    with pytest.raises(OptionError, match="1 mask"):
        run(image_files, style=[image_files["style"], image_files["style2"]], masks=[image_files["mask"]])
    tall = tmp_path / "tall.png"
    atelier.save_image(torch.ones(1, 3, 64, 20), tall)
    with pytest.raises(OptionError, match="aspect ratio"):
        run(image_files, masks=[tall])


def test_preserve_color_luminance_keeps_content_chroma(image_files):
    res = run(image_files, preserve_color="luminance", size=64, min_size=64)
    content = atelier.load_image(image_files["content"])
    iq_out, iq_in = color.rgb_to_yiq(res.image)[:, 1:], color.rgb_to_yiq(content)[:, 1:]
    # Chroma equal up to clamping at the gamut border and 8-bit input rounding.
    assert (iq_out - iq_in).abs().mean() < 0.01
    assert (color.luminance(res.image) - color.luminance(content)).abs().mean() > 0.005


def test_preserve_color_histogram_differs_from_none(image_files):
    a = run(image_files, preserve_color="none").image
    b = run(image_files, preserve_color="histogram").image
    assert (a - b).abs().mean() > 1e-3


def test_init_from_image_file(image_files):
    res = run(image_files, init=str(image_files["style"]), iterations=1, coarse_iterations=0, min_size=32)
    assert tuple(res.image.shape[-2:]) == (24, 32)
    with pytest.raises(OptionError, match="does not exist"):
        run(image_files, init="no-such-file.png")


def test_adam_and_avg_pooling_and_bf16_run(image_files):
    base = run(image_files).image
    for kw in (dict(optimizer="adam"), dict(pooling="avg"), dict(precision="bf16")):
        res = run(image_files, **kw)
        assert torch.isfinite(res.image).all(), kw
        assert (res.image - base).abs().max() > 1e-4, kw  # the option changes the run


def test_stopping_rule_stops_a_scale_early(image_files):
    res = run(image_files, iterations=200, coarse_iterations=0, min_size=32, tolerance=0.5)
    stage = res.info["stages"][-1]
    assert stage["stopped_early"] and stage["iterations"] < 200


def test_interrupt_returns_partial_result(image_files):
    def cb(event):
        if isinstance(event, Progress) and event.iteration == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as err:
        run(image_files, callback=cb)
    partial = err.value.partial
    assert partial is not None and partial.info["interrupted"] is True
    assert tuple(partial.image.shape) == (1, 3, 24, 32)


def test_bad_options_are_one_sentence(image_files):
    for kw, match in [(dict(size=-5), "size"), (dict(style_strength=-1), "style-strength"),
                      (dict(preserve_color="sepia"), "preserve-color"), (dict(bogus=1), "Unknown option")]:
        with pytest.raises(OptionError, match=match):
            run(image_files, **kw)
    with pytest.raises(OptionError, match="needs at least one style"):
        atelier.run(image_files["content"], None, weights="random")


def test_stylize_returns_pil_or_tensor(image_files):
    img = atelier.stylize(image_files["content"], image_files["style"], **FAST)
    assert img.size == (32, 24) and img.mode == "RGB"
    t = atelier.stylize(image_files["content"], image_files["style"], output="tensor", **FAST)
    assert tuple(t.shape) == (1, 3, 24, 32)


def test_estimate_plans_scales_and_predicts_time_and_memory(image_files):
    est = atelier.estimate(image_files["content"], image_files["style"], device="cpu",
                           **{**FAST, "size": 64, "min_size": 32})
    assert [s["size"] for s in est["scales"]] == [[24, 32], [48, 64]]
    assert [s["iterations"] for s in est["scales"]] == [3, 4]
    assert est["seconds"] > 0 and est["peak_bytes"] > 100 * 2**20  # at least the process itself
    # Memory grows with the output's pixels: 4x the pixels adds about 4x the per-pixel part.
    big = atelier.estimate(image_files["content"], image_files["style"], device="cpu",
                           **{**FAST, "size": 2048, "min_size": 2048, "iterations": 1})
    assert big["peak_bytes"] - est["peak_bytes"] > 1.5 * 2**30
    # Time: the calibrated cost per pixel-iteration is weighted up for scales beyond 512x512 pixels
    # (caches), so 2048x1536 costs more per pixel than the calibration measured.
    (h, w), its = big["scales"][-1]["size"], big["scales"][-1]["iterations"]
    flat = big["seconds_per_megapixel_iteration"] * 1e-6 * h * w * (its + SETUP_STEPS)
    assert big["seconds"] > 1.25 * flat


def test_coarse_growth_multiplies_iterations_down_the_scales(image_files):
    from atelier.methods.gatys.config import GatysConfig
    from atelier.methods.gatys.method import Gatys

    cfg = GatysConfig(size=512, min_size=64, iterations=40, coarse_iterations=50, coarse_growth=2.0)
    sizes, plan = Gatys.plan((342, 512), cfg)
    assert [max(s) for s in sizes] == [64, 128, 256, 512]
    assert [it for _, it in plan] == [200, 100, 50, 40]  # each coarser scale twice the next finer one
    flat = GatysConfig(size=512, min_size=64, iterations=40, coarse_iterations=50, coarse_growth=1.0)
    assert [it for _, it in Gatys.plan((342, 512), flat)[1]] == [50, 50, 50, 40]
    res = run(image_files, size=128, min_size=32, coarse_iterations=2, coarse_growth=1.5, iterations=1)
    assert [s["iterations"] for s in res.info["stages"]] == [round(2 * 1.5 ** 1), 2, 1]
    with pytest.raises(OptionError, match="coarse-growth"):
        run(image_files, coarse_growth=0.5)


def test_forced_tiles_run_the_same_pipeline(image_files):
    res = run(image_files, size=64, min_size=64, iterations=3, tile=32, halo=16)
    assert tuple(res.image.shape) == (1, 3, 48, 64) and torch.isfinite(res.image).all()
    assert res.info["stages"][-1]["tile"] == 32
    with pytest.raises(OptionError, match="--tile must be a multiple of 16 and 0 or more, not 20"):
        run(image_files, tile=20)
