select
    artist_id,
    name as artist_name,
    country as artist_country,
    region,
    genre,
    label_id
from {{ lake_source('reference', 'catalog_artists') }}
