"""The shared trainer (steps, time budget, checkpoints, resume, Ctrl-C, events), the Johnson trainer and
``atelier train``. Tiny by construction: 8-32 px, a few steps, a random-weight VGG except in the CLI run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import atelier
from atelier.cli import main
from atelier.engine import checkpoint as ckpt
from atelier.engine.train import train
from atelier.errors import InputError, Interrupted, OptionError, OutputError
from atelier.events import Done, Progress, Stage
from atelier.features import get_vgg19
from atelier.losses import PerceptualLoss
from atelier.methods.johnson.model import TransformerNet
from atelier.methods.johnson.train import train as train_johnson
from atelier.methods.johnson.train_config import JohnsonTrainConfig
from atelier.paths import checkpoint_path

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------ the shared trainer


class Stream:
    """A seeded batch iterator with a position, like engine.data's BatchStream."""

    def __init__(self, generator):
        self.generator, self.n = generator, 0

    def __iter__(self):
        return self

    def __next__(self):
        self.n += 1
        return torch.rand(2, 3, 8, 8, generator=self.generator)

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = state["n"]


def setup(seed=0, optimizer_class=torch.optim.Adam):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Conv2d(3, 3, 3, padding=1)
    gen = torch.Generator().manual_seed(seed)
    return model, optimizer_class(model.parameters(), lr=1e-2), Stream(gen), gen


def mirror_step(model):
    def step_fn(batch):
        mse = F.mse_loss(model(batch), batch.flip(-1))
        return {"mse": mse, "total": mse}

    return step_fn


def run(path, steps, resume=False, step_fn=None, optimizer_class=torch.optim.Adam, **kw):
    model, opt, stream, gen = setup(optimizer_class=optimizer_class)
    result = train(model=model, optimizer=opt, step_fn=step_fn or mirror_step(model), batches=stream, steps=steps,
                   generator=gen, checkpoint_path=path, checkpoint_info={"method": "test", "arch": {}, "config": {}},
                   resume=resume, **kw)
    return model, opt, result


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_resume_gives_exactly_the_uninterrupted_weights(tmp_path):
    full, full_opt, result = run(tmp_path / "a.ckpt.safetensors", 6, checkpoint_every=4)
    assert result.steps == 6 and result.stopped_by == "steps" and len(result.history) == 6
    assert ckpt.read(tmp_path / "a.ckpt.safetensors")[1]["step"] == 6  # the end always writes one
    run(tmp_path / "b.ckpt.safetensors", 3)
    resumed, resumed_opt, result = run(tmp_path / "b.ckpt.safetensors", 6, resume=True)
    assert result.steps == 6 and result.session_steps == 3
    assert_same_weights(full, resumed)
    assert torch.equal(full_opt.state_dict()["state"][0]["exp_avg"], resumed_opt.state_dict()["state"][0]["exp_avg"])
    # Already at the requested steps: nothing more is done.
    again, _, result = run(tmp_path / "b.ckpt.safetensors", 6, resume=True)
    assert result.session_steps == 0
    assert_same_weights(full, again)


def test_ctrl_c_saves_the_last_completed_step_and_resumes_exactly(tmp_path):
    full, _, _ = run(tmp_path / "full.safetensors", 6)
    calls = []

    def interrupted_step(model):
        inner = mirror_step(model)

        def step_fn(batch):  # Ctrl-C while computing step 4 (its batch was already drawn)
            calls.append(1)
            if len(calls) == 4:
                raise KeyboardInterrupt
            return inner(batch)

        return step_fn

    model, opt, stream, gen = setup()
    path = tmp_path / "c.ckpt.safetensors"
    with pytest.raises(Interrupted, match="step 3.*--resume") as err:
        train(model=model, optimizer=opt, step_fn=interrupted_step(model), batches=stream, steps=6, generator=gen,
              checkpoint_path=path, checkpoint_info={"method": "test"})
    assert err.value.partial.steps == 3 and err.value.partial.stopped_by == "interrupt"
    assert ckpt.read(path)[1]["step"] == 3
    resumed, _, _ = run(path, 6, resume=True)
    assert_same_weights(full, resumed)


