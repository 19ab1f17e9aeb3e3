{{ config(**mart_config('play_date')) }}
-- Grain: play_date, artist_id, country. Computed from the plays (not by adding up
-- daily_track_stats) so that unique_listeners counts each listener once per artist.
-- Plays of tracks missing from the catalog (no artist) are left out.
with plays as (
    select *
    from {{ ref('int_plays') }}
    where {{ in_play_range('play_date') }}
      and artist_id is not null
)

select
    play_date,
    artist_id,
    country,
    count(case when not is_fraud then 1 end) as plays,
    count(case when is_counted_stream then 1 end) as qualified_streams,
    count(distinct case when not is_fraud then user_id end) as unique_listeners,
    count(distinct case when not is_fraud then track_id end) as tracks_played,
    count(case when not is_fraud and skipped then 1 end) as skips,
    count(case when not is_fraud and saved then 1 end) as saves,
    cast(sum(case when not is_fraud then ms_played else 0 end) as bigint) as listening_ms,
    count(case when is_fraud then 1 end) as flagged_plays
from plays
group by play_date, artist_id, country
