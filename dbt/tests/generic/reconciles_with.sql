{#-
  Layer reconciliation: for every period present in the model, the total of `column_name`
  equals `expression` computed over `compare_model` rows of the same period that match
  `compare_where`. Example: the sum of qualified_streams in daily_track_stats equals the
  number of counted (qualified, not fraud-flagged) plays in int_plays, day by day.
  Only the model's periods are compared, so a partial (partitioned) build reconciles too.
-#}
{% test reconciles_with(model, column_name, period_column, compare_model, expression, compare_period_column=none, compare_where='1 = 1') %}
{%- set compare_period = compare_period_column or period_column %}
with model_totals as (
    select {{ period_column }} as period, sum({{ column_name }}) as total
    from {{ model }}
    group by {{ period_column }}
),
compare_totals as (
    select {{ compare_period }} as period, {{ expression }} as total
    from {{ compare_model }}
    where ({{ compare_where }})
      and {{ compare_period }} in (select period from model_totals)
    group by {{ compare_period }}
)
select
    coalesce(m.period, c.period) as period,
    m.total as model_total,
    c.total as compare_total
from model_totals as m
full outer join compare_totals as c
    on m.period = c.period
where coalesce(m.total, 0) <> coalesce(c.total, 0)
{% endtest %}
