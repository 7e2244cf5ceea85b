"""3x3 convolutions by Winograd's minimal filtering F(4x4, 3x3), for the frozen VGG-19 on a CPU in fp32.

Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks" (§4, the F(4x4,3x3) matrices of
their Table/Appendix, also in their reference code ``wincnn``). Each 6x6 input tile d gives a 4x4 output
tile Y = A^T [ (G g G^T) * (B^T d B) ] A: the 36 element-wise products become 36 matrix products over the
channels, 36 multiplies per 16 outputs per channel pair instead of 144 (4x fewer). The tile transforms
are memory-bound; they cost about what the products save at 64 channels, so only the layers from
``conv3_1`` on (128+ input channels, 1/4 resolution and below) use it (measured:
``benchmarks/results/winograd.md``). Relative error against ``conv2d`` ~3e-6 in fp32.

The VGG-19 of the losses is frozen, so only the gradient to the input is needed: the convolution is
linear, its input gradient is the convolution of the output gradient with the transposed, flipped
kernel, which runs through the same routine; no activation is saved for the backward pass.

``ENABLED`` turns it off process-wide (the before/after measurements); ``ATELIER_WINOGRAD=0`` in the
environment starts a process with it off.
"""

from __future__ import annotations

import functools
import os

import torch
import torch.nn.functional as F

ENABLED = os.environ.get("ATELIER_WINOGRAD", "1") != "0"

# F(4x4, 3x3): input transform B^T (6x6), kernel transform G (6x3), output transform A^T (4x6).
_BT = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
       [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
_G = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
      [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
_AT = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
TILE, OUT = 6, 4
# One chunk of tile rows transforms at most this many bytes at a time: the transforms stay in cache-sized
# pieces (8 MiB was fastest of 2/8/32 MiB at 512 px) and a large image never holds 2.25x copies of a layer.
CHUNK_BYTES = 8 << 20


@functools.lru_cache(maxsize=8)
def _kron(which: str, device: str) -> torch.Tensor:
    """(rows^2, cols^2) matrix of X -> M X M^T on a flattened cols x cols tile, M = B^T or A^T."""
    t = torch.tensor(_BT if which == "B" else _AT, dtype=torch.float64)
    return torch.einsum("pi,qj->pqij", t, t).reshape(t.shape[0] ** 2, t.shape[1] ** 2).float().to(device)


def kernel_transform(weight: torch.Tensor) -> torch.Tensor:
    """(Cout,Cin,3,3) kernel -> (36,Cin,Cout) fp32: G g G^T per channel pair, laid out for bmm."""
    g = torch.tensor(_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("pa,ocab,qb->pqco", g, weight.double(), g)
    return u.reshape(TILE * TILE, weight.shape[1], weight.shape[0]).float().contiguous()


def applies(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> bool:
    """Whether :func:`conv3x3` should replace ``conv2d`` here: fp32 on a CPU, a frozen 3x3 kernel (no
    gradient to the weights or the bias is computed). On CUDA/MPS the vendor libraries choose their own."""
    frozen = not weight.requires_grad and (bias is None or not bias.requires_grad)
    return (ENABLED and frozen and x.device.type == "cpu" and x.dtype == torch.float32
            and weight.dtype == torch.float32 and weight.shape[-2:] == (3, 3) and not torch.is_autocast_enabled())


def _conv(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """x (B,C,H,W) * u (36,C,Co), padding 1 -> (B,Co,H,W), channels_last, no bias."""
    b, c, h, w = x.shape
    co = u.shape[2]
    th, tw = -(-h // OUT), -(-w // OUT)  # tiles per column and row
    # Zero padding 1 plus what completes the last tile; an (B,Hp,Wp,C) view of a channels_last input.
    xh = F.pad(x, (1, tw * OUT + 1 - w, 1, th * OUT + 1 - h)).permute(0, 2, 3, 1)
    bt, at = _kron("B", str(x.device)), _kron("A", str(x.device))  # (36,36), (16,36)
    out = torch.empty(b, co, h, w, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    out_hwc = out.permute(0, 2, 3, 1)  # (B,H,W,Co) view of its memory
    rows = max(1, CHUNK_BYTES // (TILE * TILE * b * tw * max(c, co) * 4))
    for a0 in range(0, th, rows):
        n = min(th, a0 + rows) - a0
        t = b * n * tw  # tiles in this chunk
        # (B,n,tw,C,6,6) overlapping tiles (stride 4) -> (36, T*C): tile position first, channels innermost.
        d = xh[:, OUT * a0:OUT * (a0 + n) + TILE - OUT].unfold(1, TILE, OUT).unfold(2, TILE, OUT)
        d = d.permute(4, 5, 0, 1, 2, 3).reshape(TILE * TILE, t * c)
        m = torch.bmm((bt @ d).view(TILE * TILE, t, c), u)  # (36,T,Co): the 36 channel products
        y = (at @ m.view(TILE * TILE, t * co)).view(OUT, OUT, b, n, tw, co)  # (4,4,B,n,tw,Co) output tiles
        y = y.permute(2, 3, 0, 4, 1, 5).reshape(b, n * OUT, tw * OUT, co)  # (B,4n,4tw,Co)
        r0 = OUT * a0
        r1 = min(h, r0 + n * OUT)
        out_hwc[:, r0:r1].copy_(y[:, :r1 - r0, :w])
    return out


class _Winograd3x3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, u, u_t, bias):
        ctx.u_t = u_t
        y = _conv(x, u)
        return y if bias is None else y.add_(bias.view(1, -1, 1, 1))

    @staticmethod
    def backward(ctx, grad):
        # d(conv)/dx: the output gradient convolved with the transposed, flipped kernel (padding 1).
        gx = _conv(grad.contiguous(memory_format=torch.channels_last), ctx.u_t) if ctx.needs_input_grad[0] else None
        return gx, None, None, None


def transforms(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The forward and input-gradient kernels of a (Cout,Cin,3,3) weight, for :func:`conv3x3`."""
    return kernel_transform(weight), kernel_transform(weight.transpose(0, 1).flip(2, 3))


def conv3x3(x: torch.Tensor, kernels: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor | None) -> torch.Tensor:
    """``conv2d(x, weight, bias, padding=1)`` by F(4x4,3x3); ``kernels`` from :func:`transforms`."""
    return _Winograd3x3.apply(x, kernels[0], kernels[1], bias)
