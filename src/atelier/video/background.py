"""The video pipeline's background threads: decoding ahead, and storing finished frames (PNG resume state,
H.264) while the next frame is stylised. Both FFmpeg and PNG compression release the GIL.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .io import Mp4Writer, even_size, write_frame, write_raw_frame


def store_frame(path: Path | None, u8: np.ndarray, writer: Mp4Writer | None, record: dict | None = None) -> None:
    """Write a finished frame (resume state: a raw array, or a PNG with its provenance ``record``) and/or feed
    it to the MP4 encoder."""
    if path is not None:
        if path.suffix == ".npy":  # an MP4 job's internal state: the MP4 carries the provenance
            write_raw_frame(path, u8)
        else:
            write_frame(path, u8, metadata=record)
    if writer is not None:
        writer.write(even_frame(u8))


def even_frame(u8: np.ndarray) -> np.ndarray:
    """Crop the last row/column of an odd-sized frame (H.264's yuv420p needs even sides)."""
    h, w = even_size(*u8.shape[:2])
    return u8[:h, :w]


def _lower_priority() -> None:
    """Run the calling thread at the lowest priority (Linux: per thread). The frame loop's network keeps
    every core busy in short parallel bursts; a background write that takes a core from it stalls the whole
    burst (measured: benchmarks/results/code_notes.md, _lower_priority). At the lowest priority the writes
    fill the gaps between bursts instead (the single-threaded flow and blend)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not permitted: normal priority
        pass


class Sink:
    """Runs :func:`store_frame` calls in order on one background thread, so PNG compression and H.264 encoding
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


def prefetch(frames, depth: int = 2):
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
