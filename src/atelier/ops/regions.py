"""Regions without a segmentation network: k-means over VGG-19 features, paired across two images.

``--semantic`` (``atelier/semantic.py``) splits the photo and the painting into K regions each and pairs them,
so that the guided Gram matrices of Gatys et al. 2017 ("Controlling Perceptual Factors in Neural Style
Transfer", §4) paint each photo region from its paired painting region. This module is the arithmetic,
torch only, on features the caller computed:

* per position, a descriptor (:func:`descriptors`): relu3_1 and relu4_1 (relu4_1 upsampled to relu3_1's grid,
  stride 4), each blurred by a 3x3 box filter twice (spatial smoothing: a region is a patch of similar
  texture, not a pixel), L2-normalised per position and weighted equally, plus the image's colour and the
  position, weighted lower (COLOUR_WEIGHT, POSITION_WEIGHT): colour separates sky from ground where the deep
  features of a painting's brush strokes look alike, position keeps a region in one piece;
* k-means (Lloyd's algorithm, k-means++ seeding, a fixed generator: the same image gives the same regions),
  then a 3x3 majority filter of the label map. Deep Feature Factorization (Collins, Achanta & Süsstrunk 2018,
  ECCV) factorises the same features by NMF into soft parts; k-means was chosen instead because the guided
  Grams want each position in one region (a partition; NMF's parts overlap and need a threshold), because it
  has no rank/sparsity to tune beyond K, and because it runs in a few milliseconds here (NMF needs hundreds
  of multiplicative updates);
* K chosen (``auto``, :func:`choose_k`): 2 to 4, the K with the highest mean silhouette (Rousseeuw 1987) of
  the two images' clusterings on a fixed subsample, a K whose smallest region holds under MIN_SHARE of an
  image not considered;
* pairs (:func:`pair_regions`): photo region i to painting region p(i), a one-to-one assignment maximising
  the summed similarity, the cosine of the regions' mean deep features minus PAIR_POSITION_WEIGHT x their
  centroids' distance and PAIR_COLOUR_WEIGHT x their mean colours' distance (exhaustive over the permutations up to K = 7, greedy above);
* soft masks (:func:`label_masks`): one-hot labels upsampled bilinearly, so the masks sum to 1 everywhere and
  region borders blend.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

LAYERS = ("relu3_1", "relu4_1")  # the grid is the first one's (stride 4)
COLOUR_WEIGHT = 0.5  # the RGB triple (in [0,1]) beside the unit-norm deep features
POSITION_WEIGHT = 0.5  # (y, x) in [0,1]
# Pairing: what a centroid distance of 1 (the image's side) costs against the cosine of the regions' deep
# features. A prior (a sky is high in both), kept below the cosine gap of different regions (~0.15 between
# flat blue and flat green at relu3_1+relu4_1), so what a region is decides before where it is.
PAIR_POSITION_WEIGHT = 0.25
# ... and what a distance of 1 between the regions' mean colours (RGB in [0,1]) costs: a sky is often
# painted in a sky's colours. Chosen on benchmarks/semantic_pairs.json (pairing 0.80 -> 0.90 of the hand
# regions with K = the hand count, against 0 here), so that benchmark does not test this choice independently.
PAIR_COLOUR_WEIGHT = 1.0
MIN_POSITIONS = 4  # a region needs at least this many positions of the grid
MIN_SHARE = 0.04  # auto: a K whose smallest region is under 4 % of an image is not chosen
AUTO_KS = (2, 3, 4)
SILHOUETTE_POINTS = 1024  # subsample of each image for the silhouette (pairwise distances: 1024^2)
PALETTE = torch.tensor([  # region colours of the overlay (paired regions share one)
    [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
    [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [220, 190, 255],
    [170, 110, 40], [255, 250, 200], [128, 0, 0], [0, 0, 128]], dtype=torch.float32) / 255


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Two 3x3 box filters (a small tent): (1,C,h,w) -> (1,C,h,w), borders averaged over what is inside."""
    for _ in range(2):
        x = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    return x


