"""Regions that match: ``--style-mask`` (painting regions chosen by hand) and ``--semantic auto|K`` (found).

Gatys, Ecker, Bethge, Hertzmann & Shechtman 2017, "Controlling Perceptual Factors in Neural Style Transfer"
(CVPR), §4: with guidance channels on both images, the style target of a photo region is the (guided) Gram
matrix of the paired painting region, "the sky of the photo takes the sky of the painting". ``--mask`` gives
the photo's regions (one per style); ``--style-mask`` gives, per style, the painting's region its statistics
are taken over (the same painting may be given twice with two style masks). Methods whose capabilities say
``style_masks``: gatys (guided Grams of the painting), adain (masked mean and std), wct (masked covariance),
sanet (the attention's keys restricted to the masked positions).

``--semantic auto|K`` finds the regions without a segmentation network (:mod:`atelier.ops.regions`: k-means
over VGG-19 relu3_1+relu4_1 features with spatial smoothing, colour and position), pairs the photo's regions
with the painting's by feature similarity, and runs the same guided transfer: K copies of the one painting,
each with its region's style mask, each photo region as its ``--mask``. A run option, as ``--protect`` is:
declared here (:class:`SemanticOptions`, torch-free, for the CLI and the web form), checked by
``atelier.prepare`` (:func:`check_regions`), applied by ``atelier.run`` (:func:`find_regions`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import OptionError
from .options import Config, option

logger = logging.getLogger(__name__)

HELP = ("Split the photo and the painting into regions by clustering VGG-19 features and paint each photo "
        "region from the painting region most like it: 'auto' (2 to 4 regions) or a number of regions K; "
        "'off' = the whole painting everywhere.")
PAPER = "Gatys et al. 2017 §4 (guided Gram matrices); k-means of VGG features (cf. Collins et al. 2018, DFF)"
MAX_K = 16
ANALYSIS_SIZE = 320  # long side the regions are found at (VGG up to relu4_1; smaller images at their size)
MIN_SIDE = 16  # relu4_1 (stride 8) keeps 2 positions, relu3_1's grid 4


@dataclass
class SemanticOptions(Config):
    """The run option ``semantic`` as a declared field (the CLI's and the web form's entry)."""

    HELP: ClassVar[str] = HELP
    semantic: str = option("off", HELP, PAPER, metavar="auto|K", texture=False)


def parse(value) -> int | str | None:
    """'off'/None -> None, 'auto' -> 'auto', a whole number 1..MAX_K (or its text) -> K; one sentence else."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("", "off", "none")):
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        k = int(value.strip()) if isinstance(value, str) else value
    except ValueError:
        k = None
    if isinstance(k, bool) or not isinstance(k, int):
        raise OptionError(f"--semantic takes 'auto', 'off' or a number of regions, not {value!r}.")
    if not 1 <= k <= MAX_K:
        raise OptionError(f"--semantic needs between 1 and {MAX_K} regions, not {k}.")
    return k


def check_regions(method: str, caps, *, semantic=None, n_styles: int = 0, n_masks=None, n_style_masks=None,
          video: bool = False, texture: bool = False, scale_mix: bool = False, able: str = "") -> Any:
    """Refuse what cannot be honoured, in one sentence; returns the parsed ``semantic`` (None when off).
    Style masks: a method whose capabilities say ``style_masks``, one per style, photos only. ``semantic``:
    such a method with photo masks too, one painting, no masks or style masks of the user's, no mixing by
    scale."""
    k = parse(semantic)
    if n_style_masks is not None or k is not None:
        what = "--style-mask" if k is None else "--semantic"
        if not (caps.style_masks and (k is None or caps.masks)):
            raise OptionError(f"The {method} method cannot take the style of a region of the painting: {what} "
                              f"needs one of: {able}.")
        if video or texture:
            raise OptionError(f"{what} applies to a photo, not to video or textures.")
    if n_style_masks is not None and n_style_masks != n_styles:
        raise OptionError(f"There are {n_style_masks} style mask(s) for {n_styles} style image(s); give one style "
                          "mask per style, over that painting.")
    if k is not None:
        if n_styles != 1 or scale_mix:
            raise OptionError(f"--semantic pairs the regions of one painting with the photo's, not of {n_styles} "
                              "paintings or of --coarse-style/--fine-style.")
        if n_masks is not None or n_style_masks is not None:
            raise OptionError("--semantic finds the regions itself: give it without --mask and --style-mask.")
    return k


