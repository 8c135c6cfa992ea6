"""Build labeled drive-like footage that ssl_video did not render: a yardstick off the built-in world.

Each source is a simulator from PyPI, driven by a simple seeded controller (no human), rendered
headless on the CPU. This script writes ``OUT/drive_000.mp4 ...`` (libx264, yuv420p, one per drive),
``OUT/drive_000.npz ...`` (the simulator state at every video frame, from which the labels come)
and ``OUT/labels.csv`` in ssl_video's manifest format (``video,start_s,end_s,sequence,<labels>``;
``sequence`` = the drive, so splits keep drives apart).

Sources and the packages they need (NOT dependencies of ssl_video; install them yourself):

  carracing  pip install "gymnasium[box2d]==1.4.0"      (Box2D 2.3.10, pygame-ce)
             gymnasium's CarRacing-v3 track and car physics; a chase camera above the car that
             turns with it (the car points up, 3/4 of the view ahead), drawn without the
             indicator bar (it shows the speed). Controller: pure pursuit on the track centre line
             with a slowly wandering lateral offset, random speed targets every 3-8 s, capped in
             bends.
  highway    pip install "highway-env==1.12.1"          (gymnasium, pygame-ce)
             highway-env's 4-lane highway, top-down view following the ego car (drawn green).
             Controller: IDM for the speed (no rear-ending) with random target speeds every
             3-8 s, random lane changes when the gaps in the target lane are safe; traffic that
             falls far behind or ahead is re-spawned around the ego.
  pybullet   pip install "pybullet==3.2.7"              (scipy, Pillow: already there with ssl_video)
             a forward camera (a dash-cam: 1.3 m up, 45 degrees of vertical view) in a car on a
             random two-lane loop of 0.6-0.85 km, driven either way round, with buildings, trees, poles
             and other cars (some ahead in its lane, some oncoming), drawn by pybullet's CPU renderer
             (TinyRenderer, 2x supersampled). Controller: random speed targets (3-22 m/s) every 3-8 s,
             capped in bends and behind a slower car, a slowly wandering offset in the lane.

Labels (from the simulator state, never from pixels), per window of ``--window-s`` seconds
(default 2 s; windows tile each drive and stop where the look-ahead second runs out):

  speed          mean ego speed over the window (carracing: Box2D units/s, highway and pybullet: m/s)
  speed_bucket   slow / medium / fast: tertiles of ``speed`` over the whole dataset
  turn_ahead     left / straight / right: where the car goes in the 1 s AFTER the window ends
                 (``--ahead-s``). carracing, pybullet: the car's heading change (``heading_change_deg``,
                 + = right), "straight" below the 1/3 quantile of |change| over the dataset.
                 highway (a straight road): the lateral move (``lateral_ahead_m``, + = right),
                 left/right beyond 1 m (a lane change under way or starting).
  turn_now       the same over the window itself (``heading_now_deg``, ``lateral_now_m``): the direction
                 of motion that the clip shows (a difference image alone does not give its sign)

With ``--arrow``, also ``OUT/drive_000_fwd.mp4``, ``OUT/drive_000_rev.mp4 ...`` (each drive
re-encoded forwards and backwards, so that both went through the encoder twice) and
``OUT/arrow.csv``: every window of labels.csv twice, forward and backward (the same frames in the
other order, ``sequence`` = the drive for both), labelled ``arrow_of_time`` forward / backward: a
label that needs no annotator and that frame differences do not give away (a difference image has
no sign of motion without the frame it came from).

Usage (deterministic given --seed; resumable: finished drives are skipped, every file is written
to a .tmp and renamed; one core):

  OMP_NUM_THREADS=1 nice -n 10 python benchmarks/external_drives.py --source carracing \\
      --out runs/external/carracing --drives 40 --seconds 60 --fps 10 --size 96 96 --seed 0

``labels.csv`` is rewritten from all drive states at the end of every run (tertiles are
dataset-wide, so they depend on --drives).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
# highway-env disables its drawing under SDL's "dummy" video driver; its offscreen surfaces need no display.
if os.environ.get("SDL_VIDEODRIVER") == "dummy":
    del os.environ["SDL_VIDEODRIVER"]

import av  # noqa: E402
import numpy as np  # noqa: E402

PIP = {
    "carracing": 'pip install "gymnasium[box2d]==1.4.0"',
    "highway": 'pip install "highway-env==1.12.1"',
    "pybullet": 'pip install "pybullet==3.2.7"',
}
NEEDS = {"carracing": ("Box2D", "pygame", "gymnasium"), "highway": ("highway_env", "pygame", "gymnasium"),
         "pybullet": ("pybullet", "scipy")}  # modules each source imports
DEFAULT_SIZE = {"carracing": (96, 96), "highway": (160, 96), "pybullet": (160, 96)}  # (W, H)
HEADING_SOURCES = ("carracing", "pybullet")  # labels from the heading change; highway's from the lateral move
KEYFRAME_S = 1.0


class MissingPackage(RuntimeError):
    pass


def _need(source: str) -> None:
    import importlib

    for name in NEEDS[source]:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise MissingPackage(f"source {source!r} needs {name!r} ({exc}); install it with: {PIP[source]}") from exc


def x264_options(fps: float) -> dict[str, str]:
    from ssl_video.data.x264 import deterministic_x264_params

    return {"preset": "veryfast", "crf": "20", "g": str(max(1, round(KEYFRAME_S * fps))),
            **deterministic_x264_params()}


# ----------------------------------------------------------------------------------------------
# carracing


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def carracing_drive(seed: int, index: int, seconds: float, fps: float, size: tuple[int, int]):
    """Yield (frame (H, W, 3) uint8, state dict) at ``fps`` for one drive."""
    _need("carracing")
    import gymnasium as gym
    import pygame
    from gymnasium.envs.box2d import car_racing as cr

    rng = np.random.default_rng([seed, index, 1])
    env = gym.make("CarRacing-v3", render_mode="rgb_array", continuous=True).unwrapped
    env.reset(seed=int(seed * 100_003 + index))
    track = np.array([(t[2], t[3]) for t in env.track])
    n_track = len(track)
    seg = np.roll(track, -1, axis=0) - track
    track_heading = np.arctan2(seg[:, 1], seg[:, 0])
    step_len = float(np.mean(np.linalg.norm(seg, axis=1)))
    car = env.car
    w, h = size
    ss = 2  # supersampling for smooth edges
    view_units = 70.0  # the view is this many world units wide
    zoom = ss * w / view_units
    dt = 1.0 / cr.FPS
    steps_per_frame = cr.FPS / fps
    n_frames = int(round(seconds * fps))
    warmup = int(2.0 * cr.FPS)

    nearest = 0
    speed_target = 0.0
    next_target_t = 0.0
    offset = 0.0
    offset_target = 0.0
    t = 0.0

    def control():
        nonlocal nearest, speed_target, next_target_t, offset, offset_target
        hull = car.hull
        pos = np.array(hull.position)
        vel = np.array(hull.linearVelocity)
        speed = float(np.linalg.norm(vel))
        window = (nearest + np.arange(-5, 30)) % n_track
        nearest = int(window[np.argmin(np.linalg.norm(track[window] - pos, axis=1))])
        if t >= next_target_t:
            speed_target = float(rng.uniform(15.0, 95.0))
            offset_target = float(rng.uniform(-3.0, 3.0))
            next_target_t = t + float(rng.uniform(3.0, 8.0))
        offset += (offset_target - offset) * 0.01
        # slow down before bends: the heading change of the track in the next ~60 units
        ahead = int(60.0 / step_len)
        bend = abs(_wrap(track_heading[(nearest + ahead) % n_track] - track_heading[nearest]))
        cap = 95.0 if bend < 0.3 else max(25.0, 95.0 - 60.0 * (bend - 0.3))
        target_v = min(speed_target, cap)
        look = max(2, int((6.0 + 0.25 * speed) / step_len))
        k = (nearest + look) % n_track
        normal = np.array([-math.sin(track_heading[k]), math.cos(track_heading[k])])
        aim = track[k] + offset * normal
        fwd = np.array(hull.GetWorldVector((0, 1)))
        right = np.array(hull.GetWorldVector((1, 0)))
        d = aim - pos
        err = math.atan2(float(d @ right), float(d @ fwd))
        steer = float(np.clip(2.0 * err, -1.0, 1.0))  # action[0] > 0 steers right
        if speed < target_v:
            gas, brake = float(np.clip(0.08 * (target_v - speed), 0.0, 0.6)), 0.0
        else:
            gas, brake = 0.0, float(np.clip(0.03 * (speed - target_v), 0.0, 0.6))
        car.steer(-steer)
        car.gas(gas)
        car.brake(brake)
        return speed, steer

    def physics():
        nonlocal t
        control()
        car.step(dt)
        env.world.Step(dt, 6 * 30, 2 * 30)
        env.t += dt
        t += dt

    def render() -> np.ndarray:
        surf = pygame.Surface((w * ss, h * ss))
        angle = -car.hull.angle
        scroll = pygame.math.Vector2((-car.hull.position[0] * zoom, -car.hull.position[1] * zoom)).rotate_rad(angle)
        trans = (w * ss / 2 + scroll[0], h * ss / 4 + scroll[1])
        env.surf = surf
        env._render_road(zoom, trans, angle)
        car.draw(surf, zoom, trans, angle, False)
        surf = pygame.transform.flip(surf, False, True)
        small = pygame.transform.smoothscale(surf, (w, h))
        return np.ascontiguousarray(np.transpose(pygame.surfarray.array3d(small), (1, 0, 2)))

    try:
        for _ in range(warmup):
            physics()
        done = 0.0
        for f in range(n_frames):
            hull = car.hull
            pos = np.array(hull.position)
            state = {
                "t": f / fps,
                "speed": float(np.linalg.norm(np.array(hull.linearVelocity))),
                "heading": float(hull.angle),
                "x": float(pos[0]), "y": float(pos[1]),
                "off_track_m": float(np.min(np.linalg.norm(track - pos, axis=1))),
                "speed_target": speed_target,
            }
            yield render(), state
            done += steps_per_frame
            while done >= 1.0 - 1e-9:
                physics()
                done -= 1.0
    finally:
        env.close()


# ----------------------------------------------------------------------------------------------
# highway


def highway_drive(seed: int, index: int, seconds: float, fps: float, size: tuple[int, int]):
    _need("highway")
    import gymnasium as gym
    import highway_env  # noqa: F401  (registers the envs)
    from highway_env.vehicle.behavior import IDMVehicle

    rng = np.random.default_rng([seed, index, 2])
    w, h = size
    substeps = 2
    lanes = 4
    density = float(rng.uniform(0.8, 1.6))
    config = {
        "screen_width": w, "screen_height": h, "scaling": 3.0 * w / 160.0,
        "centering_position": [0.3, 0.5], "simulation_frequency": fps * substeps, "policy_frequency": fps,
        "vehicles_count": 40, "vehicles_density": density, "lanes_count": lanes, "duration": 10_000,
        "show_trajectories": False, "render_agent": False, "offscreen_rendering": True,
    }
    env = gym.make("highway-v0", render_mode="rgb_array", config=config).unwrapped
    env.reset(seed=int(seed * 100_003 + index))
    road = env.road
    old = env.vehicle
    ego = IDMVehicle.create_from(old)
    ego.enable_lane_change = False  # lane changes are ours
    ego.color = (60, 200, 60)
    road.vehicles[road.vehicles.index(old)] = ego
    env.controlled_vehicles = [ego]
    network = road.network
    dt = 1.0 / (fps * substeps)
    n_frames = int(round(seconds * fps))
    t = 0.0
    next_speed_t = 0.0
    next_lane_t = float(rng.uniform(2.0, 6.0))

    def gaps(lane_index):
        front, rear = road.neighbour_vehicles(ego, lane_index)
        lane = network.get_lane(lane_index)
        s = lane.local_coordinates(ego.position)[0]
        gf = lane.local_coordinates(front.position)[0] - s if front else 1e9
        gr = s - lane.local_coordinates(rear.position)[0] if rear else 1e9
        vr = rear.speed if rear else 0.0
        return gf, gr, vr

    def control():
        nonlocal next_speed_t, next_lane_t
        if t >= next_speed_t:
            ego.target_speed = float(rng.uniform(12.0, 38.0))
            next_speed_t = t + float(rng.uniform(3.0, 8.0))
        if t >= next_lane_t and ego.lane_index == ego.target_lane_index:
            a, b, lane_id = ego.lane_index
            options = [d for d in (-1, 1) if 0 <= lane_id + d < lanes]
            d = int(rng.choice(options))
            target = (a, b, lane_id + d)
            gf, gr, vr = gaps(target)
            if gf > 15.0 + 0.5 * ego.speed and gr > 10.0 + max(0.0, vr - ego.speed) * 2.0:
                ego.target_lane_index = target
                next_lane_t = t + float(rng.uniform(3.0, 9.0))
            else:
                next_lane_t = t + 0.5

    def recycle():
        """Keep traffic around the ego: re-spawn cars more than 180 m away, 90-170 m ahead or behind."""
        for i, v in enumerate(road.vehicles):
            if v is ego or abs(v.position[0] - ego.position[0]) < 180.0:
                continue
            for _ in range(5):
                ahead = bool(rng.random() < 0.6)
                x = ego.position[0] + (1 if ahead else -1) * float(rng.uniform(90.0, 170.0))
                lane_index = ("0", "1", int(rng.integers(lanes)))
                others = (o for o in road.vehicles if o is not v)
                if all(abs(o.position[0] - x) > 20.0 or o.lane_index != lane_index for o in others):
                    speed = float(rng.uniform(18.0, 30.0))
                    new = IDMVehicle.make_on_lane(road, lane_index, longitudinal=x, speed=speed)
                    new.target_speed = float(rng.uniform(20.0, 32.0))
                    new.randomize_behavior()
                    road.vehicles[i] = new
                    break

    try:
        for f in range(n_frames):
            lane = network.get_lane(ego.lane_index)
            state = {
                "t": f / fps,
                "speed": float(ego.speed),
                "heading": float(ego.heading),
                "x": float(ego.position[0]), "y": float(ego.position[1]),
                "lane": int(ego.lane_index[2]),
                "lane_offset_m": float(lane.local_coordinates(ego.position)[1]),
                "crashed": float(ego.crashed),
                "speed_target": float(ego.target_speed),
            }
            yield np.ascontiguousarray(env.render()), state
            control()
            for _ in range(substeps):
                road.act()
                road.step(dt)
                t += dt
            env.time = t
            if f % max(1, int(fps)) == 0:
                recycle()
    finally:
        env.close()


# ----------------------------------------------------------------------------------------------
# pybullet: a forward (dash-cam) camera


ROAD_STEP = 0.1  # metres of arc length between the road's centre points


def _loop(rng):
    """A random smooth closed road, driven either way round: radius R0 * (1 + sum_k a_k cos(k theta + phi_k)),
    k = 2..4, resampled every ``ROAD_STEP`` m. Returns centre points (n, 2), unit tangents (n, 2), curvature (n,)
    and the length in m."""
    r0 = float(rng.uniform(100.0, 130.0))
    amps, phases = rng.uniform(0.03, 0.09, 3), rng.uniform(0.0, 2 * math.pi, 3)
    theta = np.linspace(0.0, 2 * math.pi, 200_000, endpoint=False)
    r = r0 * (1.0 + sum(a * np.cos(k * theta + ph) for k, a, ph in zip((2, 3, 4), amps, phases)))
    xy = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    if rng.random() < 0.5:  # clockwise: half the drives turn mostly right
        xy = xy[::-1].copy()
    seg = np.linalg.norm(np.roll(xy, -1, axis=0) - xy, axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    length = float(s[-1])
    u = np.arange(0.0, length, ROAD_STEP)
    centre = np.stack([np.interp(u, s, np.append(xy[:, i], xy[0, i])) for i in range(2)], axis=1)
    d1 = (np.roll(centre, -1, axis=0) - np.roll(centre, 1, axis=0)) / (2 * ROAD_STEP)
    tangent = d1 / np.linalg.norm(d1, axis=1, keepdims=True)
    heading = np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0]))
    curvature = np.gradient(heading, ROAD_STEP)
    return centre, tangent, curvature, length


def _ground_texture(rng, centre, tangent, extent: float, pixels: int) -> np.ndarray:
    """(pixels, pixels, 3) uint8, row 0 at y = -extent / 2: grass and asphalt with per-texel noise, edge lines,
    a dashed centre line (3 m dashes every 9 m)."""
    from scipy.spatial import cKDTree

    grass = rng.uniform([55, 95, 35], [95, 140, 60]).astype(np.float32)
    asphalt = float(rng.uniform(75, 110))
    img = np.clip(grass + rng.normal(0.0, 14.0, (pixels, pixels, 1)).astype(np.float32), 0, 255)
    res = extent / pixels
    # only texels within 8 m of a centre point sampled every 2 m can be road: look those up, not the whole square
    band = np.zeros((pixels, pixels), dtype=bool)
    r = int(math.ceil(8.0 / res))
    for cx, cy in ((centre[::int(2.0 / ROAD_STEP)] + extent / 2) / res).astype(int):
        band[max(0, cy - r):cy + r + 1, max(0, cx - r):cx + r + 1] = True
    rows = np.flatnonzero(band)
    px = np.stack([rows % pixels, rows // pixels], axis=1) * res - extent / 2 + res / 2
    dist, idx = cKDTree(centre).query(px, distance_upper_bound=6.0)
    near = np.isfinite(dist)
    pts, idx, rows = px[near], idx[near], rows[near]
    normal = np.stack([-tangent[idx, 1], tangent[idx, 0]], axis=1)
    lateral = np.abs(np.sum((pts - centre[idx]) * normal, axis=1))
    along = idx * ROAD_STEP
    flat = img.reshape(-1, 3)
    road = lateral < 3.9
    flat[rows[road]] = np.clip(asphalt + rng.normal(0.0, 7.0, (int(road.sum()), 1)), 0, 255)
    line = ((lateral > 3.5) & (lateral < 3.7)) | ((lateral < 0.08) & (along % 9.0 < 3.0))
    flat[rows[line]] = 235.0
    return img.astype(np.uint8)


def pybullet_drive(seed: int, index: int, seconds: float, fps: float, size: tuple[int, int]):
    """Yield (frame (H, W, 3) uint8, state dict) at ``fps`` for one drive: a car's forward camera on a random
    two-lane loop with buildings, trees and other cars, drawn by pybullet's CPU renderer."""
    _need("pybullet")
    import tempfile

    import pybullet as pb
    from scipy.spatial import cKDTree

    rng = np.random.default_rng([seed, index, 3])
    w, h = size
    ss = 2  # supersampling for smooth edges
    centre, tangent, curvature, length = _loop(rng)
    n = len(centre)
    right = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    extent = 2 * float(np.abs(centre).max()) + 60.0
    client = pb.connect(pb.DIRECT)
    try:
        half = extent / 2
        ground = pb.createVisualShape(pb.GEOM_MESH, vertices=[[-half, -half, 0], [half, -half, 0], [half, half, 0],
                                                              [-half, half, 0]],
                                      indices=[0, 1, 2, 0, 2, 3], uvs=[[0, 0], [1, 0], [1, 1], [0, 1]],
                                      normals=[[0, 0, 1]] * 4, physicsClientId=client)
        body = pb.createMultiBody(0, -1, ground, physicsClientId=client)
        texture = _ground_texture(rng, centre, tangent, extent, 4096)
        with tempfile.TemporaryDirectory() as tmp:
            from PIL import Image

            Image.fromarray(texture[::-1]).save(Path(tmp) / "ground.png", compress_level=0)  # row 0: v = 1
            tex = pb.loadTexture(str(Path(tmp) / "ground.png"), physicsClientId=client)
        pb.changeVisualShape(body, -1, textureUniqueId=tex, physicsClientId=client)

        def shape(kind, colour, **kw):
            return pb.createVisualShape(kind, rgbaColor=[*colour, 1.0], physicsClientId=client, **kw)

        # the roadside: a building, a tree or a pole every 6-30 m on each side, none over the road (nor, in a
        # bend, over the road further on)
        road = cKDTree(centre)

        def clear(x, y, radius):
            return road.query([x, y])[0] >= 4.4 + radius

        for side in (-1.0, 1.0):
            s = float(rng.uniform(0.0, 10.0))
            while s < length - 10.0:
                i = int(s / ROAD_STEP) % n
                off = float(rng.uniform(6.0, 14.0))
                kind = rng.random()
                if kind < 0.45:
                    bh = float(rng.uniform(3.0, 14.0))
                    ext = [float(rng.uniform(1.5, 4.0)), float(rng.uniform(1.5, 4.0)), bh / 2]
                    colour, yaw = rng.uniform(0.3, 0.95, 3), float(rng.uniform(0, 3.2))
                    radius = math.hypot(ext[0], ext[1])
                    x, y = centre[i] + side * (off + radius) * right[i]
                    if clear(x, y, radius):
                        pb.createMultiBody(0, -1, shape(pb.GEOM_BOX, colour, halfExtents=ext),
                                           basePosition=[x, y, bh / 2],
                                           baseOrientation=pb.getQuaternionFromEuler([0, 0, yaw]),
                                           physicsClientId=client)
                elif kind < 0.85:
                    th, radius = float(rng.uniform(2.5, 5.0)), float(rng.uniform(1.0, 2.2))
                    leaves = (0.1, float(rng.uniform(0.3, 0.6)), 0.1)
                    x, y = centre[i] + side * (off + radius) * right[i]
                    if clear(x, y, radius):
                        pb.createMultiBody(0, -1, shape(pb.GEOM_CYLINDER, (0.4, 0.3, 0.2), radius=0.25, length=th),
                                           basePosition=[x, y, th / 2], physicsClientId=client)
                        pb.createMultiBody(0, -1, shape(pb.GEOM_SPHERE, leaves, radius=radius),
                                           basePosition=[x, y, th], physicsClientId=client)
                else:
                    x, y = centre[i] + side * 4.5 * right[i]
                    if clear(x, y, 0.0):
                        pb.createMultiBody(0, -1, shape(pb.GEOM_CYLINDER, (0.8, 0.8, 0.8), radius=0.08, length=3.0),
                                           basePosition=[x, y, 1.5], physicsClientId=client)
                s += float(rng.uniform(6.0, 30.0))

        # other cars: some ahead in the ego's lane (+1.75 m), some oncoming (-1.75 m); kinematic, each at its speed
        def cap(i):  # a speed that keeps lateral acceleration under 3 m/s^2 in the bend at index i
            return math.sqrt(3.0 / max(abs(float(curvature[i])), 1e-4))

        cars = []
        for lane, count in ((1.0, int(rng.integers(2, 5))), (-1.0, int(rng.integers(3, 8)))):
            for _ in range(count):
                colour = rng.uniform(0.1, 0.95, 3)
                body = pb.createMultiBody(0, -1, shape(pb.GEOM_BOX, colour, halfExtents=[2.2, 0.9, 0.7]),
                                          physicsClientId=client)
                cars.append({"lane": lane, "s": float(rng.uniform(40.0, length - 40.0)),
                             "v": float(rng.uniform(6.0, 15.0)), "body": body})

        n_frames = int(round(seconds * fps))
        substeps = 4
        dt = 1.0 / (fps * substeps)
        s_ego, v, offset, offset_target = 0.0, float(rng.uniform(4.0, 12.0)), 0.0, 0.0
        speed_target, next_target_t, t = 0.0, 0.0, 0.0
        proj = pb.computeProjectionMatrixFOV(45.0, w / h, 0.2, 250.0, physicsClientId=client)
        light = [float(x) for x in rng.uniform([-1, -1, 0.5], [1, 1, 1.5])]

        def pose(s, lateral):
            i = int(s / ROAD_STEP) % n
            return centre[i] + lateral * right[i], i

        def step():
            nonlocal s_ego, v, offset, offset_target, speed_target, next_target_t, t
            if t >= next_target_t:
                speed_target = float(rng.uniform(3.0, 22.0))
                offset_target = float(rng.uniform(-0.6, 0.6))
                next_target_t = t + float(rng.uniform(3.0, 8.0))
            i = int(s_ego / ROAD_STEP) % n
            ahead = range(i, i + int(40.0 / ROAD_STEP), int(2.0 / ROAD_STEP))  # the next 40 m
            target = min(speed_target, min(cap(k % n) for k in ahead))
            for car in cars:
                if car["lane"] > 0:
                    gap = (car["s"] - s_ego) % length - 4.4
                    target = min(target, car["v"] * max(0.0, gap - 6.0) / max(2.0 * v + 4.0, 1.0))
            v = float(np.clip(target, v - 4.0 * dt, v + 2.5 * dt))
            offset += (offset_target - offset) * 0.5 * dt
            s_ego = (s_ego + v * dt) % length
            for car in cars:
                j = int(car["s"] / ROAD_STEP) % n
                car["s"] = (car["s"] + car["lane"] * min(car["v"], cap(j)) * dt) % length
            t += dt

        def render():
            (x, y), i = pose(s_ego, 1.75 + offset)
            yaw = math.atan2(tangent[i, 1], tangent[i, 0])
            for car in cars:
                (cx, cy), j = pose(car["s"], 1.75 * car["lane"])
                cyaw = math.atan2(tangent[j, 1], tangent[j, 0])
                pb.resetBasePositionAndOrientation(car["body"], [cx, cy, 0.7], pb.getQuaternionFromEuler([0, 0, cyaw]),
                                                   physicsClientId=client)
            eye = [float(x), float(y), 1.3]
            at = [eye[0] + 10.0 * math.cos(yaw), eye[1] + 10.0 * math.sin(yaw), 0.9]
            view = pb.computeViewMatrix(eye, at, [0, 0, 1], physicsClientId=client)
            _, _, rgb, _, _ = pb.getCameraImage(w * ss, h * ss, view, proj, renderer=pb.ER_TINY_RENDERER,
                                                lightDirection=light, shadow=0,
                                                flags=pb.ER_NO_SEGMENTATION_MASK, physicsClientId=client)
            rgb = np.reshape(np.asarray(rgb, dtype=np.uint8), (h * ss, w * ss, 4))[:, :, :3].astype(np.float32)
            small = rgb.reshape(h, ss, w, ss, 3).mean(axis=(1, 3))
            return np.ascontiguousarray(np.round(small).astype(np.uint8)), yaw, (x, y)

        for _ in range(int(2.0 * fps * substeps)):
            step()
        for f in range(n_frames):
            frame, yaw, (x, y) = render()
            yield frame, {"t": f / fps, "speed": v, "heading": yaw, "x": float(x), "y": float(y),
                          "speed_target": speed_target}
            for _ in range(substeps):
                step()
    finally:
        pb.disconnect(client)


