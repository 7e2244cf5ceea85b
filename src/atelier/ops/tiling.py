"""Tile geometry for processing images larger than memory allows.

An image is split into a grid of *cores* that partition it exactly; each core is processed inside a
*crop* that extends it by a *halo* on every side (clipped at the image border), so that the network sees
the core's surroundings and the core's features match those of the whole image up to the halo's reach.
Core and crop edges are multiples of ``align`` (16 for VGG-19 up to relu5_1: four 2x poolings) so that
pooling windows in a crop line up with those of the whole image and a core maps exactly onto feature rows
and columns at every layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tile:
    core: tuple[int, int, int, int]  # y0, y1, x0, x1 in image pixels; the cores partition the image
    crop: tuple[int, int, int, int]  # y0, y1, x0, x1: the core plus the halo, clipped to the image

    def crop_slices(self) -> tuple[slice, slice]:
        y0, y1, x0, x1 = self.crop
        return slice(y0, y1), slice(x0, x1)

    def core_in_crop(self, stride: int = 1) -> tuple[slice, slice]:
        """Where the core lies inside the crop's feature map of the given stride."""
        (cy0, cy1, cx0, cx1), (ry0, _, rx0, _) = self.core, self.crop
        return (slice((cy0 - ry0) // stride, (cy1 - ry0) // stride),
                slice((cx0 - rx0) // stride, (cx1 - rx0) // stride))

    def core_in_image(self, stride: int = 1) -> tuple[slice, slice]:
        """Where the core lies in the whole image's feature map of the given stride."""
        y0, y1, x0, x1 = self.core
        return slice(y0 // stride, y1 // stride), slice(x0 // stride, x1 // stride)


def grid(height: int, width: int, tile: int, halo: int, align: int = 16) -> list[Tile]:
    """Tiles of (at most) ``tile`` x ``tile`` core pixels with ``halo`` pixels of context, row-major."""
    if tile < align or tile % align or halo % align:
        raise ValueError(f"tile ({tile}) and halo ({halo}) must be multiples of {align}, tile >= {align}")
    tiles = []
    for y0 in range(0, height, tile):
        y1 = min(height, y0 + tile)
        for x0 in range(0, width, tile):
            x1 = min(width, x0 + tile)
            crop = (max(0, y0 - halo), min(height, y1 + halo), max(0, x0 - halo), min(width, x1 + halo))
            tiles.append(Tile((y0, y1, x0, x1), crop))
    return tiles


def tile_for_budget(budget_bytes: float, bytes_per_pixel: float, halo: int, align: int = 16) -> int:
    """The largest aligned core size whose crop (core + 2 halos per side) fits ``budget_bytes``."""
    side = int((budget_bytes / bytes_per_pixel) ** 0.5) - 2 * halo
    return max(align, side // align * align)


# ----------------------------------------------------------------------------------------------------
# Overlapping tiles blended into one output (feed-forward networks: issue 5)
#
# ``grid`` above serves losses, whose per-tile terms add up exactly. A feed-forward network's output is
# instead an image: each tile is run with its surroundings and neighbouring tiles are cross-faded in their
# overlap, so that no tile edge (where the network saw padding instead of context) shows as a seam.


def blend_spans(length: int, tile: int, overlap: int, align: int = 1) -> list[tuple[int, int]]:
    """1-D tiles (start, end) covering ``[0, length)``: as few as possible, evenly spread, at most ``tile``
    long (the last one up to ``tile + align - 1``), consecutive ones overlapping by at least ``overlap``,
    starts multiples of ``align``.

    Aligned starts keep a tile's stride-``align`` sampling grid on the whole image's grid (4 for a network
    that downsamples twice by 2), so a tile sees the same pixel phases as the untiled run.
    """
    if tile < 1 or overlap < 0 or align < 1 or tile % align or overlap % align:
        raise ValueError(f"tile ({tile}) and overlap ({overlap}) must be multiples of align ({align}), "
                         "tile >= 1")
    if 2 * overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be less than half the tile ({tile})")
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))  # n tiles of stride <= tile - overlap reach the end
    # Even starts rounded down to the grid: strides stay multiples of ``align`` and <= tile - overlap.
    starts = [int(i * (length - tile) / (n - 1)) // align * align for i in range(n)]
    starts = [s for s, nxt in zip(starts, [*starts[1:], None]) if s != nxt]  # rounding may repeat a start
    return [(s, min(s + tile, length)) for s in starts[:-1]] + [(starts[-1], length)]


def blend_windows(spans: list[tuple[int, int]], length: int) -> list[torch.Tensor]:
    """One 1-D weight vector per span (its own length) that sum to exactly 1 at every position.

    A weight is 1 inside its span and falls with a raised cosine across each overlap with a neighbour
    (0.5 - 0.5 cos(pi t), t in (0, 1)): two neighbours' ramps are mirror images and sum to 1, and the tile
    edge, where padding replaced context, gets weight near 0. Dividing by the sum makes it exact (also
    where three short tiles would overlap).
    """
    windows = []
    for i, (s, e) in enumerate(spans):
        w = torch.ones(e - s, dtype=torch.float64)
        if i > 0 and spans[i - 1][1] > s:  # rising over the overlap with the previous span
            n = spans[i - 1][1] - s
            t = (torch.arange(n, dtype=torch.float64) + 0.5) / n
            w[:n] = 0.5 - 0.5 * torch.cos(torch.pi * t)
        if i + 1 < len(spans) and spans[i + 1][0] < e:  # falling over the overlap with the next span
            n = e - spans[i + 1][0]
            t = (torch.arange(n, dtype=torch.float64) + 0.5) / n
            w[-n:] = w[-n:] * (0.5 + 0.5 * torch.cos(torch.pi * t))
        windows.append(w)
    total = torch.zeros(length, dtype=torch.float64)
    for (s, e), w in zip(spans, windows):
        total[s:e] += w
    return [w / total[s:e] for (s, e), w in zip(spans, windows)]


def run_blended(fn, image: torch.Tensor, tile: int, overlap: int, *, align: int = 1,
                on_tile=None) -> torch.Tensor:
    """``fn`` applied to ``image`` (B,C,H,W) tile by tile, the tiles cross-faded in their overlaps.

    ``fn`` maps a crop (B,C,h,w) to (B,C',h,w) (same size). Weights are separable, w(y,x) = wy(y) wx(x),
    and each axis's weights sum to 1 (``blend_windows``), so the 2-D weights sum to 1 everywhere: for a
    pointwise ``fn`` the result equals ``fn(image)`` up to rounding. Memory: the output (B,C',H,W) plus one
    tile's work in ``fn``; no image-sized weight map is kept. ``on_tile(i, n)`` is called after each tile.
    """
    b, _, h, w = image.shape
    ys, xs = blend_spans(h, tile, overlap, align), blend_spans(w, tile, overlap, align)
    wys, wxs = blend_windows(ys, h), blend_windows(xs, w)
    out = None
    n, i = len(ys) * len(xs), 0
    for (y0, y1), wy in zip(ys, wys):
        for (x0, x1), wx in zip(xs, wxs):
            part = fn(image[..., y0:y1, x0:x1])  # (B,C',y1-y0,x1-x0)
            if out is None:
                out = torch.zeros(b, part.shape[1], h, w, dtype=part.dtype, device=part.device)
            weight = (wy[:, None] * wx[None, :]).to(part.dtype).to(part.device)  # (h_t, w_t)
            out[..., y0:y1, x0:x1] += part * weight
            i += 1
            if on_tile is not None:
                on_tile(i, n)
    return out


def blend_tile_count(height: int, width: int, tile: int, overlap: int, align: int = 1) -> tuple[int, int]:
    """(number of tiles, total pixels the tiles cover, overlaps counted twice) of ``run_blended``."""
    ys, xs = blend_spans(height, tile, overlap, align), blend_spans(width, tile, overlap, align)
    return len(ys) * len(xs), sum(e - s for s, e in ys) * sum(e - s for s, e in xs)
