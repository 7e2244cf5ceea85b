"""KID (atelier.metrics.kid_vgg): the unbiased estimator against a direct double loop, the subset average,
the bootstrap interval on same / different distributions, image folders (random-weight VGG at 32 px:
the weights are not the point) and ``atelier eval --kid`` as users call it."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from atelier.cli import main
from atelier.errors import InputError, OptionError
from atelier.features import VGG19
from atelier.metrics import (
    collection_features,
    kid,
    kid_difference,
    kid_folders,
    mmd2_unbiased,
    polynomial_kernel,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def direct_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """MMD²_u written out term by term (Gretton et al. 2012 eq. 3), k(a,b) = (a·b/d + 1)^3."""
    d = x.shape[1]

    def k(a, b):
        return (float(a @ b) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def normal(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


def test_kernel_and_unbiased_estimator_match_the_direct_sums():
    x, y = normal(7, 5, 1), normal(9, 5, 2, shift=0.3)
    assert polynomial_kernel(x, y)[2, 4].item() == pytest.approx((float(x[2] @ y[4]) / 5 + 1) ** 3)
    assert mmd2_unbiased(x, y) == pytest.approx(direct_mmd2(x, y), rel=1e-12)


def test_kid_averages_subsets_and_is_the_full_estimate_when_subsets_are_whole_sets():
    x, y = normal(12, 4, 3), normal(10, 4, 4, shift=0.5)
    whole = kid(x, y, subset_size=1000, n_subsets=5, n_bootstrap=50)
    assert whole["subset_size"] == 10 and whole["n_a"] == 12 and whole["n_b"] == 10
    # Subsets of 10 of the 12 rows of x differ, so the spread is > 0; with m = n = s they are all equal.
    y12 = normal(12, 4, 5, shift=0.5)
    exact = kid(x, y12, subset_size=12, n_subsets=4, n_bootstrap=50)
    assert exact["kid"] == pytest.approx(direct_mmd2(x, y12), rel=1e-9)
    assert exact["subset_std"] == pytest.approx(0.0, abs=1e-9) and whole["subset_std"] > 0
    # Seeded: the same call gives the same numbers.
    assert kid(x, y, n_bootstrap=50) == kid(x, y, n_bootstrap=50)


def test_interval_contains_zero_for_one_distribution_and_excludes_it_for_two():
    same = kid(normal(150, 16, 10), normal(150, 16, 11), n_bootstrap=300)
    assert same["low"] < 0 < same["high"] and abs(same["kid"]) < same["high"] - same["low"]
    different = kid(normal(150, 16, 10), normal(150, 16, 11, shift=0.4), n_bootstrap=300)
    assert different["low"] > 0 and different["kid"] > 5 * abs(same["kid"])
    assert different["low"] <= different["kid"] <= different["high"]


def test_bootstrap_does_not_count_a_duplicated_image_as_a_match():
    """A resample repeats images; a plain U-statistic on it would score their self-pairs k(x,x) as
    within-set similarity and push the whole interval above 0 for one distribution (measured: the plain
    estimator on plain resamples gives a 95 % interval entirely above 0 for each of these five pairs)."""
    lows = [kid(normal(8, 16, s), normal(8, 16, 100 + s), n_subsets=1, n_bootstrap=400)["low"] for s in range(5)]
    assert all(low < 0 for low in lows)


def _write_images(folder, n, kind, seed):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        if kind == "smooth":  # slow colour gradients: the 'photos'
            y, x = np.mgrid[0:40, 0:48] / 48
            ph = rng.uniform(0, 6, 3)
            img = np.stack([np.sin(3 * x + ph[0]), np.cos(2 * y + ph[1]), np.sin(2 * (x + y) + ph[2])], -1)
            img = 0.5 + 0.3 * img
        else:  # fine high-contrast stripes and noise: the 'paintings'
            y, x = np.mgrid[0:40, 0:48]
            f = rng.uniform(0.8, 1.4)
            img = 0.5 + 0.45 * np.sign(np.sin(f * (x + 0.5 * y)))[..., None] * np.array([1, 0.6, 0.2])
            img = img + 0.15 * rng.standard_normal((40, 48, 3))
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / f"{kind}{i}.png")
    return folder


@pytest.fixture
def vgg():
    return VGG19(weights="random")


def test_folders_same_look_near_zero_different_look_clearly_positive(tmp_path, vgg):
    a = _write_images(tmp_path / "a", 10, "smooth", 1)
    a2 = _write_images(tmp_path / "a2", 10, "smooth", 2)
    b = _write_images(tmp_path / "b", 10, "stripes", 3)
    same = kid_folders(a, a2, vgg=vgg, size=32, n_bootstrap=300)
    different = kid_folders(a, b, vgg=vgg, size=32, n_bootstrap=300)
    assert same["low"] < 0 < same["high"]
    assert different["low"] > 0 and different["kid"] > 10 * max(abs(same["kid"]), 1e-12)
    assert (same["n_a"], same["n_b"], same["size"]) == (10, 10, 32)


def test_features_of_folders_skip_unreadable_files_with_one_warning_each(tmp_path, vgg, caplog):
    a = _write_images(tmp_path / "a", 3, "smooth", 1)
    (a / "broken.png").write_bytes(b"not an image")
    (a / "empty.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="atelier"):
        feats, used = collection_features(a, vgg=vgg, size=32)
    assert feats.shape == (3, 2048) and len(used) == 3
    warned = [r.getMessage() for r in caplog.records if "Skipping" in r.getMessage()]
    assert len(warned) == 2 and any("broken.png" in w for w in warned) and any("empty.jpg" in w for w in warned)
    b = _write_images(tmp_path / "b", 3, "stripes", 2)
    assert kid_folders(a, b, vgg=vgg, size=32, n_bootstrap=20)["skipped_a"] == 2


def test_too_few_images_is_one_sentence(tmp_path, vgg):
    empty = tmp_path / "empty"
    empty.mkdir()
    one = _write_images(tmp_path / "one", 1, "smooth", 1)
    with pytest.raises(InputError, match=r"0 readable image\(s\); KID needs at least 2"):
        collection_features(empty, vgg=vgg, size=32)
    with pytest.raises(InputError, match=r"1 readable image\(s\)"):
        collection_features(one, vgg=vgg, size=32)
    with pytest.raises(InputError, match="does not exist"):
        collection_features(tmp_path / "missing", vgg=vgg, size=32)


@pytest.fixture
def random_vgg_everywhere(monkeypatch):
    """The CLI asks for the pretrained VGG; these tests judge the command's behaviour, not the weights."""
    from atelier.metrics import kid_vgg

    net = VGG19(weights="random")
    monkeypatch.setattr(kid_vgg, "get_vgg19", lambda **kw: net)


