"""K-SVD dictionary learning and batch orthogonal matching pursuit, in torch.

Aharon, Elad & Bruckstein 2006, "K-SVD: An Algorithm for Designing Overcomplete Dictionaries for Sparse
Representation" (IEEE TSP 54(11)): alternate sparse coding of the training signals (OMP, §III-A) and an
update of each atom with its coefficients by the rank-1 approximation of the residual that atom leaves over
the signals using it (§IV-B), replacing unused atoms by the worst-represented signal (§IV-E).

OMP is run for many signals at once (the Gram-matrix form of Rubinstein, Zibulevsky & Elad 2008, "Efficient
Implementation of the K-SVD Algorithm using Batch Orthogonal Matching Pursuit"): the correlations with
the residual are updated from ``D^T D``, and each step solves the signals' small (t x t) normal equations
as one batched solve. Shapes: a dictionary is (d, K) with unit-norm columns (atoms), signals are (N, d),
codes are (indices (N, T), coefficients (N, T)).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

# Entries of an OMP block's Gram rows (n, T, K): 2**24 fp32 (64 MiB). Large blocks mean few parallel
# regions, which matters on busy cores.
BLOCK_ENTRIES = 1 << 24
# Ridge on the normal equations: keeps them solvable when a signal is already exact (zero residual).
RIDGE = 1e-6
# Power iterations of the rank-1 atom update, started from the current atom (it moves little per sweep,
# so three steps give the leading singular pair to well under 1e-3 on patch data).
POWER_STEPS = 3


def omp(dictionary: torch.Tensor, signals: torch.Tensor, sparsity: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy codes with ``sparsity`` atoms per signal: (indices (N,T) long, coefficients (N,T))."""
    k = dictionary.shape[1]
    t_max = min(sparsity, k)
    gram = dictionary.T @ dictionary  # (K,K)
    eye = torch.eye(t_max, dtype=signals.dtype, device=signals.device) * RIDGE
    all_idx, all_coef = [], []
    chunk = max(256, BLOCK_ENTRIES // (t_max * k))
    for start in range(0, signals.shape[0], chunk):
        a0 = signals[start:start + chunk] @ dictionary  # (n,K) correlations of the signals
        a = a0
        idx = torch.empty(a0.shape[0], 0, dtype=torch.long, device=a0.device)
        for t in range(t_max):
            score = a.abs()
            if t:
                score.scatter_(1, idx, -1.0)  # an atom enters once
            idx = torch.cat([idx, score.argmax(1, keepdim=True)], 1)  # (n,t+1)
            g_sel = gram[idx]  # (n,t+1,K): Gram rows of the chosen atoms
            g_ss = g_sel.gather(2, idx[:, None, :].expand(-1, t + 1, -1))  # (n,t+1,t+1)
            coef = torch.linalg.solve(g_ss + eye[: t + 1, : t + 1], a0.gather(1, idx))  # (n,t+1)
            if t + 1 < t_max:
                a = a0 - torch.bmm(coef[:, None, :], g_sel)[:, 0]  # correlations with the new residual
        all_idx.append(idx)
        all_coef.append(coef)
    return torch.cat(all_idx), torch.cat(all_coef)


def reconstruct(dictionary: torch.Tensor, idx: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """(N,d) signals D x from codes (indices (N,T), coefficients (N,T))."""
    atoms = dictionary.T  # (K,d)
    chunk = max(256, BLOCK_ENTRIES // (idx.shape[1] * atoms.shape[1]))
    out = [torch.bmm(coef[s:s + chunk, None, :], atoms[idx[s:s + chunk]])[:, 0]  # (n,1,T)x(n,T,d)
           for s in range(0, idx.shape[0], chunk)]
    return torch.cat(out)


def ksvd(signals: torch.Tensor, atoms: int, sparsity: int, iterations: int, *,
         generator: torch.Generator | None = None,
         on_iteration: Callable[[int, float], None] | None = None) -> torch.Tensor:
    """A (d, K) dictionary for ``signals`` (N,d) (N >= K): K-SVD (Aharon 2006, fig. 2).

    Initialised with K distinct random training signals, normalised (§IV-E; zero signals get a random
    direction). ``on_iteration(i, rms)`` is called after each sweep with the RMS representation error.
    The atom-by-atom update is a loop of K small steps: it runs in numpy, whose small indexing and
    matrix-vector products stay on one thread (torch's parallel regions cost milliseconds each when the
    cores are busy, ~200x the work of a step)."""
    n, d = signals.shape
    pick = torch.randperm(n, generator=generator)[:atoms].to(signals.device)
    dic = signals[pick].T.clone()  # (d,K)
    noise = torch.randn(d, atoms, generator=generator, device="cpu").to(signals)
    norms = dic.norm(dim=0, keepdim=True)
    dic = torch.where(norms > 1e-6, dic / norms.clamp_min(1e-12), noise / noise.norm(dim=0, keepdim=True))
    y = signals.detach().cpu().numpy().astype(np.float32)
    for it in range(iterations):
        idx_t, coef_t = omp(dic, signals, sparsity)  # sparse coding stage (§IV-A)
        idx, coef = idx_t.cpu().numpy(), coef_t.cpu().numpy().copy()  # (N,T)
        dic_np = dic.cpu().numpy().copy()  # (d,K)
        t_used = idx.shape[1]
        resid = y - np.einsum("nt,ntd->nd", coef, dic_np.T[idx])  # (N,d)
        spare = (resid**2).sum(1)  # (N,) for replacing unused atoms by the worst-represented signals
        # The signals using each atom: code slots sorted by atom, cut at each atom's first slot.
        flat = idx.ravel()
        order = np.argsort(flat, kind="stable")
        bounds = np.searchsorted(flat[order], np.arange(atoms + 1))
        for k in range(atoms):  # codebook update stage, one atom at a time (§IV-B)
            sel = order[bounds[k]:bounds[k + 1]]
            if sel.size == 0:
                worst = int(spare.argmax())
                spare[worst] = 0.0
                r = resid[worst]
                if float(np.linalg.norm(r)) > 1e-8:
                    dic_np[:, k] = r / np.linalg.norm(r)
                continue
            rows, slots = sel // t_used, sel % t_used
            e_k = resid[rows] + np.outer(coef[rows, slots], dic_np[:, k])  # (m,d): residual without atom k
            v = dic_np[:, k]
            for _ in range(POWER_STEPS):  # leading right singular vector of e_k, from the current atom
                v = e_k.T @ (e_k @ v)
                v = v / max(float(np.linalg.norm(v)), 1e-12)
            x = e_k @ v  # (m,): its coefficients (singular value x left vector)
            dic_np[:, k] = v
            coef[rows, slots] = x
            resid[rows] = e_k - np.outer(x, v)
        dic = torch.from_numpy(dic_np).to(signals)
        if on_iteration is not None:
            on_iteration(it, float(np.sqrt((resid**2).mean())))
    return dic
