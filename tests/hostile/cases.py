"""The corpus: each case swaps one hostile thing into a front end's good run and says what must happen.

``refuse``: exit 2 (the web: the documented 4xx), one sentence containing ``words`` (case-insensitive), no
traceback, nothing written, every input byte-identical. ``ok``: a valid but unusual input that must work: exit
0 (the web: job done) and a sane image (the long side asked; ``portrait`` for an EXIF-rotated photo).
``fes``: the front ends it applies to; ``web_status``: the web's answer to a refusal (422 unless said).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import inputs
from .frontends import Args

IMAGE_FES = ("stylize-gatys", "stylize-johnson", "stylize-adain", "stylize-quilting", "texture", "video", "train",
             "eval", "compare", "explain", "web")
VALID_IMAGE_FES = ("stylize-gatys", "stylize-johnson", "texture", "web")  # a run each: kept few for speed
IMAGE_OUT_FES = ("stylize-gatys", "stylize-johnson", "stylize-adain", "texture")
MODEL_FES = ("stylize-johnson", "export")


@dataclass
class Case:
    name: str
    fes: tuple[str, ...]
    make: Callable[[Path, Args, str], None]  # (workspace, args to change, front end)
    expect: str = "refuse"  # or "ok"
    words: tuple[str, ...] = ()
    web_status: int = 422
    portrait: bool = False
    per_fe: dict = field(default_factory=dict)  # front end -> (expect, words) where it differs
    root_skip: bool = False  # the check needs a non-root user (root writes anywhere)

    def expectation(self, fe: str) -> tuple[str, tuple[str, ...]]:
        return self.per_fe.get(fe, (self.expect, self.words))


def image(builder, *, web: bool = True, words_from_name: bool = True):
    """Swap the front end's main image for ``builder(folder)``; the web uploads its bytes."""
    def make(folder: Path, args: Args, fe: str) -> None:
        args.image = builder(folder)
    make.web = web
    make.name_in_words = words_from_name
    return make


def option(cli: dict, web: dict | None = None, web_data: dict | None = None):
    """Add CLI options (per front end, or '*' for all) and the web form's options or fields."""
    def make(folder: Path, args: Args, fe: str) -> None:
        if fe == "web":
            args.web_options.update(web or {})
            args.web_data.update(web_data or {})
        else:
            args.extra += [str(v) for v in cli.get(fe, cli.get("*", []))]
    return make


def output(builder):
    def make(folder: Path, args: Args, fe: str) -> None:
        args.out = builder(folder, args)
    return make


def model(builder):
    def make(folder: Path, args: Args, fe: str) -> None:
        args.model = builder(folder)
    return make


def video(builder):
    def make(folder: Path, args: Args, fe: str) -> None:
        args.video = builder(folder)
    return make


def data(builder):
    def make(folder: Path, args: Args, fe: str) -> None:
        args.data = builder(folder)
    return make


def _bundled_model() -> Path:
    import atelier

    return atelier.find_model(inputs_model_name())


def inputs_model_name() -> str:
    from .frontends import MODEL

    return MODEL


def _existing(name_of):
    def build(folder: Path, args: Args) -> Path:
        path = folder / name_of(args)
        path.write_bytes(b"keep me")
        return args.out
    return build


def _earlier_sheet(folder: Path, args: Args) -> Path:
    """`atelier explain`'s folder holding an earlier sheet (kept without --overwrite)."""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sheet.jpg").write_bytes(b"keep me")
    return args.out


def _sidecar_dir(folder: Path, args: Args) -> Path:
    (folder / (args.out.name + ".json")).mkdir()
    return args.out


def _read_only(folder: Path, args: Args) -> Path:
    if os.geteuid() == 0:  # root writes through permissions: /proc is read-only for everyone
        return Path("/proc/atelier-hostile-out") / args.out.name
    d = folder / "locked"
    d.mkdir()
    d.chmod(0o555)
    return d / args.out.name


def _parent_is_file(folder: Path, args: Args) -> Path:
    (folder / "notes.txt").write_text("a file")
    return folder / "notes.txt" / args.out.name


