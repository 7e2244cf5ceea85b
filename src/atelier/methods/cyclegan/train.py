"""Training CycleGAN on two unpaired folders through the shared loop ``engine.train.train``.

Zhu, Park, Isola & Efros 2017, §3 (eq. 1-3, 5): generators G: A -> B and F: B -> A, discriminators D_B (is
this a real B image?) and D_A, trained on

    L = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)
        + 0.5 lambda (|G(b) - b|_1 + |F(a) - a|_1)                          (identity loss, §5.2)

with the least-squares GAN loss (Mao et al. 2017; §4 of the paper): the generators minimise (D(fake) - 1)^2,
the discriminators 0.5 [(D(real) - 1)^2 + D(pooled fake)^2].

**Alternating updates in one loop step.** The reference implementation computes the fakes once, updates
the generators (the discriminators frozen), then updates the discriminators on those same fakes (detached)
and real images. Nothing the discriminators' loss uses depends on the generators' new weights, and nothing
the generators' loss uses depends on the discriminators' new weights, so the two updates are *one*
gradient step of both, provided each loss reaches only its own networks: the generators' adversarial
terms go through the discriminators with their parameters detached (``torch.func.functional_call``), and
the discriminators see detached fakes. One Adam over both (two parameter groups, equal settings; Adam is
per-parameter) is then exactly the reference's two Adams. So ``engine.train`` needed no change: its one
``backward`` and one ``optimizer.step`` per step do the alternating updates, and its checkpoints, resume,
Ctrl-C and DistributedDataParallel path apply as they are.

The image pools change in the step: their writes are applied by a step hook of the optimizer (inside the
loop's guarded update), so an interrupted step leaves them as the checkpoint expects; their contents are
buffers of the trained module, so checkpoints hold them and a resume is bit-exact. With several processes
(torchrun) DistributedDataParallel broadcasts buffers from rank 0 at every step: the pools then hold rank 0's
generated images (each rank draws its own half-time choices), so such a run is not the single-process run
bit for bit (it is the paper's method all the same).

The learning rate: constant for the first half of ``steps``, then linear decay to 0 (the last step at
lr / (steps/2)); t is read from Adam's own step count, so a resume continues the schedule. With only
``minutes`` (``steps`` 0) the rate stays constant.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call

from ... import __version__
from ...devices import resolve_device, resolve_precision
from ...engine import checkpoint as ckpt
from ...engine.data import ImageFolderData, PairedStream
from ...engine.train import train as run_training
from ...errors import OptionError, OutputError
from ...events import Callback
from ...paths import checkpoint_path
from ..johnson.model import TransformerNet
from ..train_checks import check_paths, init_model_path, resumed_config, same_path
from .model import SIZES, CycleGANTrainer, generator_arch
from .train_config import CycleGANTrainConfig

logger = logging.getLogger(__name__)

METHOD = "cyclegan"
PAPER = ("Zhu, Park, Isola & Efros 2017, Unpaired Image-to-Image Translation using Cycle-Consistent "
         "Adversarial Networks")


def architecture(cfg) -> tuple[dict, int]:
    """(generator arch, discriminator width) of a training config: the size's, with overrides."""
    size = SIZES[cfg.size]
    return generator_arch(cfg.ngf or size["ngf"], cfg.blocks or size["blocks"]), cfg.ndf or size["ndf"]


def lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al. 2017): mean (pred - 1)^2 for 'real', mean pred^2 for 'fake'."""
    pred = pred.float()
    return ((pred - 1.0) ** 2).mean() if real else (pred ** 2).mean()


def frozen(d: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``d`` with its parameters detached: gradients reach the input only (the generators' adversarial
    terms must not train the discriminator)."""
    params = {n: p.detach() for n, p in d.named_parameters()}
    return lambda x: functional_call(d, params, (x,))


def linear_decay(optimizer: torch.optim.Optimizer, lr: float, steps: int) -> float:
    """Set and return lr for step t (Adam's own count): constant to steps/2, then linearly to lr/(steps/2)."""
    state = next(iter(optimizer.state.values()), {})
    t = int(state.get("step", 0))
    half = steps // 2
    factor = 1.0 if not steps or t < half else max(0.0, (steps - t) / max(1, steps - half))
    for group in optimizer.param_groups:
        group["lr"] = lr * factor
    return lr * factor


