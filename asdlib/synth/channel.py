"""Transfer functions: microphone position, housing, panels (the design: :mod:`asdlib.synth`).

A transfer function is 2-3 resonances (gain bumps on a log-frequency axis), a low-pass and a short
echo. Every machine type has one (its microphone set-up, shared by its sections); the attributes ``mic``, ``loc`` and ``panel``
add one per value, seeded by (seed, machine, key, value) so that a value sounds the same in the dev
and eval sections of a machine. Toy cars and trains also use :func:`draw_body` for their bodies.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import fft as sfft

from asdlib.synth import signals
from asdlib.synth.seeds import stream

CHANNEL_KEYS = ("mic", "loc", "panel")


@dataclass(frozen=True)
class Transfer:
    """One linear filter: resonances (Hz, octaves, dB), a low-pass (Hz, order; 0 = none), an echo."""

    centres: tuple[float, ...]
    widths_oct: tuple[float, ...]
    gains_db: tuple[float, ...]
    cutoff_hz: float = 0.0
    order: int = 2
    echo_delay_s: float = 0.0
    echo_gain: float = 0.0

    def response(self, f: np.ndarray) -> np.ndarray:
        """Complex response at frequencies ``f`` (Hz), shape ``f.shape``."""
        db = np.zeros_like(f)
        for centre, width, gain in zip(self.centres, self.widths_oct, self.gains_db):
            db += gain * signals.log_band(f, centre, width)
        h = 10 ** (db / 20)
        if self.cutoff_hz:
            h = h / np.sqrt(1 + (f / self.cutoff_hz) ** (2 * self.order))
        if self.echo_gain:
            h = h * (1 + self.echo_gain * np.exp(-2j * np.pi * f * self.echo_delay_s))
        return h


def draw_transfer(rng: np.random.Generator) -> Transfer:
    """A microphone/room transfer: 2-3 resonances of -6..+9 dB, a 3-7.5 kHz low-pass, a 2-15 ms echo."""
    k = int(rng.integers(2, 4))
    return Transfer(centres=tuple(np.exp(rng.uniform(np.log(250), np.log(6000), k))),
                    widths_oct=tuple(rng.uniform(0.15, 0.5, k)), gains_db=tuple(rng.uniform(-6, 9, k)),
                    cutoff_hz=float(rng.uniform(3000, 7500)), order=int(rng.integers(1, 4)),
                    echo_delay_s=float(rng.uniform(0.002, 0.015)), echo_gain=float(rng.uniform(0.1, 0.4)))


def draw_body(rng: np.random.Generator) -> Transfer:
    """Formants of a toy's body: two resonances of 4-10 dB between 300 Hz and 4 kHz, no low-pass."""
    return Transfer(centres=tuple(np.exp(rng.uniform(np.log(300), np.log(4000), 2))),
                    widths_oct=tuple(rng.uniform(0.2, 0.5, 2)), gains_db=tuple(rng.uniform(4, 10, 2)))


def clip_transfers(seed: int, machine: str, attributes: dict[str, str]) -> list[Transfer]:
    """The machine type's transfer (one set-up for all its sections) plus one per channel attribute
    (``mic``, ``loc``, ``panel``) of a clip."""
    out = [draw_transfer(stream(seed, "channel", machine))]
    for key in CHANNEL_KEYS:
        if key in attributes:
            out.append(draw_transfer(stream(seed, "channel", machine, key, attributes[key])))
    return out


@lru_cache(maxsize=256)
def _cascade(transfers: tuple[Transfer, ...], n: int, sr: int) -> np.ndarray:
    f = signals.freqs(n, sr)
    h = np.ones(f.size, dtype=complex)
    for tf in transfers:
        h *= tf.response(f)
    return h


def apply(x: np.ndarray, transfers: list[Transfer], sr: int) -> np.ndarray:
    """Filter ``x`` (shape ``(n,)``) through the cascade ``transfers`` (circular, via one FFT pair)."""
    return sfft.irfft(sfft.rfft(x) * _cascade(tuple(transfers), x.size, sr), x.size)
