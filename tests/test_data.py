"""The training-photo stream: listing, seeded crops and flips, resumable position, bad files, caching."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from atelier.engine.data import ImageFolderData, list_images
from atelier.errors import InputError, OptionError


def _save(path, h, w, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    _save(root / "a.png", 40, 56, 1)
    _save(root / "nested" / "deeper" / "b.jpg", 48, 36, 2)
    _save(root / "nested" / "c.webp", 36, 36, 3)
    _save(root / ".hidden" / "d.png", 40, 40, 4)  # hidden folders are not data
    (root / "notes.txt").write_text("not an image")
    return root


def test_listing_is_recursive_sorted_and_filtered(photos):
    names = [p.relative_to(photos).as_posix() for p in list_images(photos)]
    assert names == ["a.png", "nested/c.webp", "nested/deeper/b.jpg"]
    data = ImageFolderData([photos, photos / "nested"], 32)
    assert len(data) == 5  # two folders, listed one after the other
    assert data.first == photos / "a.png"


def test_batches_have_the_crop_shape_and_range(photos):
    data = ImageFolderData(photos, 32, max_scale=1.5)
    batch = next(data.batches(4, 0))
    assert batch.shape == (4, 3, 32, 32) and batch.dtype == torch.float32
    assert 0.0 <= float(batch.min()) and float(batch.max()) <= 1.0
    assert data.load_full().shape == (1, 3, 48, 67)  # a.png (40x56) with its short side at 32 * 1.5


def test_same_seed_same_batches_and_cache_does_not_change_them(photos):
    def take(seed, cache_mb=1024, n=5):
        stream = ImageFolderData(photos, 32, max_scale=1.3, cache_mb=cache_mb).batches(2, seed)
        return torch.stack([next(stream) for _ in range(n)])

    a = take(0)
    assert torch.equal(a, take(0))
    assert torch.equal(a, take(0, cache_mb=0))
    assert not torch.equal(a, take(1))


def test_every_photo_once_per_epoch_and_flips_happen(tmp_path):
    # Photos of exactly the crop size: each crop is the whole photo, flipped or not.
    srcs = [_save(tmp_path / f"p{i}.png", 16, 16, i) for i in range(3)]
    originals = [torch.from_numpy(np.array(Image.open(p))).permute(2, 0, 1).float() / 255 for p in srcs]
    stream = ImageFolderData(tmp_path, 16).batches(3, 3)
    flipped = plain = 0
    for _ in range(6):  # one batch = one epoch here
        seen = []
        for crop in next(stream):
            for i, o in enumerate(originals):
                if torch.allclose(crop, o, atol=1e-6):
                    seen.append(i)
                    plain += 1
                elif torch.allclose(crop, o.flip(-1), atol=1e-6):
                    seen.append(i)
                    flipped += 1
        assert sorted(seen) == [0, 1, 2]
    assert flipped > 0 and plain > 0


def test_position_in_the_stream_is_resumable(photos):
    stream = ImageFolderData(photos, 32).batches(2, 5)
    full = [next(stream) for _ in range(5)]

    stream = ImageFolderData(photos, 32).batches(2, 5)
    for _ in range(2):
        next(stream)
    state = stream.state_dict()
    assert state["next"] == 4 and state["files"] == 3
    resumed = ImageFolderData(photos, 32).batches(2, 5)
    resumed.load_state_dict(state)
    for expected in full[2:]:
        assert torch.equal(next(resumed), expected)


def test_ranks_share_each_global_batch_exactly(photos):
    """Two ranks of a torchrun training take the two halves of the batch one process would draw, in every
    step and across epochs; the position is the same on every rank, so a checkpoint of two ranks resumes
    in one process (and the other way round)."""
    one = ImageFolderData(photos, 32, max_scale=1.4).batches(4, 7)
    ranks = [ImageFolderData(photos, 32, max_scale=1.4).batches(4, 7, rank=r, world=2) for r in (0, 1)]
    for _ in range(3):  # 12 samples over 3 photos: four epochs
        halves = [next(s) for s in ranks]
        assert halves[0].shape == (2, 3, 32, 32)
        assert torch.equal(torch.cat(halves), next(one))
    assert ranks[0].state_dict() == ranks[1].state_dict() == one.state_dict()
    resumed = ImageFolderData(photos, 32, max_scale=1.4).batches(4, 7)
    resumed.load_state_dict(ranks[1].state_dict())
    assert torch.equal(next(resumed), next(one))
    with pytest.raises(OptionError, match="batch size 4 cannot be split evenly over 3 training processes"):
        ImageFolderData(photos, 32).batches(4, 0, rank=0, world=3)


def test_a_stream_state_of_an_earlier_version_restarts_with_a_warning(photos, caplog):
    caplog.set_level(logging.WARNING, logger="atelier.engine.data")
    stream = ImageFolderData(photos, 32).batches(2, 5)
    first = next(stream)
    stream.load_state_dict({"order": [2, 0, 1], "pos": 1, "files": 3})  # written before 2026-12
    assert torch.equal(next(stream), first) and "earlier atelier" in caplog.text


def test_corrupt_file_is_skipped_with_one_warning(photos, caplog):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    caplog.set_level(logging.WARNING, logger="atelier.engine.data")
    stream = ImageFolderData(photos, 32).batches(3, 0)
    for _ in range(6):  # several epochs of 4 files
        assert next(stream).shape == (3, 3, 32, 32)
    warnings = [r for r in caplog.records if "broken.jpg" in r.getMessage()]
    assert len(warnings) == 1


def test_folders_without_usable_images_are_one_sentence_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="has no image files") as err:
        ImageFolderData(empty, 32)
    assert "\n" not in str(err.value)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match="none readable"):
        ImageFolderData(bad, 32)
    with pytest.raises(InputError, match="does not exist"):
        ImageFolderData(tmp_path / "missing", 32)
    with pytest.raises(OptionError):
        ImageFolderData(tmp_path, 8)