SOURCES = {"carracing": carracing_drive, "highway": highway_drive, "pybullet": pybullet_drive}


# ----------------------------------------------------------------------------------------------
# writing


def _drive_name(index: int, drives: int) -> str:
    return f"drive_{index:0{max(3, len(str(drives - 1)))}d}"


def _x264_stream(container, fps: float, size: tuple[int, int]):
    """The one way drives are encoded: libx264, yuv420p, ``x264_options``, one thread; ``size`` = (W, H)."""
    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.options = x264_options(fps)
    stream.codec_context.thread_count = 1
    return stream


def build_drive(source: str, out: Path, name: str, seed: int, index: int, seconds: float, fps: float,
                size: tuple[int, int]) -> None:
    mp4, npz = out / f"{name}.mp4", out / f"{name}.npz"
    tmp_mp4, tmp_npz = out / f"{name}.mp4.tmp", out / f"{name}.npz.tmp"
    states: dict[str, list[float]] = {}
    with av.open(str(tmp_mp4), mode="w", format="mp4") as container:
        stream = _x264_stream(container, fps, size)
        for frame, state in SOURCES[source](seed, index, seconds, fps, size):
            for key, value in state.items():
                states.setdefault(key, []).append(value)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    with open(tmp_npz, "wb") as handle:
        np.savez(handle, fps=fps, **{k: np.asarray(v, dtype=np.float64) for k, v in states.items()})
    os.replace(tmp_npz, npz)
    os.replace(tmp_mp4, mp4)


