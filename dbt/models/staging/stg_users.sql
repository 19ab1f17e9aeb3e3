-- The user base; plan is the CURRENT plan (the export keeps no history).
select
    user_id,
    country as home_country,
    plan,
    signup_date,
    platform as signup_platform
from {{ lake_source('landing', 'users') }}
