"""The method registry: every method declares itself once, in a :class:`MethodSpec`.

A built-in method is a package ``atelier/methods/<name>/`` whose ``spec.py`` (torch-free) defines ``SPEC``;
a third-party package adds one through the ``atelier.methods`` entry-point group, whose entry points name
a ``MethodSpec`` (``mypkg.spec:SPEC``). Both are found by :func:`list_methods`; nothing else lists method
names. The spec points at the implementation (``"module:Class"``), imported on first use with torch:
``atelier --help`` and ``atelier stylize --help`` read only the specs (and start in a fraction of the 1.1 s
that importing torch costs).

The implementation is a class built from its config, with

    stylize(content, style=None, *, config=None, generator=None, callback=None, masks=None) -> Tensor

content/style as (1,3,H,W) float tensors in [0,1] (``style`` a list for several styles). After a run,
``method.info`` holds what the run measured (stages, iterations, timings, final loss terms) for sidecars.
Methods whose capabilities say ``temporal_loss`` also take ``temporal=TemporalGuide``; an optional
``estimate(content, style, config=)`` serves ``--dry-run``. Methods whose capabilities say ``texture``
also have

    texture(sample, size, *, config=None, generator=None, callback=None, tileable=False) -> Tensor

(``sample`` (1,3,h,w) in [0,1], ``size`` the output's (H, W); ``atelier texture``), and those that say
``fill`` fill the one mask's region of the photo from the rest of it (``stylize(photo, None, masks=[hole])``).
The checks of options and inputs happen once, in :func:`atelier.api.prepare`; ``stylize`` trusts its config.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import OptionError, WeightsError
from ..options import make_config, option

__all__ = ["Capabilities", "MethodSpec", "TemporalGuide", "TrainerSpec", "create_method", "get_method",
           "get_trainer", "list_methods", "list_trainers", "make_config", "method_for_model", "method_spec",
           "option", "register", "trainer_spec", "unregister"]

logger = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "atelier.methods"


@dataclass(frozen=True)
class Capabilities:
    needs_style: bool = True  # style image(s) are inputs (else the style is in a trained model)
    multiple_styles: bool = False
    masks: bool = False
    video: bool = False  # `atelier video` may run it frame by frame
    # stylize() takes ``temporal=TemporalGuide`` (optimisation methods: warped initialisation and Ruder et
    # al.'s temporal loss); without it the video pipeline blends the warped previous output instead.
    temporal_loss: bool = False
    snapshots: bool = False  # intermediate images exist (iterations): `--save-every` can write them
    texture: bool = False  # texture(sample, size, ...) synthesises from a sample alone (`atelier texture`)
    tileable: bool = False  # texture(..., tileable=True) wraps around seamlessly (tiles a plane)
    # stylize(photo, None, masks=[hole]) fills the hole from the rest of the photo (no style image); such a
    # method stylises nothing without a mask
    fill: bool = False
    # stylize(..., layer_weights=[{layer: weight} per style]) weighs each style per VGG layer: coarse structure
    # from one painting, fine strokes from another (``--coarse-style A --fine-style B``; Gatys et al. 2017 §5)
    scale_mix: bool = False
    # stylize(..., protect=w) with w (1,1,H,W) in [0,1] at the photo's size: paint more lightly where w is
    # high (``--protect faces``, atelier/protect.py says how each method maps it)
    protect: bool = False
    # stylize(..., style_masks=[mask or None per style]), each (1,1,h,w) in [0,1] at its painting's size: the
    # painting's statistics are taken over that region only (``--style-mask``; Gatys et al. 2017 §4)
    style_masks: bool = False


@dataclass(frozen=True)
class TemporalGuide:
    """What a method with ``capabilities.temporal_loss`` gets for a video frame after the first (Ruder,
    Dosovitskiy & Brox 2016): the previous result warped to this frame, where that warp can be trusted,
    and the weight of the temporal term."""

    previous: Any  # (1,3,H,W) tensor in [0,1], the previous output warped to this frame (output size)
    reliability: Any  # (1,1,H,W) tensor in [0,1]: 0 at disocclusions and motion boundaries
    weight: float  # the user's --temporal-weight (> 0)


# What a trainer's ``style`` and ``data`` are on the command line when its spec declares no inputs: one
# style image and folders of photos (johnson).
DEFAULT_INPUTS = (
    {"flag": "--style", "dest": "style", "metavar": "IMAGE", "folders": False, "nargs": None,
     "help": "The style image (painting)."},
    {"flag": "--data", "dest": "data", "metavar": "DIR", "folders": True,
     "help": "Folder(s) of training photos, searched recursively (JPEG, PNG, WebP, TIFF, BMP)."},
)


@dataclass(frozen=True)
class TrainerSpec:
    """A trainable method's training side: its config dataclass (torch-free, for ``atelier train NAME
    --help``), the ``train`` function (``"module:function"``, imported on use) and the CLI's inputs."""

    config_class: type
    train: str  # "module:function": train(style, data, output, *, config, resume, callback, device, overwrite)
    summary: str
    inputs: tuple = DEFAULT_INPUTS
    name: str = ""  # filled in from the method's spec


