"""Video: flow on constructed shifts, reading/writing through PyAV, the per-frame pipeline and its CLI.

Clips are made at run time (a few frames of a moving pattern, 48-64 px, a sine tone as audio); feed-forward
networks are random (seeded) compact TransformerNets saved with ``save_model``; gatys uses a random VGG.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

import atelier
from atelier.cli import main
from atelier.engine.checkpoint import save_model
from atelier.errors import InputError, Interrupted, OptionError, OutputError
from atelier.events import Progress
from atelier.losses import TemporalLoss, temporal_loss
from atelier.methods import Capabilities, MethodSpec, TemporalGuide, register, unregister
from atelier.methods.johnson.model import TransformerNet
from atelier.metrics import warping_error
from atelier.video import flow as vflow
from atelier.video.config import VideoConfig
from atelier.video.io import open_video


def pattern(h: int, w: int, shift: float) -> np.ndarray:
    """A smooth textured RGB frame (uint8) moved right by ``shift`` pixels."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x = x - shift
    img = np.stack([np.sin(x / 5.0) * np.cos(y / 7.0), np.cos((x + y) / 6.0), np.sin(x / 3.0 + y / 9.0)], -1)
    return ((img * 0.4 + 0.5) * 255).round().clip(0, 255).astype(np.uint8)


def make_clip(path, *, n=6, h=48, w=64, fps=12, audio="aac", fmt=None):
    """A clip of ``n`` frames panning right by 2 px per frame, with a 440 Hz tone (or no audio)."""
    out = av.open(str(path), "w", format=fmt)
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    vs.codec_context.options = {"crf": "10"}
    a = None
    if audio:
        a = out.add_stream(audio, rate=16000)
        a.layout = "mono"
    for i in range(n):
        f = av.VideoFrame.from_ndarray(pattern(h, w, 2 * i), format="rgb24")
        f.pts = i
        for p in vs.encode(f):
            out.mux(p)
    for p in vs.encode(None):
        out.mux(p)
    if a is not None:
        t = np.arange(int(16000 * n / fps)) / 16000
        sig = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        fmt_a = a.codec_context.format.name
        for k in range(0, len(sig), 1024):
            chunk = sig[k:k + 1024]
            if fmt_a.startswith("s16"):
                chunk = (chunk * 32767).astype(np.int16)
            af = av.AudioFrame.from_ndarray(chunk[None], format=fmt_a, layout="mono")
            af.sample_rate, af.pts = 16000, k
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    out.close()
    return path


def write_folder(folder, frames, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame_{start + i:04d}.png")
    return folder


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    net = TransformerNet.from_arch("compact").eval()
    return save_model(tmp_path / "tiny.safetensors", net.state_dict(), method="johnson", arch=net.arch,
                      card={"style": "test"})


def streams(path):
    """{stream type: (codec, frames, average rate)} and the decoded frames; read while the file is open
    (PyAV 18.1.1 refuses a closed container's stream attributes)."""
    with av.open(str(path)) as c:
        return {s.type: (s.codec_context.name, s.frames, s.average_rate if s.type == "video" else None)
                for s in c.streams}, [
            f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def folder_frames(folder):
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("frame_*.png"))]


# ------------------------------------------------------------------------------------------------- flow


def test_dis_flow_recovers_a_constructed_shift_and_masks_the_border():
    a, b = pattern(64, 80, 0), pattern(64, 80, 3)  # b(x) = a(x - 3)
    fe = vflow.FlowEstimator(preset="medium")
    backward, forward = fe.pair(a, b)  # b -> a is -3 px, a -> b is +3 px
    assert float(backward[16:48, 16:64, 0].median()) == pytest.approx(-3, abs=0.3)
    assert float(forward[16:48, 16:64, 0].median()) == pytest.approx(3, abs=0.3)
    c = vflow.reliability(backward, forward)
    assert float(c[:, :3].mean()) < 0.2 and float(c[8:56, 10:70].mean()) > 0.9  # border moved in
    # The OpenCV fast path agrees with the torch reference.
    c_np = vflow.reliability_array(backward.numpy(), forward.numpy())
    assert (c_np != c.numpy()).mean() < 0.01
    img = np.random.default_rng(0).random((64, 80, 3)).astype(np.float32)
    ref = vflow.warp(torch.from_numpy(img).permute(2, 0, 1)[None], backward)[0].permute(1, 2, 0).numpy()
    assert np.abs(vflow.remap(img, backward.numpy()) - ref).max() < 1e-3
    # Warping frame a by the backward flow reproduces frame b away from the border.
    warped = vflow.remap(a.astype(np.float32), backward.numpy())
    assert np.abs(warped[8:56, 8:72] - b[8:56, 8:72]).mean() < 4


