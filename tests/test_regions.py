"""Regions that match (issue 20): ``--style-mask`` (a painting's region chosen by hand, Gatys et al. 2017 §4)
and ``--semantic auto|K`` (regions found by k-means of VGG features and paired, ``atelier/semantic.py``).

The painting of most tests is half red, half blue (with a little noise): a style mask over one half must
pull the result toward that half's colour, in every method that says ``style_masks``.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli import assert_user_error, run_cli

import atelier
from atelier.errors import OptionError
from atelier.ops import regions as R

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"size": 32, "iterations": 8, "coarse_iterations": 0, "min_size": 32, "weights": "random"}
TINY_CLI = ["--size", "32", "--iterations", "2", "--coarse-iterations", "0", "-q"]


def _save(path, array):
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


@pytest.fixture
def pair(tmp_path):
    """photo (40x56 grey-ish noise), painting (48x48, left half red, right half blue), masks of its halves."""
    rng = np.random.default_rng(0)
    paint = np.zeros((48, 48, 3))
    paint[:, :24] = [220, 30, 30]
    paint[:, 24:] = [30, 30, 220]
    paint += rng.integers(0, 30, paint.shape)
    left = np.zeros((48, 48))
    left[:, :24] = 255
    return {
        "photo": _save(tmp_path / "photo.png", rng.random((40, 56, 3)) * 80 + 100),
        "painting": _save(tmp_path / "painting.png", paint.clip(0, 255)),
        "red": _save(tmp_path / "red-half.png", left),
        "blue": _save(tmp_path / "blue-half.png", 255 - left),
    }


def redness(image: torch.Tensor) -> float:
    return float((image[:, 0] - image[:, 2]).mean())


# ----------------------------------------------------------------------------------------- style masks


def test_a_style_mask_on_the_red_half_makes_the_gatys_result_redder(pair):
    run = lambda **kw: atelier.stylize(pair["photo"], pair["painting"], output="tensor", **TINY, **kw)
    whole, red, blue = run(), run(style_masks=[pair["red"]]), run(style_masks=[pair["blue"]])
    assert redness(red) > redness(whole) + 0.05 and redness(blue) < redness(whole) - 0.01


@pytest.mark.parametrize("method", ["adain", "sanet", "wct"])
def test_a_style_mask_moves_the_arbitrary_methods_toward_its_region(pair, method):
    run = lambda **kw: atelier.stylize(pair["photo"], pair["painting"], method=method, size=32,
                                       output="tensor", **kw)
    red, blue = run(style_masks=[pair["red"]]), run(style_masks=[pair["blue"]])
    assert redness(red) > redness(blue) + 0.1


def test_masked_statistics_are_those_of_the_region_alone():
    """adain's code over a style mask equals the code of the masked half cut out (the features of a flat
    half are flat away from the border, so the interior is compared)."""
    from atelier.methods.adain.method import AdaIN
    from atelier.methods.sanet.method import masked_keys

    f = torch.randn(1, 8, 6, 8)
    mask = torch.zeros(1, 1, 6, 8)
    mask[..., :4] = 1
    mu, sd = AdaIN.style_code(None, None, {"relu4_1": f}, mask)
    assert torch.allclose(mu, f[..., :4].mean((2, 3), keepdim=True), atol=1e-5)
    assert torch.allclose(sd, f[..., :4].var((2, 3), keepdim=True, unbiased=False).add(1e-5).sqrt(), atol=1e-5)
    keys = masked_keys(f, mask)
    assert keys.shape == (1, 8, 1, 24) and torch.equal(keys.flatten(2), f[..., :4].flatten(2))


def test_style_masks_are_refused_in_one_sentence(pair, tmp_path):
    wide = _save(tmp_path / "wide.png", np.full((8, 48), 255))
    black = _save(tmp_path / "black.png", np.zeros((48, 48)))
    cases = [({"style_masks": [pair["red"], pair["blue"]]}, "2 style mask(s) for 1 style image"),
             ({"style_masks": [wide]}, "aspect ratio"),
             ({"style_masks": [black]}, "empty"),

             ({"semantic": 0}, "between 1 and 16"),
             ({"semantic": "many"}, "'auto', 'off' or a number"),
             ({"semantic": 2, "masks": [pair["red"]]}, "without --mask")]
    for kw, words in cases:
        with pytest.raises(OptionError, match=None) as err:
            atelier.stylize(pair["photo"], pair["painting"], **{**TINY, **kw})
        assert words in str(err.value), (kw, str(err.value))


def test_the_cli_takes_style_masks_and_refuses_a_wrong_count(pair, tmp_path, capsys):
    out = tmp_path / "out.png"
    code, _, err = run_cli(capsys, "stylize", pair["photo"], pair["painting"], "--style-mask", pair["red"],
                           "-o", out, *TINY_CLI)
    assert code == 0, err
    side = json.loads(atelier.sidecar_path(out).read_text())
    assert side["inputs"]["style_masks"] == [str(pair["red"])]
    code, _, err = run_cli(capsys, "stylize", pair["photo"], pair["painting"], "--style-mask", pair["red"],
                           pair["blue"], "-o", tmp_path / "two.png", *TINY_CLI)
    assert_user_error(code, err, "style mask")
    assert not (tmp_path / "two.png").exists()


# ------------------------------------------------------------------------------------------ semantic


def test_kmeans_and_silhouette_find_two_blobs():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(50, 3, generator=g), torch.randn(50, 3, generator=g) + 8])
    labels = R.kmeans(x, 2)
    assert len(set(labels[:50].tolist())) == 1 and labels[0] != labels[50]
    assert R.silhouette(x, labels) > 0.7 > R.silhouette(x, R.kmeans(x, 4))
    masks = R.label_masks(labels[:48], (6, 8), 2, (24, 32))
    assert torch.allclose(sum(masks), torch.ones(1, 1, 24, 32), atol=1e-6)


def _two_tone(path, first, second, size=(48, 64), seed=0, across=False):
    """Two colours: above and below (or, ``across``, left and right), with a little noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((*size, 3))
    half = (slice(None), slice(0, size[1] // 2)) if across else (slice(0, size[0] // 2),)
    img[...] = second
    img[half] = first
    return _save(path, (img + rng.integers(0, 20, img.shape)).clip(0, 255))


def test_semantic_auto_finds_two_regions_and_pairs_them_by_what_they_are(tmp_path):
    """The photo is blue left of green, the painting green above blue (every centroid as far from every other):
    auto finds 2 regions in each and pairs the blue ones (real VGG weights: by their deep features)."""
    blue, green = [40, 60, 200], [40, 170, 40]
    photo = atelier.load_image(_two_tone(tmp_path / "p.png", blue, green, across=True))
    painting = atelier.load_image(_two_tone(tmp_path / "s.png", green, blue, size=(64, 48), seed=1))
    found = atelier.find_regions(photo, painting, "auto")
    assert found.record["k"] == 2 and set(found.record["silhouettes"]) == {2, 3, 4}
    for i in range(2):  # photo region i is where the painting's region i has the same colour
        pm, sm = found.photo_masks[i], found.painting_masks[i]
        colour_p = (photo * pm).sum((2, 3)) / pm.sum()
        colour_s = (painting * sm).sum((2, 3)) / sm.sum()
        assert float((colour_p - colour_s).abs().max()) < 0.1, (colour_p, colour_s)
    assert found.overlay.shape[:2] == (1, 3) and found.overlay.shape[-2] == 64


def test_a_k_larger_than_the_image_allows_is_reduced_with_a_warning(tmp_path, caplog):
    photo = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))  # 4 distinct corners at least
    with caplog.at_level(logging.WARNING, logger="atelier.semantic"):
        found = atelier.find_regions(photo, photo, 8, weights="random")
    assert found.record["k"] == 4 and len(found.photo_masks) == 4  # 4x4 positions at relu3_1, 4 per region
    assert "allow at most 4 region(s)" in caplog.text and found.record["warnings"]