def _snapshot_is_input(folder: Path, args: Args, fe: str) -> None:
    args.image = inputs.save(folder, "out.iter00001.png")
    args.extra += ["--save-every", "1", "--overwrite"]


def _snapshot_exists(folder: Path, args: Args, fe: str) -> None:
    (folder / "out.iter00001.png").write_bytes(b"earlier snapshot")
    args.extra += ["--save-every", "1"]


def _init_is_output(folder: Path, args: Args, fe: str) -> None:
    init = inputs.save(folder, "init.png")
    args.out = init
    args.extra += ["--init", init, "--overwrite"]


def _preview_is_style(folder: Path, args: Args, fe: str) -> None:
    args.image = inputs.save(folder, "m.preview.png")


def _preview_exists(folder: Path, args: Args, fe: str) -> None:
    (folder / "m.preview.png").write_bytes(b"a preview of another run")


def _masks(builder, count: int = 1, flag: str = "--mask"):
    def make(folder: Path, args: Args, fe: str) -> None:
        args.extra += [flag, *[builder(folder) for _ in range(count)]]
    return make


def _wide_mask(folder: Path) -> Path:
    return inputs.save(folder, "wide-mask.png", inputs.photo(8, 64))


def _text_mask(folder: Path) -> Path:
    path = folder / "mask.png"
    path.write_text("white on the left")
    return path


def _frames_gap(folder: Path) -> Path:
    return inputs.frame_folder(folder, numbers=(1, 2, 4))


def _frames_empty(folder: Path) -> Path:
    d = folder / "no-frames"
    d.mkdir()
    return d


def _empty_data(folder: Path) -> Path:
    d = folder / "empty-data"
    d.mkdir()
    return d


def _resume_missing(folder: Path, args: Args, fe: str) -> None:
    args.extra += ["--resume"]


def _resume_changed(folder: Path, args: Args, fe: str) -> None:
    """A first run of one step (its model, checkpoint and preview are part of the workspace), then a resume
    that changes the learning rate."""
    from .frontends import FRONT_ENDS

    first = FRONT_ENDS["train"].run(args)
    assert first.code == 0, first.message
    args.extra += ["--resume", "--steps", "2", "--lr", "0.5"]


def _other_methods_model(folder: Path) -> Path:
    import atelier

    return atelier.find_model("adain")


BIG = 2**70

