"""The CLI's listener of progress events: a rich progress bar on stderr and ``--save-every`` snapshots."""

from __future__ import annotations

from pathlib import Path

import atelier


class ProgressPrinter:
    """Callable event subscriber. ``show=False`` keeps only the snapshots (for ``--quiet``)."""

    def __init__(self, *, save_every: int = 0, output: Path | None = None, show: bool = True,
                 metadata: dict | None = None):
        self.save_every, self.output = save_every, output
        self.metadata = metadata  # the snapshots' provenance record (None: --no-metadata)
        self.progress = None
        if show:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[losses]}"), TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"),
                console=Console(stderr=True), transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task("starting", total=None, losses="", eta="?")

    def __call__(self, event) -> None:
        events = atelier.events
        if isinstance(event, events.Stage) and self.progress:
            h, w = event.size
            self.progress.update(self.task, description=f"{event.name} {w}x{h}" if h and w else event.name)
        elif isinstance(event, events.Progress):
            if self.progress:
                losses = " ".join(f"{k} {v:.3g}" for k, v in event.losses.items() if k != "total")
                if getattr(event, "rate", None) is not None:  # video: frames per second; batch: items
                    unit = "items" if event.stage == "batch" else "frames"
                    losses = f"{event.rate:.2f} {unit}/s {losses}".strip()
                eta = "?" if event.eta is None else f"{event.eta:.0f}s"
                self.progress.update(self.task, completed=event.iteration, total=event.total_iterations,
                                     losses=losses, eta=eta)
            if self.save_every and event.image is not None and event.iteration % self.save_every == 0:
                # checked before the run (atelier.plan_outputs): no input, no file kept without --overwrite
                snap = atelier.snapshot_path(self.output, event.iteration)
                record = None if self.metadata is None else {**self.metadata, "iteration": event.iteration}
                atelier.save_image(event.image, snap, overwrite=True, metadata=record)

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
            self.progress = None
