"""Dash-camera renderer for the driving world: vectorised NumPy scanlines plus a few sprites.

The ground is drawn one image row at a time, like pseudo-3D racing games: each row below the
horizon sees the road at one distance ``z``; the road centre, lane lines, dashes, lighting and
fog are per-row quantities, and only the lateral position of each pixel is per-pixel work.
Cars, poles, trees and signs are rectangles drawn far to near with perspective sizes.

Camera model (pinhole, used by the tests to predict pixel motion): focal length
``f = FOCAL * W`` pixels, principal point ``(W / 2, HORIZON * H)``, camera height
``CAMERA_HEIGHT`` metres. A flat-road point at distance ``z`` and lateral offset ``x`` from the
camera projects to column ``W / 2 + f x / z`` and row ``HORIZON * H + f CAMERA_HEIGHT / z``.
Frames are (T, H, W, 3) uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssl_video.data.drive_world.simulate import ROAD_HALF_WIDTH, Appearance, Drive, road_at

FOCAL = 0.9  # focal length as a fraction of the image width (~58 degree horizontal field of view)
HORIZON = 0.42  # principal point row as a fraction of the height
CAMERA_HEIGHT = 1.4  # m
Z_FAR = 160.0  # m: the road is drawn up to here, beyond is distant terrain
DASH_PERIOD, DASH_LENGTH = 12.0, 4.5  # m
LINE_HALF_WIDTH = 0.13  # m
_Z_GRID = np.geomspace(0.8, Z_FAR, 96)

# Lighting per time of day: ambient level, sky (horizon, zenith), fog colour.
_LIGHT = {
    "day": (1.0, (0.78, 0.85, 0.95), (0.35, 0.55, 0.9), (0.78, 0.8, 0.83)),
    "dusk": (0.7, (0.95, 0.6, 0.35), (0.3, 0.25, 0.45), (0.62, 0.5, 0.48)),
    "night": (0.1, (0.06, 0.07, 0.12), (0.01, 0.01, 0.04), (0.05, 0.05, 0.07)),
}
_WHITE = np.array([0.92, 0.92, 0.9], np.float32)
_YELLOW = np.array([0.95, 0.78, 0.2], np.float32)


@dataclass(frozen=True)
class Camera:
    """Dash camera: focal length (fraction of the image width), horizon row (fraction of the height), mounting
    height in metres. Another camera shows the same world as another car's dash cam would."""

    focal: float = FOCAL
    horizon: float = HORIZON
    height_m: float = CAMERA_HEIGHT

    def __post_init__(self) -> None:
        if not (self.focal > 0 and 0 < self.horizon < 1 and self.height_m > 0):
            raise ValueError(f"camera needs focal > 0, 0 < horizon < 1, height_m > 0, got {self}")


def camera(height: int, width: int, cam: Camera = Camera()) -> tuple[float, float, float]:
    """(focal px, centre column, horizon row) of the dash camera for an image size."""
    return cam.focal * width, width / 2.0, cam.horizon * height


