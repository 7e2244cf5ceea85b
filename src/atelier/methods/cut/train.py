"""Training CUT / FastCUT on two unpaired folders (Park, Efros, Zhang & Zhu 2020), through CycleGAN's
shared unpaired trainer (``cyclegan.train.train_unpaired``: checks, streams, loop, card, model file).

One step: fake = G(a); the generator's loss is lambda_GAN (D(fake) - 1)^2 (D's parameters detached) plus
lambda_NCE PatchNCE(G's encoder on fake vs on a) (plus, for CUT, the identity PatchNCE on b and G(b),
averaged with it); the discriminator's is 0.5 [(D(b) - 1)^2 + D(fake detached)^2]. One Adam over three
groups (generator, discriminator, MLP heads) takes all updates at once, as CycleGAN's trainer does.

Deviations from the authors' code, deliberate: the authors update D first and then G against the *updated*
D; here both take one gradient step from the same weights (the CycleGAN reference order: the one-step
update ``engine.train`` runs); FastCUT's flip-equivariance augmentation is left out (the crops are
already flipped at random, ``engine.data``); no image pool (the authors' CUT has pool_size 0 too).
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from ..cyclegan.train import frozen, lsgan, train_unpaired
from .model import CUTTrainer, encoder_features, patch_nce
from .train_config import CUTTrainConfig

METHOD = "cut"
PAPER = "Park, Efros, Zhang & Zhu 2020, Contrastive Learning for Unpaired Image-to-Image Translation"


def make_step(net: CUTTrainer, cfg, generator: torch.Generator, bf16: bool):
    """``step(a, b)`` -> named loss terms (G_GAN, NCE, [NCE_Y], D) and ``total``; a, b (B,3,S,S) in [0,1]."""
    cast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else nullcontext

    def pm(x: torch.Tensor) -> torch.Tensor:  # [0,1] -> [-1,1], the paper's image range
        return x * 2.0 - 1.0

    def nce(src: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        # G's encoder on the input (keys, detached in patch_nce) and on the output (queries), same locations.
        keys, ids = net.mlp(encoder_features(net.gen, src), cfg.nce_patches, generator=generator)
        queries, _ = net.mlp(encoder_features(net.gen, out), cfg.nce_patches, ids=ids)
        terms = [patch_nce(q, k, src.shape[0], cfg.nce_temperature) for q, k in zip(queries, keys, strict=True)]
        return cfg.nce_weight * torch.stack(terms).mean()

    def step(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        with cast():
            fake = net.gen(a)  # (B,3,S,S) in [0,1]
            terms = {"G_GAN": cfg.gan_weight * lsgan(frozen(net.d)(pm(fake)), True), "NCE": nce(a, fake)}
            if cfg.nce_identity:
                terms["NCE_Y"] = nce(b, net.gen(b))
                terms["NCE"] = 0.5 * (terms["NCE"] + terms.pop("NCE_Y"))
            terms["D"] = 0.5 * (lsgan(net.d(pm(b)), True) + lsgan(net.d(pm(fake.detach())), False))
        terms["total"] = sum(terms.values())
        return terms

    return step


def preview_image(net: CUTTrainer, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(1,3,2S,2S): row 1 a | G(a), row 2 b | G(b) (a domain B image should come back nearly unchanged)."""
    return torch.cat([torch.cat([a, net.gen(a)], 3), torch.cat([b, net.gen(b)], 3)], 2).clamp(0, 1)


def train(style, data, output, *, config: CUTTrainConfig | None = None, resume: bool = False, callback=None,
          device="auto", overwrite: bool = False) -> dict:
    """Train a CUT generator from the images under ``data`` (domain A) to the look of those under ``style``
    (domain B); writes ``output`` (fp16 .safetensors, one generator, with a card) and its checkpoint."""
    return train_unpaired(
        method=METHOD, paper=PAPER, style=style, data=data, output=output, config=config or CUTTrainConfig(),
        resume=resume, callback=callback, device=device, overwrite=overwrite,
        build=lambda cfg, arch, ndf: CUTTrainer(arch, ndf),
        groups=lambda net: [net.gen.parameters(), net.d.parameters(), net.mlp.parameters()],
        make_step=make_step, preview=preview_image)
