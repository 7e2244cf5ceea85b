"""Texture synthesis and the patch methods of before CNNs: the shared patch and pyramid ops, Efros & Leung's
sampling (textures and hole filling), Efros & Freeman's quilting (textures and transfer), ``atelier
texture`` and its API. Tiny images, seeded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import atelier
from atelier.cli import main
from atelier.errors import InputError, OptionError
from atelier.methods.quilting.cut import seam_mask, vertical_cut
from atelier.ops import patches, pyramids

pytestmark = pytest.mark.usefixtures("one_thread")


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def stripes(h: int, w: int, period: int = 6) -> torch.Tensor:
    """(1,3,h,w): vertical black and white stripes, ``period`` px."""
    col = ((torch.arange(w) % period) < period // 2).float()
    return col.expand(1, 3, h, w).clone()


def save(t: torch.Tensor, path) -> str:
    atelier.save_image(t, path)
    return str(path)


# -------------------------------------------------------------------------------------------- ops


def test_nearest_is_the_brute_force_minimum():
    q, k = rand(50, 12, seed=1), rand(300, 12, seed=2)
    d, i = patches.nearest(q, k, k=3, block=1000)  # several chunks
    brute = ((q[:, None] - k[None]) ** 2).sum(-1)
    ref_d, ref_i = torch.topk(brute, 3, dim=1, largest=False)
    assert torch.equal(i, ref_i) and torch.allclose(d, ref_d, atol=1e-4)


def test_weighted_distances_ignore_unknown_elements():
    q, k = rand(4, 6, seed=1), rand(9, 6, seed=2)
    w = torch.ones(4, 6)
    w[:, 3:] = 0  # the last three elements unknown
    d = patches.squared_distances(q, k, w)
    assert torch.allclose(d, ((q[:, None, :3] - k[None, :, :3]) ** 2).sum(-1), atol=1e-5)


def test_fold_of_extract_gives_the_image_back():
    x = rand(1, 3, 20, 17)
    p = patches.extract(x, 5, stride=1)
    assert p.shape == (1, 16 * 13, 75)
    assert torch.allclose(patches.fold(p, (20, 17), 5), x, atol=1e-5)
    w = rand(1, p.shape[1], seed=3) + 0.1  # weights: still a weighted mean of identical values
    assert torch.allclose(patches.fold(p, (20, 17), 5, weights=w), x, atol=1e-5)


def test_windows_at_matches_extract():
    x = rand(1, 3, 12, 10)
    all_windows = patches.extract(x, 3)[0]  # (10*8, 27)
    ys, xs = torch.tensor([0, 4, 9]), torch.tensor([0, 7, 2])
    assert torch.equal(patches.windows_at(x, ys, xs, 3), all_windows[ys * 8 + xs])


def test_block_matcher_equals_the_direct_ssd():
    src, tmpl = rand(1, 3, 40, 36, seed=1), rand(1, 3, 9, 7, seed=2)
    mask = (rand(1, 1, 9, 7, seed=3) > 0.5).float()
    direct = patches.ssd_map(src.double(), tmpl.double(), mask.double()).float()
    fast = patches.BlockMatcher(src).ssd(tmpl, mask)
    assert fast.shape == (32, 30) and torch.allclose(fast, direct, atol=1e-3)
    exact = patches.BlockMatcher(src).ssd(src[..., 5:14, 11:18])  # the template's own place: error 0
    assert int(exact.argmin()) == 5 * 30 + 11 and float(exact.min()) < 1e-3


def test_laplacian_pyramid_reconstructs_and_blur_keeps_constants():
    x = rand(1, 3, 37, 50)
    pyr = pyramids.laplacian_pyramid(x, levels=4, min_size=4)
    assert len(pyr) == 4 and pyr[-1].shape[-2:] == (5, 7)
    assert torch.allclose(pyramids.reconstruct(pyr), x, atol=1e-5)
    flat = torch.full((1, 1, 16, 16), 0.3)
    assert torch.allclose(pyramids.blur(flat, 2.0), flat, atol=1e-6)


# -------------------------------------------------------------------------------- boundary cut


def test_vertical_cut_follows_the_cheapest_path():
    e = np.full((6, 5), 10.0)
    path = np.array([0, 1, 2, 2, 3, 4])  # a zero-cost staircase
    e[np.arange(6), path] = 0
    assert np.array_equal(vertical_cut(e), path)


def test_seam_mask_keeps_the_old_block_left_of_the_cut():
    old, new = np.zeros((3, 6, 6)), np.ones((3, 6, 6))
    old[:, :, 1:] = 1  # old and new agree right of column 0: the cheapest seam runs down column 1
    m = seam_mask(old, new, overlap=3, left=True, top=False)
    assert (m[:, 0] == 0).all() and (m[:, 2:] == 1).all()


# ------------------------------------------------------------------------------------- quilting


def test_quilting_without_cut_and_tolerance_copies_whole_blocks():
    sample = rand(1, 3, 30, 30, seed=4)
    out = atelier.run_texture(sample, method="quilting", size=(20, 20), block=10, overlap=2, tolerance=0.0,
                              cut=False, sample_size=0, device="cpu").image
    # the first block's top-left 8x8 (its right and bottom strips are under the next blocks) is verbatim
    blocks = patches.extract(sample, 10)[0].view(-1, 3, 10, 10)[..., :8, :8].reshape(-1, 3 * 64)
    d = ((blocks - out[..., :8, :8].reshape(1, -1)) ** 2).sum(1)
    assert float(d.min()) < 1e-8


def test_quilting_transfer_follows_the_photo():
    photo = torch.zeros(1, 3, 32, 48)
    photo[..., 24:] = 1.0  # dark left half, bright right half
    painting = rand(1, 3, 48, 48, seed=5) * 0.5 + torch.linspace(0, 0.5, 48).view(1, 1, 1, 48)
    out = atelier.run(photo, painting, method="quilting", size=48, block=8, sample_size=0, passes=2,
                      device="cpu").image
    assert out.shape == (1, 3, 32, 48)
    assert float(out[..., 28:].mean()) > float(out[..., :20].mean()) + 0.2
    assert out.unique().numel() > 50  # painted with the painting's pixels, not a flat copy of the photo


def test_quilting_transfer_keeps_the_photo_outside_its_mask(tmp_path):
    photo = rand(1, 3, 32, 32, seed=6)
    mask = hole(tmp_path / "m.png", 32, slice(0, 16))  # the top-left quarter is the painting's
    out = atelier.run(photo, rand(1, 3, 40, 40, seed=7), method="quilting", masks=[mask], size=0, block=8,
                      sample_size=0, passes=1, device="cpu").image
    assert torch.allclose(out[..., 16:, :], photo[..., 16:, :], atol=1e-6)
    assert float((out[..., :14, :14] - photo[..., :14, :14]).abs().mean()) > 0.1


def test_quilting_refuses_a_sample_smaller_than_the_block():
    with pytest.raises(InputError, match="smaller --block"):
        atelier.run_texture(rand(1, 3, 12, 12), method="quilting", size=32, block=16, sample_size=0)


# ---------------------------------------------------------------------------------- efros_leung


def test_efros_leung_copies_sample_pixels_and_continues_stripes():
    sample = stripes(24, 24, period=6)
    out = atelier.run_texture(sample, method="efros_leung", size=(20, 30), window=7, sample_size=0,
                              seed=1, device="cpu").image
    assert out.shape == (1, 3, 20, 30)
    assert set(out.unique().tolist()) <= {0.0, 1.0}  # every pixel is a sample pixel
    # Stripes continue: each row repeats with the period (the image shifted by 6 columns matches itself).
    rows = out[0, 0]
    assert float((rows[:, 6:] - rows[:, :-6]).abs().mean()) < 0.1
    assert float((rows[:, 3:] - rows[:, :-3]).abs().mean()) > 0.8  # half a period apart: opposite


def test_efros_leung_tileable_wraps_around():
    sample = rand(1, 3, 24, 24, seed=2)
    sample = pyramids.blur(sample, 1.5)  # smooth, so neighbouring pixels agree
    out = atelier.run_texture(sample, method="efros_leung", size=24, window=5, sample_size=0,
                              tileable=True, device="cpu").image[0]
    plain = atelier.run_texture(sample, method="efros_leung", size=24, window=5, sample_size=0,
                                device="cpu").image[0]
    interior = float((out[:, :, 1:] - out[:, :, :-1]).abs().mean())
    wrap = float((out[:, :, 0] - out[:, :, -1]).abs().mean())
    plain_wrap = float((plain[:, :, 0] - plain[:, :, -1]).abs().mean())
    assert wrap < 1.6 * interior and plain_wrap > 2 * wrap  # measured: 0.035 vs 0.025 and 0.080


def hole(path, size: int, box: slice) -> str:
    m = np.zeros((size, size), np.uint8)
    m[box, box] = 255
    Image.fromarray(m).save(path)
    return str(path)


def test_efros_leung_fills_only_the_hole(tmp_path):
    photo = pyramids.blur(rand(1, 3, 40, 40, seed=3), 1.0)
    mask = hole(tmp_path / "hole.png", 40, slice(15, 25))
    res = atelier.run(photo, None, method="efros_leung", masks=[mask], size=0, window=5, device="cpu")
    out = res.image
    keep = torch.ones(40, 40, dtype=torch.bool)
    keep[15:25, 15:25] = False
    assert torch.allclose(out[0][:, keep], photo[0][:, keep], atol=1e-6)
    hole_px = out[0][:, ~keep].T  # (100, 3): every filled pixel is one of the photo's known pixels
    known = photo[0][:, keep].T
    assert float(torch.cdist(hole_px, known).min(1).values.max()) < 1e-3  # cdist's own rounding: ~1e-4
    assert res.info["filled_pixels"] == 100


def test_efros_leung_refuses_a_mask_over_everything_and_a_small_sample(tmp_path):
    with pytest.raises(InputError, match="no intact"):
        atelier.run(rand(1, 3, 20, 20), None, method="efros_leung", masks=[hole(tmp_path / "m.png", 20, slice(0, 20))],
                    size=0)
    with pytest.raises(InputError, match="smaller than the 11x11"):
        atelier.run_texture(rand(1, 3, 8, 8), method="efros_leung", size=16, sample_size=0)
    with pytest.raises(OptionError, match="odd"):
        atelier.prepare("efros_leung", {"window": 6}, n_styles=1, texture=True)


# --------------------------------------------------------------------------- API and command line


def test_texture_api_refuses_what_does_not_apply():
    with pytest.raises(OptionError, match="--preserve-color"):
        atelier.run_texture(rand(1, 3, 40, 40), method="quilting", preserve_color="luminance")
    with pytest.raises(OptionError, match="cannot make tileable"):
        atelier.run_texture(rand(1, 3, 40, 40), method="quilting", tileable=True)
    with pytest.raises(OptionError, match="size"):
        atelier.texture_size((0, 10))
    assert atelier.texture_size(64) == (64, 64) and atelier.texture_size((30, 40)) == (30, 40)


def test_cli_texture_writes_the_image_and_its_sidecar(tmp_path, capsys):
    sample = save(rand(1, 3, 40, 40, seed=6), tmp_path / "sample.png")
    out = tmp_path / "tex.png"
    code = main(["texture", sample, "-o", str(out), "--size", "40", "30", "--block", "8", "--sample-size", "0",
                 "--seed", "2", "-q"])
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).size == (40, 30)
    side = json.loads(atelier.sidecar_path(out).read_text())
    assert side["method"] == "quilting" and side["texture"]["size"] == [40, 30] and side["seed"] == 2
    assert side["config"]["block"] == 8 and side["inputs"]["sample"] == sample


@pytest.mark.parametrize("argv,words", [
    (["--method", "quilting", "--tileable"], ["cannot make tileable"]),
    (["--method", "adain"], ["does not synthesise textures"]),
    (["--size", "1", "2", "3"], ["--size"]),
])
def test_cli_texture_refusals_are_one_sentence(argv, words, tmp_path, capsys):
    sample = save(rand(1, 3, 40, 40), tmp_path / "sample.png")
    code = main(["texture", sample, "-o", str(tmp_path / "x.png"), "-q", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("atelier") and err[-1].endswith("."), err
    assert all(w in err[-1] for w in words) and not (tmp_path / "x.png").exists()


def test_cli_texture_refuses_a_file_that_is_not_an_image(tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    assert main(["texture", str(bad), "-o", str(tmp_path / "x.png"), "-q"]) == 2
    assert "notes.png" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_cli_fills_a_hole_with_efros_leung(tmp_path, capsys):
    photo = save(pyramids.blur(rand(1, 3, 32, 32, seed=7), 1.0), tmp_path / "photo.png")
    out = tmp_path / "filled.png"
    code = main(["stylize", photo, "--method", "efros_leung", "--mask", hole(tmp_path / "hole.png", 32, slice(10, 18)),
                 "--window", "5", "--size", "0", "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).size == (32, 32)
    assert main(["stylize", photo, "--method", "efros_leung", "-o", str(tmp_path / "y.png"), "-q"]) == 2
    assert "give one --mask" in capsys.readouterr().err


def test_copy_fraction_counts_verbatim_patches():
    from atelier.metrics import copy_fraction

    sample = rand(1, 3, 32, 32, seed=8)
    assert copy_fraction(sample[..., 4:28, 2:30], sample) == 1.0  # a crop: every patch is in the sample
    assert copy_fraction(rand(1, 3, 24, 24, seed=9), sample) == 0.0  # fresh noise: none
    half = rand(1, 3, 24, 24, seed=9)
    half[..., :, :12] = sample[..., :24, :12]
    frac = copy_fraction(half, sample)
    assert 0.2 < frac < 0.4  # patches wholly inside the copied half: 5 of 17 columns


def test_a_mask_that_does_not_fit_the_photo_is_refused(tmp_path):
    m = np.zeros((20, 60), np.uint8)  # 3:1, the photo is square
    Image.fromarray(m).save(tmp_path / "wide.png")
    for method, style in (("efros_leung", None), ("quilting", rand(1, 3, 40, 40))):
        with pytest.raises(OptionError, match="aspect ratio"):
            atelier.run(rand(1, 3, 32, 32), style, method=method, masks=[str(tmp_path / "wide.png")], size=0)


def test_quilting_block_follows_the_output_and_the_sample():
    photo, painting = rand(1, 3, 64, 96, seed=1), rand(1, 3, 80, 80, seed=2)
    small = atelier.run(photo, painting, method="quilting", size=96, passes=1, sample_size=0, device="cpu")
    large = atelier.run(photo, painting, method="quilting", size=192, passes=1, sample_size=0, device="cpu")
    assert small.info["stages"][0]["block"] == 8 and large.info["stages"][0]["block"] == 12  # side / 16
    tex = atelier.run_texture(rand(1, 3, 96, 96), method="quilting", size=32, sample_size=0, device="cpu")
    assert tex.info["stages"][0]["block"] == 12  # the sample's side / 8
    fixed = atelier.run(photo, painting, method="quilting", size=96, block=10, passes=1, sample_size=0)
    assert fixed.info["stages"][0]["block"] == 10
