"""Johnson et al. feed-forward inference: the method, blended tiles, model discovery and the CLI.

Networks are freshly initialised (seeded) and saved with ``save_model`` into tmp_path: what is tested is
the machinery (shapes, tiles, colour, files, errors), not a trained style.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import atelier
from atelier.cli import main
from atelier.engine.checkpoint import save_model
from atelier.engine.inference import plan_tile, stats_size
from atelier.errors import OptionError, WeightsError
from atelier.events import Done, Progress, Stage
from atelier.methods import create_method, make_config
from atelier.methods.johnson.method import ALIGN, Johnson, bytes_per_pixel, frozen_copy
from atelier.methods.johnson.model import TransformerNet
from atelier.ops import color
from atelier.ops.tiling import blend_spans, blend_windows, run_blended


def make_net(seed: int = 0, arch: str = "compact") -> TransformerNet:
    torch.manual_seed(seed)
    net = TransformerNet.from_arch(arch).eval()
    # Random affine instance-norm parameters, so the test network is not the identity-normalised default.
    for m in net.modules():
        if isinstance(m, torch.nn.InstanceNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net


def smooth(h: int, w: int, seed: int = 1) -> torch.Tensor:
    """A smooth photo-like image (1,3,h,w) in [0,1]: upsampled coarse noise."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(1, 3, max(2, h // 16), max(2, w // 16), generator=g), size=(h, w),
                         mode="bilinear", align_corners=False)


@pytest.fixture
def model_file(tmp_path):
    net = make_net()
    path = save_model(tmp_path / "tiny.safetensors", net.state_dict(), method="johnson", arch=net.arch,
                      card={"style": "test pattern", "steps": 3, "training_seconds": 125})
    # The file holds fp16 weights: the reference network is the same rounding, in fp32.
    ref = TransformerNet.from_arch(net.arch)
    ref.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
    return path, ref.eval()


# ------------------------------------------------------------------------------------------------ tiling


@pytest.mark.parametrize("length,tile,overlap,align", [(96, 32, 8, 4), (80, 32, 8, 4), (81, 32, 12, 4),
                                                       (30, 32, 8, 4), (100, 48, 16, 1)])
def test_blend_spans_cover_and_windows_sum_to_one(length, tile, overlap, align):
    spans = blend_spans(length, tile, overlap, align)
    assert spans[0][0] == 0 and spans[-1][1] == length
    for (s0, e0), (s1, _e1) in itertools.pairwise(spans):
        assert s1 % align == 0 and s0 < s1 and e0 - s1 >= overlap  # ordered, aligned, overlapping enough
    assert all(e - s <= tile + align - 1 for s, e in spans)
    total = torch.zeros(length, dtype=torch.float64)
    for (s, e), w in zip(spans, blend_windows(spans, length)):
        assert w.shape == (e - s,) and float(w.min()) >= 0
        total[s:e] += w
    torch.testing.assert_close(total, torch.ones(length, dtype=torch.float64), rtol=0, atol=1e-12)


def test_blend_spans_refuse_overlap_of_half_a_tile():
    with pytest.raises(ValueError, match="less than half"):
        blend_spans(100, 32, 16, 4)


def test_blended_tiles_of_a_pointwise_function_equal_the_whole_image():
    x = torch.rand(1, 3, 96, 80, generator=torch.Generator().manual_seed(0))
    calls = []

    def fn(t):
        calls.append(tuple(t.shape[-2:]))
        return torch.sigmoid(3 * t) ** 2

    out = run_blended(fn, x, 32, 8, align=4, on_tile=lambda i, n: None)
    torch.testing.assert_close(out, fn(x), rtol=0, atol=1e-6)
    assert len(calls) == 4 * 3 + 1 and max(max(c) for c in calls[:-1]) <= 32  # memory bounded by a tile
    # The weights themselves (fn = ones) sum to exactly 1 at every pixel.
    torch.testing.assert_close(run_blended(torch.ones_like, x, 32, 8, align=4), torch.ones_like(x),
                               rtol=0, atol=1e-6)


