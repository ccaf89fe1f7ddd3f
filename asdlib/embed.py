"""Clip embeddings at test time: every chunk of a clip through the model, pooled per clip (Sec. 3.3).

At test time the paper cuts each spectrogram into 32-frame chunks with a hop of one frame (282
chunks for a 10 s clip), embeds every chunk, and pools the chunk embeddings of a clip by their
mean (by their standard deviation for valve). This module does that in large batches:

* :func:`chunk_view` - the chunks of one spectrogram as a strided view (no copies),
* :func:`n_chunks` - how many chunks a spectrogram of ``n_frames`` frames gives,
* :func:`embed_clips` - pooled embeddings of many clips, one array per embedding space,
* :func:`fold_batch_norm` - an inference copy of a model, each conv's batch norm folded into it,
* :func:`default_pooling` - the paper's pooling per machine,
* :func:`run_embedding_settings` - a trained run's own chunking and pooling, as :func:`embed_clips`'s
  keyword arguments (its defaults are the paper's, not a smaller scale's).

The model contract: ``model.embeddings(x) -> dict[str, Tensor]`` with ``x`` of shape
``(batch, 1, chunk_frames, n_bins)`` float32 and each value of shape ``(batch, dim)``.
"""
from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm


__all__ = ["POOLINGS", "BATCH_VALUES", "n_chunks", "chunk_view", "default_pooling", "run_embedding_settings",
           "fold_batch_norm", "default_batch_size", "embed_clips"]

POOLINGS = ("mean", "std")


def n_chunks(n_frames: int, chunk_frames: int = 32, hop: int = 1) -> int:
    """Number of ``chunk_frames``-frame chunks at a hop of ``hop`` frames: ``1 + (n_frames - chunk_frames) // hop``.

    Sec. 3.3: 282 for a 313-frame (10 s) clip with ``chunk_frames=32, hop=1``. Raises
    ``ValueError`` if the clip is shorter than one chunk or the sizes are not positive.
    """
    if chunk_frames < 1 or hop < 1:
        raise ValueError(f"chunk_frames ({chunk_frames}) and hop ({hop}) must be positive")
    if n_frames < chunk_frames:
        raise ValueError(f"{n_frames} frames are fewer than one chunk of {chunk_frames} frames")
    return 1 + (n_frames - chunk_frames) // hop


def chunk_view(spec, chunk_frames: int = 32, hop: int = 1) -> torch.Tensor:
    """Every chunk of one spectrogram as a strided view (Sec. 3.3: test-time chunks, hop one frame).

    Args:
        spec: ``(n_frames, n_bins)`` tensor or numpy array (any float dtype; a numpy array,
            memory-mapped or not, is wrapped without a copy; a read-only one gives a view that
            must not be written to).
        chunk_frames: frames per chunk (paper: 32).
        hop: frames between the starts of consecutive chunks (paper: 1).

    Returns:
        ``(n_chunks, 1, chunk_frames, n_bins)`` tensor sharing ``spec``'s storage, where chunk
        ``i`` is ``spec[i * hop : i * hop + chunk_frames]`` and ``n_chunks`` is
        :func:`n_chunks` of ``n_frames``.
    """
    if isinstance(spec, np.ndarray):
        with warnings.catch_warnings():  # read-only memmaps: we only ever read the view
            warnings.filterwarnings("ignore", message=".*not writable.*")
            spec = torch.from_numpy(spec)
    if not isinstance(spec, torch.Tensor) or spec.dim() != 2:
        shape = tuple(getattr(spec, "shape", ()))
        raise ValueError(f"expected a (n_frames, n_bins) spectrogram, got shape {shape}")
    try:
        n_chunks(spec.shape[0], chunk_frames, hop)
    except ValueError as err:
        raise ValueError(f"spectrogram of shape {tuple(spec.shape)}: {err}") from None
    # unfold gives (n_chunks, n_bins, chunk_frames); swap to (n_chunks, chunk_frames, n_bins).
    return spec.unfold(0, chunk_frames, hop).transpose(1, 2).unsqueeze(1)


