"""WCT (Li et al. 2017): the whitening and colouring transforms, the decoders, the method (levels, alpha,
several styles, masks, tiles) and its photo-only trainer. Tiny: 32-64 px, random-weight VGG, a few steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import atelier
from atelier.cli import main
from atelier.engine import checkpoint as ckpt
from atelier.errors import OptionError
from atelier.methods.adain.method import AdaINNet
from atelier.methods.wct.model import WCTNet
from atelier.ops import wct

pytestmark = pytest.mark.usefixtures("one_thread")


def correlated(c=6, h=9, w=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(c, c, generator=g)
    f = mix @ torch.randn(c, h * w, generator=g) + torch.randn(c, 1, generator=g) * 3
    return f.reshape(1, c, h, w)


def cov(x):
    return wct.moments(x)[1]


# ----------------------------------------------------------------------------------------------- ops


def test_whitening_decorrelates_and_colouring_gives_the_style_covariance():
    c, s = correlated(seed=1), correlated(h=7, w=5, seed=2) * 0.5
    white = wct.whitening(c)
    whitened = wct.apply(c, (-(white[1] @ white[0]).float(), white[1].float()))
    assert torch.allclose(cov(whitened), torch.eye(6, dtype=torch.float64), atol=1e-4)
    out = wct.wct(c, white, [wct.colouring(s)], [1.0])
    mu_s, cov_s = wct.moments(s)
    mu_o, cov_o = wct.moments(out)
    assert torch.allclose(mu_o, mu_s, atol=1e-4) and torch.allclose(cov_o, cov_s, rtol=1e-3, atol=1e-4)
    # A photo coloured by its own statistics comes back (WCT(c, c) = c, alpha's end point).
    assert torch.allclose(wct.wct(c, white, [wct.colouring(c)], [1.0]), c, atol=1e-3)


def test_styles_blend_by_their_outputs_and_regions_keep_what_no_mask_covers():
    c, s1, s2 = correlated(seed=1), correlated(seed=2), correlated(seed=3) * 2
    white, k1, k2 = wct.whitening(c), wct.colouring(s1), wct.colouring(s2)
    mixed = wct.wct(c, white, [k1, k2], [1.0, 3.0])
    expected = 0.25 * wct.wct(c, white, [k1], [1.0]) + 0.75 * wct.wct(c, white, [k2], [1.0])
    assert torch.allclose(mixed, expected, atol=1e-3)
    mask = torch.zeros(1, 1, 9, 11)
    mask[..., :5, :] = 1
    r = wct.region_wct(c, [wct.whitening(c, mask)], [k1], [mask])
    assert torch.equal(r[..., 5:, :], c[..., 5:, :])
    top = r[..., :5, :]  # 55 positions: the region's covariance is the mask-weighted mean, over n not n - 1
    assert torch.allclose(wct.moments(top)[1] * 54 / 55, wct.moments(s1)[1], rtol=1e-3, atol=1e-3)


def test_rank_deficient_covariances_are_truncated_not_inverted():
    c = correlated(seed=4)
    c[:, 3] = c[:, 2] * 2  # channel 3 duplicates channel 2: one zero eigenvalue
    out = wct.wct(c, wct.whitening(c), [wct.colouring(correlated(seed=5))], [1.0])
    assert torch.isfinite(out).all() and out.abs().max() < 1e3


# ----------------------------------------------------------------------------------------------- decoders


def test_decoders_map_each_level_back_to_the_image_size_and_start_from_adain():
    net = WCTNet("compact")
    assert net.layers == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    for layer, (c, stride) in {"relu1_1": (64, 1), "relu2_1": (128, 2), "relu3_1": (256, 4),
                               "relu4_1": (512, 8), "relu5_1": (512, 16)}.items():
        y = net.decoder(layer)(torch.rand(1, c, 48 // stride, 64 // stride))
        assert y.shape == (1, 3, 48, 64), layer
    assert WCTNet(net.arch).arch == net.arch  # the header's arch rebuilds the same network
    adain = AdaINNet({"stages": [[128], [128, 64], [64, 32], [32, 3]], "upsample": "bilinear"})
    state = {f"decoder.{k}": v for k, v in adain.decoder.state_dict().items()}
    assert net.init_from_adain(state) == ["relu4_1", "relu5_1"]
    d4, d5 = net.decoder("relu4_1").state_dict(), net.decoder("relu5_1").state_dict()
    for k, v in adain.decoder.state_dict().items():
        i, rest = int(k.split(".")[1]), k.split(".", 2)[2]
        assert torch.equal(d4[k], v) and torch.equal(d5[f"layers.{i + 4}.{rest}"], v), k
    assert WCTNet("paper").init_from_adain(state) == []  # no compact decoder inside the paper's


# ----------------------------------------------------------------------------------------------- method


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A wct model file trained 2 steps on random-weight VGG features of 3 tiny photos."""
    root = tmp_path_factory.mktemp("wct")
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    out = root / "wct.safetensors"
    summary = atelier.train("wct", None, photos, out, steps=2, size=32, batch_size=2, weights="random",
                            precision="fp32", checkpoint_every=0, preview_every=0, cache_mb=8)
    assert set(summary["losses"]) == {"1_1", "2_1", "3_1", "4_1", "5_1", "total"}
    assert all(np.isfinite(v) for v in summary["losses"].values())
    return out, photos


