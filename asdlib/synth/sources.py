"""Per-machine sound models (the design: :mod:`asdlib.synth`).

Each machine has ``<machine>_base(rng) -> dict``, the seeded base parameters of one (machine,
section), and ``<machine>(base, attributes, ctx) -> signal``, one clip of shape ``(ctx.n,)`` before
the transfer function and background noise are applied (``asdlib.synth.clip``). Attributes drive
physical parameters (speeds and voltages scale rotation, mesh and motor frequencies; car and train
letters pick gear ratios, bodies and wagons; valve patterns pick click timing). Every clip carries
nuisance: speed and gain jitter of 1-2 %, harmonic amplitude jitter, random phases. Faults
(``asdlib.synth.anomalies``) act through ``ctx.knob(type)``, 0 for normal clips.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from asdlib.synth import channel, signals
from asdlib.synth.anomalies import Fault

TWO_PI = 2 * np.pi


@dataclass(frozen=True)
class Context:
    """What a source model needs besides its parameters.

    ``rng`` is the clip's stream; ``lookup(key, value)`` a stream for an attribute value (the same in
    every clip and section of the machine); ``fault`` the clip's fault or None.
    """

    rng: np.random.Generator
    n: int
    sr: int
    fault: Fault | None
    lookup: Callable[[str, str], np.random.Generator]

    def knob(self, kind: str) -> float:
        """Size of the fault ``kind`` in this clip (0 when the clip has another or no fault)."""
        return self.fault.knob if self.fault is not None and self.fault.kind == kind else 0.0

    @property
    def seconds(self) -> float:
        return self.n / self.sr


def _speed(rng: np.random.Generator, sd: float = 0.012) -> float:
    """Per-clip speed (or gain) factor 1 + N(0, sd), clipped at 2.5 sd."""
    return 1.0 + float(np.clip(rng.normal(0.0, sd), -2.5 * sd, 2.5 * sd))


def _jitter(rng: np.random.Generator, k: int, sd: float = 0.15) -> np.ndarray:
    """Per-clip harmonic amplitude factors exp(N(0, sd)), shape ``(k,)``."""
    return np.exp(rng.normal(0.0, sd, k))


def _phases(rng: np.random.Generator, k: int) -> np.ndarray:
    return rng.uniform(0.0, TWO_PI, k)


def _band(ctx: Context, centre: float, width_oct: float, tilt: float = 0.0) -> np.ndarray:
    """Unit-RMS noise around ``centre`` Hz (log-Gaussian band), optionally tilted 1/f^tilt."""
    f = signals.freqs(ctx.n, ctx.sr)
    return signals.shaped_noise(ctx.rng, ctx.n, ctx.sr, signals.log_band(f, centre, width_oct)
                                * signals.power_law(f, tilt, floor_hz=centre))


def _drifting(ctx: Context, freq: float, depth: float = 0.002, rate_hz: float = 1.0) -> np.ndarray:
    """A rotation frequency track ``freq * (1 + depth * slow wobble)``, shape ``(n,)``."""
    return freq * (1 + depth * signals.wobble(ctx.rng, ctx.n, ctx.sr, rate_hz))


def _jittered(ctx: Context, times: np.ndarray, sd_s: float) -> np.ndarray:
    return times + ctx.rng.normal(0.0, sd_s, times.size)


# ---------------------------------------------------------------------------------------------
# fan: blade-pass harmonics, airflow noise modulated at the blade rate, motor hum
# ---------------------------------------------------------------------------------------------
def fan_base(rng: np.random.Generator) -> dict:
    """Blades 4-8, rotation 18-32 Hz, airflow band 0.6-2.5 kHz, blade-rate AM depth 0.15-0.35."""
    return dict(blades=int(rng.integers(4, 9)), rot=rng.uniform(18, 32), tone=rng.uniform(0.3, 0.6),
                decay=rng.uniform(0.3, 0.7), side=rng.uniform(0.03, 0.06), air_hz=rng.uniform(600, 2500),
                air_oct=rng.uniform(1.0, 1.8), air_am=rng.uniform(0.15, 0.35), hum=rng.uniform(0.03, 0.1),
                mains=float(rng.choice([50.0, 60.0])), whine_hz=rng.uniform(2500, 5000))


def fan(base: dict, attributes: dict[str, str], ctx: Context) -> np.ndarray:
    """A fan. Faults: wing damage (rotation-order sidebands, AM at rotation rate), unbalance (1x
    harmonic, AM at rotation rate), clogging (less airflow, faster and tonal), over-voltage (faster,
    louder hum, a winding whine in bursts)."""
    rng = ctx.rng
    wing, unb, clog, volt = (ctx.knob(k) for k in ("wing_damage", "unbalance", "clogging", "over_voltage"))
    speed = _speed(rng) * (1 + 0.015 * volt + 0.004 * clog)
    phi = signals.phase(_drifting(ctx, base["rot"] * speed), ctx.n, ctx.sr)
    b, k = base["blades"], np.arange(1, 7)
    blade = base["tone"] * np.exp(-base["decay"] * (k - 1)) * (1 + 0.05 * clog) * _jitter(rng, k.size)
    side_orders = np.array([1, 2, b - 1, b + 1, 2 * b - 1, 2 * b + 1])
    side = base["tone"] * (base["side"] * _jitter(rng, 6, 0.3) + 0.08 * wing * np.array([0, 0, 1, 1, 1, 1])
                           + 0.2 * unb * np.array([1, 0.3, 0, 0, 0, 0]))
    x = signals.tones(phi, np.concatenate([b * k, side_orders]), np.concatenate([blade, side]),
                      _phases(rng, 12))
    air = _band(ctx, base["air_hz"] * (1 - 0.025 * clog), base["air_oct"], tilt=0.5)
    am = 1 + base["air_am"] * np.sin(b * phi + rng.uniform(0, TWO_PI)) + 0.25 * wing * np.sin(phi)
    x += (1 - 0.05 * clog) * _speed(rng, 0.03) * air * am
    hum = base["hum"] * (1 + 0.3 * volt) * _jitter(rng, 2)
    x += signals.tones(signals.phase(2 * base["mains"], ctx.n, ctx.sr), [1, 2], hum, _phases(rng, 2))
    if volt:  # over-voltage: the overdriven motor's windings whine, in bursts as the load varies
        whine = np.sin(signals.phase(_drifting(ctx, base["whine_hz"], 0.01, 3.0), ctx.n, ctx.sr))
        x += 0.6 * base["tone"] * volt * whine * np.clip(signals.wobble(rng, ctx.n, ctx.sr, 8.0), 0, None)
    return x * (1 + 0.25 * unb * np.sin(phi + rng.uniform(0, TWO_PI)))


# ---------------------------------------------------------------------------------------------
# gearbox: gear-mesh harmonics with shaft-rate sidebands, casing resonance, motor
# ---------------------------------------------------------------------------------------------
def gearbox_base(rng: np.random.Generator) -> dict:
    """Teeth 17-40, shaft 12-22 Hz at 2 V, casing resonance 1.5-4 kHz, default volt/weight."""
    return dict(teeth=int(rng.integers(17, 41)), shaft=rng.uniform(12, 22), tone=rng.uniform(0.3, 0.5),
                decay=rng.uniform(0.4, 0.9), side=rng.uniform(0.1, 0.3), ratio=rng.uniform(2.5, 5.0),
                poles=int(rng.integers(2, 5)), motor=rng.uniform(0.05, 0.15), casing_hz=rng.uniform(1500, 4000),
                casing_oct=rng.uniform(0.15, 0.35), casing=rng.uniform(0.4, 0.8),
                volt=float(rng.choice([1.5, 2.0, 2.5])), wt=float(rng.choice([0.0, 50.0, 100.0])))


def gearbox(base: dict, attributes: dict[str, str], ctx: Context) -> np.ndarray:
    """A gearbox; ``volt`` scales the shaft rate, ``wt`` loads it (slower, louder mesh), ``id`` picks the
    gears and casing. Faults: gear damage (once-per-turn impacts, stronger sidebands), overload, over-voltage."""
    rng = ctx.rng
    damage, load_fault, volt_fault = (ctx.knob(k) for k in ("gear_damage", "overload", "over_voltage"))
    volt = float(attributes.get("volt", base["volt"]))
    load = float(attributes.get("wt", base["wt"])) / 200
    teeth, casing_hz = base["teeth"], base["casing_hz"]
    if "id" in attributes:
        gear = ctx.lookup("id", attributes["id"])
        teeth, casing_hz = int(gear.integers(17, 41)), float(gear.uniform(1500, 4000))
    speed = _speed(rng) * (volt / 2.0) ** 0.9 * (1 - 0.08 * load) * (1 - 0.015 * load_fault + 0.018 * volt_fault)
    phi = signals.phase(_drifting(ctx, base["shaft"] * speed), ctx.n, ctx.sr)
    k = np.arange(1, 5)
    mesh = base["tone"] * np.exp(-base["decay"] * (k - 1)) * (1 + 0.6 * load)
    orders = [teeth * k]
    amps = [mesh * _jitter(rng, 4)]
    for offset, rel in ((-1, 1.0), (1, 1.0), (-2, 0.5), (2, 0.5)):
        orders.append(teeth * k + offset)
        amps.append(mesh * base["side"] * rel * (1 + 0.3 * damage) * _jitter(rng, 4, 0.25))
    motor_orders = base["ratio"] * base["poles"] * np.array([1, 2])
    orders.append(motor_orders)
    amps.append(base["motor"] * _jitter(rng, 2))
    orders, amps = np.concatenate(orders), np.concatenate(amps)
    x = signals.tones(phi, orders, amps, _phases(rng, orders.size))
    if load_fault:  # overload: the load surges, and the mesh with it
        x *= 1 + 0.8 * load_fault * np.clip(signals.wobble(rng, ctx.n, ctx.sr, 4.0), 0, None)
    if volt_fault:  # over-voltage: the motor's whine surges in bursts
        surge = np.clip(signals.wobble(rng, ctx.n, ctx.sr, 6.0), 0, None)
        x += surge * signals.tones(phi, motor_orders * 3, 3.0 * base["motor"] * volt_fault * np.ones(2), _phases(rng, 2))
    casing = _band(ctx, casing_hz, base["casing_oct"]) * (1 + 0.5 * np.sin(teeth * phi))
    x += base["casing"] * (1 + 0.3 * load) * _speed(rng, 0.03) * casing
    turns = _jittered(ctx, signals.crossings(phi, ctx.sr, offset=rng.uniform(0, TWO_PI)), 0.0005)
    kernel = signals.ring(casing_hz, 0.004, ctx.sr, rng, roughness=0.3)
    x += signals.strike(turns, 1.5 * damage * base["tone"], kernel, ctx.n, ctx.sr)
    return x


# ---------------------------------------------------------------------------------------------
# bearing: rolling noise through housing resonances, faint random impacts, shaft harmonics
# ---------------------------------------------------------------------------------------------
def bearing_base(rng: np.random.Generator) -> dict:
    """Shaft Hz per ``vel`` unit 0.8-1.4, 7-12 balls, housing resonances 2-6 kHz, impacts 5-20 /s,
    a drive-motor whine at 8-16 times the shaft rate."""
    res = rng.uniform(2000, 5000)
    return dict(hz_per_vel=rng.uniform(0.8, 1.4), balls=int(rng.integers(7, 13)), ratio=rng.uniform(0.15, 0.3),
                res1=res, res2=res * rng.uniform(1.3, 1.8), res_oct=rng.uniform(0.2, 0.4),
                vel_exp=rng.uniform(0.3, 0.6), cage_am=rng.uniform(0.05, 0.15), impacts=rng.uniform(5, 20),
                impact=rng.uniform(0.5, 1.0), shaft=rng.uniform(0.08, 0.2), whine_order=int(rng.integers(8, 17)),
                whine=rng.uniform(0.1, 0.2), vel=14.0)


def bearing(base: dict, attributes: dict[str, str], ctx: Context) -> np.ndarray:
    """A bearing; ``vel`` sets the shaft rate (and rolling level), ``loc`` is a microphone position.
    Faults: outer-race, inner-race (modulated by the shaft turn) and ball damage, as impacts at the
    bearing's defect rates ringing the housing."""
    rng = ctx.rng
    vel = float(attributes.get("vel", base["vel"]))
    fr = base["hz_per_vel"] * vel * _speed(rng)
    phi = signals.phase(_drifting(ctx, fr), ctx.n, ctx.sr)
    level = (vel / 14) ** base["vel_exp"] * _speed(rng, 0.03)
    f = signals.freqs(ctx.n, ctx.sr)
    width = base["res_oct"]
    shape = (signals.log_band(f, base["res1"], width) + 0.6 * signals.log_band(f, base["res2"], width)
             + 0.3 * signals.log_band(f, 400.0, 1.5))
    roll = signals.shaped_noise(rng, ctx.n, ctx.sr, shape)
    x = level * roll * (1 + base["cage_am"] * np.sin(0.4 * phi + rng.uniform(0, TWO_PI)))
    m = base["whine_order"]
    amps = np.concatenate([base["shaft"] * np.array([1, 0.5, 0.3]), base["whine"] * np.array([1, 0.5])])
    x += signals.tones(phi, [1, 2, 3, m, 2 * m], amps * _jitter(rng, 5), _phases(rng, 5))
    kernel = signals.ring(base["res1"], 0.0015, ctx.sr, rng, roughness=0.4)
    count = rng.poisson(base["impacts"] * ctx.seconds)
    x += signals.strike(rng.uniform(0, ctx.seconds, count), level * base["impact"] * rng.lognormal(0, 0.5, count),
                        kernel, ctx.n, ctx.sr)
    r, half = base["ratio"], base["balls"] / 2
    defects = (("outer_race_damage", half * (1 - r)), ("inner_race_damage", half * (1 + r)),
               ("ball_damage", (1 - r * r) / r))
    for kind, order in defects:
        size = ctx.knob(kind)
        if size:
            times = _jittered(ctx, signals.crossings(order * phi, ctx.sr, rng.uniform(0, TWO_PI)), 0.0003)
            amps = 1.0 * size * level * rng.lognormal(0, 0.3, times.size)
            if kind == "inner_race_damage":  # the defect turns with the shaft: load zone modulation
                amps *= 0.6 * (1 + np.cos(TWO_PI * fr * times))
            elif kind == "ball_damage":  # the ball travels with the cage through the load zone
                amps *= 0.6 * (1 + np.cos(TWO_PI * fr * (1 - r) / 2 * times))
            x += signals.strike(times, amps, kernel, ctx.n, ctx.sr)
    return x


