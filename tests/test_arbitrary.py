"""Arbitrary style transfer: the AdaIN and attention ops, the decoders, the adain and sanet methods (alpha,
several styles, masks, colour, tiles), their trainers (resume is exact) and CLI errors. Tiny by
construction: 32-64 px, a random-weight VGG, freshly initialised networks, a few steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import atelier
from atelier import weights
from atelier.cli import main
from atelier.engine import checkpoint as ckpt
from atelier.errors import OptionError, WeightsError
from atelier.losses import mean_std
from atelier.methods.adain.method import AdaINNet
from atelier.methods.adain.model import Decoder
from atelier.methods.sanet.model import SANetNet
from atelier.ops.adain import adain, blend_stats, masked_mean_std, region_adain
from atelier.ops.attention import AttentionTransform, StyleAttention, softmax_normal, style_attention

NETS = {"adain": AdaINNet, "sanet": SANetNet}


pytestmark = pytest.mark.usefixtures("one_thread")


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------- ops


def test_adain_gives_the_style_statistics_and_keeps_uncovered_regions():
    x, y = rand(2, 8, 6, 7, seed=1) * 3, rand(2, 8, 5, 5, seed=2) + 1
    out = adain(x, mean_std(y))
    for a, b in zip(mean_std(out), mean_std(y)):
        assert torch.allclose(a, b, atol=1e-3)
    # Given statistics (a tile uses the whole image's) replace the measured ones.
    assert torch.allclose(adain(x, mean_std(y), mean_std(x)), out)
    # Interpolating the statistics = interpolating the AdaIN targets (eq. 8 is affine in them).
    z = rand(2, 8, 4, 4, seed=3) * 2
    mixed = adain(x, blend_stats([mean_std(y), mean_std(z)], [0.25, 0.75]))
    assert torch.allclose(mixed, 0.25 * out + 0.75 * adain(x, mean_std(z)), atol=1e-5)
    # Regions: the covered half gets the style's statistics over that half, the rest keeps x.
    mask = torch.zeros(1, 1, 6, 7)
    mask[..., :3, :] = 1
    r = region_adain(x, [mean_std(y)], [mask])
    assert torch.equal(r[..., 3:, :], x[..., 3:, :])
    for a, b in zip(masked_mean_std(r, mask), mean_std(y)):
        assert torch.allclose(a, b, atol=1e-3)


def test_style_attention_shapes_and_self_attention_returns_the_features():
    q, k, v = rand(2, 16, 5, 3, seed=1), rand(2, 16, 4, 6, seed=2), rand(2, 16, 4, 6, seed=3)
    assert style_attention(q, k, v).shape == (2, 16, 5, 3)
    # Identical content and style, sharp attention: every position attends to itself.
    x = torch.nn.functional.normalize(rand(1, 8, 4, 5, seed=4) - 0.5, dim=1)
    assert torch.allclose(style_attention(40 * x, 40 * x, x), x, atol=0.05)
    m = StyleAttention(16)
    assert m(q, k).shape == (2, 16, 5, 3)
    # relu4_1 and relu5_1 of odd image sizes (VGG floors): merged at relu4_1's size.
    t = AttentionTransform(16)
    assert t(rand(1, 16, 5, 4), rand(1, 16, 3, 3), rand(1, 16, 2, 2), rand(1, 16, 1, 1)).shape == (1, 16, 5, 4)
    assert t(rand(1, 16, 1, 1), rand(1, 16, 2, 2), rand(1, 16, 1, 1), rand(1, 16, 1, 1)).shape == (1, 16, 1, 1)


def test_attention_softmax_has_no_denormal_probabilities():
    # Scores spanning hundreds, as a trained SANet's do: a plain softmax leaves denormal probabilities (slow
    # multiplies on x86); the floored one has none and equals it wherever the probabilities matter.
    torch.manual_seed(0)
    scores = torch.randn(3, 64, 200) * 60
    plain, floored = torch.softmax(scores, -1), softmax_normal(scores.clone())
    smallest_normal = torch.finfo(torch.float32).tiny
    # The case the floor is for: exp(min - max) is below float32's smallest normal number (exp(-87.3)).
    assert ((scores.amax(-1) - scores.amin(-1)) > 88).all()
    assert (floored >= smallest_normal).all()
    assert torch.allclose(floored, plain, rtol=0, atol=1e-20)
    assert torch.allclose(floored.sum(-1), torch.ones(3, 64))
    # Training differentiates through it like softmax.
    s = scores.clone().requires_grad_(True)
    (softmax_normal(s) * torch.arange(200.0)).sum().backward()
    s2 = scores.clone().requires_grad_(True)
    (torch.softmax(s2, -1) * torch.arange(200.0)).sum().backward()
    assert torch.allclose(s.grad, s2.grad, atol=1e-6)


@pytest.mark.parametrize("arch, params", [("compact", 0.87e6), ("paper", 3.5e6)])
def test_decoder_sizes_and_odd_shapes(arch, params):
    dec = Decoder.from_arch(arch)
    assert abs(sum(p.numel() for p in dec.parameters()) - params) < 0.02e6
    if arch == "compact":
        with torch.no_grad():
            assert dec(rand(1, 512, 5, 7)).shape == (1, 3, 40, 56)
            assert dec(rand(1, 512, 5, 7), size=(41, 57)).shape == (1, 3, 41, 57)
            assert dec(rand(1, 512, 1, 1), size=(9, 12)).shape == (1, 3, 9, 12)
    with pytest.raises(ValueError, match="unknown architecture"):
        Decoder.from_arch("huge")


# ------------------------------------------------------------------------------------------- methods


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A freshly initialised compact network per method, its output scaled into [0,1] (no clamping)."""
    root = tmp_path_factory.mktemp("arbitrary_models")
    paths = {}
    for name, cls in NETS.items():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = cls("compact")
        last = net.decoder.layers[-1]
        with torch.no_grad():
            last.weight.mul_(3.0)
            last.bias.fill_(0.5)
        paths[name] = root / f"{name}.safetensors"
        ckpt.save_model(paths[name], net.state_dict(), method=name, arch=net.arch, card={"steps": 0})
    return paths


