"""The play-event contract: what every producer of listening events writes to the landing area.

The sample world writes it today and the serving layer's play-event endpoint
will write it tomorrow; the events loader checks deliveries against it. It sits
here, apart from any producer, so no consumer depends on the sample world.
"""

from __future__ import annotations

import pyarrow as pa

SOURCES: tuple[str, ...] = ("search", "playlist", "algorithmic", "radio")
"""How the listener reached the track; search and own playlists are the listener's own choice."""

PLATFORMS: tuple[str, ...] = ("android", "ios", "web")

EVENT_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("started_at", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("ms_played", pa.int32(), nullable=False),
        pa.field("country", pa.string(), nullable=False),
        pa.field("platform", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("saved", pa.bool_(), nullable=False),
        pa.field("skipped", pa.bool_(), nullable=False),
    ]
)
"""One row per delivered play; ``country`` is where the play happened (ISO 3166-1 alpha-2)."""

LANDING_EVENTS = "landing/events"
"""Lake prefix of the landing area; each arrival day is a ``date=YYYY-MM-DD`` partition of Parquet batches."""