# ---------------------------------------------------------------------------------------------
# slider: back-and-forth motion, driver whine, friction noise, reversal clicks
# ---------------------------------------------------------------------------------------------
def slider_base(rng: np.random.Generator) -> dict:
    """Stroke 150-400 mm, driver Hz per mm/s 0.35-0.9, friction band 1-5 kHz, default vel/ac."""
    return dict(stroke=rng.uniform(150, 400), acc_scale=rng.uniform(3, 6), dwell=rng.uniform(0.05, 0.2),
                hz_per_vel=rng.uniform(0.35, 0.9), tone=rng.uniform(0.3, 0.5), decay=rng.uniform(0.3, 0.8),
                fric_hz=rng.uniform(1000, 5000), fric_oct=rng.uniform(0.8, 1.5), fric=rng.uniform(0.5, 1.0),
                click_hz=rng.uniform(800, 3000), click_decay=rng.uniform(0.004, 0.01), click=rng.uniform(2, 5),
                squeal_hz=rng.uniform(2500, 6000), vel=float(rng.choice([500.0, 700.0, 900.0])),
                ac=float(rng.choice([0.05, 0.07, 0.09])))


def slider(base: dict, attributes: dict[str, str], ctx: Context) -> np.ndarray:
    """A linear slider; ``vel`` (mm/s) and ``ac`` (G) shape its trapezoidal velocity profile.
    Faults: rail damage (a click where the carriage passes the defect), loose belt (speed flutter and
    rattle), no grease (squeal and louder friction)."""
    rng = ctx.rng
    rail, belt, grease = (ctx.knob(k) for k in ("rail_damage", "loose_belt", "no_grease"))
    vel = float(attributes.get("vel", base["vel"])) * _speed(rng)
    acc = float(attributes.get("ac", base["ac"])) * 9810 * base["acc_scale"]
    t_acc = vel / acc
    if base["stroke"] < vel * t_acc:  # never reaches full speed: triangular profile
        vel = float(np.sqrt(acc * base["stroke"]))
        t_acc = vel / acc
    t_move = base["stroke"] / vel + t_acc
    half = base["dwell"] + t_move
    t = np.arange(ctx.n) / ctx.sr
    start = rng.uniform(0, half)
    tau = (t + start) % half
    knots = [0, base["dwell"], base["dwell"] + t_acc, half - t_acc, half]
    v = np.interp(tau, knots, [0, 0, vel, vel, 0])
    v *= 1 + 0.08 * belt * np.sin(TWO_PI * 11.0 * t + rng.uniform(0, TWO_PI))
    moving = v / vel
    phi = signals.phase(base["hz_per_vel"] * v, ctx.n, ctx.sr)
    k = np.arange(1, 5)
    drive = signals.tones(phi, k, base["tone"] * np.exp(-base["decay"] * (k - 1)) * _jitter(rng, 4), _phases(rng, 4))
    x = drive * np.sqrt(moving)
    fric = base["fric"] * (1 + 0.15 * grease) * _speed(rng, 0.03)
    x += fric * moving * _band(ctx, base["fric_hz"], base["fric_oct"])
    squeal = 0.06 * grease * moving * np.sin(signals.phase(_drifting(ctx, base["squeal_hz"], 0.01, 3.0), ctx.n, ctx.sr))
    x += squeal
    stops = np.arange(half - start, ctx.seconds, half)   # carriage reaches an end and reverses
    kernel = signals.ring(base["click_hz"], base["click_decay"], ctx.sr, rng, roughness=0.3)
    x += signals.strike(_jittered(ctx, stops, 0.002), base["click"] * rng.lognormal(0, 0.2, stops.size),
                        kernel, ctx.n, ctx.sr)
    if rail:  # two dents in the rail: a click each time the carriage passes one
        passes = np.concatenate([np.arange(half - start - f * t_move, ctx.seconds, half)
                                 for f in rng.uniform(0.2, 0.8, 2)])
        x += signals.strike(passes, 3.0 * rail * base["click"], signals.ring(base["click_hz"] * 1.7, 0.003, ctx.sr),
                            ctx.n, ctx.sr)
    rattles = rng.uniform(0, ctx.seconds, rng.poisson(15 * ctx.seconds))
    x += signals.strike(rattles, 0.5 * belt * base["click"] * np.interp(rattles, t, moving),
                        signals.ring(base["click_hz"] * 0.6, 0.003, ctx.sr), ctx.n, ctx.sr)
    return x


