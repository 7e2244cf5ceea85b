"""CycleGAN: networks, the one-step alternating update, training (resume, Ctrl-C, bad files), stylising in
both directions (API, CLI, video), export, refusals. Tiny settings: 32 px crops, ngf 4, a few steps."""

from __future__ import annotations

import copy
import json
import logging
import re

import numpy as np
import pytest
import torch
from PIL import Image

import atelier
from atelier.cli import main
from atelier.engine import checkpoint as ckpt
from atelier.errors import Interrupted, OptionError, WeightsError
from atelier.methods.cyclegan import train as cg_train
from atelier.methods.cyclegan.model import (
    SIZES,
    CycleGANTrainer,
    GeneratorPair,
    ImagePool,
    PatchDiscriminator,
    generator_arch,
)
from atelier.methods.cyclegan.train import linear_decay, lsgan, make_step

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(crop=32, ngf=4, blocks=1, ndf=4, pool_size=2, checkpoint_every=2, preview_every=0)


def _image(path, seed, h=40, w=48):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, (1, 1, 3)) * np.ones((h, w, 3))
    Image.fromarray(np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def domains(tmp_path):
    """Two folders of 3 small images each (photos, paintings)."""
    out = []
    for k, name in enumerate(("photos", "paintings")):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(3):
            _image(folder / f"{i}.png", 10 * k + i)
        out.append(folder)
    return out


def _train(domains, output, **options):
    a, b = domains
    return atelier.train("cyclegan", b, a, output, **{**TINY, **options})


def _weights(path):
    return ckpt.read(path)[0]


def _same(x: dict, y: dict):
    assert x.keys() == y.keys()
    for k, v in x.items():
        assert torch.equal(v, y[k]), k


# ------------------------------------------------------------------------------------------- networks

def test_generator_and_patchgan_shapes_and_the_paper_size():
    gen = GeneratorPair(generator_arch(4, 1))
    x = torch.rand(1, 3, 37, 50)
    assert gen.a2b(x).shape == x.shape and gen.b2a(x).shape == x.shape  # any size round-trips
    with torch.no_grad():
        assert 0 <= float(gen.a2b(x).min()) and float(gen.a2b(x).max()) <= 1
    assert PatchDiscriminator(8)(torch.rand(2, 3, 64, 64)).shape == (2, 1, 6, 6)  # 70x70 patches of 64 px
    paper = GeneratorPair(generator_arch(SIZES["paper"]["ngf"], SIZES["paper"]["blocks"])).a2b
    n = sum(p.numel() for p in paper.parameters())
    # The reference ResnetGenerator (ngf 64, 9 blocks) has 11.378 M parameters; ours adds the norms' scales
    # and shifts (2 C per norm) and has a 3x3 resize-conv where it has a 3x3 transposed conv (same count).
    assert 11.378e6 < n < 11.40e6, n
    assert sum(p.numel() for p in PatchDiscriminator(64).parameters()) == pytest.approx(2.765e6, rel=1e-3)


def test_image_pool_fills_then_swaps_half_the_time_and_writes_only_on_commit():
    pool = ImagePool(2, 4)
    g = torch.Generator().manual_seed(0)
    x = [torch.full((1, 3, 4, 4), float(i)) for i in range(40)]
    assert torch.equal(pool.query(x[0], g), x[0])
    assert int(pool.count) == 0  # planned, not written
    pool.commit()
    assert int(pool.count) == 1 and torch.equal(pool.images[0], x[0][0])
    pool.query(x[1], g)
    pool.commit()
    assert int(pool.count) == 2
    old = 0
    for i in range(2, 40):
        out = pool.query(x[i], g)
        pool.commit()
        old += int(not torch.equal(out, x[i]))
        assert float(out.max()) <= i
    assert 10 < old < 29  # about half the queries return an earlier image
    assert torch.equal(ImagePool(0, 4).query(x[3], g), x[3])  # size 0: no pool


def test_one_adam_step_equals_the_reference_alternating_updates():
    """Our step (one backward, one Adam over G and D) gives the weights of the reference implementation's
    sequence: G step with D frozen, then D step on the same (detached) fakes."""
    torch.manual_seed(0)
    ours = CycleGANTrainer(generator_arch(4, 1), 4, pool_size=0, crop=32)
    ref = copy.deepcopy(ours)
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    cfg = atelier.trainer_spec("cyclegan").config_class()
    opt = torch.optim.Adam([{"params": ours.gen.parameters()},
                            {"params": [*ours.d_a.parameters(), *ours.d_b.parameters()]}], lr=2e-4, betas=(0.5, 0.999))
    for _ in range(2):
        opt.zero_grad()
        make_step(ours, cfg, None, False)(a, b)["total"].backward()
        opt.step()

    opt_g = torch.optim.Adam(ref.gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*ref.d_a.parameters(), *ref.d_b.parameters()], lr=2e-4, betas=(0.5, 0.999))
    pm = lambda t: 2 * t - 1
    l1 = lambda x, y: 2 * (x - y).abs().mean()
    for _ in range(2):
        fake_b, fake_a = ref.gen.a2b(a), ref.gen.b2a(b)
        ref.d_a.requires_grad_(False), ref.d_b.requires_grad_(False)
        opt_g.zero_grad()
        loss_g = (lsgan(ref.d_b(pm(fake_b)), True) + lsgan(ref.d_a(pm(fake_a)), True)
                  + 10 * (l1(ref.gen.b2a(fake_b), a) + l1(ref.gen.a2b(fake_a), b))
                  + 5 * (l1(ref.gen.a2b(b), b) + l1(ref.gen.b2a(a), a)))
        loss_g.backward()
        opt_g.step()
        ref.d_a.requires_grad_(True), ref.d_b.requires_grad_(True)
        opt_d.zero_grad()
        loss_d = 0.5 * (lsgan(ref.d_b(pm(b)), True) + lsgan(ref.d_b(pm(fake_b.detach())), False))
        loss_d = loss_d + 0.5 * (lsgan(ref.d_a(pm(a)), True) + lsgan(ref.d_a(pm(fake_a.detach())), False))
        loss_d.backward()
        opt_d.step()
    for (name, p), q in zip(ours.named_parameters(), ref.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), name


