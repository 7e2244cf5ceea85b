"""Provenance inside every output: the IPTC source type in XMP and the JSON record, round-tripped through
PNG, JPEG, WebP and TIFF; composites for masked edits; ``--no-metadata``; ``atelier provenance``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import torch
from PIL import Image

import atelier
from atelier import io, provenance
from atelier.cli import main

IPTC_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
CHEAP = ["--size", "32", "--iterations", "2", "-q"]


def run_cli(*argv) -> int:
    return main([str(a) for a in argv])


def digital_source_type(xmp) -> str:
    """The IPTC DigitalSourceType of an XMP packet, parsed as XML (not by string search)."""
    text = xmp.decode() if isinstance(xmp, bytes) else xmp
    root = ET.fromstring(text[text.index("<x:xmpmeta"):text.rindex("</x:xmpmeta>") + len("</x:xmpmeta>")])
    (desc,) = root.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description")
    return desc.get(f"{{{IPTC_NS}}}DigitalSourceType")


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tif"])
def test_the_record_round_trips_through_every_format(tmp_path, ext):
    rec = provenance.record("stylized image", method="gatys", seed=7, options={"size": 64, "init": "/a/b/x.png"},
                            inputs={"content": str(tmp_path / "photo.jpg"), "styles": [tmp_path / "wave.jpg"]})
    path = io.save_image(torch.rand(1, 3, 12, 20), tmp_path / f"out.{ext}", metadata=rec)
    back = io.read_metadata(path)
    assert back == rec
    assert back["inputs"] == {"content": "photo.jpg", "styles": ["wave.jpg"]}  # base names only
    assert back["options"]["init"] == "x.png"
    assert str(tmp_path).encode() not in path.read_bytes()  # no directory of this machine in the file
    with Image.open(path) as img:
        xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
        if ext == "png":
            assert json.loads(img.info["atelier"]) == rec  # the iTXt JSON chunk
        if ext in ("jpg", "webp"):
            assert img.getexif()[0x0131] == f"atelier {atelier.__version__}"  # EXIF Software
    assert digital_source_type(xmp) == provenance.TRAINED


def test_an_image_without_a_record_reads_as_none(tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert io.read_metadata(plain) is None
    assert io.read_metadata(io.save_image(torch.rand(1, 3, 8, 8), tmp_path / "x.bmp", metadata={"a": 1})) is None


def test_stylize_embeds_the_record_and_no_metadata_strips_it(tmp_path, image_files, capsys):
    out, bare = tmp_path / "out.jpg", tmp_path / "bare.jpg"
    assert run_cli("stylize", image_files["content"], image_files["style"], "-o", out, "--seed", 5, *CHEAP) == 0
    rec = atelier.provenance.read(out)
    assert rec["digital_source_type"] == provenance.TRAINED and rec["kind"] == "stylized image"
    assert rec["method"] == "gatys" and rec["seed"] == 5 and rec["atelier"] == atelier.__version__
    assert rec["inputs"] == {"content": "content.png", "styles": ["style.png"]}
    assert rec["options"]["size"] == 32 and rec["options"]["iterations"] == 2

    assert run_cli("stylize", image_files["content"], image_files["style"], "-o", bare, "--no-metadata", *CHEAP) == 0
    assert atelier.provenance.read(bare) is None
    assert json.loads(atelier.sidecar_path(bare).read_text())["method"] == "gatys"  # the sidecar stays
    with Image.open(bare) as img:
        assert "xmp" not in img.info and 0x0131 not in img.getexif()


def test_a_masked_result_is_a_composite(tmp_path, image_files):
    out = tmp_path / "masked.png"
    assert run_cli("stylize", image_files["content"], image_files["style"], "--mask", image_files["mask"],
                   "-o", out, *CHEAP) == 0
    rec = atelier.provenance.read(out)
    assert rec["digital_source_type"] == provenance.TRAINED_COMPOSITE
    assert rec["inputs"]["masks"] == ["mask.png"]
    with Image.open(out) as img:
        assert digital_source_type(img.info["xmp"]) == provenance.TRAINED_COMPOSITE


def test_classical_methods_are_algorithmic_media_and_a_filled_hole_a_composite(tmp_path, image_files):
    tex = tmp_path / "tex.webp"
    assert run_cli("texture", image_files["style"], "-o", tex, "--method", "quilting", "--size", "32", "-q") == 0
    rec = atelier.provenance.read(tex)
    assert rec["digital_source_type"] == provenance.ALGORITHMIC and rec["kind"] == "texture"
    assert rec["inputs"] == {"sample": "style.png"}
    filled = tmp_path / "filled.png"
    atelier.stylize_to_file(image_files["content"], None, filled, method="efros_leung", masks=[image_files["mask"]],
                            size=24)
    assert atelier.provenance.read(filled)["digital_source_type"] == provenance.ALGORITHMIC_COMPOSITE
    atelier.stylize_to_file(image_files["content"], None, tmp_path / "f2.png", method="efros_leung",
                            masks=[image_files["mask"]], size=24, metadata=False)  # the library's switch
    assert atelier.provenance.read(tmp_path / "f2.png") is None


def test_snapshots_carry_the_record_with_their_iteration(tmp_path, image_files):
    out = tmp_path / "run.png"
    assert run_cli("stylize", image_files["content"], image_files["style"], "-o", out, "--save-every", "1",
                   *CHEAP) == 0
    snap = atelier.provenance.read(tmp_path / "run.iter00001.png")
    assert snap["kind"] == "snapshot" and snap["iteration"] == 1 and snap["method"] == "gatys"


def test_provenance_command_prints_the_record_or_one_sentence(tmp_path, image_files, capsys):
    out = tmp_path / "out.png"
    atelier.stylize_to_file(image_files["content"], image_files["style"], out, size=32, iterations=2,
                            weights="random", seed=3)
    capsys.readouterr()
    assert run_cli("provenance", out) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Made by atelier {atelier.__version__} (gatys, trained algorithmic media): stylized "
                           "image from content.png, style.png.")
    assert "trainedAlgorithmicMedia" in text and "seed: 3" in text and "size=32" in text
    assert run_cli("provenance", out, "--json") == 0
    assert json.loads(capsys.readouterr().out) == atelier.provenance.read(out)
    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (8, 8)).save(plain)
    assert run_cli("provenance", plain) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "carries no provenance record" in lines[0]
    assert run_cli("provenance", tmp_path / "missing.png") == 2
    assert "does not exist" in capsys.readouterr().err


def test_compare_writes_records_into_its_images(tmp_path, image_files):
    result = atelier.compare([image_files["content"]], [image_files["style"]],
                             [atelier.RunSpec.parse("gatys:size=32,iterations=2,weights=random")], tmp_path / "cmp",
                             eval_size=32)
    (image,) = (tmp_path / "cmp" / "images").glob("*.png")
    assert atelier.provenance.read(image)["method"] == "gatys"
    assert atelier.provenance.read(tmp_path / "cmp" / "contact_sheet.png")["digital_source_type"] == \
        provenance.TRAINED_COMPOSITE
    assert atelier.provenance.read(tmp_path / "cmp" / "loss_curves.png")["digital_source_type"] == \
        provenance.DATA_DRIVEN
    assert result["rows"]


def test_a_record_too_large_for_jpeg_keeps_all_but_its_options(tmp_path):
    rec = provenance.record("stylized image", method="gatys", options={"weights": list(range(20000))})
    back = io.read_metadata(io.save_image(torch.rand(1, 3, 8, 8), tmp_path / "big.jpg", metadata=rec))
    assert back["method"] == "gatys" and back["options"] == "omitted (too large)"


def test_video_outputs_carry_the_record(tmp_path):
    pytest.importorskip("av")
    pytest.importorskip("cv2")
    from atelier.engine.checkpoint import save_model
    from atelier.methods.johnson.model import TransformerNet

    torch.manual_seed(0)
    net = TransformerNet.from_arch("compact").eval()
    model = save_model(tmp_path / "tiny.safetensors", net.state_dict(), method="johnson", arch=net.arch,
                       card={"style": "test"})
    frames = tmp_path / "in"
    frames.mkdir()
    for i in range(3):
        Image.fromarray((torch.rand(24, 32, 3) * 255).byte().numpy()).save(frames / f"frame_{i:04d}.png")
    res = atelier.stylize_video(frames, tmp_path / "out.mp4", model=str(model), keep_frames=True)
    rec = atelier.provenance.read(res.output)  # the MP4's container tags
    assert rec["kind"] == "video" and rec["method"] == "johnson"
    assert rec["digital_source_type"] == provenance.TRAINED and rec["inputs"]["video"] == "in"
    assert rec["options"]["model"] == "tiny.safetensors"
    frame = atelier.provenance.read(tmp_path / "out.mp4.frames" / "frame_000002.png")
    assert frame["kind"] == "video frame" and frame["frame"] == 2
    folder = atelier.stylize_video(frames, tmp_path / "out_frames", model=str(model), metadata=False)
    assert atelier.provenance.read(folder.output / "frame_000000.png") is None
    bare = atelier.stylize_video(frames, tmp_path / "bare.mp4", model=str(model), metadata=False)
    assert atelier.provenance.read(bare.output) is None


def test_web_results_carry_the_record_unless_the_form_says_no(tmp_path):
    pytest.importorskip("fastapi")
    import io as _io

    from fastapi.testclient import TestClient

    from atelier.web import create_app

    def upload(seed):
        buf = _io.BytesIO()
        Image.fromarray((torch.rand(24, 32, 3, generator=torch.Generator().manual_seed(seed)) * 255).byte()
                        .numpy()).save(buf, format="PNG")
        return buf.getvalue()

    options = json.dumps({"size": 32, "iterations": 2, "coarse_iterations": 0, "min_size": 32, "weights": "random"})
    records = {}
    with TestClient(create_app(tmp_path / "jobs"), base_url="http://127.0.0.1:7860") as client:
        for flag in ("true", "false"):
            job = client.post("/api/jobs", data={"method": "gatys", "options": options, "metadata": flag},
                              files=[("content", ("my photo.png", upload(0), "image/png")),
                                     ("style", ("painting.png", upload(1), "image/png"))]).json()
            with client.stream("GET", f"/api/jobs/{job['id']}/events") as r:
                for line in r.iter_lines():
                    if line.startswith("event: end"):
                        break
            result = client.get(f"/api/jobs/{job['id']}/result")
            assert result.status_code == 200
            path = tmp_path / f"{flag}.png"
            path.write_bytes(result.content)
            records[flag] = atelier.provenance.read(path)
            assert str(tmp_path).encode() not in result.content  # no server path inside the file
    assert records["true"]["method"] == "gatys" and records["true"]["digital_source_type"] == provenance.TRAINED
    assert records["false"] is None
