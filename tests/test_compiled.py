"""engine.compiled: when a network goes through torch.compile, that it gives the eager result, and that a
machine where compiling fails still gets its image."""

from __future__ import annotations

import logging

import pytest
import torch
from test_johnson import model_file, smooth  # noqa: F401 - the fixture is used by name
from torch import nn

from atelier.engine import compiled
from atelier.engine.compiled import Compiled
from atelier.methods import create_method
from atelier.methods.johnson.method import load_network


class _Counting:
    """Stands in for torch.compile: counts the compiles and the calls through the 'compiled' network."""

    def __init__(self):
        self.compiles = self.calls = 0

    def __call__(self, net, **_kw):
        self.compiles += 1

        def run(x):
            self.calls += 1
            return net(x)

        return run


def test_auto_compiles_a_size_once_its_eager_time_reaches_the_compile_cost(monkeypatch):
    fake = _Counting()
    monkeypatch.setattr(torch, "compile", fake)
    monkeypatch.setattr(compiled, "AUTO_AFTER_SECONDS", 1e-9)  # the suite turns 'auto' off (conftest)
    net = nn.Conv2d(3, 3, 1).eval()
    wrap = Compiled(net, torch.device("cpu"))
    a, b = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 12)
    wrap(a)
    wrap(b)
    assert fake.calls == 0  # the first image of each size: eager (no time spent on it yet)
    torch.testing.assert_close(wrap(a), net(a))  # then the compiled one
    assert (fake.compiles, fake.calls) == (1, 1)
    wrap(b, "off")
    wrap(torch.rand(1, 3, 4, 4), "on")  # 'on': at once, a new size
    assert (fake.compiles, fake.calls) == (1, 2)
    monkeypatch.setattr(compiled, "AUTO_AFTER_SECONDS", 3600.0)
    wrap(torch.rand(1, 3, 4, 8))
    wrap(torch.rand(1, 3, 4, 8))
    assert fake.calls == 2  # far below an hour of eager time: not compiled
    with pytest.raises(ValueError, match="compile mode"):
        wrap(a, "sometimes")


def test_a_failing_compile_falls_back_to_eager_with_one_warning(monkeypatch, caplog):
    def broken(net, **_kw):
        def run(x):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore lines")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    net = nn.Conv2d(3, 3, 1).eval()
    wrap = Compiled(net, torch.device("cpu"))
    x = torch.rand(1, 3, 8, 8)
    with caplog.at_level(logging.WARNING, logger="atelier.engine.compiled"):
        for _ in range(3):
            torch.testing.assert_close(wrap(x, "on"), net(x))
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [("torch.compile is not usable here (InvalidCxxCompiler: No working C++ compiler found); "
                         "running the network eagerly.")]


def test_compiled_johnson_network_gives_the_eager_image(model_file):  # noqa: F811
    """The real torch.compile (inductor, C++): a few seconds for the tiny network at one size."""
    path, _ref = model_file
    x = smooth(40, 56)
    eager = create_method("johnson", model=str(path), precision="fp32", compile="off").stylize(x)
    wrapper = load_network(path, torch.device("cpu"), torch.float32)[2]  # the cached network's wrapper
    eager_seconds = sum(wrapper.spent.values())
    assert eager_seconds > 0 and wrapper.compiled is None  # 'off' ran the network eagerly, through it
    out = create_method("johnson", model=str(path), precision="fp32", compile="on").stylize(x)
    if wrapper.failed:  # pragma: no cover - a machine without a C++ compiler: eager, as the warning said
        pytest.skip("torch.compile is not usable on this machine")
    assert sum(wrapper.spent.values()) == eager_seconds  # 'on' ran the compiled graph: no eager pass
    torch.testing.assert_close(out, eager, rtol=0, atol=1e-4)
