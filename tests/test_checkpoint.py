"""Network files: finished models (fp16) and training checkpoints (resume exactly), atomic, versioned."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from atelier.engine import checkpoint as ck
from atelier.errors import WeightsError


def net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.InstanceNorm2d(4, affine=True), nn.ReLU(), nn.Conv2d(4, 3, 1))


def train_steps(model, opt, n, gen):
    for _ in range(n):
        x = torch.rand(2, 3, 8, 8, generator=gen)
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()


def test_model_roundtrip_fp16_and_header(tmp_path):
    m = net()
    path = ck.save_model(tmp_path / "m.safetensors", m.state_dict(), method="johnson", arch={"c": 4},
                         card={"style": "x"})
    state, header = ck.load_model(path, method="johnson")
    assert header["kind"] == "model" and header["arch"] == {"c": 4} and header["card"] == {"style": "x"}
    assert header["format_version"] == ck.FORMAT_VERSION and header["dtype"] == "float16"
    for k, v in m.state_dict().items():
        assert state[k].dtype == torch.float32
        torch.testing.assert_close(state[k], v, rtol=1e-3, atol=1e-3)  # fp16 rounding
    raw, _ = ck.read(path)
    assert all(t.dtype == torch.float16 for t in raw.values())


def test_checkpoint_resume_continues_exactly(tmp_path):
    """Train 3 + 3 steps with a checkpoint in between == 6 steps straight (weights, Adam state, RNG)."""
    g = torch.Generator().manual_seed(1)
    a = net()
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2)
    train_steps(a, opt_a, 6, g)

    g = torch.Generator().manual_seed(1)
    b = net()
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    train_steps(b, opt_b, 3, g)
    ck.save_checkpoint(tmp_path / "c.safetensors", method="johnson", arch={}, config={"lr": 1e-2}, step=3,
                       model=b, optimizer=opt_b, generator=g)
    c = net(seed=5)  # different initial weights: everything must come from the file
    opt_c = torch.optim.Adam(c.parameters(), lr=1e-2)
    g2 = torch.Generator().manual_seed(99)
    header = ck.load_checkpoint(tmp_path / "c.safetensors", model=c, optimizer=opt_c, generator=g2, method="johnson")
    assert header["step"] == 3 and header["config"] == {"lr": 1e-2}
    train_steps(c, opt_c, 3, g2)
    for (k, va), vc in zip(a.state_dict().items(), c.state_dict().values()):
        torch.testing.assert_close(vc, va, msg=k)


def test_errors_are_one_sentence(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        ck.load_model(tmp_path / "none.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        ck.load_model(junk)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(WeightsError, match="not an atelier model"):
        ck.load_model(tmp_path / "plain.safetensors")
    path = ck.save_model(tmp_path / "m.safetensors", net().state_dict(), method="adain", arch={})
    with pytest.raises(WeightsError, match="'adain' network, not a 'johnson'"):
        ck.load_model(path, method="johnson")
    with pytest.raises(WeightsError, match="not a training checkpoint"):
        ck.load_checkpoint(path, model=net())
    future = tmp_path / "future.safetensors"
    save_file({"w": torch.zeros(2)}, str(future), metadata={"atelier": json.dumps({"format_version": 99})})
    with pytest.raises(WeightsError, match="format version 99"):
        ck.load_model(future)


def test_checkpoint_of_other_network_is_rejected(tmp_path):
    ck.save_checkpoint(tmp_path / "c.safetensors", method="johnson", arch={}, config={}, step=1, model=net())
    with pytest.raises(WeightsError, match="does not fit"):
        ck.load_checkpoint(tmp_path / "c.safetensors", model=nn.Conv2d(3, 3, 1))


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    path = ck.save_model(tmp_path / "m.safetensors", net().state_dict(), method="johnson", arch={"v": 1})
    from pathlib import Path

    def boom(self, data):  # interrupted half-way through writing the file
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", boom)
    with pytest.raises(KeyboardInterrupt):
        ck.save_model(path, net(1).state_dict(), method="johnson", arch={"v": 2})
    assert ck.load_model(path)[1]["arch"] == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_version_1_fixture_still_loads():
    """A model file written by format version 1 (kept in tests/fixtures) loads with its values."""
    from pathlib import Path

    state, header = ck.load_model(Path(__file__).parent / "fixtures" / "model-v1.safetensors", method="fixture")
    assert header["format_version"] == 1 and header["arch"] == {"in": 3, "out": 2}
    assert state["weight"].shape == (2, 3, 1, 1) and state["bias"].shape == (2,)
    m = nn.Conv2d(3, 2, 1)
    m.load_state_dict(state)
    torch.manual_seed(0)
    ref = nn.Conv2d(3, 2, 1)  # the fixture was written from this seeded layer
    torch.testing.assert_close(m.weight, ref.weight, rtol=1e-3, atol=1e-3)
