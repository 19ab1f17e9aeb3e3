{#-
  A chart is consistent: within each partition, ranks are 1..n without gaps or repeats, and
  a better (smaller) rank never has a smaller value of `order_column`.
-#}
{% test ranked_by(model, column_name, partition_by, order_column) %}
{%- set partition = partition_by | join(', ') %}
with numbered as (
    select
        {{ partition }},
        {{ column_name }} as rank_value,
        {{ order_column }} as order_value,
        row_number() over (partition by {{ partition }} order by {{ column_name }}) as expected_rank,
        lag({{ order_column }}) over (partition by {{ partition }} order by {{ column_name }}) as better_value
    from {{ model }}
)
select *
from numbered
where rank_value <> expected_rank
   or better_value < order_value
{% endtest %}
