"""Tests of atelier.engine.optimize: convergence, the [0,1] box, stopping rules, events and failures.

The losses are simple closed-form functions of the pixels, so every test runs in milliseconds.
"""

from __future__ import annotations

import math

import pytest
import torch

from atelier.engine.optimize import RunClock, optimize_image
from atelier.events import Progress, Stage

OPTIMIZERS = ["lbfgs", "adam"]
SHAPE = (1, 3, 16, 16)


def rand(lo: float = 0.0, hi: float = 1.0, seed: int = 0, shape=SHAPE) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def quadratic(target: torch.Tensor, offset: float = 0.0):
    """loss_fn with terms {"mse", "total"}: mean squared distance to `target` (+ a constant offset)."""

    def loss_fn(img: torch.Tensor) -> dict[str, torch.Tensor]:
        mse = (img - target).pow(2).mean()
        return {"mse": mse, "total": mse + offset}

    return loss_fn


class Recorder:
    """Callback keeping every event, with cloned Progress images (the engine passes a live view)."""

    def __init__(self):
        self.events = []
        self.images = []

    def __call__(self, event):
        self.events.append(event)
        if isinstance(event, Progress) and event.image is not None:
            self.images.append(event.image.clone())

    @property
    def progress(self) -> list[Progress]:
        return [e for e in self.events if isinstance(e, Progress)]


# ----------------------------------------------------------------------------------------- convergence


@pytest.mark.parametrize("optimizer,iterations", [("lbfgs", 30), ("adam", 300)])
def test_converges_on_quadratic(optimizer, iterations):
    """Both optimisers bring the image close to a target inside [0,1]."""
    target = rand(0.2, 0.8, seed=1)
    start = torch.full(SHAPE, 0.5)
    result = optimize_image(start, quadratic(target), iterations=iterations, optimizer=optimizer)
    assert result.image.shape == SHAPE
    assert (result.image - target).abs().max() < 0.01
    assert result.history[-1] < 1e-3 * result.history[0]
    assert result.iterations == iterations and not result.stopped_early and not result.interrupted
    assert result.losses["total"] == pytest.approx(result.history[-1])
    assert set(result.losses) == {"mse", "total"}


def test_input_is_not_modified():
    """optimize_image works on a copy of the parameter tensor."""
    start = torch.full(SHAPE, 0.5)
    optimize_image(start, quadratic(rand(0.2, 0.8, seed=1)), iterations=5)
    assert torch.equal(start, torch.full(SHAPE, 0.5))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_box_constraint(optimizer):
    """Pixels stay in [0,1] after every step when the target lies outside [0,1]."""
    target = rand(-0.5, 1.5, seed=2)
    rec = Recorder()
    result = optimize_image(torch.full(SHAPE, 0.5), quadratic(target), iterations=40, optimizer=optimizer,
                            callback=rec)
    assert len(rec.images) == 40  # one per step, each inside the box:
    assert all(img.min() >= 0 and img.max() <= 1 for img in rec.images)
    assert rec.images[-1].min() == 0 and rec.images[-1].max() == 1  # the bounds are reached, not avoided
    # The result is the last step's image as it was, not one clamped after the fact.
    assert torch.equal(result.image, rec.images[-1])


def test_adam_converges_to_clamped_target():
    """With the optimum outside the box, Adam ends at the target clamped to [0,1]."""
    target = rand(-0.5, 1.5, seed=2)
    result = optimize_image(torch.full(SHAPE, 0.5), quadratic(target), iterations=150, optimizer="adam")
    assert (result.image - target.clamp(0, 1)).abs().max() < 0.02


def test_lbfgs_converges_to_clamped_target():
    """With the optimum outside the box, L-BFGS gets close to the constrained optimum (the projected
    gradient keeps its curvature pairs valid despite the clamp after each step)."""
    target = rand(-0.5, 1.5, seed=2)
    best = (target.clamp(0, 1) - target).pow(2).mean().item()
    result = optimize_image(torch.full(SHAPE, 0.5), quadratic(target), iterations=40, optimizer="lbfgs")
    assert result.history[-1] < 1.1 * best


def test_render_is_applied():
    """The loss and the returned image see render(param): p*0.5 can never exceed 0.5."""
    target = torch.full(SHAPE, 0.9)
    result = optimize_image(torch.full(SHAPE, 0.5), quadratic(target), iterations=30,
                            render=lambda p: p * 0.5)
    assert result.image.max() <= 0.5
    # Best reachable: param at its upper bound 1 -> image 0.5.
    assert (result.image - 0.5).abs().max() < 0.01
    assert result.losses["total"] == pytest.approx(0.4**2, rel=0.05)


