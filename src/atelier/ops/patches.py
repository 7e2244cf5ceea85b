"""Patches: extraction, aggregation of overlapping patches, and nearest-neighbour search.

What the patch-based methods share (Efros & Leung 1999, Efros & Freeman 2001, the sparse-coding and
Elad & Milanfar 2017 transfers): every image is (B,C,H,W) float in [0,1]; a patch is the flattened
(C*p*q) vector of a p x q window, channel-major as ``F.unfold`` gives it.

Distances are squared Euclidean, optionally weighted per element (Efros & Leung's Gaussian-weighted SSD
over the known pixels of a window). They are computed as ||q||^2 - 2 q.k + ||k||^2, so a search is two
matrix products, in chunks of queries so memory stays bounded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Queries x keys of one distance block: 2**24 fp32 entries (64 MiB), whatever the sizes.
BLOCK_ENTRIES = 1 << 24


def _pair(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def grid_count(height: int, width: int, size, stride: int = 1) -> tuple[int, int]:
    """Number of patch positions (rows, columns) of ``size`` at ``stride`` that fit in height x width."""
    p, q = _pair(size)
    return (height - p) // stride + 1, (width - q) // stride + 1


def extract(image: torch.Tensor, size, stride: int = 1) -> torch.Tensor:
    """(B,C,H,W) -> (B, L, C*p*q): every p x q window at ``stride``, row-major over positions."""
    p, q = _pair(size)
    if image.shape[-2] < p or image.shape[-1] < q:
        raise ValueError(f"a {image.shape[-1]}x{image.shape[-2]} image has no {q}x{p} patch")
    return F.unfold(image, (p, q), stride=stride).transpose(1, 2)


def windows_at(padded: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, size: int) -> torch.Tensor:
    """The size x size windows of ``padded`` (1,C,H,W) whose top-left corners are (ys, xs) (N,) -> (N,
    C*size*size), channel-major like ``extract`` (pad the image by size // 2 first for centred windows)."""
    off = torch.arange(size, device=padded.device)
    rows = (ys[:, None] + off[None])[:, :, None]  # (N,size,1)
    cols = (xs[:, None] + off[None])[:, None, :]  # (N,1,size)
    win = padded[0][:, rows, cols]  # (C,N,size,size)
    return win.permute(1, 0, 2, 3).reshape(len(ys), -1)


def fold(patches: torch.Tensor, out_hw: tuple[int, int], size, stride: int = 1,
         weights: torch.Tensor | None = None) -> torch.Tensor:
    """Aggregate overlapping patches (B, L, C*p*q) into (B,C,H,W): each pixel is the (weighted) mean of the
    patches that cover it. ``weights`` (B, L) or (B, L, C*p*q) (e.g. Elad & Milanfar's robust IRLS
    weights); pixels no patch covers are 0."""
    p, q = _pair(size)
    if weights is not None:
        w = weights if weights.dim() == 3 else weights[..., None].expand_as(patches)
        num = F.fold((patches * w).transpose(1, 2), out_hw, (p, q), stride=stride)
        den = F.fold(w.transpose(1, 2).contiguous(), out_hw, (p, q), stride=stride)
    else:
        num = F.fold(patches.transpose(1, 2), out_hw, (p, q), stride=stride)
        den = F.fold(torch.ones_like(patches).transpose(1, 2), out_hw, (p, q), stride=stride)
    return num / den.clamp_min(1e-12)


def squared_distances(queries: torch.Tensor, keys: torch.Tensor, weights: torch.Tensor | None = None,
                      keys_sq: torch.Tensor | None = None) -> torch.Tensor:
    """(N,D) queries x (M,D) keys -> (N,M) squared distances sum_d w_d (q_d - k_d)^2.

    ``weights`` (N,D) per query element (0 where a query element is unknown) or (D,) for all; None = 1.
    ``keys_sq`` (M,) = (keys**2).sum(1), precomputed when the keys are searched many times (unweighted)."""
    if weights is None:
        k2 = keys.pow(2).sum(1) if keys_sq is None else keys_sq
        d = queries.pow(2).sum(1, keepdim=True) - 2 * queries @ keys.T + k2[None]
    else:
        w = weights if weights.dim() == 2 else weights[None].expand_as(queries)
        # sum w q^2 - 2 sum (w q) k + sum w k^2: the last is (w) @ (k^2)^T, one more product
        d = (w * queries.pow(2)).sum(1, keepdim=True) - 2 * (w * queries) @ keys.T + w @ keys.pow(2).T
    return d.clamp_min_(0)


def nearest(queries: torch.Tensor, keys: torch.Tensor, *, k: int = 1, weights: torch.Tensor | None = None,
            block: int = BLOCK_ENTRIES) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k nearest keys of each query: (distances (N,k), indices (N,k)), squared, ascending.

    Queries are taken in chunks so that one distance block has at most ``block`` entries."""
    n, m = queries.shape[0], keys.shape[0]
    k = min(k, m)
    keys_sq = keys.pow(2).sum(1) if weights is None else None
    chunk = max(1, block // max(m, 1))
    dists, idx = [], []
    for i in range(0, n, chunk):
        w = None if weights is None else (weights if weights.dim() == 1 else weights[i:i + chunk])
        d = squared_distances(queries[i:i + chunk], keys, w, keys_sq)
        v, j = torch.topk(d, k, dim=1, largest=False)
        dists.append(v)
        idx.append(j)
    return torch.cat(dists), torch.cat(idx)


def ssd_map(source: torch.Tensor, template: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Masked sum of squared differences of ``template`` (1,C,p,q) at every position of ``source``
    (1,C,H,W): (H-p+1, W-q+1), entry (y, x) = sum m (source[y:y+p, x:x+q] - template)^2.

    ``mask`` (1,1,p,q) or (1,C,p,q) weights the template's pixels (0 = not compared). Three
    correlations: sum m s^2 - 2 sum m t s + sum m t^2 (the block search of Efros & Freeman's quilting)."""
    if mask is None:
        mask = torch.ones_like(template[:, :1])
    m = mask.expand_as(template)
    s2 = F.conv2d(source.pow(2), m)  # (1,1,H-p+1,W-q+1): sum over channels and window
    st = F.conv2d(source, m * template)
    t2 = (m * template.pow(2)).sum()
    return (s2 - 2 * st + t2).clamp_min(0)[0, 0]


def sample_below(errors: torch.Tensor, tolerance: float, generator: torch.Generator | None) -> int:
    """A random flat index among the entries within (1 + tolerance) x the minimum of ``errors`` (Efros &
    Leung's and Efros & Freeman's choice among near-best candidates, which keeps the output from copying
    one region)."""
    flat = errors.flatten()
    best = float(flat.min())
    ok = torch.nonzero(flat <= best * (1 + tolerance) + 1e-12).flatten()
    pick = torch.randint(len(ok), (1,), generator=generator).item()
    return int(ok[pick])


class BlockMatcher:
    """Masked SSD of many templates against one source image, by FFT (the correlation theorem): the block
    search of Efros & Freeman's quilting, where one template is matched at every position of the sample.

    ``ssd(template, mask)`` equals :func:`ssd_map` but costs a few FFTs of the source's size instead of a
    convolution with a p x q kernel (for 32 px blocks on a 256 px sample, ~15x fewer operations). The
    source's spectra are computed once."""

    def __init__(self, source: torch.Tensor):
        # source: (1,C,H,W); spectra (C,H,W//2+1) of each channel and (H,W//2+1) of the summed squares
        self.shape = tuple(source.shape[-2:])
        self.channels = source.shape[1]
        src = source[0].float()
        self.spec = torch.fft.rfft2(src)
        self.spec_sq = torch.fft.rfft2(src.pow(2).sum(0))

    def ssd(self, template: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``template`` (1,C,p,q), ``mask`` (1,1,p,q) or None -> (H-p+1, W-q+1) masked SSD."""
        p, q = template.shape[-2:]
        h, w = self.shape
        m = torch.ones(p, q, device=template.device) if mask is None else mask[0, 0].float()
        t = template[0].float()
        # corr(s, k)[y, x] = sum_ij s[y+i, x+j] k[i, j] = irfft(S * conj(K)); positions y <= H-p, x <= W-q do
        # not wrap around.
        spec = self.spec_sq * torch.fft.rfft2(m, s=(h, w)).conj()
        spec = spec - 2 * (self.spec * torch.fft.rfft2(m * t, s=(h, w)).conj()).sum(0)
        corr = torch.fft.irfft2(spec, s=(h, w))[: h - p + 1, : w - q + 1]
        return (corr + (m * t.pow(2)).sum()).clamp_min(0).float()


# -------------------------------------------------------------------------------------------------------
# Added for the sparse-coding and Elad & Milanfar transfers: covering grids and PCA of patches.


def cover(image: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """``image`` (B,C,H,W), H and W >= size, padded at the bottom and right (edge pixels repeated) so that
    the windows of ``size`` at ``stride`` cover every pixel: ``extract``/``fold`` on the result, then crop
    ``[..., :H, :W]`` (a strided grid alone misses up to stride - 1 rows and columns at the far edges)."""
    h, w = image.shape[-2:]
    ph, pw = (-(h - size)) % stride, (-(w - size)) % stride
    return F.pad(image, (0, pw, 0, ph), mode="replicate") if ph or pw else image


def pca_basis(samples: torch.Tensor, dims: int, *, energy: float = 1.0, generator: torch.Generator | None = None,
              power_iterations: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal directions of patches (N,D) -> (mean (D,), basis (D,d)), d <= ``dims``: the fewest leading
    directions holding ``energy`` of the variance. Project with ``(x - mean) @ basis``.

    A randomised range finder with power iterations (Halko, Martinsson & Tropp 2011, alg. 4.4), seeded by
    ``generator``: O(N D dims) instead of the O(D^3) eigendecomposition of a 3267-dim (33x33x3) covariance.
    The products run in torch, the small QR and SVD in numpy's LAPACK (torch's threaded LAPACK calls were
    measured to stall ~0.2 s each on busy cores, 500x the work of a 2000x40 QR)."""
    import numpy as np

    def orthonormal(y: torch.Tensor) -> torch.Tensor:  # (N,q) -> orthonormal basis of its columns
        return torch.from_numpy(np.linalg.qr(y.detach().cpu().double().numpy())[0]).to(y)

    mean = samples.mean(0)
    a = samples - mean  # (N,D)
    n, d = a.shape
    q = max(1, min(dims + 8, n, d))  # a few spare directions sharpen the leading ones
    omega = torch.randn(d, q, generator=generator, device="cpu").to(a)
    y = a @ omega  # (N,q)
    for _ in range(power_iterations):
        y = a @ (a.T @ orthonormal(y))
    b = (orthonormal(y).T @ a).detach().cpu().double().numpy()  # (q,D): a projected on its range
    _, s, vh = np.linalg.svd(b, full_matrices=False)  # (q,), (q,D)
    held = np.cumsum(s**2) / max(float(a.pow(2).sum()), 1e-12)
    k = max(1, min(dims, len(s), int((held < energy).sum()) + 1))
    return mean, torch.from_numpy(np.ascontiguousarray(vh[:k].T)).to(a)
