"""Running one item, the one code path of the batch's local workers, its Dask workers and the web app's jobs;
and the local pool of persistent worker processes.

A task is a plain dict (picklable, sent to other processes and machines)::

    {"content": path, "styles": [paths], "masks": [paths] | None, "output": path, "method": name,
     "options": {field: value}, "seed": int, "refine": int, "device": "auto", "overwrite": bool,
     "write": {more keyword arguments of stylize_to_file about the written file},
     "coarse_style": path, "fine_style": path, "color_from": path,   # optional (the web's mixing jobs)
     "style_masks": [paths]}   # optional: one per painting (the web's --style-mask)

``write`` may hold ``save_regions`` (a path: the regions overlay of ``options["semantic"]``).

:func:`run_item` is ``atelier stylize``'s run -- ``prepare``, then ``stylize_to_file`` -- except that an
interrupted item leaves nothing (``stylize`` keeps a partial image; a batch must not leave one). The
networks (VGG-19, trained models) are cached per process by the library (``features.get_vgg19``,
``engine.inference``), so a persistent worker loads each once.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time
from pathlib import Path
from typing import Any

from .. import io
from ..api import prepare, stylize_to_file
from ..errors import AtelierError, Interrupted

DIED = "The worker process running it died (exit code {code}; out of memory?)."


def run_item(task: dict[str, Any], callback=None) -> dict[str, Any]:
    """Stylise one item with ``atelier.stylize_to_file`` (so its image and sidecar are those of ``atelier
    stylize``); returns ``{"output", "seconds", "info"}`` (``info``: the sidecar). Raises
    :mod:`atelier.errors` (one sentence) on bad input and :class:`~atelier.errors.Interrupted` on
    Ctrl-C/SIGTERM, leaving no file behind: the partial image ``stylize`` keeps, or an image whose sidecar
    was not written yet, is removed."""
    t0 = time.perf_counter()
    styles, masks = list(task.get("styles") or []), task.get("masks")
    options = dict(task.get("options") or {})
    work_size = int(options.pop("work_size", 0) or 0)  # a run option (--work-size), kept among the options
    shield = {k: options.pop(k) for k in ("protect", "protect_strength", "semantic") if k in options}  # these too
    style_masks = task.get("style_masks")  # --style-mask: one per painting, or None
    mix = {k: task[k] for k in ("coarse_style", "fine_style", "color_from") if task.get(k)}
    n_styles = len(styles) + sum(k in mix for k in ("coarse_style", "fine_style"))
    prepared = prepare(task["method"], options, n_styles=n_styles, n_masks=None if masks is None else len(masks),
                       refine=int(task.get("refine") or 0), work_size=work_size, seed=int(task.get("seed", 0)),
                       scale_mix="coarse_style" in mix or "fine_style" in mix, color_from="color_from" in mix,
                       n_style_masks=None if style_masks is None else len(style_masks), **shield)
    out = Path(task["output"]).expanduser()
    regions = (task.get("write") or {}).get("save_regions")
    files = (out, io.sidecar_path(out), *([Path(regions)] if regions else []))
    before = [_stamp(f) for f in files]
    try:
        path, result = stylize_to_file(task["content"], styles or None, out, overwrite=bool(task.get("overwrite")),
                                       prepared=prepared, masks=masks, style_masks=style_masks,
                                       seed=int(task.get("seed", 0)),
                                       device=task.get("device", "auto"), callback=callback,
                                       **(task.get("write") or {}), **mix)
    except BaseException as err:
        for f, stamp in zip(files, before):
            if _stamp(f) not in (None, stamp):  # written by this call: a partial result
                f.unlink(missing_ok=True)
        if isinstance(err, Interrupted):
            raise Interrupted(str(err)) from None  # without the partial image (not pickled back either)
        raise
    return {"output": str(path), "seconds": time.perf_counter() - t0, "info": result.info}


def _stamp(path: Path) -> tuple[int, int] | None:
    """(inode, mtime) of a file, None if absent: atomic writes replace the inode, so a change is seen."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def outcome(task_id: str, fn, *args) -> tuple[str, str, float, str | None]:
    """``(id, state, seconds, error)`` of running ``fn(*args)``: ``done``, ``failed`` with the one
    sentence (an unexpected exception says its type), or ``interrupted``."""
    t0 = time.perf_counter()
    try:
        fn(*args)
    except Interrupted:
        return task_id, "interrupted", time.perf_counter() - t0, None
    except AtelierError as err:
        return task_id, "failed", time.perf_counter() - t0, str(err)
    except MemoryError:
        return task_id, "failed", time.perf_counter() - t0, "The machine ran out of memory; try a smaller size."
    except Exception as err:  # noqa: BLE001 - a worker survives anything an item does
        return task_id, "failed", time.perf_counter() - t0, f"Internal error ({type(err).__name__}: {err})."
    return task_id, "done", time.perf_counter() - t0, None


