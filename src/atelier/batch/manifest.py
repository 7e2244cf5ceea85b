"""The manifest of a batch run, ``OUT_DIR/atelier-batch.json``: what makes a batch resumable.

    {"atelier": "0.1.0", "settings": {method, options, styles, masks, seed, refine, device},
     "items": [{"id", "content", "styles", "masks", "overrides", "output", "state", "seconds", "error",
                "attempts"}, ...],
     "summary": {"done": n, "failed": n, "pending": n}}

States: ``pending`` -> ``running`` -> ``done`` | ``failed``; an interrupted run leaves ``pending``. It is
rewritten atomically (``io.write_json``) at every change of state, by the one process that drives the
batch, so a reader (or a kill at any moment) always sees a whole file. A new run of the same command takes
every item that is not ``done`` with its output present (failed ones too: the file may have been fixed),
and keeps the output names recorded, so a resumed batch writes the same files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import __version__, io
from ..errors import InputError, OptionError

NAME = "atelier-batch.json"
STATES = ("pending", "running", "done", "failed")


class Manifest:
    def __init__(self, out_dir: Path, settings: dict[str, Any], items: list[dict] | None = None):
        self.path = Path(out_dir) / NAME
        self.out_dir = Path(out_dir)
        self.settings = settings
        self.items: dict[str, dict] = {e["id"]: e for e in (items or [])}

    @classmethod
    def open(cls, out_dir: Path, settings: dict[str, Any]) -> Manifest:
        """The manifest of ``out_dir`` (a new one if there is none). A batch made with other settings is
        refused in one sentence: its outputs would mix two runs."""
        path = Path(out_dir) / NAME
        if not path.is_file():
            return cls(out_dir, settings)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            old, items = data["settings"], list(data["items"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputError(f"Cannot read the batch manifest '{path}' ({err}); move it away to start "
                             "afresh.") from None
        changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if changed:
            what = ", ".join(f"{k} {old.get(k)!r} there, {settings.get(k)!r} here" for k in changed)
            raise OptionError(f"'{out_dir}' holds a batch made with other settings ({what}): run the same "
                              "command to resume it, or give another output folder.")
        for entry in items:  # a run stopped under them: they run again
            if entry.get("state") == "running":
                entry["state"] = "pending"
        return cls(out_dir, settings, items)

    # -- items

    def entry(self, key: str) -> dict | None:
        return self.items.get(key)

    def add(self, key: str, record: dict) -> dict:
        entry = {"id": key, **record, "state": "pending", "seconds": None, "error": None, "attempts": 0}
        self.items[key] = entry
        return entry

    def outputs(self) -> set[str]:
        return {e["output"] for e in self.items.values() if e.get("output")}

    def finished(self, key: str) -> bool:
        """Done, with its output still there (a deleted output runs again)."""
        e = self.items.get(key)
        return bool(e and e["state"] == "done" and (self.out_dir / e["output"]).is_file())

    def mark(self, key: str, state: str, *, seconds: float | None = None, error: str | None = None,
             save: bool = True) -> None:
        e = self.items[key]
        e["state"], e["error"] = state, error
        if state == "running":
            e["attempts"] = e.get("attempts", 0) + 1
        if seconds is not None:
            e["seconds"] = round(seconds, 3)
        if save:
            self.save()

    # -- the file

    def counts(self, keys=None) -> dict[str, int]:
        """Items per state: of ``keys`` (this command's items), or of the whole file."""
        out = dict.fromkeys(STATES, 0)
        for e in self.items.values() if keys is None else (self.items[k] for k in keys):
            out[e["state"]] += 1
        return out

    def save(self) -> None:
        data = {"atelier": __version__, "settings": self.settings, "items": list(self.items.values()),
                "summary": self.counts()}
        io.write_json(self.path, data)
