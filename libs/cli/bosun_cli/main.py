"""`bosun`: one entry point; each subcommand group lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# Subcommand groups, each a module with `register(subparsers)`.
GROUPS = ("bosun_cli.up", "bosun_cli.rgd", "bosun_cli.nodes", "bosun_cli.deploy")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bosun", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in GROUPS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
