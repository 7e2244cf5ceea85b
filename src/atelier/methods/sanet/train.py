"""Training SANet's style-attentional modules and decoder on folders of photos and paintings.

Park & Lee 2019, "Arbitrary Style Transfer with Style-Attentional Networks", §3.4, eq. 4-7:
L = lambda_c L_c + lambda_s L_s + lambda_id1 L_id1 + lambda_id2 L_id2 with, for the stylised image
I_cs = D(T(c, s)) (T: the attention transform at relu4_1 and relu5_1, D: the decoder, f: VGG-19),

* L_c = ||Norm(f_i(I_cs)) - Norm(f_i(c))||^2 at relu4_1 and relu5_1 (mean-variance normalised features);
* L_s = sum over relu1_1..relu5_1 of the mean and standard deviation distances (AdaIN's eq. 13);
* L_id1 = ||I_cc - c||^2 + ||I_ss - s||^2 and L_id2 = sum_i ||f_i(I_cc) - f_i(c)||^2 + ||f_i(I_ss) - f_i(s)||^2,
  where I_cc = D(T(c, c)) is the photo stylised with itself (and I_ss the painting): the network must keep
  the content when the "style" is the content itself, which preserves structure and makes alpha work.

Deviations (deliberate): squared errors are means over elements (as the reference implementation's MSE);
VGG passes may run in bf16; fewer steps and the compact decoder by default (``train_config.py``); the data
and pairing are AdaIN's (``methods/arbitrary_train.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...events import Callback
from ...losses import mean_std, mean_std_loss
from ...ops.adain import mean_variance_norm
from ..arbitrary_train import train_arbitrary
from .model import SANetNet
from .train_config import STYLE_LAYERS, SANetTrainConfig

METHOD = "sanet"


def _decode(net: SANetNet, a: dict, b: dict) -> torch.Tensor:
    """D(T(a, b)) for feature dicts ``a`` (content side) and ``b`` (style side)."""
    t = net.transform(a["relu4_1"], b["relu4_1"], a["relu5_1"], b["relu5_1"])
    return net.decoder(t)


def make_step(net: SANetNet, vgg, cfg: SANetTrainConfig):
    def step(c: torch.Tensor, s: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fc, fs = vgg(c, STYLE_LAYERS), vgg(s, STYLE_LAYERS)
            targets = {k: mean_std(fs[k]) for k in STYLE_LAYERS}
        g = _decode(net, fc, fs)
        fg = vgg(g, STYLE_LAYERS)
        content = sum(F.mse_loss(mean_variance_norm(fg[k]), mean_variance_norm(fc[k]))
                      for k in ("relu4_1", "relu5_1"))
        style = sum(mean_std_loss(fg[k], *targets[k]) for k in STYLE_LAYERS)
        icc, iss = _decode(net, fc, fc), _decode(net, fs, fs)
        id1 = F.mse_loss(icc, c) + F.mse_loss(iss, s)
        fcc, fss = vgg(icc, STYLE_LAYERS), vgg(iss, STYLE_LAYERS)
        id2 = sum(F.mse_loss(fcc[k].float(), fc[k].float()) + F.mse_loss(fss[k].float(), fs[k].float())
                  for k in STYLE_LAYERS)
        terms = {"content": cfg.content_weight * content, "style": cfg.style_weight * style,
                 "identity1": cfg.identity1_weight * id1, "identity2": cfg.identity2_weight * id2}
        terms["total"] = terms["content"] + terms["style"] + terms["identity1"] + terms["identity2"]
        return terms

    return step


def make_preview(net: SANetNet, vgg, cfg=None):
    def preview(c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        layers = ("relu4_1", "relu5_1")
        fc, fs = vgg(c, layers), vgg(s, layers)
        t = net.transform(fc["relu4_1"], fs["relu4_1"], fc["relu5_1"], fs["relu5_1"])
        return net.decoder(t, size=tuple(c.shape[-2:])).clamp(0, 1)

    return preview


def train(style, data, output, *, config: SANetTrainConfig | None = None, resume: bool = False,
          callback: Callback | None = None, device="auto", overwrite: bool = False) -> dict:
    """Train SANet (attention modules and decoder) on the paintings under ``style`` and the photos under
    ``data`` and write it to ``output`` (.safetensors, fp16, with a model card); see AdaIN's ``train``."""
    return train_arbitrary(
        method=METHOD, paper="Park & Lee 2019, Arbitrary Style Transfer with Style-Attentional Networks",
        style=style, data=data, output=output, config=config or SANetTrainConfig(), resume=resume,
        callback=callback, device=device, overwrite=overwrite, build=SANetNet, make_step=make_step,
        make_preview=make_preview,
    )