def test_reduced_size_flow_is_scaled_back():
    a, b = pattern(96, 128, 0), pattern(96, 128, 4)
    flow = vflow.FlowEstimator(preset="fast", max_side=64)(a, b)
    assert flow.shape == (96, 128, 2)
    assert float(np.median(flow[24:72, 24:104, 0])) == pytest.approx(4, abs=0.6)
    # The pipeline's path: both flows and the consistency check at the reduced size, resized back.
    backward, c = vflow.FlowEstimator(preset="fast", max_side=64).backward_reliable(b, a)
    assert backward.shape == (96, 128, 2) and c.shape == (96, 128) and c.dtype == np.float32
    assert float(np.median(backward[24:72, 24:104, 0])) == pytest.approx(-4, abs=0.6)
    assert float(c[:, :3].mean()) < 0.3 and float(c[16:80, 16:112].mean()) > 0.9  # the border moved in
    assert 0 <= c.min() and c.max() <= 1
    # Not reduced: exactly the full-size flow and check.
    fe = vflow.FlowEstimator(preset="fast")
    backward, c = fe.backward_reliable(b, a)
    assert np.array_equal(backward, fe(b, a))
    assert np.array_equal(c, vflow.reliability_array(fe(b, a), fe(a, b)))


def test_motion_boundaries_mark_a_flow_discontinuity():
    flow = torch.zeros(20, 30, 2)
    flow[:, 15:, 0] = 5.0  # the right half moves
    mb = vflow.motion_boundaries(flow)
    assert mb[:, 14:16].all() and not mb[:, :12].any() and not mb[:, 18:].any()
    c = vflow.reliability_array(flow.numpy() * 0, flow.numpy() * 0)
    assert c.min() == 1.0  # no motion: everything reliable
    with pytest.raises(OptionError):
        vflow.FlowEstimator(preset="slowest")


def test_temporal_loss_is_the_masked_mean_squared_difference():
    x = torch.zeros(1, 3, 4, 4)
    target = torch.ones(1, 3, 4, 4)
    c = torch.zeros(1, 1, 4, 4)
    c[..., :2] = 1  # half the pixels count
    assert float(temporal_loss(x, target, c)) == pytest.approx(0.5)
    assert float(TemporalLoss(target, c)(x)) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        temporal_loss(x, target[..., :2], c)
    with pytest.raises(ValueError):
        temporal_loss(x, target, c.expand(1, 3, 4, 4))


# ---------------------------------------------------------------------------------------------- reading


def test_read_a_clip_and_a_range_of_its_frames(tmp_path):
    clip = make_clip(tmp_path / "in.mp4")
    video = open_video(clip)
    assert (video.info.width, video.info.height, video.info.fps) == (64, 48, Fraction(12))
    assert video.info.has_audio and video.info.frames == 6
    frames = list(video.frames(2, 4))
    assert len(frames) == 2 and frames[0].shape == (48, 64, 3)
    diff = [np.abs(frames[0].astype(int) - pattern(48, 64, 2 * i)).mean() for i in range(6)]
    assert int(np.argmin(diff)) == 2 and diff[2] < 8  # frame 2 (lossy: chroma at half resolution)