def go(method, models, content, style, **kw):
    kw = {"size": 0, "style_size": 0, "weights": "random", **kw}
    return atelier.run(content, style, method=method, model=str(models[method]), **kw)


@pytest.mark.parametrize("method", ["adain", "sanet"])
def test_method_controls(method, models):
    c, s1, s2 = rand(1, 3, 48, 64, seed=1), rand(1, 3, 40, 40, seed=2), rand(1, 3, 56, 40, seed=3) ** 2
    res = go(method, models, c, s1)
    out = res.image
    assert out.shape == (1, 3, 48, 64) and res.info["tiles"] == 1 and res.info["method"] == method
    assert 0.02 < float(out.std()) and 0 < float(out.mean()) < 1  # not clamped flat
    # alpha = 0: the photo's own features; the painting no longer matters.
    a0 = go(method, models, c, s1, alpha=0.0).image
    assert torch.allclose(a0, go(method, models, c, s2, alpha=0.0).image, atol=1e-5)
    assert float((a0 - out).abs().max()) > 1e-4
    # Several styles: weights (1, 0) are the first style alone; (0.5, 0.5) differs from both.
    assert torch.allclose(go(method, models, c, [s1, s2], style_weights=[1.0, 0.0]).image, out, atol=1e-5)
    mix = go(method, models, c, [s1, s2]).image
    assert float((mix - out).abs().max()) > 1e-4
    # Masks: the left half takes s1, the uncovered right half keeps the photo exactly.
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., :32] = 1
    masked = go(method, models, c, [s1], masks=[mask.expand(1, 3, 48, 64)]).image
    assert torch.allclose(masked[..., 32:], c[..., 32:], atol=1e-6)
    assert float((masked[..., :32] - c[..., :32]).abs().max()) > 0.05
    # Colour: luminance keeps the photo's chroma.
    lum = go(method, models, c, s1, preserve_color="luminance").image
    from atelier.ops.color import rgb_to_yiq

    inside = (lum > 0.01).all(1, keepdim=True) & (lum < 0.99).all(1, keepdim=True)  # no clamping there
    diff = (rgb_to_yiq(lum) - rgb_to_yiq(c))[:, 1:].abs() * inside
    assert float(diff.max()) < 1e-3
    assert go(method, models, c, s1, preserve_color="histogram").image.shape == out.shape


