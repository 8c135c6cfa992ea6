"""Simulator of the built-in driving world: road geometry, ego motion, traffic, appearance.

Everything is a pure function of ``(seed, drive index)`` so a drive can be regenerated exactly.
The state is sampled once per video frame; labels (``labels.py``) and pixels (``render.py``)
are both computed from this one state, so they cannot disagree.

Coordinates: ``s`` is distance along the road centreline in metres; lateral positions ``x`` are
metres to the right of the centreline. Curvature ``k > 0`` bends the road to the right.
Lanes: one oncoming lane centred at -3.5 m, two lanes in our direction centred at 0 and +3.5 m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROAD_HALF_WIDTH = 5.25  # m: three 3.5 m lanes
LANE_CENTRES = (0.0, 3.5)  # our direction (left lane, right lane)
ONCOMING_X = -3.5
ROAD_STEP = 1.0  # m: resolution of the precomputed road profile
LOOKAHEAD_S = 6.0  # s simulated after the video ends; it sets the length of the random draws, so
# changing it changes every drive of a seed
TIMES_OF_DAY = ("day", "dusk", "night")
WEATHERS = ("clear", "fog", "rain")
KMH = 3.6
WANDER_M = 0.15  # m: std of the ego's slow lateral wander in its lane


@dataclass(frozen=True)
class Appearance:
    """Per-drive look: independent of the motion, so no motion label leaks into one frame."""

    time_of_day: str
    weather: str
    road_rgb: tuple[float, float, float]
    grass_rgb: tuple[float, float, float]
    fog_m: float  # distance at which ~63% of the colour is fog
    shake_px: float  # camera shake amplitude (independent of speed)
    hills_rgb: tuple[float, float, float]  # distant hills on the horizon (before lighting and haze)
    skyline: tuple[tuple[float, float, float], ...]  # hill height over world azimuth: (rad, cycles per turn, phase)
    lights: tuple[float, ...]  # world azimuths (rad) of distant lights on the skyline, seen at night


@dataclass
class Drive:
    """Simulator state sampled at every frame (plus ``LOOKAHEAD_S`` after the video end)."""

    fps: float
    n_video: int  # frames that go into the video; arrays below are longer (lookahead)
    s: np.ndarray  # (N,) ego distance along the road, m
    v: np.ndarray  # (N,) ego speed, m/s
    x: np.ndarray  # (N,) ego lateral position, m
    yaw: np.ndarray  # (N,) camera heading relative to the road tangent, rad (+ = right)
    lane: np.ndarray  # (N,) int8 target lane index (0 = left, 1 = right)
    x_lane: np.ndarray  # (N,) the part of ``x`` due to lane changes (without the wander in the lane)
    lead_gap: np.ndarray  # (N,) distance from ego to the lead vehicle, m
    veh_s: np.ndarray  # (V, N) vehicle positions along the road
    veh_x: np.ndarray  # (V, N) vehicle lateral positions
    veh_rgb: np.ndarray  # (V, 3) body colours in [0, 1]
    veh_oncoming: np.ndarray  # (V,) bool: faces us (headlights) instead of away (tail lights)
    road_k: np.ndarray  # (R,) curvature on the ROAD_STEP grid, 1/m
    road_theta: np.ndarray  # (R,) heading, rad
    road_theta_int: np.ndarray  # (R,) integral of heading (lateral drift), m
    road_e: np.ndarray  # (R,) elevation, m
    road_de: np.ndarray  # (R,) slope (de/ds)
    obj_s: np.ndarray  # (O,) roadside object positions (sorted)
    obj_x: np.ndarray  # (O,) lateral positions
    obj_kind: np.ndarray  # (O,) 0 pole, 1 tree, 2 sign
    obj_h: np.ndarray  # (O,) height, m
    pitch_px: np.ndarray  # (N,) camera shake, pixels (scaled by render height / 128)
    yaw_px: np.ndarray  # (N,) horizontal shake, pixels
    appearance: Appearance
    noise_seed: int  # seeds per-frame noise in the renderer (rain streaks)


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Moving average with a Hann window of ``width`` samples (edges padded by repetition)."""
    if width < 2:
        return values
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    padded = np.pad(values, (width, width), mode="edge")
    return np.convolve(padded, kernel, mode="same")[width:-width]