def test_a_phone_videos_rotation_is_applied(tmp_path, model):
    """Phones record landscape frames with a display rotation (here -90: shown turned clockwise)."""
    path = tmp_path / "portrait.mp4"
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
    stream.codec_context.options = {"crf": "0"}
    if not hasattr(stream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display rotation")
    stream.set_display_rotation(-90)
    img = np.zeros((32, 48, 3), np.uint8)
    img[:8, :8] = 255  # a white top-left corner
    for i in range(3):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    video = open_video(path)
    assert (video.info.width, video.info.height) == (32, 48)  # as displayed: portrait
    first = next(iter(video.frames(0, 1)))
    assert first.shape == (48, 32, 3)
    assert first[:8, -8:].mean() > 200 and first[:8, :8].mean() < 50  # turned clockwise: now top-right
    res = atelier.stylize_video(path, tmp_path / "out.mp4", model=str(model))
    assert res.info["video"]["size"] == [32, 48]  # [width, height] of the stylised portrait frames


def test_corrupt_and_missing_files_give_one_sentence(tmp_path, model, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(InputError, match="not a readable video"):
        open_video(bad)
    with pytest.raises(InputError, match="does not exist"):
        open_video(tmp_path / "nope.mp4")
    assert main(["video", str(bad), str(tmp_path / "o.mp4"), "--model", str(model), "-q"]) == 2
    err = capsys.readouterr().err
    assert "not a readable video" in err and "Traceback" not in err
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.mp4.frames").exists()


def test_folder_with_a_missing_index_is_refused(tmp_path):
    frames = [pattern(24, 32, i) for i in range(4)]
    folder = write_folder(tmp_path / "f", frames)
    (folder / "frame_0002.png").unlink()
    with pytest.raises(InputError, match="missing frame 2"):
        open_video(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image frames"):
        open_video(tmp_path / "empty")


# --------------------------------------------------------------------------------------------- pipeline


def test_johnson_video_to_mp4_keeps_rate_frames_and_audio(tmp_path, model):
    clip = make_clip(tmp_path / "in.mp4", n=6)
    events = []
    res = atelier.stylize_video(clip, tmp_path / "out.mp4", model=str(model), callback=events.append)
    info, frames = streams(res.output)
    assert info["video"][0] == "h264" and len(frames) == 6 and frames[0].shape == (48, 64, 3)
    assert info["video"][2] == 12
    assert info["audio"][0] == "aac" and res.info["video"]["audio"] == "copied"
    with av.open(str(res.output)) as c:
        a = c.streams.audio[0]
        assert float(a.duration * a.time_base) == pytest.approx(0.5, abs=0.1)  # trimmed to 6 frames @ 12 fps
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.iteration for p in progress] == list(range(1, 7)) and progress[-1].rate > 0
    assert progress[-1].total_iterations == 6 and progress[-1].eta == pytest.approx(0)
    side = json.loads(atelier.sidecar_path(res.output).read_text())
    assert side["video"]["temporal"] == "blend" and side["video"]["frames"] == 6
    assert not (tmp_path / "out.mp4.frames").exists()  # the work folder is removed


def test_audio_that_mp4_cannot_copy_is_transcoded_to_aac(tmp_path, model):
    clip = make_clip(tmp_path / "in.mkv", n=4, audio="pcm_s16le", fmt="matroska")
    res = atelier.stylize_video(clip, tmp_path / "out.mp4", model=str(model), start=1 / 12)
    info, frames = streams(res.output)
    assert info["audio"][0] == "aac" and res.info["video"]["audio"] == "transcoded to aac"
    assert len(frames) == 3  # --start skipped one frame


def test_odd_sizes_crop_the_last_row_and_column_for_mp4(tmp_path, model):
    folder = write_folder(tmp_path / "odd", [pattern(33, 45, i) for i in range(3)])
    res = atelier.stylize_video(folder, tmp_path / "out.mp4", model=str(model), fps=10, keep_frames=True)
    info, frames = streams(res.output)
    assert frames[0].shape == (32, 44, 3) and res.info["video"]["mp4_size"] == [44, 32]
    kept = folder_frames(tmp_path / "out.mp4.frames")
    assert kept[0].shape == (33, 45, 3)  # the frames keep every pixel
    assert np.abs(frames[1].astype(int) - kept[1][:32, :44]).mean() < 20  # the same picture, cropped (lossy)
    assert "audio" not in info and info["video"][2] == 10


def test_blend_follows_its_formula():
    from atelier.video.blend import blend

    rng = np.random.default_rng(0)
    new = rng.random((40, 56, 3), dtype=np.float32)
    warped = np.clip(new + 0.2 * rng.standard_normal(new.shape, dtype=np.float32), 0, 1)
    ones, zeros = np.ones((40, 56), np.float32), np.zeros((40, 56), np.float32)
    assert np.abs(blend(new.copy(), warped, zeros, 2.0) - new).max() < 1e-4  # unreliable: the new frame
    assert np.abs(blend(new.copy(), new.copy(), ones, 2.0) - new).max() < 1e-4  # agreeing frames: unchanged
    # Where the frames agree in detail (warped = new + a smooth offset) the gain is 1 and the result is
    # the plain blend (new + w c warped) / (1 + w c).
    smooth = np.clip(new + 0.1, 0, 1)
    out = blend(new.copy(), smooth, ones, 2.0)
    plain = (new + 2 * smooth) / 3
    assert np.abs(out - plain)[8:-8, 8:-8].mean() < 0.01
    # Detail that the mix averaged away (frames with different strokes) is brought back towards the new
    # frame's contrast.
    warped = rng.random(new.shape, dtype=np.float32)
    mixed = blend(new.copy(), warped, ones, 2.0)
    detail = lambda x: x - cv2.GaussianBlur(x, (0, 0), 2.0)
    assert detail(mixed).std() > 1.2 * detail((new + 2 * warped) / 3).std()
    assert mixed.dtype == np.float32 and 0 <= mixed.min() and mixed.max() <= 1


def test_temporal_blending_halves_the_warping_error_of_a_flickering_method(tmp_path):
    """A method that flickers (seeded noise per frame) plugs in through its capabilities and is blended."""

    @dataclass
    class FlickerConfig:
        pass

    class Flicker:
        def __init__(self, config=None):
            self.config, self.info = config, {}

        def stylize(self, content, style=None, *, config=None, generator=None, callback=None, masks=None):
            noise = torch.randn(content.shape, generator=generator)
            return (1 - content + 0.08 * noise).clamp(0, 1)

    spec = MethodSpec("_flicker", "Flickers.", FlickerConfig, Capabilities(needs_style=False, video=True),
                      implementation="unused:Flicker")
    register(spec, Flicker)
    try:
        folder = write_folder(tmp_path / "in", [pattern(48, 64, 2 * i) for i in range(6)])
        inputs = folder_frames(folder)
        err = {}
        for w in (0.0, 1.0):
            res = atelier.stylize_video(folder, tmp_path / f"out{int(w)}", method="_flicker", temporal_weight=w)
            outs = folder_frames(res.output)
            err[w] = warping_error(outs, inputs)
        assert err[1.0] < 0.5 * err[0.0]
    finally:
        unregister("_flicker")


def _interrupt_after(n):
    def callback(event):
        if isinstance(event, Progress) and event.iteration == n:
            raise KeyboardInterrupt

    return callback


def test_resume_recomputes_nothing_and_equals_an_uninterrupted_run(tmp_path, model):
    folder = write_folder(tmp_path / "in", [pattern(40, 56, 2 * i) for i in range(6)])
    whole = atelier.stylize_video(folder, tmp_path / "whole", model=str(model))
    with pytest.raises(Interrupted, match="--resume"):
        atelier.stylize_video(folder, tmp_path / "part", model=str(model), callback=_interrupt_after(3))
    assert len(folder_frames(tmp_path / "part")) == 3
    with pytest.raises(OutputError, match="--resume"):  # no silent restart over finished frames
        atelier.stylize_video(folder, tmp_path / "part", model=str(model))
    with pytest.raises(OptionError, match="other settings"):
        atelier.stylize_video(folder, tmp_path / "part", model=str(model), temporal_weight=2.0, resume=True)
    res = atelier.stylize_video(folder, tmp_path / "part", model=str(model), resume=True)
    assert res.info["video"]["resumed_from"] == 3 and res.info["video"]["computed_now"] == 3
    for a, b in zip(folder_frames(whole.output), folder_frames(res.output), strict=True):
        assert np.array_equal(a, b)
    with pytest.raises(OptionError, match="Nothing to resume"):
        atelier.stylize_video(folder, tmp_path / "fresh", model=str(model), resume=True)


def test_resume_of_an_mp4_job(tmp_path, model):
    clip = make_clip(tmp_path / "in.mp4", n=5)
    out = tmp_path / "out.mp4"
    with pytest.raises(Interrupted):
        atelier.stylize_video(clip, out, model=str(model), callback=_interrupt_after(2))
    # an MP4 job keeps its finished frames as raw arrays (no PNG compression per frame)
    assert not out.exists() and len(list((tmp_path / "out.mp4.frames").glob("frame_*.npy"))) == 2
    computed = []
    res = atelier.stylize_video(clip, out, model=str(model), resume=True,
                                callback=lambda e: computed.append(e) if isinstance(e, Progress) else None)
    assert [e.iteration for e in computed] == [3, 4, 5]
    info, frames = streams(res.output)
    assert len(frames) == 5 and info["audio"][0] == "aac"


def test_output_checks(tmp_path, model):
    clip = make_clip(tmp_path / "in.mp4", n=2, audio=None)
    with pytest.raises(OutputError, match="it is the input"):
        atelier.stylize_video(clip, clip, model=str(model), overwrite=True)
    with pytest.raises(OutputError, match=r"\.mp4 file or a folder"):
        atelier.stylize_video(clip, tmp_path / "out.avi", model=str(model))
    (tmp_path / "exists.mp4").write_bytes(b"x")
    with pytest.raises(OutputError, match="already exists"):
        atelier.stylize_video(clip, tmp_path / "exists.mp4", model=str(model))
    with pytest.raises(OptionError, match="temporal-weight"):
        atelier.stylize_video(clip, tmp_path / "o.mp4", model=str(model), temporal_weight=-1)
    with pytest.raises(OptionError, match="after the end"):
        atelier.stylize_video(clip, tmp_path / "o.mp4", model=str(model), start="00:05")
    res = atelier.stylize_video(clip, tmp_path / "o.mp4", model=str(model), max_frames=1, temporal_weight=0)
    assert res.frames == 1 and res.info["video"]["temporal"] == "none"


def test_video_options_as_keywords_or_a_video_config(tmp_path, model):
    """The video options are VideoConfig's fields: keywords beside the method's options, or ``video=``;
    their ranges come from the field declarations (one sentence naming the option)."""
    folder = write_folder(tmp_path / "in", [pattern(24, 32, 2 * i) for i in range(3)])
    res = atelier.stylize_video(folder, tmp_path / "a", model=str(model), video=VideoConfig(max_frames=2),
                                size=16)
    assert res.frames == 2 and res.info["config"]["size"] == 16 and res.info["video"]["size"] == [16, 12]
    with pytest.raises(OptionError, match="not both"):
        atelier.stylize_video(folder, tmp_path / "b", model=str(model), video=VideoConfig(), max_frames=2)
    for bad, words in [({"crf": 52}, "--crf must be between 0 and 51"),
                       ({"flow_size": 8}, "--flow-size must be 0 (the output's size) or at least 16"),
                       ({"flow_preset": "slow"}, "--flow-preset must be one of"),
                       ({"max_frames": 0}, "--max-frames must be at least 1"),
                       ({"start": "0:02", "end": "0:01"}, "must come after --start")]:
        with pytest.raises(OptionError, match=re.escape(words)):
            atelier.stylize_video(folder, tmp_path / "c", model=str(model), **bad)
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()  # checked before any work


# ------------------------------------------------------------------------------------------------ gatys


FAST = dict(weights="random", size=32, iterations=3, coarse_iterations=0, min_size=32, tolerance=0.0)


def test_gatys_takes_the_temporal_guide(image_files):
    gatys = atelier.create_method("gatys", **FAST)
    content = atelier.load_image(image_files["content"])
    style = atelier.load_image(image_files["style"])
    prev = torch.full((1, 3, 24, 32), 0.25)
    guide = TemporalGuide(prev, torch.ones(1, 1, 24, 32), weight=100.0)
    out = gatys.stylize(content, [style], temporal=guide)
    assert "temporal" in gatys.info["losses"]
    free = atelier.create_method("gatys", **FAST).stylize(content, [style])
    # A strong temporal weight keeps the result at the (warped) previous frame.
    assert (out - prev).abs().mean() < 0.5 * (free - prev).abs().mean()


def test_gatys_video_uses_the_temporal_loss(tmp_path, image_files):
    folder = write_folder(tmp_path / "in", [pattern(24, 32, i) for i in range(3)])
    res = atelier.stylize_video(folder, tmp_path / "out", image_files["style"], **FAST)
    assert res.info["video"]["temporal"] == "loss" and len(folder_frames(res.output)) == 3


@pytest.mark.parametrize("method", ["adain", "sanet"])
def test_arbitrary_methods_blend_video_and_encode_the_painting_once(tmp_path, image_files, method, monkeypatch):
    from atelier.methods.adain.method import AdaIN, AdaINNet
    from atelier.methods.sanet.method import SANet
    from atelier.methods.sanet.model import SANetNet

    cls, net_cls = {"adain": (AdaIN, AdaINNet), "sanet": (SANet, SANetNet)}[method]
    torch.manual_seed(0)
    net = net_cls("compact")
    path = save_model(tmp_path / f"{method}.safetensors", net.state_dict(), method=method, arch=net.arch)
    calls = []
    original = cls.style_code
    monkeypatch.setattr(cls, "style_code", lambda self, n, feats: calls.append(1) or original(self, n, feats))
    folder = write_folder(tmp_path / "in", [pattern(32, 48, 2 * i) for i in range(4)])
    res = atelier.stylize_video(folder, tmp_path / "out", image_files["style"], method=method, model=str(path))
    assert res.info["video"]["temporal"] == "blend" and len(folder_frames(res.output)) == 4
    assert len(calls) == 1 + 4  # the painting once, the photo's own code (alpha) every frame
    # With colour preservation the painting depends on the frame: encoded every frame.
    calls.clear()
    atelier.stylize_video(folder, tmp_path / "out2", image_files["style"], method=method, model=str(path),
                          preserve_color="histogram")
    assert len(calls) == 2 * 4


# -------------------------------------------------------------------------------------------------- CLI


def test_cli_video_folder_to_mp4(tmp_path, model, capsys):
    folder = write_folder(tmp_path / "in", [pattern(32, 40, i) for i in range(3)])
    out = tmp_path / "o.mp4"
    assert main(["video", str(folder), str(out), "--model", str(model), "-q", "--fps", "8"]) == 0
    assert "Wrote" in capsys.readouterr().out and out.exists()
    assert main(["video", str(folder), str(out), "--model", str(model), "-q"]) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err
    assert main(["video", str(folder), str(tmp_path / "x.mp4"), "--model", str(model), "-q",
                 "--temporal-weight", "-2"]) == 2


def test_capabilities_choose_the_temporal_mode():
    assert atelier.method_spec("gatys").capabilities.temporal_loss  # warped init + temporal loss
    johnson = atelier.method_spec("johnson").capabilities
    assert johnson.video and not johnson.temporal_loss  # blended


def test_cli_video_model_selects_the_method_that_runs_it(tmp_path, image_files, capsys):
    """``--model adain`` (the bundled decoder) runs the adain method, as in ``atelier stylize``; it was
    refused as "not a 'johnson' network". Real VGG encoder at 32 px, two frames."""
    folder = write_folder(tmp_path / "in", [pattern(24, 32, 2 * i) for i in range(2)])
    out = tmp_path / "out"
    code = main(["video", str(folder), str(out), "--model", "adain", "--style", str(image_files["style"]),
                 "--size", "32", "--style-size", "32", "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Wrote" in captured.out and len(folder_frames(out)) == 2
    state = json.loads((out / "atelier-video.json").read_text())
    assert state["info"]["method"] == "adain" and state["info"]["video"]["temporal"] == "blend"
    # adain needs the painting: one sentence, exit 2, nothing written.
    assert main(["video", str(folder), str(tmp_path / "o2"), "--model", "adain", "-q"]) == 2
    err = capsys.readouterr().err
    assert "needs at least one style image" in err and "Traceback" not in err
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize("argv, words", [(["--crf", "60"], "--crf must be between 0 and 51, not 60"),
                                         (["--flow-size", "8"], "--flow-size must be 0"),
                                         (["--start", "5", "--end", "2"], "--end (2) must come after")])
def test_cli_video_option_out_of_range_is_one_sentence(tmp_path, model, capsys, argv, words):
    folder = write_folder(tmp_path / "in", [pattern(24, 32, i) for i in range(2)])
    out = tmp_path / "o.mp4"
    assert main(["video", str(folder), str(out), "--model", str(model), "-q", *argv]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("atelier")]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in err, err
    assert not out.exists() and not (tmp_path / "o.mp4.frames").exists()
