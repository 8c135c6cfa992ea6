"""Labels of clip windows, computed from the simulator state (never from pixels).

Each label is chosen to need time to read: speed needs motion and ``lane_change`` is a change
during the window. ``time_of_day`` and ``weather`` are readable from one frame: control tasks.
"""

from __future__ import annotations

from ssl_video.data.drive_world.simulate import KMH, Drive

LABEL_COLUMNS = ("speed_kmh", "speed_bucket", "lane_change", "time_of_day", "weather")
SPEED_BUCKETS_KMH = (30.0, 60.0)  # slow < 30 <= medium < 60 <= fast
LANE_CHANGE_M = 1.0  # lateral motion (from lane changes) during the window


def window_labels(drive: Drive, start: int, stop: int) -> dict[str, str | float]:
    """Labels of frames ``start:stop`` (exclusive) of ``drive``."""
    if not 0 <= start < stop <= drive.n_video:
        raise ValueError(f"window frames {start}:{stop} outside the video's {drive.n_video} frames")
    kmh = float(drive.v[start:stop].mean() * KMH)
    bucket = "slow" if kmh < SPEED_BUCKETS_KMH[0] else "medium" if kmh < SPEED_BUCKETS_KMH[1] else "fast"
    lateral = drive.x_lane[stop - 1] - drive.x_lane[start]
    lane = "none" if abs(lateral) < LANE_CHANGE_M else ("right" if lateral > 0 else "left")
    return {
        "speed_kmh": round(kmh, 2),
        "speed_bucket": bucket,
        "lane_change": lane,
        "time_of_day": drive.appearance.time_of_day,
        "weather": drive.appearance.weather,
    }
