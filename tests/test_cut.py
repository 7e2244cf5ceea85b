"""CUT / FastCUT: PatchNCE, training through the shared unpaired trainer (resume bit for bit), stylising,
export. Tiny settings: 32 px crops, ngf 4, 16 patches."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_cyclegan import _same, _weights, domains  # noqa: F401 - the fixture is used by name

import atelier
from atelier.engine import checkpoint as ckpt
from atelier.errors import WeightsError
from atelier.methods.cut.model import PatchMLP, encoder_features, nce_channels, patch_nce
from atelier.methods.cyclegan.model import generator_arch
from atelier.methods.johnson.model import TransformerNet

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(crop=32, ngf=4, blocks=1, ndf=4, nce_patches=16, checkpoint_every=2, preview_every=0)


def _train(domains, output, **options):  # noqa: F811 - the fixture's value
    a, b = domains
    return atelier.train("cut", b, a, output, **{**TINY, **options})


def test_patchnce_is_low_when_each_query_matches_its_own_key_and_log_n_when_random():
    g = torch.Generator().manual_seed(0)
    k = F.normalize(torch.randn(2 * 64, 32, generator=g), dim=1)
    assert float(patch_nce(k.clone(), k, 2)) < 0.01  # q == k: the positive wins by far
    q = F.normalize(torch.randn(2 * 64, 32, generator=g), dim=1)
    assert float(patch_nce(q, k, 2, tau=100.0)) == pytest.approx(torch.log(torch.tensor(64.0)).item(), rel=0.01)


def test_encoder_features_and_the_mlp_sample_the_same_locations():
    arch = generator_arch(4, 3)
    net = TransformerNet.from_arch(arch)
    x = torch.rand(2, 3, 32, 32)
    feats = encoder_features(net, x)
    assert [f.shape[1] for f in feats] == nce_channels(arch) == [3, 8, 16, 16, 16]
    assert feats[1].shape[-1] == 16 and feats[2].shape[-1] == 8
    mlp = PatchMLP(nce_channels(arch))
    keys, ids = mlp(feats, 10, generator=torch.Generator().manual_seed(0))
    again, _ = mlp(feats, 10, ids=ids)
    assert all(torch.equal(a, b) for a, b in zip(keys, again, strict=True))
    assert keys[0].shape == (20, 256) and torch.allclose(keys[0].norm(dim=1), torch.ones(20))
    assert keys[2].shape == (20, 256)  # 8x8 = 64 locations >= 10


@pytest.mark.parametrize("identity", [False, True])
def test_two_plus_two_resumed_steps_equal_four(domains, tmp_path, identity):  # noqa: F811
    full = _train(domains, tmp_path / "full.safetensors", steps=4, nce_identity=identity)
    assert set(full["losses"]) == {"G_GAN", "NCE", "D", "total"}
    _train(domains, tmp_path / "part.safetensors", steps=2, nce_identity=identity)
    _train(domains, tmp_path / "part.safetensors", steps=4, resume=True, nce_identity=identity)
    _same(_weights(tmp_path / "full.ckpt.safetensors"), _weights(tmp_path / "part.ckpt.safetensors"))
    tensors, header = ckpt.read(tmp_path / "full.safetensors")
    assert header["method"] == "cut" and all(k.split(".")[0] in ("down", "res", "up") for k in tensors)


def test_stylize_and_export_the_generator(domains, tmp_path):  # noqa: F811
    pytest.importorskip("onnxruntime")
    model = tmp_path / "cut.safetensors"
    _train(domains, model, steps=1)
    photo = domains[0] / "0.png"
    y = atelier.stylize(photo, method="cut", model=str(model), output="tensor", precision="fp32")
    net = TransformerNet.from_arch(ckpt.read(model)[1]["arch"])
    net.load_state_dict(ckpt.load_model(model)[0])
    with torch.no_grad():
        assert torch.allclose(y, net(atelier.load_image(photo)), atol=1e-5)
    onnx = atelier.export_onnx(model, tmp_path / "cut.onnx")
    z = atelier.stylize(photo, method="cut", model=str(onnx), output="tensor")
    assert float((z - y).abs().max()) < 1e-3


def test_without_a_model_the_message_says_how_to_train_one(domains, tmp_path, monkeypatch,  # noqa: F811
                                                         no_bundled_models):
    monkeypatch.setenv("ATELIER_HOME", str(tmp_path / "empty_home"))
    with pytest.raises(WeightsError, match="atelier train cut"):
        atelier.stylize(domains[0] / "0.png", method="cut")
