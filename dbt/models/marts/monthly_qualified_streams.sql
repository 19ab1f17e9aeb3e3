{{ config(**mart_config('month_start')) }}
-- Grain: month_start, country, plan, user_id, track_id: counted streams (qualified and not
-- fraud-flagged) per listener and track, what royalties builds its pro-rata, user-centric
-- and artist-centric models on. chosen_streams: streams the listener actively chose
-- (source search or playlist). plan is the user's current plan ('unknown' if not in the
-- user export). Every month the run's range touches is recomputed whole.
with streams as (
    select *
    from {{ ref('int_streams') }}
    where {{ in_play_range('play_date', 'month') }}
)

select
    month_start,
    country,
    plan,
    user_id,
    track_id,
    artist_id,
    count(*) as streams,
    count(case when is_chosen then 1 end) as chosen_streams,
    cast(sum(ms_played) as bigint) as listening_ms
from streams
group by month_start, country, plan, user_id, track_id, artist_id
