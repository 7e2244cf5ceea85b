"""Shared fixtures: a private ATELIER_HOME per session, tiny generated images, no auto-compilation."""

from __future__ import annotations

import signal

import numpy as np
import pytest
from PIL import Image


def pytest_collection_modifyitems(items):
    """The suite's per-test time limit (pyproject: pytest-timeout's ``timeout``) turns a hang into one failed
    test with its stack instead of a CI run that ends at its own limit; the opt-in runs with the real weights
    (``-m weights``) take minutes by design and have none."""
    for item in items:
        if item.get_closest_marker("weights") is not None:
            item.add_marker(pytest.mark.timeout(0))


@pytest.fixture(scope="session", autouse=True)
def _atelier_home(tmp_path_factory):
    """Never touch the user's cache: the VGG cache of the test session lives in a temporary folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ATELIER_HOME", str(tmp_path_factory.mktemp("atelier_home")))
    yield
    mp.undo()


@pytest.fixture(scope="session", autouse=True)
def _no_auto_compile():
    """torch.compile costs seconds per network and image size: in the suite, compile='auto' never compiles
    (the tests that check compiling ask for compile='on')."""
    from atelier.engine import compiled

    mp = pytest.MonkeyPatch()
    mp.setattr(compiled, "AUTO_AFTER_SECONDS", float("inf"))
    yield
    mp.undo()


@pytest.fixture(scope="session", autouse=True)
def _sigint_raises():
    """A suite started in the background (``pytest &``) inherits SIGINT ignored; the tests that send
    themselves SIGINT need Python's handler (KeyboardInterrupt), as in a terminal."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([np.sin(6 * x + rng.uniform(0, 6)), np.cos(5 * y + rng.uniform(0, 6)),
                    np.sin(4 * (x + y) + rng.uniform(0, 6))], -1)
    img = 0.5 + 0.35 * img + 0.1 * rng.standard_normal((h, w, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def image_files(tmp_path):
    """A content photo (48x64), two style images and a left-half mask, as files in tmp_path."""
    paths = {}
    for name, (h, w, seed) in {"content": (48, 64, 1), "style": (40, 40, 2), "style2": (56, 40, 3)}.items():
        p = tmp_path / f"{name}.png"
        Image.fromarray(_smooth_image(h, w, seed)).save(p)
        paths[name] = p
    mask = np.zeros((48, 64), np.uint8)
    mask[:, :32] = 255
    paths["mask"] = tmp_path / "mask.png"
    Image.fromarray(mask).save(paths["mask"])
    return paths


@pytest.fixture
def no_bundled_models(tmp_path, monkeypatch):
    """An install without bundled models (an empty johnson manifest, no other bundles), for tests of what
    users see before any model exists or of their own models alone."""
    from atelier import weights

    bundle = tmp_path / "no-bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"format_version": 1, "models": []}')
    monkeypatch.setattr(weights, "bundled_dir", lambda: bundle)
    monkeypatch.setattr(weights, "_bundle_dirs", lambda: [bundle])
    return bundle


@pytest.fixture
def one_thread():
    """One torch thread: on 8-64 px tensors a second thread only adds synchronisation (and on a busy
    machine it is far slower). Test modules of tiny runs use it through ``pytestmark``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
