"""ONNX export: dynamic image size, outputs within 1e-3 of torch, metadata, inference via --model X.onnx."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import atelier
from atelier.cli import main
from atelier.engine.checkpoint import save_model
from atelier.engine.inference import onnx_session, run_onnx
from atelier.errors import OptionError, OutputError, WeightsError
from atelier.methods import create_method
from atelier.methods.johnson.model import TransformerNet


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(safetensors model, its .onnx export, the fp32 reference network with the file's fp16 weights)."""
    tmp = tmp_path_factory.mktemp("export")
    torch.manual_seed(3)
    net = TransformerNet.from_arch("compact")
    model = save_model(tmp / "tiny.safetensors", net.state_dict(), method="johnson", arch=net.arch,
                       card={"style": "test pattern", "steps": 3})
    ref = TransformerNet.from_arch(net.arch)
    ref.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
    onnx_path = atelier.export_onnx(model, tmp / "tiny.onnx")
    return model, onnx_path, ref.eval()


@pytest.mark.parametrize("hw", [(48, 64), (61, 35)])
def test_onnx_matches_torch_at_several_sizes(exported, hw):
    _, onnx_path, ref = exported
    session, header = onnx_session(onnx_path)
    x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(hw[0]))
    with torch.inference_mode():
        expected = ref(x)
    got = run_onnx(session, x)
    assert got.shape == (1, 3, *hw)
    assert float((got - expected).abs().max()) < 1e-3
    # The graph's own input axes are symbolic, not the export's example size.
    assert session.get_inputs()[0].shape == ["batch", 3, "height", "width"]
    assert header["method"] == "johnson" and header["card"]["style"] == "test pattern"
    assert header["format"] == "onnx" and header["arch"] == ref.arch


def test_stylize_with_the_onnx_file_matches_torch(exported):
    model, onnx_path, _ = exported
    x = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(9))
    via_torch = create_method("johnson", model=str(model), precision="fp32").stylize(x)
    m = create_method("johnson", model=str(onnx_path))
    via_onnx = m.stylize(x)
    assert m.info["model"]["backend"] == "onnx" and m.info["model"]["card"]["style"] == "test pattern"
    assert float((via_onnx - via_torch).abs().max()) < 1e-3
    tiled = create_method("johnson", model=str(onnx_path), tile=32, overlap=8)
    assert tiled.stylize(x).shape == x.shape and tiled.info["tiles"] == 4
    with pytest.raises(OptionError, match="ONNX file"):
        create_method("johnson", model=str(onnx_path), backend="torch").stylize(x)


def test_export_refuses_to_clobber_and_writes_nothing_on_error(exported, tmp_path):
    model, onnx_path, _ = exported
    before = onnx_path.read_bytes()
    with pytest.raises(OutputError, match="already exists"):
        atelier.export_onnx(model, onnx_path)
    assert onnx_path.read_bytes() == before
    with pytest.raises(OutputError, match=".onnx extension"):
        atelier.export_onnx(model, tmp_path / "model.bin")
    with pytest.raises(OptionError, match="Unknown model"):
        atelier.export_onnx("no-such-model", tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())


def test_export_of_a_file_that_holds_no_johnson_network(tmp_path):
    wrong = save_model(tmp_path / "wrong.safetensors", {"w": torch.zeros(2)}, method="johnson",
                       arch=TransformerNet.from_arch("compact").arch)
    with pytest.raises(WeightsError, match="does not hold a usable johnson network"):
        atelier.export_onnx(wrong, tmp_path / "wrong.onnx")
    other = save_model(tmp_path / "other.safetensors", {"w": torch.zeros(2)}, method="adain", arch={})
    with pytest.raises(WeightsError, match="not a 'johnson' one"):
        atelier.export_onnx(other, tmp_path / "other.onnx")
    assert not (tmp_path / "wrong.onnx").exists() and not (tmp_path / "other.onnx").exists()


def test_cli_export_and_models_listing(exported, tmp_path, capsys, monkeypatch):
    model, _, _ = exported
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("ATELIER_HOME", str(home))
    out = home / "models" / "exported.onnx"
    assert main(["export", str(model), "--format", "onnx", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    meta = json.loads({p.key: p.value for p in __import__("onnx").load(str(out)).metadata_props}["atelier"])
    assert meta["exported_from"] == "tiny.safetensors" and meta["opset"] == 17
    assert main(["export", str(model), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "exported" in listing and "test pattern" in listing
    img = tmp_path / "photo.png"
    from PIL import Image

    Image.new("RGB", (36, 28), (200, 120, 40)).save(img)
    assert main(["stylize", str(img), "--model", "exported", "-o", str(tmp_path / "o.png"), "-q"]) == 0
    assert Image.open(tmp_path / "o.png").size == (36, 28)
