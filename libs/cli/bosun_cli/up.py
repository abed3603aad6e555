"""`bosun up`: the real local stack (NATS JetStream + a Kubernetes control plane) until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from bosun_devstack.stack import LocalStack


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "up", help="start NATS and a local Kubernetes control plane on loopback until Ctrl-C"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep state here (default: a temp dir)")
    parser.add_argument("--no-kube", action="store_true", help="start only NATS")
    parser.add_argument(
        "--env-file",
        type=Path,
        default=Path(".bosun/env"),
        help="write NATS_URL and KUBECONFIG here for other shells",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="also start the five services, apply a demo and show a live summary",
    )
    parser.set_defaults(handler=run_up)


def run_up(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("bosun up: starting NATS and the local control plane ...", flush=True)
    with LocalStack.up(args.workdir, with_kube=not args.no_kube) as stack:
        lines = [f"export NATS_URL={stack.nats_url}", f"export KUBECONFIG={stack.kubeconfig}"]
        args.env_file.parent.mkdir(parents=True, exist_ok=True)
        args.env_file.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        print(f"(also written to {args.env_file}; `source {args.env_file}` in another shell)")
        print("Ctrl-C stops everything.", flush=True)
        if args.demo:
            from bosun_cli.demo import run_demo

            run_demo(stack, stop)
        stop.wait()
        print("\nbosun up: stopping ...", flush=True)
    print("bosun up: stopped; no processes left behind.")
    return 0
