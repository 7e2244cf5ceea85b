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

Resume: each finished frame is written at once (atomically; PNG in a frames folder, a raw .npy array in an
MP4 job's work folder unless --keep-frames) into a work folder next to the output
(``OUT.mp4.frames/``, or the output folder itself), with a JSON state holding the settings. ``resume=True``
checks the settings, reads the finished frames back (the last one continues the temporal chain exactly,
as it was stored losslessly) and stylises only the rest. The MP4 is encoded while the frames are made,
into a temporary file renamed when complete; the work folder is removed afterwards unless ``keep_frames``.

How :func:`stylize_video` runs, in order: the options are split (:func:`.config.split_options`: the
:class:`~.config.VideoConfig`, checked when made, and the method's, checked once by
:func:`atelier.api.prepare`); :func:`plan_frames` opens the source and decides the frame range, the output
and the work folder (:class:`FramePlan`); :func:`_render` runs :func:`_frame_loop`, which stylises each
frame with a :class:`FrameStylizer` (the method plus the temporal step) and hands it to a background
:class:`Sink`; :func:`_sidecar` and :func:`_write_outputs` record what was done.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__, io, worksize
from ..api import Prepared, check_resources, prepare, provenance_record, versions
from ..devices import resolve_device
from ..errors import InputError, Interrupted, OptionError, OutputError
from ..events import Done, Progress, Stage, emit
from ..methods import TemporalGuide, get_method
from ..ops.masks import fit_masks
from ..ops.upsampling import detail_upsample
from .background import Sink, prefetch, store_frame
from .blend import BLEND_SCALE, blend
from .config import VideoConfig, parse_time, split_options
from .flow import FlowEstimator, remap
from .io import (
    FRAME_NAME,
    IMAGE_SUFFIXES,
    RAW_FRAME_NAME,
    VIDEO_SUFFIXES,
    Mp4Writer,
    VideoFile,
    VideoInfo,
    even_size,
    open_video,
    read_frame,
)
from .keyframes import KeyframedStylizer, StyleSchedule, parse_style_at, resolve

logger = logging.getLogger(__name__)

STATE_NAME = "atelier-video.json"
STATE_VERSION = 1
_FRAME_RE = re.compile(r"^frame_(\d{6})\.(png|npy)$")


@dataclass
class VideoResult:
    output: Path
    frames: int  # frames in the output
    info: dict[str, Any] = field(default_factory=dict)  # what the sidecar records


def stylize_video(
    input,
    output,
    style=None,
    *,
    style_at=None,
    method: str | None = None,
    masks=None,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    device="auto",
    callback=None,
    video: VideoConfig | None = None,
    metadata: bool = True,
    **options,
) -> VideoResult:
    """Stylise the video ``input`` (a file PyAV reads: mp4, mov, avi, mkv, webm; or a folder of numbered
    frames) into ``output`` (an .mp4: H.264, the input's frame rate and audio; or a folder of PNG frames).

    ``method`` defaults to the one that runs ``model=`` (else gatys); ``masks`` is one mask image per style
    (the same for every frame). The video options are :class:`~atelier.video.config.VideoConfig`'s fields,
    given as ``video=VideoConfig(...)`` or as keywords: ``temporal_weight`` (0 stylises frames
    independently), ``start``/``end`` (seconds or 'MM:SS') and ``max_frames`` select frames, ``fps`` is a
    frame folder's rate (default 25), ``flow_preset`` and ``flow_size`` trade flow accuracy for speed,
    ``crf`` is the H.264 quality, ``keep_frames`` keeps the work folder. The other keywords are the method's
    options (``size``, ``preserve_color``, ...) and ``work_size``, the long side the method runs at (default
    :data:`~atelier.worksize.VIDEO_WORK_SIZE`; 0: the output's size), its result upsampled to the output size
    (:mod:`atelier.worksize`). ``style_at`` (instead of ``style``): keyframes 'TIME=STYLE' or (time, style),
    the style changing smoothly between them (:mod:`.keyframes`; paintings, or johnson models).
    ``resume`` continues an interrupted job. Progress goes to
    ``callback`` (:class:`~atelier.events.Progress` per frame, with ``rate`` in frames per second).
    ``metadata=False`` embeds no provenance record (in the MP4's tags and the PNG frames).
    """
    t_start = time.perf_counter()
    video, prepared, styles, keyed = prepare_video(style, style_at, method, masks, options, video, seed=int(seed))
    plan = plan_frames(input, output, prepared, video, styles, masks, seed=int(seed), resume=resume,
                       overwrite=overwrite, keyed=keyed)
    plan.record = _provenance(plan, prepared) if metadata else None
    try:
        stylize = FrameStylizer(prepared, styles, masks, video, plan, device, seed=int(seed), keyed=keyed)
        _check_disk(plan, stylize.out_hw)
        _start_work(plan, resume=resume)  # only now, with every input read: a refusal leaves no state
        tally = _render(plan, stylize, video.crf, callback)
    finally:
        plan.source.close()
    info = _sidecar(plan, stylize, tally, seed=int(seed), t_start=t_start)
    _write_outputs(plan, info, keep_frames=video.keep_frames)
    emit(callback, Done(iterations=tally.frames, elapsed=time.perf_counter() - t_start, losses={}))
    return VideoResult(plan.out, tally.frames, info)


def prepare_video(style, style_at, method, masks, options: dict, video: VideoConfig | None, *, seed: int = 0):
    """Check a video job before any frame is read: (the VideoConfig, the Prepared method, the style list,
    the keyframes as (keyframes, 'paintings' | 'models') or None). Shared by :func:`stylize_video` and
    :func:`atelier.video.estimate.estimate_video`."""
    video, options = split_options(options, video)
    work_size = options.pop("work_size", None)
    styles = [] if style is None else (list(style) if isinstance(style, (list, tuple)) else [style])
    keyed = None
    n_styles = len(styles)
    if style_at is not None:
        if styles or masks is not None:
            raise OptionError("--style-at gives the styles over time: leave out --style and --mask.")
        keyframes = parse_style_at(style_at)
        method, options, kind = resolve(method, options, keyframes)
        keyed = (keyframes, kind)
        n_styles = min(2, len(keyframes)) if kind == "paintings" else 0
    prepared = prepare(method, options, n_styles=n_styles, n_masks=None if masks is None else len(masks),
                       video=True, work_size=work_size, seed=seed)  # None: the video default where it applies
    return video, prepared, styles, keyed


# --------------------------------------------------------------------------------------------- planning


@dataclass
class FramePlan:
    """What a run reads and writes, decided (and checked) before any frame is stylised."""

    source: Any  # a VideoFile or FrameFolder (.io): .info, .frames(first, stop), .close()
    src_path: Path
    first: int  # index in the source of the first frame to stylise
    stop: int | None  # one past the last; None: to the end of a stream of unknown length
    out: Path
    to_mp4: bool
    work: Path  # the finished frames: OUT.mp4.frames/ or the output folder itself
    settings: dict  # what a resumed run must match (kept in the work folder's JSON state)
    done: int  # frames finished by an earlier run (0 unless resuming)
    record: dict | None = None  # the provenance record of the output (None: --no-metadata)

    @property
    def info(self) -> VideoInfo:
        return self.source.info

    @property
    def total(self) -> int | None:
        return None if self.stop is None else self.stop - self.first

    @property
    def audio(self) -> bool:
        return self.to_mp4 and self.info.has_audio and isinstance(self.source, VideoFile)

    @property
    def audio_start(self) -> float:
        """Seconds into the source file of frame ``first`` (where the copied audio starts)."""
        offset = self.source.start_seconds if isinstance(self.source, VideoFile) else 0.0
        return offset + float(self.first / self.info.fps)


def plan_frames(input, output, prepared: Prepared, video: VideoConfig, styles: list, masks, *, seed: int,
                resume: bool, overwrite: bool, keyed=None) -> FramePlan:
    """Open the source, choose the frames, check the output and prepare the work folder (resume state)."""
    src_path = Path(input).expanduser()
    source = open_video(src_path, fps=video.fps)
    try:
        first, stop = frame_range(source.info, video, src_path)
        out = Path(output).expanduser()
        to_mp4, work = _output_paths(out, src_path, overwrite=overwrite)
        derived = [io.sidecar_path(out)] if to_mp4 else []
        io.check_derived(derived, inputs=[src_path, *styles, *(masks or [])], overwrite=overwrite or resume)
        settings = {  # the keys of the JSON state: a resumed job must match every one
            "input": _fingerprint(src_path),
            "method": prepared.method,
            "config": dataclasses.asdict(prepared.config),
            "styles": [_describe(s) for s in styles],
            "masks": None if masks is None else [_describe(m) for m in masks],
            "style_at": None if keyed is None else StyleSchedule(keyed[0]).describe(),
            "temporal_weight": video.temporal_weight,
            "work_size": prepared.work_size,
            "flow": {"preset": video.flow_preset, "size": video.flow_size},
            "frames": [first, stop],
            "fps": str(source.info.fps),
            # how finished frames are kept: raw arrays unless they are the output or kept (--keep-frames)
            "store": "npy" if to_mp4 and not video.keep_frames else "png",
            "seed": seed,
        }
        done = _open_work(work, settings, resume=resume, overwrite=overwrite)
    except BaseException:
        source.close()
        raise
    return FramePlan(source, src_path, first, stop, out, to_mp4, work, settings, done)


def frame_range(vinfo: VideoInfo, video: VideoConfig, src_path: Path) -> tuple[int, int | None]:
    """(first, stop) frame indices from --start/--end/--max-frames, within the source's frames."""
    t0, t1 = parse_time(video.start), parse_time(video.end)  # their order is checked by VideoConfig
    first = round((t0 or 0.0) * vinfo.fps)
    stop = None if t1 is None else round(t1 * vinfo.fps)
    if vinfo.frames is not None:
        if first >= vinfo.frames:
            raise OptionError(f"--start {video.start} is after the end of '{src_path}' ({vinfo.frames} "
                              f"frames, {float(vinfo.frames / vinfo.fps):.2f} s).")
        stop = vinfo.frames if stop is None else min(stop, vinfo.frames)
    if video.max_frames is not None:
        stop = first + video.max_frames if stop is None else min(stop, first + video.max_frames)
    return first, stop


def _output_paths(out: Path, src_path: Path, *, overwrite: bool) -> tuple[bool, Path]:
    """(writes an MP4, the work folder); refuses outputs that are the input, or exist without --overwrite."""
    to_mp4 = out.suffix.lower() == ".mp4"
    # A new folder is named without an extension: 'out.xyz' is more likely a mistyped file than a folder.
    new_folder_with_suffix = not out.exists() and out.suffix and not to_mp4
    if not to_mp4 and (out.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES or out.is_file()
                       or new_folder_with_suffix):
        raise OutputError(f"The output must be an .mp4 file or a folder for the frames (a name without an "
                          f"extension, or an existing folder), not '{out}'.")
    if io.same_file(out, src_path):
        raise OutputError(f"Refusing to write '{out}': it is the input.")
    if to_mp4 and out.is_dir():
        raise OutputError(f"Cannot write '{out}': it is a directory.")
    if to_mp4 and out.exists() and not overwrite:
        raise OutputError(f"Output '{out}' already exists (use --overwrite to replace it).")
    work = out.with_name(out.name + ".frames") if to_mp4 else out
    if src_path.is_dir() and work.exists() and io.same_file(work, src_path):
        raise OutputError(f"Refusing to write frames into '{work}': it is the input folder.")
    return to_mp4, work


def _open_work(work: Path, settings: dict, *, resume: bool, overwrite: bool) -> int:
    """Check the work folder (nothing is written: see _start_work); returns how many frames are already
    finished (0 unless resuming)."""
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
    if not overwrite and work.is_dir() and (state_path.exists() or _finished_frames(work) or
                                            any(_FRAME_RE.match(p.name) for p in work.iterdir())):
        raise OutputError(f"'{work}' already holds frames of an earlier job: add --resume to continue it "
                              "or --overwrite to start again.")
    return 0


def _check_disk(plan: FramePlan, out_hw) -> None:
    """The frames still to make, stored in the work folder (PNG, or raw arrays of an MP4 job), must fit on its
    disk: refused before work with the estimate (raw RGB bytes: a raw frame, an upper bound of a PNG) when
    they cannot."""
    if plan.total is None:
        return
    frames = plan.total - plan.done
    need = frames * 3 * out_hw[0] * out_hw[1]
    folder = plan.work if plan.work.exists() else plan.work.parent
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if need > free:
        raise OutputError(f"The {frames} frames of {out_hw[1]}x{out_hw[0]} pixels need up to {need / 2**30:.1f} "
                          f"GiB in '{plan.work}', and its disk has {free / 2**30:.1f} GiB free; free space, or "
                          "reduce --size or --max-frames.")


def _start_work(plan: FramePlan, *, resume: bool) -> None:
    """After every check and input: clear an earlier job's frames (a new job) and write the job state; remove
    the temporary MP4 a killed run left (atomic_write's '.OUT.mp4.tmpXXXX')."""
    if plan.to_mp4:
        io.remove_stale_temporaries(plan.out)
    if resume:
        return
    if plan.work.is_dir():
        _clear_frames(plan.work)
    io.write_json(plan.work / STATE_NAME, {"version": STATE_VERSION, "settings": plan.settings, "finished": False})


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


# ------------------------------------------------------------------------------------------- frame loop


class FrameStylizer:
    """The method with its inputs loaded once, and the temporal step between frames (Ruder et al.).

    With a work size (:mod:`atelier.worksize`) the method, the flow and the blend all run at the work size,
    and only the detail upsampling and the encoding see the output size: the temporal chain is kept at the
    work size, as the downscaled stored output (so a resumed run continues it exactly)."""

    def __init__(self, prepared: Prepared, styles: list, masks, video: VideoConfig, plan: FramePlan, device,
                 *, seed: int, keyed=None):
        self.device = resolve_device(device)
        self.config = prepared.config
        self.styles = [io.load_image(s, device=self.device) for s in styles]  # (1,3,h,w) each
        self.masks = None if masks is None else fit_masks(
            [io.load_image(m, device=self.device) for m in masks], (plan.info.height, plan.info.width))
        frame_hw = (plan.info.height, plan.info.width)
        self.work = worksize.plan(prepared.config, frame_hw, prepared.work_size)
        self.run_config = prepared.config if self.work is None else self.work.config
        self.instance = get_method(prepared.method)(self.run_config)
        self.out_hw = check_resources(self.instance, self.run_config, self.work.work_hw if self.work else frame_hw)
        if self.work is not None:  # the frames written are at the output size
            io.check_work_size(self.work.out_hw)
            self.out_hw = self.work.out_hw
        self.keyed = None if keyed is None else KeyframedStylizer(prepared.method, self.run_config, *keyed, self.device)
        self.fps, self.first = float(plan.info.fps), plan.first  # a frame's time, for the keyframes
        self._seen: tuple = (None, None)  # (input frame, it at the work size) of the last __call__
        self.flows = FlowEstimator(preset=video.flow_preset, max_side=video.flow_size)
        self.weight = video.temporal_weight
        self.mode = "none" if self.weight == 0 else (
            "loss" if prepared.spec.capabilities.temporal_loss else "blend")
        self.seed = seed + plan.first  # frame k of the range uses seed + first + k: a resumed run is the same

    def __call__(self, rgb: np.ndarray, k: int, prev) -> tuple[np.ndarray, np.ndarray, float | None]:
        """Frame ``k`` of the range, (H,W,3) uint8 -> (the output as (h,w,3) uint8, the method's result after
        the temporal step as float32 in [0,1] (at the work size, if any), the fraction of it where the warp
        is trusted, or None without a warp). ``prev``: :meth:`chain` of the previous frame, or None."""
        seen = rgb if self.work is None else _resize_u8(rgb, self.work.work_hw)  # what the method sees
        self._seen = (rgb, seen)  # chain() of this frame reuses it
        x = _to_tensor(seen, self.device)
        generator = torch.Generator().manual_seed(self.seed + k)
        guide = warped = reliable = None
        if prev is not None and self.mode != "none":
            prev_in, prev_out = prev
            cur = _resize_u8(seen, prev_out.shape[:2])
            backward, reliable = self.flows.backward_reliable(cur, prev_in)  # t -> t-1 (h,w,2), c (h,w)
            # (h,w,3) previous output seen from frame t. Bicubic: the chain resamples every frame, and
            # bilinear's blur accumulates (measured: benchmarks/results/code_notes.md, FrameStylizer).
            warped = remap(prev_out, backward, cubic=True)
            if self.mode == "loss":
                guide = TemporalGuide(_to_tensor(warped, self.device), _to_tensor(reliable, self.device),
                                      self.weight)
        extra = {"temporal": guide} if guide is not None else {}
        if self.keyed is not None:
            y = self.keyed(x, (self.first + k) / self.fps, generator=generator, masks=self.masks, extra=extra)
        else:
            y = self.instance.stylize(x, self.styles or None, config=self.run_config, generator=generator,
                                      callback=None, masks=self.masks, **extra)
        out = y[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()  # (h,w,3)
        if self.mode == "blend" and warped is not None:
            if warped.shape != out.shape:
                raise OptionError("The method's output size changed between frames.")
            out = blend(out, warped, reliable, BLEND_SCALE * self.weight)
        full = out
        if self.work is not None:  # (H,W,3): the photo at the output size gives the fine detail
            photo = _resize_u8(rgb, self.work.out_hw).astype(np.float32) / 255
            full = detail_upsample(out, seen.astype(np.float32) / 255, photo)
        u8 = (full * 255 + 0.5).clip(0, 255).astype(np.uint8)
        return u8, out, None if reliable is None else float(reliable.mean())

    def chain(self, rgb: np.ndarray, u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What the next frame's temporal step starts from: (this input frame at the chain's size, uint8;
        this frame's stored output at that size, float32 in [0,1]). The chain runs at the work size if any,
        else at the output's size; it continues from the stored 8-bit frame, so a resumed run equals an
        uninterrupted one."""
        if self.work is None:
            return _resize_u8(rgb, u8.shape[:2]), u8.astype(np.float32) / 255
        hw = self.work.work_hw
        seen = self._seen[1] if self._seen[0] is rgb else _resize_u8(rgb, hw)  # a resumed frame: not stylised
        return seen, _resize_u8(u8, hw).astype(np.float32) / 255


@dataclass
class _Tally:
    """What the frame loop did, for the sidecar and the interruption message."""

    frames: int = 0  # frames in the output so far (read back or computed)
    computed: int = 0  # frames stylised in this run
    size: tuple[int, int] | None = None  # (h, w) of the output frames
    seconds: float = 0.0  # the loop's duration
    reliable: list[float] = field(default_factory=list)  # per warped frame: fraction the warp is trusted on
    audio: str | None = None  # the MP4 writer's audio mode ("copied", "transcoded to aac", ...)


def _render(plan: FramePlan, stylize: FrameStylizer, crf: int, callback) -> _Tally:
    """Run the frame loop: an MP4 goes into a temporary file renamed when complete. On Ctrl-C the frames
    already made are stored, and Interrupted says how to continue."""
    tally = _Tally()
    sink = Sink()

    def loop(mp4: Path | None) -> None:
        _frame_loop(plan, stylize, sink, mp4, crf, tally, callback)

    try:
        try:
            if plan.to_mp4:
                io.atomic_write(plan.out, loop)  # loop(temporary path), renamed to plan.out when complete
            else:
                loop(None)
        finally:
            sink.close()  # frames already made are written, also when interrupted
    except (KeyboardInterrupt, Interrupted):
        raise Interrupted(f"Interrupted after {tally.frames} finished frame(s) (kept in '{plan.work}'); run "
                          "the same command with --resume to continue.") from None
    return tally


def _frame_loop(plan: FramePlan, stylize: FrameStylizer, sink: Sink, mp4: Path | None, crf: int,
                tally: _Tally, callback) -> None:
    """Every frame of the plan in order: read back if an earlier run finished it, else stylised; each goes
    to ``sink`` to be stored (resume state) and/or encoded into ``mp4``."""
    writer = None
    prev = None  # the temporal chain: (input frame at the output size, uint8; output, float32 [0,1])
    t_loop = time.perf_counter()
    emit(callback, Stage("video", 0, 1, (plan.info.height, plan.info.width), plan.total or 0))
    for k, rgb in enumerate(prefetch(plan.source.frames(plan.first, plan.stop))):
        path_k = plan.work / (RAW_FRAME_NAME if plan.settings["store"] == "npy" else FRAME_NAME).format(k)
        resumed = k < plan.done
        if resumed:  # finished in an earlier run: never recomputed
            if mp4 is None and k < plan.done - 1:  # neither encoded nor continuing the chain: not even read
                tally.frames = k + 1
                continue
            u8, out_f, path_k = read_frame(path_k), None, None  # stored already
        else:
            u8, out_f, reliable = stylize(rgb, k, prev)
        if mp4 is not None:
            writer = writer or _open_writer(plan, mp4, u8.shape[:2], crf)
        sink.submit(store_frame, path_k, u8, writer, _frame_record(plan, k))
        if not resumed or k == plan.done - 1:
            prev = stylize.chain(rgb, u8)
        tally.frames, tally.size = k + 1, u8.shape[:2]
        if not resumed:
            tally.computed += 1
            if reliable is not None:
                tally.reliable.append(reliable)
            _report_progress(callback, k, plan.total, tally, time.perf_counter() - t_loop, out_f)
    sink.drain()
    if tally.frames == 0:
        raise InputError(f"'{plan.src_path}' has no frames in the chosen range.")
    if writer is not None:
        writer.close()
        tally.audio = writer.audio_mode
    tally.seconds = time.perf_counter() - t_loop


def _report_progress(callback, k: int, total: int | None, tally: _Tally, elapsed: float,
                     out_f: np.ndarray) -> None:
    """Progress after frame k, with the rate of this run's frames and the frame as a (1,3,H,W) preview."""
    rate = tally.computed / elapsed if elapsed > 0 else None
    left = None if total is None or not rate else (total - k - 1) / rate
    emit(callback, Progress("video", k + 1, total or k + 1, {}, elapsed, left,
                            image=torch.from_numpy(out_f).permute(2, 0, 1)[None], rate=rate))


def _open_writer(plan: FramePlan, path: Path, hw, crf: int) -> Mp4Writer:
    h, w = even_size(*hw)
    if min(h, w) < 2:
        raise OptionError(f"A {hw[1]}x{hw[0]} output is too small for an MP4.")
    return Mp4Writer(path, w, h, plan.info.fps, crf=crf, audio_source=plan.src_path if plan.audio else None,
                     audio_start=plan.audio_start, metadata=plan.record)


def _provenance(plan: FramePlan, prepared: Prepared) -> dict:
    """The video's provenance record, known before the first frame (the MP4's tags are written first)."""
    s = plan.settings
    return provenance_record("video", s["method"], config=s["config"], seed=s["seed"], masked=bool(s["masks"]),
                             inputs={"video": plan.src_path.name, "styles": s["styles"], "masks": s["masks"]},
                             frames=s["frames"])


def _frame_record(plan: FramePlan, k: int) -> dict | None:
    return None if plan.record is None else {**plan.record, "kind": "video frame", "frame": plan.first + k}


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


# ---------------------------------------------------------------------------------------------- outputs


def _sidecar(plan: FramePlan, stylize: FrameStylizer, tally: _Tally, *, seed: int, t_start: float) -> dict:
    """What the output's JSON sidecar (or a frame folder's finished state) records."""
    h, w = tally.size
    s = plan.settings
    return {
        "atelier": __version__,
        "method": s["method"],
        "inputs": {"video": str(plan.src_path), "styles": s["styles"], "masks": s["masks"],
                   "style_at": s["style_at"]},
        "config": s["config"],
        "video": {
            "frames": tally.frames,
            "computed_now": tally.computed,
            "resumed_from": plan.done,
            "first_frame": plan.first,
            "fps": s["fps"],
            "size": [w, h],
            "mp4_size": list(even_size(h, w)[::-1]) if plan.to_mp4 else None,
            "audio": tally.audio,
            "temporal_weight": s["temporal_weight"],
            "temporal": stylize.mode,
            "flow": s["flow"],
            "mean_reliable_fraction": round(float(np.mean(tally.reliable)), 4) if tally.reliable else None,
        },
        "seed": seed,
        "device": str(stylize.device),
        "versions": versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings": {
            "frames_seconds": round(tally.seconds, 3),
            "frames_per_second": (round(tally.computed / tally.seconds, 3)
                                  if tally.computed and tally.seconds else None),
            "total_seconds": round(time.perf_counter() - t_start, 3),
        },
        "output": str(plan.out),
    }


def _write_outputs(plan: FramePlan, info: dict, *, keep_frames: bool) -> None:
    """An MP4 gets its sidecar (and its work folder goes, unless kept); a frame folder's state is marked
    finished, with the sidecar's content."""
    if plan.to_mp4:
        io.write_json(io.sidecar_path(plan.out), info)
        if not keep_frames:
            shutil.rmtree(plan.work, ignore_errors=True)
    else:
        io.write_json(plan.work / STATE_NAME, {"version": STATE_VERSION, "settings": plan.settings,
                                               "finished": True, "info": info})
