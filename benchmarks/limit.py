"""The compute limit of one Gatys iteration on this machine, from kernel micro-benchmarks.

For each VGG-19 convolution up to relu5_1 at the given image size we time its forward pass and its
backward pass to the input (the weights are frozen, so no weight gradient is needed), in the layout and
precision atelier uses (channels_last; fp32, or bf16 weights and activations), plus the Gram matrix products of the style
layers. The sum is the time of an iteration made only of these kernels at their measured speed: a lower
bound that ignores everything else (activations, pooling, losses, optimiser), so a real iteration can get
close to it but not below. FLOP counts are reported alongside so speeds can be checked against
PERFORMANCE.md.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from atelier.features import _BLOCKS

STYLE = {(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)}


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up (oneDNN primitive creation)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def iteration_limit(size: int, *, precision: str = "fp32", repeats: int = 3) -> dict:
    """Seconds and GFLOP of the conv + Gram kernels of one iteration at ``size`` x ``size``."""
    # bf16: tensors already in bfloat16, as atelier's bf16 VGG holds its weights and activations in bf16
    # (its input is cast once, before the first layer).
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    total_s, total_flop, side = 0.0, 0.0, size
    g = torch.Generator().manual_seed(0)
    for block, n_conv, c_in, c_out in _BLOCKS:
        for i in range(1, n_conv + 1):
            if block == 5 and i > 1:
                break  # the forward stops at relu5_1
            cin = c_in if i == 1 else c_out
            x = torch.randn(1, cin, side, side, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
            w = torch.randn(c_out, cin, 3, 3, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
            x.requires_grad_(True)
            grad_out = torch.ones(1, c_out, side, side, dtype=dtype).contiguous(memory_format=torch.channels_last)

            def step(x=x, w=w, grad_out=grad_out):
                y = F.conv2d(x, w, padding=1)
                y.backward(grad_out)
                x.grad = None

            total_s += _median_time(step, repeats)
            total_flop += 2 * 2 * c_out * cin * 9 * side * side  # forward + input gradient
            if (block, i) in STYLE:
                f = torch.randn(c_out, side * side, generator=g).to(dtype).requires_grad_(True)

                def gram(f=f):
                    gm = f @ f.t()
                    gm.float().sum().backward()
                    f.grad = None

                total_s += _median_time(gram, repeats)
                total_flop += 3 * 2 * c_out * c_out * side * side  # G = F F^T, then dL/dF = 2 G' F
        side //= 2
    return {"size": size, "precision": precision, "seconds": total_s, "gflop": total_flop / 1e9}


if __name__ == "__main__":
    for s in (256, 512):
        for p in ("fp32", "bf16"):
            r = iteration_limit(s, precision=p)
            print(f"{s} px {p}: {r['seconds']:.3f} s/iteration limit, {r['gflop']:.0f} GFLOP, "
                  f"{r['gflop'] / r['seconds']:.0f} GFLOP/s")
