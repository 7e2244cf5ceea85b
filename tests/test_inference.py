"""engine.inference: the memory budget and its tile plan, the network loader and its cache, the run report.

Toy networks (an nn.Linear saved as a model of the made-up method 'toy'), so what is tested is the shared
machinery, not a method."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from atelier import io
from atelier.engine.checkpoint import save_model
from atelier.engine.inference import (
    IMAGE_BYTES_PER_PIXEL,
    RUNTIME_BYTES,
    InferenceRun,
    load_network,
    plan_tile,
    read_network,
    stats_size,
)
from atelier.errors import OptionError, WeightsError
from atelier.events import Done, Progress, Stage
from atelier.ops.tiling import blend_spans

GIB = 2**30


def peak(hw, bpp, area) -> float:
    """The documented model: torch itself + image-sized buffers + activations over ``area`` pixels."""
    return RUNTIME_BYTES + IMAGE_BYTES_PER_PIXEL * hw[0] * hw[1] + bpp * area


# ---------------------------------------------------------------------------------------------- budget


@pytest.mark.parametrize("hw, max_memory, bpp, align", [
    ((4320, 7680), 4.0, 1280, 4),   # 8K, johnson paper fp32, the default budget
    ((2160, 3840), 1.0, 1536, 8),   # 4K, adain fp32 in 1 GiB
    ((3000, 2000), 2.0, 1600, 16),  # portrait, sanet-like
    ((1000, 1000), 0.75, 1280, 4),
])
def test_planned_tile_is_the_largest_that_fits_the_budget(hw, max_memory, bpp, align):
    tile = plan_tile(hw, tile=0, overlap=64, max_memory=max_memory, bytes_per_pixel=bpp, align=align)
    budget = max_memory * GIB
    assert peak(hw, bpp, hw[0] * hw[1]) > budget  # the whole image does not fit: tiles
    step = math.lcm(16, align)
    assert tile >= 64 and tile % step == 0
    # The largest tile run_blended makes of this plan, on either axis, fits; one step more would not.
    longest = max(e - s for n in hw for s, e in blend_spans(n, tile, 64, align))
    assert longest <= tile + align - 1
    assert peak(hw, bpp, (tile + align) ** 2) <= budget
    assert peak(hw, bpp, (tile + step + align) ** 2) > budget


def test_whole_image_in_one_pass_when_it_fits_and_a_forced_tile_wins():
    hw, bpp = (512, 512), 1280
    assert peak(hw, bpp, 512 * 512) <= 4 * GIB
    assert plan_tile(hw, tile=0, overlap=64, max_memory=4.0, bytes_per_pixel=bpp, align=4) == 0
    assert plan_tile(hw, tile=128, overlap=32, max_memory=4.0, bytes_per_pixel=bpp, align=4) == 128
    assert plan_tile(hw, tile=512, overlap=32, max_memory=4.0, bytes_per_pixel=bpp, align=4) == 0  # not smaller
    # A forced tile is taken even where the budget could not hold it (the user asked).
    assert plan_tile((4320, 7680), tile=4096, overlap=64, max_memory=1.0, bytes_per_pixel=bpp, align=4) == 4096


def test_the_runtime_comes_off_the_budget():
    # Activations + image buffers fit 1 GiB, but not with torch's own 0.5 GiB: tiles (the arbitrary methods
    # planned without the runtime before the shared budget, and would have run this in one pass).
    hw, bpp = (640, 640), 1536
    assert IMAGE_BYTES_PER_PIXEL * 640 * 640 + bpp * 640 * 640 <= 1 * GIB < peak(hw, bpp, 640 * 640)
    assert plan_tile(hw, tile=0, overlap=16, max_memory=1.0, bytes_per_pixel=bpp, align=8) > 0


def test_a_budget_too_small_for_the_smallest_tile_says_how_much_is_needed():
    hw, bpp = (4320, 7680), 1280
    with pytest.raises(OptionError) as err:
        plan_tile(hw, tile=0, overlap=64, max_memory=1.5, bytes_per_pixel=bpp, align=4)
    msg = str(err.value)
    m = re.fullmatch(r"A 7680x4320 image needs more than --max-memory 1.5 GiB \(about ([\d.]+) GiB\); "
                     r"raise it or reduce --size\.", msg)
    assert m, msg
    # The smallest tile is 4 overlaps (256 px) here; the figure is the model's peak for it.
    assert float(m.group(1)) == pytest.approx(peak(hw, bpp, (256 + 4) ** 2) / GIB, abs=0.05)
    assert float(m.group(1)) > 1.5
    # Asking for about that much is enough.
    assert plan_tile(hw, tile=0, overlap=64, max_memory=float(m.group(1)) + 0.1, bytes_per_pixel=bpp,
                     align=4) >= 256


def test_stats_size_is_the_largest_reduced_copy_that_fits():
    hw, bpp = (4320, 7680), 1280
    h, w = stats_size(hw, max_memory=4.0, bytes_per_pixel=bpp, min_side=8)
    assert (h, w) == io.fit_size(*hw, w) and w > h  # the aspect kept
    assert peak(hw, bpp, h * w) <= 4 * GIB
    bigger = io.fit_size(*hw, w + 1)
    assert peak(hw, bpp, bigger[0] * bigger[1]) > 4 * GIB
    assert stats_size((512, 256), max_memory=4.0, bytes_per_pixel=bpp, min_side=8) == (512, 256)  # whole
    # No budget left after the image buffers: the smallest allowed copy.
    assert max(stats_size(hw, max_memory=1.0, bytes_per_pixel=bpp, min_side=64)) == 64


# ------------------------------------------------------------------------------------------- networks


def toy(header: dict) -> nn.Module:
    return nn.Linear(header["arch"]["inputs"], 2)


def save_toy(path, seed: int, inputs: int = 3, method: str = "toy"):
    torch.manual_seed(seed)
    net = nn.Linear(inputs, 2)
    save_model(path, net.state_dict(), method=method, arch={"inputs": inputs}, card={"steps": seed})
    return net


def test_loaded_network_is_ready_and_cached_by_file(tmp_path):
    path = tmp_path / "toy.safetensors"
    ref = save_toy(path, seed=1)
    cpu = torch.device("cpu")
    net, header = load_network(path, kind="toy", build=toy, device=cpu, dtype=torch.float32)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert header["card"]["steps"] == 1
    torch.testing.assert_close(net.weight, ref.weight.half().float())  # the file holds fp16
    again, _ = load_network(path, kind="toy", build=toy, device=cpu, dtype=torch.float32)
    assert again is net
    bf16, _ = load_network(path, kind="toy", build=toy, device=cpu, dtype=torch.bfloat16)
    assert bf16 is not net and bf16.weight.dtype == torch.bfloat16
    # The file is rewritten (new weights, new mtime): loaded again.
    st = path.stat()
    new = save_toy(path, seed=2)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    fresh, header = load_network(path, kind="toy", build=toy, device=cpu, dtype=torch.float32)
    assert fresh is not net and header["card"]["steps"] == 2
    torch.testing.assert_close(fresh.weight, new.weight.half().float())


def test_bad_files_give_one_weights_error_sentence(tmp_path):
    cpu = torch.device("cpu")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(WeightsError, match="junk.safetensors"):
        load_network(junk, kind="toy", build=toy, device=cpu, dtype=torch.float32)
    other = tmp_path / "other.safetensors"
    save_toy(other, seed=0, method="adain")
    with pytest.raises(WeightsError, match="holds a 'adain' network, not a 'toy' one"):
        read_network(other, kind="toy", build=toy)
    # Tensors that do not fit the network the header describes, and a header without an architecture.
    wrong = tmp_path / "wrong.safetensors"
    save_model(wrong, nn.Linear(5, 2).state_dict(), method="toy", arch={"inputs": 3})
    with pytest.raises(WeightsError, match=r"'.*wrong.safetensors' does not hold a usable toy network \(") as err:
        load_network(wrong, kind="toy", build=toy, device=cpu, dtype=torch.float32)
    assert "\n" not in str(err.value)
    bare = tmp_path / "bare.safetensors"
    save_model(bare, nn.Linear(3, 2).state_dict(), method="toy", arch={})
    with pytest.raises(WeightsError, match=r"usable toy network \('inputs'\)\."):
        read_network(bare, kind="toy", build=toy)


def test_the_engine_layer_imports_no_method_and_no_api():
    code = ("import sys, atelier.engine.inference\n"
            "bad = [m for m in sys.modules if m.startswith(('atelier.methods', 'atelier.api'))]\n"
            "assert not bad, bad\nprint('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


# -------------------------------------------------------------------------------------------- reporting


@pytest.mark.parametrize("tile", [0, 32])
def test_run_reports_stage_progress_per_tile_and_done(tile):
    events = []
    run = InferenceRun("toy", events.append)
    run.loaded()
    x = torch.rand(1, 3, 80, 64, generator=torch.Generator().manual_seed(0))
    n = run.start((80, 64), tile=tile, overlap=8, align=4)
    out = run.run(lambda t: torch.sigmoid(4 * t), x)  # pointwise: tiles blend back to the whole
    torch.testing.assert_close(out, torch.sigmoid(4 * x), rtol=0, atol=1e-6)
    header = {"arch": {"channels": [16]}, "card": {"style": "s", "steps": 3, "secret": 1}}
    info = run.finish(name="m", path="/x/m.safetensors", header=header, card_keys=("style", "steps", "data"),
                      model_extra={"backend": "torch"}, stats_size=[8, 8])
    assert n == (1 if tile == 0 else 3 * 3) and info["tiles"] == n
    assert [type(e) for e in events] == [Stage, *[Progress] * n, Done]
    assert events[0].size == (80, 64) and events[0].iterations == n
    assert [e.iteration for e in events[1:-1]] == list(range(1, n + 1)) and events[-2].eta == 0
    assert info["model"] == {"name": "m", "path": "/x/m.safetensors", "backend": "torch",
                             "arch": {"channels": [16]}, "card": {"style": "s", "steps": 3}}
    assert (info["tile"], info["overlap"]) == ((None, None) if tile == 0 else (32, 8))
    assert info["iterations"] == 0 and info["losses"] == {} and info["stats_size"] == [8, 8]
    assert info["seconds"] >= info["load_seconds"] >= 0

