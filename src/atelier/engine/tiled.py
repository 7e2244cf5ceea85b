"""The perceptual loss and its gradient computed tile by tile, so memory is bounded by the tile size.

The Gram style loss is global (one Gram matrix per layer over the whole image), but a Gram matrix is a
*sum* over positions, so it splits over tiles exactly. One evaluation therefore takes two passes:

1. no gradient: accumulate every style layer's (guided) Gram sum over the tile cores -> G(x), and the
   style term's value ||G - T||^2 / ||T||^2;
2. per tile, with gradient: a surrogate whose gradient with respect to the tile's core features equals
   that of the full loss, 2 <D, F F^T / N> with D = (G - T) / ||T||^2 fixed from pass 1 (because
   d/dF ||G - T||^2 / ||T||^2 = 4 D F / N), plus the tile's share of the content term, which is a plain
   sum over positions. Backpropagating it through the crop gives the crop's pixel gradient, accumulated
   into the image's.

Both passes see each core inside a crop with a halo of context; features inside the core then equal those
of the whole image up to the effect of the crop border (zero padding) beyond the halo, which is what the
seam error in benchmarks/large.py measures. The optimiser sees an ordinary loss: ``__call__`` returns the
named terms, with ``total`` carrying the precomputed gradient into autograd.
"""

from __future__ import annotations

import torch

from ..features import STRIDE
from ..losses import ContentLoss, PerceptualLoss, resize_mask, tv_loss
from ..ops.tiling import Tile, grid


class _WithGradient(torch.autograd.Function):
    """value in forward; the precomputed d(value)/d(image) in backward."""

    @staticmethod
    def forward(ctx, image, value, grad):
        ctx.save_for_backward(grad)
        return value.clone()

    @staticmethod
    def backward(ctx, g):
        (grad,) = ctx.saved_tensors
        return g * grad, None, None