def test_frozen_statistics_reproduce_the_network_and_make_tiles_close():
    net = make_net()
    x = smooth(192, 160)
    with torch.inference_mode():
        whole = net(x)
        frozen = frozen_copy(net, x)
        torch.testing.assert_close(frozen(x), whole, rtol=0, atol=1e-5)  # same statistics: same function
        tiled = run_blended(frozen, x, 96, 32, align=4)
        per_tile_norm = run_blended(net, x, 96, 32, align=4)
    err = (tiled - whole).abs()
    # Close to the untiled output (a random network is far more sensitive to its context than a trained
    # one), and much closer than tiles that normalise by their own statistics.
    assert float(err.mean()) < 0.01
    assert float(err.mean()) * 5 < float((per_tile_norm - whole).abs().mean())
    # Away from every tile edge (the interior of the first tile) the difference is smaller still.
    assert float(err[..., :40, :40].mean()) < float(err.mean())


# ------------------------------------------------------------------------------------------------ method


@pytest.mark.parametrize("hw", [(48, 64), (37, 50), (9, 13)])
def test_output_shape_matches_content_and_runs_are_deterministic(model_file, hw):
    path, ref = model_file
    x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(2))
    m = create_method("johnson", model=str(path), precision="fp32")  # the reference runs in fp32
    events = []
    y = m.stylize(x, callback=events.append)
    assert y.shape == (1, 3, *hw) and float(y.min()) >= 0 and float(y.max()) <= 1
    with torch.inference_mode():
        torch.testing.assert_close(y, ref(x), rtol=0, atol=1e-5)
    torch.testing.assert_close(m.stylize(x), y, rtol=0, atol=0)
    assert [type(e) for e in events] == [Stage, Progress, Done]
    assert m.info["tiles"] == 1 and m.info["model"]["card"]["style"] == "test pattern"
    assert m.info["model"]["path"] == str(path) and m.info["seconds"] > 0


def test_size_sets_the_long_side(model_file):
    y = create_method("johnson", model=str(model_file[0]), size=32).stylize(torch.rand(1, 3, 48, 64))
    assert y.shape == (1, 3, 24, 32)


def test_tiled_stylize_is_close_to_one_pass_and_reports_tiles(model_file):
    path, _ = model_file
    x = smooth(192, 160)
    whole = create_method("johnson", model=str(path)).stylize(x)
    m = create_method("johnson", model=str(path), tile=96, overlap=32)
    events = []
    tiled = m.stylize(x, callback=events.append)
    assert m.info["tiles"] == 6 and m.info["tile"] == 96  # 3 x 2 tiles of at most 96 px
    assert [e.iteration for e in events if isinstance(e, Progress)] == [1, 2, 3, 4, 5, 6]
    assert float((tiled - whole).abs().mean()) < 0.01


def test_memory_budget_chooses_tiles():
    arch = TransformerNet.from_arch("paper").arch
    bpp = bytes_per_pixel(arch, "fp32")
    assert bpp == 40 * 32 and bytes_per_pixel(TransformerNet.from_arch("compact").arch, "bf16") == 20 * 16
    cfg = make_config(Johnson.config_class, {"model": "x"})

    def plan(hw):
        return plan_tile(hw, tile=cfg.tile, overlap=cfg.overlap, max_memory=cfg.max_memory, bytes_per_pixel=bpp,
                         align=ALIGN)

    assert plan((512, 512)) == 0  # 0.3 GiB of activations: one pass
    tile = plan((4320, 7680))  # 8K in the default 4 GiB
    assert tile == 1296  # the figure johnson planned before the budget moved to engine.inference
    need = 0.5 * 2**30 + 48 * 4320 * 7680 + bpp * (tile + 4) ** 2  # torch itself, images, one tile
    assert need <= 4 * 2**30
    stats_h, stats_w = stats_size((4320, 7680), max_memory=cfg.max_memory, bytes_per_pixel=bpp, min_side=8)
    assert 0.5 * 2**30 + 48 * 4320 * 7680 + stats_w * stats_h * bpp <= 4 * 2**30 and stats_w > stats_h
    cfg.max_memory = 0.5
    with pytest.raises(OptionError, match="max-memory"):
        plan((4320, 7680))