def test_ctrl_c_during_the_weight_update_finishes_that_step_first(tmp_path):
    full, _, _ = run(tmp_path / "full.safetensors", 5)

    class SignalledAdam(torch.optim.Adam):
        count = 0

        def step(self, closure=None):
            SignalledAdam.count += 1
            if SignalledAdam.count == 2:
                os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the update
                time.sleep(0.01)
            return super().step(closure)

    path = tmp_path / "d.ckpt.safetensors"
    with pytest.raises(Interrupted):
        run(path, 5, optimizer_class=SignalledAdam)
    assert ckpt.read(path)[1]["step"] == 2  # the update in progress was completed and counted
    resumed, _, _ = run(path, 5, resume=True)
    assert_same_weights(full, resumed)


def test_time_budget_stops_cleanly_and_checkpoints(tmp_path, monkeypatch):
    """With a budget of 0.45 s and steps of 0.1 s (a fake clock that only the steps advance), the trainer
    stops before the step that would exceed the budget: after exactly 4 steps."""
    from types import SimpleNamespace

    from atelier.engine import train as engine_train

    now = [1000.0]
    monkeypatch.setattr(engine_train, "time", SimpleNamespace(perf_counter=lambda: now[0]))

    def timed_step(model):
        inner = mirror_step(model)

        def step_fn(batch):
            now[0] += 0.1
            return inner(batch)

        return step_fn

    model, opt, stream, gen = setup()
    path = tmp_path / "t.ckpt.safetensors"
    events = []
    result = train(model=model, optimizer=opt, step_fn=timed_step(model), batches=stream, minutes=0.45 / 60,
                   generator=gen, checkpoint_path=path, callback=events.append)
    assert result.stopped_by == "time" and result.steps == result.session_steps == 4
    assert result.seconds == pytest.approx(0.4)
    assert ckpt.read(path)[1]["step"] == 4
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.iteration for p in progress] == [1, 2, 3, 4]
    # With only a budget, the planned total is estimated from the step time: 4 steps fit in 0.45 s.
    assert progress[-1].total_iterations == 4 and progress[-1].eta == pytest.approx(0.05)


def test_events_losses_eta_and_previews(tmp_path):
    events = []
    model, opt, stream, gen = setup()
    train(model=model, optimizer=opt, step_fn=mirror_step(model), batches=stream, steps=5, generator=gen,
          preview_fn=lambda: model(torch.ones(1, 3, 8, 8)), preview_every=2, callback=events.append, size=(8, 8))
    assert isinstance(events[0], Stage) and events[0].iterations == 5 and events[0].size == (8, 8)
    assert isinstance(events[-1], Done) and events[-1].iterations == 5
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.iteration for p in progress] == [1, 2, 3, 4, 5]
    assert all(p.total_iterations == 5 and set(p.losses) == {"mse", "total"} for p in progress)
    assert all(p.eta is not None and p.eta >= 0 for p in progress) and progress[-1].eta == 0
    assert [p.iteration for p in progress if p.image is not None] == [2, 4]
    assert progress[1].image.shape == (1, 3, 8, 8) and not progress[1].image.requires_grad


def test_trainer_errors(tmp_path):
    model, opt, stream, _ = setup()
    with pytest.raises(OptionError, match="no checkpoint"):
        train(model=model, optimizer=opt, step_fn=mirror_step(model), batches=stream, steps=2,
              checkpoint_path=tmp_path / "none.safetensors", resume=True)
    with pytest.raises(OptionError, match="steps or a time budget"):
        train(model=model, optimizer=opt, step_fn=mirror_step(model), batches=stream)

    def nan_step(batch):
        return {"total": model(batch).sum() * float("nan")}

    with pytest.raises(OptionError, match="learning rate"):
        train(model=model, optimizer=opt, step_fn=nan_step, batches=stream, steps=3)


# ------------------------------------------------------------------------------------------- Johnson


def test_batched_content_targets_are_per_item():
    vgg = get_vgg19(weights="random")
    loss = PerceptualLoss(vgg, content_layers=["relu2_2"], style_layers=["relu1_2"])
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert float(loss(x, content=x)["content"]) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(x.flip(0), content=x)["content"]) > 0.1  # each item compared with its own photo
    with pytest.raises(RuntimeError, match="no targets"):
        loss(x)


def _photos(root, n=3, size=40):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size + 8 * i, 3), dtype=np.uint8)).save(root / f"p{i}.png")
    return root


