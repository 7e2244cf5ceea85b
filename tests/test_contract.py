"""The method contract, checked for every method the registry lists (``atelier.list_methods()``).

Each method's spec agrees with its class (the ``stylize`` signature, ``temporal`` iff the spec says
``temporal_loss``); every option is documented; the CLI's ``--help`` and the web form's schema are the
config's fields; the same seed gives the same image; and what a method cannot honour (masks, several styles,
``--save-every``, video) is refused in one sentence before any work. A toy method installed through the
``atelier.methods`` entry-point group (in a subprocess) shows that a third-party package plugs in without
wiring. Tiny by construction: 24x32 outputs, a few iterations, random-weight VGG where the weights are not
the point.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

import atelier
from atelier.cli import main
from atelier.errors import OptionError
from atelier.methods import Capabilities, MethodSpec, make_config, register, unregister
from atelier.options import Config, flag, option
from atelier.weights import has_model

METHODS = atelier.list_methods()

# Tiny, fast settings of each built-in method: a random-weight VGG (adain/sanet keep their bundled decoder),
# and johnson's bundled great_wave network. A new built-in method must add itself here.
TINY = {
    "gatys": dict(weights="random", size=32, iterations=3, coarse_iterations=0, tolerance=0.0, init="random"),
    "johnson": dict(model="great_wave", size=32, compile="off"),
    "adain": dict(weights="random", size=32, style_size=32),
    "sanet": dict(weights="random", size=32, style_size=32),
    "wct": dict(weights="random", size=32, style_size=32),  # model: a random-weight file, made below
    "cyclegan": dict(size=32, compile="off"),  # model: a random-weight file, made below
    "cut": dict(size=32, compile="off"),  # model: a random-weight file, made below
    "efros_leung": dict(size=32, window=5, sample_size=32),
    "quilting": dict(size=32, block=8, sample_size=32, passes=2),
    "portilla_simoncelli": dict(size=32, n_scales=2, spatial_neighbors=3, stylize_iterations=3, iterations=3,
                                tolerance=0.0),
    "sparse": dict(size=32, patch_size=4, atoms=16, sparsity=2, dictionary_iterations=2, training_patches=200,
                   scales=2, iterations=1),
    "elad_milanfar": dict(size=32, patch_sizes=[9, 5], gaps=[5, 3], levels=2, iterations=1, irls_iterations=2,
                          candidates=300, pca_dims=8),
}


def _random_wct_model() -> str:
    """No wct decoders are bundled yet: a random-weight model file stands in (the contract, not quality)."""
    import tempfile

    from atelier.engine.checkpoint import save_model
    from atelier.methods.wct.model import WCTNet

    torch.manual_seed(0)
    net = WCTNet("compact")
    path = Path(tempfile.mkdtemp()) / "wct-random.safetensors"
    return str(save_model(path, net.state_dict(), method="wct", arch=net.arch))


def _random_cyclegan_model() -> str:
    """No cyclegan model is bundled yet: tiny random generators stand in (the contract, not quality)."""
    import tempfile

    from atelier.engine.checkpoint import save_model
    from atelier.methods.cyclegan.model import GeneratorPair, generator_arch

    torch.manual_seed(0)
    pair = GeneratorPair(generator_arch(4, 1))
    path = Path(tempfile.mkdtemp()) / "cyclegan-random.safetensors"
    return str(save_model(path, pair.state_dict(), method="cyclegan", arch=pair.arch))


if not has_model("wct"):
    TINY["wct"]["model"] = _random_wct_model()
def _random_cut_model() -> str:
    """No cut model is bundled yet: a tiny random generator stands in."""
    import tempfile

    from atelier.engine.checkpoint import save_model
    from atelier.methods.cyclegan.model import generator_arch
    from atelier.methods.johnson.model import TransformerNet

    torch.manual_seed(0)
    net = TransformerNet.from_arch(generator_arch(4, 1))
    path = Path(tempfile.mkdtemp()) / "cut-random.safetensors"
    return str(save_model(path, net.state_dict(), method="cut", arch=net.arch))


if not has_model("cyclegan"):
    TINY["cyclegan"]["model"] = _random_cyclegan_model()
if not has_model("cut"):
    TINY["cut"]["model"] = _random_cut_model()

CONTRACT = [  # (name, kind, default) of stylize(content, style=None, *, config=None, ...)
    ("content", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
    ("style", inspect.Parameter.POSITIONAL_OR_KEYWORD, None),
    ("config", inspect.Parameter.KEYWORD_ONLY, None),
    ("generator", inspect.Parameter.KEYWORD_ONLY, None),
    ("callback", inspect.Parameter.KEYWORD_ONLY, None),
    ("masks", inspect.Parameter.KEYWORD_ONLY, None),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(name: str) -> dict:
    if name not in TINY:
        if atelier.method_spec(name).implementation.startswith("atelier."):
            pytest.fail(f"The built-in method {name!r} has no tiny settings in TINY (test_contract.py).")
        pytest.skip(f"{name!r} is a plug-in: no tiny settings known")
    return dict(TINY[name])


def assert_one_sentence(err: Exception, *words: str) -> None:
    text = str(err)
    assert text.endswith(".") and "\n" not in text and "Traceback" not in text, text
    for w in words:
        assert w in text, (w, text)


# --------------------------------------------------------------------------------------- spec and class


@pytest.mark.parametrize("name", METHODS)
def test_spec_agrees_with_the_class(name):
    spec = atelier.method_spec(name)
    cls = atelier.get_method(name)
    assert spec.name == name and cls.name == name and cls.spec is spec
    assert cls.config_class is spec.config_class and cls.capabilities == spec.capabilities
    assert dataclasses.is_dataclass(spec.config_class) and isinstance(spec.capabilities, Capabilities)
    params = list(inspect.signature(cls.stylize).parameters.values())
    assert params[0].name == "self"
    got = [(p.name, p.kind, p.default) for p in params[1:len(CONTRACT) + 1]]
    assert got == CONTRACT
    rest = {p.name: p for p in params[len(CONTRACT) + 1:]}
    assert ("temporal" in rest) == spec.capabilities.temporal_loss, "temporal= iff capabilities.temporal_loss"
    for p in rest.values():  # anything beyond the contract is optional and keyword-only
        assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty, p.name
    assert spec.describe().strip(), "an empty summary"
    instance = cls(make_config(spec.config_class, TINY.get(name, {})))
    assert isinstance(instance.info, dict)


@pytest.mark.parametrize("name", METHODS)
def test_every_option_has_help(name):
    spec = atelier.method_spec(name)
    classes = [spec.config_class] + ([spec.trainer.config_class] if spec.trainer else [])
    for config_class in classes:
        for f in dataclasses.fields(config_class):
            assert str(f.metadata.get("help", "")).strip(), f"{config_class.__name__}.{f.name} has no help"


def _mentions(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


@pytest.mark.parametrize("name", METHODS)
def test_stylize_help_lists_every_cli_option(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["stylize", "--method", name, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for f in dataclasses.fields(atelier.method_spec(name).config_class):
        shown = _mentions(text, flag(f.name))
        assert shown == (f.metadata.get("cli", True) is not False), (f.name, "cli" in f.metadata)


@pytest.mark.parametrize("name", METHODS)
def test_web_schema_agrees_with_the_config(name):
    schema = pytest.importorskip("atelier.web.schema")
    options = {o["name"]: o for o in schema.method_schema(name)["options"]}
    fields = {f.name: f for f in dataclasses.fields(atelier.method_spec(name).config_class)}
    # The run options beside the method's: --refine, for the one-pass methods that take the painting;
    # --work-size, for the methods with an output size; --protect/--protect-strength where the capabilities say so.
    run_options = [*dataclasses.fields(atelier.RefineOptions), *dataclasses.fields(atelier.WorkSizeOptions),
                   *dataclasses.fields(atelier.ProtectOptions), *dataclasses.fields(atelier.SemanticOptions)]
    assert ("refine" in options) == atelier.refinable(atelier.method_spec(name).capabilities)
    assert ("work_size" in options) == ("size" in fields)
    assert ("protect" in options) == ("protect_strength" in options) == atelier.method_spec(name).capabilities.protect
    caps = atelier.method_spec(name).capabilities
    assert ("semantic" in options) == (caps.style_masks and caps.masks)  # --semantic where regions can be guided
    fields.update({f.name: f for f in run_options if f.name in options})
    assert set(options) <= set(fields), "the form offers options the config does not have"
    missing = [n for n, f in fields.items() if f.metadata.get("cli", True) is not False and n not in options]
    assert not missing, f"the form lacks {missing}"
    for n, o in options.items():
        f = fields[n]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert o["default"] == default, n


# ------------------------------------------------------------------------------------------ behaviour


@pytest.mark.parametrize("name", METHODS)
def test_same_seed_same_image(name, image_files):
    spec = atelier.method_spec(name)
    style = [image_files["style"]] if spec.capabilities.needs_style else None
    opts = tiny(name)
    if spec.capabilities.fill:  # fills the mask's region from the rest of the photo
        opts["masks"] = [image_files["mask"]]
    a = atelier.run(image_files["content"], style, method=name, seed=5, device="cpu", **opts)
    b = atelier.run(image_files["content"], style, method=name, seed=5, device="cpu", **opts)
    assert a.image.shape == (1, 3, 24, 32) and a.info["method"] == name and a.info["seed"] == 5
    assert torch.isfinite(a.image).all() and float(a.image.min()) >= 0 and float(a.image.max()) <= 1
    assert torch.equal(a.image, b.image)


TEXTURES = [n for n in METHODS if atelier.method_spec(n).capabilities.texture]


@pytest.mark.parametrize("name", TEXTURES)
def test_texture_methods_synthesise_seeded_textures(name, image_files):
    opts = {k: v for k, v in tiny(name).items() if atelier.method_spec(name).config_class.__dataclass_fields__[k]
            .metadata.get("texture", True) is not False}
    a = atelier.run_texture(image_files["style"], method=name, size=(24, 32), seed=3, device="cpu", **opts)
    b = atelier.run_texture(image_files["style"], method=name, size=(24, 32), seed=3, device="cpu", **opts)
    c = atelier.run_texture(image_files["style"], method=name, size=(24, 32), seed=4, device="cpu", **opts)
    assert a.image.shape == (1, 3, 24, 32) and a.info["texture"] == {"size": [32, 24], "tileable": False}
    assert float(a.image.min()) >= 0 and float(a.image.max()) <= 1
    assert torch.equal(a.image, b.image) and not torch.equal(a.image, c.image)


@pytest.mark.parametrize("name", [n for n in METHODS if not atelier.method_spec(n).capabilities.texture])
def test_texture_is_refused_by_methods_that_cannot(name):
    with pytest.raises(OptionError) as err:
        atelier.prepare(name, tiny(name), n_styles=1, texture=True)
    assert_one_sentence(err.value, name, "textures")


# What each capability lets a run ask for: prepare()'s arguments for one style (none if the method takes
# none), and a refusal expected unless the method has it.
ASKS = {
    "masks": lambda n: dict(n_styles=n, n_masks=max(n, 1)),
    "several styles": lambda n: dict(n_styles=2),
    "save_every": lambda n: dict(n_styles=n, save_every=2),
    "video": lambda n: dict(n_styles=n, video=True),
    "protect": lambda n: dict(n_styles=n, protect="faces"),  # needs the face detector (the dev extra has it)
}


def _has(caps: Capabilities, ask: str) -> bool:
    return {"masks": caps.masks or caps.fill, "several styles": caps.needs_style and caps.multiple_styles,
            "save_every": caps.snapshots, "video": caps.video, "protect": caps.protect}[ask]


@pytest.mark.parametrize("ask", sorted(ASKS))
@pytest.mark.parametrize("name", METHODS)
def test_prepare_refuses_what_a_method_cannot_do(name, ask):
    spec = atelier.method_spec(name)
    kwargs = ASKS[ask](1 if spec.capabilities.needs_style else 0)
    if _has(spec.capabilities, ask):
        assert atelier.prepare(name, tiny(name), **kwargs).method == name
        return
    with pytest.raises(OptionError) as err:
        atelier.prepare(name, tiny(name), **kwargs)
    assert_one_sentence(err.value, name)


RUN_REFUSALS = [(name, ask) for name in METHODS for ask in ("masks", "several styles")
                if not _has(atelier.method_spec(name).capabilities, ask)]


@pytest.mark.parametrize("name,ask", RUN_REFUSALS)
def test_run_refuses_masks_and_several_styles_before_reading_an_image(name, ask, image_files, tmp_path):
    spec = atelier.method_spec(name)
    missing = tmp_path / "never-read.png"  # refused before any image is read: no "does not exist"
    if ask == "masks":
        style = [image_files["style"]] if spec.capabilities.needs_style else None
        kwargs, word = dict(masks=[image_files["mask"]]), "mask"
    else:
        style, kwargs, word = [image_files["style"], image_files["style2"]], {}, "style"
    with pytest.raises(OptionError) as err:
        atelier.run(missing, style, method=name, **kwargs, **tiny(name))
    assert_one_sentence(err.value, name, word)


SENTENCE = re.compile(r"^atelier[^\n]*: error: [^\n]+\.$")


def test_cli_refuses_save_every_for_johnson_in_one_sentence(image_files, tmp_path, capsys):
    out = tmp_path / "out.png"
    code = main(["stylize", "--method", "johnson", "--model", "great_wave", str(image_files["content"]),
                 "-o", str(out), "--save-every", "2", "-q"])
    _, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and SENTENCE.match(lines[0]), err
    assert "johnson" in lines[0] and "--save-every" in lines[0]
    assert not list(tmp_path.glob("out*"))


# -------------------------------------------------------------------------- a method without abilities


@dataclasses.dataclass
class ToyConfig(Config):
    strength: float = option(0.5, "How far each pixel moves towards the paintings' mean colour.",
                             minimum=0.0, maximum=1.0)


class Toy:
    """Blends the photo towards the mean colour of the style(s): the contract at its smallest."""

    def __init__(self, config=None):
        self.config = config or ToyConfig()
        self.info: dict = {}

    def stylize(self, content, style=None, *, config=None, generator=None, callback=None, masks=None):
        cfg = config or self.config
        mean = torch.stack([s.mean(dim=(2, 3), keepdim=True) for s in style]).mean(0)
        self.info = {"iterations": 0}
        return (1 - cfg.strength) * content + cfg.strength * mean


@pytest.fixture
def plain():
    """A method registered at run time that can do nothing beyond one style image."""
    spec = MethodSpec(name="_plain", summary="Test method.", config_class=ToyConfig,
                      capabilities=Capabilities(needs_style=True), implementation="tests:Toy")
    register(spec, Toy)
    yield spec.name
    unregister(spec.name)


@pytest.mark.parametrize("ask,words", [("masks", ["masks"]), ("several styles", ["one style image", "2"]),
                                       ("save_every", ["--save-every"]), ("video", ["video"]),
                                       ("protect", ["--protect faces", "gatys"])])
def test_each_missing_capability_is_refused(plain, ask, words):
    with pytest.raises(OptionError) as err:
        atelier.prepare(plain, {}, **ASKS[ask](1))
    assert_one_sentence(err.value, plain, *words)
    assert atelier.prepare(plain, {"strength": 0.25}, n_styles=1).config.strength == 0.25


def test_a_run_time_method_runs_through_the_api(plain, image_files):
    res = atelier.run(image_files["content"], image_files["style"], method=plain, strength=1.0, device="cpu")
    assert res.image.shape == (1, 3, 48, 64) and res.info["method"] == plain
    assert float((res.image - res.image.mean(dim=(2, 3), keepdim=True)).abs().max()) < 1e-6  # one colour
    with pytest.raises(OptionError) as err:
        atelier.run(image_files["content"], image_files["style"], method=plain, strength=2.0)
    assert_one_sentence(err.value, "--strength", "between 0 and 1")


# ------------------------------------------------------------------------- a plug-in by its entry point

TOY_SPEC = '''
from dataclasses import dataclass

from atelier.methods import Capabilities, MethodSpec
from atelier.options import Config, option


@dataclass
class ToyConfig(Config):
    size: int = option(32, "Long side of the output in pixels.", minimum=8)
    toy_strength: float = option(0.5, "How far each pixel moves towards the painting's mean colour.",
                                 minimum=0.0, maximum=1.0)


SPEC = MethodSpec(name="toy", summary="A toy plug-in: the photo blended towards the painting's mean colour.",
                  config_class=ToyConfig, capabilities=Capabilities(needs_style=True),
                  implementation="toy_pkg.method:Toy")
'''

TOY_METHOD = '''
import torch
import torch.nn.functional as F


class Toy:
    def __init__(self, config):
        self.config = config
        self.info = {}

    def stylize(self, content, style=None, *, config=None, generator=None, callback=None, masks=None):
        cfg = config or self.config
        h, w = content.shape[-2:]
        scale = cfg.size / max(h, w)
        x = F.interpolate(content, size=(round(h * scale), round(w * scale)), mode="bilinear",
                          align_corners=False)
        mean = torch.stack([s.mean(dim=(2, 3), keepdim=True) for s in style]).mean(0)
        self.info = {"iterations": 0}
        return (1 - cfg.toy_strength) * x + cfg.toy_strength * mean
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """A folder holding an installed third-party method package (``toy_pkg``) and its dist-info."""
    root = tmp_path_factory.mktemp("plugin")
    pkg = root / "toy_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "spec.py").write_text(TOY_SPEC)
    (pkg / "method.py").write_text(TOY_METHOD)
    info = root / "toy_atelier_method-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-atelier-method\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[atelier.methods]\ntoy = toy_pkg.spec:SPEC\n")
    return root


def run_with_plugin(plugin: Path, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(plugin), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, env=env,
                          check=False)


def test_plugin_is_listed(plugin):
    proc = run_with_plugin(plugin, "-m", "atelier", "methods")
    assert proc.returncode == 0, proc.stderr
    lines = {ln.split()[0]: ln for ln in proc.stdout.splitlines() if ln.strip()}
    assert "toy" in lines and "A toy plug-in" in lines["toy"] and "gatys" in lines
    assert "Ignoring" not in proc.stderr


def test_plugin_options_are_in_the_help(plugin):
    proc = run_with_plugin(plugin, "-m", "atelier", "stylize", "--method", "toy", "--help")
    assert proc.returncode == 0, proc.stderr
    assert _mentions(proc.stdout, "--toy-strength") and "How far each pixel moves" in proc.stdout


def test_plugin_runs_from_the_command_line(plugin, image_files, tmp_path):
    out = tmp_path / "toy.png"
    proc = run_with_plugin(plugin, "-m", "atelier", "stylize", "--method", "toy", str(image_files["content"]),
                           str(image_files["style"]), "-o", str(out), "--toy-strength", "0.25", "-q")
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == (32, 24)
    side = json.loads(atelier.sidecar_path(out).read_text())
    assert side["method"] == "toy" and side["config"] == {"size": 32, "toy_strength": 0.25}


def test_plugin_has_a_web_schema(plugin):
    pytest.importorskip("atelier.web.schema")
    code = textwrap.dedent("""
        import json
        from atelier.web.schema import method_schema
        s = method_schema("toy")
        print(json.dumps({o["name"]: o["default"] for o in s["options"]}))
    """)
    proc = run_with_plugin(plugin, "-c", code)
    assert proc.returncode == 0, proc.stderr
    # its config's fields, --refine (the toy takes the painting in one pass, so Gatys can continue it) and
    # --work-size (it has an output size)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"size": 32, "toy_strength": 0.5, "refine": 0,
                                                                 "work_size": 0}