def test_learning_rate_is_constant_then_decays_linearly():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1.0)
    seen = []
    for _ in range(10):
        seen.append(linear_decay(opt, 2e-4, 10))
        p.grad = torch.ones(1)
        opt.step()
    assert seen[:5] == [2e-4] * 5
    assert seen[5:] == pytest.approx([2e-4 * f for f in (1.0, 0.8, 0.6, 0.4, 0.2)])
    assert linear_decay(opt, 2e-4, 0) == 2e-4  # --minutes only: constant


# ------------------------------------------------------------------------------------------- training

def test_training_writes_both_generators_with_a_card(domains, tmp_path):
    out = tmp_path / "m.safetensors"
    res = _train(domains, out, steps=2)
    assert set(res["losses"]) == {"G_A", "G_B", "D_A", "D_B", "cycle", "idt", "total"}
    tensors, header = ckpt.read(out)
    assert header["method"] == "cyclegan" and header["arch"]["kernel"] == 7
    assert {k.split(".")[0] for k in tensors} == {"a2b", "b2a"}  # no discriminators in the model file
    assert all(v.dtype == torch.float16 for v in tensors.values() if v.is_floating_point())
    card = header["card"]
    assert card["domains"] == {"a": {"folders": ["photos"], "images": 3}, "b": {"folders": ["paintings"],
                                                                              "images": 3}}
    assert card["steps"] == 2 and card["crop"] == 32 and card["training_seconds"] > 0
    state = ckpt.read(res["checkpoint"])[0]
    assert state["model/pool_a.images"].shape == (2, 3, 32, 32) and int(state["model/pool_b.count"]) == 2


def test_two_plus_two_resumed_steps_equal_four_bit_for_bit(domains, tmp_path):
    _train(domains, tmp_path / "full.safetensors", steps=4)
    _train(domains, tmp_path / "part.safetensors", steps=2)
    _train(domains, tmp_path / "part.safetensors", steps=4, resume=True)
    _same(_weights(tmp_path / "full.ckpt.safetensors"), _weights(tmp_path / "part.ckpt.safetensors"))
    _same(_weights(tmp_path / "full.safetensors"), _weights(tmp_path / "part.safetensors"))


def test_ctrl_c_inside_a_step_keeps_the_last_step_and_resumes_exactly(domains, tmp_path, monkeypatch):
    _train(domains, tmp_path / "full.safetensors", steps=4, checkpoint_every=0)
    calls = []
    real = make_step

    def interrupting(*args):
        step = real(*args)

        def wrapped(a, b):
            terms = step(a, b)  # the pools have planned their writes
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return terms

        return wrapped

    monkeypatch.setattr(cg_train, "make_step", interrupting)
    with pytest.raises(Interrupted, match="step 2"):
        _train(domains, tmp_path / "part.safetensors", steps=4, checkpoint_every=0)
    assert ckpt.read(tmp_path / "part.ckpt.safetensors")[1]["step"] == 2
    monkeypatch.setattr(cg_train, "make_step", real)
    _train(domains, tmp_path / "part.safetensors", steps=4, resume=True)
    _same(_weights(tmp_path / "full.ckpt.safetensors"), _weights(tmp_path / "part.ckpt.safetensors"))