# ---------------------------------------------------------------------------------------------
# valve: solenoid click patterns with flow hiss while open
# ---------------------------------------------------------------------------------------------
def valve_base(rng: np.random.Generator) -> dict:
    """Cycle 0.375-0.96 s (0.3-1.2 s with the pattern factor), click resonance 1.5-5 kHz, hiss band
    2-6 kHz; a second valve for two-valve clips."""
    def one() -> dict:
        return dict(period=rng.uniform(0.375, 0.96), click_hz=rng.uniform(1500, 5000),
                    click_decay=rng.uniform(0.002, 0.006), close=rng.uniform(0.5, 1.0), click=rng.uniform(3, 6),
                    hiss_hz=rng.uniform(2000, 6000), hiss_oct=rng.uniform(0.6, 1.2), hiss=rng.uniform(0.4, 0.9))
    return dict(first=one(), second=one(), pat="00")


def _pattern(rng: np.random.Generator) -> tuple[float, np.ndarray, np.ndarray]:
    """A valve pattern: period factor 0.8-1.25 and 1-3 (open, close) fractions of the cycle."""
    k = int(rng.integers(1, 4))
    edges = np.sort(rng.uniform(0.02, 0.98, 2 * k))
    return float(rng.uniform(0.8, 1.25)), edges[0::2], edges[1::2]


