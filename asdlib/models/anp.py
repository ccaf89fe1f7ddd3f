"""Attentive neural process (ANP) anomaly detector (system ``anp``): the paper's "ANP-Boot" row.

After Wichern, Chakrabarty, Wang and Le Roux, "Anomalous sound detection using attentive neural
processes", WASPAA 2021 (and MERL's patent US 11,978,476, which describes the same method). A
spectrogram patch is a function from time-frequency coordinates to values; its elements are split
into a *context* region and a *target* region, an attentive neural process (Kim et al., ICLR 2019)
predicts a Gaussian (mean, variance) for every target element from the context elements, training
maximises the Gaussian log-likelihood of the target values of normal sounds, and the anomaly score
of a patch is the negative log-likelihood of its target values.

What we implement (our reading: the paper's full text could not be consulted here, so its sizes
are reconstructed from the method as summarised above and from the interpolation DNN (IDNN,
Suefusa et al., ICASSP 2020) that it generalises, which predicts the centre frame of 5):

* input: log-mel energies in dB (window = FFT 1024, hop 512, as the DCASE baselines; 128 bands at
  the paper scale, 64 at the quick and smoke scales to cut the attention cost by four), patches of
  5 frames (:data:`PATCH_FRAMES`); values standardised per mel band with fixed
  statistics: the running average of the training batches' band means and variances, frozen in
  eval mode (:class:`BandStandardiser`); likelihoods are of the standardised values;
* partitions: the target is one whole frame of the patch and the context the other frames
  (:func:`frame_partition`); the WASPAA/IDNN split takes the centre frame as target. Training draws
  the target frame of every patch uniformly at random (the patent: "randomly selecting different
  partitions ... into context and target regions");
* model (small, for a 2-core CPU): every element is a coordinate ``(t, f)`` (frame, mel band) and
  a value ``y``. Encoder: a two-layer MLP of (coordinate embedding, y) gives each context element
  a representation r_i; deterministic path: multi-head cross-attention from the target coordinates
  (queries) to the context coordinates (keys) over the values r_i, with a learned bias per head on
  the relative offset (dt, df) (queries and keys depend on coordinates only, as in the ANP);
  global path: the mean of the r_i (the mean of the ANP's latent path, used deterministically: no
  latent sample and no KL term); decoder: an MLP of (target coordinate embedding, attention output,
  global mean) gives the mean and variance (softplus + :data:`MIN_VARIANCE`) of each target value.
  The ANP's self-attention over the context is left out (it costs O(n_context^2)); the set
  functions used (mean, softmax attention) keep the prediction invariant to the order of the
  context elements;
* loss: mean Gaussian negative log-likelihood per target element (the ANP's conditional
  likelihood term; no KL term, since there is no latent sample);
* score: mean Gaussian negative log-likelihood per target element (including 0.5 log 2 pi),
  averaged over the partitions of :data:`BOOT_DEFINITION`; a clip's score is the mean over its
  patches (:mod:`asdlib.inference`). The section argument is ignored (one model per machine).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from asdlib.scales import FeatureSpec

BOOT_DEFINITION = (
    "ANP-Boot (our definition; the paper names the row but does not define it): bootstrap "
    "aggregation over context/target partitions. Training draws a new random partition for every "
    "patch (target: one whole frame at a uniformly random position; context: the other frames). "
    "At test time a patch's anomaly score is the Gaussian negative log-likelihood of its target "
    "values averaged over n_boot fixed partitions: the first takes the centre frame as target (the "
    "WASPAA/IDNN split), the others take the remaining frames in an order drawn once from a "
    "generator seeded with boot_seed; with n_boot equal to the patch length every frame is the "
    "target once (leave-one-frame-out). A clip's score is the mean over its patches."
)

PATCH_FRAMES = 5        # frames per patch (the IDNN's 5-frame window; our reading of the WASPAA ANP)
DIM = 32                # width of every representation
HEADS = 4               # cross-attention heads
MIN_VARIANCE = 1e-3     # floor of the predicted variance (standardised units)
LOG_2PI = math.log(2.0 * math.pi)

_MEL_FEATURES = FeatureSpec(n_fft=1024, hop=512, n_mels=128)   # the DCASE baselines' log-mel input
_MEL64_FEATURES = FeatureSpec(n_fft=1024, hop=512, n_mels=64)   # half the bands: a quarter of the attention cost

# Per scale: input features and TrainSettings overrides (applied by asdlib.systems.resolve_scale).
# paper: our reading of the WASPAA setting (128 mels, 5-frame patches, every patch scored; the
# optimiser settings are ours). quick and smoke (2 s clips, 63 frames) are sized
# for a 2-core CPU: quick trains and scores one machine in about 18 s of one CPU thread.
SETTINGS = {
    "smoke": {"features": _MEL64_FEATURES,
              "train": {"chunk_frames": PATCH_FRAMES, "batch_size": 64, "epochs": 2, "checkpoint_every": 1,
                        "lr": 1e-3, "lr_toycar": 1e-3, "embed_hop": 8, "chunks_per_clip": 4}},
    "quick": {"features": _MEL64_FEATURES,
              "train": {"chunk_frames": PATCH_FRAMES, "batch_size": 64, "epochs": 10, "checkpoint_every": 5,
                        "lr": 2e-3, "lr_toycar": 2e-3, "embed_hop": 6, "chunks_per_clip": 8}},
    "paper": {"features": _MEL_FEATURES,
              "train": {"chunk_frames": PATCH_FRAMES, "batch_size": 128, "epochs": 100, "checkpoint_every": 10,
                        "lr": 1e-3, "lr_toycar": 1e-3, "embed_hop": 1, "chunks_per_clip": 32}},
}


def patch_coordinates(n_frames: int, n_bins: int) -> torch.Tensor:
    """Coordinates of the elements of a (n_frames, n_bins) patch, row-major: (n_frames * n_bins, 2) long.

    Row ``t * n_bins + f`` is ``(t, f)``, so it indexes the patch flattened as ``x.reshape(B, -1)``.
    """
    t, f = torch.meshgrid(torch.arange(n_frames), torch.arange(n_bins), indexing="ij")
    return torch.stack([t.reshape(-1), f.reshape(-1)], dim=1)


def frame_partition(n_frames: int, n_bins: int, target_frame: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a patch into context and target elements: the target is frame ``target_frame``.

    Returns ``(context, target)``: long tensors of flat element indices (row-major, as
    :func:`patch_coordinates`), ``((n_frames - 1) * n_bins,)`` and ``(n_bins,)``, both ascending;
    together they hold every index once.
    """
    if not 0 <= target_frame < n_frames:
        raise ValueError(f"target frame {target_frame} is not in a {n_frames}-frame patch")
    flat = torch.arange(n_frames * n_bins).reshape(n_frames, n_bins)
    keep = torch.ones(n_frames, dtype=torch.bool)
    keep[target_frame] = False
    return flat[keep].reshape(-1), flat[target_frame]


