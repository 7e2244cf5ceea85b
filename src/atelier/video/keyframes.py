"""Styles that change along a video: ``--style-at TIME=STYLE`` keyframes (the seed's "dynamic style transfer").

Between two keyframes the style moves from one to the next along a smoothstep (3u^2 - 2u^3: no jump in the
rate of change at either keyframe); before the first and after the last keyframe it is that keyframe's style.
How a method mixes two styles is the method's own multi-style mixing, with the schedule's weights:

* methods that take paintings and several styles with ``style_weights`` — adain, sanet and wct mix the
  styles' feature statistics (Huang & Belongie 2017 §7.1's style interpolation), gatys its Gram targets
  (interpolated style targets);
* johnson (the style is in a model): both models run and their outputs are blended by the weights.

The temporal blend of the video pipeline runs on the result as on any frame, so a transition is as free of
flicker as a single style. Torch-free (the CLI parses keyframes before loading anything).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionError
from .config import parse_time


@dataclass(frozen=True)
class Keyframe:
    time: float  # seconds into the source video
    style: str  # a painting's path, or a model's name or path (johnson)


def parse_style_at(items) -> list[Keyframe]:
    """Keyframes from 'TIME=STYLE' strings (TIME in seconds, MM:SS or HH:MM:SS) or (time, style) pairs,
    sorted by time; one sentence for a malformed item or two keyframes at the same time."""
    frames = []
    for item in items:
        if isinstance(item, Keyframe):
            frames.append(item)
            continue
        if isinstance(item, str):
            if "=" not in item:
                raise OptionError(f"--style-at takes TIME=STYLE (e.g. 0=starry.jpg or 1:30=scream.jpg), not {item!r}.")
            time, style = item.split("=", 1)
        else:
            try:
                time, style = item
            except (TypeError, ValueError):
                raise OptionError(f"A style keyframe is (time, style), not {item!r}.") from None
        if not str(style).strip():
            raise OptionError(f"--style-at {item!r} names no style.")
        frames.append(Keyframe(parse_time(time), str(Path(style).expanduser()) if _looks_like_path(style) else
                               str(style)))
    if not frames:
        raise OptionError("--style-at needs at least one TIME=STYLE keyframe.")
    frames.sort(key=lambda k: k.time)
    for a, b in itertools.pairwise(frames):
        if a.time == b.time:
            raise OptionError(f"Two style keyframes at {a.time:g} s ({a.style}, {b.style}); give each its own time.")
    return frames


def _looks_like_path(style) -> bool:
    s = str(style)
    return s.startswith("~") or "/" in s or "." in Path(s).name


class StyleSchedule:
    """Which keyframe styles a moment of the video uses, and with what weights."""

    def __init__(self, keyframes: list[Keyframe]):
        self.keyframes = keyframes
        self.times = [k.time for k in keyframes]

    def at(self, t: float) -> list[tuple[int, float]]:
        """[(keyframe index, weight)]: one entry (weight 1) outside the transitions and at a keyframe, two
        (weights summing to 1) between two keyframes."""
        i = bisect.bisect_right(self.times, t)
        if i == 0:
            return [(0, 1.0)]
        if i == len(self.times):
            return [(len(self.times) - 1, 1.0)]
        t0, t1 = self.times[i - 1], self.times[i]
        u = (t - t0) / (t1 - t0)
        w = u * u * (3 - 2 * u)  # smoothstep
        return [(i - 1, 1.0)] if w <= 0 else [(i - 1, 1.0 - w), (i, w)]

    def describe(self) -> list[list]:
        """What the job state and the sidecar record: [[seconds, style], ...]."""
        return [[k.time, str(Path(k.style).resolve()) if Path(k.style).is_file() else k.style] for k in self.keyframes]


MODEL_SUFFIXES = (".safetensors", ".onnx")


def resolve(method: str | None, options: dict, keyframes: list[Keyframe]) -> tuple[str | None, dict, str]:
    """Decide what the keyframes are: (the method, its options, 'paintings' or 'models').

    Paintings go to a method that takes several styles with weights (the given one, else the default);
    models (names or .safetensors/.onnx files; ``method`` None or the one that runs them) to the method
    that runs them, the first keyframe's model becoming ``model``. One sentence for what cannot work."""
    from ..methods import method_for_model, method_spec

    first = keyframes[0].style
    is_model = (Path(first).suffix.lower() in MODEL_SUFFIXES or not Path(first).suffix) and not Path(first).is_dir()
    if method is not None:
        is_model = not method_spec(method).capabilities.needs_style
    if not is_model:
        spec = method_spec(method or "gatys")
        if not spec.capabilities.multiple_styles:
            raise OptionError(f"The {spec.name} method cannot mix two styles, so it cannot change style along a "
                              "video (--style-at).")
        if options.get("style_weights") is not None:
            raise OptionError("--style-at sets the styles' weights frame by frame: leave out --style-weights.")
        return method, options, "paintings"
    if options.get("model"):
        raise OptionError("With --style-at the models are the keyframes' styles: leave out --model.")
    owners = {k.style: method_for_model(k.style) for k in keyframes}  # one sentence for an unknown model
    kinds = set(owners.values())
    if len(kinds) > 1 or (method is not None and kinds != {method}):
        raise OptionError(f"The keyframes' models must all run on one method ({', '.join(f'{s}: {m}' for s, m in owners.items())}).")
    return kinds.pop(), {**options, "model": first}, "models"


def style_at_method(items) -> str | None:
    """The method keyframes choose when neither a method nor a model is given (models: the method that
    runs them; paintings: None, the default method), as ``--model`` does."""
    return resolve(None, {}, parse_style_at(items))[0]


class KeyframedStylizer:
    """One frame's stylisation under the schedule: ``(x, t, generator, masks, extra) -> (1,3,h,w)``.

    paintings: the method runs once with the active keyframe styles and their weights (``style_weights``);
    models: each active keyframe's model runs and the outputs are blended by the weights."""

    def __init__(self, method: str, run_config, keyframes: list[Keyframe], kind: str, device):
        import dataclasses

        from .. import io
        from ..methods import get_method

        self.schedule, self.kind, self.config = StyleSchedule(keyframes), kind, run_config
        if kind == "paintings":
            self.styles = [io.load_image(k.style, device=device) for k in keyframes]  # (1,3,h,w) each, loaded once
            self.instance = get_method(method)(run_config)
        else:
            self.configs = [dataclasses.replace(run_config, model=k.style) for k in keyframes]
            self.instances = [get_method(method)(c) for c in self.configs]

    def __call__(self, x, t: float, *, generator, masks, extra: dict):
        import dataclasses

        active = self.schedule.at(t)
        if self.kind == "paintings":
            weights = [w for _, w in active] if len(active) > 1 else None
            cfg = dataclasses.replace(self.config, style_weights=weights)
            return self.instance.stylize(x, [self.styles[i] for i, _ in active], config=cfg, generator=generator,
                                         callback=None, masks=masks, **extra)
        out = None
        for i, w in active:  # output blending of the models' results
            y = self.instances[i].stylize(x, None, config=self.configs[i], generator=generator, callback=None,
                                          masks=masks, **extra)
            out = w * y if out is None else out + w * y
        return out
