"""The minimum-error boundary cut of Efros & Freeman 2001, §2.1: where two overlapping blocks meet, the
seam follows the path of least squared difference, found by dynamic programming.

Numpy, not torch: the arrays are a block's overlap strip (e.g. 32 x 6), and the recurrence runs row by row;
per-call overheads of torch ops on such tiny arrays would cost more than the arithmetic.
"""

from __future__ import annotations

import numpy as np


def vertical_cut(errors: np.ndarray) -> np.ndarray:
    """Minimum-cost top-to-bottom path through ``errors`` (p, w): the column of the path in each row (p,).

    E[i, j] = e[i, j] + min(E[i-1, j-1], E[i-1, j], E[i-1, j+1]) (§2.1), then trace back from the bottom."""
    p, w = errors.shape
    cost = errors.astype(np.float64).copy()
    step = np.zeros((p, w), dtype=np.int64)  # -1, 0, +1: which neighbour above the path came from
    for i in range(1, p):
        above = np.pad(cost[i - 1], 1, constant_values=np.inf)  # (w+2,)
        options = np.stack([above[:-2], above[1:-1], above[2:]])  # (3, w): left, same, right
        choice = options.argmin(0)
        cost[i] += options[choice, np.arange(w)]
        step[i] = choice - 1
    path = np.empty(p, dtype=np.int64)
    path[-1] = int(cost[-1].argmin())
    for i in range(p - 1, 0, -1):
        path[i - 1] = path[i] + step[i, path[i]]
    return path


def seam_mask(old: np.ndarray, new: np.ndarray, overlap: int, left: bool, top: bool) -> np.ndarray:
    """(p, q) in {0, 1}: 1 where the pasted block ``new`` shows, 0 where ``old`` (the canvas) stays.

    ``old``, ``new``: (C, p, q). Left of the vertical cut through the left overlap strip and above the
    horizontal cut through the top strip, the canvas stays (§2.1: both cuts where a block has both
    neighbours)."""
    _, p, q = new.shape
    mask = np.ones((p, q), dtype=np.float32)
    diff = ((old - new) ** 2).sum(0)  # (p, q) squared error surface
    cols = np.arange(q)[None, :]
    rows = np.arange(p)[:, None]
    if left:
        path = vertical_cut(diff[:, :overlap])  # (p,) column of the seam in each row
        mask *= cols >= path[:, None]
    if top:
        path = vertical_cut(diff[:overlap, :].T)  # (q,) row of the seam in each column
        mask *= rows >= path[None, :]
    return mask