def default_pooling(machine: str) -> str:
    """The paper's pooling of chunk embeddings for ``machine`` (Sec. 3.3): "std" for valve, else "mean"."""
    from asdlib.train import known_machines

    if machine not in known_machines():
        raise ValueError(f"unknown machine {machine!r}; choose one of {known_machines()}")
    return "std" if machine == "valve" else "mean"


def run_embedding_settings(run_dir: str | Path, machine: str | None = None) -> dict:
    """The chunking and pooling with which :func:`asdlib.inference.score_run` embeds the clips of the
    run in ``run_dir`` (read from its ``config.json``), as keyword arguments of :func:`embed_clips`:
    ``{"chunk_frames": ..., "hop": ..., "pooling": ...}``.

    ``hop`` is the run's scale's ``train.embed_hop`` (paper: 1; the smaller scales use longer hops),
    ``pooling`` :func:`default_pooling` of ``machine`` (default: the run's machine; a run pre-trained
    on every machine, ``"all"``, needs it given), "mean" for a direct system (its chunk scores).
    """
    from asdlib.systems import is_direct
    from asdlib.train import ALL_MACHINES, RunConfig

    config = RunConfig.from_dict(json.loads((Path(run_dir) / "config.json").read_text())["run"])
    machine = machine or config.machine
    if machine == ALL_MACHINES:
        raise ValueError(f"{run_dir}: a run on every machine pools each machine its own way; pass machine=")
    pooling = "mean" if is_direct(config.system) else default_pooling(machine)
    return {"chunk_frames": config.scale.train.chunk_frames, "hop": config.scale.train.embed_hop,
            "pooling": pooling}


def fold_batch_norm(model: torch.nn.Module) -> torch.nn.Module:
    """An eval-mode copy of ``model`` in which every ``Conv2d`` directly followed by a ``BatchNorm2d`` in
    an ``nn.Sequential`` carries the batch norm in its weights and bias (the norm becomes an identity).

    With frozen statistics, ``BN(conv(x)) = conv'(x)`` with ``w' = w * g / sqrt(var + eps)`` per
    output channel and ``b' = beta + (b - mean) * g / sqrt(var + eps)``: the same function (float32
    rounding aside: ~1e-6 relative), one pass over each activation fewer (measured at one thread on
    the quick shape: a third of MobileFaceNet's inference time). ``model`` itself is not changed.
    """
    import copy

    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        for seq in [m for m in folded.modules() if isinstance(m, torch.nn.Sequential)]:
            for i in range(len(seq) - 1):
                conv, norm = seq[i], seq[i + 1]
                if not (isinstance(conv, torch.nn.Conv2d) and isinstance(norm, torch.nn.BatchNorm2d)
                        and norm.track_running_stats):
                    continue
                gain = norm.running_var.add(norm.eps).rsqrt()
                if norm.affine:
                    gain = gain * norm.weight
                bias = -norm.running_mean * gain if conv.bias is None else (conv.bias - norm.running_mean) * gain
                conv.weight.mul_(gain.reshape(-1, 1, 1, 1))
                conv.bias = torch.nn.Parameter(bias + norm.bias if norm.affine else bias)
                seq[i + 1] = torch.nn.Identity()
    return folded


BATCH_VALUES = {"cuda": 1024 * 32 * 129, "cpu": 24 * 32 * 129}
"""Input values per forward pass of :func:`embed_clips` by default, per device type: about 4.2 M on a
GPU (1024 chunks of 32 x 129, 128 of the paper's 32 x 1025), 99 k on a CPU (24 quick-shape chunks, 3
of the paper's), where batches whose activations stay in a core's cache run faster. Measured at one
thread (batch norm folded, 3,780 quick-shape chunks of a width-0.5 disent model, two runs each):
batches of 64 took 8.9 / 7.8 s, of 24 6.2 / 6.5 s, of 8 7.2 / 7.0 s; at the paper's shape and width
one to three chunks a batch took 27-31 ms a chunk, eight 50 ms."""


