"""The video pipeline's own options, declared once (torch-free): ``atelier video``'s options and the web
page's video form are generated from :class:`VideoConfig`, as a method's options are from its config.

Ruder, Dosovitskiy & Brox 2016, "Artistic style transfer for videos": the temporal weight and the flow.
``web=True`` marks the fields the web form offers (a server caps ``max_frames``). A VideoConfig that exists
is checked: the field ranges and the rule across fields (``validate``) run when it is made, as none of them
depends on the run's inputs. :func:`split_options` separates these fields from a method's options, for
``atelier.stylize_video(..., temporal_weight=..., size=...)`` and the web app's jobs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..errors import OptionError
from ..options import Config, check_fields, make_config
from ..options import option as _f

FLOW_PRESETS = ("ultrafast", "fast", "medium")  # OpenCV DIS presets (video/flow.py)


@dataclass
class VideoConfig(Config):
    temporal_weight: float = _f(
        1.0, "How strongly each frame follows the previous result along the motion; 0 stylises frames "
        "independently (flickers). Feed-forward and arbitrary-style methods blend the warped previous result "
        "into the new one where the motion is reliable; gatys adds Ruder et al.'s temporal loss.",
        "Ruder 2016 eq. 7", minimum=0, basic=True, web=True,
    )
    start: str | None = _f(None, "Start at this time (seconds, MM:SS or HH:MM:SS).", metavar="TIME")
    end: str | None = _f(None, "Stop at this time (seconds, MM:SS or HH:MM:SS).", metavar="TIME")
    max_frames: int | None = _f(None, "Stylise at most N frames.", minimum=1, basic=True, web=True)
    fps: float | None = _f(None, "Frame rate of a folder of frames (default: 25); a video file keeps its own.",
                           above=0)
    flow_preset: str = _f("fast", "OpenCV DIS optical-flow preset: accuracy against speed.",
                          choices=FLOW_PRESETS)
    flow_size: int = _f(
        640, "Compute the flow and where it is reliable at most at this long side (faster for large videos).",
        minimum=16, zero="the output's size", metavar="PX",
    )
    crf: int = _f(18, "H.264 quality, 0 (lossless) to 51; lower is better and larger.", minimum=0, maximum=51)
    keep_frames: bool = _f(False, "Keep the PNG frames (OUT.frames/) after the MP4 is written.")

    def __post_init__(self):
        check_fields(self)
        self.validate()

    def validate(self, n_styles: int = 0) -> None:
        t0, t1 = parse_time(self.start), parse_time(self.end)
        if t0 is not None and t1 is not None and t1 <= t0:
            raise OptionError(f"--end ({self.end}) must come after --start ({self.start}).")


FIELDS = frozenset(f.name for f in dataclasses.fields(VideoConfig))


def split_options(options: dict, video: VideoConfig | None = None) -> tuple[VideoConfig, dict]:
    """(the video options, the method's options) from one keyword dict: its VideoConfig fields make the
    VideoConfig (None values mean the default), unless ``video`` is given; the rest is returned for the
    method. Giving a video field both ways raises, rather than choosing one silently."""
    given = {k: v for k, v in options.items() if k in FIELDS and v is not None}
    rest = {k: v for k, v in options.items() if k not in FIELDS}
    if video is None:
        return make_config(VideoConfig, given), rest
    if not isinstance(video, VideoConfig):
        raise OptionError(f"video= must be an atelier.video.config.VideoConfig, not {type(video).__name__}.")
    if given:
        raise OptionError("Give the video options in video= or as keywords, not both "
                          f"({', '.join(sorted(given))}).")
    return video, rest


def parse_time(value) -> float | None:
    """Seconds from a number or 'SS', 'MM:SS', 'HH:MM:SS' (fractions allowed); None stays None."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        try:
            parts = [float(p) for p in str(value).strip().split(":")]
        except ValueError:
            raise OptionError(f"A time must be seconds or MM:SS or HH:MM:SS, not {value!r}.") from None
        if not 1 <= len(parts) <= 3:
            raise OptionError(f"A time must be seconds or MM:SS or HH:MM:SS, not {value!r}.")
        seconds = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    if not math.isfinite(seconds) or seconds < 0:
        raise OptionError(f"A time must be 0 or more seconds, not {value!r}.")
    return seconds
