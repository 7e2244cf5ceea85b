"""``--protect faces``: faces found in the photo stay recognisable (issue 20, "faces that stay faces").

Style transfer repaints what a face is made of; a face whose eyes and mouth are repainted stops being that
person. This run option finds the faces (``ops.faces``: OpenCV's Haar cascade, Viola & Jones 2001), draws
a soft elliptical mask over each, and hands the method a per-pixel protection weight
``w = protect_strength x mask`` in [0,1], (1,1,H,W) at the photo's size. Each method maps it in its own
terms (its capabilities say ``protect``):

* gatys: a spatially varying style weight and content weight. The style term becomes a guided Gram
  matrix (Gatys et al. 2017 §4) with the guide 1 - w, so a fully protected pixel gets no style gradient
  and the painting's statistics are matched by the rest of the image; the content term weighs each
  position 1 + PROTECT_CONTENT_BOOST x w (``methods/gatys/method.py``; ``losses.content_loss(weights=)``);
* adain, sanet, wct: a per-pixel alpha, alpha(x) = alpha (1 - w(x)): the decoder's input is blended
  toward the photo's own features (alpha = 0) inside the mask, exactly Huang & Belongie 2017 eq. 14
  (Li et al. 2017 eq. 4 for WCT, at every level) with a spatial alpha; and, since the decoders cannot draw
  a face back from those features, the decoded result is cross-faded toward the photo by w as well;
* johnson: the style is inside the network and has no strength to lower, so the result is cross-faded
  toward the photo inside the mask (out = w photo + (1 - w) result): honest, but a blend, not a lighter
  painting.

Methods without it (the classical ones) are refused in one sentence by :func:`check`; no face found is a
warning and the normal result. A run option as ``--refine`` and ``--work-size`` are: declared here
(:class:`ProtectOptions`, torch-free, for the CLI and the web form), checked by ``atelier.prepare``,
applied by ``atelier.run``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from .errors import OptionError
from .options import Config, option

logger = logging.getLogger(__name__)

HELP = ("Keep detected faces recognisable: 'faces' finds frontal faces in the photo (OpenCV's Haar cascade, "
        "from Debian's opencv-data or pip install 'atelier[faces]') "
        "and paints them more lightly, inside soft elliptical masks; 'none' = off.")
DEFAULT_STRENGTH = 0.8
STRENGTH_HELP = ("How much --protect keeps of the photo inside the face masks, 0 (none) to 1 (gatys: no style "
                 "term there and a 5x content weight; adain/sanet/wct: alpha 0 there and the photo; johnson: "
                 "the photo).")
DETECTOR = "Haar cascade haarcascade_frontalface_alt2.xml (OpenCV's; Viola & Jones 2001, Lienhart 2002)"


@dataclass
class ProtectOptions(Config):
    """The run options ``protect`` and ``protect_strength`` as declared fields (the CLI's and the web form's)."""

    HELP: ClassVar[str] = HELP
    STRENGTH_HELP: ClassVar[str] = STRENGTH_HELP
    DEFAULT_STRENGTH: ClassVar[float] = DEFAULT_STRENGTH
    protect: str = option("none", HELP, "Gatys et al. 2017 §4 (guided Gram), Huang 2017 eq. 14 (spatial alpha)",
                          choices=("none", "faces"), texture=False)
    protect_strength: float = option(DEFAULT_STRENGTH, STRENGTH_HELP, minimum=0.0, maximum=1.0, texture=False)


def options_of(protect="none", protect_strength=None) -> ProtectOptions:
    """The checked options (one sentence for a wrong word, a strength outside 0..1, or a strength without
    --protect: it would be ignored)."""
    values = {"protect": "none" if protect is None else protect}
    if protect_strength is not None:
        values["protect_strength"] = protect_strength
    opts = ProtectOptions(**values)
    if opts.protect == "none" and protect_strength is not None:
        raise OptionError("--protect-strength sets how much --protect keeps of the photo: give --protect faces "
                          "with it.")
    return opts


def check(method: str, caps, opts: ProtectOptions, *, video: bool = False, texture: bool = False,
          able: str = "") -> None:
    """Refuse what cannot be honoured, in one sentence: a method without the capability, video or a
    texture; and the detector missing (before any image is read)."""
    if opts.protect == "none":
        return
    if not caps.protect:
        raise OptionError(f"The {method} method cannot lower its style strength inside a region: --protect "
                          f"faces needs one of: {able}.")
    if video or texture:
        raise OptionError("--protect faces applies to a photo, not to video or textures.")
    from .ops.faces import find_cascade

    find_cascade()  # WeightsError: how to install it


def face_weights(photo, opts: ProtectOptions):
    """(weights (1,1,H,W) = strength x soft face mask, or None; the sidecar's record) for ``photo``
    (1,3,H,W) in [0,1]. No face found: a warning, None, and the run goes on unprotected."""
    from .ops.faces import detect_faces, face_mask

    boxes = detect_faces(photo)
    record = {"protect": "faces", "strength": opts.protect_strength, "detector": DETECTOR,
              "faces": [[round(v, 1) for v in b] for b in boxes]}
    if not boxes:
        logger.warning("--protect faces: no face was found in the photo; it is stylised without protection.")
        record["warning"] = "no face found"
        return None, record
    mask = face_mask(boxes, tuple(photo.shape[-2:])).to(photo.device)
    return opts.protect_strength * mask, record
