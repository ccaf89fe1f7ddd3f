"""Factory noise and interfering machines (the design: :mod:`asdlib.synth`).

A noise model is coloured noise 1/f^b (b 0.5-1.8) plus a few steady tones and random clanks, and for
machine noise (fan ``m-n``) the harmonic hum of another machine. Which model a clip gets, and at
what SNR, follows its attributes:

* ``f-n``, ``m-n``, ``noise``: the value picks a model seeded by (seed, machine, key, value), mixed at
  that value's SNR (3-9 dB);
* ``n-lv`` L1..L4: the machine type's own model (its plant, shared by its sections) at 9/6/3/0 dB;
* otherwise: the machine type's own model at its SNR (6-12 dB).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asdlib.synth import signals
from asdlib.synth.seeds import stream

NOISE_KEYS = ("f-n", "m-n", "noise")
LEVEL_SNR_DB = {"L1": 9.0, "L2": 6.0, "L3": 3.0, "L4": 0.0}


@dataclass(frozen=True)
class NoiseModel:
    """A kind of background: colour, tones (Hz, level re the bed), clanks, optional machine hum."""

    exponent: float
    tone_hz: tuple[float, ...]
    tone_level: tuple[float, ...]
    clank_rate: float
    clank_hz: float
    clank_decay_s: float
    clank_level: float
    hum_hz: float = 0.0
    hum_level: float = 0.0
    snr_db: float = 6.0


def draw_noise(rng: np.random.Generator, machine_noise: bool = False, snr_range=(3.0, 9.0)) -> NoiseModel:
    """A random noise model; ``machine_noise`` adds another machine's hum (50-180 Hz, 8 harmonics)."""
    k = int(rng.integers(1, 4))
    return NoiseModel(
        exponent=float(rng.uniform(0.5, 1.8)),
        tone_hz=tuple(np.exp(rng.uniform(np.log(60), np.log(4000), k))),
        tone_level=tuple(rng.uniform(0.05, 0.3, k)),
        clank_rate=float(rng.uniform(0.3, 3.0)), clank_hz=float(rng.uniform(600, 5000)),
        clank_decay_s=float(rng.uniform(0.005, 0.04)), clank_level=float(rng.uniform(1.0, 4.0)),
        hum_hz=float(rng.uniform(50, 180)) if machine_noise else 0.0,
        hum_level=float(rng.uniform(0.8, 1.5)) if machine_noise else 0.0,
        snr_db=float(rng.uniform(*snr_range)))


def clip_noise(seed: int, machine: str, attributes: dict[str, str]) -> tuple[NoiseModel, float]:
    """The noise model of a clip and the SNR (dB) at which it is mixed, following its attributes."""
    for key in NOISE_KEYS:
        if key in attributes:
            model = draw_noise(stream(seed, "noise", machine, key, attributes[key]), machine_noise=key == "m-n")
            return model, model.snr_db
    model = draw_noise(stream(seed, "noise", machine), snr_range=(6.0, 12.0))
    if "n-lv" in attributes:
        return model, LEVEL_SNR_DB[attributes["n-lv"]]
    return model, model.snr_db


def render_noise(model: NoiseModel, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """One realisation of ``model``, shape ``(n,)``, unit RMS (random phases, clank times and sizes)."""
    f = signals.freqs(n, sr)
    bed = signals.shaped_noise(rng, n, sr, signals.power_law(f, model.exponent))
    t = np.arange(n) / sr
    hz = np.asarray(model.tone_hz) * (1 + 0.002 * rng.standard_normal(len(model.tone_hz)))
    x = bed + signals.tones(2 * np.pi * t, hz, model.tone_level, rng.uniform(0, 2 * np.pi, hz.size))
    if model.hum_hz:
        k = np.arange(1, 9)
        amps = model.hum_level * 0.7 ** (k - 1) * np.exp(0.2 * rng.standard_normal(k.size))
        x += signals.tones(signals.phase(model.hum_hz, n, sr), k, amps, rng.uniform(0, 2 * np.pi, k.size))
    count = rng.poisson(model.clank_rate * n / sr)
    times = rng.uniform(0, n / sr, count)
    sizes = model.clank_level * rng.lognormal(0.0, 0.5, count)
    kernel = signals.ring(model.clank_hz, model.clank_decay_s, sr, rng, roughness=0.5)
    x += signals.strike(times, sizes, kernel, n, sr)
    return x / max(signals.rms(x), 1e-12)
