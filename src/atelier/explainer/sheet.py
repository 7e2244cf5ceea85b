"""The pictures of ``atelier explain``: heat maps over the painting, the bar chart of the layers' shares,
and the sheet that puts them together (PIL and a matplotlib colour map; no figure is made)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from .. import io

TILE = 200  # width of one tile of the sheet, pixels
PAD, LABEL = 8, 18  # gaps between tiles, height of a label line
INK, PAPER, BAR = (30, 30, 30), (250, 248, 242), (176, 64, 48)


def _font(size: int = 13):
    try:
        return ImageFont.load_default(size=size)  # a scalable font with FreeType (Pillow >= 10.1)
    except TypeError:  # an older Pillow: the bitmap font
        return ImageFont.load_default()


def heat_overlay(painting: torch.Tensor, response: torch.Tensor, *, alpha: float = 0.65) -> torch.Tensor:
    """``response`` (h,w), a layer's projection on one direction, as a colour map (inferno: dark = weak,
    yellow = strong; the 2nd to 98th percentiles span the scale) blended over the painting (1,3,H,W) in
    grey: (1,3,H,W) in [0,1]."""
    from matplotlib import colormaps

    hw = tuple(painting.shape[-2:])
    r = F.interpolate(response[None, None].float(), size=hw, mode="bilinear", align_corners=False)[0, 0]
    lo, hi = torch.quantile(r.flatten(), torch.tensor([0.02, 0.98]))
    r = ((r - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    heat = torch.from_numpy(colormaps["inferno"](r.numpy())[..., :3]).float().permute(2, 0, 1)[None]
    grey = (0.299 * painting[:, 0] + 0.587 * painting[:, 1] + 0.114 * painting[:, 2])[:, None].expand(-1, 3, -1, -1)
    return (alpha * heat + (1 - alpha) * grey.cpu()).clamp(0, 1)


def share_chart(shares: dict[str, float], width: int = 5 * TILE, height: int = 220) -> Image.Image:
    """A bar chart of each layer's share of the remaining style loss, the percentage above each bar."""
    img = Image.new("RGB", (width, height), PAPER)
    draw, font = ImageDraw.Draw(img), _font()
    n = len(shares)
    col = width / n
    top, base = LABEL + 4, height - LABEL - 4
    for i, (layer, share) in enumerate(shares.items()):
        x0, x1 = i * col + col * 0.25, i * col + col * 0.75
        y = base - (base - top) * share
        draw.rectangle([x0, y, x1, base], fill=BAR)
        draw.text((i * col + col / 2, y - 2), f"{100 * share:.0f} %", fill=INK, font=font, anchor="md")
        draw.text((i * col + col / 2, base + 4), layer, fill=INK, font=font, anchor="ma")
    draw.line([0, base, width, base], fill=INK)
    return img


def _tile(image: torch.Tensor, width: int = TILE) -> Image.Image:
    pil = io.to_pil(image.clamp(0, 1).cpu())
    return pil.resize((width, max(1, round(pil.height * width / pil.width))), Image.LANCZOS)


def compose(title: str, painting: torch.Tensor, reconstructions: list[dict], heat: dict[str, list[torch.Tensor]],
            shares: dict[str, list[float]], result: torch.Tensor | None = None,
            chart: Image.Image | None = None) -> Image.Image:
    """The sheet: (a) the painting and its five reconstructions; (b) one row per direction, one column per
    layer, each heat map labelled with its share of the layer's energy; (c) with a result, the result and
    the chart of the layers' shares of its remaining style loss."""
    font, big = _font(13), _font(16)
    th = _tile(painting).height
    cols = 1 + len(reconstructions)
    n_dirs = max(len(v) for v in heat.values())
    width = PAD + cols * (TILE + PAD)
    sections = [("(a) Style reconstructions from white noise (Gatys et al. 2016, Fig. 1)", 1),
                ("(b) Leading directions of each layer's Gram matrix, where the painting responds", n_dirs)]
    if result is not None:
        sections.append(("(c) The result's remaining style loss, by layer", 1))
    height = PAD + LABEL + 8 + sum(LABEL + 6 + rows * (LABEL + th + PAD) for _, rows in sections)
    sheet = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(sheet)
    draw.text((PAD, PAD), title, fill=INK, font=big)
    y = PAD + LABEL + 8

    def put(img: Image.Image, col: int, label: str, yy: int) -> None:
        x = PAD + col * (TILE + PAD)
        draw.text((x, yy), label, fill=INK, font=font)
        sheet.paste(img, (x, yy + LABEL))

    def header(text: str, yy: int) -> int:
        draw.text((PAD, yy), text, fill=INK, font=big)
        return yy + LABEL + 6

    y = header(sections[0][0], y)
    put(_tile(painting), 0, "painting", y)
    for i, rec in enumerate(reconstructions):
        put(_tile(rec["image"]), i + 1, rec["layers"][-1] if i == 0 else f"+ {rec['layers'][-1]}", y)
    y += LABEL + th + PAD
    y = header(sections[1][0], y)
    for d in range(n_dirs):
        draw.text((PAD, y + LABEL + th // 2), f"direction {d + 1}", fill=INK, font=font)
        for j, layer in enumerate(heat):
            if d < len(heat[layer]):
                put(_tile(heat[layer][d]), j + 1, f"{layer}: {100 * shares[layer][d]:.0f} % of energy", y)
        y += LABEL + th + PAD
    if result is not None:
        y = header(sections[2][0], y)
        put(_tile(result), 0, "result", y)
        if chart is not None:
            c = chart.resize((cols * (TILE + PAD) - TILE - 2 * PAD, th + LABEL))
            sheet.paste(c, (PAD + TILE + PAD, y))
    return sheet