def window_rows(source: str, name: str, state: dict[str, np.ndarray], fps: float, window_s: float, ahead_s: float):
    n = len(state["t"])
    window = max(1, int(round(window_s * fps)))
    ahead = max(1, int(round(ahead_s * fps)))
    rows = []
    for start in range(0, n, window):
        stop = start + window  # exclusive
        last = stop - 1
        if last + ahead >= n:
            break
        row = {"video": f"{name}.mp4", "start_s": round(start / fps, 4), "end_s": round(stop / fps, 4),
               "sequence": name, "speed": round(float(state["speed"][start:stop].mean()), 3)}
        if source in HEADING_SOURCES:
            # + = right: Box2D and pybullet angles grow counter-clockwise (to the left)
            heading = np.unwrap(state["heading"][start:last + ahead + 1])
            row["heading_change_deg"] = round(math.degrees(-float(heading[-1] - heading[last - start])), 3)
            row["heading_now_deg"] = round(math.degrees(-float(heading[last - start] - heading[0])), 3)
        else:
            # highway-env's y grows to the driver's right
            row["lateral_ahead_m"] = round(float(state["y"][last + ahead] - state["y"][last]), 3)
            row["lateral_now_m"] = round(float(state["y"][last] - state["y"][start]), 3)
        rows.append(row)
    return rows