def boot_frames(n_frames: int, n_boot: int, seed: int = 0) -> list[int]:
    """Target frames of the ``n_boot`` test-time partitions (:data:`BOOT_DEFINITION`).

    The centre frame ``n_frames // 2`` first, then the other frames in an order drawn from a
    generator seeded with ``seed``; ``n_boot`` in [1, n_frames].
    """
    if not 1 <= n_boot <= n_frames:
        raise ValueError(f"n_boot must be in [1, {n_frames}], got {n_boot}")
    centre = n_frames // 2
    others = [t for t in range(n_frames) if t != centre]
    order = torch.randperm(len(others), generator=torch.Generator().manual_seed(seed)).tolist()
    return [centre] + [others[i] for i in order][:n_boot - 1]


def gaussian_nll(y: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Elementwise Gaussian negative log-likelihood ``0.5 (log 2 pi var + (y - mean)^2 / var)`` (any shape)."""
    return 0.5 * (LOG_2PI + var.log() + (y - mean).square() / var)


class BandStandardiser(nn.Module):
    """Per-band standardisation with fixed statistics: ``(x - mean_f) / sqrt(var_f + eps)``.

    In training mode each call first folds the batch's band means and variances into a running
    (cumulative, equal-weight per batch) average, then standardises with it; in eval mode the
    averages are frozen. The statistics are buffers, so they are saved with the checkpoints.
    """

    def __init__(self, n_bins: int, eps: float = 1e-2):
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(n_bins))
        self.register_buffer("var", torch.ones(n_bins))
        self.register_buffer("batches", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., n_bins) -> standardised, same shape."""
        if self.training:
            with torch.no_grad():
                flat = x.detach().float().reshape(-1, x.shape[-1])
                n = self.batches.item() + 1
                self.mean.mul_((n - 1) / n).add_(flat.mean(0) / n)
                self.var.mul_((n - 1) / n).add_(flat.var(0, unbiased=False) / n)
                self.batches.add_(1)
        return (x - self.mean) / (self.var + self.eps).sqrt()


class AttentiveNeuralProcess(nn.Module):
    """ANP over the time-frequency elements of log-mel patches (module docstring, WASPAA 2021).

    Args:
        n_bins: mel bands per frame.
        chunk_frames: frames per patch (WASPAA/IDNN: 5).
        n_sections: sections of the machine; recorded only (the score ignores sections).
        dim: width of the representations; heads: cross-attention heads (``dim % heads == 0``).
        n_boot: test-time partitions averaged by :meth:`chunk_scores` (default: every frame).
        boot_seed: seed of the order of the test-time partitions (:func:`boot_frames`).
        seed: seed of the training-time partitions (drawn from ``(seed, training step)``, so a
            resumed run draws the same partitions as an uninterrupted one).

    Input ``x``: (B, 1, chunk_frames, n_bins) float32 log-mel patches, any memory format.
    """

    def __init__(self, n_bins: int = 128, chunk_frames: int = PATCH_FRAMES, n_sections: int = 1,
                 dim: int = DIM, heads: int = HEADS, n_boot: int | None = None, boot_seed: int = 0,
                 seed: int = 0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        if chunk_frames < 2:
            raise ValueError("a patch needs at least two frames (one context, one target)")
        self.n_bins, self.chunk_frames, self.n_sections = int(n_bins), int(chunk_frames), int(n_sections)
        self.dim, self.heads = int(dim), int(heads)
        self.n_boot = self.chunk_frames if n_boot is None else int(n_boot)
        self.boot_seed, self.seed = int(boot_seed), int(seed)
        self.boot = boot_frames(self.chunk_frames, self.n_boot, self.boot_seed)
        self.standardise = BandStandardiser(self.n_bins)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # training forward passes
        self.register_buffer("coords", patch_coordinates(self.chunk_frames, self.n_bins), persistent=False)
        # coordinate embeddings (a frame table + a band table) for values, queries/keys and the decoder
        self.value_t, self.value_f = nn.Embedding(chunk_frames, dim), nn.Embedding(n_bins, dim)
        self.query_t, self.query_f = nn.Embedding(chunk_frames, dim), nn.Embedding(n_bins, dim)
        self.key_t, self.key_f = nn.Embedding(chunk_frames, dim), nn.Embedding(n_bins, dim)
        self.decode_t, self.decode_f = nn.Embedding(chunk_frames, dim), nn.Embedding(n_bins, dim)
        self.relative_bias = nn.Parameter(torch.zeros(heads, 2 * chunk_frames - 1, 2 * n_bins - 1))
        self.value_in = nn.Linear(1, dim)
        self.value_out = nn.Linear(dim, dim)
        self.decode_attended = nn.Linear(dim, dim)
        self.decode_summary = nn.Linear(dim, dim, bias=False)
        self.decoder = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 2))

    # ---------------------------------------------------------------------------------------
    # Configuration
    # ---------------------------------------------------------------------------------------
    def describe(self) -> dict:
        """JSON-ready configuration (``"system": "anp"``), the Boot definition and the parameter count."""
        return {"system": "anp", "n_bins": self.n_bins, "chunk_frames": self.chunk_frames,
                "n_sections": self.n_sections, "dim": self.dim, "heads": self.heads, "n_boot": self.n_boot,
                "boot_seed": self.boot_seed, "seed": self.seed, "boot_frames": list(self.boot),
                "boot_definition": BOOT_DEFINITION,
                "n_parameters": sum(p.numel() for p in self.parameters() if p.requires_grad)}

    @classmethod
    def from_config(cls, cfg: dict) -> "AttentiveNeuralProcess":
        """Rebuild an untrained model from :meth:`describe` (extra keys ignored)."""
        keys = ("n_bins", "chunk_frames", "n_sections", "dim", "heads", "n_boot", "boot_seed", "seed")
        return cls(**{k: cfg[k] for k in keys if k in cfg})

    # ---------------------------------------------------------------------------------------
    # The neural process
    # ---------------------------------------------------------------------------------------
    def predict(self, context_pos: torch.Tensor, context_y: torch.Tensor,
                target_pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gaussian predictive distribution of the target values given the context set.

        Args:
            context_pos: (Nc, 2) long coordinates ``(t, f)`` of the context elements (shared by the batch).
            context_y: (B, Nc) standardised context values.
            target_pos: (Nt, 2) long coordinates of the target elements.

        Returns:
            ``(mean, var)``, each (B, Nt); ``var >= MIN_VARIANCE``. Invariant to any joint
            permutation of ``context_pos`` and the columns of ``context_y``.
        """
        batch, n_context = context_y.shape
        n_target, heads, width = len(target_pos), self.heads, self.dim // self.heads
        ct, cf = context_pos[:, 0], context_pos[:, 1]
        tt, tf = target_pos[:, 0], target_pos[:, 1]
        # encoder: r_i = MLP(y_i, coordinate_i), laid out (Nc, B, dim) so that each head's values
        # form one (Nc, B * width) matrix
        hidden = context_y.t().unsqueeze(-1) * self.value_in.weight[:, 0] + self.value_in.bias
        r = self.value_out(F.relu(hidden + (self.value_t(ct) + self.value_f(cf)).unsqueeze(1)))
        # cross-attention weights from the coordinates only (the ANP's queries and keys): (heads, Nt, Nc)
        q = (self.query_t(tt) + self.query_f(tf)).reshape(n_target, heads, width).transpose(0, 1)
        k = (self.key_t(ct) + self.key_f(cf)).reshape(n_context, heads, width).transpose(0, 1)
        bias = self.relative_bias[:, (tt[:, None] - ct[None, :]) + self.chunk_frames - 1,
                                  (tf[:, None] - cf[None, :]) + self.n_bins - 1]
        weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(width) + bias, dim=-1).to(r.dtype)
        # deterministic path: per head, weights (Nt, Nc) @ values (Nc, B * width)
        values = r.reshape(n_context, batch, heads, width).permute(2, 0, 1, 3).reshape(heads, n_context, -1)
        attended = (weights @ values).reshape(heads, n_target, batch, width)
        attended = attended.permute(1, 2, 0, 3).reshape(n_target, batch, self.dim)
        # decoder: first layer = W_a attended + W_s mean(r) (global path) + target coordinate embedding
        first = (self.decode_attended(attended) + self.decode_summary(r.mean(dim=0))
                 + (self.decode_t(tt) + self.decode_f(tf)).unsqueeze(1))
        out = self.decoder(F.relu(first))  # (Nt, B, 2)
        return out[..., 0].t(), (F.softplus(out[..., 1]) + MIN_VARIANCE).t()

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, chunk_frames, n_bins) -> standardised (B, chunk_frames * n_bins), row-major."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, self.chunk_frames, self.n_bins):
            raise ValueError(f"expected input (B, 1, {self.chunk_frames}, {self.n_bins}), got {tuple(x.shape)}")
        return self.standardise(x.reshape(len(x), self.chunk_frames, self.n_bins)).reshape(len(x), -1)

    def _partition_outputs(self, y: torch.Tensor, frame: int) -> dict[str, torch.Tensor]:
        """Prediction of frame ``frame`` of standardised patches ``y`` (B, T * F) from the other frames."""
        context, target = (i.to(y.device) for i in frame_partition(self.chunk_frames, self.n_bins, frame))
        mean, var = self.predict(self.coords[context], y[:, context], self.coords[target])
        return {"mean": mean, "var": var, "target": y[:, target]}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predict the target region of each patch.

        Training mode: each patch gets a random target frame (drawn from ``(seed, steps)``);
        eval mode: the first Boot partition (the centre frame).

        Returns ``mean``, ``var``, ``target`` (standardised target values), each (B, n_bins).
        """
        y = self._patches(x)
        if not self.training:
            return self._partition_outputs(y, self.boot[0])
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.steps.item()))
        frames = torch.randint(self.chunk_frames, (len(y),), generator=generator).to(y.device)
        self.steps.add_(1)
        out = {key: y.new_empty(len(y), self.n_bins) for key in ("mean", "var", "target")}
        for frame in frames.unique().tolist():
            rows = (frames == frame).nonzero().squeeze(1)
            for key, value in self._partition_outputs(y[rows], frame).items():
                out[key] = out[key].index_copy(0, rows, value.to(out[key].dtype))
        return out

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean Gaussian negative log-likelihood per target element; ``batch`` (labels) is not used.

        Returns ``(loss, {"nll", "mse"})`` (mse: squared error of the predicted means, standardised units).
        """
        nll = gaussian_nll(outputs["target"], outputs["mean"], outputs["var"]).mean()
        mse = (outputs["target"] - outputs["mean"]).square().mean()
        return nll, {"nll": float(nll.detach()), "mse": float(mse.detach())}

    def partition_nll(self, x: torch.Tensor, frames: list[int]) -> torch.Tensor:
        """Mean Gaussian NLL per target element of each patch, one row per partition: (len(frames), B).

        Partition ``j`` takes frame ``frames[j]`` as target and the other frames as context
        (standardised units). Call in eval mode (the standardisation updates in training mode).
        """
        y = self._patches(x)
        rows = []
        for frame in frames:
            out = self._partition_outputs(y, frame)
            rows.append(gaussian_nll(out["target"].float(), out["mean"].float(), out["var"].float()).mean(dim=1))
        return torch.stack(rows)

    def chunk_scores(self, x: torch.Tensor, section: torch.Tensor | None = None) -> torch.Tensor:
        """Anomaly score of each patch (higher = more anomalous): (B, 1, T, F) -> (B,).

        The ANP-Boot score (:data:`BOOT_DEFINITION`): the target-element NLL averaged over the
        ``n_boot`` partitions of :attr:`boot`. ``section`` is ignored. Call in eval mode.
        """
        return self.partition_nll(x, self.boot).mean(dim=0)