def _valve(v: dict, pattern: tuple, ctx: Context) -> np.ndarray:
    rng = ctx.rng
    bounce, stick, leak = (ctx.knob(k) for k in ("contamination_bounce", "contamination_sticking",
                                                 "contamination_leak"))
    factor, opens, closes = pattern
    period = v["period"] * factor * _speed(rng, 0.01)
    cycles = np.arange(-rng.uniform(0, period), ctx.seconds, period)
    on = _jittered(ctx, (cycles[:, None] + opens * period).ravel(), 0.002)
    late = stick * 0.08 * period * rng.uniform(0, 1, on.size)   # contamination: irregular late closing
    off = _jittered(ctx, (cycles[:, None] + closes * period).ravel(), 0.002) + late
    kernel = signals.ring(v["click_hz"], v["click_decay"], ctx.sr, rng, roughness=0.3)
    size = v["click"] * rng.lognormal(0, 0.15, on.size)
    x = signals.strike(on, size, kernel, ctx.n, ctx.sr)
    x += signals.strike(off, v["close"] * size, kernel, ctx.n, ctx.sr)
    delay = rng.uniform(0.012, 0.03)   # contamination: the plunger bounces once
    x += signals.strike(np.concatenate([on, off]) + delay, 0.8 * bounce * np.concatenate([size, v["close"] * size]),
                        kernel, ctx.n, ctx.sr)
    if stick:  # a sticking plunger judders before it closes: a few small clicks
        chatter = (off[:, None] - rng.uniform(0.01, 0.06, (off.size, 3))).ravel()
        x += signals.strike(chatter, 0.5 * stick * v["click"] * rng.lognormal(0, 0.3, chatter.size), kernel, ctx.n, ctx.sr)
    flow = signals.gate(on, off, ctx.n, ctx.sr)
    hiss = v["hiss"] * _speed(rng, 0.03) * (flow * (1 - 0.08 * leak) + 0.04 * leak * (1 - flow))
    x += hiss * _band(ctx, v["hiss_hz"], v["hiss_oct"])
    if leak:  # a leaking seat whistles while the valve is closed
        x += 0.06 * leak * v["hiss"] * (1 - flow) * _band(ctx, 0.6 * v["hiss_hz"], 0.08)
    return x


