"""--refine N: a one-pass result continued by N Gatys iterations at the output size."""

from __future__ import annotations

import pytest
import torch

import atelier
from atelier.cli import main
from atelier.errors import OptionError


def smooth(h, w, seed):
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def test_refine_moves_the_adain_result_towards_the_painting():
    c, s = smooth(48, 64, 0), smooth(64, 64, 1)
    common = dict(method="adain", weights="random", size=64, style_size=64)
    plain = atelier.run(c, s, **common)
    refined = atelier.run(c, s, prepared=atelier.prepare("adain", {"weights": "random", "size": 64,
                                                                    "style_size": 64}, n_styles=1, refine=4))
    assert refined.image.shape == plain.image.shape == (1, 3, 48, 64)
    assert refined.info["refine"]["iterations"] == 4
    assert float((refined.image - plain.image).abs().mean()) > 1e-3  # it changed the image ...
    losses = refined.info["refine"]["losses"]
    assert "temporal" not in losses and losses["total"] > 0  # ... with Gatys' terms, no temporal term
    again = atelier.run(c, s, prepared=atelier.prepare("adain", {"weights": "random", "size": 64,
                                                                  "style_size": 64}, n_styles=1, refine=4))
    assert torch.equal(again.image, refined.image)  # same seed, same image


@pytest.mark.parametrize("method, n_styles", [("gatys", 1), ("johnson", 0)])
def test_refine_is_refused_where_it_cannot_apply(method, n_styles):
    options = {"model": "great_wave"} if method == "johnson" else {}
    with pytest.raises(OptionError, match=f"the {method} method cannot use it"):
        atelier.prepare(method, options, n_styles=n_styles, refine=5)
    with pytest.raises(OptionError, match="--save-every and --refine must be 0 or more"):
        atelier.prepare("adain", {}, n_styles=1, refine=-1)


def test_cli_refuses_refine_for_a_trained_network(capsys):
    assert main(["stylize", "--model", "great_wave", "--refine", "3"]) == 2
    assert "the johnson method cannot use it" in capsys.readouterr().err


def test_the_web_form_offers_refine_to_the_methods_that_can_use_it():
    schema = pytest.importorskip("atelier.web.schema")
    refine = {o["name"]: o for o in schema.method_schema("adain")["options"]}["refine"]
    assert refine["default"] == 0 and refine["minimum"] == 0 and refine["type"] == "integer"
    _, prepared = schema.prepare_options("adain", {"refine": 7}, n_styles=1, max_size=512)
    assert prepared.refine == 7 and not hasattr(prepared.config, "refine")
    with pytest.raises(schema.OptionsError, match="Unknown option.*refine"):
        schema.prepare_options("gatys", {"refine": 7}, n_styles=1, max_size=512)
    with pytest.raises(schema.OptionsError, match="refine must be"):
        schema.prepare_options("adain", {"refine": -1}, n_styles=1, max_size=512)
