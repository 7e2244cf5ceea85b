"""Styles mixed by scale and colour (Gatys et al. 2017 §3, §5): --coarse-style/--fine-style and --color-from.

The ordering test measures the result (the per-layer Gram distances of ``atelier.metrics``), it does not read
the targets back: at 64 px with the real VGG-19 weights and 30 iterations, the layers given painting A end
nearer to A than to B and the others nearer to B, and the order flips when A and B swap roles.
benchmarks/mix.py measures the same at 256 px on real photo x painting pairs (benchmarks/results/mix.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import atelier
from atelier import io
from atelier.cli import main
from atelier.features import get_vgg19
from atelier.losses import PerceptualLoss
from atelier.metrics import gram_distance
from atelier.options import coarse_fine_weights

pytestmark = pytest.mark.usefixtures("one_thread")

KISS = Path(__file__).parent / "fixtures" / "the_kiss_96.png"  # Klimt, The Kiss (public domain), 96 px
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
COARSE, FINE = LAYERS[2:], LAYERS[:2]
TINY = {"size": 32, "min_size": 32, "iterations": 2, "weights": "random", "device": "cpu"}


def per_layer_distances(out: torch.Tensor, a, b) -> dict[str, tuple[float, float]]:
    """{layer: (Gram distance of ``out`` to A, to B)}, the paintings at the output's size."""
    vgg = get_vgg19(device="cpu")
    hw = tuple(out.shape[-2:])
    fx, fa, fb = (vgg(t, LAYERS) for t in (out, io.resize(io.load_image(a), hw), io.resize(io.load_image(b), hw)))
    return {k: (gram_distance(fx, fa, [k]), gram_distance(fx, fb, [k])) for k in LAYERS}


def test_coarse_layers_end_nearer_the_coarse_painting_and_fine_layers_nearer_the_fine_one():
    photo, starry = atelier.default_inputs()
    for a, b in ((KISS, starry), (starry, KISS)):
        out = atelier.stylize(photo, coarse_style=a, fine_style=b, size=64, min_size=64, iterations=30,
                              device="cpu", output="tensor")
        d = per_layer_distances(out, a, b)
        assert all(d[k][0] < d[k][1] for k in COARSE), d
        assert all(d[k][1] < d[k][0] for k in FINE), d


def test_blended_targets_follow_the_layer_weights():
    vgg = get_vgg19(weights="random", device="cpu")
    loss = PerceptualLoss(vgg)
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    ga, gb = loss.style_grams(a), loss.style_grams(b)
    loss.set_styles([ga, gb], [1.0, 1.0], layer_weights=coarse_fine_weights())
    for k, term in zip(loss.style_layers, loss.style_losses[0]):
        assert torch.equal(term.target, (ga if k in COARSE else gb)[k])
    loss.set_styles([ga, gb], [1.0, 3.0], layer_weights=[{"relu1_1": 1.0}, {k: 1.0 for k in LAYERS}])
    targets = dict(zip(loss.style_layers, (t.target for t in loss.style_losses[0])))
    assert torch.allclose(targets["relu1_1"], 0.25 * ga["relu1_1"] + 0.75 * gb["relu1_1"])
    assert torch.equal(targets["relu5_1"], gb["relu5_1"])
    with pytest.raises(atelier.errors.OptionError, match="relu3_1"):
        loss.set_styles([ga, gb], [1.0, 1.0], layer_weights=[{"relu1_1": 1.0}, {"relu2_1": 1.0}])


@pytest.mark.parametrize("layers, same_as", [(list(COARSE), 0), (list(FINE), 1)])
def test_gatys_on_one_scale_is_that_painting_alone(image_files, layers, same_as):
    c, a, b = image_files["content"], image_files["style"], image_files["style2"]
    mixed = atelier.stylize(c, coarse_style=a, fine_style=b, style_layers=layers, output="tensor", **TINY)
    alone = atelier.stylize(c, (a, b)[same_as], style_layers=layers, output="tensor", **TINY)
    other = atelier.stylize(c, (a, b)[1 - same_as], style_layers=layers, output="tensor", **TINY)
    assert torch.equal(mixed, alone) and not torch.equal(mixed, other)


def test_wct_levels_take_their_own_painting(image_files):
    c, a, b = image_files["content"], image_files["style"], image_files["style2"]
    opts = {"method": "wct", "size": 32, "style_size": 32, "precision": "fp32", "device": "cpu", "output": "tensor"}
    coarse = atelier.stylize(c, coarse_style=a, fine_style=b, levels=[3], **opts)
    assert torch.equal(coarse, atelier.stylize(c, a, levels=[3], **opts))
    fine = atelier.stylize(c, coarse_style=a, fine_style=b, levels=[2, 1], **opts)
    assert torch.equal(fine, atelier.stylize(c, b, levels=[2, 1], **opts))
    both = atelier.stylize(c, coarse_style=a, fine_style=b, **opts)
    assert not torch.equal(both, atelier.stylize(c, a, **opts)) and not torch.equal(both, atelier.stylize(c, b, **opts))


