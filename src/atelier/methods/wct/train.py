"""Training WCT's reconstruction decoders on a folder of photos.

Li, Fang, Yang, Wang, Lu & Yang 2017, "Universal Style Transfer via Feature Transforms", §3.1: decoder D_k
inverts the fixed VGG-19 Phi_k up to relu{k}_1; the loss is ||D_k(Phi_k(I)) - I||^2 + lambda
||Phi_k(D_k(Phi_k(I))) - Phi_k(I)||^2 with lambda = 1. No painting is involved: the decoders stay
universal, the style enters only through the feature transforms at inference.

Deviations (deliberate): the five decoders train at once on the same crops (one VGG pass to relu5_1 gives all
their targets; the loss is their sum); both terms are relative squared errors, ||y - t||^2 / ||t||^2: the
mean square of VGG's features differs 40-fold between levels (relu4_1 ~7e5, relu5_1 ~2e4, relu1_1 ~2e3 on a
photo, Caffe's 0-255 input scale), so absolute errors would make lambda = 1 mean something else at every
level and let the feature term swamp the pixels; relative, a grey image scores ~1 in features and ~0.25 in
pixels at every level; the VGG passes may
run in bf16 (``--precision``), the decoders and Adam stay fp32; the data loop, resume and card are shared
with AdaIN and SANet (``methods/arbitrary_train.py``).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ...engine import checkpoint as ckpt
from ...engine.distributed import global_mean
from ...events import Callback
from ...weights import read_header
from ..arbitrary_train import train_arbitrary
from ..train_checks import checkpoint_path, init_model_path
from .model import LAYERS, WCTNet, decoder_arch
from .train_config import WCTTrainConfig

METHOD = "wct"


def relative_error(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||y - target||^2 / ||target||^2 (means over the batch's elements). The denominator is the whole
    global batch's (``global_mean``: over the ranks of a torchrun training, each with a share of it), so the
    averaged gradients of the ranks are those of one process on the whole batch."""
    return F.mse_loss(y, target) / global_mean(target.pow(2).mean()).clamp_min(1e-8)


def trained_layers(cfg: WCTTrainConfig) -> list[str]:
    """The layers of the decoders this run trains (--levels), shallowest first."""
    return [LAYERS[k] for k in sorted(cfg.levels)]


def make_step(net: WCTNet, vgg, cfg: WCTTrainConfig):
    layers = trained_layers(cfg)  # the net may hold more: --init's other decoders, copied unchanged

    def step(x: torch.Tensor) -> dict[str, torch.Tensor]:
        # x: (B,3,S,S) photos in [0,1]
        with torch.no_grad():
            targets = {k: v.float() for k, v in vgg(x, layers).items()}  # one pass: every level's features
        terms: dict[str, torch.Tensor] = {}
        for layer in layers:
            y = net.decoder(layer)(targets[layer], size=tuple(x.shape[-2:]))  # (B,3,S,S) fp32
            loss = cfg.pixel_weight * relative_error(y, x)
            if cfg.feature_weight:
                loss = loss + cfg.feature_weight * relative_error(vgg(y, (layer,))[layer].float(), targets[layer])
            terms[layer.removeprefix("relu")] = loss
        terms["total"] = sum(terms.values())
        return terms

    return step


def make_preview(net: WCTNet, vgg, cfg: WCTTrainConfig):
    deepest = trained_layers(cfg)[-1]

    def preview(c: torch.Tensor) -> torch.Tensor:
        return net.decoder(deepest)(vgg(c, (deepest,))[deepest].float(), size=tuple(c.shape[-2:])).clamp(0, 1)

    return preview


def arch_of(cfg: WCTTrainConfig, checkpoint: Path | None = None) -> dict:
    """The decoders of this run: those of --levels, and with --init every other decoder of that model, which
    the run carries unchanged into its output (so training one level further still writes a whole model);
    a resumed run's are its ``checkpoint``'s."""
    if checkpoint is not None:
        return ckpt.read(checkpoint)[1]["arch"]
    decoders = {}
    if cfg.init:
        header = read_header(init_model_path(cfg.init))
        if header.get("method") == METHOD:  # an AdaIN decoder adds none (load_init starts relu4_1/relu5_1)
            decoders.update(header["arch"]["decoders"])
    decoders.update({LAYERS[k]: decoder_arch(cfg.arch, LAYERS[k]) for k in cfg.levels})
    return {"decoders": dict(sorted(decoders.items()))}


def train(style, data, output, *, config: WCTTrainConfig | None = None, resume: bool = False,
          callback: Callback | None = None, device="auto", overwrite: bool = False) -> dict:
    """Train WCT's decoders on the photos under ``data`` (a folder or a list of folders; ``style`` must be
    None: no painting is used) and write them to ``output`` (.safetensors, fp16, with a model card); the
    resumable checkpoint is kept beside it. Returns a summary (output, checkpoint, steps, seconds, losses,
    card). Bad inputs raise ``atelier.errors`` before any training; Ctrl-C writes the checkpoint."""
    if style is not None:
        from ...errors import OptionError

        raise OptionError("WCT's decoders are trained on photos alone: give --data, no style images.")
    cfg = config or WCTTrainConfig()
    return train_arbitrary(
        method=METHOD, paper="Li, Fang, Yang, Wang, Lu & Yang 2017, Universal Style Transfer via Feature "
        "Transforms", style=None, data=data, output=output, config=cfg, resume=resume,
        callback=callback, device=device, overwrite=overwrite, build=WCTNet, make_step=make_step,
        make_preview=make_preview,
        arch_of=lambda c: arch_of(c, checkpoint_path(Path(output).expanduser()) if resume else None),
    )