def descriptors(feats: dict[str, torch.Tensor], image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                              torch.Tensor, tuple]:
    """Per-position descriptors of one image: (all (N,D) for clustering, deep (N,D') and colour (N,3) for
    pairing, grid (h, w)).

    ``feats``: VGG features of ``image`` (1,3,H,W) at LAYERS; the grid is relu3_1's."""
    grid = tuple(feats[LAYERS[0]].shape[-2:])
    deep = []
    for k in LAYERS:
        f = F.interpolate(feats[k].float(), size=grid, mode="bilinear", align_corners=False)
        deep.append(F.normalize(_blur(f), dim=1) / math.sqrt(len(LAYERS)))  # each layer weighs the same
    deep = torch.cat(deep, 1)[0].flatten(1).T  # (N, 256 + 512)
    colour = F.interpolate(image.float(), size=grid, mode="area")[0].flatten(1).T  # (N, 3)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, grid[0]), torch.linspace(0, 1, grid[1]), indexing="ij")
    pos = torch.stack([ys.flatten(), xs.flatten()], 1).to(deep)  # (N, 2)
    colour = colour.to(deep)
    return torch.cat([deep, COLOUR_WEIGHT * colour, POSITION_WEIGHT * pos], 1), deep, colour, grid


def kmeans(x: torch.Tensor, k: int, *, seed: int = 0, iterations: int = 40) -> torch.Tensor:
    """Labels (N,) in 0..k-1 of points ``x`` (N,D) by Lloyd's algorithm from a k-means++ seeding (Arthur &
    Vassilvitskii 2007) drawn from a generator seeded by ``seed``. A cluster may end empty (duplicate points):
    the caller counts the labels."""
    g = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    centres = [x[int(torch.randint(n, (1,), generator=g))]]
    d2 = (x - centres[0]).pow(2).sum(1)
    for _ in range(1, k):  # each next centre drawn with probability proportional to its squared distance
        p = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1 / n)
        centres.append(x[int(torch.multinomial(p, 1, generator=g))])
        d2 = torch.minimum(d2, (x - centres[-1]).pow(2).sum(1))
    c = torch.stack(centres)  # (k, D)
    labels = torch.cdist(x, c).argmin(1)
    for _ in range(iterations):
        for j in range(k):
            members = labels == j
            if bool(members.any()):
                c[j] = x[members].mean(0)
        new = torch.cdist(x, c).argmin(1)
        if bool((new == labels).all()):
            break
        labels = new
    return labels


def majority(labels: torch.Tensor, grid: tuple[int, int], k: int) -> torch.Tensor:
    """A 3x3 majority filter of a label map (N,) on ``grid``: isolated positions join their neighbours."""
    onehot = F.one_hot(labels, k).T.float().reshape(1, k, *grid)
    return F.avg_pool2d(onehot, 3, stride=1, padding=1, count_include_pad=False)[0].flatten(1).argmax(0)