def valve(base: dict, attributes: dict[str, str], ctx: Context) -> np.ndarray:
    """One or two solenoid valves; ``pat``/``v1pat``/``v2pat`` pick their click patterns.
    Faults (contamination): bouncing plunger, sticking (late, irregular closing), leak (hiss when closed)."""
    first = attributes.get("pat", attributes.get("v1pat", base["pat"]))
    x = _valve(base["first"], _pattern(ctx.lookup("pat", first)), ctx)
    if "v2pat" in attributes:
        x += _valve(base["second"], _pattern(ctx.lookup("pat", attributes["v2pat"])), ctx)
    return x


# ---------------------------------------------------------------------------------------------
# ToyCar: motor whine, pinion mesh, road rumble at the wheel rate
# ---------------------------------------------------------------------------------------------
def toycar_base(rng: np.random.Generator) -> dict:
    """Motor 5.5-8 Hz per volt, 3 or 5 poles, pinion 8-14 teeth, rumble below 150-400 Hz."""
    return dict(hz_per_volt=rng.uniform(5.5, 8.0), poles=int(rng.choice([3, 5])), tone=rng.uniform(0.3, 0.5),
                decay=rng.uniform(0.3, 0.6), pinion=int(rng.integers(8, 15)), mesh=rng.uniform(0.15, 0.3),
                rumble_hz=rng.uniform(150, 400), rumble=rng.uniform(0.5, 1.0), thump_hz=rng.uniform(150, 300))


