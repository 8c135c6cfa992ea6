"""Labels of clip windows, computed from the simulator state (never from pixels).

Each label is chosen to need time to read: speed needs motion, ``turn_next`` is where the road
takes the car *after* the window, ``lead_closing`` and ``lane_change`` are changes during the window.
``time_of_day`` and ``weather`` are readable from one frame: control tasks.
"""

from __future__ import annotations

import numpy as np

from ssl_video.data.drive_world.simulate import KMH, Drive, road_at

LABEL_COLUMNS = ("speed_kmh", "speed_bucket", "turn_next", "lead_closing", "lane_change", "time_of_day", "weather")
SPEED_BUCKETS_KMH = (30.0, 60.0)  # slow < 30 <= medium < 60 <= fast
TURN_LOOKAHEAD_S = 2.0  # turn_next: where the road takes the ego in the 2 s after the window ...
TURN_DEGREES = 1.0  # ... left/right when the road heading under the ego turns by more than this
CLOSING_M = 1.0  # the gap must shrink by more than this during the window
LANE_CHANGE_M = 1.0  # lateral motion (from lane changes) during the window


def window_labels(drive: Drive, start: int, stop: int) -> dict[str, str | float]:
    """Labels of frames ``start:stop`` (exclusive) of ``drive``."""
    if not 0 <= start < stop <= drive.n_video:
        raise ValueError(f"window frames {start}:{stop} outside the video's {drive.n_video} frames")
    kmh = float(drive.v[start:stop].mean() * KMH)
    bucket = "slow" if kmh < SPEED_BUCKETS_KMH[0] else "medium" if kmh < SPEED_BUCKETS_KMH[1] else "fast"
    turn_deg = float(np.degrees(next_heading_change(drive, stop)))
    turn = "straight" if abs(turn_deg) <= TURN_DEGREES else ("right" if turn_deg > 0 else "left")
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


def next_heading_change(drive: Drive, stop: int) -> float:
    """How far the road under the ego turns (rad, + = right) in the TURN_LOOKAHEAD_S after frame ``stop``.

    The change of the road heading between where the ego is at the end of the window and where it
    is TURN_LOOKAHEAD_S later: what ``turn_next`` thresholds. It depends on the curvature ahead
    *and* the speed (a stopped car turns nowhere, even in a bend), and lane changes do not count.
    """
    later = min(stop - 1 + round(TURN_LOOKAHEAD_S * drive.fps), len(drive.s) - 1)
    return float(road_at(drive.road_theta, drive.s[later]) - road_at(drive.road_theta, drive.s[stop - 1]))
