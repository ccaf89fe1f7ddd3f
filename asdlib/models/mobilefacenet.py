"""The neural model of the paper: a MobileFaceNet trunk (Sec. 3.2, Table 1) and the heads of each system.

Systems (Sec. 2, 3.3-3.5), chosen by name in :func:`build_model`; the embedding spaces are the keys of
``model.embeddings(x)``:

- ``sec_softmax``: ``section`` (128); section softmax classifier reads it (Eq. 2).
- ``sec_arcface``: ``section`` (128); section ArcFace classifier (s = 32, m = 0.5) reads it.
- ``mtl``: ``mtl`` (256, entangled); the section and every attribute classifier read it.
- ``disent``: ``section`` z_S (128) and ``attribute`` z_A (128), z = [z_S, z_A] (Eq. 1); the section
  classifier reads z_S (Eq. 2), every attribute classifier reads z_A (Eq. 3).
- ``disent_split``: ``section`` (128) and one ``attr:<key>`` space (128 each) per attribute key, the
  paper's valve variant; the classifier of ``key`` reads ``attr:<key>`` only.
- ``adversarial`` (our definition; the paper gives only the name): ``section`` (128) with the section
  classifier, plus an adversary that predicts the clip's domain-shift attribute value *within the
  clip's section*, reading the section embedding through gradient reversal whose strength ramps up
  over training (the DANN schedule; :meth:`ASDModel.set_training_progress`).

The embedding layer is one linear map of the 512-d GDConv output to the concatenation of all spaces
(followed by batch norm), split into the named spaces; so ``mtl`` and ``disent`` share the same trunk
and embedding layer and differ only in which slice each classifier reads. Embeddings are returned
before any normalisation (scoring normalises).

Input: one chunk of the magnitude spectrogram, (B, 1, chunk_frames, n_bins) float32 (paper: 32
frames, 1025 bins). Works with ``torch.channels_last``.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from asdlib.losses import ArcFace, GradientReversal, masked_cross_entropy
from asdlib.systems import EMBEDDING_SYSTEMS as SYSTEMS

SECTION_DIM = 128      # z_S
ATTRIBUTE_DIM = 128    # z_A, and each per-key space of ``disent_split``
MTL_DIM = 256          # the entangled MTL space
TRUNK_DIM = 512        # channels of the last 1x1 conv and of the GDConv output (Table 1)
ARCFACE_SCALE = 32.0
ARCFACE_MARGIN = 0.5
ADVERSARY_HIDDEN = 256  # the adversary is a one-hidden-layer MLP, as DANN's domain classifier

# Table 1 inverted-residual groups: (expansion t, output channels c, repeats n, stride s of the first block)
BOTTLENECKS = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 2), (4, 128, 1, 2), (2, 128, 2, 1))
# The original MobileFaceNet (Chen et al., 2018) has stride 1 in the third group; kept for comparison.
# Trainable parameters at (32, 1025) input (trunk to GDConv + BN / + 128-d embedding / + 256-d embedding):
#   BOTTLENECKS           928,000 / 993,792 / 1,059,584  (GDConv kernel 1 x 33)
#   BOTTLENECKS_ORIGINAL  977,664 / 1,043,456 / 1,109,248 (GDConv kernel 2 x 65)
# These counts are ours, measured from Table 1; neither the paper nor its poster states a parameter count.
BOTTLENECKS_ORIGINAL = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))

_CONFIG_KEYS = ("system", "n_bins", "n_sections", "attribute_classes", "shift_sections",
                "chunk_frames", "grl_lambda", "width")


def _conv_bn(c_in: int, c_out: int, kernel, stride: int = 1, groups: int = 1,
             linear: bool = False) -> nn.Sequential:
    """Conv (no bias) + batch norm, + per-channel PReLU unless ``linear``. 3x3 kernels pad by 1."""
    padding = 1 if kernel == 3 else 0
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False),
              nn.BatchNorm2d(c_out)]
    if not linear:
        layers.append(nn.PReLU(c_out))
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """Inverted residual block (Table 1): 1x1 expand (x t), 3x3 depthwise (stride s), linear 1x1 project.

    The residual connection is used when the stride is 1 and the channel count is unchanged.
    (B, c_in, H, W) -> (B, c_out, ceil(H / s), ceil(W / s)).
    """

    def __init__(self, c_in: int, c_out: int, expansion: int, stride: int):
        super().__init__()
        hidden = c_in * expansion
        self.residual = stride == 1 and c_in == c_out
        self.body = nn.Sequential(
            _conv_bn(c_in, hidden, 1),
            _conv_bn(hidden, hidden, 3, stride, groups=hidden),
            _conv_bn(hidden, c_out, 1, linear=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


def scaled_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded to a multiple of 8 (at least 8), as width multipliers usually are."""
    return max(8, int(round(channels * width / 8)) * 8)