def test_preserve_color_keeps_the_contents_chroma(model_file):
    path, _ = model_file
    x = smooth(48, 64, seed=5)
    y = create_method("johnson", model=str(path), preserve_color="luminance").stylize(x)
    yiq_x, yiq_y = color.rgb_to_yiq(x), color.rgb_to_yiq(y)
    # The photo's I/Q chroma, except where the new luminance pushed the colour out of the RGB gamut (clipped).
    inside = ((y > 1e-3) & (y < 1 - 1e-3)).all(dim=1, keepdim=True).expand(-1, 2, -1, -1)
    assert float(inside.float().mean()) > 0.9
    torch.testing.assert_close(yiq_y[:, 1:][inside], yiq_x[:, 1:][inside], rtol=0, atol=1e-4)
    assert float((color.luminance(y) - color.luminance(x)).abs().mean()) > 0.02  # and it was stylised
    plain = create_method("johnson", model=str(path)).stylize(x)
    h = create_method("johnson", model=str(path), preserve_color="histogram").stylize(x)
    torch.testing.assert_close(h.mean(dim=(2, 3)), x.mean(dim=(2, 3)), rtol=0, atol=0.02)  # colour mean
    assert float((plain.mean(dim=(2, 3)) - x.mean(dim=(2, 3))).abs().max()) > 0.02  # which it changed


def test_option_and_input_errors(model_file, tmp_path):
    path, _ = model_file
    with pytest.raises(OptionError, match="atelier models"):
        atelier.run(torch.rand(1, 3, 32, 32), method="johnson")
    with pytest.raises(OptionError, match="takes no style"):
        atelier.run(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), model=str(path))
    with pytest.raises(OptionError, match="less than half"):
        atelier.prepare("johnson", {"model": str(path), "tile": 32, "overlap": 16})
    with pytest.raises(OptionError, match="--tile must be a multiple of 4"):
        create_method("johnson", model=str(path), tile=30)
    with pytest.raises(OptionError, match="needs an .onnx"):
        create_method("johnson", model=str(path), backend="onnx").stylize(torch.rand(1, 3, 32, 32))
    with pytest.raises(OptionError, match="at least 8"):
        create_method("johnson", model=str(path)).stylize(torch.rand(1, 3, 4, 32))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(WeightsError, match="bad.safetensors"):
        create_method("johnson", model=str(bad)).stylize(torch.rand(1, 3, 32, 32))
    other = save_model(tmp_path / "other.safetensors", {"w": torch.zeros(2)}, method="adain", arch={})
    with pytest.raises(WeightsError, match="not a 'johnson'"):
        create_method("johnson", model=str(other)).stylize(torch.rand(1, 3, 32, 32))
    wrong = save_model(tmp_path / "wrong.safetensors", {"w": torch.zeros(2)}, method="johnson",
                       arch=TransformerNet.from_arch("compact").arch)
    with pytest.raises(WeightsError, match="usable johnson network"):
        create_method("johnson", model=str(wrong)).stylize(torch.rand(1, 3, 32, 32))


def test_estimate_predicts_tiles_and_memory(model_file):
    path, _ = model_file
    est = create_method("johnson", model=str(path), tile=32, overlap=8).estimate(torch.rand(1, 3, 96, 80))
    assert est["tiles"] == 12 and est["tile"] == 32 and est["scales"][0]["size"] == [96, 80]
    assert est["seconds"] > 0 and est["peak_bytes"] > 0


# ------------------------------------------------------------------------------------------------ models


def test_find_model_order_and_errors(model_file, tmp_path, monkeypatch, no_bundled_models):
    path, _ = model_file
    home = tmp_path / "home"
    monkeypatch.setenv("ATELIER_HOME", str(home))
    with pytest.raises(OptionError, match="no models are installed"):
        atelier.find_model("starry")
    (home / "models").mkdir(parents=True)
    user = home / "models" / "starry.safetensors"
    user.write_bytes(path.read_bytes())
    assert atelier.find_model("starry") == user
    assert atelier.find_model(str(path)) == path  # an existing file wins
    with pytest.raises(OptionError, match=r"Unknown model 'nope'; available: starry"):
        atelier.find_model("nope")
    with pytest.raises(OptionError, match="does not exist"):
        atelier.find_model(str(tmp_path / "missing.safetensors"))
    with pytest.raises(OptionError, match="No model given"):
        atelier.find_model("")
    (home / "models" / "broken.safetensors").write_bytes(b"junk")
    models = {m.name: m for m in atelier.list_models()}
    assert set(models) == {"starry", "broken"}
    assert models["starry"].card["style"] == "test pattern" and not models["starry"].bundled
    assert models["starry"].method == "johnson" and models["broken"].error