def _smooth_noise(rng: np.random.Generator, n: int, correlation: int) -> np.ndarray:
    """Zero-mean, unit-std noise correlated over about ``correlation`` samples."""
    noise = _smooth(rng.standard_normal(n + 4 * correlation), max(2, correlation))
    noise = noise[2 * correlation : 2 * correlation + n]
    return (noise - noise.mean()) / (noise.std() + 1e-9)


def _appearance(rng: np.random.Generator, time_of_day: str, weather: str) -> Appearance:
    grey = rng.uniform(0.28, 0.45)
    road = tuple(float(np.clip(grey + d, 0, 1)) for d in rng.uniform(-0.03, 0.03, 3))
    grass = (rng.uniform(0.2, 0.45), rng.uniform(0.4, 0.6), rng.uniform(0.1, 0.3))
    fog_m = {"clear": 400.0, "fog": rng.uniform(25.0, 45.0), "rain": rng.uniform(80.0, 140.0)}[weather]
    hills = (rng.uniform(0.15, 0.35), rng.uniform(0.3, 0.45), rng.uniform(0.25, 0.45))
    # Distant hills fixed to world directions: they pan across the image at the yaw rate, a cue to
    # turning that no single frame holds (the road ahead stays in front of the car while it turns).
    skyline = tuple((float(rng.uniform(0.006, 0.018)), float(rng.integers(4, 40)), float(rng.uniform(0, 2 * np.pi)))
                    for _ in range(4))
    return Appearance(time_of_day, weather, road, tuple(float(c) for c in grass), float(fog_m),
                      float(rng.uniform(0.2, 0.8)),
                      tuple(float(c) for c in hills), skyline, tuple(float(a) for a in rng.uniform(0, 2 * np.pi, 40)))


def _speed_profile(rng: np.random.Generator, n: int, fps: float) -> np.ndarray:
    """Ego speed (m/s): a sequence of targets (stop, slow, medium, fast) reached with bounded accel/brake."""
    targets = np.empty(n)
    i = 0
    while i < n:
        kind = rng.choice(4, p=[0.12, 0.28, 0.28, 0.32])
        kmh = (0.0, rng.uniform(8, 28), rng.uniform(34, 56), rng.uniform(66, 105))[kind]
        hold = rng.uniform(3.0, 6.0) if kind == 0 else rng.uniform(5.0, 14.0)
        step = int(hold * fps)
        targets[i : i + step] = kmh / KMH
        i += step
    v = np.empty(n)
    v[0] = targets[0]
    accel, brake = 2.5 / fps, 4.0 / fps  # m/s per frame
    for t in range(1, n):
        v[t] = v[t - 1] + np.clip(targets[t] - v[t - 1], -brake, accel)
    return _smooth(v, int(fps))


def _curvature_schedule(rng: np.random.Generator, n: int, fps: float) -> np.ndarray:
    """Curvature (1/m) the ego meets at each frame: straights of 4-12 s and curves of 6-20 s.

    Curves are long, gentle sweepers (150-600 m radius, as on rural roads and highways): a car
    that is turning now is likely still turning in the next seconds, and the yaw *rate* (distant
    hills panning past the camera) shows it as motion, while such a bend is only a pixel or two
    of road near the horizon in one small frame. Scheduling curves in time rather than distance
    keeps that relation the same at every speed.
    """
    k = np.zeros(n)
    i = 0
    while i < n:
        curve = rng.random() < 0.55
        step = int(rng.uniform(6.0, 20.0) * fps) if curve else int(rng.uniform(4.0, 12.0) * fps)
        if curve:
            k[i : i + step] = rng.choice([-1.0, 1.0]) / rng.uniform(150, 600)
        i += step
    return _smooth(k, int(1.5 * fps))  # curves come on over ~1.5 s (like a clothoid)


