"""Jobs of the web app: stored on disk, run one at a time (or N) by worker threads through the public API.

A job lives in ``JOBS_DIR/<id>/`` (``id`` a server-made uuid4 hex, never anything a user typed)::

    job.json            state, settings, progress summary, error (rewritten atomically at each change)
    content.<ext>       the uploaded photo (or video), named by the server from its detected format
    style-<n>.<ext>     the uploaded painting(s)
    result.png          the result, written by ``atelier.write_result`` (atomic) ...
    result.png.json     ... with its sidecar (resolved config, seed, timings, losses)
    preview.jpg         the latest small preview of the image forming (gatys)

States: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``. When the server starts, jobs
found ``queued`` or ``running`` (the previous server stopped under them) are marked ``failed`` with a
reason, never left running. Progress events are kept in memory per job for the event stream
(``/api/jobs/{id}/events``); the page and the API read the same :class:`JobStore`.

Cancelling: the progress callback raises :class:`JobCancelled` at the next event after ``cancel()``; the
engine does not catch it (it catches only Ctrl-C), so the run unwinds and the worker marks the job
``cancelled`` and takes the next one.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import atelier

from .schema import prepare_run

logger = logging.getLogger(__name__)

TERMINAL = ("done", "failed", "cancelled")
RESTART_REASON = "The server stopped before this job finished; start it again."
STOP_REASON = "The server was stopped while this job ran; start it again."
PREVIEW_SIDE = 256  # long side of the preview images sent with progress events
PREVIEW_INTERVAL = 0.4  # seconds between two previews (the last image is always sent)
MAX_EVENTS = 2000  # events kept per job for late subscribers (older progress events are dropped)


class JobCancelled(Exception):
    """Raised from the progress callback to unwind a cancelled run."""


def new_id() -> str:
    return uuid.uuid4().hex


def is_job_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def video_unavailable_reason() -> str | None:
    """None when video jobs can run; otherwise one sentence saying why not (the video extra is missing)."""
    import importlib.util

    if importlib.util.find_spec("av") is None or importlib.util.find_spec("cv2") is None:
        return "Video jobs need PyAV and OpenCV on the server: pip install 'atelier[video]'."
    return None


@dataclass
class Job:
    id: str
    dir: Path
    kind: str  # "image" | "video" | "texture" | "explain"
    method: str
    options: dict[str, Any]
    seed: int
    inputs: dict[str, Any]  # stored file names (server-made) and the user's names (display only)
    state: str = "queued"
    created: str = field(default_factory=now)
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)  # last stage/progress summary, no image
    result: str | None = None  # file name inside dir
    info: dict[str, Any] = field(default_factory=dict)  # a summary of the sidecar: size, timings, losses
    video_options: dict[str, Any] = field(default_factory=dict)  # the video config's web fields (video jobs)
    texture_options: dict[str, Any] = field(default_factory=dict)  # width, height, tileable (texture jobs)
    metadata: bool = True  # embed the provenance record in the result and previews (the form's checkbox)
    # in memory only
    prepared: Any = field(default=None, repr=False)  # the atelier.Prepared run checked when the job was made
    events: list[dict] = field(default_factory=list, repr=False)
    first_event: int = 0  # sequence number of events[0] (older ones were dropped)
    cancel_requested: bool = False
    stopping: bool = False  # the server is shutting down: the job ends failed, not cancelled
    _last_preview: float = 0.0

    def public(self) -> dict[str, Any]:
        """What the API returns (and what job.json stores)."""
        return {
            "id": self.id, "kind": self.kind, "method": self.method, "options": self.options, "seed": self.seed,
            "video_options": self.video_options, "texture_options": self.texture_options,
            "metadata": self.metadata,
            "inputs": {
                "content_name": self.inputs.get("content_name"), "style_names": self.inputs.get("style_names", []),
                "content": f"/api/jobs/{self.id}/inputs/content" if self.inputs.get("content_file") else None,
                "styles": [f"/api/jobs/{self.id}/inputs/style-{i}" for i in range(len(self.inputs.get("style_files", [])))],
                "masks": [f"/api/jobs/{self.id}/inputs/mask-{i}" for i in range(len(self.inputs.get("mask_files", [])))],
                "mask_names": self.inputs.get("mask_names", []),
                "style_masks": [f"/api/jobs/{self.id}/inputs/style-mask-{i}"
                                for i in range(len(self.inputs.get("style_mask_files", [])))],
                "scale_mix": bool(self.inputs.get("scale_mix")),  # styles[0] coarse, styles[1] fine
                "color_from": f"/api/jobs/{self.id}/inputs/color-from" if self.inputs.get("color_from_file") else None,
                "color_from_name": self.inputs.get("color_from_name"),
            },
            "state": self.state, "created": self.created, "started": self.started, "finished": self.finished,
            "error": self.error, "progress": self.progress, "info": self.info,
            "result": f"/api/jobs/{self.id}/result" if self.result else None,
            "sidecar": f"/api/jobs/{self.id}/sidecar" if self.result else None,
            "regions": f"/api/jobs/{self.id}/regions" if self.result and self.inputs.get("regions_file") else None,
        }

    def stored(self) -> dict[str, Any]:
        return {**self.public(), "inputs": self.inputs, "result_file": self.result}

    @classmethod
    def from_stored(cls, d: Path, data: dict) -> Job:
        job = cls(id=data["id"], dir=d, kind=data.get("kind", "image"), method=data["method"],
                  options=dict(data.get("options") or {}), seed=int(data.get("seed", 0)),
                  inputs=dict(data.get("inputs") or {}), state=data["state"], created=data.get("created") or now(),
                  started=data.get("started"), finished=data.get("finished"), error=data.get("error"),
                  progress=dict(data.get("progress") or {}), result=data.get("result_file"),
                  info=dict(data.get("info") or {}), video_options=dict(data.get("video_options") or {}),
                  texture_options=dict(data.get("texture_options") or {}), metadata=bool(data.get("metadata", True)))
        if job.result and not (d / job.result).is_file():
            job.result = None
        return job


class JobStore:
    """All jobs of one jobs directory, and the worker threads that run them."""

    def __init__(self, root: Path, *, workers: int = 1, cluster=None):
        self.root = Path(root)
        self.cluster = cluster  # atelier.connect_cluster(ADDRESS): image jobs run on a Dask cluster (--scheduler)
        self.root.mkdir(parents=True, exist_ok=True)
        self.workers = max(1, int(workers))
        self.jobs: dict[str, Job] = {}
        self.lock = threading.RLock()
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.threads: list[threading.Thread] = []
        self._load()

    # -- persistence

    def _load(self) -> None:
        for d in sorted(self.root.iterdir()):
            meta = d / "job.json"
            if not (d.is_dir() and is_job_id(d.name) and meta.is_file()):
                continue
            try:
                job = Job.from_stored(d, json.loads(meta.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError) as err:
                logger.warning("Skipping the unreadable job %s (%s).", d.name, err)
                continue
            if job.id != d.name:
                continue
            if job.state not in TERMINAL:  # the previous server stopped under it
                job.state, job.error, job.finished = "failed", RESTART_REASON, now()
                self._save(job)
            self.jobs[job.id] = job

    def _save(self, job: Job) -> None:
        write_json_atomic(job.dir / "job.json", job.stored())

    # -- the API's operations

    def new_dir(self) -> tuple[str, Path]:
        """A fresh job id and its (created) directory, for the uploads of a job being created."""
        job_id = new_id()
        d = self.root / job_id
        d.mkdir()
        return job_id, d

    def submit(self, job: Job) -> Job:
        with self.lock:
            self.jobs[job.id] = job
            self._save(job)
            self._event(job, "state", job.public())
        self.queue.put(job.id)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id) if is_job_id(job_id) else None

    def list(self) -> list[Job]:
        with self.lock:
            return sorted(self.jobs.values(), key=lambda j: (j.created, j.id), reverse=True)

    def cancel(self, job: Job) -> Job:
        with self.lock:
            if job.state == "queued":
                self._finish(job, "cancelled", error=None)
            elif job.state == "running":
                job.cancel_requested = True
        return job

    def delete(self, job: Job) -> None:
        with self.lock:
            self.jobs.pop(job.id, None)
        shutil.rmtree(job.dir, ignore_errors=True)

    # -- events

    def _event(self, job: Job, kind: str, data: dict) -> None:
        with self.lock:
            job.events.append({"event": kind, "data": data})
            if len(job.events) > MAX_EVENTS:  # late subscribers start from the state snapshot anyway
                del job.events[0]
                job.first_event += 1

    def events_since(self, job: Job, seq: int) -> tuple[list[tuple[int, dict]], int]:
        """Events numbered >= seq (sequence numbers start at 0), and the next number."""
        with self.lock:
            start = max(seq, job.first_event)
            # Copies: a stream serialises them outside the lock while _finish may drop old previews.
            out = [(job.first_event + i, {"event": e["event"], "data": dict(e["data"])})
                   for i, e in enumerate(job.events) if job.first_event + i >= start]
            return out, job.first_event + len(job.events)

    def _finish(self, job: Job, state: str, *, error: str | None) -> None:
        error = None if error is None else self.private(error, job)
        with self.lock:
            job.state, job.error, job.finished = state, error, now()
            with_preview = [e for e in job.events if "preview" in e["data"]]
            for e in with_preview[:-1]:  # free the memory of all but the last preview
                del e["data"]["preview"]
            self._save(job)
            self._event(job, "state", job.public())
            self._event(job, "end", job.public())

    def private(self, message: str, job: Job) -> str:
        """A message for the client without the server's paths: files of the job by their names, the jobs
        folder as "the jobs folder"."""
        for d in {str(job.dir), str(job.dir.resolve())}:
            message = message.replace(d + os.sep, "").replace(d, "the job's folder")
        for d in {str(self.root), str(self.root.resolve())}:
            message = message.replace(d, "the jobs folder")
        return message

    # -- workers

    def start(self) -> None:
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"atelier-job-worker-{i}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers: running jobs stop at their next event and end failed (with the reason); queued
        ones are marked failed too. Idle workers are woken; each gets ``timeout`` seconds to finish."""
        with self.lock:
            for job in self.jobs.values():
                if job.state == "running":
                    job.stopping = job.cancel_requested = True
                elif job.state == "queued":
                    self._finish(job, "failed", error=RESTART_REASON)
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join(timeout)
        self.threads = []

    def _work(self) -> None:
        while True:
            job_id = self.queue.get()
            if job_id is None:
                return
            job = self.jobs.get(job_id)
            if job is None or job.state != "queued":
                continue
            try:
                self._run(job)
            except Exception:  # the worker must survive anything a job does
                logger.exception("Job %s crashed the worker's bookkeeping.", job_id)

    def _run(self, job: Job) -> None:
        with self.lock:
            if job.state != "queued":
                return
            job.state, job.started = "running", now()
            self._save(job)
            self._event(job, "state", job.public())
        try:
            if job.kind == "video":
                self._run_video(job)
            elif job.kind == "texture":
                self._run_texture(job)
            elif job.kind == "explain":
                self._run_explain(job)
            else:
                self._run_image(job)
        except JobCancelled:
            if job.stopping:
                self._finish(job, "failed", error=STOP_REASON)
            else:
                self._finish(job, "cancelled", error=None)
        except atelier.errors.AtelierError as err:
            self._finish(job, "failed", error=self._public(job, str(err)))
        except MemoryError:
            self._finish(job, "failed", error="The machine ran out of memory; try a smaller size.")
        except Exception as err:
            logger.exception("Job %s failed.", job.id)
            self._finish(job, "failed", error=self._public(job, f"Internal error ({type(err).__name__}: {err})."))
        else:
            self._finish(job, "done", error=None)

    def _public(self, job: Job, message: str) -> str:
        """An error as a client may read it: the server's paths (the job's folder, the jobs folder, the
        home folder) replaced by the job's own file names, so no path of this machine leaves it."""
        for folder, shown in ((job.dir, ""), (self.root, ""), (Path.home(), "~/")):
            for form in {str(folder), str(Path(folder).resolve())}:
                message = message.replace(form + "/", shown).replace(form, shown or "the server's folder")
        return message

    def _callback(self, job: Job):
        def callback(event) -> None:
            if job.cancel_requested:
                raise JobCancelled
            ev = atelier.events
            if isinstance(event, ev.Stage):
                data = {"stage": event.name, "index": event.index, "total": event.total,
                        "size": list(event.size), "iterations": event.iterations}
                with self.lock:
                    job.progress = {**job.progress, "stage": event.name, "stage_index": event.index,
                                    "stages": event.total, "stage_size": list(event.size)}
                    self._event(job, "stage", data)
            elif isinstance(event, ev.Progress):
                data = {"stage": event.stage, "iteration": event.iteration,
                        "total_iterations": event.total_iterations, "fraction": round(event.fraction, 4),
                        "losses": {k: float(v) for k, v in event.losses.items()},
                        "elapsed": round(event.elapsed, 2),
                        "eta": None if event.eta is None else round(event.eta, 1)}
                t = time.monotonic()
                last = event.iteration >= event.total_iterations
                if event.image is not None and (last or t - job._last_preview >= PREVIEW_INTERVAL):
                    job._last_preview = t
                    data["preview"] = self._preview(job, event.image)
                with self.lock:
                    job.progress = {**job.progress, **{k: v for k, v in data.items() if k != "preview"}}
                    self._event(job, "progress", data)
        return callback

    def _preview(self, job: Job, image) -> str | None:
        """A small JPEG of the image forming, as a data URL (also kept as preview.jpg)."""
        import torch.nn.functional as F

        h, w = image.shape[-2:]
        scale = min(1.0, PREVIEW_SIDE / max(h, w))
        small = image[:1].detach().float()
        if not image.is_floating_point():  # video frames come as uint8
            small = small / 255.0
        if scale < 1:
            small = F.interpolate(small, size=(max(1, round(h * scale)), max(1, round(w * scale))),
                                  mode="area")
        path = job.dir / "preview.jpg"
        try:
            record = atelier.provenance_record("preview", job.method, seed=job.seed,
                                               masked=bool(job.inputs.get("mask_files"))) if job.metadata else None
            atelier.save_image(small.clamp(0, 1).cpu(), path, overwrite=True, quality=80, metadata=record)
            return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        except (OSError, atelier.errors.AtelierError) as err:
            logger.warning("No preview for job %s (%s).", job.id, err)
            return None

    def _input_paths(self, job: Job) -> tuple[Path | None, list[Path]]:
        content = job.dir / job.inputs["content_file"] if job.inputs.get("content_file") else None
        return content, [job.dir / s for s in job.inputs.get("style_files", [])]

    def _run_image(self, job: Job) -> None:
        """``atelier.run_item``, the batch's code path for one item: here, or on the Dask cluster (whose
        workers must see the jobs folder at the same path; no progress events come back from there)."""
        content, styles = self._input_paths(job)
        masks = [job.dir / m for m in job.inputs.get("mask_files", [])] or None
        style_masks = [str(job.dir / m) for m in job.inputs.get("style_mask_files", [])] or None
        mix = {"scale_mix": bool(job.inputs.get("scale_mix")), "color_from": bool(job.inputs.get("color_from_file"))}
        prepared = job.prepared or prepare_run(job.method, job.options, n_styles=len(styles),
                                               n_masks=None if masks is None else len(masks),
                                               n_style_masks=None if style_masks is None else len(style_masks), **mix)
        task = {"id": job.id, "content": str(content), "styles": [] if mix["scale_mix"] else [str(s) for s in styles],
                "masks": None if masks is None else [str(m) for m in masks],
                "output": str(job.dir / "result.png"), "method": prepared.method,
                "options": {k: v for k, v in job.options.items() if k != "refine"},
                "refine": prepared.refine, "seed": job.seed, "device": "auto", "overwrite": True,
                "write": {"metadata": job.metadata}, "style_masks": style_masks}
        if prepared.semantic is not None:  # the regions found, shown on the job's page
            task["write"]["save_regions"] = str(job.dir / "regions.png")
        if mix["scale_mix"]:  # style-0 the coarse painting, style-1 the fine one
            task["coarse_style"], task["fine_style"] = (str(s) for s in styles)
        if mix["color_from"]:
            task["color_from"] = str(job.dir / job.inputs["color_from_file"])
        if self.cluster is None:
            done = atelier.run_item(task, callback=self._callback(job))
        else:
            try:
                done = self.cluster.call(task, stop=lambda: job.cancel_requested)
            except atelier.errors.Interrupted:
                raise JobCancelled from None
        path, info = Path(done["output"]), done["info"]
        if job.cancel_requested and not job.stopping:  # a finished result is kept at shutdown
            for f in (path, atelier.sidecar_path(path), job.dir / "regions.png"):
                f.unlink(missing_ok=True)
            raise JobCancelled
        with self.lock:
            if prepared.semantic is not None and (job.dir / "regions.png").is_file():
                job.inputs["regions_file"] = "regions.png"
            job.result = path.name
            job.info = {k: info[k] for k in ("output_size", "timings", "iterations", "losses", "stages", "tiles",
                                             "protect", "semantic") if k in info}

    def _run_texture(self, job: Job) -> None:
        _, (sample,) = self._input_paths(job)
        t = job.texture_options
        prepared = job.prepared or prepare_run(job.method, job.options, n_styles=1, texture=True,
                                               tileable=t.get("tileable", False))
        result = atelier.run_texture(sample, prepared=prepared, size=(t["height"], t["width"]),
                                     tileable=t.get("tileable", False), seed=job.seed, callback=self._callback(job))
        if job.cancel_requested and not job.stopping:
            raise JobCancelled
        path = atelier.write_result(result, job.dir / "result.png", overwrite=True, inputs=[sample],
                                    metadata=job.metadata)
        with self.lock:
            job.result = path.name
            job.info = {k: result.info[k] for k in ("output_size", "timings", "iterations", "stages", "texture")
                        if k in result.info}

    def _run_explain(self, job: Job) -> None:
        """``atelier.explain`` (the Explain view): the sheet and its files in the job's ``explain/`` folder."""
        _, (painting,) = self._input_paths(job)
        res = job.inputs.get("explain_result_file")
        out = atelier.explain(painting, job.dir / "explain", result=None if res is None else job.dir / res,
                              size=job.options["size"], iterations=job.options["iterations"], seed=job.seed,
                              overwrite=True, callback=self._callback(job))
        if job.cancel_requested and not job.stopping:
            raise JobCancelled
        with self.lock:
            job.result = "explain/sheet.jpg"
            job.info = {"explain": out.data}

    def _run_video(self, job: Job) -> None:
        reason = video_unavailable_reason()
        if reason:
            raise atelier.errors.OptionError(reason)
        content, styles = self._input_paths(job)
        out = job.dir / "result.mp4"
        vopts, options, keyed = dict(job.video_options), dict(job.options), {}
        if vopts.get("style_at"):  # keyframes: uploaded paintings by number, or models by name
            from .schema import split_web_style_at

            pairs = split_web_style_at(vopts.pop("style_at"), len(styles))
            keyed = {"style_at": [(t, styles[r] if isinstance(r, int) else r) for t, r in pairs]}
            styles = []
            if any(isinstance(r, str) for _, r in pairs):
                options.pop("model", None)  # the keyframes' models replace the form's one
        vopts.pop("style_at", None)
        for k in ("protect", "protect_strength"):  # photo-only run options ('faces' was refused for videos)
            options.pop(k, None)
        try:
            result = atelier.stylize_video(content, out, styles or None, method=job.method, seed=job.seed,
                                           callback=self._callback(job), overwrite=True, metadata=job.metadata,
                                           **keyed, **vopts, **options)
        except BaseException:
            shutil.rmtree(out.with_name(out.name + ".frames"), ignore_errors=True)  # the pipeline's work folder
            raise
        if job.cancel_requested:
            raise JobCancelled
        info = result.info
        with self.lock:
            job.result = Path(result.output).name
            job.info = {"frames": result.frames, "output_size": (info.get("video") or {}).get("size"),
                        "timings": info.get("timings")}
