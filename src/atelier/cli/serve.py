"""``atelier serve``: the local web app and HTTP API (FastAPI + uvicorn), bound to 127.0.0.1 by default."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

import atelier

from .common import Parser, parse_float


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="atelier serve", description="Run the web app on this machine: open the printed address "
                "in a browser. Other programs use the HTTP API described at /docs.")
    p.add_argument("--host", default="127.0.0.1", help="Address to bind (default: 127.0.0.1, this machine "
                   "only). Any other address needs --token.")
    p.add_argument("--port", type=int, default=7860, help="Port (default: 7860).")
    p.add_argument("--jobs-dir", metavar="DIR", help="Where jobs, uploads and results are kept across "
                   "restarts (default: $ATELIER_HOME/jobs).")
    p.add_argument("--token", help="A secret every request must carry (the page gets it from the printed "
                   "address; programs send 'Authorization: Bearer TOKEN'). Required off loopback.")
    p.add_argument("--workers", type=int, help="Jobs run at the same time (default: 1; with --scheduler, the "
                   "cluster's threads).")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Run image jobs on a Dask cluster, e.g. "
                   "tcp://host:8786 (pip install 'atelier[dist]'; its workers must see --jobs-dir at the same "
                   "path; video and texture jobs still run here).")
    p.add_argument("--max-upload-mb", type=parse_float, default=100, help="Largest request in MB (default: 100).")
    p.add_argument("--max-pixels", type=int, default=40_000_000,
                   help="Largest uploaded image in pixels (default: 40000000).")
    p.add_argument("--max-size", type=int, default=4096, help="Largest output long side in pixels "
                   "(default: 4096).")
    p.add_argument("--max-frames", type=int, default=300, help="Most frames of one video job (default: 300).")
    return p


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(command: str, argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    errors = atelier.errors
    if not is_loopback(args.host) and not args.token:
        raise errors.OptionError(f"Binding {args.host} lets other machines reach the server; give --token "
                                 "SECRET (every request must then carry it), or bind 127.0.0.1.")
    if args.token is not None and len(args.token) < 8:
        raise errors.OptionError("The --token must be at least 8 characters long.")
    from ..web import check_limits, check_port

    check_limits(port=args.port, workers=1 if args.workers is None else args.workers,
                 max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels, max_size=args.max_size,
                 max_frames=args.max_frames)
    try:
        import uvicorn

        from ..web import create_app
    except ImportError:
        raise errors.OptionError("atelier serve needs the web extra: pip install 'atelier[web]'.") from None
    check_port(args.host, args.port)  # before the jobs folder is made and the address announced
    jobs_dir = Path(args.jobs_dir).expanduser() if args.jobs_dir else atelier.atelier_home() / "jobs"
    try:
        jobs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise errors.OptionError(f"Cannot use '{jobs_dir}' as the jobs directory ({err.strerror}).") from None
    from ..web import LOOPBACK_HOSTS

    cluster = None if args.scheduler is None else atelier.connect_cluster(args.scheduler)
    workers = args.workers or (cluster.threads if cluster else 1)
    app = create_app(jobs_dir, token=args.token, workers=workers, cluster=cluster,
                     max_upload_bytes=int(args.max_upload_mb * (1 << 20)), max_pixels=args.max_pixels,
                     max_size=args.max_size, max_frames=args.max_frames, allowed_hosts=None if args.token else LOOPBACK_HOSTS)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{args.port}/" + (f"?token={args.token}" if args.token else "")
    print(f"atelier {atelier.__version__}: open {url} in a browser (API: {url.split('?')[0]}docs); jobs in "
          f"{jobs_dir}. Ctrl-C stops the server.", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host.strip("[]"), port=args.port, log_level="warning",
                timeout_graceful_shutdown=3)
    return 0
