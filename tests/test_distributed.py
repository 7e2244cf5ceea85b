"""Training on several processes (torchrun, DistributedDataParallel over gloo on loopback).

Two ranks on half-batches must give the weights of one process on the whole batch; rank 0 alone reports and
writes; a signal received by one rank stops both after the same step; a checkpoint of two ranks resumes in
one process. Tiny network and images, so each test takes seconds (most of it starting the processes).

Every wait is bounded: the ranks' collectives time out (ATELIER_DIST_TIMEOUT), the ranks print their stacks
and exit if they are still running after DEADLINE, and the test kills what is left and fails with what they
printed (a CI run once waited here until its own time limit).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from atelier.engine import checkpoint as ckpt
from atelier.engine.data import ImageFolderData
from atelier.engine.distributed import global_mean
from atelier.engine.train import train
from atelier.errors import Interrupted
from atelier.methods.johnson.model import TransformerNet
from atelier.paths import checkpoint_path

DEADLINE = 240  # seconds for a whole multi-process run (seconds on an idle machine, < 1 min under load)
ENV = {"ATELIER_DIST_TIMEOUT": "120"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _photos(folder, n=5):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng(i)
        Image.fromarray(rng.integers(0, 256, (20 + 2 * i, 24, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return folder


def _toy(seed=0):
    """A tiny image-to-image network with instance norm (per sample, like johnson's and the decoders')."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.InstanceNorm2d(6, affine=True), nn.ReLU(),
                             nn.Conv2d(6, 3, 3, padding=1))


def _run(folder, path, steps, *, resume=False, callback=None, step_hook=None):
    """SGD with momentum (so a wrongly scaled gradient shows, unlike Adam), batches of 4 16 px crops; the
    loss is a mean over samples divided by a statistic of the whole batch (``global_mean``)."""
    model = _toy()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    batches = ImageFolderData(folder, 16, max_scale=1.25).batches(4, 3)
    calls = []

    def step_fn(x):
        calls.append(1)
        if step_hook:
            step_hook(len(calls))
        loss = F.mse_loss(model(x), x.flip(-1)) / global_mean(x.pow(2).mean())
        return {"total": loss}

    result = train(model=model, optimizer=opt, step_fn=step_fn, batches=batches, steps=steps,
                   checkpoint_path=path, checkpoint_every=1, checkpoint_info={"method": "toy"}, resume=resume,
                   callback=callback, preview_fn=lambda: model(torch.zeros(1, 3, 16, 16)), preview_every=1)
    return model, result


def _count_wrappers_alive_at_destroy() -> list[int]:
    """How many of the training's DDP wrappers are still alive each time the process group is destroyed
    (their gloo teardown after the group's hung a rank once: the trainer drops them first)."""
    import weakref

    from atelier.engine import distributed

    made, alive = [], []
    wrap, destroy = distributed.data_parallel_step, torch.distributed.destroy_process_group

    def tracked_wrap(*args, **kwargs):
        wrapper = wrap(*args, **kwargs)
        made.append(weakref.ref(wrapper))
        return wrapper

    def tracked_destroy(*args, **kwargs):
        alive.append(sum(ref() is not None for ref in made))
        return destroy(*args, **kwargs)

    distributed.data_parallel_step, torch.distributed.destroy_process_group = tracked_wrap, tracked_destroy
    return alive


def _rank_worker(rank, world, port, port2, tmp):
    """One rank (started by torch.multiprocessing.spawn): the 2-step run, then a run that rank 1 stops (on a
    port of its own: the first run's store may still hold the first port, and a rank that met the old store
    waited for ever once, under load)."""
    faulthandler.dump_traceback_later(DEADLINE - 30, exit=True)  # stacks in the test's output, not a hang
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), **ENV)
    from pathlib import Path

    tmp = Path(tmp)
    alive_at_destroy = _count_wrappers_alive_at_destroy()
    events = []
    model, result = _run(tmp / "photos", tmp / "two.ckpt.safetensors", 2, callback=events.append)
    torch.save(model.state_dict(), tmp / f"weights{rank}.pt")

    def sigterm_on_rank_1(call):  # rank 1 alone gets SIGTERM in the middle of step 3
        if rank == 1 and call == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    os.environ["MASTER_PORT"] = str(port2)
    kept: list = []
    try:
        _run(tmp / "photos", tmp / "stopped.ckpt.safetensors", 50, step_hook=sigterm_on_rank_1)
        stopped = None
    except Interrupted as err:
        # kept: releasing the traceback (it holds the DDP wrapper and gloo's buffers) hung once in a fresh
        # clone's run, in gloo's teardown after the group was destroyed; the rank exits without it below.
        stopped = err.partial.steps
        kept.append(err)
    (tmp / f"rank{rank}.json").write_text(json.dumps({"events": len(events), "steps": result.steps,
                                                      "losses": result.history,
                                                      "stopped_at": stopped, "threads": torch.get_num_threads(),
                                                      "alive_at_destroy": alive_at_destroy}))
    os._exit(0)  # the results are written; skip the interpreter's teardown of torch's distributed state


