"""The dbt models as Dagster assets: lineage from the events, a partitioned run on DuckDB with
dbt's tests as asset checks, and the guard against days whose fraud flags are missing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, Definitions, materialize

from pipelines.analytics_dbt import (
    analytics_project,
    dbt_env,
    dbt_resource,
    dbt_target,
    dbt_vars,
    manifest_is_stale,
)
from pipelines.resources import build_resources
from pipelines.settings import Settings
from tests.analytics.handmade_lake import mixed_lake
from tests.analytics.support import MARTS

STAGING = ("stg_listening_events", "stg_fraud_flags", "stg_tracks", "stg_artists", "stg_users")


def _ancestors(graph, key: AssetKey) -> set[AssetKey]:
    seen: set[AssetKey] = set()
    todo = [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_models_hang_off_the_events_asset() -> None:
    from assets.analytics import ANALYTICS_ASSETS, ANALYTICS_PROJECT
    from assets.events import EVENT_ASSETS, listening_days

    assert not manifest_is_stale(ANALYTICS_PROJECT)
    settings = Settings()
    resources = {
        **build_resources(settings),
        "dbt": dbt_resource(settings),
    }  # as pipelines/definitions.py will
    graph = Definitions(
        assets=[*EVENT_ASSETS, *ANALYTICS_ASSETS], resources=resources
    ).resolve_asset_graph()
    assert graph.get(AssetKey("stg_listening_events")).parent_keys == {AssetKey("listening_events")}
    assert graph.get(AssetKey("stg_fraud_flags")).parent_keys == {AssetKey("fraud_flags")}
    assert graph.get(AssetKey("int_plays")).parent_keys == {
        AssetKey(name) for name in STAGING if name != "stg_artists"
    }
    for mart in MARTS:
        node = graph.get(AssetKey(mart))
        assert {
            AssetKey("listening_events"),
            AssetKey("fraud_flags"),
            AssetKey("int_plays"),
        } <= _ancestors(graph, node.key)
        assert node.group_name == "analytics"
        assert node.owners == ["team:data-platform"]
        assert node.partitions_def == listening_days
    checks = {
        key.name for key in graph.asset_check_keys if key.asset_key == AssetKey("daily_track_stats")
    }
    assert any(name.startswith("reconciles_with_daily_track_stats") for name in checks)
    assert any(
        name.startswith("not_greater_than_daily_track_stats_qualified_streams") for name in checks
    )


def test_money_relevant_tests_are_errors() -> None:
    from assets.analytics import ANALYTICS_MANIFEST

    tests = [
        n
        for n in json.loads(ANALYTICS_MANIFEST.read_text())["nodes"].values()
        if n["resource_type"] == "test"
    ]
    severity = {n["name"]: n["config"]["severity"].lower() for n in tests}
    money = [
        n
        for n in severity
        if n.startswith(
            ("reconciles_with_", "unique_combination_of_columns_", "not_greater_than_", "unique_")
        )
    ]
    assert len(money) >= 20 and all(severity[n] == "error" for n in money)
    # reference data that may lag is a warning, not a stop
    assert (
        severity["relationships_stg_listening_events_track_id__track_id__ref_stg_tracks_"] == "warn"
    )
    marts = {n["attached_node"].split(".")[-1] for n in tests if n.get("attached_node")}
    assert (
        set(MARTS) | set(STAGING) | {"int_plays", "int_streams"} <= marts
    )  # every model has tests


def test_settings_reach_dbt() -> None:
    settings = Settings(
        profile="prod", lake_url="s3://lake-bucket/prod", s3_endpoint_url="http://minio:9000",
        s3_access_key_id="AKIA", s3_secret_access_key="s3cr3t", dagster_postgres_url="postgresql://x/y",
        mlflow_tracking_uri="postgresql://x/z", redis_url="redis://r:6379/0", spark_thrift_host="thrift.internal",
    )  # fmt: skip
    env = dbt_env(settings)
    assert (
        dbt_target(settings) == "spark_thrift"
        and analytics_project(settings).target == "spark_thrift"
    )
    assert env["DBT_CONGOWAVE_LAKE_PROTOCOL"] == "s3"
    assert env["DBT_CONGOWAVE_SPARK_THRIFT_HOST"] == "thrift.internal"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("AKIA", "s3cr3t")
    assert env["DBT_CONGOWAVE_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "AWS_ACCESS_KEY_ID" not in dbt_env(Settings())  # botocore's own chain stays in charge
    assert json.loads(env["DBT_CONGOWAVE_SPARK_CONF"])["spark.sql.session.timeZone"] == "UTC"
    assert dbt_vars(settings, "2026-10-01", "2026-10-03") == {
        "lake_root": "s3://lake-bucket/prod", "stream_threshold_ms": 30_000,
        "start_date": "2026-10-01", "end_date": "2026-10-03",
    }  # fmt: skip
    assert dbt_target(Settings(dbt_target="spark")) == "spark"
    assert dbt_target(Settings()) == "duckdb"
    with pytest.raises(ValueError):
        dbt_vars(settings, "2026-10-03", "2026-10-01")


@pytest.mark.slow
def test_a_partition_materializes_with_its_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assets.analytics import ANALYTICS_ASSETS

    monkeypatch.setenv(
        "DBT_TARGET_PATH", str(tmp_path / "dbt-runs")
    )  # dagster-dbt's per-run folders
    lake = mixed_lake(tmp_path / "lake")
    settings = Settings(data_dir=tmp_path / "data", lake_url=str(lake.root))
    resources = {"dbt": dbt_resource(settings), "lake": build_resources(settings)["lake"]}
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            ANALYTICS_ASSETS, partition_key="2026-10-01", resources=resources, instance=instance
        )
        assert result.success
        materialized = {e.asset_key: e.partition for e in result.get_asset_materialization_events()}
        assert {AssetKey(name) for name in (*STAGING, "int_plays", "int_streams", *MARTS)} <= set(
            materialized
        )
        assert set(materialized.values()) == {"2026-10-01"}
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) >= 50 and all(e.passed for e in evaluations)
        assert all(
            e.severity == AssetCheckSeverity.ERROR for e in evaluations
        )  # WARN only on a failed warn test

        # the day itself, its whole ISO week, its whole month
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            days = {
                r[0]
                for r in con.execute(
                    "select distinct play_date from marts.daily_track_stats"
                ).fetchall()
            }
            weeks = {
                r[0]
                for r in con.execute(
                    "select distinct week_start from marts.weekly_country_charts"
                ).fetchall()
            }
            months = {
                r[0]
                for r in con.execute(
                    "select distinct month_start from marts.monthly_qualified_streams"
                ).fetchall()
            }
        assert days == {dt.date(2026, 10, 1)}
        assert weeks == {dt.date(2026, 9, 28)}
        assert months == {dt.date(2026, 10, 1)}

        # a day the fraud screening has not published must not be built (fraud would count)
        (lake.root / "fraud_flags" / "date=2026-10-02" / "_manifest.json").unlink()
        failed = materialize(ANALYTICS_ASSETS, partition_key="2026-10-02", resources=resources,
                             instance=instance, raise_on_error=False)  # fmt: skip
        assert not failed.success
        failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
        assert "fraud_flags is not published for play days 2026-10-02" in str(
            failure.event_specific_data
        )


def test_a_manifest_older_than_the_project_is_stale(tmp_path: Path) -> None:
    import os
    import shutil

    from dagster_dbt import DbtProject

    from pipelines.analytics_dbt import DBT_DIR

    copy = tmp_path / "dbt"
    shutil.copytree(DBT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=copy, target="duckdb", target_path=Path("target") / "duckdb")
    assert manifest_is_stale(project)  # a fresh clone has none
    manifest = Path(project.manifest_path)
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    assert not manifest_is_stale(project)
    model = copy / "models" / "marts" / "daily_track_stats.sql"
    later = manifest.stat().st_mtime + 10
    os.utime(model, (later, later))
    assert manifest_is_stale(project)
    os.utime(manifest, (later + 1, later + 1))
    (copy / "target" / "duckdb" / "run_results.json").write_text("{}")  # target/ is not the project
    assert not manifest_is_stale(project)
