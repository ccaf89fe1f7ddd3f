"""The DCASE 2022 Task 2 MobileNetV2 baseline (system ``mn``): a comparison row of the paper's Table 2.

What the baseline does, and what we follow (its public ``dcase2022_task2_baseline_mobile_net_v2``
code, which calls Keras' ``MobileNetV2(alpha=0.5, weights=None)``):

* input: log-mel energies in dB, 128 bands, window = FFT 1024, hop 512, cut into patches of 64
  frames (a (64, 128) image) with a hop of 8 frames;
* model: MobileNetV2 (Sandler et al., 2018) with width multiplier 0.5: a 3x3 stride-2 conv, inverted
  residual blocks (1x1 expansion by t, 3x3 depthwise conv, linear 1x1 projection; a residual
  connection when the stride is 1 and the width is unchanged) in the groups of :data:`BLOCKS`, a
  1x1 conv to 1280 channels, global average pooling and a linear classifier; batch norm after
  every conv, ReLU6 after all but the projections;
* task: classify the section of the patch (cross-entropy), trained from scratch with Adam;
* score: ``log((1 - p) / p)`` with p the softmax probability of the clip's own section, averaged
  over the clip's patches (:meth:`MobileNetV2Classifier.chunk_scores`, averaged by
  :mod:`asdlib.inference`).

Where we depart:

* one model per machine over all its sections (dev 00-02 and eval 03-05 together: 6 classes);
  the baseline trains one model on ``dev_data`` and another on ``eval_data`` (3 classes each);
* the 1-channel patch goes straight into the first conv (the baseline copies it into three
  identical channels, which is the same function with the three kernels summed);
* convs pad symmetrically (Keras pads stride-2 convs asymmetrically);
* an epoch draws ``chunks_per_clip`` random patches per clip (paper scale 32, as many as the
  baseline's hop-8 grid of a 10 s clip has) instead of the fixed grid; nothing is held out
  for validation (the baseline holds out 10 %);
* the score is computed from the logits, without clamping p (see
  :meth:`MobileNetV2Classifier.chunk_scores`); the baseline floors p and 1 - p at the float epsilon;
* smoke and quick scales use fewer mel bands, shorter patches and the narrower width of
  :func:`default_width` to fit a 2-core CPU (see :data:`SETTINGS`).

The baseline's fit settings used at paper scale (Adam lr 1e-5, batch 32, 20 epochs) are those of
its published ``baseline.yaml`` as we know it; that file was not among the copies we could
consult, so they are unverified here.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from asdlib.scales import FeatureSpec

# MobileNetV2 inverted-residual groups (Sandler et al., 2018, Table 2): (expansion t, output
# channels c at width 1, repeats n, stride s of the first block)
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
          (6, 320, 1, 1))
STEM_CHANNELS = 32      # first conv, at width 1
LAST_CHANNELS = 1280    # last 1x1 conv (kept at 1280 for widths <= 1, as Keras does)
BASELINE_WIDTH = 0.5

# Per scale: input features and TrainSettings overrides (applied by asdlib.systems.resolve_scale).
# paper: the baseline's patches (128 mels x 64 frames, hop 8) and fit settings (Adam lr 1e-5 for
# 20 epochs, some 60,000 steps per model on the real data). quick and smoke (2 s clips, 63
# frames): 64 mels x 32-frame patches, width 0.25 (default_width), and lr 1e-3 for
# the few hundred steps they take; quick trains + scores one machine in ~15 s of one CPU thread.
# The input (log-mel dB, ~10 +- 5 on the synthetic data) is not normalised, as in the baseline, so
# eval-mode batch norm needs some 30+ steps for running statistics that do not saturate every
# ReLU6 (fewer give every chunk the same score); hence smoke's 8 patches per clip in batches of 16.
SETTINGS = {
    "smoke": {"features": FeatureSpec(n_fft=1024, hop=512, n_mels=64),
              "train": {"chunk_frames": 32, "batch_size": 16, "epochs": 2, "checkpoint_every": 1,
                        "lr": 1e-3, "lr_toycar": 1e-3, "embed_hop": 16, "chunks_per_clip": 8}},
    "quick": {"features": FeatureSpec(n_fft=1024, hop=512, n_mels=64),
              "train": {"chunk_frames": 32, "batch_size": 32, "epochs": 6, "checkpoint_every": 2,
                        "lr": 1e-3, "lr_toycar": 1e-3, "embed_hop": 8, "chunks_per_clip": 4}},
    "paper": {"features": FeatureSpec(n_fft=1024, hop=512, n_mels=128),
              "train": {"chunk_frames": 64, "batch_size": 32, "epochs": 20, "checkpoint_every": 5,
                        "lr": 1e-5, "lr_toycar": 1e-5, "embed_hop": 8, "chunks_per_clip": 32}},
}


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` (at least ``divisor``), never more than
    10 % below ``value`` (the MobileNetV2 reference rule for width multipliers)."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


def default_width(chunk_frames: int, n_bins: int) -> float:
    """Width multiplier for an input of (chunk_frames, n_bins): the baseline's 0.5 for patches of
    at least its 64 x 128, else 0.25 (the reduced scales)."""
    return BASELINE_WIDTH if chunk_frames * n_bins >= 64 * 128 else 0.25


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1,
             act: bool = True) -> nn.Sequential:
    """Conv (no bias, padding kernel // 2) + BatchNorm2d (+ ReLU6).

    (B, c_in, H, W) -> (B, c_out, ceil(H / s), ceil(W / s)) for odd kernels.
    """
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
              nn.BatchNorm2d(c_out)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion to ``c_in * t`` channels (omitted when t = 1), 3x3
    depthwise conv with stride s, linear 1x1 projection to ``c_out``; plus the input when s = 1
    and c_in = c_out. (B, c_in, H, W) -> (B, c_out, ceil(H/s), ceil(W/s)).
    """

    def __init__(self, c_in: int, c_out: int, expansion: int, stride: int):
        super().__init__()
        hidden = c_in * expansion
        self.residual = stride == 1 and c_in == c_out
        layers = [_conv_bn(c_in, hidden, 1)] if expansion != 1 else []
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, c_out, 1, act=False)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2Classifier(nn.Module):
    """Section classifier of the DCASE 2022 MobileNetV2 baseline on log-mel patches.

    Args:
        n_bins: mel bands (baseline: 128).
        chunk_frames: frames per patch (baseline: 64).
        n_sections: number of section classes.
        width: width multiplier; ``None`` picks :func:`default_width` (0.5 at the baseline's size).

    Input ``x``: (B, 1, chunk_frames, n_bins) float32, a 1-channel image (time x mel).
    """

    def __init__(self, n_bins: int = 128, chunk_frames: int = 64, n_sections: int = 3,
                 width: float | None = None):
        super().__init__()
        if n_sections < 2:
            raise ValueError(f"a section classifier needs at least two sections, got {n_sections}")
        self.n_bins, self.chunk_frames, self.n_sections = int(n_bins), int(chunk_frames), int(n_sections)
        self.width = float(default_width(self.chunk_frames, self.n_bins) if width is None else width)
        c_in = make_divisible(STEM_CHANNELS * self.width)
        layers = [_conv_bn(1, c_in, 3, stride=2)]
        for t, c, n, s in BLOCKS:
            c_out = make_divisible(c * self.width)
            for i in range(n):
                layers.append(InvertedResidual(c_in, c_out, t, s if i == 0 else 1))
                c_in = c_out
        last = LAST_CHANNELS if self.width <= 1.0 else make_divisible(LAST_CHANNELS * self.width)
        layers.append(_conv_bn(c_in, last, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(last, self.n_sections)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 1, chunk_frames, n_bins) -> ``{"logits": (B, n_sections)}``."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, self.chunk_frames, self.n_bins):
            raise ValueError(f"expected input (B, 1, {self.chunk_frames}, {self.n_bins}), got {tuple(x.shape)}")
        return {"logits": self.classifier(self.features(x).mean(dim=(2, 3)))}

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy of the section classes; stats: ``section_acc`` (fraction of the batch right).

        ``batch["section"]``: (B,) long in [0, n_sections). Other entries are ignored.
        """
        logits, section = outputs["logits"].float(), batch["section"]
        accuracy = (logits.argmax(dim=1) == section).float().mean()
        return F.cross_entropy(logits, section), {"section_acc": float(accuracy)}

    def chunk_scores(self, x: torch.Tensor, section: torch.Tensor) -> torch.Tensor:
        """Anomaly score per patch: the log-odds against its own section, ``log((1 - p) / p)`` with p
        the softmax probability of ``section``. (B, 1, T, F), (B,) long -> (B,).

        Computed from the logits z as ``logsumexp_{j != s} z_j - z_s`` (in float64), which equals
        the baseline's formula wherever p is not rounded to 0 or 1, and stays finite and ordered
        where it is (the baseline clamps p instead, which ties every saturated patch, so that a
        confidently trained model could give every training clip the same score).
        Raises ``ValueError`` for a section outside [0, n_sections) (one the model never saw).
        """
        if len(section) and (int(section.min()) < 0 or int(section.max()) >= self.n_sections):
            raise ValueError(f"sections must lie in [0, {self.n_sections}), got {section.tolist()}")
        logits = self.forward(x)["logits"].double()
        own = section.long().view(-1, 1)
        others = logits.scatter(1, own, float("-inf")).logsumexp(dim=1)
        return (others - logits.gather(1, own).squeeze(1)).float()

    def describe(self) -> dict:
        """JSON-ready configuration (``system`` and constructor arguments) plus sizes."""
        blocks = [m for m in self.features if isinstance(m, InvertedResidual)]
        return {"system": "mn", "n_bins": self.n_bins, "chunk_frames": self.chunk_frames,
                "n_sections": self.n_sections, "width": self.width, "n_blocks": len(blocks),
                "last_channels": self.classifier.in_features,
                "n_parameters": sum(p.numel() for p in self.parameters())}

    @classmethod
    def from_config(cls, cfg: dict) -> "MobileNetV2Classifier":
        """An untrained model from :meth:`describe`'s dictionary (other keys ignored)."""
        return cls(n_bins=cfg["n_bins"], chunk_frames=cfg["chunk_frames"], n_sections=cfg["n_sections"],
                   width=cfg["width"])
