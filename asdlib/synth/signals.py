"""Vectorised signal primitives shared by the source, noise and anomaly models (no per-sample loops).

All signals are float64 arrays of shape ``(n,)`` at sample rate ``sr``; frequencies in Hz, times in
seconds. These are the building blocks of the stand-in's models (:mod:`asdlib.synth`).
"""
from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy.signal import oaconvolve

SAMPLE_RATE = 16_000


def phase(freq: float | np.ndarray, n: int, sr: int) -> np.ndarray:
    """Instantaneous phase (radians, shape ``(n,)``) of a rotation at ``freq`` (scalar or ``(n,)``)."""
    if np.ndim(freq) == 0:
        return 2 * np.pi * float(freq) * np.arange(n) / sr
    return 2 * np.pi * np.cumsum(freq) / sr


def tones(phi: np.ndarray, orders: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """``sum_k amps[k] * sin(orders[k] * phi + phases[k])``; ``orders``, ``amps``, ``phases`` shape ``(K,)``.

    ``orders`` may be non-integer (sidebands, gear ratios); ``phi`` is a rotation phase from :func:`phase`.
    """
    orders, amps, phases = (np.asarray(a, dtype=float) for a in (orders, amps, phases))
    keep = amps != 0
    orders, amps, phases = orders[keep], amps[keep], phases[keep]
    out = np.zeros_like(phi)
    # Integer orders use the phase reduced modulo 2 pi, so that float32 sines stay exact to ~1e-4 rad.
    integer = orders == np.round(orders)
    for use, base in ((integer, np.remainder(phi, 2 * np.pi)), (~integer, phi)):
        if use.any():
            args = np.multiply.outer(orders[use].astype(np.float32), base.astype(np.float32))
            args += phases[use, None].astype(np.float32)
            np.sin(args, out=args)
            args *= amps[use, None].astype(np.float32)
            out += args.sum(axis=0)   # a plain reduction, not BLAS: the same bytes on any thread count
    return out


def freqs(n: int, sr: int) -> np.ndarray:
    """Frequencies (Hz) of the ``n // 2 + 1`` bins of a real FFT of length ``n``."""
    return sfft.rfftfreq(n, 1.0 / sr)


def shaped_noise(rng: np.random.Generator, n: int, sr: int, gain: np.ndarray) -> np.ndarray:
    """Gaussian noise whose amplitude spectrum follows ``gain`` (shape ``(n // 2 + 1,)``), unit RMS."""
    spectrum = (rng.standard_normal(gain.size) + 1j * rng.standard_normal(gain.size)) * gain
    x = sfft.irfft(spectrum, n)
    return x / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)


def log_band(f: np.ndarray, centre: float, width_oct: float) -> np.ndarray:
    """A Gaussian bump on a log-frequency axis: 1 at ``centre``, 1/e^0.5 at ``width_oct`` octaves away."""
    octaves = np.log2(np.maximum(f, 1.0) / centre)
    return np.exp(-0.5 * (octaves / width_oct) ** 2)


def power_law(f: np.ndarray, exponent: float, floor_hz: float = 20.0) -> np.ndarray:
    """Amplitude response of 1/f^exponent noise (power spectrum 1/f^exponent), flat below ``floor_hz``."""
    return np.maximum(f, floor_hz) ** (-exponent / 2)


def wobble(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """A slow random curve, zero mean and unit standard deviation, changing about ``rate_hz`` times a second."""
    points = max(int(np.ceil(n / sr * rate_hz)) + 2, 3)
    knots = rng.standard_normal(points)
    return np.interp(np.arange(n) / sr * rate_hz, np.arange(points), knots)


def crossings(phi: np.ndarray, sr: int, offset: float = 0.0, step: float = 2 * np.pi) -> np.ndarray:
    """Times (s) at which an increasing phase ``phi`` passes ``offset + k * step`` (one event per turn)."""
    start = np.ceil((phi[0] - offset) / step)
    stop = np.floor((phi[-1] - offset) / step)
    if stop < start:
        return np.zeros(0)
    targets = offset + step * np.arange(start, stop + 1)
    return np.interp(targets, phi, np.arange(phi.size) / sr)


def ring(freq: float, decay_s: float, sr: int, rng: np.random.Generator | None = None,
         roughness: float = 0.0) -> np.ndarray:
    """A struck resonance: exp(-t / decay_s) * sin(2 pi freq t), optionally mixed with decaying noise.

    Returns the kernel, shape ``(ceil(5 * decay_s * sr),)``, peak about 1.
    """
    t = np.arange(max(int(np.ceil(5 * decay_s * sr)), 2)) / sr
    kernel = np.sin(2 * np.pi * freq * t)
    if roughness and rng is not None:
        kernel = (1 - roughness) * kernel + roughness * rng.standard_normal(t.size)
    return kernel * np.exp(-t / decay_s)


def strike(times: np.ndarray, amps: np.ndarray | float, kernel: np.ndarray, n: int, sr: int) -> np.ndarray:
    """Impulses at ``times`` (s) with amplitudes ``amps``, each ringing with ``kernel``; shape ``(n,)``."""
    times = np.asarray(times, dtype=float)
    idx = np.round(times * sr).astype(int)
    amps = np.broadcast_to(np.asarray(amps, dtype=float), times.shape)
    keep = (idx >= 0) & (idx < n)
    if not keep.any():
        return np.zeros(n)
    pulses = np.zeros(n)
    np.add.at(pulses, idx[keep], amps[keep])
    return oaconvolve(pulses, kernel)[:n]


def gate(on: np.ndarray, off: np.ndarray, n: int, sr: int, ramp_s: float = 0.005) -> np.ndarray:
    """Envelope that is 1 between each ``on[i]`` and ``off[i]`` (s) and 0 elsewhere, with linear ramps."""
    steps = np.zeros(n + 1)
    for times, sign in ((on, 1.0), (off, -1.0)):
        idx = np.clip(np.round(np.asarray(times) * sr).astype(int), 0, n)
        np.add.at(steps, idx, sign)
    level = np.clip(np.cumsum(steps)[:n], 0.0, 1.0)
    width = max(int(ramp_s * sr), 1)
    return np.clip(oaconvolve(level, np.full(width, 1.0 / width))[:n], 0.0, 1.0)


def rms(x: np.ndarray) -> float:
    """Root mean square of a signal."""
    return float(np.sqrt(np.mean(np.square(x))))
