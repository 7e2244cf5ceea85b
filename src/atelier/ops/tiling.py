"""Tile geometry for processing images larger than memory allows.

An image is split into a grid of *cores* that partition it exactly; each core is processed inside a
*crop* that extends it by a *halo* on every side (clipped at the image border), so that the network sees
the core's surroundings and the core's features match those of the whole image up to the halo's reach.
Core and crop edges are multiples of ``align`` (16 for VGG-19 up to relu5_1: four 2x poolings) so that
pooling windows in a crop line up with those of the whole image and a core maps exactly onto feature rows
and columns at every layer.
"""

from __future__ import annotations

from dataclasses import dataclass


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