def _road(rng: np.random.Generator, s: np.ndarray, v: np.ndarray, fps: float) -> tuple[np.ndarray, ...]:
    """Road profiles on the ROAD_STEP grid: curvature placed where the ego is when it is due, and hills."""
    extra = int(400.0 / max(v[-1], 10.0) * fps)  # drive on past the end so the visible road ahead exists
    s_ext = np.concatenate([s, s[-1] + max(v[-1], 10.0) / fps * np.arange(1, extra + 1)])
    k_time = _curvature_schedule(rng, len(s_ext), fps)
    arrive = np.concatenate([[True], np.diff(s_ext) > 1e-6])  # first time the ego reaches each distance
    n = int(s_ext[-1] / ROAD_STEP) + 1
    grid = np.arange(n) * ROAD_STEP
    k = np.interp(grid, s_ext[arrive], k_time[arrive])
    theta = np.cumsum(k) * ROAD_STEP
    theta_int = np.cumsum(theta) * ROAD_STEP
    e = np.zeros(n)
    de = np.zeros(n)
    for _ in range(3):
        amp, wavelength, phase = rng.uniform(0.5, 3.0), rng.uniform(150, 450), rng.uniform(0, 2 * np.pi)
        e += amp * np.sin(2 * np.pi * grid / wavelength + phase)
        de += amp * 2 * np.pi / wavelength * np.cos(2 * np.pi * grid / wavelength + phase)
    return k, theta, theta_int, e, de


def _lanes(rng: np.random.Generator, v: np.ndarray, fps: float) -> tuple[np.ndarray, ...]:
    """Lane index and lateral position: lane changes every few seconds (only when moving)."""
    n = len(v)
    lane = np.empty(n, dtype=np.int8)
    current = int(rng.integers(2))
    t = 0
    next_change = int(rng.uniform(2.0, 8.0) * fps)
    while t < n:
        if t >= next_change and v[t] > 4.0:
            current = 1 - current
            next_change = t + int(rng.uniform(6.0, 12.0) * fps)
        lane[t] = current
        t += 1
    width = int(3.0 * fps)  # a lane change takes ~3 s
    x_lane = _smooth(np.asarray(LANE_CENTRES)[lane], width)
    # Drivers wander a little in their lane and follow curves without cutting them, so the lateral
    # position in one frame says nothing about the road ahead; a curve shows as the world panning past.
    x = x_lane + WANDER_M * _smooth_noise(rng, n, int(5.0 * fps))
    return lane, x_lane, x


