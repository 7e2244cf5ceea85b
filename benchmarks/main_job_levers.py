"""Levers on the README main job's slow part, measured on a proxy: the final scale of Gatys' coarse-to-fine.

    python benchmarks/main_job_levers.py [FINAL [ITERS [VARIANT,VARIANT... [COARSE]]]]
    # e.g. 256 40 pixel,fourier0.5 181

The embedded example is first stylised by atelier's default schedule at COARSE px (default FINAL/2); its
result, upsampled with the photo's missing detail added back (as the schedule does), starts ITERS L-BFGS
iterations at FINAL px in each variant, with the default losses. Every 10 iterations: the style distance
(sliced Wasserstein) and content distance of ``atelier.evaluate`` at FINAL px. Variants:

* ``pixel``: the pixels are the parameters (atelier's optimiser, without its projected gradient);
* ``fourierA``: the parameters are the image's orthonormal 2-D Fourier coefficients divided by a gain
  ``(f * N)^-A`` (unit rms): a linear preconditioner that lets L-BFGS move low frequencies A-times faster
  (Mordvintsev et al. 2018, "Differentiable Image Parameterizations", Distill, decorrelated space);
* ``pyramidK``: an over-complete pyramid of K levels (level k upsampled and scaled by 2^k);
* ``...@LR``: another L-BFGS step size (default 1).

Outside [0, 1] the rendered image is clamped for the loss and pulled back by a quadratic penalty (the pixel
variant clamps after each step). Results by hand into ``results/main_job_levers.md``.
"""
import sys
import time

import torch

import atelier
from atelier import io
from atelier.api import default_inputs
from atelier.features import get_vgg19
from atelier.losses import PerceptualLoss
from atelier.methods.gatys.method import BASE_STYLE_WEIGHT, style_size_for

FINAL = int(sys.argv[1]) if len(sys.argv) > 1 else 256
ITERS = int(sys.argv[2]) if len(sys.argv) > 2 else 40
VARIANTS = sys.argv[3].split(",") if len(sys.argv) > 3 else ["pixel", "fourier0.5", "fourier1", "pyramid3"]
torch.manual_seed(0)
cpath, spath = default_inputs()
content0 = io.load_image(cpath); style0 = io.load_image(spath)
hw = io.fit_size(*content0.shape[-2:], FINAL)
COARSE = int(sys.argv[4]) if len(sys.argv) > 4 else FINAL // 2
coarse = atelier.run(cpath, spath, method="gatys", size=COARSE, precision="fp32", device="cpu",
                     min_size=min(128, COARSE), iterations=50, coarse_iterations=50).image
coarse = io.load_image(coarse) if not torch.is_tensor(coarse) else coarse
c = io.resize(content0, hw)
prev_hw = coarse.shape[-2:]
init = (io.resize(coarse, hw) + c - io.resize(io.resize(c, prev_hw), hw)).clamp(0, 1)
vgg = get_vgg19(device="cpu", dtype=torch.float32)
loss = PerceptualLoss(vgg, style_weight=BASE_STYLE_WEIGHT, tv_weight=1e-3, content_weight=1.0)
loss.set_content(c)
loss.set_styles([loss.style_grams(io.resize(style0, style_size_for(style0, hw, 1.0)))], [1.0])

def judge(img):
    m = atelier.evaluate(img, content=c, style=style0, size=FINAL)
    return round(m["style_swd"], 4), round(m["content"], 4)

def fourier_render(alpha):
    H, W = hw
    fy = torch.fft.fftfreq(H)[:, None]; fx = torch.fft.rfftfreq(W)[None, :]
    f = (fy ** 2 + fx ** 2).sqrt().clamp(min=1.0 / max(H, W))
    S = (f * max(H, W)) ** (-alpha)  # 1 at the lowest freq, smaller for high
    S = S / S.pow(2).mean().sqrt()  # unit rms gain
    def to_param(img):
        return torch.fft.rfft2(img, norm="ortho") / S
    def render(q):
        return torch.fft.irfft2(q * S, s=hw, norm="ortho")
    return to_param, render

def pyramid_render(levels):
    def to_param(img):
        ps = [img] + [torch.zeros(1, 3, max(1, hw[0] >> k), max(1, hw[1] >> k)) for k in range(1, levels)]
        return torch.cat([p.flatten() for p in ps])
    shapes = [(1, 3, max(1, hw[0] >> k), max(1, hw[1] >> k)) for k in range(levels)]
    def render(q):
        out, i = 0, 0
        for k, s in enumerate(shapes):
            n = s[0] * s[1] * s[2] * s[3]
            p = q[i:i + n].view(s); i += n
            out = out + (p if k == 0 else torch.nn.functional.interpolate(p, size=hw, mode="bilinear", align_corners=False) * (2 ** k))
        return out
    return to_param, render

def run(variant):
    variant, _, lr = variant.partition("@")
    lr = float(lr or 1.0)
    if variant == "pixel":
        to_param, render = (lambda x: x.clone()), (lambda q: q)
    elif variant.startswith("fourier"):
        to_param, render = fourier_render(float(variant[7:]))
    elif variant.startswith("pyramid"):
        to_param, render = pyramid_render(int(variant[7:]))
    q = to_param(init).detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([q], lr=lr, max_iter=1, history_size=50, tolerance_grad=-1, tolerance_change=-1)
    rows = []
    t0 = time.perf_counter()
    def closure():
        opt.zero_grad()
        img = render(q)
        total = loss(img.clamp(0, 1))["total"] + 10.0 * ((img - img.clamp(0, 1)) ** 2).mean()
        total.backward()
        return total
    for it in range(1, ITERS + 1):
        opt.step(closure)
        if variant == "pixel":
            with torch.no_grad():
                q.clamp_(0, 1)
        if it % 10 == 0:
            with torch.no_grad():
                img = render(q).clamp(0, 1)
            rows.append((it, *judge(img)))
    return rows, time.perf_counter() - t0

print("init", judge(init), flush=True)
for v in VARIANTS:
    rows, sec = run(v)
    print(v, round(sec, 1), rows, flush=True)
