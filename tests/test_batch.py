"""``atelier batch`` / ``atelier.run_batch``: names, the manifest and resume, failures, CSV overrides,
bit-identity with ``atelier stylize``, SIGTERM, a Dask LocalCluster and ``serve --scheduler``'s jobs.

Cheapest settings: the bundled johnson model at 64 px, or gatys at 32 px for a few iterations (real VGG
weights, as the CLI tests; the web job uses the random-weight VGG).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import atelier
from atelier.batch.items import Item, assign_outputs, expand_inputs
from atelier.cli import main

JOHNSON = {"model": "starry_night", "size": 64}
GATYS = ["--size", "32", "--iterations", "3", "--coarse-iterations", "0"]


def photo(path: Path, seed: int, size=(40, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def photos(tmp_path):
    """in/a/x.png, in/a/y.png, in/b/x.png (the same stem in two folders) and a painting."""
    base = tmp_path / "in"
    files = [photo(base / "a" / "x.png", 1), photo(base / "a" / "y.png", 2), photo(base / "b" / "x.png", 3)]
    return base, files, photo(tmp_path / "painting.png", 9)


def manifest(out: Path) -> dict:
    return json.loads((out / "atelier-batch.json").read_text())


def states(out: Path) -> dict[str, str]:
    return {e["output"]: e["state"] for e in manifest(out)["items"]}


# ------------------------------------------------------------------------------------------------ names


def test_output_names_never_collide(photos, tmp_path):
    base, (ax, ay, bx), _ = photos
    # Files given one by one: the same stem from two folders, and the same file twice.
    items = expand_inputs([ax, bx, ay])
    taken = {"y__m.png"}  # an earlier run's name
    assign_outputs(items, ["x__m", "x__m", "y__m"], taken, exists=lambda n: n == "x__m-2.png")
    assert [i.output for i in items] == ["x__m.png", "x__m-3.png", "y__m-2.png"]
    # A folder: its sub-folders are mirrored, the output folder inside it is never read.
    (base / "out").mkdir()
    photo(base / "out" / "old.png", 5)
    items = expand_inputs([base], exclude=base / "out")
    assert [(Path(i.content).name, i.subdir) for i in items] == [("x.png", "a"), ("y.png", "a"), ("x.png", "b")]
    # Names differing only in case collide on some file systems.
    items = [Item("/p/X.png"), Item("/q/x.png")]
    assign_outputs(items, ["X__m", "x__m"], set(), exists=lambda n: False)
    assert [i.output for i in items] == ["X__m.png", "x__m-2.png"]


def test_same_stem_in_two_folders_through_the_cli(photos, tmp_path, capsys):
    _, (ax, ay, bx), _ = photos
    out = tmp_path / "out"
    assert main(["batch", str(ax), str(bx), str(ay), "-o", str(out), "--model", "starry_night", "--size", "64",
                 "--workers", "1", "-q"]) == 0
    assert sorted(states(out)) == ["x__starry_night-2.png", "x__starry_night.png", "y__starry_night.png"]
    assert (out / "x__starry_night-2.png.json").is_file()
    assert json.loads((out / "x__starry_night-2.png.json").read_text())["inputs"]["content"] == str(bx)


def test_a_glob_that_matches_nothing_is_refused(tmp_path, capsys):
    code = main(["batch", str(tmp_path / "*.jpg"), "-o", str(tmp_path / "out"), "--model", "starry_night"])
    err = capsys.readouterr().err
    assert code == 2 and "matches no image file" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------- resume, failures


def test_resume_runs_only_unfinished_items(photos, tmp_path):
    base, _, _ = photos
    out = tmp_path / "out"
    events = []
    first = atelier.run_batch([base], out, workers=1, callback=events.append, **JOHNSON)
    assert (first.ran, first.skipped, first.counts["done"]) == (3, 0, 3)
    progress = [e for e in events if isinstance(e, atelier.events.Progress)]
    assert [p.iteration for p in progress] == [1, 2, 3] and progress[-1].eta == 0 and progress[-1].rate > 0
    outputs = sorted(out.rglob("*.png"))
    assert [p.relative_to(out).as_posix() for p in outputs] == [
        "a/x__starry_night.png", "a/y__starry_night.png", "b/x__starry_night.png"]
    mtimes = {p: p.stat().st_mtime_ns for p in outputs}

    again = atelier.run_batch([base], out, workers=1, **JOHNSON)
    assert (again.ran, again.skipped) == (0, 3)
    assert {p: p.stat().st_mtime_ns for p in outputs} == mtimes  # nothing was rewritten

    (out / "a" / "y__starry_night.png").unlink()  # a lost output runs again, alone
    third = atelier.run_batch([base], out, workers=1, **JOHNSON)
    assert (third.ran, third.skipped) == (1, 2)
    assert (out / "a" / "y__starry_night.png").is_file()
    entry = next(e for e in manifest(out)["items"] if e["output"] == "a/y__starry_night.png")
    assert entry["attempts"] == 2 and entry["state"] == "done" and entry["seconds"] > 0


def test_an_interrupted_batch_records_what_finished_and_resumes(photos, tmp_path):
    """Ctrl-C in the driver (here: raised by the progress callback after the first item, in-process)."""
    base, _, _ = photos
    out = tmp_path / "out"

    def stop(event):
        if isinstance(event, atelier.events.Progress):
            raise KeyboardInterrupt

    with pytest.raises(atelier.errors.Interrupted, match="1 item\\(s\\) finished in this run and 2 not done"):
        atelier.run_batch([base], out, workers=1, callback=stop, **JOHNSON)
    assert sorted(states(out).values()) == ["done", "pending", "pending"]
    assert len(list(out.rglob("*.png"))) == 1 and not list(out.rglob(".*tmp*"))
    again = atelier.run_batch([base], out, workers=1, **JOHNSON)
    assert (again.ran, again.skipped, again.counts["done"]) == (2, 1, 3)


def test_other_settings_in_the_same_folder_are_refused(photos, tmp_path, capsys):
    base, _, _ = photos
    out = tmp_path / "out"
    atelier.run_batch([base / "a" / "x.png"], out, workers=1, **JOHNSON)
    code = main(["batch", str(base / "a" / "x.png"), "-o", str(out), "--model", "starry_night", "--size", "96"])
    err = capsys.readouterr().err
    assert code == 2 and "other settings" in err and "size" in err


def test_a_bad_input_fails_its_item_and_the_others_finish(photos, tmp_path, capsys):
    base, _, _ = photos
    (base / "a" / "broken.png").write_bytes(b"not an image")
    missing = base / "nowhere.png"
    out = tmp_path / "out"
    code = main(["batch", str(base), str(missing), "-o", str(out), "--model", "starry_night", "--size", "64",
                 "--workers", "2", "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert "2 of 5 item(s) failed" in err and "Traceback" not in err
    m = {Path(e["content"]).name: e for e in manifest(out)["items"]}
    assert m["broken.png"]["state"] == "failed"
    assert m["broken.png"]["error"] == f"Cannot read '{base / 'a' / 'broken.png'}' as an image: not a recognised image format."
    assert m["nowhere.png"]["error"] == f"The image file '{missing}' does not exist."
    assert sorted(e["state"] for e in manifest(out)["items"]) == ["done"] * 3 + ["failed"] * 2
    assert not (out / "a" / "broken__starry_night.png").exists()


# -------------------------------------------------------------------------------------- CSV and identity


def test_csv_rows_override_style_options_seed_and_name(photos, tmp_path, capsys):
    base, _, painting = photos
    other = photo(tmp_path / "other.png", 11)
    csv = base / "list.csv"
    csv.write_text("content,style,iterations,seed,output\n"
                   "a/x.png,,,,\n"
                   "a/y.png,../other.png,2,7,custom\n"
                   "b/x.png,,lots,,\n")
    out = tmp_path / "out"
    code = main(["batch", str(csv), "-o", str(out), "--style", str(painting), *GATYS, "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "list.csv row 4: iterations must be a whole number, not 'lots'." in err
    first = json.loads((out / "x__painting.png.json").read_text())
    assert first["config"]["iterations"] == 3 and first["seed"] == 0 and first["inputs"]["styles"] == [str(painting)]
    custom = json.loads((out / "custom.png.json").read_text())
    assert custom["config"]["iterations"] == 2 and custom["seed"] == 7 and custom["inputs"]["styles"] == [str(other)]
    # A column that is no option of any method is refused before any work.
    csv.write_text("content,stlye\na/x.png,x.png\n")
    code = main(["batch", str(csv), "-o", str(tmp_path / "o2"), "--style", str(painting), *GATYS])
    assert code == 2 and "stlye" in capsys.readouterr().err and not (tmp_path / "o2").exists()


@pytest.mark.parametrize("method", ["johnson", "gatys"])
def test_outputs_are_bit_identical_to_stylize(method, photos, tmp_path, capsys):
    """Two worker processes (one torch thread each) against ``atelier stylize`` in this process."""
    _, (ax, ay, _), painting = photos
    out = tmp_path / "out"
    if method == "johnson":
        common, stylize = ["--model", "starry_night", "--size", "64", "--seed", "3"], lambda c, o: [str(c)]
        name = "{}__starry_night.png"
    else:
        common, stylize = [*GATYS, "--seed", "3"], lambda c, o: [str(c), str(painting)]
        name = "{}__painting.png"
    style = [] if method == "johnson" else ["--style", str(painting)]
    assert main(["batch", str(ax), str(ay), "-o", str(out), *style, *common, "--workers", "2", "-q"]) == 0
    for content in (ax, ay):
        ref = tmp_path / f"ref-{content.stem}.png"
        assert main(["stylize", *stylize(content, ref), "-o", str(ref), *common, "-q"]) == 0
        got = out / name.format(content.stem)
        # the pixels bit for bit; the embedded provenance record too, but for its creation time
        assert np.array_equal(np.asarray(Image.open(got)), np.asarray(Image.open(ref)))
        records = [{k: v for k, v in atelier.provenance.read(f).items() if k != "created"} for f in (got, ref)]
        assert records[0] == records[1]
    capsys.readouterr()


# --------------------------------------------------------------------------------------------- stopping


def test_sigterm_stops_cleanly_and_leaves_no_partial_output(photos, tmp_path):
    """A row that finishes at once and two that never would (iterations 100000, tolerance 0), on two worker
    processes; SIGTERM to the batch while they run."""
    base, _, painting = photos
    csv = base / "list.csv"
    csv.write_text("content,iterations\na/x.png,2\na/y.png,100000\nb/x.png,100000\n")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "atelier", "batch", str(csv), "-o", str(out), "--style",
                             str(painting), *GATYS, "--tolerance", "0", "--workers", "2", "-q"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (out / "atelier-batch.json").exists() and "done" in states(out).values():
                break
            time.sleep(0.2)
        time.sleep(1.5)  # the second worker is inside its long item
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err and "Traceback" not in err
    assert states(out) == {"x__painting.png": "done", "y__painting.png": "pending",
                           "x__painting-2.png": "pending"}
    assert sorted(p.name for p in out.iterdir()) == ["atelier-batch.json", "x__painting.png", "x__painting.png.json"]


# ------------------------------------------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def cluster():
    """Two one-thread Dask workers in this process, reached over TCP on loopback."""
    distributed = pytest.importorskip("distributed")
    import torch

    threads = torch.get_num_threads()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as c:
        yield c
    torch.set_num_threads(threads)


def test_dask_cluster_runs_resumes_and_fails_like_local(photos, tmp_path, cluster):
    base, _, _ = photos
    (base / "b" / "broken.png").write_bytes(b"\x89PNG broken")
    out, local = tmp_path / "out", tmp_path / "local"
    report = atelier.run_batch([base], out, scheduler=cluster.scheduler_address, **JOHNSON)
    assert report.counts == {"pending": 0, "running": 0, "done": 3, "failed": 1}
    assert report.failures[0][1].startswith(f"Cannot read '{base / 'b' / 'broken.png'}' as an image")
    # The same torch thread count as the Dask workers (cores / 2 here): float sums are split per thread, so a
    # different count could move a pixel by one level. workers=1 runs in this process.
    from atelier.batch import dask as dask_backend

    threads = torch.get_num_threads()
    torch.set_num_threads(dask_backend._THREADS)
    try:
        atelier.run_batch([base], local, workers=1, **JOHNSON)
    finally:
        torch.set_num_threads(threads)
    for name in ("a/x__starry_night.png", "a/y__starry_night.png", "b/x__starry_night.png"):
        # The pixels, not the files: the embedded provenance has the creation time to the second.
        assert np.array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(local / name))), name
    again = atelier.run_batch([base], out, scheduler=cluster.scheduler_address, **JOHNSON)
    assert (again.ran, again.skipped) == (1, 3)  # only the failed item is tried again


def test_web_image_jobs_run_on_the_cluster(tmp_path, cluster):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from test_web import BASE, TINY, create, read_events

    from atelier.web import create_app

    app = create_app(tmp_path / "jobs", cluster=atelier.connect_cluster(cluster.scheduler_address))
    with TestClient(app, base_url=BASE) as client:
        job = create(client, TINY).json()
        final = read_events(client, job["id"])[-1][1]
        assert final["state"] == "done", final
        assert final["info"]["output_size"] == [32, 26]
        assert client.get(f"/api/jobs/{job['id']}/sidecar").json()["config"]["iterations"] == 2
