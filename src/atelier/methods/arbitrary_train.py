"""Training shared by the arbitrary-style methods (AdaIN, SANet, WCT): data, paths, resume, card, one loop.

Each trains a network (AdaIN: the decoder; SANet: attention modules and decoder; WCT: five reconstruction
decoders) with the fixed VGG-19 of ``atelier.features`` computing the losses: AdaIN and SANet on pairs of a
photo crop and a painting crop, WCT on photo crops alone (``style=None``). This module does what they
share -- the checks before any work, the data stream (``engine.data.PairedStream``: photos with the paper's
scale augmentation, paintings with a stronger one, both randomly flipped), the learning-rate decay, the
preview, the model card -- and runs the one training loop ``engine.train.train``; ``methods/*/train.py``
give only the network and the loss of one step.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch

from .. import __version__
from ..devices import resolve_precision
from ..engine import checkpoint as ckpt
from ..engine.data import ImageFolderData, PairedStream
from ..engine.train import train as run_training
from ..errors import OutputError
from ..features import get_vgg19
from ..paths import checkpoint_path
from .train_checks import check_paths, load_init, resumed_config, same_path

logger = logging.getLogger(__name__)

def _folders(value) -> list[Path]:
    items = [value] if isinstance(value, (str, Path)) else list(value)
    return [Path(v).expanduser() for v in items]


def decayed_lr(optimizer: torch.optim.Optimizer, lr: float, decay: float) -> None:
    """Set lr / (1 + decay * t), t = the optimizer's own step count (restored by a resume with its state)."""
    state = next(iter(optimizer.state.values()), {})
    t = float(state.get("step", 0))
    for group in optimizer.param_groups:
        group["lr"] = lr / (1.0 + decay * t)


def decoder_arch(name: str, upsample: str) -> str | dict:
    """The arch a model file records: the name alone for the paper's nearest upsampling (as files written
    before the option), else the stages with the upsampling."""
    from .adain.model import ARCHS

    return name if upsample == "nearest" else {**ARCHS[name], "upsample": upsample}


def train_arbitrary(*, method: str, paper: str, style, data, output, config, resume: bool, callback,
                    device, overwrite: bool, build: Callable[[str], torch.nn.Module],
                    make_step: Callable, make_preview: Callable, arch_of: Callable | None = None) -> dict:
    """The shared body of ``train`` for AdaIN, SANet and WCT (see the module doc).

    ``build(arch)`` -> the untrained network (``arch``: ``arch_of(cfg)``, or the config's decoder with its
    upsampling);
    ``make_step(net, vgg, cfg)`` -> ``step(content, style)`` (``step(content)`` when ``style`` is None: photos
    only) returning the named weighted terms with ``total``; ``make_preview(net, vgg, cfg)`` -> ``preview(c, s)``
    (or ``preview(c)``).
    """
    from ..devices import resolve_device

    cfg = config
    cfg.validate()
    paired = style is not None
    style_dirs = _folders(style) if paired else []
    content_dirs, output = _folders(data), Path(output).expanduser()
    check_paths([*style_dirs, *content_dirs], output, resume=resume, overwrite=overwrite,
                preview=cfg.preview_every > 0)
    ckpt_file = checkpoint_path(output)
    if resume:
        cfg = resumed_config(cfg, ckpt_file, method)
    dev = resolve_device(device)
    dtype = resolve_precision(cfg.precision, dev)

    photos = ImageFolderData(content_dirs, cfg.size, max_scale=cfg.content_scale,
                             cache_mb=cfg.cache_mb / 2 if paired else cfg.cache_mb)
    paintings = (ImageFolderData(style_dirs, cfg.size, max_scale=cfg.style_scale, cache_mb=cfg.cache_mb / 2)
                 if paired else None)
    for f in (*photos.files, *(paintings.files if paired else ())):
        if same_path(output, f) or same_path(ckpt_file, f):
            raise OutputError(f"Refusing to write '{output}': it is one of the training images.")

    vgg = get_vgg19(weights=cfg.weights, device=dev, dtype=dtype)
    with torch.random.fork_rng(devices=[]):  # initial weights from the seed, the caller's RNG untouched
        torch.manual_seed(cfg.seed)
        net = build(arch_of(cfg) if arch_of else decoder_arch(cfg.arch, cfg.upsample)).to(dev)
    init = None if resume or not cfg.init else load_init(net, cfg.init, method)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    # Crops, flips and epoch orders of both streams come from the seed and the sample's number
    # (engine.data): this rank's share of each global batch of cfg.batch_size.
    batches = photos.batches(cfg.batch_size, cfg.seed, key="photos")
    preview_pair = (photos.load_full().to(dev),)
    if paired:
        batches = PairedStream(batches, paintings.batches(cfg.batch_size, cfg.seed, key="paintings"))
        preview_pair += (paintings.load_full().to(dev),)
    step = make_step(net, vgg, cfg)
    preview = make_preview(net, vgg, cfg)

    def step_fn(batch) -> dict[str, torch.Tensor]:
        decayed_lr(optimizer, cfg.lr, cfg.lr_decay)
        return step(*(b.to(dev, non_blocking=True) for b in (batch if paired else (batch,))))

    config_dict = dataclasses.asdict(cfg)
    n_params = sum(p.numel() for p in net.parameters())
    logger.info("Training %s (%s, %d parameters) on %d photos%s, %s VGG passes.", method, cfg.arch, n_params,
                len(photos), f" and {len(paintings)} paintings" if paired else "", str(dtype).removeprefix("torch."))
    result = run_training(
        model=net, optimizer=optimizer, step_fn=step_fn, batches=batches, steps=cfg.steps or None,
        minutes=cfg.minutes, checkpoint_path=ckpt_file, checkpoint_every=cfg.checkpoint_every,
        checkpoint_info={"method": method, "arch": net.arch, "config": config_dict}, resume=resume,
        preview_fn=lambda: preview(*preview_pair), preview_every=cfg.preview_every, callback=callback,
        size=(cfg.size, cfg.size),
    )
    card = {
        "method": method,
        "paper": paper,
        "data": {"content_folders": [str(f) for f in content_dirs], "content_images": photos.usable,
                 **({"style_folders": [str(f) for f in style_dirs], "style_images": paintings.usable}
                    if paired else {})},
        "steps": result.steps,
        "training_seconds": round(result.total_seconds, 1),
        **({"initialised_from": init} if init else {}),
        "arch": cfg.arch,
        "parameters": n_params,
        "precision": str(dtype).removeprefix("torch."),
        "device": str(dev),
        "final_losses": result.losses,
        "atelier": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    ckpt.save_model(output, net.state_dict(), method=method, arch=net.arch, config=config_dict, card=card)
    logger.info("Wrote %s; checkpoint kept at %s.", output, ckpt_file)
    return {"output": output, "checkpoint": ckpt_file, "steps": result.steps, "seconds": result.seconds,
            "losses": result.losses, "stopped_by": result.stopped_by, "card": card}
