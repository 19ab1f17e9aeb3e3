{#-
  Portable date helpers. Both engines must give identical results, so everything here is
  integer or date arithmetic, and days are UTC (DuckDB: TimeZone = UTC in the profile;
  Spark: spark.sql.session.timeZone = UTC from pipelines.resources.spark_config).
-#}

{#- Monday of the ISO week of a DATE expression, as a DATE. -#}
{% macro week_start(d) -%}{{ return(adapter.dispatch('week_start', 'congowave')(d)) }}{%- endmacro %}
{% macro default__week_start(d) -%}cast(date_trunc('week', {{ d }}) as date){%- endmacro %}
{% macro spark__week_start(d) -%}trunc({{ d }}, 'WEEK'){%- endmacro %}

{#- First day of the month of a DATE expression, as a DATE. -#}
{% macro month_start(d) -%}{{ return(adapter.dispatch('month_start', 'congowave')(d)) }}{%- endmacro %}
{% macro default__month_start(d) -%}cast(date_trunc('month', {{ d }}) as date){%- endmacro %}
{% macro spark__month_start(d) -%}trunc({{ d }}, 'MM'){%- endmacro %}

{#- ISO 8601 week label of a DATE expression: '2026-W36' (ISO week-numbering year). -#}
{% macro iso_week(d) -%}{{ return(adapter.dispatch('iso_week', 'congowave')(d)) }}{%- endmacro %}
{% macro default__iso_week(d) -%}strftime({{ d }}, '%G-W%V'){%- endmacro %}
{% macro spark__iso_week(d) -%}
    concat(cast(extract(YEAROFWEEK FROM {{ d }}) as string), '-W', lpad(cast(weekofyear({{ d }}) as string), 2, '0'))
{%- endmacro %}

{#- An instant (Parquet timestamp adjusted to UTC) as a zone-less UTC timestamp. -#}
{% macro utc_timestamp(ts) -%}{{ return(adapter.dispatch('utc_timestamp', 'congowave')(ts)) }}{%- endmacro %}
{% macro default__utc_timestamp(ts) -%}cast(timezone('UTC', {{ ts }}) as timestamp){%- endmacro %}
{% macro spark__utc_timestamp(ts) -%}cast({{ ts }} as timestamp_ntz){%- endmacro %}

{#- A DATE literal both engines read the same way. -#}
{% macro date_literal(day) -%}date '{{ day.isoformat() }}'{%- endmacro %}


{#-
  The play days a run (re)builds: vars start_date..end_date, inclusive, widened to whole
  ISO weeks (grain='week') or whole months (grain='month'), so that weekly and monthly
  marts are always recomputed for complete periods. Returns [first day, day after last].
  Computed here, in Jinja, so the SQL only compares a partition column with two literals
  (partition pruning on both engines).
-#}
{% macro play_range(grain='day') -%}
    {%- set dt = modules.datetime -%}
    {%- set start = dt.date.fromisoformat(var('start_date') | string) -%}
    {%- set end = dt.date.fromisoformat(var('end_date') | string) -%}
    {%- if end < start -%}
        {{ exceptions.raise_compiler_error("end_date " ~ end ~ " is before start_date " ~ start) }}
    {%- endif -%}
    {%- if grain == 'day' -%}
        {%- set first = start -%}
        {%- set after = end + dt.timedelta(days=1) -%}
    {%- elif grain == 'week' -%}
        {%- set first = start - dt.timedelta(days=start.weekday()) -%}
        {%- set after = end - dt.timedelta(days=end.weekday()) + dt.timedelta(days=7) -%}
    {%- elif grain == 'month' -%}
        {%- set first = start.replace(day=1) -%}
        {%- if end.month == 12 -%}
            {%- set after = end.replace(year=end.year + 1, month=1, day=1) -%}
        {%- else -%}
            {%- set after = end.replace(month=end.month + 1, day=1) -%}
        {%- endif -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("play_range: grain must be day, week or month, got " ~ grain) }}
    {%- endif -%}
    {{- return([first, after]) -}}
{%- endmacro %}

{#- `column` (a DATE) lies in the run's play range at the given grain. -#}
{% macro in_play_range(column, grain='day') -%}
    {%- set bounds = play_range(grain) -%}
    {{ column }} >= {{ date_literal(bounds[0]) }} and {{ column }} < {{ date_literal(bounds[1]) }}
{%- endmacro %}

{#- The stream threshold var as a checked integer literal. -#}
{% macro stream_threshold_ms() -%}
    {%- set value = var('stream_threshold_ms') | string -%}
    {%- if not value.isdigit() or (value | int) < 1 -%}
        {{ exceptions.raise_compiler_error("stream_threshold_ms must be a positive integer, got " ~ value) }}
    {%- endif -%}
    {{- value | int -}}
{%- endmacro %}