@dataclass
class Regions:
    """What :func:`find_regions` found: K soft masks of the photo and of the painting (paired: photo region
    i takes painting region i), each (1,1,H,W) at its image's analysis size, the overlay and the record."""

    photo_masks: list
    painting_masks: list
    overlay: Any  # (1,3,h,w') in [0,1]: photo and painting side by side, paired regions in one colour
    record: dict


def find_regions(photo, painting, k, *, weights: str = "pretrained", device=None) -> Regions:
    """Regions of ``photo`` and ``painting`` ((1,3,H,W) in [0,1]) for ``k`` ('auto' or a count): clustered
    (:mod:`atelier.ops.regions`) at ANALYSIS_SIZE and paired. A K larger than the images allow (MIN_POSITIONS
    per region on the relu3_1 grid, or clusters that come out empty) is reduced, with a warning."""
    import torch

    from .features import get_vgg19
    from .ops import regions as R

    vgg = get_vgg19(weights=weights, device=device or photo.device)
    images = [_analysis_image(x) for x in (photo, painting)]
    with torch.no_grad():
        desc = [R.descriptors(vgg(x, R.LAYERS), x) for x in images]  # [(points, deep, colour, grid)] per image
    desc = [(p.cpu(), d.cpu(), c.cpu(), g) for p, d, c, g in desc]
    limit = max(1, min(p.shape[0] for p, *_ in desc) // R.MIN_POSITIONS)
    record: dict = {"asked": k, "layers": list(R.LAYERS), "analysis_size": ANALYSIS_SIZE}
    if k == "auto":
        ks = [c for c in R.AUTO_KS if c <= limit] or [min(R.AUTO_KS[0], limit)]
        runs = {c: [(p, *R.cluster(p, g, c)) for p, _, _, g in desc] for c in ks}
        k, record["silhouettes"] = R.choose_k(runs)
        labels = [(lab, m) for _, lab, m in runs[k]]
    else:
        if k > limit:
            _warn(record, f"--semantic {k}: the images allow at most {limit} region(s) at this size; using {limit}.")
            k = limit
        labels = [R.cluster(p, g, k) for p, _, _, g in desc]
    while min(m for _, m in labels) < k:  # a cluster came out empty (flat image): fewer regions for both
        fewer = min(m for _, m in labels)
        _warn(record, f"--semantic: only {fewer} distinct region(s) found in the images; using {fewer}.")
        k = fewer
        labels = [R.cluster(p, g, k) for p, _, _, g in desc]
    (lp, _), (ls, _) = labels
    pairs = R.pair_regions(*(R.region_means(d, c, lab, g, k) for (_, d, c, g), lab in zip(desc, (lp, ls))))
    lut = torch.empty(k, dtype=torch.long)
    lut[torch.tensor(pairs)] = torch.arange(k)  # painting region pairs[i] becomes region i
    ls = lut[ls]
    photo_masks = [m.to(photo.device) for m in R.label_masks(lp, desc[0][3], k, tuple(images[0].shape[-2:]))]
    painting_masks = [m.to(photo.device) for m in R.label_masks(ls, desc[1][3], k, tuple(images[1].shape[-2:]))]
    height = min(256, max(images[0].shape[-2], images[1].shape[-2]))
    sheet = R.side_by_side(R.overlay(images[0].cpu(), [m.cpu() for m in photo_masks], height),
                           R.overlay(images[1].cpu(), [m.cpu() for m in painting_masks], height))
    record.update(k=k, photo_shares=_shares(lp, k), painting_shares=_shares(ls, k))
    return Regions(photo_masks, painting_masks, sheet, record)


def _analysis_image(x):
    """The image at most ANALYSIS_SIZE on its long side, and at least MIN_SIDE on its short side (a tiny
    photo is enlarged so relu4_1 still has positions)."""
    from . import io

    h, w = x.shape[-2:]
    if max(h, w) > ANALYSIS_SIZE:
        return io.resize(x, io.fit_size(h, w, ANALYSIS_SIZE))
    if min(h, w) < MIN_SIDE:
        f = MIN_SIDE / min(h, w)
        return io.resize(x, (max(MIN_SIDE, round(h * f)), max(MIN_SIDE, round(w * f))))
    return x


def _shares(labels, k: int) -> list[float]:
    import torch

    return [round(float(v), 3) for v in torch.bincount(labels, minlength=k).float() / len(labels)]


def _warn(record: dict, sentence: str) -> None:
    logger.warning(sentence)
    record.setdefault("warnings", []).append(sentence)
