"""The code location loads under both profiles, with resources from the settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster_pyspark import LazyPySparkResource

from pipelines.definitions import build_definitions
from pipelines.resources import LakeResource, MlflowResource, WarehouseResource
from pipelines.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def prod_settings(tmp_path: Path) -> Settings:
    return Settings(
        profile="prod",
        data_dir=tmp_path,
        lake_url="s3://congowave-lake/platform",
        s3_endpoint_url="http://127.0.0.1:9",
        dagster_postgres_url="postgresql://postgres@127.0.0.1:5432/test",
        mlflow_tracking_uri="postgresql://postgres@127.0.0.1:5432/test",
        redis_url="redis://127.0.0.1:6379/0",
        spark_master="local[1]",
    )


def test_local_definitions_use_embedded_parts(tmp_path: Path) -> None:
    defs = build_definitions(Settings(data_dir=tmp_path))
    resources = defs.resources
    assert isinstance(resources["lake"], LakeResource)
    assert resources["lake"].root_url == str(tmp_path / "lake")
    assert isinstance(resources["warehouse"], WarehouseResource)
    assert resources["warehouse"].database == str(tmp_path / "warehouse.duckdb")
    assert isinstance(resources["mlflow"], MlflowResource)
    assert resources["mlflow"].tracking_uri.startswith("sqlite:///")
    assert isinstance(resources["spark"], LazyPySparkResource)
    from pipelines.main_run import STAGES

    # the main job's stages, in order, each a job of the code location
    assert [defs.resolve_job_def(stage.job).name for stage in STAGES] == [
        "track_ingestion", "catalog_build", "events_daily", "track_audio_processing", "platform"]  # fmt: skip


def test_prod_definitions_use_real_parts(tmp_path: Path) -> None:
    defs = build_definitions(prod_settings(tmp_path))
    resources = defs.resources
    assert resources["lake"].root_url == "s3://congowave-lake/platform"
    assert resources["lake"].s3_endpoint_url == "http://127.0.0.1:9"
    assert resources["mlflow"].tracking_uri.startswith("postgresql://")
    assert resources["mlflow"].artifact_root == "s3://congowave-lake/platform/mlflow"
    assert resources["spark"].spark_config["spark.master"] == "local[1]"
    assert resources["lake"].lake().protocol == "s3"


@pytest.mark.parametrize("profile", ["local", "prod"])
def test_dagster_definitions_validate(profile: str, tmp_path: Path) -> None:
    """The same check a data engineer runs: `dagster definitions validate` on workspace.yaml."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONGOWAVE_")}
    env["CONGOWAVE_DATA_DIR"] = str(tmp_path)
    env["CONGOWAVE_CONFIG"] = str(tmp_path / "none.toml")
    (tmp_path / "none.toml").write_text("")
    env["DAGSTER_HOME"] = str(tmp_path / "dagster")
    (tmp_path / "dagster").mkdir()
    if profile == "prod":
        settings = prod_settings(tmp_path)
        env.update({
            "CONGOWAVE_PROFILE": "prod",
            "CONGOWAVE_LAKE_URL": settings.lake_root,
            "CONGOWAVE_DAGSTER_POSTGRES_URL": str(settings.dagster_postgres_url),
            "CONGOWAVE_MLFLOW_TRACKING_URI": str(settings.mlflow_tracking_uri),
            "CONGOWAVE_REDIS_URL": str(settings.redis_url),
        })
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "congowave" in proc.stdout + proc.stderr
