"""The layer order of ../shared/docs/ARCHITECTURE.md, enforced on the imports of every module of atelier.

Every ``import`` / ``from ... import`` of ``src/atelier`` is read with ``ast`` (module level, inside
functions and methods, under ``if TYPE_CHECKING``), as are ``importlib.import_module("atelier...")`` calls
with a literal name. Imports made from computed strings (the ``_LAZY`` table of ``atelier/__init__.py``,
the ``_COMMANDS`` table of the CLI, a MethodSpec's ``implementation``) are not seen, except that the
public names of ``atelier`` are resolved through ``_LAZY`` (below).

The rules:

* A module imports its own layer or lower ones only (``LAYERS``). ``atelier`` itself (the package root)
  is layer 0 for ``__version__`` and its submodules; a public name of it (``from atelier import stylize``)
  counts as the module ``_LAZY`` takes it from, and a bare ``import atelier`` (the whole public API) as the
  highest layer that API reaches (video, comparison: 4).
* ``metrics`` never imports ``methods``: the judge stays independent of what it judges.
* Front ends (``cli``, ``web``, and ``__main__``, the ``python -m atelier`` launcher) import only the public
  API, ``FRONT_END_API``: ``atelier`` (whose ``__all__`` is that API), ``atelier.errors``,
  ``atelier.events``, ``atelier.options`` (the declarative config fields the CLI options and the web form
  are generated from), ``atelier.paths`` and ``atelier.runtime`` (process tuning that only front ends
  apply, by design), all torch-free; their own package; and the other front end's package root only
  (``atelier serve`` starts ``atelier.web``; ``__main__`` calls ``atelier.cli``).
* Nobody imports another module's private name (``from x import _name``; dunders are not private).

A violation prints as ``file:line imports X (layer a -> b)``. ``KNOWN_VIOLATIONS`` lists the ones in files
that are being changed elsewhere right now; the lead removes each entry once its file is fixed (an entry
that no longer matches a violation fails the test, so the list only shrinks).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "atelier"

# The first component after ``atelier.`` -> layer. ``None`` is the package root (atelier/__init__.py).
LAYERS: dict[str | None, int] = {
    None: 0, "errors": 0, "events": 0, "paths": 0, "runtime": 0, "options": 0, "devices": 0, "io": 0, "provenance": 0, "watermark": 0,
    "features": 0, "losses": 0, "ops": 0, "weights": 0,
    "engine": 1,
    "methods": 2,
    "api": 3, "training": 3, "export": 3, "refine": 3, "worksize": 3, "protect": 3, "semantic": 3,
    "video": 4, "metrics": 4, "comparison": 4, "batch": 4, "explainer": 4,
    "cli": 5, "web": 5, "__main__": 5,
}
FRONT_ENDS = ("cli", "web", "__main__")
FRONT_END_API = ("atelier", "atelier.errors", "atelier.events", "atelier.options", "atelier.paths",
                 "atelier.runtime")
# What a front end may import of another front end: its package root (``atelier.web.create_app``).
FRONT_END_ROOTS = ("atelier.cli", "atelier.web")

# Known violations, as (file, what it imports), in files owned by engineers who are changing them right now.
# The lead empties this list: fix the import, then delete its entry (a stale entry fails the test).
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()  # none: keep it so


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    target: str  # the module imported, or module.name for a private name
    source_layer: int | None
    target_layer: int | None
    why: str = ""

    def __str__(self) -> str:
        layers = f"layer {self.source_layer} -> {self.target_layer}" + (f"; {self.why}" if self.why else "")
        return f"{self.file}:{self.line} imports {self.target} ({layers})"


def all_modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their own name)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def lazy_public_names() -> dict[str, str]:
    """``atelier``'s public name -> the module it is taken from (the ``_LAZY`` table, read with ast)."""
    tree = ast.parse((ROOT / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_LAZY" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("atelier/__init__.py has no _LAZY table")


MODULES = all_modules()
LAZY = lazy_public_names()


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "atelier":
        return None
    return LAYERS.get(parts[1] if len(parts) > 1 else None)


def top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


PUBLIC_API_LAYER = max(layer_of(m) for m in LAZY.values())


def imports_of(module: str, source: str, is_package: bool = False):
    """(line, imported module, imported name or None) of every atelier import in ``source``."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "atelier":
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "atelier":
                continue
            for alias in node.names:
                yield node.lineno, target, alias.name
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            arg = node.args[0].value
            if name == "import_module" and isinstance(arg, str) and arg.split(".")[0] == "atelier":
                yield node.lineno, arg, None


def check_module(module: str, file: str, source: str, is_package: bool = False) -> list[Violation]:
    """The violations of one module's imports (see the module docstring)."""
    found = []
    here = layer_of(module)
    for line, target, name in imports_of(module, source, is_package):
        imported = target
        if name is not None and f"{target}.{name}" in MODULES:
            imported, name = f"{target}.{name}", None  # a submodule: `from atelier import io`
        if imported == "atelier":
            if name is None:
                there = PUBLIC_API_LAYER  # `import atelier`: the whole public API
            elif name in LAZY:
                imported, there = LAZY[name], layer_of(LAZY[name])
            else:
                there = 0  # __version__
        else:
            there = layer_of(imported)
        if name and name.startswith("_") and not name.startswith("__") and imported != module:
            found.append(Violation(file, line, f"{imported}.{name}", here, there, "a private name"))
        if there is not None and here is not None and there > here:
            found.append(Violation(file, line, imported, here, there, "a lower layer imports a higher one"))
        if top(module) == "metrics" and top(imported) == "methods":
            found.append(Violation(file, line, imported, here, there, "metrics never import methods"))
        if top(module) in FRONT_ENDS:
            own = f"atelier.{top(module)}"
            allowed = (imported in FRONT_END_API or imported == own or imported.startswith(own + ".")
                       or imported in FRONT_END_ROOTS)
            if not allowed:
                why = "front ends use the public API only"
                found.append(Violation(file, line, imported, here, there, why))
    return found


def all_violations() -> list[Violation]:
    out = []
    for module, path in MODULES.items():
        if layer_of(module) is None:
            out.append(Violation(str(path.relative_to(SRC.parent)), 1, module, None, None,
                                 "a module of no layer: add it to LAYERS"))
            continue
        out += check_module(module, str(path.relative_to(SRC.parent)), path.read_text(encoding="utf-8"),
                            path.name == "__init__.py")
    return list(dict.fromkeys(out))  # `from x import a, b`: one line, not one per name


def test_imports_follow_the_layer_order():
    violations = all_violations()
    for v in violations:
        print(v)
    new = [v for v in violations if (v.file, v.target) not in KNOWN_VIOLATIONS]
    stale = sorted(KNOWN_VIOLATIONS - {(v.file, v.target) for v in violations})
    assert not new, "imports against the layer order:\n" + "\n".join(map(str, new))
    assert not stale, ("fixed, so remove from KNOWN_VIOLATIONS: "
                       + ", ".join(f"{f} -> {t}" for f, t in stale))


# ------------------------------------------------------------------------- the checker itself can fail


def test_checker_sees_imports_inside_functions_relative_imports_and_private_names():
    source = (
        "from .. import __version__, io\n"
        "from ..api import run\n"  # engine (1) -> api (3)
        "def f():\n"
        "    from .optimize import _lbfgs_history\n"  # private, inside a function
        "    import atelier.cli\n"  # engine (1) -> cli (5)
        "    import importlib\n"
        "    importlib.import_module('atelier.web.app')\n"
        "from atelier import stylize\n"  # the public name comes from atelier.api (3)
    )
    found = {(v.line, v.target, v.why) for v in check_module("atelier.engine.tiled", "x.py", source)}
    assert found == {
        (2, "atelier.api", "a lower layer imports a higher one"),
        (4, "atelier.engine.optimize._lbfgs_history", "a private name"),
        (5, "atelier.cli", "a lower layer imports a higher one"),
        (7, "atelier.web.app", "a lower layer imports a higher one"),
        (8, "atelier.api", "a lower layer imports a higher one"),
    }
    line = str(next(v for v in check_module("atelier.engine.tiled", "src/x.py", source) if v.line == 2))
    assert line == "src/x.py:2 imports atelier.api (layer 1 -> 3; a lower layer imports a higher one)"


def test_checker_rules_for_metrics_and_front_ends():
    metrics = check_module("atelier.metrics.distances", "m.py", "from ..methods import get_method\n")
    assert [v.why for v in metrics] == ["metrics never import methods"]
    cli = "import atelier\nfrom atelier.options import flag\nfrom .progress import P\nfrom ..io import x\n"
    found = check_module("atelier.cli.stylize", "c.py", cli)
    assert [(v.line, v.target) for v in found] == [(4, "atelier.io")]
    # `import atelier` is the whole public API (up to layer 4): not for the layers below.
    found = check_module("atelier.api", "a.py", "import atelier\n")
    assert [v.target_layer for v in found] == [PUBLIC_API_LAYER]
    # A module's own private names are its own business.
    assert check_module("atelier.engine.optimize", "o.py", "from atelier.engine.optimize import _x\n") == []