def test_two_ranks_on_half_batches_give_the_weights_of_one_process_and_resume_alone(tmp_path):
    photos = _photos(tmp_path / "photos")
    ports = _free_port(), _free_port()
    while ports[1] == ports[0]:
        ports = ports[0], _free_port()
    context = torch.multiprocessing.start_processes(_rank_worker, args=(2, *ports, str(tmp_path)), nprocs=2,
                                                    join=False, start_method="spawn")
    deadline = time.monotonic() + DEADLINE
    while not context.join(timeout=5):  # raises if a rank failed (with its traceback)
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"The two ranks did not finish within {DEADLINE} s.")
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]

    one, alone = _run(photos, tmp_path / "one.ckpt.safetensors", 2)
    for r in (0, 1):
        two = torch.load(tmp_path / f"weights{r}.pt")
        for k, v in one.state_dict().items():
            torch.testing.assert_close(two[k], v, rtol=1e-5, atol=1e-6, msg=k)
    assert not torch.equal(one[0].weight, _toy()[0].weight)  # the steps did change the weights

    # Rank 0 alone reports (Stage, 2 Progress with previews, Done); rank 1 is silent.
    assert ranks[0]["events"] == 4 and ranks[1]["events"] == 0
    assert ranks[0]["steps"] == ranks[1]["steps"] == 2
    # The losses reported are the whole batch's (averaged over the ranks), as one process reports them.
    for r in (0, 1):
        assert ranks[r]["losses"] == pytest.approx(alone.history, rel=1e-5)
    assert ranks[0]["threads"] >= 1  # cores / 2 ranks on this machine
    # SIGTERM on rank 1 during step 3: that step is finished on both, then both stop with a checkpoint.
    assert ranks[0]["stopped_at"] == ranks[1]["stopped_at"] == 3
    assert ckpt.read(tmp_path / "stopped.ckpt.safetensors")[1]["step"] == 3
    # Both runs (the interrupted one too, whose exception the rank keeps) dropped their DDP wrapper before
    # the process group was destroyed.
    assert ranks[0]["alive_at_destroy"] == ranks[1]["alive_at_destroy"] == [0, 0]

    # The 2-rank checkpoint (step 2) resumes in one process: 2 + 1 steps = 3 uninterrupted steps.
    resumed, result = _run(photos, tmp_path / "two.ckpt.safetensors", 3, resume=True)
    assert result.steps == 3 and result.session_steps == 1
    three, _ = _run(photos, tmp_path / "three.ckpt.safetensors", 3)
    for k, v in three.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=1e-5, atol=1e-6, msg=k)


def test_global_mean_is_the_value_itself_in_one_process():
    x = torch.tensor(2.5, requires_grad=True)
    m = global_mean(x * 2)
    assert float(m) == 5.0 and not m.requires_grad