@pytest.fixture
def inputs(tmp_path):
    data = _photos(tmp_path / "photos")
    style = tmp_path / "style.png"
    Image.fromarray(np.random.default_rng(9).integers(0, 256, (36, 44, 3), dtype=np.uint8)).save(style)
    return style, data


TINY = dict(size=32, batch_size=2, style_size=32, weights="random", precision="fp32", checkpoint_every=0,
            preview_every=0)


def test_johnson_loss_decreases_on_a_fixed_batch():
    vgg = get_vgg19(weights="random")
    loss = PerceptualLoss(vgg, content_layers=["relu2_2"], style_layers=["relu1_2", "relu2_2"], style_weight=10.0)
    gen = torch.Generator().manual_seed(0)
    loss.set_styles([loss.style_grams(torch.rand(1, 3, 32, 32, generator=gen))], [1.0])
    net = TransformerNet.from_arch("compact")
    x = torch.rand(2, 3, 32, 32, generator=gen)
    result = train(model=net, optimizer=torch.optim.Adam(net.parameters(), lr=1e-2),
                   step_fn=lambda b: loss(net(b), content=b), batches=iter(lambda: x, None), steps=20)
    first, last = np.mean(result.history[:3]), np.mean(result.history[-3:])
    assert last < 0.7 * first, (first, last)


def test_johnson_training_writes_a_model_and_resumes_exactly(inputs, tmp_path):
    style, data = inputs
    out = tmp_path / "full.safetensors"
    summary = train_johnson(style, data, out, config=JohnsonTrainConfig(steps=4, **TINY))
    assert summary["steps"] == 4 and summary["checkpoint"] == checkpoint_path(out)
    state, header = ckpt.load_model(out, method="johnson")
    card = header["card"]
    assert header["kind"] == "model" and card["style"] == "style.png" and card["steps"] == 4
    assert card["data"]["images"] == 3 and card["parameters"] == sum(v.numel() for v in state.values())
    assert header["config"]["size"] == 32 and header["arch"] == TransformerNet.from_arch("compact").arch

    half = tmp_path / "half.safetensors"
    train_johnson(style, data, half, config=JohnsonTrainConfig(steps=2, **TINY))
    train_johnson(style, data, half, config=JohnsonTrainConfig(steps=4, **TINY), resume=True)
    a, b = ckpt.read(checkpoint_path(out))[0], ckpt.read(checkpoint_path(half))[0]
    for k in a:
        if k.startswith("model/"):
            assert torch.equal(a[k], b[k]), k
    assert ckpt.load_model(half)[1]["card"]["steps"] == 4


def test_johnson_init_starts_a_new_run_from_a_trained_model(inputs, tmp_path):
    """--init MODEL: the network starts from MODEL's weights (with a vanishing learning rate it stays there),
    the card says so; another method's model or another architecture is refused in one sentence."""
    style, data = inputs
    first = tmp_path / "first.safetensors"
    train_johnson(style, data, first, config=JohnsonTrainConfig(steps=3, **TINY))
    tuned = tmp_path / "tuned.safetensors"
    summary = train_johnson(style, data, tuned, config=JohnsonTrainConfig(steps=1, lr=1e-12, init=str(first),
                                                                           content_weight=2.0, **TINY))
    assert summary["card"]["initialised_from"] == {"file": "first.safetensors", "method": "johnson", "steps": 3}
    a, b = ckpt.load_model(first)[0], ckpt.load_model(tuned)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    fresh = tmp_path / "fresh.safetensors"
    train_johnson(style, data, fresh, config=JohnsonTrainConfig(steps=1, lr=1e-12, **TINY))
    assert not all(torch.equal(a[k], v) for k, v in ckpt.load_model(fresh)[0].items())
    with pytest.raises(OptionError, match="another architecture"):
        train_johnson(style, data, tmp_path / "p.safetensors",
                      config=JohnsonTrainConfig(steps=1, arch="paper", init=str(first), **TINY))
    with pytest.raises(OptionError, match="no model file or installed model"):
        train_johnson(style, data, tmp_path / "q.safetensors",
                      config=JohnsonTrainConfig(steps=1, init=str(tmp_path / "none.safetensors"), **TINY))


