"""Faces in a photo: a Haar cascade face detector and soft (feathered elliptical) masks over the faces.

The detector is Viola & Jones 2001 ("Rapid Object Detection using a Boosted Cascade of Simple Features"),
evaluated by ``ops.haar`` (numpy) with OpenCV's frontal-face cascade ``haarcascade_frontalface_alt2.xml``
(Lienhart & Maydt 2002; the Intel License Agreement, a BSD-3-style licence, is in the XML's header). No
weights are downloaded: the file comes from Debian's ``opencv-data`` package (/usr/share/opencv4/
haarcascades) or from an opencv-python(-headless) 4.x wheel (``cv2.data.haarcascades``; atelier's
``faces`` extra). OpenCV 5 has neither the files nor ``cv2.CascadeClassifier``, hence ``ops.haar``.
Why this cascade: on ../shared/data's 73 registry photos, through OpenCV 4's classifier, it found the two
frontal faces (Grace Hopper, Eileen Collins) and nothing else (``haarcascade_frontalface_default.xml``
found 7 false faces: wallpapers, bark, a machine); through ``detect_faces`` here (``ops.haar``, PIL's
resizing) the two faces and one false face (in tuxpaint's wool-mill machine). It is a frontal detector:
profiles and faces under ~4 % of the long side are missed.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import WeightsError

CASCADE = "haarcascade_frontalface_alt2.xml"
# Debian's opencv-data (OpenCV 4.x and older layouts).
SYSTEM_DIRS = ("/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades")
INSTALL_HINT = ("--protect faces needs OpenCV's face detector file (haarcascade_frontalface_alt2.xml), which is "
                "not installed: apt install opencv-data, or pip install 'atelier[faces]' (an OpenCV 4 wheel).")
# Detection runs on the photo's grey copy with this long side (range): faces of at least 20 px (the
# cascade's window) at this size are found, ~4 % of the long side; larger photos are reduced (the numpy
# cascade takes ~1 s at 400 px on one loaded core), smaller ones enlarged.
DETECT_LONG_SIDE = (256, 512)
MIN_FACE = 20
# The soft mask of a detected box (x, y, w, h): an ellipse centred on the box, ELLIPSE x the box's half
# sides (the box covers brows to mouth; the ellipse reaches forehead, chin and cheeks), feathered over
# FEATHER of its radius (full weight inside radius 1 - FEATHER/2, none beyond 1 + FEATHER/2).
ELLIPSE = (1.15, 1.45)
CENTRE_SHIFT = 0.05  # the ellipse centre this fraction of the box height below the box centre (chin)
FEATHER = 0.4


def _opencv_data_dir() -> str:
    """The data folder of an installed OpenCV wheel (4.x ships the cascades there), or ''."""
    try:
        import cv2
    except ImportError:
        return ""
    return str(getattr(getattr(cv2, "data", None), "haarcascades", "") or "")


def find_cascade() -> Path:
    """The frontal-face cascade file: Debian's folders, then OpenCV's own data folder; one sentence otherwise."""
    for d in (*SYSTEM_DIRS, _opencv_data_dir()):
        if d and os.path.isfile(os.path.join(d, CASCADE)):
            return Path(d) / CASCADE
    raise WeightsError(INSTALL_HINT)


def detect_faces(rgb) -> list[tuple[float, float, float, float]]:
    """Face boxes (x, y, w, h) in the photo's pixels of ``rgb`` (1,3,H,W) in [0,1] (a tensor or an array
    of that shape), largest first."""
    import numpy as np
    from PIL import Image

    from .haar import detect, equalize_hist

    path = find_cascade()
    arr = np.asarray(rgb.detach().float().cpu() if hasattr(rgb, "detach") else rgb, dtype=np.float32)[0]
    h, w = arr.shape[-2:]
    grey = ((0.299 * arr[0] + 0.587 * arr[1] + 0.114 * arr[2]) * 255.0).round().clip(0, 255).astype(np.uint8)
    long_side = min(max(max(h, w), DETECT_LONG_SIDE[0]), DETECT_LONG_SIDE[1])
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(grey).resize(size, Image.BOX if scale < 1 else Image.BILINEAR))
    try:
        found = detect(equalize_hist(small), path, scale_factor=1.1, min_neighbors=5, min_size=MIN_FACE)
    except (ValueError, OSError, SyntaxError) as err:  # damaged or foreign (ET.ParseError is a SyntaxError)
        raise WeightsError(f"The face detector file '{path}' cannot be read ({err}); reinstall it.") from None
    boxes = [tuple(float(v) / scale for v in box) for box in found]
    return sorted(boxes, key=lambda b: -b[2] * b[3])


def face_mask(boxes, hw: tuple[int, int]):
    """A (1,1,H,W) float mask in [0,1]: the union (max) of one feathered ellipse per box (x, y, w, h)."""
    import torch

    h, w = hw
    ys = torch.arange(h, dtype=torch.float32).view(h, 1) + 0.5
    xs = torch.arange(w, dtype=torch.float32).view(1, w) + 0.5
    mask = torch.zeros(h, w)
    for x0, y0, bw, bh in boxes:
        cx, cy = x0 + bw / 2, y0 + bh / 2 + CENTRE_SHIFT * bh
        ax, ay = ELLIPSE[0] * bw / 2, ELLIPSE[1] * bh / 2
        r = (((xs - cx) / ax) ** 2 + ((ys - cy) / ay) ** 2).sqrt()  # 1 on the ellipse
        t = ((1 + FEATHER / 2 - r) / FEATHER).clamp(0, 1)
        mask = torch.maximum(mask, t * t * (3 - 2 * t))  # smoothstep: no visible edge
    return mask.view(1, 1, h, w)


__all__ = ["CASCADE", "INSTALL_HINT", "detect_faces", "face_mask", "find_cascade"]
