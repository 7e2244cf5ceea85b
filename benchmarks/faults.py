"""kill -9 during training, video and a long stylisation, and a full disk (a real tmpfs where root may mount
one): what is left where the output should be, and what a resume redoes.

    python benchmarks/faults.py [--trials 3] [--out benchmarks/results/faults.md]

Each trial starts the job in a subprocess (``DRIVER``: the CLI with its progress bar replaced by lines
"P <iteration>"), kills it with SIGKILL at a random point, checks the folder (no output where it would be,
every visible file loads, temporary files hidden as ``.NAME.tmpXXXX``), then resumes and counts what was
redone: training steps since the last checkpoint, video frames (finished frames must never be computed
again), Gatys iterations since the last ``--save-every`` snapshot. ``tests/test_faults.py`` runs the same
driver at a small size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

# The CLI with its progress bar replaced by "P <iteration>" lines on stdout (flushed); the snapshots
# (--save-every) and training previews are still written by the CLI's own listeners.
DRIVER = """
import sys
import atelier
from atelier.cli import progress, stylize, train, video

class Printer(progress.ProgressPrinter):
    def __init__(self, **kw):
        kw["show"] = False
        super().__init__(**kw)

    def __call__(self, event):
        super().__call__(event)
        if isinstance(event, atelier.events.Progress):
            print("P", event.iteration, flush=True)

stylize.ProgressPrinter = train.ProgressPrinter = Printer
video.LazyPrinter = lambda: Printer()
from atelier.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start(*argv) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", DRIVER, *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def kill_after(proc: subprocess.Popen, iteration: int, timeout: float = 600) -> int:
    """SIGKILL ``proc`` once it reported ``iteration``; returns the last iteration it reported before dying
    (its stdout keeps what was printed before the kill)."""
    last, deadline = 0, time.monotonic() + timeout
    try:
        for line in proc.stdout:
            if line.startswith("P "):
                last = int(line.split()[1])
            if last >= iteration or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    if proc.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the job ended by itself ({proc.returncode}): {err}")
    for line in rest.splitlines():
        if line.startswith("P "):
            last = int(line.split()[1])
    if last < iteration:
        raise RuntimeError(f"the job stopped at {last} before it was killed: {err}")
    return last


def finish(argv) -> tuple[int, list[int], str]:
    """Run to the end: (exit code, the iterations it reported, stderr)."""
    proc = start(*argv)
    out, err = proc.communicate(timeout=1800)
    return proc.returncode, [int(ln.split()[1]) for ln in out.splitlines() if ln.startswith("P ")], err


def visible(folder: Path) -> tuple[list[str], list[str]]:
    """(the files a user sees, the hidden temporary files '.NAME.tmpXXXX')."""
    names = sorted(p.name for p in folder.iterdir())
    return [n for n in names if not n.startswith(".")], [n for n in names if n.startswith(".")]


# ------------------------------------------------------------------------------------------- inputs


def make_inputs(root: Path) -> dict:
    import torch

    from atelier.engine.checkpoint import save_model
    from atelier.methods.johnson.model import TransformerNet

    rng = np.random.default_rng(0)
    photos = root / "photos"
    photos.mkdir(parents=True)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    style = root / "style.png"
    Image.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(style)
    torch.manual_seed(0)
    net = TransformerNet.from_arch("compact").eval()
    model = save_model(root / "tiny.safetensors", net.state_dict(), method="johnson", arch=net.arch,
                       card={"style": "test"})
    clip = root / "clip"
    clip.mkdir()
    y, x = np.mgrid[0:96, 0:128].astype(np.float32)
    for i in range(40):
        img = np.stack([np.sin((x - 2 * i) / 5) * np.cos(y / 7), np.cos((x - 2 * i + y) / 6),
                        np.sin((x - 2 * i) / 3 + y / 9)], -1)
        Image.fromarray(((img * 0.4 + 0.5) * 255).clip(0, 255).astype(np.uint8)).save(clip / f"frame_{i:04d}.png")
    from atelier.api import default_inputs

    content, painting = default_inputs()
    return {"photos": photos, "style": style, "model": model, "clip": clip, "content": content,
            "painting": painting}


# ---------------------------------------------------------------------------------------- kill -9 trials


TRAIN = ["--size", "64", "--style-size", "64", "--batch-size", "2", "--precision", "fp32", "-q"]