def test_bundled_models_are_verified(tmp_path, monkeypatch, model_file):
    from atelier import weights

    path, _ = model_file
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "tiny.safetensors").write_bytes(path.read_bytes())
    digest = weights.file_sha256(bundle / "tiny.safetensors")
    entry = {"name": "tiny", "file": "tiny.safetensors", "method": "johnson", "sha256": digest,
             "style": "test pattern", "licence": "CC0", "card": {}}
    (bundle / "manifest.json").write_text(json.dumps({"format_version": 1, "models": [entry]}))
    monkeypatch.setattr(weights, "bundled_dir", lambda: bundle)
    assert atelier.find_model("tiny") == bundle / "tiny.safetensors"
    [info] = [m for m in atelier.list_models() if m.bundled and m.method == "johnson"]
    assert info.card["licence"] == "CC0" and info.card["steps"] == 3
    (bundle / "tiny.safetensors").write_bytes(path.read_bytes()[:-8] + b"damaged!")
    with pytest.raises(WeightsError, match="corrupt"):
        atelier.find_model("tiny")


def test_user_models_dir_follows_atelier_home(tmp_path, monkeypatch):
    from atelier.features import atelier_home
    from atelier.weights import user_models_dir

    assert user_models_dir() == atelier_home() / "models"
    monkeypatch.delenv("ATELIER_HOME")
    assert user_models_dir() == atelier_home() / "models"


def test_shipped_manifest_is_valid():
    from atelier import weights

    data = json.loads((weights.bundled_dir() / "manifest.json").read_text())
    for entry in data["models"]:
        assert {"name", "file", "method", "sha256", "style", "licence", "card"} <= set(entry)
        assert (weights.bundled_dir() / entry["file"]).is_file()


def _bundled_names():
    from atelier import weights

    return [e["name"] for e in json.loads((weights.bundled_dir() / "manifest.json").read_text())["models"]]


@pytest.mark.parametrize("name", _bundled_names())
def test_bundled_model_stylises_and_is_small(name):
    """Each bundled model loads by name (SHA-256 checked), is a compact fp16 file of at most 5 MB with its
    evaluation in the card, and changes the embedded photo visibly while keeping its layout."""
    from atelier.weights import find_model, read_header

    path = find_model(name)
    header = read_header(path)
    assert path.stat().st_size <= 5 * 2**20 and header["dtype"] == "float16"
    info = {m.name: m for m in atelier.list_models()}[name]
    assert info.bundled and info.error is None
    assert info.card["evaluation"]["ratio_model_to_gatys"]["style_swd"] > 0
    photo = atelier.load_image(atelier.default_inputs()[0], long_side=96)
    out = atelier.run(photo, method="johnson", model=name, device="cpu").image
    assert out.shape == photo.shape and torch.isfinite(out).all()
    assert (out - photo).abs().mean() > 0.05  # stylised, not the identity
    # The layout survives: the output's luminance still correlates with the photo's.
    a, b = color.luminance(out).flatten(), color.luminance(photo).flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.3


# ------------------------------------------------------------------------------------------------ CLI


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, err, *words):
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("atelier")]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]


