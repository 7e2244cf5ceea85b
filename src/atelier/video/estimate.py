"""``atelier video --dry-run``: the frames per second and the total time of a video job, before it starts.

A short calibration runs the job's own per-frame step (:class:`~.pipeline.FrameStylizer`: the method at
the work size, the flow, the blend, the upsampling) on the first frames of the range, and times what the
background writer does per frame (the resume state, H.264). With ``--compile auto`` a long job runs
eagerly until its network time reaches :data:`~atelier.engine.compiled.AUTO_AFTER_SECONDS`, then compiles
once and runs compiled: the calibration then also times the compilation and the compiled frames, and the
estimate follows that schedule. Nothing is written.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..engine.compiled import AUTO_AFTER_SECONDS
from .config import VideoConfig
from .io import open_video
from .pipeline import FrameStylizer, frame_range, prepare_video

CALIBRATION_FRAMES = 4  # timed frames (after one untimed warm-up frame, which also loads the model)


def estimate_video(input, style=None, *, style_at=None, method: str | None = None, masks=None, seed: int = 0,
                   device="auto", video: VideoConfig | None = None, frames: int = CALIBRATION_FRAMES,
                   to_mp4: bool = True, **options) -> dict:
    """Estimate ``stylize_video(input, ..., same options)`` (``to_mp4``: the output is an MP4, not a folder of
    frames): returns ``frames`` (in the range, None if the
    stream's length is unknown), ``size`` (w, h) of the output, ``work`` (w, h) the method runs at,
    ``seconds_per_frame`` (eager), ``compiled_seconds_per_frame`` and ``compile_seconds`` (if the job would
    compile), ``frames_per_second`` over the whole job, ``seconds`` in total and ``startup_seconds``."""
    t0 = time.perf_counter()
    video, prepared, styles, keyed = prepare_video(style, style_at, method, masks, options, video, seed=int(seed))
    source = open_video(Path(input).expanduser(), fps=video.fps)
    try:
        first, stop = frame_range(source.info, video, Path(input))
        total = None if stop is None else stop - first
        sample = list(source.frames(first, first + 1 + frames))
    finally:
        source.close()
    plan = SimpleNamespace(info=source.info, first=first)  # what the per-frame step reads of a plan
    step = FrameStylizer(prepared, styles, masks, video, plan, device, seed=int(seed), keyed=keyed)
    prev, u8 = _run(step, sample[:1], None)  # warm-up: the model loads, caches fill
    t_ready = time.perf_counter()
    eager, (prev, u8) = _timed(step, sample[1:], prev)
    store = _store_seconds(u8, crf=video.crf, png=not to_mp4 or video.keep_frames, mp4=to_mp4)
    out = {"frames": total, "size": [u8.shape[1], u8.shape[0]],
           "work": None if step.work is None else [step.work.work_hw[1], step.work.work_hw[0]],
           "seconds_per_frame": eager + store, "startup_seconds": t_ready - t0}
    per_frame = eager + store
    compile_mode = getattr(prepared.config, "compile", "off")
    n = total if total is not None else len(sample)
    eager_frames = n
    if compile_mode == "on" or (compile_mode == "auto" and n * eager > AUTO_AFTER_SECONDS):
        step.run_config = dataclasses.replace(step.run_config, compile="on")
        step.instance = type(step.instance)(step.run_config)
        t1 = time.perf_counter()
        prev, u8 = _run(step, sample[:1], prev)  # the compilation, and one frame
        compile_seconds = max(0.0, time.perf_counter() - t1 - eager)
        compiled, _ = _timed(step, sample[1:], prev)
        eager_frames = 0 if compile_mode == "on" else min(n, math.ceil(AUTO_AFTER_SECONDS / eager))
        out.update(compiled_seconds_per_frame=compiled + store, compile_seconds=compile_seconds)
        seconds = eager_frames * per_frame + compile_seconds + (n - eager_frames) * (compiled + store)
    else:
        seconds = n * per_frame
    out["seconds"] = out["startup_seconds"] + seconds
    out["frames_per_second"] = n / seconds if seconds > 0 else None
    return out


def _run(step, frames, prev):
    """Frames through the per-frame step, the temporal chain carried: -> (chain, last output uint8)."""
    u8 = None
    for k, rgb in enumerate(frames):
        u8, _, _ = step(rgb, k, prev)
        prev = step.chain(rgb, u8)
    return prev, u8


def _timed(step, frames, prev):
    """Median seconds of the per-frame step over ``frames``, and (chain, last output)."""
    times, u8 = [], None
    for k, rgb in enumerate(frames, start=1):
        t = time.perf_counter()
        u8, _, _ = step(rgb, k, prev)
        prev = step.chain(rgb, u8)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), (prev, u8)


def _store_seconds(u8: np.ndarray, *, crf: int, png: bool, mp4: bool) -> float:
    """What the background writer spends on one frame, timed here with its own functions into a folder
    removed at once: the resume state (PNG, or a raw array) and, for an MP4, the H.264 encoding (the median
    of three frames after one)."""
    import tempfile

    from .io import Mp4Writer, even_size, write_frame, write_raw_frame

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        if png:
            write_frame(Path(tmp) / "f.png", u8)
        else:
            write_raw_frame(Path(tmp) / "f.npy", u8)
        seconds = time.perf_counter() - t
        if mp4:
            h, w = even_size(*u8.shape[:2])
            frame = np.ascontiguousarray(u8[:h, :w])
            writer = Mp4Writer(Path(tmp) / "f.mp4", w, h, 25, crf=crf)
            times = []
            for _ in range(4):
                t = time.perf_counter()
                writer.write(frame)
                times.append(time.perf_counter() - t)
            writer.close()
            seconds += float(np.median(times[1:]))
    return seconds