def feature_map_size(chunk_frames: int, n_bins: int, bottlenecks=BOTTLENECKS) -> tuple[int, int]:
    """(time, frequency) size of the map entering the GDConv, for a (chunk_frames, n_bins) input.

    Each stride-2 3x3 conv with padding 1 maps a size n to ceil(n / 2): the first conv and the
    first block of every group with s = 2 halve both axes. Paper (32, 1025) -> (1, 33).
    """
    halvings = 1 + sum(1 for *_, s in bottlenecks if s == 2)
    t, f = chunk_frames, n_bins
    for _ in range(halvings):
        t, f = math.ceil(t / 2), math.ceil(f / 2)
    return t, f


class MobileFaceNet(nn.Module):
    """MobileFaceNet trunk of Table 1 up to the linear GDConv: (B, 1, T, F) -> (B, 512).

    conv 3x3/64 s2 -> depthwise 3x3/64 -> bottleneck groups ``bottlenecks`` -> conv 1x1/512 ->
    linear global depthwise conv whose kernel is the whole remaining (t, f) map -> batch norm.
    PReLU follows every conv except the projection 1x1 of each bottleneck and the GDConv.

    Args:
        chunk_frames: T, frames per input chunk (paper: 32).
        n_bins: F, frequency bins (paper: 1025).
        bottlenecks: the (t, c, n, s) groups; default the paper's Table 1 (:data:`BOTTLENECKS`).
        width: multiplies the channels of the convolutions before the last 1x1 conv (1.0: Table 1;
            the 512-d output stays). A reduced-scale setting (a CPU build), never the paper's.
    """

    def __init__(self, chunk_frames: int, n_bins: int, bottlenecks=BOTTLENECKS, width: float = 1.0):
        super().__init__()
        self.map_size = feature_map_size(chunk_frames, n_bins, bottlenecks)
        first = scaled_channels(64, width)
        layers = [_conv_bn(1, first, 3, 2), _conv_bn(first, first, 3, 1, groups=first)]
        c_in = first
        for t, c, n, s in bottlenecks:
            c = scaled_channels(c, width)
            for i in range(n):
                layers.append(Bottleneck(c_in, c, t, s if i == 0 else 1))
                c_in = c
        layers.append(_conv_bn(c_in, TRUNK_DIM, 1))
        layers.append(_conv_bn(TRUNK_DIM, TRUNK_DIM, self.map_size, groups=TRUNK_DIM, linear=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).flatten(1)


class ASDModel(nn.Module):
    """MobileFaceNet + embedding spaces + classifiers of one system (see the module docstring).

    Build it with :func:`build_model` or :meth:`from_config`. The ``adversarial`` system is not
    defined by the paper beyond its name; here it is domain-adversarial training as usually done
    (Ganin & Lempitsky, 2015): a 128-d section embedding with the section softmax classifier, plus
    a linear adversary over the (section, domain-shift value) classes, ``shift_sections[c]`` being
    the section of class ``c``. The adversary's softmax runs over the classes of the clip's own
    section only, so it predicts the domain-shift value *given* the section: the reversed gradient
    then removes the value from the section embedding without removing the section, which the
    section loss must keep. The reversal strength follows the DANN schedule
    ``grl_lambda * (2 / (1 + exp(-10 p)) - 1)``, ``p`` the training progress in [0, 1] (set by
    :meth:`set_training_progress`; 0 at the start, so the adversary first learns unopposed).

    Attributes:
        spaces: ordered {space name: dim}; the keys of :meth:`embeddings`.
        attribute_keys: the attribute keys, in the column order of ``batch["attributes"]``.
    """

    def __init__(self, system: str, n_bins: int, n_sections: int, attribute_classes: dict[str, int],
                 shift_sections=(), chunk_frames: int = 32, grl_lambda: float = 1.0, width: float = 1.0):
        super().__init__()
        if system not in SYSTEMS:
            raise ValueError(f"unknown system {system!r}; choose one of {SYSTEMS}")
        if n_sections < 1:
            raise ValueError(f"n_sections must be at least 1, got {n_sections}")
        attribute_classes = {str(k): int(v) for k, v in attribute_classes.items()}
        if system in ("mtl", "disent", "disent_split"):
            if not attribute_classes:
                raise ValueError(f"system {system!r} needs at least one attribute key")
            bad = {k: v for k, v in attribute_classes.items() if v < 1}
            if bad:
                raise ValueError(f"attribute keys need at least one class: {bad}")
        shift_sections = tuple(int(s) for s in shift_sections)
        if system == "adversarial" and len(shift_sections) < 2:
            raise ValueError(f"system 'adversarial' needs at least 2 domain-shift classes (shift_sections), "
                             f"got {len(shift_sections)}")
        if any(not 0 <= s < n_sections for s in shift_sections):
            raise ValueError(f"shift_sections must name sections in [0, {n_sections}), got {shift_sections}")
        self.config = {"system": system, "n_bins": int(n_bins), "n_sections": int(n_sections),
                       "attribute_classes": attribute_classes, "shift_sections": list(shift_sections),
                       "chunk_frames": int(chunk_frames), "grl_lambda": float(grl_lambda), "width": float(width)}
        self.system = system
        self.input_size = (int(chunk_frames), int(n_bins))
        self.trunk = MobileFaceNet(chunk_frames, n_bins, width=width)

        uses_attributes = system in ("mtl", "disent", "disent_split")
        self.attribute_keys = tuple(attribute_classes) if uses_attributes else ()
        if system == "mtl":
            self.spaces = {"mtl": MTL_DIM}
            section_space, attribute_spaces = "mtl", ["mtl"] * len(self.attribute_keys)
        elif system == "disent":
            self.spaces = {"section": SECTION_DIM, "attribute": ATTRIBUTE_DIM}
            section_space, attribute_spaces = "section", ["attribute"] * len(self.attribute_keys)
        elif system == "disent_split":
            attribute_spaces = [f"attr:{key}" for key in self.attribute_keys]
            self.spaces = {"section": SECTION_DIM, **{name: ATTRIBUTE_DIM for name in attribute_spaces}}
            section_space = "section"
        else:
            self.spaces = {"section": SECTION_DIM}
            section_space, attribute_spaces = "section", []
        self._section_space = section_space
        self._attribute_spaces = tuple(attribute_spaces)

        total = sum(self.spaces.values())
        self.embedding = nn.Sequential(nn.Linear(TRUNK_DIM, total, bias=False), nn.BatchNorm1d(total))
        section_dim = self.spaces[section_space]
        if system == "sec_arcface":
            self.section_head = ArcFace(section_dim, n_sections, ARCFACE_SCALE, ARCFACE_MARGIN)
        else:
            self.section_head = nn.Linear(section_dim, n_sections)
        self.attribute_heads = nn.ModuleList(
            nn.Linear(self.spaces[space], attribute_classes[key])
            for key, space in zip(self.attribute_keys, self._attribute_spaces))
        if system == "adversarial":
            self.grl_max = float(grl_lambda)
            self.shift_head = nn.Sequential(GradientReversal(0.0), nn.Linear(SECTION_DIM, ADVERSARY_HIDDEN), nn.ReLU(),
                                            nn.Linear(ADVERSARY_HIDDEN, len(shift_sections)))
            self.register_buffer("shift_section", torch.tensor(shift_sections, dtype=torch.long), persistent=False)

    @classmethod
    def from_config(cls, cfg: dict) -> "ASDModel":
        """Rebuild an untrained model from :attr:`config` or :meth:`describe` (extra keys ignored)."""
        return build_model(**{k: cfg[k] for k in _CONFIG_KEYS if k in cfg})

    def describe(self) -> dict:
        """JSON-ready summary for saving with a run: :attr:`config` plus sizes and parameter counts."""
        return {**self.config,
                "embedding_dims": dict(self.spaces),
                "feature_map": list(self.trunk.map_size),
                "n_parameters_trunk": count_parameters(self.trunk),
                "n_parameters_embedding": count_parameters(self.trunk) + count_parameters(self.embedding),
                "n_parameters": count_parameters(self)}

    def set_training_progress(self, progress: float) -> float:
        """Set the gradient-reversal strength for training progress ``progress`` in [0, 1] (DANN
        schedule, ``adversarial`` only; a no-op returning 0 for the other systems). Returns it."""
        if self.system != "adversarial":
            return 0.0
        p = min(max(float(progress), 0.0), 1.0)
        self.shift_head[0].lambda_ = self.grl_max * (2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0)
        return self.shift_head[0].lambda_

    def embeddings(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 1, chunk_frames, n_bins) -> {space name: (B, dim)}, unnormalised (names: :attr:`spaces`)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, *self.input_size):
            raise ValueError(f"expected input (B, 1, {self.input_size[0]}, {self.input_size[1]}), "
                             f"got {tuple(x.shape)}")
        z = self.embedding(self.trunk(x))
        return dict(zip(self.spaces, torch.split(z, list(self.spaces.values()), dim=1)))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 1, chunk_frames, n_bins) -> one flat dict of tensors (flat, so callers can cast each value).

        ``emb:<space>`` (B, dim) for every space of :attr:`spaces` (as :meth:`embeddings` names them);
        ``logits:section`` (B, n_sections) (for ``sec_arcface``: ``32 * cos``, no margin);
        ``logits:attr:<key>`` (B, n_classes of key) for each attribute key of ``mtl``/``disent``/
        ``disent_split``; ``logits:shift`` (B, n_shift_classes) for ``adversarial`` (every class;
        :meth:`loss` restricts each clip's softmax to its own section's classes).
        """
        emb = self.embeddings(x)
        out = {f"emb:{name}": z for name, z in emb.items()}
        out["logits:section"] = self.section_head(emb[self._section_space])
        for key, space, head in zip(self.attribute_keys, self._attribute_spaces, self.attribute_heads):
            out[f"logits:attr:{key}"] = head(emb[space])
        if self.system == "adversarial":
            out["logits:shift"] = self.shift_head(emb["section"])
        return out

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss of the system (Eq. 2 + Eq. 3) and progress-bar statistics.

        Args:
            outputs: what :meth:`forward` returned for the batch (any float dtype: the losses are
                computed in float32, so a forward pass under autocast is fine).
            batch: ``section`` (B,) long in [0, n_sections); ``attributes`` (B, K) long, K the number
                of attribute keys in ``attribute_classes`` order, -1 where a clip lacks the key
                (read by ``mtl``/``disent``/``disent_split``); ``shift`` (B,) long, -1 when missing
                (read by ``adversarial``). Other entries are ignored.

        Returns:
            ``(loss, stats)``. loss = mean section cross-entropy over the batch (ArcFace logits with
            margin for ``sec_arcface``) + Eq. (3): per clip, the sum of the cross-entropies of the
            attribute keys that clip carries, averaged over all clips of the batch
            (:func:`asdlib.losses.masked_cross_entropy`; a clip lacking a key adds no loss and no
            gradient for it, a key no clip carries adds an exact 0), + for ``adversarial`` the same
            masked cross-entropy of the adversary, its softmax over the clip's own section's
            domain-shift values. stats: floats ``loss``, ``section_loss``, ``section_acc``, and
            ``attribute_loss``, ``attribute_acc`` (pooled over all carried labels of all keys) or
            ``shift_loss``, ``shift_acc`` (the adversary's; its chance level is the prior of the values
            in each section, :func:`asdlib.data.domain_shift_prior`) and ``grl_lambda``; an accuracy is
            NaN when the batch carries no such label.
        """
        logits = {k[len("logits:"):]: v.float() for k, v in outputs.items() if k.startswith("logits:")}
        section = batch["section"]
        if self.system == "sec_arcface":  # the margin needs the labels: recompute the logits with them
            margin_logits = self.section_head(outputs["emb:section"].float(), section)
            section_loss = F.cross_entropy(margin_logits, section)
        else:
            section_loss = F.cross_entropy(logits["section"], section)
        stats = {"section_loss": section_loss.item(),
                 "section_acc": (logits["section"].argmax(1) == section).float().mean().item()}
        loss = section_loss
        if self.attribute_keys:
            labels = batch["attributes"]
            if labels.ndim != 2 or labels.shape[1] != len(self.attribute_keys):
                raise ValueError(f"batch['attributes'] must be (B, {len(self.attribute_keys)}) for keys "
                                 f"{self.attribute_keys}, got {tuple(labels.shape)}")
            attribute_loss = torch.stack([masked_cross_entropy(logits[f"attr:{key}"], labels[:, i])
                                          for i, key in enumerate(self.attribute_keys)]).sum()
            counts = [_masked_hits(logits[f"attr:{key}"], labels[:, i])
                      for i, key in enumerate(self.attribute_keys)]
            loss = loss + attribute_loss
            stats["attribute_loss"] = attribute_loss.item()
            stats["attribute_acc"] = _ratio(sum(c for c, _ in counts), sum(n for _, n in counts))
        if self.system == "adversarial":
            own = self.shift_section[None, :] == section[:, None]          # (B, C): classes of the clip's section
            shift_logits = logits["shift"].masked_fill(~own, -1e9)
            shift = batch["shift"]
            shift_loss = masked_cross_entropy(shift_logits, shift)
            loss = loss + shift_loss
            carried = int((shift >= 0).sum())
            stats["shift_loss"] = shift_loss.item() * len(shift) / max(carried, 1)  # per clip carrying a value
            stats["shift_acc"] = _ratio(*_masked_hits(shift_logits, shift))
            stats["grl_lambda"] = self.shift_head[0].lambda_
        stats["loss"] = loss.item()
        return loss, stats


