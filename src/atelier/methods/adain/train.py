"""Training the AdaIN decoder on folders of photos and paintings.

Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization", §6.2:
t = AdaIN(f(c), f(s)) at relu4_1 (f: the fixed VGG-19), g(t) the decoded image; the loss is
L = L_c + lambda L_s with L_c = ||f(g(t)) - t||^2 (eq. 12: the decoded image's features against the AdaIN
target, not against the photo's) and L_s = sum over relu1_1..relu4_1 of ||mu(f_i(g(t))) - mu(f_i(s))||^2 +
||sigma(f_i(g(t))) - sigma(f_i(s))||^2 (eq. 13; ``atelier.losses.mean_std_loss``), lambda = 10.

Deviations (deliberate): squared errors are means over elements (as the reference implementation's MSE),
not sums; the VGG passes may run in bf16 (``--precision``), the decoder and Adam stay fp32; fewer steps and a
smaller default decoder, sized for a CPU (``train_config.py``); the data and pairing are shared with SANet
(``methods/arbitrary_train.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...events import Callback
from ...losses import mean_std, mean_std_loss
from ...ops.adain import adain
from ..arbitrary_train import train_arbitrary
from .method import AdaINNet
from .train_config import STYLE_LAYERS, AdaINTrainConfig

METHOD = "adain"


def make_step(net: AdaINNet, vgg, cfg: AdaINTrainConfig):
    def step(c: torch.Tensor, s: torch.Tensor) -> dict[str, torch.Tensor]:
        # c, s: (B,3,S,S) photos and paintings in [0,1]
        with torch.no_grad():
            fc = vgg(c, ("relu4_1",))["relu4_1"]
            fs = vgg(s, STYLE_LAYERS)
            targets = {k: mean_std(fs[k]) for k in STYLE_LAYERS}
            t = adain(fc, targets["relu4_1"])  # (B,512,S/8,S/8) fp32: eq. 8 per pair
        g = net.decoder(t)  # (B,3,S,S), fp32 decoder
        fg = vgg(g, STYLE_LAYERS)
        content = F.mse_loss(fg["relu4_1"].float(), t)
        style = sum(mean_std_loss(fg[k], *targets[k]) for k in STYLE_LAYERS)
        terms = {"content": cfg.content_weight * content, "style": cfg.style_weight * style}
        if cfg.reconstruction_weight:  # the photo from its own features: one more decoder pass, no VGG pass
            # In 0-255 units, VGG's (Caffe) input scale: the feature terms above are ~1e5-1e6 at the paper's
            # weights, a [0,1] pixel error ~1e-2 (measured on the bundled decoder's first steps).
            recon = F.mse_loss(net.decoder(fc.float()) * 255.0, c * 255.0)
            terms["reconstruction"] = cfg.reconstruction_weight * recon
        terms["total"] = sum(terms.values())
        return terms

    return step


def make_preview(net: AdaINNet, vgg, cfg=None):
    def preview(c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        t = adain(vgg(c, ("relu4_1",))["relu4_1"], mean_std(vgg(s, ("relu4_1",))["relu4_1"]))
        return net.decoder(t, size=tuple(c.shape[-2:])).clamp(0, 1)

    return preview


def train(style, data, output, *, config: AdaINTrainConfig | None = None, resume: bool = False,
          callback: Callback | None = None, device="auto", overwrite: bool = False) -> dict:
    """Train an AdaIN decoder on the paintings under ``style`` and the photos under ``data`` (a folder or a
    list of folders each) and write it to ``output`` (.safetensors, fp16, with a model card); the resumable
    checkpoint is kept beside it. Returns a summary (output, checkpoint, steps, seconds, losses, card).
    Bad inputs raise ``atelier.errors`` before any training; Ctrl-C writes the checkpoint and raises
    :class:`~atelier.errors.Interrupted`."""
    return train_arbitrary(
        method=METHOD, paper="Huang & Belongie 2017, Arbitrary Style Transfer in Real-time with Adaptive "
        "Instance Normalization", style=style, data=data, output=output, config=config or AdaINTrainConfig(),
        resume=resume, callback=callback, device=device, overwrite=overwrite, build=AdaINNet,
        make_step=make_step, make_preview=make_preview,
    )