@pytest.mark.parametrize("method", ["adain", "sanet"])
def test_tiles_match_the_untiled_result(method, models):
    c, s = rand(1, 3, 64, 96, seed=5), rand(1, 3, 40, 40, seed=6)
    whole = go(method, models, c, s).image
    tiled = go(method, models, c, s, tile=64, overlap=16)
    assert tiled.info["tiles"] > 1
    err = (tiled.image - whole).abs()
    assert float(err.mean()) < 0.02 * float(whole.std()) and float(err.max()) < 0.25 * float(whole.std())


def test_the_memory_budget_includes_torch_itself(models):
    """--max-memory bounds the process (engine.inference): 0.52 GiB leaves ~20 MB after torch's 0.5 GiB,
    too little for the 38 MB of a 128x192 photo's activations, so it runs in tiles (the arbitrary methods
    budgeted without the runtime before, which ran this in one pass); the tiles keep the result."""
    from atelier.engine.inference import IMAGE_BYTES_PER_PIXEL, RUNTIME_BYTES
    from atelier.methods.arbitrary import BYTES_PER_PIXEL

    c, s = rand(1, 3, 128, 192, seed=7), rand(1, 3, 40, 40, seed=8)
    tiled = go("adain", models, c, s, max_memory=0.52, overlap=16, precision="fp32")
    tile, (sh, sw) = tiled.info["tile"], tiled.info["stats_size"]
    assert tiled.info["tiles"] > 1 and tile % 16 == 0
    bpp, budget = BYTES_PER_PIXEL["fp32"], 0.52 * 2**30 - RUNTIME_BYTES - IMAGE_BYTES_PER_PIXEL * 128 * 192
    assert bpp * (tile + 8) ** 2 <= budget and bpp * sh * sw <= budget and sw > sh
    whole = go("adain", models, c, s, precision="fp32")
    assert whole.info["tiles"] == 1 and whole.info["stats_size"] == [128, 192]
    assert float((tiled.image - whole.image).abs().mean()) < 0.05 * float(whole.image.std())


def test_a_model_that_does_not_fit_its_network_is_a_weights_error(tmp_path):
    bad = ckpt.save_model(tmp_path / "bad.safetensors", {"w": torch.zeros(2)}, method="sanet",
                          arch=SANetNet("compact").arch)
    with pytest.raises(WeightsError, match="does not hold a usable sanet network"):
        atelier.run(rand(1, 3, 32, 32), rand(1, 3, 32, 32, seed=1), model=str(bad), weights="random")


def test_method_errors(models, tmp_path, no_bundled_models):
    c, s = rand(1, 3, 32, 32), rand(1, 3, 32, 32, seed=1)
    with pytest.raises(WeightsError, match="No adain decoder is installed yet.*atelier train adain"):
        atelier.run(c, s, method="adain", weights="random")
    with pytest.raises(WeightsError, match=r"is a model of the adain method: run it with --method adain \(or leave --method out\), not --method sanet\."):
        atelier.run(c, s, method="sanet", model=str(models["adain"]), weights="random")
    with pytest.raises(OptionError, match="--alpha"):
        go("adain", models, c, s, alpha=1.5)
    with pytest.raises(OptionError, match="one mask per style"):
        go("adain", models, c, [s, s], masks=[torch.ones(1, 3, 32, 32)])


def test_bundled_decoders_are_found_by_name_and_verified(models, tmp_path, monkeypatch):
    bundle = tmp_path / "adain"
    bundle.mkdir()
    data = models["adain"].read_bytes()
    (bundle / "d.safetensors").write_bytes(data)
    entry = {"name": "adain", "file": "d.safetensors", "method": "adain",
             "sha256": __import__("hashlib").sha256(data).hexdigest()}
    (bundle / "manifest.json").write_text(json.dumps({"format_version": 1, "models": [entry]}))
    monkeypatch.setattr(weights, "_bundle_dirs", lambda: [weights.bundled_dir(), bundle])
    c, s = rand(1, 3, 32, 32), rand(1, 3, 32, 32, seed=1)
    out = atelier.run(c, s, method="adain", weights="random", size=0, style_size=0)  # default --model: bundled
    assert out.info["model"]["path"] == str(bundle / "d.safetensors")
    assert any(m.name == "adain" and m.method == "adain" and m.bundled for m in atelier.list_models())
    (bundle / "d.safetensors").write_bytes(data[:-8] + b"corrupt!")
    with pytest.raises(WeightsError, match="corrupt"):
        atelier.run(c, s, method="adain", weights="random", size=0, style_size=0)


