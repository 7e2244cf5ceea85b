"""``atelier eval`` and ``atelier compare`` as users call them (tiny sizes; real VGG for the judge)."""

from __future__ import annotations

import csv
import json

import pytest
from PIL import Image

from atelier.cli import main
from atelier.comparison import RunSpec

FAST = "weights=random,size=32,iterations=3,coarse_iterations=0"


def test_runspec_parsing():
    spec = RunSpec.parse("gatys:style_strength=2,style_layers=relu1_1|relu2_1,preserve-color=luminance@strong")
    assert spec.method == "gatys" and spec.label == "strong"
    assert spec.options == {"style_strength": 2, "style_layers": ["relu1_1", "relu2_1"],
                            "preserve_color": "luminance"}
    assert RunSpec.parse("gatys").options == {} and RunSpec.parse("gatys").label == "gatys"
    with pytest.raises(Exception, match="key=value"):
        RunSpec.parse("gatys:oops")


def test_eval_prints_metrics_and_identical_image_scores_zero(image_files, capsys):
    c, s = image_files["content"], image_files["style"]
    assert main(["eval", str(c), "--content", str(c), "--style", str(s), "--size", "64", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["content"] == 0 and rows[0]["ssim"] == pytest.approx(1.0) and rows[0]["color_hist"] == 0
    assert rows[0]["style_gram"] > 0
    assert main(["eval", str(s), "--style", str(s), "--size", "64"]) == 0
    out = capsys.readouterr().out
    assert "style_gram" in out and "content |" not in out  # no content given: no content metrics


def test_eval_needs_a_reference(image_files, capsys):
    assert main(["eval", str(image_files["content"])]) == 2
    assert "--content" in capsys.readouterr().err


def test_compare_writes_sheet_tables_and_curves(image_files, tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--content", str(image_files["content"]), "--style", str(image_files["style"]),
            str(image_files["style2"]), "--run", f"gatys:{FAST}@plain", "--run",
            f"gatys:{FAST},preserve_color=luminance@lum", "--eval-size", "64", "-o", str(out)]
    assert main(argv) == 0
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.width > 4 * 256 and sheet.height > 2 * 256  # 2 pairs x (content, style, 2 results)
    rows = list(csv.DictReader((out / "metrics.csv").read_text().splitlines()))
    assert [r["run"] for r in rows] == ["content (unchanged)", "plain", "lum"] * 2
    assert float(rows[0]["content"]) == 0 and float(rows[1]["content"]) > 0
    assert json.loads((out / "metrics.json").read_text())["rows"][1]["method"] == "gatys"
    assert "| pair" in (out / "metrics.md").read_text()
    assert Image.open(out / "loss_curves.png").width > 100
    assert len(list((out / "images").glob("*.png"))) == 4
    # A second run refuses to replace the comparison unless asked.
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err


def test_contact_sheet_without_style_images(tmp_path):
    """Rows without a style image (feed-forward models): a blank style cell in a mixed sheet, no style
    column at all when no row has one."""
    import torch

    from atelier.comparison import write_contact_sheet

    red = torch.zeros(1, 3, 40, 40)
    red[:, 0] = 1
    mixed = Image.open(write_contact_sheet([(red, None, [(red, "a")]), (red, red, [(red, "b")])],
                                           tmp_path / "mixed.png", tile=64)).convert("RGB")
    assert mixed.size == (3 * 72 + 8, 2 * (64 + 36 + 8) + 8)
    assert mixed.getpixel((8 + 72 + 32, 8 + 32)) == (255, 255, 255)  # row 1: blank style cell
    assert mixed.getpixel((8 + 72 + 32, 8 + 108 + 32)) == (255, 0, 0)  # row 2: its style
    bare = Image.open(write_contact_sheet([(red, None, [(red, "a")])], tmp_path / "bare.png",
                                          tile=64)).convert("RGB")
    assert bare.size == (2 * 72 + 8, 64 + 36 + 16)
    assert bare.getpixel((8 + 72 + 32, 8 + 32)) == (255, 0, 0)  # the result right after the content