def test_unreadable_file_is_skipped_with_one_warning(domains, tmp_path, caplog):
    (domains[1] / "broken.jpg").write_bytes(b"not a jpeg")
    with caplog.at_level(logging.WARNING):
        res = _train(domains, tmp_path / "m.safetensors", steps=6)
    warned = [r for r in caplog.records if "broken.jpg" in r.getMessage()]
    assert len(warned) == 1 and res["steps"] == 6
    assert res["card"]["domains"]["b"]["images"] == 3


def test_init_starts_the_generators_from_a_model(domains, tmp_path):
    first = tmp_path / "first.safetensors"
    _train(domains, first, steps=1)
    res = _train(domains, tmp_path / "second.safetensors", steps=1, init=str(first))
    assert res["card"]["initialised_from"] == {"file": "first.safetensors", "steps": 1}
    with pytest.raises(OptionError, match="other generators"):
        _train(domains, tmp_path / "third.safetensors", steps=1, init=str(first), ngf=8)


def test_cli_trains_with_previews_of_both_directions(domains, tmp_path, capsys):
    out = tmp_path / "cli.safetensors"
    code = main(["train", "cyclegan", "--domain-a", str(domains[0]), "--domain-b", str(domains[1]), "-o",
                 str(out), "--crop", "32", "--ngf", "4", "--blocks", "1", "--ndf", "4", "--steps", "2",
                 "--preview-every", "1", "-q"])
    assert code == 0 and out.is_file()
    preview = Image.open(tmp_path / "cli.preview.png")
    assert preview.size == (64, 64)  # rows A -> B and B -> A, each input | output
    assert "Wrote" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ stylising

@pytest.fixture
def model(domains, tmp_path):
    out = tmp_path / "model.safetensors"
    _train(domains, out, steps=1)
    return out


def test_stylize_both_directions_runs_the_models_generators(model, domains):
    photo = domains[0] / "0.png"
    x = atelier.load_image(photo)
    pair = GeneratorPair(ckpt.read(model)[1]["arch"])
    pair.load_state_dict(ckpt.load_model(model)[0])
    for direction in ("a2b", "b2a"):
        y = atelier.stylize(photo, method="cyclegan", model=str(model), direction=direction, output="tensor",
                            compile="off", precision="fp32")
        with torch.no_grad():
            assert torch.allclose(y, getattr(pair, direction)(x), atol=1e-5), direction
    a2b = atelier.run(photo, method="cyclegan", model=str(model))
    assert a2b.info["model"]["direction"] == "a2b" and a2b.info["model"]["card"]["steps"] == 1


def test_cli_stylizes_several_inputs_in_each_direction(model, domains, tmp_path):
    ins = [str(domains[0] / "0.png"), str(domains[0] / "1.png")]
    for direction in ("a2b", "b2a"):
        out = tmp_path / direction
        assert main(["stylize", *ins, "--method", "cyclegan", "--model", str(model), "--direction", direction,
                     "-o", str(out), "-q"]) == 0
        assert len(list(out.glob("*.png"))) == 2


def test_refusals_in_one_sentence(model, domains, tmp_path, capsys, monkeypatch, no_bundled_models):
    photo = domains[0] / "0.png"
    with pytest.raises(OptionError, match="style"):
        atelier.stylize(photo, domains[1] / "0.png", method="cyclegan", model=str(model))
    with pytest.raises(OptionError, match="masks"):
        atelier.stylize(photo, method="cyclegan", model=str(model), masks=[photo])
    with pytest.raises(OptionError, match="direction"):
        atelier.stylize(photo, method="cyclegan", model=str(model), direction="sideways")
    monkeypatch.setenv("ATELIER_HOME", str(tmp_path / "empty_home"))
    with pytest.raises(WeightsError, match="atelier train cyclegan"):
        atelier.stylize(photo, method="cyclegan")
    code = main(["stylize", str(photo), "--method", "cyclegan", "--model", str(model), "--refine", "5", "-o",
                 str(tmp_path / "r.png")])
    assert code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_export_of_each_direction_matches_torch(model, domains, tmp_path):
    pytest.importorskip("onnxruntime")
    from atelier.engine.inference import onnx_session, run_onnx

    pair = GeneratorPair(ckpt.read(model)[1]["arch"])
    pair.load_state_dict(ckpt.load_model(model)[0])
    x = torch.rand(1, 3, 36, 44, generator=torch.Generator().manual_seed(1))
    for direction in ("a2b", "b2a"):
        path = atelier.export_onnx(model, tmp_path / f"{direction}.onnx", direction=direction)
        session, header = onnx_session(path)
        assert header["direction"] == direction and header["method"] == "cyclegan"
        with torch.no_grad():
            assert float((run_onnx(session, x) - getattr(pair, direction)(x)).abs().max()) < 1e-3
    y = atelier.stylize(domains[0] / "0.png", method="cyclegan", model=str(tmp_path / "b2a.onnx"),
                        direction="b2a", output="tensor")
    assert y.shape[-2:] == (40, 48)
    with pytest.raises(OptionError, match="b2a generator only"):
        atelier.stylize(domains[0] / "0.png", method="cyclegan", model=str(tmp_path / "b2a.onnx"))
    with pytest.raises(OptionError, match="cyclegan model"):
        atelier.export_onnx("great_wave", tmp_path / "gw.onnx", direction="b2a")


