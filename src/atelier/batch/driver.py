"""The batch driver: plan the items, open the manifest, feed a backend (this process, local worker
processes, or a Dask cluster), record every outcome, report progress, stop cleanly."""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api import prepare
from ..errors import AtelierError, Interrupted, OptionError
from ..events import Progress, Stage, emit
from ..io import check_work_size, fit_size, sidecar_path
from ..methods import method_for_model, method_spec
from ..options import check_seed
from .items import Item, assign_outputs, default_stem, expand_inputs, item_method, model_tag
from .manifest import Manifest
from .sizing import cores, default_workers
from .worker import LocalPool, in_process

logger = logging.getLogger(__name__)


@dataclass
class BatchReport:
    out_dir: Path
    manifest: Path
    counts: dict[str, int]  # states of this command's items: pending, running, done, failed
    ran: int  # items run by this call
    skipped: int  # items already done by an earlier run
    seconds: float
    failures: list[tuple[str, str]] = field(default_factory=list)  # (content, sentence) of this call

    @property
    def items_per_second(self) -> float:
        return self.ran / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Plan:
    item: Item
    method: str
    options: dict[str, Any]
    styles: list[str]
    masks: list[str] | None
    seed: int
    refine: int
    error: str | None = None


def _plan(item: Item, method: str, options: dict, styles: list[str], masks, seed: int, refine: int) -> _Plan:
    """The item's effective run (its CSV row over the command's settings), checked by ``prepare``."""
    o = dict(item.overrides)
    m = item_method(item, method)
    o.pop("method", None)
    plan = _Plan(item, m, {**options, **{k: v for k, v in o.items() if k not in ("seed", "refine")}},
                 item.styles if item.styles is not None else styles,
                 item.masks if item.masks is not None else masks,
                 int(o.get("seed", seed)), int(o.get("refine", refine)), item.error)
    if plan.error is None:
        try:
            check_seed(plan.seed)
            _check(plan.method, json.dumps(plan.options, sort_keys=True, default=str), len(plan.styles),
                   None if plan.masks is None else len(plan.masks), plan.refine)
            _check_size(plan)
        except AtelierError as err:
            own = item.overrides or item.styles is not None or item.masks is not None
            if not own:  # the command itself is wrong: refuse it before any work
                raise
            plan.error = f"{item.where}: {err}" if item.where else str(err)
    return plan


def _check_size(plan: _Plan) -> None:
    """A ``size`` that would make this photo's output too large is refused before any work (the photo's
    size from its header; an unreadable photo fails as its item later)."""
    size = plan.options.get("size")
    if not isinstance(size, int) or size <= 0:
        return
    from PIL import Image

    try:
        with Image.open(plan.item.content) as im:
            w, h = im.size
    except (OSError, ValueError):
        return
    check_work_size(fit_size(h, w, size))


@functools.lru_cache(maxsize=256)
def _check(method: str, options_json: str, n_styles: int, n_masks: int | None, refine: int) -> None:
    """``prepare`` once per distinct run (it reads the model file's header): a thousand photos of one
    command are checked once."""
    options = json.loads(options_json)
    work_size = int(options.pop("work_size", 0) or 0)  # the run option --work-size travels with the options
    shield = {k: options.pop(k) for k in ("protect", "protect_strength", "semantic") if k in options}  # so do these
    prepare(method, options, n_styles=n_styles, n_masks=n_masks, refine=refine, work_size=work_size, **shield)


def _stem(plan: _Plan) -> str:
    fill = method_spec(plan.method).capabilities.fill
    stem = default_stem(plan.item.content, plan.styles, model_tag(plan.options.get("model"), plan.method, fill))
    return f"{plan.item.subdir}/{stem}" if plan.item.subdir else stem


def run_batch(inputs, out_dir, *, style=None, method: str | None = None, masks=None, seed: int = 0,
              refine: int = 0, device: str = "auto", workers: int | None = None, scheduler=None,
              callback=None, write: dict | None = None, **options) -> BatchReport:
    """Stylise every photo of ``inputs`` (files, folders, glob patterns, CSV manifests) into ``out_dir``:
    one image and sidecar per item, named after it, and ``out_dir/atelier-batch.json``, the manifest that
    makes the batch resumable (run it again: only unfinished items run). An item that fails records its
    sentence and the others go on. ``workers`` local processes (default: :func:`default_workers`; 1 runs in
    this process), or ``scheduler`` (a Dask scheduler address) runs them on a cluster. ``callback`` gets
    :class:`~atelier.events.Progress` events (``stage='batch'``, ``rate`` in items per second); ``write``:
    more keyword arguments of :func:`~atelier.stylize_to_file` about the written files. Ctrl-C /
    SIGTERM raise :class:`~atelier.errors.Interrupted` after recording what finished; no partial image is
    left. Local workers are spawned processes: a script that calls this with ``workers > 1`` needs
    multiprocessing's usual ``if __name__ == "__main__":`` guard."""
    t0 = time.perf_counter()
    if workers is not None and int(workers) < 1:
        raise OptionError(f"--workers must be 1 or more, not {workers}.")
    out_dir = Path(out_dir).expanduser()
    styles = [str(Path(s).expanduser().resolve()) for s in ([] if style is None else
                                                             [style] if isinstance(style, (str, Path)) else style)]
    masks = None if masks is None else [str(Path(m).expanduser().resolve()) for m in masks]
    options = {k: v for k, v in options.items() if v is not None}
    if method is None:
        method = method_for_model(options["model"]) if options.get("model") else "gatys"
    items = expand_inputs(list(inputs), exclude=out_dir)
    plans = [_plan(it, method, options, styles, masks, seed, refine) for it in _unique(items)]
    settings = {"method": method, "options": options, "styles": styles, "masks": masks, "seed": int(seed),
                "refine": int(refine), "device": str(device), "write": dict(write or {})}
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError(f"The output '{out_dir}' is a file; give a folder.")
    manifest = Manifest.open(out_dir, _jsonable(settings))
    todo, skipped, failures = _register(manifest, plans, out_dir)
    pool = _backend(len(todo), workers, scheduler) if todo else None  # an unreachable cluster: nothing written
    try:
        manifest.save()
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    ran, failed = _drive(manifest, [(k, _task(k, p, manifest.entry(k)["output"], out_dir, device, write))
                                    for k, p in todo], pool, callback)
    counts = manifest.counts([p.item.key() for p in plans])  # an item no longer among the inputs is not counted
    return BatchReport(out_dir, manifest.path, counts, ran, skipped, time.perf_counter() - t0, failures + failed)


