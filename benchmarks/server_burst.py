"""A bounded burst against `atelier serve` on loopback, a restart during a job, and the token off loopback.

    python benchmarks/server_burst.py [--requests 200] [--seconds 20] [--out benchmarks/results/server_burst.md]

1. Burst: the server runs in a subprocess on a free port; ``--requests`` requests are sent over ``--seconds``
   (8 client threads, evenly spaced starts): uploads of tiny images creating cheap jobs (johnson with a
   bundled model, adain, at 64 px), status polls (a job, the job list), event streams and results of
   finished jobs, and malformed requests (bad JSON options, unknown method, no content, random bytes as
   an image, an unknown job, a path in the job id, a too large upload). Each answer's status is checked
   against what that kind of request must get. Afterwards: the server still answers, every accepted job
   ends ``done`` or ``failed`` with a reason, and no response body (events, sidecars, errors, job lists)
   contains the jobs folder's path.
2. Restart: a long job is started; the server is killed (SIGKILL, then again with SIGTERM) while it runs and
   started again on the same jobs folder: the job must read ``failed`` with a reason, never ``running``.
3. Token off loopback: bound to 0.0.0.0 with ``--token``, a job created with the token; every route of that
   job without the token (or with a wrong one) must answer 401.

Prints the latency percentiles (p50/p95/p99) and the error count, and writes them as markdown. Times are
wall-clock on a shared machine: label them (the CPU model is printed beside them).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

TERMINAL = ("done", "failed", "cancelled")
CHEAP_JOBS = [("johnson", {"model": "starry_night", "size": 64}), ("adain", {"size": 64})]


# ------------------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`atelier serve` in a subprocess (its own process group, so it can be killed with its threads)."""

    def __init__(self, jobs_dir: Path, *, host: str = "127.0.0.1", token: str | None = None,
                 max_upload_mb: float = 1.0):
        self.jobs_dir, self.host, self.token = jobs_dir, host, token
        self.port = free_port()
        self.max_upload_mb = max_upload_mb
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> Server:
        argv = [sys.executable, "-m", "atelier", "serve", "--host", self.host, "--port", str(self.port),
                "--jobs-dir", str(self.jobs_dir), "--max-upload-mb", str(self.max_upload_mb)]
        if self.token:
            argv += ["--token", self.token]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"atelier serve exited: {self.proc.stderr.read()}")
            try:
                if request(self, "GET", "/api/info", auth=True).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("atelier serve did not answer in time")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float
    headers: dict = field(default_factory=dict)

    def json(self):
        return json.loads(self.body)


def request(server: Server, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None,
            auth: bool = True, token: str | None = None, timeout: float = 60) -> Answer:
    """One HTTP request on a new connection (as independent clients do)."""
    h = dict(headers or {})
    given = token if token is not None else (server.token if auth else None)
    if given:
        h["Authorization"] = f"Bearer {given}"
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return Answer(r.status, data, time.perf_counter() - t0, dict(r.getheaders()))
    finally:
        conn.close()


def png(seed: int, w: int = 48, h: int = 40) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def multipart(fields: dict, files: list[tuple[str, str, bytes]]) -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode())
    for name, filename, data in files:
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n".encode())
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def create_job(server: Server, method: str, options: dict, seed: int, *, auth: bool = True,
               style: bool | None = None) -> Answer:
    files = [("content", "photo.png", png(seed))]
    if style if style is not None else method != "johnson":
        files.append(("style", "painting.png", png(seed + 1)))
    body, headers = multipart({"method": method, "options": json.dumps(options)}, files)
    return request(server, "POST", "/api/jobs", body=body, headers=headers, auth=auth)


# -------------------------------------------------------------------------------------------- the burst


@dataclass
class Record:
    kind: str  # what was asked ("create", "poll", "malformed:...")
    status: int | None  # None: no answer (connection error)
    seconds: float
    ok: bool  # the status is what this kind of request must get
    body: bytes = b""


