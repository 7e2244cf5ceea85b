"""Stylise a video frame by frame with any method, temporally coherent, resumable.

Ruder, Dosovitskiy & Brox 2016, "Artistic style transfer for videos" (GCPR): the previous result is warped
to the current frame along the optical flow of the *input* frames (backward flow t -> t-1), and trusted
only where the forward-backward check and the motion-boundary test pass (weight c, :mod:`.flow`).

* Methods whose capabilities say ``temporal_loss`` (optimisation: gatys) get a
  :class:`~atelier.methods.TemporalGuide`: they start from the warped result and add the paper's temporal
  loss (eq. 7) weighted by ``temporal_weight``.
* Every other method (feed-forward, arbitrary-style) is blended: out = (y + w c warped) / (1 + w c), with
  y the method's own output and w = ``temporal_weight``. This is the pixel-wise minimiser of
  ||out - y||^2 + w c ||out - warped||^2: the temporal loss of Ruder et al. against a method that cannot
  take it inside, applied after the fact (the "flow-warped blending of the previous output" of the
  feed-forward video literature). w = 0 stylises every frame independently.

Resume: each finished frame is written at once (atomically, PNG) into a work folder next to the output
(``OUT.mp4.frames/``, or the output folder itself), with a JSON state holding the settings. ``resume=True``
checks the settings, reads the finished frames back (the last one continues the temporal chain exactly,
as it was stored losslessly) and stylises only the rest. The MP4 is encoded while the frames are made,
into a temporary file renamed when complete; the work folder is removed afterwards unless ``keep_frames``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import queue
import re
import shutil
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__, io
from ..api import prepare, versions
from ..devices import resolve_device
from ..errors import InputError, Interrupted, OptionError, OutputError
from ..events import Done, Progress, Stage, emit
from ..methods import TemporalGuide, get_method
from ..ops.masks import fit_masks
from .config import parse_time
from .flow import PRESETS, FlowEstimator, remap
from .io import (
    FRAME_NAME,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    Mp4Writer,
    VideoFile,
    even_size,
    open_video,
    read_frame,
    write_frame,
)

logger = logging.getLogger(__name__)

STATE_NAME = "atelier-video.json"
STATE_VERSION = 1
_FRAME_RE = re.compile(r"^frame_(\d{6})\.png$")


@dataclass
class VideoResult:
    output: Path
    frames: int  # frames in the output
    info: dict[str, Any] = field(default_factory=dict)  # what the sidecar records


def _to_tensor(arr: np.ndarray, device) -> torch.Tensor:
    """(H,W,3) uint8 or float32 [0,1] / (H,W) float32 -> (1,C,H,W) float32 on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(arr))
    t = t.float() / 255 if t.dtype == torch.uint8 else t.float()
    t = t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None]
    return t.to(device).contiguous()  # the HWC source gives an NCHW view with channels-last strides


