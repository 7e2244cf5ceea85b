"""A Haar cascade detector in numpy: OpenCV's cascade files evaluated without OpenCV's classifier.

Viola & Jones 2001, "Rapid Object Detection using a Boosted Cascade of Simple Features" (CVPR): rectangle
features summed from an integral image, boosted weak classifiers (here small trees, Lienhart & Maydt 2002)
grouped in stages that reject most windows early, a window slid over an image pyramid, and overlapping hits
grouped. Why not ``cv2.CascadeClassifier``: OpenCV 5 removed it (and its wheels ship no cascade files), and
pinning OpenCV 4 for it would change the video pipeline's OpenCV (its remap interpolates in 1/32 px
steps). The cascade files themselves are OpenCV's (``opencv-data`` in Debian, or the 4.x wheels).

What follows OpenCV 4's ``HaarEvaluator`` and ``detectMultiScale`` so the same file gives the same
decisions: a feature's value is sum_k weight_k * (pixel sum of rect_k), divided by the window's
normalisation area * std over the window less a 1-pixel border; a tree goes left when value < threshold;
a stage passes when its leaves' sum reaches the stage threshold; the image (not the window) is scaled by
``scale_factor`` per level, windows step 2 px (1 px once the image is reduced more than 2x); hits are
grouped as ``groupRectangles(min_neighbors, eps=0.2)`` groups them. Only upright features (no tilted
ones: the frontal-face cascades used here have none).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Stage:
    """One stage's trees as flat arrays (a tree's children: >= 0 a node of this stage, < 0 leaf -child - 1)."""

    threshold: float
    roots: np.ndarray  # (T,) each tree's first node
    left: np.ndarray  # (M,) child when value < threshold x norm
    right: np.ndarray  # (M,)
    node_threshold: np.ndarray  # (M,)
    rects: np.ndarray  # (M, R, 4) x, y, w, h of each node's feature (R = 3, unused rects weigh 0)
    weights: np.ndarray  # (M, R)
    leaves: np.ndarray  # (L,)


@dataclass(frozen=True)
class Cascade:
    size: tuple[int, int]  # (width, height) of the detection window
    stages: list[Stage]


def _numbers(el) -> list[str]:
    return el.text.split()


def _stage(el, features: list) -> Stage:
    roots, left, right, thr, leaves, feats = [], [], [], [], [], []
    for wc in el.find("weakClassifiers"):
        n = _numbers(wc.find("internalNodes"))
        node0, leaf0 = len(left), len(leaves)
        roots.append(node0)
        for i in range(0, len(n), 4):
            kids = [int(n[i]), int(n[i + 1])]
            kids = [node0 + c if c > 0 else -(leaf0 - c) - 1 for c in kids]
            left.append(kids[0])
            right.append(kids[1])
            feats.append(int(n[i + 2]))
            thr.append(float(n[i + 3]))
        leaves += [float(v) for v in _numbers(wc.find("leafValues"))]
    rects = np.zeros((len(feats), 3, 4), np.int64)
    weights = np.zeros((len(feats), 3))
    for m, f in enumerate(feats):
        for r, (x, y, w, h, wt) in enumerate(features[f]):
            rects[m, r], weights[m, r] = (x, y, w, h), wt
    return Stage(float(el.findtext("stageThreshold")), np.array(roots), np.array(left), np.array(right),
                 np.array(thr), rects, weights, np.array(leaves))


@lru_cache(maxsize=4)
def load_cascade(path: str) -> Cascade:
    """Parse an OpenCV (current format, HAAR, BOOST) cascade XML file."""
    root = ET.parse(path).getroot().find("cascade")
    if root is None or root.findtext("featureType", "").strip() != "HAAR":
        raise ValueError(f"{path} is not an OpenCV Haar cascade of the current format")
    features = []
    for ft in root.find("features"):
        if ft.findtext("tilted", "0").strip() == "1":
            raise ValueError(f"{path} has tilted features, which this evaluator does not compute")
        rects = [[float(v) for v in _numbers(r)] for r in ft.find("rects")]
        features.append([(int(x), int(y), int(w), int(h), wt) for x, y, w, h, wt in rects])
    size = (int(root.findtext("width")), int(root.findtext("height")))
    return Cascade(size, [_stage(st, features) for st in root.find("stages")])


def equalize_hist(grey: np.ndarray) -> np.ndarray:
    """(H,W) uint8 -> histogram-equalised uint8 (as cv2.equalizeHist: the cumulative histogram stretched)."""
    hist = np.bincount(grey.ravel(), minlength=256)
    cdf = np.cumsum(hist)
    first = cdf[np.nonzero(hist)[0][0]]
    total = grey.size
    if total == first:
        return grey.copy()
    lut = np.clip(np.round((cdf - first) * 255.0 / (total - first)), 0, 255).astype(np.uint8)
    return lut[grey]


def _integrals(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H+1,W+1) integral images of the pixels and of their squares (float64), a zero row and column first."""
    f = img.astype(np.float64)
    ii = np.zeros((f.shape[0] + 1, f.shape[1] + 1))
    sq = np.zeros_like(ii)
    ii[1:, 1:] = f.cumsum(0).cumsum(1)
    sq[1:, 1:] = (f * f).cumsum(0).cumsum(1)
    return ii, sq


