"""``make bench``: is the data path the bottleneck? Ratios measured in one run on this machine.

1. training: chunks/s of the full pipeline (random chunks gathered from the memory-mapped feature
   store, labels, forward, backward, Adam step) / chunks/s of the bare model step on a batch already
   in memory. Goal: >= 0.8.
2. embedding: hop-1 chunks/s of :func:`asdlib.embed.embed_clips` over whole clips (strided views,
   batching across clips, pooling) / chunks/s of the bare ``model.embeddings`` forward on a batch
   already in memory.

3. per-run overhead: the seconds a fresh process spends starting and importing what a run needs
   (paid once per run notebook, whatever its length).

4. projection: the hours of one MobileFaceNet run and of the whole study grid at the paper's scale on
   the real data set's clip counts, from the rates measured here (:func:`project_paper_study`).

Usage: ``python -m asdlib.bench [--scale quick] [--system disent] [--steps 20] [--device cuda]``
(``make bench DEVICE=cuda SCALE=paper``). Absolute figures (steps/s, chunks/s) are printed too, with
the device, so GPU runs can be compared; ``--device cuda`` on a machine without CUDA stops with an
error saying so, never measures the CPU instead. The bench also measures how busy
the machine's other processes kept its cores while it ran, and says so when the figures cannot be
trusted (timings taken while another process holds a core are slower, and by how much depends on
the OpenMP wait policy, which the Makefile sets to PASSIVE).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rate(fn, n_chunks_per_call: int, calls: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return n_chunks_per_call * calls / (time.perf_counter() - start)


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU time of the whole machine in clock ticks, from /proc/stat (None elsewhere)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _own_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def startup_seconds() -> float:
    """Seconds a fresh interpreter takes to start and import what a run needs (torch included)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, asdlib.train, asdlib.inference, asdlib.study.load"],
                   check=True)
    return time.perf_counter() - start


def sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    import torch

    from asdlib.data import index_dataset
    from asdlib.embed import default_batch_size, embed_clips, fold_batch_norm
    from asdlib.features import load_features
    from asdlib.model import build_model
    from asdlib.scales import SynthSize, get_scale
    from asdlib.synth import generate
    from asdlib.train import TrainingSet, batch_to_device, pick_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="quick")
    parser.add_argument("--system", default="disent")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: CUDA when torch sees a GPU, else the CPU")
    args = parser.parse_args(argv)
    scale = get_scale(args.scale)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"asdlib bench: --device cuda, but torch {torch.__version__} sees no CUDA device on this "
              f"machine (torch.cuda.is_available() is False); nothing was measured. Run it on a GPU "
              f"machine with a CUDA build of torch, or with --device cpu.", file=sys.stderr)
        return 2
    device = pick_device(None if args.device == "auto" else args.device)
    machine_before, own_before, wall_before = _cpu_jiffies(), _own_cpu_seconds(), time.perf_counter()
    settings = scale.train
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        size = SynthSize(clip_seconds=scale.synth.clip_seconds, train_source=24, train_target=2,
                         test_per_domain=2, eval_test=8)
        generate(tmp / "data", size, seed=0, machines=("fan",), progress=False)
        index = index_dataset(tmp / "data")
        data = TrainingSet.build(index, "fan", scale, cache_dir=tmp / "cache", progress=False)
        model = build_model(args.system, n_bins=scale.features.n_bins, n_sections=len(data.vocab.sections),
                            attribute_classes=data.vocab.attribute_classes,
                            shift_sections=data.vocab.shift_sections, width=scale.model.width)
        model = model.to(device=device, memory_format=torch.channels_last)
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
        autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda"
                    else torch.autocast("cpu", enabled=False))
        bs = settings.batch_size

        def step(x, labels):
            with autocast:
                outputs = model(x)
            loss, _ = model.loss({k: v.float() if v.is_floating_point() else v for k, v in outputs.items()}, labels)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

        x0, l0 = next(b for b in data.epoch_batches(0, 0, bs, settings.chunk_frames) if len(b[0]) == bs)
        l0.pop("clip")
        x_mem, l_mem = batch_to_device(x0, l0, device)
        model.train()
        bare = _rate(lambda: step(x_mem, l_mem), bs, args.steps)

        epochs = iter(range(1, 10**6))
        pending = []

        def full_step():
            """Gather a fresh batch from the memory-mapped store, then step (full batches only)."""
            while not pending:
                pending.extend(b for b in data.epoch_batches(0, next(epochs), bs, settings.chunk_frames)
                               if len(b[0]) == bs)
            x, labels = pending.pop(0)
            labels.pop("clip")
            step(*batch_to_device(x, labels, device))

        full = _rate(full_step, bs, args.steps)

        # embedding: every hop-1 chunk of whole clips vs the bare forward
        model.eval()
        test = index[(index["split"] == "test")].reset_index(drop=True)
        store = load_features(test, scale.features, cache_dir=tmp / "cache", progress=False)
        specs = [store[i] for i in range(min(len(store), 16))]  # 16 whole clips: 4,512 chunks at paper scale
        n_chunks = sum(len(s) - settings.chunk_frames + 1 for s in specs)
        embed_rate = _rate(lambda: embed_clips(model, specs, chunk_frames=settings.chunk_frames, hop=1,
                                               device=device), n_chunks, 2, warmup=1)
        per_batch = default_batch_size(settings.chunk_frames, scale.features.n_bins, device)  # embed_clips' default
        xb = torch.randn(per_batch, 1, settings.chunk_frames, scale.features.n_bins, device=device)
        xb = xb.contiguous(memory_format=torch.channels_last)

        folded = fold_batch_norm(model).to(device=device, memory_format=torch.channels_last)

        def forward():  # float32 and batch norm folded, as embed_clips
            with torch.inference_mode():
                folded.embeddings(xb)
        bare_fwd = _rate(forward, per_batch, max(2, n_chunks // per_batch), warmup=1)

    startup = startup_seconds()
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"asdlib bench: scale {args.scale} ({scale.features.n_bins} bins), system {args.system}, "
          f"batch {bs}, device {device} ({name})")
    print(f"  training  : pipeline {full:9.1f} chunks/s | bare step {bare:9.1f} chunks/s | "
          f"ratio {full / bare:.3f} (goal >= 0.8)")
    print(f"  embedding : hop-1     {embed_rate:9.1f} chunks/s | bare fwd  {bare_fwd:9.1f} chunks/s | "
          f"ratio {embed_rate / bare_fwd:.3f}")
    print(f"  steps     : {full / bs:.2f} training steps/s of batch {bs} (pipeline)")
    print(f"  per run   : {startup:.1f} s to start a process and import torch and asdlib")
    print(project_paper_study(full / bs, embed_rate, scale, device))
    print(load_report(machine_before, own_before, wall_before))
    return 0


# The real set per machine: 6 sections x (990 + 10) training clips, 3 x 200 dev and
# 3 x 200 eval test clips, all 10 s (282 hop-1 chunks of 32 frames each).
PAPER_TRAIN_CLIPS, PAPER_ALL_CLIPS, PAPER_CHUNKS_PER_CLIP = 6000, 7200, 282
# the grid: MobileFaceNet systems x 7 machines x 3 seeds, + the pipeline's 2 systems (pre-training
# counted as one per-machine budget each, as asdlib.train.pipeline_overrides makes it)
PAPER_GRID_RUNS = (6 * 7 + 2 * 7) * 3


def project_paper_study(steps_per_s: float, chunks_per_s: float, scale, device: str) -> str:
    """Hours of one MobileFaceNet run and of the study grid at the paper's settings, from measured rates.

    Training: 300 epochs x ceil(6000 / 32) steps. Scoring (rule best_dev): every 5th epoch's
    checkpoint embeds every clip, hop 1 (60 x 7200 x 282 chunks), an upper bound as score_run embeds
    the eval test clips only for the checkpoints it keeps. Valid only when the rates were measured at
    paper scale (1025 bins, full width); AE and MobileNetV2 baselines are not counted."""
    from asdlib.scales import get_scale
    from asdlib.train import checkpoint_epochs

    paper = get_scale("paper")
    if scale != paper:
        return (f"  projection: none (measured at scale {scale.name}; run with --scale paper for the paper's "
                f"hours)")
    steps = paper.train.epochs * -(-PAPER_TRAIN_CLIPS * paper.train.chunks_per_clip // paper.train.batch_size)
    chunks = len(checkpoint_epochs(paper.train)) * PAPER_ALL_CLIPS * PAPER_CHUNKS_PER_CLIP
    train_h, score_h = steps / steps_per_s / 3600, chunks / chunks_per_s / 3600
    return (f"  projection: one paper-scale run on {device}: {steps:,} steps = {train_h:.1f} h training + "
            f"{chunks / 1e6:.0f} M chunks = {score_h:.1f} h scoring (upper bound);\n"
            f"              the grid ({PAPER_GRID_RUNS} MobileFaceNet runs: 6 systems + 2 pipeline systems, "
            f"7 machines, 3 seeds) = {PAPER_GRID_RUNS * (train_h + score_h):,.0f} {device} hours")


def load_report(machine_before, own_before: float, wall_before: float) -> str:
    """How many cores other processes kept busy on average since the start of the bench, and whether
    that makes the figures above untrustworthy."""
    machine_after = _cpu_jiffies()
    if machine_before is None or machine_after is None:
        return "  load      : unknown (no /proc/stat)"
    ticks = os.sysconf("SC_CLK_TCK")
    wall = time.perf_counter() - wall_before
    busy = (machine_after[0] - machine_before[0]) / ticks
    others = max(0.0, busy - (_own_cpu_seconds() - own_before)) / wall
    line = f"  load      : other processes kept {others:.2f} of {os.cpu_count()} cores busy on average"
    if others > 0.25:
        line += ("\n  WARNING: the machine was busy while the bench ran; these figures are slower than an idle "
                 "machine's and cannot be compared with them. Run it again on a quiet machine.")
    return line


if __name__ == "__main__":
    raise SystemExit(main())
