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

The stream is a function of the seed and of a global sample counter k = 0, 1, 2, ... (step t's batch of B
photos is samples tB ... tB + B - 1): sample k is position k mod n of epoch k div n, whose order is a
permutation drawn from a generator seeded by (seed, stream key, epoch), and its crop and flip are drawn from
a generator seeded by (seed, stream key, k). So the same seed gives the same batches, the stream's whole
state is k (``state_dict()``: a resumed run continues with exactly the batches the uninterrupted run would
have seen), and nothing depends on how many processes share the work: with R ranks (torchrun;
``engine.distributed``) rank r of step t takes samples tB + rB/R ... tB + (r+1)B/R - 1 of the same global
batch, so the R ranks together see exactly the batch one process would (B must be a multiple of R), and a
checkpoint made with R ranks resumes with any other number. (Before 2026-12 the stream drew from one
generator in sequence; such a checkpoint resumes with a fresh epoch, see ``BatchStream.load_state_dict``.)

Decoding cost (2 cores): decoding a 12-megapixel JPEG takes ~0.1-0.2 s, which would dominate a ~0.5 s
training step. The first decode of a photo is therefore cached, already downsized to short side
``S * max_scale``, as uint8 (~0.25 MB per photo at 256 px), up to ``cache_mb`` megabytes (default 1024 MB,
about 4000 photos at 256 px; 0 disables it). The cached copy is exactly what an uncached read computes, so
caching never changes the batches. Decoding runs in the training thread, without prefetching: on 2 cores a
background decoder would take its time from the training step's compute threads anyway. Unreadable or corrupt files are skipped with one warning each (then
dropped for the rest of the run: the sample takes the next photo of the epoch's order instead, which
does not depend on the rank that found the file bad); a folder with no usable image is an
:class:`~atelier.errors.InputError`. Each rank decodes and caches only the photos of its own samples.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import io
from ..errors import InputError, OptionError
from . import distributed

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
        listing = hashlib.blake2b(digest_size=8)  # the names under each folder: the same on every machine
        for folder in self.folders:
            files = list_images(folder)
            listing.update("\n".join(["", *(f.relative_to(folder).as_posix() for f in files)]).encode())
            # Check each folder has at least one usable photo now, not after minutes of training.
            usable = next((f for f in files if self._load(f) is not None), None)
            if usable is None:
                what = "no image files" if not files else f"{len(files)} image file(s), none readable"
                raise InputError(f"Data folder '{folder}' has {what} ({', '.join(io.READ_EXTENSIONS)}).")
            self.first = self.first or usable
            self.files.extend(files)
        self.listing = listing.hexdigest()
        self._orders: dict[tuple, list[int]] = {}  # (seed, key, epoch) -> that epoch's order (the last two)

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

    def _order(self, seed: int, key: str, epoch: int) -> list[int]:
        """Epoch ``epoch``'s order of the files (indices into ``self.files``) for stream ``key``."""
        name = (seed, key, epoch)
        if name not in self._orders:
            g = torch.Generator().manual_seed(_seed(seed, key, "order", epoch))
            self._orders = {k: v for k, v in self._orders.items() if k[2] == epoch - 1}  # a batch may span two
            self._orders[name] = torch.randperm(len(self.files), generator=g).tolist()
        return self._orders[name]

    def sample(self, k: int, seed: int, key: str = "photos") -> torch.Tensor:
        """(3,S,S) float32: global sample ``k`` of stream ``key`` (see the module doc)."""
        n = len(self.files)
        epoch, pos = divmod(k, n)
        order = self._order(seed, key, epoch)
        for offset in range(n):  # an unreadable photo: the next of the epoch's order instead
            img = self._load(self.files[order[(pos + offset) % n]])
            if img is not None:
                return self._crop(img, torch.Generator().manual_seed(_seed(seed, key, "crop", k)))
        raise InputError("None of the training images can be read any more.")

    def batches(self, batch_size: int, seed: int, *, key: str = "photos", rank: int | None = None,
                world: int | None = None) -> BatchStream:
        """An endless iterator of this rank's share of global batches of ``batch_size`` (B,3,S,S) crops;
        resumable (``state_dict``). ``rank``/``world``: default the training's (``engine.distributed``);
        ``key`` names the stream, so two streams of one seed (photos, paintings) draw differently."""
        if batch_size < 1:
            raise OptionError(f"The batch size must be at least 1, not {batch_size}.")
        rank = distributed.rank() if rank is None else rank
        world = distributed.world_size() if world is None else world
        if batch_size % world:
            raise OptionError(f"The batch size {batch_size} cannot be split evenly over {world} training "
                              f"processes: it is the batch of the whole step, so give a multiple of {world}.")
        return BatchStream(self, batch_size, int(seed), key, rank, world)


def _seed(*parts) -> int:
    """A 63-bit generator seed from ints and strings (the same on every machine and Python run)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class BatchStream(Iterator[torch.Tensor]):
    """``next(stream)`` -> this rank's (B/R,3,S,S) share of the next global batch of B crops (all of it in one
    process). The state is the global counter of samples, the same on every rank."""

    def __init__(self, data: ImageFolderData, batch_size: int, seed: int, key: str, rank: int, world: int):
        self.data, self.batch_size, self.seed, self.key = data, batch_size, seed, key
        self.local = batch_size // world  # this rank's share
        self.offset = rank * self.local  # its place in the global batch
        self.next = 0  # global index of the first sample of the next batch

    def __next__(self) -> torch.Tensor:
        first = self.next + self.offset
        batch = torch.stack([self.data.sample(first + j, self.seed, self.key) for j in range(self.local)])
        self.next += self.batch_size
        return batch

    def state_dict(self) -> dict:
        return {"next": self.next, "files": len(self.data.files), "listing": self.data.listing}

    def load_state_dict(self, state: dict) -> None:
        if "next" not in state:
            # Written before 2026-12 (an epoch order and a place in it, drawn from one generator): the run
            # continues with a fresh epoch of the new stream, statistically the same as any other.
            logger.warning("The checkpoint's image order is of an earlier atelier; training continues with a "
                           "new epoch.")
            self.next = 0
            return
        if state.get("files") != len(self.data.files) or state.get("listing", self.data.listing) != self.data.listing:
            logger.warning("The training folders hold %d images, the checkpoint was made with %s (or other "
                           "names); the image order changes from here.", len(self.data.files), state.get("files"))
        self.next = int(state["next"])


class PairedStream(Iterator[tuple[torch.Tensor, torch.Tensor]]):
    """Two streams (of one seed, different keys): ``next(stream)`` -> (content batch, style batch), e.g.
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
