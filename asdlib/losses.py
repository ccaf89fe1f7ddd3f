"""Losses of the surrogate tasks (Sec. 3.2-3.5): ArcFace, masked cross-entropy, gradient reversal.

Imports torch; import this module only where a model is trained or run.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One attribute key's term of Eq. (3), averaged over the batch: clips lacking the key add nothing.

    The paper sums, per clip, the cross-entropies of the attributes that clip carries ("if an
    attribute is unknown for an audio example, the corresponding term in the sum of (3) is
    ignored"), and the batch loss is the mean over clips. Summing this function over the keys gives
    exactly that: ``(1/B) sum_i sum_{k carried by i} CE_k(i)``. A rare key therefore weighs as
    much per clip carrying it as a common one (not more, as a per-key mean over only the clips
    carrying it would make it).

    Args:
        logits: (B, C) float, unnormalised class scores.
        labels: (B,) long, class index in [0, C), or -1 where the clip does not carry the label.

    Returns:
        A scalar: the sum of the cross-entropies of the clips with ``labels >= 0``, divided by B
        (all clips of the batch). Clips with -1 contribute neither loss nor gradient. When no clip
        carries a label the result is an exact 0 that still depends on ``logits`` (so ``backward``
        works and yields zero gradients), never NaN.
    """
    total = F.cross_entropy(logits, labels, ignore_index=-1, reduction="sum")
    return total / max(len(labels), 1)


class ArcFace(nn.Module):
    """Additive angular margin classifier (ArcFace, Deng et al. 2019; the paper uses scale 32, margin 0.5).

    The logit of class ``c`` is ``scale * cos(theta_c)``, ``theta_c`` the angle between the
    L2-normalised embedding and the L2-normalised class weight ``W_c``. Given labels, the target
    class's logit becomes ``scale * cos(theta_y + margin)``. Since ``cos(theta + m)`` stops
    decreasing once ``theta + m > pi``, the usual threshold handling applies:

    * ``easy_margin=False`` (default): where ``theta_y > pi - m`` (i.e. ``cos theta_y <= cos(pi - m)``)
      the target logit is ``scale * (cos theta_y - m * sin(pi - m))`` instead, a linear continuation
      that keeps the target logit decreasing in ``theta_y``.
    * ``easy_margin=True``: the margin is applied only where ``cos theta_y > 0`` (``theta_y < pi/2``);
      elsewhere the target logit is the plain ``scale * cos theta_y``.

    Args:
        in_dim: embedding size D.
        n_classes: number of classes C.
        scale: the logit scale s.
        margin: the angular margin m in radians.
        easy_margin: see above.
    """

    def __init__(self, in_dim: int, n_classes: int, scale: float = 32.0, margin: float = 0.5,
                 easy_margin: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, in_dim))
        nn.init.xavier_uniform_(self.weight)
        self.scale = float(scale)
        self.margin = float(margin)
        self.easy_margin = bool(easy_margin)

    def cosine(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, D) embeddings -> (B, C) cosine similarities to the class weights."""
        return F.linear(F.normalize(embedding, dim=1), F.normalize(self.weight, dim=1))

    def forward(self, embedding: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D) embeddings -> (B, C) logits.

        Without ``labels``: ``scale * cos`` (what inference and accuracy use). With ``labels``
        ((B,) long; -1 leaves a row without margin): the target-class logit carries the margin.
        """
        cos = self.cosine(embedding)
        if labels is None:
            return self.scale * cos
        sin = (1.0 - cos * cos).clamp_min(1e-9).sqrt()
        with_margin = cos * math.cos(self.margin) - sin * math.sin(self.margin)
        if self.easy_margin:
            with_margin = torch.where(cos > 0, with_margin, cos)
        else:
            threshold = math.cos(math.pi - self.margin)
            fallback = cos - self.margin * math.sin(math.pi - self.margin)
            with_margin = torch.where(cos > threshold, with_margin, fallback)
        target = F.one_hot(labels.clamp_min(0), cos.shape[1]).bool() & (labels >= 0).unsqueeze(1)
        return self.scale * torch.where(target, with_margin, cos)

    def extra_repr(self) -> str:
        return (f"in_dim={self.weight.shape[1]}, n_classes={self.weight.shape[0]}, scale={self.scale}, "
                f"margin={self.margin}, easy_margin={self.easy_margin}")


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by ``-lambda``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambda_: float) -> torch.Tensor:
        ctx.lambda_ = lambda_
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lambda_ * grad, None


def reverse_gradient(x: torch.Tensor, lambda_: float = 1.0) -> torch.Tensor:
    """Gradient reversal (Ganin & Lempitsky, 2015): ``x`` unchanged forward, gradient times ``-lambda_``."""
    return _ReverseGradient.apply(x, float(lambda_))


class GradientReversal(nn.Module):
    """Module form of :func:`reverse_gradient`; used by the ``adversarial`` system (``asdlib.models.mobilefacenet``).

    Args:
        lambda_: the reversal strength; the gradient reaching the input is ``-lambda_`` times the
            gradient leaving the output.
    """

    def __init__(self, lambda_: float = 1.0):
        super().__init__()
        self.lambda_ = float(lambda_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Any-shape tensor in, the same tensor out (only its gradient is reversed)."""
        return reverse_gradient(x, self.lambda_)

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_}"
