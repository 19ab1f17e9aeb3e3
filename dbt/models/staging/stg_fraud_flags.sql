-- One row per flagged play. A play flagged more than once (several reasons, or re-screened)
-- still counts once, so joining this never multiplies plays.
select
    event_id,
    min(cast({{ adapter.quote('date') }} as date)) as flag_date,
    min(reason) as reason,
    count(*) as flag_rows
from {{ lake_source('lake', 'fraud_flags') }}
group by event_id