def _resize_u8(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    if rgb.shape[:2] == tuple(hw):
        return rgb
    return cv2.resize(rgb, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)


def _finished_frames(work: Path) -> int:
    """How many frames 0, 1, 2, ... exist without a gap (each was written atomically when finished)."""
    if not work.is_dir():
        return 0
    have = {int(m.group(1)) for p in work.iterdir() if (m := _FRAME_RE.match(p.name))}
    n = 0
    while n in have:
        n += 1
    return n


def _clear_frames(work: Path) -> None:
    for p in work.iterdir():
        if _FRAME_RE.match(p.name) or p.name == STATE_NAME:
            p.unlink()


def _fingerprint(path: Path) -> dict | None:
    if path.is_file():
        st = path.stat()
        return {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    if path.is_dir():
        return {"path": str(path.resolve())}
    return None


def _describe(source) -> str | None:
    return str(Path(source).expanduser().resolve()) if isinstance(source, (str, Path)) else None


def stylize_video(
    input,
    output,
    style=None,
    *,
    method: str | None = None,
    masks=None,
    temporal_weight: float = 1.0,
    max_frames: int | None = None,
    start=None,
    end=None,
    fps: float | None = None,
    flow_preset: str = "fast",
    flow_size: int = 640,
    crf: int = 18,
    resume: bool = False,
    overwrite: bool = False,
    keep_frames: bool = False,
    seed: int = 0,
    device="auto",
    callback=None,
    **options,
) -> VideoResult:
    """Stylise the video ``input`` (a file PyAV reads: mp4, mov, avi, mkv, webm; or a folder of numbered
    frames) into ``output`` (an .mp4: H.264, the input's frame rate and audio; or a folder of PNG frames).

    ``method`` defaults to johnson when ``model=`` is given, else gatys; other keywords are the method's
    options (``size``, ``preserve_color``, ...), ``masks`` one mask image per style (the same for every
    frame). ``temporal_weight`` 0 stylises frames independently. ``start``/``end`` (seconds or
    'MM:SS') and ``max_frames`` select frames; ``fps`` is a frame folder's rate (default 25).
    ``flow_preset`` (ultrafast, fast, medium) and ``flow_size`` (long side the flow and its consistency
    check are computed at when the output is larger; 0 = the output's) trade flow accuracy for speed.
    ``resume`` continues an interrupted job. Progress goes to ``callback``
    (:class:`~atelier.events.Progress` per frame, with ``rate`` in frames per second).
    """
    t_start = time.perf_counter()
    styles = [] if style is None else (list(style) if isinstance(style, (list, tuple)) else [style])
    prepared = prepare(method, options, n_styles=len(styles), n_masks=None if masks is None else len(masks),
                       video=True)
    method, config = prepared.method, prepared.config
    cls = get_method(method)
    if not (math.isfinite(temporal_weight) and temporal_weight >= 0):
        raise OptionError(f"--temporal-weight must be 0 or more, not {temporal_weight}.")
    if flow_preset not in PRESETS:
        raise OptionError(f"--flow-preset must be one of {', '.join(PRESETS)}, not {flow_preset!r}.")
    if flow_size < 0 or 0 < flow_size < 16:
        raise OptionError(f"--flow-size must be 0 (the output's size) or at least 16, not {flow_size}.")
    if not 0 <= crf <= 51:
        raise OptionError(f"--crf must be between 0 and 51, not {crf}.")
    if max_frames is not None and max_frames < 1:
        raise OptionError(f"--max-frames must be at least 1, not {max_frames}.")

    src_path = Path(input).expanduser()
    source = open_video(src_path, fps=fps)
    vinfo = source.info
    t0, t1 = parse_time(start), parse_time(end)
    if t0 is not None and t1 is not None and t1 <= t0:
        raise OptionError(f"--end ({end}) must come after --start ({start}).")
    first = round((t0 or 0.0) * vinfo.fps)
    stop = None if t1 is None else round(t1 * vinfo.fps)
    if vinfo.frames is not None:
        if first >= vinfo.frames:
            raise OptionError(f"--start {start} is after the end of '{src_path}' ({vinfo.frames} frames, "
                              f"{float(vinfo.frames / vinfo.fps):.2f} s).")
        stop = vinfo.frames if stop is None else min(stop, vinfo.frames)
    if max_frames is not None:
        stop = first + max_frames if stop is None else min(stop, first + max_frames)
    total = None if stop is None else stop - first

    out = Path(output).expanduser()
    to_mp4 = out.suffix.lower() == ".mp4"
    if not to_mp4 and (out.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES or out.is_file()):
        raise OutputError(f"The output must be an .mp4 file or a folder for the frames, not '{out}'.")
    if io._same_file(out, src_path):
        raise OutputError(f"Refusing to write '{out}': it is the input.")
    if to_mp4 and out.is_dir():
        raise OutputError(f"Cannot write '{out}': it is a directory.")
    if to_mp4 and out.exists() and not overwrite:
        raise OutputError(f"Output '{out}' already exists (use --overwrite to replace it).")
    work = out.with_name(out.name + ".frames") if to_mp4 else out
    if src_path.is_dir() and work.exists() and io._same_file(work, src_path):
        raise OutputError(f"Refusing to write frames into '{work}': it is the input folder.")

    settings = {
        "input": _fingerprint(src_path),
        "method": method,
        "config": dataclasses.asdict(config),
        "styles": [_describe(s) for s in styles],
        "masks": None if masks is None else [_describe(m) for m in masks],
        "temporal_weight": temporal_weight,
        "flow": {"preset": flow_preset, "size": flow_size},
        "frames": [first, stop],
        "fps": str(vinfo.fps),
        "seed": int(seed),
    }
    done = _open_work(work, settings, resume=resume, overwrite=overwrite)

    dev = resolve_device(device)
    style_t = [io.load_image(s, device=dev) for s in styles]
    mask_t = None if masks is None else fit_masks([io.load_image(m, device=dev) for m in masks],
                                                  (vinfo.height, vinfo.width))
    instance = cls(config)
    flows = FlowEstimator(preset=flow_preset, max_side=flow_size)
    mode = "none" if temporal_weight == 0 else ("loss" if cls.capabilities.temporal_loss else "blend")
    audio = to_mp4 and vinfo.has_audio and isinstance(source, VideoFile)
    audio_start = (source.start_seconds if isinstance(source, VideoFile) else 0.0) + float(first / vinfo.fps)

    state = {"frames": 0, "computed": 0, "size": None, "seconds": 0.0, "reliable": []}

    def loop(writer_path: Path | None) -> None:
        writer = None
        prev_in = prev_out = None  # input frame resized to the output size (uint8); previous output [0,1]
        t_loop = time.perf_counter()
        emit(callback, Stage("video", 0, 1, (vinfo.height, vinfo.width), total or 0))
        for k, rgb in enumerate(_prefetch(source.frames(first, stop))):
            path_k = work / FRAME_NAME.format(k)
            if k < done:  # finished in an earlier run: read back, never recomputed
                if writer_path is not None or k == done - 1:
                    u8 = read_frame(path_k)
                    if k == done - 1:
                        prev_out = u8.astype(np.float32) / 255
                        prev_in = _resize_u8(rgb, u8.shape[:2])
                    if writer_path is not None:
                        writer = writer or _writer(writer_path, u8.shape[:2])
                        sink.submit(_store, None, u8, writer)
                state["frames"] = k + 1
                continue
            x = _to_tensor(rgb, dev)
            generator = torch.Generator().manual_seed(int(seed) + first + k)
            guide = warped = weight = None
            if prev_out is not None and temporal_weight > 0:
                cur = _resize_u8(rgb, prev_out.shape[:2])
                backward, weight = flows.backward_reliable(cur, prev_in)  # t -> t-1 (H,W,2), c (H,W)
                # (H,W,3) previous output seen from frame t; bicubic: the chain resamples every frame, and
                # bilinear's blur accumulates (measured: style distance +32 % vs +24 % with bicubic).
                warped = remap(prev_out, backward, cubic=True)
                state["reliable"].append(float(weight.mean()))
                if mode == "loss":
                    guide = TemporalGuide(_to_tensor(warped, dev), _to_tensor(weight, dev), temporal_weight)
            extra = {"temporal": guide} if guide is not None else {}
            y = instance.stylize(x, style_t or None, config=config, generator=generator, callback=None,
                                 masks=mask_t, **extra)
            out_f = y[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()  # (H,W,3)
            if mode == "blend" and warped is not None:
                if warped.shape != out_f.shape:
                    raise OptionError("The method's output size changed between frames.")
                out_f = blend(out_f, warped, weight, BLEND_SCALE * temporal_weight)
            u8 = (out_f * 255 + 0.5).clip(0, 255).astype(np.uint8)
            if writer_path is not None:
                writer = writer or _writer(writer_path, u8.shape[:2])
            sink.submit(_store, path_k, u8, writer)
            # The chain continues from the stored (8-bit) frame, so a resumed run equals an uninterrupted one.
            prev_out = u8.astype(np.float32) / 255
            prev_in = _resize_u8(rgb, u8.shape[:2])
            state["frames"] = k + 1
            state["computed"] += 1
            state["size"] = list(u8.shape[:2])
            elapsed = time.perf_counter() - t_loop
            rate = state["computed"] / elapsed if elapsed > 0 else None
            left = None if total is None or not rate else (total - k - 1) / rate
            emit(callback, Progress("video", k + 1, total or k + 1, {}, elapsed, left,
                                    image=torch.from_numpy(out_f).permute(2, 0, 1)[None], rate=rate))
        sink.drain()
        if state["frames"] == 0:
            raise InputError(f"'{src_path}' has no frames in the chosen range.")
        if writer is not None:
            writer.close()
            state["audio"] = writer.audio_mode
        state["seconds"] = time.perf_counter() - t_loop

    def _writer(path: Path, hw) -> Mp4Writer:
        h, w = even_size(*hw)
        if min(h, w) < 2:
            raise OptionError(f"A {hw[1]}x{hw[0]} output is too small for an MP4.")
        return Mp4Writer(path, w, h, vinfo.fps, crf=crf, audio_source=src_path if audio else None,
                         audio_start=audio_start)

    sink = _Sink()
    try:
        try:
            if to_mp4:
                io.atomic_write(out, loop)
            else:
                loop(None)
        finally:
            sink.close()  # frames already made are written, also when interrupted
    except (KeyboardInterrupt, Interrupted):
        raise Interrupted(f"Interrupted after {state['frames']} finished frame(s) (kept in '{work}'); run the "
                          "same command with --resume to continue.") from None
    finally:
        source.close()

    h, w = state["size"] or _stored_size(work)
    info = {
        "atelier": __version__,
        "method": method,
        "inputs": {"video": str(src_path), "styles": settings["styles"], "masks": settings["masks"]},
        "config": settings["config"],
        "video": {
            "frames": state["frames"],
            "computed_now": state["computed"],
            "resumed_from": done,
            "first_frame": first,
            "fps": str(vinfo.fps),
            "size": [w, h],
            "mp4_size": list(even_size(h, w)[::-1]) if to_mp4 else None,
            "audio": state.get("audio"),
            "temporal_weight": temporal_weight,
            "temporal": mode,
            "flow": settings["flow"],
            "mean_reliable_fraction": (round(float(np.mean(state["reliable"])), 4) if state["reliable"]
                                       else None),
        },
        "seed": int(seed),
        "device": str(dev),
        "versions": versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings": {
            "frames_seconds": round(state["seconds"], 3),
            "frames_per_second": (round(state["computed"] / state["seconds"], 3)
                                  if state["computed"] and state["seconds"] else None),
            "total_seconds": round(time.perf_counter() - t_start, 3),
        },
        "output": str(out),
    }
    if to_mp4:
        io.write_json(io.sidecar_path(out), info)
        if not keep_frames:
            shutil.rmtree(work, ignore_errors=True)
    else:
        io.write_json(work / STATE_NAME, {"version": STATE_VERSION, "settings": settings, "finished": True,
                                          "info": info})
    emit(callback, Done(iterations=state["frames"], elapsed=time.perf_counter() - t_start, losses={}))
    return VideoResult(out, state["frames"], info)


# Detail-preserving blend: the band of details finer than a Gaussian of this many pixels keeps the local
# energy it has in the method's own output, up to this gain (see blend()).
DETAIL_SIGMA = 2.0
MAX_DETAIL_GAIN = 2.0
# The blend's w at --temporal-weight 1, as gatys's BASE_TEMPORAL_WEIGHT is its loss weight: chosen on
# ../shared/data/video/sintel (20 frames, trained starry_night johnson model, 384 px), where the
# detail-preserving blend at w = 1 took 52 % off the warping error with the style distance +4.6 %, and at
# w = 2 took 64 % off with +9.0 % (plain blending at w = 1: 67 % off, but +32 %).
BLEND_SCALE = 2.0


def blend(new: np.ndarray, warped: np.ndarray, reliable: np.ndarray, weight: float) -> np.ndarray:
    """Blend the warped previous output into the method's new one: (H,W,3) float32 in [0,1].

    out = (new + w c warped) / (1 + w c), the per-pixel minimiser of ||out - new||^2 + w c ||out - warped||^2
    (Ruder et al.'s temporal loss applied to a method that cannot take it). Deviation: averaging two
    frames whose fine strokes differ (the flicker) also lowers the strokes' contrast; measured on
    ../shared/data/video/sintel with a trained johnson model, plain blending at w = 1 moved the style
    distance by +32 %. So the detail band (out minus its Gaussian blur) is rescaled to the local energy the
    new frame has there (gain in [1, MAX_DETAIL_GAIN]): stable where the frames agree (gain 1), and
    strokes keep their contrast where they did not. ``reliable`` c (H,W) is 0 where the warp is not
    trusted: the new frame is kept there.

    With OpenCV's vectorised calls (its own small thread pool) instead of numpy expressions: 43 -> 29 ms at
    1280x720. torch here was slower end to end: its OpenMP threads competed with the background writer
    for the two cores (measured: half the frame rate). ``blendLinear`` divides by its weights' sum (+1e-5),
    so both mixes are written with weights summing to 1 (results within 2e-5 of the plain expressions).
    """
    import cv2

    def blur(x):
        return cv2.GaussianBlur(x, (0, 0), DETAIL_SIGMA)

    a = reliable * np.float32(weight / (1 + weight))  # (H,W); weight: the blend's w (BLEND_SCALE x option)
    out = cv2.blendLinear(warped, new, a, 1 - a)  # new + a (warped - new)
    low = blur(out)
    detail = cv2.subtract(out, low)
    detail_new = cv2.subtract(new, blur(new))
    # (H,W) local detail energies: the squares summed over the channels, blurred
    energy_new = blur(cv2.transform(cv2.multiply(detail_new, detail_new, dst=detail_new), _ONES))
    energy_out = blur(cv2.transform(cv2.multiply(detail, detail, dst=detail), _ONES))
    energy_out += 1e-8
    gain = cv2.divide(energy_new, energy_out, dst=energy_new)
    np.sqrt(np.clip(gain, 1.0, MAX_DETAIL_GAIN**2, out=gain), out=gain)
    # low + gain (out - low) = gain out + (1 - gain) low
    res = cv2.blendLinear(out, low, gain, 1 - gain)
    return np.clip(res, 0.0, 1.0, out=res)


_ONES = np.ones((1, 3), np.float32)  # cv2.transform's (1,3) matrix: the sum of the three channels


def _store(path: Path | None, u8: np.ndarray, writer: Mp4Writer | None) -> None:
    """Write a finished frame (resume state) and/or feed it to the MP4 encoder."""
    if path is not None:
        write_frame(path, u8)
    if writer is not None:
        writer.write(_even(u8))


def _lower_priority() -> None:
    """Run the calling thread at the lowest priority (Linux: per thread). The frame loop's network keeps
    every core busy in short parallel bursts; a background write that takes a core from it stalls the whole
    burst (measured at 1280x720: 3.0 -> 1.5 frames/s). At the lowest priority the writes fill the gaps
    between bursts instead (the single-threaded flow and blend)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not permitted: normal priority
        pass


class _Sink:
    """Runs :func:`_store` calls in order on one background thread, so PNG compression and H.264 encoding
    (both release the GIL) overlap with the next frame's flow and network; at most ``depth`` wait."""

    def __init__(self, depth: int = 2):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atelier-video-out",
                                       initializer=_lower_priority)
        self.pending: deque = deque()
        self.depth = depth

    def submit(self, fn, *args) -> None:
        self.pending.append(self.pool.submit(fn, *args))
        while len(self.pending) > self.depth:
            self.pending.popleft().result()  # re-raises a failed write here

    def drain(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        try:
            for f in self.pending:
                f.exception()  # wait; an error was already raised by drain() or is moot after another
        finally:
            self.pool.shutdown(wait=True)


def _prefetch(frames, depth: int = 2):
    """Decode ahead on a background thread (FFmpeg decoding releases the GIL); same items, same order."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def run():
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(end)
        except BaseException as err:  # handed to the consumer  # noqa: BLE001
            q.put(err)
        finally:
            close = getattr(frames, "close", None)
            if close is not None and stop.is_set():
                close()

    thread = threading.Thread(target=run, name="atelier-video-in", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _even(u8: np.ndarray) -> np.ndarray:
    """Crop the last row/column of an odd-sized frame (H.264's yuv420p needs even sides)."""
    h, w = even_size(*u8.shape[:2])
    return u8[:h, :w]


def _stored_size(work: Path) -> tuple[int, int]:
    return read_frame(work / FRAME_NAME.format(0)).shape[:2]


def _open_work(work: Path, settings: dict, *, resume: bool, overwrite: bool) -> int:
    """Prepare the work folder; returns how many frames are already finished (0 unless resuming)."""
    state_path = work / STATE_NAME
    if resume:
        if not state_path.is_file():
            raise OptionError(f"Nothing to resume: '{work}' holds no unfinished job of atelier video.")
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise OptionError(f"The job state '{state_path}' is unreadable; start again with --overwrite.") from None
        old = state.get("settings", {})
        changed = sorted(k for k in set(old) | set(settings) if old.get(k) != json.loads(json.dumps(settings.get(k))))
        if changed:
            raise OptionError(f"The job in '{work}' was started with other settings ({', '.join(changed)}); "
                              "use the same options with --resume, or --overwrite to start again.")
        done = _finished_frames(work)
        logger.info("Resuming '%s': %d frame(s) already finished.", work, done)
        return done
    if work.exists() and not work.is_dir():
        raise OutputError(f"Cannot write frames into '{work}': it is a file.")
    if work.is_dir() and (state_path.exists() or _finished_frames(work) or
                          any(_FRAME_RE.match(p.name) for p in work.iterdir())):
        if not overwrite:
            raise OutputError(f"'{work}' already holds frames of an earlier job: add --resume to continue it "
                              "or --overwrite to start again.")
        _clear_frames(work)
    io.write_json(state_path, {"version": STATE_VERSION, "settings": settings, "finished": False})
    return 0
