"""The classical (pre-CNN) transfers: sparse coding over a K-SVD dictionary (``sparse``) and Elad & Milanfar's
texture synthesis (``elad_milanfar``), and the ops they added (``patches.cover``, ``patches.pca_basis``,
``pyramids.domain_transform``).

Tiny by construction: 32-64 px synthetic images, tiny dictionaries, small patches, one or two iterations.
Each test checks behaviour that could fail: stripes of the painting appear in a flat photo, a heavy content
weight stays nearer the photo, the luminance mode keeps the photo's chroma, masks keep the photo.
"""

from __future__ import annotations

import pytest
import torch

import atelier
from atelier.errors import InputError, OptionError
from atelier.events import Done, Progress, Stage
from atelier.methods import create_method, make_config, method_spec
from atelier.methods.sparse import ksvd
from atelier.ops import patches
from atelier.ops.color import rgb_to_yiq
from atelier.ops.pyramids import domain_transform

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {
    "sparse": dict(size=32, patch_size=4, atoms=24, sparsity=2, dictionary_iterations=2, training_patches=300,
                   scales=2, iterations=2, stride=2),
    "elad_milanfar": dict(size=32, patch_sizes=[9, 5], gaps=[5, 3], levels=2, iterations=2, irls_iterations=2,
                          candidates=400, pca_dims=8),
}
METHODS = sorted(TINY)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def smooth_photo(h: int = 48, w: int = 64, seed: int = 1) -> torch.Tensor:
    """(1,3,h,w) smooth colour gradients with mild noise, mid-range values (no clamping)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([0.5 + 0.2 * torch.sin(5 * x), 0.5 + 0.2 * torch.cos(4 * y), 0.5 + 0.15 * torch.sin(3 * (x + y))])
    return (base[None] + 0.03 * torch.randn(1, 3, h, w, generator=gen(seed))).clamp(0, 1)


def stripes(h: int = 32, w: int = 32, period: int = 6) -> torch.Tensor:
    """(1,3,h,w) vertical black-and-white stripes: horizontal gradients only."""
    col = ((torch.arange(w) // (period // 2)) % 2).float()
    return (0.15 + 0.7 * col).view(1, 1, 1, w).expand(1, 3, h, w).contiguous()


def blotches(h: int = 40, w: int = 40, seed: int = 2) -> torch.Tensor:
    """(1,3,h,w) a colourful random texture (the 'painting' of most tests)."""
    coarse = torch.rand(1, 3, h // 4, w // 4, generator=gen(seed))
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def run(name: str, content, style, seed: int = 0, callback=None, masks=None, **overrides):
    method = create_method(name, **{**TINY[name], **overrides})
    method.config.validate(1)
    out = method.stylize(content, [style], generator=gen(seed), callback=callback, masks=masks)
    return out, method


def grad_energy(img: torch.Tensor) -> tuple[float, float]:
    """Mean squared horizontal and vertical differences."""
    return (float((img[..., :, 1:] - img[..., :, :-1]).pow(2).mean()),
            float((img[..., 1:, :] - img[..., :-1, :]).pow(2).mean()))


# ------------------------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("name", METHODS)
def test_output_shape_range_and_info(name):
    events = []
    out, method = run(name, smooth_photo(), blotches(), callback=events.append)
    assert out.shape == (1, 3, 24, 32) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and float(out.min()) >= 0 and float(out.max()) <= 1
    info = method.info
    assert info["iterations"] > 0 and info["seconds"] >= 0 and info["stages"]
    # Events: stages, then progress whose count reaches the planned total, then Done.
    stages = [e for e in events if isinstance(e, Stage)]
    progress = [e for e in events if isinstance(e, Progress)]
    assert stages and progress and isinstance(events[-1], Done)
    assert [p.iteration for p in progress] == list(range(1, len(progress) + 1))
    assert progress[-1].iteration == progress[-1].total_iterations == info["iterations"]
    assert progress[-1].eta is not None and progress[-1].eta < 1e-6


@pytest.mark.parametrize("name", METHODS)
def test_seed_decides_the_result(name):
    photo, painting = smooth_photo(), blotches()
    a, _ = run(name, photo, painting, seed=3)
    b, _ = run(name, photo, painting, seed=3)
    c, _ = run(name, photo, painting, seed=4)
    assert torch.equal(a, b)
    assert float((a - c).abs().max()) > 1e-3


@pytest.mark.parametrize("name", METHODS)
def test_stripes_of_the_painting_appear_in_a_flat_photo(name):
    flat = torch.full((1, 3, 32, 32), 0.5)
    painting = stripes()
    out, _ = run(name, flat, painting)
    ex, ey = grad_energy(out)
    px, _ = grad_energy(painting)
    assert ex > 0.2 * px, (ex, px)  # a flat photo has none; the painting's stripes brought it
    assert ex > 3 * ey, (ex, ey)  # and they are oriented like the painting's, not noise


@pytest.mark.parametrize("name", METHODS)
def test_content_weight_keeps_the_photo(name):
    # a colourful painting: 'histogram' then recolours it to the photo's full colour covariance
    photo, painting = smooth_photo(), blotches()
    target = torch.nn.functional.interpolate(photo, size=(24, 32), mode="bicubic", antialias=True,
                                             align_corners=False)
    extra = {"segmentation": "none"} if name == "elad_milanfar" else {}
    low, _ = run(name, photo, painting, content_weight=0.0, preserve_color="histogram", **extra)
    high, _ = run(name, photo, painting, content_weight=20.0, preserve_color="histogram", **extra)
    d_low, d_high = float((low - target).abs().mean()), float((high - target).abs().mean())
    assert d_high < 0.6 * d_low, (d_high, d_low)


@pytest.mark.parametrize("name", METHODS)
def test_painting_smaller_than_a_patch_is_one_sentence(name):
    strip = blotches(4, 64)  # 2x32 at the working scale: no patch fits
    with pytest.raises(InputError) as err:
        run(name, smooth_photo(), strip)
    text = str(err.value)
    assert text.endswith(".") and "\n" not in text and "patch" in text


@pytest.mark.parametrize("name,deep", [("sparse", dict(scales=5)), ("elad_milanfar", dict(levels=6))])
def test_a_wide_painting_with_a_shallower_pyramid_runs(name, deep):
    # 10x32 at the working scale: its pyramid stops a level before the 24x32 photo's
    out, method = run(name, smooth_photo(), blotches(13, 40), **deep)
    assert out.shape == (1, 3, 24, 32) and torch.isfinite(out).all() and method.info["stages"]


@pytest.mark.parametrize("name", METHODS)
def test_luminance_mode_keeps_the_photos_chroma(name):
    photo = smooth_photo()
    out, _ = run(name, photo, blotches(), preserve_color="luminance")
    target = torch.nn.functional.interpolate(photo, size=(24, 32), mode="bicubic", antialias=True,
                                             align_corners=False).clamp(0, 1)
    chroma_out, chroma_in = rgb_to_yiq(out)[:, 1:], rgb_to_yiq(target)[:, 1:]
    assert float((chroma_out - chroma_in).abs().max()) < 0.02
    # ... while the luminance did change (the style was transferred).
    assert float((rgb_to_yiq(out)[:, :1] - rgb_to_yiq(target)[:, :1]).abs().mean()) > 0.01


@pytest.mark.parametrize("name", METHODS)
def test_pixels_no_mask_covers_keep_the_photo(name):
    photo = smooth_photo()
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., :32] = 1  # stylise the left half only
    out, _ = run(name, photo, blotches(), masks=[mask])
    target = torch.nn.functional.interpolate(photo, size=(24, 32), mode="bicubic", antialias=True,
                                             align_corners=False).clamp(0, 1)
    assert float((out[..., 17:] - target[..., 17:]).abs().max()) < 1e-5
    assert float((out[..., :15] - target[..., :15]).abs().mean()) > 0.01


def test_through_the_public_api():
    for name in METHODS:
        res = atelier.run(smooth_photo(), blotches(), method=name, seed=1, device="cpu", **TINY[name])
        assert res.image.shape == (1, 3, 24, 32) and res.info["method"] == name
        assert method_spec(name).capabilities.needs_style


@pytest.mark.parametrize("name,bad,words", [
    ("sparse", dict(stride=5, patch_size=4), "--stride"),
    ("sparse", dict(sparsity=9, atoms=8), "--sparsity"),
    ("elad_milanfar", dict(patch_sizes=[9, 5], gaps=[5]), "--gaps"),
    ("elad_milanfar", dict(patch_sizes=[9, 5], gaps=[5, 6]), "gap"),
])
def test_inconsistent_options_are_one_sentence(name, bad, words):
    with pytest.raises(OptionError) as err:
        make_config(method_spec(name).config_class, bad).validate(1)
    assert words in str(err.value) and str(err.value).endswith(".")


# ------------------------------------------------------------------------------------ K-SVD and the ops


def planted(d: int = 32, k: int = 48, n: int = 800, t: int = 2, seed: int = 0):
    g = gen(seed)
    dic = torch.randn(d, k, generator=g)
    dic = dic / dic.norm(dim=0)
    idx = torch.stack([torch.randperm(k, generator=g)[:t] for _ in range(n)])
    coef = torch.randn(n, t, generator=g).sign() * (1 + torch.rand(n, t, generator=g))
    return dic, ksvd.reconstruct(dic, idx, coef)


def test_omp_recovers_a_sparse_code_exactly():
    dic, signals = planted()
    idx, coef = ksvd.omp(dic, signals, 2)
    assert float((ksvd.reconstruct(dic, idx, coef) - signals).abs().max()) < 1e-4


def test_ksvd_learns_a_planted_dictionary():
    dic, signals = planted()
    errors = []
    learnt = ksvd.ksvd(signals, 48, 2, 15, generator=gen(1), on_iteration=lambda i, e: errors.append(e))
    assert learnt.shape == (32, 48)
    assert torch.allclose(learnt.norm(dim=0), torch.ones(48), atol=1e-4)
    assert errors[-1] < 0.5 * errors[0]
    recovered = (learnt.T @ dic).abs().max(0).values > 0.95  # planted atoms found (up to sign)
    assert float(recovered.float().mean()) > 0.6


def test_cover_makes_fold_an_exact_inverse_of_extract():
    img = torch.rand(1, 3, 37, 41, generator=gen(0))
    padded = patches.cover(img, 9, 5)
    assert (padded.shape[-2] - 9) % 5 == 0 and (padded.shape[-1] - 9) % 5 == 0
    back = patches.fold(patches.extract(padded, 9, 5), tuple(padded.shape[-2:]), 9, 5)[..., :37, :41]
    assert torch.allclose(back, img, atol=1e-6)


def test_pca_basis_keeps_the_requested_energy():
    g = gen(0)
    low = torch.randn(400, 3, generator=g) @ torch.randn(3, 50, generator=g)  # rank 3
    data = low + 0.01 * torch.randn(400, 50, generator=g)
    mean, basis = patches.pca_basis(data, 10, energy=0.99, generator=gen(1))
    assert basis.shape == (50, 3)
    assert torch.allclose(basis.T @ basis, torch.eye(3), atol=1e-4)
    centred = data - mean
    assert float((centred @ basis).pow(2).sum() / centred.pow(2).sum()) > 0.99


def test_domain_transform_smooths_noise_and_keeps_edges():
    step = torch.zeros(1, 3, 32, 32)
    step[..., 16:] = 1.0
    noisy = step + 0.02 * torch.randn(step.shape, generator=gen(0))
    out = domain_transform(noisy, 5.0, 0.2)
    assert float((out - step)[..., :, :14].std()) < 0.5 * float((noisy - step)[..., :, :14].std())
    assert float(out[..., 15].mean()) < 0.1 and float(out[..., 16].mean()) > 0.9  # the edge stays sharp
    flat = torch.full((1, 1, 8, 8), 0.3)
    assert torch.allclose(domain_transform(flat, 5.0, 0.2), flat, atol=1e-6)
