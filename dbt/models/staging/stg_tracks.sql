select
    track_id,
    isrc,
    title,
    artist_id,
    album_id,
    label_id,
    genre,
    language,
    release_date,
    cast(duration_ms as bigint) as duration_ms,
    explicit,
    is_music
from {{ lake_source('reference', 'catalog_tracks') }}
