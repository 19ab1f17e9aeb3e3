{{ config(**mart_config('week_start')) }}
-- Grain: week_start (Monday of the ISO week), country, chart_rank: the top
-- var('chart_size') tracks of each country and week by counted streams (fraud-flagged
-- plays never count). Ties: more listeners first, then track_id, so the order is total
-- and the same on every engine. Every ISO week the run's range touches is recomputed whole.
with streams as (
    select *
    from {{ ref('int_streams') }}
    where {{ in_play_range('play_date', 'week') }}
),

per_track as (
    select
        week_start,
        country,
        track_id,
        artist_id,
        count(*) as streams,
        count(distinct user_id) as listeners
    from streams
    group by week_start, country, track_id, artist_id
),

ranked as (
    select
        *,
        row_number() over (
            partition by week_start, country
            order by streams desc, listeners desc, track_id
        ) as chart_rank
    from per_track
)

select
    week_start,
    {{ iso_week('week_start') }} as iso_week,
    country,
    chart_rank,
    track_id,
    artist_id,
    streams,
    listeners
from ranked
where chart_rank <= {{ var('chart_size') | int }}
