"""The public API: stylise from anything image-like, write results with their sidecars.

``stylize(content, style, **options)`` accepts paths, PIL images, numpy arrays or tensors and returns a
PIL image (or a tensor with ``output="tensor"``). ``stylize_to_file`` is what the CLI and the web app use:
it checks the output path before any work, runs, and writes the image and its JSON sidecar atomically.
Front ends use only this module (through ``atelier/__init__.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from . import __version__, io, protect, provenance, worksize
from .devices import resolve_device
from .errors import Interrupted, OptionError, WeightsError
from .methods import MethodSpec, get_method, list_methods, make_config, method_for_model, method_spec
from .ops import color
from .ops.masks import fit_masks, fit_style_masks
from .options import COARSE_BLOCKS, check_seed, coarse_fine_weights
from .refine import refinable, refine
from .semantic import check_regions, find_regions
from .weights import check_model_file, find_model, has_model

logger = logging.getLogger(__name__)


def default_inputs() -> tuple[Path, Path]:
    """The embedded default pair: a photo and a painting bundled in the package (credited in README)."""
    base = resources.files("atelier") / "data"
    return Path(str(base / "content.jpg")), Path(str(base / "style.jpg"))


@dataclass
class StylizeResult:
    image: torch.Tensor  # (1,3,H,W) in [0,1]
    alpha: torch.Tensor | None  # (1,1,H,W) content's transparency resized to the output, or None
    info: dict[str, Any] = field(default_factory=dict)  # what the sidecar records
    regions: torch.Tensor | None = None  # --semantic: photo and painting with their paired regions (1,3,h,w)

    def to_pil(self):
        return io.to_pil(self.image, self.alpha)


def _describe(source) -> str | None:
    return str(Path(source)) if isinstance(source, (str, Path)) else None


@dataclass(frozen=True)
class Prepared:
    """A checked run: the method's spec, its config (fields, cross-field rules and the style count checked)
    and the resolved model file. Made once by :func:`prepare`; :func:`run`, :func:`estimate`, the video
    pipeline and the web app use it instead of checking again."""

    spec: MethodSpec
    config: Any
    n_styles: int
    n_masks: int | None
    model_path: Path | None = None
    refine: int = 0  # Gatys iterations after a one-pass method (--refine)
    work_size: int = 0  # long side the method runs at, upsampled to the output with the photo's detail (0 = off)
    scale_mix: bool = False  # per-layer style weights (--coarse-style/--fine-style) checked for this method
    color_from: bool = False  # --color-from IMAGE checked for this method
    protect: Any = None  # protect.ProtectOptions (--protect faces, --protect-strength), checked for this method
    n_style_masks: int | None = None  # --style-mask: one mask per painting, checked for this method
    semantic: int | str | None = None  # --semantic: 'auto' or a number of regions (None: off)

    @property
    def method(self) -> str:
        return self.spec.name


# Options of a run beside the method's config (checked by prepare, applied by run).
RUN_OPTIONS = ("refine", "work_size", "protect", "protect_strength", "semantic")


def _as_list(items) -> list:
    return [] if items is None else (list(items) if isinstance(items, (list, tuple)) else [items])


def prepare(method: str | None = None, options: dict | None = None, *, n_styles: int = 0,
            n_masks: int | None = None, video: bool = False, save_every: int = 0, refine: int = 0,
            texture: bool = False, tileable: bool = False, work_size: int | None = 0, seed: int = 0,
            scale_mix: bool = False, color_from: bool = False, protect: str | None = "none",
            protect_strength: float | None = None, n_style_masks: int | None = None,
            semantic: str | int | None = None) -> Prepared:
    """Check a run before any image is read: the method (default: the one that runs ``options['model']``,
    else gatys), its options, the number of styles and masks, and what the method can honour (masks, several
    styles, video, ``save_every`` snapshots, ``refine`` after a one-pass method, texture synthesis from a
    sample alone and ``tileable`` textures; ``n_styles`` counts the samples then; ``work_size``, a long side
    to run the method at, needs a method with an output ``size``; None: the video default where it has one),
    the ``seed``, ``scale_mix`` (per-layer style weights: ``--coarse-style``/``--fine-style``),
    ``color_from`` (the colours of another image) and ``protect``/``protect_strength`` (``'faces'``: detected
    faces painted more lightly, :mod:`atelier.protect`; the detector must be installed), ``n_style_masks``
    (``--style-mask``, one per painting) and ``semantic`` ('auto' or K regions, :mod:`atelier.semantic`).
    Raises one clear :mod:`atelier.errors` sentence."""
    options = dict(options or {})
    check_seed(seed)
    if method is None:
        method = method_for_model(options["model"]) if options.get("model") else "gatys"
    spec = method_spec(method)
    caps = spec.capabilities
    if texture or tileable:
        _check_texture(method, caps, n_styles, tileable, n_masks, video)
    elif caps.fill:
        _check_fill(method, n_styles, n_masks)
    else:
        _check_styles_and_masks(method, caps, n_styles, n_masks)
    if video and not caps.video:
        raise OptionError(f"The {method} method does not support video.")
    if save_every and not caps.snapshots:
        raise OptionError(f"The {method} method makes no intermediate images: --save-every cannot be used "
                          "with it.")
    if save_every < 0 or refine < 0:
        raise OptionError(f"--save-every and --refine must be 0 or more, not {min(save_every, refine)}.")
    if refine and not refinable(caps):
        able = ", ".join(n for n in list_methods() if refinable(method_spec(n).capabilities))
        raise OptionError(f"--refine continues a one-pass method that takes the painting ({able}) with "
                          f"Gatys iterations; the {method} method cannot use it.")
    config = make_config(spec.config_class, options)
    if hasattr(config, "validate"):  # rules across fields; a plug-in's plain dataclass may have none
        config.validate(n_styles)
    if work_size is None:  # the video default, where the method has an output size
        work_size = worksize.VIDEO_WORK_SIZE if worksize.has_size(config) and not texture else 0
    work_size = make_config(worksize.WorkSizeOptions, {"work_size": work_size}).work_size
    if work_size and (texture or not worksize.has_size(config)):
        raise OptionError(f"--work-size needs a method that makes an output of a chosen size; the {method} method "
                          f"{'synthesising a texture' if texture else 'has no --size'} cannot use it.")
    check_mix(method, caps, config, scale_mix=scale_mix, color_from=color_from, n_styles=n_styles,
              n_masks=n_masks, refine=refine, video=video or texture)
    k = _regions_options(method, caps, semantic=semantic, n_styles=n_styles, n_masks=n_masks,
                         n_style_masks=n_style_masks, video=video, texture=texture, scale_mix=scale_mix)
    _check_mrf(config, n_styles, n_masks, scale_mix, regions=n_style_masks is not None or k is not None,
               video=video)
    shield = _protect_options(method, caps, protect, protect_strength, video=video, texture=texture)
    return Prepared(spec, config, n_styles, n_masks, _model_path(spec, config), refine, work_size, scale_mix,
                    color_from, shield, n_style_masks, k)


def _regions_options(method: str, caps, **counts):
    """``--style-mask``/``--semantic`` checked for ``method`` (:func:`atelier.semantic.check_regions`): the
    parsed ``semantic`` (None when off)."""
    able = ", ".join(n for n in list_methods() if method_spec(n).capabilities.style_masks)
    return check_regions(method, caps, able=able, **counts)


def _protect_options(method: str, caps, value, strength, *, video=False, texture=False):
    """``--protect``/``--protect-strength`` checked for ``method`` (:func:`atelier.protect.check`): the
    options, or None when off."""
    opts = protect.options_of(value, strength)
    able = ", ".join(n for n in list_methods() if method_spec(n).capabilities.protect)
    protect.check(method, caps, opts, video=video, texture=texture, able=able)
    return None if opts.protect == "none" else opts


def _check_mrf(config, n_styles: int, n_masks, scale_mix: bool, regions: bool = False, video: bool = False) -> None:
    """``--style-loss mrf`` (Li & Wand 2016) matches each patch to one painting's patches: several paintings
    need one --mask region each, and it has no per-layer blend to mix paintings by scale, nor a search
    restricted to a painting region (``regions``: --style-mask, --semantic)."""
    if getattr(config, "style_loss", "gram") != "mrf":
        return
    if regions:
        raise OptionError("--style-loss mrf searches the whole painting's patches: it cannot be combined with "
                          "--style-mask or --semantic (use the Gram loss for regions).")
    if scale_mix:
        raise OptionError("--style-loss mrf matches patches of one painting per region: it cannot be combined "
                          "with --coarse-style/--fine-style.")
    if n_styles > 1 and n_masks is None and video:  # e.g. --style-at, which blends paintings frame by frame
        raise OptionError("--style-loss mrf matches each patch to one painting's patches and cannot blend "
                          "paintings along a video (--style-at): use --style-loss gram.")
    if n_styles > 1 and n_masks is None:
        raise OptionError("--style-loss mrf matches each patch to one painting's patches: give several "
                          "paintings one --mask region each, or use --style-loss gram to blend them.")


def check_mix(method: str, caps, config, *, scale_mix: bool, color_from: bool, n_styles: int, n_masks=None,
              refine: int = 0, video: bool = False) -> None:
    """What the mixing controls need (Gatys et al. 2017 §3 and §5), refused in one sentence: per-layer style
    weights (``scale_mix``) a method whose capabilities say ``scale_mix``, one weight set per style, no
    masks, refine or video; ``color_from`` a method that takes the painting (a trained network's colours
    are its own) and no luminance-only transfer (that keeps the photo's colours)."""
    if scale_mix:
        able = ", ".join(n for n in list_methods() if method_spec(n).capabilities.scale_mix)
        if not caps.scale_mix:
            raise OptionError(f"The {method} method has no per-layer style statistics to split between "
                              f"paintings: --coarse-style/--fine-style need one of: {able}.")
        if n_masks is not None or refine or video:
            raise OptionError("--coarse-style/--fine-style mix whole paintings by scale: they cannot be combined "
                              "with masks, --refine or video.")
    if color_from:
        if not caps.needs_style:
            raise OptionError(f"The {method} method's colours come from its trained network: --color-from "
                              "needs a method that takes the painting.")
        if getattr(config, "preserve_color", "none") == "luminance":
            raise OptionError("--color-from takes the colours of another image and --preserve-color luminance "
                              "keeps the photo's: choose one.")
        if video:
            raise OptionError("--color-from applies to images, not to video or textures.")


def mix_inputs(style=None, coarse_style=None, fine_style=None, layer_weights=None) -> tuple[list, list | None]:
    """(styles, per-layer weights or None) of a run: the positional style(s), or ``coarse_style`` and
    ``fine_style`` (both, instead of a style), which become two styles with the coarse/fine layer weights
    of :func:`atelier.options.coarse_fine_weights`; ``layer_weights`` (Python API) weigh given styles per
    layer ({layer: weight} per style)."""
    styles = _as_list(style)
    if coarse_style is None and fine_style is None:
        if layer_weights is not None and len(_as_list(layer_weights)) != len(styles):
            raise OptionError(f"layer_weights has {len(_as_list(layer_weights))} entries for {len(styles)} style "
                              "image(s); give one {layer: weight} per style.")
        return styles, None if layer_weights is None else _as_list(layer_weights)
    if styles:
        raise OptionError("Give either style image(s) or --coarse-style and --fine-style, not both.")
    if coarse_style is None or fine_style is None:
        raise OptionError(f"--coarse-style and --fine-style go together: the {'fine' if fine_style is None else 'coarse'}"
                          " style image is missing.")
    if layer_weights is not None:
        raise OptionError("Give per-layer weights or --coarse-style/--fine-style, not both.")
    return [coarse_style, fine_style], coarse_fine_weights()


def _check_styles_and_masks(method: str, caps, n_styles: int, n_masks) -> None:
    if caps.needs_style and n_styles == 0:
        raise OptionError(f"The {method} method needs at least one style image.")
    if not caps.needs_style and n_styles:
        raise OptionError(f"The {method} method takes no style image: the style is in the --model network.")
    if n_styles > 1 and not caps.multiple_styles:
        raise OptionError(f"The {method} method takes one style image, not {n_styles}.")
    if n_masks is not None and not caps.masks:
        raise OptionError(f"The {method} method does not support masks.")
    if n_masks is not None and n_masks != n_styles:
        raise OptionError(f"There are {n_masks} mask(s) for {n_styles} style image(s); give one mask per style.")


def _check_texture(method: str, caps, n_samples: int, tileable: bool, n_masks, video: bool) -> None:
    textures = ", ".join(n for n in list_methods() if method_spec(n).capabilities.texture)
    if not caps.texture:
        raise OptionError(f"The {method} method does not synthesise textures; choose one of: {textures}.")
    if tileable and not caps.tileable:
        able = ", ".join(n for n in list_methods() if method_spec(n).capabilities.tileable)
        raise OptionError(f"The {method} method cannot make tileable textures; these can: {able}.")
    if n_samples != 1:
        raise OptionError(f"Texture synthesis takes one sample image, not {n_samples}.")
    if n_masks is not None or video:
        raise OptionError("Texture synthesis takes no masks and no video.")


def _check_fill(method: str, n_styles: int, n_masks) -> None:
    if n_styles:
        raise OptionError(f"The {method} method takes no style image here: it fills the --mask region of the "
                          "photo from the rest of it (for a texture from a sample, use 'atelier texture').")
    if n_masks != 1:
        raise OptionError(f"The {method} method fills a hole: give one --mask (white where to fill), not "
                          f"{n_masks or 'none'}.")


def _model_path(spec: MethodSpec, config) -> Path | None:
    """The model file a config names (bundled, the user's, or a path), checked to be one this method runs."""
    name = getattr(config, "model", None)
    if name is None:
        return None
    default = next(f.default for f in dataclasses.fields(config) if f.name == "model")
    if spec.no_model_message and name == default and not has_model(name):
        raise WeightsError(spec.no_model_message)
    path = find_model(name)
    owner = method_for_model(path)
    check_model_file(path)  # cut short or damaged: refused now, not when the first frame needs it
    if owner != spec.name:
        raise WeightsError(f"'{path.name}' is a model of the {owner} method: run it with --method {owner} "
                           f"(or leave --method out), not --method {spec.name}.")
    return path


def run(
    content,
    style=None,
    *,
    method: str | None = None,
    masks: Sequence | None = None,
    style_masks: Sequence | None = None,
    prepared: Prepared | None = None,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    callback=None,
    coarse_style=None,
    fine_style=None,
    color_from=None,
    layer_weights: Sequence[dict] | None = None,
    **options,
) -> StylizeResult:
    """Stylise and return the image with everything a sidecar needs. ``method`` defaults to the one that
    runs ``model=`` (else gatys); ``prepared`` (from :func:`prepare`) replaces method and options.
    ``coarse_style`` and ``fine_style`` (instead of ``style``): coarse structure from one painting, fine
    strokes from another (Gatys et al. 2017 §5); ``layer_weights``: each style's weight per VGG layer;
    ``color_from``: an image whose colours the result takes (§3, see :func:`_recolour`); ``style_masks``: one
    mask (or None) per style over that painting, whose statistics are then taken over the region (§4); the
    option ``semantic='auto'`` (or K) finds and pairs the regions itself (:mod:`atelier.semantic`; the
    result's ``regions`` shows them). Raises
    ``atelier.errors`` on bad input; on Ctrl-C raises :class:`~atelier.errors.Interrupted` whose
    ``partial`` is a :class:`StylizeResult`."""
    t_start = time.perf_counter()
    styles, layer_weights = mix_inputs(style, coarse_style, fine_style, layer_weights)
    masks = None if masks is None else _as_list(masks)
    style_masks = None if style_masks is None else _as_list(style_masks)
    n_style_masks = None if style_masks is None else len(style_masks)
    mixing = {"scale_mix": layer_weights is not None, "color_from": color_from is not None}
    if prepared is None:
        run_options = {k: options.pop(k) for k in RUN_OPTIONS if k in options}
        prepared = prepare(method, options, n_styles=len(styles), n_masks=None if masks is None else len(masks),
                           n_style_masks=n_style_masks, **run_options, **mixing)
    elif options or method not in (None, prepared.method):
        raise OptionError("Give the method and its options to prepare(), not beside a prepared run.")
    elif (prepared.scale_mix, prepared.color_from) != tuple(mixing.values()):  # checked here if not there
        check_mix(prepared.method, prepared.spec.capabilities, prepared.config, n_styles=len(styles),
                  n_masks=None if masks is None else len(masks), refine=prepared.refine, **mixing)
    if prepared.n_style_masks != n_style_masks:  # checked here if not there
        _regions_options(prepared.method, prepared.spec.capabilities, semantic=prepared.semantic, n_styles=len(styles),
                         n_masks=None if masks is None else len(masks), n_style_masks=n_style_masks)
    config = prepared.config
    check_seed(seed)

    dev = resolve_device(device)
    loaded = io.read_image(content)
    style_t = [io.load_image(s, device=dev) for s in styles]
    mask_t = None if masks is None else fit_masks([io.load_image(m, device=dev) for m in masks],
                                                  loaded.rgb.shape[-2:])
    style_mask_t = None if style_masks is None else fit_style_masks(
        [None if m is None else io.load_image(m, device=dev) for m in style_masks], [s.shape[-2:] for s in style_t])
    if color_from is not None:
        loaded, style_t = _recolour(loaded, style_t, io.load_image(color_from, device=dev))
    found = None
    if prepared.semantic is not None:  # K copies of the painting, each over its region, each photo region a mask
        found = find_regions(loaded.rgb.to(dev), style_t[0], prepared.semantic,
                             weights=getattr(config, "weights", "pretrained"), device=dev)
        mask_t, style_mask_t = found.photo_masks, found.painting_masks
        style_t = style_t * len(mask_t)
    t_loaded = time.perf_counter()

    work = worksize.plan(config, loaded.rgb.shape[-2:], prepared.work_size)
    run_config = config if work is None else work.config
    if found is not None and getattr(run_config, "style_weights", None) is not None:  # one painting, K regions
        run_config = dataclasses.replace(run_config, style_weights=None)
    instance = get_method(prepared.method)(run_config)
    check_resources(instance, run_config, work.work_hw if work else tuple(loaded.rgb.shape[-2:]))
    if work is not None:  # the upsampled output too
        io.check_work_size(work.out_hw)
    generator = torch.Generator().manual_seed(int(seed))
    info = _sidecar_base(prepared.method, {
        "content": _describe(content),
        "styles": [_describe(s) for s in styles],
        "masks": None if masks is None else [_describe(m) for m in masks],
        **({} if style_masks is None else {"style_masks": [_describe(m) for m in style_masks]}),
        "content_size": list(loaded.rgb.shape[-2:][::-1]),
    }, config, seed, dev)
    if coarse_style is not None:
        info["inputs"].update(coarse_style=_describe(coarse_style), fine_style=_describe(fine_style),
                              coarse_blocks=list(COARSE_BLOCKS))
    elif layer_weights is not None:
        info["inputs"]["layer_weights"] = [{k: v for k, v in lw.items() if v} for lw in layer_weights]
    if color_from is not None:
        info["inputs"]["color_from"] = _describe(color_from)
    shield = None
    if prepared.protect is not None:  # detected on the photo as given (its full size)
        shield, info["protect"] = protect.face_weights(loaded.rgb.to(dev), prepared.protect)
    if found is not None:
        info["semantic"] = found.record
    if work is not None:
        info["work_size"] = work.info()
    finish = _finisher(info, instance, loaded.alpha, t_start, t_loaded)
    try:
        x = loaded.rgb.to(dev)
        if work is not None:  # the method sees the photo at the work size (it resizes the masks itself)
            x = io.resize(x, work.work_hw)
        extra = {} if layer_weights is None else {"layer_weights": layer_weights}  # only scale_mix methods
        if shield is not None:  # only methods whose capabilities say protect (prepare checked)
            extra["protect"] = shield
        if style_mask_t is not None:  # only methods whose capabilities say style_masks (prepare checked)
            extra["style_masks"] = style_mask_t
        out = instance.stylize(x, style_t or None, config=run_config, generator=generator, callback=callback,
                               masks=mask_t, **extra)
        if work is not None:
            out = worksize.upsample(out, x, loaded.rgb.to(dev), work.out_hw)
        if prepared.refine:
            out, info["refine"] = refine(out, loaded.rgb.to(dev), style_t, mask_t, run_config, prepared.refine,
                                         generator=generator, callback=callback, protect=shield,
                                         style_masks=style_mask_t)
    except Interrupted as err:
        partial = err.partial
        if partial is not None and work is not None and tuple(partial.shape[-2:]) == work.work_hw:
            content = loaded.rgb.to(dev)
            partial = worksize.upsample(partial, io.resize(content, work.work_hw), content, work.out_hw)
        partial = None if partial is None else finish(partial, interrupted=True)
        raise Interrupted(str(err), partial=partial) from None
    result = finish(out, interrupted=False)
    result.regions = None if found is None else found.overlay
    return result


def _recolour(loaded, styles: list[torch.Tensor], reference: torch.Tensor):
    """``--color-from IMAGE``: the photo and every painting recoloured to IMAGE's colour mean and covariance
    before the transfer, so the result is painted in IMAGE's colours. This is Gatys et al. 2017 §3's colour
    histogram matching (``ops.color.match_color_histogram``, a linear transform matching the first two
    moments) with IMAGE as the target instead of the photo; the photo is recoloured too, else its own
    colours would come back through the content term. Returns (loaded, styles) with the new colours."""
    rgb = color.match_color_histogram(loaded.rgb, reference.to(loaded.rgb))
    return dataclasses.replace(loaded, rgb=rgb), [color.match_color_histogram(s, reference.to(s)) for s in styles]


def check_resources(instance, config, content_hw, *, out_hw=None) -> tuple[int, int]:
    """Before any work: the output's size (the config's ``size``, a long side, else the content's; a
    texture's ``out_hw``) within the pixel limit, and the method's peak memory estimate (its
    ``peak_bytes(content_hw, config)``, where it has one) within this machine's memory. One sentence with
    the estimate otherwise. Returns the output's (h, w)."""
    if out_hw is None:
        size = getattr(config, "size", None)
        out_hw = io.fit_size(*content_hw, size) if isinstance(size, int) and size > 0 else tuple(content_hw)
    peak = instance.peak_bytes(tuple(content_hw), config) if hasattr(instance, "peak_bytes") else None
    io.check_work_size(out_hw, peak_bytes=peak)
    return tuple(out_hw)


def _sidecar_base(method: str, inputs: dict, config, seed: int, dev) -> dict:
    return {
        "atelier": __version__,
        "method": method,
        "inputs": inputs,
        "config": dataclasses.asdict(config),
        "seed": int(seed),
        "device": str(dev),
        "versions": versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _finisher(info: dict, instance, alpha, t_start: float, t_loaded: float):
    """``finish(image, interrupted) -> StylizeResult``: the image on the CPU in [0,1], the content's alpha
    fitted to it, and the method's info and the timings added to the sidecar ``info``."""

    def finish(image: torch.Tensor, interrupted: bool) -> StylizeResult:
        image = image.detach().float().cpu().clamp(0, 1)
        out_alpha = None if alpha is None else io.resize(alpha, tuple(image.shape[-2:]))
        info.update(instance.info)
        info["interrupted"] = interrupted
        info["output_size"] = list(image.shape[-2:][::-1])
        info["timings"] = {
            "load_seconds": round(t_loaded - t_start, 3),
            "stylize_seconds": round(time.perf_counter() - t_loaded, 3),
            "total_seconds": round(time.perf_counter() - t_start, 3),
        }
        return StylizeResult(image, out_alpha, info)

    return finish


def texture_size(size) -> tuple[int, int]:
    """(height, width) of a texture from ``size``: an int (a square) or (height, width); one sentence if
    it is not a size from 8 to 16384 pixels."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or not all(isinstance(v, int) and 8 <= v <= 16384 for v in hw):
        raise OptionError(f"A texture's size must be a whole number of pixels from 8 to 16384 (or a height and a "
                          f"width), not {size!r}.")
    return hw


def run_texture(sample, *, method: str = "quilting", size=512, tileable: bool = False,
                prepared: Prepared | None = None, seed: int = 0, device: str | torch.device | None = "auto",
                callback=None, **options) -> StylizeResult:
    """Synthesise a texture of ``size`` (an int for a square, or (height, width)) from ``sample`` alone
    (a path, PIL image, array or tensor) with a method whose capabilities say ``texture``; ``tileable``
    makes it wrap around seamlessly where the method can. Returns the image with its sidecar ``info``;
    on Ctrl-C raises :class:`~atelier.errors.Interrupted` with the partial texture."""
    t_start = time.perf_counter()
    hw = texture_size(size)
    if prepared is None:
        prepared = prepare(method, options, n_styles=1, texture=True, tileable=tileable)
        _refuse_transfer_options(prepared, options)
    elif options:
        raise OptionError("Give the method's options to prepare(), not beside a prepared run.")
    config = prepared.config
    check_seed(seed)
    if any(f.name == "size" for f in dataclasses.fields(config)):  # the sidecar says the size made
        config = dataclasses.replace(config, size=max(hw))
    instance = get_method(prepared.method)(config)
    check_resources(instance, config, hw, out_hw=hw)
    dev = resolve_device(device)
    sample_t = io.load_image(sample, device=dev)
    t_loaded = time.perf_counter()
    info = _sidecar_base(prepared.method, {"sample": _describe(sample),
                                           "sample_size": list(sample_t.shape[-2:][::-1])}, config, seed, dev)
    info["texture"] = {"size": [hw[1], hw[0]], "tileable": bool(tileable)}
    finish = _finisher(info, instance, None, t_start, t_loaded)
    generator = torch.Generator().manual_seed(int(seed))
    try:
        out = instance.texture(sample_t, hw, config=config, generator=generator, callback=callback,
                               tileable=tileable)
    except Interrupted as err:
        partial = None if err.partial is None else finish(err.partial, interrupted=True)
        raise Interrupted(str(err), partial=partial) from None
    return finish(out, interrupted=False)


def _refuse_transfer_options(prepared: Prepared, options: dict) -> None:
    """Options marked ``texture=False`` (a photo's size, the content weight, colour preservation ...) mean
    nothing for a texture from a sample: given with a value, they are refused rather than ignored."""
    fields = {f.name: f for f in dataclasses.fields(prepared.config)}
    unused = [k for k, v in options.items() if v is not None and k in fields
              and fields[k].metadata.get("texture", True) is False]
    if unused:
        names = ", ".join("--" + k.replace("_", "-") for k in sorted(unused))
        raise OptionError(f"{names} do(es) not apply to texture synthesis with the {prepared.method} method "
                          "(the texture's size is the size given to 'atelier texture').")


def texture(sample, *, output: str = "pil", **kwargs):
    """A texture from ``sample`` (see :func:`run_texture` for the options): a PIL image, or a (1,3,H,W)
    tensor with ``output="tensor"``."""
    if output not in ("pil", "tensor"):
        raise OptionError("output must be 'pil' or 'tensor'.")
    result = run_texture(sample, **kwargs)
    return result.to_pil() if output == "pil" else result.image


def texture_to_file(sample, out, *, overwrite: bool = False, metadata: bool = True, watermark: bool = False,
                    **kwargs) -> tuple[Path, StylizeResult]:
    """Synthesise and write ``out`` plus ``out.json`` atomically (the output path checked first; the
    sample is never overwritten; on Ctrl-C the partial texture is written, then re-raised). ``metadata``:
    embed the provenance record in the image (see :func:`write_result`)."""
    inputs = [sample] if isinstance(sample, (str, Path)) else []
    return _run_to_file(lambda: run_texture(sample, **kwargs), out, overwrite, inputs, metadata, watermark)


def estimate(content, style=None, *, method: str | None = None, prepared: Prepared | None = None,
             device="auto", **options) -> dict:
    """Predicted ``seconds`` and ``peak_bytes`` of ``run(content, style, **options)`` (a short calibration
    runs; nothing is written). Methods without an estimator raise OptionError."""
    styles = _as_list(style)
    prepared = prepared or prepare(method, options, n_styles=len(styles))
    cls = get_method(prepared.method)
    if not hasattr(cls, "estimate"):
        raise OptionError(f"The {prepared.method} method cannot estimate its run time yet.")
    dev = resolve_device(device)
    content_t = io.load_image(content, device=dev)
    check_resources(cls(prepared.config), prepared.config, tuple(content_t.shape[-2:]))
    return cls(prepared.config).estimate(content_t,
                                         [io.load_image(s, device=dev) for s in styles], config=prepared.config)


def stylize(content, style=None, *, output: str = "pil", **kwargs):
    """Stylise ``content`` in the manner of ``style`` (paths, PIL images, arrays or tensors).

    Keyword options are the method's config fields (``size``, ``iterations``, ``style_strength``,
    ``preserve_color`` ...) plus ``method``, ``masks``, ``seed``, ``device``, ``callback`` (receives
    :mod:`atelier.events`), and the mixing controls ``coarse_style``/``fine_style`` (instead of ``style``),
    ``layer_weights`` and ``color_from`` (see :func:`run`). Returns a PIL image, or a (1,3,H,W) tensor with ``output="tensor"``.
    """
    if output not in ("pil", "tensor"):
        raise OptionError("output must be 'pil' or 'tensor'.")
    result = run(content, style, **kwargs)
    return result.to_pil() if output == "pil" else result.image


def stylize_to_file(content, style, out, *, overwrite: bool = False, snapshots: bool = False, metadata: bool = True,
                    watermark: bool = False, save_regions=None, **kwargs) -> tuple[Path, StylizeResult]:
    """Stylise and write ``out`` plus ``out.json`` atomically. The output and every file derived from its name
    (the sidecar; with ``snapshots``, the ``--save-every`` images ``out.iterNNNNN.png`` a listener writes)
    are checked before any work; an input file (content, styles, masks, an ``init`` image) is never
    overwritten. On Ctrl-C the partial image and its sidecar are written, then
    :class:`~atelier.errors.Interrupted` is re-raised. ``metadata=False`` writes no provenance into the
    image (the sidecar is written either way); ``watermark=True`` adds the faint watermark
    (:mod:`atelier.watermark`). ``save_regions`` (with ``semantic``): also write the regions found, photo
    and painting side by side (:attr:`StylizeResult.regions`), checked as the output is."""
    mix_keys = ("coarse_style", "fine_style", "color_from", "layer_weights")
    styles, layer_weights = mix_inputs(style, *(kwargs.get(k) for k in mix_keys[:2]), kwargs.get("layer_weights"))
    inputs = [p for p in [content, *styles, *(kwargs.get("masks") or []), *(kwargs.get("style_masks") or []),
                          kwargs.get("color_from")] if isinstance(p, (str, Path))]
    if kwargs.get("prepared") is None:  # prepared here, so the files its options name are known as inputs
        run_keys = ("method", "masks", "style_masks", "seed", "device", "callback", *mix_keys)
        options = {k: v for k, v in kwargs.items() if k not in run_keys and k != "prepared"}
        run_options = {k: options.pop(k) for k in RUN_OPTIONS if k in options}
        masks, style_masks = kwargs.get("masks"), kwargs.get("style_masks")
        kwargs = {k: v for k, v in kwargs.items() if k in run_keys}
        kwargs["prepared"] = prepare(kwargs.pop("method", None), options, n_styles=len(styles),
                                     n_masks=None if masks is None else len(_as_list(masks)),
                                     n_style_masks=None if style_masks is None else len(_as_list(style_masks)),
                                     seed=kwargs.get("seed", 0), scale_mix=layer_weights is not None,
                                     color_from=kwargs.get("color_from") is not None, **run_options)
    inputs += file_options(kwargs["prepared"].config)
    if save_regions is None:
        return _run_to_file(lambda: run(content, style, **kwargs), out, overwrite, inputs, metadata, watermark,
                            snapshots=snapshots)
    if kwargs["prepared"].semantic is None:
        raise OptionError("--save-regions shows the regions --semantic finds: give --semantic auto (or a number).")
    regions_path = io.plan_outputs(save_regions, overwrite=overwrite, inputs=[*inputs, out], sidecar=False)
    path, result = _run_to_file(lambda: run(content, style, **kwargs), out, overwrite, inputs, metadata, watermark,
                                snapshots=snapshots)
    record = result_provenance(result.info, kind="regions") if metadata else None
    io.save_image(result.regions, regions_path, overwrite=overwrite, inputs=inputs, metadata=record)
    return path, result


def file_options(config) -> list[Path]:
    """The files named by options that take a word or a path (``or_file``, e.g. gatys' ``init``): inputs too."""
    out = []
    for f in dataclasses.fields(config):
        value, words = getattr(config, f.name), f.metadata.get("or_file")
        if words and value is not None and str(value) not in words:
            out.append(Path(str(value)).expanduser())
    return out


def _run_to_file(run_fn, out, overwrite: bool, inputs: list, metadata: bool = True, watermark: bool = False, *,
                 snapshots: bool = False) -> tuple[Path, StylizeResult]:
    """Check ``out`` and its companions before any work, run, write the image and its sidecar atomically;
    on Ctrl-C write the partial result, then re-raise."""
    path = io.plan_outputs(out, overwrite=overwrite, inputs=inputs, snapshots=snapshots)
    try:
        result = run_fn()
    except Interrupted as err:
        if err.partial is not None:
            write_result(err.partial, path, overwrite=overwrite, inputs=inputs, metadata=metadata,
                         watermark=watermark)
        raise
    write_result(result, path, overwrite=overwrite, inputs=inputs, metadata=metadata, watermark=watermark)
    return path, result


def write_result(result: StylizeResult, path, *, overwrite: bool = False, inputs=(), metadata: bool = True,
                 watermark: bool = False) -> Path:
    """The image (with its provenance record inside unless ``metadata=False``; with the faint watermark if
    ``watermark``) and its JSON sidecar, both checked first; if the sidecar cannot be written, a new image is
    removed again (no half output: an image without the record of what made it)."""
    inputs = list(inputs)
    path = io.plan_outputs(path, overwrite=overwrite, inputs=inputs)
    side = io.sidecar_path(path)
    existed = path.exists()
    record = result_provenance(result.info) if metadata else None
    if record is not None and watermark:
        record["watermark"] = "atelier.watermark v1"
    if watermark:
        result.info["watermark"] = True
    result.info["output"] = str(path)
    path = io.save_image(result.image, path, overwrite=overwrite, inputs=inputs, alpha=result.alpha,
                         metadata=record, mark=watermark)
    try:
        io.write_json(side, result.info)
    except BaseException:
        if not existed:
            path.unlink(missing_ok=True)
        raise
    return path


def result_provenance(info: dict, kind: str | None = None) -> dict:
    """The provenance record of a result from its sidecar ``info`` (see :mod:`atelier.provenance`)."""
    method = info.get("method")
    network = method_spec(method).network if method in list_methods() else True
    return provenance.from_sidecar(info, network=network, kind=kind)


def provenance_record(kind: str, method: str, *, config=None, inputs: dict | None = None, seed: int | None = None,
                      masked: bool = False, **extra) -> dict:
    """A provenance record for an image written outside :func:`write_result` (a ``--save-every`` snapshot,
    a training preview, the web's preview): ``config`` a method's config (dataclass or dict), ``inputs``
    the source files (base names are kept), ``masked`` when part of the photo is kept unchanged."""
    network = method_spec(method).network if method in list_methods() else True
    options = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
    return provenance.record(kind, method=method, source=provenance.source_type(network=network, composite=masked),
                             inputs=inputs, options=options, seed=seed, **extra)


def versions() -> dict[str, str]:
    """The versions a sidecar records."""
    import numpy
    import PIL

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
    }
