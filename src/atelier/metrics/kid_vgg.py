"""Kernel Inception Distance on VGG-19 features: how far one collection of images looks from another.

Bińkowski, Sutherland, Arbel & Gretton 2018, "Demystifying MMD GANs", §4 / appendix: KID is the squared
maximum mean discrepancy (MMD²) between the feature distributions of two image sets, with the cubic
polynomial kernel

    k(x, y) = (x·y / d + 1)^3                       (d = feature dimension)

and its *unbiased* estimator on samples X (m images) and Y (n images),

    MMD²_u = Σ_{i≠j} k(x_i,x_j) / (m(m-1)) + Σ_{i≠j} k(y_i,y_j) / (n(n-1)) - 2 Σ_{i,j} k(x_i,y_j) / (mn)

averaged over ``n_subsets`` random subsets of size s = min(subset_size, m, n) drawn without replacement
from each set (the paper: 100 subsets of 1000). Unlike FID it has an unbiased estimator, so it is usable on
the few hundred images a CPU project has, and it is ~0 (it can be slightly negative) for two samples of one
distribution.

Features, not Inception's: no package here ships an Inception network, so the features are the project's
one VGG-19 (:mod:`atelier.features`): each image is resized so its short side is ``KID_SIZE`` = 256 px and
centre-cropped to 256 x 256; the feature vector is the channel-wise spatial mean *and* standard deviation
of relu4_1 and relu5_1, each block divided by a fixed constant (``FEATURE_SCALE``), concatenated:
d = 4 x 512 = 2048 (Inception's pool3 has 2048 too). Why these: deep layers (receptive fields of ~90 and
~200 px) describe objects and layout, as Inception's pool3 does; the standard deviations add the
second-order statistics that carry a painting's texture, contrast and brushwork (the statistics AdaIN
transfers, Huang & Belongie 2017), which a plain global average would wash out, so a photo set and a
painting set differ in them even when they show the same things. The scale constants (RMS of each block
over the registry photos, rounded) keep x·y/d of order 1, the regime the kernel was designed for
(Inception's pooled features are O(1)); the VGG's raw activations are O(100).

**Not comparable to published FID or KID numbers**, which use Inception-v3 pool3 features at 299 px: these
numbers only compare sets measured with this module (same features, same size).

Interval: a 95 % percentile bootstrap over *images*: ``n_bootstrap`` times each set is resampled with
replacement (multinomial counts w, v) and the MMD² recomputed on the full resample as a weighted U-statistic
that skips pairs of an image with itself (Σ_{i≠j} w_i w_j K_ij / Σ_{i≠j} w_i w_j for the within-set terms),
so a duplicated image does not pose as a perfect match; the 2.5 and 97.5 percentiles are the interval.
This reflects which images happened to be in the sets (the uncertainty that matters for "is A closer to C
than B is?"), unlike the spread of the subset estimates, which is zero when the subsets are the whole sets
(the paper's ± is that spread; it is returned as ``subset_std``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..engine.data import list_images
from ..errors import AtelierError, InputError, OptionError
from ..features import get_vgg19
from ..io import load_image, resize

logger = logging.getLogger(__name__)

KID_SIZE = 256
KID_LAYERS: tuple[str, ...] = ("relu4_1", "relu5_1")
#: Fixed divisor of each layer's (mean, std) block: the RMS of the block's entries over the 73 registry
#: photos at 256 px with the pretrained VGG-19 (measured 2026-12-07: relu4_1 630, relu5_1 84), rounded.
#: Never fitted to the sets being compared, so every KID of this module uses the same features.
FEATURE_SCALE: dict[str, float] = {"relu4_1": 600.0, "relu5_1": 80.0}
N_SUBSETS = 100
SUBSET_SIZE = 1000
N_BOOTSTRAP = 1000
KID_SEED = 0


def image_feature(vgg, image: torch.Tensor, size: int = KID_SIZE) -> torch.Tensor:
    """(1,3,H,W) RGB in [0,1] -> (4*512,) float64: [mean, std] of relu4_1, relu5_1 / FEATURE_SCALE."""
    h, w = image.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = resize(image, (nh, nw))
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[..., top:top + size, left:left + size]  # (1,3,size,size) centre crop
    feats = vgg(x, KID_LAYERS)
    parts = []
    for layer in KID_LAYERS:
        f = feats[layer].double().flatten(2)  # (1,C,h*w)
        stats = torch.cat([f.mean(2), f.std(2, unbiased=False)], 1)  # (1,2C)
        parts.append(stats[0] / FEATURE_SCALE[layer])
    return torch.cat(parts)  # (2048,)


def image_files(source) -> list[Path]:
    """A folder (recursive) or a list of files/folders -> the image files, in order."""
    if isinstance(source, (str, Path)):
        source = [source]
    files: list[Path] = []
    for item in source:
        p = Path(item).expanduser()
        if p.is_dir():
            files += list_images(p)
        elif p.exists():
            files.append(p)
        else:
            raise InputError(f"'{p}' does not exist.")
    return files


@torch.no_grad()
def collection_features(source, *, vgg=None, size: int = KID_SIZE, device=None,
                        what: str = "The image set") -> tuple[torch.Tensor, list[Path]]:
    """Features (N, 2048) float64 of every readable image of ``source`` (a folder, or files/folders) and the
    files used. Unreadable files are skipped with one warning each; fewer than 2 usable images is an
    :class:`InputError` (the unbiased estimator needs pairs)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise OptionError(f"The KID size must be a whole number of at least 16 pixels (VGG-19's deepest "
                          f"layer), not {size!r}.")
    files = image_files(source)
    if vgg is None:
        vgg = get_vgg19(weights="pretrained", device=device)
    dev = next(vgg.parameters()).device
    feats, used = [], []
    for path in files:
        try:
            img = load_image(path, device=dev)
        except AtelierError as err:
            logger.warning("Skipping an unreadable image: %s", err)
            continue
        feats.append(image_feature(vgg, img, size))
        used.append(path)
    if len(used) < 2:
        where = ", ".join(str(s) for s in ([source] if isinstance(source, (str, Path)) else source))
        raise InputError(f"{what} ({where}) has {len(used)} readable image(s); KID needs at least 2.")
    return torch.stack(feats).cpu(), used


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(m,d), (n,d) -> (m,n): k(x,y) = (x·y/d + 1)^3, the KID kernel."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased MMD² estimator (Gretton et al. 2012, eq. 3) with the cubic kernel; m, n >= 2."""
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(within_x + within_y - 2 * kxy.mean())


