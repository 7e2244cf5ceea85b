"""Training data: photos from image folders as an infinite, seeded stream of random square crops.

:class:`ImageFolderData` lists every image file (``atelier.io.READ_EXTENSIONS``) under one or more folders,
recursively, in a sorted order (so a listing does not depend on the file system). :meth:`ImageFolderData.batches`
yields (B,3,S,S) float32 RGB batches in [0,1] forever: each epoch visits the images in a new random order,
and each image gives one crop (Johnson et al. 2016 §4.1 train on 256x256 COCO images; we crop instead of
squashing, so photos keep their aspect ratio):

* the image is resized (bicubic, antialiased: ``io.resize``) so its short side is ``S * max_scale``;
* a square of side ``c`` in [S, S * max_scale] (uniform) is cut at a random place and resized to S x S.
  The effective short side of the photo is then S * (S * max_scale / c), between S and S * max_scale: with
  ``max_scale > 1`` the network sees each photo at several scales (scale augmentation); with 1 the crop is
  simply an S x S square of the photo resized to short side S;
* it is flipped left-right with probability 1/2.

Every random draw comes from the ``torch.Generator`` passed in, so the same seed gives the same batches.
The stream's position (the epoch's order and the place in it) is ``state_dict()`` so a resumed training
run continues with exactly the batches the uninterrupted run would have seen.

Decoding cost (2 cores): decoding a 12-megapixel JPEG takes ~0.1-0.2 s, which would dominate a ~0.5 s
training step. The first decode of a photo is therefore cached, already downsized to short side
``S * max_scale``, as uint8 (~0.25 MB per photo at 256 px), up to ``cache_mb`` megabytes (default 1024 MB,
about 4000 photos at 256 px; 0 disables it). The cached copy is exactly what an uncached read computes, so
caching never changes the batches. Decoding runs in the training thread, without prefetching: on 2 cores a
background decoder would take its time from the training step's compute threads anyway. Unreadable or corrupt files are skipped with one warning each (then
dropped for the rest of the run); a folder with no usable image is an :class:`~atelier.errors.InputError`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import io
from ..errors import InputError, OptionError

logger = logging.getLogger(__name__)


def list_images(folder) -> list[Path]:
    """Image files under ``folder`` (recursive, hidden files and folders skipped), sorted by relative path."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise InputError(f"Data folder '{root}' does not exist.")
    if not root.is_dir():
        raise InputError(f"'{root}' is a file, not a folder of training images.")
    found = [p for p in root.rglob("*")
             if p.suffix.lower() in io.READ_EXTENSIONS and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


class ImageFolderData:
    """Photos under ``folders`` as random S x S crops; see the module docstring."""

    def __init__(self, folders: Sequence, size: int, *, max_scale: float = 1.0, cache_mb: float = 1024,
                 max_pixels: int | None = None):
        if size < 16:
            raise OptionError(f"The crop size must be at least 16 pixels, not {size}.")
        if not 1.0 <= max_scale <= 4.0:
            raise OptionError(f"The scale augmentation must be between 1 and 4, not {max_scale}.")
        if isinstance(folders, (str, Path)):
            folders = [folders]
        if not folders:
            raise InputError("No data folder was given: training needs a folder of photos.")
        self.size, self.max_scale, self.max_pixels = int(size), float(max_scale), max_pixels
        self.short_side = math.ceil(self.size * self.max_scale)  # what is decoded, cached and cropped from
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: dict[Path, torch.Tensor] = {}  # path -> (3,h,w) uint8, short side == self.short_side
        self._cached_bytes = 0
        self._bad: set[Path] = set()
        self.folders = [Path(f).expanduser() for f in folders]
        self.files: list[Path] = []
        self.first: Path | None = None  # the first usable photo (the trainers' preview)
        for folder in self.folders:
            files = list_images(folder)
            # Check each folder has at least one usable photo now, not after minutes of training.
            usable = next((f for f in files if self._load(f) is not None), None)
            if usable is None:
                what = "no image files" if not files else f"{len(files)} image file(s), none readable"
                raise InputError(f"Data folder '{folder}' has {what} ({', '.join(io.READ_EXTENSIONS)}).")
            self.first = self.first or usable
            self.files.extend(files)
        # Epoch state: the order of this epoch (indices into self.files) and the next place in it.
        self._order: list[int] = []
        self._pos = 0

    def __len__(self) -> int:
        return len(self.files)

    @property
    def usable(self) -> int:
        """Files not (yet) found unreadable: after a full epoch, the number of usable photos."""
        return len(self.files) - len(self._bad)

    # --------------------------------------------------------------------------------------- decoding

    def _load(self, path: Path) -> torch.Tensor | None:
        """(3,h,w) uint8 photo with short side ``self.short_side``, or None if unreadable (warned once)."""
        if path in self._bad:
            return None
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        try:
            rgb = io.load_image(path, max_pixels=self.max_pixels)  # (1,3,H,W) float32 in [0,1]
        except InputError as err:  # unreadable, corrupt, too large: skip this file for the whole run
            logger.warning("Skipping training image: %s", err)
            self._bad.add(path)
            return None
        h, w = rgb.shape[-2:]
        f = self.short_side / min(h, w)
        rgb = io.resize(rgb, (max(self.short_side, round(h * f)), max(self.short_side, round(w * f))))
        img = (rgb[0] * 255.0).round().to(torch.uint8)  # (3,h,w); uint8 is 4x smaller to cache than fp32
        if self._cached_bytes + img.numel() <= self.cache_bytes:
            self._cache[path] = img
            self._cached_bytes += img.numel()
        return img

    def load_full(self, path: Path | None = None) -> torch.Tensor:
        """A photo (default: the first usable one) as (1,3,h,w) float32, short side ``short_side``."""
        img = self._load(path or self.first)
        if img is None:
            raise InputError(f"Cannot read '{path}' as an image.")
        return img[None].float() / 255.0

    def _crop(self, img: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """(3,h,w) uint8 -> (3,S,S) float32: random square of side c in [S, short_side], resized, maybe flipped."""
        s = self.size
        _, h, w = img.shape
        c = s + int(torch.randint(0, self.short_side - s + 1, (1,), generator=g))
        top = int(torch.randint(0, h - c + 1, (1,), generator=g))
        left = int(torch.randint(0, w - c + 1, (1,), generator=g))
        flip = bool(torch.randint(0, 2, (1,), generator=g))
        crop = img[None, :, top:top + c, left:left + c].float() / 255.0  # (1,3,c,c)
        if c != s:
            crop = F.interpolate(crop, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        if flip:
            crop = crop.flip(-1)
        return crop[0].clamp_(0.0, 1.0)

    # --------------------------------------------------------------------------------------- the stream

    def _next_index(self, g: torch.Generator) -> int:
        if self._pos >= len(self._order):
            self._order = torch.randperm(len(self.files), generator=g).tolist()
            self._pos = 0
        self._pos += 1
        return self._order[self._pos - 1]

    def next_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """(B,3,S,S) float32: the next ``batch_size`` photos of the shuffled stream, each randomly cropped."""
        items = []
        while len(items) < batch_size:
            img = self._load(self.files[self._next_index(generator)])
            if img is None:
                if len(self._bad) == len(self.files):
                    raise InputError("None of the training images can be read any more.")
                continue
            items.append(self._crop(img, generator))
        return torch.stack(items)

    def batches(self, batch_size: int, generator: torch.Generator) -> BatchStream:
        """An endless iterator of (B,3,S,S) batches drawn with ``generator``; resumable (``state_dict``)."""
        if batch_size < 1:
            raise OptionError(f"The batch size must be at least 1, not {batch_size}.")
        return BatchStream(self, batch_size, generator)

    def state_dict(self) -> dict:
        return {"order": list(self._order), "pos": self._pos, "files": len(self.files)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("files") != len(self.files):
            # The folders changed since the checkpoint: start a fresh epoch (still seeded by the generator).
            logger.warning("The training folders hold %d images, the checkpoint was made with %s; the image "
                           "order restarts with a new epoch.", len(self.files), state.get("files"))
            self._order, self._pos = [], 0
            return
        self._order, self._pos = list(state["order"]), int(state["pos"])


class BatchStream(Iterator[torch.Tensor]):
    """``next(stream)`` -> (B,3,S,S); ``state_dict``/``load_state_dict`` save the place in the stream (the
    generator's own state is saved by the trainer's checkpoint)."""

    def __init__(self, data: ImageFolderData, batch_size: int, generator: torch.Generator):
        self.data, self.batch_size, self.generator = data, batch_size, generator

    def __next__(self) -> torch.Tensor:
        return self.data.next_batch(self.batch_size, self.generator)

    def state_dict(self) -> dict:
        return self.data.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.data.load_state_dict(state)


class PairedStream(Iterator[tuple[torch.Tensor, torch.Tensor]]):
    """Two streams drawn in turn with one generator: ``next(stream)`` -> (content batch, style batch), e.g.
    photos and paintings for arbitrary-style training (AdaIN, SANet). ``state_dict`` holds both positions,
    so a resumed run continues with exactly the pairs the uninterrupted run would have seen."""

    def __init__(self, first: BatchStream, second: BatchStream):
        self.first, self.second = first, second

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        return next(self.first), next(self.second)

    def state_dict(self) -> dict:
        return {"first": self.first.state_dict(), "second": self.second.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.first.load_state_dict(state["first"])
        self.second.load_state_dict(state["second"])
