"""`atelier serve` in a subprocess: a small burst (30 requests: cheap jobs, polls, malformed requests), a
restart during a job, and a token server's routes without the token. The full burst (200 requests, with
latency percentiles) is ``benchmarks/server_burst.py``, whose driver this test runs at a small size."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import server_burst as sb


def test_a_burst_leaves_the_server_answering_and_every_job_ended_with_a_reason(tmp_path):
    b = sb.run_burst(tmp_path / "jobs", 30, 6)
    assert b["errors"] == [] and b["server_errors"] == 0  # malformed ones got their 4xx, the rest 2xx
    assert b["counts"]["malformed"] >= 5 and b["jobs"] >= 3
    assert b["unfinished"] == [] and b["failed_without_reason"] == []
    assert b["states"]["done"] + b["states"]["failed"] == b["jobs"]
    assert b["alive_after"]
    assert b["path_leaks"] == []  # no answer (events, sidecars, errors, lists) names the jobs folder


def test_a_server_killed_during_a_job_marks_it_failed_on_restart(tmp_path):
    r = sb.run_restart(tmp_path / "jobs", signal.SIGKILL)
    assert r["state"] == "failed" and "server stopped" in r["error"]


def test_off_loopback_a_jobs_routes_need_the_token(tmp_path):
    t = sb.run_token(tmp_path / "jobs")
    assert t["with_token"] == 200
    assert t["without_token"] and all(a == w == 401 for a, w in t["without_token"].values())


def test_the_sidecar_route_names_no_server_path():
    from atelier.web.job_routes import without_paths

    side = {"inputs": {"content": "/srv/jobs/ab12/content.png", "styles": ["/srv/jobs/ab12/style-0.png"]},
            "output": "/srv/jobs/ab12/result.png", "config": {"model": "C:\\models\\m.safetensors", "size": 64},
            "method": "johnson"}
    assert without_paths(side) == {"inputs": {"content": "content.png", "styles": ["style-0.png"]},
                                   "output": "result.png", "config": {"model": "m.safetensors", "size": 64},
                                   "method": "johnson"}
