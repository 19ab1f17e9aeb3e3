{#-
  Reading the lake on both engines.

  `lake_source(source_name, table_name)` is what staging models select from. It calls
  `source()` so that dbt (and Dagster, through dagster-dbt) see the lineage from the lake
  datasets, then replaces the relation by an engine-specific read of the Parquet files
  under `var('lake_root')`. Where the files are, and how they are laid out, is declared
  on the source table in models/staging/_sources.yml:

    meta:
      lake_path: listening_events   # relative to the lake root
      layout: hive                  # hive: <path>/date=YYYY-MM-DD/*.parquet; file: one Parquet file

  DuckDB: read_parquet('<root>/<path>/*/*.parquet', hive_partitioning = true)
  Spark:  parquet.`<root>/<path>` (partition discovery gives the `date` column; s3:// becomes s3a://)

  Files and folders whose names start with "_" or "." (manifests, in-flight writes) are
  not read by either engine.
-#}

{% macro lake_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- set unique_id = 'source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name -%}
    {%- set node = graph.sources.get(unique_id) -%}
    {%- if node is none -%}
        {{ exceptions.raise_compiler_error("lake_source: no source " ~ unique_id) }}
    {%- endif -%}
    {%- set meta = node.get('meta') or node.get('config', {}).get('meta') or {} -%}
    {%- if not meta.get('lake_path') -%}
        {{ exceptions.raise_compiler_error("lake_source: source " ~ unique_id ~ " has no meta.lake_path") }}
    {%- endif -%}
    {{- return(lake_table(meta['lake_path'], meta.get('layout', 'hive'))) -}}
{%- endmacro %}


{#- The full URL of a lake path, checked so it can sit inside a SQL string or identifier. -#}
{% macro lake_url(path) -%}
    {%- set root = var('lake_root') | string -%}
    {%- if not root -%}
        {{ exceptions.raise_compiler_error("var lake_root is not set (the lake root folder or s3:// URL)") }}
    {%- endif -%}
    {%- for bad in ["'", "`", '"', "\\", "\n", ";"] -%}
        {%- if bad in root or bad in path -%}
            {{ exceptions.raise_compiler_error("lake paths may not contain quotes, backslashes or semicolons: " ~ root ~ " / " ~ path) }}
        {%- endif -%}
    {%- endfor -%}
    {{- return(root.rstrip('/') ~ '/' ~ path.strip('/')) -}}
{%- endmacro %}


{% macro lake_table(path, layout='hive') -%}
    {%- if layout not in ['hive', 'file'] -%}
        {{ exceptions.raise_compiler_error("lake_table: layout must be hive or file, got " ~ layout) }}
    {%- endif -%}
    {{- return(adapter.dispatch('lake_table', 'congowave')(lake_url(path), layout)) -}}
{%- endmacro %}


{% macro default__lake_table(url, layout) -%}
    {%- if layout == 'hive' -%}
        read_parquet('{{ url }}/*/*.parquet', hive_partitioning = true, union_by_name = true)
    {%- else -%}
        read_parquet('{{ url }}')
    {%- endif -%}
{%- endmacro %}


{% macro spark__lake_table(url, layout) -%}
    {%- if url.startswith('s3://') -%}
        {%- set url = 's3a://' ~ url[5:] -%}
    {%- endif -%}
    parquet.`{{ url }}`
{%- endmacro %}