def compact(labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Labels renumbered 0..m-1 without gaps (empty clusters dropped), and m."""
    used = torch.unique(labels)
    lut = torch.full((int(labels.max()) + 1,), -1, dtype=torch.long)
    lut[used] = torch.arange(len(used))
    return lut[labels], len(used)


def silhouette(x: torch.Tensor, labels: torch.Tensor, *, points: int = SILHOUETTE_POINTS) -> float:
    """Mean silhouette (Rousseeuw 1987) of a clustering, on an evenly strided subsample of ``points``:
    (b - a) / max(a, b) per point, a its mean distance to its own cluster, b to the nearest other one."""
    step = max(1, x.shape[0] // points)
    x, labels = x[::step], labels[::step]
    k = int(labels.max()) + 1
    if k < 2:
        return -1.0
    d = torch.cdist(x, x)  # (n, n)
    onehot = F.one_hot(labels, k).float()  # (n, k)
    counts = onehot.sum(0)  # (k,)
    mean_to = d @ onehot / counts.clamp_min(1)  # (n, k): mean distance to each cluster
    own = labels
    a = (mean_to[torch.arange(len(own)), own] * counts[own] / (counts[own] - 1).clamp_min(1))  # exclude itself
    other = mean_to.clone()
    other[torch.arange(len(own)), own] = float("inf")
    other[:, counts == 0] = float("inf")
    b = other.min(1).values
    s = (b - a) / torch.maximum(a, b).clamp_min(1e-12)
    s[counts[own] <= 1] = 0.0
    return float(s.mean())


def cluster(x: torch.Tensor, grid: tuple[int, int], k: int) -> tuple[torch.Tensor, int]:
    """k-means then the majority filter: (labels (N,) without gaps, the number of regions kept)."""
    return compact(majority(kmeans(x, k), grid, k))


def choose_k(clusterings: dict[int, list[tuple[torch.Tensor, torch.Tensor, int]]]) -> tuple[int, dict]:
    """``auto``: {K: [(points, labels, regions kept) per image]} -> (K, {K: mean silhouette}). The K with the
    highest mean silhouette over the images, among those where every image kept K regions of at least
    MIN_SHARE of its positions (2 if none qualifies)."""
    scores = {}
    for k, per_image in clusterings.items():
        if any(m != k or float(torch.bincount(lab).min()) < MIN_SHARE * len(lab) for _, lab, m in per_image):
            continue
        scores[k] = sum(silhouette(x, lab) for x, lab, _ in per_image) / len(per_image)
    return (max(scores, key=scores.get) if scores else min(clusterings)), {k: round(v, 4) for k, v in scores.items()}


def region_means(deep: torch.Tensor, colour: torch.Tensor, labels: torch.Tensor, grid, k: int) -> tuple:
    """(mean deep descriptor (k,D'), centroid (k,2) in [0,1], mean colour (k,3)) of each region."""
    onehot = F.one_hot(labels, k).float()  # (N, k)
    counts = onehot.sum(0).clamp_min(1)[:, None]
    ys, xs = torch.meshgrid(torch.linspace(0, 1, grid[0]), torch.linspace(0, 1, grid[1]), indexing="ij")
    pos = torch.stack([ys.flatten(), xs.flatten()], 1)
    return onehot.T @ deep / counts, onehot.T @ pos / counts, onehot.T @ colour / counts


def pair_regions(photo: tuple, painting: tuple) -> list[int]:
    """p with photo region i paired to painting region p[i] (both K regions): the one-to-one assignment with
    the highest summed similarity, cos(mean deep features) - PAIR_POSITION_WEIGHT |centroid difference| -
    PAIR_COLOUR_WEIGHT |mean colour difference| (exhaustive up to K = 7, greedy above). ``photo``/``painting``:
    :func:`region_means`."""
    sim = (F.normalize(photo[0], dim=1) @ F.normalize(painting[0], dim=1).T
           - PAIR_POSITION_WEIGHT * torch.cdist(photo[1], painting[1])
           - PAIR_COLOUR_WEIGHT * torch.cdist(photo[2], painting[2]))
    k = sim.shape[0]
    if k <= 7:
        idx = torch.arange(k)
        best = max(itertools.permutations(range(k)), key=lambda p: float(sim[idx, list(p)].sum()))
        return list(best)
    out, free = [-1] * k, set(range(k))
    for flat in sim.flatten().argsort(descending=True).tolist():  # greedy: the most similar free pair first
        i, j = divmod(flat, k)
        if out[i] < 0 and j in free:
            out[i] = j
            free.discard(j)
    return out


def label_masks(labels: torch.Tensor, grid, k: int, size: tuple[int, int]) -> list[torch.Tensor]:
    """K soft masks (1,1,H,W) at ``size`` from a label map on ``grid``: one-hot upsampled bilinearly (they sum
    to 1 at every pixel)."""
    onehot = F.one_hot(labels, k).T.float().reshape(1, k, *grid)
    up = F.interpolate(onehot, size=size, mode="bilinear", align_corners=False)
    return [m[None, None] for m in up[0]]


def overlay(image: torch.Tensor, masks: list[torch.Tensor], height: int) -> torch.Tensor:
    """``image`` (1,3,H,W) at ``height`` with region i tinted PALETTE[i] (55 %), (1,3,height,w')."""
    h, w = image.shape[-2:]
    size = (height, max(1, round(w * height / h)))
    img = F.interpolate(image.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    tint = sum(F.interpolate(m.float(), size=size, mode="bilinear", align_corners=False)
               * PALETTE[i % len(PALETTE)].view(1, 3, 1, 1).to(img) for i, m in enumerate(masks))
    return (0.45 * img + 0.55 * tint).clamp(0, 1)


def side_by_side(left: torch.Tensor, right: torch.Tensor, gap: int = 8) -> torch.Tensor:
    """Two (1,3,h,*) images of one height beside each other on white, ``gap`` px apart."""
    white = torch.ones(1, 3, left.shape[-2], gap)
    return torch.cat([left.cpu(), white, right.cpu()], dim=-1)