def test_color_from_paints_in_that_images_colours(image_files, tmp_path):
    red = torch.zeros(1, 3, 24, 24)
    red[:, 0] = torch.linspace(0.6, 1.0, 24)
    red[:, 1:] = 0.1
    io.save_image(red, tmp_path / "red.png")
    c, s = image_files["content"], image_files["style"]
    plain = atelier.stylize(c, s, output="tensor", **TINY)
    recoloured = atelier.stylize(c, s, color_from=tmp_path / "red.png", output="tensor", **TINY)
    mean = recoloured.mean(dim=(0, 2, 3))
    assert mean[0] > 0.6 and mean[1] < 0.3 and plain.mean(dim=(0, 2, 3))[0] < 0.7
    # histogram mode keeps the same reference: the painting matched to the recoloured photo
    also = atelier.stylize(c, s, color_from=tmp_path / "red.png", preserve_color="histogram", output="tensor", **TINY)
    assert (also.mean(dim=(0, 2, 3)) - mean).abs().max() < 0.1


def test_cli_writes_the_mix_and_records_its_inputs(image_files, tmp_path, capsys):
    out = tmp_path / "mix.png"
    code = main([str(x) for x in ["stylize", image_files["content"], "--coarse-style", image_files["style"],
                                  "--fine-style", image_files["style2"], "--color-from", image_files["style"],
                                  "-o", out, "--size", 32, "--iterations", 2, "--coarse-iterations", 0, "-q"]])
    assert code == 0 and out.exists()
    inputs = json.loads((tmp_path / "mix.png.json").read_text())["inputs"]
    assert inputs["coarse_style"] == str(image_files["style"]) and inputs["fine_style"] == str(image_files["style2"])
    assert inputs["styles"] == [inputs["coarse_style"], inputs["fine_style"]]
    assert inputs["color_from"] == str(image_files["style"]) and inputs["coarse_blocks"] == [3, 4, 5]


@pytest.mark.parametrize("case", ["both", "only_coarse", "only_fine", "adain", "johnson", "missing", "corrupt",
                                  "color_johnson", "color_luminance", "masks"])
def test_bad_mixes_are_one_sentence_exit_2_nothing_written(case, image_files, tmp_path, capsys):
    c, a, b = (str(image_files[k]) for k in ("content", "style", "style2"))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    args, words = {
        "both": ([c, a, "--coarse-style", a, "--fine-style", b], ["not both"]),
        "only_coarse": ([c, "--coarse-style", a], ["go together", "fine"]),
        "only_fine": ([c, "--fine-style", b], ["go together", "coarse"]),
        "adain": ([c, "--coarse-style", a, "--fine-style", b, "--method", "adain"], ["adain", "gatys, wct"]),
        "johnson": ([c, "--coarse-style", a, "--fine-style", b, "--model", "starry_night"], ["johnson"]),
        "missing": ([c, "--coarse-style", a, "--fine-style", str(tmp_path / "nope.png")], ["nope.png"]),
        "corrupt": ([c, a, "--color-from", str(corrupt)], ["corrupt.png"]),
        "color_johnson": ([c, "--color-from", a, "--model", "starry_night"], ["johnson", "--color-from"]),
        "color_luminance": ([c, a, "--color-from", b, "--preserve-color", "luminance"], ["choose one"]),
        "masks": ([c, "--coarse-style", a, "--fine-style", b, "--mask", a, b], ["masks"]),
    }[case]
    out = tmp_path / "o.png"
    code = main(["stylize", *args, "-o", str(out), "--size", "32", "-q"])
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("atelier")]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert all(w in lines[0] for w in words), lines[0]
    assert not out.exists() and not (tmp_path / "o.png.json").exists()


def test_python_api_refuses_in_one_sentence(image_files):
    c, a, b = image_files["content"], image_files["style"], image_files["style2"]
    with pytest.raises(atelier.errors.OptionError, match="not both"):
        atelier.run(c, a, coarse_style=a, fine_style=b, **TINY)
    with pytest.raises(atelier.errors.OptionError, match="sanet"):
        atelier.run(c, coarse_style=a, fine_style=b, method="sanet")
    with pytest.raises(atelier.errors.OptionError, match="layer_weights has 1"):
        atelier.run(c, [a, b], layer_weights=[{"relu1_1": 1.0}], **TINY)
    prepared = atelier.prepare("adain", {}, n_styles=2)  # a run prepared without the mix is checked again
    with pytest.raises(atelier.errors.OptionError, match="adain"):
        atelier.run(c, coarse_style=a, fine_style=b, prepared=prepared)
