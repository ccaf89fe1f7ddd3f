"""One synthetic clip: what it is (:class:`ClipSpec`) and how its audio is made (:func:`render`).

Audio = gain x transfer(source + background at the clip's SNR), quantised to 16-bit PCM, where the
source is the machine model of ``asdlib.synth.sources`` with the section's base parameters (one
unit of its machine type's product: :func:`section_base`), the background follows ``asdlib.synth.noise`` and the transfer ``asdlib.synth.channel``
(the design: :mod:`asdlib.synth`). Every random draw comes from a stream named by
(seed, machine, section, split, domain, label, index), so a clip's bytes do not depend on any other clip.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from asdlib.names import format_clip_name
from asdlib.synth import channel, noise, signals
from asdlib.synth.anomalies import Fault, draw_fault
from asdlib.synth.seeds import stream
from asdlib.synth.sources import MODELS, Context

SAMPLE_RATE = signals.SAMPLE_RATE


@dataclass(frozen=True)
class ClipSpec:
    """Identity of one clip: its labelled name fields; ``attributes`` in file-name order.

    ``model``: the DCASE 2022 machine type whose physics renders it (``None``: ``machine`` itself; a
    later year's new machine names one, :mod:`asdlib.synth.years`); ``year``: the layout its name is
    written in; ``hidden``: its attributes shape its sound but its name says ``noAttribute``.
    """

    machine: str
    section: str
    split: str
    domain: str
    label: str
    index: int
    attributes: dict[str, str] = field(hash=False)
    model: str | None = None
    year: int = 2022
    hidden: bool = False

    @property
    def physics(self) -> str:
        """The DCASE 2022 machine type whose source model, faults and difficulty render this clip."""
        return self.model or self.machine

    @property
    def unit(self) -> str:
        """What the clip's random streams are named by in place of the machine: the machine for 2022,
        ``<year>/<machine>`` for a later year (its recordings are other units than 2022's)."""
        return self.machine if self.year == 2022 else f"{self.year}/{self.machine}"

    @property
    def labelled_name(self) -> str:
        """The clip's full name, e.g. ``section_00_source_train_normal_0000_m-n_W.wav``
        (``..._0000_noAttribute.wav`` for a hidden clip of a later year)."""
        return format_clip_name(self.section, self.domain, self.split, self.label, self.index,
                                {} if self.hidden else self.attributes, year=self.year)

    @property
    def full_name(self) -> str:
        """The name with its attributes even when hidden (the evaluator's attribute files give it)."""
        return format_clip_name(self.section, self.domain, self.split, self.label, self.index, self.attributes,
                                year=self.year)

    def stream_keys(self) -> tuple:
        """The stream keys of this clip (what its randomness is named by)."""
        return (self.unit, self.section, self.split, self.domain, self.label, self.index)


# A section is one unit of its machine type's product: the type's base parameters, each continuous
# one scaled by exp(N(0, UNIT_SD)), about four times the clips' own speed jitter (1.2 %). Settings that
# attributes override (mains frequency, default voltage, load, speed, pattern) and counts (blades,
# teeth, balls, poles) are the product's, shared by every unit.
UNIT_SD = 0.05
SETTINGS = frozenset({"mains", "volt", "wt", "vel", "ac", "pat"})


def unit_of(base: dict, rng: np.random.Generator, sd: float = UNIT_SD) -> dict:
    """One unit of the product ``base``: every float parameter not in :data:`SETTINGS` times
    exp(N(0, sd)) (nested parameter sets, e.g. a valve's two solenoids, likewise)."""
    out = {}
    for key, value in base.items():
        if isinstance(value, dict):
            out[key] = unit_of(value, rng, sd)
        elif isinstance(value, float) and key not in SETTINGS:
            out[key] = value * float(np.exp(rng.normal(0.0, sd)))
        else:
            out[key] = value
    return out


def section_base(seed: int, machine: str, section: str, physics: str | None = None) -> dict:
    """The base parameters of a machine section: the product of ``physics`` (the 2022 type; default
    ``machine``), seeded by ``machine``, as one unit (seeded by section), see :func:`unit_of`."""
    base_of, _ = MODELS[physics or machine]
    return unit_of(base_of(stream(seed, "base", machine)), stream(seed, "unit", machine, section))


def machine_level(seed: int, machine: str) -> float:
    """Output gain of a machine type's recordings, 0.04-0.08 of full scale per unit source RMS (the
    same set-up for every section)."""
    return float(stream(seed, "level", machine).uniform(0.04, 0.08))


def fault_of(spec: ClipSpec, seed: int, strength: float) -> Fault | None:
    """The fault of an anomalous clip (type, severity, knob), None for a normal clip."""
    if spec.label != "anomaly":
        return None
    return draw_fault(spec.physics, stream(seed, "fault", *spec.stream_keys()), strength)


def render(spec: ClipSpec, seed: int, strength: float, seconds: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The audio of one clip as int16 samples, shape ``(round(seconds * sr),)``.

    Args:
        spec: which clip.
        seed: the data set's seed.
        strength: global anomaly strength (0: anomalous clips are statistically normal clips).
        seconds: clip length.
        sr: sample rate (16 kHz in DCASE 2022).
    """
    return audio(spec, seed, fault_of(spec, seed, strength), seconds, sr)


def audio(spec: ClipSpec, seed: int, fault: Fault | None, seconds: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Like :func:`render` but with a given ``fault`` (None: the clip as a normal clip), int16 ``(n,)``.

    A supplemental clip (DCASE 2025, ``split`` "supplemental") holds one part of that mix: the machine
    alone (``domain`` "source" or "target") or the background alone at its level in the mix ("noise")."""
    n = int(round(seconds * sr))
    model = MODELS[spec.physics][1]
    base = section_base(seed, spec.unit, spec.section, spec.physics)
    rng = stream(seed, "clip", *spec.stream_keys())
    ctx = Context(rng=rng, n=n, sr=sr, fault=fault,
                  lookup=lambda key, value: stream(seed, "value", spec.unit, key, value))
    source = model(base, spec.attributes, ctx)
    background, snr_db = noise.clip_noise(seed, spec.unit, spec.attributes)
    bed = noise.render_noise(background, rng, n, sr)
    snr_db += rng.normal(0.0, 0.5)
    background = bed * signals.rms(source) * 10 ** (-snr_db / 20)
    if spec.split != "supplemental":
        mix = source + background
    else:
        mix = background if spec.domain == "noise" else source
    mix = channel.apply(mix, channel.clip_transfers(seed, spec.unit, spec.attributes), sr)
    gain = machine_level(seed, spec.unit) * (1 + float(np.clip(rng.normal(0, 0.015), -0.04, 0.04)))
    return np.clip(np.round(mix * gain * 32767), -32768, 32767).astype(np.int16)