# ------------------------------------------------------------------------------------------ training


def _images(root, n, seed):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (40, 40 + 8 * i, 3), dtype=np.uint8)).save(root / f"i{i}.png")
    return root


@pytest.fixture
def folders(tmp_path):
    return _images(tmp_path / "paintings", 2, 1), _images(tmp_path / "photos", 3, 2)


TINY = dict(size=32, batch_size=2, weights="random", precision="fp32", checkpoint_every=0, preview_every=0,
            cache_mb=8)


@pytest.mark.parametrize("method, steps", [("adain", 3), ("sanet", 2)])
def test_training_resumes_exactly(method, steps, folders, tmp_path):
    paintings, photos = folders
    full = tmp_path / "full.safetensors"
    summary = atelier.train(method, paintings, photos, full, steps=2 * steps, **TINY)
    assert summary["steps"] == 2 * steps and np.isfinite(summary["losses"]["total"])
    if method == "sanet":
        assert {"identity1", "identity2"} <= set(summary["losses"])
    half = tmp_path / "half.safetensors"
    atelier.train(method, [paintings], [photos], half, steps=steps, **TINY)
    atelier.train(method, [paintings], [photos], half, steps=2 * steps, resume=True, **TINY)
    a, b = ckpt.read(full.with_name("full.ckpt.safetensors"))[0], ckpt.read(half.with_name("half.ckpt.safetensors"))[0]
    for k in a:
        if k.startswith("model/"):
            assert torch.equal(a[k], b[k]), k
    _, header = ckpt.load_model(half, method=method)
    card = header["card"]
    assert card["steps"] == 2 * steps and card["data"]["style_images"] == 2 and card["data"]["content_images"] == 3
    assert header["arch"] == Decoder.from_arch("compact").arch
    out = atelier.run(photos / "i0.png", paintings / "i1.png", method=method, model=str(half), weights="random")
    assert out.image.shape[1] == 3


def test_sanet_training_can_start_from_an_adain_decoder(folders, tmp_path):
    from atelier.errors import OptionError
    from atelier.methods.sanet.model import SANetNet
    from atelier.methods.train_checks import load_init

    paintings, photos = folders
    adain = tmp_path / "adain.safetensors"
    atelier.train("adain", paintings, photos, adain, steps=1, **TINY)
    state, _ = ckpt.load_model(adain, method="adain")
    net = SANetNet("compact")
    info = load_init(net, adain, "sanet")
    assert info == {"file": "adain.safetensors", "method": "adain", "steps": 1}
    for k, v in net.decoder.state_dict().items():
        assert torch.equal(v, state[f"decoder.{k}"]), k  # the decoder starts as the AdaIN decoder
    with pytest.raises(OptionError, match="another architecture"):
        load_init(SANetNet("paper"), adain, "sanet")
    with pytest.raises(OptionError, match="no model file or installed model"):
        load_init(net, tmp_path / "missing.safetensors", "sanet")
    sanet = tmp_path / "sanet.safetensors"
    summary = atelier.train("sanet", paintings, photos, sanet, steps=1, init=str(adain), **TINY)
    assert summary["card"]["initialised_from"]["method"] == "adain"
    assert load_init(SANetNet("compact"), Path("sanet"), "sanet")["method"] == "sanet"  # the bundled one, by name
    with pytest.raises(OptionError, match="cannot start a adain training"):
        atelier.train("adain", paintings, photos, tmp_path / "x.safetensors", steps=1, init=str(sanet), **TINY)


