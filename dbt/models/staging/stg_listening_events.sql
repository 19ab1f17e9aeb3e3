-- One row per play, as loaded by the listening_events asset; the play day comes from the
-- Hive partition, which the loader derives from started_at (UTC).
select
    event_id,
    user_id,
    track_id,
    {{ utc_timestamp('started_at') }} as started_at,
    cast(ms_played as integer) as ms_played,
    country,
    platform,
    source,
    saved,
    skipped,
    cast({{ adapter.quote('date') }} as date) as play_date
from {{ lake_source('lake', 'listening_events') }}
