"""Export trained feed-forward networks to ONNX (run with onnxruntime by ``engine.inference.run_onnx``).

``export_onnx(model, output)`` writes a graph with dynamic batch, height and width, so one file serves
every image size. The model's atelier header (method, arch, card, ...) is stored in the ONNX
``metadata_props`` under ``atelier``, so ``atelier models`` and ``--model file.onnx`` know what it is.
Before the file is written, onnxruntime runs it on a test image and its output must match torch's within
1e-3; the file is written atomically.

Exporter: torch 2.13's default ``torch.onnx.export(..., dynamo=True)`` needs the extra ``onnxscript``
package; the TorchScript-based exporter (``dynamo=False``, deprecated but still shipped, and what the
``dynamic_axes`` argument belongs to) exports this plain convolutional network without extra
dependencies, so we use it. If a later torch removes it, switch to ``dynamo=True`` with ``dynamic_shapes``
and add ``onnxscript`` to the ``export`` extra.

What is exported is the network's core, which needs a height and width divisible by 4 (it downsamples
twice by 2): ``TransformerNet.forward``'s padding to a multiple of 4 branches on the input's size in
Python, which a traced graph would freeze. ``engine.inference.run_onnx`` pads and crops around the session
instead.
"""

from __future__ import annotations

import io as _bytes_io
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from .engine.inference import read_network, require_onnx, run_onnx
from .errors import OptionError, OutputError, WeightsError
from .io import atomic_write
from .weights import find_model

logger = logging.getLogger(__name__)

OPSET = 17
TOLERANCE = 1e-3  # largest absolute difference from torch accepted on the check image (outputs in [0,1])
_CHECK_SIZES = ((64, 48), (37, 50))  # (H, W): two sizes (dynamic axes), one not a multiple of 4 (padding)


class _Core(nn.Module):
    """TransformerNet without the pad/crop: (B,3,H,W), H and W multiples of 4 -> (B,3,H,W) in [0,1]."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(self.net.up(self.net.res(self.net.down(x)))) + 1) / 2


# The TorchScript exporter writes opsets 7 to 20; the networks' padding and instance norm need 11 or later.
MIN_OPSET, MAX_OPSET = 11, 20


def export_onnx(model, output, *, opset: int = OPSET, overwrite: bool = False, direction: str | None = None) -> Path:
    """Export a johnson model, or one generator of a cyclegan model (``direction`` 'a2b', the default, or
    'b2a'), given by name or .safetensors path, to ``output`` (.onnx); returns the path written.

    Raises OutputError if ``output`` exists (unless ``overwrite``) or is the model itself, and WeightsError
    if onnxruntime's output differs from torch's by more than ``TOLERANCE`` on the check images.
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise OptionError(f"--opset must be a whole number from {MIN_OPSET} to {MAX_OPSET} (the opsets the "
                          f"exporter writes with the operators the networks use), not {opset!r}.")
    onnx, _ = require_onnx()
    src = find_model(model)
    out = Path(output).expanduser()
    if out.suffix.lower() != ".onnx":
        raise OutputError(f"Cannot write '{out}': an ONNX export needs the .onnx extension.")
    if src.suffix.lower() == ".onnx":
        raise OptionError(f"'{src}' is already an ONNX file.")
    if out.exists() and out.resolve() == src.resolve():
        raise OutputError(f"Refusing to write '{out}': it is the model being exported.")
    if out.is_dir():
        raise OutputError(f"Cannot write '{out}': it is a directory.")
    if out.exists() and not overwrite:
        raise OutputError(f"Output '{out}' already exists (use --overwrite to replace it).")

    net, header = _network(src, direction)
    core = _Core(net)

    buf = _bytes_io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter's deprecation notice and its tracer's notes on shape checks inside
        # InstanceNorm (constants in the trace, harmless here: the check images below prove the axes).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            core, (torch.rand(1, 3, 64, 64),), buf, dynamo=False, opset_version=opset,
            input_names=["image"], output_names=["stylized"],
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                          "stylized": {0: "batch", 2: "height", 3: "width"}},
        )
    proto = onnx.load_from_string(buf.getvalue())
    meta = {**header, "format": "onnx", "opset": opset, "exported_from": src.name,
            **({"direction": direction or "a2b"} if header.get("method") == "cyclegan" else {})}
    entry = proto.metadata_props.add()
    entry.key, entry.value = "atelier", json.dumps(meta, sort_keys=True)
    data = proto.SerializeToString()

    _check(data, net)
    atomic_write(out, lambda tmp: tmp.write_bytes(data))
    logger.info("Exported %s to %s (opset %d, %d bytes).", src, out, opset, len(data))
    return out


def _network(src: Path, direction: str | None) -> tuple[nn.Module, dict]:
    """The network to export (fp32 on the CPU, uncached: the trace and the check images run this copy
    only): a johnson or cut network, or a cyclegan model's generator of ``direction``."""
    from .methods.cyclegan.config import DIRECTIONS
    from .methods.cyclegan.model import GeneratorPair
    from .methods.johnson.model import TransformerNet
    from .weights import read_header

    method = read_header(src).get("method")
    if method == "cyclegan":
        if direction not in (None, *DIRECTIONS):
            raise OptionError(f"--direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}.")
        pair, header = read_network(src, kind="cyclegan", build=lambda h: GeneratorPair(h["arch"]))
        return getattr(pair, direction or "a2b"), header
    if direction is not None:
        raise OptionError(f"--direction chooses a generator of a cyclegan model; '{src.name}' is a {method} one.")
    kind = "cut" if method == "cut" else "johnson"  # a CUT generator is a TransformerNet too
    return read_network(src, kind=kind, build=lambda h: TransformerNet.from_arch(h["arch"]))


def _check(data: bytes, net: nn.Module) -> None:
    """onnxruntime's output on seeded check images (two sizes) must match torch's within TOLERANCE."""
    _, ort = require_onnx()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(0)
    for h, w in _CHECK_SIZES:
        x = torch.rand(1, 3, h, w, generator=g)
        with torch.inference_mode():
            ref = net(x)
        diff = float((run_onnx(session, x) - ref).abs().max())
        if not diff <= TOLERANCE:  # also catches NaN
            raise WeightsError(f"The ONNX export differs from the torch network by {diff:.2g} at {w}x{h} "
                               f"(tolerance {TOLERANCE:g}); not written.")
        logger.debug("ONNX check %dx%d: max |diff| %.2g.", w, h, diff)
