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

import numpy as np

from ssl_video.data.drive_world.simulate import ROAD_HALF_WIDTH, Drive, road_at

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


def camera(height: int, width: int) -> tuple[float, float, float]:
    """(focal px, centre column, horizon row) of the dash camera for an image size."""
    return FOCAL * width, width / 2.0, HORIZON * height


def _lighting(drive: Drive, z: np.ndarray, weather_dim: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-distance multiplicative light and additive fog colour: colour -> colour * a + b."""
    ambient, _, _, fog_rgb = _LIGHT[drive.appearance.time_of_day]
    light = np.full_like(z, ambient * weather_dim)
    if drive.appearance.time_of_day == "night":
        light = light + 1.1 * np.exp(-z / 22.0)  # headlights
    fog = 1.0 - np.exp(-z / drive.appearance.fog_m)
    a = (light * (1.0 - fog)).astype(np.float32)
    b = fog[..., None].astype(np.float32) * np.asarray(fog_rgb, np.float32) * (1.0 if drive.appearance.weather != "rain" else 0.8)
    return a, b


def render_frames(drive: Drive, height: int, width: int, start: int, stop: int) -> np.ndarray:
    """Render frames ``start:stop`` of ``drive`` as (T, H, W, 3) uint8."""
    idx = np.arange(start, stop)
    f, cx, cy = camera(height, width)
    px = height / 128.0  # shake amplitudes are given for a 128-pixel-high image
    app = drive.appearance
    s_e, x_e, yaw = drive.s[idx], drive.x[idx], drive.yaw[idx]
    cy_t = cy + px * drive.pitch_px[idx]  # (T,)
    cx_t = cx + px * drive.yaw_px[idx]

    # Road geometry relative to the camera at sample distances: (T, Z).
    s_grid = s_e[:, None] + _Z_GRID
    theta0 = road_at(drive.road_theta, s_e)[:, None]
    lat = road_at(drive.road_theta_int, s_grid) - road_at(drive.road_theta_int, s_e)[:, None] - theta0 * _Z_GRID
    elev = road_at(drive.road_e, s_grid) - road_at(drive.road_e, s_e)[:, None] - road_at(drive.road_de, s_e)[:, None] * _Z_GRID
    row_of_z = cy_t[:, None] + f * (CAMERA_HEIGHT - elev) / _Z_GRID  # (T, Z)
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
        _draw_sprites(img[t], drive, idx[t], f, cx_t[t], cy_t[t], lat[t], elev[t], visible_row[t], dim)
    if app.weather == "rain":
        _draw_rain(img, drive, start, height, width)
    img *= 255.0
    img += 0.5
    np.clip(img, 0.0, 255.0, out=img)
    return img.astype(np.uint8).transpose(0, 2, 3, 1).copy()  # (T, 3, H, W) -> (T, H, W, 3)


def _rect(img: np.ndarray, top: float, bottom: float, left: float, right: float, rgb) -> None:
    """Fill a rectangle of a (3, H, W) image with an (3,) colour (clipped to the image)."""
    h, w = img.shape[1:]
    t, b = max(0, int(top + 0.5)), min(h, int(bottom + 0.5))
    l, r = max(0, int(left + 0.5)), min(w, int(right + 0.5))
    if t < b and l < r:
        img[:, t:b, l:r] = np.asarray(rgb)[:, None, None]


# Sprite palettes (unlit): index 0 is the main colour, then details.
_POLE_RGB = np.array([[0.55, 0.55, 0.55]], np.float32)
_TREE_RGB = np.array([[0.12, 0.38, 0.12], [0.35, 0.24, 0.14]], np.float32)
_SIGN_RGB = np.array([[0.5, 0.5, 0.5], [0.1, 0.35, 0.8]], np.float32)
_CAR_DETAIL_RGB = np.array([[0.08, 0.09, 0.1], [0.03, 0.03, 0.03], [0.7, 0.05, 0.05], [0.9, 0.85, 0.7]], np.float32)


def _draw_sprites(img, drive: Drive, i: int, f: float, cx: float, cy: float, lat, elev, visible_row, dim: float) -> None:
    """Roadside objects and vehicles for one frame, far to near (painter's algorithm)."""
    s_e = drive.s[i]
    lo, hi = np.searchsorted(drive.obj_s, [s_e + 3.0, s_e + 110.0])
    veh_z = drive.veh_s[:, i] - s_e
    vis = np.flatnonzero((veh_z > 3.0) & (veh_z < Z_FAR))
    z = np.concatenate([drive.obj_s[lo:hi] - s_e, veh_z[vis]])
    if len(z) == 0:
        return
    x = np.concatenate([drive.obj_x[lo:hi], drive.veh_x[vis, i]])
    kind = np.concatenate([drive.obj_kind[lo:hi], np.full(len(vis), 3, np.int8)])
    ref = np.concatenate([np.arange(lo, hi), vis])
    height = np.concatenate([drive.obj_h[lo:hi], np.full(len(vis), 1.45)])
    row_z = cy + f * (CAMERA_HEIGHT - np.interp(z, _Z_GRID, elev)) / z
    shown = row_z <= np.interp(z, _Z_GRID, visible_row) + 2.0  # not behind a crest
    scale = f / z
    col = cx + (np.interp(z, _Z_GRID, lat) + x - drive.x[i] - drive.yaw[i] * z) * scale
    a, b = _lighting(drive, z, dim)
    night = drive.appearance.time_of_day == "night"
    order = np.argsort(-z)
    order = order[shown[order] & (scale[order] * height[order] >= 1.0)]
    for j in order.tolist():
        sc, u, v, k, hgt = scale[j], col[j], row_z[j], kind[j], height[j] * scale[j]
        if k == 3:  # vehicle seen from behind (tail lights) or the front (headlights)
            oncoming = drive.veh_oncoming[ref[j]]
            body = drive.veh_rgb[ref[j]] * a[j] + b[j]
            detail = _CAR_DETAIL_RGB * a[j] + b[j]
            hw = 0.9 * sc
            _rect(img, v - hgt, v, u - hw, u + hw, body)
            _rect(img, v - hgt, v - 0.62 * hgt, u - 0.8 * hw, u + 0.8 * hw, detail[0])
            _rect(img, v - 0.12 * hgt, v + 0.02 * hgt, u - 0.85 * hw, u + 0.85 * hw, detail[1])
            if night:
                lamp = (1.0, 0.95, 0.8) if oncoming else (1.0, 0.1, 0.08)
            else:
                lamp = detail[3] if oncoming else detail[2]
            lw = max(0.6, 0.2 * sc)
            _rect(img, v - 0.55 * hgt, v - 0.4 * hgt, u - hw, u - hw + 2 * lw, lamp)
            _rect(img, v - 0.55 * hgt, v - 0.4 * hgt, u + hw - 2 * lw, u + hw, lamp)
        elif k == 0:  # pole with a lamp arm towards the road
            rgb = _POLE_RGB[0] * a[j] + b[j]
            hw = max(0.5, 0.12 * sc)
            _rect(img, v - hgt, v, u - hw, u + hw, rgb)
            arm = -np.sign(x[j]) * 1.2 * sc
            _rect(img, v - hgt, v - hgt + max(1.0, 0.15 * sc), min(u, u + arm), max(u, u + arm), rgb)
        elif k == 1:  # tree: trunk and a stepped canopy
            leaf, trunk = _TREE_RGB * a[j] + b[j]
            tw = max(0.5, 0.2 * sc)
            _rect(img, v - 0.4 * hgt, v, u - tw, u + tw, trunk)
            _rect(img, v - 0.75 * hgt, v - 0.3 * hgt, u - 0.3 * hgt, u + 0.3 * hgt, leaf)
            _rect(img, v - hgt, v - 0.7 * hgt, u - 0.17 * hgt, u + 0.17 * hgt, leaf)
        else:  # sign board on a post
            post, board = _SIGN_RGB * a[j] + b[j]
            hw = max(0.5, 0.06 * sc)
            _rect(img, v - 2.2 * sc, v, u - hw, u + hw, post)
            _rect(img, v - 3.0 * sc, v - 2.0 * sc, u - 0.6 * sc, u + 0.6 * sc, board)


def _draw_rain(img: np.ndarray, drive: Drive, start: int, height: int, width: int) -> None:
    """Short bright slanted streaks, new each frame (seeded per frame, so chunks render identically)."""
    length = max(2, height // 14)
    n = max(4, height * width // 250)
    for t in range(img.shape[0]):
        rng = np.random.default_rng([drive.noise_seed, start + t])
        y0 = rng.integers(0, height - length, n)[:, None] + np.arange(length)
        x0 = (rng.integers(0, width, n)[:, None] + np.arange(length) // 3) % width
        img[t, :, y0, x0] = 0.75 * img[t, :, y0, x0] + 0.22
