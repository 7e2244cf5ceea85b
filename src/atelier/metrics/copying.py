"""How much of an output is copied verbatim from its sample: the copy measure of texture synthesis.

Non-parametric methods (Efros & Leung 1999, quilting) paste the sample's own pixels, so their textures look
exact and repeat the sample; parametric ones (Portilla & Simoncelli 2000, Gatys 2015) match statistics and
copy nothing. The measure: the share of the output's p x p patches whose nearest patch of the sample (any
position) differs by less than ``tolerance`` in RMS per pixel and channel (values in [0, 1]; 1/255 by
default, one 8-bit level). Quilting copies by design: most of its patches lie inside one block.
"""

from __future__ import annotations

import torch

from ..ops import patches

PATCH = 8
QUERIES = 2000  # output patches tested (a seeded random subset: the search is exact against every key)
TOLERANCE = 1 / 255


def copy_fraction(output: torch.Tensor, sample: torch.Tensor, *, patch: int = PATCH, queries: int = QUERIES,
                  tolerance: float = TOLERANCE, seed: int = 0) -> float:
    """Share in [0, 1] of ``output``'s patch x patch windows (1,3,H,W) found verbatim (within ``tolerance``
    RMS) anywhere in ``sample`` (1,3,h,w). Compare at the scale the method used (sample resized the same)."""
    keys = patches.extract(sample.float(), patch)[0]  # (N, 3*p*p)
    outs = patches.extract(output.float(), patch)[0]
    if len(outs) > queries:
        pick = torch.randperm(len(outs), generator=torch.Generator().manual_seed(seed))[:queries]
        outs = outs[pick]
    dist, _ = patches.nearest(outs, keys, k=1)
    rms = (dist[:, 0] / keys.shape[1]).sqrt()
    return float((rms < tolerance).float().mean())