def malformed(server: Server, i: int) -> tuple[str, Answer, tuple[int, ...]]:
    """One malformed request (cycled by ``i``) and the statuses that are a correct refusal."""
    case = i % 8
    if case == 0:
        body, h = multipart({"method": "adain", "options": "{not json"}, [("content", "a.png", png(i)),
                                                                          ("style", "b.png", png(i + 1))])
        return "bad-json", request(server, "POST", "/api/jobs", body=body, headers=h), (422,)
    if case == 1:
        body, h = multipart({"method": "no_such_method", "options": "{}"}, [("content", "a.png", png(i))])
        return "unknown-method", request(server, "POST", "/api/jobs", body=body, headers=h), (422,)
    if case == 2:
        body, h = multipart({"method": "adain", "options": "{}"}, [("style", "b.png", png(i))])
        return "no-content", request(server, "POST", "/api/jobs", body=body, headers=h), (422,)
    if case == 3:
        junk = random.Random(i).randbytes(3000)
        body, h = multipart({"method": "adain", "options": "{}"}, [("content", "a.png", junk),
                                                                  ("style", "b.png", png(i))])
        return "random-bytes", request(server, "POST", "/api/jobs", body=body, headers=h), (422,)
    if case == 4:
        return "unknown-job", request(server, "GET", "/api/jobs/0123456789abcdef0123456789abcdef"), (404,)
    if case == 5:
        return "path-in-id", request(server, "GET", "/api/jobs/..%2F..%2Fetc%2Fpasswd/result"), (404,)
    if case == 6:
        body = b"x" * int(server.max_upload_mb * (1 << 20) + 10)
        return "too-large", request(server, "POST", "/api/jobs", body=body,
                                    headers={"Content-Type": "multipart/form-data; boundary=x"}), (413,)
    body, h = multipart({"method": "adain", "options": json.dumps({"size": -5})}, [("content", "a.png", png(i)),
                                                                                   ("style", "b.png", png(i + 1))])
    return "bad-option", request(server, "POST", "/api/jobs", body=body, headers=h), (422,)


def burst(server: Server, n: int, seconds: float, *, threads: int = 8, seed: int = 0) -> tuple[list[Record], list[str]]:
    """``n`` requests over ``seconds``: ~30 % job creations, ~45 % polls/reads, ~25 % malformed."""
    rng = random.Random(seed)
    kinds = [rng.choices(["create", "poll", "malformed"], weights=[3, 4.5, 2.5])[0] for _ in range(n)]
    kinds[0] = "create"
    jobs: list[str] = []
    lock = threading.Lock()
    t_start = time.monotonic()

    def one(i: int) -> Record:
        time.sleep(max(0.0, t_start + i * seconds / n - time.monotonic()))
        kind = kinds[i]
        try:
            if kind == "create":
                method, options = CHEAP_JOBS[i % len(CHEAP_JOBS)]
                a = create_job(server, method, options, seed=i)
                if a.status == 201:
                    with lock:
                        jobs.append(a.json()["id"])
                return Record(f"create:{method}", a.status, a.seconds, a.status == 201, a.body)
            if kind == "poll":
                with lock:
                    known = list(jobs)
                if not known or i % 5 == 0:
                    a = request(server, "GET", "/api/jobs")
                    return Record("poll:list", a.status, a.seconds, a.status == 200, a.body)
                job = rng.choice(known)
                if i % 3 == 0:  # a finished job's files, or 404 "no result yet"
                    a = request(server, "GET", f"/api/jobs/{job}/sidecar")
                    return Record("poll:sidecar", a.status, a.seconds, a.status in (200, 404), a.body)
                a = request(server, "GET", f"/api/jobs/{job}")
                return Record("poll:job", a.status, a.seconds, a.status == 200, a.body)
            name, a, expected = malformed(server, i)
            return Record(f"malformed:{name}", a.status, a.seconds, a.status in expected, a.body)
        except OSError as err:  # no answer at all
            return Record(kind, None, 0.0, False, str(err).encode())

    with ThreadPoolExecutor(threads) as pool:
        records = list(pool.map(one, range(n)))
    return records, jobs