@dataclass(frozen=True)
class MethodSpec:
    """The one declaration of a method (see the module docstring)."""

    name: str
    summary: str | Callable[[], str]  # a callable is read each time (e.g. "no decoder installed yet")
    config_class: type
    capabilities: Capabilities
    implementation: str  # "module:Class", imported on first use
    trainer: TrainerSpec | None = None
    # The ``method`` values in model-file headers that this method runs (``--model FILE`` selects it).
    model_kinds: tuple[str, ...] = ()
    # Said when the config's default ``model`` is not installed (e.g. how to train a decoder).
    no_model_message: str = ""
    paper: str = ""
    # The output comes from a network trained on data (gatys' VGG-19, a trained decoder or model): its
    # provenance is IPTC "trainedAlgorithmicMedia"; a classical method's is "algorithmicMedia".
    network: bool = True
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def trainable(self) -> bool:
        return self.trainer is not None

    def describe(self) -> str:
        return self.summary() if callable(self.summary) else self.summary


def no_model_message(method: str, default: str, inputs: str, noun: str = "model") -> str:
    """A spec's ``no_model_message`` for a method whose default network is trained here: how to train one."""
    return (f"No {method} {noun} is installed yet: train one with 'atelier train {method} {inputs} "
            f"-o {default}.safetensors' and pass --model {default}.safetensors "
            f"(or copy it to $ATELIER_HOME/models/ to make it the default).")


def trained_summary(method: str, text: str, default: str, noun: str = "model") -> Callable[[], str]:
    """A spec's ``summary`` that adds "none bundled yet" while the default model ``default`` is not installed
    (read on each listing: a manifest read, no torch)."""

    def summary() -> str:
        from ..weights import has_model

        try:
            ready = has_model(default)
        except Exception:  # noqa: BLE001 - a listing must not fail on a damaged manifest; stylize will say why
            ready = True
        return text if ready else f"{text} No {noun} is bundled yet: train one with 'atelier train {method}'."

    return summary


def _resolve(ref: str):
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


# name -> spec, filled on first use by scanning the built-in packages and the entry points.
_SPECS: dict[str, MethodSpec] | None = None
_CLASSES: dict[str, type] = {}


def _check_spec(spec, where: str) -> MethodSpec:
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"{where} is a {type(spec).__name__}, not an atelier.methods.MethodSpec")
    return spec