def trial_training(root: Path, inp: dict, rng: random.Random, every: int = 10) -> dict:
    from atelier.engine import checkpoint as ckpt

    out = root / "m.safetensors"
    argv = ["train", "johnson", "--style", inp["style"], "--data", inp["photos"], "-o", out, *TRAIN,
            "--checkpoint-every", every, "--preview-every", 5]
    at = rng.randint(every + 1, 4 * every)
    last = kill_after(start(*argv, "--steps", 100000), at)
    seen, hidden = visible(root)
    saved = ckpt.read(out.with_name("m.ckpt.safetensors"))[1]["step"]
    Image.open(out.with_name("m.preview.png")).load()
    code, steps, _err = finish([*argv, "--resume", "--steps", last + 1])
    return {"killed_after_step": last, "checkpoint_step": saved, "steps_lost": last - saved,
            "steps_redone": len(steps) - 1, "interval": every, "output_after_kill": out.name in seen,
            "visible": seen, "hidden": hidden, "resume_exit": code,
            "ok": code == 0 and out.name not in seen and last - saved <= every
            and steps == list(range(saved + 1, last + 2))}


def trial_video(root: Path, inp: dict, rng: random.Random) -> dict:
    out = root / "v.mp4"
    argv = ["video", inp["clip"], out, "--model", inp["model"]]
    at = rng.randint(3, 30)
    last = kill_after(start(*argv), at)
    seen, hidden = visible(root)
    work = root / "v.mp4.frames"
    done = len(list(work.glob("frame_*.npy")))  # an MP4 job keeps its finished frames as raw arrays
    for p in work.glob("frame_*.npy"):
        assert np.load(p).shape[-1] == 3  # every visible frame is whole
    code, frames, _err = finish([*argv, "--resume"])
    side = json.loads((root / "v.mp4.json").read_text()) if code == 0 else {}
    recomputed = [f for f in frames if f <= done]
    _, hidden_after = visible(root)
    return {"killed_after_frame": last, "finished_on_disk": done, "frames_lost": last - done,
            "frames_recomputed": len(recomputed), "computed_on_resume": len(frames), "resume_exit": code,
            "output_after_kill": out.name in seen, "hidden": hidden, "hidden_after_resume": hidden_after,
            "resumed_from": side.get("video", {}).get("resumed_from"),
            "ok": code == 0 and out.name not in seen and not recomputed and last - done <= 3}


def trial_gatys(root: Path, inp: dict, rng: random.Random, every: int = 5) -> dict:
    out = root / "g.png"
    argv = ["stylize", inp["content"], inp["painting"], "-o", out, "--size", "96", "--iterations", "100000",
            "--tolerance", "0", "--save-every", every]
    at = rng.randint(every + 1, 6 * every)
    last = kill_after(start(*argv), at)
    seen, hidden = visible(root)
    snaps = sorted(n for n in seen if n.startswith("g.iter"))
    for n in snaps:
        Image.open(root / n).load()
    latest = int(snaps[-1][len("g.iter"):-len(".png")]) if snaps else 0
    return {"killed_after_iteration": last, "last_snapshot": latest, "iterations_lost": last - latest,
            "interval": every, "output_after_kill": out.name in seen, "hidden": hidden,
            "ok": out.name not in seen and last - latest <= every}


# ---------------------------------------------------------------------------------------------- full disk


def md5(path: Path) -> str | None:
    return hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else None


def fill(folder: Path, leave: int) -> None:
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def full_disk(inp: dict) -> list[dict] | str:
    """On a 1 MiB tmpfs (root only): a stylisation over an earlier output, a training, a video."""
    mnt = Path(tempfile.mkdtemp(prefix="atelier-tmpfs-"))
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]
    if subprocess.run(mount, check=False, capture_output=True).returncode:
        mnt.rmdir()
        return "no tmpfs could be mounted here (not root): the tests' ENOSPC simulation stands in"
    results = []
    try:
        out = mnt / "out.png"
        base = ["stylize", inp["content"], inp["painting"], "-o", out, "--size", "64", "--iterations", "2", "-q"]
        finish(base)
        before = (md5(out), md5(mnt / "out.png.json"))
        fill(mnt, 4096)
        code, _, err = finish([*base, "--size", "256", "--overwrite", "--seed", "1"])
        results.append({"job": "stylize --overwrite", "exit": code, "message": err.strip().splitlines()[-1:],
                        "previous_intact": (md5(out), md5(mnt / "out.png.json")) == before,
                        "left": visible(mnt)})
        for p in mnt.iterdir():
            p.unlink()
        fill(mnt, 64 * 1024)
        code, _, err = finish(["train", "johnson", "--style", inp["style"], "--data", inp["photos"], "-o",
                               mnt / "m.safetensors", *TRAIN, "--steps", 20, "--checkpoint-every", 2])
        results.append({"job": "train", "exit": code, "message": err.strip().splitlines()[-1:], "left": visible(mnt)})
        for p in mnt.iterdir():
            p.unlink() if p.is_file() else None
        fill(mnt, 80 * 1024)
        code, _, err = finish(["video", inp["clip"], mnt / "v.mp4", "--model", inp["model"]])
        results.append({"job": "video", "exit": code, "message": err.strip().splitlines()[-1:], "left": visible(mnt)})
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        mnt.rmdir()
    return results