def test_cli_stylizes_several_photos_into_a_directory(image_files, model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, _ = model_file
    photos = [image_files["content"], image_files["style"]]
    code, out, _ = run_cli(capsys, "stylize", *photos, "--model", path, "-q")
    assert code == 0 and out.count("Wrote ") == 2
    a, b = tmp_path / "atelier-out" / "content__tiny.png", tmp_path / "atelier-out" / "style__tiny.png"
    assert Image.open(a).size == (64, 48) and Image.open(b).size == (40, 40)
    side = json.loads((tmp_path / "atelier-out" / "content__tiny.png.json").read_text())
    assert side["method"] == "johnson" and side["config"]["model"] == str(path) and side["tiles"] == 1
    # Again: new names, nothing clobbered; into a directory given with -o (created), at a set size.
    before = a.read_bytes()
    code, _, _ = run_cli(capsys, "stylize", *photos, "--model", path, "-q")
    assert code == 0 and (tmp_path / "atelier-out" / "content__tiny-2.png").exists()
    assert a.read_bytes() == before
    code, _, _ = run_cli(capsys, "stylize", *photos, "--model", path, "-q", "-o", tmp_path / "res",
                         "--size", 32, "--preserve-color", "luminance")
    assert code == 0 and Image.open(tmp_path / "res" / "content__tiny.png").size == (32, 24)


def test_cli_single_photo_to_a_file(image_files, model_file, tmp_path, capsys):
    out = tmp_path / "one.jpg"
    code, stdout, _ = run_cli(capsys, "stylize", image_files["content"], "--model", model_file[0], "-o", out,
                              "-q", "--tile", 32, "--overlap", 8)
    assert code == 0 and str(out) in stdout and "6 tile(s)" in stdout
    assert Image.open(out).format == "JPEG"


def test_cli_without_a_photo_uses_the_embedded_one(model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = run_cli(capsys, "stylize", "--model", model_file[0], "--size", 40, "-q")
    out = tmp_path / "atelier-out" / "content__tiny.png"
    assert code == 0 and str(Path("atelier-out") / "content__tiny.png") in stdout
    assert Image.open(out).size == (40, 27)  # the embedded photo is 640x427


def test_cli_user_errors_write_nothing(image_files, model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, _ = model_file
    photos = [image_files["content"], image_files["style"]]
    code, _, err = run_cli(capsys, "stylize", *photos, "--model", path, "-o", tmp_path / "x.png")
    assert_user_error(code, err, "-o must be a directory")
    code, _, err = run_cli(capsys, "stylize", *photos, "--model", "no-such-model")
    assert_user_error(code, err, "Unknown model 'no-such-model'")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(path.read_bytes()[:200])
    code, _, err = run_cli(capsys, "stylize", image_files["content"], "--model", corrupt, "-q")
    assert_user_error(code, err, "corrupt.safetensors")
    code, _, err = run_cli(capsys, "stylize", image_files["content"], "--model", path, "--method", "gatys")
    assert_user_error(code, err, "--model")
    code, _, err = run_cli(capsys, "stylize", image_files["content"], tmp_path / "missing.png",
                           "--model", path)
    assert_user_error(code, err, "missing.png")
    assert not (tmp_path / "atelier-out").exists() and not (tmp_path / "x.png").exists()


def test_cli_models_lists_cards(model_file, tmp_path, capsys, monkeypatch, no_bundled_models):
    monkeypatch.setenv("ATELIER_HOME", str(tmp_path / "home"))
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and "No trained models" in out
    (tmp_path / "home" / "models").mkdir(parents=True)
    (tmp_path / "home" / "models" / "starry.safetensors").write_bytes(model_file[0].read_bytes())
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and "starry" in out and "test pattern" in out and "steps: 3" in out and "2 min" in out
    assert "vs Gatys" not in out  # this card has no evaluation
    # One model's whole card, and every model as JSON.
    code, out, _ = run_cli(capsys, "models", "starry")
    assert code == 0 and json.loads(out)["card"]["training_seconds"] == 125
    code, out, _ = run_cli(capsys, "models", "--json")
    assert code == 0 and [m["name"] for m in json.loads(out)] == ["starry"]
    code, _, err = run_cli(capsys, "models", "nope")
    assert_user_error(code, err, "nope", "starry")


def test_cli_models_shows_evaluation(tmp_path, capsys, monkeypatch, no_bundled_models):
    monkeypatch.setenv("ATELIER_HOME", str(tmp_path / "home"))
    net = make_net()
    card = {"style": "x.jpg", "steps": 9, "evaluation": {"ratio_model_to_gatys": {"style_swd": 1.234,
                                                                                  "content": 0.9}}}
    save_model(tmp_path / "home" / "models" / "m.safetensors", net.state_dict(), method="johnson",
               arch=net.arch, card=card)
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and "vs Gatys: style x1.23, content x0.90" in out


@pytest.mark.parametrize("argv", [["models"], ["stylize", "--model", "x", "--help"]])
def test_models_and_johnson_help_do_not_import_torch(argv):
    code = ("import sys\nfrom atelier.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nprint('ok')")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")
    if "--help" in argv:
        assert "--preserve-color" in proc.stdout and "--overlap" in proc.stdout


def test_models_listing_counts_the_run_a_model_was_started_from():
    """A card with ``initialised_from`` (--init) shows both runs' steps and their time together."""
    from atelier.cli.models import _training

    assert _training({"steps": 400, "training_seconds": 388}) == "steps: 400; training: 6 min"
    tuned = {"steps": 400, "training_seconds": 388,
             "initialised_from": {"file": "the_scream.safetensors", "steps": 2600, "training_seconds": 4061}}
    assert _training(tuned) == "steps: 2600 + 400; training: 74 min"
    wct = {"steps": 3392, "training_seconds": 2699, "levels_trained": [3],
           "initialised_from": {"file": "wct.safetensors", "steps": 1398}}  # no time recorded for the first run
    assert _training(wct) == "steps: 1398 + 3392 (level 3); training: 45 min"
    assert _training({"steps": 500, "initialised_from": "an older decoder"}) == "steps: 500; training: ?"