def test_semantic_runs_the_guided_transfer_and_the_cli_writes_the_regions(pair, tmp_path, capsys):
    out, regions = tmp_path / "out.png", tmp_path / "regions.png"
    code, _, err = run_cli(capsys, "stylize", pair["photo"], pair["painting"], "--semantic", "2", "--save-regions",
                           regions, "-o", out, *TINY_CLI)
    assert code == 0, err
    with Image.open(regions) as im:  # photo (40x56 -> 48 high) and painting (48x48) side by side, 8 px apart
        assert im.size == (67 + 8 + 48, 48)
    side = json.loads(atelier.sidecar_path(out).read_text())
    assert side["semantic"]["k"] == 2 and len(side["semantic"]["painting_shares"]) == 2
    code, _, err = run_cli(capsys, "stylize", pair["photo"], pair["painting"], "--save-regions", tmp_path / "r.png",
                           "-o", tmp_path / "plain.png", *TINY_CLI)
    assert_user_error(code, err, "--semantic")
    assert not (tmp_path / "plain.png").exists()


def test_semantic_with_two_paintings_is_refused(pair):
    with pytest.raises(OptionError, match="one painting"):
        atelier.prepare("gatys", {}, n_styles=2, semantic="auto")
    with pytest.raises(OptionError, match="--semantic needs one of"):
        atelier.prepare("quilting", {}, n_styles=1, semantic="auto")
    with pytest.raises(OptionError, match="--style-mask needs one of"):
        atelier.prepare("quilting", {}, n_styles=1, n_style_masks=1)
    with pytest.raises(OptionError, match="not to video"):
        atelier.prepare("gatys", {}, n_styles=1, n_style_masks=1, video=True)