# ------------------------------------------------------------------------------------- local processes


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _worker_main(tasks, results, threads: int) -> None:
    """A persistent worker: ``threads`` torch threads, items until it gets None. Ctrl-C in the terminal
    goes to the whole process group: the driver alone decides, and stops workers with SIGTERM, which here
    unwinds the running item like Ctrl-C (the engine turns it into Interrupted; nothing is written)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    from ..runtime import tune_allocator

    tune_allocator()
    import torch

    torch.set_num_threads(threads)
    try:
        while True:
            task = tasks.get()
            if task is None:
                return
            results.put(("start", task["id"], os.getpid()))
            res = outcome(task["id"], run_item, task)
            results.put(res)
            if res[1] == "interrupted":
                return
    except KeyboardInterrupt:  # SIGTERM between two items
        return


class LocalPool:
    """``workers`` persistent processes (spawned: no fork of a process holding torch's threads), each with
    ``threads`` torch threads. At most one item per worker is in flight, so a stop leaves few to redo."""

    def __init__(self, workers: int, threads: int):
        ctx = multiprocessing.get_context("spawn")
        self.ctx, self.threads = ctx, threads
        self.tasks, self.results = ctx.Queue(), ctx.Queue()
        self.procs = [self._spawn() for _ in range(workers)]
        self.running: dict[int, str] = {}  # pid -> task id
        self.slots = workers

    def _spawn(self):
        p = self.ctx.Process(target=_worker_main, args=(self.tasks, self.results, self.threads), daemon=True)
        p.start()
        return p

    def submit(self, task: dict) -> None:
        self.tasks.put(task)

    def next_result(self, timeout: float = 0.5):
        """The next finished item as (id, state, seconds, error), or None after ``timeout``. A worker that
        died fails its item and is replaced."""
        try:
            msg = self.results.get(timeout=timeout)
        except queue.Empty:
            return self._reap()
        if msg[0] == "start":
            self.running[msg[2]] = msg[1]
            return None
        for pid, tid in list(self.running.items()):
            if tid == msg[0]:
                del self.running[pid]
        return msg

    def _reap(self):
        for i, p in enumerate(self.procs):
            if p.is_alive() or p.exitcode is None:
                continue
            tid = self.running.pop(p.pid, None)
            self.procs[i] = self._spawn()
            if tid is not None:
                return tid, "failed", 0.0, DIED.format(code=p.exitcode)
        return None

    def close(self, *, stop: bool = False, timeout: float = 30.0) -> list[tuple]:
        """Stop the workers: after their item (``stop=False``), or at once (SIGTERM: the item unwinds and
        writes nothing). Returns the results that arrived meanwhile."""
        for p in self.procs:
            if stop and p.is_alive():
                os.kill(p.pid, signal.SIGTERM)
            else:
                self.tasks.put(None)
        late, deadline = [], time.monotonic() + timeout
        for p in self.procs:
            while p.is_alive() and time.monotonic() < deadline:
                late += self._drain()
                p.join(0.1)
            if p.is_alive():
                p.kill()
                p.join()
        late += self._drain()
        return [m for m in late if m[0] != "start"]

    def _drain(self) -> list[tuple]:
        out = []
        while True:
            try:
                out.append(self.results.get_nowait())
            except (queue.Empty, OSError, ValueError):
                return out


def in_process(task: dict) -> tuple:
    """One item in this process (``workers=1``): Ctrl-C stops it through the engine."""
    return outcome(task["id"], run_item, task)