def write_labels(source: str, out: Path, names: list[str], window_s: float, ahead_s: float) -> Path:
    rows = []
    for name in names:
        with np.load(out / f"{name}.npz") as data:
            state = {k: data[k] for k in data.files}
        rows += window_rows(source, name, state, float(state["fps"]), window_s, ahead_s)
    speeds = np.array([r["speed"] for r in rows])
    lo, hi = np.quantile(speeds, [1 / 3, 2 / 3])
    for r in rows:
        r["speed_bucket"] = "slow" if r["speed"] < lo else "medium" if r["speed"] < hi else "fast"
    if source in HEADING_SOURCES:
        extra = ["heading_change_deg", "heading_now_deg"]
        for label, column in zip(("turn_ahead", "turn_now"), extra):
            cut = float(np.quantile(np.abs([r[column] for r in rows]), 1 / 3))
            for r in rows:
                c = r[column]
                r[label] = "straight" if abs(c) <= cut else ("right" if c > 0 else "left")
    else:
        extra = ["lateral_ahead_m", "lateral_now_m"]
        for label, column in zip(("turn_ahead", "turn_now"), extra):
            for r in rows:
                m = r[column]
                r[label] = "straight" if abs(m) < 1.0 else ("right" if m > 0 else "left")
    columns = ["video", "start_s", "end_s", "sequence", "speed_bucket", "turn_ahead", "turn_now", "speed", *extra]
    path = out / "labels.csv"
    tmp = out / "labels.csv.tmp"
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def write_reencoded(src: Path, dst: Path, fps: float, reverse: bool) -> None:
    """``dst``: the frames of ``src``, reversed with ``reverse``, encoded as ``build_drive`` encodes (atomic)."""
    with av.open(str(src)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    tmp = dst.with_name(dst.name + ".tmp")
    with av.open(str(tmp), mode="w", format="mp4") as container:
        stream = _x264_stream(container, fps, (frames[0].shape[1], frames[0].shape[0]))
        for frame in (reversed(frames) if reverse else frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    os.replace(tmp, dst)


def write_arrow(out: Path, names: list[str], fps: float, log=print) -> Path:
    """Re-encoded copies of the drives, forward and reversed, and ``arrow.csv``: each window of labels.csv forward
    and backward. Both copies went through the encoder twice, so compression artefacts cannot tell them apart."""
    from ssl_video._io import write_csv

    for name in names:
        for suffix, reverse in (("fwd", False), ("rev", True)):
            if not (out / f"{name}_{suffix}.mp4").exists():
                write_reencoded(out / f"{name}.mp4", out / f"{name}_{suffix}.mp4", fps, reverse)
                log(f"{name}_{suffix}.mp4: re-encoded", flush=True)
    lengths = {}
    for name in names:
        with np.load(out / f"{name}.npz") as data:
            lengths[name] = len(data["t"]) / float(data["fps"])
    rows = []
    with open(out / "labels.csv", newline="") as handle:
        for r in csv.DictReader(handle):
            name, start, end = r["sequence"], float(r["start_s"]), float(r["end_s"])
            rows.append({"video": f"{name}_fwd.mp4", "start_s": start, "end_s": end, "sequence": name,
                         "arrow_of_time": "forward"})
            # frame k of the reversed file is frame n-1-k of the drive: the same window, played backwards
            rows.append({"video": f"{name}_rev.mp4", "start_s": round(lengths[name] - end, 4),
                         "end_s": round(lengths[name] - start, 4), "sequence": name, "arrow_of_time": "backward"})
    return write_csv(out / "arrow.csv", ["video", "start_s", "end_s", "sequence", "arrow_of_time"], rows)


def build(source: str, out: str | Path, *, drives: int, seconds: float, fps: float, size: tuple[int, int], seed: int,
          window_s: float = 2.0, ahead_s: float = 1.0, arrow: bool = False, log=print) -> Path:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose from {sorted(SOURCES)}")
    _need(source)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [_drive_name(i, drives) for i in range(drives)]
    for index, name in enumerate(names):
        if (out / f"{name}.mp4").exists() and (out / f"{name}.npz").exists():
            continue
        start = time.perf_counter()
        build_drive(source, out, name, seed, index, seconds, fps, size)
        log(f"{source} {name}: {seconds:g} s of video in {time.perf_counter() - start:.1f} s", flush=True)
    path = write_labels(source, out, names, window_s, ahead_s)
    log(f"wrote {path}", flush=True)
    if arrow:
        log(f"wrote {write_arrow(out, names, fps, log=log)}", flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, choices=sorted(SOURCES))
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--drives", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of one drive")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--size", type=int, nargs=2, default=None, metavar=("W", "H"),
                        help="frame width and height (default: carracing 96 96, highway and pybullet 160 96)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window-s", type=float, default=2.0)
    parser.add_argument("--ahead-s", type=float, default=1.0, help="turn_ahead looks this far after the window")
    parser.add_argument("--arrow", action="store_true", help="also write each drive backwards and arrow.csv "
                        "(arrow_of_time: forward / backward)")
    args = parser.parse_args(argv)
    size = tuple(args.size) if args.size else DEFAULT_SIZE[args.source]
    if size[0] % 2 or size[1] % 2:
        parser.error("--size must be even (yuv420p)")
    try:
        build(args.source, args.out, drives=args.drives, seconds=args.seconds, fps=args.fps, size=size,
              seed=args.seed, window_s=args.window_s, ahead_s=args.ahead_s, arrow=args.arrow)
    except MissingPackage as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