# ------------------------------------------------------------------------------------------------ web


@pytest.fixture
def web(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from atelier.web import create_app

    with TestClient(create_app(tmp_path / "jobs"), base_url="http://127.0.0.1:7860") as c:
        yield c


def _upload(name, path):
    return (name, (path.name, path.read_bytes(), "image/png"))


def _finish(client, job_id):
    from test_web import read_events

    return read_events(client, job_id)[-1][1]


def test_the_web_form_offers_semantic_and_takes_style_masks(web, pair):
    methods = {m["name"]: m for m in web.get("/api/methods").json()}
    assert "semantic" in {o["name"] for o in methods["gatys"]["options"]}
    assert "semantic" not in {o["name"] for o in methods["quilting"]["options"]}
    assert methods["adain"]["capabilities"]["style_masks"] and not methods["quilting"]["capabilities"]["style_masks"]
    base = [_upload("content", pair["photo"]), _upload("style", pair["painting"])]
    options = {"options": json.dumps(TINY | {"iterations": 2})}
    two = web.post("/api/jobs", files=[*base, _upload("style_mask", pair["red"]), _upload("style_mask", pair["blue"])],
                   data=options)
    assert two.status_code == 422 and "style mask" in two.json()["detail"]
    r = web.post("/api/jobs", files=[*base, _upload("style_mask", pair["red"])], data=options)
    assert r.status_code == 201, r.text
    final = _finish(web, r.json()["id"])
    assert final["state"] == "done", final["error"]
    assert final["regions"] is None and len(final["inputs"]["style_masks"]) == 1
    assert web.get(final["inputs"]["style_masks"][0]).content == pair["red"].read_bytes()


def test_a_semantic_web_job_shows_its_regions(web, pair):
    r = web.post("/api/jobs", files=[_upload("content", pair["photo"]), _upload("style", pair["painting"])],
                 data={"options": json.dumps(TINY | {"iterations": 2, "semantic": "2"})})
    assert r.status_code == 201, r.text
    final = _finish(web, r.json()["id"])
    assert final["state"] == "done", final["error"]
    assert final["info"]["semantic"]["k"] == 2
    png = web.get(final["regions"])
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    bad = web.post("/api/jobs", files=[_upload("content", pair["photo"]), _upload("style", pair["painting"])],
                   data={"options": json.dumps(TINY | {"semantic": "0"})})
    assert bad.status_code == 422 and "between 1 and 16" in bad.json()["detail"]