def _rect_sums(flat: np.ndarray, stride: int, base: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """Pixel sums (N, ...) of rectangles ``rects`` (..., 4: x, y, w, h) in every window whose top-left corner
    has flat index ``base`` (N,) in the integral image ``flat``."""
    x, y, w, h = (rects[..., i] for i in range(4))
    a = (y * stride + x)[None] + base.reshape(-1, *([1] * (rects.ndim - 1)))
    return flat[a + h * stride + w] - flat[a + w] - flat[a + h * stride] + flat[a]


def _stage_sums(st: Stage, flat: np.ndarray, stride: int, base: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """The stage's sum of leaf values (N,) for windows ``base`` (N,) with normalisation ``norm`` (N,)."""
    values = (_rect_sums(flat, stride, base, st.rects) * st.weights[None]).sum(-1)  # (N, M) every node
    cur = np.broadcast_to(st.roots, (base.shape[0], st.roots.shape[0])).copy()  # (N, T) each tree's node
    while (active := cur >= 0).any():
        idx = np.where(active, cur, 0)
        go_left = np.take_along_axis(values, idx, axis=1) < st.node_threshold[idx] * norm[:, None]
        cur = np.where(active, np.where(go_left, st.left[idx], st.right[idx]), cur)
    return st.leaves[-cur - 1].sum(axis=1)


def _detect_level(img: np.ndarray, cascade: Cascade, step: int) -> np.ndarray:
    """Top-left corners (N, 2) as (x, y) of the windows of ``img`` that pass every stage."""
    ww, wh = cascade.size
    h, w = img.shape
    if h < wh or w < ww:
        return np.zeros((0, 2), int)
    ii, sq = _integrals(img)
    stride = w + 1
    ys, xs = np.mgrid[0:h - wh + 1:step, 0:w - ww + 1:step]
    base = (ys * stride + xs).ravel()
    flat = ii.ravel()
    # Normalisation over the window less a 1-pixel border (OpenCV's normrect): area * standard deviation.
    inner = np.array([1, 1, ww - 2, wh - 2])
    area = (ww - 2) * (wh - 2)
    s, s2 = _rect_sums(flat, stride, base, inner), _rect_sums(sq.ravel(), stride, base, inner)
    nf = area * s2 - s * s
    norm = np.where(nf > 0, np.sqrt(np.maximum(nf, 0)), 1.0)
    for st in cascade.stages:
        # chunks of windows, so (N, nodes, rects, corners) index arrays stay small
        chunk = max(1, 2_000_000 // (st.rects.shape[0] * 12))
        sums = np.concatenate([_stage_sums(st, flat, stride, base[i:i + chunk], norm[i:i + chunk])
                               for i in range(0, base.shape[0], chunk)]) if base.size else np.zeros(0)
        keep = sums >= st.threshold
        base, norm = base[keep], norm[keep]
        if base.size == 0:
            return np.zeros((0, 2), int)
    return np.stack([base % stride, base // stride], axis=1)


def _group(rects: list[tuple[float, float, float, float]], min_neighbors: int, eps: float = 0.2):
    """OpenCV's groupRectangles: cluster similar rectangles, average each cluster, keep those with more than
    ``min_neighbors`` members, and drop a kept rectangle that lies inside a larger, stronger one."""
    n = len(rects)
    label = list(range(n))

    def find(i):
        while label[i] != i:
            label[i] = label[label[i]]
            i = label[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            a, b = rects[i], rects[j]
            delta = eps * (min(a[2], b[2]) + min(a[3], b[3])) * 0.5
            if (abs(a[0] - b[0]) <= delta and abs(a[1] - b[1]) <= delta
                    and abs(a[0] + a[2] - b[0] - b[2]) <= delta and abs(a[1] + a[3] - b[1] - b[3]) <= delta):
                label[find(i)] = find(j)
    clusters: dict[int, list] = {}
    for i in range(n):
        clusters.setdefault(find(i), []).append(rects[i])
    groups = [(np.mean(np.asarray(c), axis=0), len(c)) for c in clusters.values() if len(c) > min_neighbors]
    out = []
    for r, cnt in groups:
        inside = False
        for r2, cnt2 in groups:
            if r2 is r:
                continue
            dx, dy = round(r2[2] * eps), round(r2[3] * eps)
            if (r[0] >= r2[0] - dx and r[1] >= r2[1] - dy and r[0] + r[2] <= r2[0] + r2[2] + dx
                    and r[1] + r[3] <= r2[1] + r2[3] + dy and (cnt2 > max(3, cnt) or cnt < 3)):
                inside = True
                break
        if not inside:
            out.append(tuple(float(v) for v in r))
    return out


def detect(grey: np.ndarray, cascade_path: str | Path, *, scale_factor: float = 1.1, min_neighbors: int = 5,
           min_size: int = 20) -> list[tuple[float, float, float, float]]:
    """Boxes (x, y, w, h) of ``grey`` (H,W) uint8 (already equalised if wanted) where the cascade fires."""
    cascade = load_cascade(str(cascade_path))
    ww, wh = cascade.size
    h, w = grey.shape
    rects = []
    factor = 1.0
    while round(w / factor) >= ww and round(h / factor) >= wh:
        if ww * factor >= min_size and wh * factor >= min_size:
            size = (round(w / factor), round(h / factor))
            level = _resize_area(grey, size) if factor > 1 else grey
            step = 1 if factor > 2 else 2
            for x, y in _detect_level(level.astype(np.float64), cascade, step):
                rects.append((x * factor, y * factor, ww * factor, wh * factor))
        factor *= scale_factor
    return _group(rects, min_neighbors)


def _resize_area(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H,W) -> (h,w) = size[::-1], bilinear with area pre-smoothing through PIL (uint8 in, uint8 out)."""
    from PIL import Image

    return np.asarray(Image.fromarray(grey).resize(size, Image.BILINEAR))
