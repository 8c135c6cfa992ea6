"""Labels of clip windows, computed from the simulator state (never from pixels).

Each label is chosen to need time to read: speed needs motion, ``turn_next`` is about the road
*after* the window, ``lead_closing`` and ``lane_change`` are changes during the window.
``time_of_day`` and ``weather`` are readable from one frame: control tasks.
"""

from __future__ import annotations


from ssl_video.data.drive_world.simulate import KMH, Drive, road_at

LABEL_COLUMNS = ("speed_kmh", "speed_bucket", "turn_next", "lead_closing", "lane_change", "time_of_day", "weather")
SPEED_BUCKETS_KMH = (30.0, 60.0)  # slow < 30 <= medium < 60 <= fast
TURN_CURVATURE = 1.0 / 600.0  # 1/m: tighter than a 600 m radius counts as a turn
TURN_LOOKAHEAD_S = (1.5, 3.5)  # turn_next: the road the ego drives on 1.5-3.5 s after the window
CLOSING_M = 1.0  # the gap must shrink by more than this during the window
LANE_CHANGE_M = 1.0  # lateral motion (from lane changes) during the window


def window_labels(drive: Drive, start: int, stop: int) -> dict[str, str | float]:
    """Labels of frames ``start:stop`` (exclusive) of ``drive``."""
    if not 0 <= start < stop <= drive.n_video:
        raise ValueError(f"window frames {start}:{stop} outside the video's {drive.n_video} frames")
    kmh = float(drive.v[start:stop].mean() * KMH)
    bucket = "slow" if kmh < SPEED_BUCKETS_KMH[0] else "medium" if kmh < SPEED_BUCKETS_KMH[1] else "fast"
    k_next = next_curvature(drive, stop)
    turn = "straight" if abs(k_next) < TURN_CURVATURE else ("right" if k_next > 0 else "left")
    closing = drive.lead_gap[stop - 1] - drive.lead_gap[start] < -CLOSING_M
    lateral = drive.x_lane[stop - 1] - drive.x_lane[start]
    lane = "none" if abs(lateral) < LANE_CHANGE_M else ("right" if lateral > 0 else "left")
    return {
        "speed_kmh": round(kmh, 2),
        "speed_bucket": bucket,
        "turn_next": turn,
        "lead_closing": "yes" if closing else "no",
        "lane_change": lane,
        "time_of_day": drive.appearance.time_of_day,
        "weather": drive.appearance.weather,
    }


def next_curvature(drive: Drive, stop: int) -> float:
    """Mean road curvature (1/m, + = right) under the ego TURN_LOOKAHEAD_S after frame ``stop``: what turn_next thresholds."""
    a, b = (stop + int(round(t * drive.fps)) for t in TURN_LOOKAHEAD_S)
    return float(road_at(drive.road_k, drive.s[a : max(b, a + 1)]).mean())
