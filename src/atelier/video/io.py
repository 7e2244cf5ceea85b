"""Video in and out: files through PyAV (FFmpeg), folders of numbered frames, finished-frame files.

Reading yields frames as (H,W,3) uint8 RGB arrays, display-oriented (a phone video's rotation metadata
is applied). Writing makes a browser-playable MP4: H.264 (libx264, yuv420p, +faststart) at the input's
frame rate, with the input's audio copied (AAC, MP3) or else transcoded to AAC, trimmed to the frames
written. yuv420p stores colour at half resolution, so H.264 needs even sides: :func:`even_size` gives the
size the pipeline stylises at (an odd last row/column of the input is cropped, never padded).
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import provenance
from ..errors import InputError, OptionError
from ..io import atomic_write, save_image
from ..paths import check_input_file

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
COPY_AUDIO = ("aac", "mp3")  # audio codecs an MP4 plays in every browser: copied; others become AAC
FRAME_NAME = "frame_{:06d}.png"  # finished frames in an output folder (PNG: the user's frames)
# Finished frames in the resume folder of an MP4 job: raw arrays (.npy). Stylised frames hardly compress
# losslessly (PNG at zlib level 1, run-length only: 2.0 MB against 2.7 MB raw at 1280x720) while PNG costs
# 37 ms of CPU a frame and a raw write 1-2 ms (benchmarks/video.py, parts: png_write, raw_write).
RAW_FRAME_NAME = "frame_{:06d}.npy"


def _av():
    try:
        import av
    except ImportError:
        raise OptionError("Video files need PyAV: pip install 'atelier[video]'.") from None
    return av


def even_size(height: int, width: int) -> tuple[int, int]:
    """The largest even (h, w) within (height, width): H.264 in yuv420p needs even sides."""
    return height - height % 2, width - width % 2


@dataclass(frozen=True)
class VideoInfo:
    width: int  # as displayed (rotation applied)
    height: int
    fps: Fraction
    frames: int | None  # frames in the whole input (None if unknown)
    has_audio: bool
    kind: str  # "file" or "folder"


# ------------------------------------------------------------------------------------------------ input


def open_video(path, *, fps: float | None = None):
    """A :class:`VideoFile` or :class:`FrameFolder` for ``path``; ``fps`` is the frame rate of a folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        return FrameFolder(path, fps=fps or 25.0)
    check_input_file(path, "input video")  # missing, or a FIFO whose read would block forever
    if fps is not None:
        raise OptionError("--fps is for a folder of frames; a video file keeps its own frame rate.")
    return VideoFile(path)


def video_info(path) -> VideoInfo:
    """Size, frame rate and frame count of a video file or frame folder, after decoding its first frame: one
    sentence (InputError) for a file that is not a video atelier can read (the web checks uploads with it)."""
    source = open_video(path)
    source.close()
    return source.info