def test_unknown_optimizer():
    """An unknown optimiser name is a ValueError naming it."""
    with pytest.raises(ValueError, match="'sgd'"):
        optimize_image(torch.zeros(SHAPE), quadratic(torch.zeros(SHAPE)), iterations=1, optimizer="sgd")


# -------------------------------------------------------------------------------------------- stopping


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_tolerance_stops_early(optimizer):
    """On a loss that plateaus, tolerance > 0 stops the stage well before the maximum."""
    target = rand(0.2, 0.8, seed=3)
    result = optimize_image(torch.full(SHAPE, 0.5), quadratic(target, offset=1.0), iterations=1000,
                            optimizer=optimizer, lr=0.05 if optimizer == "adam" else None,
                            tolerance=1e-4, window=5)
    assert result.stopped_early and not result.interrupted
    assert 6 <= result.iterations < 1000
    assert len(result.history) == result.iterations
    # The stopping rule: less than 1e-4 relative improvement over the last `window` steps.
    ref = result.history[-6]
    assert (ref - result.history[-1]) / ref < 1e-4


def test_tolerance_respects_window_and_min_iterations():
    """A flat loss stops exactly after max(window, min_iterations) + 1 steps."""
    flat = lambda img: {"total": img.sum() * 0 + 1.0}
    r = optimize_image(torch.full(SHAPE, 0.5), flat, iterations=100, optimizer="adam", tolerance=1e-3, window=3)
    assert r.stopped_early and r.iterations == 4
    r = optimize_image(torch.full(SHAPE, 0.5), flat, iterations=100, optimizer="adam", tolerance=1e-3, window=3,
                       min_iterations=10)
    assert r.stopped_early and r.iterations == 11


def test_no_tolerance_runs_all_iterations():
    """With tolerance 0 (default) a flat loss still runs every iteration."""
    flat = lambda img: {"total": img.sum() * 0 + 1.0}
    r = optimize_image(torch.full(SHAPE, 0.5), flat, iterations=25, optimizer="adam")
    assert r.iterations == 25 and not r.stopped_early


# ---------------------------------------------------------------------------------------------- events


def test_progress_events(monkeypatch):
    """One Progress per iteration, numbered 1..n, with total, losses, elapsed and ETA (a fake clock that
    each loss evaluation advances by 1 s: step k of n has taken k s and has n - k s to go)."""
    from types import SimpleNamespace

    from atelier.engine import optimize

    now = [100.0]
    monkeypatch.setattr(optimize, "time", SimpleNamespace(perf_counter=lambda: now[0]))

    def timed(loss_fn):
        def timed_loss(img):
            now[0] += 1.0
            return loss_fn(img)

        return timed_loss

    rec = Recorder()
    n = 12
    clock = RunClock([(SHAPE[2] * SHAPE[3], n)], start=now[0])  # its default start is the real clock
    loss_fn = timed(quadratic(rand(0.2, 0.8)))
    result = optimize_image(torch.full(SHAPE, 0.5), loss_fn, iterations=n, clock=clock, callback=rec)
    prog = rec.progress
    assert len(prog) == n == result.iterations
    assert [p.iteration for p in prog] == list(range(1, n + 1))
    assert all(p.total_iterations == n for p in prog)
    assert all(set(p.losses) == {"mse", "total"} for p in prog)
    assert [p.losses["total"] for p in prog] == pytest.approx(result.history)
    assert [p.elapsed for p in prog] == [float(k) for k in range(1, n + 1)]
    assert [p.eta for p in prog] == [float(n - k) for k in range(1, n + 1)]  # 0 once nothing is left
    assert prog[-1].fraction == 1.0 and prog[0].fraction == pytest.approx(1 / n)
    assert all(p.stage == "optimize" for p in prog)
    torch.testing.assert_close(rec.images[-1], result.image)  # last event shows the returned image


def test_stage_event_first():
    """The Stage event is emitted before any Progress, and Progress carries its name."""
    rec = Recorder()
    stage = Stage(name="scale 1/2", index=0, total=2, size=SHAPE[2:], iterations=5)
    optimize_image(torch.full(SHAPE, 0.5), quadratic(rand(0.2, 0.8)), iterations=5, stage=stage, callback=rec)
    assert rec.events[0] is stage
    assert len(rec.events) == 6 and all(isinstance(e, Progress) for e in rec.events[1:])
    assert all(e.stage == "scale 1/2" for e in rec.events[1:])


