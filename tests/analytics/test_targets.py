"""The dbt project parses for every target a profile can pick, the prod cluster's included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.analytics_dbt import analytics_project, dbt_target, ensure_manifest
from pipelines.settings import Settings


def test_prod_cluster_target_is_thrift_and_parses(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, lake_url=str(tmp_path / "lake"), dbt_target="spark",
                        spark_thrift_host="spark.internal", spark_thrift_port=10001)  # fmt: skip
    assert dbt_target(settings) == "spark_thrift"
    manifest = json.loads(ensure_manifest(analytics_project(settings)).read_text())
    models = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    assert {"daily_track_stats", "monthly_qualified_streams", "weekly_country_charts"} <= models
    assert manifest["metadata"]["adapter_type"] == "spark"


@pytest.mark.parametrize(("configured", "expected"), [(None, "duckdb"), ("duckdb", "duckdb"), ("spark", "spark")])
def test_target_follows_settings(tmp_path: Path, configured: str | None, expected: str) -> None:
    settings = Settings(data_dir=tmp_path, dbt_target=configured)
    assert dbt_target(settings) == expected