CASES: list[Case] = [
    # ------------------------------------------------------------------------------------------- files
    Case("missing file", IMAGE_FES[:-1], image(lambda d: d / "missing.png"), words=("missing.png", "not exist")),
    Case("directory as image", IMAGE_FES[:-1], image(inputs.directory), words=("album.png", "directory")),
    Case("fifo as image", IMAGE_FES[:-1], image(inputs.fifo), words=("pipe.png", "regular file")),
    Case("empty file", IMAGE_FES, image(inputs.empty), words=("empty",)),
    Case("random bytes", IMAGE_FES, image(inputs.random_bytes), words=("noise.png",),
         per_fe={"web": ("refuse", ("not an image",))}),
    Case("truncated jpeg", IMAGE_FES, image(inputs.truncated("JPEG", ".jpg")), words=("cut.jpg",),
         per_fe={"web": ("refuse", ("cut.jpg",))}),
    Case("truncated png", IMAGE_FES, image(inputs.truncated("PNG", ".png")), words=("cut.png",)),
    Case("truncated webp", IMAGE_FES, image(inputs.truncated("WEBP", ".webp")), words=("cut.webp",)),
    Case("truncated tiff", IMAGE_FES, image(inputs.truncated("TIFF", ".tif")), words=("cut.tif",)),
    Case("decompression bomb", IMAGE_FES, image(inputs.bomb), words=("pixels", "limit"), web_status=413),
    Case("1x1 image", IMAGE_FES, image(inputs.one_pixel), expect="ok"),  # scaled up to the size asked
    Case("16-bit gray", VALID_IMAGE_FES + ("eval", "stylize-adain"), image(inputs.gray16), expect="ok"),
    Case("16-bit rgb", VALID_IMAGE_FES, image(inputs.rgb16), expect="ok"),
    Case("cmyk jpeg", VALID_IMAGE_FES, image(inputs.cmyk), expect="ok"),
    Case("palette with alpha", VALID_IMAGE_FES + ("stylize-quilting",), image(inputs.palette_alpha), expect="ok"),
    Case("rgba with holes", VALID_IMAGE_FES, image(inputs.rgba_holes), expect="ok"),
    Case("animated gif", VALID_IMAGE_FES, image(inputs.animated_gif), expect="ok",
         per_fe={"web": ("refuse", ("GIF",))}),
    Case("multi-page tiff", VALID_IMAGE_FES, image(inputs.multipage_tiff), expect="ok"),
    Case("exif rotation", VALID_IMAGE_FES + ("stylize-adain",), image(inputs.exif_rotated), expect="ok",
         portrait=True, per_fe={"texture": ("ok", ())}),
    Case("unicode name", VALID_IMAGE_FES + ("eval", "train"), image(inputs.named("фото été 写真.png")), expect="ok"),
    Case("space in name", ("stylize-gatys", "texture", "compare", "web"), image(inputs.named("my photo.png")),
         expect="ok"),
    Case("leading dash name", ("stylize-gatys", "stylize-johnson", "texture", "eval"),
         lambda d, a, fe: (setattr(a, "image", inputs.named("-photo.png")(d)), setattr(a, "separator", True)),
         expect="ok"),
    Case("png named .jpg", ("stylize-gatys", "web"), image(inputs.png_named_jpg), expect="ok"),
    # ------------------------------------------------------------------------------------------- paths
    Case("output in a missing folder", IMAGE_OUT_FES, output(lambda d, a: d / "new" / "deeper" / a.out.name),
         expect="ok"),
    Case("output in a read-only folder", IMAGE_OUT_FES + ("video", "train", "export"), output(_read_only),
         words=("atelier-hostile-out",) if os.geteuid() == 0 else ("locked",)),
    Case("output is the input", IMAGE_OUT_FES, output(lambda d, a: a.image), words=("input",)),
    Case("unknown extension", IMAGE_OUT_FES + ("video", "train", "export"),
         output(lambda d, a: d / "out.xyz"), words=("out.xyz",)),
    Case("existing output", IMAGE_OUT_FES + ("video", "train", "export"), output(_existing(lambda a: a.out.name)),
         words=("already exists",)),
    Case("existing sidecar", IMAGE_OUT_FES + ("video",), output(_existing(lambda a: a.out.name + ".json")),
         words=(".json", "already exists")),
    Case("sidecar is a directory", IMAGE_OUT_FES,
         lambda d, a, fe: (_sidecar_dir(d, a), a.extra.append("--overwrite")), words=(".json", "directory")),
    Case("output is a directory", IMAGE_OUT_FES + ("train", "export"),
         output(lambda d, a: (d / a.out.name).mkdir() or d / a.out.name), words=("directory",)),
    Case("output under a file", IMAGE_OUT_FES + ("video",), output(_parent_is_file), words=("notes.txt",)),
    Case("compare output is a file", ("compare",), output(lambda d, a: a.style), words=("painting.png", "file")),
    Case("explain output is a file", ("explain",), output(lambda d, a: a.style), words=("painting.png", "file")),
    Case("explain folder holds a sheet", ("explain",), output(_earlier_sheet), words=("sheet.jpg", "already exists")),
    Case("snapshot name is the input", ("stylize-gatys",), _snapshot_is_input, words=("out.iter00001.png",)),
    Case("snapshot exists", ("stylize-gatys",), _snapshot_exists, words=("out.iter00001.png", "already exists")),
    Case("init image is the output", ("stylize-gatys",), _init_is_output, words=("init.png", "input")),
    Case("preview name is the style", ("train",), _preview_is_style, words=("m.preview.png", "input")),
    Case("preview exists", ("train",), _preview_exists, words=("m.preview.png", "already exists")),
    # ----------------------------------------------------------------------------------------- options
    Case("size 0", ("stylize-gatys", "stylize-adain", "texture", "train", "eval", "explain", "web"),
         option({"*": ["--size", "0"]}, {"size": 0}), words=("size",),
         per_fe={"stylize-adain": ("ok", ())}),
    Case("size negative", ("stylize-gatys", "stylize-johnson", "stylize-adain", "texture", "eval", "batch", "explain",
                           "web"),
         option({"*": ["--size", "-5"]}, {"size": -5}), words=("size", "-5")),
    Case("size huge", ("stylize-gatys", "stylize-johnson", "stylize-adain", "stylize-quilting", "texture", "eval",
                       "video", "batch", "explain", "web"),
         option({"*": ["--size", "100000"]}, {"size": 100000}), words=("100000",)),
    Case("mrf in tiles", ("stylize-gatys",), option({"*": ["--style-loss", "mrf", "--tile", "64"]}),
         words=("--style-loss mrf", "--tile")),
    Case("nan strength", ("stylize-gatys", "stylize-adain", "train", "web"),
         option({"stylize-gatys": ["--style-strength", "nan"], "train": ["--style-strength", "nan"],
                 "stylize-adain": ["--alpha", "nan"]}, {"style_strength": "nan"}), words=("nan",)),
    Case("inf weight", ("stylize-gatys", "train"), option({"*": ["--content-weight", "inf"]}), words=("inf",)),
    Case("nan in a list", ("stylize-gatys",), option({"*": ["--style-layer-weights", "1", "nan", "1", "1", "1"]}),
         words=("--style-layer-weights", "nan")),
    Case("negative lr", ("stylize-gatys", "train"), option({"*": ["--lr", "-1"]}), words=("--lr",)),
    Case("negative seed", ("stylize-gatys", "train", "web"), option({"*": ["--seed", "-1"]}, web_data={"seed": -1}),
         words=("--seed",)),
    Case("seed beyond 64 bits", ("stylize-gatys", "stylize-johnson", "texture", "video", "train", "compare", "batch",
                                 "web"),
         option({"*": ["--seed", BIG]}, web_data={"seed": BIG}), words=("--seed",)),
    Case("unknown layer", ("stylize-gatys", "train"), option({"*": ["--style-layers", "relu9_9"]}),
         words=("relu9_9",)),
    Case("weights for two styles, one given", ("stylize-gatys", "stylize-adain"),
         option({"*": ["--style-weights", "1", "2"]}), words=("--style-weights",)),
    Case("negative save-every", ("stylize-gatys",), option({"*": ["--save-every", "-1"]}), words=("--save-every",)),
    Case("mask of the wrong shape", ("stylize-gatys", "stylize-adain"), _masks(_wide_mask), words=("mask",)),
    Case("mask that is text", ("stylize-gatys",), _masks(_text_mask), words=("mask.png",)),
    Case("two masks, one style", ("stylize-gatys",), _masks(_wide_mask, 2), words=("mask",)),
    Case("style mask that is text", ("stylize-gatys", "stylize-adain"), _masks(_text_mask, flag="--style-mask"),
         words=("mask.png",)),
    Case("two style masks, one style", ("stylize-gatys",), _masks(_text_mask, 2, flag="--style-mask"),
         words=("style mask",)),
    Case("style mask of the wrong shape", ("stylize-gatys",), _masks(_wide_mask, flag="--style-mask"),
         words=("style mask", "aspect")),
    Case("semantic 0 regions", ("stylize-gatys", "stylize-adain"), option({"*": ["--semantic", "0"]}),
         words=("--semantic",)),
    Case("eval size 1", ("eval",), option({"*": ["--size", "1"]}), words=("size",)),
    Case("compare run size=abc", ("compare",), option({"*": ["--run", "gatys:size=abc"]}), words=("--size", "abc")),
    Case("compare iterations=2.5", ("compare",), option({"*": ["--run", "gatys:iterations=2.5"]}),
         words=("--iterations", "2.5")),
    Case("export opset 0", ("export",), option({"*": ["--opset", "0"]}), words=("--opset",)),
    Case("export opset 9999", ("export",), option({"*": ["--opset", "9999"]}), words=("--opset",)),
    Case("video fps nan", ("video",), lambda d, a, fe: (setattr(a, "video", inputs.frame_folder(d)),
                                                       a.extra.extend(["--fps", "nan"])), words=("--fps",)),
    Case("video fps 0", ("video",), lambda d, a, fe: (setattr(a, "video", inputs.frame_folder(d)),
                                                     a.extra.extend(["--fps", "0"])), words=("--fps",)),
    Case("train minutes nan", ("train",), option({"*": ["--minutes", "nan"]}), words=("--minutes",)),
    Case("cache-mb nan", ("train",), option({"*": ["--cache-mb", "nan"]}), words=("--cache-mb",)),
    Case("max-memory nan", ("stylize-gatys", "stylize-johnson", "stylize-adain", "batch"),
         option({"*": ["--max-memory", "nan"]}), words=("--max-memory",)),
    Case("tolerance nan", ("stylize-gatys",), option({"*": ["--tolerance", "nan"]}), words=("--tolerance",)),
    Case("style-scale inf", ("stylize-gatys",), option({"*": ["--style-scale", "inf"]}), words=("--style-scale",)),
    Case("nan style weight of two", ("stylize-adain", "stylize-gatys"), option({"*": ["--style-weights", "nan", "1"]}),
         words=("--style-weights", "nan")),
    Case("style strength so large the loss overflows", ("train",), option({"*": ["--style-strength", "1e38"]}),
         words=("loss",)),
    # ------------------------------------------------------------------------------------------ models
    Case("truncated model", MODEL_FES + ("video",), model(lambda d: inputs.truncated_model(d, _bundled_model())),
         words=("cut.safetensors",)),
    Case("model without atelier header", MODEL_FES, model(inputs.headerless_model), words=("plain.safetensors",)),
    Case("model of garbage", MODEL_FES, model(inputs.garbage_model), words=("garbage.safetensors",)),
    Case("model is a directory", MODEL_FES, model(lambda d: (d / "m.safetensors").mkdir() or d / "m.safetensors"),
         words=("m.safetensors", "directory")),
    Case("model is missing", MODEL_FES, model(lambda d: d / "gone.safetensors"), words=("gone.safetensors",)),
    Case("another method's model", ("stylize-johnson", "export"),
         lambda d, a, fe: (setattr(a, "model", _other_methods_model(d)),
                           a.extra.extend(["--method", "johnson"] if fe == "stylize-johnson" else [])),
         words=("adain",)),
    # ------------------------------------------------------------------------------------------ videos
    Case("corrupt video", ("video", "web-video"), video(inputs.corrupt_video), words=("broken.mp4",),
         per_fe={"web-video": ("refuse", ("broken.mp4", "not a video atelier can read"))}),
    Case("zero-frame upload", ("web-video",), video(inputs.zero_frame_video), words=("nothing.mp4", "no frames")),
    Case("video of zero frames", ("video",), video(inputs.zero_frame_video), words=("nothing.mp4",)),
    Case("frames with a gap", ("video",), video(_frames_gap), words=("frame",)),
    Case("empty frame folder", ("video",), video(_frames_empty), words=("no-frames",)),
    Case("start after the end", ("video",), option({"*": ["--start", "5"]}), words=("--start",)),
    Case("start after end option", ("video",), option({"*": ["--start", "2", "--end", "1"]}), words=("--end",)),
    Case("video is a fifo", ("video",), video(inputs.fifo), words=("pipe.png", "regular file")),
    Case("a fifo among the frames", ("video",),
         video(lambda d: (inputs.fifo(inputs.frame_folder(d, numbers=(1, 2))), d / "frames")[1]),
         expect="ok"),  # not a frame (only regular files are): the two frames are made, nothing blocks
    # ---------------------------------------------------------------------------------- training data
    Case("empty training folder", ("train",), data(_empty_data), words=("empty-data",)),
    Case("only bad training files", ("train",), data(inputs.bad_photo_folder), words=("bad-photos",)),
    Case("training data is a file", ("train",), data(lambda d: inputs.save(d, "one.png")), words=("one.png",)),
    Case("resume without checkpoint", ("train",), _resume_missing, words=("resume",)),
    Case("resume with changed options", ("train",), _resume_changed, words=("--lr", "0.5")),
]