def toycar(base: dict, attributes: dict[str, str], ctx: Context) -> np.ndarray:
    """A toy car; ``spd`` (volts) sets the motor rate, ``car`` the gear ratio, tyres and body.
    Faults: bent shaft (AM at wheel rate), deformed gear (mesh sidebands at wheel rate), melted gear
    (mesh noise, slower), damaged wheel (thumps once per wheel turn)."""
    rng = ctx.rng
    bent, deformed, melted, wheel = (ctx.knob(k) for k in ("bent_shaft", "deformed_gear", "melted_gear",
                                                          "damaged_wheel"))
    car = ctx.lookup("car", attributes["car"])
    ratio, tyre, body = car.uniform(12, 30), car.uniform(0.7, 1.4), channel.draw_body(car)
    volts = float(attributes["spd"].rstrip("V"))
    fm = base["hz_per_volt"] * volts * _speed(rng) * (1 - 0.01 * melted)
    phi = signals.phase(_drifting(ctx, fm, 0.003, 2.0), ctx.n, ctx.sr)
    k = np.arange(1, 7)
    motor = base["tone"] * np.exp(-base["decay"] * (k - 1)) * np.where(k % base["poles"] == 0, 2.0, 1.0)
    p, w = base["pinion"], 1 / ratio
    orders = np.concatenate([k, [p, 2 * p, p - w, p + w]])
    side = base["mesh"] * (0.05 + 0.12 * deformed)
    amps = np.concatenate([motor * _jitter(rng, 6), base["mesh"] * np.array([1, 0.5]) * _jitter(rng, 2),
                           side * _jitter(rng, 2, 0.3)])
    x = signals.tones(phi, orders, amps, _phases(rng, orders.size))
    wheel_phi = w * phi + rng.uniform(0, TWO_PI)
    x += 0.4 * melted * base["mesh"] * _band(ctx, p * fm, 0.3) * (0.5 + 0.5 * np.cos(wheel_phi)) ** 4  # once a turn
    rumble = _band(ctx, base["rumble_hz"], 1.0, tilt=1.0) * (1 + 0.3 * np.sin(wheel_phi))
    x += base["rumble"] * tyre * _speed(rng, 0.03) * rumble
    turns = signals.crossings(wheel_phi, ctx.sr)
    x += signals.strike(turns, 4.0 * wheel, signals.ring(base["thump_hz"], 0.01, ctx.sr), ctx.n, ctx.sr)
    x += signals.strike(turns + rng.uniform(0, 1) / (w * fm), 3.0 * deformed * base["mesh"],
                        signals.ring(p * fm, 0.01, ctx.sr), ctx.n, ctx.sr)
    x *= 1 + 0.35 * bent * np.sin(wheel_phi + 1.0)
    return 0.4 * channel.apply(x, [body], ctx.sr)   # the body's formants boost; keep clips unclipped