def _masked_hits(logits: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """(B, C) logits, (B,) labels with -1 for missing -> (correct arg-max among carried, carried)."""
    carried = labels >= 0
    return int(((logits.argmax(1) == labels) & carried).sum()), int(carried.sum())


def _ratio(correct: int, carried: int) -> float:
    return correct / carried if carried else float("nan")


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (batch-norm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def build_model(system: str, n_bins: int, n_sections: int, attribute_classes: dict[str, int],
                shift_sections=(), chunk_frames: int = 32, grl_lambda: float = 1.0,
                width: float = 1.0) -> ASDModel:
    """The model of one system (Sec. 2, 3.2-3.5) for input chunks (B, 1, chunk_frames, n_bins).

    Args:
        system: one of :data:`SYSTEMS`.
        n_bins: frequency bins of the spectrogram (e.g. 65, 129, 257, 1025).
        n_sections: number of section classes (per machine: 6 when dev and eval sections are pooled).
        attribute_classes: {attribute key: number of values}, in the column order of
            ``batch["attributes"]``; read by ``mtl``, ``disent``, ``disent_split``.
        shift_sections: the section index of each (section, domain-shift value) class of the
            adversary (``adversarial`` only; :attr:`asdlib.data.AttributeVocab.shift_values`).
        chunk_frames: frames per chunk (paper: 32).
        grl_lambda: gradient-reversal strength (``adversarial`` only).
        width: the trunk's channel multiplier (1.0: Table 1; :class:`MobileFaceNet`).
    """
    return ASDModel(system, n_bins, n_sections, attribute_classes, shift_sections, chunk_frames, grl_lambda, width)
