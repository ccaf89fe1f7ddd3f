"""``asdlib`` command line: one sub-command per module that owns it.

Each module listed in ``COMMANDS`` exposes ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed namespace, returning an exit code). Imports stay lazy so that
``asdlib --help`` does not import torch.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = ("asdlib.synth", "asdlib.data", "asdlib.train", "asdlib.inference", "asdlib.evaluate", "asdlib.explain")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asdlib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before torch starts its OpenMP threads: idle threads sleep rather than spin, so a training run
    # keeps its speed when another process holds a core (a user may still set it otherwise).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (OSError, ValueError, KeyError) as err:  # bad input: one clear line, no traceback
        print(f"asdlib {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: what was written is whole (asdlib.atomic); no traceback
        print(f"asdlib {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