class TiledLoss:
    """Drop-in for :class:`PerceptualLoss` on large images: same targets, terms and weights."""

    def __init__(self, loss: PerceptualLoss, *, tile: int, halo: int = 64):
        self.loss, self.tile, self.halo = loss, tile, halo
        # Per-target constants, computed once when targets change rather than on every evaluation.
        self._content_norms: dict[str, float] = {}
        self._layer_masks: list | None = None
        self._content_weights: dict[str, torch.Tensor | None] = {}

    def _tiles(self, image: torch.Tensor) -> list[Tile]:
        return grid(image.shape[-2], image.shape[-1], self.tile, self.halo)

    @torch.no_grad()
    def _assemble(self, image: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        """Whole-image features of ``layers`` put together from tile cores (no gradient)."""
        out = {}
        for t in self._tiles(image):
            ys, xs = t.crop_slices()
            feats = self.loss.features(image[..., ys, xs], layers)
            for k in layers:
                f, s = feats[k], STRIDE[k]
                if k not in out:
                    h, w = image.shape[-2] // s, image.shape[-1] // s
                    out[k] = f.new_zeros(f.shape[0], f.shape[1], h, w, dtype=torch.float32)
                cy, cx = t.core_in_crop(s)
                iy, ix = t.core_in_image(s)
                out[k][..., iy, ix] = f[..., cy, cx].float()
        return out

    @torch.no_grad()
    def set_content(self, content: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        feats = self._assemble(content, self.loss.content_layers)
        self.loss.content_losses = torch.nn.ModuleDict({k: ContentLoss(v, weights) for k, v in feats.items()})
        self._content_norms = {k: float(v.pow(2).sum()) + 1e-8 for k, v in feats.items()}
        # per-position content weights at each content layer's resolution (whole image), or None
        self._content_weights = {k: None if weights is None else resize_mask(weights.float(), tuple(v.shape[-2:]))
                                 for k, v in feats.items()}

    @torch.no_grad()
    def style_grams(self, style: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """As ``PerceptualLoss.style_grams``: guided by ``mask`` (1,1,h,w) over the painting, if given."""
        if mask is None:
            return self._grams(style, [None])[0]
        h, w = style.shape[-2:]
        per_layer = {k: resize_mask(mask.float(), (h // STRIDE[k], w // STRIDE[k])) for k in self.loss.style_layers}
        return self._grams(style, [per_layer])[0]

    def set_styles(self, grams, weights, masks=None, layer_weights=None, guide=None) -> None:
        self.loss.set_styles(grams, weights, masks, layer_weights, guide)
        self._layer_masks = None

    def _masks(self, image) -> list[dict[str, torch.Tensor] | None]:
        """Each region's mask at every style layer's resolution (whole image), or None."""
        out = []
        for region in self.loss.style_losses:
            m = region[0].mask
            if m is None:
                out.append(None)
                continue
            out.append({k: resize_mask(m.float(), (image.shape[-2] // STRIDE[k], image.shape[-1] // STRIDE[k]))
                        for k in self.loss.style_layers})
        return out

    @torch.no_grad()
    def _grams(self, image, masks) -> list[dict[str, torch.Tensor]]:
        """Per region, the (guided) Gram matrix of each style layer, summed over tile cores."""
        layers = self.loss.style_layers
        sums = [{k: 0.0 for k in layers} for _ in masks]
        norms = [{k: 0.0 for k in layers} for _ in masks]
        for t in self._tiles(image):
            ys, xs = t.crop_slices()
            feats = self.loss.features(image[..., ys, xs], layers)
            for r, mk in enumerate(masks):
                for k in layers:
                    cy, cx = t.core_in_crop(STRIDE[k])
                    f = feats[k][..., cy, cx].float()
                    if mk is not None:
                        iy, ix = t.core_in_image(STRIDE[k])
                        m = mk[k][..., iy, ix]
                        f = f * m
                        norms[r][k] += float(m.pow(2).sum())
                    else:
                        norms[r][k] += f.shape[-2] * f.shape[-1]
                    fl = f.flatten(2)
                    sums[r][k] = sums[r][k] + fl @ fl.transpose(1, 2)
        return [{k: sums[r][k] / max(norms[r][k], 1e-8) for k in layers} for r in range(len(masks))]

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        lo = self.loss
        has_style = len(lo.style_losses) > 0
        if has_style and self._layer_masks is None:
            self._layer_masks = self._masks(image)
        masks = self._layer_masks if has_style else []
        # Pass 1: global Gram matrices, the style value and the fixed coefficients D of the surrogate.
        coeffs, style_value = [], image.new_zeros(())
        if has_style:
            grams = self._grams(image.detach(), masks)
            for r, (region, rw) in enumerate(zip(lo.style_losses, lo.region_weights)):
                per_layer = {}
                for gl, k, lw in zip(region, lo.style_layers, lo.style_layer_weights):
                    t = gl.target
                    tn = t.pow(2).sum() + 1e-8
                    style_value = style_value + rw * lw * (grams[r][k] - t).pow(2).sum() / tn
                    per_layer[k] = lo.style_weight * rw * lw * 2 * (grams[r][k] - t) / tn  # (1,C,C)
                coeffs.append(per_layer)
        # Pass 2: per tile, backpropagate the surrogate through the crop.
        grad = torch.zeros_like(image)
        content_value = image.new_zeros(())
        n_content = max(1, len(lo.content_losses))
        norms = self._content_norms
        layers = set(lo.content_losses) | (set(lo.style_layers) if has_style else set())
        for t in self._tiles(image):
            ys, xs = t.crop_slices()
            crop = image.detach()[..., ys, xs].clone().requires_grad_(True)
            with torch.enable_grad():
                feats = lo.features(crop, layers)
                surrogate = crop.new_zeros(())
                for k, c in lo.content_losses.items():
                    cy, cx = t.core_in_crop(STRIDE[k])
                    iy, ix = t.core_in_image(STRIDE[k])
                    sq = (feats[k][..., cy, cx].float() - c.target[..., iy, ix]).pow(2)
                    cw = self._content_weights.get(k)
                    part = (sq if cw is None else cw[..., iy, ix] * sq).sum() / norms[k] / n_content
                    content_value = content_value + part.detach()
                    surrogate = surrogate + lo.content_weight * part
                for r, mk in enumerate(masks):
                    for k in lo.style_layers:
                        cy, cx = t.core_in_crop(STRIDE[k])
                        f = feats[k][..., cy, cx].float()
                        if mk is not None:
                            iy, ix = t.core_in_image(STRIDE[k])
                            f = f * mk[k][..., iy, ix]
                            n = float(mk[k].pow(2).sum()) + 1e-8
                        else:
                            n = (image.shape[-2] // STRIDE[k]) * (image.shape[-1] // STRIDE[k])
                        fl = f.flatten(2)
                        surrogate = surrogate + (coeffs[r][k] * (fl @ fl.transpose(1, 2))).sum() / n
                surrogate.backward()
            grad[..., ys, xs] += crop.grad
        value = lo.content_weight * content_value + lo.style_weight * style_value
        terms = {
            "content": lo.content_weight * content_value,
            "style": lo.style_weight * style_value,
            "tv": lo.tv_weight * tv_loss(image) if lo.tv_weight else image.new_zeros(()),
        }
        terms["total"] = _WithGradient.apply(image, value.detach(), grad) + terms["tv"]
        return terms
