-- The plays that count as streams: qualified (long enough) and not fraud-flagged.
select *
from {{ ref('int_plays') }}
where is_counted_stream