def _discover() -> dict[str, MethodSpec]:
    specs: dict[str, MethodSpec] = {}
    # Every folder of this package with a spec.py is a method (the folders are namespace packages, which
    # pkgutil.iter_modules does not list).
    folders = sorted(d.name for root in __path__ for d in Path(root).iterdir() if (d / "spec.py").is_file())
    for folder in folders:
        mod = importlib.import_module(f"{__name__}.{folder}.spec")
        spec = _check_spec(mod.SPEC, f"{mod.__name__}.SPEC")
        specs[spec.name] = spec
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = _check_spec(ep.load(), f"entry point {ep.name!r} ({ep.value})")
        except Exception as err:  # noqa: BLE001 - a broken plug-in must not take the built-ins down
            logger.warning("Ignoring the method plug-in %r (%s): %s", ep.name, ep.value, err)
            continue
        if spec.name in specs:
            logger.warning("The method plug-in %r (%s) is ignored: a method named %r exists.", ep.name,
                           ep.value, spec.name)
            continue
        specs[spec.name] = spec
    return specs


def _specs() -> dict[str, MethodSpec]:
    global _SPECS
    if _SPECS is None:
        _SPECS = _discover()
    return _SPECS


def refresh() -> None:
    """Scan again (after installing a plug-in in a running process, as the tests do)."""
    global _SPECS
    _SPECS = None
    _CLASSES.clear()


def register(spec: MethodSpec, implementation: type | None = None) -> None:
    """Add a method at run time (a plug-in loaded by hand, a test's toy method); ``implementation`` skips the
    import of ``spec.implementation``."""
    _specs()[_check_spec(spec, "register()").name] = spec
    _CLASSES.pop(spec.name, None)
    if implementation is not None:
        _bind(implementation, spec)


def unregister(name: str) -> None:
    _specs().pop(name, None)
    _CLASSES.pop(name, None)


def list_methods() -> list[str]:
    return sorted(_specs())


def _unknown(name: str) -> OptionError:
    return OptionError(f"Unknown method {name!r}; choose one of: {', '.join(list_methods())}.")


def method_spec(name: str) -> MethodSpec:
    """The declaration of a method (torch-free)."""
    spec = _specs().get(name)
    if spec is None:
        raise _unknown(name)
    return spec


def get_method(name: str) -> type:
    """The method's class (imports its module, and torch, on first use). The spec's name, config class
    and capabilities are set on the class, so the spec stays the one declaration."""
    if name not in _CLASSES:
        spec = method_spec(name)
        _bind(_resolve(spec.implementation), spec)
    return _CLASSES[name]


def _bind(cls: type, spec: MethodSpec) -> None:
    cls.name, cls.spec = spec.name, spec
    cls.config_class, cls.capabilities = spec.config_class, spec.capabilities
    _CLASSES[spec.name] = cls


def create_method(name: str, **overrides):
    """An instance of a method with its config built (and checked) from ``overrides``."""
    cls = get_method(name)
    return cls(make_config(method_spec(name).config_class, overrides))


def method_for_model(model) -> str:
    """The method that runs a model file (a name or path; its header is read, no tensors, no torch).

    One sentence (OptionError / WeightsError) for an unknown name, an unreadable file, or a file no
    installed method runs."""
    from ..weights import find_model, read_header

    path = find_model(model)
    kind = read_header(path).get("method")
    for spec in _specs().values():
        if kind in spec.model_kinds:
            return spec.name
    raise WeightsError(f"'{path}' holds a {kind!r} network, which no installed method runs "
                       f"(methods: {', '.join(list_methods())}).")


# --------------------------------------------------------------------------------------------- trainers


def list_trainers() -> list[str]:
    return [name for name in list_methods() if method_spec(name).trainable]


def trainer_spec(name: str) -> TrainerSpec:
    """The training config class, summary and inputs of a trainable method (torch-free)."""
    spec = _specs().get(name)
    if spec is None or spec.trainer is None:
        raise OptionError(f"No trainer for method {name!r}; trainable methods: {', '.join(list_trainers())}.")
    t = spec.trainer
    return t if t.name == name else TrainerSpec(t.config_class, t.train, t.summary, t.inputs, name)


def get_trainer(name: str):
    """The ``train`` function of a trainable method (imports torch and the method's networks)."""
    return _resolve(trainer_spec(name).train)
