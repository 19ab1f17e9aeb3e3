"""Track deliveries: parsing what artists and labels send into one validated model.

Two forms arrive in the upload landing zone: a per-track upload (audio plus
metadata.json, :func:`parse_metadata`) and a label's DDEX ERN 4.3 message
(:func:`parse_ern`). Both yield a :class:`ParsedDelivery` of
:class:`TrackDelivery` records or the :class:`Problem` codes that refused them.
This package is a plain library: orchestration lives in ``pipelines``.
"""

from audio.delivery.ern import parse_ern
from audio.delivery.metadata import MetadataModel, metadata_json_schema, parse_metadata
from audio.delivery.model import (
    ArtistCredit,
    Deal,
    ParsedDelivery,
    ParsedTrack,
    Problem,
    RightShare,
    TrackDelivery,
)

__all__ = [
    "ArtistCredit",
    "Deal",
    "MetadataModel",
    "ParsedDelivery",
    "ParsedTrack",
    "Problem",
    "RightShare",
    "TrackDelivery",
    "metadata_json_schema",
    "parse_ern",
    "parse_metadata",
]