def simulate_drive(seed: int, index: int, *, duration_s: float, fps: float) -> Drive:
    """Simulate drive ``index`` of the dataset with ``seed`` (deterministic)."""
    # Time of day and weather cycle through all 9 combinations over consecutive drives (balanced
    # classes even for a few drives); the phase depends on the seed.
    tod_offset, weather_offset = np.random.default_rng(seed).integers(3, size=2)
    rng = np.random.default_rng([seed, index])
    time_of_day = TIMES_OF_DAY[(index + tod_offset) % 3]
    weather = WEATHERS[(index // 3 + weather_offset) % 3]
    appearance = _appearance(rng, time_of_day, weather)
    n_video = int(round(duration_s * fps))
    n = n_video + int(LOOKAHEAD_S * fps) + 1
    v = _speed_profile(rng, n, fps)
    s = np.concatenate([[0.0], np.cumsum(v[:-1]) / fps]) + 50.0
    road_k, theta, theta_int, road_e, road_de = _road(rng, s, v, fps)
    road_len = len(road_k) * ROAD_STEP
    lane, x_lane, x = _lanes(rng, v, fps)
    yaw = np.clip(np.gradient(x) * fps / np.maximum(v, 4.0), -0.12, 0.12)

    # Lead vehicle: the gap opens and closes independently of ego speed; the lead never reverses.
    gap = 24.0 + 12.0 * _smooth_noise(rng, n, int(3.0 * fps))
    s_lead = np.maximum.accumulate(s + np.clip(gap, 7.0, None))
    lead_gap = s_lead - s
    lead_x = np.interp(np.arange(n) + fps, np.arange(n), x)  # the lead changes lane ~1 s before the ego
    veh_s, veh_x, oncoming = [s_lead], [lead_x], [False]
    # Oncoming traffic: independent cars at their own speed in the oncoming lane.
    pos = s[0] - 50.0
    times = np.arange(n) / fps
    while pos < road_len + 40.0 * times[-1]:
        pos += rng.uniform(40.0, 180.0)
        speed = rng.uniform(10.0, 25.0)
        veh_s.append(pos - speed * times)
        veh_x.append(np.full(n, ONCOMING_X + rng.uniform(-0.3, 0.3)))
        oncoming.append(True)
    # Same-direction traffic in the lane the ego is not in, overtaking or being overtaken.
    change_points = np.flatnonzero(np.diff(lane)) + 1
    bounds = np.concatenate([[0], change_points, [n]])
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b - a < 3 * fps or rng.random() < 0.25:
            continue
        z0, z1 = (rng.uniform(60, 110), -15.0) if rng.random() < 0.5 else (-15.0, rng.uniform(60, 110))
        rel = np.full(n, -200.0)
        margin = int(1.5 * fps)  # keep the neighbour lane clear around lane changes
        rel[a + margin : b - margin] = np.linspace(z0, z1, max(0, b - a - 2 * margin))
        other_x = LANE_CENTRES[1 - lane[a]] + rng.uniform(-0.2, 0.2)
        veh_s.append(s + rel)
        veh_x.append(np.full(n, other_x))
        oncoming.append(False)
    rgb = rng.uniform(0.05, 0.95, (len(veh_s), 3))
    rgb[rng.random(len(veh_s)) < 0.4] = rng.uniform(0.1, 0.9, (1,))  # many cars are grey/white/black

    # Roadside objects: poles at a regular spacing, trees in clumps, a few signs.
    obj = []
    pole_x = rng.choice([-1.0, 1.0]) * rng.uniform(6.2, 7.5)
    for p in np.arange(rng.uniform(0, 30), road_len, rng.uniform(25, 40)):
        obj.append((p, pole_x, 0, rng.uniform(5.5, 7.0)))
    for p in np.sort(rng.uniform(0, road_len, int(road_len / rng.uniform(10, 30)))):
        side = rng.choice([-1.0, 1.0])
        obj.append((p, side * rng.uniform(7.5, 25.0), 1, rng.uniform(4.0, 9.0)))
    for p in np.sort(rng.uniform(0, road_len, int(road_len / 150))):
        obj.append((p, rng.choice([-1.0, 1.0]) * rng.uniform(6.0, 7.0), 2, 2.2))
    obj_arr = np.array(sorted(obj))
    shake = appearance.shake_px
    return Drive(
        fps=fps, n_video=n_video, s=s, v=v, x=x, yaw=yaw, lane=lane, x_lane=x_lane, lead_gap=lead_gap,
        veh_s=np.stack(veh_s), veh_x=np.stack(veh_x), veh_rgb=rgb, veh_oncoming=np.array(oncoming),
        road_k=road_k, road_theta=theta, road_theta_int=theta_int, road_e=road_e, road_de=road_de,
        obj_s=obj_arr[:, 0], obj_x=obj_arr[:, 1], obj_kind=obj_arr[:, 2].astype(np.int8), obj_h=obj_arr[:, 3],
        pitch_px=shake * _smooth_noise(rng, n, 2), yaw_px=0.5 * shake * _smooth_noise(rng, n, 3),
        appearance=appearance, noise_seed=int(rng.integers(2**31)),
    )


def road_at(profile: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Linear interpolation of a road profile (on the ROAD_STEP grid) at distances ``s``."""
    return np.interp(s, np.arange(len(profile)) * ROAD_STEP, profile)
