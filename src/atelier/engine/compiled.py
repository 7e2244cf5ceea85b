"""Feed-forward networks run through ``torch.compile`` once the same input size keeps coming.

Eager PyTorch runs a feed-forward style network op by op: on a CPU most of the time of a large image goes
to memory-bound ops around the convolutions (instance norm, padding, upsampling, ReLU) and to layout
copies into and out of oneDNN's convolutions. Inductor fuses those into a few C++ loops: about 2.5x
faster for the compact Johnson network on our CPUs, but compiling costs seconds per input size
(measurements: benchmarks/results/code_notes.md, ``atelier.engine.compiled``).

So compiling pays off only when a size keeps coming: video frames, a batch of photos of one camera, a
server. ``mode='auto'`` decides like renting skis: it runs a size eagerly until the time already spent on
that size reaches what compiling is expected to cost (``AUTO_AFTER_SECONDS``), then compiles, so it never
loses more than about twice the best choice made in hindsight. One image never waits for a compilation; a
video compiles after its first few dozen frames. ``'on'`` compiles at once, ``'off'`` never. A machine
without a working C++ compiler (or any other compile failure) falls back to eager with one warning;
results are the same either way, up to rounding.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import torch
from torch import nn

logger = logging.getLogger(__name__)

MODES = ("auto", "on", "off")
# 'auto' compiles a size once this many seconds went into running it eagerly: about what one compilation of a
# feed-forward network by inductor costs on our CPUs (measured: code_notes.md, ``atelier.engine.compiled``).
AUTO_AFTER_SECONDS = 10.0


class Compiled:
    """Callable wrapper of an eval-mode network: ``wrapper(x)`` == ``net(x)``, compiled per input size.

    One wrapper per loaded network (kept beside it in the method's model cache), so the counts span
    every image of the process. Thread-safe: the web app runs jobs in worker threads.
    """

    def __init__(self, net: nn.Module, device: torch.device):
        self.net = net
        self.usable = device.type in ("cpu", "cuda")  # MPS: inductor support varies; stay eager
        self.spent: Counter = Counter()  # eager seconds per input shape
        self.compiled = None
        self.failed = False
        self.lock = threading.Lock()

    def _compiled(self):
        with self.lock:
            if self.compiled is None:
                # dynamic=False: one specialised graph per size (the fastest kernels); dynamo keeps up to
                # its cache_size_limit (8) sizes, then runs new sizes eagerly.
                self.compiled = torch.compile(self.net, dynamic=False)
            return self.compiled

    def __call__(self, x: torch.Tensor, mode: str = "auto") -> torch.Tensor:
        if mode not in MODES:
            raise ValueError(f"compile mode must be one of {MODES}, not {mode!r}")
        key = tuple(x.shape)
        with self.lock:
            spent = self.spent[key]
        want = mode == "on" or (mode == "auto" and spent >= AUTO_AFTER_SECONDS)
        if want and self.usable and not self.failed:
            try:
                return self._compiled()(x)
            except Exception as err:  # noqa: BLE001 - no compiler, unsupported op, ...: eager still works
                self.failed = True
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                logger.warning("torch.compile is not usable here (%s); running the network eagerly.", first)
        t0 = time.perf_counter()
        y = self.net(x)
        with self.lock:
            self.spent[key] += time.perf_counter() - t0
        return y