def run(image_files, model, style=None, **opts):
    style = style or image_files["style"]
    return atelier.run(image_files["content"], style, method="wct", model=str(model), weights="random",
                       size=48, style_size=32, precision="fp32", **opts)


def test_wct_runs_every_control(tiny_model, image_files):
    model, _ = tiny_model
    full = run(image_files, model)
    assert full.image.shape == (1, 3, 36, 48) and full.info["model"]["arch"]["decoders"]
    assert torch.equal(run(image_files, model).image, full.image)  # deterministic
    one = run(image_files, model, levels=[1])
    assert not torch.equal(one.image, full.image)
    # alpha 0 at one level: the photo through relu1_1's decoder, whatever the style.
    a0 = run(image_files, model, levels=[1], alpha=0.0)
    a0_other = run(image_files, model, style=[image_files["style2"]], levels=[1], alpha=0.0)
    assert torch.equal(a0.image, a0_other.image)
    mixed = run(image_files, model, style=[image_files["style"], image_files["style2"]], style_weights=[1, 3])
    assert mixed.image.shape == full.image.shape and not torch.equal(mixed.image, full.image)
    masked = run(image_files, model, style=[image_files["style"]], masks=[image_files["mask"]])
    assert masked.image.shape == full.image.shape
    whole = atelier.run(image_files["content"], image_files["style"], method="wct", model=str(model),
                        weights="random", size=96, style_size=32, precision="fp32")
    tiled = atelier.run(image_files["content"], image_files["style"], method="wct", model=str(model),
                        weights="random", size=96, style_size=32, precision="fp32", tile=48, overlap=16)
    assert tiled.info["tiles"] > 1 and (tiled.image - whole.image).abs().mean() < 0.1


def test_smooth_makes_the_result_the_photo_guided_filter_of_the_plain_one(tiny_model, image_files, capsys, tmp_path):
    """--smooth R (Li et al. 2018 §3.2): the decoded result filtered with the photo as guide, so it follows the
    photo's edges; other methods do not have the option."""
    from atelier import io
    from atelier.ops.guided import guided_filter

    model, _ = tiny_model
    plain, smooth = run(image_files, model), run(image_files, model, smooth=6)
    photo = io.resize(atelier.load_image(image_files["content"]), plain.image.shape[-2:])
    expected = guided_filter(photo, plain.image, 6, 1e-4).clamp(0, 1)
    gap = (plain.image - expected).abs().max()
    assert gap > 1e-3 and (smooth.image - expected).abs().max() < 1e-3 * gap
    with pytest.raises(OptionError, match="smooth"):
        atelier.run(image_files["content"], image_files["style"], method="adain", weights="random", smooth=6)
    out = tmp_path / "s.png"
    assert main(["stylize", str(image_files["content"]), str(image_files["style"]), "--method", "wct", "--model",
                 str(model), "--size", "40", "--smooth", "6", "-o", str(out)]) == 0
    assert Image.open(out).size == (40, 30)
    with pytest.raises(SystemExit) as exit_:  # argparse: adain has no --smooth
        main(["stylize", str(image_files["content"]), str(image_files["style"]), "--method", "adain",
              "--smooth", "6", "-o", str(tmp_path / "a.png")])
    assert exit_.value.code == 2 and "--smooth" in capsys.readouterr().err and not (tmp_path / "a.png").exists()


