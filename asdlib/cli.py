"""The ``asdlib`` command line (:func:`main`): its parser and one function per sub-command.

The parser needs only light modules (names, scales, systems, the backends' names), so ``asdlib --help`` and every
sub-command's ``--help`` start at once; each command function imports what it runs (numpy, pandas,
torch) when it runs.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import asdlib
from asdlib.names import MACHINES, YEARS
from asdlib.scales import SCALES
from asdlib.scoring.registry import BACKENDS
from asdlib.systems import ALL_SYSTEMS

DESCRIPTION = """\
Anomalous sound detection of machines with disentangled multi-task learning, as in Venkatesh et al.
(DCASE 2022 Task 2): train a system on a machine's normal clips, score its test clips, and compute the
official metrics, on the DCASE 2022 data or on a synthetic stand-in in the same layout."""

EPILOG = """\
a study on the synthetic data, from data to the official metrics:
  asdlib synth data --scale smoke --machines fan
  asdlib train --data data --machine fan --system disent --scale smoke --out run
  asdlib score run --truth data/eval_truth
  asdlib evaluate run/results/last/cat --truth data/eval_truth --machines fan

'asdlib COMMAND --help' describes each command."""

DEVICE_HELP = "cpu, cuda or cuda:N (default: cuda where there is one, else cpu)"


def _add(sub, name: str, help: str, description: str, func) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=description)
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asdlib", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # the examples' lines
    parser.add_argument("--version", action="version", version=f"%(prog)s {asdlib.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _add(sub, "synth", "write the synthetic DCASE 2022 stand-in data set (or a later year's layout)",
             "Write a synthetic data set in the real DCASE 2022 Task 2 layout: dev_data/ and eval_data/ with every "
             "machine's sections and attribute files, and the labels of the anonymised eval test clips as the "
             "official evaluator's files in eval_truth/. With --year 2023, 2024 or 2025: that year's layout, its "
             "dev and eval machines with one section 00 each, each rendered by the physics of a 2022 machine type "
             "(asdlib.synth.years).", _synth)
    p.add_argument("out", type=Path, help="new (or empty) folder to write")
    p.add_argument("--scale", choices=sorted(SCALES), default="quick", help="clip counts and length (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--year", type=int, choices=YEARS, default=2022,
                   help="the layout: 2022 (three sections a machine) or a later year's (default: %(default)s)")
    p.add_argument("--machines", nargs="+", default=None, metavar="MACHINE",
                   help=f"machines to write (default: all of the year's; 2022: {' '.join(MACHINES)})")
    p.add_argument("--strength", type=float, default=1.0,
                   help="anomaly strength, 0 = anomalies indistinguishable (default: %(default)s)")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                   help="processes writing in parallel (default: this process's CPUs); the files do not depend on it")

    p = _add(sub, "index", "count the clips of a DCASE 2022-2025 root and list what looks wrong",
             "Index a DCASE Task 2 root of 2022, 2023, 2024 or 2025 (dev_data/, eval_data/, each possibly with the "
             "baselines' raw/ level): print the year, the clips per machine, section, split, domain and label, and "
             "list what looks wrong (missing sections or domains, counts that differ between sections or from the "
             "real set's). The year is read from the data unless --year gives it; a file name that is not one of "
             "the year's names is an error. Exit 1 if --check-audio finds a bad clip.", _index)
    p.add_argument("root", type=Path, help="the data set's root folder (holding dev_data/ and/or eval_data/)")
    p.add_argument("--truth", type=Path, default=None,
                   help="the evaluator's folder (ground_truth_data/, ground_truth_domain/) for eval test clips")
    p.add_argument("--year", type=int, choices=YEARS, default=None,
                   help="the DCASE year of the data (default: read from its machine folders and sections)")
    p.add_argument("--check-audio", action="store_true",
                   help="also read every clip: sample rate, channels, length, readability, truncation, "
                        "NaN/inf samples (every problem is listed, not the first only)")

    p = _add(sub, "train", "train one system on one machine (resumes an interrupted run)",
             "Train one system (the paper's MobileFaceNet systems learn to classify sections and attributes) on "
             "the normal training clips of one machine, or of every machine with --machine all, writing "
             "checkpoints to a run folder. "
             "The same command again resumes an interrupted run; a folder holding another configuration is "
             "refused, naming the setting that differs.", _train)
    p.add_argument("--data", required=True, type=Path, help="DCASE 2022 root (dev_data/, eval_data/)")
    p.add_argument("--machine", required=True, help="a machine, or 'all' to pre-train on every machine")
    p.add_argument("--system", required=True, choices=ALL_SYSTEMS,
                   help="the paper's MobileFaceNet systems, or ae, mn (the DCASE baselines), anp")
    p.add_argument("--scale", choices=sorted(SCALES), default="quick",
                   help="the settings: smoke (tests), quick (the default book) or paper (the paper's) "
                        "(default: %(default)s)")
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--seed", type=int, default=0, help="random seed of the weights and batches (default: %(default)s)")
    p.add_argument("--truth", type=Path, default=None, help="evaluator folder (not needed for training)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scale setting, e.g. --set train.epochs=10")
    p.add_argument("--year", type=int, choices=YEARS, default=None,
                   help="the DCASE year of the data (default: read from its machine folders and sections; a "
                        "development set alone of one section may need it)")
    p.add_argument("--init", type=Path, default=None,
                   help="a pre-trained run (--machine all) whose trunk and embedding layer this run starts from")
    p.add_argument("--device", default=None, help=DEVICE_HELP)

    p = _add(sub, "score", "score a trained run: official CSV files, summary, embeddings",
             "Score a trained run's test clips: per checkpoint rule and inference mode, the official "
             "anomaly_score_* and decision_result_* files and a summary.json (the metrics per section) in "
             "RUN_DIR/results/RULE/MODE/, and the clip scores and embeddings in RUN_DIR/scored/.", _score)
    p.add_argument("run_dir", type=Path, help="a run folder written by asdlib train")
    p.add_argument("--data", type=Path, default=None, help="DCASE 2022 root (default: the run's)")
    p.add_argument("--truth", type=Path, default=None, help="evaluator folder for eval test labels")
    p.add_argument("--checkpoint", nargs="+", default=["last"], dest="rules", metavar="RULE",
                   help="checkpoint rule(s): 'last' (no test labels), 'best_dev' (the paper's rule), "
                        "'average<K>' (the weights of the last K checkpoints averaged, batch norm recomputed) "
                        "(default: last)")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="nn",
                   help="how embeddings are scored (default: %(default)s, Eq. 4)")
    p.add_argument("--weights", type=float, nargs=2, default=(0.5, 0.5), metavar=("W_S", "W_A"),
                   help="Eq. 5 weights of the 'wt' mode (default: 0.5 0.5)")
    p.add_argument("--device", default=None, help=DEVICE_HELP)

    p = _add(sub, "evaluate", "official DCASE 2022-2025 Task 2 metrics of a folder of anomaly score files",
             "Compute the official DCASE Task 2 metrics (AUC per domain, pAUC, harmonic means) of a folder "
             "of anomaly_score_*.csv files, as the year's official evaluator does. Labels and domains come from "
             "the evaluator's ground truth when --truth is given, else from the clip names (dev test names), so "
             "anonymised eval names need --truth. The year is 2022 unless the machines are a later year's eval "
             "machines or --year gives it (a 2023-2025 dev folder needs --year).", _evaluate)
    p.add_argument("scores_dir", metavar="SCORES_DIR", help="folder of anomaly_score_<machine>_section_<SS>_test.csv files")
    p.add_argument("--truth", metavar="EVALUATOR_DIR", default=None,
                   help="folder holding ground_truth_data/ and ground_truth_domain/ (needed for anonymised eval names)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object {official_score (or score, for a subset), machines, "
                        "sections} and nothing else")
    p.add_argument("--out", metavar="CSV", default=None, help="also write the per-section table here")
    p.add_argument("--machines", nargs="+", metavar="MACHINE", default=None,
                   help="score these machines only (the result is then not the official score, which needs every "
                        "machine of the set)")
    p.add_argument("--year", type=int, choices=YEARS, default=None,
                   help="the DCASE year whose machines, sections and names the files follow (default: 2022, or "
                        "the year whose eval machines they are)")

    p = _add(sub, "explain", "explain one test clip's anomaly score with a disent run's two spaces",
             "Explain one clip of a scored disent run: how unusual it is in the section space and in the "
             "attribute space, its nearest normal training clip in each, and whether it still sounds like the "
             "attribute values its name states.", _explain)
    p.add_argument("run_dir", type=Path, help="a disent (or mtl) run folder, scored by asdlib score")
    p.add_argument("--clip", required=True,
                   help="the clip's file name, e.g. section_00_source_test_anomaly_0003_m-n_X.wav (a dev test "
                        "clip of fan) or section_03_0003.wav (an anonymised eval test clip)")
    p.add_argument("--checkpoint", choices=("last", "best_dev"), default="last",
                   help="the checkpoint rule the run was scored with (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="also write the explanation card as a PNG here")
    return parser


def _synth(args) -> int:
    from asdlib.scales import get_scale
    from asdlib.synth.writer import clip_count, generate, year_machines

    size = get_scale(args.scale).synth
    start = time.perf_counter()
    generate(args.out, size, seed=args.seed, machines=args.machines, strength=args.strength, workers=args.workers,
             year=args.year)
    machines = [m for m in year_machines(args.year) if args.machines is None or m in args.machines]
    print(f"asdlib synth: wrote {clip_count(size, machines, args.year)} clips ({args.scale} scale, "
          f"{len(machines)} machines{'' if args.year == 2022 else f', DCASE {args.year} layout'}) to {args.out} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def _index(args) -> int:
    import pandas as pd

    from asdlib.data import audio_problems, count_table, find_problems, index_dataset

    index = index_dataset(args.root, truth=args.truth, year=args.year)
    print(f"DCASE {index.attrs['year']} Task 2 data{'' if args.year else ' (year read from the data)'}")
    table = count_table(index)
    wide = table.pivot_table(index=["machine", "section"], columns=["split", "domain", "label"],
                             values="clips", fill_value=0, aggfunc="sum")
    wide.columns = ["/".join(c) for c in wide.columns]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 200):
        print(wide.to_string())
    print(f"\n{len(index)} clips, {index['machine'].nunique()} machine(s)")
    audio = audio_problems(index, progress=True) if args.check_audio else []
    problems = find_problems(index) + audio
    if problems:
        print("\nWhat looks wrong:")
        for line in problems:
            print(f"  - {line}")
    if args.check_audio:
        print(f"\naudio: {len(index) - len(audio)} of {len(index)} clips read cleanly")
    return 1 if audio else 0


def _train(args) -> int:
    from asdlib.train import RunConfig, train

    config = RunConfig.create(args.system, args.machine, args.data, args.scale, seed=args.seed,
                              truth_dir=args.truth, overrides=args.overrides, init=args.init, year=args.year)
    last = train(config, args.out, device=args.device)
    print(f"trained {args.system} on {args.machine}: {last}")
    return 0


def _score(args) -> int:
    from asdlib.inference import results_path, score_run

    summaries = score_run(args.run_dir, data_root=args.data, truth_dir=args.truth, rules=args.rules,
                          backend=args.backend, wt_weights=tuple(args.weights), device=args.device)
    for rule, modes in summaries.items():
        for mode, s in modes.items():
            dev = f"dev hmean {s['dev']['hmean']:.4f}" if s["dev"] else "dev: no labels"
            ev = f"eval hmean {s['eval']['hmean']:.4f}" if s["eval"] else "eval: no labels"
            print(f"{s['system']} {rule:>8} {mode:>12}  epoch {s['checkpoint']['epoch']:>4}  {dev}  {ev}")
    folders = [str(results_path(args.run_dir, rule, mode, s["backend"])) for rule, modes in summaries.items()
               for mode, s in modes.items()]
    print(f"asdlib score: wrote {', '.join(folders)}")
    return 0


def _evaluate(args) -> int:
    import json

    from asdlib.atomic import write_atomic
    from asdlib.evaluate import evaluate_dir, format_report, summary_json

    results = evaluate_dir(args.scores_dir, args.truth, args.machines, year=args.year)
    if args.out:
        try:
            write_atomic(args.out, results.to_csv(index=False))
        except OSError as err:
            raise ValueError(f"--out {args.out}: cannot be written ({err.strerror or err})") from None
    print(json.dumps(summary_json(results)) if args.json else format_report(results))
    return 0


def _explain(args) -> int:
    from asdlib.explain import card, clip_table, describe

    table = clip_table(args.run_dir, args.checkpoint)
    if args.clip not in set(table["name"]):
        raise ValueError(f"{args.run_dir}: no clip named {args.clip!r} (its test clips are e.g. "
                         f"{', '.join(table.loc[table['split'] == 'test', 'name'].head(3))})")
    print(describe(table.set_index("name", drop=False).loc[args.clip]))
    if args.out:
        print(f"card: {card(args.run_dir, args.clip, table, args.out)}")
    return 0


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
