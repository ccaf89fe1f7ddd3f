"""``asdlib synth OUT --scale {smoke,quick,paper}``: write the synthetic stand-in data set."""
from __future__ import annotations

import os
import time
from pathlib import Path

from asdlib.names import MACHINES
from asdlib.scales import SCALES, get_scale


def register(subparsers) -> None:
    """Add the ``synth`` sub-command to an ``argparse`` sub-parsers object (``asdlib.cli``)."""
    parser = subparsers.add_parser(
        "synth", help="write the synthetic DCASE 2022 stand-in data set",
        description="Write a synthetic data set in the real DCASE 2022 Task 2 layout: dev_data/ and eval_data/ "
                    "with every machine's sections and attribute files, and the labels of the anonymised "
                    "eval test clips as the official evaluator's files in eval_truth/.")
    parser.add_argument("out", type=Path, help="new (or empty) folder to write")
    parser.add_argument("--scale", choices=sorted(SCALES), default="quick",
                        help="clip counts and length (default: quick)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--machines", nargs="+", choices=MACHINES, default=list(MACHINES), metavar="MACHINE",
                        help=f"machines to write (default: all of {' '.join(MACHINES)})")
    parser.add_argument("--strength", type=float, default=1.0,
                        help="anomaly strength, 0 = anomalies indistinguishable (default: 1.0)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="processes writing in parallel (default: this process's CPUs); the files do not depend on it")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    from asdlib.synth.writer import clip_count, generate

    size = get_scale(args.scale).synth
    start = time.perf_counter()
    generate(args.out, size, seed=args.seed, machines=args.machines, strength=args.strength, workers=args.workers)
    machines = [m for m in MACHINES if m in args.machines]
    print(f"asdlib synth: wrote {clip_count(size, machines)} clips ({args.scale} scale, "
          f"{len(machines)} machines) to {args.out} in {time.perf_counter() - start:.1f} s")
    return 0