def _run_bounded(argv, env) -> subprocess.CompletedProcess:
    """``argv`` in a session of its own, killed with all its processes (torchrun's workers) after DEADLINE."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"torchrun did not finish within {DEADLINE} s; it printed:\n{out[-2000:]}\n{err[-4000:]}")
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


@pytest.fixture
def johnson_inputs(tmp_path):
    style = tmp_path / "style.png"
    Image.fromarray(np.random.default_rng(9).integers(0, 256, (36, 44, 3), dtype=np.uint8)).save(style)
    return style, _photos(tmp_path / "photos", 6)


def test_torchrun_trains_johnson_on_two_processes_and_one_process_resumes_it(johnson_inputs, tmp_path):
    """The command users run: ``torchrun --nproc-per-node 2 -m atelier train johnson``; the model, its
    checkpoint and its preview are written once, by rank 0, which alone prints; one process then continues
    the checkpoint to the weights of an uninterrupted one-process run."""
    import atelier

    style, data = johnson_inputs
    out = tmp_path / "two.safetensors"
    tiny = dict(size=32, style_size=32, batch_size=4, precision="fp32", checkpoint_every=1)
    argv = ["train", "johnson", "--style", str(style), "--data", str(data), "-o", str(out), "--steps", "2",
            "--preview-every", "2", *[f"--{k.replace('_', '-')}={v}" for k, v in tiny.items()]]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **ENV}
    run = _run_bounded([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
                        "--rdzv-backend", "c10d", f"--rdzv-endpoint=127.0.0.1:{_free_port()}", "-m", "atelier",
                        *argv], env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("Wrote ") == 1 and str(out) in run.stdout  # rank 0 alone reports
    assert out.is_file() and out.with_name("two.preview.png").is_file()
    header = ckpt.read(checkpoint_path(out))[1]
    assert header["step"] == 2 and header["extra"]["data"]["next"] == 8  # two global batches of 4

    atelier.train("johnson", style, data, out, resume=True, steps=3)
    atelier.train("johnson", style, data, tmp_path / "one.safetensors", steps=3, **tiny)
    # Compared by what the networks compute: the biases of the convolutions before an instance norm have a
    # true gradient of 0, so Adam turns their rounding noise into steps of +-lr, different in every run.
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    outputs = []
    for file in (checkpoint_path(out), checkpoint_path(tmp_path / "one.safetensors")):
        state, header = ckpt.load_model(file)
        assert header["step"] == 3
        net = TransformerNet.from_arch(header["arch"])
        net.load_state_dict({k: v for k, v in state.items() if not k.startswith("rng/")})
        with torch.no_grad():
            outputs.append(net(x))
    # 3e-3: the same sign noise reaches other near-zero gradients too; with 2 threads in the one-process run
    # (CI) against 1 per rank, the sums' order differs and the outputs moved by up to 9e-4 (1e-4 failed once).
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-2, atol=3e-3)
    first = TransformerNet.from_arch(header["arch"])
    with torch.no_grad():
        assert (first(x) - outputs[1]).abs().max() > 1e-2  # the training steps changed the output


@pytest.mark.parametrize("env, threads", [
    ({"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}, "cores/2"),  # torchrun's default 1 is replaced
    ({"LOCAL_WORLD_SIZE": "1"}, "cores"),
    ({"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "3"}, 3),  # the user's own value is kept
    ({"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "3", "ATELIER_NUM_THREADS": "1"}, 1),
])
def test_threads_per_process(env, threads, monkeypatch):
    from atelier.engine import distributed

    for name in ("LOCAL_WORLD_SIZE", "OMP_NUM_THREADS", "ATELIER_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(distributed, "usable_cores", lambda: 8)
    expected = {"cores/2": 4, "cores": 8}.get(threads, threads)
    assert distributed.threads_per_process() == expected


def test_without_torchrun_variables_there_is_one_process(monkeypatch):
    from atelier.engine import distributed

    monkeypatch.setenv("RANK", "1")  # a stray variable alone does not make a launch
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    assert not distributed.launched() and distributed.rank() == 0 and distributed.world_size() == 1
    assert distributed.is_main() and distributed.any_rank(True, False) == (True, False)
    with distributed.process_group(torch.device("cpu")) as shared:
        assert shared is False and not torch.distributed.is_initialized()


@pytest.mark.parametrize("master, preset, expected", [
    ("127.0.0.1", None, "lo"),  # every rank here: gloo on the loopback interface
    ("localhost", None, "lo"),
    ("192.0.2.7", None, None),  # another machine: gloo's own choice
    ("127.0.0.1", "eth7", "eth7"),  # the user's choice is kept
])
def test_ranks_on_this_machine_talk_over_loopback(master, preset, expected, monkeypatch):
    from atelier.engine import distributed

    monkeypatch.setenv("MASTER_ADDR", master)
    monkeypatch.delenv("GLOO_SOCKET_IFNAME", raising=False)
    if preset:
        monkeypatch.setenv("GLOO_SOCKET_IFNAME", preset)
    monkeypatch.setattr(socket, "if_nameindex", lambda: [(1, "lo"), (2, "eth0")])
    distributed._gloo_on_loopback_when_local()
    assert os.environ.get("GLOO_SOCKET_IFNAME") == expected


@pytest.mark.parametrize("value, seconds", [("90", 90.0), ("0.5", 0.5), (None, None), ("0", None),
                                            ("nan", None), ("soon", None)])
def test_the_wait_for_other_ranks_is_bounded_by_atelier_dist_timeout(value, seconds, monkeypatch, caplog):
    from atelier.engine import distributed

    monkeypatch.delenv("ATELIER_DIST_TIMEOUT", raising=False)
    if value is not None:
        monkeypatch.setenv("ATELIER_DIST_TIMEOUT", value)
    timeout = distributed._timeout()
    assert (None if timeout is None else timeout.total_seconds()) == seconds
    assert ("not a positive number of seconds" in caplog.text) == (value in ("0", "nan", "soon"))