def default_batch_size(chunk_frames: int, n_bins: int, device) -> int:
    """Chunks per forward pass that hold :data:`BATCH_VALUES` input values on ``device`` (at least 1)."""
    values = BATCH_VALUES.get(torch.device(device).type, BATCH_VALUES["cpu"])
    return max(1, values // (chunk_frames * n_bins))


def embed_clips(model: torch.nn.Module, specs: Sequence, chunk_frames: int = 32, hop: int = 1,
                pooling: str = "mean", batch_size: int | None = None, device=None,
                progress: bool = False) -> dict[str, np.ndarray]:
    """Pooled embeddings of many clips, one array per embedding space of the model (Sec. 3.3).

    The chunks (:func:`chunk_view`) of consecutive clips fill batches of ``batch_size`` chunks (a
    clip may span two batches), which go through ``model.embeddings`` (batch norm folded) under
    ``torch.inference_mode`` in channels-last layout. Precision: float32 on every device (on CUDA
    with TF32 switched off for the call, so a GPU computes what the CPU computes, up to summation
    order; training may use bfloat16 autocast, embeddings never do). Each clip's
    chunk embeddings are then pooled per space, streaming (Chan et al.'s merge of batch means
    and sums of squares, in float64), so the result does not depend on ``batch_size``.

    Args:
        model: module with ``embeddings(x) -> dict[str, Tensor]``, ``x`` of shape
            ``(B, 1, chunk_frames, n_bins)`` float32, each value ``(B, dim)``. It is left as it
            is: the forward passes run an eval-mode copy with batch norm folded into the convs
            (:func:`fold_batch_norm`), in channels-last memory format (on CPU/CUDA), on ``device``.
        specs: sequence of ``n_clips`` spectrograms ``(n_frames_i, n_bins)`` (numpy arrays,
            e.g. float16 memory maps, or tensors); converted to float32 a batch at a time.
        chunk_frames: frames per chunk (paper: 32).
        hop: chunk hop in frames (paper: 1).
        pooling: "mean" or "std" (population standard deviation over the clip's chunks, per
            dimension; the paper's choice for valve, see :func:`default_pooling`).
        batch_size: chunks per forward pass; None: :func:`default_batch_size`, a fixed number of input
            values per device type (the network's activations grow with the input: 1024 paper-shape
            chunks at full width took 17 GB on CPU).
        device: where to run; ``None`` uses the device of the model's parameters (CPU if none).
        progress: show a tqdm bar counting chunks.

    Returns:
        dict space name -> ``(n_clips, dim)`` float32 array, in the model's space order. The
        chunk count of clip ``i`` is ``n_chunks(len(specs[i]), chunk_frames, hop)``.

    The defaults of ``chunk_frames`` and ``hop`` are the paper's, that of ``pooling`` is the paper's
    for every machine but valve; a trained run's own settings are :func:`run_embedding_settings`:
    ``embed_clips(model, specs, **run_embedding_settings(run_dir))``.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling {pooling!r} is not one of {POOLINGS}")
    if len(specs) == 0:
        raise ValueError("no spectrograms to embed")
    n_bins = specs[0].shape[-1]
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    device = torch.device(device)
    if batch_size is None:
        batch_size = default_batch_size(chunk_frames, n_bins, device)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    counts = []
    for i, spec in enumerate(specs):
        if len(spec.shape) != 2 or spec.shape[1] != n_bins:
            raise ValueError(f"spectrogram {i} has shape {tuple(spec.shape)}; expected (n_frames, {n_bins})")
        try:
            counts.append(n_chunks(spec.shape[0], chunk_frames, hop))
        except ValueError as err:
            raise ValueError(f"spectrogram {i}: {err}") from None

    layout = torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format
    runner = fold_batch_norm(model).to(device=device, memory_format=layout)

    buffer = torch.empty((min(batch_size, sum(counts)), 1, chunk_frames, n_bins), dtype=torch.float32,
                         memory_format=layout)
    pooled = _Pool(len(specs), with_spread=pooling == "std")
    bar = tqdm(total=sum(counts), unit="chunk", disable=not progress, desc="embedding")
    try:
        with torch.inference_mode(), _strict_float32(device):
            for pieces in _batches(counts, batch_size):
                rows = 0
                for clip, first, stop in pieces:
                    frames = specs[clip][first * hop:(stop - 1) * hop + chunk_frames]
                    buffer[rows:rows + stop - first].copy_(chunk_view(frames, chunk_frames, hop))
                    rows += stop - first
                out = runner.embeddings(buffer[:rows].to(device, non_blocking=True))
                pooled.add([p[0] for p in pieces], [p[2] - p[1] for p in pieces],
                           {name: e.float().cpu() for name, e in out.items()})
                bar.update(rows)
    finally:
        bar.close()
    return pooled.result(pooling)


@contextlib.contextmanager
def _strict_float32(device: torch.device):
    """On CUDA: no TF32 in convolutions and matrix products for the duration (restored after)."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _batches(counts: list[int], batch_size: int):
    """Yield lists of ``(clip, first_chunk, stop_chunk)`` pieces, ``batch_size`` chunks per list (the last may hold fewer)."""
    pieces, room = [], batch_size
    for clip, count in enumerate(counts):
        first = 0
        while first < count:
            stop = min(count, first + room)
            pieces.append((clip, first, stop))
            room -= stop - first
            first = stop
            if room == 0:
                yield pieces
                pieces, room = [], batch_size
    if pieces:
        yield pieces


class _Pool:
    """Running per-clip mean (and sum of squared deviations) of chunk embeddings, per space, in float64."""

    def __init__(self, n_clips: int, with_spread: bool):
        self.count = torch.zeros(n_clips, 1, dtype=torch.float64)
        self.with_spread = with_spread
        self.mean: dict[str, torch.Tensor] = {}
        self.m2: dict[str, torch.Tensor] = {}

    def add(self, clips: list[int], lengths: list[int], embeddings: dict[str, torch.Tensor]) -> None:
        """Merge one batch: ``embeddings[space]`` is ``(sum(lengths), dim)``, rows of clip ``clips[j]`` contiguous.

        A clip appears at most once per batch, so indexing the accumulators by ``clips`` is safe.
        """
        idx = torch.tensor(clips)
        n_b = torch.tensor(lengths, dtype=torch.float64)[:, None]
        piece = torch.repeat_interleave(torch.arange(len(clips)), torch.tensor(lengths))
        n_a = self.count[idx]
        n = n_a + n_b
        for name, e in embeddings.items():
            e = e.double()
            if name not in self.mean:
                self.mean[name] = torch.zeros(len(self.count), e.shape[1], dtype=torch.float64)
                self.m2[name] = torch.zeros_like(self.mean[name])
            mean_b = torch.zeros(len(clips), e.shape[1], dtype=torch.float64).index_add_(0, piece, e) / n_b
            delta = mean_b - self.mean[name][idx]
            self.mean[name][idx] += delta * (n_b / n)
            if self.with_spread:
                m2_b = torch.zeros_like(mean_b).index_add_(0, piece, (e - mean_b[piece]) ** 2)
                self.m2[name][idx] += m2_b + delta ** 2 * (n_a * n_b / n)
        self.count[idx] = n

    def result(self, pooling: str) -> dict[str, np.ndarray]:
        if pooling == "mean":
            return {name: m.numpy().astype(np.float32) for name, m in self.mean.items()}
        return {name: (m2 / self.count).sqrt().numpy().astype(np.float32) for name, m2 in self.m2.items()}
