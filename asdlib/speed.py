"""How a training step runs on this machine: whether the trunk is compiled, and in what precision.

Two switches, read from the environment, both off by default (a notebook, a test or a user's own
script trains eager in float32 on a CPU) and both on in ``make book``'s runs (the Makefile sets them):

* ``ASDLIB_COMPILE=1``: on a CPU, the MobileFaceNet trunk (the same network in every MobileFaceNet
  system and machine, so one compilation serves them all through inductor's cache,
  ``TORCHINDUCTOR_CACHE_DIR``) is compiled by ``torch.compile`` (inductor, static shapes: the full
  batch and an epoch's shorter last batch). ``nn.Module.compile`` compiles in place: the state dict,
  hence every checkpoint, is the eager model's.
* ``ASDLIB_BF16=1``: on a CPU that computes bfloat16 natively (:data:`BF16_CPU_FLAGS`), the forward
  pass runs under bfloat16 autocast; the losses are computed in float32 (``asdlib.train``). Elsewhere
  float32: autocast would emulate bfloat16, slower.

On CUDA the forward pass always runs under bfloat16 autocast and is not compiled (no GPU has run
the compiled path). Embeddings are computed eager in float32 everywhere (``asdlib.embed``). What a
run used is written in its ``config.json`` (``code.training``); the README's table measures each
choice side by side with the eager float32 step.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def bf16_supported(device: str) -> bool:
    """Whether ``device`` computes bfloat16 natively: a CUDA GPU that torch says does, or a CPU whose
    /proc/cpuinfo flags name :data:`BF16_CPU_FLAGS` (elsewhere autocast would emulate it, slower)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return False
    return any(flag in flags for flag in BF16_CPU_FLAGS)


@dataclass(frozen=True)
class TrainingPath:
    """How the training step runs: ``compiled`` (the trunk by inductor) and ``precision`` of the
    forward pass ("bfloat16" autocast or "float32")."""

    compiled: bool = False
    precision: str = "float32"

    def as_dict(self) -> dict:
        return asdict(self)

    def autocast(self, device: str):
        """The forward pass's context: bfloat16 autocast on ``device``'s type, or nothing."""
        import torch

        if self.precision != "bfloat16":
            return contextlib.nullcontext()
        return torch.autocast(device.split(":")[0], dtype=torch.bfloat16)

    def prepare(self, model):
        """``model`` with its trunk compiled in place when :attr:`compiled` (a model without a
        ``trunk``, e.g. the baselines', is left as it is). Returns ``model``."""
        trunk = getattr(model, "trunk", None)
        if self.compiled and trunk is not None:
            trunk.compile(dynamic=False)
        return model


def _switch(name: str, environ) -> bool:
    value = environ.get(name, "0").strip()
    if value not in ("0", "1", ""):
        raise ValueError(f"{name}={value!r}: must be 0 or 1")
    return value == "1"


def training_path(device: str, environ=os.environ) -> TrainingPath:
    """The path a training run on ``device`` takes under the switches of ``environ`` (module docstring)."""
    if device.startswith("cuda"):
        return TrainingPath(compiled=False, precision="bfloat16")
    compiled = _switch("ASDLIB_COMPILE", environ)
    bf16 = _switch("ASDLIB_BF16", environ) and bf16_supported(device)
    return TrainingPath(compiled=compiled, precision="bfloat16" if bf16 else "float32")
