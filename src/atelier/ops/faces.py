"""Faces in a photo: OpenCV's Haar cascade detector and soft (feathered elliptical) masks over them.

The detector is Viola & Jones 2001 ("Rapid Object Detection using a Boosted Cascade of Simple Features"),
with Lienhart's frontal-face cascade ``haarcascade_frontalface_alt2.xml`` (Lienhart & Maydt 2002; Intel
License Agreement, a BSD-3-style licence, in the XML's header). No weights are downloaded: the file comes
from the opencv-python(-headless) 4.x wheel (``cv2.data.haarcascades``; the 5.x wheels ship none, hence
atelier's ``faces`` extra pins ``opencv-python-headless<5``) or from Debian's ``opencv-data`` package.
Why this cascade: among the cascades of those packages it found the two faces of ../shared/data's
registry photos and nothing in the other 71 (``haarcascade_frontalface_default.xml`` found 7 false faces
there: wallpapers, bark, a machine). It is a frontal detector: profiles and small faces are missed.

Torch is imported where a mask is made, so :func:`find_cascade` (``atelier.prepare``) stays light.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import WeightsError

CASCADE = "haarcascade_frontalface_alt2.xml"
# Debian's opencv-data (OpenCV 4.x and older layouts).
SYSTEM_DIRS = ("/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades")
INSTALL_HINT = ("--protect faces needs OpenCV's face detector (its Haar cascade files), which is not installed: "
                "pip install 'atelier[faces]' (opencv-python-headless 4.x ships it) or apt install opencv-data.")
# Detection runs on the photo's grey copy with this long side (range): faces of at least 20 px (the
# cascade's window) at this size are found, ~2.5 % of the long side; larger photos are reduced (speed),
# smaller ones enlarged.
DETECT_LONG_SIDE = (256, 800)
MIN_FACE = 20
# The soft mask of a detected box (x, y, w, h): an ellipse centred on the box, ELLIPSE x the box's half
# sides (the box covers brows to mouth; the ellipse reaches forehead, chin and cheeks), feathered over
# FEATHER of its radius (full weight inside radius 1 - FEATHER/2, none beyond 1 + FEATHER/2).
ELLIPSE = (1.15, 1.45)
CENTRE_SHIFT = 0.05  # the ellipse centre this fraction of the box height below the box centre (chin)
FEATHER = 0.4


def _cv2():
    try:
        import cv2
    except ImportError:
        return None
    return cv2 if hasattr(cv2, "CascadeClassifier") else None


def find_cascade() -> Path:
    """The frontal-face cascade file: OpenCV's own data folder, then Debian's; one sentence otherwise."""
    cv2 = _cv2()
    if cv2 is None:
        raise WeightsError(INSTALL_HINT)
    dirs = [getattr(getattr(cv2, "data", None), "haarcascades", ""), *SYSTEM_DIRS]
    for d in dirs:
        if d and os.path.isfile(os.path.join(d, CASCADE)):
            return Path(d) / CASCADE
    raise WeightsError(INSTALL_HINT)


def detect_faces(rgb) -> list[tuple[float, float, float, float]]:
    """Face boxes (x, y, w, h) in the photo's pixels of ``rgb`` (1,3,H,W) in [0,1] (a tensor or an array
    of that shape), largest first."""
    import numpy as np

    cv2 = _cv2()
    path = find_cascade()
    detector = cv2.CascadeClassifier(str(path))
    if detector.empty():
        raise WeightsError(f"OpenCV could not read the face detector '{path}'; reinstall it. {INSTALL_HINT}")
    arr = np.asarray(rgb.detach().float().cpu() if hasattr(rgb, "detach") else rgb, dtype=np.float32)[0]
    h, w = arr.shape[-2:]
    grey = (0.299 * arr[0] + 0.587 * arr[1] + 0.114 * arr[2]) * 255.0
    long_side = min(max(max(h, w), DETECT_LONG_SIDE[0]), DETECT_LONG_SIDE[1])
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.equalizeHist(cv2.resize(grey.clip(0, 255).astype(np.uint8), size, interpolation=interp))
    found = detector.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(MIN_FACE, MIN_FACE))
    boxes = [tuple(float(v) / scale for v in box) for box in (found if len(found) else [])]
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
