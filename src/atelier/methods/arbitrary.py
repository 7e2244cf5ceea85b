"""Inference shared by the arbitrary-style methods (AdaIN, SANet): any painting in one forward pass.

Both encode the photo and the painting(s) with the shared VGG-19 (``atelier.features``), combine the
features (``transfer``: AdaIN, or style attention) and decode the result with a trained decoder. The
subclasses (``methods/adain/method.py``, ``methods/sanet/method.py``) say how to load their network, what
a style's code is and how features are combined; this module does the rest the same way for both:

* the user controls of Huang & Belongie 2017 §7.1 (Park & Lee 2019 §4.3 do the same):
  - ``alpha``: the content itself is treated as one more style, with weight 1 - alpha:
    t = alpha * sum_k w_k T(c, s_k) + (1 - alpha) T(c, c). For AdaIN T(c, c) = f(c) exactly, which is the
    paper's eq. 14; for SANet T(c, c) is the attention of the photo on itself, which the identity losses
    train to decode to the photo (Park & Lee §3.4), so alpha = 0 gives the photo back;
  - several styles: AdaIN interpolates the statistics (equal to interpolating the AdaIN targets, eq. 8 is
    affine in them), SANet the attention outputs;
  - masks (spatial control): one mask per style, resized to the features' size; each region gets its own
    style (for AdaIN also its own content statistics); pixels no mask covers keep the photo exactly, as in
    the gatys method; the style weights do not apply with masks;
  - ``protect`` (``--protect faces``), weights w in [0,1]: a per-pixel alpha, alpha (1 - w(x)). Every
    ``transfer`` is affine in alpha with the photo's own code at alpha = 0 (AdaIN eq. 14, SANet's T(c, c),
    WCT eq. 4), so the decoder's input is the transfer blended by w toward the transfer at alpha = 0 (at
    each WCT level; the weights ride along with the masks as one more channel). The decoders cannot draw a
    face back from the photo's relu4_1 features (alone, this raised the face's SSIM to the photo only
    1.05-1.3x: benchmarks/results/faces.md), so the decoded image is then also cross-faded toward the photo
    by w;
  - ``preserve_color``: 'luminance' runs on the photo's grey luminance (paintings' luminance matched to
    it) and puts the photo's chroma back; 'histogram' recolours the paintings to the photo's colour mean and
    covariance before encoding (Gatys et al. 2017 §3, ``ops/color.py``).
* tiled inference for large images (``ops.tiling.run_blended``: overlapping tiles cross-faded). The
  combination depends on statistics of the whole photo: AdaIN normalises the content features by their
  per-channel mean and std, SANet normalises them before its attention, and T(c, c) attends over the whole
  photo. Tiles normalised by their own statistics would each get their own contrast and colour (seams), so
  a *statistics pass* first encodes the whole photo -- reduced to the largest size the memory budget
  allows, exact when it fits -- and every tile is then combined with those statistics (and, for SANet's
  T(c, c), those features) frozen, as the johnson method freezes its instance-norm statistics. The style
  side is never tiled: its code is computed once from the whole painting. Masks travel with the image as
  extra channels, so each tile gets its crop of them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from .. import io
from ..devices import resolve_precision
from ..engine import inference
from ..engine.inference import InferenceRun
from ..errors import OptionError, WeightsError
from ..features import get_vgg19
from ..losses import blend_weights, resize_mask
from ..ops import color
from ..weights import find_model, has_model

logger = logging.getLogger(__name__)

# Peak activation memory of a forward pass (no autograd) per output pixel: VGG-19's first block holds two
# 64-channel maps (512 B/px in fp32) and the decoder's last stage about as much; rounded up. The rest of
# the --max-memory budget (torch itself, the image buffers) is engine.inference's.
BYTES_PER_PIXEL = {"fp32": 1536, "bf16": 768}
STATS_MIN_SIDE = 64  # the statistics pass's smallest long side: relu5_1 (stride 16) keeps 4 positions
CARD_KEYS = ("data", "steps", "training_seconds")  # what info["model"] shows


class ArbitraryStyle:
    """Base of the AdaIN and SANet methods; subclasses set the class attributes and the three hooks."""

    METHOD = ""  # the registered name
    DEFAULT_MODEL = ""  # the bundled decoder's name
    LAYERS: tuple[str, ...] = ()  # the VGG layers the combination needs (relu4_1 first)
    ALIGN = 8  # tiles start on the deepest layer's stride, so a tile's features line up with the image's
    config_class: type
    capabilities = None

    def __init__(self, config=None):
        self.config = config or self.config_class()
        self.info: dict = {}
        # The last styles' codes, reused while the same style tensors come again unchanged (every frame of
        # a video: the painting's VGG encoding at 512 px is ~0.1 s a frame otherwise). The key holds the
        # tensors themselves, compared by identity and in-place version, so a freed tensor's address
        # reused by another can never match.
        self._codes: tuple | None = None

    # -- hooks

    def build(self, header: dict) -> torch.nn.Module:
        """An untrained network of the architecture in a model file's header; needs ``.decoder``."""
        raise NotImplementedError

    def style_code(self, net, feats: dict[str, torch.Tensor], mask: torch.Tensor | None = None):
        """What the combination needs of one style image (or of the whole photo), from its features; with
        ``mask`` (1,1,h,w) over the painting (``--style-mask``, any size: resized to each layer), of that
        region of the painting only."""
        raise NotImplementedError

    def transfer(self, net, feats: dict[str, torch.Tensor], codes: list, weights: list[float],
                 masks: list[torch.Tensor] | None, whole) -> torch.Tensor:
        """The decoder's input (B,512,h,w) at relu4_1: alpha and the styles combined. ``codes``: one per
        style, then the photo's own code (weight 1 - alpha is in ``weights``); ``masks`` at relu4_1's size;
        ``whole``: statistics of the whole photo from :meth:`whole_stats`."""
        raise NotImplementedError

    def whole_stats(self, feats: dict[str, torch.Tensor], masks: list[torch.Tensor] | None):
        """The whole photo's statistics that tiles must share (from the statistics pass)."""
        raise NotImplementedError

    def stages(self, net, cfg) -> list[tuple[str, ...]]:
        """The VGG layers of each encode-combine-decode pass, in order; each pass decodes the previous
        one's image (WCT's coarse-to-fine levels). One pass at ``LAYERS`` by default."""
        return [self.LAYERS]

    def decoder(self, net, layers: tuple[str, ...]) -> torch.nn.Module:
        """The decoder of the pass at ``layers``."""
        return net.decoder

    OWN_CODE = True  # the photo's own code is one more style of weight 1 - alpha (False: transfer blends)

    def finish(self, out: torch.Tensor, photo: torch.Tensor, cfg) -> torch.Tensor:
        """A method's last step on the whole decoded image (1,3,H,W), the photo at its size beside it; WCT's
        photorealistic smoothing. Before colour preservation, masks and protection, which restore the photo."""
        return out

    # -- loading

    def find(self, name: str) -> Path:
        # api.prepare says this before any image is read; here for direct use of the class.
        if name == self.DEFAULT_MODEL and not has_model(name):
            raise WeightsError(self.spec.no_model_message)
        return find_model(name)

    def load(self, path: Path, device: torch.device, dtype: torch.dtype):
        """(network in eval mode, header) of a model file of this method; cached."""

        # Denormal floats make x86 multiplies ~100x slower; trained networks produce some (SANet's attention
        # probabilities, which ops/attention.py also floors, since this flag reaches only the calling thread
        # and threads it starts later). Results change below 1e-38. Process-wide, as torch offers it.
        torch.set_flush_denormal(True)
        if path.suffix.lower() == ".onnx":
            raise OptionError(f"The {self.METHOD} method runs .safetensors models, not '{path.name}'.")
        return inference.load_network(path, kind=self.METHOD, build=self.build, device=device, dtype=dtype)

    # -- planning

    def bytes_per_pixel(self, dtype: torch.dtype, style_px: int) -> float:
        """Activation bytes per output pixel at the resolved precision (``--precision auto`` decided)."""
        return BYTES_PER_PIXEL["bf16" if dtype == torch.bfloat16 else "fp32"]

    def plan(self, hw, cfg, bpp: float) -> tuple[int, tuple[int, int]]:
        """(tile side or 0 for one pass, (h, w) of the statistics pass) of an ``hw`` output."""
        # engine.inference's budget, as johnson's: the arbitrary methods previously left torch itself
        # (RUNTIME_BYTES, 0.5 GiB) out of --max-memory, so a run's peak could exceed it by that much.
        tile = inference.plan_tile(hw, tile=cfg.tile, overlap=cfg.overlap, max_memory=cfg.max_memory,
                                   bytes_per_pixel=bpp, align=self.ALIGN)
        if not tile:
            return 0, tuple(hw)
        return tile, inference.stats_size(hw, max_memory=cfg.max_memory, bytes_per_pixel=bpp,
                                          min_side=STATS_MIN_SIDE)

    # -- running

    def _style_codes(self, net, vgg, raw: list[torch.Tensor], styles: list[torch.Tensor], settings: tuple,
                     style_masks=None):
        """The styles' codes (``style_code`` of their VGG features, over their ``style_masks`` regions);
        cached for the same unchanged inputs. Colour preservation makes the styles depend on the photo, and
        style masks are a photo's run (never a video's), so nothing is reused then."""
        if style_masks is not None:
            self._codes = None
            return [self.style_code(net, vgg(s, self.LAYERS), m) for s, m in zip(styles, style_masks)]
        versions = [s._version for s in raw]  # bumped by any in-place change of a tensor
        cached = self._codes
        if (cached is not None and len(cached[0]) == len(raw) and all(a is b for a, b in zip(cached[0], raw))
                and cached[1:3] == (versions, settings)):
            return list(cached[3])
        codes = [self.style_code(net, vgg(s, self.LAYERS)) for s in styles]
        reusable = settings[1] == "none"  # settings[1]: preserve_color
        self._codes = (list(raw), versions, settings, codes) if reusable else None
        return list(codes)

    def _stage(self, net, vgg, layers, work, full_masks, codes, weights, tile, stats_hw, run, dtype,
               protect=None):
        """One encode-combine-decode pass of ``work`` (1,3,H,W) at ``layers``, tiled when ``tile``: a
        statistics pass of the whole image at ``stats_hw`` first (see the module doc); ``protect``
        (1,1,H,W) in [0,1]: the per-pixel share of alpha = 0 in the decoder's input. -> (1,3,H,W) fp32."""
        small = io.resize(work, stats_hw)
        feats = vgg(small, layers)
        small_masks = None if full_masks is None else [
            resize_mask(io.resize(m, stats_hw), feats[layers[0]].shape[-2:]) for m in full_masks]
        whole = self.whole_stats(feats, small_masks)
        codes = [*codes, self.style_code(net, feats) if self.OWN_CODE else None]  # weight 1 - alpha
        decoder = self.decoder(net, layers)
        # Untiled, the statistics pass saw the whole photo at the output size: its features are the
        # decoder's input too (one VGG pass of the photo instead of two).
        whole_feats = None if tile else feats
        del feats, small

        n_masks = 0 if full_masks is None else len(full_masks)
        photo_weights = [0.0] * (len(weights) - 1) + [1.0]  # alpha = 0: the photo's own code alone

        def apply(crop: torch.Tensor) -> torch.Tensor:
            # crop (1,3+K(+1),h,w): the image, its masks' crops (and the protection's) -> (1,3,h,w) fp32
            img, m = crop[:, :3], crop[:, 3:]
            f = whole_feats if whole_feats is not None else vgg(img, layers)
            hw = f[layers[0]].shape[-2:]
            fm = None if full_masks is None else [resize_mask(m[:, k:k + 1], hw) for k in range(n_masks)]
            t = self.transfer(net, f, codes, weights, fm, whole)
            if protect is not None:  # per-pixel alpha: t blended toward the transfer at alpha = 0
                w = resize_mask(m[:, n_masks:n_masks + 1].float(), hw)  # (1,1,h',w')
                t = t + w * (self.transfer(net, f, codes, photo_weights, fm, whole) - t)
            return decoder(t.to(dtype), size=tuple(img.shape[-2:])).float()

        extra = [*(full_masks or []), *([] if protect is None else [protect])]
        stack = torch.cat([work, *extra], dim=1) if extra else work  # (1,3+K(+1),H,W)
        return run.run(apply, stack).clamp(0, 1)

    def stylize(self, content: torch.Tensor, style=None, *, config=None, generator=None, callback=None,
                masks=None, layer_weights=None, protect=None, style_masks=None) -> torch.Tensor:
        """Content (1,3,H,W) and style(s) (1,3,h,w) in [0,1] -> (1,3,H',W'), long side ``size``.

        ``layer_weights`` (one {layer: weight} per style; methods whose spec says ``scale_mix``, one layer a
        stage): each stage blends the styles by their weights at its layer, e.g. WCT's coarse levels from
        one painting and its fine levels from another. ``protect`` (1,1,H,W) in [0,1] (``--protect faces``):
        alpha is lowered to alpha (1 - protect) per pixel and the result cross-faded toward the photo by
        ``protect``. ``style_masks`` (one (1,1,h,w) mask or None per style, at its painting's size): each
        style's code is taken over that region of the painting (``--style-mask``). ``generator`` is unused:
        inference is deterministic."""
        cfg = config or self.config  # checked by atelier.api.prepare, as are the styles and masks
        styles = raw_styles = [style] if isinstance(style, torch.Tensor) else list(style)
        run = InferenceRun(self.METHOD, callback)
        device = content.device
        dtype = resolve_precision(cfg.precision, device)
        path = self.find(cfg.model)
        net, header = self.load(path, device, dtype)
        vgg = get_vgg19(weights=cfg.weights, device=device, dtype=dtype)
        run.loaded()

        out_hw = tuple(content.shape[-2:]) if cfg.size == 0 else io.fit_size(*content.shape[-2:], cfg.size)
        if min(out_hw) < 16:
            raise OptionError(f"The output would be {out_hw[1]}x{out_hw[0]} pixels; the {self.METHOD} method "
                              "needs at least 16 pixels per side: increase --size.")
        x = io.resize(content, out_hw)
        styles = [s if cfg.style_size == 0 else io.resize(s, io.fit_size(*s.shape[-2:], cfg.style_size))
                  for s in styles]
        if any(min(s.shape[-2:]) < 16 for s in styles):
            raise OptionError("Every style image needs at least 16 pixels per side: increase --style-size.")
        work, styles = color.prepare_inputs(x, styles, cfg.preserve_color)
        full_masks = None if masks is None else [io.resize(m, out_hw) for m in masks]
        protect = None if protect is None else io.resize(protect.to(x), out_hw)

        with torch.inference_mode():
            codes = self._style_codes(net, vgg, raw_styles, styles, (cfg.style_size, cfg.preserve_color, path,
                                                                       str(device), dtype, cfg.weights),
                                     style_masks)
            style_px = max(s.shape[-2] * s.shape[-1] for s in styles)
            bpp = self.bytes_per_pixel(dtype, style_px)
            tile, stats_hw = self.plan(out_hw, cfg, bpp)
            sw = [1.0] * len(styles) if cfg.style_weights is None else list(cfg.style_weights)
            stages = self.stages(net, cfg)
            run.start(out_hw, tile=tile, overlap=cfg.overlap, align=self.ALIGN, stages=len(stages))
            if tile:
                logger.info("Tile statistics from the photo at %dx%d.", stats_hw[1], stats_hw[0])
            out = work
            for layers in stages:  # one stage (AdaIN, SANet), or coarse to fine (WCT): each decodes the last
                share = blend_weights([w / sum(sw) for w in sw], layer_weights, layers)[layers[0]]
                weights = [cfg.alpha * w for w in share] + [1.0 - cfg.alpha]  # the styles', then the photo's
                out = self._stage(net, vgg, layers, out, full_masks, codes, weights, tile, stats_hw, run, dtype,
                                  protect)
        out = self.finish(out.clamp(0, 1), x, cfg)
        if cfg.preserve_color == "luminance":
            out = color.combine_luminance(out, x)
        if full_masks is not None:  # pixels no mask covers keep the photo exactly (as gatys does)
            keep = (1 - torch.stack(full_masks).sum(0)).clamp(0, 1)
            out = keep * x + (1 - keep) * out
        if protect is not None:  # the protected face's structure back from the photo (see the module doc)
            out = protect * x + (1 - protect) * out
        self.info = run.finish(name=cfg.model, path=path, header=header, card_keys=CARD_KEYS,
                               stats_size=list(stats_hw))
        return out.clamp(0, 1)