def test_shared_clock_accumulates_over_stages():
    """A RunClock shared by two stages numbers iterations over the whole run."""
    small, big = (1, 3, 8, 8), (1, 3, 16, 16)
    clock = RunClock([(64, 4), (256, 6)])
    rec = Recorder()
    optimize_image(torch.full(small, 0.5), quadratic(rand(0.2, 0.8, shape=small)), iterations=4, clock=clock,
                   callback=rec)
    optimize_image(torch.full(big, 0.5), quadratic(rand(0.2, 0.8, shape=big)), iterations=6, clock=clock,
                   callback=rec)
    prog = rec.progress
    assert [p.iteration for p in prog] == list(range(1, 11))
    assert all(p.total_iterations == 10 for p in prog)
    assert clock.iteration == 10 and clock.work_done == 64 * 4 + 256 * 6
    assert prog[-1].eta == 0.0


def test_shared_clock_early_stop_shrinks_total():
    """When a stage stops early its unused iterations leave the run's planned total."""
    clock = RunClock([(256, 50), (256, 5)])
    flat = lambda img: {"total": img.sum() * 0 + 1.0}
    r = optimize_image(torch.full(SHAPE, 0.5), flat, iterations=50, optimizer="adam", tolerance=1e-3, window=3,
                       clock=clock)
    assert r.iterations == 4
    assert clock.total_iterations == 4 + 5
    rec = Recorder()
    optimize_image(torch.full(SHAPE, 0.5), quadratic(rand(0.2, 0.8)), iterations=5, clock=clock, callback=rec)
    assert [p.iteration for p in rec.progress] == [5, 6, 7, 8, 9]
    assert all(p.total_iterations == 9 for p in rec.progress)


# -------------------------------------------------------------------------------------------- failures


def failing_loss(target: torch.Tensor, k: int, failure: str):
    """Quadratic loss whose k-th evaluation returns NaN or raises KeyboardInterrupt."""
    calls = [0]

    def loss_fn(img):
        calls[0] += 1
        terms = quadratic(target)(img)
        if calls[0] == k:
            if failure == "interrupt":
                raise KeyboardInterrupt
            terms = {name: t * float("nan") for name, t in terms.items()}
        return terms

    return loss_fn


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_nan_loss_keeps_last_good_image(optimizer, caplog):
    """A NaN loss on step k stops the stage with the (finite) image of step k-1 and a warning."""
    rec = Recorder()
    k = 5
    result = optimize_image(torch.full(SHAPE, 0.5), failing_loss(rand(0.2, 0.8), k, "nan"), iterations=20,
                            optimizer=optimizer, callback=rec)
    assert result.stopped_early and not result.interrupted
    assert result.iterations == k - 1 == len(rec.progress) == len(result.history)
    assert torch.isfinite(result.image).all()
    torch.testing.assert_close(result.image, rec.images[-1])
    assert all(math.isfinite(h) for h in result.history)
    assert any("non-finite" in r.getMessage().lower() for r in caplog.records)


def test_nan_loss_result_losses_are_last_good():
    """After a NaN stop, result.losses are those of the last good step, not NaN."""
    result = optimize_image(torch.full(SHAPE, 0.5), failing_loss(rand(0.2, 0.8), 5, "nan"), iterations=20)
    assert math.isfinite(result.losses["total"])
    assert result.losses["total"] == pytest.approx(result.history[-1])


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_nan_gradient_keeps_finite_image(optimizer):
    """A finite loss with a NaN gradient (a diverging step) must not leave NaN pixels in the result."""
    target = rand(0.2, 0.8)

    def loss_fn(img):
        mse = (img - target).pow(2).mean()
        # Value exactly 0 but gradient NaN (0 * d sqrt(x)/dx at x = 0 = 0 * inf), as from a sqrt of a norm.
        return {"total": mse + 0 * (img - img.detach()).pow(2).sum().sqrt()}

    result = optimize_image(torch.full(SHAPE, 0.5), loss_fn, iterations=10, optimizer=optimizer)
    # The first step already diverges: the stage stops with the starting image, not NaN pixels.
    assert result.stopped_early and result.iterations == 0
    assert torch.equal(result.image, torch.full(SHAPE, 0.5))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_keyboard_interrupt_returns_partial(optimizer):
    """Ctrl-C inside the loss on step k returns interrupted=True with the finite image of step k-1."""
    rec = Recorder()
    k = 4
    result = optimize_image(torch.full(SHAPE, 0.5), failing_loss(rand(0.2, 0.8), k, "interrupt"),
                            iterations=20, optimizer=optimizer, callback=rec)
    assert result.interrupted and not result.stopped_early
    assert result.iterations == k - 1 == len(rec.progress)
    assert torch.isfinite(result.image).all()
    torch.testing.assert_close(result.image, rec.images[-1])
