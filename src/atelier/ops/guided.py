"""The guided filter with a colour guide (He, Sun & Tang 2013, "Guided Image Filtering", TPAMI, eq. 19-21).

Within every (2r+1)^2 window the output is fitted as an affine function of the guide's three channels,

    q_c(x) = A_c · I(x) + b_c,   (A_c, b_c) = argmin Σ_window (A_c · I + b_c - p_c)^2 + eps |A_c|^2,

and the fits of the windows covering a pixel are averaged. Edges of the guide survive (A follows them),
whatever p does that the guide does not explain is averaged away. Li, Liu, Li, Yang & Kautz 2018 ("A Closed-
form Solution to Photorealistic Image Stylization", ECCV) use it with the content photo as the guide as the
fast approximation of their photorealistic smoothing step (§3.2; the reference implementation NVIDIA/
FastPhotoStyle calls OpenCV's guidedFilter with r = 35): a stylised image made locally affine in the photo's
colours looks like a photo again -- the photorealism condition of Luan et al. 2017.

Box means by integral images (cumulative sums): O(1) per pixel whatever r, divided by the count of pixels
the window really covers at the borders (He et al.'s N). Everything in float64: the windowed second moments
are differences of large cumulative sums.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_mean(x: torch.Tensor, r: int) -> torch.Tensor:
    """(B,C,H,W) -> (B,C,H,W): the mean over the (2r+1)x(2r+1) window clipped to the image."""
    h, w = x.shape[-2:]
    s = F.pad(x, (1, 0, 1, 0)).cumsum(-1).cumsum(-2)  # (B,C,H+1,W+1) integral image, s[..., i, j] = Σ x[:i, :j]
    top = (torch.arange(h, device=x.device) - r).clamp(0, h)
    bottom = (torch.arange(h, device=x.device) + r + 1).clamp(0, h)
    left = (torch.arange(w, device=x.device) - r).clamp(0, w)
    right = (torch.arange(w, device=x.device) + r + 1).clamp(0, w)

    def corner(rows, cols):
        return s[..., rows, :][..., :, cols]

    total = corner(bottom, right) - corner(top, right) - corner(bottom, left) + corner(top, left)
    count = (bottom - top)[:, None] * (right - left)[None, :]  # (H,W) pixels inside each clipped window
    return total / count.to(x.dtype)


# Peak float64 working set of _guided per pixel of a strip (its margins included): the guide's 9 products and
# 3x3 covariances, the 3xC cross terms, their integral images and the solve, ~250 bytes for C = 3; rounded up.
BYTES_PER_PIXEL = 256
STRIP_PIXELS = 1 << 20  # the default strip: ~256 MB of working set


def strip_pixels_for(budget_bytes: float, width: int) -> int:
    """The largest strip (in output pixels, at least 16 rows of ``width``) whose working set fits
    ``budget_bytes``, at most ``STRIP_PIXELS``."""
    return int(min(STRIP_PIXELS, max(16 * width, budget_bytes // BYTES_PER_PIXEL)))


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float,
                  strip_pixels: int = STRIP_PIXELS) -> torch.Tensor:
    """guide (1,3,H,W), src (1,C,H,W), values in [0,1] -> (1,C,H,W) in src's dtype: src made locally affine in
    the guide (see the module docstring). ``eps`` is in units of the guide's variance (e.g. 1e-4 = a standard
    deviation of 0.01, 2.5 levels of 255): smaller keeps more of src where the guide is flat.

    Large images go in horizontal strips of about ``strip_pixels`` output pixels, each computed with 2r rows
    of margin (an output pixel depends on the inputs within 2r: windows of windows), so the result is the
    same and the float64 working set (~250 bytes a pixel) stays bounded."""
    if guide.shape[0] != 1 or guide.shape[1] != 3 or guide.shape[-2:] != src.shape[-2:]:
        raise ValueError(f"guided_filter takes a (1,3,H,W) guide and a (1,C,H,W) source of its size, not "
                         f"{tuple(guide.shape)} and {tuple(src.shape)}")
    h, w = guide.shape[-2:]
    rows = max(1, strip_pixels // w)
    if rows >= h:
        return _guided(guide, src, int(radius), eps)
    m = 2 * int(radius)
    parts = []
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        a, b = max(0, y0 - m), min(h, y1 + m)
        q = _guided(guide[..., a:b, :], src[..., a:b, :], int(radius), eps)
        parts.append(q[..., y0 - a:y1 - a, :])
    return torch.cat(parts, -2)


def _guided(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    i, p = guide.double(), src.double()
    h, w = i.shape[-2:]
    mean_i, mean_p = box_mean(i, r), box_mean(p, r)  # (1,3,H,W), (1,C,H,W)
    # (1,9,H,W) -> per pixel 3x3 covariance of the guide, and (1,3C,H,W) -> its 3xC covariance with src
    var = box_mean((i[:, :, None] * i[:, None]).flatten(1, 2), r) - (mean_i[:, :, None] * mean_i[:, None]).flatten(1, 2)
    cov = box_mean((i[:, :, None] * p[:, None]).flatten(1, 2), r) - (mean_i[:, :, None] * mean_p[:, None]).flatten(1, 2)
    c = p.shape[1]
    var = var.permute(0, 2, 3, 1).reshape(h * w, 3, 3) + eps * torch.eye(3, dtype=torch.float64, device=i.device)
    cov = cov.permute(0, 2, 3, 1).reshape(h * w, 3, c)
    a = torch.linalg.solve(var, cov)  # (HW,3,C): A_c for every pixel's window
    a = a.reshape(1, h, w, 3 * c).permute(0, 3, 1, 2)  # (1,3C,H,W)
    b = mean_p - (a.view(1, 3, c, h, w) * mean_i[:, :, None]).sum(1)  # (1,C,H,W)
    mean_a, mean_b = box_mean(a, r).view(1, 3, c, h, w), box_mean(b, r)
    q = (mean_a * i[:, :, None]).sum(1) + mean_b  # (1,C,H,W), He 2013 eq. 21
    return q.to(src.dtype)
