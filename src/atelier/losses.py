"""Perceptual losses: content, Gram (optionally guided by masks), MRF patches, mean/std, total variation,
temporal.

Each loss is a pure function with shape checks plus a thin ``nn.Module`` holding its target (computed once,
without gradient). :class:`PerceptualLoss` is the container every method uses: it owns the targets and
returns named terms that logs, the CLI and the web page can show.

Normalisation (a deliberate deviation from Gatys et al. 2016, eq. 3-5, whose terms grow with the image
size and the feature magnitude): every term here is *relative* and *intensive*,

    content  = ||F(x) - F(c)||^2 / ||F(c)||^2                  at each content layer
    style    = ||G(x) - G(s)||^2 / ||G(s)||^2, G = F F^T / HW  at each style layer (Gram of mean products)
    mrf      = sum ||P(x) - P_NN||^2 / sum ||P_NN||^2           3x3 feature patches and their nearest
                                                               painting patches (Li & Wand 2016)
    tv       = mean of squared neighbour differences, image in [0,1]

so a term has the same meaning at 256 px and at 2048 px and one ``style_strength`` gives a similar look at
every size, and the per-layer terms are comparable without hand-tuned 1/N^2 M^2 factors.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .errors import OptionError
from .ops import patches

EPS = 1e-8
# Li & Wand 2016 §3-4: the MRF term acts on 3x3 patches of relu3_1 and relu4_1 (style_loss="mrf").
MRF_LAYERS = ("relu3_1", "relu4_1")
MRF_PATCH = 3


def _check_feats(x: torch.Tensor, name: str = "features") -> None:
    if x.dim() != 4:
        raise ValueError(f"{name} must be (B,C,H,W), got shape {tuple(x.shape)}")


def relative_sq_error(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||input - target||^2 / ||target||^2 per batch item, averaged over the batch. Shapes must match."""
    if input.shape[1:] != target.shape[1:]:
        raise ValueError(f"shape mismatch: {tuple(input.shape)} vs {tuple(target.shape)}")
    dims = tuple(range(1, input.dim()))
    num = (input - target).pow(2).sum(dims)
    den = target.pow(2).sum(dims) + EPS
    return (num / den).mean()


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B,1,H,W) soft mask -> (B,1,h,w) by area averaging (a guidance channel at a layer's resolution).

    Gatys et al. 2017 §4 propagate guidance channels through the network; area averaging is the simple
    variant they describe, kept soft so region borders blend.
    """
    if mask.shape[-2:] == tuple(size):
        return mask
    return F.interpolate(mask, size=size, mode="area") if mask.shape[-1] >= size[-1] else F.interpolate(
        mask, size=size, mode="bilinear", align_corners=False
    )


class _SymmetricProduct(torch.autograd.Function):
    """m (B,N,C) -> m^T m (B,C,C) in m's dtype. Backward: dL/dm = m (dL/dG + dL/dG^T), one product where
    autograd's bmm backward takes two (one per operand, though both are m) and then adds them."""

    @staticmethod
    def forward(ctx, m: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(m)
        return torch.bmm(m.transpose(1, 2), m)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (m,) = ctx.saved_tensors
        return torch.bmm(m, (grad + grad.transpose(1, 2)).to(m.dtype))  # (B,N,C), m's layout


def gram_matrix(feats: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,C,H,W) -> (B,C,C) Gram matrix of mean feature products, returned in fp32.

    With a mask (B|1,1,H',W', values in [0,1]) this is the guided Gram matrix of Gatys et al. 2017 §4:
    features are weighted by the mask at this layer's resolution and the sum is normalised by the mask's
    total weight, so a region's Gram does not depend on the region's size.

    The product is taken over the (B,HW,C) view of the channels_last VGG features, without a copy, and its
    backward is one product (:class:`_SymmetricProduct`), because copies and products were a third of a
    Gatys step; bf16 features are multiplied in bf16 (fp32 accumulation, each entry rounded to bf16:
    relative error <= 2^-9). Measurements: benchmarks/results/code_notes.md (``atelier.losses.gram_matrix``).
    """
    _check_feats(feats)
    b, c, h, w = feats.shape
    f = feats if feats.dtype in (torch.float32, torch.float64, torch.bfloat16) else feats.float()
    if mask is None:
        norm = torch.full((b, 1, 1), float(h * w), device=f.device)
    else:
        t = resize_mask(mask.float(), (h, w))  # (B|1,1,h,w)
        f = f * t.to(f.dtype)  # keeps the channels_last layout of f
        norm = t.pow(2).sum(dim=(1, 2, 3)).clamp_min(EPS).view(-1, 1, 1)
    if f.is_contiguous(memory_format=torch.channels_last) and not f.is_contiguous():
        m = f.permute(0, 2, 3, 1).reshape(b, h * w, c)  # (B,HW,C), a view
    else:
        m = f.reshape(b, c, h * w).transpose(1, 2)  # (B,HW,C), a transposed view of (B,C,HW)
    return _SymmetricProduct.apply(m).float() / norm


def content_loss(feats: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Relative feature reconstruction error (Gatys et al. 2016 eq. 1, normalised; see module doc).

    ``weights`` (B|1,1,H',W', >= 0), a spatially varying content weight (``--protect faces``): each position's
    squared error is weighted by the map at this layer's resolution, the normalisation ||F(c)||^2 kept, so a
    weight of 1 everywhere is the plain loss."""
    _check_feats(feats)
    if weights is None:
        return relative_sq_error(feats.float(), target.float())
    if feats.shape[1:] != target.shape[1:]:
        raise ValueError(f"shape mismatch: {tuple(feats.shape)} vs {tuple(target.shape)}")
    w = resize_mask(weights.float(), tuple(feats.shape[-2:]))
    num = (w * (feats.float() - target.float()).pow(2)).sum(dim=(1, 2, 3))
    return (num / (target.float().pow(2).sum(dim=(1, 2, 3)) + EPS)).mean()


def gram_loss(feats: torch.Tensor, target_gram: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Relative Gram error (Gatys et al. 2016 eq. 4, normalised; see module doc)."""
    return relative_sq_error(gram_matrix(feats, mask), target_gram)


def mrf_loss(feats: torch.Tensor, keys: torch.Tensor, keys_unit: torch.Tensor,
             weights: torch.Tensor | None = None) -> torch.Tensor:
    """The MRF style term of Li & Wand 2016 ("Combining Markov Random Fields and Convolutional Neural
    Networks for Image Synthesis", eq. 2-3), relative like the other terms here:

        sum_i w_i ||P_i(x) - P_NN(i)||^2 / sum_i w_i ||P_NN(i)||^2

    over every 3x3 patch P_i (C*9 values) of ``feats`` (1,C,H,W), NN(i) the painting's patch (a row of
    ``keys`` (M,C*9)) with the highest normalised cross-correlation with P_i (the nearest of the unit rows
    ``keys_unit``: |a - b|^2 = 2 - 2 a.b for unit vectors). The matching is recomputed on every call
    and carries no gradient (the paper's eq. 3); ``weights`` (N,) per patch (a mask at the patch centres)."""
    _check_feats(feats)
    if feats.shape[0] != 1:
        raise ValueError(f"mrf_loss takes one image, got a batch of {feats.shape[0]}")
    q = patches.extract(feats.float(), MRF_PATCH)[0]  # (N, C*9), N = (H-2)(W-2)
    with torch.no_grad():
        unit = q / q.norm(dim=1, keepdim=True).clamp_min(EPS)
        _, idx = patches.nearest(unit, keys_unit)  # (N,1): exact, by matrix products in bounded blocks
        target = keys[idx[:, 0]]  # (N, C*9)
        t2 = target.pow(2).sum(1)  # (N,)
    sq = (q - target).pow(2).sum(1)  # (N,)
    if weights is None:
        return sq.sum() / (t2.sum() + EPS)
    return (weights * sq).sum() / ((weights * t2).sum() + EPS)


def mean_std(feats: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,C,H,W) -> channel means and standard deviations, each (B,C,1,1)."""
    _check_feats(feats)
    var = feats.float().var(dim=(2, 3), keepdim=True, unbiased=False)
    return feats.float().mean(dim=(2, 3), keepdim=True), (var + eps).sqrt()


def mean_std_loss(feats: torch.Tensor, target_mean: torch.Tensor, target_std: torch.Tensor) -> torch.Tensor:
    """Huang & Belongie 2017 eq. 11: squared distance of channel means plus that of channel std's (mean)."""
    mu, sigma = mean_std(feats)
    return F.mse_loss(mu, target_mean.expand_as(mu)) + F.mse_loss(sigma, target_std.expand_as(sigma))


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Squared total variation (Mahendran & Vedaldi 2015), mean over pixels: (B,C,H,W) -> scalar."""
    _check_feats(image, "image")
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def temporal_loss(image: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Short-term temporal loss of Ruder, Dosovitskiy & Brox 2016 ("Artistic style transfer for videos",
    eq. 7): (1/D) sum_k c_k (x_k - w_k)^2 with D = C*H*W, the previous result ``target`` (B,3,H,W) warped
    to this frame and the per-pixel reliability ``weights`` c (B|1,1,H,W) in [0,1] (0 at disocclusions
    and motion boundaries). Already intensive (a mean), like the other terms here."""
    _check_feats(image, "image")
    if target.shape != image.shape:
        raise ValueError(f"target {tuple(target.shape)} and image {tuple(image.shape)} must match")
    if weights.dim() != 4 or weights.shape[1] != 1 or weights.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"weights must be (B,1,H,W) at the image's size, got {tuple(weights.shape)}")
    return (weights * (image - target).pow(2)).mean()


def blend_weights(weights: Sequence[float], layer_weights: Sequence[dict[str, float]] | None,
                  layers: Sequence[str]) -> dict[str, list[float]]:
    """{layer: each style's share at that layer (summing to 1)} from the styles' global ``weights`` and
    their optional per-layer weights ({layer: weight} per style, a missing layer 0). A layer where every
    style weighs 0 is refused: it would have no target."""
    if layer_weights is None:
        return {k: list(weights) for k in layers}
    if len(layer_weights) != len(weights):
        raise OptionError(f"There are per-layer weights for {len(layer_weights)} style(s) and "
                          f"{len(weights)} style image(s); give one per style.")
    out = {}
    for k in layers:
        w = [g * float(lw.get(k, 0.0)) for g, lw in zip(weights, layer_weights)]
        if sum(w) <= 0:
            raise OptionError(f"No style has a weight at the style layer {k}: give one a weight there or "
                              "leave the layer out of --style-layers.")
        out[k] = [v / sum(w) for v in w]
    return out


class ContentLoss(nn.Module):
    def __init__(self, target: torch.Tensor, weights: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("target", target.detach())
        self.register_buffer("weights", None if weights is None else weights.detach())  # (1,1,H,W) or None

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return content_loss(feats, self.target, self.weights)


class GramLoss(nn.Module):
    def __init__(self, target_gram: torch.Tensor, mask: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("target", target_gram.detach())
        self.register_buffer("mask", None if mask is None else mask.detach())

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return gram_loss(feats, self.target, self.mask)


class MRFLoss(nn.Module):
    """:func:`mrf_loss` against one painting's features (1,C,h,w) at a layer: its 3x3 patches at ``stride``
    (2 keeps a quarter of them, to bound the search's memory and time at large sizes) are stored once, raw
    and as unit vectors. ``mask`` (1,1,H,W), any resolution, weights the result's patches at their centres
    (a region of ``--mask``, or ``--protect``'s style weight)."""

    def __init__(self, style_feats: torch.Tensor, mask: torch.Tensor | None = None, stride: int = 1):
        super().__init__()
        if min(style_feats.shape[-2:]) < MRF_PATCH:
            raise OptionError(f"The painting is too small for the MRF style term: its features are "
                              f"{style_feats.shape[-1]}x{style_feats.shape[-2]} at a style layer, fewer than "
                              f"{MRF_PATCH}x{MRF_PATCH}; use a larger painting or --style-scale.")
        keys = patches.extract(style_feats.detach().float(), MRF_PATCH, stride)[0]  # (M, C*9)
        self.register_buffer("keys", keys)
        self.register_buffer("keys_unit", keys / keys.norm(dim=1, keepdim=True).clamp_min(EPS))
        self.register_buffer("mask", None if mask is None else mask.detach())

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        weights = None
        if self.mask is not None:  # the mask at this layer's resolution, at the centres of the 3x3 patches
            m = resize_mask(self.mask.float(), tuple(feats.shape[-2:]))[0, 0]
            weights = m[1:-1, 1:-1].reshape(-1)  # (N,), row-major like patches.extract
        return mrf_loss(feats, self.keys, self.keys_unit, weights)


class TVLoss(nn.Module):
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return tv_loss(image)


class TemporalLoss(nn.Module):
    """:func:`temporal_loss` against a fixed warped previous result and its reliability weights."""

    def __init__(self, target: torch.Tensor, weights: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target.detach())
        self.register_buffer("weights", weights.detach())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return temporal_loss(image, self.target, self.weights)


class PerceptualLoss(nn.Module):
    """Weighted sum of content, (guided) Gram or MRF style and TV terms on one shared VGG forward.

    Targets are set with :meth:`set_content` and :meth:`set_styles` (computed once, no gradient);
    ``forward(image)`` returns ``{"content": ..., "style": ..., "tv": ..., "total": ...}`` where each named
    term already carries its weight.
    """

    def __init__(
        self,
        vgg: nn.Module,
        *,
        content_layers: Sequence[str] = ("relu4_2",),
        style_layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        style_layer_weights: Sequence[float] | None = None,
        content_weight: float = 1.0,
        style_weight: float = 1.0,
        tv_weight: float = 0.0,
        style_loss: str = "gram",
        mrf_stride: int = 1,
    ):
        super().__init__()
        if style_loss not in ("gram", "mrf"):
            raise ValueError(f"style_loss must be 'gram' or 'mrf', not {style_loss!r}")
        self.vgg = vgg
        # How the style term is made per layer: Gram everywhere, or with "mrf" Li & Wand's patch term at the
        # MRF_LAYERS among the style layers (the others keep their Gram terms).
        self.style_loss, self.mrf_stride = style_loss, mrf_stride
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        lw = [1.0] * len(self.style_layers) if style_layer_weights is None else list(style_layer_weights)
        if len(lw) != len(self.style_layers):
            raise ValueError("style_layer_weights must have one weight per style layer")
        total = sum(lw)
        self.style_layer_weights = [w / total for w in lw]  # normalised: style term is a weighted mean
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        self.content_losses = nn.ModuleDict()
        # One entry per region: a list (over style layers) of GramLoss, and the region's weight.
        self.style_losses = nn.ModuleList()
        self.region_weights: list[float] = []

    def features(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        # The network's dtype sets the arithmetic (a bf16 VGG from get_vgg19(dtype=...) runs in bf16).
        return self.vgg(image, layers)

    @torch.no_grad()
    def set_content(self, content: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        """Content targets; ``weights`` (1,1,H,W) at the image's size: a per-position content weight."""
        feats = self.features(content, self.content_layers)
        self.content_losses = nn.ModuleDict({k: ContentLoss(feats[k].float(), weights) for k in self.content_layers})

    def is_mrf(self, layer: str) -> bool:
        """Whether the style term at ``layer`` is the MRF term (else the Gram term)."""
        return self.style_loss == "mrf" and layer in MRF_LAYERS

    @torch.no_grad()
    def style_grams(self, style: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One style image's target at every style layer: its Gram matrix (1,C,C), or at an MRF layer
        (:meth:`is_mrf`) its features (1,C,h,w), whose patches the MRF term searches. With ``mask`` (1,1,h,w)
        over the painting (``--style-mask``), guided Grams of that region alone (Gatys et al. 2017 §4: the
        target of a photo region is the Gram of the paired painting region); ``api.prepare`` refuses style
        masks with the MRF loss."""
        feats = self.features(style, self.style_layers)
        return {k: feats[k].float() if self.is_mrf(k) else gram_matrix(feats[k], mask) for k in self.style_layers}

    def _style_term(self, layer: str, target: torch.Tensor, mask: torch.Tensor | None) -> nn.Module:
        if self.is_mrf(layer):
            return MRFLoss(target, mask, self.mrf_stride)
        return GramLoss(target, mask)

    def set_styles(
        self,
        grams: Sequence[dict[str, torch.Tensor]],
        weights: Sequence[float],
        masks: Sequence[torch.Tensor] | None = None,
        layer_weights: Sequence[dict[str, float]] | None = None,
        guide: torch.Tensor | None = None,
    ) -> None:
        """Style targets from precomputed Gram matrices.

        Without masks the targets are blended (sum of weight x Gram, weights summing to 1): one loss whose
        optimum mixes the styles. ``layer_weights`` (one {layer: weight} per style, a missing layer 0) make
        the blend differ per layer: at layer k style s weighs weights[s] x layer_weights[s][k], normalised
        over the styles at k; e.g. one painting on the coarse layers and another on the fine ones (Gatys et
        al. 2017 §5, scale control). With masks (one (1,1,H,W) mask per style, output resolution), each style
        has its own guided Gram term over its region (Gatys et al. 2017 §4) and the weights scale them.
        ``guide`` (1,1,H,W) in [0,1], a spatially varying style weight (``--protect faces``: 1 - protection):
        every term becomes a Gram matrix guided by it (times the region's mask), so where it is 0 the style
        term pulls on nothing and the rest of the image carries the painting's statistics.
        """
        if guide is not None:
            masks = None if masks is None else [m * guide for m in masks]
        wsum = sum(weights)
        weights = [w / wsum for w in weights]
        self.style_losses = nn.ModuleList()
        self.region_weights = []
        if masks is None:
            if len(grams) > 1 and any(self.is_mrf(k) for k in self.style_layers):
                raise ValueError("the MRF style term matches one painting's patches: several styles need masks")
            per_layer = blend_weights(weights, layer_weights, self.style_layers)
            blended = {k: grams[0][k] if self.is_mrf(k) else sum(w * g[k] for w, g in zip(per_layer[k], grams))
                       for k in self.style_layers}
            self.style_losses.append(nn.ModuleList([self._style_term(k, blended[k], guide)
                                                    for k in self.style_layers]))
            self.region_weights.append(1.0)
            return
        if layer_weights is not None:
            raise ValueError("per-layer style weights and masks cannot be combined")
        for g, w, m in zip(grams, weights, masks):
            self.style_losses.append(nn.ModuleList([self._style_term(k, g[k], m) for k in self.style_layers]))
            self.region_weights.append(w)

    def forward(self, image: torch.Tensor, content: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Named weighted terms of ``image`` (B,3,H,W).

        ``content`` (B,3,H,W), if given, replaces the targets of :meth:`set_content` by the features of each
        batch item's own photo (computed here, without gradient): the per-item content target of feed-forward
        training, where the network's input is the content (Johnson et al. 2016 §3.1). The content term is
        then the mean over the batch of each item's relative error.
        """
        if content is None and not self.content_losses and not len(self.style_losses):
            raise RuntimeError("PerceptualLoss has no targets: call set_content() and/or set_styles() first")
        if content is not None:
            if content.shape != image.shape:
                raise ValueError(f"content {tuple(content.shape)} and image {tuple(image.shape)} must match")
            with torch.no_grad():
                targets = self.features(content, self.content_layers)  # {layer: (B,C,h,w)}
            content_losses = {k: partial(content_loss, target=targets[k]) for k in self.content_layers}
        else:
            content_losses = dict(self.content_losses.items())
        layers = set(content_losses) | (set(self.style_layers) if len(self.style_losses) else set())
        feats = self.features(image, layers)
        zero = image.new_zeros(())
        content_term = sum((loss(feats[k]) for k, loss in content_losses.items()), zero) / max(1, len(content_losses))
        style = zero
        for region, rw in zip(self.style_losses, self.region_weights):
            for loss, k, lw in zip(region, self.style_layers, self.style_layer_weights):
                style = style + rw * lw * loss(feats[k])
        terms = {
            "content": self.content_weight * content_term,
            "style": self.style_weight * style,
            "tv": self.tv_weight * tv_loss(image) if self.tv_weight else zero,
        }
        terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms
