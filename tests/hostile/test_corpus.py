"""The hostile-input corpus (issue 16): every case of ``cases.CASES`` through every front end it applies to.

A refusal must be exit 2 (the web: its documented 4xx) with one sentence naming the problem, no traceback,
nothing written anywhere in the workspace (no output, sidecar, snapshot, checkpoint, frame folder, temporary
file) and every input byte-identical; a valid but unusual input must give a sane result. Runs in-process
(``atelier.cli.main``) and through the web app's test client, at 32 px.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from .cases import CASES
from .frontends import FRONT_ENDS, close_web, make_workspace, unblock_fifos_later, web_client

PARAMS = [pytest.param(case, fe, id=f"{fe}:{case.name}") for case in CASES for fe in case.fes]


@pytest.fixture(scope="module", autouse=True)
def _web(tmp_path_factory):
    pytest.importorskip("fastapi")
    web_client(tmp_path_factory.mktemp("hostile-jobs"))
    yield
    close_web()


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny runs: one torch thread (see conftest)."""


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: a file's SHA-256, or its kind (directory, FIFO, ...): never opens a FIFO."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            st = os.lstat(p)
            rel = str(p.relative_to(folder))
            if stat.S_ISREG(st.st_mode):
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "dir" if stat.S_ISDIR(st.st_mode) else f"mode {stat.S_IFMT(st.st_mode):o}"
    return out


def jobs_tree() -> set[str]:
    from .frontends import _WEB

    return set(os.listdir(_WEB["jobs"]))


@pytest.mark.parametrize("case,fe_name", PARAMS)
def test_hostile_input(case, fe_name, tmp_path):
    if case.root_skip and os.geteuid() == 0:
        pytest.skip("root writes through permissions")
    fe = FRONT_ENDS[fe_name]
    args = make_workspace(tmp_path, fe)
    case.make(tmp_path, args, fe_name)
    expect, words = case.expectation(fe_name)
    before, jobs_before = tree(tmp_path), jobs_tree()
    watchdog = unblock_fifos_later(tmp_path)
    try:
        outcome = fe.run(args)
    finally:
        watchdog.set()
    where = f"{fe_name} / {case.name}: {outcome.code} {outcome.message.strip()[-600:]!r}"
    assert not watchdog.fired, f"{where}: the run blocked reading a FIFO"
    assert "Traceback" not in outcome.message and not str(outcome.code).startswith("exception"), where
    if expect == "ok":
        assert outcome.code in (0, 201), where
        if fe.long_side is not None:  # an image result: it opens, at the size asked
            size = outcome.image_size
            assert size is not None and max(size) == fe.long_side, where
            if case.portrait and fe_name != "texture":
                assert size[1] > size[0], f"{where}: not upright {size}"
        for name, digest in before.items():  # inputs untouched
            assert tree(tmp_path).get(name) == digest, f"{where}: {name} changed"
        return
    if fe_name.startswith("web"):
        assert outcome.code == case.web_status, where
        assert jobs_tree() == jobs_before, f"{where}: a job folder was left behind"
        message = outcome.message
    else:
        assert outcome.code == 2, where
        lines = [ln for ln in outcome.message.strip().splitlines() if ln.startswith("atelier")]
        assert len(lines) == 1, where
        message = lines[0]
    for w in words:
        assert w.lower() in message.lower(), f"{where}: {w!r} not in the sentence"
    assert tree(tmp_path) == before, f"{where}: files changed or written"
