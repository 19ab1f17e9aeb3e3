"""The resources are real: they reach the lake, DuckDB, MLflow and Spark they are configured for."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.resources import build_resources
from pipelines.settings import Settings


def _events_table() -> pa.Table:
    return pa.table({"track_id": ["a", "b", "a"], "ms_played": [31_000, 12_000, 45_000]})


def test_warehouse_reads_the_local_lake(tmp_path: Path) -> None:
    resources = build_resources(Settings(data_dir=tmp_path))
    lake = resources["lake"].lake()
    lake.write_parquet("landing/events/date=2026-09-01/part-0.parquet", _events_table())
    glob = lake.duckdb_glob("landing/events/*/*.parquet")
    with resources["warehouse"].get_connection() as con:
        rows = con.execute(
            f"SELECT track_id, sum(ms_played) FROM read_parquet('{glob}', hive_partitioning=true) "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert rows == [("a", 76_000), ("b", 12_000)]
    assert (tmp_path / "warehouse.duckdb").is_file()


def test_mlflow_resource_logs_to_local_sqlite(tmp_path: Path) -> None:
    import mlflow

    resource = build_resources(Settings(data_dir=tmp_path))["mlflow"]
    experiment_id = resource.get_or_create_experiment("foundation-probe")
    assert resource.get_or_create_experiment("foundation-probe") == experiment_id
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metric("ndcg_at_10", 0.42)
    stored = mlflow.get_run(run.info.run_id)
    assert stored.data.metrics["ndcg_at_10"] == 0.42
    assert (tmp_path / "mlflow" / "mlflow.db").is_file()


@pytest.mark.services
def test_mlflow_resource_uses_postgres_backend(tmp_path: Path, postgres_url: str) -> None:
    import mlflow
    import psycopg2

    settings = Settings(data_dir=tmp_path, mlflow_tracking_uri=postgres_url,
                        mlflow_artifact_root=str(tmp_path / "artifacts"))
    resource = build_resources(settings)["mlflow"]
    experiment_id = resource.get_or_create_experiment("foundation-probe-pg")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("factors", 64)
    with psycopg2.connect(postgres_url) as con, con.cursor() as cur:
        cur.execute("SELECT value FROM params WHERE run_uuid = %s AND key = 'factors'", (run.info.run_id,))
        assert cur.fetchone() == ("64",)


@pytest.mark.spark
def test_spark_resource_starts_a_local_session(tmp_path: Path) -> None:
    resource = build_resources(Settings(data_dir=tmp_path, spark_master="local[1]"))["spark"]
    spark = resource.spark_session
    try:
        total = spark.createDataFrame([(1,), (2,), (3,)], ["x"]).groupBy().sum("x").collect()[0][0]
        assert total == 6
        assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    finally:
        spark.stop()


def _prod_settings(tmp_path: Path, moto_s3, postgres_url: str) -> Settings:
    return Settings(
        profile="prod", data_dir=tmp_path, lake_url=moto_s3.fresh_root("prod"),
        s3_endpoint_url=moto_s3.endpoint_url, s3_access_key_id=moto_s3.key,
        s3_secret_access_key=moto_s3.secret, dagster_postgres_url=postgres_url,
        mlflow_tracking_uri=postgres_url, redis_url="redis://127.0.0.1:6379/15",
    )


@pytest.mark.services
def test_prod_warehouse_reads_the_s3_lake_through_s3fs(tmp_path: Path, moto_s3, postgres_url: str) -> None:
    resources = build_resources(_prod_settings(tmp_path, moto_s3, postgres_url))
    lake = resources["lake"].lake()
    assert lake.protocol == "s3"
    lake.write_parquet("landing/events/date=2026-09-01/part-0.parquet", _events_table())
    glob = lake.duckdb_glob("landing/events/*/*.parquet")
    with resources["warehouse"].get_connection() as con:
        total = con.execute(f"SELECT sum(ms_played) FROM read_parquet('{glob}')").fetchone()[0]
        loaded = con.execute("SELECT count(*) FROM duckdb_extensions() WHERE loaded AND extension_name = 'httpfs'").fetchone()[0]
    assert total == 88_000
    assert loaded == 0


@pytest.mark.services
def test_prod_mlflow_keeps_runs_in_postgres_and_artifacts_on_s3(
    tmp_path: Path, moto_s3, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    settings = _prod_settings(tmp_path, moto_s3, postgres_url)
    for name, value in {"AWS_ACCESS_KEY_ID": moto_s3.key, "AWS_SECRET_ACCESS_KEY": moto_s3.secret}.items():
        monkeypatch.setenv(name, value)
    resource = build_resources(settings)["mlflow"]
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", moto_s3.endpoint_url)
    experiment_id = resource.get_or_create_experiment("foundation-probe-s3")
    note = tmp_path / "note.txt"
    note.write_text("logged to S3")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifact(str(note))
    lake = build_resources(settings)["lake"].lake()
    assert run.info.artifact_uri.startswith(settings.lake_root)
    relative = run.info.artifact_uri.removeprefix(settings.lake_root).strip("/")
    assert lake.read_bytes(f"{relative}/note.txt") == b"logged to S3"
