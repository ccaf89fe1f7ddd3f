"""The three named scales (``smoke``, ``quick``, ``paper``) and how to override them.

One code path serves all three; a scale is only a set of defaults. ``paper`` holds the paper's
settings (Sec. 3.1-3.3: STFT window 2048, hop 512, 1025 bins; 32-frame chunks; Adam, batch 32, lr
1e-4, 1e-5 for ToyCar; 300 epochs, a checkpoint every 5; test chunks at a hop of one frame) and the
real set's clip counts; ``quick`` is the reduced setting of the default ``make book`` on a 2-core
CPU; ``smoke`` is for tests (seconds).
Imports nothing heavy.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["SynthSize", "FeatureSpec", "TrainSettings", "ModelSettings", "Scale", "ALLOWED", "SCALES",
           "get_scale"]


@dataclass(frozen=True)
class SynthSize:
    """How many clips the synthetic generator writes, per machine and section."""

    clip_seconds: float
    train_source: int      # normal source-domain training clips per section (real: 990)
    train_target: int      # normal target-domain training clips per section (real: 10)
    test_per_domain: int   # dev test: this many normal AND this many anomalous clips per domain (real: 50)
    eval_test: int         # anonymised eval test clips per section (real: 200), same mix as dev test


@dataclass(frozen=True)
class FeatureSpec:
    """Spectrogram settings; a cache on disk is keyed by these (``asdlib.features``).

    ``n_mels == 0``: log STFT magnitude (the paper's input, Sec. 3.1). ``n_mels > 0``: log-mel
    energies in dB (the DCASE 2022 baselines' input: 128 bands, window 1024, hop 512).
    """

    n_fft: int             # window = FFT length (paper: 2048 = 128 ms at 16 kHz)
    hop: int               # paper: 512 = 32 ms
    n_mels: int = 0

    @property
    def n_bins(self) -> int:
        """Feature dimension per frame: STFT bins, or mel bands."""
        return self.n_mels or self.n_fft // 2 + 1

    def key(self) -> str:
        return f"stft_nfft{self.n_fft}_hop{self.hop}" + (f"_slaneymel{self.n_mels}" if self.n_mels else "")


@dataclass(frozen=True)
class TrainSettings:
    """Surrogate-task training (Sec. 3.2): one random chunk per clip per epoch, Adam."""

    chunk_frames: int      # paper: 32
    batch_size: int        # paper: 32
    epochs: int            # paper: up to 300
    checkpoint_every: int  # paper: 5
    lr: float              # paper: 1e-4
    lr_toycar: float       # paper: 1e-5
    embed_hop: int         # test-time chunk hop in frames (paper: 1, i.e. 282 chunks per 10 s clip)
    chunks_per_clip: int = 1  # random chunks drawn from each clip per epoch (paper: 1)


@dataclass(frozen=True)
class ModelSettings:
    """The embedding systems' network at this scale."""

    width: float = 1.0     # MobileFaceNet channel multiplier (paper: 1.0, Table 1)


@dataclass(frozen=True)
class Scale:
    name: str
    synth: SynthSize
    features: FeatureSpec
    train: TrainSettings
    model: ModelSettings = ModelSettings()

    def replace(self, **overrides) -> "Scale":
        """A copy with dotted overrides, e.g. ``scale.replace(**{"train.epochs": 3})``."""
        out = self
        for dotted, value in overrides.items():
            part, _, leaf = dotted.partition(".")
            if dotted not in self.keys():
                raise ValueError(f"unknown setting {dotted!r}; the settings are: {', '.join(self.keys())}")
            group = getattr(out, part)
            out = dataclasses.replace(out, **{part: dataclasses.replace(group, **{leaf: value})})
        return out

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> "Scale":
        """Check every setting against :data:`ALLOWED`; raises ``ValueError`` naming the first key out of
        range, its value and what is allowed. Returns self."""
        for dotted, (low, high, what) in ALLOWED.items():
            group, leaf = dotted.split(".")
            value = getattr(getattr(self, group), leaf)
            if not low <= value <= high:  # NaN fails too
                raise ValueError(f"{dotted} = {value!r}: must be {what}")
        return self

    @staticmethod
    def keys() -> list[str]:
        """Every overridable setting, dotted (``train.epochs``, ...)."""
        return [f"{group}.{f.name}" for group, cls in _GROUPS.items() for f in dataclasses.fields(cls)]


_GROUPS = {"synth": SynthSize, "features": FeatureSpec, "train": TrainSettings, "model": ModelSettings}

# The range of every setting, both ends inclusive: key -> (lowest, highest, how to say it). The highest
# values lie far beyond any use (the paper's in brackets) and keep a typo from allocating terabytes.
ALLOWED = {
    "synth.clip_seconds": (0.5, 60, "at least 0.5 and at most 60 (seconds; paper: 10)"),
    "synth.train_source": (2, 10_000, "an integer >= 2 and <= 10000"),
    "synth.train_target": (1, 10_000, "an integer >= 1 and <= 10000"),
    "synth.test_per_domain": (1, 10_000, "an integer >= 1 and <= 10000"),
    "synth.eval_test": (4, 40_000, "an integer >= 4 and <= 40000"),
    "features.n_fft": (4, 16_384, "an integer >= 4 and <= 16384 (paper: 2048)"),
    "features.hop": (1, 16_384, "an integer >= 1 and <= 16384 (paper: 512)"),
    "features.n_mels": (0, 512, "an integer >= 0 and <= 512 (0: the STFT magnitude itself)"),
    "train.chunk_frames": (1, 4096, "an integer >= 1 and <= 4096 (and at most the frames of the shortest clip)"),
    "train.batch_size": (2, 65_536, "an integer >= 2 and <= 65536 (batch norm needs two chunks)"),
    "train.epochs": (1, 100_000, "an integer >= 1 and <= 100000"),
    "train.checkpoint_every": (1, 100_000, "an integer >= 1 and <= 100000"),
    "train.lr": (1e-12, 1.0, "a number > 0 and <= 1 (paper: 1e-4)"),
    "train.lr_toycar": (1e-12, 1.0, "a number > 0 and <= 1 (paper: 1e-5)"),
    "train.embed_hop": (1, 4096, "an integer >= 1 and <= 4096"),
    "train.chunks_per_clip": (1, 1000, "an integer >= 1 and <= 1000"),
    "model.width": (0.125, 4.0, "a number >= 0.125 and <= 4 (paper: 1)"),
}

SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke",
        synth=SynthSize(clip_seconds=2.0, train_source=12, train_target=2, test_per_domain=4, eval_test=16),
        features=FeatureSpec(n_fft=128, hop=64),
        train=TrainSettings(chunk_frames=32, batch_size=16, epochs=4, checkpoint_every=2,
                            lr=1e-3, lr_toycar=1e-3, embed_hop=16),
    ),
    # quick: sized for the whole book (9 systems x 7 machines x 3 seeds, and Beyond the paper) in 75
    # minutes on a 2-core CPU. 12 epochs: the compiled bfloat16 trunk of make book's runs
    # (asdlib.speed) takes a step in ~170 ms against ~280 eager, so 12 epochs cost what 8 did; on the
    # stand-in whose sections need learning, disent on fan scored 0.41 after 8 epochs and 0.56 after
    # 24 (seed 0, dev official). Ten target-domain training clips per section, as the real set has
    # (with four, the target domain's normal clips found too few neighbours and AUC (T) fell below
    # 0.5: see the note in the book's Reproducing page); the MobileFaceNet at half width (a CPU
    # budget, not the paper's).
    "quick": Scale(
        name="quick",
        synth=SynthSize(clip_seconds=2.0, train_source=40, train_target=10, test_per_domain=10, eval_test=40),
        features=FeatureSpec(n_fft=256, hop=128),
        train=TrainSettings(chunk_frames=32, batch_size=32, epochs=12, checkpoint_every=6,
                            lr=1e-3, lr_toycar=1e-3, embed_hop=32),
        model=ModelSettings(width=0.5),
    ),
    "paper": Scale(
        name="paper",
        synth=SynthSize(clip_seconds=10.0, train_source=990, train_target=10, test_per_domain=50, eval_test=200),
        features=FeatureSpec(n_fft=2048, hop=512),
        train=TrainSettings(chunk_frames=32, batch_size=32, epochs=300, checkpoint_every=5,
                            lr=1e-4, lr_toycar=1e-5, embed_hop=1),
    ),
}


def get_scale(name: str) -> Scale:
    """The named scale of :data:`SCALES` ("smoke", "quick" or "paper"); ``KeyError`` for another name.
    Change a setting with :meth:`Scale.replace`, e.g. ``get_scale("quick").replace(**{"train.epochs": 4})``."""
    try:
        return SCALES[name]
    except KeyError:
        raise KeyError(f"unknown scale {name!r}; choose one of {sorted(SCALES)}") from None