def _unique(items: list[Item]) -> list[Item]:
    seen, out = set(), []
    for it in items:
        if it.key() not in seen:
            seen.add(it.key())
            out.append(it)
    return out


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _register(manifest: Manifest, plans: list[_Plan], out_dir: Path):
    """Match the plans with the manifest's entries (new items get free output names); returns the items to
    run, how many are done already, and the (content, sentence) of those that failed their check."""
    new = [p for p in plans if manifest.entry(p.item.key()) is None]
    ours = manifest.outputs()
    assign_outputs([p.item for p in new], [_stem(p) for p in new], ours,
                   lambda n: (out_dir / n).exists() or sidecar_path(out_dir / n).exists())
    for p in new:
        manifest.add(p.item.key(), {"content": p.item.content, "styles": p.styles, "masks": p.masks,
                                     "overrides": _jsonable(p.item.overrides), "output": p.item.output})
    todo, skipped, failures = [], 0, []
    for p in plans:
        key = p.item.key()
        if manifest.finished(key):
            skipped += 1
        elif p.error is not None:
            manifest.mark(key, "failed", error=p.error, save=False)
            failures.append((p.item.content, p.error))
        else:
            manifest.mark(key, "pending", save=False)
            todo.append((key, p))
    return todo, skipped, failures


def _task(key: str, plan: _Plan, output: str, out_dir: Path, device: str, write: dict | None) -> dict:
    return {"id": key, "content": plan.item.content, "styles": plan.styles, "masks": plan.masks,
            "output": str((out_dir / output).resolve()), "method": plan.method, "options": plan.options,
            "seed": plan.seed, "refine": plan.refine, "device": device, "write": dict(write or {}),
            "overwrite": True}  # the name is this batch's: an earlier, unfinished attempt may be replaced


def _backend(n_items: int, workers: int | None, scheduler):
    if scheduler is not None:
        from .dask import DaskPool

        return DaskPool(scheduler)
    n = default_workers() if workers is None else int(workers)
    n = min(n, max(1, n_items))  # no idle processes; the cores go to those that work
    return None if n == 1 else LocalPool(n, max(1, cores() // n))


def _drive(manifest: Manifest, todo: list[tuple[str, dict]], pool, callback):
    """Run the tasks ``todo`` on ``pool`` (None: in this process), recording each outcome; closes the pool;
    returns (items finished, failures)."""
    total, queue = len(todo), list(reversed(todo))
    tasks = dict(todo)
    emit(callback, Stage("batch", 0, 1, (0, 0), total))
    finished, failures, in_flight = 0, [], set()
    t_start = time.perf_counter()

    def record(res) -> None:
        nonlocal finished
        tid, state, seconds, error = res
        in_flight.discard(tid)
        if state == "interrupted":
            manifest.mark(tid, "pending")
            raise KeyboardInterrupt
        manifest.mark(tid, state, seconds=seconds, error=error)
        finished += 1
        if error:
            failures.append((tasks[tid]["content"], error))
        elapsed = time.perf_counter() - t_start
        rate = finished / elapsed if elapsed > 0 else None
        emit(callback, Progress("batch", finished, total, {}, elapsed,
                                (total - finished) / rate if rate else None, rate=rate))

    try:
        while queue or in_flight:
            while queue and len(in_flight) < (pool.slots if pool else 1):
                key, task = queue.pop()
                manifest.mark(key, "running")
                in_flight.add(key)
                if pool is None:
                    record(in_process(task))
                else:
                    pool.submit(task)
            res = pool.next_result() if pool and in_flight else None
            if res is not None:
                record(res)
    except KeyboardInterrupt:
        late = pool.close(stop=True) if pool else []
        pool = None
        for res in late:
            if res[0] in in_flight and res[1] != "interrupted":
                record(res)
        for key in in_flight:
            manifest.mark(key, "pending", save=False)
        manifest.save()
        left = sum(1 for e in manifest.items.values() if e["state"] != "done")
        raise Interrupted(f"Stopped with {finished} item(s) finished in this run and {left} not done; "
                          f"run the same command again to resume.") from None
    finally:
        if pool is not None:
            pool.close()
    return finished, failures

