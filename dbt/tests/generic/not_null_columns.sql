{#-
  None of these columns is null on any row: one query (and one Dagster asset check) for
  all of a model's required columns instead of one per column, which matters on Spark.
-#}
{% test not_null_columns(model, columns) %}
select *
from {{ model }}
where
{%- for column in columns %}
    {% if not loop.first %}or {% endif %}{{ column }} is null
{%- endfor %}
{% endtest %}
