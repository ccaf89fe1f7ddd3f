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

5. model against machine: the bare step's and the bare forward's achieved GFLOP/s (their FLOPs
   counted by ``torch.utils.flop_counter.FlopCounterMode``: convolutions and matrix products,
   forward and backward) against the machine's own limit, a large float32 and bfloat16
   ``torch.matmul`` measured in the same run on the same threads (:func:`machine_limit`), with the
   variant the study runs (:func:`study_variant`).

6. ``--variants``: one training step and one embedding forward in each of :data:`VARIANTS` (eager or
   ``torch.compile``, contiguous or channels-last, float32 or bfloat16 autocast), timed side by
   side in one run, interleaved (:func:`time_interleaved`), the first call (compilation) apart.
   Measurements only: the study's own path is :func:`study_variant`'s.

Usage: ``python -m asdlib.bench [--scale quick] [--system disent] [--steps 20] [--device cuda] [--variants]``
(``make bench DEVICE=cuda SCALE=paper``). Absolute figures (steps/s, chunks/s) are printed too, with
the device, so GPU runs can be compared; ``--device cuda`` on a machine without CUDA stops with an
error saying so, never measures the CPU instead. The bench also measures how busy
the machine's other processes kept its cores while it ran, and says so when the figures cannot be
trusted (timings taken while another process holds a core are slower, and by how much depends on
the OpenMP wait policy, which the Makefile sets to PASSIVE).
"""
from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from asdlib.speed import BF16_CPU_FLAGS, TrainingPath, bf16_supported, training_path


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


def count_flops(fn) -> int:
    """FLOPs of one call of ``fn()`` as ``torch.utils.flop_counter.FlopCounterMode`` counts them
    (convolutions and matrix products, forward and backward; element-wise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_gflops(device: str, dtype, n: int, repeats: int = 5) -> float:
    """GFLOP/s of ``torch.matmul`` of two random ``n x n`` matrices (2 n^3 FLOPs each), best of ``repeats``
    after one warm-up, on ``device`` at torch's current threads (float32 at torch's default precision:
    no TF32 on CUDA)."""
    import torch

    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        torch.matmul(a, b)
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


MATMUL_SIZE = {"cpu": 2048, "cuda": 8192}


def machine_limit(device: str, n: int | None = None, repeats: int = 5) -> dict[str, float | None]:
    """The machine's limit for this kind of work: ``{"float32": GFLOP/s, "bfloat16": GFLOP/s or None}``
    of :func:`matmul_gflops` (``n``: :data:`MATMUL_SIZE` of the device type); bfloat16 only where
    :func:`bf16_supported`."""
    import torch

    n = n or MATMUL_SIZE[device]
    return {"float32": matmul_gflops(device, torch.float32, n, repeats),
            "bfloat16": matmul_gflops(device, torch.bfloat16, n, repeats) if bf16_supported(device) else None}


def achieved(flops_per_call: int, calls_per_s: float, limit: dict[str, float | None]) -> dict[str, float | None]:
    """``gflop_per_call``, ``gflop_per_s`` and, per precision of ``limit``, ``of_<precision>``: the
    fraction of that matrix-product rate reached (None where the limit was not measured)."""
    rate = flops_per_call * calls_per_s / 1e9
    return {"gflop_per_call": flops_per_call / 1e9, "gflop_per_s": rate,
            **{f"of_{name}": rate / value if value else None for name, value in limit.items()}}


@dataclass(frozen=True)
class Variant:
    """How a step or forward runs: compiled by inductor or eager, memory layout, precision."""

    channels_last: bool = True
    compiled: bool = False
    bf16: bool = False

    @property
    def layout(self):
        import torch

        return torch.channels_last if self.channels_last else torch.contiguous_format

    @property
    def name(self) -> str:
        return ", ".join(("compiled" if self.compiled else "eager", "channels_last" if self.channels_last
                          else "contiguous", "bfloat16 autocast" if self.bf16 else "float32"))


VARIANTS = (Variant(channels_last=False), Variant(), Variant(bf16=True), Variant(compiled=True),
            Variant(compiled=True, bf16=True))


def study_variant(device: str, embedding: bool = False) -> Variant:
    """The variant the study runs (asdlib.train, asdlib.embed), channels-last: training on the path
    :func:`asdlib.speed.training_path` names under this process's environment (``make book`` sets
    ``ASDLIB_COMPILE`` and ``ASDLIB_BF16``); embeddings eager float32 everywhere (batch norm folded)."""
    if embedding:
        return Variant()
    path = training_path(device)
    return Variant(compiled=path.compiled, bf16=path.precision == "bfloat16")


def training_step(model, optimiser, x, labels: dict, bf16: bool = False) -> None:
    """One step as asdlib.train's loop takes it: forward (under bfloat16 autocast if ``bf16``), the
    loss in float32, backward, optimiser step. ``x`` (B, 1, T, F) and ``labels`` on the model's device."""
    import torch

    from asdlib.train import _float32

    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        outputs = model(x)
    loss, _ = model.loss(_float32(outputs), labels)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def training_runner(model, x, labels: dict, variant: Variant, lr: float = 1e-4):
    """A zero-argument function taking one :func:`training_step` of a private copy of ``model`` (its own
    Adam) in ``variant`` on the batch ``x``, ``labels``; ``model`` itself is not changed."""
    import torch

    own = copy.deepcopy(model).to(memory_format=variant.layout).train()
    optimiser = torch.optim.Adam(own.parameters(), lr=lr)
    if variant.compiled:  # as the study compiles it: the trunk, in place (asdlib.speed)
        TrainingPath(compiled=True).prepare(own)
    x = x.contiguous(memory_format=variant.layout)
    return lambda: training_step(own, optimiser, x, labels, variant.bf16)


def embedding_runner(model, variant: Variant):
    """A function ``x (B, 1, T, F) -> {space: (B, dim)}``: the embeddings of an inference copy of ``model``
    with batch norm folded (as :func:`asdlib.embed.embed_clips` runs it) in ``variant``, under
    ``torch.inference_mode``; pass ``x`` in ``variant.layout``. Outputs are in the variant's precision."""
    import torch

    from asdlib.embed import fold_batch_norm

    folded = fold_batch_norm(model).to(memory_format=variant.layout)
    forward = torch.compile(folded.embeddings) if variant.compiled else folded.embeddings

    def run(x):
        with torch.inference_mode(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=variant.bf16):
            return forward(x)
    return run


def time_interleaved(calls: dict, rounds: int = 3, repeats: int = 5) -> dict:
    """``key -> (seconds of the first call, median seconds per call)``: every function of ``calls`` is
    called once (for a compiled one: compilation included), then ``rounds`` times in turn ``repeats``
    times each, so that a change in the machine's load touches all of them alike."""
    first, times = {}, {name: [] for name in calls}
    for name, fn in calls.items():
        start = time.perf_counter()
        fn()
        sync()
        first[name] = time.perf_counter() - start
    for _ in range(rounds):
        for name, fn in calls.items():
            start = time.perf_counter()
            for _ in range(repeats):
                fn()
            sync()
            times[name].append((time.perf_counter() - start) / repeats)
    return {name: (first[name], statistics.median(times[name])) for name in calls}


def variants_table(model, x, labels: dict, xb, device: str, rounds: int = 3, repeats: int = 5) -> str:
    """The table of ``--variants``: a training step on the batch ``x``, ``labels`` and an embedding forward
    on the batch ``xb`` in each of :data:`VARIANTS` (bfloat16 ones only where :func:`bf16_supported`):
    ms per call, GFLOP/s, speed against the study's variant, the first call's seconds, and after how
    many calls a compiled variant has paid back its compilation against the study's variant."""
    variants = [v for v in VARIANTS if bf16_supported(device) or not v.bf16]
    flops = count_flops(training_runner(model, x, labels, Variant()))
    train = time_interleaved({v: training_runner(model, x, labels, v) for v in variants}, rounds, repeats)
    runners = {v: embedding_runner(model, v) for v in variants}
    inputs = {v: xb.contiguous(memory_format=v.layout) for v in variants}
    embed_flops = count_flops(lambda: runners[Variant()](inputs[Variant()]))
    embed = time_interleaved({v: (lambda v=v: runners[v](inputs[v])) for v in variants}, rounds, repeats)
    lines = [f"  variants  : interleaved, {rounds} rounds of {repeats} calls each, median; the first call "
             f"apart (compilation for compiled ones)"
             + ("" if len(variants) == len(VARIANTS) else "; no bfloat16: this CPU lacks "
                + " and ".join(BF16_CPU_FLAGS))]
    for title, timed, n_flops, today in (
            (f"training step, batch {len(x)}", train, flops, study_variant(device)),
            (f"embedding forward, batch {len(xb)}", embed, embed_flops, study_variant(device, embedding=True))):
        lines.append(f"    {title:<48} {'ms/call':>9} {'GFLOP/s':>8} {'vs study':>8} {'first call s':>12} "
                     f"{'pays after':>10}")
        for v, (first, seconds) in timed.items():
            saved = timed[today][1] - seconds  # per call, against the study's variant
            pays = "-" if not v.compiled else f"{(first - seconds) / saved:,.0f}" if saved > 0 else "never"
            lines.append(f"    {v.name + (' (study)' if v == today else ''):<48} {seconds * 1e3:9.1f} "
                         f"{n_flops / seconds / 1e9:8.1f} {timed[today][1] / seconds:7.2f}x {first:12.1f} {pays:>10}")
    return "\n".join(lines)


def gflops_lines(limit: dict, train: dict, embed: dict, device: str, batch: int, per_batch: int) -> str:
    """Item 5 of the module docstring: the machine's limit, then the bare step's and forward's rates
    (dicts of :func:`achieved`) and the variant the study runs them in."""
    n = MATMUL_SIZE[device]
    bf16 = (f"bfloat16 {limit['bfloat16']:.1f}" if limit["bfloat16"]
            else f"bfloat16 not measured (no {' or '.join(BF16_CPU_FLAGS)})")
    lines = [f"  limit     : torch.matmul {n} x {n} on the same threads: float32 {limit['float32']:.1f} "
             f"GFLOP/s, {bf16}"]
    for label, what, report, variant in (
            ("training", f"bare step of {batch}", train, study_variant(device).name),
            ("embedding", f"bare fwd of {per_batch}", embed,
             study_variant(device, embedding=True).name + ", batch norm folded")):
        shares = ", ".join(f"{100 * report[f'of_{p}']:.0f} % of {p}" for p in limit if report[f"of_{p}"])
        lines.append(f"  {label:<10}: {what} {report['gflop_per_call']:.2f} GFLOP -> "
                     f"{report['gflop_per_s']:.1f} GFLOP/s = {shares}; the study's variant: {variant}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import torch

    from asdlib.data import index_dataset
    from asdlib.embed import default_batch_size, embed_clips
    from asdlib.features import load_features
    from asdlib.models.mobilefacenet import build_model
    from asdlib.scales import SynthSize, get_scale
    from asdlib.synth import generate
    from asdlib.train import TrainingSet, batch_to_device, pick_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="quick")
    parser.add_argument("--system", default="disent")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: CUDA when torch sees a GPU, else the CPU")
    parser.add_argument("--variants", action="store_true",
                        help="also time each of VARIANTS side by side (torch.compile: minutes on a CPU)")
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
        bs = settings.batch_size

        def step(x, labels):
            training_step(model, optimiser, x, labels, study_variant(device).bf16)

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

        embed_fn = embedding_runner(model, study_variant(device, embedding=True))  # as embed_clips runs it

        def forward():
            embed_fn(xb)
        bare_fwd = _rate(forward, per_batch, max(2, n_chunks // per_batch), warmup=1)

        limit = machine_limit(device)
        model.train()
        train_gflops = achieved(count_flops(lambda: step(x_mem, l_mem)), bare / bs, limit)
        embed_gflops = achieved(count_flops(forward), bare_fwd / per_batch, limit)

    startup = startup_seconds()
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"asdlib bench: scale {args.scale} ({scale.features.n_bins} bins), system {args.system}, "
          f"batch {bs}, device {device} ({name})")
    print(f"  training  : pipeline {full:9.1f} chunks/s | bare step {bare:9.1f} chunks/s | "
          f"ratio {full / bare:.3f} (goal >= 0.8)")
    print(f"  embedding : hop-1     {embed_rate:9.1f} chunks/s | bare fwd  {bare_fwd:9.1f} chunks/s | "
          f"ratio {embed_rate / bare_fwd:.3f}")
    print(gflops_lines(limit, train_gflops, embed_gflops, device, bs, per_batch))
    print(f"  steps     : {full / bs:.2f} training steps/s of batch {bs} (pipeline)")
    print(f"  per run   : {startup:.1f} s to start a process and import torch and asdlib")
    print(project_paper_study(full / bs, embed_rate, scale, device))
    print(load_report(machine_before, own_before, wall_before), flush=True)
    if args.variants:  # after the report, which stands if compilation is cut short
        print(variants_table(model, x_mem, l_mem, xb, device))
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