def _weighted_within(k: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(N,N) kernel, (B,N) counts -> (B,): Σ_{i≠j} w_i w_j K_ij / Σ_{i≠j} w_i w_j (self-pairs skipped)."""
    diag = k.diagonal()
    num = ((w @ k) * w).sum(1) - (w * w * diag).sum(1)
    den = w.sum(1) ** 2 - (w * w).sum(1)
    # den = 0: the resample is one image repeated, no pairs (rounding would make num/den +-inf): NaN, dropped
    return torch.where(den > 0, num / den.clamp_min(1.0), torch.full_like(num, float("nan")))


def _counts(draws: torch.Tensor, n: int) -> torch.Tensor:
    """(B,k) drawn indices in [0,n) -> (B,n) float64 multiplicities."""
    ones = torch.ones(draws.shape, dtype=torch.float64)
    return torch.zeros(draws.shape[0], n, dtype=torch.float64).scatter_add_(1, draws, ones)


def _resample(b: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """(b,n) multinomial counts of b resamples with replacement of n images, each row summing to n."""
    return _counts(torch.randint(0, n, (b, n), generator=generator), n)


def _resampled_mmd2(kxx: torch.Tensor, kyy: torch.Tensor, kxy: torch.Tensor, w: torch.Tensor,
                    v: torch.Tensor) -> torch.Tensor:
    """(B,) MMD² of resamples given as counts w (B,m) of x and v (B,n) of y, from the kernels of the sets."""
    cross = ((w @ kxy) * v).sum(1) / (w.shape[1] * v.shape[1])
    return _weighted_within(kxx, w) + _weighted_within(kyy, v) - 2 * cross


def _interval(boot: torch.Tensor, level: float) -> list[float]:
    """The percentile interval of bootstrap estimates; resamples of one distinct image have no pairs (NaN, see
    _weighted_within) and are left out."""
    alpha = (1 - level) / 2
    boot = boot[~torch.isnan(boot)]
    return torch.quantile(boot, torch.tensor([alpha, 1 - alpha], dtype=torch.float64)).tolist()


def bootstrap_mmd2(x: torch.Tensor, y: torch.Tensor, n_bootstrap: int, generator: torch.Generator,
                   chunk: int = 100) -> torch.Tensor:
    """MMD² of ``n_bootstrap`` image-level resamples of x and y (see the module docstring); resamples that
    repeat one image only (possible in very small sets) are NaN."""
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    out = []
    for start in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - start)
        w = _resample(b, m, generator)
        out.append(_resampled_mmd2(kxx, kyy, kxy, w, _resample(b, n, generator)))
    return torch.cat(out)


def kid(x: torch.Tensor, y: torch.Tensor, *, n_subsets: int = N_SUBSETS, subset_size: int = SUBSET_SIZE,
        n_bootstrap: int = N_BOOTSTRAP, level: float = 0.95, seed: int = KID_SEED) -> dict:
    """KID of two feature sets (m,d) and (n,d): ``{"kid", "low", "high", "subset_std", "n_a", "n_b",
    "subset_size", "n_subsets", "n_bootstrap"}``; see the module docstring. Deterministic for a seed."""
    x, y = x.double(), y.double()
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise InputError(f"KID needs at least 2 images in each set, got {m} and {n}.")
    if x.shape[1] != y.shape[1]:
        raise OptionError(f"The feature sets differ in dimension: {x.shape[1]} and {y.shape[1]}.")
    if n_subsets < 1 or subset_size < 2 or n_bootstrap < 1 or not 0 < level < 1:
        raise OptionError("KID needs n_subsets >= 1, subset_size >= 2, n_bootstrap >= 1 and 0 < level < 1.")
    g = torch.Generator().manual_seed(seed)
    s = min(subset_size, m, n)
    estimates = torch.tensor([
        mmd2_unbiased(x[torch.randperm(m, generator=g)[:s]], y[torch.randperm(n, generator=g)[:s]])
        for _ in range(n_subsets)
    ], dtype=torch.float64)
    low, high = _interval(bootstrap_mmd2(x, y, n_bootstrap, g), level)
    return {"kid": float(estimates.mean()), "low": low, "high": high,
            "subset_std": float(estimates.std()) if n_subsets > 1 else 0.0,
            "n_a": m, "n_b": n, "subset_size": s, "n_subsets": n_subsets, "n_bootstrap": n_bootstrap}


def kid_difference(a: torch.Tensor, b: torch.Tensor, ref: torch.Tensor, *, paired: bool = False,
                   resample_reference: bool = True, n_bootstrap: int = N_BOOTSTRAP, level: float = 0.95,
                   seed: int = KID_SEED) -> dict:
    """Is set ``a`` closer to ``ref`` than set ``b`` is? KID(a, ref) - KID(b, ref) with a bootstrap interval:
    ``{"difference", "low", "high", "kid_a", "kid_b", "paired", "n_bootstrap"}`` (negative = a is closer).

    Two separate intervals overlap far more often than the difference is uncertain, because most of their
    width is the luck of which ``ref`` images were drawn, which both share: here each bootstrap resample
    draws ``ref`` once for both (its within-set term then cancels exactly), and with ``paired=True`` (row i
    of a and of b come from one source image, e.g. a photo and its translation: equal row counts) the same
    source images for both too. The interval is then that of the difference itself.

    ``resample_reference=False`` keeps ``ref`` fixed: the interval then answers "closer to *these* reference
    images?", counting only the luck of which images are in a and b. With a small reference (a few dozen
    paintings standing for a whole collection) that is much narrower than the default, which also counts
    the luck of which paintings stand for the collection; report which one you quote."""
    a, b, ref = a.double(), b.double(), ref.double()
    m, n = a.shape[0], b.shape[0]
    if paired and m != n:
        raise OptionError(f"A paired KID difference needs one row per source image in both sets, got {m} and {n}.")
    if min(m, n, ref.shape[0]) < 2:
        raise InputError(f"KID needs at least 2 images in each set, got {m}, {n} and {ref.shape[0]}.")
    if n_bootstrap < 1 or not 0 < level < 1:
        raise OptionError("A KID difference needs n_bootstrap >= 1 and 0 < level < 1.")
    g = torch.Generator().manual_seed(seed)
    r = ref.shape[0]
    krr = polynomial_kernel(ref, ref)
    ka = polynomial_kernel(a, a), krr, polynomial_kernel(a, ref)
    kb = polynomial_kernel(b, b), krr, polynomial_kernel(b, ref)
    out = []
    for start in range(0, n_bootstrap, 100):
        k = min(100, n_bootstrap - start)
        # one resample of the reference for both sets (its within-set term then cancels exactly)
        v = _resample(k, r, g) if resample_reference else torch.ones(k, r, dtype=torch.float64)
        wa = _resample(k, m, g)
        wb = wa if paired else _resample(k, n, g)
        out.append(_resampled_mmd2(*ka, wa, v) - _resampled_mmd2(*kb, wb, v))
    low, high = _interval(torch.cat(out), level)
    kid_a, kid_b = mmd2_unbiased(a, ref), mmd2_unbiased(b, ref)  # the whole sets (no subsets: a U-statistic)
    return {"difference": kid_a - kid_b, "low": low, "high": high, "kid_a": kid_a, "kid_b": kid_b,
            "paired": paired, "resample_reference": resample_reference, "n_bootstrap": n_bootstrap}


def kid_folders(a, b, *, vgg=None, size: int = KID_SIZE, device=None, **options) -> dict:
    """KID between the images of ``a`` and ``b`` (each a folder, or files/folders); :func:`kid`'s dict plus
    ``skipped_a`` / ``skipped_b`` (unreadable files) and ``size``."""
    fa, used_a = collection_features(a, vgg=vgg, size=size, device=device, what="The first image set")
    fb, used_b = collection_features(b, vgg=vgg, size=size, device=device, what="The second image set")
    result = kid(fa, fb, **options)
    result["skipped_a"] = len(image_files(a)) - len(used_a)
    result["skipped_b"] = len(image_files(b)) - len(used_b)
    result["size"] = size
    return result