def wait_jobs(server: Server, jobs: list[str], timeout: float = 600) -> dict[str, dict]:
    deadline, final = time.monotonic() + timeout, {}
    while time.monotonic() < deadline and len(final) < len(jobs):
        for job in jobs:
            if job not in final:
                state = request(server, "GET", f"/api/jobs/{job}").json()
                if state["state"] in TERMINAL:
                    final[job] = state
        time.sleep(0.5)
    for job in jobs:
        final.setdefault(job, request(server, "GET", f"/api/jobs/{job}").json())
    return final


def after_burst(server: Server, jobs: list[str]) -> tuple[dict[str, dict], list[bytes]]:
    """Every job's final state, and the bodies a client then reads (events, sidecars, results' headers)."""
    final = wait_jobs(server, jobs)
    bodies = []
    for job in jobs:
        bodies.append(request(server, "GET", f"/api/jobs/{job}/events").body)
        bodies.append(request(server, "GET", f"/api/jobs/{job}/sidecar").body)
    bodies.append(request(server, "GET", "/api/jobs").body)
    bodies.append(request(server, "GET", "/api/info").body)
    return final, bodies


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    arr = np.asarray(values) * 1000
    return {f"p{q}": float(np.percentile(arr, q)) for q in (50, 95, 99)}


def run_burst(jobs_dir: Path, n: int, seconds: float) -> dict:
    server = Server(jobs_dir).start()
    try:
        t0 = time.monotonic()
        records, jobs = burst(server, n, seconds)
        burst_seconds = time.monotonic() - t0
        final, bodies = after_burst(server, jobs)
        alive = request(server, "GET", "/api/info").status == 200
    finally:
        server.stop()
    leaks = [r.kind for r in records if str(jobs_dir).encode() in r.body or str(jobs_dir.resolve()).encode()
             in r.body] + ["after-burst read" for b in bodies if str(jobs_dir.resolve()).encode() in b
                           or str(jobs_dir).encode() in b]
    by_kind: dict[str, list[Record]] = {}
    for r in records:
        by_kind.setdefault(r.kind.split(":")[0], []).append(r)
    return {
        "requests": n, "seconds": round(burst_seconds, 1), "jobs": len(jobs),
        "errors": [(r.kind, r.status, r.body[:200].decode("utf-8", "replace")) for r in records if not r.ok],
        "server_errors": sum(1 for r in records if r.status is None or r.status >= 500),
        "latency_ms": percentiles([r.seconds for r in records if r.status is not None]),
        "latency_ms_by_kind": {k: percentiles([r.seconds for r in v if r.status is not None])
                               for k, v in sorted(by_kind.items())},
        "counts": {k: len(v) for k, v in sorted(by_kind.items())},
        "states": {s: sum(1 for j in final.values() if j["state"] == s) for s in ("done", "failed", "cancelled",
                                                                                   "running", "queued")},
        "failed_without_reason": [j["id"] for j in final.values() if j["state"] == "failed" and not j.get("error")],
        "unfinished": [j["id"] for j in final.values() if j["state"] not in TERMINAL],
        "alive_after": alive,
        "path_leaks": leaks,
    }


# ------------------------------------------------------------------------------- restart and the token


SLOW = ("gatys", {"size": 128, "iterations": 100000, "tolerance": 0, "weights": "random", "min_size": 128})


def run_restart(jobs_dir: Path, sig: int) -> dict:
    """A running job when the server dies (``sig``): its state after the server starts again."""
    server = Server(jobs_dir).start()
    try:
        job = create_job(server, *SLOW, seed=1).json()["id"]
        deadline = time.monotonic() + 120
        while request(server, "GET", f"/api/jobs/{job}").json()["state"] != "running":
            if time.monotonic() > deadline:
                raise RuntimeError("the slow job never started")
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        server.stop(sig)
    again = Server(jobs_dir).start()
    try:
        state = request(again, "GET", f"/api/jobs/{job}").json()
    finally:
        again.stop()
    return {"signal": signal.Signals(sig).name, "state": state["state"], "error": state.get("error")}