def test_cli_eval_kid_prints_value_interval_counts_and_json(tmp_path, capsys, random_vgg_everywhere):
    a = _write_images(tmp_path / "a", 4, "smooth", 1)
    b = _write_images(tmp_path / "b", 5, "stripes", 2)
    (b / "bad.jpg").write_bytes(b"junk")
    assert main(["eval", "--kid", str(a), str(b), "--size", "32"]) == 0
    out = capsys.readouterr().out
    assert "KID " in out and "95% bootstrap interval" in out and "4 images in" in out
    assert "5 images in" in out and "1 unreadable skipped" in out and "not with published FID/KID" in out
    assert main(["eval", "--kid", str(a), str(b), "--size", "32", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_a"] == 4 and res["n_b"] == 5 and res["skipped_b"] == 1 and res["low"] <= res["high"]


def test_cli_eval_kid_bad_input_exits_2_with_one_sentence(tmp_path, capsys, random_vgg_everywhere):
    a = _write_images(tmp_path / "a", 3, "smooth", 1)
    empty = tmp_path / "empty"
    empty.mkdir()
    one = _write_images(tmp_path / "one", 1, "stripes", 1)
    for argv, needle in [
        (["eval", "--kid", str(a), str(empty)], "has 0 readable image(s); KID needs at least 2"),
        (["eval", "--kid", str(one), str(a)], "has 1 readable image(s)"),
        (["eval", "--kid", str(a), str(a), "--style", str(a)], "give no output images"),
        (["eval", "--kid", str(a), str(a), "--size", "8"], "at least 16 pixels"),
        (["eval"], "--kid FOLDER_A FOLDER_B"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err


def test_cli_compare_kid_writes_one_row_per_folder(tmp_path, capsys, random_vgg_everywhere):
    ref = _write_images(tmp_path / "ref", 6, "stripes", 1)
    near = _write_images(tmp_path / "near", 6, "stripes", 2)
    far = _write_images(tmp_path / "far", 6, "smooth", 3)
    out = tmp_path / "cmp"
    argv = ["compare", "--kid", str(ref), str(near), str(far), "--size", "32", "-o", str(out)]
    assert main(argv) == 0
    assert "Not comparable to published FID/KID" in capsys.readouterr().out
    rows = json.loads((out / "kid.json").read_text())["rows"]
    assert [r["folder"] for r in rows] == [str(near), str(far)] and rows[1]["kid"] > rows[0]["kid"]
    assert rows[1]["low"] > 0 and rows[0]["images"] == 6 and rows[0]["reference_images"] == 6
    assert "| folder" in (out / "kid.md").read_text() and (out / "kid.csv").read_text().startswith("folder,")
    assert main(argv) == 2 and "already exists" in capsys.readouterr().err  # never overwritten silently
    assert main(["compare", "--kid", str(ref)]) == 2 and "at least one folder" in capsys.readouterr().err


def test_tiny_sets_give_finite_intervals():
    """With 2-3 images a resample can repeat one image only (no pairs): it is left out, never +-inf."""
    r = kid(normal(2, 8, 1), normal(3, 8, 2), n_bootstrap=400)
    assert all(np.isfinite([r["kid"], r["low"], r["high"]])) and r["low"] <= r["high"]


def test_difference_interval_separates_what_two_overlapping_intervals_cannot():
    """Few reference images make each KID's interval wide, but that luck is shared by both sets: the
    difference's interval (one reference resample for both; paired source rows) is far narrower."""
    ref = normal(8, 16, 20)
    far = normal(60, 16, 21, shift=0.5)  # 'photos'
    near = far - 0.3 + 0.05 * normal(60, 16, 22)  # 'their translations', row i from photo i
    ka, kb = kid(near, ref, n_bootstrap=400), kid(far, ref, n_bootstrap=400)
    assert ka["kid"] < kb["kid"] and ka["high"] >= kb["low"]  # the separate intervals overlap
    d = kid_difference(near, far, ref, paired=True, n_bootstrap=400)
    assert d["high"] < 0 and d["low"] <= d["difference"] <= d["high"]
    assert d["difference"] == pytest.approx(direct_mmd2(near, ref) - direct_mmd2(far, ref), rel=1e-9)
    unpaired = kid_difference(near, far, ref, n_bootstrap=400)
    assert unpaired["high"] - unpaired["low"] > d["high"] - d["low"]  # pairing removes the photos' luck too
    same = kid_difference(normal(60, 16, 23), normal(60, 16, 24), normal(60, 16, 25), n_bootstrap=400)
    assert same["low"] < 0 < same["high"]
    with pytest.raises(OptionError, match="one row per source image"):
        kid_difference(near[:10], far, ref, paired=True)


def test_cli_compare_kid_reports_the_difference_to_the_first_folder(tmp_path, capsys, random_vgg_everywhere):
    ref = _write_images(tmp_path / "ref", 6, "stripes", 1)
    far = _write_images(tmp_path / "far", 6, "smooth", 3)
    near = _write_images(tmp_path / "near", 6, "stripes", 2)
    out = tmp_path / "cmp"
    assert main(["compare", "--kid", str(ref), str(far), str(near), "--size", "32", "-o", str(out)]) == 0
    assert "minus_first" in capsys.readouterr().out
    rows = json.loads((out / "kid.json").read_text())["rows"]
    assert "minus_first" not in rows[0] and rows[1]["paired"] is False  # different file names
    assert rows[1]["minus_first"] == pytest.approx(rows[1]["kid"] - rows[0]["kid"], abs=0.5 * abs(rows[0]["kid"]))
    assert rows[1]["minus_first_high"] < 0  # stripes are clearly closer to stripes than smooth gradients


def test_difference_with_the_reference_fixed_counts_only_the_compared_sets_luck():
    ref = normal(8, 16, 30)
    far = normal(40, 16, 31, shift=0.5)
    near = far - 0.2 + 0.05 * normal(40, 16, 32)
    both = kid_difference(near, far, ref, paired=True, n_bootstrap=400)
    fixed = kid_difference(near, far, ref, paired=True, resample_reference=False, n_bootstrap=400)
    assert fixed["difference"] == both["difference"] and fixed["resample_reference"] is False
    assert fixed["high"] - fixed["low"] < both["high"] - both["low"]
    # identical sets: with nothing resampled that differs, the difference is exactly 0 in every resample
    same = kid_difference(far, far.clone(), ref, paired=True, resample_reference=False, n_bootstrap=50)
    assert same["low"] == pytest.approx(0, abs=1e-9) and same["high"] == pytest.approx(0, abs=1e-9)
