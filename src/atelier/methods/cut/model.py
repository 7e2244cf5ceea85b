"""CUT's networks and loss (nn.Modules only): the generator's encoder features, the patch MLP, PatchNCE.

Park, Efros, Zhang & Zhu 2020, "Contrastive Learning for Unpaired Image-to-Image Translation" (ECCV):

* one generator G: A -> B (CycleGAN's: here johnson's ``TransformerNet`` of kernel 7, ``methods/cyclegan``)
  and one 70x70 PatchGAN discriminator (``cyclegan.model.PatchDiscriminator``), LSGAN loss;
* PatchNCE (§3.1-3.2, eq. 2-5): the encoder of G is run on the input a and on the output G(a); at each of
  five layers, 256 locations are sampled, their features go through a small two-layer MLP H_l (256 units)
  and are l2-normalised; the feature of G(a) at a location must pick out a's feature at the *same*
  location (the positive) among a's features at the other sampled locations of that image (the negatives):
  cross-entropy over (q.k+, q.k-...) / tau, tau = 0.07. The input side is detached (as in the authors' code).
* Layers (the authors': the pixels, the two downsampling convolutions, residual blocks 1 and 5 of 9): here
  the input image, the outputs of the two downsampling layers (after their norm and ReLU), and residual
  blocks 1 and n/2 + 1 (5 of 9 for the paper size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..cyclegan.model import PatchDiscriminator, init_weights
from ..johnson.model import TransformerNet


def nce_channels(arch: dict) -> list[int]:
    """Channels of the sampled layers of a generator of ``arch`` (see :func:`encoder_features`)."""
    _, c2, c3 = arch["channels"]
    n = len(_block_ids(int(arch["residual_blocks"])))
    return [3, c2, c3] + [c3] * n


def _block_ids(blocks: int) -> list[int]:
    return sorted({0, blocks // 2})


def encoder_features(net: TransformerNet, x: torch.Tensor) -> list[torch.Tensor]:
    """The sampled layers of the generator's encoder on x (B,3,S,S), S a multiple of 4:
    [x, (B,2c,S/2,S/2), (B,4c,S/4,S/4), residual block outputs (B,4c,S/4,S/4)...]."""
    feats = [x]
    h = net.down[0](x)
    h = net.down[1](h)
    feats.append(h)
    h = net.down[2](h)
    feats.append(h)
    wanted = set(_block_ids(len(net.res)))
    for i, block in enumerate(net.res):
        h = block(h)
        if i in wanted:
            feats.append(h)
        if i >= max(wanted):
            break
    return feats


class PatchMLP(nn.Module):
    """H_l of Park 2020 §3.2: per layer, Linear(C_l, 256) - ReLU - Linear(256, 256), then l2 normalisation."""

    def __init__(self, channels: list[int], dim: int = 256):
        super().__init__()
        self.heads = nn.ModuleList(nn.Sequential(nn.Linear(c, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
                                   for c in channels)

    def forward(self, feats: list[torch.Tensor], n: int, ids: list[torch.Tensor] | None = None,
                generator: torch.Generator | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Features (B,C,H,W) per layer -> ((B*n', 256) unit vectors per layer, the sampled locations).
        ``ids`` None: n' = min(n, H*W) locations drawn from ``generator`` (the same for every image)."""
        out, chosen = [], []
        for i, (f, head) in enumerate(zip(feats, self.heads, strict=True)):
            flat = f.flatten(2).transpose(1, 2)  # (B,HW,C)
            idx = (torch.randperm(flat.shape[1], generator=generator)[:n].to(f.device) if ids is None
                   else ids[i])
            v = head(flat[:, idx, :].flatten(0, 1).float())  # (B*n',256)
            out.append(F.normalize(v, dim=1))
            chosen.append(idx)
        return out, chosen


def patch_nce(q: torch.Tensor, k: torch.Tensor, batch: int, tau: float = 0.07) -> torch.Tensor:
    """PatchNCE (Park 2020 eq. 3, 5): q, k (B*n, D) unit vectors of G(a) and a at the same n locations per
    image; each q must pick its own k among the n k's of its image. Mean cross-entropy."""
    k = k.detach()
    n = q.shape[0] // batch
    pos = (q * k).sum(1, keepdim=True)  # (B*n,1)
    neg = torch.bmm(q.view(batch, n, -1), k.view(batch, n, -1).transpose(1, 2))  # (B,n,n)
    eye = torch.eye(n, dtype=torch.bool, device=q.device)[None]
    neg = neg.masked_fill(eye, -10.0).flatten(0, 1)  # (B*n,n): the positive removed from the negatives
    logits = torch.cat([pos, neg], 1) / tau
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=q.device))


class CUTTrainer(nn.Module):
    """What a CUT step trains: the generator ``gen``, the discriminator ``d`` (judges domain B) and ``mlp``."""

    def __init__(self, arch: dict, ndf: int):
        super().__init__()
        self.arch = dict(arch)
        self.gen = init_weights(TransformerNet.from_arch(arch))
        self.d = init_weights(PatchDiscriminator(ndf))
        self.mlp = init_weights(PatchMLP(nce_channels(arch)))
