{{ config(**mart_config('play_date')) }}
-- Grain: play_date, track_id, country (where the play happened).
-- plays, unique_listeners, skips, saves and listening_ms count plays that were NOT
-- fraud-flagged; flagged plays are only counted, apart, in flagged_plays.
-- qualified_streams: not flagged plays of at least var('stream_threshold_ms').
with plays as (
    select *
    from {{ ref('int_plays') }}
    where {{ in_play_range('play_date') }}
)

select
    play_date,
    track_id,
    country,
    artist_id,
    count(case when not is_fraud then 1 end) as plays,
    count(case when is_counted_stream then 1 end) as qualified_streams,
    count(distinct case when not is_fraud then user_id end) as unique_listeners,
    count(case when not is_fraud and skipped then 1 end) as skips,
    count(case when not is_fraud and saved then 1 end) as saves,
    cast(sum(case when not is_fraud then ms_played else 0 end) as bigint) as listening_ms,
    count(case when is_fraud then 1 end) as flagged_plays
from plays
group by play_date, track_id, country, artist_id
