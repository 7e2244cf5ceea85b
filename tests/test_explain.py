"""``atelier explain`` (Gatys et al. 2016, Fig. 1): the files and panels of the sheet, the numbers of
explain.json (energy shares, the layers' shares of a result's style loss summing to 1), the Gram directions
on features whose leading direction is known, refusals in one sentence, the CLI and the web's Explain view.
Tiny images, a random-weight VGG where the weights are not the point."""

from __future__ import annotations

import json
import time

import pytest
import torch
from PIL import Image

import atelier
from atelier.cli import main
from atelier.errors import InputError, OptionError, OutputError
from atelier.explainer import analysis, planned_files

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"size": 32, "iterations": 2, "weights": "random", "device": "cpu"}


def test_writes_every_panel_and_the_numbers(image_files, tmp_path):
    out = tmp_path / "sheet"
    res = atelier.explain(image_files["style"], out, result=image_files["content"], **TINY)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in planned_files(out, True)) and len(names) == 1 + 5 + 15 + 1 + 1
    assert res.files[0] == out / "sheet.jpg"
    data = json.loads((out / "explain.json").read_text())
    assert [r["layers"] for r in data["reconstructions"]] == [list(analysis.LAYERS[:n]) for n in range(1, 6)]
    assert all(r["iterations"] == 2 for r in data["reconstructions"])
    for k in analysis.LAYERS:
        shares = [d["energy_share"] for d in data["directions"][k]]
        assert len(shares) == 3 and all(0 <= s <= 1 for s in shares) and shares == sorted(shares, reverse=True)
    assert sum(data["result"]["shares"].values()) == pytest.approx(1.0)
    assert set(data["result"]["gram_distance"]) == set(analysis.LAYERS)
    with Image.open(out / "reconstruction-5.png") as im:
        assert max(im.size) == 32
    with Image.open(out / "sheet.jpg") as im:  # 6 columns of 200 px tiles; rows: (a), 3 directions, (c)
        assert im.width == 8 + 6 * 208 and im.height > 5 * 200
    assert atelier.provenance.read(out / "sheet.jpg")["inputs"]["style"] == "style.png"


def test_without_a_result_there_is_no_share_chart(image_files, tmp_path):
    res = atelier.explain(image_files["style"], tmp_path / "d", **TINY)
    assert not (tmp_path / "d" / "shares.png").exists() and "result" not in res.data
    assert len(list((tmp_path / "d").iterdir())) == 22


def test_the_leading_direction_is_the_one_that_carries_the_energy():
    g = torch.Generator().manual_seed(0)
    v = torch.tensor([3.0, 4.0, 0.0, 0.0]) / 5
    spatial = torch.rand(6, 7, generator=g) + 1
    feats = (v[:, None, None] * spatial + 0.01 * torch.rand(4, 6, 7, generator=g))[None]  # (1,4,6,7)
    maps, shares = analysis.directions(feats, 3)
    assert maps.shape == (3, 6, 7) and shares[0] > 0.99
    assert torch.allclose(maps[0], (v[:, None, None] * feats[0]).sum(0), atol=1e-4)  # v.F, sign made positive


def test_layer_shares_sum_to_one_and_are_equal_when_nothing_remains():
    f = {k: torch.rand(1, 3, 4, 4) for k in analysis.LAYERS}
    d, shares = analysis.layer_distances(f, f)
    assert all(v == pytest.approx(0, abs=1e-6) for v in d.values())
    assert sum(shares.values()) == pytest.approx(1.0)
    other = {k: torch.rand(1, 3, 4, 4) for k in analysis.LAYERS}
    d, shares = analysis.layer_distances(other, f)
    assert sum(shares.values()) == pytest.approx(1.0) and all(v > 0 for v in d.values())


