"""Defects a user saw in listings and the README (each test failed before its fix)."""

from __future__ import annotations

import re
from pathlib import Path

import atelier
from atelier.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_models_listing_describes_arbitrary_style_decoders(capsys):
    assert main(["models"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    for name in ("adain", "sanet"):  # the bundled decoders: their style is an input, not in the model
        assert "style: any painting (decoder)" in lines[name]
    assert "style: great_wave.jpg" in lines["great_wave"]
    assert not any("style: ?" in line for line in lines.values())


def test_readme_opening_describes_every_method():
    text = README.read_text(encoding="utf-8")
    opening = text.split("\n## ", 1)[0].split("\n\n")[1]  # the paragraph after the title
    assert "first release" not in opening
    for name in atelier.list_methods():
        assert re.search(rf"\b{name}\b", opening, re.IGNORECASE), f"the opening does not mention {name}"


def test_readme_options_table_names_only_real_gatys_options():
    """The README's gatys option table stays true to the config (a renamed option would break users)."""
    text = README.read_text(encoding="utf-8")
    table = text.split("### Options of `atelier stylize` (method `gatys`)", 1)[1].split("\n\n", 2)[1]
    flags = set(re.findall(r"`(--[a-z-]+)", table))
    fields = {"--" + f.replace("_", "-") for f in
              atelier.method_spec("gatys").config_class.__dataclass_fields__}
    generic = {"--output", "--style-weights", "--mask", "--dry-run", "--seed", "--save-every", "--device",
               "--overwrite", "--halo", "--tile", "--coarse-style", "--fine-style", "--color-from", "--protect",
               "--protect-strength", "--style-mask", "--semantic"}
    assert flags - fields - generic == set()