class FrameFolder:
    """A folder of numbered image files (frame_0001.png, ...): sorted by the last number in the name.

    A gap in the numbering (a missing frame) is an error: the motion between the frames around it would
    be wrong and the output's timing too. Names without numbers are taken in name order.
    """

    def __init__(self, path: Path, *, fps: float):
        if fps <= 0:
            raise OptionError(f"--fps must be positive, not {fps}.")
        files = [p for p in path.iterdir()  # regular files only: a FIFO among them would block the read
                 if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()]
        if not files:
            raise InputError(f"Folder '{path}' holds no image frames ({', '.join(IMAGE_SUFFIXES)}).")
        numbers = [re.findall(r"\d+", p.stem) for p in files]
        if all(numbers):
            keyed = sorted(((int(n[-1]), p) for n, p in zip(numbers, files)), key=lambda t: (t[0], t[1].name))
            for (a, pa), (b, pb) in itertools.pairwise(keyed):
                if b == a:
                    raise InputError(f"Frames '{pa.name}' and '{pb.name}' in '{path}' have the same number {a}.")
                if b != a + 1:
                    missing = f"frame {a + 1}" if b == a + 2 else f"frames {a + 1} to {b - 1}"
                    raise InputError(f"Folder '{path}' is missing {missing} (between '{pa.name}' and "
                                     f"'{pb.name}'); give a continuous sequence of frames.")
            files = [p for _, p in keyed]
        else:
            files.sort(key=lambda p: p.name)
        self.path, self.files = path, files
        first = self._read(files[0])
        self.info = VideoInfo(first.shape[1], first.shape[0], Fraction(fps).limit_denominator(1001), len(files),
                              False, "folder")

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        import torch

        from ..io import load_image

        t = load_image(path)  # (1,3,H,W) float in [0,1]: EXIF, 16-bit, alpha handled in io
        return (t[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()

    def frames(self, first: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``first`` .. ``stop``-1 (indices into the folder)."""
        for p in self.files[first:stop]:
            frame = self._read(p)
            if frame.shape[:2] != (self.info.height, self.info.width):
                raise InputError(f"Frame '{p.name}' is {frame.shape[1]}x{frame.shape[0]}, but the first frame "
                                 f"is {self.info.width}x{self.info.height}; all frames must have one size.")
            yield frame

    def close(self) -> None:
        pass


def _rotation(frame) -> int:
    try:
        return round(frame.rotation) % 360  # counter-clockwise degrees from the display matrix
    except (AttributeError, TypeError, ValueError):
        return 0


class VideoFile:
    """A video file read through PyAV; frames are decoded in order (threaded decoding)."""

    def __init__(self, path: Path):
        av = _av()
        self.path = path
        container, stream = self._open()
        try:
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = Fraction(rate) if rate else Fraction(25)
            frames = stream.frames or None
            if frames is None and stream.duration and stream.time_base:
                frames = round(float(stream.duration * stream.time_base) * fps) or None
            first = None
            try:
                first = next(container.decode(stream), None)
            except av.error.FFmpegError as err:
                raise InputError(f"'{path}' could not be decoded ({_reason(err)}).") from None
            if first is None:
                raise InputError(f"'{path}' holds no video frames.")
            has_audio = bool(container.streams.audio)
            self.start_seconds = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        finally:
            container.close()
        self.rotation = _rotation(first)
        h, w = first.height, first.width
        if self.rotation in (90, 270):
            h, w = w, h
        self.info = VideoInfo(w, h, fps, frames, has_audio, "file")

    def _open(self):
        av = _av()
        try:
            container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
            raise InputError(f"'{self.path}' is not a readable video file ({_reason(err)}).") from None
        if not container.streams.video:
            container.close()
            raise InputError(f"'{self.path}' has no video stream.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return container, stream

    def _array(self, frame) -> np.ndarray:
        arr = frame.to_ndarray(format="rgb24")  # (H,W,3) uint8
        if self.rotation:
            arr = np.ascontiguousarray(np.rot90(arr, k=self.rotation // 90))  # counter-clockwise
        return arr

    def frames(self, first: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``first`` .. ``stop``-1 counted from the start of the file (decoded from the start)."""
        container, stream = self._open()
        index = 0
        try:
            for frame in container.decode(stream):
                if stop is not None and index >= stop:
                    return
                if index >= first:
                    yield self._array(frame)
                index += 1
        except _av().error.FFmpegError as err:
            if index == 0:
                raise InputError(f"'{self.path}' could not be decoded ({_reason(err)}).") from None
            logger.warning("'%s': decoding stopped at frame %d (%s); the frames before it are used.",
                           self.path, index, _reason(err))
        finally:
            container.close()

    def close(self) -> None:
        pass


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return re.sub(r"^\[Errno -?\d+\]\s*", "", text).rstrip(".:; ")


# ----------------------------------------------------------------------------------------------- output


def write_frame(path: Path, rgb: np.ndarray, *, metadata: dict | None = None) -> Path:
    """Write one finished frame (H,W,3 uint8) as PNG, atomically, with its provenance record. Fast
    compression (the frames are temporary or get re-encoded): zlib level 1 with run-length matching only,
    measured at 1280x720 on a stylised frame 41 ms and 2.0 MB against 78 ms and 2.1 MB with level 1's
    default matching (OpenCV's encoder then; through PIL, ``save_image(fast=True)``, ~13 % slower than
    OpenCV's, measured under load, in exchange for one image writer)."""
    return save_image(rgb, path, overwrite=True, metadata=metadata, fast=True)


def write_raw_frame(path: Path, rgb: np.ndarray) -> Path:
    """Write one finished frame (H,W,3 uint8) as a raw .npy array, atomically (an MP4 job's resume state)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would add ".npy" to the temporary name
            np.save(f, np.ascontiguousarray(rgb), allow_pickle=False)

    return atomic_write(path, write)


def read_frame(path: Path) -> np.ndarray:
    """A finished frame (PNG or raw .npy) as (H,W,3) uint8."""
    import cv2

    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            arr = None
        if arr is None or arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise InputError(f"Finished frame '{path}' is unreadable; delete it to have it computed again.")
        return arr
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"Finished frame '{path}' is unreadable; delete it to have it computed again.")
    return np.ascontiguousarray(bgr[..., ::-1])


class Mp4Writer:
    """H.264 MP4 at a constant frame rate, audio taken from ``audio_source`` between ``audio_start`` and
    the last written frame's end (seconds of the source). Write to a temporary path and rename it when
    :meth:`close` succeeded (the pipeline does)."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction, *, crf: int = 18,
                 preset: str = "veryfast", audio_source: Path | None = None, audio_start: float = 0.0,
                 metadata: dict | None = None):
        av = _av()
        if width % 2 or height % 2:
            raise ValueError(f"H.264 (yuv420p) needs even sides, got {width}x{height}")
        codec = "libx264" if "libx264" in av.codecs_available else "h264"
        self.out = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        if metadata:  # provenance in the container's tags (written with the header): the JSON record in
            # "comment" (©cmt), its one-line summary in "description" (desc); atelier.provenance reads them
            self.out.metadata[provenance.MP4_KEY] = provenance.to_json(metadata)
            self.out.metadata["description"] = provenance.summary(metadata)
        self.video = self.out.add_stream(codec, rate=fps)
        self.video.width, self.video.height, self.video.pix_fmt = width, height, "yuv420p"
        self.video.codec_context.options = {"crf": str(crf), "preset": preset}
        self.fps, self.count = fps, 0
        self.audio = None
        if audio_source is not None:
            self.audio = _AudioTrack(audio_source, self.out, audio_start)
        self.audio_mode = None if self.audio is None else ("copied" if self.audio.copy else "transcoded to aac")

    def write(self, rgb: np.ndarray) -> None:
        av = _av()
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.count
        frame.time_base = 1 / Fraction(self.fps)
        self.count += 1
        for packet in self.video.encode(frame):
            self.out.mux(packet)
        if self.audio is not None:  # interleave: audio up to this frame's time
            self.audio.feed_until(self.count / self.fps)

    def close(self) -> None:
        try:
            for packet in self.video.encode(None):
                self.out.mux(packet)
            if self.audio is not None:
                self.audio.feed_until(self.count / self.fps, final=True)
        finally:
            if self.audio is not None:
                self.audio.close()
            self.out.close()


class _AudioTrack:
    """The input's first audio stream, copied into the output (AAC, MP3) or transcoded to AAC."""

    def __init__(self, source: Path, out, start: float):
        av = _av()
        self.container = av.open(str(source))
        self.stream = self.container.streams.audio[0]
        self.start = start
        self.copy = self.stream.codec_context.name in COPY_AUDIO
        if self.copy:
            self.out_stream = out.add_stream_from_template(self.stream)
        else:
            rate = self.stream.codec_context.sample_rate or 48000
            self.out_stream = out.add_stream("aac", rate=rate)
            self.out_stream.layout = "mono" if self.stream.codec_context.layout.nb_channels == 1 else "stereo"
            self.resampler = av.AudioResampler(format="fltp", layout=self.out_stream.layout.name, rate=rate)
            self.samples = 0
        self.out = out
        if start > 0:
            self.container.seek(int(start / self.stream.time_base), stream=self.stream)
        self.packets = self.container.demux(self.stream)
        self.pending = None
        self.done = False

    def feed_until(self, end: float, *, final: bool = False) -> None:
        """Mux audio whose start time is before ``end`` seconds (of the output's clock)."""
        while not self.done:
            pkt = self.pending or next(self.packets, None)
            self.pending = None
            if pkt is None:
                self.done = True
                break
            if pkt.pts is None or pkt.dts is None and self.copy:
                continue
            t = float(pkt.pts * pkt.time_base) - self.start
            if t < -1e-6:
                continue  # before the first frame
            if t >= end:
                if final:
                    self.done = True
                else:
                    self.pending = pkt
                break
            if self.copy:
                shift = round(self.start / pkt.time_base)
                pkt.pts -= shift
                pkt.dts -= shift
                pkt.stream = self.out_stream
                self.out.mux(pkt)
            else:
                self._transcode(pkt)
        if final and not self.copy:
            self._transcode(None)

    def _transcode(self, pkt) -> None:
        frames = pkt.decode() if pkt is not None else []
        for frame in frames:
            for rf in self.resampler.resample(frame):
                self._encode(rf)
        if pkt is None:
            for rf in self.resampler.resample(None):
                self._encode(rf)
            for packet in self.out_stream.encode(None):
                self.out.mux(packet)

    def _encode(self, frame) -> None:
        frame.pts = self.samples
        frame.time_base = Fraction(1, frame.sample_rate)
        self.samples += frame.samples
        for packet in self.out_stream.encode(frame):
            self.out.mux(packet)

    def close(self) -> None:
        self.container.close()