def test_video_of_frames_through_the_temporal_blend(model, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        _image(frames / f"{i:04d}.png", 100 + i, 32, 40)
    res = atelier.stylize_video(frames, tmp_path / "out", method="cyclegan", model=str(model),
                                direction="b2a")
    assert len(sorted((tmp_path / "out").glob("*.png"))) == 3
    assert res is not None


def test_torchrun_trains_on_two_processes_and_one_process_resumes(domains, tmp_path):
    """The DDP path: both generators and discriminators in one DistributedDataParallel step, rank 0 writes;
    the checkpoint (made with 2 ranks) continues in one process."""
    import os
    import sys

    from test_distributed import ENV, _free_port, _run_bounded

    out = tmp_path / "two.safetensors"
    argv = ["train", "cyclegan", "--domain-a", str(domains[0]), "--domain-b", str(domains[1]), "-o", str(out),
            "--steps", "2", "--batch-size", "2", "--precision", "fp32",
            *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **ENV}
    run = _run_bounded([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
                        "--rdzv-backend", "c10d", f"--rdzv-endpoint=127.0.0.1:{_free_port()}", "-m", "atelier",
                        *argv], env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("Wrote ") == 1
    header = ckpt.read(tmp_path / "two.ckpt.safetensors")[1]
    assert header["step"] == 2 and header["extra"]["data"]["first"]["next"] == 4  # two global batches of 2
    res = _train(domains, out, steps=3, batch_size=2, precision="fp32", resume=True)
    assert res["steps"] == 3 and set(res["losses"]) >= {"G_A", "D_B"}


# ------------------------------------------------------------------------------------- bundled models

def _bundled_translations():
    from atelier import weights

    names = []
    for method in ("cyclegan", "cut"):
        manifest = weights.bundled_dir().parent / method / "manifest.json"
        if manifest.is_file():
            names += [(method, e["name"]) for e in json.loads(manifest.read_text())["models"]]
    return names


@pytest.mark.parametrize("method, name", _bundled_translations())
def test_bundled_translation_model_is_small_credited_and_translates(method, name):
    """Each bundled translation model (benchmarks/cyclegan_bundle.py): found by name (SHA-256 checked), a fp16
    file of at most 10 MB whose card names its data packages with licences, its training and its KID; run
    without --model, it changes the embedded photo visibly and keeps its layout."""
    from atelier.ops import color
    from atelier.weights import find_model, read_header

    path = find_model(name)
    header = read_header(path)
    assert path.stat().st_size <= 10 * 2**20 and header["dtype"] == "float16"
    info = {m.name: m for m in atelier.list_models()}[name]
    assert info.bundled and info.error is None
    card = info.card
    assert card["steps"] > 0 and card["training_seconds"] > 0 and card["domains"]["b"]["images"] >= 40
    assert card["data_packages"] and all(p["licence"].startswith("GPL") for p in card["data_packages"])
    ceiling = card["evaluation"]["rows"]["ceiling"]["kid"]["training paintings"]["kid"]
    assert card["evaluation"]["rows"][method]["kid"]["training paintings"]["kid"] < ceiling
    photo = atelier.load_image(atelier.default_inputs()[0], long_side=96)
    out = atelier.run(photo, method=method, device="cpu").image
    assert out.shape == photo.shape and torch.isfinite(out).all()
    assert (out - photo).abs().mean() > 0.03  # translated, not the identity
    a, b = color.luminance(out).flatten(), color.luminance(photo).flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.3


def test_models_lists_translations_with_their_domains_and_kid(capsys):
    """`atelier models`: a translation names its domains (one-sided CUT with ->) and its KID beside the
    photos' from the card's evaluation, instead of the 'vs Gatys' ratios of one-painting networks."""
    names = dict(_bundled_translations())
    assert main(["models"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    for method in names:
        line = lines[method]
        arrow = "<->" if method == "cyclegan" else "->"
        assert f"photos {arrow} Wesnoth story paintings" in line and "vs Gatys" not in line
        kid, photos = (float(x) for x in re.search(r"KID to the paintings ([\d.]+) \(photos unchanged ([\d.]+)\)",
                                                     line).groups())
        assert kid < photos
