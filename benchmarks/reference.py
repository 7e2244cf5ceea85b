"""A plain reference Gatys implementation, written the way tutorials do, for speed comparisons.

It follows the PyTorch "Neural Transfer" tutorial's structure on purpose: an ``nn.Sequential`` VGG-19 run
to the deepest loss layer, Gram matrices normalised by the element count, MSE losses, L-BFGS with one
step per closure, NCHW tensors and no allocator or precision tricks. Unlike the tutorial it freezes the
VGG weights (the tutorial's missing ``requires_grad_(False)`` alone costs 1.3-1.4x; see PERFORMANCE.md),
so that the comparison measures engineering, not that one bug. Weights: the same dequantised Caffe VGG-19
that atelier uses, so only the implementation differs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from atelier.features import CAFFE_MEAN_BGR, CONV_LAYERS, load_vgg19_state

# Indices of relu layers in the Sequential below: conv/relu pairs and pools in VGG-19 order.
CONTENT, STYLE = "relu4_2", ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def build_vgg() -> tuple[nn.Sequential, list[str]]:
    state = load_vgg19_state()
    layers, names, c_in = [], [], 3
    for name in CONV_LAYERS:
        w = state[f"{name}.weight"]
        if name.endswith("_1") and name != "conv1_1":
            layers.append(nn.MaxPool2d(2, 2))
            names.append(f"pool{int(name[4]) - 1}")
        conv = nn.Conv2d(c_in, w.shape[0], 3, padding=1)
        conv.weight.data.copy_(w)
        conv.bias.data.copy_(state[f"{name}.bias"])
        layers += [conv, nn.ReLU(inplace=False)]
        names += [name, "relu" + name[4:]]
        c_in = w.shape[0]
    net = nn.Sequential(*layers).eval().requires_grad_(False)
    return net, names


def gram(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    f = x.view(b * c, h * w)
    return f @ f.t() / (b * c * h * w)


class Reference:
    """One content and one style image (1,3,H,W) in [0,1]; ``step()`` runs one L-BFGS iteration."""

    def __init__(self, content: torch.Tensor, style: torch.Tensor, style_weight: float = 1e6):
        self.net, self.names = build_vgg()
        self.last = max(self.names.index(n) for n in (CONTENT, *STYLE))
        self.mean = torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
        with torch.no_grad():
            fc = self.features(content)
            fs = self.features(style)
        self.content_target = fc[CONTENT]
        self.style_targets = {k: gram(fs[k]) for k in STYLE}
        self.style_weight = style_weight
        self.image = content.clone().requires_grad_(True)
        self.opt = torch.optim.LBFGS([self.image], max_iter=1)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = x.flip(1) * 255 - self.mean
        out = {}
        for layer, name in zip(self.net[: self.last + 1], self.names[: self.last + 1]):
            h = layer(h)
            if name == CONTENT or name in STYLE:
                out[name] = h
        return out

    def step(self) -> float:
        def closure():
            self.opt.zero_grad()
            f = self.features(self.image)
            loss = F.mse_loss(f[CONTENT], self.content_target)
            for k in STYLE:
                loss = loss + self.style_weight * F.mse_loss(gram(f[k]), self.style_targets[k]) / len(STYLE)
            loss.backward()
            return loss

        loss = self.opt.step(closure)
        with torch.no_grad():
            self.image.clamp_(0, 1)
        return float(loss)