def _lighting(drive: Drive, z: np.ndarray, weather_dim: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-distance multiplicative light and additive fog colour: colour -> colour * a + b."""
    ambient, _, _, fog_rgb = _LIGHT[drive.appearance.time_of_day]
    light = np.full_like(z, ambient * weather_dim)
    if drive.appearance.time_of_day == "night":
        light = light + 1.1 * np.exp(-z / 22.0)  # headlights
    fog = 1.0 - np.exp(-z / drive.appearance.fog_m)
    a = (light * (1.0 - fog)).astype(np.float32)
    b = (fog[..., None].astype(np.float32) * np.asarray(fog_rgb, np.float32)
         * (1.0 if drive.appearance.weather != "rain" else 0.8))
    return a, b


def render_frames(drive: Drive, height: int, width: int, start: int, stop: int, cam: Camera = Camera()) -> np.ndarray:
    """Render frames ``start:stop`` of ``drive`` as (T, H, W, 3) uint8, seen by the dash camera ``cam``."""
    idx = np.arange(start, stop)
    f, cx, cy = camera(height, width, cam)
    px = height / 128.0  # shake amplitudes are given for a 128-pixel-high image
    app = drive.appearance
    s_e, x_e, yaw = drive.s[idx], drive.x[idx], drive.yaw[idx]
    cy_t = cy + px * drive.pitch_px[idx]  # (T,)
    cx_t = cx + px * drive.yaw_px[idx]

    # Road geometry relative to the camera at sample distances: (T, Z).
    s_grid = s_e[:, None] + _Z_GRID
    theta0 = road_at(drive.road_theta, s_e)[:, None]
    lat = road_at(drive.road_theta_int, s_grid) - road_at(drive.road_theta_int, s_e)[:, None] - theta0 * _Z_GRID
    elev = (road_at(drive.road_e, s_grid) - road_at(drive.road_e, s_e)[:, None]
            - road_at(drive.road_de, s_e)[:, None] * _Z_GRID)
    row_of_z = cy_t[:, None] + f * (cam.height_m - elev) / _Z_GRID  # (T, Z)
    visible_row = np.minimum.accumulate(row_of_z, axis=1)  # a crest hides the road behind it

    rows = np.arange(height) + 0.5
    sky_end = np.minimum(visible_row[:, -1], cy_t)  # rows above this are sky
    r0 = int(np.clip(np.floor(sky_end.min() - 0.5), 0, height))  # first row that may be ground in this chunk
    rows_g = rows[r0:]
    n = len(idx)
    z_row = np.empty((n, len(rows_g)))
    lat_row = np.empty((n, len(rows_g)))
    for t in range(n):
        z_row[t] = np.interp(rows_g, visible_row[t, ::-1], _Z_GRID[::-1])
        lat_row[t] = np.interp(z_row[t], _Z_GRID, lat[t])
    z_row[rows_g[None, :] < visible_row[:, -1:]] = Z_FAR  # distant terrain beyond the last road sample

    scale = f / z_row  # (T, Hg) pixels per metre
    centre = (lat_row - x_e[:, None] - yaw[:, None] * z_row) * scale  # road centre offset from the camera axis, px
    s_row = s_e[:, None] + z_row
    u = np.arange(width, dtype=np.float32) + 0.5 - cx_t[:, None, None].astype(np.float32)  # (T, 1, W)
    xs = u - centre[:, :, None].astype(np.float32)  # (T, Hg, W) lateral pixel offset from the centreline
    ax = np.abs(xs)
    sc = scale[:, :, None].astype(np.float32)
    line = (LINE_HALF_WIDTH * sc + 0.5).astype(np.float32)  # (T, Hg, 1)

    def coverage(dist: np.ndarray, half: np.ndarray) -> np.ndarray:  # antialiased: 1 inside, 0 outside
        cov = np.subtract(half, dist, out=dist)
        return np.clip(cov, 0.0, 1.0, out=cov)

    road = coverage(ax.copy(), ROAD_HALF_WIDTH * sc + 0.5)
    edge = coverage(np.abs(ax - (ROAD_HALF_WIDTH - 0.3) * sc), line)
    dash_on = (s_row % DASH_PERIOD) < DASH_LENGTH
    dash_half = np.where(dash_on[:, :, None], line, -1e4).astype(np.float32)
    edge += coverage(np.abs(xs - 1.75 * sc), dash_half)
    yellow = coverage(np.abs(xs + 1.75 * sc), line)

    # Per-row lit colours (T, Hg, 3): lighting and fog are folded into the palette before the per-pixel blend.
    fade = np.clip(1.5 - z_row / 40.0, 0.0, 1.0)  # bands fade out where they would alias
    grass_band = 1.0 + 0.1 * fade * np.sign(np.sin(2 * np.pi * s_row / 14.0))  # motion cues at every speed
    road_band = 1.0 + 0.05 * fade * np.sign(np.sin(2 * np.pi * s_row / 23.0 + 1.0))
    dim = 0.75 if app.weather == "rain" else 1.0
    a_row, b_row = _lighting(drive, z_row, dim)
    a_row, b_row = a_row[..., None], b_row

    def lit(rgb, band=1.0) -> np.ndarray:  # (T, Hg, 3) -> (T, 3, Hg, 1) so the blend below runs along W
        rgb = np.clip(np.asarray(rgb)[None, None] * (band * a_row) + b_row, 0.0, 1.0)
        return rgb.transpose(0, 2, 1)[..., None].astype(np.float32)

    grass = lit(app.grass_rgb, grass_band[..., None])
    tarmac = lit(app.road_rgb, road_band[..., None])
    img = np.empty((n, 3, height, width), np.float32)  # channel-first while drawing: inner loops along W
    ground = img[:, :, r0:]
    np.multiply(road[:, None], tarmac - grass, out=ground)
    ground += grass
    ground += edge[:, None] * (lit(_WHITE) - tarmac)
    ground += yellow[:, None] * (lit(_YELLOW) - tarmac)

    _, horizon_rgb, zenith_rgb, fog_rgb = _LIGHT[app.time_of_day]
    up = np.clip((cy_t[:, None] - rows[None, :]) / cy, 0.0, 1.0)[..., None]  # (T, H, 1)
    sky_rgb = (np.asarray(horizon_rgb) * (1 - up) + np.asarray(zenith_rgb) * up) * dim
    if app.weather == "fog":
        sky_rgb = 0.25 * sky_rgb + 0.75 * np.asarray(fog_rgb)
    sky_rgb = sky_rgb.transpose(0, 2, 1)[..., None].astype(np.float32)  # (T, 3, H, 1)
    sky_rows = np.ceil(sky_end - 0.5).astype(int)
    for t in range(n):
        img[t, :, : sky_rows[t]] = sky_rgb[t, :, : sky_rows[t]]
    _draw_hills(img, app, theta0[:, 0] + yaw, f, cx_t, cy_t, sky_rows, horizon_rgb, fog_rgb, dim)
    _draw_sprites(img, drive, idx, f, cx_t, cy_t, lat, elev, visible_row, dim, cam.height_m)
    if app.weather == "rain":
        _draw_rain(img, drive, start, height, width)
    img *= 255.0
    img += 0.5
    np.clip(img, 0.0, 255.0, out=img)
    return img.astype(np.uint8).transpose(0, 2, 3, 1).copy()  # (T, 3, H, W) -> (T, H, W, 3)


def _draw_hills(img, app: Appearance, heading, f: float, cx_t, cy_t, sky_rows, horizon_rgb, fog_rgb,
                dim: float) -> None:
    """Distant hills above the horizon (with lights at night), fixed to world directions: they pan
    as the camera's world heading (T,) (road heading + yaw relative to the road, rad) turns."""
    height, width = img.shape[2:]
    azimuth = heading[:, None] + np.arctan((np.arange(width) + 0.5 - cx_t[:, None]) / f)  # (T, W)
    angle = np.full_like(azimuth, 0.012)
    for amp, cycles, phase in app.skyline:
        angle += amp * (1.0 + np.sin(cycles * azimuth + phase))
    top = cy_t[:, None] - f * angle  # (T, W) first hill row per column
    ambient = _LIGHT[app.time_of_day][0]
    haze = 0.9 if app.weather == "fog" else 0.45  # far away: mostly the colour of the air
    air = np.asarray(fog_rgb if app.weather == "fog" else horizon_rgb)
    rgb = ((1 - haze) * np.asarray(app.hills_rgb) * ambient + haze * air) * dim
    rows = np.arange(height)[None, :, None] + 0.5
    mask = (rows >= top[:, None, :]) & (rows < sky_rows[:, None, None])  # (T, H, W)
    for c in range(3):
        img[:, c][mask] = rgb[c]
    if app.time_of_day == "night":  # the hills are black: distant lights (farms, villages) mark the skyline
        lamp = ((1 - haze) * np.array([1.0, 0.85, 0.55]) + haze * air) * dim
        # (T, L) azimuth from the axis
        rel = (np.asarray(app.lights)[None, :] - heading[:, None] + np.pi) % (2 * np.pi) - np.pi
        u = cx_t[:, None] + f * np.tan(np.clip(rel, -1.0, 1.0))
        t_on, l_on = np.nonzero((np.abs(rel) < 1.0) & (u >= 0) & (u < width))
        col = u[t_on, l_on].astype(int)
        dot = max(1, round(height / 128))
        row = np.floor(top[t_on, col]).astype(int) - dot
        for t, r, c in zip(t_on.tolist(), row.tolist(), col.tolist()):
            img[t, :, max(r, 0) : max(r + dot, 0), c : c + dot] = lamp[:, None, None]


# Sprites are made of rectangles. Each template row is one rectangle, relative to the sprite's
# ground point (u, v), its height in pixels hgt and its scale sc (pixels per metre):
#   top = v + t1*hgt + t2*sc, bottom = v + b1*hgt + b2*sc, left/right = u + (l1*hgt + l2*sc) * mirror,
# then widened to at least min_w / min_h pixels; `colour` indexes the sprite's 4-colour palette and
# `lamp` marks lamps, which shine unlit at night.
#                         t1     t2    b1     b2    l1     l2     r1     r2    min_w min_h colour lamp
_TEMPLATES = {
    0: [[-1.0, 0.0, 0.0, 0.0, 0.0, -0.12, 0.0, 0.12, 1.0, 1.0, 0, 0],  # pole
        [-1.0, 0.0, -1.0, 0.15, 0.0, 0.0, 0.0, 1.2, 1.0, 1.0, 0, 0]],  # lamp arm (mirrored towards the road)
    1: [[-0.4, 0.0, 0.0, 0.0, 0.0, -0.2, 0.0, 0.2, 1.0, 1.0, 1, 0],  # trunk
        [-0.75, 0.0, -0.3, 0.0, -0.3, 0.0, 0.3, 0.0, 1.0, 1.0, 0, 0],  # canopy
        [-1.0, 0.0, -0.7, 0.0, -0.17, 0.0, 0.17, 0.0, 0.0, 0.0, 0, 0]],
    2: [[0.0, -2.2, 0.0, 0.0, 0.0, -0.06, 0.0, 0.06, 1.0, 1.0, 0, 0],  # sign post
        [0.0, -3.0, 0.0, -2.0, 0.0, -0.6, 0.0, 0.6, 1.0, 1.0, 1, 0]],  # board
    3: [[-1.0, 0.0, 0.0, 0.0, 0.0, -0.9, 0.0, 0.9, 1.0, 1.0, 0, 0],  # car body
        [-1.0, 0.0, -0.62, 0.0, 0.0, -0.72, 0.0, 0.72, 0.0, 0.0, 1, 0],  # window
        [-0.12, 0.0, 0.02, 0.0, 0.0, -0.77, 0.0, 0.77, 0.0, 0.0, 2, 0],  # bumper shadow
        [-0.55, 0.0, -0.4, 0.0, 0.0, -0.9, 0.0, -0.5, 1.0, 1.0, 3, 1],  # lamps
        [-0.55, 0.0, -0.4, 0.0, 0.0, 0.5, 0.0, 0.9, 1.0, 1.0, 3, 1]],
}
_TEMPLATE = np.array([row for k in range(4) for row in _TEMPLATES[k]], np.float64)
_KIND_ROWS = [np.arange(sum(len(_TEMPLATES[j]) for j in range(k)), sum(len(_TEMPLATES[j]) for j in range(k + 1)))
              for k in range(4)]
_PALETTE = np.array([  # (kind, colour, rgb) unlit
    [[0.55, 0.55, 0.55], [0, 0, 0], [0, 0, 0], [0, 0, 0]],
    [[0.12, 0.38, 0.12], [0.35, 0.24, 0.14], [0, 0, 0], [0, 0, 0]],
    [[0.5, 0.5, 0.5], [0.1, 0.35, 0.8], [0, 0, 0], [0, 0, 0]],
    [[0, 0, 0], [0.08, 0.09, 0.1], [0.03, 0.03, 0.03], [0.7, 0.05, 0.05]],
])
_HEAD_LAMP, _TAIL_LAMP = np.array([0.9, 0.85, 0.7]), np.array([0.7, 0.05, 0.05])
_NIGHT_HEAD, _NIGHT_TAIL = np.array([1.0, 0.95, 0.8]), np.array([1.0, 0.1, 0.08])


def _at_distance(table: np.ndarray, t: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Linear interpolation of per-frame tables (T, Z) sampled on _Z_GRID at (frame t, distance z) pairs."""
    pos = np.log(z / _Z_GRID[0]) / np.log(_Z_GRID[1] / _Z_GRID[0])  # the grid is geometric
    j = np.clip(pos.astype(int), 0, len(_Z_GRID) - 2)
    w = (z - _Z_GRID[j]) / (_Z_GRID[j + 1] - _Z_GRID[j])
    return table[t, j] * (1 - w) + table[t, j + 1] * w


def _draw_sprites(img, drive: Drive, idx, f: float, cx_t, cy_t, lat, elev, visible_row, dim: float,
                  camera_height: float = CAMERA_HEIGHT) -> None:
    """Roadside objects and vehicles of (T, 3, H, W) frames, far to near (painter's algorithm).

    All projection work is vectorised over the chunk; the only Python loop fills rectangles.
    """
    s_e = drive.s[idx]
    lo = np.searchsorted(drive.obj_s, s_e + 3.0)
    hi = np.searchsorted(drive.obj_s, s_e + 110.0)
    counts = hi - lo
    obj_t = np.repeat(np.arange(len(idx)), counts)
    obj = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
    veh_z = drive.veh_s[:, idx] - s_e  # (V, T)
    veh, veh_t = np.nonzero((veh_z > 3.0) & (veh_z < Z_FAR))
    t = np.concatenate([obj_t, veh_t])
    z = np.concatenate([drive.obj_s[obj] - s_e[obj_t], veh_z[veh, veh_t]])
    x = np.concatenate([drive.obj_x[obj], drive.veh_x[veh, idx[veh_t]]])
    kind = np.concatenate([drive.obj_kind[obj], np.full(len(veh), 3, np.int8)])
    ref = np.concatenate([obj, veh])
    size_m = np.concatenate([drive.obj_h[obj], np.full(len(veh), 1.45)])
    v = cy_t[t] + f * (camera_height - _at_distance(elev, t, z)) / z
    sc = f / z
    keep = (v <= _at_distance(visible_row, t, z) + 2.0) & (sc * size_m >= 1.0)  # not behind a crest, >= 1 px
    keep = np.flatnonzero(keep)
    order = keep[np.lexsort((-z[keep], t[keep]))]  # by frame, then far to near
    if len(order) == 0:
        return
    t, z, x, kind, ref, sc, v = t[order], z[order], x[order], kind[order], ref[order], sc[order], v[order]
    hgt = size_m[order] * sc
    frame = idx[t]
    u = cx_t[t] + (_at_distance(lat, t, z) + x - drive.x[frame] - drive.yaw[frame] * z) * sc
    mirror = np.where(kind == 0, -np.sign(x), 1.0)

    palette = _PALETTE[kind]  # (n, 4, 3)
    is_car = np.flatnonzero(kind == 3)
    car = ref[is_car]
    palette[is_car, 0] = drive.veh_rgb[car]
    palette[is_car, 3] = np.where(drive.veh_oncoming[car, None], _HEAD_LAMP, _TAIL_LAMP)
    palette[(kind == 2) & (ref % 2 == 0), 1] = (0.85, 0.85, 0.85)  # white and blue signs
    a, b = _lighting(drive, z, dim)
    lit = palette * a[:, None, None] + b[:, None, :]
    if drive.appearance.time_of_day == "night":
        lit[is_car, 3] = np.where(drive.veh_oncoming[car, None], _NIGHT_HEAD, _NIGHT_TAIL)

    n_rows = np.array([len(r) for r in _KIND_ROWS])[kind]
    owner = np.repeat(np.arange(len(kind)), n_rows)
    first = np.array([r[0] for r in _KIND_ROWS])[kind]
    rows = np.arange(n_rows.sum()) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows) + np.repeat(first, n_rows)
    tm = _TEMPLATE[rows]
    hh, ss, uu, vv, mm = hgt[owner], sc[owner], u[owner], v[owner], mirror[owner]
    top, bottom = vv + tm[:, 0] * hh + tm[:, 1] * ss, vv + tm[:, 2] * hh + tm[:, 3] * ss
    xl, xr = (tm[:, 4] * hh + tm[:, 5] * ss) * mm, (tm[:, 6] * hh + tm[:, 7] * ss) * mm
    left, right = uu + np.minimum(xl, xr), uu + np.maximum(xl, xr)
    grow_w = np.maximum(0.0, tm[:, 8] - (right - left)) / 2
    grow_h = np.maximum(0.0, tm[:, 9] - (bottom - top)) / 2
    h, w = img.shape[2:]
    top = np.clip(np.floor(top - grow_h + 0.5), 0, h).astype(int)
    bottom = np.clip(np.floor(bottom + grow_h + 0.5), 0, h).astype(int)
    left = np.clip(np.floor(left - grow_w + 0.5), 0, w).astype(int)
    right = np.clip(np.floor(right + grow_w + 0.5), 0, w).astype(int)
    colour = lit[owner, tm[:, 10].astype(int)].astype(np.float32)[:, :, None, None]  # (M, 3, 1, 1)
    todo = np.flatnonzero((top < bottom) & (left < right))
    for r, tt, y0, y1, x0, x1 in zip(todo.tolist(), t[owner[todo]].tolist(), top[todo].tolist(),
                                     bottom[todo].tolist(), left[todo].tolist(), right[todo].tolist()):
        img[tt, :, y0:y1, x0:x1] = colour[r]


def _draw_rain(img: np.ndarray, drive: Drive, start: int, height: int, width: int) -> None:
    """Short bright slanted streaks, new each frame (seeded per frame, so chunks render identically)."""
    length = max(2, height // 14)
    n = max(4, height * width // 250)
    for t in range(img.shape[0]):
        rng = np.random.default_rng([drive.noise_seed, start + t])
        y0 = rng.integers(0, height - length, n)[:, None] + np.arange(length)
        x0 = (rng.integers(0, width, n)[:, None] + np.arange(length) // 3) % width
        img[t, :, y0, x0] = 0.75 * img[t, :, y0, x0] + 0.22
