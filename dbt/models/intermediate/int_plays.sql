-- Every play with what the marts need to count it:
--   is_qualified_stream  the play lasted at least var('stream_threshold_ms') (default 30,000 ms)
--   is_fraud             the fraud screening flagged it
--   is_counted_stream    qualified and not flagged: the only plays that count as streams in
--                        stats, charts and royalties
--   is_chosen            the listener chose the track (search or own playlist)
-- plus the track's artist and the user's current plan.
with events as (
    select * from {{ ref('stg_listening_events') }}
),

fraud as (
    select event_id from {{ ref('stg_fraud_flags') }}
),

tracks as (
    select track_id, artist_id from {{ ref('stg_tracks') }}
),

users as (
    select user_id, plan from {{ ref('stg_users') }}
)

select
    e.event_id,
    e.play_date,
    {{ week_start('e.play_date') }} as week_start,
    {{ month_start('e.play_date') }} as month_start,
    e.started_at,
    e.user_id,
    e.track_id,
    t.artist_id,
    e.country,
    e.platform,
    e.source,
    coalesce(u.plan, 'unknown') as plan,
    e.ms_played,
    e.saved,
    e.skipped,
    e.source in ('search', 'playlist') as is_chosen,
    e.ms_played >= {{ stream_threshold_ms() }} as is_qualified_stream,
    f.event_id is not null as is_fraud,
    (e.ms_played >= {{ stream_threshold_ms() }} and f.event_id is null) as is_counted_stream
from events as e
left join fraud as f
    on e.event_id = f.event_id
left join tracks as t
    on e.track_id = t.track_id
left join users as u
    on e.user_id = u.user_id