# ---------------------------------------------------------------------------------------------
# ToyTrain: motor tone, rolling noise, rail-joint click trains (one click per axle)
# ---------------------------------------------------------------------------------------------
def toytrain_base(rng: np.random.Generator) -> dict:
    """Motor 18-30 Hz per ``spd`` step, joints every 0.25-0.6 s at spd 8, rail click 1.5-4 kHz, 2-4 joints a lap."""
    return dict(hz_per_step=rng.uniform(18, 30), tone=rng.uniform(0.3, 0.5), decay=rng.uniform(0.3, 0.7),
                whine=int(rng.integers(8, 16)), joint_s=rng.uniform(0.25, 0.6), click_hz=rng.uniform(1500, 4000),
                click_decay=rng.uniform(0.003, 0.008), click=rng.uniform(4, 8), lap=int(rng.integers(2, 5)),
                roll_hz=rng.uniform(500, 2000), roll=rng.uniform(0.2, 0.5), wheel_turns=rng.uniform(1.5, 3.0))


def toytrain(base: dict, attributes: dict[str, str], ctx: Context) -> np.ndarray:
    """A toy train; ``spd`` sets motor rate and travel speed, ``car`` the wagons (axle clicks per
    joint) and body. Faults: flat tyre (thumps per wheel turn), broken shaft (rattle), disjointed rail
    (one loud, doubled joint per lap), obstructing stone (an impact and a speed dip)."""
    rng = ctx.rng
    flat, broken, disjoint, stone = (ctx.knob(k) for k in ("flat_tyre", "broken_shaft", "disjointed_rail",
                                                          "obstructing_stone"))
    car = ctx.lookup("car", attributes["car"])
    axles = np.sort(np.concatenate([[0.0], np.cumsum(car.uniform(0.05, 0.25, 2 * int(car.integers(1, 5)) - 1))]))
    body = channel.draw_body(car)
    steps = float(attributes["spd"])
    t = np.arange(ctx.n) / ctx.sr
    hit = rng.uniform(0.1, 0.9) * ctx.seconds
    dip = 1 - 0.05 * stone * np.exp(-np.maximum(t - hit, 0) / 0.3) * (t >= hit)
    fm = base["hz_per_step"] * steps * _speed(rng) * dip
    phi = signals.phase(_drifting(ctx, fm, 0.003, 2.0), ctx.n, ctx.sr)
    k = np.arange(1, 6)
    motor = base["tone"] * np.exp(-base["decay"] * (k - 1)) * _jitter(rng, 5)
    x = signals.tones(phi, np.append(k, base["whine"]), np.append(motor, 0.1 * base["tone"]), _phases(rng, 6))
    x *= 1 + 0.3 * broken * np.sin(0.5 * phi)
    travel = phi / (TWO_PI * base["hz_per_step"] * 8 * base["joint_s"])   # joints passed (1 per joint_s at spd 8)
    first = rng.uniform(0, 1)
    joints = np.interp(np.arange(np.ceil(travel[0] - first), travel[-1] - first) + first, travel, t)
    number = np.arange(joints.size) + int(rng.integers(base["lap"]))
    loud = 1 + 2.0 * disjoint * (number % base["lap"] == 0)
    delays = axles * 8 / steps * base["joint_s"]
    times = (joints[:, None] + delays[None, :]).ravel()
    sizes = base["click"] * np.repeat(loud, delays.size) * rng.lognormal(0, 0.2, times.size)
    kernel = signals.ring(base["click_hz"], base["click_decay"], ctx.sr, rng, roughness=0.3)
    x += signals.strike(_jittered(ctx, times, 0.001), sizes, kernel, ctx.n, ctx.sr)
    x += signals.strike(joints[loud > 1] + 0.004, 0.5 * base["click"] * (loud[loud > 1] - 1), kernel, ctx.n, ctx.sr)
    wheel = signals.crossings(phi / (base["hz_per_step"] * 8 * base["joint_s"] / base["wheel_turns"]), ctx.sr)
    x += signals.strike(wheel, 0.8 * flat * base["click"], signals.ring(300.0, 0.008, ctx.sr), ctx.n, ctx.sr)
    rattle = rng.uniform(0, ctx.seconds, rng.poisson(20 * ctx.seconds))
    x += signals.strike(rattle, 0.3 * broken * base["click"], signals.ring(base["click_hz"] * 0.5, 0.002, ctx.sr),
                        ctx.n, ctx.sr)
    x += signals.strike([hit], 2.0 * stone * base["click"], signals.ring(900.0, 0.02, ctx.sr, rng, 0.6), ctx.n, ctx.sr)
    x += base["roll"] * (steps / 8) ** 0.5 * _speed(rng, 0.03) * _band(ctx, base["roll_hz"], 1.2)
    return 0.4 * channel.apply(x, [body], ctx.sr)   # the body's formants boost; keep clips unclipped


MODELS: dict[str, tuple[Callable[[np.random.Generator], dict], Callable[..., np.ndarray]]] = {
    "ToyCar": (toycar_base, toycar),
    "ToyTrain": (toytrain_base, toytrain),
    "bearing": (bearing_base, bearing),
    "fan": (fan_base, fan),
    "gearbox": (gearbox_base, gearbox),
    "slider": (slider_base, slider),
    "valve": (valve_base, valve),
}