# ----------------------------------------------------------------------------------------------- CLI


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli(folders, tmp_path, capsys, image_files, no_bundled_models):
    paintings, photos = folders
    code, out, _ = _cli(capsys, "methods")
    assert code == 0 and "adain" in out and "sanet" in out
    # The listing's hint follows what is installed now (not what was when the module was imported).
    for name in ("adain", "sanet"):
        assert atelier.method_spec(name).describe().endswith(f"train one with 'atelier train {name}'.")
    out_png = tmp_path / "o.png"
    code, _, err = _cli(capsys, "stylize", "--method", "adain", image_files["content"], image_files["style"], "-o",
                        out_png)
    assert code == 2 and "Traceback" not in err and "atelier train adain" in err and not out_png.exists()
    assert len([ln for ln in err.splitlines() if ln.startswith("atelier")]) == 1
    model = tmp_path / "m" / "dec.safetensors"
    code, _, err = _cli(capsys, "train", "adain", "--content-dir", photos, "--style-dir", paintings, "-o", model,
                        "--size", 32, "--batch-size", 1, "--steps", 1, "--precision", "fp32", "-q")
    assert code == 0, err
    assert ckpt.load_model(model, method="adain")[1]["card"]["steps"] == 1
    # --model alone selects the method the file was trained for: the painting stays a style, not a photo.
    code, _, err = _cli(capsys, "stylize", image_files["content"], image_files["style"], "--model", model,
                        "--size", 32, "--style-size", 32, "-o", out_png, "-q")
    assert code == 0, err
    assert json.loads(out_png.with_name("o.png.json").read_text())["method"] == "adain"
    code, _, err = _cli(capsys, "train", "adain", "--content-dir", photos, "--style-dir", paintings, "-o",
                        paintings / "x.safetensors", "--steps", 1)
    assert code == 2 and "inside the training folder" in err
    with pytest.raises(SystemExit) as exc:  # argparse: a required input is missing
        main(["train", "sanet", "--content-dir", str(photos), "-o", str(model)])
    assert exc.value.code == 2 and "--style-dir" in capsys.readouterr().err


def test_bundled_decoders_run_without_a_model_option():
    """The decoders that ship with atelier (benchmarks/arbitrary_eval.py): no --model needed."""
    c = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(3))
    s = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(4))
    for method in ("adain", "sanet"):
        out = atelier.run(c, s, method=method, size=64, device="cpu")
        assert out.image.shape == (1, 3, 48, 64) and out.info["model"]["name"] == method
        assert out.info["model"]["card"]["steps"] > 0


def test_bilinear_decoder_with_reconstruction_loss_trains_from_a_nearest_one(folders, tmp_path):
    """The grid remedies: bilinear upsampling (same parameters as nearest, so --init works) recorded in the
    model file, and the pixel reconstruction term, reported and weighted."""
    paintings, photos = folders
    nearest = tmp_path / "nearest.safetensors"
    atelier.train("adain", paintings, photos, nearest, steps=1, **TINY)
    out = tmp_path / "bilinear.safetensors"
    summary = atelier.train("adain", paintings, photos, out, steps=2, init=str(nearest), upsample="bilinear",
                            reconstruction_weight=5.0, **TINY)
    assert summary["losses"]["reconstruction"] > 0
    parts = ("content", "style", "reconstruction")
    assert summary["losses"]["total"] == pytest.approx(sum(summary["losses"][k] for k in parts), rel=1e-5)
    _, header = ckpt.load_model(out, method="adain")
    assert header["arch"]["upsample"] == "bilinear"
    ups = [m for m in Decoder.from_arch(header["arch"]).modules() if isinstance(m, torch.nn.Upsample)]
    assert ups and all(m.mode == "bilinear" for m in ups)
    assert "upsample" not in ckpt.load_model(nearest)[1]["arch"]  # older files keep loading as nearest
    # The same weights decode differently through the two upsamplings (features (1,512,4,4) -> (1,3,32,32)).
    state = {k.removeprefix("decoder."): v for k, v in ckpt.load_model(out)[0].items()}
    feats = rand(1, 512, 4, 4)
    dec_b, dec_n = Decoder.from_arch(header["arch"]), Decoder.from_arch("compact")
    dec_b.load_state_dict(state)
    dec_n.load_state_dict(state)
    assert not torch.allclose(dec_b(feats), dec_n(feats))
    assert atelier.run(rand(1, 3, 48, 48), rand(1, 3, 32, 32, seed=1), method="adain", model=str(out),
                       weights="random", size=48).image.shape == (1, 3, 48, 48)
    with pytest.raises(atelier.errors.OptionError, match="--upsample must be one of nearest, bilinear"):
        atelier.train("adain", paintings, photos, out, steps=1, upsample="cubic", **TINY)