def run_token(jobs_dir: Path) -> dict:
    """Bound off loopback with a token: a job's routes without the token (or with a wrong one)."""
    token = "s3cret-" + uuid.uuid4().hex[:8]
    server = Server(jobs_dir, host="0.0.0.0", token=token).start()
    try:
        job = create_job(server, *CHEAP_JOBS[0], seed=5).json()["id"]
        wait_jobs(server, [job], timeout=120)
        routes = [f"/api/jobs/{job}", "/api/jobs", f"/api/jobs/{job}/result", f"/api/jobs/{job}/sidecar",
                  f"/api/jobs/{job}/events", f"/api/jobs/{job}/inputs/content", f"/api/jobs/{job}/preview"]
        answers = {}
        for route in routes:
            answers[route.replace(job, "ID")] = (request(server, "GET", route, auth=False).status,
                                                 request(server, "GET", route, token="wrong-" + token).status)
        answers["DELETE /api/jobs/ID"] = (request(server, "DELETE", f"/api/jobs/{job}", auth=False).status,
                                          request(server, "DELETE", f"/api/jobs/{job}", token="x" * 12).status)
        with_token = request(server, "GET", f"/api/jobs/{job}/result").status
    finally:
        server.stop()
    return {"without_token": answers, "with_token": with_token}


# ------------------------------------------------------------------------------------------------ report


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def markdown(b: dict, restarts: list[dict], token: dict, load: str) -> str:
    lat = b["latency_ms"]
    lines = [
        "# `atelier serve` under a bounded burst",
        "",
        (f"`python benchmarks/server_burst.py --requests {b['requests']}` on {cpu_model()}, {load}. "
        "Wall-clock latencies from the client (a new connection per request); the jobs run on the server's one "
        "worker meanwhile."),
        "",
        (f"- {b['requests']} requests in {b['seconds']} s ({', '.join(f'{v} {k}' for k, v in b['counts'].items())}); "
        f"{b['jobs']} jobs accepted."),
        f"- Latency, all requests: p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, p99 {lat['p99']:.0f} ms.",
        "",
        "| requests | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|",
        *[f"| {k} | {v['p50']:.0f} | {v['p95']:.0f} | {v['p99']:.0f} |" for k, v in b["latency_ms_by_kind"].items()],
        "",
        (f"- Errors (an answer other than the one that kind of request must get, or none): {len(b['errors'])}; "
        f"5xx or no answer: {b['server_errors']}."),
        (f"- Jobs after the burst: {b['states']}; failed without a reason: {len(b['failed_without_reason'])}; "
        f"unfinished: {len(b['unfinished'])}."),
        (f"- The server answered after the burst: {b['alive_after']}. Responses containing the jobs folder's "
        f"path: {len(b['path_leaks'])}."),
        "",
        "## A restart during a job",
        "",
        *[f"- Server stopped with {r['signal']} while a job ran; after the restart the job is "
          f"`{r['state']}`: \"{r['error']}\"" for r in restarts],
        "",
        "## Bound to 0.0.0.0 with --token",
        "",
        "| route | without the token | with a wrong token |",
        "|---|---:|---:|",
        *[f"| {k} | {a} | {w} |" for k, (a, w) in token["without_token"].items()],
        "",
        f"With the token the result answers {token['with_token']}.",
    ]
    if b["errors"]:
        lines += ["", "Errors:", "", *[f"- {k}: {s} {t}" for k, s, t in b["errors"][:20]]]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--out", default="benchmarks/results/server_burst.md")
    p.add_argument("--load", default="under load (a shared 2-core machine; a niced training ran beside it)",
                   help="How the machine was loaded, for the report.")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="atelier-burst-") as tmp:
        b = run_burst(Path(tmp) / "burst", args.requests, args.seconds)
        print(json.dumps(b, indent=2))
        restarts = [run_restart(Path(tmp) / f"restart-{s}", s) for s in (signal.SIGKILL, signal.SIGTERM)]
        print(json.dumps(restarts, indent=2))
        token = run_token(Path(tmp) / "token")
        print(json.dumps(token, indent=2))
    Path(args.out).write_text(markdown(b, restarts, token, args.load), encoding="utf-8")
    print(f"Wrote {args.out}")
    ok = (not b["errors"] and not b["unfinished"] and not b["failed_without_reason"] and b["alive_after"]
          and not b["path_leaks"] and all(r["state"] == "failed" for r in restarts)
          and all(a == w == 401 for a, w in token["without_token"].values()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
