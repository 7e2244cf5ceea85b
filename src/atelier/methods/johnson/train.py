"""Training a Johnson et al. 2016 feed-forward style network on a folder of photos.

Johnson, Alahi & Fei-Fei 2016, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution": a
:class:`~atelier.methods.johnson.model.TransformerNet` f_W is trained so that y = f_W(x) minimises, over
photos x, the perceptual loss of eq. 6: a feature reconstruction (content) loss between y and x at
relu2_2, a Gram (style) loss between y and one style image at relu1_2 ... relu4_3, and a total-variation
term. Adam, lr 1e-3, batches of 4 crops of 256x256 (§4.1).

Deviations, each deliberate:
* the loss terms are atelier's relative, size-independent ones (``atelier.losses``), the same as Gatys's
  here, so ``style_strength`` has the same meaning for both methods; BASE_STYLE_WEIGHT is the same scale;
* VGG-19 instead of VGG-16 (one VGG in atelier; see ``train_config.STYLE_LAYERS``);
* random crops of photos resized to short side 256 (plus optional scale augmentation) instead of COCO
  images squashed to 256x256, so the network never sees distorted aspect ratios;
* 2000 steps by default instead of 40000 (2 epochs of COCO on a GPU): on a CPU that is what fits in ~30
  minutes (docs PERFORMANCE.md); ``--steps``/``--minutes`` and ``--resume`` train further, and ``--init``
  starts a new run (e.g. with other loss weights) from a trained model;
* the network itself deviates as ``model.py`` says (instance norm, upsample+conv, reflection padding).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from ... import __version__, io
from ...devices import resolve_precision
from ...engine import checkpoint as ckpt
from ...engine.data import ImageFolderData
from ...engine.train import train as run_training
from ...errors import OutputError
from ...events import Callback
from ...features import get_vgg19
from ...losses import PerceptualLoss
from ...methods.train_checks import check_paths, load_init, resumed_config, same_path
from ...paths import checkpoint_path
from .model import ARCHS, TransformerNet
from .train_config import JohnsonTrainConfig

logger = logging.getLogger(__name__)

METHOD = "johnson"
# The style term's scale at style_strength=1: the value Gatys uses in atelier (methods/gatys/method.py),
# kept equal so one strength means the same look for both methods. Not yet tuned on trained networks.
BASE_STYLE_WEIGHT = 10.0


def _arch(cfg: JohnsonTrainConfig) -> str | dict:
    """The network's ``arch``: the named size, with bilinear upsampling when asked for."""
    return cfg.arch if cfg.upsample == "nearest" else {**ARCHS[cfg.arch], "upsample": cfg.upsample}


def train(style, data, output, *, config: JohnsonTrainConfig | None = None, resume: bool = False,
          callback: Callback | None = None, device="auto", overwrite: bool = False) -> dict:
    """Train a network for the style image ``style`` on the photos under ``data`` (folder or folders) and
    write it to ``output`` (a .safetensors model, fp16, with a model card); the resumable checkpoint is kept
    beside it (:func:`checkpoint_path`). Returns a summary: output, checkpoint, steps, seconds, losses, card.

    Raises ``atelier.errors`` for bad inputs before any training; on Ctrl-C writes the checkpoint and raises
    :class:`~atelier.errors.Interrupted` (resume with ``resume=True``; with ``steps`` at or below the step
    reached, a resume writes the model without training).
    """
    from ...devices import resolve_device

    cfg = config or JohnsonTrainConfig()
    cfg.validate()
    style, output = Path(style).expanduser(), Path(output).expanduser()
    folders = [Path(d).expanduser() for d in ([data] if isinstance(data, (str, Path)) else data)]
    check_paths([style, *folders], output, resume=resume, overwrite=overwrite, preview=cfg.preview_every > 0)
    ckpt_file = checkpoint_path(output)
    if resume:
        cfg = resumed_config(cfg, ckpt_file, METHOD)
    dev = resolve_device(device)
    dtype = resolve_precision(cfg.precision, dev)

    # Inputs first (clear errors before minutes of work): the style image, then the photos.
    style_img = io.load_image(style, long_side=cfg.style_size, device=dev)  # (1,3,h,w)
    photos = ImageFolderData(folders, cfg.size, max_scale=cfg.max_scale, cache_mb=cfg.cache_mb)
    if any(same_path(output, f) or same_path(ckpt_file, f) for f in photos.files):
        raise OutputError(f"Refusing to write '{output}': it is one of the training images.")

    vgg = get_vgg19(weights=cfg.weights, device=dev, dtype=dtype)
    loss = PerceptualLoss(
        vgg, content_layers=cfg.content_layers, style_layers=cfg.style_layers,
        content_weight=cfg.content_weight, style_weight=BASE_STYLE_WEIGHT * cfg.style_strength,
        tv_weight=cfg.tv_weight,
    )
    loss.set_styles([loss.style_grams(style_img)], [1.0])  # Gram targets (1,C,C), computed once

    # The initial weights come from the seed without touching the caller's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = TransformerNet.from_arch(_arch(cfg)).to(dev)
    init = None if resume or not cfg.init else load_init(net, cfg.init, METHOD)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    # Crops, flips and epoch orders come from the seed and the sample's number (engine.data): this rank's
    # share of each global batch of cfg.batch_size.
    batches = photos.batches(cfg.batch_size, cfg.seed)
    preview_photo = photos.load_full().to(dev)  # (1,3,h,w): the first usable photo, short side = size

    def step_fn(batch: torch.Tensor) -> dict[str, torch.Tensor]:
        x = batch.to(dev, non_blocking=True)  # (B,3,S,S) photos in [0,1]
        return loss(net(x), content=x)  # each crop is its own content target (Johnson 2016 §3.1)

    config_dict = dataclasses.asdict(cfg)
    logger.info("Training a %s network (%d parameters) on %d photos, %s VGG passes.", cfg.arch,
                sum(p.numel() for p in net.parameters()), len(photos), str(dtype).removeprefix("torch."))
    result = run_training(
        model=net, optimizer=optimizer, step_fn=step_fn, batches=batches, steps=cfg.steps or None,
        minutes=cfg.minutes, checkpoint_path=ckpt_file,
        checkpoint_every=cfg.checkpoint_every,
        checkpoint_info={"method": METHOD, "arch": net.arch, "config": config_dict}, resume=resume,
        preview_fn=lambda: net(preview_photo), preview_every=cfg.preview_every, callback=callback,
        size=(cfg.size, cfg.size),
    )

    card = {
        "method": METHOD,
        "paper": "Johnson, Alahi & Fei-Fei 2016, Perceptual Losses for Real-Time Style Transfer and "
                 "Super-Resolution",
        "style": style.name,
        "data": {"folders": [str(f) for f in folders], "images": photos.usable},
        "steps": result.steps,
        "training_seconds": round(result.total_seconds, 1),
        **({"initialised_from": init} if init else {}),
        "arch": cfg.arch,
        "parameters": sum(p.numel() for p in net.parameters()),
        "precision": str(dtype).removeprefix("torch."),
        "device": str(dev),
        "final_losses": result.losses,
        "atelier": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    t0 = time.perf_counter()
    ckpt.save_model(output, net.state_dict(), method=METHOD, arch=net.arch, config=config_dict, card=card)
    logger.info("Wrote %s in %.2f s; checkpoint kept at %s.", output, time.perf_counter() - t0, ckpt_file)
    return {"output": output, "checkpoint": ckpt_file, "steps": result.steps, "seconds": result.seconds,
            "losses": result.losses, "stopped_by": result.stopped_by, "card": card}
