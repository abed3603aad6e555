"""Run every `benchmarks/bench_*.py` (or those named on the command line) and print reports."""

from __future__ import annotations

import importlib
import pkgutil
import platform
import sys

import benchmarks


def main(names: list[str]) -> int:
    print(f"# machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    modules = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    for name in modules:
        if names and name not in names and name.removeprefix("bench_") not in names:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n## {name}")
        for line in module.run():
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
