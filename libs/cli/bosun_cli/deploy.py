"""`bosun deploy`: files the kustomize overlays take from Bosun's own tables."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bosun_devstack.nats_security import certificate_users_config


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("deploy", help="generate deployment files")
    deploy = parser.add_subparsers(dest="deploy_command", required=True)
    users = deploy.add_parser(
        "nats-users",
        help="print the prod overlay's nats-users.conf: a certificate-mapped NATS user per service",
    )
    users.set_defaults(handler=print_nats_users)


def print_nats_users(_: argparse.Namespace) -> int:
    sys.stdout.write(certificate_users_config())
    return 0
