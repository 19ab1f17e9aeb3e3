"""The Dagster instance: SQLite files locally, the machine's PostgreSQL in prod."""

from __future__ import annotations

from pathlib import Path

import yaml
from dagster import DagsterInstance, job, op

from pipelines.instance import ensure_instance, instance_config
from pipelines.settings import Settings


@op
def _answer() -> int:
    return 42


@job
def _probe_job() -> None:
    _answer()


def test_local_instance_is_sqlite_without_telemetry(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    home = ensure_instance(settings)
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["storage"] == {"sqlite": {"base_dir": str(tmp_path / "dagster" / "history")}}
    assert config["telemetry"] == {"enabled": False}
    with DagsterInstance.from_config(str(home)) as instance:
        result = _probe_job.execute_in_process(instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id) is not None


def test_instance_file_is_rewritten_only_when_settings_change(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    home = ensure_instance(settings)
    first = (home / "dagster.yaml").stat().st_mtime_ns
    ensure_instance(settings)
    assert (home / "dagster.yaml").stat().st_mtime_ns == first


def test_prod_instance_stores_runs_in_postgres(tmp_path: Path, postgres_url: str) -> None:
    settings = Settings(
        profile="prod", data_dir=tmp_path, lake_url="s3://b/p", dagster_postgres_url=postgres_url,
        mlflow_tracking_uri=postgres_url, redis_url="redis://127.0.0.1:6379/15",
    )
    assert instance_config(settings)["storage"] == {"postgres": {"postgres_url": postgres_url}}
    home = ensure_instance(settings)
    with DagsterInstance.from_config(str(home)) as instance:
        result = _probe_job.execute_in_process(instance=instance)
        assert result.success
    import psycopg2

    with psycopg2.connect(postgres_url) as con, con.cursor() as cur:
        cur.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,))
        assert cur.fetchone() == (1,)
