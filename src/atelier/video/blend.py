"""The temporal blend of the video pipeline for methods that cannot take Ruder et al.'s temporal loss inside
(feed-forward and arbitrary-style methods): the warped previous output blended into the new one where the
motion is reliable, with the detail band's contrast kept (see :func:`blend`).
"""

from __future__ import annotations

import numpy as np

# Detail-preserving blend: the band of details finer than a Gaussian of this many pixels keeps the local
# energy it has in the method's own output, up to this gain (see blend()).
DETAIL_SIGMA = 2.0
MAX_DETAIL_GAIN = 2.0
# The blend's w at --temporal-weight 1, as gatys's BASE_TEMPORAL_WEIGHT is its loss weight: about half the
# warping error off for a few per cent of style distance (measured: benchmarks/results/code_notes.md,
# blend).
BLEND_SCALE = 2.0


def blend(new: np.ndarray, warped: np.ndarray, reliable: np.ndarray, weight: float) -> np.ndarray:
    """Blend the warped previous output into the method's new one: (H,W,3) float32 in [0,1].

    out = (new + w c warped) / (1 + w c), the per-pixel minimiser of ||out - new||^2 + w c ||out - warped||^2
    (Ruder et al.'s temporal loss applied to a method that cannot take it), with the detail band given its
    contrast back (below). ``reliable`` c (H,W) is 0 where the warp is not trusted: the new frame is kept
    there. ``weight``: the blend's w (BLEND_SCALE x --temporal-weight).
    """
    # OpenCV's vectorised calls, not numpy expressions or torch: faster, and no OpenMP threads competing with
    # the background writer for the cores (measured: benchmarks/results/code_notes.md, blend).
    import cv2

    def blur(x):
        return cv2.GaussianBlur(x, (0, 0), DETAIL_SIGMA)

    a = reliable * np.float32(weight / (1 + weight))  # (H,W)
    # blendLinear divides by its weights' sum (+1e-5), so both mixes are written with weights summing to 1
    # (results within 2e-5 of the plain expressions).
    out = cv2.blendLinear(warped, new, a, 1 - a)  # new + a (warped - new)
    low = blur(out)
    detail = cv2.subtract(out, low)
    detail_new = cv2.subtract(new, blur(new))
    # Deviation from the plain blend: averaging two frames whose fine strokes differ (the flicker) also lowers
    # the strokes' contrast (measured on ../shared/data/video/sintel with a trained johnson model: plain
    # blending at w = 1 moved the style distance by +32 %). So the detail band (out minus its Gaussian blur)
    # is rescaled to the local energy the new frame has there, gain in [1, MAX_DETAIL_GAIN]: stable where
    # the frames agree (gain 1), and strokes keep their contrast where they did not.
    # (H,W) local detail energies: the squares summed over the channels, blurred
    energy_new = blur(cv2.transform(cv2.multiply(detail_new, detail_new, dst=detail_new), _ONES))
    energy_out = blur(cv2.transform(cv2.multiply(detail, detail, dst=detail), _ONES))
    energy_out += 1e-8
    gain = cv2.divide(energy_new, energy_out, dst=energy_new)
    np.sqrt(np.clip(gain, 1.0, MAX_DETAIL_GAIN**2, out=gain), out=gain)
    # low + gain (out - low) = gain out + (1 - gain) low
    res = cv2.blendLinear(out, low, gain, 1 - gain)
    return np.clip(res, 0.0, 1.0, out=res)


_ONES = np.ones((1, 3), np.float32)  # cv2.transform's (1,3) matrix: the sum of the three channels