# ------------------------------------------------------------------------------------------------ report


def markdown(res: dict, cpu: str, load: str) -> str:
    lines = ["# Faults: kill -9 and a full disk", "",
             (f"`python benchmarks/faults.py --trials {res['trials']}` on {cpu}, {load}. Each trial kills the job "
             "with SIGKILL at a random point, checks what is left, then resumes."), ""]
    t = res["training"]
    lines += ["## Training (johnson, 64 px, --checkpoint-every 10)", "",
              "| killed after step | checkpoint step | steps lost | steps redone on resume | model file after kill | ok |",
              "|---:|---:|---:|---:|---|---|",
              *[f"| {r['killed_after_step']} | {r['checkpoint_step']} | {r['steps_lost']} | {r['steps_redone']} | "
                f"{'present' if r['output_after_kill'] else 'absent'} | {r['ok']} |" for r in t], ""]
    v = res["video"]
    lines += ["## Video (40 frames 128x96, johnson, to MP4)", "",
              ("| killed after frame | finished on disk | frames lost | finished frames recomputed | MP4 after kill | "
              "hidden temporary files after kill / after resume | ok |"),
              "|---:|---:|---:|---:|---|---|---|",
              *[f"| {r['killed_after_frame']} | {r['finished_on_disk']} | {r['frames_lost']} | {r['frames_recomputed']} | "
                f"{'present' if r['output_after_kill'] else 'absent'} | {r['hidden']} / {r['hidden_after_resume']} | "
                f"{r['ok']} |" for r in v], ""]
    g = res["gatys"]
    lines += ["## Gatys (96 px, --save-every 5)", "",
              "| killed after iteration | last snapshot | iterations lost | output after kill | ok |",
              "|---:|---:|---:|---|---|",
              *[f"| {r['killed_after_iteration']} | {r['last_snapshot']} | {r['iterations_lost']} | "
                f"{'present' if r['output_after_kill'] else 'absent'} | {r['ok']} |" for r in g], "",
              ("Gatys has no --resume: a continuation starts from the last snapshot (--init SNAPSHOT) with a fresh "
              "optimiser state, so at most one --save-every interval of iterations is lost."), ""]
    lines += ["## A full disk (1 MiB tmpfs)", ""]
    if isinstance(res["full_disk"], str):
        lines.append(res["full_disk"])
    else:
        lines += [f"- {r['job']}: exit {r['exit']}, \"{' '.join(r['message'])}\""
                  + (f", previous output intact: {r['previous_intact']}" if "previous_intact" in r else "")
                  + f"; left: {r['left'][0]} (hidden: {r['left'][1]})" for r in res["full_disk"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--out", default="benchmarks/results/faults.md")
    p.add_argument("--load", default="under load (a shared 2-core machine)")
    args = p.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="atelier-faults-") as tmp:
        root = Path(tmp)
        inp = make_inputs(root / "inputs")
        res = {"trials": args.trials}
        for name, fn in (("training", trial_training), ("video", trial_video), ("gatys", trial_gatys)):
            res[name] = []
            for i in range(args.trials):
                d = root / f"{name}-{i}"
                d.mkdir()
                res[name].append(fn(d, inp, rng))
                print(name, json.dumps(res[name][-1]), flush=True)
        res["full_disk"] = full_disk(inp)
        print(json.dumps(res["full_disk"], indent=1))
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown")
    Path(args.out).write_text(markdown(res, cpu, args.load), encoding="utf-8")
    print(f"Wrote {args.out}")
    return 0 if all(r["ok"] for k in ("training", "video", "gatys") for r in res[k]) else 1


if __name__ == "__main__":
    sys.exit(main())
