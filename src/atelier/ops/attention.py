"""Style-attentional modules (nn.Modules shared by the SANet method and its trainer).

Park & Lee 2019, "Arbitrary Style Transfer with Style-Attentional Networks" (CVPR).

* §3.2, eq. 1-2 (:class:`StyleAttention`): content features F_c and style features F_s (same channels C)
  are mean-variance normalised (``Norm``), projected by 1x1 convolutions f (content) and g (style); the
  attention of content position i on style position j is softmax_j(f(Norm F_c)_i^T g(Norm F_s)_j); the
  output is a 1x1 convolution of the attention-weighted h(F_s) (style features, not normalised), added to
  F_c (a residual: F_cs = F_c + conv(sum_j A_ij h(F_s)_j)).
* §3.3, eq. 3 (:class:`AttentionTransform`): one module at relu4_1 and one at relu5_1; the relu5_1 output
  is upsampled to relu4_1's size, the two are added and merged by a 3x3 convolution (reflection padding):
  F_csc^m = conv3x3(F_csc^{r41} + upsample(F_csc^{r51})).

Deviations (deliberate):
* the upsampling goes to relu4_1's exact size (nearest), not a fixed factor 2, so odd image sizes work
  (VGG's pooling floors sizes: a 36 px image has relu4_1 of 4.5 -> 4 and relu5_1 of 2; 41 px: 5 and 2);
* ``content_stats``: the content's normalisation statistics may be given instead of measured, so a tile
  of a large image is normalised like the whole image (see ``methods/arbitrary.py``). The style side is
  always whole: every content position attends over every style position;
* the attention is computed in fp32 (softmax over thousands of positions), the convolutions in the
  features' dtype;
* the softmax's exponents are floored at ``FLOOR`` below each row's maximum (:func:`softmax_normal`), so no
  probability falls into float32's denormal range, where x86 multiplies are ~100x slower.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .adain import Stats, mean_variance_norm

# exp(-60) = 8.7e-27: divided by a row sum of at most 1e11 positions it stays above float32's smallest normal
# number (1.2e-38). A weight floored there instead of ~0 moves the output by < 1e-15 of the values' scale.
FLOOR = 60.0


def softmax_normal(scores: torch.Tensor) -> torch.Tensor:
    """softmax over the last dim, with every exponent at least ``-FLOOR`` (no denormal probabilities).

    A trained SANet's scores span hundreds (-145..192 at relu4_1), so a plain softmax leaves ~2 % of the
    probabilities denormal; the attention-weighted sum over them then took 0.78 s instead of 0.03 s at 512 px.
    ``torch.set_flush_denormal`` does not help reliably: it sets the calling thread's flags only, and
    torch's worker threads started earlier keep theirs. Flooring the scores is thread-independent.
    """
    top = scores.amax(dim=-1, keepdim=True).detach()
    if scores.requires_grad:  # training
        return torch.softmax(torch.maximum(scores, top - FLOOR), dim=-1)
    # Inference: in place, so the memory stays at two (hw x hs*ws) matrices (the planner counts two).
    return torch.softmax(torch.maximum(scores, top - FLOOR, out=scores), dim=-1)


def style_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """softmax(Q^T K) V^T: ``query`` (B,C,h,w), ``key`` and ``value`` (B,C,hs,ws) -> (B,C,h,w), fp32.

    Each query position gets the mean of the value positions weighted by the softmax over key positions of
    the dot products (Park & Lee 2019 eq. 2; no 1/sqrt(C) scaling, as in the paper).
    """
    b, c, h, w = query.shape
    q = query.float().reshape(b, c, h * w).transpose(1, 2)  # (B,hw,C)
    k = key.float().reshape(b, key.shape[1], -1)  # (B,C,hs*ws)
    v = value.float().reshape(b, value.shape[1], -1)  # (B,C,hs*ws)
    attn = softmax_normal(torch.bmm(q, k))  # (B,hw,hs*ws)
    return torch.bmm(v, attn.transpose(1, 2)).reshape(b, value.shape[1], h, w)


class StyleAttention(nn.Module):
    """One style-attentional module (§3.2): (F_c (B,C,h,w), F_s (B,C,hs,ws)) -> F_cs (B,C,h,w)."""

    def __init__(self, channels: int):
        super().__init__()
        self.f = nn.Conv2d(channels, channels, 1)  # content query
        self.g = nn.Conv2d(channels, channels, 1)  # style key
        self.h = nn.Conv2d(channels, channels, 1)  # style value
        self.out_conv = nn.Conv2d(channels, channels, 1)

    def forward(self, content: torch.Tensor, style: torch.Tensor, content_stats: Stats | None = None,
                style_stats: Stats | None = None) -> torch.Tensor:
        dtype = self.f.weight.dtype
        q = self.f(mean_variance_norm(content, content_stats).to(dtype))
        k = self.g(mean_variance_norm(style, style_stats).to(dtype))
        v = self.h(style.to(dtype))
        o = style_attention(q, k, v).to(dtype)
        return content.to(dtype) + self.out_conv(o)


class AttentionTransform(nn.Module):
    """The two modules at relu4_1 and relu5_1 merged at relu4_1's size (§3.3, eq. 3)."""

    def __init__(self, channels: int = 512):
        super().__init__()
        self.sanet4_1 = StyleAttention(channels)
        self.sanet5_1 = StyleAttention(channels)
        self.merge_conv = nn.Conv2d(channels, channels, 3)

    def forward(self, c4: torch.Tensor, s4: torch.Tensor, c5: torch.Tensor, s5: torch.Tensor,
                content_stats: tuple[Stats, Stats] | None = None) -> torch.Tensor:
        """(B,C,h4,w4), (B,C,*), (B,C,h5,w5), (B,C,*) -> (B,C,h4,w4). ``content_stats``: relu4_1's and
        relu5_1's (mean, std) of the content (tiles), or None to measure them on c4 and c5."""
        cs4, cs5 = content_stats if content_stats is not None else (None, None)
        o4 = self.sanet4_1(c4, s4, cs4)
        o5 = F.interpolate(self.sanet5_1(c5, s5, cs5), size=o4.shape[-2:], mode="nearest")
        merged = o4 + o5
        # Reflection needs pad < size; a 1-pixel map falls back to replication.
        mode = "reflect" if min(merged.shape[-2:]) > 1 else "replicate"
        return self.merge_conv(F.pad(merged, (1, 1, 1, 1), mode=mode))
