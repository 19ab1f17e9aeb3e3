"""How big each sample world is, and what each size is for."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

ScaleName = Literal["small", "medium", "large"]


@dataclass(frozen=True)
class Scale:
    """Sizes of one world; `audio_tracks=0` means a metadata-only catalog."""

    name: ScaleName
    tracks: int
    audio_tracks: int
    duration_range_s: tuple[float, float]
    users: int
    events: int
    days: int
    start: dt.date
    artists: int
    labels: int
    bad_uploads: bool = True
    ern_delivery: bool = True

    @property
    def end(self) -> dt.date:
        """Last day (inclusive) of listening."""
        return self.start + dt.timedelta(days=self.days - 1)


SCALES: dict[str, Scale] = {
    # CI: every test that needs a world uses this one.
    "small": Scale(
        name="small", tracks=40, audio_tracks=40, duration_range_s=(35.0, 45.0),
        users=500, events=100_000, days=35, start=dt.date(2026, 9, 1), artists=16, labels=4,
    ),
    # The demo the main job runs.
    "medium": Scale(
        name="medium", tracks=200, audio_tracks=200, duration_range_s=(60.0, 240.0),
        users=5_000, events=2_000_000, days=60, start=dt.date(2026, 8, 1), artists=60, labels=10,
    ),
    # Benchmarks only: metadata-only catalog, no uploads.
    "large": Scale(
        name="large", tracks=50_000, audio_tracks=0, duration_range_s=(120.0, 300.0),
        users=1_000_000, events=100_000_000, days=30, start=dt.date(2026, 9, 1),
        artists=8_000, labels=300, bad_uploads=False, ern_delivery=False,
    ),
}


def get_scale(name: str) -> Scale:
    """The named scale, with an error that lists the valid names."""
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {sorted(SCALES)}") from None
