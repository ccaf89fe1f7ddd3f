"""The DCASE 2022 Task 2 autoencoder baseline (system ``ae``): a comparison row of the paper's Table 2.

What the baseline does, and what we follow (its public ``dcase2022_task2_baseline_ae`` code):

* input: log-mel energies in dB, 128 bands, window = FFT 1024, hop 512 (:class:`FeatureSpec`
  with ``n_mels=128``; :func:`asdlib.features.log_spectrogram`), 5 consecutive frames stacked
  into one 640-d vector (frame ``t`` of the window in entries ``128 t .. 128 t + 127``);
* model: dense autoencoder 640 -> 128 -> 128 -> 128 -> 128 -> 8 -> 128 -> 128 -> 128 -> 128 -> 640,
  each hidden layer Linear + BatchNorm1d + ReLU (the 8-unit bottleneck too), a linear output layer;
* loss: mean squared reconstruction error; Adam, lr 1e-3, batch 512, 100 epochs;
* score: a clip's anomaly score is the mean reconstruction error of its 5-frame windows at a hop
  of one frame (here: :meth:`AutoEncoder.chunk_scores` per window, averaged per clip by
  :mod:`asdlib.inference`); one model per machine, all sections together (the section is ignored).

Where we depart: the baseline's every epoch visits every 5-frame window of every training clip,
and holds out 10 % of them for validation; here an epoch draws ``chunks_per_clip`` random windows
per clip (paper scale 64 of a 10 s clip's 309, so 100 epochs visit each window ~20 times) and
nothing is held out. The quick scale trains 30 epochs, the smoke scale 4 with smaller batches
and scores every other window (see :data:`SETTINGS`). As in the baseline, one model serves all
sections of a machine, but here dev (00-02) and eval (03-05) sections share it too (the baseline
trains one model on ``dev_data`` and another on ``eval_data``). The gamma decision threshold is
fitted on the training clips' in-sample scores, as the baseline does.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from asdlib.scales import FeatureSpec

N_FRAMES = 5          # frames stacked into one input vector
HIDDEN = 128          # units of the eight hidden layers
BOTTLENECK = 8        # units of the code layer
N_HIDDEN_EACH_SIDE = 4

_BASELINE_FEATURES = FeatureSpec(n_fft=1024, hop=512, n_mels=128)

# Per scale: input features and TrainSettings overrides (applied by asdlib.systems.resolve_scale).
# paper: the baseline's settings. quick and smoke (2 s clips, 63 frames) are
# sized for a 2-core CPU: quick (30 epochs of 64 windows per clip) trains + scores one machine in
# ~20 s of one CPU thread.
SETTINGS = {
    "smoke": {"features": _BASELINE_FEATURES,
              "train": {"chunk_frames": N_FRAMES, "batch_size": 128, "epochs": 4, "checkpoint_every": 2,
                        "lr": 1e-3, "lr_toycar": 1e-3, "embed_hop": 2, "chunks_per_clip": 16}},
    "quick": {"features": _BASELINE_FEATURES,
              "train": {"chunk_frames": N_FRAMES, "batch_size": 512, "epochs": 30, "checkpoint_every": 10,
                        "lr": 1e-3, "lr_toycar": 1e-3, "embed_hop": 1, "chunks_per_clip": 64}},
    "paper": {"features": _BASELINE_FEATURES,
              "train": {"chunk_frames": N_FRAMES, "batch_size": 512, "epochs": 100, "checkpoint_every": 10,
                        "lr": 1e-3, "lr_toycar": 1e-3, "embed_hop": 1, "chunks_per_clip": 64}},
}


def _dense(n_in: int, n_out: int) -> nn.Sequential:
    """Linear + BatchNorm1d + ReLU: (B, n_in) -> (B, n_out)."""
    return nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU())


class AutoEncoder(nn.Module):
    """Dense autoencoder of the DCASE 2022 baseline on flattened log-mel windows.

    Args:
        n_bins: mel bands per frame (baseline: 128).
        chunk_frames: frames per window (baseline: 5); input dimension ``n_bins * chunk_frames``.
        n_sections: number of sections of the machine; recorded only (the AE ignores sections).

    Input ``x``: (B, 1, chunk_frames, n_bins) float32, any memory format.
    """

    def __init__(self, n_bins: int = 128, chunk_frames: int = N_FRAMES, n_sections: int = 1):
        super().__init__()
        self.n_bins, self.chunk_frames, self.n_sections = int(n_bins), int(chunk_frames), int(n_sections)
        dim = self.n_bins * self.chunk_frames
        widths = [dim] + [HIDDEN] * N_HIDDEN_EACH_SIDE + [BOTTLENECK] + [HIDDEN] * N_HIDDEN_EACH_SIDE
        self.encoder = nn.Sequential(*[_dense(a, b) for a, b in zip(widths[:5], widths[1:6])])
        self.decoder = nn.Sequential(*[_dense(a, b) for a, b in zip(widths[5:-1], widths[6:])],
                                     nn.Linear(HIDDEN, dim))

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, chunk_frames, n_bins) -> (B, chunk_frames * n_bins), frame-major."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, self.chunk_frames, self.n_bins):
            raise ValueError(f"expected input (B, 1, {self.chunk_frames}, {self.n_bins}), got {tuple(x.shape)}")
        return x.reshape(len(x), -1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 1, chunk_frames, n_bins) -> ``{"input": (B, D), "reconstruction": (B, D)}``.

        D = chunk_frames * n_bins; ``input`` is the flattened window (the loss target).
        """
        flat = self._flat(x)
        return {"input": flat, "reconstruction": self.decoder(self.encoder(flat))}

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean squared reconstruction error over the batch and the D entries (the baseline's loss).

        ``batch`` (section and attribute labels) is not used. Returns ``(loss, {})``.
        """
        return F.mse_loss(outputs["reconstruction"], outputs["input"]), {}

    def chunk_scores(self, x: torch.Tensor, section: torch.Tensor) -> torch.Tensor:
        """Anomaly score per window: its mean squared reconstruction error, (B, 1, T, F) -> (B,).

        ``section`` (B,) is ignored (one model serves every section). Call in eval mode; the
        clip's score is the mean over its windows (:mod:`asdlib.inference`).
        """
        out = self.forward(x)
        return (out["reconstruction"].float() - out["input"].float()).square().mean(dim=1)

    def describe(self) -> dict:
        """JSON-ready configuration (``system`` and constructor arguments) plus layer widths."""
        widths = [m.out_features for m in self.modules() if isinstance(m, nn.Linear)]
        return {"system": "ae", "n_bins": self.n_bins, "chunk_frames": self.chunk_frames,
                "n_sections": self.n_sections, "layer_widths": [self.n_bins * self.chunk_frames] + widths,
                "n_parameters": sum(p.numel() for p in self.parameters())}

    @classmethod
    def from_config(cls, cfg: dict) -> "AutoEncoder":
        """An untrained model from :meth:`describe`'s dictionary (other keys ignored)."""
        return cls(n_bins=cfg["n_bins"], chunk_frames=cfg["chunk_frames"], n_sections=cfg["n_sections"])
