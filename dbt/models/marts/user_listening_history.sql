{{ config(**mart_config('play_date')) }}
-- Grain: play_date, user_id, track_id: what the recommender learns from. Fraud-flagged
-- plays are left out entirely (bot traffic is not taste).
with plays as (
    select *
    from {{ ref('int_plays') }}
    where {{ in_play_range('play_date') }}
      and not is_fraud
)

select
    play_date,
    user_id,
    track_id,
    artist_id,
    count(*) as plays,
    count(case when is_counted_stream then 1 end) as streams,
    count(case when is_chosen then 1 end) as chosen_plays,
    count(case when skipped then 1 end) as skips,
    count(case when saved then 1 end) as saves,
    cast(sum(ms_played) as bigint) as listening_ms,
    min(started_at) as first_played_at,
    max(started_at) as last_played_at
from plays
group by play_date, user_id, track_id, artist_id