def test_johnson_refuses_bad_outputs_before_any_work(inputs, tmp_path):
    style, data = inputs
    cfg = JohnsonTrainConfig(steps=1, **TINY)
    with pytest.raises(OutputError, match=r"\.safetensors"):
        train_johnson(style, data, tmp_path / "m.pt", config=cfg)
    existing = tmp_path / "m.safetensors"
    existing.write_bytes(b"keep")
    with pytest.raises(OutputError, match="already exists"):
        train_johnson(style, data, existing, config=cfg)
    assert existing.read_bytes() == b"keep"
    with pytest.raises(OptionError, match="no checkpoint"):
        train_johnson(style, data, tmp_path / "new.safetensors", config=cfg, resume=True)
    with pytest.raises(InputError, match="does not exist"):
        train_johnson(tmp_path / "nope.png", data, tmp_path / "new.safetensors", config=cfg)
    assert not list(tmp_path.glob("new*"))


def test_trainer_registry_and_public_api(inputs, tmp_path):
    assert "johnson" in atelier.list_trainers()
    assert atelier.trainer_spec("johnson").config_class is JohnsonTrainConfig
    with pytest.raises(OptionError, match="trainable methods: adain, .*johnson, sanet"):
        atelier.trainer_spec("gatys")
    with pytest.raises(OptionError, match="Unknown option"):
        atelier.train("johnson", *inputs, tmp_path / "m.safetensors", iterations=3)
    style, data = inputs
    summary = atelier.train("johnson", style, [data], tmp_path / "m.safetensors", steps=1, **TINY)
    assert summary["output"].is_file() and summary["steps"] == 1


@pytest.mark.parametrize("method, options, sentence", [
    ("johnson", {"size": 30}, "--size must be a multiple of 4 and at least 16, not 30."),
    ("adain", {"size": 20}, "--size must be a multiple of 16 and at least 32, not 20."),
    ("sanet", {"identity1_weight": -1.0}, "--identity1-weight must be 0 or more, not -1."),
])
def test_out_of_range_training_options_are_refused_when_the_config_is_made(method, options, sentence, tmp_path):
    # the declared range is checked by make_config, before the (missing) style and photos are looked at
    with pytest.raises(OptionError, match="^" + re.escape(sentence) + "$"):
        atelier.train(method, tmp_path / "no-style", tmp_path / "no-photos", tmp_path / "m.safetensors", **options)
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("argv", [["train", "--help"], ["train", "johnson", "--help"]])
def test_train_help_does_not_import_torch(argv):
    code = ("import sys\nfrom atelier.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nprint('ok')")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "--style-strength" in proc.stdout and proc.stdout.strip().endswith("ok")


CLI_TINY = ["--size", "32", "--style-size", "32", "--batch-size", "2", "--precision", "fp32", "-q"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, err, *words):
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("atelier")]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]


def test_cli_trains_a_loadable_model_with_preview_and_resumes(inputs, tmp_path, capsys):
    style, data = inputs
    out = tmp_path / "models" / "tiny.safetensors"
    code, stdout, err = run_cli(capsys, "train", "johnson", "--style", style, "--data", data, "-o", out, *CLI_TINY,
                                "--steps", 2, "--preview-every", 1, "--checkpoint-every", 1)
    assert code == 0, err
    assert str(out) in stdout
    state, header = ckpt.load_model(out, method="johnson")
    net = TransformerNet.from_arch(header["arch"])
    net.load_state_dict(state)
    with torch.no_grad():
        y = net(torch.rand(1, 3, 20, 28))
    assert y.shape == (1, 3, 20, 28) and 0 <= float(y.min()) and float(y.max()) <= 1
    assert header["card"]["steps"] == 2 and header["config"]["precision"] == "fp32"
    preview = out.with_name("tiny.preview.png")
    assert Image.open(preview).size == (32, 32)  # the first photo (40x40), short side = --size

    before = out.read_bytes()
    code, _, err = run_cli(capsys, "train", "johnson", "--style", style, "--data", data, "-o", out, *CLI_TINY)
    assert_user_error(code, err, "already exists", "--resume")
    assert out.read_bytes() == before
    code, _, err = run_cli(capsys, "train", "--style", style, "--data", data, "-o", out, *CLI_TINY, "--resume",
                           "--steps", 3)
    assert code == 0, err
    assert ckpt.load_model(out)[1]["card"]["steps"] == 3
    assert json.loads(json.dumps(ckpt.read(checkpoint_path(out))[1]))["step"] == 3