@pytest.mark.parametrize("case,error,words", [
    ("missing", InputError, "does not exist"),
    ("dir is a file", OutputError, "is a file"),
    ("size 8", OptionError, "--size"),
    ("size 5000", OptionError, "--size"),
    ("existing", OutputError, "already exists"),
])
def test_refusals_before_any_work(image_files, tmp_path, case, error, words):
    painting, out, opts = image_files["style"], tmp_path / "out", dict(TINY)
    if case == "missing":
        painting = tmp_path / "nope.png"
    elif case == "dir is a file":
        out = image_files["content"]
    elif case.startswith("size"):
        opts["size"] = int(case.split()[1])
    else:
        out.mkdir()
        (out / "sheet.jpg").write_bytes(b"an earlier sheet")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(error, match=words):
        atelier.explain(painting, out, **opts)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_overwrite_replaces_an_earlier_sheet(image_files, tmp_path):
    atelier.explain(image_files["style"], tmp_path / "d", **TINY)
    stamp = (tmp_path / "d" / "explain.json").stat().st_mtime_ns
    atelier.explain(image_files["style"], tmp_path / "d", overwrite=True, **TINY)
    assert (tmp_path / "d" / "explain.json").stat().st_mtime_ns >= stamp


def test_progress_events_per_reconstruction(image_files, tmp_path):
    events = []
    atelier.explain(image_files["style"], tmp_path / "d", callback=events.append, **TINY)
    stages = [e for e in events if isinstance(e, atelier.events.Stage)]
    steps = [e for e in events if isinstance(e, atelier.events.Progress)]
    # reconstructions 1-2 at full size (2 steps), 3-5 at half size (1 step) then full size (1 step)
    assert [s.size for s in stages] == [(32, 32)] * 2 + [(16, 16), (32, 32)] * 3
    assert [s.index for s in stages] == [0, 1, 2, 2, 3, 3, 4, 4]
    assert len(steps) == 10 and steps[-1].total_iterations == 10
    assert isinstance(events[-1], atelier.events.Done)


@pytest.mark.parametrize("argv_tail,words", [
    (["--size", "5000"], "--size"),
    (["--size", "abc"], "abc"),
])
def test_cli_refuses_in_one_sentence(image_files, tmp_path, capsys, argv_tail, words):
    try:
        code = main(["explain", str(image_files["style"]), "-o", str(tmp_path / "d"), *argv_tail])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and words in err[-1] and not (tmp_path / "d").exists()


def test_cli_missing_painting_and_output_file(image_files, tmp_path, capsys):
    assert main(["explain", str(tmp_path / "nope.png"), "-o", str(tmp_path / "d")]) == 2
    assert main(["explain", str(image_files["style"]), "-o", str(image_files["content"])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "does not exist" in err[0] and "is a file" in err[1]


def test_cli_writes_the_sheet(image_files, tmp_path, capsys):
    code = main(["explain", str(image_files["style"]), "-o", str(tmp_path / "d"), "--size", "32",
                 "--iterations", "1", "--result", str(image_files["content"]), "-q"])
    assert code == 0 and (tmp_path / "d" / "sheet.jpg").is_file() and (tmp_path / "d" / "shares.png").is_file()
    assert "sheet.jpg" in capsys.readouterr().out


def test_web_explain_view(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from atelier.web import create_app

    with open(atelier.default_inputs()[1], "rb") as f:
        painting = f.read()
    with TestClient(create_app(tmp_path / "jobs"), base_url="http://127.0.0.1:7860") as c:
        assert "explain-form" in c.get("/").text and c.get("/static/explain.js").status_code == 200
        r = c.post("/api/explain", files=[("painting", ("art.jpg", painting, "image/jpeg"))],
                   data={"size": "32", "iterations": "1"})
        assert r.status_code == 201, r.text
        job = r.json()
        assert job["kind"] == "explain"
        for _ in range(600):
            job = c.get(f"/api/jobs/{job['id']}").json()
            if job["state"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.1)
        assert job["state"] == "done", job["error"]
        sheet = c.get(job["result"])
        assert sheet.status_code == 200 and sheet.content[:2] == b"\xff\xd8"  # a JPEG
        data = c.get(job["sidecar"]).json()
        assert len(data["reconstructions"]) == 5 and data["painting"] == "style-0.jpg"
        bad = c.post("/api/explain", files=[("painting", ("art.jpg", painting, "image/jpeg"))], data={"size": "8"})
        assert bad.status_code == 422 and "--size" in bad.json()["detail"]
        assert c.post("/api/explain", data={"size": "32"}).status_code == 422  # no painting
        bundled = c.post("/api/explain", data={"painting_bundled": "nope"})
        assert bundled.status_code == 422