def make_step(net: CycleGANTrainer, cfg, generator: torch.Generator, bf16: bool):
    """``step(a, b)`` -> the named loss terms (and ``total``) of one step; a, b (B,3,S,S) in [0,1].

    Term names follow the reference implementation: G_A / G_B the adversarial terms of G: A -> B and
    F: B -> A, D_A / D_B the losses of the discriminators judging their outputs (B images, A images)."""
    lam, lam_idt = cfg.cycle_weight, cfg.cycle_weight * cfg.identity_weight
    g_ab, g_ba = net.gen.a2b, net.gen.b2a
    cast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else nullcontext

    def pm(x: torch.Tensor) -> torch.Tensor:  # [0,1] -> [-1,1], the paper's image range
        return x * 2.0 - 1.0

    def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # |x - y|_1 mean, on the [-1,1] scale
        return 2.0 * (x.float() - y.float()).abs().mean()

    def step(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        with cast():
            fake_b, fake_a = g_ab(a), g_ba(b)  # (B,3,S,S) in [0,1]
            rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
            d_b, d_a = frozen(net.d_b), frozen(net.d_a)
            terms = {"G_A": lsgan(d_b(pm(fake_b)), True), "G_B": lsgan(d_a(pm(fake_a)), True),
                     "cycle": lam * (l1(rec_a, a) + l1(rec_b, b))}
            terms["idt"] = (lam_idt * (l1(g_ab(b), b) + l1(g_ba(a), a)) if lam_idt
                            else torch.zeros((), device=a.device))
            # The discriminators: real images against generated ones (detached), half the time from the pool.
            old_b = net.pool_b.query(fake_b.detach().float(), generator)
            old_a = net.pool_a.query(fake_a.detach().float(), generator)
            terms["D_A"] = 0.5 * (lsgan(net.d_b(pm(b)), True) + lsgan(net.d_b(pm(old_b)), False))
            terms["D_B"] = 0.5 * (lsgan(net.d_a(pm(a)), True) + lsgan(net.d_a(pm(old_a)), False))
        terms["total"] = sum(terms.values())
        return terms

    return step


def preview_image(gen, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(1,3,2S,2S): row 1 a | G(a), row 2 b | F(b); a, b (1,3,S,S)."""
    return torch.cat([torch.cat([a, gen.a2b(a)], 3), torch.cat([b, gen.b2a(b)], 3)], 2).clamp(0, 1)


def _square(img: torch.Tensor, side: int) -> torch.Tensor:
    """The centre square of (1,3,h,w) resized to side x side."""
    h, w = img.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = img[..., top:top + s, left:left + s]
    return F.interpolate(crop, size=(side, side), mode="bilinear", align_corners=False, antialias=True)


def _folders(value) -> list[Path]:
    items = [value] if isinstance(value, (str, Path)) else list(value)
    return [Path(v).expanduser() for v in items]


def load_init(net: torch.nn.Module, name: str, method: str) -> dict:
    """--init: ``net.gen`` from a trained model of ``method`` (file or installed name); what the card records."""
    path = init_model_path(name)
    state, header = ckpt.load_model(path)
    if header.get("method") != method:
        raise OptionError(f"--init: '{path}' holds a {header.get('method')!r} network, not a {method} one.")
    try:
        net.gen.load_state_dict(state)
    except RuntimeError as err:
        raise OptionError(f"--init: '{path}' has other generators ({header.get('arch')}) than this training's "
                          f"size.") from err
    steps = (header.get("card") or {}).get("steps")
    logger.info("Generators started from %s (%s steps); discriminators from scratch.", path, steps)
    return {"file": path.name, "steps": steps}


def train(style, data, output, *, config: CycleGANTrainConfig | None = None, resume: bool = False,
          callback: Callback | None = None, device="auto", overwrite: bool = False) -> dict:
    """Train CycleGAN between the images under ``data`` (domain A, e.g. photos) and under ``style`` (domain
    B, e.g. paintings); write both generators to ``output`` (fp16 .safetensors with a card) and keep the
    resumable checkpoint beside it. Returns a summary: output, checkpoint, steps, seconds, losses, card.

    Bad inputs raise ``atelier.errors`` before any training; Ctrl-C writes the checkpoint and raises
    :class:`~atelier.errors.Interrupted` (continue with ``resume=True``)."""
    return train_unpaired(
        method=METHOD, paper=PAPER, style=style, data=data, output=output,
        config=config or CycleGANTrainConfig(), resume=resume, callback=callback, device=device,
        overwrite=overwrite,
        build=lambda cfg, arch, ndf: CycleGANTrainer(arch, ndf, cfg.pool_size, cfg.crop),
        groups=lambda net: [net.gen.parameters(), [*net.d_a.parameters(), *net.d_b.parameters()]],
        make_step=make_step, preview=lambda net, a, b: preview_image(net.gen, a, b))


def train_unpaired(*, method: str, paper: str, style, data, output, config, resume: bool, callback, device,
                   overwrite: bool, build: Callable, groups: Callable, make_step: Callable,
                   preview: Callable) -> dict:
    """What CycleGAN and CUT (``methods/cut``) share: checks, the two domains' streams, one Adam over
    parameter groups (``groups(net)``: generators, discriminators, ...), the loop, the card, the model file
    (``net.gen``'s weights). ``build(cfg, arch, ndf)`` -> the trained module (with ``gen`` and, if it has
    pools, ``commit``); ``make_step(net, cfg, generator, bf16)`` -> ``step(a, b)``; ``preview(net, a, b)``."""
    cfg = config
    cfg.validate()
    dirs_a, dirs_b, output = _folders(data), _folders(style), Path(output).expanduser()
    check_paths([*dirs_a, *dirs_b], output, resume=resume, overwrite=overwrite, preview=cfg.preview_every > 0)
    ckpt_file = checkpoint_path(output)
    if resume:
        cfg = resumed_config(cfg, ckpt_file, method)
    dev = resolve_device(device)
    bf16 = resolve_precision(cfg.precision, dev) == torch.bfloat16
    if bf16 and dev.type != "cpu":
        raise OptionError(f"{method}'s bf16 training is implemented for the CPU only; use --precision fp32.")

    # Each domain keeps half the decode cache; unreadable files are skipped with one warning each.
    dom_a = ImageFolderData(dirs_a, cfg.crop, max_scale=cfg.max_scale, cache_mb=cfg.cache_mb / 2)
    dom_b = ImageFolderData(dirs_b, cfg.crop, max_scale=cfg.max_scale, cache_mb=cfg.cache_mb / 2)
    for f in (*dom_a.files, *dom_b.files):
        if same_path(output, f) or same_path(ckpt_file, f):
            raise OutputError(f"Refusing to write '{output}': it is one of the training images.")

    arch, ndf = architecture(cfg)
    with torch.random.fork_rng(devices=[]):  # initial weights from the seed, the caller's RNG untouched
        torch.manual_seed(cfg.seed)
        net = build(cfg, arch, ndf).to(dev)
    init = None if resume or not cfg.init else load_init(net, cfg.init, method)
    # One Adam, one group per network kind: exactly the reference's separate Adams (Adam is per-parameter).
    optimizer = torch.optim.Adam([{"params": g} for g in groups(net)], lr=cfg.lr, betas=(cfg.beta1, 0.999))
    if hasattr(net, "commit"):
        optimizer.register_step_post_hook(lambda *_: net.commit())  # the pools' writes, with the weights'
    rng = torch.Generator().manual_seed(cfg.seed)  # the step's own draws (pools, patches); in the checkpoint
    batches = PairedStream(dom_a.batches(cfg.batch_size, cfg.seed, key="domain_a"),
                           dom_b.batches(cfg.batch_size, cfg.seed, key="domain_b"))
    view_a, view_b = (_square(d.load_full(), cfg.crop).to(dev) for d in (dom_a, dom_b))
    step = make_step(net, cfg, rng, bf16)

    def step_fn(batch) -> dict[str, torch.Tensor]:
        linear_decay(optimizer, cfg.lr, cfg.steps)
        a, b = (x.to(dev, non_blocking=True) for x in batch)
        return step(a, b)

    config_dict = dataclasses.asdict(cfg)
    with torch.random.fork_rng(devices=[]):  # a generator's size; building one must not draw from the RNG
        n_gen = sum(p.numel() for p in TransformerNet.from_arch(arch).parameters())
    logger.info("Training %s (%s: generators of %d parameters) on %d + %d images, %d px crops%s.", method,
                cfg.size, n_gen, len(dom_a), len(dom_b), cfg.crop, ", bf16" if bf16 else "")
    result = run_training(
        model=net, optimizer=optimizer, step_fn=step_fn, batches=batches, steps=cfg.steps or None,
        minutes=cfg.minutes, generator=rng, checkpoint_path=ckpt_file, checkpoint_every=cfg.checkpoint_every,
        checkpoint_info={"method": method, "arch": arch, "config": config_dict}, resume=resume,
        preview_fn=lambda: preview(net, view_a, view_b), preview_every=cfg.preview_every,
        callback=callback, size=(cfg.crop, cfg.crop),
    )
    card = {
        "method": method,
        "paper": paper,
        "domains": {"a": {"folders": [f.name for f in dirs_a], "images": dom_a.usable},
                    "b": {"folders": [f.name for f in dirs_b], "images": dom_b.usable}},
        "steps": result.steps,
        "training_seconds": round(result.total_seconds, 1),
        **({"initialised_from": init} if init else {}),
        "size": cfg.size,
        "crop": cfg.crop,
        "parameters": n_gen,
        "precision": "bf16" if bf16 else "fp32",
        "device": str(dev),
        "final_losses": result.losses,
        "atelier": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    ckpt.save_model(output, net.gen.state_dict(), method=method, arch=arch, config=config_dict, card=card)
    logger.info("Wrote %s; checkpoint kept at %s.", output, ckpt_file)
    return {"output": output, "checkpoint": ckpt_file, "steps": result.steps, "seconds": result.seconds,
            "losses": result.losses, "stopped_by": result.stopped_by, "card": card}
