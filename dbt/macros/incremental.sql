{#-
  How a mart is materialized: incremental over the run's date range, with the strategy each
  engine does best, both replacing whole partitions so that re-running a range never
  double counts.

  DuckDB: delete+insert keyed on the partition column (rows of every day/week/month the run
    produced are deleted, then inserted again).
  Spark:  insert_overwrite of Parquet partitions (dynamic partition overwrite).

  Both replace the partitions the new data contains; a period that had rows before and has
  none at all after a re-run keeps its old rows (see docs/analytics.md).
-#}
{% macro mart_config(partition_column) -%}
    {%- if target.type == 'spark' -%}
        {{- return({
            'materialized': 'incremental',
            'incremental_strategy': 'insert_overwrite',
            'partition_by': [partition_column],
            'file_format': 'parquet',
            'on_schema_change': 'fail',
        }) -}}
    {%- else -%}
        {{- return({
            'materialized': 'incremental',
            'incremental_strategy': 'delete+insert',
            'unique_key': partition_column,
            'on_schema_change': 'fail',
        }) -}}
    {%- endif -%}
{%- endmacro %}