def test_wct_refuses_levels_the_model_lacks_and_bad_levels(tiny_model, image_files, tmp_path):
    model, photos = tiny_model
    two = tmp_path / "two.safetensors"
    atelier.train("wct", None, photos, two, steps=1, levels=[1, 2], size=32, batch_size=2, weights="random",
                  precision="fp32", checkpoint_every=0, preview_every=0, cache_mb=8)
    with pytest.raises(OptionError, match=r"no decoder for relu3_1.*\(1 2\)"):
        run(image_files, two)  # the default levels: 3 2 1
    with pytest.raises(OptionError, match=r"no decoder for relu5_1, relu4_1, relu3_1.*\(1 2\)"):
        run(image_files, two, levels=[5, 4, 3, 2, 1])
    assert run(image_files, two, levels=[2, 1]).image.shape == (1, 3, 36, 48)
    with pytest.raises(OptionError, match="--levels names a level twice"):
        run(image_files, model, levels=[2, 2])
    with pytest.raises(OptionError, match="--levels must be"):
        run(image_files, model, levels=[6])


def test_wct_training_resumes_exactly_and_refuses_paintings(tiny_model, tmp_path):
    _, photos = tiny_model
    opts = dict(size=32, batch_size=2, weights="random", precision="fp32", checkpoint_every=0,
                preview_every=0, cache_mb=8, levels=[1, 3])
    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    atelier.train("wct", None, photos, full, steps=4, **opts)
    atelier.train("wct", None, photos, half, steps=2, **opts)
    atelier.train("wct", None, photos, half, steps=4, resume=True, **opts)
    a, b = ckpt.load_model(full, method="wct")[0], ckpt.load_model(half, method="wct")[0]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(OptionError, match="photos alone"):
        atelier.train("wct", photos, photos, tmp_path / "x.safetensors", steps=1, **opts)


def test_init_trains_the_levels_given_and_keeps_the_models_other_decoders(tiny_model, tmp_path):
    """--init MODEL --levels 3: relu3_1's decoder trains on from the model's, the other four are written
    unchanged, so the output is a whole model again; a level the model lacks starts afresh."""
    model, photos = tiny_model
    opts = dict(size=32, batch_size=2, weights="random", precision="fp32", checkpoint_every=0, preview_every=0,
                cache_mb=8)
    out = tmp_path / "on.safetensors"
    summary = atelier.train("wct", None, photos, out, steps=2, levels=[3], init=str(model), **opts)
    assert set(summary["losses"]) == {"3_1", "total"}
    assert summary["card"]["initialised_from"]["decoders"] == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    before, after = ckpt.load_model(model, method="wct")[0], ckpt.load_model(out, method="wct")[0]
    assert before.keys() == after.keys()
    changed = {k.split(".")[1] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"d3_1"}
    half = tmp_path / "half.safetensors"  # resumed: the checkpoint holds all five decoders
    atelier.train("wct", None, photos, half, steps=1, levels=[3], init=str(model), **opts)
    atelier.train("wct", None, photos, half, steps=2, levels=[3], init=str(model), resume=True, **opts)
    resumed = ckpt.load_model(half, method="wct")[0]
    assert resumed.keys() == after.keys() and all(torch.equal(resumed[k], after[k]) for k in after)
    # A two-level model starts only its own levels of a five-level training.
    two = tmp_path / "two.safetensors"
    atelier.train("wct", None, photos, two, steps=1, levels=[1, 2], **opts)
    five = tmp_path / "five.safetensors"
    summary = atelier.train("wct", None, photos, five, steps=1, init=str(two), **opts)
    assert summary["card"]["initialised_from"]["decoders"] == ["relu1_1", "relu2_1"]
    level2 = tmp_path / "level2.safetensors"
    atelier.train("wct", None, photos, level2, steps=1, levels=[2], **opts)
    with pytest.raises(OptionError, match="no decoder of .* matches"):  # the paper's relu2_1 decoder is wider
        atelier.train("wct", None, photos, tmp_path / "p.safetensors", steps=1, levels=[2], arch="paper",
                      init=str(level2), **opts)


def test_cli_trains_and_stylises_with_wct(tiny_model, image_files, tmp_path, capsys):
    _, photos = tiny_model
    out = tmp_path / "m.safetensors"
    assert main(["train", "wct", "--data", str(photos), "-o", str(out), "--steps", "1", "--size", "32",
                 "--batch-size", "2", "--levels", "1", "2", "--precision", "fp32", "-q"]) == 0
    assert "Wrote" in capsys.readouterr().out and out.is_file()
    with pytest.raises(SystemExit) as exit_:
        main(["train", "wct", "--style", "x.jpg", "--data", str(photos), "-o", str(out)])
    assert exit_.value.code == 2 and "unrecognized arguments: --style" in capsys.readouterr().err
    result = tmp_path / "out.png"
    assert main(["stylize", str(image_files["content"]), str(image_files["style"]), "--method", "wct",
                 "--model", str(out), "--levels", "2", "1", "--size", "40", "-o", str(result)]) == 0
    assert Image.open(result).size == (40, 30)