def test_cli_user_errors_exit_2_and_write_nothing(inputs, tmp_path, capsys):
    style, data = inputs
    out = tmp_path / "o" / "m.safetensors"
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "train", "--style", tmp_path / "missing.png", "--data", data, "-o", out, *CLI_TINY)
    assert_user_error(code, err, "does not exist")
    code, _, err = run_cli(capsys, "train", "--style", style, "--data", empty, "-o", out, *CLI_TINY)
    assert_user_error(code, err, "no image files")
    code, _, err = run_cli(capsys, "train", "--style", style, "--data", data, "-o", data / "m.safetensors",
                           *CLI_TINY)
    assert_user_error(code, err, "inside the training folder")
    fake = tmp_path / "style.safetensors"
    fake.write_bytes(style.read_bytes())
    code, _, err = run_cli(capsys, "train", "--style", fake, "--data", data, "-o", fake, *CLI_TINY)
    assert_user_error(code, err, "one of the inputs")
    code, _, err = run_cli(capsys, "train", "nope", "--style", style, "--data", data, "-o", out)
    assert_user_error(code, err, "trainable methods")
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(data), "-o", str(out)])
    assert exc.value.code == 2 and "--style" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and sorted(p.name for p in data.iterdir()) == ["p0.png", "p1.png", "p2.png"]


def test_cli_ctrl_c_keeps_a_checkpoint_and_resume_writes_the_model(inputs, tmp_path, capsys, monkeypatch):
    from atelier.cli import train as cli_train

    class CtrlCAtStep2:  # stands in for the progress bar; the user presses Ctrl-C after step 2
        def __init__(self, **_):
            pass

        def __call__(self, event):
            if isinstance(event, Progress) and event.iteration == 2:
                raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(cli_train, "ProgressPrinter", CtrlCAtStep2)
    style, data = inputs
    out = tmp_path / "m.safetensors"
    code, _, err = run_cli(capsys, "train", "--style", style, "--data", data, "-o", out, *CLI_TINY, "--steps", 50)
    assert code == 130 and "step 2" in err and "--resume --steps 2" in err
    assert not out.exists() and ckpt.read(checkpoint_path(out))[1]["step"] == 2
    monkeypatch.undo()
    code, _, err = run_cli(capsys, "train", "--style", style, "--data", data, "-o", out, *CLI_TINY, "--resume",
                           "--steps", 2)
    assert code == 0, err
    assert ckpt.load_model(out)[1]["card"]["steps"] == 2


def test_sigterm_stops_a_background_training_with_its_checkpoint(inputs, tmp_path):
    """``kill PID`` of a job started with '&' (which ignores Ctrl-C's SIGINT) saves the checkpoint and exits
    like Ctrl-C, instead of losing the steps since the last checkpoint."""
    style, data = inputs
    out = tmp_path / "m.safetensors"
    background = ("import signal, sys\nsignal.signal(signal.SIGINT, signal.SIG_IGN)  # as '&' starts it\n"
                  "from atelier.cli import main\nsys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen(
        [sys.executable, "-c", background, "train", "--style", str(style), "--data", str(data), "-o", str(out),
         *CLI_TINY, "--steps", "100000", "--checkpoint-every", "1"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not checkpoint_path(out).exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert checkpoint_path(out).exists(), "no checkpoint appeared"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Training interrupted at step" in err and "--resume" in err and "Traceback" not in err
    assert ckpt.read(checkpoint_path(out))[1]["step"] >= 1


@pytest.mark.parametrize("options, words", [
    ({"steps": 0}, "--steps or --minutes"),
    ({"size": 30}, "multiple of 4"),
    ({"arch": "huge"}, "compact, paper"),
    ({"lr": 0.0}, "--lr"),
    ({"max_scale": 0.5}, "--max-scale"),
])
def test_training_config_rejects_values_that_cannot_work(options, words):
    with pytest.raises(OptionError, match=words):
        JohnsonTrainConfig(**options).validate()
    JohnsonTrainConfig(steps=0, minutes=1.0).validate()  # a time budget alone is an end


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_with_native_bf16(native, monkeypatch):
    from atelier.devices import resolve_precision

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == (torch.bfloat16 if native else torch.float32)
    assert resolve_precision("fp32", cpu) == torch.float32 and resolve_precision("bf16", cpu) == torch.bfloat16
